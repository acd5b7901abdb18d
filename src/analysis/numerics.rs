//! Floating-point helpers that keep tiny KL values accurate: a compensated sum and
//! cancellation-free forms of `e^-u - 1 + u` and `e^u - 1 - u`.

/// A Neumaier-compensated running sum: the error of each addition is carried separately,
/// so adding many terms of mixed size loses no more than a couple of ulps of the total.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sum {
    sum: f64,
    carry: f64,
}

impl Sum {
    pub fn new() -> Sum {
        Sum::default()
    }

    /// Adds `x`. Once the sum is infinite (or NaN) it stays what IEEE addition makes it:
    /// the carry of an infinite sum would be `inf - inf`, a NaN.
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if t.is_finite() {
            if self.sum.abs() >= x.abs() {
                self.carry += (self.sum - t) + x;
            } else {
                self.carry += (x - t) + self.sum;
            }
        }
        self.sum = t;
    }

    /// Adds another compensated sum (both parts).
    pub fn merge(&mut self, other: Sum) {
        self.add(other.sum);
        self.add(other.carry);
    }

    pub fn value(self) -> f64 {
        if self.sum.is_finite() {
            self.sum + self.carry
        } else {
            self.sum
        }
    }
}

/// Below this |u| the series are used: 12 terms leave a relative error under 1e-20.
const SERIES_CUTOFF: f64 = 0.05;

/// `sum_{n=2}^{13} s^n x^n / n!` for `s = +-1`, the tail of the exponential series.
fn exp_tail(x: f64, sign: f64) -> f64 {
    let mut term = x * x / 2.0;
    let mut acc = term;
    let sx = sign * x;
    for n in 3..=13 {
        term *= sx / f64::from(n);
        acc += term;
    }
    acc
}

/// `e^{-u} - 1 + u`, which is `1/r - 1 + ln r` for `u = ln r`; accurate for tiny `u`.
pub fn exp_neg_tail(u: f64) -> f64 {
    if u.abs() < SERIES_CUTOFF {
        exp_tail(u, -1.0)
    } else if u == f64::NEG_INFINITY {
        f64::INFINITY
    } else {
        (-u).exp_m1() + u
    }
}

/// `e^u - 1 - u`, which is `r - 1 - ln r` for `u = ln r`; accurate for tiny `u`.
pub fn exp_pos_tail(u: f64) -> f64 {
    if u.abs() < SERIES_CUTOFF {
        exp_tail(u, 1.0)
    } else if u == f64::NEG_INFINITY {
        f64::INFINITY
    } else {
        u.exp_m1() - u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_keeps_small_terms() {
        let mut s = Sum::new();
        s.add(1.0);
        for _ in 0..1000 {
            s.add(1e-17);
        }
        s.add(-1.0);
        assert!((s.value() - 1e-14).abs() < 1e-25, "{}", s.value());
    }

    #[test]
    fn an_infinite_term_makes_an_infinite_sum_not_nan() {
        let mut s = Sum::new();
        s.add(1.0);
        s.add(f64::INFINITY);
        s.add(1e-3);
        assert_eq!(s.value(), f64::INFINITY);
        let mut t = Sum::new();
        t.merge(s);
        t.add(2.0);
        assert_eq!(t.value(), f64::INFINITY);
    }

    #[test]
    fn tails_match_the_series_and_the_direct_form() {
        // Tiny u: the leading term u^2/2 dominates to relative 1e-12 at u = 1e-12.
        for u in [1e-12, -3e-9, 1e-5] {
            assert!((exp_neg_tail(u) / (u * u / 2.0) - 1.0).abs() < 1e-4);
            assert!((exp_pos_tail(u) / (u * u / 2.0) - 1.0).abs() < 1e-4);
        }
        // Both branches agree at the cutoff.
        for u in [0.049_999f64, -0.049_999] {
            let direct_neg = (-u).exp_m1() + u;
            let direct_pos = u.exp_m1() - u;
            assert!((exp_neg_tail(u) / direct_neg - 1.0).abs() < 1e-13);
            assert!((exp_pos_tail(u) / direct_pos - 1.0).abs() < 1e-13);
        }
        assert!((exp_neg_tail(2.0) - ((-2.0f64).exp() + 1.0)).abs() < 1e-15);
        assert_eq!(exp_neg_tail(f64::NEG_INFINITY), f64::INFINITY);
    }
}
