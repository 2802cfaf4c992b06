//! `sfb-dr plan -o powershell`: the runbook for the examples matches its reviewed golden, lists
//! the steps in dependency order with their preconditions, `--whatif` reaches every
//! state-changing cmdlet, and the README's excerpt is what the command prints.

use std::process::Command;

use sfb_dr::driver::powershell::{runbook, WhatIf};
use sfb_dr::model::{Action, Mode, Plan, Step};

fn plan_cli(observed: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .args([
            "plan",
            "-f",
            "examples/contoso.yaml",
            "-f",
            "examples/drills/redmond-inactive.yaml",
            "--observed",
            observed,
        ])
        .args(extra)
        .output()
        .expect("runs sfb-dr")
}

fn runbook_cli(observed: &str, extra: &[&str]) -> String {
    let out = plan_cli(observed, extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new("tests/golden/powershell").join(name);
    if std::env::var_os("SFB_DR_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; bless with SFB_DR_BLESS=1", path.display()));
    assert!(
        expected == actual,
        "{} differs; review, then re-bless with SFB_DR_BLESS=1.\n--- printed:\n{actual}",
        path.display()
    );
}

#[test]
fn the_graceful_site_failover_runbook_matches_its_golden() {
    let text = runbook_cli("examples/topology.json", &["-o", "powershell"]);
    golden("runbook_redmond_inactive.ps1", &text);
}

#[test]
fn the_disaster_what_if_runbook_matches_its_golden() {
    let text = runbook_cli(
        "examples/drills/topology-redmond-down.json",
        &["-o", "powershell", "--whatif"],
    );
    golden("runbook_redmond_down_whatif.ps1", &text);
}

#[test]
fn what_if_marks_every_state_changing_cmdlet() {
    for observed in [
        "examples/topology.json",
        "examples/drills/topology-redmond-down.json",
    ] {
        let text = runbook_cli(observed, &["-o", "powershell", "--whatif"]);
        let changing: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter(|l| {
                [
                    "Invoke-CsPool",
                    "Invoke-CsManagementServerFailover",
                    "Set-CsEdgeServer",
                ]
                .iter()
                .any(|c| l.trim_start().starts_with(c))
            })
            .collect();
        assert!(!changing.is_empty());
        assert!(
            changing.iter().all(|l| l.ends_with(" -WhatIf")),
            "{changing:?}"
        );
    }
}

