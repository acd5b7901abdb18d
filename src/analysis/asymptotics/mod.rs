//! Euler-Maclaurin asymptotics of the DDIM KL in the number of steps N (docs/theory.md section 5),
//! derived symbolically from the process.
//!
//! On a Gaussian source, DDIM from the prior at `alpha(1) = 0` on the uniform grid scales
//! direction i by `r_i = prod_k cos^2(dphi_k)`, `phi = atan(rho/sqrt(lambda_i))`, so
//! `u_i = -ln r_i = sum_k g(dphi_k)` with `g(x) = -2 ln cos x` and
//! `KL(src||out) = sum_i (e^u_i - 1 - u_i)/2`. The engine expands, with `h = 1/N`:
//!
//! 1. each angle step about its midpoint, `dphi = sum_{j odd} 2 (h/2)^j phi^(j)(m)/j!`;
//! 2. `g(dphi)` as a series in h whose coefficients `G_p(m)` are functions of the midpoint;
//! 3. each sum over the grid by the midpoint Euler-Maclaurin formula,
//!    `h sum_k G(m_k) = int_0^1 G + sum_j B_2j(1/2) h^2j/(2j)! [G^(2j-1)]_0^1`, with exact
//!    Bernoulli numbers;
//! 4. `(e^u - 1 - u)/2` as a series in h, summed over the distinct eigenvalues.
//!
//! Integrals that the integrator closes stay exact; the others become named numbers from
//! Gauss-Legendre quadrature with an error estimate. The result is `sum_p c_p N^-p`.

mod singular;
mod smooth;

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_rational::{BigRational, Rational64};
use num_traits::{One, Signed, ToPrimitive};

use super::Schedule;
use super::exact::{bernoulli, simplest_rational};
use super::numerics::Sum;
use super::quadrature::{Estimate, quadrature};
use crate::diag::{Diag, codes};
use crate::expr::simplify::Simplifier;
use crate::expr::{ExprId, Pool, Symbol, ball, hp};
use crate::process::{Process, time_symbol};
use singular::{Approx, LogSeries, SingularEnd};
use smooth::*;

/// Integrands and boundary terms larger than this (by [`simplify::complexity`]) are
/// neither simplified nor integrated in closed form, but integrated numerically: rational
/// normalisation of large trigonometric sums costs seconds.
const SIMPLIFY_UP_TO: usize = 400;

/// The most bits spent certifying an exact coefficient's correctly rounded value.
const CERTIFY_BITS: usize = 4096;

/// The highest order `ddim_expansion` derives.
pub const MAX_ORDER: usize = 8;

/// An integral the integrator did not close, evaluated by quadrature.
#[derive(Clone, Debug)]
pub struct Integral {
    /// The symbol standing for it in coefficient expressions (`I1`, `I2`, ...).
    pub symbol: Symbol,
    pub name: String,
    /// The integrand, a function of `t`, integrated over [0, 1].
    pub integrand: ExprId,
    pub value: f64,
    /// Estimated absolute error of `value`.
    pub error: f64,
}

/// The coefficient of `N^-power (ln N)^log_power` in KL(src||out).
#[derive(Clone, Debug)]
pub struct Coefficient {
    pub power: Rational64,
    pub log_power: u32,
    /// Simplified; contains integral symbols unless `exact`. `None` where the coefficient
    /// is only a number (an angle singular at an end: [`super::singular`]).
    pub expr: Option<ExprId>,
    pub value: f64,
    /// Estimated absolute error (0 when exact: then `value` is correctly rounded).
    pub error: f64,
    pub exact: bool,
}

/// KL(src||out) ~ sum over `coefficients` of `value * N^-power (ln N)^log_power`.
#[derive(Clone, Debug)]
pub struct Expansion {
    pub coefficients: Vec<Coefficient>,
    pub integrals: Vec<Integral>,
    /// The first omitted power of 1/N.
    pub remainder: Remainder,
    /// The ends of [0, 1] (0, 1) where the angle is singular, with its q (phi ~ d^(1/q)).
    pub singular_ends: Vec<(u8, u32)>,
}

