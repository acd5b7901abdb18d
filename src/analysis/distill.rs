//! The composition error of one-step students (docs/theory.md section 8): a training-free
//! analogue of flow-map distillation. On each segment of a grid the exact probability-flow
//! map is replaced by one step that uses the exact mixture score (a DDIM step, or an Euler
//! step), the steps are composed from t_max to t_min, and the result is compared with the
//! exact flow map over seeded samples from the prior N(0, I).

use super::flowmap::{FlowMapError, flow_to};
use super::mixture::Mixture;
use super::schedule::Schedule;

/// The one-step student of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Student {
    /// x' = alpha_s x0_hat + sigma_s eps_hat, with eps_hat = -sigma_t score.
    Ddim,
    /// x' = x + (s - t)(f x - (g2/2) score) at the segment's start.
    Euler,
}

impl Student {
    pub const ALL: [Student; 2] = [Student::Ddim, Student::Euler];

    pub fn name(self) -> &'static str {
        match self {
            Student::Ddim => "ddim",
            Student::Euler => "euler",
        }
    }
}

/// Why the experiment could not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DistillError {
    #[error("the exact flow map: {0}")]
    Exact(FlowMapError),
    #[error("the student's step from t = {0} is not finite")]
    Step(f64),
}

/// A point of R^d.
type Point = Vec<f64>;

/// Samples per work item of the parallel loops: each item builds its own schedule (a
/// process's schedule is not shared between threads).
const CHUNK: usize = 32;

/// Relative mean squared error of the composed students against the exact map:
/// sum |student - exact|^2 / sum |exact|^2 over the samples, summed in sample order (the
/// same on any number of threads). `schedule` makes a schedule for one thread.
pub fn composition_error<S: Schedule>(
    m: &Mixture,
    schedule: &(dyn Fn() -> S + Sync),
    grid: &[f64],
    student: Student,
    exact: &[Vec<f64>],
    prior: &[Vec<f64>],
) -> Result<f64, DistillError> {
    let items: Vec<(&[Point], &[Point])> = prior.chunks(CHUNK).zip(exact.chunks(CHUNK)).collect();
    let parts = crate::par::map(&items, crate::par::workers(items.len()), |(xs, wants)| {
        let s = schedule();
        xs.iter()
            .zip(wants.iter())
            .map(|(x, want)| {
                let got = compose(m, &s, grid, student, x)?;
                let num = got
                    .iter()
                    .zip(want)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>();
                let den = want.iter().map(|b| b * b).sum::<f64>();
                Ok((num, den))
            })
            .collect::<Result<Vec<(f64, f64)>, DistillError>>()
    });
    let (mut num, mut den) = (0.0, 0.0);
    for part in parts {
        for (n, d) in part? {
            num += n;
            den += d;
        }
    }
    Ok(num / den)
}

/// The students composed from the last grid time to the first.
fn compose(
    m: &Mixture,
    s: &dyn Schedule,
    grid: &[f64],
    student: Student,
    x: &[f64],
) -> Result<Vec<f64>, DistillError> {
    let mut y = x.to_vec();
    for w in grid.windows(2).rev() {
        let (to, from) = (w[0], w[1]);
        let (a, sg) = (s.alpha(from), s.sigma(from));
        let score = m.marginal(a, sg).score(&y);
        y = match student {
            Student::Ddim => {
                let (a1, s1) = (s.alpha(to), s.sigma(to));
                y.iter()
                    .zip(&score)
                    .map(|(x, sc)| {
                        let eps = -sg * sc;
                        let x0 = (x - sg * eps) / a;
                        a1 * x0 + s1 * eps
                    })
                    .collect()
            }
            Student::Euler => {
                let (da, ds) = (s.dalpha(from), s.dsigma(from));
                let f = da / a;
                let g2 = 2.0 * sg * ds - 2.0 * f * sg * sg;
                let h = to - from;
                y.iter()
                    .zip(&score)
                    .map(|(x, sc)| x + h * (f * x - 0.5 * g2 * sc))
                    .collect()
            }
        };
        if !y.iter().all(|v| v.is_finite()) {
            return Err(DistillError::Step(from));
        }
    }
    Ok(y)
}

