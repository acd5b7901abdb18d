//! Named integrals: `int_c^u f(s) ds` kept as a function of its upper limit `u` where no
//! closed form is known, and the plan of its certified quadrature.
//!
//! A named integral is a call `Func::Integral(i)` of its upper limit; the pool's table holds
//! the integrand (a function of the bound variable [`BOUND`] only), the exact rational lower
//! limit and the integrand's derivatives up to an even order `N`. Its derivative is the
//! integrand at the upper limit (the fundamental theorem, [`crate::expr::diff`]).
//!
//! Quadrature is Taylor's formula on panels: on `[m - r, m + r]`,
//! `int f = sum_{k even, k < N} f^(k)(m) 2 r^(k+1)/(k+1)! + R`, with
//! `|R| <= max |f^(N)| 2 |r|^(N+1)/(N+1)!`, the maximum bounded by range analysis of the
//! symbolic `N`-th derivative on the panel. The panels' mid points and half-widths are exact
//! rationals, so the evaluators only evaluate the derivatives at exact points: the ball
//! evaluator's enclosure is rigorous, the high-precision value's error is the bound `R` plus
//! its rounding. [`plan`] bisects panels until the bounds sum to the tolerance, within
//! [`MAX_PANELS`].

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive};

use super::eval::EvalError;
use super::integrate::{self, IntegrateError};
use super::pool::{BOUND, ExprId, Func, IntegralDef, IntegralId, Node, Pool, Symbol, complexity};
use super::range::{Interval, range_over};
use super::{diff, simplify, subst};

/// The highest order of derivative kept (the order of the Taylor formula on each panel).
pub const ORDER: usize = 24;

/// The largest canonical size of a derivative kept: beyond it, the order stops lower.
const MAX_DERIVATIVE_SIZE: usize = 6000;
/// The largest derivative that is simplified before the next is taken.
const MAX_SIMPLIFIED_SIZE: usize = 1500;

/// How deep named integrals may nest (an integral of an integral): the outer quadrature
/// evaluates the inner one at each of its points, so the work multiplies with each level.
pub const MAX_NESTING: usize = 2;

/// The most panels one quadrature may use: beyond them, [`EvalError::TooCostly`].
pub const MAX_PANELS: usize = 4096;
/// The range-analysis work one [`plan`] may spend, in nodes of the derivatives it bounds
/// (one range analysis of a derivative per order tried per panel): a long integrand whose
/// panels keep splitting ends in [`EvalError::TooCostly`] within about a second instead of
/// the 20 s the fuzzer found (`(8.175 (1 + cos(pi t))/2 + 0.222) exp(-t ((300 + t)^(1/3))^2
/// / 100)` as a beta).
pub const PLAN_WORK: usize = 2_000_000;
/// The polynomial work (`poly`'s units) the simplification of an integrand's derivatives
/// may spend together: a quarter of one process's.
const DERIVATIVE_WORK: u64 = super::poly::PROCESS_WORK / 4;

/// Why an integral is neither closed nor named.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NameError {
    #[error(transparent)]
    Integrate(#[from] IntegrateError),
    /// Named, but quadrature cannot evaluate it to 64 bits within [`MAX_PANELS`] panels on
    /// the interval (an integrand whose derivatives are unbounded there, or too large).
    #[error(
        "no closed form is known, and quadrature cannot evaluate the integral: the integrand is not smooth on the interval, too large, or holds integrals nested too deep"
    )]
    Unevaluable { term: ExprId },
}

