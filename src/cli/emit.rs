//! `diffsym emit`: a specialised Rust module (or crate) of a process's evaluators, and with
//! `--verify` its measured accuracy against the certified reference.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::args::Params;
use super::load::{load_analysis, load_one};
use super::output::{Outcome, cli_error, write_all_atomically, write_error};
use super::stiffness::mixture_of;
use crate::analysis::mixture_code::{self, ScheduleExprs};
use crate::codegen::Accuracy;
use crate::diag::{Diag, codes};
use crate::process;

fn parse_accuracy(s: &str) -> Result<Accuracy, String> {
    Accuracy::parse(s)
}

#[derive(clap::Args, Debug)]
pub(super) struct EmitArgs {
    /// The .dsym file
    file: PathBuf,
    /// The process (may be omitted when the file defines only one)
    #[arg(long)]
    process: Option<String>,
    /// A source declared in FILE (a `gmm` mixture or a Gaussian): also emit its
    /// log-density, score and probability-flow velocity under the process, as the module
    /// `SOURCE` inside the process's module, verified like the process's functions
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
    /// The directory to write NAME.rs to (with --crate: the crate's root)
    #[arg(long)]
    out: PathBuf,
    /// Write a Cargo crate (Cargo.toml, src/lib.rs, tests/reference.rs) instead of a module
    #[arg(long = "crate")]
    as_crate: bool,
    /// Compile the module with rustc and measure it against the reference; exit 1 if a
    /// function misses its budget
    #[arg(long)]
    verify: bool,
    /// The accuracy budget: the largest error, in ulps, of every value (of every
    /// coefficient, for fields) at every checked point. Each function runs in the cheapest
    /// form that meets it: its stable program in f64, with as few operations in
    /// double-double as the measurement needs. From 0.5 (double-double throughout) up;
    /// `fast`: the formulas as written in plain f64, measured but not bounded
    #[arg(
        long,
        value_name = "ULPS|fast",
        default_value = "4",
        value_parser = parse_accuracy,
        allow_negative_numbers = true
    )]
    accuracy: Accuracy,
    /// The same as `--accuracy fast`
    #[arg(long, conflicts_with = "accuracy")]
    naive: bool,
    #[command(flatten)]
    params: Params,
}

/// Refuses a process whose alpha or sigma holds a named integral (no closed form), pointing
/// at the definitions that hold one (or the `beta` whose integral it is) and saying what to
/// do instead.
fn refuse_named_integrals(
    pool: &crate::expr::Pool,
    src: &crate::diag::Source,
    p: &process::Process,
) -> Result<(), Vec<Diag>> {
    let Some(q) = p.scalars else {
        return Ok(());
    };
    if !(pool.has_integral(q.alpha) || pool.has_integral(q.sigma)) {
        return Ok(());
    }
    let mut d = Diag::new(
        codes::EMIT_INTEGRAL,
        format!(
            "process `{}` has an integral with no closed form: generated code cannot evaluate it",
            p.name
        ),
    )
    .with_label(p.span, "in the code generated for this process");
    let mut labelled = false;
    for def in &p.defs {
        if pool.has_integral(def.body) {
            d = d.with_label(def.span, "a named integral, evaluated by quadrature");
            labelled = true;
        }
    }
    if !labelled && let Some(def) = p.def("beta") {
        d = d.with_label(
            def.span,
            "alpha = exp(-1/2 int_0^t beta) has no closed form",
        );
    }
    let d = d.with_help(
        "give `alpha(t)` and `sigma(t)` in closed form (a beta whose integral closes, or formulas for alpha and sigma) to emit code; `derive`, `check`, `eval` and the analyses evaluate named integrals by quadrature",
    );
    Err(vec![d.in_source(src)])
}

/// `emit`: everything is built (and verified) in memory; files are written to temporary
/// names and renamed into place only when all of them were written.
pub(super) fn run(a: &EmitArgs) -> Result<Outcome, Vec<Diag>> {
    use crate::codegen::{self, measure};
    let (mut pool, src, p) = load_one(
        &a.file,
        a.process.as_deref(),
        &a.params.params,
        process::Stage::Fields,
    )?;
    refuse_named_integrals(&pool, &src, &p)?;
    let accuracy = if a.naive { Accuracy::Fast } else { a.accuracy };
    // What goes wrong in generating a process's code concerns that process: point at it.
    let in_process = |code: &'static str, e: &dyn std::fmt::Display| {
        vec![
            Diag::new(code, e.to_string())
                .with_label(p.span, "in the code generated for this process")
                .in_source(&src),
        ]
    };
    let pool = &mut pool;
    let (extra, sections) = match &a.source {
        None => (Vec::new(), Vec::new()),
        Some(name) => {
            let mut loaded = load_analysis(&a.file, None, Some(name), &a.params.params)?;
            let mixture = mixture_of(&mut loaded)?;
            let derivatives = codegen::schedule_derivatives(pool, &p, accuracy.mode())
                .map_err(|e| in_process(e.code(), &e))?;
            let schedule = ScheduleExprs::new(&p, &derivatives).ok_or_else(|| {
                in_process(codes::EMIT_INTERNAL, &"the process has no alpha or sigma")
            })?;
            let section = mixture_code::section(pool, &p, &mixture, &schedule, accuracy)
                .map_err(|e| cli_error(e.code(), e.to_string()))?;
            (derivatives, vec![section])
        }
    };
    let emitted = codegen::emit_module_with(pool, &p, &src.name, accuracy, extra, sections)
        .map_err(|e| in_process(e.code(), &e))?;
    let files = if a.as_crate {
        codegen::crate_files(&emitted, &p.name, &src.name).map_err(|e| in_process(e.code(), &e))?
    } else {
        vec![(emitted.file_name.clone(), emitted.code.clone())]
    };
    // The forms were chosen by running the programs as the module runs them; --verify
    // measures the compiled module itself.
    let reports = if a.verify {
        measure::measure(&emitted).map_err(|e| in_process(e.code(), &e))?
    } else {
        emitted.choice.clone()
    };
    let mut stdout = measure::table(&reports);
    let code = i32::from(!reports.iter().all(measure::Report::passed));
    let written: Vec<(PathBuf, &[u8])> = files
        .iter()
        .map(|(rel, text)| (a.out.join(rel), text.as_bytes()))
        .collect();
    for (path, _) in &written {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| write_error(path, &e))?;
        }
    }
    write_all_atomically(&written)?;
    for (path, _) in &written {
        let _ = writeln!(stdout, "wrote {}", path.display());
    }
    Ok(Outcome { stdout, code })
}
