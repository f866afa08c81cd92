//! ARCHITECTURE.md's code map, checked: the normal (non-dev) dependencies between the
//! workspace crates, read from `cargo metadata`, are exactly the edges the map allows. A new
//! edge fails here until the map and this table are changed together, so "dependencies point
//! down" is a fact, not a hope.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Crate → the workspace crates it may depend on (normal dependencies). Dev-dependencies are
/// free (tests may start a simulator), build-dependencies too.
const ALLOWED: &[(&str, &[&str])] = &[
    ("toolgate-core", &[]),
    ("toolgate-testkit", &[]),
    ("toolgate-grade", &["toolgate-core"]),
    ("toolgate-client", &["toolgate-core"]),
    ("toolgate-mcp", &["toolgate-core"]),
    ("toolgate-import", &["toolgate-core", "toolgate-grade"]),
    ("toolgate-sim", &["toolgate-core", "toolgate-grade"]),
    ("toolgate-report", &["toolgate-core", "toolgate-grade"]),
    ("toolgate-history", &["toolgate-core", "toolgate-report"]),
    (
        "toolgate-run",
        &[
            "toolgate-core",
            "toolgate-grade",
            "toolgate-report",
            "toolgate-client",
            "toolgate-sim",
        ],
    ),
    (
        "toolgate",
        &[
            "toolgate-core",
            "toolgate-grade",
            "toolgate-report",
            "toolgate-client",
            "toolgate-sim",
            "toolgate-run",
            "toolgate-history",
            "toolgate-mcp",
            "toolgate-import",
        ],
    ),
    ("xtask", &["toolgate-client"]),
];

fn workspace_edges() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: BTreeSet<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let mut edges = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let deps: BTreeSet<String> = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_string())
            .filter(|n| members.contains(n))
            .collect();
        edges.insert(p["name"].as_str().unwrap().to_string(), deps);
    }
    edges
}

#[test]
fn workspace_dependencies_point_down_as_the_code_map_draws() {
    let edges = workspace_edges();
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect();
    let mut wrong = Vec::new();
    for (krate, deps) in &edges {
        let Some(ok) = allowed.get(krate.as_str()) else {
            wrong.push(format!(
                "{krate} is not in the code map (ARCHITECTURE.md and this test)"
            ));
            continue;
        };
        for d in deps {
            if !ok.contains(d.as_str()) {
                wrong.push(format!("{krate} → {d} is not an edge of the code map"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The rules that matter most, named: the bottom depends on nothing, graders and
    // reports never reach the network or the run.
    assert!(edges["toolgate-core"].is_empty());
    for pure in ["toolgate-grade", "toolgate-report"] {
        for io in ["toolgate-client", "toolgate-run", "toolgate-sim"] {
            assert!(!edges[pure].contains(io), "{pure} → {io}");
        }
    }
}
