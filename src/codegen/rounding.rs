//! First-order bounds on the rounding error of a lowered program run in mixed precision:
//! what each f64 operation can contribute at most, by its sensitivity, not by the luck of
//! one sample's rounding.
//!
//! A rounding of `v_i` by at most `delta_i` (half an ulp of `v_i` for a correctly rounded
//! f64 operation) moves the output by `d out / d v_i * delta_i` to first order. The
//! sensitivities `d out / d v_i` of every variable come from one backward pass
//! (reverse-mode differentiation) over the values the program takes in double-double;
//! each operation's largest rounding error is its own model ([`own_error`]): half an
//! ulp of its value for a correctly rounded operation, one per partial result for a sum
//! or product, a little more for a libm call, plus the rounding of each double-double
//! operand an f64 operation narrows. Errors are counted in ulps of the values they round,
//! not as `2^-53` of them: the two differ by up to a factor of two (the value's mantissa),
//! and the tighter count is as rigorous. The sum of their absolute effects bounds the
//! error of the result to first order, whatever the sample: a time at which `20 t`
//! happens to be exact still gets the bound of the times
//! next to it where it is not. The accuracy budget (`budget.rs`) searches with these
//! bounds as well as with measured errors, and blames operations by them.

use super::lower::{Op, Program, Var};
use super::runtime::{Dd, TAN_FIRST_ORDER};
use crate::expr::Func;

/// The unit roundoff of f64.
const U: f64 = f64::EPSILON / 2.0;

/// The rounding-error model of a program at one point: its values (in double-double),
/// each operation's own largest rounding error in f64 and that of each double-double
/// operand it would narrow, and the sensitivities of each output.
pub struct Table {
    /// For a call (or square root) with a method for a wide argument, that argument.
    call_arg: Vec<Option<Var>>,
    /// The operations that use each variable.
    users: Vec<Vec<Var>>,
    /// Each output's variable, its value, and `d out / d v` for every variable.
    outs: Vec<(Var, f64, Vec<f64>)>,
    /// Each output's nonzero sensitivities, `(v, d out / d v)` in the order of `v`: the
    /// terms of its bound ([`Table::bounds`] runs at every row the search measures).
    terms: Vec<Vec<(Var, f64)>>,
    /// The variables of any output's `terms`, in order: where a local error counts.
    support: Vec<Var>,
    /// Each operation's own largest absolute rounding error in f64.
    own: Vec<f64>,
    /// For each operation, the error of narrowing each operand `j` (where `j` is wide), or
    /// for a libm call of a wide argument, its correction's error.
    narrowed: Vec<Vec<(Var, f64)>>,
    /// For a libm call of a wide argument, the rounding of the corrected value to f64,
    /// which a call whose value stays wide does without ([`super::lower::kept`]).
    rounded: Vec<f64>,
}

