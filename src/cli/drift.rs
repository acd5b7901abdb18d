//! `diffsym drift`: the kernel-drifting field V_{p,q} = V_p^+ - V_q^- at points, exact for
//! the Gaussian kernel and by polar quadrature for any radial kernel in d <= 3, with the
//! curl and relative asymmetry of its Jacobian (docs/theory.md section 8).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::load::{load_analysis, read_source};
use super::output::{Format, Outcome, Report, cli_error, text_or_json};
use super::stiffness::mixture_of;
use crate::analysis::Mixture;
use crate::analysis::drift::field::{self, Curl, DriftError, DriftPoint, GaussianDrift};
use crate::analysis::drift::{Kernel, NamedKernel};
use crate::analysis::mixture::MAX_MAGNITUDE;
use crate::diag::{Diag, Span, codes};

/// `diffsym drift FILE --p P --q Q --kernel K --at X [--at ...] [--points FILE]`
#[derive(clap::Args, Debug)]
pub(super) struct DriftArgs {
    /// The .dsym file with the sources and the kernel
    file: PathBuf,
    /// The target distribution p: a `gaussian` or `gmm` source of FILE
    #[arg(long)]
    p: String,
    /// The generated distribution q: a `gaussian` or `gmm` source of FILE
    #[arg(long)]
    q: String,
    /// The kernel, a `kernel K = gaussian(h = ...)`, `laplace(tau = ...)` or
    /// `radial(profile = ...)` of FILE
    #[arg(long)]
    kernel: String,
    /// A point x1,...,xd at which to evaluate the drift (may be repeated)
    #[arg(long, allow_hyphen_values = true)]
    at: Vec<String>,
    /// A file of points, one per line, coordinates separated by commas or blanks; `#`
    /// starts a comment
    #[arg(long)]
    points: Option<PathBuf>,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text", value_parser = text_or_json())]
    format: Format,
}

/// Most points of the exact (Gaussian-kernel) field, and most component evaluations
/// (points times components times d^2, for the Jacobian).
const MAX_EXACT_POINTS: usize = 100_000;
const EXACT_WORK: f64 = 2e9;
/// Most points of a quadrature (each up to [`field::QUADRATURE_BUDGET`] evaluations per
/// source).
const MAX_QUADRATURE_POINTS: usize = 32;

/// What `drift` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct DriftReport {
    kernel: KernelView,
    p: String,
    q: String,
    dimension: usize,
    /// `exact` (Gaussian kernel, closed form) or `quadrature`.
    method: &'static str,
    /// The largest change of a drift or Jacobian entry between the last two rules
    /// (quadrature only).
    #[serde(skip_serializing_if = "Option::is_none")]
    error_estimate: Option<f64>,
    /// Whether every quadrature met its tolerance (1e-12 relative) within the work bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    converged: Option<bool>,
    points: Vec<PointView>,
}

#[derive(Serialize)]
struct KernelView {
    name: String,
    family: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tau: Option<f64>,
}

#[derive(Serialize)]
struct PointView {
    x: Vec<f64>,
    drift: Vec<f64>,
    drift_p: Vec<f64>,
    drift_q: Vec<f64>,
    /// 0 in 1-D, dV2/dx1 - dV1/dx2 in 2-D, the vector in 3-D, null beyond.
    curl: Option<CurlView>,
    relative_asymmetry: f64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum CurlView {
    Scalar(f64),
    Vector([f64; 3]),
}

fn vector(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.12e}")).collect();
    format!("({})", parts.join(", "))
}

