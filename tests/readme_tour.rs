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