/// The first omitted terms, `N^-power sum_l c_l (ln N)^l`.
#[derive(Clone, Debug)]
pub struct Remainder {
    pub power: Rational64,
    /// `(l, c_l)`, largest l first; empty where the terms were not derived (a smooth
    /// angle: then the remainder is `O(N^-power)`).
    pub terms: Vec<(u32, f64)>,
}

impl Remainder {
    /// The highest power of ln N among the terms.
    pub fn log_power(&self) -> u32 {
        self.terms.iter().map(|t| t.0).max().unwrap_or(0)
    }

    /// log2 of the ratio of the remainder at n/2 and n steps: the order of convergence the
    /// expansion's error shows there.
    pub fn local_order(&self, n: usize) -> f64 {
        let p = self.power.to_f64().unwrap_or(f64::NAN);
        let r = |n: f64| -> f64 {
            self.terms
                .iter()
                .map(|&(l, c)| c * n.ln().powi(l as i32))
                .sum::<f64>()
        };
        let n = n as f64;
        if self.terms.is_empty() {
            return p;
        }
        p + (r(n / 2.0) / r(n)).abs().log2()
    }
}

impl Expansion {
    /// The expansion summed at `n` steps.
    pub fn at(&self, n: usize) -> f64 {
        let nf = n as f64;
        self.coefficients
            .iter()
            .map(|c| {
                let p = c.power.to_f64().unwrap_or(f64::NAN);
                c.value * nf.powf(-p) * nf.ln().powi(c.log_power as i32)
            })
            .sum()
    }
}

