//! kstatus conditions: what the operator wants each condition to say, and the `metav1.Condition`
//! list that says it, keeping `lastTransitionTime` while a condition's status stays the same.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::ConditionType;

/// The longest condition message written (a real server allows 32 KiB; people read one screen).
pub const MESSAGE_LIMIT: usize = 1024;

/// One condition as wanted: type, status, CamelCase reason and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub type_: ConditionType,
    /// `None` when the operator cannot tell (the condition's status is `Unknown`).
    pub status: Option<bool>,
    pub reason: String,
    pub message: String,
}

impl Wanted {
    /// A condition that holds.
    pub fn yes(type_: ConditionType, reason: impl ToString, message: impl Into<String>) -> Self {
        Wanted {
            type_,
            status: Some(true),
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    /// A condition the operator cannot judge, and why.
    pub fn unknown(
        type_: ConditionType,
        reason: impl ToString,
        message: impl Into<String>,
    ) -> Self {
        Wanted {
            type_,
            status: None,
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    /// A condition that does not hold.
    pub fn no(type_: ConditionType, reason: impl ToString, message: impl Into<String>) -> Self {
        Wanted {
            type_,
            status: Some(false),
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// The conditions to write: `wanted` in order, each with `observedGeneration`, and the
/// transition time of `previous` kept where the status did not change. Conditions of other
/// types in `previous` stay as they were (the last thing known), so the set of conditions on
/// an object never shrinks when a reconcile can judge only some of them.
pub fn render(
    previous: &[Condition],
    wanted: Vec<Wanted>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let kept: Vec<Condition> = previous
        .iter()
        .filter(|c| !wanted.iter().any(|w| w.type_.as_str() == c.type_))
        .cloned()
        .collect();
    let mut out: Vec<Condition> = wanted
        .into_iter()
        .map(|w| {
            let status = match w.status {
                Some(true) => "True",
                Some(false) => "False",
                None => "Unknown",
            }
            .to_owned();
            let since = previous
                .iter()
                .find(|c| c.type_ == w.type_.as_str() && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or(Time(now));
            Condition {
                type_: w.type_.as_str().to_owned(),
                status,
                reason: w.reason,
                message: bound(&w.message, MESSAGE_LIMIT),
                observed_generation: generation,
                last_transition_time: since,
            }
        })
        .collect();
    out.extend(kept);
    out
}

/// `text` cut to at most `limit` bytes on a character boundary, with control characters
/// (other than newline) shown escaped: messages may carry what a remote server printed.
pub fn bound(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len().min(limit));
    for c in text.chars() {
        let piece: String = if c.is_control() && c != '\n' {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        if out.len() + piece.len() > limit.saturating_sub(3) {
            out.push_str("...");
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// Two condition lists say the same thing (transition times aside).
pub fn same(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.type_ == y.type_
                && x.status == y.status
                && x.reason == y.reason
                && x.message == y.message
                && x.observed_generation == y.observed_generation
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let t1: Timestamp = "2026-01-01T01:00:00Z".parse().expect("time");
        let first = render(
            &[],
            vec![Wanted::no(ConditionType::Ready, "Executing", "1/3")],
            Some(1),
            t0,
        );
        let second = render(
            &first,
            vec![Wanted::no(ConditionType::Ready, "Executing", "2/3")],
            Some(1),
            t1,
        );
        assert_eq!(second[0].last_transition_time, Time(t0));
        let third = render(
            &second,
            vec![Wanted::yes(ConditionType::Ready, "Converged", "")],
            Some(1),
            t1,
        );
        assert_eq!(third[0].last_transition_time, Time(t1));
        let fourth = render(
            &third,
            vec![Wanted::no(ConditionType::Stalled, "InvalidSpec", "")],
            Some(2),
            t1,
        );
        assert_eq!(
            fourth.len(),
            2,
            "Ready is kept while only Stalled is judged"
        );
        assert_eq!(fourth[1].reason, "Converged");
    }

    #[test]
    fn messages_are_bounded_and_control_characters_escaped() {
        let long = "x".repeat(5000);
        assert!(bound(&long, MESSAGE_LIMIT).len() <= MESSAGE_LIMIT);
        assert_eq!(bound("a\u{1b}[31mb", 100), "a\\u{1b}[31mb");
        assert_eq!(bound("é".repeat(10).as_str(), 8), "éé...");
    }
}
