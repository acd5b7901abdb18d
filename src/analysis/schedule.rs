//! The numbers a sampler needs from a process: alpha, sigma and their t-derivatives.
//!
//! [`Schedule`] keeps the sampler code numeric only. [`ProcessSchedule`] adapts a lowered
//! [`Process`]: alpha and sigma are differentiated symbolically (twice, on demand, for the
//! gradient of the KL of the Euler family) and evaluated in f64, with an
//! exact substitution as the fallback where the f64 formula breaks down (an endpoint such as
//! `tan(pi/2)`). [`Tangent`] and [`RectifiedFlow`] are closed forms for tests and studies.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

use num_rational::BigRational;

use crate::diag::{Diag, codes};
use crate::expr::{ExprId, Pool, Symbol, ball, diff, eval, limit, simplify};
use crate::process::{Process, time_symbol};

/// alpha(t), sigma(t) and their derivatives. A value that does not exist at `t` is NaN or
/// infinite; the samplers check every value they use and report it as an error.
pub trait Schedule {
    fn alpha(&self, t: f64) -> f64;
    fn sigma(&self, t: f64) -> f64;
    fn dalpha(&self, t: f64) -> f64;
    fn dsigma(&self, t: f64) -> f64;

    /// alpha''(t), which only the KL's gradient for the Euler family needs (their steps use
    /// alpha' at the grid times). NaN, "not known", unless the schedule provides it.
    fn d2alpha(&self, _t: f64) -> f64 {
        f64::NAN
    }

    /// sigma''(t), as [`Schedule::d2alpha`].
    fn d2sigma(&self, _t: f64) -> f64 {
        f64::NAN
    }

    /// rho = sigma/alpha (infinite where alpha = 0).
    fn rho(&self, t: f64) -> f64 {
        self.sigma(t) / self.alpha(t)
    }

    /// lambda = log(alpha/sigma), the half log-SNR.
    fn lambda(&self, t: f64) -> f64 {
        self.alpha(t).ln() - self.sigma(t).ln()
    }

    /// The name of alpha or sigma where its value at `t` is not zero but below f64's
    /// normal range, so that the f64 value (0 or subnormal) has lost its digits: a sampler
    /// that finds its output degenerate must know whether a zero is one. `None` where both
    /// are exact or normal, or the schedule cannot tell.
    fn below_f64(&self, _t: f64) -> Option<&'static str> {
        None
    }
}

/// `f(t)`, or, where it is not finite at t itself (sigma' is infinite where sigma = 0,
/// though sigma sigma' is not), its limit extrapolated linearly from t + h and t + 2h
/// toward `inside`: h = 2^-50, else 2^-40 or 2^-30 where those are not finite either. The
/// extrapolation's error is O(h^2).
pub(crate) fn limit_toward<const N: usize>(
    t: f64,
    inside: f64,
    f: impl Fn(f64) -> Option<[f64; N]>,
) -> Option<[f64; N]> {
    if let Some(v) = f(t) {
        return Some(v);
    }
    let sign = if inside >= t { 1.0 } else { -1.0 };
    [-50, -40, -30].into_iter().find_map(|k| {
        let h = sign * 2f64.powi(k);
        let (p, q) = (f(t + h)?, f(t + 2.0 * h)?);
        Some(std::array::from_fn(|i| 2.0 * p[i] - q[i]))
    })
}

/// Whether alpha(t)^2 or sigma(t)^2 is not zero but below f64's normal range (alpha = e^-450
/// is a normal f64 and its square is not): products of the schedule's values at `t` can
/// underflow there, and a result that comes out 0 or subnormal is not known to be one.
fn squares_underflow(sched: &dyn Schedule, t: f64) -> bool {
    let tiny = |v: f64| v != 0.0 && v * v < f64::MIN_POSITIVE;
    tiny(sched.alpha(t)) || tiny(sched.sigma(t)) || sched.below_f64(t).is_some()
}

/// Whether `v`, computed from the schedule's values at `t`, is 0 or subnormal where
/// [`squares_underflow`]: a value below f64's range, or one whose digits underflow took.
pub fn underflowed(sched: &dyn Schedule, t: f64, v: f64) -> bool {
    v.abs() < f64::MIN_POSITIVE && squares_underflow(sched, t)
}

/// A lowered process as a [`Schedule`]: its `alpha`, `sigma` and their symbolic derivatives.
pub struct ProcessSchedule {
    pool: RefCell<Pool>,
    t: Symbol,
    /// alpha, sigma, alpha', sigma'.
    exprs: [ExprId; 4],
    /// alpha'', sigma'': derived on first use (most commands never need them).
    second: OnceCell<[ExprId; 2]>,
}

