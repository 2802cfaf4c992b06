//! A fake `ssh` for the PowerShell driver's tests: a shell script that records its arguments,
//! its standard input, the key file's mode and contents, and answers from files the test wrote.
//!
//! In server mode ([`FakeSsh::keep_records`]) it also stands in for the management server's
//! operation records between calls: it reads the operation key and the wait from the script it
//! was sent and answers as the script's record logic would (the logic itself is PowerShell,
//! shown by the golden scripts; what this exercises is the driver's side of it). A call that
//! claims a key appends the key to `cmdlets.log`, once per cmdlet actually run.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use sfb_dr::driver::powershell::{Credentials, PowerShellDriver};

pub const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
b3BlbnNzaC1rZXktdjEAAAAAU0VDUkVUS0VZTUFURVJJQUxub3RhcmVhbGtleQ==\n\
-----END OPENSSH PRIVATE KEY-----\n";
pub const KEY_BODY: &str = "b3BlbnNzaC1rZXktdjEAAAAAU0VDUkVUS0VZTUFURVJJQUxub3RhcmVhbGtleQ==";
pub const KNOWN_HOSTS: &str =
    "mgmt.contoso.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTests\n";

const FAKE_SSH: &str = r#"#!/bin/sh
root="$(dirname "$0")"
n=$(cat "$root/count" 2>/dev/null || echo 0)
echo $((n + 1)) > "$root/count"
call="$root/calls/$n"
mkdir -p "$call"
prev=''
last=''
for a in "$@"; do
  printf '%s\n' "$a" >> "$call/args"
  case "$prev" in
    -i) cp "$a" "$call/key"; stat -c %a "$a" > "$call/key.mode"
        stat -c %a "$(dirname "$a")" > "$call/dir.mode"; printf '%s' "$a" > "$call/key.path" ;;
    -o) case "$a" in UserKnownHostsFile=*) cp "${a#UserKnownHostsFile=}" "$call/known_hosts" ;; esac ;;
  esac
  prev="$a"
  last="$a"
done
cat > "$call/stdin"
if [ -s "$call/stdin" ]; then cp "$call/stdin" "$call/script"
else printf '%s' "$last" | base64 -d 2>/dev/null | iconv -f UTF-16LE -t UTF-8 > "$call/script" 2>/dev/null
fi
reply="$root/replies/$n"
echo $$ > "$call/pid"
# Everything is recorded: a test may now let this call time out.
: > "$call/ready"
if [ -e "$reply.hang" ]; then exec sleep 600; fi
key=$(sed -n "s/^\$sfbdrKey = '\(.*\)'\$/\1/p" "$call/script")
if [ -e "$root/server" ] && [ -n "$key" ]; then
  wait=$(sed -n 's/^\$sfbdrWaitSeconds = \([0-9]*\)$/\1/p' "$call/script")
  rec="$root/records/$key"
  mkdir -p "$root/records"
  echo 'sfb-dr: started'
  if ( set -C; echo "Running $$" > "$rec" ) 2>/dev/null; then
    echo "$key" >> "$root/cmdlets.log"
    while [ -e "$root/hold" ]; do sleep 0.02; done
    if [ -e "$root/fail" ]; then
      echo "Failed $$" > "$rec"
      echo '{"error":{"cmdlet":"Invoke-CsPoolFailOver","message":"The pool is not ready.","acted":true},"recorded":true}'
      exit 1
    fi
    echo "Succeeded $$" > "$rec"
    echo '{"ok":true,"recorded":true}'
    exit 0
  fi
  deadline=$(( $(date +%s) + ${wait:-0} ))
  while :; do
    read state pid < "$rec"
    alive=false
    if [ "$state" = Running ] && kill -0 "$pid" 2>/dev/null; then alive=true; : > "$call/waited"; fi
    if [ "$state" != Running ] || [ "$alive" = false ] || [ "$(date +%s)" -ge "$deadline" ]; then
      printf '{"record":{"State":"%s","Alive":%s,"Pid":"%s","Cmdlet":"Invoke-CsPoolFailOver","Message":"","Started":"2024-05-01T10:00:00Z","Finished":""}}\n' "$state" "$alive" "$pid"
      exit 0
    fi
    sleep 0.02
  done
fi
if [ -e "$reply.err" ]; then cat "$reply.err" >&2; fi
if [ -e "$reply.stream" ]; then head -c "$(cat "$reply.stream")" /dev/zero; fi
if [ -e "$reply.out" ]; then cat "$reply.out"; fi
exit "$(cat "$reply.code" 2>/dev/null || echo 0)"
"#;

/// A fake ssh in its own directory, with the answers for each call in turn.
pub struct FakeSsh {
    pub root: tempfile::TempDir,
}

impl Default for FakeSsh {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeSsh {
    pub fn new() -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let program = root.path().join("ssh");
        std::fs::write(&program, FAKE_SSH).expect("write fake ssh");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::create_dir(root.path().join("replies")).expect("replies");
        FakeSsh { root }
    }

