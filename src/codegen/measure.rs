//! Measuring an emitted module's accuracy (`emit --verify`): deterministic check points,
//! reference values from certified evaluation, the error of every function (its values
//! come from running the module, `rustc.rs`), and the table of the worst errors.

use serde::Serialize;

use super::accuracy::{Accuracy, Form};
use super::check;
use super::rustc::{Calls, RustcError, run_compiled};
use super::view::{self, f64_literal, f64_value, string_literal};
use super::{CodegenError, Emitted, Function, Shape};
use num_rational::BigRational;

use crate::expr::{ExprId, Pool};
use crate::expr::{ball, limit};

/// The values of the state, the model output and the noise at which fields are checked.
pub const FIELD_INPUTS: [f64; 3] = [0.625, -0.34375, 1.3125];

/// The times at which every function is checked: 24 Chebyshev nodes of [0, 1],
/// `10^-k`, `1 - 10^-k` for `k = 1..=12`, the tiny times 1e-40, 1e-100, 1e-160, 1e-200
/// and 1e-300 (where `t^2` and `1/sigma^2` leave the f64 range, and the emitted code
/// computes in its wide-range type), and the ends with their neighbours `2^-53` and
/// `1 - 2^-53` (the closest f64 below 1), sorted.
pub fn points() -> Vec<f64> {
    let n = 24;
    let mut ts: Vec<f64> = (0..n)
        .map(|k| {
            let theta = std::f64::consts::PI * (2 * k + 1) as f64 / (2 * n) as f64;
            0.5 - 0.5 * theta.cos()
        })
        .collect();
    for k in 1..=12 {
        let d = 10f64.powi(-k);
        ts.push(d);
        ts.push(1.0 - d);
    }
    let ulp = f64::EPSILON / 2.0;
    ts.extend([1e-300, 1e-200, 1e-160, 1e-100, 1e-40]);
    ts.extend([0.0, ulp, 1.0 - ulp, 1.0]);
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    ts
}

/// The step a sampler takes from `t` in the checks: to `t_next = 3t/4`.
pub fn next_time(t: f64) -> f64 {
    0.75 * t
}

/// The starts of the final steps (to `t_next = 0`) that are checked too: down to 1e-300,
/// where a coefficient that vanishes at t = 0 is 1 minus a number within t^2 of 1, and
/// through the range of the Taylor polynomials that compute those, just below each
/// bound they may have (2^-8 to 1).
pub const FINAL_STEP_STARTS: [f64; 19] = [
    1e-300, 1e-100, 1e-40, 1e-20, 1e-12, 1e-6, 1e-4, 1e-3, 0.0037, 0.0075, 0.015, 0.03, 0.06, 0.12,
    0.24, 0.49, 0.5, 0.99, 1.0,
];

/// The times a step from t = 0 is checked to (a DDIM inversion's first step, from the
/// data end towards the noise): next to 0, inside, and the noise end.
pub const FIRST_STEP_ENDS: [f64; 6] = [1e-300, 1e-8, 0.01, 0.25, 0.5, 1.0];

/// The times a step to t = 1 is checked from (DDIM inversion's last step, onto the noise
/// end, where the process's formulas for alpha and sigma may be limits): from inside, and
/// like [`FINAL_STEP_STARTS`] mirrored, up to `1 - 2^-53`, where a coefficient that
/// vanishes at t = 1 is 1 minus a number within `(1 - t)^2` of 1, and through the range of
/// the Taylor polynomials in `1 - t` that compute those, just above each bound they may
/// have.
pub const LAST_STEP_STARTS: [f64; 17] = [
    1e-8,
    0.25,
    0.5,
    1.0 - 0.49,
    1.0 - 0.24,
    1.0 - 0.12,
    1.0 - 0.06,
    1.0 - 0.03,
    1.0 - 0.015,
    1.0 - 0.0075,
    1.0 - 0.0037,
    1.0 - 1e-3,
    1.0 - 1e-4,
    1.0 - 1e-6,
    1.0 - 1e-9,
    1.0 - 1e-12,
    1.0 - f64::EPSILON / 2.0,
];

/// Below this time (2^-24) an emitted function's narrow types no longer hold its powers
/// of `t` ([`runtime::ordinary`](super::runtime::ordinary)).
const TINY_TIME: f64 = 5.960464477539063e-8;

