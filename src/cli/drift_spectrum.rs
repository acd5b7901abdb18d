//! `diffsym drift-spectrum`: the linearised decay rate gamma(xi) of kernel drifting around a
//! uniform background, its timescales, and the damping accumulated under bandwidth
//! annealing (docs/theory.md section 8).

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::load::load_kernels;
use super::output::{Format, Outcome, Report, cli_error, text_or_json};
use crate::analysis::drift::spectrum::{self, Anneal, Method, SpectrumError};
use crate::analysis::drift::{Kernel, NamedKernel};
use crate::diag::{Diag, codes};

/// Most frequencies per run for the closed forms, and for the numerical radial transform
/// (each up to 20000 Gauss panels): the work bound.
const MAX_XI: usize = 10_000;
const MAX_XI_NUMERIC: usize = 64;

/// `diffsym drift-spectrum FILE --kernel K --xi a,b,c --dimension d [--anneal h0,r,T]`
#[derive(clap::Args, Debug)]
pub(super) struct DriftSpectrumArgs {
    /// The .dsym file that declares the kernel (`kernel K = laplace(tau = 0.7);`); no source
    /// or process is needed
    file: PathBuf,
    /// The kernel, a `gaussian`, `laplace` or `radial` kernel of FILE
    #[arg(long)]
    kernel: String,
    /// Frequencies |xi| >= 0, comma-separated (may be repeated); at most 10000, or 64 for a
    /// radial profile
    #[arg(long, required = true, allow_hyphen_values = true)]
    xi: Vec<String>,
    /// The dimension d: 1 to 1000 for the closed forms (Gaussian, Laplace), 1 to 3 for a
    /// radial profile
    #[arg(long)]
    dimension: usize,
    /// Bandwidth annealing h(t) = h0 exp(-r t) for t in [0, T], as h0,r,T (for a Laplace
    /// kernel h is tau): reports int_0^T gamma dt against fixed bandwidths h0 and h(T)
    #[arg(long, allow_hyphen_values = true)]
    anneal: Option<String>,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text", value_parser = text_or_json())]
    format: Format,
}

/// What `drift-spectrum` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct SpectrumReport {
    kernel: String,
    /// `gaussian`, `laplace` or `radial`.
    family: &'static str,
    /// h (Gaussian) or tau (Laplace); null for a radial profile.
    bandwidth: Option<f64>,
    dimension: usize,
    /// `closed form` or `quadrature` (then `gamma_error` holds the estimates).
    method: &'static str,
    /// The closed form of gamma, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    formula: Option<&'static str>,
    xi: Vec<f64>,
    gamma: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gamma_error: Option<Vec<f64>>,
    /// 1/gamma; null where the mode does not decay (gamma = 0 to f64 precision, or not
    /// above its error estimate).
    timescale: Vec<Option<f64>>,
    /// The largest rate and where it is reached (closed forms only).
    #[serde(skip_serializing_if = "Option::is_none")]
    peak: Option<Peak>,
    /// With --anneal.
    #[serde(skip_serializing_if = "Option::is_none")]
    accumulated: Option<AccumulatedReport>,
}

#[derive(Serialize)]
struct Peak {
    xi: f64,
    gamma: f64,
}

#[derive(Serialize)]
struct AccumulatedReport {
    h0: f64,
    r: f64,
    #[serde(rename = "T")]
    t: f64,
    /// h0 exp(-r T).
    #[serde(rename = "h_T")]
    h_final: f64,
    /// int_0^T gamma(xi; h(t)) dt, per frequency.
    annealed: Vec<f64>,
    /// T gamma(xi; h0).
    fixed: Vec<f64>,
    /// T gamma(xi; h(T)).
    fixed_final: Vec<f64>,
}

