//! Exact rational products and sums with a machine-word fast path.
//!
//! `num-rational` reduces every result with two big-integer GCDs (Stein's algorithm over
//! limbs), which dominates long polynomial work although nearly every coefficient fits in a
//! word. These helpers give the same (reduced, positive-denominator) values, computing in
//! `i128` when all parts fit in `i64`, and defer to `num-rational` otherwise.

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, ToPrimitive, Zero};

/// The parts of a rational that fit in words: numerator and (positive) denominator.
fn small(r: &BigRational) -> Option<(i64, i64)> {
    Some((r.numer().to_i64()?, r.denom().to_i64()?))
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `n / d` in lowest terms with `d > 0`, from `i128` parts (`d != 0`).
fn reduced(n: i128, d: i128) -> BigRational {
    let g = gcd(n.unsigned_abs(), d.unsigned_abs()) as i128;
    let (n, d) = if d < 0 {
        (-n / g, -d / g)
    } else {
        (n / g, d / g)
    };
    BigRational::new_raw(BigInt::from(n), BigInt::from(d))
}

/// `a * b`.
pub fn mul(a: &BigRational, b: &BigRational) -> BigRational {
    if a.is_one() {
        return b.clone();
    }
    if b.is_one() {
        return a.clone();
    }
    if a.is_integer() && b.is_integer() {
        return BigRational::from_integer(a.numer() * b.numer());
    }
    match (small(a), small(b)) {
        // |n|, d < 2^63, so each product fits in i128.
        (Some((an, ad)), Some((bn, bd))) => reduced(
            i128::from(an) * i128::from(bn),
            i128::from(ad) * i128::from(bd),
        ),
        _ => mul_big(a, b),
    }
}

/// The GCD of two integers: num-bigint's binary algorithm, after one Euclidean step when
/// one operand is much the longer. The binary algorithm alone takes time quadratic in the
/// longer operand even when the other is 1 (it subtracts and shifts one bit at a time):
/// a product of sixty `1e-4096` spent 20 s in `gcd(1, 10^k)` (fuzz seed 5000).
fn gcd_big(a: &BigInt, b: &BigInt) -> BigInt {
    let (a, b) = (a.magnitude(), b.magnitude());
    if a.is_one() || b.is_one() {
        return BigInt::one();
    }
    if a.is_zero() || b.is_zero() {
        return BigInt::from(a + b);
    }
    let (long, short) = if a.bits() >= b.bits() { (a, b) } else { (b, a) };
    let g = if long.bits() > short.bits() + 64 {
        (long % short).gcd(short)
    } else {
        long.gcd(short)
    };
    BigInt::from(g)
}

/// `a * b` reduced by the two cross GCDs (the factors are already in lowest terms).
fn mul_big(a: &BigRational, b: &BigRational) -> BigRational {
    let g1 = gcd_big(a.numer(), b.denom());
    let g2 = gcd_big(b.numer(), a.denom());
    let n = (a.numer() / &g1) * (b.numer() / &g2);
    let d = (a.denom() / &g2) * (b.denom() / &g1);
    if n.is_zero() {
        return BigRational::zero();
    }
    BigRational::new_raw(n, d)
}

/// `*acc += c`.
pub fn add_assign(acc: &mut BigRational, c: &BigRational) {
    if acc.is_zero() {
        *acc = c.clone();
        return;
    }
    if acc.is_integer() && c.is_integer() {
        *acc = BigRational::from_integer(acc.numer() + c.numer());
        return;
    }
    match (small(acc), small(c)) {
        // Each cross product is below 2^126 in magnitude, so the sum fits in i128.
        (Some((an, ad)), Some((cn, cd))) => {
            let (an, ad, cn, cd) = (
                i128::from(an),
                i128::from(ad),
                i128::from(cn),
                i128::from(cd),
            );
            *acc = reduced(an * cd + cn * ad, ad * cd);
        }
        _ => *acc += c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(n: i64, d: i64) -> BigRational {
        BigRational::new(BigInt::from(n), BigInt::from(d))
    }

    fn big(n: &str, d: &str) -> BigRational {
        BigRational::new(n.parse().unwrap(), d.parse().unwrap())
    }

    /// The same value in the same (reduced) representation.
    fn assert_same(x: &BigRational, want: &BigRational) {
        assert_eq!((x.numer(), x.denom()), (want.numer(), want.denom()));
    }

    #[test]
    fn edge_values_agree_with_num_rational() {
        let values = [
            q(0, 1),
            q(1, 1),
            q(-1, 1),
            q(i64::MAX, 1),
            q(i64::MIN, 1),
            q(1, i64::MAX),
            q(-1, i64::MAX),
            q(i64::MIN, i64::MAX),
            q(i64::MAX, i64::MAX - 1),
            q(6, 35),
            big("123456789012345678901234567890", "7"),
            big("-3", "98765432109876543210987654321"),
            big("1", &format!("1{}", "0".repeat(400))),
            big(&format!("-7{}", "0".repeat(300)), "3"),
            big(
                &format!("6{}", "0".repeat(90)),
                &format!("35{}", "1".repeat(120)),
            ),
        ];
        for a in &values {
            for b in &values {
                assert_same(&mul(a, b), &(a * b));
                let mut s = a.clone();
                add_assign(&mut s, b);
                assert_same(&s, &(a + b));
            }
        }
    }

    proptest! {
        #[test]
        fn agrees_with_num_rational(
            an in any::<i64>(), ad in 1..i64::MAX, bn in any::<i64>(), bd in 1..i64::MAX,
        ) {
            let (a, b) = (q(an, ad), q(bn, bd));
            assert_same(&mul(&a, &b), &(&a * &b));
            let mut s = a.clone();
            add_assign(&mut s, &b);
            assert_same(&s, &(&a + &b));
        }
    }
}
