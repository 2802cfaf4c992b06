//! `Invoke-CsDatabaseFailover` as PowerShell: a mirrored Back End whose principal is down fails
//! each of its databases over to the other SQL Server, as Microsoft's procedure for a mirrored
//! Back End does (`Get-CsDatabaseMirrorState` first, then `Invoke-CsDatabaseFailover -PoolFqdn
//! <pool> -DatabaseType <type> -NewPrincipal <Primary|Mirror>` for the user database and, on the
//! pool that holds it, the Central Management store's).
//!
//! The checks run before anything changes, for every database:
//! - `Get-CsDatabaseMirrorState` must answer; one that cannot be read refuses the step;
//! - the new principal must answer with a mirroring role (`Principal` or `Mirror`); a server
//!   reported `DatabaseInaccessibleOrMirroringNotEnabled` cannot take the databases;
//! - the old principal must not answer as the principal: the planner saw it down, and a server
//!   that came back is left alone (observe and plan again).
//!
//! A `CentralMgmt` database that reports no mirror (the copy a backup pool holds may not be
//! mirrored) is left alone; a user database without one refuses the step.
//!
//! A database whose new principal already reports itself `Principal` (moved by a witness, or by
//! an earlier attempt of this step) is not failed over again. The cmdlet gets `-Force`, which
//! its reference says is "used if the current database is not accessible", the only case the
//! planner plans. Every cmdlet reads the topology from the local replica of the Central
//! Management store (`-LocalStore`): a Back End that is down may be the one holding the store, and
//! a database failover must not wait for the store it repairs.

use crate::model::{DatabaseType, MirrorRole};

use super::script::{confirmed, Command, WhatIf};
use super::value::{quote, Fqdn};

/// The property of `Get-CsDatabaseMirrorState`'s answer that holds a server's role.
fn state_property(role: MirrorRole) -> &'static str {
    match role {
        MirrorRole::Primary => "StateOnPrimary",
        MirrorRole::Mirror => "StateOnMirror",
    }
}

/// The checks, then one failover per database that still needs it.
pub fn command(
    pool: &Fqdn,
    new_principal: MirrorRole,
    databases: &[DatabaseType],
    what_if: WhatIf,
) -> Command {
    let pool_q = quote(pool.as_str());
    let local = " -LocalStore";
    let new_state = state_property(new_principal);
    let old_state = state_property(new_principal.other());
    let mut checks = String::from("$databaseMoves = @()\n");
    let mut body = String::new();
    for db in databases {
        let name = db.name();
        let unread = quote(&format!(
            "Get-CsDatabaseMirrorState -DatabaseType {name} -PoolFqdn {pool} could not be read, so whether its {} SQL Server can take the {name} database cannot be told: ",
            new_principal.word()
        ));
        let empty = quote(&format!(
            "Get-CsDatabaseMirrorState -DatabaseType {name} -PoolFqdn {pool} returned nothing: the Back End of {pool} has no mirror for its {name} database"
        ));
        let target_gone = quote(&format!(
            "The {} SQL Server of {pool} does not answer for its {name} database (Get-CsDatabaseMirrorState says ",
            new_principal.word()
        ));
        let target_gone_tail = quote(
            "), so the database cannot fail over to it. Nothing was changed; observe and plan again.",
        );
        let back = quote(&format!(
            "The {} SQL Server of {pool} answers as the principal of its {name} database again, so it is not failed over. Nothing was changed; observe and plan again.",
            new_principal.other().word()
        ));
        let var = format!("$mirror{name}");
        // The copy of the CMS database a backup pool holds may not be mirrored: nothing to move.
        let none = match db {
            DatabaseType::CentralMgmt => format!(
                "if ({var}.Count -eq 0 -or @({var} | Where-Object {{ [string]$_.StateOnPrimary -ne 'DatabaseInaccessibleOrMirroringNotEnabled' -or [string]$_.StateOnMirror -ne 'DatabaseInaccessibleOrMirroringNotEnabled' }}).Count -eq 0) {{ {var} = @() }}\n"
            ),
            DatabaseType::User => format!("if ({var}.Count -eq 0) {{ throw {empty} }}\n"),
        };
        checks.push_str(&format!(
            "{var} = $null\n\
             try {{ {var} = @(Get-CsDatabaseMirrorState -PoolFqdn {pool_q} -DatabaseType {name}{local} -ErrorAction Stop) }} catch {{ throw ({unread} + [string]$_.Exception.Message) }}\n\
             {none}\
             $targetStates = @({var} | ForEach-Object {{ [string]$_.{new_state} }})\n\
             if (@($targetStates | Where-Object {{ $_ -ne 'Principal' -and $_ -ne 'Mirror' }}).Count -gt 0) {{ throw ({target_gone} + ($targetStates -join ', ') + {target_gone_tail}) }}\n\
             if (@({var} | Where-Object {{ [string]$_.{old_state} -eq 'Principal' }}).Count -gt 0) {{ throw {back} }}\n\
             if (@($targetStates | Where-Object {{ $_ -ne 'Principal' }}).Count -gt 0) {{ $databaseMoves += '{name}' }}\n"
        ));
        body.push_str(&format!(
            "if ($databaseMoves -contains '{name}') {{\n    \
                 Invoke-CsDatabaseFailover -PoolFqdn {pool_q} -DatabaseType {name} -NewPrincipal {}{local} -Force{}\n\
             }}\n",
            match new_principal {
                MirrorRole::Primary => "Primary",
                MirrorRole::Mirror => "Mirror",
            },
            confirmed(what_if)
        ));
    }
    Command {
        cmdlet: "Invoke-CsDatabaseFailover",
        checks,
        body,
    }
}
