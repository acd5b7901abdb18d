//! `stiffness` in the flow-map distillation setting (issue 15): d = 64, K = 20 components
//! with means uniform in [-5, 5]^d, sigma0 = 1 and 0.1, the OU process with beta = 5. The
//! target is under 100 ms for the whole analysis (A in closed form, the balanced grid of 16
//! segments, the profile and the Jacobian norm at the saddle at 11 times); the baseline in
//! the same run is the closed form of A alone, so the ratio says what the grid and the
//! saddle cost on top of it. `distill` in the same setting (1000 samples, N = 16, the DDIM
//! student, the exact map integrated per sample) has a target of 5 s on 2 cores; its
//! baseline is the students alone, the exact images computed once outside the loop.

use criterion::{Criterion, criterion_group, criterion_main};
use diffsym::analysis::distill::{Student, composition_error, exact_images, prior_samples};
use diffsym::analysis::flowmap::{Ends, flow_map};
use diffsym::analysis::{Covariances, Mixture, OrnsteinUhlenbeck, Schedule as _, Stiffness};

const OU: OrnsteinUhlenbeck = OrnsteinUhlenbeck { beta: 5.0 };

/// SplitMix64: the means, from a fixed seed.
fn means(d: usize, k: usize) -> Vec<Vec<f64>> {
    let mut state = 0x5eed_u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..k)
        .map(|_| (0..d).map(|_| 10.0 * next() - 5.0).collect())
        .collect()
}

fn whole(st: &Stiffness<'_>, segments: usize) -> f64 {
    let grid = st.balanced_grid(0.0, 1.0, segments).expect("finite");
    let mut acc = grid[segments / 2];
    for k in 0..11 {
        let t = k as f64 / 10.0;
        acc += st.profile_at(t).expect("finite").l;
        let x = st.saddle(t).expect("finite");
        acc += st.jacobian_norm(t, &x).expect("finite").exact_norm;
    }
    acc
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("stiffness d=64 K=20");
    for var in [1.0, 0.01] {
        let m = Mixture::new("M", vec![1.0; 20], means(64, 20), Covariances::Shared(var))
            .expect("valid");
        let st = Stiffness::new(&OU, &m).expect("isotropic");
        g.bench_function(format!("closed form of A, sigma0^2 = {var}"), |b| {
            b.iter(|| st.cumulative(0.0, 1.0).expect("finite"))
        });
        g.bench_function(format!("whole analysis, sigma0^2 = {var}"), |b| {
            b.iter(|| whole(&st, 16))
        });
    }
    g.finish();
    // The one-dimensional flow map (target: under 1 ms per point), against one evaluation
    // of the mixture's log-density as the baseline.
    let mut g = c.benchmark_group("flowmap 1-D, 3 components");
    let m1 = Mixture::new(
        "M",
        vec![0.3, 0.5, 0.2],
        vec![vec![-2.0], vec![0.5], vec![3.0]],
        Covariances::Shared(0.05),
    )
    .expect("valid");
    let ends = Ends {
        from: (OU.alpha(0.9), OU.sigma(0.9)),
        to: (OU.alpha(0.05), OU.sigma(0.05)),
    };
    g.bench_function("one point", |b| b.iter(|| flow_map(&m1, ends, &[0.37])));
    g.bench_function("a far point (x = -40)", |b| {
        b.iter(|| flow_map(&m1, ends, &[-40.0]))
    });
    g.bench_function("log-density (baseline)", |b| {
        b.iter(|| m1.marginal(0.5, 0.5).log_density(&[0.37]))
    });
    g.finish();
    let mut g = c.benchmark_group("distill d=64 K=20 1000 samples N=16");
    g.sample_size(10);
    let m =
        Mixture::new("M", vec![1.0; 20], means(64, 20), Covariances::Shared(1.0)).expect("valid");
    let prior = prior_samples(64, 1000, 0);
    let grid: Vec<f64> = (0..=16).map(|k| k as f64 / 16.0).collect();
    let exact = exact_images(&m, &|| OU, (0.0, 1.0), &prior, 20_000).expect("exact");
    g.bench_function("students only", |b| {
        b.iter(|| composition_error(&m, &|| OU, &grid, Student::Ddim, &exact, &prior))
    });
    g.bench_function("exact images and students", |b| {
        b.iter(|| {
            let exact = exact_images(&m, &|| OU, (0.0, 1.0), &prior, 20_000).expect("exact");
            composition_error(&m, &|| OU, &grid, Student::Ddim, &exact, &prior)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
