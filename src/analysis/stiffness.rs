//! The stiffness of the probability-flow ODE on a Gaussian mixture whose components share
//! an isotropic variance (docs/theory.md section 8): the Lipschitz bound L(t) of the PF
//! velocity, its integral A(t) in closed form, the grid uniform in A, and the exact norm of
//! the velocity's Jacobian.
//!
//! With s^2 = alpha^2 sigma0^2 + sigma^2 and q = alpha^2/s^2, the bound is
//! L = |(s^2)'/(2 s^2)| + (D0^2/4) alpha (alpha sigma sigma' - alpha' sigma^2)/s^4, and both
//! terms are exact derivatives: (s^2)'/(2 s^2) = (1/2)(ln s^2)' and the second is
//! -(D0^2/8) q'. So A(b) - A(a) = (1/2) TV_[a, b](ln s^2) + (D0^2/8)(q(a) - q(b)), closed in
//! alpha and sigma for every process; the total variation needs only the turning points of
//! s^2, found by bisection to the last bit. Every coefficient is written without f and g2,
//! which are infinite where alpha = 0, so everything is finite on all of [0, 1].

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use super::mixture::Mixture;
use super::schedule::{Schedule, limit_toward};

/// Why the analysis does not apply.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StiffnessError {
    #[error(
        "the components do not share one isotropic variance: the bound L(t) needs covariances sigma0^2 I, equal for all components"
    )]
    NotIsotropic,
    #[error("the process is not finite at t = {0}")]
    NotFinite(f64),
}

/// Where the process and the mixture are at one time.
#[derive(Clone, Copy, Debug)]
struct Point {
    alpha: f64,
    /// (s^2)'/(2 s^2), the signed first term of L.
    c1: f64,
    /// alpha (alpha sigma sigma' - alpha' sigma^2)/s^4 = (g2/2) alpha^2/s^4.
    c2: f64,
}

/// The stiffness of one process on one mixture.
pub struct Stiffness<'a> {
    schedule: &'a dyn Schedule,
    mixture: &'a Mixture,
    var0: f64,
    /// D0, and the two components at that distance.
    pub diameter: f64,
    pub farthest: (usize, usize),
}

/// One row of the profile: L(t) and its signed version.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfileRow {
    pub t: f64,
    pub l: f64,
    pub l_signed: f64,
}

/// The exact norm of the PF Jacobian at a point and the bound L there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JacobianNorm {
    pub t: f64,
    pub exact_norm: f64,
    pub bound: f64,
}

/// Grid points of the scan for turning points of s^2.
const SCAN: usize = 4096;

