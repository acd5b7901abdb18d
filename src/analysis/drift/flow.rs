//! Exact population dynamics of kernel drifting between Gaussians under the Gaussian kernel
//! (docs/theory.md section 8): the drift is affine, so q stays Gaussian; its mean and
//! covariance under the continuous flow and under frozen-field (stop-gradient) steps, the
//! KL to p, the largest stable step and the equilibrium of a biased field.
//!
//! With P = (S_p + h^2 I)^-1 and Q = (S_q + h^2 I)^-1, the field a V_p^+ - V_q^- is
//! V(x) = A x + c, A = h^2 (Q - a P), c = h^2 (a P m_p - Q m_q) (a = 1: V_{p,q}).

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// A Gaussian law N(mean, cov) in the original coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Law {
    pub mean: DVector<f64>,
    /// Symmetric positive semi-definite.
    pub cov: DMatrix<f64>,
}

impl Law {
    pub fn dimension(&self) -> usize {
        self.mean.len()
    }

    /// Every entry finite and at most `MAX_MAGNITUDE` in magnitude.
    fn in_range(&self) -> bool {
        self.mean
            .iter()
            .chain(self.cov.iter())
            .all(|v| v.is_finite() && v.abs() <= MAX_MAGNITUDE)
    }
}

/// Entries beyond this magnitude end a run (`FrozenRun::diverged_at`): squares of them
/// stay within f64.
pub const MAX_MAGNITUDE: f64 = 1e150;

/// The work one run may do, in units of d^3 (one d x d factorisation): about a second.
pub const WORK: f64 = 2e8;

/// The largest `a T` (with `a` at least 1) the continuous flow is integrated over: the
/// field's rates are at most max(1, a), so this many natural time units.
pub const MAX_RATE_TIME: f64 = 1e3;

/// Why a moment flow cannot be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FlowError {
    #[error("p has dimension {p} and q dimension {q}: they must be equal")]
    Dimension { p: usize, q: usize },
    #[error(
        "the bandwidth h^2 = {0} and the covariances are not of comparable scale: (S + h^2 I) is not positive definite in f64"
    )]
    NotPositive(f64),
    #[error("the bias a = {0} must be a positive number at most 1e6")]
    Bias(f64),
    #[error("the step eta = {0} must be a positive number at most 1e6")]
    Eta(f64),
    #[error("the time T = {0} must be a finite number in [0, 1e3/max(1, a)]")]
    Time(f64),
    #[error(
        "{what} needs about {work:.3e} d^3 operations, beyond the bound 2e8: take fewer steps or a smaller T"
    )]
    Work { what: &'static str, work: f64 },
    #[error("a value of the flow is not finite: the laws leave the range of f64")]
    NotFinite,
}

/// The biased field's equilibrium and the step bound at it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stability {
    /// The largest stable frozen step: 2 / max(rate_mean, rate_covariance).
    pub eta_max: f64,
    /// max_i w_i, w_i = a h^2/(lambda_i + h^2): the rate of the mean's slowest-to-settle mode.
    pub rate_mean: f64,
    /// max_{i,j} (w_i + w_j - 2 w_i w_j): the covariance's largest rate.
    pub rate_covariance: f64,
}

/// The frozen-field steps from q_0: the laws q_0, ..., q_n and KL(q_k || p).
#[derive(Clone, Debug)]
pub struct FrozenRun {
    pub laws: Vec<Law>,
    /// KL(q_k || p); +inf where q_k is singular (collapsed in a direction).
    pub kl: Vec<f64>,
    /// The first step whose law left the range of f64 (it is not in `laws`).
    pub diverged_at: Option<usize>,
}

/// The continuous flow at time T.
#[derive(Clone, Debug)]
pub struct Continuous {
    pub law: Law,
    pub kl: f64,
    /// RK4 steps of the finer integration.
    pub rk4_steps: usize,
    /// Richardson's estimate of the error: max |fine - coarse| / 15 over the entries.
    pub error_estimate: f64,
}

/// The target p, the Gaussian kernel's h^2 and the bias a of the field a V_p^+ - V_q^-.
#[derive(Clone, Debug)]
pub struct Flow {
    pub p: Law,
    pub h2: f64,
    pub bias: f64,
    /// Eigenvalues (ascending) and eigenvectors (columns) of S_p.
    lambda: Vec<f64>,
    basis: DMatrix<f64>,
    /// P = (S_p + h^2 I)^-1.
    pinv: DMatrix<f64>,
    /// KL's pieces: S_p^-1/2.
    p_inv_sqrt: DMatrix<f64>,
}

/// (M + M^T)/2.
fn symmetric(m: DMatrix<f64>) -> DMatrix<f64> {
    (&m + m.transpose()) * 0.5
}

