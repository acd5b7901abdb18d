//! `diffsym stiffness`: the Lipschitz bound of the probability-flow velocity on a Gaussian
//! mixture, its integral A(t) in closed form, the stability-balanced grid and the exact
//! Jacobian norm at the saddle (docs/theory.md section 8).

use std::fmt::Write as _;

use serde::Serialize;

use super::args::{MixtureTarget, Params, TimeRange};
use super::load::Analysis;
use super::output::{Format, Outcome, Report, cli_error, short, text_or_json};
use crate::analysis::mixture::MAX_MAGNITUDE;
use crate::analysis::{self, Mixture, Schedule as _, Stiffness, StiffnessError};
use crate::diag::{Diag, codes};

/// `diffsym stiffness FILE --process P --source M [--segments N] ...`
#[derive(clap::Args, Debug)]
pub(super) struct StiffnessArgs {
    #[command(flatten)]
    target: MixtureTarget,
    /// Segments of the stability-balanced grid
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    segments: u32,
    /// A point x1,...,xd at which to report the exact Jacobian norm over the profile's
    /// times (may be repeated)
    #[arg(long, allow_hyphen_values = true)]
    at: Vec<String>,
    #[command(flatten)]
    range: TimeRange,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text", value_parser = text_or_json())]
    format: Format,
    #[command(flatten)]
    params: Params,
}

/// What `stiffness` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct StiffnessReport {
    process: String,
    source: String,
    dimension: usize,
    components: usize,
    /// The components' shared standard deviation.
    sigma0: f64,
    /// The largest distance between two means.
    diameter: f64,
    segments: usize,
    t_min: f64,
    t_max: f64,
    /// The stability-balanced grid, increasing times.
    grid: Vec<f64>,
    /// alpha^2/sigma^2 at the grid's times (null where infinite or below f64's range).
    snr_levels: Vec<Option<f64>>,
    /// The snr column as text prints it: the value, `inf` or `below f64`.
    #[serde(skip)]
    snr_text: Vec<String>,
    /// A(t_max) - A(t_min).
    #[serde(rename = "A")]
    a: f64,
    log10_amplification: f64,
    /// Per segment of the balanced grid (they are equal).
    segment_log10_amplification: f64,
    profile: Vec<ProfileRow>,
    saddle: Vec<NormRow>,
    at: Vec<AtPoint>,
    /// The sum of the weights as declared, when they were normalised.
    #[serde(skip_serializing_if = "Option::is_none")]
    weights_normalised_from: Option<f64>,
}

/// The values of a row: null where the value is below f64's range (it underflowed to 0 or
/// a subnormal where the schedule's squares do, e.g. L(t) ~ e^-900 for alpha = e^-1500 t).
#[derive(Serialize)]
struct ProfileRow {
    t: f64,
    #[serde(rename = "L")]
    l: Option<f64>,
    #[serde(rename = "L_signed")]
    l_signed: Option<f64>,
}

#[derive(Serialize)]
struct NormRow {
    t: f64,
    exact_norm: Option<f64>,
    bound: Option<f64>,
}

/// A row's value for text: 17 significant digits, or `below f64`.
fn shown(v: Option<f64>) -> String {
    v.map_or_else(|| "below f64".to_owned(), |v| format!("{v:.16e}"))
}

#[derive(Serialize)]
struct AtPoint {
    x: Vec<f64>,
    rows: Vec<NormRow>,
}

/// The times of the profile and of the saddle rows: 11 equally spaced in [t_min, t_max].
const PROFILE_POINTS: usize = 11;

/// A decimal exponent with six decimals, as an f64 holds them: from 1e9 on, where the
/// sixth decimal nears the ulp (2^-22 at 2^30), in scientific notation
/// (`10^(2.171472e299)`, not 300 digits of which 17 are known).
fn power(x: f64) -> String {
    if x.abs() < 1e9 {
        format!("{x:.6}")
    } else {
        format!("({x:.6e})")
    }
}

