//! `Invoke-CsManagementServerFailover` as PowerShell (Microsoft, "Failing over and failing back a pool"): run on a
//! server of the pool that receives the CMS; with the master up, no parameters; with the master
//! lost, the receiving pool's backup SQL Server and `-Force`.
//!
//! A disaster-mode recovery checks three things at run time, before anything changes:
//! - the master is still lost, judged the way observation judges a server (a TCP connection to
//!   its SIP port 5061, never ICMP, which many Windows servers drop) and by the CMS's own status.
//!   The step goes on when `Get-CsManagementStoreReplicationStatus` answers and names no
//!   active master. A status that cannot be read is refused (fail closed); a named master that
//!   answers is refused, since `-Force` would throw away the changes not yet replicated (the
//!   planner saw the master lost; it may have come back since). A named master that does not
//!   answer goes on only when the CMS's own status agrees it is gone (no file transfer agent, or
//!   a replica not up to date); a CMS that still reports itself whole disagrees with the
//!   network, and the step is refused for a person to settle. A replica list that cannot be
//!   read refuses too;
//! - the declared `backupSql` must be the Central Management database the published topology
//!   names (`Get-CsService -CentralManagementDatabase`) in the receiving pool's site, since the
//!   cmdlet can only fail over to "the database defined in the Topology Builder";
//! - when the Back End is mirrored, whichever of primary and mirror is the principal now
//!   (`Get-CsDatabaseMirrorState -DatabaseType CentralMgmt -PoolFqdn <receiving pool>`) is the
//!   one named as `-BackupSqlServerFqdn`, the other as `-BackupMirrorSqlServerFqdn`.
//!
//! Any check failing throws before the cmdlet, so the step is refused with nothing done.

use crate::model::{BackupSql, Mode};

use super::script::{confirmed, ScriptError, WhatIf, SFB_MODULE};
use super::value::{quote, Fqdn, SqlInstance};

/// A SQL Server instance as the cmdlet's parameters name it; no instance name is the server's
/// default instance.
struct Store {
    server: Fqdn,
    instance: Option<SqlInstance>,
}

impl Store {
    /// `server\instance` (or the server alone for its default instance), as a reader writes it.
    fn shown(&self) -> String {
        match &self.instance {
            Some(i) => format!("{}\\{}", self.server, i.as_str()),
            None => self.server.to_string(),
        }
    }

    /// The instance name as `Get-CsService` reports it: empty for the default instance.
    fn instance_name(&self) -> &str {
        self.instance.as_ref().map_or("", SqlInstance::as_str)
    }

    /// `; <name> = '<instance>'`, or nothing for the default instance (the cmdlet's instance
    /// parameters are optional and then mean the default instance).
    fn instance_parameter(&self, name: &str) -> String {
        match &self.instance {
            Some(i) => format!("; {name} = {}", quote(i.as_str())),
            None => String::new(),
        }
    }

    /// The cmdlet's parameters naming `self` as the backup and `mirror` as its mirror.
    fn parameters(&self, mirror: Option<&Store>) -> String {
        let mut out = format!(
            "@{{ BackupSqlServerFqdn = {}{}",
            quote(self.server.as_str()),
            self.instance_parameter("BackupSqlInstanceName")
        );
        if let Some(m) = mirror {
            out.push_str(&format!(
                "; BackupMirrorSqlServerFqdn = {}{}",
                quote(m.server.as_str()),
                m.instance_parameter("BackupMirrorSqlInstanceName")
            ));
        }
        out.push_str(" }");
        out
    }
}

/// The receiving pool's backup SQL Server and its mirror, checked.
fn stores(to: &Fqdn, sql: &BackupSql) -> Result<(Store, Option<Store>), ScriptError> {
    let primary = Store {
        server: Fqdn::parse("SQL Server FQDN", &sql.sql_server_fqdn)?,
        instance: sql
            .sql_instance_name
            .as_deref()
            .map(SqlInstance::parse)
            .transpose()?,
    };
    let half = |given, missing| ScriptError::HalfMirror {
        to: to.to_string(),
        given,
        missing,
    };
    let mirror = match (&sql.mirror_sql_server_fqdn, &sql.mirror_sql_instance_name) {
        (Some(m), i) => Some(Store {
            server: Fqdn::parse("mirror SQL Server FQDN", m)?,
            instance: i.as_deref().map(SqlInstance::parse).transpose()?,
        }),
        (None, Some(_)) => return Err(half("the instance", "the server")),
        (None, None) => None,
    };
    Ok((primary, mirror))
}

