//! Events (events.k8s.io, through kube's `Recorder`) for what people watching `kubectl describe`
//! want to know: a plan published, approval awaited, a step started, succeeded or failed, a pair
//! stalled. The Topology is the regarding object; the pair a step moves is the related one.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

use super::conditions::bound;
use super::journal::JournalEvent;

/// A real API server refuses an Event note over 1 KiB.
pub const NOTE_LIMIT: usize = 1024;
/// ... and an action or reason over 128 characters.
pub const ACTION_LIMIT: usize = 128;

/// One Event to publish, before it meets the Recorder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: &'static str,
    /// What was acted on, distinct per step and attempt: kube's Recorder folds Events with the
    /// same reason, action and objects into one series and keeps the first note only.
    pub action: String,
    pub note: String,
}

/// The Event a journal transition deserves.
pub fn notice(event: &JournalEvent) -> Notice {
    let step_action = |action: &crate::model::Action, plan: &str, step: &str, attempt: u32| {
        format!("{:?} {plan}/{step} attempt {attempt}", action.kind())
    };
    let (warning, reason, action, note) = match event {
        JournalEvent::PlanPublished {
            plan,
            steps,
            blocked,
        } => (
            *blocked > 0,
            "PlanPublished",
            format!("Plan {plan}"),
            format!("plan {plan}: {steps} steps, {blocked} pairs blocked"),
        ),
        JournalEvent::AwaitingApproval { plan, approve_with } => (
            false,
            "AwaitingApproval",
            format!("Plan {plan}"),
            format!("plan {plan} waits for the annotation sfbdr.io/approve-plan={approve_with}"),
        ),
        // A disaster-mode move gives up what was not replicated: a Warning that says how much,
        // as far as anyone knows, rather than a plain start.
        JournalEvent::StepStarted {
            plan,
            step,
            action,
            attempt,
            data_loss_window_seconds,
        } if action.gives_up_data() => (
            true,
            "DataLoss",
            step_action(action, plan, step, *attempt),
            format!(
                "step {step} (attempt {attempt}): {action}: gives up the changes not yet replicated: {}",
                match (action, data_loss_window_seconds) {
                    (crate::model::Action::SetPersistentChatState { .. }, _) => "what log shipping had not shipped to the backup database (how much is unknown: no cmdlet reports log shipping's lag)".to_owned(),
                    (_, Some(s)) => format!("the last sync was {s} s ago, so about {s} s of changes"),
                    (_, None) => "how many is unknown (the driver reports no sync age); at most the Backup Service's backlog".to_owned(),
                }
            ),
        ),
        JournalEvent::StepStarted {
            plan,
            step,
            action,
            attempt,
            ..
        } => (
            false,
            "StepStarted",
            step_action(action, plan, step, *attempt),
            format!("step {step} (attempt {attempt}): {action}"),
        ),
        JournalEvent::AwaitingConfirmation {
            plan,
            step,
            action,
            confirm_with,
        } => (
            false,
            "AwaitingConfirmation",
            step_action(action, plan, step, 0),
            super::journal::awaiting_person(plan, step, action, confirm_with),
        ),
        JournalEvent::StepSucceeded { plan, step, action } => (
            false,
            "StepSucceeded",
            step_action(action, plan, step, 0),
            format!("step {step}: {action}"),
        ),
        JournalEvent::StepFailed {
            plan,
            step,
            action,
            attempt,
            message,
            retry: true,
        } => (
            true,
            "StepFailed",
            step_action(action, plan, step, *attempt),
            format!("step {step}: {action}: {message}; it will be retried"),
        ),
        JournalEvent::StepFailed {
            plan,
            step,
            action,
            attempt,
            message,
            retry: false,
        } => (
            true,
            "Stalled",
            step_action(action, plan, step, *attempt),
            format!(
                "step {step}: {action}: {message}; no more attempts: fix the cause, then kubectl sfbdr retry (the annotation sfbdr.io/retry, value in the Stalled condition of plan {plan})"
            ),
        ),
        JournalEvent::PlanFinished { plan, outcome } => (
            false,
            "PlanFinished",
            format!("Plan {plan}"),
            format!("plan {plan}: {outcome:?}"),
        ),
    };
    Notice {
        warning,
        reason,
        action: bound(&action, ACTION_LIMIT),
        note: bound(&note, NOTE_LIMIT),
    }
}