/// Derives KL(src||out) of DDIM on the uniform N-step grid of [0, 1], from the prior at
/// t = 1, as `sum_{p=2}^{order} c_p N^-p` for a source with these covariance eigenvalues
/// (the mean adds nothing: DDIM with the exact denoiser carries it exactly).
pub fn ddim_expansion(
    pool: &mut Pool,
    p: &Process,
    eigenvalues: &[f64],
    order: usize,
) -> Result<Expansion, Diag> {
    if !(2..=MAX_ORDER).contains(&order) {
        return Err(Diag::new(
            codes::ASYMPTOTICS_ORDER,
            format!("--order must be between 2 and {MAX_ORDER}, not {order}"),
        ));
    }
    let t = time_symbol(pool);
    let (Some(_), Some(rho)) = (p.quantity("alpha"), p.quantity("rho")) else {
        return Err(Diag::new(
            codes::ASYMPTOTICS_PROCESS,
            format!("process `{}` has no derived alpha and rho", p.name),
        ));
    };
    // The prior N(0, 1) must be the marginal at t = 1: alpha(1) = 0 and sigma(1) = 1 (or
    // their limits: tangent's formulas have tan(pi/2)); else a prior-mismatch term that
    // does not shrink with N adds to the KL.
    let sched = super::ProcessSchedule::new(pool, p)?;
    let (alpha1, sigma1) = (sched.alpha(1.0), sched.sigma(1.0));
    if alpha1 != 0.0 || sigma1 != 1.0 {
        return Err(Diag::new(
            codes::ASYMPTOTICS_PRIOR,
            format!(
                "process `{}` has alpha(1) = {alpha1}, sigma(1) = {sigma1}; the expansion is \
                 for DDIM started from the prior N(0, I), which must be the marginal at t = 1 \
                 (alpha(1) = 0, sigma(1) = 1)",
                p.name
            ),
        )
        .with_help("use `diffsym kl` for the exact KL of any process"));
    }
    // Distinct eigenvalues, exact, with multiplicities (sorted: deterministic output).
    let mut distinct: BTreeMap<BigRational, usize> = BTreeMap::new();
    for &l in eigenvalues {
        let r = simplest_rational(l)
            .filter(|r| r.is_positive())
            .ok_or_else(|| {
                Diag::new(
                    codes::ASYMPTOTICS_SOURCE,
                    format!("eigenvalue {l} is not a positive number"),
                )
            })?;
        *distinct.entry(r).or_default() += 1;
    }
    let bern = bernoulli(order.max(singular::PUISEUX_TERMS));
    let mut simp = Simplifier::default();
    // Is the angle smooth at both ends? (Checked for one eigenvalue: where rho vanishes or
    // blows up like a fractional power, so does every angle.)
    let (first, _) = distinct
        .iter()
        .next()
        .ok_or_else(|| Diag::new(codes::ASYMPTOTICS_SOURCE, "the source has no eigenvalues"))?;
    let derivs = angle_derivatives(pool, &mut simp, rho, t, first, order);
    let smooth = [0u8, 1].map(|end| {
        derivs
            .iter()
            .skip(1)
            .all(|&d| end_value(pool, &mut simp, d, t, end).is_some())
    });
    if smooth != [true, true] {
        return singular_expansion(pool, &mut simp, &bern, rho, t, &distinct, order, smooth);
    }
    let mut integrals = Vec::new();
    let mut total = vec![pool.zero(); order + 1];
    for (lambda, count) in &distinct {
        let kl = direction(
            pool,
            &mut simp,
            &bern,
            &mut integrals,
            rho,
            t,
            lambda,
            order,
        )?;
        let c = pool.int(*count as i64);
        for (n, e) in kl.into_coeffs().into_iter().enumerate() {
            let ce = pool.mul(vec![c, e]);
            total[n] = pool.add(vec![total[n], ce]);
        }
    }
    let mut coefficients = Vec::new();
    for (power, &e) in total.iter().enumerate().skip(2) {
        let expr = simp.run(pool, e);
        let exact = integrals.iter().all(|i| !pool.contains(expr, i.symbol));
        // The coefficient with integral `moved` (if any) at its value plus its error.
        let at = |pool: &Pool, moved: Option<usize>| -> Result<f64, Diag> {
            let env: Vec<(Symbol, BigRational)> = integrals
                .iter()
                .enumerate()
                .map(|(k, i)| {
                    let v = if moved == Some(k) {
                        i.value + i.error
                    } else {
                        i.value
                    };
                    (i.symbol, BigRational::from_float(v).unwrap_or_default())
                })
                .collect();
            hp::eval_rounded(pool, expr, &env).map_err(|err| {
                Diag::new(
                    codes::ASYMPTOTICS_EVALUATE,
                    format!("cannot evaluate the coefficient of N^-{power}: {err}"),
                )
            })
        };
        // An exact coefficient's value is its closed form correctly rounded (certified
        // balls); the others carry their integrals' quadrature errors anyway.
        let certified = exact
            .then(|| ball::certify(pool, expr, &[], CERTIFY_BITS, ball::round_f64).ok())
            .flatten();
        let value = match certified {
            Some((bits, _)) => f64::from_bits(bits),
            None => at(pool, None)?,
        };
        // Integral errors are small: the coefficient moves about linearly in each, and the
        // moves are added in absolute value.
        let mut error = 0.0;
        for (k, i) in integrals.iter().enumerate() {
            if pool.contains(expr, i.symbol) {
                error += (at(pool, Some(k))? - value).abs();
            }
        }
        coefficients.push(Coefficient {
            power: Rational64::from_integer(power as i64),
            log_power: 0,
            expr: Some(expr),
            value,
            error,
            exact,
        });
    }
    Ok(Expansion {
        coefficients,
        integrals,
        remainder: Remainder {
            power: Rational64::from_integer(order as i64 + 1),
            terms: Vec::new(),
        },
        singular_ends: Vec::new(),
    })
}

/// Terms of the singular expansion smaller than this, relative to the largest term of the
/// same or a lower power of N, are dropped: they are zeros of the exact series (the angle
/// is odd in `d^(1/q)`, so odd powers of `h^(1/q)` cancel) that rounding left at 1e-300.
const NEGLIGIBLE: f64 = 1e-13;

