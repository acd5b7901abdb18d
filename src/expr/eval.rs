//! Evaluation of expressions in f64, correctly rounded rational conversion, round-trip printing.
//!
//! [`eval_f64`] and the high-precision evaluator in [`crate::expr::hp`] share one semantics
//! (domains, powers, errors), so either can be checked against the other.

use crate::expr::fxhash::HashMap;
use std::f64::consts;

use num_bigint::{BigInt, BigUint};
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::pool::{Constant, ExprId, Func, Node, Pool, Symbol};

/// Why an expression has no finite real value at the given point.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A function or a power was applied outside its real domain (`log(-1)`, `(-2)^(1/2)`).
    #[error("{func} is undefined at {arg}")]
    Domain { func: &'static str, arg: String },
    /// A zero base raised to a negative power.
    #[error("division by zero")]
    DivisionByZero,
    /// A value (final or intermediate) is too large for the number type.
    #[error("overflow: the result is not a finite number")]
    Overflow,
    /// A symbol with no value in the environment.
    #[error("`{0}` has no value here")]
    Unbound(String),
    /// Certified evaluation could not decide at its largest precision: the point is
    /// within that precision of a pole or a domain boundary (or, below the largest
    /// ceiling, of a rounding boundary).
    #[error("undecided at the working precision: a singular point, or too close to one")]
    Undecided,
    /// High-precision evaluation spent its work allowance ([`crate::expr::hp::PROCESS_WORK`]).
    #[error(
        "certified evaluation would take more than its work allowance (arguments of thousands of digits, or quadrature of a named integral on many panels)"
    )]
    TooCostly,
    /// An unspecified function (of a generic process) has no value.
    #[error("an unspecified function (of a generic process) has no value")]
    Unspecified,
    /// The quadrature of a named integral did not reach its tolerance within its bound on
    /// panels ([`crate::expr::named::MAX_PANELS`]; [`MAX_F64_PANELS`] in f64).
    #[error("the quadrature of a named integral did not reach its tolerance within its work bound")]
    Quadrature,
}

/// Evaluates `e` in f64 with the symbols bound by `env`. Shared subexpressions are
/// evaluated once; no NaN or infinity is ever returned.
pub fn eval_f64(pool: &Pool, e: ExprId, env: &[(Symbol, f64)]) -> Result<f64, EvalError> {
    F64Eval {
        pool,
        env,
        memo: HashMap::default(),
    }
    .eval(e)
}

struct F64Eval<'a> {
    pool: &'a Pool,
    env: &'a [(Symbol, f64)],
    memo: HashMap<ExprId, f64>,
}

impl F64Eval<'_> {
    fn eval(&mut self, e: ExprId) -> Result<f64, EvalError> {
        if let Some(&v) = self.memo.get(&e) {
            return Ok(v);
        }
        let v = finite(self.eval_node(e)?)?;
        self.memo.insert(e, v);
        Ok(v)
    }

    fn eval_node(&mut self, e: ExprId) -> Result<f64, EvalError> {
        match self.pool.node(e) {
            Node::Rational(r) => Ok(rational_to_f64(r)),
            Node::Const(Constant::Pi) => Ok(consts::PI),
            Node::Const(Constant::E) => Ok(consts::E),
            Node::Sym(s) => self.lookup(*s),
            Node::Add(xs) => xs
                .iter()
                .try_fold(0.0, |acc, &x| finite(acc + self.eval(x)?)),
            Node::Mul(xs) => xs
                .iter()
                .try_fold(1.0, |acc, &x| finite(acc * self.eval(x)?)),
            Node::Pow(b, x) => self.pow(*b, *x),
            Node::Call(Func::Integral(i), a) => {
                let u = self.eval(*a)?;
                NamedF64::new(self.pool, *i).eval(u)
            }
            Node::Call(f, a) => {
                let x = self.eval(*a)?;
                call_f64(*f, x)
            }
        }
    }

    fn lookup(&self, s: Symbol) -> Result<f64, EvalError> {
        self.env
            .iter()
            .find(|(k, _)| *k == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| EvalError::Unbound(self.pool.symbol_name(s).to_owned()))
    }

    fn pow(&mut self, base: ExprId, exp: ExprId) -> Result<f64, EvalError> {
        let b = self.eval(base)?;
        match classify_exponent(self.pool, exp) {
            Exponent::Int(n) => int_pow_f64(b, IntExponent::of(n)),
            Exponent::Frac(r) => frac_pow_f64(b, FracExponent::of(r)),
            Exponent::General => general_pow_f64(b, self.eval(exp)?),
        }
    }
}

