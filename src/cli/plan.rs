//! `sfb-dr plan`: manifests + observed topology -> plan, as text, JSON or a PowerShell runbook.
//! Never a silent no-op: input that names no deployment, or several, is an error.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use sfb_dr::declared::{self, Declared};
use sfb_dr::driver::powershell::{runbook, WhatIf};
use sfb_dr::manifest::{self, Manifests};
use sfb_dr::model::{Action, Mode, Plan};
use sfb_dr::model::{Desired, Ledger, ObservedIndex};
use sfb_dr::planner;

use super::{Failure, Output};

/// Where the observed deployment comes from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A file (or `-`).
    File(&'a Path),
    /// The observation and ledger the operator published, read through this kubeconfig.
    Live(&'a Path),
}

/// What `sfb-dr plan` was asked.
pub struct Request<'a> {
    pub files: &'a [PathBuf],
    pub source: Source<'a>,
    pub namespace: Option<&'a str>,
    pub output: Output,
    pub what_if: bool,
}

/// What the plan holds, for `--detailed-exitcode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Findings {
    NothingToDo,
    Steps,
    Blocked,
}

impl Findings {
    fn of(plan: &Plan) -> Self {
        if !plan.blocked.is_empty() {
            Findings::Blocked
        } else if !plan.steps.is_empty() {
            Findings::Steps
        } else {
            Findings::NothingToDo
        }
    }

    /// The exit code `--detailed-exitcode` gives: none for 0, 3 for steps, 4 for blocked.
    pub fn exit_code(self) -> Option<u8> {
        match self {
            Findings::NothingToDo => None,
            Findings::Steps => Some(3),
            Findings::Blocked => Some(4),
        }
    }
}

fn bad(line: impl Into<String>) -> Failure {
    Failure::BadInput(vec![line.into()])
}

/// Reads, checks and plans; returns what to print and what the plan holds.
pub fn run(r: &Request<'_>) -> Result<(String, Findings), Failure> {
    if r.what_if && r.output != Output::Powershell {
        return Err(bad("--whatif applies to -o powershell only"));
    }
    if let Some(ns) = r.namespace.filter(|ns| !sfb_dr::api::names::is_label(ns)) {
        return Err(bad(format!(
            "--namespace {ns:?}: not a Kubernetes namespace name ({})",
            sfb_dr::api::names::LABEL_RULE
        )));
    }
    let file = match r.source {
        Source::File(path) => Some(path),
        Source::Live(_) => None,
    };
    if file.is_some_and(manifest::is_stdin) && r.files.iter().any(|f| manifest::is_stdin(f)) {
        return Err(bad(
            "standard input (-) can be read once: give either -f - or --observed -, not both",
        ));
    }
    let skip = file.filter(|f| !manifest::is_stdin(f));
    let manifests = manifest::load(r.files, skip)?;
    // Said on standard error, so the plan on standard output stays the plan.
    for note in manifests.skipped() {
        eprintln!("{note}");
    }
    let manifests = one_deployment(manifests, r)?;
    let (observed, ledger, source) = match r.source {
        Source::File(path) => (
            manifest::load_observed(path)?,
            Ledger::default(),
            path.display().to_string(),
        ),
        Source::Live(kubeconfig) => live(kubeconfig, &manifests, r.namespace)?,
    };
    let observed = ObservedIndex::new(observed)
        .map_err(|e| bad(format!("{source}: observed topology: {e}")))?;
    let desired = desired(&manifests, &observed)?;
    let plan = planner::plan(&desired, &observed, &ledger);
    let findings = Findings::of(&plan);
    let text = match r.output {
        Output::Json => serde_json::to_string_pretty(&plan)
            .map(|s| s + "\n")
            .map_err(|e| Failure::Other(e.into()))?,
        Output::Text => text(&plan, &desired),
        Output::Powershell => {
            let what_if = if r.what_if { WhatIf::Yes } else { WhatIf::No };
            runbook(&plan, what_if).map_err(|e| bad(format!("cannot write the runbook: {e}")))?
        }
        Output::Mermaid => super::mermaid::flowchart(&plan),
    };
    Ok((text, findings))
}

/// The observation and ledger the operator published for the deployment of the manifests'
/// namespace (or `--namespace`), read from the cluster `kubeconfig` names.
fn live(
    kubeconfig: &Path,
    manifests: &Manifests,
    namespace: Option<&str>,
) -> Result<(sfb_dr::model::ObservedTopology, Ledger, String), Failure> {
    let server = super::run::server_of(kubeconfig);
    super::live::runtime()?.block_on(async {
        let client = super::run::client(Some(kubeconfig)).await?;
        // Every failure from here on is the cluster's: say which one.
        let at_server = |f: Failure| match f {
            Failure::Other(e) => Failure::Other(anyhow::anyhow!(
                "{e:#} (the API server {}, from --kubeconfig {})",
                server.as_deref().unwrap_or("the kubeconfig names"),
                kubeconfig.display()
            )),
            other => other,
        };
        let namespaces = manifests.namespaces();
        let ns = match namespace {
            Some(ns) => ns.to_owned(),
            None => namespaces
                .iter()
                .next()
                .cloned()
                .unwrap_or_else(|| client.default_namespace().to_owned()),
        };
        let topology = super::live::topology(&client, &ns)
            .await
            .map_err(at_server)?;
        let published = super::live::observation(&client, &topology)
            .await
            .map_err(at_server)?;
        // Said on standard error, so the plan on standard output stays the plan.
        eprintln!(
            "planned against {}, observed at {}",
            published.source,
            published
                .observed_at
                .as_deref()
                .unwrap_or("an unknown time")
        );
        Ok((published.observed, published.ledger, published.source))
    })
}

/// The objects of exactly one deployment: one namespace (chosen with `--namespace` when the
/// manifests hold several), with at least one `PoolPair`.
fn one_deployment(m: Manifests, r: &Request<'_>) -> Result<Manifests, Failure> {
    let files = r
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if m.is_empty() {
        return Err(bad(format!(
            "{files}: no sfb-dr objects (Topology, Site, PoolPair, CentralManagementStore) found; \
             nothing to plan"
        )));
    }
    let namespaces = m.namespaces();
    let list = namespaces.iter().cloned().collect::<Vec<_>>().join(", ");
    let m = match r.namespace {
        Some(ns) => m.in_namespace(ns),
        None if namespaces.len() > 1 => {
            return Err(bad(format!(
                "{files}: the objects belong to several namespaces ({list}), each its own \
                 deployment; pick one with --namespace"
            )))
        }
        None => m,
    };
    if m.pairs.is_empty() {
        let place = match r.namespace {
            Some(ns) if namespaces.contains(ns) || namespaces.is_empty() => {
                format!(" in namespace {ns}")
            }
            Some(ns) => format!(" in namespace {ns} (the manifests name {list})"),
            None => String::new(),
        };
        return Err(bad(format!(
            "{files}: no PoolPair{place}; a plan needs at least one pool pair"
        )));
    }
    Ok(m)
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
    if plan.steps.is_empty() && plan.blocked.is_empty() {
        let _ = writeln!(out, "Plan {}: nothing to do.", plan.id);
    } else if plan.steps.is_empty() {
        let _ = writeln!(out, "Plan {}: no step can run.", plan.id);
    } else {
        let n = plan.steps.len();
        let steps = if n == 1 { "step" } else { "steps" };
        let _ = writeln!(out, "Plan {}: {n} {steps}, in order:", plan.id);
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
            let _ = writeln!(out, "  - {b}");
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
