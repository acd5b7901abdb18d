//! High-precision evaluation (astro-float), the numeric reference, with exact f64 and decimal output.
//!
//! [`Hp::eval`] follows the semantics of [`crate::expr::eval::eval_f64`] operation for
//! operation. Every operation rounds to the working precision; functions prone to
//! cancellation (`expm1`, `log1p`, powers with large exponents) raise it internally by the
//! number of bits the cancellation costs, or switch to a series, so their results keep the
//! full precision.

use crate::expr::fxhash::HashMap;
use std::cmp::Ordering;

use astro_float::{BigFloat, Consts, RoundingMode, Sign, WORD_BIT_SIZE};
use num_bigint::{BigInt, BigUint};
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::eval::{
    EvalError, Exponent, check_fractional_base, classify_exponent, format_f64, general_pow_case,
    is_half, is_neg_half, layout_decimal, round_to_f64,
};
use super::named;
use super::pool::{Constant, ExprId, Func, IntegralId, Node, Pool, Symbol};

/// The precision, in bits, of the reference evaluation.
pub const DEFAULT_PRECISION: usize = 256;

const RM: RoundingMode = RoundingMode::ToEven;

// Mantissa words are handled as `u64` (astro-float's word on 64-bit targets).
const _: () = assert!(WORD_BIT_SIZE == 64);

/// Guard bits added to internal steps whose error must not show in the result.
const GUARD: usize = 64;

/// A high-precision evaluator: a working precision and its own cache of constants.
pub struct Hp {
    precision: usize,
    consts: Consts,
}

impl Hp {
    /// An evaluator working with `precision_bits` bits (at least 64; astro-float rounds it up
    /// to a whole number of 64-bit words).
    pub fn new(precision_bits: usize) -> Hp {
        Hp {
            precision: precision_bits.max(64),
            consts: Consts::new().expect("the constants cache only fails to allocate"),
        }
    }

    /// The working precision in bits.
    pub fn precision(&self) -> usize {
        self.precision
    }

    /// Evaluates `e` with the symbols bound by `env`. Shared subexpressions are evaluated
    /// once; errors are those of [`crate::expr::eval::eval_f64`] on the same input.
    pub fn eval(
        &mut self,
        pool: &Pool,
        e: ExprId,
        env: &[(Symbol, BigFloat)],
    ) -> Result<BigFloat, EvalError> {
        HpEval {
            hp: self,
            pool,
            env,
            memo: HashMap::default(),
        }
        .eval(e)
    }

    /// `r` correctly rounded (ties to even) to the working precision.
    pub fn from_rational(&mut self, r: &BigRational) -> BigFloat {
        rational_at(r, self.precision)
    }

    /// `x` exactly (NaN and infinities map to their BigFloat counterparts).
    pub fn from_f64(&self, x: f64) -> BigFloat {
        from_f64_exact(x)
    }
}

/// `x` exactly, from its bits (astro-float's own conversion halves subnormals).
fn from_f64_exact(x: f64) -> BigFloat {
    if x.is_nan() {
        return astro_float::NAN;
    }
    let sign = if x.is_sign_negative() {
        Sign::Neg
    } else {
        Sign::Pos
    };
    if x.is_infinite() {
        return inf(sign);
    }
    let bits = x.to_bits();
    let field = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1u64 << 52) - 1);
    let (m, exp2) = if field == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), field - 1075)
    };
    if m == 0 {
        let mut zero = BigFloat::new(64);
        zero.set_sign(sign);
        return zero;
    }
    from_integer_scaled(&BigUint::from(m), exp2, sign)
}

/// The allowance of work for evaluating at high precision (certified balls and plain
/// 256-bit values alike) for one process (its validity check, its checks) or one `eval`,
/// scoped by `process::within_allowances`; unbounded outside a scope. A function
/// call at p bits of an argument of magnitude 2^m costs w^3 units, w = (p + m)/64 + 1
/// machine words (argument reduction and series both grow with the operand's length).
/// 4e8 units is about 2 s on the 2-core machine of the README's Limits table
/// (`tan(9.3e1768 t)`, sampled at 8192 bits, spent 1.1e10 units in 56 s); the bundled
/// library's heaviest process spends 1.9e5, a process with `t^1e4096` 7.7e7. Counted,
/// not timed: the verdict is the same on every machine.
pub const PROCESS_WORK: u64 = 400_000_000;

thread_local! {
    /// What is left of the enclosing [`with_work_allowance`] (unbounded outside one).
    static WORK: std::cell::Cell<u64> = const { std::cell::Cell::new(super::work::UNBOUNDED) };
}

/// Runs `task` with at most `units` of high-precision work (and no more than an enclosing
/// scope has left); once spent, evaluations fail with [`EvalError::TooCostly`].
pub fn with_work_allowance<R>(units: u64, task: impl FnOnce() -> R) -> R {
    super::work::scoped(&WORK, units, task).0
}

/// Whether this thread is outside every high-precision allowance (as a task must leave it).
pub(crate) fn at_rest() -> bool {
    super::work::at_rest(&WORK)
}

/// Charges a function evaluation at `p` bits of an argument `x` to the allowance.
pub(crate) fn charge(x: &BigFloat, p: usize) -> Result<(), EvalError> {
    let magnitude = x.exponent().unwrap_or(0).max(0) as u64;
    let words = (p as u64 + magnitude) / 64 + 1;
    spend(words.saturating_mul(words).saturating_mul(words))
}

/// Charges the evaluation of `nodes` expression nodes at `p` bits: `110 w^2` units, w =
/// p/64 + 1 words, so about 1,000 units a node at 128 bits. Measured: a certified panel
/// of a steep integrand's derivatives (263 nodes, powers and exponentials of 640-bit
/// constants) took 1.4 ms at 128 bits, 5 us a node, and the allowance's 4e8 units are
/// about 2 s. Only quadrature charges nodes (a named integral evaluates its integrand's
/// derivatives on up to [`named::MAX_PANELS`] panels, and a limit or a check evaluates it
/// at many points); a single evaluation of a formula is bounded by the formula's size.
pub(crate) fn charge_nodes(nodes: usize, p: usize) -> Result<(), EvalError> {
    let words = p as u64 / 64 + 1;
    spend((nodes as u64).saturating_mul(110 * words * words))
}

fn spend(units: u64) -> Result<(), EvalError> {
    if super::work::spend(&WORK, units) {
        Ok(())
    } else {
        Err(EvalError::TooCostly)
    }
}

/// `x^y` (`x > 0`) to `p` bits, within 2 units in the last place: astro-float's `pow`
/// under any rounding mode but `None` runs Ziv's loop, which never ends when the power is
/// exactly representable (`4^0.5` at 64 bits to nearest, `0.25^1.5` rounded up: found by
/// the fuzzer as a hang). Under `None` it evaluates `exp(y ln x)` once, at `p + 64` bits
/// or more (an error far below 2^-(p + 30) relative, as `|y ln x| < 2^32` in the exponent
/// range), and truncates to `p` bits (less than one unit in the last place).
pub(crate) fn pow_once(x: &BigFloat, y: &BigFloat, p: usize, cc: &mut Consts) -> BigFloat {
    x.pow(y, p, RoundingMode::None, cc)
}

