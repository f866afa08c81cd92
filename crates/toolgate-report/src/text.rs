//! Small formatting helpers shared by the renderers.

use crate::stats::{Dist, Proportion};

/// `75.0%`, or `–` when there is nothing to show.
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{:.1}%", v * 100.0))
}

/// `75.0% [50.5–89.8]` (percent with the 95% Wilson interval).
pub fn pct_ci(p: &Proportion) -> String {
    match (p.value, p.ci_low, p.ci_high) {
        (Some(v), Some(lo), Some(hi)) => {
            format!("{:.1}% [{:.1}–{:.1}]", v * 100.0, lo * 100.0, hi * 100.0)
        }
        _ => "–".to_string(),
    }
}

/// `12/16`.
pub fn ratio(p: &Proportion) -> String {
    format!("{}/{}", p.successes, p.n)
}

/// A number with one decimal, `–` for none.
pub fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

pub fn num3(v: f64) -> String {
    format!("{v:.3}")
}

/// Selects one statistic of an optional distribution.
pub fn dist_field(d: &Option<Dist>, f: fn(&Dist) -> f64) -> Option<f64> {
    d.as_ref().map(f)
}

/// Shortens `s` to about `max` characters, cutting at whitespace when possible so a Kannada
/// conjunct (several code points) is never split, and marks the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    let at = cut
        .rfind(char::is_whitespace)
        .filter(|&i| i > max / 2)
        .unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end())
}

/// Longest model- or server-supplied text shown on one terminal line; past it the text is
/// cut at the end (the start says what went wrong, the full text is in the reports).
pub const MAX_TERM: usize = 2000;

/// Text for a terminal: [`toolgate_core::text::terminal`] (the one escaping rule for every
/// command: control characters shown escaped, no line may start a CI workflow command),
/// with the length bounded by [`MAX_TERM`].
pub fn term(s: &str) -> String {
    let cut = match s.char_indices().nth(MAX_TERM) {
        Some((at, _)) => &s[..at],
        None => s,
    };
    let mut out = toolgate_core::text::terminal(cut).into_owned();
    if cut.len() < s.len() {
        out.push('…');
    }
    out
}

/// One line of Markdown table cell: pipes escaped, newlines flattened, HTML-ish characters
/// escaped (GitHub renders inline HTML in tables), link and image brackets escaped (a model
/// writing `![i](https://…)` must not make a viewer fetch it), other control characters
/// shown escaped (the Markdown also goes to stdout).
pub fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("\\`"),
            // `[text](url)`, `![alt](url)` and `[text][ref]` need a `]` followed by `(` or
            // `[`: escaping that one bracket breaks every link and image form, and leaves
            // plain brackets (`[15.0–85.0]`, `[thinking=on]`) readable in the raw file.
            ']' if matches!(chars.peek(), Some('(' | '[')) => out.push_str("\\]"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for XML content and attributes. Characters XML 1.0 forbids (most C0
/// controls, lone surrogates cannot occur in a `str`, U+FFFE/U+FFFF) are replaced with
/// U+FFFD: model output can contain them and one would make the whole file invalid.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Attribute values normalise raw newlines/tabs to spaces; keep them as references.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_escapes_controls_and_bounds_length() {
        assert_eq!(term("a\x1b[31mb\nc"), "a\\u{1b}[31mb\\nc");
        // No line of model text can start a CI workflow command.
        assert_eq!(term("::error::x"), "\\::error::x");
        assert_eq!(term("ಪ್ರಿಯಾ"), "ಪ್ರಿಯಾ");
        assert_eq!(
            term(&"x".repeat(MAX_TERM + 5)).chars().count(),
            MAX_TERM + 1
        );
    }

    #[test]
    fn truncate_cuts_at_whitespace() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ಪ್ರಿಯಾ ಬೆಂಗಳೂರಿಗೆ ಹೋದರು", 15), "ಪ್ರಿಯಾ…");
    }

    #[test]
    fn xml_escapes_and_replaces_controls() {
        assert_eq!(
            xml("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
    }

    /// Issue 17: link and image syntax from a model renders as text, not as a link or a
    /// fetched image; control bytes do not reach stdout raw.
    #[test]
    fn md_cell_escapes_links_images_and_controls() {
        let c = md_cell(
            "[click](https://evil.example) ![i](https://evil.example/i.png) [a][ref]\u{1b}\u{0}",
        );
        assert_eq!(
            c,
            "[click\\](https://evil.example) ![i\\](https://evil.example/i.png) [a\\][ref]\\u{1b}\\u{0}"
        );
        let unescaped = c.replace("\\]", "");
        assert!(!unescaped.contains("](") && !unescaped.contains("]["));
        // Brackets that form no link stay as written.
        assert_eq!(
            md_cell("100.0% [97.4–100.0] [thinking=on]"),
            "100.0% [97.4–100.0] [thinking=on]"
        );
    }

    #[test]
    fn md_cell_escapes_pipes_and_newlines() {
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
    }
}

/// Which report a [`Table`] is written into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    Markdown,
    Html,
}