/// `int_lo^hi e dx`: in closed form where [`integrate::integrate`] finds one, else a named
/// integral where `e` depends on `x` alone, `lo` is rational and quadrature can evaluate it
/// (`feasible`). Other failures are the integrator's.
pub fn integrate_or_name(
    pool: &mut Pool,
    e: ExprId,
    x: Symbol,
    lo: ExprId,
    hi: ExprId,
) -> Result<ExprId, NameError> {
    match integrate::integrate(pool, e, x, lo, hi) {
        Err(IntegrateError::NoClosedForm { term }) => match between(pool, e, x, lo, hi) {
            Named::Value(v) => Ok(v),
            Named::Unevaluable(_) | Named::TooDeep => Err(NameError::Unevaluable { term: e }),
            Named::Not => Err(IntegrateError::NoClosedForm { term }.into()),
        },
        // A user function's template is lowered with an argument of any value, over which
        // few integrands are bounded; a named integral needs them bounded (and smooth) on
        // the times it is evaluated at, which `feasible` checks. Closed forms keep the
        // integrator's verdict.
        Err(IntegrateError::Unbounded)
            if !finite_range(pool, hi) && integrate::antiderivative(pool, e, x).is_err() =>
        {
            match between(pool, e, x, lo, hi) {
                Named::Value(v) => Ok(v),
                Named::Unevaluable(i) if bounded_on_times(pool, i) => {
                    Err(NameError::Unevaluable { term: e })
                }
                Named::TooDeep => Err(NameError::Unevaluable { term: e }),
                _ => Err(IntegrateError::Unbounded.into()),
            }
        }
        other => Ok(other?),
    }
}

/// `e` with every named integral that has a closed form at its upper limit integrated.
/// A user function's template is lowered with an argument of any value, where some
/// integrands have no closed form (`abs(s)` from 0 to an unknown `u`); once a call puts a
/// time in (`u = t` in [0, 1]), the integrand's range may give one (`abs(s) = s`), as it
/// does for the same integral written with `t` directly.
pub fn reintegrate(pool: &mut Pool, e: ExprId) -> ExprId {
    if pool.integral_level(e) == 0 {
        return e;
    }
    subst::bottom_up(pool, e, |pool, x, kids| {
        let n = subst::rebuilt(pool, x, kids);
        let Node::Call(Func::Integral(i), hi) = *pool.node(n) else {
            return n;
        };
        let (body, lo) = (pool.integral(i).body, pool.integral(i).lo);
        let bound = pool.symbol(BOUND);
        let s = pool.fresh_symbol("s");
        let se = pool.sym_expr(s);
        let integrand = subst::subst1(pool, body, bound, se);
        integrate::integrate(pool, integrand, s, lo, hi).unwrap_or(n)
    })
}

/// Whether range analysis bounds the integrand between the lower limit and the times
/// [0, 1].
fn bounded_on_times(pool: &Pool, i: IntegralId) -> bool {
    let def = pool.integral(i);
    let (Some(c), Some(b)) = (pool.as_rational(def.lo), pool.bound_symbol()) else {
        return false;
    };
    let over = Interval {
        lo: down(c).min(0.0),
        hi: up(c).max(1.0),
    };
    range_over(pool, def.body, b, over).is_some_and(|r| r.lo.is_finite() && r.hi.is_finite())
}

/// What [`between`] made of an integral.
enum Named {
    Value(ExprId),
    /// Named, but quadrature cannot evaluate it (`feasible`).
    Unevaluable(IntegralId),
    /// Its integrand holds integrals nested [`MAX_NESTING`] deep.
    TooDeep,
    /// Not a named integral: `e` depends on another symbol, or has no usable derivatives.
    Not,
}

