//! User-facing diagnostics: one error type that points into a named source, rendered by miette.
//!
//! Helpers deeper down return errors that carry a [`Span`] but no file; the caller that knows
//! the file wraps them into a [`Diag`] (typst's `.at(span)` pattern). Rendering happens only in
//! the command line, with [`render`], in miette's plain ASCII theme so output is stable.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceCode};

use crate::syntax::ast::Span;

/// A source file as diagnostics see it: its display name and its text.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: Arc<str>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Source {
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
#[derive(Clone, Debug)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One user-facing error. `code` is stable (`diffsym::parse::expected`), `message` lowercase
/// with no trailing period.
#[derive(Clone, Debug)]
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

    pub fn in_source(mut self, source: &Source) -> Diag {
        self.source = Some(source.clone());
        self
    }

    /// `file:line:col` of the first label, when there is a source.
    pub fn location(&self) -> Option<String> {
        let src = self.source.as_ref()?;
        let label = self.labels.first()?;
        let (line, col) = src.line_col(label.span.start);
        Some(format!("{}:{line}:{col}", src.name))
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag {}

struct MietteDiag<'a> {
    diag: &'a Diag,
    source: Option<NamedSource<String>>,
}

impl fmt::Debug for MietteDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for MietteDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.diag.location() {
            Some(loc) => write!(f, "{loc}: {}", self.diag.message),
            None => f.write_str(&self.diag.message),
        }
    }
}

impl std::error::Error for MietteDiag<'_> {}

impl miette::Diagnostic for MietteDiag<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let len = self.source.as_ref().map_or(0, |s| s.inner().len());
        Some(Box::new(self.diag.labels.iter().map(move |l| {
            let start = l.span.start.min(len);
            let end = l.span.end.clamp(start, len);
            let text = (!l.text.is_empty()).then(|| l.text.clone());
            LabeledSpan::new(text, start, end - start)
        })))
    }
}

/// Renders a diagnostic as plain text: `error[code]: file:line:col: message`, the source
/// line(s) with carets under the labelled spans, and any help. Deterministic, no colour.
pub fn render(diag: &Diag) -> String {
    let source = diag
        .source
        .as_ref()
        .map(|s| NamedSource::new(s.name.clone(), s.text.to_string()));
    let md = MietteDiag { diag, source };
    let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::none())
        .with_width(100)
        .with_context_lines(1);
    let mut out = String::new();
    if handler.render_report(&mut out, &md).is_err() {
        out = format!("error: {md}\n");
    }
    out
}

/// Renders many diagnostics, in order, separated by blank lines.
pub fn render_all(diags: &[Diag]) -> String {
    diags.iter().map(render).collect::<Vec<_>>().join("\n")
}
