//! deploy/monitoring's alerts: Prometheus's own `promtool` checks the rules and runs their unit
//! tests (`tests/fixtures/alerts/alerts.test.yaml`: each alert fires, and only, when it should);
//! every expression parses as PromQL, selects only series the operator exports, with labels and
//! label values those series carry, and the issue's alerts are all there.

mod kustomize;
mod promtool;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{walk_expr, ExprVisitor};
use sfb_dr::controller::metrics::Metrics;
use sfb_dr::driver::DriverError;
use sfb_dr::model::{ActionKind, BackupDirection, ExportState, ImportState};

#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    let objects = kustomize::build("deploy/monitoring");
    let rule = kustomize::find(&objects, "PrometheusRule", "sfb-dr");
    let dir = tempfile::tempdir().expect("a scratch dir");
    let rules = serde_yaml::to_string(&rule["spec"]).expect("YAML");
    std::fs::write(dir.path().join("rules.yaml"), rules).expect("rules.yaml");
    let tests = dir.path().join("alerts.test.yaml");
    std::fs::copy("tests/fixtures/alerts/alerts.test.yaml", &tests).expect("the unit tests");
    let rules_path = dir.path().join("rules.yaml");
    let (ok, out) = promtool::run(&["check", "rules", &rules_path.to_string_lossy()], None);
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = promtool::run(&["test", "rules", &tests.to_string_lossy()], None);
    assert!(ok, "promtool test rules:\n{out}");
}

/// Every alert of the PrometheusRule: name -> (expression, `for`, severity).
fn alerts() -> BTreeMap<String, (String, Option<String>, String)> {
    let objects = kustomize::build("deploy/monitoring");
    let rule = kustomize::find(&objects, "PrometheusRule", "sfb-dr");
    let mut out = BTreeMap::new();
    for group in rule["spec"]["groups"].as_array().expect("groups") {
        for r in group["rules"].as_array().expect("rules") {
            let name = r["alert"].as_str().expect("only alerting rules").to_owned();
            let expr = r["expr"].as_str().expect("expr").to_owned();
            let for_ = r["for"].as_str().map(str::to_owned);
            let severity = r["labels"]["severity"]
                .as_str()
                .expect("severity")
                .to_owned();
            assert!(
                out.insert(name.clone(), (expr, for_, severity)).is_none(),
                "{name} twice"
            );
        }
    }
    out
}

/// Each series the operator exports (sample names, as Prometheus stores them) with the labels
/// and values it carries, from a registry that saw one of everything.
fn exported() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let m = Metrics::new();
    m.reconciled(None);
    m.reconciled(Some("driver"));
    let results = [
        Ok(()),
        Err(DriverError::Refused("r".into())),
        Err(DriverError::Failed("f".into())),
        Err(DriverError::Unreachable("u".into())),
        Err(DriverError::BadOutput("b".into())),
        Err(DriverError::Timeout {
            what: "w".into(),
            seconds: 1,
        }),
        Err(DriverError::OutcomeUnknown("o".into())),
    ];
    for result in &results {
        m.step_finished(ActionKind::FailOverPool, result, Duration::from_secs(1));
    }
    m.pending("sfb-contoso", "contoso", 2);
    m.backup(
        "sfb-contoso",
        &[BackupDirection {
            from: "pool1.contoso.com".into(),
            to: "pool2.contoso.com".into(),
            export_state: ExportState::SteadyState,
            import_state: ImportState::NormalState,
            last_sync_age_seconds: Some(60),
        }],
    );
    m.rpo("sfb-contoso", "pair1", true);
    let conditions: Vec<Condition> = [
        "Ready",
        "Reconciling",
        "Stalled",
        "BackupInSync",
        "RPOMet",
        "Paused",
        "AwaitingApproval",
    ]
    .iter()
    .map(|t| Condition {
        type_: (*t).into(),
        status: "False".into(),
        reason: "R".into(),
        message: String::new(),
        observed_generation: Some(1),
        last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
    })
    .collect();
    m.topology("sfb-contoso", "contoso", 300, &conditions);
    m.set_leader(true);
    let text = m.encode().expect("encodes");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the Prometheus text format");
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for sample in scrape.samples {
        let labels = out.entry(sample.metric.clone()).or_default();
        for (k, v) in sample.labels.iter() {
            labels.entry(k.clone()).or_default().insert(v.clone());
        }
    }
    out
}