/// `int_lo^hi e dx` as named integrals from a rational lower limit: `I_lo(hi)` for a
/// rational `lo`, `-I_hi(lo)` for a rational `hi`, else `I_0(hi) - I_0(lo)`.
fn between(pool: &mut Pool, e: ExprId, x: Symbol, lo: ExprId, hi: ExprId) -> Named {
    let zero = pool.zero();
    let (base, ends): (ExprId, Vec<(ExprId, i64)>) = if pool.as_rational(lo).is_some() {
        (lo, vec![(hi, 1)])
    } else if pool.as_rational(hi).is_some() {
        (hi, vec![(lo, -1)])
    } else {
        (zero, vec![(hi, 1), (lo, -1)])
    };
    if pool.integral_level(e) >= MAX_NESTING {
        return Named::TooDeep;
    }
    let Some(i) = name(pool, e, x, base) else {
        return Named::Not;
    };
    if !ends.iter().all(|&(end, _)| feasible(pool, i, end)) {
        return Named::Unevaluable(i);
    }
    let terms = ends
        .into_iter()
        .map(|(end, sign)| {
            let v = pool.call(Func::Integral(i), end);
            let k = pool.int(sign);
            pool.mul(vec![k, v])
        })
        .collect();
    Named::Value(pool.add(terms))
}

fn finite_range(pool: &Pool, e: ExprId) -> bool {
    super::range::range(pool, e).is_some_and(|r| r.lo.is_finite() && r.hi.is_finite())
}

/// Whether quadrature of `i` reaches 64 bits within [`MAX_PANELS`] at both ends of the range
/// of the upper limit `hi` (at 0 and 1, the times a process is evaluated at, where that
/// range is unbounded: a user function's template is lowered with an argument of any
/// value): an integrand that is bounded but not smooth enough there (`sqrt(s)*exp(-s^2)`
/// from 0) is refused where it is written.
fn feasible(pool: &Pool, i: IntegralId, hi: ExprId) -> bool {
    let r = super::range::range(pool, hi)
        .filter(|r| r.lo.is_finite() && r.hi.is_finite())
        .unwrap_or(Interval { lo: 0.0, hi: 1.0 });
    [r.lo, r.hi].iter().all(|&end| {
        let Some(end) = BigRational::from_float(end) else {
            return false;
        };
        let Some(scale) = scale(pool, i, &end) else {
            return false;
        };
        plan(pool, i, &end, scale * tolerance(64)).is_ok()
    })
}

/// The named integral of `e` in `x` from `lo`, if `e` depends on no other symbol and `lo`
/// is an exact rational.
pub fn name(pool: &mut Pool, e: ExprId, x: Symbol, lo: ExprId) -> Option<IntegralId> {
    pool.as_rational(lo)?;
    if pool.free_symbols(e).iter().any(|&s| s != x) {
        return None;
    }
    let bound = pool.symbol(BOUND);
    let b = pool.sym_expr(bound);
    let body = subst::subst1(pool, e, x, b);
    // The derivatives' simplifications share one allowance: past it they stay exact but
    // unsimplified, grow, and stop at MAX_DERIVATIVE_SIZE (24 simplifications of a long
    // integrand, each within its own allowance, took 20 s).
    let mut derivs = super::poly::with_work_allowance(DERIVATIVE_WORK, || {
        let mut derivs = vec![body];
        while derivs.len() <= ORDER {
            let last = *derivs.last().expect("the integrand is first");
            let d = diff::diff(pool, last, bound);
            // A long derivative is kept as differentiated: its simplification's
            // normalisation is what costs (20 s for a squared closed-form integral).
            let d = if complexity(pool, d) <= MAX_SIMPLIFIED_SIZE {
                simplify::simplify(pool, d)
            } else {
                d
            };
            if complexity(pool, d) > MAX_DERIVATIVE_SIZE {
                break;
            }
            derivs.push(d);
        }
        derivs
    });
    // An even top order: the odd terms of Taylor's formula integrate to 0 on a panel.
    if derivs.len() % 2 == 0 {
        derivs.pop();
    }
    if derivs.len() < 3 {
        return None;
    }
    Some(pool.intern_integral(IntegralDef {
        body,
        lo,
        derivs: derivs.into_boxed_slice(),
    }))
}

/// One panel of a [`Plan`]: Taylor's formula about `mid` on `[mid - |half|, mid + |half|]`
/// (a negative `half` integrates downwards), derivatives of even order below `order`.
#[derive(Clone, Debug)]
pub struct Panel {
    pub mid: BigRational,
    pub half: BigRational,
    pub order: usize,
}

