//! Values at a point, with one-sided limits where a formula is undefined there: the
//! correctly rounded value, the correctly rounded limit, or the infinity it tends to.
//!
//! A formula undefined at a point (`sin(t)/t` at 0, `log(tan(pi t/2))` at 1) is evaluated
//! with certified balls ([`super::ball`]) at `t = a +- 2^-k` for k = 64, 128, ..., 8192,
//! those distances taken relative to the smallest time of the point: a step from
//! `t = 1e-300` to `t_next -> 0` turns at `t_next ~ t`, so its limit is sampled below that.
//! The limit is taken as found when three successive values round to the same result and
//! their changes do not grow (a term too small to show yet may be on its way up); the
//! formula tends to an infinity when four successive magnitudes grow by at least 1.5 each
//! time with one sign (a pole or a logarithm), and to 0 when they shrink so, provided the
//! four follow one law (a power of the distance times a power of its logarithm; a term
//! that rules only until a constant's scale is passed does not). The distances start
//! below the scale of the formula's constants too (`K t` meets `1/8` at `t = 1/8K`).
//! Anything else (oscillation, convergence slower than any power of k) is reported as
//! unknown, never guessed. This is a numerical criterion, not a proof: it is exact for the
//! expansions the bundled schedules have at their ends (powers, fractional powers and
//! logarithms of the distance), whose terms at distance 2^-8192 are far below any f64
//! rounding.

use std::fmt;

use astro_float::BigFloat;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Zero};

use super::ball::{Uncertified, certify};
use super::eval::EvalError;
use super::pool::{ExprId, Node, Pool, Symbol};

/// The largest precision of a point evaluation.
pub const MAX_POINT_BITS: usize = 8192;

/// The distances `2^-k` at which a limit is sampled.
const LIMIT_EXPONENTS: [u32; 8] = [64, 128, 256, 512, 1024, 2048, 4096, 8192];

/// The deepest scale of a point's times: the least positive f64 is 2^-1074.
const MAX_DEPTH: u32 = 1100;

/// Successive magnitudes that change by this factor or more count as a trend.
const TREND: f64 = 1.5;

/// How a variable approaches its point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// From above: `a + u`.
    Above,
    /// From below: `a - u`.
    Below,
}

/// What a formula does at a point where it is undefined.
#[derive(Clone, Debug, PartialEq)]
pub enum Limit<R> {
    Finite(R),
    /// Tends to an infinity: +1 or -1.
    Infinite(i32),
}

/// Why no value could be given at a point.
#[derive(Clone, Debug, PartialEq)]
pub enum PointError {
    /// Undefined at the point and on every side of it that lies in the domain.
    Undefined(EvalError),
    /// Tends to an infinity as the named variable approaches the point.
    Infinite {
        var: String,
        at: String,
        side: Option<Side>,
        sign: i32,
    },
    /// The one-sided limits differ.
    Sides { var: String, at: String },
    /// The values near the point settle on nothing that can be certified.
    Unknown { var: String, at: String },
}

impl fmt::Display for PointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inf = |s: i32| if s > 0 { "+inf" } else { "-inf" };
        match self {
            PointError::Undefined(e) => write!(f, "{e}"),
            PointError::Infinite {
                var,
                at,
                side,
                sign,
            } => {
                let from = match side {
                    None => "",
                    Some(Side::Above) => " from above",
                    Some(Side::Below) => " from below",
                };
                write!(f, "tends to {} as {var} -> {at}{from}", inf(*sign))
            }
            PointError::Sides { var, at } => {
                write!(f, "the limits as {var} -> {at} from above and below differ")
            }
            PointError::Unknown { var, at } => write!(
                f,
                "undefined at {var} = {at}, and its limit there could not be determined"
            ),
        }
    }
}

