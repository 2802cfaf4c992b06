//! The manifest parser: a YAML stream or JSON document, as `sfb-dr plan -f FILE` and `-f -`
//! read it (`manifest::load` reads the file or standard input as UTF-8, then calls
//! `parse_into`), then the cross-object checks of whatever parsed.
//!
//! Checks: no panic, no overflow, bounded time and memory; an error always says something, on
//! one line with no control character (a value from the input cannot break it or steer the
//! terminal it is printed on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfb_dr::declared::{desired_state, Declared};
use sfb_dr::manifest::{parse_into, Manifests};

#[path = "printable.rs"]
mod printable;
use printable::assert_printable;

fuzz_target!(|data: &[u8]| {
    // `load` reads with `read_to_string`, which refuses non-UTF-8 before the parser runs.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut manifests = Manifests::default();
    if let Err(e) = parse_into(&mut manifests, text, "fuzz.yaml") {
        assert!(!e.message.is_empty(), "an error without a message: {e:?}");
        assert_printable(&e);
        return;
    }
    let topologies: Vec<_> = manifests.topologies.iter().map(|s| &s.object).collect();
    let sites: Vec<_> = manifests.sites.iter().map(|s| &s.object).collect();
    let pairs: Vec<_> = manifests.pairs.iter().map(|s| &s.object).collect();
    let cms: Vec<_> = manifests.cms.iter().map(|s| &s.object).collect();
    let declared = Declared {
        topologies: &topologies,
        sites: &sites,
        pairs: &pairs,
        cms: &cms,
    };
    if let Err(errors) = desired_state(declared, None) {
        assert!(!errors.is_empty(), "rejected without saying why");
        for e in &errors {
            assert!(!e.message.is_empty(), "an error without a message: {e:?}");
            assert_printable(e);
        }
    }
});
