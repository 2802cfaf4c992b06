//! At most once per operation key on a real deployment: the PowerShell driver's step scripts
//! keep one record per key on the management server. The fake ssh stands in for that server
//! between calls (see `fake_ssh`); the record logic itself is PowerShell and is shown here by
//! the order of its statements in the scripts, and whole by the golden scripts.

mod common;
mod fake_ssh;

use fake_ssh::{wait_until, FakeSsh};
use sfb_dr::driver::powershell::operation::wait_seconds;
use sfb_dr::driver::powershell::value::RecordKey;
use sfb_dr::driver::powershell::{execute_script, ScriptError, Timeouts};
use sfb_dr::driver::{Driver, DriverError, OperationKey};
use sfb_dr::model::{Action, BackupModule, BackupSql, Mode};

fn key(text: &str) -> OperationKey {
    OperationKey::parse(text).expect("a valid key")
}

fn failover() -> Action {
    Action::FailOverPool {
        pool: "pool1.contoso.com".into(),
        mode: Mode::Graceful,
    }
}

#[tokio::test]
async fn a_repeated_key_runs_the_cmdlet_once() {
    let fake = FakeSsh::new();
    fake.keep_records();
    let driver = fake.driver();
    let first = key("0123456789abcdef-s1");
    driver.execute(&first, &failover()).await.expect("runs");
    driver
        .execute(&first, &failover())
        .await
        .expect("answers with the first call's outcome");
    assert_eq!(fake.calls(), 2, "both calls reached the server");
    assert_eq!(
        fake.cmdlets_run(),
        vec![first.to_string()],
        "the cmdlet ran once"
    );
    // A new attempt is a new key, and runs.
    let second = OperationKey::for_step("0123456789abcdef", "s1", 2).expect("key");
    driver.execute(&second, &failover()).await.expect("runs");
    assert_eq!(
        fake.cmdlets_run(),
        vec![first.to_string(), second.to_string()]
    );
}

#[tokio::test]
async fn a_repeated_key_returns_the_first_failure_without_acting_again() {
    let fake = FakeSsh::new();
    fake.keep_records();
    fake.fail_cmdlets();
    let driver = fake.driver();
    let k = key("0123456789abcdef-s2");
    for call in 0..2 {
        match driver.execute(&k, &failover()).await {
            Err(e @ DriverError::Failed(_)) => {
                assert!(e.may_have_acted());
                assert!(e.to_string().contains("mgmt.contoso.com"), "{e}");
                if call == 1 {
                    assert!(e.to_string().contains("already ran"), "{e}");
                }
            }
            other => panic!("call {call}: expected Failed, got {other:?}"),
        }
    }
    assert_eq!(fake.cmdlets_run().len(), 1);
}

#[tokio::test]
async fn a_second_call_waits_for_a_first_still_running_and_shares_its_outcome() {
    let fake = FakeSsh::new();
    fake.keep_records();
    fake.hold();
    let k = key("0123456789abcdef-s3");
    let first = {
        let (d, k) = (fake.driver(), k.clone());
        tokio::spawn(async move { d.execute(&k, &failover()).await })
    };
    let record = {
        let fake_root = fake.root.path().to_owned();
        let k = k.to_string();
        move || std::fs::read_to_string(fake_root.join("records").join(&k)).unwrap_or_default()
    };
    let r = record.clone();
    tokio::task::spawn_blocking(move || {
        wait_until("the first call claims the key", || {
            r().starts_with("Running")
        })
    })
    .await
    .expect("claimed");
    let second = {
        let (d, k) = (fake.driver(), k.clone());
        tokio::spawn(async move { d.execute(&k, &failover()).await })
    };
    let root = fake.root.path().join("calls").join("1").join("waited");
    tokio::task::spawn_blocking(move || {
        wait_until("the second call waits for the first", || root.exists())
    })
    .await
    .expect("waiting");
    assert!(fake.waited(1));
    fake.release();
    first
        .await
        .expect("joins")
        .expect("the first call succeeds");
    second
        .await
        .expect("joins")
        .expect("the second answers with the first's success");
    assert_eq!(fake.cmdlets_run(), vec![k.to_string()]);
    assert!(record().starts_with("Succeeded"));
}