/// How to integrate one named integral to one tolerance: the panels and the bound on the
/// sum of their remainders.
#[derive(Clone, Debug)]
pub struct Plan {
    pub panels: Vec<Panel>,
    /// An upper bound on the total truncation error (rounded up).
    pub remainder: f64,
}

/// The most bits, relative to [`scale`], a named integral is computed to: Taylor's formula
/// of order [`ORDER`] needs about `2^(bits/ORDER)` panels, so beyond them the certified
/// ball stays as wide (rigorous, not tighter: `eval --digits` beyond about 55 digits is
/// undecided rather than wrong) and a high-precision value carries this many bits.
pub const MAX_BITS: usize = 192;

/// The tolerance, relative to [`scale`], of a quadrature at `p` bits: `2^-min(p, MAX_BITS)`.
pub fn tolerance(p: usize) -> f64 {
    2f64.powi(-(p.min(MAX_BITS) as i32))
}

/// `2 r^(k+1)/(k+1)!` for the even `k < order`, in order: the integrals of `x^k/k!` over
/// `[-r, r]`. Each is formed from the last with one product of integers and left
/// unreduced, since reducing would cost a big-integer GCD per term for nothing (the values
/// are only rounded to a precision).
pub fn weights(half: &BigRational, order: usize) -> Vec<BigRational> {
    let (n, d) = (half.numer(), half.denom());
    let (n2, d2) = (n * n, d * d);
    let mut w = BigRational::new_raw(n * BigInt::from(2), d.clone());
    let mut out = Vec::with_capacity(order.div_ceil(2));
    for k in (0..order).step_by(2) {
        if k > 0 {
            let j = BigInt::from(k * (k + 1));
            w = BigRational::new_raw(w.numer() * &n2, w.denom() * &d2 * j);
        }
        out.push(w.clone());
    }
    out
}

fn down(r: &BigRational) -> f64 {
    let x = r.to_f64().unwrap_or(f64::NAN);
    if BigRational::from_float(x).is_some_and(|q| &q <= r) {
        x
    } else {
        x.next_down()
    }
}

fn up(r: &BigRational) -> f64 {
    let x = r.to_f64().unwrap_or(f64::NAN);
    if BigRational::from_float(x).is_some_and(|q| &q >= r) {
        x
    } else {
        x.next_up()
    }
}

/// A product of non-negative numbers, rounded up.
fn mul_up(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 {
        0.0
    } else {
        (a * b).next_up()
    }
}

/// The even order whose Taylor remainder on `[a, b]` has the least bound, and that bound;
/// `None` when range analysis bounds no derivative there. Range analysis overestimates high
/// derivatives of long integrands most, so a lower order may bound better.
fn remainder(
    pool: &Pool,
    def: &IntegralDef,
    bound: Symbol,
    (a, b): (&BigRational, &BigRational),
    sizes: &[usize],
    work: &mut usize,
) -> Option<(usize, f64)> {
    // The top order and every sixth below it (each a range analysis per panel).
    let top = def.derivs.len() - 1;
    (0..=top / 6)
        .map(|k| top - 6 * k)
        .filter(|&n| n >= 2)
        .filter_map(|n| {
            *work += sizes[n];
            remainder_at(pool, def, bound, a, b, n).map(|r| (n, r))
        })
        .min_by(|x, y| x.1.total_cmp(&y.1).then(y.0.cmp(&x.0)))
}