/// The ratios `t_next / t` of the short steps checked at tiny times: within 2^-10, 2^-30
/// and 2^-39 of 1, both ways, the last just longer than the steps the short steps' Taylor
/// polynomials take ([`super::SHORT_STEP`], 2^-40 t). Below 1e-290 a double-double's low
/// word is subnormal, so that a difference of relative size 2^-39 keeps a handful of bits
/// in it (cosine's x0 steps were 3461 ulps off at 3e-300 to `t (1 - 1.1 2^-40)`, 191,824
/// at 1e-300 to `t (1 - 2^-45)` before those polynomials) and only the wide-range type
/// holds them. (Shorter steps, down to one ulp, are checked at every time: a log-SNR
/// difference `log tan(pi t_next/2) - log tan(pi t/2)` at t = 1e-160 cancels more bits
/// than double-double has, and shifted_cosine's DDIM steps of one ulp were 145 ulps off
/// there.)
const SHORT_STEPS: [f64; 6] = [
    1.0 - 1.0 / 1024.0,
    1.0 + 1.0 / 1024.0,
    1.0 - 1.0 / 1_073_741_824.0,
    1.0 + 1.0 / 1_073_741_824.0,
    1.0 - 1.0 / 549_755_813_888.0,
    1.0 + 1.0 / 549_755_813_888.0,
];

/// One row: the arguments of a call, the reference value, its error scale (0: measured
/// in plain ulps) and the largest error allowed.
///
/// A scalar function has one row per checked time. A field has, per checked time, one row
/// per coefficient (its inputs a unit vector, so the call returns that coefficient:
/// measured in ulps against the accuracy budget) and one at [`FIELD_INPUTS`] (measured in
/// ulps of its scale `sum |c_i v_i|`, against the bound the budget implies,
/// [`Accuracy::field_bound`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub args: Vec<f64>,
    pub want: f64,
    pub scale: f64,
    pub bound: f64,
}

/// The reference rows of one function.
#[derive(Clone, Debug)]
pub struct Case {
    pub function: String,
    /// The Rust call of the function on a row `r` (`g2(r[0])`), without a module path.
    pub call: String,
    pub rows: Vec<Row>,
    /// The number of arguments.
    pub arity: usize,
    /// The form the function is emitted in.
    pub form: Form,
    /// The bound of its rows measured in plain ulps (the accuracy budget).
    pub budget: f64,
    /// The number of values one call returns: 1 for `f64`; `n` for `[f64; n]`, whose rows
    /// come in runs of `n` with the same arguments, one per element.
    pub outputs: usize,
}

impl Case {
    /// The arguments of each call: every row's, or for an array-valued function one per
    /// run of rows.
    pub fn calls(&self) -> Vec<&[f64]> {
        self.rows
            .chunks(self.outputs.max(1))
            .map(|run| run[0].args.as_slice())
            .collect()
    }
}

fn normal(x: f64) -> bool {
    x.is_normal()
}

