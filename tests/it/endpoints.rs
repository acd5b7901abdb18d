//! Issue 10: every number `eval` prints is right at the ends of [0, 1], at removable
//! singularities and at extreme times, or `eval` says why not. Expected values are closed
//! forms or mpmath at 60 digits of the defining formulas (quoted in the comments).

use crate::support::{number, run, scratch_file};

const EDGE: &str = "\
process sinc {
    k(t) = sin(t)/t;
    m(t) = t/(1 - exp(-t^2));
    alpha(t) = 1 - t;
    sigma(t) = t;
}
process nested {
    alpha(t) = 1/(1 + atan(t));
    sigma(t) = sqrt(log(1 + t/9));
}
process shifted_cosine {
    log_snr(t) = -2*log(tan(pi*t/2)) + 2*log(1/2);
}
process gauss {
    alpha_bar(t) = exp(-12*t^2);
}
process lin {
    beta(t) = 1/10 + 199*t/10;
}
process sd3 {
    param s = 3;
    alpha(t) = 1 - s*t/(1 + (s - 1)*t);
    sigma(t) = s*t/(1 + (s - 1)*t);
}
process sigmoid_vp {
    log_snr(t) = 10 - 20*t;
}
process big {
    k(t) = exp(1000 + t);
    alpha(t) = 1 - t;
    sigma(t) = t;
}
";

fn edge() -> String {
    scratch_file("edge.dsym", EDGE)
}

/// `eval FILE --process P ARGS...`: (exit code, stdout, stderr).
fn eval(file: &str, process: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["eval", file, "--process", process];
    all.extend(args);
    run(&all)
}

fn value(file: &str, process: &str, args: &[&str]) -> f64 {
    let (code, out, err) = eval(file, process, args);
    assert_eq!(code, 0, "eval {process} {args:?}: {err}");
    number(&out)
}

fn refused(file: &str, process: &str, args: &[&str]) -> String {
    let (code, out, err) = eval(file, process, args);
    assert_eq!(code, 2, "eval {process} {args:?} printed {out}");
    assert!(out.is_empty(), "partial output: {out}");
    err
}

#[test]
fn removable_singularities_print_their_limit() {
    let f = edge();
    // sin(t)/t -> 1.
    assert_eq!(value(&f, "sinc", &["k", "--t", "0"]), 1.0);
    // sigma^2 = log(1 + t/9): g2(0) = (sigma^2)'(0) = 1/9, g(0) = 1/3.
    assert_eq!(value(&f, "nested", &["g2", "--t", "0"]), 1.0 / 9.0);
    assert_eq!(value(&f, "nested", &["g", "--t", "0"]), 1.0 / 3.0);
    // mpmath: g2(1e-12) = 0.11111111111132099.
    assert_eq!(
        value(&f, "nested", &["g2", "--t", "1e-12"]),
        0.11111111111132099
    );
}

#[test]
fn finite_limits_at_the_ends_are_printed() {
    let f = edge();
    // alpha^2 = 1/(1 + 4 tan^2(pi t/2)): alpha(1) = 0, sigma(0) = 0, alpha(0) = 1.
    assert_eq!(value(&f, "shifted_cosine", &["sigma", "--t", "0"]), 0.0);
    assert_eq!(value(&f, "shifted_cosine", &["alpha", "--t", "1"]), 0.0);
    assert_eq!(value(&f, "shifted_cosine", &["alpha_bar", "--t", "1"]), 0.0);
    assert_eq!(value(&f, "shifted_cosine", &["alpha", "--t", "0"]), 1.0);
    assert_eq!(
        value(
            "derivations/tangent.dsym",
            "tangent",
            &["alpha", "--t", "1"]
        ),
        0.0
    );
    // The final denoising step to t_next = 0: x/alpha - sigma/alpha eps at t = 0.1, with
    // alpha(0.1) = 1/sqrt(1 + 4 tan^2(pi/20)).
    let a = 1.0 / (1.0 + 4.0 * (std::f64::consts::PI / 20.0).tan().powi(2)).sqrt();
    let s = (1.0 - a * a).sqrt();
    let step = value(
        &f,
        "shifted_cosine",
        &[
            "ddim_step",
            "--t",
            "0.1",
            "--t-next",
            "0",
            "--x",
            "0.3",
            "--eps",
            "0.2",
        ],
    );
    assert!((step - (0.3 - 0.2 * s) / a).abs() < 1e-15, "{step}");
}