impl ProcessSchedule {
    pub fn new(pool: &Pool, p: &Process) -> Result<ProcessSchedule, Diag> {
        let mut pool = pool.clone();
        let get = |name: &str| {
            p.quantity(name).ok_or_else(|| {
                Diag::new(
                    codes::ANALYSIS_PROCESS,
                    format!("process `{}` has no {name}(t)", p.name),
                )
            })
        };
        let (alpha, sigma) = (get("alpha")?, get("sigma")?);
        let t = time_symbol(&mut pool);
        let da = diff::diff(&mut pool, alpha, t);
        let da = simplify::simplify(&mut pool, da);
        let ds = diff::diff(&mut pool, sigma, t);
        let ds = simplify::simplify(&mut pool, ds);
        // Evaluated in f64: in forms without cancellation (`sqrt(-expm1(-B))`, not
        // `sqrt(1 - exp(-B))`), so the values keep their digits near the ends.
        let exprs = [alpha, sigma, da, ds].map(|e| crate::codegen::stable::stabilize(&mut pool, e));
        Ok(ProcessSchedule {
            pool: RefCell::new(pool),
            t,
            exprs,
            second: OnceCell::new(),
        })
    }

    fn value(&self, which: usize, t: f64) -> f64 {
        self.value_of(self.exprs[which], t)
    }

    fn second(&self, which: usize) -> ExprId {
        self.second.get_or_init(|| {
            let mut pool = self.pool.borrow_mut();
            let [_, _, da, ds] = self.exprs;
            [da, ds].map(|e| {
                let d2 = diff::diff(&mut pool, e, self.t);
                let d2 = simplify::simplify(&mut pool, d2);
                crate::codegen::stable::stabilize(&mut pool, d2)
            })
        })[which]
    }

    fn value_of(&self, e: ExprId, t: f64) -> f64 {
        // The ends are where f64 formulas round exact zeros (cos(pi/2)); take them exactly.
        if t == 0.0 || t == 1.0 {
            return self.exact_value(e, t);
        }
        let direct = eval::eval_f64(&self.pool.borrow(), e, &[(self.t, t)]);
        match direct {
            Ok(v) => v,
            Err(_) => self.exact_value(e, t),
        }
    }

    /// The correctly rounded value at the exact time `t` (certified: `cos(pi/2)` is 0, not
    /// a rounding error), or where the formula is undefined at `t` itself (tangent's alpha
    /// has `tan(pi/2)`) its limit from inside [0, 1] ([`limit::value_at`]). NaN if there
    /// is no finite value.
    fn exact_value(&self, e: ExprId, t: f64) -> f64 {
        let Some(r) = BigRational::from_float(t) else {
            return f64::NAN;
        };
        let pool = self.pool.borrow();
        limit::value_at(
            &pool,
            e,
            &[(self.t, r)],
            &[self.t],
            limit::MAX_POINT_BITS,
            &ball::round_f64,
        )
        .map_or(f64::NAN, f64::from_bits)
    }

    /// Whether `e` at the exact time `t` is certainly not zero ([`ball::certainly_nonzero`]).
    fn certainly_nonzero(&self, e: ExprId, t: f64) -> bool {
        BigRational::from_float(t).is_some_and(|r| {
            let pool = self.pool.borrow();
            ball::certainly_nonzero(&pool, e, &[(self.t, r)], limit::MAX_POINT_BITS)
        })
    }
}

impl Schedule for ProcessSchedule {
    fn alpha(&self, t: f64) -> f64 {
        self.value(0, t)
    }
    fn sigma(&self, t: f64) -> f64 {
        self.value(1, t)
    }
    fn dalpha(&self, t: f64) -> f64 {
        self.value(2, t)
    }
    fn dsigma(&self, t: f64) -> f64 {
        self.value(3, t)
    }
    fn d2alpha(&self, t: f64) -> f64 {
        self.value_of(self.second(0), t)
    }
    fn d2sigma(&self, t: f64) -> f64 {
        self.value_of(self.second(1), t)
    }
    fn below_f64(&self, t: f64) -> Option<&'static str> {
        ["alpha", "sigma"]
            .into_iter()
            .enumerate()
            .find_map(|(which, name)| {
                let v = self.value(which, t);
                ((v == 0.0 || v.is_subnormal()) && self.certainly_nonzero(self.exprs[which], t))
                    .then_some(name)
            })
    }
}

