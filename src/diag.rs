//! User-facing diagnostics: one error type that points into a named source, and its rendering.
//!
//! Every layer returns the one error type, [`Diag`]: helpers deeper down fill in spans but no
//! file; the caller that knows the file attaches it with [`Diag::in_source`] (typst's
//! `.at(span)` pattern). Rendering happens only in the command line, with [`render`]:
//! rustc-style plain text with carets under every span (miette's graphical handler draws no
//! caret under one-column spans and wraps long paths).

pub mod codes;

use std::fmt;
use std::sync::Arc;

/// A half-open byte range `start..end` into the source text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn len(self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.end == self.start
    }
}

/// A source file as diagnostics see it: its display name and its text, both shared, so
/// attaching a source to many errors copies no text.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub name: Arc<str>,
    pub text: Arc<str>,
}

impl Source {
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }
}

/// A label: a span in the source and what to say there.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// The one error type of every layer: a stable `code` (one of [`codes`]),
/// a `message` (lowercase, no trailing period), labelled spans (the first is the
/// primary one, where the error is), an optional help, and the [`Source`] the spans point
/// into. Helpers build it without a source; the caller that knows the file attaches it with
/// [`Diag::in_source`]. Without a source (errors about the command, not a file) the labels
/// are not shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Diag {
    pub code: &'static str,
    pub message: String,
    pub source: Option<Source>,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diag {
    pub fn new(code: &'static str, message: impl Into<String>) -> Diag {
        Diag {
            code,
            message: message.into(),
            source: None,
            labels: Vec::new(),
            help: None,
        }
    }

    /// Adds a label; the first one added is the primary label.
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Diag {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    /// Attaches the file the spans point into.
    pub fn in_source(mut self, source: &Source) -> Diag {
        self.source = Some(source.clone());
        self
    }

    /// The primary span: where the error is.
    pub fn span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }

    /// `file:line:col` of the primary label, when there is a source.
    pub fn location(&self) -> Option<String> {
        let src = self.source.as_ref()?;
        let (line, col) = src.line_col(self.span()?.start);
        Some(format!("{}:{line}:{col}", src.name))
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag {}

/// Lets `?` lift one error into the list of errors a command returns.
impl From<Diag> for Vec<Diag> {
    fn from(d: Diag) -> Vec<Diag> {
        vec![d]
    }
}

/// Lines longer than this are shown as a window around the label.
const MAX_LINE: usize = 120;

/// Renders a diagnostic as plain text, rustc style: `error[code]: message`, the location,
/// each labelled source line with carets under its span (`^` for the first label, `-` for
/// the others) and the label text, then any help. Deterministic, no colour, no wrapping.
pub fn render(diag: &Diag) -> String {
    let mut out = format!("error[{}]: {}\n", diag.code, diag.message);
    let Some(src) = &diag.source else {
        if let Some(h) = &diag.help {
            out.push_str(&format!("  = help: {h}\n"));
        }
        return out;
    };
    let width = diag
        .labels
        .iter()
        .map(|l| src.line_col(l.span.start).0.to_string().len())
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(width);
    if let Some(loc) = diag.location() {
        out.push_str(&format!("{pad}--> {loc}\n"));
    } else {
        out.push_str(&format!("{pad}--> {}\n", src.name));
    }
    out.push_str(&format!("{pad} |\n"));
    for (i, label) in diag.labels.iter().enumerate() {
        let (line_no, _) = src.line_col(label.span.start);
        let (text, col, len) = snippet(&src.text, label.span);
        let mark = if i == 0 { '^' } else { '-' };
        out.push_str(&format!("{line_no:>width$} | {text}\n"));
        let marks = mark.to_string().repeat(len.max(1));
        let gap = " ".repeat(col);
        let sep = if label.text.is_empty() { "" } else { " " };
        out.push_str(&format!("{pad} | {gap}{marks}{sep}{}\n", label.text));
    }
    if let Some(h) = &diag.help {
        out.push_str(&format!("{pad} = help: {h}\n"));
    }
    out
}

/// The source line holding `span.start` (windowed if long, tabs as spaces), the column of
/// the span in it and the span's length on that line, both in characters.
fn snippet(text: &str, span: Span) -> (String, usize, usize) {
    let start = floor_boundary(text, span.start.min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let end = ceil_boundary(text, span.end.clamp(start, line_end));
    let line: Vec<char> = text[line_start..line_end]
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    let col = text[line_start..start].chars().count();
    let len = text[start..end].chars().count();
    if line.len() <= MAX_LINE {
        return (line.into_iter().collect(), col, len);
    }
    // A window of MAX_LINE characters starting a little before the span.
    let from = col.saturating_sub(40);
    let to = (from + MAX_LINE).min(line.len());
    let mut shown: String = line[from..to].iter().collect();
    let mut col = col - from;
    if from > 0 {
        shown.insert_str(0, "...");
        col += 3;
    }
    if to < line.len() {
        shown.push_str("...");
    }
    (shown, col, len.min(to.saturating_sub(col)).max(1))
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Renders many diagnostics, in order, separated by blank lines.
pub fn render_all(diags: &[Diag]) -> String {
    diags.iter().map(render).collect::<Vec<_>>().join("\n")
}
