//! `junit.xml`: one `<testsuite>` per suite, one `<testcase>` per trial (case × variant,
//! with target, prompt and repeat in the name). Fails carry the diagnosis; infra errors are
//! `<error>`. Follows the Jenkins/Ant JUnit layout read by GitHub, GitLab and Jenkins.

use super::{prepared, RenderOptions};
use crate::run::RunData;
use crate::summary::Trials;
use crate::text::xml;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use toolgate_core::record::{GradeRecord, Verdict};

pub fn render_junit(run: &RunData, opts: &RenderOptions) -> String {
    let run = prepared(run, opts);
    let mut buf = Vec::new();
    write_junit(&run, &Trials::new(&run), &mut buf).expect("writing to a Vec cannot fail");
    String::from_utf8(buf).expect("junit is UTF-8")
}

/// The JUnit XML streamed to `out`, one test case at a time.
pub(crate) fn write_junit(run: &RunData, trials: &Trials<'_>, out: impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let grades = &trials.grades;
    let seconds: Vec<f64> = trials
        .responses
        .iter()
        .map(|r| {
            r.map(|r| r.turns.iter().map(|t| t.timing.e2e_ms).sum::<f64>() / 1000.0)
                .unwrap_or(0.0)
        })
        .collect();
    let mut suites: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, g) in grades.iter().enumerate() {
        suites.entry(g.key.suite.as_str()).or_default().push(i);
    }
    let count = |is: &[usize], v: Verdict| is.iter().filter(|&&i| grades[i].verdict == v).count();
    let all: Vec<usize> = (0..grades.len()).collect();
    out.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")?;
    let total_time: f64 = seconds.iter().sum();
    writeln!(
        out,
        "<testsuites name=\"toolgate {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">",
        xml(&run.manifest.run_id),
        grades.len(),
        count(&all, Verdict::Fail),
        count(&all, Verdict::Error),
        total_time
    )?;
    drop(all);
    let mut o = String::new();
    for (id, (suite, is)) in suites.iter().enumerate() {
        let time: f64 = is.iter().map(|&i| seconds[i]).sum();
        writeln!(
            out,
            "  <testsuite name=\"{}\" id=\"{id}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{time:.3}\">",
            xml(suite),
            is.len(),
            count(is, Verdict::Fail),
            count(is, Verdict::Error),
        )?;
        out.write_all(b"    <properties>\n")?;
        writeln!(
            out,
            "      <property name=\"run_id\" value=\"{}\"/>",
            xml(&run.manifest.run_id)
        )?;
        writeln!(
            out,
            "      <property name=\"complete\" value=\"{}\"/>",
            run.manifest.complete
        )?;
        out.write_all(b"    </properties>\n")?;
        for &i in is {
            o.clear();
            testcase(&mut o, grades[i], seconds[i]);
            out.write_all(o.as_bytes())?;
        }
        out.write_all(b"  </testsuite>\n")?;
    }
    out.write_all(b"</testsuites>\n")?;
    out.flush()
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
        Verdict::Recorded => {
            let _ = writeln!(
                o,
                ">\n      <skipped message=\"record-only case: {}\"/>\n    </testcase>",
                xml(&g.diagnosis)
            );
        }
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