/// A bound on `|int|` of the remainder of Taylor's formula of order `n` on `[a, b]`.
fn remainder_at(
    pool: &Pool,
    def: &IntegralDef,
    bound: Symbol,
    a: &BigRational,
    b: &BigRational,
    n: usize,
) -> Option<f64> {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let over = Interval {
        lo: down(lo),
        hi: up(hi),
    };
    if !(over.lo.is_finite() && over.hi.is_finite()) {
        return None;
    }
    let d = range_over(pool, def.derivs[n], bound, over)?;
    let sup = d.lo.abs().max(d.hi.abs());
    if !sup.is_finite() {
        return None;
    }
    let half: BigRational = (hi - lo) / BigInt::from(2);
    let r = up(&half);
    // 2 r^(n+1)/(n+1)! sup, every step rounded up.
    let mut w = 2.0;
    for j in 1..=n + 1 {
        w = mul_up(w, r);
        w = (w / j as f64).next_up();
    }
    let w = mul_up(w, sup);
    w.is_finite().then_some(w)
}

/// The panels on which Taylor's formula integrates `int_c^upper` to within `tol`
/// (absolute): each panel's remainder is at most its share of `tol` by width.
pub fn plan(pool: &Pool, i: IntegralId, upper: &BigRational, tol: f64) -> Result<Plan, EvalError> {
    let def = pool.integral(i);
    let c = pool
        .as_rational(def.lo)
        .cloned()
        .expect("a named integral's lower limit is rational");
    let mut out = Plan {
        panels: Vec::new(),
        remainder: 0.0,
    };
    if &c == upper {
        return Ok(out);
    }
    let bound = pool
        .bound_symbol()
        .expect("named integrals intern their variable");
    let total = (upper - &c).abs();
    let sizes: Vec<usize> = def.derivs.iter().map(|&d| complexity(pool, d)).collect();
    let mut work = 0;
    let mut todo = vec![(c, upper.clone())];
    let mut accepted: Vec<(BigRational, BigRational, usize, f64)> = Vec::new();
    while let Some((a, b)) = todo.pop() {
        let share = tol * down(&((&b - &a).abs() / &total));
        match remainder(pool, def, bound, (&a, &b), &sizes, &mut work) {
            Some((n, r)) if r <= share => accepted.push((a, b, n, r)),
            _ if accepted.len() + todo.len() + 2 > MAX_PANELS || work > PLAN_WORK => {
                return Err(EvalError::TooCostly);
            }
            _ => {
                let m: BigRational = (&a + &b) / BigInt::from(2);
                todo.push((m.clone(), b));
                todo.push((a, m));
            }
        }
    }
    for (a, b, order, r) in accepted {
        out.remainder = (out.remainder + r).next_up();
        let mid = (&a + &b) / BigInt::from(2);
        let half = (b - a) / BigInt::from(2);
        out.panels.push(Panel { mid, half, order });
    }
    Ok(out)
}

