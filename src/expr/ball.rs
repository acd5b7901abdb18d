//! Certified evaluation: midpoint-radius (ball) arithmetic over astro-float, and the
//! correctly rounded f64 or decimal value it proves.
//!
//! Each value is a ball `[mid - rad, mid + rad]` that contains the exact value of the
//! subexpression at the exact inputs. `mid` carries the working precision; `rad` is a
//! 64-bit upper bound (rounded up), the sum of the propagated input radii (a bound on the
//! derivative over the ball times the input radius) and the rounding error of the
//! operation. A result is *certified* when both ends of its ball round to the same f64 (or
//! the same D-digit decimal), so cancellation can never be mistaken for a value: `1 -
//! exp(-1e-81)` at 128 bits is the ball `0 +- 2^-128`, which rounds to no single f64, and
//! the driver raises the precision until it does.
//!
//! Where the ball reaches a domain boundary or a pole (`log` of a ball around 0, `1/x` of
//! a ball that contains 0), the value is [`BallError::Uncertain`]: more precision may
//! separate them. Derivative bounds are only taken on narrow balls (the radius at most a
//! fixed fraction of the distance to the nearest singular point); a wider ball is
//! uncertain too. So every bound is a few lines of elementary inequalities, stated where
//! it is used.
//!
//! The arithmetic of astro-float is correctly rounded; its transcendental functions are
//! charged four units in the last place, which covers them with room to spare. Powers go
//! through [`hp::pow_once`] (within 2 units; astro-float's correctly rounded `pow` never
//! returns when the power is exactly representable).
//!
//! Length: every operation's error bound stays next to the operation it bounds.

use std::cmp::Ordering;

use astro_float::{BigFloat, Consts, RoundingMode};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

use super::eval::{EvalError, Exponent, classify_exponent, is_half};
use super::fxhash::HashMap;
use super::hp::{self, pow_once, rational_at};
use super::named;
use super::pool::{Constant, ExprId, Func, IntegralId, Node, Pool, Symbol};
use super::range::{Interval, range_over};

const RM: RoundingMode = RoundingMode::ToEven;
/// Radii are 64-bit numbers rounded up; lower bounds of magnitudes are rounded down.
const RP: usize = 64;
const UP: RoundingMode = RoundingMode::Up;
const DOWN: RoundingMode = RoundingMode::Down;
/// Extra bits for steps whose own rounding must not show (as in [`hp`]).
const GUARD: usize = 64;

/// A value known to lie in `[mid - rad, mid + rad]`.
#[derive(Clone, Debug)]
pub struct Ball {
    pub mid: BigFloat,
    pub rad: BigFloat,
}

/// Why a ball evaluation gave no ball.
#[derive(Clone, Debug, PartialEq)]
pub enum BallError {
    /// The expression is undefined at the exact inputs (the whole ball is outside a
    /// domain, or an exact zero is divided by).
    Eval(EvalError),
    /// The ball reaches a domain boundary or a pole, or is too wide for the bounds used:
    /// a higher precision may decide.
    Uncertain,
}

impl From<EvalError> for BallError {
    fn from(e: EvalError) -> BallError {
        BallError::Eval(e)
    }
}

fn zero_rad() -> BigFloat {
    BigFloat::new(RP)
}

fn is_zero(x: &BigFloat) -> bool {
    x.is_zero()
}

/// `|x|` rounded up to 64 bits.
fn up(x: &BigFloat) -> BigFloat {
    let mut a = x.abs();
    let _ = a.set_precision(RP, UP);
    a
}

/// `|x|` rounded down to 64 bits.
fn down(x: &BigFloat) -> BigFloat {
    let mut a = x.abs();
    let _ = a.set_precision(RP, DOWN);
    a
}

fn radd(a: &BigFloat, b: &BigFloat) -> BigFloat {
    a.add(b, RP, UP)
}

fn rmul(a: &BigFloat, b: &BigFloat) -> BigFloat {
    a.mul(b, RP, UP)
}

/// `a / b` rounded up, for `a >= 0`, `b > 0`.
fn rdiv(a: &BigFloat, b: &BigFloat) -> BigFloat {
    a.div(b, RP, UP)
}

fn small(n: u64) -> BigFloat {
    BigFloat::from_u64(n, RP)
}

/// `2^k`.
fn pow2(k: i64) -> BigFloat {
    let mut x = BigFloat::from_u8(1, RP);
    match i32::try_from(k + 1) {
        Ok(e) => x.set_exponent(e),
        Err(_) if k > 0 => return astro_float::INF_POS,
        Err(_) => return zero_rad(),
    }
    x
}

/// `ulps` units in the last place of `v` at `p` bits (0 for 0).
fn ulps(v: &BigFloat, p: usize, ulps: u64) -> BigFloat {
    match v.exponent() {
        Some(e) if !v.is_zero() => rmul(&pow2(i64::from(e) - p as i64), &small(ulps)),
        _ => zero_rad(),
    }
}

/// The rounding error of a correctly rounded operation that produced `v`.
fn rounding(v: &BigFloat, p: usize) -> BigFloat {
    if v.inexact() {
        ulps(v, p, 1)
    } else {
        zero_rad()
    }
}

/// Does the ball contain 0 (or touch it)?
fn touches_zero(b: &Ball) -> bool {
    down(&b.mid).cmp(&b.rad).is_some_and(|c| c <= 0)
}

/// A lower bound on |x| over the ball (negative when the ball contains 0).
fn least_abs(b: &Ball) -> BigFloat {
    b.mid.abs().sub(&b.rad, RP, RoundingMode::Down)
}

/// Whether every point of the ball has |x| > 2^33, where exp overflows every range.
fn beyond_exponent_range(b: &Ball) -> bool {
    least_abs(b).cmp(&pow2(33)).is_some_and(|c| c > 0)
}

/// For a ball whose every point has |x| > p: a `k >= p` with `e^(-|x|) <= 2^-k / 2` on
/// the whole ball (k = floor(d log2 e) - 1 for the least |x| = d, at most 2^30), the
/// radius that puts `sigmoid` next to 0 or 1, or `tanh` next to -1 or 1
/// (1 - |tanh x| < 2 e^(-2|x|) <= 2 e^(-|x|)).
fn least_magnitude_bits(x: &Ball, p: usize) -> i64 {
    let d = hp::to_f64(&least_abs(x));
    let k = (d * std::f64::consts::LOG2_E).floor() - 1.0;
    (k.min((1u64 << 30) as f64) as i64).max(p as i64)
}

