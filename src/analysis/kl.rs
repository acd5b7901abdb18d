//! Samplers on a Gaussian source with the exact score, and the exact KL of their output.
//!
//! With the exact denoiser every sampler step is, per eigen-direction i, an affine map of
//! y = x - alpha(t) m_i plus independent Gaussian noise (docs/theory.md sections 3 and 4):
//! `y' = A y + D m_i + sqrt(Q) z`. The output law is propagated in closed form, mean and
//! variance, never by sampling. The reference law at each time is the true marginal
//! N(alpha m_i, v(t)), v = alpha^2 lambda_i + sigma^2, so at t_min = 0 it is the data.
//!
//! Accuracy for tiny KL: the variance is tracked relative to v(t) (DDIM: as the product of
//! `1 + tan^2(dphi)` held as `1 + w`; others: as `r = V/v`, and as `r - 1` while r is near
//! 1), each step's change of `V/v - 1` is formed without cancellation (closed forms for
//! DPM-1 and DDPM; for the Euler family, Taylor remainders of alpha^2 and sigma^2 formed
//! once per step in double-double), the KL is formed from `u = ln(V/v)` by
//! cancellation-free tails, and sums over directions are compensated. The recursion runs on
//! blocks of directions at once (`lanes.rs`).

use super::numerics::{Sum, exp_neg_tail, exp_pos_tail};
use super::{GaussianSource, Schedule};
use crate::codegen::runtime::Dd;
use crate::diag::{Diag, codes};

mod gradient;
mod lanes;

use lanes::{Drift, LANES, Lanes, Map, Posterior, State, Step, Trapezoid};

pub use gradient::{KlGradient, exact_kl_gradient, exact_kl_gradient_with_workers};

/// The samplers of docs/theory.md section 2, each with the exact Gaussian score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sampler {
    /// DDIM (eta = 0), in the angle form of docs/theory.md section 4.
    Ddim,
    /// Euler on the probability-flow ODE, velocity `alpha' x0_hat + sigma' eps_hat`.
    Euler,
    /// EDM's Heun: Euler predictor, trapezoid corrector (plain Euler on a step to sigma = 0).
    Heun,
    /// DPM-Solver-1 (the exponential integrator); the same map as DDIM, here through the
    /// general affine recursion with c = (a_k a_{k-1} lambda + s_k s_{k-1})/v_k.
    Dpm1,
    /// Euler-Maruyama on the reverse SDE.
    EulerMaruyama,
    /// DDPM ancestral sampling: the forward process's exact posterior q(x_{k-1} | x_k, x0_hat).
    Ddpm,
}

impl Sampler {
    pub const ALL: [Sampler; 6] = [
        Sampler::Ddim,
        Sampler::Euler,
        Sampler::Heun,
        Sampler::Dpm1,
        Sampler::EulerMaruyama,
        Sampler::Ddpm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sampler::Ddim => "ddim",
            Sampler::Euler => "euler",
            Sampler::Heun => "heun",
            Sampler::Dpm1 => "dpm1",
            Sampler::EulerMaruyama => "euler_maruyama",
            Sampler::Ddpm => "ddpm",
        }
    }

    pub fn from_name(name: &str) -> Option<Sampler> {
        Sampler::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The law the sampler starts from at t_max.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The prior N(0, I).
    Prior,
    /// The true marginal N(alpha m, alpha^2 Sigma + sigma^2 I) at t_max.
    Exact,
}

impl Start {
    pub const ALL: [Start; 2] = [Start::Prior, Start::Exact];

    pub fn name(self) -> &'static str {
        match self {
            Start::Prior => "prior",
            Start::Exact => "exact",
        }
    }
}

/// Both directions of the KL between the source (the true marginal at t_min) and the output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kl {
    pub kl_src_out: f64,
    pub kl_out_src: f64,
}

/// The output law of one eigen-direction at t_min, relative to the true marginal
/// N(alpha m, `ref_var`): variance `ref_var * exp(log_var_ratio)`, mean off by `mean_error`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DirectionLaw {
    pub log_var_ratio: f64,
    pub mean_error: f64,
    pub ref_var: f64,
}

impl DirectionLaw {
    pub fn variance(&self) -> f64 {
        self.ref_var * self.log_var_ratio.exp()
    }

