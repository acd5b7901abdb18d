//! Accuracy of the double-double runtime against the 256-bit reference evaluator.

use astro_float::BigFloat;

use super::runtime::{Dd, Xd};
use crate::expr::hp::{self, Hp};
use crate::expr::{ExprId, Func, Pool};

/// `|dd - exact| / |exact|`, computed at 256 bits.
fn rel_err(hp: &mut Hp, got: Dd, want: &BigFloat) -> f64 {
    let p = hp.precision();
    let rm = astro_float::RoundingMode::ToEven;
    let g = hp.from_f64(got.hi).add(&hp.from_f64(got.lo), p, rm);
    let d = g.sub(want, p, rm);
    (hp::to_f64(&d) / hp::to_f64(want)).abs()
}

fn reference(pool: &mut Pool, f: Func, x: f64) -> Option<BigFloat> {
    let c = pool.var("x");
    let e: ExprId = pool.call(f, c);
    let s = pool.symbol("x");
    let mut hp = Hp::new(hp::DEFAULT_PRECISION);
    let v = hp.from_f64(x);
    hp.eval(pool, e, &[(s, v)]).ok()
}

type Unary<T> = fn(T) -> T;

/// Each function of the runtime number type `T` (through `dd`, its value as a `Dd`) is
/// within `1e-28` relative of the 256-bit value at arguments from 1e-300 to 3e24.
fn check_functions<T: Copy>(
    from: fn(f64) -> T,
    dd: fn(T) -> Dd,
    cases: [(Func, Unary<T>, f64); 13],
) {
    let mut pool = Pool::new();
    let mut hp = Hp::new(hp::DEFAULT_PRECISION);
    let xs: [f64; 21] = [
        1e-300, 1e-20, 1e-12, 3.7e-7, 0.001, 0.1, 0.3, 0.5, 0.7, 0.785, 1.0, 1.5, 1.56, 2.0, 3.0,
        7.5, 20.0, 100.0, 600.0, 1e10, 3e24,
    ];
    for (f, op, limit) in cases {
        for &x in &xs {
            for x in [x, -x] {
                if x.abs() > limit || (matches!(f, Func::Log) && x <= 0.0) {
                    continue;
                }
                let Some(want) = reference(&mut pool, f, x) else {
                    continue;
                };
                if hp::to_f64(&want) == 0.0 || !hp::to_f64(&want).is_finite() {
                    continue;
                }
                let got = dd(op(from(x)));
                let err = rel_err(&mut hp, got, &want);
                assert!(err < 1e-28, "{f:?}({x:e}): relative error {err:e}");
            }
        }
    }
}

#[test]
fn functions_are_accurate_to_far_below_an_ulp() {
    check_functions(
        Dd::from_f64,
        |d| d,
        [
            (Func::Exp, Dd::exp, 600.0),
            (Func::Expm1, Dd::exp_m1, 600.0),
            (Func::Log, Dd::ln, f64::INFINITY),
            (Func::Log1p, Dd::ln_1p, f64::INFINITY),
            (Func::Sin, Dd::sin, 1e3),
            (Func::Cos, Dd::cos, 1e3),
            (Func::Tan, Dd::tan, 1e3),
            (Func::Atan, Dd::atan, f64::INFINITY),
            (Func::Sinh, Dd::sinh, 600.0),
            (Func::Cosh, Dd::cosh, 600.0),
            (Func::Tanh, Dd::tanh, 600.0),
            (Func::Sigmoid, Dd::sigmoid, 600.0),
            (Func::Asin, Dd::asin, 1.0),
        ],
    );
}

#[test]
fn wide_range_functions_are_as_accurate_within_the_f64_range() {
    check_functions(
        Xd::from_f64,
        Xd::to_dd,
        [
            (Func::Exp, Xd::exp, 600.0),
            (Func::Expm1, Xd::exp_m1, 600.0),
            (Func::Log, Xd::ln, f64::INFINITY),
            (Func::Log1p, Xd::ln_1p, f64::INFINITY),
            (Func::Sin, Xd::sin, 1e3),
            (Func::Cos, Xd::cos, 1e3),
            (Func::Tan, Xd::tan, 1e3),
            (Func::Atan, Xd::atan, f64::INFINITY),
            (Func::Sinh, Xd::sinh, 600.0),
            (Func::Cosh, Xd::cosh, 600.0),
            (Func::Tanh, Xd::tanh, 600.0),
            (Func::Sigmoid, Xd::sigmoid, 600.0),
            (Func::Asin, Xd::asin, 1.0),
        ],
    );
}

