//! Range analysis: rigorous interval bounds of an expression over its symbols' domains.
//!
//! Used for side conditions of simplification rules ("x >= 0", "x in (-pi/2, pi/2)").
//! Arithmetic rounds outward: sums and products use error-free transforms (TwoSum, FMA) so
//! that an exact result such as `1 - 1 = 0` stays exact and `1 - t >= 0` is provable on
//! `t in [0, 1]`; library functions are widened by a few ulps and clamped to their
//! mathematical ranges. `None` means "unknown or possibly undefined", never a guess.

use crate::expr::fxhash::HashMap;
use std::f64::consts::{FRAC_PI_2, PI};

use num_rational::BigRational;
use num_traits::ToPrimitive;

use super::pool::{Constant, ExprId, Func, IntegralId, Node, Pool, Symbol};

/// A closed interval `[lo, hi]` (bounds may be infinite, never NaN).
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    fn new(lo: f64, hi: f64) -> Option<Interval> {
        (!lo.is_nan() && !hi.is_nan() && lo <= hi).then_some(Interval { lo, hi })
    }

    fn point(x: f64) -> Interval {
        Interval { lo: x, hi: x }
    }

    fn contains(self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

fn down(x: f64, n: u32) -> f64 {
    (0..n).fold(x, |v, _| v.next_down())
}

fn up(x: f64, n: u32) -> f64 {
    (0..n).fold(x, |v, _| v.next_up())
}

/// Lower and upper bounds of `a + b`, exact when the rounded sum is exact.
fn add_bounds(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    if !s.is_finite() {
        return (s, s);
    }
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    if err > 0.0 {
        (s, s.next_up())
    } else if err < 0.0 {
        (s.next_down(), s)
    } else {
        (s, s)
    }
}

/// Lower and upper bounds of `a * b`, exact when the rounded product is exact.
fn mul_bounds(a: f64, b: f64) -> (f64, f64) {
    if a == 0.0 || b == 0.0 {
        return (0.0, 0.0);
    }
    let p = a * b;
    if !p.is_finite() {
        return (p, p);
    }
    let err = a.mul_add(b, -p);
    if err > 0.0 {
        (p, p.next_up())
    } else if err < 0.0 {
        (p.next_down(), p)
    } else {
        (p, p)
    }
}

fn iadd(a: Interval, b: Interval) -> Option<Interval> {
    let lo = add_bounds(a.lo, b.lo).0;
    let hi = add_bounds(a.hi, b.hi).1;
    Interval::new(lo, hi)
}

fn imul(a: Interval, b: Interval) -> Option<Interval> {
    let cands = [
        mul_bounds(a.lo, b.lo),
        mul_bounds(a.lo, b.hi),
        mul_bounds(a.hi, b.lo),
        mul_bounds(a.hi, b.hi),
    ];
    let lo = cands.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
    let hi = cands.iter().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max);
    Interval::new(lo, hi)
}

/// Applies an increasing function, widening by `ulps` and clamping to `[min, max]`.
fn increasing(
    a: Interval,
    f: impl Fn(f64) -> f64,
    ulps: u32,
    min: f64,
    max: f64,
) -> Option<Interval> {
    // At 0 and 1 the functions passed here have exact values 0 or 1 (exp(0), log(1),
    // 1^r, ...), which libm returns exactly: no widening, so `1 - exp(u)` with `u <= 0` is
    // provably `>= 0`.
    let exact = |x: f64, y: f64| (x == 0.0 || x == 1.0) && (y == 0.0 || y == 1.0);
    let (lo, hi) = (f(a.lo), f(a.hi));
    let lo = if exact(a.lo, lo) { lo } else { down(lo, ulps) };
    let hi = if exact(a.hi, hi) { hi } else { up(hi, ulps) };
    Interval::new(lo.max(min), hi.min(max))
}

/// Bounds of `e` when each symbol ranges over its declared domain.
pub fn range(pool: &Pool, e: ExprId) -> Option<Interval> {
    let mut memo = Memo::default();
    go(pool, e, &mut memo)
}

/// Is `e` provably `>= 0` everywhere on its symbols' domains?
pub fn is_nonneg(pool: &Pool, e: ExprId) -> bool {
    is_positive(pool, e) || range(pool, e).is_some_and(|r| r.lo >= 0.0)
}

/// Is `e` provably `> 0` everywhere on its symbols' domains?
pub fn is_positive(pool: &Pool, e: ExprId) -> bool {
    structurally_positive(pool, e) || range(pool, e).is_some_and(|r| r.lo > 0.0)
}

/// Is `e` provably `< 0` everywhere?
pub fn is_negative(pool: &Pool, e: ExprId) -> bool {
    range(pool, e).is_some_and(|r| r.hi < 0.0)
}

/// Is `e` provably inside the closed interval `[lo, hi]` everywhere?
pub fn is_within_closed(pool: &Pool, e: ExprId, lo: f64, hi: f64) -> bool {
    range(pool, e).is_some_and(|r| r.lo >= lo && r.hi <= hi)
}

/// Positivity that survives underflow: `exp(-1000) > 0` though its interval is `[0, ...]`.
fn structurally_positive(pool: &Pool, e: ExprId) -> bool {
    match pool.node(e) {
        Node::Rational(r) => r > &num_rational::BigRational::from_integer(0.into()),
        Node::Const(_) => true,
        Node::Call(Func::Exp | Func::Cosh | Func::Sigmoid, _) => true,
        Node::Call(Func::Generic(g), _) => g.order == 0 && pool.domain(g.name).lo > 0.0,
        Node::Mul(xs) | Node::Add(xs) => xs.iter().all(|&x| structurally_positive(pool, x)),
        Node::Pow(b, _) => structurally_positive(pool, *b),
        _ => false,
    }
}

