//! Euler-Maclaurin sums with an algebraic singularity at an end of [0, 1]: Puiseux fits of
//! the angle, finite-part integrals, regularised inner sums and the log N terms they leave.
//!
//! Where sigma ~ t^(1/q) at t = 0 (or alpha ~ (1 - t)^(1/q) at t = 1) the DDIM angle
//! `phi = atan(rho/sqrt(lambda))` is a power series in `s = d^(1/q)`, d the distance from
//! that end, and the sum `u = sum_k g(phi(t_k) - phi(t_(k-1)))` is no power series in
//! `h = 1/N`. It splits into two expansions that overlap (matched asymptotics):
//!
//! - outer, `k h` fixed: `g(dphi_k) = sum_p h^p G_p(m_k)`, the midpoint series of the
//!   smooth case, which near the end behaves like `G_p ~ sum_r c_pr d^(r/q - p)`;
//! - inner, `k` fixed: `dphi_k = sum_j a_j h^(j/q) (k^(j/q) - (k-1)^(j/q))`, so
//!   `g(dphi_k) = sum_m h^(m/q) P_m(k)`, with `P_m(k) ~ sum_p c_pm (k - 1/2)^(m/q - p)`.
//!
//! Then `u = sum_p h^(p-1) FP int_0^1 G_p + sum_m h^(m/q) FP sum_k P_m(k)` plus, for each
//! `c_pr` with `r/q - p = -1`, a term `c_pr h^(p-1) ln N`, plus the ordinary midpoint
//! boundary terms at an end that is smooth (FP: Hadamard finite part of the integral,
//! the constant of the partial sums' expansion for the sum). The finite parts are numbers:
//! the integral by quadrature away from the end and the series near it, the sum directly
//! up to `k = INNER_TERMS` and by Hurwitz zeta functions of the tail expansion beyond.

use std::collections::BTreeMap;

use astro_float::{BigFloat, RoundingMode};
use num_bigint::BigInt;
use num_rational::{BigRational, Rational64};
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::analysis::exact::{factorial, log_cos_coefficient};
use crate::analysis::numerics::Sum;
use crate::diag::{Diag, codes};
use crate::expr::{ExprId, Pool, Symbol, hp};

/// Nodes of the Puiseux fit (at `s = i 2^-FIT_SHIFT`, i = 0 ..= FIT_NODES).
const FIT_NODES: usize = 48;
const FIT_SHIFT: u32 = 32;
/// Working precision of the fit's evaluations: the 48th difference of values 2^-32 apart
/// loses about 48 * 32 bits.
const FIT_BITS: usize = 2048;
/// Puiseux coefficients kept (the last few of the fit's degree-48 interpolant are not
/// accurate).
pub const PUISEUX_TERMS: usize = 40;
/// Precision of the series arithmetic that turns rho's series into the angle's.
const SERIES_BITS: usize = 512;
/// Inner sums are added directly up to this k, and by their tail expansion beyond.
const INNER_TERMS: usize = 64;
/// Highest p of the outer series used in the tail expansion of the inner sums.
pub const MAX_TAIL_P: usize = 16;
/// The largest q accepted: sigma ~ t^(1/q).
const MAX_Q: u32 = 8;

/// An end of [0, 1] where the angle is a power series in `d^(1/q)` with `q > 1`.
#[derive(Clone, Debug)]
pub struct SingularEnd {
    /// 0 or 1.
    pub end: u8,
    pub q: u32,
    /// With `x(s)` the series of `rho(s^q)` at t = 0, or of `1/rho(1 - s^q)` at t = 1
    /// (coefficients of s^0 ..= s^PUISEUX_TERMS): the coefficients of `x^2` and of `x'`,
    /// which is all [`SingularEnd::angle`] needs for each eigenvalue.
    square: Vec<BigFloat>,
    slope: Vec<BigFloat>,
}

