//! Gaussian-mixture sources and their marginals under a process (docs/theory.md section 8).
//!
//! A mixture sum_k pi_k N(m_k, S_k) noised by x_t = alpha x0 + sigma eps has the marginal
//! p_t = sum_k pi_k N(alpha m_k, alpha^2 S_k + sigma^2 I). Each component covariance is kept
//! in its eigenbasis, so the marginal's component covariances are U diag(alpha^2 lambda +
//! sigma^2) U^T at every time without a new factorisation. Densities are combined through
//! log-sum-exp responsibilities, and the Hessian of log p is formed as a covariance of the
//! component scores (no cancellation between its two large terms), so evaluation stays
//! accurate in d = 64 with K = 20 components far apart.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use super::source::GaussianSource;

/// Why a mixture declaration is not a valid source. Indices are 0-based.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MixtureError {
    #[error("a mixture needs at least one component")]
    Empty,
    #[error("weight {index} is {value}; weights must be positive")]
    Weight { index: usize, value: f64 },
    #[error("{what} has {found} entries, expected {expected} (one per component)")]
    Count {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("mean {component} has {found} entries, expected {expected}")]
    MeanLength {
        component: usize,
        expected: usize,
        found: usize,
    },
    #[error("the mixture has dimension 0")]
    NoDimension,
    #[error("the variance is {0}; it must be positive")]
    Variance(f64),
    #[error("covariance {component}: {reason}")]
    Covariance { component: usize, reason: String },
    #[error(
        "{what} {value:e} is beyond the range a mixture may use (magnitudes up to 1e100, variances from 1e-100): squared distances would leave the range of f64"
    )]
    Magnitude { what: &'static str, value: f64 },
}

/// The largest mean coordinate (in magnitude) and variance a mixture may have, and the
/// smallest variance: squared distances over variances stay far inside f64.
pub const MAX_MAGNITUDE: f64 = 1e100;

/// A component's covariance: `var * I`, or a symmetric positive definite matrix in its
/// eigenbasis.
#[derive(Clone, Debug, PartialEq)]
pub enum Covariance {
    Isotropic(f64),
    Eigen {
        values: Vec<f64>,
        /// Eigenvectors as columns.
        basis: DMatrix<f64>,
    },
}

/// One component: its mean and covariance.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    pub mean: DVector<f64>,
    pub cov: Covariance,
    /// The covariance matrix as declared (`covs = [...]`), which its eigenbasis only
    /// approximates: what a reference computes with. None for `var = v` and for a Gaussian
    /// source taken as a mixture (which keeps only its eigenbasis).
    pub declared: Option<DMatrix<f64>>,
}

/// How the covariances were declared.
#[derive(Clone, Debug)]
pub enum Covariances {
    /// `var = v`: every component `v I`.
    Shared(f64),
    /// `covs = [...]`: one matrix per component, rows as given.
    Full(Vec<Vec<Vec<f64>>>),
}

/// `sum_k pi_k N(m_k, S_k)` in d dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    pub name: String,
    pub dimension: usize,
    /// Normalised to sum to 1.
    pub weights: Vec<f64>,
    pub components: Vec<Component>,
    /// The sum of the weights as declared, when it was not 1 (they were normalised).
    pub normalised_from: Option<f64>,
}

/// Weights that sum to 1 within this relative distance are taken as normalised.
const NORMALISED: f64 = 1e-12;

