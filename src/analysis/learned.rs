//! The six samplers on a Gaussian source when the score carries an affine error: the exact
//! output law in d x d matrices, its KL to the source, and the Girsanov bounds of the error.
//!
//! The learned score is s(x) = grad log p_t(x) + e_t(x), e_t(x) = E(t) (x - mu_t) + b(t),
//! with p_t = N(mu_t, Sigma_t), mu_t = alpha m, Sigma_t = alpha^2 Sigma + sigma^2 I
//! (docs/theory.md section 3). Every step is an affine map plus independent isotropic
//! Gaussian noise, so the output law stays Gaussian and is propagated exactly: mean' =
//! A mean + c, cov' = A cov A^T + Q I. The error is not diagonal in any fixed basis, so
//! unlike `kl.rs` the recursion runs on whole matrices, O(d^3) a step.
//!
//! Coordinates: [`LinearError`] gives E and b, and [`LearnedKl`] returns the output law, in
//! the source's original coordinates (those of [`GaussianSource::to_original`]); inside,
//! everything runs in the source's eigenbasis, where Sigma_t = diag(v_i), v_i = alpha^2
//! lambda_i + sigma^2, and on y = x - alpha(t) m, the deviation from the true mean.
//!
//! Each single-stage step from t_k (a, s, a', s' = alpha, sigma and derivatives there) to
//! t_{k-1} (a_q, s_q), h = t_{k-1} - t_k < 0, is x' = P x + R s(x) + N(0, Q I). Writing
//! s(x) = -Sigma_t^{-1} y + E y + b, it is y' = (P I - R Sigma_t^{-1} + R E) y +
//! (P a - a_q) m + R b: the exact part diag(P - R/v_i) is formed in closed form (so no
//! 1/alpha is left where alpha = 0 and the error vanishes), the error part as R E, R b.
//! With X = s a_q - s_q a, g2 = 2 s (s' - a' s/a) (docs/theory.md section 1):
//!
//! - DDIM and DPM-1 (x0_hat = (x + s^2 s(x))/a, eps_hat = -s s(x), x' = a_q x0_hat + s_q
//!   eps_hat): P = a_q/a, R = s X/a, Q = 0; exact part (a a_q lambda + s s_q)/v.
//! - Euler on the PF-ODE, v(x) = f x - (g2/2) s(x): P = 1 + h a'/a, R = -h g2/2, Q = 0;
//!   exact part 1 + h k with k = (a a' lambda + s s')/v, mean term a + h a' - a_q.
//! - Euler-Maruyama on the reverse SDE, drift f x - g2 s(x): P = 1 + h a'/a, R = -h g2,
//!   Q = g2 |h|; exact part 1 + h (k + g2/(2 v)).
//! - DDPM, the forward posterior q(x_{k-1} | x_k, x0_hat) with beta = s^2 - (a/a_q)^2 s_q^2:
//!   P = a_q/a, R = a_q beta/a = X (s a_q + s_q a)/(a a_q), Q = s_q^2 beta/s^2; exact part
//!   (a/a_q) v_q/v.
//! - Heun (EDM): the Euler predictor x~ = x + h v_k(x), then x' = x + (h/2)(v_k(x) +
//!   v_{k-1}(x~)), the score at t_{k-1} in the corrector; a product of two such maps, formed
//!   from the velocity's matrices L = diag(k) - (g2/2) E at both ends. A step that ends at
//!   sigma = 0 is plain Euler (as in `kl.rs`).
//!
//! Where R (or g2) is infinite, at alpha = 0 (or below sigma e^-36, a rounded zero such as
//! cos(pi/2)), the step is undefined unless the error is zero there: x0_hat = (x + s^2
//! s(x))/alpha carries s^2 e/alpha. Such a step is refused.
//!
//! The KL is formed from the Cholesky factor L of the output covariance relative to the
//! source's, W = V^-1/2 C V^-1/2 = L L^T, term by term without cancellation:
//! tr W - d - ln det W = sum_{i>j} L_ij^2 + sum_i (L_ii^2 - 1 - ln L_ii^2), and alike with
//! L^-1 for the other direction. A covariance that is not positive definite is an infinite
//! KL, as in `kl.rs`.

use nalgebra::{DMatrix, DVector};

use super::kl::{Kl, Point, Sampler, Start, grid_points, undefined};
use super::numerics::{Sum, exp_neg_tail, exp_pos_tail};
use super::quadrature::tanh_sinh;
use super::{GaussianSource, Schedule};
use crate::diag::{Diag, codes};

/// The error at a time: E(t) (d x d) and b(t) (d), in the source's original coordinates.
pub trait LinearError {
    fn at(&self, t: f64) -> (DMatrix<f64>, DVector<f64>);
}

impl<F: Fn(f64) -> (DMatrix<f64>, DVector<f64>)> LinearError for F {
    fn at(&self, t: f64) -> (DMatrix<f64>, DVector<f64>) {
        self(t)
    }
}

/// Both directions of the KL between the source (the true marginal at grid[0]) and the
/// output, and the output law N(mean, cov) in the source's original coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnedKl {
    pub kl_src_out: f64,
    pub kl_out_src: f64,
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
}

/// The Girsanov bound (1/2) int g2 E_{p_t}|e_t|^2 dt on the KL of the reverse SDE, and the
/// same with the gradient part of e_t only (docs/theory.md section 7), the only part that
/// changes the marginals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorBounds {
    pub girsanov: f64,
    pub gradient_part: f64,
}

/// The largest work, in flops, [`learned_kl`] and [`error_bounds`] accept (seconds at most).
pub const LEARNED_WORK_BUDGET: f64 = 1e10;

/// The flops of [`learned_kl`] on `steps` steps in dimension `d`: per step at most five
/// d x d products of 2 d^3 flops (the covariance's two, the error's rotation into the
/// eigenbasis, Heun's product of its two maps).
pub fn learned_work(d: usize, steps: usize) -> f64 {
    10.0 * (d as f64).powi(3) * steps as f64
}

/// The most tanh-sinh nodes [`error_bounds`] evaluates (u in [-3.5, 3.5], step 2^-8).
const BOUND_NODES: f64 = 1793.0;

