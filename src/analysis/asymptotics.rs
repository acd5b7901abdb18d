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

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_rational::{BigRational, Rational64};
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::Schedule;
use super::numerics::{DdTape, Sum};
use super::singular::{self, Approx, LogSeries, SingularEnd};
use crate::diag::{Diag, codes};
use crate::expr::simplify::{self, Simplifier};
use crate::expr::{ExprId, Func, Pool, Symbol, ball, diff, eval, hp, integrate, limit, subst};
use crate::process::{Process, time_symbol};

/// Integrands and boundary terms larger than this (by [`simplify::complexity`]) are
/// neither simplified nor integrated in closed form, but integrated numerically: rational
/// normalisation of large trigonometric sums costs seconds.
const SIMPLIFY_UP_TO: usize = 400;

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

/// Bernoulli numbers `B_0 ..= B_n` (with `B_1 = -1/2`), exactly.
pub fn bernoulli(n: usize) -> Vec<BigRational> {
    let mut b: Vec<BigRational> = Vec::with_capacity(n + 1);
    for m in 0..=n {
        if m == 0 {
            b.push(BigRational::one());
            continue;
        }
        // sum_{k=0}^{m} C(m+1, k) B_k = 0
        let mut acc = BigRational::zero();
        let mut binom = BigInt::one(); // C(m+1, k)
        for (k, bk) in b.iter().enumerate() {
            acc += BigRational::from_integer(binom.clone()) * bk;
            binom = binom * BigInt::from(m + 1 - k) / BigInt::from(k + 1);
        }
        b.push(-acc / BigRational::from_integer(BigInt::from(m + 1)));
    }
    b
}

/// The simplest rational that rounds to `x` (the shortest fraction in its rounding
/// interval): `0.1` gives 1/10, not the exact binary value of the f64.
pub fn simplest_rational(x: f64) -> Option<BigRational> {
    if !x.is_finite() {
        return None;
    }
    let exact = BigRational::from_float(x)?;
    if x == 0.0 {
        return Some(exact);
    }
    let half_gap = |y: f64| BigRational::from_float((y.next_up() - y).abs() / 2.0);
    let lo = &exact - half_gap(x.next_down())?;
    let hi = &exact + half_gap(x)?;
    let (lo, hi, neg) = if x < 0.0 {
        (-hi, -lo, true)
    } else {
        (lo, hi, false)
    };
    if lo.is_negative() || lo >= hi {
        // Subnormal or otherwise degenerate: keep the exact binary value.
        return Some(exact);
    }
    let r = simplest_between(&lo, Some(&hi));
    // Inside the open interval a rounding tie cannot occur, but check: it must round back.
    let back = eval::rational_to_f64(&r);
    let r = if back == x.abs() { r } else { exact.abs() };
    Some(if neg { -r } else { r })
}