impl Mixture {
    pub fn new(
        name: impl Into<String>,
        weights: Vec<f64>,
        means: Vec<Vec<f64>>,
        covs: Covariances,
    ) -> Result<Mixture, MixtureError> {
        if weights.is_empty() {
            return Err(MixtureError::Empty);
        }
        let k = weights.len();
        for (index, &value) in weights.iter().enumerate() {
            if !(value.is_finite() && value > 0.0) {
                return Err(MixtureError::Weight { index, value });
            }
        }
        if means.len() != k {
            return Err(MixtureError::Count {
                what: "means",
                expected: k,
                found: means.len(),
            });
        }
        let d = means[0].len();
        if d == 0 {
            return Err(MixtureError::NoDimension);
        }
        means_in_range(means.iter().flatten())?;
        for (component, m) in means.iter().enumerate() {
            if m.len() != d {
                return Err(MixtureError::MeanLength {
                    component,
                    expected: d,
                    found: m.len(),
                });
            }
        }
        let declared: Vec<Option<DMatrix<f64>>> = match &covs {
            Covariances::Shared(_) => vec![None; k],
            Covariances::Full(mats) => mats
                .iter()
                .map(|rows| {
                    let n = rows.len();
                    Some(DMatrix::from_fn(n, n, |i, j| {
                        rows[i].get(j).copied().unwrap_or(f64::NAN)
                    }))
                })
                .collect(),
        };
        let covs: Vec<Covariance> = match covs {
            Covariances::Shared(v) => {
                if !(v.is_finite() && v > 0.0) {
                    return Err(MixtureError::Variance(v));
                }
                variances_in_range("the variance", &[v])?;
                vec![Covariance::Isotropic(v); k]
            }
            Covariances::Full(mats) => {
                if mats.len() != k {
                    return Err(MixtureError::Count {
                        what: "covs",
                        expected: k,
                        found: mats.len(),
                    });
                }
                let mut out = Vec::with_capacity(k);
                for (component, rows) in mats.iter().enumerate() {
                    let g =
                        GaussianSource::from_covariance("component", rows, None).map_err(|e| {
                            MixtureError::Covariance {
                                component,
                                reason: e.to_string(),
                            }
                        })?;
                    variances_in_range("a covariance eigenvalue", &g.eigenvalues)?;
                    if g.eigenvalues.len() != d {
                        return Err(MixtureError::Covariance {
                            component,
                            reason: format!(
                                "it is {0} by {0}, the means have dimension {d}",
                                g.eigenvalues.len()
                            ),
                        });
                    }
                    out.push(Covariance::Eigen {
                        values: g.eigenvalues,
                        basis: g.basis.unwrap_or_else(|| DMatrix::identity(d, d)),
                    });
                }
                out
            }
        };
        let total: f64 = weights.iter().sum();
        let normalised_from = ((total - 1.0).abs() > NORMALISED).then_some(total);
        Ok(Mixture {
            name: name.into(),
            dimension: d,
            weights: weights.iter().map(|w| w / total).collect(),
            components: means
                .into_iter()
                .zip(covs)
                .zip(declared)
                .map(|((m, cov), declared)| Component {
                    mean: DVector::from_vec(m),
                    cov,
                    declared,
                })
                .collect(),
            normalised_from,
        })
    }

    /// A Gaussian source as a one-component mixture, in the source's own eigenbasis (no
    /// second factorisation): [`Mixture::to_gaussian`]'s inverse.
    pub fn from_gaussian(g: &GaussianSource) -> Result<Mixture, MixtureError> {
        let d = g.eigenvalues.len();
        let mean = g.to_original(&g.mean);
        means_in_range(mean.iter())?;
        variances_in_range("a covariance eigenvalue", &g.eigenvalues)?;
        Ok(Mixture {
            name: g.name.clone(),
            dimension: d,
            weights: vec![1.0],
            components: vec![Component {
                mean: DVector::from_vec(mean),
                cov: Covariance::Eigen {
                    values: g.eigenvalues.clone(),
                    basis: g.basis.clone().unwrap_or_else(|| DMatrix::identity(d, d)),
                },
                declared: None,
            }],
            normalised_from: None,
        })
    }

    /// The variance every component shares, if they are all `v I` with one `v`.
    pub fn shared_variance(&self) -> Option<f64> {
        let mut shared = None;
        for c in &self.components {
            let v = match &c.cov {
                Covariance::Isotropic(v) => *v,
                Covariance::Eigen { values, .. } => {
                    let v = values[0];
                    if values.iter().any(|&w| w != v) {
                        return None;
                    }
                    v
                }
            };
            match shared {
                None => shared = Some(v),
                Some(s) if s == v => {}
                Some(_) => return None,
            }
        }
        shared
    }

