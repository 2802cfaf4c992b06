//! The ledger: the operator's own durable record of who serves each pool's users.
//!
//! SfB has no cmdlet that reports "pool P is failed over" (SFB-DR-FACTS, "What Microsoft leaves
//! unconfirmed"), so the record of performed failovers is the truth and an observation, when the
//! driver has one, is the check on it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Home pool FQDN -> the pool that serves its users according to the operator's last action.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    #[serde(default)]
    pub served_by: BTreeMap<String, String>,
}

impl Ledger {
    /// Records that `home`'s users are now served by `server`.
    pub fn record(&mut self, home: &str, server: &str) {
        self.served_by.insert(home.to_owned(), server.to_owned());
    }
}