#[test]
fn what_if_without_a_runbook_is_bad_input() {
    let out = plan_cli("examples/topology.json", &["--whatif"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--whatif applies to -o powershell"));
}

#[test]
fn the_readme_runbook_is_what_the_command_prints() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let start = readme
        .find("```powershell\n# sfb-dr runbook")
        .expect("the README shows a runbook");
    let block = &readme[start + "```powershell\n".len()..];
    let block = &block[..block.find("```").expect("closed block")];
    let printed = runbook_cli("examples/topology.json", &["-o", "powershell"]);
    let mut rest = printed.lines();
    for line in block.lines().filter(|l| *l != "...") {
        assert!(
            rest.any(|p| p == line),
            "README line not printed (in this order): {line}"
        );
    }
}

fn step(id: &str, action: Action, depends_on: &[&str]) -> Step {
    Step {
        id: id.into(),
        action,
        depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn a_swap_runbook_fails_back_before_it_fails_over_and_says_why() {
    let plan = Plan {
        id: "c0ffee".into(),
        steps: vec![
            step(
                "s1",
                Action::FailBackPool {
                    pool: "pool1.contoso.com".into(),
                    mode: Mode::Graceful,
                },
                &[],
            ),
            step(
                "s2",
                Action::FailOverPool {
                    pool: "pool2.contoso.com".into(),
                    mode: Mode::Graceful,
                },
                &["s1"],
            ),
        ],
        blocked: vec![],
    };
    let text = runbook(&plan, WhatIf::No).expect("renders");
    let back = text.find("Invoke-CsPoolFailBack -PoolFqdn 'pool1.contoso.com'");
    let over = text.find("Invoke-CsPoolFailOver -PoolFqdn 'pool2.contoso.com'");
    assert!(back.is_some() && back < over, "{text}");
    assert!(text.contains("# Waits for s1"), "{text}");
    assert!(text.contains("planning rule 1"), "{text}");
}

#[test]
fn a_runbook_with_a_hostile_value_is_not_written() {
    let plan = Plan {
        id: "c0ffee".into(),
        steps: vec![step(
            "s1",
            Action::FailOverPool {
                pool: "pool1.contoso.com\n}; Stop-Computer; #".into(),
                mode: Mode::Graceful,
            },
            &[],
        )],
        blocked: vec![],
    };
    assert!(runbook(&plan, WhatIf::No).is_err());
}

#[test]
fn blocked_pairs_are_listed_as_comments_that_cannot_end_early() {
    let plan = Plan {
        id: "c0ffee".into(),
        steps: vec![],
        blocked: vec![sfb_dr::model::Blocked {
            pair: "pool1-pool2".into(),
            reason: sfb_dr::model::BlockReason::DataLossNotAllowed,
            message: "line one\nStop-Computer\r\n# and more\u{2028}Remove-CsPool\u{2029}x\0y"
                .into(),
        }],
    };
    let text = runbook(&plan, WhatIf::No).expect("renders");
    assert!(text.contains("# Nothing to do"), "{text}");
    assert!(
        text.contains("#   pair pool1-pool2: DataLossNotAllowed: line one Stop-Computer"),
        "{text}"
    );
    // Nothing an editor or PowerShell could take for a line break, nor a NUL, is left.
    assert!(
        !text
            .chars()
            .any(|c| matches!(c, '\r' | '\0' | '\u{85}' | '\u{2028}' | '\u{2029}')),
        "{text:?}"
    );
    let code: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        !code
            .iter()
            .any(|l| l.contains("Stop-Computer") || l.contains("Remove-CsPool")),
        "{code:?}"
    );
}

#[test]
fn a_hand_run_waits_for_the_cms_to_settle_before_any_pool_fails_over() {
    let text = runbook_cli("examples/topology.json", &["-o", "powershell"]);
    let wait = text.find("Wait until the CMS has settled").expect("a wait");
    let failover = text.find("\nInvoke-CsPoolFailOver").expect("a failover");
    assert!(wait < failover);
    assert!(text.contains("$behind = @(Get-CsManagementStoreReplicationStatus"));
    // A what-if run moves nothing, so it does not wait for a move.
    let what_if = runbook_cli("examples/topology.json", &["-o", "powershell", "--whatif"]);
    assert!(!what_if.contains("$deadline"), "{what_if}");
}

/// Planning rule 11 by hand: edge1, which carries both federation routes, is down. The runbook
/// stops at each person's step until someone types `done`, and runs `Set-CsSite` between them.
#[test]
fn the_federation_runbook_stops_at_each_persons_step() {
    let mut observed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("examples/drills/topology-federation.json").expect("reads"),
    )
    .expect("JSON");
    observed["edges"][0]["health"] = serde_json::json!("Down");
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("edge1-down.json");
    std::fs::write(&path, observed.to_string()).expect("writes");
    let out = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .args([
            "plan",
            "-f",
            "examples/drills/federation.yaml",
            "--observed",
        ])
        .arg(&path)
        .args(["-o", "powershell"])
        .output()
        .expect("runs sfb-dr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    golden("runbook_federation_edge1_down.ps1", &text);
    let prompts = text.lines().filter(|l| l.contains("Read-Host")).count();
    assert_eq!(
        prompts, 3,
        "SIP, the Edge services, the DNS records:\n{text}"
    );
    let set = text
        .find("\nSet-CsSite -Identity 'dublin'")
        .expect("Set-CsSite");
    let stop = text
        .find("Stop-CsWindowsService")
        .expect("the Edge services");
    let dns = text.find("_xmpp-server._tcp").expect("the DNS records");
    assert!(stop < set, "{text}");
    assert!(set < dns, "the DNS records follow Set-CsSite: {text}");
}

/// Planning rule 12 by hand: site redmond, which holds the Persistent Chat pool's primary
/// database, is out of service. The runbook stops at the person's SQL Server step, then runs
/// `Set-CsPersistentChatState` and `Set-CsPersistentChatActiveServer` in Microsoft's order.
#[test]
fn the_persistent_chat_runbook_stops_for_the_sql_steps_and_runs_the_cmdlets_in_order() {
    let manifests = std::fs::read_to_string("examples/drills/persistent-chat.yaml")
        .expect("reads")
        .replacen(
            "  name: redmond\n  namespace: sfb-litware\nspec:\n  active: true",
            "  name: redmond\n  namespace: sfb-litware\nspec:\n  active: false",
            1,
        );
    assert!(manifests.contains("active: false"), "the Site is taken out");
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("redmond-out.yaml");
    std::fs::write(&path, manifests).expect("writes");
    let out = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .arg("plan")
        .arg("-f")
        .arg(&path)
        .args([
            "--observed",
            "examples/drills/topology-persistent-chat.json",
            "-o",
            "powershell",
        ])
        .output()
        .expect("runs sfb-dr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    golden("runbook_persistent_chat_redmond_out.ps1", &text);
    let prompts = text.lines().filter(|l| l.contains("Read-Host")).count();
    assert_eq!(prompts, 1, "the SQL Server step:\n{text}");
    let sql = text
        .find("sp_delete_log_shipping_secondary_database")
        .expect("the SQL Server step");
    let state = text
        .find("Set-CsPersistentChatState -Identity $chatIdentity -PoolState FailedOver")
        .expect("Set-CsPersistentChatState");
    let active = text
        .find("Set-CsPersistentChatActiveServer -Identity $chatIdentity -ActiveServers @('pc3.litware.com', 'pc4.litware.com')")
        .expect("Set-CsPersistentChatActiveServer");
    assert!(sql < state && state < active, "{text}");
}
