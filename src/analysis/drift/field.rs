//! The drift field of kernel drifting, V_{p,q} = V_p^+ - V_q^- with the kernel mean shift
//! V_p^+(x) = E_p[k(x, y)(y - x)] / E_p[k(x, y)], and its Jacobian (docs/theory.md
//! section 8).
//!
//! - Gaussian kernel, Gaussian or mixture p and q, any dimension: exact. The mean shift is
//!   h^2 grad log p_h with p_h = p * N(0, h^2 I), a mixture with covariances S_k + h^2 I
//!   (Tweedie), so V and its Jacobian h^2 (Hess log p_h - Hess log q_h) are closed forms
//!   ([`GaussianDrift`]); the Jacobian is symmetric, the curl exactly 0.
//! - Any radial kernel in d <= 3: quadrature in polar (spherical) coordinates centred at x,
//!   y = x + r u, which removes the Laplace kernel's cusp at y = x ([`mean_shift`]). The
//!   Jacobian is the quadrature of the x-derivatives of the integrands in that moving frame,
//!   grad_x p(x + r u), so no derivative of the kernel enters; the error estimate is the
//!   change from the next finer rule.

// Matrices here are row-major slices indexed [i * d + j]; index loops say what is summed.
#![allow(clippy::needless_range_loop)]

use std::f64::consts::PI;

use super::Kernel;
use crate::analysis::mixture::{Covariance, Mixture};
use crate::analysis::quadrature::gauss_legendre;

/// Why a drift field cannot be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DriftError {
    #[error("p has dimension {p} and q has dimension {q}: they must be equal")]
    Dimensions { p: usize, q: usize },
    #[error(
        "a {family} kernel is integrated numerically, in dimension 1, 2 or 3 only; the sources have dimension {d} (only the Gaussian kernel is exact in every dimension)"
    )]
    Dimension { family: &'static str, d: usize },
    #[error("the kernel is {value} at r = {r}: a kernel must be finite and non-negative")]
    KernelValue { r: f64, value: f64 },
    #[error("the kernel vanishes wherever {name} has mass near x: the mean shift is 0/0")]
    Vanishes { name: String },
    #[error(
        "the quadrature at this point would need {needed:.1e} evaluations, more than the {budget:.0e} allowed: {name}'s components are narrow for their distance from x"
    )]
    Work {
        name: String,
        needed: f64,
        budget: f64,
    },
    #[error("a value of the drift is not finite ({0}): the sources leave the range of f64 here")]
    NotFinite(f64),
}

/// A Gaussian mixture `sum_k w_k N(m_k, S_k + e I)` ready for evaluation: per component
/// the log of its weight over its normaliser, its mean and its precision (row-major).
#[derive(Clone, Debug)]
pub struct Gaussians {
    pub name: String,
    pub d: usize,
    comps: Vec<Comp>,
    /// The smallest and largest covariance eigenvalue over the components.
    var_min: f64,
    var_max: f64,
}

#[derive(Clone, Debug)]
struct Comp {
    log_weight: f64,
    mean: Vec<f64>,
    precision: Vec<f64>,
}

/// Buffers for evaluating a [`Gaussians`] without allocating.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    log: Vec<f64>,
    scores: Vec<f64>,
    diff: Vec<f64>,
}

impl Gaussians {
    /// `m` with `extra` added to every covariance eigenvalue: `m * N(0, extra I)`.
    pub fn new(m: &Mixture, extra: f64) -> Gaussians {
        let d = m.dimension;
        let log_2pi = (2.0 * PI).ln();
        let (mut var_min, mut var_max) = (f64::INFINITY, 0.0f64);
        let comps = m
            .components
            .iter()
            .zip(&m.weights)
            .map(|(c, &w)| {
                let mut precision = vec![0.0; d * d];
                let logdet = match &c.cov {
                    Covariance::Isotropic(v) => {
                        let v = v + extra;
                        var_min = var_min.min(v);
                        var_max = var_max.max(v);
                        for i in 0..d {
                            precision[i * d + i] = 1.0 / v;
                        }
                        d as f64 * v.ln()
                    }
                    Covariance::Eigen { values, basis } => {
                        let mut logdet = 0.0;
                        for (k, l) in values.iter().enumerate() {
                            let v = l + extra;
                            var_min = var_min.min(v);
                            var_max = var_max.max(v);
                            logdet += v.ln();
                            for i in 0..d {
                                for j in 0..d {
                                    precision[i * d + j] += basis[(i, k)] * basis[(j, k)] / v;
                                }
                            }
                        }
                        // U diag U^T is symmetric only to an ulp; the precision is symmetric.
                        for i in 0..d {
                            for j in 0..i {
                                let s = 0.5 * (precision[i * d + j] + precision[j * d + i]);
                                precision[i * d + j] = s;
                                precision[j * d + i] = s;
                            }
                        }
                        logdet
                    }
                };
                Comp {
                    log_weight: w.ln() - 0.5 * (logdet + d as f64 * log_2pi),
                    mean: c.mean.as_slice().to_vec(),
                    precision,
                }
            })
            .collect();
        Gaussians {
            name: m.name.clone(),
            d,
            comps,
            var_min,
            var_max,
        }
    }

