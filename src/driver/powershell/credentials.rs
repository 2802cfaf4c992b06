//! The SSH credentials: the private key and the host keys to trust, as the Topology's Secret
//! holds them. The key is kept out of every log line, error and `Debug` output.

use std::fmt;

/// The SSH key and the host keys to trust. Read from the Topology's Secret by the controller.
#[derive(Clone)]
pub struct Credentials {
    private_key: String,
    known_hosts: String,
}

impl Credentials {
    /// The key, for the 0600 file ssh reads; nothing else should see it.
    pub(super) fn private_key(&self) -> &str {
        &self.private_key
    }

    /// The host keys ssh checks the server against.
    pub(super) fn known_hosts(&self) -> &str {
        &self.known_hosts
    }

    /// From the Secret's `ssh-privatekey` and `known_hosts`.
    pub fn new(private_key: impl Into<String>, known_hosts: impl Into<String>) -> Self {
        Credentials {
            private_key: private_key.into(),
            known_hosts: known_hosts.into(),
        }
    }
}

/// The longest Secret name Kubernetes accepts.
pub const SECRET_NAME_MAX: usize = 253;

/// Checks a Secret's name as Kubernetes does (a DNS-1123 subdomain: lowercase letters, digits,
/// `-` and `.`, each dot-separated part starting and ending with a letter or digit, at most 253
/// characters); the CRD's CEL rule on `credentialsSecretRef.name` says the same.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    let part_ok = |p: &str| {
        let b = p.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric)
    };
    if name.len() <= SECRET_NAME_MAX && name.split('.').all(part_ok) {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a Secret name: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit, at most {SECRET_NAME_MAX} characters",
            name.chars().take(80).collect::<String>()
        ))
    }
}

/// Why a Secret cannot serve as the driver's credentials; never carries the Secret's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The Secret lacks a key the driver needs.
    #[error("Secret {secret} has no {key}; create it with --from-file={key}=<file>")]
    Missing { secret: String, key: &'static str },
    /// A value is not UTF-8 text (an OpenSSH key and known_hosts are).
    #[error("Secret {secret}: {key} is not text")]
    NotText { secret: String, key: &'static str },
}

impl Credentials {
    /// From the Secret that `credentialsSecretRef` names: `ssh-privatekey` and `known_hosts`.
    pub fn from_secret(
        secret: &k8s_openapi::api::core::v1::Secret,
    ) -> Result<Self, CredentialsError> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let read = |key: &'static str| -> Result<String, CredentialsError> {
            let bytes = secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|b| b.0.clone())
                .or_else(|| {
                    secret
                        .string_data
                        .as_ref()
                        .and_then(|d| d.get(key))
                        .map(|s| s.clone().into_bytes())
                })
                .filter(|b| !b.is_empty())
                .ok_or_else(|| CredentialsError::Missing {
                    secret: name.clone(),
                    key,
                })?;
            String::from_utf8(bytes).map_err(|_| CredentialsError::NotText {
                secret: name.clone(),
                key,
            })
        };
        Ok(Credentials::new(
            read("ssh-privatekey")?,
            read("known_hosts")?,
        ))
    }
}

/// The key never appears in logs, errors or panics.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("private_key", &"<redacted>")
            .field("known_hosts_lines", &self.known_hosts.lines().count())
            .finish()
    }
}
