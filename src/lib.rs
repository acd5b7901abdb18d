//! diffsym: symbolic-numeric derivation engine for diffusion-model theory.
//!
//! The crate is a pipeline of pure stages (see ARCHITECTURE.md): [`syntax`] turns .dsym text
//! into an AST with spans; [`process`] resolves names and lowers it into exact expressions in
//! an [`expr::Pool`]; [`expr`] simplifies, differentiates, integrates, evaluates and prints
//! them. Only `main.rs` and [`cli`] do IO.

pub mod analysis;
pub mod cli;
pub mod codegen;
pub mod diag;
pub mod expr;
pub mod fuzz;
pub mod library;
mod par;
pub mod plot;
pub mod process;
pub mod syntax;

pub use diag::{Diag, Source};
pub use expr::{ExprId, Node, Pool, Symbol};
