//! The exact probability-flow map of a Gaussian mixture between two times, and its
//! Jacobian (docs/theory.md section 8).
//!
//! The PF ODE transports the marginals, so in one dimension it preserves the distribution
//! function: Phi_{t0 <- t1}(x) = F_{t0}^{-1}(F_{t1}(x)), for any number of components. It is
//! solved in log space in whichever tail x lies (log F below the median, log(1 - F) above),
//! by bisection to adjacent floats, so the map is exact to the accuracy of log Phi in both
//! tails; its derivative is p_{t1}(x)/p_{t0}(y). One Gaussian component in any dimension maps
//! affinely per eigen-direction. Two components with one isotropic variance reduce to the
//! one-dimensional map along the line through the means, while across it the marginal is
//! N(0, s^2 I) and the flow scales by s_{t0}/s_{t1}. Any other mixture is integrated: the
//! ODE with its variational equation for the Jacobian, by an error-controlled
//! Dormand-Prince 5(4) pair, twice, the difference reported as the error estimate.

use nalgebra::{DMatrix, DVector};

use super::mixture::{Covariance, Mixture};
use super::normal::{log_ndtr, log_upper_hazard};
use super::schedule::{Schedule, limit_toward};

/// Why the exact map is not available.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FlowMapError {
    #[error(
        "the exact flow map is derived for one dimension, one component, or two components sharing one isotropic variance; this mixture has {components} components in {dimension} dimensions"
    )]
    Unsupported { components: usize, dimension: usize },
    #[error("the point has {found} coordinates; the source has dimension {expected}")]
    Dimension { expected: usize, found: usize },
    #[error("the marginal is degenerate at one of the times (a component with zero variance)")]
    Degenerate,
    #[error(
        "the ODE cannot be integrated where alpha = 0 (there the flow forgets the data); choose times with alpha > 0"
    )]
    AlphaZero,
    #[error(
        "the ODE is too stiff to integrate here within {0} steps (or its velocity is not finite)"
    )]
    Stiff(usize),
    #[error(
        "the exact map of a point is ill-conditioned: it lands between two modes with almost no mass between them, where double precision leaves it uncertain by {0:.1e}"
    )]
    IllConditioned(f64),
}

/// The map's value, its Jacobian (rows are outputs) and how it was computed.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowMap {
    pub y: Vec<f64>,
    pub jacobian: Vec<Vec<f64>>,
    pub method: &'static str,
    /// A bound on the error of each coordinate of `y` from the rounding of the
    /// distribution functions the map inverts and of their parameters (0 for an affine
    /// map, and for the ODE, whose estimate comes apart): larger than y where the source
    /// has almost no mass between two modes.
    pub y_error: Vec<f64>,
}

/// (alpha, sigma) at the two times: from (at t1) and to (at t0).
#[derive(Clone, Copy, Debug)]
pub struct Ends {
    pub from: (f64, f64),
    pub to: (f64, f64),
}

/// A one-dimensional mixture at one time: log weights, centres, standard deviations.
struct Line {
    log_w: Vec<f64>,
    centre: Vec<f64>,
    sd: Vec<f64>,
}

fn log_sum_exp(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let top = v.clone().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return top;
    }
    top + v.map(|x| (x - top).exp()).sum::<f64>().ln()
}

impl Line {
    /// log F(x) (`lower`) or log(1 - F(x)).
    fn log_tail(&self, x: f64, lower: bool) -> f64 {
        let sign = if lower { 1.0 } else { -1.0 };
        let n = self.log_w.len();
        log_sum_exp(
            (0..n).map(|k| self.log_w[k] + log_ndtr(sign * (x - self.centre[k]) / self.sd[k])),
        )
    }

    /// log F(x) and log(1 - F(x)).
    fn log_cdf(&self, x: f64) -> (f64, f64) {
        (self.log_tail(x, true), self.log_tail(x, false))
    }

