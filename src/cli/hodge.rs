//! `diffsym hodge`: the Helmholtz-Hodge decomposition of a score error against a source or
//! its marginal under a process (docs/theory.md section 11).

use std::fmt::Write as _;
use std::path::PathBuf;

use num_rational::BigRational;
use serde::Serialize;

use super::args::{Params, in_unit_interval};
use super::load::{Analysis, load_analysis};
use super::output::{Format, Outcome, Report, cli_error};
use crate::analysis::Mixture;
use crate::analysis::hodge::estimate::{self, Integration};
use crate::analysis::hodge::gaussian::{self, Decomposition, Moments};
use crate::analysis::hodge::invisible::{self, Proof};
use crate::analysis::hodge::lower::{ScoreError, ValueError};
use crate::analysis::hodge::poisson;
use crate::analysis::hodge::{Scalar, value_at};
use crate::analysis::mixture::Covariance;
use crate::diag::{Diag, codes};
use crate::expr::{Pool, eval, print};
use crate::process::{self, Process, checks::Verdict, time_symbol};

/// `diffsym hodge FILE --source S --error E [--process P --t T] ...`
#[derive(clap::Args, Debug)]
pub(super) struct HodgeArgs {
    /// The .dsym file with the source and the error (and the process, else it comes from
    /// the bundled library)
    file: PathBuf,
    /// The distribution p the error is measured against: a `gaussian` or `gmm` source of
    /// FILE
    #[arg(long)]
    source: String,
    /// The score error, an `error E = linear(...)` or `field([...])` of FILE
    #[arg(long)]
    error: String,
    /// The process: with --t, measure against the marginal p_T of the source under it;
    /// the process --prove-invisible proves the invisibility along
    #[arg(long)]
    process: Option<String>,
    /// The time T of the marginal, exact (`0.5`, `1/3`); also the time at which an error
    /// that depends on t is evaluated. Without it, the error is measured against the
    /// source itself
    #[arg(long, allow_hyphen_values = true, requires = "process")]
    t: Option<String>,
    /// Also prove, symbolically, that a solenoidal linear error leaves the covariance
    /// dynamics of the PF-ODE and the reverse SDE unchanged along the process
    #[arg(long, requires = "process")]
    prove_invisible: bool,
    /// Largest degree of the polynomial potentials of the estimator (mixtures and
    /// non-linear errors), from 1 to 40: the estimates for degrees 1..D rise to
    /// ||grad part||^2
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=40))]
    degree: u32,
    /// Estimate by seeded Monte Carlo with this many samples instead of the default
    /// (Gauss-Hermite quadrature per component up to dimension 3, 20000 samples beyond)
    #[arg(long, value_parser = clap::value_parser!(u32).range(100..=10_000_000))]
    samples: Option<u32>,
    /// The seed of --samples
    #[arg(long, default_value_t = 0x4d0d_9e00, requires = "samples")]
    seed: u64,
    /// In dimension 2, also solve div(p grad phi) = div(p e) by finite volumes on this many
    /// cells per axis (2 to 512; second-order), a reference for the estimator
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=512))]
    finite_volume: Option<u32>,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text")]
    format: Format,
    #[command(flatten)]
    params: Params,
}