/// The reference rows of every function, at [`points`] (steps: towards the data, inversion
/// steps towards the noise, and the ends' steps), and around the roots found on those
/// lines ([`points_near_roots`]), with the bounds of `accuracy`: rows where the reference
/// is not a finite normal f64 (or is undefined) are left out.
pub fn reference_cases(pool: &mut Pool, functions: &[Function], accuracy: Accuracy) -> Vec<Case> {
    let budget = accuracy.ulps();
    let ts = points();
    // Every name an environment below binds, interned first: the evaluations then only
    // read the pool, on several threads.
    let times = [pool.symbol("t"), pool.symbol("t_next")];
    for f in functions {
        if let Shape::Field { inputs, .. } = &f.shape {
            for input in inputs {
                pool.symbol(input);
            }
        }
    }
    let pool: &Pool = pool;
    // The certified value, or at an end where the formula is undefined its limit from
    // inside [0, 1] (an infinity where it tends to one); None where neither is known.
    let eval = |e: ExprId, env: &[(&str, f64)]| -> Option<f64> {
        let env: Vec<_> = env
            .iter()
            .map(|(n, v)| Some((pool.lookup_symbol(n)?, BigRational::from_float(*v)?)))
            .collect::<Option<_>>()?;
        limit::value_at(
            pool,
            e,
            &env,
            &times,
            limit::MAX_POINT_BITS,
            &ball::round_f64,
        )
        .map(f64::from_bits)
        .or_else(|err| match err {
            limit::PointError::Infinite { sign, .. } => Ok(f64::INFINITY.copysign(sign.into())),
            other => Err(other),
        })
        .ok()
    };
    // The points each function is evaluated at: `(t, t_next)` for a step, `(t, t)` for
    // a function of t alone.
    let at_of = |f: &Function| -> Vec<(f64, f64)> {
        if !matches!(&f.shape, Shape::Field { times, .. } if times.len() == 2) {
            return ts.iter().map(|&t| (t, t)).collect();
        }
        // Steps towards the data end; from t = 0 itself, steps towards the noise (DDIM
        // inversion), where a general form may be 0/0 or the step has a pole.
        let mut at: Vec<(f64, f64)> = ts
            .iter()
            .filter(|&&t| t > 0.0)
            .map(|&t| (t, next_time(t)))
            .collect();
        // Inversion steps between interior times, towards the noise: from t to t/(3/4).
        // Its end (t_next = 1) is approached like the noise end itself, within 10^-k.
        let inverse = Line::Over(next_time(1.0));
        at.extend(
            ts.iter()
                .copied()
                .chain((1..=12).map(|k| next_time(1.0 - 10f64.powi(-k))))
                .filter(|&t| t > 0.0 && inverse.at(t) <= 1.0)
                .map(|t| (t, inverse.at(t))),
        );
        // Short steps at tiny times, both ways, down to a step length below the least
        // normal f64 (t = 1e-300, h = t 2^-30): the difference of two nearly equal
        // values of the schedule, where the narrow types' intermediates underflow and
        // only the wide-range type keeps the digits (`runtime::ordinary`'s fallback).
        at.extend(
            ts.iter()
                .filter(|&&t| t > 0.0 && t < TINY_TIME)
                .flat_map(|&t| SHORT_STEPS.iter().map(move |&r| (t, t * r))),
        );
        // Short steps at every time inside (0, 1): one ulp either way, and one each side
        // of the bound of the short steps' Taylor polynomials (`super::short_step_guard`),
        // where the two values of the schedule a general form subtracts agree to all but
        // their last bits.
        at.extend(
            ts.iter()
                .filter(|&&t| t > 0.0 && t < 1.0)
                .flat_map(|&t| {
                    let bound = super::SHORT_STEP * t.min(1.0 - t);
                    [
                        t.next_down(),
                        t.next_up(),
                        t - 0.75 * bound,
                        t - 1.5 * bound,
                    ]
                    .map(|t_next| (t, t_next))
                })
                .filter(|&(t, t_next)| t_next != t && t_next <= 1.0),
        );
        // Short steps next to the ends, either side of the bound of their Taylor
        // polynomials (`super::end_short_step_guard`): from every time above 1/2 and from
        // 1 itself towards the data (and of one ulp), from every time inside (0, 1/2)
        // towards the data where the step stays inside, else towards the noise.
        let bound = super::END_SHORT_STEP;
        at.extend(ts.iter().filter(|&&t| t > 0.5 && t <= 1.0).flat_map(|&t| {
            [t.next_down(), t - 0.75 * bound, t - 1.5 * bound].map(|t_next| (t, t_next))
        }));
        at.extend(ts.iter().filter(|&&t| t > 0.0 && t < 0.5).flat_map(|&t| {
            let way = if t > 1.5 * bound { -1.0 } else { 1.0 };
            [0.75, 1.5].map(|r| (t, t + way * r * bound))
        }));
        at.extend(FINAL_STEP_STARTS.iter().map(|&t| (t, 0.0)));
        at.extend(FIRST_STEP_ENDS.iter().map(|&t_next| (0.0, t_next)));
        at.extend(LAST_STEP_STARTS.iter().map(|&t| (t, 1.0)));
        // On the lines where a coefficient vanishes near t = 0 or 1 (`Function::zero_lines`).
        for &r in &f.zero_lines[0] {
            at.extend(
                ts.iter()
                    .filter(|&&t| t > 0.0 && r * t <= 1.0 && r * t != next_time(t))
                    .map(|&t| (t, r * t)),
            );
        }
        for &r in &f.zero_lines[1] {
            let line = Line::FromOne(r);
            at.extend(
                ts.iter()
                    .filter(|&&t| (0.5..1.0).contains(&t) && (0.0..=1.0).contains(&line.at(t)))
                    .map(|&t| (t, line.at(t))),
            );
        }
        at
    };
    let mut ats: Vec<Vec<(f64, f64)>> = functions.iter().map(at_of).collect();
    type Values = (Option<f64>, Vec<Option<f64>>);
    // The reference values, point by point (the functions at one point share their
    // subexpressions' balls, `ball::sharing`), the points on as many threads as there are
    // cores: each function's value and, for a field whose value is known, each
    // coefficient's.
    let value = |f: &Function, (t, t_next): (f64, f64)| -> Values {
        match &f.shape {
            Shape::Scalar { .. } => (eval(f.expr, &[("t", t)]), Vec::new()),
            Shape::Field { inputs, times, .. } => {
                let env = field_env(inputs, times.len() == 2, t, t_next);
                let want = eval(f.expr, &env);
                let coeffs = match want {
                    Some(_) => f.coeff_exprs.iter().map(|(_, c)| eval(*c, &env)).collect(),
                    None => Vec::new(),
                };
                (want, coeffs)
            }
        }
    };
    let values_at = |ats: &[Vec<(f64, f64)>]| -> Vec<Vec<Values>> {
        let mut by_point: std::collections::BTreeMap<(u64, u64), Vec<(usize, usize)>> =
            std::collections::BTreeMap::new();
        for (i, at) in ats.iter().enumerate() {
            for (k, &(t, t_next)) in at.iter().enumerate() {
                by_point
                    .entry((t.to_bits(), t_next.to_bits()))
                    .or_default()
                    .push((i, k));
            }
        }
        let uses: Vec<&Vec<(usize, usize)>> = by_point.values().collect();
        let computed = crate::par::map(&uses, crate::par::workers(uses.len()), |uses| {
            ball::sharing(|| {
                uses.iter()
                    .map(|&(i, k)| value(&functions[i], ats[i][k]))
                    .collect::<Vec<_>>()
            })
        });
        let mut values: Vec<Vec<Values>> = ats
            .iter()
            .map(|a| vec![(None, Vec::new()); a.len()])
            .collect();
        for (uses, computed) in uses.iter().zip(computed) {
            for (&(i, k), v) in uses.iter().zip(computed) {
                values[i][k] = v;
            }
        }
        values
    };
    let mut values = values_at(&ats);
    // Around the roots of each function and coefficient along the lines it is checked on
    // (a difference that cancels there, so its relative error is unbounded), found by
    // bisection: the points are added and their values computed.
    let near: Vec<Vec<(f64, f64)>> = crate::par::map(
        &(0..functions.len()).collect::<Vec<_>>(),
        crate::par::workers(functions.len()),
        |&i| {
            let f = &functions[i];
            let component = |j: Option<usize>, (t, t_next): (f64, f64)| -> Option<f64> {
                match (&f.shape, j) {
                    (Shape::Field { inputs, times, .. }, Some(j)) => {
                        let env = field_env(inputs, times.len() == 2, t, t_next);
                        eval(f.coeff_exprs[j].1, &env)
                    }
                    _ => eval(f.expr, &[("t", t)]),
                }
            };
            points_near_roots(f, &ats[i], &values[i], &component)
        },
    );
    let near_values = values_at(&near);
    for (i, (at, v)) in near.into_iter().zip(near_values).enumerate() {
        ats[i].extend(at);
        values[i].extend(v);
    }
    let mut cases = Vec::new();
    for ((f, at), values) in functions.iter().zip(&ats).zip(values) {
        let mut rows = Vec::new();
        let (call, arity) = match &f.shape {
            Shape::Scalar { .. } => {
                for (&(t, _), (want, _)) in at.iter().zip(values) {
                    if let Some(want) = want
                        && (want == 0.0 || want.is_infinite() || normal(want))
                    {
                        rows.push(Row {
                            args: vec![t],
                            want,
                            scale: 0.0,
                            bound: budget,
                        });
                    }
                }
                (format!("{}(r[0])", f.name), 1)
            }
            Shape::Field { inputs, times, .. } => {
                let n = inputs.len() + times.len();
                let step = times.len() == 2;
                for (&(t, t_next), (want, coeffs)) in at.iter().zip(values) {
                    let env = field_env(inputs, step, t, t_next);
                    let Some(want) = want else {
                        continue;
                    };
                    let mut scale = 0.0;
                    let mut ok = want.is_finite();
                    let known = coeffs.iter().all(Option::is_some);
                    let mut units = Vec::new();
                    for ((input, _), c) in f.coeff_exprs.iter().zip(coeffs) {
                        let k = inputs.iter().position(|i| i == input);
                        let v = k.map_or(0.0, |k| env[k].1);
                        match c {
                            Some(c) => {
                                scale += (c * v).abs();
                                // The coefficient alone: this input 1, the others 0.
                                let mut args: Vec<f64> = env.iter().map(|p| p.1).collect();
                                args[..inputs.len()].fill(0.0);
                                if let Some(k) = k {
                                    args[k] = 1.0;
                                }
                                units.push(Row {
                                    args,
                                    want: c,
                                    scale: 0.0,
                                    bound: budget,
                                });
                            }
                            None => ok = false,
                        }
                    }
                    // At a pole the value is an infinity, each coefficient's its own or
                    // a finite value: exact or not at all ([`check::error`]).
                    if want.is_infinite() && known && !units.is_empty() {
                        scale = 1.0;
                        ok = true;
                    }
                    if ok && normal(scale) && scale.is_finite() {
                        rows.extend(units);
                        rows.push(Row {
                            args: env.iter().map(|p| p.1).collect(),
                            want,
                            scale,
                            bound: accuracy.field_bound(f.coeff_exprs.len()),
                        });
                    }
                }
                let args = (0..n).map(|i| format!("r[{i}]")).collect::<Vec<_>>();
                (format!("{}({})", f.name, args.join(", ")), n)
            }
        };
        cases.push(Case {
            function: f.name.clone(),
            call,
            rows,
            arity,
            form: f.form,
            budget,
            outputs: 1,
        });
    }
    cases
}

