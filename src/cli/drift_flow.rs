//! `diffsym drift-flow`: the exact population dynamics of kernel drifting between Gaussian
//! sources under the Gaussian kernel (docs/theory.md section 8): frozen-field steps, the
//! continuous flow, the largest stable step and the biased field's equilibrium.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use super::load::{Analysis, load_analysis};
use super::output::{Format, Outcome, Report, cli_error, finite, kl_text, short, text_or_json};
use crate::analysis::drift::flow::{Flow, FlowError, Law};
use crate::analysis::drift::particles::{self, Anneal};
use crate::analysis::drift::{Kernel, NamedKernel};
use crate::diag::{Diag, codes};

/// `diffsym drift-flow FILE --p P --q Q --kernel K --steps N --eta E [--bias a] [--continuous T]`
#[derive(clap::Args, Debug)]
pub(super) struct DriftFlowArgs {
    /// The .dsym file declaring the sources and the kernel
    file: PathBuf,
    /// The target p: a Gaussian source of FILE
    #[arg(long)]
    p: String,
    /// The initial law q_0: a Gaussian source of FILE, of p's dimension
    #[arg(long)]
    q: String,
    /// A Gaussian kernel of FILE (`kernel K = gaussian(h = 0.7);`, k = exp(-|x - y|^2/(2 h^2)))
    #[arg(long)]
    kernel: String,
    /// Frozen-field steps x_{k+1} = x_k + eta V_{p,q_k}(x_k) to take (at most 100000, and
    /// (N + 1) d^2 at most 1e6 printed numbers)
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    steps: u32,
    /// The step size eta, in (0, 1e6]
    #[arg(long, allow_hyphen_values = true)]
    eta: f64,
    /// The bias a of the field a V_p^+ - V_q^-, in (0, 1e6]; 1 is V_{p,q}
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    bias: f64,
    /// Also follow the continuous flow dq/dt = -div(q V_{p,q_t}) to time T (max(1, a) T at
    /// most 1e3)
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    continuous: Option<f64>,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text", value_parser = text_or_json())]
    format: Format,
}

/// What `drift-flow` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct DriftFlowReport {
    p: String,
    q: String,
    kernel: String,
    h: f64,
    dimension: usize,
    bias: f64,
    eta: f64,
    /// The largest stable frozen step at the equilibrium (null without one).
    eta_max: Option<f64>,
    stability: Option<StabilityRow>,
    /// The field's fixed point: mean m_p, covariance (S_p + h^2 I)/a - h^2 I; p itself
    /// when a = 1; null when that is not positive definite.
    equilibrium: Option<Equilibrium>,
    steps: Vec<StepRow>,
    /// The first step whose law left the range of f64 (the steps stop before it).
    diverged_at: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuous: Option<ContinuousRow>,
}

#[derive(Serialize)]
struct StabilityRow {
    rate_mean: f64,
    rate_covariance: f64,
    eta_max_mean: f64,
    eta_max_covariance: Option<f64>,
}

#[derive(Serialize)]
struct Equilibrium {
    mean: Vec<f64>,
    cov: Vec<Vec<f64>>,
    is_p: bool,
}

#[derive(Serialize)]
struct StepRow {
    k: usize,
    mean: Vec<f64>,
    cov: Vec<Vec<f64>>,
    /// KL(q_k || p); null when q_k is singular (the KL is infinite).
    kl: Option<f64>,
}

#[derive(Serialize)]
struct ContinuousRow {
    t: f64,
    mean: Vec<f64>,
    cov: Vec<Vec<f64>>,
    kl: Option<f64>,
    rk4_steps: usize,
    error_estimate: f64,
}

/// At most this many numbers printed for the steps: (N + 1) d^2.
const MAX_PRINTED: usize = 1_000_000;

fn rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|r| m.row(r).iter().copied().collect())
        .collect()
}

fn vector(v: &DVector<f64>) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.10e}")).collect();
    format!("[{}]", items.join(", "))
}

fn matrix(m: &[Vec<f64>]) -> String {
    let items: Vec<String> = m
        .iter()
        .map(|r| vector(&DVector::from_vec(r.clone())))
        .collect();
    format!("[{}]", items.join(", "))
}

