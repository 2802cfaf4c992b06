//! How a script reaches PowerShell and how its answer is read: on the command line when it
//! fits cmd.exe's 8191 characters, else on standard input behind a bootstrap; and whatever the
//! server prints, a bounded amount of it is held.

mod common;
mod fake_ssh;

use std::time::Duration;

use fake_ssh::{FakeSsh, KEY, KNOWN_HOSTS};
use sfb_dr::driver::powershell::capture::{STDERR_CAPS, STDOUT_CAPS};
use sfb_dr::driver::powershell::transport::{self, stdin_bootstrap, Target};
use sfb_dr::driver::powershell::value::Fqdn;
use sfb_dr::driver::powershell::{Credentials, Delivery};
use sfb_dr::driver::{Driver, DriverError, OperationKey};
use sfb_dr::model::{Action, Mode};

fn target() -> Target {
    Target {
        host: Fqdn::parse("management server FQDN", "mgmt.contoso.com").expect("fqdn"),
        port: 22,
        user: "svc".into(),
    }
}

async fn run(fake: &FakeSsh, script: &str) -> transport::Output {
    transport::run(
        &fake.program(),
        &target(),
        &Credentials::new(KEY, KNOWN_HOSTS),
        script,
        Duration::from_secs(120),
        "test",
    )
    .await
    .expect("runs")
}

#[tokio::test]
async fn a_short_script_travels_on_the_command_line_and_a_long_one_on_standard_input() {
    let fake = FakeSsh::new();
    let short = "[Console]::Out.WriteLine('{\"ok\":true}')\n";
    let long = format!("# {}\n{short}", "x".repeat(9000));
    fake.reply(0, "{\"ok\":true}\n", 0);
    fake.reply(1, "{\"ok\":true}\n", 0);
    let out = run(&fake, short).await;
    assert_eq!(out.delivery, Delivery::EncodedCommand);
    assert_eq!(fake.encoded_command(0), short);
    assert_eq!(fake.stdin(0), "", "nothing on standard input");
    let out = run(&fake, &long).await;
    assert_eq!(out.delivery, Delivery::StandardInput);
    assert_eq!(fake.stdin(1), long, "the script whole, as UTF-8");
    let bootstrap = fake.encoded_command(1);
    assert_eq!(bootstrap, stdin_bootstrap(long.encode_utf16().count()));
    assert!(bootstrap.contains(&format!("-ne {}", long.encode_utf16().count())));
    // Both fit the command line cmd.exe runs.
    for n in 0..2 {
        let args = fake.args(n);
        let line: usize = args[args.len() - 5..].iter().map(|a| a.len() + 1).sum();
        assert!(line <= transport::COMMAND_LINE_LIMIT, "call {n}: {line}");
    }
}

#[tokio::test]
async fn output_beyond_the_caps_is_read_in_bounded_memory_and_keeps_its_last_line() {
    const STREAMED: u64 = 256 * 1024 * 1024;
    let fake = FakeSsh::new();
    fake.stream(0, STREAMED);
    fake.reply(0, "\n{\"ok\":true}\n", 0);
    let out = run(&fake, "x").await;
    assert_eq!(out.stdout_bytes, STREAMED + 13);
    let bound = STDOUT_CAPS.head + STDOUT_CAPS.tail + STDERR_CAPS.head + STDERR_CAPS.tail;
    assert!(
        out.peak_buffered <= bound,
        "{} bytes held at once for {STREAMED} streamed",
        out.peak_buffered
    );
    assert!(out.stdout.len() <= STDOUT_CAPS.head + STDOUT_CAPS.tail + 1);
    assert!(
        out.stdout.ends_with("\n{\"ok\":true}\n"),
        "the result line survives"
    );
}

#[tokio::test]
async fn a_server_streaming_gigabytes_gets_an_error_not_an_exhausted_operator() {
    let fake = FakeSsh::new();
    fake.stream(0, 64 * 1024 * 1024);
    let step = Action::FailOverPool {
        pool: "pool1.contoso.com".into(),
        mode: Mode::Graceful,
    };
    let key = OperationKey::parse("0123456789abcdef-s1").expect("key");
    match fake.driver().execute(&key, &step).await {
        Err(DriverError::BadOutput(m)) => {
            assert!(m.contains("no JSON result line"), "{m}");
            assert!(
                m.chars().count() < 2_500,
                "{} characters",
                m.chars().count()
            );
            assert!(!m.contains('\0'));
        }
        other => panic!("expected BadOutput, got {other:?}"),
    }
}
