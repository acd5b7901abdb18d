//! Benchmarks of the analyses. The exact KL for d = 10^5 eigenvalues (lambda_k = k^-1.5):
//! every sampler at N = 1000 and DDIM at N = 10^4, each against `tight`, a minimal loop over
//! the same arithmetic written here (issue 18 asks for DDIM and Euler within 2x of it).
//! Measured (2 cores, idle): DDIM 23 ms against 19 ms, Euler 55 against 34, Heun 92
//! against 43, DPM-1 44 against 35, Euler-Maruyama 63 against 34, DDPM 44 against 38
//! (noisy), DDIM at N = 10^4 209 against 173. And the symbolic 4th-order expansion (well
//! under 100 ms asked).
//!
//! The KL's gradient with respect to the grid times against the KL itself, in the same run
//! (issue 11 asks for a gradient costing about as much as the KL): on d = 10^5 with a
//! closed-form schedule (the per-direction recursion dominates), and on the digits spectrum
//! (d = 64) with the bundled cosine process (its schedule evaluations dominate, as in
//! `schedule`). And the grid search of `schedule` itself at N = 200 on the digits.
//! Measured before issue 18 made the KL itself 10 to 30 times faster (2 cores, shared):
//! gradient/KL 2.4 (DDIM), 2.2 (Euler), 2.4 (DDPM) on d = 1e5 (0.60 s, 6.1 s, 2.2 s); 2.1,
//! 2.0, 2.5 on the digits (1.4 ms, 5.9 ms, 2.8 ms); the search 70 to 105 ms.

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

/// The minimal loop over the same arithmetic, written for this benchmark as the limit the
/// library is measured against: each step's scalars once, then per direction the plain
/// recursion `V' = A^2 V + Q`, `mu' = A mu + D m` in f64 (DDIM: the angle form's
/// `w' = w + tau^2 + w tau^2`), on blocks of 256 directions in structure-of-arrays form, the
/// directions split in two halves over two threads. None of the library's accuracy work:
/// no tracking of V/v - 1, no cancellation-free step coefficients, no compensated sums.
mod tight {
    use diffsym::analysis::{Sampler, Schedule};

    const B: usize = 256;

    #[derive(Clone, Copy, Default)]
    struct Pt {
        t: f64,
        a: f64,
        s: f64,
        da: f64,
        ds: f64,
    }

    /// One step's scalars: `a1 lambda + a0` is the rate's (or DDIM's den's) numerator, and
    /// so on per sampler (see `run`).
    #[derive(Clone, Copy, Default)]
    struct St {
        aq2: f64,
        sq2: f64,
        c1: f64,
        c0: f64,
        e1: f64,
        e0: f64,
        h: f64,
        d: f64,
        d_rate: f64,
        q: f64,
        x2: f64,
    }

    fn steps(sched: &dyn Schedule, sampler: Sampler, grid: &[f64]) -> (Vec<Pt>, Vec<St>) {
        let pts: Vec<Pt> = grid
            .iter()
            .map(|&t| Pt {
                t,
                a: sched.alpha(t),
                s: sched.sigma(t),
                da: sched.dalpha(t),
                ds: sched.dsigma(t),
            })
            .collect();
        let st = (1..pts.len())
            .map(|k| {
                let (p, q) = (pts[k], pts[k - 1]);
                let h = q.t - p.t;
                let x = p.s * q.a - q.s * p.a;
                let mut st = St {
                    aq2: q.a * q.a,
                    sq2: q.s * q.s,
                    h,
                    x2: x * x,
                    ..St::default()
                };
                match sampler {
                    Sampler::Ddim | Sampler::Dpm1 => (st.c1, st.c0) = (p.a * q.a, p.s * q.s),
                    Sampler::Ddpm => {
                        let e = (p.a * q.s / (q.a * p.s)).powi(2);
                        (st.c1, st.q) = (p.a / q.a, q.s * q.s * (1.0 - e));
                    }
                    _ => {
                        (st.c1, st.c0) = (p.a * p.da, p.s * p.ds);
                        (st.e1, st.e0) = (q.a * q.da, q.s * q.ds);
                        st.d = p.a - q.a + h * p.da;
                        if sampler == Sampler::Heun {
                            st.d_rate = 0.5 * h * st.d;
                            st.d = p.a - q.a + 0.5 * h * (p.da + q.da);
                        }
                        if sampler == Sampler::EulerMaruyama {
                            let g2 = 2.0 * p.s * (p.ds - p.da * p.s / p.a);
                            st.c0 += 0.5 * g2;
                            st.q = -g2 * h;
                        }
                    }
                }
                st
            })
            .collect();
        (pts, st)
    }

