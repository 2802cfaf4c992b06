//! Every script sfb-dr renders parses under an independent PowerShell grammar
//! (tree-sitter-powershell, from PyPI) and uses no syntax Windows PowerShell 5.1 lacks. The
//! scripts are the reviewed goldens (which `powershell_scripts` and `powershell_runbook` prove
//! are what the renderer writes), the observe and operation sources, and a runbook rendered here.
//! Needs Python 3 with `pip install tree-sitter tree-sitter-powershell` (`.ci/run` installs them).

use std::path::PathBuf;
use std::process::Command;

fn scripts_in(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ps1"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_rendered_script_parses_as_windows_powershell_5_1() {
    let dir = tempfile::tempdir().expect("a directory");
    // A disaster runbook with -WhatIf, rendered now: a CMS recovery, disaster failovers.
    let runbook = Command::new(env!("CARGO_BIN_EXE_sfb-dr"))
        .args([
            "plan",
            "-f",
            "examples/contoso.yaml",
            "-f",
            "examples/drills/redmond-inactive.yaml",
            "--observed",
            "examples/drills/topology-redmond-down.json",
            "-o",
            "powershell",
            "--whatif",
        ])
        .output()
        .expect("sfb-dr runs");
    assert!(
        !runbook.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&runbook.stderr)
    );
    let rendered = dir.path().join("runbook_disaster_whatif.ps1");
    std::fs::write(&rendered, &runbook.stdout).expect("write");
    let mut files = scripts_in("tests/golden/powershell");
    files.extend(scripts_in("src/driver/powershell"));
    files.push(rendered);
    assert!(files.len() >= 15, "{files:?}");
    let out = Command::new("python3")
        .arg("tests/grammar/check_powershell.py")
        .args(&files)
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!("{} files parsed, 0 problems", files.len())),
        "{said}"
    );
}