/// Labels a scrape adds to every series (ServiceMonitor targets), which selectors may use.
const TARGET_LABELS: [&str; 4] = ["pod", "instance", "job", "service"];

/// One label matcher of a selector: label, operator, value.
type Matcher = (String, MatchOp, String);

/// The metric name and label matchers of every selector in an expression.
#[derive(Default)]
struct Selectors(Vec<(String, Vec<Matcher>)>);

impl ExprVisitor for Selectors {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        let vs = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return Ok(true),
        };
        let mut name = vs.name.clone();
        let mut matchers = vec![];
        for m in &vs.matchers.matchers {
            if m.name == "__name__" {
                name = Some(m.value.clone());
            } else {
                matchers.push((m.name.clone(), m.op.clone(), m.value.clone()));
            }
        }
        let name = name.ok_or_else(|| format!("a selector with no metric name: {expr}"))?;
        self.0.push((name, matchers));
        Ok(true)
    }
}

#[test]
fn every_alert_expression_parses_as_promql() {
    let alerts = alerts();
    assert!(!alerts.is_empty());
    for (name, (expr, for_, severity)) in &alerts {
        parser::parse(expr).unwrap_or_else(|e| panic!("{name}: {e}\n{expr}"));
        if let Some(d) = for_ {
            promql_parser::util::parse_duration(d)
                .unwrap_or_else(|e| panic!("{name}: for {d}: {e}"));
        }
        assert!(
            ["warning", "critical"].contains(&severity.as_str()),
            "{name}"
        );
    }
}

#[test]
fn alerts_select_only_series_labels_and_values_the_operator_exports() {
    let exported = exported();
    for (name, (expr, _, _)) in alerts() {
        let ast = parser::parse(&expr).expect("parses");
        let mut selectors = Selectors::default();
        walk_expr(&mut selectors, &ast).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!selectors.0.is_empty(), "{name} selects nothing");
        for (metric, matchers) in selectors.0 {
            let labels = exported
                .get(&metric)
                .unwrap_or_else(|| panic!("{name}: the operator exports no {metric}"));
            for (label, op, value) in matchers {
                if TARGET_LABELS.contains(&label.as_str()) {
                    continue;
                }
                let values = labels
                    .get(&label)
                    .unwrap_or_else(|| panic!("{name}: {metric} has no label {label}"));
                let wanted: Vec<&str> = match op {
                    MatchOp::Equal | MatchOp::NotEqual => vec![value.as_str()],
                    MatchOp::Re(_) | MatchOp::NotRe(_) => value.split('|').collect(),
                };
                for v in wanted {
                    assert!(
                        values.contains(v),
                        "{name}: {metric}{{{label}}} is never {v:?} (it is one of {values:?})"
                    );
                }
            }
        }
    }
}

#[test]
fn the_issues_alerts_are_all_there() {
    let alerts = alerts();
    let has = |name: &str, needles: &[&str]| {
        let (expr, _, _) = alerts
            .get(name)
            .unwrap_or_else(|| panic!("no alert {name}"));
        for n in needles {
            assert!(expr.contains(n), "{name} lacks {n}: {expr}");
        }
    };
    has("SfbDrTopologyStalled", &["condition=\"Stalled\""]);
    assert_eq!(alerts["SfbDrTopologyStalled"].1.as_deref(), Some("5m"));
    has("SfbDrRPONotMet", &["sfbdr_rpo_met", "== 0"]);
    has(
        "SfbDrBackupSyncLagging",
        &[
            "sfbdr_backup_sync_age_seconds",
            "2 * ",
            "sfbdr_rpo_objective_seconds",
        ],
    );
    has(
        "SfbDrBackupSyncLaggingCritical",
        &[
            "sfbdr_backup_sync_age_seconds",
            "3 * ",
            "sfbdr_rpo_objective_seconds",
        ],
    );
    has("SfbDrStepFailed", &["sfbdr_steps_total", "Failed"]);
    has("SfbDrNoLeader", &["sfbdr_leader", "vector(0)"]);
}
