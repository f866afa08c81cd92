//! The client test suite (tests/suite/http.rs) with plain `http://` through hyper_util's
//! pooled client instead of toolgate's own pool (`TOOLGATE_HTTP=hyper-util`, the bench
//! comparison in BENCHMARKS.md): same records, same error classes.

const HOSTED: bool = false;
const HTTP_CHOICE: Option<&str> = Some("hyper-util");

mod common;

include!("suite/http.rs");
