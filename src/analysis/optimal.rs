//! Optimal schedules for a Gaussian source (docs/theory.md section 6): the best tangent law
//! and the unrestricted optimum of the dominant KL coefficient. The exact-KL-optimal time grid of
//! a given process is `grid_search`.
//!
//! The dominant term of the DDIM KL is N^-2 (1/4) sum_i J_i^2 with
//! J_i[rho] = int_0^1 lambda_i rho'^2 / (lambda_i + rho^2)^2 dt.

use super::numerics::Sum;
use crate::diag::{Diag, codes};

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
pub fn optimal_schedule(eigenvalues: &[f64]) -> Result<OptimalSchedule, Diag> {
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    let mut sorted = eigenvalues.to_vec();
    sorted.sort_by(f64::total_cmp);
    for l in sorted {
        if !(l > 0.0 && l.is_finite()) {
            return Err(Diag::new(
                codes::ANALYSIS_SCHEDULE,
                format!("eigenvalue {l} is not positive"),
            ));
        }
        match distinct.last_mut() {
            Some((v, n)) if *v == l => *n += 1,
            _ => distinct.push((l, 1)),
        }
    }
    if distinct.is_empty() {
        return Err(Diag::new(codes::ANALYSIS_SCHEDULE, "the spectrum is empty"));
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

#[cfg(test)]
mod tests {
    use super::*;

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