/// The checks that make a disaster-mode recovery safe, ending with `$cmsFailover` set to the
/// cmdlet's parameters.
fn disaster_checks(to: &Fqdn, primary: &Store, mirror: Option<&Store>) -> String {
    let to_q = quote(to.as_str());
    let not_named = quote(&format!(
        "The backupSql {} of {to} is not the Central Management database that the published topology names in the site of {to}, so Invoke-CsManagementServerFailover cannot use it. The topology names: ",
        primary.shown()
    ));
    let unread = quote(
        "Invoke-CsManagementServerFailover -Force is only for a lost CMS master, and whether the master is lost cannot be told: Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus failed: ",
    );
    let live = quote(
        "Invoke-CsManagementServerFailover -Force is for a lost CMS master, but the master's computer answers on its SIP port 5061: ",
    );
    let live_tail = quote(
        ": forcing the CMS over would discard the changes not yet replicated. Nothing was changed; observe and plan again.",
    );
    let disagree = quote(
        "The CMS and the network disagree about the CMS master: it does not answer on its SIP port 5061, but Get-CsManagementStoreReplicationStatus still names ",
    );
    let disagree_tail = quote(
        " as the active master, with file transfer agents and every replica up to date. Forcing the CMS over a master that is only unreachable from here would discard the changes not yet replicated, so nothing was changed: a person must find out whether the master is lost (then run this step by hand) or wait until the two agree.",
    );
    let replicas_unread = quote(
        "Get-CsManagementStoreReplicationStatus could not list the CMS replicas, so whether the silent master is lost cannot be told: ",
    );
    let mut out = format!(
        "$cmsNow = $null\n\
         try {{ $cmsNow = Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus -ErrorAction Stop }} catch {{ throw ({unread} + [string]$_.Exception.Message) }}\n\
         if ($null -eq $cmsNow) {{ throw ({unread} + 'it returned nothing.') }}\n\
         $masterNow = [string]$cmsNow.ActiveMasterFqdn\n\
         if ($masterNow) {{\n    \
             if (@(Get-SfbDrProbe @($masterNow) 5061) -contains $true) {{ throw ({live} + $masterNow + {live_tail}) }}\n    \
             try {{ $replicasNow = @(Get-CsManagementStoreReplicationStatus -ErrorAction Stop) }} catch {{ throw ({replicas_unread} + [string]$_.Exception.Message) }}\n    \
             $agentsNow = @($cmsNow.ActiveFileTransferAgents | Where-Object {{ $_ }})\n    \
             if ($agentsNow.Count -gt 0 -and @($replicasNow | Where-Object {{ -not $_.UpToDate }}).Count -eq 0) {{ throw ({disagree} + $masterNow + {disagree_tail}) }}\n\
         }}\n\
         $cmsStores = @(Get-CsService -CentralManagementDatabase -ErrorAction Stop | ForEach-Object {{ [pscustomobject]@{{ Server = [string]$_.PoolFqdn; Instance = [string]$_.SqlInstanceName; Site = [string]$_.SiteId }} }})\n\
         if (@($cmsStores | Where-Object {{ $_.Server -eq {server} -and $_.Instance -eq {instance} -and $_.Site -eq [string]$receivingPool.Site }}).Count -ne 1) {{ throw ({not_named} + (($cmsStores | ForEach-Object {{ $_.Server + '\\' + $_.Instance + ' in ' + $_.Site }}) -join ', ')) }}\n\
         $mirrorStates = @(Get-CsDatabaseMirrorState -DatabaseType CentralMgmt -PoolFqdn {to_q} -ErrorAction Stop)\n\
         $primaryLeads = $mirrorStates.Count -gt 0 -and @($mirrorStates | Where-Object {{ [string]$_.StateOnPrimary -ne 'Principal' }}).Count -eq 0\n\
         $mirrorLeads = $mirrorStates.Count -gt 0 -and @($mirrorStates | Where-Object {{ [string]$_.StateOnMirror -ne 'Principal' }}).Count -eq 0\n",
        server = quote(primary.server.as_str()),
        instance = quote(primary.instance_name()),
    );
    match mirror {
        Some(m) => {
            let unclear = quote(&format!(
                "Get-CsDatabaseMirrorState does not say which of {} and its mirror {} holds the principal CMS database of {to}: ",
                primary.shown(),
                m.shown()
            ));
            out.push_str(&format!(
                "if ($primaryLeads) {{ $cmsFailover = {} }}\n\
                 elseif ($mirrorLeads) {{ $cmsFailover = {} }}\n\
                 else {{ throw ({unclear} + (($mirrorStates | ForEach-Object {{ [string]$_.DatabaseName + ' primary ' + [string]$_.StateOnPrimary + ', mirror ' + [string]$_.StateOnMirror }}) -join '; ')) }}\n",
                primary.parameters(Some(m)),
                m.parameters(Some(primary)),
            ));
        }
        None => {
            let on_mirror = quote(&format!(
                "The CMS database of {to} runs on its mirror now, which the backupSql of {to} does not name: declare mirrorSqlServerFqdn (and mirrorSqlInstanceName for a named instance)"
            ));
            out.push_str(&format!(
                "if ($mirrorLeads) {{ throw {on_mirror} }}\n\
                 $cmsFailover = {}\n",
                primary.parameters(None)
            ));
        }
    }
    out
}

