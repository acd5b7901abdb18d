//! The dual (Stein) estimator of the gradient part of a score error on a Gaussian-mixture
//! marginal: ||Pi e||^2 from the learned score s_theta = grad log p + e alone, by Galerkin over
//! gradients of polynomial potentials (MATH.md sections 7 and 9).
//!
//! # The estimator
//!
//! In L^2(p) an error splits as e = grad phi + w with div(p w) = 0, and ||e||^2 = ||grad
//! phi||^2 + ||w||^2. For a potential psi of polynomial growth, integration by parts against
//! p gives Stein's identity E_p[grad psi . grad log p + Laplacian psi] = 0, hence
//!
//! ```text
//! E_p[grad psi . e] = E_p[grad psi . s_theta + Laplacian psi],
//! ```
//!
//! whose right-hand side needs s_theta and samples (or quadrature) of p, never the true
//! score. Over the span V_D of the gradients of the potentials of total degree 1..=D, the
//! projection Pi_D e = sum_j c_j grad psi_j solves G c = r with G_ij = E_p[grad psi_i . grad
//! psi_j] and r_i the Stein functional of psi_i, and ||Pi_D e||^2 = r^T G^{-1} r. The spaces
//! are nested, so the estimates do not decrease with D, and they converge from below to
//! ||Pi e||^2 (polynomials are dense in L^2 of a Gaussian mixture). In 1-D every field is a
//! gradient, so they converge to ||e||^2. The rate depends on how well polynomials
//! approximate the true potential: exact from degree 2 for a linear error on a Gaussian,
//! but slow (algebraic) on a two-mode mixture with a rotation error, where degree 10 is 2%
//! and degree 20 0.4% below the finite-volume reference (`poisson`).
//!
//! # Basis and orthogonalisation
//!
//! The potentials are products of orthonormal (probabilists') Hermite polynomials
//! h_k = He_k / sqrt(k!) in whitened coordinates u = W (x - mu), with mu and W^2 = Sigma^{-1}
//! the mean and inverse covariance of the whole marginal. Per degree they span exactly the
//! monomials of that total degree in centred, scaled coordinates (constant excluded); they
//! are better conditioned to start with (orthonormal gradients when p is Gaussian and
//! isotropic after whitening). They are taken in order of total degree, then
//! lexicographically by exponent (largest first exponent first).
//!
//! The gradient vectors, sampled at the integration points and scaled by sqrt(weight), are
//! orthonormalised by modified Gram-Schmidt run twice per vector ("twice is enough"), in the
//! integration inner product. Each vector carries its Laplacian samples along as extra
//! coordinates outside the inner product, so every orthonormal direction q_i keeps its own
//! Stein functional r_i = E[q_i . s_theta + Laplacian of its potential]. A vector whose
//! part orthogonal to the earlier ones is below [`DROP`] times its own norm is numerically
//! dependent and dropped. Then G = I, ||Pi_D e||^2 = sum r_i^2 over the directions of degree
//! <= D, and the estimates are partial sums of squares: non-decreasing in D exactly, not
//! only within rounding. This never forms G, so its condition number is not squared as a
//! Cholesky of G would square it; degree 10 in 2-D keeps every direction.
//!
//! # Integration
//!
//! [`Integration::Quadrature`]: per component a tensor Gauss-Hermite rule ([`gauss_hermite`],
//! Golub-Welsch then Newton on the orthonormal recurrence, Christoffel weights) mapped
//! through the component's covariance factor U diag(sqrt(alpha^2 lambda + sigma^2)), weighted
//! by pi_k; [`nodes_per_dimension`] says how many nodes. Exact for Gaussian p and polynomial
//! e up to the rule's degree; for a mixture s_theta is not polynomial, hence the margin.
//! [`Integration::MonteCarlo`]: stratified sampling, round(N pi_k) (at least 2) standard
//! normal draws of [`prior_samples`] per component mapped through its factor, each with
//! weight pi_k / N_k. Its standard error is the delta method's: the influence of one sample
//! on r^T G^{-1} r is 2 (Pi_D e . s_theta + Laplacian phi_D) - |Pi_D e|^2, and its variance
//! is summed over the strata. With m potentials and N samples the Galerkin estimate also
//! carries an O(m / N) upward bias (G is fitted to the samples), which the standard error
//! does not include.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::analysis::distill::prior_samples;
use crate::analysis::mixture::{Covariance, Mixture};

/// How expectations under p are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integration {
    /// Tensor Gauss-Hermite per component ([`nodes_per_dimension`] nodes per axis).
    Quadrature,
    /// Stratified Monte Carlo with `samples` draws in all from `seed`.
    MonteCarlo { samples: usize, seed: u64 },
}

/// The estimate of ||Pi_D e||^2 at one degree D.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub degree: usize,
    /// Potentials of degree 1..=D, and how many independent directions they gave.
    pub basis_size: usize,
    pub rank: usize,
    pub norm2_gradient: f64,
    /// Monte Carlo only: the delta method's standard error of `norm2_gradient`.
    pub standard_error: Option<f64>,
}

/// The estimates at every degree 1..=max_degree, and ||e||^2 by the same integration.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// E_p |e|^2, from e directly.
    pub norm2_error: f64,
    pub estimates: Vec<Estimate>,
    /// As used: for Monte Carlo, `samples` is the total after stratification.
    pub method: Integration,
    /// Potentials at the largest degree.
    pub basis_size: usize,
    /// Integration points (nodes or samples).
    pub points: usize,
}

