//! `sfb-dr plan` is never a silent no-op: input that names no deployment, or several, is an
//! error; `--detailed-exitcode` tells a pipeline what the plan holds; `-f -` and `--observed -`
//! read standard input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const CONTOSO: &str = include_str!("../examples/contoso.yaml");
const INACTIVE: &str = "examples/drills/redmond-inactive.yaml";
const OBSERVED: &str = "examples/topology.json";
const DOWN: &str = "examples/drills/topology-redmond-down.json";

/// Runs `sfb-dr plan` with `args`, feeding `stdin`.
fn plan(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .arg("plan")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    if let Some(mut input) = child.stdin.take() {
        // A command that never reads its input closes the pipe first; that is not a failure here.
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("it ends")
}

/// `sfb-dr plan` of one manifest file against the example observation.
fn plan_file(path: &str) -> Output {
    plan(&["-f", path, "--observed", OBSERVED], "")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One error line naming what is wrong, exit code 2, nothing on standard output.
fn bad_input(out: &Output, parts: &[&str]) {
    let e = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    for p in parts {
        assert!(e.contains(p), "{p:?} missing from {e:?}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[test]
fn an_empty_manifest_file_is_an_error_not_an_empty_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    for text in ["", "---\n", "# nothing here\n"] {
        let empty = write(dir.path(), "empty.yaml", text);
        bad_input(&plan_file(&empty), &["empty.yaml", "no sfb-dr objects"]);
    }
}

#[test]
fn manifests_without_a_pool_pair_are_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let without: String = CONTOSO
        .split("\n---\n")
        .filter(|doc| {
            !doc.contains("kind: PoolPair") && !doc.contains("kind: CentralManagementStore")
        })
        .collect::<Vec<_>>()
        .join("\n---\n");
    let path = write(dir.path(), "no-pairs.yaml", &without);
    bad_input(&plan_file(&path), &["no-pairs.yaml", "no PoolPair"]);
}

#[test]
fn objects_from_several_namespaces_are_an_error_unless_one_is_picked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = write(
        dir.path(),
        "other.yaml",
        &CONTOSO.replace("namespace: sfb-contoso", "namespace: sfb-fabrikam"),
    );
    let both = [
        "-f",
        "examples/contoso.yaml",
        "-f",
        &other,
        "--observed",
        OBSERVED,
    ];
    bad_input(
        &plan(&both, ""),
        &[
            "several namespaces",
            "sfb-contoso",
            "sfb-fabrikam",
            "--namespace",
        ],
    );
    let picked = plan(&[&both[..], &["--namespace", "sfb-fabrikam"]].concat(), "");
    assert_eq!(picked.status.code(), Some(0), "{}", stderr(&picked));
    assert!(String::from_utf8_lossy(&picked.stdout).contains("nothing to do"));
    bad_input(
        &plan(&[&both[..], &["-n", "sfb-nowhere"]].concat(), ""),
        &[
            "no PoolPair in namespace sfb-nowhere",
            "sfb-contoso, sfb-fabrikam",
        ],
    );
}

#[test]
fn detailed_exitcode_tells_nothing_steps_blocked_and_bad_input_apart() {
    let code = |args: &[&str]| {
        plan(&[args, &["--detailed-exitcode"]].concat(), "")
            .status
            .code()
    };
    assert_eq!(
        code(&["-f", "examples/contoso.yaml", "--observed", OBSERVED]),
        Some(0)
    );
    assert_eq!(
        code(&[
            "-f",
            "examples/contoso.yaml",
            "-f",
            INACTIVE,
            "--observed",
            OBSERVED
        ]),
        Some(3)
    );
    // Steps to run and a pair blocked at once: 4 wins.
    let dir = tempfile::tempdir().expect("tempdir");
    let observed = std::fs::read_to_string(OBSERVED).expect("example");
    let unknown = write(
        dir.path(),
        "unknown.json",
        &observed.replacen("\"health\": \"Up\"", "\"health\": \"Unknown\"", 1),
    );
    let mixed = plan(
        &[
            "-f",
            "examples/contoso.yaml",
            "-f",
            INACTIVE,
            "--observed",
            &unknown,
            "--detailed-exitcode",
        ],
        "",
    );
    let text = String::from_utf8_lossy(&mixed.stdout);
    assert!(
        text.contains("steps, in order") && text.contains("Blocked"),
        "{text}"
    );
    assert_eq!(mixed.status.code(), Some(4));
    assert_eq!(
        code(&["-f", "examples/nope.yaml", "--observed", OBSERVED]),
        Some(2)
    );
    // Without the flag any plan exits 0.
    let plain = plan(
        &[
            "-f",
            "examples/contoso.yaml",
            "-f",
            INACTIVE,
            "--observed",
            &unknown,
        ],
        "",
    );
    assert_eq!(plain.status.code(), Some(0));
}

#[test]
fn a_deployment_whose_cms_location_is_unknown_exits_4_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let down = std::fs::read_to_string(DOWN).expect("example");
    let hidden = write(
        dir.path(),
        "hidden.json",
        &down.replace(",\n    \"pool\": \"pool1.contoso.com\"", ""),
    );
    let out = plan(
        &[
            "-f",
            "examples/contoso.yaml",
            "-f",
            INACTIVE,
            "--observed",
            &hidden,
            "--detailed-exitcode",
        ],
        "",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("no step can run") && text.contains("CmsLocationUnknown"),
        "{text}"
    );
}

#[test]
fn manifests_and_the_observation_read_from_standard_input() {
    let from_stdin = plan(
        &[
            "-f",
            "-",
            "-f",
            INACTIVE,
            "--observed",
            OBSERVED,
            "-o",
            "json",
        ],
        CONTOSO,
    );
    let from_file = plan(
        &[
            "-f",
            "examples/contoso.yaml",
            "-f",
            INACTIVE,
            "--observed",
            OBSERVED,
            "-o",
            "json",
        ],
        "",
    );
    assert_eq!(from_stdin.status.code(), Some(0), "{}", stderr(&from_stdin));
    assert_eq!(from_stdin.stdout, from_file.stdout);
    let observed = std::fs::read_to_string(OBSERVED).expect("example");
    let observed_stdin = plan(
        &["-f", "examples/contoso.yaml", "--observed", "-"],
        &observed,
    );
    assert_eq!(
        observed_stdin.status.code(),
        Some(0),
        "{}",
        stderr(&observed_stdin)
    );
    // Errors in what came from standard input say so.
    bad_input(
        &plan(&["-f", "-", "--observed", OBSERVED], "kind: Sight\n"),
        &["<stdin>", "apiVersion"],
    );
}

#[test]
fn standard_input_is_read_once() {
    bad_input(
        &plan(&["-f", "-", "--observed", "-"], CONTOSO),
        &["standard input", "once"],
    );
    bad_input(
        &plan(&["-f", "-", "-f", "-", "--observed", OBSERVED], CONTOSO),
        &["standard input", "once"],
    );
}

/// What a GitOps folder holds beside the sfb-dr objects: the namespace, the PowerShell driver's
/// Secret and the RBAC that reads it.
const BESIDE: [(&str, &str); 3] = [
    (
        "00-namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sfb-contoso\n",
    ),
    (
        "10-secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sfb-dr-ssh\n  namespace: sfb-contoso\nstringData:\n  privateKey: not-a-real-key-3141\n",
    ),
    (
        "20-rbac.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: sfb-dr-secrets\n  namespace: sfb-contoso\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: sfb-dr-secrets\n  namespace: sfb-contoso\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: sfb-dr-secrets}\nsubjects:\n- {kind: ServiceAccount, name: sfb-dr, namespace: sfb-dr-system}\n",
    ),
];

#[test]
fn a_gitops_folder_with_other_kinds_is_planned_with_a_note_for_each() {
    let dir = tempfile::tempdir().expect("a directory");
    for (name, text) in BESIDE {
        write(dir.path(), name, text);
    }
    let alone = tempfile::tempdir().expect("a directory");
    write(dir.path(), "50-contoso.yaml", CONTOSO);
    write(
        dir.path(),
        "60-inactive.yaml",
        &std::fs::read_to_string(INACTIVE).expect("read"),
    );
    write(alone.path(), "50-contoso.yaml", CONTOSO);
    write(
        alone.path(),
        "60-inactive.yaml",
        &std::fs::read_to_string(INACTIVE).expect("read"),
    );
    let folder = dir.path().display().to_string();
    let out = plan(&["-f", &folder, "--observed", OBSERVED, "-o", "json"], "");
    let notes = stderr(&out);
    assert!(out.status.success(), "{notes}");
    // The same plan as the sfb-dr objects alone give.
    let only = alone.path().display().to_string();
    let expected = plan(&["-f", &only, "--observed", OBSERVED, "-o", "json"], "");
    assert!(expected.status.success(), "{}", stderr(&expected));
    assert_eq!(out.stdout, expected.stdout);
    assert!(stderr(&expected).is_empty(), "{}", stderr(&expected));
    // One line for each object skipped, naming it; the Namespace names the namespace.
    let lines: Vec<&str> = notes.lines().collect();
    assert_eq!(lines.len(), 4, "{notes}");
    for (line, (file, what)) in lines.iter().zip([
        (
            "00-namespace.yaml",
            "skipped Namespace sfb-contoso (declares the namespace sfb-contoso) (v1)",
        ),
        (
            "10-secret.yaml",
            "skipped Secret sfb-contoso/sfb-dr-ssh (v1)",
        ),
        (
            "20-rbac.yaml (document 1)",
            "skipped Role sfb-contoso/sfb-dr-secrets (rbac.authorization.k8s.io/v1)",
        ),
        (
            "20-rbac.yaml (document 2)",
            "skipped RoleBinding sfb-contoso/sfb-dr-secrets (rbac.authorization.k8s.io/v1)",
        ),
    ]) {
        assert!(line.contains(file) && line.contains(what), "{line}");
        assert!(line.ends_with("not an sfb-dr object"), "{line}");
    }
    assert!(
        !notes.contains("not-a-real-key"),
        "a Secret's data never shows: {notes}"
    );
}

#[test]
fn an_sfb_dr_object_of_an_unknown_version_is_still_an_error() {
    let dir = tempfile::tempdir().expect("a directory");
    for (name, text) in BESIDE {
        write(dir.path(), name, text);
    }
    write(
        dir.path(),
        "50-contoso.yaml",
        &CONTOSO.replacen(
            "apiVersion: sfbdr.io/v1alpha1\nkind: Site",
            "apiVersion: sfbdr.io/v1beta1\nkind: Site",
            1,
        ),
    );
    let folder = dir.path().display().to_string();
    let out = plan(&["-f", &folder, "--observed", OBSERVED], "");
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    let last = e.lines().last().unwrap_or_default();
    for part in [
        "50-contoso.yaml (document 2)",
        "Site",
        "apiVersion",
        "unknown apiVersion sfbdr.io/v1beta1",
    ] {
        assert!(last.contains(part), "{part:?} missing from {last:?}");
    }
}

#[test]
fn a_kustomization_beside_the_manifests_is_skipped() {
    let dir = tempfile::tempdir().expect("a directory");
    write(dir.path(), "50-contoso.yaml", CONTOSO);
    write(
        dir.path(),
        "kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [50-contoso.yaml]\n",
    );
    let folder = dir.path().display().to_string();
    let out = plan(&["-f", &folder, "--observed", OBSERVED], "");
    let e = stderr(&out);
    assert!(out.status.success(), "{e}");
    assert!(
        e.contains("kustomization.yaml: skipped Kustomization (kustomize.config.k8s.io/v1beta1): not an sfb-dr object"),
        "{e}"
    );
}

#[test]
fn what_may_be_a_misspelt_sfb_dr_object_is_an_error_not_skipped() {
    for (api_version, kind) in [
        ("sfbdr.io", "Site"),
        ("SFBDR.io/v1alpha1", "Site"),
        ("sfbdr/v1alpha1", "Site"),
        ("v1alpha1", "Site"),
        ("example.com/v1", "PoolPair"),
    ] {
        let dir = tempfile::tempdir().expect("a directory");
        write(
            dir.path(),
            "50-contoso.yaml",
            &CONTOSO.replacen(
                "apiVersion: sfbdr.io/v1alpha1\nkind: Site",
                &format!("apiVersion: {api_version}\nkind: {kind}"),
                1,
            ),
        );
        let folder = dir.path().display().to_string();
        let out = plan(&["-f", &folder, "--observed", OBSERVED], "");
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{api_version} {kind}: {e}");
        assert!(
            e.contains(&format!("unknown apiVersion {api_version}")),
            "{api_version}: {e}"
        );
    }
    let dir = tempfile::tempdir().expect("a directory");
    write(dir.path(), "50-contoso.yaml", CONTOSO);
    write(
        dir.path(),
        "list.yaml",
        "apiVersion: v1\nkind: List\nitems: []\n",
    );
    let folder = dir.path().display().to_string();
    bad_input(
        &plan(&["-f", &folder, "--observed", OBSERVED], ""),
        &[
            "list.yaml",
            "List",
            "give its items as documents of their own",
        ],
    );
}

#[test]
fn a_plan_against_a_server_that_does_not_answer_names_the_server_and_why() {
    // A loopback port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = tempfile::tempdir().expect("a dir");
    let kubeconfig = write(
        dir.path(),
        "dead.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:{port}\", insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    );
    let out = plan(
        &["-f", "examples/contoso.yaml", "--kubeconfig", &kubeconfig],
        "",
    );
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    for part in [
        format!("https://127.0.0.1:{port}"),
        kubeconfig.clone(),
        "Connection refused".into(),
    ] {
        assert!(e.contains(&part), "{part:?} missing from {e:?}");
    }
}

#[test]
fn run_without_any_kubeconfig_is_bad_input_in_one_line() {
    let home = tempfile::tempdir().expect("a home without ~/.kube");
    let out = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .arg("run")
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", home.path())
        .output()
        .expect("it runs");
    bad_input(&out, &["no usable kubeconfig", "--kubeconfig"]);
}

#[test]
fn a_string_longer_than_its_schema_allows_is_refused_offline_as_the_server_would() {
    let long = format!("{}.contoso.com", "p".repeat(300));
    let yaml = std::fs::read_to_string("examples/contoso.yaml")
        .expect("the example")
        .replace(
            "pool1.contoso.com, site: redmond",
            &format!("{long}, site: redmond"),
        );
    let out = plan(&["-f", "-", "--observed", OBSERVED], &yaml);
    bad_input(&out, &["spec.pools[0].fqdn", "more than the 253 allowed"]);
}
