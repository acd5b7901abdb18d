//! The Stein estimator of a score error's gradient part to degree 10 in d = 2 on a
//! two-component mixture (target under 1 s), and the finite-volume reference on the same
//! mixture at 128 and 256 cells per axis. Measured (2 cores, shared, release): estimator
//! 157 ms by quadrature (8192 nodes, 65 potentials), 350 ms with 20,000 samples; finite
//! volumes 45 ms at 128^2 and 352 ms at 256^2.
//!
//! The exact Gaussian decomposition in d = 100 (target under 50 ms): a rational diagonal
//! covariance with a dense rational error (the exact path, entry by entry), a dense f64
//! covariance with a dense f64 error (the eigenbasis path), and, as the floor of the latter
//! in the same run, nalgebra's `symmetric_eigen` of that covariance. Measured (2 cores,
//! shared, release): exact 29 ms (it was 562 ms while each trace was summed one reduced
//! `Ratio` at a time, a gcd of a ~290-bit denominator per addition; now every entry is one
//! fraction reduced once and the traces are summed over the lcm of their denominators);
//! eigenbasis 2.27 ms, 2.4 times the 0.92 ms of `symmetric_eigen` alone.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diffsym::analysis::hodge::Scalar;
use diffsym::analysis::hodge::estimate::{Integration, project};
use diffsym::analysis::hodge::gaussian::{Method, Moments, decompose};
use diffsym::analysis::hodge::lower::{Affine, Shift};
use diffsym::analysis::hodge::poisson::reference_2d;
use diffsym::analysis::{Covariances, Mixture};
use nalgebra::DMatrix;
use num_rational::BigRational;

fn bench(c: &mut Criterion) {
    let m = Mixture::new(
        "M",
        vec![0.3, 0.7],
        vec![vec![-1.5, 0.0], vec![1.5, 0.5]],
        Covariances::Shared(0.5),
    )
    .expect("valid");
    let field = |x: &[f64]| vec![(x[0] * x[1]).sin(), x[0].cos() - 0.2 * x[1] * x[1]];
    let mut g = c.benchmark_group("hodge d=2 K=2");
    g.sample_size(10);
    g.bench_function("estimator, degree 10, quadrature", |b| {
        b.iter(|| {
            project(&m, 1.0, 0.0, black_box(&field), 10, Integration::Quadrature).expect("runs")
        })
    });
    g.bench_function("estimator, degree 10, 20000 samples", |b| {
        b.iter(|| {
            let mc = Integration::MonteCarlo {
                samples: 20_000,
                seed: 1,
            };
            project(&m, 1.0, 0.0, black_box(&field), 10, mc).expect("runs")
        })
    });
    for cells in [128, 256] {
        g.bench_function(format!("finite volumes, {cells}^2 cells"), |b| {
            b.iter(|| {
                reference_2d(
                    &m,
                    1.0,
                    0.0,
                    black_box(&field),
                    [(-7.0, 7.0), (-5.5, 6.0)],
                    cells,
                )
                .expect("converges")
            })
        });
    }
    g.finish();
}

/// The dimension of the decomposition benchmarks.
const D: usize = 100;

fn rational(n: i64, d: i64) -> Scalar {
    Scalar::exact(BigRational::new(n.into(), d.into()))
}

/// Sigma = diag(k/7), k = 1..d, and a dense E of small fractions (numerators -5..5 over
/// 1..4), with a small rational shift.
fn exact_case(d: usize) -> (Moments, Affine) {
    let cov = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| rational(if i == j { i as i64 + 1 } else { 0 }, 7))
                .collect()
        })
        .collect();
    let matrix = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| rational(((7 * i + 3 * j) % 11) as i64 - 5, ((i + j) % 4) as i64 + 1))
                .collect()
        })
        .collect();
    let shift = (0..d).map(|i| rational(i as i64 % 5 - 2, 3)).collect();
    let p = Moments {
        mean: vec![rational(0, 1); d],
        cov,
    };
    let e = Affine {
        matrix,
        shift: Shift::FromMean(shift),
    };
    (p, e)
}

/// Uniform in [-1, 1), seeded (splitmix64).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// Sigma = A A^T / d + I with a seeded A, and a dense E, all in f64.
fn float_case(d: usize) -> (DMatrix<f64>, Moments, Affine) {
    let mut state = 7;
    let a = DMatrix::from_fn(d, d, |_, _| uniform(&mut state));
    let sigma = &a * a.transpose() / d as f64 + DMatrix::identity(d, d);
    let floats = |m: &DMatrix<f64>| -> Vec<Vec<Scalar>> {
        (0..d)
            .map(|i| (0..d).map(|j| Scalar::float(m[(i, j)])).collect())
            .collect()
    };
    let e = DMatrix::from_fn(d, d, |_, _| uniform(&mut state));
    let p = Moments {
        mean: vec![Scalar::float(0.0); d],
        cov: floats(&sigma),
    };
    let affine = Affine {
        matrix: floats(&e),
        shift: Shift::FromMean((0..d).map(|_| Scalar::float(uniform(&mut state))).collect()),
    };
    (sigma, p, affine)
}

fn bench_decompose(c: &mut Criterion) {
    let (p, e) = exact_case(D);
    let method = decompose(&p, &e).expect("decomposes").method;
    assert_eq!(
        method,
        Method::Exact,
        "the rational case takes the exact path"
    );
    let (sigma, pf, ef) = float_case(D);
    let method = decompose(&pf, &ef).expect("decomposes").method;
    assert_eq!(
        method,
        Method::Eigenbasis,
        "the f64 case takes the eigenbasis path"
    );
    let mut g = c.benchmark_group(format!("decompose d={D}"));
    g.sample_size(10);
    g.bench_function("exact, rational diagonal covariance", |b| {
        b.iter(|| decompose(black_box(&p), black_box(&e)).expect("decomposes"))
    });
    g.bench_function("eigenbasis, dense f64 covariance", |b| {
        b.iter(|| decompose(black_box(&pf), black_box(&ef)).expect("decomposes"))
    });
    g.bench_function("baseline: symmetric_eigen of the covariance", |b| {
        b.iter(|| black_box(&sigma).clone().symmetric_eigen())
    });
    g.finish();
}

criterion_group!(benches, bench, bench_decompose);
criterion_main!(benches);
