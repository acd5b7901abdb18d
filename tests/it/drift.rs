//! `diffsym drift` (issue 17): the exact Gaussian-kernel drift against a brute-force
//! quadrature of the kernel definition and the 1-D closed form, the Laplace drift's
//! Jacobian against finite differences and the general identity V^+ = c grad log(p * Phi),
//! diagnostics.

use diffsym::analysis::drift::Kernel;
use diffsym::analysis::drift::field::{self, Gaussians, QUADRATURE_BUDGET};
use diffsym::analysis::{Covariances, Mixture};

use crate::support::{floats, run_json, scratch_file};

const FILE: &str = "\
source G1 = gaussian(cov = [[0.8, 0.3], [0.3, 0.5]], mean = [1, -0.5]);
source G2 = gaussian(cov = [[1.2, -0.2], [-0.2, 0.6]], mean = [-0.5, 0.3]);
source M1 = gmm(weights = [0.3, 0.7], means = [[-1, 0.5], [1, -0.5]], covs = [[[0.6, 0.2], [0.2, 0.4]], [[0.3, -0.1], [-0.1, 0.5]]]);
source M2 = gmm(weights = [0.5, 0.5], means = [[0, 1], [0.5, -1]], var = 0.4);
source A = gaussian(spectrum = [0.5], mean = [1]);
source B = gaussian(spectrum = [2], mean = [-0.5]);
source T3 = gaussian(spectrum = [1, 2, 0.5]);
source F4 = gaussian(spectrum = [1, 1, 1, 1]);
kernel K = gaussian(h = 0.7);
kernel L = laplace(tau = 0.7);
kernel R = radial(profile = 1/(1 + r^2));
";

fn drift(args: &[&str]) -> (i32, serde_json::Value, String) {
    run_json("drift", "drift.dsym", FILE, args)
}

/// A 2-D Gaussian component written out here, independently of the crate: weight, mean,
/// covariance.
type Comp2 = (f64, [f64; 2], [[f64; 2]; 2]);

fn density(comps: &[Comp2], y: [f64; 2]) -> f64 {
    comps
        .iter()
        .map(|(w, m, s)| {
            let det = s[0][0] * s[1][1] - s[0][1] * s[1][0];
            let (a, b) = (y[0] - m[0], y[1] - m[1]);
            let quad = (s[1][1] * a * a - 2.0 * s[0][1] * a * b + s[0][0] * b * b) / det;
            w * (-0.5 * quad).exp() / (2.0 * std::f64::consts::PI * det.sqrt())
        })
        .sum()
}

/// E_p[k (y - x)]/E_p[k] for the Gaussian kernel by the trapezoid rule on a 181 x 181 grid
/// over [-9, 9]^2: the integrand is a smooth Gaussian-like bump of width above 0.4, so the
/// rule with spacing 0.1 is exact to rounding (its error is about exp(-2 pi^2 0.4^2/0.01)).
fn brute_force(comps: &[Comp2], h: f64, x: [f64; 2]) -> [f64; 2] {
    let (mut d, mut n) = (0.0, [0.0; 2]);
    for i in 0..=180 {
        for j in 0..=180 {
            let y = [-9.0 + 0.1 * i as f64, -9.0 + 0.1 * j as f64];
            let z = [y[0] - x[0], y[1] - x[1]];
            let w = density(comps, y) * (-(z[0] * z[0] + z[1] * z[1]) / (2.0 * h * h)).exp();
            d += w;
            n[0] += w * z[0];
            n[1] += w * z[1];
        }
    }
    [n[0] / d, n[1] / d]
}

#[test]
fn drift_gaussian_kernel_matches_a_brute_force_quadrature_of_the_definition() {
    let g1: Vec<Comp2> = vec![(1.0, [1.0, -0.5], [[0.8, 0.3], [0.3, 0.5]])];
    let g2: Vec<Comp2> = vec![(1.0, [-0.5, 0.3], [[1.2, -0.2], [-0.2, 0.6]])];
    let m1: Vec<Comp2> = vec![
        (0.3, [-1.0, 0.5], [[0.6, 0.2], [0.2, 0.4]]),
        (0.7, [1.0, -0.5], [[0.3, -0.1], [-0.1, 0.5]]),
    ];
    let m2: Vec<Comp2> = vec![
        (0.5, [0.0, 1.0], [[0.4, 0.0], [0.0, 0.4]]),
        (0.5, [0.5, -1.0], [[0.4, 0.0], [0.0, 0.4]]),
    ];
    let xs = [[0.5, -1.0], [0.0, 0.0], [-1.5, 2.0]];
    for (p, q, pc, qc) in [("G1", "G2", &g1, &g2), ("M1", "M2", &m1, &m2)] {
        let mut argv = vec!["--p", p, "--q", q, "--kernel", "K"];
        let at: Vec<String> = xs.iter().map(|x| format!("{},{}", x[0], x[1])).collect();
        for a in &at {
            argv.extend(["--at", a.as_str()]);
        }
        let (code, v, err) = drift(&argv);
        assert_eq!(code, 0, "{err}");
        assert_eq!(v["method"], "exact");
        assert_eq!(v["kernel"]["family"], "gaussian");
        for (k, x) in xs.iter().enumerate() {
            let pt = &v["points"][k];
            let bp = brute_force(pc, 0.7, *x);
            let bq = brute_force(qc, 0.7, *x);
            let (dp, dq, dv) = (
                floats(&pt["drift_p"]),
                floats(&pt["drift_q"]),
                floats(&pt["drift"]),
            );
            for i in 0..2 {
                assert!((dp[i] - bp[i]).abs() < 1e-12, "{p} at {x:?}: {dp:?} {bp:?}");
                assert!((dq[i] - bq[i]).abs() < 1e-12, "{q} at {x:?}: {dq:?} {bq:?}");
                assert!((dv[i] - (bp[i] - bq[i])).abs() < 1e-12);
            }
            // The Gaussian kernel's drift is a gradient: its Jacobian is symmetric.
            assert_eq!(pt["curl"], 0.0);
            assert_eq!(pt["relative_asymmetry"], 0.0);
        }
    }
}