impl Point {
    fn v(&self, lam: f64) -> f64 {
        self.a * self.a * lam + self.s * self.s
    }

    /// The exact PF velocity's rate for y, d/dt ln sqrt(v) = (a a' lambda + s s')/v.
    fn rate(&self, lam: f64) -> f64 {
        (self.a * self.da * lam + self.s * self.ds) / self.v(lam)
    }

    /// g2 = 2 s (s' - a' s/a): infinite (or NaN) where alpha = 0.
    fn g2(&self) -> f64 {
        2.0 * self.s * (self.ds - self.da * self.s / self.a)
    }

    /// alpha below sigma e^-36 is a rounded zero (as in kl.rs; cos(pi/2) = 6e-17): a
    /// coefficient with 1/alpha is then infinite, not 1e16.
    fn alpha_is_zero(&self) -> bool {
        self.a <= self.s * (-36f64).exp()
    }

    /// `coef`, or infinity where alpha is a rounded zero.
    fn over_alpha(&self, coef: f64) -> f64 {
        if self.alpha_is_zero() {
            f64::INFINITY
        } else {
            coef
        }
    }
}

/// The error at one time in the eigenbasis: U^T E U and U^T b; `zero` if all of it is 0.
struct Local {
    e: DMatrix<f64>,
    b: DVector<f64>,
    zero: bool,
}

fn score_error(message: String) -> Diag {
    Diag::new(codes::ANALYSIS_SCORE_ERROR, message)
}

/// `error` at `t`, checked (shape, finite values) and rotated into the eigenbasis.
fn local_error(error: &dyn LinearError, t: f64, source: &GaussianSource) -> Result<Local, Diag> {
    let (e, b) = error.at(t);
    let d = source.dimension();
    if e.nrows() != d || e.ncols() != d || b.len() != d {
        return Err(score_error(format!(
            "the score error at t = {t} is {}x{} with an offset of {} entries; the source has \
             dimension {d}",
            e.nrows(),
            e.ncols(),
            b.len()
        )));
    }
    if let Some(v) = e.iter().chain(b.iter()).find(|v| !v.is_finite()) {
        // Said in words: this message also explains, on a success, why no bound is printed,
        // and a `NaN` there reads as a value.
        let what = if v.is_nan() { "undefined" } else { "infinite" };
        return Err(score_error(format!(
            "the score error at t = {t} is {what}, not a finite number"
        )));
    }
    let zero = e.iter().chain(b.iter()).all(|&v| v == 0.0);
    let (e, b) = match &source.basis {
        None => (e, b),
        Some(u) => (u.tr_mul(&(e * u)), u.tr_mul(&b)),
    };
    Ok(Local { e, b, zero })
}

/// Adds `coef (E, b)` to `(a, c)`. An infinite coefficient (alpha = 0) is refused unless the
/// error is zero there.
fn add_error(
    a: &mut DMatrix<f64>,
    c: &mut DVector<f64>,
    coef: f64,
    err: &Local,
    sampler: Sampler,
    t: f64,
) -> Result<(), Diag> {
    if err.zero {
        return Ok(());
    }
    if !coef.is_finite() {
        return Err(undefined(
            sampler,
            "the score error's coefficient is infinite (alpha = 0, so x0_hat carries \
             sigma^2 e/alpha) and the error is not zero",
            t,
        )
        .with_help("move the grid's end inward with --t-max, or make the error vanish there"));
    }
    *a += &err.e * coef;
    c.axpy(coef, &err.b, 1.0);
    Ok(())
}

/// One step's map of y = x - alpha m: y' = a y + c + N(0, q I).
struct Affine {
    a: DMatrix<f64>,
    c: DVector<f64>,
    q: f64,
}