/// Why an estimate was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EstimateError {
    #[error("the degree must be at least 1")]
    ZeroDegree,
    #[error("degree {degree} is above the largest supported, {max}")]
    DegreeTooLarge { degree: usize, max: usize },
    #[error(
        "degree {degree} in {dimension} dimensions needs {basis} potentials on {points} integration points, beyond the work bound ({limit}); lower the degree or the points"
    )]
    TooMuchWork {
        degree: usize,
        dimension: usize,
        basis: f64,
        points: f64,
        limit: &'static str,
    },
    #[error("{what} has {found} components at x = {point:?}, expected {expected}")]
    Dimension {
        what: &'static str,
        expected: usize,
        found: usize,
        point: Vec<f64>,
    },
    #[error("{what} is not finite at x = {point:?}")]
    NonFinite { what: &'static str, point: Vec<f64> },
    #[error("an estimate is {value}: the error's second moments leave the range of f64")]
    Overflow { value: f64 },
    #[error(
        "the marginal at alpha = {alpha}, sigma = {sigma} has a component variance {variance}; it must be positive and finite"
    )]
    Marginal {
        alpha: f64,
        sigma: f64,
        variance: f64,
    },
    #[error(
        "{samples} Monte Carlo samples are too few for {components} components (at least 2 each)"
    )]
    TooFewSamples { samples: usize, components: usize },
    #[error(
        "E_p |e|^2 does not settle as the quadrature is refined ({coarse:e} with {nodes} nodes per axis, {fine:e} with {finer}): the error is not square-integrable under p, or too rough to integrate"
    )]
    NotSquareIntegrable {
        coarse: f64,
        fine: f64,
        nodes: usize,
        finer: usize,
    },
}

/// The largest degree accepted (the Hermite values stay far inside f64 at the nodes).
pub const MAX_DEGREE: usize = 40;

/// The most potentials accepted (d = 2, degree 10 has 65; d = 3, degree 10 has 285).
pub const MAX_BASIS: usize = 500;

/// The most stored values (points x (d + 1) x potentials): 128 MB of f64.
pub const MAX_ENTRIES: f64 = (1u64 << 24) as f64;

/// The most Gram-Schmidt work (potentials^2 x points x (d + 1)), about 4 flops each: a few
/// seconds on one core at the bound.
pub const MAX_WORK: f64 = 2e9;

/// A direction whose part orthogonal to the earlier ones is below this fraction of its
/// norm is taken as dependent and dropped. The Stein functional of a kept direction loses
/// about eps / DROP of ||e|| to cancellation, 2e-7 at worst, which enters the estimate
/// squared.
pub const DROP: f64 = 1e-9;

/// The Monte Carlo samples of [`default_integration`] and its seed. 20,000 samples give
/// a relative standard error of about 1% on a Gaussian, and keep d = 10 at degree 2 (65
/// potentials) within [`MAX_ENTRIES`].
pub const DEFAULT_SAMPLES: usize = 20_000;
pub const DEFAULT_SEED: u64 = 0x4d0d_9e00;

/// Quadrature in d <= 3 (where tensor rules stay small), Monte Carlo with
/// [`DEFAULT_SAMPLES`] samples from [`DEFAULT_SEED`] beyond.
pub fn default_integration(d: usize) -> Integration {
    if d <= 3 {
        Integration::Quadrature
    } else {
        Integration::MonteCarlo {
            samples: DEFAULT_SAMPLES,
            seed: DEFAULT_SEED,
        }
    }
}

/// Gauss-Hermite nodes per axis for degree D in d dimensions. G's integrands are
/// polynomials of degree up to 2D - 2 (exact from D nodes per component), but the Stein
/// integrand has s_theta, whose mixture part has complex poles where p vanishes, about a
/// component width off the real axis. A per-component rule does not see the cancellation
/// p s = grad p that makes the whole integrand entire, so it converges only like
/// exp(-c sqrt(n)): 50 nodes left a 5e-6 relative bias in the 1-D test, 400 leave none
/// visible. Hence max(8D + 2, 400) in 1-D (cheap), max(2D + 2, 64) in 2-D (about 1e-6
/// relative on the two-mode tests), max(D + 4, 12) in 3-D and max(D + 2, 6) beyond (exact
/// for Gaussian p; coarser for mixtures).
pub fn nodes_per_dimension(d: usize, degree: usize) -> usize {
    match d {
        1 => (8 * degree + 2).max(400),
        2 => (2 * degree + 2).max(64),
        3 => (degree + 4).max(12),
        _ => (degree + 2).max(6),
    }
}

