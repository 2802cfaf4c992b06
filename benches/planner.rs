//! How long planning a whole-site failover takes as the deployment grows.
//! `cargo bench --bench planner`; target: 10 000 pairs in under 50 ms, 10 000/1 000 ratio <= 15.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sfb_dr::model::*;
use sfb_dr::planner;

/// `n` pairs between redmond and dublin, the CMS on the first, an Edge pool in redmond for
/// every tenth pair, and redmond declared inactive: every redmond pool must fail over.
fn site_failover(n: usize) -> (Desired, ObservedIndex) {
    let mut observed = ObservedTopology {
        sites: vec!["redmond".into(), "dublin".into()],
        pools: Vec::with_capacity(2 * n),
        backup: Vec::with_capacity(2 * n),
        cms: CmsState {
            active_master: Some("pool0a.contoso.com".into()),
            replicas_up_to_date: true,
            pool: None,
        },
        edges: vec![],
        federation_routes: vec![],
        persistent_chat: vec![],
        data_loss: None,
    };
    let mut desired = Desired::default();
    for i in 0..n {
        let (a, b) = (
            format!("pool{i}a.contoso.com"),
            format!("pool{i}b.contoso.com"),
        );
        for (p, site, partner) in [(&a, "redmond", &b), (&b, "dublin", &a)] {
            observed.pools.push(ObservedPool {
                fqdn: p.clone(),
                site: site.into(),
                edition: Edition::Enterprise,
                health: Health::Up,
                backup_pool: Some(partner.clone()),
                served_by: Some(p.clone()),
                users: 10_000,
                back_end: None,
                back_end_mirror: None,
            });
            observed.backup.push(BackupDirection {
                from: p.clone(),
                to: partner.clone(),
                export_state: ExportState::SteadyState,
                import_state: ImportState::NormalState,
                last_sync_age_seconds: Some(40),
            });
        }
        if i % 10 == 0 {
            observed.edges.push(ObservedEdge {
                fqdn: format!("edge{i}.contoso.com"),
                site: "redmond".into(),
                health: Health::Up,
                next_hop: a.clone(),
            });
        }
        desired.pairs.push(PairSpec {
            name: format!("pair{i:05}"),
            pools: [
                PoolRef {
                    fqdn: a,
                    site: "redmond".into(),
                },
                PoolRef {
                    fqdn: b,
                    site: "dublin".into(),
                },
            ],
            active_sites: None,
        });
    }
    desired.cms = Some(CmsSpec {
        name: "cms".into(),
        pair: "pair00000".into(),
        preferred_pool: "pool0a.contoso.com".into(),
        failback: CmsFailback::Manual,
        backup_sql: vec![],
    });
    desired.sites.insert("redmond".into(), false);
    (desired, ObservedIndex::new(observed).expect("consistent"))
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("site_failover");
    for n in [10, 100, 1_000, 10_000] {
        let (desired, observed) = site_failover(n);
        let plan = planner::plan(&desired, &observed, &Ledger::default());
        assert_eq!(
            plan.steps.len(),
            n + 1 + n.div_ceil(10),
            "every redmond pool, the CMS and the Edges"
        );
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                planner::plan(
                    black_box(&desired),
                    black_box(&observed),
                    &Ledger::default(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