impl Report for DriftFlowReport {
    fn text(&self) -> String {
        let mut s = format!(
            "p = {}, q_0 = {} (d = {}), Gaussian kernel {} (h = {}), field {} V_p^+ - V_q^-\n",
            self.p,
            self.q,
            self.dimension,
            self.kernel,
            short(self.h),
            short(self.bias)
        );
        match (&self.eta_max, &self.stability) {
            (Some(m), Some(st)) => {
                let verdict = if self.eta < *m { "stable" } else { "unstable" };
                let cov = st
                    .eta_max_covariance
                    .map_or_else(|| "none".to_owned(), |v| format!("{v:.10e}"));
                let _ = writeln!(
                    s,
                    "eta_max = {m:.10e} (mean modes {:.10e}, covariance modes {cov}): eta = {} is {verdict}",
                    st.eta_max_mean,
                    short(self.eta)
                );
            }
            _ => {
                let _ = writeln!(s, "eta_max: none (the field has no equilibrium)");
            }
        }
        match &self.equilibrium {
            Some(e) if e.is_p => {
                let _ = writeln!(s, "equilibrium: p itself");
            }
            Some(e) => {
                let _ = writeln!(
                    s,
                    "equilibrium: mean {}, cov {}",
                    vector(&DVector::from_vec(e.mean.clone())),
                    matrix(&e.cov)
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "equilibrium: none (a >= 1 + lambda_min(S_p)/h^2: q collapses onto a subspace)"
                );
            }
        }
        let _ = writeln!(s, "frozen-field steps, eta = {}:", short(self.eta));
        let _ = writeln!(s, "{:>6}  {:>24}  mean; cov", "k", "KL(q_k||p)");
        for r in &self.steps {
            let kl = r.kl.map_or_else(|| "inf".to_owned(), kl_text);
            let _ = writeln!(
                s,
                "{:>6}  {kl:>24}  {}; {}",
                r.k,
                vector(&DVector::from_vec(r.mean.clone())),
                matrix(&r.cov)
            );
        }
        if let Some(k) = self.diverged_at {
            let _ = writeln!(
                s,
                "diverged: step {k} leaves the range of f64 (entries beyond 1e150)"
            );
        }
        if let Some(c) = &self.continuous {
            let kl = c.kl.map_or_else(|| "inf".to_owned(), kl_text);
            let _ = writeln!(
                s,
                "continuous flow at T = {}: KL = {kl}, mean {}, cov {} (RK4, {} steps, error estimate {:.2e})",
                c.t,
                vector(&DVector::from_vec(c.mean.clone())),
                matrix(&c.cov),
                c.rk4_steps,
                c.error_estimate
            );
        }
        s
    }
}

/// A flow error as a diagnostic.
pub(super) fn flow_error(e: FlowError) -> Vec<Diag> {
    cli_error(codes::ANALYSIS_MOMENT_FLOW, e.to_string())
}

/// The Gaussian source `name` of `file` as a law in the original coordinates, with the
/// loaded file; a mixture of several components is refused.
pub(super) fn gaussian_law(
    file: &Path,
    name: &str,
    command: &str,
) -> Result<(Law, Analysis), Vec<Diag>> {
    let mut loaded = load_analysis(file, None, Some(name), &[])?;
    let Some(g) = loaded.source.take() else {
        let k = loaded.mixture.as_ref().map_or(0, |m| m.components.len());
        return Err(vec![
            Diag::new(
                codes::ANALYSIS_MOMENT_FLOW,
                format!(
                    "source `{name}` is a mixture of {k} components: `{command}` needs Gaussian p and q (only then does q stay Gaussian)"
                ),
            )
            .with_help("declare p and q with `gaussian(...)`, or a one-component `gmm`"),
        ]);
    };
    let mean = DVector::from_vec(g.to_original(&g.mean));
    let cov = g.covariance_original(&g.eigenvalues);
    Ok((Law { mean, cov }, loaded))
}

