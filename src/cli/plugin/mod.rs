//! `kubectl sfbdr`: the same binary, installed as `kubectl-sfbdr` on the PATH, where kubectl's
//! plugin lookup finds it. Commands for the people on call: `status`, `plan`, `approve`,
//! `pause`, `resume`, `site`, `retry`.

mod screen;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use kube::api::{Patch, PatchParams};
use kube::config::KubeConfigOptions;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use sfb_dr::api::{Site, StepState, Topology};
use sfb_dr::controller::journal::{next_retry, step_action};
use sfb_dr::controller::reconcile::{APPROVE_ANNOTATION, RETRY_ANNOTATION};
use sfb_dr::driver::powershell::{runbook, WhatIf};
use sfb_dr::model::{Blocked, Plan, Step};

use super::live;
use super::Failure;

/// Operate sfb-dr from kubectl: see where a deployment stands, review and approve its plan,
/// pause it, take a site out of service.
///
/// Exit codes: 0 done (for `status`: Ready), 1 failure, 2 bad input; `status` also exits 3 while
/// the operator is working (Reconciling, paused, awaiting approval) and 4 when it is Stalled.
#[derive(Parser, Debug)]
#[command(name = "kubectl sfbdr", version)]
pub struct Plugin {
    /// The kubeconfig to use; default: $KUBECONFIG or ~/.kube/config.
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    context: Option<String>,
    /// The deployment's namespace; default: the context's namespace.
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Subcommand, Debug)]
enum PluginCommand {
    /// One screen: sites, pairs and who serves whom, the CMS, backup lag against the RPO, the
    /// plan's progress, and what is blocked and why.
    Status,
    /// The current plan, step by step with its state.
    Plan {
        #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanOutput::Text)]
        output: PlanOutput,
    },
    /// Show the current plan, then approve it (annotate sfbdr.io/approve-plan with its id).
    Approve {
        /// The id you reviewed; refused if the current plan has another.
        plan: Option<String>,
    },
    /// Stop starting steps (spec.paused: true); running steps finish.
    Pause,
    /// Start steps again (spec.paused: false).
    Resume,
    /// Declare a site active or not (spec.active).
    Site {
        /// The Site's name.
        name: String,
        /// true to serve users from the site, false to fail its pools over.
        #[arg(long, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
        active: bool,
    },
    /// Confirm a person's step of the current plan once it is done (annotate
    /// sfbdr.io/confirm-steps with the step's confirmation key).
    Confirm {
        /// The step's id, such as s3, as `kubectl sfbdr plan` shows it.
        step: String,
        /// The plan id you looked at; refused if the current plan has another.
        plan: Option<String>,
    },
    /// Give the failed steps of the current plan one more round (annotate sfbdr.io/retry).
    Retry {
        /// The id you reviewed; refused if the current plan has another.
        plan: Option<String>,
    },
}

/// How `kubectl sfbdr plan` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PlanOutput {
    Text,
    Json,
    Powershell,
    Mermaid,
}

/// Whether the binary was started as the kubectl plugin.
pub fn invoked_as_plugin() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .is_some_and(|name| name == "kubectl-sfbdr")
}

/// Runs a plugin command.
pub fn run(plugin: Plugin) -> Result<(), Failure> {
    live::runtime()?.block_on(async move {
        let client = client(&plugin).await?;
        let ns = plugin
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let topology = live::topology(&client, &ns).await?;
        match plugin.command {
            PluginCommand::Status => status(&client, &ns, &topology).await,
            PluginCommand::Plan { output } => {
                print!("{}", plan_text(&topology, output)?);
                Ok(())
            }
            PluginCommand::Approve { plan } => {
                annotate(&client, &topology, APPROVE_ANNOTATION, plan, "approved").await
            }
            PluginCommand::Retry { plan } => {
                annotate(&client, &topology, RETRY_ANNOTATION, plan, "asked to retry").await
            }
            PluginCommand::Confirm { step, plan } => {
                confirm(&client, &topology, &step, plan.as_deref()).await
            }
            PluginCommand::Pause => set_paused(&client, &topology, true).await,
            PluginCommand::Resume => set_paused(&client, &topology, false).await,
            PluginCommand::Site { name, active } => {
                let sites: Api<Site> = Api::namespaced(client.clone(), &ns);
                sites
                    .patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"active": active}})),
                    )
                    .await
                    .map_err(|e| match e {
                        kube::Error::Api(ae) if ae.code == 404 => Failure::BadInput(vec![format!(
                            "no Site {name:?} in namespace {ns}: `kubectl get site -n {ns}` lists them"
                        )]),
                        e => live::api_error(&format!("Site {ns}/{name}"), e),
                    })?;
                println!("site.sfbdr.io/{name} active={active}");
                Ok(())
            }
        }
    })
}