/// Analyses the end `end` of `rho`: its exponent `1/q` and the Puiseux series of rho (at
/// t = 0) or 1/rho (at t = 1) in `s = d^(1/q)`. The series is fitted from values at
/// `FIT_BITS` bits and checked at a point between the nodes.
pub fn analyse_end(pool: &mut Pool, rho: ExprId, t: Symbol, end: u8) -> Result<SingularEnd, Diag> {
    let one = pool.one();
    let f = if end == 0 { rho } else { pool.div(one, rho) };
    let which = if end == 0 {
        "rho = sigma/alpha at t = 0"
    } else {
        "alpha/sigma at t = 1"
    };
    let not_puiseux = |why: String| {
        Diag::new(
            codes::ASYMPTOTICS_ENDPOINT,
            format!(
                "{which} is not a power series in (distance)^(1/q), q <= {MAX_Q}: {why}; no \
                 expansion in N is derived for it"
            ),
        )
        .with_help("`diffsym kl` gives the exact KL of any process")
    };
    let mut h = hp::Hp::new(FIT_BITS);
    let at = |h: &mut hp::Hp, d: &BigRational| -> Result<BigRational, Diag> {
        let tv = if end == 0 {
            d.clone()
        } else {
            BigRational::one() - d
        };
        let bound = [(t, h.from_rational(&tv))];
        let v = h
            .eval(pool, f, &bound)
            .map_err(|e| not_puiseux(format!("cannot evaluate it near the end ({e})")))?;
        hp::to_rational(&v).ok_or_else(|| not_puiseux("it is not finite near the end".to_owned()))
    };
    // The leading exponent from d = 2^-64 and 2^-128.
    let pow2 = |k: u32| BigRational::new(BigInt::one(), BigInt::from(2).pow(k));
    let v1 = at(&mut h, &pow2(64))?;
    let v2 = at(&mut h, &pow2(128))?;
    let ratio = (&v1 / &v2).to_f64().unwrap_or(f64::NAN);
    let beta = ratio.abs().log2() / 64.0;
    if v2.is_zero() || beta.is_nan() || beta <= 1e-3 {
        return Err(not_puiseux(format!(
            "it does not vanish at the end like a positive power (exponent {beta:.3})"
        )));
    }
    let q = (1..=MAX_Q)
        .find(|&q| {
            let x = beta * f64::from(q);
            (x - x.round()).abs() < 1e-3 && x.round() >= 1.0
        })
        .ok_or_else(|| not_puiseux(format!("it vanishes like d^{beta:.4}")))?;
    // Values at s_i = i delta, delta = 2^-FIT_SHIFT, as exact rationals.
    let delta = pow2(FIT_SHIFT);
    let mut ys = vec![BigRational::zero()];
    for i in 1..=FIT_NODES {
        let s = &delta * BigRational::from_integer(i.into());
        ys.push(at(&mut h, &s.pow(q as i32))?);
    }
    // Forward differences Delta^j y_0, then the interpolant sum_j C(i, j) Delta^j y_0 in
    // powers of i through Stirling numbers of the first kind; in integers over the common
    // denominator `den * FIT_NODES!` (the values are dyadic), normalised once at the end.
    let den = ys.iter().fold(BigInt::one(), |acc, y| {
        num_integer::Integer::lcm(&acc, y.denom())
    });
    let mut row: Vec<BigInt> = ys.iter().map(|y| y.numer() * (&den / y.denom())).collect();
    let mut diffs = Vec::with_capacity(FIT_NODES + 1);
    while let Some(first) = row.first() {
        diffs.push(first.clone());
        row = row.windows(2).map(|w| &w[1] - &w[0]).collect();
    }
    let all = factorial(FIT_NODES);
    let mut numer = vec![BigInt::zero(); FIT_NODES + 1];
    let mut stirling = vec![BigInt::one()]; // s(j, k), k = 0..=j, for j = 0
    let mut fact = BigInt::one();
    for (j, dj) in diffs.iter().enumerate() {
        if j > 0 {
            fact *= BigInt::from(j);
            // s(j, k) = s(j-1, k-1) - (j-1) s(j-1, k)
            let mut next = vec![BigInt::zero(); j + 1];
            for k in 0..=j {
                let left = if k > 0 {
                    stirling[k - 1].clone()
                } else {
                    BigInt::zero()
                };
                let right = stirling.get(k).cloned().unwrap_or_default();
                next[k] = left - BigInt::from(j - 1) * right;
            }
            stirling = next;
        }
        let scale = dj * (&all / &fact);
        for (k, s) in stirling.iter().enumerate() {
            if !s.is_zero() {
                numer[k] += &scale * s;
            }
        }
    }
    let denom = &all * &den;
    let coeff_i: Vec<BigRational> = numer
        .into_iter()
        .map(|n| BigRational::new(n, denom.clone()))
        .collect();
    // Check the interpolant between two nodes.
    let probe_i = BigRational::new(BigInt::from(FIT_NODES + 1), BigInt::from(2));
    let mut poly = BigRational::zero();
    for c in coeff_i.iter().rev() {
        poly = poly * &probe_i + c;
    }
    let probe = at(&mut h, &(&delta * &probe_i).pow(q as i32))?;
    let rel = ((&poly - &probe) / &probe)
        .abs()
        .to_f64()
        .unwrap_or(f64::INFINITY);
    if rel.is_nan() || rel >= 1e-60 {
        return Err(not_puiseux(format!(
            "a series in d^(1/{q}) misses it by {rel:.1e} (relative) near the end"
        )));
    }
    // Coefficients of s^k: coefficient of i^k times delta^-k; then x^2 and x'.
    let mut series = SeriesArith::new();
    let x: Vec<BigFloat> = coeff_i
        .iter()
        .take(PUISEUX_TERMS + 1)
        .enumerate()
        .map(|(k, c)| {
            let scaled = c * BigRational::from_integer(BigInt::from(2).pow(FIT_SHIFT * k as u32));
            series.hp.from_rational(&scaled)
        })
        .collect();
    let square = series.square(&x);
    let slope = (1..x.len())
        .map(|k| series.scale_int(&x[k], k as u64))
        .collect();
    Ok(SingularEnd {
        end,
        q,
        square,
        slope,
    })
}

