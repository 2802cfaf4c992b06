//! Inputs the fuzz targets (fuzz/README.md) found wrong, each kept here under
//! tests/fixtures/fuzz/ so the fix stays: the parser answers with an error naming what is
//! wrong, never a panic and never unbounded time.

use sfb_dr::manifest::{self, ManifestError, Manifests};

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
