//! Emitted evaluators of a Gaussian mixture under a process (`emit --source`): the Rust
//! section of the module (`templates/mixture.rs.tera`) and the reference rows it is
//! verified on, computed at high precision from the mixture as declared.
//!
//! The emitted code works in each component's eigenbasis, in f64, with log-sum-exp
//! responsibilities. The reference does not: it factors `alpha^2 S_k + sigma^2 I` by
//! Cholesky at a precision raised by the bits of its condition number, so it checks the
//! eigenbasis too. A value is measured in ulps of its *scale*, the size of what rounding
//! can perturb in the emitted algorithm (docs/theory.md, section 9): the terms it adds, the
//! coordinates it forms, and the spread of the components' values weighted by how much
//! rounding can move the responsibilities.

use astro_float::{BigFloat, Consts, RoundingMode};
use nalgebra::DMatrix;
use serde::Serialize;

use crate::codegen::measure::{Case, Row};
use crate::codegen::view::{doc_literal, f64_literal, render_text};
use crate::codegen::{Accuracy, CodegenError, Form, Function, Section, rust_ident};
use crate::expr::{ExprId, Pool, hp};
use crate::process::Process;

use super::mixture::{Covariance, Mixture};

/// The section's template.
const TEMPLATE: &str = include_str!("../../templates/mixture.rs.tera");

const RM: RoundingMode = RoundingMode::ToEven;

/// The largest mixture `emit` writes: the constants of the module (`K d^2` numbers for
/// full covariances, `K d` for isotropic ones) and the work of the reference (`K d^3`
/// high-precision operations per checked time for full covariances). The flow-map
/// distillation setting (d = 64, K = 20, full covariances) is within both.
pub const MAX_CONSTANTS: usize = 1 << 18;
pub const MAX_REFERENCE_WORK: usize = 1 << 24;

/// The times the mixture's evaluators are checked at: both ends, their f64 neighbours,
/// tiny times, and a spread over [0, 1]. A large mixture is checked at the first
/// [`times`] of them in the order of [`PRIORITY`].
pub const TIMES: [f64; 18] = [
    0.0,
    f64::EPSILON / 2.0,
    1e-300,
    1e-100,
    1e-12,
    1e-6,
    1e-3,
    0.01,
    0.1,
    0.25,
    0.5,
    0.75,
    0.9,
    0.99,
    1.0 - 1e-6,
    1.0 - 1e-12,
    1.0 - f64::EPSILON / 2.0,
    1.0,
];

/// The order in which [`TIMES`] are dropped from the checks of a large mixture, most
/// important first: the ends, the middle, the tiniest time, then the rest.
const PRIORITY: [usize; 18] = [0, 17, 10, 2, 1, 16, 5, 14, 8, 12, 3, 4, 6, 7, 9, 11, 13, 15];

/// The high-precision operations the reference may spend on checks (about 2 s): a large
/// mixture is checked at fewer times, never fewer than 4.
const REFERENCE_OPERATIONS: usize = 1 << 23;

/// The times checked for a mixture of `k` components in `d` dimensions: all of [`TIMES`]
/// while the reference's work (a factorisation per component and time, and solves at three
/// points) stays within [`REFERENCE_OPERATIONS`], else as many as it allows, in the order
/// of [`PRIORITY`], and at least 4; in increasing order.
pub fn times(k: usize, d: usize, isotropic: bool) -> Vec<f64> {
    let per_time = if isotropic {
        k * d * 12
    } else {
        k * (d * d * d / 3 + 12 * d * d)
    };
    let n = (REFERENCE_OPERATIONS / per_time.max(1)).clamp(4, TIMES.len());
    let mut chosen: Vec<f64> = PRIORITY[..n].iter().map(|&i| TIMES[i]).collect();
    chosen.sort_by(f64::total_cmp);
    chosen
}

/// Why the mixture's evaluators cannot be emitted.
#[derive(Debug, thiserror::Error)]
pub enum MixtureCodeError {
    #[error(
        "mixture `{name}` is too large to emit: {what} is {value}, the limit is {limit} (`diffsym emit` writes its constants into the module and verifies it at high precision)"
    )]
    TooLarge {
        name: String,
        what: &'static str,
        value: usize,
        limit: usize,
    },
    #[error(transparent)]
    Codegen(#[from] CodegenError),
}

