//! `toolgate history` and `compare --last` through the binary, over fixture runs made with the
//! simulator (timestamps and run ids rewritten so the table is deterministic).

use std::path::Path;
use std::process::Output;

mod common;
use common::{root, run_in as toolgate};
use toolgate_testkit::{chromium_console, tool};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(o), stderr(o));
    stdout(o)
}

fn sim_run(cwd: &Path, out: &str, target: &str) {
    let suites = [
        root().join("cases/tool-routing/voice-3tool.yaml"),
        root().join("cases/entities"),
    ];
    let o = toolgate(
        cwd,
        &[
            "run",
            "--quiet",
            "--target",
            target,
            "--suite",
            suites[0].to_str().unwrap(),
            "--suite",
            suites[1].to_str().unwrap(),
            "--out",
            out,
        ],
    );
    ok(&o);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Rewrites a run's id and start time, so rows sort and print the same every time.
fn stamp(dir: &Path, run_id: &str, started_at: &str) {
    let p = dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    m["run_id"] = run_id.into();
    m["started_at"] = started_at.into();
    m["finished_at"] = started_at.into();
    std::fs::write(&p, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

/// Turns the first `n` passing grades into failures (a regression of `n` cases).
fn fail_first(dir: &Path, n: usize) {
    let p = dir.join("grades.jsonl");
    let mut left = n;
    let text: Vec<String> = std::fs::read_to_string(&p)
        .unwrap()
        .lines()
        .map(|l| {
            if left > 0 && l.contains("\"verdict\":\"pass\"") {
                left -= 1;
                l.replace("\"verdict\":\"pass\"", "\"verdict\":\"fail\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_eq!(left, 0);
    std::fs::write(&p, text.join("\n") + "\n").unwrap();
}

/// runs/: r1 (sim), r2 (r1 with 12 cases failing), r3 (r1 with 2 failing), w1 (sim-weak),
/// torn (torn last line of responses.jsonl), nomanifest, badgrades (a bad JSON line);
/// reports/dup: r1 again under the same run id.
fn fixtures() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sim_run(p, "runs/r1", "sim");
    sim_run(p, "runs/w1", "sim-weak");
    let runs = p.join("runs");
    for (name, id, at) in [
        ("r2", "r2", "2026-01-02T10:00:00Z"),
        ("r3", "r3", "2026-01-03T10:00:00Z"),
        ("torn", "torn", "2026-01-04T10:00:00Z"),
        ("badgrades", "badgrades", "2026-01-05T10:00:00Z"),
    ] {
        copy_dir(&runs.join("r1"), &runs.join(name));
        stamp(&runs.join(name), id, at);
    }
    copy_dir(&runs.join("r1"), &p.join("reports/dup"));
    stamp(&p.join("reports/dup"), "r1", "2026-01-06T10:00:00Z");
    stamp(&runs.join("r1"), "r1", "2026-01-01T10:00:00Z");
    stamp(&runs.join("w1"), "w1", "2026-01-01T12:00:00Z");
    fail_first(&runs.join("r2"), 12);
    fail_first(&runs.join("r3"), 2);
    let responses = std::fs::read_to_string(runs.join("torn/responses.jsonl")).unwrap();
    let cut = responses.trim_end().len() - 40;
    std::fs::write(runs.join("torn/responses.jsonl"), &responses[..cut]).unwrap();
    let grades = std::fs::read_to_string(runs.join("badgrades/grades.jsonl")).unwrap();
    let mut lines: Vec<&str> = grades.lines().collect();
    lines[1] = "{\"key\": nope}";
    std::fs::write(runs.join("badgrades/grades.jsonl"), lines.join("\n") + "\n").unwrap();
    std::fs::create_dir_all(runs.join("nomanifest")).unwrap();
    std::fs::copy(
        runs.join("r1/responses.jsonl"),
        runs.join("nomanifest/responses.jsonl"),
    )
    .unwrap();
    d
}

/// The folder without a manifest is dated by its mtime: pin that column.
fn pin_dates(s: &str) -> String {
    s.lines()
        .map(|l| {
            if l.contains("(runs/nomanifest)") {
                format!("YYYY-MM-DD HH:MM{}", &l[16..])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn history_lists_runs_with_deltas_incomplete_folders_and_duplicate_ids() {
    let d = fixtures();
    let p = d.path();
    let table = ok(&toolgate(p, &["history"]));
    insta::assert_snapshot!("history_table", pin_dates(&table));
    // The second call reads from the index; same rows.
    assert_eq!(ok(&toolgate(p, &["history"])), table);
    // The regression of 12 cases is significant; r3's recovery of 10 too; w1 has no delta.
    assert!(table.contains("-16.9 pp *"), "{table}");

    let json: serde_json::Value =
        serde_json::from_str(&ok(&toolgate(p, &["history", "--json"]))).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 8, "{json:#}");
    let r2 = rows.iter().find(|r| r["run_id"] == "r2").unwrap();
    assert_eq!(r2["delta"]["worse"], 12);
    assert_eq!(r2["delta"]["better"], 0);
    assert_eq!(r2["delta"]["significant"], true);
    assert_eq!(r2["delta"]["previous_path"], "runs/r1");
    assert_eq!(r2["accuracy"]["successes"], 59);
    assert!(r2["ttft_p50_ms"].as_f64().unwrap() > 0.0);
    let dups: Vec<&str> = rows
        .iter()
        .filter(|r| r["run_id"] == "r1")
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(dups, ["runs/r1", "reports/dup"]);
    assert!(rows
        .iter()
        .filter(|r| r["run_id"] == "r1")
        .all(|r| r["duplicate_run_id"] == true));
    let torn = rows.iter().find(|r| r["run_id"] == "torn").unwrap();
    assert_eq!(torn["complete"], false);
    assert!(torn["reason"].as_str().unwrap().contains("torn last line"));
    let bad = rows.iter().find(|r| r["run_id"] == "badgrades").unwrap();
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .starts_with("grades.jsonl:2:"),
        "{bad}"
    );
    let nm = rows
        .iter()
        .find(|r| r["path"] == "runs/nomanifest")
        .unwrap();
    assert_eq!(nm["reason"], "no manifest.json");

    let csv = ok(&toolgate(p, &["history", "--csv"]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 9, "{csv}");
    assert!(lines[0].starts_with("started_at,run_id,path,target,model,suites,passed,judged"));
    assert!(lines.iter().any(|l| l.starts_with(
        "2026-01-02T10:00:00Z,r2,runs/r2,sim,sim-strong,entities;tool-routing,59,71,"
    )));

    // Filters and --limit: the newest rows of one target, over one suite.
    let sim = ok(&toolgate(
        p,
        &[
            "history",
            "--target",
            "sim",
            "--suite",
            "tool-routing",
            "--limit",
            "2",
            "--json",
        ],
    ));
    let sim: serde_json::Value = serde_json::from_str(&sim).unwrap();
    let ids: Vec<&str> = sim
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    // torn and reports/dup are the newest sim rows; badgrades has no readable grades, and
    // the folder without a manifest stays listed (never skipped silently).
    assert!(ids.contains(&"reports/dup"), "{ids:?}");
    let since = ok(&toolgate(
        p,
        &["history", "--since", "2026-01-03", "--json"],
    ));
    let since: serde_json::Value = serde_json::from_str(&since).unwrap();
    assert!(since
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["run_id"] != "r2" && r["run_id"] != "w1"));
    let o = toolgate(p, &["history", "--since", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn index_prunes_deleted_folders_rereads_changed_ones_and_survives_corruption() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sim_run(p, "runs/a", "sim");
    sim_run(p, "runs/b", "sim");
    stamp(&p.join("runs/a"), "a", "2026-02-01T00:00:00Z");
    stamp(&p.join("runs/b"), "b", "2026-02-02T00:00:00Z");
    let count = |p: &Path| -> usize {
        let s = ok(&toolgate(p, &["history", "--json"]));
        serde_json::from_str::<serde_json::Value>(&s)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(p), 2);
    assert!(p.join("runs/index.sqlite").is_file());

    // Deleted folder: pruned.
    std::fs::remove_dir_all(p.join("runs/b")).unwrap();
    assert_eq!(count(p), 1);

    // Changed folder: re-read (grades rewritten after the index saw it).
    fail_first(&p.join("runs/a"), 3);
    let s = ok(&toolgate(p, &["history", "--json"]));
    assert!(s.contains("\"successes\": 68"), "{s}");

    // `grade` rewrites grades.jsonl from the responses and updates the index itself.
    let o = toolgate(p, &["grade", "runs/a"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = ok(&toolgate(p, &["history", "--json"]));
    assert!(s.contains("\"successes\": 71"), "{s}");

    // `run` and `accept` store the folder they wrote in an existing index (nothing else
    // touches the file between the two reads).
    let before = std::fs::read(p.join("runs/index.sqlite")).unwrap();
    sim_run(p, "runs/c", "sim");
    let after_run = std::fs::read(p.join("runs/index.sqlite")).unwrap();
    assert_ne!(before, after_run, "run did not update the index");
    let o = toolgate(p, &["accept", "runs/c", "--as", "base-c"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let after_accept = std::fs::read(p.join("runs/index.sqlite")).unwrap();
    assert_ne!(after_run, after_accept, "accept did not update the index");
    let s = ok(&toolgate(p, &["history", "--json"]));
    assert!(s.contains("\"path\": \"reports/base-c\""), "{s}");
    std::fs::remove_dir_all(p.join("runs/c")).unwrap();
    std::fs::remove_dir_all(p.join("reports")).unwrap();

    // A corrupt index: rebuilt with a one-line note, same answer.
    std::fs::write(p.join("runs/index.sqlite"), vec![b'#'; 4096]).unwrap();
    let o = toolgate(p, &["history", "--json"]);
    let s = ok(&o);
    assert!(s.contains("\"successes\": 71"), "{s}");
    let notes: Vec<String> = stderr(&o).lines().map(str::to_string).collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("unreadable") && notes[0].contains("rebuilt"),
        "{notes:?}"
    );
    let o = toolgate(p, &["history"]);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));

    // An old schema (SQLite's user_version at byte 60 of the header): rebuilt with a note.
    let mut db = std::fs::read(p.join("runs/index.sqlite")).unwrap();
    db[60..64].copy_from_slice(&0u32.to_be_bytes());
    std::fs::write(p.join("runs/index.sqlite"), db).unwrap();
    let o = toolgate(p, &["history", "--json"]);
    assert!(ok(&o).contains("\"successes\": 71"));
    assert!(
        stderr(&o).contains("schema version 0") && stderr(&o).lines().count() == 1,
        "{}",
        stderr(&o)
    );

    // --reindex from scratch gives the same rows.
    let again = ok(&toolgate(p, &["history", "--json", "--reindex"]));
    assert!(again.contains("\"successes\": 71"));

    // A run folder outside runs/ is listed with --root.
    sim_run(p, "elsewhere/c", "sim");
    assert_eq!(count(p), 1);
    let s = ok(&toolgate(p, &["history", "--json", "--root", "elsewhere"]));
    assert!(s.contains("\"path\": \"elsewhere/c\""), "{s}");
}

#[test]
fn compare_last_picks_the_previous_run_of_the_same_targets_and_suites() {
    let d = fixtures();
    let p = d.path();
    let o = toolgate(p, &["compare", "--last", "runs/r3"]);
    let out = ok(&o);
    assert!(
        stderr(&o).contains("with the previous run runs/r2"),
        "{}",
        stderr(&o)
    );
    // r2 → r3: 10 cases came back.
    assert!(out.contains("10"), "{out}");
    let o = toolgate(p, &["compare", "--last", "runs/r2"]);
    ok(&o);
    assert!(
        stderr(&o).contains("previous run runs/r1"),
        "{}",
        stderr(&o)
    );
    // w1 is the only sim-weak run: nothing earlier to compare with.
    let o = toolgate(p, &["compare", "--last", "runs/w1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no earlier indexed run"),
        "{}",
        stderr(&o)
    );
    // Plain two-run compare still works.
    ok(&toolgate(p, &["compare", "runs/r1", "runs/r2"]));
}

#[test]
fn history_page_is_self_contained_links_reports_and_opens_in_chromium() {
    let d = fixtures();
    let p = d.path();
    // A hostile run id must come out escaped.
    stamp(
        &p.join("runs/w1"),
        "<script>alert(1)</script>",
        "2026-01-01T12:00:00Z",
    );
    std::fs::create_dir_all(p.join("site")).unwrap();
    let o = toolgate(p, &["history", "--html", "site/history.html"]);
    ok(&o);
    let page = std::fs::read_to_string(p.join("site/history.html")).unwrap();
    assert!(!page.contains("<script"), "unescaped run id");
    assert!(page.contains("&lt;script&gt;"));
    // Self-contained: no script, no external resource.
    let no_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!no_ns.contains("http") && !no_ns.contains("src="));
    for suite in ["tool-routing", "entities"] {
        assert!(
            page.contains(&format!("<h2>Accuracy: {suite}</h2>")),
            "{suite}"
        );
    }
    assert!(page.contains("<h2>TTFT p50 per target (ms)</h2>"));
    assert!(page.matches("<svg ").count() >= 3);
    // Every link is relative and points at an existing report.html.
    let links: Vec<&str> = page
        .split("href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert!(links.len() >= 6, "{links:?}");
    for l in &links {
        assert!(l.starts_with("../"), "{l}");
        assert!(p.join("site").join(l).is_file(), "{l}");
    }

    let Some(chromium) = tool("chromium") else {
        return;
    };
    // Control: a page with a script error must be caught, or the check proves nothing.
    let bad = p.join("site/bad.html");
    std::fs::write(
        &bad,
        "<html><body><script>notDefined()</script></body></html>",
    )
    .unwrap();
    assert!(!chromium_console(&chromium, &bad, "", &p.join("bad.png")).is_empty());
    let shot = p.join("history.png");
    let lines = chromium_console(&chromium, &p.join("site/history.html"), "", &shot);
    assert!(lines.is_empty(), "console messages:\n{}", lines.join("\n"));
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot is {size} bytes");
}