    /// log(p(x)/F(x)) (`lower`) or log(p(x)/(1 - F(x))): the hazard of the tail, formed
    /// from each component's own (no cancellation of a density against a tail where both
    /// underflow: at x = 1e100 each is about e^-5e199).
    fn log_hazard(&self, x: f64, lower: bool) -> f64 {
        let sign = if lower { -1.0 } else { 1.0 };
        let n = self.log_w.len();
        let z = |k: usize| sign * (x - self.centre[k]) / self.sd[k];
        let a: Vec<f64> = (0..n).map(|k| self.log_w[k] + log_ndtr(-z(k))).collect();
        let top = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if top == f64::NEG_INFINITY {
            return f64::NAN;
        }
        let weighted =
            log_sum_exp((0..n).map(|k| a[k] - top + log_upper_hazard(z(k)) - self.sd[k].ln()));
        let total = log_sum_exp((0..n).map(|k| a[k] - top));
        weighted - total
    }

    /// The y with F(y) = F_from(x), given x's (log F, log(1 - F)) there: solved in the
    /// smaller tail, in log space, where the tails may underflow.
    fn inverse(&self, (lower, upper): (f64, f64)) -> f64 {
        // log F(y) = lower, or log(1 - F(y)) = upper.
        let below = lower < upper;
        self.root(&|y: f64| {
            if below {
                self.log_tail(y, true) - lower
            } else {
                upper - self.log_tail(y, false)
            }
        })
    }

