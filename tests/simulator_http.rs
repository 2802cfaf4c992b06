//! The simulator binary and its HTTP API (docs/simulator-api.md), as a driver would use them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use sfb_dr::model::ObservedTopology;

/// The simulator process, killed when the test ends however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> (Running, String) {
    start_on(&["--listen", "127.0.0.1:0"])
}

fn start_on(listen: &[&str]) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .args([
            "simulator",
            "--topology",
            "examples/topology.json",
            "--time-scale",
            "100000",
            "--seed",
            "1",
        ])
        .args(listen)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a first line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (running, url)
}

#[tokio::test]
async fn simulator_serves_the_documented_api() {
    let (_sim, url) = start();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{url}{path}")).send();

    assert_eq!(get("/healthz").await.expect("healthz").status(), 200);
    let topology: ObservedTopology = get("/topology")
        .await
        .expect("topology")
        .json()
        .await
        .expect("observed format");
    assert_eq!(topology.pools.len(), 6);
    assert_eq!(topology.data_loss, Some(0));

    let post = |path: &str, body: Value| http.post(format!("{url}{path}")).json(&body).send();
    // pool1 hosts the CMS master: the real product refuses, and so does the simulator.
    let refused = post(
        "/commands",
        json!({"id": "s1", "action": "FailOverPool", "pool": "pool1.contoso.com", "mode": "Graceful", "dependsOn": []}),
    )
    .await
    .expect("answer");
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["outcome"], "Refused");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Central Management Store"));

    let moved = post(
        "/commands",
        json!({"action": "FailOverCms", "to": "pool2.contoso.com", "mode": "Graceful"}),
    )
    .await
    .expect("answer");
    assert_eq!(moved.status(), 200);

    let audit: Vec<Value> = get("/audit")
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let summary: Vec<(u64, &str, &str)> = audit
        .iter()
        .map(|a| {
            (
                a["seq"].as_u64().unwrap_or(0),
                a["command"]["action"].as_str().unwrap_or(""),
                a["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "FailOverPool", "Refused"),
            (2, "FailOverCms", "Succeeded")
        ]
    );

    let fault = post(
        "/faults",
        json!({"kind": "PoolDown", "pool": "pool9.contoso.com"}),
    )
    .await
    .expect("answer");
    assert_eq!(fault.status(), 404);
    // A known pool, and a fault its state does not allow: a conflict, not a missing thing.
    let fault = post(
        "/faults",
        json!({"kind": "DatabaseServerDown", "pool": "pool1.contoso.com", "server": "Mirror"}),
    )
    .await
    .expect("answer");
    assert_eq!(fault.status(), 409);
    let fault = post("/faults", json!({"kind": "Meteor"}))
        .await
        .expect("answer");
    assert_eq!(fault.status(), 400);
    let bad = post("/commands", json!({"action": "Reboot"}))
        .await
        .expect("answer");
    assert_eq!(bad.status(), 400);

    let partition = post("/faults", json!({"kind": "ObservePartition"}))
        .await
        .expect("answer");
    assert_eq!(partition.status(), 200);
    assert_eq!(get("/topology").await.expect("answer").status(), 503);
}

#[test]
fn simulator_rejects_a_bad_start_file_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"sites": ["a"], "pools": [{"fqdn": "p1.x.com", "site": "b", "edition": "Enterprise", "health": "Up"}], "cms": {"activeMaster": null, "replicasUpToDate": true}}"#)
        .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .args(["simulator", "--topology"])
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pools[0].site"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[tokio::test]
async fn back_end_and_cms_faults_are_served_and_observed() {
    let (_sim, url) = start();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| http.post(format!("{url}{path}")).json(&body).send();
    let topology = || async {
        http.get(format!("{url}/topology"))
            .send()
            .await
            .expect("topology")
            .json::<Value>()
            .await
            .expect("json")
    };
    let before = topology().await;
    assert_eq!(before["cms"]["pool"], "pool1.contoso.com");
    assert_eq!(before["pools"][0]["backEnd"], "Up");

    let down = post(
        "/faults",
        json!({"kind": "BackEndDown", "pool": "pool3.contoso.com"}),
    )
    .await
    .expect("answer");
    assert_eq!(down.status(), 200);
    let pool3 = |t: &Value| {
        t["pools"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["fqdn"] == "pool3.contoso.com").cloned())
            .unwrap_or_default()
    };
    let t = topology().await;
    assert_eq!(
        (pool3(&t)["health"].clone(), pool3(&t)["backEnd"].clone()),
        (json!("Up"), json!("Down"))
    );

    let lost = post("/faults", json!({"kind": "CmsMasterLost"}))
        .await
        .expect("answer");
    assert_eq!(lost.status(), 200);
    let t = topology().await;
    assert_eq!(t["cms"]["activeMaster"], Value::Null);
    assert_eq!(t["cms"]["pool"], "pool1.contoso.com");
    assert_eq!(t["cms"]["replicasUpToDate"], false);
    let refused = post(
        "/commands",
        json!({"action": "RepointEdge", "edge": "edge1.contoso.com", "to": "pool2.contoso.com"}),
    )
    .await
    .expect("answer");
    assert_eq!(refused.status(), 409);
}

#[test]
fn the_simulator_listens_on_localhost_by_name() {
    let (_sim, url) = start_on(&["--listen", "localhost:0"]);
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("http://[::1]:"),
        "{url}"
    );
}

/// Runs the simulator on `listen`, which it must refuse: its output and standard error.
fn simulator_refusing(listen: &str) -> (std::process::Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .args([
            "simulator",
            "--topology",
            "examples/topology.json",
            "--listen",
            listen,
        ])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

#[test]
fn the_simulator_refuses_to_listen_beyond_loopback_unless_told() {
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let (out, err) = simulator_refusing(listen);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("not a loopback address") && err.contains("--insecure-listen-anywhere"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let (_sim, url) = start_on(&["--listen", "0.0.0.0:0", "--insecure-listen-anywhere"]);
    assert!(url.starts_with("http://0.0.0.0:"), "{url}");
}

#[test]
fn a_listen_address_that_is_not_host_and_port_is_bad_input() {
    for listen in ["localhost", "localhost:99999", ":7070", "not a host:1"] {
        let (out, err) = simulator_refusing(listen);
        assert_eq!(out.status.code(), Some(2), "{listen}: {err}");
        assert!(err.contains("--listen"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
