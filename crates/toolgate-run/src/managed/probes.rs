//! Probes: short commands run beside a managed server (before, during and after the suite),
//! each giving one reading — its output, the first number in it, whether it succeeded.

use super::process::{command, GroupGuard};
use super::spec::{fill, Probe};
use std::path::Path;
use std::process::Stdio;
use toolgate_core::record::ProbeReading;

/// Output kept per reading.
const MAX_PROBE_OUTPUT: usize = 4096;

/// Run `probe` once (its own process group, killed at its timeout) and return the reading.
/// `phase` is `before`, `during` or `after`; `elapsed_ms` is since the server first started.
pub(crate) async fn read(
    probe: &Probe,
    vars: &[(&str, String)],
    cwd: Option<&Path>,
    phase: &str,
    elapsed_ms: f64,
) -> ProbeReading {
    let argv: Vec<String> = probe.argv.iter().map(|a| fill(a, vars)).collect();
    let mut reading = ProbeReading {
        phase: phase.to_string(),
        at: crate::runfolder::now_rfc3339(),
        elapsed_ms,
        ..Default::default()
    };
    let mut cmd = command(&argv, cwd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            reading.error = Some(format!("cannot run `{}`: {e}", argv[0]));
            return reading;
        }
    };
    let mut guard = GroupGuard::of(&child);
    match tokio::time::timeout(probe.timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            guard.disarm();
            let text = String::from_utf8_lossy(&out.stdout);
            let text = text.trim();
            reading.output = text.chars().take(MAX_PROBE_OUTPUT).collect();
            reading.value = first_number(text);
            reading.exit_code = out.status.code();
            reading.ok = out.status.success();
            if !reading.ok {
                let err = String::from_utf8_lossy(&out.stderr);
                reading.error = Some(format!(
                    "exited with {}: {}",
                    out.status,
                    err.trim().chars().take(500).collect::<String>()
                ));
            }
        }
        Ok(Err(e)) => reading.error = Some(e.to_string()),
        // The guard kills the probe's group as it goes out of scope.
        Err(_) => {
            reading.error = Some(format!(
                "timed out after {}s; killed",
                probe.timeout.as_secs_f64()
            ))
        }
    }
    reading
}

/// The first number in a probe's output (`12345 MiB` → 12345).
fn first_number(s: &str) -> Option<f64> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let starts =
            c.is_ascii_digit() || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts {
            let mut j = i + 1;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
                j += 1;
            }
            if let Ok(v) = s[i..j].trim_end_matches('.').parse::<f64>() {
                return Some(v);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_number_is_the_reading() {
        assert_eq!(first_number("12345 MiB"), Some(12345.0));
        assert_eq!(first_number("used: 3.5 GiB"), Some(3.5));
        assert_eq!(first_number("delta -2 ms"), Some(-2.0));
        assert_eq!(first_number("none"), None);
    }
}
