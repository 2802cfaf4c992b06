//! The PowerShell the driver sends: every script as it travels (decoded from its EncodedCommand)
//! matches a reviewed golden file, fits the Windows command line, and no hostile value can
//! break out of its literal.
//!
//! After an intended change, review the new scripts and re-bless with
//! `SFB_DR_BLESS=1 cargo test -p sfb-dr --test powershell_scripts`.

use std::path::Path;

use sfb_dr::driver::powershell::observe::observe_script;
use sfb_dr::driver::powershell::script::{command, ScriptError};
use sfb_dr::driver::powershell::transport::{delivery, stdin_bootstrap, COMMAND_LINE_LIMIT};
use sfb_dr::driver::powershell::value::{quote, Fqdn, SqlInstance};
use sfb_dr::driver::powershell::{encode_command, execute_script, Delivery, WhatIf};
use sfb_dr::model::BackupSql;
use sfb_dr::model::{Action, BackupModule, ChatState, DatabaseType, MirrorRole, Mode};

mod common;

use common::decode_encoded_command as decode;

fn golden(name: &str, actual: &str) {
    let path = Path::new("tests/golden/powershell").join(name);
    if std::env::var_os("SFB_DR_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("golden dir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with SFB_DR_BLESS=1 after review",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the rendered script; review, then re-bless with SFB_DR_BLESS=1.\n--- rendered:\n{actual}",
        path.display()
    );
}

/// The key and the wait every step script of these tests is rendered with.
const KEY: &str = "0123456789abcdef-s1";
const WAIT: u64 = 2700;

fn script(action: &Action) -> Result<String, ScriptError> {
    execute_script(KEY, action, WAIT)
}

/// `script` as it travels: decoded back from its EncodedCommand, or as it goes on standard input.
fn travelled(script: &str) -> String {
    match delivery(script) {
        Delivery::EncodedCommand => {
            let decoded = decode(&encode_command(script));
            assert_eq!(decoded, script, "encoding round-trips");
            decoded
        }
        Delivery::StandardInput => script.to_owned(),
    }
}

/// The script for `action` as it travels.
fn wire(action: &Action) -> String {
    travelled(&script(action).expect("renders"))
}

fn xmpp_route() -> Action {
    Action::SetXmppFederationRoute {
        site: "dublin".into(),
        edge: "edge2.contoso.com".into(),
    }
}