    /// The largest distance between two means, and the two components (the first pair in
    /// index order when several tie); 0 for one component.
    pub fn diameter(&self) -> (f64, usize, usize) {
        let mut best = (0.0, 0, 0);
        for i in 0..self.components.len() {
            for j in i + 1..self.components.len() {
                let d = (&self.components[i].mean - &self.components[j].mean).norm();
                if d > best.0 {
                    best = (d, i, j);
                }
            }
        }
        best
    }

    /// The same distribution as a Gaussian source, for one component: the component's
    /// eigenbasis as is, so analyses give the same bits as for the `gaussian` declaration.
    pub fn to_gaussian(&self) -> Option<GaussianSource> {
        let [c] = self.components.as_slice() else {
            return None;
        };
        let d = self.dimension;
        Some(match &c.cov {
            Covariance::Isotropic(v) => GaussianSource {
                name: self.name.clone(),
                eigenvalues: vec![*v; d],
                mean: c.mean.as_slice().to_vec(),
                basis: None,
            },
            Covariance::Eigen { values, basis } => GaussianSource {
                name: self.name.clone(),
                eigenvalues: values.clone(),
                mean: (basis.transpose() * &c.mean).iter().copied().collect(),
                basis: Some(basis.clone()),
            },
        })
    }

    /// The marginal at a time where the process has scale `alpha` and noise `sigma`.
    pub fn marginal(&self, alpha: f64, sigma: f64) -> Marginal<'_> {
        Marginal {
            mixture: self,
            alpha,
            sigma,
        }
    }
}

/// Mean coordinates within [`MAX_MAGNITUDE`].
fn means_in_range<'a>(mut coordinates: impl Iterator<Item = &'a f64>) -> Result<(), MixtureError> {
    match coordinates.find(|v| v.is_nan() || v.abs() > MAX_MAGNITUDE) {
        Some(&value) => Err(MixtureError::Magnitude {
            what: "a mean coordinate",
            value,
        }),
        None => Ok(()),
    }
}

/// Variances within [1/[`MAX_MAGNITUDE`], [`MAX_MAGNITUDE`]].
fn variances_in_range(what: &'static str, values: &[f64]) -> Result<(), MixtureError> {
    match values
        .iter()
        .find(|v| !(1.0 / MAX_MAGNITUDE..=MAX_MAGNITUDE).contains(*v))
    {
        Some(&value) => Err(MixtureError::Magnitude { what, value }),
        None => Ok(()),
    }
}

/// `p_t = sum_k pi_k N(alpha m_k, alpha^2 S_k + sigma^2 I)`.
pub struct Marginal<'a> {
    mixture: &'a Mixture,
    alpha: f64,
    sigma: f64,
}

/// One component at a point: its log weight times density, its score `-C^{-1}(x - mu)`
/// and its precision `C^{-1}`.
struct Term {
    log_weighted: f64,
    score: DVector<f64>,
    precision: DMatrix<f64>,
}