    pub fn program(&self) -> PathBuf {
        self.root.path().join("ssh")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn reply_base(&self, call: usize) -> PathBuf {
        self.path("replies").join(call.to_string())
    }

    pub fn reply(&self, call: usize, stdout: &str, code: i32) {
        let base = self.reply_base(call);
        std::fs::write(base.with_extension("out"), stdout).expect("reply");
        std::fs::write(base.with_extension("code"), code.to_string()).expect("code");
    }

    pub fn stderr(&self, call: usize, text: &str) {
        std::fs::write(self.reply_base(call).with_extension("err"), text).expect("stderr");
    }

    pub fn hang(&self, call: usize) {
        std::fs::write(self.reply_base(call).with_extension("hang"), "").expect("hang");
    }

    /// Call `call` writes `bytes` NUL bytes to standard output before its reply.
    pub fn stream(&self, call: usize, bytes: u64) {
        std::fs::write(
            self.reply_base(call).with_extension("stream"),
            bytes.to_string(),
        )
        .expect("stream");
    }

    /// From now on the fake keeps operation records between calls, as the management server.
    pub fn keep_records(&self) {
        std::fs::write(self.path("server"), "").expect("server mode");
    }

    /// While held, a call that claims its key blocks before its cmdlet finishes.
    pub fn hold(&self) {
        std::fs::write(self.path("hold"), "").expect("hold");
    }

    pub fn release(&self) {
        std::fs::remove_file(self.path("hold")).expect("release");
    }

    /// The cmdlet of a call that claims its key fails.
    pub fn fail_cmdlets(&self) {
        std::fs::write(self.path("fail"), "").expect("fail");
    }

    /// Writes the record of `key` as the server would hold it.
    pub fn seed_record(&self, key: &str, state: &str, pid: u32) {
        std::fs::create_dir_all(self.path("records")).expect("records");
        std::fs::write(self.path("records").join(key), format!("{state} {pid}\n")).expect("record");
    }

    /// Whether call `n` found its key held by a live first call and waited for it.
    pub fn waited(&self, n: usize) -> bool {
        self.path("calls")
            .join(n.to_string())
            .join("waited")
            .exists()
    }

    /// The record of `key` as "State Pid", if there is one.
    pub fn record(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.path("records").join(key))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// The keys whose cmdlet ran, in order, once per run.
    pub fn cmdlets_run(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("cmdlets.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits, on a blocking thread, until call `n` has recorded everything and blocks. Started
    /// before the call and awaited after it: while it waits, a paused clock stands still, so the
    /// call's timeout cannot fire before the fake ssh is ready.
    pub fn when_ready(&self, n: usize) -> tokio::task::JoinHandle<()> {
        let ready = self.path("calls").join(n.to_string()).join("ready");
        tokio::task::spawn_blocking(move || {
            wait_until(&format!("fake ssh call {n} ready"), || ready.exists())
        })
    }

    pub fn calls(&self) -> usize {
        std::fs::read_to_string(self.path("count"))
            .map(|s| s.trim().parse().expect("count"))
            .unwrap_or(0)
    }

    pub fn call(&self, n: usize, file: &str) -> String {
        std::fs::read_to_string(self.path("calls").join(n.to_string()).join(file))
            .unwrap_or_else(|e| panic!("call {n} {file}: {e}"))
    }

    pub fn args(&self, n: usize) -> Vec<String> {
        self.call(n, "args").lines().map(str::to_owned).collect()
    }

    /// What call `n` received on standard input.
    pub fn stdin(&self, n: usize) -> String {
        self.call(n, "stdin")
    }

    /// The `-EncodedCommand` of call `n`, decoded.
    pub fn encoded_command(&self, n: usize) -> String {
        let args = self.args(n);
        super::common::decode_encoded_command(args.last().expect("the encoded command"))
    }

    /// The script PowerShell would have run: the encoded command, or for a script that came
    /// on standard input, that input.
    pub fn script(&self, n: usize) -> String {
        let stdin = self.stdin(n);
        if stdin.is_empty() {
            self.encoded_command(n)
        } else {
            stdin
        }
    }

    /// Checks how call `n` handled the credentials, and that the key is gone afterwards.
    pub fn assert_credentials_handled(&self, n: usize) {
        assert_eq!(self.call(n, "key.mode").trim(), "600", "key file mode");
        assert_eq!(self.call(n, "dir.mode").trim(), "700", "key directory mode");
        assert_eq!(self.call(n, "key"), KEY);
        assert_eq!(self.call(n, "known_hosts"), KNOWN_HOSTS);
        let key = PathBuf::from(self.call(n, "key.path"));
        assert!(!key.exists(), "{} is removed after the call", key.display());
        assert!(!key.parent().is_some_and(Path::exists), "its directory too");
    }

    /// A driver for mgmt.contoso.com:2222 that runs this fake as its ssh.
    pub fn driver(&self) -> PowerShellDriver {
        let spec: sfb_dr::api::PowerShellDriver = serde_json::from_value(json!({
            "host": "mgmt.contoso.com", "port": 2222, "user": "CONTOSO\\svc-sfbdr",
            "credentialsSecretRef": {"name": "sfb-mgmt-ssh"}
        }))
        .expect("spec");
        PowerShellDriver::new(&spec, Credentials::new(KEY, KNOWN_HOSTS))
            .expect("valid config")
            .with_ssh_program(self.program())
    }
}

/// Polls `done` until it holds, failing with `what` after a minute. A blocking wait (not a tokio
/// sleep), so that it also holds a paused clock still.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/powershell/{name}")).expect("fixture")
}