/// A Warning when the Topology becomes Stalled, or stalls for another reason (an invalid spec,
/// a blocked pair, a step out of attempts): once per change, not at every reconcile.
pub fn stalled(
    before: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    after: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<Notice> {
    let find = |cs: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]| {
        cs.iter()
            .find(|c| c.type_ == "Stalled" && c.status == "True")
            .map(|c| (c.reason.clone(), c.message.clone()))
    };
    let (reason, message) = find(after)?;
    if find(before).is_some_and(|(r, _)| r == reason) {
        return None;
    }
    Some(Notice {
        warning: true,
        reason: "Stalled",
        action: bound(&format!("Stalled {reason}"), ACTION_LIMIT),
        note: bound(&format!("{reason}: {message}"), NOTE_LIMIT),
    })
}

/// Publishes a notice; an Event that cannot be written is logged, never fatal.
pub async fn publish(
    recorder: &Recorder,
    regarding: &ObjectReference,
    related: Option<ObjectReference>,
    notice: Notice,
) {
    let event = Event {
        type_: if notice.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: notice.reason.into(),
        note: Some(notice.note),
        action: notice.action,
        secondary: related,
    };
    if let Err(error) = recorder.publish(&event, regarding).await {
        tracing::warn!(%error, reason = notice.reason, "could not publish an Event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Mode};

    #[test]
    fn a_long_driver_message_fits_an_event_note() {
        let n = notice(&JournalEvent::StepFailed {
            plan: "0123456789abcdef".into(),
            attempt: 3,
            step: "s1".into(),
            action: Action::FailOverPool {
                pool: "pool1.contoso.com".into(),
                mode: Mode::Graceful,
            },
            message: "e".repeat(10_000),
            retry: false,
        });
        assert!(n.note.len() <= NOTE_LIMIT);
        assert_eq!(n.action, "FailOverPool 0123456789abcdef/s1 attempt 3");
        assert_eq!(n.reason, "Stalled");
        assert!(n.warning);
    }

    #[test]
    fn a_disaster_mode_step_starts_with_a_warning_that_estimates_what_it_gives_up() {
        let started = |mode, window| {
            notice(&JournalEvent::StepStarted {
                plan: "0123456789abcdef".into(),
                step: "s2".into(),
                action: Action::FailOverPool {
                    pool: "pool1.contoso.com".into(),
                    mode,
                },
                attempt: 1,
                data_loss_window_seconds: window,
            })
        };
        let known = started(Mode::Disaster, Some(95));
        assert!(known.warning && known.reason == "DataLoss", "{known:?}");
        assert!(known.note.contains("95 s ago"), "{}", known.note);
        let unknown = started(Mode::Disaster, None);
        assert!(unknown.note.contains("unknown"), "{}", unknown.note);
        let graceful = started(Mode::Graceful, None);
        assert!(!graceful.warning && graceful.reason == "StepStarted");
    }

    #[test]
    fn a_persistent_chat_failover_starts_with_a_warning_about_unshipped_logs() {
        use crate::model::ChatState;
        let started = |state| {
            notice(&JournalEvent::StepStarted {
                plan: "0123456789abcdef".into(),
                step: "s2".into(),
                action: Action::SetPersistentChatState {
                    pool: "pchat.contoso.com".into(),
                    state,
                },
                attempt: 1,
                data_loss_window_seconds: None,
            })
        };
        let over = started(ChatState::FailedOver);
        assert!(over.warning && over.reason == "DataLoss", "{over:?}");
        assert!(over.note.contains("log shipping"), "{}", over.note);
        let back = started(ChatState::Normal);
        assert!(!back.warning && back.reason == "StepStarted", "{back:?}");
    }
}
