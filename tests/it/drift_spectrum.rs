//! `diffsym drift-spectrum` (issue 17): the linearised decay rates against a radial Fourier
//! transform of Phi computed here (cosine transform in d = 1, the Bessel J0 transform in
//! d = 2, the sin(xi r)/(xi r) transform in d = 3), annealing against quadrature over time,
//! the Gaussian kernel's maximum, diagnostics.

use std::f64::consts::{E, PI};

use crate::support::{floats, run, run_json, scratch_file};

const FILE: &str = "\
kernel G = gaussian(h = 0.7);
kernel L = laplace(tau = 0.7);
kernel M = radial(profile = (1 + r)*exp(-r));
kernel S = radial(profile = 1/(1 + r));
kernel T = radial(profile = exp(r));
";

fn spectrum(args: &[&str]) -> (i32, serde_json::Value, String) {
    run_json("drift-spectrum", "spectrum.dsym", FILE, args)
}

/// 20-point Gauss-Legendre on [-1, 1], by Newton on the Legendre recurrence.
fn gauss20() -> Vec<(f64, f64)> {
    let n = 20;
    (0..n)
        .map(|i| {
            let mut x = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            loop {
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=n {
                    let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                    p0 = p1;
                    p1 = p2;
                }
                let dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                let dx = p1 / dp;
                x -= dx;
                if dx.abs() < 1e-15 {
                    let (mut q0, mut q1) = (1.0, x);
                    for k in 2..=n {
                        let q2 = ((2 * k - 1) as f64 * x * q1 - (k - 1) as f64 * q0) / k as f64;
                        q0 = q1;
                        q1 = q2;
                    }
                    let dp = n as f64 * (x * q1 - q0) / (x * x - 1.0);
                    return (x, 2.0 / ((1.0 - x * x) * dp * dp));
                }
            }
        })
        .collect()
}

/// int_0^len f on equal panels of width at most `width`.
fn integral(f: &dyn Fn(f64) -> f64, len: f64, width: f64) -> f64 {
    let g = gauss20();
    let panels = (len / width).ceil() as usize;
    let w = len / panels as f64;
    let mut s = 0.0;
    for p in 0..panels {
        let mid = (p as f64 + 0.5) * w;
        for &(x, wt) in &g {
            s += wt * w / 2.0 * f(mid + w / 2.0 * x);
        }
    }
    s
}

/// J0(x) = (1/(2 pi)) int_0^{2 pi} cos(x sin t) dt by the trapezoid rule, exponentially
/// accurate for a periodic analytic integrand once the nodes outnumber x enough.
fn j0(x: f64) -> f64 {
    let n = (1.3 * x + 40.0) as usize;
    (0..n)
        .map(|i| (x * (2.0 * PI * i as f64 / n as f64).sin()).cos())
        .sum::<f64>()
        / n as f64
}

/// gamma(xi) = xi^2 Phi_hat(xi)/Z from the definitions: Z = int k over R^d and the d-D
/// Fourier transform of the radial Phi, both by quadrature on [0, len].
fn reference(k: &dyn Fn(f64) -> f64, phi: &dyn Fn(f64) -> f64, d: usize, xi: f64, len: f64) -> f64 {
    let width = (PI / (4.0 * xi)).min(0.05);
    let (z, phi_hat) = match d {
        1 => (
            2.0 * integral(k, len, width),
            2.0 * integral(&|r| phi(r) * (xi * r).cos(), len, width),
        ),
        2 => (
            2.0 * PI * integral(&|r| k(r) * r, len, width),
            2.0 * PI * integral(&|r| phi(r) * j0(xi * r) * r, len, width),
        ),
        _ => (
            4.0 * PI * integral(&|r| k(r) * r * r, len, width),
            4.0 * PI * integral(&|r| phi(r) * (xi * r).sin() / (xi * r) * r * r, len, width),
        ),
    };
    xi * xi * phi_hat / z
}

/// (k, Phi, integration length) of the file's kernels; Phi in closed form, itself checked
/// below against quadrature of int_r^inf s k(s) ds.
type Pair = (Box<dyn Fn(f64) -> f64>, Box<dyn Fn(f64) -> f64>, f64);

fn kernels() -> Vec<(&'static str, Pair)> {
    let h = 0.7f64;
    let tau = 0.7f64;
    vec![
        (
            "G",
            (
                Box::new(move |r: f64| (-r * r / (2.0 * h * h)).exp()),
                Box::new(move |r: f64| h * h * (-r * r / (2.0 * h * h)).exp()),
                12.0,
            ),
        ),
        (
            "L",
            (
                Box::new(move |r: f64| (-r / tau).exp()),
                Box::new(move |r: f64| tau * (r + tau) * (-r / tau).exp()),
                45.0,
            ),
        ),
        (
            "M",
            (
                Box::new(|r: f64| (1.0 + r) * (-r).exp()),
                Box::new(|r: f64| (r * r + 3.0 * r + 3.0) * (-r).exp()),
                60.0,
            ),
        ),
    ]
}