/// Ranges found so far, and the interval the variable of integrands ranges over in the
/// integrand being bounded (see [`range_over`]).
#[derive(Default)]
struct Memo {
    map: HashMap<ExprId, Option<Interval>>,
    bound: Option<(Symbol, Interval)>,
}

fn go(pool: &Pool, e: ExprId, memo: &mut Memo) -> Option<Interval> {
    if let Some(&v) = memo.map.get(&e) {
        return v;
    }
    let v = compute(pool, e, memo);
    memo.map.insert(e, v);
    v
}

/// Bounds of `e` when `s` ranges over `over` (and every other symbol over its domain).
pub fn range_over(pool: &Pool, e: ExprId, s: Symbol, over: Interval) -> Option<Interval> {
    let mut memo = Memo {
        map: HashMap::default(),
        bound: Some((s, over)),
    };
    go(pool, e, &mut memo)
}

/// Bounds of a named integral `int_c^u f` for `u` in `arg`: `(u - c)` times the range of `f`
/// between them (the mean value theorem); where `u >= c`, also the integral from `c` to
/// `arg.lo` summed over pieces (each its width times the integrand's range on it), plus, on
/// each piece of `arg`, `[0, width]` times the integrand's range there.
fn integral_range(pool: &Pool, i: IntegralId, arg: Interval) -> Option<Interval> {
    let def = pool.integral(i);
    let b = pool.bound_symbol()?;
    let c = pool.as_rational(def.lo)?;
    let (clo, chi) = (to_f64_down(c), to_f64_up(c));
    let f = |lo: f64, hi: f64| range_over(pool, def.body, b, Interval::new(lo, hi)?);
    // The width of [a, z] for a in [alo, ahi], z in [zlo, zhi].
    let width = |alo: f64, ahi: f64, zlo: f64, zhi: f64| {
        iadd(Interval::new(zlo, zhi)?, Interval::new(-ahi, -alo)?)
    };
    let simple = imul(
        width(clo, chi, arg.lo, arg.hi)?,
        f(clo.min(arg.lo), chi.max(arg.hi))?,
    )?;
    if !(arg.lo >= chi && arg.hi.is_finite() && simple.lo.is_finite() && simple.hi.is_finite()) {
        return Some(simple);
    }
    const PIECES: usize = 16;
    let split = |a: f64, z: f64| -> Vec<f64> {
        (0..=PIECES)
            .map(|k| match k {
                0 => a,
                k if k == PIECES => z,
                k => (a + (z - a) * k as f64 / PIECES as f64).clamp(a, z),
            })
            .collect()
    };
    // int_c^arg.lo f, the first piece starting anywhere in [clo, chi].
    let mut acc = Interval::point(0.0);
    if arg.lo > chi {
        let ends = split(chi, arg.lo);
        for k in 0..PIECES {
            let (alo, ahi) = if k == 0 {
                (clo, chi)
            } else {
                (ends[k], ends[k])
            };
            let z = ends[k + 1];
            acc = iadd(acc, imul(width(alo, ahi, z, z)?, f(alo, z.max(ahi))?)?)?;
        }
    }
    // For u in [u_k, u_k+1]: the integral up to u_k plus [0, u_k+1 - u_k] f([u_k, u_k+1]).
    let ends = split(arg.lo, arg.hi);
    let mut hull: Option<Interval> = None;
    for k in 0..PIECES {
        let (a, z) = (ends[k], ends[k + 1]);
        let fk = f(a, z)?;
        let w = width(a, a, z, z)?;
        let part = imul(Interval::new(0.0, w.hi)?, fk)?;
        let cand = iadd(acc, part)?;
        hull = Some(hull.map_or(cand, |h| Interval {
            lo: h.lo.min(cand.lo),
            hi: h.hi.max(cand.hi),
        }));
        acc = iadd(acc, imul(w, fk)?)?;
    }
    let refined = hull?;
    Interval::new(refined.lo.max(simple.lo), refined.hi.min(simple.hi)).or(Some(refined))
}