impl Report for DriftReport {
    fn text(&self) -> String {
        let k = &self.kernel;
        let params = match (k.h, k.tau) {
            (Some(h), _) => format!("h = {h}"),
            (_, Some(t)) => format!("tau = {t}"),
            _ => "profile".to_owned(),
        };
        let mut s = format!(
            "drift V = V_p^+ - V_q^- of p = {}, q = {} (d = {}), kernel {} = {}({params})\n",
            self.p, self.q, self.dimension, k.name, k.family
        );
        match self.error_estimate {
            None => {
                let _ = writeln!(
                    s,
                    "method: exact, V = h^2 (grad log p_h - grad log q_h), p_h = p * N(0, h^2 I)"
                );
            }
            Some(e) => {
                let _ = writeln!(
                    s,
                    "method: polar quadrature centred at x, error estimate {e:.1e}{}",
                    if self.converged == Some(false) {
                        " (not converged within the work bound)"
                    } else {
                        ""
                    }
                );
            }
        }
        for p in &self.points {
            let x: Vec<String> = p.x.iter().map(|v| v.to_string()).collect();
            let _ = writeln!(s, "x = ({})", x.join(", "));
            let _ = writeln!(s, "  V      = {}", vector(&p.drift));
            let _ = writeln!(s, "  V_p^+  = {}", vector(&p.drift_p));
            let _ = writeln!(s, "  V_q^-  = {}", vector(&p.drift_q));
            let curl = match &p.curl {
                Some(CurlView::Scalar(c)) => format!("{c:.6e}"),
                Some(CurlView::Vector(c)) => vector(c),
                None => "undefined (d > 3)".to_owned(),
            };
            let _ = writeln!(
                s,
                "  curl   = {curl}, relative asymmetry {:.6e}",
                p.relative_asymmetry
            );
        }
        s
    }
}

/// Parses one point of dimension `d` from `text` (coordinates separated by commas or
/// blanks); the reason when it is not one.
fn parse_point(text: &str, d: usize) -> Result<Vec<f64>, String> {
    let values: Result<Vec<f64>, _> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::parse::<f64>)
        .collect();
    match values {
        Ok(v) if v.len() != d => Err(format!(
            "{} coordinates; the sources have dimension {d}",
            v.len()
        )),
        Ok(v) if v.iter().all(|x| x.abs() <= MAX_MAGNITUDE) => Ok(v),
        _ => Err("not a list of numbers x1,...,xd of magnitude at most 1e100".to_owned()),
    }
}

/// The points of a points file, with a located diagnostic for a bad line.
fn points_file(path: &Path, d: usize, limit: usize) -> Result<Vec<Vec<f64>>, Vec<Diag>> {
    let src = read_source(path).map_err(|d| vec![*d])?;
    let mut out = Vec::new();
    let mut offset = 0;
    for line in src.text.split_inclusive('\n') {
        let content = line.split('#').next().unwrap_or("").trim();
        if !content.is_empty() {
            let start = offset + line.find(content).unwrap_or(0);
            let span = Span::new(start, start + content.len());
            match parse_point(content, d) {
                Ok(p) => out.push(p),
                Err(why) => {
                    return Err(vec![
                        Diag::new(codes::CLI_AT, format!("a point of `{}`: {why}", src.name))
                            .with_label(span, "not a point")
                            .with_help("one point per line, e.g. `0.5, -1` or `0.5 -1`")
                            .in_source(&src),
                    ]);
                }
            }
            if out.len() > limit {
                return Err(vec![
                    Diag::new(
                        codes::CLI_AT,
                        format!(
                            "more than {limit} points: this kernel accepts at most {limit} per run"
                        ),
                    )
                    .with_label(span, "one point too many")
                    .in_source(&src),
                ]);
            }
        }
        offset += line.len();
    }
    Ok(out)
}

fn drift_error(e: DriftError) -> Vec<Diag> {
    cli_error(codes::ANALYSIS_DRIFT, e.to_string())
}

/// The source `name` of FILE as a mixture (a Gaussian source is one component).
fn source(file: &Path, name: &str) -> Result<(Mixture, Vec<NamedKernel>), Vec<Diag>> {
    let mut loaded = load_analysis(file, None, Some(name), &[])?;
    let m = mixture_of(&mut loaded)?;
    Ok((m, std::mem::take(&mut loaded.kernels)))
}

