//! Double-double arithmetic, the number type of the stable evaluators diffsym emits.
//!
//! A [`Dd`] is an unevaluated sum `hi + lo` with `|lo| <= ulp(hi)/2`, about 106 bits. This
//! file is copied verbatim into every emitted module (as `mod dd`), so it uses std only and
//! is self-contained. Every function is accurate to far below an f64 ulp on the arguments
//! generated code gives it (|x| up to a few hundred for `exp`, up to about 1e6 for the
//! trigonometric functions); rounding the final `Dd` to f64 is then within an ulp of the
//! exact value even after the cancellations near t = 0 and t = 1 that plain f64 loses to.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// A double-double number `hi + lo`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dd {
    pub hi: f64,
    pub lo: f64,
}

/// `s + e == a + b` exactly.
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `s + e == a + b` exactly, given `|a| >= |b|`.
#[inline]
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// `p + e == a * b` exactly (fused multiply-add).
#[inline]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// pi as a double-double.
pub const PI: Dd = Dd::new(std::f64::consts::PI, 1.2246467991473532e-16);
/// pi/2 as a double-double.
pub const FRAC_PI_2: Dd = Dd::new(std::f64::consts::FRAC_PI_2, 6.123233995736766e-17);
/// ln 2 as a double-double.
pub const LN_2: Dd = Dd::new(std::f64::consts::LN_2, 2.3190468138462996e-17);

/// `1/n!` for `n = 2..=27`, each correctly rounded to a double-double.
const INV_FACT: [Dd; 26] = [
    Dd::new(0.5, 0.0),
    Dd::new(0.16666666666666666, 9.25185853854297e-18),
    Dd::new(0.041666666666666664, 2.3129646346357427e-18),
    Dd::new(0.008333333333333333, 1.1564823173178714e-19),
    Dd::new(0.001388888888888889, -5.300543954373577e-20),
    Dd::new(0.0001984126984126984, 1.7209558293420705e-22),
    Dd::new(2.48015873015873e-05, 2.1511947866775882e-23),
    Dd::new(2.7557319223985893e-06, -1.858393274046472e-22),
    Dd::new(2.755731922398589e-07, 2.3767714622250297e-23),
    Dd::new(2.505210838544172e-08, -1.448814070935912e-24),
    Dd::new(2.08767569878681e-09, -1.20734505911326e-25),
    Dd::new(1.6059043836821613e-10, 1.2585294588752098e-26),
    Dd::new(1.1470745597729725e-11, 2.0655512752830745e-28),
    Dd::new(7.647163731819816e-13, 7.03872877733453e-30),
    Dd::new(4.779477332387385e-14, 4.399205485834081e-31),
    Dd::new(2.8114572543455206e-15, 1.6508842730861433e-31),
    Dd::new(1.5619206968586225e-16, 1.1910679660273754e-32),
    Dd::new(8.22063524662433e-18, 2.2141894119604265e-34),
    Dd::new(4.110317623312165e-19, 1.4412973378659527e-36),
    Dd::new(1.9572941063391263e-20, -1.3643503830087908e-36),
    Dd::new(8.896791392450574e-22, -7.911402614872376e-38),
    Dd::new(3.868170170630684e-23, -8.843177655482344e-40),
    Dd::new(1.6117375710961184e-24, -3.6846573564509766e-41),
    Dd::new(6.446950284384474e-26, -1.9330404233703465e-42),
    Dd::new(2.4795962632247976e-27, -1.2953730964765229e-43),
    Dd::new(9.183689863795546e-29, 1.4303150396787322e-45),
];

/// `1/n!` as a double-double, `2 <= n <= 27`.
#[inline]
fn inv_fact(n: usize) -> Dd {
    INV_FACT[n - 2]
}

impl Dd {
    /// `hi + lo`; `hi` must be `hi + lo` rounded to f64.
    pub const fn new(hi: f64, lo: f64) -> Dd {
        Dd { hi, lo }
    }

    /// The f64 `x`, exactly.
    #[inline]
    pub const fn from_f64(x: f64) -> Dd {
        Dd { hi: x, lo: 0.0 }
    }

    /// The nearest f64 (non-finite values pass through).
    #[inline]
    pub fn to_f64(self) -> f64 {
        if self.hi.is_finite() {
            self.hi + self.lo
        } else {
            self.hi
        }
    }

    #[inline]
    fn renorm(hi: f64, lo: f64) -> Dd {
        let (s, e) = quick_two_sum(hi, lo);
        if s.is_finite() {
            Dd { hi: s, lo: e }
        } else {
            Dd { hi: s, lo: 0.0 }
        }
    }

