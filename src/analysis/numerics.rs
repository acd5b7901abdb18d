//! Floating-point helpers that keep tiny KL values accurate: a compensated sum,
//! cancellation-free forms of `e^-u - 1 + u` and `e^u - 1 - u`, and a double-double
//! evaluator of one-variable expressions for quadrature whose f64 values cancel.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, ToPrimitive};

use crate::codegen::runtime::{Dd, PI};
use crate::expr::eval::{Exponent, classify_exponent, rational_to_f64};
use crate::expr::fxhash::HashMap;
use crate::expr::{Constant, ExprId, Func, Node, Pool, Symbol};

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

/// An expression compiled for many double-double evaluations at values of one symbol:
/// about 106 bits, so a formula whose f64 value cancels away ten digits keeps twenty. Not
/// certified (see `expr::ball` for that), but rounding noise is 2^-53 times smaller than
/// in f64. A value that is not finite (outside a function's domain, a zero divisor) is
/// NaN or infinite: the caller falls back to another evaluator.
pub struct DdTape {
    ops: Vec<DdOp>,
}

enum DdOp {
    Value(Dd),
    Var,
    Add(Vec<usize>),
    Mul(Vec<usize>),
    PowInt(usize, i32),
    Sqrt(usize),
    PowDd(usize, Dd),
    PowGeneral(usize, usize),
    Call(Func, usize),
    /// A symbol other than the variable: no value.
    Unbound,
}

/// `r` to the nearest double-double (its f64 and the f64 of the rest).
pub fn rational_to_dd(r: &BigRational) -> Dd {
    let hi = rational_to_f64(r);
    let lo = BigRational::from_float(hi).map_or(0.0, |h| rational_to_f64(&(r - h)));
    Dd::new(hi, lo)
}

impl DdTape {
    pub fn new(pool: &Pool, e: ExprId, var: Symbol) -> DdTape {
        let mut ops = Vec::new();
        let mut index: HashMap<ExprId, usize> = HashMap::default();
        // Post-order without recursion: (node, children pushed?).
        let mut stack = vec![(e, false)];
        while let Some((id, ready)) = stack.pop() {
            if index.contains_key(&id) {
                continue;
            }
            let children = pool.children(id);
            if !ready {
                stack.push((id, true));
                for &c in children.iter().rev() {
                    if !index.contains_key(&c) {
                        stack.push((c, false));
                    }
                }
                continue;
            }
            let at = |c: &ExprId| index[c];
            let op = match pool.node(id) {
                Node::Rational(r) => DdOp::Value(rational_to_dd(r)),
                Node::Const(Constant::Pi) => DdOp::Value(PI),
                Node::Const(Constant::E) => DdOp::Value(Dd::from_f64(1.0).exp()),
                Node::Sym(s) if *s == var => DdOp::Var,
                Node::Sym(_) => DdOp::Unbound,
                Node::Add(xs) => DdOp::Add(xs.iter().map(at).collect()),
                Node::Mul(xs) => DdOp::Mul(xs.iter().map(at).collect()),
                Node::Pow(b, x) => match classify_exponent(pool, *x) {
                    Exponent::Int(n) => match n.to_i32() {
                        Some(n) => DdOp::PowInt(at(b), n),
                        None => DdOp::PowDd(at(b), Dd::from_f64(n.to_f64().unwrap_or(f64::NAN))),
                    },
                    Exponent::Frac(r) if *r == BigRational::new(BigInt::one(), 2.into()) => {
                        DdOp::Sqrt(at(b))
                    }
                    Exponent::Frac(r) => DdOp::PowDd(at(b), rational_to_dd(r)),
                    Exponent::General => DdOp::PowGeneral(at(b), at(x)),
                },
                Node::Call(f, a) => DdOp::Call(*f, at(a)),
            };
            index.insert(id, ops.len());
            ops.push(op);
        }
        DdTape { ops }
    }

    /// The value with the variable at `x`, rounded to f64 (NaN where there is none).
    pub fn eval(&self, x: f64, values: &mut Vec<Dd>) -> f64 {
        values.clear();
        let nan = Dd::from_f64(f64::NAN);
        for op in &self.ops {
            let v = match op {
                DdOp::Value(v) => *v,
                DdOp::Var => Dd::from_f64(x),
                DdOp::Unbound => nan,
                DdOp::Add(xs) => xs.iter().fold(Dd::from_f64(0.0), |acc, &i| acc + values[i]),
                DdOp::Mul(xs) => xs.iter().fold(Dd::from_f64(1.0), |acc, &i| acc * values[i]),
                &DdOp::PowInt(b, n) => {
                    if values[b].hi == 0.0 && n < 0 {
                        nan
                    } else {
                        values[b].powi(n)
                    }
                }
                &DdOp::Sqrt(b) => {
                    if values[b].hi < 0.0 {
                        nan
                    } else {
                        values[b].sqrt()
                    }
                }
                &DdOp::PowDd(b, p) => {
                    if values[b].hi < 0.0 || (values[b].hi == 0.0 && p.hi <= 0.0) {
                        nan
                    } else {
                        values[b].powf(p)
                    }
                }
                &DdOp::PowGeneral(b, p) => {
                    if values[b].hi <= 0.0 {
                        nan
                    } else {
                        values[b].powf(values[p])
                    }
                }
                &DdOp::Call(f, a) => call_dd(f, values[a]),
            };
            if !v.hi.is_finite() {
                return f64::NAN;
            }
            values.push(v);
        }
        values.last().map_or(f64::NAN, |v| v.to_f64())
    }
}

fn call_dd(f: Func, x: Dd) -> Dd {
    let nan = Dd::from_f64(f64::NAN);
    match f {
        Func::Exp => x.exp(),
        Func::Log if x.hi > 0.0 => x.ln(),
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Asin | Func::Acos if x.hi.abs() > 1.0 => nan,
        Func::Asin => x.asin(),
        Func::Acos => x.acos(),
        Func::Atan => x.atan(),
        Func::Sinh => x.sinh(),
        Func::Cosh => x.cosh(),
        Func::Tanh => x.tanh(),
        Func::Sigmoid => x.sigmoid(),
        Func::Expm1 => x.exp_m1(),
        Func::Log1p if x.hi > -1.0 => x.ln_1p(),
        Func::Abs => x.abs(),
        Func::Log | Func::Log1p | Func::Generic(_) | Func::Integral(_) => nan,
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

    #[test]
    fn double_double_keeps_what_f64_cancels() {
        use crate::expr::test_util::parse_in_unit_t;
        let mut pool = Pool::new();
        // (1 - cos(x))/x^2 at x = 1e-5: f64 keeps about 6 digits of 1/2 - x^2/24.
        let e = parse_in_unit_t(&mut pool, "(1 - cos(t))/t^2 + 2^(1/3)*sqrt(t)*atan(t)");
        let t = pool.symbol("t");
        let tape = DdTape::new(&pool, e, t);
        let mut buf = Vec::new();
        let x: f64 = 1e-5;
        // Reference: 1/2 - x^2/24 + x^4/720 + 2^(1/3) x^(1/2) (x - x^3/3), to far below an ulp.
        let want = 0.5 - x * x / 24.0 + 2f64.cbrt() * x.sqrt() * x;
        let got = tape.eval(x, &mut buf);
        assert!(
            (got - want).abs() <= 2.0 * f64::EPSILON * want,
            "{got} {want}"
        );
        // Outside the domain: NaN, not a panic.
        let e = parse_in_unit_t(&mut pool, "log(t - 1)");
        assert!(DdTape::new(&pool, e, t).eval(0.5, &mut buf).is_nan());
    }
}
