//! A plan as a commented PowerShell runbook (`sfb-dr plan -o powershell`): the steps in
//! dependency order, each with what it waits for and why, for review in a pull request or for
//! an admin to run by hand in the Skype for Business Server Management Shell.

use std::fmt::Write;

use crate::model::{Action, Mode, Plan, Step};

use super::script::{command, ScriptError, WhatIf, PRELUDE, SFB_MODULE};
use super::value::{quote, Fqdn};

/// Renders `plan`; with `what_if`, every state-changing cmdlet only reports what it would do.
pub fn runbook(plan: &Plan, what_if: WhatIf) -> Result<String, ScriptError> {
    let mut out = String::new();
    let _ = writeln!(out, "# sfb-dr runbook for plan {}", one_line(&plan.id));
    if plan.steps.is_empty() {
        let _ = writeln!(
            out,
            "# Nothing to do: the deployment matches the manifests."
        );
    } else {
        let _ = writeln!(
            out,
            "# {} steps, in dependency order. Run in the Skype for Business Server Management Shell\n\
             # as a member of RTCUniversalServerAdmins. The first error stops the runbook: then observe\n\
             # and plan again rather than re-running a step (re-running a failover is not documented as safe).\n\
             # Written for Windows PowerShell 5.1 with the SkypeForBusiness module: a console window, a\n\
             # remote session or ssh. Hosts without a console (PowerShell ISE) run it too; they only skip\n\
             # the UTF-8 console output setting.\n\
             # \"Planning rule N\" is rule N of sfb-dr's docs/planning-rules.md.",
            plan.steps.len()
        );
    }
    if what_if == WhatIf::Yes {
        let _ = writeln!(
            out,
            "# What-if run: state-changing cmdlets carry -WhatIf and change nothing."
        );
    }
    out.push('\n');
    out.push_str(PRELUDE);
    let _ = writeln!(out, "Import-Module {SFB_MODULE}");
    for step in &plan.steps {
        out.push('\n');
        let header = format!("--- Step {}: {}", step.id, step.action);
        let _ = writeln!(out, "# {}", one_line(&header));
        for line in preconditions(plan, step) {
            for wrapped in wrap(&one_line(&line), WIDTH) {
                let _ = writeln!(out, "{wrapped}");
            }
        }
        if step.action.is_manual() {
            out.push_str(&by_hand(step, what_if));
            continue;
        }
        out.push_str(&command(&step.action, what_if)?.text());
        if let Action::FailOverCms { to, mode, .. } = &step.action {
            out.push_str(&cms_settled(&Fqdn::parse("pool FQDN", to)?, *mode, what_if));
        }
    }
    if !plan.blocked.is_empty() {
        out.push('\n');
        let _ = writeln!(
            out,
            "# Blocked: nothing is done for these until the cause is fixed."
        );
        for b in &plan.blocked {
            let _ = writeln!(out, "#   {}", one_line(&b.to_string()));
        }
    }
    Ok(out)
}

/// A person's step: what to do, then a prompt that stops the runbook unless they say it is done.
fn by_hand(step: &Step, what_if: WhatIf) -> String {
    let mut out = String::from(
        "# A person's step (no cmdlet does it from here): do what the step's line says.\n",
    );
    if what_if == WhatIf::Yes {
        out.push_str("# (What-if: a person's step, so nothing is asked.)\n");
        return out;
    }
    let id = quote(&step.id);
    let _ = writeln!(
        out,
        "if ((Read-Host ('Type done when step ' + {id} + ' is done')) -ne 'done') {{ throw ('Step ' + {id} + ' is not done; the runbook stops here.') }}"
    );
    out
}

