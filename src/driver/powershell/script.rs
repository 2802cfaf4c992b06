//! Plan steps as PowerShell: one renderer for the driver's scripts and the runbook of
//! `sfb-dr plan -o powershell`, so what an admin reviews is what the operator runs.
//!
//! Every value passes [`super::value`] before it is written, as a single-quoted literal.

use crate::model::{Action, Mode};

use super::cms_failover;
use super::value::{quote, Fqdn, ModuleName, SiteName, ValueError};

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
    /// A person's step: no script carries it out.
    #[error("no script does this, it is a person's step: {0}")]
    Manual(String),
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

/// `Get-SfbDrProbe <computers> <port>`: for each computer in the order given, whether it
/// accepts a TCP connection on the SIP port (Front End 5061, Edge its internal SIP port)
/// within 2 s. This, not ICMP, is how every script judges a server alive: many Windows
/// servers drop ICMP echo, and a live server taken for dead could be forced over.
macro_rules! sip_probe {
    () => {
        "function Get-SfbDrProbe([string[]]$Computers, [int]$Port) {\n    \
             , @(foreach ($c in $Computers) {\n        \
                 $client = New-Object Net.Sockets.TcpClient\n        \
                 $answered = $false\n        \
                 try { $answered = [bool]$client.ConnectAsync($c, $Port).Wait(2000) } catch { } finally { $client.Dispose() }\n        \
                 $answered\n    \
             })\n\
         }\n"
    };
}

/// Statements every script starts with: strict mode, so a property a cmdlet does not return
/// (a misspelt or missing `BackupPoolFqdn`) is an error rather than a silent `$null`; stop on
/// the first error; no progress records on the wire; UTF-8 output without a byte-order mark so
/// messages survive the SSH hop.
///
/// The scripts are written for the Skype for Business Server Management Shell on Windows
/// PowerShell 5.1: a console window, `powershell.exe` under OpenSSH (how the driver runs them)
/// or a remote session. Where there is no console (PowerShell ISE, some remoting hosts),
/// setting the console's encoding throws "The handle is invalid"; it only matters for what
/// goes through a console, so there it is skipped rather than stopping the script before it acts.
///
/// Then the one liveness probe every script uses, `Get-SfbDrProbe` (see `sip_probe!`).
pub const PRELUDE: &str = concat!(
    "Set-StrictMode -Version Latest\n\
$ErrorActionPreference = 'Stop'\n\
$ProgressPreference = 'SilentlyContinue'\n\
try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }\n",
    sip_probe!()
);

/// The line a driver script prints before anything else: once ssh has passed it on, the script
/// was running, so a connection lost afterwards leaves the outcome unknown.
pub const STARTED: &str = "sfb-dr: started";

/// One step as PowerShell: the cmdlet it runs, the read-only checks that must pass before it,
/// and the statements that change the deployment. Split so the driver can tell "a check
/// failed, nothing happened" from "the cmdlet failed, something may have".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The state-changing cmdlet, named in errors.
    pub cmdlet: &'static str,
    /// Statements that only read, one per line; empty for most steps.
    pub checks: String,
    /// Statements that change the deployment, one per line.
    pub body: String,
}

impl Command {
    fn acting(cmdlet: &'static str, body: String) -> Self {
        Command {
            cmdlet,
            checks: String::new(),
            body,
        }
    }

    /// The checks, then the body: the step as an admin would run it.
    pub fn text(&self) -> String {
        format!("{}{}", self.checks, self.body)
    }
}

/// The common parameters every state-changing cmdlet gets: stop on error, never prompt.
pub(super) fn confirmed(what_if: WhatIf) -> &'static str {
    match what_if {
        WhatIf::No => " -Confirm:$false -ErrorAction Stop",
        WhatIf::Yes => " -Confirm:$false -ErrorAction Stop -WhatIf",
    }
}

pub(super) fn pool(value: &str) -> Result<Fqdn, ValueError> {
    Fqdn::parse("pool FQDN", value)
}

fn disaster(mode: Mode) -> &'static str {
    match mode {
        Mode::Graceful => "",
        Mode::Disaster => " -DisasterMode",
    }
}

