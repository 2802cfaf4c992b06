//! A client whose cache lists of one resource wait until released: the operator restarted while
//! one of its caches lists late, as after a restart on a busy API server. Works against any
//! server, since it sits in the client.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::watch;

/// The switch: lists of the resource wait until [`HeldLists::release`].
pub struct HeldLists {
    open: watch::Sender<bool>,
    held: Arc<AtomicUsize>,
}

impl HeldLists {
    /// Lets every held list, and every later one, through.
    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// How many lists have been held so far.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// A client for the kubeconfig at `path` whose full-object lists of `resource` (its plural)
/// wait until released. Metadata-only lists (the operator's start-up check that the CRD
/// exists) and watches pass.
pub async fn client_holding_lists(
    path: &Path,
    resource: &'static str,
) -> (kube::Client, HeldLists) {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("a kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("a client configuration");
    let (open, gate) = watch::channel(false);
    let held = Arc::new(AtomicUsize::new(0));
    let layer = Hold {
        resource,
        gate,
        held: Arc::clone(&held),
    };
    let client = kube::client::ClientBuilder::try_from(config)
        .expect("a client builder")
        .with_layer(&layer)
        .build();
    (client, HeldLists { open, held })
}

#[derive(Clone)]
struct Hold {
    resource: &'static str,
    gate: watch::Receiver<bool>,
    held: Arc<AtomicUsize>,
}

impl<S> tower::Layer<S> for Hold {
    type Service = Holding<S>;
    fn layer(&self, inner: S) -> Holding<S> {
        Holding {
            inner,
            hold: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Holding<S> {
    inner: S,
    hold: Hold,
}

impl Hold {
    fn holds<B>(&self, request: &http::Request<B>) -> bool {
        let uri = request.uri();
        let query = uri.query().unwrap_or("");
        let metadata_only = request
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("PartialObjectMetadata"));
        request.method() == http::Method::GET
            && uri.path().ends_with(&format!("/{}", self.resource))
            && !query
                .split('&')
                .any(|p| p == "watch=true" || p == "watch=1")
            && !metadata_only
    }
}

impl<S, B> tower::Service<http::Request<B>> for Holding<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let held = self.hold.holds(&request).then(|| {
            self.hold.held.fetch_add(1, Ordering::AcqRel);
            self.hold.gate.clone()
        });
        let sent = self.inner.call(request);
        Box::pin(async move {
            if let Some(mut gate) = held {
                let _ = gate.wait_for(|open| *open).await;
            }
            sent.await
        })
    }
}

/// A layer that records every 401 and 403 its client meets: the server's refusals as the
/// operator saw them, whichever server it is.
#[derive(Clone)]
pub struct Refusals(pub super::server::Denials);

impl<S> tower::Layer<S> for Refusals {
    type Service = Refusing<S>;
    fn layer(&self, inner: S) -> Refusing<S> {
        Refusing {
            inner,
            denials: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Refusing<S> {
    inner: S,
    denials: Refusals,
}

/// `plural` or `plural/subresource` of an API path (empty for other paths).
fn resource_of(path: &str) -> String {
    let rest = if let Some(r) = path.strip_prefix("/api/v1/") {
        r
    } else if let Some(r) = path.strip_prefix("/apis/") {
        r.splitn(3, '/').nth(2).unwrap_or("")
    } else {
        return String::new();
    };
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let parts = match parts.as_slice() {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        other => other.to_vec(),
    };
    match parts.as_slice() {
        [plural, _name, sub, ..] => format!("{plural}/{sub}"),
        [plural, ..] => (*plural).to_owned(),
        [] => String::new(),
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for Refusing<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.method().to_string();
        let resource = resource_of(request.uri().path());
        let denials = self.denials.0.clone();
        let sent = self.inner.call(request);
        Box::pin(async move {
            let response = sent.await?;
            let code = response.status().as_u16();
            if code == 401 || code == 403 {
                denials
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(super::server::Denial {
                        code,
                        method,
                        resource,
                    });
            }
            Ok(response)
        })
    }
}

#[test]
fn resources_are_read_from_api_paths() {
    for (path, resource) in [
        ("/api/v1/namespaces/a/secrets/s", "secrets"),
        ("/api/v1/namespaces/a/events", "events"),
        ("/api/v1/namespaces", "namespaces"),
        ("/api/v1/namespaces/a", "namespaces"),
        ("/apis/sfbdr.io/v1alpha1/topologies", "topologies"),
        (
            "/apis/sfbdr.io/v1alpha1/namespaces/a/topologies/t/status",
            "topologies/status",
        ),
        (
            "/apis/coordination.k8s.io/v1/namespaces/a/leases/l",
            "leases",
        ),
        ("/version", ""),
    ] {
        assert_eq!(resource_of(path), resource, "{path}");
    }
}