/// `n` samples of N(0, I) in `d` dimensions from `seed` (SplitMix64 and Box-Muller): the
/// same on every machine.
pub fn prior_samples(d: usize, n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        // In (0, 1]: never 0, so the logarithm is finite.
        (((z ^ (z >> 31)) >> 11) + 1) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            (0..d)
                .map(|_| {
                    let (u, v) = (uniform(), uniform());
                    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
                })
                .collect()
        })
        .collect()
}

/// The work one experiment may do, in units of one component's contribution to one score
/// (d multiply-adds): 3e9 take about 15 s on 2 cores (measured: the authors' setting,
/// d = 64, K = 20, 1000 samples, about 100 steps of 7 stages each, takes 4 s).
pub const WORK: f64 = 3e9;

/// The fewest ODE steps per sample worth allowing; fewer and the experiment is refused.
pub const MIN_STEPS: usize = 250;

/// The ODE steps each of `samples` exact maps may take within [`WORK`] (at most 20,000),
/// with the students' work on `segments` taken first; `None` when that leaves fewer than
/// [`MIN_STEPS`].
pub fn step_allowance(m: &Mixture, samples: usize, segments: &[usize]) -> Option<usize> {
    let per_score = (m.components.len() * m.dimension) as f64;
    let students = samples as f64 * per_score * segments.iter().sum::<usize>() as f64 * 8.0;
    let left = WORK - students;
    let steps = left / (samples as f64 * per_score * 7.0);
    (steps >= MIN_STEPS as f64).then(|| steps.min(20_000.0) as usize)
}

/// The exact map of each prior sample from `t_max` to `t_min` (relative tolerance 1e-9
/// where it is integrated, in at most `max_steps` steps each), in sample order.
pub fn exact_images<S: Schedule>(
    m: &Mixture,
    schedule: &(dyn Fn() -> S + Sync),
    (t_min, t_max): (f64, f64),
    prior: &[Vec<f64>],
    max_steps: usize,
) -> Result<Vec<Vec<f64>>, DistillError> {
    let items: Vec<&[Vec<f64>]> = prior.chunks(CHUNK).collect();
    let parts = crate::par::map(&items, crate::par::workers(items.len()), |xs| {
        let s = schedule();
        xs.iter()
            .map(|x| {
                flow_to(m, &s, (t_max, t_min), x, 1e-9, max_steps).map_err(DistillError::Exact)
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let mut out = Vec::with_capacity(prior.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::mixture::Covariances;
    use crate::analysis::schedule::OrnsteinUhlenbeck;

    const OU: OrnsteinUhlenbeck = OrnsteinUhlenbeck { beta: 5.0 };

    #[test]
    fn errors_shrink_as_segments_are_added() {
        // With the exact score of one Gaussian the students are not exact (eps_hat varies
        // along a step), but both converge as the segments shrink.
        let m = Mixture::new(
            "M",
            vec![1.0],
            vec![vec![0.5, -1.0]],
            Covariances::Shared(0.2),
        )
        .expect("valid");
        let prior = prior_samples(2, 64, 7);
        let exact = exact_images(&m, &|| OU, (1e-3, 1.0), &prior, 20_000).expect("exact");
        for student in Student::ALL {
            let mut last = f64::INFINITY;
            for n in [4, 16, 64] {
                let grid: Vec<f64> = (0..=n)
                    .map(|k| 1e-3 + (1.0 - 1e-3) * k as f64 / n as f64)
                    .collect();
                let e =
                    composition_error(&m, &|| OU, &grid, student, &exact, &prior).expect("runs");
                assert!(e < last, "{student:?} {n}: {e} not below {last}");
                last = e;
            }
            assert!(last < 1e-2, "{student:?}: {last}");
        }
    }

    #[test]
    fn prior_samples_are_standard_normal() {
        let xs = prior_samples(1, 20_000, 3);
        let mean = xs.iter().map(|x| x[0]).sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x[0] - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        assert_eq!(prior_samples(3, 5, 9), prior_samples(3, 5, 9));
    }
}