impl Report for StiffnessReport {
    fn text(&self) -> String {
        let mut s = format!(
            "process {}, source {} (d = {}, K = {}, sigma0 = {}, D0 = {})\n",
            self.process,
            self.source,
            self.dimension,
            self.components,
            short(self.sigma0),
            short(self.diameter)
        );
        if let Some(w) = self.weights_normalised_from {
            let _ = writeln!(s, "note: the weights sum to {w}; they were normalised");
        }
        let _ = writeln!(
            s,
            "A(t_max) - A(t_min) = {:.6e} on [{}, {}]: amplification exp(A) = 10^{} ({} per segment)",
            self.a,
            self.t_min,
            self.t_max,
            power(self.log10_amplification),
            power(self.segment_log10_amplification).trim_matches(['(', ')'])
        );
        let _ = writeln!(s, "stability-balanced grid, {} segments:", self.segments);
        let _ = writeln!(s, "{:>6}  {:>24}  {:>24}", "k", "t", "snr");
        for (k, (t, snr)) in self.grid.iter().zip(&self.snr_text).enumerate() {
            let _ = writeln!(s, "{k:>6}  {t:>24.16e}  {snr:>24}");
        }
        let _ = writeln!(s, "profile:");
        let _ = writeln!(s, "{:>12}  {:>24}  {:>24}", "t", "L", "L_signed");
        for r in &self.profile {
            let _ = writeln!(
                s,
                "{:>12}  {:>24}  {:>24}",
                r.t,
                shown(r.l),
                shown(r.l_signed)
            );
        }
        let norms = |s: &mut String, rows: &[NormRow]| {
            let _ = writeln!(s, "{:>12}  {:>24}  {:>24}", "t", "exact |J|", "bound L");
            for r in rows {
                let _ = writeln!(
                    s,
                    "{:>12}  {:>24}  {:>24}",
                    r.t,
                    shown(r.exact_norm),
                    shown(r.bound)
                );
            }
        };
        if !self.saddle.is_empty() {
            let _ = writeln!(s, "at the saddle between the two farthest components:");
            norms(&mut s, &self.saddle);
        }
        for p in &self.at {
            let x: Vec<String> = p.x.iter().map(|v| v.to_string()).collect();
            let _ = writeln!(s, "at x = ({}):", x.join(", "));
            norms(&mut s, &p.rows);
        }
        s
    }
}

pub(super) fn stiffness_error(e: StiffnessError, source: &str) -> Vec<Diag> {
    let code = match e {
        StiffnessError::NotIsotropic => codes::CLI_SOURCE,
        StiffnessError::NotFinite(_) => codes::ANALYSIS_PROCESS,
    };
    vec![Diag::new(code, format!("source `{source}`: {e}"))]
}

/// The point of an `--at` flag, of the mixture's dimension.
fn point(text: &str, d: usize) -> Result<Vec<f64>, Vec<Diag>> {
    let values: Result<Vec<f64>, _> = text.split(',').map(|v| v.trim().parse::<f64>()).collect();
    match values {
        Ok(v) if v.len() == d && v.iter().all(|x| x.abs() <= MAX_MAGNITUDE) => Ok(v),
        Ok(v) if v.len() != d => Err(cli_error(
            codes::CLI_AT,
            format!(
                "--at {text} has {} coordinates; the source has dimension {d}",
                v.len()
            ),
        )),
        _ => Err(cli_error(
            codes::CLI_AT,
            format!("--at {text} is not a list of numbers x1,...,xd of magnitude at most 1e100"),
        )),
    }
}

/// The mixture asked for; a Gaussian source is a one-component mixture.
pub(super) fn mixture_of(loaded: &mut Analysis) -> Result<Mixture, Vec<Diag>> {
    match (loaded.mixture.take(), loaded.source.take()) {
        (Some(m), _) => Ok(m),
        (None, Some(g)) => {
            Mixture::from_gaussian(&g).map_err(|e| cli_error(codes::CLI_SOURCE, e.to_string()))
        }
        (None, None) => unreachable!("a source was asked for"),
    }
}