fn chat_active(servers: &[&str]) -> Action {
    Action::SetPersistentChatActiveServers {
        pool: "pchat.contoso.com".into(),
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn persistent_chat_cmdlets_act_only_on_the_pools_one_service_and_its_computers() {
    let set = script(&chat_active(&["pc3.contoso.com"])).expect("renders");
    let find = set
        .find("Get-CsService -PersistentChatServer")
        .expect("finds the service");
    let check = set
        .find("Get-CsComputer -Pool")
        .expect("checks the servers");
    let act = set
        .find("Set-CsPersistentChatActiveServer -Identity $chatIdentity")
        .expect("acts");
    assert!(find < check && check < act, "{set}");
    assert!(set.contains("-ActiveServers @('pc3.contoso.com')"), "{set}");
    let clear = script(&chat_active(&[])).expect("renders");
    assert!(clear.contains("-ActiveServers $null"), "{clear}");
    assert!(
        !clear.contains("Get-CsComputer"),
        "nothing to check: {clear}"
    );
    let state = script(&Action::SetPersistentChatState {
        pool: "pchat.contoso.com".into(),
        state: ChatState::Normal,
    })
    .expect("renders");
    assert!(
        state.contains("if ($chatState -ne 'Normal')"),
        "a pool already Normal is not set again: {state}"
    );
    for bad in ["pc3'; Remove-Item C:\\ -Recurse; '", "", "a b.contoso.com"] {
        assert!(
            matches!(script(&chat_active(&[bad])), Err(ScriptError::Value(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn the_xmpp_route_is_changed_only_after_its_site_and_edge_pool_are_found() {
    let c = command(&xmpp_route(), WhatIf::No).expect("renders");
    assert_eq!(c.cmdlet, "Set-CsSite");
    assert_eq!(
        c.checks,
        "$null = Get-CsSite -Identity 'dublin' -ErrorAction Stop\n\
         $null = Get-CsService -Identity 'EdgeServer:edge2.contoso.com' -ErrorAction Stop\n"
    );
    let lines: Vec<&str> = c.body.lines().collect();
    assert_eq!(
        lines[0],
        "Set-CsSite -Identity 'dublin' -XmppFederationRoute 'EdgeServer:edge2.contoso.com' -Confirm:$false -ErrorAction Stop"
    );
    // Every other site that names an XMPP route is pointed at the same pool, so they agree.
    let others: Vec<&&str> = lines[1..]
        .iter()
        .filter(|l| l.trim_start().starts_with("Set-CsSite"))
        .collect();
    assert_eq!(others.len(), 1, "{}", c.body);
    assert!(
        others[0].ends_with(
            "-XmppFederationRoute 'EdgeServer:edge2.contoso.com' -Confirm:$false -ErrorAction Stop"
        ),
        "{}",
        c.body
    );
    let w = command(&xmpp_route(), WhatIf::Yes).expect("renders");
    let set: Vec<&str> = w
        .body
        .lines()
        .filter(|l| l.contains("Set-CsSite"))
        .collect();
    assert!(set.iter().all(|l| l.ends_with(" -WhatIf")), "{}", w.body);
}

#[test]
fn a_persons_step_is_never_rendered_as_a_script() {
    for action in [
        Action::MoveSipFederationRoute {
            from: Some("edge1.contoso.com".into()),
            to: "edge2.contoso.com".into(),
        },
        Action::StopEdgeServices {
            edge: "edge2.contoso.com".into(),
        },
        Action::PublishXmppFederationRoute {
            edge: "edge2.contoso.com".into(),
        },
        Action::RecoverPersistentChatDatabase {
            pool: "pchat.contoso.com".into(),
        },
        Action::RestorePersistentChatDatabase {
            pool: "pchat.contoso.com".into(),
        },
    ] {
        assert!(
            matches!(script(&action), Err(ScriptError::Manual(_))),
            "{action:?}"
        );
    }
}

#[test]
fn site_names_reach_set_cssite_only_as_one_literal() {
    for site in ["", "a\nb", " dublin", "dublin\u{7}", &"x".repeat(257)] {
        let action = Action::SetXmppFederationRoute {
            site: site.to_owned(),
            edge: "edge2.contoso.com".into(),
        };
        assert!(
            matches!(script(&action), Err(ScriptError::Value(_))),
            "{site:?}"
        );
    }
    // Any other name is a site name SfB may have, and stays inside its quotes.
    let c = command(
        &Action::SetXmppFederationRoute {
            site: "Dublin (west)'; Remove-Item C:\\".into(),
            edge: "edge2.contoso.com".into(),
        },
        WhatIf::No,
    )
    .expect("renders");
    assert!(
        c.body
            .starts_with("Set-CsSite -Identity 'Dublin (west)''; Remove-Item C:\\' "),
        "{}",
        c.body
    );
}

fn pool(p: &str, mode: Mode, failover: bool) -> Action {
    if failover {
        Action::FailOverPool {
            pool: p.into(),
            mode,
        }
    } else {
        Action::FailBackPool {
            pool: p.into(),
            mode,
        }
    }
}

fn sql(mirror: bool) -> BackupSql {
    BackupSql {
        pool: "pool2.contoso.com".into(),
        sql_server_fqdn: "sql2.contoso.com".into(),
        sql_instance_name: Some("rtc".into()),
        mirror_sql_server_fqdn: mirror.then(|| "sql2m.contoso.com".into()),
        mirror_sql_instance_name: mirror.then(|| "rtc".into()),
    }
}

fn cms(mode: Mode, backup_sql: Option<BackupSql>) -> Action {
    Action::FailOverCms {
        to: "pool2.contoso.com".into(),
        mode,
        backup_sql: backup_sql.map(Box::new),
    }
}

/// A database failover of pool1 to its mirror, with its CMS database when `cms`.
fn database(cms: bool) -> Action {
    let mut databases = Vec::new();
    if cms {
        databases.push(DatabaseType::CentralMgmt);
    }
    databases.push(DatabaseType::User);
    Action::FailOverDatabase {
        pool: "pool1.contoso.com".into(),
        new_principal: MirrorRole::Mirror,
        databases,
    }
}

#[test]
fn a_database_failover_checks_both_servers_of_every_database_before_it_moves_any() {
    let c = command(&database(true), WhatIf::No).expect("renders");
    let checks: Vec<&str> = c.checks.lines().collect();
    for db in ["User", "CentralMgmt"] {
        assert!(
            checks.iter().any(|l| l.contains(&format!(
                "Get-CsDatabaseMirrorState -PoolFqdn 'pool1.contoso.com' -DatabaseType {db} -LocalStore -ErrorAction Stop"
            ))),
            "{}",
            c.checks
        );
    }
    assert!(
        c.checks.contains("$_.StateOnMirror"),
        "the new principal must answer"
    );
    assert!(
        c.checks
            .contains("[string]$_.StateOnPrimary -eq 'Principal'"),
        "a primary that answers as the principal again is left alone"
    );
    assert!(
        !c.checks.contains("Invoke-CsDatabaseFailover"),
        "checks only read"
    );
    let moves: Vec<&str> = c
        .body
        .lines()
        .filter(|l| l.contains("Invoke-CsDatabaseFailover"))
        .collect();
    assert_eq!(moves.len(), 2, "{}", c.body);
    assert!(
        c.body
            .starts_with("if ($databaseMoves -contains 'CentralMgmt') {\n"),
        "a database already moved is not moved again: {}",
        c.body
    );
    assert!(
        moves[1].contains("-DatabaseType User -NewPrincipal Mirror -LocalStore -Force"),
        "{}",
        moves[1]
    );
    // Every cmdlet reads the local replica: the store may be what is down.
    let c = command(&database(false), WhatIf::No).expect("renders");
    assert!(
        c.text()
            .lines()
            .filter(|l| l.contains("-CsDatabaseMirrorState -PoolFqdn")
                || l.contains("-CsDatabaseFailover -PoolFqdn"))
            .all(|l| l.contains("-LocalStore")),
        "{}",
        c.text()
    );
    // -WhatIf reaches it.
    let c = command(&database(false), WhatIf::Yes).expect("renders");
    assert!(
        c.body.contains(" -ErrorAction Stop -WhatIf\n"),
        "{}",
        c.body
    );
}

#[test]
fn a_database_failover_refuses_a_hostile_pool_name() {
    let action = Action::FailOverDatabase {
        pool: "pool1.contoso.com'; Remove-Item C:\\ -Recurse; '".into(),
        new_principal: MirrorRole::Mirror,
        databases: vec![DatabaseType::User],
    };
    assert!(command(&action, WhatIf::No).is_err());
}

#[test]
fn every_step_script_matches_its_golden() {
    let cases = [
        (
            "repoint_edge.ps1",
            Action::RepointEdge {
                edge: "edge1.contoso.com".into(),
                to: "pool2.contoso.com".into(),
            },
        ),
        (
            "failover_pool_graceful.ps1",
            pool("pool1.contoso.com", Mode::Graceful, true),
        ),
        (
            "failover_pool_disaster.ps1",
            pool("pool1.contoso.com", Mode::Disaster, true),
        ),
        (
            "failback_pool_graceful.ps1",
            pool("pool1.contoso.com", Mode::Graceful, false),
        ),
        (
            "failback_pool_disaster.ps1",
            pool("pool1.contoso.com", Mode::Disaster, false),
        ),
        ("failover_cms_graceful.ps1", cms(Mode::Graceful, None)),
        (
            "failover_cms_disaster.ps1",
            cms(Mode::Disaster, Some(sql(false))),
        ),
        (
            "failover_cms_disaster_mirror.ps1",
            cms(Mode::Disaster, Some(sql(true))),
        ),
        (
            "sync_backup_dataconf.ps1",
            Action::SyncBackup {
                pool: "pool2.contoso.com".into(),
                module: BackupModule::DataConf,
            },
        ),
        ("failover_database_user.ps1", database(false)),
        ("failover_database_user_and_cms.ps1", database(true)),
        ("set_xmpp_federation_route.ps1", xmpp_route()),
        (
            "set_persistent_chat_state_failed_over.ps1",
            Action::SetPersistentChatState {
                pool: "pchat.contoso.com".into(),
                state: ChatState::FailedOver,
            },
        ),
        (
            "set_persistent_chat_active_servers.ps1",
            chat_active(&["pc3.contoso.com", "pc4.contoso.com"]),
        ),
        ("clear_persistent_chat_active_servers.ps1", chat_active(&[])),
    ];
    for (name, action) in cases {
        golden(name, &wire(&action));
    }
}

#[test]
fn the_observe_script_matches_its_golden() {
    let script = observe_script();
    golden("observe.ps1", &travelled(&script));
}

/// The remote command line for an `-EncodedCommand` of `encoded`.
fn command_line(encoded: &str) -> usize {
    "powershell.exe -NoProfile -NonInteractive -EncodedCommand ".len() + encoded.len()
}

#[test]
fn a_script_too_long_for_the_command_line_travels_on_standard_input() {
    // Windows OpenSSH runs the remote command through cmd.exe: 8191 characters at most.
    let short = "Write-Output 1\n";
    assert_eq!(delivery(short), Delivery::EncodedCommand);
    assert!(command_line(&encode_command(short)) <= COMMAND_LINE_LIMIT);
    let mut scripts = vec![observe_script()];
    scripts.push(script(&cms(Mode::Disaster, Some(sql(true)))).expect("renders"));
    scripts.push(script(&pool("pool1.contoso.com", Mode::Graceful, true)).expect("renders"));
    for s in scripts {
        assert!(command_line(&encode_command(&s)) > COMMAND_LINE_LIMIT);
        assert_eq!(delivery(&s), Delivery::StandardInput);
        // What goes on the command line instead is the bootstrap, which fits.
        let bootstrap = stdin_bootstrap(s.encode_utf16().count());
        assert!(command_line(&encode_command(&bootstrap)) <= COMMAND_LINE_LIMIT);
    }
    // Exactly at the limit still fits; one character more does not.
    let prefix = command_line("");
    let fits = (COMMAND_LINE_LIMIT - prefix) / 4 * 3 / 2;
    let at_limit = "x".repeat(fits);
    assert_eq!(
        delivery(&at_limit),
        Delivery::EncodedCommand,
        "{}",
        command_line(&encode_command(&at_limit))
    );
    assert_eq!(delivery(&"x".repeat(fits + 2)), Delivery::StandardInput);
}

#[test]
fn the_bootstrap_runs_only_a_script_that_arrived_whole() {
    let s = script(&pool("pool1.contoso.com", Mode::Graceful, true)).expect("renders");
    let units = s.encode_utf16().count();
    let bootstrap = stdin_bootstrap(units);
    let lines: Vec<&str> = bootstrap.lines().collect();
    let check = lines
        .iter()
        .position(|l| l.contains(&format!("$sfbdrScript.Length -ne {units}")))
        .expect("a length check");
    let run = lines
        .iter()
        .position(|l| l.contains("[scriptblock]::Create($sfbdrScript)"))
        .expect("runs the script");
    assert!(check < run);
    assert!(lines[check].contains("exit 1") && lines[check].contains("\"acted\":false"));
    golden("stdin_bootstrap.ps1", &bootstrap);
}

#[test]
fn every_state_changing_cmdlet_stops_on_error_and_never_prompts() {
    for action in [
        xmpp_route(),
        database(true),
        pool("pool1.contoso.com", Mode::Graceful, true),
        pool("pool1.contoso.com", Mode::Disaster, false),
        cms(Mode::Disaster, Some(sql(true))),
        Action::RepointEdge {
            edge: "edge1.contoso.com".into(),
            to: "pool2.contoso.com".into(),
        },
    ] {
        let c = command(&action, WhatIf::No).expect("renders");
        let line = c
            .body
            .lines()
            .find(|l| l.trim_start().starts_with(c.cmdlet))
            .expect("the cmdlet's line");
        assert!(
            line.ends_with(" -Confirm:$false -ErrorAction Stop"),
            "{line}"
        );
    }
}

#[test]
fn what_if_reaches_every_state_changing_cmdlet_that_takes_it() {
    let c = command(&cms(Mode::Graceful, None), WhatIf::Yes).expect("renders");
    let failovers: Vec<&str> = c
        .body
        .lines()
        .filter(|l| l.contains("Invoke-CsManagementServerFailover"))
        .collect();
    assert_eq!(failovers.len(), 2, "here and through remoting");
    assert!(failovers.iter().all(|l| l.ends_with(" -WhatIf")));
    // Invoke-CsBackupServiceSync has no -WhatIf: a what-if runbook leaves it commented out.
    let sync = command(
        &Action::SyncBackup {
            pool: "pool2.contoso.com".into(),
            module: BackupModule::DataConf,
        },
        WhatIf::Yes,
    )
    .expect("renders");
    assert!(
        sync.body.lines().all(|l| l.starts_with('#')),
        "{}",
        sync.body
    );
}

#[test]
fn the_observe_script_asks_a_pool_down_nothing_and_survives_one_pools_failure() {
    let script = observe_script();
    let lines: Vec<&str> = script.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}"))
    };
    // The probe comes first, and a pool no Front End answers is not asked for its status.
    let asked = at("if (($probe -contains $true) -or $probe.Count -eq 0)");
    assert!(at("$probe = @(Get-SfbDrProbe") < asked);
    assert!(asked < at("Get-CsBackupServiceStatus -PoolFqdn"));
    // Nor for its Back End, which needs a Front End that answers.
    let back_end = at("Get-CsUserDatabaseState -RegistrarPool $fqdn");
    assert!(lines[back_end - 2].starts_with("if ($probe -contains $true)"));
    // The relation is read inside its own try, whose catch records that pool's error.
    let relation = at("Get-CsPoolBackupRelationship -PoolFqdn");
    assert_eq!(lines[relation - 1], "try {");
    assert!(lines[relation + 2].starts_with("} catch { $relationError = "));
}

#[test]
fn every_script_runs_in_strict_mode_and_prints_its_error() {
    let mut scripts = vec![observe_script()];
    scripts.push(script(&cms(Mode::Disaster, Some(sql(true)))).expect("renders"));
    for s in scripts {
        assert!(s.starts_with("Set-StrictMode -Version Latest\n"), "{s}");
        // Under strict mode `.Name` of a null MyCommand (a `throw`) would fail inside the catch.
        assert!(s.contains("if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand)"));
    }
}

#[test]
fn a_mirror_instance_without_its_server_is_an_error_not_no_mirror() {
    let only_instance = BackupSql {
        mirror_sql_server_fqdn: None,
        ..sql(true)
    };
    match script(&cms(Mode::Disaster, Some(only_instance))) {
        Err(e @ ScriptError::HalfMirror { .. }) => {
            let m = e.to_string();
            assert!(
                m.contains("pool2.contoso.com") && m.contains("not the server"),
                "{m}"
            );
        }
        other => panic!("expected HalfMirror, got {other:?}"),
    }
}

#[test]
fn a_backup_sql_on_a_default_instance_leaves_the_instance_parameters_out() {
    // Microsoft's -BackupSqlInstanceName is optional: without it the cmdlet uses the server's
    // default instance, which Get-CsService reports with an empty SqlInstanceName.
    let default = BackupSql {
        sql_instance_name: None,
        mirror_sql_instance_name: None,
        ..sql(true)
    };
    let s = script(&cms(Mode::Disaster, Some(default))).expect("renders");
    assert!(!s.contains("InstanceName ="), "{s}");
    assert!(
        s.contains("BackupSqlServerFqdn = 'sql2.contoso.com'"),
        "{s}"
    );
    assert!(s.contains("BackupMirrorSqlServerFqdn = "), "{s}");
    assert!(
        s.contains("$_.Server -eq 'sql2.contoso.com' -and $_.Instance -eq ''"),
        "the topology check compares the default instance as Get-CsService reports it: {s}"
    );
}

#[test]
fn a_cms_failover_over_remoting_tries_each_computer_but_runs_once() {
    let c = command(&cms(Mode::Graceful, None), WhatIf::No).expect("renders");
    let text = c.text();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let each = lines
        .iter()
        .find(|l| l.starts_with("foreach ($computer in $receiving)"))
        .expect("a loop over the pool's computers");
    // Only opening a session moves on to the next computer: the failover is never retried.
    assert!(
        each.contains("New-PSSession -ComputerName $computer") && each.contains("break"),
        "{each}"
    );
    assert!(!each.contains("Invoke-"), "{each}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("Invoke-Command -Session $session")));
    assert!(!text.contains("$receiving[0]"), "{text}");
    // Opening the session is a check; the failover itself is the body.
    assert!(c.checks.contains("New-PSSession") && !c.body.contains("New-PSSession"));
    let none = lines
        .iter()
        .find(|l| l.contains("accepted PowerShell remoting"))
        .expect("an error when no computer accepts");
    assert!(
        none.starts_with("if ($null -eq $session) { throw")
            && none.contains("'pool2.contoso.com'")
            && none.contains("$tried -join"),
        "{none}"
    );
}

#[test]
fn disaster_mode_cms_failover_without_backup_sql_is_not_rendered() {
    assert_eq!(
        script(&cms(Mode::Disaster, None)),
        Err(ScriptError::MissingBackupSql {
            to: "pool2.contoso.com".into()
        })
    );
}

/// Values that would end a literal, run a command or look like a pool name without being one.
const HOSTILE: [&str; 18] = [
    "pool1.contoso.com'; Remove-CsPool -Identity x; '",
    "pool1.contoso.com;calc",
    "$(Invoke-Expression bad).contoso.com",
    "pool1.contoso.com`nStop-Computer",
    "pool1.contoso.com\nStop-Computer",
    "pool1.contoso.com\r\n",
    "p\u{043e}ol1.contoso.com", // Cyrillic о
    "pool1.contoso.com\u{2019}; Stop-Computer; \u{2019}",
    "pool1.contoso.com\u{2018}",
    "pool1.contoso.com\u{201A}; Stop-Computer; \u{201A}", // single low-9 quote
    "pool1.contoso.com\u{201B}",                          // single high-reversed-9 quote
    "pool1.contoso.com\0Stop-Computer",
    "pool1.contoso.com\u{2028}Stop-Computer", // line separator
    "-DisasterMode.contoso.com",
    "pool1 .contoso.com",
    "pool1",
    "",
    "pool1.contoso.com\"",
];

#[test]
fn hostile_pool_names_are_rejected_before_rendering() {
    for bad in HOSTILE {
        for action in [
            pool(bad, Mode::Graceful, true),
            pool(bad, Mode::Disaster, false),
            Action::RepointEdge {
                edge: bad.into(),
                to: "pool2.contoso.com".into(),
            },
            Action::RepointEdge {
                edge: "edge1.contoso.com".into(),
                to: bad.into(),
            },
            Action::SyncBackup {
                pool: bad.into(),
                module: BackupModule::DataConf,
            },
            Action::FailOverCms {
                to: bad.into(),
                mode: Mode::Graceful,
                backup_sql: None,
            },
        ] {
            match script(&action) {
                Err(ScriptError::Value(e)) => {
                    // The message stays one printable line, whatever the value held.
                    let shown = e.to_string();
                    assert!(
                        !shown.chars().any(|c| c.is_control()
                            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{201A}' | '\u{201B}')),
                        "{shown:?}"
                    );
                }
                other => panic!("{bad:?} in {action:?} was not rejected: {other:?}"),
            }
        }
    }
}

#[test]
fn hostile_sql_values_are_rejected_before_rendering() {
    let with = |server: &str, instance: &str| {
        cms(
            Mode::Disaster,
            Some(BackupSql {
                sql_server_fqdn: server.into(),
                sql_instance_name: Some(instance.into()),
                ..sql(false)
            }),
        )
    };
    for bad in HOSTILE {
        assert!(script(&with(bad, "rtc")).is_err(), "{bad:?}");
    }
    for bad in [
        "rtc'; drop",
        "rtc;",
        "$(x)",
        "rtc`",
        "rtc\n",
        "rt\u{0441}",
        "rtc\u{2019}",
        "",
        "r".repeat(17).as_str(),
    ] {
        assert!(script(&with("sql2.contoso.com", bad)).is_err(), "{bad:?}");
    }
    // `$` and `#` are legal in instance names, and inert in a single-quoted literal.
    assert!(SqlInstance::parse("rtc$1#").is_ok());
    let rendered = script(&with("sql2.contoso.com", "rtc$1#")).expect("renders");
    assert!(
        rendered.contains("BackupSqlInstanceName = 'rtc$1#'"),
        "{rendered}"
    );
}

#[test]
fn quoting_keeps_any_text_inside_one_literal() {
    for text in HOSTILE {
        let quoted = quote(text);
        // Inside the outer quotes, every quote character comes in pairs: none ends the literal.
        let inner: Vec<char> = quoted.chars().skip(1).collect();
        let inner = &inner[..inner.len() - 1];
        let quotes = ['\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}'];
        let mut i = 0;
        while i < inner.len() {
            if quotes.contains(&inner[i]) {
                assert_eq!(inner.get(i + 1), Some(&inner[i]), "{quoted}");
                i += 2;
            } else {
                i += 1;
            }
        }
        assert!(quoted.starts_with('\'') && quoted.ends_with('\''));
    }
    assert_eq!(quote("it's"), "'it''s'");
    assert_eq!(quote("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
    assert_eq!(quote("a\u{201A}b"), "'a\u{201A}\u{201A}b'");
    assert_eq!(quote("a\u{201B}b"), "'a\u{201B}\u{201B}b'");
}

#[test]
fn fqdns_follow_rfc_1123_and_compare_lowercase() {
    assert_eq!(
        Fqdn::parse("pool FQDN", "Pool1.Contoso.com")
            .expect("valid")
            .as_str(),
        "pool1.contoso.com"
    );
    for ok in ["a.b", "pool-1.contoso.com", "1pool.contoso.com"] {
        assert!(Fqdn::parse("pool FQDN", ok).is_ok(), "{ok}");
    }
    let long_label = format!("{}.contoso.com", "a".repeat(64));
    for bad in [
        long_label.as_str(),
        "pool-.contoso.com",
        "pool..contoso.com",
        "pool.contoso.com.",
        "pool_1.contoso.com",
    ] {
        assert!(Fqdn::parse("pool FQDN", bad).is_err(), "{bad}");
    }
}

/// The lines of the disaster-mode CMS recovery into pool2 with `backup`.
fn cms_recovery(backup: BackupSql) -> (Vec<String>, String) {
    let s = script(&cms(Mode::Disaster, Some(backup))).expect("renders");
    (s.lines().map(str::to_owned).collect(), s)
}

fn line_at(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle}"))
}

#[test]
fn a_disaster_cms_recovery_refuses_a_backup_sql_the_topology_does_not_name() {
    let (lines, _) = cms_recovery(sql(false));
    let stores = line_at(&lines, "Get-CsService -CentralManagementDatabase");
    let check = &lines[stores + 1];
    // The declared server and instance must be the one CMS database the topology names in the
    // receiving pool's site; anything else throws, naming what the topology does name.
    assert!(
        check.contains("$_.Server -eq 'sql2.contoso.com' -and $_.Instance -eq 'rtc' -and $_.Site -eq [string]$receivingPool.Site")
            && check.contains(".Count -ne 1) { throw (")
            && check.contains("The topology names: "),
        "{check}"
    );
    // Before anything changes: the check throws before the cmdlet may run.
    assert!(stores < line_at(&lines, "$sfbdrActed = $true"));
    assert!(
        stores
            > line_at(
                &lines,
                "$receivingPool = Get-CsPool -Identity 'pool2.contoso.com'"
            )
    );
}

#[test]
fn the_principal_of_a_mirrored_back_end_is_chosen_at_run_time() {
    let (lines, _) = cms_recovery(sql(true));
    let state = line_at(
        &lines,
        "Get-CsDatabaseMirrorState -DatabaseType CentralMgmt -PoolFqdn 'pool2.contoso.com'",
    );
    let primary = line_at(&lines, "if ($primaryLeads) {");
    let mirror = line_at(&lines, "elseif ($mirrorLeads) {");
    assert!(state < primary && primary < mirror);
    // The principal is named as the backup SQL Server, the other as its mirror.
    assert!(lines[primary].contains(
        "BackupSqlServerFqdn = 'sql2.contoso.com'; BackupSqlInstanceName = 'rtc'; BackupMirrorSqlServerFqdn = 'sql2m.contoso.com'"
    ));
    assert!(lines[mirror].contains(
        "BackupSqlServerFqdn = 'sql2m.contoso.com'; BackupSqlInstanceName = 'rtc'; BackupMirrorSqlServerFqdn = 'sql2.contoso.com'"
    ));
    // Neither reported principal: no guess.
    assert!(lines[mirror + 1].starts_with("else { throw ("));
    assert!(mirror < line_at(&lines, "$sfbdrActed = $true"));
    // The cmdlet takes what was chosen, here and over remoting.
    let calls: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("Invoke-CsManagementServerFailover"))
        .collect();
    assert_eq!(calls.len(), 2);
    assert!(calls
        .iter()
        .all(|l| l.starts_with("Invoke-CsManagementServerFailover @cmsFailover -Force ")));
    // Without a declared mirror, a mirror that is now the principal is refused, not ignored.
    let (lines, _) = cms_recovery(sql(false));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("if ($mirrorLeads) { throw ")));
    assert!(lines.iter().any(|l| l
        == "$cmsFailover = @{ BackupSqlServerFqdn = 'sql2.contoso.com'; BackupSqlInstanceName = 'rtc' }"));
}

#[test]
fn response_group_data_is_synced_by_its_module_names() {
    for (module, name) in [
        (BackupModule::RgsDataStore, "ApplicationServer.RGSDataStore"),
        (BackupModule::RgsFileStore, "ApplicationServer.RGSFileStore"),
    ] {
        let c = command(
            &Action::SyncBackup {
                pool: "pool1.contoso.com".into(),
                module,
            },
            WhatIf::No,
        )
        .expect("renders");
        assert_eq!(
            c.body,
            format!("Invoke-CsBackupServiceSync -PoolFqdn 'pool1.contoso.com' -BackupModule '{name}' -ErrorAction Stop\n")
        );
    }
}

/// Every script a plan can produce: each kind of step in each mode, and the observation. (The
/// runbook is these same steps after the same prelude; `powershell_grammar` parses it whole.)
fn every_script() -> Vec<String> {
    let mut all = vec![observe_script()];
    for action in [
        database(false),
        database(true),
        cms(Mode::Disaster, Some(sql(false))),
        cms(Mode::Disaster, Some(sql(true))),
        cms(Mode::Graceful, None),
        pool("pool1.contoso.com", Mode::Disaster, true),
        pool("pool1.contoso.com", Mode::Graceful, false),
        Action::RepointEdge {
            edge: "edge1.contoso.com".into(),
            to: "pool2.contoso.com".into(),
        },
        Action::SyncBackup {
            pool: "pool1.contoso.com".into(),
            module: BackupModule::RgsDataStore,
        },
        xmpp_route(),
    ] {
        all.push(script(&action).expect("renders"));
    }
    all
}

#[test]
fn no_script_judges_a_server_alive_by_ping() {
    // Many Windows servers drop ICMP echo: a live server taken for dead could be forced over.
    for s in every_script() {
        assert!(!s.contains("Test-Connection"), "{s}");
        assert!(!s.contains("Ping"), "{s}");
        assert!(
            s.contains("ConnectAsync($c, $Port).Wait(2000)"),
            "every script carries the TCP probe: {s}"
        );
    }
}

#[test]
fn a_disaster_cms_recovery_goes_on_only_when_the_cms_names_no_master() {
    // The planner saw the master lost; it may be back by the time the step runs, and -Force
    // would then discard the changes not yet replicated.
    let s = script(&cms(Mode::Disaster, Some(sql(false)))).expect("renders");
    let lines: Vec<&str> = s.lines().map(str::trim).collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} in {s}"))
    };
    let cmdlet = at("Invoke-CsManagementServerFailover @cmsFailover -Force");
    // A status that cannot be read stops the step: it is never taken for "no master".
    let read = at("Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus");
    assert!(
        lines[read].contains("catch { throw ("),
        "a failed status read must fail closed: {}",
        lines[read]
    );
    assert!(lines[read + 1].starts_with("if ($null -eq $cmsNow) { throw ("));
    // A named master that answers on the SIP port is live: the step stops.
    let named = at("if ($masterNow) {");
    assert_eq!(
        lines[named + 1],
        "if (@(Get-SfbDrProbe @($masterNow) 5061) -contains $true) { throw ({live} + $masterNow + {live_tail}) }"
            .replace("{live}", &quote("Invoke-CsManagementServerFailover -Force is for a lost CMS master, but the master's computer answers on its SIP port 5061: "))
            .replace("{live_tail}", &quote(": forcing the CMS over would discard the changes not yet replicated. Nothing was changed; observe and plan again."))
    );
    // Silent, it is lost only if the CMS's own status agrees (its replica list read, failing
    // closed); a CMS that reports agents and every replica up to date disagrees: the step stops.
    assert!(
        lines[named + 2].starts_with("try { $replicasNow = @(Get-CsManagementStoreReplicationStatus -ErrorAction Stop) } catch { throw ("),
        "{}",
        lines[named + 2]
    );
    assert!(
        lines[named + 4].starts_with("if ($agentsNow.Count -gt 0 -and @($replicasNow | Where-Object { -not $_.UpToDate }).Count -eq 0) { throw ("),
        "{}",
        lines[named + 4]
    );
    assert!(
        lines[named + 4].contains("disagree"),
        "{}",
        lines[named + 4]
    );
    assert_eq!(lines[named + 5], "}");
    assert!(read < named && named < cmdlet, "{s}");
    // No other empty catch sits between the status read and the cmdlet.
    for l in &lines[read..cmdlet] {
        assert!(
            !l.contains("catch { }") || l.contains("$client.ConnectAsync"),
            "a swallowed error before -Force: {l}"
        );
    }
    // A graceful move has no such check.
    let graceful = script(&cms(Mode::Graceful, None)).expect("renders");
    assert!(!graceful.contains("$masterNow"), "{graceful}");
}

#[test]
fn the_console_encoding_cannot_stop_a_script_where_there_is_no_console() {
    // Windows PowerShell throws "The handle is invalid" there (ISE, some remote hosts).
    for s in every_script() {
        let line = s
            .lines()
            .find(|l| l.contains("[Console]::OutputEncoding"))
            .expect("sets the encoding");
        assert_eq!(
            line.trim(),
            "try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }",
            "{s}"
        );
    }
}