#[tokio::test]
async fn a_running_record_whose_process_is_gone_leaves_the_outcome_unknown() {
    // A process that has ended: its id names no live process.
    let mut gone = std::process::Command::new("true").spawn().expect("spawn");
    let pid = gone.id();
    gone.wait().expect("ends");
    let fake = FakeSsh::new();
    fake.keep_records();
    let k = key("0123456789abcdef-s4");
    fake.seed_record(k.as_str(), "Running", pid);
    match fake.driver().execute(&k, &failover()).await {
        Err(e @ DriverError::OutcomeUnknown(_)) => {
            assert!(e.may_have_acted());
            let m = e.to_string();
            assert!(
                m.contains(k.as_str()) && m.contains("Running") && m.contains(&pid.to_string()),
                "{m}"
            );
        }
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    }
    assert!(fake.cmdlets_run().is_empty(), "nothing was run again");
    assert_eq!(fake.record(k.as_str()), Some(format!("Running {pid}")));
}

/// A record as the script prints it for an earlier call under the same key.
fn record_line(state: &str, alive: bool) -> String {
    format!(
        "sfb-dr: started\n{{\"record\":{{\"State\":\"{state}\",\"Alive\":{alive},\"Pid\":\"4242\",\"Cmdlet\":\"Invoke-CsPoolFailOver\",\"Message\":\"The pool is not ready.\",\"Started\":\"2024-05-01T10:00:00Z\",\"Finished\":\"\"}}}}\n"
    )
}