/// One table, written the same way into `report.md` (pipe table) and `report.html`: the
/// sections list their columns and cells once, and the markup is this type's business.
/// Right-aligned columns are numbers (`---:` in markdown, `class="n"` in HTML).
pub struct Table<'o> {
    o: &'o mut String,
    markup: Markup,
    right: Vec<bool>,
}

impl<'o> Table<'o> {
    /// Writes the head. Columns are `(title, right_aligned)`.
    pub fn new(o: &'o mut String, markup: Markup, cols: &[(&str, bool)]) -> Table<'o> {
        match markup {
            Markup::Markdown => {
                o.push('|');
                for (t, _) in cols {
                    // An untitled column (the row names) heads as `| |`.
                    if !t.is_empty() {
                        o.push(' ');
                        o.push_str(t);
                    }
                    o.push_str(" |");
                }
                o.push_str("\n|");
                for (_, r) in cols {
                    o.push_str(if *r { "---:|" } else { "---|" });
                }
                o.push('\n');
            }
            Markup::Html => {
                o.push_str("<table>\n<thead><tr>");
                for (t, _) in cols {
                    o.push_str("<th>");
                    o.push_str(t);
                    o.push_str("</th>");
                }
                o.push_str("</tr></thead>\n<tbody>\n");
            }
        }
        Table {
            o,
            markup,
            right: cols.iter().map(|c| c.1).collect(),
        }
    }

    /// One row of plain-text cells, escaped for the markup here.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        let cells: Vec<&str> = cells.iter().map(AsRef::as_ref).collect();
        let m = self.markup;
        self.row_with(&cells, |_, s| escape(m, s));
    }

    /// One row where `cell(i, text)` renders cell `i` itself (already escaped), e.g. as code.
    pub fn row_with(&mut self, cells: &[&str], cell: impl Fn(usize, &str) -> String) {
        let o = &mut *self.o;
        match self.markup {
            Markup::Markdown => {
                o.push('|');
                for (i, c) in cells.iter().enumerate() {
                    o.push(' ');
                    o.push_str(&cell(i, c));
                    o.push_str(" |");
                }
                o.push('\n');
            }
            Markup::Html => {
                o.push_str("<tr>");
                for (i, c) in cells.iter().enumerate() {
                    o.push_str(if self.right.get(i) == Some(&true) {
                        "<td class=\"n\">"
                    } else {
                        "<td>"
                    });
                    o.push_str(&cell(i, c));
                    o.push_str("</td>");
                }
                o.push_str("</tr>\n");
            }
        }
    }

    pub fn markup(&self) -> Markup {
        self.markup
    }

    /// Closes the table (HTML only; a pipe table ends with its last row).
    pub fn end(self) {
        if self.markup == Markup::Html {
            self.o.push_str("</tbody>\n</table>\n");
        }
    }
}

/// `s` escaped for a table cell in `m`.
pub fn escape(m: Markup, s: &str) -> String {
    match m {
        Markup::Markdown => md_cell(s),
        Markup::Html => html(s),
    }
}

/// `s` as inline code in `m`.
pub fn code(m: Markup, s: &str) -> String {
    match m {
        Markup::Markdown => format!("`{s}`"),
        Markup::Html => format!("<code>{}</code>", html(s)),
    }
}
