//! `diffsym asymptotics`: KL(src||out) of DDIM as a series in 1/N (in N^(-1/q) and ln N at
//! a singular end), derived symbolically, and checked against the exact KL.

use std::fmt::Write as _;

use num_rational::Rational64;
use serde::Serialize;

use super::args::{self, Params, Target};
use super::output::{Format, Outcome, Report, kl_text, text_or_json};
use crate::analysis::{self, Sampler};
use crate::diag::{Diag, codes};
use crate::expr::{eval, print};

/// `diffsym asymptotics FILE --process P --source S --sampler ddim --order K`
#[derive(clap::Args, Debug)]
pub(super) struct AsymptoticsArgs {
    #[command(flatten)]
    target: Target,
    /// The sampler; the expansion is derived for ddim (uniform grid, from the prior at t = 1)
    #[arg(long, default_value = "ddim", value_parser = args::sampler())]
    sampler: Sampler,
    /// Highest power of 1/N kept, from 2 to 8 (with ln N factors and fractional powers
    /// below it where the angle is singular at an end)
    #[arg(long, default_value_t = 4)]
    order: usize,
    /// Output format (the JSON keys are stable)
    #[arg(long, default_value = "text", value_parser = text_or_json())]
    format: Format,
    #[command(flatten)]
    params: Params,
}

/// What `asymptotics` reports (its JSON keys are part of the command-line contract).
#[derive(Serialize)]
struct AsymptoticsReport {
    process: String,
    source: String,
    #[serde(skip)]
    dimension: usize,
    sampler: String,
    order: usize,
    /// Ends of [0, 1] where the angle is singular: `{"t": 0, "q": 2}` for phi ~ t^(1/2)
    singular_ends: Vec<SingularEnd>,
    coefficients: Vec<CoefficientRow>,
    /// The first omitted term, N^-power (ln N)^log_power
    remainder: Power,
    integrals: Vec<IntegralRow>,
    check: Vec<CheckRow>,
}

#[derive(Serialize)]
struct SingularEnd {
    t: u8,
    q: u32,
}

#[derive(Serialize)]
struct Power {
    power: serde_json::Number,
    log_power: u32,
    /// `N^-5/2 ln^2 N`
    #[serde(skip)]
    label: String,
}

#[derive(Serialize)]
struct CoefficientRow {
    power: serde_json::Number,
    log_power: u32,
    value: f64,
    expr: String,
    latex: String,
    exact: bool,
    /// Estimated absolute error (0 for an exact coefficient)
    error: f64,
    /// `c_2` for a coefficient of a series in 1/N, else the term (`N^-2 ln N`)
    #[serde(skip)]
    label: String,
    /// Whether the coefficient is a formula (a series in 1/N), not only a number
    #[serde(skip)]
    symbolic: bool,
}

#[derive(Serialize)]
struct IntegralRow {
    name: String,
    integrand: String,
    value: f64,
    error: f64,
}

#[derive(Serialize)]
struct CheckRow {
    steps: usize,
    kl_exact: f64,
    kl_expansion: f64,
    /// log2 of the ratio of the expansion's errors at N/2 and N
    observed_order: Option<f64>,
    /// The same ratio for the first omitted term
    expected_order: f64,
}

/// A rational power as a JSON number: an integer where it is one (2, not 2.0).
fn json_power(p: Rational64) -> serde_json::Number {
    if p.is_integer() {
        serde_json::Number::from(p.to_integer())
    } else {
        serde_json::Number::from_f64(*p.numer() as f64 / *p.denom() as f64)
            .unwrap_or_else(|| serde_json::Number::from(0))
    }
}

/// `N^-5/2 ln^2 N`: the term of a power of N and of ln N.
fn term_label(p: Rational64, log_power: u32) -> String {
    let mut s = format!("N^-{p}");
    match log_power {
        0 => {}
        1 => s.push_str(" ln N"),
        l => {
            let _ = write!(s, " ln^{l} N");
        }
    }
    s
}