    /// Fills `s.log` with the log weighted densities of the components at x and `s.scores`
    /// with their scores -P_k (x - m_k); returns log p(x) and leaves the responsibilities in
    /// `s.log`.
    fn eval(&self, x: &[f64], s: &mut Scratch) -> f64 {
        let d = self.d;
        let k = self.comps.len();
        s.log.resize(k, 0.0);
        s.scores.resize(k * d, 0.0);
        s.diff.resize(d, 0.0);
        let mut top = f64::NEG_INFINITY;
        for (c, comp) in self.comps.iter().enumerate() {
            for i in 0..d {
                s.diff[i] = x[i] - comp.mean[i];
            }
            let mut quad = 0.0;
            for i in 0..d {
                let row = &comp.precision[i * d..(i + 1) * d];
                let pd: f64 = row.iter().zip(&s.diff).map(|(a, b)| a * b).sum();
                s.scores[c * d + i] = -pd;
                quad += pd * s.diff[i];
            }
            let l = comp.log_weight - 0.5 * quad;
            s.log[c] = l;
            top = top.max(l);
        }
        let mut sum = 0.0;
        for l in s.log.iter_mut() {
            *l = (*l - top).exp();
            sum += *l;
        }
        for l in s.log.iter_mut() {
            *l /= sum;
        }
        top + sum.ln()
    }

    /// log p(x).
    pub fn log_density(&self, x: &[f64], s: &mut Scratch) -> f64 {
        self.eval(x, s)
    }

    /// grad log p(x) into `out`.
    pub fn score_into(&self, x: &[f64], s: &mut Scratch, out: &mut [f64]) {
        self.eval(x, s);
        let d = self.d;
        out[..d].fill(0.0);
        for (c, &r) in s.log.iter().enumerate() {
            // A component of responsibility 0 contributes nothing (its score may be huge).
            if r > 0.0 {
                for i in 0..d {
                    out[i] += r * s.scores[c * d + i];
                }
            }
        }
    }

    /// grad log p(x) and the Hessian of log p at x (row-major), as the covariance of the
    /// component scores under the responsibilities minus their mean precision: no
    /// cancellation between two large terms.
    pub fn score_hessian(&self, x: &[f64], s: &mut Scratch) -> (Vec<f64>, Vec<f64>) {
        let d = self.d;
        let mut score = vec![0.0; d];
        self.score_into(x, s, &mut score);
        let mut h = vec![0.0; d * d];
        for (c, &r) in s.log.iter().enumerate() {
            if r > 0.0 {
                let sc = &s.scores[c * d..(c + 1) * d];
                let p = &self.comps[c].precision;
                for i in 0..d {
                    for j in 0..d {
                        h[i * d + j] +=
                            r * ((sc[i] - score[i]) * (sc[j] - score[j]) - p[i * d + j]);
                    }
                }
            }
        }
        (score, h)
    }
}

/// The drift at a point, with its parts and its Jacobian.
#[derive(Clone, Debug)]
pub struct DriftPoint {
    pub x: Vec<f64>,
    /// V_{p,q}(x) = V_p^+(x) - V_q^-(x).
    pub drift: Vec<f64>,
    /// V_p^+(x), the mean shift towards p.
    pub drift_p: Vec<f64>,
    /// V_q^-(x), the mean shift towards q.
    pub drift_q: Vec<f64>,
    /// J_ij = dV_i/dx_j, row-major.
    pub jacobian: Vec<f64>,
    /// The change of the drift and its Jacobian from the next finer rule (largest entry);
    /// 0 for the exact field.
    pub error_estimate: f64,
    /// Whether the quadrature met its tolerance within the work bound (always for exact).
    pub converged: bool,
}

