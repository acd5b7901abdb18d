//! Code generation: specialised Rust evaluators of a process, and their verification.
//!
//! [`functions`] lowers every derived quantity and field of a [`Process`] to a
//! straight-line [`lower::Program`] (stable rewrites first, unless naive); [`emit_module`]
//! puts them in a view model and renders `templates/module.rs.tera`; [`measure`] runs the
//! result (compiled by the driver in [`rustc`]) and compares it with the 256-bit reference.

pub mod accuracy;
pub mod budget;
pub mod check;
pub(crate) mod lower;
pub mod measure;
pub(crate) mod rounding;
// The runtime is shipped as source in every stable module; the crate itself uses `Dd`
// (analysis::numerics) and tests the rest (`runtime_tests`).
#[allow(dead_code)]
pub(crate) mod runtime;
pub(crate) mod rustc;
pub(crate) mod stable;
pub(crate) mod taylor;
pub(crate) mod view;

#[cfg(test)]
mod runtime_tests;

use crate::diag::codes;
use crate::expr::{ExprId, Pool, Symbol, diff, print};
use crate::process::{Process, derive, fields};

pub use accuracy::{Accuracy, Form};
pub use lower::Mode;
use lower::{Lowerer, Program, Var};

/// Why code generation failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CodegenError {
    #[error("`{name}` cannot be a Rust identifier{why}")]
    Ident { name: String, why: String },
    #[error("cannot lower `{function}`: {source}")]
    Lower {
        function: String,
        #[source]
        source: lower::LowerError,
    },
    /// A bug in diffsym, not in the input.
    #[error("internal error in code generation: {what}")]
    Internal { what: String },
}

impl CodegenError {
    /// The stable code of this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            CodegenError::Ident { .. } => codes::EMIT_IDENT,
            CodegenError::Lower { .. } => codes::EMIT_LOWER,
            CodegenError::Internal { .. } => codes::EMIT_INTERNAL,
        }
    }
}

/// Rust's strict and reserved keywords (2021 and 2024 editions).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

/// Keywords that cannot be raw identifiers either.
const NOT_RAW: &[&str] = &["crate", "self", "Self", "super", "_"];

/// `name` as a Rust identifier: itself, `r#name` for a keyword, or an error when Rust
/// cannot name it at all.
pub fn rust_ident(name: &str) -> Result<String, CodegenError> {
    let err = |why: &str| CodegenError::Ident {
        name: name.to_owned(),
        why: why.to_owned(),
    };
    let mut chars = name.chars();
    let first = chars.next().ok_or_else(|| err(": it is empty"))?;
    if !(first.is_ascii_alphabetic() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(err(
            ": use ASCII letters, digits and `_`, not starting with a digit",
        ));
    }
    if NOT_RAW.contains(&name) {
        return Err(err(
            ": it is a Rust keyword that not even `r#` can escape; rename it",
        ));
    }
    if KEYWORDS.contains(&name) {
        return Ok(format!("r#{name}"));
    }
    Ok(name.to_owned())
}

/// How a lowered function is called and what its program's outputs mean.
#[derive(Clone, Debug)]
pub enum Shape {
    /// `name(t) -> f64`.
    Scalar { out: Var },
    /// `name(inputs..., times...) -> f64`, linear in the inputs: `sum coeff_i * input_i`.
    Field {
        /// `x`, the model output, and `z` for Euler-Maruyama.
        inputs: Vec<String>,
        /// `t`, and `t_next` for steps.
        times: Vec<String>,
        /// The nonzero coefficients, by input.
        coeffs: Vec<(String, Var)>,
        step: bool,
    },
}

/// One function of an emitted module.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    /// The exact expression it evaluates, in its inputs and times (the reference).
    pub expr: ExprId,
    /// The exact coefficients of the inputs (fields only), for error scales.
    pub coeff_exprs: Vec<(String, ExprId)>,
    /// `name(args) = formula`, in LaTeX.
    pub latex: String,
    pub program: Program,
    pub shape: Shape,
    /// What the function returns at exact ends of [0, 1] where its formula is undefined or
    /// loses its limit: checked before the general program, in order.
    pub guards: Vec<Guard>,
    /// Fields: the ends where some coefficients are infinite ([`Pole`]).
    pub poles: Vec<Pole>,
    /// The number types its body runs in: naive for a naive lowering; for a stable one,
    /// double-double until [`budget::choose`] measures a cheaper form within the budget.
    pub form: Form,
    /// Stable programs: which operations run in double-double (the others in f64).
    pub wide: Vec<bool>,
    /// Stable programs: whether the result is computed again in `Xd` where it is not
    /// ordinary (`runtime::ordinary`); left out where the form meets its budget without.
    pub fallback: bool,
    /// Stable fields: whether a coefficient leaves the range of f64 away from the poles
    /// (its reference rows show it: `0.5 sigmoid(1/t)/t^2` at t = 1e-300), so that where
    /// `sum c_i v_i` in f64 is not finite (`inf - inf`, or `inf * 0`) the emitted field
    /// sums its coefficients again in `Xd` (`dd::wide_sum`).
    pub wide_sum: bool,
    /// Stable functions: the upper regime, the same formula with every time `s` written as
    /// `1 - s` (its program's inputs are `1 - t`, `1 - t_next`), which the body runs where
    /// every time is at least 1/2, so that `1 - s` is exact. The end t = 1 is then an end
    /// at 0, where the stable rewrites see what cancels (`cos(pi t/2)` is `sin(pi (1 - t)/2)`
    /// there). Kept by [`budget::choose`] only where it makes the function cheaper; its
    /// guards and fallback are the outer function's.
    pub upper: Option<Box<Function>>,
    /// Whether this is an upper regime: its times are one minus its caller's.
    pub reflected: bool,
    /// Stable programs: the operations in double-double where `t` is below each bound, in
    /// increasing order, checked after the guards and the upper regime; `wide` is for the
    /// rest. [`budget::choose`] splits the range of `t` where double-double is needed in
    /// part of it only (next to a zero of the value, say).
    pub cells: Vec<(f64, Vec<bool>)>,
    /// Steps: the operations in double-double for a step toward the data end (`t_next <
    /// t`, what a sampler takes; `t_next > t` in an upper regime, whose times are
    /// reflected), checked after the guards and the upper regime and before the cells.
    /// [`budget::choose`] keeps them where such steps need fewer than the cells do: `1 +
    /// h alpha'/alpha` of an Euler step cancels only when the step goes toward the noise.
    pub toward: Option<Toward>,
    /// Steps: the ratios `r` of the lines `t_next = r t` on which a coefficient vanishes
    /// near t = 0, then of the lines `1 - t_next = r (1 - t)` on which one vanishes near t
    /// = 1 ([`pole_guard`]), where the reference rows check it too.
    pub zero_lines: [Vec<f64>; 2],
}

/// The operations in double-double of a step toward the data end ([`Function::toward`]):
/// where `t` is below each bound, then for the rest, as [`Function::cells`] and
/// [`Function::wide`] are for every step.
#[derive(Clone, Debug, PartialEq)]
pub struct Toward {
    pub cells: Vec<(f64, Vec<bool>)>,
    pub wide: Vec<bool>,
}

/// The time `1/2` from which a function runs its upper regime ([`Function::upper`]).
pub const UPPER_FROM: f64 = 0.5;

impl Function {
    /// Whether some program of this function checks the range of a value
    /// ([`Program::checked`]): its NaN then asks for the `Xd` fallback.
    pub fn checks_ranges(&self) -> bool {
        !self.program.checked.is_empty()
            || self
                .guards
                .iter()
                .any(|g| matches!(&g.body, GuardBody::Program(p, _) if !p.checked.is_empty()))
            || self.upper.as_ref().is_some_and(|up| up.checks_ranges())
    }
}

/// `e` (a formula in `t`) in the distance to `end`: as it is at 0, in `1 - t` at 1.
fn from_end(pool: &mut Pool, e: ExprId, end: f64) -> ExprId {
    if end == 1.0 {
        reflect(pool, e, &["t".to_owned()])
    } else {
        e
    }
}

/// `e` with every time named in `times` replaced by one minus itself.
fn reflect(pool: &mut Pool, e: ExprId, times: &[String]) -> ExprId {
    let one = pool.one();
    let map: Vec<(Symbol, ExprId)> = times
        .iter()
        .map(|n| {
            let s = pool.symbol(n);
            let se = pool.sym_expr(s);
            (s, pool.sub(one, se))
        })
        .collect();
    crate::expr::subst::subst(pool, e, &map)
}

/// The upper regime of a stable scalar function of `e` (see [`Function::upper`]); None
/// where it does not lower.
fn upper_scalar(pool: &mut Pool, name: &str, e: ExprId) -> Option<Box<Function>> {
    let r = reflect(pool, e, &["t".to_owned()]);
    let mut l = Lowerer::new(Mode::Stable);
    let prepared = prepare(pool, r, Mode::Stable);
    let v = l.lower(pool, prepared).ok()?;
    let program = l.finish();
    Some(Box::new(Function {
        name: name.to_owned(),
        expr: r,
        coeff_exprs: Vec::new(),
        latex: String::new(),
        shape: Shape::Scalar { out: v },
        guards: Vec::new(),
        poles: Vec::new(),
        form: Form::Dd,
        wide: initial_wide(Mode::Stable, &program),
        fallback: false,
        wide_sum: false,
        upper: None,
        reflected: true,
        cells: Vec::new(),
        toward: None,
        zero_lines: Default::default(),
        program,
    }))
}

/// A special case of an emitted function: when every time in `at` has its value (and `t`
/// is below `below` and above `above`, where those are set), the outputs (one for a
/// scalar, one per coefficient for a field) are `body`.
#[derive(Clone, Debug)]
pub struct Guard {
    pub at: Vec<(String, f64)>,
    /// A step of length zero: `t_next == t`.
    pub same_times: bool,
    /// `t` below this: where the final step's Taylor polynomials ([`taylor`]) hold, and,
    /// with `within`, the short steps' next to the data end ([`END_SHORT_STEP`]).
    pub below: Option<f64>,
    /// The Taylor polynomials in `1 - t` of a step onto the noise end (`t_next = 1`)
    /// hold for `t` above this (at least 1/2, where `1 - t` is exact). Where it is set,
    /// the body's program reads its input `t` as `1 - t`, the distance to the noise end,
    /// as an upper regime does ([`Function::upper`]).
    pub above: Option<f64>,
    /// A short step: the Taylor polynomials in the step's length `h = t_next - t` hold
    /// where `|h|` is below this times the distance of `t` to the nearer end
    /// ([`SHORT_STEP`]).
    pub near: Option<f64>,
    /// A short step next to an end: the Taylor polynomials in `h` hold where `|h|` is
    /// below this ([`END_SHORT_STEP`]; with `below` next to the data end, with `above`,
    /// whose `1 - t` the program reads, next to the noise end).
    pub within: Option<f64>,
    /// `t_next` below this: a step's guard in which the schedule's values at `t_next`
    /// are Taylor polynomials ([`step_series_guards`]).
    pub next_below: Option<f64>,
    /// `t_next` above this (at least 1/2, where `1 - t_next` is exact): a step's guard in
    /// which the schedule's values at `t_next` are Taylor polynomials in `1 - t_next`
    /// ([`step_series_guards`]). The body's program reads its input `t_next` as `1 -
    /// t_next`, as [`Guard::above`] does `t`.
    pub next_above: Option<f64>,
    /// The end (0 or 1) where the body reads sums of the schedule that vanish there as
    /// their Taylor polynomials ([`end_series_guards`], [`step_series_guards`]): the
    /// budget keeps such a guard only where it is needed and helps
    /// (`budget::keep_end_series`).
    pub series: Option<f64>,
    pub body: GuardBody,
}

impl Guard {
    /// A guard that takes every point, with `body`: the literals that use it set their
    /// conditions.
    fn unconditional(body: GuardBody) -> Guard {
        Guard {
            at: Vec::new(),
            same_times: false,
            below: None,
            above: None,
            near: None,
            within: None,
            next_below: None,
            next_above: None,
            series: None,
            body,
        }
    }

    /// Whether the guard takes over where `env` binds the times.
    pub fn applies(&self, env: &[(&str, f64)]) -> bool {
        let value = |name: &str| env.iter().find(|(n, _)| *n == name).map(|&(_, v)| v);
        self.at.iter().all(|(name, v)| value(name) == Some(*v))
            && (!self.same_times || value("t").is_some_and(|t| value("t_next") == Some(t)))
            && self.below.is_none_or(|b| value("t").is_some_and(|t| t < b))
            && self.above.is_none_or(|a| value("t").is_some_and(|t| t > a))
            && self
                .next_below
                .is_none_or(|b| value("t_next").is_some_and(|t| t < b))
            && self
                .next_above
                .is_none_or(|a| value("t_next").is_some_and(|t| t > a))
            && self.within.is_none_or(|r| {
                value("t")
                    .zip(value("t_next"))
                    .is_some_and(|(t, tn)| (tn - t).abs() < r)
            })
            && self.near.is_none_or(|r| {
                value("t")
                    .zip(value("t_next"))
                    .is_some_and(|(t, tn)| short_step(t, tn, r))
            })
    }

    /// `env` as the body's program reads it: `t` as `1 - t` where [`Guard::above`] is set,
    /// `t_next` as `1 - t_next` where [`Guard::next_above`] is (exact: each is at least
    /// 1/2 where the guard applies).
    pub fn program_env<'a>(&self, env: &[(&'a str, f64)]) -> Vec<(&'a str, f64)> {
        env.iter()
            .map(|&(n, v)| {
                let distance = match n {
                    "t" => self.above.is_some(),
                    "t_next" => self.next_above.is_some(),
                    _ => false,
                };
                (n, if distance { 1.0 - v } else { v })
            })
            .collect()
    }

    /// The condition as Rust: `t_next == 0.0 && t < 0.015625`, `t_next == t`.
    pub fn condition(&self, literal: impl Fn(f64) -> String) -> String {
        self.same_times
            .then(|| "t_next == t".to_owned())
            .into_iter()
            .chain(
                self.at
                    .iter()
                    .map(|(name, v)| format!("{name} == {}", literal(*v))),
            )
            .chain(self.below.map(|b| format!("t < {}", literal(b))))
            .chain(self.above.map(|a| format!("t > {}", literal(a))))
            .chain(self.next_below.map(|b| format!("t_next < {}", literal(b))))
            .chain(self.next_above.map(|a| format!("t_next > {}", literal(a))))
            .chain(
                self.near
                    .map(|r| format!("(t_next - t).abs() < {} * t.min(1.0 - t)", literal(r))),
            )
            .chain(
                self.within
                    .map(|r| format!("(t_next - t).abs() < {}", literal(r))),
            )
            .collect::<Vec<_>>()
            .join(" && ")
    }
}

/// An end where some coefficients of a field are infinite (for a step from t = 0 or 1,
/// every other `t_next`). Its guard's outputs are the directions `k_i` of the
/// coefficients there (`c_i ~ k_i M`, `M -> +inf`; a program in `t_next` for a step), by
/// which the field's value is the infinity of the sign of `sum k_i v_i`
/// ([`runtime::pole_sum`]) rather than `inf - inf`, then the values there of the finite
/// coefficients (0 for the others; the general program may compute 0/0). `infinite[i]`
/// is the infinity `c_i` tends to (0 where it is finite): what the coefficient is there
/// (its program may come out large and finite, `cos` not quite 0 at `pi/2`), and what a
/// term of lower order (`k_i = 0`) contributes where the others' inputs are 0.
#[derive(Clone, Debug)]
pub struct Pole {
    pub guard: Guard,
    pub infinite: Vec<f64>,
}

impl Pole {
    /// Whether the pole is where `env` binds the times: its end, and for a step not one of
    /// length zero (the identity).
    pub fn applies(&self, env: &[(&str, f64)]) -> bool {
        let value = |name: &str| env.iter().find(|(n, _)| *n == name).map(|&(_, v)| v);
        self.guard.applies(env) && (value("t_next").is_none() || value("t_next") != value("t"))
    }

    /// The condition as Rust: `t == 1.0 && t_next != t` for a step (`step`) from 1.
    pub fn condition(&self, step: bool, literal: impl Fn(f64) -> String) -> String {
        let at = self.guard.condition(literal);
        if step {
            format!("{at} && t_next != t")
        } else {
            at
        }
    }
}

/// The outputs of a [`Guard`].
#[derive(Clone, Debug)]
pub enum GuardBody {
    /// Correctly rounded limits (an infinity where the limit is one).
    Constants(Vec<f64>),
    /// A program in the remaining times, and its outputs.
    Program(Program, Vec<Var>),
}

/// The longest formula an emitted function's documentation shows (LaTeX characters): a
/// derivative of a deeply nested definition prints as a tree, quadratic in the nesting,
/// and 200 nested `sin` calls made a 34 MB module. The bundled library's longest is
/// 3,329.
const MAX_DOC_FORMULA: usize = 8_000;

fn lower_err(function: &str) -> impl Fn(lower::LowerError) -> CodegenError + '_ {
    move |source| CodegenError::Lower {
        function: function.to_owned(),
        source,
    }
}

/// Which operations of a program run in double-double before [`budget::choose`]: all,
/// for a stable one.
fn initial_wide(mode: Mode, program: &Program) -> Vec<bool> {
    vec![mode == Mode::Stable; program.ops.len()]
}

/// The form of a function before [`budget::choose`].
fn initial_form(mode: Mode) -> Form {
    match mode {
        Mode::Stable => Form::Dd,
        Mode::Naive => Form::Naive,
    }
}

fn prepare(pool: &mut Pool, e: ExprId, mode: Mode) -> ExprId {
    match mode {
        Mode::Stable => stable::stabilize(pool, e),
        Mode::Naive => e,
    }
}

/// The scalar function `name(t) = e`, lowered (its LaTeX name from the derived quantities
/// when it is one).
pub fn scalar_function(
    pool: &mut Pool,
    name: &str,
    e: ExprId,
    mode: Mode,
) -> Result<Function, CodegenError> {
    let symbol = match derive::Quantity::from_name(name) {
        Some(q) => q.latex().to_owned(),
        None => format!("\\mathrm{{{}}}", name.replace('_', "\\_")),
    };
    scalar_function_as(pool, name, &symbol, e, mode)
}

