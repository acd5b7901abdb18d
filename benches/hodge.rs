//! The Stein estimator of a score error's gradient part to degree 10 in d = 2 on a
//! two-component mixture (target under 1 s), and the finite-volume reference on the same
//! mixture at 128 and 256 cells per axis. Measured (2 cores, shared, release): estimator
//! 157 ms by quadrature (8192 nodes, 65 potentials), 350 ms with 20,000 samples; finite
//! volumes 45 ms at 128^2 and 352 ms at 256^2.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diffsym::analysis::hodge::estimate::{Integration, project};
use diffsym::analysis::hodge::poisson::reference_2d;
use diffsym::analysis::{Covariances, Mixture};

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

criterion_group!(benches, bench);
criterion_main!(benches);