async fn client(plugin: &Plugin) -> Result<Client, Failure> {
    let options = KubeConfigOptions {
        context: plugin.context.clone(),
        ..Default::default()
    };
    let config = match &plugin.kubeconfig {
        Some(path) => {
            let file = super::run::read_kubeconfig(path)?;
            kube::Config::from_custom_kubeconfig(file, &options).await
        }
        None => kube::Config::from_kubeconfig(&options).await,
    }
    .map_err(|e| Failure::BadInput(vec![format!("no usable kubeconfig: {e}")]))?;
    Client::try_from(config).map_err(|e| Failure::Other(e.into()))
}

async fn status(client: &Client, ns: &str, topology: &Topology) -> Result<(), Failure> {
    let screen = screen::Screen::read(client, ns, topology).await?;
    print!("{}", screen.render());
    match screen.exit_code() {
        0 => Ok(()),
        code => Err(Failure::Findings(code)),
    }
}

/// The journalled plan as the planner's plan format (for the runbook and the graph).
fn as_plan(topology: &Topology) -> Result<Plan, Failure> {
    let journal = topology
        .status
        .as_ref()
        .and_then(|s| s.plan.as_ref())
        .ok_or_else(|| {
            Failure::Other(anyhow::anyhow!(
                "Topology {} has no plan yet",
                topology.name_any()
            ))
        })?;
    let steps = journal
        .steps
        .iter()
        .map(|s| {
            step_action(s)
                .map(|action| Step {
                    id: s.id.clone(),
                    action,
                    depends_on: s.depends_on.clone(),
                })
                .map_err(|e| Failure::Other(anyhow::anyhow!("the journal: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan {
        id: journal.id.clone(),
        steps,
        blocked: journal
            .blocked
            .iter()
            .map(|b| Blocked {
                pair: b.pair.clone(),
                reason: b.reason,
                message: b.message.clone(),
            })
            .collect(),
    })
}

fn plan_text(topology: &Topology, output: PlanOutput) -> Result<String, Failure> {
    let journal = topology.status.as_ref().and_then(|s| s.plan.as_ref());
    match output {
        PlanOutput::Json => serde_json::to_string_pretty(&journal)
            .map(|s| s + "\n")
            .map_err(|e| Failure::Other(e.into())),
        PlanOutput::Powershell => runbook(&as_plan(topology)?, WhatIf::No)
            .map_err(|e| Failure::Other(anyhow::anyhow!("cannot write the runbook: {e}"))),
        PlanOutput::Mermaid => Ok(super::mermaid::flowchart(&as_plan(topology)?)),
        PlanOutput::Text => Ok(screen::plan_lines(journal)),
    }
}

async fn annotate(
    client: &Client,
    topology: &Topology,
    annotation: &str,
    reviewed: Option<String>,
    done: &str,
) -> Result<(), Failure> {
    let name = topology.name_any();
    let journal = topology
        .status
        .as_ref()
        .and_then(|s| s.plan.as_ref())
        .filter(|p| p.steps.iter().any(|s| s.state != StepState::Succeeded))
        .ok_or_else(|| {
            Failure::Other(anyhow::anyhow!(
                "Topology {name} has no plan with steps left"
            ))
        })?;
    print!("{}", screen::plan_lines(Some(journal)));
    // The id reviewed, or this publication's key prefix (what a left-over approval asks for).
    if let Some(reviewed) =
        reviewed.filter(|r| *r != journal.id && journal.key_prefix.as_deref() != Some(r.as_str()))
    {
        return Err(Failure::BadInput(vec![format!(
            "the current plan is {}, not {reviewed}: review it again",
            journal.id
        )]));
    }
    // A retry names the plan and, from the second round on, the round: `<id>`, `<id>-2`, ...
    // An approval names this publication of the plan (see `journal::approves`).
    let value = if annotation == RETRY_ANNOTATION {
        next_retry(journal)
    } else {
        sfb_dr::controller::journal::approval_value(journal).to_owned()
    };
    let api: Api<Topology> =
        Api::namespaced(client.clone(), &topology.namespace().unwrap_or_default());
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {annotation: value}}})),
    )
    .await
    .map_err(|e| live::api_error(&format!("annotating Topology {name}"), e))?;
    println!("topology.sfbdr.io/{name} {done}: plan {}", journal.id);
    Ok(())
}