/// The curl of a drift: none in dimension 1 (it is 0), a number in 2, a vector in 3; not
/// defined beyond.
#[derive(Clone, Debug, PartialEq)]
pub enum Curl {
    Zero,
    Scalar(f64),
    Vector([f64; 3]),
    Undefined,
}

impl DriftPoint {
    /// dV2/dx1 - dV1/dx2 in 2-D; the vector curl in 3-D.
    pub fn curl(&self) -> Curl {
        let j = &self.jacobian;
        match self.x.len() {
            1 => Curl::Zero,
            2 => Curl::Scalar(j[2] - j[1]),
            3 => Curl::Vector([j[7] - j[5], j[2] - j[6], j[3] - j[1]]),
            _ => Curl::Undefined,
        }
    }

    /// |antisym(J)|_F / |J|_F, 0 where J = 0.
    pub fn relative_asymmetry(&self) -> f64 {
        let d = self.x.len();
        let j = &self.jacobian;
        let (mut anti, mut all) = (0.0, 0.0);
        for a in 0..d {
            for b in 0..d {
                let v = j[a * d + b];
                let w = 0.5 * (v - j[b * d + a]);
                anti += w * w;
                all += v * v;
            }
        }
        if all == 0.0 { 0.0 } else { (anti / all).sqrt() }
    }

    fn check(self) -> Result<DriftPoint, DriftError> {
        let all = self
            .drift
            .iter()
            .chain(&self.drift_p)
            .chain(&self.drift_q)
            .chain(&self.jacobian)
            .chain([&self.error_estimate]);
        let bad = all.into_iter().copied().find(|v| !v.is_finite());
        match bad {
            Some(v) => Err(DriftError::NotFinite(v)),
            None => Ok(self),
        }
    }
}

fn same_dimension(p: &Mixture, q: &Mixture) -> Result<usize, DriftError> {
    if p.dimension == q.dimension {
        Ok(p.dimension)
    } else {
        Err(DriftError::Dimensions {
            p: p.dimension,
            q: q.dimension,
        })
    }
}

/// The exact drift of the Gaussian kernel: h^2 (grad log p_h - grad log q_h).
#[derive(Clone, Debug)]
pub struct GaussianDrift {
    h2: f64,
    p: Gaussians,
    q: Gaussians,
}

impl GaussianDrift {
    pub fn new(p: &Mixture, q: &Mixture, h: f64) -> Result<GaussianDrift, DriftError> {
        same_dimension(p, q)?;
        let h2 = h * h;
        Ok(GaussianDrift {
            h2,
            p: Gaussians::new(p, h2),
            q: Gaussians::new(q, h2),
        })
    }

    pub fn dimension(&self) -> usize {
        self.p.d
    }

    /// V_{p,q}(x) into `out` (no allocation once `s` and `tmp` have grown).
    pub fn drift_into(&self, x: &[f64], s: &mut Scratch, tmp: &mut [f64], out: &mut [f64]) {
        let d = self.p.d;
        self.p.score_into(x, s, out);
        self.q.score_into(x, s, tmp);
        for i in 0..d {
            out[i] = self.h2 * (out[i] - tmp[i]);
        }
    }

    /// The drift, its parts and its Jacobian h^2 (Hess log p_h - Hess log q_h) at x.
    pub fn at(&self, x: &[f64]) -> Result<DriftPoint, DriftError> {
        let mut s = Scratch::default();
        let (sp, hp) = self.p.score_hessian(x, &mut s);
        let (sq, hq) = self.q.score_hessian(x, &mut s);
        let h2 = self.h2;
        let drift_p: Vec<f64> = sp.iter().map(|v| h2 * v).collect();
        let drift_q: Vec<f64> = sq.iter().map(|v| h2 * v).collect();
        let mut jacobian: Vec<f64> = hp.iter().zip(&hq).map(|(a, b)| h2 * (a - b)).collect();
        // Both Hessians are symmetric as formed; keep J exactly so.
        let d = self.p.d;
        for i in 0..d {
            for j in 0..i {
                let v = 0.5 * (jacobian[i * d + j] + jacobian[j * d + i]);
                jacobian[i * d + j] = v;
                jacobian[j * d + i] = v;
            }
        }
        DriftPoint {
            x: x.to_vec(),
            drift: sp.iter().zip(&sq).map(|(a, b)| h2 * (a - b)).collect(),
            drift_p,
            drift_q,
            jacobian,
            error_estimate: 0.0,
            converged: true,
        }
        .check()
    }
}

