//! Running a script on the Windows management server through the OpenSSH client.
//!
//! The script travels as `-EncodedCommand` (base64 of UTF-16LE), so no quoting passes through
//! the remote shell. Host keys are always checked against the given `known_hosts` and nothing
//! else (no global known_hosts file); the private
//! key is written to a 0600 file in a private directory that is removed when the call ends,
//! whether it succeeded, failed or timed out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;

use crate::driver::DriverError;

use super::credentials::Credentials;
use super::script::STARTED;
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

/// What the remote side printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit status; None when a signal ended ssh.
    pub status: Option<i32>,
    /// Where the script's result line is.
    pub stdout: String,
    /// PowerShell's error stream and ssh's own messages.
    pub stderr: String,
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
        .args([
            "powershell.exe",
            "-NoProfile",
            "-NonInteractive",
            "-EncodedCommand",
        ])
        .arg(encode_command(script))
        // ssh's messages in English, whatever the locale, so `before_session` can read them.
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tracing::debug!(host = %host, port = target.port, what, "running over ssh");
    let child = command
        .spawn()
        .map_err(|e| local(&format!("start {}", program.display()), e))?;
    // On timeout the child is dropped, and kill_on_drop kills it. That stops only the local
    // ssh: the script may already run on the server, and may go on running.
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(result) => result.map_err(|e| {
            DriverError::OutcomeUnknown(format!(
                "{what} on {host}: cannot read the ssh output after sending the script: {e}"
            ))
        })?,
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
    let output = Output {
        status: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    drop(dir);
    if output.status == Some(SSH_FAILED) {
        let message = format!(
            "{what}: ssh to {}@{host}:{} failed: {}",
            target.user,
            target.port,
            tail(&output.stderr)
        );
        let started = output.stdout.lines().any(|l| l.trim() == STARTED);
        return Err(if !started && before_session(&output.stderr) {
            DriverError::Unreachable(message)
        } else {
            DriverError::OutcomeUnknown(format!(
                "{message} (the script may have been sent and run: observe before retrying)"
            ))
        });
    }
    tracing::debug!(host = %host, what, status = ?output.status, "ssh finished");
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

/// The last lines of ssh's stderr, enough to say what failed (ssh never prints key material).
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
        text.chars().take(400).collect()
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
