//! Named integrals (issue 14): integrals with no closed form, kept as `integrate(f(s), s, c,
//! u)`, differentiated exactly and evaluated by certified quadrature. Reference values:
//! scripts/named_integrals.py (mpmath at 50 digits).

use crate::support::{number, redact, run, scratch_file};

const PROCESSES: &str = "\
process erfbeta {
    beta(t) = 0.1 + 19.9*exp(-t^2);
    assert alpha'(t) == -beta(t)/2*alpha(t);
    assert g2(t) == beta(t);
    assert diff(integrate(exp(-s^2), s, 0, t), t) == exp(-t^2);
}
process sqrtbeta {
    beta(t) = sqrt(1 + t^3);
}
process mixed {
    beta(t) = 1 + t*exp(t^2)/(1 + t);
}
process direct {
    alpha(t) = exp(-integrate(exp(-s^2), s, 0, t));
    sigma(t) = sqrt(1 - alpha(t)^2);
}
";

/// alpha(7/10) of each process, to 30 significant digits.
const ALPHA_07: [(&str, &str); 4] = [
    ("erfbeta", "0.00244961992913880940354714330485"),
    ("sqrtbeta", "0.694650109089225552295146657373"),
    ("mixed", "0.632849913755458806614304247158"),
    ("direct", "0.548435462451586083306227870502"),
];

#[test]
fn eval_matches_mpmath_to_the_printed_digits() {
    let f = scratch_file("named.dsym", PROCESSES);
    for (process, want) in ALPHA_07 {
        let (code, out, err) = run(&[
            "eval",
            &f,
            "--process",
            process,
            "alpha",
            "--t",
            "0.7",
            "--digits",
            "30",
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), want, "{process}");
        let (code, out, err) = run(&["eval", &f, "--process", process, "alpha", "--t", "0.7"]);
        assert_eq!(code, 0, "{err}");
        // The certified f64: the reference rounded to nearest.
        let want: f64 = want.parse().expect("a number");
        assert_eq!(number(&out), want, "{process}");
    }
}

