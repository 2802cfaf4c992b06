//! `/metrics` (Prometheus text format), `/healthz` and `/readyz`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::driver::DriverError;
use crate::model::{ActionKind, BackupDirection};

/// The `result` label of `sfbdr_steps_total`: success, then each driver error.
const STEP_RESULTS: [&str; 7] = [
    "Succeeded",
    "Refused",
    "Failed",
    "Unreachable",
    "BadOutput",
    "Timeout",
    "OutcomeUnknown",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    action: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct TopologyLabels {
    namespace: String,
    topology: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct DirectionLabels {
    namespace: String,
    from: String,
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ConditionLabels {
    namespace: String,
    topology: String,
    condition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct PairLabels {
    namespace: String,
    pair: String,
}

/// The labels of one namespace's series (a namespace holds one deployment).
#[derive(Default)]
struct Series {
    topologies: std::collections::BTreeSet<TopologyLabels>,
    conditions: std::collections::BTreeSet<ConditionLabels>,
    directions: std::collections::BTreeSet<DirectionLabels>,
    pairs: std::collections::BTreeSet<PairLabels>,
}

/// The operator's metrics and the state behind its health endpoints.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_errors: Family<ResultLabels, Counter>,
    steps: Family<StepLabels, Counter>,
    step_seconds: Family<ActionLabels, Histogram>,
    steps_pending: Family<TopologyLabels, Gauge>,
    sync_age: Family<DirectionLabels, Gauge>,
    rpo_met: Family<PairLabels, Gauge>,
    rpo_objective: Family<TopologyLabels, Gauge>,
    conditions: Family<ConditionLabels, Gauge>,
    leader: Gauge,
    /// The per-deployment series made so far, by namespace, so a deleted Topology's go too.
    series: std::sync::Mutex<std::collections::BTreeMap<String, Series>>,
    primed: AtomicBool,
    observed_once: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every family registered under the `sfbdr` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sfbdr");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles of a Topology, by result",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by kind of error",
            reconcile_errors.clone(),
        );
        // Every documented series exists from the start at 0 (an alert on `increase()` sees the
        // first error, and a dashboard shows 0 rather than nothing).
        for result in ["ok", "error", "waiting_for_caches"] {
            let _ = reconciles.get_or_create(&ResultLabels {
                result: result.into(),
            });
        }
        for kind in super::Error::KINDS {
            let _ = reconcile_errors.get_or_create(&ResultLabels {
                result: kind.into(),
            });
        }
        let steps = Family::<StepLabels, Counter>::default();
        registry.register(
            "steps",
            "Driver calls for plan steps, by action and result",
            steps.clone(),
        );
        // Every series exists from the start at 0, so `increase()` sees a step's first failure
        // too (a series born at 1 shows no increase).
        for action in ActionKind::ALL {
            for result in STEP_RESULTS {
                let _ = steps.get_or_create(&StepLabels {
                    action: format!("{action:?}"),
                    result: result.into(),
                });
            }
        }
        let step_seconds = Family::<ActionLabels, Histogram>::new_with_constructor(|| {
            // 10 ms to about 3 hours: simulated steps and hour-long failbacks alike.
            Histogram::new(exponential_buckets(0.01, 3.0, 14))
        });
        registry.register(
            "step_duration_seconds",
            "How long a driver call for a step took, by action",
            step_seconds.clone(),
        );
        let steps_pending = Family::<TopologyLabels, Gauge>::default();
        registry.register(
            "steps_pending",
            "Steps of the current plan not yet succeeded",
            steps_pending.clone(),
        );
        let sync_age = Family::<DirectionLabels, Gauge>::default();
        registry.register(
            "backup_sync_age_seconds",
            "Seconds since the Backup Service last synced this direction, as last observed",
            sync_age.clone(),
        );
        let rpo_met = Family::<PairLabels, Gauge>::default();
        registry.register(
            "rpo_met",
            "1 when both directions of a pair synced within the recovery point objective",
            rpo_met.clone(),
        );
        let rpo_objective = Family::<TopologyLabels, Gauge>::default();
        registry.register(
            "rpo_objective_seconds",
            "The Topology's recovery point objective (spec.objectives.rpoSeconds)",
            rpo_objective.clone(),
        );
        let conditions = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "topology_condition",
            "1 while the Topology's condition (Ready, Reconciling, Stalled, ...) is True",
            conditions.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the lease",
            leader.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_errors,
            steps,
            step_seconds,
            steps_pending,
            sync_age,
            rpo_met,
            rpo_objective,
            conditions,
            leader,
            series: Default::default(),
            primed: AtomicBool::new(false),
            observed_once: AtomicBool::new(false),
        }
    }

    /// Counts one reconcile.
    pub fn reconciled(&self, error: Option<&str>) {
        let result = if error.is_some() { "error" } else { "ok" };
        self.reconciles
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        if let Some(kind) = error {
            self.reconcile_errors
                .get_or_create(&ResultLabels {
                    result: kind.into(),
                })
                .inc();
        }
    }

    /// Counts one reconcile that decided nothing because a cache had not listed yet.
    pub fn reconciled_waiting(&self) {
        self.reconciles
            .get_or_create(&ResultLabels {
                result: "waiting_for_caches".into(),
            })
            .inc();
    }

    /// Counts one driver call for a step and its duration.
    pub fn step_finished(
        &self,
        action: ActionKind,
        result: &Result<(), DriverError>,
        took: Duration,
    ) {
        let result = match result {
            Ok(()) => STEP_RESULTS[0],
            Err(DriverError::Refused(_)) => STEP_RESULTS[1],
            Err(DriverError::Failed(_)) => STEP_RESULTS[2],
            Err(DriverError::Unreachable(_)) => STEP_RESULTS[3],
            Err(DriverError::BadOutput(_)) => STEP_RESULTS[4],
            Err(DriverError::Timeout { .. }) => STEP_RESULTS[5],
            Err(DriverError::OutcomeUnknown(_)) => STEP_RESULTS[6],
        };
        let action = format!("{action:?}");
        self.steps
            .get_or_create(&StepLabels {
                action: action.clone(),
                result: result.into(),
            })
            .inc();
        self.step_seconds
            .get_or_create(&ActionLabels { action })
            .observe(took.as_secs_f64());
    }

    fn track(&self, namespace: &str, f: impl FnOnce(&mut Series)) {
        if let Ok(mut series) = self.series.lock() {
            f(series.entry(namespace.to_owned()).or_default());
        }
    }

    /// Removes every series of a namespace that holds no Topology any more (its Topology was
    /// deleted): a deleted Stalled Topology must not keep its alert firing.
    pub fn retain_namespaces(&self, live: &std::collections::BTreeSet<String>) {
        let gone: Vec<Series> = match self.series.lock() {
            Ok(mut series) => {
                let dead: Vec<String> = series
                    .keys()
                    .filter(|n| !live.contains(*n))
                    .cloned()
                    .collect();
                dead.iter().filter_map(|n| series.remove(n)).collect()
            }
            Err(_) => return,
        };
        for s in gone {
            for t in &s.topologies {
                self.steps_pending.remove(t);
                self.rpo_objective.remove(t);
            }
            for c in &s.conditions {
                self.conditions.remove(c);
            }
            for d in &s.directions {
                self.sync_age.remove(d);
            }
            for p in &s.pairs {
                self.rpo_met.remove(p);
            }
        }
    }

    /// The steps of a Topology's plan that are not done.
    pub fn pending(&self, namespace: &str, topology: &str, pending: usize) {
        let labels = TopologyLabels {
            namespace: namespace.into(),
            topology: topology.into(),
        };
        self.steps_pending
            .get_or_create(&labels)
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.track(namespace, |s| {
            s.topologies.insert(labels);
        });
    }

    /// The Backup Service as last observed, per direction, and the RPO per pair.
    pub fn backup(&self, namespace: &str, directions: &[BackupDirection]) {
        for d in directions {
            if let Some(age) = d.last_sync_age_seconds {
                let labels = DirectionLabels {
                    namespace: namespace.into(),
                    from: d.from.clone(),
                    to: d.to.clone(),
                };
                self.sync_age
                    .get_or_create(&labels)
                    .set(i64::try_from(age).unwrap_or(i64::MAX));
                self.track(namespace, |s| {
                    s.directions.insert(labels);
                });
            }
        }
    }

    /// Whether a pair meets its recovery point objective.
    pub fn rpo(&self, namespace: &str, pair: &str, met: bool) {
        let labels = PairLabels {
            namespace: namespace.into(),
            pair: pair.into(),
        };
        self.rpo_met.get_or_create(&labels).set(i64::from(met));
        self.track(namespace, |s| {
            s.pairs.insert(labels);
        });
    }

    /// The Topology's objective and its conditions, as last written.
    pub fn topology(
        &self,
        namespace: &str,
        topology: &str,
        rpo_seconds: u32,
        conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    ) {
        let labels = TopologyLabels {
            namespace: namespace.into(),
            topology: topology.into(),
        };
        self.rpo_objective
            .get_or_create(&labels)
            .set(i64::from(rpo_seconds));
        let mut made = Vec::new();
        for c in conditions {
            let condition = ConditionLabels {
                namespace: namespace.into(),
                topology: topology.into(),
                condition: c.type_.clone(),
            };
            self.conditions
                .get_or_create(&condition)
                .set(i64::from(c.status == "True"));
            made.push(condition);
        }
        self.track(namespace, |s| {
            s.topologies.insert(labels);
            s.conditions.extend(made);
        });
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leads: bool) {
        self.leader.set(i64::from(leads));
    }

    /// The caches have their first full list.
    pub fn set_primed(&self) {
        self.primed.store(true, Ordering::Release);
    }

    /// Whether every cache holds its first full list.
    pub fn primed(&self) -> bool {
        self.primed.load(Ordering::Acquire)
    }

    /// A driver answered an observation.
    pub fn set_observed(&self) {
        self.observed_once.store(true, Ordering::Release);
    }

    /// Ready once the caches are primed and, for the leader, a driver has answered once.
    pub fn ready(&self, leads: bool, topologies: usize) -> bool {
        self.primed.load(Ordering::Acquire)
            && (!leads || topologies == 0 || self.observed_once.load(Ordering::Acquire))
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// The metrics in Prometheus's classic text format (0.0.4), for clients that do not ask for
    /// OpenMetrics (promtool, curl, older scrapers).
    pub fn encode_classic(&self) -> Result<String, std::fmt::Error> {
        Ok(classic_text(&self.encode()?))
    }
}

/// Rewrites OpenMetrics text as the classic text format: a counter family's HELP and TYPE name
/// its `_total` samples, and the lines the classic format lacks (`# UNIT`, `# EOF`) go.
fn classic_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            (counters.contains(name) && !name.ends_with("_total"))
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Whether a scrape's `Accept` header asks for OpenMetrics (as Prometheus's does).
fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// What the health endpoints need to know.
pub trait Health: Send + Sync + 'static {
    /// Whether the operator is ready.
    fn ready(&self) -> bool;
    /// The metrics to serve.
    fn metrics(&self) -> &Metrics;
    /// Drops the series of what no longer exists, before a scrape.
    fn prune(&self) {}
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    health: Arc<dyn Health>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(
    State(health): State<Arc<dyn Health>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    health.prune();
    let (encoded, content_type) = if wants_openmetrics(accept) {
        (
            health.metrics().encode(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (
            health.metrics().encode_classic(),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    };
    match encoded {
        Ok(text) => ([(header::CONTENT_TYPE, content_type)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn readyz(State(health): State<Arc<dyn Health>>) -> Response {
    if health.ready() {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// The address a metrics listener is bound to, for logs and tests.
pub fn bound_address(listener: &tokio::net::TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_format_names_counters_by_their_samples_and_lists_every_error_kind() {
        let text = Metrics::new().encode_classic().expect("encodes");
        assert!(
            text.contains("# HELP sfbdr_reconciles_total Reconciles"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE sfbdr_reconciles_total counter"),
            "{text}"
        );
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        for kind in crate::controller::Error::KINDS {
            assert!(
                text.contains(&format!(
                    "sfbdr_reconcile_errors_total{{result=\"{kind}\"}} 0"
                )),
                "{kind} missing from:\n{text}"
            );
        }
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("text/plain")) && !wants_openmetrics(None));
    }

    #[test]
    fn every_step_result_is_exported_at_zero_before_any_step_runs() {
        let text = Metrics::new().encode().expect("encodes");
        for action in ActionKind::ALL {
            for result in STEP_RESULTS {
                let line =
                    format!("sfbdr_steps_total{{action=\"{action:?}\",result=\"{result}\"}} 0");
                assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
            }
        }
    }
}
