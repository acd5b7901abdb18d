//! Time grids t_0 = t_min < t_1 < ... < t_N = t_max for an N-step sampler: uniform in t,
//! uniform in log-SNR, Karras et al.'s rho-spacing, or given explicitly.

use super::Schedule;
use crate::diag::{Diag, codes};

/// How the grid points are spaced.
#[derive(Clone, Debug, PartialEq)]
pub enum GridKind {
    /// t_k = t_min + k (t_max - t_min)/N.
    Uniform,
    /// Uniform in lambda = log(alpha/sigma) between lambda(t_min) and lambda(t_max).
    LogSnr,
    /// rho_k = (rho_min^(1/r) + k/N (rho_max^(1/r) - rho_min^(1/r)))^r, r = 7 (EDM),
    /// rho = sigma/alpha between rho(t_min) and rho(t_max).
    Karras,
    /// The given times (any order; sorted ascending, must be distinct and in [0, 1]).
    Times(Vec<f64>),
}

/// |lambda| (or log rho) beyond this is treated as infinite: alpha or sigma is a rounded 0.
const ROUNDED_INFINITY: f64 = 36.0;

/// The EDM exponent r.
pub const KARRAS_RHO: f64 = 7.0;

impl GridKind {
    /// The grids given by name (all but `Times`).
    pub const NAMED: [GridKind; 3] = [GridKind::Uniform, GridKind::LogSnr, GridKind::Karras];

    pub fn name(&self) -> &'static str {
        match self {
            GridKind::Uniform => "uniform",
            GridKind::LogSnr => "logsnr",
            GridKind::Karras => "karras",
            GridKind::Times(_) => "file",
        }
    }
}

/// Checks an explicit grid and returns it ascending.
pub fn check_times(mut times: Vec<f64>) -> Result<Vec<f64>, Diag> {
    if times.len() < 2 {
        return Err(Diag::new(
            codes::ANALYSIS_GRID,
            format!("a time grid needs at least 2 times, found {}", times.len()),
        ));
    }
    if let Some(t) = times.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(Diag::new(
            codes::ANALYSIS_GRID,
            format!("grid time {t} is outside [0, 1]"),
        ));
    }
    times.sort_by(f64::total_cmp);
    if let Some(w) = times.windows(2).find(|w| w[0] == w[1]) {
        return Err(Diag::new(
            codes::ANALYSIS_GRID,
            format!("grid time {} appears twice", w[0]),
        ));
    }
    Ok(times)
}

/// The N + 1 times of an N-step grid on [t_min, t_max], ascending, endpoints exact.
pub fn time_grid(
    kind: &GridKind,
    sched: &dyn Schedule,
    steps: usize,
    t_min: f64,
    t_max: f64,
) -> Result<Vec<f64>, Diag> {
    if let GridKind::Times(t) = kind {
        return check_times(t.clone());
    }
    if steps == 0 {
        return Err(Diag::new(
            codes::ANALYSIS_GRID,
            "the number of steps must be at least 1",
        ));
    }
    if !(0.0 <= t_min && t_min < t_max && t_max <= 1.0) {
        return Err(Diag::new(
            codes::ANALYSIS_GRID,
            format!("need 0 <= t_min < t_max <= 1, got t_min = {t_min}, t_max = {t_max}"),
        ));
    }
    let n = steps as f64;
    let mut grid: Vec<f64> = match kind {
        GridKind::Uniform => (0..=steps)
            .map(|k| t_min + k as f64 * (t_max - t_min) / n)
            .collect(),
        GridKind::LogSnr => {
            let hi = sched.lambda(t_min);
            let lo = sched.lambda(t_max);
            need_finite("logsnr", "lambda", hi, t_min, lo, t_max)?;
            (0..=steps)
                .map(|k| {
                    let target = hi + k as f64 / n * (lo - hi);
                    invert(|t| -sched.lambda(t), -target, t_min, t_max)
                })
                .collect()
        }
        GridKind::Karras => {
            let lo = sched.rho(t_min);
            let hi = sched.rho(t_max);
            need_finite("karras", "rho", lo, t_min, hi, t_max)?;
            let (a, b) = (lo.powf(1.0 / KARRAS_RHO), hi.powf(1.0 / KARRAS_RHO));
            (0..=steps)
                .map(|k| {
                    let target = (a + k as f64 / n * (b - a)).powf(KARRAS_RHO);
                    invert(|t| sched.rho(t), target, t_min, t_max)
                })
                .collect()
        }
        GridKind::Times(_) => unreachable!("handled above"),
    };
    grid[0] = t_min;
    grid[steps] = t_max;
    // Bisection of a monotone function returns a monotone sequence; a schedule that is not
    // monotone could still produce repeated points.
    if grid.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Diag::new(
            codes::ANALYSIS_GRID,
            format!(
                "the {} grid with {steps} steps has repeated times: is the schedule monotone on [{t_min}, {t_max}]?",
                kind.name()
            ),
        ));
    }
    Ok(grid)
}

