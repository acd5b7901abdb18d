//! Taylor polynomials at t = 0 of functions of `t` alone, from certified values very close
//! to 0: the form a final step's coefficient takes near the data end, where its formula
//! cancels all its digits (`1 - y cot y` at `y ~ 1e-40`, which no precision fixed in
//! advance resolves).
//!
//! The coefficients come from interpolation, not from symbolic derivatives (which grow
//! with every order): `c` is evaluated with balls at `t = j 2^-64`, `j = 1 ..= N`, and the
//! interpolating polynomial is found exactly in rationals. For `c` analytic at 0, the
//! polynomial's coefficient of `t^k` differs from the Taylor coefficient by about
//! `2^(-64 (N - k))` relative, far below an f64 for the orders kept. Whether `c` is
//! analytic there is tested, not assumed: the polynomial must predict the value at one
//! more point to 200 bits, which a square root or a logarithm of `t` never lets it do.
//! A coefficient that the polynomial through one node fewer does not reproduce to 100
//! bits is the interpolation's noise around an exact 0 and is dropped; the first one left
//! is the order of the zero at t = 0.
//!
//! A function that reads a logarithm of `t` and has no Taylor polynomial (a log-SNR with
//! `log t` times a function of t that is not constant) is expanded the same way in `t^k
//! (ln t)^j` instead ([`Expansion`], [`with_logs`]).

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

use crate::expr::ball;
use crate::expr::hp;
use crate::expr::pool::{ExprId, Func, Node, Pool, Symbol};

/// Interpolation nodes, `t = j 2^-SPACING` for `j = 1 ..= NODES`.
const NODES: usize = 16;
const SPACING: u32 = 64;
/// The precision of the values at the nodes.
const BITS: usize = 2048;
/// The largest binary exponent of a value at a node that is interpolated.
const MAX_EXPONENT: u32 = 4096;
/// The highest order kept: the polynomial through one node fewer still reproduces its
/// coefficient to 2^-190.
const HIGHEST: usize = 12;
/// The highest order of a zero at t = 0 that is expanded (a final step's x coefficient
/// vanishes as `t^5` where sigma is `t exp(-t^5/25)`, alpha 1).
const MAX_ORDER: usize = 8;
/// The truncated tail allowed below the polynomial's bound, relative to its first term.
const TAIL: f64 = 1.0 / (1u64 << 60) as f64;

/// `sum_k coeffs[k] t^(order + k)` for `t` below `below`.
#[derive(Clone, Debug, PartialEq)]
pub struct Taylor {
    /// The order of the zero at t = 0.
    pub order: usize,
    /// The coefficients from `t^order` on, each rounded to 128 bits.
    pub coeffs: Vec<BigRational>,
    /// Where the tail left out is below 2^-60 of the first term (by the root test, then
    /// checked against the certified value: [`checked_bound`]).
    pub below: f64,
}

impl Taylor {
    /// The polynomial as an expression in `t`.
    pub fn to_expr(&self, pool: &mut Pool, t: Symbol) -> ExprId {
        let te = pool.sym_expr(t);
        let terms: Vec<ExprId> = self
            .coeffs
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_zero())
            .map(|(k, c)| {
                let a = pool.rational(c.clone());
                let n = pool.int((self.order + k) as i64);
                let power = pool.pow(te, n);
                pool.mul(vec![a, power])
            })
            .collect();
        pool.add(terms)
    }
}

/// The Taylor polynomial of `e` (a formula in `t` alone) at t = 0, where `e` is analytic
/// there and vanishes at 0 to an order from 1 to [`MAX_ORDER`]; None otherwise.
pub fn at_zero(pool: &Pool, e: ExprId, t: Symbol) -> Option<Taylor> {
    // Defined at 0 and not 0 there: nothing vanishes (the common case, decided cheaply).
    // Certified: where a denominator is a sum that vanishes at 0 but rounds to a tiny
    // value there (`28/5 - 163/30 - 10^3/6000`), an uncertified evaluation finds
    // `1 - t a/b` to be 1 at t = 0, where its limit is 0 (seed 20 case 4147 of the fuzzer).
    let zero = [(t, BigRational::zero())];
    if ball::certify(pool, e, &zero, 512, ball::round_f64)
        .is_ok_and(|(v, _)| f64::from_bits(v) != 0.0)
    {
        return None;
    }
    let Interpolant { b, kept, doubt } = interpolation(pool, e, t)?;
    let order = kept.iter().position(|&k| k)?;
    if order == 0 || order > MAX_ORDER {
        return None;
    }
    // a_k = b_k / spacing^k, rounded to 128 bits.
    let spacing = BigRational::new(1.into(), BigInt::from(1) << SPACING);
    let coeffs: Vec<BigRational> = (order..=HIGHEST)
        .map(|k| {
            if kept[k] {
                round_bits(&(&b[k] / spacing.pow(k as i32)), 128)
            } else {
                BigRational::zero()
            }
        })
        .collect();
    // What the coefficients dropped as noise could be, in the units of `coeffs`: an exact
    // 0's noise is far below anything that matters, but a term the nodes cannot resolve
    // (`t^5 log t`, 2^-250 of `t` at the nodes, which the polynomial predicts to 200 bits)
    // leaves coefficients that move between the interpolants and are not small.
    let doubt: Vec<f64> = (order..=HIGHEST)
        .map(|k| {
            (&doubt[k] / spacing.pow(k as i32))
                .to_f64()
                .map_or(f64::INFINITY, f64::abs)
        })
        .collect();
    let estimated = bound(&coeffs, &doubt)?;
    let mut taylor = Taylor {
        order,
        coeffs,
        below: estimated,
    };
    taylor.below = checked_bound(pool, e, t, taylor.below, |x| {
        Some(
            taylor
                .coeffs
                .iter()
                .enumerate()
                .map(|(k, c)| c * x.pow((taylor.order + k) as i32))
                .fold(BigRational::zero(), |acc, term| acc + term),
        )
    })?;
    Some(taylor)
}