/// A schedule that remembers every value it has computed: for searches that re-evaluate a
/// grid with one point moved.
pub struct Cached<'a> {
    inner: &'a dyn Schedule,
    memo: RefCell<HashMap<(u8, u64), f64>>,
}

impl<'a> Cached<'a> {
    pub fn new(inner: &'a dyn Schedule) -> Cached<'a> {
        Cached {
            inner,
            memo: RefCell::new(HashMap::new()),
        }
    }

    fn get(&self, which: u8, t: f64, f: impl Fn(f64) -> f64) -> f64 {
        if let Some(&v) = self.memo.borrow().get(&(which, t.to_bits())) {
            return v;
        }
        let v = f(t);
        self.memo.borrow_mut().insert((which, t.to_bits()), v);
        v
    }
}

impl Schedule for Cached<'_> {
    fn alpha(&self, t: f64) -> f64 {
        self.get(0, t, |t| self.inner.alpha(t))
    }
    fn sigma(&self, t: f64) -> f64 {
        self.get(1, t, |t| self.inner.sigma(t))
    }
    fn dalpha(&self, t: f64) -> f64 {
        self.get(2, t, |t| self.inner.dalpha(t))
    }
    fn dsigma(&self, t: f64) -> f64 {
        self.get(3, t, |t| self.inner.dsigma(t))
    }
    fn d2alpha(&self, t: f64) -> f64 {
        self.get(4, t, |t| self.inner.d2alpha(t))
    }
    fn d2sigma(&self, t: f64) -> f64 {
        self.get(5, t, |t| self.inner.d2sigma(t))
    }
    fn below_f64(&self, t: f64) -> Option<&'static str> {
        self.inner.below_f64(t)
    }
}

/// The tangent law rho = gamma tan(pi t/2) as a variance-preserving process
/// (docs/theory.md section 6): alpha = cos(theta)/sqrt(D), sigma = gamma sin(theta)/sqrt(D),
/// theta = pi t/2, D = cos^2 theta + gamma^2 sin^2 theta. `gamma = 1` is the cosine schedule.
#[derive(Clone, Copy, Debug)]
pub struct Tangent {
    pub gamma: f64,
}

impl Tangent {
    fn parts(&self, t: f64) -> (f64, f64, f64, f64) {
        let theta = std::f64::consts::FRAC_PI_2 * t;
        let (s, c) = theta.sin_cos();
        let g2 = self.gamma * self.gamma;
        let d = c * c + g2 * s * s;
        // dD/dt = (gamma^2 - 1) * 2 sin cos * pi/2
        let dd = (g2 - 1.0) * 2.0 * s * c * std::f64::consts::FRAC_PI_2;
        (s, c, d, dd)
    }

    /// The second theta-derivatives of cos(theta) D^-1/2 and sin(theta) D^-1/2, with
    /// D_theta = (gamma^2 - 1) sin(2 theta) and D_theta_theta = 2 (gamma^2 - 1) cos(2 theta).
    fn second(&self, t: f64) -> (f64, f64) {
        let theta = std::f64::consts::FRAC_PI_2 * t;
        let (s, c) = theta.sin_cos();
        let k = self.gamma * self.gamma - 1.0;
        let d = c * c + (k + 1.0) * s * s;
        let d1 = k * (2.0 * theta).sin();
        let d2 = 2.0 * k * (2.0 * theta).cos();
        let (r1, r3, r5) = (d.powf(-0.5), d.powf(-1.5), d.powf(-2.5));
        let cos_part = -c * r1 + s * d1 * r3 + 0.75 * c * d1 * d1 * r5 - 0.5 * c * d2 * r3;
        let sin_part = -s * r1 - c * d1 * r3 + 0.75 * s * d1 * d1 * r5 - 0.5 * s * d2 * r3;
        (cos_part, sin_part)
    }
}

