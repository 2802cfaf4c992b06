//! The kubeconfig file that points kubectl (or any client) at a sandbox: its HTTPS URL and
//! certificate authority, and a bearer token (the administrator's, or a ServiceAccount's).

use std::path::Path;

use serde_json::json;

/// Writing the kubeconfig failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The YAML could not be rendered.
    #[error("could not render the kubeconfig: {0}")]
    Render(#[from] serde_yaml::Error),
    /// The file could not be written.
    #[error("could not write the kubeconfig to {path}: {source}")]
    Write {
        /// Where it should have gone.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// The kubeconfig text for a server at `url`, as `user` holding `token`, with `namespace` as
/// the default namespace.
pub fn render(
    url: &str,
    ca_pem: &str,
    user: &str,
    token: &str,
    namespace: &str,
) -> Result<String, KubeconfigError> {
    let authority = crate::protobuf::base64(ca_pem.as_bytes());
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kube-sandbox", "cluster": {"server": url, "certificate-authority-data": authority}}],
        "users": [{"name": user, "user": if token.is_empty() { json!({}) } else { json!({"token": token}) }}],
        "contexts": [{"name": "kube-sandbox", "context": {"cluster": "kube-sandbox", "user": user, "namespace": namespace}}],
        "current-context": "kube-sandbox",
        "preferences": {},
    });
    Ok(serde_yaml::to_string(&config)?)
}

/// Writes the kubeconfig for `url`, `user` and `token` to `path`, creating parent directories.
/// The file holds a credential, so it is readable by its owner only.
pub fn write(
    path: &Path,
    url: &str,
    ca_pem: &str,
    user: &str,
    token: &str,
    namespace: &str,
) -> Result<(), KubeconfigError> {
    let text = render(url, ca_pem, user, token, namespace)?;
    let fail = |source| KubeconfigError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)
}