/// Is `rad <= |mid| / 2^k`?
fn narrow(b: &Ball, k: i64) -> bool {
    rmul(&b.rad, &pow2(k))
        .cmp(&down(&b.mid))
        .is_some_and(|c| c <= 0)
}

fn finite(x: BigFloat) -> Result<BigFloat, BallError> {
    if x.is_nan() || x.is_inf() {
        Err(BallError::Eval(EvalError::Overflow))
    } else {
        Ok(x)
    }
}

fn sign_of(x: &BigFloat) -> Ordering {
    if x.is_zero() {
        Ordering::Equal
    } else if x.is_negative() {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

fn show(x: &BigFloat) -> String {
    super::eval::format_f64(hp::to_f64(x))
}

/// Evaluates `e` as a ball at `precision` bits, the symbols bound to exact rationals.
pub fn eval_ball(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
    precision: usize,
    consts: &mut Consts,
) -> Result<Ball, BallError> {
    let p = precision.max(64);
    let shared = SHARED.with(|s| s.borrow().is_some());
    // Within [`sharing`], the balls of a point and precision are kept for the next
    // evaluation there: under the symbols `e` depends on, so that a coefficient evaluated
    // with the state in its environment shares them with one evaluated without.
    let key = shared.then(|| {
        let free = pool.free_symbols(e);
        let env: Vec<_> = env
            .iter()
            .filter(|(s, _)| free.contains(s))
            .cloned()
            .collect();
        (pool.uid(), env, p)
    });
    let memo = key
        .as_ref()
        .and_then(|k| {
            SHARED.with(|s| {
                let mut s = s.borrow_mut();
                let shared = s.as_mut()?;
                let memo = shared.memos.remove(k)?;
                shared.entries -= memo.len();
                Some(memo)
            })
        })
        .unwrap_or_default();
    let balls: Vec<(Symbol, Ball)> = env.iter().map(|(s, r)| (*s, exact_ball(r, p))).collect();
    let mut eval = BallEval {
        p,
        consts,
        pool,
        env: &balls,
        memo,
    };
    let v = eval.eval(e);
    if let Some(k) = key {
        SHARED.with(|s| {
            if let Some(shared) = s.borrow_mut().as_mut() {
                shared.entries += eval.memo.len();
                if shared.entries > SHARED_BALLS {
                    shared.memos.clear();
                    shared.entries = eval.memo.len();
                }
                shared.memos.insert(k, eval.memo);
            }
        });
    }
    v
}

/// The balls of one point (a pool, the symbols' values, a precision) by node.
type PointBalls = HashMap<(u64, Vec<(Symbol, BigRational)>, usize), HashMap<ExprId, Ball>>;

/// The balls [`sharing`] keeps.
struct Shared {
    memos: PointBalls,
    /// The number of balls kept.
    entries: usize,
}

/// Most balls [`sharing`] keeps (about 200 bytes each); beyond, it starts afresh.
const SHARED_BALLS: usize = 1 << 19;

thread_local! {
    static SHARED: std::cell::RefCell<Option<Shared>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with the balls of every subexpression kept between the evaluations (on this
/// thread) at the same point and precision: a module's functions at one time share
/// `alpha(t)`, `sigma(t)` and the rest, computed once. A ball depends only on the node,
/// the point and the precision, so results are the same with or without it; evaluate
/// point by point, so that few points are kept at once.
pub fn sharing<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            if self.0 {
                SHARED.with(|s| *s.borrow_mut() = None);
            }
        }
    }
    let outer = SHARED.with(|s| {
        let mut s = s.borrow_mut();
        let outer = s.is_none();
        if outer {
            *s = Some(Shared {
                memos: PointBalls::default(),
                entries: 0,
            });
        }
        outer
    });
    let _reset = Reset(outer);
    f()
}

/// `r` rounded to `p` bits, with a radius of 0 when that is exact.
fn exact_ball(r: &BigRational, p: usize) -> Ball {
    let mid = rational_at(r, p);
    let d = r.denom().magnitude();
    let n = r.numer().magnitude();
    let dyadic = d.count_ones() == 1;
    let fits = n.bits() - n.trailing_zeros().unwrap_or(0) <= p as u64;
    let rad = if dyadic && fits {
        zero_rad()
    } else {
        ulps(&mid, p, 1)
    };
    Ball { mid, rad }
}

struct BallEval<'a> {
    p: usize,
    consts: &'a mut Consts,
    pool: &'a Pool,
    env: &'a [(Symbol, Ball)],
    memo: HashMap<ExprId, Ball>,
}

/// Most constant balls kept per thread; the cache is emptied when it is full.
const CONSTANT_CACHE: usize = 4096;

/// Balls (or why there is none) of constant subexpressions by (pool, id, precision).
type ConstantBalls = HashMap<(u64, ExprId, usize), Result<Ball, BallError>>;

thread_local! {
    /// Balls of symbol-free subexpressions by (pool, id, precision), shared by the certified
    /// evaluations of one thread: a check samples a formula at hundreds of times and
    /// precisions, and a constant such as `cos(48^2304)` (argument reduction at thousands
    /// of bits) is evaluated once per precision instead of at every sample. A ball depends
    /// only on the node and the precision, so results are the same with or without it.
    static CONSTANTS: std::cell::RefCell<ConstantBalls> =
        std::cell::RefCell::new(ConstantBalls::default());
}

/// Charges a function evaluation at `p` bits of an argument `x` to the allowance.
fn charge(x: &BigFloat, p: usize) -> Result<(), BallError> {
    hp::charge(x, p).map_err(BallError::Eval)
}

