//! The command-line contract: exit codes, formats, eval values against independent sources.

// Reference values are quoted with more digits than an f64 holds, as computed.
#![allow(clippy::excessive_precision)]

use crate::support::{number, run, scratch_file};

const VP: &str = "derivations/vp_linear.dsym";

/// Relative difference.
fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn derive_runs_on_the_bundled_library() {
    let (code, out, err) = run(&["derive"]);
    assert_eq!(code, 0, "{err}");
    for p in ["vp_linear", "cosine", "rectified_flow", "ve", "edm"] {
        assert!(
            out.contains(&format!("process {p} ")),
            "missing {p} in\n{out}"
        );
    }
}

#[test]
fn derive_is_byte_identical_across_runs() {
    let a = run(&["derive", "--format", "json"]);
    let b = run(&["derive", "--format", "json"]);
    assert_eq!(a, b);
}

#[test]
fn json_is_valid_and_complete() {
    let (code, out, _) = run(&["derive", VP, "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let p = &v["processes"][0];
    assert_eq!(p["name"], "vp_linear");
    let names: Vec<&str> = p["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["beta", "alpha", "sigma"]);
    assert!(
        p["definitions"][1]["latex"]
            .as_str()
            .unwrap()
            .contains("\\exp")
    );
}

#[test]
fn latex_is_a_document() {
    let (code, out, _) = run(&["derive", VP, "--format", "latex"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("\\documentclass"));
    assert!(out.trim_end().ends_with("\\end{document}"));
    assert!(out.contains("\\begin{align*}"));
}

#[test]
fn eval_matches_closed_forms() {
    // alpha(1/2) = exp(-B/2), B = b0 t + (b1 - b0) t^2 / 2 = 2.5375 (docs/theory.md section 1);
    // reference from Python's decimal module at 90 digits.
    let (code, out, err) = run(&["eval", VP, "--process", "vp_linear", "alpha", "--t", "0.5"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        rel(number(&out), 0.28118288079675237584537658) < 2.3e-16,
        "{out}"
    );
    // sigma(1/2) = sqrt(1 - exp(-B))
    let (_, out, _) = run(&["eval", VP, "--process", "vp_linear", "sigma", "--t", "1/2"]);
    assert!(
        rel(number(&out), 0.95965420206803624665755691) < 2.3e-16,
        "{out}"
    );
    // cosine alpha(1/3) = cos(pi/6) = sqrt(3)/2
    let (_, out, _) = run(&["eval", "derivations/cosine.dsym", "alpha", "--t", "1/3"]);
    assert!(
        rel(number(&out), 0.86602540378443864676372317) < 2.3e-16,
        "{out}"
    );
}

#[test]
fn eval_prints_seventeen_significant_digits() {
    let (_, out, _) = run(&["eval", VP, "alpha", "--t", "0.5"]);
    let digits = out.trim().trim_start_matches("0.").trim_start_matches('0');
    let digits: String = digits.chars().take_while(|c| c.is_ascii_digit()).collect();
    assert_eq!(digits.len(), 17, "{out}");
}

#[test]
fn high_precision_eval_prints_the_requested_digits() {
    // Python decimal, prec 90: exp(-2.5375/2)
    let (code, out, err) = run(&["eval", VP, "alpha", "--t", "0.5", "--digits", "50"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "0.28118288079675237584537657642835018298957350888388"
    );
    // 0.01 * 5000^(1/4)
    let (_, out, _) = run(&[
        "eval",
        "derivations/ve.dsym",
        "sigma",
        "--t",
        "0.25",
        "--digits",
        "40",
    ]);
    assert_eq!(out.trim(), "0.08408964152537145430311254762332148950400");
}

#[test]
fn high_precision_is_accurate_where_f64_formulas_cancel() {
    // sigma(1e-8) = sqrt(1 - exp(-B)): 1 - exp(-B) loses 8 digits in f64; the reference
    // evaluator must not.
    let (_, out, _) = run(&["eval", VP, "sigma", "--t", "1e-8", "--digits", "30"]);
    assert_eq!(out.trim(), "0.0000316227923261055332941720216632");
}

#[test]
fn param_overrides_change_the_result() {
    // beta_max = 10: alpha(1) = exp(-(0.1 + 9.9/2)/2) = exp(-2.525)
    let (code, out, err) = run(&["eval", VP, "alpha", "--t", "1", "--param", "beta_max=10"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        rel(number(&out), 0.080058312786720542078956598) < 2.3e-16,
        "{out}"
    );
    let (code, _, err) = run(&["derive", VP, "--param", "nope=1"]);
    assert_eq!(code, 2);
    assert!(err.contains("names no parameter"), "{err}");
}

#[test]
fn eval_rejects_bad_requests_with_exit_code_2() {
    for args in [
        vec!["eval", VP, "alpha", "--t", "1.5"],
        vec!["eval", VP, "nothing", "--t", "0.5"],
        vec!["eval", VP, "alpha", "--t", "abc"],
        vec!["eval", VP, "--process", "nope", "alpha", "--t", "0.5"],
        vec!["eval", VP, "alpha"],
        vec!["frobnicate"],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        assert!(!err.is_empty());
    }
}

#[test]
fn check_proves_the_bundled_library() {
    let (code, out, err) = run(&["check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("FAILED"), "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.ends_with(" 0 failed"), "{out}");
    for line in out.lines().filter(|l| l.contains(": assert ")) {
        assert!(line.ends_with("  proved"), "{line}");
    }
    // Every process gets the two built-in checks.
    let n = diffsym::library::BUNDLED.len();
    assert_eq!(out.matches("g2 >= 0 on (0, 1)").count(), n, "{out}");
    assert_eq!(
        out.matches("Fokker-Planck for a Gaussian source  ").count(),
        n,
        "{out}"
    );
}

#[test]
fn a_wrong_assert_fails_with_a_counterexample() {
    let f = scratch_file(
        "wrong.dsym",
        "process p {\n  alpha(t) = 1 - t;\n  sigma(t) = t;\n  assert alpha(t) + sigma(t) == 1;\n  assert alpha(t)*sigma(t) == t;\n}\n",
    );
    let (code, out, _) = run(&["check", &f]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("proved"), "{out}");
    assert!(out.contains("FAILED at t = "), "{out}");
    // Two asserts plus the two built-in checks (g2 = 2t/(1 - t) >= 0 and Fokker-Planck),
    // both proved.
    assert!(out.contains("3 proved, 0 checked, 1 failed"), "{out}");
}

#[test]
fn a_true_assert_beyond_the_rules_is_checked_numerically() {
    // cosh(t)^2 - sinh(t)^2 == 1 is a rule; sin(2t) == 2 sin t cos t is not one.
    let f = scratch_file(
        "numeric.dsym",
        "process p {\n  alpha(t) = 1 - t;\n  sigma(t) = t;\n  assert sin(2*t) == 2*sin(t)*cos(t);\n}\n",
    );
    let (code, out, _) = run(&["check", &f]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("checked (64 points"), "{out}");
}

#[test]
fn help_explains_the_commands() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for c in ["derive", "eval", "check"] {
        assert!(out.contains(c));
    }
    let (code, out, _) = run(&["eval", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--digits"));
}

#[test]
fn a_file_with_sources_only_has_no_process_to_eval_or_emit() {
    let f = scratch_file("only.dsym", "source S = gaussian(spectrum = [1]);\n");
    for args in [
        vec!["eval", f.as_str(), "alpha", "--t", "0.5"],
        vec![
            "emit",
            f.as_str(),
            "--out",
            "/nonexistent-dir-for-this-test",
        ],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("defines no process"), "{args:?}: {err}");
    }
}

/// `--help` lists the values a flag takes, from the analysis layer's own lists, and an
/// unknown value is a usage error (exit 2) that names them.
#[test]
fn help_lists_allowed_values_and_unknown_values_are_refused_with_them() {
    let samplers = ["ddim", "euler", "heun", "dpm1", "euler_maruyama", "ddpm"];
    for cmd in [
        &["kl", "--help"][..],
        &["plot", "kl", "--help"],
        &["schedule", "--help"],
        &["asymptotics", "--help"],
    ] {
        let (code, out, _) = run(cmd);
        assert_eq!(code, 0, "{cmd:?}");
        for s in samplers {
            assert!(
                out.contains(s),
                "{cmd:?} --help does not list `{s}`:\n{out}"
            );
        }
    }
    let (_, out, _) = run(&["kl", "--help"]);
    assert!(out.contains("prior") && out.contains("exact"), "{out}");
    let (_, out, _) = run(&["plot", "kl", "--help"]);
    for g in ["uniform", "logsnr", "karras"] {
        assert!(out.contains(g), "plot kl --help does not list `{g}`");
    }
    // eval --help names every derived quantity and every field with the flags it needs.
    let (_, out, _) = run(&["eval", "--help"]);
    for name in [
        "alpha_bar",
        "g2",
        "dlambda",
        "log_snr",
        "rho",
        "cond_score",
        "pf_velocity",
        "reverse_drift",
        "euler_maruyama_step",
        "ddim_step",
        "dpm1_step",
    ] {
        assert!(out.contains(name), "eval --help does not name `{name}`");
    }
    assert!(out.contains("--z --t-next"), "{out}");
    let (code, _, err) = run(&[
        "kl",
        "examples/sources.dsym",
        "--process",
        "cosine",
        "--source",
        "S",
        "--sampler",
        "rk4",
        "--steps",
        "10",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("rk4") && err.contains("euler_maruyama"),
        "{err}"
    );
}

/// An analysis error about the process (found after lowering) points at the process in its
/// file, the bundled one when the process comes from the library.
#[test]
fn analysis_errors_about_the_process_point_at_it() {
    let (code, out, err) = run(&[
        "asymptotics",
        "examples/sources.dsym",
        "--process",
        "vp_linear",
        "--source",
        "S",
    ]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("error[diffsym::asymptotics::prior]"), "{err}");
    assert!(err.contains("--> derivations/vp_linear.dsym:2:9"), "{err}");
    assert!(err.contains("process vp_linear {"), "{err}");
}
