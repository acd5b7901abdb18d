//! `diffsym kl`: the exact KL between a Gaussian source and a sampler's output after N steps,
//! in both directions.

use std::fmt::Write as _;

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use super::args::{self, Params, Target, TimeRange, check_kl_work, parse_grid, parse_steps};
use super::output::{Format, Outcome, Report, cli_error, finite, kl_text, text_or_json};
use crate::analysis::hodge::lower::ScoreError;
use crate::analysis::{self, GaussianSource, GridKind, Sampler, Schedule as _, Start, learned};
use crate::diag::{Diag, codes};

/// `diffsym kl FILE --process P --source S --sampler SAMPLER --steps 2,3,10 ...`
#[derive(clap::Args, Debug)]
pub(super) struct KlArgs {
    #[command(flatten)]
    target: Target,
    /// The sampler, run with the exact score of the Gaussian source
    #[arg(long, value_parser = args::sampler())]
    sampler: Sampler,
    /// Numbers of steps, comma-separated (optional with a grid file)
    #[arg(long)]
    steps: Option<String>,
    /// The time grid: uniform, logsnr, karras, or a file with one exact time per line
    #[arg(
        long,
        default_value = "uniform",
        value_name = "uniform|logsnr|karras|FILE"
    )]
    grid: String,
    /// Start from the prior N(0, I) or from the true marginal at t_max
    #[arg(long, default_value = "prior", value_parser = args::start())]
    start: Start,
    #[command(flatten)]
    range: TimeRange,
    /// Run the samplers with a learned score: the exact score plus this linear error of
    /// FILE (`error E = linear(...)`, or an affine `field`), e_t(x) = E(t) (x - mu_t) + b(t);
    /// also reports the Girsanov bound of the error and of its gradient part
    #[arg(long, value_name = "E")]
    score_error: Option<String>,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text", value_parser = text_or_json())]
    format: Format,
    #[command(flatten)]
    params: Params,
}

/// What `kl` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct KlReport {
    process: String,
    source: String,
    sampler: String,
    grid: String,
    start: String,
    t_min: f64,
    t_max: f64,
    dimension: usize,
    results: Vec<KlRow>,
    /// With --score-error: the error's name and its bounds on the KL of the reverse SDE.
    #[serde(skip_serializing_if = "Option::is_none")]
    score_error: Option<ErrorReport>,
}

#[derive(Serialize)]
struct ErrorReport {
    name: String,
    /// (1/2) int g2 E|e_t|^2 dt over [t_min, t_max]; null where the integral diverges.
    girsanov_bound: Option<f64>,
    /// The same with the gradient part of e_t alone.
    gradient_part_bound: Option<f64>,
    /// Why the bounds are null.
    #[serde(skip_serializing_if = "Option::is_none")]
    bounds_note: Option<String>,
}

#[derive(Serialize)]
struct KlRow {
    steps: usize,
    /// null when infinite (the output law is degenerate)
    kl_src_out: Option<f64>,
    kl_out_src: Option<f64>,
}

