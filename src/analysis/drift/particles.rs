//! The particle version of drifting (Deng et al.): finite samples of q moved by the
//! normalised mean-shift field estimated from a fresh sample of p and from the particles
//! themselves, with a Gaussian or Laplace kernel, optionally annealed; the KL of the
//! particles' moment-matched Gaussian to p after every step.

use nalgebra::{DMatrix, DVector};

use super::Kernel;
use super::flow::{Flow, Law};
use crate::analysis::distill::prior_samples;

/// The kernel evaluations one plot may make (2 n^2 d per step and run): a few seconds.
pub const WORK: f64 = 1e8;

/// ln k(r) for the kernels the particle version runs with.
fn log_kernel(kernel: &Kernel, r2: f64) -> f64 {
    match kernel {
        Kernel::Gaussian { h } => -r2 / (2.0 * h * h),
        Kernel::Laplace { tau } => -r2.sqrt() / tau,
        Kernel::Radial(p) => p.at(r2.sqrt()).ln(),
    }
}

/// The normalised mean shift sum_j k(x, y_j)(y_j - x) / sum_j k(x, y_j) over the rows of
/// `ys` (n x d, row-major), leaving out row `skip`. Computed with the largest weight
/// factored out, so it is finite however far x is from the sample; `None` when no row is
/// left or the kernel vanishes on every row.
pub fn mean_shift(kernel: &Kernel, x: &[f64], ys: &[f64], skip: Option<usize>) -> Option<Vec<f64>> {
    let d = x.len();
    let n = ys.len() / d;
    let mut logs = Vec::with_capacity(n);
    for j in 0..n {
        if Some(j) == skip {
            logs.push(f64::NEG_INFINITY);
            continue;
        }
        let y = &ys[j * d..(j + 1) * d];
        let r2: f64 = y.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum();
        logs.push(log_kernel(kernel, r2));
    }
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return None;
    }
    let mut num = vec![0.0; d];
    let mut den = 0.0;
    for (j, l) in logs.iter().enumerate() {
        let w = (l - top).exp();
        if w == 0.0 {
            continue;
        }
        den += w;
        for (i, v) in num.iter_mut().enumerate() {
            *v += w * (ys[j * d + i] - x[i]);
        }
    }
    Some(num.into_iter().map(|v| v / den).collect())
}

/// The particle field at `x`: mean shift over the sample of p minus mean shift over the
/// particles (leaving out particle `own`, x itself, when it is one of them).
pub fn particle_field(
    kernel: &Kernel,
    x: &[f64],
    p_sample: &[f64],
    particles: &[f64],
    own: Option<usize>,
) -> Option<Vec<f64>> {
    let plus = mean_shift(kernel, x, p_sample, None)?;
    let minus = mean_shift(kernel, x, particles, own)?;
    Some(plus.iter().zip(&minus).map(|(a, b)| a - b).collect())
}

/// `n` samples of `law` (row-major n x d) from `seed`: the mean plus a Cholesky factor of
/// the covariance times standard normals.
pub fn sample(law: &Law, n: usize, seed: u64) -> Vec<f64> {
    let d = law.dimension();
    let l = law
        .cov
        .clone()
        .cholesky()
        .map(|c| c.l())
        .unwrap_or_else(|| DMatrix::zeros(d, d));
    let mut out = Vec::with_capacity(n * d);
    for z in prior_samples(d, n, seed) {
        let x = &law.mean + &l * DVector::from_vec(z);
        out.extend(x.iter());
    }
    out
}

/// The Gaussian with the sample mean and (unbiased) sample covariance of the rows of `xs`.
pub fn moment_law(xs: &[f64], d: usize) -> Law {
    let n = xs.len() / d;
    let mut mean = DVector::zeros(d);
    for j in 0..n {
        for i in 0..d {
            mean[i] += xs[j * d + i];
        }
    }
    mean /= n as f64;
    let mut cov = DMatrix::zeros(d, d);
    for j in 0..n {
        for a in 0..d {
            for b in 0..d {
                cov[(a, b)] += (xs[j * d + a] - mean[a]) * (xs[j * d + b] - mean[b]);
            }
        }
    }
    cov /= (n.max(2) - 1) as f64;
    Law { mean, cov }
}

