//! Double-double arithmetic, the number type of the stable evaluators diffsym emits.
//!
//! A [`Dd`] is an unevaluated sum `hi + lo` with `|lo| <= ulp(hi)/2`, about 106 bits. This
//! file is copied verbatim into every emitted module (as `mod dd`), so it uses std only and
//! is self-contained. Every function is accurate to far below an f64 ulp on the arguments
//! generated code gives it (|x| up to a few hundred for `exp`, up to about 1e6 for the
//! trigonometric functions); rounding the final `Dd` to f64 is then within an ulp of the
//! exact value even after the cancellations near t = 0 and t = 1 that plain f64 loses to.
//!
//! An [`Xd`] is a `Dd` with an exponent of its own, for the tiny times where `t^2` or
//! `1/sigma^2` leave the range of f64. Emitted bodies are generic over a pair of these
//! types ([`Narrow`]): `f64` for most operations and `Dd` for those the module's accuracy
//! budget needs, and, where the form needs it, `Xd` for all when [`ordinary`] says that
//! result may not stand.
//!
//! Length: over 700 lines because it ships as one module (`mod dd`) of every emitted file.

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

/// `p + e == a * b` exactly (barring underflow): by a fused multiply-add where the target
/// has one in hardware, else by Dekker's splitting (without the target feature, `mul_add`
/// is a call into libm's `fma` for every product).
#[inline]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    if cfg!(target_feature = "fma") {
        return (p, a.mul_add(b, -p));
    }
    if !p.is_finite() {
        return (p, 0.0);
    }
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
}

/// `a` as `hi + lo` with `hi` of at most 26 significant bits (Dekker), scaled where
/// `2^27 a` would overflow.
#[inline]
fn split(a: f64) -> (f64, f64) {
    const SPLITTER: f64 = 134_217_729.0; // 2^27 + 1
    const BIG: f64 = 6.696928794914171e299; // 2^996
    if a.abs() > BIG {
        let s = a * 3.725290298461914e-9; // 2^-28
        let c = SPLITTER * s;
        let hi = c - (c - s);
        (hi * 268_435_456.0, (s - hi) * 268_435_456.0)
    } else {
        let c = SPLITTER * a;
        let hi = c - (c - a);
        (hi, a - hi)
    }
}

/// pi as a double-double.
pub const PI: Dd = Dd::new(std::f64::consts::PI, 1.2246467991473532e-16);
/// pi/2 as a double-double.
pub const FRAC_PI_2: Dd = Dd::new(std::f64::consts::FRAC_PI_2, 6.123233995736766e-17);
/// ln 2 as a double-double.
pub const LN_2: Dd = Dd::new(std::f64::consts::LN_2, 2.3190468138462996e-17);

/// ln 2/64 as a double-double (`LN_2` scaled, exactly).
const LN_2_64: Dd = Dd::new(0.010830424696249145, 3.623510646634843e-19);

/// The largest argument [`Dd::exp_m1`] takes its series of directly: ln 2/128 and some.
const TINY_EXP: f64 = 0.0055;

/// Where `|tan(hi) lo|` and `|lo|` are below this, `Narrow::tan_of` corrects `tan(hi)` to
/// first order in `lo`.
pub const TAN_FIRST_ORDER: f64 = 1.1641532182693481e-10; // 2^-33

