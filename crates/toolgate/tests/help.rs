//! Every `--help` a person reads: positionals described, allowed values listed, exit codes
//! given, and no flag offered that the command rejects.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const COMMANDS: &[&[&str]] = &[
    &["validate"],
    &["run"],
    &["grade"],
    &["report"],
    &["compare"],
    &["gate"],
    &["agree"],
    &["latency"],
    &["mock"],
    &["tools", "import"],
    &["tools", "diff"],
    &["import", "bfcl"],
    &["merge"],
    &["swap"],
];

#[test]
fn every_command_lists_its_exit_codes_and_describes_its_positionals() {
    for c in COMMANDS {
        let h = help(c);
        // `tools`/`import` print theirs on the parent; the leaves inherit nothing, so check
        // the parent for those.
        let with_codes = if c.len() == 2 {
            help(&c[..1])
        } else {
            h.clone()
        };
        assert!(with_codes.contains("Exit codes:"), "{c:?}:\n{with_codes}");
        // A positional without a description shows as a bare `  <NAME>` line.
        for line in h.lines() {
            let t = line.trim();
            if t.starts_with('<') && line.starts_with("  ") && !t.contains("  ") {
                let next = h.lines().skip_while(|l| *l != line).nth(1).unwrap_or("");
                assert!(
                    next.starts_with("          "),
                    "{c:?}: positional {t} has no description:\n{h}"
                );
            }
        }
    }
}

/// Help text with its wrapping undone.
fn flat(args: &[&str]) -> String {
    help(args).split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn allowed_values_are_listed() {
    assert!(flat(&["run"]).contains("[possible values: on, off, both"));
    assert!(flat(&["import", "bfcl"]).contains("simple, multiple, parallel"));
    assert!(flat(&["report"]).contains("md, json, csv, junit, html"));
    assert!(flat(&["gate"]).contains("1 failed, or inconclusive"));
}

#[test]
fn swap_and_latency_do_not_offer_what_they_reject() {
    let s = help(&["swap"]);
    assert!(!s.contains("--target ") && !s.contains("--resume"), "{s}");
    assert!(s.contains("--baseline"));
    let l = help(&["latency"]);
    assert!(!l.contains("--repeat"), "{l}");
    let out = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(["latency", "--repeat", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--runs"));
}
