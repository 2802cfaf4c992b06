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
