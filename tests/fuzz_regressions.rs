//! Inputs the fuzz targets (fuzz/README.md) found wrong, each kept here under
//! tests/fixtures/fuzz/ so the fix stays: the parser answers with an error naming what is
//! wrong, never a panic and never unbounded time.

use serde_json::{json, Value};
use sfb_dr::declared::{desired_state, Declared};
use sfb_dr::driver::powershell::observe::parse_observation;
use sfb_dr::manifest::{self, ManifestError, Manifests};
use sfb_dr::model::{Health, ObservedIndex};

const HOST: &str = "mgmt.contoso.com";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/fuzz/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn manifest_error(name: &str) -> ManifestError {
    let mut m = Manifests::default();
    match manifest::parse_into(&mut m, &fixture(name), name) {
        Ok(()) => panic!("{name} was accepted: {m:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_list_longer_than_its_max_items_is_refused_before_the_cel_rules_run() {
    let e = manifest_error("manifest_edge_pools_over_max_items.yaml");
    assert_eq!(e.object.as_deref(), Some("Site redmond"), "{e}");
    assert_eq!(e.field.as_deref(), Some("spec.edgePools"), "{e}");
    assert!(
        e.message.contains("65 items, more than the 64 allowed"),
        "{e}"
    );
}

#[test]
fn backup_sql_holds_at_most_one_entry_per_pool_of_the_pair() {
    let e = manifest_error("manifest_backup_sql_over_max_items.yaml");
    assert_eq!(
        e.object.as_deref(),
        Some("CentralManagementStore cms"),
        "{e}"
    );
    assert_eq!(e.field.as_deref(), Some("spec.backupSql"), "{e}");
    assert!(
        e.message.contains("3 items, more than the 2 allowed"),
        "{e}"
    );
}

/// What `sfb-dr plan` prints for an error must stay one line that shows what was written.
fn assert_one_printable_line(shown: &str) {
    assert!(
        !shown.chars().any(char::is_control),
        "a control character reaches the error: {shown:?}"
    );
}

#[test]
fn a_control_character_in_a_manifest_is_shown_escaped_in_its_error() {
    // Found by the manifest target: `kind: P<TAB>t` with an unknown apiVersion.
    let e = manifest_error("manifest_control_character_in_kind.yaml");
    let shown = e.to_string();
    assert_one_printable_line(&shown);
    assert!(
        shown.contains("P\\tt: apiVersion: unknown apiVersion s"),
        "{shown}"
    );
}

#[test]
fn a_control_character_in_an_observed_key_is_shown_escaped_in_its_error() {
    // Found by the observed target: a key holding two carriage returns (one line break to YAML),
    // quoted back by the parser.
    let name = "observed_control_character_in_key.json";
    let e = manifest::parse_observed(&fixture(name), name).expect_err("not a topology");
    let shown = e.to_string();
    assert_one_printable_line(&shown);
    assert!(shown.contains("unknown field `p\\n\"`"), "{shown}");
}

#[test]
fn a_control_character_in_an_observed_fqdn_is_shown_escaped_in_its_error() {
    // Found by the observed target: an FQDN full of tabs, quoted by the consistency check.
    let name = "observed_control_character_in_fqdn.json";
    let topology = manifest::parse_observed(&fixture(name), name).expect("parses");
    let e = ObservedIndex::new(topology).expect_err("contradicts itself");
    let shown = e.to_string();
    assert_one_printable_line(&shown);
    assert!(
        shown.starts_with("pools[0].site: site redm of pool pool1.conto\\t!%"),
        "{shown}"
    );
}

#[test]
fn a_control_character_in_a_cross_object_error_is_shown_escaped() {
    // The manifest parser now refuses such a name as the API server would; objects reaching the
    // cross-object checks by another way (the library) still get escaped errors.
    let text = |name: &str| {
        format!(
            "apiVersion: sfbdr.io/v1alpha1\nkind: CentralManagementStore\n\
             metadata: {{name: \"{name}\"}}\nspec: {{pair: nope, preferredPool: a.contoso.com}}\n"
        )
    };
    let refused = manifest::parse_into(&mut Manifests::default(), &text("c\\nd"), "cms.yaml")
        .expect_err("a name the API server would refuse");
    assert_one_printable_line(&refused.to_string());
    assert!(refused.to_string().contains("metadata.name"), "{refused}");
    let mut m = Manifests::default();
    manifest::parse_into(&mut m, &text("c"), "cms.yaml").expect("parses");
    let mut object = m.cms[0].object.clone();
    object.metadata.name = Some("c\nd".into());
    let cms = vec![&object];
    let declared = Declared {
        cms: &cms,
        ..Declared::default()
    };
    let errors = desired_state(declared, None).expect_err("names a pair not declared");
    let shown = errors[0].to_string();
    assert_one_printable_line(&shown);
    assert!(
        shown.starts_with("CentralManagementStore c\\nd: spec.pair: PoolPair nope"),
        "{shown}"
    );
}

/// A report of `pairs` pairs, pool `a{i}` in site `a{i}` paired with `b{i}` in site `b{i}`; every
/// `a` pool's own relation is unreadable, so its pairing comes from its partner's.
fn many_pools_report(pairs: usize) -> String {
    let pool = |me: String, partner: String, relation: bool| {
        json!({
            "Fqdn": format!("{me}.contoso.com"), "Site": format!("Site:{me}"),
            "Computers": [format!("{me}-fe.contoso.com")], "Probe": [true],
            "BackupPoolFqdn": if relation { json!(format!("{partner}.contoso.com")) } else { Value::Null },
            "RelationError": if relation { Value::Null } else { json!("Cannot reach the CMS.") },
            "BackupModules": [{"Identity": "ConfServices.DataConf", "ExportStatus": "FinalState", "ImportStatus": "NormalState"}],
        })
    };
    let mut pools = Vec::new();
    let mut replicas = Vec::new();
    for i in 0..pairs {
        pools.push(pool(format!("a{i}"), format!("b{i}"), false));
        pools.push(pool(format!("b{i}"), format!("a{i}"), true));
        replicas.push(json!({"ReplicaFqdn": format!("b{i}-fe.contoso.com"), "UpToDate": true}));
    }
    let last = pairs.saturating_sub(1);
    let report = json!({
        "Pools": pools,
        "Cms": {"ActiveMasterFqdn": format!("b{last}-fe.contoso.com"), "ActiveFileTransferAgents": "x"},
        "Replicas": replicas,
        "CmsStore": "sql.contoso.com\\rtc",
        "UserStores": [{"PoolFqdn": "sql.contoso.com", "DependentServiceList": [format!("Registrar:a{last}.contoso.com"), format!("UserServer:a{last}.contoso.com")]}],
    });
    format!("sfb-dr: started\n{report}\n")
}

/// Found by reading what the fuzz targets exercise: sites, pairings, the CMS master's pool and
/// the CMS database's pool were each found by scanning a list per item, so a large report (the
/// driver keeps up to 8 MiB of it) cost the square of its size: 13 s for 20,000 pools, minutes
/// at the cap. They are looked up in maps now; this checks that the answers stayed the same.
#[test]
fn a_report_of_thousands_of_pools_is_read_whole_with_every_lookup_answered() {
    let pairs = 3000;
    let t = parse_observation(HOST, &many_pools_report(pairs)).expect("parses");
    assert_eq!(t.pools.len(), 2 * pairs);
    assert_eq!(
        t.sites.len(),
        2 * pairs,
        "each site once, in the order first seen"
    );
    assert_eq!(&t.sites[..3], ["a0", "b0", "a1"]);
    let last = pairs - 1;
    let a_last = &t.pools[2 * last];
    assert_eq!(a_last.fqdn, format!("a{last}.contoso.com"));
    assert_eq!(
        (a_last.health, a_last.backup_pool.clone()),
        (Health::Unknown, Some(format!("b{last}.contoso.com"))),
        "an unreadable relation takes its partner's pairing and counts as Unknown"
    );
    assert_eq!(t.cms.active_master, Some(format!("b{last}.contoso.com")));
    assert!(t.cms.replicas_up_to_date);
    assert_eq!(t.cms.pool, Some(format!("a{last}.contoso.com")));
    ObservedIndex::new(t).expect("consistent");
}

/// Paths are written out only when an error needs them (a deep chain of long keys above many
/// small values cost seconds while every value's path was built as it was read); the one an
/// error names is still whole, keys and indexes alike.
#[test]
fn the_path_of_an_out_of_range_number_is_written_out_whole() {
    let text = "apiVersion: sfbdr.io/v1alpha1\nkind: Site\nmetadata: {name: redmond}\n\
                spec: {edgePools: [{fqdn: a.contoso.com}, {fqdn: b.contoso.com, w: [0, {n: 99999999999999999999999}]}]}\n";
    let mut m = Manifests::default();
    let e = manifest::parse_into(&mut m, text, "site.yaml").expect_err("out of range");
    assert_eq!(e.object.as_deref(), Some("Site redmond"), "{e}");
    assert_eq!(e.field.as_deref(), Some("spec.edgePools[1].w[1].n"), "{e}");
    assert!(
        e.message
            .contains("99999999999999999999999 is out of range"),
        "{e}"
    );
}