/// The derivatives of the schedule that a mixture's probability-flow velocity needs,
/// lowered as scalar functions: `dalpha(t) = alpha'(t)` and `half_dsigma2(t) =
/// sigma(t) sigma'(t)`, the latter as half the derivative of sigma^2 (finite at t = 0 where
/// sigma = 0 and sigma' is not, as for sqrt-shaped noise).
pub fn schedule_derivatives(
    pool: &mut Pool,
    p: &Process,
    mode: Mode,
) -> Result<Vec<Function>, CodegenError> {
    let missing = |what: &str| CodegenError::Internal {
        what: format!("process `{}` has no `{what}`", p.name),
    };
    let alpha = p.quantity("alpha").ok_or_else(|| missing("alpha"))?;
    let sigma = p.quantity("sigma").ok_or_else(|| missing("sigma"))?;
    let t = pool.symbol("t");
    let da = diff::diff(pool, alpha, t);
    let da = crate::expr::simplify::simplify(pool, da);
    let s2 = pool.powi(sigma, 2);
    let ds2 = diff::diff(pool, s2, t);
    let half = pool.frac(1, 2);
    let hds2 = pool.mul2(half, ds2);
    let hds2 = crate::expr::simplify::simplify(pool, hds2);
    Ok(vec![
        scalar_function_as(pool, "dalpha", "\\dot{\\alpha}", da, mode)?,
        scalar_function_as(pool, "half_dsigma2", "\\sigma\\dot{\\sigma}", hds2, mode)?,
    ])
}

/// [`scalar_function`] with the LaTeX symbol `symbol`.
fn scalar_function_as(
    pool: &mut Pool,
    name: &str,
    symbol: &str,
    e: ExprId,
    mode: Mode,
) -> Result<Function, CodegenError> {
    let mut l = Lowerer::new(mode);
    let prepared = prepare(pool, e, mode);
    let v = l.lower(pool, prepared).map_err(lower_err(name))?;
    let program = l.finish();
    Ok(Function {
        name: name.to_owned(),
        expr: e,
        coeff_exprs: Vec::new(),
        latex: format!("{symbol}(t) = {}", print::to_latex(pool, e)),
        shape: Shape::Scalar { out: v },
        poles: Vec::new(),
        guards: match mode {
            Mode::Stable => {
                let mut guards = scalar_guards(pool, e);
                guards.extend(end_series_guards(pool, &[e]));
                guards
            }
            Mode::Naive => Vec::new(),
        },
        form: initial_form(mode),
        wide: initial_wide(mode, &program),
        fallback: mode == Mode::Stable,
        wide_sum: false,
        upper: match mode {
            Mode::Stable => upper_scalar(pool, name, e),
            Mode::Naive => None,
        },
        reflected: false,
        cells: Vec::new(),
        toward: None,
        zero_lines: Default::default(),
        program,
    })
}

/// The value or limit of `e` (a function of t alone) at exact `t`: a finite f64, an
/// infinity, or None where it cannot be certified.
fn limit_at(pool: &mut Pool, e: ExprId, t_name: &str, at: f64) -> Option<f64> {
    limit_at_times(pool, e, &[(t_name, at)])
}

/// [`limit_at`] for a formula in several times, each at its exact value in `at`.
fn limit_at_times(pool: &mut Pool, e: ExprId, at: &[(&str, f64)]) -> Option<f64> {
    limits_at_times(pool, &[e], at).pop().flatten()
}

/// [`limit_at_times`] of each of `exprs`, on as many threads as there are cores (each
/// limit is a certified evaluation, up to thousands of bits).
fn limits_at_times(pool: &mut Pool, exprs: &[ExprId], at: &[(&str, f64)]) -> Vec<Option<f64>> {
    end_limits(pool, exprs, at)
        .into_iter()
        .map(|l| l.map(|l| l.value))
        .collect()
}

/// The limit of a formula at a point ([`limit_in`]).
#[derive(Clone, Copy, Debug, PartialEq)]
struct EndLimit {
    /// The correctly rounded value, an infinity where the formula diverges, or where its
    /// value is finite but beyond the range of f64 (rounded so).
    value: f64,
    /// Whether the formula diverges there: a pole, not a finite value beyond f64.
    diverges: bool,
}

/// [`limits_at_times`], telling a pole from a finite value that rounds to an infinity.
fn end_limits(pool: &mut Pool, exprs: &[ExprId], at: &[(&str, f64)]) -> Vec<Option<EndLimit>> {
    let mut env = Vec::new();
    for &(name, v) in at {
        let Some(v) = num_rational::BigRational::from_float(v) else {
            return vec![None; exprs.len()];
        };
        env.push((pool.symbol(name), v));
    }
    let pool: &Pool = pool;
    crate::par::map(exprs, crate::par::workers(exprs.len()), |&e| {
        limit_in(pool, e, &env)
    })
}

/// The limit of `e` at the point `env` from inside [0, 1] in each of its symbols: its
/// correctly rounded value where it is defined, an infinity where it diverges with one
/// sign, None where neither is certified.
fn limit_in(
    pool: &Pool,
    e: ExprId,
    env: &[(Symbol, num_rational::BigRational)],
) -> Option<EndLimit> {
    use crate::expr::{ball, limit};
    let times: Vec<Symbol> = env.iter().map(|(s, _)| *s).collect();
    match limit::value_at(
        pool,
        e,
        env,
        &times,
        limit::MAX_POINT_BITS,
        &ball::round_f64,
    ) {
        Ok(bits) => Some(EndLimit {
            value: f64::from_bits(bits),
            diverges: false,
        }),
        Err(limit::PointError::Infinite { sign, .. }) => Some(EndLimit {
            value: if sign > 0 {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            },
            diverges: true,
        }),
        Err(_) => None,
    }
}

/// The ends of [0, 1].
const ENDS: [f64; 2] = [0.0, 1.0];

/// A scalar function's correctly rounded values (limits where undefined) at both ends.
fn scalar_guards(pool: &mut Pool, e: ExprId) -> Vec<Guard> {
    let t = pool.symbol("t");
    let pool: &Pool = pool;
    let values = crate::par::map(&ENDS, crate::par::workers(ENDS.len()), |&end| {
        limit_in(pool, e, &[(t, num_rational::BigRational::from_float(end)?)]).map(|l| l.value)
    });
    ENDS.iter()
        .zip(values)
        .filter_map(|(&end, v)| {
            let v = v?;
            Some(Guard {
                at: vec![("t".to_owned(), end)],
                ..Guard::unconditional(GuardBody::Constants(vec![v]))
            })
        })
        .collect()
}

/// The guards of a function of `t` alone (a scalar, or the coefficients `cs` of a field
/// such as the probability-flow velocity) next to each end where a sum in it vanishes and
/// is analytic: each coefficient with each such sum replaced by its Taylor polynomial at
/// the end ([`taylor::at_zero`]; [`series_at_zero`]), in `t` next to 0 (`t` below the
/// least of the polynomials' bounds) and in `1 - t` next to 1 (`Guard::above`, at most 1/2
/// from it, where `1 - t` is exact). A sum whose terms cancel as it tends to 0 loses every
/// digit there in any precision fixed in advance: `t - sin(t)` at t = 1e-40, or a
/// schedule's `integrate(r^2 sin(r + 1), r, 0, t)`, whose closed form is `F(t) - F(0)`
/// with `F` of order 1 and the difference of order `t^3`; and with it whatever is computed
/// from it (`log` of it in lambda, its square root in g, a quotient by it in a velocity).
/// The polynomial has no such difference. Where other sums that read a logarithm have
/// expansions in `t` and `ln t`, a guard with those replaced too comes first, within the
/// least bound of all ([`series_tiers`]). The budget keeps such a guard only where the
/// function misses the budget without it, and by less with it (`budget::keep_end_series`).
fn end_series_guards(pool: &mut Pool, cs: &[ExprId]) -> Vec<Guard> {
    let t = pool.symbol("t");
    let mut guards = Vec::new();
    for end in ENDS {
        let towards_one = end == 1.0;
        let in_distance: Vec<ExprId> = cs.iter().map(|&c| from_end(pool, c, end)).collect();
        let found: Vec<EndSeries> = in_distance
            .iter()
            .map(|&c| series_at_zero(pool, c, t))
            .collect();
        for (replaced, bound) in series_tiers(&found) {
            let bound = series_bound(bound, end);
            let near: Vec<ExprId> = replaced
                .iter()
                .zip(&in_distance)
                .map(|(r, &c)| r.unwrap_or(c))
                .collect();
            let Some(body) = guard_program(pool, &near, Mode::Stable) else {
                continue;
            };
            guards.push(Guard {
                below: (!towards_one).then_some(bound),
                above: towards_one.then_some(1.0 - bound),
                series: Some(end),
                ..Guard::unconditional(body)
            });
        }
    }
    guards
}

/// A formula in `t` alone with the sums in it that vanish at t = 0 replaced by their
/// expansions there ([`series_at_zero`]), each with the least bound of its expansions
/// (where each is within 2^-60 of its sum).
#[derive(Clone, Copy, Debug, Default)]
struct EndSeries {
    /// Each outermost sum with a Taylor polynomial ([`taylor::at_zero`]) replaced by it.
    analytic: Option<(ExprId, f64)>,
    /// Besides, each outermost sum of the rest that reads a logarithm replaced by its
    /// expansion in `t` and `ln t` ([`taylor::Expansion::logs_at_zero`]); only where there is
    /// such a sum.
    logs: Option<(ExprId, f64)>,
}

/// `e` (a formula in `t` alone) with the sums in it that vanish at t = 0 replaced by their
/// expansions there ([`EndSeries`]). A sum of terms of order 1 with `t ln t` terms (a
/// log-SNR's `log(t/(1 - t))` at t = 1, in `1 - t`) cancels as its Taylor polynomials'
/// sums do, and its expansion with logarithms holds within a smaller bound (2^-17 where
/// those of the log-SNR `(-2 log(t/(1 - t)) + 4.51)(1 + (31.1 t (t + 1.5))^2/100)` held to
/// 2^-7): the two replacements are kept apart, for guards within each bound
/// ([`series_tiers`]).
fn series_at_zero(pool: &mut Pool, e: ExprId, t: Symbol) -> EndSeries {
    use crate::expr::Node;
    use taylor::Expansion;
    let te = pool.sym_expr(t);
    let log = pool.call(crate::expr::pool::Func::Log, te);
    // Which sums, outermost first, in one scope of shared ball values (the sums share
    // their terms at the interpolation nodes): those with a Taylor polynomial, then also
    // those of the rest with an expansion with logarithms.
    let (analytic, logs) = {
        let pool: &Pool = pool;
        // Which subexpressions read `t`, in one memo (asking each node afresh would walk
        // its subtree again: quadratic in the formula's size).
        let mut reads = crate::expr::fxhash::HashMap::default();
        crate::expr::ball::sharing(|| {
            let mut taylors = crate::expr::fxhash::HashMap::default();
            let mut none = crate::expr::fxhash::HashSet::default();
            let mut search = |with_logs: bool| {
                let mut found: Vec<(ExprId, Expansion)> = Vec::new();
                let mut seen = crate::expr::fxhash::HashSet::default();
                let mut stack = vec![e];
                while let Some(x) = stack.pop() {
                    if !seen.insert(x) || !pool.contains_memo(x, t, &mut reads) {
                        continue;
                    }
                    if matches!(pool.node(x), Node::Add(_)) {
                        let series = if with_logs {
                            taylors.get(&x).cloned().or_else(|| {
                                (none.contains(&x)
                                    && taylor::reads_log(pool, x, t)
                                    && small_near_zero(pool, x, t))
                                .then(|| Expansion::logs_at_zero(pool, x, t, log))
                                .flatten()
                            })
                        } else {
                            let p = taylor::at_zero(pool, x, t).map(Expansion::Taylor);
                            match &p {
                                Some(p) => _ = taylors.insert(x, p.clone()),
                                None => _ = none.insert(x),
                            }
                            p
                        };
                        if let Some(series) = series {
                            found.push((x, series));
                            continue;
                        }
                    }
                    stack.extend(pool.children(x).into_iter().rev());
                }
                found
            };
            (search(false), search(true))
        })
    };
    let mut replace = |found: &[(ExprId, Expansion)]| {
        let bound = found
            .iter()
            .map(|(_, s)| s.below())
            .min_by(f64::total_cmp)?;
        let mut map: crate::expr::fxhash::HashMap<ExprId, ExprId> = found
            .iter()
            .map(|(x, s)| (*x, s.to_expr(pool, t)))
            .collect();
        Some((replaced(pool, e, &mut map), bound))
    };
    let with_logs = logs.iter().any(|(_, s)| matches!(s, Expansion::Logs(_)));
    EndSeries {
        analytic: replace(&analytic),
        logs: if with_logs { replace(&logs) } else { None },
    }
}

/// Whether `e` is certainly below 2^-8 in magnitude at t = 2^-64: what a sum of order `t`
/// with powers of `ln t` up to the seventh is, and a sum of order 1 is not (a cheap test
/// before the fit of [`taylor::Expansion::logs_at_zero`] at 4096 bits).
fn small_near_zero(pool: &Pool, e: ExprId, t: Symbol) -> bool {
    let at = [(
        t,
        num_rational::BigRational::new(1.into(), num_bigint::BigInt::from(1) << 64),
    )];
    crate::expr::ball::certify(pool, e, &at, 512, crate::expr::ball::round_f64)
        .is_ok_and(|(v, _)| f64::from_bits(v).abs() < 2f64.powi(-8))
}

/// The bound within which a guard next to `end` reads expansions that hold within `bound`
/// of it: at the noise end at most [`UPPER_FROM`], where `1 - t` is exact.
fn series_bound(bound: f64, end: f64) -> f64 {
    if end == 1.0 {
        bound.min(UPPER_FROM)
    } else {
        bound
    }
}

/// The tiers in which guards next to an end read formulas with their sums replaced
/// (`found`, one [`EndSeries`] per formula), least bound first: each with a replacement
/// per formula (None where it is kept as it is) and the least of their bounds. The
/// expansions with logarithms and the Taylor polynomials beside them first, then where
/// their bound is below that of the Taylor polynomials alone, those alone within theirs
/// (a guard that read both within the smaller bound left the Taylor polynomials' sums to
/// cancel between the two: six steps of the log-SNR of [`series_at_zero`] were up to
/// 1.8e5 ulps off at 1 - 1.07e-3).
fn series_tiers(found: &[EndSeries]) -> Vec<(Vec<Option<ExprId>>, f64)> {
    let tier = |pick: &dyn Fn(&EndSeries) -> Option<(ExprId, f64)>| {
        let chosen: Vec<Option<(ExprId, f64)>> = found.iter().map(pick).collect();
        let bound = chosen
            .iter()
            .flatten()
            .map(|&(_, b)| b)
            .min_by(f64::total_cmp)?;
        Some((chosen.iter().map(|c| c.map(|(e, _)| e)).collect(), bound))
    };
    let mut tiers = Vec::new();
    if found.iter().any(|s| s.logs.is_some()) {
        tiers.extend(tier(&|s| s.logs.or(s.analytic)));
    }
    if let Some(analytic) = tier(&|s| s.analytic)
        && tiers.first().is_none_or(|(_, b)| analytic.1 > *b)
    {
        tiers.push(analytic);
    }
    tiers
}

/// Whether `e` (a formula in `t` alone), its stable program run in `Xd` (double-double
/// without its range limit, as the emitted code runs next to 0), is more than `2^-80`
/// (relative) off its value at `2^-50` times `below` (the bound of its Taylor
/// polynomial), at `1e-40` or at `1e-150`: its terms cancel there.
fn cancels_near_zero(pool: &mut Pool, e: ExprId, below: f64) -> bool {
    let t = pool.symbol("t");
    let Some(GuardBody::Program(program, outs)) = guard_program(pool, &[e], Mode::Stable) else {
        return true;
    };
    [below.min(0.25) * 2f64.powi(-50), 1e-40, 1e-150]
        .into_iter()
        .any(|at| {
            let Some(probe) = num_rational::BigRational::from_float(at) else {
                return false;
            };
            let point = [(t, probe)];
            let Ok((bits, _)) = crate::expr::ball::certify(
                pool,
                e,
                &point,
                crate::expr::limit::MAX_POINT_BITS,
                crate::expr::ball::round_f64,
            ) else {
                return true;
            };
            let want = f64::from_bits(bits);
            let got = program.run::<runtime::Xd>(&[("t", at)])[outs[0]].to_f64();
            let off = (got - want).abs();
            off.is_nan() || off > want.abs() * 2f64.powi(-80)
        })
}

/// `e` with each subexpression that is a key of `map` replaced by its value (`map` grows
/// with every subexpression rebuilt: a shared one is rebuilt once).
fn replaced(
    pool: &mut Pool,
    e: ExprId,
    map: &mut crate::expr::fxhash::HashMap<ExprId, ExprId>,
) -> ExprId {
    if let Some(&v) = map.get(&e) {
        return v;
    }
    let children = pool.children(e);
    let new: Vec<ExprId> = children.iter().map(|&c| replaced(pool, c, map)).collect();
    let out = if new == children {
        e
    } else {
        pool.rebuild(e, &new)
    };
    map.insert(e, out);
    out
}

/// Every scalar quantity and field of `p`, lowered.
pub fn functions(pool: &mut Pool, p: &Process, mode: Mode) -> Result<Vec<Function>, CodegenError> {
    lowered(pool, p, mode, None)
}

/// The scalar quantity or field `name` of `p`, lowered as [`functions`] lowers it, and
/// none other; None if `p` has no such function.
pub fn function(
    pool: &mut Pool,
    p: &Process,
    mode: Mode,
    name: &str,
) -> Result<Option<Function>, CodegenError> {
    Ok(lowered(pool, p, mode, Some(name))?.pop())
}