impl<'a> Stiffness<'a> {
    pub fn new(
        schedule: &'a dyn Schedule,
        mixture: &'a Mixture,
    ) -> Result<Stiffness<'a>, StiffnessError> {
        let var0 = mixture
            .shared_variance()
            .ok_or(StiffnessError::NotIsotropic)?;
        let (diameter, i, j) = mixture.diameter();
        Ok(Stiffness {
            schedule,
            mixture,
            var0,
            diameter,
            farthest: (i, j),
        })
    }

    /// alpha and s^2 at t (no derivatives: finite wherever the process is).
    fn state(&self, t: f64) -> Result<(f64, f64), StiffnessError> {
        let (a, sg) = (self.schedule.alpha(t), self.schedule.sigma(t));
        let s2 = a * a * self.var0 + sg * sg;
        if a.is_finite() && s2.is_finite() && s2 > 0.0 {
            Ok((a, s2))
        } else {
            Err(StiffnessError::NotFinite(t))
        }
    }

    /// The coefficients at t (their limit from inside [0, 1] where a derivative is
    /// infinite at t itself: [`limit_toward`]).
    fn point(&self, t: f64) -> Result<Point, StiffnessError> {
        let alpha = self.state(t)?.0;
        let coefficients = |t: f64| -> Option<[f64; 2]> {
            let s = self.schedule;
            let (a, sg, da, ds) = (s.alpha(t), s.sigma(t), s.dalpha(t), s.dsigma(t));
            let s2 = a * a * self.var0 + sg * sg;
            // (s^2)'/2 as a sum of two terms: a value within its rounding error of 0 has no
            // sign (VP with sigma0 = 1 has s^2 = 1 exactly, and rounding must not make
            // turning points of it).
            let (u, v) = (a * da * self.var0, sg * ds);
            let half_ds2 = if (u + v).abs() <= 8.0 * f64::EPSILON * (u.abs() + v.abs()) {
                0.0
            } else {
                u + v
            };
            let c = [half_ds2 / s2, a * (a * sg * ds - da * sg * sg) / (s2 * s2)];
            c.iter().all(|v| v.is_finite()).then_some(c)
        };
        let [c1, c2] = limit_toward(t, 0.5, coefficients).ok_or(StiffnessError::NotFinite(t))?;
        Ok(Point { alpha, c1, c2 })
    }

    /// L(t) and the signed version.
    pub fn profile_at(&self, t: f64) -> Result<ProfileRow, StiffnessError> {
        let p = self.point(t)?;
        let second = p.c2 * self.diameter * self.diameter / 4.0;
        Ok(ProfileRow {
            t,
            l: p.c1.abs() + second,
            l_signed: p.c1 + second,
        })
    }

    /// The times in (a, b) where s^2 turns (its derivative changes sign), ascending.
    fn turning_points(&self, a: f64, b: f64) -> Result<Vec<f64>, StiffnessError> {
        let sign = |t: f64| -> Result<f64, StiffnessError> { Ok(self.point(t)?.c1) };
        let mut out = Vec::new();
        let mut prev_t = a;
        let mut prev = sign(a)?;
        for k in 1..=SCAN {
            let t = a + (b - a) * k as f64 / SCAN as f64;
            let v = sign(t)?;
            if prev != 0.0 && v != 0.0 && (prev < 0.0) != (v < 0.0) {
                // Bisection to adjacent floats.
                let (mut lo, mut hi) = (prev_t, t);
                let lo_negative = prev < 0.0;
                while let Some(mid) = midpoint(lo, hi) {
                    if (sign(mid)? < 0.0) == lo_negative {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                out.push(lo);
            }
            if v != 0.0 {
                prev = v;
                prev_t = t;
            }
        }
        Ok(out)
    }

    /// A(b) - A(a), in closed form.
    pub fn cumulative(&self, a: f64, b: f64) -> Result<f64, StiffnessError> {
        let turns = self.turning_points(a, b)?;
        self.cumulative_with(a, b, &turns)
    }

    /// A(t) - A(a) at each of `ts` (in [a, b]), the turning points found once.
    pub fn cumulative_at(&self, a: f64, b: f64, ts: &[f64]) -> Result<Vec<f64>, StiffnessError> {
        let turns = self.turning_points(a, b)?;
        ts.iter()
            .map(|&t| self.cumulative_with(a, t, &turns))
            .collect()
    }

    /// A(b) - A(a) given the turning points of s^2 in (a, b) (or in a larger interval).
    fn cumulative_with(&self, a: f64, b: f64, turns: &[f64]) -> Result<f64, StiffnessError> {
        let mut knots = vec![a];
        knots.extend(turns.iter().copied().filter(|&t| t > a && t < b));
        knots.push(b);
        let ln_s2 = |t: f64| -> Result<f64, StiffnessError> { Ok(self.state(t)?.1.ln()) };
        let mut tv = 0.0;
        for w in knots.windows(2) {
            tv += (ln_s2(w[1])? - ln_s2(w[0])?).abs();
        }
        let q = |t: f64| -> Result<f64, StiffnessError> {
            let (a, s2) = self.state(t)?;
            Ok(a * a / s2)
        };
        let d2 = self.diameter * self.diameter;
        Ok(0.5 * tv + d2 / 8.0 * (q(a)? - q(b)?))
    }

    /// The N + 1 times with A(t_k) - A(a) = (k/N)(A(b) - A(a)), by bisection on the closed
    /// form (A is nondecreasing). Where A is constant the grid is uniform.
    pub fn balanced_grid(&self, a: f64, b: f64, n: usize) -> Result<Vec<f64>, StiffnessError> {
        let turns = self.turning_points(a, b)?;
        let total = self.cumulative_with(a, b, &turns)?;
        let mut grid = Vec::with_capacity(n + 1);
        grid.push(a);
        for k in 1..n {
            if total <= 0.0 {
                grid.push(a + (b - a) * k as f64 / n as f64);
                continue;
            }
            let target = total * k as f64 / n as f64;
            let (mut lo, mut hi) = (*grid.last().expect("started"), b);
            while let Some(mid) = midpoint(lo, hi) {
                if self.cumulative_with(a, mid, &turns)? < target {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            grid.push(hi);
        }
        grid.push(b);
        Ok(grid)
    }

    /// The exact spectral norm of the PF Jacobian at `x`, and L(t). With shared variance,
    /// J = c1 I - c2 Cov_r(m), the covariance of the component means under the
    /// responsibilities at x: its extreme eigenvalues give the norm.
    pub fn jacobian_norm(&self, t: f64, x: &[f64]) -> Result<JacobianNorm, StiffnessError> {
        let p = self.point(t)?;
        let sigma = self.schedule.sigma(t);
        let marginal = self.mixture.marginal(p.alpha, sigma);
        let r = marginal.responsibilities(x);
        let d = self.mixture.dimension;
        let mut mean = DVector::zeros(d);
        for (c, w) in self.mixture.components.iter().zip(&r) {
            mean += &c.mean * *w;
        }
        let mut cov = DMatrix::zeros(d, d);
        for (c, w) in self.mixture.components.iter().zip(&r) {
            let dev = &c.mean - &mean;
            cov += &dev * dev.transpose() * *w;
        }
        let eig = SymmetricEigen::new(cov).eigenvalues;
        let (lo, hi) = eig
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let exact_norm = (p.c1 - p.c2 * lo).abs().max((p.c1 - p.c2 * hi).abs());
        Ok(JacobianNorm {
            t,
            exact_norm,
            bound: self.profile_at(t)?.l,
        })
    }

    /// The saddle of the marginal between the two farthest components at time t: on the
    /// segment between their means (alpha m_i to alpha m_j), the critical point of the
    /// density that is a minimum along it (the least dense one if several), or, once the
    /// two modes have merged, the single critical point left (the maximum between them).
    /// Critical points are sign changes of the derivative along the segment, on a scan of
    /// 512 points, bisected to adjacent floats.
    pub fn saddle(&self, t: f64) -> Result<Vec<f64>, StiffnessError> {
        let p = self.point(t)?;
        let marginal = self.mixture.marginal(p.alpha, self.schedule.sigma(t));
        let (i, j) = self.farthest;
        let mi = &self.mixture.components[i].mean * p.alpha;
        let dir = (&self.mixture.components[j].mean - &self.mixture.components[i].mean) * p.alpha;
        let at = |u: f64| -> Vec<f64> { (&mi + &dir * u).as_slice().to_vec() };
        let slope = |u: f64| -> f64 {
            let s = marginal.score(&at(u));
            s.iter().zip(dir.iter()).map(|(a, b)| a * b).sum()
        };
        const SCAN_SADDLE: usize = 512;
        // (u, whether the density has a minimum there)
        let mut critical: Vec<(f64, bool)> = Vec::new();
        let mut prev = (0.0, slope(0.0));
        for k in 1..=SCAN_SADDLE {
            let u = k as f64 / SCAN_SADDLE as f64;
            let v = slope(u);
            if prev.1 != 0.0 && v != 0.0 && (prev.1 < 0.0) != (v < 0.0) {
                let (mut lo, mut hi) = (prev.0, u);
                let lo_negative = prev.1 < 0.0;
                while let Some(mid) = midpoint(lo, hi) {
                    if (slope(mid) < 0.0) == lo_negative {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                critical.push((lo, lo_negative));
            }
            if v != 0.0 {
                prev = (u, v);
            }
        }
        let density = |u: f64| marginal.log_density(&at(u));
        let minima = critical.iter().filter(|c| c.1).map(|c| c.0);
        let u = match minima.clone().next() {
            Some(first) => minima.fold(
                first,
                |best, u| if density(u) < density(best) { u } else { best },
            ),
            None => critical.first().map_or(0.5, |c| c.0),
        };
        Ok(at(u))
    }
}

/// The float halfway between `lo` and `hi`, or `None` when they are adjacent.
fn midpoint(lo: f64, hi: f64) -> Option<f64> {
    let mid = lo + (hi - lo) / 2.0;
    (mid > lo && mid < hi).then_some(mid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::mixture::Covariances;
    use crate::analysis::schedule::OrnsteinUhlenbeck;

    /// The OU process with beta = 5: alpha = e^(-5t), sigma^2 = 1 - e^(-10t).
    const OU: OrnsteinUhlenbeck = OrnsteinUhlenbeck { beta: 5.0 };

    fn mixture(var: f64) -> Mixture {
        Mixture::new(
            "M",
            vec![0.5, 0.5],
            vec![vec![-2.0, 0.0], vec![2.0, 0.0]],
            Covariances::Shared(var),
        )
        .expect("valid")
    }

    #[test]
    fn the_ou_closed_form_of_a() {
        // A(t) = (1/2) ln(s^2/sigma0^2) + D0^2 (1 - alpha^2)/(8 sigma0^2 s^2) for sigma0 < 1.
        for var in [0.01, 0.25] {
            let m = mixture(var);
            let st = Stiffness::new(&OU, &m).expect("isotropic");
            for t in [0.01, 0.1, 0.5, 1.0] {
                let a2 = (-10.0f64 * t).exp();
                let s2 = a2 * var + 1.0 - a2;
                let want = 0.5 * (s2 / var).ln() + 16.0 * (1.0 - a2) / (8.0 * var * s2);
                let got = st.cumulative(0.0, t).expect("finite");
                assert!(
                    (got - want).abs() <= 1e-12 * want,
                    "{var} {t}: {got} {want}"
                );
            }
        }
    }

    #[test]
    fn the_bound_at_the_data_end_is_its_limit() {
        // At t = 0 sigma' is infinite; the limit, by hand: c1 = (alpha alpha' sigma0^2 +
        // sigma sigma')/s^2 = (-5/100 + 5)/(1/100) = 495, c2 = alpha (alpha sigma sigma' -
        // alpha' sigma^2)/s^4 = 5/10^-4, so L(0) = 495 + 5e4 D0^2/4 = 200495 (D0 = 4).
        let m = mixture(0.01);
        let st = Stiffness::new(&OU, &m).expect("isotropic");
        let l = st.profile_at(0.0).expect("finite").l;
        assert!((l - 200_495.0).abs() <= 1e-12 * 200_495.0, "{l}");
    }

    #[test]
    fn the_balanced_grid_for_unit_variance_is_explicit() {
        // sigma0 = 1: t_k = -ln(1 - (k/N)(1 - e^-10))/10, whatever D0.
        let m = mixture(1.0);
        let st = Stiffness::new(&OU, &m).expect("isotropic");
        let n = 8;
        let grid = st.balanced_grid(0.0, 1.0, n).expect("finite");
        for (k, t) in grid.iter().enumerate() {
            // 1 - (k/N)(1 - E) written as (1 - k/N) + (k/N) E, which cancels nothing.
            let r = k as f64 / n as f64;
            let want = -((1.0 - r) + r * (-10.0f64).exp()).ln() / 10.0;
            assert!(
                (t - want).abs() <= 4.0 * f64::EPSILON * want.max(1e-300),
                "{k}: {t} {want}"
            );
        }
    }

    #[test]
    fn the_bound_holds_at_the_saddle_and_a_is_the_integral_of_l() {
        let m = mixture(0.05);
        let st = Stiffness::new(&OU, &m).expect("isotropic");
        for t in [0.02, 0.1, 0.3, 0.9] {
            let x = st.saddle(t).expect("finite");
            // Symmetric modes: the saddle is the midpoint, 0.
            assert!(x.iter().all(|v| v.abs() < 1e-6), "{x:?}");
            let j = st.jacobian_norm(t, &x).expect("finite");
            assert!(j.exact_norm <= j.bound * (1.0 + 1e-12), "{j:?}");
        }
        // Gauss-Legendre on many panels of L against the closed form.
        let (a, b) = (0.0, 1.0);
        let panels = 2000;
        let nodes = [
            (-0.906_179_845_938_664, 0.236_926_885_056_189_1),
            (-0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
            (0.0, 0.568_888_888_888_888_9),
            (0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
            (0.906_179_845_938_664, 0.236_926_885_056_189_1),
        ];
        let mut sum = 0.0;
        for k in 0..panels {
            let (lo, hi) = (
                a + (b - a) * k as f64 / panels as f64,
                a + (b - a) * (k + 1) as f64 / panels as f64,
            );
            for (x, w) in nodes {
                let t = 0.5 * (lo + hi) + 0.5 * (hi - lo) * x;
                sum += 0.5 * (hi - lo) * w * st.profile_at(t).expect("finite").l;
            }
        }
        let closed = st.cumulative(a, b).expect("finite");
        assert!((sum - closed).abs() <= 1e-9 * closed, "{sum} {closed}");
    }
}
