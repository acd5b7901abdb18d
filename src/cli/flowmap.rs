//! `diffsym flowmap`: the exact probability-flow map of a Gaussian mixture between two
//! times, and its Jacobian (docs/theory.md section 8).

use std::fmt::Write as _;

use serde::Serialize;

use super::args::{MixtureTarget, Params, parse_time};
use super::output::{Format, Outcome, Report, cli_error, text_or_json};
use super::stiffness::mixture_of;
use crate::analysis;
use crate::analysis::flowmap::flow_map_or_integrate;
use crate::diag::{Diag, codes};

/// `diffsym flowmap FILE --process P --source M --from T1 --to T0 --x X1,...,Xd`
#[derive(clap::Args, Debug)]
pub(super) struct FlowmapArgs {
    #[command(flatten)]
    target: MixtureTarget,
    /// The time the flow starts from (exact, in [0, 1])
    #[arg(long, allow_hyphen_values = true)]
    from: String,
    /// The time the flow arrives at (exact, in [0, 1]; earlier or later than --from)
    #[arg(long, allow_hyphen_values = true)]
    to: String,
    /// The point x1,...,xd the flow starts at
    #[arg(long, allow_hyphen_values = true)]
    x: String,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text", value_parser = text_or_json())]
    format: Format,
    #[command(flatten)]
    params: Params,
}

/// What `flowmap` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct FlowmapReport {
    process: String,
    source: String,
    from: f64,
    to: f64,
    x: Vec<f64>,
    y: Vec<f64>,
    /// d_y_i/d_x_j, rows i.
    jacobian: Vec<Vec<f64>>,
    method: String,
    /// For an integrated map: the largest difference between the values (and Jacobian
    /// entries) at tolerances 1e-11 and 1e-13. For an exact map, a bound on the error of
    /// y where it exceeds 2^-44 of a coordinate (near a point where y crosses 0), else
    /// null.
    error_estimate: Option<f64>,
}

impl Report for FlowmapReport {
    fn text(&self) -> String {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.16e}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = format!(
            "process {}, source {}: the flow map from t = {} to t = {} ({})\n",
            self.process, self.source, self.from, self.to, self.method
        );
        let _ = writeln!(s, "x = ({})", list(&self.x));
        let _ = writeln!(s, "y = ({})", list(&self.y));
        if let Some(e) = self.error_estimate {
            if self.method.starts_with("ode") {
                let _ = writeln!(s, "error estimate {e:.2e} (tolerances 1e-11 against 1e-13)");
            } else {
                let _ = writeln!(
                    s,
                    "error estimate {e:.2e} (a bound from the rounding of the distribution functions and their parameters: y's digits below it are not known)"
                );
            }
        }
        let _ = writeln!(s, "jacobian dy/dx:");
        for row in &self.jacobian {
            let _ = writeln!(s, "  {}", list(row));
        }
        s
    }
}

/// The largest bound on the error of a coordinate of y, relative to it, that the map
/// prints without the bound: 2^-44, some 256 ulps. The bound is a worst case (a point in
/// the bulk of a mode measures an ulp or two against a bound of 30), so a smaller
/// threshold would print it at ordinary points; this one prints it where digits are
/// lost, near a point where y crosses 0 (at x = 1e-10 of a symmetric two-mode source,
/// five of them).
const CERTIFIED: f64 = 5.684341886080802e-14;

pub(super) fn run(a: &FlowmapArgs) -> Result<Outcome, Vec<Diag>> {
    let (mut loaded, at_process) = a.target.load(&a.params)?;
    let mixture = mixture_of(&mut loaded)?;
    let process = loaded.process.take().expect("a process was asked for");
    let mut pool = loaded.pool;
    let from = parse_time(&mut pool, "--from", &a.from)?;
    let to = parse_time(&mut pool, "--to", &a.to)?;
    let x: Vec<f64> =
        a.x.split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<Vec<f64>, _>>()
            .ok()
            .filter(|v| {
                v.iter()
                    .all(|x| x.abs() <= crate::analysis::mixture::MAX_MAGNITUDE)
            })
            .ok_or_else(|| {
                cli_error(
                    codes::CLI_AT,
                    format!(
                        "--x {} is not a list of numbers x1,...,xd of magnitude at most 1e100",
                        a.x
                    ),
                )
            })?;
    let sched = analysis::ProcessSchedule::new(&pool, &process).map_err(&at_process)?;
    let (map, error_estimate) =
        flow_map_or_integrate(&mixture, &sched, (from, to), &x).map_err(|e| {
            cli_error(
                codes::CLI_SOURCE,
                format!("source `{}`: {e}", a.target.source),
            )
        })?;
    if !(map.y.iter().all(|v| v.is_finite())
        && map.jacobian.iter().flatten().all(|v| v.is_finite()))
    {
        return Err(cli_error(
            codes::ANALYSIS_PROCESS,
            "the flow map is not finite here (a marginal with no spread at one of the times)",
        ));
    }
    // Where the rounding of the distribution functions (or their parameters) leaves no
    // digit of y known, a point between two modes with almost no mass between them, the
    // map has no value to print; where it leaves fewer than all, its bound is printed.
    if let Some((i, err)) = map
        .y_error
        .iter()
        .enumerate()
        .find(|&(i, &e)| e.is_nan() || (e > 0.0 && e >= map.y[i].abs()))
    {
        return Err(vec![
            Diag::new(
                codes::ANALYSIS_PROCESS,
                format!(
                    "the flow map is ill-conditioned here: y{} = {:.3e} is determined only to within {:.1e} in double precision (dy/dx = {:.1e}): the source has almost no mass where x lands",
                    if map.y.len() > 1 { format!("[{}]", i + 1) } else { String::new() },
                    map.y[i],
                    err,
                    map.jacobian.get(i).and_then(|r| r.get(i)).copied().unwrap_or(f64::NAN),
                ),
            )
            .with_help("a point whose quantile lies inside a mode of the source maps to full precision"),
        ]);
    }
    let rounding = map
        .y_error
        .iter()
        .zip(&map.y)
        .any(|(e, y)| *e > CERTIFIED * y.abs())
        .then(|| map.y_error.iter().copied().fold(0.0, f64::max));
    let error_estimate = error_estimate.or(rounding);
    let report = FlowmapReport {
        process: process.name.clone(),
        source: mixture.name.clone(),
        from,
        to,
        x,
        y: map.y,
        jacobian: map.jacobian,
        method: map.method.to_owned(),
        error_estimate,
    };
    Ok(Outcome::ok(report.render(a.format)))
}
