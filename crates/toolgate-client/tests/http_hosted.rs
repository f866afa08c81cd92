//! The client test suite (tests/suite/http.rs) on the hosted path: every request forced
//! through async-openai (OpenAI-style config, toolgate's tower service) against the same
//! loopback mocks.

const HOSTED: bool = true;
const HTTP_CHOICE: Option<&str> = None;

mod common;

include!("suite/http.rs");