impl Table {
    /// The model of `p` at `inputs` for the outputs `outs`. The inputs named in
    /// `reflected` are the times of an upper regime, each `1 - t` for an f64 `t` from 1/2 up:
    /// `1 - s` of one of them is `t` again, exactly ([`recovers_time`]).
    pub fn new(p: &Program, inputs: &[(&str, f64)], outs: &[Var], reflected: &[&str]) -> Table {
        let vs: Vec<f64> = p.run::<Dd>(inputs).iter().map(|v| v.to_f64()).collect();
        let own = (0..p.ops.len())
            .map(|i| {
                if recovers_time(p, &p.ops[i], reflected) {
                    0.0
                } else {
                    own_error(&p.ops[i], &vs, i)
                }
            })
            .collect();
        let mut rounded = vec![0.0; p.ops.len()];
        let narrowed = (0..p.ops.len())
            .map(|i| {
                let op = &p.ops[i];
                if super::lower::wide_argument_method(op).is_some() {
                    return partials(op, &vs, vs[i])
                        .into_iter()
                        .map(|(j, d)| {
                            let (rounding, rest) = correction_error(op, vs[i], d, vs[j]);
                            rounded[i] = rounding;
                            (j, rest)
                        })
                        .collect();
                }
                partials(op, &vs, vs[i])
                    .into_iter()
                    .map(|(j, d)| (j, d.abs() * half_ulp(vs[j])))
                    .collect()
            })
            .collect();
        let outs: Vec<(Var, f64, Vec<f64>)> = outs
            .iter()
            .map(|&out| (out, vs[out], sensitivities(p, &vs, out)))
            .collect();
        let terms: Vec<Vec<(Var, f64)>> = outs
            .iter()
            .map(|(out, _, adj)| {
                (0..=*out)
                    .filter(|&i| adj[i] != 0.0)
                    .map(|i| (i, adj[i]))
                    .collect()
            })
            .collect();
        let mut support: Vec<Var> = terms.iter().flatten().map(|&(i, _)| i).collect();
        support.sort_unstable();
        support.dedup();
        let mut users = vec![Vec::new(); p.ops.len()];
        for (i, op) in p.ops.iter().enumerate() {
            super::lower::for_each_operand(op, |j| users[j].push(i));
        }
        let call_arg = p
            .ops
            .iter()
            .map(|op| match op {
                Op::Call(_, a) | Op::Sqrt(a)
                    if super::lower::wide_argument_method(op).is_some() =>
                {
                    Some(*a)
                }
                _ => None,
            })
            .collect();
        Table {
            call_arg,
            users,
            outs,
            terms,
            support,
            own,
            narrowed,
            rounded,
        }
    }

    /// Whether operation `i`'s value stays wide with the operations `wide` marks wide, as
    /// [`super::lower::kept`] decides.
    fn kept(&self, wide: impl Fn(usize) -> bool, i: usize) -> bool {
        !wide(i)
            && self.call_arg[i].is_some_and(&wide)
            && !self.users[i].is_empty()
            && self.users[i].iter().all(|&u| wide(u))
    }

    /// The largest absolute error of operation `i` in f64 with the operations `wide`
    /// marks (other than `i`) in double-double; `kept`, whether its value stays wide.
    fn local(&self, wide: impl Fn(usize) -> bool, kept: bool, i: usize) -> f64 {
        let mut e = self.own[i];
        for &(j, n) in &self.narrowed[i] {
            if wide(j) {
                e += n;
                if !kept {
                    e += self.rounded[i];
                }
            }
        }
        e
    }

    /// A first-order bound on the error of output `k` with the operations `wide` marks
    /// in double-double, in its ulps; 0 where it is not finite (or the value is 0), so
    /// that a measured error alone counts there.
    #[cfg(test)]
    pub fn bound(&self, k: usize, wide: &[bool]) -> f64 {
        self.bounds(wide)[k]
    }

    /// [`Table::bound`] for every output at once: the local errors, which the outputs
    /// share, are worked out once (the search asks for every output at every row).
    pub fn bounds(&self, wide: &[bool]) -> Vec<f64> {
        let is_wide = |i: usize| wide.get(i).copied().unwrap_or(false);
        // The local errors where a sensitivity is not zero: the others count for nothing.
        let mut local = vec![0.0; self.own.len()];
        for &i in &self.support {
            if !is_wide(i) {
                local[i] = self.local(is_wide, self.kept(is_wide, i), i);
            }
        }
        self.outs
            .iter()
            .zip(&self.terms)
            .map(|((out, v, _), terms)| {
                let err: f64 = terms
                    .iter()
                    .filter(|&&(i, _)| !is_wide(i))
                    .map(|&(i, d)| (d * local[i]).abs())
                    .sum();
                // A double-double result is rounded once more, to f64.
                let last = if is_wide(*out) || self.kept(is_wide, *out) {
                    0.5
                } else {
                    0.0
                };
                let b = err / ulp(*v) + last;
                if *v != 0.0 && b.is_finite() { b } else { 0.0 }
            })
            .collect()
    }

