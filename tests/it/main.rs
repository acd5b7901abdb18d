//! The single integration-test binary (matklad style): one module per feature.

mod asymptotics;
mod check_formats;
mod cli;
mod codegen;
mod data;
mod derived;
mod diagnostics;
mod endpoints;
mod eval_library;
mod fields;
mod forall;
mod fuzz;
mod generic;
mod hodge;
mod kl;
mod kl_cli;
mod kl_reference;
mod layers;
mod library;
mod mixture;
mod parse;
mod plot;
mod properties;
mod readme;
mod robustness;
mod support;