fn compute(pool: &Pool, e: ExprId, memo: &mut Memo) -> Option<Interval> {
    match pool.node(e) {
        Node::Rational(r) => {
            let x = r.to_f64()?;
            // to_f64 rounds to nearest: widen unless the value is exact.
            let exact = num_rational::BigRational::from_float(x).is_some_and(|q| &q == r);
            if exact {
                Some(Interval::point(x))
            } else {
                Interval::new(x.next_down(), x.next_up())
            }
        }
        Node::Const(Constant::Pi) => Interval::new(PI, PI.next_up()),
        Node::Const(Constant::E) => {
            Interval::new(std::f64::consts::E, std::f64::consts::E.next_up())
        }
        Node::Sym(s) => match memo.bound {
            Some((b, over)) if b == *s => Some(over),
            _ => {
                let d = pool.domain(*s);
                Interval::new(d.lo, d.hi)
            }
        },
        Node::Add(xs) => {
            let mut acc = Interval::point(0.0);
            for &x in xs.iter() {
                acc = iadd(acc, go(pool, x, memo)?)?;
            }
            if acc.lo < 0.0
                && acc.hi > 0.0
                && let Some(f) = common_power_bound(pool, xs, memo)
            {
                // Both are enclosures of the same values.
                acc = Interval::new(acc.lo.max(f.lo), acc.hi.min(f.hi)).unwrap_or(acc);
            }
            if acc.lo <= 0.0
                && acc.hi >= 0.0
                && let Some(f) = polynomial_bound(pool, xs, memo)
            {
                acc = Interval::new(acc.lo.max(f.lo), acc.hi.min(f.hi)).unwrap_or(acc);
            }
            if acc.lo < 0.0
                && acc.hi >= 0.0
                && let Some(f) = scaled_bound(pool, xs, memo)
            {
                acc = Interval::new(acc.lo.max(f.lo), acc.hi.min(f.hi)).unwrap_or(acc);
            }
            Some(acc)
        }
        Node::Mul(xs) => {
            let mut acc = Interval::point(1.0);
            for &x in xs.iter() {
                acc = imul(acc, go(pool, x, memo)?)?;
            }
            Some(acc)
        }
        Node::Pow(b, p) => {
            let bi = go(pool, *b, memo)?;
            match pool.as_rational(*p) {
                Some(r) => pow_rational(bi, r),
                None => {
                    // b^p = exp(p log b), needs b > 0
                    if bi.lo <= 0.0 {
                        return None;
                    }
                    let pi = go(pool, *p, memo)?;
                    let lb = increasing(bi, f64::ln, 2, f64::NEG_INFINITY, f64::INFINITY)?;
                    let prod = imul(pi, lb)?;
                    increasing(prod, f64::exp, 2, 0.0, f64::INFINITY)
                }
            }
        }
        Node::Call(f @ (Func::Sin | Func::Cos | Func::Tan), a) => {
            if let Some(u) = turns(pool, *a, memo) {
                return trig_of_turns(*f, u);
            }
            let ai = go(pool, *a, memo)?;
            call(*f, ai)
        }
        // An unspecified function takes the values its name's domain declares (for every
        // argument); its derivatives and primitive may take any.
        Node::Call(Func::Generic(g), _) if g.order == 0 => {
            let d = pool.domain(g.name);
            Interval::new(d.lo, d.hi)
        }
        Node::Call(Func::Generic(_), _) => Interval::new(f64::NEG_INFINITY, f64::INFINITY),
        Node::Call(Func::Integral(i), a) => {
            let ai = go(pool, *a, memo)?;
            integral_range(pool, *i, ai)
        }
        Node::Call(f, a) => {
            let ai = go(pool, *a, memo)?;
            call(*f, ai)
        }
    }
}

/// A power `b^k` (k rational) as a base and exponent; a non-power is `b^1`.
fn as_power(pool: &Pool, e: ExprId) -> (ExprId, num_rational::BigRational) {
    match pool.node(e) {
        Node::Pow(b, k) if let Some(k) = pool.as_rational(*k) => (*b, k.clone()),
        _ => (e, num_rational::BigRational::from_integer(1.into())),
    }
}

/// Bounds of a sum whose terms share a nonnegative base `b`, with the smallest power of `b`
/// taken out: `t - sqrt(t) = sqrt(t)*(sqrt(t) - 1)` is in `[0, 1]*[-1, 0]` on `[0, 1]`,
/// where term by term it is only in `[-1, 1]`.
fn common_power_bound(pool: &Pool, terms: &[ExprId], memo: &mut Memo) -> Option<Interval> {
    let factors = |e: ExprId| match pool.node(e) {
        Node::Mul(fs) => fs.to_vec(),
        _ => vec![e],
    };
    let first = factors(*terms.first()?);
    for cand in first {
        let (base, _) = as_power(pool, cand);
        if pool.as_rational(base).is_some() {
            continue;
        }
        // The exponent of `base` in each term, and the term's other factors.
        let mut split = Vec::with_capacity(terms.len());
        for &t in terms {
            let fs = factors(t);
            let i = fs.iter().position(|&f| as_power(pool, f).0 == base)?;
            let (_, k) = as_power(pool, fs[i]);
            let rest: Vec<ExprId> = fs
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &f)| f)
                .collect();
            split.push((k, rest));
        }
        let bi = go(pool, base, memo)?;
        if bi.lo < 0.0 {
            continue;
        }
        let m = split.iter().map(|(k, _)| k).min()?.clone();
        let mut sum = Interval::point(0.0);
        for (k, rest) in &split {
            let mut term = pow_rational(bi, &(k - &m))?;
            for &f in rest {
                term = imul(term, go(pool, f, memo)?)?;
            }
            sum = iadd(sum, term)?;
        }
        return imul(pow_rational(bi, &m)?, sum);
    }
    None
}

/// Bounds of a sum `sum_i c_i r_i` (`c_i` its terms' rational coefficients) as `c_1 sum_i
/// (c_i/c_1) r_i`: `9999/10000 - 9999/10000 sin(pi t/2)^4` (`1 - alpha_bar` of a schedule
/// whose `alpha_bar` is `1/10000 + 9999/10000 cos(pi t/2)^4`) is `9999/10000 (1 - [0,
/// 1])`, at least 0, where term by term the two roundings of `9999/10000` leave it below
/// 0 and its square root undefined.
fn scaled_bound(pool: &Pool, terms: &[ExprId], memo: &mut Memo) -> Option<Interval> {
    // A term's rational coefficient and the range of the rest (1 for a constant term).
    let mut split = |term: ExprId| -> Option<(BigRational, Interval)> {
        match pool.node(term) {
            Node::Rational(r) => Some((r.clone(), Interval::point(1.0))),
            Node::Mul(fs) => {
                let (c, rest) = match pool.node(fs[0]) {
                    Node::Rational(r) => (r.clone(), &fs[1..]),
                    _ => (BigRational::from_integer(1.into()), &fs[..]),
                };
                let mut acc = Interval::point(1.0);
                for &f in rest {
                    acc = imul(acc, go(pool, f, memo)?)?;
                }
                Some((c, acc))
            }
            _ => Some((BigRational::from_integer(1.into()), go(pool, term, memo)?)),
        }
    };
    let parts = terms
        .iter()
        .map(|&t| split(t))
        .collect::<Option<Vec<_>>>()?;
    let first = parts.first()?.0.clone();
    if num_traits::Zero::is_zero(&first) {
        return None;
    }
    let mut sum = Interval::point(0.0);
    for (c, r) in &parts {
        let q = c / &first;
        sum = iadd(
            sum,
            imul(Interval::new(to_f64_down(&q), to_f64_up(&q))?, *r)?,
        )?;
    }
    imul(Interval::new(to_f64_down(&first), to_f64_up(&first))?, sum)
}