    /// KL(source || output) and KL(output || source) of this direction.
    pub fn kl(&self) -> Kl {
        let u = self.log_var_ratio;
        if !u.is_finite() {
            return Kl {
                kl_src_out: f64::INFINITY,
                kl_out_src: f64::INFINITY,
            };
        }
        let d2 = self.mean_error * self.mean_error;
        Kl {
            kl_src_out: 0.5 * (exp_neg_tail(u) + d2 / self.variance()),
            kl_out_src: 0.5 * (exp_pos_tail(u) + d2 / self.ref_var),
        }
    }
}

/// Schedule values at one grid time; a' and s' are 0 where the sampler needs none.
#[derive(Clone, Copy, Debug)]
pub(super) struct Point {
    pub t: f64,
    pub a: f64,
    pub s: f64,
    pub da: f64,
    pub ds: f64,
}

/// One step of one direction, `y' = A y + D m + sqrt(Q) z`, with the variance ratio to the
/// true marginal carried as `V'/v' = G V/v + q` (G = A^2 v_k/v_{k-1}, q = Q/v_{k-1}).
/// `gq1 = G - 1 + q`, the change of `V/v - 1` at `V = v`, is O(h^2) or smaller on a fine
/// grid and must not be formed by cancellation.
#[derive(Clone, Copy, Debug)]
struct StepMap {
    a: f64,
    d: f64,
    g: f64,
    q: f64,
    gq1: f64,
}

/// Everything the per-direction recursion needs, for one sampler on one grid.
struct Prepared {
    sampler: Sampler,
    start: Start,
    /// Ascending: pts[0] is t_min, pts[N] is t_max.
    pts: Vec<Point>,
    steps: Vec<Step>,
}

pub(super) fn undefined(sampler: Sampler, what: &str, t: f64) -> Diag {
    Diag::new(
        codes::ANALYSIS_SAMPLER,
        format!("{} is undefined here: {what} at t = {t}", sampler.name()),
    )
}

/// The schedule's values at the times of `grid` (ascending, at least 2), checked: finite,
/// not both zero, alpha > 0 at the data end, and a' and s' finite where `sampler` uses them
/// (a' and s' are 0 elsewhere). Shared by the exact KL and the learned samplers.
pub(super) fn grid_points(
    sched: &dyn Schedule,
    sampler: Sampler,
    grid: &[f64],
) -> Result<Vec<Point>, Diag> {
    if grid.len() < 2
        || grid
            .windows(2)
            .any(|w| w[0].is_nan() || w[0] >= w[1] || w[1].is_nan())
    {
        return Err(Diag::new(
            codes::ANALYSIS_SAMPLER,
            "a sampler needs an ascending grid of at least 2 times",
        ));
    }
    let needs_derivative = |k: usize| match sampler {
        Sampler::Ddim | Sampler::Dpm1 | Sampler::Ddpm => false,
        Sampler::Euler | Sampler::EulerMaruyama => k >= 1,
        Sampler::Heun => true,
    };
    let mut pts = Vec::with_capacity(grid.len());
    for (k, &t) in grid.iter().enumerate() {
        let (a, s) = (sched.alpha(t), sched.sigma(t));
        if !(a.is_finite() && s.is_finite() && a >= 0.0 && s >= 0.0) {
            return Err(undefined(
                sampler,
                &format!("alpha = {a}, sigma = {s} (need finite values >= 0)"),
                t,
            ));
        }
        if a == 0.0 && s == 0.0 {
            return Err(undefined(sampler, "alpha = sigma = 0", t));
        }
        let (mut da, mut ds) = (0.0, 0.0);
        if needs_derivative(k) {
            // Heun skips the corrector on a step that ends at sigma = 0, so t_0 with
            // sigma = 0 needs no derivative.
            let skip = sampler == Sampler::Heun && k == 0 && s == 0.0;
            if !skip {
                (da, ds) = (sched.dalpha(t), sched.dsigma(t));
                if !(da.is_finite() && ds.is_finite()) {
                    return Err(undefined(
                        sampler,
                        &format!("alpha' = {da}, sigma' = {ds} are not finite"),
                        t,
                    )
                    .with_help("move the grid's end inward with --t-min or --t-max"));
                }
            }
        }
        pts.push(Point { t, a, s, da, ds });
    }
    if pts[0].a == 0.0 {
        return Err(undefined(
            sampler,
            "alpha = 0 at the data end, so the output carries no information",
            pts[0].t,
        ));
    }
    Ok(pts)
}