/// By hand there is no observation between steps, so the runbook itself waits (up to 15
/// minutes) for the CMS to have moved, and after a graceful move for every replica to be up to
/// date, before any pool fails over (planning rule 2, the CMS first). Replicas on a lost site cannot catch up, so a
/// disaster-mode move only waits for the master.
fn cms_settled(to: &Fqdn, mode: Mode, what_if: WhatIf) -> String {
    if what_if == WhatIf::Yes {
        return "# (What-if: the CMS has not moved, so its check is left out.)\n".to_owned();
    }
    let replicas = match mode {
        Mode::Graceful => {
            "$behind = @(Get-CsManagementStoreReplicationStatus | Where-Object { -not $_.UpToDate })\n    "
        }
        Mode::Disaster => "$behind = @()\n    ",
    };
    let to = quote(to.as_str());
    format!(
        "# Wait until the CMS has settled on the receiving pool (planning rule 2).\n\
         $deadline = (Get-Date).AddMinutes(15)\n\
         while ($true) {{\n    \
             $master = [string](Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus).ActiveMasterFqdn\n    \
             {replicas}\
             if ((($receiving -contains $master) -or ($master -eq {to})) -and $behind.Count -eq 0) {{ break }}\n    \
             if ((Get-Date) -gt $deadline) {{ throw 'The CMS has not settled within 15 minutes; check Get-CsManagementStoreReplicationStatus before going on.' }}\n    \
             Start-Sleep -Seconds 30\n\
         }}\n"
    )
}

/// Comment lines are wrapped to this many characters, for reading in a review.
const WIDTH: usize = 100;

/// `text` as comment lines of at most `width` characters (a longer word stands alone);
/// continuation lines are indented under the first.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::from("#");
    let mut words = text.split_whitespace().peekable();
    while let Some(first) = words.next() {
        // "(planning rule 2)" keeps "rule 2" on one line, so a reader can search for the rule.
        let word = match words.next_if(|_| first == "rule") {
            Some(next) => format!("{first} {next}"),
            None => first.to_owned(),
        };
        if line.len() > 3 && line.len() + 1 + word.len() > width {
            lines.push(std::mem::replace(&mut line, String::from("#  ")));
        }
        line.push(' ');
        line.push_str(&word);
    }
    lines.push(line);
    lines
}

/// Comment text cannot end its comment: control characters (newlines above all) and the
/// Unicode line and paragraph separators, which editors show as line breaks, become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// What a step waits for and why, then what it does to the deployment.
fn preconditions(plan: &Plan, step: &Step) -> Vec<String> {
    let mut lines = Vec::new();
    if step.depends_on.is_empty() {
        lines.push("Waits for: nothing.".to_owned());
    }
    for dep in step.depends_on.iter().filter_map(|id| plan.step(id)) {
        lines.push(format!(
            "Waits for {} ({}): {}",
            dep.id,
            dep.action,
            why(&dep.action, &step.action)
        ));
    }
    lines.push(effect(&step.action));
    lines
}