#[test]
fn drift_spectrum_phi_is_the_tail_integral_of_s_k() {
    for (name, (k, phi, len)) in kernels() {
        for r in [0.0, 0.3, 1.7] {
            let tail = integral(&|s| (r + s) * k(r + s), len, 0.05);
            assert!(
                (tail - phi(r)).abs() < 1e-13,
                "{name} at {r}: {tail} vs {}",
                phi(r)
            );
        }
    }
}

#[test]
fn drift_spectrum_matches_the_fourier_transform_of_phi_in_d_1_2_3() {
    let xis = [0.4, 1.3, 3.0];
    let list = "0.4,1.3,3";
    for d in 1..=3 {
        for (name, (k, phi, len)) in kernels() {
            let (code, v, err) = spectrum(&[
                "--kernel",
                name,
                "--xi",
                list,
                "--dimension",
                &d.to_string(),
            ]);
            assert_eq!(code, 0, "{err}");
            let got = floats(&v["gamma"]);
            let method = v["method"].as_str().unwrap();
            assert_eq!(
                method,
                if name == "M" {
                    "quadrature"
                } else {
                    "closed form"
                }
            );
            for (k_xi, &xi) in xis.iter().enumerate() {
                let want = reference(&*k, &*phi, d, xi, len);
                let tol = 1e-11 + 1e-10 * want.abs();
                assert!(
                    (got[k_xi] - want).abs() < tol,
                    "{name}, d = {d}, xi = {xi}: {} vs {want}",
                    got[k_xi]
                );
                if name == "M" {
                    let e = floats(&v["gamma_error"])[k_xi];
                    assert!(e < 1e-12, "error estimate {e}");
                }
            }
            let ts: Vec<Option<f64>> = v["timescale"]
                .as_array()
                .unwrap()
                .iter()
                .map(serde_json::Value::as_f64)
                .collect();
            for (g, t) in got.iter().zip(ts) {
                assert!((t.expect("a decaying mode") * g - 1.0).abs() < 1e-15);
            }
        }
    }
}

#[test]
fn drift_spectrum_laplace_closed_form_in_higher_dimensions() {
    // The formula is checked against the transform in d = 1, 2, 3 above; in d = 7 its value
    // 8 u (1 + u)^-5 (u = tau^2 xi^2) and its maximum, at xi* = sqrt(2/(d + 1))/tau with
    // gamma = 2((d + 1)/(d + 3))^((d + 3)/2) = 2 (4/5)^5, found by calculus.
    let (code, v, err) = spectrum(&["--kernel", "L", "--xi", "1", "--dimension", "7"]);
    assert_eq!(code, 0, "{err}");
    let tau = 0.7f64;
    let u = tau * tau;
    let want = 8.0 * u * (1.0 + u).powf(-5.0);
    assert!((floats(&v["gamma"])[0] - want).abs() < 1e-15);
    let peak = &v["peak"];
    assert!((peak["xi"].as_f64().unwrap() - 0.5 / tau).abs() < 1e-15);
    assert!((peak["gamma"].as_f64().unwrap() - 2.0 * 0.8f64.powi(5)).abs() < 1e-15);
}

#[test]
fn drift_spectrum_gaussian_peak_is_two_over_e() {
    let h = 0.7f64;
    let (code, v, err) = spectrum(&["--kernel", "G", "--xi", "1", "--dimension", "2"]);
    assert_eq!(code, 0, "{err}");
    let peak = &v["peak"];
    assert!((peak["xi"].as_f64().unwrap() - 2f64.sqrt() / h).abs() < 1e-15);
    assert!((peak["gamma"].as_f64().unwrap() - 2.0 / E).abs() < 1e-16);
    // No frequency on a fine scan does better, and the scan gets within 1e-6 of it.
    let xis: Vec<String> = (1..=400).map(|i| format!("{}", i as f64 * 0.01)).collect();
    let (code, v, _) = spectrum(&["--kernel", "G", "--xi", &xis.join(","), "--dimension", "2"]);
    assert_eq!(code, 0);
    let g = floats(&v["gamma"]);
    let best = g.iter().cloned().fold(0.0, f64::max);
    assert!(best <= 2.0 / E && best > 2.0 / E - 1e-4);
}

/// int_0^T gamma(xi; h0 e^{-r t}) dt by composite Simpson, with gamma typed from the
/// closed forms of the definitions (checked against the transform above).
fn annealed_reference(family: &str, d: usize, h0: f64, r: f64, t_end: f64, xi: f64) -> f64 {
    let gamma = |h: f64| {
        let u = h * h * xi * xi;
        match family {
            "G" => u * (-u / 2.0).exp(),
            _ => (d + 1) as f64 * u * (1.0 + u).powf(-((d + 3) as f64) / 2.0),
        }
    };
    let n = 20_000;
    let step = t_end / n as f64;
    let mut s = gamma(h0) + gamma(h0 * (-r * t_end).exp());
    for i in 1..n {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        s += w * gamma(h0 * (-r * i as f64 * step).exp());
    }
    s * step / 3.0
}

