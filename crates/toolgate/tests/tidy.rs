//! The repository is self-contained: nothing in it points to files a user does not have (the
//! project's private design notes and reference folder). Users' documentation lives in docs/.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Folders that are generated, installed or not ours.
const SKIP: &[&str] = &[".git", "target", ".local-model", "node_modules", "runs"];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            if !SKIP.contains(&name.as_str()) {
                walk(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

#[test]
fn nothing_refers_to_files_outside_the_repository() {
    // Built from pieces so this file does not match itself.
    let needles = [
        format!("{}{}", "DESIGN ", "§"),
        format!("{}{}", "../", "shared"),
        format!("{}{}", "shared/", "reference"),
        format!("{}{}", "DESIGN", ".md"),
        format!("{}{}", "wire-formats", ".md"),
        format!("{}{}", "latency-metrics", ".md"),
        format!("{}{}", "rust-crates", ".md"),
    ];
    let mut files = Vec::new();
    walk(&root(), &mut files);
    let mut hits = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue; // binary files
        };
        for (i, line) in text.lines().enumerate() {
            if needles.iter().any(|n| line.contains(n.as_str())) {
                let rel = f.strip_prefix(root()).unwrap_or(f);
                hits.push(format!("{}:{}: {}", rel.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "references to files outside the repository (point to docs/ instead):\n{}",
        hits.join("\n")
    );
}