/// A line of points a function is checked along, as a map from `t` to `t_next`.
#[derive(Clone, Copy, Debug)]
enum Line {
    /// A function of t alone: `t_next = t`.
    Same,
    /// `t_next = r t`: steps towards the data, the final steps (`r = 0`), the lines where a
    /// coefficient vanishes.
    Times(f64),
    /// `t_next = t / d`: inversion steps, towards the noise.
    Over(f64),
    /// `t_next = 1`: steps onto the noise end.
    ToOne,
    /// `1 - t_next = r (1 - t)`: the lines where a coefficient vanishes near t = 1.
    FromOne(f64),
}

impl Line {
    fn at(self, t: f64) -> f64 {
        match self {
            Line::Same => t,
            Line::Times(r) => r * t,
            Line::Over(d) => t / d,
            Line::ToOne => 1.0,
            Line::FromOne(r) => 1.0 - r * (1.0 - t),
        }
    }
}

/// The relative distances from a root at which a function is checked: far enough that
/// double-double resolves the value (its error is about `2^-106 / |value|` of the terms),
/// close enough that a difference left in `f64` does not.
const NEAR_ROOT: [i32; 4] = [8, 16, 24, 32];

/// The points, on the lines `f` is checked along, around each root of its value (a
/// scalar) or of each of its coefficients (a field): where the checked values change sign
/// between two neighbouring points of a line, the root between them is found by bisection
/// (`component(j, point)` is coefficient `j`'s reference value, or the scalar's for
/// `None`) and the points at relative distances `2^-k` ([`NEAR_ROOT`]) on either side are
/// returned. A sign change through a pole is refined the same way: a difference cancels
/// near a pole too.
fn points_near_roots(
    f: &Function,
    at: &[(f64, f64)],
    values: &[(Option<f64>, Vec<Option<f64>>)],
    component: &dyn Fn(Option<usize>, (f64, f64)) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let (lines, components): (Vec<Line>, Vec<Option<usize>>) = match &f.shape {
        Shape::Scalar { .. } => (vec![Line::Same], vec![None]),
        Shape::Field { times, .. } => {
            let lines = if times.len() == 2 {
                let mut lines = vec![
                    Line::Times(next_time(1.0)),
                    Line::Over(next_time(1.0)),
                    Line::Times(0.0),
                    Line::ToOne,
                ];
                lines.extend(f.zero_lines[0].iter().map(|&r| Line::Times(r)));
                lines.extend(f.zero_lines[1].iter().map(|&r| Line::FromOne(r)));
                lines
            } else {
                vec![Line::Same]
            };
            (lines, (0..f.coeff_exprs.len()).map(Some).collect())
        }
    };
    let checked = |v: Option<f64>| v.filter(|v| normal(*v));
    let mut near = Vec::new();
    for line in lines {
        for &j in &components {
            let mut on_line: Vec<(f64, f64)> = at
                .iter()
                .zip(values)
                .filter(|((t, t_next), _)| *t > 0.0 && line.at(*t).to_bits() == t_next.to_bits())
                .filter_map(|(&(t, _), (want, coeffs))| {
                    let v = match j {
                        Some(j) => *coeffs.get(j)?,
                        None => *want,
                    };
                    Some((t, checked(v)?))
                })
                .collect();
            on_line.sort_by(|a, b| a.0.total_cmp(&b.0));
            for pair in on_line.windows(2) {
                let ((mut lo, v_lo), (mut hi, _)) = (pair[0], pair[1]);
                if (v_lo > 0.0) == (pair[1].1 > 0.0) {
                    continue;
                }
                // Bisection (geometric across orders of magnitude) to a relative width
                // below the closest checked distance.
                while hi - lo > hi * 2f64.powi(-40) {
                    let mid = if hi > 4.0 * lo {
                        (lo * hi).sqrt()
                    } else {
                        lo + (hi - lo) / 2.0
                    };
                    if mid <= lo || mid >= hi {
                        break;
                    }
                    match checked(component(j, (mid, line.at(mid)))) {
                        Some(v) if (v > 0.0) == (v_lo > 0.0) => lo = mid,
                        Some(_) => hi = mid,
                        None => break,
                    }
                }
                let root = lo + (hi - lo) / 2.0;
                for k in NEAR_ROOT {
                    for side in [-1.0, 1.0] {
                        let t = root * (1.0 + side * 2f64.powi(-k));
                        let t_next = line.at(t);
                        if t > 0.0 && t <= 1.0 && (0.0..=1.0).contains(&t_next) {
                            near.push((t, t_next));
                        }
                    }
                }
            }
        }
    }
    near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    near.dedup();
    near.retain(|p| !at.contains(p));
    near
}