/// An expression compiled for many f64 evaluations at different values of one symbol
/// (quadrature): its nodes in dependency order, constants converted once. The same values
/// and errors as [`eval_f64`] with only that symbol bound.
pub struct Compiled {
    ops: Vec<Op>,
}

enum Op {
    Value(f64),
    Var,
    Unbound(String),
    Add(Vec<usize>),
    Mul(Vec<usize>),
    /// `b^n`, n an integer.
    PowInt(usize, IntExponent),
    /// `b^r`, r a non-integer rational.
    PowFrac(usize, FracExponent),
    PowGeneral(usize, usize),
    Call(Func, usize),
    Integral(Box<NamedF64>, usize),
}

/// The most panels of [`GL_NODES`] points f64 quadrature of a named integral uses.
pub const MAX_F64_PANELS: usize = 1024;

/// Points of the Gauss-Legendre rule f64 quadrature uses on each panel.
const GL_NODES: usize = 10;

/// The Gauss-Legendre rule of [`GL_NODES`] points on [-1, 1]: nodes and weights, by
/// Newton's method on the Legendre polynomial from Chebyshev's estimates.
fn gauss_legendre() -> &'static [(f64, f64)] {
    static RULE: std::sync::OnceLock<Vec<(f64, f64)>> = std::sync::OnceLock::new();
    RULE.get_or_init(|| {
        let n = GL_NODES;
        // (P_n(x), P_n'(x)) by the three-term recurrence.
        let legendre = |x: f64| {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            (p1, n as f64 * (x * p1 - p0) / (x * x - 1.0))
        };
        (0..n)
            .map(|i| {
                let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
                for _ in 0..100 {
                    let (p, dp) = legendre(x);
                    let dx = p / dp;
                    x -= dx;
                    if dx.abs() < 1e-17 {
                        break;
                    }
                }
                let (_, dp) = legendre(x);
                (x, 2.0 / ((1.0 - x * x) * dp * dp))
            })
            .collect()
    })
}

/// A named integral compiled for f64: its integrand as a tape and its lower limit.
struct NamedF64 {
    body: Compiled,
    lo: f64,
}

impl NamedF64 {
    fn new(pool: &Pool, i: super::pool::IntegralId) -> NamedF64 {
        let def = pool.integral(i);
        let bound = pool
            .bound_symbol()
            .expect("named integrals intern their variable");
        let lo = pool.as_rational(def.lo).map_or(f64::NAN, rational_to_f64);
        NamedF64 {
            body: Compiled::new(pool, def.body, bound),
            lo,
        }
    }

    /// `int_lo^u f` by composite Gauss-Legendre, the panels doubled until two sums agree
    /// to a few ulps of the integral of `|f|` (at most [`MAX_F64_PANELS`]).
    fn eval(&self, u: f64) -> Result<f64, EvalError> {
        if u == self.lo {
            return Ok(0.0);
        }
        let rule = gauss_legendre();
        let mut values = Vec::new();
        let mut sum = |panels: usize| -> Result<(f64, f64), EvalError> {
            let h = (u - self.lo) / panels as f64;
            let (mut s, mut a) = (0.0, 0.0);
            for j in 0..panels {
                let m = self.lo + h * (j as f64 + 0.5);
                for &(x, w) in rule {
                    let v = self.body.eval(m + 0.5 * h * x, &mut values)?;
                    s += w * v;
                    a += w * v.abs();
                }
            }
            Ok((0.5 * h * s, 0.5 * h.abs() * a))
        };
        let (mut prev, _) = sum(1)?;
        let mut panels = 2;
        while panels <= MAX_F64_PANELS {
            let (q, mass) = sum(panels)?;
            if (q - prev).abs() <= 8.0 * f64::EPSILON * mass {
                return finite(q);
            }
            prev = q;
            panels *= 2;
        }
        Err(EvalError::Quadrature)
    }
}

