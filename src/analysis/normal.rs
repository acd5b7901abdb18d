//! The standard normal distribution function in log space, accurate in both tails: what
//! the one-dimensional flow map of a mixture inverts (docs/theory.md section 8).
//!
//! log Phi(z) is computed from erfc: Phi(z) = erfc(-z/sqrt 2)/2. For an argument x >= 1/2,
//! erfc(x) = e^(-x^2) K(x)/sqrt(pi) with the continued fraction
//! K(x) = 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) (Lentz's method), and e^(-x^2) is kept
//! in log space with x^2 split exactly into two floats (a fused multiply-add), so
//! log erfc(x) has an absolute error of a few ulps of x^2 even where erfc underflows.
//! Below 1/2, erfc(x) = 1 - erf(x) with erf's Taylor series (erfc >= 0.47 there: nothing
//! cancels). For z > 0, log Phi(z) = log1p(-erfc(z/sqrt 2)/2).

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// erfc(x) for x = w/sqrt(2) >= 1/2, as (hi, lo, den) with x^2 = hi + lo exactly (from w,
/// not from the rounded x) and erfc(x) = e^(-hi) e^(-lo)/den.
fn erfc_parts(w: f64) -> (f64, f64, f64) {
    let x = w * FRAC_1_SQRT_2;
    // Lentz's method for K(x) = 1/(x + a1/(x + a2/(x + ...))), a_n = n/2.
    const TINY: f64 = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..20_000 {
        let a = n as f64 / 2.0;
        d = x + a * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = x + a / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() <= f64::EPSILON / 4.0 {
            break;
        }
    }
    // erfc(x) = e^(-x^2) / (sqrt(pi) f): f is the whole denominator x + a1/(...).
    let hi = w * w;
    let lo = w.mul_add(w, -hi);
    (hi / 2.0, lo / 2.0, PI.sqrt() * f)
}

/// log erfc(w/sqrt 2) for w/sqrt(2) >= 1/2, in log space (no underflow).
fn log_erfc_large(w: f64) -> f64 {
    let (hi, lo, den) = erfc_parts(w);
    -hi - lo - den.ln()
}

/// erfc(w/sqrt 2) for w/sqrt(2) >= 1/2, to a few ulps (0 once it underflows: from
/// w^2/2 > 750 on, where `e^-lo` alone may overflow, `lo` being up to half an ulp of
/// `w^2/2`, 8192 at w = 1e10, and the product was 0 times infinity).
fn erfc_large(w: f64) -> f64 {
    let (hi, lo, den) = erfc_parts(w);
    if hi > 750.0 {
        return 0.0;
    }
    (-hi).exp() * (-lo).exp() / den
}

/// erf(x) for |x| < 1/2 by its Taylor series.
fn erf_small(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    for n in 1..60 {
        term *= -x2 / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() <= f64::EPSILON * sum.abs() / 4.0 {
            break;
        }
    }
    sum * 2.0 / PI.sqrt()
}

/// The smallest |z| whose erfc(|z|/sqrt 2) takes the continued fraction.
const LARGE: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// log Phi(z), Phi the standard normal distribution function: Phi(z) = erfc(-z/sqrt 2)/2.
pub fn log_ndtr(z: f64) -> f64 {
    if z <= -LARGE {
        log_erfc_large(-z) - std::f64::consts::LN_2
    } else if z < LARGE {
        (-erf_small(-z * FRAC_1_SQRT_2)).ln_1p() - std::f64::consts::LN_2
    } else {
        // Phi(z) = 1 - erfc(z/sqrt 2)/2.
        (-0.5 * erfc_large(z)).ln_1p()
    }
}

/// log(phi(z)/Phi(-z)), the log hazard of the standard normal's upper tail at z: no
/// cancellation of the two exponents where both underflow. From the continued fraction,
/// `phi(z)/Phi(-z) = sqrt(2/pi) den` exactly in its exponent; below it, the two logs
/// directly (`Phi(-z) >= 1/4` there).
pub fn log_upper_hazard(z: f64) -> f64 {
    if z >= LARGE {
        let (_, _, den) = erfc_parts(z);
        den.ln() + 0.5 * (2.0 / PI).ln()
    } else {
        -0.5 * z * z - 0.5 * (2.0 * PI).ln() - log_ndtr(-z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_phi_matches_mpmath_in_both_tails() {
        // mpmath at 40 digits: log(ncdf(z)).
        let rows = [
            (-40.0, "-804.60844201375378817"),
            (-10.0, "-53.231285150512470578"),
            (-5.5, "-17.779376352625260511"),
            (-3.0, "-6.6077262215103495433"),
            (-1.2, "-2.1622175060437394036"),
            (-0.7, "-1.4189677615315316366"),
            (-0.2, "-0.86573952268159528767"),
            (0.0, "-0.69314718055994530942"),
            (0.3, "-0.48141016158848119832"),
            (1.0, "-0.17275377902344988953"),
            (2.5, "-0.006229025485860002381"),
            (6.0, "-9.8658764552437573169e-10"),
            (9.0, "-1.1285884059538406478e-19"),
        ];
        // Far in the upper tail Phi is 1 (erfc underflows; it was 0 times infinity, a
        // NaN, from z = 2^31 on).
        for z in [3e9, 1e10, 1e100, 1e300] {
            assert_eq!(log_ndtr(z), 0.0, "z = {z}");
        }
        for (z, want) in rows {
            let want: f64 = want.parse().expect("a number");
            let got = log_ndtr(z);
            let rel = ((got - want) / want).abs();
            assert!(
                rel <= 8.0 * f64::EPSILON,
                "z = {z}: {got} against {want} ({rel:e})"
            );
        }
    }
}
