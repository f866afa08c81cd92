//! Issue 17: hostile servers and inputs, through the built binary. A tiny scriptable HTTP
//! server lives in this file: one thread per connection, every reply written by a closure,
//! every request it saw kept for the assertions. It listens on 127.0.0.1 only and stops
//! when the test's handle is dropped.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One request as the hostile server saw it.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    /// Header lines, lowercased names, as `name: value`.
    headers: Vec<String>,
    body: String,
}

type Handler = dyn Fn(&Seen, usize) -> Vec<u8> + Send + Sync;

struct Hostile {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    /// `handler(request, n)` returns the raw bytes of the reply to the `n`-th chat request
    /// (other paths get `handler` too, with n = usize::MAX). Connections are closed after
    /// each reply.
    fn start(handler: impl Fn(&Seen, usize) -> Vec<u8> + Send + Sync + 'static) -> Hostile {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let url = format!("http://{}/v1", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let chats = Arc::new(AtomicUsize::new(0));
        {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                // Bounded: the test's process ends, or the handle stops it.
                while !stop.load(Ordering::SeqCst) {
                    match l.accept() {
                        Ok((s, _)) => {
                            let (seen, handler, chats) =
                                (seen.clone(), handler.clone(), chats.clone());
                            std::thread::spawn(move || serve(s, &seen, &*handler, &chats));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Hostile { url, seen, stop }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(s: TcpStream, seen: &Mutex<Vec<Seen>>, handler: &Handler, chats: &AtomicUsize) {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        let h = h.trim_end().to_string();
        if let Some((k, v)) = h.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                len = v.trim().parse().unwrap_or(0);
            }
            headers.push(format!("{k}: {}", v.trim()));
        }
    }
    let mut body = vec![0u8; len.min(1 << 24)];
    let _ = r.read_exact(&mut body);
    let req = Seen {
        path: path.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    seen.lock().unwrap().push(req.clone());
    let n = if path.ends_with("/chat/completions") {
        chats.fetch_add(1, Ordering::SeqCst)
    } else {
        usize::MAX
    };
    let reply = handler(&req, n);
    let mut s = s;
    let _ = s.write_all(&reply);
    let _ = s.flush();
}

fn http(status: &str, ctype: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A streamed reply: the given `data:` payloads, each followed by a blank line.
fn sse(events: &[String]) -> Vec<u8> {
    let mut body = String::new();
    for e in events {
        body.push_str(&format!("data: {e}\n\n"));
    }
    format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{body}")
        .into_bytes()
}

fn content_chunk(text: &str) -> String {
    serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]}).to_string()
}

fn chat_json(message: Value) -> String {
    serde_json::json!({
        "id": "x", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
    .to_string()
}

fn toolgate(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir);
    c
}

fn tool_routing() -> String {
    repo().join("cases/tool-routing").display().to_string()
}

fn ok(out: &Output) {
    assert!(
        matches!(out.status.code(), Some(0) | Some(1) | Some(3)),
        "exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file of the run folder, as text (lossy), by name.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            v.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    v
}

const KEY: &str = "sk-hostile-0123456789abcdef";

/// Item 2: a server echoing the key in content, a 401 body, a mid-stream error, a tool
/// name and the metadata bodies. The key reaches neither a file nor the terminal, and
/// `/props`, `/version` and `/metrics` are never sent it.
#[test]
fn an_echoed_api_key_never_reaches_disk_or_the_terminal() {
    let server = Hostile::start(|req, n| {
        let auth = req
            .headers
            .iter()
            .find(|h| h.starts_with("authorization:"))
            .map(|h| h["authorization:".len()..].trim().to_string())
            .unwrap_or_else(|| format!("Bearer {KEY}")); // echo it even when not sent
        let stream = req.body.contains("\"stream\":true");
        match (req.path.as_str(), n % 4) {
            (p, _) if p.ends_with("/models") => http(
                "200 OK",
                "application/json",
                &format!(r#"{{"data":[{{"id":"m","owner":"{auth}"}}]}}"#),
            ),
            (p, _) if !p.ends_with("/chat/completions") => {
                http("200 OK", "text/plain", &format!("seen {auth}\n"))
            }
            (_, 0) => http(
                "401 Unauthorized",
                "application/json",
                &format!(r#"{{"error":{{"message":"Incorrect API key provided: {auth}"}}}}"#),
            ),
            (_, 1) if stream => sse(&[
                content_chunk("partial "),
                serde_json::json!({"error": {"message": format!("boom {auth}")}}).to_string(),
            ]),
            (_, 2) if stream => sse(&[
                content_chunk(&format!("your key is {auth} and ")),
                content_chunk(KEY),
                "[DONE]".into(),
            ]),
            _ => http(
                "200 OK",
                "application/json",
                &chat_json(serde_json::json!({"role": "assistant", "content": null,
                    "tool_calls": [{"id": "c1", "type": "function", "function":
                        {"name": KEY, "arguments": format!("{{\"query\":\"{KEY}\"}}")}}]})),
            ),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = toolgate(dir.path())
        .env("HOSTILE_KEY", KEY)
        .args([
            "run",
            "--target",
            &server.url,
            "--model",
            "m",
            "--profile",
            "vllm",
        ])
        .args(["--api-key-env", "HOSTILE_KEY", "--suite", &tool_routing()])
        .args(["--tag", "core8", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    ok(&out);
    let mut seen_text = Vec::new();
    for (name, text) in files(&run) {
        assert!(!text.contains(KEY), "{name} holds the key");
        seen_text.push(name);
    }
    for f in [
        "responses.jsonl",
        "manifest.json",
        "report.md",
        "results.csv",
    ] {
        assert!(seen_text.iter().any(|n| n == f), "{f} missing");
    }
    let all: String = files(&run).into_iter().map(|(_, t)| t).collect();
    assert!(
        all.contains("[redacted:HOSTILE_KEY]"),
        "nothing was redacted"
    );
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(KEY));
    }
    // Re-reporting and comparing print nothing secret either.
    let rep = toolgate(dir.path())
        .arg("report")
        .arg(&run)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&rep.stdout).contains(KEY));
    assert!(!String::from_utf8_lossy(&rep.stderr).contains(KEY));

    let seen = server.seen();
    let auth_of = |suffix: &str| {
        seen.iter()
            .filter(|s| s.path.ends_with(suffix))
            .map(|s| s.headers.iter().any(|h| h.starts_with("authorization:")))
            .collect::<Vec<_>>()
    };
    assert_eq!(auth_of("/v1/models"), vec![true], "{seen:?}");
    for p in ["/props", "/version", "/metrics"] {
        let a = auth_of(p);
        assert!(!a.is_empty(), "{p} was not probed");
        assert!(a.iter().all(|x| !x), "{p} was sent the key");
    }
    assert!(auth_of("/chat/completions").iter().all(|x| *x));
}

/// `toolgate run` of the eight core tool-routing cases against `url`, into `dir/run`.
fn run_core8(dir: &Path, url: &str, extra: &[&str]) -> (PathBuf, Output) {
    let run = dir.join("run");
    let out = toolgate(dir)
        .args(["run", "--target", url, "--model", "m", "--profile", "vllm"])
        .args(["--suite", &tool_routing(), "--tag", "core8", "--out"])
        .arg(&run)
        .args(extra)
        .output()
        .unwrap();
    ok(&out);
    (run, out)
}

/// Item 3: eight failing trials that each answer 1 MiB of `&` (five-fold when escaped):
/// report.html shows 64 KiB of each and says how much more there is.
#[test]
fn report_html_shows_a_bounded_part_of_each_huge_response() {
    let big = "&".repeat(1 << 20);
    let server = Hostile::start(move |req, _| {
        let body = chat_json(serde_json::json!({"role": "assistant", "content": big}));
        match req.path.as_str() {
            p if p.ends_with("/chat/completions") => http("200 OK", "application/json", &body),
            _ => http("404 Not Found", "text/plain", ""),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = run_core8(dir.path(), &server.url, &["--no-stream"]);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    eprintln!("report.html: {} bytes for 8 trials of 1 MiB", html.len());
    assert!(
        html.len() < 4 << 20,
        "report.html is {} bytes for 8 MiB of responses",
        html.len()
    );
    assert!(html.contains("bytes more, see responses.jsonl"));
}

/// Items 5, 6 and 7: a model naming its tool `=cmd…`, with a forged workflow command,
/// terminal control bytes and Markdown link/image syntax. results.csv neutralises the
/// formula, report.md escapes the link and image, and `toolgate compare` prints no raw
/// control byte and no line the model started.
#[test]
fn a_hostile_tool_name_is_defused_in_csv_markdown_and_on_the_terminal() {
    let name = "=cmd|' /C calc'!A0\n::error title=forged::forged\u{7}\u{1b}[31m\u{0} [click](https://evil.example) ![i](https://evil.example/i.png)";
    let server = Hostile::start(move |req, _| match req.path.as_str() {
        p if p.ends_with("/chat/completions") => http(
            "200 OK",
            "application/json",
            &chat_json(serde_json::json!({"role": "assistant", "content": null,
                "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": name, "arguments": "{}"}}]})),
        ),
        _ => http("404 Not Found", "text/plain", ""),
    });
    let dir = tempfile::tempdir().unwrap();
    let (cand, _) = run_core8(dir.path(), &server.url, &["--no-stream"]);
    let base = dir.path().join("base");
    let out = Command::new(BIN)
        .current_dir(repo())
        .args([
            "run",
            "--quiet",
            "--suite",
            &tool_routing(),
            "--tag",
            "core8",
            "--out",
        ])
        .arg(&base)
        .output()
        .unwrap();
    ok(&out);

    let csv = std::fs::read_to_string(cand.join("results.csv")).unwrap();
    assert!(csv.contains("\"'=cmd|"), "{csv}");
    assert!(!csv.contains(",=cmd") && !csv.contains(",\"=cmd"), "{csv}");
    let md = std::fs::read_to_string(cand.join("report.md")).unwrap();
    assert!(!md.contains("[click](") && !md.contains("![i]("), "{md}");
    assert!(md.contains("[click\\](") && md.contains("![i\\]("), "{md}");

    for extra in [&[][..], &["--markdown"][..]] {
        let c = toolgate(dir.path())
            .arg("compare")
            .arg(&base)
            .arg(&cand)
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&c.stdout);
        assert!(
            text.contains("calc"),
            "the tool name is not shown at all:\n{text}"
        );
        for line in text.lines() {
            assert!(
                !line.trim_start().starts_with("::"),
                "forged line: {line:?}"
            );
            assert!(
                !line.chars().any(|ch| ch.is_control() && ch != '\t'),
                "{line:?}"
            );
        }
    }
}

/// Item 9: case ids are user text, so none goes into an HTTP header (a newline or 70k
/// characters there broke every trial). The server sees only standard headers.
#[test]
fn no_case_id_is_sent_in_a_header() {
    let server = Hostile::start(|req, _| match req.path.as_str() {
        p if p.ends_with("/chat/completions") => http(
            "200 OK",
            "application/json",
            &chat_json(serde_json::json!({"role": "assistant", "content": "ok"})),
        ),
        _ => http("404 Not Found", "text/plain", ""),
    });
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = run_core8(dir.path(), &server.url, &["--no-stream"]);
    let ids: Vec<String> = std::fs::read_to_string(run.join("responses.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["key"]["case"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 8);
    let chats: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/chat/completions"))
        .collect();
    assert_eq!(chats.len(), 8);
    for s in &chats {
        for h in &s.headers {
            assert!(!h.starts_with("x-toolgate"), "sent {h:?}");
            let (_, value) = h.split_once(": ").unwrap_or(("", ""));
            assert!(
                !ids.iter().any(|id| value.contains(id.as_str())),
                "a case id in a header: {h:?}"
            );
        }
    }
}