/// The grid's schedule values, checked as the exact KL checks them, and the steps this
/// recursion cannot take (a rounded alpha = 0 where it divides).
fn points(sched: &dyn Schedule, sampler: Sampler, grid: &[f64]) -> Result<Vec<Point>, Diag> {
    let pts = grid_points(sched, sampler, grid)?;
    for w in pts.windows(2) {
        let (q, p) = (w[0], w[1]);
        match sampler {
            Sampler::EulerMaruyama if p.alpha_is_zero() => {
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
    Ok(pts)
}

/// The velocity's linear part at `p` for y, L = diag(kappa) + gamma E, and its offset
/// gamma b (the exact part's offset a' m is the caller's): on the PF-ODE kappa = k and
/// gamma = -g2/2; on the reverse SDE kappa = k + g2/(2 v) and gamma = -g2.
fn drift(
    p: &Point,
    lam: &[f64],
    err: &Local,
    sde: bool,
    sampler: Sampler,
) -> Result<(DMatrix<f64>, DVector<f64>), Diag> {
    let g2 = p.g2();
    let (extra, gamma) = if sde {
        (0.5 * g2, -g2)
    } else {
        (0.0, -0.5 * g2)
    };
    let kappa = DVector::from_iterator(
        lam.len(),
        lam.iter().map(|&l| {
            let k = p.rate(l);
            if sde { k + extra / p.v(l) } else { k }
        }),
    );
    let mut l = DMatrix::from_diagonal(&kappa);
    let mut gb = DVector::zeros(lam.len());
    add_error(&mut l, &mut gb, p.over_alpha(gamma), err, sampler, p.t)?;
    Ok((l, gb))
}

/// The map of the step from `p` (t_k) to `q` (t_{k-1}); `eq` is the error at t_{k-1}, given
/// for Heun's corrector only.
fn step(
    sampler: Sampler,
    p: &Point,
    q: &Point,
    lam: &[f64],
    m: &DVector<f64>,
    ep: &Local,
    eq: Option<&Local>,
) -> Result<Affine, Diag> {
    let d = lam.len();
    let h = q.t - p.t;
    let x = p.s * q.a - q.s * p.a;
    let diagonal = |f: &dyn Fn(f64) -> f64| {
        DMatrix::from_diagonal(&DVector::from_iterator(d, lam.iter().map(|&l| f(l))))
    };
    let mut c = DVector::zeros(d);
    let out = match sampler {
        Sampler::Ddim | Sampler::Dpm1 => {
            let mut a = diagonal(&|l| (p.a * q.a * l + p.s * q.s) / p.v(l));
            add_error(
                &mut a,
                &mut c,
                p.over_alpha(p.s * x / p.a),
                ep,
                sampler,
                p.t,
            )?;
            Affine { a, c, q: 0.0 }
        }
        Sampler::Ddpm => {
            let w = p.s * q.a + q.s * p.a;
            let mut a = diagonal(&|l| (p.a / q.a) * (q.v(l) / p.v(l)));
            let r = p.over_alpha(x * w / (p.a * q.a));
            add_error(&mut a, &mut c, r, ep, sampler, p.t)?;
            let q_var = q.s * q.s * (x * w / (q.a * q.a * p.s * p.s));
            Affine { a, c, q: q_var }
        }
        Sampler::Euler | Sampler::EulerMaruyama | Sampler::Heun => {
            let sde = sampler == Sampler::EulerMaruyama;
            let (lp, gbp) = drift(p, lam, ep, sde, sampler)?;
            // The exact mean's local error a + h a' - a_q (0 for the exact flow).
            let d1 = p.a - q.a + h * p.da;
            let eye = DMatrix::<f64>::identity(d, d);
            match eq {
                None => {
                    let a = &eye + &lp * h;
                    c.axpy(d1, m, 0.0);
                    c.axpy(h, &gbp, 1.0);
                    let q_var = if sde { p.g2() * h.abs() } else { 0.0 };
                    Affine { a, c, q: q_var }
                }
                Some(eq) => {
                    let (lq, gbq) = drift(q, lam, eq, false, sampler)?;
                    let predictor = &eye + &lp * h;
                    let a = &eye + (&lp + &lq * &predictor) * (0.5 * h);
                    // (a - a_q + h (a' + a'_q)/2) m + (h/2) d1 L_q m
                    //   + (h/2) ((I + h L_q) gamma_p b_p + gamma_q b_q).
                    let d0 = p.a - q.a + 0.5 * h * (p.da + q.da);
                    c.axpy(d0, m, 0.0);
                    c.axpy(0.5 * h * d1, &(&lq * m), 1.0);
                    let through = &gbp + (&lq * &gbp) * h + &gbq;
                    c.axpy(0.5 * h, &through, 1.0);
                    Affine { a, c, q: 0.0 }
                }
            }
        }
    };
    if out.a.iter().chain(out.c.iter()).any(|v| !v.is_finite()) || !out.q.is_finite() {
        return Err(undefined(
            sampler,
            "the step's map is not finite (alpha' or sigma' too large, or alpha too small)",
            p.t,
        ));
    }
    Ok(out)
}

/// The exact KL, both directions, and the output law of `sampler` on `grid` (ascending
/// times) with the score grad log p_t + `error`, against the true marginal at `grid[0]`.
pub fn learned_kl(
    sched: &dyn Schedule,
    source: &GaussianSource,
    sampler: Sampler,
    grid: &[f64],
    start: Start,
    error: &dyn LinearError,
) -> Result<LearnedKl, Diag> {
    let d = source.dimension();
    let n = grid.len().saturating_sub(1);
    let work = learned_work(d, n);
    if work > LEARNED_WORK_BUDGET {
        return Err(score_error(format!(
            "{n} steps in dimension {d} take about {work:.1e} flops, above the budget of \
             {LEARNED_WORK_BUDGET:.0e}"
        ))
        .with_help("use fewer steps, or the exact score's `kl`, which is O(N d)"));
    }
    let pts = points(sched, sampler, grid)?;
    let lam = &source.eigenvalues;
    let m = DVector::from_column_slice(&source.mean);
    let last = &pts[n];
    // The law of y = x - alpha m at t_N.
    let (mut mean, mut cov) = match start {
        Start::Exact => (
            DVector::zeros(d),
            DMatrix::from_diagonal(&DVector::from_iterator(d, lam.iter().map(|&l| last.v(l)))),
        ),
        Start::Prior => (&m * -last.a, DMatrix::identity(d, d)),
    };
    // Heun's corrector needs the error at t_0 too, unless sigma(t_0) = 0 (plain Euler).
    let needs_first = sampler == Sampler::Heun && pts[0].s != 0.0;
    let mut here = local_error(error, last.t, source)?;
    for k in (1..=n).rev() {
        let (p, q) = (&pts[k], &pts[k - 1]);
        let below = if k > 1 || needs_first {
            Some(local_error(error, q.t, source)?)
        } else {
            None
        };
        let corrector = if sampler == Sampler::Heun && q.s != 0.0 {
            below.as_ref()
        } else {
            None
        };
        let map = step(sampler, p, q, lam, &m, &here, corrector)?;
        mean = &map.a * &mean + &map.c;
        cov = &map.a * &cov * map.a.transpose();
        for i in 0..d {
            cov[(i, i)] += map.q;
        }
        cov = (&cov + cov.transpose()) * 0.5;
        if let Some(b) = below {
            here = b;
        }
    }
    if mean.iter().chain(cov.iter()).any(|v| !v.is_finite()) {
        return Err(undefined(
            sampler,
            "the output law overflowed (its mean or covariance is not finite)",
            pts[0].t,
        ));
    }
    let v0: Vec<f64> = lam.iter().map(|&l| pts[0].v(l)).collect();
    let Some(kl) = gaussian_kl(&mean, &cov, &v0) else {
        return Err(Diag::new(
            codes::ANALYSIS_BEYOND_F64,
            format!(
                "the KL of the learned {} sampler is beyond f64: its output law is finite, \
                 but too far from the source",
                sampler.name()
            ),
        ));
    };
    let mean_out = &m * pts[0].a + &mean;
    let (mean_out, cov_out) = match &source.basis {
        None => (mean_out, cov),
        Some(u) => (u * mean_out, u * cov * u.transpose()),
    };
    Ok(LearnedKl {
        kl_src_out: kl.kl_src_out,
        kl_out_src: kl.kl_out_src,
        mean: mean_out,
        cov: cov_out,
    })
}

/// KL between the source N(0, diag(v)) and the output N(mu, cov), both directions, from the
/// Cholesky factor of the relative covariance (module docs); infinite where it is not
/// positive definite. None where a finite KL is beyond f64 (a mean 1e300 standard
/// deviations away): that is no infinity.
fn gaussian_kl(mu: &DVector<f64>, cov: &DMatrix<f64>, v: &[f64]) -> Option<Kl> {
    let d = v.len();
    let root: Vec<f64> = v.iter().map(|x| x.sqrt()).collect();
    let w = DMatrix::from_fn(d, d, |i, j| cov[(i, j)] / root[i] / root[j]);
    let nu = DVector::from_iterator(d, mu.iter().zip(&root).map(|(x, r)| x / r));
    let infinite = Kl {
        kl_src_out: f64::INFINITY,
        kl_out_src: f64::INFINITY,
    };
    let Some(chol) = w.cholesky() else {
        return Some(infinite);
    };
    let l = chol.l();
    let Some(inv) = l.solve_lower_triangular(&DMatrix::identity(d, d)) else {
        return Some(infinite);
    };
    let (mut out_src, mut src_out) = (Sum::new(), Sum::new());
    for i in 0..d {
        let u = 2.0 * l[(i, i)].ln();
        out_src.add(exp_pos_tail(u));
        src_out.add(exp_neg_tail(u));
        for j in 0..i {
            out_src.add(l[(i, j)] * l[(i, j)]);
            src_out.add(inv[(i, j)] * inv[(i, j)]);
        }
    }
    out_src.add(nu.norm_squared());
    src_out.add((&inv * &nu).norm_squared());
    let (a, b) = (0.5 * src_out.value(), 0.5 * out_src.value());
    (a.is_finite() && b.is_finite()).then_some(Kl {
        kl_src_out: a,
        kl_out_src: b,
    })
}

/// The bounds of [`ErrorBounds`] on [t_min, t_max]: E_{p_t}|e_t|^2 =
/// tr(E Sigma_t E^T) + |b|^2, and for the gradient part tr(S Sigma_t S) + |b|^2 with S
/// solving S Sigma_t + Sigma_t S = E Sigma_t + Sigma_t E^T, in the source's eigenbasis
/// S_ij = C_ij/(v_i + v_j). Integrated by tanh-sinh; a divergent integral (g2 not
/// integrable at an end, e.g. rectified flow at t = 1) is refused.
pub fn error_bounds(
    sched: &dyn Schedule,
    source: &GaussianSource,
    error: &dyn LinearError,
    t_min: f64,
    t_max: f64,
) -> Result<ErrorBounds, Diag> {
    if !(t_min.is_finite() && t_max.is_finite() && 0.0 <= t_min && t_min < t_max && t_max <= 1.0) {
        return Err(Diag::new(
            codes::ANALYSIS_GRID,
            format!("the bound needs 0 <= t_min < t_max <= 1, found [{t_min}, {t_max}]"),
        ));
    }
    let d = source.dimension();
    // Per node: the error's rotation, two d x d products.
    let work = BOUND_NODES * 4.0 * (d as f64).powi(3);
    if work > LEARNED_WORK_BUDGET {
        return Err(score_error(format!(
            "the bound in dimension {d} takes about {work:.1e} flops, above the budget of \
             {LEARNED_WORK_BUDGET:.0e}"
        )));
    }
    let lam = &source.eigenvalues;
    let mut f = |t: f64, w: f64, terms: &mut [f64]| -> Result<(), Diag> {
        let p = Point {
            t,
            a: sched.alpha(t),
            s: sched.sigma(t),
            da: sched.dalpha(t),
            ds: sched.dsigma(t),
        };
        let g2 = p.g2();
        if !(g2.is_finite() && g2 >= 0.0) {
            return Err(score_error(format!(
                "g2 = {g2} at t = {t}: the reverse SDE needs a finite g2 >= 0"
            ))
            .with_help("move the ends of the interval inward"));
        }
        let err = local_error(error, t, source)?;
        let v: Vec<f64> = lam.iter().map(|&l| p.v(l)).collect();
        let b2 = err.b.norm_squared();
        let (mut full, mut grad) = (Sum::new(), Sum::new());
        for i in 0..d {
            for j in 0..d {
                let e = err.e[(i, j)];
                full.add(e * e * v[j]);
                let s = (e * v[j] + v[i] * err.e[(j, i)]) / (v[i] + v[j]);
                grad.add(s * s * v[j]);
            }
        }
        let weight = 0.5 * g2 * w;
        terms[0] = weight * (full.value() + b2);
        terms[1] = weight * (grad.value() + b2);
        Ok(())
    };
    let est = tanh_sinh(t_min, t_max, 2, &mut f)?;
    let (full, grad) = (est[0], est[1]);
    if !full.value.is_finite() {
        // No level to compare: an infinite value (or inf - inf) says nothing more.
        return Err(score_error(format!(
            "the Girsanov integral on [{t_min}, {t_max}] is infinite or beyond f64: \
             g2 E|e|^2 overflows, or is not integrable at an end"
        ))
        .with_help("move the ends inward, e.g. t_max below 1 where alpha = 0"));
    }
    if full.diverges {
        return Err(score_error(format!(
            "the Girsanov integral on [{t_min}, {t_max}] does not converge (value {:e}, \
             levels differing by {:e}): g2 E|e|^2 is not integrable at an end",
            full.value, full.error
        ))
        .with_help("move the ends inward, e.g. t_max below 1 where alpha = 0"));
    }
    // The gradient part is pointwise at most the whole, so it converges with it; only its
    // levels' agreement is checked, against the whole (it may be 0 to rounding).
    if grad.error > 1e-9 * full.value.abs().max(f64::MIN_POSITIVE) {
        return Err(score_error(format!(
            "the gradient part's integral on [{t_min}, {t_max}] does not converge (levels \
             differing by {:e})",
            grad.error
        )));
    }
    Ok(ErrorBounds {
        girsanov: full.value,
        gradient_part: grad.value,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{GridKind, RectifiedFlow, Tangent, exact_kl, output_laws, time_grid};
    use super::*;

    type Field = Box<dyn Fn(f64) -> (DMatrix<f64>, DVector<f64>)>;

    const FULL: [[f64; 3]; 3] = [[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]];
    const FULL_MEAN: [f64; 3] = [0.7, -1.2, 0.4];
    const OMEGA: [[f64; 3]; 3] = [[0.0, 0.8, -0.5], [-0.8, 0.0, 0.3], [0.5, -0.3, 0.0]];

    fn matrix(rows: &[[f64; 3]; 3]) -> DMatrix<f64> {
        DMatrix::from_fn(3, 3, |i, j| rows[i][j])
    }

    fn full_source() -> GaussianSource {
        let rows: Vec<Vec<f64>> = FULL.iter().map(|r| r.to_vec()).collect();
        GaussianSource::from_covariance("full", &rows, Some(FULL_MEAN.to_vec())).expect("valid")
    }

    fn diagonal_source() -> GaussianSource {
        GaussianSource::from_spectrum("diag", vec![0.05, 1.0, 4.0], Some(vec![0.3, 0.0, -2.0]))
            .expect("valid")
    }

    fn no_error(d: usize) -> Field {
        Box::new(move |_| (DMatrix::zeros(d, d), DVector::zeros(d)))
    }

    /// Sigma_t = alpha^2 Sigma + sigma^2 I of rectified flow, from the covariance as given.
    fn sigma_t(t: f64) -> DMatrix<f64> {
        matrix(&FULL) * (1.0 - t).powi(2) + DMatrix::identity(3, 3) * (t * t)
    }

    /// The solenoidal error Omega Sigma_t^-1 of the full source under rectified flow.
    fn solenoidal(t: f64) -> (DMatrix<f64>, DVector<f64>) {
        let inv = sigma_t(t).try_inverse().expect("positive definite");
        (matrix(&OMEGA) * inv, DVector::zeros(3))
    }

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            (a - b).abs() / a.abs().max(b.abs())
        }
    }

    /// With no error, the d x d recursion reproduces `exact_kl` (per-direction scalar
    /// recursions, written independently) and `output_laws`, for every sampler and start.
    #[test]
    fn without_error_it_is_the_exact_kl() {
        let scheds: [(&dyn Schedule, f64, f64); 2] = [
            (&Tangent { gamma: 1.0 }, 0.0, 1.0),
            (&RectifiedFlow, 0.001, 0.99),
        ];
        let mut worst = 0.0f64;
        for source in [full_source(), diagonal_source()] {
            let zero = no_error(3);
            for (sched, lo, hi) in scheds {
                for n in [1, 3, 17] {
                    let grid = time_grid(&GridKind::Uniform, sched, n, lo, hi).expect("grid");
                    for sampler in Sampler::ALL {
                        for start in Start::ALL {
                            let want = exact_kl(sched, &source, sampler, &grid, start);
                            let got = learned_kl(sched, &source, sampler, &grid, start, &zero);
                            let (want, got) = match (want, got) {
                                (Ok(w), Ok(g)) => (w, g),
                                (Err(w), Err(g)) => {
                                    assert_eq!(w.code, g.code, "{sampler:?}");
                                    continue;
                                }
                                (w, g) => panic!("{sampler:?} {start:?}: {w:?} vs {g:?}"),
                            };
                            for (a, b) in [
                                (want.kl_src_out, got.kl_src_out),
                                (want.kl_out_src, got.kl_out_src),
                            ] {
                                let r = rel(a, b);
                                let what = format!("{sampler:?} {start:?} N = {n}: {a} vs {b}");
                                assert!(r < 1e-9, "{what}");
                                worst = worst.max(r);
                            }
                            let laws = output_laws(sched, &source, sampler, &grid, start)
                                .expect("defined");
                            let var: Vec<f64> = laws.iter().map(|l| l.variance()).collect();
                            let cov = source.covariance_original(&var);
                            let a0 = sched.alpha(grid[0]);
                            let mean: Vec<f64> = laws
                                .iter()
                                .zip(&source.mean)
                                .map(|(l, m)| a0 * m + l.mean_error)
                                .collect();
                            let mean = DVector::from_vec(source.to_original(&mean));
                            let dc = (&cov - &got.cov).abs().max();
                            assert!(
                                dc < 1e-12 * cov.abs().max(),
                                "{sampler:?} {start:?} {n} {dc:e} {cov} {}",
                                got.cov
                            );
                            assert!((mean - &got.mean).abs().max() < 1e-12, "{sampler:?}");
                        }
                    }
                }
            }
        }
        eprintln!("largest relative difference from exact_kl: {worst:e}");
    }

    /// KL(N(m0, s0) || N(m1, s1)) by the textbook formula, inverse and determinants.
    fn naive_kl(m0: &DVector<f64>, s0: &DMatrix<f64>, m1: &DVector<f64>, s1: &DMatrix<f64>) -> f64 {
        let inv = s1.clone().try_inverse().expect("invertible");
        let dm = m1 - m0;
        let d = m0.len() as f64;
        0.5 * ((&inv * s0).trace() + dm.dot(&(&inv * &dm)) - d + s1.determinant().ln()
            - s0.determinant().ln())
    }

    /// The PF-ODE of rectified flow with the score -Sigma_t^-1 (x - mu_t) + c (x - mu_t),
    /// integrated from t_max down to 0 by classical RK4 at M steps in the original
    /// coordinates: mean' = J (mean - mu_t) + alpha' m, cov' = J cov + cov J^T with
    /// J = f I - (g2/2)(-Sigma_t^-1 + c I), f = -1/(1 - t), g2 = 2t/(1 - t).
    fn pf_ode_with_gradient_error(
        c: f64,
        t_max: f64,
        m_steps: usize,
    ) -> (DVector<f64>, DMatrix<f64>) {
        let m = DVector::from_column_slice(&FULL_MEAN);
        let eye = DMatrix::<f64>::identity(3, 3);
        let rhs = |t: f64, mean: &DVector<f64>, cov: &DMatrix<f64>| {
            let (f, g2) = (-1.0 / (1.0 - t), 2.0 * t / (1.0 - t));
            let inv = sigma_t(t).try_inverse().expect("positive definite");
            let j = &eye * f - (&eye * c - inv) * (0.5 * g2);
            let dmean = &j * (mean - &m * (1.0 - t)) - &m;
            let dcov = &j * cov + cov * j.transpose();
            (dmean, dcov)
        };
        let mut mean = &m * (1.0 - t_max);
        let mut cov = sigma_t(t_max);
        let h = -t_max / m_steps as f64;
        for i in 0..m_steps {
            let t = t_max + h * i as f64;
            let (k1m, k1c) = rhs(t, &mean, &cov);
            let (k2m, k2c) = rhs(
                t + h / 2.0,
                &(&mean + &k1m * (h / 2.0)),
                &(&cov + &k1c * (h / 2.0)),
            );
            let (k3m, k3c) = rhs(
                t + h / 2.0,
                &(&mean + &k2m * (h / 2.0)),
                &(&cov + &k2c * (h / 2.0)),
            );
            let (k4m, k4c) = rhs(t + h, &(&mean + &k3m * h), &(&cov + &k3c * h));
            mean += (k1m + k2m * 2.0 + k3m * 2.0 + k4m) * (h / 6.0);
            cov += (k1c + k2c * 2.0 + k3c * 2.0 + k4c) * (h / 6.0);
        }
        (mean, cov)
    }

    /// The reverse SDE of rectified flow with the same score, per eigen-direction lambda (c I
    /// commutes with Sigma_t): the mean stays exact and the variance C solves
    /// dC/dt = 2 (f + g2/v - g2 c) C - g2 (at c = 0, C = v solves it), from C = v at t_max
    /// down to 0 by RK4; the KL(source || output) summed over the directions.
    fn reverse_sde_kl_with_gradient_error(c: f64, t_max: f64, lam: &[f64], m_steps: usize) -> f64 {
        let mut kl = 0.0;
        for &l in lam {
            let rhs = |t: f64, cv: f64| {
                let (f, g2) = (-1.0 / (1.0 - t), 2.0 * t / (1.0 - t));
                let v = (1.0 - t).powi(2) * l + t * t;
                2.0 * (f + g2 / v - g2 * c) * cv - g2
            };
            let mut cv = (1.0 - t_max).powi(2) * l + t_max * t_max;
            let h = -t_max / m_steps as f64;
            for i in 0..m_steps {
                let t = t_max + h * i as f64;
                let k1 = rhs(t, cv);
                let k2 = rhs(t + h / 2.0, cv + k1 * h / 2.0);
                let k3 = rhs(t + h / 2.0, cv + k2 * h / 2.0);
                let k4 = rhs(t + h, cv + k3 * h);
                cv += (k1 + 2.0 * k2 + 2.0 * k3 + k4) * h / 6.0;
            }
            kl += 0.5 * (l / cv - 1.0 + (cv / l).ln());
        }
        kl
    }

    /// A solenoidal error Omega Sigma_t^-1 leaves the continuous flow exact: the KL falls
    /// to 0 at the error-free order N^-2; a gradient error 0.3 (x - mu_t) leaves a KL that
    /// tends to the continuous flow's, integrated independently (RK4, and in closed form:
    /// per eigen-direction cov = lambda exp(c int_0^T g2), int_0^T g2 = -2T - 2 ln(1 - T)).
    /// On rectified flow DDIM and Euler are the same map (P = a_q/a, R = -h s/a for both),
    /// so their rows agree; the cosine schedule of the test above tells them apart.
    #[test]
    fn solenoidal_errors_vanish_in_the_limit_and_gradient_errors_do_not() {
        let (sched, t_max) = (RectifiedFlow, 0.95);
        let source = full_source();
        let zero = no_error(3);
        let sol: Field = Box::new(solenoidal);
        let c = 0.3;
        let grad: Field = Box::new(move |_| (DMatrix::identity(3, 3) * c, DVector::zeros(3)));
        let run = |sampler: Sampler, n: usize, err: &Field| {
            let grid = time_grid(&GridKind::Uniform, &sched, n, 0.0, t_max).expect("grid");
            learned_kl(&sched, &source, sampler, &grid, Start::Exact, err).expect("defined")
        };
        // The continuous limit with the gradient error.
        let (mean, cov) = pf_ode_with_gradient_error(c, t_max, 2000);
        let m = DVector::from_column_slice(&FULL_MEAN);
        let limit = naive_kl(&m, &matrix(&FULL), &mean, &cov);
        let g = -2.0 * t_max - 2.0 * (1.0 - t_max).ln();
        let closed = 1.5 * ((-c * g).exp() - 1.0 + c * g);
        assert!(
            rel(limit, closed) < 1e-10,
            "RK4 {limit} vs closed form {closed}"
        );
        // The reverse SDE's limit (Euler-Maruyama and DDPM discretise it), another law.
        let sde_limit = reverse_sde_kl_with_gradient_error(c, t_max, &source.eigenvalues, 4000);
        for sampler in Sampler::ALL {
            let kl = |n, err: &Field| run(sampler, n, err).kl_src_out;
            let (exact, with): (Vec<f64>, Vec<f64>) = [64, 256, 1024]
                .iter()
                .map(|&n| (kl(n, &zero), kl(n, &sol)))
                .unzip();
            let ratios = |v: &[f64]| [v[0] / v[1], v[1] / v[2]];
            let what = format!(
                "{sampler:?}: no error {exact:?} ratios {:?}; solenoidal {with:?} ratios {:?}",
                ratios(&exact),
                ratios(&with)
            );
            eprintln!("{what}");
            let last = ratios(&with)[1];
            match sampler {
                // Second order: KL ~ N^-4, not yet asymptotic with the error at N = 256.
                Sampler::Heun => assert!(with[2] < 1e-9 && last > 64.0, "{what}"),
                // Its error-free ratios are still on their way to 16.
                Sampler::EulerMaruyama => {
                    assert!(with[2] < 1e-4 && (12.0..20.0).contains(&last), "{what}")
                }
                _ => {
                    let free = ratios(&exact)[1];
                    assert!(with[2] < 1e-3 && (14.0..18.0).contains(&last), "{what}");
                    assert!((14.0..18.0).contains(&free), "{what}");
                }
            }
            // The gradient error's limit, by Richardson extrapolation in 1/N (twice for
            // the first-order samplers, once for Heun).
            let (a, b, cc) = (kl(512, &grad), kl(1024, &grad), kl(2048, &grad));
            let first = (2.0 * cc - b, 2.0 * b - a);
            let twice = (4.0 * first.0 - first.1) / 3.0;
            let (got, want, tol) = match sampler {
                Sampler::Heun => ((4.0 * cc - b) / 3.0, limit, 1e-6),
                Sampler::EulerMaruyama => (cc, sde_limit, 1e-4),
                Sampler::Ddpm => (twice, sde_limit, 2e-5),
                _ => (twice, limit, 1e-6),
            };
            let what = format!("{sampler:?}: gradient error {a} {b} {cc} -> {got}, limit {want}");
            eprintln!("{what}");
            assert!(rel(got, want) < tol, "{what}");
        }
    }

    /// int_0^T g2 Sigma_t dt / 2 for rectified flow (g2 = 2t/(1 - t)) of an isotropic
    /// source s0 I, by hand: int 2t (1-t) = T^2 - 2T^3/3 and int 2t^3/(1-t) =
    /// -2 (T^3/3 + T^2/2 + T) - 2 ln(1 - T), so half of s0 times the first plus the second.
    fn half_int_g2_var(s0: f64, t: f64) -> f64 {
        0.5 * (s0 * (t * t - 2.0 * t.powi(3) / 3.0)
            - 2.0 * (t.powi(3) / 3.0 + t * t / 2.0 + t)
            - 2.0 * (1.0 - t).ln())
    }

    /// A constant solenoidal error on an isotropic source has no gradient part; its
    /// Girsanov bound is |Omega|_F^2 times half the integral of g2 v, and an offset b adds
    /// |b|^2 int g2/2 = |b|^2 (-T - ln(1 - T)) to both. Rectified flow's g2 is not
    /// integrable at t = 1, where the bound is refused.
    #[test]
    fn bounds_of_a_constant_solenoidal_error_in_closed_form() {
        let s0 = 2.0;
        let source = GaussianSource::from_spectrum("iso", vec![s0; 3], Some(vec![0.5, -1.0, 0.0]))
            .expect("valid");
        let omega = matrix(&OMEGA);
        let w2 = omega.norm_squared();
        let b = DVector::from_column_slice(&[0.1, 0.2, -0.3]);
        let t_max = 0.9;
        let pure: Field = {
            let omega = omega.clone();
            Box::new(move |_| (omega.clone(), DVector::zeros(3)))
        };
        let bounds = error_bounds(&RectifiedFlow, &source, &pure, 0.0, t_max).expect("finite");
        let want = w2 * half_int_g2_var(s0, t_max);
        assert_eq!(bounds.gradient_part, 0.0, "{bounds:?}");
        assert!(rel(bounds.girsanov, want) < 1e-10, "{bounds:?} vs {want}");
        let shifted: Field = {
            let b = b.clone();
            Box::new(move |_| (omega.clone(), b.clone()))
        };
        let bounds = error_bounds(&RectifiedFlow, &source, &shifted, 0.0, t_max).expect("finite");
        let offset = b.norm_squared() * (-t_max - (1.0 - t_max).ln());
        assert!(
            rel(bounds.gradient_part, offset) < 1e-10,
            "{bounds:?} vs {offset}"
        );
        assert!(rel(bounds.girsanov, want + offset) < 1e-10, "{bounds:?}");
        let none = error_bounds(&RectifiedFlow, &source, &no_error(3), 0.0, t_max);
        let none = none.expect("finite");
        assert_eq!((none.girsanov, none.gradient_part), (0.0, 0.0));
        let refused = error_bounds(&RectifiedFlow, &source, &pure, 0.0, 1.0);
        let err = refused.expect_err("g2 is not integrable at t = 1");
        assert_eq!(err.code, codes::ANALYSIS_SCORE_ERROR);
    }

    /// On the full source: the time-dependent solenoidal error Omega Sigma_t^-1 has no
    /// gradient part; a general constant error's gradient part solves the Lyapunov
    /// equation, here by its Kronecker form (I (x) Sigma_t + Sigma_t (x) I) vec S =
    /// vec(E Sigma_t + Sigma_t E^T) with LU; both integrals by composite Simpson in the
    /// original coordinates.
    #[test]
    fn bounds_on_a_full_source_against_simpson() {
        let source = full_source();
        let (t_min, t_max) = (0.05, 0.9);
        let simpson = |f: &dyn Fn(f64) -> f64| {
            let n = 2000;
            let h = (t_max - t_min) / n as f64;
            let mut acc = f(t_min) + f(t_max);
            for i in 1..n {
                acc += f(t_min + h * i as f64) * if i % 2 == 1 { 4.0 } else { 2.0 };
            }
            acc * h / 3.0
        };
        let g2 = |t: f64| 2.0 * t / (1.0 - t);
        let sol: Field = Box::new(solenoidal);
        let bounds = error_bounds(&RectifiedFlow, &source, &sol, t_min, t_max).expect("finite");
        let want = simpson(&|t| {
            let (e, _) = solenoidal(t);
            0.5 * g2(t) * (&e * sigma_t(t) * e.transpose()).trace()
        });
        assert!(rel(bounds.girsanov, want) < 1e-10, "{bounds:?} vs {want}");
        assert!(bounds.gradient_part < 1e-14 * bounds.girsanov, "{bounds:?}");
        let e = DMatrix::from_row_slice(3, 3, &[0.2, 0.5, 0.0, -0.1, 0.3, 0.4, 0.2, 0.0, -0.1]);
        let b = DVector::from_column_slice(&[0.3, -0.1, 0.2]);
        let general: Field = {
            let (e, b) = (e.clone(), b.clone());
            Box::new(move |_| (e.clone(), b.clone()))
        };
        let bounds = error_bounds(&RectifiedFlow, &source, &general, t_min, t_max).expect("finite");
        let want_full = simpson(&|t| {
            0.5 * g2(t) * ((&e * sigma_t(t) * e.transpose()).trace() + b.norm_squared())
        });
        let want_grad = simpson(&|t| {
            let st = sigma_t(t);
            let eye = DMatrix::<f64>::identity(3, 3);
            let k = eye.kronecker(&st) + st.kronecker(&eye);
            let rhs = &e * &st + &st * e.transpose();
            let vec_s = k
                .lu()
                .solve(&DVector::from_column_slice(rhs.as_slice()))
                .expect("regular");
            let s = DMatrix::from_column_slice(3, 3, vec_s.as_slice());
            0.5 * g2(t) * ((&s * &st * &s).trace() + b.norm_squared())
        });
        assert!(
            rel(bounds.girsanov, want_full) < 1e-10,
            "{bounds:?} vs {want_full}"
        );
        assert!(
            rel(bounds.gradient_part, want_grad) < 1e-10,
            "{bounds:?} vs {want_grad}"
        );
        assert!(bounds.gradient_part < bounds.girsanov, "{bounds:?}");
    }

    /// What cannot be computed is refused, never returned as NaN.
    #[test]
    fn refusals() {
        let source = full_source();
        let sched = RectifiedFlow;
        let grid = time_grid(&GridKind::Uniform, &sched, 8, 0.0, 0.9).expect("grid");
        let fields: [(&str, Field); 4] = [
            (
                "a 2x2 error",
                Box::new(|_| (DMatrix::zeros(2, 2), DVector::zeros(3))),
            ),
            (
                "a short offset",
                Box::new(|_| (DMatrix::zeros(3, 3), DVector::zeros(2))),
            ),
            (
                "a NaN",
                Box::new(|t| {
                    (
                        DMatrix::from_element(3, 3, (t - 0.45) / 0.0),
                        DVector::zeros(3),
                    )
                }),
            ),
            (
                "an infinite offset",
                Box::new(|_| {
                    (
                        DMatrix::zeros(3, 3),
                        DVector::from_element(3, f64::INFINITY),
                    )
                }),
            ),
        ];
        for (what, field) in &fields {
            for sampler in Sampler::ALL {
                let err = learned_kl(&sched, &source, sampler, &grid, Start::Exact, field)
                    .expect_err(what);
                assert_eq!(err.code, codes::ANALYSIS_SCORE_ERROR, "{what}: {err:?}");
            }
            let err = error_bounds(&sched, &source, field, 0.0, 0.9).expect_err(what);
            assert_eq!(err.code, codes::ANALYSIS_SCORE_ERROR, "{what}: {err:?}");
        }
        // At alpha = 0 (t = 1) x0_hat carries sigma^2 e/alpha: refused for a nonzero error,
        // fine for a zero one.
        let cosine = Tangent { gamma: 1.0 };
        let to_one = time_grid(&GridKind::Uniform, &cosine, 8, 0.0, 1.0).expect("grid");
        let constant: Field = Box::new(|_| (DMatrix::identity(3, 3) * 0.1, DVector::zeros(3)));
        let zero = no_error(3);
        for sampler in [Sampler::Ddim, Sampler::Euler, Sampler::Heun, Sampler::Ddpm] {
            let err = learned_kl(&cosine, &source, sampler, &to_one, Start::Prior, &constant)
                .expect_err("infinite coefficient");
            assert_eq!(err.code, codes::ANALYSIS_SAMPLER, "{sampler:?}: {err:?}");
            let ok = learned_kl(&cosine, &source, sampler, &to_one, Start::Prior, &zero);
            assert!(ok.is_ok_and(|k| k.kl_src_out.is_finite()), "{sampler:?}");
        }
        // A grid that is not ascending; bounds on an empty interval.
        let err = learned_kl(
            &sched,
            &source,
            Sampler::Ddim,
            &[0.5, 0.1],
            Start::Exact,
            &zero,
        )
        .expect_err("descending");
        assert_eq!(err.code, codes::ANALYSIS_SAMPLER);
        let err = error_bounds(&sched, &source, &zero, 0.5, 0.5).expect_err("empty");
        assert_eq!(err.code, codes::ANALYSIS_GRID);
        // Work above the budget is refused before any: 1000 dimensions, 10 steps.
        let big = GaussianSource::from_spectrum("big", vec![1.0; 1000], None).expect("valid");
        let grid = time_grid(&GridKind::Uniform, &sched, 10, 0.0, 0.9).expect("grid");
        let big_zero = no_error(1000);
        let err = learned_kl(&sched, &big, Sampler::Ddim, &grid, Start::Exact, &big_zero)
            .expect_err("too much work");
        assert_eq!(err.code, codes::ANALYSIS_SCORE_ERROR);
        let err = error_bounds(&sched, &big, &big_zero, 0.0, 0.9).expect_err("too much work");
        assert_eq!(err.code, codes::ANALYSIS_SCORE_ERROR);
    }

    /// An output covariance that is not positive definite is an infinite KL, as in kl.rs.
    #[test]
    fn a_degenerate_output_is_an_infinite_kl() {
        let v = [1.0, 2.0];
        let mu = DVector::zeros(2);
        for bad in [[1.0, 2.0, 2.0, 1.0], [0.0; 4]] {
            let kl = gaussian_kl(&mu, &DMatrix::from_row_slice(2, 2, &bad), &v).expect("a KL");
            assert_eq!(
                (kl.kl_src_out, kl.kl_out_src),
                (f64::INFINITY, f64::INFINITY)
            );
        }
        // A positive definite one against the textbook formula.
        let cov = DMatrix::from_row_slice(2, 2, &[1.5, 0.3, 0.3, 1.0]);
        let mu = DVector::from_column_slice(&[0.2, -0.4]);
        let src = DMatrix::from_diagonal(&DVector::from_column_slice(&v));
        let kl = gaussian_kl(&mu, &cov, &v).expect("a KL");
        let zero = DVector::zeros(2);
        assert!(rel(kl.kl_src_out, naive_kl(&zero, &src, &mu, &cov)) < 1e-14);
        assert!(rel(kl.kl_out_src, naive_kl(&mu, &cov, &zero, &src)) < 1e-14);
    }
}