impl Compiled {
    pub fn new(pool: &Pool, e: ExprId, var: Symbol) -> Compiled {
        let mut ops = Vec::new();
        let mut index: HashMap<ExprId, usize> = HashMap::default();
        // Post-order without recursion: (node, children pushed?).
        let mut stack = vec![(e, false)];
        while let Some((id, ready)) = stack.pop() {
            if index.contains_key(&id) {
                continue;
            }
            let children = pool.children(id);
            if !ready {
                stack.push((id, true));
                for &c in children.iter().rev() {
                    if !index.contains_key(&c) {
                        stack.push((c, false));
                    }
                }
                continue;
            }
            let at = |c: &ExprId| index[c];
            let op = match pool.node(id) {
                Node::Rational(r) => Op::Value(rational_to_f64(r)),
                Node::Const(Constant::Pi) => Op::Value(consts::PI),
                Node::Const(Constant::E) => Op::Value(consts::E),
                Node::Sym(s) if *s == var => Op::Var,
                Node::Sym(s) => Op::Unbound(pool.symbol_name(*s).to_owned()),
                Node::Add(xs) => Op::Add(xs.iter().map(at).collect()),
                Node::Mul(xs) => Op::Mul(xs.iter().map(at).collect()),
                Node::Pow(b, x) => match classify_exponent(pool, *x) {
                    Exponent::Int(n) => Op::PowInt(at(b), IntExponent::of(n)),
                    Exponent::Frac(r) => Op::PowFrac(at(b), FracExponent::of(r)),
                    Exponent::General => Op::PowGeneral(at(b), at(x)),
                },
                Node::Call(Func::Integral(i), a) => {
                    Op::Integral(Box::new(NamedF64::new(pool, *i)), at(a))
                }
                Node::Call(f, a) => Op::Call(*f, at(a)),
            };
            index.insert(id, ops.len());
            ops.push(op);
        }
        Compiled { ops }
    }

    /// The value with the symbol at `x`.
    pub fn eval(&self, x: f64, values: &mut Vec<f64>) -> Result<f64, EvalError> {
        values.clear();
        for op in &self.ops {
            let v = match op {
                Op::Value(v) => *v,
                Op::Var => x,
                Op::Unbound(name) => return Err(EvalError::Unbound(name.clone())),
                Op::Add(xs) => xs.iter().try_fold(0.0, |acc, &i| finite(acc + values[i]))?,
                Op::Mul(xs) => xs.iter().try_fold(1.0, |acc, &i| finite(acc * values[i]))?,
                &Op::PowInt(b, n) => int_pow_f64(values[b], n)?,
                &Op::PowFrac(b, r) => frac_pow_f64(values[b], r)?,
                &Op::PowGeneral(b, x) => general_pow_f64(values[b], values[x])?,
                &Op::Call(f, a) => call_f64(f, values[a])?,
                Op::Integral(named, a) => named.eval(values[*a])?,
            };
            values.push(finite(v)?);
        }
        values.last().copied().ok_or(EvalError::Overflow)
    }
}

/// How a power is evaluated, decided from the exponent's node alone (shared by both
/// evaluators so they agree on which inputs are errors).
pub(crate) enum Exponent<'a> {
    /// An integer exponent: any real base, zero base only for `n >= 0`.
    Int(&'a BigInt),
    /// A non-integer rational exponent: the base must be `>= 0`.
    Frac(&'a BigRational),
    /// Anything else: `exp(e * log(b))` for `b > 0`.
    General,
}

pub(crate) fn classify_exponent(pool: &Pool, exp: ExprId) -> Exponent<'_> {
    match pool.node(exp) {
        Node::Rational(r) if r.is_integer() => Exponent::Int(r.numer()),
        Node::Rational(r) => Exponent::Frac(r),
        _ => Exponent::General,
    }
}

