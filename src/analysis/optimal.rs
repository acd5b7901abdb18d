//! Optimal schedules for a Gaussian source (docs/theory.md section 6): the best tangent law, the
//! unrestricted optimum of the dominant KL coefficient, and the exact-KL-optimal time grid
//! (L-BFGS with the exact KL's gradient, coarse to fine, within an estimated-time budget).
//!
//! The dominant term of the DDIM KL is N^-2 (1/4) sum_i J_i^2 with
//! J_i[rho] = int_0^1 lambda_i rho'^2 / (lambda_i + rho^2)^2 dt.

use super::numerics::Sum;
use super::{AnalysisError, Kl, KlGradient, Sampler};

/// gamma* = (sum lambda / sum 1/lambda)^(1/4): the best tangent law rho = gamma tan(pi t/2).
pub fn gamma_star(eigenvalues: &[f64]) -> f64 {
    let (mut a, mut b) = (Sum::new(), Sum::new());
    for &l in eigenvalues {
        a.add(l);
        b.add(1.0 / l);
    }
    (a.value() / b.value()).powf(0.25)
}

/// J_i of the tangent law rho = gamma tan(pi t/2): (pi^2/8)(gamma/sqrt(l) + sqrt(l)/gamma).
pub fn tangent_j(gamma: f64, lambda: f64) -> f64 {
    let r = lambda.sqrt();
    std::f64::consts::PI.powi(2) / 8.0 * (gamma / r + r / gamma)
}

/// (1/4) sum_i J_i(gamma)^2, the limit of N^2 KL for the tangent law with this gamma.
pub fn tangent_coefficient(gamma: f64, eigenvalues: &[f64]) -> f64 {
    let mut s = Sum::new();
    for &l in eigenvalues {
        let j = tangent_j(gamma, l);
        s.add(j * j);
    }
    s.value() / 4.0
}

/// The unrestricted minimiser of sum_i J_i^2 over monotone rho with rho(0) = 0,
/// rho(1) = infinity, as t(rho) on a grid of x = ln rho.
#[derive(Clone, Debug)]
pub struct OptimalSchedule {
    /// (1/4) sum_i J_i^2 at the optimum.
    pub coefficient: f64,
    /// J_i per distinct eigenvalue, with the eigenvalue and its multiplicity.
    pub j: Vec<(f64, usize, f64)>,
    /// Fixed-point iterations used, and whether the last change was below tolerance.
    pub iterations: usize,
    pub converged: bool,
    /// ln rho at the quadrature nodes, and t(rho) there (increasing from 0 to 1).
    log_rho: Vec<f64>,
    t: Vec<f64>,
}

impl OptimalSchedule {
    /// rho(t), by linear interpolation of ln rho in t between quadrature nodes.
    pub fn rho_at(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        if t >= 1.0 {
            return f64::INFINITY;
        }
        let k = self.t.partition_point(|&x| x < t);
        if k == 0 {
            return self.log_rho[0].exp();
        }
        if k >= self.t.len() {
            return self.log_rho[self.t.len() - 1].exp();
        }
        let (t0, t1) = (self.t[k - 1], self.t[k]);
        let f = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
        (self.log_rho[k - 1] + f * (self.log_rho[k] - self.log_rho[k - 1])).exp()
    }
}

/// Spacing of the quadrature in x = ln rho (the integrands are analytic and decay like
/// e^-|x|, so the trapezoid rule converges geometrically) and the margin beyond the spectrum.
const DX: f64 = 0.02;
const MARGIN: f64 = 38.0;

