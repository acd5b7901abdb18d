//! Lowering of `error` declarations (`linear(...)`, `field([...])`) into [`ScoreError`]s,
//! and their evaluation: exactly where the entries are rational, in f64 otherwise.

use std::collections::HashMap;

use nalgebra::{DMatrix, DVector};
use num_rational::BigRational;

use super::{Scalar, value_at};
use crate::analysis::declaration::arguments;
use crate::diag::{Diag, Span, codes};
use crate::expr::{ExprId, Pool, Symbol, diff, eval, simplify, subst};
use crate::process::{lower_expr, time_symbol};
use crate::syntax::ast::{self, ExprKind, Value};

/// Most dimensions an error field may have: a d by d matrix of expressions is lowered and
/// simplified entry by entry.
pub const MAX_DIMENSION: usize = 256;

/// A score error `e(x)` declared in a file, in its own pool.
#[derive(Clone, Debug)]
pub struct ScoreError {
    pub name: String,
    /// The name in the declaration, where messages about the error point.
    pub span: Span,
    pub dimension: usize,
    pub pool: Pool,
    /// The time symbol `t` the entries may depend on.
    pub t: Symbol,
    /// The coordinates `x1 ... xd` of a field.
    pub x: Vec<Symbol>,
    pub form: Form,
}

/// How an error was declared.
#[derive(Clone, Debug)]
pub enum Form {
    /// `linear(matrix = E, shift = b)`: `e(x) = E (x - m) + b`, with `m` the mean of the
    /// distribution the error is measured against; entries are functions of `t`.
    Linear {
        matrix: Vec<Vec<ExprId>>,
        shift: Vec<ExprId>,
    },
    /// `field([e_1, ..., e_d])`: components in `x1 ... xd` and `t`.
    Field(Vec<ExprId>),
}

/// An error field `x -> e(x)` in f64.
pub type Field<'a> = Box<dyn Fn(&[f64]) -> Vec<f64> + Sync + 'a>;

/// An affine error at one time, `e(x) = E x + c` or `e(x) = E (x - m) + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    pub matrix: Vec<Vec<Scalar>>,
    pub shift: Shift,
}

/// An affine error with entries that are expressions in `t`, in `pool`.
#[derive(Clone, Debug)]
pub struct AffineForm {
    pub matrix: Vec<Vec<ExprId>>,
    pub shift: Vec<ExprId>,
    /// `e(x) = E (x - m) + shift` when true; `e(x) = E x + shift` when false.
    pub from_mean: bool,
    pub pool: Pool,
}

/// The constant part of an [`Affine`] error.
#[derive(Clone, Debug, PartialEq)]
pub enum Shift {
    /// `b` in `E (x - m) + b`: relative to the mean of the distribution.
    FromMean(Vec<Scalar>),
    /// `c` in `E x + c`: the value at the origin.
    AtOrigin(Vec<Scalar>),
}

/// Why an error cannot be evaluated at the time asked for.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("error `{name}` depends on t: give the time with --process P --t T")]
    NeedsTime { name: String },
    #[error("{what} of error `{name}` at t = {t}: {reason}")]
    Undefined {
        name: String,
        what: String,
        t: String,
        reason: String,
    },
}

impl ScoreError {
    /// Whether some entry depends on `t`.
    pub fn depends_on_time(&self) -> bool {
        self.expressions().any(|e| self.pool.contains(e, self.t))
    }