/// `2^(j/64)` for `j = 0..64`, each correctly rounded to a double-double (mpmath, 300
/// bits).
const EXP2_64: [Dd; 64] = [
    Dd::new(1.0, 0.0),
    Dd::new(1.0108892860517005, -1.5234778603368577e-17),
    Dd::new(1.0218971486541166, 5.109225028973444e-17),
    Dd::new(1.0330248790212284, 7.600838874027088e-18),
    Dd::new(1.0442737824274138, 8.551889705537965e-17),
    Dd::new(1.0556451783605572, 1.759325738772092e-18),
    Dd::new(1.0671404006768237, -7.899853966841582e-17),
    Dd::new(1.0787607977571199, -6.656660436056593e-17),
    Dd::new(1.0905077326652577, -3.046782079812471e-17),
    Dd::new(1.102382583307841, 5.2660368715706944e-17),
    Dd::new(1.1143867425958924, 1.0410278456845571e-16),
    Dd::new(1.1265216186082418, 5.165856758795457e-17),
    Dd::new(1.1387886347566916, 8.912812676025408e-17),
    Dd::new(1.1511892299529827, 3.250710218863827e-17),
    Dd::new(1.1637248587775775, 3.8292048369240935e-17),
    Dd::new(1.1763969916502812, 5.554203254218079e-17),
    Dd::new(1.189207115002721, 3.982015231465646e-17),
    Dd::new(1.202156731452703, 6.644981499252301e-17),
    Dd::new(1.215247359980469, -7.712630692681488e-17),
    Dd::new(1.22848053610687, -1.89878163130253e-17),
    Dd::new(1.241857812073484, 4.658027591836937e-17),
    Dd::new(1.255380757024691, -6.7113898212968784e-18),
    Dd::new(1.2690509571917332, 2.667932131342186e-18),
    Dd::new(1.2828700160787783, 1.713594918243561e-17),
    Dd::new(1.2968395546510096, 2.5382502794888315e-17),
    Dd::new(1.3109612115247644, -7.181536135519454e-17),
    Dd::new(1.3252366431597413, -2.8587312100388614e-17),
    Dd::new(1.339667524053303, 8.927282594831732e-17),
    Dd::new(1.3542555469368927, 7.70094837980299e-17),
    Dd::new(1.3690024229745905, 9.593797919118849e-17),
    Dd::new(1.383909881963832, -6.770511658794786e-17),
    Dd::new(1.3989796725383112, -9.614213209051323e-17),
    Dd::new(std::f64::consts::SQRT_2, -9.667293313452913e-17),
    Dd::new(1.42961333839197, -1.2031642489053655e-17),
    Dd::new(1.4451808069770467, -3.0237581349939873e-17),
    Dd::new(1.460917794180647, -5.600377186075216e-17),
    Dd::new(1.4768261459394993, -3.483994556892796e-17),
    Dd::new(1.4929077282912648, 1.4192920154284036e-17),
    Dd::new(1.5091644275934228, -1.016455327754295e-16),
    Dd::new(1.5255981507445384, -1.1024941712342561e-16),
    Dd::new(1.5422108254079407, 7.949834809697621e-17),
    Dd::new(1.559004400237837, 3.7812070533575275e-17),
    Dd::new(1.5759808451078865, -1.0136916471278304e-17),
    Dd::new(1.593142151342267, -1.0094406542311964e-16),
    Dd::new(1.6104903319492543, 2.4707192569797888e-17),
    Dd::new(1.6280274218573478, -6.712955084707084e-17),
    Dd::new(1.645755478153965, -1.0125679913674773e-16),
    Dd::new(1.6636765803267364, 5.8909926967131e-17),
    Dd::new(1.681792830507429, 8.199010020581497e-17),
    Dd::new(1.7001063537185235, -8.0237193703977e-18),
    Dd::new(1.718619298122478, -1.851380418263111e-17),
    Dd::new(1.7373338352737062, 3.164389299292957e-17),
    Dd::new(1.7562521603732995, 2.960140695448873e-17),
    Dd::new(1.7753764925265212, 6.429731796556572e-17),
    Dd::new(1.7947090750031072, 1.8227458427912087e-17),
    Dd::new(1.8142521755003989, -9.969531538920349e-17),
    Dd::new(1.8340080864093424, 3.283107224245627e-17),
    Dd::new(1.8539791250833855, 9.761887490727594e-17),
    Dd::new(1.8741676341103, -6.122763413004143e-17),
    Dd::new(1.8945759815869656, 3.4034035352165297e-17),
    Dd::new(1.9152065613971474, -1.0619946056195963e-16),
    Dd::new(1.9360617934922943, 1.0332385960676326e-16),
    Dd::new(1.9571441241754002, 8.960767791036668e-17),
    Dd::new(1.978456026387951, 4.0388753109278167e-17),
];

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