/// The n-point Gauss-Hermite rule for the standard normal weight, (node, weight) in
/// increasing order, weights summing to 1: exact for polynomials of degree up to 2n - 1.
/// Nodes are the eigenvalues of the Jacobi matrix of the orthonormal Hermite polynomials
/// (off-diagonal sqrt(k)), polished by Newton on h_n; weights are Christoffel's,
/// 1 / sum_{k<n} h_k(x)^2, accurate relative to themselves even where tiny.
pub fn gauss_hermite(n: usize) -> Vec<(f64, f64)> {
    if n == 0 {
        return Vec::new();
    }
    let mut jacobi = DMatrix::zeros(n, n);
    for k in 1..n {
        let b = (k as f64).sqrt();
        jacobi[(k - 1, k)] = b;
        jacobi[(k, k - 1)] = b;
    }
    let mut nodes: Vec<f64> = SymmetricEigen::new(jacobi)
        .eigenvalues
        .iter()
        .copied()
        .collect();
    nodes.sort_by(f64::total_cmp);
    let mut h = vec![0.0; n + 1];
    for x in &mut nodes {
        for _ in 0..4 {
            hermite(*x, &mut h);
            let dx = h[n] / ((n as f64).sqrt() * h[n - 1]);
            *x -= dx;
            if dx.abs() <= 1e-16 * (1.0 + x.abs()) {
                break;
            }
        }
    }
    // The rule is symmetric: make it so exactly.
    for i in 0..n / 2 {
        let x = 0.5 * (nodes[n - 1 - i] - nodes[i]);
        nodes[i] = -x;
        nodes[n - 1 - i] = x;
    }
    if n % 2 == 1 {
        nodes[n / 2] = 0.0;
    }
    let mut rule: Vec<(f64, f64)> = nodes
        .iter()
        .map(|&x| {
            hermite(x, &mut h);
            (x, 1.0 / h[..n].iter().map(|v| v * v).sum::<f64>())
        })
        .collect();
    let total: f64 = rule.iter().map(|r| r.1).sum();
    for r in &mut rule {
        r.1 /= total;
    }
    rule
}

/// h_0(x), ..., h_{len-1}(x): the orthonormal Hermite polynomials He_k / sqrt(k!), by
/// h_{k+1} = (x h_k - sqrt(k) h_{k-1}) / sqrt(k + 1).
fn hermite(x: f64, out: &mut [f64]) {
    if out.is_empty() {
        return;
    }
    out[0] = 1.0;
    if out.len() > 1 {
        out[1] = x;
    }
    for k in 1..out.len().saturating_sub(1) {
        out[k + 1] = (x * out[k] - (k as f64).sqrt() * out[k - 1]) / ((k + 1) as f64).sqrt();
    }
}

/// One component of the marginal: weight, mean alpha m_k and a factor L with L L^T =
/// alpha^2 S_k + sigma^2 I.
pub(crate) struct Factor {
    pub weight: f64,
    pub mean: DVector<f64>,
    pub factor: DMatrix<f64>,
}

/// The components of the marginal at (alpha, sigma), refused when a variance is not
/// positive and finite.
pub(crate) fn factors(
    mixture: &Mixture,
    alpha: f64,
    sigma: f64,
) -> Result<Vec<Factor>, EstimateError> {
    let d = mixture.dimension;
    let check = |variance: f64| {
        if variance.is_finite() && variance > 0.0 {
            Ok(variance)
        } else {
            Err(EstimateError::Marginal {
                alpha,
                sigma,
                variance,
            })
        }
    };
    mixture
        .components
        .iter()
        .zip(&mixture.weights)
        .map(|(c, &weight)| {
            let factor = match &c.cov {
                Covariance::Isotropic(v) => {
                    DMatrix::identity(d, d) * check(alpha * alpha * v + sigma * sigma)?.sqrt()
                }
                Covariance::Eigen { values, basis } => {
                    let mut f = basis.clone();
                    for (j, l) in values.iter().enumerate() {
                        let s = check(alpha * alpha * l + sigma * sigma)?.sqrt();
                        f.column_mut(j).scale_mut(s);
                    }
                    f
                }
            };
            let mean = &c.mean * alpha;
            if mean.iter().any(|v| !v.is_finite()) {
                return Err(EstimateError::Marginal {
                    alpha,
                    sigma,
                    variance: f64::NAN,
                });
            }
            Ok(Factor {
                weight,
                mean,
                factor,
            })
        })
        .collect()
}