pub(crate) fn is_half(r: &BigRational) -> bool {
    *r.numer() == BigInt::one() && *r.denom() == BigInt::from(2)
}

pub(crate) fn is_neg_half(r: &BigRational) -> bool {
    *r.numer() == -BigInt::one() && *r.denom() == BigInt::from(2)
}

/// The errors of `b^(p/q)` for a non-integer `p/q`, from the sign of `b`.
pub(crate) fn check_fractional_base(
    base_sign: Option<std::cmp::Ordering>,
    exp_positive: bool,
    show_base: impl Fn() -> String,
) -> Result<(), EvalError> {
    use std::cmp::Ordering::*;
    match base_sign {
        Some(Less) | None => Err(EvalError::Domain {
            func: "power",
            arg: show_base(),
        }),
        Some(Equal) if !exp_positive => Err(EvalError::DivisionByZero),
        _ => Ok(()),
    }
}

/// `b^x` for a general exponent: the value when the base is zero, an error when it is
/// negative, `None` when the base is positive (compute `exp(x log b)`).
pub(crate) fn general_pow_case(
    base_sign: Option<std::cmp::Ordering>,
    exp_sign: Option<std::cmp::Ordering>,
    show_base: impl Fn() -> String,
) -> Result<Option<f64>, EvalError> {
    use std::cmp::Ordering::*;
    match (base_sign, exp_sign) {
        (Some(Greater), _) => Ok(None),
        (Some(Equal), Some(Greater)) => Ok(Some(0.0)),
        (Some(Equal), Some(Equal)) => Ok(Some(1.0)),
        (Some(Equal), _) => Err(EvalError::DivisionByZero),
        _ => Err(EvalError::Domain {
            func: "power",
            arg: show_base(),
        }),
    }
}

/// An integer exponent as f64 evaluation needs it: its value (rounded beyond 2^53) and,
/// exactly, its parity and sign.
#[derive(Clone, Copy)]
struct IntExponent {
    value: f64,
    odd: bool,
    negative: bool,
}

impl IntExponent {
    fn of(n: &BigInt) -> IntExponent {
        IntExponent {
            value: n.to_f64().unwrap_or(f64::INFINITY),
            odd: n.bit(0),
            negative: n.is_negative(),
        }
    }
}

/// `b^n` for an integer `n` (libm's `pow` is accurate to within an ulp; `powi` is not).
fn int_pow_f64(b: f64, n: IntExponent) -> Result<f64, EvalError> {
    if b == 0.0 && n.negative {
        return Err(EvalError::DivisionByZero);
    }
    let magnitude = b.abs().powf(n.value);
    finite(if b < 0.0 && n.odd {
        -magnitude
    } else {
        magnitude
    })
}

/// A non-integer rational exponent as f64 evaluation needs it (1/2 and -1/2 go through
/// sqrt).
#[derive(Clone, Copy)]
struct FracExponent {
    value: f64,
    half: bool,
    neg_half: bool,
    positive: bool,
}

impl FracExponent {
    fn of(r: &BigRational) -> FracExponent {
        FracExponent {
            value: rational_to_f64(r),
            half: is_half(r),
            neg_half: is_neg_half(r),
            positive: r.is_positive(),
        }
    }
}

fn frac_pow_f64(b: f64, r: FracExponent) -> Result<f64, EvalError> {
    check_fractional_base(b.partial_cmp(&0.0), r.positive, || format_f64(b))?;
    Ok(match () {
        _ if b == 0.0 => 0.0,
        _ if r.half => b.sqrt(),
        _ if r.neg_half => 1.0 / b.sqrt(),
        _ => b.powf(r.value),
    })
}

fn general_pow_f64(b: f64, x: f64) -> Result<f64, EvalError> {
    Ok(
        match general_pow_case(b.partial_cmp(&0.0), x.partial_cmp(&0.0), || format_f64(b))? {
            Some(v) => v,
            None => b.powf(x),
        },
    )
}

