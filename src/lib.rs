//! diffsym: symbolic-numeric derivation engine for diffusion-model theory.
//!
//! The crate is a pipeline of pure stages (see ARCHITECTURE.md): [`syntax`] turns .dsym text
//! into an AST with spans; [`process`] resolves names and lowers it into exact expressions in
//! an [`expr::Pool`]; [`expr`] simplifies, differentiates, integrates, evaluates and prints
//! them; [`analysis`] computes exact KLs, asymptotic series and optimal schedules on
//! Gaussian sources; [`codegen`] emits and measures Rust evaluators. IO happens in
//! `main.rs`, [`cli`] and the rustc driver of [`codegen`] only.
//!
//! The entry points a program needs are re-exported here:
//!
//! ```
//! let text = "process p { alpha(t) = 1 - t; sigma(t) = t; }";
//! let ast = diffsym::parse_file(text).expect("parses");
//! let mut pool = diffsym::Pool::new();
//! let processes = diffsym::lower_file(&mut pool, &ast, text, &[]).expect("lowers");
//! let g2 = processes[0].quantity("g2").expect("derived");
//! assert_eq!(diffsym::expr::print::to_text(&pool, g2), "2*t/(1 - t)");
//! ```

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

pub use analysis::{
    GaussianSource, GridKind, ProcessSchedule, Sampler, Schedule, Start, ddim_expansion, exact_kl,
    time_grid,
};
pub use codegen::{Mode, emit_module};
pub use diag::{Diag, Source, Span};
pub use expr::{ExprId, Node, Pool, Symbol};
pub use library::BUNDLED;
pub use process::{Process, Stage, lower_file, lower_files};
pub use syntax::{parse_expr, parse_file};
