//! A hostile management server streaming 256 MiB costs the operator a bounded amount of memory:
//! the process's own peak (VmHWM), in a test binary of its own so nothing else moves it.

mod common;
mod fake_ssh;

use std::time::Duration;

use fake_ssh::{FakeSsh, KEY, KNOWN_HOSTS};
use sfb_dr::driver::powershell::transport::{self, Target};
use sfb_dr::driver::powershell::value::Fqdn;
use sfb_dr::driver::powershell::Credentials;

/// The process's peak resident memory so far, in bytes.
fn peak_resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

#[tokio::test]
async fn streaming_256_mib_of_output_raises_peak_memory_by_less_than_64_mib() {
    const STREAMED: u64 = 256 * 1024 * 1024;
    let fake = FakeSsh::new();
    fake.stream(0, STREAMED);
    fake.reply(0, "\n{\"ok\":true}\n", 0);
    let before = peak_resident();
    let out = transport::run(
        &fake.program(),
        &Target {
            host: Fqdn::parse("management server FQDN", "mgmt.contoso.com").expect("fqdn"),
            port: 22,
            user: "svc".into(),
        },
        &Credentials::new(KEY, KNOWN_HOSTS),
        "x",
        Duration::from_secs(300),
        "test",
    )
    .await
    .expect("runs");
    let after = peak_resident();
    assert_eq!(out.stdout_bytes, STREAMED + 13, "all of it was read");
    let grew = after.saturating_sub(before);
    eprintln!(
        "peak resident memory {} MiB before, {} MiB after streaming {} MiB (held at once: {} KiB)",
        before >> 20,
        after >> 20,
        STREAMED >> 20,
        out.peak_buffered >> 10
    );
    assert!(
        grew < 64 * 1024 * 1024,
        "peak memory grew by {} MiB",
        grew >> 20
    );
}
