//! The .dsym syntax: pest grammar wrapper, AST with spans, parse errors.
//!
//! This module is the only place that names pest's `Rule` (in `parser.rs`). Entry points:
//! [`parse_file`] for a whole file and [`parse_expr`] for one standalone expression. Both
//! return every error they can find, each with a stable code, a span and a label.

pub mod ast;
mod parser;

pub use parser::{parse_expr, parse_file};

use crate::diag::{Diag, Source};

/// The maximum nesting depth of an expression. Parentheses and call arguments deeper than
/// this are rejected before pest runs; after the AST is built, each `Neg`, `Paren`, `Call`,
/// `Sum` and `Product` counts one level and a power chain of n operands counts n - 1.
pub const MAX_DEPTH: usize = 200;

/// One parse error: a stable `code` (`diffsym::parse::expected`), a lowercase `message`, the
/// `span` it points at with a short `label`, and an optional `help`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub code: &'static str,
    pub message: String,
    pub span: ast::Span,
    pub label: String,
    pub help: Option<String>,
}

impl ParseError {
    /// Attaches the error to the file it came from.
    pub fn into_diag(self, source: &Source) -> Diag {
        let diag = Diag::new(self.code, self.message)
            .with_label(self.span, self.label)
            .in_source(source);
        match self.help {
            Some(help) => diag.with_help(help),
            None => diag,
        }
    }
}
