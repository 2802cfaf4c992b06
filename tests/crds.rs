//! The CRDs: generated from the types, checked in under crds/, and their CEL rules judged
//! client-side on valid and invalid objects, as the API server would.

use kube::CustomResourceExt;
use serde_json::json;
use sfb_dr::api::*;

#[test]
fn checked_in_crds_match_the_code() {
    let generated = crds_yaml().expect("CRDs render");
    let checked_in =
        std::fs::read_to_string("crds/sfbdr.io.yaml").expect("crds/sfbdr.io.yaml exists");
    assert!(
        generated == checked_in,
        "crds/ has drifted from the code; regenerate with: cargo run -- crd > crds/sfbdr.io.yaml"
    );
}

#[test]
fn every_kind_has_short_names_the_category_and_condition_columns() {
    for (crd, short) in crds().iter().zip(["topo", "site", "pp", "cms"]) {
        let names = &crd.spec.names;
        assert_eq!(names.short_names.as_deref(), Some(&[short.to_owned()][..]));
        assert_eq!(names.categories.as_deref(), Some(&["sfbdr".to_owned()][..]));
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert!(version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some());
        let columns = version
            .additional_printer_columns
            .as_ref()
            .expect("printer columns");
        assert!(columns.iter().any(|c| c.name == "Ready"
            && c.json_path == ".status.conditions[?(@.type==\"Ready\")].status"));
        assert!(
            columns
                .iter()
                .all(|c| !c.json_path.contains("conditions[0]")),
            "columns pick conditions by type"
        );
        assert_eq!(columns.last().map(|c| c.name.as_str()), Some("Age"));
    }
}