/// The mean shift of one source by quadrature, with its Jacobian.
#[derive(Clone, Debug)]
pub struct MeanShift {
    /// V^+(x) = N/D.
    pub shift: Vec<f64>,
    /// dV_i/dx_j, row-major.
    pub jacobian: Vec<f64>,
    /// The largest change of V and J from the previous rule to this one.
    pub error_estimate: f64,
    pub converged: bool,
    /// Integrand evaluations (nodes times components) over all rules.
    pub work: f64,
}

/// Weighted integrals of p around x, all scaled by exp(-log_scale): with the radial weight
/// w, D = int p(x + z) w(|z|) dz, N = int p(x + z) w(|z|) z dz, and their x-gradients
/// int grad p(x + z) w(|z|) [1, z] dz.
#[derive(Clone, Debug)]
pub struct Moments {
    pub log_scale: f64,
    pub mass: f64,
    pub first: Vec<f64>,
    /// d entries.
    pub grad_mass: Vec<f64>,
    /// grad_first[i * d + j] = d/dx_j of first[i].
    pub grad_first: Vec<f64>,
}

/// Most integrand evaluations (nodes times components) for one mean shift at one point.
pub const QUADRATURE_BUDGET: f64 = 1e7;

/// Relative tolerance the rules are refined to.
const TOLERANCE: f64 = 1e-12;

/// Gauss-Legendre order per radial panel.
const RADIAL_ORDER: usize = 16;

/// The polar rule at a point: directions with weights on the unit sphere, radial nodes on
/// [0, R] with weights.
struct Rule {
    dirs: Vec<([f64; 3], f64)>,
    radial: Vec<(f64, f64)>,
}

/// The shape of the rules at a point: the radius R beyond which p has no mass, the number
/// of radial panels and of angles of the coarsest rule.
#[derive(Clone, Copy, Debug)]
struct Plan {
    d: usize,
    radius: f64,
    panels: usize,
    angles: usize,
}