impl Report for SpectrumReport {
    fn text(&self) -> String {
        let bw = match (self.family, self.bandwidth) {
            ("gaussian", Some(h)) => format!("gaussian(h = {h})"),
            ("laplace", Some(t)) => format!("laplace(tau = {t})"),
            _ => "radial(profile)".to_owned(),
        };
        let mut s = format!("kernel {} = {bw}, d = {}\n", self.kernel, self.dimension);
        match self.formula {
            Some(f) => {
                let _ = writeln!(s, "gamma(xi) = {f} (closed form)");
            }
            None => {
                let _ = writeln!(
                    s,
                    "gamma(xi) = |xi|^2 Phi_hat(xi)/Z by a radial Fourier transform (quadrature, with error estimates)"
                );
            }
        }
        if let Some(p) = &self.peak {
            let _ = writeln!(s, "largest rate {:.16e} at xi = {:.16e}", p.gamma, p.xi);
        }
        let cell = |v: Option<f64>| v.map_or_else(|| "none".to_owned(), |v| format!("{v:.16e}"));
        match &self.gamma_error {
            None => {
                let _ = writeln!(s, "{:>24}  {:>24}  {:>24}", "xi", "gamma", "1/gamma");
                for ((xi, g), ts) in self.xi.iter().zip(&self.gamma).zip(&self.timescale) {
                    let _ = writeln!(s, "{xi:>24.16e}  {g:>24.16e}  {:>24}", cell(*ts));
                }
            }
            Some(errs) => {
                let _ = writeln!(
                    s,
                    "{:>24}  {:>24}  {:>10}  {:>24}",
                    "xi", "gamma", "error", "1/gamma"
                );
                for (((xi, g), e), ts) in self
                    .xi
                    .iter()
                    .zip(&self.gamma)
                    .zip(errs)
                    .zip(&self.timescale)
                {
                    let _ = writeln!(
                        s,
                        "{xi:>24.16e}  {g:>24.16e}  {e:>10.2e}  {:>24}",
                        cell(*ts)
                    );
                }
            }
        }
        if self.timescale.iter().any(Option::is_none) {
            let _ = writeln!(s, "(none: the mode does not decay to f64 precision)");
        }
        if let Some(a) = &self.accumulated {
            let h = if self.family == "laplace" { "tau" } else { "h" };
            let _ = writeln!(
                s,
                "annealing {h}(t) = {} exp(-{} t) on [0, {}], {h}(T) = {:.16e}: int_0^T gamma dt",
                a.h0, a.r, a.t, a.h_final
            );
            let _ = writeln!(
                s,
                "{:>24}  {:>24}  {:>24}  {:>24}",
                "xi",
                "annealed",
                format!("fixed {h}0"),
                format!("fixed {h}(T)")
            );
            for (k, xi) in self.xi.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{xi:>24.16e}  {:>24.16e}  {:>24.16e}  {:>24.16e}",
                    a.annealed[k], a.fixed[k], a.fixed_final[k]
                );
            }
        }
        s
    }
}

fn spectrum_error(e: SpectrumError) -> Vec<Diag> {
    cli_error(codes::ANALYSIS_SPECTRUM, e.to_string())
}

/// The frequencies of the --xi flags.
fn frequencies(flags: &[String]) -> Result<Vec<f64>, Vec<Diag>> {
    let mut out = Vec::new();
    for flag in flags {
        for part in flag.split(',') {
            let v = part.trim().parse::<f64>().map_err(|_| {
                cli_error(
                    codes::ANALYSIS_SPECTRUM,
                    format!("--xi {flag}: `{}` is not a number", part.trim()),
                )
            })?;
            spectrum::check_frequency(v).map_err(|e| {
                vec![
                    Diag::new(codes::ANALYSIS_SPECTRUM, e.to_string())
                        .with_help("a frequency is |xi|: give values >= 0"),
                ]
            })?;
            out.push(v);
            if out.len() > MAX_XI {
                return Err(cli_error(
                    codes::ANALYSIS_SPECTRUM,
                    format!("more than {MAX_XI} frequencies: the work bound"),
                ));
            }
        }
    }
    Ok(out)
}

/// The annealing of --anneal h0,r,T.
fn annealing(text: &str) -> Result<Anneal, Vec<Diag>> {
    let values: Result<Vec<f64>, _> = text.split(',').map(|v| v.trim().parse::<f64>()).collect();
    match values {
        Ok(v) if v.len() == 3 => Anneal::new(v[0], v[1], v[2]).map_err(spectrum_error),
        _ => Err(cli_error(
            codes::ANALYSIS_SPECTRUM,
            format!("--anneal {text} is not three numbers h0,r,T"),
        )),
    }
}

/// The kernel named `name`, with the list of declared kernels when there is none.
fn pick(kernels: Vec<NamedKernel>, name: &str, file: &str) -> Result<NamedKernel, Vec<Diag>> {
    let names: Vec<String> = kernels.iter().map(|k| k.name.clone()).collect();
    match kernels.into_iter().find(|k| k.name == name) {
        Some(k) => Ok(k),
        None => {
            let help = if names.is_empty() {
                "declare one, e.g. `kernel K = laplace(tau = 0.7);`".to_owned()
            } else {
                format!("kernels: {}", names.join(", "))
            };
            Err(vec![
                Diag::new(
                    codes::ANALYSIS_SPECTRUM,
                    format!("no kernel named `{name}` in `{file}`"),
                )
                .with_help(help),
            ])
        }
    }
}

