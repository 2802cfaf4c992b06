//! The PowerShell driver's configuration in `Topology.spec.driver.powershell`: per-action
//! timeouts with their documented defaults and bounds, and no way to skip host key checks.

use kube::CustomResourceExt;
use serde_json::json;
use sfb_dr::api::Topology;
use sfb_dr::driver::powershell::{Credentials, Timeouts};
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

fn secret(data: serde_json::Value) -> k8s_openapi::api::core::v1::Secret {
    serde_json::from_value(json!({"metadata": {"name": "sfb-mgmt-ssh"}, "data": data}))
        .expect("secret")
}

#[test]
fn credentials_come_from_the_secrets_two_keys() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nU0VDUkVU\n-----END OPENSSH PRIVATE KEY-----\n";
    let ok =
        secret(json!({"ssh-privatekey": b64(key), "known_hosts": b64("mgmt ssh-ed25519 AAAA\n")}));
    let creds = Credentials::from_secret(&ok).expect("credentials");
    assert!(
        !format!("{creds:?}").contains("U0VDUkVU"),
        "Debug redacts the key"
    );

    let missing = secret(json!({"ssh-privatekey": b64(key)}));
    let e = Credentials::from_secret(&missing).expect_err("no known_hosts");
    assert!(
        e.to_string().contains("sfb-mgmt-ssh") && e.to_string().contains("known_hosts"),
        "{e}"
    );
    assert!(!e.to_string().contains("U0VDUkVU"));

    let binary = secret(json!({"ssh-privatekey": "/w==", "known_hosts": b64("x")}));
    let e = Credentials::from_secret(&binary).expect_err("not text");
    assert!(e.to_string().contains("ssh-privatekey is not text"), "{e}");
}

/// Whether the CRD's CEL rules accept a Topology with this `user` and Secret name.
fn cel_accepts(user: &str, secret: &str) -> bool {
    let mut p = base();
    p["user"] = json!(user);
    p["credentialsSecretRef"] = json!({ "name": secret });
    topology(p).validate_cel().is_ok()
}

#[test]
fn the_cel_rule_for_user_is_as_strict_as_the_drivers_check() {
    let long = "a".repeat(104);
    let too_long = "a".repeat(105);
    for user in [
        "CONTOSO\\svc-sfbdr",
        "svc-sfbdr@contoso.com",
        "svc",
        "_svc",
        ".svc",
        "svc-",
        long.as_str(),
        too_long.as_str(),
        "",
        "-oProxyCommand=x",
        "svc sfbdr",
        "svc;rm",
        "svc'x",
        "svc\n",
        "sv\u{0441}",
        "svc$",
    ] {
        let rust = sfb_dr::driver::powershell::transport::check_user(user).is_ok();
        assert_eq!(cel_accepts(user, "sfb-mgmt-ssh"), rust, "{user:?}");
    }
}

#[test]
fn the_cel_rule_for_the_secret_name_is_as_strict_as_the_drivers_check() {
    let long = "a".repeat(253);
    let too_long = "a".repeat(254);
    for name in [
        "sfb-mgmt-ssh",
        "a",
        "1abc",
        "a.b",
        "a-b.c-d",
        long.as_str(),
        too_long.as_str(),
        "",
        "a..b",
        "-a",
        "a-",
        "a.-b",
        ".abc",
        "abc.",
        "A",
        "a_b",
        "ab\nc",
        "a b",
    ] {
        let rust = sfb_dr::driver::powershell::credentials::check_secret_name(name).is_ok();
        assert_eq!(cel_accepts("svc", name), rust, "{name:?}");
    }
}
