//! The PowerShell driver's output parsers: what the management server printed, read as the
//! driver reads it (`transport` decodes standard output lossily as UTF-8). Every input goes
//! through all three readers: the result line (`outcome::parse_outcome`), the observe report
//! (`observe::parse_observation`, which ends with the observed topology's consistency check) and
//! a step's result with its operation record (`operation::read_result`).
//!
//! Checks: no panic, no overflow, bounded time and memory; a topology the observation accepts
//! passes `ObservedIndex::new` again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfb_dr::driver::powershell::{observe, operation, outcome};
use sfb_dr::model::ObservedIndex;

const HOST: &str = "mgmt.contoso.com";

fuzz_target!(|data: &[u8]| {
    let stdout = String::from_utf8_lossy(data);
    let _ = outcome::parse_outcome(HOST, &stdout);
    if let Ok(topology) = observe::parse_observation(HOST, &stdout) {
        if let Err(e) = ObservedIndex::new(topology) {
            panic!("parse_observation accepted a topology that contradicts itself: {e}");
        }
    }
    let _ = operation::read_result(HOST, "p1a2b3c4-s1", "Invoke-CsPoolFailOver", &stdout, 45);
});