fn need_finite(grid: &str, what: &str, a: f64, ta: f64, b: f64, tb: f64) -> Result<(), Diag> {
    for (v, t, flag) in [(a, ta, "--t-min"), (b, tb, "--t-max")] {
        // Beyond e^36 the value is a rounded zero of alpha or sigma, not a real end point.
        let limit = if what == "rho" {
            ROUNDED_INFINITY.exp()
        } else {
            ROUNDED_INFINITY
        };
        if v.is_nan() || v.abs() > limit {
            return Err(Diag::new(
                codes::ANALYSIS_GRID,
                format!("the {grid} grid needs a finite {what} at both ends, but {what}({t}) is not finite"),
            )
            .with_help(format!(
                "move the end inward, e.g. `{flag} {}`",
                if flag == "--t-min" { "0.001" } else { "0.999" }
            )));
        }
    }
    Ok(())
}

/// The t in [lo, hi] where the increasing function `f` reaches `target` (bisection to the
/// last bit).
pub fn invert(f: impl Fn(f64) -> f64, target: f64, lo: f64, hi: f64) -> f64 {
    let (mut a, mut b) = (lo, hi);
    for _ in 0..200 {
        let mid = 0.5 * (a + b);
        if mid <= a || mid >= b {
            break;
        }
        if f(mid) < target {
            a = mid;
        } else {
            b = mid;
        }
    }
    0.5 * (a + b)
}

#[cfg(test)]
mod tests {
    use super::super::{RectifiedFlow, Tangent};
    use super::*;

    #[test]
    fn uniform_grid() {
        let g = time_grid(&GridKind::Uniform, &RectifiedFlow, 4, 0.0, 1.0).expect("grid");
        assert_eq!(g, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn logsnr_grid_is_uniform_in_lambda() {
        // Rectified flow: lambda = log((1 - t)/t).
        let g = time_grid(&GridKind::LogSnr, &RectifiedFlow, 5, 0.1, 0.9).expect("grid");
        let lam: Vec<f64> = g.iter().map(|t| ((1.0 - t) / t).ln()).collect();
        for w in lam.windows(2) {
            assert!(((w[1] - w[0]) - (lam[5] - lam[0]) / 5.0).abs() < 1e-12);
        }
        let err = time_grid(&GridKind::LogSnr, &RectifiedFlow, 5, 0.0, 0.9).unwrap_err();
        assert!(err.message.contains("lambda(0) is not finite"), "{err:?}");
    }

    #[test]
    fn karras_grid_on_the_cosine() {
        // Cosine: rho = tan(pi t/2); rho(0) = 0 is finite, rho(1) is not.
        let s = Tangent { gamma: 1.0 };
        let g = time_grid(&GridKind::Karras, &s, 3, 0.0, 0.5).expect("grid");
        let b = 1.0f64.powf(1.0 / 7.0); // rho(0.5) = 1
        for (k, t) in g.iter().enumerate() {
            let want = (k as f64 / 3.0 * b).powi(7);
            assert!(((std::f64::consts::FRAC_PI_2 * t).tan() - want).abs() < 1e-14);
        }
        assert!(time_grid(&GridKind::Karras, &s, 3, 0.0, 1.0).is_err());
    }
}