    /// Whether the AVX2 instances can run (as the library's lane loops, which use them).
    fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        return false;
    }

    /// One step of DDIM's angle form on a block.
    #[inline(never)]
    fn ddim(c: &St, lam: &[f64], w: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2, all `ddim_avx2` requires.
            return unsafe { ddim_avx2(c, lam, w) };
        }
        ddim_lanes(c, lam, w)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn ddim_avx2(c: &St, lam: &[f64], w: &mut [f64]) {
        ddim_lanes(c, lam, w)
    }

    #[inline(always)]
    fn ddim_lanes(c: &St, lam: &[f64], w: &mut [f64]) {
        for (w, &l) in w.iter_mut().zip(lam) {
            let den = c.c1 * l + c.c0;
            let tau2 = l * c.x2 / (den * den);
            *w += tau2 + *w * tau2;
        }
    }

    /// One step of `V' = A^2 V + Q`, `mu' = A mu + D m` on a block, (A, D) from
    /// `map(lambda, 1/v_p, v_q, 1/v_q)`.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn affine(
        c: &St,
        lam: &[f64],
        m: &[f64],
        var: &mut [f64],
        mu: &mut [f64],
        v: &mut [f64],
        iv: &mut [f64],
        map: impl Fn(f64, f64, f64, f64) -> (f64, f64),
    ) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2, all `affine_avx2` requires.
            return unsafe { affine_avx2(c, lam, m, var, mu, v, iv, map) };
        }
        affine_lanes(c, lam, m, var, mu, v, iv, map)
    }

    #[allow(clippy::too_many_arguments)]
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn affine_avx2(
        c: &St,
        lam: &[f64],
        m: &[f64],
        var: &mut [f64],
        mu: &mut [f64],
        v: &mut [f64],
        iv: &mut [f64],
        map: impl Fn(f64, f64, f64, f64) -> (f64, f64),
    ) {
        affine_lanes(c, lam, m, var, mu, v, iv, map)
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn affine_lanes(
        c: &St,
        lam: &[f64],
        m: &[f64],
        var: &mut [f64],
        mu: &mut [f64],
        v: &mut [f64],
        iv: &mut [f64],
        map: impl Fn(f64, f64, f64, f64) -> (f64, f64),
    ) {
        let n = lam.len();
        let (m, var, mu, v, iv) = (
            &m[..n],
            &mut var[..n],
            &mut mu[..n],
            &mut v[..n],
            &mut iv[..n],
        );
        for i in 0..n {
            let l = lam[i];
            let vq = c.aq2 * l + c.sq2;
            let iq = 1.0 / vq;
            let (a, d) = map(l, iv[i], vq, iq);
            var[i] = a * a * var[i] + c.q;
            mu[i] = a * mu[i] + d * m[i];
            v[i] = vq;
            iv[i] = iq;
        }
    }

    /// KL(src||out) of the directions `lam` (mean `m`) from the prior, in blocks.
    fn run(sampler: Sampler, pts: &[Pt], steps: &[St], lam: &[f64], m: &[f64]) -> f64 {
        let (first, last) = (pts[0], pts[pts.len() - 1]);
        let mut kl = 0.0;
        let (mut var, mut mu, mut v, mut iv) = ([0.0; B], [0.0; B], [0.0; B], [0.0; B]);
        for (lam, m) in lam.chunks(B).zip(m.chunks(B)) {
            let n = lam.len();
            for i in 0..n {
                v[i] = last.a * last.a * lam[i] + last.s * last.s;
                iv[i] = 1.0 / v[i];
                (var[i], mu[i]) = if sampler == Sampler::Ddim {
                    (0.0, 0.0)
                } else {
                    (1.0, -last.a * m[i])
                };
            }
            let (var, mu, v, iv) = (&mut var[..n], &mut mu[..n], &mut v[..n], &mut iv[..n]);
            for c in steps.iter().rev() {
                match sampler {
                    Sampler::Ddim => ddim(c, lam, var),
                    Sampler::Dpm1 => affine(c, lam, m, var, mu, v, iv, |l, ip, _, _| {
                        ((c.c1 * l + c.c0) * ip, 0.0)
                    }),
                    Sampler::Ddpm => affine(c, lam, m, var, mu, v, iv, |_, ip, vq, _| {
                        (c.c1 * vq * ip, 0.0)
                    }),
                    Sampler::Heun if c.sq2 != 0.0 => {
                        affine(c, lam, m, var, mu, v, iv, |l, ip, _, iq| {
                            let kp = (c.c1 * l + c.c0) * ip;
                            let kq = (c.e1 * l + c.e0) * iq;
                            let am1 = 0.5 * c.h * (kp + kq * (1.0 + c.h * kp));
                            (1.0 + am1, c.d + c.d_rate * kq)
                        })
                    }
                    _ => affine(c, lam, m, var, mu, v, iv, |l, ip, _, _| {
                        (1.0 + c.h * (c.c1 * l + c.c0) * ip, c.d)
                    }),
                }
            }
            for i in 0..n {
                let v0 = first.a * first.a * lam[i] + first.s * first.s;
                if sampler == Sampler::Ddim {
                    // V = v0 / (vN (1 + w)), the mean's error scaled alike.
                    let vn = last.a * last.a * lam[i] + last.s * last.s;
                    let r = 1.0 / (vn * (1.0 + var[i]));
                    let mean = last.a * m[i] * (r).sqrt();
                    kl += 0.5 * (1.0 / r - 1.0 + r.ln() + mean * mean / (r * v0));
                } else {
                    let r = var[i] / v0;
                    kl += 0.5 * (1.0 / r - 1.0 + r.ln() + mu[i] * mu[i] / var[i]);
                }
            }
        }
        kl
    }

    /// KL(src||out) from the prior on `grid`, on two threads.
    pub fn kl(sched: &dyn Schedule, sampler: Sampler, grid: &[f64], lam: &[f64], m: &[f64]) -> f64 {
        let (pts, st) = steps(sched, sampler, grid);
        let half = lam.len().div_ceil(2 * B) * B;
        let (l0, l1) = lam.split_at(half);
        let (m0, m1) = m.split_at(half);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| run(sampler, &pts, &st, l1, m1));
            run(sampler, &pts, &st, l0, m0) + other.join().expect("no panic")
        })
    }
}