/// The value of `e` at the exact point `env`, rounded by `round` (which must map values
/// that are equal to the same result), with its ball midpoint. Where `e` is undefined at
/// the point, the limit as the variables in `times` approach it: those at an end of
/// [0, 1] move inwards together; otherwise the first one is approached from both sides,
/// and the two limits must agree.
///
/// A point at an end of [0, 1] whose ball is still singular at [`QUICK_POINT_BITS`] (a
/// formula undefined there, `tan(pi t/2)` at t = 1, never certifies) gets its limit
/// before the higher precisions: where the formula is defined, its limit is its value
/// (every function of the language is continuous on its domain), and the point's own
/// evaluation up to `max_bits` runs only if no limit is found. An end guard of `emit`
/// spent 0.2 s a point evaluating such formulas at up to 8192 bits before it took the
/// limit. Not inside (0, 1): a ball singular there is mostly a cancellation that more
/// bits resolve (at t = 1e-300), where a two-sided limit costs some sixteen
/// evaluations. Nor a ball on a rounding boundary: a limit from one side rounds as that
/// side does, and the point's own value (0, or a tie rounded to even) may round
/// otherwise.
pub fn value_at<R: PartialEq + Clone>(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
    times: &[Symbol],
    max_bits: usize,
    round: &impl Fn(&BigFloat) -> R,
) -> Result<R, PointError> {
    let at_an_end = env
        .iter()
        .any(|(s, v)| times.contains(s) && (v.is_zero() || v.is_one()));
    let quick = if at_an_end {
        max_bits.min(QUICK_POINT_BITS)
    } else {
        max_bits
    };
    let mut early = None;
    let mut certified = certify(pool, e, env, quick, round);
    if quick < max_bits {
        match certified {
            Err(Uncertified::Singular) => {
                let limit = near(pool, e, env, times, max_bits, round, EvalError::Undecided);
                if limit.is_ok() {
                    return limit;
                }
                early = Some(limit);
                certified = certify(pool, e, env, max_bits, round);
            }
            // On a rounding boundary at the quick precision: the point's own higher ones
            // decide it (`cos(pi t/2)` at t = 1 is a ball of 2^-1024 around 0 there, on
            // both sides of subnormals, and 0 at 8192 bits).
            Err(Uncertified::Tie(_)) => certified = certify(pool, e, env, max_bits, round),
            _ => {}
        }
    }
    let first_error = match certified {
        Ok((r, _)) => return Ok(r),
        // Known to 8192 bits and still on a rounding boundary: an exact tie, rounded as
        // its midpoint is (ties to even). At a lower ceiling it is only undecided.
        Err(Uncertified::Tie(mid)) if max_bits >= MAX_POINT_BITS => return Ok(round(&mid)),
        Err(Uncertified::Tie(_)) | Err(Uncertified::Singular) => EvalError::Undecided,
        Err(Uncertified::Eval(err)) => err,
    };
    match early {
        // Still undecided at every precision: the limit already taken is the answer.
        Some(limit) if first_error == EvalError::Undecided => limit,
        // An error the point's own evaluation ran into at the higher precisions (its
        // share of the work allowance spent, `tan(9.3e1768 t)`): the limit again,
        // which then fails for that reason, as it did when it came after.
        _ => near(pool, e, env, times, max_bits, round, first_error),
    }
}

/// The precision up to which [`value_at`] evaluates a point before it looks for a limit
/// where the point's ball is singular.
pub const QUICK_POINT_BITS: usize = 1024;

/// The limit of `e` at the point `env` as [`value_at`] takes it (where `e` is undefined
/// there); `first_error`, why the point itself gave no value.
fn near<R: PartialEq + Clone>(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
    times: &[Symbol],
    max_bits: usize,
    round: &impl Fn(&BigFloat) -> R,
    first_error: EvalError,
) -> Result<R, PointError> {
    let value_of = |s: Symbol| env.iter().find(|(k, _)| *k == s).map(|(_, v)| v.clone());
    let (zero, one) = (BigRational::zero(), BigRational::one());
    let at_end: Vec<(Symbol, Side)> = times
        .iter()
        .filter_map(|&s| {
            let v = value_of(s)?;
            if v == zero {
                Some((s, Side::Above))
            } else if v == one {
                Some((s, Side::Below))
            } else {
                None
            }
        })
        .collect();
    let describe = |s: Symbol| {
        let at = value_of(s).map_or_else(String::new, |v| v.to_string());
        (pool.symbol_name(s).to_owned(), at)
    };
    let depth = depth(env, times).max(constant_depth(pool, e));
    if !at_end.is_empty() {
        let (var, at) = describe(at_end[0].0);
        let side = at_end[0].1;
        return match limit_below(pool, e, env, &at_end, depth, max_bits, round) {
            Ok(Limit::Finite(r)) => Ok(r),
            Ok(Limit::Infinite(sign)) => Err(PointError::Infinite {
                var,
                at,
                side: if at_end.len() == 1 { None } else { Some(side) },
                sign,
            }),
            Err(NoLimit::Undefined) => Err(PointError::Undefined(first_error)),
            Err(NoLimit::Unknown) => Err(PointError::Unknown { var, at }),
        };
    }
    let Some(&s) = times.iter().find(|&&s| value_of(s).is_some()) else {
        return Err(PointError::Undefined(first_error));
    };
    let (var, at) = describe(s);
    let above = limit_below(pool, e, env, &[(s, Side::Above)], depth, max_bits, round);
    let below = limit_below(pool, e, env, &[(s, Side::Below)], depth, max_bits, round);
    match (above, below) {
        (Ok(a), Ok(b)) if a == b => match a {
            Limit::Finite(r) => Ok(r),
            Limit::Infinite(sign) => Err(PointError::Infinite {
                var,
                at,
                side: None,
                sign,
            }),
        },
        (Ok(_), Ok(_)) => Err(PointError::Sides { var, at }),
        (Err(NoLimit::Undefined), Err(NoLimit::Undefined)) => {
            Err(PointError::Undefined(first_error))
        }
        _ => Err(PointError::Unknown { var, at }),
    }
}

