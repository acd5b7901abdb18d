//! Exact KL of samplers on Gaussian sources: MATH.md section 4 check values, the N^-2 law,
//! agreement between independent forms of the same map, and high-precision references.

use diffsym::analysis::{
    GaussianSource, GridKind, Kl, RectifiedFlow, Sampler, Schedule, Start, Tangent, exact_kl,
    output_laws, time_grid,
};
use std::f64::consts::PI;

fn spectrum(eigs: &[f64]) -> GaussianSource {
    GaussianSource::from_spectrum("S", eigs.to_vec(), None).expect("valid spectrum")
}

fn uniform(n: usize) -> Vec<f64> {
    time_grid(&GridKind::Uniform, &RectifiedFlow, n, 0.0, 1.0).expect("grid")
}

fn kl(s: &dyn Schedule, src: &GaussianSource, sampler: Sampler, n: usize) -> Kl {
    exact_kl(s, src, sampler, &uniform(n), Start::Prior).expect("kl")
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn math_section_4_check_value() {
    // Tangent schedule rho = sqrt(lambda) tan(pi t/2), grid k/N, N = 2: every step turns the
    // angle by pi/4, so r = cos^4(pi/4) = 1/4 and KL(src||out) = (3 - ln 4)/2.
    for lambda in [1.0, 0.3, 5.0] {
        let sched = Tangent {
            gamma: f64::sqrt(lambda),
        };
        let src = spectrum(&[lambda]);
        for sampler in [Sampler::Ddim, Sampler::Dpm1] {
            let laws = output_laws(&sched, &src, sampler, &uniform(2), Start::Prior).expect("law");
            let r = laws[0].log_var_ratio.exp();
            assert!(
                (r - 0.25).abs() < 1e-14,
                "{sampler:?} lambda {lambda}: r = {r}"
            );
            let k = kl(&sched, &src, sampler, 2);
            let want = (3.0 - 4f64.ln()) / 2.0;
            assert!(
                rel(k.kl_src_out, want) < 1e-14,
                "{sampler:?}: {}",
                k.kl_src_out
            );
            // KL(out||src) = (r - 1 - ln r)/2.
            let want_os = (0.25 - 1.0 - 0.25f64.ln()) / 2.0;
            assert!(rel(k.kl_out_src, want_os) < 1e-14, "{}", k.kl_out_src);
        }
    }
}

/// J_i of the tangent law rho = gamma tan(pi t/2), written out from MATH.md 6.
fn j_tangent(gamma: f64, lambda: f64) -> f64 {
    PI * PI / 8.0 * (gamma / lambda.sqrt() + lambda.sqrt() / gamma)
}

#[test]
fn n_squared_kl_converges_to_the_dominant_coefficient() {
    // (schedule, spectrum, (1/4) sum J_i^2 from closed forms)
    let rf_j = 1.0 + PI / 2.0; // int_0^1 dt / ((1-t)^2 + t^2)^2 for rectified flow, lambda = 1
    let cases: Vec<(&str, Box<dyn Schedule>, Vec<f64>, f64)> = vec![
        (
            "cosine",
            Box::new(Tangent { gamma: 1.0 }),
            vec![1.0],
            PI.powi(4) / 64.0,
        ),
        (
            "tangent gamma=2",
            Box::new(Tangent { gamma: 2.0 }),
            vec![1.0],
            j_tangent(2.0, 1.0).powi(2) / 4.0,
        ),
        (
            "cosine, spread spectrum",
            Box::new(Tangent { gamma: 1.0 }),
            vec![0.5, 2.0, 7.0],
            [0.5, 2.0, 7.0]
                .iter()
                .map(|&l| j_tangent(1.0, l).powi(2))
                .sum::<f64>()
                / 4.0,
        ),
        (
            "rectified flow",
            Box::new(RectifiedFlow),
            vec![1.0],
            rf_j * rf_j / 4.0,
        ),
    ];
    for (name, sched, eigs, limit) in &cases {
        let src = spectrum(eigs);
        let mut errs = Vec::new();
        for n in [250, 1000, 4000] {
            let k = kl(sched.as_ref(), &src, Sampler::Ddim, n);
            let n2 = (n * n) as f64;
            eprintln!(
                "{name}: N = {n}: N^2 KL = {:.10} / {:.10}, limit {limit:.10}",
                n2 * k.kl_src_out,
                n2 * k.kl_out_src
            );
            errs.push(rel(n2 * k.kl_src_out, *limit).max(rel(n2 * k.kl_out_src, *limit)));
        }
        // The relative error falls at least like 1/N (the next term is O(N^-3)).
        assert!(errs[2] < 2e-3, "{name}: {errs:?}");
        assert!(
            errs[2] < errs[1] / 3.0 && errs[1] < errs[0] / 3.0,
            "{name}: {errs:?}"
        );
    }
}

#[test]
fn explore_samplers() {
    let sched = Tangent { gamma: 1.0 };
    let src = spectrum(&[0.5, 2.0]);
    for s in Sampler::ALL {
        let grid = |n| time_grid(&GridKind::Uniform, &sched, n, 0.0, 0.999).expect("grid");
        for n in [10, 100, 1000] {
            let k = exact_kl(&sched, &src, s, &grid(n), Start::Exact);
            eprintln!("{s:?} {n}: {k:?}");
        }
    }
}
