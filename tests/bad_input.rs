//! Bad manifests and observed topologies get one line naming the file, the object and the field,
//! exit code 2, and never a panic (issue: core, point 6).

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use sfb_dr::manifest::{self, Manifests};

const CONTOSO: &str = include_str!("../examples/contoso.yaml");
const OBSERVED: &str = include_str!("../examples/topology.json");

struct Case {
    _dir: tempfile::TempDir,
    manifests: PathBuf,
    observed: PathBuf,
}

/// The example deployment with `edit` applied to the manifests and `edit_observed` to the observation.
fn case(edit: impl Fn(&str) -> String, edit_observed: impl Fn(&str) -> String) -> Case {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("contoso.yaml");
    let observed = dir.path().join("observed.json");
    std::fs::write(&manifests, edit(CONTOSO)).expect("write");
    std::fs::write(&observed, edit_observed(OBSERVED)).expect("write");
    Case {
        _dir: dir,
        manifests,
        observed,
    }
}

fn replace(from: &'static str, to: &'static str) -> impl Fn(&str) -> String {
    move |s: &str| {
        assert!(s.contains(from), "the example no longer contains {from:?}");
        s.replacen(from, to, 1)
    }
}

fn same(s: &str) -> String {
    s.to_owned()
}

/// Runs `sfb-dr plan` and returns its single error line, asserting exit code 2.
fn plan_error(files: &[&Path], observed: &Path) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sfb-dr"));
    cmd.arg("plan");
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = cmd.arg("--observed").arg(observed).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn one_line(c: &Case) -> String {
    let e = plan_error(&[&c.manifests], &c.observed);
    assert_eq!(e.lines().count(), 1, "{e}");
    e
}

fn assert_names(e: &str, parts: &[&str]) {
    for p in parts {
        assert!(e.contains(p), "{p:?} missing from {e:?}");
    }
}

#[test]
fn malformed_yaml_names_the_file() {
    let c = case(
        replace(
            "  pools:\n    - {fqdn: pool1",
            "  pools:\n   - [fqdn: pool1",
        ),
        same,
    );
    assert_names(&one_line(&c), &["contoso.yaml", "not valid YAML"]);
}

#[test]
fn malformed_observed_json_names_the_file() {
    let c = case(same, |s| s.replacen('}', "", 1));
    assert_names(&one_line(&c), &["observed.json", "not valid YAML or JSON"]);
}

#[test]
fn unknown_kind_is_refused() {
    let c = case(replace("kind: Site\n", "kind: Sight\n"), same);
    assert_names(
        &one_line(&c),
        &[
            "contoso.yaml (document 2)",
            "Sight redmond",
            "kind",
            "unknown kind",
        ],
    );
}

#[test]
fn unknown_field_is_named() {
    let c = case(
        replace(
            "{fqdn: pool1.contoso.com, site: redmond}",
            "{fqdn: pool1.contoso.com, site: redmond, weight: 3}",
        ),
        same,
    );
    assert_names(
        &one_line(&c),
        &[
            "PoolPair pool1-pool2",
            "spec.pools[0].weight",
            "unknown field",
        ],
    );
}

#[test]
fn missing_field_is_named() {
    let c = case(
        replace(
            "{fqdn: pool3.contoso.com, site: redmond}",
            "{fqdn: pool3.contoso.com}",
        ),
        same,
    );
    assert_names(
        &one_line(&c),
        &["PoolPair pool3-pool4", "spec.pools[0]", "site"],
    );
}

#[test]
fn unknown_field_in_the_observed_topology_is_named() {
    let c = case(same, |s| s.replacen("\"users\"", "\"userz\"", 1));
    assert_names(&one_line(&c), &["observed.json", "pools[0]", "userz"]);
}

#[test]
fn a_pool_in_two_pairs_is_refused() {
    let c = case(
        replace(
            "{fqdn: pool4.contoso.com, site: dublin}",
            "{fqdn: pool2.contoso.com, site: dublin}",
        ),
        same,
    );
    let e = plan_error(&[&c.manifests], &c.observed);
    assert_names(
        &e,
        &[
            "PoolPair pool3-pool4",
            "spec.pools[1].fqdn",
            "already in PoolPair pool1-pool2",
        ],
    );
    assert!(!e.contains("panicked"));
}

#[test]
fn a_pair_inside_one_site_is_refused() {
    let c = case(
        replace(
            "{fqdn: pool4.contoso.com, site: dublin}",
            "{fqdn: pool4.contoso.com, site: Redmond}",
        ),
        same,
    );
    assert_names(&one_line(&c), &["PoolPair pool3-pool4", "different sites"]);
}