impl BallEval<'_> {
    fn eval(&mut self, e: ExprId) -> Result<Ball, BallError> {
        if let Some(v) = self.memo.get(&e) {
            return Ok(v.clone());
        }
        let constant = self.pool.is_constant(e) && !matches!(self.pool.node(e), Node::Rational(_));
        let key = (self.pool.uid(), e, self.p);
        let cached = constant
            .then(|| CONSTANTS.with(|c| c.borrow().get(&key).cloned()))
            .flatten();
        let v = match cached {
            Some(v) => v,
            None => {
                let v = self
                    .eval_node(e)
                    .and_then(|v| finite(v.mid.clone()).map(|_| v));
                // An allowance that ran out says nothing about the node: not kept.
                let costly = matches!(v, Err(BallError::Eval(EvalError::TooCostly)));
                if constant && !costly {
                    CONSTANTS.with(|c| {
                        let mut c = c.borrow_mut();
                        if c.len() >= CONSTANT_CACHE {
                            c.clear();
                        }
                        c.insert(key, v.clone());
                    });
                }
                v
            }
        }?;
        self.memo.insert(e, v.clone());
        Ok(v)
    }

    fn eval_node(&mut self, e: ExprId) -> Result<Ball, BallError> {
        let p = self.p;
        match self.pool.node(e) {
            Node::Rational(r) => Ok(exact_ball(r, p)),
            Node::Const(c) => {
                let mid = match c {
                    Constant::Pi => self.consts.pi(p, RM),
                    Constant::E => self.consts.e(p, RM),
                };
                let rad = ulps(&mid, p, 1);
                Ok(Ball { mid, rad })
            }
            Node::Sym(s) => self
                .env
                .iter()
                .find(|(k, _)| k == s)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    BallError::Eval(EvalError::Unbound(self.pool.symbol_name(*s).to_owned()))
                }),
            Node::Add(xs) => {
                let mut acc = Ball {
                    mid: BigFloat::new(p),
                    rad: zero_rad(),
                };
                for &x in xs.iter() {
                    let b = self.eval(x)?;
                    let mid = finite(acc.mid.add(&b.mid, p, RM))?;
                    let rad = radd(&radd(&acc.rad, &b.rad), &rounding(&mid, p));
                    acc = Ball { mid, rad };
                }
                Ok(acc)
            }
            Node::Mul(xs) => {
                let mut acc = Ball {
                    mid: BigFloat::from_u8(1, p),
                    rad: zero_rad(),
                };
                for &x in xs.iter() {
                    let b = self.eval(x)?;
                    acc = mul(&acc, &b, p)?;
                }
                Ok(acc)
            }
            Node::Pow(b, x) => self.pow(*b, *x),
            Node::Call(Func::Integral(i), a) => {
                let x = self.eval(*a)?;
                self.integral(*i, &x)
            }
            Node::Call(f, a) => {
                let x = self.eval(*a)?;
                self.call(*f, &x)
            }
        }
    }

    /// A named integral for the upper limit in the ball `x`: at the exact mid point `u`,
    /// Taylor's formula on the panels of [`named::plan`] (tolerance `2^-p` of the scale,
    /// [`named::MAX_BITS`] at most), every derivative a ball at an exact point times an
    /// exact weight, the plan's remainder bound added to the radius; then
    /// `|int_u^y f| <= rad sup |f|` over the ball for the upper limit's own radius.
    fn integral(&mut self, i: IntegralId, x: &Ball) -> Result<Ball, BallError> {
        let p = self.p;
        let pool = self.pool;
        let upper = hp::to_rational(&x.mid).ok_or(BallError::Eval(EvalError::Overflow))?;
        let scale = named::scale(pool, i, &upper).ok_or(BallError::Uncertain)?;
        let tol = scale * named::tolerance(p);
        let plan = named::plan(pool, i, &upper, tol)?;
        let def = pool.integral(i);
        let bound = pool
            .bound_symbol()
            .expect("named integrals intern their variable");
        let mut sum = Ball {
            mid: BigFloat::new(p),
            rad: zero_rad(),
        };
        for panel in &plan.panels {
            let env = [(bound, exact_ball(&panel.mid, p))];
            let mut at = BallEval {
                p,
                consts: &mut *self.consts,
                pool,
                env: &env,
                memo: HashMap::default(),
            };
            let weights = named::weights(&panel.half, panel.order);
            for (k, w) in (0..panel.order).step_by(2).zip(&weights) {
                let v = at.eval(def.derivs[k])?;
                let term = mul(&v, &exact_ball(w, p), p)?;
                let m = finite(sum.mid.add(&term.mid, p, RM))?;
                let rad = radd(&radd(&sum.rad, &term.rad), &rounding(&m, p));
                sum = Ball { mid: m, rad };
            }
            hp::charge_nodes(at.memo.len(), p).map_err(BallError::Eval)?;
        }
        let truncation = BigFloat::from_f64(plan.remainder, RP);
        sum.rad = radd(&sum.rad, &truncation);
        if !is_zero(&x.rad) {
            let (lo, hi) = ends(x, p);
            let over = Interval {
                lo: hp::to_f64(&lo).next_down(),
                hi: hp::to_f64(&hi).next_up(),
            };
            let f = range_over(pool, def.body, bound, over).ok_or(BallError::Uncertain)?;
            let sup = f.lo.abs().max(f.hi.abs());
            if !sup.is_finite() {
                return Err(BallError::Uncertain);
            }
            let sup = BigFloat::from_f64(sup, RP);
            sum.rad = radd(&sum.rad, &rmul(&x.rad, &sup));
        }
        Ok(sum)
    }

    fn pow(&mut self, base: ExprId, exp: ExprId) -> Result<Ball, BallError> {
        let b = self.eval(base)?;
        let p = self.p;
        match classify_exponent(self.pool, exp) {
            Exponent::Int(n) => powi(&b, n, p),
            Exponent::Frac(a) => self.powf(&b, a),
            Exponent::General => {
                let x = self.eval(exp)?;
                self.pow_general(&b, &x)
            }
        }
    }

    /// `b^a` for a non-integer rational `a` (the base must be >= 0).
    fn powf(&mut self, b: &Ball, a: &BigRational) -> Result<Ball, BallError> {
        let p = self.p;
        if is_zero(&b.rad) && b.mid.is_zero() {
            return if a.is_positive() {
                Ok(point(BigFloat::new(p)))
            } else {
                Err(EvalError::DivisionByZero.into())
            };
        }
        let hi = b.mid.add(&b.rad, RP, UP);
        if hi.is_negative() || hi.is_zero() && b.mid.is_negative() {
            return Err(EvalError::Domain {
                func: "power",
                arg: show(&b.mid),
            }
            .into());
        }
        let af = a.to_f64().unwrap_or(f64::INFINITY).abs();
        if touches_zero(b) {
            // Taken on its defined part [0, hi]: b^a in [0, hi^a] for a > 0.
            if a.is_negative() {
                return Err(BallError::Uncertain);
            }
            // The ball [-top/2, 3 top/2] covers [0, top] with room for the rounding of
            // the exponent and of the power.
            // `pow_once` is within 2 ulps (2^-62 relative at 64 bits): 1 + 2^-60 covers it.
            let slack = radd(&small(1), &pow2(-60));
            let top = rmul(&pow_once(&hi, &rational_at(a, RP), RP, self.consts), &slack);
            let mut half = top.clone();
            half.set_exponent(top.exponent().unwrap_or(0) - 1);
            return Ok(Ball {
                mid: half,
                rad: top,
            });
        }
        if !af.is_finite() {
            // |a| beyond f64: 1 exactly, out of range by far, or not decided here (the
            // bounds below need |a| as a number). The ball has one sign, as in `powi`.
            let one = BigFloat::from_u8(1, p);
            if is_zero(&b.rad) && b.mid.cmp(&one) == Some(0) {
                return Ok(point(one));
            }
            let (lo, hi) = ends(b, p);
            let range = |x: &BigFloat| hp::huge_power_out_of_range(x, a);
            return match (range(&lo), range(&hi)) {
                (Some(true), Some(true)) => Err(BallError::Eval(EvalError::Overflow)),
                (Some(false), Some(false)) => Ok(Ball {
                    mid: BigFloat::new(p),
                    rad: pow2(-(1 << 30)),
                }),
                _ => Err(BallError::Uncertain),
            };
        }
        // (|a| + 1) r <= m/4 keeps (1 +- r/m)^(a-1) below 2 on the ball, so
        // |b^a - m^a| <= r |a| 2 m^(a-1) = 2 |a| r |v| / m.
        let k = 3 + af.log2().max(0.0).ceil() as i64;
        if !narrow(b, k) {
            return Err(BallError::Uncertain);
        }
        let v = if is_half(a) {
            b.mid.sqrt(p, RM)
        } else {
            charge(&b.mid, p)?;
            let x = rational_at(a, p + GUARD);
            pow_once(&b.mid, &x, p, self.consts)
        };
        let v = finite(v)?;
        let factor = rmul(&small(2), &rdiv(&up(&v), &down(&b.mid)));
        let af_up = BigFloat::from_f64(af * (1.0 + 1e-15), RP);
        let rad = radd(
            &rmul(&rmul(&b.rad, &factor), &af_up),
            &if is_half(a) {
                rounding(&v, p)
            } else {
                ulps(&v, p, 4)
            },
        );
        Ok(Ball { mid: v, rad })
    }

    /// `b^x` for a non-constant exponent: `exp(x ln b)`, `b > 0`.
    fn pow_general(&mut self, b: &Ball, x: &Ball) -> Result<Ball, BallError> {
        let p = self.p;
        if is_zero(&b.rad) && b.mid.is_zero() {
            if touches_zero(x) && !(is_zero(&x.rad) && x.mid.is_zero()) {
                return Err(BallError::Uncertain);
            }
            return match sign_of(&x.mid) {
                Ordering::Greater => Ok(point(BigFloat::new(p))),
                Ordering::Equal => Ok(point(BigFloat::from_u8(1, p))),
                Ordering::Less => Err(EvalError::DivisionByZero.into()),
            };
        }
        if b.mid.add(&b.rad, RP, UP).is_negative() {
            return Err(EvalError::Domain {
                func: "power",
                arg: show(&b.mid),
            }
            .into());
        }
        if !narrow(b, 1) {
            return Err(BallError::Uncertain);
        }
        // With r_b <= m_b/2, |ln b - ln m_b| <= 2 r_b/m_b; the exponent x ln b moves by
        // at most E = (|x| + r_x) 2 r_b/m_b + r_x |ln m_b|, and b^x by |v| (e^E - 1) <= 2 E |v|
        // for E <= 1/2.
        let ln_m = b.mid.ln(RP, RM, self.consts);
        let ln_up = radd(&up(&ln_m), &small(1));
        let dlog = rdiv(&rmul(&small(2), &b.rad), &down(&b.mid));
        let e_bound = radd(
            &rmul(&radd(&up(&x.mid), &x.rad), &dlog),
            &rmul(&x.rad, &ln_up),
        );
        if e_bound
            .cmp(&BigFloat::from_f64(0.5, RP))
            .is_none_or(|c| c > 0)
        {
            return Err(BallError::Uncertain);
        }
        charge(&b.mid, p)?;
        let v = finite(pow_once(&b.mid, &x.mid, p, self.consts))?;
        let rad = radd(&rmul(&rmul(&small(2), &e_bound), &up(&v)), &ulps(&v, p, 4));
        Ok(Ball { mid: v, rad })
    }

    fn call(&mut self, f: Func, x: &Ball) -> Result<Ball, BallError> {
        if let Func::Generic(_) = f {
            return Err(EvalError::Unspecified.into());
        }
        let p = self.p;
        let exact_zero = is_zero(&x.rad) && x.mid.is_zero();
        if exact_zero {
            let v = match f {
                Func::Exp | Func::Cos | Func::Cosh => Some(1),
                Func::Sin
                | Func::Tan
                | Func::Atan
                | Func::Asin
                | Func::Sinh
                | Func::Tanh
                | Func::Expm1
                | Func::Log1p
                | Func::Abs => Some(0),
                Func::Log => return Err(EvalError::DivisionByZero.into()),
                Func::Acos | Func::Sigmoid | Func::Generic(_) | Func::Integral(_) => None,
            };
            if let Some(v) = v {
                return Ok(point(BigFloat::from_u8(v, p)));
            }
        }
        let domain = || {
            BallError::Eval(EvalError::Domain {
                func: f.name(),
                arg: show(&x.mid),
            })
        };
        let one = BigFloat::from_u8(1, 64);
        let half = BigFloat::from_f64(0.5, RP);
        let r_le_half = x.rad.cmp(&half).is_some_and(|c| c <= 0);
        if f != Func::Abs {
            charge(&x.mid, p)?;
        }
        let cc = &mut *self.consts;
        // (value, bound on |f'| over the ball, ulps charged for the rounding)
        let (v, slope, charge): (BigFloat, BigFloat, u64) = match f {
            Func::Generic(_) => return Err(EvalError::Unspecified.into()),
            // Evaluated with its integrand (`BallEval::integral`).
            Func::Integral(_) => return Err(EvalError::Quadrature.into()),
            // Beyond |x| = 2^33 the exponential leaves the exponent range of every big float
            // (e^(2^33) > 2^(2^32)): decided at once, where astro-float would first reduce
            // an argument of thousands of digits (`exp(9.3e1768)` took seconds per call).
            Func::Exp | Func::Sinh | Func::Cosh | Func::Expm1 if beyond_exponent_range(x) => {
                return if x.mid.is_positive() || matches!(f, Func::Sinh | Func::Cosh) {
                    Err(BallError::Eval(EvalError::Overflow))
                } else {
                    // e^x in (0, 2^-(2^32)) and expm1 x in (-1, -1 + 2^-(2^32)).
                    let tiny = BigFloat::min_positive(RP);
                    let mid = match f {
                        Func::Exp => BigFloat::from_u8(0, p),
                        _ => BigFloat::from_i8(-1, p),
                    };
                    Ok(Ball { mid, rad: tiny })
                };
            }
            Func::Exp | Func::Sinh | Func::Cosh | Func::Expm1 => {
                // On r <= 1/2, e^(m+d) <= e^(1/2) e^m < 2 e^m.
                if !r_le_half {
                    return Err(BallError::Uncertain);
                }
                let v = match f {
                    Func::Exp => x.mid.exp(p, RM, cc),
                    Func::Sinh => x.mid.sinh(p, RM, cc),
                    Func::Cosh => x.mid.cosh(p, RM, cc),
                    _ => hp::expm1(&x.mid, p, cc),
                };
                let v = finite(v)?;
                let slope = match f {
                    // exp' = exp, cosh' = sinh <= cosh.
                    Func::Exp | Func::Cosh => rmul(&small(2), &up(&v)),
                    // sinh' = cosh <= 1 + |sinh|; expm1' = e^x = 1 + expm1.
                    _ => rmul(&small(2), &radd(&small(1), &up(&v))),
                };
                (v, slope, 4)
            }
            Func::Log => {
                if x.mid.add(&x.rad, RP, UP).is_negative() || !x.mid.is_positive() {
                    return Err(if touches_zero(x) && !is_zero(&x.rad) {
                        BallError::Uncertain
                    } else if x.mid.is_zero() {
                        EvalError::DivisionByZero.into()
                    } else {
                        domain()
                    });
                }
                // r <= m/2: 1/x <= 2/m on the ball.
                if !narrow(x, 1) {
                    return Err(BallError::Uncertain);
                }
                let v = x.mid.ln(p, RM, cc);
                let slope = rdiv(&small(2), &down(&x.mid));
                (v, slope, 4)
            }
            Func::Log1p => {
                // 1 + x, exactly enough: its distance to the pole at x = -1.
                let q = one.add(&x.mid, RP, DOWN);
                let q_hi = one.add(&x.mid, RP, UP).add(&x.rad, RP, UP);
                if !q_hi.is_positive() || q_hi.is_zero() {
                    return Err(domain());
                }
                let wide = rmul(&x.rad, &small(2)).cmp(&q).is_none_or(|c| c > 0);
                if !q.is_positive() || wide {
                    return Err(BallError::Uncertain);
                }
                let v = hp::log1p(&x.mid, p, cc);
                (v, rdiv(&small(2), &q), 4)
            }
            // A ball wider than a period covers [-1, 1] (sin and cos) or a pole (tan): known
            // without reducing a midpoint of thousands of digits (`tan(pi t 10^4096)` at low
            // precision is such a ball, and the reduction cost seconds per sample).
            Func::Sin | Func::Cos if x.rad.cmp(&small(7)).is_some_and(|c| c >= 0) => {
                return Ok(Ball {
                    mid: BigFloat::new(p),
                    rad: small(1),
                });
            }
            Func::Tan if x.rad.cmp(&small(4)).is_some_and(|c| c >= 0) => {
                return Err(BallError::Uncertain);
            }
            Func::Sin | Func::Cos => {
                let v = match f {
                    Func::Sin => x.mid.sin(p, RM, cc),
                    _ => x.mid.cos(p, RM, cc),
                };
                (v, small(1), 4)
            }
            Func::Tan => {
                // r <= |cos m|/2 keeps |cos| >= |cos m|/2, so tan' = 1/cos^2 <= 4/cos^2 m.
                let c = x.mid.cos(p, RM, cc);
                let c_lo = down(&c);
                if c.is_zero() || rmul(&x.rad, &small(2)).cmp(&c_lo).is_none_or(|o| o > 0) {
                    return Err(BallError::Uncertain);
                }
                let v = finite(x.mid.tan(p, RM, cc))?;
                let slope = rdiv(&small(4), &c_lo.mul(&c_lo, RP, DOWN));
                (v, slope, 4)
            }
            // Where every point of the ball has |x| > p, 1 - |tanh x| < 2 e^(-2|x|) and
            // sigmoid x is within e^(-|x|) of 0 or 1: the image is known whatever the radius.
            // The slope bounds (1 and 1/4) would carry the width of a huge argument over (a
            // literal 9.3e1768 is a wide ball until p passes its 5,877 bits; a log-SNR times
            // 1e598 is wide at every precision tried), and certification climbed to the
            // largest precision at every sample.
            Func::Tanh | Func::Sigmoid
                if least_abs(x)
                    .cmp(&BigFloat::from_u64(p as u64, 64))
                    .is_some_and(|c| c > 0) =>
            {
                let mid = match (f, x.mid.is_negative()) {
                    (Func::Tanh, true) => BigFloat::from_i8(-1, p),
                    (Func::Sigmoid, true) => BigFloat::from_u8(0, p),
                    _ => BigFloat::from_u8(1, p),
                };
                return Ok(Ball {
                    mid,
                    rad: pow2(-least_magnitude_bits(x, p)),
                });
            }
            // atan' = 1/(1 + x^2) <= 1/(1 + d^2), d the ball's least |x|: for a large argument
            // the slope is tiny, and a wide ball around it (a long literal at low precision)
            // still certifies.
            Func::Atan => {
                let inner = least_abs(x);
                let slope = if inner.is_positive() {
                    let d2 = inner.mul(&inner, RP, RoundingMode::Down);
                    rdiv(&small(1), &d2.add(&one, RP, RoundingMode::Down))
                } else {
                    small(1)
                };
                (x.mid.atan(p, RM, cc), slope, 4)
            }
            Func::Tanh => (x.mid.tanh(p, RM, cc), small(1), 4),
            Func::Sigmoid => {
                let v = hp::sigmoid(&x.mid, p, cc);
                (v, BigFloat::from_f64(0.25, RP), 4)
            }
            Func::Abs => (x.mid.abs(), small(1), 0),
            Func::Asin | Func::Acos => {
                let lo_mag = down(&x.mid).sub(&x.rad, RP, DOWN);
                if lo_mag.cmp(&one).is_some_and(|c| c > 0) {
                    return Err(domain());
                }
                // gap = 1 - |m|; r <= gap/2 keeps 1 - x^2 >= 1 - |x| >= gap/2, so
                // |f'| <= sqrt(2/gap).
                let gap = one.sub(&up(&x.mid), RP, DOWN);
                let wide = rmul(&x.rad, &small(2)).cmp(&gap).is_none_or(|c| c > 0);
                if gap.is_negative() || (wide && !is_zero(&x.rad)) {
                    return Err(BallError::Uncertain);
                }
                let v = match f {
                    Func::Asin => x.mid.asin(p, RM, cc),
                    _ => x.mid.acos(p, RM, cc),
                };
                let slope = if is_zero(&x.rad) {
                    zero_rad()
                } else {
                    rdiv(&small(2), &gap).sqrt(RP, UP)
                };
                (v, slope, 4)
            }
        };
        let v = finite(v)?;
        let charge = if charge == 0 {
            zero_rad()
        } else {
            ulps(&v, p, charge)
        };
        let rad = radd(&rmul(&x.rad, &slope), &charge);
        Ok(Ball { mid: v, rad })
    }
}