    fn expressions(&self) -> Box<dyn Iterator<Item = ExprId> + '_> {
        match &self.form {
            Form::Linear { matrix, shift } => {
                Box::new(matrix.iter().flatten().chain(shift.iter()).copied())
            }
            Form::Field(cs) => Box::new(cs.iter().copied()),
        }
    }

    /// The error as an affine map whose entries are expressions in `t` alone, in a copy of
    /// its pool; `None` when a field is not affine in `x` (its second derivatives do not
    /// all simplify to 0, or its first ones still depend on `x`).
    pub fn affine_form(&self) -> Option<AffineForm> {
        let mut pool = self.pool.clone();
        match &self.form {
            Form::Linear { matrix, shift } => Some(AffineForm {
                matrix: matrix.clone(),
                shift: shift.clone(),
                from_mean: true,
                pool,
            }),
            Form::Field(cs) => {
                let mut matrix = Vec::with_capacity(self.dimension);
                for &c in cs {
                    let mut row = Vec::with_capacity(self.dimension);
                    for &xj in &self.x {
                        let dj = diff::diff(&mut pool, c, xj);
                        let dj = simplify::simplify(&mut pool, dj);
                        for &xk in &self.x {
                            let djk = diff::diff(&mut pool, dj, xk);
                            let djk = simplify::simplify(&mut pool, djk);
                            if !pool.is_zero(djk) {
                                return None;
                            }
                        }
                        if self.x.iter().any(|&s| pool.contains(dj, s)) {
                            return None;
                        }
                        row.push(dj);
                    }
                    matrix.push(row);
                }
                let origin: Vec<(Symbol, ExprId)> =
                    self.x.iter().map(|&s| (s, pool.zero())).collect();
                let shift = cs
                    .iter()
                    .map(|&e| {
                        let at0 = subst::subst(&mut pool, e, &origin);
                        simplify::simplify(&mut pool, at0)
                    })
                    .collect();
                Some(AffineForm {
                    matrix,
                    shift,
                    from_mean: false,
                    pool,
                })
            }
        }
    }

    /// The error at time `t` (`None`: the error must not depend on time) as an affine map
    /// with exact entries where they are rational, or `None` when a field is not affine.
    pub fn affine(&self, t: Option<&BigRational>) -> Result<Option<Affine>, ValueError> {
        if t.is_none() && self.depends_on_time() {
            return Err(ValueError::NeedsTime {
                name: self.name.clone(),
            });
        }
        let Some(mut form) = self.affine_form() else {
            return Ok(None);
        };
        let pool = &mut form.pool;
        let mut matrix = Vec::with_capacity(form.matrix.len());
        for (i, row) in form.matrix.iter().enumerate() {
            let mut r = Vec::with_capacity(row.len());
            for (j, &e) in row.iter().enumerate() {
                r.push(self.scalar(pool, e, t, || {
                    if form.from_mean {
                        format!("entry ({}, {}) of the matrix", i + 1, j + 1)
                    } else {
                        format!("d e_{}/d x{}", i + 1, j + 1)
                    }
                })?);
            }
            matrix.push(r);
        }
        let mut shift = Vec::with_capacity(form.shift.len());
        for (i, &e) in form.shift.iter().enumerate() {
            shift.push(self.scalar(pool, e, t, || {
                if form.from_mean {
                    format!("entry {} of the shift", i + 1)
                } else {
                    format!("component {} at x = 0", i + 1)
                }
            })?);
        }
        Ok(Some(Affine {
            matrix,
            shift: if form.from_mean {
                Shift::FromMean(shift)
            } else {
                Shift::AtOrigin(shift)
            },
        }))
    }

    /// The affine error as a function of the time in f64, `t -> (E(t), b(t))` with
    /// `e_t(x) = E(t) (x - mu_t) + b(t)`, for the samplers of `analysis::learned`; `mean(t)`
    /// is mu_t, which a field's value at the origin needs. Entries are evaluated in f64 by
    /// the expression evaluator; one with no value at `t` is NaN, which the samplers refuse.
    pub fn in_time<'a>(
        &self,
        mean: impl Fn(f64) -> Vec<f64> + 'a,
    ) -> Option<impl Fn(f64) -> (DMatrix<f64>, DVector<f64>) + 'a> {
        let form = self.affine_form()?;
        let (t, d) = (self.t, self.dimension);
        Some(move |tv: f64| {
            let at = |e: ExprId| eval::eval_f64(&form.pool, e, &[(t, tv)]).unwrap_or(f64::NAN);
            let m = DMatrix::from_fn(d, d, |i, j| at(form.matrix[i][j]));
            let mut b = DVector::from_iterator(d, form.shift.iter().map(|&e| at(e)));
            if !form.from_mean {
                b += &m * DVector::from_vec(mean(tv));
            }
            (m, b)
        })
    }

    /// `e` (free of `x`) at time `t`, named by `what` in an error.
    fn scalar(
        &self,
        pool: &mut Pool,
        e: ExprId,
        t: Option<&BigRational>,
        what: impl Fn() -> String,
    ) -> Result<Scalar, ValueError> {
        value_at(pool, e, self.t, t).map_err(|reason| ValueError::Undefined {
            name: self.name.clone(),
            what: what(),
            t: t.map_or_else(|| "any time".to_owned(), |t| t.to_string()),
            reason,
        })
    }

    /// The error as a function of `x` at time `t` (f64), given the mean `m` of the
    /// distribution it is measured against. Components are evaluated in f64 by the
    /// expression evaluator; a non-finite component is `NaN` for the caller to refuse.
    pub fn evaluator(
        &self,
        t: Option<&BigRational>,
        mean: &[f64],
    ) -> Result<Field<'_>, ValueError> {
        if let Some(a) = self.affine(t)? {
            let m: Vec<Vec<f64>> = a
                .matrix
                .iter()
                .map(|r| r.iter().map(|s| s.value).collect())
                .collect();
            let (b, relative) = match &a.shift {
                Shift::FromMean(b) => (b.iter().map(|s| s.value).collect::<Vec<_>>(), true),
                Shift::AtOrigin(c) => (c.iter().map(|s| s.value).collect(), false),
            };
            let mean = mean.to_vec();
            return Ok(Box::new(move |x: &[f64]| {
                (0..m.len())
                    .map(|i| {
                        let lin: f64 = m[i]
                            .iter()
                            .zip(x)
                            .zip(&mean)
                            .map(|((e, xj), mj)| e * if relative { xj - mj } else { *xj })
                            .sum();
                        lin + b[i]
                    })
                    .collect()
            }));
        }
        let Form::Field(cs) = &self.form else {
            unreachable!("a linear error is affine")
        };
        let tv = t.map(eval::rational_to_f64);
        let components = cs.clone();
        Ok(Box::new(move |x: &[f64]| {
            let mut env: Vec<(Symbol, f64)> =
                self.x.iter().copied().zip(x.iter().copied()).collect();
            if let Some(tv) = tv {
                env.push((self.t, tv));
            }
            components
                .iter()
                .map(|&c| eval::eval_f64(&self.pool, c, &env).unwrap_or(f64::NAN))
                .collect()
        }))
    }
}