#[test]
fn infinite_limits_are_refused_and_named() {
    let f = edge();
    let err = refused(&f, "sinc", &["m", "--t", "0"]);
    assert!(err.contains("tends to +inf as t -> 0"), "{err}");
    // f = alpha'/alpha ~ -1/(1 - t) near t = 1.
    let err = refused(&f, "shifted_cosine", &["f", "--t", "1"]);
    assert!(err.contains("tends to -inf as t -> 1"), "{err}");
    // lambda = log(alpha/sigma) with sigma^2 ~ 12 t^2: lambda ~ -log t, dlambda ~ -1/t.
    let err = refused(&f, "gauss", &["dlambda", "--t", "0"]);
    assert!(err.contains("tends to -inf as t -> 0"), "{err}");
    let err = refused(&f, "sinc", &["snr", "--t", "0"]);
    assert!(err.contains("tends to +inf"), "{err}");
}

#[test]
fn tiny_times_keep_every_digit() {
    let f = edge();
    // mpmath, sqrt(-expm1(-B)) with B = t/10 + 199 t^2/20.
    for (t, want) in [
        ("1e-80", 3.162277660168379e-41),
        ("1e-50", 3.162277660168379e-26),
        ("1e-300", 3.162277660168379e-151),
        ("1e-12", 3.1622776603256234e-07),
        ("1e-6", 0.0003162434900500011),
    ] {
        assert_eq!(value(&f, "lin", &["sigma", "--t", t]), want, "t = {t}");
    }
    // --digits agrees with the f64 value to the digits both carry.
    let (_, digits, _) = eval(&f, "lin", &["sigma", "--t", "1e-50", "--digits", "25"]);
    assert!(digits.starts_with("3.16227766016837933"), "{digits}");
}

#[test]
fn values_outside_f64_are_errors_that_suggest_digits() {
    let f = edge();
    // snr = (1 - t)^2/(9 t^2) = 1.1111e599 at t = 1e-300.
    let err = refused(&f, "sd3", &["snr", "--t", "1e-300"]);
    assert!(
        err.contains("1.11e599") && err.contains("--digits"),
        "{err}"
    );
    let err = refused(&f, "big", &["k", "--t", "0"]);
    assert!(err.contains("outside the range of f64"), "{err}");
    // mpmath: exp(1000) = 1.9701e434.
    let (code, out, _) = eval(&f, "big", &["k", "--t", "0", "--digits", "5"]);
    assert_eq!((code, out.trim()), (0, "1.9701e434"));
}

/// Below the normal range of f64 is outside it too: `exp(-1500)` rounds to 0 and
/// `exp(-720)` to a subnormal that keeps fewer digits than it prints; an exact 0 prints
/// as 0. Values from mpmath: exp(-1500) = 3.6164e-652, exp(-720) = 2.0322e-313.
#[test]
fn values_below_the_normal_f64_range_are_errors_that_suggest_digits() {
    let f = scratch_file(
        "tiny.dsym",
        "process tiny {\n    k(t) = exp(-1500 - t);\n    m(t) = exp(-700 - 40*t);\n    z(t) = sin(pi*t);\n    alpha(t) = 1 - t;\n    sigma(t) = t;\n}\n",
    );
    for (args, about) in [
        (["k", "--t", "0"], "3.62e-652"),
        (["m", "--t", "0.5"], "2.03e-313"),
    ] {
        let err = refused(&f, "tiny", &args);
        assert!(
            err.contains(about)
                && err.contains("outside the range of f64")
                && err.contains("--digits"),
            "{err}"
        );
    }
    let (code, out, _) = eval(&f, "tiny", &["k", "--t", "0", "--digits", "5"]);
    assert_eq!((code, out.trim()), (0, "3.6164e-652"));
    assert_eq!(value(&f, "tiny", &["z", "--t", "1"]), 0.0);
    assert_eq!(value(&f, "tiny", &["sigma", "--t", "0"]), 0.0);
}