/// Whether `|x|^n`, for a huge exponent `n` (2^64 or more), is certainly beyond
/// astro-float's exponent range (2^31 bits: here `|n log2|x|| > 2^39`): `Some(true)` if
/// it overflows, `Some(false)` if it underflows, `None` if `|x|` is 0, 1 or too close to 1
/// to tell. From exponents alone: computing such a power takes a working precision of
/// twice the bits of `n`, tens of thousands of bits for a literal `t^1e4096`, tens of
/// seconds per process, and `n` may not even fit an f64 (a fuzzer hang, and a NaN).
pub(crate) fn huge_power_out_of_range(x: &BigFloat, n: &BigRational) -> Option<bool> {
    if x.is_zero() {
        return None;
    }
    let e = x.exponent()?;
    let ax = x.abs();
    // A lower bound of log2 |log2 |x||: |x| = 0.m 2^e with 0.m in [1/2, 1). For e in
    // {0, 1}, d = |x| - 1 is in [-1/2, 1) and |log2(1 + d)| >= |d| >= 2^(exponent(d) - 1)
    // (one more bit of slack for the rounding of d); otherwise |log2 |x|| >= 1.
    let (lower, above_one) = if e == 0 || e == 1 {
        let d = ax.sub(&BigFloat::from_u8(1, 64), 64, RM);
        if d.is_zero() {
            return None;
        }
        (i64::from(d.exponent()?) - 2, d.is_positive())
    } else {
        (0, e >= 2)
    };
    // |n| = p/q >= 2^(bits(p) - 1) / 2^bits(q).
    let n_log2 = n.numer().bits() as i64 - 1 - n.denom().bits() as i64;
    (n_log2 + lower > 39).then_some(above_one == n.is_positive())
}

/// `r` correctly rounded to `p` bits: an integer quotient with more than `p + 2` bits, the
/// remainder folded into its last bit (a sticky bit), then one rounding.
pub(crate) fn rational_at(r: &BigRational, p: usize) -> BigFloat {
    let (n, d) = (r.numer().magnitude(), r.denom().magnitude());
    if n.is_zero() {
        return BigFloat::new(p);
    }
    let want = (p + GUARD) as i64;
    let shift = want - (n.bits() as i64 - d.bits() as i64);
    let (q, rem) = if shift >= 0 {
        (n << shift as u64).div_rem(d)
    } else {
        n.div_rem(&(d << (-shift) as u64))
    };
    let q = if rem.is_zero() { q } else { q | BigUint::one() };
    let sign = if r.is_negative() {
        Sign::Neg
    } else {
        Sign::Pos
    };
    let mut x = from_integer_scaled(&q, -shift, sign);
    round_to(&mut x, p);
    x
}

/// `±q * 2^exp2` exactly, at the precision of `q`'s words.
fn from_integer_scaled(q: &BigUint, exp2: i64, sign: Sign) -> BigFloat {
    let words: Vec<u64> = q.to_u64_digits();
    let e = exp2 + (words.len() * 64) as i64;
    match i32::try_from(e) {
        Ok(e) => BigFloat::from_words(&words, sign, e),
        Err(_) if e > 0 => inf(sign),
        Err(_) => BigFloat::new(64),
    }
}

fn inf(sign: Sign) -> BigFloat {
    if sign == Sign::Neg {
        astro_float::INF_NEG
    } else {
        astro_float::INF_POS
    }
}

fn round_to(x: &mut BigFloat, p: usize) {
    // Only fails for an invalid precision, and `p >= 64` is valid.
    let _ = x.set_precision(p, RM);
}

struct HpEval<'a> {
    hp: &'a mut Hp,
    pool: &'a Pool,
    env: &'a [(Symbol, BigFloat)],
    memo: HashMap<ExprId, BigFloat>,
}