/// The kernel `name` declared in the loaded file.
pub(super) fn find_kernel<'a>(
    loaded: &'a Analysis,
    name: &str,
) -> Result<&'a NamedKernel, Vec<Diag>> {
    loaded
        .kernels
        .iter()
        .find(|k| k.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = loaded.kernels.iter().map(|k| k.name.as_str()).collect();
            let help = if names.is_empty() {
                "declare one, e.g. `kernel K = gaussian(h = 0.7);`".to_owned()
            } else {
                format!("kernels: {}", names.join(", "))
            };
            vec![
                Diag::new(
                    codes::CLI_KERNEL,
                    format!("no kernel named `{name}` in `{}`", loaded.file.name),
                )
                .with_help(help),
            ]
        })
}

/// The loaded p and q: same dimension.
pub(super) fn same_dimension(p: &Law, q: &Law, names: (&str, &str)) -> Result<(), Vec<Diag>> {
    if p.dimension() == q.dimension() {
        return Ok(());
    }
    Err(cli_error(
        codes::ANALYSIS_MOMENT_FLOW,
        format!(
            "p = `{}` has dimension {} and q = `{}` dimension {}: they must be equal",
            names.0,
            p.dimension(),
            names.1,
            q.dimension()
        ),
    ))
}

pub(super) fn run(a: &DriftFlowArgs) -> Result<Outcome, Vec<Diag>> {
    let (p, loaded) = gaussian_law(&a.file, &a.p, "drift-flow")?;
    let (q0, _) = gaussian_law(&a.file, &a.q, "drift-flow")?;
    same_dimension(&p, &q0, (&a.p, &a.q))?;
    let named = find_kernel(&loaded, &a.kernel)?;
    let h = match named.kernel {
        Kernel::Gaussian { h } => h,
        ref other => {
            return Err(vec![
                Diag::new(
                    codes::ANALYSIS_MOMENT_FLOW,
                    format!(
                        "kernel `{}` is {}: the drift is affine, and q stays Gaussian, only under a Gaussian kernel",
                        named.name,
                        other.family()
                    ),
                )
                .with_label(named.span, "not a Gaussian kernel")
                .with_help("declare `kernel K = gaussian(h = 0.7);`; `plot drift` runs particles with Gaussian and Laplace kernels")
                .in_source(&loaded.file),
            ]);
        }
    };
    let d = p.dimension();
    let n = a.steps as usize;
    if (n + 1).saturating_mul(d * d) > MAX_PRINTED {
        return Err(cli_error(
            codes::CLI_STEPS,
            format!(
                "{n} steps in dimension {d} print {} numbers, beyond the bound 1e6",
                (n + 1).saturating_mul(d * d)
            ),
        ));
    }
    let flow = Flow::new(p, h, a.bias).map_err(flow_error)?;
    let run = flow.frozen(&q0, a.eta, n).map_err(flow_error)?;
    if run.kl.iter().any(|v| v.is_nan()) {
        return Err(flow_error(FlowError::NotFinite));
    }
    let continuous = match a.continuous {
        None => None,
        Some(t) => {
            let c = flow.continuous(&q0, t).map_err(flow_error)?;
            Some(ContinuousRow {
                t,
                mean: c.law.mean.iter().copied().collect(),
                cov: rows(&c.law.cov),
                kl: finite(c.kl),
                rk4_steps: c.rk4_steps,
                error_estimate: c.error_estimate,
            })
        }
    };
    let stability = flow.stability();
    let equilibrium = flow.equilibrium().map(|e| Equilibrium {
        mean: e.mean.iter().copied().collect(),
        cov: rows(&e.cov),
        is_p: a.bias == 1.0,
    });
    let steps = run
        .laws
        .iter()
        .zip(&run.kl)
        .enumerate()
        .map(|(k, (law, kl))| StepRow {
            k,
            mean: law.mean.iter().copied().collect(),
            cov: rows(&law.cov),
            kl: finite(*kl),
        })
        .collect();
    let report = DriftFlowReport {
        p: a.p.clone(),
        q: a.q.clone(),
        kernel: a.kernel.clone(),
        h,
        dimension: d,
        bias: a.bias,
        eta: a.eta,
        eta_max: stability.as_ref().map(|s| s.eta_max),
        stability: stability.map(|s| StabilityRow {
            rate_mean: s.rate_mean,
            rate_covariance: s.rate_covariance,
            eta_max_mean: 2.0 / s.rate_mean,
            eta_max_covariance: finite(2.0 / s.rate_covariance),
        }),
        equilibrium,
        steps,
        diverged_at: run.diverged_at,
        continuous,
    };
    Ok(Outcome::ok(report.render(a.format)))
}