pub(super) fn run(a: &DriftSpectrumArgs) -> Result<Outcome, Vec<Diag>> {
    let (kernels, src) = load_kernels(&a.file)?;
    let named = pick(kernels, &a.kernel, &src.name)?;
    let kernel = &named.kernel;
    let d = a.dimension;
    spectrum::check_dimension(kernel, d).map_err(|e| {
        let diag = Diag::new(codes::ANALYSIS_SPECTRUM, e.to_string());
        vec![if matches!(kernel, Kernel::Radial(_)) {
            diag.with_help(
                "the radial transform is computed for d = 1, 2, 3; the Gaussian and Laplace kernels have closed forms in any dimension",
            )
        } else {
            diag
        }]
    })?;
    let xis = frequencies(&a.xi)?;
    if matches!(kernel, Kernel::Radial(_)) && xis.len() > MAX_XI_NUMERIC {
        return Err(cli_error(
            codes::ANALYSIS_SPECTRUM,
            format!(
                "{} frequencies for a radial profile: at most {MAX_XI_NUMERIC} (each is a numerical transform)",
                xis.len()
            ),
        ));
    }
    let anneal = match &a.anneal {
        None => None,
        Some(text) => {
            if matches!(kernel, Kernel::Radial(_)) {
                return Err(vec![
                    Diag::new(
                        codes::ANALYSIS_SPECTRUM,
                        format!(
                            "kernel `{}` is a radial profile with no bandwidth to anneal",
                            named.name
                        ),
                    )
                    .with_label(named.span, "declared here")
                    .in_source(&src)
                    .with_help("--anneal takes a `gaussian` (h) or `laplace` (tau) kernel"),
                ]);
            }
            Some(annealing(text)?)
        }
    };
    let (method, rates) = spectrum::rates(kernel, d, &xis).map_err(|e| {
        vec![
            Diag::new(
                codes::ANALYSIS_SPECTRUM,
                format!("kernel `{}`: {e}", named.name),
            )
            .with_label(named.span, "this kernel")
            .in_source(&src),
        ]
    })?;
    let accumulated = match &anneal {
        None => None,
        Some(an) => {
            let (mut annealed, mut fixed, mut fixed_final) = (Vec::new(), Vec::new(), Vec::new());
            for &xi in &xis {
                let acc = spectrum::accumulated(kernel, d, an, xi)
                    .map_err(spectrum_error)?
                    .expect("a kernel with a bandwidth");
                annealed.push(acc.annealed);
                fixed.push(acc.fixed_initial);
                fixed_final.push(acc.fixed_final);
            }
            Some(AccumulatedReport {
                h0: an.h0,
                r: an.rate,
                t: an.duration,
                h_final: an.final_bandwidth(),
                annealed,
                fixed,
                fixed_final,
            })
        }
    };
    let gamma: Vec<f64> = rates.iter().map(|r| r.gamma).collect();
    let timescale = rates
        .iter()
        .map(|r| {
            let t = 1.0 / r.gamma;
            (r.gamma > r.error && t.is_finite()).then_some(t)
        })
        .collect();
    let numbers = gamma.iter().chain(rates.iter().map(|r| &r.error)).chain(
        accumulated
            .iter()
            .flat_map(|a| a.annealed.iter().chain(&a.fixed).chain(&a.fixed_final)),
    );
    if let Some(bad) = numbers.into_iter().find(|v| !v.is_finite()) {
        return Err(cli_error(
            codes::ANALYSIS_SPECTRUM,
            format!("a value of the spectrum is not finite ({bad}): it leaves the range of f64"),
        ));
    }
    let (bandwidth, formula) = match kernel {
        Kernel::Gaussian { h } => (Some(*h), Some("h^2 xi^2 exp(-h^2 xi^2/2)")),
        Kernel::Laplace { tau } => (
            Some(*tau),
            Some("(d + 1) tau^2 xi^2 (1 + tau^2 xi^2)^(-(d + 3)/2)"),
        ),
        Kernel::Radial(_) => (None, None),
    };
    let report = SpectrumReport {
        kernel: named.name.clone(),
        family: kernel.family(),
        bandwidth,
        dimension: d,
        method: match method {
            Method::ClosedForm => "closed form",
            Method::Quadrature => "quadrature",
        },
        formula,
        xi: xis,
        gamma,
        gamma_error: (method == Method::Quadrature)
            .then(|| rates.iter().map(|r| r.error).collect()),
        timescale,
        peak: spectrum::peak(kernel, d).map(|(xi, gamma)| Peak { xi, gamma }),
        accumulated,
    };
    Ok(Outcome::ok(report.render(a.format)))
}