/// Solves the stationarity condition sqrt(W(rho)) rho' = const,
/// W = sum_i J_i lambda_i / (lambda_i + rho^2)^2, by fixed-point iteration on the J_i.
pub fn optimal_schedule(eigenvalues: &[f64]) -> Result<OptimalSchedule, AnalysisError> {
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    let mut sorted = eigenvalues.to_vec();
    sorted.sort_by(f64::total_cmp);
    for l in sorted {
        if !(l > 0.0 && l.is_finite()) {
            return Err(AnalysisError::new(
                "diffsym::analysis::schedule",
                format!("eigenvalue {l} is not positive"),
            ));
        }
        match distinct.last_mut() {
            Some((v, n)) if *v == l => *n += 1,
            _ => distinct.push((l, 1)),
        }
    }
    if distinct.is_empty() {
        return Err(AnalysisError::new(
            "diffsym::analysis::schedule",
            "the spectrum is empty",
        ));
    }
    let lo = 0.5 * distinct[0].0.ln() - MARGIN;
    let hi = 0.5 * distinct[distinct.len() - 1].0.ln() + MARGIN;
    let nodes = ((hi - lo) / DX).ceil() as usize + 1;
    let xs: Vec<f64> = (0..nodes).map(|k| lo + k as f64 * DX).collect();
    // kernel[k][i] = lambda_i / (lambda_i + rho_k^2)^2 at rho_k = e^x_k.
    let kernel: Vec<Vec<f64>> = xs
        .iter()
        .map(|&x| {
            let r2 = (2.0 * x).exp();
            distinct
                .iter()
                .map(|&(l, _)| l / ((l + r2) * (l + r2)))
                .collect()
        })
        .collect();
    // Start from the best tangent's J_i.
    let g = gamma_star(eigenvalues);
    let mut j: Vec<f64> = distinct.iter().map(|&(l, _)| tangent_j(g, l)).collect();
    let mut iterations = 0;
    let mut converged = false;
    let mut sqrt_w = vec![0.0; nodes];
    while iterations < 2000 {
        iterations += 1;
        for (k, row) in kernel.iter().enumerate() {
            let mut w = Sum::new();
            for ((kv, &(_, n)), &ji) in row.iter().zip(&distinct).zip(&j) {
                w.add(n as f64 * ji * kv);
            }
            sqrt_w[k] = w.value().sqrt();
        }
        // C = int sqrt(W) drho = int sqrt(W) e^x dx.
        let mut c = Sum::new();
        for (k, &x) in xs.iter().enumerate() {
            c.add(sqrt_w[k] * x.exp());
        }
        let c = c.value() * DX;
        let mut next = vec![0.0; distinct.len()];
        for (i, ni) in next.iter_mut().enumerate() {
            let mut s = Sum::new();
            for (k, &x) in xs.iter().enumerate() {
                s.add(kernel[k][i] * x.exp() / sqrt_w[k]);
            }
            *ni = c * s.value() * DX;
        }
        let change = next
            .iter()
            .zip(&j)
            .map(|(a, b)| ((a - b) / b).abs())
            .fold(0.0, f64::max);
        j = next;
        if change < 1e-13 {
            converged = true;
            break;
        }
    }
    // t(rho) = int_0^rho sqrt(W) / C, cumulative trapezoid in x (the part below the first
    // node is e^-MARGIN-small and dropped).
    let mut t = Vec::with_capacity(nodes);
    let mut acc = Sum::new();
    let mut prev = sqrt_w[0] * xs[0].exp();
    t.push(0.0);
    for k in 1..nodes {
        let cur = sqrt_w[k] * xs[k].exp();
        acc.add(0.5 * DX * (prev + cur));
        prev = cur;
        t.push(acc.value());
    }
    let total = t[nodes - 1];
    for v in &mut t {
        *v /= total;
    }
    let mut coefficient = Sum::new();
    for (&(_, n), &ji) in distinct.iter().zip(&j) {
        coefficient.add(n as f64 * ji * ji);
    }
    Ok(OptimalSchedule {
        coefficient: coefficient.value() / 4.0,
        j: distinct
            .iter()
            .zip(&j)
            .map(|(&(l, n), &ji)| (l, n, ji))
            .collect(),
        iterations,
        converged,
        log_rho: xs,
        t,
    })
}

/// The result of a time-grid search.
#[derive(Clone, Debug)]
pub struct GridSearch {
    pub grid: Vec<f64>,
    pub kl: Kl,
    /// Quasi-Newton iterations and objective evaluations (each with its gradient), over all
    /// levels.
    pub iterations: usize,
    pub evaluations: usize,
    /// Whether the finest level met a stopping rule (otherwise the work budget ran out).
    pub converged: bool,
}