/// The functions of `p` ([`functions`]), or only the one named `only`.
fn lowered(
    pool: &mut Pool,
    p: &Process,
    mode: Mode,
    only: Option<&str>,
) -> Result<Vec<Function>, CodegenError> {
    let wanted = |name: &str| only.is_none_or(|o| o == name);
    let mut out = Vec::new();
    for &(name, e) in &p.quantities {
        if wanted(name) {
            out.push(scalar_function(pool, name, e, mode)?);
        }
    }
    let fields = &p.fields().fields;
    let jet = match mode {
        Mode::Stable if fields.iter().any(|f| wanted(&f.full_name())) => {
            Some(JetForms::new(pool, p))
        }
        _ => None,
    };
    for (k, field) in fields.iter().enumerate() {
        let name = field.full_name();
        if !wanted(&name) {
            continue;
        }
        // The arguments in their order: the inputs, then the times.
        let (times, inputs): (Vec<String>, Vec<String>) = field
            .kind
            .arguments(field.param)
            .into_iter()
            .map(str::to_owned)
            .partition(|a| a == "t" || a == "t_next");
        let mut l = Lowerer::new(mode);
        let mut coeffs = Vec::new();
        let mut coeff_exprs = Vec::new();
        // What the general program computes each coefficient from.
        let mut sources = Vec::new();
        // The upper regime's lowering, while every coefficient lowers.
        let mut upper = (mode == Mode::Stable).then(|| (Lowerer::new(mode), Vec::new()));
        for input in &inputs {
            let s: Symbol = pool.symbol(input);
            let c = diff::diff(pool, field.expr, s);
            // A coefficient the simplifier left unsimplified may still be 0 (x in the
            // v-prediction velocity of a VP process whose alpha^2 + sigma^2 = 1 needs
            // expm1(t) = exp(t) - 1): computed, it would be rounding noise, no value.
            if pool.is_zero(c) || crate::expr::zero::proves_zero(pool, c) {
                continue;
            }
            // Stable code starts from the coefficient as a rational function of the jet.
            let source = match &jet {
                Some(j) => j.coefficient(pool, k, s).unwrap_or(c),
                None => c,
            };
            // The jet form knows alpha^2 + sigma^2 = 1 for a VP process, which may show
            // such a zero where the process's own formulas do not.
            if pool.is_zero(source) {
                continue;
            }
            let prepared = prepare(pool, source, mode);
            let v = l.lower(pool, prepared).map_err(lower_err(&name))?;
            coeffs.push((input.clone(), v));
            coeff_exprs.push((input.clone(), c));
            sources.push(source);
            let failed = match &mut upper {
                Some((ul, ucoeffs)) => {
                    let r = reflect(pool, source, &times);
                    let prepared = prepare(pool, r, mode);
                    ul.lower(pool, prepared)
                        .map(|v| ucoeffs.push((input.clone(), v)))
                        .is_err()
                }
                None => false,
            };
            if failed {
                upper = None;
            }
        }
        let args = inputs
            .iter()
            .chain(&times)
            .map(|a| print::symbol_latex(a))
            .collect::<Vec<_>>()
            .join(", ");
        let (guards, zero_lines) = match &jet {
            Some(j) => field_guards(
                pool,
                j,
                k,
                field,
                (&coeff_exprs, &sources),
                mode,
                [None, None],
            ),
            None => (Vec::new(), Default::default()),
        };
        let mut poles = match mode {
            Mode::Stable => field_poles(pool, jet.as_ref(), k, field, &coeff_exprs, mode),
            Mode::Naive => Vec::new(),
        };
        // A pole's directions have no `Xd` fallback to replace a range check's NaN (and
        // `sigmoid(2 log 0)`, a value 0 there, is one to keep): they are not checked.
        for pole in &mut poles {
            if let GuardBody::Program(p, _) = &mut pole.guard.body {
                p.checked.clear();
            }
        }
        let program = l.finish();
        let upper = upper.map(|(ul, ucoeffs)| {
            let program = ul.finish();
            Box::new(Function {
                name: name.clone(),
                expr: field.expr,
                coeff_exprs: Vec::new(),
                latex: String::new(),
                shape: Shape::Field {
                    inputs: inputs.clone(),
                    times: times.clone(),
                    coeffs: ucoeffs,
                    step: field.is_step(),
                },
                guards: Vec::new(),
                poles: Vec::new(),
                form: Form::Dd,
                wide: initial_wide(Mode::Stable, &program),
                fallback: false,
                wide_sum: false,
                upper: None,
                reflected: true,
                cells: Vec::new(),
                toward: None,
                zero_lines: Default::default(),
                program,
            })
        });
        out.push(Function {
            guards,
            poles,
            upper,
            reflected: false,
            cells: Vec::new(),
            toward: None,
            zero_lines,
            latex: format!(
                "\\mathrm{{{}}}({args}) = {}",
                name.replace('_', "\\_"),
                print::to_latex(pool, field.expr)
            ),
            name,
            expr: field.expr,
            coeff_exprs,
            shape: Shape::Field {
                inputs,
                times,
                coeffs,
                step: field.is_step(),
            },
            form: initial_form(mode),
            wide: initial_wide(mode, &program),
            fallback: mode == Mode::Stable,
            wide_sum: false,
            program,
        });
    }
    Ok(out)
}

/// The fields of a process built from its jet ([`fields::jet_fields`]), for the stable
/// lowering: each coefficient is brought to one fraction in the jet, where the identities
/// between f, g2, lambda and alpha, sigma cancel exactly, and then the process's own
/// alpha, sigma and derivatives are put in.
#[derive(Clone)]
struct JetForms {
    jet: fields::Jet,
    fields: Vec<fields::Field>,
    /// The fields without the VP reduction (`reduce` of [`fields::jet_fields`]); the
    /// same as `fields` for other processes.
    unreduced: Vec<fields::Field>,
    /// Jet symbol and the expression it stands for.
    values: Vec<(Symbol, ExprId)>,
    /// `alpha'/alpha` as one formula ([`logarithmic_derivative`]), for the jet forms
    /// that read alpha only through it ([`JetForms::put_values`]).
    alpha_rate: Option<ExprId>,
    /// Whether alpha has a constant factor ([`constant_factor`]): then those forms
    /// always take `alpha_rate`.
    exact_rate: bool,
    /// Whether alpha^2 + sigma^2 = 1 (the jet forms use it).
    vp: bool,
    /// The jet of `t` at t = 1 and of `t_next` at t_next = 0 ([`JetForms::end_values`]),
    /// computed once: every step's guards use them.
    at_one: Vec<(Symbol, Option<ExprId>)>,
    /// The jet of `t` at t = 0: a step's poles from there use it.
    at_zero: Vec<(Symbol, Option<ExprId>)>,
    next_at_zero: Vec<(Symbol, Option<ExprId>)>,
    /// The jet of `t_next` at t_next = 1: a step to the noise end (DDIM inversion's last).
    next_at_one: Vec<(Symbol, Option<ExprId>)>,
    /// `alpha^(j)/j!` and `sigma^(j)/j!`, `j = 1, 2, ...`, simplified: every step's
    /// guards for short steps at an end ([`end_short_step_guard`]) take them, so they are
    /// made once, as far as the first use asks ([`JetForms::taylor`]).
    taylor: std::cell::RefCell<Vec<(ExprId, ExprId)>>,
    /// The order of the first derivative of alpha or sigma that is not 0 at t = 0 and at
    /// t = 1 ([`JetForms::flat_order`]), found on first use.
    flat: [std::cell::OnceCell<i64>; 2],
    /// The values whose formulas cancel next to t = 0 and next to t = 1, as Taylor
    /// polynomials ([`JetForms::series_values`]), made on first use.
    series: [std::cell::OnceCell<Vec<SeriesValues>>; 2],
    /// Whether the programs of guards made from these forms read `t` and `t_next` as
    /// their distances to the noise end ([`JetForms::as_read`]): the forms whose values
    /// are Taylor polynomials in `1 - t` and `1 - t_next` ([`step_series_guards`]).
    distances: [bool; 2],
    /// The forms [`step_series_guards`] makes for each end and side (`t`, `t_next` or
    /// both next to the end), made once for every step: their derivatives
    /// ([`JetForms::taylor`], [`JetForms::flat_order`]) are found on their first use.
    sided: std::cell::RefCell<Vec<(SeriesSide, std::rc::Rc<JetForms>)>>,
}

/// An end (0 or 1) and the tiers of [`JetForms::series_values`] that the values at `t`
/// and at `t_next` read (None: their own formulas): a key of [`JetForms::sided`].
type SeriesSide = (bool, Option<usize>, Option<usize>);

/// The schedule's values (alpha, sigma, their derivatives, g) whose formulas are sums that
/// vanish at an end and cancel there in double-double, each as its Taylor polynomial
/// ([`series_at_zero`]; at t = 1 in `1 - t`): at `t` (`at_t`) and, for alpha and sigma,
/// at `t_next` (`at_next`), holding where the time is within `bound` of the end.
#[derive(Clone)]
struct SeriesValues {
    at_t: Vec<(Symbol, ExprId)>,
    at_next: Vec<(Symbol, ExprId)>,
    bound: f64,
}

/// The logarithmic derivative `e'/e` of `e` in `t`, simplified as one formula: a
/// constant factor of `e` cancels in it exactly (`alpha_bar = sigmoid(4 - 8t)/sigmoid(4)`
/// has `alpha'/alpha = -4 sigmoid(8t - 4)`), where `e'` and `e` simplified apart spell
/// it two ways (`sqrt(1 + exp(-4))` and `1/sqrt(sigmoid(4))`) and their quotient
/// computes it, rounded.
fn logarithmic_derivative(pool: &mut Pool, e: ExprId, t: Symbol) -> ExprId {
    let d = diff::diff(pool, e, t);
    let l = pool.div(d, e);
    crate::expr::simplify::simplify(pool, l)
}

/// Whether `e`, as a product (through powers), has a factor that is a constant but no
/// rational number (`1/sigmoid(4)` in `sqrt(sigmoid(4 - 8t)/sigmoid(4))`): one that
/// `e'/e` cancels and `e'` and `e` apart each round.
fn constant_factor(pool: &Pool, e: ExprId) -> bool {
    use crate::expr::Node;
    match pool.node(e) {
        Node::Mul(xs) => xs.iter().any(|&x| {
            (pool.is_constant(x) && pool.as_rational(x).is_none()) || constant_factor(pool, x)
        }),
        Node::Pow(b, _) => constant_factor(pool, *b),
        _ => false,
    }
}

/// The number of operations of `e`'s stable program (`usize::MAX` where it does not
/// lower).
fn stable_length(pool: &mut Pool, e: ExprId) -> usize {
    let prepared = prepare(pool, e, Mode::Stable);
    let mut l = Lowerer::new(Mode::Stable);
    match l.lower(pool, prepared) {
        Ok(_) => l.finish().ops.len(),
        Err(_) => usize::MAX,
    }
}

/// A coefficient of a step in the jet symbols.
enum JetTerms {
    /// One fraction.
    Whole(ExprId),
    /// `c0 + (t_next - t) c1` (the Euler steps), `c0` and `c1` free of `t_next`.
    Linear(ExprId, ExprId),
}

impl JetForms {
    fn new(pool: &mut Pool, p: &Process) -> JetForms {
        let j = fields::Jet::new(pool);
        let vars = fields::Vars::new(pool);
        let vp = p.fields().vp;
        let jet_fields = fields::jet_fields(pool, &j, vp, true, &vars);
        let unreduced = if vp {
            fields::jet_fields(pool, &j, vp, false, &vars)
        } else {
            jet_fields.clone()
        };
        let mut values = Vec::new();
        let mut alpha_rate = None;
        let mut exact_rate = false;
        if let (Some(a), Some(s), Some(g)) =
            (p.quantity("alpha"), p.quantity("sigma"), p.quantity("g"))
        {
            let t = vars.t;
            let tn = pool.sym_expr(vars.t_next);
            let da = diff::diff(pool, a, t);
            let da = crate::expr::simplify::simplify(pool, da);
            alpha_rate = Some(logarithmic_derivative(pool, a, t));
            exact_rate = constant_factor(pool, a);
            let ds = diff::diff(pool, s, t);
            let ds = crate::expr::simplify::simplify(pool, ds);
            let an = crate::expr::subst::subst1(pool, a, t, tn);
            let sn = crate::expr::subst::subst1(pool, s, t, tn);
            values = vec![
                (j.alpha, a),
                (j.sigma, s),
                (j.dalpha, da),
                (j.dsigma, ds),
                (j.alpha_next, an),
                (j.sigma_next, sn),
                (j.g, g),
            ];
        }
        let mut forms = JetForms {
            jet: j,
            fields: jet_fields,
            unreduced,
            values,
            alpha_rate,
            exact_rate,
            vp,
            at_one: Vec::new(),
            at_zero: Vec::new(),
            next_at_zero: Vec::new(),
            next_at_one: Vec::new(),
            taylor: Default::default(),
            flat: Default::default(),
            series: Default::default(),
            distances: [false; 2],
            sided: Default::default(),
        };
        forms.at_one = forms.end_values(pool, 1.0, false);
        forms.at_zero = forms.end_values(pool, 0.0, false);
        forms.next_at_zero = forms.end_values(pool, 0.0, true);
        forms.next_at_one = forms.end_values(pool, 1.0, true);
        forms
    }

    /// `alpha^(j)/j!` and `sigma^(j)/j!` for `j = 1..=degree` ([`JetForms::taylor`]);
    /// None where the jet has no derivatives.
    fn taylor(&self, pool: &mut Pool, degree: i64) -> Option<Vec<(ExprId, ExprId)>> {
        let t = pool.symbol("t");
        let mut derivatives = self.taylor.borrow_mut();
        if derivatives.is_empty() {
            let find = |sym: Symbol| self.values.iter().find(|(s, _)| *s == sym).map(|(_, e)| *e);
            derivatives.push((find(self.jet.dalpha)?, find(self.jet.dsigma)?));
        }
        while (derivatives.len() as i64) < degree {
            let j = derivatives.len() as i64 + 1;
            let (a, s) = derivatives[derivatives.len() - 1];
            let over = pool.frac(1, j);
            let mut next = |e: ExprId| {
                let d = diff::diff(pool, e, t);
                let d = pool.mul(vec![over, d]);
                crate::expr::simplify::simplify(pool, d)
            };
            derivatives.push((next(a), next(s)));
        }
        Some(derivatives[..degree as usize].to_vec())
    }

    /// The order `m` of the first derivative of alpha or sigma whose limit at `end` is not
    /// 0 (certified; one that is not known counts as not 0), at most [`MAX_FLAT_ORDER`]:
    /// 1 for most schedules, 3 for a sigma whose derivative is `t^2 f(t)` at 0.
    fn flat_order(&self, pool: &mut Pool, end: f64) -> i64 {
        let i = usize::from(end == 1.0);
        *self.flat[i].get_or_init(|| {
            for m in 1..MAX_FLAT_ORDER {
                let Some(derivatives) = self.taylor(pool, m) else {
                    return 1;
                };
                let (a, s) = derivatives[m as usize - 1];
                let vanishes =
                    |pool: &mut Pool, e: ExprId| limit_at(pool, e, "t", end) == Some(0.0);
                if !(vanishes(pool, a) && vanishes(pool, s)) {
                    return m;
                }
            }
            MAX_FLAT_ORDER
        })
    }

    /// [`JetForms::series`] at `end`, made on the first call: each value whose formula has
    /// a sum vanishing there with a Taylor polynomial ([`series_at_zero`]; at t = 1, of the
    /// formula in `1 - t`), where the formula, run as the emitted code runs it next to the
    /// end (at t = 1, the upper regime's formula in `1 - t`), is off its value there
    /// ([`cancels_near_zero`]): sums whose terms cancel (`F(t) - F(0)` of an integral of
    /// order `t^3`, `t - sin(t)`, `u - sin(u)` in `u = 1 - t`), not those the stable
    /// rewrites compute without cancelling (`1 - exp(-B)` is `-expm1(-B)`). The polynomials
    /// are in `t` and `t_next` (at t = 1, in `1 - t` and `1 - t_next`, which the guards'
    /// programs read as their inputs: [`JetForms::as_read`]). In the tiers of
    /// [`series_tiers`], the least bound first; empty where there is none.
    fn series_values(&self, pool: &mut Pool, end: f64) -> Vec<SeriesValues> {
        let towards_one = end == 1.0;
        self.series[usize::from(towards_one)]
            .get_or_init(|| {
                let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
                let j = &self.jet;
                let mut syms = Vec::new();
                let mut found = Vec::new();
                for &(sym, e) in &self.values {
                    if sym == j.alpha_next || sym == j.sigma_next {
                        continue;
                    }
                    let in_distance = from_end(pool, e, end);
                    let series = series_at_zero(pool, in_distance, t);
                    let Some(bound) = [series.analytic, series.logs]
                        .iter()
                        .flatten()
                        .map(|&(_, b)| b)
                        .min_by(f64::total_cmp)
                    else {
                        continue;
                    };
                    if !cancels_near_zero(pool, in_distance, bound) {
                        continue;
                    }
                    syms.push(sym);
                    found.push(series);
                }
                // The expansion at `t`, and at `t_next` for alpha and sigma: in the time,
                // or in its distance to 1.
                let at = |pool: &mut Pool, series: ExprId, time: Symbol| {
                    let te = pool.sym_expr(time);
                    let x = if towards_one {
                        let one = pool.one();
                        pool.sub(one, te)
                    } else {
                        te
                    };
                    crate::expr::subst::subst1(pool, series, t, x)
                };
                series_tiers(&found)
                    .into_iter()
                    .map(|(replaced, bound)| {
                        let mut values = SeriesValues {
                            at_t: Vec::new(),
                            at_next: Vec::new(),
                            bound: series_bound(bound, end),
                        };
                        for (&sym, series) in syms.iter().zip(replaced) {
                            let Some(series) = series else {
                                continue;
                            };
                            values.at_t.push((sym, at(pool, series, t)));
                            let next = if sym == j.alpha {
                                Some(j.alpha_next)
                            } else if sym == j.sigma {
                                Some(j.sigma_next)
                            } else {
                                None
                            };
                            if let Some(next) = next {
                                values.at_next.push((next, at(pool, series, tn)));
                            }
                        }
                        values
                    })
                    .collect()
            })
            .clone()
    }

    /// These forms with `replaced` values in place of the process's own: the Taylor
    /// polynomials of [`JetForms::series_values`], the guards' programs reading the times
    /// `distances` marks (`t`, `t_next`) as their distances to the noise end. Alpha's
    /// logarithmic derivative goes with its formula.
    fn with_values(&self, replaced: &[(Symbol, ExprId)], distances: [bool; 2]) -> JetForms {
        let mut forms = self.clone();
        for (sym, e) in &mut forms.values {
            if let Some(&(_, r)) = replaced.iter().find(|(s, _)| s == sym) {
                *e = r;
            }
        }
        let j = &self.jet;
        if replaced
            .iter()
            .any(|(s, _)| *s == j.alpha || *s == j.dalpha)
        {
            forms.alpha_rate = None;
            forms.exact_rate = false;
        }
        forms.taylor = Default::default();
        forms.flat = Default::default();
        // Its values are the polynomials already.
        forms.series = [
            std::cell::OnceCell::from(Vec::new()),
            std::cell::OnceCell::from(Vec::new()),
        ];
        forms.distances = distances;
        forms.sided = Default::default();
        forms
    }

    /// The forms `make` makes for `side`, made on the first call for it
    /// ([`JetForms::sided`]).
    fn sided_forms(
        &self,
        side: SeriesSide,
        make: impl FnOnce() -> JetForms,
    ) -> std::rc::Rc<JetForms> {
        if let Some((_, f)) = self.sided.borrow().iter().find(|(s, _)| *s == side) {
            return f.clone();
        }
        let forms = std::rc::Rc::new(make());
        self.sided.borrow_mut().push((side, forms.clone()));
        forms
    }

    /// A coefficient `e` of these forms (in `t` and `t_next`) as the program of a guard
    /// made from them reads it: in the distances to the noise end of the times that
    /// [`JetForms::distances`] marks, but `t` where `t_reflected` (the guard reads `t` as
    /// its distance already: [`Guard::above`]). A polynomial in `1 - t_next` is then one
    /// in the program's `t_next`, which the stable rewrites would otherwise expand into
    /// powers of `t_next` that cancel next to 1.
    fn as_read(&self, pool: &mut Pool, e: ExprId, t_reflected: bool) -> ExprId {
        let [t, t_next] = self.distances;
        let times: Vec<String> = [("t", t && !t_reflected), ("t_next", t_next)]
            .into_iter()
            .filter(|(_, r)| *r)
            .map(|(n, _)| n.to_owned())
            .collect();
        if times.is_empty() {
            return e;
        }
        reflect(pool, e, &times)
    }

