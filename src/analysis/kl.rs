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
//! DPM-1 and DDPM, O(h) logs for the Euler family), the KL is formed from `u = ln(V/v)` by
//! cancellation-free tails, and sums over directions are compensated.

use super::numerics::{Sum, exp_neg_tail, exp_pos_tail};
use super::{GaussianSource, Schedule};
use crate::diag::{Diag, codes};

mod gradient;

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

/// Schedule values at one grid time.
#[derive(Clone, Copy, Debug)]
struct Point {
    t: f64,
    a: f64,
    s: f64,
    da: f64,
    ds: f64,
}

/// One step's direction-independent scalars, computed once per time point.
#[derive(Clone, Copy, Debug, Default)]
struct Step {
    // DDIM and DPM-1: X = s_k a_{k-1} - s_{k-1} a_k, X^2, P = a_k a_{k-1}, S = s_k s_{k-1}.
    x: f64,
    x2: f64,
    p: f64,
    s: f64,
    // DDPM: a_k/a_{k-1}; the posterior variance s_{k-1}^2 (1 - E); and
    // X^2 (a_{k-1} s_k + a_k s_{k-1})^2 / (a_{k-1} s_k)^2, the numerator of G + q - 1.
    ratio: f64,
    post_var: f64,
    shrink: f64,
    // Euler family: v_k - v_{k-1} = dalpha2 lambda + dsigma2, from the differences of
    // neighbouring values (exact where they are within a factor 2 of each other).
    dalpha2: f64,
    dsigma2: f64,
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

fn undefined(sampler: Sampler, what: &str, t: f64) -> Diag {
    Diag::new(
        codes::ANALYSIS_SAMPLER,
        format!("{} is undefined here: {what} at t = {t}", sampler.name()),
    )
}

impl Prepared {
    fn new(
        sched: &dyn Schedule,
        sampler: Sampler,
        grid: &[f64],
        start: Start,
    ) -> Result<Prepared, Diag> {
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
        let n = grid.len() - 1;
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
            .map(|k| {
                let (p, q) = (pts[k], pts[k - 1]);
                let x = p.s * q.a - q.s * p.a;
                let mut st = Step {
                    x,
                    x2: x * x,
                    p: p.a * q.a,
                    s: p.s * q.s,
                    ..Step::default()
                };
                if matches!(
                    sampler,
                    Sampler::Euler | Sampler::Heun | Sampler::EulerMaruyama
                ) {
                    st.dalpha2 = (p.a - q.a) * (p.a + q.a);
                    st.dsigma2 = (p.s - q.s) * (p.s + q.s);
                }
                if sampler == Sampler::Ddpm {
                    // 1 - E = 1 - (a_k s_{k-1}/(a_{k-1} s_k))^2 = X (a_{k-1} s_k + a_k s_{k-1})
                    // / (a_{k-1} s_k)^2: one rounded difference, X.
                    let (w, b) = (q.a * p.s + p.a * q.s, q.a * p.s);
                    let xw_b = x * w / b;
                    st.ratio = p.a / q.a;
                    st.post_var = q.s * q.s * (xw_b / b);
                    st.shrink = xw_b * xw_b;
                }
                st
            })
            .collect();
        Ok(Prepared {
            sampler,
            start,
            pts,
            steps,
        })
    }

    fn v(p: &Point, lam: f64) -> f64 {
        p.a * p.a * lam + p.s * p.s
    }

    /// d/dt log sqrt(v) = (a a' lambda + s s')/v: the exact flow's rate for y.
    fn rate(p: &Point, lam: f64) -> f64 {
        (p.a * p.da * lam + p.s * p.ds) / Prepared::v(p, lam)
    }

    /// The output law of the direction with eigenvalue `lam` and mean `m`.
    fn law(&self, lam: f64, m: f64) -> DirectionLaw {
        match self.sampler {
            Sampler::Ddim => self.ddim(lam, m),
            _ => self.affine(lam, m),
        }
    }

