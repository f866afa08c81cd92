//! The client test suite (tests/suite/http.rs) on the lean path: plain `http://` through
//! toolgate's own HTTP/1.1 pool.

const HOSTED: bool = false;
const HTTP_CHOICE: Option<&str> = None;

mod common;

include!("suite/http.rs");
