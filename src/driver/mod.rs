//! The driver: how the executor observes and acts on a deployment (DESIGN section 2). The
//! simulator client and the PowerShell driver stand behind the same trait.

pub mod powershell;
pub mod simulator;

use std::future::Future;
use std::pin::Pin;

use crate::model::ObservedTopology;
use crate::planner::Action;

/// A driver call's result, boxed so drivers can be chosen at run time (`dyn Driver`).
pub type DriverFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DriverError>> + Send + 'a>>;

/// What the executor needs from a deployment.
pub trait Driver: Send + Sync {
    /// The deployment as it is now, in the observed-topology format.
    fn observe(&self) -> DriverFuture<'_, ObservedTopology>;

    /// Performs one plan step and returns when it has finished.
    fn execute<'a>(&'a self, action: &'a Action) -> DriverFuture<'a, ()>;
}

/// Why a driver call did not succeed. Messages never carry credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The product refused the action before doing anything (SfB's own reason).
    #[error("refused: {0}")]
    Refused(String),
    /// The action ran and failed; the deployment may be part-way (observe before retrying).
    #[error("failed: {0}")]
    Failed(String),
    /// The deployment or its management server could not be reached.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The deployment answered with something the driver cannot read.
    #[error("unreadable answer: {0}")]
    BadOutput(String),
    /// The call took longer than its timeout and was stopped.
    #[error("timed out after {seconds} s: {what}")]
    Timeout { what: String, seconds: u64 },
}