/// What `hodge` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct HodgeReport {
    source: String,
    error: String,
    process: Option<String>,
    t: Option<String>,
    dimension: usize,
    /// `exact` (rational arithmetic), `eigenbasis` (f64), or the estimator's method.
    method: String,
    /// Whether the numbers are exact rationals (then `exact_values` holds them as text).
    exact: bool,
    norm2_error: f64,
    norm2_gradient: f64,
    norm2_solenoidal: f64,
    #[serde(rename = "S", skip_serializing_if = "Option::is_none")]
    s: Option<Vec<Vec<f64>>>,
    #[serde(rename = "Omega", skip_serializing_if = "Option::is_none")]
    omega: Option<Vec<Vec<f64>>>,
    /// The mean of the error, `b`, which belongs to the gradient part.
    #[serde(skip_serializing_if = "Option::is_none")]
    shift: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    symmetric_part_is_gradient: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    norm2_symmetric_part_difference: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exact_values: Option<ExactValues>,
    /// The estimator's `{degree, norm2_gradient}` rows (empty for the exact decomposition).
    estimates: Vec<EstimateRow>,
    /// Estimator only: integration points (quadrature nodes or samples).
    #[serde(skip_serializing_if = "Option::is_none")]
    points: Option<usize>,
    /// Estimator in dimension 2 with --finite-volume: the reference ||grad part||^2 and
    /// its grid.
    #[serde(skip_serializing_if = "Option::is_none")]
    finite_volume: Option<FiniteVolume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invisible: Option<ProofReport>,
    #[serde(skip)]
    latex: Option<LatexParts>,
}

#[derive(Serialize)]
struct ExactValues {
    #[serde(rename = "S")]
    s: Vec<Vec<String>>,
    #[serde(rename = "Omega")]
    omega: Vec<Vec<String>>,
    shift: Vec<String>,
    norm2_error: String,
    norm2_gradient: String,
    norm2_solenoidal: String,
}

#[derive(Serialize)]
struct FiniteVolume {
    cells: usize,
    /// The box, per axis: [lo, hi].
    bounds: [[f64; 2]; 2],
    norm2_gradient: f64,
}

#[derive(Serialize)]
struct EstimateRow {
    degree: usize,
    norm2_gradient: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    standard_error: Option<f64>,
}

#[derive(Serialize)]
struct ProofReport {
    /// The dimension the matrix identities were proved in.
    dimension: usize,
    proved: bool,
    steps: Vec<ProofStep>,
}

#[derive(Serialize)]
struct ProofStep {
    statement: String,
    /// `proved`, `checked` (numerically, at 256 bits) or `failed`.
    verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// The LaTeX of the exact results.
struct LatexParts {
    s: String,
    omega: String,
    shift: String,
    norms: [String; 3],
}

/// An exact value as text (`3/4`), else the f64 with 17 significant digits.
fn text(x: &Scalar) -> String {
    match &x.exact {
        Some(r) => r.to_string(),
        None => format!("{:.16e}", x.value),
    }
}

fn latex_of(x: &Scalar) -> String {
    match &x.exact {
        Some(r) => {
            let mut pool = Pool::new();
            let e = pool.rational(r.clone());
            print::to_latex(&pool, e)
        }
        None => eval::format_f64(x.value),
    }
}

fn latex_matrix(m: &[Vec<Scalar>]) -> String {
    let rows: Vec<String> = m
        .iter()
        .map(|r| r.iter().map(latex_of).collect::<Vec<_>>().join(" & "))
        .collect();
    format!(
        "\\begin{{pmatrix}} {} \\end{{pmatrix}}",
        rows.join(" \\\\ ")
    )
}

fn values(m: &[Vec<Scalar>]) -> Vec<Vec<f64>> {
    m.iter()
        .map(|r| r.iter().map(|x| x.value).collect())
        .collect()
}

fn texts(m: &[Vec<Scalar>]) -> Vec<Vec<String>> {
    m.iter().map(|r| r.iter().map(text).collect()).collect()
}

impl HodgeReport {
    fn from_decomposition(
        head: Head,
        out: &Decomposition,
        invisible: Option<ProofReport>,
    ) -> HodgeReport {
        let exact = out.method == gaussian::Method::Exact;
        HodgeReport {
            source: head.source,
            error: head.error,
            process: head.process,
            t: head.t,
            dimension: out.dimension,
            method: out.method.name().to_owned(),
            exact,
            norm2_error: out.norm2_error.value,
            norm2_gradient: out.norm2_gradient.value,
            norm2_solenoidal: out.norm2_solenoidal.value,
            s: Some(values(&out.s)),
            omega: Some(values(&out.omega)),
            shift: Some(out.shift.iter().map(|x| x.value).collect()),
            symmetric_part_is_gradient: Some(out.symmetric_part_is_gradient),
            norm2_symmetric_part_difference: Some(out.norm2_symmetric_part_difference.value),
            exact_values: exact.then(|| ExactValues {
                s: texts(&out.s),
                omega: texts(&out.omega),
                shift: out.shift.iter().map(text).collect(),
                norm2_error: text(&out.norm2_error),
                norm2_gradient: text(&out.norm2_gradient),
                norm2_solenoidal: text(&out.norm2_solenoidal),
            }),
            estimates: Vec::new(),
            points: None,
            finite_volume: None,
            invisible,
            latex: Some(LatexParts {
                s: latex_matrix(&out.s),
                omega: latex_matrix(&out.omega),
                shift: latex_matrix(std::slice::from_ref(&out.shift)),
                norms: [
                    latex_of(&out.norm2_error),
                    latex_of(&out.norm2_gradient),
                    latex_of(&out.norm2_solenoidal),
                ],
            }),
        }
    }

