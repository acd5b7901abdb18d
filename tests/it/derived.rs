//! Derived quantities (docs/theory.md section 1) against closed forms evaluated independently, and
//! the shorthand forms of a process.

use crate::support::{number, run, scratch_file};

fn eval(file: &str, q: &str, t: &str) -> f64 {
    let (code, out, err) = run(&["eval", file, q, "--t", t]);
    assert_eq!(code, 0, "{file} {q}({t}): {err}");
    number(&out)
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    let rel = ((got - want) / want).abs();
    assert!(
        rel <= tol,
        "{what}: got {got}, want {want} (relative error {rel:e})"
    );
}

#[test]
fn catalogue_values_of_f_and_g2() {
    use std::f64::consts::PI;
    // vp_linear: beta(t) = 0.1 + 19.9 t, f = -beta/2, g2 = beta.
    let beta = |t: f64| 0.1 + 19.9 * t;
    for t in ["0.1", "0.3", "0.9"] {
        let tv: f64 = t.parse().unwrap();
        assert_close(
            eval("derivations/vp_linear.dsym", "g2", t),
            beta(tv),
            4.5e-16,
            "vp_linear g2",
        );
        assert_close(
            eval("derivations/vp_linear.dsym", "f", t),
            -beta(tv) / 2.0,
            4.5e-16,
            "vp_linear f",
        );
    }
    // cosine: g2 = pi tan(pi t/2); at t = 1/4, tan(pi/8) = sqrt(2) - 1.
    assert_close(
        eval("derivations/cosine.dsym", "g2", "1/4"),
        PI * (2f64.sqrt() - 1.0),
        1e-15,
        "cosine g2",
    );
    // rectified flow: g2 = 2t/(1 - t), f = -1/(1 - t).
    assert_close(
        eval("derivations/rectified_flow.dsym", "g2", "0.5"),
        2.0,
        2.3e-16,
        "rf g2",
    );
    assert_close(
        eval("derivations/rectified_flow.dsym", "f", "0.75"),
        -4.0,
        2.3e-16,
        "rf f",
    );
    // ve: g2 = 2 sigma^2 log(s_max/s_min), sigma = 0.01 * 5000^t.
    let s = 0.01 * 5000f64.powf(0.5);
    assert_close(
        eval("derivations/ve.dsym", "g2", "0.5"),
        2.0 * s * s * 5000f64.ln(),
        1e-15,
        "ve g2",
    );
    // edm: g2 = 2t.
    assert_close(
        eval("derivations/edm.dsym", "g2", "0.3"),
        0.6,
        2.3e-16,
        "edm g2",
    );
    // sub_vp: g2 = beta (1 - exp(-2B)), B = 0.1 t + 9.95 t^2.
    let b: f64 = 0.1 * 0.4 + 9.95 * 0.16;
    assert_close(
        eval("derivations/sub_vp.dsym", "g2", "0.4"),
        beta(0.4) * (1.0 - (-2.0 * b).exp()),
        1e-15,
        "sub_vp g2",
    );
    // lm_sqrt: g2 = 1/(2 (sqrt t - t)), f = 1/(4 (t - sqrt t)); at t = 1/4: 2 and -1.
    assert_close(
        eval("derivations/lm_sqrt.dsym", "g2", "1/4"),
        2.0,
        2.3e-16,
        "lm_sqrt g2",
    );
    assert_close(
        eval("derivations/lm_sqrt.dsym", "f", "1/4"),
        -1.0,
        2.3e-16,
        "lm_sqrt f",
    );
}

#[test]
fn log_snr_rho_and_lambda_agree_with_alpha_and_sigma() {
    // rectified flow at t = 0.2: alpha = 0.8, sigma = 0.2.
    let f = "derivations/rectified_flow.dsym";
    assert_close(eval(f, "snr", "0.2"), 16.0, 2.3e-16, "snr");
    assert_close(eval(f, "rho", "0.2"), 0.25, 2.3e-16, "rho");
    assert_close(eval(f, "lambda", "0.2"), 4f64.ln(), 2.3e-16, "lambda");
    assert_close(eval(f, "log_snr", "0.2"), 16f64.ln(), 2.3e-16, "log_snr");
    assert_close(eval(f, "alpha_bar", "0.2"), 0.64, 2.3e-16, "alpha_bar");
    // dlambda = d/dt log((1-t)/t) = -1/(1-t) - 1/t = -1.25 - 5
    assert_close(eval(f, "dlambda", "0.2"), -6.25, 2.3e-16, "dlambda");
}

fn derive_text(body: &str) -> (i32, String, String) {
    let f = scratch_file("p.dsym", format!("process p {{\n{body}}}\n"));
    run(&["derive", &f])
}