/// The environment a field is checked in: its inputs at [`FIELD_INPUTS`], then `t` (and
/// `t_next` for a step).
fn field_env(inputs: &[String], step: bool, t: f64, t_next: f64) -> Vec<(&str, f64)> {
    let mut env: Vec<(&str, f64)> = inputs
        .iter()
        .zip(FIELD_INPUTS)
        .map(|(i, v)| (i.as_str(), v))
        .collect();
    env.push(("t", t));
    if step {
        env.push(("t_next", t_next));
    }
    env
}

/// The worst error over some rows: how large, where, and the bound it is held to.
#[derive(Clone, Debug, PartialEq)]
pub struct Worst {
    pub max_err: f64,
    /// The arguments where it occurs (empty when every error is 0).
    pub at: Vec<f64>,
    pub bound: f64,
}

impl Worst {
    fn new(bound: f64) -> Worst {
        Worst {
            max_err: 0.0,
            at: Vec::new(),
            bound,
        }
    }

    fn add(&mut self, err: f64, args: &[f64]) {
        if err > self.max_err || (err.is_nan() && !self.max_err.is_nan()) {
            self.max_err = err;
            self.at = args.to_vec();
        }
    }

    pub fn passed(&self) -> bool {
        self.max_err <= self.bound
    }
}

