//! Located diagnostics for bad input: every problem names the file, line, column, the case
//! id when there is one, and what was expected. Loaders collect all problems in one pass.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: u64,
    /// 1-based; 0 when unknown.
    pub column: u64,
    pub case: Option<String>,
    pub message: String,
    /// What was expected instead, when that helps.
    pub expected: Option<String>,
    /// The source line, for the excerpt under the message.
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn new(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            case: None,
            message: message.into(),
            expected: None,
            source_line: None,
        }
    }

    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic::new(file, 0, 0, message)
    }

    pub fn case(mut self, id: impl Into<String>) -> Self {
        self.case = Some(id.into());
        self
    }

    pub fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }

    /// Attach the source line from `text` for the excerpt.
    pub fn with_source(mut self, text: &str) -> Self {
        if self.line > 0 {
            self.source_line = text
                .lines()
                .nth((self.line - 1) as usize)
                .map(|l| l.chars().take(200).collect());
        }
        self
    }

    /// `file:line:col` (or just `file`).
    pub fn location(&self) -> String {
        let f = self.file.display();
        match (self.line, self.column) {
            (0, _) => format!("{f}"),
            (l, 0) => format!("{f}:{l}"),
            (l, c) => format!("{f}:{l}:{c}"),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error", self.location())?;
        if let Some(c) = &self.case {
            write!(f, " [case {c}]")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(e) = &self.expected {
            write!(f, " (expected {e})")?;
        }
        if let Some(src) = &self.source_line {
            let width = self.line.to_string().len();
            write!(f, "\n{:width$} |\n{} | {}", "", self.line, src)?;
            if self.column > 0 {
                let pad: String = src
                    .chars()
                    .take((self.column - 1) as usize)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "\n{:width$} | {pad}^", "")?;
            }
        }
        Ok(())
    }
}

/// A list of diagnostics, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// 1-based (line, column) of a byte offset in `text` (column in characters).
pub fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count() as u64
        + 1;
    (line, col)
}
