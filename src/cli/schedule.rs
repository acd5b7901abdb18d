//! `diffsym schedule`: the best tangent law and the optimal schedule for a source's spectrum,
//! and with a process, the N-step time grid minimising the exact KL.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::args::{self, Params, TimeRange};
use super::load::load_analysis;
use super::output::{Format, Outcome, Report, cli_error, finite, kl_text, text_or_json};
use crate::analysis::{self, GridKind, Sampler};
use crate::diag::{Diag, codes};

/// `diffsym schedule FILE --source S [--process P --steps N [--sampler ddim]]`
#[derive(clap::Args, Debug)]
pub(super) struct ScheduleArgs {
    /// The .dsym file with the source (and the process, else it comes from the bundled
    /// library)
    file: PathBuf,
    /// The Gaussian source, declared in FILE
    #[arg(long)]
    source: String,
    /// Also search the N-point time grid minimising the exact KL for this process
    #[arg(long)]
    process: Option<String>,
    /// The number of steps of the grid to optimise (with --process)
    #[arg(long)]
    steps: Option<usize>,
    /// The sampler whose KL the grid minimises
    #[arg(long, default_value = "ddim", value_parser = args::sampler())]
    sampler: Sampler,
    #[command(flatten)]
    range: TimeRange,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text", value_parser = text_or_json())]
    format: Format,
    #[command(flatten)]
    params: Params,
}

/// What `schedule` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct ScheduleReport {
    source: String,
    dimension: usize,
    gamma_star: f64,
    /// (1/4) sum J_i(gamma*)^2: the limit of N^2 KL for the best tangent law
    tangent_coefficient: f64,
    /// (1/4) sum J_i^2 at the unrestricted optimum
    optimal_coefficient: f64,
    /// tangent_coefficient / optimal_coefficient
    ratio: f64,
    /// whether the fixed-point iteration for the optimal schedule converged (if not, the
    /// optimum reported is the last iterate: an upper bound on the true optimum)
    optimal_converged: bool,
    /// rho(t) of the optimal schedule and of the best tangent at t = 0.1, ..., 0.9
    optimal_schedule: Vec<RhoRow>,
    process: Option<String>,
    sampler: Option<String>,
    steps: Option<usize>,
    /// the time grid minimising KL(src||out) for the process and sampler
    grid: Option<Vec<f64>>,
    kl_optimal_grid: Option<f64>,
    kl_uniform_grid: Option<f64>,
    kl_logsnr_grid: Option<f64>,
    kl_karras_grid: Option<f64>,
    /// The named grids' KL as text prints it (uniform, logsnr, karras): the value, `inf`,
    /// or why there is none.
    #[serde(skip)]
    named_text: Vec<String>,
}

#[derive(Serialize)]
struct RhoRow {
    t: f64,
    rho: f64,
    rho_tangent: f64,
}

/// The most steps of a grid to optimise before the bound of the sampler and dimension.
const MAX_STEPS: usize = 100_000;