/// The expansion where the angle is singular at one end or both (`smooth[end]` false):
/// [`singular`]'s matched expansion, a series in powers of `N^(-1/q)` and `ln N` whose
/// coefficients are numbers. It is derived to one order beyond `order`, to name the first
/// omitted term.
#[allow(clippy::too_many_arguments)]
fn singular_expansion(
    pool: &mut Pool,
    simp: &mut Simplifier,
    bern: &[BigRational],
    rho: ExprId,
    t: Symbol,
    distinct: &BTreeMap<BigRational, usize>,
    order: usize,
    smooth: [bool; 2],
) -> Result<Expansion, Diag> {
    let mut ends: Vec<SingularEnd> = Vec::new();
    for end in [0u8, 1] {
        if !smooth[usize::from(end)] {
            ends.push(singular::analyse_end(pool, rho, t, end)?);
        }
    }
    let one = Rational64::one();
    // u starts at h^lead: h^(2/q) from the first steps at a singular end, h from the bulk.
    let lead = ends
        .iter()
        .map(|e| Rational64::new(2, i64::from(e.q)))
        .fold(one, |a, b| a.min(b));
    let k_max = Rational64::from_integer(order as i64 + 1);
    let u_max = k_max - lead;
    let u_floor = u_max.floor().to_integer() as usize;
    let p_max = u_floor + 1;
    // Inner sums at an end are needed up to h^(m/q) <= h^u_max.
    let m_max = |q: u32| {
        (u_max * Rational64::from_integer(i64::from(q)))
            .floor()
            .to_integer() as usize
    };
    for e in &ends {
        let m_max = m_max(e.q);
        if m_max >= singular::PUISEUX_TERMS {
            return Err(Diag::new(
                codes::ASYMPTOTICS_ORDER,
                format!(
                    "--order {order} needs {m_max} terms of the angle's series in \
                     (distance)^(1/{}) at t = {}; at most {} are derived",
                    e.q,
                    e.end,
                    singular::PUISEUX_TERMS - 1
                ),
            ));
        }
    }
    let bern_f64: Vec<f64> = bern
        .iter()
        .map(|b| b.to_f64().unwrap_or(f64::NAN))
        .collect();
    let g_f64 = singular::g_coefficients(bern, singular::PUISEUX_TERMS / 2);
    let mut total = LogSeries::default();
    for (lambda, count) in distinct {
        let derivs = angle_derivatives(pool, simp, rho, t, lambda, p_max.max(2));
        let g = g_series(pool, simp, bern, &derivs, p_max);
        // Per singular end: q, the outer expansions, the inner sums, the cut.
        struct AtEnd {
            end: u8,
            q: u32,
            outer: Vec<Vec<f64>>,
            inner: Vec<Approx>,
            tau: f64,
        }
        let at_ends: Vec<AtEnd> = ends
            .iter()
            .map(|e| {
                let a = e.angle(lambda);
                let outer = singular::outer_expansion(&a, e.q, singular::MAX_TAIL_P, &g_f64);
                let inner = singular::inner_sums(&a, e.q, m_max(e.q), &g_f64, &outer, &bern_f64);
                AtEnd {
                    end: e.end,
                    q: e.q,
                    outer,
                    inner,
                    tau: singular::near_end_cut(&a, e.q),
                }
            })
            .collect();
        let mut u = LogSeries::default();
        for (p, &gp) in g.coeffs().iter().enumerate().skip(2).step_by(2) {
            if p - 1 > u_floor {
                break;
            }
            let power = Rational64::from_integer(p as i64 - 1);
            // FP int_0^1 G_p: quadrature away from the singular ends, their series near them.
            let (mut lo, mut hi) = (0.0, 1.0);
            let mut value = Sum::new();
            let mut error = 0.0;
            for e in &at_ends {
                let near = singular::near_end_integral(&e.outer[p], e.q, p, e.tau);
                value.add(near.value);
                error += near.error;
                if e.end == 0 {
                    lo = e.tau;
                } else {
                    hi = 1.0 - e.tau;
                }
                // The log N term: c d^-1 in G_p.
                if let Some(&c) = e.outer[p].get(e.q as usize * (p - 1)) {
                    u.add(
                        power,
                        1,
                        Approx {
                            value: c,
                            error: 4.0 * f64::EPSILON * c.abs(),
                        },
                    );
                }
            }
            let Estimate {
                value: mid,
                error: mid_err,
                ..
            } = quadrature(pool, gp, t, lo, hi)?;
            value.add(mid);
            error += mid_err;
            u.add(
                power,
                0,
                Approx {
                    value: value.value(),
                    error,
                },
            );
            // Midpoint boundary terms at a smooth end.
            for (at, term) in boundary_terms(pool, simp, bern, gp, p, t, u_floor, smooth, lambda)? {
                let term = simp.run(pool, term);
                let v = hp::eval_rounded(pool, term, &[]).map_err(|err| {
                    Diag::new(
                        codes::ASYMPTOTICS_EVALUATE,
                        format!("cannot evaluate a boundary term: {err}"),
                    )
                })?;
                u.add(
                    Rational64::from_integer(at as i64),
                    0,
                    Approx {
                        value: v,
                        error: 2.0 * f64::EPSILON * v.abs(),
                    },
                );
            }
        }
        for e in &at_ends {
            for (m, x) in e.inner.iter().enumerate().skip(2) {
                u.add(Rational64::new(m as i64, i64::from(e.q)), 0, *x);
            }
        }
        let mut kl = singular::kl_of(&u, k_max);
        kl.scale(*count as f64);
        total.merge(&kl);
    }
    // Measured against the terms of the same or a lower power: the coefficients of high
    // powers grow fast (like the inverse radius of the angle's series to that power), and
    // against them a leading term would look negligible.
    let mut scale = 0.0f64;
    let mut kept = Vec::new();
    for (&key, x) in &total.terms {
        let top = total
            .terms
            .range((key.0, 0)..=(key.0, u32::MAX))
            .map(|(_, y)| y.value.abs())
            .fold(0.0, f64::max);
        scale = scale.max(top);
        if x.value.abs() > NEGLIGIBLE * scale {
            kept.push((key, *x));
        }
    }
    let k = Rational64::from_integer(order as i64);
    // Largest log power first within a power: the order of the text.
    let mut coefficients: Vec<Coefficient> = kept
        .iter()
        .filter(|((p, _), _)| *p <= k)
        .map(|&((power, log_power), x)| Coefficient {
            power,
            log_power,
            expr: None,
            value: x.value,
            error: x.error,
            exact: false,
        })
        .collect();
    coefficients.sort_by(|a, b| a.power.cmp(&b.power).then(b.log_power.cmp(&a.log_power)));
    let next = kept
        .iter()
        .map(|((p, _), _)| *p)
        .filter(|p| *p > k)
        .min()
        .unwrap_or(k_max);
    let mut terms: Vec<(u32, f64)> = kept
        .iter()
        .filter(|((p, _), _)| *p == next)
        .map(|&((_, l), x)| (l, x.value))
        .collect();
    terms.sort_by_key(|&(l, _)| std::cmp::Reverse(l));
    let remainder = Remainder { power: next, terms };
    Ok(Expansion {
        coefficients,
        integrals: Vec::new(),
        remainder,
        singular_ends: ends.iter().map(|e| (e.end, e.q)).collect(),
    })
}

