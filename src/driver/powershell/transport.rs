//! Running a script on the Windows management server through the OpenSSH client.
//!
//! Windows OpenSSH runs the remote command through cmd.exe, whose command line holds 8191
//! characters. A script that fits travels as `-EncodedCommand` (base64 of UTF-16LE), so no
//! quoting passes through the remote shell. A longer one travels on standard input, as UTF-8,
//! behind a short `-EncodedCommand` bootstrap that reads all of it, checks that all of it
//! arrived, and only then runs it: a script cut short by a lost connection never runs half-way.
//!
//! Host keys are always checked against the given `known_hosts` and nothing else (no global
//! known_hosts file); the private key is written to a 0600 file in a private directory that is
//! removed when the call ends, whether it succeeded, failed or timed out. What the remote side
//! prints is read with caps ([`super::capture`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use tokio::io::AsyncWriteExt;

use crate::driver::DriverError;

use super::capture::{capture, Captured, STDERR_CAPS, STDOUT_CAPS};
use super::credentials::Credentials;
use super::remote_text::RemoteText;
use super::value::Fqdn;

/// Where to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The Windows management server.
    pub host: Fqdn,
    /// Its SSH port.
    pub port: u16,
    /// The account, checked by [`check_user`].
    pub user: String,
}

/// Checks an account name for `user@host`: a Windows or UPN account such as `CONTOSO\svc-sfbdr`
/// or `svc-sfbdr@contoso.com`, never an ssh option.
pub fn check_user(user: &str) -> Result<(), String> {
    let ok = !user.is_empty()
        && user.len() <= 104
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'\\' | b'@'));
    if ok {
        Ok(())
    } else {
        Err("user must be an account name of letters, digits, '.', '_', '-', '\\' or '@', not starting with '-'".into())
    }
}

/// `script` as `powershell.exe -EncodedCommand` takes it: base64 of its UTF-16LE bytes.
pub fn encode_command(script: &str) -> String {
    let bytes: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How a script reaches PowerShell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The whole script as `-EncodedCommand`: it fits on the command line.
    EncodedCommand,
    /// A bootstrap as `-EncodedCommand`, the script on standard input.
    StandardInput,
}

/// The longest command line cmd.exe accepts, in characters.
pub const COMMAND_LINE_LIMIT: usize = 8191;

/// What the remote shell is asked to run, before the encoded script.
const POWERSHELL: [&str; 4] = [
    "powershell.exe",
    "-NoProfile",
    "-NonInteractive",
    "-EncodedCommand",
];

/// The remote command line's length for an encoded command of `encoded` characters.
fn command_line_length(encoded: usize) -> usize {
    POWERSHELL
        .iter()
        .map(|w| w.len().saturating_add(1))
        .fold(encoded, usize::saturating_add)
}

/// How `script` would travel: on the command line when it fits, else on standard input.
pub fn delivery(script: &str) -> Delivery {
    // base64 of UTF-16LE: 4 characters for every 3 bytes, 2 bytes a UTF-16 unit.
    let units = script.encode_utf16().count();
    let encoded = units.saturating_mul(2).div_ceil(3).saturating_mul(4);
    if command_line_length(encoded) <= COMMAND_LINE_LIMIT {
        Delivery::EncodedCommand
    } else {
        Delivery::StandardInput
    }
}

/// The short script that reads a script from standard input as UTF-8 and runs it, but only if
/// all `units` UTF-16 units of it arrived: a script cut short is refused whole, never run in part.
pub fn stdin_bootstrap(units: usize) -> String {
    format!(
        "$ErrorActionPreference = 'Stop'\n\
         $sfbdrIn = New-Object System.IO.StreamReader([Console]::OpenStandardInput(), (New-Object System.Text.UTF8Encoding $false))\n\
         $sfbdrScript = $sfbdrIn.ReadToEnd()\n\
         if ($sfbdrScript.Length -ne {units}) {{ [Console]::Out.WriteLine('{{\"error\":{{\"cmdlet\":\"sfb-dr\",\"message\":\"the script arrived incomplete; nothing was run\",\"acted\":false}}}}'); exit 1 }}\n\
         & ([scriptblock]::Create($sfbdrScript))\n"
    )
}

/// What travels for `script`: the `-EncodedCommand` argument, and the bytes for standard input
/// when the script goes there.
fn wire(script: &str) -> (String, Option<Vec<u8>>) {
    match delivery(script) {
        Delivery::EncodedCommand => (encode_command(script), None),
        Delivery::StandardInput => (
            encode_command(&stdin_bootstrap(script.encode_utf16().count())),
            Some(script.as_bytes().to_vec()),
        ),
    }
}

/// What the remote side printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit status; None when a signal ended ssh.
    pub status: Option<i32>,
    /// Where the script's result line is: the start and the end of standard output, whole
    /// lines only (see [`Captured::text`]).
    pub stdout: String,
    /// PowerShell's error stream and ssh's own messages, likewise capped.
    pub stderr: String,
    /// Whether the script printed its "started" line.
    pub started: bool,
    /// Bytes the remote side wrote to standard output, kept or not.
    pub stdout_bytes: u64,
    /// The most bytes of output held in memory at once while reading.
    pub peak_buffered: usize,
    /// How the script travelled.
    pub delivery: Delivery,
}

impl Output {
    fn new(status: Option<i32>, stdout: &Captured, stderr: &Captured, delivery: Delivery) -> Self {
        Output {
            status,
            stdout: stdout.text(),
            stderr: stderr.text(),
            started: stdout.started(),
            stdout_bytes: stdout.total(),
            peak_buffered: stdout.peak().saturating_add(stderr.peak()),
            delivery,
        }
    }
}