/// The first terms of the series of `sin` and `cos` in `u = r^2` ([`Dd::sin_cos_reduced`])
/// that are summed in f64: `u^8/17!` and `u^9/18!` are below `2^-53` of the value.
const SIN_TAIL: usize = 8;
const COS_TAIL: usize = 9;

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
        Dd::renorm_or(hi, lo, hi)
    }

    /// [`Dd::renorm`], where a result that is not finite is `ieee`, the operation on the
    /// leading parts alone: an infinite operand's error term is `inf - inf`, so `2 *
    /// -inf` would otherwise come out NaN (`log(tan(0))` in a formula at t = 0).
    #[inline]
    fn renorm_or(hi: f64, lo: f64, ieee: f64) -> Dd {
        let (s, e) = quick_two_sum(hi, lo);
        if s.is_finite() {
            Dd { hi: s, lo: e }
        } else if ieee.is_finite() {
            Dd { hi: s, lo: 0.0 }
        } else {
            Dd { hi: ieee, lo: 0.0 }
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
        let hi = scale(self.hi, k);
        if !hi.is_finite() {
            // Beyond the range of f64 the low part may overflow with the other sign:
            // `inf + -inf` would be NaN.
            return Dd::from_f64(hi);
        }
        Dd::renorm(hi, scale(self.lo, k))
    }

    #[inline]
    pub fn abs(self) -> Dd {
        if self.hi < 0.0 { -self } else { self }
    }

    /// `self * x` for an f64 `x`.
    #[inline]
    pub fn mul_f64(self, x: f64) -> Dd {
        let (p, e) = two_prod(self.hi, x);
        Dd::renorm(p, self.lo * x + e)
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
        powi_by_squaring(self, n)
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

    /// `self + b` where `|b| <= |self|/2` or `self.hi == 0` (no cancellation, and
    /// `self.hi` leads): one error-free sum where [`Add`] takes two.
    #[inline]
    fn add_small(self, b: Dd) -> Dd {
        let (s, e) = quick_two_sum(self.hi, b.hi);
        Dd::renorm(s, e + (self.lo + b.lo))
    }

    /// `expm1` of a tiny argument (`|x| <= 0.0055`, a little more than ln 2/128):
    /// `expm1(hi)` by its Taylor series to `hi^11` (the next term is below 2^-106 of the
    /// sum), the terms to `hi^5` in double-double (each Horner step a product by the f64
    /// `hi` and a sum that the constant leads) and the rest, below 2^-53 of the sum, in
    /// f64; then `lo` to first order, `expm1(hi + lo) = expm1(hi) + e^hi lo` (the next
    /// term is below 2^-110 of the value).
    fn expm1_tiny(self) -> Dd {
        let x = self.hi;
        let mut rest = inv_fact(11).hi;
        for n in (6..11).rev() {
            rest = rest * x + inv_fact(n).hi;
        }
        let rest = rest * x;
        let mut h = inv_fact(5).add_small(Dd::from_f64(rest));
        for n in [4, 3, 2] {
            h = inv_fact(n).add_small(h.mul_f64(x));
        }
        let (sq, sq_lo) = two_prod(x, x);
        let e = Dd::from_f64(x).add_small(Dd::new(sq, sq_lo) * h);
        e.add_small(Dd::from_f64(self.lo * (1.0 + e.hi)))
    }

    /// `e^x = 2^m 2^(j/64) e^r` with `x = (64 m + j) ln 2/64 + r`, `|r| <= ln 2/128`:
    /// a table of the 64 values `2^(j/64)` and a short series, no repeated squaring.
    pub fn exp(self) -> Dd {
        if self.hi > 709.8 {
            return Dd::from_f64(f64::INFINITY);
        }
        if self.hi < -745.2 {
            return Dd::from_f64(0.0);
        }
        let n = (self.hi * (64.0 / std::f64::consts::LN_2)).round();
        let r = self - LN_2_64.mul_f64(n);
        let n = n as i64;
        let j = n.rem_euclid(64);
        let t = EXP2_64[j as usize];
        let e = r.expm1_tiny();
        t.add_small(t * e).ldexp(((n - j) / 64) as i32)
    }

    pub fn exp_m1(self) -> Dd {
        if self.hi.abs() <= TINY_EXP {
            self.expm1_tiny()
        } else {
            // |e^x - 1| > 0.0054: at most eight bits lost to the subtraction.
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

    /// `(sin r, cos r)` for `|r| <= pi/4`, by their Taylor series in `u = r^2` (to
    /// `u^13`). With `u <= 0.62`, the terms from `u^8` on in `sin` (`u^9` in `cos`) are
    /// below `2^-53` of the first: they are summed in f64, whose rounding is then below
    /// `2^-105` of the value, and only the terms before them in double-double.
    fn sin_cos_reduced(r: Dd) -> (Dd, Dd) {
        let u = r.square();
        let signed = |n: usize, k: usize| {
            if k % 2 == 1 {
                -inv_fact(n)
            } else {
                inv_fact(n)
            }
        };
        // q = sum_k (-1)^k u^(k-1)/(2k+1)!, w = sum_k (-1)^k u^(k-1)/(2k)!, k = 1..=13.
        let tail = |first: usize, n: fn(usize) -> usize| {
            (first..13).rev().fold(signed(n(13), 13).hi, |acc, k| {
                signed(n(k), k).hi + u.hi * acc
            })
        };
        // One loop for both, so that their chains of dependent operations overlap.
        let mut q = Dd::from_f64(tail(SIN_TAIL, |k| 2 * k + 1));
        let mut w = Dd::from_f64(tail(COS_TAIL, |k| 2 * k));
        for k in (1..COS_TAIL).rev() {
            w = signed(2 * k, k) + u * w;
            if k < SIN_TAIL {
                q = signed(2 * k + 1, k) + u * q;
            }
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

    /// Itself where `hi` is within [`RANGE`] in magnitude, else NaN (`Real::in_range`).
    #[inline]
    pub fn in_range(self) -> Dd {
        if within_range(self.hi) {
            self
        } else {
            Dd::from_f64(f64::NAN)
        }
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
        let (r, e) = quick_two_sum(s, e + t);
        Dd::renorm_or(r, e + f, s)
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
        Dd::renorm_or(p, e + (self.hi * b.lo + self.lo * b.hi), p)
    }
}

impl Div for Dd {
    type Output = Dd;
    /// One correction of the f64 quotient `q = hi/b.hi`: `self - b q` has the exact
    /// leading part `hi - (b q).hi` (the two agree to within an ulp of each other), and
    /// its quotient by `b.hi` is the rest. Relative error below `15 2^-106` (Joldes,
    /// Muller and Popescu, "Tight and rigorous error bounds for basic building blocks of
    /// double-word arithmetic", 2017, Algorithm 17), at a third of the cost of three
    /// quotients.
    #[inline]
    fn div(self, b: Dd) -> Dd {
        let q = self.hi / b.hi;
        // A zero or infinite quotient or divisor has no error term: `b q` would be
        // `inf * 0`, NaN, for a finite `self` over an infinite `b`.
        if !q.is_finite() || q == 0.0 || !b.hi.is_finite() {
            return Dd::from_f64(q);
        }
        let r = b.mul_f64(q);
        let d = (self.hi - r.hi) + (self.lo - r.lo);
        Dd::renorm(q, d / b.hi)
    }
}

/// The operations emitted code performs, implemented by `f64` and [`Dd`] (the fast paths,
/// chosen per function by the accuracy budget) and by
/// [`Xd`] (the same precision with an exponent range of its own, for the times where
/// intermediate values of a formula leave the range of f64: `t^2` at `t = 1e-200`).
/// An emitted function's body is written once, generic over this trait.
pub trait Real:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// The double-double constant `hi + lo`.
    fn new(hi: f64, lo: f64) -> Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn abs(self) -> Self;
    fn square(self) -> Self;
    fn powi(self, n: i32) -> Self;
    fn sqrt(self) -> Self;
    fn powf(self, p: Self) -> Self;
    fn exp(self) -> Self;
    fn exp_m1(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn tanh(self) -> Self;
    fn sigmoid(self) -> Self;
    /// Itself where its magnitude is within [`RANGE`], else NaN. Emitted code applies it
    /// to the exponentials that can leave that range inside the domain (an exponent of
    /// -1500 t): NaN reaches the outputs, [`ordinary`] rejects them, and the function
    /// computes again in [`Xd`], which has no such range, instead of dividing by a
    /// subnormal. Always itself in `Xd`.
    fn in_range(self) -> Self;
}

/// The magnitudes `Real::in_range` lets pass on the fast path: from 2^-900 (a
/// double-double's low word is then still a normal number, and a product with a value of
/// order 2^-100 too) to 2^900.
pub const RANGE: (f64, f64) = (1.1830521861667747e-271, 8.452712498170644e+270);

/// Whether `x` is within [`RANGE`] in magnitude (false for NaN).
#[inline]
fn within_range(x: f64) -> bool {
    (RANGE.0..=RANGE.1).contains(&x.abs())
}

/// `x^n` by repeated squaring, in either number type.
fn powi_by_squaring<R: Copy + Mul<Output = R> + Div<Output = R> + From<f64>>(x: R, n: i32) -> R {
    let mut base = x;
    let mut e = n.unsigned_abs();
    let mut acc = R::from(1.0);
    while e > 0 {
        if e & 1 == 1 {
            acc = acc * base;
        }
        e >>= 1;
        if e > 0 {
            base = base * base;
        }
    }
    if n < 0 { R::from(1.0) / acc } else { acc }
}

impl From<f64> for Dd {
    fn from(x: f64) -> Dd {
        Dd::from_f64(x)
    }
}

impl From<f64> for Xd {
    fn from(x: f64) -> Xd {
        Xd::from_f64(x)
    }
}

/// Implements [`Real`] by the inherent methods of the same names.
macro_rules! real_by_inherent {
    ($t:ty) => {
        impl Real for $t {
            #[inline]
            fn new(hi: f64, lo: f64) -> Self {
                <$t>::new(hi, lo)
            }
            #[inline]
            fn from_f64(x: f64) -> Self {
                <$t>::from_f64(x)
            }
            #[inline]
            fn to_f64(self) -> f64 {
                <$t>::to_f64(self)
            }
            real_by_inherent!(@unary $t; abs square sqrt exp exp_m1 ln ln_1p sin cos tan asin acos atan sinh cosh tanh sigmoid in_range);
            #[inline]
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            #[inline]
            fn powf(self, p: Self) -> Self {
                <$t>::powf(self, p)
            }
        }
    };
    (@unary $t:ty; $($f:ident)*) => {
        $(
            #[inline]
            fn $f(self) -> Self {
                <$t>::$f(self)
            }
        )*
    };
}

real_by_inherent!(Dd);
real_by_inherent!(Xd);

/// Plain f64: the cheapest form, for formulas whose stable rewrites already leave no
/// cancellation, so that rounding each operation once stays within the accuracy budget.
impl Real for f64 {
    /// `hi`, the correctly rounded constant (`lo` is below half an ulp of it).
    #[inline]
    fn new(hi: f64, _lo: f64) -> Self {
        hi
    }
    #[inline]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn square(self) -> Self {
        self * self
    }
    #[inline]
    fn powi(self, n: i32) -> Self {
        f64::powi(self, n)
    }
    #[inline]
    fn powf(self, p: Self) -> Self {
        f64::powf(self, p)
    }
    /// `1/(1 + e^-x)`: within 1.5 ulps wherever `e^-x` is finite; below x = -709 it is
    /// 0, which [`ordinary`] sends to [`Xd`].
    #[inline]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline]
    fn in_range(self) -> Self {
        if within_range(self) { self } else { f64::NAN }
    }
    real_by_inherent!(@unary f64; abs sqrt exp exp_m1 ln ln_1p sin cos tan asin acos atan sinh cosh tanh);
}

/// The narrow number type of a computation whose wide type is `W`: an emitted body runs
/// most operations in the narrow type and the few that the accuracy budget needs in the
/// wide one (`f64` and [`Dd`] on the fast path; [`Xd`] for both on the wide-range path).
/// A wide value used by a narrow operation is rounded, except as the argument of the
/// functions below, which take the part the narrow type cannot hold into account to first
/// order: `f(hi + lo) = f(hi) + f'(hi) lo`. Each comes twice: `_of`, that sum rounded to
/// the narrow type, and `_kept`, the sum kept in the wide type (for a value only wide
/// operations use: the narrow function's own error, and no rounding after it).
pub trait Narrow<W: Real>: Real {
    /// The same value in the wide type (exact).
    fn widen(self) -> W;
    /// `w` rounded to the narrow type.
    fn narrow(w: W) -> Self;
    fn exp_kept(w: W) -> W {
        Self::narrow(w).exp().widen()
    }
    fn exp_m1_kept(w: W) -> W {
        Self::narrow(w).exp_m1().widen()
    }
    fn ln_kept(w: W) -> W {
        Self::narrow(w).ln().widen()
    }
    fn ln_1p_kept(w: W) -> W {
        Self::narrow(w).ln_1p().widen()
    }
    fn sqrt_kept(w: W) -> W {
        Self::narrow(w).sqrt().widen()
    }
    fn sin_kept(w: W) -> W {
        Self::narrow(w).sin().widen()
    }
    fn cos_kept(w: W) -> W {
        Self::narrow(w).cos().widen()
    }
    fn tan_kept(w: W) -> W {
        Self::narrow(w).tan().widen()
    }
    fn atan_kept(w: W) -> W {
        Self::narrow(w).atan().widen()
    }
    fn tanh_kept(w: W) -> W {
        Self::narrow(w).tanh().widen()
    }
    fn sigmoid_kept(w: W) -> W {
        Self::narrow(w).sigmoid().widen()
    }
    fn exp_of(w: W) -> Self {
        Self::narrow(Self::exp_kept(w))
    }
    fn exp_m1_of(w: W) -> Self {
        Self::narrow(Self::exp_m1_kept(w))
    }
    fn ln_of(w: W) -> Self {
        Self::narrow(Self::ln_kept(w))
    }
    fn ln_1p_of(w: W) -> Self {
        Self::narrow(Self::ln_1p_kept(w))
    }
    fn sqrt_of(w: W) -> Self {
        Self::narrow(Self::sqrt_kept(w))
    }
    fn sin_of(w: W) -> Self {
        Self::narrow(Self::sin_kept(w))
    }
    fn cos_of(w: W) -> Self {
        Self::narrow(Self::cos_kept(w))
    }
    fn tan_of(w: W) -> Self {
        Self::narrow(Self::tan_kept(w))
    }
    fn atan_of(w: W) -> Self {
        Self::narrow(Self::atan_kept(w))
    }
    fn tanh_of(w: W) -> Self {
        Self::narrow(Self::tanh_kept(w))
    }
    fn sigmoid_of(w: W) -> Self {
        Self::narrow(Self::sigmoid_kept(w))
    }
}

/// One type as both: every conversion is the identity and every function its own.
macro_rules! narrow_is_wide {
    ($t:ty) => {
        impl Narrow<$t> for $t {
            #[inline]
            fn widen(self) -> $t {
                self
            }
            #[inline]
            fn narrow(w: $t) -> $t {
                w
            }
        }
    };
}

narrow_is_wide!(f64);
narrow_is_wide!(Dd);
narrow_is_wide!(Xd);

/// `f + c` as a double-double: `f` an f64 function's value and `c` its first-order
/// correction (either may be the larger, next to a zero of the function). An infinite `f`
/// stands as it is: `exp` of a double-double beyond 709.8 with a negative low part would
/// otherwise be `inf - inf`.
#[inline]
fn corrected(f: f64, c: f64) -> Dd {
    if f.is_infinite() {
        return Dd { hi: f, lo: 0.0 };
    }
    let (s, e) = two_sum(f, c);
    if s.is_finite() {
        Dd { hi: s, lo: e }
    } else {
        Dd { hi: s, lo: 0.0 }
    }
}

/// The `_of` functions are the `_kept` ones rounded: `f + c` in f64, bit for bit.
impl Narrow<Dd> for f64 {
    #[inline]
    fn widen(self) -> Dd {
        Dd::from_f64(self)
    }
    #[inline]
    fn narrow(w: Dd) -> f64 {
        w.to_f64()
    }
    #[inline]
    fn exp_kept(w: Dd) -> Dd {
        let e = w.hi.exp();
        corrected(e, e * w.lo)
    }
    #[inline]
    fn exp_m1_kept(w: Dd) -> Dd {
        let m = w.hi.exp_m1();
        corrected(m, (m + 1.0) * w.lo)
    }
    #[inline]
    fn ln_kept(w: Dd) -> Dd {
        corrected(w.hi.ln(), w.lo / w.hi)
    }
    #[inline]
    fn ln_1p_kept(w: Dd) -> Dd {
        corrected(w.hi.ln_1p(), w.lo / (1.0 + w.hi))
    }
    #[inline]
    fn sqrt_kept(w: Dd) -> Dd {
        let s = w.hi.sqrt();
        if s > 0.0 {
            corrected(s, w.lo / (2.0 * s))
        } else {
            Dd::from_f64(s)
        }
    }
    /// libm's `sin` and `cos` reduce their argument exactly, so near a zero the value is
    /// accurate relative to itself, and the first-order term supplies what `hi` lacks
    /// (`cos(pi t/2)` near t = 1).
    #[inline]
    fn sin_kept(w: Dd) -> Dd {
        corrected(w.hi.sin(), w.hi.cos() * w.lo)
    }
    #[inline]
    fn cos_kept(w: Dd) -> Dd {
        corrected(w.hi.cos(), -(w.hi.sin() * w.lo))
    }
    /// `tan(hi) + (1 + tan(hi)^2) lo` while `tan(hi) lo` and `lo` are below
    /// [`TAN_FIRST_ORDER`], where the next term, `tan (1 + tan^2) lo^2`, is below `2^-65`
    /// of the value; nearer a pole, `tan(a + b) = (tan a + tan b)/(1 - tan a tan b)` with
    /// `tan lo = lo`, exact to `lo^3` however close `hi` is to it (three roundings more,
    /// kept or not).
    #[inline]
    fn tan_kept(w: Dd) -> Dd {
        let t = w.hi.tan();
        if (t * w.lo).abs() < TAN_FIRST_ORDER && w.lo.abs() < TAN_FIRST_ORDER {
            corrected(t, (1.0 + t * t) * w.lo)
        } else {
            Dd::from_f64((t + w.lo) / (1.0 - t * w.lo))
        }
    }
    #[inline]
    fn atan_kept(w: Dd) -> Dd {
        corrected(w.hi.atan(), w.lo / (1.0 + w.hi * w.hi))
    }
    /// `tanh(hi) + (1 - tanh(hi)^2) lo`: `|tanh| <= 1`, so the next term is below
    /// `lo^2`.
    #[inline]
    fn tanh_kept(w: Dd) -> Dd {
        let t = w.hi.tanh();
        corrected(t, (1.0 - t * t) * w.lo)
    }
    #[inline]
    fn sigmoid_kept(w: Dd) -> Dd {
        let s = Real::sigmoid(w.hi);
        corrected(s, s * (1.0 - s) * w.lo)
    }
}

/// Whether a result computed in `f64` or [`Dd`] can be trusted as it is: every time argument is
/// 0 or at least 2^-24 (below, powers of t and 1/t soon leave the range of f64), and
/// every value is a finite normal f64. Otherwise the emitted function computes again in
/// [`Xd`], which has no such range.
#[inline]
pub fn ordinary(times: &[f64], values: &[f64]) -> bool {
    const TINY: f64 = 5.960464477539063e-8; // 2^-24
    times.iter().all(|t| *t == 0.0 || t.abs() >= TINY) && values.iter().all(|v| v.is_normal())
}

/// The limit of a field `sum c_i v_i` at an end where some coefficients `c_i` are
/// infinite. `pole` holds the directions `k` there (`c_i ~ k_i M` with `M -> +inf`, 0
/// for a coefficient of lower order), then the finite coefficients' values at the end
/// (0 for the others); `infinite[i]` is the infinity `c_i` tends to, or 0 where it is
/// finite. The sum tends to the infinity of the sign of `sum k_i v_i` (formed without
/// overflow or cancellation). Where that is 0 because every input with `k_i != 0` is 0,
/// the sum is what the other terms make of it ([`at_pole`]'s coefficients, terms with
/// `v_i = 0` left out). Otherwise it is `0 * inf`, undefined: NaN.
pub fn pole_sum(pole: &[f64], infinite: &[f64], v: &[f64]) -> f64 {
    let n = v.len();
    let k = &pole[..n];
    let s = k
        .iter()
        .zip(v)
        .fold(Xd::from_f64(0.0), |s, (&k, &v)| {
            s + Xd::from_f64(k) * Xd::from_f64(v)
        })
        .m
        .hi;
    if s > 0.0 {
        f64::INFINITY
    } else if s < 0.0 {
        f64::NEG_INFINITY
    } else if k.iter().zip(v).all(|(&k, &v)| k == 0.0 || v == 0.0) {
        (0..n)
            .filter(|&i| v[i] != 0.0)
            .map(|i| at_pole_one(pole, infinite, i) * v[i])
            .sum()
    } else {
        f64::NAN
    }
}

/// A field `sum c_i v_i` whose coefficients `c` leave the range of f64 where they are
/// finite (`1/t^2` at t = 1e-300): summed in [`Xd`], the terms with `v_i = 0` left out (0,
/// not `inf * 0`), then rounded (an infinity beyond f64).
pub fn wide_sum(c: &[Xd], v: &[f64]) -> f64 {
    c.iter()
        .zip(v)
        .filter(|(_, v)| **v != 0.0)
        .fold(Xd::from_f64(0.0), |s, (&c, &v)| s + c * Xd::from_f64(v))
        .to_f64()
}

/// A field's coefficients at a pole ([`pole_sum`]'s `pole` and `infinite`): the
/// infinity a coefficient tends to, or its finite value there.
pub fn at_pole<const N: usize>(pole: &[f64], infinite: [f64; N]) -> [f64; N] {
    std::array::from_fn(|i| at_pole_one(pole, &infinite, i))
}

/// Coefficient `i` of [`at_pole`].
fn at_pole_one(pole: &[f64], infinite: &[f64], i: usize) -> f64 {
    if infinite[i] == 0.0 {
        pole[infinite.len() + i]
    } else {
        infinite[i]
    }
}

/// The exponent `k` of `x = f * 2^k`, `0.5 <= |f| < 1`, for a finite nonzero `x`.
fn frexp_exponent(x: f64) -> i64 {
    let bits = (x.to_bits() >> 52) & 0x7ff;
    if bits == 0 {
        // Subnormal: scale into the normal range first.
        frexp_exponent(x * 18446744073709551616.0) - 64
    } else {
        bits as i64 - 1022
    }
}

/// Exponents beyond this saturate to 0 or infinity: far outside anything an f64 result
/// can come back from, and small enough that sums of exponents never overflow.
const XD_EXPONENT_LIMIT: i64 = 1 << 40;

/// A double-double with an exponent of its own: `m * 2^e` with `0.5 <= |m.hi| < 1`, or
/// `m` zero or non-finite and `e = 0`. It has [`Dd`]'s precision and no practical range
/// limit, so `t^2`, `expm1(-12 t^2)` and `1/sigma^2` at `t = 1e-300` are values, not 0
/// and infinity. Functions reduce to [`Dd`] on arguments within its range and use their
/// leading Taylor terms (accurate far below 2^-106) on arguments below 2^-60.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Xd {
    m: Dd,
    e: i64,
}

impl Xd {
    /// `m * 2^e`, normalised.
    fn norm(m: Dd, e: i64) -> Xd {
        if m.hi == 0.0 || !m.hi.is_finite() {
            return Xd { m, e: 0 };
        }
        let k = frexp_exponent(m.hi);
        let e = e.saturating_add(k);
        if e > XD_EXPONENT_LIMIT {
            return Xd::from_dd(Dd::from_f64(f64::INFINITY.copysign(m.hi)));
        }
        if e < -XD_EXPONENT_LIMIT {
            return Xd::from_dd(Dd::from_f64(0.0f64.copysign(m.hi)));
        }
        Xd {
            m: m.ldexp(-k as i32),
            e,
        }
    }

    fn from_dd(x: Dd) -> Xd {
        Xd::norm(x, 0)
    }

    pub fn new(hi: f64, lo: f64) -> Xd {
        Xd::from_dd(Dd::new(hi, lo))
    }

    pub fn from_f64(x: f64) -> Xd {
        Xd::from_dd(Dd::from_f64(x))
    }

    /// The value as a [`Dd`] (0 or infinite beyond its range).
    pub fn to_dd(self) -> Dd {
        self.m.ldexp(self.e.clamp(-2200, 2200) as i32)
    }

    /// The nearest f64: an infinity above its range, a zero below.
    pub fn to_f64(self) -> f64 {
        self.to_dd().to_f64()
    }

    fn is_zero(self) -> bool {
        self.m.hi == 0.0
    }

    fn is_finite(self) -> bool {
        self.m.hi.is_finite()
    }

    /// `|self| < 2^-60`, so that two Taylor terms are exact to double-double precision
    /// (zero included).
    fn is_tiny(self) -> bool {
        self.e < -60 || self.is_zero()
    }

    /// `|self| >= 2^k` (for finite values).
    fn at_least_pow2(self, k: i64) -> bool {
        !self.is_zero() && self.e > k
    }

    fn ldexp(self, k: i64) -> Xd {
        Xd::norm(self.m, self.e.saturating_add(k))
    }

    fn mul_f64(self, x: f64) -> Xd {
        Xd::norm(self.m.mul_f64(x), self.e)
    }

    fn one() -> Xd {
        Xd::from_f64(1.0)
    }

    pub fn abs(self) -> Xd {
        Xd {
            m: self.m.abs(),
            e: self.e,
        }
    }

    pub fn square(self) -> Xd {
        self * self
    }

    pub fn recip(self) -> Xd {
        Xd::one() / self
    }

    pub fn powi(self, n: i32) -> Xd {
        powi_by_squaring(self, n)
    }

    pub fn sqrt(self) -> Xd {
        if self.m.hi <= 0.0 || !self.is_finite() {
            return Xd::from_dd(self.m.sqrt());
        }
        // An even exponent halves exactly.
        let (m, e) = if self.e % 2 == 0 {
            (self.m, self.e)
        } else {
            (self.m.ldexp(1), self.e - 1)
        };
        Xd::norm(m.sqrt(), e / 2)
    }

    pub fn powf(self, p: Xd) -> Xd {
        if self.is_zero() {
            return Xd::from_f64(0.0);
        }
        (self.ln() * p).exp()
    }

    pub fn exp(self) -> Xd {
        if !self.is_finite() {
            return Xd::from_dd(self.m.exp());
        }
        if self.e < -120 || self.is_zero() {
            return Xd::one() + self;
        }
        if self.e > 40 {
            let big = if self.m.hi > 0.0 { f64::INFINITY } else { 0.0 };
            return Xd::from_f64(big);
        }
        // |x| < 2^40: x = k ln 2 + r with |r| <= ln 2 / 2; the double-double ln 2 keeps
        // r to about 2^-66 absolute at the largest k, far below an f64 ulp of the result.
        let x = self.to_dd();
        let k = (x.hi / std::f64::consts::LN_2).round();
        let r = x - LN_2.mul_f64(k);
        Xd::norm(r.exp(), k as i64)
    }

    pub fn exp_m1(self) -> Xd {
        if self.is_tiny() {
            return self + self.square().ldexp(-1);
        }
        if self.e <= -2 {
            // |x| < 1/4.
            return Xd::from_dd(self.to_dd().exp_m1());
        }
        self.exp() - Xd::one()
    }

    pub fn ln(self) -> Xd {
        if self.m.hi <= 0.0 || !self.is_finite() {
            return Xd::from_dd(Dd::from_f64(self.m.hi.ln()));
        }
        let d = self - Xd::one();
        if d.e <= -2 {
            // |x - 1| < 1/4: through ln_1p, accurate relative to the small result.
            return d.ln_1p();
        }
        Xd::from_dd(self.m.ln() + LN_2.mul_f64(self.e as f64))
    }

    pub fn ln_1p(self) -> Xd {
        if self.is_tiny() {
            return self - self.square().ldexp(-1);
        }
        if self.e <= -2 {
            return Xd::from_dd(self.to_dd().ln_1p());
        }
        (self + Xd::one()).ln()
    }

    /// `x + c x^3`: the first two terms of an odd function's series at a tiny argument.
    fn odd_series(self, c: f64) -> Xd {
        self + (self * self.square()).mul_f64(c)
    }

    /// `1 + c x^2`: the first two terms of an even function's series at a tiny argument.
    fn even_series(self, c: f64) -> Xd {
        Xd::one() + self.square().mul_f64(c)
    }

    pub fn sin(self) -> Xd {
        if self.is_tiny() {
            return self.odd_series(-1.0 / 6.0);
        }
        Xd::from_dd(self.to_dd().sin())
    }

    pub fn cos(self) -> Xd {
        if self.is_tiny() {
            return self.even_series(-0.5);
        }
        Xd::from_dd(self.to_dd().cos())
    }

    pub fn tan(self) -> Xd {
        if self.is_tiny() {
            return self.odd_series(1.0 / 3.0);
        }
        Xd::from_dd(self.to_dd().tan())
    }

    pub fn asin(self) -> Xd {
        if self.is_tiny() {
            return self.odd_series(1.0 / 6.0);
        }
        Xd::from_dd(self.to_dd().asin())
    }

    pub fn acos(self) -> Xd {
        if self.is_tiny() {
            return Xd::from_dd(FRAC_PI_2) - self;
        }
        Xd::from_dd(self.to_dd().acos())
    }

    pub fn atan(self) -> Xd {
        if self.is_tiny() {
            return self.odd_series(-1.0 / 3.0);
        }
        if self.at_least_pow2(60) && self.is_finite() {
            let half_pi = Xd::from_dd(if self.m.hi > 0.0 {
                FRAC_PI_2
            } else {
                -FRAC_PI_2
            });
            return half_pi - self.recip();
        }
        Xd::from_dd(self.to_dd().atan())
    }

    pub fn sinh(self) -> Xd {
        if self.is_tiny() {
            return self.odd_series(1.0 / 6.0);
        }
        if self.at_least_pow2(9) {
            // |x| > 512: e^-|x| is below 2^-700 of e^|x|.
            let h = self.abs().exp().ldexp(-1);
            return if self.m.hi > 0.0 { h } else { -h };
        }
        Xd::from_dd(self.to_dd().sinh())
    }

    pub fn cosh(self) -> Xd {
        if self.is_tiny() {
            return self.even_series(0.5);
        }
        if self.at_least_pow2(9) {
            return self.abs().exp().ldexp(-1);
        }
        Xd::from_dd(self.to_dd().cosh())
    }

    pub fn tanh(self) -> Xd {
        if self.is_tiny() {
            return self.odd_series(-1.0 / 3.0);
        }
        Xd::from_dd(self.to_dd().tanh())
    }

    /// Itself: an `Xd` has an exponent of its own (`Real::in_range`).
    #[inline]
    pub fn in_range(self) -> Xd {
        self
    }

    pub fn sigmoid(self) -> Xd {
        if self.is_tiny() {
            return Xd::from_f64(0.5) + self.ldexp(-2);
        }
        if self.at_least_pow2(9) && self.m.hi < 0.0 {
            // x < -512: 1/(1 + e^-x) = e^x (1 - e^x + ...), e^x below 2^-700.
            return self.exp();
        }
        Xd::from_dd(self.to_dd().sigmoid())
    }
}

impl Neg for Xd {
    type Output = Xd;
    #[inline]
    fn neg(self) -> Xd {
        Xd {
            m: -self.m,
            e: self.e,
        }
    }
}

impl Add for Xd {
    type Output = Xd;
    fn add(self, b: Xd) -> Xd {
        if b.is_zero() {
            return self;
        }
        if self.is_zero() {
            return b;
        }
        if !self.is_finite() || !b.is_finite() {
            return Xd::from_dd(Dd::from_f64(self.m.hi + b.m.hi));
        }
        let (big, small) = if self.e >= b.e { (self, b) } else { (b, self) };
        let d = big.e - small.e;
        if d > 120 {
            // The smaller term is below 2^-119 of the larger: beyond double-double.
            return big;
        }
        Xd::norm(big.m + small.m.ldexp(-(d as i32)), big.e)
    }
}

impl Sub for Xd {
    type Output = Xd;
    #[inline]
    fn sub(self, b: Xd) -> Xd {
        self + -b
    }
}

impl Mul for Xd {
    type Output = Xd;
    #[inline]
    fn mul(self, b: Xd) -> Xd {
        Xd::norm(self.m * b.m, self.e + b.e)
    }
}

impl Div for Xd {
    type Output = Xd;
    #[inline]
    fn div(self, b: Xd) -> Xd {
        Xd::norm(self.m / b.m, self.e - b.e)
    }
}