/// Bounds of a polynomial in one symbol whose terms are `c s^k` (`c` constant, `k` a
/// natural number), with the coefficients of each power collected first: `a - a t + b t`
/// (a schedule's `a + (b - a) t` with irrational `a`, `b`) is `a + [b - a] t`, whose bound
/// term by term, `a - [0, a] + [0, b]`, reaches 0 where the polynomial never does. Affine,
/// it is the hull of its values at the two ends of the symbol's range (exact up to
/// rounding); of higher degree, Horner's scheme on the collected coefficients. None where
/// the sum is no such polynomial.
fn polynomial_bound(pool: &Pool, terms: &[ExprId], memo: &mut Memo) -> Option<Interval> {
    let mut symbol: Option<ExprId> = None;
    let mut coefficients: Vec<Interval> = Vec::new();
    for &term in terms {
        let factors = match pool.node(term) {
            Node::Mul(fs) => fs.to_vec(),
            _ => vec![term],
        };
        let (mut c, mut k) = (Interval::point(1.0), 0usize);
        for f in factors {
            if pool.free_symbols(f).is_empty() {
                c = imul(c, go(pool, f, memo)?)?;
                continue;
            }
            let (base, n) = as_power(pool, f);
            let single = k == 0 && n.is_integer() && symbol.is_none_or(|s| s == base);
            if !single || !matches!(pool.node(base), Node::Sym(_)) {
                return None;
            }
            k = usize::try_from(n.to_integer())
                .ok()
                .filter(|n| (1..=16).contains(n))?;
            symbol = Some(base);
        }
        if coefficients.len() <= k {
            coefficients.resize(k + 1, Interval::point(0.0));
        }
        coefficients[k] = iadd(coefficients[k], c)?;
    }
    let x = go(pool, symbol?, memo).filter(|x| x.lo.is_finite() && x.hi.is_finite())?;
    let horner = |x: Interval| {
        coefficients
            .iter()
            .rev()
            .try_fold(Interval::point(0.0), |acc, &c| iadd(imul(acc, x)?, c))
    };
    if coefficients.len() == 2 {
        let (at_lo, at_hi) = (
            horner(Interval::point(x.lo))?,
            horner(Interval::point(x.hi))?,
        );
        return Interval::new(at_lo.lo.min(at_hi.lo), at_lo.hi.max(at_hi.hi));
    }
    horner(x)
}

/// `x^n` (n < 0) for x in `b` where `b` has 0 as an exact end: the values where it is
/// defined, e.g. `1/x` on `[0, h]` is `[1/h, inf)`. 0 inside `b` gives `None`.
fn reciprocal_at_zero_end(b: Interval, n: i32) -> Option<Interval> {
    let inf = f64::INFINITY;
    if b.lo == 0.0 && b.hi > 0.0 {
        // Decreasing in x > 0, from +inf down to hi^n.
        let at_hi = b.hi.powi(n);
        return Interval::new(down(at_hi, 4).max(0.0), inf);
    }
    if b.hi == 0.0 && b.lo < 0.0 {
        let at_lo = b.lo.powi(n);
        return if n % 2 == 0 {
            Interval::new(down(at_lo, 4).max(0.0), inf)
        } else {
            Interval::new(-inf, up(at_lo, 4).min(0.0))
        };
    }
    None
}