#[test]
fn drift_spectrum_annealing_matches_quadrature_over_time() {
    let (h0, r, t_end): (f64, f64, f64) = (1.5, 0.8, 3.0);
    let xis = [0.1, 1.0, 2.5, 8.0];
    for name in ["G", "L"] {
        for d in [1, 3] {
            let (code, v, err) = spectrum(&[
                "--kernel",
                name,
                "--xi",
                "0.1,1,2.5,8",
                "--dimension",
                &d.to_string(),
                "--anneal",
                "1.5,0.8,3",
            ]);
            assert_eq!(code, 0, "{err}");
            let acc = &v["accumulated"];
            let annealed = floats(&acc["annealed"]);
            let fixed = floats(&acc["fixed"]);
            let h_t = acc["h_T"].as_f64().unwrap();
            assert!((h_t - h0 * (-r * t_end).exp()).abs() < 1e-15);
            for (k, &xi) in xis.iter().enumerate() {
                let want = annealed_reference(name, d, h0, r, t_end, xi);
                assert!(
                    (annealed[k] - want).abs() < 1e-12 * (1.0 + want),
                    "{name} d = {d} xi = {xi}: {} vs {want}",
                    annealed[k]
                );
                let g0 = annealed_reference(name, d, h0, 0.0, t_end, xi);
                assert!((fixed[k] - g0).abs() < 1e-12 * (1.0 + g0));
            }
        }
    }
    // Annealing damps the highest frequency far more than the fixed starting bandwidth.
    let (_, v, _) = spectrum(&[
        "--kernel",
        "G",
        "--xi",
        "8",
        "--dimension",
        "1",
        "--anneal",
        "1.5,0.8,3",
    ]);
    let acc = &v["accumulated"];
    assert!(floats(&acc["annealed"])[0] > 1e3 * floats(&acc["fixed"])[0]);
}

#[test]
fn drift_spectrum_text_output() {
    let f = scratch_file("spectrum.dsym", FILE);
    let (code, out, err) = run(&[
        "drift-spectrum",
        &f,
        "--kernel",
        "L",
        "--xi",
        "0,1",
        "--dimension",
        "2",
        "--anneal",
        "0.7,0.5,4",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(d + 1) tau^2 xi^2 (1 + tau^2 xi^2)^(-(d + 3)/2) (closed form)"));
    assert!(out.contains("annealing tau(t) = 0.7 exp(-0.5 t) on [0, 4]"));
    assert!(!out.contains("inf") && !out.contains("NaN"));
}

#[test]
fn drift_spectrum_refuses_bad_input() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--kernel", "G", "--xi", "-1", "--dimension", "1"],
            "frequency -1",
        ),
        (
            &["--kernel", "G", "--xi", "nan", "--dimension", "1"],
            "frequency NaN",
        ),
        (
            &["--kernel", "G", "--xi", "inf", "--dimension", "1"],
            "frequency inf",
        ),
        (
            &["--kernel", "G", "--xi", "1,x", "--dimension", "1"],
            "`x` is not a number",
        ),
        (
            &["--kernel", "G", "--xi", "1", "--dimension", "0"],
            "dimension 0",
        ),
        (
            &["--kernel", "L", "--xi", "1", "--dimension", "1001"],
            "dimension 1001",
        ),
        (
            &["--kernel", "M", "--xi", "1", "--dimension", "4"],
            "dimension 4 is outside 1..=3",
        ),
        (
            &[
                "--kernel",
                "G",
                "--xi",
                "1",
                "--dimension",
                "1",
                "--anneal",
                "1,0,1",
            ],
            "rate r = 0",
        ),
        (
            &[
                "--kernel",
                "G",
                "--xi",
                "1",
                "--dimension",
                "1",
                "--anneal",
                "1,1,-2",
            ],
            "duration T = -2",
        ),
        (
            &[
                "--kernel",
                "G",
                "--xi",
                "1",
                "--dimension",
                "1",
                "--anneal",
                "0,1,1",
            ],
            "h0 = 0",
        ),
        (
            &[
                "--kernel",
                "G",
                "--xi",
                "1",
                "--dimension",
                "1",
                "--anneal",
                "1,1",
            ],
            "three numbers",
        ),
        (
            &[
                "--kernel",
                "M",
                "--xi",
                "1",
                "--dimension",
                "1",
                "--anneal",
                "1,1,1",
            ],
            "no bandwidth",
        ),
        (
            &["--kernel", "S", "--xi", "1", "--dimension", "1"],
            "does not converge",
        ),
        (
            &["--kernel", "T", "--xi", "1", "--dimension", "1"],
            "must be finite",
        ),
        (
            &["--kernel", "Q", "--xi", "1", "--dimension", "1"],
            "no kernel named `Q`",
        ),
    ];
    for (args, message) in cases {
        let (code, _, err) = spectrum(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            err.contains("diffsym::analysis::spectrum"),
            "{args:?}: {err}"
        );
        assert!(err.contains(message), "{args:?}: {err}");
    }
    let many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
    let (code, _, err) = spectrum(&["--kernel", "M", "--xi", &many.join(","), "--dimension", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("at most 64"), "{err}");
}