/// How the bandwidth changes with the steps: at step k (time t = k eta) the kernel's h (or
/// tau) is h0 e^{-r t}.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anneal {
    pub h0: f64,
    pub r: f64,
}

/// The kernel of `kernel`'s family with bandwidth `b` (h or tau); radial kernels as they are.
pub fn with_bandwidth(kernel: &Kernel, b: f64) -> Kernel {
    match kernel {
        Kernel::Gaussian { .. } => Kernel::Gaussian { h: b },
        Kernel::Laplace { .. } => Kernel::Laplace { tau: b },
        Kernel::Radial(p) => Kernel::Radial(p.clone()),
    }
}

/// A particle run: `n` particles drawn from `q0`, `steps` updates x_i += eta V(x_i) with
/// the field estimated from a fresh sample of `n` points of p at every step and from the
/// particles (all moved at once); KL(moment-matched particles || p) at k = 0..steps (fewer
/// when the particles leave 1e150 in magnitude, which ends the run). The
/// moment-matched KL is a lower bound of the particles' law's KL to a Gaussian p, equal
/// when that law is Gaussian.
#[allow(
    clippy::too_many_arguments,
    reason = "the run's parameters, each named"
)]
pub fn run(
    flow: &Flow,
    q0: &Law,
    kernel: &Kernel,
    anneal: Option<Anneal>,
    eta: f64,
    steps: usize,
    n: usize,
    seed: u64,
) -> Vec<f64> {
    let d = q0.dimension();
    let mut xs = sample(q0, n, seed);
    let mut kl = vec![flow.kl(&moment_law(&xs, d))];
    for k in 0..steps {
        let kern = match anneal {
            Some(a) => with_bandwidth(kernel, a.h0 * (-a.r * k as f64 * eta).exp()),
            None => kernel.clone(),
        };
        let ps = sample(
            &flow.p,
            n,
            seed.wrapping_add((k as u64 + 1).wrapping_mul(0x9e37_79b9)),
        );
        let idx: Vec<usize> = (0..n).collect();
        let fields = crate::par::map(&idx, crate::par::workers(n / 64 + 1), |&i| {
            particle_field(&kern, &xs[i * d..(i + 1) * d], &ps, &xs, Some(i))
        });
        let mut next = xs.clone();
        for (i, v) in fields.into_iter().enumerate() {
            if let Some(v) = v {
                for (a, vi) in v.iter().enumerate() {
                    next[i * d + a] += eta * vi;
                }
            }
        }
        // Particles beyond 1e150 end the run: their moments would leave f64.
        if !next.iter().all(|v| v.is_finite() && v.abs() <= 1e150) {
            break;
        }
        xs = next;
        kl.push(flow.kl(&moment_law(&xs, d)));
    }
    kl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_shift_is_finite_far_from_the_sample() {
        // h = 0.01 and x 100 away: every weight underflows, the ratio does not. The nearest
        // point dominates: the shift is its displacement.
        let ys = [0.0, 0.5, 1.0];
        let k = Kernel::Gaussian { h: 0.01 };
        let v = mean_shift(&k, &[101.0], &ys, None).expect("shift");
        assert_eq!(v, vec![-100.0]);
        // Leaving a point out, and leaving every point out.
        let v = mean_shift(&Kernel::Laplace { tau: 1e-3 }, &[0.9], &ys, Some(2)).expect("shift");
        assert!((v[0] + 0.4).abs() < 1e-12, "{v:?}");
        assert_eq!(mean_shift(&k, &[0.0], &[3.0], Some(0)), None);
    }
}
