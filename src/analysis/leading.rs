//! The dominant term of the DDIM KL on a uniform grid (docs/theory.md section 5):
//! KL ~ c_2 / N^2 with c_2 = (1/4) sum_i J_i^2 and J_i the schedule functional, by numeric
//! quadrature.
//!
//! On a uniform grid over [t_min, t_max], J_i = (t_max - t_min) int phi_i'(t)^2 dt with
//! phi_i = atan(rho / sqrt(lambda_i)). The integrand is formed without rho (infinite where
//! alpha = 0): phi_i' = sqrt(lambda_i) (sigma' alpha - sigma alpha') / v_i with
//! v_i = alpha^2 lambda_i + sigma^2. It is integrated by tanh-sinh quadrature
//! ([`super::quadrature::tanh_sinh`], every eigenvalue at once), which tolerates endpoint
//! singularities. An integral that diverges (VP processes near t = 0,
//! where sigma grows like sqrt(t) and phi'^2 like 1/t) is an error, never a number.

use super::numerics::Sum;
use super::quadrature::tanh_sinh;
use super::{GridKind, Sampler, Schedule};
use crate::diag::{Diag, codes};

/// J_i for each eigenvalue: the schedule functional of a uniform grid on [t_min, t_max].
pub fn schedule_j(
    sched: &dyn Schedule,
    eigenvalues: &[f64],
    t_min: f64,
    t_max: f64,
) -> Result<Vec<f64>, Diag> {
    if !(0.0 <= t_min && t_min < t_max && t_max <= 1.0) {
        return Err(Diag::new(
            codes::ANALYSIS_LEADING,
            format!("need 0 <= t_min < t_max <= 1, got t_min = {t_min}, t_max = {t_max}"),
        ));
    }
    if let Some(l) = eigenvalues.iter().find(|l| !(**l > 0.0 && l.is_finite())) {
        return Err(Diag::new(
            codes::ANALYSIS_LEADING,
            format!("eigenvalue {l} is not positive"),
        ));
    }
    let roots: Vec<f64> = eigenvalues.iter().map(|l| l.sqrt()).collect();
    let mut integrand = |t: f64, w: f64, terms: &mut [f64]| -> Result<(), Diag> {
        let (a, s) = (sched.alpha(t), sched.sigma(t));
        let (da, ds) = (sched.dalpha(t), sched.dsigma(t));
        let num = ds * a - s * da;
        for ((term, &l), &r) in terms.iter_mut().zip(eigenvalues).zip(&roots) {
            let phi = r * num / (a * a * l + s * s);
            *term = w * phi * phi;
            if !term.is_finite() {
                return Err(Diag::new(
                    codes::ANALYSIS_LEADING,
                    format!("the schedule functional J is not finite at t = {t}"),
                )
                .with_help("alpha, sigma and their derivatives must be finite inside the grid"));
            }
        }
        Ok(())
    };
    let integrals = tanh_sinh(t_min, t_max, eigenvalues.len(), &mut integrand)?;
    if integrals.iter().any(|e| e.diverges) {
        return Err(Diag::new(
            codes::ANALYSIS_LEADING,
            "the schedule functional J diverges on this interval, so KL does not fall like 1/N^2",
        )
        .with_help(
            "a VP process has sigma ~ sqrt(t) near t = 0; start the grid later with --t-min",
        ));
    }
    let width = t_max - t_min;
    Ok(integrals.into_iter().map(|e| e.value * width).collect())
}

/// c_2 = (1/4) sum_i J_i^2: N^2 KL tends to it for DDIM on a uniform grid from a prior
/// that matches the marginal at t_max (docs/theory.md section 5; both KL directions agree
/// at this order).
pub fn ddim_coefficient(
    sched: &dyn Schedule,
    eigenvalues: &[f64],
    t_min: f64,
    t_max: f64,
) -> Result<f64, Diag> {
    let j = schedule_j(sched, eigenvalues, t_min, t_max)?;
    let mut s = Sum::new();
    for x in j {
        s.add(x * x);
    }
    Ok(s.value() / 4.0)
}