/// The estimated cost of one evaluation of the KL with its gradient, in ns on a 2-core
/// machine (one thread: the directions of a source with d <= 4096 are one chunk):
/// (N + 1) (per_point + per_direction d). Measured in release on N = 1000 grids,
/// d = 1 ... 4096 (`exact_kl_gradient`; bench `exact_kl`, group "KL vs gradient"):
/// per direction and step 8.8 ns (DDIM), 18 (DPM-1), 34 (DDPM), 65 (Euler), 84 (Heun),
/// 85 (Euler-Maruyama), each rounded up here; per point the schedule's values, alpha,
/// sigma, alpha', sigma' (and alpha'', sigma'' for the Euler family), 1.0 (1.9) us for
/// `cosine` and at most 9.4 (15.5) us among the bundled processes (`sd_scaled_linear`),
/// whose figure is used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvaluationCost {
    pub per_point: f64,
    pub per_direction: f64,
}

impl EvaluationCost {
    pub fn of(sampler: Sampler, d: usize) -> EvaluationCost {
        let (per_point, per_step) = match sampler {
            Sampler::Ddim => (14_000.0, 10.0),
            Sampler::Dpm1 => (14_000.0, 20.0),
            Sampler::Ddpm => (14_000.0, 40.0),
            Sampler::Euler => (22_000.0, 75.0),
            Sampler::Heun | Sampler::EulerMaruyama => (22_000.0, 95.0),
        };
        EvaluationCost {
            per_point,
            per_direction: per_step * d as f64,
        }
    }

    /// The estimated ns of one evaluation on an N-step grid.
    pub fn at(&self, steps: usize) -> f64 {
        (steps as f64 + 1.0) * (self.per_point + self.per_direction)
    }
}

/// The estimated ns a search may spend: evaluations stop when the next would exceed it.
/// 20 s leaves room, within about 30 s, for the start grids (logsnr and karras invert the
/// schedule by bisection: 4.4 s for `sd_scaled_linear` at N = 5463) and for the estimate's
/// error.
pub const GRID_SEARCH_BUDGET: f64 = 20e9;

/// The evaluations at the finest level the bound on N leaves room for. With N = 1000 on
/// the digits (d = 64, [0.001, 0.999]) the searches for cosine and vp_linear converge
/// within 59 to 383 evaluations over all levels (DDPM on cosine: 1336, most of them on the
/// coarse levels, at a quarter or a sixteenth of the cost), except Euler and Heun on
/// cosine, whose KL falls towards 0 (errors cancel across directions) until the budget
/// stops them (1302 and 1242 evaluations, 4.7 s).
const MIN_EVALUATIONS: f64 = 250.0;

/// The most steps [`optimise_grid`] is given for `sampler` on a source of dimension `d`:
/// the largest N whose [`MIN_EVALUATIONS`] evaluations fit in [`GRID_SEARCH_BUDGET`]
/// (larger searches would stop on the budget long before converging). For the digits
/// (d = 64): 5463 steps with DDIM, 5234 DPM-1, 4829 DDPM, 2984 Euler, 2848 Heun and
/// Euler-Maruyama; for d = 3, 5701 to 3588. Measured at those bounds on the digits
/// (release, 2 cores shared): `sd_scaled_linear`, the slowest bundled schedule, 24 s in all
/// with DDIM (4.4 s of it the start grids), 21 s DPM-1, 20 s Heun, at most 6 s with the
/// others; `cosine` 0.7 s (DDIM) and 4.1 s (Heun). `--steps 1000` there: 0.4 s with DDIM on
/// [0, 1] (coordinate descent, N^2 d, took about an hour by extrapolation from N = 70: 18 s),
/// 0.3 to 4.7 s with any sampler for cosine and vp_linear on [0.001, 0.999].
pub fn max_grid_search_steps(sampler: Sampler, d: usize) -> usize {
    let per_step = EvaluationCost::of(sampler, d).at(0);
    ((GRID_SEARCH_BUDGET / (MIN_EVALUATIONS * per_step)).floor() as usize).saturating_sub(1)
}