#[test]
fn conditions_merge_by_type_under_server_side_apply() {
    let crd = serde_json::to_value(PoolPair::crd()).expect("json");
    let conditions = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        ["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
}

fn pair(spec: serde_json::Value) -> PoolPair {
    serde_json::from_value(json!({
        "apiVersion": "sfbdr.io/v1alpha1", "kind": "PoolPair",
        "metadata": {"name": "p", "namespace": "ns"}, "spec": spec
    }))
    .expect("deserializes")
}

fn pair_errors(spec: serde_json::Value) -> Vec<String> {
    match pair(spec).validate_cel() {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

fn pools(a: (&str, &str), b: (&str, &str)) -> serde_json::Value {
    json!([{"fqdn": a.0, "site": a.1}, {"fqdn": b.0, "site": b.1}])
}

#[test]
fn a_valid_pool_pair_passes() {
    let errors = pair_errors(
        json!({"pools": pools(("pool1.contoso.com", "redmond"), ("pool2.contoso.com", "dublin")), "activeSites": ["Dublin"]}),
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_pool_pair_has_exactly_two_pools() {
    let errors = pair_errors(json!({"pools": [{"fqdn": "pool1.contoso.com", "site": "redmond"}]}));
    assert!(
        errors.iter().any(|e| e.contains("exactly two pools")),
        "{errors:?}"
    );
}

#[test]
fn a_pool_pair_needs_distinct_fqdns() {
    let errors = pair_errors(
        json!({"pools": pools(("pool1.contoso.com", "redmond"), ("pool1.contoso.com", "dublin"))}),
    );
    assert!(
        errors.iter().any(|e| e.contains("distinct FQDNs")),
        "{errors:?}"
    );
}

#[test]
fn a_pool_pair_spans_two_sites() {
    let errors = pair_errors(
        json!({"pools": pools(("pool1.contoso.com", "redmond"), ("pool2.contoso.com", "REDMOND"))}),
    );
    assert!(
        errors.iter().any(|e| e.contains("different sites")),
        "{errors:?}"
    );
}

#[test]
fn pool_fqdns_are_checked() {
    for bad in [
        "pool1",
        "Pool1.contoso.com",
        "pool1..contoso.com",
        "pool1.contoso.com;",
        "-pool.contoso.com",
        "pool1.contoso.com'",
    ] {
        let errors =
            pair_errors(json!({"pools": pools((bad, "redmond"), ("pool2.contoso.com", "dublin"))}));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("fully qualified domain name")),
            "{bad}: {errors:?}"
        );
    }
}

#[test]
fn active_sites_is_a_non_empty_subset_of_the_pairs_sites() {
    let p = pools(
        ("pool1.contoso.com", "redmond"),
        ("pool2.contoso.com", "dublin"),
    );
    for bad in [json!([]), json!(["paris"]), json!(["redmond", "paris"])] {
        let errors = pair_errors(json!({"pools": p, "activeSites": bad}));
        assert!(
            errors.iter().any(|e| e.contains("activeSites")),
            "{bad}: {errors:?}"
        );
    }
}

fn topology_errors(spec: serde_json::Value) -> Vec<String> {
    let t: Topology = serde_json::from_value(json!({
        "apiVersion": "sfbdr.io/v1alpha1", "kind": "Topology",
        "metadata": {"name": "t", "namespace": "ns"}, "spec": spec
    }))
    .expect("deserializes");
    match t.validate_cel() {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

#[test]
fn a_topology_has_exactly_one_driver() {
    assert!(
        topology_errors(json!({"driver": {"simulator": {"url": "http://127.0.0.1:7070"}}}))
            .is_empty()
    );
    let both = json!({"driver": {"simulator": {"url": "http://x:1"},
        "powershell": {"host": "mgmt.contoso.com", "user": "u", "credentialsSecretRef": {"name": "s"}}}});
    assert!(topology_errors(both)
        .iter()
        .any(|e| e.contains("exactly one driver")));
    assert!(topology_errors(json!({"driver": {}}))
        .iter()
        .any(|e| e.contains("exactly one driver")));
}

#[test]
fn topology_numbers_are_bounded() {
    let base = |k: &str, v: i64| {
        let mut spec = json!({"driver": {"simulator": {"url": "http://127.0.0.1:7070"}}});
        spec[k] = json!(v);
        spec
    };
    assert!(topology_errors(base("maxParallelSteps", 0))
        .iter()
        .any(|e| e.contains("between 1 and 64")));
    assert!(topology_errors(base("observeIntervalSeconds", 1))
        .iter()
        .any(|e| e.contains("between 5 and 3600")));
    assert!(topology_errors(base("maxParallelSteps", 8)).is_empty());
}

#[test]
fn topology_defaults_are_the_documented_ones() {
    let t: Topology = serde_json::from_value(json!({
        "apiVersion": "sfbdr.io/v1alpha1", "kind": "Topology", "metadata": {"name": "t"},
        "spec": {"driver": {"simulator": {"url": "http://127.0.0.1:7070"}}}
    }))
    .expect("deserializes");
    assert_eq!(t.spec.observe_interval_seconds, 30);
    assert_eq!(t.spec.approval, Approval::Automatic);
    assert!(!t.spec.paused);
    assert_eq!(t.spec.max_parallel_steps, 4);
    assert!(!t.spec.allow_data_loss);
    assert_eq!(
        (t.spec.objectives.rpo_seconds, t.spec.objectives.rto_seconds),
        (300, 1200)
    );
}

fn cms_errors(spec: serde_json::Value) -> Vec<String> {
    let c: CentralManagementStore = serde_json::from_value(json!({
        "apiVersion": "sfbdr.io/v1alpha1", "kind": "CentralManagementStore",
        "metadata": {"name": "cms", "namespace": "ns"}, "spec": spec
    }))
    .expect("deserializes");
    match c.validate_cel() {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

#[test]
fn cms_backup_sql_is_checked() {
    let ok = json!({"pair": "p", "preferredPool": "pool1.contoso.com", "backupSql": [
        {"pool": "pool2.contoso.com", "sqlServerFqdn": "sql2.contoso.com", "sqlInstanceName": "rtc"}]});
    assert!(cms_errors(ok).is_empty());
    let twice = json!({"pair": "p", "preferredPool": "pool1.contoso.com", "backupSql": [
        {"pool": "pool2.contoso.com", "sqlServerFqdn": "sql2.contoso.com", "sqlInstanceName": "rtc"},
        {"pool": "pool2.contoso.com", "sqlServerFqdn": "sql3.contoso.com", "sqlInstanceName": "rtc"}]});
    assert!(cms_errors(twice)
        .iter()
        .any(|e| e.contains("one entry per pool")));
    let half_mirror = json!({"pair": "p", "preferredPool": "pool1.contoso.com", "backupSql": [
        {"pool": "pool2.contoso.com", "sqlServerFqdn": "sql2.contoso.com", "sqlInstanceName": "rtc",
         "mirrorSqlInstanceName": "rtc"}]});
    assert!(cms_errors(half_mirror)
        .iter()
        .any(|e| e.contains("mirrorSqlInstanceName needs mirrorSqlServerFqdn")));
    // Default instances: no instance names at all.
    let default_instances = json!({"pair": "p", "preferredPool": "pool1.contoso.com", "backupSql": [
        {"pool": "pool2.contoso.com", "sqlServerFqdn": "sql2.contoso.com",
         "mirrorSqlServerFqdn": "sqlm.contoso.com"}]});
    assert!(cms_errors(default_instances).is_empty());
    // The default instance is named by leaving the name out, as Get-CsService reports it.
    let named_default = json!({"pair": "p", "preferredPool": "pool1.contoso.com", "backupSql": [
        {"pool": "pool2.contoso.com", "sqlServerFqdn": "sql2.contoso.com", "sqlInstanceName": "MSSQLServer"}]});
    assert!(cms_errors(named_default)
        .iter()
        .any(|e| e.contains("leave it out for the default instance")));
    let bad_instance = json!({"pair": "p", "preferredPool": "pool1.contoso.com", "backupSql": [
        {"pool": "pool2.contoso.com", "sqlServerFqdn": "sql2.contoso.com", "sqlInstanceName": "rtc'; drop"}]});
    assert!(cms_errors(bad_instance)
        .iter()
        .any(|e| e.contains("named SQL Server instance")));
}

fn site_errors(spec: serde_json::Value) -> Vec<String> {
    let s: Site = serde_json::from_value(json!({
        "apiVersion": "sfbdr.io/v1alpha1", "kind": "Site",
        "metadata": {"name": "redmond", "namespace": "ns"}, "spec": spec
    }))
    .expect("deserializes");
    match s.validate_cel() {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

#[test]
fn site_edge_pools_declare_each_edge_once_with_fqdns() {
    let ok = json!({"active": true, "edgePools": [
        {"fqdn": "edge1.contoso.com", "nextHop": "pool1.contoso.com"},
        {"fqdn": "edge3.contoso.com", "nextHop": "pool2.contoso.com"}]});
    assert!(site_errors(ok).is_empty());
    assert!(site_errors(json!({"active": false})).is_empty());
    let twice = json!({"edgePools": [
        {"fqdn": "edge1.contoso.com", "nextHop": "pool1.contoso.com"},
        {"fqdn": "edge1.contoso.com", "nextHop": "pool3.contoso.com"}]});
    assert!(site_errors(twice)
        .iter()
        .any(|e| e.contains("each Edge pool once")));
    let bad = json!({"edgePools": [{"fqdn": "edge1.contoso.com", "nextHop": "pool1;rm"}]});
    assert!(site_errors(bad)
        .iter()
        .any(|e| e.contains("fully qualified domain name")));
}

#[test]
fn site_edge_pools_are_bounded_in_the_schema() {
    let crd = serde_json::to_value(Site::crd()).expect("json");
    let edge_pools = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]["edgePools"];
    assert_eq!(edge_pools["maxItems"], 64);
}