    /// How much error each operation can cause when it alone runs in f64, in ulps of the
    /// outputs (the largest over them).
    pub fn blame(&self) -> Vec<f64> {
        let n = self.own.len();
        let mut c = vec![0.0; n];
        // Alone in f64 among wide operations, a call of a wide argument keeps its value
        // wide wherever it is used.
        let alone_kept: Vec<bool> = (0..n).map(|i| self.kept(|j| j != i, i)).collect();
        for (out, v, adj) in &self.outs {
            let scale = ulp(*v);
            if *v == 0.0 {
                continue;
            }
            for i in 0..=*out {
                let e = (adj[i] * self.local(|_| true, alone_kept[i], i)).abs() / scale;
                if e.is_finite() {
                    c[i] = f64::max(c[i], e);
                }
            }
        }
        c
    }
}

/// `d out / d v` for every variable `v` of `p` at the values `vs`, by one backward pass.
fn sensitivities(p: &Program, vs: &[f64], out: Var) -> Vec<f64> {
    let mut adj = vec![0.0; vs.len()];
    adj[out] = 1.0;
    for i in (0..=out).rev() {
        let a = adj[i];
        if a == 0.0 {
            continue;
        }
        for (j, d) in partials(&p.ops[i], vs, vs[i]) {
            adj[j] += a * d;
        }
    }
    adj
}

/// The partial derivatives of an operation with value `r` in each of its operands.
fn partials(op: &Op, vs: &[f64], r: f64) -> Vec<(Var, f64)> {
    match op {
        Op::Input(_) | Op::Const { .. } => Vec::new(),
        Op::Sum(terms) => terms
            .iter()
            .map(|&(neg, x)| (x, if neg { -1.0 } else { 1.0 }))
            .collect(),
        Op::Mul(xs) => (0..xs.len())
            .map(|k| {
                let others: f64 = xs
                    .iter()
                    .enumerate()
                    .filter(|&(m, _)| m != k)
                    .map(|(_, &x)| vs[x])
                    .product();
                (xs[k], others)
            })
            .collect(),
        Op::Div(a, b) => vec![(*a, 1.0 / vs[*b]), (*b, -r / vs[*b])],
        Op::Neg(a) => vec![(*a, -1.0)],
        Op::PowI(a, n) => vec![(*a, f64::from(*n) * vs[*a].powi(n - 1))],
        Op::Sqrt(a) => vec![(*a, 0.5 / r)],
        Op::PowF(a, b) => vec![(*a, vs[*b] * r / vs[*a]), (*b, r * vs[*a].ln())],
        Op::Call(f, a) => vec![(*a, derivative(*f, vs[*a], r))],
    }
}

/// `f'(x)` where `f(x) = r`.
fn derivative(f: Func, x: f64, r: f64) -> f64 {
    match f {
        Func::Exp => r,
        Func::Expm1 => r + 1.0,
        Func::Log => 1.0 / x,
        Func::Log1p => 1.0 / (1.0 + x),
        Func::Sin => x.cos(),
        Func::Cos => -x.sin(),
        Func::Tan => 1.0 + r * r,
        Func::Asin => 1.0 / (1.0 - x * x).sqrt(),
        Func::Acos => -1.0 / (1.0 - x * x).sqrt(),
        Func::Atan => 1.0 / (1.0 + x * x),
        Func::Sinh => x.cosh(),
        Func::Cosh => x.sinh(),
        Func::Tanh => 1.0 - r * r,
        Func::Sigmoid => r * (1.0 - r),
        Func::Abs => x.signum(),
        Func::Generic(_) | Func::Integral(_) => f64::NAN,
    }
}