/// Arithmetic on series coefficients at `SERIES_BITS` bits.
struct SeriesArith {
    hp: hp::Hp,
}

impl SeriesArith {
    fn new() -> SeriesArith {
        SeriesArith {
            hp: hp::Hp::new(SERIES_BITS),
        }
    }

    fn mul(&self, a: &BigFloat, b: &BigFloat) -> BigFloat {
        a.mul(b, SERIES_BITS, RoundingMode::ToEven)
    }

    fn scale_int(&self, a: &BigFloat, k: u64) -> BigFloat {
        self.mul(a, &BigFloat::from_word(k, SERIES_BITS))
    }

    /// The coefficients of `x^2` (as many as `x` has; `x_0 = 0`).
    fn square(&self, x: &[BigFloat]) -> Vec<BigFloat> {
        let n = x.len();
        let mut out = vec![BigFloat::from_word(0, SERIES_BITS); n];
        for i in 1..n {
            for j in 1..n - i {
                let term = self.mul(&x[i], &x[j]);
                out[i + j] = out[i + j].add(&term, SERIES_BITS, RoundingMode::ToEven);
            }
        }
        out
    }
}

impl SingularEnd {
    /// Puiseux coefficients `a_j` (j = 0 ..= PUISEUX_TERMS, `a_0 = 0`) of the angle
    /// measured from this end, in `s = d^(1/q)`: `atan(rho(s^q)/sqrt(lambda))` at t = 0,
    /// `pi/2 - phi(1 - s^q) = atan(sqrt(lambda)/rho(1 - s^q))` at t = 1. From `y = atan(c x)`:
    /// `y' = c x'/(1 + c^2 x^2)`, in `SERIES_BITS`-bit arithmetic.
    pub fn angle(&self, lambda: &BigRational) -> Vec<f64> {
        let (p, rm) = (SERIES_BITS, RoundingMode::ToEven);
        let mut arith = SeriesArith::new();
        let c2 = if self.end == 0 {
            lambda.recip()
        } else {
            lambda.clone()
        };
        let c2 = arith.hp.from_rational(&c2);
        // e = 1 + c^2 x^2, then b = x'/e by the recurrence b_k = x'_k - sum_{i>=1} e_i b_(k-i).
        let mut e: Vec<BigFloat> = self.square.iter().map(|v| arith.mul(v, &c2)).collect();
        e[0] = BigFloat::from_word(1, p);
        let mut b: Vec<BigFloat> = Vec::with_capacity(self.slope.len());
        for (k, dk) in self.slope.iter().enumerate() {
            let mut acc = dk.clone();
            for i in 1..=k {
                acc = acc.sub(&arith.mul(&e[i], &b[k - i]), p, rm);
            }
            b.push(acc);
        }
        // c = 1/sqrt(lambda) at t = 0, sqrt(lambda) at t = 1.
        let root = arith.hp.from_rational(lambda).sqrt(p, rm);
        let c = hp::to_f64(&if self.end == 0 {
            BigFloat::from_word(1, p).div(&root, p, rm)
        } else {
            root
        });
        let mut a = vec![0.0; b.len() + 1];
        for (j, bj) in b.iter().enumerate() {
            let y = bj.div(&BigFloat::from_word(j as u64 + 1, p), p, rm);
            a[j + 1] = hp::to_f64(&y) * c;
        }
        a
    }
}

