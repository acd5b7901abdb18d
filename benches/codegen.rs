//! Benchmarks of emitted code (the committed `tests/generated/vp_linear.rs`).
//!
//! `ddim_step_eps slice`: the emitted in-place DDIM step on 10^6 elements against a
//! hand-written idiomatic implementation of the same step (the target: ratio <= 1.05).
//! `g2 scalar`: the emitted `g2(t)` against the interpreter `expr::eval::eval_f64` on the
//! derived expression (the target: >= 20x faster).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use diffsym::expr::{Pool, eval};
use diffsym::{process, syntax};

#[rustfmt::skip]
#[path = "../tests/generated/vp_linear.rs"]
mod vp_linear;

/// DDIM (eta = 0) for vp_linear written by hand: alpha = exp(-B/2), sigma = sqrt(1 - e^-B),
/// B = t/10 + 199 t^2/20.
fn ddim_by_hand(x: &mut [f64], eps: &[f64], t: f64, t_next: f64) {
    let big_b = |t: f64| 0.1 * t + 9.95 * t * t;
    let alpha = |t: f64| (-0.5 * big_b(t)).exp();
    let sigma = |t: f64| (-(-big_b(t)).exp_m1()).sqrt();
    let ratio = alpha(t_next) / alpha(t);
    let c = sigma(t_next) - ratio * sigma(t);
    for (xi, &ei) in x.iter_mut().zip(eps) {
        *xi = ratio * *xi + c * ei;
    }
}

fn ddim(c: &mut Criterion) {
    let n = 1_000_000;
    let eps: Vec<f64> = (0..n).map(|i| ((i % 1000) as f64 * 0.37).sin()).collect();
    let x0: Vec<f64> = (0..n).map(|i| ((i % 997) as f64 * 0.11).cos()).collect();
    let mut g = c.benchmark_group("ddim_step_eps slice 1e6");
    let mut x = x0.clone();
    g.bench_function(BenchmarkId::new("emitted", n), |b| {
        b.iter(|| vp_linear::ddim_step_eps_slice(black_box(&mut x), black_box(&eps), 0.6, 0.55))
    });
    let mut x = x0.clone();
    g.bench_function(BenchmarkId::new("hand-written", n), |b| {
        b.iter(|| ddim_by_hand(black_box(&mut x), black_box(&eps), 0.6, 0.55))
    });
    g.finish();
}

fn g2(c: &mut Criterion) {
    let mut pool = Pool::new();
    let text = diffsym::library::BUNDLED
        .iter()
        .find(|(n, _)| n.ends_with("vp_linear.dsym"))
        .map(|(_, t)| *t)
        .expect("bundled");
    let ast = syntax::parse_file(text).expect("parses");
    let ps = process::lower_file(&mut pool, &ast, text, &[]).expect("lowers");
    let e = ps[0].quantity("g2").expect("derived");
    let t = pool.symbol("t");
    let mut g = c.benchmark_group("g2 scalar");
    g.bench_function("emitted", |b| b.iter(|| vp_linear::g2(black_box(0.37))));
    g.bench_function("interpreter", |b| {
        b.iter(|| eval::eval_f64(&pool, e, &[(t, black_box(0.37))]))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = ddim, g2
}
criterion_main!(benches);