/// c_2 of the asymptote KL(src||out) ~ c_2/N^2 of `sampler` on `grid` over [t_min, t_max]
/// from the prior, or why there is none: the constant is DDIM's (DPM-Solver-1 is the same
/// map), for the uniform grid, and the KL falls like N^-2 only when the prior N(0, I) is
/// the marginal at t_max and the J integrals converge ([`ddim_coefficient`]).
pub fn ddim_asymptote(
    sched: &dyn Schedule,
    eigenvalues: &[f64],
    sampler: Sampler,
    grid: &GridKind,
    t_min: f64,
    t_max: f64,
) -> Result<f64, Diag> {
    if !matches!(sampler, Sampler::Ddim | Sampler::Dpm1) {
        return Err(Diag::new(
            codes::ANALYSIS_LEADING,
            "c_2 is the DDIM constant",
        ));
    }
    if *grid != GridKind::Uniform {
        return Err(Diag::new(
            codes::ANALYSIS_LEADING,
            "c_2 is for the uniform grid",
        ));
    }
    if sched.alpha(t_max) != 0.0 || sched.sigma(t_max) != 1.0 {
        return Err(Diag::new(
            codes::ANALYSIS_LEADING,
            "the prior N(0, I) is not the marginal at t_max, so the KL levels off instead of \
             falling like N^-2",
        ));
    }
    ddim_coefficient(sched, eigenvalues, t_min, t_max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{RectifiedFlow, Tangent};
    use std::f64::consts::PI;

    #[test]
    fn tangent_law_matches_the_closed_form() {
        // J_i(gamma) = (pi^2/8)(gamma/sqrt(l) + sqrt(l)/gamma) (docs/theory.md section 6).
        let eigs = [1e-4, 0.3, 1.0, 2.0, 50.0];
        for gamma in [0.05, 1.0, 3.0] {
            let j = schedule_j(&Tangent { gamma }, &eigs, 0.0, 1.0).expect("converges");
            for (&l, &got) in eigs.iter().zip(&j) {
                let want = PI * PI / 8.0 * (gamma / l.sqrt() + l.sqrt() / gamma);
                assert!(
                    (got / want - 1.0).abs() < 1e-10,
                    "{gamma} {l}: {got} {want}"
                );
            }
        }
        // gamma = sqrt(lambda): pi^4/64 per dimension.
        let c = ddim_coefficient(&Tangent { gamma: 2f64.sqrt() }, &[2.0; 3], 0.0, 1.0)
            .expect("converges");
        assert!((c / (3.0 * PI.powi(4) / 64.0) - 1.0).abs() < 1e-12, "{c}");
    }

    #[test]
    fn rectified_flow_and_the_interval_scaling() {
        // lambda = 1: phi'^2 = 1/(2t^2 - 2t + 1)^2, whose integral over [0, 1] is 1 + pi/2,
        // symmetric about t = 1/2; on [0, 1/2] the grid spacing halves too: J = (1 + pi/2)/4.
        let j = schedule_j(&RectifiedFlow, &[1.0], 0.0, 1.0).expect("converges");
        assert!((j[0] - (1.0 + PI / 2.0)).abs() < 1e-12, "{}", j[0]);
        let j = schedule_j(&RectifiedFlow, &[1.0], 0.0, 0.5).expect("converges");
        assert!((j[0] - (1.0 + PI / 2.0) / 4.0).abs() < 1e-12, "{}", j[0]);
    }

    /// alpha = sqrt(1 - t), sigma = sqrt(t): phi'^2 ~ 1/(4 l t) near 0.
    struct SqrtVp;
    impl Schedule for SqrtVp {
        fn alpha(&self, t: f64) -> f64 {
            (1.0 - t).sqrt()
        }
        fn sigma(&self, t: f64) -> f64 {
            t.sqrt()
        }
        fn dalpha(&self, t: f64) -> f64 {
            -0.5 / (1.0 - t).sqrt()
        }
        fn dsigma(&self, t: f64) -> f64 {
            0.5 / t.sqrt()
        }
    }

    #[test]
    fn a_divergent_functional_is_an_error() {
        let e = schedule_j(&SqrtVp, &[1.0], 0.0, 0.5).expect_err("diverges at t = 0");
        assert!(e.message.contains("diverges"), "{}", e.message);
        // Away from 0 it is finite: with l = 1, phi = atan(sqrt(t/(1-t))) = asin(sqrt t),
        // phi' = 1/(2 sqrt(t(1-t))), int_a^b phi'^2 = (1/4) [ln(t/(1-t))]_a^b.
        let (a, b) = (0.1, 0.5);
        let j = schedule_j(&SqrtVp, &[1.0], a, b).expect("finite");
        let want = (b - a) * 0.25 * ((b / (1.0 - b)).ln() - (a / (1.0 - a)).ln());
        assert!((j[0] / want - 1.0).abs() < 1e-11, "{} {want}", j[0]);
        assert!(schedule_j(&SqrtVp, &[-1.0], a, b).is_err());
        assert!(schedule_j(&SqrtVp, &[1.0], 0.5, 0.5).is_err());
    }
}
