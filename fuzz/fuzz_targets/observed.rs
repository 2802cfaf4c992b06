//! The observed topology: `sfb-dr plan --observed FILE` (and `-`) parses it
//! (`manifest::parse_observed`), checks it (`ObservedIndex::new`), and plans on it. Here the
//! desired state is derived from the observation itself, as `declared::desired_state` would
//! accept it (one pair per mutual pairing across two sites, an Edge next hop per observed Edge
//! pool, the CMS on the pair holding it), under several choices of inactive sites, CMS policy,
//! data loss and ledger, so the planner sees what survives the checks.
//!
//! Checks: no panic, no overflow, bounded time and memory; an error says something, on one line
//! with no control character; every plan's dependencies name earlier steps; the runbook either
//! renders or refuses with an error; the ledger records every step.
#![no_main]

use std::collections::{BTreeMap, HashSet};

use libfuzzer_sys::fuzz_target;
use sfb_dr::driver::powershell::{runbook, WhatIf};
use sfb_dr::manifest::parse_observed;
use sfb_dr::model::{
    BackupSql, CmsFailback, CmsSpec, Desired, Ledger, ObservedIndex, PairSpec, Plan, PoolRef,
};
use sfb_dr::planner::plan;

/// At most this many sites are taken down one at a time: enough for every role a site plays.
const SITE_CHOICES: usize = 6;

#[path = "printable.rs"]
mod printable;
use printable::assert_printable;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let topology = match parse_observed(text, "fuzz.json") {
        Ok(t) => t,
        Err(e) => {
            assert!(!e.message.is_empty(), "an error without a message: {e:?}");
            assert_printable(&e);
            return;
        }
    };
    let index = match ObservedIndex::new(topology) {
        Ok(index) => index,
        Err(e) => {
            assert!(!e.message.is_empty(), "an error without a message: {e:?}");
            assert_printable(&e);
            return;
        }
    };
    let base = derived(&index);
    let sites: Vec<String> = index.topology.sites.clone();
    let ledger = ledger(&index);
    // All active, each site inactive alone, then all inactive.
    let mut inactive: Vec<Vec<&str>> = vec![Vec::new()];
    inactive.extend(sites.iter().take(SITE_CHOICES).map(|s| vec![s.as_str()]));
    inactive.push(sites.iter().map(String::as_str).collect());
    for (n, down) in inactive.iter().enumerate() {
        let mut desired = base.clone();
        for s in down {
            desired.sites.insert((*s).to_owned(), false);
        }
        desired.allow_data_loss = n % 2 == 1;
        if n % 3 == 2 {
            desired.cms = None;
        } else if let Some(c) = &mut desired.cms {
            c.failback = if n % 2 == 0 {
                CmsFailback::Automatic
            } else {
                CmsFailback::Manual
            };
        }
        let none = Ledger::default();
        let ledger = if n % 2 == 0 { &none } else { &ledger };
        let plan = plan(&desired, &index, ledger);
        check(&plan);
        // As the operator does after each step that succeeded.
        let mut after = ledger.clone();
        for step in &plan.steps {
            after.record_step(&step.action, &index);
        }
    }
});

/// The desired state a namespace declaring every observed pairing and Edge pool would have.
fn derived(index: &ObservedIndex) -> Desired {
    let pools = &index.topology.pools;
    let mut pairs = Vec::new();
    for (i, p) in pools.iter().enumerate() {
        let Some(j) = index.partner_index(i).filter(|&j| j > i) else {
            continue;
        };
        let q = &pools[j];
        // `desired_state` refuses a pair within one site.
        if p.site == q.site {
            continue;
        }
        let pool = |o: &sfb_dr::model::ObservedPool| PoolRef {
            fqdn: o.fqdn.clone(),
            site: o.site.clone(),
        };
        pairs.push(PairSpec {
            name: format!("pair{i:06}"),
            pools: [pool(p), pool(q)],
            active_sites: None,
        });
    }
    pairs.sort_by(|a, b| a.name.cmp(&b.name));
    let cms_pool = index
        .topology
        .cms
        .pool
        .as_ref()
        .or(index.topology.cms.active_master.as_ref());
    let cms = cms_pool.and_then(|home| {
        let pair = pairs.iter().find(|p| p.position(home).is_some())?;
        Some(CmsSpec {
            name: "cms".into(),
            pair: pair.name.clone(),
            preferred_pool: home.clone(),
            failback: CmsFailback::Manual,
            backup_sql: pair
                .pools
                .iter()
                .map(|p| BackupSql {
                    pool: p.fqdn.clone(),
                    sql_server_fqdn: format!("sql.{}", p.fqdn),
                    sql_instance_name: Some("rtc".into()),
                    mirror_sql_server_fqdn: None,
                    mirror_sql_instance_name: None,
                })
                .collect(),
        })
    });
    let edge_next_hops: BTreeMap<String, String> = index
        .topology
        .edges
        .iter()
        .map(|e| (e.fqdn.clone(), e.next_hop.clone()))
        .collect();
    Desired {
        pairs,
        sites: BTreeMap::new(),
        cms,
        allow_data_loss: false,
        edge_next_hops,
    }
}

/// The operator's record as the observation's `servedBy` tells it.
fn ledger(index: &ObservedIndex) -> Ledger {
    let mut ledger = Ledger::default();
    for p in &index.topology.pools {
        if let Some(s) = &p.served_by {
            ledger.record(&p.fqdn, s);
        }
    }
    ledger
}

fn check(plan: &Plan) {
    let mut earlier = HashSet::new();
    for step in &plan.steps {
        for d in &step.depends_on {
            assert!(
                earlier.contains(d.as_str()),
                "step {} depends on {d}, not an earlier step",
                step.id
            );
        }
        earlier.insert(step.id.as_str());
    }
    let _ = runbook(&plan, WhatIf::No);
    let _ = serde_json::to_string(plan);
}