impl Marginal<'_> {
    fn terms(&self, x: &DVector<f64>, with_precision: bool) -> Vec<Term> {
        let (a, s) = (self.alpha, self.sigma);
        let d = self.mixture.dimension;
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        self.mixture
            .components
            .iter()
            .zip(&self.mixture.weights)
            .map(|(c, &w)| {
                let diff = x - &c.mean * a;
                let (quad, logdet, score, precision) = match &c.cov {
                    Covariance::Isotropic(v) => {
                        let var = a * a * v + s * s;
                        let score = &diff * (-1.0 / var);
                        let precision = if with_precision {
                            DMatrix::from_diagonal_element(d, d, 1.0 / var)
                        } else {
                            DMatrix::zeros(0, 0)
                        };
                        (
                            diff.norm_squared() / var,
                            d as f64 * var.ln(),
                            score,
                            precision,
                        )
                    }
                    Covariance::Eigen { values, basis } => {
                        let var: Vec<f64> = values.iter().map(|l| a * a * l + s * s).collect();
                        let y = basis.transpose() * &diff;
                        let scaled =
                            DVector::from_iterator(d, y.iter().zip(&var).map(|(y, v)| y / v));
                        let quad = y.iter().zip(&var).map(|(y, v)| y * y / v).sum();
                        let logdet = var.iter().map(|v| v.ln()).sum();
                        let score = -(basis * scaled);
                        let precision = if with_precision {
                            let inv = DVector::from_iterator(d, var.iter().map(|v| 1.0 / v));
                            basis * DMatrix::from_diagonal(&inv) * basis.transpose()
                        } else {
                            DMatrix::zeros(0, 0)
                        };
                        (quad, logdet, score, precision)
                    }
                };
                Term {
                    log_weighted: w.ln() - 0.5 * (quad + logdet + d as f64 * log_2pi),
                    score,
                    precision,
                }
            })
            .collect()
    }

    /// The responsibilities of the components at x: the posterior probabilities of the
    /// components given x_t = x (they sum to 1).
    pub fn responsibilities(&self, x: &[f64]) -> Vec<f64> {
        let terms = self.terms(&DVector::from_column_slice(x), false);
        Self::weigh(&terms).0
    }

    /// The responsibilities of the components and log p, by log-sum-exp.
    fn weigh(terms: &[Term]) -> (Vec<f64>, f64) {
        let top = terms
            .iter()
            .map(|t| t.log_weighted)
            .fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = terms.iter().map(|t| (t.log_weighted - top).exp()).collect();
        let sum: f64 = e.iter().sum();
        (e.iter().map(|v| v / sum).collect(), top + sum.ln())
    }

    /// log p_t(x).
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let terms = self.terms(&DVector::from_column_slice(x), false);
        Self::weigh(&terms).1
    }

    /// grad log p_t(x).
    pub fn score(&self, x: &[f64]) -> Vec<f64> {
        let terms = self.terms(&DVector::from_column_slice(x), false);
        let (r, _) = Self::weigh(&terms);
        let mut s = DVector::zeros(self.mixture.dimension);
        // A component of responsibility 0 contributes nothing (its score may be huge).
        for (t, w) in terms.iter().zip(&r).filter(|(_, w)| **w > 0.0) {
            s += &t.score * *w;
        }
        s.as_slice().to_vec()
    }

    /// The Hessian of log p_t at x: `sum_k r_k ((s_k - s)(s_k - s)^T - C_k^{-1})`, the
    /// covariance of the component scores under the responsibilities minus their mean
    /// precision.
    pub fn hessian(&self, x: &[f64]) -> DMatrix<f64> {
        let d = self.mixture.dimension;
        let terms = self.terms(&DVector::from_column_slice(x), true);
        let (r, _) = Self::weigh(&terms);
        let mut s = DVector::zeros(d);
        for (t, w) in terms.iter().zip(&r).filter(|(_, w)| **w > 0.0) {
            s += &t.score * *w;
        }
        let mut h = DMatrix::zeros(d, d);
        for (t, w) in terms.iter().zip(&r).filter(|(_, w)| **w > 0.0) {
            let dev = &t.score - &s;
            h += (&dev * dev.transpose() - &t.precision) * *w;
        }
        // U diag U^T rounds to a matrix symmetric only to an ulp; the Hessian is symmetric.
        (&h + h.transpose()) * 0.5
    }

    /// The probability-flow velocity `f x - (g2/2) grad log p_t(x)`.
    pub fn pf_velocity(&self, x: &[f64], f: f64, g2: f64) -> Vec<f64> {
        let s = self.score(x);
        x.iter()
            .zip(&s)
            .map(|(x, s)| f * x - 0.5 * g2 * s)
            .collect()
    }

    /// The Jacobian of the probability-flow velocity, `f I - (g2/2) Hess log p_t(x)`
    /// (symmetric).
    pub fn pf_jacobian(&self, x: &[f64], f: f64, g2: f64) -> DMatrix<f64> {
        let d = self.mixture.dimension;
        DMatrix::identity(d, d) * f - self.hessian(x) * (0.5 * g2)
    }
}