/// Coefficients `b_n` (index n = 0 ..= n_max, b_0 = 0) of `g(x) = -2 ln cos x = sum b_n x^2n`.
pub fn g_coefficients(bern: &[BigRational], n_max: usize) -> Vec<f64> {
    std::iter::once(0.0)
        .chain((1..=n_max).map(|n| log_cos_coefficient(bern, n).to_f64().unwrap_or(f64::NAN)))
        .collect()
}

/// Truncated product of coefficient lists (length `len`).
fn conv(a: &[f64], b: &[f64], len: usize) -> Vec<f64> {
    let mut out = vec![0.0; len];
    for (i, &x) in a.iter().enumerate().take(len) {
        if x == 0.0 {
            continue;
        }
        for (j, &y) in b.iter().enumerate().take(len - i) {
            out[i + j] += x * y;
        }
    }
    out
}

/// The outer series near this end: `G[p][r]` is the coefficient of `d^(r/q - p)` in
/// `G_p`, p = 0 ..= p_max, from the angle's Puiseux coefficients `a` (the same recipe as
/// the symbolic series: `dphi = sum_{j odd} 2 (h/2)^j phi^(j)/j!`, then `g(dphi)`).
pub fn outer_expansion(a: &[f64], q: u32, p_max: usize, g: &[f64]) -> Vec<Vec<f64>> {
    let len = a.len();
    let qf = f64::from(q);
    let zero = vec![0.0; len];
    let mut dphi = vec![zero.clone(); p_max + 1];
    let mut fact = 1.0;
    for (j, slot) in dphi.iter_mut().enumerate().skip(1) {
        fact *= j as f64;
        if j % 2 == 0 {
            continue;
        }
        let c = 2.0 / (2f64.powi(j as i32) * fact);
        // phi^(j) = sum_i a_i (i/q)(i/q - 1)...(i/q - j + 1) d^(i/q - j)
        *slot = (0..len)
            .map(|i| {
                let x = i as f64 / qf;
                let falling: f64 = (0..j).map(|l| x - l as f64).product();
                c * a[i] * falling
            })
            .collect();
    }
    let hmul = |x: &[Vec<f64>], y: &[Vec<f64>]| -> Vec<Vec<f64>> {
        let mut out = vec![zero.clone(); p_max + 1];
        for i in 0..=p_max {
            if x[i].iter().all(|&v| v == 0.0) {
                continue;
            }
            for j in 0..=p_max - i {
                if y[j].iter().all(|&v| v == 0.0) {
                    continue;
                }
                let c = conv(&x[i], &y[j], len);
                for (o, v) in out[i + j].iter_mut().zip(c) {
                    *o += v;
                }
            }
        }
        out
    };
    let sq = hmul(&dphi, &dphi);
    let mut power = sq.clone();
    let mut out = vec![zero.clone(); p_max + 1];
    for &b in g.iter().skip(1).take(p_max / 2) {
        for (o, pw) in out.iter_mut().zip(&power) {
            for (x, &y) in o.iter_mut().zip(pw) {
                *x += b * y;
            }
        }
        power = hmul(&power, &sq);
    }
    out
}