#[test]
fn processes_outside_the_library_reach_simple_forms() {
    // alpha = 1 - t^2, sigma = t: f = alpha'/alpha = -2t/(1 - t^2),
    // lambda = log((1 - t^2)/t), rho = t/(1 - t^2), and by docs/theory.md section 1
    // g2 = 2 sigma sigma' - 2 f sigma^2 = 2t (1 + t^2)/(1 - t^2).
    let (code, out, err) = derive_text("    alpha(t) = 1 - t^2;\n    sigma(t) = t;\n");
    assert_eq!(code, 0, "{err}");
    for line in [
        "    f(t) = -2*t/(1 - t^2)\n",
        "    lambda(t) = log((1 - t^2)/t)\n",
        "    rho(t) = t/(1 - t^2)\n",
        // eps parameterisation: alpha' x0 + sigma' eps with x0 = (x - t eps)/(1 - t^2).
        "    pf_velocity_eps(x, eps, t) = eps*(1 + t^2)/(1 - t^2) - 2*t*x/(1 - t^2)\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    let f = scratch_file(
        "quad.dsym",
        "process quad { alpha(t) = 1 - t^2; sigma(t) = t; }\n",
    );
    let g2 = |t: f64| 2.0 * t * (1.0 + t * t) / (1.0 - t * t);
    for t in ["0.25", "0.5", "0.75"] {
        let tv: f64 = t.parse().unwrap();
        assert_close(eval(&f, "g2", t), g2(tv), 2.3e-16, "quad g2");
    }
    // alpha_bar = exp(-k t^2), k = 3: beta = -d/dt log alpha_bar = 6t, so f = -3t, g2 = 6t.
    let (code, out, err) = derive_text("    param k = 3;\n    alpha_bar(t) = exp(-k*t^2);\n");
    assert_eq!(code, 0, "{err}");
    for line in [
        "    f(t) = -3*t\n",
        "    g2(t) = 6*t\n",
        "    pf_velocity_score(x, score, t) = -3*score*t - 3*t*x\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn shorthands_resolve_to_alpha_and_sigma() {
    // beta only: VP with alpha = exp(-1/2 int beta); beta = 2 gives alpha = exp(-t).
    let (code, out, err) = derive_text("    beta(t) = 2;\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("    alpha(t) = exp(-t)\n"), "{out}");
    assert!(out.contains("    g2(t) = 2\n"), "{out}");
    // log_snr only: VP with alpha^2 = sigmoid(log_snr); log_snr = 0 gives alpha_bar = 1/2.
    let (code, out, err) = derive_text("    log_snr(t) = 0;\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("    alpha_bar(t) = 1/2\n"), "{out}");
    // sigma only: VE, alpha = 1.
    let (code, out, _) = derive_text("    sigma(t) = 3*t;\n");
    assert_eq!(code, 0);
    assert!(
        out.contains("    alpha(t) = 1\n") && out.contains("    g2(t) = 18*t\n"),
        "{out}"
    );
}

#[test]
fn incomplete_or_ambiguous_processes_are_errors() {
    for (body, needle) in [
        ("    alpha(t) = 1 - t;\n", "gives `alpha` but not `sigma`"),
        (
            "    beta(s) = s;\n    gamma(t) = t;\n    delta(t) = beta(t);\n    zeta(t) = 1;\n    eta(t) = 2;\n    theta(t) = 3;\n    alpha_bar(t) = 1 - t;\n    log_snr(t) = t;\n",
            "over-determines",
        ),
        (
            "    gamma(t) = t;\n",
            "neither `alpha` and `sigma` nor a shorthand",
        ),
        (
            "    alpha(t) = 1 - t;\n    sigma(t) = t;\n    g2(t) = 2*t;\n",
            "`g2` is derived from alpha and sigma",
        ),
    ] {
        let (code, out, err) = derive_text(body);
        assert_eq!(code, 2, "{body}");
        assert!(out.is_empty());
        assert!(err.contains(needle), "{needle} not in\n{err}");
        assert!(err.contains("p.dsym:"), "{err}");
    }
}

#[test]
fn a_negative_g2_is_reported_with_where() {
    // VE with a shrinking sigma: g2 = d(sigma^2)/dt = -(2 - t)/2 < 0 on all of (0, 1).
    let f = scratch_file(
        "shrinking.dsym",
        "process p {\n    sigma(t) = 1 - t/2;\n}\n",
    );
    let (code, out, _) = run(&["check", &f]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("g2 >= 0 on (0, 1)  FAILED at t in [0.0009765625, 0.9990234375]"),
        "{out}"
    );
    assert!(
        out.contains("Fokker-Planck for a Gaussian source  proved"),
        "{out}"
    );
}