#[test]
fn derive_prints_the_integral_in_text_and_latex() {
    let f = scratch_file("named.dsym", PROCESSES);
    let (code, out, err) = run(&["derive", &f, "--process", "direct"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("alpha(t) = exp(-integrate(exp(-s^2), s, 0, t))"),
        "{out}"
    );
    // The derivative is the integrand at t (the fundamental theorem): f = alpha'/alpha.
    assert!(out.contains("f(t) = -exp(-t^2)"), "{out}");
    let (code, out, err) = run(&["derive", &f, "--process", "direct", "--format", "latex"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("\\int_{0}^{t} \\exp\\left(-s^{2}\\right)\\,\\mathrm{d}s"),
        "{out}"
    );
}

#[test]
fn check_proves_identities_through_the_fundamental_theorem() {
    let f = scratch_file("named.dsym", PROCESSES);
    let (code, out, err) = run(&["check", &f, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let asserts: Vec<&serde_json::Value> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["kind"] == "assert")
        .collect();
    assert_eq!(asserts.len(), 3);
    for a in asserts {
        assert_eq!(a["status"], "proved", "{a}");
    }
}

#[test]
fn a_false_identity_fails_on_certified_values() {
    // The two sides differ by 10^-30: far below f64, far above the checks' tolerance.
    let f = scratch_file(
        "false.dsym",
        "process p {\n    beta(t) = 0.1 + 19.9*exp(-t^2);\n    assert integrate(exp(-s^2), s, 0, t) == integrate(exp(-s^2), s, 0, t) + 1e-30;\n}\n",
    );
    let (code, out, err) = run(&["check", &f]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAILED at t = "), "{out}");
}

#[test]
fn emit_refuses_a_named_integral_and_says_what_to_do() {
    let f = scratch_file("named.dsym", PROCESSES);
    let out_dir = scratch_file("out", "");
    for (process, line, label) in [
        (
            "erfbeta",
            ":1:9",
            "alpha = exp(-1/2 int_0^t beta) has no closed form",
        ),
        (
            "direct",
            ":13:9",
            "a named integral, evaluated by quadrature",
        ),
    ] {
        let (code, out, err) = run(&["emit", &f, "--process", process, "--out", &out_dir]);
        assert_eq!(code, 2, "{out}");
        assert!(out.is_empty());
        let err = redact(&err, &f);
        assert!(err.contains("diffsym::emit::integral"), "{err}");
        assert!(err.contains(&format!("[tmp]/named.dsym{line}")), "{err}");
        assert!(err.contains(label), "{err}");
        assert!(
            err.contains("help: give `alpha(t)` and `sigma(t)` in closed form"),
            "{err}"
        );
    }
}

#[test]
fn bad_integrands_are_located_errors() {
    for (text, message) in [
        // A pole inside the interval.
        (
            "process p {\n    alpha(t) = exp(-integrate(exp(s)/(s - 0.5), s, 0, t));\n    sigma(t) = sqrt(1 - alpha(t)^2);\n}\n",
            "cannot show the integrand is finite",
        ),
        (
            "process p {\n    beta(t) = exp(t)/(t - 0.5);\n}\n",
            "cannot show the integrand is finite",
        ),
        // Bounded, but no derivative is bounded at 0: quadrature cannot certify it.
        (
            "process p {\n    alpha(t) = exp(-integrate(sqrt(s)*exp(-s^2), s, 0, t));\n    sigma(t) = sqrt(1 - alpha(t)^2);\n}\n",
            "quadrature cannot evaluate",
        ),
        (
            "process p {\n    beta(t) = 1 + sqrt(t)*exp(-t^2);\n}\n",
            "quadrature cannot evaluate",
        ),
    ] {
        let f = scratch_file("bad.dsym", text);
        let started = std::time::Instant::now();
        let (code, out, err) = run(&["eval", &f, "alpha", "--t", "0.5"]);
        assert_eq!(code, 2, "{text}: {out}");
        assert!(out.is_empty());
        assert!(err.contains(message), "{text}: {err}");
        assert!(err.contains("bad.dsym:2:"), "{err}");
        assert!(err.contains('^'), "{err}");
        assert!(started.elapsed().as_secs() < 30, "{text}");
    }
}

#[test]
fn deep_and_long_integrands_end_in_a_diagnostic_within_seconds() {
    let mut nested = "exp(-s0^2)".to_owned();
    for k in 1..=8 {
        nested = format!("integrate({nested}, s{}, 0, s{k})", k - 1);
    }
    let nested = nested.replace("s8)", "t)");
    let long: Vec<String> = (1..=120)
        .map(|k| format!("exp(-{k}*t^2)*sin({k}*t)/{k}"))
        .collect();
    for text in [
        format!(
            "process p {{\n    alpha(t) = exp(-{nested});\n    sigma(t) = sqrt(1 - alpha(t)^2);\n}}\n"
        ),
        format!(
            "process p {{\n    beta(t) = 2 + {};\n}}\n",
            long.join(" + ")
        ),
    ] {
        let f = scratch_file("deep.dsym", &text);
        let started = std::time::Instant::now();
        let (code, _, err) = run(&["eval", &f, "alpha", "--t", "0.5"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("quadrature cannot evaluate"), "{err}");
        assert!(started.elapsed().as_secs() < 60);
    }
}

#[test]
fn two_nested_integrals_evaluate_to_the_reference() {
    let f = scratch_file(
        "nested.dsym",
        "process nested {\n    alpha(t) = exp(-integrate(integrate(exp(-r^2), r, 0, s)^2, s, 0, t));\n    sigma(t) = sqrt(1 - alpha(t)^2);\n}\n",
    );
    let (code, out, err) = run(&["eval", &f, "alpha", "--t", "0.9", "--digits", "25"]);
    assert_eq!(code, 0, "{err}");
    // exp(-int_0^(9/10) (sqrt(pi)/2 erf(s))^2 ds), mpmath.
    assert_eq!(out.trim(), "0.8340586856685250093105401");
}

#[test]
fn analyses_run_on_a_named_integral() {
    let f = scratch_file(
        "kl.dsym",
        format!("{PROCESSES}source S = gaussian(spectrum = [1, 0.5, 0.1], mean = [0, 0, 0]);\n"),
    );
    let (code, out, err) = run(&[
        "kl",
        &f,
        "--process",
        "sqrtbeta",
        "--source",
        "S",
        "--sampler",
        "ddim",
        "--steps",
        "10",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("      10 "), "{out}");
}