fn point(mid: BigFloat) -> Ball {
    Ball {
        mid,
        rad: zero_rad(),
    }
}

fn mul(a: &Ball, b: &Ball, p: usize) -> Result<Ball, BallError> {
    let mid = finite(a.mid.mul(&b.mid, p, RM))?;
    // |a b - ma mb| <= |ma| rb + |mb| ra + ra rb.
    let rad = radd(
        &radd(&rmul(&up(&a.mid), &b.rad), &rmul(&up(&b.mid), &a.rad)),
        &radd(&rmul(&a.rad, &b.rad), &rounding(&mid, p)),
    );
    Ok(Ball { mid, rad })
}

/// `b^n` for an integer `n`.
fn powi(b: &Ball, n: &BigInt, p: usize) -> Result<Ball, BallError> {
    if n.is_zero() {
        return Ok(point(BigFloat::from_u8(1, p)));
    }
    if touches_zero(b) {
        if b.mid.is_zero() && is_zero(&b.rad) {
            return if n.is_negative() {
                Err(EvalError::DivisionByZero.into())
            } else {
                Ok(point(BigFloat::new(p)))
            };
        }
        if n.is_negative() {
            return Err(BallError::Uncertain);
        }
        // |b| <= |m| + r: b^n lies in [-(|m|+r)^n, (|m|+r)^n].
        let k = n.to_usize().ok_or(BallError::Uncertain)?;
        let top = radd(&up(&b.mid), &b.rad).powi(k, RP, UP);
        return Ok(Ball {
            mid: BigFloat::new(p),
            rad: finite(top)?,
        });
    }
    let mag = n.magnitude();
    let n_bits = mag.bits() as usize;
    if mag.to_usize().is_none() {
        // The ball has one sign, so |b| is monotone on it: where the power of both ends
        // is out of range by far, on the same side, that of every point between is.
        let (lo, hi) = ends(b, p);
        let n = BigRational::from_integer(n.clone());
        let range = |x: &BigFloat| hp::huge_power_out_of_range(x, &n);
        match (range(&lo), range(&hi)) {
            (Some(true), Some(true)) => return Err(BallError::Eval(EvalError::Overflow)),
            (Some(false), Some(false)) => {
                return Ok(Ball {
                    mid: BigFloat::new(p),
                    rad: pow2(-(1 << 30)),
                });
            }
            _ => {}
        }
    }
    // (|n| + 1) r <= |m|/4 keeps |x|^(n-1) within a factor 2 of |m|^(n-1) on the ball, so
    // |b^n - m^n| <= 2 |n| r |v| / |m|.
    if !narrow(b, 3 + n_bits as i64) {
        return Err(BallError::Uncertain);
    }
    let wp = p + GUARD + 2 * n_bits;
    let mut v = match mag.to_usize() {
        Some(k) => b.mid.powi(k, wp, RM),
        None => {
            // |n| >= 2^64: through the general power of |b|, the sign restored.
            let mut cc = Consts::new().expect("the constants cache only fails to allocate");
            let x = rational_at(&BigRational::from_integer(mag.clone().into()), wp);
            let mut v = pow_once(&b.mid.abs(), &x, wp, &mut cc);
            if b.mid.is_negative() && n.bit(0) {
                v.inv_sign();
            }
            v
        }
    };
    if n.is_negative() {
        v = v.reciprocal(wp, RM);
    }
    let _ = v.set_precision(p, RM);
    let v = finite(v)?;
    let exact = is_zero(&b.rad) && !v.inexact() && !n.is_negative();
    let kf = rational_at(&BigRational::from_integer(mag.clone().into()), RP);
    let slope = rmul(&rmul(&small(2), &kf), &rdiv(&up(&v), &down(&b.mid)));
    let rad = radd(
        &rmul(&b.rad, &slope),
        &if exact { zero_rad() } else { ulps(&v, p, 2) },
    );
    Ok(Ball { mid: v, rad })
}