/// The ssh exit status for its own failures (connection, authentication, host key).
const SSH_FAILED: i32 = 255;

/// Runs `script` on `target` with `ssh` at `program`, within `timeout`. `what` names the call in
/// errors ("Invoke-CsPoolFailOver", "observe").
pub async fn run(
    program: &Path,
    target: &Target,
    credentials: &Credentials,
    script: &str,
    timeout: Duration,
    what: &str,
) -> Result<Output, DriverError> {
    let host = &target.host;
    let local = |step: &str, e: std::io::Error| {
        DriverError::Unreachable(format!("{what} on {host}: cannot {step}: {e}"))
    };
    // Dropped at the end of this function on every path, which removes the key file.
    let mut builder = tempfile::Builder::new();
    builder.prefix("sfb-dr-ssh-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    let dir = builder
        .tempdir()
        .map_err(|e| local("create a private directory for the SSH key", e))?;
    let key = private_file(dir.path(), "id", credentials.private_key())
        .map_err(|e| local("write the SSH key file", e))?;
    let known_hosts = private_file(dir.path(), "known_hosts", credentials.known_hosts())
        .map_err(|e| local("write the known_hosts file", e))?;
    let (encoded, input) = wire(script);
    let delivery = match input {
        Some(_) => Delivery::StandardInput,
        None => Delivery::EncodedCommand,
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(["-F", "none", "-T"])
        .args(["-o", "BatchMode=yes"])
        .args(["-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        // Only the Secret's host keys are trusted, not the operator image's /etc/ssh ones.
        .args(["-o", "GlobalKnownHostsFile=/dev/null"])
        .args(["-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30"])
        .arg("-i")
        .arg(&key)
        .arg("-p")
        .arg(target.port.to_string())
        .arg("--")
        .arg(format!("{}@{}", target.user, host))
        .args(POWERSHELL)
        .arg(encoded)
        // ssh's messages in English, whatever the locale, so `before_session` can read them.
        .env("LC_ALL", "C")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tracing::debug!(host = %host, port = target.port, what, ?delivery, "running over ssh");
    let mut child = command
        .spawn()
        .map_err(|e| local(&format!("start {}", program.display()), e))?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
        return Err(local("read ssh's output", std::io::Error::other("no pipe")));
    };
    let feed = async move {
        if let (Some(mut pipe), Some(bytes)) = (stdin, input) {
            // A failed write shows as ssh's own failure or as an incomplete script, which the
            // bootstrap refuses to run; closing the pipe is what lets the bootstrap finish reading.
            let _ = pipe.write_all(&bytes).await;
            let _ = pipe.shutdown().await;
        }
    };
    let work = async {
        let (_, out, err, status) = tokio::join!(
            feed,
            capture(stdout, STDOUT_CAPS),
            capture(stderr, STDERR_CAPS),
            child.wait()
        );
        (out, err, status)
    };
    // On timeout the child is dropped, and kill_on_drop kills it. That stops only the local
    // ssh: the script may already run on the server, and may go on running.
    let (out, err, status) = match tokio::time::timeout(timeout, work).await {
        Ok(done) => done,
        Err(_) => {
            tracing::warn!(
                host = %host,
                what,
                seconds = timeout.as_secs(),
                "timed out; ssh killed, the script may still run on the server"
            );
            return Err(DriverError::Timeout {
                what: format!("{what} on {host}"),
                seconds: timeout.as_secs(),
            });
        }
    };
    let status = status.map_err(|e| {
        DriverError::OutcomeUnknown(format!(
            "{what} on {host}: cannot learn how ssh ended after sending the script: {e}"
        ))
    })?;
    let output = Output::new(status.code(), &out, &err, delivery);
    drop(dir);
    if output.status == Some(SSH_FAILED) {
        let message = format!(
            "{what}: ssh to {}@{host}:{} failed: {}",
            target.user,
            target.port,
            tail(&output.stderr)
        );
        return Err(if !output.started && before_session(&output.stderr) {
            DriverError::Unreachable(message)
        } else {
            DriverError::OutcomeUnknown(format!(
                "{message} (the script may have been sent and run: observe before retrying)"
            ))
        });
    }
    tracing::debug!(host = %host, what, status = ?output.status, bytes = output.stdout_bytes, "ssh finished");
    Ok(output)
}

/// The OpenSSH client's messages for failures before a session exists: connecting, the host
/// key, authentication. When ssh ends with one of these the script was never sent.
const BEFORE_SESSION: [&str; 8] = [
    "ssh: connect to host ",
    "ssh: Could not resolve hostname",
    "Host key verification failed",
    "Permission denied (",
    "Too many authentication failures",
    "kex_exchange_identification:",
    "ssh_exchange_identification:",
    "Unable to negotiate with",
];

/// Whether ssh's stderr says it failed before a session existed. Any other failure (such as
/// "Connection to ... closed by remote host" or "client_loop: send disconnect") may have come
/// after the script was sent, and is not taken as "nothing happened".
fn before_session(stderr: &str) -> bool {
    BEFORE_SESSION.iter().any(|m| stderr.contains(m))
}

/// The last lines of ssh's stderr, enough to say what failed (ssh never prints key material),
/// escaped and bounded: PowerShell's error stream is remote text too.
pub fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(3);
    let text = lines[start..].join(" / ");
    if text.is_empty() {
        "no message".into()
    } else {
        RemoteText::message(&text).into_string()
    }
}

/// Writes `contents` to a new file readable by its owner only (ssh refuses a key others can read).
fn private_file(dir: &Path, name: &str, contents: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(contents.as_bytes())?;
    if !contents.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    file.sync_all()?;
    Ok(path)
}
