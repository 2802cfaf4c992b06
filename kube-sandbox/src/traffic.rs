//! What a test can observe and perturb about requests: counts by verb and resource, the
//! requests refused with 401 or 403, and injected failures, so retry and resync paths can be
//! exercised deterministically.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

/// The Kubernetes verb a request maps to (as RBAC would name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read a collection.
    List,
    /// Stream changes.
    Watch,
    /// POST a new object.
    Create,
    /// PUT an object.
    Update,
    /// PATCH an object (any patch type, server-side apply included).
    Patch,
    /// DELETE one object.
    Delete,
    /// DELETE a collection.
    DeleteCollection,
}

impl Verb {
    /// The lowercase name used by RBAC and audit logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verb name that is not one of the eight above.
#[derive(Debug, thiserror::Error)]
#[error("unknown verb {0:?}: expected get, list, watch, create, update, patch, delete or deletecollection")]
pub struct UnknownVerb(String);

impl FromStr for Verb {
    type Err = UnknownVerb;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "get" => Verb::Get,
            "list" => Verb::List,
            "watch" => Verb::Watch,
            "create" => Verb::Create,
            "update" => Verb::Update,
            "patch" => Verb::Patch,
            "delete" => Verb::Delete,
            "deletecollection" => Verb::DeleteCollection,
            other => return Err(UnknownVerb(other.to_string())),
        })
    }
}

#[derive(Debug)]
struct PendingFailure {
    verb: Verb,
    resource: String,
    remaining: u32,
    code: u16,
}

/// One request refused by authentication (401) or authorization (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// 401 or 403.
    pub code: u16,
    /// Who asked (after impersonation); `None` when the token itself was refused.
    pub user: Option<String>,
    /// The RBAC verb (`get`, `patch`, `impersonate`, ...; the HTTP method for URLs).
    pub verb: String,
    /// API group, "" for core and for non-resource paths.
    pub group: String,
    /// `plural` or `plural/subresource`; empty for non-resource paths.
    pub resource: String,
    /// Namespace, "" for cluster scope.
    pub namespace: String,
    /// Object name, "" for collections and creates.
    pub name: String,
    /// The request path.
    pub path: String,
    /// The message the client was given.
    pub message: String,
}

/// Request counters, refused requests and pending injected failures.
#[derive(Debug, Default)]
pub struct Traffic {
    counts: Mutex<BTreeMap<(Verb, String), u64>>,
    failures: Mutex<Vec<PendingFailure>>,
    denials: Mutex<Vec<Denial>>,
}

impl Traffic {
    /// Counts one request. `resource` is the plural, with `/status` appended for the status
    /// subresource.
    pub fn count_request(&self, verb: Verb, resource: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((verb, resource.to_string())).or_default() += 1;
        }
    }

    /// Records a refused request.
    pub fn deny(&self, denial: Denial) {
        if let Ok(mut denials) = self.denials.lock() {
            denials.push(denial);
        }
    }

    /// Every refused request so far, oldest first.
    pub fn denials(&self) -> Vec<Denial> {
        self.denials.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Says whether an (authorized, counted) request must fail, and with which status code.
    pub fn injected_failure(&self, verb: Verb, resource: &str) -> Option<u16> {
        let mut failures = self.failures.lock().ok()?;
        let index = failures
            .iter()
            .position(|f| f.verb == verb && f.resource == resource && f.remaining > 0)?;
        let failure = &mut failures[index];
        failure.remaining -= 1;
        let code = failure.code;
        if failure.remaining == 0 {
            failures.remove(index);
        }
        Some(code)
    }

    /// Makes the next `n` requests matching `verb` and `resource` fail with `code`.
    pub fn fail_next(&self, verb: Verb, resource: &str, n: u32, code: u16) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(PendingFailure {
                verb,
                resource: resource.to_string(),
                remaining: n,
                code,
            });
        }
    }

    /// How many requests matched `verb` and `resource` so far.
    pub fn count(&self, verb: Verb, resource: &str) -> u64 {
        self.counts
            .lock()
            .map(|c| c.get(&(verb, resource.to_string())).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Every counter, keyed by verb and resource.
    pub fn counts(&self) -> BTreeMap<(Verb, String), u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_injected_failure_hits_only_the_next_n_matching_requests() {
        let traffic = Traffic::default();
        traffic.fail_next(Verb::Patch, "foos/status", 2, 503);
        assert_eq!(traffic.injected_failure(Verb::Patch, "foos"), None);
        assert_eq!(
            traffic.injected_failure(Verb::Patch, "foos/status"),
            Some(503)
        );
        assert_eq!(
            traffic.injected_failure(Verb::Patch, "foos/status"),
            Some(503)
        );
        assert_eq!(traffic.injected_failure(Verb::Patch, "foos/status"), None);
    }
}