#[test]
fn a_pool_whose_site_disagrees_with_the_deployment_is_refused() {
    let c = case(
        replace(
            "{fqdn: pool1.contoso.com, site: redmond}",
            "{fqdn: pool1.contoso.com, site: paris}",
        ),
        same,
    );
    assert_names(
        &one_line(&c),
        &[
            "PoolPair pool1-pool2",
            "spec.pools[0].site",
            "in site redmond according to the deployment, not paris",
        ],
    );
}

#[test]
fn an_invalid_fqdn_is_refused() {
    let c = case(
        replace("{fqdn: pool5.contoso.com", "{fqdn: \"pool5;rm -rf\""),
        same,
    );
    assert_names(
        &one_line(&c),
        &[
            "PoolPair pool5-pool6",
            "spec.pools[0].fqdn",
            "fully qualified domain name",
        ],
    );
}

#[test]
fn a_cms_naming_a_missing_pair_is_refused() {
    let c = case(replace("  pair: pool1-pool2", "  pair: pool7-pool8"), same);
    assert_names(
        &one_line(&c),
        &[
            "CentralManagementStore cms",
            "spec.pair",
            "pool7-pool8 is not declared",
        ],
    );
}

#[test]
fn a_cms_pool_outside_its_pair_is_refused() {
    let c = case(
        replace(
            "preferredPool: pool1.contoso.com",
            "preferredPool: pool3.contoso.com",
        ),
        same,
    );
    assert_names(
        &one_line(&c),
        &[
            "CentralManagementStore cms",
            "spec.preferredPool",
            "not in PoolPair pool1-pool2",
        ],
    );
    let c = case(
        replace(
            "{pool: pool2.contoso.com, sqlServerFqdn",
            "{pool: pool4.contoso.com, sqlServerFqdn",
        ),
        same,
    );
    assert_names(&one_line(&c), &["spec.backupSql[0].pool"]);
}

#[test]
fn a_second_topology_is_refused() {
    let second = "---\napiVersion: sfbdr.io/v1alpha1\nkind: Topology\nmetadata: {name: other}\nspec:\n  driver: {simulator: {url: \"http://127.0.0.1:1\"}}\n";
    let c = case(move |s: &str| format!("{s}{second}"), same);
    let e = plan_error(&[&c.manifests], &c.observed);
    assert_eq!(e.lines().count(), 2, "one line per Topology: {e}");
    assert_names(&e, &["Topology contoso", "Topology other", "one Topology"]);
}

#[test]
fn a_huge_integer_names_the_object_and_the_field() {
    let c = case(
        replace(
            "maxParallelSteps: 4",
            "maxParallelSteps: 99999999999999999999999",
        ),
        same,
    );
    assert_names(
        &one_line(&c),
        &[
            "contoso.yaml (document 1)",
            "Topology contoso",
            "spec.maxParallelSteps",
            "99999999999999999999999",
            "out of range",
        ],
    );
    // Within 64 bits but too large for the field: the typed check names it the same way.
    let c = case(
        replace("maxParallelSteps: 4", "maxParallelSteps: 5000000000"),
        same,
    );
    assert_names(
        &one_line(&c),
        &["Topology contoso", "spec.maxParallelSteps", "5000000000"],
    );
    let c = case(same, |s| {
        s.replacen("\"users\": 20000", "\"users\": 184467440737095516160", 1)
    });
    assert_names(
        &one_line(&c),
        &[
            "observed.json",
            "observed topology",
            "pools[0].users",
            "out of range",
        ],
    );
    let c = case(same, |s| {
        s.replacen(
            "\"lastSyncAgeSeconds\": 40",
            "\"lastSyncAgeSeconds\": -99999999999999999999",
            1,
        )
    });
    assert_names(
        &one_line(&c),
        &["backup[0].lastSyncAgeSeconds", "out of range"],
    );
}

#[test]
fn an_edge_pool_the_deployment_does_not_have_is_refused() {
    let site = |edges: &'static str| {
        move |s: &str| {
            s.replacen(
                "  name: dublin\n  namespace: sfb-contoso\nspec:\n  active: true\n",
                edges,
                1,
            )
        }
    };
    let c = case(
        site("  name: dublin\n  namespace: sfb-contoso\nspec:\n  active: true\n  edgePools:\n    - {fqdn: edge9.contoso.com, nextHop: pool2.contoso.com}\n"),
        same,
    );
    assert_names(
        &one_line(&c),
        &[
            "Site dublin",
            "spec.edgePools[0].fqdn",
            "edge9.contoso.com is not in the observed topology",
        ],
    );
    let c = case(
        site("  name: dublin\n  namespace: sfb-contoso\nspec:\n  active: true\n  edgePools:\n    - {fqdn: edge1.contoso.com, nextHop: pool2.contoso.com}\n"),
        same,
    );
    assert_names(
        &one_line(&c),
        &[
            "Site dublin",
            "spec.edgePools[0].fqdn",
            "in site redmond according to the deployment",
        ],
    );
    let c = case(
        site("  name: dublin\n  namespace: sfb-contoso\nspec:\n  active: true\n  edgePools:\n    - {fqdn: edge2.contoso.com, nextHop: pool9.contoso.com}\n"),
        same,
    );
    assert_names(
        &one_line(&c),
        &[
            "Site dublin",
            "spec.edgePools[0].nextHop",
            "pool9.contoso.com is not a Front End pool",
        ],
    );
}

