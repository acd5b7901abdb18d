//! `diffsym drift-flow` and the particle version of drifting (issue 17): every expected
//! number comes from an independent computation written here (scalar recursions, the
//! separable solution of the variance ODE, a midpoint integration of the flow map,
//! quadrature of the kernel definition, Monte Carlo with its own generator).

use diffsym::analysis::drift::Kernel;
use diffsym::analysis::drift::flow::{Flow, Law};
use diffsym::analysis::drift::particles::particle_field;
use nalgebra::{DMatrix, DVector};
use serde_json::Value;

use crate::support::{run, scratch_file};

fn flow_json(file_text: &str, args: &[&str]) -> (i32, Value, String) {
    let f = scratch_file("drift.dsym", file_text);
    let mut argv = vec!["drift-flow", &f, "--format", "json"];
    argv.extend(args);
    let (code, out, err) = run(&argv);
    let v = if code == 0 {
        serde_json::from_str(&out).expect("JSON")
    } else {
        Value::Null
    };
    (code, v, err)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: f64, rel: f64, what: &str) {
    assert!(
        (a - b).abs() <= rel * b.abs().max(1e-300),
        "{what}: {a} vs {b}"
    );
}

/// A test-local generator (xorshift64* and Box-Muller), independent of diffsym's.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let z = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

const ONE_D: &str = "source P = gaussian(spectrum = [0.25], mean = [1]);\n\
                     source Q = gaussian(spectrum = [2], mean = [-2]);\n\
                     source W = gaussian(spectrum = [4], mean = [0.5]);\n\
                     source W2 = gaussian(spectrum = [4.1], mean = [0.5]);\n\
                     source P2 = gaussian(spectrum = [0.25], mean = [1.01]);\n\
                     kernel K = gaussian(h = 1);\n\
                     kernel L = laplace(tau = 1);\n\
                     source M = gmm(weights = [0.5, 0.5], means = [[-1], [1]], var = 0.5);\n";

#[test]
fn frozen_steps_follow_the_scalar_recursion_in_one_dimension() {
    // 1-D: m' = m - eta a h^2 (m - m_p)/(s_p + h^2), v' = (1 + eta h^2 (1/(v + h^2) - a/(s_p + h^2)))^2 v.
    for bias in [1.0, 0.5, 1.7] {
        let b = bias.to_string();
        let (code, v, err) = flow_json(
            ONE_D,
            &[
                "--p", "P", "--q", "Q", "--kernel", "K", "--steps", "30", "--eta", "0.9", "--bias",
                &b,
            ],
        );
        assert_eq!(code, 0, "{err}");
        let (mp, sp, h2, eta) = (1.0, 0.25, 1.0, 0.9);
        let (mut m, mut s) = (-2.0f64, 2.0f64);
        for row in v["steps"].as_array().expect("steps") {
            close(num(&row["mean"][0]), m, 1e-13, "mean");
            close(num(&row["cov"][0][0]), s, 1e-13, "variance");
            let kl = 0.5 * (s / sp - 1.0 - (s / sp).ln() + (m - mp) * (m - mp) / sp);
            assert!(
                (num(&row["kl"]) - kl).abs() <= 1e-12 * kl + 1e-15,
                "kl {} {kl}",
                row["kl"]
            );
            let g = 1.0 + eta * h2 * (1.0 / (s + h2) - bias / (sp + h2));
            m -= eta * bias * h2 * (m - mp) / (sp + h2);
            s *= g * g;
        }
        // The equilibrium: m_p and (s_p + h^2)/a - h^2, a fixed point of the recursion.
        let eq = (sp + h2) / bias - h2;
        if eq > 0.0 {
            close(num(&v["equilibrium"]["mean"][0]), mp, 1e-15, "eq mean");
            close(num(&v["equilibrium"]["cov"][0][0]), eq, 1e-14, "eq var");
            let g = 1.0 + eta * h2 * (1.0 / (eq + h2) - bias / (sp + h2));
            close(g * g * eq, eq, 1e-14, "fixed point");
        } else {
            assert!(v["equilibrium"].is_null() && v["eta_max"].is_null());
        }
    }
}

