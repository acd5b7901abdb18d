//! `diffsym kl`: the exact KL between a Gaussian source and a sampler's output after N steps,
//! in both directions.

use std::fmt::Write as _;

use serde::Serialize;

use super::args::{self, Params, Target, TimeRange, check_kl_work, parse_grid, parse_steps};
use super::output::{Format, Outcome, Report, cli_error, finite, kl_text, text_or_json};
use crate::analysis::{self, GridKind, Sampler, Start};
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
    let (mut pool, p, source, at_process) = a.target.load(&a.params)?;
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
    let mut results = Vec::new();
    for &n in &steps {
        let grid = analysis::time_grid(&grid_kind, &sched, n, t_min, t_max)?;
        let kl = analysis::exact_kl(&sched, &source, a.sampler, &grid, a.start)?;
        results.push(KlRow {
            steps: n,
            kl_src_out: finite(kl.kl_src_out),
            kl_out_src: finite(kl.kl_out_src),
        });
    }
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
    };
    Ok(Outcome::ok(report.render(a.format)))
}
