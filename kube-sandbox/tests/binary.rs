//! The `kube-sandbox` binary as documented: prints its URL first, writes a kubeconfig kubectl
//! (and kube-rs's kubeconfig loader) can use, stops on SIGTERM, and refuses to listen beyond
//! loopback unless told to.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::{in_time, KUBECTL, KUBECTL_DEADLINE};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_kube-sandbox");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_its_url_and_serves_kubectl_until_terminated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = server.stdout.take().expect("piped stdout");
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("a first line in time")
    .expect("readable")
    .expect("a line");
    assert!(first.starts_with("https://127.0.0.1:"), "{first}");

    let kubectl = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["get", "namespace", "default", "-o", "name"])
        .kill_on_drop(true)
        .output();
    let output = in_time("kubectl get namespace", KUBECTL_DEADLINE, kubectl)
        .await
        .expect("kubectl runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "namespace/default"
    );

    let pid = server.id().expect("still running").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_refuses_a_non_loopback_address_without_the_insecure_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let refused = Command::new(BINARY)
        .args(["--listen", "0.0.0.0:0", "--kubeconfig"])
        .arg(dir.path().join("kubeconfig"))
        .kill_on_drop(true)
        .output();
    let output = in_time("the binary to refuse", KUBECTL_DEADLINE, refused)
        .await
        .expect("the binary runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--insecure-listen-anywhere"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_can_connect_through_the_written_kubeconfig() {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let sb = support::sandbox().await;
    let kubeconfig = Kubeconfig::read_from(sb.kubeconfig_path()).expect("the kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a config");
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).expect("a client");
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    let names: Vec<String> = namespaces
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_stops_the_server() {
    let sb = support::sandbox().await;
    let address = sb.address();
    tokio::net::TcpStream::connect(address)
        .await
        .expect("serving while held");
    drop(sb);
    support::eventually("the listener to close", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(address).await.is_err()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_enforces_rbac_when_told_and_names_an_unknown_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = Command::new(BINARY)
        .args(["--authorization", "rbac", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = server.stdout.take().expect("piped stdout");
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("a first line in time")
    .expect("readable")
    .expect("a line");
    let kubectl = |args: &'static [&'static str]| {
        Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(args)
            .kill_on_drop(true)
            .output()
    };
    let admin = in_time(
        "kubectl auth can-i",
        KUBECTL_DEADLINE,
        kubectl(&["auth", "can-i", "delete", "nodes"]),
    )
    .await
    .expect("kubectl runs");
    assert_eq!(String::from_utf8_lossy(&admin.stdout).trim(), "yes");
    let nobody = in_time(
        "kubectl auth can-i --as",
        KUBECTL_DEADLINE,
        kubectl(&[
            "auth",
            "can-i",
            "get",
            "pods",
            "--as",
            "system:serviceaccount:default:default",
        ]),
    )
    .await
    .expect("kubectl runs");
    assert_eq!(String::from_utf8_lossy(&nobody.stdout).trim(), "no");
    server.kill().await.expect("stopped");

    let refused = Command::new(BINARY)
        .args(["--authorization", "abac", "--kubeconfig"])
        .arg(dir.path().join("other"))
        .output()
        .await
        .expect("the binary runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("unknown authorization mode \"abac\""),
        "{stderr}"
    );
}