/// Every sampler at d = 10^5, N = 1000, and DDIM at N = 10^4: the library's exact KL
/// against the tight loop, on the closed-form tangent schedule (t_max = 0.999, where
/// Euler-Maruyama's coefficients are finite).
fn kl(c: &mut Criterion) {
    let src = source(100_000);
    let sched = Tangent { gamma: 0.3 };
    let means = vec![0.0; src.dimension()];
    let mut group = c.benchmark_group("exact KL d=1e5");
    group.sample_size(10);
    let cases = Sampler::ALL
        .iter()
        .map(|&s| (s, 1000))
        .chain([(Sampler::Ddim, 10_000)]);
    for (sampler, n) in cases {
        let grid = time_grid(&GridKind::Uniform, &sched, n, 0.0, 0.999).expect("grid");
        let name = format!("{} N={n}", sampler.name());
        let lib = exact_kl(&sched, &src, sampler, &grid, Start::Prior).expect("kl");
        let tight = tight::kl(&sched, sampler, &grid, &src.eigenvalues, &means);
        // The same KL, to the tight loop's rounding: the two compute one quantity.
        assert!(
            (lib.kl_src_out - tight).abs() <= 1e-6 * lib.kl_src_out,
            "{name}: {lib:?} against {tight}"
        );
        group.bench_function(format!("{name} diffsym"), |b| {
            b.iter(|| exact_kl(&sched, black_box(&src), sampler, &grid, Start::Prior))
        });
        group.bench_function(format!("{name} tight loop"), |b| {
            b.iter(|| tight::kl(&sched, sampler, &grid, black_box(&src.eigenvalues), &means))
        });
    }
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
