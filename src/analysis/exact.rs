//! Exact helpers of the asymptotic series: Bernoulli numbers, factorials, the series
//! coefficients of `-2 ln cos x`, and the simplest rational that rounds to a float.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};

use crate::expr::eval;

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

pub fn factorial(n: usize) -> BigInt {
    (1..=n).fold(BigInt::one(), |acc, k| acc * BigInt::from(k))
}

/// The coefficient `b_n = 2^2n (2^2n - 1) |B_2n| / (n (2n)!)` of `x^2n` in the per-step
/// log-gain `g(x) = -2 ln cos x` (n >= 1), from the Bernoulli numbers `bern`.
pub fn log_cos_coefficient(bern: &[BigRational], n: usize) -> BigRational {
    let two2n = BigInt::from(2).pow(2 * n as u32);
    BigRational::from_integer(&two2n * (&two2n - 1)) * bern[2 * n].abs()
        / BigRational::from_integer(BigInt::from(n) * factorial(2 * n))
}