/// `diffsym plot drift FILE --p P --q Q --kernel K [--kernel L] [--anneal h0,r] --steps N
/// --eta E --out F.svg`
#[derive(clap::Args, Debug)]
pub(super) struct PlotDriftArgs {
    /// The .dsym file declaring the sources and the kernels
    file: PathBuf,
    /// The target p: a Gaussian source of FILE, of dimension 1 or 2
    #[arg(long)]
    p: String,
    /// The initial law q_0: a Gaussian source of FILE
    #[arg(long)]
    q: String,
    /// A Gaussian or Laplace kernel of FILE (repeat for several curves)
    #[arg(long, required = true)]
    kernel: Vec<String>,
    /// Also run every kernel annealed: bandwidth (h or tau) h0 e^(-r t) at t = k eta
    #[arg(long, value_name = "h0,r")]
    anneal: Option<String>,
    /// Steps of the particle update x += eta V(x)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    steps: u32,
    /// The step size eta, in (0, 1e6]
    #[arg(long, allow_hyphen_values = true)]
    eta: f64,
    /// Particles, and points of the fresh sample of p drawn at every step
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(2..=20_000))]
    particles: u32,
    /// The seed of the samples (the figure is the same for the same seed)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The SVG file to write
    #[arg(long)]
    out: PathBuf,
}

/// `h0,r`: a bandwidth in [1e-100, 1e100] and a rate r >= 0 under which the bandwidth stays
/// at least 1e-100 over the run.
fn parse_anneal(text: &str, horizon: f64) -> Result<Anneal, Vec<Diag>> {
    let values: Result<Vec<f64>, _> = text.split(',').map(|v| v.trim().parse::<f64>()).collect();
    let bad = |why: &str| {
        cli_error(
            codes::ANALYSIS_MOMENT_FLOW,
            format!("--anneal {text}: {why}"),
        )
    };
    match values.as_deref() {
        Ok([h0, r]) => {
            if !(h0.is_finite() && (1e-100..=1e100).contains(h0)) {
                return Err(bad("h0 must be a bandwidth in [1e-100, 1e100]"));
            }
            if !(r.is_finite() && *r >= 0.0) {
                return Err(bad("the rate r must be a finite number >= 0"));
            }
            if h0.ln() - r * horizon < (1e-100f64).ln() {
                return Err(bad(
                    "the bandwidth h0 e^(-r steps eta) falls below 1e-100 during the run",
                ));
            }
            Ok(Anneal { h0: *h0, r: *r })
        }
        _ => Err(bad("expected two numbers h0,r")),
    }
}