/// Exponents of the potentials of total degree 1..=max_degree in d variables, by degree,
/// then lexicographically with the largest first exponent first.
fn exponents(d: usize, max_degree: usize) -> Vec<Vec<usize>> {
    fn fill(d: usize, left: usize, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if prefix.len() + 1 == d {
            prefix.push(left);
            out.push(prefix.clone());
            prefix.pop();
            return;
        }
        for k in (0..=left).rev() {
            prefix.push(k);
            fill(d, left - k, prefix, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    for degree in 1..=max_degree {
        fill(d, degree, &mut Vec::with_capacity(d), &mut out);
    }
    out
}

/// C(D + d, d) - 1, the number of potentials, in f64 (no overflow for any d).
fn basis_count(d: usize, degree: usize) -> f64 {
    let mut c = 1.0;
    for k in 1..=d.min(degree) {
        c = c * (d.max(degree) + k) as f64 / k as f64;
    }
    c - 1.0
}

/// Integration points, their weights and their strata (component indices).
struct Points {
    x: Vec<Vec<f64>>,
    w: Vec<f64>,
    stratum: Vec<usize>,
}

/// The planned number of points, before any is made.
fn point_count(factors: &[Factor], d: usize, degree: usize, integration: Integration) -> f64 {
    match integration {
        Integration::Quadrature => {
            factors.len() as f64 * (nodes_per_dimension(d, degree) as f64).powi(d as i32)
        }
        Integration::MonteCarlo { samples, .. } => {
            strata(factors, samples).iter().sum::<usize>() as f64
        }
    }
}

/// Samples per component: round(N pi_k), at least 2.
fn strata(factors: &[Factor], samples: usize) -> Vec<usize> {
    factors
        .iter()
        .map(|f| ((samples as f64 * f.weight).round() as usize).max(2))
        .collect()
}

fn points(factors: &[Factor], d: usize, degree: usize, integration: Integration) -> Points {
    let mut out = Points {
        x: Vec::new(),
        w: Vec::new(),
        stratum: Vec::new(),
    };
    let mut push = |k: usize, f: &Factor, z: &[f64], w: f64| {
        if w > 0.0 {
            let x = &f.mean + &f.factor * DVector::from_column_slice(z);
            out.x.push(x.iter().copied().collect());
            out.w.push(w);
            out.stratum.push(k);
        }
    };
    match integration {
        Integration::Quadrature => {
            let rule = gauss_hermite(nodes_per_dimension(d, degree));
            let n = rule.len();
            let total = n.pow(d as u32);
            let mut z = vec![0.0; d];
            for (k, f) in factors.iter().enumerate() {
                for index in 0..total {
                    let (mut rest, mut w) = (index, f.weight);
                    for za in z.iter_mut() {
                        let (x, wa) = rule[rest % n];
                        *za = x;
                        w *= wa;
                        rest /= n;
                    }
                    push(k, f, &z, w);
                }
            }
        }
        Integration::MonteCarlo { samples, seed } => {
            let counts = strata(factors, samples);
            let draws = prior_samples(d, counts.iter().sum(), seed);
            let mut next = draws.iter();
            for (k, (f, &count)) in factors.iter().zip(&counts).enumerate() {
                for z in next.by_ref().take(count) {
                    push(k, f, z, f.weight / count as f64);
                }
            }
        }
    }
    out
}

/// Relative agreement of E_p |e|^2 on two Gauss-Hermite rules that [`square_integrable`]
/// asks for. Both rules integrate a smooth e of polynomial growth to near rounding; a pole
/// or a growth like exp(|x|^2) makes the finer rule's nodes, which reach closer to the
/// pole and further into the tails, give a visibly different value.
const SETTLED: f64 = 1e-6;

/// Refuses an error whose E_p |e|^2 the quadrature cannot certify: compared on the rule
/// [`project`] uses and on one with about twice the nodes per axis (a finite value at
/// every node is no proof: `1/x` is finite at every Gauss-Hermite node).
fn square_integrable(
    factors: &[Factor],
    d: usize,
    degree: usize,
    error: &dyn Fn(&[f64]) -> Vec<f64>,
) -> Result<(), EstimateError> {
    let nodes = nodes_per_dimension(d, degree);
    // gauss_hermite is accurate to 700 nodes (beyond, its weights underflow to NaN).
    let finer = (2 * nodes + 1).min(600);
    let norm2 = |n: usize| -> Result<f64, EstimateError> {
        let rule = gauss_hermite(n);
        let total = n.pow(d as u32);
        let mut z = vec![0.0; d];
        let mut sum = 0.0;
        for f in factors {
            for index in 0..total {
                let (mut rest, mut w) = (index, f.weight);
                for za in z.iter_mut() {
                    let (x, wa) = rule[rest % n];
                    *za = x;
                    w *= wa;
                    rest /= n;
                }
                if w == 0.0 {
                    continue;
                }
                let x: Vec<f64> = (&f.mean + &f.factor * DVector::from_column_slice(&z))
                    .iter()
                    .copied()
                    .collect();
                let e = error(&x);
                let e2: f64 = e.iter().map(|v| v * v).sum();
                if !e2.is_finite() {
                    return Err(EstimateError::NonFinite {
                        what: if e.iter().all(|v| v.is_finite()) {
                            "|e|^2 (the error field is finite, its square is not)"
                        } else {
                            "the error field"
                        },
                        point: x,
                    });
                }
                sum += w * e2;
            }
        }
        Ok(sum)
    };
    let (coarse, fine) = (norm2(nodes)?, norm2(finer)?);
    if (coarse - fine).abs() <= SETTLED * fine.abs().max(f64::MIN_POSITIVE) {
        Ok(())
    } else {
        Err(EstimateError::NotSquareIntegrable {
            coarse,
            fine,
            nodes,
            finer,
        })
    }
}

/// The mean and inverse square root of the covariance of the whole marginal.
fn whitening(factors: &[Factor], d: usize) -> (DVector<f64>, DMatrix<f64>) {
    let mut mean = DVector::zeros(d);
    for f in factors {
        mean += &f.mean * f.weight;
    }
    let mut cov = DMatrix::zeros(d, d);
    for f in factors {
        let dev = &f.mean - &mean;
        cov += (&f.factor * f.factor.transpose() + &dev * dev.transpose()) * f.weight;
    }
    let cov = (&cov + cov.transpose()) * 0.5;
    let eig = SymmetricEigen::new(cov);
    let inv_sqrt = eig
        .eigenvalues
        .map(|v| 1.0 / v.max(f64::MIN_POSITIVE).sqrt());
    let w = &eig.eigenvectors * DMatrix::from_diagonal(&inv_sqrt) * eig.eigenvectors.transpose();
    (mean, (&w + w.transpose()) * 0.5)
}

/// Estimates of ||Pi_D e||^2 for D = 1..=max_degree on the marginal of `mixture` at
/// (alpha, sigma). `error` is e(x) (length d in and out); the Stein right-hand side sees only
/// s_theta = score + e, formed here; `norm2_error` = E_p |e|^2 is integrated from e.
pub fn project(
    mixture: &Mixture,
    alpha: f64,
    sigma: f64,
    error: &dyn Fn(&[f64]) -> Vec<f64>,
    max_degree: usize,
    integration: Integration,
) -> Result<Projection, EstimateError> {
    let d = mixture.dimension;
    if max_degree == 0 {
        return Err(EstimateError::ZeroDegree);
    }
    if max_degree > MAX_DEGREE {
        return Err(EstimateError::DegreeTooLarge {
            degree: max_degree,
            max: MAX_DEGREE,
        });
    }
    let factors = factors(mixture, alpha, sigma)?;
    if let Integration::MonteCarlo { samples, .. } = integration
        && samples < 2 * factors.len()
    {
        return Err(EstimateError::TooFewSamples {
            samples,
            components: factors.len(),
        });
    }
    let basis = basis_count(d, max_degree);
    let planned = point_count(&factors, d, max_degree, integration);
    let length = planned * (d + 1) as f64;
    let limit = if basis > MAX_BASIS as f64 {
        Some("at most 500 potentials")
    } else if length * basis > MAX_ENTRIES {
        Some("at most 2^24 stored values")
    } else if length * basis * basis > MAX_WORK {
        Some("at most 2e9 orthogonalisation steps")
    } else {
        None
    };
    if let Some(limit) = limit {
        return Err(EstimateError::TooMuchWork {
            degree: max_degree,
            dimension: d,
            basis,
            points: planned,
            limit,
        });
    }
    if integration == Integration::Quadrature {
        square_integrable(&factors, d, max_degree, error)?;
    }
    let pts = points(&factors, d, max_degree, integration);
    let n = pts.x.len();
    let method = match integration {
        Integration::Quadrature => Integration::Quadrature,
        Integration::MonteCarlo { seed, .. } => Integration::MonteCarlo { samples: n, seed },
    };

    // s_theta and E_p |e|^2 at the points.
    let marginal = mixture.marginal(alpha, sigma);
    let mut s_theta = vec![0.0; n * d];
    let mut norm2_error = 0.0;
    for (i, (x, &w)) in pts.x.iter().zip(&pts.w).enumerate() {
        let e = error(x);
        if e.len() != d {
            return Err(EstimateError::Dimension {
                what: "the error field",
                expected: d,
                found: e.len(),
                point: x.clone(),
            });
        }
        if e.iter().any(|v| !v.is_finite()) {
            return Err(EstimateError::NonFinite {
                what: "the error field",
                point: x.clone(),
            });
        }
        let score = marginal.score(x);
        for a in 0..d {
            s_theta[i * d + a] = score[a] + e[a];
        }
        if s_theta[i * d..(i + 1) * d].iter().any(|v| !v.is_finite()) {
            return Err(EstimateError::NonFinite {
                what: "the learned score",
                point: x.clone(),
            });
        }
        let e2 = e.iter().map(|v| v * v).sum::<f64>();
        if !e2.is_finite() {
            return Err(EstimateError::NonFinite {
                what: "|e|^2 (the error field is finite, its square is not)",
                point: x.clone(),
            });
        }
        norm2_error += w * e2;
    }

    // The gradient and Laplacian samples of each potential, scaled by sqrt(w): n d
    // gradient entries (point-major), then n Laplacian entries.
    let exps = exponents(d, max_degree);
    let m = exps.len();
    let (centre, white) = whitening(&factors, d);
    let precision = &white * &white;
    let mut columns = vec![vec![0.0; n * (d + 1)]; m];
    let mut h = vec![vec![0.0; max_degree + 1]; d];
    let mut grad_u = vec![0.0; d];
    let mut hess_u = vec![0.0; d * d];
    for (i, x) in pts.x.iter().enumerate() {
        let u = &white * (DVector::from_column_slice(x) - &centre);
        for a in 0..d {
            hermite(u[a], &mut h[a]);
        }
        let root = pts.w[i].sqrt();
        for (col, alpha_j) in columns.iter_mut().zip(&exps) {
            // d/du_a h_k = sqrt(k) h_{k-1}; d2/du_a^2 h_k = sqrt(k (k - 1)) h_{k-2}.
            let factor = |a: usize, order: usize| -> f64 {
                let k = alpha_j[a];
                match order {
                    0 => h[a][k],
                    1 if k >= 1 => (k as f64).sqrt() * h[a][k - 1],
                    2 if k >= 2 => ((k * (k - 1)) as f64).sqrt() * h[a][k - 2],
                    _ => 0.0,
                }
            };
            for a in 0..d {
                for b in a..d {
                    let mut v = 1.0;
                    for c in 0..d {
                        let order = usize::from(c == a) + usize::from(c == b);
                        v *= factor(c, order);
                    }
                    hess_u[a * d + b] = v;
                    hess_u[b * d + a] = v;
                }
                let mut g = 1.0;
                for c in 0..d {
                    g *= factor(c, usize::from(c == a));
                }
                grad_u[a] = g;
            }
            let mut lap = 0.0;
            for a in 0..d {
                let mut g = 0.0;
                for b in 0..d {
                    g += white[(a, b)] * grad_u[b];
                    lap += precision[(a, b)] * hess_u[a * d + b];
                }
                col[i * d + a] = root * g;
            }
            col[n * d + i] = root * lap;
        }
    }

    // Modified Gram-Schmidt, twice per vector, in the first n d coordinates.
    let inner = n * d;
    let dot = |p: &[f64], q: &[f64]| -> f64 {
        p[..inner].iter().zip(&q[..inner]).map(|(a, b)| a * b).sum()
    };
    let mut kept: Vec<(usize, Vec<f64>)> = Vec::new();
    for (j, mut v) in columns.into_iter().enumerate() {
        let own = dot(&v, &v).sqrt();
        if !own.is_finite() {
            return Err(EstimateError::NonFinite {
                what: "a basis potential's gradient",
                point: pts.x[0].clone(),
            });
        }
        for _ in 0..2 {
            for (_, q) in &kept {
                let c = dot(q, &v);
                v.iter_mut().zip(q).for_each(|(a, b)| *a -= c * b);
            }
        }
        let norm = dot(&v, &v).sqrt();
        if norm > DROP * own {
            v.iter_mut().for_each(|a| *a /= norm);
            let degree: usize = exps[j].iter().sum();
            kept.push((degree, v));
        }
    }

    // The Stein functional of each direction, the estimates as partial sums of squares,
    // and for Monte Carlo the influence of each sample on them.
    let monte_carlo = matches!(integration, Integration::MonteCarlo { .. });
    let mut field = vec![0.0; if monte_carlo { n * d } else { 0 }];
    let mut laplacian = vec![0.0; if monte_carlo { n } else { 0 }];
    let mut estimates = Vec::with_capacity(max_degree);
    let mut sum = 0.0;
    let mut next = kept.iter().peekable();
    let mut rank = 0;
    let mut basis_size = 0;
    for degree in 1..=max_degree {
        while let Some((_, q)) = next.next_if(|(deg, _)| *deg <= degree) {
            let mut r = 0.0;
            for i in 0..n {
                let root = pts.w[i].sqrt();
                let mut t = q[n * d + i];
                for a in 0..d {
                    t += q[i * d + a] * s_theta[i * d + a];
                }
                r += root * t;
            }
            sum += r * r;
            rank += 1;
            if monte_carlo {
                for i in 0..n {
                    let scale = r / pts.w[i].sqrt();
                    for a in 0..d {
                        field[i * d + a] += scale * q[i * d + a];
                    }
                    laplacian[i] += scale * q[n * d + i];
                }
            }
        }
        basis_size += exps
            .iter()
            .filter(|e| e.iter().sum::<usize>() == degree)
            .count();
        let standard_error = monte_carlo.then(|| {
            let influence = |i: usize| {
                let g = &field[i * d..(i + 1) * d];
                let s = &s_theta[i * d..(i + 1) * d];
                let gs: f64 = g.iter().zip(s).map(|(a, b)| a * b).sum();
                let gg: f64 = g.iter().map(|a| a * a).sum();
                2.0 * (gs + laplacian[i]) - gg
            };
            stratified_variance(&pts, &factors, influence).sqrt()
        });
        estimates.push(Estimate {
            degree,
            basis_size,
            rank,
            norm2_gradient: sum,
            standard_error,
        });
    }
    // Finite inputs can still sum beyond f64 (or a variance can): refused, never printed.
    let results = estimates
        .iter()
        .flat_map(|e| [Some(e.norm2_gradient), e.standard_error])
        .flatten()
        .chain([norm2_error]);
    for v in results {
        if !v.is_finite() {
            return Err(EstimateError::Overflow { value: v });
        }
    }
    Ok(Projection {
        norm2_error,
        estimates,
        method,
        basis_size: m,
        points: n,
    })
}

/// The variance of the stratified mean of `f`: sum_k pi_k^2 s_k^2 / N_k, with s_k^2 the
/// sample variance within stratum k.
fn stratified_variance(pts: &Points, factors: &[Factor], f: impl Fn(usize) -> f64) -> f64 {
    let k = factors.len();
    let (mut count, mut mean, mut m2) = (vec![0usize; k], vec![0.0; k], vec![0.0; k]);
    for i in 0..pts.x.len() {
        let (s, v) = (pts.stratum[i], f(i));
        // Welford's update.
        count[s] += 1;
        let delta = v - mean[s];
        mean[s] += delta / count[s] as f64;
        m2[s] += delta * (v - mean[s]);
    }
    (0..k)
        .filter(|&s| count[s] > 1)
        .map(|s| {
            let c = count[s] as f64;
            factors[s].weight.powi(2) * m2[s] / (c - 1.0) / c
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use nalgebra::{Matrix2, Matrix3, Vector2, Vector3};

    use super::*;
    use crate::analysis::mixture::Covariances;

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn gauss_hermite_matches_closed_forms_and_normal_moments() {
        let two = gauss_hermite(2);
        assert!(
            close(two[1].0, 1.0, 1e-15) && close(two[0].0, -1.0, 1e-15),
            "{two:?}"
        );
        assert!(two.iter().all(|r| close(r.1, 0.5, 1e-15)), "{two:?}");
        let three = gauss_hermite(3);
        let r3 = 3f64.sqrt();
        assert!(
            close(three[2].0, r3, 1e-15) && three[1].0 == 0.0,
            "{three:?}"
        );
        let weights = [1.0 / 6.0, 2.0 / 3.0, 1.0 / 6.0];
        for (r, w) in three.iter().zip(weights) {
            assert!(close(r.1, w, 1e-14), "{three:?}");
        }
        // E x^(2k) = (2k - 1)!! for N(0, 1), odd moments 0, up to degree 2n - 1.
        for n in [5, 20, 40, 82] {
            let rule = gauss_hermite(n);
            let mut double_factorial = 1.0;
            for k in 0..n {
                let even: f64 = rule.iter().map(|(x, w)| w * x.powi(2 * k as i32)).sum();
                assert!(close(even, double_factorial, 1e-12), "{n} {k}: {even}");
                let odd: f64 = rule.iter().map(|(x, w)| w * x.powi(2 * k as i32 + 1)).sum();
                assert!(
                    odd.abs() <= 1e-12 * double_factorial * (2 * k + 1) as f64,
                    "{n} {k}: {odd}"
                );
                double_factorial *= (2 * k + 1) as f64;
            }
        }
    }

    /// ||Pi e||^2 for N(m, Sigma) and e = E (x - m) + b, with S from the Lyapunov equation
    /// S Sigma + Sigma S = E Sigma + Sigma E^T solved as a 3 x 3 system in (S11, S12, S22).
    fn lyapunov_norm(sigma: &Matrix2<f64>, e: &Matrix2<f64>, b: &Vector2<f64>) -> f64 {
        let r = e * sigma + sigma * e.transpose();
        let (a, c, d) = (sigma[(0, 0)], sigma[(0, 1)], sigma[(1, 1)]);
        let system = Matrix3::new(2.0 * a, 2.0 * c, 0.0, c, a + d, c, 0.0, 2.0 * c, 2.0 * d);
        let s = system
            .lu()
            .solve(&Vector3::new(r[(0, 0)], r[(0, 1)], r[(1, 1)]))
            .expect("regular");
        let s = Matrix2::new(s[0], s[1], s[1], s[2]);
        (s * sigma * s).trace() + b.norm_squared()
    }

    fn gaussian() -> Mixture {
        Mixture::new(
            "G",
            vec![1.0],
            vec![vec![0.5, -1.0]],
            Covariances::Full(vec![vec![vec![2.0, 0.6], vec![0.6, 0.5]]]),
        )
        .expect("valid")
    }

    /// The linear error of the Gaussian case at (alpha, sigma): the field, and its exact
    /// ||e||^2 and ||Pi e||^2.
    fn linear_case(alpha: f64, sigma: f64) -> (impl Fn(&[f64]) -> Vec<f64>, f64, f64) {
        let cov = Matrix2::new(2.0, 0.6, 0.6, 0.5) * (alpha * alpha)
            + Matrix2::identity() * (sigma * sigma);
        let mean = Vector2::new(0.5, -1.0) * alpha;
        let e = Matrix2::new(0.3, -1.1, 0.7, 0.4);
        let b = Vector2::new(0.2, -0.5);
        let field = move |x: &[f64]| {
            let v = e * (Vector2::new(x[0], x[1]) - mean) + b;
            vec![v[0], v[1]]
        };
        let total = (e * cov * e.transpose()).trace() + b.norm_squared();
        (field, total, lyapunov_norm(&cov, &e, &b))
    }

    #[test]
    fn linear_errors_on_a_gaussian_are_exact_from_degree_two() {
        let m = gaussian();
        for (alpha, sigma) in [(1.0, 0.0), (0.8, 0.6)] {
            let (field, total, want) = linear_case(alpha, sigma);
            let p = project(&m, alpha, sigma, &field, 10, Integration::Quadrature).expect("runs");
            assert!(
                close(p.norm2_error, total, 1e-12),
                "{} {total}",
                p.norm2_error
            );
            assert!(
                want < total * 0.99,
                "the case has a solenoidal part: {want} {total}"
            );
            for est in &p.estimates[1..] {
                assert!(close(est.norm2_gradient, want, 1e-10), "{est:?} {want}");
            }
            assert!(p.estimates[0].norm2_gradient < want);
        }
    }

    #[test]
    fn a_rotation_about_an_isotropic_gaussian_has_no_gradient_part() {
        let m = Mixture::new(
            "G",
            vec![1.0],
            vec![vec![0.3, -0.2]],
            Covariances::Shared(1.0),
        )
        .expect("valid");
        let rotation = |x: &[f64]| vec![-(x[1] + 0.2), x[0] - 0.3];
        let p = project(&m, 1.0, 0.0, &rotation, 10, Integration::Quadrature).expect("runs");
        assert!(close(p.norm2_error, 2.0, 1e-12), "{}", p.norm2_error);
        let last = p.estimates.last().expect("ten");
        assert!(last.norm2_gradient < 1e-24, "{last:?}");
        assert_eq!(last.rank, 65);
    }

    /// E_p f for a 1-D marginal by the trapezoid rule on [-lim, lim] (a smooth integrand that
    /// vanishes at the ends: exponentially accurate).
    fn trapezoid(m: &Mixture, alpha: f64, sigma: f64, f: impl Fn(f64) -> f64) -> f64 {
        let p = m.marginal(alpha, sigma);
        let (lim, n) = (16.0, 32_000);
        let h = 2.0 * lim / n as f64;
        (0..=n)
            .map(|i| {
                let x = -lim + i as f64 * h;
                p.log_density(&[x]).exp() * f(x)
            })
            .sum::<f64>()
            * h
    }

    fn two_modes_1d() -> Mixture {
        Mixture::new(
            "M",
            vec![0.4, 0.6],
            vec![vec![-1.2], vec![1.0]],
            Covariances::Full(vec![vec![vec![0.3]], vec![vec![0.5]]]),
        )
        .expect("valid")
    }

    #[test]
    fn in_one_dimension_every_error_is_a_gradient() {
        let m = two_modes_1d();
        let (alpha, sigma) = (0.9, 0.4);
        let sine = |x: &[f64]| vec![x[0].sin()];
        let want = trapezoid(&m, alpha, sigma, |x| x.sin().powi(2));
        let p = project(&m, alpha, sigma, &sine, 24, Integration::Quadrature).expect("runs");
        assert!(
            close(p.norm2_error, want, 1e-12),
            "{} {want}",
            p.norm2_error
        );
        let values: Vec<f64> = p.estimates.iter().map(|e| e.norm2_gradient).collect();
        for w in values.windows(2) {
            assert!(w[1] >= w[0], "{values:?}");
        }
        let gaps: Vec<f64> = values.iter().map(|v| (want - v) / want).collect();
        assert!(gaps[3] > 1e-3 && gaps[23] < 1e-9, "{gaps:?}");
        assert!(gaps.iter().all(|g| *g > -1e-12), "{gaps:?}");
        // A cubic error is the gradient of a quartic potential: exact from degree 4.
        let cubic = |x: &[f64]| vec![x[0].powi(3) - x[0]];
        let want = trapezoid(&m, alpha, sigma, |x| (x.powi(3) - x).powi(2));
        let p = project(&m, alpha, sigma, &cubic, 8, Integration::Quadrature).expect("runs");
        assert!(p.estimates[2].norm2_gradient < want * 0.999);
        for est in &p.estimates[3..] {
            assert!(close(est.norm2_gradient, want, 1e-11), "{est:?} {want}");
        }
    }

    #[test]
    fn monte_carlo_is_within_its_standard_error() {
        let m = gaussian();
        let (field, _, want) = linear_case(1.0, 0.0);
        let mc = Integration::MonteCarlo {
            samples: 20_000,
            seed: 11,
        };
        let p = project(&m, 1.0, 0.0, &field, 3, mc).expect("runs");
        assert_eq!(p.method, mc);
        for est in &p.estimates[1..] {
            let se = est.standard_error.expect("Monte Carlo");
            assert!(se > 1e-3 * want && se < 0.05 * want, "{est:?} {want}");
            assert!(
                (est.norm2_gradient - want).abs() < 5.0 * se,
                "{est:?} {want}"
            );
        }
        let q = project(&m, 1.0, 0.0, &field, 3, Integration::Quadrature).expect("runs");
        assert!(q.estimates.iter().all(|e| e.standard_error.is_none()));
    }

    #[test]
    fn estimates_do_not_decrease_with_the_degree() {
        let m = Mixture::new(
            "M",
            vec![0.3, 0.7],
            vec![vec![-1.5, 0.0], vec![1.5, 0.5]],
            Covariances::Shared(0.5),
        )
        .expect("valid");
        let field = |x: &[f64]| vec![(x[0] * x[1]).sin(), x[0].cos() - 0.2 * x[1].powi(2)];
        for integration in [
            Integration::Quadrature,
            Integration::MonteCarlo {
                samples: 4000,
                seed: 3,
            },
        ] {
            let p = project(&m, 1.0, 0.0, &field, 10, integration).expect("runs");
            let values: Vec<f64> = p.estimates.iter().map(|e| e.norm2_gradient).collect();
            assert!(values.windows(2).all(|w| w[1] >= w[0]), "{values:?}");
            assert!(values[9] <= p.norm2_error, "{values:?} {}", p.norm2_error);
            assert_eq!(p.basis_size, 65);
        }
    }

    #[test]
    fn refusals_say_why() {
        let m = gaussian();
        let zero = |_: &[f64]| vec![0.0, 0.0];
        let run = |field: &dyn Fn(&[f64]) -> Vec<f64>, degree: usize| {
            project(&m, 1.0, 0.0, field, degree, Integration::Quadrature).unwrap_err()
        };
        assert_eq!(run(&zero, 0), EstimateError::ZeroDegree);
        assert_eq!(
            run(&zero, 41),
            EstimateError::DegreeTooLarge {
                degree: 41,
                max: MAX_DEGREE
            }
        );
        assert!(matches!(run(&zero, 40), EstimateError::TooMuchWork { .. }));
        let broken = |x: &[f64]| vec![if x[0] > 3.0 { f64::NAN } else { 0.0 }, 0.0];
        match run(&broken, 2) {
            EstimateError::NonFinite { what, point } => {
                assert_eq!(what, "the error field");
                assert!(point[0] > 3.0, "{point:?}");
            }
            other => panic!("{other}"),
        }
        let short = |_: &[f64]| vec![0.0];
        assert!(matches!(
            run(&short, 2),
            EstimateError::Dimension {
                expected: 2,
                found: 1,
                ..
            }
        ));
        assert!(matches!(
            project(&m, 0.0, 0.0, &zero, 2, Integration::Quadrature),
            Err(EstimateError::Marginal { .. })
        ));
        let big = Mixture::new(
            "G",
            vec![1.0],
            vec![vec![0.0; 10]],
            Covariances::Shared(1.0),
        )
        .expect("valid");
        let zeros = |_: &[f64]| vec![0.0; 10];
        assert!(matches!(
            project(&big, 1.0, 0.0, &zeros, 4, default_integration(10)),
            Err(EstimateError::TooMuchWork { .. })
        ));
        assert!(matches!(
            project(&big, 1.0, 0.0, &zeros, 2, Integration::Quadrature),
            Err(EstimateError::TooMuchWork { .. })
        ));
    }
}