/// The largest error of `f` in f64, in half-ulps of `f(x)`: the core functions of a
/// modern libm (glibc's `exp`, `ln`, `exp_m1`, `ln_1p`, `sin`, `cos` are within 0.52 ulp
/// of the exact value, against 0.5 for a correctly rounded one) a little over one, and so
/// are `atan` and `tan` (measured against mpmath at 60,000 arguments each, half of them
/// towards 0: at most 0.51 and 0.54 ulp); the others within an ulp; `sinh`, `cosh`,
/// `tanh` within two; `sigmoid`, `1 / (1 + exp(-x))`: the `exp`'s and the sum's relative
/// errors (at most 2.05 `2^-53`, which is up to 4.1 half-ulps of the result) and the
/// quotient's half-ulp. What the compiled module really does is measured too (`emit --verify`);
/// this model only decides where to look.
fn call_error(f: Func) -> f64 {
    match f {
        Func::Abs => 0.0,
        Func::Exp | Func::Log | Func::Expm1 | Func::Log1p | Func::Sin | Func::Cos => 1.05,
        Func::Atan => 1.05,
        Func::Tan => 1.1,
        Func::Sinh | Func::Cosh | Func::Tanh => 4.0,
        Func::Sigmoid => 5.2,
        _ => 2.0,
    }
}

/// The error a libm call on a double-double argument `hi + lo` adds to the call's own
/// (`r` its value, `d` the derivative there, `x` the argument), as the rounding of the
/// corrected value to f64 and the rest: the runtime's `f(hi) + f'(hi) lo` rounds the sum
/// once more (unless it stays wide), and the correction's few roundings are of its size,
/// at most `|d|` times half an ulp of `x`, which matters only next to a zero of `f`. Next
/// to a pole (`runtime::TAN_FIRST_ORDER`, with `|lo|` at most half an ulp of `x`), `tan`
/// is `(t + lo)/(1 - t lo)`, exact however close `hi` is to it, which rounds the sum, the
/// denominator (up to two half-ulps of the result) and the quotient.
fn correction_error(op: &Op, r: f64, d: f64, x: f64) -> (f64, f64) {
    let lo = half_ulp(x);
    let first_order = (r * lo).abs() < TAN_FIRST_ORDER && lo < TAN_FIRST_ORDER;
    let correction = 4.0 * U * d.abs() * lo;
    match op {
        Op::Call(Func::Tan, _) if !first_order => (0.0, 4.0 * half_ulp(r) + correction),
        _ => (half_ulp(r), correction),
    }
}

/// The largest absolute error of operation `i` (value `vs[i]`) when it runs in f64 on
/// exact operands: half an ulp of its value for a correctly rounded operation, one per
/// partial result of a sum or product, [`call_error`] for a libm call, none for an input
/// or a negation, the rest of a constant.
fn own_error(op: &Op, vs: &[f64], i: usize) -> f64 {
    let r = vs[i].abs();
    match op {
        Op::Input(_) | Op::Neg(_) | Op::Call(Func::Abs, _) => 0.0,
        Op::Const { lo, .. } => f64::from_bits(*lo).abs(),
        Op::Sum(terms) => {
            let mut acc = 0.0;
            let mut err = 0.0;
            for (k, &(neg, x)) in terms.iter().enumerate() {
                acc += if neg { -vs[x] } else { vs[x] };
                if k > 0 {
                    err += half_ulp(acc);
                }
            }
            err
        }
        Op::Mul(xs) => {
            let mut acc = vs[xs[0]];
            let mut err = 0.0;
            for &x in &xs[1..] {
                acc *= vs[x];
                err += half_ulp(acc);
            }
            err
        }
        Op::Div(..) | Op::Sqrt(_) => half_ulp(r),
        // Repeated squaring (`f64::powi`, and the runtime's): a rounding of `x^k` raised
        // to the power `n / k` afterwards weighs `n / k`, and the weights of the products
        // sum to `|n| - 1`; a negative power adds the rounding of the reciprocal. (Two
        // roundings per bit of the exponent, as this was, is too little from `n = 16`.)
        Op::PowI(_, n) => {
            U * r * (f64::from(n.unsigned_abs().saturating_sub(1)) + f64::from(u8::from(*n < 0)))
        }
        Op::PowF(..) => 2.0 * half_ulp(r),
        Op::Call(f, _) => call_error(*f) * half_ulp(r),
    }
}

