//! Generic processes (`alpha(t) = function;`), derivatives by primes, the tutorial's
//! formulas and `derivations/tutorial.dsym` (issue 14).

use crate::support::{run, scratch_file};

/// `check --format json` of `text`: (exit code, every record).
fn check(text: &str) -> (i32, Vec<serde_json::Value>) {
    let f = scratch_file("generic.dsym", text);
    let (code, out, err) = run(&["check", &f, "--format", "json"]);
    assert!(code == 0 || code == 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    (code, v["checks"].as_array().expect("checks").clone())
}

const GENERIC: &str = "process g {\n    alpha(t) = function;\n    sigma(t) = function;\n";

#[test]
fn the_tutorial_is_proved_for_every_schedule() {
    let (code, out, err) = run(&["check", "derivations/tutorial.dsym", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let checks = v["checks"].as_array().expect("checks");
    let asserts: Vec<&serde_json::Value> =
        checks.iter().filter(|c| c["kind"] == "assert").collect();
    assert!(asserts.len() >= 25, "{} asserts", asserts.len());
    for c in checks {
        assert_eq!(c["status"], "proved", "{c}");
    }
    // Most of them are about the generic process, whose schedule is unspecified.
    let generic = asserts
        .iter()
        .filter(|c| c["process"] == "tutorial")
        .count();
    assert!(generic >= 25, "{generic}");
}

#[test]
fn identities_of_the_jet_are_proved_and_false_ones_fail_on_an_instance() {
    let (code, records) = check(&format!(
        "{GENERIC}    assert g2(t) == -2*sigma(t)^2*lambda'(t);\n\
         \x20   assert f(t) == alpha'(t)/alpha(t);\n\
         \x20   assert alpha''(t) == diff(alpha'(t), t);\n\
         \x20   assert f(t) == sigma'(t)/sigma(t);\n}}\n"
    ));
    assert_eq!(code, 1);
    let asserts: Vec<&serde_json::Value> =
        records.iter().filter(|c| c["kind"] == "assert").collect();
    assert_eq!(asserts[0]["status"], "proved");
    assert_eq!(asserts[1]["status"], "proved");
    assert_eq!(asserts[2]["status"], "proved");
    // f = sigma'/sigma holds for no positive schedule pair in general: a concrete stand-in
    // shows it, and is named.
    assert_eq!(asserts[3]["status"], "failed", "{}", asserts[3]);
    let at = asserts[3]["at"].as_str().expect("at");
    assert!(
        at.contains("with alpha(u) = ") && at.contains("sigma(u) = "),
        "{at}"
    );
}

#[test]
fn shorthands_are_generic_too() {
    let (code, records) = check(
        "process vp {\n    alpha_bar(t) = function;\n    assert alpha(t)^2 + sigma(t)^2 == 1;\n    assert g2(t) == -alpha_bar'(t)/alpha_bar(t);\n}\n\
         process b {\n    beta(t) = function;\n    assert g2(t) == beta(t);\n    assert alpha(t) == exp(-integrate(beta(s), s, 0, t)/2);\n}\n",
    );
    assert_eq!(code, 0, "{records:?}");
    for r in &records {
        assert_eq!(r["status"], "proved", "{r}");
    }
}

#[test]
fn derive_prints_declarations_derivatives_and_asserts() {
    let f = scratch_file(
        "generic_derive.dsym",
        format!(
            "{GENERIC}    assert forall x, eps: pf_velocity_eps(x, eps, t) == f(t)*x + g2(t)/(2*sigma(t))*eps;\n}}\n"
        ),
    );
    let (code, out, err) = run(&["derive", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("  alpha(t) = function\n"), "{out}");
    assert!(out.contains("    f(t) = alpha'(t)/alpha(t)\n"), "{out}");
    assert!(out.contains("  asserts:\n    assert forall x, eps: pf_velocity_eps(x, eps, t) == f(t)*x + g2(t)/(2*sigma(t))*eps;\n"), "{out}");
    let (code, out, _) = run(&["derive", &f, "--format", "latex"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("f(t) &= \\frac{\\dot{\\alpha}_{t}}{\\alpha_{t}}"),
        "{out}"
    );
    assert!(
        out.contains("\\mathrm{pf\\_velocity\\_eps}\\left(x, \\varepsilon, t\\right) &= "),
        "{out}"
    );
    assert!(out.contains("\\text{for all } x,\\ \\varepsilon"), "{out}");
    let (code, out, _) = run(&["derive", &f, "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let p = &v["processes"][0];
    assert_eq!(p["definitions"][0]["text"], "function");
    assert_eq!(p["asserts"][0]["vars"], serde_json::json!(["x", "eps"]));
    assert_eq!(p["asserts"][0]["line"], 4);
}

#[test]
fn printed_derivatives_and_primitives_parse_back() {
    // The text `derive` prints for a generic process is a process of its own.
    let f = scratch_file(
        "generic_round.dsym",
        "process b {\n    beta(t) = function;\n}\n",
    );
    let (code, out, err) = run(&["derive", &f, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let alpha = v["processes"][0]["quantities"][0]["text"]
        .as_str()
        .expect("alpha")
        .to_owned();
    assert_eq!(alpha, "exp(-integrate(beta(s), s, 0, t)/2)");
    let g = scratch_file(
        "generic_round2.dsym",
        format!(
            "process b {{\n    beta(t) = function;\n    assert alpha(t) == {alpha};\n    assert f(t) == -beta'(t)*0 - beta(t)/2;\n}}\n"
        ),
    );
    let (code, out, err) = run(&["check", &g]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn commands_that_compute_numbers_refuse_a_generic_process() {
    let f = scratch_file("generic_refused.dsym", format!("{GENERIC}}}\n"));
    for args in [
        vec!["eval", &f, "alpha", "--t", "0.5"],
        vec!["emit", &f],
        vec!["schedule", &f, "--process", "g"],
        vec!["asymptotics", &f, "--process", "g", "--spectrum", "1"],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        if err.contains("diffsym::cli::generic") {
            assert!(err.contains("generic_refused.dsym:1:9"), "{err}");
            assert!(err.contains("declared without a formula"), "{err}");
        }
    }
    let (_, _, err) = run(&["eval", &f, "alpha", "--t", "0.5"]);
    assert!(err.contains("error[diffsym::cli::generic]"), "{err}");
    assert!(err.contains("^ a generic process"), "{err}");
}

#[test]
fn bad_uses_of_function_and_primes_are_located() {
    let cases = [
        (
            "process p {\n    alpha(t) = 2*function;\n    sigma(t) = t;\n}\n",
            "diffsym::lower::generic",
            ":2:18",
        ),
        (
            "process p {\n    alpha(t, s) = function;\n    sigma(t) = t;\n}\n",
            "diffsym::lower::generic",
            ":2:5",
        ),
        (
            "process p {\n    alpha(t) = 1 - t;\n    sigma(t) = exp'(t);\n}\n",
            "diffsym::lower::generic",
            ":3:16",
        ),
        (
            "process p {\n    alpha(t) = function;\n    sigma(t) = function;\n    assert alpha'(t, t) == 0;\n}\n",
            "diffsym::lower::arity",
            ":4:12",
        ),
        (
            "process p {\n    alpha(t) = function;\n    sigma(t) = function;\n    assert forall alpha: alpha == 0;\n}\n",
            "diffsym::lower::shadow",
            ":4:19",
        ),
        (
            "process p {\n    alpha(t) = function;\n    sigma(t) = function;\n    assert forall x: ddpm_var(x, t, t) == 0;\n}\n",
            "diffsym::lower::arity",
            ":4:22",
        ),
        (
            "process p {\n    sigma(t) = f(t);\n}\n",
            "diffsym::lower::recursive",
            ":2:16",
        ),
        // The specified half of a half-generic process is checked as any other.
        (
            "process p {\n    alpha(t) = function;\n    sigma(t) = 1 - t;\n}\n",
            "diffsym::process::invalid",
            ":1:9",
        ),
    ];
    for (text, code_name, place) in cases {
        let f = scratch_file("generic_bad.dsym", text);
        let (code, out, err) = run(&["check", &f]);
        assert_eq!(code, 2, "{text}: {out}{err}");
        assert!(out.is_empty(), "{text}: {out}");
        assert!(
            err.contains(&format!("error[{code_name}]")),
            "{text}: {err}"
        );
        assert!(
            err.contains(&format!("generic_bad.dsym{place}")),
            "{text}: {err}"
        );
        assert!(err.contains('^'), "{text}: {err}");
    }
}

#[test]
fn definitions_may_call_quantities_and_fields() {
    let (code, records) = check(
        "process p {\n    alpha(t) = cos(pi*t/2);\n    sigma(t) = sin(pi*t/2);\n    half_g2(t) = g2(t)/2;\n    step(x, e, t, s) = ddim_step_eps(x, e, t, s);\n    assert half_g2(t) == pi*tan(pi*t/2)/2;\n    assert forall x, e, s: step(x, e, t, s) == dpm1_step_eps(x, e, t, s);\n}\n",
    );
    assert_eq!(code, 0, "{records:?}");
    for r in records.iter().filter(|c| c["kind"] == "assert") {
        assert_eq!(r["status"], "proved", "{r}");
    }
}

/// `diffsym eval derivations/vp_linear.dsym ...` against mpmath at 50 digits
/// (scripts/formulas_reference.py, the defining formulas of docs/theory.md section 2).
#[test]
fn the_tutorial_formulas_evaluate_to_their_definitions() {
    let rows = [
        (
            "ddpm_mean --x 1 --x0 0.3 --t 0.5 --t-next 0.4",
            "0.64125901224763516821",
        ),
        ("ddpm_var --t 0.5 --t-next 0.4", "0.52032491244928740537"),
        (
            "ddim_eta_step_eps --x 1 --eps 0.5 --z 0.1 --eta 1 --t 0.5 --t-next 0.4",
            "1.15669607048615713",
        ),
        (
            "ddim_eta_step_eps --x 1 --eps 0.5 --z 0.1 --eta 0.3 --t 0.5 --t-next 0.4",
            "1.2748905619191554737",
        ),
        (
            "edm_c_skip --sigma-data 0.5 --t 0.5",
            "0.021011914674096073712",
        ),
        (
            "edm_c_out --sigma-data 0.5 --t 0.5",
            "0.49471913378347919077",
        ),
        (
            "edm_c_in --sigma-data 0.5 --t 0.5",
            "0.28990974232747732006",
        ),
        ("edm_c_noise --t 0.5", "0.30689193360269681835"),
        (
            "cfm_target --x0 0.3 --eps 0.5 --t 0.5",
            "-0.21688380868911478494",
        ),
        ("gen_alpha --t 0.25", "0.058663503011880823873"),
        ("gen_sigma --t 0.25", "0.9982778137444381016"),
        (
            "gen_pf_velocity_eps --x 1 --eps 0.5 --t 0.25",
            "3.7497698779003312066",
        ),
        (
            "gen_cfm_target --x0 0.3 --eps 0.5 --t 0.25",
            "0.11926378569090323254",
        ),
    ];
    for (args, expected) in rows {
        let mut argv = vec!["eval", "derivations/vp_linear.dsym"];
        argv.extend(args.split(' '));
        let (code, out, err) = run(&argv);
        assert_eq!(code, 0, "{args}: {err}");
        let got: f64 = out.trim().parse().expect("a number");
        let want: f64 = expected.parse().expect("a number");
        assert_eq!(got, want, "{args}: {out} against {expected}");
    }
    let (code, _, err) = run(&[
        "eval",
        "derivations/vp_linear.dsym",
        "ddim_eta_step_eps",
        "--x",
        "1",
        "--eps",
        "0.5",
        "--z",
        "0",
        "--eta",
        "2",
        "--t",
        "0.5",
        "--t-next",
        "0.4",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--eta 2 is outside [0, 1]"), "{err}");
}

#[test]
fn comments_inside_an_assert_are_left_out_of_reports() {
    let f = scratch_file(
        "generic_comment.dsym",
        format!("{GENERIC}    assert f(t) == # the drift\n        alpha'(t)/alpha(t);\n}}\n"),
    );
    let (code, out, err) = run(&["check", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(": g: assert f(t) == alpha'(t)/alpha(t);  proved\n"),
        "{out}"
    );
    let (_, out, _) = run(&["derive", &f]);
    assert!(
        out.contains("    assert f(t) == alpha'(t)/alpha(t);\n"),
        "{out}"
    );
}
