//! The driver for a real Skype for Business deployment: SfB cmdlets run on a Windows management
//! server reached over OpenSSH (DESIGN section 2, issue 4).
//!
//! [`script`] renders plan steps as cmdlets (also for `sfb-dr plan -o powershell`, through
//! [`runbook`]); [`observe`] gathers and reads the deployment; [`transport`] carries a script
//! over ssh with the [`credentials`]; [`value`] keeps every value that enters a script inert.

pub mod credentials;
pub mod observe;
pub mod outcome;
pub mod runbook;
pub mod script;
pub mod transport;
pub mod value;

use std::path::PathBuf;
use std::time::Duration;

pub use credentials::{Credentials, CredentialsError};
pub use runbook::runbook;
pub use script::{execute_script, ScriptError, WhatIf};
pub use transport::{encode_command, Target};

use super::{Driver, DriverError, DriverFuture, OperationKey};
use crate::model::Action;
use crate::model::ObservedTopology;
use outcome::{parse_outcome, Outcome};
use value::Fqdn;

/// How long each kind of call may run before ssh is killed. Microsoft's failback of 20,000
/// users can take about an hour; a CMS failover targets 5 minutes (SFB-DR-FACTS "Targets").
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

    fn for_action(&self, action: &Action) -> Duration {
        match action {
            Action::FailOverPool { .. } => self.pool_failover,
            Action::FailBackPool { .. } => self.pool_failback,
            Action::FailOverCms { .. } => self.cms_failover,
            Action::RepointEdge { .. } | Action::SyncBackup { .. } => self.other,
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

impl Driver for PowerShellDriver {
    fn observe(&self) -> DriverFuture<'_, ObservedTopology> {
        Box::pin(async move {
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
            observe::parse_observation(self.host(), &out.stdout)
                .map_err(|e| with_stderr(e, &out))
                .inspect_err(|e| tracing::warn!(host = self.host(), error = %e, "observe failed"))
        })
    }

    fn execute<'a>(&'a self, key: &'a OperationKey, action: &'a Action) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            // An unsafe value refuses the step before anything reaches the server.
            let script = execute_script(action)
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
                self.timeouts.for_action(action),
                cmdlet,
            )
            .await
            .inspect_err(|e| {
                if e.may_have_acted() {
                    tracing::warn!(host = self.host(), step = %action, error = %e,
                        "the step may have run: observe before retrying");
                }
            })?;
            match parse_outcome(self.host(), &out.stdout).map_err(|e| with_stderr(e, &out))? {
                Outcome::Succeeded(v) if v.get("ok") == Some(&serde_json::Value::Bool(true)) => {
                    tracing::info!(host = self.host(), step = %action, "succeeded");
                    Ok(())
                }
                Outcome::Succeeded(v) => Err(DriverError::BadOutput(format!(
                    "{}: {cmdlet} printed {} instead of its result",
                    self.host(),
                    v.to_string().chars().take(200).collect::<String>()
                ))),
                Outcome::Failed { cmdlet, message } => {
                    tracing::warn!(host = self.host(), step = %action, cmdlet, "failed: {message}");
                    Err(DriverError::Failed(format!(
                        "{cmdlet} on {}: {message}",
                        self.host()
                    )))
                }
            }
        })
    }
}