#[test]
fn an_edge_pool_declared_by_two_sites_is_refused() {
    let c = case(
        |s: &str| {
            s.replacen(
                "  name: redmond\n  namespace: sfb-contoso\nspec:\n  active: true\n",
                "  name: redmond\n  namespace: sfb-contoso\nspec:\n  active: true\n  edgePools:\n    - {fqdn: edge2.contoso.com, nextHop: pool1.contoso.com}\n",
                1,
            )
            .replacen(
                "  name: dublin\n  namespace: sfb-contoso\nspec:\n  active: true\n",
                "  name: dublin\n  namespace: sfb-contoso\nspec:\n  active: true\n  edgePools:\n    - {fqdn: edge2.contoso.com, nextHop: pool2.contoso.com}\n",
                1,
            )
        },
        same,
    );
    let e = plan_error(&[&c.manifests], &c.observed);
    assert_names(&e, &["Site dublin", "already declared by Site redmond"]);
}

#[test]
fn a_missing_file_is_named() {
    let c = case(same, same);
    let missing = c.manifests.with_file_name("nope.yaml");
    let e = plan_error(&[&missing], &c.observed);
    assert_names(&e, &["nope.yaml", "cannot read"]);
}

#[test]
fn bad_flags_exit_with_code_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .args([
            "plan",
            "-f",
            "examples/contoso.yaml",
            "--observed",
            "examples/topology.json",
            "-o",
            "xml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("xml"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_parsers(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let mut m = Manifests::default();
        let _ = manifest::parse_into(&mut m, &text, "fuzz.yaml");
        let _ = manifest::parse_observed(&text, "fuzz.json");
    }

    #[test]
    fn mangled_examples_never_panic_the_parsers(cut in 0usize..4000, junk in "[ -~\n]{0,12}") {
        for base in [CONTOSO, OBSERVED] {
            let at = base.char_indices().map(|(i, _)| i).nth(cut % base.len()).unwrap_or(0);
            let text = format!("{}{junk}{}", &base[..at], &base[at..]);
            let mut m = Manifests::default();
            match manifest::parse_into(&mut m, &text, "mangled.yaml") {
                Ok(()) => {}
                Err(e) => prop_assert!(e.to_string().starts_with("mangled.yaml")),
            }
            if let Ok(t) = manifest::parse_observed(&text, "mangled.json") {
                let _ = sfb_dr::model::ObservedIndex::new(t);
            }
        }
    }
}

/// A name or namespace the API server would refuse is refused here too, naming the field.
#[test]
fn a_name_a_cluster_would_refuse_is_refused() {
    for (meta, field) in [
        ("{name: \"Pool1\\npool2\", namespace: ns}", "metadata.name"),
        (
            "{name: pool1-pool2, namespace: \"Bad_NS\"}",
            "metadata.namespace",
        ),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("pair.yaml");
        std::fs::write(
            &file,
            format!("apiVersion: sfbdr.io/v1alpha1\nkind: PoolPair\nmetadata: {meta}\nspec:\n  pools:\n    - {{fqdn: pool1.contoso.com, site: redmond}}\n    - {{fqdn: pool2.contoso.com, site: dublin}}\n"),
        )
        .expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
            .args(["plan", "-f"])
            .arg(&file)
            .args(["--observed", "examples/topology.json"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(field), "{field}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
}

/// Deep nesting is refused before the YAML parser, whose cost grows with the square of the
/// depth: 400 KB of `[` is an error at once, in manifests and in an observed topology alike.
#[test]
fn a_manifest_nested_too_deep_is_refused_before_parsing() {
    let dir = tempfile::tempdir().expect("dir");
    let deep = dir.path().join("deep.yaml");
    std::fs::write(&deep, "[".repeat(400_000)).expect("write");
    for args in [
        vec![
            "-f",
            deep.to_str().expect("utf-8"),
            "--observed",
            "examples/topology.json",
        ],
        vec![
            "-f",
            "examples/contoso.yaml",
            "--observed",
            deep.to_str().expect("utf-8"),
        ],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
            .arg("plan")
            .args(&args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("nested more than 100 levels deep"),
            "{stderr}"
        );
    }
}
