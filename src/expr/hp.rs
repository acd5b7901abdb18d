//! High-precision evaluation (astro-float), the numeric reference, with exact f64 and decimal output.
//!
//! [`Hp::eval`] follows the semantics of [`crate::expr::eval::eval_f64`] operation for
//! operation. Every operation rounds to the working precision; functions prone to
//! cancellation (`expm1`, `log1p`, powers with large exponents) raise it internally by the
//! number of bits the cancellation costs, or switch to a series, so their results keep the
//! full precision.

use std::cmp::Ordering;
use std::collections::HashMap;

use astro_float::{BigFloat, Consts, RoundingMode, Sign, WORD_BIT_SIZE};
use num_bigint::{BigInt, BigUint};
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::eval::{
    EvalError, Exponent, check_fractional_base, classify_exponent, format_f64, general_pow_case,
    is_half, is_neg_half, layout_decimal, round_to_f64,
};
use super::pool::{Constant, ExprId, Func, Node, Pool, Symbol};

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
            memo: HashMap::new(),
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

/// `r` correctly rounded to `p` bits: an integer quotient with more than `p + 2` bits, the
/// remainder folded into its last bit (a sticky bit), then one rounding.
fn rational_at(r: &BigRational, p: usize) -> BigFloat {
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
            Node::Call(f, a) => {
                let x = self.eval(*a)?;
                self.call(*f, &x)
            }
        }
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
                    let x = rational_at(r, p + GUARD);
                    b.pow(&x, p, RM, &mut self.hp.consts)
                };
                finite(v)
            }
            Exponent::General => {
                let x = self.eval(exp)?;
                match general_pow_case(sign_of(&b), sign_of(&x), || show(&b))? {
                    Some(v) => Ok(from_f64_exact(v)),
                    None => finite(b.pow(&x, p, RM, &mut self.hp.consts)),
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
        let x = rational_at(&BigRational::from_integer(n.clone()), p + GUARD);
        let mut v = b.abs().pow(&x, p, RM, &mut self.hp.consts);
        if b.is_negative() && n.bit(0) {
            v.inv_sign();
        }
        finite(v)
    }

    fn call(&mut self, f: Func, x: &BigFloat) -> Result<BigFloat, EvalError> {
        let p = self.p();
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
            Func::Exp => x.exp(p, RM, cc),
            Func::Log => {
                domain(x.is_positive() && !x.is_zero())?;
                x.ln(p, RM, cc)
            }
            Func::Sin => x.sin(p, RM, cc),
            Func::Cos => x.cos(p, RM, cc),
            Func::Tan => x.tan(p, RM, cc),
            Func::Asin => {
                domain(x.abs_cmp(&one).is_some_and(|c| c <= 0))?;
                x.asin(p, RM, cc)
            }
            Func::Acos => {
                domain(x.abs_cmp(&one).is_some_and(|c| c <= 0))?;
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
fn expm1(x: &BigFloat, p: usize, cc: &mut Consts) -> BigFloat {
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
fn log1p(x: &BigFloat, p: usize, cc: &mut Consts) -> BigFloat {
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
fn sigmoid(x: &BigFloat, p: usize, cc: &mut Consts) -> BigFloat {
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
}