/// The CMS failover step: checks (the receiving pool's computers, for disaster mode the backup
/// SQL Server against the topology and the principal, then a remoting session when this server
/// is not one of the receiving pool's), then the cmdlet, run once.
///
/// Only opening a session moves on to the next computer: once one is open the failover runs
/// there once, and its error stops the script, so a failover is never started twice. When no
/// computer accepts, the error names each one tried.
pub fn command(
    to: &Fqdn,
    mode: Mode,
    backup_sql: Option<&BackupSql>,
    what_if: WhatIf,
) -> Result<super::script::Command, ScriptError> {
    let to_q = quote(to.as_str());
    let mut checks = format!(
        "$receivingPool = Get-CsPool -Identity {to_q} -ErrorAction Stop\n\
         $receiving = @($receivingPool.Computers | ForEach-Object {{ [string]$_ }})\n\
         if ($receiving.Count -eq 0) {{ throw ('Get-CsPool lists no computers in ' + {to_q}) }}\n"
    );
    let force = match mode {
        Mode::Graceful => {
            checks.push_str("$cmsFailover = @{}\n");
            ""
        }
        Mode::Disaster => {
            let sql =
                backup_sql.ok_or_else(|| ScriptError::MissingBackupSql { to: to.to_string() })?;
            let (primary, mirror) = stores(to, sql)?;
            checks.push_str(&disaster_checks(to, &primary, mirror.as_ref()));
            " -Force"
        }
    };
    checks.push_str(&format!(
        "$here = [System.Net.Dns]::GetHostEntry('').HostName\n\
         $session = $null\n\
         if ($receiving -notcontains $here) {{\n    \
             $tried = @()\n    \
             foreach ($computer in $receiving) {{ try {{ $session = New-PSSession -ComputerName $computer -ErrorAction Stop; break }} catch {{ $tried += $computer + ': ' + $_.Exception.Message }} }}\n    \
             if ($null -eq $session) {{ throw ('No computer of ' + {to_q} + ' accepted PowerShell remoting. Tried ' + ($tried -join '; ')) }}\n\
         }}\n"
    ));
    let failover = format!(
        "Invoke-CsManagementServerFailover @cmsFailover{force}{}",
        confirmed(what_if)
    );
    let body = format!(
        "if ($null -eq $session) {{\n    \
             {failover}\n\
         }} else {{\n    \
             try {{\n        \
                 Invoke-Command -Session $session -ErrorAction Stop -ArgumentList $cmsFailover -ScriptBlock {{\n            \
                     param($cmsFailover)\n            \
                     Import-Module {SFB_MODULE} -ErrorAction Stop\n            \
                     {failover}\n        \
                 }}\n    \
             }} finally {{ Remove-PSSession -Session $session -ErrorAction SilentlyContinue }}\n\
         }}\n"
    );
    Ok(super::script::Command {
        cmdlet: "Invoke-CsManagementServerFailover",
        checks,
        body,
    })
}