/// Why [`limit`] found no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoLimit {
    /// The formula is undefined close to the point on that side.
    Undefined,
    /// The values settle on nothing certain.
    Unknown,
}

/// How many binary orders below 1 the smallest scale of the point lies: the least
/// nonzero distance of a time in `env` from either end of [0, 1] or from another time.
/// A limit's distances start below it. Not from the end alone: a DDIM step from the
/// noise end to `t_next = 1 - 2^-53` of `alpha = cos(pi t/2)^2.225` (fuzz seed 41 case
/// 51633) has a coefficient `1 + c (1 - t)^-0.225` with `c` near 2^-116, set by
/// `alpha(t_next)`: at distances 2^-64 to 2^-256 it rounds to 1 three times, and the
/// limit came out 1, not the infinity it is. Measured from `1 - t_next`, the same
/// distances lie 2^-54 deeper and see it grow.
fn depth(env: &[(Symbol, BigRational)], times: &[Symbol]) -> u32 {
    let values: Vec<&BigRational> = env
        .iter()
        .filter(|(s, _)| times.contains(s))
        .map(|(_, v)| v)
        .collect();
    let one = BigRational::one();
    let mut distances: Vec<BigRational> = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        distances.push(v.clone());
        distances.push(&one - v);
        distances.extend(values[i + 1..].iter().map(|&w| v - w));
    }
    distances
        .iter()
        .filter(|v| !v.is_zero())
        .map(|v| {
            // |v| >= 2^(bits(numer) - 1 - bits(denom)): one order more than log2 |v|
            // (`bits` counts the magnitude).
            let (n, d) = (v.numer().bits(), v.denom().bits());
            u32::try_from((d + 1).saturating_sub(n)).map_or(MAX_DEPTH, |k| k.min(MAX_DEPTH))
        })
        .max()
        .unwrap_or(0)
}

/// How many binary orders the rational constants of `e` reach from 1: the largest
/// `|log2 |c||`, at most [`MAX_DEPTH`]. The expansion of a formula at a point holds only
/// where its terms have met their orders, and a constant sets where they do: with
/// `K = 7.8e297` (`beta(t) = (t/1e-300 + 16)/64 + t`), `(1/8 + K t)/sqrt(t/4 + K t^2/2)`
/// shrinks like `K t` from 2^-64 to 2^-256 (`K t^2` rules the root) and turns to grow
/// like `t^-1/2` only below `t = 1/K`; seen from 2^-64 it looked like a limit of 0, and
/// `eval` printed 0 for the infinite drift of `pf_velocity` at t = 0 (fuzz seed 43, case
/// 114056). Its limits are sampled below the constant's scale.
fn constant_depth(pool: &Pool, e: ExprId) -> u32 {
    let mut seen = super::fxhash::HashSet::default();
    let mut stack = vec![e];
    let mut deepest = 0u64;
    while let Some(x) = stack.pop() {
        if !seen.insert(x) {
            continue;
        }
        if let Node::Rational(r) = pool.node(x) {
            if !r.is_zero() {
                // |log2 |r|| to within one order: the bit lengths of its two parts.
                deepest = deepest.max(r.numer().bits().abs_diff(r.denom().bits()) + 1);
            }
        } else {
            stack.extend(pool.children(x));
        }
    }
    u32::try_from(deepest).map_or(MAX_DEPTH, |d| d.min(MAX_DEPTH))
}

/// The limit of `e` as each variable of `moving` approaches its value in `env` from its
/// side, all at the same distance `u -> 0`.
pub fn limit<R: PartialEq + Clone>(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
    moving: &[(Symbol, Side)],
    max_bits: usize,
    round: &impl Fn(&BigFloat) -> R,
) -> Result<Limit<R>, NoLimit> {
    limit_below(
        pool,
        e,
        env,
        moving,
        constant_depth(pool, e),
        max_bits,
        round,
    )
}

