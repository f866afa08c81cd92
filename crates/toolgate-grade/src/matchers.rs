//! Argument matchers (docs/case-format.md#argument-matchers). `equals` and `regex` are exact; `equals_ci`, `one_of` on
//! strings and the `contains*` family compare after [`toolgate_core::text::fold`] (NFC,
//! case-fold, whitespace collapse). Numbers compare by value (`2 == 2.0`); `true` is not `1`.

use crate::normalize::{clip_middle, type_name};
use serde_json::Value;
use toolgate_core::text::fold;
use toolgate_core::Matcher;

/// Check one argument value (`None` = the argument is missing). `Err` says what was expected
/// and what came, in one short phrase.
pub fn check(m: &Matcher, actual: Option<&Value>) -> Result<(), String> {
    let present = actual.filter(|v| !v.is_null());
    match m {
        Matcher::Absent => match present {
            None => Ok(()),
            Some(v) => Err(format!("expected absent, got {}", show(v))),
        },
        // `null` among `one_of`'s options admits an absent argument: an optional argument
        // with known acceptable values (BFCL's `""` option, `one_of` in docs/case-format.md).
        Matcher::OneOf(opts) if present.is_none() && opts.iter().any(Value::is_null) => Ok(()),
        _ => {
            let Some(v) = present else {
                return Err(format!("expected {}, argument missing", describe(m)));
            };
            check_present(m, v).map_err(|why| match why {
                Some(w) => w,
                None => format!("expected {}, got {}", describe(m), show(v)),
            })
        }
    }
}

fn check_present(m: &Matcher, v: &Value) -> Result<(), Option<String>> {
    let ok = match m {
        Matcher::Absent => unreachable!("handled by check"),
        Matcher::Present => true,
        Matcher::Equals(want) => values_equal(want, v),
        Matcher::EqualsCi(want) => v.as_str().is_some_and(|s| fold(s) == fold(want)),
        Matcher::OneOf(opts) => opts.iter().any(|o| loose_equal(o, v)),
        Matcher::Contains(s) => contains(v, s),
        Matcher::ContainsAny(items) => items.iter().any(|s| contains(v, s)),
        Matcher::ContainsAll(items) => items.iter().all(|s| contains(v, s)),
        Matcher::Regex(r) => match v.as_str() {
            Some(s) => r.regex.is_match(s),
            None => {
                return Err(Some(format!(
                    "expected a string matching /{}/, got {} {}",
                    r.source,
                    type_name(v),
                    show(v)
                )))
            }
        },
        Matcher::Range(lo, hi) => match v.as_f64() {
            Some(x) if !v.is_boolean() => *lo <= x && x <= *hi,
            _ => {
                return Err(Some(format!(
                    "expected a number in [{lo}, {hi}], got {} {}",
                    type_name(v),
                    show(v)
                )))
            }
        },
        Matcher::Schema(s) => {
            let errs: Vec<String> = s
                .validator
                .iter_errors(v)
                .map(|e| {
                    let p = e.instance_path().to_string();
                    if p.is_empty() {
                        e.to_string()
                    } else {
                        format!("{p}: {e}")
                    }
                })
                .collect();
            if errs.is_empty() {
                true
            } else {
                return Err(Some(format!("schema: {}", errs.join("; "))));
            }
        }
    };
    if ok {
        Ok(())
    } else {
        Err(None)
    }
}

/// `equals` semantics: same JSON type and value, numbers by value, containers recursively.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| values_equal(p, q)))
        }
        _ => a == b,
    }
}

/// `one_of`: strings fold-compare, everything else by value.
fn loose_equal(want: &Value, v: &Value) -> bool {
    match (want.as_str(), v.as_str()) {
        (Some(a), Some(b)) => fold(a) == fold(b),
        _ => values_equal(want, v),
    }
}

/// `contains` on a string is a folded substring test; on an array it is membership (an
/// element that fold-equals the item).
fn contains(v: &Value, item: &str) -> bool {
    let f = fold(item);
    match v {
        Value::String(s) => fold(s).contains(&f),
        Value::Array(a) => a.iter().any(|e| e.as_str().is_some_and(|s| fold(s) == f)),
        _ => false,
    }
}