    fn exact_or(&self, exact: impl Fn(&ExactValues) -> String, value: f64) -> String {
        match &self.exact_values {
            // The f64 nearest the rational, in its shortest round-trip form.
            Some(v) => format!("{} (f64 {value})", exact(v)),
            None => format!("{value:.16e}"),
        }
    }

    fn latex(&self) -> String {
        let mut s =
            String::from("\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n");
        let _ = writeln!(
            s,
            "Error $e$ = \\texttt{{{}}} against \\texttt{{{}}}{}.",
            self.error.replace('_', "\\_"),
            self.source.replace('_', "\\_"),
            match (&self.process, &self.t) {
                (Some(p), Some(t)) =>
                    format!(" under \\texttt{{{}}} at $t = {t}$", p.replace('_', "\\_")),
                _ => String::new(),
            }
        );
        if let Some(l) = &self.latex {
            let _ = writeln!(
                s,
                "\\begin{{align*}}\n\\|e\\|^2 &= {} \\\\\n\\|\\nabla\\phi\\|^2 &= {} \\\\\n\\|w\\|^2 &= {} \\\\\nS &= {} \\\\\n\\Omega &= {} \\\\\nb &= {}^{{T}}\n\\end{{align*}}",
                l.norms[0], l.norms[1], l.norms[2], l.s, l.omega, l.shift
            );
        } else {
            // The estimator: ||e||^2 and the estimates of ||Pi_D e||^2 per degree.
            let _ = write!(
                s,
                "Estimated by Stein's identity ({}); $\\|\\Pi_D e\\|^2$ rises with the degree $D$.\n\\begin{{align*}}\n\\|e\\|^2 &= {}",
                self.method,
                eval::format_f64(self.norm2_error)
            );
            for r in &self.estimates {
                let _ = write!(
                    s,
                    " \\\\\n\\|\\Pi_{{{}}} e\\|^2 &= {}",
                    r.degree,
                    eval::format_f64(r.norm2_gradient)
                );
            }
            s.push_str("\n\\end{align*}\n");
        }
        s.push_str("\\end{document}\n");
        s
    }
}

impl Report for HodgeReport {
    fn text(&self) -> String {
        let mut s = format!(
            "error {} against source {}{} (dimension {})\n",
            self.error,
            self.source,
            match (&self.process, &self.t) {
                (Some(p), Some(t)) => format!(" under {p} at t = {t}"),
                _ => String::new(),
            },
            self.dimension
        );
        let _ = writeln!(
            s,
            "method: {}",
            match self.method.as_str() {
                "exact" => "exact (rational arithmetic)".to_owned(),
                "eigenbasis" => "eigenbasis of Sigma (f64)".to_owned(),
                other => format!(
                    "{other}, on {} points (Stein's identity: the true score is not used)",
                    self.points.unwrap_or(0)
                ),
            }
        );
        if !self.estimates.is_empty() {
            let _ = writeln!(s, "||e||^2               = {:.16e}", self.norm2_error);
            // Galerkin with exact integration rises to the projection from below; with
            // Monte Carlo the sample fit adds noise and an O(m/N) upward bias.
            let sampled = self.estimates.iter().any(|e| e.standard_error.is_some());
            let (ge, le, how) = if sampled {
                ("~", "~", "a Monte Carlo estimate")
            } else {
                (">=", "<=", "an estimate from below")
            };
            let _ = writeln!(
                s,
                "||grad part||^2      {ge} {:.16e} (degree {}, {how})",
                self.norm2_gradient,
                self.estimates.len()
            );
            let _ = writeln!(
                s,
                "||solenoidal part||^2 {le} {:.16e}",
                self.norm2_solenoidal
            );
            let _ = writeln!(
                s,
                "{:>6}  {:>24}  {:>14}",
                "degree", "||Pi_D e||^2", "std. error"
            );
            for r in &self.estimates {
                let se = r
                    .standard_error
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.3e}"));
                let _ = writeln!(s, "{:>6}  {:>24.16e}  {se:>14}", r.degree, r.norm2_gradient);
            }
            if let Some(fv) = &self.finite_volume {
                let _ = writeln!(
                    s,
                    "finite volumes, {0} x {0} cells on [{1}, {2}] x [{3}, {4}]: ||grad part||^2 = {5:.16e}",
                    fv.cells,
                    fv.bounds[0][0],
                    fv.bounds[0][1],
                    fv.bounds[1][0],
                    fv.bounds[1][1],
                    fv.norm2_gradient
                );
            }
        } else {
            let _ = writeln!(
                s,
                "||e||^2               = {}",
                self.exact_or(|v| v.norm2_error.clone(), self.norm2_error)
            );
            let _ = writeln!(
                s,
                "||grad part||^2       = {}",
                self.exact_or(|v| v.norm2_gradient.clone(), self.norm2_gradient)
            );
            let _ = writeln!(
                s,
                "||solenoidal part||^2 = {}",
                self.exact_or(|v| v.norm2_solenoidal.clone(), self.norm2_solenoidal)
            );
        }
        let matrix =
            |s: &mut String, name: &str, m: &[Vec<f64>], exact: Option<&Vec<Vec<String>>>| {
                let _ = writeln!(s, "{name} =");
                for (i, row) in m.iter().enumerate() {
                    let cells: Vec<String> = match exact {
                        Some(e) => e[i].iter().map(|x| format!("{x:>12}")).collect(),
                        None => row.iter().map(|x| format!("{x:>24.16e}")).collect(),
                    };
                    let _ = writeln!(s, "  [{}]", cells.join(" "));
                }
            };
        if let (Some(sm), Some(om), Some(b)) = (&self.s, &self.omega, &self.shift) {
            let _ = writeln!(s, "gradient part: S (x - m) + b");
            matrix(&mut s, "S", sm, self.exact_values.as_ref().map(|v| &v.s));
            let shown: Vec<String> = match &self.exact_values {
                Some(v) => v.shift.clone(),
                None => b.iter().map(|x| format!("{x:.16e}")).collect(),
            };
            let _ = writeln!(s, "b = [{}]", shown.join(", "));
            let _ = writeln!(
                s,
                "solenoidal part: Omega Sigma^-1 (x - m), Omega antisymmetric"
            );
            matrix(
                &mut s,
                "Omega",
                om,
                self.exact_values.as_ref().map(|v| &v.omega),
            );
        }
        if self.symmetric_part_is_gradient == Some(false) {
            let _ = writeln!(
                s,
                "note: the symmetric part of E, (E + E^T)/2, is not the gradient part S (it is only when Sigma is a multiple of I): ||((E + E^T)/2 - S)(x - m)||^2 = {}",
                match (&self.exact_values, self.norm2_symmetric_part_difference) {
                    (Some(_), Some(v)) => format!("{v}"),
                    (None, Some(v)) => format!("{v:.16e}"),
                    _ => "?".to_owned(),
                }
            );
        }
        if let Some(p) = &self.invisible {
            let _ = writeln!(
                s,
                "invisibility of solenoidal linear errors: {} (matrix identities in dimension {}):",
                if p.proved { "proved" } else { "NOT proved" },
                p.dimension
            );
            for st in &p.steps {
                let _ = writeln!(s, "  [{}] {}", st.verdict, st.statement);
                if let Some(d) = &st.detail {
                    let _ = writeln!(s, "      {d}");
                }
            }
        }
        s
    }

