//! `sfb-dr plan -o mermaid`: the plan's dependency graph as a Mermaid flowchart, which GitHub and
//! GitLab draw inside a pull-request comment. Steps are nodes labelled with their cmdlet and pool;
//! blocked pairs stand apart in a subgraph of their own.

use std::fmt::Write;

use sfb_dr::driver::powershell::script::command;
use sfb_dr::driver::powershell::WhatIf;
use sfb_dr::model::{Action, Mode, Plan};

/// The flowchart, inside a ```mermaid fence so it can be pasted into a comment as it is.
pub fn flowchart(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "```mermaid");
    let _ = writeln!(out, "flowchart TD");
    let _ = writeln!(
        out,
        "  plan[\"{}\"]",
        label(&format!("plan {}: {} steps", plan.id, plan.steps.len()))
    );
    for step in &plan.steps {
        let _ = writeln!(
            out,
            "  {}[\"{}\"]",
            node(&step.id),
            label(&describe(&step.id, &step.action))
        );
        if let Action::FailOverPool {
            mode: Mode::Disaster,
            ..
        }
        | Action::FailBackPool {
            mode: Mode::Disaster,
            ..
        }
        | Action::FailOverCms {
            mode: Mode::Disaster,
            ..
        } = step.action
        {
            let _ = writeln!(out, "  class {} disaster", node(&step.id));
        }
    }
    for step in &plan.steps {
        if step.depends_on.is_empty() {
            let _ = writeln!(out, "  plan --> {}", node(&step.id));
        }
        for dep in &step.depends_on {
            let _ = writeln!(out, "  {} --> {}", node(dep), node(&step.id));
        }
    }
    if !plan.blocked.is_empty() {
        let _ = writeln!(
            out,
            "  subgraph blocked[\"Blocked: nothing is done for these pairs\"]"
        );
        for (i, b) in plan.blocked.iter().enumerate() {
            let _ = writeln!(
                out,
                "    blocked{}[\"{}\"]",
                i + 1,
                label(&format!(
                    "{}: {}",
                    sfb_dr::model::blocked_subject(&b.pair),
                    b.reason
                ))
            );
        }
        let _ = writeln!(out, "  end");
    }
    let _ = writeln!(out, "  classDef disaster stroke:#c00,stroke-width:2px");
    let _ = writeln!(out, "```");
    out
}

/// Step ids are `s1`, `s2`, ...; anything else is reduced to letters and digits.
fn node(id: &str) -> String {
    let clean: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("step_{clean}")
}

fn describe(id: &str, action: &Action) -> String {
    let cmdlet = if action.is_manual() {
        "by hand"
    } else {
        command(action, WhatIf::No)
            .map(|c| c.cmdlet)
            .unwrap_or("(refused: unsafe value)")
    };
    let mode = |m: Mode| match m {
        Mode::Graceful => "graceful",
        Mode::Disaster => "disaster mode",
    };
    let what = match action {
        Action::RepointEdge { edge, to } => format!("{edge} to {to}"),
        Action::FailOverCms { to, mode: m, .. } => format!("CMS to {to}, {}", mode(*m)),
        Action::FailOverPool { pool, mode: m } | Action::FailBackPool { pool, mode: m } => {
            format!("{pool}, {}", mode(*m))
        }
        Action::SyncBackup { pool, module } => format!("{} from {pool}", module.name()),
        Action::FailOverDatabase {
            pool,
            new_principal,
            ..
        } => format!("{pool} databases to the {}", new_principal.word()),
        Action::MoveSipFederationRoute { to, .. } => format!("SIP federation to {to}"),
        Action::StopEdgeServices { edge } => format!("stop the Edge services of {edge}"),
        Action::StartEdgeServices { edge } => format!("start the Edge services of {edge}"),
        Action::SetXmppFederationRoute { edge, .. } => format!("XMPP federation to {edge}"),
        Action::PublishXmppFederationRoute { edge } => {
            format!("XMPP DNS records to {edge}, start its Edge services")
        }
        Action::RecoverPersistentChatDatabase { pool } => {
            format!("bring {pool}'s backup mgc database online")
        }
        Action::RestorePersistentChatDatabase { pool } => {
            format!("restore {pool}'s primary mgc database")
        }
        Action::SetPersistentChatState { pool, state } => format!("{pool} to {}", state.name()),
        Action::SetPersistentChatActiveServers { pool, servers } if servers.is_empty() => {
            format!("clear {pool}'s active servers")
        }
        Action::SetPersistentChatActiveServers { pool, servers } => {
            format!("{pool} active servers: {}", servers.join(", "))
        }
    };
    format!("{id}: {cmdlet}<br/>{what}")
}

/// Text safe inside a quoted Mermaid label: quotes and angle brackets as entities (the one
/// `<br/>` this module writes is kept), no line breaks, bounded.
fn label(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split("<br/>").enumerate() {
        if i > 0 {
            out.push_str("<br/>");
        }
        for c in part.chars().take(200) {
            match c {
                '"' => out.push_str("#quot;"),
                '<' => out.push_str("#lt;"),
                '>' => out.push_str("#gt;"),
                '#' => out.push_str("#35;"),
                c if c.is_control() => out.push(' '),
                c => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sfb_dr::model::{BlockReason, Blocked, Step};

    #[test]
    fn steps_are_nodes_dependencies_edges_and_blocked_pairs_apart() {
        let plan = Plan {
            id: "0123456789abcdef".into(),
            steps: vec![
                Step {
                    id: "s1".into(),
                    action: Action::FailOverCms {
                        to: "pool2.contoso.com".into(),
                        mode: Mode::Graceful,
                        backup_sql: None,
                    },
                    depends_on: vec![],
                },
                Step {
                    id: "s2".into(),
                    action: Action::FailOverPool {
                        pool: "pool1.contoso.com".into(),
                        mode: Mode::Disaster,
                    },
                    depends_on: vec!["s1".into()],
                },
            ],
            blocked: vec![Blocked {
                pair: "pool3-pool4".into(),
                reason: BlockReason::TargetDown,
                message: "a \"quoted\" <b>message</b>".into(),
            }],
        };
        let chart = flowchart(&plan);
        assert!(chart.starts_with("```mermaid\nflowchart TD\n"), "{chart}");
        assert!(chart.contains("step_s1[\"s1: Invoke-CsManagementServerFailover<br/>CMS to pool2.contoso.com, graceful\"]"), "{chart}");
        assert!(
            chart.contains(
                "step_s2[\"s2: Invoke-CsPoolFailOver<br/>pool1.contoso.com, disaster mode\"]"
            ),
            "{chart}"
        );
        assert!(chart.contains("step_s1 --> step_s2"), "{chart}");
        assert!(chart.contains("class step_s2 disaster"), "{chart}");
        assert!(
            chart.contains("blocked1[\"pair pool3-pool4: TargetDown\"]"),
            "{chart}"
        );
        assert!(!chart.contains("<b>"), "{chart}");
    }

    #[test]
    fn labels_cannot_break_out_of_their_quotes() {
        assert_eq!(label("a\"b<c>#d\ne"), "a#quot;b#lt;c#gt;#35;d e");
    }
}
