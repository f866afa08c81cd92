//! MCP capture and tools-file diff.
//!
//! `capture` connects to a live MCP server (stdio child process or streamable HTTP) with the
//! official SDK (rmcp), performs the handshake, pages through `tools/list` and returns what the
//! server said; `pinned_file` turns that into a tools file for `golden/tools/` that pins the
//! server name, version and a hash of the tool list. `diff` compares two tools files so an MCP
//! server upgrade that renames an argument shows up before it silently breaks a suite.
//!
//! rmcp lives only in this crate so the runner, graders and client never link it: grading
//! works from the pinned file, offline and repeatably.

pub mod diff;

use anyhow::{bail, Context, Result};
use rmcp::model::{ClientConfig, Implementation, PaginatedRequestParams};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::process::Stdio;
use std::time::Duration;
use toolgate_core::text::split_command;

/// Where the MCP server is.
#[derive(Debug, Clone)]
pub enum McpSource {
    /// A command line; the server speaks JSON-RPC on its stdin/stdout.
    Stdio(Vec<String>),
    /// A streamable-HTTP endpoint.
    Http(String),
}

impl McpSource {
    /// `"CMD ARGS…"` split like a shell would (quotes group words; no expansion).
    pub fn stdio_from_command_line(line: &str) -> Result<Self> {
        Ok(McpSource::Stdio(split_command_line(line)?))
    }

    fn describe(&self) -> String {
        match self {
            McpSource::Stdio(w) => format!("stdio: {}", w.join(" ")),
            McpSource::Http(u) => format!("http: {u}"),
        }
    }
}

/// What a server said during the handshake and `tools/list`.
#[derive(Debug, Clone)]
pub struct Captured {
    pub server_name: String,
    pub server_version: String,
    pub protocol_version: String,
    /// Every tool, in the order the server listed them (all pages joined).
    pub tools: Vec<Value>,
    /// How many `tools/list` pages it took.
    pub pages: usize,
    pub source: String,
}

/// A server that sends an endless cursor chain must not hang the import.
const MAX_PAGES: usize = 1000;

/// Connect, handshake, list every tool, disconnect. `timeout` bounds the whole exchange
/// (a first `npx` start can be slow, so callers pass something generous).
pub async fn capture(source: &McpSource, timeout: Duration) -> Result<Captured> {
    tokio::time::timeout(timeout, capture_inner(source))
        .await
        .with_context(|| {
            format!(
                "MCP server ({}) did not finish the handshake and tools/list within {}s",
                source.describe(),
                timeout.as_secs()
            )
        })?
}

fn client_config() -> ClientConfig {
    let mut info = ClientConfig::default();
    info.client_info = Implementation::new("toolgate", env!("CARGO_PKG_VERSION"));
    info
}

async fn capture_inner(source: &McpSource) -> Result<Captured> {
    match source {
        McpSource::Stdio(words) => {
            let mut cmd = tokio::process::Command::new(&words[0]);
            cmd.args(&words[1..]);
            // stderr is free-form logging: pass it through for the user,
            // never parse it.
            let (transport, _stderr) = TokioChildProcess::builder(cmd)
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("cannot start MCP server `{}`", words[0]))?;
            let client = client_config()
                .serve(transport)
                .await
                .context("MCP handshake (initialize) failed")?;
            let out = list_all(&client, source).await;
            // Closing the service closes the child's stdin and reaps it.
            let _ = client.cancel().await;
            out
        }
        McpSource::Http(url) => {
            // The workspace builds reqwest with `rustls-no-provider`; without a provider the
            // client constructor panics, so install ring (as toolgate-client does).
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                let _ = rustls::crypto::ring::default_provider().install_default();
            }
            let transport = StreamableHttpClientTransport::from_uri(url.as_str());
            let client = client_config()
                .serve(transport)
                .await
                .with_context(|| format!("MCP handshake (initialize) with {url} failed"))?;
            let out = list_all(&client, source).await;
            let _ = client.cancel().await;
            out
        }
    }
}

async fn list_all(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ClientConfig>,
    source: &McpSource,
) -> Result<Captured> {
    let info = client
        .peer_info()
        .context("the server sent no initialize result")?;
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        if pages > MAX_PAGES {
            bail!("tools/list: more than {MAX_PAGES} pages; giving up");
        }
        let params = PaginatedRequestParams::default().with_cursor(cursor.clone());
        let page = client
            .list_tools(Some(params))
            .await
            .context("tools/list failed")?;
        for t in &page.tools {
            tools.push(serde_json::to_value(t).context("tool is not serialisable")?);
        }
        match page.next_cursor {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            Some(_) => bail!("tools/list: the server repeated the same cursor"),
            None => break,
        }
    }
    Ok(Captured {
        server_name: info
            .server_info
            .as_ref()
            .map_or_else(String::new, |i| i.name.clone()),
        server_version: info
            .server_info
            .as_ref()
            .map_or_else(String::new, |i| i.version.clone()),
        protocol_version: info.protocol_version.to_string(),
        tools,
        pages,
        source: source.describe(),
    })
}

/// SHA-256 (hex) of the tools array as compact JSON, in server order: any change to a name,
/// description or schema changes the hash.
pub fn tools_sha256(tools: &[Value]) -> String {
    let bytes = serde_json::to_vec(tools).expect("JSON values serialise");
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pinned tools file: the MCP `tools/list` shape (which toolgate's tools loader reads)
/// plus a `_pinned` record the loader ignores. `date` is passed in (YYYY-MM-DD) so tests can
/// pin it.
pub fn pinned_file(c: &Captured, date: &str) -> Value {
    json!({
        "_pinned": {
            "server_name": c.server_name,
            "server_version": c.server_version,
            "protocol_version": c.protocol_version,
            "sha256": tools_sha256(&c.tools),
            "date": date,
            "source": c.source,
            "tool_count": c.tools.len(),
        },
        "tools": c.tools,
    })
}

/// `--mcp`'s command line in words (core's [`split_command`], the one used for managed
/// servers too).
pub fn split_command_line(line: &str) -> Result<Vec<String>> {
    split_command(line).map_err(|e| anyhow::anyhow!("--mcp: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_command_line(r#"node  cli.js --flag "a b" 'c d' e\ f"#).unwrap(),
            ["node", "cli.js", "--flag", "a b", "c d", "e f"]
        );
        assert_eq!(split_command_line(r#"x """#).unwrap(), ["x", ""]);
        assert!(split_command_line("x 'open").is_err());
        assert!(McpSource::stdio_from_command_line("   ").is_err());
    }

    #[test]
    fn pinned_file_is_a_loadable_tools_file_and_the_hash_tracks_content() {
        let mut c = Captured {
            server_name: "S".into(),
            server_version: "1.0".into(),
            protocol_version: "2025-06-18".into(),
            tools: vec![json!({"name":"t","description":"d",
                "inputSchema":{"type":"object","properties":{"a":{"type":"string"}}}})],
            pages: 1,
            source: "stdio: x".into(),
        };
        let f = pinned_file(&c, "2026-11-23");
        assert_eq!(f["_pinned"]["server_name"], "S");
        assert_eq!(f["_pinned"]["date"], "2026-11-23");
        let set = toolgate_core::tools::parse_tools(&f).expect("loader accepts _pinned");
        assert_eq!(set.names(), ["t"]);
        let h1 = f["_pinned"]["sha256"].as_str().unwrap().to_string();
        assert_eq!(h1.len(), 64);
        c.tools[0]["inputSchema"]["properties"]["a"]["type"] = json!("integer");
        assert_ne!(tools_sha256(&c.tools), h1);
    }
}
