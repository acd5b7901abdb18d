//! The command line: the `clap` schema and the dispatch to one module per command.
//!
//! Each command builds everything it prints in memory and writes it only when it succeeded,
//! so a failing run writes no partial output; files are written atomically (`output`).
//! Exit codes: 0 success; 1 a check failed; 2 bad input (usage, parse or semantic error),
//! with diagnostics on stderr. What a command decides is analysis (`crate::analysis`); the
//! modules here parse arguments, load, and present.

mod args;
mod asymptotics;
mod check;
mod derive;
mod derive_mixture;
mod distill;
mod drift;
mod drift_flow;
mod drift_spectrum;
mod emit;
mod eval;
mod flowmap;
mod hodge;
mod kl;
mod load;
mod output;
mod plot;
mod schedule;
mod stiffness;

use std::ffi::OsString;
use std::io::Write;

use clap::{Parser, Subcommand};

use crate::diag;

pub(crate) use eval::{FieldInputs, eval_text};

#[derive(Parser, Debug)]
#[command(
    name = "diffsym",
    version,
    about = "Symbolic-numeric derivations for diffusion models",
    long_about = "diffsym reads forward noising processes x_t = alpha(t) x0 + sigma(t) eps written in the \
                  .dsym language and derives, checks and evaluates their formulas exactly.\n\n\
                  With no FILE, `derive` and `check` run on the bundled library (derivations/*.dsym).\n\
                  Exit codes: 0 success, 1 a check failed, 2 bad input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant, reason = "parsed once per run")]
enum Command {
    /// Print every process's parameters and definitions, simplified
    Derive(derive::DeriveArgs),
    /// Evaluate one definition of a process at a time t
    Eval(eval::EvalArgs),
    /// Check every assert: proved symbolically, else checked numerically at high precision
    Check(check::CheckArgs),
    /// Emit a specialised Rust module (or crate) of a process's evaluators; `--verify`
    /// compiles it and compares every function with the 256-bit reference
    Emit(emit::EmitArgs),
    /// Exact KL between a Gaussian source and a sampler's output after N steps
    Kl(kl::KlArgs),
    /// Best tangent law, optimal schedule and (with --process) optimal time grid for a source
    Schedule(schedule::ScheduleArgs),
    /// KL(src||out) of DDIM as a series in 1/N, derived symbolically (Euler-Maclaurin);
    /// in N^(-1/q) and ln N where sigma ~ t^(1/q) or alpha ~ (1-t)^(1/q) at an end
    Asymptotics(asymptotics::AsymptoticsArgs),
    /// Stiffness of the probability-flow ODE on a Gaussian mixture: the Lipschitz bound
    /// L(t), its integral A in closed form, the stability-balanced grid, the exact Jacobian
    /// norm at the saddle
    Stiffness(stiffness::StiffnessArgs),
    /// The exact probability-flow map of a Gaussian mixture between two times, and its
    /// Jacobian
    Flowmap(flowmap::FlowmapArgs),
    /// The composition error of one-step students (DDIM or Euler with the exact score) on
    /// uniform, stability-balanced, log-SNR and Karras grids, against the exact flow map
    Distill(distill::DistillArgs),
    /// The Helmholtz-Hodge decomposition of a score error in L^2(p): the gradient part,
    /// which moves the sampled marginals, and the p-solenoidal part, which does not
    Hodge(hodge::HodgeArgs),
    /// The kernel-drifting field V_{p,q} = V_p^+ - V_q^- at points: exact for the Gaussian
    /// kernel (a difference of smoothed scores), by polar quadrature for any radial kernel
    /// in d <= 3, with the curl of its Jacobian
    Drift(drift::DriftArgs),
    /// The linearised decay rate gamma(xi) of kernel drifting around a uniform background
    /// (closed forms for the Gaussian and Laplace kernels, a radial Fourier transform for
    /// any profile), its timescales, and the damping accumulated under bandwidth annealing
    DriftSpectrum(drift_spectrum::DriftSpectrumArgs),
    /// Kernel drifting between Gaussian p and q under a Gaussian kernel, exactly: the
    /// laws of frozen-field steps and of the continuous flow, KL(q_k||p), the largest
    /// stable step, the equilibrium of a biased field
    DriftFlow(drift_flow::DriftFlowArgs),
    /// Plot KL against the number of steps, or a schedule, as an SVG file
    #[command(subcommand)]
    Plot(plot::PlotCommand),
}

/// Runs the command line with `args` (including the program name), writing to `out` and
/// `err`; returns the exit code.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = e.render().to_string();
            let _ = if code == 0 {
                out.write_all(text.as_bytes())
            } else {
                err.write_all(text.as_bytes())
            };
            return code;
        }
    };
    let result = match cli.command {
        Command::Derive(a) => derive::run(&a),
        Command::Eval(a) => eval::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Emit(a) => emit::run(&a),
        Command::Kl(a) => kl::run(&a),
        Command::Schedule(a) => schedule::run(&a),
        Command::Asymptotics(a) => asymptotics::run(&a),
        Command::Stiffness(a) => stiffness::run(&a),
        Command::Flowmap(a) => flowmap::run(&a),
        Command::Distill(a) => distill::run(&a),
        Command::Hodge(a) => hodge::run(&a),
        Command::Drift(a) => drift::run(&a),
        Command::DriftSpectrum(a) => drift_spectrum::run(&a),
        Command::DriftFlow(a) => drift_flow::run(&a),
        Command::Plot(c) => plot::run(&c),
    };
    match result {
        Ok(o) => {
            let _ = out.write_all(o.stdout.as_bytes());
            o.code
        }
        Err(diags) => {
            let _ = err.write_all(diag::render_all(&diags).as_bytes());
            2
        }
    }
}
