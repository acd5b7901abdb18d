//! Benchmarks of the analyses: the exact KL for d = 10^5 eigenvalues and N = 1000 DDIM
//! steps (issue 5 asks for well under 1 s on 2 cores), the general affine recursion (Euler)
//! for comparison, and the symbolic 4th-order expansion (well under 100 ms asked).
//!
//! The KL's gradient with respect to the grid times against the KL itself, in the same run
//! (issue 11 asks for a gradient costing about as much as the KL): on d = 10^5 with a
//! closed-form schedule (the per-direction recursion dominates), and on the digits spectrum
//! (d = 64) with the bundled cosine process (its schedule evaluations dominate, as in
//! `schedule`). And the grid search of `schedule` itself at N = 200 on the digits.
//! Measured (2 cores, shared): gradient/KL 2.4 (DDIM), 2.2 (Euler), 2.4 (DDPM) on d = 1e5
//! (0.60 s, 6.1 s, 2.2 s); 2.1, 2.0, 2.5 on the digits (1.4 ms, 5.9 ms, 2.8 ms); the search
//! 70 to 105 ms.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diffsym::analysis::{
    GaussianSource, GridKind, ProcessSchedule, Sampler, Schedule, Start, Tangent, ddim_expansion,
    exact_kl, exact_kl_gradient, grid_search, time_grid,
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

/// The 64-eigenvalue digits spectrum (derivations/data/).
fn digits() -> GaussianSource {
    let text = std::fs::read_to_string("derivations/data/digits64.txt").expect("digits");
    let eigs = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let first = l.split_whitespace().next().expect("a value");
            first.parse().expect("a number")
        })
        .collect();
    GaussianSource::from_spectrum("digits", eigs, None).expect("valid spectrum")
}

/// The bundled cosine process as a schedule (symbolic alpha, sigma and derivatives).
fn cosine() -> ProcessSchedule {
    let text = std::fs::read_to_string("derivations/cosine.dsym").expect("bundled process");
    let ast = diffsym::syntax::parse_file(&text).expect("parses");
    let mut pool = diffsym::Pool::new();
    let procs = diffsym::process::lower_file(&mut pool, &ast, &text, &[]).expect("lowers");
    ProcessSchedule::new(&pool, &procs[0]).expect("schedule")
}

fn kl_and_gradient(
    c: &mut Criterion,
    name: &str,
    sched: &dyn Schedule,
    src: &GaussianSource,
    grid: &[f64],
) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    for sampler in [Sampler::Ddim, Sampler::Euler, Sampler::Ddpm] {
        group.bench_function(format!("{} kl", sampler.name()), |b| {
            b.iter(|| exact_kl(sched, black_box(src), sampler, grid, Start::Prior))
        });
        group.bench_function(format!("{} gradient", sampler.name()), |b| {
            b.iter(|| exact_kl_gradient(sched, black_box(src), sampler, grid, Start::Prior))
        });
    }
    group.finish();
}

fn gradient(c: &mut Criterion) {
    let sched = Tangent { gamma: 0.3 };
    let grid = time_grid(&GridKind::Uniform, &sched, 1000, 0.0, 0.999).expect("grid");
    kl_and_gradient(
        c,
        "KL vs gradient d=1e5 N=1000",
        &sched,
        &source(100_000),
        &grid,
    );
    let sched = cosine();
    let grid = time_grid(&GridKind::Uniform, &sched, 1000, 0.0, 0.999).expect("grid");
    kl_and_gradient(
        c,
        "KL vs gradient digits cosine N=1000",
        &sched,
        &digits(),
        &grid,
    );
}

/// The search of `schedule --process cosine --steps 200` on the digits (from the uniform
/// grid, the best start there).
fn search(c: &mut Criterion) {
    let sched = cosine();
    let src = digits();
    let start = time_grid(&GridKind::Uniform, &sched, 200, 0.0, 1.0).expect("grid");
    let objective = |g: &[f64]| exact_kl_gradient(&sched, &src, Sampler::Ddim, g, Start::Prior);
    let cost = grid_search::EvaluationCost::of(Sampler::Ddim, src.dimension());
    let mut group = c.benchmark_group("grid search digits cosine");
    group.sample_size(10);
    group.bench_function("ddim N=200", |b| {
        b.iter(|| {
            grid_search::optimise_grid(
                black_box(start.clone()),
                &objective,
                cost,
                grid_search::GRID_SEARCH_BUDGET,
            )
        })
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

criterion_group!(benches, kl, gradient, search, expansion);
criterion_main!(benches);
