//! [`Sym`]: a shared, immutable string for the few values repeated on every record of a run
//! (target, suite, case, prompt, variant, kind).
//!
//! A 100,000-trial run names the same handful of targets and cases 100,000 times; as
//! `String`s each copy is its own allocation and a key clone copies five of them. A `Sym`
//! is a reference-counted `str`: clones are a counter increment, and strings deserialised
//! on one thread are interned, so equal values share one allocation. The pool only
//! deduplicates; it never changes a value, so output stays byte-identical.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone, Eq, Default)]
pub struct Sym(Arc<str>);

// Hashes the string (as the derive did), consistent with the equality below.
impl std::hash::Hash for Sym {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}

// Equality and order are the strings' own; interned equal values share one allocation, so
// comparing the pointers first skips the byte comparison for them (sorting a run's keys
// compares mostly equal targets, suites and variants).
impl PartialEq for Sym {
    fn eq(&self, other: &Sym) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl Ord for Sym {
    fn cmp(&self, other: &Sym) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            std::cmp::Ordering::Equal
        } else {
            self.0.cmp(&other.0)
        }
    }
}

impl PartialOrd for Sym {
    fn partial_cmp(&self, other: &Sym) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Values longer than this are not pooled: they are unlikely to repeat.
const MAX_POOLED: usize = 128;
/// A bound on the per-thread pool, so a pathological input cannot grow it without limit.
const MAX_POOL: usize = 1 << 16;

// foldhash, not SipHash: every record interns its key's names, and SipHash was most of the
// cost of interning; still seeded per process, so inputs cannot choose collisions.
type Pool = HashSet<Arc<str>, foldhash::fast::RandomState>;

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

impl Sym {
    /// A `Sym` shared with equal strings interned on this thread.
    pub fn interned(s: &str) -> Sym {
        if s.len() > MAX_POOLED {
            return Sym(Arc::from(s));
        }
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if let Some(a) = p.get(s) {
                return Sym(a.clone());
            }
            let a: Arc<str> = Arc::from(s);
            if p.len() < MAX_POOL {
                p.insert(a.clone());
            }
            Sym(a)
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Sym {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sym {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Sym {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Sym {
    fn from(s: &str) -> Sym {
        Sym::interned(s)
    }
}

impl From<String> for Sym {
    fn from(s: String) -> Sym {
        Sym::interned(&s)
    }
}

impl From<&String> for Sym {
    fn from(s: &String) -> Sym {
        Sym::interned(s)
    }
}

impl From<Sym> for String {
    fn from(s: Sym) -> String {
        s.0.to_string()
    }
}

impl PartialEq<str> for Sym {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Sym {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Sym {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Sym> for str {
    fn eq(&self, other: &Sym) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Sym> for &str {
    fn eq(&self, other: &Sym) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Sym> for String {
    fn eq(&self, other: &Sym) -> bool {
        **self == *other.0
    }
}

impl Serialize for Sym {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sym {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sym, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Sym;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Sym, E> {
                Ok(Sym::interned(v))
            }
        }
        d.deserialize_str(V)
    }
}

impl schemars::JsonSchema for Sym {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "String".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_allocation_and_round_trip() {
        let a: Sym = serde_json::from_str("\"core8\"").unwrap();
        let b: Sym = serde_json::from_str("\"core8\"").unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, "core8");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"core8\"");
        let esc: Sym = serde_json::from_str("\"a\\\"b\"").unwrap();
        assert_eq!(esc.as_str(), "a\"b");
    }

    #[test]
    fn ordering_is_the_strings_ordering() {
        let mut v: Vec<Sym> = ["b", "a", "ab"].into_iter().map(Sym::from).collect();
        v.sort();
        assert_eq!(v, ["a", "ab", "b"]);
    }
}