pub(super) fn run(a: &AsymptoticsArgs) -> Result<Outcome, Vec<Diag>> {
    if a.sampler != Sampler::Ddim {
        return Err(vec![
            Diag::new(
                codes::CLI_SAMPLER,
                format!("no expansion is derived for `{}` yet", a.sampler.name()),
            )
            .with_help("asymptotics derives the DDIM expansion; `diffsym kl` gives the exact KL of every sampler"),
        ]);
    }
    let (mut pool, p, source, at_process) = a.target.load(&a.params)?;
    let exp = analysis::ddim_expansion(&mut pool, &p, &source.eigenvalues, a.order)
        .map_err(&at_process)?;
    let sched = analysis::ProcessSchedule::new(&pool, &p).map_err(&at_process)?;
    let check = analysis::asymptotics::check_against_exact(&exp, &sched, &source)?;
    let numeric = |v: f64| eval::format_f64(v);
    let report = AsymptoticsReport {
        process: p.name.clone(),
        source: source.name.clone(),
        dimension: source.dimension(),
        sampler: a.sampler.name().to_owned(),
        order: a.order,
        singular_ends: exp
            .singular_ends
            .iter()
            .map(|&(t, q)| SingularEnd { t, q })
            .collect(),
        coefficients: exp
            .coefficients
            .iter()
            .map(|c| CoefficientRow {
                power: json_power(c.power),
                log_power: c.log_power,
                value: c.value,
                expr: c
                    .expr
                    .map_or_else(|| numeric(c.value), |e| print::to_text(&pool, e)),
                latex: c
                    .expr
                    .map_or_else(|| numeric(c.value), |e| print::to_latex(&pool, e)),
                exact: c.exact,
                error: c.error,
                label: match c.expr {
                    Some(_) => format!("c_{}", c.power),
                    None => term_label(c.power, c.log_power),
                },
                symbolic: c.expr.is_some(),
            })
            .collect(),
        remainder: Power {
            power: json_power(exp.remainder.power),
            log_power: exp.remainder.log_power(),
            label: term_label(exp.remainder.power, exp.remainder.log_power()),
        },
        integrals: exp
            .integrals
            .iter()
            .map(|i| IntegralRow {
                name: i.name.clone(),
                integrand: print::to_text(&pool, i.integrand),
                value: i.value,
                error: i.error,
            })
            .collect(),
        check: check
            .into_iter()
            .map(|r| CheckRow {
                steps: r.steps,
                kl_exact: r.kl_exact,
                kl_expansion: r.kl_expansion,
                observed_order: r.observed_order,
                expected_order: r.expected_order,
            })
            .collect(),
    };
    Ok(Outcome::ok(report.render(a.format)))
}

impl Report for AsymptoticsReport {
    fn text(&self) -> String {
        let mut s = format!(
            "process {}, source {} (d = {}), sampler {}, uniform grid on [0, 1] from the prior\n",
            self.process, self.source, self.dimension, self.sampler,
        );
        let remainder = &self.remainder.label;
        if self.singular_ends.is_empty() {
            let _ = writeln!(s, "KL(src||out) = sum_p c_p N^-p + O({remainder}):");
        } else {
            for end in &self.singular_ends {
                let (t, q) = (end.t, end.q);
                let d = if t == 0 { "t" } else { "(1 - t)" };
                let _ = writeln!(
                    s,
                    "the angle is singular at t = {t}: phi ~ {d}^(1/{q}), a series in N^(-1/{q}) with ln N terms"
                );
            }
            let _ = writeln!(s, "KL(src||out) = sum of these terms + O({remainder}):");
        }
        for c in &self.coefficients {
            let error = c.error.max(f64::MIN_POSITIVE);
            if c.symbolic {
                let how = if c.exact {
                    format!("= {}", c.expr)
                } else {
                    format!("(quadrature, error < {error:.1e})")
                };
                let _ = writeln!(s, "  {} = {}  {how}", c.label, eval::format_f64(c.value));
            } else {
                let _ = writeln!(
                    s,
                    "  {:<16} {:>24}  (error < {error:.1e})",
                    c.label,
                    eval::format_f64(c.value),
                );
            }
        }
        for i in &self.integrals {
            let _ = writeln!(
                s,
                "  {} = int_0^1 {} dt = {} +- {:.1e}",
                i.name,
                i.integrand,
                eval::format_f64(i.value),
                i.error
            );
        }
        let _ = writeln!(
            s,
            "{:>8}  {:>23}  {:>23}  {:>10}  {:>8}  {:>8}",
            "steps", "exact KL", "expansion", "rel. diff", "order", "expected"
        );
        for r in &self.check {
            let rel = ((r.kl_exact - r.kl_expansion) / r.kl_exact).abs();
            let order = r
                .observed_order
                .map_or_else(|| "-".to_owned(), |o| format!("{o:.2}"));
            let _ = writeln!(
                s,
                "{:>8}  {:>23}  {:>23}  {:>10.1e}  {:>8}  {:>8.2}",
                r.steps,
                kl_text(r.kl_exact),
                kl_text(r.kl_expansion),
                rel,
                order,
                r.expected_order
            );
        }
        s
    }
}