/// Pairs (s, y) the L-BFGS inverse Hessian is built from.
const MEMORY: usize = 12;
/// Stop once two iterations in a row improve the KL by less than F_TOL, relative, or
/// once no log-gap's derivative exceeds G_TOL times the KL.
const F_TOL: f64 = 1e-10;
const G_TOL: f64 = 1e-10;
/// Wolfe conditions: sufficient decrease and curvature.
const C1: f64 = 1e-4;
const C2: f64 = 0.9;
/// Trials per line search, and the largest change of a log-gap in one step.
const LINE_TRIALS: usize = 20;
const MAX_STEP: f64 = 4.0;
/// Grids of more steps are searched coarse to fine: first the start grid's every 4th
/// time, its optimum interpolated to N steps as a second candidate start.
const COARSEST: usize = 64;
const COARSENING: usize = 4;

/// Minimises KL(src||out) over the interior points of `start` (ascending, endpoints fixed)
/// by L-BFGS on the log-gaps, within `budget` estimated ns of evaluations at `cost` each.
///
/// The gaps are (t_max - t_min) softmax(z), so every z is a strictly increasing grid with
/// the same ends, and a gap's scale is its own (the optimal grids' gaps span decades).
/// `objective` gives the exact KL and its gradient with respect to the interior times
/// ([`super::exact_kl_gradient`]); through the softmax, dKL/dz_j = g_j (sum_{k >= j}
/// dKL/dt_k - sum_k dKL/dt_k (t_k - t_min)/(t_max - t_min)). The line search keeps the
/// strong Wolfe conditions (C1, C2) by quadratic interpolation; a trial grid where the
/// KL is undefined counts as too far.
///
/// With N >= 4 COARSEST steps the search first runs on the start grid's every 4th time
/// (recursively, with a quarter of the budget) and starts from the better of `start` and
/// that optimum interpolated to N steps: where the start crowds its times into a region the
/// KL hardly depends on (the logsnr grid's ends, for DDPM), moving them out takes L-BFGS
/// thousands of iterations at N = 1000 and tens at N = 62.
///
/// Stops when two iterations in a row improve the KL by less than F_TOL relative, when no
/// log-gap's derivative exceeds G_TOL times the KL, when no step along the quasi-Newton or
/// the steepest direction decreases it (rounding level), or when the next evaluation would
/// exceed the budget. Deterministic: a fixed sequence of f64 operations on the objective's
/// (thread-independent) values. The result is never worse than `start`.
pub fn optimise_grid(
    start: Vec<f64>,
    objective: &dyn Fn(&[f64]) -> Result<KlGradient, AnalysisError>,
    cost: EvaluationCost,
    budget: f64,
) -> Result<GridSearch, AnalysisError> {
    let first = objective(&start)?;
    let n = start.len() - 1;
    let mut spent = cost.at(n);
    let mut init = (start.clone(), first.clone());
    let (mut iterations, mut evaluations) = (0, 1);
    if n >= COARSENING * COARSEST {
        let nc = n / COARSENING;
        // The start's times nearest to j N/N_c: a subset of valid times, ascending.
        let coarse_start: Vec<f64> = (0..=nc).map(|j| start[(j * n + nc / 2) / nc]).collect();
        if let Ok(coarse) = optimise_grid(coarse_start, objective, cost, budget / 4.0) {
            iterations += coarse.iterations;
            evaluations += coarse.evaluations;
            spent += (coarse.evaluations as f64) * cost.at(nc);
            let fine = prolong(&coarse.grid, n);
            if spent + cost.at(n) <= budget
                && let Ok(r) = objective(&fine)
            {
                evaluations += 1;
                spent += cost.at(n);
                if r.kl.kl_src_out < first.kl.kl_src_out {
                    init = (fine, r);
                }
            }
        }
    }
    let evals_left = ((budget - spent) / cost.at(n)).floor().max(0.0) as usize;
    let mut found = lbfgs(init.0, init.1, objective, evals_left);
    found.iterations += iterations;
    found.evaluations += evaluations;
    if found.kl.kl_src_out >= first.kl.kl_src_out {
        found.grid = start;
        found.kl = first.kl;
    }
    Ok(found)
}

/// The N-step grid t(k/N), t piecewise linear through the coarse grid's times at j/N_c;
/// ends exact.
fn prolong(coarse: &[f64], n: usize) -> Vec<f64> {
    let nc = coarse.len() - 1;
    let mut out: Vec<f64> = (0..=n)
        .map(|k| {
            let x = k as f64 * nc as f64 / n as f64;
            let j = (x.floor() as usize).min(nc - 1);
            let f = x - j as f64;
            coarse[j] + f * (coarse[j + 1] - coarse[j])
        })
        .collect();
    out[0] = coarse[0];
    out[n] = coarse[nc];
    out
}