/// Formulas whose intermediate values leave the f64 range while their results do not,
/// against the 256-bit evaluator of the same formula.
#[test]
fn wide_range_values_survive_underflow_and_overflow_in_between() {
    let mut pool = Pool::new();
    let mut hp = Hp::new(hp::DEFAULT_PRECISION);
    let s = pool.symbol("t");
    type Formula = (&'static str, fn(Xd) -> Xd, f64);
    let formulas: [Formula; 12] = [
        (
            "expm1(-12*t^2)/t^2",
            |t| (Xd::from_f64(-12.0) * t.square()).exp_m1() / t.square(),
            1e-200,
        ),
        (
            "sqrt(-expm1(-12*t^2))",
            |t| (-(Xd::from_f64(-12.0) * t.square()).exp_m1()).sqrt(),
            1e-300,
        ),
        (
            "log(-expm1(-12*t^2))",
            |t| (-(Xd::from_f64(-12.0) * t.square()).exp_m1()).ln(),
            1e-300,
        ),
        (
            "t/(t^3*2^996)",
            |t| t / (t.powi(3) * Xd::from_f64(2f64.powi(996))),
            1e-120,
        ),
        ("sin(t^2)/t^2", |t| t.square().sin() / t.square(), 1e-200),
        (
            "tan(t^2)/t^2 + asin(t^3)/t^3",
            |t| t.square().tan() / t.square() + t.powi(3).asin() / t.powi(3),
            1e-150,
        ),
        ("atan(1/t^2)", |t| t.square().recip().atan(), 1e-200),
        ("log1p(t^3)/t^3", |t| t.powi(3).ln_1p() / t.powi(3), 1e-110),
        (
            "exp(1/t)*exp(-1/t - 1)",
            |t| t.recip().exp() * (-t.recip() - Xd::from_f64(1.0)).exp(),
            1e-3,
        ),
        (
            "sinh(1/t)/cosh(1/t)",
            |t| t.recip().sinh() / t.recip().cosh(),
            1e-3,
        ),
        (
            "sigmoid(-1/t)*exp(1/t)",
            |t| (-t.recip()).sigmoid() * t.recip().exp(),
            1e-3,
        ),
        (
            "(t^(1/3))^3/t",
            |t| t.powf(Xd::from_f64(1.0) / Xd::from_f64(3.0)).powi(3) / t,
            1e-300,
        ),
    ];
    for (text, f, at) in formulas {
        let e = crate::expr::test_util::parse_in_unit_t(&mut pool, text);
        let x = hp.from_f64(at);
        let want = hp.eval(&pool, e, &[(s, x)]).expect("a value");
        let got = f(Xd::from_f64(at)).to_dd();
        let err = rel_err(&mut hp, got, &want);
        assert!(err < 1e-28, "{text} at {at:e}: relative error {err:e}");
    }
}

/// A wide value beyond the range of f64 rounds to the infinity of its sign (the reference
/// rounds so), never to `inf + -inf` in its two parts; one below it rounds to zero.
#[test]
fn wide_values_beyond_the_range_of_f64_round_to_infinities_and_zeros() {
    for t in [1e-300, 1e-200, 1e-160] {
        for sign in [1.0, -1.0] {
            let c = Xd::new(sign * 0.001106459103392218, sign * -8.592593900666418e-20);
            let big = c / Xd::from_f64(t).square();
            assert_eq!(big.to_f64(), sign * f64::INFINITY, "{sign} * c / {t:e}^2");
            assert_eq!(big.to_dd().hi, sign * f64::INFINITY);
            let small = Xd::from_f64(t).square().square() / c;
            assert_eq!(small.to_f64(), 0.0, "{t:e}^4 / ({sign} * c)");
        }
    }
}

/// An f64 function of a double-double argument whose value overflows is the infinity,
/// whatever the sign of the argument's low part (fuzz seed 29 case 10688: `snr =
/// exp(1380.6...)` at t = 1e-300 was `inf - inf`, NaN); ln of a tiny one stays finite.
#[test]
fn corrected_calls_that_overflow_are_infinities() {
    use super::runtime::Narrow;
    for lo in [-1e-20, 1e-20] {
        let w = Dd::from_f64(1381.0) + Dd::from_f64(lo);
        assert_eq!(w.hi, 1381.0);
        assert_eq!(
            <f64 as Narrow<Dd>>::exp_of(w),
            f64::INFINITY,
            "exp(1381 + {lo:e})"
        );
        assert_eq!(
            <f64 as Narrow<Dd>>::exp_m1_of(w),
            f64::INFINITY,
            "expm1(1381 + {lo:e})"
        );
        assert_eq!(<f64 as Narrow<Dd>>::exp_of(-w), 0.0, "exp(-1381 - {lo:e})");
    }
}

/// Double-double arithmetic on an infinite operand is IEEE's on the leading parts: `2 *
/// log(0)` is -inf, not NaN (fuzz seed 29 case 10688: `sigma = sqrt(sigmoid(2 log(tan(pi
/// t/2)) ...))` at t = 0 is 0), and only `inf - inf` and `0 * inf` are undefined.
#[test]
fn arithmetic_on_infinities_is_ieee() {
    let (inf, two) = (Dd::from_f64(f64::INFINITY), Dd::new(2.0, 0.0));
    let third = Dd::from_f64(1.0) / Dd::from_f64(3.0);
    assert_eq!(Dd::from_f64(0.0).ln().hi, f64::NEG_INFINITY);
    assert_eq!((two * Dd::from_f64(0.0).ln()).hi, f64::NEG_INFINITY);
    assert_eq!((third * -inf).hi, f64::NEG_INFINITY);
    assert_eq!((-inf * third).to_f64(), f64::NEG_INFINITY);
    assert_eq!((third + inf).hi, f64::INFINITY);
    assert_eq!((third - inf).hi, f64::NEG_INFINITY);
    assert_eq!((inf + inf).hi, f64::INFINITY);
    assert_eq!(inf.mul_f64(3.0).hi, f64::INFINITY);
    assert!((inf - inf).hi.is_nan());
    assert!((inf * Dd::from_f64(0.0)).hi.is_nan());
    assert_eq!((-(two * inf)).sigmoid().sqrt().to_f64(), 0.0);
    // An overflow of finite operands is the infinity too.
    let big = Dd::from_f64(f64::MAX);
    assert_eq!((big + big).hi, f64::INFINITY);
    assert_eq!((big * two).hi, f64::INFINITY);
    // A finite value over an infinite one is zero, in both types: `1/expm1(B)` where
    // `B` overflows (snr of `beta(t) = t/6.4e301`, fuzz seed 43 case 114056, came out
    // NaN), and an infinite one over a finite one the infinity.
    assert_eq!((third / inf).to_f64(), 0.0);
    assert_eq!((third / -inf).to_f64(), 0.0);
    assert_eq!((inf / third).hi, f64::INFINITY);
    assert!((inf / inf).hi.is_nan());
    let xinf = Xd::from_f64(f64::INFINITY);
    assert_eq!((Xd::from_f64(3.0) / xinf).to_f64(), 0.0);
    assert_eq!(Xd::from_f64(1e300).exp_m1().recip().to_f64(), 0.0);
}

#[test]
fn arithmetic_and_roots_keep_double_double_precision() {
    let mut hp = Hp::new(hp::DEFAULT_PRECISION);
    let third = Dd::from_f64(1.0) / Dd::from_f64(3.0);
    let mut pool = Pool::new();
    let e = pool.frac(1, 3);
    let want = hp.eval(&pool, e, &[]).expect("constant");
    assert!(rel_err(&mut hp, third, &want) < 1e-31);
    let two = pool.int(2);
    let e = pool.sqrt(two);
    let want = hp.eval(&pool, e, &[]).expect("constant");
    assert!(rel_err(&mut hp, Dd::from_f64(2.0).sqrt(), &want) < 1e-31);
    // 1 - (1 - 2^-80) keeps the tiny difference exactly.
    let tiny = 2f64.powi(-80);
    let d = Dd::from_f64(1.0) - (Dd::from_f64(1.0) - Dd::from_f64(tiny));
    assert_eq!(d.to_f64(), tiny);
    assert_eq!(Dd::from_f64(3.0).powi(5).to_f64(), 243.0);
    assert_eq!(Dd::from_f64(2.0).powi(-2).to_f64(), 0.25);
}

/// A quotient of two double-doubles is within `16 2^-106` relative of the exact one (the
/// bound of its algorithm is `15 2^-106` and a little), at 20,000 pairs whose leading
/// parts span 2^-250 to 2^250 and whose trailing parts are full.
#[test]
fn quotients_keep_double_double_precision() {
    let mut hp = Hp::new(hp::DEFAULT_PRECISION);
    let (p, rm) = (hp.precision(), astro_float::RoundingMode::ToEven);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut unit = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let dd = |unit: &mut dyn FnMut() -> f64| {
        let sign = if unit() < 0.5 { -1.0 } else { 1.0 };
        let hi = sign * (1.0 + unit()) * 2f64.powi((unit() * 500.0) as i32 - 250);
        let lo = (unit() - 0.5) * hi * f64::EPSILON;
        let (hi, lo) = (hi + lo, lo - ((hi + lo) - hi));
        Dd::new(hi, lo)
    };
    let bound = 16.0 * 2f64.powi(-106);
    for _ in 0..20_000 {
        let (a, b) = (dd(&mut unit), dd(&mut unit));
        let exact = |hp: &mut Hp, x: Dd| hp.from_f64(x.hi).add(&hp.from_f64(x.lo), p, rm);
        let want = exact(&mut hp, a).div(&exact(&mut hp, b), p, rm);
        let got = a / b;
        let err = rel_err(&mut hp, got, &want);
        assert!(
            err < bound,
            "{a:?} / {b:?} = {got:?}: relative error {err:e}"
        );
    }
}

#[test]
fn constants_are_the_double_double_roundings() {
    let mut hp = Hp::new(hp::DEFAULT_PRECISION);
    let mut pool = Pool::new();
    let pi = pool.pi();
    let half = pool.frac(1, 2);
    let half_pi = pool.mul2(half, pi);
    let two = pool.int(2);
    let ln2 = pool.call(Func::Log, two);
    for (c, e) in [
        (super::runtime::PI, pi),
        (super::runtime::FRAC_PI_2, half_pi),
        (super::runtime::LN_2, ln2),
    ] {
        let v = hp.eval(&pool, e, &[]).expect("constant");
        assert_eq!(super::lower::split_dd(&mut hp, &v), (c.hi, c.lo));
    }
}

/// The product of two f64 is exact in double-double, whichever way `two_prod` computes
/// it (Dekker's splitting without a hardware FMA), up to arguments near the overflow
/// threshold; std's `mul_add` (a correctly rounded fused multiply-add, in hardware or
/// not) is the independent reference.
#[test]
fn products_of_two_doubles_are_exact() {
    let xs = [
        1.0,
        0.1,
        -3.7e-7,
        std::f64::consts::PI,
        1.0 + f64::EPSILON,
        123456789.123,
        -9.87e150,
        1e300,
        7.9e307,
        2.2e-200,
    ];
    for &a in &xs {
        for &b in &xs {
            let p = a * b;
            if !p.is_finite() || p.abs() < 1e-290 {
                continue;
            }
            let d = Dd::from_f64(a) * Dd::from_f64(b);
            assert_eq!(d.hi, p, "{a:e} * {b:e}");
            assert_eq!(d.lo, a.mul_add(b, -p), "{a:e} * {b:e}");
        }
    }
}

/// An f64 function of a double-double argument, corrected to first order
/// (`Narrow::exp_of` ...), is within one ulp of the correctly rounded value of the
/// function at `hi + lo` (256-bit reference), where the uncorrected f64 of the rounded
/// argument is off by many ulps (exp of -30 + 1e-15: the rest alone is 15 ulps; cos of
/// pi t/2 next to t = 1 loses a third of its value).
#[test]
fn functions_of_wide_arguments_are_corrected_to_first_order() {
    use super::runtime::Narrow;
    let mut pool = Pool::new();
    let mut hp = Hp::new(hp::DEFAULT_PRECISION);
    let args = [
        // pi t/2 at t = 1 - 2^-53 in double-double: its cosine is 1.7e-16, and the
        // rounded argument's alone is 6.1e-17 off.
        Dd::new(std::f64::consts::FRAC_PI_2, 6.123233995736766e-17)
            * Dd::from_f64(1.0 - f64::EPSILON / 2.0),
        Dd::new(-30.0, 1e-15),
        Dd::new(-0.7, 3e-17),
        Dd::new(2.5, -1e-16),
        Dd::new(1e-3, 4e-20),
        Dd::new(0.3, 1e-17),
    ];
    type Of = fn(Dd) -> f64;
    let cases: [(Func, Of); 10] = [
        (Func::Exp, <f64 as Narrow<Dd>>::exp_of),
        (Func::Expm1, <f64 as Narrow<Dd>>::exp_m1_of),
        (Func::Log, <f64 as Narrow<Dd>>::ln_of),
        (Func::Log1p, <f64 as Narrow<Dd>>::ln_1p_of),
        (Func::Sin, <f64 as Narrow<Dd>>::sin_of),
        (Func::Cos, <f64 as Narrow<Dd>>::cos_of),
        (Func::Tan, <f64 as Narrow<Dd>>::tan_of),
        (Func::Atan, <f64 as Narrow<Dd>>::atan_of),
        (Func::Tanh, <f64 as Narrow<Dd>>::tanh_of),
        (Func::Sigmoid, <f64 as Narrow<Dd>>::sigmoid_of),
    ];
    let x = pool.var("x");
    let s = pool.symbol("x");
    for (f, of) in cases {
        let e = pool.call(f, x);
        for w in args {
            if (matches!(f, Func::Log) && w.hi <= 0.0) || (matches!(f, Func::Log1p) && w.hi <= -1.0)
            {
                continue;
            }
            let p = hp.precision();
            let arg =
                hp.from_f64(w.hi)
                    .add(&hp.from_f64(w.lo), p, astro_float::RoundingMode::ToEven);
            let want = hp::to_f64(&hp.eval(&pool, e, &[(s, arg)]).expect("defined"));
            let got = of(w);
            let err = super::check::ulps(got, want);
            assert!(
                err <= 1.0,
                "{f:?}({w:?}) = {got:e}, want {want:e}: {err} ulps"
            );
        }
    }
}

/// `pole_sum`: the sign of `sum k_i v_i` decides the infinity even where the products
/// overflow or cancel to below their rounding; where it is 0 only because the inputs of
/// the leading coefficients are 0, the other terms give the value; else NaN.
#[test]
fn a_sum_with_infinite_coefficients_tends_to_the_infinity_of_its_directions() {
    use super::runtime::{at_pole, pole_sum};
    let inf = f64::INFINITY;
    let both = [inf, -inf];
    // cosine's DDIM step from t = 1: c = (alpha_n/alpha, sigma_n - alpha_n sigma/alpha) ~
    // alpha_n (1, -sigma(1))/alpha, so the sign is that of x - eps.
    assert_eq!(pole_sum(&[1.0, -1.0, 0.0, 0.0], &both, &[0.7, 0.3]), inf);
    assert_eq!(pole_sum(&[1.0, -1.0, 0.0, 0.0], &both, &[0.3, 0.7]), -inf);
    // Products beyond f64 and a difference far below their rounding.
    let big = [1e300, -1e300, 0.0, 0.0];
    assert!(pole_sum(&big, &both, &[1e300, 1e300]).is_nan());
    let e = f64::EPSILON;
    assert_eq!(pole_sum(&big, &both, &[1e300 * (1.0 + e), 1e300]), inf);
    // (1 + e)(1 - e) - 1 = -e^2, which f64 products round to 0.
    assert_eq!(
        pole_sum(&[1.0 + e, -1.0, 0.0, 0.0], &both, &[1.0 - e, 1.0]),
        -inf
    );
    // The infinite coefficients' inputs 0: the finite coefficient's value at the end.
    let pole = [1.0, 0.0, 0.0, 0.25];
    assert_eq!(pole_sum(&pole, &[inf, 0.0], &[0.0, 2.0]), 0.5);
    assert_eq!(at_pole(&pole, [inf, 0.0]), [inf, 0.25]);
    // A lower-order infinity (k = 0) then decides.
    assert_eq!(
        pole_sum(&[1.0, 0.0, 0.0, 0.0], &[inf, inf], &[0.0, -2.0]),
        -inf
    );
    // 0 * inf: the directions cancel exactly with inputs that are not 0.
    assert!(pole_sum(&[1.0, -1.0, 0.0, 0.0], &both, &[0.5, 0.5]).is_nan());
}
