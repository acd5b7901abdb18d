//! Accuracy of the double-double runtime against the 256-bit reference evaluator.

use astro_float::BigFloat;

use super::runtime::Dd;
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

#[test]
fn functions_are_accurate_to_far_below_an_ulp() {
    let mut pool = Pool::new();
    let mut hp = Hp::new(hp::DEFAULT_PRECISION);
    let xs: [f64; 21] = [
        1e-300, 1e-20, 1e-12, 3.7e-7, 0.001, 0.1, 0.3, 0.5, 0.7, 0.785, 1.0, 1.5, 1.56, 2.0, 3.0,
        7.5, 20.0, 100.0, 600.0, 1e10, 3e24,
    ];
    type Case = (Func, fn(Dd) -> Dd, f64);
    let cases: [Case; 13] = [
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
    ];
    for (f, dd, limit) in cases {
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
                let got = dd(Dd::from_f64(x));
                let err = rel_err(&mut hp, got, &want);
                assert!(err < 1e-28, "{f:?}({x:e}): relative error {err:e}");
            }
        }
    }
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
