//! The committed JSON Schema of the case format must match the Rust types.
//! Regenerate with `cargo xtask schema`.

use std::path::PathBuf;

#[test]
fn committed_case_file_schema_matches_the_types() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../golden/schemas/case-file.schema.json");
    let generated =
        serde_json::to_string_pretty(&toolgate_core::spec::case_file_schema()).unwrap() + "\n";
    if std::env::var("TOOLGATE_BLESS").is_ok() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "golden/schemas/case-file.schema.json is out of date with crates/toolgate-core/src/spec.rs; run `cargo xtask schema`"
    );
}