    fn render(&self, format: Format) -> String {
        match format {
            Format::Json => super::output::json(self),
            Format::Text => self.text(),
            Format::Latex => self.latex(),
        }
    }
}

/// The names the report starts with.
struct Head {
    source: String,
    error: String,
    process: Option<String>,
    t: Option<String>,
}

fn proof_report(p: &Proof) -> ProofReport {
    ProofReport {
        dimension: p.dimension,
        proved: p.proved(),
        steps: p
            .steps
            .iter()
            .map(|s| {
                let (verdict, detail) = match &s.verdict {
                    Verdict::Proved => ("proved", None),
                    Verdict::Checked { points, max_rel } => (
                        "checked",
                        Some(format!(
                            "at {points} points, largest relative difference {max_rel:.1e}"
                        )),
                    ),
                    Verdict::Sampled { points } => ("checked", Some(format!("at {points} points"))),
                    Verdict::Failed { at, detail, .. } => {
                        ("failed", Some(format!("at {at}: {detail}")))
                    }
                };
                ProofStep {
                    statement: s.statement.clone(),
                    verdict: verdict.to_owned(),
                    detail,
                }
            })
            .collect(),
    }
}

/// The exact time of `--t`, in [0, 1].
fn parse_t(text: &str) -> Result<BigRational, Vec<Diag>> {
    let mut pool = Pool::new();
    let r = process::parse_param_override(&mut pool, text)
        .map_err(|m| cli_error(codes::CLI_T, format!("bad value for --t: {m}")))?;
    if !in_unit_interval(&r) {
        return Err(cli_error(
            codes::CLI_T,
            format!("--t {text} is outside [0, 1]"),
        ));
    }
    Ok(r)
}

