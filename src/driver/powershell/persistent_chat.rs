//! The two Persistent Chat cmdlets of Microsoft's "Manage high availability and disaster
//! recovery for Persistent Chat Server" as PowerShell: `Set-CsPersistentChatState -PoolState`
//! and `Set-CsPersistentChatActiveServer -ActiveServers`. The SQL Server steps between them are
//! a person's and never become a script.
//!
//! Both cmdlets take the pool's service identity. Microsoft's pages write it three ways
//! (`service:<pool>` on the procedure page, `PersistentChatServer:<pool>` on
//! `Get-CsPersistentChatState`'s, a collection name on `Set-CsPersistentChatActiveServer`'s,
//! which says to read it from `Get-CsService -PersistentChatServer`), so the script reads it
//! from there: the one Persistent Chat service whose `PoolFqdn` is the pool, or nothing runs.
//! The active servers must be computers of that pool (`Get-CsComputer -Pool`).
//!
//! A pool already in the state asked for is not set again (Microsoft does not say what setting
//! it twice does).

use crate::model::ChatState;

use super::script::{confirmed, Command, WhatIf};
use super::value::{quote, Fqdn};

/// The checks every Persistent Chat step starts with: the pool's one service, in `$chatService`.
fn service(pool: &Fqdn) -> String {
    let pool_q = quote(pool.as_str());
    let missing = quote(&format!(
        "Get-CsService -PersistentChatServer names no Persistent Chat pool {pool} (or more than one service for it). Nothing was changed."
    ));
    format!(
        "$chatService = @(Get-CsService -PersistentChatServer -ErrorAction Stop | Where-Object {{ ([string]$_.PoolFqdn) -eq {pool_q} }})\n\
         if ($chatService.Count -ne 1) {{ throw {missing} }}\n\
         $chatIdentity = [string]$chatService[0].Identity\n"
    )
}

/// `Set-CsPersistentChatState -Identity <service> -PoolState <state>`, unless the pool already is.
pub fn state(pool: &Fqdn, state: ChatState, what_if: WhatIf) -> Command {
    let name = state.name();
    let mut checks = service(pool);
    checks.push_str(
        "$chatState = [string](@(Get-CsPersistentChatState -Identity $chatIdentity -ErrorAction Stop)[0].PoolState)\n",
    );
    Command {
        cmdlet: "Set-CsPersistentChatState",
        checks,
        body: format!(
            "if ($chatState -ne '{name}') {{\n    \
                 Set-CsPersistentChatState -Identity $chatIdentity -PoolState {name}{}\n\
             }}\n",
            confirmed(what_if)
        ),
    }
}

/// `Set-CsPersistentChatActiveServer -Identity <service> -ActiveServers <servers>`: the list
/// replaced by these servers, each checked to be a computer of the pool; none clears it.
pub fn active_servers(pool: &Fqdn, servers: &[Fqdn], what_if: WhatIf) -> Command {
    let mut checks = service(pool);
    let list = if servers.is_empty() {
        "$null".to_owned()
    } else {
        let quoted: Vec<String> = servers.iter().map(|s| quote(s.as_str())).collect();
        checks.push_str(&format!(
            "$chatComputers = @(Get-CsComputer -Pool {} -ErrorAction Stop | ForEach-Object {{ $name = if ($_.PSObject.Properties['Fqdn']) {{ [string]$_.Fqdn }} else {{ [string]$_.Identity }}; $name.ToLowerInvariant() }})\n",
            quote(pool.as_str())
        ));
        for s in servers {
            let q = quote(&s.as_str().to_ascii_lowercase());
            let stranger = quote(&format!(
                "{s} is not a computer of Persistent Chat pool {pool} (Get-CsComputer -Pool). Nothing was changed."
            ));
            checks.push_str(&format!(
                "if ($chatComputers -notcontains {q}) {{ throw {stranger} }}\n"
            ));
        }
        format!("@({})", quoted.join(", "))
    };
    Command {
        cmdlet: "Set-CsPersistentChatActiveServer",
        checks,
        body: format!(
            "Set-CsPersistentChatActiveServer -Identity $chatIdentity -ActiveServers {list}{}\n",
            confirmed(what_if)
        ),
    }
}