/// The largest `2^-m`, from `start` (a polynomial's root-test bound) down to 2^-80, at
/// which the expansion (its value at `x` given by `expansion`) is within [`TAIL`] of the
/// certified value of `e`: the root test sees the coefficients up to [`HIGHEST`] only,
/// and where those after the first are 0 (`t c - 4` for the
/// Euler-Maruyama x coefficient of `alpha_bar = exp(-8 t^4)` is `64 t^8/3 - 1024 t^16/45 +
/// ...`, a series in `t^8` whose second term the nodes cannot see) it finds no radius and
/// would take the polynomial for exact on all of [0, 1]. The tail grows with `t`, so
/// the polynomial holds below the point where it is checked. None where it holds at none.
fn checked_bound(
    pool: &Pool,
    e: ExprId,
    t: Symbol,
    start: f64,
    expansion: impl Fn(&BigRational) -> Option<BigRational>,
) -> Option<f64> {
    let tail = BigRational::from_float(TAIL)?;
    let mut at = start;
    while at >= 2f64.powi(-80) {
        let x = BigRational::from_float(at)?;
        let Some(polynomial) = expansion(&x) else {
            at /= 2.0;
            continue;
        };
        let env = [(t, x)];
        let close = [256, 1024, 4096].into_iter().find_map(|bits| {
            let b =
                ball::with_consts(|consts| ball::eval_ball(pool, e, &env, bits, consts)).ok()?;
            let mid = hp::to_rational(&b.mid)?;
            let rad = hp::to_rational(&b.rad)?;
            // Known well enough to decide: the ball's radius below a tenth of the tail.
            (&rad * BigRational::from_integer(10.into()) <= polynomial.abs() * &tail)
                .then(|| (mid - &polynomial).abs() + rad <= polynomial.abs() * &tail)
        });
        if close == Some(true) {
            return Some(at);
        }
        at /= 2.0;
    }
    None
}

/// The orders of `t` that [`with_logs`] fits, `t^0` to `t^(LOG_ORDERS - 1)`.
const LOG_ORDERS: usize = 8;
/// The orders it keeps, from the first not 0: the others take up the truncation, and
/// the first is at most `LOG_ORDERS - LOG_KEPT - 1`.
const LOG_KEPT: usize = 4;
/// The highest powers of `ln t` it tries, in turn: at order k, powers up to `min(k, J)`.
const LOG_POWERS: [usize; 3] = [1, 3, 7];
/// The precision of its linear algebra.
const LOG_BITS: usize = 4096;

/// `sum_k sum_j coeffs[k][j] t^(order + k) (ln t)^j` for `t` below `below`: the
/// expansion at 0 of a function that has `t^k (ln t)^j` terms and no Taylor polynomial.
#[derive(Clone, Debug, PartialEq)]
pub struct LogTaylor {
    /// The order of the zero at t = 0 (of its least power of `t`).
    pub order: usize,
    /// By order from `t^order` on, then by power of `ln t` from 0; each rounded to 128
    /// bits.
    pub coeffs: Vec<Vec<BigRational>>,
    /// Where the terms left out are below 2^-60 of the function (checked against its
    /// certified value, as [`checked_bound`] checks).
    pub below: f64,
}

impl LogTaylor {
    /// The expansion as an expression in `t` and `log(t)`.
    pub fn to_expr(&self, pool: &mut Pool, t: Symbol) -> ExprId {
        let te = pool.sym_expr(t);
        let log = pool.call(Func::Log, te);
        let mut terms = Vec::new();
        for (k, row) in self.coeffs.iter().enumerate() {
            let n = pool.int((self.order + k) as i64);
            let power = pool.pow(te, n);
            for (j, c) in row.iter().enumerate().filter(|(_, c)| !c.is_zero()) {
                let mut factors = vec![pool.rational(c.clone()), power];
                if j > 0 {
                    let m = pool.int(j as i64);
                    factors.push(pool.pow(log, m));
                }
                terms.push(pool.mul(factors));
            }
        }
        pool.add(terms)
    }
}

/// The expansion at t = 0 of a function of `t` alone that vanishes there: its Taylor
/// polynomial ([`at_zero`]), or, where it has none and reads a logarithm of a formula in
/// `t`, its expansion in `t` and `ln t` ([`with_logs`]; `log` is the expression
/// `log(t)`).
#[derive(Clone, Debug, PartialEq)]
pub enum Expansion {
    Taylor(Taylor),
    Logs(LogTaylor),
}

impl Expansion {
    /// The expansion of `e` at t = 0, where it vanishes there; None where it has neither.
    pub fn at_zero(pool: &Pool, e: ExprId, t: Symbol, log: ExprId) -> Option<Expansion> {
        if let Some(p) = at_zero(pool, e, t) {
            return Some(Expansion::Taylor(p));
        }
        Expansion::logs_at_zero(pool, e, t, log)
    }

    /// The expansion of `e` at t = 0 in `t` and `ln t` ([`with_logs`]), where it reads a
    /// logarithm of a formula in `t` and has one: for a sum that [`at_zero`] found no
    /// Taylor polynomial of.
    pub fn logs_at_zero(pool: &Pool, e: ExprId, t: Symbol, log: ExprId) -> Option<Expansion> {
        reads_log(pool, e, t)
            .then(|| with_logs(pool, e, t, log))
            .flatten()
            .map(Expansion::Logs)
    }

    /// Where the terms left out are below 2^-60 of the function.
    pub fn below(&self) -> f64 {
        match self {
            Expansion::Taylor(p) => p.below,
            Expansion::Logs(p) => p.below,
        }
    }

    pub fn to_expr(&self, pool: &mut Pool, t: Symbol) -> ExprId {
        match self {
            Expansion::Taylor(p) => p.to_expr(pool, t),
            Expansion::Logs(p) => p.to_expr(pool, t),
        }
    }
}

/// Whether `e` reads the logarithm of a formula in `t` (which may leave `ln t` terms at
/// t = 0).
pub fn reads_log(pool: &Pool, e: ExprId, t: Symbol) -> bool {
    let mut seen = crate::expr::fxhash::HashSet::default();
    let mut stack = vec![e];
    while let Some(x) = stack.pop() {
        if !seen.insert(x) {
            continue;
        }
        if let Node::Call(Func::Log, arg) = pool.node(x)
            && pool.contains(*arg, t)
        {
            return true;
        }
        stack.extend(pool.children(x));
    }
    false
}