/// Whether `op` is `1 - s` (or `s - 1`) for an input `s` named in `reflected`: an upper
/// regime's time, `1 - t` rounded from an f64 `t` in [1/2, 1], which is exact (Sterbenz),
/// so that `1 - s` is `t` again and rounds to it exactly, whatever `t` is. Without this, the
/// bound gave it half an ulp, and the search put it and what reads it in double-double
/// (vp_linear's `alpha` above 1/2, `exp((s - 1) (5.025 - 4.975 s))`).
fn recovers_time(p: &Program, op: &Op, reflected: &[&str]) -> bool {
    // The upper regime's `1 - t` is exact only for `t` from 1/2 up.
    const _: () = assert!(super::UPPER_FROM >= 0.5);
    let Op::Sum(terms) = op else {
        return false;
    };
    let one = |v: Var| {
        matches!(&p.ops[v], Op::Const { hi, lo }
            if f64::from_bits(*hi) == 1.0 && f64::from_bits(*lo) == 0.0)
    };
    let time = |v: Var| matches!(&p.ops[v], Op::Input(name) if reflected.contains(&name.as_str()));
    match terms.as_slice() {
        [(false, a), (true, b)] => one(*a) && time(*b) || time(*a) && one(*b),
        _ => false,
    }
}

/// The unit in the last place of `x`.
fn ulp(x: f64) -> f64 {
    super::check::ulp(x)
}