    /// The root of `value`, increasing in y, to adjacent floats: the nearer of the two.
    fn root(&self, value: &impl Fn(f64) -> f64) -> f64 {
        let lo_c = self.centre.iter().copied().fold(f64::INFINITY, f64::min);
        let hi_c = self
            .centre
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let sd = self.sd.iter().copied().fold(0.0, f64::max);
        // value is increasing in y: widen a bracket until it changes sign.
        let (mut lo, mut hi) = (lo_c - sd, hi_c + sd);
        let mut width = sd.max(1e-300);
        while value(lo) > 0.0 && lo.is_finite() {
            width *= 2.0;
            lo = lo_c - width;
        }
        width = sd.max(1e-300);
        while value(hi) < 0.0 && hi.is_finite() {
            width *= 2.0;
            hi = hi_c + width;
        }
        loop {
            let mid = lo + (hi - lo) / 2.0;
            if !(mid > lo && mid < hi) {
                break;
            }
            if value(mid) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        // The nearer of the two adjacent floats.
        if value(hi).abs() < value(lo).abs() {
            hi
        } else {
            lo
        }
    }
}

/// The one-dimensional mixture with weights `w` (normalised), centres `m` and variances
/// `v` at scale alpha and noise sigma.
fn line(w: &[f64], m: &[f64], v: &[f64], (a, s): (f64, f64)) -> Line {
    Line {
        log_w: w.iter().map(|w| w.ln()).collect(),
        centre: m.iter().map(|m| a * m).collect(),
        sd: v.iter().map(|v| (a * a * v + s * s).sqrt()).collect(),
    }
}

/// The rounding error of a level `log F` (or `log(1 - F)`), in ulps of `|log F| + 1`:
/// the two evaluations of `log_tail` (a few ulps each) and the solve.
const LEVEL_ULPS: f64 = 8.0;

/// The rounding error of a centre or a standard deviation (a product, a square root of a
/// sum of products), in ulps.
const PARAMETER_ULPS: f64 = 4.0;

/// The one-dimensional map of `x`, its derivative, and a bound on the error of y. The
/// derivative is `p_from(x)/p_to(y)`, formed as the ratio of the two tails' hazards (the
/// tails are equal there): the densities themselves cancel in log space in a far tail
/// (at x = 1e100, e^-5e199 each). The bound: a level known to `e` in log space puts y
/// within `e` over the hazard at y (in a gap between two modes, where the density is
/// e^-50 of its peak, more than the distance to the modes), and the rounding of the
/// centres and spreads moves y by some ulps of the largest of them and of y (near the
/// point where y crosses 0, more than y).
fn map_line(from: &Line, to: &Line, x: f64) -> (f64, f64, f64) {
    let levels = from.log_cdf(x);
    let y = to.inverse(levels);
    let lower = levels.0 < levels.1;
    let hazard = to.log_hazard(y, lower);
    let dy = (from.log_hazard(x, lower) - hazard).exp();
    let level = if lower { levels.0 } else { levels.1 };
    let scale = |line: &Line, at: f64| {
        line.centre
            .iter()
            .chain(&line.sd)
            .fold(at.abs(), |m, v| m.max(v.abs()))
    };
    let error = LEVEL_ULPS * f64::EPSILON * (level.abs() + 1.0) / hazard.exp()
        + PARAMETER_ULPS * f64::EPSILON * (scale(to, y) + dy * scale(from, x));
    (y, dy, if error.is_nan() { f64::INFINITY } else { error })
}

/// Phi_{t0 <- t1}(x) and its Jacobian, exactly where it is derived.
pub fn flow_map(m: &Mixture, ends: Ends, x: &[f64]) -> Result<FlowMap, FlowMapError> {
    let d = m.dimension;
    if x.len() != d {
        return Err(FlowMapError::Dimension {
            expected: d,
            found: x.len(),
        });
    }
    let scalar_variance = |c: &Covariance| match c {
        Covariance::Isotropic(v) => *v,
        Covariance::Eigen { values, .. } => values[0],
    };
    let degenerate = |(a, s): (f64, f64)| {
        // The smallest eigenvalue (values ascend) decides.
        m.components.iter().any(|c| {
            let var = a * a * scalar_variance(&c.cov) + s * s;
            var.is_nan() || var <= 0.0
        })
    };
    if degenerate(ends.from) || degenerate(ends.to) {
        return Err(FlowMapError::Degenerate);
    }
    if d == 1 {
        let means: Vec<f64> = m.components.iter().map(|c| c.mean[0]).collect();
        let vars: Vec<f64> = m
            .components
            .iter()
            .map(|c| scalar_variance(&c.cov))
            .collect();
        let from = line(&m.weights, &means, &vars, ends.from);
        let to = line(&m.weights, &means, &vars, ends.to);
        let (y, dy, error) = map_line(&from, &to, x[0]);
        return Ok(FlowMap {
            y: vec![y],
            jacobian: vec![vec![dy]],
            method: "cdf",
            y_error: vec![error],
        });
    }
    if let [c] = m.components.as_slice() {
        // Affine per eigen-direction: y - a0 m = sqrt(v0/v1) (x - a1 m).
        let (values, basis) = match &c.cov {
            Covariance::Isotropic(v) => (vec![*v; d], DMatrix::identity(d, d)),
            Covariance::Eigen { values, basis } => (values.clone(), basis.clone()),
        };
        let ((a1, s1), (a0, s0)) = (ends.from, ends.to);
        let scale = DVector::from_iterator(
            d,
            values
                .iter()
                .map(|l| ((a0 * a0 * l + s0 * s0) / (a1 * a1 * l + s1 * s1)).sqrt()),
        );
        let jac = &basis * DMatrix::from_diagonal(&scale) * basis.transpose();
        let xv = DVector::from_column_slice(x);
        let y = &c.mean * a0 + &jac * (xv - &c.mean * a1);
        return Ok(FlowMap {
            y: y.as_slice().to_vec(),
            jacobian: rows(&jac),
            method: "gaussian",
            y_error: vec![0.0; d],
        });
    }
    let shared = m.shared_variance();
    if let ([c1, c2], Some(v)) = (m.components.as_slice(), shared) {
        let diff = &c2.mean - &c1.mean;
        let half = diff.norm() / 2.0;
        let e = &diff / (2.0 * half);
        let mid = (&c1.mean + &c2.mean) * 0.5;
        let ((a1, s1), (a0, s0)) = (ends.from, ends.to);
        let xv = DVector::from_column_slice(x);
        let rel = xv - &mid * a1;
        let u = rel.dot(&e);
        let w = &rel - &e * u;
        let from = line(&m.weights, &[-half, half], &[v, v], ends.from);
        let to = line(&m.weights, &[-half, half], &[v, v], ends.to);
        let (u0, du, error) = map_line(&from, &to, u);
        let across = ((a0 * a0 * v + s0 * s0) / (a1 * a1 * v + s1 * s1)).sqrt();
        let y = &mid * a0 + &e * u0 + &w * across;
        let eet = &e * e.transpose();
        let jac = &eet * du + (DMatrix::identity(d, d) - &eet) * across;
        return Ok(FlowMap {
            y: y.as_slice().to_vec(),
            jacobian: rows(&jac),
            method: "two-component line",
            y_error: e.iter().map(|c| error * c.abs()).collect(),
        });
    }
    Err(FlowMapError::Unsupported {
        components: m.components.len(),
        dimension: d,
    })
}

/// The PF coefficients (f, g2) of a schedule at t, or their limit toward `inside`
/// ([`limit_toward`]).
fn coefficients(s: &dyn Schedule, t: f64, inside: f64) -> Option<(f64, f64)> {
    let at = |t: f64| {
        let (a, sg, da, ds) = (s.alpha(t), s.sigma(t), s.dalpha(t), s.dsigma(t));
        let f = da / a;
        let g2 = 2.0 * sg * ds - 2.0 * f * sg * sg;
        (f.is_finite() && g2.is_finite()).then_some([f, g2])
    };
    limit_toward(t, inside, at).map(|[f, g2]| (f, g2))
}

/// Steps allowed to one integration before it is called too stiff.
const MAX_STEPS: usize = 200_000;

/// The flow map by integrating the PF ODE and its variational equation from `from` to
/// `to` with the Dormand-Prince 5(4) pair at relative tolerance `tol`: (y, Jacobian).
fn integrate(
    m: &Mixture,
    s: &dyn Schedule,
    (from, to): (f64, f64),
    x: &[f64],
    tol: f64,
) -> Result<(Vec<f64>, DMatrix<f64>), FlowMapError> {
    integrate_with(m, s, (from, to), x, tol, true, MAX_STEPS)
}

/// [`integrate`], with the variational equation only when `jacobian` (else the Jacobian
/// returned is empty).
fn integrate_with(
    m: &Mixture,
    s: &dyn Schedule,
    (from, to): (f64, f64),
    x: &[f64],
    tol: f64,
    jacobian: bool,
    max_steps: usize,
) -> Result<(Vec<f64>, DMatrix<f64>), FlowMapError> {
    let d = m.dimension;
    let dj = if jacobian { d } else { 0 };
    // State: x, then the Jacobian column by column.
    let rhs = |t: f64, y: &DVector<f64>| -> Option<DVector<f64>> {
        let (f, g2) = coefficients(s, t, from)?;
        let p = m.marginal(s.alpha(t), s.sigma(t));
        let xs = y.rows(0, d);
        let v = p.pf_velocity(xs.as_slice(), f, g2);
        let mut out = DVector::zeros(d + dj * dj);
        out.rows_mut(0, d).copy_from_slice(&v);
        if jacobian {
            let jv = p.pf_jacobian(xs.as_slice(), f, g2);
            let jac = DMatrix::from_column_slice(d, d, &y.as_slice()[d..]);
            out.rows_mut(d, d * d)
                .copy_from_slice((jv * jac).as_slice());
        }
        out.iter().all(|v| v.is_finite()).then_some(out)
    };
    // The Dormand-Prince tableau.
    const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
    const A: [&[f64]; 7] = [
        &[],
        &[1.0 / 5.0],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
        ],
        &[
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
        ],
        &[
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
        ],
    ];
    const E: [f64; 7] = [
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ];
    let mut y = DVector::zeros(d + dj * dj);
    y.rows_mut(0, d).copy_from_slice(x);
    for i in 0..dj {
        y[d + i * d + i] = 1.0;
    }
    let span = to - from;
    let mut t = from;
    let mut h = span / 64.0;
    let bad = || FlowMapError::Stiff(max_steps);
    for _ in 0..max_steps {
        if (to - t) * span.signum() <= 0.0 {
            return Ok((
                y.rows(0, d).iter().copied().collect(),
                DMatrix::from_column_slice(dj, dj, &y.as_slice()[d..]),
            ));
        }
        if (t + h - to) * span.signum() > 0.0 {
            h = to - t;
        }
        let mut k: Vec<DVector<f64>> = Vec::with_capacity(7);
        for (i, row) in A.iter().enumerate() {
            let mut yi = y.clone();
            for (kj, a) in k.iter().zip(row.iter()) {
                yi += kj * (h * a);
            }
            k.push(rhs(t + C[i] * h, &yi).ok_or_else(bad)?);
        }
        let mut next = y.clone();
        for (kj, a) in k.iter().zip(A[6].iter()) {
            next += kj * (h * a);
        }
        let mut err = DVector::zeros(y.len());
        for (kj, e) in k.iter().zip(E.iter()) {
            err += kj * (h * e);
        }
        let norm = err
            .iter()
            .zip(y.iter().zip(next.iter()))
            .map(|(e, (a, b))| e.abs() / (tol * (1e-3 + a.abs().max(b.abs()))))
            .fold(0.0f64, f64::max);
        if norm <= 1.0 {
            t += h;
            y = next;
        }
        let factor = if norm == 0.0 {
            5.0
        } else {
            (0.9 * norm.powf(-0.2)).clamp(0.2, 5.0)
        };
        h *= factor;
        if h.abs() < 1e-14 * span.abs().max(t.abs()) {
            return Err(bad());
        }
    }
    Err(bad())
}