/// The expansion of `e` (a formula in `t` alone, vanishing at 0) as a polynomial in `t`
/// whose coefficients are polynomials in `ln t`, of degree at most k at order k: a
/// final step's x coefficient `1 - t sigma'/sigma` for a log-SNR `(-2 log(t/(1 - t)) +
/// tau) (1 + c t^2 ...)` is of order `t` with `t^2 ln t` terms, computed from terms of
/// order 1, and has no Taylor polynomial; for `(-2 log t + 1)(1 + t)`, sigma is `t^(1 +
/// t)` times an analytic factor, and `e^(2 t ln t)` puts `(t ln t)^m` in every order.
/// Found as [`at_zero`] finds its polynomial, by interpolation at the nodes `t = s 2^-64`,
/// `s = 1, 2, ...`, one for each unknown coefficient of `t^k (ln t)^j`, `k < LOG_ORDERS`
/// and `j <= min(k, J)`, J each of [`LOG_POWERS`] in turn ([`log_fit`]). [`LOG_KEPT`]
/// orders are kept from the first not 0, and the bound is checked against the certified
/// value ([`checked_bound`]). None where no such fit holds, or `e` does not vanish at 0.
fn with_logs(pool: &Pool, e: ExprId, t: Symbol, log: ExprId) -> Option<LogTaylor> {
    let fit = log_fit(pool, e, t, log)?;
    let order = fit.order;
    if order == 0 || order + LOG_KEPT >= LOG_ORDERS {
        return None;
    }
    let coeffs = fit.coeffs[order..order + LOG_KEPT]
        .iter()
        .map(|row| row.iter().map(|c| round_bits(c, 128)).collect())
        .collect();
    let mut expansion = LogTaylor {
        order,
        coeffs,
        below: 0.0,
    };
    let ln = |x: &BigRational| -> Option<BigRational> {
        let env = [(t, x.clone())];
        let b = ball::with_consts(|consts| ball::eval_ball(pool, log, &env, 512, consts)).ok()?;
        hp::to_rational(&b.mid)
    };
    expansion.below = checked_bound(pool, e, t, 2f64.powi(-8), |x| {
        let l = ln(x)?;
        let mut sum = BigRational::zero();
        for (k, row) in expansion.coeffs.iter().enumerate() {
            let xk = x.pow((expansion.order + k) as i32);
            let mut lj = BigRational::from_integer(1.into());
            for c in row {
                sum += c * &xk * &lj;
                lj *= &l;
            }
        }
        Some(sum)
    })?;
    Some(expansion)
}

/// The fit of [`with_logs`]: the coefficients of `t^k (ln t)^j` (by order k, then j),
/// exact rationals of the solution at 4096 bits, and the first order whose terms are more
/// than `2^-150` of the largest at the nodes (those below it are the fit's noise around
/// 0, below the `2^-256` it is checked to).
struct LogFit {
    order: usize,
    coeffs: Vec<Vec<BigRational>>,
}

/// [`with_logs`]'s fit of `e` at the nodes, checked to predict one more node and one far
/// below them to 256 bits (the four orders kept span `2^-192` at the nodes, and a power of
/// `ln t` missing from one of them showed as a misfit of `2^-225`); None where no fit
/// holds.
fn log_fit(pool: &Pool, e: ExprId, t: Symbol, log: ExprId) -> Option<LogFit> {
    use astro_float::{BigFloat, RoundingMode};
    let rm = RoundingMode::ToEven;
    let p = LOG_BITS;
    let spacing = BigRational::new(1.into(), BigInt::from(1) << SPACING);
    let float = |r: &BigRational| hp::rational_at(r, p);
    // `ln t` at `t = s 2^-64`, to LOG_BITS.
    let ln_at = |s: &BigRational| -> Option<BigFloat> {
        let env = [(t, s * &spacing)];
        let b = ball::with_consts(|consts| ball::eval_ball(pool, log, &env, p, consts)).ok()?;
        Some(b.mid)
    };
    // A node far below the others, at `t = 2^-96` (`ln t = -66.5`): over the nodes `ln t`
    // moves only from -44.4 to -40.9, where a power of it missing from the fit is nearly
    // a combination of the lower ones (`(ln t)^4` to 3e-6, `t e^(t ln t)`'s fit with
    // powers up to 3 predicted the next node to 2^-258 and had its `t^4` coefficient 1e-14
    // off); there it is not.
    let far = BigRational::new(1.into(), BigInt::from(1) << 32);
    let want_far = node_values(pool, e, t, std::slice::from_ref(&far))?.pop()?;
    let mut values: Vec<BigRational> = Vec::new();
    for powers in LOG_POWERS {
        // The unknowns' orders and powers of `ln t`.
        let terms: Vec<(usize, usize)> = (0..LOG_ORDERS)
            .flat_map(|k| (0..=k.min(powers)).map(move |j| (k, j)))
            .collect();
        let unknowns = terms.len();
        // The values at the nodes, those of the previous fit kept.
        let more: Vec<BigRational> = (values.len() + 1..=unknowns)
            .map(|s| BigRational::from_integer(s.into()))
            .collect();
        values.extend(node_values(pool, e, t, &more)?);
        let extra = BigRational::new((2 * unknowns + 1).into(), 2.into());
        let want = node_values(pool, e, t, std::slice::from_ref(&extra))?.pop()?;
        // The row of the unknowns `s^k (ln t)^j` at `s`.
        let row = |s: &BigRational| -> Option<Vec<BigFloat>> {
            let (sf, lf) = (float(s), ln_at(s)?);
            let one = float(&BigRational::from_integer(1.into()));
            let (mut sk, mut lj) = (vec![one.clone()], vec![one]);
            for _ in 1..LOG_ORDERS {
                sk.push(sk[sk.len() - 1].mul(&sf, p, rm));
                lj.push(lj[lj.len() - 1].mul(&lf, p, rm));
            }
            Some(
                terms
                    .iter()
                    .map(|&(k, j)| sk[k].mul(&lj[j], p, rm))
                    .collect(),
            )
        };
        let rows: Vec<Vec<BigFloat>> = (1..=unknowns)
            .map(|s| row(&BigRational::from_integer(s.into())))
            .collect::<Option<_>>()?;
        let rhs: Vec<BigFloat> = values.iter().map(float).collect();
        let Some(b) = solve(rows, rhs, p) else {
            continue;
        };
        // The fit predicts the values at `extra` and `far`.
        let predicts = |at: &[BigFloat], want: &BigRational| -> Option<bool> {
            let got = b.iter().zip(at).fold(BigFloat::new(p), |acc, (c, x)| {
                acc.add(&c.mul(x, p, rm), p, rm)
            });
            let got = hp::to_rational(&got)?;
            let agree = BigRational::new(1.into(), BigInt::from(1) << 256);
            Some((got - want).abs() <= want.abs() * agree)
        };
        let at_extra = row(&extra)?;
        if !(predicts(&at_extra, &want)? && predicts(&row(&far)?, &want_far)?) {
            continue;
        }
        // Each term's largest size at the nodes, `|b| s^k |ln t|^j` at the last node.
        let sizes: Vec<BigRational> = b
            .iter()
            .zip(&at_extra)
            .map(|(c, x)| hp::to_rational(&c.mul(x, p, rm)).map(|v| v.abs()))
            .collect::<Option<_>>()?;
        let top = sizes.iter().max()?.clone();
        let floor = top / BigRational::from_integer(BigInt::from(1) << 150);
        let order = terms
            .iter()
            .zip(&sizes)
            .find(|(_, v)| *v > &floor)
            .map(|(&(k, _), _)| k)?;
        let mut coeffs: Vec<Vec<BigRational>> = vec![Vec::new(); LOG_ORDERS];
        for (&(k, _), c) in terms.iter().zip(&b) {
            // In `t`: `s^k = t^k 2^(64 k)`.
            let c = hp::to_rational(c)?
                * BigRational::from_integer(BigInt::from(1) << (SPACING as usize * k));
            coeffs[k].push(c);
        }
        return Some(LogFit { order, coeffs });
    }
    None
}

