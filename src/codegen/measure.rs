//! Measuring an emitted module's accuracy (`emit --verify`): deterministic check points,
//! reference values from certified evaluation, the error of every function (its values
//! come from running the module, `rustc.rs`), and the table of the worst errors.

use serde::Serialize;

use super::check;
use super::rustc::{Calls, RustcError, run_compiled};
use super::view::{self, f64_literal, string_literal};
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

/// The starts of the final steps (to `t_next = 0`) that are checked too.
pub const FINAL_STEP_STARTS: [f64; 4] = [1e-6, 0.1, 0.5, 1.0];

/// One row: the arguments of a call, the reference value, and its error scale (0 for a
/// scalar function, measured in plain ulps).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub args: Vec<f64>,
    pub want: f64,
    pub scale: f64,
}

/// The reference rows of one function.
#[derive(Clone, Debug)]
pub struct Case {
    pub function: String,
    /// The Rust call of the function on a row `r` (`g2(r[0])`), without a module path.
    pub call: String,
    pub rows: Vec<Row>,
    pub bound: f64,
    /// The number of arguments.
    pub arity: usize,
}

fn normal(x: f64) -> bool {
    x.is_normal()
}

/// The reference rows of every function, at [`points`]: rows where the reference is not a
/// finite normal f64 (or is undefined) are left out.
pub fn reference_cases(pool: &mut Pool, functions: &[Function]) -> Vec<Case> {
    let ts = points();
    // The certified value, or at an end where the formula is undefined its limit from
    // inside [0, 1]; None where neither is a finite f64.
    let eval = |pool: &mut Pool, e: ExprId, env: &[(&str, f64)]| -> Option<f64> {
        let env: Vec<_> = env
            .iter()
            .map(|(n, v)| Some((pool.symbol(n), BigRational::from_float(*v)?)))
            .collect::<Option<_>>()?;
        let times: Vec<_> = ["t", "t_next"].iter().map(|n| pool.symbol(n)).collect();
        limit::value_at(
            pool,
            e,
            &env,
            &times,
            limit::MAX_POINT_BITS,
            &ball::round_f64,
        )
        .ok()
        .map(f64::from_bits)
        .filter(|v| v.is_finite())
    };
    let mut cases = Vec::new();
    for f in functions {
        let mut rows = Vec::new();
        let (call, bound, arity) = match &f.shape {
            Shape::Scalar { .. } => {
                for &t in &ts {
                    if let Some(want) = eval(pool, f.expr, &[("t", t)])
                        && (want == 0.0 || normal(want))
                    {
                        rows.push(Row {
                            args: vec![t],
                            want,
                            scale: 0.0,
                        });
                    }
                }
                (format!("{}(r[0])", f.name), check::SCALAR_BOUND, 1)
            }
            Shape::Field { inputs, times, .. } => {
                let n = inputs.len() + times.len();
                let step = times.len() == 2;
                // A step starts after the data end: from t = 0 there is nowhere to go.
                let mut at: Vec<(f64, f64)> = ts
                    .iter()
                    .filter(|&&t| !step || t > 0.0)
                    .map(|&t| (t, next_time(t)))
                    .collect();
                if step {
                    at.extend(FINAL_STEP_STARTS.iter().map(|&t| (t, 0.0)));
                }
                for (t, t_next) in at {
                    let mut env: Vec<(&str, f64)> = inputs
                        .iter()
                        .zip(FIELD_INPUTS)
                        .map(|(i, v)| (i.as_str(), v))
                        .collect();
                    env.push(("t", t));
                    if step {
                        env.push(("t_next", t_next));
                    }
                    let Some(want) = eval(pool, f.expr, &env) else {
                        continue;
                    };
                    let mut scale = 0.0;
                    let mut ok = want.is_finite();
                    for (input, c) in &f.coeff_exprs {
                        let v = env.iter().find(|(n, _)| n == input).map_or(0.0, |p| p.1);
                        match eval(pool, *c, &env) {
                            Some(c) => scale += (c * v).abs(),
                            None => ok = false,
                        }
                    }
                    if ok && normal(scale) && scale.is_finite() {
                        rows.push(Row {
                            args: env.iter().map(|p| p.1).collect(),
                            want,
                            scale,
                        });
                    }
                }
                let args = (0..n).map(|i| format!("r[{i}]")).collect::<Vec<_>>();
                (
                    format!("{}({})", f.name, args.join(", ")),
                    check::FIELD_BOUND,
                    n,
                )
            }
        };
        cases.push(Case {
            function: f.name.clone(),
            call,
            rows,
            bound,
            arity,
        });
    }
    cases
}