fn pow_rational(b: Interval, r: &num_rational::BigRational) -> Option<Interval> {
    let rf = r.to_f64()?;
    if r.is_integer() {
        let n = r.to_integer().to_i32()?;
        match n {
            0 => return Some(Interval::point(1.0)),
            1 => return Some(b),
            _ => {}
        }
        if n < 0 {
            if b.contains(0.0) {
                return reciprocal_at_zero_end(b, n);
            }
            // (-n overflows for n = i32::MIN, where it would recurse with n again.)
            let m = n.checked_neg()?;
            // The power of |b| (b is of one sign), its sign put back below.
            let magnitude = if b.hi < 0.0 {
                Interval::new(-b.hi, -b.lo)?
            } else {
                b
            };
            let pos = pow_rational(
                magnitude,
                &num_rational::BigRational::from_integer(m.into()),
            )?;
            return increasing(
                Interval::new(1.0 / pos.hi, 1.0 / pos.lo)?,
                |x| x,
                1,
                0.0,
                f64::INFINITY,
            )
            .map(|i| {
                if b.hi < 0.0 && n % 2 != 0 {
                    Interval {
                        lo: -i.hi,
                        hi: -i.lo,
                    }
                } else {
                    i
                }
            });
        }
        let p = |x: f64| x.powi(n);
        // Powers of 0 and of +-1 are exact; other results are widened.
        let exact = |x: f64| x == 0.0 || x.abs() == 1.0;
        let down = |y: f64, x: f64, k| if exact(x) { y } else { down(y, k) };
        let up = |y: f64, x: f64, k| if exact(x) { y } else { up(y, k) };
        return if n % 2 == 0 {
            // The arguments where the even power is smallest and largest.
            let (lo_at, hi_at) = if b.lo >= 0.0 {
                (b.lo, b.hi)
            } else if b.hi <= 0.0 {
                (b.hi, b.lo)
            } else if p(b.lo) > p(b.hi) {
                (0.0, b.lo)
            } else {
                (0.0, b.hi)
            };
            Interval::new(down(p(lo_at), lo_at, 2).max(0.0), up(p(hi_at), hi_at, 2))
        } else {
            // Odd powers keep the sign: a nonnegative (nonpositive) end stays one.
            let lo = down(p(b.lo), b.lo, 2);
            let hi = up(p(b.hi), b.hi, 2);
            let lo = if b.lo >= 0.0 { lo.max(0.0) } else { lo };
            let hi = if b.hi <= 0.0 { hi.min(0.0) } else { hi };
            Interval::new(lo, hi)
        };
    }
    // Non-integer exponent: defined for b >= 0 only.
    if b.lo < 0.0 {
        return None;
    }
    if rf > 0.0 {
        increasing(b, |x| x.powf(rf), 2, 0.0, f64::INFINITY)
    } else {
        if b.lo == 0.0 {
            return None;
        }
        Interval::new(down(b.hi.powf(rf), 2).max(0.0), up(b.lo.powf(rf), 2))
    }
}

/// The range of `u` when `a == pi * u` (a product with a `pi` factor), computed without
/// the rounding of pi, so that the zeros and poles of trigonometric functions fall at
/// exactly representable `u = k/2`.
fn turns(pool: &Pool, a: ExprId, memo: &mut Memo) -> Option<Interval> {
    let Node::Mul(fs) = pool.node(a) else {
        return matches!(pool.node(a), Node::Const(Constant::Pi)).then_some(Interval::point(1.0));
    };
    let pis = fs
        .iter()
        .filter(|&&f| matches!(pool.node(f), Node::Const(Constant::Pi)))
        .count();
    if pis != 1 {
        return None;
    }
    let rest: Vec<ExprId> = fs
        .iter()
        .copied()
        .filter(|&f| !matches!(pool.node(f), Node::Const(Constant::Pi)))
        .collect();
    // Exactly, where the factors are polynomials in symbols with exact bounds: then
    // `u = 1/2` is found to be exactly 1/2, not one ulp above it.
    let exact = rest.iter().try_fold((one(), one()), |acc, &f| {
        let r = exact_range(pool, f)?;
        Some(exact_mul(&acc, &r))
    });
    if let Some((lo, hi)) = exact {
        return Interval::new(to_f64_down(&lo), to_f64_up(&hi));
    }
    let mut acc = Interval::point(1.0);
    for &f in &rest {
        acc = imul(acc, go(pool, f, memo)?)?;
    }
    Some(acc)
}

type Exact = (BigRational, BigRational);

fn one() -> BigRational {
    BigRational::from_integer(1.into())
}

/// Exact bounds of a polynomial in symbols whose domains have finite bounds.
fn exact_range(pool: &Pool, e: ExprId) -> Option<Exact> {
    match pool.node(e) {
        Node::Rational(r) => Some((r.clone(), r.clone())),
        Node::Sym(s) => {
            let d = pool.domain(*s);
            Some((
                BigRational::from_float(d.lo)?,
                BigRational::from_float(d.hi)?,
            ))
        }
        Node::Add(xs) => {
            let zero = BigRational::from_integer(0.into());
            xs.iter().try_fold((zero.clone(), zero), |acc, &x| {
                let r = exact_range(pool, x)?;
                Some((acc.0 + r.0, acc.1 + r.1))
            })
        }
        Node::Mul(xs) => xs.iter().try_fold((one(), one()), |acc, &x| {
            Some(exact_mul(&acc, &exact_range(pool, x)?))
        }),
        Node::Pow(b, n) => {
            let n = pool.as_rational(*n)?;
            let k = n
                .to_integer()
                .to_i32()
                .filter(|&k| n.is_integer() && (1..=16).contains(&k))?;
            let r = exact_range(pool, *b)?;
            (1..k).try_fold(r.clone(), |acc, _| Some(exact_mul(&acc, &r)))
        }
        _ => None,
    }
}

fn exact_mul(a: &Exact, b: &Exact) -> Exact {
    let c = [&a.0 * &b.0, &a.0 * &b.1, &a.1 * &b.0, &a.1 * &b.1];
    let lo = c.iter().min().cloned().unwrap_or_else(one);
    let hi = c.iter().max().cloned().unwrap_or_else(one);
    (lo, hi)
}

/// The largest f64 at most `r`.
fn to_f64_down(r: &BigRational) -> f64 {
    let x = r.to_f64().unwrap_or(f64::NAN);
    match BigRational::from_float(x) {
        Some(q) if &q > r => x.next_down(),
        _ => x,
    }
}

/// The smallest f64 at least `r`.
fn to_f64_up(r: &BigRational) -> f64 {
    let x = r.to_f64().unwrap_or(f64::NAN);
    match BigRational::from_float(x) {
        Some(q) if &q < r => x.next_up(),
        _ => x,
    }
}