/// The matcher as the diagnosis writes it: `="Arun"` for exact, `≈"Arun"` for fuzzy.
pub fn describe(m: &Matcher) -> String {
    let list = |items: &[String], sep: &str| {
        items
            .iter()
            .map(|s| show(&Value::String(s.clone())))
            .collect::<Vec<_>>()
            .join(sep)
    };
    match m {
        Matcher::Equals(v) => format!("={}", show(v)),
        Matcher::EqualsCi(s) => format!("≈{}", show(&Value::String(s.clone()))),
        Matcher::OneOf(vs) => format!(
            "≈one_of[{}]",
            vs.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        Matcher::Contains(s) => format!("≈*{}*", show(&Value::String(s.clone()))),
        Matcher::ContainsAny(items) => format!("≈any[{}]", list(items, ", ")),
        Matcher::ContainsAll(items) => format!("≈all[{}]", list(items, ", ")),
        Matcher::Regex(r) => format!("~/{}/", r.source),
        Matcher::Range(lo, hi) => format!("∈[{lo}, {hi}]"),
        Matcher::Present => "=<present>".into(),
        Matcher::Absent => "=<absent>".into(),
        Matcher::Schema(_) => "≈<schema>".into(),
    }
}

/// A value on one line. A long one keeps its start and its end (`"Remind me… at 6 pm"`):
/// a diagnosis shows what the model sent, and the part that differs is as often at the end
/// as at the start, so the value is never simply cut off.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > SHOWN || s.contains(['\n', '\r', '\t']) => {
            Value::String(clip_middle(s, SHOWN)).to_string()
        }
        Value::String(s) => Value::String(s.clone()).to_string(),
        other => clip_middle(&other.to_string(), SHOWN),
    }
}

/// Characters of one value a diagnosis shows (start and end together).
const SHOWN: usize = 120;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_of_with_null_admits_an_absent_argument_only_then() {
        let opt = Matcher::OneOf(vec![json!("units"), Value::Null]);
        assert!(check(&opt, None).is_ok());
        assert!(check(&opt, Some(&Value::Null)).is_ok());
        assert!(check(&opt, Some(&json!("Units"))).is_ok());
        assert!(check(&opt, Some(&json!("meters"))).is_err());
        let req = Matcher::OneOf(vec![json!("units")]);
        assert!(check(&req, None).is_err());
    }

    #[test]
    fn numbers_by_value_and_bool_is_not_int() {
        assert!(values_equal(&json!(2), &json!(2.0)));
        assert!(!values_equal(&json!(true), &json!(1)));
        assert!(!values_equal(&json!("2"), &json!(2)));
        assert!(values_equal(
            &json!({"a": [1, 2.0]}),
            &json!({"a": [1.0, 2]})
        ));
        assert!(!values_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn fuzzy_matchers_fold() {
        assert!(check(
            &Matcher::EqualsCi("Arun  Kumar".into()),
            Some(&json!(" arun kumar"))
        )
        .is_ok());
        assert!(check(
            &Matcher::ContainsAny(vec!["priya".into(), "launch".into()]),
            Some(&json!("What did PRIYA say"))
        )
        .is_ok());
        assert!(check(
            &Matcher::ContainsAll(vec!["a".into(), "z".into()]),
            Some(&json!("abc"))
        )
        .is_err());
        assert!(check(
            &Matcher::OneOf(vec![json!("Celsius"), json!(2)]),
            Some(&json!(2.0))
        )
        .is_ok());
        assert!(check(&Matcher::Equals(json!("Arun")), Some(&json!("arun"))).is_err());
    }

    #[test]
    fn presence_and_ranges() {
        assert!(check(&Matcher::Absent, None).is_ok());
        assert!(check(&Matcher::Absent, Some(&json!(1))).is_err());
        assert!(check(&Matcher::Present, None)
            .unwrap_err()
            .contains("missing"));
        assert!(check(&Matcher::Range(1.0, 5.0), Some(&json!(5))).is_ok());
        assert!(check(&Matcher::Range(1.0, 5.0), Some(&json!("3"))).is_err());
        assert!(check(&Matcher::Range(0.0, 5.0), Some(&json!(true))).is_err());
    }
}