/// The worst error of one function.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub function: String,
    /// Largest error in ulps (of the value, or of the scale for fields).
    pub max_err: f64,
    /// The arguments where it occurs.
    pub at: Vec<f64>,
    pub bound: f64,
    pub rows: usize,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.max_err <= self.bound
    }
}

/// Every function of `cases` at every row, computed by the compiled module.
pub fn run(emitted: &Emitted, cases: &[Case]) -> Result<Vec<Vec<f64>>, RustcError> {
    let calls: Vec<Calls> = cases
        .iter()
        .map(|c| Calls {
            call: &c.call,
            arity: c.arity,
            rows: c.rows.iter().map(|r| r.args.as_slice()).collect(),
        })
        .collect();
    run_compiled(emitted, &calls)
}

/// Compares results with the reference rows.
pub fn compare(cases: &[Case], results: &[Vec<f64>]) -> Vec<Report> {
    cases
        .iter()
        .zip(results)
        .map(|(c, got)| {
            let mut worst = Report {
                function: c.function.clone(),
                max_err: 0.0,
                at: Vec::new(),
                bound: c.bound,
                rows: c.rows.len(),
            };
            for (row, &g) in c.rows.iter().zip(got) {
                let err = check::error(g, row.want, row.scale);
                if err > worst.max_err || (err.is_nan() && !worst.max_err.is_nan()) {
                    worst.max_err = err;
                    worst.at = row.args.clone();
                }
            }
            worst
        })
        .collect()
}

/// Emits, compiles, runs and compares: one report per function.
pub fn measure(pool: &mut Pool, emitted: &Emitted) -> Result<Vec<Report>, RustcError> {
    let cases = reference_cases(pool, &emitted.functions);
    let results = run(emitted, &cases)?;
    Ok(compare(&cases, &results))
}

/// The report as a table: function, max error in ulps, where (the last argument of a
/// field is its time(s)).
pub fn table(reports: &[Report]) -> String {
    let width = reports
        .iter()
        .map(|r| r.function.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut s = format!(
        "{:<width$}  {:>10}  {:>5}  {:>6}  where\n",
        "function", "max ulps", "bound", "points"
    );
    for r in reports {
        let at =
            r.at.iter()
                .map(|&a| format!("{a:e}"))
                .collect::<Vec<_>>()
                .join(", ");
        let at = if at.is_empty() {
            "-".to_owned()
        } else {
            format!("({at})")
        };
        let flag = if r.passed() { "" } else { "  FAILED" };
        s.push_str(&format!(
            "{:<width$}  {:>10.2}  {:>5}  {:>6}  {at}{flag}\n",
            r.function, r.max_err, r.bound, r.rows
        ));
    }
    s
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
    bound: String,
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
                test: format!("{}_matches_reference", c.function),
                name: string_literal(&c.function),
                rows: {
                    let rows: Vec<String> = c
                        .rows
                        .iter()
                        .map(|r| {
                            let args: Vec<String> =
                                r.args.iter().map(|&a| f64_literal(a)).collect();
                            format!(
                                "(&[{}], {}, {})",
                                args.join(", "),
                                f64_literal(r.want),
                                f64_literal(r.scale)
                            )
                        })
                        .collect();
                    format!("[{}]", rows.join(", "))
                },
                call: c.call.clone(),
                bound: f64_literal(c.bound),
            })
            .collect(),
    };
    view::render_rust(view::REFERENCE_TEMPLATE, &view)
}

/// The error measures, copied into an emitted crate's reference test.
pub const CHECK: &str = include_str!("check.rs");
