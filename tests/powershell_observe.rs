//! Reading the observe script's report (cmdlet field names: `BackupModules[*].ExportStatus`,
//! `ActiveMasterFqdn`, `UpToDate`, ...) into the observed topology, and the clear errors for
//! empty, truncated, malformed and self-contradicting output.

use serde_json::{json, Value};
use sfb_dr::driver::powershell::observe::parse_observation;
use sfb_dr::driver::DriverError;
use sfb_dr::model::*;

const HOST: &str = "mgmt.contoso.com";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/powershell/{name}")).expect("fixture")
}

/// The healthy pool1/pool2 report as a JSON value, to vary one fact at a time.
fn report() -> Value {
    let text = fixture("observe_pool1_pool2.txt");
    let line = text.lines().last().expect("a result line");
    serde_json::from_str(line).expect("the fixture is JSON")
}

fn observe(report: &Value) -> Result<ObservedTopology, DriverError> {
    parse_observation(HOST, &report.to_string())
}

fn pool<'a>(t: &'a ObservedTopology, fqdn: &str) -> &'a ObservedPool {
    t.pools.iter().find(|p| p.fqdn == fqdn).expect("pool")
}

fn bad_output(result: Result<ObservedTopology, DriverError>) -> String {
    match result {
        Err(DriverError::BadOutput(m)) => {
            assert!(m.starts_with(HOST), "names the host: {m}");
            m
        }
        other => panic!("expected BadOutput, got {other:?}"),
    }
}

#[test]
fn a_healthy_report_becomes_the_observed_topology() {
    let t = parse_observation(HOST, &fixture("observe_pool1_pool2.txt")).expect("parses");
    assert_eq!(t.sites, vec!["redmond", "dublin"]);
    let p1 = pool(&t, "pool1.contoso.com");
    assert_eq!(
        (p1.site.as_str(), p1.edition, p1.health),
        ("redmond", Edition::Enterprise, Health::Up)
    );
    assert_eq!(p1.backup_pool.as_deref(), Some("pool2.contoso.com"));
    assert_eq!(p1.served_by, None, "SfB cannot tell who serves a pool");
    assert_eq!(
        t.backup,
        vec![
            BackupDirection {
                from: "pool1.contoso.com".into(),
                to: "pool2.contoso.com".into(),
                export_state: ExportState::SteadyState,
                import_state: ImportState::NormalState,
                last_sync_age_seconds: None,
            },
            BackupDirection {
                from: "pool2.contoso.com".into(),
                to: "pool1.contoso.com".into(),
                export_state: ExportState::SteadyState,
                import_state: ImportState::NormalState,
                last_sync_age_seconds: None,
            },
        ]
    );
    assert_eq!(
        t.cms,
        CmsState {
            active_master: Some("pool1.contoso.com".into()),
            replicas_up_to_date: true,
            pool: Some("pool1.contoso.com".into()),
        }
    );
    assert_eq!(p1.back_end, Some(Health::Up));
    let edges: Vec<(&str, &str)> = t
        .edges
        .iter()
        .map(|e| (e.fqdn.as_str(), e.next_hop.as_str()))
        .collect();
    assert_eq!(
        edges,
        vec![
            ("edge1.contoso.com", "pool1.contoso.com"),
            ("edge2.contoso.com", "pool2.contoso.com")
        ],
        "an Edge whose next hop is a Director is left out"
    );
    ObservedIndex::new(t).expect("consistent");
}

#[test]
fn the_cms_master_is_the_pool_that_lists_the_master_computer() {
    let mut r = report();
    r["Cms"]["ActiveMasterFqdn"] = json!("FE2B.contoso.com");
    let t = observe(&r).expect("parses");
    assert_eq!(t.cms.active_master.as_deref(), Some("pool2.contoso.com"));
    r["Cms"]["ActiveMasterFqdn"] = json!("sql9.contoso.com");
    let m = bad_output(observe(&r));
    assert!(m.contains("sql9.contoso.com"), "{m}");
}

