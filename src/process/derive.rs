//! Derived quantities of a process: from alpha and sigma to f, g2, lambda and the rest
//! (docs/theory.md section 1), and the resolution of the shorthand forms of a process.

use super::{Process, time_symbol};
use crate::diag::Span;
use crate::diag::{Diag, codes};
use crate::expr::{ExprId, Func, Pool, diff, simplify, subst};

/// The derived scalar quantities, with their names and LaTeX symbols: the one source
/// `derive`, `eval`, `emit`, asserts and the fuzzer ask. Names are fixed (the CLI, JSON and
/// generated code use them); [`Quantity::ALL`] is the order they are printed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    Alpha,
    Sigma,
    AlphaBar,
    F,
    G2,
    G,
    Lambda,
    Dlambda,
    LogSnr,
    Snr,
    Rho,
}

impl Quantity {
    pub const ALL: [Quantity; 11] = [
        Quantity::Alpha,
        Quantity::Sigma,
        Quantity::AlphaBar,
        Quantity::F,
        Quantity::G2,
        Quantity::G,
        Quantity::Lambda,
        Quantity::Dlambda,
        Quantity::LogSnr,
        Quantity::Snr,
        Quantity::Rho,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Quantity::Alpha => "alpha",
            Quantity::Sigma => "sigma",
            Quantity::AlphaBar => "alpha_bar",
            Quantity::F => "f",
            Quantity::G2 => "g2",
            Quantity::G => "g",
            Quantity::Lambda => "lambda",
            Quantity::Dlambda => "dlambda",
            Quantity::LogSnr => "log_snr",
            Quantity::Snr => "snr",
            Quantity::Rho => "rho",
        }
    }

    pub fn from_name(name: &str) -> Option<Quantity> {
        Quantity::ALL.into_iter().find(|q| q.name() == name)
    }

    /// Its symbol in LaTeX (its name in the papers).
    pub fn latex(self) -> &'static str {
        match self {
            Quantity::Alpha => "\\alpha",
            Quantity::Sigma => "\\sigma",
            Quantity::AlphaBar => "\\bar{\\alpha}",
            Quantity::F => "f",
            Quantity::G2 => "g^{2}",
            Quantity::G => "g",
            Quantity::Lambda => "\\lambda",
            Quantity::Dlambda => "\\dot{\\lambda}",
            Quantity::LogSnr => "\\log\\mathrm{SNR}",
            Quantity::Snr => "\\mathrm{SNR}",
            Quantity::Rho => "\\rho",
        }
    }
}

/// A process's derived quantities, each a simplified function of `t`.
#[derive(Clone, Debug)]
pub struct Derived {
    /// `(name, expression)` in the order of [`Quantity::ALL`].
    pub quantities: Vec<(&'static str, ExprId)>,
    /// Written in a variance-preserving shorthand (`alpha_bar`, `beta`, `log_snr`), so
    /// alpha^2 + sigma^2 = 1 by construction.
    pub vp_by_construction: bool,
}

impl Derived {
    pub fn get(&self, name: &str) -> Option<ExprId> {
        self.quantities
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, e)| e)
    }
}

/// The body of a one-argument definition as a function of `t`.
fn of_t(pool: &mut Pool, p: &Process, name: &str) -> Option<ExprId> {
    let d = p.def(name)?;
    if d.template_args.len() != 1 {
        return None;
    }
    let t = time_symbol(pool);
    let te = pool.sym_expr(t);
    Some(d.apply(pool, &[te]))
}

/// alpha(t) and sigma(t) of a process, from whichever form it was written in, and whether
/// that form is variance preserving by construction.
pub fn resolve(pool: &mut Pool, p: &Process) -> Result<(ExprId, ExprId, bool), Box<Diag>> {
    let (alpha, sigma) = resolve_forms(pool, p).map_err(Box::new)?;
    let vp = p.def("alpha").is_none() && p.def("sigma").is_none();
    Ok((alpha, sigma, vp))
}