fn call_f64(f: Func, x: f64) -> Result<f64, EvalError> {
    let domain = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(EvalError::Domain {
                func: f.name(),
                arg: format_f64(x),
            })
        }
    };
    let v = match f {
        Func::Exp => x.exp(),
        Func::Log => {
            domain(x > 0.0)?;
            x.ln()
        }
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Asin => {
            domain(x.abs() <= 1.0)?;
            x.asin()
        }
        Func::Acos => {
            domain(x.abs() <= 1.0)?;
            x.acos()
        }
        Func::Atan => x.atan(),
        Func::Sinh => x.sinh(),
        Func::Cosh => x.cosh(),
        Func::Tanh => x.tanh(),
        Func::Sigmoid => sigmoid_f64(x),
        Func::Expm1 => x.exp_m1(),
        Func::Log1p => {
            domain(x > -1.0)?;
            x.ln_1p()
        }
        Func::Abs => x.abs(),
        Func::Generic(_) => return Err(EvalError::Unspecified),
        // Evaluated with its integrand, where the pool is at hand (`NamedF64`).
        Func::Integral(_) => return Err(EvalError::Quadrature),
    };
    finite(v)
}

/// `1/(1+exp(-x))`, written so that `exp` never overflows.
fn sigmoid_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let t = x.exp();
        t / (1.0 + t)
    }
}

fn finite(x: f64) -> Result<f64, EvalError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(EvalError::Overflow)
    }
}

/// The f64 nearest to `r` (ties to even); beyond the f64 range, an infinity of the right
/// sign; below it, a subnormal or zero.
pub fn rational_to_f64(r: &BigRational) -> f64 {
    let (n, d) = (r.numer().magnitude(), r.denom().magnitude());
    if n.is_zero() {
        return 0.0;
    }
    // Scale so that the quotient has 127 or 128 bits: enough for 53 bits, a round bit and
    // more, with the remainder as the sticky bit.
    let shift = 127 - (n.bits() as i64 - d.bits() as i64);
    let (q, rem) = if shift >= 0 {
        let scaled: BigUint = n << shift as u64;
        (&scaled / d, &scaled % d)
    } else {
        let scaled: BigUint = d << (-shift) as u64;
        (n / &scaled, n % &scaled)
    };
    let q = q
        .to_u128()
        .expect("the quotient has at most 128 bits by the choice of shift");
    round_to_f64(r.is_negative(), q, -shift, !rem.is_zero())
}

/// The f64 nearest to `±(m + s) * 2^exp2` where `s` in `[0, 1)` is nonzero iff `sticky`
/// (ties to even, gradual underflow, overflow to infinity).
pub(crate) fn round_to_f64(negative: bool, m: u128, exp2: i64, sticky: bool) -> f64 {
    let magnitude = round_magnitude(m, exp2, sticky);
    if negative { -magnitude } else { magnitude }
}

fn round_magnitude(m: u128, exp2: i64, sticky: bool) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let top = exp2 + i64::from(127 - m.leading_zeros() as i32);
    if top > 1023 {
        return f64::INFINITY;
    }
    // Weight of the last bit the result keeps: 53 bits for normals, fixed for subnormals.
    let lsb = (top - 52).max(-1074);
    let drop = lsb - exp2;
    let kept = if drop <= 0 {
        m << (-drop) as u32
    } else {
        round_shifted(m, drop as u64, sticky)
    };
    // `kept <= 2^53` is exact in f64 and so is the product unless it overflows to infinity.
    kept as f64 * pow2(lsb)
}

/// `m / 2^drop` rounded to nearest, ties to even (`sticky`: bits below `m` were nonzero).
fn round_shifted(m: u128, drop: u64, sticky: bool) -> u128 {
    if drop > 128 {
        return 0;
    }
    let drop = drop as u32;
    let kept = m.checked_shr(drop).unwrap_or(0);
    let rem = if drop == 128 {
        m
    } else {
        m & ((1u128 << drop) - 1)
    };
    let half = 1u128 << (drop - 1);
    let up = rem > half || (rem == half && (sticky || kept & 1 == 1));
    kept + u128::from(up)
}

/// `2^k` for `k` in `[-1074, 1023]`, built from its bits.
fn pow2(k: i64) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (k + 1074))
    }
}