#[test]
fn a_blank_master_or_no_file_transfer_agent_means_the_cms_is_unavailable() {
    for (field, value) in [
        ("ActiveMasterFqdn", json!("")),
        ("ActiveMasterFqdn", Value::Null),
        ("ActiveFileTransferAgents", Value::Null),
        ("ActiveFileTransferAgents", json!([])),
    ] {
        let mut r = report();
        r["Cms"][field] = value;
        assert_eq!(
            observe(&r).expect("parses").cms.active_master,
            None,
            "{field}"
        );
    }
}

#[test]
fn an_unreadable_cms_status_is_an_error_not_a_lost_master() {
    // Taken for "master lost", it would let a forced recovery run over a live master.
    let mut r = report();
    r["Cms"] = Value::Null;
    r["CmsError"] = json!("Cannot open database \"xds\"");
    let m = bad_output(observe(&r));
    assert!(m.contains("Cannot open database"), "{m}");
    assert!(
        m.contains("whether the CMS master is up cannot be told"),
        "{m}"
    );
    r["CmsError"] = Value::Null;
    let m = bad_output(observe(&r));
    assert!(m.contains("it returned nothing"), "{m}");
}

#[test]
fn replicas_on_a_pool_that_is_down_do_not_unsettle_the_cms() {
    let mut r = report();
    r["Replicas"][2]["UpToDate"] = json!(false); // fe2a, in pool2
    assert!(!observe(&r).expect("parses").cms.replicas_up_to_date);
    r["Pools"][1]["Probe"] = json!([false, false, false]);
    r["Pools"][1]["BackupModules"] = Value::Null;
    r["Pools"][1]["UserDatabases"] = Value::Null;
    let t = observe(&r).expect("parses");
    assert_eq!(pool(&t, "pool2.contoso.com").health, Health::Down);
    assert!(t.cms.replicas_up_to_date);
}

/// A pool of `total` Front Ends whose servers at `up` (0-based, topology order) answer.
fn probe(total: usize, up: &[usize]) -> (Value, Value) {
    let computers: Vec<String> = (0..total).map(|i| format!("fe1-{i}.contoso.com")).collect();
    let answers: Vec<bool> = (0..total).map(|i| up.contains(&i)).collect();
    (json!(computers), json!(answers))
}

fn pool1_health(total: usize, up: &[usize]) -> Health {
    let mut r = report();
    let (computers, answers) = probe(total, up);
    r["Pools"][0]["Computers"] = computers;
    r["Pools"][0]["Probe"] = answers;
    // The fixture's master is a pool1 computer; these pools have others.
    r["Cms"]["ActiveMasterFqdn"] = json!("fe2a.contoso.com");
    pool(&observe(&r).expect("parses"), "pool1.contoso.com").health
}

#[test]
fn pool_health_follows_microsofts_front_end_quorum_table() {
    // Front Ends -> how many must run (among the first n for 8 and more).
    let first = |n: usize| (0..n).collect::<Vec<_>>();
    for (total, quorum) in [(2, 1), (3, 2), (4, 2), (5, 3), (6, 3), (7, 4)] {
        assert_eq!(
            pool1_health(total, &first(quorum)),
            Health::Up,
            "{total}: {quorum} up"
        );
        assert_eq!(
            pool1_health(total, &first(quorum - 1)),
            Health::Down,
            "{total}: {} up",
            quorum - 1
        );
        // Which servers run does not matter below 8.
        let last: Vec<usize> = (total - quorum..total).collect();
        assert_eq!(
            pool1_health(total, &last),
            Health::Up,
            "{total}: the last {quorum} up"
        );
    }
    for (total, quorum, among) in [
        (8, 4, 7),
        (9, 4, 7),
        (10, 5, 9),
        (11, 5, 9),
        // Skype for Business Server 2019 pools of up to 16.
        (13, 7, 12),
        (16, 7, 12),
    ] {
        assert_eq!(pool1_health(total, &first(quorum)), Health::Up, "{total}");
        assert_eq!(
            pool1_health(total, &first(quorum - 1)),
            Health::Down,
            "{total}"
        );
        // Servers beyond the first `among` do not count towards the quorum.
        let mut up: Vec<usize> = (0..quorum - 1).collect();
        up.extend(among..total);
        assert_eq!(pool1_health(total, &up), Health::Down, "{total}: {up:?}");
        up.push(among - 1);
        assert_eq!(pool1_health(total, &up), Health::Up, "{total}: {up:?}");
    }
    // Twelve falls under "5 of the first 9" (2015) and "7 of the first 12" (2019): Up when both
    // are met, Down when neither is, Unknown in between, since the version is not observed.
    assert_eq!(pool1_health(12, &first(7)), Health::Up);
    assert_eq!(pool1_health(12, &first(5)), Health::Unknown);
    assert_eq!(pool1_health(12, &first(4)), Health::Down);
    // The order of the servers is Get-CsComputer's; without it a large pool cannot be judged.
    let mut r = report();
    let (computers, answers) = probe(8, &first(8));
    r["Pools"][0]["Computers"] = computers;
    r["Pools"][0]["Probe"] = answers;
    r["Pools"][0]["ComputerError"] = json!("Get-CsComputer: access denied");
    r["Cms"]["ActiveMasterFqdn"] = json!("fe2a.contoso.com");
    assert_eq!(
        pool(&observe(&r).expect("parses"), "pool1.contoso.com").health,
        Health::Unknown
    );
    r["Pools"][0]["ComputerError"] = Value::Null;
    assert_eq!(
        pool(&observe(&r).expect("parses"), "pool1.contoso.com").health,
        Health::Up
    );
    // One server (Standard Edition) needs itself; no rule for none or more than sixteen.
    assert_eq!(pool1_health(1, &[0]), Health::Up);
    assert_eq!(pool1_health(1, &[]), Health::Down);
    assert_eq!(pool1_health(0, &[]), Health::Unknown);
    assert_eq!(pool1_health(17, &first(17)), Health::Unknown);
}