#[allow(
    clippy::result_large_err,
    reason = "private; the public `resolve` boxes the error"
)]
fn resolve_forms(pool: &mut Pool, p: &Process) -> Result<(ExprId, ExprId), Diag> {
    let has = |n: &str| p.def(n).is_some();
    let given: Vec<&str> = ["alpha", "sigma", "alpha_bar", "beta", "log_snr"]
        .into_iter()
        .filter(|n| has(n))
        .collect();
    let t = time_symbol(pool);
    let te = pool.sym_expr(t);
    let one = pool.one();
    let err = |msg: String, help: &str| {
        Diag::new(codes::PROCESS_UNDERDETERMINED, msg)
            .with_label(p.span, "in this process")
            .with_help(help)
    };
    for name in &given {
        let d = p.def(name).expect("listed because defined");
        if d.args.len() != 1 {
            return Err(Diag::new(
                codes::PROCESS_ARITY,
                format!("`{name}` must be a function of one argument, t"),
            )
            .with_label(d.span, "defined here"));
        }
    }
    let (alpha, sigma) = match (has("alpha"), has("sigma")) {
        (true, true) => {
            if let Some(extra) = given.iter().find(|n| ["alpha_bar", "log_snr"].contains(n)) {
                return Err(ambiguous(p, extra));
            }
            let a = of_t(pool, p, "alpha").expect("defined");
            let s = of_t(pool, p, "sigma").expect("defined");
            (a, s)
        }
        (true, false) => {
            return Err(err(
                "the process gives `alpha` but not `sigma`".into(),
                "define `sigma(t)` too (for a VP process, `sigma(t) = sqrt(1 - alpha(t)^2)`)",
            ));
        }
        (false, true) if given.len() == 1 => {
            let s = of_t(pool, p, "sigma").expect("defined");
            (one, s)
        }
        (false, true) => {
            return Err(ambiguous(
                p,
                given.iter().find(|n| **n != "sigma").expect("two given"),
            ));
        }
        (false, false) => match given.as_slice() {
            ["alpha_bar"] => {
                let ab = of_t(pool, p, "alpha_bar").expect("defined");
                let a = pool.sqrt(ab);
                let r = pool.sub(one, ab);
                let s = pool.sqrt(r);
                (a, s)
            }
            ["beta"] => {
                let beta = of_t(pool, p, "beta").expect("defined");
                let s = pool.fresh_symbol("s");
                let se = pool.sym_expr(s);
                let integrand = subst::subst1(pool, beta, t, se);
                let zero = pool.zero();
                let b = crate::expr::named::integrate_or_name(pool, integrand, s, zero, te)
                    .map_err(|e| {
                        Diag::new(
                            codes::PROCESS_INTEGRATE,
                            format!("cannot integrate beta in closed form: {e}"),
                        )
                        .with_label(
                            p.def("beta").map_or(p.span, |d| d.span),
                            "beta defined here",
                        )
                        .with_help("define `alpha(t)` and `sigma(t)` directly")
                    })?;
                let mh = pool.frac(-1, 2);
                let arg = pool.mul(vec![mh, b]);
                let a = pool.call(Func::Exp, arg);
                let a2 = pool.powi(a, 2);
                let r = pool.sub(one, a2);
                let s = pool.sqrt(r);
                (a, s)
            }
            ["log_snr"] => {
                let l = of_t(pool, p, "log_snr").expect("defined");
                let sa = pool.call(Func::Sigmoid, l);
                let nl = pool.neg(l);
                let ss = pool.call(Func::Sigmoid, nl);
                let a = pool.sqrt(sa);
                let s = pool.sqrt(ss);
                (a, s)
            }
            [] => {
                return Err(err(
                    "the process defines neither `alpha` and `sigma` nor a shorthand".into(),
                    "define `alpha(t)` and `sigma(t)`, or only one of `alpha_bar(t)` (VP), `beta(t)` (VP), `sigma(t)` (VE), `log_snr(t)` (VP)",
                ));
            }
            [first, ..] => return Err(ambiguous(p, first)),
        },
    };
    Ok((alpha, sigma))
}