/// The fraction with the smallest denominator in the open interval (lo, hi), 0 <= lo,
/// `hi = None` for infinity: continued fractions, one partial quotient per call.
fn simplest_between(lo: &BigRational, hi: Option<&BigRational>) -> BigRational {
    let fl = lo.floor();
    let next = &fl + BigRational::one();
    match hi {
        Some(h) if &next >= h => {
            // No integer inside: recurse on the reciprocals of the fractional parts.
            let a = lo - &fl;
            let b = h - &fl;
            let inner = if a.is_zero() {
                simplest_between(&b.recip(), None)
            } else {
                simplest_between(&b.recip(), Some(&a.recip()))
            };
            fl + inner.recip()
        }
        _ => next,
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
        for (n, e) in kl.into_iter().enumerate() {
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
        let value = at(pool, None)?;
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
        for (p, &gp) in g.iter().enumerate().skip(2).step_by(2) {
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
            let (mid, mid_err) = quadrature(pool, gp, t, lo, hi)?;
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

/// Truncated product of two series in h (coefficients of h^0 ..= h^order).
fn series_mul(pool: &mut Pool, a: &[ExprId], b: &[ExprId]) -> Vec<ExprId> {
    let n = a.len();
    let mut out = vec![pool.zero(); n];
    for i in 0..n {
        if a[i] == pool.zero() {
            continue;
        }
        for j in 0..n - i {
            if b[j] == pool.zero() {
                continue;
            }
            let m = pool.mul(vec![a[i], b[j]]);
            out[i + j] = pool.add(vec![out[i + j], m]);
        }
    }
    out
}

fn rat(n: impl Into<BigInt>, d: impl Into<BigInt>) -> BigRational {
    BigRational::new(n.into(), d.into())
}

pub(super) fn factorial(n: usize) -> BigInt {
    (1..=n).fold(BigInt::one(), |acc, k| acc * BigInt::from(k))
}

/// The coefficient `b_n = 2^2n (2^2n - 1) |B_2n| / (n (2n)!)` of `x^2n` in the per-step
/// log-gain `g(x) = -2 ln cos x` (n >= 1), from the Bernoulli numbers `bern`.
pub(super) fn log_cos_coefficient(bern: &[BigRational], n: usize) -> BigRational {
    let two2n = BigInt::from(2).pow(2 * n as u32);
    BigRational::from_integer(&two2n * (&two2n - 1)) * bern[2 * n].abs()
        / BigRational::from_integer(BigInt::from(n) * factorial(2 * n))
}

/// `phi = atan(rho/sqrt(lambda))` and its derivatives up to order `count - 1`, simplified.
fn angle_derivatives(
    pool: &mut Pool,
    simp: &mut Simplifier,
    rho: ExprId,
    t: Symbol,
    lambda: &BigRational,
    count: usize,
) -> Vec<ExprId> {
    let lam = pool.rational(lambda.clone());
    let root = pool.sqrt(lam);
    let arg = pool.div(rho, root);
    let phi = pool.call(Func::Atan, arg);
    let mut derivs = vec![phi];
    for _ in 1..count {
        let last = *derivs.last().expect("starts with phi");
        let d = diff::diff(pool, last, t);
        derivs.push(simp.run(pool, d));
    }
    derivs
}

/// The midpoint series of one step's log-gain: `G_p` (p = 0 ..= order) with
/// `g(dphi) = sum_p G_p(m) h^p`, from the angle's derivatives `derivs` (phi, phi', ...).
fn g_series(
    pool: &mut Pool,
    simp: &mut Simplifier,
    bern: &[BigRational],
    derivs: &[ExprId],
    order: usize,
) -> Vec<ExprId> {
    // dphi = sum_{j odd} 2 (h/2)^j phi^(j)(m) / j!
    let mut dphi = vec![pool.zero(); order + 1];
    // Terms above h^(order-1) only meet others in powers above h^order.
    for (j, slot) in dphi.iter_mut().enumerate().take(order).skip(1).step_by(2) {
        let c = pool.rational(rat(2, BigInt::from(2).pow(j as u32) * factorial(j)));
        *slot = pool.mul(vec![c, derivs[j]]);
    }
    // g(x) = -2 ln cos x = sum_n b_n x^2n
    let sq = series_mul(pool, &dphi, &dphi);
    let mut power = sq.clone();
    let mut g = vec![pool.zero(); order + 1];
    for n in 1..=order / 2 {
        let a = pool.rational(log_cos_coefficient(bern, n));
        for (k, &e) in power.iter().enumerate() {
            let term = pool.mul(vec![a, e]);
            g[k] = pool.add(vec![g[k], term]);
        }
        power = series_mul(pool, &power, &sq);
    }
    g.into_iter()
        .map(|gp| {
            if simplify::complexity(pool, gp) <= SIMPLIFY_UP_TO {
                simp.run(pool, gp)
            } else {
                gp
            }
        })
        .collect()
}

/// The midpoint Euler-Maclaurin boundary terms of `h sum_k G_p(m_k)` at the ends marked in
/// `ends` (0 and 1), each as (power of h, term): `B_2j(1/2) h^(p-1+2j)/(2j)!
/// [G_p^(2j-1)]`, up to `h^max`.
#[allow(clippy::too_many_arguments)]
fn boundary_terms(
    pool: &mut Pool,
    simp: &mut Simplifier,
    bern: &[BigRational],
    gp: ExprId,
    p: usize,
    t: Symbol,
    max: usize,
    ends: [bool; 2],
    lambda: &BigRational,
) -> Result<Vec<(usize, ExprId)>, Diag> {
    let mut out = Vec::new();
    let mut d = gp;
    let mut k = 1; // d is the (k-1)-th derivative of G_p
    for j in 1.. {
        let at = p - 1 + 2 * j;
        if at > max {
            break;
        }
        while k < 2 * j {
            let dd = diff::diff(pool, d, t);
            d = if simplify::complexity(pool, dd) <= SIMPLIFY_UP_TO {
                simp.run(pool, dd)
            } else {
                dd
            };
            k += 1;
        }
        // B_2j(1/2) = (2^(1-2j) - 1) B_2j
        let b_half =
            (rat(1, BigInt::from(2).pow(2 * j as u32 - 1)) - BigRational::one()) * &bern[2 * j];
        let c = pool.rational(b_half / BigRational::from_integer(factorial(2 * j)));
        let mut diff_ends = pool.zero();
        for end in [0u8, 1] {
            if !ends[usize::from(end)] {
                continue;
            }
            let Some(v) = end_value(pool, simp, d, t, end) else {
                return Err(Diag::new(
                    codes::ASYMPTOTICS_ENDPOINT,
                    format!(
                        "a boundary term of the expansion (for lambda = {lambda}) is not \
                         finite at t = {end}; the expansion in 1/N needs phi smooth there"
                    ),
                ));
            };
            diff_ends = if end == 1 {
                pool.add(vec![diff_ends, v])
            } else {
                pool.sub(diff_ends, v)
            };
        }
        out.push((at, pool.mul(vec![c, diff_ends])));
    }
    Ok(out)
}

/// The KL series (coefficients of h^0 ..= h^order) of one direction with eigenvalue `lambda`.
#[allow(clippy::too_many_arguments)]
fn direction(
    pool: &mut Pool,
    simp: &mut Simplifier,
    bern: &[BigRational],
    integrals: &mut Vec<Integral>,
    rho: ExprId,
    t: Symbol,
    lambda: &BigRational,
    order: usize,
) -> Result<Vec<ExprId>, Diag> {
    // phi', phi'', ... (phi itself is never needed: only its differences).
    let derivs = angle_derivatives(pool, simp, rho, t, lambda, order);
    // phi is smooth at both ends: `ddim_expansion` checked it (for one eigenvalue, which
    // settles it for all: atan is analytic).
    let g = g_series(pool, simp, bern, &derivs, order);
    // u = sum_k g(dphi_k): the coefficient G_p of h^p contributes h^(p-1) int G_p plus the
    // Euler-Maclaurin boundary terms of the midpoint rule.
    let zero = pool.zero();
    let mut u = vec![pool.zero(); order + 1];
    for (p, &gp) in g.iter().enumerate().skip(2) {
        if gp == zero {
            continue;
        }
        let int = integral(pool, simp, integrals, gp, t)?;
        u[p - 1] = pool.add(vec![u[p - 1], int]);
        for (at, term) in boundary_terms(pool, simp, bern, gp, p, t, order, [true; 2], lambda)? {
            u[at] = pool.add(vec![u[at], term]);
        }
    }
    // KL = (e^u - 1 - u)/2 = sum_{m>=2} u^m / (2 m!)
    let mut kl = vec![pool.zero(); order + 1];
    let mut um = series_mul(pool, &u, &u);
    for m in 2..=order {
        let c = pool.rational(rat(1, BigInt::from(2) * factorial(m)));
        for (k, &e) in um.iter().enumerate() {
            let term = pool.mul(vec![c, e]);
            kl[k] = pool.add(vec![kl[k], term]);
        }
        um = series_mul(pool, &um, &u);
    }
    Ok(kl)
}

/// `e` at `t = end` (0 or 1) as an expression: the exact substitution where it is the
/// value there, else the one-sided limit from inside [0, 1] ([`limit::limit`], from
/// certified values, as the exact rational of that f64). `None` where `e` tends to an
/// infinity there or its limit cannot be determined.
///
/// The value comes from ball arithmetic on `e` itself, not from a comparison with a point
/// nearby: an odd derivative of an even function is exactly 0 at the end while its value
/// at distance 2^-100 is `e'(end) 2^-100`, which for a steep angle (`1/sqrt(lambda)` in
/// the hundreds, raised to the order of the derivative) is no small absolute number.
fn end_value(
    pool: &mut Pool,
    simp: &mut Simplifier,
    e: ExprId,
    t: Symbol,
    end: u8,
) -> Option<ExprId> {
    let env = [(t, BigRational::from_integer(end.into()))];
    // Evaluated from `e`, unsimplified, so a singularity that substitution would cancel
    // (`t^(1/6)/t^(2/3)` at 0) is seen as one: then the one-sided limit decides.
    let value = match ball::certify(pool, e, &env, END_BITS, ball::round_f64) {
        Ok((bits, _)) => f64::from_bits(bits),
        // A ball around an exact 0 that has not shrunk below the least f64.
        Err(ball::Uncertified::Tie(mid)) if hp::to_f64(&mid).abs() < TINY => 0.0,
        Err(ball::Uncertified::Tie(_)) => {
            match ball::certify(pool, e, &env, limit::MAX_POINT_BITS, ball::round_f64) {
                Ok((bits, _)) => f64::from_bits(bits),
                Err(ball::Uncertified::Tie(mid)) => hp::to_f64(&mid),
                Err(_) => return None,
            }
        }
        // Undefined at the end (`1/cos(pi t/2)` at t = 1): the limit from inside.
        Err(ball::Uncertified::Eval(_) | ball::Uncertified::Singular) => {
            let side = if end == 0 {
                limit::Side::Above
            } else {
                limit::Side::Below
            };
            match limit::limit(
                pool,
                e,
                &env,
                &[(t, side)],
                limit::MAX_POINT_BITS,
                &ball::round_f64,
            ) {
                Ok(limit::Limit::Finite(bits)) => f64::from_bits(bits),
                _ => return None,
            }
        }
    };
    if !value.is_finite() {
        return None;
    }
    // The exact form where it has that value (it may differ only where `e` is undefined at
    // the end and its limit is taken; a ball around an exact 0 may round to a tiny number).
    let at = pool.int(i64::from(end));
    let v = subst::subst1(pool, e, t, at);
    let v = simp.run(pool, v);
    let exact = match ball::certify(pool, v, &[], END_BITS, ball::round_f64) {
        Ok((b, _)) => Some(f64::from_bits(b)),
        Err(ball::Uncertified::Tie(mid)) => Some(hp::to_f64(&mid)),
        Err(_) => None,
    };
    if exact.is_some_and(|x| x == value || (x.abs() < TINY && value.abs() < TINY)) {
        return Some(v);
    }
    Some(pool.rational(BigRational::from_float(value)?))
}

/// The most bits [`end_value`] evaluates with at an end itself (where a formula is
/// undefined, such as `1/cos(pi t/2)` at t = 1, the ball never shrinks: more bits are
/// wasted); its one-sided limits take what the distance needs.
const END_BITS: usize = 1024;

/// Below this an end value is taken for 0: a ball around an exact 0 (`sin(pi)`) rounds to
/// no single f64 until its radius is below the least subnormal.
const TINY: f64 = 1e-250;

/// `int_0^1 e dt`: closed form if the integrator finds one, else a new integral symbol
/// with its quadrature value.
fn integral(
    pool: &mut Pool,
    simp: &mut Simplifier,
    integrals: &mut Vec<Integral>,
    e: ExprId,
    t: Symbol,
) -> Result<ExprId, Diag> {
    let (zero, one) = (pool.zero(), pool.one());
    // The integrator expands its input: worth trying on small integrands only.
    if simplify::complexity(pool, e) <= SIMPLIFY_UP_TO
        && let Ok(v) = integrate::integrate(pool, e, t, zero, one)
    {
        let v = simp.run(pool, v);
        if hp::eval_rounded(pool, v, &[]).is_ok_and(f64::is_finite) {
            return Ok(v);
        }
    }
    let (value, error) = quadrature(pool, e, t, 0.0, 1.0)?;
    let name = format!("I{}", integrals.len() + 1);
    let symbol = pool.symbol(&name);
    integrals.push(Integral {
        symbol,
        name,
        integrand: e,
        value,
        error,
    });
    Ok(pool.sym_expr(symbol))
}

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton on the Legendre recurrence).
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
            let dx = p1 / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        out.push((x, 2.0 / ((1.0 - x * x) * dp * dp)));
    }
    out
}

/// Geometrically graded base panels at each end in [`quadrature`] (down to 2^-13 from it:
/// an eigenvalue lambda makes the integrands peak within about sqrt(lambda) of t = 0).
const GRADED: usize = 12;

/// Most equal parts a base panel is split into in [`quadrature`] with f64 values, and
/// with certified values (each a ball evaluation, a hundred times dearer).
const MAX_SPLIT: usize = 64;
const MAX_CERTIFIED_SPLIT: usize = 16;

/// The accuracy [`quadrature`] aims at, relative to the integral of |e|.
const QUADRATURE_TOL: f64 = 1e-13;

/// The error claimed for a panel is this many times the difference of its last two rules
/// (each halving of the parts divides the error of a 10-point Gauss rule by about 2^20
/// once the panel is resolved, so the difference is the error of the coarser rule; the
/// factor covers rounding noise in the values, which does not fall with the parts).
const SAFETY: f64 = 10.0;

/// Working precision of certified integrand values: started here, doubled up to the most.
const CERTIFIED_BITS: usize = 128;
const MAX_CERTIFIED_BITS: usize = 2048;

/// `int_a^b e dt` by composite 10-point Gauss-Legendre on base panels graded towards both
/// ends, each split into 1, 2, 4, ... parts until two successive rules agree; the value of
/// the finer rule and an error bound: [`SAFETY`] times their difference plus the rounding
/// of the sums, added over the panels.
///
/// Values come from f64 evaluation of `e` while that converges. A simplified integrand can
/// cancel badly in f64 (a polynomial in `cos(pi t/2)^2` with coefficients 1e11 that sums to
/// 1 near t = 0 loses 11 digits): the rules then stop agreeing better as the parts shrink,
/// since rounding noise does not fall with them. Such a panel is integrated again from
/// double-double values ([`DdTape`]), and where even those are noisy from certified ones
/// (ball arithmetic, correctly rounded to f64), so the difference of two rules measures
/// truncation, not noise.
fn quadrature(pool: &Pool, e: ExprId, t: Symbol, a: f64, b: f64) -> Result<(f64, f64), Diag> {
    let rule = gauss_legendre(10);
    // Base panels graded geometrically towards both ends (on [0, 1]: [2^-k-1, 2^-k],
    // k < GRADED, and mirrored), where the integrands of a small eigenvalue peak; uniform
    // in between.
    let half = (b - a) / 2.0;
    let mut edges = vec![a];
    for k in (1..=GRADED).rev() {
        edges.push(a + half * 0.5f64.powi(k as i32));
    }
    for k in 1..=GRADED {
        edges.push(b - half * 0.5f64.powi(k as i32));
    }
    edges.push(b);
    let compiled = eval::Compiled::new(pool, e, t);
    let buffer = std::cell::RefCell::new(Vec::new());
    let not_evaluated = |tv: f64, err: String| {
        Diag::new(
            codes::ASYMPTOTICS_QUADRATURE,
            format!("cannot evaluate an integrand at t = {tv}: {err}"),
        )
    };
    let fast = |tv: f64| -> Result<f64, Diag> {
        // f64 first; where the unsimplified integrand cancels to a zero divisor, the value
        // rounded from high precision.
        match compiled.eval(tv, &mut buffer.borrow_mut()) {
            Ok(v) if v.is_finite() => Ok(v),
            _ => {
                let exact = BigRational::from_float(tv).unwrap_or_default();
                hp::eval_rounded(pool, e, &[(t, exact)])
                    .map_err(|err| not_evaluated(tv, err.to_string()))
            }
        }
    };
    let tape = DdTape::new(pool, e, t);
    let dd_buffer = std::cell::RefCell::new(Vec::new());
    let consts = std::cell::RefCell::new(
        astro_float::Consts::new().map_err(|err| not_evaluated(a, err.to_string()))?,
    );
    let certified = |tv: f64| -> Result<f64, Diag> {
        let env = [(t, BigRational::from_float(tv).unwrap_or_default())];
        let mut bits = CERTIFIED_BITS;
        loop {
            match ball::eval_ball(pool, e, &env, bits, &mut consts.borrow_mut()) {
                Ok(v) => {
                    let (lo, hi) = ball::ends(&v, bits);
                    let (lo, hi) = (hp::to_f64(&lo), hp::to_f64(&hi));
                    if lo == hi || bits >= MAX_CERTIFIED_BITS {
                        return Ok(hp::to_f64(&v.mid));
                    }
                }
                Err(ball::BallError::Eval(err)) => return Err(not_evaluated(tv, err.to_string())),
                Err(ball::BallError::Uncertain) if bits >= MAX_CERTIFIED_BITS => {
                    return fast(tv);
                }
                Err(ball::BallError::Uncertain) => {}
            }
            bits *= 2;
        }
    };
    let double_double = |tv: f64| -> Result<f64, Diag> {
        let v = tape.eval(tv, &mut dd_buffer.borrow_mut());
        if v.is_finite() { Ok(v) } else { certified(tv) }
    };
    let levels: [Level<'_>; 3] = [
        (&fast, MAX_SPLIT),
        (&double_double, MAX_SPLIT),
        (&certified, MAX_CERTIFIED_SPLIT),
    ];
    // The rule on [lo, hi] split into `split` equal parts: the sum and the sum of |e|.
    let rule_on = |lo: f64,
                   hi: f64,
                   split: usize,
                   value: &dyn Fn(f64) -> Result<f64, Diag>|
     -> Result<(f64, f64), Diag> {
        let (mut sum, mut abs) = (Sum::new(), Sum::new());
        let w = (hi - lo) / split as f64;
        for k in 0..split {
            let a = lo + k as f64 * w;
            for &(x, wt) in &rule {
                let v = value(a + (x + 1.0) * w / 2.0)?;
                sum.add(wt * w / 2.0 * v);
                abs.add(wt * w / 2.0 * v.abs());
            }
        }
        Ok((sum.value(), abs.value()))
    };
    // One rule per panel first, for the scale of the integral of |e|.
    let first: Vec<(f64, f64)> = edges
        .windows(2)
        .map(|p| rule_on(p[0], p[1], 1, &fast))
        .collect::<Result<_, _>>()?;
    let scale: f64 = first.iter().map(|f| f.1).sum();
    let tol = QUADRATURE_TOL * scale / first.len() as f64;
    let (mut value, mut error) = (Sum::new(), 0.0);
    for (pair, &(start, _)) in edges.windows(2).zip(&first) {
        let (lo, hi) = (pair[0], pair[1]);
        let (v, err) = panel((lo, hi), (a + b) / 2.0, start, tol, &rule_on, &levels)?;
        value.add(v);
        error += err;
    }
    let value = value.value();
    if !value.is_finite() || !error.is_finite() {
        return Err(Diag::new(
            codes::ASYMPTOTICS_QUADRATURE,
            "an integral of the expansion is not finite",
        ));
    }
    Ok((value, error))
}

/// A rule of [`quadrature`]: the panel [lo, hi] in `split` parts, with these values.
type PanelRule<'a> =
    dyn Fn(f64, f64, usize, &dyn Fn(f64) -> Result<f64, Diag>) -> Result<(f64, f64), Diag> + 'a;

/// An evaluator of the integrand and the most parts a panel is split into with it.
type Level<'a> = (&'a dyn Fn(f64) -> Result<f64, Diag>, usize);

