//! Shared pieces of the fuzz targets: a scratch tree that mirrors the repo layout (so seed
//! case files' relative `tools:`/`schema:` paths resolve), and the "located rejection"
//! property every loader target asserts.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use toolgate_core::prompt::Prompts;
use toolgate_core::Diagnostic;

/// The repository root (this crate lives in `<root>/fuzz`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ has a parent")
        .to_path_buf()
}

/// A per-process scratch folder:
/// `golden`, `prompts` and `cases/golden` link to the repo, so a suite written to
/// `cases/fuzz/input.yaml` finds `../../golden/...` (like `cases/*/`) and `../golden/...`
/// (like `cases-local/`). Loaders take paths, so inputs are written here.
pub fn scratch() -> &'static Path {
    static S: OnceLock<PathBuf> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("toolgate-fuzz-{}", std::process::id()));
        let root = repo_root();
        std::fs::create_dir_all(dir.join("cases/fuzz")).expect("scratch dir");
        std::fs::create_dir_all(dir.join("prompts-fuzz")).expect("scratch dir");
        for (link, target) in [
            ("golden", root.join("golden")),
            ("prompts", root.join("prompts")),
            ("cases/golden", root.join("golden")),
        ] {
            let l = dir.join(link);
            if !l.exists() {
                std::os::unix::fs::symlink(target, l).expect("symlink into scratch");
            }
        }
        dir
    })
}

/// The repo's prompt templates, loaded once (the loader renders a suite's prompt).
pub fn repo_prompts() -> &'static Prompts {
    static P: OnceLock<Prompts> = OnceLock::new();
    P.get_or_init(|| Prompts::load(&repo_root().join("prompts")).0)
}

/// Writes one input to `rel` inside the scratch folder and returns its path.
pub fn write_input(rel: &str, data: &[u8]) -> PathBuf {
    let p = scratch().join(rel);
    std::fs::write(&p, data).expect("write fuzz input");
    p
}

/// The property of guarantee 3: a rejection names a line (≥ 1), except the whole-file
/// conditions `allowed_whole_file` lists (e.g. "empty file", which has no line to name).
pub fn assert_located(d: &Diagnostic, allowed_whole_file: &[&str]) {
    assert!(
        !d.message.trim().is_empty(),
        "diagnostic without a message: {d:?}"
    );
    if d.line == 0 {
        assert!(
            allowed_whole_file.iter().any(|m| d.message.starts_with(m)),
            "rejection without a line: {d}"
        );
    }
}