#[tokio::test]
async fn each_record_an_earlier_call_left_reads_as_its_outcome() {
    let wait = wait_seconds(Timeouts::default().pool_failover);
    let k = key("0123456789abcdef-s5");
    let fake = FakeSsh::new();
    let answers = [
        record_line("Succeeded", false),
        record_line("Failed", false),
        record_line("Refused", false),
        record_line("Running", false),
        record_line("Running", true),
        record_line("Unreadable", false),
        record_line("Bogus", false),
    ];
    for (n, answer) in answers.iter().enumerate() {
        fake.reply(n, answer, 0);
    }
    let d = fake.driver();
    let mut results = Vec::new();
    for _ in &answers {
        results.push(d.execute(&k, &failover()).await);
    }
    assert_eq!(results[0], Ok(()));
    assert!(
        matches!(&results[1], Err(DriverError::Failed(m)) if m.contains("The pool is not ready."))
    );
    assert!(matches!(&results[2], Err(e @ DriverError::Refused(_)) if !e.may_have_acted()));
    assert!(matches!(&results[3], Err(DriverError::OutcomeUnknown(m)) if m.contains("4242")));
    match &results[4] {
        // The first call still runs after the wait: this one gives up waiting, as a timeout.
        Err(DriverError::Timeout { what, seconds }) => {
            assert_eq!(*seconds, wait);
            assert!(what.contains(k.as_str()) && what.contains("4242"), "{what}");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(matches!(&results[5], Err(DriverError::OutcomeUnknown(_))));
    assert!(matches!(&results[6], Err(DriverError::BadOutput(m)) if m.contains("record")));
}

#[tokio::test]
async fn a_check_that_fails_before_the_cmdlet_is_refused_not_failed() {
    let fake = FakeSsh::new();
    fake.reply(
        0,
        "sfb-dr: started\n{\"error\":{\"cmdlet\":\"Get-CsPool\",\"message\":\"No computer of pool2.contoso.com accepted PowerShell remoting.\",\"acted\":false},\"recorded\":true}\n",
        1,
    );
    // The bootstrap's own refusal when the script arrived cut short.
    fake.reply(
        1,
        "{\"error\":{\"cmdlet\":\"sfb-dr\",\"message\":\"the script arrived incomplete; nothing was run\",\"acted\":false}}\n",
        1,
    );
    let d = fake.driver();
    for n in 0..2 {
        match d.execute(&key("0123456789abcdef-s6"), &failover()).await {
            Err(e @ DriverError::Refused(_)) => {
                assert!(!e.may_have_acted());
                assert!(e.to_string().contains("nothing was changed"), "{e}");
            }
            other => panic!("call {n}: expected Refused, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_hostile_key_is_refused_before_anything_is_sent() {
    let fake = FakeSsh::new();
    // A valid OperationKey that the management server cannot store faithfully: NTFS ignores
    // case, so it would share its record with the lowercase key.
    let upper = key("0123456789ABCDEF-s1");
    match fake.driver().execute(&upper, &failover()).await {
        Err(e @ DriverError::Refused(_)) => {
            assert!(!e.may_have_acted());
            assert!(e.to_string().contains("operation key"), "{e}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(fake.calls(), 0, "nothing reached ssh");
    // The value layer checks any text again, whoever built it.
    for hostile in [
        "x'; Stop-Computer; '",
        "x\u{2019}; Stop-Computer",
        "$(Stop-Computer)",
        "..\\..\\Windows\\System32\\x",
        "con",
        "",
        "-s1",
        "s1-",
        "a\nb",
        &"a".repeat(129),
    ] {
        if hostile == "con" {
            // A Windows device name is a fine key: its file is op-con.json.
            assert!(RecordKey::parse(hostile).is_ok());
            continue;
        }
        assert!(RecordKey::parse(hostile).is_err(), "{hostile:?}");
        assert!(
            matches!(
                execute_script(hostile, &failover(), 60),
                Err(ScriptError::Value(_))
            ),
            "{hostile:?}"
        );
    }
}

fn every_kind_of_step() -> Vec<Action> {
    vec![
        failover(),
        Action::FailBackPool {
            pool: "pool1.contoso.com".into(),
            mode: Mode::Disaster,
        },
        Action::RepointEdge {
            edge: "edge1.contoso.com".into(),
            to: "pool2.contoso.com".into(),
        },
        Action::SyncBackup {
            pool: "pool2.contoso.com".into(),
            module: BackupModule::RgsDataStore,
        },
        Action::FailOverCms {
            to: "pool2.contoso.com".into(),
            mode: Mode::Disaster,
            backup_sql: Some(Box::new(BackupSql {
                pool: "pool2.contoso.com".into(),
                sql_server_fqdn: "sql2.contoso.com".into(),
                sql_instance_name: Some("rtc".into()),
                mirror_sql_server_fqdn: Some("sql2m.contoso.com".into()),
                mirror_sql_instance_name: Some("rtc".into()),
            })),
        },
    ]
}

#[test]
fn every_step_script_claims_its_key_before_its_cmdlet_and_records_the_outcome_after() {
    for action in every_kind_of_step() {
        let script = execute_script("0123456789abcdef-s1", &action, 2700).expect("renders");
        let lines: Vec<&str> = script.lines().collect();
        let at = |needle: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("{action}: no line starting {needle}"))
        };
        let cmdlet = sfb_dr::driver::powershell::script::command(
            &action,
            sfb_dr::driver::powershell::WhatIf::No,
        )
        .expect("renders")
        .cmdlet;
        let first_cmdlet = lines
            .iter()
            .position(|l| l.starts_with(cmdlet))
            .unwrap_or_else(|| panic!("{action}: no {cmdlet} line"));
        // The key is the checked literal, and the only place the key appears.
        assert_eq!(
            lines[at("$sfbdrKey = ")],
            "$sfbdrKey = '0123456789abcdef-s1'"
        );
        assert_eq!(script.matches("0123456789abcdef-s1").count(), 1, "{action}");
        let claim = at("$sfbdrOperation = Enter-SfbDrOperation");
        let not_owner = at("if (-not $sfbdrOperation.Owned)");
        let report = at("Write-SfbDrResult @{ record = $sfbdrOperation.Report }");
        let acted = at("$sfbdrActed = $true");
        let outcome = at("$sfbdrRecorded = Complete-SfbDrOperation");
        assert!(claim < not_owner && not_owner < report, "{action}");
        // A call that does not own the key reports and leaves before any cmdlet.
        assert_eq!(lines[report + 1], "exit 0", "{action}");
        assert!(report < at("Import-Module SkypeForBusiness"), "{action}");
        assert!(report < acted && acted < first_cmdlet, "{action}");
        assert!(first_cmdlet < outcome, "{action}");
        // The record is created where none exists, so only one call can own a key.
        assert!(script.contains("[System.IO.File]::Move($tmp, $Path)"));
        assert!(script.contains("('op-' + $Key + '.json')"));
        assert!(script.contains("$acl.SetAccessRuleProtection($true, $false)"));
    }
}

#[test]
fn the_wait_for_a_running_first_call_ends_before_the_steps_timeout() {
    for seconds in [1u64, 4, 60, 3600, u64::MAX] {
        let wait = wait_seconds(std::time::Duration::from_secs(seconds));
        assert!(
            wait >= 1 && (wait < seconds || seconds == 1),
            "{seconds}: {wait}"
        );
    }
}