/// `k^beta - (k-1)^beta` without cancellation.
fn power_step(k: usize, beta: f64) -> f64 {
    if k == 1 {
        return 1.0;
    }
    let kf = k as f64;
    -kf.powf(beta) * (beta * (-1.0 / kf).ln_1p()).exp_m1()
}

/// `FP sum_{n>=0} (n + a)^-s` for large `a`: the Hurwitz zeta function `zeta(s, a)` (any
/// real s, from its asymptotic expansion) and, at s = 1, `-digamma(a)`.
fn hurwitz_tail(s: Rational64, a: f64, bern: &[f64]) -> f64 {
    // Ten Bernoulli terms: for a > 64 the next is below 1e-30 of the first.
    let terms = (bern.len() / 2).min(11);
    let mut acc = Sum::new();
    if s == Rational64::one() {
        acc.add(-a.ln());
        acc.add(1.0 / (2.0 * a));
        for j in 1..terms {
            acc.add(bern[2 * j] / (2.0 * j as f64 * a.powi(2 * j as i32)));
        }
        return acc.value();
    }
    let sf = s.to_f64().unwrap_or(f64::NAN);
    acc.add(a.powf(1.0 - sf) / (sf - 1.0));
    acc.add(a.powf(-sf) / 2.0);
    // sum_j B_2j/(2j)! s(s+1)...(s+2j-2) a^(-s-2j+1)
    let mut rising = sf; // s(s+1)...(s+2j-2), for j = 1
    let mut fact = 2.0;
    for j in 1..terms {
        acc.add(bern[2 * j] / fact * rising * a.powf(-sf - 2.0 * j as f64 + 1.0));
        rising *= (sf + 2.0 * j as f64 - 1.0) * (sf + 2.0 * j as f64);
        fact *= (2 * j + 1) as f64 * (2 * j + 2) as f64;
    }
    acc.value()
}

/// A number with an estimated absolute error.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Approx {
    pub value: f64,
    pub error: f64,
}

/// `FP sum_{k>=1} P_m(k)` for m = 0 ..= m_max: the inner sums at this end. `outer` is
/// [`outer_expansion`] up to `MAX_TAIL_P`, whose coefficients give the tail beyond
/// `INNER_TERMS`. `bern` are the Bernoulli numbers as f64.
pub fn inner_sums(
    a: &[f64],
    q: u32,
    m_max: usize,
    g: &[f64],
    outer: &[Vec<f64>],
    bern: &[f64],
) -> Vec<Approx> {
    let len = m_max + 1;
    let (mut sums, mut abs) = (vec![Sum::new(); len], vec![0.0; len]);
    for k in 1..=INNER_TERMS {
        let step: Vec<f64> = (0..len)
            .map(|j| {
                if j == 0 || j >= a.len() {
                    0.0
                } else {
                    a[j] * power_step(k, j as f64 / f64::from(q))
                }
            })
            .collect();
        let sq = conv(&step, &step, len);
        let mut power = sq.clone();
        let mut p = vec![0.0; len];
        for &b in g.iter().skip(1).take(m_max / 2) {
            for (o, &v) in p.iter_mut().zip(&power) {
                *o += b * v;
            }
            power = conv(&power, &sq, len);
        }
        for m in 0..len {
            sums[m].add(p[m]);
            abs[m] += p[m].abs();
        }
    }
    let at = INNER_TERMS as f64 + 0.5;
    (0..len)
        .map(|m| {
            let mut total = sums[m];
            let mut last = 0.0;
            for (pp, list) in outer.iter().enumerate().skip(2).step_by(2) {
                let Some(&c) = list.get(m) else { continue };
                if c == 0.0 {
                    continue;
                }
                // (k - 1/2)^(m/q - p): tail sum_{k > K} is zeta(p - m/q, K + 1/2).
                let s = Rational64::new(pp as i64 * i64::from(q) - m as i64, i64::from(q));
                let term = c * hurwitz_tail(s, at, bern);
                total.add(term);
                abs[m] += term.abs();
                last = term;
            }
            let value = total.value();
            Approx {
                value,
                error: last.abs() + 8.0 * f64::EPSILON * abs[m],
            }
        })
        .collect()
}

