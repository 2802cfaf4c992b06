//! The kubeconfig file that points kubectl (or any client) at a sandbox: anonymous, plain HTTP.

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

/// The kubeconfig text for a server at `url`, with `default` as the namespace.
pub fn render(url: &str) -> Result<String, KubeconfigError> {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kube-sandbox", "cluster": {"server": url}}],
        "users": [{"name": "anonymous", "user": {}}],
        "contexts": [{"name": "kube-sandbox", "context": {"cluster": "kube-sandbox", "user": "anonymous", "namespace": "default"}}],
        "current-context": "kube-sandbox",
        "preferences": {},
    });
    Ok(serde_yaml::to_string(&config)?)
}

/// Writes the kubeconfig for `url` to `path`, creating parent directories.
pub fn write(path: &Path, url: &str) -> Result<(), KubeconfigError> {
    let text = render(url)?;
    let fail = |source| KubeconfigError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}