pub(super) fn run(a: &DriftArgs) -> Result<Outcome, Vec<Diag>> {
    let (p, kernels) = source(&a.file, &a.p)?;
    let (q, _) = source(&a.file, &a.q)?;
    let Some(named) = kernels.into_iter().find(|k| k.name == a.kernel) else {
        return Err(vec![
            Diag::new(
                codes::CLI_KERNEL,
                format!("no kernel named `{}` in `{}`", a.kernel, a.file.display()),
            )
            .with_help("declare one, e.g. `kernel K = gaussian(h = 0.7);`"),
        ]);
    };
    if p.dimension != q.dimension {
        return Err(drift_error(DriftError::Dimensions {
            p: p.dimension,
            q: q.dimension,
        }));
    }
    let d = p.dimension;
    let exact = matches!(named.kernel, Kernel::Gaussian { .. });
    if !exact && d > 3 {
        return Err(drift_error(DriftError::Dimension {
            family: named.kernel.family(),
            d,
        }));
    }
    let limit = if exact {
        MAX_EXACT_POINTS
    } else {
        MAX_QUADRATURE_POINTS
    };
    let mut points = Vec::new();
    for t in &a.at {
        points.push(
            parse_point(t, d)
                .map_err(|why| cli_error(codes::CLI_AT, format!("--at {t}: {why}")))?,
        );
    }
    if let Some(path) = &a.points {
        points.extend(points_file(path, d, limit.saturating_sub(points.len()))?);
    }
    if points.is_empty() {
        return Err(cli_error(
            codes::CLI_AT,
            "no points: give --at x1,...,xd (repeatable) or --points FILE",
        ));
    }
    if points.len() > limit {
        return Err(cli_error(
            codes::CLI_AT,
            format!(
                "{} points: the {} kernel accepts at most {limit} per run",
                points.len(),
                named.kernel.family()
            ),
        ));
    }
    let components = (p.components.len() + q.components.len()) as f64;
    if exact && points.len() as f64 * components * (d * d) as f64 > EXACT_WORK {
        return Err(cli_error(
            codes::CLI_AT,
            format!(
                "{} points of dimension {d} with {components} components would take more than seconds: give fewer points",
                points.len()
            ),
        ));
    }
    let results: Vec<DriftPoint> = match &named.kernel {
        Kernel::Gaussian { h } => {
            let g = GaussianDrift::new(&p, &q, *h).map_err(drift_error)?;
            points
                .iter()
                .map(|x| g.at(x))
                .collect::<Result<_, _>>()
                .map_err(drift_error)?
        }
        k => points
            .iter()
            .map(|x| field::drift_at(&p, &q, k, x))
            .collect::<Result<_, _>>()
            .map_err(drift_error)?,
    };
    let (h, tau) = match named.kernel {
        Kernel::Gaussian { h } => (Some(h), None),
        Kernel::Laplace { tau } => (None, Some(tau)),
        Kernel::Radial(_) => (None, None),
    };
    let report = DriftReport {
        kernel: KernelView {
            name: named.name.clone(),
            family: named.kernel.family(),
            h,
            tau,
        },
        p: p.name.clone(),
        q: q.name.clone(),
        dimension: d,
        method: if exact { "exact" } else { "quadrature" },
        error_estimate: (!exact)
            .then(|| results.iter().map(|r| r.error_estimate).fold(0.0, f64::max)),
        converged: (!exact).then(|| results.iter().all(|r| r.converged)),
        points: results
            .iter()
            .map(|r| PointView {
                curl: match r.curl() {
                    Curl::Zero => Some(CurlView::Scalar(0.0)),
                    Curl::Scalar(c) => Some(CurlView::Scalar(c)),
                    Curl::Vector(v) => Some(CurlView::Vector(v)),
                    Curl::Undefined => None,
                },
                relative_asymmetry: r.relative_asymmetry(),
                x: r.x.clone(),
                drift: r.drift.clone(),
                drift_p: r.drift_p.clone(),
                drift_q: r.drift_q.clone(),
            })
            .collect(),
    };
    Ok(Outcome::ok(report.render(a.format)))
}