    /// `self * 2^k` (exact unless the result leaves the normal range).
    pub fn ldexp(self, k: i32) -> Dd {
        let scale = |x: f64, k: i32| -> f64 {
            let mut x = x;
            let mut k = k;
            while k > 1000 {
                x *= f64::from_bits(((1000 + 1023) as u64) << 52);
                k -= 1000;
            }
            while k < -1000 {
                x *= f64::from_bits(((1023 - 1000) as u64) << 52);
                k += 1000;
            }
            x * f64::from_bits(((k + 1023) as u64) << 52)
        };
        Dd::renorm(scale(self.hi, k), scale(self.lo, k))
    }

    #[inline]
    pub fn abs(self) -> Dd {
        if self.hi < 0.0 { -self } else { self }
    }

    /// `self * x` for an f64 `x`.
    #[inline]
    pub fn mul_f64(self, x: f64) -> Dd {
        let (p, e) = two_prod(self.hi, x);
        Dd::renorm(p, self.lo.mul_add(x, e))
    }

    #[inline]
    pub fn square(self) -> Dd {
        self * self
    }

    pub fn recip(self) -> Dd {
        Dd::from_f64(1.0) / self
    }

    /// `self^n` by repeated squaring.
    pub fn powi(self, n: i32) -> Dd {
        let mut base = self;
        let mut e = n.unsigned_abs();
        let mut acc = Dd::from_f64(1.0);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * base;
            }
            e >>= 1;
            if e > 0 {
                base = base.square();
            }
        }
        if n < 0 { acc.recip() } else { acc }
    }

    pub fn sqrt(self) -> Dd {
        if self.hi <= 0.0 {
            return Dd::from_f64(self.hi.sqrt());
        }
        let y = self.hi.sqrt();
        let (p, e) = two_prod(y, y);
        let r = (self - Dd::new(p, e)).hi;
        Dd::renorm(y, r / (2.0 * y))
    }

    /// `self^p` for a non-integer exponent (the base must be `>= 0`).
    pub fn powf(self, p: Dd) -> Dd {
        if self.hi == 0.0 {
            return Dd::from_f64(0.0);
        }
        (self.ln() * p).exp()
    }

    /// `expm1` of a small argument (`|x| <= 0.36`): Taylor series of `x/1024`, then ten
    /// doublings `e(2x) = 2 e(x) + e(x)^2`, which keep the relative accuracy.
    fn expm1_small(self) -> Dd {
        let s = self.ldexp(-10);
        let mut p = inv_fact(10);
        for n in (2..10).rev() {
            p = p * s + inv_fact(n);
        }
        let mut e = s + s * s * p;
        for _ in 0..10 {
            e = e.ldexp(1) + e.square();
        }
        e
    }

    pub fn exp(self) -> Dd {
        if self.hi > 709.8 {
            return Dd::from_f64(f64::INFINITY);
        }
        if self.hi < -745.2 {
            return Dd::from_f64(0.0);
        }
        let k = (self.hi / std::f64::consts::LN_2).round();
        let r = self - LN_2.mul_f64(k);
        let e = r.expm1_small();
        (e + Dd::from_f64(1.0)).ldexp(k as i32)
    }

    pub fn exp_m1(self) -> Dd {
        if self.hi.abs() <= 0.34 {
            self.expm1_small()
        } else {
            self.exp() - Dd::from_f64(1.0)
        }
    }

    /// Natural logarithm: one Newton step `y + x e^-y - 1` from the f64 logarithm.
    pub fn ln(self) -> Dd {
        if self.hi <= 0.0 || !self.hi.is_finite() {
            return Dd::from_f64(self.hi.ln());
        }
        if (self.hi - 1.0).abs() < 0.25 {
            return (self - Dd::from_f64(1.0)).ln_1p();
        }
        let y = Dd::from_f64(self.hi.ln());
        y + (self * (-y).exp() - Dd::from_f64(1.0))
    }

    /// `ln(1 + x)`: one Newton step on `expm1` from the f64 `ln_1p`, accurate relative to
    /// the result however small `x` is.
    pub fn ln_1p(self) -> Dd {
        if self.hi.abs() >= 0.25 {
            return (self + Dd::from_f64(1.0)).ln();
        }
        let y = Dd::from_f64(self.hi.ln_1p());
        let e = y.exp_m1();
        y + (self - e) / (e + Dd::from_f64(1.0))
    }

    /// `(sin r, cos r)` for `|r| <= pi/4`, by their Taylor series in `u = r^2`.
    fn sin_cos_reduced(r: Dd) -> (Dd, Dd) {
        let u = r.square();
        let signed = |n: usize, k: usize| {
            if k % 2 == 1 {
                -inv_fact(n)
            } else {
                inv_fact(n)
            }
        };
        let mut q = signed(27, 13);
        let mut w = signed(26, 13);
        for k in (1..13).rev() {
            q = signed(2 * k + 1, k) + u * q;
            w = signed(2 * k, k) + u * w;
        }
        (r + r * u * q, Dd::from_f64(1.0) + u * w)
    }

    /// `(sin x, cos x)` with `x` reduced by a double-double pi/2.
    pub fn sin_cos(self) -> (Dd, Dd) {
        let k = (self.hi / std::f64::consts::FRAC_PI_2).round();
        let r = self - FRAC_PI_2.mul_f64(k);
        let (s, c) = Dd::sin_cos_reduced(r);
        match (k as i64).rem_euclid(4) {
            0 => (s, c),
            1 => (c, -s),
            2 => (-s, -c),
            _ => (-c, s),
        }
    }

    pub fn sin(self) -> Dd {
        self.sin_cos().0
    }

    pub fn cos(self) -> Dd {
        self.sin_cos().1
    }

    pub fn tan(self) -> Dd {
        let (s, c) = self.sin_cos();
        s / c
    }

    /// Arctangent: one Newton step on `tan` from the f64 arctangent, for `|x| <= 1`
    /// (beyond, `tan` is too steep for Newton: `atan x = pi/2 - atan(1/x)`).
    pub fn atan(self) -> Dd {
        if self.hi.abs() > 1.0 {
            let r = self.recip().atan();
            return if self.hi > 0.0 {
                FRAC_PI_2 - r
            } else {
                -FRAC_PI_2 - r
            };
        }
        let y = Dd::from_f64(self.hi.atan());
        let (s, c) = y.sin_cos();
        y + (self * c - s) * c
    }

    pub fn asin(self) -> Dd {
        let one = Dd::from_f64(1.0);
        let d = ((one - self) * (one + self)).sqrt();
        if d.hi == 0.0 {
            return if self.hi > 0.0 { FRAC_PI_2 } else { -FRAC_PI_2 };
        }
        (self / d).atan()
    }

    pub fn acos(self) -> Dd {
        let one = Dd::from_f64(1.0);
        if self.hi <= -1.0 {
            return PI;
        }
        ((one - self) / (one + self)).sqrt().atan().ldexp(1)
    }

    pub fn sinh(self) -> Dd {
        if self.hi.abs() > 0.5 {
            let e = self.exp();
            return (e - e.recip()).ldexp(-1);
        }
        let e = self.exp_m1();
        (e + e / (e + Dd::from_f64(1.0))).ldexp(-1)
    }

    pub fn cosh(self) -> Dd {
        let e = self.exp();
        (e + e.recip()).ldexp(-1)
    }

    pub fn tanh(self) -> Dd {
        if self.hi.abs() > 20.0 {
            return Dd::from_f64(self.hi.signum());
        }
        let e = self.ldexp(1).exp_m1();
        e / (e + Dd::from_f64(2.0))
    }

    /// `1/(1 + e^-x)`, without overflow.
    pub fn sigmoid(self) -> Dd {
        let one = Dd::from_f64(1.0);
        if self.hi >= 0.0 {
            one / (one + (-self).exp())
        } else {
            let e = self.exp();
            e / (one + e)
        }
    }
}