/// Why `later` must wait for `earlier`, in the words of the rule that orders them.
fn why(earlier: &Action, later: &Action) -> String {
    match (earlier, later) {
        (Action::FailOverDatabase { pool, databases, .. }, _)
            if databases.contains(&crate::model::DatabaseType::CentralMgmt) =>
        {
            format!(
                "every cmdlet needs a working CMS, and {pool}'s Back End holds a Central Management database: it serves again first (planning rule 10)"
            )
        }
        (Action::FailOverDatabase { pool, .. }, _) => format!(
            "the plan counts on {pool}'s Back End serving again; Back End repairs come first (planning rule 10)"
        ),
        (Action::FailOverCms { mode: Mode::Disaster, .. }, _) => {
            "every cmdlet needs a working CMS, recovered first (planning rule 2)".to_owned()
        }
        (Action::FailOverCms { .. }, _) => {
            "nothing that reads or writes the CMS runs while it moves (planning rule 2)".to_owned()
        }
        (_, Action::FailOverCms { .. }) => {
            "the CMS moves alone: it waits for every step planned before it (planning rule 2)"
                .to_owned()
        }
        (Action::RepointEdge { edge, .. }, Action::FailOverPool { pool, .. }) => format!(
            "Invoke-CsPoolFailOver refuses while the Edge pool {edge}, live or not, uses {pool} as next hop (planning rule 3)"
        ),
        (Action::FailBackPool { pool: back, .. }, Action::FailOverPool { pool, .. }) => format!(
            "a pair never has both pools failed over: {back} fails back before {pool} fails over (planning rule 1)"
        ),
        (Action::FailBackPool { pool, .. }, Action::SyncBackup { .. }) => format!(
            "conference content is copied home only after {pool} has failed back"
        ),
        (Action::FailBackPool { pool, .. }, Action::RepointEdge { .. }) => format!(
            "the Edge pool points home only once {pool} serves its users again"
        ),
        (
            Action::MoveSipFederationRoute { to: edge, .. }
            | Action::PublishXmppFederationRoute { edge },
            Action::FailBackPool { pool, .. },
        ) => format!(
            "Microsoft's failback moves the federation route back to {edge} before {pool} fails back (planning rule 11)"
        ),
        (Action::StartEdgeServices { edge }, _) => format!(
            "Microsoft's failback starts {edge}'s Edge services before its routes return (planning rule 11)"
        ),
        (Action::MoveSipFederationRoute { .. }, Action::StopEdgeServices { .. } | Action::SetXmppFederationRoute { .. }) => {
            "the SIP route moves first: a Topology Builder publish must not overwrite the XMPP route (planning rule 11)".to_owned()
        }
        (Action::RepointEdge { .. }, Action::MoveSipFederationRoute { .. } | Action::StopEdgeServices { .. }) => {
            "a Topology Builder publish must not overwrite the Edge next hops set before it (planning rule 11)".to_owned()
        }
        (Action::StopEdgeServices { edge }, Action::SetXmppFederationRoute { .. }) => format!(
            "Microsoft stops {edge}'s Edge services before the XMPP federation route moves to it (planning rule 11)"
        ),
        (Action::SetXmppFederationRoute { edge, .. }, Action::PublishXmppFederationRoute { .. }) => {
            format!(
                "the DNS records follow the route to {edge}, and its Edge services start after (planning rule 11)"
            )
        }
        (Action::RecoverPersistentChatDatabase { pool }, Action::SetPersistentChatState { .. }) => format!(
            "Set-CsPersistentChatState FailedOver switches {pool} to its backup mgc database, which must be online first (planning rule 12)"
        ),
        (Action::SetPersistentChatActiveServers { pool, servers }, Action::RestorePersistentChatDatabase { .. }) if servers.is_empty() => format!(
            "no server of {pool} may connect to its databases while they are restored (planning rule 12)"
        ),
        (Action::RestorePersistentChatDatabase { pool }, Action::SetPersistentChatActiveServers { .. }) => format!(
            "{pool}'s active servers must stand beside the database in use, the primary one once restored (planning rule 12)"
        ),
        (Action::SetPersistentChatState { pool, .. }, Action::SetPersistentChatActiveServers { .. })
        | (Action::SetPersistentChatActiveServers { pool, .. }, Action::SetPersistentChatState { .. }) => format!(
            "Microsoft's order for {pool}: on failover the state, then the active servers; on failback the active servers, then the state (planning rule 12)"
        ),
        _ => "the planner ordered it so".to_owned(),
    }
}

