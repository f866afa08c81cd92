//! junit.xml parses back as well-formed XML with the structure CI systems expect.

mod common;

use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::HashMap;
use toolgate_report::{render_junit, RenderOptions};

struct Counts {
    testcases: usize,
    failures: usize,
    errors: usize,
    suites: usize,
}

/// Walks the whole document, checking nesting and required attributes.
fn check(xml: &str) -> Counts {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut c = Counts {
        testcases: 0,
        failures: 0,
        errors: 0,
        suites: 0,
    };
    let mut saw_root = false;
    for _ in 0..1_000_000 {
        let ev = reader.read_event().expect("well-formed XML");
        let (name, attrs, empty) = match &ev {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name().as_ref().to_string();
                let mut attrs = HashMap::new();
                for a in e.attributes() {
                    let a = a.expect("valid attribute");
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                        .expect("valid escapes")
                        .into_owned();
                    let k = a.key.as_ref().to_string();
                    assert!(attrs.insert(k, v).is_none(), "duplicate attribute");
                }
                (name, attrs, matches!(ev, Event::Empty(_)))
            }
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::GeneralRef(r) => {
                // Only the five predefined entities and character references are defined.
                if r.is_char_ref() {
                    r.resolve_char_ref().expect("valid character reference");
                } else {
                    let n = r.xml10_content();
                    assert!(
                        ["amp", "lt", "gt", "quot", "apos"].contains(&n.as_ref()),
                        "&{n};"
                    );
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let parent = stack.last().map(String::as_str);
        match name.as_str() {
            "testsuites" => {
                assert!(parent.is_none());
                saw_root = true;
            }
            "testsuite" => {
                assert_eq!(parent, Some("testsuites"));
                for a in ["name", "tests", "failures", "errors", "time"] {
                    assert!(attrs.contains_key(a), "testsuite without {a}");
                }
                c.suites += 1;
            }
            "properties" => assert_eq!(parent, Some("testsuite")),
            "property" => assert_eq!(parent, Some("properties")),
            "testcase" => {
                assert_eq!(parent, Some("testsuite"));
                for a in ["name", "classname", "time"] {
                    assert!(attrs.contains_key(a), "testcase without {a}");
                }
                attrs["time"].parse::<f64>().expect("time is a decimal");
                c.testcases += 1;
            }
            "failure" | "error" => {
                assert_eq!(parent, Some("testcase"));
                assert!(attrs.contains_key("message") && attrs.contains_key("type"));
                if name == "failure" {
                    c.failures += 1
                } else {
                    c.errors += 1
                }
            }
            other => panic!("unexpected element {other}"),
        }
        if !empty {
            stack.push(name);
        }
    }
    assert!(saw_root && stack.is_empty());
    c
}

#[test]
fn junit_is_well_formed_and_complete() {
    for (name, trials, fails, errors) in [("base", 36, 9, 1), ("cand", 40, 5, 0)] {
        let run = common::load(name);
        let xml = render_junit(&run, &RenderOptions::default());
        let c = check(&xml);
        assert_eq!(c.suites, 3, "{name}");
        assert_eq!(
            (c.testcases, c.failures, c.errors),
            (trials, fails, errors),
            "{name}"
        );
        if name == "base" {
            assert!(xml.contains("ಪ್ರಿಯಾ"), "Kannada diagnoses are kept verbatim");
        }
    }
}

#[test]
fn hostile_text_is_escaped() {
    let mut run = common::load("base");
    let g = run
        .grades
        .iter_mut()
        .find(|g| g.verdict == toolgate_core::record::Verdict::Fail)
        .unwrap();
    g.diagnosis = "a < b && \"c\" ]]> \u{1} </testcase>".into();
    g.key.case = "x\"y<z>".into();
    let xml = render_junit(&run, &RenderOptions::default());
    check(&xml);
}
