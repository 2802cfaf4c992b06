//! Reading a live deployment's resources from a cluster, for `sfb-dr plan --kubeconfig` and the
//! `kubectl sfbdr` plugin: the namespace's one Topology, and the observation its operator
//! published.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client, ResourceExt};

use sfb_dr::api::Topology;
use sfb_dr::controller::observation::{DATA_KEY, LEDGER_KEY, OBSERVED_AT_KEY};
use sfb_dr::manifest;
use sfb_dr::model::{Ledger, ObservedTopology};

use super::Failure;

/// An API error as one line a person can act on.
pub fn api_error(what: &str, e: kube::Error) -> Failure {
    let line = match &e {
        kube::Error::Api(s) if s.code == 404 => format!("{what}: not found ({})", s.message),
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => {
            format!("{what}: the cluster refused ({}): {}", s.code, s.message)
        }
        // A transport failure is named with its causes: connection refused, a TLS failure.
        other => format!("{what}: {}", super::run::with_causes(&other)),
    };
    Failure::Other(anyhow::anyhow!(line))
}

/// The one Topology of `namespace`.
pub async fn topology(client: &Client, namespace: &str) -> Result<Topology, Failure> {
    if !sfb_dr::api::names::is_label(namespace) {
        return Err(Failure::BadInput(vec![format!(
            "namespace {namespace:?}: not a Kubernetes namespace name ({})",
            sfb_dr::api::names::LABEL_RULE
        )]));
    }
    let api: Api<Topology> = Api::namespaced(client.clone(), namespace);
    let list = api.list(&Default::default()).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 404 => Failure::Other(anyhow::anyhow!(
            "the cluster does not know Topology (sfbdr.io/v1alpha1): install the CRDs with kubectl apply -f crds/"
        )),
        other => api_error(&format!("listing Topologies in namespace {namespace}"), other),
    })?;
    let mut items = list.items;
    match items.len() {
        1 => Ok(items.remove(0)),
        0 => Err(Failure::BadInput(vec![format!(
            "namespace {namespace} holds no Topology; pick the deployment's namespace with -n"
        )])),
        n => Err(Failure::BadInput(vec![format!(
            "namespace {namespace} holds {n} Topologies ({}); a namespace holds one deployment",
            items
                .iter()
                .map(|t| t.name_any())
                .collect::<Vec<_>>()
                .join(", ")
        )])),
    }
}

/// What the operator published for `topology`: the observation, the ledger of the same moment
/// (the Topology's own when the ConfigMap has none), where it was read and when it was made.
pub struct Published {
    pub observed: ObservedTopology,
    pub ledger: Ledger,
    pub source: String,
    pub observed_at: Option<String>,
}

/// The observation the operator published for `topology`.
pub async fn observation(client: &Client, topology: &Topology) -> Result<Published, Failure> {
    let ns = topology.namespace().unwrap_or_default();
    let name = topology
        .status
        .as_ref()
        .and_then(|s| s.observation.clone())
        .ok_or_else(|| {
            Failure::Other(anyhow::anyhow!(
                "Topology {ns}/{} has no published observation yet (status.observation): is the operator running, and has it observed the deployment with no step running?",
                topology.name_any()
            ))
        })?;
    let source = format!("ConfigMap {ns}/{name}");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let map = api.get(&name).await.map_err(|e| match e {
        kube::Error::Api(ae) if ae.code == 404 => Failure::Other(anyhow::anyhow!(
            "{source}, which the Topology's status.observation names, is missing (deleted?): \
                 the operator writes it again when the observation or the ledger next changes, \
                 or at once when it restarts (`kubectl -n sfb-dr-system rollout restart \
                 deployment/sfb-dr`)"
        )),
        e => api_error(&format!("reading {source}"), e),
    })?;
    let text = map
        .data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .ok_or_else(|| Failure::BadInput(vec![format!("{source}: no {DATA_KEY} key")]))?;
    let observed = manifest::parse_observed(text, &source)?;
    let data = map.data.as_ref();
    let ledger = match data.and_then(|d| d.get(LEDGER_KEY)) {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Failure::BadInput(vec![format!("{source}: {LEDGER_KEY}: {e}")]))?,
        None => topology
            .status
            .as_ref()
            .map(|s| s.ledger.clone())
            .unwrap_or_default(),
    };
    Ok(Published {
        observed,
        ledger,
        observed_at: data.and_then(|d| d.get(OBSERVED_AT_KEY)).cloned(),
        source,
    })
}

/// A runtime for the commands that talk to a cluster.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Runtime::new()
        .map_err(|e| Failure::Other(anyhow::anyhow!("starting the async runtime: {e}")))
}
