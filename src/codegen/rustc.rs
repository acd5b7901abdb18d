//! The rustc driver of `emit --verify`: compiles an emitted module with a harness that
//! prints every function at every reference row, runs it, and reads the results back. The
//! only code of the crate that starts processes.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use super::view::{self, f64_literal, string_literal};
use super::{CodegenError, Emitted};
use crate::diag::codes;

/// Why the emitted module could not be compiled and run.
#[derive(Debug, thiserror::Error)]
pub enum RustcError {
    #[error("cannot run rustc: {0}")]
    Rustc(String),
    #[error("the emitted module does not compile:\n{0}")]
    Compile(String),
    #[error("the verification program failed: {0}")]
    Run(String),
    #[error(transparent)]
    Codegen(#[from] CodegenError),
    #[error("temporary directory: {0}")]
    Io(#[from] std::io::Error),
}

impl RustcError {
    /// The stable code of this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            RustcError::Rustc(_) => codes::VERIFY_RUSTC,
            RustcError::Compile(_) => codes::VERIFY_COMPILE,
            RustcError::Run(_) => codes::VERIFY_RUN,
            RustcError::Codegen(e) => e.code(),
            RustcError::Io(_) => codes::VERIFY_TEMP_DIR,
        }
    }
}

#[derive(Serialize)]
struct HarnessView {
    module_path: String,
    ident: String,
    cases: Vec<CaseView>,
}

#[derive(Serialize)]
struct CaseView {
    arity: usize,
    rows: String,
    call: String,
    /// Whether the call returns an array (every element is printed).
    array: bool,
}

/// One function to run: its Rust call on a row `r` (`g2(r[0])`, without a module path),
/// its number of arguments, the number of values a call returns (1: an `f64`, else an
/// array of that length), and the rows of arguments.
pub struct Calls<'a> {
    pub call: &'a str,
    pub arity: usize,
    pub outputs: usize,
    pub rows: Vec<&'a [f64]>,
}

fn rows_literal(rows: &[&[f64]]) -> String {
    let inner: Vec<String> = rows
        .iter()
        .map(|r| {
            let args: Vec<String> = r.iter().map(|&a| f64_literal(a)).collect();
            format!("[{}]", args.join(", "))
        })
        .collect();
    format!("[{}]", inner.join(", "))
}

/// Compiles `emitted` with a harness that prints every function at every row, runs it, and
/// returns the results in the order of `cases` (an array's elements in order).
pub fn run_compiled(emitted: &Emitted, cases: &[Calls]) -> Result<Vec<Vec<f64>>, RustcError> {
    let dir = tempfile::tempdir()?;
    let module_path = dir.path().join("module.rs");
    std::fs::write(&module_path, &emitted.code)?;
    let harness = HarnessView {
        module_path: string_literal("module.rs"),
        ident: emitted.ident.clone(),
        cases: cases
            .iter()
            .map(|c| CaseView {
                arity: c.arity,
                rows: rows_literal(&c.rows),
                call: format!("{}::{}", emitted.ident, c.call),
                array: c.outputs != 1,
            })
            .collect(),
    };
    let main = view::render_rust(TEMPLATE, &harness)?;
    std::fs::write(dir.path().join("main.rs"), main)?;
    let exe = dir.path().join("verify");
    compile(dir.path(), &exe)?;
    let out = Command::new(&exe)
        .output()
        .map_err(|e| RustcError::Run(e.to_string()))?;
    if !out.status.success() {
        return Err(RustcError::Run(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut values = text
        .lines()
        .map(|l| l.trim().parse::<u64>().map(f64::from_bits));
    let mut results = Vec::new();
    for c in cases {
        let n = c.rows.len() * c.outputs;
        let mut got = Vec::with_capacity(n);
        for _ in 0..n {
            match values.next() {
                Some(Ok(v)) => got.push(v),
                _ => return Err(RustcError::Run("truncated output".into())),
            }
        }
        results.push(got);
    }
    Ok(results)
}

/// The verification harness template, `templates/verify.rs.tera`.
const TEMPLATE: &str = include_str!("../../templates/verify.rs.tera");

fn compile(dir: &Path, exe: &Path) -> Result<(), RustcError> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .current_dir(dir)
        .args(["--edition", "2021", "-C", "opt-level=1", "-o"])
        .arg(exe)
        .arg("main.rs")
        .output()
        .map_err(|e| RustcError::Rustc(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RustcError::Compile(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}
