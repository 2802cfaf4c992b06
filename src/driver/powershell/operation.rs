//! A step under its operation key: at most once per key, across operator crashes and two
//! leaders (the driver contract of [`crate::driver::Driver::execute`]).
//!
//! The management server keeps one record per key, `%ProgramData%\sfb-dr\operations\op-<key>.json`,
//! in a directory only SYSTEM, Administrators and the driver's account may use
//! (`operation.ps1`). The step's script, before its cmdlet:
//! 1. claims the key by creating the record, `Running` with its PowerShell process id and that
//!    process's start time (an id Windows gives to a later process does not pass for it);
//! 2. if another call holds the key, runs nothing and reports that call's record: its outcome
//!    once it has one; while it is `Running` and its process lives, after waiting for it (up to
//!    [`wait_seconds`] of the step's timeout); `Running` with its process gone, as such;
//! 3. otherwise runs the step's checks and cmdlet, and rewrites the record with the outcome:
//!    `Succeeded`, `Failed` (the cmdlet ran and threw) or `Refused` (a check threw first).

use std::time::Duration;

use serde::Deserialize;

use crate::driver::DriverError;
use crate::model::Action;

use super::outcome::{parse_outcome, Outcome};
use super::remote_text::RemoteText;
use super::script::{command, compact, ScriptError, WhatIf, PRELUDE, SFB_MODULE, STARTED};
use super::value::{quote, RecordKey};

/// How long a call finding its key `Running` waits for that first call: three quarters of the
/// step's timeout, so the script reports before ssh is stopped at the timeout itself.
pub fn wait_seconds(timeout: Duration) -> u64 {
    let seconds = timeout.as_secs();
    seconds.saturating_sub(seconds / 4).max(1)
}

/// The script that runs `action` under `key`, waiting at most `wait` seconds for an earlier
/// call under the same key. The key is checked again here ([`RecordKey`]), whatever the caller
/// checked, because it becomes a file name and a literal.
pub fn execute_script(key: &str, action: &Action, wait: u64) -> Result<String, ScriptError> {
    let key = RecordKey::parse(key)?;
    let c = command(action, WhatIf::No)?;
    let cmdlet = quote(c.cmdlet);
    Ok(compact(&format!(
        "{PRELUDE}[Console]::Out.WriteLine('{STARTED}')\n\
         $sfbdrKey = {key}\n\
         $sfbdrWaitSeconds = {wait}\n\
         $sfbdrActed = $false\n\
         {functions}\n\
         try {{\n\
         $sfbdrOperation = Enter-SfbDrOperation -Key $sfbdrKey -Cmdlet {cmdlet} -WaitSeconds $sfbdrWaitSeconds\n\
         }} catch {{\n\
         Write-SfbDrResult @{{ error = @{{ cmdlet = 'sfb-dr operation record'; message = [string]$_.Exception.Message; acted = $false }} }}\n\
         exit 1\n\
         }}\n\
         if (-not $sfbdrOperation.Owned) {{\n\
         Write-SfbDrResult @{{ record = $sfbdrOperation.Report }}\n\
         exit 0\n\
         }}\n\
         $sfbdrState = 'Succeeded'\n\
         $sfbdrCmdlet = {cmdlet}\n\
         $sfbdrMessage = ''\n\
         try {{\n\
         Import-Module {SFB_MODULE} -ErrorAction Stop\n\
         {checks}\n\
         $sfbdrActed = $true\n\
         {body}\n\
         }} catch {{\n\
         if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand) {{ $sfbdrCmdlet = [string]$_.InvocationInfo.MyCommand.Name }}\n\
         $sfbdrMessage = [string]$_.Exception.Message\n\
         $sfbdrState = 'Refused'\n\
         if ($sfbdrActed) {{ $sfbdrState = 'Failed' }}\n\
         }}\n\
         $sfbdrRecorded = Complete-SfbDrOperation -Operation $sfbdrOperation -State $sfbdrState -Cmdlet $sfbdrCmdlet -Message $sfbdrMessage\n\
         if ($sfbdrState -eq 'Succeeded') {{\n\
         Write-SfbDrResult @{{ ok = $true; recorded = $sfbdrRecorded }}\n\
         exit 0\n\
         }}\n\
         Write-SfbDrResult @{{ error = @{{ cmdlet = $sfbdrCmdlet; message = $sfbdrMessage; acted = $sfbdrActed }}; recorded = $sfbdrRecorded }}\n\
         exit 1\n",
        key = quote(key.as_str()),
        functions = include_str!("operation.ps1"),
        checks = c.checks,
        body = c.body,
    )))
}