/// Adds `step`'s confirmation key to `sfbdr.io/confirm-steps`, keeping the keys of this
/// publication already there (those of earlier ones confirm nothing and are dropped). The patch
/// carries the Topology's resourceVersion, so a plan republished between the look and the write
/// is looked at again rather than confirmed blind.
async fn confirm(
    client: &Client,
    topology: &Topology,
    step: &str,
    reviewed: Option<&str>,
) -> Result<(), Failure> {
    use sfb_dr::controller::journal::{confirmations, key_prefix, step_action, CONFIRM_ANNOTATION};
    let name = topology.name_any();
    let api: Api<Topology> =
        Api::namespaced(client.clone(), &topology.namespace().unwrap_or_default());
    let mut current = topology.clone();
    for _ in 0..5 {
        let Some(journal) = current.status.as_ref().and_then(|s| s.plan.as_ref()) else {
            return Err(Failure::BadInput(vec![format!(
                "Topology {name} has no plan: nothing waits for a person"
            )]));
        };
        if let Some(reviewed) = reviewed.filter(|r| *r != journal.id) {
            return Err(Failure::BadInput(vec![format!(
                "the current plan is {}, not {reviewed}: look at it again (kubectl sfbdr plan)",
                journal.id
            )]));
        }
        let Some(st) = journal.steps.iter().find(|s| s.id == step) else {
            return Err(Failure::BadInput(vec![format!(
                "plan {} has no step {step:?}: `kubectl sfbdr plan` lists its steps",
                journal.id
            )]));
        };
        let (Some(key), StepState::AwaitingConfirmation) = (st.confirm_with.clone(), st.state)
        else {
            return Err(Failure::BadInput(vec![format!(
                "step {step} of plan {} is {:?}, not waiting for a person; only a step that is \
                 AwaitingConfirmation can be confirmed",
                journal.id, st.state
            )]));
        };
        let what = step_action(st).map(|a| a.to_string()).unwrap_or_default();
        let prefix = key_prefix(journal);
        let mut keys: Vec<String> = current
            .annotations()
            .get(CONFIRM_ANNOTATION)
            .map(|v| confirmations(v))
            .unwrap_or_default()
            .into_iter()
            .filter(|k| k.starts_with(prefix) && *k != key)
            .collect();
        keys.push(key);
        let patch = json!({"metadata": {
            "resourceVersion": current.resource_version(),
            "annotations": {CONFIRM_ANNOTATION: keys.join(",")}
        }});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {
                println!(
                    "topology.sfbdr.io/{name} confirmed: step {step} of plan {}: {what}",
                    journal.id
                );
                return Ok(());
            }
            // The Topology changed since it was read: look again.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                current = api
                    .get(&name)
                    .await
                    .map_err(|e| live::api_error(&format!("Topology {name}"), e))?;
            }
            Err(e) => return Err(live::api_error(&format!("annotating Topology {name}"), e)),
        }
    }
    Err(Failure::Other(anyhow::anyhow!(
        "Topology {name} kept changing while step {step} was being confirmed; try again"
    )))
}

async fn set_paused(client: &Client, topology: &Topology, paused: bool) -> Result<(), Failure> {
    let name = topology.name_any();
    let api: Api<Topology> =
        Api::namespaced(client.clone(), &topology.namespace().unwrap_or_default());
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": paused}})),
    )
    .await
    .map_err(|e| live::api_error(&format!("Topology {name}"), e))?;
    println!(
        "topology.sfbdr.io/{name} {}",
        if paused { "paused" } else { "resumed" }
    );
    Ok(())
}