impl MixtureCodeError {
    /// The stable code of this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            MixtureCodeError::TooLarge { .. } => crate::diag::codes::EMIT_MIXTURE,
            MixtureCodeError::Codegen(e) => e.code(),
        }
    }
}

#[derive(Serialize)]
struct View {
    doc: Vec<String>,
    ident: String,
    dim: usize,
    components: usize,
    ln_weights: String,
    means: String,
    isotropic: bool,
    variances: String,
    eigenvalues: String,
    basis: String,
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

fn literals(xs: impl IntoIterator<Item = f64>) -> String {
    list(xs.into_iter().map(f64_literal))
}

/// The values of the schedule at one time, at the reference's precision.
struct At {
    alpha: BigFloat,
    sigma: BigFloat,
    dalpha: BigFloat,
    half_dsigma2: BigFloat,
}

/// The schedule's expressions the mixture's evaluators call: alpha, sigma, alpha' and
/// sigma sigma' (the module's `dalpha` and `half_dsigma2`).
pub struct ScheduleExprs {
    pub alpha: ExprId,
    pub sigma: ExprId,
    pub dalpha: ExprId,
    pub half_dsigma2: ExprId,
}

impl ScheduleExprs {
    /// From the process and the lowered derivatives (`codegen::schedule_derivatives`).
    pub fn new(p: &Process, derivatives: &[Function]) -> Option<ScheduleExprs> {
        let find = |name: &str| derivatives.iter().find(|f| f.name == name).map(|f| f.expr);
        Some(ScheduleExprs {
            alpha: p.quantity("alpha")?,
            sigma: p.quantity("sigma")?,
            dalpha: find("dalpha")?,
            half_dsigma2: find("half_dsigma2")?,
        })
    }

