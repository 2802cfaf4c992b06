#![warn(missing_docs)]
//! kube-sandbox: an in-memory, Kubernetes-compatible API server on loopback that the real
//! kubectl and kube-rs can drive, for end-to-end tests on machines without a cluster.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_sandbox::Error> {
//! let sandbox = kube_sandbox::Sandbox::start(kube_sandbox::Config::default()).await?;
//! let client = sandbox.client()?;
//! println!("kubectl --kubeconfig {}", sandbox.kubeconfig_path().display());
//! # drop(client);
//! # Ok(()) }
//! ```

mod admission;
mod api_error;
mod apply;
mod builtins;
mod cluster;
mod config_data;
mod crd;
mod deletion;
mod discovery;
mod events;
mod garbage;
mod jsonpath;
mod kubeconfig;
mod managed_fields;
mod merge_strategy;
mod names;
mod openapi;
mod patch;
mod protobuf;
mod registry;
mod request;
mod rest;
mod review;
mod route;
mod sandbox;
mod scale;
mod schema;
mod selector;
mod server;
mod store;
mod table;
mod termination;
mod traffic;
mod validation;
mod watch;

pub use kubeconfig::KubeconfigError;
pub use sandbox::{Config, Error, Sandbox};
pub use traffic::{UnknownVerb, Verb};