impl HpEval<'_> {
    fn p(&self) -> usize {
        self.hp.precision
    }

    fn eval(&mut self, e: ExprId) -> Result<BigFloat, EvalError> {
        if let Some(v) = self.memo.get(&e) {
            return Ok(v.clone());
        }
        let v = finite(self.eval_node(e)?)?;
        self.memo.insert(e, v.clone());
        Ok(v)
    }

    fn eval_node(&mut self, e: ExprId) -> Result<BigFloat, EvalError> {
        let p = self.p();
        match self.pool.node(e) {
            Node::Rational(r) => Ok(rational_at(r, p)),
            Node::Const(Constant::Pi) => Ok(self.hp.consts.pi(p, RM)),
            Node::Const(Constant::E) => Ok(self.hp.consts.e(p, RM)),
            Node::Sym(s) => self.lookup(*s),
            Node::Add(xs) => xs.iter().try_fold(BigFloat::new(p), |acc, &x| {
                finite(acc.add(&self.eval(x)?, p, RM))
            }),
            Node::Mul(xs) => xs.iter().try_fold(BigFloat::from_u8(1, p), |acc, &x| {
                finite(acc.mul(&self.eval(x)?, p, RM))
            }),
            Node::Pow(b, x) => self.pow(*b, *x),
            Node::Call(Func::Integral(i), a) => {
                let u = self.eval(*a)?;
                self.integral(*i, &u)
            }
            Node::Call(f, a) => {
                let x = self.eval(*a)?;
                self.call(*f, &x)
            }
        }
    }

    /// A named integral up to `u`, by the plan of [`named::plan`] to `2^-p` of its scale
    /// ([`named::MAX_BITS`] at most: the one place where a value carries fewer bits than
    /// the working precision, and says so): the derivatives evaluated at `p + 64` bits, so
    /// the error is the plan's bound on the truncation and a rounding far below it. A plan
    /// beyond its bound on panels is an error, never a value with fewer correct digits.
    fn integral(&mut self, i: IntegralId, u: &BigFloat) -> Result<BigFloat, EvalError> {
        let p = self.p();
        let upper = to_rational(u).ok_or(EvalError::Overflow)?;
        let scale = named::scale(self.pool, i, &upper).ok_or(EvalError::Quadrature)?;
        let tol = scale * named::tolerance(p);
        let plan = named::plan(self.pool, i, &upper, tol)?;
        let def = self.pool.integral(i);
        let bound = self
            .pool
            .bound_symbol()
            .expect("named integrals intern their variable");
        let wp = p + GUARD;
        let saved = self.hp.precision;
        self.hp.precision = wp;
        let mut sum = BigFloat::new(wp);
        let mut result = Ok(());
        for panel in &plan.panels {
            let env = [(bound, rational_at(&panel.mid, wp))];
            let mut at = HpEval {
                hp: &mut *self.hp,
                pool: self.pool,
                env: &env,
                memo: HashMap::default(),
            };
            let weights = named::weights(&panel.half, panel.order);
            for (k, w) in (0..panel.order).step_by(2).zip(&weights) {
                match at.eval(def.derivs[k]) {
                    Ok(v) => {
                        let w = rational_at(w, wp);
                        sum = sum.add(&v.mul(&w, wp, RM), wp, RM);
                    }
                    Err(e) => result = Err(e),
                }
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                result = charge_nodes(at.memo.len(), wp);
            }
            if result.is_err() {
                break;
            }
        }
        self.hp.precision = saved;
        result?;
        let mut v = sum;
        round_to(&mut v, p);
        finite(v)
    }

    fn lookup(&self, s: Symbol) -> Result<BigFloat, EvalError> {
        self.env
            .iter()
            .find(|(k, _)| *k == s)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| EvalError::Unbound(self.pool.symbol_name(s).to_owned()))
    }

    fn pow(&mut self, base: ExprId, exp: ExprId) -> Result<BigFloat, EvalError> {
        let b = self.eval(base)?;
        let p = self.p();
        match classify_exponent(self.pool, exp) {
            Exponent::Int(n) => self.powi(&b, n),
            Exponent::Frac(r) => {
                check_fractional_base(sign_of(&b), r.is_positive(), || show(&b))?;
                if b.is_zero() {
                    return Ok(BigFloat::new(p));
                }
                let v = if is_half(r) {
                    b.sqrt(p, RM)
                } else if is_neg_half(r) {
                    let mut v = b.sqrt(p + GUARD, RM).reciprocal(p + GUARD, RM);
                    round_to(&mut v, p);
                    v
                } else {
                    charge(&b, p)?;
                    let x = rational_at(r, p + GUARD);
                    pow_once(&b, &x, p, &mut self.hp.consts)
                };
                finite(v)
            }
            Exponent::General => {
                let x = self.eval(exp)?;
                match general_pow_case(sign_of(&b), sign_of(&x), || show(&b))? {
                    Some(v) => Ok(from_f64_exact(v)),
                    None => {
                        charge(&b, p)?;
                        finite(pow_once(&b, &x, p, &mut self.hp.consts))
                    }
                }
            }
        }
    }

    /// `b^n` by repeated squaring at a precision raised by the bits those roundings cost.
    fn powi(&mut self, b: &BigFloat, n: &BigInt) -> Result<BigFloat, EvalError> {
        let p = self.p();
        if b.is_zero() {
            return match n.sign() {
                num_bigint::Sign::Minus => Err(EvalError::DivisionByZero),
                num_bigint::Sign::NoSign => Ok(BigFloat::from_u8(1, p)),
                num_bigint::Sign::Plus => Ok(BigFloat::new(p)),
            };
        }
        let Some(k) = n.magnitude().to_usize() else {
            // |n| >= 2^64: the result overflows or underflows unless |b| == 1.
            return self.huge_powi(b, n);
        };
        let wp = p + GUARD + 2 * (usize::BITS - k.leading_zeros()) as usize;
        let mut v = b.powi(k, wp, RM);
        if n.is_negative() {
            v = v.reciprocal(wp, RM);
        }
        round_to(&mut v, p);
        finite(v)
    }

    fn huge_powi(&mut self, b: &BigFloat, n: &BigInt) -> Result<BigFloat, EvalError> {
        let p = self.p();
        match huge_power_out_of_range(b, &BigRational::from_integer(n.clone())) {
            Some(true) => return Err(EvalError::Overflow),
            Some(false) => return Ok(BigFloat::new(p)),
            None => {}
        }
        let x = rational_at(&BigRational::from_integer(n.clone()), p + GUARD);
        let mut v = pow_once(&b.abs(), &x, p, &mut self.hp.consts);
        if b.is_negative() && n.bit(0) {
            v.inv_sign();
        }
        finite(v)
    }

    fn call(&mut self, f: Func, x: &BigFloat) -> Result<BigFloat, EvalError> {
        if let Func::Generic(_) = f {
            return Err(EvalError::Unspecified);
        }
        let p = self.p();
        if f != Func::Abs {
            charge(x, p)?;
        }
        let domain = |ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(EvalError::Domain {
                    func: f.name(),
                    arg: show(x),
                })
            }
        };
        let one = BigFloat::from_u8(1, 64);
        let cc = &mut self.hp.consts;
        let v = match f {
            Func::Generic(_) => return Err(EvalError::Unspecified),
            // Evaluated with its integrand (`HpEval::integral`).
            Func::Integral(_) => return Err(EvalError::Quadrature),
            Func::Exp => x.exp(p, RM, cc),
            Func::Log => {
                domain(x.is_positive() && !x.is_zero())?;
                x.ln(p, RM, cc)
            }
            Func::Sin => x.sin(p, RM, cc),
            Func::Cos => x.cos(p, RM, cc),
            Func::Tan => x.tan(p, RM, cc),
            Func::Asin => {
                domain(x.abs().cmp(&one).is_some_and(|c| c <= 0))?;
                x.asin(p, RM, cc)
            }
            Func::Acos => {
                domain(x.abs().cmp(&one).is_some_and(|c| c <= 0))?;
                x.acos(p, RM, cc)
            }
            Func::Atan => x.atan(p, RM, cc),
            Func::Sinh => x.sinh(p, RM, cc),
            Func::Cosh => x.cosh(p, RM, cc),
            Func::Tanh => x.tanh(p, RM, cc),
            Func::Sigmoid => sigmoid(x, p, cc),
            Func::Expm1 => expm1(x, p, cc),
            Func::Log1p => {
                domain(x.cmp(&one.neg()).is_some_and(|c| c > 0))?;
                log1p(x, p, cc)
            }
            Func::Abs => x.abs(),
        };
        finite(v)
    }
}

/// The binary exponent `k` with `2^(k-1) <= |x| < 2^k` (`x` finite and nonzero).
fn exponent(x: &BigFloat) -> i64 {
    i64::from(x.exponent().unwrap_or(0))
}

/// `exp(x) - 1` to `p` bits. `exp(x)` is computed with `-k` extra bits when `|x| < 2^k`,
/// `k <= 0`, which is what subtracting 1 cancels; below `2^-p` the series `x + x^2/2` is
/// exact to `p` bits.
pub(crate) fn expm1(x: &BigFloat, p: usize, cc: &mut Consts) -> BigFloat {
    if x.is_zero() {
        return x.clone();
    }
    let k = exponent(x);
    if k < -(p as i64) {
        let wp = p + GUARD;
        let half_sq = x.mul(x, wp, RM).div(&BigFloat::from_u8(2, 64), wp, RM);
        let mut v = x.add(&half_sq, wp, RM);
        round_to(&mut v, p);
        return v;
    }
    let wp = p + GUARD + (-k).max(0) as usize;
    let mut v = x.exp(wp, RM, cc).sub(&BigFloat::from_u8(1, 64), wp, RM);
    round_to(&mut v, p);
    v
}

/// `log(1 + x)` to `p` bits (`x > -1`). `1 + x` is formed exactly and its log taken with
/// the bits a tiny `x` cancels added; below `2^-p` the series `x - x^2/2` is used.
pub(crate) fn log1p(x: &BigFloat, p: usize, cc: &mut Consts) -> BigFloat {
    if x.is_zero() {
        return x.clone();
    }
    let k = exponent(x);
    let one = BigFloat::from_u8(1, 64);
    let wp = p + GUARD + (-k).max(0) as usize;
    if k < -(p as i64) {
        let half_sq = x.mul(x, wp, RM).div(&BigFloat::from_u8(2, 64), wp, RM);
        let mut v = x.sub(&half_sq, wp, RM);
        round_to(&mut v, p);
        return v;
    }
    // Beyond 2^(p + GUARD), 1 + x need not be exact: the log is insensitive to it.
    let s = if k > (p + GUARD) as i64 {
        one.add(x, wp, RM)
    } else {
        one.add_full_prec(x)
    };
    let mut v = s.ln(wp, RM, cc);
    round_to(&mut v, p);
    v
}

