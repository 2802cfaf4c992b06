//! Condition types and reasons shared by every kind (kstatus conventions; docs/operator.md
//! lists them).

use std::fmt;

/// The condition types the operator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    /// The real deployment matches this spec.
    Ready,
    /// The operator is moving the deployment towards this spec.
    Reconciling,
    /// The operator cannot make progress without a person.
    Stalled,
    BackupInSync,
    RPOMet,
    /// The last plan that moved users finished within `spec.objectives.rtoSeconds`.
    RTOMet,
    AwaitingApproval,
    Paused,
}

impl ConditionType {
    /// The condition's `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
            ConditionType::BackupInSync => "BackupInSync",
            ConditionType::RPOMet => "RPOMet",
            ConditionType::RTOMet => "RTOMet",
            ConditionType::AwaitingApproval => "AwaitingApproval",
            ConditionType::Paused => "Paused",
        }
    }
}

impl fmt::Display for ConditionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CamelCase reasons not already named by [`crate::model::BlockReason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A spec that one object's CEL rules cannot judge is wrong across objects.
    InvalidSpec,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
