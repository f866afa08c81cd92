//! `toolgate tools import` against the real `@playwright/mcp` (npm, pinned 0.0.83, installed
//! into the git-ignored `target/playwright-mcp/`), over stdio and streamable HTTP, and
//! `toolgate tools diff` on the committed pinned file. The live part skips with a message
//! only when npm cannot install the package.

use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{root, run as toolgate};

const PKG: &str = "@playwright/mcp@0.0.83";

fn names(doc: &Value) -> Vec<String> {
    let tools = doc
        .get("tools")
        .or_else(|| doc.pointer("/result/tools"))
        .and_then(Value::as_array)
        .expect("a tools list");
    tools
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
}

/// The installed CLI, installing it when missing; `None` when npm cannot install it.
fn playwright_cli() -> Option<PathBuf> {
    let prefix = root().join("target/playwright-mcp");
    let pkg_dir = prefix.join("node_modules/@playwright/mcp");
    let installed_version = || {
        std::fs::read_to_string(pkg_dir.join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["version"].as_str().map(str::to_string))
    };
    if installed_version().as_deref() != Some("0.0.83") {
        std::fs::create_dir_all(&prefix).expect("mkdir");
        // --no-save: no package.json / lock file to commit; the folder is under target/.
        let status = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
            ])
            .arg(&prefix)
            .arg(PKG)
            .stdout(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => {}
            other => {
                eprintln!("SKIP: npm could not install {PKG} ({other:?}); live MCP tests not run");
                return None;
            }
        }
    }
    assert_eq!(installed_version().as_deref(), Some("0.0.83"));
    Some(pkg_dir.join("cli.js"))
}

fn check_import(out: &Path) {
    let got = read(out);
    let golden = read(&root().join("golden/tools/playwright-mcp.json"));
    assert_eq!(
        names(&got),
        names(&golden),
        "tool names differ from the pinned file"
    );
    let pin = &got["_pinned"];
    assert_eq!(pin["server_name"], "Playwright");
    assert_eq!(pin["tool_count"], 25);
    assert_eq!(pin["sha256"].as_str().map(str::len), Some(64));
    assert!(pin["date"].as_str().is_some_and(|d| d.len() == 10));
    // The file is a tools file toolgate loads, and it describes the same tools as the capture.
    let d = toolgate(&[
        "tools",
        "diff",
        "golden/tools/playwright-mcp.json",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        d.status.code(),
        Some(0),
        "diff: {}",
        String::from_utf8_lossy(&d.stdout)
    );
}

#[test]
fn import_from_real_playwright_mcp_over_stdio_and_http() {
    let Some(cli) = playwright_cli() else { return };
    let tmp = tempfile::tempdir().unwrap();

    // stdio: toolgate spawns the server.
    let out = tmp.path().join("stdio.json");
    let cmd = format!("node {} --headless --isolated", cli.display());
    let o = toolgate(&[
        "tools",
        "import",
        "--mcp",
        &cmd,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    check_import(&out);

    // Streamable HTTP: the server listens on a free loopback port; Playwright only accepts
    // the Host `localhost:PORT`.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("node")
        .arg(&cli)
        .args(["--headless", "--isolated", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let out_http = tmp.path().join("http.json");
    let url = format!("http://localhost:{port}/mcp");
    let o = toolgate(&[
        "tools",
        "import",
        "--mcp-url",
        &url,
        "--out",
        out_http.to_str().unwrap(),
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    check_import(&out_http);
}

#[test]
fn diff_reports_a_renamed_argument_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let mut doc = read(&root().join("golden/tools/playwright-mcp.json"));
    // Turn the pinned 0.0.83 `browser_click(target)` back into an older `browser_click(ref)`.
    let tools = doc["result"]["tools"].as_array_mut().unwrap();
    let click = tools
        .iter_mut()
        .find(|t| t["name"] == "browser_click")
        .unwrap();
    let schema = click["inputSchema"].as_object_mut().unwrap();
    let props = schema["properties"].as_object_mut().unwrap();
    let target = props.remove("target").expect("0.0.83 has `target`");
    props.insert("ref".into(), target);
    for r in schema["required"].as_array_mut().unwrap() {
        if r == "target" {
            *r = "ref".into();
        }
    }
    let old = tmp.path().join("old.json");
    std::fs::write(&old, serde_json::to_string(&doc).unwrap()).unwrap();
    let o = toolgate(&[
        "tools",
        "diff",
        old.to_str().unwrap(),
        "golden/tools/playwright-mcp.json",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("browser_click: argument `ref` renamed to `target`"),
        "{stdout}"
    );
    // A file that is not a tools file is bad input.
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "{\"nope\": 1}").unwrap();
    let o = toolgate(&[
        "tools",
        "diff",
        bad.to_str().unwrap(),
        old.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    // Neither --mcp nor --mcp-url: usage error.
    assert_eq!(toolgate(&["tools", "import"]).status.code(), Some(2));
}

/// A stdio MCP server (a few lines of Python) whose name and version carry a forged
/// workflow command and terminal control bytes: `tools import` prints them escaped.
#[test]
fn a_hostile_mcp_server_name_is_escaped_on_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("server.py");
    std::fs::write(
        &script,
        r#"import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    if msg["method"] == "initialize":
        result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
                  "serverInfo": {"name": "evil\n::error title=forged::forged\u001b[31m", "version": "1\u0007\n::warning::x"}}
    elif msg["method"] == "tools/list":
        result = {"tools": [{"name": "ping", "description": "Ping.", "inputSchema": {"type": "object", "properties": {}}}]}
    else:
        result = {}
    print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)
"#,
    )
    .unwrap();
    let out = tmp.path().join("tools.json");
    let cmd = format!("python3 {}", script.display());
    let o = toolgate(&[
        "tools",
        "import",
        "--mcp",
        &cmd,
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("evil"), "{stderr}");
    for line in stderr.lines() {
        assert!(
            !line.trim_start().starts_with("::"),
            "forged line: {line:?}"
        );
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
    }
}