/// `1/(1 + exp(-x))`, written so that `exp` only ever sees a non-positive argument.
pub(crate) fn sigmoid(x: &BigFloat, p: usize, cc: &mut Consts) -> BigFloat {
    let wp = p + GUARD;
    let one = BigFloat::from_u8(1, 64);
    let t = x.abs().neg().exp(wp, RM, cc);
    let denom = one.add(&t, wp, RM);
    let mut v = if x.is_negative() {
        t.div(&denom, wp, RM)
    } else {
        denom.reciprocal(wp, RM)
    };
    round_to(&mut v, p);
    v
}

fn finite(x: BigFloat) -> Result<BigFloat, EvalError> {
    if x.is_nan() || x.is_inf() {
        Err(EvalError::Overflow)
    } else {
        Ok(x)
    }
}

fn sign_of(x: &BigFloat) -> Option<Ordering> {
    if x.is_nan() {
        None
    } else if x.is_zero() {
        Some(Ordering::Equal)
    } else if x.is_negative() {
        Some(Ordering::Less)
    } else {
        Some(Ordering::Greater)
    }
}

/// How an argument is shown in a domain error: as the f64 evaluator would show it.
fn show(x: &BigFloat) -> String {
    format_f64(to_f64(x))
}

/// The exact value of `x` (None for NaN and infinities).
pub fn to_rational(x: &BigFloat) -> Option<BigRational> {
    if x.is_nan() || x.is_inf() {
        return None;
    }
    if x.is_zero() {
        return Some(BigRational::zero());
    }
    let (negative, m, exp2) = parts(x)?;
    let m = BigInt::from(m);
    let m = if negative { -m } else { m };
    let two = BigInt::from(2);
    Some(if exp2 >= 0 {
        BigRational::from_integer(m * two.pow(exp2 as u32))
    } else {
        BigRational::new(m, two.pow((-exp2) as u32))
    })
}

/// The mantissa of a finite `x` as the integer `m` in `|x| = m * 2^exp2` (words are little
/// endian, the value is `0.m * 2^e`).
fn parts(x: &BigFloat) -> Option<(bool, BigUint, i64)> {
    let (words, _, sign, e, _) = x.as_raw_parts()?;
    let m = biguint_from_u64s(words);
    let exp2 = i64::from(e) - (words.len() * WORD_BIT_SIZE) as i64;
    Some((sign == Sign::Neg, m, exp2))
}

fn biguint_from_u64s(digits: &[u64]) -> BigUint {
    let halves: Vec<u32> = digits
        .iter()
        .flat_map(|&d| [d as u32, (d >> 32) as u32])
        .collect();
    BigUint::new(halves)
}

/// The largest working precision [`eval_rounded`] tries.
pub const MAX_ROUNDING_PRECISION: usize = 8192;

/// `e` rounded to the nearest f64, with the symbols bound to exact values: evaluated at
/// 128, 256, 512, ... bits until two successive precisions round to the same f64 (at most
/// [`MAX_ROUNDING_PRECISION`] bits, whose rounding is returned). So the result does not
/// depend on how well the formula is conditioned in floating point: `1 - cos(u)^2` near
/// `u = 0` is as accurate as `sin(u)^2`.
pub fn eval_rounded(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
) -> Result<f64, EvalError> {
    let mut previous: Option<f64> = None;
    let mut precision = 128;
    loop {
        let mut h = Hp::new(precision);
        let bound: Vec<(Symbol, BigFloat)> =
            env.iter().map(|(s, r)| (*s, h.from_rational(r))).collect();
        let v = to_f64(&h.eval(pool, e, &bound)?);
        let agreed = previous.is_some_and(|p| p.to_bits() == v.to_bits());
        if agreed || precision >= MAX_ROUNDING_PRECISION {
            return Ok(v);
        }
        previous = Some(v);
        precision *= 2;
    }
}