    /// [`guard_program`] of `coefficients` as a guard made from these forms reads them
    /// ([`JetForms::as_read`]).
    fn guard_program(
        &self,
        pool: &mut Pool,
        coefficients: &[ExprId],
        mode: Mode,
        t_reflected: bool,
    ) -> Option<GuardBody> {
        let read: Vec<ExprId> = coefficients
            .iter()
            .map(|&c| self.as_read(pool, c, t_reflected))
            .collect();
        guard_program(pool, &read, mode)
    }

    /// The program of a guard whose coefficients are polynomials in the step `h`, each
    /// given by its terms `[d0, d1, ...]` (functions of `t`), run as `d0 + h (d1 + h (d2 +
    /// ...))`: each term gets its own stable form ([`prepare`]) as the guard reads it
    /// ([`JetForms::as_read`]), and the sum is not rewritten as a whole. Of one expression
    /// the stable rewrites would make one fraction, whose numerator, a sum of products of
    /// the terms' numerators and denominators, can cancel where no term does: the
    /// `sigma'/sigma + h sigma''/(2 sigma)` of `alpha_bar = (sigmoid(3/2) - sigmoid(3t -
    /// 3/2))/(...) exp(-t^5/100)`, at t = 1e-40, came out 1.6e-12 for -3.4e-13 (a DDIM
    /// step's x coefficient 10241 ulps off).
    fn horner_program(
        &self,
        pool: &mut Pool,
        polynomials: &[Vec<ExprId>],
        h: ExprId,
        mode: Mode,
    ) -> Option<GuardBody> {
        let read = |pool: &mut Pool, e: ExprId| {
            let e = self.as_read(pool, e, false);
            prepare(pool, e, mode)
        };
        let h = read(pool, h);
        let mut l = Lowerer::new(mode);
        let mut outs = Vec::with_capacity(polynomials.len());
        for terms in polynomials {
            let (&last, rest) = terms.split_last()?;
            let mut acc = read(pool, last);
            for &dj in rest.iter().rev() {
                let dj = read(pool, dj);
                let hd = pool.mul(vec![h, acc]);
                acc = pool.add(vec![dj, hd]);
            }
            outs.push(l.lower(pool, acc).ok()?);
        }
        Some(GuardBody::Program(l.finish(), outs))
    }

    /// These forms with the unreduced fields in place of the reduced ones.
    fn unreduced(&self) -> JetForms {
        JetForms {
            fields: self.unreduced.clone(),
            ..self.clone()
        }
    }

    /// The coefficient of `input` in field `k` as one fraction in the jet symbols; where it
    /// is linear in `t_next` (the Euler steps), as `c0 + (t_next - t) c1` with `c0` and
    /// `c1` one fraction each, so that the step size is one exact difference rather than
    /// `t` and `t_next` terms of a numerator that cancel.
    fn jet_coefficient(&self, pool: &mut Pool, k: usize, input: Symbol) -> Option<ExprId> {
        match self.jet_terms(pool, k, input)? {
            JetTerms::Whole(c) => Some(c),
            JetTerms::Linear(c0, c1) => {
                let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
                let (te, tne) = (pool.sym_expr(t), pool.sym_expr(tn));
                let h = pool.sub(tne, te);
                let step = pool.mul(vec![h, c1]);
                Some(pool.add(vec![c0, step]))
            }
        }
    }

    /// The coefficient of `input` in field `k` in the jet symbols, split as
    /// [`JetTerms::Linear`] where it is linear in `t_next`.
    fn jet_terms(&self, pool: &mut Pool, k: usize, input: Symbol) -> Option<JetTerms> {
        use crate::expr::poly::together;
        if self.values.is_empty() {
            return None;
        }
        let f = self.fields.get(k)?;
        let c = diff::diff(pool, f.expr, input);
        let c = together(pool, c);
        let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
        let c1 = diff::diff(pool, c, tn);
        let c1 = together(pool, c1);
        if pool.is_zero(c1) {
            return Some(JetTerms::Whole(c));
        }
        let c2 = diff::diff(pool, c1, tn);
        let c2 = together(pool, c2);
        if !pool.is_zero(c2) {
            return Some(JetTerms::Whole(c));
        }
        let te = pool.sym_expr(t);
        let c0 = crate::expr::subst::subst1(pool, c, tn, te);
        let c0 = together(pool, c0);
        Some(JetTerms::Linear(c0, c1))
    }

    /// The jet symbols of `t` (or of `t_next`) with their values at the exact end `e`:
    /// the exact constant where the formula is defined there, else the rounded limit;
    /// None where that is infinite or unknown.
    fn end_values(&self, pool: &mut Pool, e: f64, next: bool) -> Vec<(Symbol, Option<ExprId>)> {
        let j = &self.jet;
        let syms: Vec<(Symbol, Symbol)> = if next {
            vec![(j.alpha_next, j.alpha), (j.sigma_next, j.sigma)]
        } else {
            vec![
                (j.alpha, j.alpha),
                (j.sigma, j.sigma),
                (j.dalpha, j.dalpha),
                (j.dsigma, j.dsigma),
                (j.g, j.g),
            ]
        };
        let t = pool.symbol("t");
        let end = num_rational::BigRational::from_float(e).expect("an end is 0 or 1");
        let mut out = Vec::new();
        for (sym, of) in syms {
            let Some(&(_, expr)) = self.values.iter().find(|(s, _)| *s == of) else {
                out.push((sym, None));
                continue;
            };
            let value = limit_at(pool, expr, "t", e)
                .filter(|v| v.is_finite())
                .and_then(|v| {
                    let at = pool.rational(end.clone());
                    let exact = crate::expr::subst::subst1(pool, expr, t, at);
                    // Defined there: its value certified (a pole such as tan(pi/2) is
                    // not, though 256-bit arithmetic gives it a finite value).
                    let defined = pool.free_symbols(exact).is_empty()
                        && crate::expr::ball::certify(
                            pool,
                            exact,
                            &[],
                            crate::expr::limit::MAX_POINT_BITS,
                            crate::expr::ball::round_f64,
                        )
                        .is_ok_and(|(bits, _)| bits == crate::expr::ball::round_f64_value(v));
                    if defined {
                        Some(exact)
                    } else {
                        num_rational::BigRational::from_float(v).map(|r| pool.rational(r))
                    }
                });
            out.push((sym, value));
        }
        out
    }

    /// The coefficient of `input` in field `k`, from the jet; None when the jet fields do
    /// not line up with the process's (they always should).
    fn coefficient(&self, pool: &mut Pool, k: usize, input: Symbol) -> Option<ExprId> {
        let c = self.jet_coefficient(pool, k, input)?;
        if self.divides_by_zero(pool, c) {
            return None;
        }
        Some(self.put_values(pool, c, true))
    }

    /// The jet form `c` with the process's alpha, sigma and derivatives put in. Where
    /// alpha has a constant factor and `c` reads alpha only through `alpha'/alpha` (the
    /// drift `f`; the Euler steps' `x` coefficient, `1 + (t_next - t) alpha'/alpha`), that
    /// quotient goes in as one formula ([`logarithmic_derivative`]), in which the constant
    /// cancels exactly instead of being rounded in `alpha'` and in `alpha` apart, each
    /// simplified its own way: `alpha_bar = sigmoid(4 - 8t)/sigmoid(4)` makes the `x`
    /// coefficient `1 - 4 (t_next - t) sigmoid(8t - 4)`, exactly 0 at `(t, t_next) = (1/2,
    /// 1)`, where the quotient of `alpha'` and `alpha` was 1e-32. Otherwise the process's
    /// `alpha'` and `alpha` go in, which cancel with what else the coefficient reads
    /// (cosine's `alpha'/(alpha sigma)` is `-pi/(2 cos(pi t/2))`, one call, where through
    /// the quotient it is `tan/sin`), unless `shorter` asks for the form whose stable
    /// program has fewer operations (the general programs', not the guards'). Sigma's
    /// logarithmic derivative is not used: simplified, it can be a long sum of
    /// exponentials (sigmoid's), which the stable rewrites take apart at great cost.
    fn put_values(&self, pool: &mut Pool, c: ExprId, shorter: bool) -> ExprId {
        if let Some(rate) = self.alpha_rate.filter(|_| self.exact_rate || shorter) {
            let j = &self.jet;
            let r = pool.symbol("_jet_alpha_rate");
            let (a, re) = (pool.sym_expr(j.alpha), pool.sym_expr(r));
            let da = pool.mul(vec![a, re]);
            let through_rate = crate::expr::subst::subst1(pool, c, j.dalpha, da);
            if pool.contains(through_rate, r) && !pool.contains(through_rate, j.alpha) {
                let mut values = self.values.clone();
                values.push((r, rate));
                let rated = crate::expr::subst::subst(pool, through_rate, &values);
                if self.exact_rate {
                    return rated;
                }
                let plain = crate::expr::subst::subst(pool, c, &self.values);
                return if rated != plain && stable_length(pool, rated) < stable_length(pool, plain)
                {
                    rated
                } else {
                    plain
                };
            }
        }
        crate::expr::subst::subst(pool, c, &self.values)
    }

    /// Whether a denominator of the jet form `c` is 0 for this process (alpha sigma' -
    /// sigma alpha' of u-prediction where alpha and sigma are constant). Its quotient
    /// would fold to 0: the jet form is then no form of the process's coefficient.
    fn divides_by_zero(&self, pool: &mut Pool, c: ExprId) -> bool {
        vanishing_denominator(pool, c, &self.values)
    }
}

/// Whether a denominator of `c` (the base of a negative power) is 0 once `map` is put
/// in. The quotient would fold to 0 (`0 * 0^-1` is 0 in the pool's canonical products),
/// so `c` with `map` put in would be no value of the formula.
fn vanishing_denominator(pool: &mut Pool, c: ExprId, map: &[(Symbol, ExprId)]) -> bool {
    let mut denominators = Vec::new();
    let mut stack = vec![c];
    let mut seen = crate::expr::fxhash::HashSet::default();
    while let Some(e) = stack.pop() {
        if !seen.insert(e) {
            continue;
        }
        if let crate::expr::Node::Pow(b, x) = pool.node(e)
            && pool
                .as_rational(*x)
                .is_some_and(num_traits::Signed::is_negative)
        {
            denominators.push(*b);
        }
        stack.extend(pool.children(e));
    }
    denominators.into_iter().any(|d| {
        let v = crate::expr::subst::subst(pool, d, map);
        pool.is_zero(v)
    })
}

/// The coefficient of `input` in step `k` for a step of length zero, from its jet form
/// with `t_next = t` (alpha and sigma at `t_next` those at `t`), one fraction: the
/// identity's constants for any process, where its own formula with `t_next = t` does
/// not simplify to one (sd_scaled_linear's `sqrt` of a cubic). None where the jet has
/// no such coefficient.
fn same_times_in_jet(pool: &mut Pool, jet: &JetForms, k: usize, input: &str) -> Option<ExprId> {
    let s = pool.symbol(input);
    let c = jet.jet_coefficient(pool, k, s)?;
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    let j = &jet.jet;
    let same = [
        (j.alpha_next, pool.sym_expr(j.alpha)),
        (j.sigma_next, pool.sym_expr(j.sigma)),
        (tn, pool.sym_expr(t)),
    ];
    let c = crate::expr::subst::subst(pool, c, &same);
    let c = crate::expr::poly::together(pool, c);
    let c = crate::expr::simplify::simplify(pool, c);
    if !jet.vp || pool.as_rational(c).is_some() {
        return Some(c);
    }
    // A VP process's jet forms hold alpha^2 + sigma^2 where it is 1 (the identity's x
    // coefficient with a velocity model): sigma as sqrt(1 - alpha^2).
    let alpha = pool.sym_expr(j.alpha);
    let one = pool.one();
    let a2 = pool.mul(vec![alpha, alpha]);
    let rest = pool.sub(one, a2);
    let sigma = pool.sqrt(rest);
    let c = crate::expr::subst::subst(pool, c, &[(j.sigma, sigma)]);
    let c = crate::expr::poly::together(pool, c);
    Some(crate::expr::simplify::simplify(pool, c))
}

/// The guards of field `k` at the ends: constants for a field of `t` alone; for a
/// sampler step, programs with the ends' alpha and sigma (and derivatives, for `t` at an
/// end) put into the coefficients' jet forms, where they are finite. A step gets a guard
/// only at an end where its general form is undefined (sigma(0) = 0 in a denominator):
/// elsewhere the general form keeps the difference of the two times, which the ends'
/// constants would lose (sigma(0) - sigma(1e-40) for a process whose sigma(0) > 0).
/// Before the final step's guard comes one for `t` near 0, where the coefficients that
/// vanish at t = 0 are their Taylor polynomials, or their expansions in `t` and `ln t`
/// where they read a logarithm of t and have none ([`taylor::Expansion`]). `near` names
/// the end that `t` and that `t_next` stay close to, where the caller restricts them so
/// ([`step_series_guards`]): the guards for the other end are not made.
fn field_guards(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    field: &fields::Field,
    (coeff_exprs, sources): (&[(String, ExprId)], &[ExprId]),
    mode: Mode,
    near: [Option<f64>; 2],
) -> (Vec<Guard>, [Vec<f64>; 2]) {
    // Whether a guard for time `i` (0: `t`, 1: `t_next`) at or next to `end` cannot hold.
    let far = |i: usize, end: f64| near[i].is_some_and(|n| n != end);
    let mut guards = Vec::new();
    if !field.is_step() {
        for &end in &ENDS {
            let cs: Vec<ExprId> = coeff_exprs.iter().map(|(_, c)| *c).collect();
            let values: Option<Vec<f64>> = limits_at_times(pool, &cs, &[("t", end)])
                .into_iter()
                .collect();
            if let Some(values) = values {
                guards.push(Guard {
                    at: vec![("t".to_owned(), end)],
                    ..Guard::unconditional(GuardBody::Constants(values))
                });
            }
        }
        let cs: Vec<ExprId> = coeff_exprs.iter().map(|(_, c)| *c).collect();
        guards.extend(end_series_guards(pool, &cs));
        return (guards, Default::default());
    }
    // Where the schedule's values cancel next to t = 0, the guards with their Taylor
    // polynomials go first.
    guards.extend(step_series_guards(pool, jet, k, field, coeff_exprs, mode));
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    // A step of length zero, first: its coefficients with t_next = t are exact constants
    // (the identity, x itself), where the general form may compute 0/0 at t = 0 (`sqrt(t)
    // - sqrt(s)` as `(t - s)/(sqrt(t) + sqrt(s))`) or 0 times an infinite velocity.
    let te = pool.sym_expr(t);
    let same: Option<Vec<f64>> = coeff_exprs
        .iter()
        .map(|(input, c)| {
            let mut e = crate::expr::subst::subst1(pool, *c, tn, te);
            // (The x0 step's eps estimate cancels only in one fraction.)
            if pool.as_rational(e).is_none() {
                e = crate::expr::simplify::simplify(pool, e);
            }
            if pool.as_rational(e).is_none() {
                e = same_times_in_jet(pool, jet, k, input)?;
            }
            pool.as_rational(e)
                .and_then(num_traits::ToPrimitive::to_f64)
        })
        .collect();
    if let Some(values) = same {
        let short = short_step_guard(pool, jet, k, coeff_exprs, &values, mode);
        let parts = (coeff_exprs, values.as_slice());
        let end_short: Vec<Guard> = ENDS
            .iter()
            .rev()
            .filter(|&&end| !far(0, end))
            .filter_map(|&end| end_short_step_guard(pool, jet, k, parts, mode, end))
            .collect();
        guards.push(Guard {
            same_times: true,
            ..Guard::unconditional(GuardBody::Constants(values))
        });
        guards.extend(end_short);
        guards.extend(short);
    }
    // Sampler steps run from noise to data: the special cases are the final step (to
    // t_next = 0), a step from t = 1, and the single step from 1 to 0, checked first;
    // then the steps of DDIM inversion, from t = 0 and to t_next = 1, where the general
    // form may be undefined though the step is not (shifted_cosine's `log tan(pi t/2)`).
    let unreduced = jet.unreduced();
    let general: General = match guard_program(pool, sources, mode) {
        Some(GuardBody::Program(program, outs)) => Some((program, outs)),
        _ => None,
    };
    // The step from 0 to 1's values, where no guard holds them yet.
    let mut zero_to_one: Option<Vec<f64>> = None;
    let cases = [
        (Some(1.0), Some(0.0)),
        (None, Some(0.0)),
        (Some(1.0), None),
        (Some(0.0), Some(1.0)),
        (Some(0.0), None),
        (None, Some(1.0)),
    ];
    'case: for (at_t, at_next) in cases {
        if at_t.is_some_and(|a| far(0, a)) || at_next.is_some_and(|b| far(1, b)) {
            continue;
        }
        // The single step from 1 to 0 (or from 0 to 1): its coefficients' correctly
        // rounded values, where they are finite (a program of the ends' values would
        // cancel where the process barely moves, beta = 1e-12; alpha(1) = cos(pi/2) is 0,
        // not its double-double rounding). From 1 also where some are infinite, the
        // pole's (the field takes its value from the pole's directions): the final step's
        // guard, next, would compute the finite ones as 0/0 at t = 1 where alpha vanishes
        // like `(1 - t)^p`, p no integer (fuzz seed 29 case 10688).
        if let (Some(a), Some(b)) = (at_t, at_next) {
            let cs: Vec<ExprId> = coeff_exprs.iter().map(|(_, c)| *c).collect();
            let values: Option<Vec<f64>> = limits_at_times(pool, &cs, &[("t", a), ("t_next", b)])
                .into_iter()
                .map(|v| v.filter(|v| v.is_finite() || a == 1.0))
                .collect();
            // From 0 to 1 only where the general program misses them (or a guard from 0
            // would take the step, below).
            if a == 0.0 {
                zero_to_one = values.clone();
            }
            if let Some(values) = values
                && (a == 1.0 || !general_gives(&general, (a, b), &values))
            {
                guards.push(Guard {
                    at: vec![("t".to_owned(), a), ("t_next".to_owned(), b)],
                    ..Guard::unconditional(GuardBody::Constants(values))
                });
                zero_to_one = None;
                continue;
            }
            if b == 1.0 {
                continue;
            }
        }
        // A step from t = 0: where its formula or the general program is undefined there.
        if at_t == Some(0.0) {
            if !(defined_from_zero(pool, coeff_exprs) && general_finite_from_zero(&general))
                && let Some(cs) = from_zero(pool, &unreduced, k, coeff_exprs)
                && let Some(program) = jet.guard_program(pool, &cs, mode, false)
            {
                // The step to 1 keeps its own values: the formula at t_next = 1 may be
                // undefined (shifted_cosine's alpha).
                if let Some(values) = zero_to_one.take() {
                    guards.push(Guard {
                        at: vec![("t".to_owned(), 0.0), ("t_next".to_owned(), 1.0)],
                        ..Guard::unconditional(GuardBody::Constants(values))
                    });
                }
                guards.push(Guard {
                    at: vec![("t".to_owned(), 0.0)],
                    ..Guard::unconditional(program)
                });
            }
            continue;
        }
        // The jet symbols at the ends, each with its value there (None: not finite).
        let mut fixed: Vec<(Symbol, Option<ExprId>)> = Vec::new();
        if at_t.is_some() {
            fixed.extend_from_slice(&jet.at_one);
        }
        match at_next {
            Some(0.0) => fixed.extend_from_slice(&jet.next_at_zero),
            Some(_) => fixed.extend_from_slice(&jet.next_at_one),
            None => {}
        }
        // The end, with a time not at an end (1/4) for the other.
        let quarter = num_rational::BigRational::new(1.into(), 4.into());
        let end = |e: Option<f64>| {
            e.and_then(num_rational::BigRational::from_float)
                .unwrap_or_else(|| quarter.clone())
        };
        let point = [(t, end(at_t)), (tn, end(at_next))];
        let mut general_defined = true;
        let mut generals = Vec::new();
        let mut coefficients = Vec::new();
        let mut touched = false;
        for (input, _) in coeff_exprs {
            let s = pool.symbol(input);
            let Some(c) = jet
                .jet_coefficient(pool, k, s)
                .filter(|&c| !jet.divides_by_zero(pool, c))
            else {
                continue 'case;
            };
            // The general form matters only for the steps to an end (t at no end). At
            // t_next = 1 its value must be certified: 256-bit arithmetic gives `tan(pi/2)`
            // a finite value.
            if at_t.is_none() {
                let general = jet.put_values(pool, c, false);
                general_defined &= if at_next == Some(1.0) {
                    let point: Vec<_> = point.to_vec();
                    crate::expr::ball::certify(
                        pool,
                        general,
                        &point,
                        crate::expr::limit::MAX_POINT_BITS,
                        crate::expr::ball::round_f64,
                    )
                    .is_ok_and(|(bits, _)| f64::from_bits(bits).is_finite())
                } else {
                    crate::expr::hp::eval_rounded(pool, general, &point).is_ok_and(f64::is_finite)
                };
                generals.push(general);
            }
            let free = pool.free_symbols(c);
            let infinite = fixed
                .iter()
                .any(|(sym, value)| value.is_none() && free.contains(sym));
            touched |= fixed.iter().any(|(sym, _)| free.contains(sym));
            let Some(c) = put_end_values(pool, c, &fixed) else {
                continue 'case;
            };
            let c = jet.put_values(pool, c, false);
            // Only a guard that is defined away from the ends is kept.
            let probe = [(t, quarter.clone()), (tn, quarter.clone())];
            if infinite && !crate::expr::hp::eval_rounded(pool, c, &probe).is_ok_and(f64::is_finite)
            {
                continue 'case;
            }
            coefficients.push(c);
        }
        let mut at = Vec::new();
        if let Some(e) = at_t {
            at.push(("t".to_owned(), e));
        }
        if let Some(e) = at_next {
            at.push(("t_next".to_owned(), e));
        }
        // The final step's guard only where its general form is undefined at t_next = 0;
        // at t = 1 the stable rewrites may need the ends' values even where the exact
        // form is defined there.
        // To t_next = 1, also where the general program misses the limits there
        // (cosine_nichol's alpha(1) = cos(pi/2) is 0, not its double-double rounding).
        let needed = touched
            && !(at_t.is_none()
                && general_defined
                && (at_next == Some(0.0) || general_near_last_steps(pool, coeff_exprs, &general)));
        if at_t.is_none()
            && let Some(end) = at_next
            && !far(0, end)
        {
            // The final step from near 0 (and the step onto the noise end from near 1):
            // the coefficients that vanish there as their Taylor polynomials in `t` (in
            // `1 - t`), within the least bound of those. Onto the noise end, an Euler
            // step's x coefficient is `1 - y cot y` with `y = pi (1 - t)/2` for a cosine
            // schedule: computed in `t`, it has lost every digit at t = 1 - 1e-10.
            let endv = if end == 0.0 { pool.zero() } else { pool.one() };
            let finals: Vec<ExprId> = if needed {
                coefficients.clone()
            } else {
                generals
                    .iter()
                    .map(|&g| crate::expr::subst::subst1(pool, g, tn, endv))
                    .collect()
            };
            let towards_one = end == 1.0;
            let in_distance: Vec<ExprId> = finals.iter().map(|&c| from_end(pool, c, end)).collect();
            // The coefficients share subexpressions at the interpolation nodes.
            let te = pool.sym_expr(t);
            let log = pool.call(crate::expr::pool::Func::Log, te);
            let series: Vec<Option<taylor::Expansion>> = crate::expr::ball::sharing(|| {
                in_distance
                    .iter()
                    .map(|&c| taylor::Expansion::at_zero(pool, c, t, log))
                    .collect()
            });
            // Onto the noise end, where `1 - t` is exact (t at least 1/2).
            let bound = series
                .iter()
                .flatten()
                .map(taylor::Expansion::below)
                .min_by(f64::total_cmp)
                .map(|b| if towards_one { b.min(UPPER_FROM) } else { b });
            if let Some(bound) = bound {
                // Onto the noise end, the program's `t` is `1 - t` (`Guard::above`).
                let near: Vec<ExprId> = in_distance
                    .iter()
                    .zip(&series)
                    .map(|(&c, s)| s.as_ref().map_or(c, |s| s.to_expr(pool, t)))
                    .collect();
                if let Some(program) = jet.guard_program(pool, &near, mode, towards_one) {
                    guards.push(Guard {
                        at: at.clone(),
                        below: (!towards_one).then_some(bound),
                        above: towards_one.then_some(1.0 - bound),
                        ..Guard::unconditional(program)
                    });
                }
            }
        }
        if !needed {
            continue;
        }
        let Some(program) = jet.guard_program(pool, &coefficients, mode, false) else {
            continue;
        };
        guards.push(Guard {
            at,
            ..Guard::unconditional(program)
        });
    }
    let mut zero_lines = [Vec::new(), Vec::new()];
    for (lines, end) in zero_lines.iter_mut().zip(ENDS) {
        if far(0, end) {
            continue;
        }
        if let Some((guard, found)) = pole_guard(pool, jet, k, coeff_exprs, mode, end) {
            guards.push(guard);
            *lines = found;
        }
    }
    (guards, zero_lines)
}