/// alpha, sigma, alpha^2 and sigma^2 of `process` at the exact time `t`, each exact where
/// it simplifies to a rational there.
struct Scale {
    alpha: Scalar,
    sigma: Scalar,
    alpha2: Scalar,
    sigma2: Scalar,
}

fn scale(pool: &mut Pool, process: &Process, t: &BigRational) -> Result<Scale, Vec<Diag>> {
    let ts = time_symbol(pool);
    let quantity = |name: &str| {
        process.quantity(name).ok_or_else(|| {
            cli_error(
                codes::ANALYSIS_PROCESS,
                format!("process `{}` has no {name}", process.name),
            )
        })
    };
    let (alpha, sigma) = (quantity("alpha")?, quantity("sigma")?);
    let a2 = pool.powi(alpha, 2);
    let s2 = pool.powi(sigma, 2);
    let mut at = |e, what: &str| {
        value_at(pool, e, ts, Some(t)).map_err(|why| {
            cli_error(
                codes::ANALYSIS_PROCESS,
                format!("{what} of process `{}` at t = {t}: {why}", process.name),
            )
        })
    };
    Ok(Scale {
        alpha: at(alpha, "alpha")?,
        sigma: at(sigma, "sigma")?,
        alpha2: at(a2, "alpha^2")?,
        sigma2: at(s2, "sigma^2")?,
    })
}

/// The marginal N(alpha m, alpha^2 Sigma + sigma^2 I) of `p` at time `t`.
fn marginal(
    pool: &mut Pool,
    process: &Process,
    p: &Moments,
    t: &BigRational,
) -> Result<Moments, Vec<Diag>> {
    let Scale {
        alpha,
        alpha2,
        sigma2,
        ..
    } = scale(pool, process, t)?;
    let d = p.mean.len();
    Ok(Moments {
        mean: p.mean.iter().map(|m| alpha.times(m)).collect(),
        cov: (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| {
                        let scaled = alpha2.times(&p.cov[i][j]);
                        if i == j { scaled.plus(&sigma2) } else { scaled }
                    })
                    .collect()
            })
            .collect(),
    })
}