fn rat(n: impl Into<BigInt>, d: impl Into<BigInt>) -> BigRational {
    BigRational::new(n.into(), d.into())
}

/// Observed order of convergence between errors at n and 2n steps.
pub fn observed_order(err_n: f64, err_2n: f64) -> f64 {
    (err_n.abs() / err_2n.abs()).log2()
}

/// The expansion against the exact KL at one number of steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckRow {
    pub steps: usize,
    pub kl_exact: f64,
    pub kl_expansion: f64,
    /// log2 of the ratio of the expansion's errors at N/2 and N; `None` on the first row
    /// and once either difference is down to the rounding of the exact KL (1e-12 of it).
    pub observed_order: Option<f64>,
    /// The same ratio for the first omitted term.
    pub expected_order: f64,
}

/// Steps at which an expansion is compared with the exact KL: 8, 16, ..., 1024, and on to
/// 16384 where the angle is singular at an end (the series in N^(-1/q) settles more
/// slowly).
pub fn check_steps(singular: bool) -> Vec<usize> {
    let last = if singular { 14 } else { 10 };
    (3..=last).map(|k| 1usize << k).collect()
}

/// Compares `exp`, the DDIM expansion for `sched` on `source`, with the exact KL of DDIM
/// on the uniform grid from the prior at [`check_steps`], with the observed order of
/// their difference next to the order the first omitted term predicts.
pub fn check_against_exact(
    exp: &Expansion,
    sched: &dyn Schedule,
    source: &super::GaussianSource,
) -> Result<Vec<CheckRow>, Diag> {
    use super::{GridKind, Sampler, Start, exact_kl, time_grid};
    let mut rows: Vec<CheckRow> = Vec::new();
    for n in check_steps(!exp.singular_ends.is_empty()) {
        let grid = time_grid(&GridKind::Uniform, sched, n, 0.0, 1.0)?;
        let kl = exact_kl(sched, source, Sampler::Ddim, &grid, Start::Prior)?;
        let series = exp.at(n);
        let resolved = |exact: f64, series: f64| (exact - series).abs() > 1e-12 * exact.abs();
        let observed_order = rows
            .last()
            .filter(|prev| {
                resolved(prev.kl_exact, prev.kl_expansion) && resolved(kl.kl_src_out, series)
            })
            .map(|prev| observed_order(prev.kl_exact - prev.kl_expansion, kl.kl_src_out - series));
        rows.push(CheckRow {
            steps: n,
            kl_exact: kl.kl_src_out,
            kl_expansion: series,
            observed_order,
            expected_order: exp.remainder.local_order(n),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::quadrature::gauss_legendre;
    use crate::expr::eval;

    #[test]
    fn bernoulli_numbers_are_exact() {
        let b = bernoulli(8);
        let want = [
            (1, 1),
            (-1, 2),
            (1, 6),
            (0, 1),
            (-1, 30),
            (0, 1),
            (1, 42),
            (0, 1),
            (-1, 30),
        ];
        for (k, (n, d)) in want.into_iter().enumerate() {
            assert_eq!(b[k], rat(n, d), "B_{k}");
        }
    }

    #[test]
    fn simplest_rationals_recover_decimals() {
        for (x, n, d) in [
            (0.1, 1, 10),
            (0.5, 1, 2),
            (2.0, 2, 1),
            (1.0 / 3.0, 1, 3),
            (-0.7, -7, 10),
            (1e-3, 1, 1000),
        ] {
            assert_eq!(simplest_rational(x), Some(rat(n, d)), "{x}");
        }
        // Subnormals keep their exact value.
        let tiny = 1e-320;
        assert_eq!(simplest_rational(tiny), BigRational::from_float(tiny));
        // A value with no short fraction keeps its exact binary value's rounding.
        let x = std::f64::consts::PI;
        let r = simplest_rational(x).unwrap();
        assert_eq!(eval::rational_to_f64(&r), x);
    }

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let rule = gauss_legendre(10);
        // degree 19 is exact: int_{-1}^{1} x^18 = 2/19
        let s: f64 = rule.iter().map(|&(x, w)| w * x.powi(18)).sum();
        assert!((s - 2.0 / 19.0).abs() < 1e-15);
        let total: f64 = rule.iter().map(|&(_, w)| w).sum();
        assert!((total - 2.0).abs() < 1e-15);
    }
}