#[test]
fn hostile_probe_values_are_refused_without_overflow() {
    for probe in [
        json!({"Total": u32::MAX, "Answered": u32::MAX}),
        json!([1, 2, 3]),
        json!([true, true]),
        json!([true, true, true, true]),
    ] {
        let mut r = report();
        r["Pools"][0]["Probe"] = probe.clone();
        let m = bad_output(observe(&r));
        assert!(m.contains("Probe") || m.contains("answers"), "{probe}: {m}");
    }
    // A list of thousands of answers costs a count, not arithmetic.
    let mut r = report();
    let (computers, answers) = probe(100_000, &[0]);
    r["Pools"][0]["Computers"] = computers;
    r["Pools"][0]["Probe"] = answers;
    r["Cms"]["ActiveMasterFqdn"] = json!("fe2a.contoso.com");
    assert_eq!(
        pool(&observe(&r).expect("parses"), "pool1.contoso.com").health,
        Health::Unknown
    );
}

#[test]
fn a_standard_edition_pool_is_its_one_server() {
    let mut r = report();
    for i in 0..2 {
        let fqdn = r["Pools"][i]["Fqdn"].clone();
        r["Pools"][i]["Computers"] = fqdn;
        r["Pools"][i]["Probe"] = json!([true]);
    }
    r["Cms"]["ActiveMasterFqdn"] = json!("pool1.contoso.com");
    let t = observe(&r).expect("parses");
    assert!(t.pools.iter().all(|p| p.edition == Edition::Standard));
}

#[test]
fn the_worst_backup_module_sets_the_direction_state() {
    let mut r = report();
    r["Pools"][0]["BackupModules"][1]["ExportStatus"] = json!("NonSteadyState");
    r["Pools"][0]["BackupModules"][2]["ImportStatus"] = json!("ErrorState");
    let t = observe(&r).expect("parses");
    let d = &t.backup[0];
    assert_eq!(
        (d.export_state, d.import_state),
        (ExportState::NonSteadyState, ImportState::ErrorState)
    );
    // Every module in FinalState: nothing left to send.
    let mut r = report();
    for m in r["Pools"][0]["BackupModules"]
        .as_array_mut()
        .expect("modules")
    {
        m["ExportStatus"] = json!("FinalState");
    }
    assert_eq!(
        observe(&r).expect("parses").backup[0].export_state,
        ExportState::FinalState
    );
}

#[test]
fn an_unreadable_backup_status_on_a_live_pool_counts_as_an_error() {
    let mut r = report();
    r["Pools"][0]["BackupModules"] = Value::Null;
    r["Pools"][0]["BackupStatusError"] = json!("The Backup Service is not running.");
    let t = observe(&r).expect("parses");
    assert_eq!(t.backup[0].export_state, ExportState::ErrorState);
    assert!(t.backup[0].is_error());
}