impl Prepared {
    fn new(
        sched: &dyn Schedule,
        sampler: Sampler,
        grid: &[f64],
        start: Start,
    ) -> Result<Prepared, Diag> {
        let pts = grid_points(sched, sampler, grid)?;
        let n = grid.len() - 1;
        for k in 1..=n {
            let (p, q) = (pts[k], pts[k - 1]);
            match sampler {
                // alpha below sigma e^-36 is a rounded zero (as for the grids).
                Sampler::EulerMaruyama if p.a <= p.s * (-36f64).exp() => {
                    return Err(undefined(
                        sampler,
                        "alpha = 0, where the reverse SDE's g2 and f are infinite",
                        p.t,
                    )
                    .with_help("start below the end point, e.g. `--t-max 0.999`"));
                }
                Sampler::Ddpm if q.a == 0.0 || p.s == 0.0 => {
                    return Err(undefined(
                        sampler,
                        "the posterior needs alpha > 0 at the step's end and sigma > 0 at its start",
                        p.t,
                    ));
                }
                _ => {}
            }
        }
        let steps = (1..=n)
            .map(|k| Prepared::step(sampler, &pts[k], &pts[k - 1]))
            .collect();
        Ok(Prepared {
            sampler,
            start,
            pts,
            steps,
        })
    }

    /// The coefficients of the step from `p` (t_k) to `q` (t_{k-1}). The Euler family's
    /// O(h^2) and O(h^3) combinations of O(1) values are formed in double-double from the
    /// exact f64 inputs (and the exact h) and rounded once.
    fn step(sampler: Sampler, p: &Point, q: &Point) -> Step {
        let x = p.s * q.a - q.s * p.a;
        let map = match sampler {
            Sampler::Ddim => Map::Ddim,
            Sampler::Dpm1 => Map::Dpm1,
            Sampler::Ddpm => {
                // 1 - E = 1 - (a_p s_q/(a_q s_p))^2 = X (a_q s_p + a_p s_q) / (a_q s_p)^2:
                // one rounded difference, X.
                let (w, b) = (q.a * p.s + p.a * q.s, q.a * p.s);
                let xw_b = x * w / b;
                Map::Ddpm(Posterior {
                    ratio: p.a / q.a,
                    post_var: q.s * q.s * (xw_b / b),
                    shrink: xw_b * xw_b,
                })
            }
            Sampler::Euler | Sampler::Heun | Sampler::EulerMaruyama => {
                Prepared::drift_step(sampler, p, q)
            }
        };
        Step {
            aq2: q.a * q.a,
            sq2: q.s * q.s,
            x,
            x2: x * x,
            p: p.a * q.a,
            s: p.s * q.s,
            map,
        }
    }

    /// The Euler family's step: its O(h^2) and O(h^3) combinations of O(1) values are
    /// formed in double-double from the exact f64 inputs (and the exact h), rounded once.
    fn drift_step(sampler: Sampler, p: &Point, q: &Point) -> Map {
        let h = q.t - p.t;
        let hd = Dd::from_f64(q.t) - Dd::from_f64(p.t);
        let dd = Dd::from_f64;
        let euler_d = rounded(dd(p.a) - dd(q.a) + hd * dd(p.da), || (p.a - q.a) + h * p.da);
        // A's numerator over v_p (Heun: its predictor's): a_p^2 + h a_p a'_p, and alike.
        let e1 = square_plus(hd, p.a, dd(p.a) * dd(p.da));
        // Heun's corrector, except on a step that ends at sigma = 0.
        if sampler == Sampler::Heun && q.s != 0.0 {
            let da2 = dd(p.da) + dd(q.da);
            return Map::Heun(Trapezoid {
                h,
                c1p: p.a * p.da,
                c2p: p.s * p.ds,
                c1q: q.a * q.da,
                c2q: q.s * q.ds,
                e1,
                e2: square_plus(hd, p.s, dd(p.s) * dd(p.ds)),
                alpha2: square_defect(hd, (p.a, p.da, 1.0), (q.a, q.da, 1.0)),
                sigma2: square_defect(hd, (p.s, p.ds, 1.0), (q.s, q.ds, 1.0)),
                gamma_a: square_defect(hd, (p.a, p.da, 1.0), (q.a, q.da, 0.0)),
                gamma_s: square_defect(hd, (p.s, p.ds, 1.0), (q.s, q.ds, 0.0)),
                d: rounded(dd(p.a) - dd(q.a) + (hd * da2).mul_f64(0.5), || {
                    p.a - q.a + 0.5 * h * (p.da + q.da)
                }),
                d_rate: 0.5 * h * euler_d,
            });
        }
        let (mut c2, mut q_var) = (p.s * p.ds, 0.0);
        if sampler == Sampler::EulerMaruyama {
            // The reverse SDE's g2 = 2 s s' - 2 a' s^2/a at t_k: its drift adds g2/2 to the
            // rate's numerator, and it injects g2 |h| of variance.
            let g2 = 2.0 * p.s * (p.ds - p.da * p.s / p.a);
            c2 += 0.5 * g2;
            q_var = g2 * h.abs();
        }
        Map::Euler(Drift {
            h,
            c1: p.a * p.da,
            c2,
            e1,
            e2: square_plus(hd, p.s, dd(c2)),
            alpha2: square_defect(hd, (p.a, p.da, 2.0), (q.a, q.da, 0.0)),
            sigma2: square_defect(hd, (p.s, p.ds, 2.0), (q.s, q.ds, 0.0)),
            d: euler_d,
            q_var,
        })
    }

