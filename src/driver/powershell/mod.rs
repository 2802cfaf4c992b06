//! The driver for a real Skype for Business deployment: SfB cmdlets run on a Windows management
//! server reached over OpenSSH (README, "Connecting to a real deployment").
//!
//! [`script`] renders plan steps as cmdlets (also for `sfb-dr plan -o powershell`, through
//! [`runbook`](mod@runbook)), with [`cms_failover`] for the CMS; [`operation`] runs a step at
//! most once per operation key; [`observe`] gathers and reads the deployment, judging
//! [`health`], the [`backup_status`] and the [`cms_location`]; [`transport`] carries a script
//! over ssh with the [`credentials`] and reads the answer with caps ([`capture`]); [`value`]
//! keeps every value that enters a script inert and [`remote_text`] every text that comes back
//! harmless.

pub mod backup_status;
pub mod capture;
pub mod cms_failover;
pub mod cms_location;
pub mod credentials;
pub mod database_failover;
pub mod health;
pub mod observe;
pub mod operation;
pub mod outcome;
pub mod persistent_chat;
pub mod remote_text;
pub mod runbook;
pub mod script;
pub mod transport;
pub mod value;

use std::path::PathBuf;
use std::time::Duration;

pub use credentials::{Credentials, CredentialsError};
pub use operation::execute_script;
pub use runbook::runbook;
pub use script::{ScriptError, WhatIf};
pub use transport::{encode_command, Delivery, Target};

use super::{Driver, DriverError, DriverFuture, OperationKey};
use crate::model::Action;
use crate::model::ObservedTopology;
use operation::Recorded;
use remote_text::{RemoteText, ERROR_LIMIT};
use value::Fqdn;

/// How long each kind of call may run before ssh is killed. Microsoft's failback of 20,000
/// users can take about an hour; a CMS failover targets 5 minutes (Microsoft's documented RTOs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `Invoke-CsPoolFailOver`.
    pub pool_failover: Duration,
    /// `Invoke-CsPoolFailBack`.
    pub pool_failback: Duration,
    /// `Invoke-CsManagementServerFailover`.
    pub cms_failover: Duration,
    /// Observing, Edge next hops and Backup Service syncs.
    pub other: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Timeouts {
            pool_failover: minutes(60),
            pool_failback: minutes(60),
            cms_failover: minutes(15),
            other: minutes(5),
        }
    }
}

impl Timeouts {
    /// From the Topology's `driver.powershell.timeouts`.
    pub fn from_spec(spec: &crate::api::PowerShellDriver) -> Self {
        let t = &spec.timeouts;
        let minutes = |m: u32| Duration::from_secs(60 * u64::from(m));
        Timeouts {
            pool_failover: minutes(t.pool_failover_minutes),
            pool_failback: minutes(t.pool_failback_minutes),
            cms_failover: minutes(t.cms_failover_minutes),
            other: minutes(t.other_minutes),
        }
    }

    /// The timeout of `action`'s kind.
    pub fn for_action(&self, action: &Action) -> Duration {
        match action {
            Action::FailOverPool { .. } => self.pool_failover,
            Action::FailBackPool { .. } => self.pool_failback,
            Action::FailOverCms { .. } => self.cms_failover,
            Action::RepointEdge { .. }
            | Action::SyncBackup { .. }
            | Action::FailOverDatabase { .. }
            | Action::MoveSipFederationRoute { .. }
            | Action::StopEdgeServices { .. }
            | Action::StartEdgeServices { .. }
            | Action::SetXmppFederationRoute { .. }
            | Action::PublishXmppFederationRoute { .. }
            | Action::RecoverPersistentChatDatabase { .. }
            | Action::SetPersistentChatState { .. }
            | Action::SetPersistentChatActiveServers { .. }
            | Action::RestorePersistentChatDatabase { .. } => self.other,
        }
    }
}

/// Why a driver could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The host is not an FQDN.
    #[error("driver.powershell.host: {0}")]
    Host(#[from] value::ValueError),
    /// The port is outside 1-65535.
    #[error("driver.powershell.port: {0} is not a TCP port")]
    Port(u32),
    /// The user could be read as an ssh option or is not an account name.
    #[error("driver.powershell.user: {0}")]
    User(String),
    /// The Secret's name is not a Kubernetes object name.
    #[error("driver.powershell.credentialsSecretRef.name: {0}")]
    SecretName(String),
}

/// Runs SfB cmdlets on one Windows management server.
#[derive(Debug, Clone)]
pub struct PowerShellDriver {
    target: Target,
    credentials: Credentials,
    timeouts: Timeouts,
    ssh: PathBuf,
}