/// The worst errors of one function.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub function: String,
    pub form: Form,
    /// In ulps of the value (scalar functions) or of each coefficient (fields), against
    /// the accuracy budget.
    pub worst: Worst,
    /// Fields only: the value at [`FIELD_INPUTS`] in ulps of its scale, against
    /// [`Accuracy::field_bound`].
    pub value: Option<Worst>,
    pub rows: usize,
    /// The number of rows measured in plain ulps (the others are in ulps of a scale).
    pub plain: usize,
    /// False for code that only the compiled module can run (a mixture's evaluators) when
    /// it was not compiled: `--verify` measures it.
    pub measured: bool,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.worst.passed() && self.value.as_ref().is_none_or(Worst::passed)
    }

    /// The report of a case that was not run: it passes nothing and fails nothing.
    pub fn pending(case: &Case) -> Report {
        Report {
            function: case.function.clone(),
            form: case.form,
            worst: Worst::new(case.budget),
            value: None,
            rows: case.rows.len(),
            plain: 0,
            measured: false,
        }
    }
}

/// Every function of `cases` at every row, computed by the compiled module.
pub fn run(emitted: &Emitted, cases: &[Case]) -> Result<Vec<Vec<f64>>, RustcError> {
    let calls: Vec<Calls> = cases
        .iter()
        .map(|c| Calls {
            call: &c.call,
            arity: c.arity,
            outputs: c.outputs,
            rows: c.calls(),
        })
        .collect();
    run_compiled(emitted, &calls)
}