    fn v(p: &Point, lam: f64) -> f64 {
        p.a * p.a * lam + p.s * p.s
    }

    /// Checks that the direction `lam`, whose output variance came out 0, is degenerate:
    /// infinitely far from the source only if a step maps every point to one (A = 0), with
    /// schedule values that are zeros, not values that underflowed f64 (alpha = e^-1500 is
    /// 0 in f64, and a step from there to sigma = 0 would seem to map every point to one).
    /// Otherwise the output law is not degenerate and its KL, finite, is beyond f64.
    fn check_degenerate(&self, sched: &dyn Schedule, lam: f64) -> Result<(), Diag> {
        let beyond = |why: String| {
            Diag::new(
                codes::ANALYSIS_BEYOND_F64,
                format!("the KL of {} is beyond f64: {why}", self.sampler.name()),
            )
        };
        // steps[k] goes from pts[k + 1] to pts[k].
        let collapsing = self.steps.iter().enumerate().find(|&(k, c)| {
            let (p, q) = (&self.pts[k + 1], &self.pts[k]);
            let (vp, vq) = (Prepared::v(p, lam), Prepared::v(q, lam));
            lanes::step_map(c, lam, vp, 1.0 / vp, vq, 1.0 / vq).a == 0.0
        });
        let Some((k, _)) = collapsing else {
            return Err(beyond(
                "its output law is finite, but its variance is below f64's range".to_owned(),
            ));
        };
        let (p, q) = (&self.pts[k + 1], &self.pts[k]);
        for t in [p.t, q.t] {
            if let Some(name) = sched.below_f64(t) {
                return Err(beyond(format!(
                    "{name}({t}) is not 0 but below f64's range, so the step from t = {} to t = {} \
                     does not map every point to one, as it seems to in f64",
                    p.t, q.t
                ))
                .with_help(
                    "take the grid where alpha and sigma are 0 or above 1e-300, e.g. a smaller --t-max",
                ));
            }
        }
        Ok(())
    }

    /// d/dt log sqrt(v) = (a a' lambda + s s')/v: the exact flow's rate for y.
    fn rate(p: &Point, lam: f64) -> f64 {
        (p.a * p.da * lam + p.s * p.ds) / Prepared::v(p, lam)
    }

    /// The output law of the direction with eigenvalue `lam` and mean `m`: the blocked
    /// recursion on a block of one.
    fn law(&self, lam: f64, m: f64) -> DirectionLaw {
        let mut law = None;
        Lanes::<1>::new().laws(self, std::iter::once((lam, m)), |l| law = Some(l));
        law.unwrap_or_else(|| unreachable!("one direction in, one law out"))
    }

    /// DDIM's output law from w (prod_k cos^2(dphi_k) = 1/(1 + w)).
    fn ddim_law(&self, lam: f64, m: f64, w: f64) -> DirectionLaw {
        let (first, last) = (&self.pts[0], &self.pts[self.pts.len() - 1]);
        let v0 = Prepared::v(first, lam);
        let vn = Prepared::v(last, lam);
        let log1pw = w.ln_1p();
        match self.start {
            Start::Exact => DirectionLaw {
                log_var_ratio: -log1pw,
                mean_error: 0.0,
                ref_var: v0,
            },
            Start::Prior => {
                // y_N = x_N - a_N m ~ N(-a_N m, 1); gain G = sqrt(v0 / (vN (1 + w))).
                let gain = (v0 / vn).sqrt() * (-0.5 * log1pw).exp();
                DirectionLaw {
                    log_var_ratio: -vn.ln() - log1pw,
                    mean_error: -gain * last.a * m,
                    ref_var: v0,
                }
            }
        }
    }