impl PowerShellDriver {
    /// A driver for the server the Topology names, with the Secret's credentials; `ssh` is
    /// found on `PATH` unless [`Self::with_ssh_program`] says otherwise.
    pub fn new(
        spec: &crate::api::PowerShellDriver,
        credentials: Credentials,
    ) -> Result<Self, ConfigError> {
        let host = Fqdn::parse("management server FQDN", &spec.host)?;
        let port = u16::try_from(spec.port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or(ConfigError::Port(spec.port))?;
        transport::check_user(&spec.user).map_err(ConfigError::User)?;
        credentials::check_secret_name(&spec.credentials_secret_ref.name)
            .map_err(ConfigError::SecretName)?;
        Ok(PowerShellDriver {
            target: Target {
                host,
                port,
                user: spec.user.clone(),
            },
            credentials,
            timeouts: Timeouts::from_spec(spec),
            ssh: PathBuf::from("ssh"),
        })
    }

    /// Uses this ssh client instead of the one on `PATH`.
    pub fn with_ssh_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.ssh = program.into();
        self
    }

    /// Replaces the timeouts from the spec.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    fn host(&self) -> &str {
        self.target.host.as_str()
    }
}

/// An unreadable answer says how powershell.exe ended and what it printed on stderr, which is
/// where "not recognized" or a module that failed to load shows.
fn with_stderr(e: DriverError, out: &transport::Output) -> DriverError {
    match e {
        DriverError::BadOutput(m) => DriverError::BadOutput(format!(
            "{m} (exit status {}; stderr: {})",
            out.status.map_or("none".to_owned(), |s| s.to_string()),
            transport::tail(&out.stderr)
        )),
        other => other,
    }
}

/// Every error leaves the driver escaped and bounded: parts of it came from the server.
fn safe(e: DriverError) -> DriverError {
    let clean = |m: String| RemoteText::new(&m, ERROR_LIMIT).into_string();
    match e {
        DriverError::Refused(m) => DriverError::Refused(clean(m)),
        DriverError::Failed(m) => DriverError::Failed(clean(m)),
        DriverError::Unreachable(m) => DriverError::Unreachable(clean(m)),
        DriverError::BadOutput(m) => DriverError::BadOutput(clean(m)),
        DriverError::Timeout { what, seconds } => DriverError::Timeout {
            what: clean(what),
            seconds,
        },
        DriverError::OutcomeUnknown(m) => DriverError::OutcomeUnknown(clean(m)),
    }
}

impl PowerShellDriver {
    async fn observe_once(&self) -> Result<ObservedTopology, DriverError> {
        let script = observe::observe_script();
        let out = transport::run(
            &self.ssh,
            &self.target,
            &self.credentials,
            &script,
            self.timeouts.other,
            "observe",
        )
        .await
        .map_err(|e| match e {
            // Observing changes nothing: a lost connection just means no observation.
            DriverError::OutcomeUnknown(m) => DriverError::Unreachable(m),
            other => other,
        })?;
        observe::parse_observation(self.host(), &out.stdout).map_err(|e| with_stderr(e, &out))
    }

    async fn execute_once(&self, key: &OperationKey, action: &Action) -> Result<(), DriverError> {
        let timeout = self.timeouts.for_action(action);
        let wait = operation::wait_seconds(timeout);
        // An unsafe value or key refuses the step before anything reaches the server.
        let script = execute_script(key.as_str(), action, wait)
            .map_err(|e| DriverError::Refused(format!("not sent to {}: {e}", self.host())))?;
        let cmdlet = script::command(action, WhatIf::No)
            .map(|c| c.cmdlet)
            .unwrap_or("step");
        tracing::info!(host = self.host(), %key, step = %action, cmdlet, "executing");
        let out = transport::run(
            &self.ssh,
            &self.target,
            &self.credentials,
            &script,
            timeout,
            cmdlet,
        )
        .await?;
        let recorded = operation::read_result(self.host(), key.as_str(), cmdlet, &out.stdout, wait)
            .map_err(|e| with_stderr(e, &out))?;
        match recorded {
            Recorded::Yes | Recorded::Replayed => {}
            Recorded::NotRewritten => tracing::warn!(
                host = self.host(), %key,
                "the step succeeded but its operation record could not be rewritten; a repeat of this key will read as outcome unknown"
            ),
        }
        tracing::info!(host = self.host(), %key, step = %action, ?recorded, "succeeded");
        Ok(())
    }
}

impl Driver for PowerShellDriver {
    fn observe(&self) -> DriverFuture<'_, ObservedTopology> {
        Box::pin(async move {
            self.observe_once()
                .await
                .map_err(safe)
                .inspect_err(|e| tracing::warn!(host = self.host(), error = %e, "observe failed"))
        })
    }

    fn execute<'a>(&'a self, key: &'a OperationKey, action: &'a Action) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            self.execute_once(key, action)
                .await
                .map_err(safe)
                .inspect_err(|e| {
                    if e.may_have_acted() {
                        tracing::warn!(host = self.host(), %key, step = %action, error = %e,
                            "the step may have run: observe before retrying");
                    } else {
                        tracing::warn!(host = self.host(), %key, step = %action, error = %e,
                            "the step did not run");
                    }
                })
        })
    }
}