    /// The values at `t`, certified to about 106 bits (the double-double nearest each), or
    /// their limits where a formula is undefined at `t` (an end); None where one is not a
    /// finite number. A plain high-precision evaluation is not enough: `alpha'` of the
    /// shifted cosine at t = 1e-100 cancels 200 digits.
    fn at(&self, pool: &mut Pool, t: f64) -> Option<At> {
        use crate::expr::limit;
        let ts = pool.symbol("t");
        let exact = num_rational::BigRational::from_float(t)?;
        let value = |pool: &mut Pool, e: ExprId| -> Option<BigFloat> {
            let (hi, lo) = limit::value_at(
                pool,
                e,
                &[(ts, exact.clone())],
                &[ts],
                limit::MAX_POINT_BITS,
                &double_double,
            )
            .ok()?;
            let (hi, lo) = (f64::from_bits(hi), f64::from_bits(lo));
            hi.is_finite().then(|| big(hi).add(&big(lo), 128, RM))
        };
        Some(At {
            alpha: value(pool, self.alpha)?,
            sigma: value(pool, self.sigma)?,
            dalpha: value(pool, self.dalpha)?,
            half_dsigma2: value(pool, self.half_dsigma2)?,
        })
    }
}

/// `x` rounded to the nearest double-double `hi + lo` (both zeros identified), as bits: a
/// monotone rounding, so a ball whose ends round alike certifies the value to ~106 bits.
fn double_double(x: &BigFloat) -> (u64, u64) {
    use crate::expr::ball::round_f64_value;
    let hi = hp::to_f64(x);
    if !hi.is_finite() {
        return (hi.to_bits(), 0);
    }
    let p = x.mantissa_max_bit_len().unwrap_or(64) + 128;
    let lo = hp::to_f64(&x.sub(&big(hi), p, RM));
    (round_f64_value(hi), round_f64_value(lo))
}

/// The mixture's section of the module of `p`: the evaluators `ident::log_density`,
/// `ident::score` and `ident::pf_velocity`, and their reference rows.
pub fn section(
    pool: &mut Pool,
    p: &Process,
    m: &Mixture,
    schedule: &ScheduleExprs,
    accuracy: Accuracy,
) -> Result<Section, MixtureCodeError> {
    let ident = rust_ident(&m.name)?;
    let (d, k) = (m.dimension, m.components.len());
    let isotropic = isotropic(m);
    let too_large = |what, value, limit| MixtureCodeError::TooLarge {
        name: m.name.clone(),
        what,
        value,
        limit,
    };
    let constants = if isotropic {
        k * (d + 1)
    } else {
        k * d * (d + 1)
    };
    if constants > MAX_CONSTANTS {
        return Err(too_large(
            "the number of constants",
            constants,
            MAX_CONSTANTS,
        ));
    }
    let work = if isotropic { k * d } else { k * d * d * d };
    if work > MAX_REFERENCE_WORK {
        return Err(too_large("K d^3", work, MAX_REFERENCE_WORK));
    }
    let view = View {
        doc: [
            format!(
                "The Gaussian mixture `{}` ({k} component{} in {d} dimension{}) noised by the process `{}`: its log-density, score and probability-flow velocity.",
                m.name,
                if k == 1 { "" } else { "s" },
                if d == 1 { "" } else { "s" },
                p.name
            ),
            String::new(),
            "The marginal at time t is sum_k pi_k N(alpha m_k, alpha^2 S_k + sigma^2 I). Responsibilities are formed by log-sum-exp, each component in its covariance's eigenbasis, in f64; `emit --verify` measures every function against a reference computed at high precision from the declared covariances.".to_owned(),
        ]
        .iter()
        .map(|l| doc_literal(l))
        .collect(),
        ident: ident.clone(),
        dim: d,
        components: k,
        ln_weights: literals(m.weights.iter().map(|w| w.ln())),
        means: list(m.components.iter().map(|c| literals(c.mean.iter().copied()))),
        isotropic,
        variances: literals(m.components.iter().map(|c| match &c.cov {
            Covariance::Isotropic(v) => *v,
            Covariance::Eigen { .. } => f64::NAN,
        })),
        eigenvalues: list(m.components.iter().map(|c| {
            let (values, _) = eigen(&c.cov, d);
            literals(values)
        })),
        basis: list(m.components.iter().map(|c| {
            let (_, basis) = eigen(&c.cov, d);
            list((0..d).map(|j| literals(basis.column(j).iter().copied())))
        })),
    };
    let code = render_text(TEMPLATE, &view)?;
    Ok(Section {
        code,
        cases: cases(pool, m, &ident, schedule, accuracy),
    })
}

/// Whether every component is `v I` (the emitted code then needs no eigenbasis).
fn isotropic(m: &Mixture) -> bool {
    m.components
        .iter()
        .all(|c| matches!(c.cov, Covariance::Isotropic(_)))
}

/// A covariance's eigenvalues and eigenvectors (as columns).
fn eigen(cov: &Covariance, d: usize) -> (Vec<f64>, DMatrix<f64>) {
    match cov {
        Covariance::Isotropic(v) => (vec![*v; d], DMatrix::identity(d, d)),
        Covariance::Eigen { values, basis } => (values.clone(), basis.clone()),
    }
}

/// What one function of the section returns, for its reference rows.
#[derive(Clone, Copy, PartialEq)]
enum Output {
    LogDensity,
    Score,
    Velocity,
}

/// The reference rows of the section's three functions.
fn cases(
    pool: &mut Pool,
    m: &Mixture,
    ident: &str,
    schedule: &ScheduleExprs,
    accuracy: Accuracy,
) -> Vec<Case> {
    let (d, k) = (m.dimension, m.components.len());
    // The longest chain of roundings: two dot products of length d, a sum over the K
    // components, and a few operations more; the schedule's values within the budget.
    let bound = accuracy.field_bound(2 * d + k + 10);
    let precision = reference_precision(m);
    let mut reference = Reference::new(m, precision);
    let outputs = [
        (Output::LogDensity, "log_density", 1),
        (Output::Score, "score", d),
        (Output::Velocity, "pf_velocity", d),
    ];
    let mut rows: Vec<Vec<Row>> = vec![Vec::new(); 3];
    let isotropic = isotropic(m);
    for t in times(k, d, isotropic) {
        let Some(at) = schedule.at(pool, t) else {
            continue;
        };
        reference.factor(&at);
        for x in points(m, &at) {
            let values = reference.values(&at, &x);
            let scales = scales(m, &at, &x, &values);
            let mut args = vec![t];
            args.extend(&x);
            for (which, (out, _, _)) in outputs.iter().enumerate() {
                let (want, scale): (Vec<f64>, Vec<f64>) = match out {
                    Output::LogDensity => (vec![values.log_density], vec![scales.log_density]),
                    Output::Score => (values.score.clone(), scales.score.clone()),
                    Output::Velocity => (values.velocity.clone(), scales.velocity.clone()),
                };
                let usable =
                    want.iter().all(|w| w.is_finite()) && scale.iter().all(|s| s.is_normal());
                if usable {
                    rows[which].extend(want.iter().zip(&scale).map(|(&want, &scale)| Row {
                        args: args.clone(),
                        want,
                        scale,
                        bound,
                    }));
                }
            }
        }
    }
    let xs = (1..=d)
        .map(|i| format!("r[{i}]"))
        .collect::<Vec<_>>()
        .join(", ");
    outputs
        .iter()
        .zip(rows)
        .map(|(&(_, name, n), rows)| Case {
            function: format!("{ident}::{name}"),
            call: format!("{ident}::{name}(&[{xs}], r[0])"),
            rows,
            arity: d + 1,
            form: Form::F64,
            budget: accuracy.ulps(),
            outputs: n,
        })
        .collect()
}

/// The reference's precision: 128 bits, and those the components' condition numbers can
/// cost in the factorisation.
fn reference_precision(m: &Mixture) -> usize {
    let worst = m
        .components
        .iter()
        .map(|c| match &c.cov {
            Covariance::Isotropic(_) => 1.0,
            Covariance::Eigen { values, .. } => {
                let hi = values.iter().copied().fold(0.0, f64::max);
                let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                hi / lo
            }
        })
        .fold(1.0, f64::max);
    128 + worst.log2().ceil().max(0.0) as usize
}

/// The points checked at one time: near the first component's mean, near the component
/// farthest from it, and between the two (where the responsibilities are mixed), each
/// offset by a fixed direction scaled to the marginal's spread.
fn points(m: &Mixture, at: &At) -> Vec<Vec<f64>> {
    let d = m.dimension;
    let (alpha, sigma) = (hp::to_f64(&at.alpha), hp::to_f64(&at.sigma));
    let first = &m.components[0];
    let far = m
        .components
        .iter()
        .max_by(|a, b| {
            let da = (&a.mean - &first.mean).norm();
            let db = (&b.mean - &first.mean).norm();
            da.total_cmp(&db)
        })
        .unwrap_or(first);
    let (values, _) = eigen(&first.cov, d);
    let spread = (alpha * alpha * values.iter().sum::<f64>() / d as f64 + sigma * sigma).sqrt();
    // A fixed direction with entries in [-1, 1], different for each point.
    let direction = |j: usize, i: usize| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0;
    let centres = [
        first.mean.clone() * alpha,
        far.mean.clone() * alpha,
        (&first.mean + &far.mean) * (alpha / 2.0),
    ];
    centres
        .iter()
        .enumerate()
        .map(|(j, c)| {
            (0..d)
                .map(|i| c[i] + spread * direction(j, i) * if j == 2 { 0.25 } else { 1.0 })
                .collect()
        })
        .collect()
}

/// The reference values at one point.
struct Values {
    log_density: f64,
    score: Vec<f64>,
    velocity: Vec<f64>,
    /// Per component: ln(weight x density) and its score and velocity, rounded.
    ln: Vec<f64>,
    component_scores: Vec<Vec<f64>>,
    component_velocities: Vec<Vec<f64>>,
}

/// The high-precision reference: the declared covariances, and at each time the Cholesky
/// factors of `alpha^2 S_k + sigma^2 I`.
struct Reference<'a> {
    m: &'a Mixture,
    p: usize,
    consts: Consts,
    /// The covariances, exactly as declared (or as the eigenbasis gives them when that is
    /// all there is).
    covs: Vec<Cov>,
    /// At the current time, per component: its marginal covariance factored (the variance
    /// of `v I`, the lower Cholesky factor of a full one) and ln det.
    factors: Vec<(Factor, BigFloat)>,
}