/// The flow map of any mixture: exact where [`flow_map`] derives it, else by integrating
/// the ODE (Dormand-Prince 5(4) at relative tolerance 1e-11, and again at 1e-13 for the
/// error estimate, which is returned with it).
pub fn flow_map_or_integrate(
    m: &Mixture,
    s: &dyn Schedule,
    (from, to): (f64, f64),
    x: &[f64],
) -> Result<(FlowMap, Option<f64>), FlowMapError> {
    let ends = Ends {
        from: (s.alpha(from), s.sigma(from)),
        to: (s.alpha(to), s.sigma(to)),
    };
    match flow_map(m, ends, x) {
        Err(FlowMapError::Unsupported { .. }) => {}
        other => return other.map(|f| (f, None)),
    }
    if !(ends.from.0 > 0.0 && ends.to.0 > 0.0) {
        return Err(FlowMapError::AlphaZero);
    }
    let (y, jac) = integrate(m, s, (from, to), x, 1e-11)?;
    let (y2, jac2) = integrate(m, s, (from, to), x, 1e-13)?;
    let estimate = y
        .iter()
        .zip(&y2)
        .map(|(a, b)| (a - b).abs())
        .chain((&jac - &jac2).iter().map(|v| v.abs()))
        .fold(0.0f64, f64::max);
    Ok((
        FlowMap {
            y: y2,
            jacobian: rows(&jac2),
            method: "ode (Dormand-Prince 5(4))",
            y_error: vec![0.0; x.len()],
        },
        Some(estimate),
    ))
}

