//! Plan steps as PowerShell: one renderer for the driver's scripts and the runbook of
//! `sfb-dr plan -o powershell`, so what an admin reviews is what the operator runs.
//!
//! Every value passes [`super::value`] before it is written, as a single-quoted literal.

use std::fmt::Write;

use crate::model::{Action, Mode};

use super::value::{quote, Fqdn, ModuleName, SqlInstance, ValueError};

/// Why a step could not be rendered. Nothing has been run when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// A value would not be safe (or correct) in a cmdlet's parameter.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A disaster-mode CMS failover needs the receiving pool's backup SQL Server.
    #[error("a disaster-mode CMS failover into {to} needs its backupSql (server and instance)")]
    MissingBackupSql { to: String },
    /// A mirror SQL Server needs both its FQDN and its instance; half of one is a mistake, not
    /// "no mirror".
    #[error(
        "the backupSql of {to} gives {given} of its mirror but not {missing}: give both mirror fields or neither"
    )]
    HalfMirror {
        to: String,
        given: &'static str,
        missing: &'static str,
    },
}

/// Whether state-changing cmdlets only report what they would do (`-WhatIf`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhatIf {
    /// Run for real.
    #[default]
    No,
    /// Add `-WhatIf` to every state-changing cmdlet that takes it.
    Yes,
}

/// The module that holds the SfB cmdlets (SfB Server 2015 and later).
pub const SFB_MODULE: &str = "SkypeForBusiness";

/// Statements every script starts with: strict mode, so a property a cmdlet does not return
/// (a misspelt or missing `BackupPoolFqdn`) is an error rather than a silent `$null`; stop on
/// the first error; no progress records on the wire; UTF-8 output without a byte-order mark so
/// messages survive the SSH hop.
pub const PRELUDE: &str = "Set-StrictMode -Version Latest\n\
$ErrorActionPreference = 'Stop'\n\
$ProgressPreference = 'SilentlyContinue'\n\
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false\n";

/// The line a driver script prints before anything else: once ssh has passed it on, the script
/// was running, so a connection lost afterwards leaves the outcome unknown.
pub const STARTED: &str = "sfb-dr: started";

/// One step as PowerShell: the cmdlet it runs and the statements that run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The state-changing cmdlet, named in errors.
    pub cmdlet: &'static str,
    /// Statements, one per line.
    pub body: String,
}

/// The common parameters every state-changing cmdlet gets: stop on error, never prompt.
fn confirmed(what_if: WhatIf) -> &'static str {
    match what_if {
        WhatIf::No => " -Confirm:$false -ErrorAction Stop",
        WhatIf::Yes => " -Confirm:$false -ErrorAction Stop -WhatIf",
    }
}

fn pool(value: &str) -> Result<Fqdn, ValueError> {
    Fqdn::parse("pool FQDN", value)
}

fn disaster(mode: Mode) -> &'static str {
    match mode {
        Mode::Graceful => "",
        Mode::Disaster => " -DisasterMode",
    }
}

/// Renders one action (SFB-DR-FACTS "The procedures"): `-PoolFqdn` always names the users' home
/// pool (guard 1).
pub fn command(action: &Action, what_if: WhatIf) -> Result<Command, ScriptError> {
    let suffix = confirmed(what_if);
    Ok(match action {
        Action::RepointEdge { edge, to } => {
            let edge = Fqdn::parse("Edge pool FQDN", edge)?;
            let to = pool(to)?;
            Command {
                cmdlet: "Set-CsEdgeServer",
                body: format!(
                    "Set-CsEdgeServer -Identity {} -Registrar {}{suffix}\n",
                    quote(&format!("EdgeServer:{edge}")),
                    quote(&format!("Registrar:{to}")),
                ),
            }
        }
        Action::FailOverPool { pool: p, mode } => Command {
            cmdlet: "Invoke-CsPoolFailOver",
            body: format!(
                "Invoke-CsPoolFailOver -PoolFqdn {}{}{suffix}\n",
                quote(pool(p)?.as_str()),
                disaster(*mode)
            ),
        },
        Action::FailBackPool { pool: p, mode } => Command {
            cmdlet: "Invoke-CsPoolFailBack",
            body: format!(
                "Invoke-CsPoolFailBack -PoolFqdn {}{}{suffix}\n",
                quote(pool(p)?.as_str()),
                disaster(*mode)
            ),
        },
        Action::SyncBackup { pool: p, module } => {
            let p = pool(p)?;
            let module = ModuleName::parse(module.name())?;
            // Invoke-CsBackupServiceSync takes neither -Confirm nor -WhatIf (cmdlet reference).
            let line = format!(
                "Invoke-CsBackupServiceSync -PoolFqdn {} -BackupModule {} -ErrorAction Stop\n",
                quote(p.as_str()),
                quote(module.as_str())
            );
            let body = match what_if {
                WhatIf::No => line,
                WhatIf::Yes => format!(
                    "# Not run in a what-if runbook: Invoke-CsBackupServiceSync has no -WhatIf.\n# {line}"
                ),
            };
            Command {
                cmdlet: "Invoke-CsBackupServiceSync",
                body,
            }
        }
        Action::FailOverCms {
            to,
            mode,
            backup_sql,
        } => {
            let to = pool(to)?;
            let failover = cms_failover(&to, *mode, backup_sql.as_deref(), suffix)?;
            Command {
                cmdlet: "Invoke-CsManagementServerFailover",
                body: on_receiving_pool(&to, &failover),
            }
        }
    })
}