/// [`limit`] at the distances `2^-(k + depth)`.
fn limit_below<R: PartialEq + Clone>(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
    moving: &[(Symbol, Side)],
    depth: u32,
    max_bits: usize,
    round: &impl Fn(&BigFloat) -> R,
) -> Result<Limit<R>, NoLimit> {
    // (rounded value, midpoint) at each distance; None where the evaluation failed.
    let mut seen: Vec<Option<(R, BigFloat)>> = Vec::new();
    let mut points: Vec<Vec<(Symbol, BigRational)>> = Vec::new();
    for &k in &LIMIT_EXPONENTS {
        let k = k.saturating_add(depth);
        let u = BigRational::new(BigInt::one(), BigInt::one() << k);
        let near = moved(env, moving, &u);
        let bits = max_bits.max(2 * k as usize + 1024);
        seen.push(match certify(pool, e, &near, bits, round) {
            Ok(v) => Some(v),
            Err(Uncertified::Tie(mid)) if bits >= MAX_POINT_BITS => Some((round(&mid), mid)),
            Err(_) => None,
        });
        points.push(near);
        let n = seen.len();
        let alike = n >= 3
            && matches!(&seen[n - 3..], [Some(a), Some(b), Some(c)] if a.0 == b.0 && b.0 == c.0);
        let settled = alike
            && !growing(&seen[n - 3..])
            && !departing(pool, e, &points, bits.min(DEPARTURE_BITS));
        match classify(&seen, depth, settled) {
            Some(Seen::Limit(found)) => return Ok(found),
            Some(Seen::Shrinking(law)) if vanishes(pool, e, env, moving, &law, depth, max_bits) => {
                return Ok(Limit::Finite(round(&BigFloat::new(64))));
            }
            _ => {}
        }
        if seen.len() >= 2 && seen[seen.len() - 2..].iter().all(Option::is_none) {
            return Err(NoLimit::Undefined);
        }
    }
    Err(NoLimit::Unknown)
}

/// What the values seen so far at the distances of [`LIMIT_EXPONENTS`] say.
enum Seen<R> {
    /// A limit, settled on or tending to an infinity.
    Limit(Limit<R>),
    /// Magnitudes that shrink by one law: a limit of 0 unless a constant too small to show
    /// yet lies beneath them (see [`vanishes`]).
    Shrinking(Law),
}

/// The limit the values `seen` at the first distances `2^-(k + depth)` of
/// [`LIMIT_EXPONENTS`] settle on, if they do yet: the last, where the last three round
/// alike and have `settled` (see [`departing`]), or four
/// magnitudes that grow (shrink) by [`TREND`] at each step and follow one law
/// `c u^p log(1/u)^q` (see [`one_law`]).
fn classify<R: PartialEq + Clone>(
    seen: &[Option<(R, BigFloat)>],
    depth: u32,
    settled: bool,
) -> Option<Seen<R>> {
    let n = seen.len();
    if settled && let Some(Some((last, _))) = seen.last() {
        return Some(Seen::Limit(Limit::Finite(last.clone())));
    }
    if n < 4 {
        return None;
    }
    let last: Vec<&BigFloat> = seen[n - 4..]
        .iter()
        .map(|v| v.as_ref().map(|(_, m)| m))
        .collect::<Option<_>>()?;
    let logs: Vec<f64> = last
        .iter()
        .map(|x| log2_magnitude(x))
        .collect::<Option<_>>()?;
    let step = TREND.log2();
    let ks: Vec<f64> = LIMIT_EXPONENTS[n - 4..n]
        .iter()
        .map(|&k| f64::from(k.saturating_add(depth)))
        .collect();
    let law = one_law(&ks, &logs)?;
    let growing = logs.windows(2).all(|w| w[1] - w[0] >= step);
    let shrinking = logs.windows(2).all(|w| w[0] - w[1] >= step);
    let sign = |x: &BigFloat| if x.is_negative() { -1 } else { 1 };
    if growing && last.iter().all(|x| sign(x) == sign(last[0])) {
        return Some(Seen::Limit(Limit::Infinite(sign(last[0]))));
    }
    shrinking.then_some(Seen::Shrinking(law))
}

/// The magnitude (`log2`) below which a value shrinking to its limit must be seen before
/// the limit is taken as 0: under the least positive f64 (2^-1074), with a margin.
const VANISHED: f64 = -1100.0;

/// Whether `e`, whose magnitudes shrink by `law` down to the distance `2^-last`, still
/// follows it at the distance where it predicts a magnitude below [`VANISHED`]: a limit of
/// 0, not a constant beneath the values seen. With `log_snr = -2 log(t) e^t + 1`, the
/// x coefficient of the final Euler x0 step at t = 1e-300 is `6.9e-298 + t_next/t` about:
/// sampled at `t_next = 2^-(k + 997)` (the depth of t), it shrank like `2^-k` from 2^-64 to
/// 2^-512 and the limit as `t_next -> 0` came out 0 (`emit` failed the function by 1.6e17
/// ulps against that reference). Where the law reaches [`VANISHED`] only beyond the last
/// of [`LIMIT_EXPONENTS`] (a small power of the distance, a logarithm), the trend is taken
/// as it is.
fn vanishes(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, BigRational)],
    moving: &[(Symbol, Side)],
    law: &Law,
    depth: u32,
    max_bits: usize,
) -> bool {
    let deepest = f64::from(LIMIT_EXPONENTS[LIMIT_EXPONENTS.len() - 1].saturating_add(depth));
    if law.predict(deepest) > VANISHED {
        return true;
    }
    // The first distance, in steps of 1/256 of the way to the deepest, where it is below
    // (at most the deepest, where it is).
    let step = ((deepest - law.last) / 256.0).max(1.0);
    let mut k = law.last;
    while k < deepest && law.predict(k) > VANISHED {
        k += step;
    }
    let k = k.min(deepest) as u32;
    let u = BigRational::new(BigInt::one(), BigInt::one() << k);
    let point = moved(env, moving, &u);
    let bound = law.predict(f64::from(k)) + LAW_TOLERANCE;
    let bits = max_bits.max(2 * k.saturating_sub(depth) as usize + 1024);
    // Below the bound in magnitude (0), or beyond it on either side: monotone in x, so a
    // ball whose two ends agree lies in one class.
    let class = |x: &BigFloat| match log2_magnitude(x) {
        Some(l) if l > bound => 1 - 2 * i8::from(x.is_negative()),
        _ => 0,
    };
    matches!(certify(pool, e, &point, bits, class), Ok((0, _)))
}

