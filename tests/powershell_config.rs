//! The PowerShell driver's configuration in `Topology.spec.driver.powershell`: per-action
//! timeouts with their documented defaults and bounds, and no way to skip host key checks.

use kube::CustomResourceExt;
use serde_json::json;
use sfb_dr::api::Topology;
use sfb_dr::driver::powershell::Timeouts;
use std::time::Duration;

fn topology(powershell: serde_json::Value) -> Topology {
    serde_json::from_value(json!({
        "apiVersion": "sfbdr.io/v1alpha1", "kind": "Topology",
        "metadata": {"name": "t", "namespace": "ns"},
        "spec": {"driver": {"powershell": powershell}}
    }))
    .expect("deserializes")
}

fn base() -> serde_json::Value {
    json!({"host": "sfbmgmt01.contoso.com", "user": "CONTOSO\\svc-sfbdr",
           "credentialsSecretRef": {"name": "sfb-mgmt-ssh"}})
}

#[test]
fn timeouts_default_to_an_hour_for_pools_a_quarter_for_the_cms_and_five_minutes_else() {
    let t = topology(base());
    let spec = t.spec.driver.powershell.expect("powershell");
    assert_eq!(spec.port, 22);
    assert_eq!(Timeouts::from_spec(&spec), Timeouts::default());
    let d = Timeouts::default();
    assert_eq!(
        (d.pool_failover, d.pool_failback, d.cms_failover, d.other),
        (
            Duration::from_secs(3600),
            Duration::from_secs(3600),
            Duration::from_secs(900),
            Duration::from_secs(300)
        )
    );
}

#[test]
fn timeouts_can_be_set_per_action() {
    let mut p = base();
    p["timeouts"] = json!({"poolFailbackMinutes": 90, "otherMinutes": 2});
    let spec = topology(p).spec.driver.powershell.expect("powershell");
    let t = Timeouts::from_spec(&spec);
    assert_eq!(t.pool_failback, Duration::from_secs(90 * 60));
    assert_eq!(t.other, Duration::from_secs(120));
    assert_eq!(
        t.pool_failover,
        Duration::from_secs(3600),
        "unset keeps its default"
    );
}

#[test]
fn timeouts_are_bounded_by_cel() {
    for (field, minutes, ok) in [
        ("poolFailoverMinutes", 0, false),
        ("cmsFailoverMinutes", 1441, false),
        ("otherMinutes", 1, true),
        ("poolFailbackMinutes", 1440, true),
    ] {
        let mut p = base();
        p["timeouts"] = json!({ field: minutes });
        let result = topology(p).validate_cel();
        match (ok, result) {
            (true, Ok(())) => {}
            (false, Err(errors)) => assert!(
                errors
                    .iter()
                    .any(|e| e.message.contains("between 1 and 1440 minutes")),
                "{field}: {errors:?}"
            ),
            (ok, other) => panic!("{field}={minutes}: expected ok={ok}, got {other:?}"),
        }
    }
}

#[test]
fn host_keys_are_always_checked() {
    let crd = serde_json::to_string(&Topology::crd()).expect("json");
    for word in [
        "StrictHostKeyChecking",
        "insecure",
        "skipHostKey",
        "hostKeyVerification",
    ] {
        assert!(!crd.contains(word), "the CRD offers {word}");
    }
}