/// The guards of step `k` next to each end where some of the schedule's values cancel
/// there ([`JetForms::series_values`]: `sigma = F(t) - F(0)` of an integral, `t - sin(t)`
/// at t = 0, `u - sin(u)` in `u = 1 - t` at t = 1): the step's guards ([`field_guards`])
/// and its general program, made with those values as their Taylor polynomials, for `t`
/// and `t_next` within the polynomials' bound of the end, then for `t` alone within it,
/// then for `t_next` alone (a final step from beyond it), each guard restricted to that
/// (those that cannot hold there left out). Where the values come in tiers (expansions
/// with logarithms within a smaller bound: [`series_tiers`]), each time reads each tier
/// in turn, the most replaced first, and then its own formulas. A value's sum is replaced inside the value,
/// before the values go into the step's jet form, where the terms of `sigma(t)` and
/// `sigma(t_next)` would be one flattened sum with the step's others. At t = 1 the guards'
/// programs read the times within the bound as their distances to 1 ([`Guard::above`],
/// [`Guard::next_above`]), in which the polynomials are written. The budget keeps each
/// guard only where it is needed and helps (`budget::keep_end_series`).
fn step_series_guards(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    field: &fields::Field,
    coeff_exprs: &[(String, ExprId)],
    mode: Mode,
) -> Vec<Guard> {
    let mut out = Vec::new();
    for end in ENDS {
        let tiers = jet.series_values(pool, end);
        let towards_one = end == 1.0;
        // The times on the end's side of a tier's bound: below it, or above `1 - bound`.
        let inside = |v: f64, bound: f64| {
            if towards_one {
                v > 1.0 - bound
            } else {
                v < bound
            }
        };
        // The tiers the values at `t` and at `t_next` read, the most replaced first.
        let choices: Vec<Option<usize>> = (0..tiers.len()).map(Some).chain([None]).collect();
        let sides: Vec<(Option<usize>, Option<usize>)> = choices
            .iter()
            .flat_map(|&i| choices.iter().map(move |&j| (i, j)))
            .filter(|&(i, j)| {
                (i, j) != (None, None) && j.is_none_or(|j| !tiers[j].at_next.is_empty())
            })
            .collect();
        for (at_t, at_next) in sides {
            let replaced: Vec<(Symbol, ExprId)> = at_t
                .map_or(&[][..], |i| &tiers[i].at_t)
                .iter()
                .chain(at_next.map_or(&[][..], |j| &tiers[j].at_next))
                .copied()
                .collect();
            let distances = [
                towards_one && at_t.is_some(),
                towards_one && at_next.is_some(),
            ];
            let forms = jet.sided_forms((towards_one, at_t, at_next), || {
                jet.with_values(&replaced, distances)
            });
            let sources: Vec<ExprId> = coeff_exprs
                .iter()
                .map(|(input, c)| {
                    let s = pool.symbol(input);
                    forms.coefficient(pool, k, s).unwrap_or(*c)
                })
                .collect();
            let near = [at_t.map(|_| end), at_next.map(|_| end)];
            let (mut guards, _) =
                field_guards(pool, &forms, k, field, (coeff_exprs, &sources), mode, near);
            if let Some(body) = forms.guard_program(pool, &sources, mode, false) {
                guards.push(Guard::unconditional(body));
            }
            let bound_t = at_t.map(|i| tiers[i].bound);
            let bound_next = at_next.map(|j| tiers[j].bound);
            // Whether `g` can hold where the replaced times are inside their bounds.
            let holds = |g: &Guard| {
                let outside = |name: &str, bound: f64| {
                    g.at.iter().any(|(n, v)| n == name && !inside(*v, bound))
                };
                let (other_t, other_next) = if towards_one {
                    (g.below.is_some(), g.next_below.is_some())
                } else {
                    (g.above.is_some(), g.next_above.is_some())
                };
                !(bound_t.is_some_and(|b| other_t || outside("t", b))
                    || bound_next.is_some_and(|b| other_next || outside("t_next", b)))
            };
            for mut g in guards.into_iter().filter(holds) {
                if towards_one {
                    if let Some(bound) = bound_t {
                        g.above = Some(g.above.map_or(1.0 - bound, |a| a.max(1.0 - bound)));
                    }
                    if let Some(bound) = bound_next {
                        g.next_above = Some(1.0 - bound);
                    }
                } else {
                    if let Some(bound) = bound_t {
                        g.below = Some(g.below.map_or(bound, |b| b.min(bound)));
                    }
                    if let Some(bound) = bound_next {
                        g.next_below = Some(g.next_below.map_or(bound, |b| b.min(bound)));
                    }
                }
                g.series = Some(end);
                out.push(g);
            }
        }
    }
    out
}

/// The steps [`short_step_guard`] takes: shorter than this (2^-40) times the distance of
/// `t` to the nearer end. Longer ones cancel at most 40 of the 106 bits of a double-double
/// difference; on shorter ones the polynomial's first omitted term, of relative size
/// `(h/t)^2` where the schedule varies on the scale of `t` (or `1 - t`), is below 2^-80.
pub const SHORT_STEP: f64 = 9.094947017729282e-13;

/// Whether the step from `t` to `t_next` is short ([`Guard::near`]): `|t_next - t|` below
/// `r` times the distance of `t` to the nearer end (never at an end).
pub fn short_step(t: f64, t_next: f64, r: f64) -> bool {
    (t_next - t).abs() < r * t.min(1.0 - t)
}

/// The guard of a short step ([`SHORT_STEP`]): each coefficient as its Taylor polynomial
/// of degree 2 in the step's length `h = t_next - t`, `c(t, t) + h d1(t) + h^2 d2(t)`.
/// A step's coefficient is `A + h B + alpha(t_next) C + sigma(t_next) D` ([`end_parts`]),
/// so `d1 = B + alpha' C + sigma' D` and `d2 = (alpha'' C + sigma'' D)/2`, functions of `t`
/// alone, where the general form subtracts two values of the schedule that agree to all
/// but the last bits (sigmoid's DDIM steps of one ulp at t = 1e-3 were 55 ulps off,
/// shifted_cosine's 185 at t = 1e-160); the terms summed by Horner's rule, each with its
/// own stable form ([`JetForms::horner_program`]). None for a step linear in `t_next` (an
/// Euler step's `h B` is exact already), one with a `sqrt(|h|)` part, or one whose parts
/// are unknown.
fn short_step_guard(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    coeff_exprs: &[(String, ExprId)],
    same: &[f64],
    mode: Mode,
) -> Option<Guard> {
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    let (te, tne) = (pool.sym_expr(t), pool.sym_expr(tn));
    let find = |sym: Symbol| jet.values.iter().find(|(s, _)| *s == sym).map(|(_, e)| *e);
    let (da, ds) = (find(jet.jet.dalpha)?, find(jet.jet.dsigma)?);
    let second = |pool: &mut Pool, d: ExprId| {
        let dd = diff::diff(pool, d, t);
        crate::expr::simplify::simplify(pool, dd)
    };
    let (dda, dds) = (second(pool, da), second(pool, ds));
    let h = pool.sub(tne, te);
    let half = pool.frac(1, 2);
    let mut curved = false;
    let mut polynomials = Vec::with_capacity(coeff_exprs.len());
    for ((input, _), &c0) in coeff_exprs.iter().zip(same) {
        let ([b, c, d], bends) = smooth_parts(pool, jet, k, input)?;
        curved |= bends;
        let (ac, sd) = (pool.mul(vec![da, c]), pool.mul(vec![ds, d]));
        let d1 = pool.add(vec![b, ac, sd]);
        let (ac2, sd2) = (pool.mul(vec![dda, c]), pool.mul(vec![dds, d]));
        let d2 = pool.add(vec![ac2, sd2]);
        let d2 = pool.mul(vec![half, d2]);
        let c0 = pool.rational(num_rational::BigRational::from_float(c0)?);
        polynomials.push(vec![c0, d1, d2]);
    }
    if !curved {
        return None;
    }
    Some(Guard {
        near: Some(SHORT_STEP),
        ..Guard::unconditional(jet.horner_program(pool, &polynomials, h, mode)?)
    })
}

/// The parts `[B, C, D]` of step `k`'s coefficient of `input`, `A + h B + alpha(t_next) C +
/// sigma(t_next) D` ([`end_parts`]), and whether it depends on the schedule at `t_next`
/// (`C` or `D` not 0); None where it has a `sqrt(|h|)` part or another shape.
fn smooth_parts(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    input: &str,
) -> Option<([ExprId; 3], bool)> {
    let is_zero =
        |pool: &Pool, e: ExprId| pool.as_rational(e).is_some_and(num_traits::Zero::is_zero);
    let parts = end_parts(pool, jet, k, input)?;
    let &[_, b, c, d, e] = parts.as_slice() else {
        return None;
    };
    if !is_zero(pool, e) {
        return None;
    }
    Some(([b, c, d], !is_zero(pool, c) || !is_zero(pool, d)))
}

/// The steps [`end_short_step_guard`] takes: shorter than this (2^-20).
pub const END_SHORT_STEP: f64 = 9.5367431640625e-7;

/// The highest order of a pole at the end that [`end_short_step_guard`] takes out of its
/// terms.
const MAX_END_POLE: i64 = 2;

/// The least degree in the step's length of [`end_short_step_guard`]'s polynomials;
/// `m + 2` where the first derivative of alpha or sigma not 0 at the end is the m-th
/// ([`JetForms::flat_order`]), m above 2.
const END_DEGREE: i64 = 4;

/// The highest order [`JetForms::flat_order`] looks for a derivative not 0 at an end.
const MAX_FLAT_ORDER: i64 = 6;

