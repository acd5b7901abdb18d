//! Lowering of `source` declarations into [`GaussianSource`] values, with spanned errors.
//!
//! Data files (`spectrum = file("path")`) are read through a caller-supplied loader, so the
//! library itself does no IO: the command line resolves the path against the .dsym file.

use std::collections::HashMap;

use num_rational::BigRational;
use num_traits::Zero;

use super::declaration::arguments;
use super::drift::{NamedKernel, lower_kernels};
use super::hodge::Scalar;
use super::hodge::gaussian::Moments;
use super::hodge::lower::{ScoreError, lower_errors};
use super::mixture::{Covariances, Mixture, MixtureError};
use super::{GaussianSource, SourceError};
use crate::diag::{Diag, Span, codes};
use crate::expr::{Pool, eval, simplify};
use crate::process::lower_expr;
use crate::syntax::ast::{self, Value};

/// Reads the text of a data file named (as written) in a source; `Err` is the reason, e.g.
/// "no such file".
pub type SourceLoader<'a> = dyn FnMut(&str) -> Result<String, String> + 'a;

/// The sources of a file, by family.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub gaussians: Vec<GaussianSource>,
    pub mixtures: Vec<Mixture>,
    /// The moments of each Gaussian source as declared (not in its eigenbasis), exact where
    /// the entries are rational: what the exact Hodge decomposition works with.
    pub moments: Vec<(String, Moments)>,
    /// The `error` declarations.
    pub errors: Vec<ScoreError>,
    /// The `kernel` declarations.
    pub kernels: Vec<NamedKernel>,
}

