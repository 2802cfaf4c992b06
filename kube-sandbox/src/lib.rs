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

mod access;
mod admission;
mod api_error;
mod apply;
mod bootstrap;
mod builtin_schemas;
mod builtin_validation;
mod builtins;
mod cluster;
mod config_data;
mod controllers;
mod crd;
mod defaults;
mod deletion;
mod discovery;
mod events;
mod garbage;
mod identity;
mod jsonpath;
mod kind;
mod kubeconfig;
#[cfg(test)]
mod layers;
mod listing;
mod managed_fields;
mod merge_strategy;
mod meta;
mod names;
pub mod nesting;
mod openapi;
mod patch;
mod preconditions;
mod protobuf;
mod protobuf_messages;
mod rbac;
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
mod state;
mod store;
mod table;
mod termination;
mod tls;
mod token_request;
mod traffic;
mod validation;
mod watch;

pub use kubeconfig::KubeconfigError;
pub use rbac::{Authorization, UnknownAuthorization};
pub use sandbox::{Config, Error, Sandbox};
pub use traffic::{Denial, UnknownVerb, Verb};