/// The guard of a short step next to an end (`end` 0: `t` below 1/2; 1: above): each
/// coefficient as its Taylor polynomial of degree 4 (or more, below) in `h = t_next - t`,
/// `c(t, t) + h d1 + ... + h^4 d4`, its terms `d_j = (alpha^(j) C + sigma^(j) D)/j!` (and `B` in `d1`)
/// functions of `t` alone. Next to the noise end the terms are written in `u = 1 - t`,
/// which the program reads (`Guard::above`), the step as `t_next - 1 + u`.
///
/// A schedule flat at an end makes a DDIM step's coefficient of order `h d + h^2 e`, `d`
/// the distance to the end: at t = 1, `alpha_bar = 1 - c t^2 (3 - 2t)` (alpha' and
/// sigma' vanish there), a step of one ulp from `1 - 2^-53` is of order `2^-106`; at t =
/// 0, `log_snr = 5 cos(pi t) exp(-16 t^3/100)` with sigma(0) > 0, a step of `10^-12 t`
/// from t = 1e-11 is of order `10^-34`. The general form, subtracting two values of the
/// schedule, loses every digit, and the guard of [`short_step_guard`] takes steps shorter
/// than `2^-40 min(t, 1 - t)` only. Degree 4 and steps up to [`END_SHORT_STEP`] leave
/// `h^3` (`2^-60`) of the value to the omitted term even where `d1` vanishes; where alpha
/// and sigma are flatter, their first derivative not 0 at the end the m-th (m > 2), the
/// value is of order `h^m` next to the end and the degree `m + 2` leaves it `h^3` again
/// (`sigma = pi - 1 + sinh(integrate(r^2 sin(1.527 r + 1), r, 0, t))`, m = 3: degree 4
/// left a step of `7.2e-7` from t = 1e-12 3052 ulps off, fuzz seed 50 case 57257); beyond,
/// the general form cancels at most `2^-40` of double-double's `2^-106`. `d1` and `d2`
/// get stable forms, the others, below `|h|` (`2^-20`) of them, none. The budget keeps
/// the guard only where it meets the rows it takes (`budget::keep_end_short_steps`).
///
/// Where the terms have a pole at the end of order `m` (at most [`MAX_END_POLE`]), the
/// polynomial is that of `d^m d_j`, divided by `d^m`: the u-parameterised DDIM step of
/// those flat schedules divides by `alpha sigma' - sigma alpha'`, of order d, and its u
/// coefficient is `-h + (h^2 A + h^3 B + ...)/d` (of one ulp from `1 - 2^-53`, or of
/// `2^-10 t` at t = 1e-16, the general form lost every digit). The series in `h` still
/// converges as fast: the pole is a common factor of the terms from `d2` on, not a growth
/// from one to the next. There is none where a term has no finite limit at the end even
/// so, or none is certified: a schedule singular there (a cosine's `1/alpha` at t = 1, a
/// sigma like `sqrt(t)` at t = 0) has no such polynomial.
fn end_short_step_guard(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    (coeff_exprs, same): (&[(String, ExprId)], &[f64]),
    mode: Mode,
    end: f64,
) -> Option<Guard> {
    let noise = end == 1.0;
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    let (te, tne) = (pool.sym_expr(t), pool.sym_expr(tn));
    let degree = END_DEGREE.max(jet.flat_order(pool, end) + 2);
    let derivatives = jet.taylor(pool, degree)?;
    let t_name = ["t".to_owned()];
    // The step's length, `t_next - t`, or `t_next - 1 + u` where the program reads `t` as
    // `u`.
    let h = if noise {
        let minus_one = pool.int(-1);
        pool.add(vec![tne, minus_one, te])
    } else {
        pool.sub(tne, te)
    };
    let mut l = Lowerer::new(mode);
    let mut outs = Vec::with_capacity(coeff_exprs.len());
    let mut curved = false;
    for ((input, _), &c0) in coeff_exprs.iter().zip(same) {
        let ([b, c, d], bends) = smooth_parts(pool, jet, k, input)?;
        curved |= bends;
        let mut terms = Vec::with_capacity(derivatives.len());
        for (j, &(a, s)) in derivatives.iter().enumerate() {
            let (ac, sd) = (pool.mul(vec![a, c]), pool.mul(vec![s, d]));
            let mut term = if j == 0 {
                pool.add(vec![b, ac, sd])
            } else {
                pool.add(vec![ac, sd])
            };
            if noise {
                term = reflect(pool, term, &t_name);
            }
            let term = crate::expr::simplify::simplify(pool, term);
            terms.push(term);
        }
        // Each term bounded at the end (the program's t = 0), or the polynomial holds on
        // no neighbourhood of it; or, where the terms have a pole there of order m at most
        // 2 (a u-parameterised step of a flat schedule divides by `alpha sigma' - sigma
        // alpha'`, of order t or 1 - t), each term times t^m bounded, and the polynomial
        // of those divided by t^m (exact: t is, and so is u above 1/2).
        let mut order = 0;
        let mut scaled = terms.clone();
        loop {
            let limits = limits_at_times(pool, &scaled, &[("t", 0.0)]);
            if limits.iter().all(|v| v.is_some_and(f64::is_finite)) {
                break;
            }
            if order == MAX_END_POLE || limits.iter().any(Option::is_none) {
                return None;
            }
            order += 1;
            let tm = pool.powi(te, order);
            scaled = terms
                .iter()
                .map(|&term| {
                    let e = pool.mul(vec![tm, term]);
                    crate::expr::simplify::simplify(pool, e)
                })
                .collect();
        }
        let mut terms = scaled;
        for term in &mut terms[..2] {
            *term = prepare(pool, *term, mode);
        }
        // c0 + h (d1 + h (d2 + h (d3 + h d4))) (/ t^m).
        let mut acc = terms[terms.len() - 1];
        for &dj in terms[..terms.len() - 1].iter().rev() {
            let hd = pool.mul(vec![h, acc]);
            acc = pool.add(vec![dj, hd]);
        }
        let mut tail = pool.mul(vec![h, acc]);
        if order > 0 {
            let tm = pool.powi(te, -order);
            tail = pool.mul(vec![tail, tm]);
        }
        let c0 = pool.rational(num_rational::BigRational::from_float(c0)?);
        let polynomial = pool.add(vec![c0, tail]);
        let polynomial = jet.as_read(pool, polynomial, noise);
        outs.push(l.lower(pool, polynomial).ok()?);
    }
    curved.then(|| Guard {
        below: (!noise).then_some(UPPER_FROM),
        above: noise.then_some(UPPER_FROM),
        within: Some(END_SHORT_STEP),
        ..Guard::unconditional(GuardBody::Program(l.finish(), outs))
    })
}

/// [`measure::FIRST_STEP_ENDS`] but the end 1 (where the process's formulas may be
/// undefined, its alpha a limit there; the step from 0 to 1 has a guard of its own).
fn inside_first_step_ends() -> &'static [f64] {
    let ends = &measure::FIRST_STEP_ENDS;
    &ends[..ends.len() - 1]
}

/// [`inside_first_step_ends`] as exact rationals, the probes of `t_next` from 0.
fn first_step_probes() -> Vec<num_rational::BigRational> {
    inside_first_step_ends()
        .iter()
        .map(|&q| num_rational::BigRational::from_float(q).expect("a finite time"))
        .collect()
}

/// The coefficients of step `k` from t = 0 as functions of `t_next`: from the jet forms
/// (unreduced: a VP process's `-alpha alpha'/sigma` for sigma' is 0/0 at t = 0 where
/// alpha' vanishes) with the values at 0 put in, or else ([`limits_at_end`]) from
/// certified limits.
fn from_zero(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    coeff_exprs: &[(String, ExprId)],
) -> Option<Vec<ExprId>> {
    let probes = first_step_probes();
    let exact: Option<Vec<ExprId>> = coeff_exprs
        .iter()
        .map(|(input, _)| {
            let s = pool.symbol(input);
            let c = jet
                .jet_coefficient(pool, k, s)
                .filter(|&c| !jet.divides_by_zero(pool, c))?;
            at_step_from(pool, jet, 0.0, c, &probes)
        })
        .collect();
    let exact = exact.filter(|cs| {
        let targets: Vec<Option<ExprId>> = coeff_exprs.iter().map(|&(_, c)| Some(c)).collect();
        matches_limits(pool, 0.0, cs, &targets, &probes[2..])
    });
    exact.or_else(|| limits_at_end(pool, jet, k, coeff_exprs, 0.0, &probes))
}

/// The coefficients of step `k` from `end` as functions of `t_next`, `A + (t_next - end) B +
/// alpha(t_next) C + sigma(t_next) D + sqrt(|t_next - end|) E`, with A to E the certified
/// limits at `end` of the parts of the jet form ([`end_parts`]): from t = 0 where alpha'
/// and sigma' are both infinite there (lm_sqrt's `sigma = t^(1/4)`) and no value can be put
/// into the jet form; from either end where a finite coefficient's jet form is 0/0. None
/// where a part has no finite limit or a coefficient another shape.
fn limits_at_end(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    coeff_exprs: &[(String, ExprId)],
    end: f64,
    probes: &[num_rational::BigRational],
) -> Option<Vec<ExprId>> {
    let tn = pool.symbol("t_next");
    let factors = end_factors(pool, jet, end)?;
    let mut out = Vec::new();
    for (input, _) in coeff_exprs {
        let parts = end_parts(pool, jet, k, input)?;
        let limits = limits_at_times(pool, &parts, &[("t", end)]);
        let limits: Vec<f64> = limits
            .into_iter()
            .map(|l| l.filter(|v| v.is_finite()))
            .collect::<Option<_>>()?;
        let value = combination(pool, &limits, &factors)?;
        let defined = probes.iter().all(|q| {
            crate::expr::hp::eval_rounded(pool, value, &[(tn, q.clone())]).is_ok_and(f64::is_finite)
        });
        if !defined {
            return None;
        }
        out.push(value);
    }
    Some(out)
}

/// The five parts of the jet form of the coefficient of `input` in step `k`, as `[A, B, C,
/// D, E]` in `A(t) + h B(t) + alpha_next C(t) + sigma_next D(t) + sqrt(|h|) E(t)` with `h =
/// t_next - t` (every step has this shape), the process's formulas put in for the jet's
/// symbols. None where the coefficient has another shape.
fn end_parts(pool: &mut Pool, jet: &JetForms, k: usize, input: &str) -> Option<Vec<ExprId>> {
    use crate::expr::poly::together;
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    let (te, tne) = (pool.sym_expr(t), pool.sym_expr(tn));
    let (an, sn) = (jet.jet.alpha_next, jet.jet.sigma_next);
    let h = pool.sub(tne, te);
    let abs_h = pool.call(crate::expr::Func::Abs, h);
    let root_h = pool.sqrt(abs_h);
    let zero = pool.zero();
    let s = pool.symbol(input);
    let c = jet.jet_coefficient(pool, k, s)?;
    let dc = diff::diff(pool, c, an);
    let dc = together(pool, dc);
    let dd = diff::diff(pool, c, sn);
    let dd = together(pool, dd);
    let linear = [dc, dd]
        .iter()
        .all(|&p| !pool.contains(p, an) && !pool.contains(p, sn) && !pool.contains(p, tn));
    if !linear {
        return None;
    }
    let (ane, sne) = (pool.sym_expr(an), pool.sym_expr(sn));
    let a_term = pool.mul(vec![ane, dc]);
    let s_term = pool.mul(vec![sne, dd]);
    let rest = pool.sub(c, a_term);
    let rest = pool.sub(rest, s_term);
    let rest = together(pool, rest);
    // rest = A + h B, or E sqrt(|h|).
    let (a, b, e) = if !pool.contains(rest, tn) {
        (rest, zero, zero)
    } else {
        let b = diff::diff(pool, rest, tn);
        let b = together(pool, b);
        if !pool.contains(b, tn) {
            let a = crate::expr::subst::subst1(pool, rest, tn, te);
            (together(pool, a), b, zero)
        } else {
            let e = pool.div(rest, root_h);
            let e = together(pool, e);
            if pool.contains(e, tn) {
                return None;
            }
            (zero, zero, e)
        }
    };
    Some(
        [a, b, dc, dd, e]
            .iter()
            .map(|&p| jet.put_values(pool, p, false))
            .collect(),
    )
}

/// What [`end_parts`] are multiplied by in a step from `end`: `1`, `t_next - end`,
/// `alpha(t_next)`, `sigma(t_next)` and `sqrt(|t_next - end|)` (the process's formulas).
fn end_factors(pool: &mut Pool, jet: &JetForms, end: f64) -> Option<[ExprId; 5]> {
    let tn = pool.symbol("t_next");
    let tne = pool.sym_expr(tn);
    let find = |sym: Symbol| jet.values.iter().find(|(s, _)| *s == sym).map(|(_, e)| *e);
    let (alpha_next, sigma_next) = (find(jet.jet.alpha_next)?, find(jet.jet.sigma_next)?);
    let one = pool.one();
    let (step, root) = if end == 0.0 {
        (tne, pool.sqrt(tne))
    } else {
        let e = pool.rational(num_rational::BigRational::from_float(end)?);
        let back = pool.sub(e, tne);
        (pool.sub(tne, e), pool.sqrt(back))
    };
    Some([one, step, alpha_next, sigma_next, root])
}

/// `sum_i values_i factors_i` with each value as its exact rational (the zeros left out).
fn combination(pool: &mut Pool, values: &[f64], factors: &[ExprId]) -> Option<ExprId> {
    let mut terms = Vec::new();
    for (&v, &factor) in values.iter().zip(factors) {
        if v != 0.0 {
            let r = pool.rational(num_rational::BigRational::from_float(v)?);
            terms.push(pool.mul(vec![r, factor]));
        }
    }
    Some(pool.add(terms))
}

/// The general program of a step's coefficients, lowered from `sources` as the body
/// computes them, for the checks of which end guards it needs.
type General = Option<(Program, Vec<Var>)>;

/// The general program's coefficients at `(t, t_next)`, each run in double-double and in
/// f64 (the emitted body mixes them).
fn general_at(general: &(Program, Vec<Var>), (t, t_next): (f64, f64)) -> Vec<(f64, f64)> {
    let (program, outs) = general;
    let at = [("t", t), ("t_next", t_next)];
    let wide = program.run::<runtime::Dd>(&at);
    let narrow = program.run::<f64>(&at);
    outs.iter()
        .map(|&v| (wide[v].to_f64(), narrow[v]))
        .collect()
}

/// Whether the general program is within 2 ulps of the coefficients' certified limits on
/// the steps to t_next = 1 from each of [`measure::LAST_STEP_STARTS`].
fn general_near_last_steps(
    pool: &mut Pool,
    coeff_exprs: &[(String, ExprId)],
    general: &General,
) -> bool {
    let Some(general) = general else {
        return false;
    };
    let cs: Vec<ExprId> = coeff_exprs.iter().map(|(_, c)| *c).collect();
    measure::LAST_STEP_STARTS.iter().all(|&t| {
        let want = limits_at_times(pool, &cs, &[("t", t), ("t_next", 1.0)]);
        general_at(general, (t, 1.0))
            .into_iter()
            .zip(want)
            .all(|((wide, narrow), want)| {
                want.is_some_and(|w| check::ulps(wide, w) <= 2.0 && check::ulps(narrow, w) <= 2.0)
            })
    })
}

/// Whether the coefficients `coeff_exprs` of a step are defined at t = 0 for each of
/// [`measure::FIRST_STEP_ENDS`] (shifted_cosine's `log tan(pi t/2)` is not), the end 1
/// left out.
fn defined_from_zero(pool: &Pool, coeff_exprs: &[(String, ExprId)]) -> bool {
    let (Some(t), Some(tn)) = (pool.lookup_symbol("t"), pool.lookup_symbol("t_next")) else {
        return false;
    };
    let zero = num_rational::BigRational::from_integer(0.into());
    first_step_probes().into_iter().all(|q| {
        let at = [(t, zero.clone()), (tn, q)];
        coeff_exprs
            .iter()
            .all(|(_, c)| crate::expr::hp::eval_rounded(pool, *c, &at).is_ok_and(f64::is_finite))
    })
}

/// Whether the general program gives `values` at the times `(t, t_next)`, bit for bit.
fn general_gives(general: &General, at: (f64, f64), values: &[f64]) -> bool {
    general.as_ref().is_some_and(|general| {
        general_at(general, at)
            .into_iter()
            .zip(values)
            .all(|((wide, narrow), want)| {
                wide.to_bits() == want.to_bits() && narrow.to_bits() == want.to_bits()
            })
    })
}

/// Whether the general program is finite from t = 0 to each of
/// [`inside_first_step_ends`]: it may divide by a factor that vanishes at 0 where the
/// exact formula is defined (a VP process's jet form writes sigma' as `-alpha
/// alpha'/sigma`).
fn general_finite_from_zero(general: &General) -> bool {
    general.as_ref().is_some_and(|general| {
        inside_first_step_ends().iter().all(|&t_next| {
            general_at(general, (0.0, t_next))
                .into_iter()
                .all(|(wide, narrow)| wide.is_finite() && narrow.is_finite())
        })
    })
}

/// The jet form `c` with the jet symbols in `fixed` at their values at an end; one value
/// infinite there (lm_sqrt's alpha' at t = 1, `None`) is the limit of a rational function
/// as X -> inf, through X = 1/w, one fraction, w = 0. None where more than one infinite
/// value is left once the finite ones are in.
fn put_end_values(
    pool: &mut Pool,
    c: ExprId,
    fixed: &[(Symbol, Option<ExprId>)],
) -> Option<ExprId> {
    let map: Vec<(Symbol, ExprId)> = fixed
        .iter()
        .filter_map(|(sym, value)| value.map(|v| (*sym, v)))
        .collect();
    // Where alpha and alpha' both vanish at the end (alpha = cos(pi t/2)^3 at t = 1),
    // `alpha + h alpha'` over it is 0/0: its limit is not in the end's values.
    if vanishing_denominator(pool, c, &map) {
        return None;
    }
    let c = crate::expr::subst::subst(pool, c, &map);
    // The infinite values the finite ones leave in (lm_sqrt's `g` in a term that
    // alpha(1) = 0 takes out): at most one.
    let free = pool.free_symbols(c);
    let infinite: Vec<Symbol> = fixed
        .iter()
        .filter(|(sym, value)| value.is_none() && free.contains(sym))
        .map(|(sym, _)| *sym)
        .collect();
    match infinite.as_slice() {
        [] => Some(c),
        [x] => {
            let w = pool.fresh_symbol("w");
            let we = pool.sym_expr(w);
            let inv = pool.recip(we);
            let c1 = crate::expr::subst::subst(pool, c, &[(*x, inv)]);
            let c1 = crate::expr::poly::together(pool, c1);
            let zero = pool.zero();
            if vanishing_denominator(pool, c1, &[(w, zero)]) {
                return None;
            }
            Some(crate::expr::subst::subst(pool, c1, &[(w, zero)]))
        }
        _ => None,
    }
}

/// The poles of field `k` ([`Function::poles`]): the ends where some of its coefficients
/// are infinite, with their directions. For a field of `t` alone, at t = 0 and t = 1, the
/// certified limits of `c_i / c_r` for a coefficient `c_r` of the highest order, times the
/// sign of its infinity. For a step from t = 1 (where alpha(1) = 0 puts the model's
/// estimate of x0 at `(x - sigma eps)/0`) or from t = 0 (where sigma(0) = 0 puts an x0
/// model's estimate of eps at `(x - alpha x0)/0`), the same ratios as functions of
/// `t_next`: one fraction in the jet, where the common pole cancels, with the end's values
/// put in; kept where they are finite at three times inside (0, 1) and the other end,
/// and each coefficient's infinity is the same at the three. Elsewhere a field's value at
/// such an end stays `inf - inf`.
fn field_poles(
    pool: &mut Pool,
    jet: Option<&JetForms>,
    k: usize,
    field: &fields::Field,
    coeff_exprs: &[(String, ExprId)],
    mode: Mode,
) -> Vec<Pole> {
    let cs: Vec<ExprId> = coeff_exprs.iter().map(|(_, c)| *c).collect();
    let pole = |at: f64, body: GuardBody, infinite: Vec<f64>| Pole {
        guard: Guard {
            at: vec![("t".to_owned(), at)],
            ..Guard::unconditional(body)
        },
        infinite,
    };
    if !field.is_step() {
        return ENDS
            .iter()
            .filter_map(|&end| {
                let (ks, infinite) = constant_directions(pool, &cs, end)?;
                Some(pole(end, GuardBody::Constants(ks), infinite))
            })
            .collect();
    }
    let Some(jet) = jet else {
        return Vec::new();
    };
    ENDS.iter()
        .filter_map(|&end| {
            let (body, infinite) = step_directions(pool, jet, k, coeff_exprs, mode, end)?;
            Some(pole(end, body, infinite))
        })
        .collect()
}

/// The infinity each limit in `limits` diverges to, or 0 where it is finite (a finite
/// value beyond the range of f64 included: not a pole, which the general program or its
/// `Xd` fallback computes); None where one is unknown.
fn own_infinities(limits: &[Option<EndLimit>]) -> Option<Vec<f64>> {
    limits
        .iter()
        .map(|l| l.map(|l| if l.diverges { l.value } else { 0.0 }))
        .collect()
}

