//! `junit.xml`: one `<testsuite>` per suite, one `<testcase>` per trial (case × variant,
//! with target, prompt and repeat in the name). Fails carry the diagnosis; infra errors are
//! `<error>`. Follows the Jenkins/Ant JUnit layout read by GitHub, GitLab and Jenkins.

use super::{prepared, RenderOptions};
use crate::run::RunData;
use crate::summary::{judged_grades, response_index};
use crate::text::xml;
use std::collections::BTreeMap;
use std::fmt::Write;
use toolgate_core::record::{GradeRecord, Verdict};

pub fn render_junit(run: &RunData, opts: &RenderOptions) -> String {
    junit_prepared(&prepared(run, opts))
}

pub(crate) fn junit_prepared(run: &RunData) -> String {
    let grades = judged_grades(run);
    let responses = response_index(run);
    let seconds = |g: &GradeRecord| -> f64 {
        responses
            .get(&g.key)
            .map(|r| r.turns.iter().map(|t| t.timing.e2e_ms).sum::<f64>() / 1000.0)
            .unwrap_or(0.0)
    };
    let mut suites: BTreeMap<&str, Vec<&GradeRecord>> = BTreeMap::new();
    for g in &grades {
        suites.entry(g.key.suite.as_str()).or_default().push(g);
    }
    let count = |gs: &[&GradeRecord], v: Verdict| gs.iter().filter(|g| g.verdict == v).count();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total_time: f64 = grades.iter().map(|g| seconds(g)).sum();
    let _ = writeln!(
        o,
        "<testsuites name=\"toolgate {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">",
        xml(&run.manifest.run_id),
        grades.len(),
        count(&grades, Verdict::Fail),
        count(&grades, Verdict::Error),
        total_time
    );
    for (id, (suite, gs)) in suites.iter().enumerate() {
        let time: f64 = gs.iter().map(|g| seconds(g)).sum();
        let _ = writeln!(
            o,
            "  <testsuite name=\"{}\" id=\"{id}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{time:.3}\">",
            xml(suite),
            gs.len(),
            count(gs, Verdict::Fail),
            count(gs, Verdict::Error),
        );
        o.push_str("    <properties>\n");
        let _ = writeln!(
            o,
            "      <property name=\"run_id\" value=\"{}\"/>",
            xml(&run.manifest.run_id)
        );
        let _ = writeln!(
            o,
            "      <property name=\"complete\" value=\"{}\"/>",
            run.manifest.complete
        );
        o.push_str("    </properties>\n");
        for g in gs {
            testcase(&mut o, g, seconds(g));
        }
        o.push_str("  </testsuite>\n");
    }
    o.push_str("</testsuites>\n");
    o
}

fn testcase(o: &mut String, g: &GradeRecord, seconds: f64) {
    let k = &g.key;
    let name = format!(
        "{} [{}] target={} prompt={} repeat={}",
        k.case, k.variant, k.target, k.prompt, k.repeat
    );
    let classname = format!("toolgate.{}.{}", k.suite, k.target);
    let _ = write!(
        o,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{seconds:.3}\"",
        xml(&name),
        xml(&classname)
    );
    let details = || {
        let mut d = g.diagnosis.to_string();
        for f in &g.findings {
            let _ = write!(d, "\n- {}: {}", f.kind, f.message);
            if let Some(p) = &f.path {
                let _ = write!(d, " (at {p})");
            }
        }
        if !g.expected_tools.is_empty() || !g.actual_tools.is_empty() {
            let _ = write!(
                d,
                "\nexpected: {}\nactual: {}",
                g.expected_tools.join(", "),
                g.actual_tools.join(", ")
            );
        }
        d
    };
    match g.verdict {
        Verdict::Pass => o.push_str("/>\n"),
        Verdict::Fail => {
            let _ = writeln!(
                o,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                xml(&g.diagnosis),
                g.failure.map_or("fail", |k| k.as_str()),
                xml(&details())
            );
        }
        Verdict::Error => {
            let _ = writeln!(
                o,
                ">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>",
                xml(&g.diagnosis),
                g.error_kind.map_or("error", |k| k.as_str()),
                xml(&details())
            );
        }
    }
}
