//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager): only the holder calls
//! the driver, and losing the lease stops new steps at once. The journal's compare-and-swap and
//! the operation keys fence whatever slips between a lost lease and the moment it is noticed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::{oneshot, watch};

/// How long a lease lasts without renewal, by default.
pub const LEASE_SECONDS: u64 = 15;

/// Where the lease lives and who asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica's identity (its pod name, or the host name).
    pub identity: String,
    /// How long the lease lasts without renewal (at least 3 s); a third of it before expiry,
    /// the holder renews.
    pub seconds: u64,
}

impl LeaseConfig {
    /// A lease of the default duration.
    pub fn new(name: &str, namespace: &str, identity: &str) -> Self {
        LeaseConfig {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            seconds: LEASE_SECONDS,
        }
    }
}

/// Whether this process may call the driver now.
#[derive(Clone, Debug)]
pub struct Leadership {
    held: Option<watch::Receiver<bool>>,
    stopping: Arc<AtomicBool>,
    lease: Option<(Api<Lease>, LeaseConfig)>,
}

impl Leadership {
    /// Without leader election: this process always leads (one replica).
    pub fn always() -> Self {
        Leadership {
            held: None,
            stopping: Arc::new(AtomicBool::new(false)),
            lease: None,
        }
    }

    /// Whether this process holds the lease (and is not shutting down).
    pub fn leads(&self) -> bool {
        !self.stopping.load(Ordering::Acquire) && self.held.as_ref().is_none_or(|h| *h.borrow())
    }

    /// From now on this process starts nothing: it is shutting down.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Checks the Lease itself before steps start: held by this replica and not expired. A
    /// replica cut off from the API server cannot renew, and must not trust its last belief.
    pub async fn confirm(&self) -> bool {
        if !self.leads() {
            return false;
        }
        let Some((api, config)) = &self.lease else {
            return true;
        };
        let Ok(lease) = api.get(&config.name).await else {
            return false;
        };
        let Some(spec) = lease.spec else {
            return false;
        };
        let holder = spec.holder_identity.as_deref() == Some(config.identity.as_str());
        let duration = spec
            .lease_duration_seconds
            .and_then(|d| u64::try_from(d).ok())
            .unwrap_or(LEASE_SECONDS);
        let fresh = spec.renew_time.is_some_and(|t| {
            let expiry =
                t.0.checked_add(jiff::SignedDuration::from_secs(
                    i64::try_from(duration).unwrap_or(i64::MAX),
                ))
                .ok();
            expiry.is_some_and(|e| e > jiff::Timestamp::now())
        });
        holder && fresh
    }

    /// Yields each time this process becomes the leader, so every Topology is reconciled then.
    pub fn acquired(&self) -> impl Stream<Item = ()> + Send + 'static {
        let held = self.held.clone();
        futures::stream::unfold(held, |held| async move {
            let mut held = held?;
            loop {
                held.changed().await.ok()?;
                if *held.borrow_and_update() {
                    return Some(((), Some(held)));
                }
            }
        })
    }
}

/// The running election; [`Election::release`] gives the lease up on shutdown.
pub struct Election {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Election {
    /// For a simulated crash: ends the election without releasing the lease.
    pub fn abort_handle(&self) -> tokio::task::AbortHandle {
        self.task.abort_handle()
    }

    /// Gives the lease up (if held) and ends the election, within `limit`.
    pub async fn release(mut self, limit: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(limit, &mut self.task).await;
    }
}

/// Why leader election could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start leader election on Lease {namespace}/{name}")]
pub struct ElectionError {
    pub namespace: String,
    pub name: String,
    #[source]
    pub source: kube_lease_manager::LeaseManagerError,
}

/// Starts campaigning for the lease.
pub async fn elect(
    client: Client,
    config: LeaseConfig,
) -> Result<(Leadership, Election), ElectionError> {
    // kube-lease-manager panics unless 0 < grace < duration.
    let duration = config.seconds.max(3);
    let grace = (duration / 3).max(1);
    let manager = LeaseManagerBuilder::new(client.clone(), config.name.clone())
        .with_namespace(config.namespace.clone())
        .with_identity(config.identity.clone())
        .with_duration(duration)
        .with_grace(grace)
        .with_field_manager(format!("sfb-dr-{}", config.identity))
        .build()
        .await
        .map_err(|source| ElectionError {
            namespace: config.namespace.clone(),
            name: config.name.clone(),
            source,
        })?;
    let (tx, rx) = watch::channel(false);
    let (stop, mut stopped) = oneshot::channel::<()>();
    let identity = config.identity.clone();
    let task = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                changed = manager.changed() => match changed {
                    Ok(leads) => {
                        backoff = Duration::from_millis(200);
                        tracing::info!(%identity, leads, "leadership changed");
                        if tx.send(leads).is_err() {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%identity, %error, "leader election failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                },
            }
        }
        let _ = tx.send(false);
        if let Err(error) = manager.release().await {
            tracing::warn!(%identity, %error, "could not release the lease; it expires on its own");
        }
    });
    let leadership = Leadership {
        held: Some(rx),
        stopping: Arc::new(AtomicBool::new(false)),
        lease: Some((Api::namespaced(client, &config.namespace), config)),
    };
    Ok((
        leadership,
        Election {
            stop: Some(stop),
            task,
        },
    ))
}