/// The figure, the file and the summary of `plot drift`.
pub(super) fn plot_drift(
    a: &PlotDriftArgs,
) -> Result<(crate::plot::Figure, &Path, String), Vec<Diag>> {
    use crate::plot::{Figure, Panel, Scale, Series, Stroke};
    let (p, loaded) = gaussian_law(&a.file, &a.p, "plot drift")?;
    let (q0, _) = gaussian_law(&a.file, &a.q, "plot drift")?;
    same_dimension(&p, &q0, (&a.p, &a.q))?;
    let d = p.dimension();
    if d > 2 {
        return Err(cli_error(
            codes::ANALYSIS_MOMENT_FLOW,
            format!("`plot drift` runs particles in dimension 1 or 2; p has dimension {d}"),
        ));
    }
    let (steps, n, eta) = (a.steps as usize, a.particles as usize, a.eta);
    if !(eta.is_finite() && eta > 0.0 && eta <= 1e6) {
        return Err(flow_error(FlowError::Eta(eta)));
    }
    let anneal = a
        .anneal
        .as_deref()
        .map(|t| parse_anneal(t, steps as f64 * eta))
        .transpose()?;
    let mut kernels = Vec::new();
    for name in &a.kernel {
        let k = find_kernel(&loaded, name)?;
        if let Kernel::Radial(_) = k.kernel {
            return Err(vec![
                Diag::new(
                    codes::ANALYSIS_MOMENT_FLOW,
                    format!(
                        "kernel `{name}` is radial: `plot drift` runs Gaussian and Laplace kernels"
                    ),
                )
                .with_label(k.span, "a radial kernel")
                .in_source(&loaded.file),
            ]);
        }
        kernels.push(k.clone());
    }
    let runs = kernels.len() * if anneal.is_some() { 2 } else { 1 };
    let work = runs as f64 * steps as f64 * n as f64 * 2.0 * n as f64 * d as f64;
    if work > particles::WORK {
        return Err(cli_error(
            codes::ANALYSIS_MOMENT_FLOW,
            format!(
                "{runs} runs of {steps} steps with {n} particles make {work:.3e} kernel evaluations, beyond the bound 1e8: take fewer steps or particles"
            ),
        ));
    }
    // KL(q || p) does not depend on the kernel: any bandwidth gives the target's KL.
    let target = Flow::new(p.clone(), 1.0, 1.0).map_err(flow_error)?;
    let mut series = Vec::new();
    let line = |label: String, kl: Vec<f64>, stroke| Series {
        label,
        points: kl
            .into_iter()
            .enumerate()
            .map(|(k, v)| (k as f64, v))
            .collect(),
        stroke,
        markers: false,
    };
    let mut finals = Vec::new();
    let mut described: Vec<String> = Vec::new();
    for named in &kernels {
        let (key, b) = match named.kernel {
            Kernel::Gaussian { h } => ("h", h),
            Kernel::Laplace { tau } => ("tau", tau),
            Kernel::Radial(_) => unreachable!("refused above"),
        };
        let family = named.kernel.family();
        described.push(format!("{} {family} {key} = {}", named.name, short(b)));
        let mut schedules = vec![(None, named.name.clone())];
        if let Some(an) = anneal {
            schedules.push((Some(an), format!("{} annealed", named.name)));
        }
        for (sched, label) in schedules {
            let kl = particles::run(&target, &q0, &named.kernel, sched, eta, steps, n, a.seed);
            if kl.iter().any(|v| v.is_nan()) {
                return Err(flow_error(FlowError::NotFinite));
            }
            let last = match kl.last() {
                Some(v) if v.is_finite() => format!("{v:.3e}"),
                _ => "inf (the particles collapsed)".to_owned(),
            };
            let stopped = if kl.len() <= steps {
                format!(" (stopped at step {}: beyond 1e150)", kl.len())
            } else {
                String::new()
            };
            finals.push(format!("{label}: {last}{stopped}"));
            let stroke = if sched.is_some() {
                Stroke::Dashed
            } else {
                Stroke::Solid
            };
            series.push(line(format!("{label}, particles"), kl, stroke));
            if let Kernel::Gaussian { h } = named.kernel {
                // The exact population law under the same steps (flow.rs).
                let mut q = q0.clone();
                let mut kl = vec![target.kl(&q)];
                for k in 0..steps {
                    let hk = sched.map_or(h, |s| s.h0 * (-s.r * k as f64 * eta).exp());
                    let flow = Flow::new(p.clone(), hk, 1.0).map_err(flow_error)?;
                    q = flow.step(&q, eta).map_err(flow_error)?;
                    if !q.mean.iter().chain(q.cov.iter()).all(|v| v.abs() <= 1e150) {
                        break;
                    }
                    kl.push(flow.kl(&q));
                }
                series.push(line(format!("{label}, exact"), kl, stroke));
            }
        }
    }
    let figure = Figure {
        title: format!(
            "drifting q_0 = {} towards p = {} (d = {d}), eta = {eta}, {n} particles, seed {}",
            a.q, a.p, a.seed
        ),
        panels: vec![Panel {
            title: format!(
                "KL(moment-matched q_k || p); {}{}",
                described.join(", "),
                anneal.map_or_else(String::new, |an| format!(
                    "; annealed: h0 = {}, r = {}",
                    an.h0, an.r
                ))
            ),
            x_label: "step k".to_owned(),
            y_label: "KL".to_owned(),
            x_scale: Scale::Linear,
            y_scale: Scale::Log,
            series,
        }],
    };
    let summary = format!("KL after {steps} steps: {}", finals.join("; "));
    Ok((figure, &a.out, summary))
}
