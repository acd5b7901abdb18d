//! User-facing diagnostics: one error type that points into a named source, and its rendering.
//!
//! Every layer returns the one error type, [`Diag`], with a stable code from [`codes`]:
//! helpers deeper down fill in spans but no file; the caller that knows the file attaches it
//! with [`Diag::in_source`] (typst's `.at(span)` pattern). This module imports nothing from
//! the rest of the crate.
//!
//! Rendering happens only in the command line, with [`render`], which hands the diagnostic to
//! annotate-snippets (rustc's renderer) in its plain ASCII style: deterministic, no colour,
//! `file:line:col` of the primary label. The only layout decisions made here are which lines
//! to hand over, where a span is drawn ([`Source::drawn`]) and how much of a long one is
//! underlined (`MAX_UNDERLINE`).

pub mod codes;

use std::fmt;
use std::sync::Arc;

use annotate_snippets::renderer::DecorStyle;
use annotate_snippets::{Annotation, AnnotationKind, Group, Level, Origin, Renderer, Snippet};

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

    /// 1-based line and column (in characters) of a byte offset, as the rendering shows it
    /// (see [`Source::drawn`]).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.drawn(Span::new(offset, offset)).start;
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// `span` as it is drawn: within the text, on character boundaries, starting before a
    /// line break rather than inside one (`\r\n`), ending before a line break it ends with,
    /// and a span past the final line break moved onto it, so that an error at the very end
    /// of a file points just after its last character.
    pub fn drawn(&self, span: Span) -> Span {
        let text = &*self.text;
        let mut start = floor_boundary(text, span.start.min(text.len()));
        if start == text.len() && text.ends_with('\n') {
            start -= 1;
        }
        if text[start..].starts_with('\n') && text[..start].ends_with('\r') {
            start -= 1;
        }
        let mut end = ceil_boundary(text, span.end.clamp(start, text.len()));
        while end > start + 1 && text[..end].ends_with(['\n', '\r']) {
            end -= 1;
        }
        Span::new(start, end)
    }
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

/// The renderer: rustc's layout in plain ASCII, no colour. Lines wider than its default
/// terminal width (140 columns) are shown as a window around the labels, cut with `...`.
const RENDERER: Renderer = Renderer::plain().decor_style(DecorStyle::Ascii);

/// The most columns a label's carets take on one line (a non-ASCII character counting two):
/// a longer span is underlined by its first `MAX_UNDERLINE` columns, so the carets stay in
/// the window the renderer shows (it windows the line but not the carets).
const MAX_UNDERLINE: usize = 100;

/// Renders a diagnostic as plain text, rustc style, with annotate-snippets: `error[code]:
/// message`, ` --> file:line:col` of the primary label, the labelled source lines with `^`
/// under the primary span and `-` under the others (labels on one line share it, a span over
/// several lines is drawn from its start to its end), then `= help: ...`. Deterministic, no
/// colour. Without a source, the message and the help only.
pub fn render(diag: &Diag) -> String {
    let title = Level::ERROR.primary_title(&diag.message).id(diag.code);
    let mut group = Group::with_title(title);
    match &diag.source {
        Some(src) if !diag.labels.is_empty() => group = group.element(snippet(src, &diag.labels)),
        Some(src) => group = group.element(Origin::path(&*src.name)),
        None => {}
    }
    if let Some(help) = &diag.help {
        group = group.element(Level::HELP.message(help));
    }
    RENDERER.render(&[group]) + "\n"
}

/// The lines of `src` the labels are on (from the first one's line to the last one's) as a
/// snippet, each label's span made one the renderer can draw ([`Source::drawn`]).
fn snippet<'a>(src: &'a Source, labels: &'a [Label]) -> Snippet<'a, Annotation<'a>> {
    let text = &*src.text;
    let spans: Vec<Span> = labels.iter().map(|l| src.drawn(l.span)).collect();
    let first = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let last = spans.iter().map(|s| s.end).max().unwrap_or(0);
    let from = text[..first].rfind('\n').map_or(0, |i| i + 1);
    let to = text[last..].find('\n').map_or(text.len(), |i| last + i + 1);
    let line = text[..from].matches('\n').count() + 1;
    let annotations = labels.iter().zip(&spans).enumerate().map(|(i, (l, s))| {
        let kind = if i == 0 {
            AnnotationKind::Primary
        } else {
            AnnotationKind::Context
        };
        let end = underline_end(text, *s);
        let a = kind.span(s.start - from..end - from);
        if l.text.is_empty() {
            a
        } else {
            a.label(&*l.text)
        }
    });
    Snippet::source(&text[from..to])
        .path(&*src.name)
        .line_start(line)
        .annotations(annotations)
}

/// Where the carets of `span` end: its end, or for a span within one line, at most
/// [`MAX_UNDERLINE`] columns after its start.
fn underline_end(text: &str, span: Span) -> usize {
    let mut width = 0;
    for (i, c) in text[span.start..span.end].char_indices() {
        if c == '\n' {
            return span.end;
        }
        width += if c.is_ascii() { 1 } else { 2 };
        if width > MAX_UNDERLINE {
            return span.start + i;
        }
    }
    span.end
}

/// Renders many diagnostics, in order, separated by blank lines.
pub fn render_all(diags: &[Diag]) -> String {
    diags.iter().map(render).collect::<Vec<_>>().join("\n")
}