#[test]
fn eta_max_separates_convergence_from_divergence() {
    // s_p^2 = 0.25 < h^2 = 1: the mean binds, eta_max = 2 (s_p^2 + h^2)/h^2 = 2.5 (MATH.md
    // section 9); the mean error is multiplied by 1 - eta h^2/(s_p^2 + h^2) exactly.
    let args = |eta: &str, p: &str, q: &str| {
        flow_json(
            ONE_D,
            &[
                "--p", p, "--q", q, "--kernel", "K", "--steps", "2000", "--eta", eta,
            ],
        )
    };
    let (code, v, err) = args("2.45", "P", "P2");
    assert_eq!(code, 0, "{err}");
    close(num(&v["eta_max"]), 2.5, 1e-15, "eta_max");
    let last = |v: &Value| num(&v["steps"][2000]["kl"]);
    let first = num(&v["steps"][0]["kl"]);
    assert!(last(&v) < 1e-12 * first, "below: {}", last(&v));
    let (code, v, err) = args("2.55", "P", "P2");
    assert_eq!(code, 0, "{err}");
    assert!(last(&v) > 1e20 * first, "above: {}", last(&v));
    // s_p^2 = 4 > h^2: the variance binds, eta_max = (s^2 + h^2)^2/(s^2 h^2) = 6.25 < 10.
    let (code, v, err) = args("6.2", "W", "W2");
    assert_eq!(code, 0, "{err}");
    close(num(&v["eta_max"]), 6.25, 1e-15, "eta_max (variance)");
    close(
        num(&v["stability"]["eta_max_mean"]),
        10.0,
        1e-15,
        "mean bound",
    );
    let first = num(&v["steps"][0]["kl"]);
    assert!(last(&v) < 1e-12 * first, "below: {}", last(&v));
    let (code, v, err) = args("6.3", "W", "W2");
    assert_eq!(code, 0, "{err}");
    // The variance error grows by |1 - 6.3 * 0.32| = 1.016 per step until non-linear terms
    // hold it on a cycle: it does not converge.
    assert!(last(&v) > 100.0 * first, "above: {} {first}", last(&v));
}

const TWO_D: &str = "source P = gaussian(cov = [[1, 0.3], [0.3, 0.5]], mean = [1, -0.5]);\n\
                     source Q = gaussian(spectrum = [0.2, 2], mean = [-1, 1]);\n\
                     kernel K = gaussian(h = 0.8);\n";

fn mat(v: &Value) -> DMatrix<f64> {
    let rows = v.as_array().expect("rows");
    let d = rows.len();
    DMatrix::from_fn(d, d, |r, c| num(&rows[r][c]))
}

fn vec_of(v: &Value) -> DVector<f64> {
    DVector::from_iterator(
        v.as_array().expect("vector").len(),
        v.as_array().expect("vector").iter().map(num),
    )
}

/// V(x) = h^2 [-(S_p + h^2 I)^-1 (x - m_p) a + (S_q + h^2 I)^-1 (x - m_q)], written out.
fn field(
    x: &DVector<f64>,
    (mp, sp): (&DVector<f64>, &DMatrix<f64>),
    (mq, sq): (&DVector<f64>, &DMatrix<f64>),
    h2: f64,
    a: f64,
) -> DVector<f64> {
    let i = DMatrix::identity(x.len(), x.len());
    let pi = (sp + &i * h2).try_inverse().expect("inverse");
    let qi = (sq + &i * h2).try_inverse().expect("inverse");
    (-(pi * (x - mp)) * a + qi * (x - mq)) * h2
}

