//! Benchmarks of emitted code: the committed default-budget modules (`tests/generated/`,
//! `emit --accuracy 4`) against the naive f64 lowering of the same formulas
//! (`benches/naive/`, `emit --accuracy fast`), measured in the same run.
//!
//! - `budget vs naive: PROCESS`: for every bundled process, all 11 scalar functions and
//!   the DDIM, DPM-Solver-1 and Euler steps (eps-parameterised) at 64 times in (0, 1).
//! - `vp_linear FUNCTION`, `cosine FUNCTION`: alpha, sigma, g2, lambda, snr and the three
//!   steps one by one (the targets: at most 1.5x the naive time for the scalar
//!   functions, 2x for the steps).
//! - `ddim_step_eps slice 1e6`: the emitted in-place DDIM step on 10^6 elements against
//!   a hand-written idiomatic implementation of the same step (target: ratio <= 1.1).
//! - `g2 scalar`: the emitted `g2(t)` against the interpreter `expr::eval::eval_f64`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use diffsym::expr::{Pool, eval};
use diffsym::{process, syntax};

#[rustfmt::skip]
#[path = "../tests/generated/cosine.rs"]
mod budget_cosine;
#[rustfmt::skip]
#[path = "naive/cosine.rs"]
mod naive_cosine;
#[rustfmt::skip]
#[path = "../tests/generated/cosine_nichol.rs"]
mod budget_cosine_nichol;
#[rustfmt::skip]
#[path = "naive/cosine_nichol.rs"]
mod naive_cosine_nichol;
#[rustfmt::skip]
#[path = "../tests/generated/edm.rs"]
mod budget_edm;
#[rustfmt::skip]
#[path = "naive/edm.rs"]
mod naive_edm;
#[rustfmt::skip]
#[path = "../tests/generated/gaussian_alpha_bar.rs"]
mod budget_gaussian_alpha_bar;
#[rustfmt::skip]
#[path = "naive/gaussian_alpha_bar.rs"]
mod naive_gaussian_alpha_bar;
#[rustfmt::skip]
#[path = "../tests/generated/karras_ve.rs"]
mod budget_karras_ve;
#[rustfmt::skip]
#[path = "naive/karras_ve.rs"]
mod naive_karras_ve;
#[rustfmt::skip]
#[path = "../tests/generated/linear_logsnr.rs"]
mod budget_linear_logsnr;
#[rustfmt::skip]
#[path = "naive/linear_logsnr.rs"]
mod naive_linear_logsnr;
#[rustfmt::skip]
#[path = "../tests/generated/lm_sqrt.rs"]
mod budget_lm_sqrt;
#[rustfmt::skip]
#[path = "naive/lm_sqrt.rs"]
mod naive_lm_sqrt;
#[rustfmt::skip]
#[path = "../tests/generated/rectified_flow.rs"]
mod budget_rectified_flow;
#[rustfmt::skip]
#[path = "naive/rectified_flow.rs"]
mod naive_rectified_flow;
#[rustfmt::skip]
#[path = "../tests/generated/sd3_shift.rs"]
mod budget_sd3_shift;
#[rustfmt::skip]
#[path = "naive/sd3_shift.rs"]
mod naive_sd3_shift;
#[rustfmt::skip]
#[path = "../tests/generated/sd_scaled_linear.rs"]
mod budget_sd_scaled_linear;
#[rustfmt::skip]
#[path = "naive/sd_scaled_linear.rs"]
mod naive_sd_scaled_linear;
#[rustfmt::skip]
#[path = "../tests/generated/shifted_cosine.rs"]
mod budget_shifted_cosine;
#[rustfmt::skip]
#[path = "naive/shifted_cosine.rs"]
mod naive_shifted_cosine;
#[rustfmt::skip]
#[path = "../tests/generated/sigmoid.rs"]
mod budget_sigmoid;
#[rustfmt::skip]
#[path = "naive/sigmoid.rs"]
mod naive_sigmoid;
#[rustfmt::skip]
#[path = "../tests/generated/sub_vp.rs"]
mod budget_sub_vp;
#[rustfmt::skip]
#[path = "naive/sub_vp.rs"]
mod naive_sub_vp;
#[rustfmt::skip]
#[path = "../tests/generated/tangent.rs"]
mod budget_tangent;
#[rustfmt::skip]
#[path = "naive/tangent.rs"]
mod naive_tangent;
#[rustfmt::skip]
#[path = "../tests/generated/ve.rs"]
mod budget_ve;
#[rustfmt::skip]
#[path = "naive/ve.rs"]
mod naive_ve;
#[rustfmt::skip]
#[path = "../tests/generated/vp_linear.rs"]
mod budget_vp_linear;
#[rustfmt::skip]
#[path = "naive/vp_linear.rs"]
mod naive_vp_linear;