/// The largest error of rounding `x` to nearest: half an ulp of `x`, or of the binade
/// above where `x` (a double-double value rounded to f64) is within `2^-50` of it, so
/// that an exact value a hair above a power of two still gets its own half-ulp.
fn half_ulp(x: f64) -> f64 {
    let x = x.abs();
    0.5 * ulp(x).max(ulp(x + x * 2f64.powi(-50)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::runtime::Xd;
    use crate::codegen::{Mode, Shape};

    /// The stable program of `text` (in `t`) and its output.
    fn program(text: &str) -> (Program, Var) {
        let mut pool = crate::expr::Pool::new();
        let e = crate::expr::test_util::parse_in_unit_t(&mut pool, text);
        let f = crate::codegen::scalar_function(&mut pool, "q", e, Mode::Stable).expect("lowers");
        let Shape::Scalar { out } = f.shape else {
            panic!("a scalar")
        };
        (f.program, out)
    }

    /// The number of f64 values between `a` and `b`.
    fn ulps(a: f64, b: f64) -> f64 {
        super::super::check::ulps(a, b)
    }

    #[test]
    fn sensitivities_are_derivatives() {
        // d/dt (t sin t) = sin t + t cos t, and d/dt exp(-t^2) = -2 t exp(-t^2).
        for (text, d) in [
            (
                "t*sin(t)",
                &(|t: f64| t.sin() + t * t.cos()) as &dyn Fn(f64) -> f64,
            ),
            ("exp(-t^2)", &|t: f64| -2.0 * t * (-t * t).exp()),
        ] {
            let (p, out) = program(text);
            let input = p
                .ops
                .iter()
                .position(|op| matches!(op, Op::Input(n) if n == "t"))
                .expect("t is an input");
            for t in [0.1, 0.37, 0.9] {
                let vs: Vec<f64> = p
                    .run::<Dd>(&[("t", t)])
                    .iter()
                    .map(|v| v.to_f64())
                    .collect();
                let adj = sensitivities(&p, &vs, out);
                let want = d(t);
                assert!(
                    (adj[input] - want).abs() <= 1e-14 * want.abs(),
                    "{text} at {t}: {} against {want}",
                    adj[input]
                );
            }
        }
    }

    #[test]
    fn the_bound_covers_the_error_of_f64_throughout() {
        // All in f64, against the same program in Xd (106 bits): the first-order bound is
        // at least the error at every time, also next to the zero of t - 1/3 and of
        // lambda of the linear VP schedule (t = 0.258960...), where both grow without
        // bound; and not vastly more than the largest error seen (a sum of absolute
        // contributions exceeds any one error by at most their number, which here is
        // under 16).
        for text in [
            "exp(-t/10 - 199*t^2/20)",
            "sqrt(1 - exp(-t/10 - 199*t^2/20))",
            "t - 1/3",
            "-t/20 - 199*t^2/40 - log(1 - exp(-t/10 - 199*t^2/20))/2",
            "cos(pi*t/2)^2/sin(pi*t/2)^2",
            "sigmoid(20*t - 10) + t^3",
            "(1 + t/3)^16 - 1/(1 + t)^5",
            "tan(pi*t/2)^(-2) + atan(3*t)",
        ] {
            let (p, out) = program(text);
            let mut ts: Vec<f64> = (1..2000).map(|k| k as f64 / 2000.0 + 1e-4).collect();
            for e in 10..50 {
                let d = 2f64.powi(-e);
                ts.extend([1.0 / 3.0 + d, 1.0 / 3.0 - d, 0.25896 + d, 0.25896 - d]);
            }
            let (mut worst_err, mut worst_bound) = (0.0f64, 0.0f64);
            for t in ts.into_iter().filter(|t| *t > 0.0 && *t < 1.0) {
                let env = [("t", t)];
                let exact = p.run::<Xd>(&env)[out].to_f64();
                let got = p.run::<f64>(&env)[out];
                if !exact.is_normal() {
                    continue;
                }
                let table = Table::new(&p, &env, &[out], &[]);
                let bound = table.bound(0, &[]);
                let err = ulps(got, exact);
                assert!(
                    err <= bound + 0.5,
                    "{text} at {t}: {err} ulps, bound {bound}"
                );
                worst_err = worst_err.max(err);
                worst_bound = worst_bound.max(bound);
            }
            assert!(
                worst_bound <= 16.0 * worst_err + 4.0,
                "{text}: bound {worst_bound}, error at most {worst_err}"
            );
        }
    }

    #[test]
    fn the_bound_covers_libm_calls_on_double_double_arguments() {
        // `exp(hi) (1 + lo)` rounds twice, the call's and the sum's: up to an ulp, where
        // one call alone is within half of one. The bound with every operation but the
        // calls (and the roots) in double-double covers what the mixed program computes,
        // at times chosen so the values' mantissas cover [1, 2).
        for text in [
            "exp(-t/10 - 199*t^2/20)",
            "sqrt(1 - exp(-t/10 - 199*t^2/20))",
            "exp(3*t - 5*t^2)*expm1(-7*t/3)",
            "tan(pi*t/3)^2",
            "sin(pi*t)^2 + t",
        ] {
            let (p, out) = program(text);
            let wide: Vec<bool> = p
                .ops
                .iter()
                .map(|op| !matches!(op, Op::Call(..) | Op::Sqrt(_)))
                .collect();
            let (mut worst_err, mut worst_ratio) = (0.0f64, 0.0f64);
            for k in 1..4000 {
                let t = f64::from(k) / 4000.0 + 1.0 / 7919.0;
                let env = [("t", t)];
                let exact = p.run::<Xd>(&env)[out].to_f64();
                let got = p.run_mixed::<f64, Dd>(&env, &wide)[out].to_f64();
                let bound = Table::new(&p, &env, &[out], &[]).bound(0, &wide);
                let err = ulps(got, exact);
                // (`ulps` counts steps to the rounded exact value: half an ulp more.)
                assert!(
                    err <= bound + 0.5,
                    "{text} at {t}: {err} ulps, bound {bound}"
                );
                worst_err = worst_err.max(err);
                worst_ratio = worst_ratio.max(err / bound);
            }
            // The double rounding is seen, not only assumed: some error exceeds what
            // one call alone could do.
            assert!(worst_err > 0.55, "{text}: at most {worst_err} ulps");
            assert!(
                worst_ratio > 0.3,
                "{text}: the bound is loose ({worst_ratio})"
            );
        }
    }

    #[test]
    fn one_less_a_reflected_time_is_exact_and_counts_no_rounding() {
        // An upper regime's time is `s = 1 - T` for an f64 `T` in [1/2, 1]; `1 - s` is `T`
        // again in f64, which the bound then counts as exact, and the bound still covers
        // the error of f64 throughout. For any other input it is a rounding.
        let mut times: Vec<f64> = (0..=4000).map(|k| 0.5 + k as f64 / 8000.0).collect();
        times.extend((1..=53).map(|k| 1.0 - 2f64.powi(-k)));
        times.extend((1..=60).map(|k| 0.5 + 2f64.powi(-k)));
        times.extend([
            0.5f64.next_up(),
            1f64.next_down(),
            std::f64::consts::FRAC_1_SQRT_2,
        ]);
        for &big_t in &times {
            let s = 1.0 - big_t;
            assert_eq!(1.0 - s, big_t, "1 - (1 - {big_t})");
        }
        for text in ["1 - t", "t - 1"] {
            let (p, out) = program(text);
            let env = [("t", 0.3)];
            assert!(Table::new(&p, &env, &[out], &[]).bound(0, &[]) > 0.0);
            assert_eq!(Table::new(&p, &env, &[out], &["t"]).bound(0, &[]), 0.0);
            assert!(Table::new(&p, &env, &[out], &["x"]).bound(0, &[]) > 0.0);
        }
        // `1 + s` is not exact (s = 2^-53 makes it a tie).
        let (p, out) = program("1 + t");
        let env = [("t", 0.3)];
        assert!(Table::new(&p, &env, &[out], &["t"]).bound(0, &[]) > 0.0);
        for text in [
            "exp(-(1 - t)*(1/20 + 199*(1 - t)/40))",
            "sqrt(1 - exp(-(1 - t)/10 - 199*(1 - t)^2/20))",
            "(1 - t)*(3/7 + t)",
        ] {
            let (p, out) = program(text);
            let (mut with, mut without) = (0.0f64, 0.0f64);
            for &big_t in &times {
                let env = [("t", 1.0 - big_t)];
                let exact = p.run::<Xd>(&env)[out].to_f64();
                if !exact.is_normal() {
                    continue;
                }
                let got = p.run::<f64>(&env)[out];
                let bound = Table::new(&p, &env, &[out], &["t"]).bound(0, &[]);
                let err = ulps(got, exact);
                assert!(
                    err <= bound + 0.5,
                    "{text} at s = 1 - {big_t}: {err} ulps, bound {bound}"
                );
                with = with.max(bound);
                without = without.max(Table::new(&p, &env, &[out], &[]).bound(0, &[]));
            }
            assert!(with < without, "{text}: {with} against {without}");
        }
    }

    #[test]
    fn double_double_operations_contribute_nothing_but_the_narrowing() {
        // exp(-B) with B in double-double: only the exp's own rounding and the last.
        let (p, out) = program("exp(-t/10 - 199*t^2/20)");
        let env = [("t", 0.9)];
        let table = Table::new(&p, &env, &[out], &[]);
        let wide: Vec<bool> = p.ops.iter().map(|op| !matches!(op, Op::Call(..))).collect();
        let b = table.bound(0, &wide);
        assert!(b <= 1.05, "{b}");
        assert!(table.bound(0, &[]) > 2.0 * b);
        // Everything wide: one rounding to f64 at the end.
        assert_eq!(table.bound(0, &vec![true; p.ops.len()]), 0.5);
    }
}