/// Where an earlier call under the same key was, as its record says.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
enum RecordState {
    Running,
    Succeeded,
    Failed,
    Refused,
    /// A record exists but could not be read for as long as the script waited.
    Unreadable,
}

/// An earlier call's record, as the script reports it.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Record {
    state: RecordState,
    alive: bool,
    pid: String,
    cmdlet: String,
    message: String,
    started: String,
    finished: String,
}

/// The result of [`execute_script`], for the driver: `Ok` when the step succeeded, under this
/// call or the first call with its key; else the error saying what may have happened.
/// `wait` is how long the script waited for a first call still running.
pub fn read_result(
    host: &str,
    key: &str,
    what: &str,
    stdout: &str,
    wait: u64,
) -> Result<Recorded, DriverError> {
    let value = match parse_outcome(host, stdout)? {
        Outcome::Failed {
            cmdlet,
            message,
            acted,
        } => {
            let text = format!("{cmdlet} on {host}: {message}");
            return Err(match acted {
                Some(false) => DriverError::Refused(format!("{text} (nothing was changed)")),
                Some(true) | None => DriverError::Failed(text),
            });
        }
        Outcome::Succeeded(value) => value,
    };
    if value.get("ok") == Some(&serde_json::Value::Bool(true)) {
        return Ok(match value.get("recorded") {
            Some(serde_json::Value::Bool(false)) => Recorded::NotRewritten,
            _ => Recorded::Yes,
        });
    }
    let Some(record) = value.get("record") else {
        return Err(DriverError::BadOutput(format!(
            "{host}: {what} printed {} instead of its result",
            RemoteText::excerpt(&value.to_string())
        )));
    };
    let record: Record = serde_json::from_value(record.clone()).map_err(|e| {
        DriverError::BadOutput(format!(
            "{host}: the record of operation {key} is malformed: {}",
            RemoteText::excerpt(&e.to_string())
        ))
    })?;
    let shown = RemoteText::excerpt;
    let first = format!(
        "operation {key} already ran on {host} (process {}, started {}",
        shown(&record.pid),
        shown(&record.started)
    );
    match (record.state, record.alive) {
        (RecordState::Succeeded, _) => {
            tracing::info!(host, key, finished = %shown(&record.finished), "the step had already succeeded under this key; not run again");
            Ok(Recorded::Replayed)
        }
        (RecordState::Failed, _) => Err(DriverError::Failed(format!(
            "{first}): {} failed: {}",
            shown(&record.cmdlet),
            RemoteText::message(&record.message)
        ))),
        (RecordState::Refused, _) => Err(DriverError::Refused(format!(
            "{first}): {} refused before changing anything: {}",
            shown(&record.cmdlet),
            RemoteText::message(&record.message)
        ))),
        (RecordState::Running, false) => Err(DriverError::OutcomeUnknown(format!(
            "{first}) and its record still says Running, but that process is gone: the step may or may not have run; observe before deciding"
        ))),
        (RecordState::Running, true) => Err(DriverError::Timeout {
            what: format!(
                "waiting on {host} for operation {key}, still running in process {} since {}",
                shown(&record.pid),
                shown(&record.started)
            ),
            seconds: wait,
        }),
        (RecordState::Unreadable, _) => Err(DriverError::OutcomeUnknown(format!(
            "{host}: the record of operation {key} exists but cannot be read: the step may or may not have run; observe before deciding"
        ))),
    }
}

/// How a successful step was recorded on the management server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// This call ran the step and rewrote its record.
    Yes,
    /// This call ran the step but could not rewrite its record, which stays `Running`: a later
    /// call under the same key will read "outcome unknown".
    NotRewritten,
    /// An earlier call under this key had run it; nothing ran now.
    Replayed,
}