#[test]
fn one_pools_unreadable_pairing_marks_that_pool_not_the_observation() {
    let mut r = report();
    r["Pools"][0]["BackupPoolFqdn"] = json!("");
    r["Pools"][0]["RelationError"] = json!("Cannot connect to the Central Management Store.");
    let t = observe(&r).expect("the rest of the deployment is still observed");
    let p1 = pool(&t, "pool1.contoso.com");
    assert_eq!(
        p1.health,
        Health::Unknown,
        "the planner acts on no Unknown pool"
    );
    // Pairings are mutual: pool2 still names pool1, so the pair stays whole.
    assert_eq!(p1.backup_pool.as_deref(), Some("pool2.contoso.com"));
    let p2 = pool(&t, "pool2.contoso.com");
    assert_eq!(
        (p2.health, p2.backup_pool.as_deref()),
        (Health::Up, Some("pool1.contoso.com"))
    );
    assert_eq!(t.backup.len(), 2, "{:?}", t.backup);
}

#[test]
fn a_pool_whose_front_ends_are_all_down_is_not_asked_for_its_backup_status() {
    let mut r = report();
    r["Pools"][0]["Probe"] = json!([false, false, false]);
    r["Pools"][0]["BackupModules"] = Value::Null;
    r["Pools"][0]["BackupStatusError"] = Value::Null;
    r["Pools"][0]["UserDatabases"] = Value::Null;
    let t = observe(&r).expect("parses");
    assert_eq!(pool(&t, "pool1.contoso.com").health, Health::Down);
    assert_eq!(
        pool(&t, "pool1.contoso.com").back_end,
        None,
        "not asked either"
    );
    assert!(
        t.backup.iter().all(|d| d.from != "pool1.contoso.com"),
        "{:?}",
        t.backup
    );
}

#[test]
fn an_unknown_backup_state_is_named() {
    let mut r = report();
    r["Pools"][1]["BackupModules"][0]["ExportStatus"] = json!("Exporting");
    let m = bad_output(observe(&r));
    assert!(
        m.contains("pool2.contoso.com")
            && m.contains("UserServices.PresenceFocus")
            && m.contains("Exporting"),
        "{m}"
    );
}

#[test]
fn empty_output_is_a_clear_error() {
    for stdout in ["", "\n\r\n  \n"] {
        let m = bad_output(parse_observation(HOST, stdout));
        assert!(m.contains("printed nothing"), "{m}");
    }
    let m = bad_output(parse_observation(HOST, "WARNING: something\n"));
    assert!(
        m.contains("no JSON result line") && m.contains("WARNING: something"),
        "{m}"
    );
}

#[test]
fn truncated_output_is_a_clear_error() {
    let text = report().to_string();
    let m = bad_output(parse_observation(HOST, &text[..text.len() / 2]));
    assert!(m.contains("cut short"), "{m}");
}

#[test]
fn malformed_output_is_a_clear_error() {
    let m = bad_output(parse_observation(HOST, "{\"Pools\": [}"));
    assert!(m.contains("not valid JSON"), "{m}");
}

#[test]
fn a_report_missing_a_field_names_the_field() {
    let mut r = report();
    r["Pools"][0].as_object_mut().expect("pool").remove("Probe");
    let m = bad_output(observe(&r));
    assert!(m.contains("Pools") && m.contains("Probe"), "{m}");
    let m = bad_output(observe(&json!({"Cms": null})));
    assert!(m.contains("Pools"), "{m}");
}

#[test]
fn a_report_that_contradicts_itself_is_refused() {
    let mut r = report();
    r["Pools"][1]["BackupPoolFqdn"] = json!("");
    let m = bad_output(observe(&r));
    assert!(
        m.contains("contradicts itself") && m.contains("mutual"),
        "{m}"
    );
}

