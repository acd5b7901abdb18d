//! The .dsym syntax: pest grammar wrapper, AST with spans, parse errors.
//!
//! This module is the only place that names pest's `Rule`.

pub mod ast;