#[test]
fn the_frozen_step_law_is_the_monte_carlo_law_of_the_drift_map() {
    let (code, v, err) = flow_json(
        TWO_D,
        &[
            "--p", "P", "--q", "Q", "--kernel", "K", "--steps", "1", "--eta", "0.7",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let mp = DVector::from_vec(vec![1.0, -0.5]);
    let sp = DMatrix::from_row_slice(2, 2, &[1.0, 0.3, 0.3, 0.5]);
    let mq = DVector::from_vec(vec![-1.0, 1.0]);
    let sq = DMatrix::from_row_slice(2, 2, &[0.2, 0.0, 0.0, 2.0]);
    let n = 200_000;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut xs = Vec::with_capacity(n);
    for _ in 0..n {
        let x = DVector::from_vec(vec![
            -1.0 + 0.2f64.sqrt() * rng.normal(),
            1.0 + 2.0f64.sqrt() * rng.normal(),
        ]);
        let y = &x + field(&x, (&mp, &sp), (&mq, &sq), 0.64, 1.0) * 0.7;
        xs.push(y);
    }
    let mean = xs.iter().fold(DVector::zeros(2), |a, x| a + x) / n as f64;
    let got_mean = vec_of(&v["steps"][1]["mean"]);
    let got_cov = mat(&v["steps"][1]["cov"]);
    for i in 0..2 {
        let se = (got_cov[(i, i)] / n as f64).sqrt();
        assert!(
            (mean[i] - got_mean[i]).abs() < 5.0 * se,
            "mean {i}: {} {}",
            mean[i],
            got_mean[i]
        );
        for j in 0..2 {
            let prods: Vec<f64> = xs
                .iter()
                .map(|x| (x[i] - got_mean[i]) * (x[j] - got_mean[j]))
                .collect();
            let c = prods.iter().sum::<f64>() / n as f64;
            let var = prods.iter().map(|p| (p - c) * (p - c)).sum::<f64>() / n as f64;
            let se = (var / n as f64).sqrt();
            assert!(
                (c - got_cov[(i, j)]).abs() < 5.0 * se,
                "cov {i}{j}: {c} {} (se {se})",
                got_cov[(i, j)]
            );
        }
    }
}

#[test]
fn the_continuous_flow_matches_the_separable_solution_in_one_dimension() {
    // v' = 2 v (h^2/(v + h^2) - w), w = a h^2/(s_p + h^2): with v* = h^2 (1 - w)/w,
    // 2 w t = (h^2/v*) ln(v/v0) - ((v* + h^2)/v*) ln((v* - v)/(v* - v0)); the mean decays as
    // m_p + (m0 - m_p) exp(-w t).
    for (bias, t) in [(1.0f64, 3.0f64), (0.5, 2.0), (1.5, 0.7)] {
        let (b, ts) = (bias.to_string(), t.to_string());
        let (code, v, err) = flow_json(
            ONE_D,
            &[
                "--p",
                "P",
                "--q",
                "Q",
                "--kernel",
                "K",
                "--steps",
                "0",
                "--eta",
                "1",
                "--bias",
                &b,
                "--continuous",
                &ts,
            ],
        );
        assert_eq!(code, 0, "{err}");
        let (mp, sp, h2, m0, v0) = (1.0f64, 0.25, 1.0, -2.0, 2.0);
        let w = bias * h2 / (sp + h2);
        let c = &v["continuous"];
        close(
            num(&c["mean"][0]),
            mp + (m0 - mp) * (-w * t).exp(),
            1e-12,
            "mean",
        );
        let vt = num(&c["cov"][0][0]);
        let vs = h2 * (1.0 - w) / w;
        let time = ((h2 / vs) * (vt / v0).ln() - ((vs + h2) / vs) * ((vs - vt) / (vs - v0)).ln())
            / (2.0 * w);
        close(time, t, 1e-10, "time of the variance reached");
        assert!(num(&c["error_estimate"]) < 1e-10);
    }
}

#[test]
fn the_continuous_flow_matches_a_midpoint_integration_of_the_flow_map() {
    // x(t) = F(t) x0 + g(t), F' = A F, g' = A g + c with A, c from the law at t:
    // S = F S0 F^T, m = F m0 + g; explicit midpoint, 20000 steps (error ~ 1e-9).
    let (code, v, err) = flow_json(
        TWO_D,
        &[
            "--p",
            "P",
            "--q",
            "Q",
            "--kernel",
            "K",
            "--steps",
            "0",
            "--eta",
            "1",
            "--bias",
            "0.8",
            "--continuous",
            "2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let mp = DVector::from_vec(vec![1.0, -0.5]);
    let sp = DMatrix::from_row_slice(2, 2, &[1.0, 0.3, 0.3, 0.5]);
    let m0 = DVector::from_vec(vec![-1.0, 1.0]);
    let s0 = DMatrix::from_row_slice(2, 2, &[0.2, 0.0, 0.0, 2.0]);
    let (h2, a) = (0.64, 0.8);
    let affine = |f: &DMatrix<f64>, g: &DVector<f64>| {
        let (m, s) = (f * &m0 + g, f * &s0 * f.transpose());
        let c = field(&DVector::zeros(2), (&mp, &sp), (&m, &s), h2, a);
        let cols: Vec<DVector<f64>> = (0..2)
            .map(|k| {
                let e = DVector::from_fn(2, |i, _| if i == k { 1.0 } else { 0.0 });
                field(&e, (&mp, &sp), (&m, &s), h2, a) - &c
            })
            .collect();
        (DMatrix::from_columns(&cols), c)
    };
    let steps = 20_000;
    let dt = 2.0 / steps as f64;
    let (mut f, mut g) = (DMatrix::identity(2, 2), DVector::zeros(2));
    for _ in 0..steps {
        let (am, c) = affine(&f, &g);
        let (fh, gh) = (
            &f + &am * &f * (dt / 2.0),
            &g + (&am * &g + &c) * (dt / 2.0),
        );
        let (am, c) = affine(&fh, &gh);
        f = &f + &am * &fh * dt;
        g = &g + (&am * &gh + c) * dt;
    }
    let (m, s) = (&f * &m0 + &g, &f * &s0 * f.transpose());
    let c = &v["continuous"];
    let (gm, gs) = (vec_of(&c["mean"]), mat(&c["cov"]));
    assert!((gm - m).amax() < 1e-7, "mean");
    assert!((gs - s).amax() < 1e-7, "cov");
}

#[test]
fn the_biased_equilibrium_is_a_fixed_point_in_two_dimensions() {
    let (code, v, err) = flow_json(
        TWO_D,
        &[
            "--p",
            "P",
            "--q",
            "Q",
            "--kernel",
            "K",
            "--steps",
            "400",
            "--eta",
            "0.5",
            "--bias",
            "0.6",
            "--continuous",
            "150",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let eq = &v["equilibrium"];
    let (me, se) = (vec_of(&eq["mean"]), mat(&eq["cov"]));
    let mp = DVector::from_vec(vec![1.0, -0.5]);
    let sp = DMatrix::from_row_slice(2, 2, &[1.0, 0.3, 0.3, 0.5]);
    // The field vanishes identically at the equilibrium: V(x) = 0 for every x.
    for x in [[0.0, 0.0], [1.0, 2.0], [-3.0, 0.5]] {
        let x = DVector::from_vec(x.to_vec());
        let vx = field(&x, (&mp, &sp), (&me, &se), 0.64, 0.6);
        assert!(vx.amax() < 1e-13, "{vx}");
    }
    // Both dynamics converge to it.
    let last = &v["steps"][400];
    assert!((vec_of(&last["mean"]) - &me).amax() < 1e-10);
    assert!((mat(&last["cov"]) - &se).amax() < 1e-10);
    let c = &v["continuous"];
    assert!((vec_of(&c["mean"]) - &me).amax() < 1e-10);
    assert!((mat(&c["cov"]) - &se).amax() < 1e-10);
}

#[test]
fn the_particle_field_converges_to_the_population_field() {
    // Deng et al.'s normalised mean shift on n samples of p and of q: its error at fixed
    // points is O(1/sqrt(n)) and centred (bias O(1/n)).
    let mp = DVector::from_vec(vec![1.0, -0.5]);
    let sp = DMatrix::from_row_slice(2, 2, &[1.0, 0.3, 0.3, 0.5]);
    let lp = sp.clone().cholesky().expect("spd").l();
    let mq = DVector::from_vec(vec![-1.0, 1.0]);
    let sq = DMatrix::from_row_slice(2, 2, &[0.2, 0.0, 0.0, 2.0]);
    let lq = sq.clone().cholesky().expect("spd").l();
    let kernel = Kernel::Gaussian { h: 0.8 };
    let points = [[0.0, 0.0], [0.5, 0.5], [-0.5, 1.0]];
    let mut rng = Rng(42);
    let mut draw = |m: &DVector<f64>, l: &DMatrix<f64>, n: usize| -> Vec<f64> {
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let z = DVector::from_vec(vec![rng.normal(), rng.normal()]);
            out.extend((m + l * z).iter());
        }
        out
    };
    let reps = 40;
    let mut mse = Vec::new();
    for n in [250, 1000, 4000] {
        let mut sq_err = 0.0;
        let mut sums = [[0.0f64; 2]; 3];
        let mut sums2 = [[0.0f64; 2]; 3];
        for _ in 0..reps {
            let (ps, qs) = (draw(&mp, &lp, n), draw(&mq, &lq, n));
            for (k, x) in points.iter().enumerate() {
                let got = particle_field(&kernel, x, &ps, &qs, None).expect("field");
                let want = field(
                    &DVector::from_vec(x.to_vec()),
                    (&mp, &sp),
                    (&mq, &sq),
                    0.64,
                    1.0,
                );
                for i in 0..2 {
                    let e = got[i] - want[i];
                    sq_err += e * e;
                    sums[k][i] += e;
                    sums2[k][i] += e * e;
                }
            }
        }
        mse.push(sq_err / reps as f64);
        if n == 4000 {
            for k in 0..3 {
                for i in 0..2 {
                    let mean = sums[k][i] / reps as f64;
                    let var = sums2[k][i] / reps as f64 - mean * mean;
                    let se = (var / reps as f64).sqrt();
                    assert!(
                        mean.abs() < 5.0 * se,
                        "point {k} coordinate {i}: {mean} (se {se})"
                    );
                }
            }
        }
    }
    // n * MSE is constant up to Monte Carlo noise (the 1/sqrt(n) rate).
    for w in [(0, 1, 4.0), (1, 2, 4.0)] {
        let ratio = mse[w.0] / mse[w.1] / w.2;
        assert!((0.6..1.6).contains(&ratio), "{mse:?}");
    }
    // The exact field of `Flow` is the one written out above.
    let flow = Flow::new(
        Law {
            mean: mp.clone(),
            cov: sp.clone(),
        },
        0.8,
        1.0,
    )
    .expect("flow");
    let q = Law {
        mean: mq.clone(),
        cov: sq.clone(),
    };
    let x = DVector::from_vec(vec![0.3, -0.7]);
    let diff = flow.velocity(&q, &x).expect("v") - field(&x, (&mp, &sp), (&mq, &sq), 0.64, 1.0);
    assert!(diff.amax() < 1e-14);
}

#[test]
fn the_field_is_the_quadrature_of_the_kernel_definition() {
    // V_p^+(x) = int k(x, y)(y - x) p(y) dy / int k(x, y) p(y) dy, trapezoid on a fine grid.
    let (mp, sp, mq, sq, h) = (1.0f64, 0.25f64, -2.0f64, 2.0f64, 1.0f64);
    let plus = |x: f64, m: f64, s: f64| {
        let (lo, hi, n) = (m - 14.0 * s.sqrt(), m + 14.0 * s.sqrt(), 40_000);
        let dy = (hi - lo) / n as f64;
        let (mut num, mut den) = (0.0, 0.0);
        for j in 0..=n {
            let y = lo + j as f64 * dy;
            let w = if j == 0 || j == n { 0.5 } else { 1.0 };
            let k =
                (-(x - y) * (x - y) / (2.0 * h * h)).exp() * (-(y - m) * (y - m) / (2.0 * s)).exp();
            num += w * k * (y - x);
            den += w * k;
        }
        num / den
    };
    let flow = Flow::new(
        Law {
            mean: DVector::from_vec(vec![mp]),
            cov: DMatrix::from_vec(1, 1, vec![sp]),
        },
        h,
        1.0,
    )
    .expect("flow");
    let q = Law {
        mean: DVector::from_vec(vec![mq]),
        cov: DMatrix::from_vec(1, 1, vec![sq]),
    };
    for x in [-3.0, -0.4, 0.0, 1.3, 4.0] {
        let want = plus(x, mp, sp) - plus(x, mq, sq);
        let got = flow.velocity(&q, &DVector::from_vec(vec![x])).expect("v")[0];
        assert!((got - want).abs() < 1e-11, "{x}: {got} {want}");
    }
}

#[test]
fn diagnostics_refuse_what_the_flow_cannot_do() {
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--p", "M", "--q", "Q", "--kernel", "K"],
            "diffsym::analysis::moment_flow",
            "is a mixture of 2 components",
        ),
        (
            &["--p", "P", "--q", "Q", "--kernel", "L"],
            "diffsym::analysis::moment_flow",
            "kernel `L` is laplace",
        ),
        (
            &["--p", "P", "--q", "Q", "--kernel", "G"],
            "diffsym::cli::kernel",
            "no kernel named `G`",
        ),
        (
            &["--p", "P", "--q", "Z", "--kernel", "K"],
            "diffsym::cli::source",
            "no source named `Z`",
        ),
    ];
    for (args, code_name, message) in cases {
        let mut a = args.to_vec();
        a.extend(["--steps", "3", "--eta", "1"]);
        let (code, _, err) = flow_json(ONE_D, &a);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            err.contains(code_name) && err.contains(message),
            "{args:?}: {err}"
        );
    }
    let base = ["--p", "P", "--q", "Q", "--kernel", "K"];
    let bad: &[(&[&str], &str)] = &[
        (&["--steps", "3", "--eta", "0"], "eta = 0 must be"),
        (&["--steps", "3", "--eta", "NaN"], "eta = NaN must be"),
        (&["--steps", "3", "--eta", "inf"], "eta = inf must be"),
        (
            &["--steps", "3", "--eta", "1", "--bias", "-1"],
            "bias a = -1 must be",
        ),
        (
            &["--steps", "3", "--eta", "1", "--continuous", "1e5"],
            "time T = 100000 must be",
        ),
        (
            &["--steps", "3", "--eta", "1", "--continuous", "-1"],
            "time T = -1 must be",
        ),
    ];
    for (args, message) in bad {
        let mut a = base.to_vec();
        a.extend(args.iter());
        let (code, _, err) = flow_json(ONE_D, &a);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            err.contains("diffsym::analysis::moment_flow") && err.contains(message),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = flow_json(
        &format!("{ONE_D}source R = gaussian(spectrum = [1, 1]);\n"),
        &[
            "--p", "P", "--q", "R", "--kernel", "K", "--steps", "1", "--eta", "1",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("dimension 1") && err.contains("dimension 2"),
        "{err}"
    );
    let (code, _, _) = flow_json(
        ONE_D,
        &[
            "--p", "P", "--q", "Q", "--kernel", "K", "--steps", "100001", "--eta", "1",
        ],
    );
    assert_eq!(code, 2);
    // A runaway step ends the run before any value leaves f64: nothing is printed that is
    // not finite, and the step is named.
    let (code, v, err) = flow_json(
        ONE_D,
        &[
            "--p", "P", "--q", "Q", "--kernel", "K", "--steps", "5000", "--eta", "1e6",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let k = v["diverged_at"].as_u64().expect("diverged") as usize;
    assert_eq!(v["steps"].as_array().expect("steps").len(), k);
    for row in v["steps"].as_array().expect("steps") {
        assert!(
            row["mean"][0].is_number() && row["cov"][0][0].is_number() && row["kl"].is_number()
        );
    }
}

#[test]
fn particles_follow_the_exact_population_law_and_the_plot_is_deterministic() {
    // 2000 particles in 1-D under the Gaussian kernel: the moment-matched KL follows the
    // exact frozen-step KL (flow.rs, checked above) while it is well above the noise floor.
    use diffsym::analysis::drift::particles;
    let p = Law {
        mean: DVector::from_vec(vec![1.0]),
        cov: DMatrix::from_vec(1, 1, vec![0.25]),
    };
    let q0 = Law {
        mean: DVector::from_vec(vec![-2.0]),
        cov: DMatrix::from_vec(1, 1, vec![2.0]),
    };
    let flow = Flow::new(p, 1.0, 1.0).expect("flow");
    let kernel = Kernel::Gaussian { h: 1.0 };
    let kl = particles::run(&flow, &q0, &kernel, None, 0.9, 4, 2000, 7);
    let exact = flow.frozen(&q0, 0.9, 4).expect("frozen").kl;
    for (k, (a, b)) in kl.iter().zip(&exact).enumerate() {
        // Within 15%: the field's sampling error moves the moments by O(1/sqrt(n)).
        assert!((a - b).abs() < 0.15 * b, "step {k}: {a} {b}");
    }
    let f = scratch_file(
        "drift.dsym",
        TWO_D.to_owned() + "kernel L = laplace(tau = 0.8);\n",
    );
    let out = scratch_file("drift.svg", "");
    let argv = [
        "plot",
        "drift",
        &f,
        "--p",
        "P",
        "--q",
        "Q",
        "--kernel",
        "K",
        "--kernel",
        "L",
        "--anneal",
        "0.8,0.1",
        "--steps",
        "6",
        "--eta",
        "0.5",
        "--particles",
        "60",
        "--out",
        &out,
    ];
    let (code, stdout, err) = run(&argv);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("KL after 6 steps"), "{stdout}");
    let first = std::fs::read(&out).expect("svg");
    let (code, _, _) = run(&argv);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read(&out).expect("svg"), first, "byte-identical");
    let text = String::from_utf8(first).expect("utf-8");
    for label in [
        "K, particles",
        "K, exact",
        "K annealed, particles",
        "K annealed, exact",
        "L, particles",
        "L annealed, particles",
    ] {
        assert!(text.contains(&format!("data-label=\"{label}\"")), "{label}");
    }
    // Refusals: too much work, a 3-D source, a bad schedule.
    let too_much = [
        "plot",
        "drift",
        &f,
        "--p",
        "P",
        "--q",
        "Q",
        "--kernel",
        "K",
        "--steps",
        "10000",
        "--eta",
        "0.5",
        "--particles",
        "20000",
        "--out",
        &out,
    ];
    let (code, _, err) = run(&too_much);
    assert_eq!(code, 2);
    assert!(err.contains("beyond the bound 1e8"), "{err}");
    let bad_anneal = [
        "plot", "drift", &f, "--p", "P", "--q", "Q", "--kernel", "K", "--anneal", "1,1e9",
        "--steps", "10", "--eta", "0.5", "--out", &out,
    ];
    let (code, _, err) = run(&bad_anneal);
    assert_eq!(code, 2);
    assert!(err.contains("falls below 1e-100"), "{err}");
    let f3 = scratch_file(
        "drift3.dsym",
        "source P = gaussian(spectrum = [1, 1, 1]);\nkernel K = gaussian(h = 1);\n",
    );
    let (code, _, err) = run(&[
        "plot", "drift", &f3, "--p", "P", "--q", "P", "--kernel", "K", "--steps", "3", "--eta",
        "1", "--out", &out,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("dimension 1 or 2"), "{err}");
}