#[test]
fn a_cmdlet_error_while_observing_reports_the_cmdlets_message() {
    match parse_observation(HOST, &fixture("observe_cms_unreachable.txt")) {
        Err(DriverError::Unreachable(m)) => {
            assert!(
                m.contains(HOST) && m.contains("Cannot open database"),
                "{m}"
            )
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[test]
fn powershell_unrolled_lists_are_read_as_lists() {
    let mut r = report();
    let only = r["Pools"][0]["BackupModules"][0].clone();
    r["Pools"][0]["BackupModules"] = only;
    r["Replicas"] = r["Replicas"][0].clone();
    r["Edges"] = Value::Null;
    // Windows PowerShell 5.1 prints an array it holds wrapped as {"value": [...], "Count": n}.
    let computers = r["Pools"][1]["Computers"].clone();
    r["Pools"][1]["Computers"] = json!({"value": computers, "Count": 3});
    r["Pools"][1]["Probe"] = json!({"value": [true, true, false], "Count": 3});
    let t = observe(&r).expect("parses");
    assert_eq!(t.backup[0].export_state, ExportState::SteadyState);
    assert!(t.edges.is_empty());
    assert_eq!(pool(&t, "pool2.contoso.com").health, Health::Up);
}

#[test]
fn a_byte_order_mark_before_the_result_is_ignored() {
    let text = format!("\u{feff}{}\r\n", report());
    assert!(parse_observation(HOST, &text).is_ok());
}

#[test]
fn the_back_end_is_judged_from_what_sfb_says_of_its_user_databases() {
    for (databases, error, back_end) in [
        (json!([{"Online": "True"}]), Value::Null, Some(Health::Up)),
        (
            json!([{"Online": "True"}, {"Online": "true"}]),
            Value::Null,
            Some(Health::Up),
        ),
        (json!({"Online": "False"}), Value::Null, Some(Health::Down)),
        (
            json!([{"Online": "True"}, {"Online": "False"}]),
            Value::Null,
            Some(Health::Unknown),
        ),
        (json!([]), Value::Null, Some(Health::Unknown)),
        // An error reading the databases is not taken for a dead Back End: Down would choose
        // a disaster-mode, data-losing failover.
        (
            Value::Null,
            json!("Cannot open database \"rtcxds\"."),
            Some(Health::Unknown),
        ),
        // Not asked (no Front End answered): not observed.
        (Value::Null, Value::Null, None),
    ] {
        let mut r = report();
        r["Pools"][0]["UserDatabases"] = databases.clone();
        r["Pools"][0]["BackEndError"] = error;
        let t = observe(&r).expect("parses");
        assert_eq!(
            pool(&t, "pool1.contoso.com").back_end,
            back_end,
            "{databases}"
        );
    }
    let mut r = report();
    r["Pools"][1]["UserDatabases"] = json!([{"Online": "Maybe"}]);
    let m = bad_output(observe(&r));
    assert!(
        m.contains("pool2.contoso.com") && m.contains("Maybe"),
        "{m}"
    );
}

#[test]
fn the_cms_pool_is_the_front_end_pool_whose_back_end_holds_the_cms_database() {
    for (store, cms_pool) in [
        (json!("sql1.contoso.com\\rtc"), Some("pool1.contoso.com")),
        (json!("SQL2.contoso.com\\rtc"), Some("pool2.contoso.com")),
        (json!("sql2.contoso.com/rtc"), Some("pool2.contoso.com")),
        (json!("sql2.contoso.com"), Some("pool2.contoso.com")),
        // A SQL Server no Front End pool uses as its Back End, or none named: unknown.
        (json!("sql9.contoso.com\\rtc"), None),
        (json!(""), None),
        (Value::Null, None),
    ] {
        let mut r = report();
        r["CmsStore"] = store.clone();
        let t = observe(&r).expect("parses");
        assert_eq!(t.cms.pool.as_deref(), cms_pool, "{store}");
    }
    // With the master lost, where the CMS database lives is still known.
    let mut r = report();
    r["Cms"]["ActiveMasterFqdn"] = json!("");
    let t = observe(&r).expect("parses");
    assert_eq!(t.cms.active_master, None);
    assert_eq!(t.cms.pool.as_deref(), Some("pool1.contoso.com"));
    // Two Front End pools on one SQL Server: which holds the CMS cannot be told.
    let mut r = report();
    r["UserStores"][1]["PoolFqdn"] = json!("sql1.contoso.com");
    assert_eq!(observe(&r).expect("parses").cms.pool, None);
    // Services of pools that are not Front End pools (a Director) do not count.
    let mut r = report();
    r["UserStores"][0]["DependentServiceList"] = json!(["Registrar:dir1.contoso.com"]);
    assert_eq!(observe(&r).expect("parses").cms.pool, None);
    // The topology unreadable: unknown, never guessed.
    let mut r = report();
    r["CmsStore"] = Value::Null;
    r["UserStores"] = json!([]);
    r["CmsStoreError"] = json!("Cannot reach the Central Management Store.");
    assert_eq!(observe(&r).expect("parses").cms.pool, None);
}

#[test]
fn an_empty_module_list_on_a_live_pool_is_an_error_state() {
    for modules in [
        json!([]),
        json!([{"Identity": "CentralMgmt.CMSMaster", "ExportStatus": "NotInitialized", "ImportStatus": "NormalState"}]),
    ] {
        let mut r = report();
        r["Pools"][0]["BackupModules"] = modules.clone();
        let t = observe(&r).expect("parses");
        let d = t
            .backup
            .iter()
            .find(|d| d.from == "pool1.contoso.com")
            .expect("a direction from the live pool");
        assert_eq!(d.export_state, ExportState::ErrorState, "{modules}");
        assert!(d.is_error());
    }
}

#[test]
fn response_group_modules_count_in_their_pools_direction() {
    let mut r = report();
    r["RgsBackup"] = json!(true);
    let modules = r["Pools"][0]["BackupModules"]
        .as_array_mut()
        .expect("modules");
    modules.push(json!({"Identity": "ApplicationServer.RGSDataStore", "ExportStatus": "NonSteadyState", "ImportStatus": "NormalState"}));
    modules.push(json!({"Identity": "ApplicationServer.RGSFileStore", "ExportStatus": "SteadyState", "ImportStatus": "ErrorState"}));
    let t = observe(&r).expect("parses");
    let d = &t.backup[0];
    assert_eq!(
        (d.export_state, d.import_state),
        (ExportState::NonSteadyState, ImportState::ErrorState)
    );
    // Their names are the ones Invoke-CsBackupServiceSync takes.
    for (module, name) in [
        (BackupModule::RgsDataStore, "ApplicationServer.RGSDataStore"),
        (BackupModule::RgsFileStore, "ApplicationServer.RGSFileStore"),
    ] {
        assert_eq!(module.name(), name);
        assert_eq!(
            serde_json::to_value(module).expect("serializes"),
            json!(name)
        );
    }
}

#[test]
fn remote_text_in_observe_errors_is_escaped_and_bounded() {
    let hostile = format!(
        "Exporting\n2024-01-01 ERROR forged log line\u{202E}\u{1b}[2J{}",
        "x".repeat(100_000)
    );
    let mut r = report();
    r["Pools"][1]["BackupModules"][0]["ExportStatus"] = json!(hostile);
    let m = bad_output(observe(&r));
    assert!(m.contains("Exporting\\n2024-01-01"), "{m}");
    assert!(
        !m.chars()
            .any(|c| c.is_control() || matches!(c, '\u{202E}' | '\u{2028}')),
        "{m:?}"
    );
    assert!(
        m.chars().count() < 2_500,
        "{} characters",
        m.chars().count()
    );
    // The same for the last line shown when no result came.
    let m = bad_output(parse_observation(HOST, &format!("{hostile}\r\n")));
    assert!(!m.chars().any(char::is_control), "{m:?}");
    assert!(m.chars().count() < 2_500);
}

#[test]
fn an_unreadable_replica_list_is_never_up_to_date() {
    let mut r = report();
    assert!(observe(&r).expect("parses").cms.replicas_up_to_date);
    r["Replicas"] = json!([]);
    r["ReplicaError"] = json!("Cannot open database \"xds\"");
    assert!(!observe(&r).expect("parses").cms.replicas_up_to_date);
}

/// `Get-CsDatabaseMirrorState`'s states for one database: (StateOnPrimary, StateOnMirror).
fn mirror_states(states: &[(&str, &str)]) -> Value {
    Value::Array(
        states
            .iter()
            .map(|(p, m)| json!({"StateOnPrimary": p, "StateOnMirror": m}))
            .collect(),
    )
}

#[test]
fn a_mirrored_back_end_is_read_from_its_mirroring_states() {
    const GONE: &str = "DatabaseInaccessibleOrMirroringNotEnabled";
    let online = json!([{"Online": "True"}, {"Online": "True"}]);
    let offline = json!([{"Online": "False"}, {"Online": "False"}]);
    for (states, databases, expected) in [
        // Both answer, the primary leads.
        (
            vec![("Principal", "Mirror"), ("Principal", "Mirror")],
            online.clone(),
            Some((MirrorRole::Primary, Health::Up, Health::Up)),
        ),
        // The primary is gone; the mirror still waits as the mirror: the primary is the
        // principal, and down.
        (
            vec![(GONE, "Mirror"), (GONE, "Mirror")],
            offline.clone(),
            Some((MirrorRole::Primary, Health::Down, Health::Up)),
        ),
        // The mirror took over (a witness, or an earlier failover).
        (
            vec![(GONE, "Principal"), (GONE, "Principal")],
            online.clone(),
            Some((MirrorRole::Mirror, Health::Down, Health::Up)),
        ),
        // Not mirrored: no mirror at all, whatever the databases.
        (vec![(GONE, GONE), (GONE, GONE)], online.clone(), None),
        (vec![], online.clone(), None),
        // Contradictions report no mirror, so nothing is moved on them.
        (vec![("Principal", "Principal")], online.clone(), None),
        (
            vec![("Principal", "Mirror"), ("Mirror", "Principal")],
            online.clone(),
            None,
        ),
        // Get-CsUserDatabaseState says the Back End is up, the mirror says its principal is not.
        (vec![(GONE, "Mirror")], online.clone(), None),
    ] {
        let mut r = report();
        r["Pools"][0]["UserDatabases"] = databases;
        r["Pools"][0]["MirrorStates"] = mirror_states(&states);
        let t = observe(&r).expect("parses");
        let got = pool(&t, "pool1.contoso.com")
            .back_end_mirror
            .map(|m| (m.principal, m.primary, m.mirror));
        assert_eq!(got, expected, "{states:?}");
    }
    // User databases that cannot be read leave the mirror's word.
    let mut r = report();
    r["Pools"][0]["UserDatabases"] = Value::Null;
    r["Pools"][0]["BackEndError"] = json!("Cannot open database \"rtcxds\".");
    r["Pools"][0]["MirrorStates"] = mirror_states(&[(GONE, "Mirror")]);
    let t = observe(&r).expect("parses");
    let p = pool(&t, "pool1.contoso.com");
    assert_eq!(p.back_end, Some(Health::Down));
    assert_eq!(
        p.back_end_mirror
            .map(|m| (m.principal, m.primary, m.mirror)),
        Some((MirrorRole::Primary, Health::Down, Health::Up))
    );
    // A cmdlet that failed is no mirror, and not an error.
    let mut r = report();
    r["Pools"][0]["MirrorStates"] = Value::Null;
    r["Pools"][0]["MirrorError"] = json!("The term 'Get-CsDatabaseMirrorState' is not recognized");
    assert_eq!(
        pool(&observe(&r).expect("parses"), "pool1.contoso.com").back_end_mirror,
        None
    );
}

/// One site of `Get-CsSite` as the observe script reports it.
fn site(identity: &str, sip: Option<&str>, xmpp: Option<&str>) -> Value {
    json!({
        "Identity": identity,
        "FederationRoute": sip,
        "XmppFederationRoute": xmpp,
        "HasFederationRoute": true,
        "HasXmppFederationRoute": true
    })
}

fn routes(r: &Value) -> Vec<ObservedRoute> {
    observe(r).expect("parses").federation_routes
}

#[test]
fn federation_routes_are_read_from_the_sites_and_mapped_to_edge_pools() {
    let mut r = report();
    // SIP names the pool's service; XMPP one of its computers, on the other site.
    r["Sites"] = json!([
        site("Site:Redmond", Some("EdgeServer:EDGE1.contoso.com"), None),
        site("Site:Dublin", None, Some("edge2a.contoso.com")),
    ]);
    assert_eq!(
        routes(&r),
        vec![
            ObservedRoute {
                kind: RouteKind::Sip,
                edge: Some("edge1.contoso.com".into()),
            },
            ObservedRoute {
                kind: RouteKind::Xmpp,
                edge: Some("edge2.contoso.com".into()),
            },
        ]
    );
    // No site names a route: it is not set.
    r["Sites"] = json!([site("Site:Redmond", None, None)]);
    assert!(routes(&r).iter().all(|x| x.edge.is_none()), "{r}");
    assert_eq!(routes(&r).len(), 2);
}

#[test]
fn a_federation_route_that_cannot_be_told_is_not_reported() {
    let mut r = report();
    // Two sites naming different Edge pools for SIP; XMPP on an Edge behind a Director, which the
    // observation leaves out.
    r["Sites"] = json!([
        site("Site:Redmond", Some("EdgeServer:edge1.contoso.com"), None),
        site(
            "Site:Dublin",
            Some("EdgeServer:edge2.contoso.com"),
            Some("EdgeServer:edge3.contoso.com")
        ),
    ]);
    assert!(routes(&r).is_empty(), "{:?}", routes(&r));
    // Get-CsSite failed, or this version has no such property: not reported, never "not set".
    r["Sites"] = json!([]);
    r["SiteError"] = json!("Get-CsSite: access denied");
    assert!(routes(&r).is_empty());
    r["SiteError"] = Value::Null;
    r["Sites"] = json!([{"Identity": "Site:Redmond", "HasFederationRoute": false, "HasXmppFederationRoute": false}]);
    assert!(routes(&r).is_empty());
}

fn chat_pool(state: Option<&str>, active: Option<&[&str]>, probe: &[bool]) -> Value {
    let mut c = json!({
        "PoolFqdn": "PChat.Contoso.com",
        "Computers": ["pc1.contoso.com", "PC2.contoso.com"],
        "Probe": probe,
        "PoolState": state,
        "StateError": null,
        "HasActiveServers": active.is_some(),
        "ActiveServers": active,
    });
    if state.is_none() {
        c["StateError"] = json!("Get-CsPersistentChatState : access denied");
    }
    c
}

#[test]
fn persistent_chat_pools_are_read_with_their_state_servers_and_active_servers() {
    let mut r = report();
    r["PersistentChat"] = json!([chat_pool(
        Some("FailedOver"),
        Some(&["PC2.contoso.com"]),
        &[false, true]
    )]);
    let t = observe(&r).expect("parses");
    let c = &t.persistent_chat[0];
    assert_eq!(c.fqdn, "pchat.contoso.com");
    assert_eq!(c.state, Some(ChatState::FailedOver));
    assert_eq!(c.active_servers, Some(vec!["pc2.contoso.com".to_owned()]));
    let health: Vec<Health> = c.servers.iter().map(|s| s.health).collect();
    assert_eq!(health, vec![Health::Down, Health::Up]);
    // Which site each server stands in is not in the topology: never guessed.
    assert!(c.servers.iter().all(|s| s.site.is_none()));
    assert_eq!(
        (c.primary_site.clone(), c.backup_site.clone()),
        (None, None)
    );
}

#[test]
fn what_persistent_chat_does_not_say_is_left_unreported() {
    let mut r = report();
    r["PersistentChat"] = json!([chat_pool(None, None, &[true, true])]);
    let c = &observe(&r).expect("parses").persistent_chat[0];
    assert_eq!(c.state, None, "an unreadable state is not Normal");
    assert_eq!(
        c.active_servers, None,
        "no ActiveServers property: unknown, not none"
    );
    r["PersistentChat"] = json!([chat_pool(Some("Migrating"), Some(&[]), &[true, true])]);
    let c = &observe(&r).expect("parses").persistent_chat[0];
    assert_eq!(c.state, None, "a state sfb-dr does not know");
    assert_eq!(c.active_servers, Some(vec![]));
    // Skype for Business Server 2019 has no Persistent Chat: the cmdlet fails, none is listed.
    let mut r = report();
    r["PersistentChatError"] =
        json!("A parameter cannot be found that matches parameter name 'PersistentChatServer'.");
    assert!(observe(&r).expect("parses").persistent_chat.is_empty());
    // A probe that does not match the computers is refused.
    let mut r = report();
    r["PersistentChat"] = json!([chat_pool(Some("Normal"), None, &[true])]);
    assert!(bad_output(observe(&r)).contains("Probe"));
}
