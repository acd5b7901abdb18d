//! `diffsym derive FILE --source M [--process P]`: a small mixture's marginal in closed
//! form, symbolic in x and t, for every process (alpha and sigma unspecified) or for P.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::load::load_analysis;
use super::output::{Format, Outcome, cli_error, json};
use super::stiffness::mixture_of;
use crate::analysis::mixture_symbolic::{self, ClosedForms};
use crate::diag::{Diag, codes};
use crate::expr::{ExprId, Pool, print};

#[derive(Serialize)]
struct Formula {
    name: String,
    text: String,
    latex: String,
}

#[derive(Serialize)]
struct JsonMixture {
    source: String,
    /// The process the forms are specialised to; null: every process, alpha(t) and
    /// sigma(t) left unspecified.
    process: Option<String>,
    dimension: usize,
    components: usize,
    args: Vec<String>,
    log_density: Formula,
    score: Vec<Formula>,
    /// The upper triangle, row by row (the Hessian is symmetric).
    hessian: Vec<Formula>,
    pf_velocity: Vec<Formula>,
    /// The upper triangle, row by row (the Jacobian is symmetric).
    pf_jacobian: Vec<Formula>,
}

/// The named formulas, in the order they print: log p, the score, the Hessian's upper
/// triangle, the velocity, the Jacobian's upper triangle.
fn rows(forms: &ClosedForms) -> Vec<(String, String, ExprId)> {
    let mut out = vec![(
        "log_p".to_owned(),
        "\\log p_t".to_owned(),
        forms.log_density,
    )];
    let vector = |out: &mut Vec<_>, name: &str, latex: &dyn Fn(usize) -> String, v: &[ExprId]| {
        for (i, &e) in v.iter().enumerate() {
            out.push((format!("{name}_{}", i + 1), latex(i + 1), e));
        }
    };
    let upper = |out: &mut Vec<_>,
                 name: &str,
                 latex: &dyn Fn(usize, usize) -> String,
                 m: &[Vec<ExprId>]| {
        for (i, row) in m.iter().enumerate() {
            for (j, &e) in row.iter().enumerate().skip(i) {
                out.push((
                    format!("{name}_{}_{}", i + 1, j + 1),
                    latex(i + 1, j + 1),
                    e,
                ));
            }
        }
    };
    vector(
        &mut out,
        "score",
        &|i| format!("\\partial_{{x_{i}}} \\log p_t"),
        &forms.score,
    );
    upper(
        &mut out,
        "hessian",
        &|i, j| format!("\\partial_{{x_{i}}} \\partial_{{x_{j}}} \\log p_t"),
        &forms.hessian,
    );
    vector(
        &mut out,
        "pf_velocity",
        &|i| format!("v_{{{i}}}"),
        &forms.velocity,
    );
    upper(
        &mut out,
        "pf_jacobian",
        &|i, j| format!("\\partial_{{x_{j}}} v_{{{i}}}"),
        &forms.jacobian,
    );
    out
}

pub(super) fn run(
    file: &Path,
    source: &str,
    process: Option<&str>,
    params: &[String],
    format: Format,
) -> Result<Outcome, Vec<Diag>> {
    let mut loaded = load_analysis(file, process, Some(source), params)?;
    let mixture = mixture_of(&mut loaded)?;
    let mut pool: Pool = std::mem::take(&mut loaded.pool);
    let (alpha, sigma) = match &loaded.process {
        Some(p) => match (p.quantity("alpha"), p.quantity("sigma")) {
            (Some(a), Some(s)) => (a, s),
            _ => {
                return Err(cli_error(
                    codes::CLI_PROCESS,
                    format!("process `{}` has no alpha and sigma", p.name),
                ));
            }
        },
        None => mixture_symbolic::generic_schedule(&mut pool),
    };
    // Within one process's allowances: simplification that would take longer leaves the
    // forms exact but less simplified (karras_ve's schedule and a full 3 x 3 covariance
    // of long fractions took 41 s without them).
    let forms = crate::process::within_allowances(|| {
        mixture_symbolic::closed_forms(&mut pool, &mixture, alpha, sigma)
    })
    .map_err(|e| cli_error(codes::CLI_SOURCE, e.to_string()))?;
    let args: Vec<String> = forms
        .xs
        .iter()
        .map(|&s| pool.symbol_name(s).to_owned())
        .chain(["t".to_owned()])
        .collect();
    let named = rows(&forms);
    let under = match process {
        Some(p) => format!("under process {p}"),
        None => "for every process (alpha(t) and sigma(t) unspecified)".to_owned(),
    };
    let (d, k) = (mixture.dimension, mixture.components.len());
    let stdout = match format {
        Format::Text => {
            let mut s = format!("mixture {source} (d = {d}, K = {k}) {under}\n");
            for (name, _, e) in &named {
                let _ = writeln!(
                    s,
                    "  {name}({}) = {}",
                    args.join(", "),
                    print::to_text(&pool, *e)
                );
            }
            s
        }
        Format::Latex => {
            let mut s =
                format!("% mixture {source} (d = {d}, K = {k}) {under}\n\\begin{{align*}}\n");
            let lines: Vec<String> = named
                .iter()
                .map(|(_, symbol, e)| format!("{symbol} &= {}", print::to_latex(&pool, *e)))
                .collect();
            s.push_str(&lines.join(" \\\\\n"));
            s.push_str("\n\\end{align*}\n");
            s
        }
        Format::Json => {
            let formula = |(name, _, e): &(String, String, ExprId)| Formula {
                name: name.clone(),
                text: print::to_text(&pool, *e),
                latex: print::to_latex(&pool, *e),
            };
            let pick = |prefix: &str| -> Vec<Formula> {
                named
                    .iter()
                    .filter(|(n, _, _)| n.starts_with(prefix))
                    .map(formula)
                    .collect()
            };
            json(&JsonMixture {
                source: source.to_owned(),
                process: process.map(str::to_owned),
                dimension: d,
                components: k,
                args,
                log_density: formula(&named[0]),
                score: pick("score_"),
                hessian: pick("hessian_"),
                pf_velocity: pick("pf_velocity_"),
                pf_jacobian: pick("pf_jacobian_"),
            })
        }
    };
    Ok(Outcome { stdout, code: 0 })
}
