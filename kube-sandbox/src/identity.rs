//! Who is asking: bearer tokens and the users they stand for. The sandbox issues two kinds of
//! token, as a kubeadm cluster has: one administrator token (group `system:masters`), written
//! into the kubeconfig, and ServiceAccount tokens from the TokenRequest API, each valid while its
//! ServiceAccount exists (same uid) and until it expires. Requests without a token are
//! `system:anonymous`; a token the sandbox did not issue is refused with 401.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

/// The administrator's name, as kubeadm's `kubernetes-admin`.
pub const ADMIN: &str = "kube-sandbox-admin";
/// The name of unauthenticated requests.
pub const ANONYMOUS: &str = "system:anonymous";
/// The group every authenticated user is in.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group of unauthenticated requests.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The group whose members may do anything (bound to `cluster-admin`, and allowed before RBAC
/// is asked).
pub const MASTERS: &str = "system:masters";
/// The prefix of ServiceAccount user names.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// An authenticated (or anonymous) user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// User name, such as `system:serviceaccount:ns:name`.
    pub name: String,
    /// Uid (a ServiceAccount's object uid), empty when unknown.
    pub uid: String,
    /// Groups, `system:authenticated` included.
    pub groups: Vec<String>,
    /// Extra attributes (only set through impersonation).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// The user of requests without credentials.
    pub fn anonymous() -> User {
        User {
            name: ANONYMOUS.into(),
            groups: vec![UNAUTHENTICATED.into()],
            ..User::default()
        }
    }

    /// The administrator of the written kubeconfig.
    pub fn admin() -> User {
        User {
            name: ADMIN.into(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            ..User::default()
        }
    }

    /// A ServiceAccount's user, with the groups a real server gives it.
    pub fn service_account(namespace: &str, name: &str, uid: &str) -> User {
        User {
            name: format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"),
            uid: uid.into(),
            groups: service_account_groups(namespace),
            extra: BTreeMap::new(),
        }
    }
}

/// The groups of a ServiceAccount in `namespace`.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{namespace}"),
        AUTHENTICATED.into(),
    ]
}

/// `(namespace, name)` of a ServiceAccount user name.
pub fn service_account_of(user_name: &str) -> Option<(&str, &str)> {
    user_name
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)?
        .split_once(':')
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty())
}

/// What a token was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The administrator.
    Admin,
    /// A ServiceAccount, bound to its uid, until `expires`.
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The uid of the ServiceAccount object the token was issued for.
        uid: String,
        /// When the token stops working.
        expires: DateTime<Utc>,
    },
}

/// The tokens this sandbox issued.
#[derive(Debug, Clone)]
pub struct Tokens {
    admin: String,
    issued: HashMap<String, Grant>,
}

impl Default for Tokens {
    fn default() -> Self {
        let admin = new_token();
        let issued = HashMap::from([(admin.clone(), Grant::Admin)]);
        Tokens { admin, issued }
    }
}

/// 256 random bits, hex-encoded: as unguessable as a signed token, and never logged.
fn new_token() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("sandbox.{a}{b}")
}

impl Tokens {
    /// The administrator token.
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// Issues a token for a ServiceAccount.
    pub fn issue(&mut self, grant: Grant) -> String {
        let token = new_token();
        self.issued.insert(token.clone(), grant);
        token
    }

    /// What a token was issued for, if this sandbox issued it.
    pub fn grant(&self, token: &str) -> Option<&Grant> {
        self.issued.get(token)
    }
}

/// The bearer token of an `Authorization` header value, if it carries one.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_account_user_name_names_its_namespace_and_account() {
        assert_eq!(
            service_account_of("system:serviceaccount:ops:operator"),
            Some(("ops", "operator"))
        );
        assert_eq!(service_account_of("system:serviceaccount:ops"), None);
        assert_eq!(service_account_of("alice"), None);
    }

    #[test]
    fn only_bearer_credentials_carry_a_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