impl Neg for Dd {
    type Output = Dd;
    #[inline]
    fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl Add for Dd {
    type Output = Dd;
    #[inline]
    fn add(self, b: Dd) -> Dd {
        let (s, e) = two_sum(self.hi, b.hi);
        let (t, f) = two_sum(self.lo, b.lo);
        let (s, e) = quick_two_sum(s, e + t);
        Dd::renorm(s, e + f)
    }
}

impl Sub for Dd {
    type Output = Dd;
    #[inline]
    fn sub(self, b: Dd) -> Dd {
        self + -b
    }
}

impl Mul for Dd {
    type Output = Dd;
    #[inline]
    fn mul(self, b: Dd) -> Dd {
        let (p, e) = two_prod(self.hi, b.hi);
        Dd::renorm(p, e + (self.hi * b.lo + self.lo * b.hi))
    }
}

impl Div for Dd {
    type Output = Dd;
    #[inline]
    fn div(self, b: Dd) -> Dd {
        let q1 = self.hi / b.hi;
        if !q1.is_finite() || b.hi == 0.0 {
            return Dd::from_f64(q1);
        }
        let r = self - b.mul_f64(q1);
        let q2 = r.hi / b.hi;
        let r = r - b.mul_f64(q2);
        let q3 = r.hi / b.hi;
        let (q1, q2) = quick_two_sum(q1, q2);
        Dd::new(q1, q2) + Dd::from_f64(q3)
    }
}