/// Where the flow from `from` carries x at `to`: the exact map where it is derived (an
/// error where its bound exceeds `tol` of the point's scale), else the ODE integrated at
/// relative tolerance `tol` in at most `max_steps` steps (no Jacobian).
pub fn flow_to(
    m: &Mixture,
    s: &dyn Schedule,
    (from, to): (f64, f64),
    x: &[f64],
    tol: f64,
    max_steps: usize,
) -> Result<Vec<f64>, FlowMapError> {
    let ends = Ends {
        from: (s.alpha(from), s.sigma(from)),
        to: (s.alpha(to), s.sigma(to)),
    };
    match flow_map(m, ends, x) {
        Err(FlowMapError::Unsupported { .. }) => {}
        Ok(f) => {
            // An error beyond `tol` of the point's scale (y, or the spread of the
            // marginal at `to`): not an image to measure a student against.
            let (a, s) = ends.to;
            let spread = m
                .components
                .iter()
                .map(|c| match &c.cov {
                    Covariance::Isotropic(v) => *v,
                    Covariance::Eigen { values, .. } => values[values.len() - 1],
                })
                .fold(0.0, f64::max);
            let spread = (a * a * spread + s * s).sqrt();
            if let Some(&e) = f
                .y_error
                .iter()
                .zip(&f.y)
                .find(|&(e, y)| e.is_nan() || *e > tol * (y.abs() + spread))
                .map(|(e, _)| e)
            {
                return Err(FlowMapError::IllConditioned(e));
            }
            return Ok(f.y);
        }
        Err(e) => return Err(e),
    }
    if !(ends.from.0 > 0.0 && ends.to.0 > 0.0) {
        return Err(FlowMapError::AlphaZero);
    }
    integrate_with(m, s, (from, to), x, tol, false, max_steps).map(|r| r.0)
}

