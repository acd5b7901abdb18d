//! The .dsym syntax: pest grammar wrapper, AST with spans, parse errors.
//!
//! This module is the only place that names pest's `Rule` (in `parser.rs`). Entry points:
//! [`parse_file`] for a whole file and [`parse_expr`] for one standalone expression. Both
//! return every error they can find, each a [`Diag`](crate::diag::Diag) with a stable code,
//! a span and a label, and no source: the caller attaches the file.

pub mod ast;
mod parser;

pub use parser::{parse_expr, parse_file};

/// The maximum nesting depth of an expression. Parentheses and call arguments deeper than
/// this are rejected before pest runs; after the AST is built, each `Neg`, `Paren`, `Call`,
/// `Sum` and `Product` counts one level and a power chain of n operands counts n - 1.
pub const MAX_DEPTH: usize = 200;
