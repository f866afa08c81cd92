//! `toolgate tools import` and `toolgate tools diff`: CLI glue over `toolgate-mcp`.

use crate::cli::ToolsCommand;
use crate::exit;
use anyhow::Context;
use std::path::Path;
use std::time::Duration;
use toolgate_core::text::terminal;
use toolgate_mcp::McpSource;

/// A first `npx` start downloads and unpacks the package; give it room, but never hang CI.
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(180);

pub fn tools(cmd: ToolsCommand) -> anyhow::Result<u8> {
    match cmd {
        ToolsCommand::Import { mcp, mcp_url, out } => import(mcp, mcp_url, out.as_deref()),
        ToolsCommand::Diff { old, new } => diff(&old, &new),
    }
}

fn import(mcp: Option<String>, mcp_url: Option<String>, out: Option<&Path>) -> anyhow::Result<u8> {
    let source = match (mcp, mcp_url) {
        (Some(cmd), None) => McpSource::stdio_from_command_line(&cmd)?,
        (None, Some(url)) => McpSource::Http(url),
        // clap refuses both and neither (`conflicts_with`, `required_unless_present`).
        _ => unreachable!("exactly one of --mcp and --mcp-url"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let captured = match rt.block_on(toolgate_mcp::capture(&source, CAPTURE_TIMEOUT)) {
        Ok(c) => c,
        Err(e) => {
            // The server, not the user's input, failed: same treatment as a run that could
            // not reach its target.
            eprintln!("error: {}", terminal(&format!("{e:#}")));
            return Ok(exit::INCOMPLETE);
        }
    };
    let doc = toolgate_mcp::pinned_file(&captured, &crate::today());
    // The file must load as a tools file before it is written anywhere.
    toolgate_core::tools::parse_tools(&doc).map_err(|errs| {
        let msgs: Vec<String> = errs
            .iter()
            .map(|e| terminal(&format!("{}: {}", e.pointer, e.message)).into_owned())
            .collect();
        anyhow::anyhow!(
            "the server's tool list is not a valid tools file:\n  {}",
            msgs.join("\n  ")
        )
    })?;
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    match out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "{} tool(s) from {} {} ({} page(s) of tools/list) → {}",
                captured.tools.len(),
                terminal(&captured.server_name),
                terminal(&captured.server_version),
                captured.pages,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(exit::OK)
}

fn load(path: &Path) -> anyhow::Result<toolgate_core::tools::ToolSet> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: not JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    toolgate_core::tools::parse_tools(&doc).map_err(|errs| {
        let msgs: Vec<String> = errs
            .iter()
            .map(|e| {
                let what = format!("{} (at {})", e.message, e.pointer);
                format!("{}: {}", path.display(), terminal(&what))
            })
            .collect();
        anyhow::anyhow!("{}", msgs.join("\n"))
    })
}

/// Exit 0 when the files describe the same tools, 1 when anything changed (like diff(1), so
/// a CI step fails on an unreviewed MCP upgrade), 2 when a file cannot be read.
fn diff(old: &Path, new: &Path) -> anyhow::Result<u8> {
    let (a, b) = (load(old)?, load(new)?);
    let changes = toolgate_mcp::diff::diff(&a, &b);
    if changes.is_empty() {
        println!(
            "no changes: {} tool(s), same names and argument schemas",
            b.tools.len()
        );
        return Ok(exit::OK);
    }
    for c in &changes {
        println!("{}", terminal(&c.to_string()));
    }
    println!(
        "{} change(s) between {} ({} tools) and {} ({} tools)",
        changes.len(),
        old.display(),
        a.tools.len(),
        new.display(),
        b.tools.len()
    );
    Ok(exit::GATE_FAILED)
}
