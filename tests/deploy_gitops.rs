//! deploy/gitops: the CI workflow's scripts run under bash with stand-ins for `docker` (which
//! would run the operator's image) and `gh`, and post what each plan outcome calls for; the
//! Flux and Argo CD examples point at paths and objects that exist.

mod kustomize;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const WORKFLOW: &str = "deploy/gitops/ci/sfb-dr-plan.yaml";

fn workflow() -> Value {
    let docs = kustomize::file(WORKFLOW);
    assert_eq!(docs.len(), 1);
    docs[0].clone()
}

/// The steps of the plan job, by name.
fn steps() -> BTreeMap<String, Value> {
    workflow()["jobs"]["plan"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str().map(|n| (n.to_owned(), s.clone())))
        .collect()
}

/// The flags `sfb-dr plan` will have (the live-cluster planning being built beside this).
const PLAN_FLAGS: [&str; 5] = [
    "-f",
    "--kubeconfig",
    "--namespace",
    "-o",
    "--detailed-exitcode",
];

#[test]
fn the_workflow_asks_for_least_privilege_and_runs_on_pull_requests() {
    let w = workflow();
    assert!(w["on"]["pull_request"].is_object(), "{}", w["on"]);
    let permissions = w["permissions"].as_object().expect("permissions");
    assert_eq!(permissions.len(), 2, "{permissions:?}");
    assert_eq!(w["permissions"]["contents"], "read");
    assert_eq!(w["permissions"]["pull-requests"], "write");
    // Every run script is valid bash.
    for (name, step) in steps() {
        if let Some(script) = step["run"].as_str() {
            let out = Command::new("bash")
                .args(["-n", "-c", script])
                .output()
                .expect("bash runs");
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn the_workflow_calls_sfb_dr_plan_with_its_flags_only() {
    let steps = steps();
    let script = steps["Plan against the live deployment"]["run"]
        .as_str()
        .expect("run");
    let call = script
        .lines()
        .find(|l| l.contains("\"$SFB_DR_IMAGE\" plan "))
        .expect("the image runs sfb-dr plan");
    let after = call.split_once(" plan ").expect("plan").1;
    for token in after.split_whitespace().filter(|t| t.starts_with('-')) {
        assert!(PLAN_FLAGS.contains(&token), "sfb-dr plan has no {token}");
    }
    let mut outputs: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("plan -o "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    outputs.sort_unstable();
    assert_eq!(outputs, ["mermaid", "powershell", "text"]);
    for flag in script
        .lines()
        .filter(|l| l.trim().starts_with("plan -o "))
        .flat_map(|l| l.split_whitespace().filter(|t| t.starts_with('-')))
    {
        assert!(PLAN_FLAGS.contains(&flag), "sfb-dr plan has no {flag}");
    }
}

/// Writes an executable shell script.
fn stub(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// What running the workflow's steps did, for a plan that exits `code`.
struct Run {
    /// The Plan step's exit status and its `code` output.
    plan_ok: bool,
    code: String,
    /// The comment posted, if one was.
    comment: Option<String>,
    /// Every `docker` command line.
    docker: Vec<String>,
    /// Whether the last step failed the job.
    failed: bool,
}

fn run_workflow(code: i32) -> Run {
    let dir = tempfile::tempdir().expect("a runner");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let log = dir.path().join("docker.log");
    // The operator's image: prints a plan in the format asked for, exits as sfb-dr plan would.
    stub(
        &bin,
        "docker",
        &format!(
            r#"echo "$*" >> {log}
case "$*" in
  *"-o text"*) echo "Plan 5c586d6c5b88c790: 1 steps, in order:"; echo "  1. [s1] fail over pool1.contoso.com"; echo "bad manifest" >&2; exit {code} ;;
  *"-o mermaid"*) printf '```mermaid\nflowchart TD\n  s1[Invoke-CsPoolFailOver pool1]\n```\n' ;;
  *"-o powershell"*) echo "Invoke-CsPoolFailOver -PoolFqdn 'pool1.contoso.com'" ;;
esac"#,
            log = log.display()
        ),
    );
    let posted = dir.path().join("posted.md");
    stub(
        &bin,
        "gh",
        &format!(
            r#"while [ $# -gt 0 ]; do [ "$1" = "--body-file" ] && cp "$2" {posted}; shift; done"#,
            posted = posted.display()
        ),
    );
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    let output = dir.path().join("github_output");
    std::fs::write(&output, "").expect("write");
    let w = workflow();
    let steps = steps();
    let job_env = w["jobs"]["plan"]["env"]
        .as_object()
        .expect("job env")
        .clone();
    let run_step = |name: &str, extra: &[(&str, &str)]| -> bool {
        let script = steps[name]["run"].as_str().expect("run");
        let mut command = Command::new("bash");
        command
            .args(["-e", "-c", script])
            .current_dir(&work)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("RUNNER_TEMP", dir.path())
            .env("GITHUB_OUTPUT", &output);
        for (k, v) in &job_env {
            command.env(k, v.as_str().expect("a string"));
        }
        for (k, v) in extra {
            command.env(k, v);
        }
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("bash runs")
            .success()
    };
    let plan_ok = run_step(
        "Plan against the live deployment",
        &[("KUBECONFIG_DATA", "apiVersion: v1\nkind: Config\n")],
    );
    let outputs = std::fs::read_to_string(&output).expect("outputs");
    let code_out = outputs
        .lines()
        .find_map(|l| l.strip_prefix("code="))
        .unwrap_or_default()
        .to_owned();
    let comment_if = steps["Comment on the pull request"]["if"]
        .as_str()
        .expect("if");
    assert!(comment_if.contains("steps.plan.outputs.code != ''"));
    if !code_out.is_empty() {
        run_step(
            "Comment on the pull request",
            &[("PR", "42"), ("CODE", &code_out), ("GH_TOKEN", "t")],
        );
    }
    let fail_if = steps["Fail on bad manifests or a failed plan"]["if"]
        .as_str()
        .expect("if");
    let failed = (fail_if.contains(&format!("code == '{code_out}'")))
        && !run_step("Fail on bad manifests or a failed plan", &[]);
    let kubeconfig = std::fs::read_to_string(dir.path().join("kubeconfig")).expect("kubeconfig");
    assert_eq!(kubeconfig, "apiVersion: v1\nkind: Config\n");
    Run {
        plan_ok,
        code: code_out,
        comment: std::fs::read_to_string(&posted).ok(),
        docker: std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect(),
        failed,
    }
}

#[test]
fn steps_to_run_post_the_plan_its_graph_and_the_runbook() {
    let run = run_workflow(3);
    assert!(run.plan_ok);
    assert_eq!(run.code, "3");
    assert!(!run.failed);
    assert_eq!(run.docker.len(), 3, "{:?}", run.docker);
    for call in &run.docker {
        assert!(
            call.contains("plan -f dr/contoso --kubeconfig /kubeconfig --namespace sfb-contoso"),
            "{call}"
        );
    }
    assert!(run.docker[0].ends_with("-o text --detailed-exitcode"));
    let comment = run.comment.expect("a comment");
    for part in [
        "Merging starts these steps.",
        "```text\nPlan 5c586d6c5b88c790",
        "```mermaid\nflowchart TD",
        "<details><summary>PowerShell runbook</summary>",
        "```powershell\nInvoke-CsPoolFailOver -PoolFqdn 'pool1.contoso.com'",
    ] {
        assert!(
            comment.contains(part),
            "the comment lacks {part:?}:\n{comment}"
        );
    }
}

#[test]
fn a_blocked_pair_is_posted_without_failing_the_check() {
    let run = run_workflow(4);
    assert_eq!(run.code, "4");
    assert!(!run.failed);
    let comment = run.comment.expect("a comment");
    assert!(comment.contains("**Something is blocked**"), "{comment}");
    assert_eq!(
        comment.matches("```mermaid").count(),
        1,
        "the flowchart is fenced once, as -o mermaid prints it:\n{comment}"
    );
}

#[test]
fn nothing_to_do_posts_the_plan_alone() {
    let run = run_workflow(0);
    assert_eq!(run.docker.len(), 1, "no graph or runbook for an empty plan");
    let comment = run.comment.expect("a comment");
    assert!(comment.contains("Merging changes nothing"), "{comment}");
    assert!(!comment.contains("```mermaid") && !comment.contains("runbook"));
}

#[test]
fn bad_manifests_are_posted_and_fail_the_check() {
    let run = run_workflow(2);
    assert_eq!(run.code, "2");
    assert!(
        run.plan_ok,
        "the Plan step records the code and lets the comment be posted"
    );
    let comment = run.comment.expect("a comment");
    assert!(
        comment.contains("**The plan failed** (exit 2)"),
        "{comment}"
    );
    assert!(
        comment.contains("bad manifest"),
        "sfb-dr's error is in the comment"
    );
    assert!(run.failed, "the check fails");
}

#[test]
fn flux_kustomizations_apply_paths_and_check_objects_that_exist() {
    let objects = kustomize::build("deploy/gitops/flux");
    let repo = kustomize::find(&objects, "GitRepository", "sfb-dr");
    let flux = kustomize::of_kind(&objects, "Kustomization");
    assert_eq!(flux.len(), 3);
    let names: Vec<&str> = flux
        .iter()
        .filter_map(|k| k["metadata"]["name"].as_str())
        .collect();
    let base = kustomize::build("deploy");
    for k in &flux {
        let spec = &k["spec"];
        assert_eq!(spec["sourceRef"]["kind"], "GitRepository");
        assert_eq!(spec["sourceRef"]["name"], repo["metadata"]["name"]);
        for dep in spec["dependsOn"].as_array().cloned().unwrap_or_default() {
            assert!(
                names.contains(&dep["name"].as_str().unwrap_or_default()),
                "{dep}"
            );
        }
        let path = spec["path"].as_str().expect("path");
        if path != "./dr/contoso" {
            assert!(Path::new(path).is_dir(), "{path} is not in this repository");
        }
        for check in spec["healthChecks"].as_array().cloned().unwrap_or_default() {
            match check["kind"].as_str() {
                Some("Deployment") => {
                    let d = kustomize::find(
                        &base,
                        "Deployment",
                        check["name"].as_str().unwrap_or_default(),
                    );
                    assert_eq!(check["namespace"], d["metadata"]["namespace"]);
                }
                Some("Topology") => assert_eq!(check["apiVersion"], "sfbdr.io/v1alpha1"),
                other => panic!("unexpected health check {other:?}"),
            }
        }
    }
    let crds = kustomize::find(&objects, "Kustomization", "sfb-dr-crds");
    assert_eq!(
        crds["spec"]["prune"], false,
        "pruning a CRD deletes every object of its kind"
    );
}

#[test]
fn argo_cd_applications_sync_paths_that_exist() {
    let apps = kustomize::file("deploy/gitops/argocd/applications.example.yaml");
    let crds = kustomize::find(&apps, "Application", "sfb-dr-crds");
    let operator = kustomize::find(&apps, "Application", "sfb-dr");
    assert_eq!(crds["spec"]["source"]["path"], "crds");
    assert_eq!(operator["spec"]["source"]["path"], "deploy");
    for app in [crds, operator] {
        assert!(Path::new(app["spec"]["source"]["path"].as_str().expect("a path")).is_dir());
    }
    assert_eq!(
        crds["spec"]["syncPolicy"]["automated"]["prune"], false,
        "pruning a CRD deletes every object of its kind"
    );
    let dr = kustomize::find(&apps, "Application", "sfb-contoso");
    assert_eq!(dr["spec"]["syncPolicy"]["automated"]["prune"], false);
    assert_eq!(dr["spec"]["destination"]["namespace"], "sfb-contoso");
}