impl Report for KlReport {
    fn text(&self) -> String {
        let mut s = format!(
            "process {}, source {} (d = {}), sampler {}, {} grid on [{}, {}], start {}\n",
            self.process,
            self.source,
            self.dimension,
            self.sampler,
            self.grid,
            self.t_min,
            self.t_max,
            self.start
        );
        if let Some(e) = &self.score_error {
            let _ = writeln!(
                s,
                "learned score: exact score + error {} (the KL below is the learned sampler's)",
                e.name
            );
            match (e.girsanov_bound, e.gradient_part_bound) {
                (Some(g), Some(p)) => {
                    // Quadratures: 12 significant digits, all of them right.
                    let _ = writeln!(
                        s,
                        "bounds on KL(src||out) of the reverse SDE (the limit of euler_maruyama and ddpm; they do not bound the PF-ODE samplers):"
                    );
                    let _ = writeln!(s, "  Girsanov (1/2) int g2 ||e||^2 dt   = {g:.11e}");
                    let _ = writeln!(s, "  from the gradient part of e alone = {p:.11e}");
                }
                _ => {
                    let _ = writeln!(
                        s,
                        "bounds: none ({})",
                        e.bounds_note.as_deref().unwrap_or("not computed")
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "{:>8}  {:>23}  {:>23}",
            "steps", "KL(src||out)", "KL(out||src)"
        );
        let shown = |x: Option<f64>| kl_text(x.unwrap_or(f64::INFINITY));
        for r in &self.results {
            let _ = writeln!(
                s,
                "{:>8}  {:>23}  {:>23}",
                r.steps,
                shown(r.kl_src_out),
                shown(r.kl_out_src)
            );
        }
        s
    }
}

pub(super) fn run(a: &KlArgs) -> Result<Outcome, Vec<Diag>> {
    let grid_kind = parse_grid(&a.grid)?;
    let (mut pool, p, source, at_process, error) = match &a.score_error {
        None => {
            let (pool, p, source, at) = a.target.load(&a.params)?;
            (pool, p, source, at, None)
        }
        Some(name) => {
            let (pool, p, source, at, error) = a.target.load_with_error(&a.params, name)?;
            (pool, p, source, at, Some(error))
        }
    };
    let (t_min, t_max) = a.range.parse(&mut pool)?;
    let steps = match (&grid_kind, &a.steps) {
        (GridKind::Times(t), None) => vec![t.len().saturating_sub(1)],
        (GridKind::Times(t), Some(s)) => {
            let s = parse_steps(s)?;
            if s != [t.len().saturating_sub(1)] {
                return Err(cli_error(
                    codes::CLI_STEPS,
                    format!(
                        "the grid file has {} steps; --steps must match or be left out",
                        t.len().saturating_sub(1)
                    ),
                ));
            }
            s
        }
        (_, Some(s)) => parse_steps(s)?,
        (_, None) => {
            return Err(cli_error(
                codes::CLI_STEPS,
                "give the numbers of steps, e.g. `--steps 2,3,10`",
            ));
        }
    };
    check_kl_work(&steps, source.dimension())?;
    let sched = analysis::ProcessSchedule::new(&pool, &p).map_err(&at_process)?;
    let learned = match &error {
        None => None,
        Some(e) => Some(learned_error(e, &sched, &source, &steps)?),
    };
    let mut results = Vec::new();
    for &n in &steps {
        let grid = analysis::time_grid(&grid_kind, &sched, n, t_min, t_max)?;
        let (src_out, out_src) = match &learned {
            None => {
                let kl = analysis::exact_kl(&sched, &source, a.sampler, &grid, a.start)?;
                (kl.kl_src_out, kl.kl_out_src)
            }
            Some(e) => {
                let kl = learned::learned_kl(&sched, &source, a.sampler, &grid, a.start, e)?;
                (kl.kl_src_out, kl.kl_out_src)
            }
        };
        results.push(KlRow {
            steps: n,
            kl_src_out: finite(src_out),
            kl_out_src: finite(out_src),
        });
    }
    let score_error = match (&error, &learned) {
        (Some(e), Some(f)) => {
            let (lo, hi) = match &grid_kind {
                GridKind::Times(t) => (
                    t.iter().copied().fold(f64::INFINITY, f64::min),
                    t.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                ),
                _ => (t_min, t_max),
            };
            Some(match learned::error_bounds(&sched, &source, f, lo, hi) {
                Ok(b) => ErrorReport {
                    name: e.name.clone(),
                    girsanov_bound: finite(b.girsanov),
                    gradient_part_bound: finite(b.gradient_part),
                    bounds_note: None,
                },
                Err(d) => ErrorReport {
                    name: e.name.clone(),
                    girsanov_bound: None,
                    gradient_part_bound: None,
                    bounds_note: Some(d.message),
                },
            })
        }
        _ => None,
    };
    // A grid file sets the range.
    let (t_min, t_max) = match &grid_kind {
        GridKind::Times(t) => (
            t.iter().copied().fold(f64::INFINITY, f64::min),
            t.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ),
        _ => (t_min, t_max),
    };
    let report = KlReport {
        process: p.name.clone(),
        source: source.name.clone(),
        sampler: a.sampler.name().to_owned(),
        grid: grid_kind.name().to_owned(),
        start: a.start.name().to_owned(),
        t_min,
        t_max,
        dimension: source.dimension(),
        results,
        score_error,
    };
    Ok(Outcome::ok(report.render(a.format)))
}

/// The error as a function of time for the samplers, after checking its dimension, that
/// it is affine, and that the work of the d x d recursion is within its budget.
fn learned_error<'a>(
    e: &'a ScoreError,
    sched: &'a analysis::ProcessSchedule,
    source: &'a GaussianSource,
    steps: &[usize],
) -> Result<impl learned::LinearError + 'a, Vec<Diag>> {
    let d = source.dimension();
    if e.dimension != d {
        return Err(cli_error(
            codes::ERROR_SHAPE,
            format!(
                "error `{}` has dimension {} but source `{}` has dimension {d}",
                e.name, e.dimension, source.name
            ),
        ));
    }
    let work: f64 = steps.iter().map(|&n| learned::learned_work(d, n)).sum();
    if work > learned::LEARNED_WORK_BUDGET {
        return Err(cli_error(
            codes::CLI_STEPS,
            format!(
                "these --steps need about {work:.1e} flops with a score error in dimension {d} (d x d matrices per step); at most {:.0e} are accepted",
                learned::LEARNED_WORK_BUDGET
            ),
        ));
    }
    let basis = source
        .basis
        .clone()
        .unwrap_or_else(|| DMatrix::identity(d, d));
    let mean0 = &basis * DVector::from_column_slice(&source.mean);
    let f = e
        .in_time(move |t| (&mean0 * sched.alpha(t)).iter().copied().collect())
        .ok_or_else(|| {
            cli_error(
                codes::CLI_ERROR,
                format!(
                    "error `{}` is not affine in x: the samplers with a learned score need a linear error (`hodge` estimates non-linear ones)",
                    e.name
                ),
            )
        })?;
    Ok(f)
}