impl Plan {
    fn new(g: &Gaussians, x: &[f64], kernel_scale: f64) -> Plan {
        let d = g.d;
        let sd_max = g.var_max.sqrt();
        let sd_min = g.var_min.sqrt();
        // Every component is below e^-60 of its peak beyond 11 standard deviations.
        let dist: Vec<f64> = g
            .comps
            .iter()
            .map(|c| {
                c.mean
                    .iter()
                    .zip(x)
                    .map(|(m, x)| (m - x) * (m - x))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        let far = dist.iter().fold(0.0f64, |a, &b| a.max(b));
        let radius = far + 11.0 * sd_max;
        let width = 3.0 * sd_min.min(kernel_scale);
        let panels = (radius / width).ceil().max(1.0);
        // A component of width s at distance rho subtends an angle s/rho: the coarsest rule
        // puts a few angles across the narrowest; refinement does the rest.
        let angles = (2.0 * far / sd_min).max(8.0);
        Plan {
            d,
            radius,
            panels: if panels.is_finite() {
                panels.min(1e15) as usize
            } else {
                usize::MAX / 4
            },
            angles: if angles.is_finite() {
                (angles.min(1e15) as usize).next_power_of_two()
            } else {
                usize::MAX / 4
            },
        }
    }

    /// Nodes of the rule at levels (angular, radial): each level doubles the angles or the
    /// radial panels.
    fn nodes(&self, (la, lr): (u32, u32)) -> f64 {
        let radial = (self.panels * RADIAL_ORDER) as f64 * 2f64.powi(lr as i32);
        let a = self.angles as f64 * 2f64.powi(la as i32);
        match self.d {
            1 => 2.0 * radial,
            2 => a * radial,
            _ => a * (a / 2.0) * radial,
        }
    }

    fn rule(&self, (la, lr): (u32, u32)) -> Rule {
        let f = 1usize << la;
        let panels = self.panels << lr;
        let width = self.radius / panels as f64;
        let gl = gauss_legendre(RADIAL_ORDER);
        let mut radial = Vec::with_capacity(panels * RADIAL_ORDER);
        for p in 0..panels {
            let a = p as f64 * width;
            for &(t, w) in &gl {
                radial.push((a + 0.5 * width * (t + 1.0), 0.5 * width * w));
            }
        }
        let dirs = match self.d {
            1 => vec![([1.0, 0.0, 0.0], 1.0), ([-1.0, 0.0, 0.0], 1.0)],
            2 => {
                let m = self.angles * f;
                (0..m)
                    .map(|j| {
                        let th = 2.0 * PI * j as f64 / m as f64;
                        ([th.cos(), th.sin(), 0.0], 2.0 * PI / m as f64)
                    })
                    .collect()
            }
            _ => {
                let m = self.angles * f;
                let cos = gauss_legendre(m / 2);
                let mut dirs = Vec::with_capacity(m * m / 2);
                for &(c, wc) in &cos {
                    let s = (1.0 - c * c).max(0.0).sqrt();
                    for j in 0..m {
                        let ph = 2.0 * PI * j as f64 / m as f64;
                        dirs.push(([s * ph.cos(), s * ph.sin(), c], wc * 2.0 * PI / m as f64));
                    }
                }
                dirs
            }
        };
        Rule { dirs, radial }
    }
}

/// The integrals of [`Moments`] on one rule; `log_weight[j]` is ln w(r_j) at the rule's
/// radial nodes (-inf where w = 0).
fn moments(g: &Gaussians, x: &[f64], rule: &Rule, log_weight: &[f64]) -> Moments {
    let d = g.d;
    let k = g.comps.len();
    let mut m = Moments {
        log_scale: f64::NEG_INFINITY,
        mass: 0.0,
        first: vec![0.0; d],
        grad_mass: vec![0.0; d],
        grad_first: vec![0.0; d * d],
    };
    // Along the ray x + r u, component c is exp(lw - (c0 + 2 b r + a r^2)/2) with score
    // s0 + r t: a = u.P u, b = u.P diff, c0 = diff.P diff, s0 = -P diff, t = -P u.
    let mut ray = vec![(0.0, 0.0, 0.0); k];
    let mut s0 = vec![0.0; k * d];
    let mut tdir = vec![0.0; k * d];
    let mut diff_p = vec![0.0; k * d];
    for (c, comp) in g.comps.iter().enumerate() {
        for i in 0..d {
            let row = &comp.precision[i * d..(i + 1) * d];
            diff_p[c * d + i] = row
                .iter()
                .zip(x)
                .zip(&comp.mean)
                .map(|((p, x), m)| p * (x - m))
                .sum();
            s0[c * d + i] = -diff_p[c * d + i];
        }
    }
    let c0: Vec<f64> = g
        .comps
        .iter()
        .enumerate()
        .map(|(c, comp)| {
            (0..d)
                .map(|i| diff_p[c * d + i] * (x[i] - comp.mean[i]))
                .sum()
        })
        .collect();
    let mut logs = vec![f64::NEG_INFINITY; rule.radial.len() * k];
    let mut grad = vec![0.0; d];
    for &(u, wu) in &rule.dirs {
        let u = &u[..d];
        for (c, comp) in g.comps.iter().enumerate() {
            let mut a = 0.0;
            for i in 0..d {
                let row = &comp.precision[i * d..(i + 1) * d];
                let pu: f64 = row.iter().zip(u).map(|(p, u)| p * u).sum();
                tdir[c * d + i] = -pu;
                a += pu * u[i];
            }
            let b: f64 = (0..d).map(|i| u[i] * diff_p[c * d + i]).sum();
            ray[c] = (a, b, comp.log_weight - 0.5 * c0[c]);
        }
        // The largest log-integrand on the ray sets the scale of its terms.
        let mut top = f64::NEG_INFINITY;
        for (j, &(r, _)) in rule.radial.iter().enumerate() {
            let lk = log_weight[j];
            for (c, &(a, b, l0)) in ray.iter().enumerate() {
                let l = l0 - r * (b + 0.5 * a * r) + lk;
                logs[j * k + c] = l;
                top = top.max(l);
            }
        }
        if top == f64::NEG_INFINITY {
            continue;
        }
        if top > m.log_scale {
            let f = (m.log_scale - top).exp();
            m.mass *= f;
            for v in m
                .first
                .iter_mut()
                .chain(&mut m.grad_mass)
                .chain(&mut m.grad_first)
            {
                *v *= f;
            }
            m.log_scale = top;
        }
        for (j, &(r, wr)) in rule.radial.iter().enumerate() {
            let jac = wu * wr * r.powi(d as i32 - 1);
            let mut e_sum = 0.0;
            grad.fill(0.0);
            for c in 0..k {
                let e = (logs[j * k + c] - m.log_scale).exp();
                if e > 0.0 {
                    e_sum += e;
                    for i in 0..d {
                        grad[i] += e * (s0[c * d + i] + r * tdir[c * d + i]);
                    }
                }
            }
            if e_sum == 0.0 {
                continue;
            }
            let w = jac * e_sum;
            m.mass += w;
            for i in 0..d {
                m.first[i] += w * r * u[i];
                m.grad_mass[i] += jac * grad[i];
                for l in 0..d {
                    m.grad_first[i * d + l] += jac * r * u[i] * grad[l];
                }
            }
        }
    }
    m
}

/// The length scale of a kernel: h, tau, or where a radial profile first falls below
/// k(0)/e (searched on a geometric grid up to `limit`).
fn kernel_scale(kernel: &Kernel, limit: f64) -> f64 {
    match kernel {
        Kernel::Gaussian { h } => *h,
        Kernel::Laplace { tau } => *tau,
        Kernel::Radial(_) => {
            let k0 = kernel.at(0.0);
            let mut r = limit * 1e-6;
            while r < limit {
                if kernel.at(r) <= k0 / std::f64::consts::E {
                    return r;
                }
                r *= 1.25;
            }
            limit
        }
    }
}

/// ln k(r) at the rule's radial nodes; a value that is negative or not finite is refused.
fn log_kernel(weight: &dyn Fn(f64) -> f64, rule: &Rule) -> Result<Vec<f64>, DriftError> {
    rule.radial
        .iter()
        .map(|&(r, _)| {
            let v = weight(r);
            if v.is_finite() && v >= 0.0 {
                Ok(v.ln())
            } else {
                Err(DriftError::KernelValue { r, value: v })
            }
        })
        .collect()
}

/// The quadrature at x for `g` under a kernel of length scale `scale`, refined greedily: from
/// the current rule, the rules with twice the angles and with twice the radial panels are
/// both computed; when neither changes V^+ and its Jacobian beyond the tolerance the finer
/// angular one is the result, else the refinement that changed more is taken. `weight` is
/// the radial weight w(r).
fn refine(
    g: &Gaussians,
    x: &[f64],
    scale: f64,
    weight: &dyn Fn(f64) -> f64,
    budget: f64,
) -> Result<Refined, DriftError> {
    let plan = Plan::new(g, x, scale);
    let per_node = g.comps.len() as f64;
    let needed = (plan.nodes((0, 0)) + plan.nodes((1, 0)) + plan.nodes((0, 1))) * per_node;
    if needed > budget {
        return Err(DriftError::Work {
            name: g.name.clone(),
            needed,
            budget,
        });
    }
    let run = |levels: (u32, u32)| -> Result<Moments, DriftError> {
        let rule = plan.rule(levels);
        let lw = log_kernel(weight, &rule)?;
        Ok(moments(g, x, &rule, &lw))
    };
    let mut levels = (0, 0);
    let mut work = plan.nodes(levels) * per_node;
    let mut cur = run(levels)?;
    // The up-front check lets the first comparison run, so this is finite when returned.
    let mut last = f64::INFINITY;
    loop {
        // In 1-D there are no angles to refine.
        let angular = (plan.d > 1).then_some((levels.0 + 1, levels.1));
        let radial = (levels.0, levels.1 + 1);
        let mut cost = plan.nodes(radial) * per_node;
        if let Some(a) = angular {
            cost += plan.nodes(a) * per_node;
        }
        if work + cost > budget {
            // Report the last pair of rules compared: the current one has no finer
            // neighbour within the budget.
            return Ok(Refined {
                error: last,
                converged: false,
                work,
                best: cur,
            });
        }
        work += cost;
        let by_r = run(radial)?;
        let er = change(&cur, &by_r);
        let (by_a, ea) = match angular {
            Some(a) => {
                let m = run(a)?;
                let e = change(&cur, &m);
                (Some(m), e)
            }
            None => (None, (0.0, 0.0, 0.0)),
        };
        last = er.2.max(ea.2);
        let ok = |e: (f64, f64, f64)| e.0 <= TOLERANCE && e.1 <= TOLERANCE;
        if ok(er) && ok(ea) {
            return Ok(Refined {
                error: er.2 + ea.2,
                converged: cur.mass > 0.0,
                work,
                best: by_a.unwrap_or(by_r),
            });
        }
        match (by_a, angular) {
            (Some(m), Some(a)) if ea.0.max(ea.1) > er.0.max(er.1) => {
                cur = m;
                levels = a;
            }
            _ => {
                cur = by_r;
                levels = radial;
            }
        }
    }
}

/// The result of [`refine`].
struct Refined {
    best: Moments,
    /// The largest change of an entry of V^+ or its Jacobian from the last refinements.
    error: f64,
    converged: bool,
    work: f64,
}

/// V = N/D and its Jacobian (dN_i/dx_j - V_i dD/dx_j)/D from the moments of the kernel.
fn shift_of(m: &Moments) -> (Vec<f64>, Vec<f64>) {
    let d = m.first.len();
    let v: Vec<f64> = m.first.iter().map(|n| n / m.mass).collect();
    let mut j = vec![0.0; d * d];
    for a in 0..d {
        for b in 0..d {
            j[a * d + b] = (m.grad_first[a * d + b] - v[a] * m.grad_mass[b]) / m.mass;
        }
    }
    (v, j)
}

/// The change from `a` to `b` of V^+ relative to 1 + |V^+|, of its Jacobian relative to
/// 1 + |J| (largest entries), and the largest absolute change of an entry; infinite where
/// a rule saw no mass.
fn change(a: &Moments, b: &Moments) -> (f64, f64, f64) {
    if !(a.mass > 0.0 && b.mass > 0.0) {
        return (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    }
    let (va, ja) = shift_of(a);
    let (vb, jb) = shift_of(b);
    let big = |v: &[f64]| v.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let apart = |x: &[f64], y: &[f64]| {
        x.iter()
            .zip(y)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
    };
    let (dv, dj) = (apart(&va, &vb), apart(&ja, &jb));
    (dv / (1.0 + big(&vb)), dj / (1.0 + big(&jb)), dv.max(dj))
}

/// The mean shift V^+(x) = E_p[k (y - x)]/E_p[k] of the mixture `g` under `kernel`, by
/// polar quadrature centred at x (d <= 3), with its Jacobian and an error estimate.
pub fn mean_shift(
    g: &Gaussians,
    kernel: &Kernel,
    x: &[f64],
    budget: f64,
) -> Result<MeanShift, DriftError> {
    if !(1..=3).contains(&g.d) {
        return Err(DriftError::Dimension {
            family: kernel.family(),
            d: g.d,
        });
    }
    let limit = Plan::new(g, x, 1.0).radius;
    let scale = kernel_scale(kernel, limit);
    let r = refine(g, x, scale, &|r| kernel.at(r), budget)?;
    if r.best.mass.is_nan() || r.best.mass <= 0.0 {
        return Err(DriftError::Vanishes {
            name: g.name.clone(),
        });
    }
    let (shift, jacobian) = shift_of(&r.best);
    Ok(MeanShift {
        shift,
        jacobian,
        error_estimate: r.error,
        converged: r.converged,
        work: r.work,
    })
}

/// Phi(r) = int_r^inf s k(s) ds in closed form: h^2 exp(-r^2/(2 h^2)) for the Gaussian
/// kernel, tau (r + tau) exp(-r/tau) for the Laplace kernel; None for a radial profile.
pub fn phi(kernel: &Kernel, r: f64) -> Option<f64> {
    match kernel {
        Kernel::Gaussian { h } => Some(h * h * (-(r / h) * (r / h) / 2.0).exp()),
        Kernel::Laplace { tau } => Some(tau * (r + tau) * (-r / tau).exp()),
        Kernel::Radial(_) => None,
    }
}

/// The general identity's parts at x: c(x) = (p * Phi)/(p * k) and grad log(p * Phi),
/// computed from grad p (not from the kernel's first moment), so that c grad log(p * Phi)
/// = V^+ is a check of the mean shift.
pub fn identity_parts(
    g: &Gaussians,
    kernel: &Kernel,
    x: &[f64],
    budget: f64,
) -> Result<Option<(f64, Vec<f64>)>, DriftError> {
    if phi(kernel, 0.0).is_none() {
        return Ok(None);
    }
    let limit = Plan::new(g, x, 1.0).radius;
    let scale = kernel_scale(kernel, limit);
    let with_phi = refine(g, x, scale, &|r| phi(kernel, r).unwrap_or(f64::NAN), budget)?.best;
    let with_k = refine(g, x, scale, &|r| kernel.at(r), budget)?.best;
    let c = with_phi.mass / with_k.mass * (with_phi.log_scale - with_k.log_scale).exp();
    let grad = with_phi
        .grad_mass
        .iter()
        .map(|v| v / with_phi.mass)
        .collect();
    Ok(Some((c, grad)))
}

/// The drift V_{p,q} at x under any kernel: exact for the Gaussian kernel, by quadrature
/// otherwise (d <= 3).
pub fn drift_at(
    p: &Mixture,
    q: &Mixture,
    kernel: &Kernel,
    x: &[f64],
) -> Result<DriftPoint, DriftError> {
    let d = same_dimension(p, q)?;
    if let Kernel::Gaussian { h } = kernel {
        return GaussianDrift::new(p, q, *h)?.at(x);
    }
    if !(1..=3).contains(&d) {
        return Err(DriftError::Dimension {
            family: kernel.family(),
            d,
        });
    }
    let vp = mean_shift(&Gaussians::new(p, 0.0), kernel, x, QUADRATURE_BUDGET)?;
    let vq = mean_shift(&Gaussians::new(q, 0.0), kernel, x, QUADRATURE_BUDGET)?;
    DriftPoint {
        x: x.to_vec(),
        drift: vp.shift.iter().zip(&vq.shift).map(|(a, b)| a - b).collect(),
        jacobian: vp
            .jacobian
            .iter()
            .zip(&vq.jacobian)
            .map(|(a, b)| a - b)
            .collect(),
        drift_p: vp.shift,
        drift_q: vq.shift,
        error_estimate: vp.error_estimate + vq.error_estimate,
        converged: vp.converged && vq.converged,
    }
    .check()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::mixture::Covariances;

    fn mixture(d: usize) -> Mixture {
        let (means, covs) = match d {
            1 => (
                vec![vec![-1.0], vec![1.5]],
                vec![vec![vec![0.5]], vec![vec![0.3]]],
            ),
            2 => (
                vec![vec![-1.0, 0.5], vec![1.0, -0.5]],
                vec![
                    vec![vec![0.6, 0.2], vec![0.2, 0.4]],
                    vec![vec![0.3, -0.1], vec![-0.1, 0.5]],
                ],
            ),
            _ => (
                vec![vec![-1.0, 0.5, 0.0], vec![1.0, -0.5, 0.3]],
                vec![
                    vec![
                        vec![0.6, 0.2, 0.0],
                        vec![0.2, 0.4, 0.1],
                        vec![0.0, 0.1, 0.5],
                    ],
                    vec![
                        vec![0.5, 0.0, 0.1],
                        vec![0.0, 0.5, 0.0],
                        vec![0.1, 0.0, 0.4],
                    ],
                ],
            ),
        };
        Mixture::new("P", vec![0.3, 0.7], means, Covariances::Full(covs)).expect("valid")
    }

    #[test]
    fn quadrature_of_the_gaussian_kernel_meets_the_closed_form() {
        // Two different computations of the same mean shift: Tweedie's closed form, and
        // the polar quadrature of the definition (which knows nothing of Tweedie).
        let h = 0.8;
        let kernel = Kernel::Gaussian { h };
        for d in 1..=3 {
            let m = mixture(d);
            let exact = GaussianDrift::new(&m, &m, h).expect("same dimension");
            let g = Gaussians::new(&m, 0.0);
            let x: Vec<f64> = (0..d).map(|i| 0.3 - 0.4 * i as f64).collect();
            let q = mean_shift(&g, &kernel, &x, QUADRATURE_BUDGET).expect("within budget");
            let e = exact.at(&x).expect("finite");
            assert!(q.converged, "d = {d}: {q:?}");
            for i in 0..d {
                assert!(
                    (q.shift[i] - e.drift_p[i]).abs() < 1e-11,
                    "d = {d}: {:?} {:?}",
                    q.shift,
                    e.drift_p
                );
            }
            // The exact Jacobian of V_p^+ alone is h^2 Hess log p_h.
            let (_, hess) = exact.p.score_hessian(&x, &mut Scratch::default());
            for (a, b) in q.jacobian.iter().zip(&hess) {
                assert!((a - h * h * b).abs() < 1e-10, "d = {d}: {a} {}", h * h * b);
            }
        }
    }
}