/// alpha and sigma of the process at `t` in f64, or (1, 0) for the source itself.
fn scale_at(
    pool: &mut Pool,
    process: Option<&Process>,
    t: Option<&BigRational>,
) -> Result<(f64, f64), Vec<Diag>> {
    let (Some(process), Some(t)) = (process, t) else {
        return Ok((1.0, 0.0));
    };
    let s = scale(pool, process, t)?;
    Ok((s.alpha.value, s.sigma.value))
}

/// The estimated decomposition: a mixture, or an error that is not affine.
fn estimated(
    a: &HodgeArgs,
    head: Head,
    loaded: &mut Analysis,
    error: &ScoreError,
    t: Option<&BigRational>,
    invisible: Option<ProofReport>,
) -> Result<Outcome, Vec<Diag>> {
    let mixture = super::stiffness::mixture_of(loaded)?;
    let process = loaded.process.clone();
    let (alpha, sigma) = scale_at(&mut loaded.pool, process.as_ref(), t)?;
    let d = mixture.dimension;
    // The mean the error is measured against: that of the marginal.
    let mean: Vec<f64> = (0..d)
        .map(|i| {
            alpha
                * mixture
                    .components
                    .iter()
                    .zip(&mixture.weights)
                    .map(|(c, w)| w * c.mean[i])
                    .sum::<f64>()
        })
        .collect();
    let field = error
        .evaluator(t, &mean)
        .map_err(|e| value_error(e, error, loaded))?;
    let integration = match a.samples {
        Some(n) => Integration::MonteCarlo {
            samples: n as usize,
            seed: a.seed,
        },
        None => estimate::default_integration(d),
    };
    let fail = |e: &dyn std::fmt::Display| {
        cli_error(
            codes::ANALYSIS_HODGE,
            format!("the estimate of error `{}`: {e}", error.name),
        )
    };
    let p = estimate::project(
        &mixture,
        alpha,
        sigma,
        &*field,
        a.degree as usize,
        integration,
    )
    .map_err(|e| fail(&e))?;
    let finite_volume = match a.finite_volume {
        None => None,
        Some(_) if d != 2 => {
            return Err(cli_error(
                codes::CLI_USAGE,
                format!("--finite-volume solves in dimension 2; this source has dimension {d}"),
            ));
        }
        Some(cells) => {
            let bounds = box_of(&mixture, alpha, sigma);
            let v = poisson::reference_2d(&mixture, alpha, sigma, &*field, bounds, cells as usize)
                .map_err(|e| fail(&e))?;
            Some(FiniteVolume {
                cells: cells as usize,
                bounds: [[bounds[0].0, bounds[0].1], [bounds[1].0, bounds[1].1]],
                norm2_gradient: v,
            })
        }
    };
    let last = p.estimates.last().map_or(0.0, |e| e.norm2_gradient);
    let method = match p.method {
        Integration::Quadrature => "estimator (Gauss-Hermite quadrature)",
        Integration::MonteCarlo { .. } => "estimator (Monte Carlo)",
    };
    let report = HodgeReport {
        source: head.source,
        error: head.error,
        process: head.process,
        t: head.t,
        dimension: d,
        method: method.to_owned(),
        exact: false,
        norm2_error: p.norm2_error,
        norm2_gradient: last,
        norm2_solenoidal: (p.norm2_error - last).max(0.0),
        s: None,
        omega: None,
        shift: None,
        symmetric_part_is_gradient: None,
        norm2_symmetric_part_difference: None,
        exact_values: None,
        estimates: p
            .estimates
            .iter()
            .map(|e| EstimateRow {
                degree: e.degree,
                norm2_gradient: e.norm2_gradient,
                standard_error: e.standard_error,
            })
            .collect(),
        points: Some(p.points),
        finite_volume,
        invisible,
        latex: None,
    };
    Ok(Outcome::ok(report.render(a.format)))
}