/// `sin(pi u)`, `cos(pi u)` or `tan(pi u)` for u in `u` (values where defined).
fn trig_of_turns(f: Func, u: Interval) -> Option<Interval> {
    if !(u.lo.is_finite() && u.hi.is_finite()) || u.hi - u.lo >= 2.0 {
        return match f {
            Func::Tan => None,
            _ => Interval::new(-1.0, 1.0),
        };
    }
    // cos(pi u) = sin(pi (u + 1/2)); shifting by 1/2 is exact for the u we meet.
    let (u, f) = match f {
        Func::Cos => {
            let (lo, hi) = (add_bounds(u.lo, 0.5).0, add_bounds(u.hi, 0.5).1);
            (Interval::new(lo, hi)?, Func::Sin)
        }
        _ => (u, f),
    };
    // sin(pi u) at u, exact at multiples of 1/2.
    let sin_turns = |x: f64| -> (f64, f64) {
        let twice = 2.0 * x;
        if twice == twice.round() {
            let v = match (twice.round() as i64).rem_euclid(4) {
                0 | 2 => 0.0,
                1 => 1.0,
                _ => -1.0,
            };
            (v, v)
        } else {
            let v = (std::f64::consts::PI * x).sin();
            (down(v, 4).max(-1.0), up(v, 4).min(1.0))
        }
    };
    match f {
        Func::Sin => {
            let (a, b) = (sin_turns(u.lo), sin_turns(u.hi));
            let mut lo = a.0.min(b.0);
            let mut hi = a.1.max(b.1);
            // Maxima at u = 1/2 + 2k, minima at u = -1/2 + 2k.
            let has = |c: f64| ((u.lo - c) / 2.0).ceil() * 2.0 + c <= u.hi;
            if has(0.5) {
                hi = 1.0;
            }
            if has(-0.5) {
                lo = -1.0;
            }
            Interval::new(lo, hi)
        }
        Func::Tan => {
            // Poles at u = 1/2 + k. A pole inside: unknown; a pole at an exact end: the
            // values where tan is defined reach +inf (right end) or -inf (left end).
            let k_lo = (u.lo - 0.5).ceil();
            let k_hi = (u.hi - 0.5).floor();
            let tan_turns = |x: f64| {
                if x == x.round() {
                    (0.0, 0.0)
                } else {
                    let v = (std::f64::consts::PI * x).tan();
                    (down(v, 4), up(v, 4))
                }
            };
            match k_hi - k_lo {
                d if d < 0.0 => Interval::new(tan_turns(u.lo).0, tan_turns(u.hi).1),
                0.0 if u.hi == k_hi + 0.5 && u.lo < u.hi => {
                    Interval::new(tan_turns(u.lo).0, f64::INFINITY)
                }
                0.0 if u.lo == k_lo + 0.5 && u.lo < u.hi => {
                    Interval::new(f64::NEG_INFINITY, tan_turns(u.hi).1)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn call(f: Func, a: Interval) -> Option<Interval> {
    const INF: f64 = f64::INFINITY;
    match f {
        Func::Exp => increasing(a, f64::exp, 2, 0.0, INF),
        Func::Log => {
            if a.lo <= 0.0 {
                return None;
            }
            increasing(a, f64::ln, 2, -INF, INF)
        }
        Func::Expm1 => increasing(a, f64::exp_m1, 2, -1.0, INF),
        Func::Log1p => {
            if a.lo <= -1.0 {
                return None;
            }
            increasing(a, f64::ln_1p, 2, -INF, INF)
        }
        Func::Sin => periodic_bounds(a, 0.0),
        Func::Cos => periodic_bounds(a, FRAC_PI_2),
        Func::Tan => {
            // Monotone between poles at pi/2 + k pi.
            let k_lo = ((a.lo - FRAC_PI_2) / PI).ceil();
            let k_hi = ((a.hi - FRAC_PI_2) / PI).floor();
            if k_lo <= k_hi || (a.hi - a.lo) >= PI {
                return None;
            }
            increasing(a, f64::tan, 4, -INF, INF)
        }
        Func::Atan => increasing(a, f64::atan, 2, -FRAC_PI_2.next_up(), FRAC_PI_2.next_up()),
        Func::Asin => {
            if a.lo < -1.0 || a.hi > 1.0 {
                return None;
            }
            increasing(a, f64::asin, 2, -FRAC_PI_2.next_up(), FRAC_PI_2.next_up())
        }
        Func::Acos => {
            if a.lo < -1.0 || a.hi > 1.0 {
                return None;
            }
            Interval::new(
                down(a.hi.acos(), 2).max(0.0),
                up(a.lo.acos(), 2).min(PI.next_up()),
            )
        }
        Func::Sinh => increasing(a, f64::sinh, 2, -INF, INF),
        Func::Tanh => increasing(a, f64::tanh, 2, -1.0, 1.0),
        Func::Sigmoid => increasing(a, |x| 1.0 / (1.0 + (-x).exp()), 4, 0.0, 1.0),
        Func::Cosh => {
            let (lo, hi) = if a.contains(0.0) {
                (1.0, a.lo.abs().max(a.hi.abs()).cosh())
            } else {
                let (m, n) = (a.lo.abs().min(a.hi.abs()), a.lo.abs().max(a.hi.abs()));
                (m.cosh(), n.cosh())
            };
            Interval::new(down(lo, 2).max(1.0), up(hi, 2))
        }
        Func::Abs => {
            let (lo, hi) = if a.contains(0.0) {
                (0.0, a.lo.abs().max(a.hi.abs()))
            } else {
                (a.lo.abs().min(a.hi.abs()), a.lo.abs().max(a.hi.abs()))
            };
            Interval::new(lo, hi)
        }
        // Handled by `compute`, which knows the function's declared range.
        Func::Generic(_) | Func::Integral(_) => None,
    }
}

/// Bounds of `sin(x + shift)` for x in `a`.
fn periodic_bounds(a: Interval, shift: f64) -> Option<Interval> {
    if !(a.lo.is_finite() && a.hi.is_finite()) || a.hi - a.lo >= 2.0 * PI {
        return Interval::new(-1.0, 1.0);
    }
    let (lo, hi) = (a.lo + shift, a.hi + shift);
    let s = |x: f64| x.sin();
    let mut min = s(lo).min(s(hi));
    let mut max = s(lo).max(s(hi));
    // Extrema at pi/2 + 2k pi (max) and -pi/2 + 2k pi (min) inside the interval. Shifting by a
    // few ulps could move them; be generous at the edges.
    let slack = 8.0 * f64::EPSILON * (1.0 + lo.abs().max(hi.abs()));
    let has = |c: f64| {
        let k = ((lo - slack - c) / (2.0 * PI)).ceil();
        c + 2.0 * PI * k <= hi + slack
    };
    if has(FRAC_PI_2) {
        max = 1.0;
    }
    if has(-FRAC_PI_2) {
        min = -1.0;
    }
    Interval::new(down(min, 4).max(-1.0), up(max, 4).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::pool::Domain;
    use crate::expr::test_util::parse_in_unit_t as parse;

    /// Is `e` provably inside the open interval `(lo, hi)`?
    fn is_within_open(pool: &Pool, e: ExprId, lo: f64, hi: f64) -> bool {
        range(pool, e).is_some_and(|r| r.lo > lo && r.hi < hi)
    }

    fn unit_t(p: &mut Pool) -> ExprId {
        let s = p.symbol("t");
        p.set_domain(s, Domain::UNIT);
        p.sym_expr(s)
    }

    /// Found by the fuzzer (seed 21 case 459869: `2*2*...*2*log(shift)` with 31 twos in
    /// a log-SNR): the power -2^31 negated to itself in i32 and the bound recursed
    /// until the stack overflowed. Its range is known above 0 or not at all, at once.
    #[test]
    fn the_least_i32_power_is_bounded_without_recursing() {
        let mut p = Pool::new();
        let t = unit_t(&mut p);
        let half = p.rational(num_rational::BigRational::new(1.into(), 2.into()));
        let b = p.add(vec![half, t]);
        let n = p.int(i64::from(i32::MIN));
        let e = p.pow(b, n);
        assert!(range(&p, e).is_none_or(|r| r.lo >= 0.0));
    }

    /// Fuzz seed 33 case 81989: an EDM-like `sigma = (a + t (b - a))^16` with irrational
    /// `a < b` is written `a - a t + b t`, which term by term reaches 0 at t = 1; collected,
    /// `a + (b - a) t` is at least `a`, so the difference of two such powers is written
    /// through the difference of the bases (without it, the DDIM step lost all its digits
    /// at t = 1e-40).
    #[test]
    fn a_polynomial_is_bounded_with_its_coefficients_collected() {
        let mut p = Pool::new();
        let e = parse(&mut p, "0.033^(1/16) - 0.033^(1/16)*t + 83.665^(1/16)*t");
        let a = 0.033f64.powf(1.0 / 16.0);
        let b = 83.665f64.powf(1.0 / 16.0);
        let r = range(&p, e).expect("bounded");
        assert!(r.lo > 0.0 && (r.lo - a).abs() < 1e-12 * a, "{r:?}");
        assert!((r.hi - b).abs() < 1e-12 * b, "{r:?}");
        // Degree two, the terms of one power collected before Horner's scheme: term by
        // term `sqrt(2) t^2 - t^2 - t/4 + 1/2` reaches -3/4; collected, `((sqrt(2) - 1) t
        // - 1/4) t + 1/2` is at least 1/4 (its least value is about 0.462).
        let q = parse(&mut p, "sqrt(2)*t^2 - t^2 - t/4 + 1/2");
        let r = range(&p, q).expect("bounded");
        assert!(r.lo >= 0.25 && r.lo <= 0.462 && r.hi >= 0.5, "{r:?}");
        // Not a polynomial in one symbol: no claim beyond the term-by-term bound.
        let w = parse(&mut p, "1 - t + sqrt(t) - 1");
        assert!(!is_positive(&p, w));
    }

    #[test]
    fn exact_boundaries_are_kept() {
        let mut p = Pool::new();
        let t = unit_t(&mut p);
        let one = p.one();
        let e = p.sub(one, t);
        assert!(is_nonneg(&p, e));
        assert!(!is_positive(&p, e));
        let t2 = p.powi(t, 2);
        assert!(is_nonneg(&p, t2));
    }

    #[test]
    fn branch_ranges() {
        let mut p = Pool::new();
        let t = unit_t(&mut p);
        let pi = p.pi();
        let half = p.frac(1, 2);
        let arg = p.mul(vec![half, pi, t]);
        // pi t / 2 in [0, pi/2]: not strictly inside (-pi/2, pi/2) at t = 1.
        assert!(!is_within_open(&p, arg, -FRAC_PI_2, FRAC_PI_2));
        let q = p.frac(1, 4);
        let arg2 = p.mul(vec![q, pi, t]);
        assert!(is_within_open(&p, arg2, -FRAC_PI_2, FRAC_PI_2));
        let c = p.call(Func::Cos, arg2);
        assert!(is_positive(&p, c));
    }

    #[test]
    fn trig_of_pi_multiples_is_exact_at_zeros_and_poles() {
        let mut p = Pool::new();
        let t = unit_t(&mut p);
        let pi = p.pi();
        let half = p.frac(1, 2);
        let arg = p.mul(vec![half, pi, t]);
        // tan(pi t/2) on [0, 1]: [0, inf) where defined, 0 exactly at t = 0.
        let tan = p.call(Func::Tan, arg);
        assert_eq!(
            range(&p, tan),
            Some(Interval {
                lo: 0.0,
                hi: f64::INFINITY
            })
        );
        // cos(pi t/2) on [0, 1] is in [0, 1]: nonnegative, not positive.
        let cos = p.call(Func::Cos, arg);
        assert!(is_nonneg(&p, cos) && !is_positive(&p, cos));
        // tan(pi t) has its pole inside: unknown.
        let arg2 = p.mul(vec![pi, t]);
        let tan2 = p.call(Func::Tan, arg2);
        assert_eq!(range(&p, tan2), None);
    }

    #[test]
    fn trig_arguments_are_bounded_exactly() {
        // cos(125 pi (1/125 + t)/252) on [0, 1]: the argument reaches pi/2 exactly at t = 1
        // (125/252 * 126/125 = 1/2), which floating point alone would overshoot.
        let mut p = Pool::new();
        let t = unit_t(&mut p);
        let pi = p.pi();
        let c = p.frac(1, 125);
        let s = p.add(vec![c, t]);
        let k = p.frac(125, 252);
        let arg = p.mul(vec![k, pi, s]);
        let cos = p.call(Func::Cos, arg);
        assert!(is_nonneg(&p, cos));
        assert!(!is_positive(&p, cos));
    }

    #[test]
    fn reciprocals_at_an_exact_zero_end() {
        let mut p = Pool::new();
        let t = unit_t(&mut p);
        let one = p.one();
        let d = p.sub(one, t);
        let r = p.recip(d);
        // 1/(1 - t) on [0, 1]: [1, inf) where defined.
        let i = range(&p, r).unwrap();
        assert!(i.lo <= 1.0 && i.lo > 0.99 && i.hi == f64::INFINITY, "{i:?}");
        let x = p.var("x");
        let rx = p.recip(x);
        assert_eq!(range(&p, rx), None);
    }

    #[test]
    fn negative_powers_of_a_negative_base() {
        let mut p = Pool::new();
        // t - 3 is in [-3, -2]: 1/(t - 3) in [-1/2, -1/3], 1/(t - 3)^2 in [1/9, 1/4].
        for (text, lo, hi) in [
            ("1/(t - 3)", -0.5, -1.0 / 3.0),
            ("(t - 3)^-2", 1.0 / 9.0, 0.25),
            ("(t - 3)^-3", -0.125, -1.0 / 27.0),
        ] {
            let e = parse(&mut p, text);
            let i = range(&p, e).unwrap_or_else(|| panic!("{text} has a range"));
            let near = |a: f64, b: f64| (a - b).abs() <= 1e-15 * b.abs();
            assert!(
                i.lo <= lo && i.hi >= hi && near(i.lo, lo) && near(i.hi, hi),
                "{text}: {i:?}"
            );
        }
    }

    #[test]
    fn unknown_symbols_are_unbounded() {
        let mut p = Pool::new();
        let x = p.var("x");
        assert!(!is_nonneg(&p, x));
        let l = p.call(Func::Log, x);
        assert_eq!(range(&p, l), None);
    }

    #[test]
    fn a_common_power_is_taken_out_of_a_sum() {
        let mut p = Pool::new();
        // t - sqrt(t) = sqrt(t) (sqrt(t) - 1) <= 0 on [0, 1]; termwise only [-1, 1].
        let e = parse(&mut p, "sqrt(t) - t");
        assert!(is_nonneg(&p, e));
        let g2 = parse(&mut p, "-1/(2*(t - sqrt(t)))");
        assert!(is_nonneg(&p, g2));
        // Not over-claimed: these change sign on [0, 1].
        for text in ["t - 1/2", "sqrt(t) - 2*t", "t^2 - t/2"] {
            let e = parse(&mut p, text);
            assert!(!is_nonneg(&p, e), "{text}");
        }
    }

    #[test]
    fn a_sum_is_bounded_with_its_first_coefficient_taken_out() {
        let mut p = Pool::new();
        // 9999/10000 (1 - sin(pi t/2)^4) >= 0; term by term the two outward roundings of
        // 9999/10000 put the lower end below 0, and the square root had no range.
        let e = parse(&mut p, "9999/10000 - 9999*sin(pi*t/2)^4/10000");
        let r = range(&p, e).expect("bounded");
        assert!(r.lo == 0.0 && (r.hi - 0.9999).abs() < 1e-15, "{r:?}");
        let root = parse(&mut p, "sqrt(9999/10000 - 9999*sin(pi*t/2)^4/10000)");
        assert!(is_nonneg(&p, root));
        // Not over-claimed: these change sign on [0, 1].
        for text in ["3/7 - 6*t/7", "1/3 - sin(pi*t/2)/3 - t/5"] {
            let e = parse(&mut p, text);
            assert!(!is_nonneg(&p, e), "{text}");
        }
    }

    #[test]
    fn exact_values_at_zero_and_one_are_not_widened() {
        let mut p = Pool::new();
        for text in [
            "1 - exp(-t)",
            "cos(pi*t/2)^3",
            "1 - t^(3/2)",
            "-log(1/2 + t/2)",
        ] {
            let e = parse(&mut p, text);
            assert!(is_nonneg(&p, e), "{text}");
        }
        let e = parse(&mut p, "1 - exp(t)");
        assert!(!is_nonneg(&p, e));
    }
}