/// Lowers every `source` item of `file` (`gaussian(...)` and `gmm(...)`), every `error` and
/// every `kernel` item; all errors are collected.
pub fn lower_sources(
    file: &ast::File,
    loader: &mut SourceLoader<'_>,
) -> Result<Sources, Vec<Diag>> {
    let mut out = Sources::default();
    let mut errors = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for item in &file.items {
        let ast::Item::Source(s) = item else {
            continue;
        };
        if let Some(&first) = seen.get(s.name.name.as_str()) {
            errors.push(
                Diag::new(
                    codes::SOURCE_DUPLICATE,
                    format!("source `{}` is defined twice", s.name.name),
                )
                .with_label(s.name.span, "defined again here")
                .with_label(first, "first defined here"),
            );
            continue;
        }
        seen.insert(&s.name.name, s.name.span);
        let lowered = match s.kind.name.as_str() {
            "gmm" => gmm(s, loader).map(|m| out.mixtures.push(m)),
            _ => gaussian(s, loader).map(|(g, m)| {
                out.moments.push((g.name.clone(), m));
                out.gaussians.push(g);
            }),
        };
        if let Err(mut es) = lowered {
            errors.append(&mut es);
        }
    }
    match lower_errors(file) {
        Ok(es) => out.errors = es,
        Err(mut es) => errors.append(&mut es),
    }
    match lower_kernels(file) {
        Ok(ks) => out.kernels = ks,
        Err(mut es) => errors.append(&mut es),
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A list of numbers with the span of each (for a file: the `file(...)` span and the line).
pub(super) struct Numbers {
    pub values: Vec<f64>,
    /// Each value exactly, when it is rational.
    pub exact: Vec<Option<BigRational>>,
    pub spans: Vec<Span>,
    /// For data read from a file: (path, line number of each value).
    pub file: Option<(String, Vec<usize>)>,
    pub span: Span,
}

impl Numbers {
    /// Where value `i` came from, for messages: "" or " (line 3 of `spec.txt`)".
    fn origin(&self, i: usize) -> String {
        match &self.file {
            Some((path, lines)) => format!(" (line {} of `{path}`)", lines[i]),
            None => String::new(),
        }
    }
}

/// A Gaussian source, with its moments as declared.
fn gaussian(
    s: &ast::Declaration,
    loader: &mut SourceLoader<'_>,
) -> Result<(GaussianSource, Moments), Vec<Diag>> {
    if s.kind.name != "gaussian" {
        return Err(vec![
            Diag::new(
                codes::SOURCE_KIND,
                format!("unknown source family `{}`", s.kind.name),
            )
            .with_label(s.kind.span, "expected `gaussian` or `gmm`")
            .with_help(
                "write `source S = gaussian(spectrum = [...]);`, `gaussian(cov = [[...]])` or `gmm(weights = [...], means = [[...]], var = v)`",
            ),
        ]);
    }
    let args = arguments(
        s,
        "gaussian",
        &["spectrum", "cov", "mean"],
        "the arguments are `spectrum` or `cov`, and `mean` (optional)",
    )?;
    let mut pool = Pool::new();
    let mean = match args.get("mean") {
        Some(a) => Some(numbers(&mut pool, &a.value, loader)?),
        None => None,
    };
    let result = match (args.get("spectrum"), args.get("cov")) {
        (Some(a), None) => {
            let spec = numbers(&mut pool, &a.value, loader)?;
            let m = mean.as_ref().map(|m| m.values.clone());
            let d = spec.values.len();
            let cov = (0..d)
                .map(|i| {
                    (0..d)
                        .map(|j| match (i == j, &spec.exact[i]) {
                            (false, _) => Scalar::exact(BigRational::zero()),
                            (true, Some(r)) => Scalar::exact(r.clone()),
                            (true, None) => Scalar::float(spec.values[i]),
                        })
                        .collect()
                })
                .collect();
            GaussianSource::from_spectrum(&s.name.name, spec.values.clone(), m)
                .map(|g| (g, cov))
                .map_err(|e| source_error(e, &spec, mean.as_ref(), &[]))
        }
        (None, Some(a)) => {
            let (rows, row_spans) = matrix(&mut pool, &a.value, loader)?;
            let m = mean.as_ref().map(|m| m.values.clone());
            let values: Vec<Vec<f64>> = rows.iter().map(|r| r.values.clone()).collect();
            let whole = Numbers {
                values: Vec::new(),
                exact: Vec::new(),
                spans: row_spans,
                file: None,
                span: a.value.span(),
            };
            let cov = rows
                .iter()
                .map(|r| r.values.iter().zip(&r.exact).map(scalar).collect())
                .collect();
            GaussianSource::from_covariance(&s.name.name, &values, m)
                .map(|g| (g, cov))
                .map_err(|e| source_error(e, &whole, mean.as_ref(), &rows))
        }
        (Some(a), Some(b)) => Err(Diag::new(
            codes::SOURCE_ARGUMENT,
            "give `spectrum` or `cov`, not both",
        )
        .with_label(b.name.span, "second description of the covariance")
        .with_label(a.name.span, "first description")),
        (None, None) => Err(Diag::new(
            codes::SOURCE_ARGUMENT,
            format!("source `{}` has no covariance", s.name.name),
        )
        .with_label(s.kind.span, "needs `spectrum = [...]` or `cov = [[...]]`")),
    };
    let (g, cov) = result.map_err(|e| vec![e])?;
    let mean = match &mean {
        Some(m) => m.values.iter().zip(&m.exact).map(scalar).collect(),
        None => vec![Scalar::exact(BigRational::zero()); g.eigenvalues.len()],
    };
    Ok((g, Moments { mean, cov }))
}

/// A value exactly when it is rational.
fn scalar((x, r): (&f64, &Option<BigRational>)) -> Scalar {
    match r {
        Some(r) => Scalar::exact(r.clone()),
        None => Scalar::float(*x),
    }
}

/// `gmm(weights = [...], means = [[...], ...], covs = [[[...]], ...] | var = v)`.
fn gmm(s: &ast::Declaration, loader: &mut SourceLoader<'_>) -> Result<Mixture, Vec<Diag>> {
    let args = arguments(
        s,
        "gmm",
        &["weights", "means", "covs", "var"],
        "the arguments are `weights`, `means`, and `covs` or `var`",
    )?;
    let missing = |what: &str, example: &str| {
        vec![
            Diag::new(
                codes::SOURCE_ARGUMENT,
                format!("mixture `{}` has no {what}", s.name.name),
            )
            .with_label(s.kind.span, format!("needs `{example}`")),
        ]
    };
    let mut pool = Pool::new();
    let Some(w) = args.get("weights") else {
        return Err(missing("weights", "weights = [0.5, 0.5]"));
    };
    let Some(m) = args.get("means") else {
        return Err(missing("means", "means = [[-1], [1]]"));
    };
    let weights = numbers(&mut pool, &w.value, loader)?;
    let (means, mean_spans) = matrix(&mut pool, &m.value, loader)?;
    let (covs, cov_spans, cov_span) = match (args.get("covs"), args.get("var")) {
        (Some(c), None) => {
            let Value::Array { items, span } = &c.value else {
                return Err(vec![
                    Diag::new(
                        codes::SOURCE_VALUE,
                        "expected a list of covariance matrices",
                    )
                    .with_label(c.value.span(), "not a list")
                    .with_help("write e.g. `covs = [[[1, 0], [0, 1]], [[2, 0], [0, 1]]]`"),
                ]);
            };
            let mut mats = Vec::new();
            let mut spans = Vec::new();
            for item in items {
                let (rows, _) = matrix(&mut pool, item, loader)?;
                mats.push(rows.into_iter().map(|r| r.values).collect());
                spans.push(item.span());
            }
            (Covariances::Full(mats), spans, *span)
        }
        (None, Some(v)) => {
            let var = number(&mut pool, &v.value)?;
            (Covariances::Shared(var), Vec::new(), v.value.span())
        }
        (Some(a), Some(b)) => {
            let (first, second) = if a.span.start < b.span.start {
                (a, b)
            } else {
                (b, a)
            };
            return Err(vec![
                Diag::new(codes::SOURCE_ARGUMENT, "give `covs` or `var`, not both")
                    .with_label(second.name.span, "second description of the covariances")
                    .with_label(first.name.span, "first description"),
            ]);
        }
        (None, None) => {
            return Err(missing("covariances", "var = 0.1` or `covs = [[[...]]]"));
        }
    };
    let rows: Vec<Vec<f64>> = means.iter().map(|r| r.values.clone()).collect();
    Mixture::new(&s.name.name, weights.values.clone(), rows, covs).map_err(|e| {
        let message = e.to_string();
        let d =
            match e {
                MixtureError::Empty => Diag::new(codes::SOURCE_SHAPE, message)
                    .with_label(weights.span, "no components"),
                MixtureError::Weight { index, .. } => Diag::new(
                    codes::SOURCE_VALUE,
                    format!("weight {} is not positive", index + 1),
                )
                .with_label(
                    weights.spans.get(index).copied().unwrap_or(weights.span),
                    "not positive",
                )
                .with_help("weights are positive; they are normalised to sum to 1"),
                MixtureError::Count {
                    what,
                    expected,
                    found,
                } => {
                    let at = if what == "means" {
                        m.value.span()
                    } else {
                        cov_span
                    };
                    Diag::new(codes::SOURCE_SHAPE, message)
                        .with_label(at, format!("{found} given"))
                        .with_label(weights.span, format!("{expected} weights"))
                }
                MixtureError::MeanLength {
                    component,
                    expected,
                    found,
                } => Diag::new(
                    codes::SOURCE_SHAPE,
                    format!(
                        "mean {} has {found} entries, expected {expected}",
                        component + 1
                    ),
                )
                .with_label(
                    mean_spans.get(component).copied().unwrap_or(m.value.span()),
                    format!("expected {expected} entries"),
                ),
                MixtureError::NoDimension => Diag::new(codes::SOURCE_SHAPE, message)
                    .with_label(m.value.span(), "empty means"),
                MixtureError::Variance(_) => {
                    Diag::new(codes::SOURCE_VALUE, message).with_label(cov_span, "not positive")
                }
                MixtureError::Magnitude { .. } => {
                    Diag::new(codes::SOURCE_VALUE, message).with_label(s.span, "in this mixture")
                }
                MixtureError::Covariance { component, reason } => Diag::new(
                    codes::SOURCE_COVARIANCE,
                    format!("covariance {} of the mixture: {reason}", component + 1),
                )
                .with_label(
                    cov_spans.get(component).copied().unwrap_or(cov_span),
                    "this covariance",
                )
                .with_help("each covariance is a symmetric positive definite d by d matrix"),
            };
        vec![d]
    })
}

/// Places a [`SourceError`] at the value it concerns.
fn source_error(e: SourceError, data: &Numbers, mean: Option<&Numbers>, rows: &[Numbers]) -> Diag {
    let message = e.to_string();
    match e {
        SourceError::Empty => {
            Diag::new(codes::SOURCE_SHAPE, message).with_label(data.span, "no values")
        }
        SourceError::NotPositive { index, value } => {
            let at = data.spans.get(index).copied().unwrap_or(data.span);
            Diag::new(
                codes::SOURCE_VALUE,
                format!(
                    "eigenvalue {}{} is {value}; a covariance spectrum must be positive",
                    index + 1,
                    data.origin(index)
                ),
            )
            .with_label(at, "not positive")
        }
        SourceError::NotFinite { index } => {
            let at = data.spans.get(index).copied().unwrap_or(data.span);
            Diag::new(codes::SOURCE_VALUE, message).with_label(at, "not a finite number")
        }
        SourceError::MeanLength { expected, found } => {
            let at = mean.map_or(data.span, |m| m.span);
            Diag::new(
                codes::SOURCE_SHAPE,
                format!("the mean has {found} entries but the source has dimension {expected}"),
            )
            .with_label(at, format!("expected {expected} entries"))
            .with_label(data.span, format!("dimension {expected}"))
        }
        SourceError::NotSquare {
            row,
            expected,
            found,
        } => {
            let at = data.spans.get(row).copied().unwrap_or(data.span);
            Diag::new(
                codes::SOURCE_SHAPE,
                format!(
                    "row {} of the covariance has {found} entries, expected {expected}",
                    row + 1
                ),
            )
            .with_label(at, format!("expected {expected} entries"))
        }
        SourceError::NotSymmetric { i, j, .. } => {
            let at = |r: usize, c: usize| {
                rows.get(r)
                    .and_then(|row| row.spans.get(c))
                    .copied()
                    .unwrap_or(data.span)
            };
            Diag::new(
                codes::SOURCE_COVARIANCE,
                format!(
                    "the covariance is not symmetric: entry ({}, {}) differs from ({}, {})",
                    i + 1,
                    j + 1,
                    j + 1,
                    i + 1
                ),
            )
            .with_label(at(i, j), "this entry")
            .with_label(at(j, i), "differs from this one")
        }
        SourceError::NotPositiveDefinite { .. } => Diag::new(codes::SOURCE_COVARIANCE, message)
            .with_label(data.span, "not positive definite")
            .with_help("a covariance must be symmetric with all eigenvalues > 0"),
    }
}

/// A flat list of numbers: `[1, 0.5, ...]` or `file("path")`.
fn numbers(
    pool: &mut Pool,
    v: &Value,
    loader: &mut SourceLoader<'_>,
) -> Result<Numbers, Vec<Diag>> {
    match v {
        Value::Array { items, span } => {
            let mut values = Vec::new();
            let mut exact = Vec::new();
            let mut spans = Vec::new();
            let mut errors = Vec::new();
            for item in items {
                match constant(pool, item) {
                    Ok((x, r)) => {
                        values.push(x);
                        exact.push(r);
                    }
                    Err(mut es) => errors.append(&mut es),
                }
                spans.push(item.span());
            }
            if errors.is_empty() {
                Ok(Numbers {
                    values,
                    exact,
                    spans,
                    file: None,
                    span: *span,
                })
            } else {
                Err(errors)
            }
        }
        Value::File { path, span } => {
            let text = loader(path).map_err(|why| {
                vec![
                    Diag::new(codes::SOURCE_FILE, format!("cannot read `{path}`: {why}"))
                        .with_label(*span, "data file named here")
                        .with_help("the path is relative to the .dsym file"),
                ]
            })?;
            let mut values = Vec::new();
            let mut exact = Vec::new();
            let mut lines = Vec::new();
            for (k, line) in text.lines().enumerate() {
                let content = line.split('#').next().unwrap_or("").trim();
                if content.is_empty() {
                    continue;
                }
                match content.parse::<f64>() {
                    Ok(x) if x.is_finite() => {
                        values.push(x);
                        exact.push(crate::process::parse_param_override(pool, content).ok());
                        lines.push(k + 1);
                    }
                    _ => {
                        return Err(vec![
                            Diag::new(
                                codes::SOURCE_FILE,
                                format!("line {} of `{path}` is not a number: `{content}`", k + 1),
                            )
                            .with_label(*span, "data file named here")
                            .with_help("a spectrum file holds one eigenvalue per line; `#` starts a comment"),
                        ]);
                    }
                }
            }
            Ok(Numbers {
                spans: vec![*span; values.len()],
                values,
                exact,
                file: Some((path.clone(), lines)),
                span: *span,
            })
        }
        Value::Expr(e) => Err(vec![
            Diag::new(codes::SOURCE_VALUE, "expected a list of numbers")
                .with_label(e.span, "a single value")
                .with_help("write a list in brackets, e.g. `[1, 0.5]`"),
        ]),
    }
}

/// An array of rows, each a list of numbers; returns the rows and each row's span.
fn matrix(
    pool: &mut Pool,
    v: &Value,
    loader: &mut SourceLoader<'_>,
) -> Result<(Vec<Numbers>, Vec<Span>), Vec<Diag>> {
    let Value::Array { items, .. } = v else {
        return Err(vec![
            Diag::new(codes::SOURCE_VALUE, "expected a matrix: a list of rows")
                .with_label(v.span(), "not a list of rows")
                .with_help("write e.g. `cov = [[2, 0.8], [0.8, 0.5]]`"),
        ]);
    };
    let mut rows = Vec::new();
    let mut spans = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Value::Array { .. } => match numbers(pool, item, loader) {
                Ok(r) => rows.push(r),
                Err(mut es) => errors.append(&mut es),
            },
            other => errors.push(
                Diag::new(codes::SOURCE_VALUE, "expected a row of the covariance")
                    .with_label(other.span(), "not a list")
                    .with_help("each row is a list in brackets, e.g. `[2, 0.8]`"),
            ),
        }
        spans.push(item.span());
    }
    if errors.is_empty() {
        Ok((rows, spans))
    } else {
        Err(errors)
    }
}

/// One constant: an expression with no free names, evaluated in f64.
fn number(pool: &mut Pool, v: &Value) -> Result<f64, Vec<Diag>> {
    constant(pool, v).map(|(x, _)| x)
}

/// One constant in f64, and exactly when it simplifies to a rational.
fn constant(pool: &mut Pool, v: &Value) -> Result<(f64, Option<BigRational>), Vec<Diag>> {
    let e = match v {
        Value::Expr(e) => e,
        other => {
            return Err(vec![
                Diag::new(codes::SOURCE_VALUE, "expected a number")
                    .with_label(other.span(), "not a number"),
            ]);
        }
    };
    let id = lower_expr(pool, e, &[])?;
    let id = simplify::simplify(pool, id);
    let x = eval::eval_f64(pool, id, &[]).map_err(|why| {
        vec![
            Diag::new(
                codes::SOURCE_VALUE,
                format!("this value is not a finite number: {why}"),
            )
            .with_label(e.span, "not a finite number"),
        ]
    })?;
    Ok((x, pool.as_rational(id).cloned()))
}