fn rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|i| m.row(i).iter().copied().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::mixture::Covariances;

    /// The PF velocity of a mixture at (alpha, sigma) with derivatives (da, ds):
    /// f x - (g2/2) score, f = da/a, g2 = 2 s ds - 2 f s^2.
    fn velocity(m: &Mixture, t: f64, x: &[f64]) -> Vec<f64> {
        let (a, s, da, ds) = cosine(t);
        let f = da / a;
        let g2 = 2.0 * s * ds - 2.0 * f * s * s;
        m.marginal(a, s).pf_velocity(x, f, g2)
    }

    fn cosine(t: f64) -> (f64, f64, f64, f64) {
        let h = std::f64::consts::FRAC_PI_2;
        (
            (h * t).cos(),
            (h * t).sin(),
            -h * (h * t).sin(),
            h * (h * t).cos(),
        )
    }

    /// Classical RK4 from t1 to t0 in many small steps: an independent solution of the ODE.
    fn integrate(m: &Mixture, t1: f64, t0: f64, x: &[f64]) -> Vec<f64> {
        let n = 20_000;
        let h = (t0 - t1) / n as f64;
        let mut y = x.to_vec();
        let mut t = t1;
        let add = |y: &[f64], k: &[f64], c: f64| -> Vec<f64> {
            y.iter().zip(k).map(|(a, b)| a + c * b).collect()
        };
        for _ in 0..n {
            let k1 = velocity(m, t, &y);
            let k2 = velocity(m, t + h / 2.0, &add(&y, &k1, h / 2.0));
            let k3 = velocity(m, t + h / 2.0, &add(&y, &k2, h / 2.0));
            let k4 = velocity(m, t + h, &add(&y, &k3, h));
            for i in 0..y.len() {
                y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
            t += h;
        }
        y
    }

    fn ends(t1: f64, t0: f64) -> Ends {
        let (a1, s1, ..) = cosine(t1);
        let (a0, s0, ..) = cosine(t0);
        Ends {
            from: (a1, s1),
            to: (a0, s0),
        }
    }

    #[test]
    fn the_map_solves_the_ode() {
        let one = Mixture::new(
            "M",
            vec![0.3, 0.5, 0.2],
            vec![vec![-2.0], vec![0.5], vec![3.0]],
            Covariances::Full(vec![vec![vec![0.2]], vec![vec![0.5]], vec![vec![0.1]]]),
        )
        .expect("valid");
        let two = Mixture::new(
            "M",
            vec![0.4, 0.6],
            vec![vec![-1.0, 2.0, 0.0], vec![1.5, -1.0, 0.5]],
            Covariances::Shared(0.3),
        )
        .expect("valid");
        for (m, x) in [(&one, vec![0.7]), (&two, vec![0.2, -0.4, 1.1])] {
            let (t1, t0) = (0.8, 0.2);
            let got = flow_map(m, ends(t1, t0), &x).expect("exact");
            let want = integrate(m, t1, t0, &x);
            for (g, w) in got.y.iter().zip(&want) {
                assert!((g - w).abs() < 1e-9, "{:?} against {want:?}", got.y);
            }
            // The Jacobian against central differences of the map.
            let eps = 1e-6;
            for j in 0..x.len() {
                let mut up = x.clone();
                let mut down = x.clone();
                up[j] += eps;
                down[j] -= eps;
                let (yu, yd) = (
                    flow_map(m, ends(t1, t0), &up).expect("exact").y,
                    flow_map(m, ends(t1, t0), &down).expect("exact").y,
                );
                for i in 0..x.len() {
                    let fd = (yu[i] - yd[i]) / (2.0 * eps);
                    assert!((fd - got.jacobian[i][j]).abs() < 1e-7, "{i} {j}");
                }
            }
        }
    }

    struct Cos;
    impl Schedule for Cos {
        fn alpha(&self, t: f64) -> f64 {
            cosine(t).0
        }
        fn sigma(&self, t: f64) -> f64 {
            cosine(t).1
        }
        fn dalpha(&self, t: f64) -> f64 {
            cosine(t).2
        }
        fn dsigma(&self, t: f64) -> f64 {
            cosine(t).3
        }
    }

    #[test]
    fn the_integrator_agrees_with_the_exact_maps() {
        // Two components in 3-D: the exact line map against the Dormand-Prince integration.
        let two = Mixture::new(
            "M",
            vec![0.4, 0.6],
            vec![vec![-1.0, 2.0, 0.0], vec![1.5, -1.0, 0.5]],
            Covariances::Shared(0.3),
        )
        .expect("valid");
        let x = [0.2, -0.4, 1.1];
        let exact = flow_map(&two, ends(0.8, 0.2), &x).expect("exact");
        let (y, jac) = super::integrate(&two, &Cos, (0.8, 0.2), &x, 1e-12).expect("integrates");
        for i in 0..3 {
            assert!((y[i] - exact.y[i]).abs() < 1e-10, "{y:?} {:?}", exact.y);
            for j in 0..3 {
                assert!((jac[(i, j)] - exact.jacobian[i][j]).abs() < 1e-9);
            }
        }
        // Three components in 2-D: against the fixed-step RK4 of the tests.
        let three = Mixture::new(
            "M",
            vec![1.0, 1.0, 1.0],
            vec![vec![0.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0]],
            Covariances::Shared(0.3),
        )
        .expect("valid");
        let x = [0.3, -0.2];
        let (map, estimate) =
            flow_map_or_integrate(&three, &Cos, (0.9, 0.1), &x).expect("integrates");
        assert!(map.method.starts_with("ode"));
        let want = integrate(&three, 0.9, 0.1, &x);
        for i in 0..2 {
            assert!((map.y[i] - want[i]).abs() < 1e-9, "{:?} {want:?}", map.y);
        }
        assert!(estimate.expect("an estimate") < 1e-8);
    }

    #[test]
    fn far_tails_map_without_underflow() {
        let m = Mixture::new(
            "M",
            vec![0.5, 0.5],
            vec![vec![-1.0], vec![1.0]],
            Covariances::Shared(0.01),
        )
        .expect("valid");
        // 40 standard deviations out: F underflows in linear space, not in log space.
        let got = flow_map(&m, ends(0.9, 0.1), &[-45.0]).expect("exact");
        assert!(got.y[0].is_finite() && got.y[0] < -1.0, "{:?}", got.y);
        assert!(got.jacobian[0][0].is_finite() && got.jacobian[0][0] > 0.0);
    }
}
