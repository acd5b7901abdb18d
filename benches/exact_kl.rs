//! Benchmarks of the analyses: the exact KL for d = 10^5 eigenvalues and N = 1000 DDIM
//! steps (issue 5 asks for well under 1 s on 2 cores), the general affine recursion (Euler)
//! for comparison, and the symbolic 4th-order expansion (well under 100 ms asked).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diffsym::analysis::{
    GaussianSource, GridKind, Sampler, Start, Tangent, ddim_expansion, exact_kl, time_grid,
};

fn source(d: usize) -> GaussianSource {
    // A power-law spectrum lambda_k = k^-1.5 spanning many decades, like image data.
    let eigs = (1..=d).map(|k| (k as f64).powf(-1.5)).collect();
    GaussianSource::from_spectrum("bench", eigs, None).expect("valid spectrum")
}

fn kl(c: &mut Criterion) {
    let src = source(100_000);
    let sched = Tangent { gamma: 0.3 };
    let grid = time_grid(&GridKind::Uniform, &sched, 1000, 0.0, 1.0).expect("grid");
    let mut group = c.benchmark_group("exact KL d=1e5 N=1000");
    group.sample_size(10);
    group.bench_function("ddim", |b| {
        b.iter(|| exact_kl(&sched, black_box(&src), Sampler::Ddim, &grid, Start::Prior))
    });
    group.bench_function("euler", |b| {
        b.iter(|| exact_kl(&sched, black_box(&src), Sampler::Euler, &grid, Start::Prior))
    });
    group.finish();
}

/// The order-4 DDIM expansion of bundled processes on a three-eigenvalue spectrum:
/// symbolic derivation, integration and quadrature, from the lowered process (parsing
/// excluded). cosine_nichol and lm_sqrt are singular at an end: Puiseux fits, inner sums
/// and finite-part integrals on top.
fn expansion(c: &mut Criterion) {
    let mut group = c.benchmark_group("asymptotics order 4, d = 3");
    group.sample_size(10);
    for name in ["tangent", "rectified_flow", "cosine_nichol", "lm_sqrt"] {
        let path = format!("derivations/{name}.dsym");
        let text = std::fs::read_to_string(&path).expect("bundled process");
        let ast = diffsym::syntax::parse_file(&text).expect("parses");
        let mut pool = diffsym::Pool::new();
        let procs = diffsym::process::lower_file(&mut pool, &ast, &text, &[]).expect("lowers");
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut p = pool.clone();
                ddim_expansion(&mut p, &procs[0], black_box(&[1.0, 0.5, 0.1]), 4)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, kl, expansion);
criterion_main!(benches);