impl Schedule for Tangent {
    fn alpha(&self, t: f64) -> f64 {
        let (_, c, d, _) = self.parts(t);
        c / d.sqrt()
    }
    fn sigma(&self, t: f64) -> f64 {
        let (s, _, d, _) = self.parts(t);
        self.gamma * s / d.sqrt()
    }
    fn dalpha(&self, t: f64) -> f64 {
        let (s, c, d, dd) = self.parts(t);
        (-s * std::f64::consts::FRAC_PI_2 * d - c * dd / 2.0) / (d * d.sqrt())
    }
    fn dsigma(&self, t: f64) -> f64 {
        let (s, c, d, dd) = self.parts(t);
        self.gamma * (c * std::f64::consts::FRAC_PI_2 * d - s * dd / 2.0) / (d * d.sqrt())
    }
    fn d2alpha(&self, t: f64) -> f64 {
        std::f64::consts::FRAC_PI_2.powi(2) * self.second(t).0
    }
    fn d2sigma(&self, t: f64) -> f64 {
        self.gamma * std::f64::consts::FRAC_PI_2.powi(2) * self.second(t).1
    }
}

/// Rectified flow: alpha = 1 - t, sigma = t.
#[derive(Clone, Copy, Debug)]
pub struct RectifiedFlow;

impl Schedule for RectifiedFlow {
    fn alpha(&self, t: f64) -> f64 {
        1.0 - t
    }
    fn sigma(&self, t: f64) -> f64 {
        t
    }
    fn dalpha(&self, _: f64) -> f64 {
        -1.0
    }
    fn dsigma(&self, _: f64) -> f64 {
        1.0
    }
    fn d2alpha(&self, _: f64) -> f64 {
        0.0
    }
    fn d2sigma(&self, _: f64) -> f64 {
        0.0
    }
}

/// The Ornstein-Uhlenbeck process dX = -beta X dt + sqrt(2 beta) dW from the data: alpha =
/// e^(-beta t), sigma = sqrt(1 - e^(-2 beta t)) (variance preserving); the setting of the
/// flow-map distillation analysis (docs/theory.md section 8).
#[derive(Clone, Copy, Debug)]
pub struct OrnsteinUhlenbeck {
    pub beta: f64,
}

impl Schedule for OrnsteinUhlenbeck {
    fn alpha(&self, t: f64) -> f64 {
        (-self.beta * t).exp()
    }
    fn sigma(&self, t: f64) -> f64 {
        (-(-2.0 * self.beta * t).exp_m1()).sqrt()
    }
    fn dalpha(&self, t: f64) -> f64 {
        -self.beta * self.alpha(t)
    }
    fn dsigma(&self, t: f64) -> f64 {
        // (sigma^2)' = 2 beta e^(-2 beta t); infinite at t = 0, where sigma = 0.
        self.beta * (-2.0 * self.beta * t).exp() / self.sigma(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ornstein_uhlenbeck_derivatives_match_finite_differences() {
        let s = OrnsteinUhlenbeck { beta: 5.0 };
        for t in [0.05, 0.3, 0.9] {
            let h = 1e-6;
            let fd_a = (s.alpha(t + h) - s.alpha(t - h)) / (2.0 * h);
            let fd_s = (s.sigma(t + h) - s.sigma(t - h)) / (2.0 * h);
            assert!(
                (s.dalpha(t) - fd_a).abs() < 1e-8 * fd_a.abs().max(1.0),
                "{t}"
            );
            assert!(
                (s.dsigma(t) - fd_s).abs() < 1e-7 * fd_s.abs().max(1.0),
                "{t}"
            );
            assert!((s.alpha(t).powi(2) + s.sigma(t).powi(2) - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn tangent_derivatives_match_finite_differences() {
        for gamma in [0.3, 1.0, 2.5] {
            let s = Tangent { gamma };
            for t in [0.1, 0.5, 0.93] {
                let h = 1e-6;
                let fd_a = (s.alpha(t + h) - s.alpha(t - h)) / (2.0 * h);
                let fd_s = (s.sigma(t + h) - s.sigma(t - h)) / (2.0 * h);
                assert!((s.dalpha(t) - fd_a).abs() < 1e-8, "{gamma} {t}");
                assert!((s.dsigma(t) - fd_s).abs() < 1e-8, "{gamma} {t}");
                let fd_a2 = (s.dalpha(t + h) - s.dalpha(t - h)) / (2.0 * h);
                let fd_s2 = (s.dsigma(t + h) - s.dsigma(t - h)) / (2.0 * h);
                assert!((s.d2alpha(t) - fd_a2).abs() < 1e-7, "{gamma} {t}");
                assert!((s.d2sigma(t) - fd_s2).abs() < 1e-7, "{gamma} {t}");
                // rho = gamma tan(pi t/2)
                let rho = gamma * (std::f64::consts::FRAC_PI_2 * t).tan();
                assert!((s.rho(t) / rho - 1.0).abs() < 1e-14);
            }
        }
    }
}
