//! The driver each Topology names, built once and rebuilt when its spec or Secret changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, ResourceExt};

use crate::api::Topology;
use crate::driver::powershell::{Credentials, PowerShellDriver};
use crate::driver::simulator::SimulatorDriver;
use crate::driver::Driver;

/// How long an observation of the simulator may take.
const SIMULATOR_OBSERVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one simulated step may run before the call is abandoned (the step is then settled
/// by asking again under the same key). Microsoft's slowest procedure, a failback of 20 000
/// users, takes about an hour.
pub const SIMULATOR_STEP_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// Where drivers come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriverSource {
    /// As each Topology's `spec.driver` says.
    FromSpec,
    /// Every Topology in these namespaces talks to this simulator, whatever its spec says
    /// (`sfb-dr sandbox`: one simulated deployment, the namespaces of its manifests); the
    /// others as their spec says.
    Simulator {
        url: String,
        namespaces: std::collections::BTreeSet<String>,
    },
}

/// A Topology's driver could not be built: its spec or Secret is wrong.
#[derive(Debug, thiserror::Error)]
pub enum DriverSetupError {
    #[error("spec.driver: {0}")]
    Spec(String),
    #[error("spec.driver.powershell.credentialsSecretRef: Secret {name}: {reason}")]
    Secret { name: String, reason: String },
}

/// Each Topology's driver, with what it was built from.
type Built = HashMap<ObjectRef<Topology>, (String, Arc<dyn Driver>)>;

/// Built drivers by Topology, with what they were built from.
pub struct Drivers {
    client: Client,
    source: DriverSource,
    step_timeout: Duration,
    built: Mutex<Built>,
}

impl Drivers {
    /// Drivers from `source`; `client` reads the PowerShell driver's Secret; a simulator step
    /// call is abandoned after `step_timeout` (then settled under the same key).
    pub fn new(client: Client, source: DriverSource, step_timeout: Duration) -> Self {
        Drivers {
            client,
            source,
            step_timeout,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The driver for `topology`, built anew only when what it is built from changed.
    pub async fn for_topology(
        &self,
        topology: &Topology,
    ) -> Result<Arc<dyn Driver>, DriverSetupError> {
        let key = ObjectRef::from_obj(topology);
        let overridden = match &self.source {
            DriverSource::Simulator { url, namespaces }
                if topology
                    .namespace()
                    .is_some_and(|ns| namespaces.contains(&ns)) =>
            {
                Some(url)
            }
            _ => None,
        };
        let (fingerprint, build): (String, Build) = match overridden {
            Some(url) => (format!("sim {url}"), Build::Simulator(url.clone())),
            None => match (
                &topology.spec.driver.simulator,
                &topology.spec.driver.powershell,
            ) {
                (Some(sim), None) => (
                    format!("sim {}", sim.url),
                    Build::Simulator(sim.url.clone()),
                ),
                (None, Some(ps)) => {
                    let namespace = topology.namespace().unwrap_or_default();
                    let name = &ps.credentials_secret_ref.name;
                    let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
                    let secret = secrets
                        .get(name)
                        .await
                        .map_err(|e| DriverSetupError::Secret {
                            name: name.clone(),
                            reason: match e {
                                kube::Error::Api(s) if s.code == 404 => {
                                    format!("not found in namespace {namespace}")
                                }
                                other => other.to_string(),
                            },
                        })?;
                    let spec = serde_json::to_string(ps).unwrap_or_default();
                    let version = secret.resource_version().unwrap_or_default();
                    (
                        format!("ps {spec} {version}"),
                        Build::PowerShell(Box::new((ps.clone(), secret))),
                    )
                }
                _ => {
                    return Err(DriverSetupError::Spec(
                        "set exactly one driver: simulator or powershell".into(),
                    ))
                }
            },
        };
        if let Some((built_from, driver)) = self.lock().get(&key) {
            if *built_from == fingerprint {
                return Ok(Arc::clone(driver));
            }
        }
        let driver: Arc<dyn Driver> = match build {
            Build::Simulator(url) => Arc::new(
                SimulatorDriver::new(&url, SIMULATOR_OBSERVE_TIMEOUT)
                    .map_err(|e| DriverSetupError::Spec(e.to_string()))?
                    .with_step_timeout(self.step_timeout),
            ),
            Build::PowerShell(parts) => {
                let (spec, secret) = *parts;
                let credentials =
                    Credentials::from_secret(&secret).map_err(|e| DriverSetupError::Secret {
                        name: spec.credentials_secret_ref.name.clone(),
                        reason: e.to_string(),
                    })?;
                Arc::new(
                    PowerShellDriver::new(&spec, credentials)
                        .map_err(|e| DriverSetupError::Spec(e.to_string()))?,
                )
            }
        };
        self.lock().insert(key, (fingerprint, Arc::clone(&driver)));
        Ok(driver)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Built> {
        self.built.lock().unwrap_or_else(|e| e.into_inner())
    }
}

enum Build {
    Simulator(String),
    PowerShell(Box<(crate::api::PowerShellDriver, Secret)>),
}