    /// The general recursion `y' = A y + D m + sqrt(Q) z` for one direction, showing
    /// `record` each step's map with the state (r, mu) it is applied to, from step N down to
    /// step 1 (the gradient's reverse pass needs them). Bit-identical to [`Prepared::law`]
    /// (the same per-lane arithmetic).
    fn affine_traced(
        &self,
        lam: f64,
        m: f64,
        mut record: impl FnMut(&StepMap, [f64; 2]),
    ) -> DirectionLaw {
        let mut st = State::start(self, lam, m);
        for c in self.steps.iter().rev() {
            let vq = c.aq2 * lam + c.sq2;
            let iq = 1.0 / vq;
            let map = lanes::step_map(c, lam, st.v, st.iv, vq, iq);
            record(&map, [st.r, st.mu]);
            st.advance(&map, m, vq, iq);
        }
        st.law()
    }
}

/// A double-double value rounded to f64, or `fallback` (the f64 formula) where the double-
/// double one overflows (Dekker's split needs headroom).
fn rounded(x: Dd, fallback: impl FnOnce() -> f64) -> f64 {
    let y = x.to_f64();
    if y.is_finite() { y } else { fallback() }
}

/// `x^2 + h c` in double-double, rounded once (the f64 formula where it overflows).
fn square_plus(h: Dd, x: f64, c: Dd) -> f64 {
    rounded(Dd::from_f64(x).square() + h * c, || {
        x * x + h.to_f64() * c.to_f64()
    })
}

/// `x_p^2 - x_q^2 + h (w_p x_p x'_p + w_q x_q x'_q)` for `(x, x', w)` at both ends: a
/// Taylor remainder of x^2, O(h^2) or O(h^3), formed without cancellation.
fn square_defect(h: Dd, (xp, dxp, wp): (f64, f64, f64), (xq, dxq, wq): (f64, f64, f64)) -> f64 {
    let (p, q) = (Dd::from_f64(xp), Dd::from_f64(xq));
    let mut s = p.square() - q.square();
    if wp != 0.0 {
        s = s + h * (p * Dd::from_f64(dxp)).mul_f64(wp);
    }
    if wq != 0.0 {
        s = s + h * (q * Dd::from_f64(dxq)).mul_f64(wq);
    }
    rounded(s, || {
        xp * xp - xq * xq + h.to_f64() * (wp * xp * dxp + wq * xq * dxq)
    })
}
/// The output law of every eigen-direction of `source` (in the source's eigen order).
pub fn output_laws(
    sched: &dyn Schedule,
    source: &GaussianSource,
    sampler: Sampler,
    grid: &[f64],
    start: Start,
) -> Result<Vec<DirectionLaw>, Diag> {
    let prep = Prepared::new(sched, sampler, grid, start)?;
    let mut laws = Vec::with_capacity(source.dimension());
    let mut lanes = Lanes::<LANES>::new();
    let dirs: Vec<(f64, f64)> = source
        .eigenvalues
        .iter()
        .copied()
        .zip(source.mean.iter().copied())
        .collect();
    for block in dirs.chunks(LANES) {
        lanes.laws(&prep, block.iter().copied(), |l| laws.push(l));
    }
    Ok(laws)
}

/// The estimated time of the exact KLs for the step counts `steps` on a source of dimension
/// `d`, in ns on a 2-core machine: each grid point costs a schedule evaluation (about 3 us:
/// measured 1.0 us for DDIM and 1.8 us for the Euler family, which need alpha' and sigma',
/// on the bundled cosine process, 3 us on vp_linear; the slowest bundled processes take up
/// to 12 us, so for them the estimate is low by up to 4x) and each direction one update
/// per point (about 1 ns: measured 0.3 to 0.8 ns with AVX2, bench `exact_kl`, twice that
/// without).
pub fn kl_work(steps: &[usize], d: usize) -> f64 {
    steps
        .iter()
        .map(|&n| (n as f64 + 1.0) * (3000.0 + d as f64))
        .sum()
}