fn ambiguous(p: &Process, name: &str) -> Diag {
    let span: Span = p.def(name).map_or(p.span, |d| d.span);
    Diag::new(
        codes::PROCESS_AMBIGUOUS,
        format!("`{name}` together with the other definitions over-determines the process"),
    )
    .with_label(span, "conflicting definition")
    .with_help("give `alpha` and `sigma`, or exactly one of the shorthands `alpha_bar`, `beta`, `sigma` (VE), `log_snr`")
}

/// The log-SNR of a process written in that shorthand alone (alpha and sigma are then
/// derived from it), as a function of t; None for any other process.
fn log_snr_given(pool: &mut Pool, p: &Process) -> Option<ExprId> {
    let shorthand_only = ["alpha", "sigma", "alpha_bar", "beta"]
        .iter()
        .all(|n| p.def(n).is_none());
    if shorthand_only {
        of_t(pool, p, "log_snr")
    } else {
        None
    }
}

/// Derives every quantity of [`Quantity::ALL`] from alpha and sigma, simplified.
pub fn derive(pool: &mut Pool, p: &Process) -> Result<Derived, Box<Diag>> {
    let (alpha, sigma, vp_by_construction) = resolve(pool, p)?;
    let t = time_symbol(pool);
    let s = |pool: &mut Pool, e: ExprId| simplify::simplify(pool, e);
    let alpha = s(pool, alpha);
    let sigma = s(pool, sigma);
    let da = diff::diff(pool, alpha, t);
    let ds = diff::diff(pool, sigma, t);
    let a2 = pool.powi(alpha, 2);
    let s2 = pool.powi(sigma, 2);
    let alpha_bar = s(pool, a2);
    // f = alpha'/alpha
    let f_raw = pool.div(da, alpha);
    let f = s(pool, f_raw);
    // g2 = 2 sigma sigma' - 2 f sigma^2
    let two = pool.int(2);
    let m2 = pool.int(-2);
    let t1 = pool.mul(vec![two, sigma, ds]);
    let t2 = pool.mul(vec![m2, f_raw, s2]);
    let g2_raw = pool.add(vec![t1, t2]);
    let g2 = s(pool, g2_raw);
    let g_raw = pool.sqrt(g2);
    let g = s(pool, g_raw);
    // lambda = log(alpha/sigma); for a process given by its log-SNR `l`, `l/2` itself:
    // `log(sqrt(sigmoid(l))/sqrt(sigmoid(-l)))` is the same number, but the simplifier
    // does not always see through it, and computed as written it cancels near a root of
    // `l` (`l = 8.461 (1 - 2t)^3` lost every digit at t = 0.4999999998835847).
    let lambda_raw = match log_snr_given(pool, p) {
        Some(l) => {
            let half = pool.frac(1, 2);
            pool.mul(vec![half, l])
        }
        None => {
            let ratio = pool.div(alpha, sigma);
            pool.call(Func::Log, ratio)
        }
    };
    let lambda = s(pool, lambda_raw);
    let dl_raw = diff::diff(pool, lambda, t);
    let dlambda = s(pool, dl_raw);
    let ls_raw = pool.mul(vec![two, lambda]);
    let log_snr = s(pool, ls_raw);
    let snr_raw = pool.div(a2, s2);
    let snr = s(pool, snr_raw);
    let rho_raw = pool.div(sigma, alpha);
    let rho = s(pool, rho_raw);
    Ok(Derived {
        quantities: Quantity::ALL
            .into_iter()
            .zip([
                alpha, sigma, alpha_bar, f, g2, g, lambda, dlambda, log_snr, snr, rho,
            ])
            .map(|(q, e)| (q.name(), e))
            .collect(),
        vp_by_construction,
    })
}
