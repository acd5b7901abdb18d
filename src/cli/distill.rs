//! `diffsym distill`: the composition error of one-step students (DDIM or Euler with the
//! exact mixture score) on uniform, stability-balanced, log-SNR and Karras grids, against
//! the exact flow map (docs/theory.md section 8).

use std::fmt::Write as _;

use serde::Serialize;

use super::args::{MixtureTarget, Params, TimeRange, parse_steps};
use super::output::{Format, Outcome, Report, cli_error, finite, text_or_json};
use super::stiffness::mixture_of;
use crate::analysis::distill::{
    Student, composition_error, exact_images, prior_samples, step_allowance,
};
use crate::analysis::flowmap::FlowMapError;
use crate::analysis::{self, GridKind, Stiffness};
use crate::diag::{Diag, codes};

/// Most samples one run takes (the exact map of each may be an ODE solve).
const MAX_SAMPLES: u32 = 5_000;

/// `diffsym distill FILE --process P --source M --segments 4,8,16 --student ddim ...`
#[derive(clap::Args, Debug)]
pub(super) struct DistillArgs {
    #[command(flatten)]
    target: MixtureTarget,
    /// Numbers of segments, comma-separated
    #[arg(long, default_value = "4,8,16")]
    segments: String,
    /// The one-step student of each segment: ddim or euler, with the exact score
    #[arg(long, default_value = "ddim", value_parser = clap::builder::PossibleValuesParser::new(["ddim", "euler"]))]
    student: String,
    /// Samples from the prior N(0, I)
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=MAX_SAMPLES as i64))]
    samples: u32,
    /// Seed of the samples
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    range: TimeRange,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text", value_parser = text_or_json())]
    format: Format,
    #[command(flatten)]
    params: Params,
}

/// What `distill` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct DistillReport {
    process: String,
    source: String,
    student: String,
    samples: usize,
    seed: u64,
    t_min: f64,
    t_max: f64,
    results: Vec<DistillRow>,
}

#[derive(Serialize)]
struct DistillRow {
    grid: String,
    segments: usize,
    /// sum |student - exact|^2 / sum |exact|^2; null where the grid does not exist.
    relative_mse: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl Report for DistillReport {
    fn text(&self) -> String {
        let mut s = format!(
            "process {}, source {}: {} students composed from t = {} to t = {}, {} samples (seed {})\n",
            self.process,
            self.source,
            self.student,
            self.t_max,
            self.t_min,
            self.samples,
            self.seed
        );
        let _ = writeln!(
            s,
            "{:>10}  {:>8}  {:>24}",
            "grid", "segments", "relative MSE"
        );
        for r in &self.results {
            let v = match (r.relative_mse, &r.note) {
                (Some(v), _) => format!("{v:.6e}"),
                (None, Some(n)) => n.clone(),
                (None, None) => "-".to_owned(),
            };
            let _ = writeln!(s, "{:>10}  {:>8}  {:>24}", r.grid, r.segments, v);
        }
        s
    }
}

pub(super) fn run(a: &DistillArgs) -> Result<Outcome, Vec<Diag>> {
    let segments = parse_steps(&a.segments)?;
    let (mut loaded, at_process) = a.target.load(&a.params)?;
    let mixture = mixture_of(&mut loaded)?;
    let process = loaded.process.take().expect("a process was asked for");
    let mut pool = loaded.pool;
    let (t_min, t_max) = a.range.parse(&mut pool)?;
    let sched = analysis::ProcessSchedule::new(&pool, &process).map_err(&at_process)?;
    let student = if a.student == "euler" {
        Student::Euler
    } else {
        Student::Ddim
    };
    let fail = |e: analysis::distill::DistillError| {
        let help = if matches!(
            e,
            analysis::distill::DistillError::Exact(FlowMapError::IllConditioned(_))
        ) {
            "the prior N(0, I) puts its samples where the marginal at --t-max has almost no mass: a --t-max whose marginal is close to N(0, I), or a source whose modes overlap there"
        } else {
            "fewer --samples leave more steps to each exact map; a larger --t-min avoids the stiffest part of the flow"
        };
        vec![
            Diag::new(
                codes::ANALYSIS_SAMPLER,
                format!("source `{}`: {e}", a.target.source),
            )
            .with_help(help),
        ]
    };
    let samples = a.samples as usize;
    let steps = step_allowance(&mixture, samples, &segments).ok_or_else(|| {
        cli_error(
            codes::CLI_STEPS,
            format!(
                "{samples} samples of a mixture of {} components in {} dimensions on {} segments in all would take more than the work one run may do (about 15 s)",
                mixture.components.len(),
                mixture.dimension,
                segments.iter().sum::<usize>()
            ),
        )
    })?;
    let prior = prior_samples(mixture.dimension, samples, a.seed);
    // One schedule per thread; they cannot fail where `sched` did not.
    let make = || analysis::ProcessSchedule::new(&pool, &process).expect("built once already");
    let exact = exact_images(&mixture, &make, (t_min, t_max), &prior, steps).map_err(fail)?;
    let stiffness = Stiffness::new(&sched, &mixture);
    let mut results = Vec::new();
    for &n in &segments {
        for name in ["uniform", "balanced", "logsnr", "karras"] {
            let grid: Result<Vec<f64>, String> = match name {
                "uniform" => analysis::time_grid(&GridKind::Uniform, &sched, n, t_min, t_max)
                    .map_err(|d| d.message),
                "logsnr" => analysis::time_grid(&GridKind::LogSnr, &sched, n, t_min, t_max)
                    .map_err(|d| d.message),
                "karras" => analysis::time_grid(&GridKind::Karras, &sched, n, t_min, t_max)
                    .map_err(|d| d.message),
                _ => match &stiffness {
                    Ok(st) => st.balanced_grid(t_min, t_max, n).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
            };
            let row = match grid {
                Ok(g) => DistillRow {
                    grid: name.to_owned(),
                    segments: n,
                    relative_mse: finite(
                        composition_error(&mixture, &make, &g, student, &exact, &prior)
                            .map_err(fail)?,
                    ),
                    note: None,
                },
                Err(why) => DistillRow {
                    grid: name.to_owned(),
                    segments: n,
                    relative_mse: None,
                    note: Some(format!("no grid: {why}")),
                },
            };
            results.push(row);
        }
    }
    let report = DistillReport {
        process: process.name.clone(),
        source: mixture.name.clone(),
        student: student.name().to_owned(),
        samples: prior.len(),
        seed: a.seed,
        t_min,
        t_max,
        results,
    };
    Ok(Outcome::ok(report.render(a.format)))
}