/// The directions of the coefficients `cs` (functions of `t`) at `t = end`, where one is
/// infinite, then the finite ones' limits ([`Pole`]), and the infinities they tend to;
/// None where none is, or no ratio has a limit.
fn constant_directions(pool: &mut Pool, cs: &[ExprId], end: f64) -> Option<(Vec<f64>, Vec<f64>)> {
    let at = [("t", end)];
    let limits = end_limits(pool, cs, &at);
    let infinite = own_infinities(&limits)?;
    let finite: Vec<f64> = limits
        .iter()
        .map(|l| l.filter(|l| !l.diverges).map_or(0.0, |l| l.value))
        .collect();
    for (r, limit) in infinite.iter().enumerate() {
        if *limit == 0.0 {
            continue;
        }
        let ratios: Vec<ExprId> = cs.iter().map(|&c| pool.div(c, cs[r])).collect();
        let ks: Option<Vec<f64>> = limits_at_times(pool, &ratios, &at)
            .into_iter()
            .map(|k| k.filter(|k| k.is_finite()).map(|k| limit.signum() * k))
            .collect();
        if let Some(mut ks) = ks {
            ks.extend(&finite);
            return Some((ks, infinite));
        }
    }
    None
}

/// The directions of the coefficients of step `k` from `t = end` as a program in
/// `t_next` ([`field_poles`]), then the finite ones' values there ([`Pole`]), and the
/// infinities they tend to (the same at every probe of `t_next`; the directions and
/// values finite at each and at the other end); None where no coefficient is infinite
/// there.
fn step_directions(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    coeff_exprs: &[(String, ExprId)],
    mode: Mode,
    end: f64,
) -> Option<(GuardBody, Vec<f64>)> {
    let tn = pool.symbol("t_next");
    // Times inside (0, 1) (at t_next = 0 a process's own formula may read `sigma(0) *
    // (...)` as 0 where the other factor is infinite), then the other end for the
    // directions.
    let probes: &[(i64, i64)] = if end == 1.0 {
        &[(1, 4), (1, 8), (1, 2), (0, 1)]
    } else {
        &[(3, 4), (7, 8), (1, 2), (1, 1)]
    };
    let probes: Vec<num_rational::BigRational> = probes
        .iter()
        .map(|&(a, b)| num_rational::BigRational::new(a.into(), b.into()))
        .collect();
    // The coefficients' infinities at t = end for each probe of t_next (the others only
    // where one is infinite at the first): the same at each.
    let mut infinite: Option<Vec<f64>> = None;
    for q in &probes[..3] {
        let q = pool.rational(q.clone());
        let at: Vec<ExprId> = coeff_exprs
            .iter()
            .map(|(_, c)| crate::expr::subst::subst1(pool, *c, tn, q))
            .collect();
        let here = own_infinities(&end_limits(pool, &at, &[("t", end)]))?;
        if !here.iter().any(|v| v.is_infinite()) || infinite.as_ref().is_some_and(|i| *i != here) {
            return None;
        }
        infinite = Some(here);
    }
    let infinite = infinite?;
    // From t = 0 with sigma' as itself, as for the guards there.
    let unreduced;
    let forms = if end == 0.0 {
        unreduced = jet.unreduced();
        &unreduced
    } else {
        jet
    };
    let ks = jet_directions(pool, forms, k, coeff_exprs, end, &infinite, &probes)
        .or_else(|| linear_directions(pool, coeff_exprs, end, &infinite, &probes))
        .or_else(|| limit_directions(pool, forms, k, coeff_exprs, end, &infinite, &probes))?;
    guard_program(pool, &ks, mode).map(|body| (body, infinite))
}

/// [`step_directions`]' directions, then the finite coefficients' values, from the jet
/// forms: each ratio one fraction, where the common pole cancels, with the end's values
/// put in. None where one is not defined so (a denominator that vanishes with the end's
/// values, as `alpha + h alpha'` where alpha has a zero of order 2 or more).
fn jet_directions(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    coeff_exprs: &[(String, ExprId)],
    end: f64,
    infinite: &[f64],
    probes: &[num_rational::BigRational],
) -> Option<Vec<ExprId>> {
    let jets: Vec<ExprId> = coeff_exprs
        .iter()
        .map(|(input, _)| {
            let s = pool.symbol(input);
            jet.jet_coefficient(pool, k, s)
                .filter(|&c| !jet.divides_by_zero(pool, c))
        })
        .collect::<Option<_>>()?;
    'reference: for r in 0..jets.len() {
        if infinite[r] == 0.0 {
            continue;
        }
        let sign = pool.int(infinite[r].signum() as i64);
        let mut ks = Vec::new();
        for &c in &jets {
            let ratio = pool.div(c, jets[r]);
            let ratio = crate::expr::poly::together(pool, ratio);
            match at_step_from(pool, jet, end, ratio, probes) {
                Some(kk) => ks.push(pool.mul(vec![sign, kk])),
                None => continue 'reference,
            }
        }
        // The finite coefficients' values there, which the general form may compute as
        // 0/0 (shifted_cosine's Euler-Maruyama x0 coefficient, `sqrt(sigmoid(-2 log
        // tan))/cos`).
        // From t = 0, where the jet form is 0/0 with the values there (sigma = t^2, whose
        // sigma'(0) = 0 is the u estimate's determinant), from certified limits.
        for (i, (&c, &inf)) in jets.iter().zip(infinite).enumerate() {
            let value = if inf == 0.0 {
                match at_step_from(pool, jet, end, c, probes) {
                    Some(v) => v,
                    None => {
                        let inside = if end == 0.0 {
                            first_step_probes()
                        } else {
                            probes[..3].to_vec()
                        };
                        limits_at_end(pool, jet, k, &coeff_exprs[i..=i], end, &inside)?[0]
                    }
                }
            } else {
                pool.zero()
            };
            ks.push(value);
        }
        // Checked against the certified limits: a zero end value times an infinite one
        // (sigma(0) sigma'(0) of cosine_nichol, whose sigma is sqrt(c t)) reads as 0 in
        // the jet form.
        return matches_pole(pool, end, &ks, coeff_exprs, r, infinite, probes).then_some(ks);
    }
    None
}

/// [`step_directions`]' directions and finite values from certified limits alone, where
/// the jet forms are 0/0 with the end's values put in and the step is not linear in its
/// length: a process whose alpha vanishes like `(1 - t)^p` with `p` no integer has no jet
/// at t = 1 (its u estimate's determinant `alpha sigma' - sigma alpha'` tends to 0 there).
/// Each coefficient is `sum_q P_q(t) F_q(t_next)` ([`end_parts`], [`end_factors`]); with a
/// part `M` of an infinite coefficient that diverges, every `P_q / M` has a finite limit
/// `L_q`, and `c_i / c_r` tends to `(sum_q L_iq F_q) / (sum_q L_rq F_q)`. Checked against
/// the certified limits of the ratios, as the other paths are. None where no part serves.
fn limit_directions(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    coeff_exprs: &[(String, ExprId)],
    end: f64,
    infinite: &[f64],
    probes: &[num_rational::BigRational],
) -> Option<Vec<ExprId>> {
    let parts: Vec<Vec<ExprId>> = coeff_exprs
        .iter()
        .map(|(input, _)| end_parts(pool, jet, k, input))
        .collect::<Option<_>>()?;
    let factors = end_factors(pool, jet, end)?;
    let at = [("t", end)];
    for r in (0..coeff_exprs.len()).filter(|&r| infinite[r] != 0.0) {
        let scales = limits_at_times(pool, &parts[r], &at);
        for (q, scale) in scales.iter().enumerate() {
            if !scale.is_some_and(f64::is_infinite) {
                continue;
            }
            let m = parts[r][q];
            let ratios: Vec<ExprId> = parts.iter().flatten().map(|&p| pool.div(p, m)).collect();
            let Some(limits) = limits_at_times(pool, &ratios, &at)
                .into_iter()
                .map(|l| l.filter(|v| v.is_finite()))
                .collect::<Option<Vec<f64>>>()
            else {
                continue;
            };
            let n = factors.len();
            let Some(leading) = (0..coeff_exprs.len())
                .map(|i| combination(pool, &limits[i * n..(i + 1) * n], &factors))
                .collect::<Option<Vec<ExprId>>>()
            else {
                continue;
            };
            let sign = pool.int(infinite[r].signum() as i64);
            let mut ks: Vec<ExprId> = leading
                .iter()
                .map(|&l| {
                    let ratio = pool.div(l, leading[r]);
                    pool.mul(vec![sign, ratio])
                })
                .collect();
            let inside = probes[..3].to_vec();
            for (i, &inf) in infinite.iter().enumerate() {
                ks.push(if inf == 0.0 {
                    limits_at_end(pool, jet, k, &coeff_exprs[i..=i], end, &inside)?[0]
                } else {
                    pool.zero()
                });
            }
            if matches_pole(pool, end, &ks, coeff_exprs, r, infinite, probes) {
                return Some(ks);
            }
        }
    }
    None
}

/// Whether a pole's directions and finite values `ks` ([`step_directions`]) are what they
/// must tend to at the first three `probes` of `t_next` ([`matches_limits`]): the ratio of
/// each coefficient to the reference `r` (with the sign of its infinity), then each finite
/// coefficient itself (the infinite ones' value, 0, unchecked).
fn matches_pole(
    pool: &mut Pool,
    end: f64,
    ks: &[ExprId],
    coeff_exprs: &[(String, ExprId)],
    r: usize,
    infinite: &[f64],
    probes: &[num_rational::BigRational],
) -> bool {
    let sign = pool.int(infinite[r].signum() as i64);
    let targets: Vec<Option<ExprId>> = coeff_exprs
        .iter()
        .map(|&(_, c)| {
            let ratio = pool.div(c, coeff_exprs[r].1);
            Some(pool.mul(vec![sign, ratio]))
        })
        .chain(
            coeff_exprs
                .iter()
                .zip(infinite)
                .map(|(&(_, c), &inf)| (inf == 0.0).then_some(c)),
        )
        .collect();
    matches_limits(pool, end, ks, &targets, &probes[..3])
}

/// Whether each of `candidates` (programs in `t_next`, at `t = end`) is the limit as t ->
/// end of its target (where there is one) at each of `probes` of `t_next`, to 1e-9: the
/// forms built from the jet's values at an end are checked against the certified limits
/// of the process's own coefficients.
fn matches_limits(
    pool: &mut Pool,
    end: f64,
    candidates: &[ExprId],
    targets: &[Option<ExprId>],
    probes: &[num_rational::BigRational],
) -> bool {
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    let Some(at) = num_rational::BigRational::from_float(end) else {
        return false;
    };
    let checked: Vec<(ExprId, ExprId)> = candidates
        .iter()
        .zip(targets)
        .filter_map(|(&c, target)| target.map(|g| (c, g)))
        .collect();
    for q in probes {
        let qe = pool.rational(q.clone());
        let at_q: Vec<ExprId> = checked
            .iter()
            .map(|&(_, g)| crate::expr::subst::subst1(pool, g, tn, qe))
            .collect();
        let limits = limits_at_times(pool, &at_q, &[("t", end)]);
        for (&(c, _), limit) in checked.iter().zip(limits) {
            let point = [(t, at.clone()), (tn, q.clone())];
            let (Ok(a), Some(b)) = (crate::expr::hp::eval_rounded(pool, c, &point), limit) else {
                return false;
            };
            let close = a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
            if !close {
                return false;
            }
        }
    }
    true
}

/// [`step_directions`]' directions and finite values for a step whose coefficients are
/// linear in the step, `c = c0(t) + (t_next - t) c1(t)` (the Euler steps), where the jet
/// forms leave them undefined: from the certified limits at the end of `c0_i / c1_r` and
/// `c1_i / c1_r` for an infinite `c1_r`. With `h = t_next - end`, `c_i / c_r` tends to
/// `(A_i + h B_i) / (A_r + h B_r)`. A coefficient not linear in the step (the noise's
/// `g sqrt(|h|)`) must be of lower order, its ratio to `c1_r` tending to 0 at each probe
/// of `t_next`, or finite with a value defined at the end. None otherwise.
fn linear_directions(
    pool: &mut Pool,
    coeff_exprs: &[(String, ExprId)],
    end: f64,
    infinite: &[f64],
    probes: &[num_rational::BigRational],
) -> Option<Vec<ExprId>> {
    use crate::expr::simplify::simplify;
    use crate::expr::subst::subst1;
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    let (te, tne) = (pool.sym_expr(t), pool.sym_expr(tn));
    let at = [("t", end)];
    // Each coefficient as (c0, c1), None where it is not linear in t_next.
    let parts: Vec<Option<(ExprId, ExprId)>> = coeff_exprs
        .iter()
        .map(|&(_, c)| {
            let d1 = diff::diff(pool, c, tn);
            let d1 = simplify(pool, d1);
            if pool.contains(d1, tn) {
                return None;
            }
            let c0 = subst1(pool, c, tn, te);
            Some((simplify(pool, c0), d1))
        })
        .collect();
    let rational = |pool: &mut Pool, v: f64| {
        num_rational::BigRational::from_float(v).map(|r| pool.rational(r))
    };
    let end_e = rational(pool, end)?;
    let h = pool.sub(tne, end_e);
    'reference: for r in 0..coeff_exprs.len() {
        let Some((c0r, c1r)) = parts[r] else { continue };
        if infinite[r] == 0.0 || !limit_at(pool, c1r, "t", end).is_some_and(f64::is_infinite) {
            continue;
        }
        let sign = infinite[r].signum();
        let ar = pool.div(c0r, c1r);
        let Some(ar) = limit_at(pool, ar, "t", end).filter(|v| v.is_finite()) else {
            continue;
        };
        let ar = rational(pool, ar)?;
        let denominator = pool.add(vec![ar, h]);
        let mut ks = Vec::new();
        let mut values = Vec::new();
        for (i, (&(_, c), &inf)) in coeff_exprs.iter().zip(infinite).enumerate() {
            match parts[i] {
                Some((c0, c1)) => {
                    let ratios = [pool.div(c0, c1r), pool.div(c1, c1r)];
                    let [Some(a), Some(b)] = limits_at_times(pool, &ratios, &at)[..] else {
                        continue 'reference;
                    };
                    if !(a.is_finite() && b.is_finite()) {
                        continue 'reference;
                    }
                    let (a, b) = (rational(pool, sign * a)?, rational(pool, sign * b)?);
                    let hb = pool.mul(vec![h, b]);
                    let numerator = pool.add(vec![a, hb]);
                    ks.push(pool.div(numerator, denominator));
                    values.push(if inf == 0.0 {
                        let [Some(a), Some(b)] = limits_at_times(pool, &[c0, c1], &at)[..] else {
                            continue 'reference;
                        };
                        if !(a.is_finite() && b.is_finite()) {
                            continue 'reference;
                        }
                        let (a, b) = (rational(pool, a)?, rational(pool, b)?);
                        let hb = pool.mul(vec![h, b]);
                        pool.add(vec![a, hb])
                    } else {
                        pool.zero()
                    });
                }
                None => {
                    // Of lower order than c1_r at every probe.
                    let ratios: Vec<ExprId> = probes
                        .iter()
                        .map(|q| {
                            let q = pool.rational(q.clone());
                            let c = subst1(pool, c, tn, q);
                            pool.div(c, c1r)
                        })
                        .collect();
                    if !limits_at_times(pool, &ratios, &at)
                        .iter()
                        .all(|l| *l == Some(0.0))
                    {
                        continue 'reference;
                    }
                    ks.push(pool.zero());
                    values.push(if inf == 0.0 {
                        // Its formula at the end, defined at each probe.
                        let e = rational(pool, end)?;
                        let c = subst1(pool, c, t, e);
                        let defined = probes.iter().all(|q| {
                            let point = [(tn, q.clone())];
                            crate::expr::hp::eval_rounded(pool, c, &point).is_ok_and(f64::is_finite)
                        });
                        if !defined {
                            continue 'reference;
                        }
                        c
                    } else {
                        pool.zero()
                    });
                }
            }
        }
        ks.extend(values);
        // Checked as the jet path's are: a finite coefficient's formula with the end put
        // in may have folded `0 * inf` to 0.
        if matches_pole(pool, end, &ks, coeff_exprs, r, infinite, probes) {
            return Some(ks);
        }
    }
    None
}

/// The jet form `c` of a step from `t = end` as a function of `t_next`
/// ([`put_end_values`]), where it is finite at each of `probes` of `t_next`.
fn at_step_from(
    pool: &mut Pool,
    jet: &JetForms,
    end: f64,
    c: ExprId,
    probes: &[num_rational::BigRational],
) -> Option<ExprId> {
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    let fixed = if end == 1.0 {
        &jet.at_one
    } else {
        &jet.at_zero
    };
    let c = put_end_values(pool, c, fixed)?;
    let c = jet.put_values(pool, c, false);
    let at = num_rational::BigRational::from_float(end)?;
    probes
        .iter()
        .all(|q| {
            let point = [(t, at.clone()), (tn, q.clone())];
            crate::expr::hp::eval_rounded(pool, c, &point).is_ok_and(f64::is_finite)
        })
        .then_some(c)
}

/// The guard of an Euler step from near an end to any `t_next`, where a coefficient `c0 +
/// (t_next - t) c1` has `c1 = (rho + P(t))/t` with a pole at 0 ([`taylor::residue`]) and
/// vanishes on a line `t_next = (1 - c0(0)/rho) t` inside the interval: the Euler-Maruyama
/// step's x coefficient with an x0 model is `1 + (t_next - t)(2 sigma'/sigma -
/// alpha'/alpha)`, which for a sigma that vanishes as `t^2` is 0 near `t_next = 3t/4`,
/// where its terms of order 1 leave an O(t) value that no fixed precision resolves at t
/// = 1e-40 (seed 21 case 35893 of the fuzzer). Below the bound of `P` (a Taylor
/// polynomial, or an expansion in `t` and `ln t` where sigma's exponent is not constant:
/// [`taylor::Expansion`]) the coefficient is `(c0 t + rho (t_next - t) + (t_next - t)
/// P(t))/t`, whose numerator's terms of order t cancel exactly in double-double (written
/// over rho's denominator where that is no power of two, `t_next - t` exact).
/// At the noise end (`end` 1) the same in `u = 1 - t`: an alpha that vanishes like `1 - t`
/// (a cosine schedule) puts `-alpha'/alpha ~ 1/(1 - t)` into that coefficient, which
/// vanishes near the line `1 - t_next = 2 (1 - t)` (cosine's was 4e-5 of itself off at t
/// = 1 - 1e-10, of the wrong sign at 1 - 1e-12); the guard's program reads `t` as `u`
/// ([`Guard::above`]) and the step as `t_next - 1 + u`, exact in double-double. None where
/// no coefficient has such a zero; else the guard and the lines' ratios (`t_next/t`, or
/// `(1 - t_next)/(1 - t)` at the noise end), where the reference rows check the step too
/// (the points `(t, 3t/4)` meet only one of them).
fn pole_guard(
    pool: &mut Pool,
    jet: &JetForms,
    k: usize,
    coeff_exprs: &[(String, ExprId)],
    mode: Mode,
    end: f64,
) -> Option<(Guard, Vec<f64>)> {
    let t_name = ["t".to_owned()];
    let mut coefficients = Vec::new();
    let mut lines = Vec::new();
    let mut bound = f64::INFINITY;
    for (input, c) in coeff_exprs {
        let s = pool.symbol(input);
        let general = jet.coefficient(pool, k, s).unwrap_or(*c);
        let separated = match jet.jet_terms(pool, k, s) {
            Some(JetTerms::Linear(c0, c1)) if !jet.divides_by_zero(pool, c1) => {
                let c0 = jet.put_values(pool, c0, false);
                let c1 = jet.put_values(pool, c1, false);
                separate_pole(pool, c0, c1, end)
            }
            _ => None,
        };
        match separated {
            Some((near, below, ratio)) => {
                bound = bound.min(below);
                coefficients.push(near);
                lines.push(ratio);
            }
            // At the noise end the program reads `t` as `1 - t`.
            None if end == 1.0 => coefficients.push(reflect(pool, general, &t_name)),
            None => coefficients.push(general),
        }
    }
    if bound == f64::INFINITY {
        return None;
    }
    let body = jet.guard_program(pool, &coefficients, mode, end == 1.0)?;
    lines.sort_by(f64::total_cmp);
    lines.dedup();
    let guard = Guard {
        below: (end == 0.0).then_some(bound),
        // Where `1 - t` is exact (t at least 1/2).
        above: (end == 1.0).then_some(1.0 - bound.min(UPPER_FROM)),
        ..Guard::unconditional(body)
    };
    Some((guard, lines))
}