/// The inverse of a symmetric positive-definite matrix, by Cholesky.
fn spd_inverse(m: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    let inv = m.clone().cholesky()?.inverse();
    inv.iter().all(|v| v.is_finite()).then(|| symmetric(inv))
}

/// e - ln(1 + e) without cancellation for small e.
fn excess(e: f64) -> f64 {
    if e.abs() < 0.1 {
        // sum_{k>=2} (-1)^k e^k / k; 0.1^30 is far below the rounding of e^2/2.
        let mut sum = 0.0;
        let mut pow = e * e;
        for k in 2..32 {
            let term = pow / k as f64;
            sum += if k % 2 == 0 { term } else { -term };
            pow *= e;
        }
        sum
    } else {
        e - e.ln_1p()
    }
}

impl Flow {
    /// The flow towards `p` under the Gaussian kernel of bandwidth `h`, with bias `a`.
    pub fn new(p: Law, h: f64, bias: f64) -> Result<Flow, FlowError> {
        if !(bias.is_finite() && bias > 0.0 && bias <= 1e6) {
            return Err(FlowError::Bias(bias));
        }
        let d = p.dimension();
        let h2 = h * h;
        let cov = symmetric(p.cov.clone());
        let eig = SymmetricEigen::new(cov.clone());
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&i, &j| eig.eigenvalues[i].total_cmp(&eig.eigenvalues[j]));
        let lambda: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i]).collect();
        let basis = DMatrix::from_fn(d, d, |r, c| eig.eigenvectors[(r, order[c])]);
        if !lambda.iter().all(|l| l.is_finite() && *l > 0.0) || !h2.is_finite() || h2 <= 0.0 {
            return Err(FlowError::NotPositive(h2));
        }
        let pinv = spd_inverse(&(&cov + DMatrix::identity(d, d) * h2))
            .ok_or(FlowError::NotPositive(h2))?;
        let p_inv_sqrt = &basis
            * DMatrix::from_diagonal(&DVector::from_iterator(
                d,
                lambda.iter().map(|l| 1.0 / l.sqrt()),
            ))
            * basis.transpose();
        Ok(Flow {
            p: Law { mean: p.mean, cov },
            h2,
            bias,
            lambda,
            basis,
            pinv,
            p_inv_sqrt,
        })
    }

    pub fn dimension(&self) -> usize {
        self.p.dimension()
    }

    fn check(&self, q: &Law) -> Result<(), FlowError> {
        if q.dimension() != self.dimension() || q.cov.nrows() != q.dimension() {
            return Err(FlowError::Dimension {
                p: self.dimension(),
                q: q.dimension(),
            });
        }
        Ok(())
    }

    /// The field a V_p^+ - V_q^- = A x + c for the current law `q`.
    pub fn field(&self, q: &Law) -> Result<(DMatrix<f64>, DVector<f64>), FlowError> {
        self.check(q)?;
        let d = self.dimension();
        let qinv = spd_inverse(&(&q.cov + DMatrix::identity(d, d) * self.h2))
            .ok_or(FlowError::NotPositive(self.h2))?;
        let a = symmetric((&qinv - &self.pinv * self.bias) * self.h2);
        let c = (&self.pinv * &self.p.mean * self.bias - &qinv * &q.mean) * self.h2;
        Ok((a, c))
    }

    /// The field at `x` for the current law `q`.
    pub fn velocity(&self, q: &Law, x: &DVector<f64>) -> Result<DVector<f64>, FlowError> {
        let (a, c) = self.field(q)?;
        Ok(a * x + c)
    }

    /// One frozen-field step x -> x + eta V_{q}(x): the exact law of the image of q.
    pub fn step(&self, q: &Law, eta: f64) -> Result<Law, FlowError> {
        let (a, c) = self.field(q)?;
        let d = self.dimension();
        let b = DMatrix::identity(d, d) + &a * eta;
        Ok(Law {
            mean: &q.mean + (&a * &q.mean + c) * eta,
            cov: symmetric(&b * &q.cov * b.transpose()),
        })
    }

    /// KL(q || p) between Gaussians; +inf when q is singular. With mu_i the eigenvalues
    /// of S_p^-1/2 S_q S_p^-1/2, KL = (sum_i (mu_i - 1 - ln mu_i) + |S_p^-1/2 (m_q - m_p)|^2)/2.
    /// Near p the mu_i - 1 are taken from S_q - S_p (no cancellation), elsewhere the mu_i
    /// from S_q (relative accuracy when q nearly collapses).
    pub fn kl(&self, q: &Law) -> f64 {
        let near = symmetric(&self.p_inv_sqrt * (&q.cov - &self.p.cov) * &self.p_inv_sqrt);
        let e = SymmetricEigen::new(near).eigenvalues;
        let sum = if e.iter().all(|v| v.abs() < 0.5) {
            e.iter().map(|&v| excess(v)).sum::<f64>()
        } else {
            let mu = SymmetricEigen::new(symmetric(&self.p_inv_sqrt * &q.cov * &self.p_inv_sqrt))
                .eigenvalues;
            let mut sum = 0.0;
            for &m in mu.iter() {
                if m.is_nan() || m <= 0.0 {
                    return f64::INFINITY;
                }
                sum += m - 1.0 - m.ln();
            }
            sum
        };
        let delta = &self.p_inv_sqrt * (&q.mean - &self.p.mean);
        0.5 * (sum + delta.norm_squared())
    }

    /// w_i = a h^2 / (lambda_i + h^2), lambda_i the eigenvalues of S_p (ascending).
    fn rates(&self) -> Vec<f64> {
        self.lambda
            .iter()
            .map(|l| self.bias * self.h2 / (l + self.h2))
            .collect()
    }

    /// The equilibrium of the field: mean m_p, covariance (S_p + h^2 I)/a - h^2 I (where
    /// A = 0); `None` when that is not positive definite (a >= 1 + lambda_min/h^2: q
    /// collapses onto a subspace instead).
    pub fn equilibrium(&self) -> Option<Law> {
        let values: Vec<f64> = self
            .lambda
            .iter()
            .map(|l| (l + self.h2) / self.bias - self.h2)
            .collect();
        if !values.iter().all(|v| *v > 0.0 && v.is_finite()) {
            return None;
        }
        let d = self.dimension();
        let cov = if self.bias == 1.0 {
            self.p.cov.clone()
        } else {
            symmetric(
                &self.basis
                    * DMatrix::from_diagonal(&DVector::from_vec(values))
                    * self.basis.transpose(),
            )
        };
        debug_assert_eq!(cov.nrows(), d);
        Some(Law {
            mean: self.p.mean.clone(),
            cov,
        })
    }

    /// The largest stable frozen step, from the linearisation at the equilibrium: mean
    /// errors are multiplied by 1 - eta w_i, covariance errors (in the eigenbasis of S_p)
    /// by 1 - eta (w_i + w_j - 2 w_i w_j); stable iff every factor is in (-1, 1).
    /// `None` without an equilibrium.
    pub fn stability(&self) -> Option<Stability> {
        self.equilibrium()?;
        let w = self.rates();
        let rate_mean = w.iter().copied().fold(0.0, f64::max);
        let mut rate_covariance: f64 = 0.0;
        for &wi in &w {
            for &wj in &w {
                rate_covariance = rate_covariance.max(wi + wj - 2.0 * wi * wj);
            }
        }
        Some(Stability {
            eta_max: 2.0 / rate_mean.max(rate_covariance),
            rate_mean,
            rate_covariance,
        })
    }

    /// `n` frozen-field steps of size `eta` from `q0`. A law that leaves the range of f64
    /// ends the run (`diverged_at`).
    pub fn frozen(&self, q0: &Law, eta: f64, n: usize) -> Result<FrozenRun, FlowError> {
        self.check(q0)?;
        if !(eta.is_finite() && eta > 0.0 && eta <= 1e6) {
            return Err(FlowError::Eta(eta));
        }
        let d = self.dimension() as f64;
        let work = (n as f64 + 1.0) * 4.0 * d.powi(3);
        if work > WORK {
            return Err(FlowError::Work {
                what: "the frozen steps",
                work,
            });
        }
        if !q0.in_range() {
            return Err(FlowError::NotFinite);
        }
        let mut laws = vec![q0.clone()];
        let mut kl = vec![self.kl(q0)];
        let mut diverged_at = None;
        for k in 1..=n {
            let next = self.step(&laws[k - 1], eta)?;
            if !next.in_range() {
                diverged_at = Some(k);
                break;
            }
            kl.push(self.kl(&next));
            laws.push(next);
        }
        Ok(FrozenRun {
            laws,
            kl,
            diverged_at,
        })
    }

    /// The time derivative (dm/dt, dS/dt) = (A m + c, A S + S A) of the continuous flow.
    fn derivative(&self, q: &Law) -> Result<Law, FlowError> {
        let (a, c) = self.field(q)?;
        let sa = &q.cov * &a;
        Ok(Law {
            mean: &a * &q.mean + c,
            cov: symmetric(sa.transpose() + sa),
        })
    }

    fn rk4(&self, q0: &Law, t: f64, n: usize) -> Result<Law, FlowError> {
        let dt = t / n as f64;
        let axpy = |q: &Law, k: &Law, s: f64| Law {
            mean: &q.mean + &k.mean * s,
            cov: &q.cov + &k.cov * s,
        };
        let mut q = q0.clone();
        for _ in 0..n {
            let k1 = self.derivative(&q)?;
            let k2 = self.derivative(&axpy(&q, &k1, dt / 2.0))?;
            let k3 = self.derivative(&axpy(&q, &k2, dt / 2.0))?;
            let k4 = self.derivative(&axpy(&q, &k3, dt))?;
            q = Law {
                mean: &q.mean + (k1.mean + (k2.mean + k3.mean) * 2.0 + k4.mean) * (dt / 6.0),
                cov: symmetric(&q.cov + (k1.cov + (k2.cov + k3.cov) * 2.0 + k4.cov) * (dt / 6.0)),
            };
            if !q.in_range() {
                return Err(FlowError::NotFinite);
            }
        }
        Ok(q)
    }

    /// The RK4 steps used for time `t`: 200 per unit of max(1, a) t, at least 16, even
    /// (the coarse run takes half as many).
    pub fn rk4_steps(&self, t: f64) -> usize {
        ((100.0 * self.bias.max(1.0) * t).ceil() as usize).max(8) * 2
    }

    /// The continuous flow dq/dt = -div(q V_{q_t}) from `q0` to time `t`: the moment ODEs
    /// integrated by classical RK4 with `rk4_steps(t)` steps and with half as many, combined
    /// by Richardson extrapolation (fine + (fine - coarse)/15); the error estimate is
    /// |fine - coarse|/15, the error of the fine run, an upper estimate of the extrapolated one's.
    pub fn continuous(&self, q0: &Law, t: f64) -> Result<Continuous, FlowError> {
        self.check(q0)?;
        if !(t.is_finite() && t >= 0.0 && t * self.bias.max(1.0) <= MAX_RATE_TIME) {
            return Err(FlowError::Time(t));
        }
        let n = self.rk4_steps(t);
        let d = self.dimension() as f64;
        let work = 1.5 * n as f64 * 4.0 * 2.0 * d.powi(3);
        if work > WORK {
            return Err(FlowError::Work {
                what: "the continuous flow",
                work,
            });
        }
        if !q0.in_range() {
            return Err(FlowError::NotFinite);
        }
        let fine = self.rk4(q0, t, n)?;
        let coarse = self.rk4(q0, t, n / 2)?;
        let error_estimate = fine
            .mean
            .iter()
            .zip(coarse.mean.iter())
            .chain(fine.cov.iter().zip(coarse.cov.iter()))
            .map(|(a, b)| (a - b).abs() / 15.0)
            .fold(0.0, f64::max);
        let law = Law {
            mean: &fine.mean + (&fine.mean - &coarse.mean) / 15.0,
            cov: symmetric(&fine.cov + (&fine.cov - &coarse.cov) / 15.0),
        };
        if !law.in_range() {
            return Err(FlowError::NotFinite);
        }
        Ok(Continuous {
            kl: self.kl(&law),
            law,
            rk4_steps: n,
            error_estimate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn law1(m: f64, v: f64) -> Law {
        Law {
            mean: DVector::from_vec(vec![m]),
            cov: DMatrix::from_vec(1, 1, vec![v]),
        }
    }

    #[test]
    fn one_dimensional_field_is_the_closed_form() {
        // V(x) = h^2 [-(x - m_p)/(s_p^2 + h^2) + (x - m_q)/(s_q^2 + h^2)] (MATH.md section 8).
        let f = Flow::new(law1(0.5, 2.0), 0.7, 1.0).expect("flow");
        let q = law1(-1.0, 0.3);
        let x = 0.8;
        let h2 = 0.49;
        let want = h2 * (-(x - 0.5) / (2.0 + h2) + (x + 1.0) / (0.3 + h2));
        let got = f.velocity(&q, &DVector::from_vec(vec![x])).expect("v")[0];
        assert!((got - want).abs() < 1e-15, "{got} {want}");
    }

    #[test]
    fn kl_is_small_and_accurate_near_p() {
        let f = Flow::new(law1(0.0, 1.0), 1.0, 1.0).expect("flow");
        // The variance as stored is 1 + e exactly.
        let e = (1.0 + 1e-6) - 1.0;
        let kl = f.kl(&law1(0.0, 1.0 + e));
        // (e - ln(1 + e))/2 = e^2/4 - e^3/6 + ...
        let want = e * e / 4.0 - e * e * e / 6.0;
        assert!((kl - want).abs() < 1e-12 * want, "{kl} {want}");
        assert_eq!(f.kl(&law1(0.0, 0.0)), f64::INFINITY);
    }
}
