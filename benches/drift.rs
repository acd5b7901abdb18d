//! `drift` (issue 17). The exact Gaussian-kernel drift for 2-D mixtures (p with two full-
//! covariance components, q with two isotropic ones, h = 0.7) over 10^4 seeded points:
//! the target is 10^6 points per second; the baseline in the same run is the log-density
//! of p alone at the same points through `Marginal::log_density` (one mixture, no
//! gradient), so the ratio says what the drift costs beyond one density evaluation. The
//! Laplace drift in 2-D by polar quadrature (tolerance 1e-12, so an error well below
//! 1e-10), at one point: the target is under 10 ms per point; its baseline is the same
//! drift under the Gaussian kernel by the same quadrature.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diffsym::analysis::distill::prior_samples;
use diffsym::analysis::drift::Kernel;
use diffsym::analysis::drift::field::{self, GaussianDrift, Gaussians, QUADRATURE_BUDGET, Scratch};
use diffsym::analysis::{Covariances, Mixture};

fn p() -> Mixture {
    Mixture::new(
        "P",
        vec![0.3, 0.7],
        vec![vec![-1.0, 0.5], vec![1.0, -0.5]],
        Covariances::Full(vec![
            vec![vec![0.6, 0.2], vec![0.2, 0.4]],
            vec![vec![0.3, -0.1], vec![-0.1, 0.5]],
        ]),
    )
    .expect("valid")
}

fn q() -> Mixture {
    Mixture::new(
        "Q",
        vec![0.5, 0.5],
        vec![vec![0.0, 1.0], vec![0.5, -1.0]],
        Covariances::Shared(0.4),
    )
    .expect("valid")
}

fn bench(c: &mut Criterion) {
    let (p, q) = (p(), q());
    let points = prior_samples(2, 10_000, 17);
    let mut g = c.benchmark_group("drift exact, 2-D mixtures");
    g.throughput(Throughput::Elements(points.len() as u64));
    let exact = GaussianDrift::new(&p, &q, 0.7).expect("same dimension");
    g.bench_function("drift V_{p,q}", |b| {
        let mut s = Scratch::default();
        let (mut tmp, mut out) = ([0.0; 2], [0.0; 2]);
        b.iter(|| {
            let mut acc = 0.0;
            for x in &points {
                exact.drift_into(x, &mut s, &mut tmp, &mut out);
                acc += out[0] + out[1];
            }
            acc
        });
    });
    g.bench_function("baseline: log p (Marginal::log_density)", |b| {
        let m = p.marginal(1.0, 0.7);
        b.iter(|| points.iter().map(|x| m.log_density(x)).sum::<f64>());
    });
    g.finish();

    let mut g = c.benchmark_group("drift quadrature, 2-D, one point");
    g.sample_size(20);
    let gp = Gaussians::new(&p, 0.0);
    let x = [0.5, -1.0];
    for (name, kernel) in [
        ("laplace tau = 0.7", Kernel::Laplace { tau: 0.7 }),
        ("baseline: gaussian h = 0.7", Kernel::Gaussian { h: 0.7 }),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| field::mean_shift(&gp, &kernel, &x, QUADRATURE_BUDGET).expect("a shift"));
        });
    }
    g.bench_function("laplace tau = 0.7, V_{p,q} with both sides", |b| {
        let kernel = Kernel::Laplace { tau: 0.7 };
        b.iter(|| field::drift_at(&p, &q, &kernel, &x).expect("a drift"));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