/// The largest [`kl_work`] a command accepts: about 30 s.
pub const KL_WORK_BUDGET: f64 = 30e9;

/// Directions per work unit. Fixed, so the summation order (and the printed result) does
/// not depend on the number of threads.
const CHUNK: usize = 4096;

/// The threads worth starting for `d` directions: available_parallelism reads cgroup
/// files, so it is asked only when there is more than one chunk to split.
fn default_workers(d: usize) -> usize {
    if d > CHUNK {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

/// `f` of every chunk of the `d` directions, in chunk order, on at most `workers` threads.
fn per_chunk<T: Send>(
    d: usize,
    workers: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    let chunks = d.div_ceil(CHUNK);
    let range = |c: usize| c * CHUNK..((c + 1) * CHUNK).min(d);
    let workers = workers.clamp(1, chunks.max(1));
    if workers <= 1 {
        return (0..chunks).map(|c| f(range(c))).collect();
    }
    let mut slots: Vec<Option<T>> = (0..chunks).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (f, range) = (&f, &range);
                scope.spawn(move || {
                    (w..chunks)
                        .step_by(workers)
                        .map(|c| (c, f(range(c))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            let results = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            for (c, r) in results {
                slots[c] = Some(r);
            }
        }
    });
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| unreachable!("every chunk is assigned to a worker")))
        .collect()
}

/// The exact KL, both directions, of `sampler` on `grid` (ascending times) against the true
/// marginal at `grid[0]`. Directions are split over the available cores. Infinite where a
/// step maps every point of a direction to one; an error where the KL is finite but beyond
/// f64 (including an output variance that only seems 0 because f64 underflowed).
pub fn exact_kl(
    sched: &dyn Schedule,
    source: &GaussianSource,
    sampler: Sampler,
    grid: &[f64],
    start: Start,
) -> Result<Kl, Diag> {
    let workers = default_workers(source.dimension());
    exact_kl_with_workers(sched, source, sampler, grid, start, workers)
}

/// [`exact_kl`] on at most `workers` threads. The result does not depend on `workers`:
/// directions are summed in fixed chunks, merged in chunk order.
pub fn exact_kl_with_workers(
    sched: &dyn Schedule,
    source: &GaussianSource,
    sampler: Sampler,
    grid: &[f64],
    start: Start,
    workers: usize,
) -> Result<Kl, Diag> {
    let prep = Prepared::new(sched, sampler, grid, start)?;
    let partial = per_chunk(source.dimension(), workers, |dirs| {
        let (mut a, mut b) = (Sum::new(), Sum::new());
        let mut degenerate = false;
        let mut lanes = Lanes::<LANES>::new();
        let (eigs, means) = (&source.eigenvalues[dirs.clone()], &source.mean[dirs]);
        for (l, m) in eigs.chunks(LANES).zip(means.chunks(LANES)) {
            let block = l.iter().copied().zip(m.iter().copied());
            lanes.laws(&prep, block, |law| {
                degenerate |= !law.log_var_ratio.is_finite();
                let kl = law.kl();
                a.add(kl.kl_src_out);
                b.add(kl.kl_out_src);
            });
        }
        (a, b, degenerate)
    });
    let (mut a, mut b) = (Sum::new(), Sum::new());
    let mut degenerate = false;
    for (x, y, z) in partial {
        a.merge(x);
        b.merge(y);
        degenerate |= z;
    }
    if degenerate {
        for (&l, &m) in source.eigenvalues.iter().zip(&source.mean) {
            if !prep.law(l, m).log_var_ratio.is_finite() {
                prep.check_degenerate(sched, l)?;
            }
        }
    }
    let kl = Kl {
        kl_src_out: a.value(),
        kl_out_src: b.value(),
    };
    // Infinite where a direction's output is degenerate; otherwise an infinity is an
    // overflow of a finite KL (a mean 1e300 standard deviations off), not a value.
    let finite = kl.kl_src_out.is_finite() && kl.kl_out_src.is_finite();
    if !degenerate && !finite {
        return Err(Diag::new(
            codes::ANALYSIS_BEYOND_F64,
            format!(
                "the KL of {} is beyond f64: its output law is finite, but too far from the \
                 source",
                sampler.name()
            ),
        ));
    }
    Ok(kl)
}