/// A point of the search: log-gaps `z`, its grid, the KL there and dKL(src||out)/dz.
#[derive(Clone, Debug)]
struct Iterate {
    z: Vec<f64>,
    grid: Vec<f64>,
    kl: Kl,
    g: Vec<f64>,
}

impl Iterate {
    fn f(&self) -> f64 {
        self.kl.kl_src_out
    }
}

/// The grid with gaps (t_max - t_min) softmax(z), ends exact, and its gaps; None unless
/// strictly increasing.
fn grid_of(z: &[f64], t_min: f64, t_max: f64) -> Option<(Vec<f64>, Vec<f64>)> {
    let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|&x| (x - top).exp()).collect();
    let total: f64 = e.iter().sum();
    let span = t_max - t_min;
    let mut grid = Vec::with_capacity(z.len() + 1);
    grid.push(t_min);
    let mut acc = 0.0;
    for &x in &e[..e.len() - 1] {
        acc += x;
        grid.push(t_min + span * (acc / total));
    }
    grid.push(t_max);
    let ok = total.is_finite() && grid.windows(2).all(|w| w[0] < w[1]);
    let gaps = e.iter().map(|&x| span * (x / total)).collect();
    ok.then_some((grid, gaps))
}

/// The L-BFGS iteration of [`optimise_grid`] from `start` (whose objective is `first`),
/// with at most `max_evaluations` further evaluations.
fn lbfgs(
    start: Vec<f64>,
    first: KlGradient,
    objective: &dyn Fn(&[f64]) -> Result<KlGradient, AnalysisError>,
    max_evaluations: usize,
) -> GridSearch {
    let n = start.len() - 1;
    let mut result = GridSearch {
        grid: start.clone(),
        kl: first.kl,
        iterations: 0,
        evaluations: 0,
        converged: true,
    };
    if n < 2 || !first.kl.kl_src_out.is_finite() {
        return result;
    }
    let (t_min, t_max) = (start[0], start[n]);
    let mut evaluations = 0;
    let mut eval = |z: Vec<f64>| -> Option<Iterate> {
        let (grid, gaps) = grid_of(&z, t_min, t_max)?;
        if evaluations >= max_evaluations {
            return None;
        }
        evaluations += 1;
        let r = objective(&grid).ok()?;
        if !r.kl.kl_src_out.is_finite() || !r.d_times.iter().all(|x| x.is_finite()) {
            return None;
        }
        let g = z_gradient(&grid, &gaps, &r.d_times);
        Some(Iterate {
            z,
            grid,
            kl: r.kl,
            g,
        })
    };
    let z0: Vec<f64> = start.windows(2).map(|w| (w[1] - w[0]).ln()).collect();
    let Some(mut x) = eval(z0) else {
        result.evaluations = evaluations;
        return result;
    };
    let mut memory: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new();
    let mut iterations = 0;
    let mut small = 0;
    let converged = loop {
        let gmax = x.g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if gmax <= G_TOL * x.f() {
            break true;
        }
        iterations += 1;
        let mut step = None;
        // The quasi-Newton direction, then (if it makes no progress) the steepest one.
        for steepest in [false, true] {
            if steepest {
                if memory.is_empty() {
                    break;
                }
                memory.clear();
            }
            let d = direction(&x.g, &memory);
            let slope = dot(&x.g, &d);
            if slope.is_nan() || slope >= 0.0 {
                continue;
            }
            let dmax = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let alpha0 = if memory.is_empty() {
                (0.1 / dmax).min(1.0)
            } else {
                (MAX_STEP / dmax).min(1.0)
            };
            step = line_search(&x, &d, slope, alpha0, MAX_STEP / dmax, &mut eval);
            if step.is_some() {
                break;
            }
        }
        let Some(next) = step else {
            // No decrease along either direction: converged to rounding level, unless the
            // budget ran out.
            break evaluations < max_evaluations;
        };
        let s: Vec<f64> = next.z.iter().zip(&x.z).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next.g.iter().zip(&x.g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if memory.len() == MEMORY {
                memory.remove(0);
            }
            memory.push((s, y, sy));
        }
        let improvement = (x.f() - next.f()) / x.f();
        x = next;
        small = if improvement < F_TOL { small + 1 } else { 0 };
        if small == 2 {
            break true;
        }
    };
    result.iterations = iterations;
    result.evaluations = evaluations;
    result.converged = converged;
    if x.f() < first.kl.kl_src_out {
        result.grid = x.grid;
        result.kl = x.kl;
    }
    result
}