/// `FP int_0^tau` of the outer expansion `list` of `G_p` (`c_r d^(r/q - p)`); its error
/// allows for the cancellation between its terms.
pub fn near_end_integral(list: &[f64], q: u32, p: usize, tau: f64) -> Approx {
    let mut acc = Sum::new();
    let (mut largest, mut last) = (0.0f64, 0.0f64);
    let qi = i64::from(q);
    for (r, &c) in list.iter().enumerate() {
        if c == 0.0 {
            continue;
        }
        let num = r as i64 - p as i64 * qi + qi; // (r/q - p + 1) q
        let term = if num == 0 {
            c * tau.ln()
        } else {
            let e = num as f64 / f64::from(q);
            c * tau.powf(e) / e
        };
        acc.add(term);
        largest = largest.max(term.abs());
        last = term;
    }
    Approx {
        value: acc.value(),
        error: last.abs() * 4.0 + 8.0 * f64::EPSILON * largest,
    }
}

/// Where the near-end series is summed instead of integrated: a quarter of the series'
/// radius of convergence (estimated from the coefficients), as a distance in t, at most 1/8.
pub fn near_end_cut(a: &[f64], q: u32) -> f64 {
    let a1 = a.get(1).copied().unwrap_or(0.0).abs();
    let mut radius = f64::INFINITY;
    for (j, &x) in a.iter().enumerate().skip(2) {
        if x.abs() > 1e-200 * a1 {
            radius = radius.min((a1 / x.abs()).powf(1.0 / (j - 1) as f64));
        }
    }
    (radius / 4.0).powi(q as i32).min(0.125)
}

/// A series in `h = 1/N` with `ln N` factors: `(power of h, power of ln N) -> coefficient`.
#[derive(Clone, Debug, Default)]
pub struct LogSeries {
    pub terms: BTreeMap<(Rational64, u32), Approx>,
}

impl LogSeries {
    pub fn add(&mut self, power: Rational64, log: u32, x: Approx) {
        let e = self.terms.entry((power, log)).or_default();
        e.value += x.value;
        e.error += x.error;
    }

    /// The product, without terms above `h^max`.
    pub fn mul(&self, other: &LogSeries, max: Rational64) -> LogSeries {
        let mut out = LogSeries::default();
        for (&(p1, l1), x) in &self.terms {
            for (&(p2, l2), y) in &other.terms {
                if p1 + p2 > max {
                    continue;
                }
                out.add(
                    p1 + p2,
                    l1 + l2,
                    Approx {
                        value: x.value * y.value,
                        error: x.value.abs() * y.error
                            + y.value.abs() * x.error
                            + x.error * y.error
                            + f64::EPSILON * (x.value * y.value).abs(),
                    },
                );
            }
        }
        out
    }

    pub fn scale(&mut self, c: f64) {
        for x in self.terms.values_mut() {
            x.value *= c;
            x.error *= c.abs();
        }
    }

    pub fn merge(&mut self, other: &LogSeries) {
        for (&(p, l), &x) in &other.terms {
            self.add(p, l, x);
        }
    }
}