/// The solution of `a x = b` (`a` square), by Gaussian elimination with partial pivoting
/// at `p` bits; None where a pivot is 0.
fn solve(
    mut a: Vec<Vec<astro_float::BigFloat>>,
    mut b: Vec<astro_float::BigFloat>,
    p: usize,
) -> Option<Vec<astro_float::BigFloat>> {
    let rm = astro_float::RoundingMode::ToEven;
    let n = b.len();
    for c in 0..n {
        let pivot = (c..n).max_by(|&i, &j| {
            let ord = a[i][c].abs().cmp(&a[j][c].abs()).unwrap_or(0);
            ord.cmp(&0)
        })?;
        if a[pivot][c].is_zero() {
            return None;
        }
        a.swap(c, pivot);
        b.swap(c, pivot);
        let (top, below) = a.split_at_mut(c + 1);
        let pivot_row = &top[c];
        for (r, row) in below.iter_mut().enumerate() {
            let f = row[c].div(&pivot_row[c], p, rm);
            for k in c..n {
                row[k] = row[k].sub(&f.mul(&pivot_row[k], p, rm), p, rm);
            }
            b[c + 1 + r] = b[c + 1 + r].sub(&f.mul(&b[c], p, rm), p, rm);
        }
    }
    let mut x = vec![astro_float::BigFloat::new(p); n];
    for r in (0..n).rev() {
        let mut acc = b[r].clone();
        for k in r + 1..n {
            acc = acc.sub(&a[r][k].mul(&x[k], p, rm), p, rm);
        }
        x[r] = acc.div(&a[r][r], p, rm);
    }
    Some(x)
}

/// The residue of `c` (a formula in `t` alone) at a simple pole at t = 0, and the Taylor
/// polynomial `P` of `t c - rho` there, so that `c = (rho + P(t))/t` for `t` below the
/// bound of `P`: the Euler step's `sigma'/sigma` is `k/t + ...` for a sigma that vanishes
/// as `t^k`. The residue is the value at 0 of `t c`'s interpolating polynomial, taken as the
/// simplest rational within 2^-100 of it (with a denominator below 2^16: a schedule's
/// orders are such rationals; no closer, for a `c` that reads a Taylor polynomial whose
/// coefficients are known to some 2^-128, a sigma's in place of its cancelling formula).
/// Where the rational misses that value by more than noise, `P` is the polynomial of `t
/// c` less the value itself, and what the rational misses (some 2^-128 of it there, 2^-100
/// at most) is left out of `c`'s form `(rho + P(t))/t`. Where the rest reads a logarithm
/// of t and has no Taylor polynomial, `P` is its expansion in `t` and `ln t` (an Euler step
/// of `log_snr = -4 log(t) (1 + t^2) + 2`, whose `t sigma'/sigma - 2` has `t^2 ln t`
/// terms). None where `t c` does not tend to such a nonzero rational or the rest has no
/// such expansion ([`Expansion::at_zero`]).
pub fn residue(pool: &mut Pool, c: ExprId, t: Symbol) -> Option<(BigRational, Expansion)> {
    let te = pool.sym_expr(t);
    let log = pool.call(Func::Log, te);
    let tc = pool.mul(vec![te, c]);
    // `t c` at 0: its polynomial's constant term, or its fit's with logarithms.
    let at_zero = match interpolation(pool, tc, t) {
        Some(Interpolant { b, kept, .. }) => {
            if !kept.first().copied().unwrap_or(false) {
                return None;
            }
            b[0].clone()
        }
        None if reads_log(pool, tc, t) => {
            let fit = log_fit(pool, tc, t, log)?;
            if fit.order != 0 {
                return None;
            }
            fit.coeffs[0].first()?.clone()
        }
        None => return None,
    };
    let rho = simplest_rational(&at_zero)?;
    // Where the rational misses the value by more than noise, the rest is taken less the
    // value itself, or it would not vanish at 0.
    let missed = &at_zero - &rho;
    let noise = rho.abs() / BigRational::from_integer(BigInt::from(1) << 200);
    let r = if missed.abs() > noise {
        pool.rational(-&at_zero)
    } else {
        pool.rational(-rho.clone())
    };
    let rest = pool.add(vec![tc, r]);
    let p = Expansion::at_zero(pool, rest, t, log)?;
    Some((rho, p))
}

/// The rational with the smallest denominator (below 2^16) within 2^-100 of `x`, relative,
/// from the continued fraction of `x`; None where there is none.
fn simplest_rational(x: &BigRational) -> Option<BigRational> {
    let tolerance = x.abs() / BigRational::from_integer(BigInt::from(1) << 100);
    let limit = BigInt::from(1) << 16;
    // Convergents h/k of the continued fraction [a0; a1, a2, ...].
    let (mut h0, mut h1) = (BigInt::from(0), BigInt::from(1));
    let (mut k0, mut k1) = (BigInt::from(1), BigInt::from(0));
    let mut rest = x.clone();
    for _ in 0..64 {
        let a = rest.floor().to_integer();
        (h0, h1) = (h1.clone(), &a * &h1 + &h0);
        (k0, k1) = (k1.clone(), &a * &k1 + &k0);
        if k1 > limit {
            return None;
        }
        let convergent = BigRational::new(h1.clone(), k1.clone());
        if (&convergent - x).abs() <= tolerance {
            return Some(convergent);
        }
        let frac = &rest - BigRational::from_integer(a);
        if frac.is_zero() {
            return None;
        }
        rest = frac.recip();
    }
    None
}

/// The interpolating polynomial of a function at the nodes ([`interpolation`]).
struct Interpolant {
    /// Its coefficients in the variable `s = t 2^SPACING`, lowest order first.
    b: Vec<BigRational>,
    /// Which of them are kept (not the noise around an exact 0), up to order `NODES - 2`.
    kept: Vec<bool>,
    /// For each one dropped, the larger magnitude of it and of the polynomial's through
    /// one node fewer: at most what the dropped coefficient can be (0 for those kept).
    doubt: Vec<BigRational>,
}

