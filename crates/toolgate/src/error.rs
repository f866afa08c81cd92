//! The binary's one error type: what went wrong, and the exit code it means.

use crate::exit;

#[derive(Debug, thiserror::Error)]
pub enum ToolgateError {
    /// Something the user gave (a flag, a file, a folder) is wrong: exit 2, the message as is.
    #[error("{0}")]
    BadInput(String),
    /// Any other failure, printed with its context chain.
    #[error("{0:#}")]
    Other(anyhow::Error),
}

impl ToolgateError {
    pub fn exit_code(&self) -> u8 {
        match self {
            // Errors are about what the user gave us (files, folders), so both are exit 2;
            // an incomplete run or a failed gate is an outcome (`Ok(code)`), not an error.
            ToolgateError::BadInput(_) | ToolgateError::Other(_) => exit::BAD_INPUT,
        }
    }

    /// What is printed on stderr.
    pub fn message(&self) -> String {
        match self {
            ToolgateError::BadInput(m) => m.clone(),
            e => format!("error: {e}"),
        }
    }
}

/// The libraries' errors, mapped once: `toolgate_run::BadInput` (and a `ToolgateError`
/// carried through `anyhow`) stay bad input, printed as the outermost message; anything else
/// is `Other`.
impl From<anyhow::Error> for ToolgateError {
    fn from(e: anyhow::Error) -> Self {
        let bad_input = e.downcast_ref::<toolgate_run::BadInput>().is_some()
            || matches!(
                e.downcast_ref::<ToolgateError>(),
                Some(ToolgateError::BadInput(_))
            );
        if bad_input {
            ToolgateError::BadInput(e.to_string())
        } else {
            ToolgateError::Other(e)
        }
    }
}

/// Bad input, as the `anyhow::Error` the commands return.
pub fn bad(msg: impl Into<String>) -> anyhow::Error {
    ToolgateError::BadInput(msg.into()).into()
}