#[test]
fn variance_preserving_shorthands_allow_v_prediction() {
    let f = edge();
    // log_snr = 0 at t = 1/2: alpha = sigma = 1/sqrt 2, f = -5, g2 = 10;
    // eps_hat = sigma x + alpha v, pf = f x + g2/(2 sigma) eps_hat = -1.5 + 2.5 = 1.
    let v = value(
        &f,
        "sigmoid_vp",
        &["pf_velocity", "--t", "0.5", "--x", "0.3", "--v", "0.2"],
    );
    assert!((v - 1.0).abs() < 1e-15, "{v}");
    let (code, _, err) = run(&[
        "eval",
        "derivations/cosine_nichol.dsym",
        "pf_velocity",
        "--t",
        "0.5",
        "--x",
        "0.3",
        "--v",
        "0.2",
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn invalid_processes_are_refused_naming_the_override() {
    let vp = "derivations/vp_linear.dsym";
    for args in [
        vec!["eval", vp, "alpha", "--t", "0.5", "--param", "beta_max=-20"],
        vec!["derive", vp, "--param", "beta_max=-20"],
        vec!["check", vp, "--param", "beta_max=-20"],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(err.contains("--param beta_max=-20"), "{args:?}: {err}");
        assert!(err.contains("vp_linear.dsym:2:9"), "{args:?}: {err}");
    }
    let f = edge();
    let src = scratch_file("s.dsym", "source S = gaussian(spectrum = [1, 0.5]);\n");
    let (code, _, err) = eval(&f, "sd3", &["sigma", "--t", "0.5", "--param", "s=0"]);
    assert_eq!(code, 2);
    assert!(err.contains("sigma(1) = 0") && err.contains("s=0"), "{err}");
    for bad in ["beta_max=-20", "beta_max=1e400"] {
        let (code, out, err) = run(&[
            "kl",
            &src,
            "--process",
            "vp_linear",
            "--source",
            "S",
            "--sampler",
            "ddim",
            "--steps",
            "10",
            "--param",
            bad,
        ]);
        assert_eq!(code, 2, "{bad}: {out}");
        assert!(err.contains(bad), "{bad}: {err}");
    }
}

#[test]
fn numeric_checks_account_for_the_references_own_error() {
    // alpha = exp(-(sum_{k=1}^{100} k/(k+1) t^k)): Fokker-Planck's sides cancel to about
    // 1e-36 near t = 1, far below the terms; 256 bits alone called them different.
    let terms: Vec<String> = (1..=100).map(|k| format!("{k}/{}*t^{k}", k + 1)).collect();
    let text = format!(
        "process poly100 {{\n    alpha(t) = exp(-({}));\n    sigma(t) = sqrt(1 - alpha(t)^2);\n}}\n",
        terms.join(" + ")
    );
    let f = scratch_file("poly100.dsym", text);
    let (code, out, err) = run(&["check", &f]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Fokker-Planck for a Gaussian source  checked"),
        "{out}"
    );
    // A difference of 1e-30 relative is still a failure.
    let f = scratch_file(
        "near.dsym",
        "process near {\n    alpha(t) = 1 - t;\n    sigma(t) = t;\n    assert alpha(t) == (1 - t)*(1 + exp(-69));\n}\n",
    );
    let (code, out, _) = run(&["check", &f]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED"), "{out}");
}

#[test]
fn limits_to_many_digits_are_bounded() {
    // tangent's alpha(1) = 0 as a limit: to 2000 digits it is computed, beyond that it is
    // refused (a limit costs eight evaluations at that precision), at once.
    let tangent = "derivations/tangent.dsym";
    let (code, out, err) = run(&["eval", tangent, "alpha", "--t", "1", "--digits", "2000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().chars().all(|c| c == '0' || c == '.'), "{out}");
    let (code, out, err) = run(&["eval", tangent, "alpha", "--t", "1", "--digits", "2001"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("at most 2000 digits"), "{err}");
    // A defined value still gets all of them: alpha(1/2) = sqrt(2/3) for lambda0 = 1/2
    // (mpmath: 0.81649658092772603273242802490196379732...).
    let (code, out, _) = run(&["eval", tangent, "alpha", "--t", "1/2", "--digits", "5000"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("0.81649658092772603273242802490196"),
        "{out}"
    );
    assert_eq!(out.trim().len(), 5002);
}