/// `sum_n u^n/(2 n!)` for n >= 2 (the KL of a direction whose log-gain is `u`), up to `h^max`.
pub fn kl_of(u: &LogSeries, max: Rational64) -> LogSeries {
    let mut out = LogSeries::default();
    let Some(lowest) = u.terms.keys().map(|k| k.0).min() else {
        return out;
    };
    if lowest <= Rational64::zero() {
        return out;
    }
    let mut power = u.mul(u, max);
    let mut fact = 2.0;
    let mut n = 2;
    while !power.terms.is_empty() {
        let mut term = power.clone();
        term.scale(1.0 / (2.0 * fact));
        out.merge(&term);
        n += 1;
        fact *= n as f64;
        power = power.mul(u, max);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::exact::bernoulli;

    fn bern_f64() -> Vec<f64> {
        bernoulli(20)
            .iter()
            .map(|b| b.to_f64().unwrap_or(f64::NAN))
            .collect()
    }

    #[test]
    fn hurwitz_tail_matches_direct_sums() {
        let bern = bern_f64();
        // zeta(2, 10.5) = sum_{n>=0} (n + 10.5)^-2, summed directly to 10^6 with the
        // integral of the rest.
        let mut direct = Sum::new();
        let big = 1_000_000;
        for n in 0..big {
            direct.add((n as f64 + 10.5).powi(-2));
        }
        direct.add(1.0 / (big as f64 + 10.5) + 0.5 / (big as f64 + 10.5).powi(2));
        let got = hurwitz_tail(Rational64::new(2, 1), 10.5, &bern);
        assert!(
            (got - direct.value()).abs() < 1e-13,
            "{got} {}",
            direct.value()
        );
        // digamma(1/2 + K) = -gamma - 2 ln 2 + sum_{k=1}^{K} 1/(k - 1/2)
        let mut h = Sum::new();
        h.add(-0.577_215_664_901_532_9 - 2.0 * std::f64::consts::LN_2);
        for k in 1..=64 {
            h.add(1.0 / (k as f64 - 0.5));
        }
        let got = hurwitz_tail(Rational64::one(), 64.5, &bern);
        assert!((got + h.value()).abs() < 1e-14, "{got} {}", -h.value());
        // s = -1: zeta(-1, a) = -B_2(a)/2 = -(a^2 - a + 1/6)/2, exactly a polynomial.
        let a: f64 = 64.5;
        let want = -(a * a - a + 1.0 / 6.0) / 2.0;
        let got = hurwitz_tail(Rational64::new(-1, 1), a, &bern);
        assert!(((got - want) / want).abs() < 1e-14, "{got} {want}");
    }

    #[test]
    fn outer_expansion_of_a_square_root_angle() {
        // phi = a1 d^(1/2): phi' = a1/(2 sqrt d), G_2 = phi'^2 = a1^2/(4 d): r = 2.
        let mut a = vec![0.0; 10];
        a[1] = 3.0;
        let g = vec![0.0, 1.0, 1.0 / 6.0, 2.0 / 45.0];
        let out = outer_expansion(&a, 2, 4, &g);
        assert_eq!(out[2][2], 9.0 / 4.0);
        assert!(out[2].iter().enumerate().all(|(r, &c)| r == 2 || c == 0.0));
        // G_4 = phi' phi'''/12 + phi'^4/6; phi''' = (3/8) a1 d^(-5/2):
        // (a1^2 3/16)/12 d^-3 + a1^4/96 d^-2: r = 2 and r = 4.
        assert!((out[4][2] - 9.0 * 3.0 / 16.0 / 12.0).abs() < 1e-15);
        assert!((out[4][4] - 81.0 / 96.0).abs() < 1e-15);
        assert!(out[3].iter().all(|&c| c == 0.0));
    }

    #[test]
    fn log_series_products_add_log_powers() {
        let mut u = LogSeries::default();
        let one = Rational64::one();
        u.add(
            one,
            1,
            Approx {
                value: 2.0,
                error: 0.0,
            },
        );
        u.add(
            one,
            0,
            Approx {
                value: 3.0,
                error: 0.0,
            },
        );
        let sq = u.mul(&u, Rational64::new(2, 1));
        assert_eq!(sq.terms[&(Rational64::new(2, 1), 2)].value, 4.0);
        assert_eq!(sq.terms[&(Rational64::new(2, 1), 1)].value, 12.0);
        assert_eq!(sq.terms[&(Rational64::new(2, 1), 0)].value, 9.0);
        let kl = kl_of(&u, Rational64::new(2, 1));
        assert_eq!(kl.terms[&(Rational64::new(2, 1), 2)].value, 1.0);
    }
}
