//! Loader behaviour on good and deliberately broken input: located diagnostics, all problems
//! in one pass, never a panic.

use proptest::prelude::*;
use std::path::PathBuf;
use toolgate_core::load::{load_suite, LoadContext};
use toolgate_core::validate::validate;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ctx() -> LoadContext<'static> {
    LoadContext {
        prompts: None,
        today: "2026-01-01".into(),
    }
}

#[test]
fn broken_files_each_get_located_diagnostics() {
    let dir = root().join("golden/broken");
    let v = validate(std::slice::from_ref(&dir), None, "2026-01-01");
    let text = v
        .diagnostics
        .to_string()
        .replace(&format!("{}/", dir.display()), "");
    // One diagnostic per problem, located; snapshot pins the wording.
    insta::assert_snapshot!("broken_files", text);
    let files: std::collections::BTreeSet<String> = v
        .diagnostics
        .iter()
        .map(|d| d.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for f in [
        "syntax.yaml",
        "unknown-key.yaml",
        "wrong-type.yaml",
        "duplicate-key.yaml",
        "empty.yaml",
        "semantic.yaml",
        "bad-tools.yaml",
        "missing-file.yaml",
        "invalid-utf8.yaml",
        "binary.yaml",
    ] {
        assert!(files.contains(f), "no diagnostic for {f}:\n{text}");
    }
    let semantic: Vec<_> = v
        .diagnostics
        .iter()
        .filter(|d| d.file.ends_with("semantic.yaml"))
        .collect();
    // Unknown tool, duplicate id, range on a string, regex on an integer, a bad regex and a
    // missing expectation: all reported in the one pass.
    assert!(semantic.len() >= 5, "{text}");
    assert!(
        semantic.iter().all(|d| d.line > 0 && d.case.is_some()),
        "{text}"
    );
}

#[test]
fn clean_suite_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("golden/broken/tools/two.json"),
        dir.path().join("t.json"),
    )
    .unwrap();
    let p = dir.path().join("s.yaml");
    std::fs::write(
        &p,
        r#"suite: s
kind: tool_call
tools: t.json
defaults: { tool_choice: auto }
cases:
  - id: a
    user: What did Priya say about the launch?
    expect:
      calls:
        - name: search_memory
          args: { query: { contains_any: [priya, launch] } }
  - id: b
    user: hi
    expect:
      any_of:
        - no_call: true
        - calls: [ { name: web_search, args: { limit: 2.0 } } ]
"#,
    )
    .unwrap();
    let s = load_suite(&p, &ctx()).unwrap();
    assert_eq!(s.cases.len(), 2);
    assert_eq!(
        s.cases[1].expect.tools.as_ref().unwrap().alternatives.len(),
        2
    );
}

#[test]
fn huge_and_deep_files_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap();
    let e = load_suite(&big, &ctx()).unwrap_err();
    assert!(e.to_string().contains("larger than"), "{e}");

    let deep = dir.path().join("deep.yaml");
    let mut s =
        String::from("suite: d\nkind: chat\ncases:\n  - id: a\n    user: x\n    vars:\n      v: ");
    s.push_str(&"[".repeat(5000));
    s.push_str(&"]".repeat(5000));
    std::fs::write(&deep, s).unwrap();
    let e = load_suite(&deep, &ctx()).unwrap_err();
    assert!(e.0[0].line > 0, "{e}");
}

fn load_text(text: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.yaml");
    std::fs::write(&p, text).unwrap();
    let _ = load_suite(&p, &ctx());
}

const SEED: &str = "suite: s\nkind: tool_call\ntools: t.json\ncases:\n  - id: a\n    user: hi\n    expect:\n      calls:\n        - name: web_search\n          args: { query: { contains_any: [a, b] }, limit: { range: [1, 3] } }\n  - id: b\n    messages:\n      - { role: user, content: x }\n    expect: { no_call: true }\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        load_text(&bytes);
    }

    #[test]
    fn mutated_suites_never_panic(pos in 0usize..SEED.len(), del in 0usize..8, ins in "[ :\\-\\[\\]{}a-z0-9\"'\n]{0,6}") {
        let mut s = SEED.as_bytes().to_vec();
        let end = (pos + del).min(s.len());
        s.splice(pos..end, ins.bytes());
        load_text(&s);
    }
}

#[test]
fn prompts_naming_tools_the_suite_lacks_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("prompts")).unwrap();
    std::fs::create_dir_all(d.join("cases")).unwrap();
    std::fs::copy(
        root().join("golden/broken/tools/two.json"),
        d.join("two.json"),
    )
    .unwrap();
    std::fs::write(
        d.join("one.json"),
        r#"[{"type":"function","function":{"name":"web_search","parameters":{"type":"object","properties":{"query":{"type":"string"}}}}}]"#,
    )
    .unwrap();
    // Hard-codes search_memory, which suite `one` does not offer.
    std::fs::write(
        d.join("prompts/p.md.j2"),
        "Use search_memory for memories. {% for t in tools %}{{ t.name }}{% endfor %}",
    )
    .unwrap();
    for (name, tools) in [("one", "one.json"), ("two", "two.json")] {
        std::fs::write(
            d.join(format!("cases/{name}.yaml")),
            format!("suite: {name}\nkind: tool_call\ntools: ../{tools}\nprompt: p\ncases:\n  - id: a\n    user: hi\n    expect: {{ no_call: true }}\n"),
        )
        .unwrap();
    }
    let v = validate(&[d.join("cases")], Some(&d.join("prompts")), "2026-01-01");
    let text = v.diagnostics.to_string();
    assert_eq!(v.diagnostics.len(), 1, "{text}");
    assert!(
        text.contains("search_memory") && text.contains("suite `one`"),
        "{text}"
    );
}