/// The default-budget modules (`tests/generated/`, `emit --accuracy 4`).
mod budget {
    pub(crate) use super::budget_cosine as cosine;
    pub(crate) use super::budget_cosine_nichol as cosine_nichol;
    pub(crate) use super::budget_edm as edm;
    pub(crate) use super::budget_gaussian_alpha_bar as gaussian_alpha_bar;
    pub(crate) use super::budget_karras_ve as karras_ve;
    pub(crate) use super::budget_linear_logsnr as linear_logsnr;
    pub(crate) use super::budget_lm_sqrt as lm_sqrt;
    pub(crate) use super::budget_rectified_flow as rectified_flow;
    pub(crate) use super::budget_sd_scaled_linear as sd_scaled_linear;
    pub(crate) use super::budget_sd3_shift as sd3_shift;
    pub(crate) use super::budget_shifted_cosine as shifted_cosine;
    pub(crate) use super::budget_sigmoid as sigmoid;
    pub(crate) use super::budget_sub_vp as sub_vp;
    pub(crate) use super::budget_tangent as tangent;
    pub(crate) use super::budget_ve as ve;
    pub(crate) use super::budget_vp_linear as vp_linear;
}

/// The naive modules (`benches/naive/`, `emit --accuracy fast`).
mod naive {
    pub(crate) use super::naive_cosine as cosine;
    pub(crate) use super::naive_cosine_nichol as cosine_nichol;
    pub(crate) use super::naive_edm as edm;
    pub(crate) use super::naive_gaussian_alpha_bar as gaussian_alpha_bar;
    pub(crate) use super::naive_karras_ve as karras_ve;
    pub(crate) use super::naive_linear_logsnr as linear_logsnr;
    pub(crate) use super::naive_lm_sqrt as lm_sqrt;
    pub(crate) use super::naive_rectified_flow as rectified_flow;
    pub(crate) use super::naive_sd_scaled_linear as sd_scaled_linear;
    pub(crate) use super::naive_sd3_shift as sd3_shift;
    pub(crate) use super::naive_shifted_cosine as shifted_cosine;
    pub(crate) use super::naive_sigmoid as sigmoid;
    pub(crate) use super::naive_sub_vp as sub_vp;
    pub(crate) use super::naive_tangent as tangent;
    pub(crate) use super::naive_ve as ve;
    pub(crate) use super::naive_vp_linear as vp_linear;
}

type Scalar = fn(f64) -> f64;
type Step = fn(f64, f64, f64, f64) -> f64;