/// `env` with each variable of `moving` a distance `u` from its value, on its side.
fn moved(
    env: &[(Symbol, BigRational)],
    moving: &[(Symbol, Side)],
    u: &BigRational,
) -> Vec<(Symbol, BigRational)> {
    env.iter()
        .map(|(s, v)| match moving.iter().find(|(m, _)| m == s) {
            Some((_, Side::Above)) => (*s, v + u),
            Some((_, Side::Below)) => (*s, v - u),
            None => (*s, v.clone()),
        })
        .collect()
}

/// `log2 |x|`, from the exponent and the top bits, with no overflow of an f64; None for 0.
fn log2_magnitude(x: &BigFloat) -> Option<f64> {
    if x.is_zero() {
        return None;
    }
    let e = f64::from(x.exponent()?);
    let mut m = x.abs();
    m.set_exponent(0);
    Some(e + super::hp::to_f64(&m).log2())
}

/// Whether the magnitudes of three successive values grow by [`TREND`] or more at each
/// distance. Values beyond the range of the rounding round alike while they diverge:
/// with `beta = 29.1 t + cosh(acos(1e-300))^2/1000`, whose constant 10^-300 sets the
/// sampling depth near 2^-1000 ([`constant_depth`]), `snr ~ 1/(beta_min t)` is beyond f64
/// at every distance, three values rounded to +inf, and the limit was taken as a finite
/// value that rounds to +inf, not a divergence (`eval` printed it as an empty number, and
/// `emit` found no pole there; fuzz seed 51, case 14513). [`departing`], which would see
/// the growth, compares balls at 512 bits, where `1 - exp(-beta_min t)` at those distances
/// is a ball around 0. The midpoints, rounded or not, tell growth by factors of 2^64.
fn growing<R>(seen: &[Option<(R, BigFloat)>]) -> bool {
    let logs: Option<Vec<f64>> = seen
        .iter()
        .map(|v| v.as_ref().and_then(|(_, m)| log2_magnitude(m)))
        .collect();
    logs.is_some_and(|logs| logs.windows(2).all(|w| w[1] - w[0] >= TREND.log2()))
}

/// The precision at which [`departing`] compares three values: changes below 2^-450 of
/// them at the last distance pass unseen.
const DEPARTURE_BITS: usize = 512;

/// Whether the values of `e` at the last three of `points` (successive distances from
/// the point) certainly move away from one another: their second change larger than
/// [`TREND`] times the first, at `bits` bits (the first 0 and the second not counts
/// too). Three values that round alike need not have settled: in `1 + t_next f(t)` with
/// `f ~ -t^-0.66` and `t_next = 1e-300`, the term that makes the limit at t = 0 infinite
/// is below 2^-170 of the 1 down to distances 2^-1250, and grows by 2^85 between the last
/// two (fuzz seed 47, case 13120: the limit came out 1). A value converging to its limit
/// changes less at each distance, whatever its law; one whose changes grow is sampled
/// deeper. The values are those of certified balls at a fixed precision, not the
/// midpoints that rounded alike, which keep only the bits the rounding needed.
fn departing(pool: &Pool, e: ExprId, points: &[Vec<(Symbol, BigRational)>], bits: usize) -> bool {
    let n = points.len();
    if n < 3 {
        return false;
    }
    let balls: Option<Vec<super::ball::Ball>> = super::ball::with_consts(|consts| {
        points[n - 3..]
            .iter()
            .map(|env| super::ball::eval_ball(pool, e, env, bits, consts).ok())
            .collect()
    });
    let Some(balls) = balls else {
        return false;
    };
    let p = bits + 64;
    use astro_float::RoundingMode::{Down, FromZero, ToZero, Up};
    // The first change at most (|m1 - m0| plus the two radii, rounded up) and the second
    // at least (|m2 - m1| less the two radii, rounded down).
    let first_most = balls[1].mid.sub(&balls[0].mid, p, FromZero).abs().add(
        &balls[0].rad.add(&balls[1].rad, p, Up),
        p,
        Up,
    );
    let second = balls[2].mid.sub(&balls[1].mid, p, ToZero).abs();
    let second_least = second.sub(&balls[1].rad.add(&balls[2].rad, p, Up), p, Down);
    if !second_least.is_positive() || second_least.is_zero() {
        return false;
    }
    let trend = BigFloat::from_f64(TREND, 64);
    second_least > first_most.mul(&trend, p, Up)
}