/// `Invoke-CsManagementServerFailover`: no parameters while the master is up (it waits for
/// replication and makes the source read-only); with the backup SQL Server and `-Force` when the
/// master is lost. `-Force` only in disaster (SFB-DR-FACTS "CMS first").
fn cms_failover(
    to: &Fqdn,
    mode: Mode,
    backup_sql: Option<&crate::model::BackupSql>,
    suffix: &str,
) -> Result<String, ScriptError> {
    match mode {
        Mode::Graceful => Ok(format!("Invoke-CsManagementServerFailover{suffix}")),
        Mode::Disaster => {
            let sql =
                backup_sql.ok_or_else(|| ScriptError::MissingBackupSql { to: to.to_string() })?;
            let server = Fqdn::parse("SQL Server FQDN", &sql.sql_server_fqdn)?;
            let instance = SqlInstance::parse(&sql.sql_instance_name)?;
            let mut line = format!(
                "Invoke-CsManagementServerFailover -BackupSqlServerFqdn {} -BackupSqlInstanceName {}",
                quote(server.as_str()),
                quote(instance.as_str())
            );
            let half = |given, missing| ScriptError::HalfMirror {
                to: to.to_string(),
                given,
                missing,
            };
            match (&sql.mirror_sql_server_fqdn, &sql.mirror_sql_instance_name) {
                (Some(m), Some(i)) => {
                    let m = Fqdn::parse("mirror SQL Server FQDN", m)?;
                    let i = SqlInstance::parse(i)?;
                    let _ = write!(
                        line,
                        " -BackupMirrorSqlServerFqdn {} -BackupMirrorSqlInstanceName {}",
                        quote(m.as_str()),
                        quote(i.as_str())
                    );
                }
                (Some(_), None) => return Err(half("the server", "the instance")),
                (None, Some(_)) => return Err(half("the instance", "the server")),
                (None, None) => {}
            }
            line.push_str(" -Force");
            line.push_str(suffix);
            Ok(line)
        }
    }
}

/// The CMS failover cmdlet runs on a server of the pool that receives the CMS: here when this
/// server is one of them, else through PowerShell remoting on the first of the pool's computers
/// that accepts a session, in `Get-CsPool` order. Only opening the session moves on to the next
/// computer: once one is open the failover runs there once, and its error stops the script, so a
/// failover is never started twice. When no computer accepts, the error names each one tried.
fn on_receiving_pool(to: &Fqdn, failover: &str) -> String {
    let to = quote(to.as_str());
    format!(
        "$receiving = @((Get-CsPool -Identity {to} -ErrorAction Stop).Computers | ForEach-Object {{ [string]$_ }})\n\
         if ($receiving.Count -eq 0) {{ throw ('Get-CsPool lists no computers in ' + {to}) }}\n\
         $here = [System.Net.Dns]::GetHostEntry('').HostName\n\
         if ($receiving -contains $here) {{\n    \
             {failover}\n\
         }} else {{\n    \
             $session = $null\n    \
             $tried = @()\n    \
             foreach ($computer in $receiving) {{ try {{ $session = New-PSSession -ComputerName $computer -ErrorAction Stop; break }} catch {{ $tried += $computer + ': ' + $_.Exception.Message }} }}\n    \
             if ($null -eq $session) {{ throw ('No computer of ' + {to} + ' accepted PowerShell remoting. Tried ' + ($tried -join '; ')) }}\n    \
             try {{\n        \
                 Invoke-Command -Session $session -ErrorAction Stop -ScriptBlock {{\n            \
                     Import-Module {SFB_MODULE} -ErrorAction Stop\n            \
                     {failover}\n        \
                 }}\n    \
             }} finally {{ Remove-PSSession -Session $session -ErrorAction SilentlyContinue }}\n\
         }}\n"
    )
}

/// The script as it goes on the wire: no comment lines, no indentation. Windows OpenSSH runs the
/// remote command through cmd.exe, whose command line holds 8191 characters, and base64 of
/// UTF-16 takes 8 characters for every 3 of script.
pub fn compact(script: &str) -> String {
    script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .fold(String::with_capacity(script.len()), |mut out, l| {
            out.push_str(l);
            out.push('\n');
            out
        })
}

/// A complete script that prints [`STARTED`], runs `body` and prints exactly one JSON line:
/// `success` when the body finished, else `{"error":{"cmdlet":...,"message":...}}` with the
/// failing command's name (or `label`) and its own message, so the driver can tell the two
/// apart however chatty the cmdlets are.
pub fn guarded(label: &str, body: &str, success: &str) -> String {
    compact(&format!(
        "{PRELUDE}[Console]::Out.WriteLine('{STARTED}')\n\
         try {{\n\
         Import-Module {SFB_MODULE} -ErrorAction Stop\n\
         {body}\n\
         {success}\n\
         }} catch {{\n\
         $name = {}\n\
         if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand) {{ $name = [string]$_.InvocationInfo.MyCommand.Name }}\n\
         [Console]::Out.WriteLine((ConvertTo-Json -InputObject @{{ error = @{{ cmdlet = $name; message = [string]$_.Exception.Message }} }} -Depth 4 -Compress))\n\
         exit 1\n\
         }}\n",
        quote(label)
    ))
}

/// The script the driver runs for one step: the step's statements, then `{"ok":true}`.
pub fn execute_script(action: &Action) -> Result<String, ScriptError> {
    let c = command(action, WhatIf::No)?;
    Ok(guarded(
        c.cmdlet,
        &c.body,
        "[Console]::Out.WriteLine('{\"ok\":true}')",
    ))
}