/// A module's 11 scalar functions and its DDIM, DPM-Solver-1 and Euler eps steps.
struct Functions {
    scalars: Vec<(&'static str, Scalar)>,
    steps: Vec<(&'static str, Step)>,
}

macro_rules! functions {
    ($($m:ident)::+) => {{
        use $($m)::+ as m;
        Functions {
            scalars: vec![
                ("alpha", m::alpha as Scalar),
                ("sigma", m::sigma),
                ("alpha_bar", m::alpha_bar),
                ("f", m::f),
                ("g2", m::g2),
                ("g", m::g),
                ("lambda", m::lambda),
                ("dlambda", m::dlambda),
                ("log_snr", m::log_snr),
                ("snr", m::snr),
                ("rho", m::rho),
            ],
            steps: vec![
                ("ddim_step_eps", m::ddim_step_eps as Step),
                ("dpm1_step_eps", m::dpm1_step_eps),
                ("euler_step_eps", m::euler_step_eps),
            ],
        }
    }};
}

/// Every process: its name, and its scalar functions and steps in both lowerings.
fn processes() -> Vec<(&'static str, Functions, Functions)> {
    vec![
        (
            "cosine",
            functions!(budget::cosine),
            functions!(naive::cosine),
        ),
        (
            "cosine_nichol",
            functions!(budget::cosine_nichol),
            functions!(naive::cosine_nichol),
        ),
        ("edm", functions!(budget::edm), functions!(naive::edm)),
        (
            "gaussian_alpha_bar",
            functions!(budget::gaussian_alpha_bar),
            functions!(naive::gaussian_alpha_bar),
        ),
        (
            "karras_ve",
            functions!(budget::karras_ve),
            functions!(naive::karras_ve),
        ),
        (
            "linear_logsnr",
            functions!(budget::linear_logsnr),
            functions!(naive::linear_logsnr),
        ),
        (
            "lm_sqrt",
            functions!(budget::lm_sqrt),
            functions!(naive::lm_sqrt),
        ),
        (
            "rectified_flow",
            functions!(budget::rectified_flow),
            functions!(naive::rectified_flow),
        ),
        (
            "sd3_shift",
            functions!(budget::sd3_shift),
            functions!(naive::sd3_shift),
        ),
        (
            "sd_scaled_linear",
            functions!(budget::sd_scaled_linear),
            functions!(naive::sd_scaled_linear),
        ),
        (
            "shifted_cosine",
            functions!(budget::shifted_cosine),
            functions!(naive::shifted_cosine),
        ),
        (
            "sigmoid",
            functions!(budget::sigmoid),
            functions!(naive::sigmoid),
        ),
        (
            "sub_vp",
            functions!(budget::sub_vp),
            functions!(naive::sub_vp),
        ),
        (
            "tangent",
            functions!(budget::tangent),
            functions!(naive::tangent),
        ),
        ("ve", functions!(budget::ve), functions!(naive::ve)),
        (
            "vp_linear",
            functions!(budget::vp_linear),
            functions!(naive::vp_linear),
        ),
    ]
}

/// 64 times spread over (0, 1), the same for every benchmark.
fn times() -> Vec<f64> {
    (0..64).map(|k| (k as f64 + 0.5) / 64.0).collect()
}

fn sum_scalars(fs: &[(&str, Scalar)], ts: &[f64]) -> f64 {
    let mut acc = 0.0;
    for (_, f) in fs {
        for &t in ts {
            acc += f(black_box(t));
        }
    }
    acc
}

fn sum_steps(fs: &[(&str, Step)], ts: &[f64]) -> f64 {
    let mut acc = 0.0;
    for (_, f) in fs {
        for &t in ts {
            acc += f(0.3, -0.7, black_box(t), 0.9 * t);
        }
    }
    acc
}

/// Every process, all its scalar functions and steps, both lowerings.
fn every_process(c: &mut Criterion) {
    let ts = times();
    for (name, budget, naive) in processes() {
        let mut g = c.benchmark_group(format!("budget vs naive: {name}"));
        g.bench_function("scalars budget", |b| {
            b.iter(|| sum_scalars(&budget.scalars, &ts))
        });
        g.bench_function("scalars naive", |b| {
            b.iter(|| sum_scalars(&naive.scalars, &ts))
        });
        g.bench_function("steps budget", |b| b.iter(|| sum_steps(&budget.steps, &ts)));
        g.bench_function("steps naive", |b| b.iter(|| sum_steps(&naive.steps, &ts)));
        g.finish();
    }
}

/// The targets, function by function, on vp_linear and cosine.
fn targets(c: &mut Criterion) {
    let ts = times();
    let wanted = ["alpha", "sigma", "g2", "lambda", "snr"];
    for (name, budget, naive) in processes() {
        if name != "vp_linear" && name != "cosine" {
            continue;
        }
        for f in wanted {
            let pick = |fs: &Functions| {
                fs.scalars
                    .iter()
                    .find(|(n, _)| *n == f)
                    .map(|p| p.1)
                    .expect("a scalar function")
            };
            let (b_f, n_f) = (pick(&budget), pick(&naive));
            let mut g = c.benchmark_group(format!("{name} {f}"));
            g.bench_function("budget", |b| b.iter(|| sum_scalars(&[(f, b_f)], &ts)));
            g.bench_function("naive", |b| b.iter(|| sum_scalars(&[(f, n_f)], &ts)));
            g.finish();
        }
        for (k, (f, b_f)) in budget.steps.iter().enumerate() {
            let n_f = naive.steps[k].1;
            let mut g = c.benchmark_group(format!("{name} {f}"));
            g.bench_function("budget", |b| b.iter(|| sum_steps(&[(f, *b_f)], &ts)));
            g.bench_function("naive", |b| b.iter(|| sum_steps(&[(f, n_f)], &ts)));
            g.finish();
        }
    }
}

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
        b.iter(|| {
            budget::vp_linear::ddim_step_eps_slice(black_box(&mut x), black_box(&eps), 0.6, 0.55)
        })
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
    g.bench_function("emitted", |b| {
        b.iter(|| budget::vp_linear::g2(black_box(0.37)))
    });
    g.bench_function("interpreter", |b| {
        b.iter(|| eval::eval_f64(&pool, e, &[(t, black_box(0.37))]))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = every_process, targets, ddim, g2
}
criterion_main!(benches);
