//! The README's tour works verbatim: every `target/debug/sfb-dr plan` and `crd` command in a `sh`
//! block runs, and where the README shows its output in the `text` block after it, the output
//! matches.

use std::process::Command;

/// (command lines joined, shown output if any)
fn tour() -> Vec<(String, Option<String>)> {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let mut out = vec![];
    let mut lines = readme.lines().map(str::trim).peekable();
    while let Some(line) = lines.next() {
        if line != "```sh" {
            continue;
        }
        let mut block = vec![];
        for l in lines.by_ref() {
            if l == "```" {
                break;
            }
            block.push(l.to_owned());
        }
        let shown = if lines.peek() == Some(&"```text") {
            lines.next();
            let mut text = vec![];
            for l in lines.by_ref() {
                if l == "```" {
                    break;
                }
                text.push(l.to_owned());
            }
            Some(text.join("\n"))
        } else {
            None
        };
        let joined = block.join("\n").replace("\\\n", " ");
        if joined.lines().count() == 1 && joined.starts_with("target/debug/sfb-dr ") {
            out.push((joined, shown));
        }
    }
    out
}

fn normalise(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readme_tour_runs_verbatim() {
    let commands = tour();
    assert!(
        commands.len() >= 5,
        "the tour lost its commands: {commands:?}"
    );
    for (command, shown) in commands {
        // Run what the README says through sh, with the freshly built binary in its place.
        let script = command.replacen("target/debug/sfb-dr", env!("CARGO_BIN_EXE_sfb-dr"), 1);
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
        if let Some(shown) = shown {
            let got = normalise(&format!("{stderr}{stdout}"));
            assert_eq!(got, normalise(&shown), "{command}");
        } else {
            assert!(out.status.success(), "{command}: {stderr}");
        }
    }
}

/// The user-facing documents: the README, the architecture map and everything in docs/.
fn project_docs() -> Vec<(String, String)> {
    let mut paths = vec!["README.md".to_owned(), "ARCHITECTURE.md".to_owned()];
    let mut docs: Vec<String> = std::fs::read_dir("docs")
        .expect("docs/")
        .filter_map(|e| e.ok())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
            (p, text)
        })
        .collect()
}

#[test]
fn the_project_docs_stand_alone() {
    let docs = project_docs();
    assert!(docs.len() >= 6, "docs/ lost its pages: {docs:?}");
    for (path, text) in &docs {
        for outside in [
            "DESIGN section",
            "DESIGN.md",
            "DESIGN rule",
            "../shared",
            "SFB-DR-FACTS",
        ] {
            assert!(
                !text.contains(outside),
                "{path} sends readers to {outside:?}, which is not in the repository"
            );
        }
        // Every relative link leads to a file of the repository.
        let dir = std::path::Path::new(path)
            .parent()
            .unwrap_or(std::path::Path::new(""));
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap_or("");
            let file = target.split('#').next().unwrap_or("");
            if file.is_empty() || file.contains("://") {
                continue;
            }
            assert!(
                dir.join(file).exists(),
                "{path} links to {target}, which does not exist"
            );
        }
    }
}

#[test]
fn every_table_row_has_as_many_cells_as_its_header() {
    for (path, text) in project_docs() {
        let mut columns = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with('|') {
                columns = None;
                continue;
            }
            // A pipe escaped as \| stays inside its cell.
            let cells = line.replace("\\|", "").matches('|').count();
            match columns {
                None => columns = Some(cells),
                Some(n) => assert_eq!(n, cells, "{path}:{}: {line}", i + 1),
            }
        }
    }
}