/// `x` correctly rounded to f64 (ties to even), with gradual underflow and overflow to an
/// infinity; NaN stays NaN.
pub fn to_f64(x: &BigFloat) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.is_inf() {
        return if x.is_inf_neg() {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let Some((words, _, sign, e, _)) = x.as_raw_parts() else {
        return f64::NAN;
    };
    let negative = sign == Sign::Neg;
    // The top 128 bits are plenty for 53 bits and a round bit; the rest is the sticky bit.
    let mut top: u128 = 0;
    let mut taken = 0usize;
    let mut sticky = false;
    for &w in words.iter().rev() {
        if taken + WORD_BIT_SIZE <= 128 {
            top = (top << WORD_BIT_SIZE) | u128::from(w);
            taken += WORD_BIT_SIZE;
        } else {
            sticky |= w != 0;
        }
    }
    let v = round_to_f64(false, top, i64::from(e) - taken as i64, sticky);
    if negative { -v } else { v }
}

/// Magnitudes below this power of two print as 0 with `--digits`: a certified ball around
/// an exact zero only shrinks towards it, it never reaches it.
pub const DIGITS_ZERO_EXPONENT: i32 = -4000;

/// [`format_sig`], with magnitudes below `2^DIGITS_ZERO_EXPONENT` printed as 0.
pub fn format_sig_or_zero(x: &BigFloat, digits: usize) -> String {
    if x.is_zero() || x.exponent().is_some_and(|e| e < DIGITS_ZERO_EXPONENT) {
        return format_sig(&BigFloat::new(64), digits);
    }
    format_sig(x, digits)
}

/// `x` with `digits` (at least 1) significant decimal digits, correctly rounded (ties to
/// even) from its exact binary value, laid out like [`crate::expr::eval::format_f64`].
pub fn format_sig(x: &BigFloat, digits: usize) -> String {
    let digits = digits.max(1);
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_inf() {
        return if x.is_inf_neg() { "-inf" } else { "inf" }.to_owned();
    }
    let Some((negative, m, exp2)) = parts(x) else {
        return "NaN".to_owned();
    };
    if m.is_zero() {
        return "0".to_owned();
    }
    let (q, exp10) = decimal_digits(x, &m, exp2, digits);
    layout_decimal(negative, &q.to_string(), exp10)
}

/// Beyond this many bits of binary or decimal scaling, digits come from a checked
/// approximation instead of exact integer arithmetic.
const EXACT_LIMIT: i64 = 1 << 18;

/// The `digits`-digit integer `q` and exponent `d` with `|x| ~ q * 10^(d - digits + 1)`,
/// where `|x| = m * 2^exp2`.
fn decimal_digits(x: &BigFloat, m: &BigUint, exp2: i64, digits: usize) -> (BigUint, i64) {
    let lo = BigUint::from(10u32).pow(digits as u32 - 1);
    let hi = &lo * 10u32;
    let top = m.bits() as i64 + exp2;
    let mut d10 = ((top - 1) as f64 * std::f64::consts::LOG10_2).floor() as i64;
    // The estimate is off by at most one; the cap only guards the approximate path.
    for _ in 0..8 {
        let n = digits as i64 - 1 - d10;
        let (floor, rounded) = if exp2.abs() <= EXACT_LIMIT && n.abs() <= EXACT_LIMIT {
            scaled_round_exact(m, exp2, n)
        } else {
            scaled_round_approx(x, n, digits)
        };
        if floor >= hi {
            d10 += 1;
        } else if floor < lo {
            d10 -= 1;
        } else if rounded == hi {
            return (lo, d10 + 1);
        } else {
            return (rounded, d10);
        }
    }
    (lo, d10)
}

/// `m * 2^exp2 * 10^n`: its floor and its value rounded to nearest, ties to even, exactly.
fn scaled_round_exact(m: &BigUint, exp2: i64, n: i64) -> (BigUint, BigUint) {
    let mut num = m.clone();
    let mut den = BigUint::one();
    if exp2 >= 0 {
        num <<= exp2 as u64;
    } else {
        den <<= (-exp2) as u64;
    }
    let ten_n = BigUint::from(10u32).pow(n.unsigned_abs() as u32);
    if n >= 0 {
        num *= ten_n;
    } else {
        den *= ten_n;
    }
    let (floor, rem) = num.div_rem(&den);
    let twice = rem << 1u32;
    let up = match twice.cmp(&den) {
        Ordering::Greater => true,
        Ordering::Equal => floor.bit(0),
        Ordering::Less => false,
    };
    let rounded = if up { &floor + 1u32 } else { floor.clone() };
    (floor, rounded)
}

/// `|x| * 10^n` rounded as in [`scaled_round_exact`], for huge exponents. The product is
/// computed with an error bound and recomputed at double the precision while the fraction
/// is too close to one half to decide the rounding (an exact tie needs a small exponent).
fn scaled_round_approx(x: &BigFloat, n: i64, digits: usize) -> (BigUint, BigUint) {
    let n_bits = 64 - n.unsigned_abs().leading_zeros() as usize;
    let mut wp = (digits * 4 + 2 * GUARD + n_bits).div_ceil(64) * 64;
    let margin = BigUint::from(8 * (n_bits + 4));
    for attempt in 0..8 {
        let ten_n = BigFloat::from_u8(10, wp).powi(n.unsigned_abs() as usize, wp, RM);
        let t = if n >= 0 {
            x.abs().mul(&ten_n, wp, RM)
        } else {
            x.abs().div(&ten_n, wp, RM)
        };
        let Some((_, mt, kt)) = parts(&t) else {
            break;
        };
        if kt >= 0 {
            let v = mt << kt as u64;
            return (v.clone(), v);
        }
        let shift = (-kt) as u64;
        let floor = &mt >> shift;
        let frac = &mt - (&floor << shift);
        let half = BigUint::one() << (shift - 1);
        let dist = if frac > half {
            &frac - &half
        } else {
            &half - &frac
        };
        if dist > margin || attempt == 7 {
            let rounded = if frac > half {
                &floor + 1u32
            } else {
                floor.clone()
            };
            return (floor, rounded);
        }
        wp *= 2;
    }
    (BigUint::zero(), BigUint::zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::eval::eval_f64;
    use proptest::prelude::*;

    /// Fuzz seed 42, case 98737: `log1p(1e300^(10^6))` evaluated outside every allowance
    /// (an error field's matrix) charged `u64::MAX` units, the unbounded allowance became
    /// 0, and every process lowered later on the same thread ran out at once (the
    /// fuzzer's worker: six `emit`s thousands of cases later lost their poles at t = 0).
    #[test]
    fn a_huge_charge_outside_an_allowance_leaves_later_ones_whole() {
        let mut huge = BigFloat::from_u8(1, 64);
        huge.set_exponent(1 << 30);
        assert!(charge(&huge, 64).is_ok());
        let small = BigFloat::from_u8(3, 64);
        assert!(with_work_allowance(PROCESS_WORK, || charge(&small, 256)).is_ok());
    }

    /// Exactly representable powers, where astro-float's rounded `pow` never returned
    /// (the fuzzer's hang): 4^(1/2) = 2, (1/4)^(3/2) = 1/8, 16^(1/4) = 2, (2^-1000)^(1/2)
    /// = 2^-500, each within 2 units in the last place.
    #[test]
    fn exact_powers_return() {
        let mut cc = Consts::new().unwrap();
        for (x, y, want, p) in [
            (4.0, 0.5, 2.0, 64),
            (0.25, 1.5, 0.125, 64),
            (16.0, 0.25, 2.0, 128),
            (2f64.powi(-1000), 0.5, 2f64.powi(-500), 64),
        ] {
            let v = pow_once(
                &BigFloat::from_f64(x, p),
                &BigFloat::from_f64(y, p),
                p,
                &mut cc,
            );
            let want = BigFloat::from_f64(want, p);
            let err = v.sub(&want, 2 * p, RM).abs();
            let mut ulp = BigFloat::from_u8(1, p);
            ulp.set_exponent(want.exponent().unwrap() - p as i32 + 2);
            assert!(err.cmp(&ulp).is_some_and(|c| c <= 0), "{x}^{y} = {v:?}");
        }
    }

    /// |x|^n with |n| >= 2^64 is out of range by far unless |x| is within about 2^-24 of 1
    /// (then |n log2 |x|| may be small: no decision).
    #[test]
    fn huge_powers_out_of_range() {
        let n = BigRational::from_integer(BigInt::from(1) << 64);
        let at = |x: f64, n: &BigRational| huge_power_out_of_range(&BigFloat::from_f64(x, 64), n);
        assert_eq!(at(0.5, &n), Some(false));
        assert_eq!(at(-3.0, &n), Some(true));
        assert_eq!(at(0.5, &-n.clone()), Some(true));
        // 2^1100/3: not an integer, beyond f64.
        let m = BigRational::new(BigInt::from(1) << 1100, 3.into());
        assert_eq!(at(0.5, &m), Some(false));
        assert_eq!(at(1.0 + 2f64.powi(-20), &n), Some(true));
        assert_eq!(at(1.0 - 2f64.powi(-40), &n), None);
        assert_eq!(at(1.0, &n), None);
        assert_eq!(at(0.0, &n), None);
    }

    // Published decimal expansions (OEIS A000796, A001113, A002162, A002193).
    const PI: &str =
        "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899";
    const E: &str =
        "2.71828182845904523536028747135266249775724709369995957496696762772407663035354759";
    const LN2: &str =
        "0.693147180559945309417232121458176568075500134360255254120680009493393621969694715";
    const SQRT2: &str =
        "1.41421356237309504880168872420969807856967187537694807317667973799073247846210703";

    /// The first `n` significant digits of a published expansion, rounded half up (none of
    /// the expansions used has a tie at the cut).
    fn rounded(published: &str, n: usize) -> String {
        let (int, frac) = published.split_once('.').expect("expansions have a point");
        let all: Vec<u8> = format!("{int}{frac}").bytes().map(|b| b - b'0').collect();
        let lead = all.iter().take_while(|d| **d == 0).count();
        let mut kept = all[..lead + n].to_vec();
        let mut carry = all[lead + n] >= 5;
        for d in kept.iter_mut().rev() {
            if !carry {
                break;
            }
            *d = (*d + 1) % 10;
            carry = *d == 0;
        }
        assert!(
            !carry,
            "no carry out of the leading digit in these expansions"
        );
        let digits: String = kept.iter().map(|d| char::from(b'0' + d)).collect();
        let (i, f) = digits.split_at(int.len());
        format!("{i}.{f}")
    }

    fn eval(pool: &Pool, e: ExprId) -> BigFloat {
        Hp::new(DEFAULT_PRECISION)
            .eval(pool, e, &[])
            .expect("the test expression has a value")
    }

    #[test]
    fn constants_match_published_digits() {
        let mut p = Pool::new();
        let pi = p.pi();
        let e = p.constant(Constant::E);
        let two = p.int(2);
        let ln2 = p.call(Func::Log, two);
        let sqrt2 = p.sqrt(two);
        for (id, published) in [(pi, PI), (e, E), (ln2, LN2), (sqrt2, SQRT2)] {
            let v = eval(&p, id);
            assert_eq!(format_sig(&v, 60), rounded(published, 60), "{published}");
            assert_eq!(format_sig(&v, 70), rounded(published, 70), "{published}");
        }
        assert_eq!(
            format_sig(&eval(&p, pi), 50),
            "3.1415926535897932384626433832795028841971693993751"
        );
    }

    fn bf(x: f64) -> BigFloat {
        from_f64_exact(x)
    }

    fn pow2(k: i32) -> BigFloat {
        let mut x = BigFloat::from_u8(1, 64);
        x.set_exponent(k + 1);
        x
    }

    fn sum(xs: &[BigFloat]) -> BigFloat {
        xs.iter().fold(BigFloat::new(512), |a, x| a.add(x, 512, RM))
    }

    #[test]
    fn format_sig_rounds_the_exact_binary_value() {
        // Exact ties round to even.
        assert_eq!(format_sig(&bf(0.125), 2), "0.12");
        assert_eq!(format_sig(&bf(0.375), 2), "0.38");
        assert_eq!(format_sig(&bf(2.5), 1), "2");
        assert_eq!(format_sig(&bf(999.5), 3), "1000");
        assert_eq!(format_sig(&bf(-1e20), 3), "-1.00e20");
        assert_eq!(format_sig(&bf(0.0), 5), "0");
        // 0.1 in binary is slightly above 1/10.
        assert_eq!(format_sig(&bf(0.1), 20), "0.10000000000000000555");
        // 2^1000000 and its inverse (digits from exact integer arithmetic elsewhere).
        assert_eq!(
            format_sig(&pow2(1_000_000), 20),
            "9.9006562292958982507e301029"
        );
        assert_eq!(
            format_sig(&pow2(-1_000_000), 20),
            "1.0100340591980302247e-301030"
        );
    }

    #[test]
    fn approximate_digits_agree_with_exact_ones() {
        for (x, n) in [(PI, 40i64), (E, -5), (LN2, 70), (SQRT2, 0)] {
            let v = BigFloat::parse(
                x,
                astro_float::Radix::Dec,
                256,
                RM,
                &mut Consts::new().expect("alloc"),
            );
            let (_, m, exp2) = parts(&v).expect("finite");
            assert_eq!(
                scaled_round_exact(&m, exp2, n),
                scaled_round_approx(&v, n, 60)
            );
        }
    }

    #[test]
    fn to_rational_is_exact() {
        let mut h = Hp::new(256);
        // Dyadic rationals are exact at 256 bits and come back unchanged, of any sign and
        // scale; 1/3 comes back as its 256-bit rounding, within 2^-256 relative.
        for (n, d) in [(3i64, 8i64), (-5, 1), (1, 1 << 40), (0, 1), (7 << 30, 1)] {
            let r = BigRational::new(n.into(), d.into());
            assert_eq!(to_rational(&h.from_rational(&r)), Some(r));
        }
        let third = BigRational::new(1.into(), 3.into());
        let back = to_rational(&h.from_rational(&third)).unwrap();
        let rel = ((&back - &third) / &third).abs();
        assert!(rel < BigRational::new(1.into(), BigInt::from(2).pow(255)));
        assert_eq!(to_rational(&astro_float::NAN), None);
    }

    #[test]
    fn to_f64_rounds_to_nearest_even() {
        let one = BigFloat::from_u8(1, 256);
        let eps = f64::EPSILON;
        assert_eq!(to_f64(&sum(&[one.clone(), pow2(-53)])), 1.0);
        let three_halves = sum(&[one.clone(), pow2(-53), pow2(-52)]);
        assert_eq!(to_f64(&three_halves), 1.0 + 2.0 * eps);
        let just_above = sum(&[one.clone(), pow2(-53), pow2(-300)]);
        assert_eq!(to_f64(&just_above), 1.0 + eps);
        assert_eq!(to_f64(&pow2(1024)), f64::INFINITY);
        assert_eq!(to_f64(&pow2(1024).neg()), f64::NEG_INFINITY);
        assert_eq!(to_f64(&pow2(-1074)), f64::from_bits(1));
        assert_eq!(to_f64(&pow2(-1075)), 0.0);
        assert_eq!(to_f64(&sum(&[pow2(-1075), pow2(-1200)])), f64::from_bits(1));
        assert_eq!(to_f64(&sum(&[pow2(-1075), pow2(-1076)])), f64::from_bits(1));
        assert_eq!(to_f64(&pow2(-1076)), 0.0);
        assert!(to_f64(&astro_float::NAN).is_nan());
        assert_eq!(to_f64(&bf(-0.0)).to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn from_rational_rounds_correctly() {
        let mut hp = Hp::new(64);
        let third = hp.from_rational(&BigRational::new(1.into(), 3.into()));
        let (words, _, _, e, _) = third.as_raw_parts().expect("finite");
        // 1/3 = 0.0101..., its 64-bit mantissa 0xAAAA...AA is followed by 1010...: up.
        assert_eq!((words, e), (&[0xAAAA_AAAA_AAAA_AAABu64][..], -1));
        let tenth = hp.from_rational(&BigRational::new(1.into(), 10.into()));
        assert_eq!(to_f64(&tenth), 0.1);
    }

    /// `|a - b| / |b|` as an f64.
    fn rel_err(a: &BigFloat, b: &BigFloat) -> f64 {
        let d = a.sub(b, 512, RM).div(b, 512, RM);
        to_f64(&d).abs()
    }

    fn rat(n: i64, d: i64) -> BigRational {
        BigRational::new(n.into(), d.into())
    }

    /// The sum of `terms` (exact rationals), rounded to 512 bits.
    fn exact(terms: &[BigRational]) -> BigFloat {
        let r = terms.iter().fold(BigRational::zero(), |a, t| a + t);
        rational_at(&r, 512)
    }

    fn ten_pow(k: i32) -> BigRational {
        let t = BigRational::from_integer(BigInt::from(10));
        num_traits::pow::Pow::pow(t, k)
    }

    /// `f(c)` for the rational `c` at 256 bits.
    fn call_at(f: Func, c: &BigRational) -> BigFloat {
        let mut p = Pool::new();
        let x = p.rational(c.clone());
        let e = p.call(f, x);
        eval(&p, e)
    }

    const FULL: f64 = 1e-75; // 2^-249: 256-bit results, a few roundings

    #[test]
    fn identities_at_256_bits() {
        let mut p = Pool::new();
        let x = p.var("x");
        let s = p.lookup_symbol("x").expect("interned");
        let sin = p.call(Func::Sin, x);
        let cos = p.call(Func::Cos, x);
        let s2 = p.powi(sin, 2);
        let c2 = p.powi(cos, 2);
        let pythagoras = p.add2(s2, c2);
        let log = p.call(Func::Log, x);
        let exp_log = p.call(Func::Exp, log);
        let sig = p.call(Func::Sigmoid, x);
        let nx = p.neg(x);
        let sig_neg = p.call(Func::Sigmoid, nx);
        let sig_sum = p.add2(sig, sig_neg);
        let mut hp = Hp::new(DEFAULT_PRECISION);
        let one = BigFloat::from_u8(1, 64);
        for v in [0.3, 1.0, 2.75, 40.0, 1e5] {
            let env = [(s, bf(v))];
            let got = hp.eval(&p, pythagoras, &env).expect("defined");
            assert!(rel_err(&got, &one) < 1e-70, "sin^2+cos^2 at {v}");
            let got = hp.eval(&p, exp_log, &env).expect("defined");
            assert!(rel_err(&got, &bf(v)) < FULL, "exp(log x) at {v}");
            let got = hp.eval(&p, sig_sum, &env).expect("defined");
            assert!(rel_err(&got, &one) < FULL, "sigmoid sum at {v}");
        }
        let one_e = p.int(1);
        let atan = p.call(Func::Atan, one_e);
        let four = p.int(4);
        let four_atan = p.mul2(four, atan);
        let pi = p.pi();
        assert!(rel_err(&eval(&p, four_atan), &eval(&p, pi)) < FULL);
    }

    #[test]
    fn cancellation_prone_functions_keep_full_precision() {
        let x = ten_pow(-30);
        let want = exact(&[
            x.clone(),
            ten_pow(-60) / rat(2, 1),
            ten_pow(-90) / rat(6, 1),
        ]);
        assert!(rel_err(&call_at(Func::Expm1, &x), &want) < FULL);
        let y = -ten_pow(-40);
        let want = exact(&[
            y.clone(),
            -ten_pow(-80) / rat(2, 1),
            -ten_pow(-120) / rat(3, 1),
        ]);
        assert!(rel_err(&call_at(Func::Log1p, &y), &want) < FULL);
        // Below 2^-256 the series branches take over.
        let z = ten_pow(-100);
        let want = exact(&[z.clone(), ten_pow(-200) / rat(2, 1)]);
        assert!(rel_err(&call_at(Func::Expm1, &z), &want) < FULL);
        let want = exact(&[z.clone(), -ten_pow(-200) / rat(2, 1)]);
        assert!(rel_err(&call_at(Func::Log1p, &z), &want) < FULL);
        // Odd functions near zero: x plus the cubic term of their series.
        let cubic = |c: i64| exact(&[x.clone(), ten_pow(-90) * rat(1, c)]);
        for (f, c) in [
            (Func::Sin, -6),
            (Func::Tan, 3),
            (Func::Sinh, 6),
            (Func::Tanh, -3),
            (Func::Asin, 6),
            (Func::Atan, -3),
        ] {
            assert!(rel_err(&call_at(f, &x), &cubic(c)) < FULL, "{f:?}");
        }
        // sigmoid(-200) = e^-200 / (1 + e^-200), far below 2^-256 relative to 1.
        let mut p = Pool::new();
        let m200 = p.int(-200);
        let sig = p.call(Func::Sigmoid, m200);
        let e = p.call(Func::Exp, m200);
        let one = p.int(1);
        let denom = p.add2(one, e);
        let ratio = p.div(e, denom);
        assert!(rel_err(&eval(&p, sig), &eval(&p, ratio)) < FULL);
    }

    /// Expressions whose evaluation fails, with the error both evaluators must give.
    fn failing(p: &mut Pool) -> Vec<(ExprId, EvalError)> {
        let m1 = p.int(-1);
        let m2 = p.int(-2);
        let zero = p.int(0);
        let two = p.int(2);
        let third = p.frac(1, 3);
        let domain = |func: &'static str, arg: &str| EvalError::Domain {
            func,
            arg: arg.to_owned(),
        };
        let m1_text = "-1.0000000000000000";
        vec![
            (p.call(Func::Log, m1), domain("log", m1_text)),
            (p.call(Func::Log, zero), domain("log", "0")),
            (p.sqrt(m2), domain("power", "-2.0000000000000000")),
            (p.pow(m2, third), domain("power", "-2.0000000000000000")),
            (
                p.call(Func::Asin, two),
                domain("asin", "2.0000000000000000"),
            ),
            (
                p.call(Func::Acos, m2),
                domain("acos", "-2.0000000000000000"),
            ),
            (p.call(Func::Log1p, m1), domain("log1p", m1_text)),
            (p.recip(zero), EvalError::DivisionByZero),
            (p.pow_rational(zero, rat(-1, 2)), EvalError::DivisionByZero),
            (p.var("nowhere"), EvalError::Unbound("nowhere".into())),
        ]
    }

    #[test]
    fn both_evaluators_report_the_same_errors() {
        let mut p = Pool::new();
        let mut hp = Hp::new(DEFAULT_PRECISION);
        for (e, want) in failing(&mut p) {
            assert_eq!(eval_f64(&p, e, &[]), Err(want.clone()));
            assert_eq!(hp.eval(&p, e, &[]).map(|v| to_f64(&v)), Err(want));
        }
        // Overflow: f64 at e^1000; the big-float exponent range ends near 2^(2^31).
        let big = p.int(1000);
        let exp = p.call(Func::Exp, big);
        assert_eq!(eval_f64(&p, exp, &[]), Err(EvalError::Overflow));
        let huge = p.int(1 << 40);
        let exp = p.call(Func::Exp, huge);
        assert_eq!(
            hp.eval(&p, exp, &[]).map(|v| to_f64(&v)),
            Err(EvalError::Overflow)
        );
    }

    /// Distance in units in the last place between two finite f64 of any sign.
    fn ulps(a: f64, b: f64) -> u64 {
        let key = |x: f64| {
            let b = x.to_bits() as i64;
            if b < 0 { i64::MIN - b } else { b }
        };
        key(a).abs_diff(key(b))
    }

    fn agree(p: &Pool, e: ExprId, env: &[(Symbol, f64)]) -> Result<(), String> {
        let f = eval_f64(p, e, env).map_err(|err| format!("f64: {err}"))?;
        let env_hp: Vec<(Symbol, BigFloat)> = env.iter().map(|(s, v)| (*s, bf(*v))).collect();
        let h = Hp::new(DEFAULT_PRECISION)
            .eval(p, e, &env_hp)
            .map_err(|err| format!("hp: {err}"))?;
        let h = to_f64(&h);
        if ulps(f, h) <= 4 {
            Ok(())
        } else {
            Err(format!("f64 {f:e} vs hp {h:e}: {} ulps", ulps(f, h)))
        }
    }

    #[test]
    fn f64_agrees_with_hp_on_schedule_formulas() {
        let mut p = Pool::new();
        let t = p.var("t");
        let s = p.lookup_symbol("t").expect("interned");
        let mut exprs = Vec::new();
        // VP linear: alpha = exp(-t^2 (b1 - b0)/4 - t b0/2), sigma = sqrt(-expm1(2 log alpha)),
        // with b0 = 1/10, b1 = 11/10 so that exp's condition number |log alpha| stays small.
        let t2 = p.powi(t, 2);
        let (c2, c1, two, one) = (p.frac(-1, 4), p.frac(-1, 20), p.int(2), p.int(1));
        let a = p.mul2(c2, t2);
        let b = p.mul2(c1, t);
        let log_alpha = p.add2(a, b);
        let alpha = p.call(Func::Exp, log_alpha);
        let two_log = p.mul2(two, log_alpha);
        let em1 = p.call(Func::Expm1, two_log);
        let neg_em1 = p.neg(em1);
        let sigma = p.sqrt(neg_em1);
        let snr_root = p.div(alpha, sigma);
        exprs.extend([alpha, sigma, snr_root]);
        // Cosine schedule (sigma^2 = sin^2: cos near pi/2 is ill-conditioned in any
        // evaluator) and log-SNR forms.
        let (half, pi, three, m12) = (p.frac(1, 2), p.pi(), p.int(3), p.int(-12));
        let half_pi = p.mul2(half, pi);
        let angle = p.mul2(half_pi, t);
        let sin = p.call(Func::Sin, angle);
        exprs.push(p.powi(sin, 2));
        exprs.push(p.call(Func::Cos, t));
        let slope = p.mul2(m12, t);
        let lsnr = p.add2(three, slope);
        exprs.push(p.call(Func::Sigmoid, lsnr));
        let neg_lsnr = p.neg(lsnr);
        let sig_neg = p.call(Func::Sigmoid, neg_lsnr);
        exprs.push(p.sqrt(sig_neg));
        exprs.push(p.call(Func::Log1p, t2));
        exprs.push(p.pow_rational(t, rat(1, 3)));
        exprs.push(p.pow_rational(t, rat(-1, 2)));
        let one_t = p.add2(one, t);
        exprs.push(p.powi(one_t, -3));
        exprs.push(p.pow(t, t));
        exprs.push(p.call(Func::Tanh, t));
        let inv_t = p.div(one, t);
        exprs.push(p.call(Func::Atan, inv_t));
        let half_t = p.mul2(half, t);
        exprs.push(p.call(Func::Asin, half_t));
        exprs.push(p.call(Func::Acos, half_t));
        exprs.push(p.call(Func::Cosh, t));
        exprs.push(p.call(Func::Sinh, t));
        exprs.push(p.call(Func::Log, t));
        exprs.push(p.call(Func::Abs, neg_lsnr));
        for e in exprs {
            for v in [0.001, 0.1, 0.37, 0.5, 0.9, 1.0] {
                agree(&p, e, &[(s, v)]).unwrap_or_else(|m| panic!("{e:?} at t={v}: {m}"));
            }
        }
    }

    /// A random positive, well-conditioned expression (no cancellation, bounded arguments).
    #[derive(Clone, Debug)]
    enum Gen {
        X,
        Int(i64),
        Pi,
        Add(Box<Gen>, Box<Gen>),
        Mul(Box<Gen>, Box<Gen>),
        Pow(Box<Gen>, i64, i64),
        Call(Func, Box<Gen>),
    }

    fn gen_strategy() -> impl Strategy<Value = Gen> {
        let leaf = prop_oneof![Just(Gen::X), (1i64..20).prop_map(Gen::Int), Just(Gen::Pi)];
        leaf.prop_recursive(2, 8, 2, |inner| {
            let exps = prop_oneof![
                Just((-2, 1)),
                Just((-1, 1)),
                Just((2, 1)),
                Just((1, 2)),
                Just((-1, 2)),
                Just((1, 3)),
            ];
            let funcs = prop_oneof![
                Just(Func::Atan),
                Just(Func::Tanh),
                Just(Func::Sigmoid),
                Just(Func::Log1p),
                Just(Func::Exp),
            ];
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Gen::Add(a.into(), b.into())),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Gen::Mul(a.into(), b.into())),
                (inner.clone(), exps).prop_map(|(a, (n, d))| Gen::Pow(a.into(), n, d)),
                (funcs, inner).prop_map(|(f, a)| Gen::Call(f, a.into())),
            ]
        })
    }

    fn build(p: &mut Pool, g: &Gen) -> ExprId {
        match g {
            Gen::X => p.var("x"),
            Gen::Int(n) => p.int(*n),
            Gen::Pi => p.pi(),
            Gen::Add(a, b) => {
                let xs = vec![build(p, a), build(p, b)];
                p.intern(Node::Add(xs.into()))
            }
            Gen::Mul(a, b) => {
                let xs = vec![build(p, a), build(p, b)];
                p.intern(Node::Mul(xs.into()))
            }
            Gen::Pow(a, n, d) => {
                let base = build(p, a);
                let e = p.rational(rat(*n, *d));
                p.intern(Node::Pow(base, e))
            }
            // exp only of a bounded argument, so its condition number stays below 2.
            Gen::Call(Func::Exp, a) => {
                let inner = build(p, a);
                let bounded = p.intern(Node::Call(Func::Atan, inner));
                p.intern(Node::Call(Func::Exp, bounded))
            }
            Gen::Call(f, a) => {
                let arg = build(p, a);
                p.intern(Node::Call(*f, arg))
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn f64_agrees_with_hp_on_random_expressions(g in gen_strategy(), x in 0.5f64..2.0) {
            let mut p = Pool::new();
            let e = build(&mut p, &g);
            let s = p.symbol("x");
            prop_assert_eq!(agree(&p, e, &[(s, x)]), Ok(()));
        }
    }

    #[test]
    fn shared_subexpressions_are_evaluated_once() {
        // A DAG of 80 doublings: its tree has 2^80 leaves, so only memoisation finishes.
        let mut p = Pool::new();
        let x = p.var("x");
        let mut e = x;
        for _ in 0..80 {
            e = p.add2(e, e);
        }
        let s = p.lookup_symbol("x").expect("interned above");
        let v = Hp::new(DEFAULT_PRECISION).eval(&p, e, &[(s, bf(1.0))]);
        assert_eq!(v.map(|v| to_f64(&v)), Ok(2f64.powi(80)));
    }

    #[test]
    fn sigmoid_saturates_without_overflow() {
        let mut p = Pool::new();
        for (x, want) in [(1i64 << 40, 1.0), (-(1i64 << 40), 0.0), (800, 1.0)] {
            let c = p.int(x);
            let e = p.call(Func::Sigmoid, c);
            assert_eq!(to_f64(&eval(&p, e)), want, "sigmoid({x})");
            assert_eq!(eval_f64(&p, e, &[]), Ok(want), "sigmoid({x})");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn f64_round_trips(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assume!(x.is_finite());
            let hp = Hp::new(64);
            prop_assert_eq!(to_f64(&hp.from_f64(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn eval_rounded_is_immune_to_cancellation() {
        // 1 - cos(u)^2 at u = 10^-8 cancels 16 digits in f64; its value is sin(u)^2.
        let mut pool = Pool::new();
        let u = pool.symbol("u");
        let ue = pool.sym_expr(u);
        let c = pool.call(Func::Cos, ue);
        let c2 = pool.powi(c, 2);
        let m = pool.neg(c2);
        let one = pool.one();
        let e = pool.add(vec![one, m]);
        let at = BigRational::new(1.into(), 100_000_000.into());
        let got = eval_rounded(&pool, e, &[(u, at.clone())]).unwrap();
        // Reference: sin(u)^2 at 1024 bits, an algebraically different formula.
        let s = pool.call(Func::Sin, ue);
        let s2 = pool.powi(s, 2);
        let mut h = Hp::new(1024);
        let x = h.from_rational(&at);
        let want = to_f64(&h.eval(&pool, s2, &[(u, x)]).unwrap());
        assert_eq!(got, want);
        // The f64 interpreter on the same formula is wrong in every digit.
        let naive = crate::expr::eval::eval_f64(&pool, e, &[(u, 1e-8)]).unwrap();
        assert!((naive - want).abs() > 0.1 * want);
    }
}