#[test]
fn drift_one_dimensional_gaussians_meet_the_closed_form() {
    // V(x) = h^2 [-(x - m_p)/(s_p^2 + h^2) + (x - m_q)/(s_q^2 + h^2)], p = A, q = B.
    let (h2, mp, vp, mq, vq) = (0.49, 1.0, 0.5, -0.5, 2.0);
    for x in [-3.0, 0.0, 0.25, 4.0] {
        let at = x.to_string();
        let (code, v, err) = drift(&["--p", "A", "--q", "B", "--kernel", "K", "--at", &at]);
        assert_eq!(code, 0, "{err}");
        let want = h2 * (-(x - mp) / (vp + h2) + (x - mq) / (vq + h2));
        let got = floats(&v["points"][0]["drift"])[0];
        assert!(
            (got - want).abs() <= 1e-15 * want.abs().max(1.0),
            "{got} {want}"
        );
    }
}

#[test]
fn drift_vanishes_when_p_is_q_for_every_kernel() {
    for k in ["K", "L", "R"] {
        let (code, v, err) = drift(&["--p", "M1", "--q", "M1", "--kernel", k, "--at", "0.3,-0.2"]);
        assert_eq!(code, 0, "{err}");
        for c in floats(&v["points"][0]["drift"]) {
            assert_eq!(c, 0.0, "kernel {k}");
        }
        let want = if k == "K" { "exact" } else { "quadrature" };
        assert_eq!(v["method"], want);
        if k != "K" {
            assert!(v["error_estimate"].as_f64().expect("a number") < 1e-10);
            assert_eq!(v["converged"], true);
        }
    }
}

fn m1() -> Mixture {
    Mixture::new(
        "M1",
        vec![0.3, 0.7],
        vec![vec![-1.0, 0.5], vec![1.0, -0.5]],
        Covariances::Full(vec![
            vec![vec![0.6, 0.2], vec![0.2, 0.4]],
            vec![vec![0.3, -0.1], vec![-0.1, 0.5]],
        ]),
    )
    .expect("valid")
}

fn m2() -> Mixture {
    Mixture::new(
        "M2",
        vec![0.5, 0.5],
        vec![vec![0.0, 1.0], vec![0.5, -1.0]],
        Covariances::Shared(0.4),
    )
    .expect("valid")
}

#[test]
fn drift_laplace_jacobian_and_curl_match_finite_differences() {
    // The Jacobian is the quadrature of grad p in the moving frame; here it is compared
    // with central differences of the quadrature drift itself (step 1e-3: truncation about
    // 1e-7, quadrature noise about 1e-11).
    let (p, q) = (m1(), m2());
    let kernel = Kernel::Laplace { tau: 0.7 };
    let x = [0.5, -1.0];
    let at = field::drift_at(&p, &q, &kernel, &x).expect("a drift");
    assert!(at.converged && at.error_estimate < 1e-10, "{at:?}");
    let step = 1e-3;
    let mut fd = [0.0; 4];
    for j in 0..2 {
        let (mut up, mut down) = (x, x);
        up[j] += step;
        down[j] -= step;
        let vu = field::drift_at(&p, &q, &kernel, &up)
            .expect("a drift")
            .drift;
        let vd = field::drift_at(&p, &q, &kernel, &down)
            .expect("a drift")
            .drift;
        for i in 0..2 {
            fd[i * 2 + j] = (vu[i] - vd[i]) / (2.0 * step);
        }
    }
    for (a, b) in at.jacobian.iter().zip(&fd) {
        assert!((a - b).abs() < 1e-6, "{:?} {fd:?}", at.jacobian);
    }
    let field::Curl::Scalar(curl) = at.curl() else {
        panic!("a 2-D curl")
    };
    let fd_curl = fd[2] - fd[1];
    assert!((curl - fd_curl).abs() < 1e-6, "{curl} {fd_curl}");
    // The Laplace drift is not a gradient here: the curl is well away from 0.
    assert!(
        curl.abs() > 1e-2 && at.relative_asymmetry() > 1e-2,
        "{curl}"
    );
}