/// The scale a tolerance is relative to: `|u - c|` times the largest `|f|` between, or
/// `None` where range analysis finds no finite bound.
pub fn scale(pool: &Pool, i: IntegralId, upper: &BigRational) -> Option<f64> {
    let def = pool.integral(i);
    let c = pool.as_rational(def.lo)?;
    let bound = pool.bound_symbol()?;
    let (lo, hi) = if c <= upper { (c, upper) } else { (upper, c) };
    let f = range_over(
        pool,
        def.body,
        bound,
        Interval {
            lo: down(lo),
            hi: up(hi),
        },
    )?;
    let sup = f.lo.abs().max(f.hi.abs());
    let w = up(&(hi - lo));
    let s = mul_up(sup, w);
    (s.is_finite()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::ball::eval_ball;
    use crate::expr::hp::Hp;
    use crate::expr::test_util::parse_in_unit_t;
    use crate::expr::{Node, eval, print};

    // Reference values: scripts/named_integrals.py (mpmath, 50 digits), to 30 digits.
    const ERF_1: &str = "0.746824132812427025399467436132";
    const ERF_THIRD: &str = "0.321388521111686111567603493967";
    const SQRT_1: &str = "1.11144797053257548386817306522";
    const SQRT_DOWN: &str = "-0.603769218564676134190405884687";
    const NESTED_1: &str = "0.430763853398148186197229321213";

    fn rational(text: &str) -> BigRational {
        if let Some((n, d)) = text.split_once('/') {
            return rational(n) / rational(d);
        }
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits: BigInt = format!("{int}{frac}").parse().expect("digits");
        BigRational::new(digits, BigInt::from(10).pow(frac.len() as u32))
    }

    /// `text` lowered in a fresh pool, with `t` replaced by the rational `at`.
    fn at(text: &str, t: &str) -> (Pool, ExprId) {
        let mut p = Pool::new();
        let e = parse_in_unit_t(&mut p, text);
        let ts = p.symbol("t");
        let v = p.rational(rational(t));
        let e = subst::subst1(&mut p, e, ts, v);
        (p, e)
    }

    fn named(p: &Pool, e: ExprId) -> IntegralId {
        match *p.node(e) {
            Node::Call(Func::Integral(i), _) => i,
            _ => panic!("not a named integral: {}", print::to_text(p, e)),
        }
    }

    /// The certified ball of `e` at 128 bits contains `want` (30 significant digits of a
    /// value below 10, so within 10^-29 of it) and is narrower than 10^-30.
    fn assert_enclosed(p: &Pool, e: ExprId, want: &str) {
        let mut consts = astro_float::Consts::new().expect("constants");
        let b = eval_ball(p, e, &[], 128, &mut consts).expect("a ball");
        let mid = crate::expr::hp::to_rational(&b.mid).expect("finite");
        let rad = crate::expr::hp::to_rational(&b.rad).expect("finite");
        let tiny = BigRational::new(BigInt::from(1), BigInt::from(10).pow(30));
        let off = (mid - rational(want)).abs();
        let digits = &tiny * BigInt::from(10);
        assert!(off <= &rad + digits, "{want}: off by {off}, radius {rad}");
        assert!(rad < tiny, "{want}: radius {rad}");
    }

    #[test]
    fn integrals_without_a_primitive_are_named_and_print_back() {
        for (text, latex) in [
            (
                "integrate(exp(-s^2), s, 0, t)",
                "\\int_{0}^{t} \\exp\\left(-s^{2}\\right)\\,\\mathrm{d}s",
            ),
            (
                "integrate(sqrt(1 + s^3), s, 1, t^2)",
                "\\int_{1}^{t^{2}} \\sqrt{1 + s^{3}}\\,\\mathrm{d}s",
            ),
            (
                "integrate(integrate(exp(-s^2), s, 0, r)^2, r, 0, t)",
                "\\int_{0}^{t} \\left(\\int_{0}^{r} \\exp\\left(-s^{2}\\right)\\,\\mathrm{d}s\\right)^{2}\\,\\mathrm{d}r",
            ),
        ] {
            let mut p = Pool::new();
            let e = parse_in_unit_t(&mut p, text);
            named(&p, e);
            let shown = print::to_text(&p, e);
            assert_eq!(shown, text);
            assert_eq!(parse_in_unit_t(&mut p, &shown), e, "{shown}");
            assert_eq!(print::to_latex(&p, e), latex);
        }
    }

    #[test]
    fn the_derivative_is_the_integrand_at_the_upper_limit() {
        let mut p = Pool::new();
        let e = parse_in_unit_t(&mut p, "integrate(exp(-s^2), s, 0, t^2)");
        let t = p.symbol("t");
        let d = diff::diff(&mut p, e, t);
        let d = simplify::simplify(&mut p, d);
        // d/dt int_0^(t^2) exp(-s^2) ds = 2 t exp(-t^4).
        let want = parse_in_unit_t(&mut p, "2*t*exp(-t^4)");
        assert_eq!(print::to_text(&p, d), print::to_text(&p, want));
        // At the lower limit the integral is 0 exactly.
        let zero = p.zero();
        let at0 = subst::subst1(&mut p, e, t, zero);
        assert_eq!(at0, p.zero());
    }

    #[test]
    fn certified_balls_contain_the_reference_and_are_tight() {
        for (text, t, want) in [
            ("integrate(exp(-s^2), s, 0, t)", "1", ERF_1),
            ("integrate(exp(-s^2), s, 0, t)", "1/3", ERF_THIRD),
            ("integrate(sqrt(1 + s^3), s, 0, t)", "1", SQRT_1),
            ("integrate(sqrt(1 + s^3), s, 1, t)", "0.5", SQRT_DOWN),
            (
                "integrate(integrate(exp(-s^2), s, 0, r), r, 0, t)",
                "1",
                NESTED_1,
            ),
        ] {
            let (p, e) = at(text, t);
            assert_enclosed(&p, e, want);
        }
    }

    #[test]
    fn high_precision_and_f64_values_match_the_reference() {
        for (text, t, want) in [
            ("integrate(exp(-s^2), s, 0, t)", "1", ERF_1),
            ("integrate(sqrt(1 + s^3), s, 0, t)", "1", SQRT_1),
            ("integrate(sqrt(1 + s^3), s, 1, t)", "0.5", SQRT_DOWN),
            (
                "integrate(integrate(exp(-s^2), s, 0, r), r, 0, t)",
                "1",
                NESTED_1,
            ),
        ] {
            let (p, e) = at(text, t);
            let v = Hp::new(128).eval(&p, e, &[]).expect("a value");
            let v = crate::expr::hp::to_rational(&v).expect("finite");
            let off = (v - rational(want)).abs();
            let tiny = BigRational::new(BigInt::from(1), BigInt::from(10).pow(29));
            assert!(off < tiny, "{text}: off by {off}");
            let f = eval::eval_f64(&p, e, &[]).expect("a value");
            let w: f64 = want.parse().expect("a number");
            assert!(
                (f - w).abs() <= 4.0 * f64::EPSILON * w.abs(),
                "{text}: {f} vs {w}"
            );
        }
    }

    #[test]
    fn the_range_of_an_integral_encloses_its_values() {
        let mut p = Pool::new();
        let e = parse_in_unit_t(&mut p, "integrate(exp(-s^2), s, 0, t)");
        // Over t in [0, 1] the values are [0, 0.7468...].
        let r = super::super::range::range(&p, e).expect("bounded");
        assert!(r.lo <= 0.0 && r.lo > -1e-12, "{r:?}");
        assert!(r.hi >= 0.746_824_132_812_427 && r.hi < 0.8, "{r:?}");
    }

    #[test]
    fn a_panel_limit_ends_quadrature_with_an_error() {
        let (p, e) = at("integrate(exp(-s^2), s, 0, t)", "1");
        let i = named(&p, e);
        let one = BigRational::from_integer(BigInt::from(1));
        // A tolerance no plan within MAX_PANELS meets.
        assert_eq!(plan(&p, i, &one, 1e-300).err(), Some(EvalError::TooCostly));
    }

    #[test]
    fn integrands_quadrature_cannot_evaluate_are_refused_where_written() {
        let mut p = Pool::new();
        let t = p.symbol("t");
        p.set_domain(t, crate::expr::Domain::UNIT);
        let te = p.sym_expr(t);
        let s = p.symbol("s");
        let se = p.sym_expr(s);
        // sqrt(s) exp(-s^2): bounded on [0, 1], its derivatives are not at 0.
        let root = p.sqrt(se);
        let m = p.powi(se, 2);
        let m = p.neg(m);
        let ex = p.call(Func::Exp, m);
        let e = p.mul(vec![root, ex]);
        let zero = p.zero();
        let started = std::time::Instant::now();
        let r = integrate_or_name(&mut p, e, s, zero, te);
        assert!(matches!(r, Err(NameError::Unevaluable { .. })), "{r:?}");
        assert!(started.elapsed().as_secs() < 10);
    }
}