pub(super) fn run(a: &ScheduleArgs) -> Result<Outcome, Vec<Diag>> {
    let n = match (&a.process, a.steps) {
        (Some(_), Some(n)) if (1..=MAX_STEPS).contains(&n) => Some(n),
        (Some(_), Some(n)) => {
            return Err(cli_error(
                codes::CLI_STEPS,
                format!("--steps {n} must be between 1 and {MAX_STEPS}"),
            ));
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(cli_error(
                codes::CLI_STEPS,
                "--process needs --steps N: the size of the grid to optimise",
            ));
        }
        (None, Some(_)) => {
            return Err(cli_error(
                codes::CLI_PROCESS,
                "--steps needs --process P: the grid is optimised for a process",
            ));
        }
    };
    let mut loaded = load_analysis(
        &a.file,
        a.process.as_deref(),
        Some(&a.source),
        &a.params.params,
    )?;
    let at_process = loaded.at_process();
    let source = loaded.gaussian_source()?;
    let mut pool = loaded.pool;
    let (t_min, t_max) = a.range.parse(&mut pool)?;
    let sampler = a.sampler;
    if let Some(n) = n {
        let most = analysis::max_grid_search_steps(sampler, source.dimension());
        if n > most {
            return Err(vec![
                Diag::new(
                    codes::CLI_STEPS,
                    format!(
                        "--steps {n} is more than the grid search of {} can refine in about 20 s for a source of dimension {}: at most {most}",
                        sampler.name(),
                        source.dimension()
                    ),
                )
                .with_help("the search evaluates the KL and its gradient hundreds of times, each in time proportional to N (the schedule at N points, and N steps per dimension); `kl --grid` evaluates fixed grids of any size"),
            ]);
        }
    }
    let eigs = &source.eigenvalues;
    let gamma = analysis::gamma_star(eigs);
    let tangent = analysis::tangent_coefficient(gamma, eigs);
    let opt = analysis::optimal_schedule(eigs)?;
    let mut report = ScheduleReport {
        source: source.name.clone(),
        dimension: source.dimension(),
        gamma_star: gamma,
        tangent_coefficient: tangent,
        optimal_coefficient: opt.coefficient,
        ratio: tangent / opt.coefficient,
        optimal_converged: opt.converged,
        optimal_schedule: (1..10)
            .map(|k| {
                let t = f64::from(k) / 10.0;
                RhoRow {
                    t,
                    rho: opt.rho_at(t),
                    rho_tangent: gamma * (std::f64::consts::FRAC_PI_2 * t).tan(),
                }
            })
            .collect(),
        process: None,
        sampler: None,
        steps: None,
        grid: None,
        kl_optimal_grid: None,
        kl_uniform_grid: None,
        kl_logsnr_grid: None,
        kl_karras_grid: None,
        named_text: Vec::new(),
    };
    if let (Some(p), Some(n)) = (&loaded.process, n) {
        let sched = analysis::ProcessSchedule::new(&pool, p).map_err(&at_process)?;
        let found = analysis::optimal_grid(&sched, &source, sampler, n, t_min, t_max)?;
        for (kind, kl) in found.named {
            let (value, text) = match &kl {
                Ok(k) => (finite(k.kl_src_out), kl_text(k.kl_src_out)),
                Err(d) if d.code == codes::ANALYSIS_GRID => {
                    (None, "n/a (needs finite ends: --t-min/--t-max)".to_owned())
                }
                Err(_) => (None, "n/a (beyond f64)".to_owned()),
            };
            let slot = match kind {
                GridKind::Uniform => &mut report.kl_uniform_grid,
                GridKind::LogSnr => &mut report.kl_logsnr_grid,
                GridKind::Karras => &mut report.kl_karras_grid,
                GridKind::Times(_) => continue,
            };
            *slot = value;
            report.named_text.push(text);
        }
        report.process = Some(p.name.clone());
        report.sampler = Some(sampler.name().to_owned());
        report.steps = Some(n);
        report.kl_optimal_grid = finite(found.search.kl.kl_src_out);
        report.grid = Some(found.search.grid);
    }
    Ok(Outcome::ok(report.render(a.format)))
}

impl Report for ScheduleReport {
    fn text(&self) -> String {
        let mut s = format!("source {} (d = {})\n", self.source, self.dimension);
        let _ = writeln!(s, "  gamma*                  {:.16e}", self.gamma_star);
        let _ = writeln!(
            s,
            "  N^2 KL, best tangent    {:.16e}",
            self.tangent_coefficient
        );
        let _ = writeln!(
            s,
            "  N^2 KL, optimal         {:.16e}",
            self.optimal_coefficient
        );
        let _ = writeln!(s, "  ratio tangent/optimal   {:.16e}", self.ratio);
        if !self.optimal_converged {
            let _ = writeln!(
                s,
                "  (the optimal schedule's iteration did not converge: its coefficient is the \
                 last iterate's, an upper bound)"
            );
        }
        let _ = writeln!(s, "  optimal rho(t) vs best tangent:");
        for r in &self.optimal_schedule {
            let _ = writeln!(
                s,
                "    t = {:.1}  rho = {:.8e}  tangent {:.8e}",
                r.t, r.rho, r.rho_tangent
            );
        }
        if let (Some(p), Some(sampler), Some(n), Some(grid)) =
            (&self.process, &self.sampler, self.steps, &self.grid)
        {
            let _ = writeln!(s, "process {p}, sampler {sampler}, {n} steps: KL(src||out)");
            // Not finite only where every grid maps a direction to one point.
            let optimal = kl_text(self.kl_optimal_grid.unwrap_or(f64::INFINITY));
            let _ = writeln!(s, "  optimal grid  {optimal}");
            for (label, text) in ["uniform grid ", "logsnr grid  ", "karras grid  "]
                .iter()
                .zip(&self.named_text)
            {
                let _ = writeln!(s, "  {label} {text}");
            }
            let times: Vec<String> = grid.iter().map(|t| format!("{t:.17}")).collect();
            let _ = writeln!(s, "  optimal grid times: {}", times.join(", "));
        }
        s
    }
}