/// [`pole_guard`]'s form of `c0 + (t_next - t) c1` near `end`, the bound of the distance to
/// it and the line's ratio `r`, where it vanishes there on a line `t_next = r t` (at the
/// noise end, `1 - t_next = r (1 - t)`) with `r > 0` (`r = 0` is the final step, or the
/// step onto the noise end, whose Taylor guards come first); None where it has no such
/// line or `c1` no separable pole. At the noise end the form is in `u = 1 - t` (its `t`
/// stands for `u`).
fn separate_pole(pool: &mut Pool, c0: ExprId, c1: ExprId, end: f64) -> Option<(ExprId, f64, f64)> {
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    let c00 = limit_at(pool, c0, "t", end).filter(|v| v.is_finite() && *v != 0.0)?;
    let t_name = ["t".to_owned()];
    let (c0, c1) = if end == 1.0 {
        (reflect(pool, c0, &t_name), reflect(pool, c1, &t_name))
    } else {
        (c0, c1)
    };
    let (rho, p) = crate::expr::ball::sharing(|| taylor::residue(pool, c1, t))?;
    let rho_f = num_traits::ToPrimitive::to_f64(&rho)?;
    // The line c0(0) + rho (t_next - t)/t = 0: t_next/t = 1 - c0(0)/rho; at the noise end
    // c1 is `(rho + P(u))/u` in `u = 1 - t` and `t_next - t = u - u_next`, so that the
    // line is `u_next/u = 1 + c0(1)/rho`.
    let ratio = if end == 1.0 {
        1.0 + c00 / rho_f
    } else {
        1.0 - c00 / rho_f
    };
    if ratio <= 0.0 {
        return None;
    }
    let (te, tne) = (pool.sym_expr(t), pool.sym_expr(tn));
    let h = if end == 1.0 {
        let minus_one = pool.int(-1);
        pool.add(vec![tne, minus_one, te])
    } else {
        pool.sub(tne, te)
    };
    // (d c0 t + d rho h + d h P)/(d t), d the odd part of rho's denominator: the first two
    // terms cancel exactly, their coefficients being dyadic (`d rho h` and `d t` are exact
    // in double-double, where `rho h` is not for a rho such as 297/50, and the value of a
    // coefficient at the nearest f64 point of its line can be 2^-59 of its terms), and P,
    // far below rho near 0, is not rounded into it.
    let odd = rho.denom() >> rho.denom().trailing_zeros().unwrap_or(0);
    let d = num_rational::BigRational::from_integer(odd);
    let scaled_rho = pool.rational(&rho * &d);
    let pole = pool.mul(vec![scaled_rho, h]);
    let poly = p.to_expr(pool, t);
    let dr = pool.rational(d);
    let regular = pool.mul(vec![dr, h, poly]);
    let start = pool.mul(vec![dr, c0, te]);
    let numerator = pool.add(vec![start, pole, regular]);
    let denominator = pool.mul(vec![dr, te]);
    Some((pool.div(numerator, denominator), p.below(), ratio))
}

/// The program of a guard that computes `coefficients`; None where one does not lower:
/// an end's values put into a coefficient can make a constant outside the range of f64
/// (`sigma(1)^2` where sigma is 1e216, in a step whose coefficient `sigma(1) (sigma(1) -
/// sigma(t_next))` is not; seed 26 case 67559 of the fuzzer), which no number type of
/// the runtime holds ([`lower::LowerError::Range`]). Without the guard the general form
/// computes the point, and the reference rows check it.
fn guard_program(pool: &mut Pool, coefficients: &[ExprId], mode: Mode) -> Option<GuardBody> {
    let mut l = Lowerer::new(mode);
    let outs = coefficients
        .iter()
        .map(|&c| {
            let prepared = prepare(pool, c, mode);
            l.lower(pool, prepared).ok()
        })
        .collect::<Option<Vec<Var>>>()?;
    Some(GuardBody::Program(l.finish(), outs))
}

/// An emitted module.
#[derive(Clone, Debug)]
pub struct Emitted {
    /// The process name as a Rust identifier (`r#fn` for a process called `fn`).
    pub ident: String,
    /// `NAME.rs`.
    pub file_name: String,
    /// The formatted module source.
    pub code: String,
    pub functions: Vec<Function>,
    pub accuracy: Accuracy,
    /// The reference rows of every function (certified values, with the bounds of the
    /// accuracy budget), in the order of `functions`: what chose the forms, what
    /// `--verify` compares the compiled module with, and an emitted crate's own test.
    pub cases: Vec<measure::Case>,
    /// Each function's chosen form measured on its rows, run as the module runs it.
    pub choice: Vec<measure::Report>,
}

/// Emits the module of `p` within `accuracy`; `source` names the .dsym file in the header.
pub fn emit_module(
    pool: &mut Pool,
    p: &Process,
    source: &str,
    accuracy: Accuracy,
) -> Result<Emitted, CodegenError> {
    emit_module_with(pool, p, source, accuracy, Vec::new(), Vec::new())
}

/// Code a caller appends to an emitted module (a mixture's evaluators, which the codegen
/// layer knows nothing of): its Rust items, which call the module's functions through
/// `super::`, and the reference rows `--verify` measures them on.
#[derive(Clone, Debug)]
pub struct Section {
    pub code: String,
    pub cases: Vec<measure::Case>,
}

/// [`emit_module`] with `extra` functions lowered alongside the process's (such as
/// [`schedule_derivatives`]) and `sections` appended.
pub fn emit_module_with(
    pool: &mut Pool,
    p: &Process,
    source: &str,
    accuracy: Accuracy,
    extra: Vec<Function>,
    sections: Vec<Section>,
) -> Result<Emitted, CodegenError> {
    rust_ident(&p.name)?;
    let mut functions = functions(pool, p, accuracy.mode())?;
    functions.extend(extra);
    let params = p
        .params
        .iter()
        .map(|q| format!("{} = {}", q.name, print::to_text(pool, q.value)))
        .collect();
    let spec = ModuleSpec {
        name: &p.name,
        doc: p.doc.as_deref(),
        params,
        source,
    };
    build_module(pool, &spec, functions, accuracy, sections)
}

/// What the header and documentation of a module say about where it came from.
pub struct ModuleSpec<'a> {
    /// The process name (also the file name).
    pub name: &'a str,
    pub doc: Option<&'a str>,
    /// `name = value` of every parameter folded in.
    pub params: Vec<String>,
    /// The .dsym file, as named in the header.
    pub source: &'a str,
}

/// Computes the reference rows of lowered `functions` (lowered in `accuracy.mode()`),
/// gives each function the cheapest form that meets `accuracy` on them
/// ([`budget::choose`]), and renders the module, `sections` after the functions (their
/// cases after the functions' cases, measured only by [`measure::measure`]).
pub fn build_module(
    pool: &mut Pool,
    spec: &ModuleSpec<'_>,
    mut functions: Vec<Function>,
    accuracy: Accuracy,
    sections: Vec<Section>,
) -> Result<Emitted, CodegenError> {
    let mut cases = measure::reference_cases(pool, &functions, accuracy);
    for (f, case) in functions.iter_mut().zip(&cases) {
        f.wide_sum = budget::overflows(f, case);
    }
    let mut choice = budget::choose(&mut functions, &mut cases, accuracy);
    let code = render_module(spec, &functions, accuracy, &sections)?;
    for section in sections {
        choice.extend(section.cases.iter().map(measure::Report::pending));
        cases.extend(section.cases);
    }
    Ok(Emitted {
        file_name: format!("{}.rs", spec.name),
        ident: rust_ident(spec.name)?,
        code,
        functions,
        accuracy,
        cases,
        choice,
    })
}

/// The documentation line that says what a function's body runs in.
fn form_doc(form: Form, accuracy: Accuracy) -> Option<String> {
    match (form, accuracy) {
        (Form::Naive, _) => None,
        (Form::F64, _) => Some(format!(
            "Runs its stable form in `f64`, within the accuracy budget of {accuracy} at every checked point."
        )),
        (Form::Mixed { wide, ops }, _) => Some(format!(
            "Runs its stable form in `f64`, with the {wide} of its {ops} operations that need it in double-double, within the accuracy budget of {accuracy} at every checked point."
        )),
        (Form::Dd, Accuracy::Ulps(b)) if b < 1.0 => Some(format!(
            "Runs its stable form in double-double: the budget of {accuracy} is below one ulp, which `f64` rounding at every operation cannot promise."
        )),
        (Form::Dd, _) => Some(format!(
            "Runs its stable form in double-double: with fewer operations in it, it misses the accuracy budget of {accuracy}."
        )),
    }
}

/// The number types of a form, in a few words.
fn form_phrase(form: Form) -> String {
    match form {
        Form::Naive | Form::F64 => "in `f64`".to_owned(),
        Form::Mixed { wide, ops } => {
            format!("in `f64` with {wide} of its {ops} operations in double-double")
        }
        Form::Dd => "in double-double".to_owned(),
    }
}

/// The documentation line that says where a function's body runs other forms than the
/// one [`form_doc`] states: its upper regime, its cells and its steps toward the data end
/// ([`Function::upper`], [`Function::cells`], [`Function::toward`]), and its Taylor
/// polynomials next to an end ([`end_series_guards`]), if any.
fn regime_doc(f: &Function) -> Option<String> {
    let cells = |cells: &[(f64, Vec<bool>)]| -> String {
        if cells.is_empty() {
            return String::new();
        }
        let bounds: Vec<String> = cells.iter().map(|(b, _)| b.to_string()).collect();
        format!(
            " (with the operations in double-double chosen apart below t = {})",
            bounds.join(", ")
        )
    };
    let toward = |f: &Function, lead: &str| -> String {
        match &f.toward {
            Some(w) => format!(
                "{lead}step toward the data end (`t_next < t`) runs {}{} instead.",
                form_phrase(Form::of(&w.wide)),
                cells(&w.cells)
            ),
            None => String::new(),
        }
    };
    let mut parts = Vec::new();
    if !f.cells.is_empty() {
        parts.push(format!(
            "That is the form above the last bound{}.",
            cells(&f.cells)
        ));
    }
    if f.toward.is_some() {
        let lead = if f.upper.is_some() {
            format!("Where some time is below {UPPER_FROM}, a ")
        } else {
            "A ".to_owned()
        };
        parts.push(toward(f, &lead));
    }
    // The Taylor polynomials of a function of `t` alone next to an end
    // ([`end_series_guards`]; a step's guards below or above a bound are others).
    let one_time = match &f.shape {
        Shape::Scalar { .. } => true,
        Shape::Field { times, .. } => times.len() == 1,
    };
    for g in f.guards.iter().filter(|g| one_time && g.at.is_empty()) {
        if let Some(b) = g.below {
            parts.push(format!(
                "Below t = {b}, it runs the Taylor polynomial at 0 of the sums in it that vanish there (their terms cancel)."
            ));
        }
        if let Some(a) = g.above {
            parts.push(format!(
                "Above t = {a}, it runs the Taylor polynomial in `1 - t` at 1 of the sums in it that vanish there (their terms cancel)."
            ));
        }
    }
    // A step's guards with the schedule's values as Taylor polynomials
    // ([`step_series_guards`]), all below one bound next to 0 and above one next to 1.
    let series = |end: f64| {
        f.guards
            .iter()
            .filter(move |g| !one_time && g.series == Some(end))
    };
    let series_below = series(0.0)
        .filter_map(|g| g.next_below.or(g.below))
        .max_by(f64::total_cmp);
    if let Some(b) = series_below {
        parts.push(format!(
            "Where `t` or `t_next` is below {b}, it reads the schedule's values whose formulas are sums that vanish at t = 0 (their terms cancel) as their Taylor polynomials there."
        ));
    }
    let series_above = series(1.0)
        .filter_map(|g| g.next_above.or(g.above))
        .min_by(f64::total_cmp);
    if let Some(a) = series_above {
        parts.push(format!(
            "Where `t` or `t_next` is above {a}, it reads the schedule's values whose formulas are sums that vanish at t = 1 (their terms cancel) as their Taylor polynomials in `1 - t` there."
        ));
    }
    if let Some(up) = &f.upper {
        parts.push(format!(
            "Where every time is at least {UPPER_FROM}, it runs the same formula written in `1 - t` instead (exact there), {}{}.",
            form_phrase(up.form),
            cells(&up.cells).replace(" t = ", " 1 - t = ")
        ));
        if up.toward.is_some() {
            parts.push(toward(up, "There, a ").replace(" t = ", " 1 - t = "));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Renders lowered `functions`, their forms chosen, as a module.
fn render_module(
    spec: &ModuleSpec<'_>,
    functions: &[Function],
    accuracy: Accuracy,
    sections: &[Section],
) -> Result<String, CodegenError> {
    let mode = accuracy.mode();
    let source = spec.source;
    let lit = view::doc_literal;
    let mut module_doc = vec![
        lit(""),
        lit(&format!(
            "Evaluators of the process `{}`{}.",
            spec.name,
            spec.doc.map(|d| format!(" ({d})")).unwrap_or_default()
        )),
    ];
    if !spec.params.is_empty() {
        module_doc.push(lit(""));
        module_doc.push(lit(&format!(
            "Parameters folded in: {}.",
            spec.params.join(", ")
        )));
    }
    module_doc.push(lit(""));
    module_doc.push(lit(&match accuracy {
        Accuracy::Ulps(_) => format!(
            "Accuracy budget: {accuracy} of every value (of every coefficient, for fields) at every checked point, against a certified reference (`diffsym emit --accuracy`). Each function runs its numerically stable form in the cheapest number types that meet it, `f64` with as few operations as it takes in double-double (module `dd`), and, where its form needs it, again in the wide-range `Xd` when a time is below 2^-24 or the result is not a normal f64."
        ),
        Accuracy::Fast => "Lowering: naive (`--accuracy fast`: plain f64 operations as written, without the stable rewrites; inaccurate where the formula cancels).".to_owned(),
    }));
    let mut fn_views = Vec::new();
    for f in functions {
        let what = match f.shape {
            Shape::Scalar { .. } => format!("`{}(t)`", f.name),
            Shape::Field { .. } => format!("`{}`", f.name),
        };
        let mut doc = vec![
            lit(&format!(
                "{what} of the process `{}`, from `{source}`.",
                spec.name
            )),
            lit(""),
        ];
        if f.latex.len() <= MAX_DOC_FORMULA {
            doc.extend([lit("```text"), lit(&f.latex), lit("```")]);
        } else {
            doc.push(lit(&format!(
                "Its formula, {} characters of LaTeX, is left out here (`diffsym derive` prints it).",
                f.latex.len()
            )));
        }
        if let Some(line) = form_doc(f.form, accuracy) {
            doc.extend([lit(""), lit(&line)]);
        }
        if let Some(line) = regime_doc(f) {
            doc.extend([lit(""), lit(&line)]);
        }
        fn_views.extend(view::function_views(f, mode, doc));
    }
    let module = view::ModuleView {
        header: lit(&format!("generated by diffsym from {source}; do not edit")),
        module_doc,
        process: view::string_literal(spec.name),
        imports: match mode {
            Mode::Naive => String::new(),
            // `Xd` only where some function falls back to it.
            Mode::Stable if functions.iter().any(|f| f.fallback || f.wide_sum) => {
                "use dd::{Dd, Narrow, Real, Xd};".to_owned()
            }
            Mode::Stable => "use dd::{Dd, Narrow, Real};".to_owned(),
        },
        stable: mode == Mode::Stable,
        functions: fn_views,
        sections: sections.iter().map(|s| s.code.clone()).collect(),
        runtime: view::RUNTIME.to_owned(),
    };
    view::render_rust(view::MODULE_TEMPLATE, &module)
}

/// The files of a Cargo crate around `emitted` (paths relative to the crate root):
/// `Cargo.toml`, `src/lib.rs` (the module) and `tests/reference.rs` (the reference values
/// at every checked point, so `cargo test` re-verifies the code).
pub fn crate_files(
    emitted: &Emitted,
    process: &str,
    source: &str,
) -> Result<Vec<(String, String)>, CodegenError> {
    let lib = format!("diffsym_{process}");
    rust_ident(&lib)?;
    let reference = measure::reference_test(&emitted.cases, &lib, source)?;
    #[derive(serde::Serialize)]
    struct CargoView {
        source: String,
        package: String,
    }
    let cargo = view::render_text(
        view::CARGO_TEMPLATE,
        &CargoView {
            source: source.replace(['\n', '\r'], " "),
            package: view::string_literal(&lib),
        },
    )?;
    Ok(vec![
        ("Cargo.toml".to_owned(), cargo),
        ("src/lib.rs".to_owned(), emitted.code.clone()),
        ("tests/reference.rs".to_owned(), reference),
    ])
}

#[cfg(test)]
mod tests {
    use crate::expr::test_util::parse_in_unit_t;

    /// The factors that `alpha'/alpha` cancels: constants that are no rational number, in
    /// a product or a power of one, not inside a function's argument.
    #[test]
    fn constant_factors_are_found_through_products_and_powers() {
        let mut pool = crate::expr::Pool::new();
        for (text, want) in [
            ("sqrt(sigmoid(4 - 8*t)/sigmoid(4))", true),
            ("exp(-t)*sqrt(2)", true),
            ("(3 - exp(t))/(3 - exp(1))", true),
            ("cos(pi*t/2)", false),
            ("3*exp(-t)", false),
            ("sqrt(1 - t)/2", false),
        ] {
            let e = parse_in_unit_t(&mut pool, text);
            assert_eq!(super::constant_factor(&pool, e), want, "{text}");
        }
    }
}