/// Issue 17: a case id with a newline, NUL or DEL, or 70k characters, is refused at its
/// line instead of failing every trial later.
#[test]
fn case_ids_with_controls_or_huge_lengths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (n, id) in [
        "\"a\\nb\"".to_string(),
        "\"a\\0b\"".to_string(),
        "\"a\\x7fb\"".to_string(),
        "x".repeat(70_000),
    ]
    .iter()
    .enumerate()
    {
        let p = dir.path().join(format!("s{n}.yaml"));
        let text = format!("suite: s\nkind: chat\ncases:\n  - id: {id}\n    user: hi\n");
        std::fs::write(&p, text).unwrap();
        let e = load_suite(&p, &ctx()).expect_err("refused");
        let msg = e.to_string();
        assert!(msg.contains("control characters"), "{msg}");
        assert!(msg.contains(":4:"), "{msg}");
        assert!(msg.len() < 2000, "the message repeats the whole id");
    }
}

/// Issue 19: a schema file that does not exist is one error, not also "extraction case
/// without a `schema`" for every case.
#[test]
fn a_missing_schema_file_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.yaml");
    std::fs::write(
        &p,
        "suite: x\nkind: extraction\nschema: nope.schema.json\ncases:\n  - id: a\n    user: hi\n    expect: { entities: [{name: Asha}] }\n  - id: b\n    user: hi\n    expect: { entities: [{name: Ravi}] }\n",
    )
    .unwrap();
    let Err(diags) = load_suite(&p, &ctx()) else {
        panic!("must fail")
    };
    let text = diags.to_string();
    assert!(text.contains("nope.schema.json"), "{text}");
    assert!(!text.contains("without a `schema`"), "{text}");
    assert_eq!(diags.len(), 1, "{text}");
}

fn tool_suite(expect_args: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("t.json"),
        r#"[{"type":"function","function":{"name":"set_timer","parameters":{"type":"object","properties":{"unit":{"type":"string","enum":["s","min"]},"n":{"type":"integer","minimum":1,"maximum":60},"pet_name":{"type":"string"}}}}}]"#,
    )
    .unwrap();
    std::fs::write(
        d.join("x.yaml"),
        format!("suite: x\nkind: tool_call\ntools: t.json\ncases:\n  - id: a\n    user: hi\n    expect:\n      calls:\n        - name: set_timer\n          args: {expect_args}\n"),
    )
    .unwrap();
    match load_suite(&d.join("x.yaml"), &ctx()) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// Issue 19: expected values the tool's schema can never accept are caught by `validate`.
#[test]
fn expected_values_outside_enum_or_bounds_are_reported() {
    assert_eq!(tool_suite("{unit: min, n: 5}"), "");
    assert_eq!(
        tool_suite("{unit: {one_of: [s, min]}, n: {equals: 60}}"),
        ""
    );
    // `null` in `one_of` means "not given" (BFCL's optional arguments): not an enum value.
    assert_eq!(tool_suite("{unit: {one_of: [s, null]}}"), "");
    // `one_of` folds case, so `MIN` can match the enum's `min`.
    assert_eq!(tool_suite("{unit: {one_of: [MIN]}}"), "");
    let e = tool_suite("{unit: hours}");
    assert!(
        e.contains("\"hours\" is not in the tool's enum for `unit`"),
        "{e}"
    );
    // A spare spelling beside a valid entry can still pass; no valid entry can never.
    assert_eq!(tool_suite("{unit: {one_of: [s, hours]}}"), "");
    let e = tool_suite("{unit: {one_of: [hours, days]}}");
    assert!(
        e.contains("no `one_of` entry fits") && e.contains("\"hours\"") && e.contains("\"days\""),
        "{e}"
    );
    let e = tool_suite("{n: 90}");
    assert!(e.contains("90 is above the tool's maximum 60"), "{e}");
    let e = tool_suite("{n: 0}");
    assert!(e.contains("0 is below the tool's minimum 1"), "{e}");
}

/// Issue 19: a misspelt operator names itself and the known ones.
#[test]
fn an_unknown_matcher_is_reported_as_such() {
    let e = tool_suite("{pet_name: {startswith: Bu}}");
    assert!(
        e.contains("unknown matcher 'startswith' (known: equals, equals_ci, one_of"),
        "{e}"
    );
    assert!(!e.contains("cannot match"), "{e}");
    // The caret is on the misspelt key, not on the value's opening brace.
    let line = "          args: {pet_name: {startswith: Bu}}";
    let col = line.find("startswith").unwrap() + 1;
    assert!(e.contains(&format!("x.yaml:10:{col}")), "{e}");
}