/// The ends of a ball, rounded outwards at `p + 64` bits.
pub fn ends(b: &Ball, p: usize) -> (BigFloat, BigFloat) {
    let wp = p + GUARD;
    (b.mid.sub(&b.rad, wp, DOWN), b.mid.add(&b.rad, wp, UP))
}

/// Why no certified value could be given.
#[derive(Clone, Debug, PartialEq)]
pub enum Uncertified {
    /// The expression is undefined at the exact inputs.
    Eval(EvalError),
    /// Even at the largest precision the ball reaches a singular point.
    Singular,
    /// Even at the largest precision the ball straddles a rounding boundary: the value
    /// is, to that precision, a tie (`mid` is the best estimate).
    Tie(BigFloat),
}

/// The first precision tried by [`certify`].
pub const START_PRECISION: usize = 128;

/// Evaluates `e` at 128, 256, 512, ... bits (up to `max_bits`) until `round` maps both
/// ends of the ball to the same value, and returns it with the ball's midpoint.
pub fn certify<R: PartialEq>(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
    max_bits: usize,
    round: impl Fn(&BigFloat) -> R,
) -> Result<(R, BigFloat), Uncertified> {
    with_consts(|consts| certify_with(pool, e, env, max_bits, round, consts))
}

thread_local! {
    /// The constants (pi, ln 2, ...) astro-float has computed, kept between the certified
    /// evaluations of a thread instead of being worked out again for each.
    static CONSTS: std::cell::RefCell<Option<Consts>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's constants cache (a fresh one inside a call that holds it).
pub fn with_consts<R>(f: impl FnOnce(&mut Consts) -> R) -> R {
    let mut consts = CONSTS
        .with(|c| c.borrow_mut().take())
        .unwrap_or_else(|| Consts::new().expect("the constants cache only fails to allocate"));
    let r = f(&mut consts);
    CONSTS.with(|c| *c.borrow_mut() = Some(consts));
    r
}

fn certify_with<R: PartialEq>(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
    max_bits: usize,
    round: impl Fn(&BigFloat) -> R,
    consts: &mut Consts,
) -> Result<(R, BigFloat), Uncertified> {
    let mut precision = START_PRECISION;
    loop {
        let last = precision >= max_bits;
        match eval_ball(pool, e, env, precision, consts) {
            // A bound that is NaN certifies nothing (a defect upstream, never a value).
            Ok(b) if b.mid.is_nan() || b.rad.is_nan() => {
                if last {
                    return Err(Uncertified::Singular);
                }
            }
            Ok(b) => {
                let (lo, hi) = ends(&b, precision);
                let (a, z) = (round(&lo), round(&hi));
                if a == z {
                    return Ok((a, b.mid));
                }
                if last {
                    return Err(Uncertified::Tie(b.mid));
                }
            }
            Err(BallError::Eval(err)) => return Err(Uncertified::Eval(err)),
            Err(BallError::Uncertain) if last => return Err(Uncertified::Singular),
            Err(BallError::Uncertain) => {}
        }
        precision *= 2;
    }
}

/// Whether `e` at the exact point `env` is certainly not zero: a ball that excludes 0 has
/// one sign, and one around an exact zero never does (a ball that still holds 0 at
/// `max_bits`, or a value undefined at the point, is not known to be nonzero). What tells a
/// value below f64's range (`e^-1500`, 0 in f64) from a zero (`cos(pi/2)`).
pub fn certainly_nonzero(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
    max_bits: usize,
) -> bool {
    certify(pool, e, env, max_bits, sign_of).is_ok_and(|(s, _)| s != Ordering::Equal)
}

/// `x` rounded to f64 with both zeros identified (so a ball around 0 rounds to one value).
pub fn round_f64(x: &BigFloat) -> u64 {
    round_f64_value(hp::to_f64(x))
}

/// The key [`round_f64`] gives the f64 `v`: its bits, both zeros as 0.
pub fn round_f64_value(v: f64) -> u64 {
    if v == 0.0 { 0 } else { v.to_bits() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::test_util::parse_in_unit_t;

    fn rat(n: i64, d: i64) -> BigRational {
        BigRational::new(n.into(), d.into())
    }

    fn parse(src: &str) -> (Pool, ExprId, Symbol) {
        let mut pool = Pool::new();
        let e = parse_in_unit_t(&mut pool, src);
        let t = pool.symbol("t");
        (pool, e, t)
    }

    fn value(src: &str, t: BigRational) -> Result<f64, Uncertified> {
        let (pool, e, ts) = parse(src);
        certify(&pool, e, &[(ts, t)], 16384, round_f64).map(|(bits, _)| f64::from_bits(bits))
    }

    /// At a pole of tan the 256-bit midpoint gives a finite value (1/tan(pi/2) is 7.8e-78
    /// at 256 bits), and the ball must not certify it: the emitted guards of the tangent
    /// process took that value through a check that was not certified. A zero of cos is
    /// certified only as 0, once the ball around it is below the f64 range.
    #[test]
    fn poles_and_zeros_of_the_trigonometric_functions_are_not_values() {
        assert!(value("1/tan(pi*t/2)", rat(1, 1)).is_err());
        assert!(value("1/sqrt(1 + tan(pi*t/2)^2/2)", rat(1, 1)).is_err());
        let c = value("cos(pi*t/2)", rat(1, 1));
        assert!(c.is_err() || c == Ok(0.0), "{c:?}");
        // Near them, values are certified as before.
        let v = value("cos(pi*t/2)", rat(999_999, 1_000_000)).expect("certified");
        assert!((v - 1.5707963267948e-6).abs() < 1e-17, "{v:e}");
    }

    /// Balls kept between evaluations ([`sharing`]) are reused only at the same point,
    /// precision and pool: in any order, every ball is the one computed afresh.
    #[test]
    fn shared_balls_are_those_of_the_same_point_and_precision() {
        let mut pool = Pool::new();
        let sources = [
            "sin(t) + exp(t)",
            "sin(t)*x",
            "exp(t) - 1 - t",
            "x + sin(t)",
        ];
        let exprs: Vec<ExprId> = sources
            .iter()
            .map(|s| crate::expr::test_util::parse_with_reals(&mut pool, s))
            .collect();
        let (t, x) = (pool.symbol("t"), pool.symbol("x"));
        let tiny = BigRational::new(1.into(), BigInt::from(10).pow(30));
        let points = [
            (rat(1, 3), rat(1, 2)),
            (rat(1, 5), rat(1, 2)),
            (rat(1, 3), rat(-7, 2)),
            (tiny, rat(1, 2)),
        ];
        let mut runs = Vec::new();
        for (i, _) in exprs.iter().enumerate() {
            for (k, _) in points.iter().enumerate() {
                for p in [64, 128, 256] {
                    runs.push((i, k, p));
                }
            }
        }
        let ball = |&(i, k, p): &(usize, usize, usize)| {
            let (tv, xv) = points[k].clone();
            let mut cc = Consts::new().unwrap();
            eval_ball(&pool, exprs[i], &[(t, tv), (x, xv)], p, &mut cc)
                .ok()
                .map(|b| (b.mid.to_string(), b.rad.to_string()))
        };
        let fresh: Vec<_> = runs.iter().map(ball).collect();
        // Points first, the expressions and precisions in reverse: each evaluation meets
        // the balls the others left.
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by_key(|&j| (runs[j].1, std::cmp::Reverse((runs[j].0, runs[j].2))));
        let shared: Vec<_> = sharing(|| order.iter().map(|&j| (j, ball(&runs[j]))).collect());
        for (j, b) in shared {
            assert_eq!(
                b, fresh[j],
                "{} at point {} and {} bits",
                sources[runs[j].0], runs[j].1, runs[j].2
            );
        }
        assert!(fresh.iter().filter(|b| b.is_some()).count() > runs.len() / 2);
    }

    /// Certified at 256 bits at most.
    fn value_256(src: &str, t: BigRational) -> Result<f64, Uncertified> {
        let (pool, e, ts) = parse(src);
        certify(&pool, e, &[(ts, t)], 256, round_f64).map(|(bits, _)| f64::from_bits(bits))
    }

    /// A long literal is a wide ball at low precision; functions whose slope vanishes there
    /// (tanh, atan) and exponentials beyond every range are decided without climbing to
    /// the literal's 5,877 bits (found by the fuzzer: seconds per evaluation before).
    #[test]
    fn huge_arguments_are_decided_at_low_precision() {
        assert_eq!(value_256("t*tanh(9.3E1768)", rat(1, 2)), Ok(0.5));
        assert_eq!(value_256("t*tanh(-9.3E1768)", rat(1, 2)), Ok(-0.5));
        assert_eq!(value_256("2*atan(9.3E1768)/pi", rat(1, 2)), Ok(1.0));
        assert_eq!(value_256("exp(-t*1e10)", rat(1, 1)), Ok(0.0));
        assert_eq!(value_256("1 + expm1(-t*1e10)", rat(1, 1)), Ok(0.0));
        assert!(matches!(
            value_256("exp(t*1e10)", rat(1, 1)),
            Err(Uncertified::Eval(EvalError::Overflow))
        ));
    }

    #[test]
    fn exact_inputs_stay_exact() {
        let mut cc = Consts::new().unwrap();
        let (pool, e, t) = parse("t/2 + 1/4");
        let b = eval_ball(&pool, e, &[(t, rat(1, 2))], 128, &mut cc).unwrap();
        assert!(b.rad.is_zero());
        assert_eq!(hp::to_f64(&b.mid), 0.5);
        let (pool, e, t) = parse("t + 1/3");
        let b = eval_ball(&pool, e, &[(t, rat(1, 3))], 128, &mut cc).unwrap();
        assert!(!b.rad.is_zero());
    }

    #[test]
    fn the_ball_contains_the_value() {
        // Against the same formula at 1024 bits: every 128-bit ball must contain it.
        let formulas = [
            "exp(-t/20 - 199*t^2/40)",
            "sqrt(1 - exp(-t/10 - 199*t^2/20))",
            "log(tan(pi*t/2))",
            "atan(t)^3/(1 + t)",
            "t^(1/3)*sinh(t) - cosh(t)^2 + expm1(t) + log1p(t)",
            "asin(t/2) + acos(t/3) + sigmoid(5*t) + tanh(t)",
            "(1 + t)^t",
        ];
        let mut cc = Consts::new().unwrap();
        for f in formulas {
            let (pool, e, ts) = parse(f);
            for t in [rat(1, 7), rat(1, 3), rat(9, 10), rat(1, 1000)] {
                let b = eval_ball(&pool, e, &[(ts, t.clone())], 128, &mut cc).unwrap();
                let mut h = hp::Hp::new(1024);
                let tv = h.from_rational(&t);
                let exact = h.eval(&pool, e, &[(ts, tv)]).unwrap();
                let err = exact.sub(&b.mid, 1024, RM).abs();
                assert!(
                    err.cmp(&b.rad).is_some_and(|c| c <= 0),
                    "{f} at {t}: error {err} above radius {}",
                    b.rad
                );
            }
        }
    }

    proptest::proptest! {
        // The ball at 128 bits holds the value at 2048 bits, at any time in (0, 1), for
        // formulas that cancel (1 - exp), divide, take roots and nest transcendentals.
        #[test]
        fn balls_hold_the_value_at_random_times(n in 1u64..1_000_000, k in 0u32..200) {
            let t = BigRational::new(n.into(), (BigInt::from(1_000_001u64)) << k);
            let mut cc = Consts::new().unwrap();
            for f in [
                "sqrt(1 - exp(-t/10 - 199*t^2/20))",
                "log(sqrt(1 - exp(-t))/exp(-t/2))",
                "(1 - cos(t))/t^2 + sin(t)/t",
                "1/(1 + tan(pi*t/2)^2)^(1/2)",
                "expm1(t)^3 - log1p(t^2)*sigmoid(-t) + atan(1/t)",
            ] {
                let (pool, e, ts) = parse(f);
                let b = eval_ball(&pool, e, &[(ts, t.clone())], 128, &mut cc);
                let Ok(b) = b else { continue };
                let mut h = hp::Hp::new(2048);
                let tv = h.from_rational(&t);
                let exact = h.eval(&pool, e, &[(ts, tv)]).unwrap();
                let err = exact.sub(&b.mid, 2048, RM).abs();
                proptest::prop_assert!(err.cmp(&b.rad).is_some_and(|c| c <= 0), "{} at {}", f, t);
            }
        }
    }

    #[test]
    fn cancellation_is_never_taken_for_a_value() {
        // sigma of vp_linear at t = 1e-80: sqrt(B) to first order, B = t/10 + 199 t^2/20.
        let t = BigRational::new(1.into(), BigInt::from(10).pow(80));
        let v = value("sqrt(1 - exp(-t/10 - 199*t^2/20))", t).unwrap();
        let expected = (1e-81f64).sqrt();
        assert!(
            (v - expected).abs() <= expected * 1e-15,
            "{v} vs {expected}"
        );
    }

    #[test]
    fn exact_zeros_are_certified() {
        assert_eq!(value("sin(pi*t)", rat(1, 1)).unwrap(), 0.0);
        assert_eq!(value("1 - cos(t)^2 - sin(t)^2", rat(1, 3)).unwrap(), 0.0);
    }

    #[test]
    fn singular_points_are_not_values() {
        assert_eq!(
            value("log(tan(pi*t/2))", rat(1, 1)),
            Err(Uncertified::Singular)
        );
        assert!(matches!(
            value("sin(t)/t", rat(0, 1)),
            Err(Uncertified::Eval(EvalError::DivisionByZero))
        ));
    }
}
