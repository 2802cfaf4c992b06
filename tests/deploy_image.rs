//! The Dockerfile and .dockerignore. No Docker engine runs here, so the image is not built:
//! these check the Dockerfile's structure (a multi-stage build of a static musl binary, a
//! minimal final stage with the ssh client, a non-root numeric user that the Deployment
//! matches) and that the build context .dockerignore lets through is enough for cargo.

mod kustomize;

use std::path::Path;
use std::process::Command;

/// One Dockerfile instruction: keyword (upper case) and its arguments, continuations joined.
fn instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string("Dockerfile").expect("Dockerfile");
    let mut out = vec![];
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, args) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((keyword.to_uppercase(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    assert!(current.is_empty(), "the Dockerfile ends in a continuation");
    out
}

/// The instructions of each stage, by `FROM` line.
fn stages() -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = vec![];
    for (keyword, args) in instructions() {
        if keyword == "FROM" {
            out.push((args, vec![]));
        } else if let Some(stage) = out.last_mut() {
            stage.1.push((keyword, args));
        } else {
            assert_eq!(keyword, "ARG", "only ARG may come before the first FROM");
        }
    }
    out
}

fn declared_rust_version() -> String {
    let manifest = std::fs::read_to_string("Cargo.toml").expect("Cargo.toml");
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("rust-version in Cargo.toml")
        .to_owned()
}

#[test]
fn the_image_builds_a_static_musl_binary_in_a_stage_of_its_own() {
    let stages = stages();
    assert_eq!(stages.len(), 2, "a build stage and a run stage");
    let (from, build) = &stages[0];
    assert!(from.ends_with(" AS build"), "{from}");
    // Alpine's Rust builds for musl; crt-static links it in.
    assert!(from.starts_with("rust:${RUST_VERSION}-alpine"), "{from}");
    let arg = instructions()
        .into_iter()
        .find(|(k, a)| k == "ARG" && a.starts_with("RUST_VERSION="))
        .expect("ARG RUST_VERSION");
    assert_eq!(
        arg.1,
        format!("RUST_VERSION={}", declared_rust_version()),
        "the Rust that Cargo.toml declares"
    );
    let env: Vec<&String> = build
        .iter()
        .filter(|(k, _)| k == "ENV")
        .map(|(_, a)| a)
        .collect();
    assert!(
        env.iter().any(|a| a.contains("+crt-static")),
        "a static binary: {env:?}"
    );
    let run: String = build
        .iter()
        .filter(|(k, _)| k == "RUN")
        .map(|(_, a)| a.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        run.contains("cargo build --release --locked --bin sfb-dr"),
        "{run}"
    );
}

#[test]
fn the_final_image_is_minimal_and_runs_as_the_deployments_non_root_user() {
    let stages = stages();
    let (from, run) = stages.last().expect("a final stage");
    // A pinned, small base: Alpine for the OpenSSH client the PowerShell driver runs.
    assert!(from.starts_with("alpine:3."), "{from}");
    for (keyword, args) in run {
        match keyword.as_str() {
            "RUN" => {
                assert!(
                    args.starts_with("apk add --no-cache openssh-client "),
                    "{args}"
                );
            }
            "COPY" => assert_eq!(args, "--from=build /out/sfb-dr /usr/local/bin/sfb-dr"),
            "USER" | "ENTRYPOINT" | "CMD" | "EXPOSE" => {}
            other => panic!("the final stage adds {other} {args}"),
        }
    }
    let value = |k: &str| {
        run.iter()
            .find(|(keyword, _)| keyword == k)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let user = value("USER");
    let (uid, gid) = user.split_once(':').expect("USER uid:gid");
    let uid: i64 = uid
        .parse()
        .expect("a numeric uid, so runAsNonRoot can check it");
    assert!(uid > 0);
    assert!(gid.parse::<i64>().is_ok_and(|g| g > 0));
    // ssh refuses a uid with no passwd entry: the user must be created, with that uid.
    assert!(value("RUN").contains(&format!("adduser -S -D -H -u {uid} ")));
    assert_eq!(value("ENTRYPOINT"), r#"["/usr/local/bin/sfb-dr"]"#);
    let objects = kustomize::build("deploy");
    let pod = &kustomize::find(&objects, "Deployment", "sfb-dr")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], uid);
    assert_eq!(
        pod["securityContext"]["runAsGroup"]
            .as_i64()
            .map(|g| g.to_string()),
        Some(gid.to_owned())
    );
    assert_eq!(pod["containers"][0]["image"], "sfb-dr:0.1.0");
    let expose = value("EXPOSE");
    assert_eq!(
        pod["containers"][0]["ports"][0]["containerPort"].to_string(),
        expose
    );
}

/// The paths .dockerignore lets back in after ignoring everything.
fn context() -> Vec<String> {
    let text = std::fs::read_to_string(".dockerignore").expect(".dockerignore");
    let rules: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        rules.first(),
        Some(&"*"),
        "an allow-list: everything out first"
    );
    rules[1..]
        .iter()
        .map(|r| {
            r.strip_prefix('!')
                .unwrap_or_else(|| panic!("after *, only exceptions: {r}"))
                .trim_end_matches('/')
                .to_owned()
        })
        .collect()
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(from, to).expect("copy");
    }
}

#[test]
fn the_build_context_holds_everything_cargo_needs_and_no_build_output() {
    let allowed = context();
    for path in &allowed {
        assert!(
            Path::new(path).exists(),
            ".dockerignore lets in {path}, which does not exist"
        );
        assert!(!path.starts_with("target"), "{path}");
    }
    let dir = tempfile::tempdir().expect("a directory");
    for path in &allowed {
        copy(Path::new(path), &dir.path().join(path));
    }
    // What the build stage's `cargo build --locked` reads before compiling: the workspace, its
    // members and every target they declare, resolved against the lock file (`fetch` parses
    // the manifests strictly; offline, because the registry is cached).
    let cargo = |args: &[&str]| {
        let out = Command::new(env!("CARGO"))
            .args(args)
            .args(["--locked", "--offline"])
            .current_dir(dir.path())
            .env("CARGO_TARGET_DIR", dir.path().join("target"))
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo {args:?} cannot read the build context: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    // Only the host's packages: those are the ones the test build already downloaded.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    cargo(&["fetch", "--target", &host]);
    // `metadata` resolves every platform's dependencies unless told the one to keep; offline,
    // with only the host's crates cached, it would fail on a fresh machine.
    let out = cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--filter-platform",
        &host,
    ]);
    let metadata: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    let binaries: Vec<String> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["kind"][0] == "bin")
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    assert!(binaries.iter().any(|b| b == "sfb-dr"), "{binaries:?}");
}
