//! The driver: how the executor observes and acts on a deployment (ARCHITECTURE.md, "Data
//! flow"). The simulator client and the PowerShell driver stand behind the same trait.

pub mod powershell;
pub mod simulator;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::model::Action;
use crate::model::ObservedTopology;

/// A driver call's result, boxed so drivers can be chosen at run time (`dyn Driver`).
pub type DriverFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DriverError>> + Send + 'a>>;

/// What the executor needs from a deployment.
pub trait Driver: Send + Sync {
    /// The deployment as it is now, in the observed-topology format.
    fn observe(&self) -> DriverFuture<'_, ObservedTopology>;

    /// Performs one plan step under an operation key and returns when it has finished.
    ///
    /// The action is performed at most once per key: a call with a key already seen performs
    /// nothing and answers with the first call's outcome, waiting for it while it runs. This is
    /// what keeps a step from running twice across operator crashes and two leaders. The wait is
    /// bounded by the step's timeout: a first call still running then gives
    /// [`DriverError::Timeout`] (ask again with the same key later), and one whose process died
    /// before recording an outcome gives [`DriverError::OutcomeUnknown`].
    fn execute<'a>(&'a self, key: &'a OperationKey, action: &'a Action) -> DriverFuture<'a, ()>;
}

/// The key a step runs under: `<plan id>-<step id>`, plus `-<attempt>` from the second attempt
/// on. Only ASCII letters, digits and `-`, at most [`OperationKey::MAX_LEN`] bytes, so it is
/// inert in a URL, a file name and a PowerShell literal alike.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationKey(String);

impl OperationKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 128;

    /// Checks a key that came from outside (a request, a file on the management server).
    pub fn parse(key: &str) -> Result<Self, String> {
        let ok = !key.is_empty()
            && key.len() <= Self::MAX_LEN
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !key.starts_with('-');
        if ok {
            Ok(OperationKey(key.to_owned()))
        } else {
            Err(format!(
                "operation key {:?} must be 1 to {} ASCII letters, digits or '-', not starting with '-'",
                key.chars().take(Self::MAX_LEN + 1).collect::<String>(),
                Self::MAX_LEN
            ))
        }
    }

    /// The key of attempt `attempt` (1-based) of step `step` of plan `plan`.
    pub fn for_step(plan: &str, step: &str, attempt: u32) -> Result<Self, String> {
        if attempt <= 1 {
            Self::parse(&format!("{plan}-{step}"))
        } else {
            Self::parse(&format!("{plan}-{step}-{attempt}"))
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a driver call did not succeed. Messages never carry credentials.
///
/// After [`Driver::execute`], the variant says what may have happened to the deployment:
/// - **Nothing happened**: [`Refused`](Self::Refused) and [`Unreachable`](Self::Unreachable).
///   The action was not started (or, for the PowerShell driver, its script was never sent), so
///   it can be retried once the cause is fixed.
/// - **The action may have happened**: [`Failed`](Self::Failed), [`Timeout`](Self::Timeout),
///   [`OutcomeUnknown`](Self::OutcomeUnknown) and [`BadOutput`](Self::BadOutput). The action
///   may have completed, stopped part-way, not started, or still be running on the server.
///   Observe before deciding anything; never re-run the step blindly, since re-running a
///   failover is not documented as harmless (ARCHITECTURE.md, "Where each SfB rule
///   lives", says what Microsoft's pages confirm).
///
/// [`Driver::observe`] changes nothing, whichever error it returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The product refused the action before doing anything (SfB's own reason), or the driver
    /// refused to send it. Nothing happened.
    #[error("refused: {0}")]
    Refused(String),
    /// The action ran and failed; the deployment may be part-way (observe before retrying).
    #[error("failed: {0}")]
    Failed(String),
    /// The deployment or its management server could not be reached, so nothing was sent and
    /// nothing happened.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The deployment answered with something the driver cannot read. After `execute` the
    /// action may have happened (observe before retrying).
    #[error("unreadable answer: {0}")]
    BadOutput(String),
    /// The call took longer than its timeout and the driver stopped waiting. Stopping the wait
    /// does not stop the action: it may have happened, or still be running (observe before
    /// retrying).
    #[error("timed out after {seconds} s: {what}")]
    Timeout { what: String, seconds: u64 },
    /// The action was sent, then the connection was lost before its answer came: it may have
    /// happened, or still be running (observe before retrying).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
}

impl DriverError {
    /// Whether, after `execute`, the deployment may have changed: then observe before retrying,
    /// never re-run the step blindly. False only when nothing was done.
    pub fn may_have_acted(&self) -> bool {
        match self {
            DriverError::Refused(_) | DriverError::Unreachable(_) => false,
            DriverError::Failed(_)
            | DriverError::BadOutput(_)
            | DriverError::Timeout { .. }
            | DriverError::OutcomeUnknown(_) => true,
        }
    }
}
