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

pub mod admission;
pub mod api_error;
pub mod apply;
pub mod builtins;
pub mod cluster;
pub mod crd;
pub mod deletion;
pub mod discovery;
pub mod events;
pub mod garbage;
pub mod jsonpath;
pub mod kubeconfig;
pub mod managed_fields;
pub mod merge_strategy;
pub mod names;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod registry;
pub mod request;
pub mod rest;
pub mod review;
pub mod route;
pub mod sandbox;
pub mod scale;
pub mod schema;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;
pub mod termination;
pub mod traffic;
pub mod validation;
pub mod watch;

pub use sandbox::{Config, Error, Sandbox};
pub use traffic::Verb;