/// What the step does, and what it costs in its mode (Microsoft, "Failing over and failing back a pool").
fn effect(action: &Action) -> String {
    match action {
        Action::RepointEdge { edge, to } => {
            format!("Does: the Edge pool {edge} forwards to {to} from now on.")
        }
        Action::FailOverCms { to, mode, .. } => match mode {
            Mode::Graceful => format!(
                "Does: moves the CMS master to {to}; waits for replication and makes the old master read-only. \
                 Runs on a server of {to}; then the runbook waits for ActiveMasterFqdn on {to} and every replica UpToDate."
            ),
            Mode::Disaster => format!(
                "Does: recovers the CMS on {to} from its backup SQL Server (-Force); changes not yet replicated are lost. \
                 First checks that backupSql is the Central Management database the topology names for {to} and, \
                 with a mirror, uses whichever of primary and mirror is the principal now. \
                 Runs on a server of {to}; then the runbook waits for ActiveMasterFqdn on {to}."
            ),
        },
        Action::FailOverPool { pool, mode } => match mode {
            Mode::Graceful => format!(
                "Does: graceful failover of {pool}'s users to its backup pool; {pool} goes read-only and the \
                 Backup Service reaches FinalState first, so nothing is lost."
            ),
            Mode::Disaster => format!(
                "Does: disaster-mode failover of {pool}'s users to its backup pool; {pool} is unreachable and \
                 changes not yet replicated are lost (bounded by the RPO)."
            ),
        },
        Action::FailBackPool { pool, mode } => match mode {
            Mode::Graceful => format!(
                "Does: fails {pool}'s users back home; needs {pool} healthy."
            ),
            Mode::Disaster => format!(
                "Does: fails {pool}'s users back while the backup pool is unreachable; what they changed there is lost \
                 (allowDataLoss is true)."
            ),
        },
        Action::SyncBackup { pool, module } => format!(
            "Does: copies {} from {pool} to its backup pool now rather than at the next sync interval.",
            module.name()
        ),
        Action::FailOverDatabase {
            pool,
            new_principal,
            ..
        } => format!(
            "Does: makes the {} SQL Server the principal of {pool}'s databases; {pool} keeps its users; SfB mirrors \
             synchronously, so nothing committed is lost unless mirroring was suspended. First checks that the {} answers and that the {} does not \
             answer as the principal; a database already moved is left alone.",
            new_principal.word(),
            new_principal.word(),
            new_principal.other().word()
        ),
        Action::MoveSipFederationRoute { to, .. } => format!(
            "Does: SIP federation (port 5061) goes out and comes in through {to}; Topology Builder is the \
             only way to change it (planning rule 11)."
        ),
        Action::StopEdgeServices { edge } => format!(
            "Does: stops {edge}'s Edge services before the XMPP federation route moves to it (planning rule 11)."
        ),
        Action::StartEdgeServices { edge } => format!(
            "Does: {edge}'s Edge services run again before the federation routes return to it (planning rule 11)."
        ),
        Action::SetXmppFederationRoute { site, edge } => format!(
            "Does: XMPP federation goes through {edge}, named on its site {site} (planning rule 11)."
        ),
        Action::PublishXmppFederationRoute { edge } => format!(
            "Does: XMPP partners find {edge} (DNS A and SRV records, port 5269) and its Edge services run again \
             (planning rule 11)."
        ),
        Action::RecoverPersistentChatDatabase { pool } => format!(
            "Does: {pool}'s backup mgc database leaves log shipping and comes online with every log shipped so far; \
             what the primary had not shipped is lost (planning rule 12)."
        ),
        Action::SetPersistentChatState { pool, state } => format!(
            "Does: {pool} uses its {} mgc database from now on (planning rule 12).",
            match state {
                crate::model::ChatState::Normal => "primary",
                crate::model::ChatState::FailedOver => "backup",
            }
        ),
        Action::SetPersistentChatActiveServers { pool, servers } if servers.is_empty() => format!(
            "Does: no server of {pool} accepts new connections until the active servers are set again (planning rule 12)."
        ),
        Action::SetPersistentChatActiveServers { pool, servers } => format!(
            "Does: {} accept new Persistent Chat connections for {pool}; the others accept none (planning rule 12).",
            servers.join(", ")
        ),
        Action::RestorePersistentChatDatabase { pool } => format!(
            "Does: {pool}'s primary mgc database holds what users wrote while failed over, and log shipping runs \
             from it again (planning rule 12)."
        ),
    }
}