/// The interpolating polynomial of `e` at the nodes and which of its coefficients are
/// kept; None where `e` is not in range or not analytic at 0 (see the module's text).
fn interpolation(pool: &Pool, e: ExprId, t: Symbol) -> Option<Interpolant> {
    // The ball of `e` at `t = s 2^-SPACING`, where it is in range: a power series
    // vanishing to order at most 8 is near 2^-512 there, no further from 1 than a few
    // thousand binary orders (`exp(-1/t)` is 2^(-2^64), whose exact rational would take
    // gigabytes). Seen first at 128 bits, where that is cheap.
    let spacing = BigRational::new(1.into(), BigInt::from(1) << SPACING);
    let ball_at = |s: BigRational, bits: usize| -> Option<ball::Ball> {
        let env = [(t, s * &spacing)];
        ball::with_consts(|consts| ball::eval_ball(pool, e, &env, bits, consts)).ok()
    };
    let in_range = |b: &ball::Ball| {
        let fits = |x: &astro_float::BigFloat| {
            x.is_zero()
                || x.exponent()
                    .is_some_and(|x| x.unsigned_abs() <= MAX_EXPONENT)
        };
        fits(&b.mid) && fits(&b.rad)
    };
    // (At 128 bits a cancellation may leave no ball: then the nodes decide.)
    if ball_at(BigRational::from_integer(1.into()), 128).is_some_and(|b| !in_range(&b)) {
        return None;
    }
    let nodes: Vec<BigRational> = (1..=NODES)
        .map(|j| BigRational::from_integer(j.into()))
        .collect();
    // Analytic at 0: the polynomial will have to predict one more value, at `extra`.
    let extra = BigRational::new((2 * NODES + 1).into(), 2.into());
    let at: Vec<BigRational> = nodes.iter().chain([&extra]).cloned().collect();
    let mut values = node_values(pool, e, t, &at)?;
    let want = values.pop()?;
    let b = interpolate(&values);
    let got = b
        .iter()
        .rev()
        .fold(BigRational::zero(), |acc, c| acc * &extra + c);
    let agree = BigRational::new(1.into(), BigInt::from(1) << 200);
    if (got - &want).abs() > want.abs() * agree {
        return None;
    }
    // A coefficient is kept where the polynomial through one node fewer agrees with it:
    // the truncation moves an exact 0's noise by a factor 2^64, a true coefficient of
    // the orders kept by less than 2^-100 of itself.
    let fewer = interpolate(&values[..NODES - 1]);
    let close = BigRational::new(1.into(), BigInt::from(1) << 100);
    let kept: Vec<bool> = (0..NODES - 1)
        .map(|k| !b[k].is_zero() && (&b[k] - &fewer[k]).abs() <= b[k].abs() * &close)
        .collect();
    let doubt = (0..NODES - 1)
        .map(|k| {
            if kept[k] {
                BigRational::zero()
            } else {
                b[k].abs().max(fewer[k].abs())
            }
        })
        .collect();
    Some(Interpolant { b, kept, doubt })
}

/// The values of `e` at `t = s 2^-SPACING` for each `s` of `at`, as exact rationals of
/// the balls' midpoints, which must be known to BITS - 512 bits: at BITS, else at twice
/// and four times that, where the formula cancels more than 512 bits at the nodes (the
/// Euler-Maruyama x coefficient's `t c1 - rho` for `alpha_bar = exp(-8 t^4)`: `1 - exp(-8
/// t^4)` loses 256 bits, the residue taken out 508 more). None where one is not known so,
/// or out of range.
fn node_values(pool: &Pool, e: ExprId, t: Symbol, at: &[BigRational]) -> Option<Vec<BigRational>> {
    let spacing = BigRational::new(1.into(), BigInt::from(1) << SPACING);
    let fits = |x: &astro_float::BigFloat| {
        x.is_zero()
            || x.exponent()
                .is_some_and(|x| x.unsigned_abs() <= MAX_EXPONENT)
    };
    let value = |s: &BigRational| -> Option<BigRational> {
        let scale = BigRational::new(1.into(), BigInt::from(1) << (BITS - 512));
        let env = [(t, s * &spacing)];
        [BITS, 2 * BITS, 4 * BITS].into_iter().find_map(|bits| {
            let b = ball::with_consts(|consts| ball::eval_ball(pool, e, &env, bits, consts))
                .ok()
                .filter(|b| fits(&b.mid) && fits(&b.rad))?;
            let mid = hp::to_rational(&b.mid)?;
            let rad = hp::to_rational(&b.rad)?;
            (rad <= mid.abs() * &scale).then_some(mid)
        })
    };
    // Each value is one high-precision evaluation: on as many threads as there are cores.
    crate::par::map(at, crate::par::workers(at.len()), value)
        .into_iter()
        .collect()
}

/// The coefficients, lowest first, of the polynomial in `s` through `(j, values[j - 1])`
/// for `j = 1 ..= n`. Newton's form on these nodes is
/// `sum_k D^k v_1 (s - 1) ... (s - k) / k!` with `D^k` the forward differences, so over
/// the values' common denominator times `(n - 1)!` all the work is in integers and each
/// coefficient is reduced once, at the end (reduced at every step, the values' 2,000-bit
/// numerators made greatest common divisors a third of the time `emit` spent lowering).
fn interpolate(values: &[BigRational]) -> Vec<BigRational> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    let den = values.iter().fold(BigInt::from(1), |l, v| l.lcm(v.denom()));
    let mut d: Vec<BigInt> = values
        .iter()
        .map(|v| v.numer() * (&den / v.denom()))
        .collect();
    for level in 1..n {
        for j in (level..n).rev() {
            d[j] = &d[j] - &d[j - 1];
        }
    }
    // factorial[k] = k!; with L = (n - 1)!, P = L p by Horner's rule in the Newton basis:
    // P = D^(n-1); P = P (s - (k + 1)) + D^k L/k! for k = n - 2 down to 0.
    let factorial: Vec<BigInt> = (0..n)
        .scan(BigInt::from(1), |f, k| {
            if k > 0 {
                *f *= k;
            }
            Some(f.clone())
        })
        .collect();
    let l = &factorial[n - 1];
    let mut p = vec![d[n - 1].clone()];
    for k in (0..n - 1).rev() {
        let node = BigInt::from(k + 1);
        let mut q = vec![BigInt::zero(); p.len() + 1];
        for (m, c) in p.iter().enumerate() {
            q[m + 1] += c;
            q[m] -= c * &node;
        }
        q[0] += &d[k] * (l / &factorial[k]);
        p = q;
    }
    let scale = l * den;
    p.into_iter()
        .map(|c| BigRational::new(c, scale.clone()))
        .collect()
}