pub(super) fn run(a: &StiffnessArgs) -> Result<Outcome, Vec<Diag>> {
    let (mut loaded, at_process) = a.target.load(&a.params)?;
    let mixture = mixture_of(&mut loaded)?;
    let process = loaded.process.take().expect("a process was asked for");
    let mut pool = loaded.pool;
    let (t_min, t_max) = a.range.parse(&mut pool)?;
    let points: Vec<Vec<f64>> =
        a.at.iter()
            .map(|t| point(t, mixture.dimension))
            .collect::<Result<_, _>>()?;
    let sched = analysis::ProcessSchedule::new(&pool, &process).map_err(&at_process)?;
    let st = Stiffness::new(&sched, &mixture).map_err(|e| stiffness_error(e, &a.target.source))?;
    let err = |e| stiffness_error(e, &a.target.source);
    let n = a.segments as usize;
    let total = st.cumulative(t_min, t_max).map_err(err)?;
    let grid = st.balanced_grid(t_min, t_max, n).map_err(err)?;
    // A value computed from the schedule at `t`, or None where it is below f64's range.
    let kept = |t: f64, v: f64| (!analysis::underflowed(&sched, t, v)).then_some(v);
    let (snr_levels, snr_text): (Vec<Option<f64>>, Vec<String>) = grid
        .iter()
        .map(|&t| {
            let (al, sg) = (sched.alpha(t), sched.sigma(t));
            let snr = al * al / (sg * sg);
            match kept(t, snr) {
                None => (None, "below f64".to_owned()),
                Some(v) if v.is_finite() => (Some(v), format!("{v:.16e}")),
                Some(_) => (None, "inf".to_owned()),
            }
        })
        .unzip();
    let times: Vec<f64> = (0..PROFILE_POINTS)
        .map(|k| t_min + (t_max - t_min) * k as f64 / (PROFILE_POINTS - 1) as f64)
        .collect();
    let mut profile = Vec::new();
    for &t in &times {
        let r = st.profile_at(t).map_err(err)?;
        profile.push(ProfileRow {
            t,
            l: kept(t, r.l),
            l_signed: kept(t, r.l_signed),
        });
    }
    let norm_rows =
        |x: &dyn Fn(f64) -> Result<Vec<f64>, StiffnessError>| -> Result<Vec<NormRow>, Vec<Diag>> {
            let mut rows = Vec::new();
            for &t in &times {
                let j = st.jacobian_norm(t, &x(t).map_err(err)?).map_err(err)?;
                rows.push(NormRow {
                    t,
                    exact_norm: kept(t, j.exact_norm),
                    bound: kept(t, j.bound),
                });
            }
            Ok(rows)
        };
    let saddle = if mixture.components.len() > 1 {
        norm_rows(&|t| st.saddle(t))?
    } else {
        Vec::new()
    };
    let mut at = Vec::new();
    for x in points {
        let rows = norm_rows(&|_| Ok(x.clone()))?;
        at.push(AtPoint { x, rows });
    }
    let reported = profile
        .iter()
        .flat_map(|r| [r.l, r.l_signed])
        .chain(
            saddle
                .iter()
                .chain(at.iter().flat_map(|p| &p.rows))
                .flat_map(|r| [r.exact_norm, r.bound]),
        )
        .flatten()
        .chain([total]);
    if let Some(bad) = reported.into_iter().find(|v| !v.is_finite()) {
        return Err(cli_error(
            codes::ANALYSIS_PROCESS,
            format!(
                "a value of the analysis is not finite ({bad}): the process or the mixture leaves the range of f64 here"
            ),
        ));
    }
    let log10 = total / std::f64::consts::LN_10;
    let report = StiffnessReport {
        process: process.name.clone(),
        source: mixture.name.clone(),
        dimension: mixture.dimension,
        components: mixture.components.len(),
        sigma0: mixture.shared_variance().map_or(f64::NAN, f64::sqrt),
        diameter: st.diameter,
        segments: n,
        t_min,
        t_max,
        grid,
        snr_levels,
        snr_text,
        a: total,
        log10_amplification: log10,
        segment_log10_amplification: log10 / n as f64,
        profile,
        saddle,
        at,
        weights_normalised_from: mixture.normalised_from,
    };
    Ok(Outcome::ok(report.render(a.format)))
}