/// Compares results with the reference rows: rows measured in plain ulps (scalar values,
/// coefficients) against the budget, rows measured in ulps of a scale (field values)
/// separately.
pub fn compare(cases: &[Case], results: &[Vec<f64>]) -> Vec<Report> {
    cases
        .iter()
        .zip(results)
        .map(|(c, got)| {
            let mut worst = Worst::new(c.budget);
            let mut value: Option<Worst> = None;
            let mut plain = 0;
            for (row, &g) in c.rows.iter().zip(got) {
                let err = check::error(g, row.want, row.scale);
                if row.scale == 0.0 {
                    plain += 1;
                    worst.add(err, &row.args);
                } else {
                    value
                        .get_or_insert_with(|| Worst::new(row.bound))
                        .add(err, &row.args);
                }
            }
            Report {
                function: c.function.clone(),
                form: c.form,
                worst,
                value,
                rows: c.rows.len(),
                plain,
                measured: true,
            }
        })
        .collect()
}

/// Compiles and runs `emitted` on its reference rows and compares: one report per
/// function.
pub fn measure(emitted: &Emitted) -> Result<Vec<Report>, RustcError> {
    let results = run(emitted, &emitted.cases)?;
    Ok(compare(&emitted.cases, &results))
}

/// A bound as the table shows it: `-` when there is none (`--accuracy fast`).
fn bound_text(b: f64) -> String {
    if b.is_finite() {
        format!("{b}")
    } else {
        "-".to_owned()
    }
}

/// Arguments as the table shows them: `(1e-12, 7.5e-13)`, or `-`; beyond 6 arguments (a
/// mixture's point in many dimensions) the first 4, `...` and the last.
fn args_text(at: &[f64]) -> String {
    if at.is_empty() {
        return "-".to_owned();
    }
    let show = |a: &f64| format!("{a:e}");
    let shown: Vec<String> = if at.len() > 6 {
        at[..4]
            .iter()
            .map(show)
            .chain(["...".to_owned(), show(&at[at.len() - 1])])
            .collect()
    } else {
        at.iter().map(show).collect()
    };
    format!("({})", shown.join(", "))
}