/// `x` rounded to `bits` significant bits (towards 0).
fn round_bits(x: &BigRational, bits: u64) -> BigRational {
    let (n, d) = (x.numer(), x.denom());
    let shift = i64::try_from(d.bits()).unwrap_or(0) - i64::try_from(n.bits()).unwrap_or(0)
        + i64::try_from(bits).unwrap_or(0);
    let scaled = if shift >= 0 {
        (n << shift as usize) / d
    } else {
        n / (d << (-shift) as usize)
    };
    if shift >= 0 {
        BigRational::new(scaled, BigInt::from(1) << shift as usize)
    } else {
        BigRational::from_integer(scaled << (-shift) as usize)
    }
}

/// The largest `2^-m` below which the terms after the first add up to at most
/// half of it, and the tail left out, estimated from the radius the coefficients show
/// (`R = min_k |a_0/a_k|^(1/k)`, the root test), to at most [`TAIL`] of it: the sum of
/// `|a_0| (t/R)^k` over the orders left out; so are the terms dropped as noise, at their
/// largest (`doubt`, by order as `coeffs`). None where that is below 2^-80.
fn bound(coeffs: &[BigRational], doubt: &[f64]) -> Option<f64> {
    let a: Vec<f64> = coeffs
        .iter()
        .map(|c| c.to_f64().map_or(f64::INFINITY, f64::abs))
        .collect();
    let first = a[0];
    if !(first.is_finite() && first > 0.0) {
        return None;
    }
    let n = a.len();
    let radius = (1..n)
        .filter(|&k| a[k] > 0.0)
        .map(|k| (first / a[k]).powf(1.0 / k as f64))
        .fold(f64::INFINITY, f64::min);
    (0..=80).map(|m| 2f64.powi(-m)).find(|&t| {
        let rest: f64 = (1..n).map(|k| a[k] * t.powi(k as i32)).sum();
        let q = t / radius;
        let tail = q.powi(n as i32) / (1.0 - q);
        let dropped: f64 = (1..n).map(|k| doubt[k] * t.powi(k as i32)).sum();
        rest <= first / 2.0 && q < 0.5 && tail <= TAIL && dropped <= first * TAIL
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::test_util::parse_in_unit_t;

    fn taylor(text: &str) -> Option<Taylor> {
        let mut pool = Pool::new();
        let e = parse_in_unit_t(&mut pool, text);
        let t = pool.symbol("t");
        at_zero(&pool, e, t)
    }

    /// The residue's rest as the Taylor polynomial it must be.
    fn plain((rho, e): (BigRational, Expansion)) -> (BigRational, Taylor) {
        match e {
            Expansion::Taylor(p) => (rho, p),
            Expansion::Logs(p) => panic!("logarithmic terms: {p:?}"),
        }
    }

    fn f64s(t: &Taylor) -> Vec<f64> {
        t.coeffs.iter().map(|c| c.to_f64().unwrap()).collect()
    }

    /// The polynomial through the values of a known one at 1 ..= n is that polynomial,
    /// padded with zeros, whatever the values' denominators.
    #[test]
    fn interpolation_recovers_a_polynomial_exactly() {
        let r = |n: i64, d: i64| BigRational::new(n.into(), d.into());
        let coeffs = [r(3, 1), r(-1, 2), r(0, 1), r(1, 7), r(5, 1024)];
        let at = |s: i64| {
            coeffs
                .iter()
                .rev()
                .fold(BigRational::zero(), |acc, c| acc * r(s, 1) + c)
        };
        for n in 5..=7 {
            let values: Vec<BigRational> = (1..=n).map(at).collect();
            let mut want = coeffs.to_vec();
            want.resize(n as usize, BigRational::zero());
            assert_eq!(interpolate(&values), want, "through {n} nodes");
        }
        // Through fewer nodes than the degree needs, it is a different polynomial, and
        // still passes through them.
        let values: Vec<BigRational> = (1..=3).map(at).collect();
        let p = interpolate(&values);
        for (s, v) in (1..=3).zip(&values) {
            let got = p
                .iter()
                .rev()
                .fold(BigRational::zero(), |acc, c| acc * r(s, 1) + c);
            assert_eq!(&got, v);
        }
        assert!(interpolate(&[]).is_empty());
    }

    #[test]
    fn a_zero_hidden_behind_a_vanishing_denominator_is_found() {
        // D(t) = 28 e^t/5 - 163/30 - (10 + t)^3/6000 vanishes at 0, where its constants
        // round to a tiny sum: D = 111 t/20 + 559 t^2/200 + ..., so 1 - (111 t/20)/D is
        // 559 t/1110 + O(t^2), though evaluated at t = 0 it looks like 1.
        let s = taylor("1 - 111*t/(20*(28*exp(t)/5 - 163/30 - (10 + t)^3/6000))").unwrap();
        assert_eq!(s.order, 1);
        let want = 559.0 / 1110.0;
        let got = s.coeffs[0].to_f64().unwrap();
        assert!((got - want).abs() <= 1e-15 * want, "{got} vs {want}");
    }

    #[test]
    fn a_simple_pole_splits_into_its_residue_and_a_series() {
        // cot t = 1/t - t/3 - t^3/45 - ...: t cot t - 1 = -t^2/3 - t^4/45 - ...
        let mut pool = Pool::new();
        let e = parse_in_unit_t(&mut pool, "cos(t)/sin(t)");
        let t = pool.symbol("t");
        let (rho, p) = residue(&mut pool, e, t).map(plain).unwrap();
        assert_eq!(rho, BigRational::from_integer(1.into()));
        assert_eq!(p.order, 2);
        let c = f64s(&p);
        assert!((c[0] + 1.0 / 3.0).abs() <= 1e-16, "{c:?}");
        assert!((c[2] + 1.0 / 45.0).abs() <= 1e-17, "{c:?}");
        // A rational residue: 2 cot t + 1/(2t) + 1 has 5/2, and the rest starts at t.
        let e = parse_in_unit_t(&mut pool, "2*cos(t)/sin(t) + 1/(2*t) + 1");
        let (rho, p) = residue(&mut pool, e, t).map(plain).unwrap();
        assert_eq!(rho, BigRational::new(5.into(), 2.into()));
        assert_eq!((p.order, f64s(&p)[0]), (1, 1.0));
        // A residue known to some 2^-128 (a formula that reads a Taylor polynomial): the
        // rational within 2^-100, the rest of order t without the difference.
        let e = parse_in_unit_t(&mut pool, "(3 + 1/2^120)/t + cos(t)");
        let (rho, p) = residue(&mut pool, e, t).map(plain).expect("a simple pole");
        assert_eq!(rho, BigRational::from_integer(3.into()));
        assert_eq!((p.order, f64s(&p)[0]), (1, 1.0));
        // No pole, or one that is not simple: nothing to split.
        let e = parse_in_unit_t(&mut pool, "exp(t)");
        assert!(residue(&mut pool, e, t).is_none());
        let e = parse_in_unit_t(&mut pool, "1/t^2");
        assert!(residue(&mut pool, e, t).is_none());
    }

    /// A term of the form `t^5 log t` is 2^-250 of `t` at the nodes: the polynomial
    /// predicts the extra value to 200 bits, but the coefficients from `t^5` on move
    /// between the two interpolants and are dropped. Dropped, they must not widen the
    /// bound: the polynomial `t` holds only where `t^4 log t` is below 2^-60 (fuzz seed
    /// 29 case 10688: a log-SNR times `1 + I(t)^2/100`, `I ~ t^2/2`, whose final steps
    /// took two terms of `tan(pi t/2)` up to t = 1/32, 4e9 ulps off there).
    #[test]
    fn terms_the_nodes_cannot_resolve_keep_the_bound_small() {
        for text in ["t + t^5*log(t)", "sin(t)*(1 + t^4*log(t)/400)"] {
            let s = taylor(text).expect("a polynomial");
            assert_eq!(s.order, 1, "{text}");
            let t = s.below;
            assert!(
                t.powi(4) * t.ln().abs() / 400.0 <= 2f64.powi(-60),
                "{text}: the polynomial is claimed below {t:e}"
            );
        }
    }

    #[test]
    fn zeros_of_higher_order_are_expanded() {
        // A final Euler step's x coefficient for sigma = 63 t exp(-t^5/25): 1 - t (1/t -
        // t^4/5) = t^5/5, written so that it cancels (fuzz seed 21, case 270512).
        let s = taylor("1 - t*(1/t - t^4/5)").unwrap();
        assert_eq!(s.order, 5);
        assert_eq!(f64s(&s)[0], 0.2);
        // (1 - cos t)^4 = t^8/16 - t^10/48 + ...
        let s = taylor("(1 - cos(t))^4").unwrap();
        assert_eq!(s.order, 8);
        let c = f64s(&s);
        assert!(
            (c[0] - 1.0 / 16.0).abs() <= 1e-17 && (c[2] + 1.0 / 48.0).abs() <= 1e-17,
            "{c:?}"
        );
        // Beyond the highest order expanded: none.
        assert!(taylor("t^9*exp(t)").is_none());
    }

    #[test]
    fn the_coefficients_are_the_taylor_coefficients() {
        // 1 - t cot t = t^2/3 + t^4/45 + 2 t^6/945 + t^8/4725 + ...
        let s = taylor("1 - t*cos(t)/sin(t)").unwrap();
        assert_eq!(s.order, 2);
        let c = f64s(&s);
        let want = [
            1.0 / 3.0,
            0.0,
            1.0 / 45.0,
            0.0,
            2.0 / 945.0,
            0.0,
            1.0 / 4725.0,
        ];
        for (k, (&got, &w)) in c.iter().zip(&want).enumerate() {
            assert!(
                (got - w).abs() <= 1e-15 * w.abs(),
                "t^{}: {got} vs {w}",
                k + 2
            );
        }
        // The tail (2 t^10/93555 + ...) is 2^-60 of t^2/3 where t^8 ~ 2^-60 * 15.6.
        assert!(s.below > 1e-3 && s.below < 0.1, "{}", s.below);
    }

    #[test]
    fn exp_remainders_expand() {
        // exp(t) - 1 - t = t^2/2 + t^3/6 + t^4/24 + ...
        let s = taylor("exp(t) - 1 - t").unwrap();
        assert_eq!(s.order, 2);
        let c = f64s(&s);
        let mut factorial = 2.0;
        for (k, &got) in c.iter().enumerate() {
            assert!((got - 1.0 / factorial).abs() <= 1e-15 / factorial, "{k}");
            factorial *= (k + 3) as f64;
        }
    }

    #[test]
    fn a_sparse_series_bounds_its_tail_by_its_radius() {
        // With u = 12 t^2: 1 + u - u/(1 - exp(-u)) = u/2 - u^2/12 + u^4/720 - u^6/30240 + ...
        // The kept orders (to t^12) hold 6 t^2, -12 t^4, 28.8 t^8 and -98.7 t^12; the
        // next term, 12^8/1209600 t^16, must be below 2^-54 of 6 t^2 at the bound.
        let s = taylor("1 + 12*t^2 - 12*t^2/(1 - exp(-12*t^2))").unwrap();
        assert_eq!(s.order, 2);
        let c = f64s(&s);
        assert!(
            (c[0] - 6.0).abs() < 1e-14 && (c[2] + 12.0).abs() < 1e-14,
            "{c:?}"
        );
        assert!(c[1] == 0.0 && c[3] == 0.0 && c[5] == 0.0, "{c:?}");
        assert!((c[6] - 28.8).abs() < 1e-13, "{c:?}");
        let next = 12f64.powi(8) / 1_209_600.0 * s.below.powi(14) / 6.0;
        assert!(next < 2f64.powi(-54), "{} leaves {next:e}", s.below);
    }

    /// `exp(t^8) - 1 = t^8 + t^16/2 + ...`: the kept orders (to t^12) hold `t^8` alone, so
    /// the root test sees no radius; the bound is where the polynomial is checked against
    /// the value, below which `t^16/2` is under 2^-60 of `t^8`.
    #[test]
    fn a_series_whose_next_term_is_out_of_sight_is_checked_against_its_value() {
        let s = taylor("exp(t^8) - 1").unwrap();
        assert_eq!((s.order, f64s(&s)[0]), (8, 1.0));
        assert!(s.below.powi(8) / 2.0 <= 2f64.powi(-60), "{}", s.below);
        assert!(s.below >= 2f64.powi(-9), "{}", s.below);
    }

    /// The Euler-Maruyama x coefficient's pole of `alpha_bar = exp(-8 t^4)` (x0 model):
    /// `c1 = 32 t^3/expm1(8 t^4) + 16 t^3 = 4/t + 64 t^7/3 - ...`, and `t c1 - 4`
    /// cancels 508 bits at the nodes besides the 256 of `expm1`'s argument, beyond
    /// 2048-bit balls known to 1536 bits. Its series in `t^8` then has one visible term.
    #[test]
    fn a_residue_whose_rest_cancels_beyond_the_nodes_precision_is_found() {
        let mut pool = Pool::new();
        let text = "(32*t^3*exp(-8*t^4)*exp(-4*t^4)/sqrt(1 - exp(-8*t^4)) \
                    + 16*t^3*exp(-4*t^4)*sqrt(1 - exp(-8*t^4)))/(exp(-4*t^4)*sqrt(1 - exp(-8*t^4)))";
        let e = parse_in_unit_t(&mut pool, text);
        let t = pool.symbol("t");
        let (rho, p) = residue(&mut pool, e, t).map(plain).expect("a simple pole");
        assert_eq!(rho, BigRational::from_integer(4.into()));
        assert_eq!(p.order, 8);
        assert!((f64s(&p)[0] - 64.0 / 3.0).abs() < 1e-13, "{:?}", f64s(&p));
        // The next term, (4/720) (8 t^4)^4 = 1024 t^16/45, under 2^-60 of the first.
        let next = 1024.0 / 45.0 * p.below.powi(8) / (64.0 / 3.0);
        assert!(
            next <= 2f64.powi(-60) && p.below >= 2f64.powi(-9),
            "{}",
            p.below
        );
    }

    #[test]
    fn a_formula_that_cancels_beyond_128_bits_at_the_nodes_expands() {
        // beta = t: the Euler x0 step's x coefficient at t_next = 0, 1 + u - u/(1 - exp(-u))
        // with u = t^2/2, is u/2 - u^2/12 + ... = t^2/4 - t^4/48 + ...; at t = 2^-64 its
        // terms cancel 2^-130 of themselves, which no 128-bit ball resolves.
        let s = taylor("1 + t^2/2 - t^2/(2*(1 - exp(-t^2/2)))").unwrap();
        assert_eq!(s.order, 2);
        let c = f64s(&s);
        assert!(
            (c[0] - 0.25).abs() < 1e-16 && (c[2] + 1.0 / 48.0).abs() < 1e-16,
            "{c:?}"
        );
    }

    #[test]
    fn what_is_not_analytic_or_does_not_vanish_is_refused() {
        assert_eq!(taylor("sqrt(t)*(1 + t)"), None);
        assert_eq!(taylor("t^2*log(t)"), None);
        assert_eq!(taylor("cos(t)"), None);
        assert_eq!(taylor("t^9"), None);
        // exp(-1/t) is flat at 0 (every derivative 0), and 2^(-2^64) at the first node.
        assert_eq!(taylor("exp(-1/t)"), None);
    }

    fn with_logs_of(text: &str) -> Option<LogTaylor> {
        let mut pool = Pool::new();
        let e = parse_in_unit_t(&mut pool, text);
        let t = pool.symbol("t");
        let te = pool.sym_expr(t);
        let log = pool.call(Func::Log, te);
        match Expansion::at_zero(&pool, e, t, log)? {
            Expansion::Logs(p) => Some(p),
            Expansion::Taylor(_) => None,
        }
    }

    fn assert_log_coefficients(p: &LogTaylor, want: &[&[f64]]) {
        assert_eq!(p.coeffs.len(), want.len(), "{p:?}");
        for (k, (row, want)) in p.coeffs.iter().zip(want).enumerate() {
            for j in 0..row.len().max(want.len()) {
                let got = row.get(j).map_or(0.0, |c| c.to_f64().unwrap());
                let w = want.get(j).copied().unwrap_or(0.0);
                assert!(
                    (got - w).abs() <= 1e-30,
                    "t^{} (ln t)^{j}: {got:e}, want {w:e}",
                    p.order + k
                );
            }
        }
    }

    /// Functions with `t^k (ln t)^j` terms, known in closed form: `sin(t) + t^2 ln(t)
    /// e^t = t + t^2 L + t^3 (L - 1/6) + t^4 L/2 + t^5 (L/6 + 1/120) + ...`, and `t (1 + t
    /// ln t)^2 = t + 2 t^2 L + t^3 L^2`, with `L = ln t`.
    #[test]
    fn logarithmic_terms_are_expanded_with_their_powers() {
        let p = with_logs_of("sin(t) + t^2*log(t)*exp(t)").expect("an expansion");
        assert_eq!(p.order, 1);
        assert_log_coefficients(&p, &[&[1.0], &[0.0, 1.0], &[-1.0 / 6.0, 1.0], &[0.0, 0.5]]);
        // The first term left out is below 2^-60 of the first kept there.
        let b = p.below;
        assert!(b >= 2f64.powi(-40), "{b:e}");
        assert!(b.powi(4) * b.ln().abs() / 6.0 <= 2f64.powi(-60), "{b:e}");
        let p = with_logs_of("t*(1 + t*log(t))^2").expect("an expansion");
        assert_eq!(p.order, 1);
        assert_log_coefficients(&p, &[&[1.0], &[0.0, 2.0], &[0.0, 0.0, 1.0], &[]]);
    }

    #[test]
    fn what_has_no_expansion_in_logarithms_is_refused() {
        for text in [
            "t/log(t)",
            "sqrt(t)*log(t)",
            "t*log(t)^5",
            "cos(t)*(1 + t*log(t))",
            "log(1 + t)",
        ] {
            assert_eq!(with_logs_of(text), None, "{text}");
        }
    }

    /// `t e^(t ln t) = t + t^2 L + t^3 L^2/2 + t^4 L^3/6 + ...` (`L = ln t`): the power of
    /// the logarithm grows with the order, beyond what a fit with powers up to 1 or 3 at
    /// every order holds.
    #[test]
    fn logarithms_whose_powers_grow_with_the_order_are_expanded() {
        let p = with_logs_of("t*exp(t*log(t))").expect("an expansion");
        assert_eq!(p.order, 1);
        assert_log_coefficients(
            &p,
            &[
                &[1.0],
                &[0.0, 1.0],
                &[0.0, 0.0, 0.5],
                &[0.0, 0.0, 0.0, 1.0 / 6.0],
            ],
        );
    }

    /// A simple pole whose rest has logarithmic terms: `(4 + 4 t^2 + 8 t^2 ln t)/t`, the
    /// Euler-Maruyama x coefficient's `2 sigma'/sigma - alpha'/alpha` for a log-SNR `-4
    /// ln(t) (1 + t^2)` at its leading orders.
    #[test]
    fn a_pole_whose_rest_has_logarithms_splits() {
        let mut pool = Pool::new();
        let e = parse_in_unit_t(&mut pool, "(4 + 4*t^2 + 8*t^2*log(t))/t + sin(t)");
        let t = pool.symbol("t");
        let (rho, rest) = residue(&mut pool, e, t).expect("a simple pole");
        assert_eq!(rho, BigRational::from_integer(4.into()));
        let Expansion::Logs(p) = rest else {
            panic!("{rest:?}")
        };
        // t sin(t) + 4 t^2 + 8 t^2 L = 5 t^2 + 8 t^2 L - t^4/6 + ...
        assert_eq!(p.order, 2);
        assert_log_coefficients(&p, &[&[5.0, 8.0], &[], &[-1.0 / 6.0], &[]]);
    }
}