/// Renders one action as Microsoft's "Failing over and failing back a pool" runs it: `-PoolFqdn` always names the users' home
/// pool (guard 1).
pub fn command(action: &Action, what_if: WhatIf) -> Result<Command, ScriptError> {
    let suffix = confirmed(what_if);
    Ok(match action {
        Action::RepointEdge { edge, to } => {
            let edge = Fqdn::parse("Edge pool FQDN", edge)?;
            let to = pool(to)?;
            Command::acting(
                "Set-CsEdgeServer",
                format!(
                    "Set-CsEdgeServer -Identity {} -Registrar {}{suffix}\n",
                    quote(&format!("EdgeServer:{edge}")),
                    quote(&format!("Registrar:{to}")),
                ),
            )
        }
        Action::FailOverPool { pool: p, mode } => Command::acting(
            "Invoke-CsPoolFailOver",
            format!(
                "Invoke-CsPoolFailOver -PoolFqdn {}{}{suffix}\n",
                quote(pool(p)?.as_str()),
                disaster(*mode)
            ),
        ),
        Action::FailBackPool { pool: p, mode } => Command::acting(
            "Invoke-CsPoolFailBack",
            format!(
                "Invoke-CsPoolFailBack -PoolFqdn {}{}{suffix}\n",
                quote(pool(p)?.as_str()),
                disaster(*mode)
            ),
        ),
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
            Command::acting("Invoke-CsBackupServiceSync", body)
        }
        Action::FailOverCms {
            to,
            mode,
            backup_sql,
        } => cms_failover::command(&pool(to)?, *mode, backup_sql.as_deref(), what_if)?,
        Action::FailOverDatabase {
            pool: p,
            new_principal,
            databases,
        } => super::database_failover::command(&pool(p)?, *new_principal, databases, what_if),
        Action::SetXmppFederationRoute { site, edge } => {
            let site = quote(SiteName::parse(site)?.as_str());
            let edge = quote(&format!(
                "EdgeServer:{}",
                Fqdn::parse("Edge pool FQDN", edge)?
            ));
            Command {
                cmdlet: "Set-CsSite",
                // Both must exist before the route is changed (each throws when it does not).
                checks: format!(
                    "$null = Get-CsSite -Identity {site} -ErrorAction Stop\n\
                     $null = Get-CsService -Identity {edge} -ErrorAction Stop\n"
                ),
                // Microsoft's procedure names the route on the new pool's site; a site still
                // naming another pool is pointed at it too, so that the sites agree on the one
                // XMPP route the organization has and the next observation can tell where it is.
                body: format!(
                    "Set-CsSite -Identity {site} -XmppFederationRoute {edge}{suffix}\n\
                     foreach ($other in @(Get-CsSite)) {{\n\
                     $route = $other.PSObject.Properties['XmppFederationRoute']\n\
                     if ($null -ne $route -and -not [string]::IsNullOrEmpty([string]$route.Value) -and [string]$route.Value -ne {edge}) {{\n\
                     Set-CsSite -Identity (([string]$other.Identity) -replace '^Site:', '') -XmppFederationRoute {edge}{suffix}\n\
                     }}\n\
                     }}\n"
                ),
            }
        }
        Action::SetPersistentChatState { pool: p, state } => {
            super::persistent_chat::state(&pool(p)?, *state, what_if)
        }
        Action::SetPersistentChatActiveServers { pool: p, servers } => {
            let servers = servers
                .iter()
                .map(|s| Fqdn::parse("Persistent Chat server FQDN", s))
                .collect::<Result<Vec<_>, _>>()?;
            super::persistent_chat::active_servers(&pool(p)?, &servers, what_if)
        }
        Action::MoveSipFederationRoute { .. }
        | Action::StopEdgeServices { .. }
        | Action::StartEdgeServices { .. }
        | Action::PublishXmppFederationRoute { .. }
        | Action::RecoverPersistentChatDatabase { .. }
        | Action::RestorePersistentChatDatabase { .. } => {
            return Err(ScriptError::Manual(action.to_string()))
        }
    })
}

/// The script as it goes on the wire: no comment lines, no indentation. A script that still
/// does not fit the Windows command line travels on standard input ([`super::transport`]).
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

/// A complete read-only script that prints [`STARTED`], runs `body` and prints exactly one
/// JSON line: `success` when the body finished, else `{"error":{"cmdlet":...,"message":...}}`
/// with the failing command's name (or `label`) and its own message, so the driver can tell
/// the two apart however chatty the cmdlets are. Steps, which change things, run inside an
/// operation record instead ([`super::operation`]).
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
