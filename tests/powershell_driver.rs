//! The PowerShell driver end to end against a fake `ssh`: a shell script that records its
//! arguments, the key file's mode and contents, and answers from fixtures. The driver observes,
//! the planner plans a site failover from that observation, and the driver runs every step.
//!
//! No test depends on how fast the machine is. A call meant to time out runs on a paused tokio
//! clock: the fake ssh records everything, then says it is ready and blocks, and the test waits
//! for that on a blocking thread, during which tokio does not advance the paused clock; only
//! then can the timeout fire. Every other call has a timeout of minutes.

mod common;
mod fake_ssh;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::World;
use fake_ssh::{fixture, wait_until, FakeSsh, KEY, KEY_BODY, KNOWN_HOSTS};
use serde_json::json;
use sfb_dr::driver::powershell::operation::wait_seconds;
use sfb_dr::driver::powershell::{execute_script, Credentials, PowerShellDriver, Timeouts};
use sfb_dr::driver::OperationKey;
use sfb_dr::driver::{Driver, DriverError};
use sfb_dr::model::{Action, Mode};
use sfb_dr::model::{Health, ObservedIndex};
use sfb_dr::planner;

fn driver(fake: &FakeSsh) -> PowerShellDriver {
    fake.driver()
}

const OK: &str = "{\"ok\":true,\"recorded\":true}\n";