/// How far (in binary orders) the fourth of four magnitudes may lie from the law the
/// first three fix.
const LAW_TOLERANCE: f64 = 3.0;

/// Magnitudes `log2 |v| = c + p k + q log2 k` at the distances `2^-k`, fixed by three of
/// them: a power of the distance times a power of its logarithm.
struct Law {
    p: f64,
    q: f64,
    /// The last distance's `k` and magnitude.
    last: f64,
    at_last: f64,
}

impl Law {
    /// The magnitude the law gives at the distance `2^-k`.
    fn predict(&self, k: f64) -> f64 {
        self.at_last + self.p * (k - self.last) + self.q * (k.log2() - self.last.log2())
    }
}

/// The law the magnitudes `log2 |v|` at the distances `2^-k` follow, if they follow one:
/// the law through the first three predicts the fourth to within [`LAW_TOLERANCE`].
/// Four magnitudes that merely shrink may be a transient, a term that rules until a
/// constant's scale is passed and then gives way to one that grows.
fn one_law(ks: &[f64], logs: &[f64]) -> Option<Law> {
    let lk: Vec<f64> = ks.iter().map(|k| k.log2()).collect();
    // (p, q) from the two differences of the first three: a 2x2 system.
    let (a, b, c) = (ks[1] - ks[0], lk[1] - lk[0], logs[1] - logs[0]);
    let (d, e, f) = (ks[2] - ks[1], lk[2] - lk[1], logs[2] - logs[1]);
    let det = a * e - b * d;
    if det == 0.0 {
        return None;
    }
    let p = (c * e - b * f) / det;
    let q = (a * f - c * d) / det;
    let predicted = logs[2] + p * (ks[3] - ks[2]) + q * (lk[3] - lk[2]);
    ((predicted - logs[3]).abs() <= LAW_TOLERANCE).then_some(Law {
        p,
        q,
        last: ks[3],
        at_last: logs[3],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::ball::round_f64;
    use crate::expr::test_util::parse_in_unit_t;

    fn at(src: &str, t: (i64, i64)) -> Result<f64, PointError> {
        let mut pool = Pool::new();
        let e = parse_in_unit_t(&mut pool, src);
        let s = pool.symbol("t");
        let t = BigRational::new(t.0.into(), t.1.into());
        value_at(&pool, e, &[(s, t)], &[s], MAX_POINT_BITS, &round_f64).map(f64::from_bits)
    }

    /// A divergence whose values are beyond f64 at every distance sampled (the constant
    /// 10^-300 sets the depth near 2^-1000, where `1/(k t)` is past 2^1000) is a
    /// divergence, not a finite value that rounds to +inf (fuzz seed 51, case 14513).
    /// Without the constant's depth the same formula diverged as it should, and still
    /// does.
    #[test]
    fn a_divergence_beyond_f64_at_every_distance_is_infinite() {
        // vp_linear's snr with beta_min = cosh(acos(c))^2/1000, as `derive` writes it.
        let snr = |c: &str| {
            let b = format!("t*(291*t/20 + cosh(acos({c}))^2/1000)");
            format!("exp(-{b})/(1 - exp(-{b}))")
        };
        for src in [
            snr("1e-300"),
            snr("1/2"),
            "1/expm1(t*cosh(acos(1e-300))^2/1000)".to_owned(),
            "-1/(t + t^2*acos(1e-300))".to_owned(),
        ] {
            let got = at(&src, (0, 1));
            assert!(
                matches!(got, Err(PointError::Infinite { sign, .. }) if sign == if src.starts_with('-') { -1 } else { 1 }),
                "{src}: {got:?}"
            );
        }
        // A finite limit reached beyond that depth stays finite.
        assert_eq!(
            at("t/expm1(t*(1 + acos(1e-300)))", (0, 1))
                .map(|v| (v - 1.0 / (1.0 + std::f64::consts::FRAC_PI_2)).abs() < 1e-15),
            Ok(true)
        );
    }

    #[test]
    fn removable_singularities_give_their_limits() {
        assert_eq!(at("sin(t)/t", (0, 1)), Ok(1.0));
        assert_eq!(at("(1 - cos(t))/t^2", (0, 1)), Ok(0.5));
        assert_eq!(at("expm1(t - 1/2)/(t - 1/2)", (1, 2)), Ok(1.0));
        // 1/sqrt(1 + tan^2) = cos(pi t/2) -> 0 at t = 1.
        assert_eq!(at("1/sqrt(1 + tan(pi*t/2)^2)", (1, 1)), Ok(0.0));
        // t log t -> 0, sqrt(t) log t -> 0.
        assert_eq!(at("t*log(t)", (0, 1)), Ok(0.0));
        assert_eq!(at("sqrt(t)*log(t)", (0, 1)), Ok(0.0));
    }

    /// A defined point whose ball is still singular at [`QUICK_POINT_BITS`] gets its own
    /// value, by its limit or at a higher precision. At the end t = 1, where
    /// `cos(pi t/2)` is exactly 0: `2^-1100/(cos(pi t/2) + 2^-1100)` is 1 (its
    /// denominator's ball holds 0 at 1024 bits), and so is `2^1100 (cos(pi t/2) +
    /// 2^-1100)` (a ball of radius 2^76 around 1 there). Inside: `1/(2^1100 cos(pi t/2))`
    /// at `t = 1 - 2^-1100` is `(2/pi) x/sin(x)` for `x = pi 2^-1101`, 2/pi to far below
    /// an ulp (correctly rounded: 0x3fe45f306dc9c883).
    #[test]
    fn a_point_singular_at_the_quick_precision_keeps_its_value() {
        let tiny = BigRational::new(BigInt::one(), BigInt::one() << 1100);
        let cases = [
            ("2^-1100/(cos(pi*t/2) + 2^-1100)", BigRational::one(), 1.0),
            ("2^1100*(cos(pi*t/2) + 2^-1100)", BigRational::one(), 1.0),
            (
                "1/(2^1100*cos(pi*t/2))",
                BigRational::one() - tiny,
                f64::from_bits(0x3fe4_5f30_6dc9_c883),
            ),
        ];
        for (src, t, want) in cases {
            let mut pool = Pool::new();
            let e = parse_in_unit_t(&mut pool, src);
            let s = pool.symbol("t");
            let env = [(s, t)];
            assert!(
                certify(&pool, e, &env, QUICK_POINT_BITS, round_f64).is_err(),
                "{src} certifies at the quick precision"
            );
            let v = value_at(&pool, e, &env, &[s], MAX_POINT_BITS, &round_f64);
            assert_eq!(v.map(f64::from_bits), Ok(want), "{src}");
        }
    }

    #[test]
    fn infinite_limits_are_named() {
        let inf = |sign| PointError::Infinite {
            var: "t".into(),
            at: "0".into(),
            side: None,
            sign,
        };
        assert_eq!(at("t/(1 - exp(-t^2))", (0, 1)), Err(inf(1)));
        assert_eq!(at("log(t)", (0, 1)), Err(inf(-1)));
        let e = at("log(tan(pi*t/2))", (1, 1)).unwrap_err();
        assert_eq!(e.to_string(), "tends to +inf as t -> 1");
    }

    /// `src` in `t` and `s` (the symbol `t_next`) at the point `(t, s)`, both times.
    fn at_times(src: &str, t: BigRational, s: BigRational) -> Result<f64, PointError> {
        let mut pool = Pool::new();
        let (ts, ss) = (pool.symbol("t"), pool.symbol("t_next"));
        let ast = crate::syntax::parse_expr(src).unwrap();
        let e = crate::process::lower_expr(&mut pool, &ast, &[("t", ts), ("s", ss)]).unwrap();
        let env = [(ts, t), (ss, s)];
        value_at(&pool, e, &env, &[ts, ss], MAX_POINT_BITS, &round_f64).map(f64::from_bits)
    }

    /// 10^-300.
    fn tiny() -> BigRational {
        BigRational::new(1.into(), BigInt::from(10).pow(300))
    }

    #[test]
    fn a_limit_is_sampled_below_the_other_times() {
        // sin(s) (cos(s) tan(t)/sin(s) - 1) -> tan(t) as s -> 0; at t = 1e-300 the
        // formula turns at s ~ t, far below the distances 2^-64 .. 2^-512.
        let v = at_times(
            "sin(s)*(cos(s)*tan(t)/sin(s) - 1)",
            tiny(),
            BigRational::zero(),
        );
        assert_eq!(v, Ok(1e-300));
    }

    #[test]
    fn a_limit_at_an_end_is_sampled_below_the_other_times_distance_from_it() {
        // 1 + (1 - s)^(89/40) (1 - t)^(-9/40) -> +inf as t -> 1 for any s < 1. At
        // s = 1 - 2^-53 the growing term is 2^-117 (1 - t)^(-9/40): at distances 2^-64,
        // 2^-128 and 2^-256 from 1 it is below 2^-58, and the sum rounded to 1 three
        // times (the limit came out 1; fuzz seed 41 case 51633, where it is a DDIM
        // step's coefficient).
        let near_one = BigRational::one() - BigRational::new(1.into(), BigInt::one() << 53);
        let v = at_times(
            "1 + (1 - s)^(89/40)*(1 - t)^(-9/40)",
            BigRational::one(),
            near_one,
        );
        assert!(
            matches!(v, Err(PointError::Infinite { sign: 1, .. })),
            "{v:?}"
        );
    }

    #[test]
    fn a_constant_beneath_shrinking_values_is_their_limit() {
        // t (-1 - ln t) + s/t + s ln s -> t (-1 - ln t) = 6.9e-298 as s -> 0 at t = 1e-300
        // (undefined at s = 0). Sampled at s = 2^-(k + 997), the values shrink like 2^-k
        // from 2^-64 to 2^-512 and looked like a limit of 0 (the final Euler x0 step's x
        // coefficient of log_snr = -2 log(t) e^t + 1, whose reference row said 0).
        let v = at_times(
            "t*(-1 - log(t)) + s/t + s*log(s)",
            tiny(),
            BigRational::zero(),
        );
        assert_eq!(v, Ok(6.897755278982137e-298));
        // Without the constant the limit is 0, whether the law is a power or slow.
        for src in ["s/t + s*log(s)", "sqrt(s)*log(s)", "s^(1/5)*(1 + log(s)^2)"] {
            assert_eq!(at_times(src, tiny(), BigRational::zero()), Ok(0.0), "{src}");
        }
    }

    #[test]
    fn values_that_round_alike_but_move_apart_have_not_settled() {
        // 1 - (s - t) (17/100) t^(-33/50) -> -inf as t -> 0 for any s > 0 (an Euler
        // step's x coefficient of alpha_bar = 1 - t^(17/50) from t = 0). At s = 1e-300
        // the growing term is below 2^-170 down to the distance 2^-1253 (the point's
        // depth, 997, plus 256): the sum rounded to 1 at the first three distances, and
        // the limit came out 1 (fuzz seed 47, case 13120). Its changes grew by 2^42 and
        // 2^85.
        let v = at_times(
            "1 - (s - t)*(17/100)*t^(-33/50)",
            BigRational::zero(),
            tiny(),
        );
        assert!(
            matches!(v, Err(PointError::Infinite { sign: -1, .. })),
            "{v:?}"
        );
        // A value that converges keeps its limit: 1 + (s + t) sin(t)/t at s = 1e-300.
        let v = at_times("1 + (s + t)*sin(t)/t", BigRational::zero(), tiny());
        assert_eq!(v, Ok(1.0));
    }

    #[test]
    fn a_limit_is_sampled_below_the_scale_of_the_constants() {
        // (1/8 + K t)/sqrt(t/4 + K t^2/2) with K = 2^990 is 1/(4 sqrt(t)) (1 + O(K t)) as
        // t -> 0: +inf. From 2^-64 to 2^-512 it shrinks like K t (fuzz seed 43, case
        // 114056, where it is the noise coefficient of `pf_velocity`; the limit was 0).
        let inf = Err(PointError::Infinite {
            var: "t".into(),
            at: "0".into(),
            side: None,
            sign: 1,
        });
        assert_eq!(at("(1/8 + 2^990*t)/sqrt(t/4 + 2^989*t^2)", (0, 1)), inf);
        // Its product with t^(3/4) tends to 0 like t^(1/4).
        assert_eq!(
            at("t^(3/4)*(1/8 + 2^990*t)/sqrt(t/4 + 2^989*t^2)", (0, 1)),
            Ok(0.0)
        );
    }

    #[test]
    fn a_trend_must_follow_one_law() {
        let ks = [64.0, 128.0, 256.0, 512.0];
        // 2^990 t while K t^2 rules the root, then 1/sqrt(t): log2 of the magnitudes
        // 926, 862, 734 and 495.5 shrink at each step but break the law the first three
        // fix (a power of t) by 17.5 orders.
        assert!(one_law(&ks, &[926.0, 862.0, 734.0, 495.5]).is_none());
        // t^-3 log(1/t)^2 and 1/log(1/t) follow one law each, at any spacing of the k.
        let law = |k: f64, p: f64, q: f64| 5.0 + p * k + q * k.log2();
        assert!(one_law(&ks, &ks.map(|k| law(k, 3.0, 2.0))).is_some());
        assert!(one_law(&ks, &ks.map(|k| law(k, 0.0, -1.0))).is_some());
        let deep = ks.map(|k| k + 997.0);
        assert!(one_law(&deep, &deep.map(|k| law(k, -0.5, 1.0))).is_some());
    }

    #[test]
    fn what_cannot_be_settled_is_said() {
        assert!(matches!(
            at("sin(1/t)", (0, 1)),
            Err(PointError::Unknown { .. })
        ));
        assert!(matches!(
            at("1/(t - 1/2)", (1, 2)),
            Err(PointError::Sides { .. })
        ));
        // 1 + 1/log(t) -> 1 too slowly to certify.
        assert!(matches!(
            at("1 + 1/log(t)", (0, 1)),
            Err(PointError::Unknown { .. })
        ));
    }
}