/// One base panel of [`quadrature`], whose one-part f64 rule gave `start`: parts doubled
/// until two rules agree within `tol` (or the rounding of the sums). The values come from
/// the first of `levels` (f64) while the differences keep falling; where they stop, the
/// same rule from the next level (more precise, dearer) tells rounding noise (they differ)
/// from slow convergence (they agree), and with noise the panel goes on at that level.
///
/// Rounding error need not be noise: double-double values of a formula that cancels 23
/// digits are smoothly wrong in the ninth, and two rules agree on the wrong integral. So a
/// converged panel is checked near its end away from `middle`, the middle of [a, b] (the
/// end the panels are graded towards, where their integrands cancel most; both ends of the
/// middle panel), against the next level: a deviation that could move the integral by more
/// than `tol` sends the panel to that level, a smaller one is added to its error. The
/// value and its error.
fn panel(
    (lo, hi): (f64, f64),
    middle: f64,
    start: f64,
    tol: f64,
    rule_on: &PanelRule<'_>,
    levels: &[Level<'_>],
) -> Result<(f64, f64), Diag> {
    // Rounding of the sums (and of the values: half an ulp each once they are accurate).
    let floor = |abs: f64| 8.0 * f64::EPSILON * abs;
    // The largest gap between two levels of values at the probes, times the panel width:
    // what that rounding error can do to the integral.
    let bias = |value: &dyn Fn(f64) -> Result<f64, Diag>,
                better: &dyn Fn(f64) -> Result<f64, Diag>|
     -> Result<f64, Diag> {
        let w = hi - lo;
        let (near_lo, near_hi) = (lo + PROBE * w, hi - PROBE * w);
        // The end the panels are graded towards; both ends of the middle panel.
        let probes = if hi <= middle {
            vec![near_lo]
        } else if lo >= middle {
            vec![near_hi]
        } else {
            vec![near_lo, near_hi]
        };
        let mut gap = 0.0f64;
        for t in probes {
            gap = gap.max((value(t)? - better(t)?).abs());
        }
        Ok(gap * w)
    };
    let (mut coarse, mut last_diff) = (start, f64::INFINITY);
    let mut split = 2;
    let mut level = 0;
    // A rule already computed at this level and split.
    let mut known: Option<(f64, f64)> = None;
    // Set once a stall was found not to be noise: no more checks at this level.
    let mut checked = false;
    loop {
        let (value, most) = levels[level];
        let (fine, abs) = match known.take() {
            Some(r) => r,
            None => rule_on(lo, hi, split, value)?,
        };
        let diff = (fine - coarse).abs();
        let next_level = levels.get(level + 1);
        // Once resolved, each halving divides a Gauss rule's error by about 2^20: from
        // split 4 on, a difference that falls by less than 8 is suspect.
        let stalled = !checked && split >= 4 && diff > last_diff / 8.0;
        let escalate = if diff <= tol.max(floor(abs)) {
            let error = SAFETY * diff + floor(abs);
            let Some(&(better, _)) = next_level else {
                return Ok((fine, error));
            };
            let off = bias(value, better)?;
            if off <= tol {
                return Ok((fine, error + SAFETY * off));
            }
            true
        } else if stalled || split >= most {
            let Some(&(better, next_most)) = next_level else {
                if split >= most {
                    // Unresolved: the difference, with the factor, is the best estimate.
                    return Ok((fine, SAFETY * diff + floor(abs)));
                }
                checked = true;
                coarse = fine;
                last_diff = diff;
                split *= 2;
                continue;
            };
            let parts = split.min(next_most);
            let next = rule_on(lo, hi, parts, better)?;
            if split < most && (next.0 - fine).abs() <= diff / 8.0 {
                // Not noise: the panel converges slowly; go on at this level.
                checked = true;
                false
            } else {
                known = Some(next);
                true
            }
        } else {
            false
        };
        if escalate && let Some(&(better, next_most)) = next_level {
            level += 1;
            checked = false;
            split = split.min(next_most).max(2);
            coarse = rule_on(lo, hi, split / 2, better)?.0;
            last_diff = f64::INFINITY;
            continue;
        }
        coarse = fine;
        last_diff = diff;
        split *= 2;
    }
}

/// Where [`panel`] compares two levels of values: the outermost nodes of a 10-point Gauss
/// rule on the panel, as fractions of its width from each end.
const PROBE: f64 = 0.013_046_735_741_414_14;

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