/// `x` with 17 significant digits (enough to read back the same f64): plain decimal when
/// the decimal exponent is in `[-5, 16]`, else `1.2345678901234567e-12`. Zero is `0`.
pub fn format_f64(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    // Rust's `{:e}` with a precision is correctly rounded from the binary value.
    let s = format!("{:.16e}", x.abs());
    let (mantissa, exp) = s
        .split_once('e')
        .expect("`{:e}` output always has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp10 = exp.parse().expect("`{:e}` exponents are integers");
    layout_decimal(x < 0.0, &digits, exp10)
}

/// Lays out the significant `digits` (first digit nonzero) of a number whose first digit
/// has weight `10^exp10`, in the style of [`format_f64`].
pub(crate) fn layout_decimal(negative: bool, digits: &str, exp10: i64) -> String {
    let sign = if negative { "-" } else { "" };
    let body = if (-5..=16).contains(&exp10) {
        plain_decimal(digits, exp10)
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        format!("{first}{dot}{rest}e{exp10}")
    };
    format!("{sign}{body}")
}

fn plain_decimal(digits: &str, exp10: i64) -> String {
    if exp10 < 0 {
        let zeros = "0".repeat((-exp10 - 1) as usize);
        return format!("0.{zeros}{digits}");
    }
    let int_len = exp10 as usize + 1;
    if digits.len() <= int_len {
        format!("{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        let (int, frac) = digits.split_at(int_len);
        format!("{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compiled_agrees_with_eval_f64() {
        let mut pool = Pool::new();
        let t = pool.symbol("t");
        let texts = [
            "sqrt(t)*(1 + t^(1/3))/(1 - t)^2 + exp(-t^2)*atan(t)",
            "log(t) - t^(-1/2) + (2*t - 1)^3 + t^(t)",
            "1/(t - 1/2)",
        ];
        for text in texts {
            let e = crate::expr::test_util::parse_in_unit_t(&mut pool, text);
            let c = Compiled::new(&pool, e, t);
            let mut buf = Vec::new();
            for x in [0.0, 0.25, 0.5, 0.75, 1.0, 1e-9] {
                let want = eval_f64(&pool, e, &[(t, x)]);
                let got = c.eval(x, &mut buf);
                match (want, got) {
                    (Ok(a), Ok(b)) => assert_eq!(a.to_bits(), b.to_bits(), "{text} at {x}"),
                    (Err(a), Err(b)) => assert_eq!(a, b, "{text} at {x}"),
                    (a, b) => panic!("{text} at {x}: {a:?} vs {b:?}"),
                }
            }
        }
    }

    fn ratio(n: BigInt, d: BigInt) -> BigRational {
        BigRational::new(n, d)
    }

    fn pow2_int(k: u32) -> BigInt {
        BigInt::one() << k
    }

    #[test]
    fn rational_to_f64_matches_ieee_division() {
        // IEEE division of exact operands is correctly rounded: an independent reference.
        for (n, d) in [(1, 3), (1, 10), (-1, 3), (1, 7), (22, 7), (-5, 1)] {
            let r = ratio(BigInt::from(n), BigInt::from(d));
            assert_eq!(rational_to_f64(&r), n as f64 / d as f64, "{n}/{d}");
        }
    }

    #[test]
    fn rational_to_f64_ties_round_to_even() {
        let two53 = pow2_int(53);
        let below = ratio(&two53 + 1, two53.clone());
        assert_eq!(rational_to_f64(&below), 1.0);
        let above = ratio(&two53 + 3, two53.clone());
        assert_eq!(rational_to_f64(&above), 1.0 + f64::EPSILON * 2.0);
        // Just above the halfway point rounds up.
        let big = pow2_int(200);
        let just_above = ratio((&two53 + 1) * &big + 1, two53 * big);
        assert_eq!(rational_to_f64(&just_above), 1.0 + f64::EPSILON);
    }

    #[test]
    fn rational_to_f64_extremes() {
        let tiny = ratio(BigInt::one(), pow2_int(1074));
        assert_eq!(rational_to_f64(&tiny), f64::from_bits(1));
        let half_tiny = ratio(BigInt::one(), pow2_int(1075));
        assert_eq!(rational_to_f64(&half_tiny), 0.0);
        let three_quarters = ratio(BigInt::from(3), pow2_int(1076));
        assert_eq!(rational_to_f64(&three_quarters), f64::from_bits(1));
        let below_half = ratio(BigInt::one(), pow2_int(1076));
        assert_eq!(rational_to_f64(&below_half), 0.0);
        let huge = BigRational::from_integer(pow2_int(1024));
        assert_eq!(rational_to_f64(&huge), f64::INFINITY);
        assert_eq!(rational_to_f64(&-huge), f64::NEG_INFINITY);
        // Halfway between f64::MAX (odd mantissa) and 2^1024: ties to even, so infinity.
        let halfway = BigRational::from_integer(pow2_int(1024) - pow2_int(970));
        assert_eq!(rational_to_f64(&halfway), f64::INFINITY);
        let max = BigRational::from_integer(pow2_int(1024) - pow2_int(971));
        assert_eq!(rational_to_f64(&max), f64::MAX);
        let smallest_normal = ratio(BigInt::one(), pow2_int(1022));
        assert_eq!(rational_to_f64(&smallest_normal), f64::MIN_POSITIVE);
    }

    #[test]
    fn format_f64_examples() {
        assert_eq!(format_f64(0.1), "0.10000000000000001");
        assert_eq!(format_f64(1.0), "1.0000000000000000");
        assert_eq!(format_f64(-2.5), "-2.5000000000000000");
        assert_eq!(format_f64(0.0), "0");
        assert_eq!(format_f64(-0.0), "0");
        assert_eq!(format_f64(1e16), "10000000000000000");
        assert_eq!(format_f64(1e17), "1.0000000000000000e17");
        assert_eq!(format_f64(1e-5), "0.000010000000000000001");
        assert_eq!(format_f64(1e-6), "9.9999999999999995e-7");
        assert_eq!(format_f64(123456.789), "123456.78900000000");
        assert_eq!(format_f64(f64::from_bits(1)), "4.9406564584124654e-324");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn format_f64_round_trips(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assume!(x.is_finite());
            let back: f64 = format_f64(x).parse().expect("format_f64 prints a float literal");
            prop_assert_eq!(back, if x == 0.0 { 0.0 } else { x });
        }

        #[test]
        fn rational_to_f64_agrees_with_division(n in -(1i64 << 53)..(1i64 << 53), d in 1i64..(1i64 << 53)) {
            let r = ratio(BigInt::from(n), BigInt::from(d));
            prop_assert_eq!(rational_to_f64(&r), n as f64 / d as f64);
        }
    }

    fn err(pool: &Pool, e: ExprId, env: &[(Symbol, f64)]) -> EvalError {
        eval_f64(pool, e, env).expect_err("the input is outside the domain")
    }

    #[test]
    fn every_error_variant() {
        let mut p = Pool::new();
        let m1 = p.int(-1);
        let log = p.call(Func::Log, m1);
        assert_eq!(
            err(&p, log, &[]),
            EvalError::Domain {
                func: "log",
                arg: "-1.0000000000000000".into()
            }
        );
        let m2 = p.int(-2);
        let root = p.sqrt(m2);
        assert!(matches!(
            err(&p, root, &[]),
            EvalError::Domain { func: "power", .. }
        ));
        let two = p.int(2);
        let asin = p.call(Func::Asin, two);
        assert!(matches!(
            err(&p, asin, &[]),
            EvalError::Domain { func: "asin", .. }
        ));
        let zero = p.int(0);
        let inv = p.recip(zero);
        assert_eq!(err(&p, inv, &[]), EvalError::DivisionByZero);
        let big = p.int(1000);
        let exp = p.call(Func::Exp, big);
        assert_eq!(err(&p, exp, &[]), EvalError::Overflow);
        let x = p.var("x");
        assert_eq!(err(&p, x, &[]), EvalError::Unbound("x".into()));
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
        let s = p.lookup_symbol("x").expect("x was interned above");
        assert_eq!(eval_f64(&p, e, &[(s, 1.0)]), Ok(2f64.powi(80)));
    }
}