    fn ddim(&self, lam: f64, m: f64) -> DirectionLaw {
        // prod_k cos^2(dphi_k) = 1/(1 + w), with 1 + tan^2 multiplied in as
        // w <- w + tau^2 + w tau^2 (no rounding of a 1 + small).
        let mut w = 0.0f64;
        for st in &self.steps {
            let den = st.p * lam + st.s;
            if den == 0.0 {
                // c = 0: the step maps every x to one point (cos(dphi) = 0), V = 0.
                w = f64::INFINITY;
                break;
            }
            let tau2 = lam * st.x2 / (den * den);
            w += tau2 + w * tau2;
        }
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

    /// The general recursion: y' = A y + D m + sqrt(Q) z. The variance is tracked relative
    /// to v both as r = V/v (relative accuracy wherever r is) and, while r is near 1, as
    /// e = r - 1 (absolute accuracy near 0, which tiny KL values need): r far from 1 held
    /// as 1 + e would lose the digits of r (a step multiplier far below 1).
    fn affine(&self, lam: f64, m: f64) -> DirectionLaw {
        self.affine_traced(lam, m, |_, _| {})
    }

    /// [`Prepared::affine`], showing `record` each step's map with the state (r, mu) it
    /// is applied to, from step N down to step 1 (the gradient's reverse pass needs them).
    fn affine_traced(
        &self,
        lam: f64,
        m: f64,
        mut record: impl FnMut(&StepMap, [f64; 2]),
    ) -> DirectionLaw {
        let n = self.pts.len() - 1;
        let last = &self.pts[n];
        let vn = Prepared::v(last, lam);
        let (mut r, mut e, mut mu) = match self.start {
            Start::Exact => (1.0, 0.0, 0.0),
            Start::Prior => (1.0 / vn, (1.0 - vn) / vn, -last.a * m),
        };
        for k in (1..=n).rev() {
            let st = self.step_map(k, lam);
            record(&st, [r, mu]);
            let r_next = st.g * r + st.q;
            // r' - 1 = G (r - 1) + (G - 1 + q): no cancellation while |r - 1| is small.
            e = if e.abs() < 0.5 {
                st.g * e + st.gq1
            } else {
                r_next - 1.0
            };
            r = r_next;
            mu = st.a * mu + st.d * m;
        }
        let v0 = Prepared::v(&self.pts[0], lam);
        let log_var_ratio = if e.abs() < 0.5 {
            e.ln_1p()
        } else if r > 0.0 {
            r.ln()
        } else {
            f64::NEG_INFINITY
        };
        DirectionLaw {
            log_var_ratio,
            mean_error: mu,
            ref_var: v0,
        }
    }

    /// The map of the step from t_k to t_{k-1}. DPM-1 and DDPM have closed forms in which A,
    /// G and G - 1 + q are products of positive terms and X (Lagrange's identity
    /// v_k v_{k-1} - (P lambda + S)^2 = lambda X^2); the Euler family forms A - 1 = h (...)
    /// directly and G - 1 from logs when A is near 1.
    fn step_map(&self, k: usize, lam: f64) -> StepMap {
        let (p, q) = (&self.pts[k], &self.pts[k - 1]);
        let st = &self.steps[k - 1];
        let (vp, vq) = (Prepared::v(p, lam), Prepared::v(q, lam));
        match self.sampler {
            Sampler::Dpm1 | Sampler::Ddim => {
                // A = c = (P lambda + S)/v_k, G = c^2 v_k/v_{k-1}, G - 1 = -lambda X^2/(v_k v_{k-1}).
                let den = st.p * lam + st.s;
                let vv = vp * vq;
                StepMap {
                    a: den / vp,
                    d: 0.0,
                    g: den * den / vv,
                    q: 0.0,
                    gq1: -lam * st.x2 / vv,
                }
            }
            Sampler::Ddpm => {
                // A = c1 + c2 a_k lambda/v_k = (a_k/a_{k-1}) v_{k-1}/v_k, so
                // G = (a_k/a_{k-1})^2 v_{k-1}/v_k, q = s_{k-1}^2 (1 - E)/v_{k-1} and
                // G + q - 1 = -lambda X^2 (a_{k-1} s_k + a_k s_{k-1})^2 / ((a_{k-1} s_k)^2 v_k v_{k-1}).
                let a = st.ratio * (vq / vp);
                StepMap {
                    a,
                    d: 0.0,
                    g: a * st.ratio,
                    q: st.post_var / vq,
                    gq1: -lam * st.shrink / (vp * vq),
                }
            }
            _ => {
                let (am1, d, var) = self.euler_family(p, q, lam);
                let a = 1.0 + am1;
                let g = a * a * vp / vq;
                // G - 1 from logs when A is near 1: ln A^2 and ln(v_k/v_{k-1}) are O(h)
                // and cancel to O(h^2); each is formed from an O(h) difference, so its
                // error is O(h) ulps, not an ulp of ln v.
                let gm1 = if am1 > -0.5 {
                    let dv = st.dalpha2 * lam + st.dsigma2;
                    (2.0 * am1.ln_1p() + (dv / vq).ln_1p()).exp_m1()
                } else {
                    g - 1.0
                };
                let q = var / vq;
                StepMap {
                    a,
                    d,
                    g,
                    q,
                    gq1: gm1 + q,
                }
            }
        }
    }

    /// (A - 1, D, Q) of the step from `p` (t_k) to `q` (t_{k-1}) of Euler, Heun and
    /// Euler-Maruyama.
    fn euler_family(&self, p: &Point, q: &Point, lam: f64) -> (f64, f64, f64) {
        let h = q.t - p.t;
        // The alpha trajectory's local error, O(h^2): the O(1) values cancel exactly first.
        let euler_d = (p.a - q.a) + h * p.da;
        match self.sampler {
            Sampler::Heun if q.s != 0.0 => {
                let (kp, kq) = (Prepared::rate(p, lam), Prepared::rate(q, lam));
                let am1 = 0.5 * h * kp + 0.5 * h * kq * (1.0 + h * kp);
                let d = p.a - q.a + 0.5 * h * (p.da + q.da) + 0.5 * h * kq * euler_d;
                (am1, d, 0.0)
            }
            Sampler::EulerMaruyama => {
                let g2 = 2.0 * p.s * (p.ds - p.da * p.s / p.a);
                let vp = Prepared::v(p, lam);
                let am1 = h * (Prepared::rate(p, lam) + 0.5 * g2 / vp);
                (am1, euler_d, g2 * h.abs())
            }
            // Euler, and Heun on a step to sigma = 0 (no corrector).
            _ => (h * Prepared::rate(p, lam), euler_d, 0.0),
        }
    }
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
    Ok(source
        .eigenvalues
        .iter()
        .zip(&source.mean)
        .map(|(&l, &m)| prep.law(l, m))
        .collect())
}

/// The work of the exact KLs for the step counts `steps` on a source of dimension `d`, in
/// units of one direction's update: each grid point costs a schedule evaluation (about
/// 214 updates' worth, measured: 3 us against 14 ns on a 2-core machine) and one update
/// per direction.
pub fn kl_work(steps: &[usize], d: usize) -> f64 {
    steps
        .iter()
        .map(|&n| (n as f64 + 1.0) * (214.0 + d as f64))
        .sum()
}

/// The largest [`kl_work`] a command accepts: about 30 s here.
pub const KL_WORK_BUDGET: f64 = 2.1e9;

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
/// marginal at `grid[0]`. Directions are split over the available cores.
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
        for i in dirs {
            let kl = prep.law(source.eigenvalues[i], source.mean[i]).kl();
            a.add(kl.kl_src_out);
            b.add(kl.kl_out_src);
        }
        (a, b)
    });
    let (mut a, mut b) = (Sum::new(), Sum::new());
    for (x, y) in partial {
        a.merge(x);
        b.merge(y);
    }
    Ok(Kl {
        kl_src_out: a.value(),
        kl_out_src: b.value(),
    })
}
