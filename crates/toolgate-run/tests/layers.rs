//! The modules of toolgate-run point down, as ARCHITECTURE.md draws them: `session` drives
//! `exec`, which sends through each target's `runtime`, which owns its `managed` server; the
//! managed module knows nothing of trials and exec never reaches past the runtime into it.
//! Read from the source (`crate::module` paths outside comments), so a new upward reference
//! fails here until the map and this table change together.

use std::collections::BTreeSet;
use std::path::Path;

/// Module → the modules of this crate it may name. `lib` and `session` (the top) may name any.
const ALLOWED: &[(&str, &[&str])] = &[
    ("plan", &[]),
    ("stop", &[]),
    ("runfolder", &[]),
    // `config` checks each target through `target` while it parses (so every problem is
    // reported at its table); `target` reads the tables `config` parsed.
    ("config", &["target"]),
    ("target", &["config", "managed"]),
    ("managed", &["config", "runfolder"]),
    ("runtime", &["config", "managed", "runfolder", "target"]),
    ("exec", &["plan", "runfolder", "runtime", "stop", "target"]),
    ("progress", &["runtime"]),
    ("merge", &["plan", "runfolder", "lib"]),
];

/// `crate::name` references outside comments.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(list) = rest.strip_prefix('{') {
                // `use crate::{a, b::c}`: the crate root's items (lib) or modules.
                let inner = list.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let head = item.trim().split("::").next().unwrap_or("");
                    if !head.is_empty() {
                        out.insert(head.to_string());
                    }
                }
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn modules_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    let mut problems = vec![];
    for (module, allowed) in ALLOWED {
        assert!(modules.contains(*module), "no module `{module}` in src/");
        let file = src.join(format!("{module}.rs"));
        let files: Vec<_> = if file.exists() {
            vec![file]
        } else {
            std::fs::read_dir(src.join(module))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect()
        };
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for used in named_modules(&text) {
                // Items of the crate root (`crate::bad`, `crate::RunRequest`) count as `lib`.
                let used = if modules.contains(&used) {
                    used
                } else {
                    "lib".to_string()
                };
                if used != *module && !allowed.contains(&used.as_str()) {
                    problems.push(format!("{} names crate::{used}", f.display()));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "upward references:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_reference_reader_sees_paths_and_lists_and_skips_comments() {
    let text = "use crate::a::B;\nuse crate::{c, d::E};\n// crate::f\nlet x = crate::g::h(); // crate::i\n";
    let got: Vec<String> = named_modules(text).into_iter().collect();
    assert_eq!(got, ["a", "c", "d", "g"]);
}