/// The box of a finite-volume solve: every component's mean +- 10 of its largest standard
/// deviation, per axis.
fn box_of(mixture: &Mixture, alpha: f64, sigma: f64) -> [(f64, f64); 2] {
    let mut bounds = [(f64::INFINITY, f64::NEG_INFINITY); 2];
    for c in &mixture.components {
        let largest = match &c.cov {
            Covariance::Isotropic(v) => *v,
            Covariance::Eigen { values, .. } => values.iter().copied().fold(0.0, f64::max),
        };
        let sd = (alpha * alpha * largest + sigma * sigma).sqrt();
        for (axis, b) in bounds.iter_mut().enumerate() {
            let m = alpha * c.mean[axis];
            b.0 = b.0.min(m - 10.0 * sd);
            b.1 = b.1.max(m + 10.0 * sd);
        }
    }
    bounds
}

fn value_error(e: ValueError, error: &ScoreError, loaded: &Analysis) -> Vec<Diag> {
    let code = match e {
        ValueError::NeedsTime { .. } => codes::CLI_T,
        ValueError::Undefined { .. } => codes::ERROR_VALUE,
    };
    vec![
        Diag::new(code, e.to_string())
            .with_label(error.span, "this error")
            .in_source(&loaded.file),
    ]
}

pub(super) fn run(a: &HodgeArgs) -> Result<Outcome, Vec<Diag>> {
    let mut loaded = load_analysis(
        &a.file,
        a.process.as_deref(),
        Some(&a.source),
        &a.params.params,
    )?;
    let error = loaded.take_error(&a.error)?;
    let t = a.t.as_deref().map(parse_t).transpose()?;
    let d_source = match (&loaded.source, &loaded.mixture) {
        (Some(g), _) => g.eigenvalues.len(),
        (None, Some(m)) => m.dimension,
        (None, None) => unreachable!("a source was asked for"),
    };
    if error.dimension != d_source {
        return Err(vec![
            Diag::new(
                codes::ERROR_SHAPE,
                format!(
                    "error `{}` has dimension {} but source `{}` has dimension {d_source}",
                    error.name, error.dimension, a.source
                ),
            )
            .with_label(error.span, format!("dimension {}", error.dimension))
            .in_source(&loaded.file),
        ]);
    }
    let head = Head {
        source: a.source.clone(),
        error: a.error.clone(),
        process: a.process.clone(),
        t: a.t.clone(),
    };
    let affine = error
        .affine(t.as_ref())
        .map_err(|e| value_error(e, &error, &loaded))?;
    let invisible = if a.prove_invisible {
        let process = loaded
            .process
            .as_ref()
            .expect("--prove-invisible requires --process");
        let proof = invisible::prove(&mut loaded.pool, process, d_source);
        Some(proof_report(&proof))
    } else {
        None
    };
    let moments = loaded
        .moments
        .clone()
        .or_else(|| loaded.source.as_ref().map(Moments::from_source));
    let (Some(affine), Some(moments)) = (affine, moments) else {
        return estimated(a, head, &mut loaded, &error, t.as_ref(), invisible);
    };
    let p = match (&loaded.process, &t) {
        (Some(process), Some(t)) => {
            let process = process.clone();
            marginal(&mut loaded.pool, &process, &moments, t)?
        }
        _ => moments,
    };
    let out = gaussian::decompose(&p, &affine)
        .map_err(|e| cli_error(codes::ANALYSIS_HODGE, e.to_string()))?;
    let report = HodgeReport::from_decomposition(head, &out, invisible);
    let failed = report.invisible.as_ref().is_some_and(|p| !p.proved);
    let mut outcome = Outcome::ok(report.render(a.format));
    if failed {
        outcome.code = 1;
    }
    Ok(outcome)
}