/// dKL/dz from dKL/dt at the interior times (see [`optimise_grid`]).
fn z_gradient(grid: &[f64], gaps: &[f64], d_times: &[f64]) -> Vec<f64> {
    let n = grid.len() - 1;
    let span = grid[n] - grid[0];
    let mut c = 0.0;
    for (k, &f) in d_times.iter().enumerate() {
        c += f * ((grid[k + 1] - grid[0]) / span);
    }
    // suffix = sum_{k >= j} dKL/dt_k over interior k, for gap j = 1, ..., N (index j - 1).
    let mut out = vec![0.0; n];
    let mut suffix = 0.0;
    for j in (1..=n).rev() {
        if j < n {
            suffix += d_times[j - 1];
        }
        out[j - 1] = gaps[j - 1] * (suffix - c);
    }
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// -H g by the L-BFGS two-loop recursion, H0 = (s.y / y.y) I from the newest pair.
fn direction(g: &[f64], memory: &[(Vec<f64>, Vec<f64>, f64)]) -> Vec<f64> {
    let mut q: Vec<f64> = g.to_vec();
    let mut alphas = Vec::with_capacity(memory.len());
    for (s, y, sy) in memory.iter().rev() {
        let a = dot(s, &q) / sy;
        for (qi, yi) in q.iter_mut().zip(y) {
            *qi -= a * yi;
        }
        alphas.push(a);
    }
    if let Some((_, y, sy)) = memory.last() {
        let gamma = sy / dot(y, y);
        for qi in &mut q {
            *qi *= gamma;
        }
    }
    for ((s, y, sy), a) in memory.iter().zip(alphas.iter().rev()) {
        let b = dot(y, &q) / sy;
        for (qi, si) in q.iter_mut().zip(s) {
            *qi += (a - b) * si;
        }
    }
    for qi in &mut q {
        *qi = -*qi;
    }
    q
}

/// A step along `d` satisfying the strong Wolfe conditions (or, failing that after
/// LINE_TRIALS trials, the best trial with sufficient decrease); None if no trial had it.
/// Nocedal and Wright's algorithms 3.5 and 3.6, with quadratic interpolation.
fn line_search(
    x: &Iterate,
    d: &[f64],
    slope: f64,
    alpha0: f64,
    alpha_max: f64,
    eval: &mut dyn FnMut(Vec<f64>) -> Option<Iterate>,
) -> Option<Iterate> {
    let f0 = x.f();
    // lo: the best step so far with sufficient decrease (alpha, f, slope); hi: the other
    // end of a bracket of the minimum, with its f (infinite where undefined).
    let mut lo = (0.0, f0, slope);
    let mut lo_point: Option<Iterate> = None;
    let mut hi: Option<(f64, f64)> = None;
    let mut alpha = alpha0;
    for _ in 0..LINE_TRIALS {
        let z: Vec<f64> = x.z.iter().zip(d).map(|(a, b)| a + alpha * b).collect();
        match eval(z) {
            Some(p) if p.f() <= f0 + C1 * alpha * slope && p.f() < lo.1 => {
                let dphi = dot(&p.g, d);
                if dphi.abs() <= -C2 * slope {
                    return Some(p);
                }
                // The minimum lies between the old lo and this point when the slope here
                // points back at it.
                let back = match hi {
                    Some((a_hi, _)) => dphi * (a_hi - lo.0) >= 0.0,
                    None => dphi > 0.0,
                };
                if back {
                    hi = Some((lo.0, lo.1));
                }
                lo = (alpha, p.f(), dphi);
                lo_point = Some(p);
            }
            Some(p) => hi = Some((alpha, p.f())),
            None => hi = Some((alpha, f64::INFINITY)),
        }
        alpha = match hi {
            None => {
                if lo.0 >= alpha_max {
                    break;
                }
                (4.0 * lo.0).min(alpha_max)
            }
            Some((a_hi, f_hi)) => {
                let delta = a_hi - lo.0;
                if delta.abs() <= 1e-14 * lo.0.abs().max(alpha0) {
                    break;
                }
                // The minimum of the quadratic through f(lo), f'(lo) and f(hi), kept within
                // the middle 80% of the bracket.
                let curv = f_hi - lo.1 - lo.2 * delta;
                let frac = if f_hi.is_finite() && curv > 0.0 {
                    (-lo.2 * delta / (2.0 * curv)).clamp(0.1, 0.9)
                } else {
                    0.2
                };
                lo.0 + frac * delta
            }
        };
    }
    lo_point
}

#[cfg(test)]
mod tests {
    use super::super::{
        GaussianSource, GridKind, Start, Tangent, exact_kl, exact_kl_gradient,
        exact_kl_gradient_with_workers, time_grid,
    };
    use super::*;
    use std::f64::consts::FRAC_PI_2;

    fn source(eigs: &[f64]) -> GaussianSource {
        GaussianSource::from_spectrum("s", eigs.to_vec(), None).expect("source")
    }

    #[test]
    fn log_gap_gradient_matches_differences() {
        let src = source(&[1.0, 0.1, 0.003]);
        let sched = Tangent { gamma: 0.5 };
        let f = |z: &[f64]| {
            let (g, _) = grid_of(z, 0.0, 1.0).expect("grid");
            exact_kl(&sched, &src, Sampler::Ddim, &g, Start::Prior)
                .expect("kl")
                .kl_src_out
        };
        let z: Vec<f64> = (0..8).map(|j| (0.7 * j as f64).sin()).collect();
        let (g, gaps) = grid_of(&z, 0.0, 1.0).expect("grid");
        let r = exact_kl_gradient(&sched, &src, Sampler::Ddim, &g, Start::Prior).expect("kl");
        let got = z_gradient(&g, &gaps, &r.d_times);
        let fd: Vec<f64> = (0..8)
            .map(|j| {
                let d = |h: f64| {
                    let (mut a, mut b) = (z.clone(), z.clone());
                    a[j] += h;
                    b[j] -= h;
                    (f(&a) - f(&b)) / (2.0 * h)
                };
                (4.0 * d(5e-4) - d(1e-3)) / 3.0
            })
            .collect();
        let scale = fd.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for (a, b) in got.iter().zip(&fd) {
            assert!((a - b).abs() <= 1e-8 * scale, "{a} vs {b}");
        }
        // Softmax: shifting every z changes nothing.
        assert!(got.iter().sum::<f64>().abs() <= 1e-12 * scale);
    }

    #[test]
    fn one_direction_gets_equal_angle_steps() {
        // One direction: the DDIM KL depends on the grid through u = sum_k ln cos^2(dphi_k),
        // phi = atan(rho/sqrt(l)), with sum_k dphi_k = pi/2 fixed; ln cos is concave, so
        // equal steps maximise u (u < 0) and minimise KL = (e^-u - 1 + u)/2
        // (docs/theory.md section 6). On the cosine (rho = tan(pi t/2)),
        // t_k = (2/pi) atan(sqrt(l) tan(k pi/(2N))). At t = 1 the prior is the exact
        // marginal, so both starts agree.
        let l: f64 = 0.05;
        let src = source(&[l]);
        let sched = Tangent { gamma: 1.0 };
        for n in [12usize, 300] {
            let u = 2.0 * n as f64 * (FRAC_PI_2 / n as f64).cos().ln();
            let want_kl = 0.5 * ((-u).exp_m1() + u);
            let want: Vec<f64> = (0..=n)
                .map(|k| {
                    let phi = FRAC_PI_2 * k as f64 / n as f64;
                    (l.sqrt() * phi.tan()).atan() / FRAC_PI_2
                })
                .collect();
            for sampler in [Sampler::Ddim, Sampler::Dpm1] {
                for start in [Start::Prior, Start::Exact] {
                    let grid = time_grid(&GridKind::Uniform, &sched, n, 0.0, 1.0).expect("grid");
                    let objective = |g: &[f64]| exact_kl_gradient(&sched, &src, sampler, g, start);
                    let cost = EvaluationCost::of(sampler, 1);
                    let found =
                        optimise_grid(grid, &objective, cost, GRID_SEARCH_BUDGET).expect("search");
                    assert!(found.converged, "{n} {sampler:?} {start:?}");
                    let kl = found.kl.kl_src_out;
                    assert!((kl / want_kl - 1.0).abs() < 1e-10, "{n}: {kl} vs {want_kl}");
                    for (a, b) in found.grid.iter().zip(&want) {
                        assert!((a - b).abs() < 1e-7, "{n}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_search_does_not_depend_on_threads() {
        let eigs: Vec<f64> = (1..=9000).map(|k| (k as f64).powf(-1.3)).collect();
        let src = source(&eigs);
        let sched = Tangent { gamma: 0.5 };
        let grid = time_grid(&GridKind::Uniform, &sched, 8, 0.0, 1.0).expect("grid");
        let cost = EvaluationCost::of(Sampler::Ddim, src.dimension());
        let run = |workers: usize| {
            let objective = |g: &[f64]| {
                exact_kl_gradient_with_workers(
                    &sched,
                    &src,
                    Sampler::Ddim,
                    g,
                    Start::Prior,
                    workers,
                )
            };
            optimise_grid(grid.clone(), &objective, cost, GRID_SEARCH_BUDGET).expect("search")
        };
        let (one, three) = (run(1), run(3));
        assert_eq!(one.grid, three.grid);
        assert_eq!(one.kl, three.kl);
        assert_eq!(one.evaluations, three.evaluations);
    }

    #[test]
    fn the_budget_stops_the_search_and_keeps_the_best_grid() {
        let src = source(&[1.0, 0.01, 1e-4]);
        let sched = Tangent { gamma: 1.0 };
        let grid = time_grid(&GridKind::Uniform, &sched, 20, 0.0, 1.0).expect("grid");
        let objective = |g: &[f64]| exact_kl_gradient(&sched, &src, Sampler::Ddim, g, Start::Prior);
        let start = objective(&grid).expect("kl").kl.kl_src_out;
        let cost = EvaluationCost::of(Sampler::Ddim, 3);
        let found =
            optimise_grid(grid.clone(), &objective, cost, 5.5 * cost.at(20)).expect("search");
        assert!(!found.converged);
        assert_eq!(found.evaluations, 5);
        assert!(found.kl.kl_src_out < start);
        let full = optimise_grid(grid, &objective, cost, GRID_SEARCH_BUDGET).expect("search");
        assert!(full.converged && full.kl.kl_src_out < found.kl.kl_src_out);
    }

    #[test]
    fn the_bound_leaves_room_for_the_evaluations_it_names() {
        for sampler in Sampler::ALL {
            for d in [1, 64, 100_000] {
                let n = max_grid_search_steps(sampler, d);
                let cost = EvaluationCost::of(sampler, d);
                assert!(MIN_EVALUATIONS * cost.at(n) <= GRID_SEARCH_BUDGET);
                assert!(MIN_EVALUATIONS * cost.at(n + 1) > GRID_SEARCH_BUDGET);
            }
        }
        // Issue 11: --steps 1000 on the 64-eigenvalue digits, with every sampler.
        assert!(
            Sampler::ALL
                .iter()
                .all(|&s| max_grid_search_steps(s, 64) >= 1000)
        );
    }

    #[test]
    fn single_eigenvalue_optimum_is_the_tangent() {
        // J = pi^2/4, coefficient pi^4/64 (docs/theory.md section 6), and
        // rho = sqrt(l) tan(pi t/2).
        let s = optimal_schedule(&[2.0]).expect("optimum");
        assert!(s.converged);
        let want = std::f64::consts::PI.powi(4) / 64.0;
        assert!(
            (s.coefficient / want - 1.0).abs() < 1e-10,
            "{}",
            s.coefficient
        );
        for t in [0.2, 0.5, 0.8] {
            let r = 2f64.sqrt() * (std::f64::consts::FRAC_PI_2 * t).tan();
            assert!((s.rho_at(t) / r - 1.0).abs() < 1e-3, "{t}: {}", s.rho_at(t));
        }
    }
}