/// The mixture of scripts/mixture_reference.py, shared by the tests of the modules that
/// evaluate mixtures: three components in 2-D with full covariances.
#[cfg(test)]
pub(crate) fn three_components() -> Mixture {
    Mixture::new(
        "M",
        vec![0.2, 0.5, 0.3],
        vec![vec![1.0, -1.0], vec![-2.0, 0.5], vec![0.0, 3.0]],
        Covariances::Full(vec![
            vec![vec![1.0, 0.3], vec![0.3, 0.5]],
            vec![vec![0.2, 0.0], vec![0.0, 2.0]],
            vec![vec![0.7, -0.2], vec![-0.2, 0.4]],
        ]),
    )
    .expect("valid")
}

/// The largest absolute eigenvalue of a symmetric matrix (its spectral norm).
pub fn spectral_norm(m: &DMatrix<f64>) -> f64 {
    SymmetricEigen::new(m.clone())
        .eigenvalues
        .iter()
        .fold(0.0f64, |acc, v| acc.max(v.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_modes(mu: f64, var: f64) -> Mixture {
        Mixture::new(
            "M",
            vec![0.5, 0.5],
            vec![vec![-mu], vec![mu]],
            Covariances::Shared(var),
        )
        .expect("valid")
    }

    #[test]
    fn symmetric_two_modes_match_the_closed_form() {
        // Score (-x + a mu tanh(a mu x/s^2))/s^2, Hessian (-1 + (a mu)^2 sech^2(.)/s^2)/s^2,
        // s^2 = a^2 var + sigma^2.
        let (mu, var) = (1.5, 0.2);
        let m = two_modes(mu, var);
        for &(a, sg, x) in &[(0.9, 0.3, 0.7), (0.2, 0.98, -2.0), (1.0, 1e-3, 1.4)] {
            let p = m.marginal(a, sg);
            let s2 = a * a * var + sg * sg;
            let u = a * mu * x / s2;
            let score = (-x + a * mu * u.tanh()) / s2;
            let hess = (-1.0 + (a * mu) * (a * mu) / (s2 * u.cosh().powi(2))) / s2;
            let got = p.score(&[x])[0];
            assert!(
                (got - score).abs() <= 1e-14 * score.abs().max(1.0),
                "{got} {score}"
            );
            let h = p.hessian(&[x])[(0, 0)];
            assert!(
                (h - hess).abs() <= 1e-12 * hess.abs().max(1.0),
                "{h} {hess}"
            );
        }
    }

    #[test]
    fn score_and_hessian_match_a_high_precision_reference() {
        let m = three_components();
        let p = m.marginal(0.8, 0.5);
        let x = [0.3, 0.9];
        let h = p.hessian(&x);
        // mpmath at 50 digits, derivatives of log p from its definition
        // (scripts/mixture_reference.py).
        let num = |t: &str| -> f64 { t.parse().expect("a number") };
        let score = [
            num("-0.056529569173852587217"),
            num("1.7387712442177891592"),
        ];
        let hess = [
            num("0.52572322552519910632"),
            num("-0.44557379289732267902"),
            num("3.8092363837784117794"),
        ];
        let s = p.score(&x);
        for i in 0..2 {
            assert!(
                (s[i] - score[i]).abs() <= 1e-14 * score[i].abs().max(1.0),
                "{s:?}"
            );
        }
        for (got, want) in [h[(0, 0)], h[(0, 1)], h[(1, 1)]].into_iter().zip(hess) {
            assert!(
                (got - want).abs() <= 1e-14 * want.abs().max(1.0),
                "{got} {want}"
            );
        }
        assert_eq!(h[(0, 1)], h[(1, 0)]);
        let eps = 1e-6;
        for j in 0..2 {
            let mut up = x;
            let mut down = x;
            up[j] += eps;
            down[j] -= eps;
            let (su, sd) = (p.score(&up), p.score(&down));
            for i in 0..2 {
                let fd = (su[i] - sd[i]) / (2.0 * eps);
                assert!((fd - h[(i, j)]).abs() < 1e-7, "{i} {j}: {fd} {}", h[(i, j)]);
            }
        }
        // The score is the gradient of log p.
        let s = p.score(&x);
        for j in 0..2 {
            let mut up = x;
            let mut down = x;
            up[j] += eps;
            down[j] -= eps;
            let fd = (p.log_density(&up) - p.log_density(&down)) / (2.0 * eps);
            assert!((fd - s[j]).abs() < 1e-7, "{fd} {}", s[j]);
        }
    }

    #[test]
    fn far_components_stay_finite_in_many_dimensions() {
        let d = 64;
        let means: Vec<Vec<f64>> = (0..20)
            .map(|k| {
                (0..d)
                    .map(|i| ((k * 7 + i * 3) % 11) as f64 - 5.0)
                    .collect()
            })
            .collect();
        let m = Mixture::new("M", vec![1.0; 20], means, Covariances::Shared(0.01)).expect("valid");
        assert_eq!(m.normalised_from, Some(20.0));
        let p = m.marginal(1.0, 1e-3);
        let x = vec![40.0; d];
        let s = p.score(&x);
        assert!(s.iter().all(|v| v.is_finite()));
        assert!(p.hessian(&x).iter().all(|v| v.is_finite()));
        assert!(p.log_density(&x).is_finite());
    }

    #[test]
    fn extreme_but_accepted_mixtures_stay_finite() {
        // The far component's score is 1e200: its outer product overflows, but its
        // responsibility is 0 and it is left out rather than multiplied by 0.
        let m = Mixture::new(
            "M",
            vec![1.0, 1.0],
            vec![vec![0.0], vec![1e100]],
            Covariances::Shared(1e-100),
        )
        .expect("within the bounds");
        let p = m.marginal(1.0, 0.0);
        assert!(p.hessian(&[0.0]).iter().all(|v| v.is_finite()));
        assert!(p.score(&[0.0]).iter().all(|v| v.is_finite()));
        assert!(matches!(
            Mixture::new("M", vec![1.0], vec![vec![-1e308]], Covariances::Shared(1.0)),
            Err(MixtureError::Magnitude { .. })
        ));
        assert!(matches!(
            Mixture::new("M", vec![1.0], vec![vec![0.0]], Covariances::Shared(1e-200)),
            Err(MixtureError::Magnitude { .. })
        ));
    }

    #[test]
    fn invalid_mixtures_say_why() {
        let e =
            |w: Vec<f64>, m: Vec<Vec<f64>>, c: Covariances| Mixture::new("M", w, m, c).unwrap_err();
        assert_eq!(
            e(vec![], vec![], Covariances::Shared(1.0)),
            MixtureError::Empty
        );
        assert_eq!(
            e(
                vec![1.0, -1.0],
                vec![vec![0.0], vec![1.0]],
                Covariances::Shared(1.0)
            ),
            MixtureError::Weight {
                index: 1,
                value: -1.0
            }
        );
        assert!(matches!(
            e(
                vec![1.0],
                vec![vec![0.0], vec![1.0]],
                Covariances::Shared(1.0)
            ),
            MixtureError::Count { what: "means", .. }
        ));
        assert!(matches!(
            e(
                vec![1.0],
                vec![vec![0.0, 1.0]],
                Covariances::Full(vec![vec![vec![1.0, 2.0], vec![2.0, 1.0]]])
            ),
            MixtureError::Covariance { component: 0, .. }
        ));
        assert_eq!(
            e(vec![1.0], vec![vec![0.0]], Covariances::Shared(0.0)),
            MixtureError::Variance(0.0)
        );
    }
}