/// Lowers every `error` item of `file`; all errors are collected.
pub fn lower_errors(file: &ast::File) -> Result<Vec<ScoreError>, Vec<Diag>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for item in &file.items {
        let ast::Item::Error(decl) = item else {
            continue;
        };
        if let Some(&first) = seen.get(decl.name.name.as_str()) {
            errors.push(
                Diag::new(
                    codes::ERROR_DUPLICATE,
                    format!("error `{}` is defined twice", decl.name.name),
                )
                .with_label(decl.name.span, "defined again here")
                .with_label(first, "first defined here"),
            );
            continue;
        }
        seen.insert(&decl.name.name, decl.name.span);
        match lower_error(decl) {
            Ok(e) => out.push(e),
            Err(mut es) => errors.append(&mut es),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn lower_error(decl: &ast::Declaration) -> Result<ScoreError, Vec<Diag>> {
    let mut pool = Pool::new();
    let t = time_symbol(&mut pool);
    let new = |pool: Pool, dimension: usize, x: Vec<Symbol>, form: Form| ScoreError {
        name: decl.name.name.clone(),
        span: decl.name.span,
        dimension,
        pool,
        t,
        x,
        form,
    };
    match decl.kind.name.as_str() {
        "linear" => {
            let args = arguments(
                decl,
                "linear",
                &["matrix", "shift"],
                "write `linear(matrix = [[...], ...], shift = [...])`; the shift is optional",
            )?;
            let Some(m) = args.get("matrix") else {
                return Err(vec![
                    Diag::new(
                        codes::ERROR_ARGUMENT,
                        format!("linear error `{}` has no matrix", decl.name.name),
                    )
                    .with_label(decl.kind.span, "needs `matrix = [[...], ...]`"),
                ]);
            };
            let rows = rows_of(&m.value)?;
            let d = rows.len();
            check_dimension(d, m.value.span())?;
            let mut matrix = Vec::with_capacity(d);
            let mut errors = Vec::new();
            for (row, span) in &rows {
                if row.len() != d {
                    errors.push(
                        Diag::new(
                            codes::ERROR_SHAPE,
                            format!(
                                "a row of the matrix has {} entries; the matrix is {d} by {d}",
                                row.len()
                            ),
                        )
                        .with_label(*span, format!("expected {d} entries")),
                    );
                    continue;
                }
                let mut r = Vec::with_capacity(d);
                for e in row.iter() {
                    match lower_entry(&mut pool, e, &[("t", t)]) {
                        Ok(id) => r.push(id),
                        Err(mut es) => errors.append(&mut es),
                    }
                }
                matrix.push(r);
            }
            let mut shift = vec![pool.zero(); d];
            if let Some(s) = args.get("shift") {
                let items = list_of(&s.value, "the shift")?;
                if items.len() != d {
                    errors.push(
                        Diag::new(
                            codes::ERROR_SHAPE,
                            format!(
                                "the shift has {} entries but the matrix is {d} by {d}",
                                items.len()
                            ),
                        )
                        .with_label(s.value.span(), format!("expected {d} entries"))
                        .with_label(m.value.span(), format!("dimension {d}")),
                    );
                } else {
                    for (k, e) in items.iter().enumerate() {
                        match lower_entry(&mut pool, e, &[("t", t)]) {
                            Ok(id) => shift[k] = id,
                            Err(mut es) => errors.append(&mut es),
                        }
                    }
                }
            }
            if errors.is_empty() {
                Ok(new(pool, d, Vec::new(), Form::Linear { matrix, shift }))
            } else {
                Err(errors)
            }
        }
        "field" => {
            let help = "write `field([expr_1, ..., expr_d])` in the variables x1 ... xd and t";
            if let Some(a) = decl.args.first() {
                return Err(vec![
                    Diag::new(
                        codes::ERROR_ARGUMENT,
                        "the components of a field are given as one list, without a name",
                    )
                    .with_label(a.name.span, "a named argument")
                    .with_help(help),
                ]);
            }
            let [list] = decl.positional.as_slice() else {
                let at = decl.positional.get(1).map_or(decl.kind.span, Value::span);
                return Err(vec![
                    Diag::new(
                        codes::ERROR_ARGUMENT,
                        "a field takes one argument: the list of its components",
                    )
                    .with_label(at, "expected one list")
                    .with_help(help),
                ]);
            };
            let items = list_of(list, "the field")?;
            let d = items.len();
            check_dimension(d, list.span())?;
            let x: Vec<Symbol> = (1..=d).map(|k| pool.symbol(&format!("x{k}"))).collect();
            let names: Vec<String> = (1..=d).map(|k| format!("x{k}")).collect();
            let mut vars: Vec<(&str, Symbol)> =
                names.iter().map(String::as_str).zip(x.iter().copied()).collect();
            vars.push(("t", t));
            let mut components = Vec::with_capacity(d);
            let mut errors = Vec::new();
            for e in items {
                if let Value::Expr(ex) = e {
                    errors.extend(coordinates_beyond(ex, d));
                }
                match lower_entry(&mut pool, e, &vars) {
                    Ok(id) => components.push(id),
                    Err(es) if errors.is_empty() => errors.extend(es),
                    Err(_) => {}
                }
            }
            if errors.is_empty() {
                Ok(new(pool, d, x, Form::Field(components)))
            } else {
                Err(errors)
            }
        }
        other => Err(vec![
            Diag::new(
                codes::ERROR_KIND,
                format!("unknown kind of error `{other}`"),
            )
            .with_label(decl.kind.span, "expected `linear` or `field`")
            .with_help(
                "write `error E = linear(matrix = [[...]], shift = [...]);` or `error F = field([x2, -x1]);`",
            ),
        ]),
    }
}

/// A diagnostic for each coordinate `xk` with k outside 1..=d in `e`.
fn coordinates_beyond(e: &ast::Expr, d: usize) -> Vec<Diag> {
    e.subexprs()
        .filter_map(|s| match &s.kind {
            ExprKind::Ident(name) => {
                let k: usize = name.strip_prefix('x')?.parse().ok()?;
                (k == 0 || k > d).then(|| {
                    Diag::new(
                        codes::ERROR_VARIABLE,
                        format!("`{name}` is not a coordinate of this {d}-dimensional field"),
                    )
                    .with_label(s.span, "unknown coordinate")
                    .with_help(format!(
                        "the field has {d} components, so its variables are {} and t",
                        if d == 1 {
                            "x1".to_owned()
                        } else {
                            format!("x1 ... x{d}")
                        }
                    ))
                })
            }
            _ => None,
        })
        .collect()
}

/// One entry: an expression in `vars`, simplified.
fn lower_entry(pool: &mut Pool, v: &Value, vars: &[(&str, Symbol)]) -> Result<ExprId, Vec<Diag>> {
    let Value::Expr(e) = v else {
        return Err(vec![
            Diag::new(codes::ERROR_VALUE, "expected an expression")
                .with_label(v.span(), "not an expression")
                .with_help("an entry is a number or an expression, e.g. `0.5` or `sin(t)`"),
        ]);
    };
    let id = lower_expr(pool, e, vars)?;
    Ok(simplify::simplify(pool, id))
}

/// The items of a list value.
fn list_of<'v>(v: &'v Value, what: &str) -> Result<&'v [Value], Vec<Diag>> {
    match v {
        Value::Array { items, .. } => Ok(items),
        other => Err(vec![
            Diag::new(codes::ERROR_VALUE, format!("expected a list for {what}"))
                .with_label(other.span(), "not a list in brackets")
                .with_help("write a list in brackets, e.g. `[0, 0.5]`"),
        ]),
    }
}

/// The rows of a matrix value, each with its span.
fn rows_of(v: &Value) -> Result<Vec<(&[Value], Span)>, Vec<Diag>> {
    let items = list_of(v, "the matrix")?;
    let mut rows = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for item in items {
        match item {
            Value::Array { items, span } => rows.push((items.as_slice(), *span)),
            other => errors.push(
                Diag::new(codes::ERROR_VALUE, "expected a row of the matrix")
                    .with_label(other.span(), "not a list")
                    .with_help("each row is a list in brackets, e.g. `[0, -1]`"),
            ),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

fn check_dimension(d: usize, span: Span) -> Result<(), Vec<Diag>> {
    if d == 0 {
        return Err(vec![
            Diag::new(codes::ERROR_SHAPE, "an error needs at least one dimension")
                .with_label(span, "empty"),
        ]);
    }
    if d > MAX_DIMENSION {
        return Err(vec![
            Diag::new(
                codes::ERROR_SHAPE,
                format!("an error of dimension {d} is too large: at most {MAX_DIMENSION}"),
            )
            .with_label(span, format!("{d} entries")),
        ]);
    }
    Ok(())
}