/// A component's covariance in the reference.
enum Cov {
    Isotropic(BigFloat),
    Full(Vec<Vec<BigFloat>>),
}

/// A component's marginal covariance at one time.
enum Factor {
    /// `v I`.
    Isotropic(BigFloat),
    /// The lower Cholesky factor.
    Cholesky(Vec<Vec<BigFloat>>),
}

/// `x` exactly (astro-float's own conversion is exact for normal numbers; `hp` handles
/// subnormals, at the price of a constants cache).
fn big(x: f64) -> BigFloat {
    if x == 0.0 || x.is_normal() {
        BigFloat::from_f64(x, 64)
    } else {
        hp::Hp::new(64).from_f64(x)
    }
}

impl<'a> Reference<'a> {
    fn new(m: &'a Mixture, p: usize) -> Reference<'a> {
        let d = m.dimension;
        let covs =
            m.components
                .iter()
                .map(|c| {
                    if let (None, Covariance::Isotropic(v)) = (&c.declared, &c.cov) {
                        return Cov::Isotropic(big(*v));
                    }
                    let entry = |i: usize, j: usize| -> BigFloat {
                        match (&c.declared, &c.cov) {
                            (Some(s), _) => big(s[(i, j)]),
                            (None, Covariance::Isotropic(v)) => big(if i == j { *v } else { 0.0 }),
                            (None, Covariance::Eigen { values, basis }) => {
                                let mut acc = BigFloat::new(p);
                                for (l, &value) in values.iter().enumerate() {
                                    let term = big(basis[(i, l)])
                                        .mul(&big(basis[(j, l)]), p, RM)
                                        .mul(&big(value), p, RM);
                                    acc = acc.add(&term, p, RM);
                                }
                                acc
                            }
                        }
                    };
                    Cov::Full(
                        (0..d)
                            .map(|i| (0..d).map(|j| entry(i, j)).collect())
                            .collect(),
                    )
                })
                .collect();
        Reference {
            m,
            p,
            consts: Consts::new().expect("the constants cache only fails to allocate"),
            covs,
            factors: Vec::new(),
        }
    }

    /// Factors every component's marginal covariance at the time of `at`.
    // Indices mirror the textbook factorisation.
    #[allow(clippy::needless_range_loop)]
    fn factor(&mut self, at: &At) {
        let p = self.p;
        let d = self.m.dimension;
        let a2 = at.alpha.mul(&at.alpha, p, RM);
        let s2 = at.sigma.mul(&at.sigma, p, RM);
        self.factors = self
            .covs
            .iter()
            .map(|c| {
                let c = match c {
                    Cov::Isotropic(v) => {
                        let var = a2.mul(v, p, RM).add(&s2, p, RM);
                        let log_det = big(d as f64).mul(&var.ln(p, RM, &mut self.consts), p, RM);
                        return (Factor::Isotropic(var), log_det);
                    }
                    Cov::Full(c) => c,
                };
                let mut l = vec![vec![BigFloat::new(p); d]; d];
                let mut log_det = BigFloat::new(p);
                for j in 0..d {
                    let mut diag = a2.mul(&c[j][j], p, RM).add(&s2, p, RM);
                    for q in 0..j {
                        diag = diag.sub(&l[j][q].mul(&l[j][q], p, RM), p, RM);
                    }
                    let root = diag.sqrt(p, RM);
                    log_det = log_det.add(&diag.ln(p, RM, &mut self.consts), p, RM);
                    for i in j + 1..d {
                        let mut v = a2.mul(&c[i][j], p, RM);
                        for q in 0..j {
                            v = v.sub(&l[i][q].mul(&l[j][q], p, RM), p, RM);
                        }
                        l[i][j] = v.div(&root, p, RM);
                    }
                    l[j][j] = root;
                }
                (Factor::Cholesky(l), log_det)
            })
            .collect();
    }

    /// The log-density, score and velocity at `x` (the current time's factors).
    fn values(&mut self, at: &At, x: &[f64]) -> Values {
        let p = self.p;
        let d = self.m.dimension;
        let half = BigFloat::from_f64(0.5, 64);
        let a_da = at.alpha.mul(&at.dalpha, p, RM);
        let mut ln = Vec::new();
        let mut scores = Vec::new();
        let mut velocities = Vec::new();
        for (k, c) in self.m.components.iter().enumerate() {
            let (factor, log_det) = &self.factors[k];
            let w: Vec<BigFloat> = (0..d)
                .map(|i| big(x[i]).sub(&at.alpha.mul(&big(c.mean[i]), p, RM), p, RM))
                .collect();
            let u = match factor {
                Factor::Isotropic(v) => w.iter().map(|wi| wi.div(v, p, RM)).collect(),
                // u = (L L^T)^-1 w: forward, then backward substitution.
                Factor::Cholesky(l) => {
                    let mut z = w.clone();
                    for i in 0..d {
                        for q in 0..i {
                            z[i] = z[i].sub(&l[i][q].mul(&z[q], p, RM), p, RM);
                        }
                        z[i] = z[i].div(&l[i][i], p, RM);
                    }
                    let mut u = z;
                    for i in (0..d).rev() {
                        for q in i + 1..d {
                            u[i] = u[i].sub(&l[q][i].mul(&u[q], p, RM), p, RM);
                        }
                        u[i] = u[i].div(&l[i][i], p, RM);
                    }
                    u
                }
            };
            let mut quad = BigFloat::new(p);
            for i in 0..d {
                quad = quad.add(&w[i].mul(&u[i], p, RM), p, RM);
            }
            let ln_w = big(self.m.weights[k]).ln(p, RM, &mut self.consts);
            ln.push(ln_w.sub(&half.mul(&quad.add(log_det, p, RM), p, RM), p, RM));
            scores.push(u.iter().map(|v| v.neg()).collect::<Vec<_>>());
            // (alpha alpha' S + sigma sigma' I) u + alpha' m.
            let velocity = (0..d)
                .map(|i| {
                    let su = match &self.covs[k] {
                        Cov::Isotropic(v) => v.mul(&u[i], p, RM),
                        Cov::Full(c) => {
                            let mut su = BigFloat::new(p);
                            for (q, uq) in u.iter().enumerate() {
                                su = su.add(&c[i][q].mul(uq, p, RM), p, RM);
                            }
                            su
                        }
                    };
                    a_da.mul(&su, p, RM)
                        .add(&at.half_dsigma2.mul(&u[i], p, RM), p, RM)
                        .add(&at.dalpha.mul(&big(c.mean[i]), p, RM), p, RM)
                })
                .collect::<Vec<_>>();
            velocities.push(velocity);
        }
        // Responsibilities by log-sum-exp.
        let top = ln
            .iter()
            .max_by(|a, b| a.cmp(b).unwrap_or(0).cmp(&0))
            .cloned()
            .unwrap_or_else(|| BigFloat::new(p));
        let e: Vec<BigFloat> = ln
            .iter()
            .map(|v| v.sub(&top, p, RM).exp(p, RM, &mut self.consts))
            .collect();
        let mut sum = BigFloat::new(p);
        for v in &e {
            sum = sum.add(v, p, RM);
        }
        let r: Vec<BigFloat> = e.iter().map(|v| v.div(&sum, p, RM)).collect();
        let mix = |parts: &[Vec<BigFloat>]| -> Vec<f64> {
            (0..d)
                .map(|i| {
                    let mut acc = BigFloat::new(p);
                    for (rk, part) in r.iter().zip(parts) {
                        acc = acc.add(&rk.mul(&part[i], p, RM), p, RM);
                    }
                    hp::to_f64(&acc)
                })
                .collect()
        };
        let half_ln_2pi = {
            let two_pi = BigFloat::from_f64(2.0, 64).mul(&self.consts.pi(p, RM), p, RM);
            half.mul(&two_pi.ln(p, RM, &mut self.consts), p, RM)
        };
        let log_density = top.add(&sum.ln(p, RM, &mut self.consts), p, RM).sub(
            &big(d as f64).mul(&half_ln_2pi, p, RM),
            p,
            RM,
        );
        let round = |vs: &[Vec<BigFloat>]| -> Vec<Vec<f64>> {
            vs.iter()
                .map(|v| v.iter().map(hp::to_f64).collect())
                .collect()
        };
        Values {
            log_density: hp::to_f64(&log_density),
            score: mix(&scores),
            velocity: mix(&velocities),
            ln: ln.iter().map(hp::to_f64).collect(),
            component_scores: round(&scores),
            component_velocities: round(&velocities),
        }
    }
}

/// The scales a value of the emitted code is measured in (see the module documentation).
struct Scales {
    log_density: f64,
    score: Vec<f64>,
    velocity: Vec<f64>,
}

/// The sizes, per output, of what rounding perturbs in the emitted algorithm at `x`,
/// to first order: the terms its sums add (with the magnitudes of the coordinates they
/// are formed from), and the spread of the components' values times the size of the
/// log-weights rounding can move.
#[allow(clippy::needless_range_loop)]
fn scales(m: &Mixture, at: &At, x: &[f64], values: &Values) -> Scales {
    let d = m.dimension;
    let f = |v: &BigFloat| hp::to_f64(v);
    let (alpha, sigma, dalpha, hds) = (
        f(&at.alpha),
        f(&at.sigma),
        f(&at.dalpha),
        f(&at.half_dsigma2),
    );
    let top = values.ln.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = values.ln.iter().map(|v| (v - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    let r: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let mut terms_score = vec![0.0; d];
    let mut terms_velocity = vec![0.0; d];
    let mut moved = Vec::new();
    for (k, c) in m.components.iter().enumerate() {
        let (lambda, basis) = eigen(&c.cov, d);
        let mut moved_k = m.weights[k].ln().abs() + (values.ln[k] - top).abs() + 1.0;
        for j in 0..d {
            let mut y = 0.0;
            let mut size = 0.0;
            for i in 0..d {
                let b = basis[(i, j)];
                y += b * (x[i] - alpha * c.mean[i]);
                size += b.abs() * (x[i].abs() + (alpha * c.mean[i]).abs());
            }
            let v = alpha * alpha * lambda[j] + sigma * sigma;
            moved_k += (2.0 * y.abs() * size + y * y) / v + v.ln().abs();
            // |y| + what rounding can change in it, times the coefficient of y in the
            // score (1/v) and in the velocity ((alpha alpha' lambda + sigma sigma')/v).
            let coordinate = size + y.abs();
            let speed = (alpha * dalpha * lambda[j]).abs() + hds.abs();
            for i in 0..d {
                let b = r[k] * basis[(i, j)].abs() * coordinate / v;
                terms_score[i] += b;
                terms_velocity[i] += b * speed;
            }
        }
        for i in 0..d {
            terms_velocity[i] += r[k] * (dalpha * c.mean[i]).abs();
        }
        moved.push(moved_k);
    }
    let mean_moved: f64 = r.iter().zip(&moved).map(|(r, m)| r * m).sum();
    let spread = |parts: &[Vec<f64>], mixed: &[f64], i: usize| -> f64 {
        r.iter()
            .zip(&moved)
            .zip(parts)
            .map(|((r, mv), part)| r * (mv + mean_moved) * (part[i] - mixed[i]).abs())
            .sum()
    };
    Scales {
        log_density: mean_moved + values.log_density.abs() + d as f64,
        score: (0..d)
            .map(|i| terms_score[i] + spread(&values.component_scores, &values.score, i))
            .collect(),
        velocity: (0..d)
            .map(|i| terms_velocity[i] + spread(&values.component_velocities, &values.velocity, i))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Covariances;

    fn at(alpha: f64, sigma: f64, dalpha: f64, half_dsigma2: f64) -> At {
        At {
            alpha: big(alpha),
            sigma: big(sigma),
            dalpha: big(dalpha),
            half_dsigma2: big(half_dsigma2),
        }
    }

    fn reference_values(m: &Mixture, at: &At, x: &[f64]) -> Values {
        let mut r = Reference::new(m, reference_precision(m));
        r.factor(at);
        r.values(at, x)
    }

    fn close(got: f64, want: f64, tol: f64) -> bool {
        (got - want).abs() <= tol * want.abs().max(1e-300)
    }

    #[test]
    fn the_reference_matches_the_two_mode_closed_form() {
        // p = (N(-a mu, s^2) + N(a mu, s^2))/2: score (-x + a mu tanh(a mu x/s^2))/s^2,
        // log p = -x^2/(2 s^2) - (a mu)^2/(2 s^2) + ln cosh(a mu x/s^2) - ln(2 pi s^2)/2.
        let (mu, var) = (1.5, 0.2);
        let m = Mixture::new(
            "M",
            vec![0.5, 0.5],
            vec![vec![-mu], vec![mu]],
            Covariances::Shared(var),
        )
        .expect("valid");
        for &(a, s, x) in &[(0.9, 0.3, 0.7), (0.2, 0.98, -2.0), (1.0, 1e-3, 1.4)] {
            let v = reference_values(&m, &at(a, s, 0.0, 0.0), &[x]);
            let s2 = a * a * var + s * s;
            let u = a * mu * x / s2;
            let score = (-x + a * mu * u.tanh()) / s2;
            assert!(close(v.score[0], score, 1e-14), "{} {score}", v.score[0]);
            let log_p = -(x * x + (a * mu) * (a * mu)) / (2.0 * s2) + u.cosh().ln()
                - (2.0 * std::f64::consts::PI * s2).ln() / 2.0;
            assert!(
                close(v.log_density, log_p, 1e-13),
                "{} {log_p}",
                v.log_density
            );
        }
    }

    #[test]
    fn the_reference_agrees_with_the_eigenbasis_evaluation() {
        // Two independent algorithms: Cholesky at high precision from the declared
        // matrices, and responsibilities in f64 in each eigenbasis (`Marginal`); the
        // velocity against f x - (g2/2) score, with f = alpha'/alpha and
        // g2 = 2 (sigma sigma' - sigma^2 alpha'/alpha).
        let m = crate::analysis::mixture::three_components();
        let (a, s, da, h) = (0.8, 0.6, -0.7, 0.45);
        let x = [0.3, 0.9];
        let v = reference_values(&m, &at(a, s, da, h), &x);
        let marginal = m.marginal(a, s);
        let score = marginal.score(&x);
        let f = da / a;
        let g2 = 2.0 * (h - s * s * da / a);
        let velocity = marginal.pf_velocity(&x, f, g2);
        for i in 0..2 {
            assert!(
                close(v.score[i], score[i], 1e-13),
                "{:?} {score:?}",
                v.score
            );
            assert!(
                close(v.velocity[i], velocity[i], 1e-13),
                "{:?} {velocity:?}",
                v.velocity
            );
        }
        assert!(close(v.log_density, marginal.log_density(&x), 1e-14));
    }

    #[test]
    fn large_mixtures_are_checked_at_fewer_times_with_both_ends() {
        let mut all = TIMES.to_vec();
        all.sort_by(f64::total_cmp);
        assert_eq!(times(3, 2, false), all);
        let few = times(20, 64, false);
        assert!(few.len() >= 4 && few.len() < TIMES.len(), "{few:?}");
        for t in [0.0, 1.0, 0.5, 1e-300] {
            assert!(few.contains(&t), "{t} in {few:?}");
        }
        assert!(few.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn double_double_rounding_splits_exactly() {
        let p = 256;
        let third = BigFloat::from_f64(1.0, 64).div(&BigFloat::from_f64(3.0, 64), p, RM);
        let (hi, lo) = double_double(&third);
        let (hi, lo) = (f64::from_bits(hi), f64::from_bits(lo));
        assert_eq!(hi, 1.0 / 3.0);
        // 1/3 - hi = 1/3 - 6004799503160661/2^54 = 1/(3 * 2^54), to the nearest f64.
        assert_eq!(lo, 1.0 / (3.0 * 2f64.powi(54)));
        let zero = BigFloat::new(64);
        assert_eq!(double_double(&zero), (0, 0));
        assert_eq!(double_double(&zero.neg()), (0, 0));
    }
}
