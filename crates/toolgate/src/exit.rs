//! Exit codes (docs/run-folder.md#exit-codes): the only place the binary defines them.

use toolgate_report::gate::Decision;

/// The run is complete / the gate passed / nothing wrong.
pub const OK: u8 = 0;
/// The gate failed (or was inconclusive), or a threshold was missed.
pub const GATE_FAILED: u8 = 1;
/// Bad input or usage: files, folders, flags the user gave.
pub const BAD_INPUT: u8 = 2;
/// The run is incomplete (infra errors, interrupted); it can be resumed.
pub const INCOMPLETE: u8 = 3;

/// The exit code of a gate decision.
pub fn of_gate(d: Decision) -> u8 {
    match d {
        Decision::Passed => OK,
        Decision::Failed | Decision::Inconclusive => GATE_FAILED,
        Decision::Incomplete => INCOMPLETE,
    }
}

/// OK when complete, else INCOMPLETE.
pub fn of_completeness(complete: bool) -> u8 {
    if complete {
        OK
    } else {
        INCOMPLETE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report crate prints `gate … (exit N)`; it must say what the binary exits with.
    #[test]
    fn gate_codes_agree_with_the_report_crate() {
        for d in [
            Decision::Passed,
            Decision::Failed,
            Decision::Inconclusive,
            Decision::Incomplete,
        ] {
            assert_eq!(i32::from(of_gate(d)), d.exit_code(), "{d:?}");
        }
    }
}
