//! The exact-KL-optimal time grid for a process, a source and a sampler: L-BFGS on the
//! grid's log-gaps with the exact KL's gradient, coarse to fine, within a budget of
//! estimated time; started from the best of the named grids.

use super::{
    Cached, GaussianSource, GridKind, Kl, KlGradient, Sampler, Schedule, Start, exact_kl,
    exact_kl_gradient, time_grid,
};
use crate::diag::{Diag, codes};

/// The exact-KL-optimal grid of a process, with the named grids it was measured against.
#[derive(Clone, Debug)]
pub struct OptimalGrid {
    /// The KL on each named grid ([`GridKind::NAMED`], in order), or why it has none: the
    /// grid is undefined (logsnr and karras need finite ends), or its KL is beyond f64.
    pub named: Vec<(GridKind, Result<Kl, Diag>)>,
    pub search: GridSearch,
}

/// The `n`-step grid on [t_min, t_max] minimising the exact KL(src||out) of `sampler` from
/// the prior: [`optimise_grid`] started from the best of the named grids, within
/// [`GRID_SEARCH_BUDGET`]. `n` should be at most [`max_grid_search_steps`].
pub fn optimal_grid(
    process: &dyn Schedule,
    source: &GaussianSource,
    sampler: Sampler,
    n: usize,
    t_min: f64,
    t_max: f64,
) -> Result<OptimalGrid, Diag> {
    let start = Start::Prior;
    // The named grids share their schedule values; the search moves every time at once, so
    // a memo of its values would only grow.
    let cached = Cached::new(process);
    let mut named = Vec::new();
    let mut best: Option<(f64, Vec<f64>)> = None;
    // Why no named grid has a KL, should every grid exist but none have one.
    let mut beyond = None;
    for kind in GridKind::NAMED {
        let kl = time_grid(&kind, &cached, n, t_min, t_max)
            .and_then(|grid| exact_kl(&cached, source, sampler, &grid, start).map(|kl| (kl, grid)));
        let (kl, grid) = match kl {
            Ok(found) => found,
            // Another grid may have a KL within f64: the search starts there.
            Err(d) if d.code == codes::ANALYSIS_BEYOND_F64 => {
                beyond.get_or_insert_with(|| d.clone());
                named.push((kind, Err(d)));
                continue;
            }
            Err(d) if d.code == codes::ANALYSIS_GRID => {
                named.push((kind, Err(d)));
                continue;
            }
            Err(d) => return Err(d),
        };
        if best
            .as_ref()
            .is_none_or(|(b, _)| kl.kl_src_out.total_cmp(b).is_lt())
        {
            best = Some((kl.kl_src_out, grid));
        }
        named.push((kind, Ok(kl)));
    }
    let Some((_, best)) = best else {
        // When no grid exists at all (t_min and t_max one ulp apart), or no grid's KL is
        // within f64.
        if let Some(d) = beyond {
            return Err(d);
        }
        return Err(Diag::new(
            codes::ANALYSIS_GRID,
            format!("no {n}-step grid fits between --t-min {t_min} and --t-max {t_max}"),
        ));
    };
    let with_gradient = |g: &[f64]| exact_kl_gradient(process, source, sampler, g, start);
    let cost = EvaluationCost::of(sampler, source.dimension());
    let search = optimise_grid(best, &with_gradient, cost, GRID_SEARCH_BUDGET)?;
    Ok(OptimalGrid { named, search })
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
    objective: &dyn Fn(&[f64]) -> Result<KlGradient, Diag>,
    cost: EvaluationCost,
    budget: f64,
) -> Result<GridSearch, Diag> {
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
    objective: &dyn Fn(&[f64]) -> Result<KlGradient, Diag>,
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
}