/// The reports as a table: function, form, worst error in ulps (of the value, or of each
/// coefficient of a field) and its budget, and for fields the worst error of the value at
/// the checked inputs in ulps of its scale with its bound; then the points and where the
/// worst error occurs (a field's arguments are its inputs, a unit vector for a
/// coefficient, then its time(s)).
pub fn table(reports: &[Report]) -> String {
    let width = reports
        .iter()
        .map(|r| r.function.len())
        .max()
        .unwrap_or(8)
        .max(8);
    // "double-double" is the longest name but for `mixed(123/456)` of long programs.
    let form_width = reports
        .iter()
        .map(|r| r.form.name().len())
        .max()
        .unwrap_or(13)
        .max(13);
    let mut s = format!(
        "{:<width$}  {:<form_width$}  {:>10}  {:>6}  {:>10}  {:>6}  {:>6}  where\n",
        "function", "form", "max ulps", "budget", "field ulps", "bound", "points"
    );
    for r in reports {
        let (value, value_bound) = match &r.value {
            Some(v) => (ulps_text(v.max_err), bound_text(v.bound)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let mut flag = String::new();
        if !r.measured {
            flag.push_str("  (measured by --verify, which compiles the module)");
        }
        if !r.worst.passed() {
            flag.push_str("  FAILED");
        }
        if let Some(v) = r.value.as_ref().filter(|v| !v.passed()) {
            flag.push_str(&format!("  FAILED (field value at {})", args_text(&v.at)));
        }
        s.push_str(&format!(
            "{:<width$}  {:<form_width$}  {:>10}  {:>6}  {:>10}  {:>6}  {:>6}  {}{flag}\n",
            r.function,
            r.form.name(),
            if r.plain > 0 {
                ulps_text(r.worst.max_err)
            } else {
                "-".to_owned()
            },
            if r.plain > 0 {
                bound_text(r.worst.bound)
            } else {
                "-".to_owned()
            },
            value,
            value_bound,
            r.rows,
            // Where the worst error is: of the values, or for functions measured only in
            // ulps of a scale (a mixture's), of those.
            args_text(match (&r.value, r.plain) {
                (Some(v), 0) => &v.at,
                _ => &r.worst.at,
            }),
        ));
    }
    s
}

/// An error in ulps for the table: two decimals, or from a million on, three digits and
/// an exponent (`7.97e18`; the digits of a number of up to 309 beyond them say nothing a
/// failed row needs, and broke the table's columns).
fn ulps_text(err: f64) -> String {
    if err.abs() < 1e6 || !err.is_finite() {
        format!("{err:.2}")
    } else {
        format!("{err:.2e}")
    }
}

#[derive(Serialize)]
struct ReferenceView {
    header: String,
    lib: String,
    check: String,
    cases: Vec<RefCaseView>,
}

#[derive(Serialize)]
struct RefCaseView {
    test: String,
    name: String,
    rows: String,
    call: String,
    /// The call returns an array: each row holds the references and scales of its elements.
    array: bool,
}

/// `tests/reference.rs` of an emitted crate whose library is `lib`.
pub fn reference_test(cases: &[Case], lib: &str, source: &str) -> Result<String, CodegenError> {
    let view = ReferenceView {
        header: view::doc_literal(&format!(
            "generated by diffsym from {source}; do not edit: reference values at 256 bits"
        )),
        lib: lib.to_owned(),
        check: CHECK.to_owned(),
        cases: cases
            .iter()
            .map(|c| RefCaseView {
                test: format!("{}_matches_reference", c.function.replace("::", "_")),
                name: string_literal(&c.function),
                rows: {
                    let rows: Vec<String> = c
                        .rows
                        .chunks(c.outputs.max(1))
                        .map(|run| {
                            let args: Vec<String> =
                                run[0].args.iter().map(|&a| f64_literal(a)).collect();
                            let list = |f: &dyn Fn(&Row) -> String| {
                                run.iter().map(f).collect::<Vec<_>>().join(", ")
                            };
                            let (want, scale) = if c.outputs == 1 {
                                (
                                    list(&|r| f64_value(r.want)),
                                    list(&|r| f64_literal(r.scale)),
                                )
                            } else {
                                (
                                    format!("&[{}]", list(&|r| f64_value(r.want))),
                                    format!("&[{}]", list(&|r| f64_literal(r.scale))),
                                )
                            };
                            format!(
                                "(&[{}], {want}, {scale}, {})",
                                args.join(", "),
                                f64_value(run[0].bound)
                            )
                        })
                        .collect();
                    format!("[{}]", rows.join(", "))
                },
                array: c.outputs != 1,
                call: c.call.clone(),
            })
            .collect(),
    };
    view::render_rust(view::REFERENCE_TEMPLATE, &view)
}

/// The error measures, copied into an emitted crate's reference test.
pub const CHECK: &str = include_str!("check.rs");

#[cfg(test)]
mod tests {
    use super::*;

    /// Forms such as `mixed(120/130)` (long programs) are wider than the column's
    /// header: the columns after it still line up.
    #[test]
    fn the_table_lines_up_after_a_wide_form() {
        let report = |function: &str, form: Form| Report {
            function: function.to_owned(),
            form,
            worst: Worst {
                max_err: 1.0,
                at: vec![0.5],
                bound: 4.0,
            },
            value: None,
            rows: 57,
            plain: 57,
            measured: true,
        };
        let text = table(&[
            report("alpha", Form::F64),
            report(
                "f",
                Form::Mixed {
                    wide: 120,
                    ops: 130,
                },
            ),
            report("g", Form::Dd),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        let end = lines[0].find("max ulps").expect("header") + "max ulps".len();
        for l in &lines[1..] {
            assert_eq!(&l[end - 4..end], "1.00", "{text}");
        }
    }

    /// A huge error prints with an exponent, and reads back as the number it is; small
    /// ones, infinities and NaN as before.
    #[test]
    fn huge_errors_print_with_an_exponent() {
        assert_eq!(ulps_text(3.0), "3.00");
        assert_eq!(ulps_text(999_999.0), "999999.00");
        assert_eq!(ulps_text(f64::INFINITY), "inf");
        assert_eq!(ulps_text(f64::NAN), "NaN");
        let huge = 1.0158494947673558e272;
        let text = ulps_text(huge);
        assert_eq!(text, "1.02e272");
        let back: f64 = text.parse().expect("a number");
        assert!((back / huge - 1.0).abs() < 5e-3);
        assert_eq!(ulps_text(7.970182342831165e18), "7.97e18");
    }
}
