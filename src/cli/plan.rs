//! `sfb-dr plan`: manifests + observed topology -> plan, as text, JSON or a PowerShell runbook.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use sfb_dr::declared::{self, Declared};
use sfb_dr::driver::powershell::{runbook, WhatIf};
use sfb_dr::manifest::{self, Manifests};
use sfb_dr::model::{Action, Mode, Plan};
use sfb_dr::model::{Desired, Ledger, ObservedIndex};
use sfb_dr::planner;

use super::{Failure, Output};

/// Reads, checks and plans; returns what to print.
pub fn run(
    files: &[PathBuf],
    observed_path: &Path,
    output: Output,
    what_if: bool,
) -> Result<String, Failure> {
    if what_if && output != Output::Powershell {
        return Err(Failure::BadInput(vec![
            "--whatif applies to -o powershell only".into(),
        ]));
    }
    let manifests = manifest::load(files, Some(observed_path))?;
    let observed = manifest::load_observed(observed_path)?;
    let observed = ObservedIndex::new(observed).map_err(|e| {
        Failure::BadInput(vec![format!(
            "{}: observed topology: {e}",
            observed_path.display()
        )])
    })?;
    let desired = desired(&manifests, &observed)?;
    let plan = planner::plan(&desired, &observed, &Ledger::default());
    match output {
        Output::Json => serde_json::to_string_pretty(&plan)
            .map(|s| s + "\n")
            .map_err(|e| Failure::Other(e.into())),
        Output::Text => Ok(text(&plan, &desired)),
        Output::Powershell => {
            let what_if = if what_if { WhatIf::Yes } else { WhatIf::No };
            runbook(&plan, what_if)
                .map_err(|e| Failure::BadInput(vec![format!("cannot write the runbook: {e}")]))
        }
    }
}

fn desired(m: &Manifests, observed: &ObservedIndex) -> Result<sfb_dr::model::Desired, Failure> {
    let topologies: Vec<_> = m.topologies.iter().map(|s| &s.object).collect();
    let sites: Vec<_> = m.sites.iter().map(|s| &s.object).collect();
    let pairs: Vec<_> = m.pairs.iter().map(|s| &s.object).collect();
    let cms: Vec<_> = m.cms.iter().map(|s| &s.object).collect();
    let declared = Declared {
        topologies: &topologies,
        sites: &sites,
        pairs: &pairs,
        cms: &cms,
    };
    declared::desired_state(declared, Some(observed)).map_err(|errors| {
        Failure::BadInput(
            errors
                .iter()
                .map(|e| match m.source_of(e.kind, &e.name) {
                    Some(file) => format!("{file}: {e}"),
                    None => e.to_string(),
                })
                .collect(),
        )
    })
}

/// A numbered list a person can follow, with dependencies and each blocked pair's reason.
pub fn text(plan: &Plan, desired: &Desired) -> String {
    let mut out = String::new();
    if plan.steps.is_empty() {
        let _ = writeln!(out, "Plan {}: nothing to do.", plan.id);
    } else {
        let _ = writeln!(
            out,
            "Plan {}: {} steps, in order:",
            plan.id,
            plan.steps.len()
        );
        for (i, step) in plan.steps.iter().enumerate() {
            let _ = write!(
                out,
                "{:>3}. [{}] {}",
                i + 1,
                step.id,
                describe(&step.action, desired)
            );
            if !step.depends_on.is_empty() {
                let _ = write!(out, "  (after {})", step.depends_on.join(", "));
            }
            out.push('\n');
        }
    }
    if !plan.blocked.is_empty() {
        let _ = writeln!(out, "Blocked, nothing will be done for:");
        for b in &plan.blocked {
            let _ = writeln!(out, "  - pair {}: {}: {}", b.pair, b.reason, b.message);
        }
    }
    out
}

/// One step in words, naming where users go: the plan format names only the home pool.
fn describe(action: &Action, desired: &Desired) -> String {
    let partner = |pool: &str| {
        desired
            .pairs
            .iter()
            .find_map(|p| p.position(pool).map(|i| p.pools[1 - i].fqdn.clone()))
            .unwrap_or_else(|| "its backup pool".into())
    };
    let how = |mode: Mode| match mode {
        Mode::Graceful => "graceful",
        Mode::Disaster => "disaster mode",
    };
    match action {
        Action::FailOverPool { pool, mode } => format!(
            "fail over {pool}: its users move to {} ({})",
            partner(pool),
            how(*mode)
        ),
        Action::FailBackPool { pool, mode } => format!(
            "fail back {pool}: its users return from {} ({})",
            partner(pool),
            how(*mode)
        ),
        Action::SyncBackup { pool, module } => {
            format!("sync {} from {pool} to {}", module.name(), partner(pool))
        }
        other => other.to_string(),
    }
}