#[test]
fn drift_laplace_mean_shift_is_c_times_grad_log_p_conv_phi() {
    // V^+ = c grad log(p * Phi), Phi(r) = tau (r + tau) e^{-r/tau}, c = (p * Phi)/(p * k):
    // grad (p * Phi) is integrated from grad p, never from the kernel's first moment.
    let kernel = Kernel::Laplace { tau: 0.7 };
    for m in [m1(), m2()] {
        let g = Gaussians::new(&m, 0.0);
        for x in [[0.5, -1.0], [2.0, 1.5]] {
            let v = field::mean_shift(&g, &kernel, &x, QUADRATURE_BUDGET).expect("a shift");
            let (c, grad) = field::identity_parts(&g, &kernel, &x, QUADRATURE_BUDGET)
                .expect("a quadrature")
                .expect("Phi is closed for the Laplace kernel");
            for (g, v) in grad.iter().zip(&v.shift) {
                assert!((c * g - v).abs() < 1e-11, "{} {v}", c * g);
            }
            // c is not constant, unlike h^2 for the Gaussian kernel.
            assert!(c > 0.0 && (c - 0.49).abs() > 1e-3, "{c}");
        }
    }
}

#[test]
fn drift_three_dimensional_laplace_curl_is_a_vector() {
    let (code, v, err) = drift(&[
        "--p",
        "T3",
        "--q",
        "T3",
        "--kernel",
        "L",
        "--at",
        "0.1,0.2,-0.3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        v["points"][0]["curl"].as_array().expect("a vector").len(),
        3
    );
}

#[test]
fn drift_reads_points_from_a_file() {
    let pts = scratch_file("points.txt", "# points\n0.5, -1\n0 0   # the origin\n\n");
    let (code, v, err) = drift(&["--p", "G1", "--q", "G2", "--kernel", "K", "--points", &pts]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["points"].as_array().expect("points").len(), 2);
    assert_eq!(floats(&v["points"][1]["x"]), vec![0.0, 0.0]);
}

#[test]
fn drift_diagnostics() {
    let bad = scratch_file("bad.txt", "0.5, -1\n0.5, x\n");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["--p", "F4", "--q", "F4", "--kernel", "L", "--at", "0,0,0,0"],
            "diffsym::analysis::drift",
            "dimension 1, 2 or 3 only",
        ),
        (
            vec!["--p", "G1", "--q", "A", "--kernel", "K", "--at", "0,0"],
            "diffsym::analysis::drift",
            "p has dimension 2 and q has dimension 1",
        ),
        (
            vec!["--p", "G1", "--q", "G2", "--kernel", "Z", "--at", "0,0"],
            "diffsym::cli::kernel",
            "no kernel named `Z`",
        ),
        (
            vec!["--p", "G1", "--q", "G2", "--kernel", "K", "--at", "0"],
            "diffsym::cli::at",
            "1 coordinates; the sources have dimension 2",
        ),
        (
            vec!["--p", "G1", "--q", "G2", "--kernel", "K", "--at", "nan,0"],
            "diffsym::cli::at",
            "not a list of numbers",
        ),
        (
            vec!["--p", "G1", "--q", "G2", "--kernel", "K"],
            "diffsym::cli::at",
            "no points",
        ),
        (
            vec!["--p", "G1", "--q", "G2", "--kernel", "K", "--points", &bad],
            "diffsym::cli::at",
            "not a point",
        ),
        (
            vec!["--p", "Nope", "--q", "G2", "--kernel", "K", "--at", "0,0"],
            "diffsym::cli::source",
            "no source named `Nope`",
        ),
    ];
    for (args, code, text) in cases {
        let (exit, _, err) = drift(&args);
        assert_eq!(exit, 2, "{args:?}");
        assert!(err.contains(code) && err.contains(text), "{args:?}: {err}");
    }
    // The bad line of a points file is located.
    let (_, _, err) = drift(&["--p", "G1", "--q", "G2", "--kernel", "K", "--points", &bad]);
    assert!(err.contains(":2:"), "{err}");
    // Too many quadrature points are refused up front.
    let many: Vec<String> = (0..40).map(|i| format!("{},0", i as f64 / 10.0)).collect();
    let mut argv = vec!["--p", "G1", "--q", "G2", "--kernel", "L"];
    for a in &many {
        argv.extend(["--at", a.as_str()]);
    }
    let (exit, _, err) = drift(&argv);
    assert_eq!(exit, 2);
    assert!(err.contains("at most 32"), "{err}");
}