#[tokio::test]
async fn a_site_failover_runs_through_ssh_step_by_step() {
    let fake = FakeSsh::new();
    let driver = driver(&fake);
    fake.reply(0, &fixture("observe_pool1_pool2.txt"), 0);
    let observed = driver.observe().await.expect("observes");
    fake.assert_credentials_handled(0);

    // Plan redmond's failover from what the driver observed.
    let w = World::new()
        .pool1_pool2()
        .cms("pool1.contoso.com", Some("pool1.contoso.com"))
        .site_active("redmond", false);
    let index = ObservedIndex::new(observed).expect("consistent");
    let plan = planner::plan(&w.desired, &index, &w.ledger);
    assert!(plan.blocked.is_empty(), "{:?}", plan.blocked);
    let actions: Vec<Action> = plan.steps.iter().map(|s| s.action.clone()).collect();
    assert_eq!(
        actions,
        vec![
            Action::FailOverCms {
                to: "pool2.contoso.com".into(),
                mode: Mode::Graceful,
                backup_sql: None
            },
            Action::RepointEdge {
                edge: "edge1.contoso.com".into(),
                to: "pool2.contoso.com".into()
            },
            Action::FailOverPool {
                pool: "pool1.contoso.com".into(),
                mode: Mode::Graceful
            },
        ]
    );

    for (i, step) in plan.steps.iter().enumerate() {
        fake.reply(i + 1, &format!("WARNING: chatty cmdlet\n{OK}"), 0);
        let key = OperationKey::for_step(&plan.id, &step.id, 1).expect("key");
        driver
            .execute(&key, &step.action)
            .await
            .expect("step succeeds");
        let n = i + 1;
        let args = fake.args(n);
        let expected: Vec<String> = [
            "-F",
            "none",
            "-T",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(args[..7], expected[..]);
        assert!(args[8].starts_with("UserKnownHostsFile=/"), "{args:?}");
        // Only the Secret's host keys count: no global known_hosts file.
        assert_eq!(args[9..11], ["-o", "GlobalKnownHostsFile=/dev/null"]);
        assert!(
            args.iter().filter(|a| a.contains("KnownHostsFile")).count() == 2,
            "{args:?}"
        );
        // Each step's script outgrows the command line: a bootstrap on it, the script on stdin.
        let tail: Vec<&str> = args[args.len() - 8..].iter().map(String::as_str).collect();
        assert_eq!(
            tail[..7],
            [
                "2222",
                "--",
                "CONTOSO\\svc-sfbdr@mgmt.contoso.com",
                "powershell.exe",
                "-NoProfile",
                "-NonInteractive",
                "-EncodedCommand"
            ]
        );
        assert_eq!(args[args.len() - 9], "-p");
        assert!(args.iter().any(|a| a == "-i"));
        let wait = wait_seconds(Timeouts::default().for_action(&step.action));
        assert_eq!(
            fake.stdin(n),
            execute_script(key.as_str(), &step.action, wait).expect("renders")
        );
        assert!(fake
            .encoded_command(n)
            .contains("[scriptblock]::Create($sfbdrScript)"));
        fake.assert_credentials_handled(n);
    }
    assert_eq!(fake.calls(), 1 + plan.steps.len());
}

#[tokio::test]
async fn a_cmdlet_error_comes_back_with_the_cmdlets_message() {
    let fake = FakeSsh::new();
    fake.reply(0, &fixture("failover_refused.txt"), 1);
    let step = Action::FailOverPool {
        pool: "pool1.contoso.com".into(),
        mode: Mode::Graceful,
    };
    match driver(&fake).execute(&key(), &step).await {
        Err(DriverError::Failed(m)) => assert!(
            m.starts_with("Invoke-CsPoolFailOver on mgmt.contoso.com: ")
                && m.contains("uses it as its next hop"),
            "{m}"
        ),
        other => panic!("expected Failed, got {other:?}"),
    }
    fake.assert_credentials_handled(0);
}

#[tokio::test]
async fn an_ssh_failure_is_unreachable_and_names_the_host() {
    let fake = FakeSsh::new();
    fake.stderr(0, "Host key verification failed.\n");
    fake.reply(0, "", 255);
    match driver(&fake).observe().await {
        Err(DriverError::Unreachable(m)) => assert!(
            m.contains("mgmt.contoso.com") && m.contains("Host key verification failed"),
            "{m}"
        ),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    fake.assert_credentials_handled(0);
}

#[tokio::test]
async fn an_ssh_failure_before_the_session_means_nothing_was_sent() {
    for stderr in [
        "ssh: connect to host mgmt.contoso.com port 2222: Connection refused\n",
        "ssh: Could not resolve hostname mgmt.contoso.com: Name or service not known\n",
        "CONTOSO\\svc-sfbdr@mgmt.contoso.com: Permission denied (publickey).\n",
        "No ED25519 host key is known for [mgmt.contoso.com]:2222.\nHost key verification failed.\n",
    ] {
        let fake = FakeSsh::new();
        fake.stderr(0, stderr);
        fake.reply(0, "", 255);
        match driver(&fake).execute(&key(), &failover()).await {
            Err(e @ DriverError::Unreachable(_)) => assert!(!e.may_have_acted(), "{e}"),
            other => panic!("{stderr}: expected Unreachable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_connection_lost_after_the_script_was_sent_leaves_the_outcome_unknown() {
    for (stdout, stderr) in [
        // PowerShell had started the script.
        (
            "sfb-dr: started\n",
            "Connection to mgmt.contoso.com closed by remote host.\n",
        ),
        // No line came back, but ssh does not say it failed before the session.
        ("", "client_loop: send disconnect: Broken pipe\n"),
        ("", ""),
        // Once the script had started, even a message that looks like a connect failure.
        (
            "sfb-dr: started\n",
            "ssh: connect to host mgmt.contoso.com port 2222: Connection refused\n",
        ),
        // Windows PowerShell may put a byte-order mark before the first line it prints.
        (
            "\u{feff}sfb-dr: started\r\n",
            "ssh: connect to host mgmt.contoso.com port 2222: Connection refused\n",
        ),
    ] {
        let fake = FakeSsh::new();
        fake.stderr(0, stderr);
        fake.reply(0, stdout, 255);
        match driver(&fake).execute(&key(), &failover()).await {
            Err(e @ DriverError::OutcomeUnknown(_)) => {
                assert!(e.may_have_acted());
                assert!(e.to_string().contains("mgmt.contoso.com"), "{e}");
            }
            other => panic!("{stdout:?} {stderr:?}: expected OutcomeUnknown, got {other:?}"),
        }
    }
    // Observing changes nothing: there a lost connection is just unreachable.
    let fake = FakeSsh::new();
    fake.stderr(0, "Connection to mgmt.contoso.com closed by remote host.\n");
    fake.reply(0, "sfb-dr: started\n", 255);
    assert!(matches!(
        driver(&fake).observe().await,
        Err(DriverError::Unreachable(_))
    ));
}

#[test]
fn only_refused_and_unreachable_mean_nothing_happened() {
    let m = || "m".to_owned();
    for (e, may_have_acted) in [
        (DriverError::Refused(m()), false),
        (DriverError::Unreachable(m()), false),
        (DriverError::Failed(m()), true),
        (DriverError::BadOutput(m()), true),
        (DriverError::OutcomeUnknown(m()), true),
        (
            DriverError::Timeout {
                what: m(),
                seconds: 1,
            },
            true,
        ),
    ] {
        assert_eq!(e.may_have_acted(), may_have_acted, "{e}");
    }
}

fn failover() -> Action {
    Action::FailOverPool {
        pool: "pool1.contoso.com".into(),
        mode: Mode::Graceful,
    }
}

#[tokio::test(start_paused = true)]
async fn a_step_past_its_timeout_is_killed_and_leaves_no_key_behind() {
    let fake = FakeSsh::new();
    fake.hang(0);
    let step = Action::RepointEdge {
        edge: "edge1.contoso.com".into(),
        to: "pool2.contoso.com".into(),
    };
    // The default five minutes, on the paused clock.
    let ready = fake.when_ready(0);
    let result = driver(&fake).execute(&key(), &step).await;
    ready.await.expect("the fake ssh got ready");
    // Killing ssh does not stop the script on the server.
    assert!(
        result.as_ref().is_err_and(DriverError::may_have_acted),
        "{result:?}"
    );
    match result {
        Err(DriverError::Timeout { what, seconds }) => {
            assert!(
                what.contains("Set-CsEdgeServer") && what.contains("mgmt.contoso.com"),
                "{what}"
            );
            assert_eq!(seconds, Timeouts::default().other.as_secs());
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    fake.assert_credentials_handled(0);
    let pid = fake.call(0, "pid").trim().to_owned();
    tokio::task::spawn_blocking(move || {
        wait_until(&format!("ssh {pid} killed"), || !running(&pid))
    })
    .await
    .expect("ssh was killed");
}

/// Whether a process is alive (a zombie waiting to be reaped is not).
fn running(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[tokio::test(start_paused = true)]
async fn each_kind_of_step_has_its_own_timeout() {
    let fake = FakeSsh::new();
    fake.hang(0);
    let only_failover_is_short = Timeouts {
        pool_failover: Duration::from_secs(60),
        pool_failback: Duration::from_secs(3600),
        cms_failover: Duration::from_secs(3600),
        other: Duration::from_secs(3600),
    };
    let step = Action::FailOverPool {
        pool: "pool1.contoso.com".into(),
        mode: Mode::Disaster,
    };
    let ready = fake.when_ready(0);
    let result = driver(&fake)
        .with_timeouts(only_failover_is_short)
        .execute(&key(), &step)
        .await;
    ready.await.expect("the fake ssh got ready");
    match result {
        Err(DriverError::Timeout { what, seconds }) => {
            assert!(what.contains("Invoke-CsPoolFailOver"), "{what}");
            assert_eq!(seconds, 60);
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    fake.assert_credentials_handled(0);
}

#[tokio::test]
async fn a_hostile_value_is_refused_before_anything_is_sent() {
    let fake = FakeSsh::new();
    for pool in [
        "pool1.contoso.com'; Stop-Computer; '",
        "pool1.contoso.com\u{201A}; Stop-Computer; \u{201A}",
        "pool1.contoso.com\u{201B}; Stop-Computer; \u{201B}",
        "pool1.contoso.com\0; Stop-Computer",
        "pool1.contoso.com\u{2028}Stop-Computer",
    ] {
        let step = Action::FailOverPool {
            pool: pool.into(),
            mode: Mode::Disaster,
        };
        match driver(&fake).execute(&key(), &step).await {
            Err(e @ DriverError::Refused(_)) => assert!(!e.may_have_acted()),
            other => panic!("{pool:?}: expected Refused, got {other:?}"),
        }
    }
    assert_eq!(fake.calls(), 0);
}

#[tokio::test]
async fn a_missing_ssh_client_is_reported_not_panicked() {
    let fake = FakeSsh::new();
    let d = driver(&fake).with_ssh_program(fake.root.path().join("no-such-ssh"));
    assert!(matches!(
        d.observe().await,
        Err(DriverError::Unreachable(_))
    ));
}

#[test]
fn bad_connection_settings_are_rejected() {
    for (field, value) in [
        ("host", json!("mgmt.contoso.com; rm -rf /")),
        ("host", json!("-oProxyCommand=x.contoso.com")),
        ("port", json!(70000)),
        ("user", json!("-oProxyCommand=x")),
        ("user", json!("svc sfbdr")),
        ("credentialsSecretRef", json!({"name": "Sfb_Mgmt"})),
        ("credentialsSecretRef", json!({"name": "a..b"})),
        ("credentialsSecretRef", json!({"name": ""})),
    ] {
        let mut spec = json!({"host": "mgmt.contoso.com", "user": "svc", "credentialsSecretRef": {"name": "s"}});
        spec[field] = value;
        let spec: sfb_dr::api::PowerShellDriver = serde_json::from_value(spec).expect("spec");
        assert!(
            PowerShellDriver::new(&spec, Credentials::new(KEY, KNOWN_HOSTS)).is_err(),
            "{field}"
        );
    }
}

/// Collects everything tracing writes during a test.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Captures everything this thread logs until the guard is dropped.
    fn logs() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (capture, tracing::subscriber::set_default(subscriber))
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_key_material_reaches_logs_errors_or_debug_output() {
    let (capture, _guard) = Capture::logs();

    let fake = FakeSsh::new();
    let d = driver(&fake);
    let mut seen = vec![
        format!("{d:?}"),
        format!("{:?}", Credentials::new(KEY, KNOWN_HOSTS)),
    ];
    fake.reply(0, &fixture("observe_pool1_pool2.txt"), 0);
    let observed = d.observe().await.expect("observes");
    assert_eq!(observed.pools[0].health, Health::Up);
    let step = Action::FailOverPool {
        pool: "pool1.contoso.com".into(),
        mode: Mode::Graceful,
    };
    fake.reply(1, &fixture("failover_refused.txt"), 1);
    fake.stderr(2, "Permission denied (publickey).\n");
    fake.reply(2, "", 255);
    fake.reply(3, "not json", 0);
    // Last, so that no later call depends on how far the fake got before it was killed.
    fake.hang(4);
    let edge = Action::RepointEdge {
        edge: "edge1.contoso.com".into(),
        to: "pool2.contoso.com".into(),
    };
    let times_out = d.clone().with_timeouts(Timeouts {
        other: Duration::from_millis(100),
        ..Timeouts::default()
    });
    for (driver, action) in [(&d, &step), (&d, &step), (&d, &edge), (&times_out, &edge)] {
        let e = driver
            .execute(&key(), action)
            .await
            .expect_err("each call fails");
        seen.push(e.to_string());
        seen.push(format!("{e:?}"));
    }
    let logs = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(
        logs.contains("mgmt.contoso.com"),
        "the capture works: {logs}"
    );
    seen.push(logs);
    for text in &seen {
        assert!(
            !text.contains(KEY_BODY) && !text.contains("PRIVATE KEY"),
            "key material in: {text}"
        );
    }
}

#[tokio::test]
async fn an_unreadable_answer_shows_what_powershell_said() {
    let fake = FakeSsh::new();
    fake.stderr(
        0,
        "'powershell.exe' is not recognized as an internal or external command.\n",
    );
    fake.reply(0, "", 1);
    let step = Action::SyncBackup {
        pool: "pool2.contoso.com".into(),
        module: sfb_dr::model::BackupModule::DataConf,
    };
    match driver(&fake).execute(&key(), &step).await {
        Err(DriverError::BadOutput(m)) => assert!(
            m.contains("printed nothing")
                && m.contains("exit status 1")
                && m.contains("not recognized"),
            "{m}"
        ),
        other => panic!("expected BadOutput, got {other:?}"),
    }
}

/// The OpenSSH client on `PATH`, which the driver runs; `.ci/run` checks it is installed.
fn ssh_on_path() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("ssh"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("this test needs the OpenSSH client: install it (openssh-client) so that `ssh` is on PATH")
        })
}

#[tokio::test]
async fn the_real_ssh_client_accepts_the_drivers_arguments() {
    let ssh = ssh_on_path();
    // A port that was just free: the real ssh parses every option, then cannot connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let spec: sfb_dr::api::PowerShellDriver = serde_json::from_value(json!({
        "host": "127.0.0.1", "port": port, "user": "CONTOSO\\svc-sfbdr",
        "credentialsSecretRef": {"name": "sfb-mgmt-ssh"}
    }))
    .expect("spec");
    let d = PowerShellDriver::new(&spec, Credentials::new(KEY, KNOWN_HOSTS))
        .expect("config")
        .with_ssh_program(&ssh);
    match d.observe().await {
        Err(DriverError::Unreachable(m)) => assert!(
            m.contains("Connection refused") && m.contains("127.0.0.1"),
            "{} should fail only to connect: {m}",
            ssh.display()
        ),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

/// The operation key every step of these tests runs under (the PowerShell driver's record of
/// it is the driver's business; these tests check what reaches the server).
fn key() -> OperationKey {
    OperationKey::parse("0123456789abcdef-s1").expect("a valid key")
}

#[tokio::test]
async fn remote_text_reaches_errors_and_logs_escaped_and_bounded() {
    let (capture, _guard) = Capture::logs();

    // A message that forges a log line, flips the text direction and goes on for 1 MB.
    let hostile = format!(
        "bad\n2024-01-01T00:00:00Z  INFO sfb_dr: succeeded\u{202E}\u{1b}[2J{}",
        "y".repeat(1_000_000)
    );
    let line = serde_json::to_string(&json!({
        "error": {"cmdlet": "Invoke-CsPoolFailOver\nforged", "message": hostile, "acted": true},
        "recorded": true
    }))
    .expect("json");
    let fake = FakeSsh::new();
    fake.reply(0, &format!("sfb-dr: started\n{line}\n"), 1);
    fake.stderr(1, &format!("{hostile}\nPermission denied (publickey).\n"));
    fake.reply(1, "", 255);
    let d = driver(&fake);
    let mut errors = Vec::new();
    for _ in 0..2 {
        errors.push(d.execute(&key(), &failover()).await.expect_err("fails"));
    }
    assert!(
        matches!(errors[0], DriverError::Failed(_)),
        "{:?}",
        errors[0]
    );
    assert!(
        matches!(errors[1], DriverError::Unreachable(_)),
        "{:?}",
        errors[1]
    );
    let logs = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
    // The cmdlet's message keeps its line break as \n; ssh's stderr is shown line by line.
    assert!(
        errors[0].to_string().contains("bad\\n2024-01-01"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].to_string().contains("bad / 2024-01-01"),
        "{}",
        errors[1]
    );
    for e in &errors {
        let m = e.to_string();
        assert!(
            !m.chars().any(|c| c.is_control() || c == '\u{202E}'),
            "{m:?}"
        );
        assert!(
            m.chars().count() <= 2_100,
            "{} characters",
            m.chars().count()
        );
    }
    assert!(
        !logs.contains("\n2024-01-01T00:00:00Z  INFO sfb_dr: succeeded"),
        "a forged line in the logs"
    );
    assert!(!logs.contains('\u{202E}') && !logs.contains('\u{1b}'));
    assert!(logs.len() < 100_000, "{} bytes of logs", logs.len());
}
