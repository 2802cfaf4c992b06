//! Prometheus's own `promtool` (Debian's `prometheus` package; `.ci/run` installs it), run on
//! what we produce: the operator's `/metrics` and deploy/monitoring's alert rules.
#![allow(dead_code)] // Each test crate uses a part.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool args...` with `input` on its standard input; its success and output
/// (stdout then stderr). A missing promtool is a failure that says how to get it.
pub fn run(args: &[&str], input: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool cannot be run ({e}): install Debian's prometheus package (apt-get install prometheus), as .ci/run does")
        });
    if let Some(text) = input {
        child
            .stdin
            .take()
            .expect("a stdin")
            .write_all(text.as_bytes())
            .expect("promtool reads its input");
    }
    let out = child.wait_with_output().expect("promtool ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
