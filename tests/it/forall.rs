//! `assert forall ...:` (issue 14): asserts over free real variables, each with a domain,
//! proved symbolically or checked at 256 bits at points sampled in the domains.

use crate::support::{run, scratch_file};

fn process(lines: &str) -> String {
    format!("process p {{\n    alpha(t) = cos(pi*t/2);\n    sigma(t) = sin(pi*t/2);\n{lines}}}\n")
}

/// `check --format json` of a process with `lines`: (exit code, the records of the asserts).
fn check(lines: &str) -> (i32, Vec<serde_json::Value>) {
    let f = scratch_file("forall.dsym", process(lines));
    let (code, out, err) = run(&["check", &f, "--format", "json"]);
    assert!(code == 0 || code == 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let asserts = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["kind"] == "assert")
        .cloned()
        .collect();
    (code, asserts)
}

/// The values of the variables at a failing check's point, `t = 0.1, x = 2` -> [(t, 0.1), ...].
fn point(at: &str) -> Vec<(String, f64)> {
    at.split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once(" = ").expect("name = value");
            (k.to_owned(), v.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn identities_over_free_variables_are_proved_or_checked() {
    let (code, records) = check(
        "    assert forall s: alpha(s)^2 + sigma(s)^2 == 1;\n\
         \x20   assert forall x, eps: alpha(t)*x + sigma(t)*eps == cos(pi*t/2)*x + sin(pi*t/2)*eps;\n\
         \x20   assert forall s in [0, 1/2]: asin(s) == atan(s/sqrt(1 - s^2));\n\
         \x20   assert forall h in (0, 1): sqrt(h^2) == h;\n",
    );
    assert_eq!(code, 0, "{records:?}");
    let status: Vec<&str> = records
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    // sqrt(h^2) = h needs h >= 0: the simplifier knows the variable's domain.
    assert_eq!(
        status,
        ["proved", "proved", "checked", "proved"],
        "{records:?}"
    );
}

#[test]
fn a_domain_decides_whether_an_identity_holds() {
    // sqrt(h^2) = |h|: true for h in (0, 1), false on the real line, where the sample
    // points include negative h.
    let (code, records) = check("    assert forall h: sqrt(h^2) == h;\n");
    assert_eq!(code, 1);
    let r = &records[0];
    assert_eq!(r["status"], "failed");
    let at = point(r["at"].as_str().expect("at"));
    let (name, h) = &at[1];
    assert_eq!(name, "h");
    assert!(*h < 0.0, "{at:?}");
    let left: f64 = r["left"].as_str().expect("left").parse().expect("number");
    let right: f64 = r["right"].as_str().expect("right").parse().expect("number");
    assert_eq!((left, right), (h.abs(), *h));
}

/// Each assertion's variables are its own: a domain that proves one does not leak into
/// another that binds the same name.
#[test]
fn domains_belong_to_their_assertion() {
    let (code, records) = check(
        "    assert forall h in (0, 1): sqrt(h^2) == h;\n\
         \x20   assert forall h in (-1, 1): sqrt(h^2) == h;\n\
         \x20   assert forall h in [-2, -1]: sqrt(h^2) == -h;\n",
    );
    assert_eq!(code, 1);
    let status: Vec<&str> = records
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(status, ["proved", "failed", "proved"], "{records:?}");
    let at = point(records[1]["at"].as_str().expect("at"));
    assert!(at[1].1 < 0.0 && at[1].1 > -1.0, "{at:?}");
}

#[test]
fn a_variable_used_as_a_time_is_sampled_in_the_unit_interval() {
    // alpha(s) = cos(pi s/2) is not 1 - s: the failing point has s in [0, 1], and both
    // sides there agree with the formulas.
    let (code, records) = check(
        "    assert forall s: alpha(s) == 1 - s;\n    assert forall u in [2, 3]: u == u + 0*sinh(u);\n",
    );
    assert_eq!(code, 1);
    let r = &records[0];
    assert_eq!(r["status"], "failed");
    let at = point(r["at"].as_str().expect("at"));
    let s = at[1].1;
    assert!((0.0..=1.0).contains(&s), "{at:?}");
    let left: f64 = r["left"].as_str().expect("left").parse().expect("number");
    assert!((left - (std::f64::consts::FRAC_PI_2 * s).cos()).abs() < 1e-15);
    assert_eq!(records[1]["status"], "proved");
}

/// Runs `check` on a process with `line`; asserts the bad-input contract and returns stderr.
fn bad(line: &str) -> String {
    let f = scratch_file("bad_forall.dsym", process(line));
    let (code, out, err) = run(&["check", &f]);
    assert_eq!((code, out.as_str()), (2, ""), "{line}: {err}");
    assert!(
        err.contains(&format!("{f}:4:")),
        "{line}: no file:line:col in {err}"
    );
    assert!(err.contains('^'), "{err}");
    err
}

/// One undefined name, used three times in an assertion, is one error.
#[test]
fn an_undefined_name_is_reported_once() {
    let err = bad("    assert x*alpha(t) == x - t*x;\n");
    assert_eq!(err.matches("error[").count(), 1, "{err}");
}

#[test]
fn bad_forall_variables_are_located_errors() {
    for (line, says) in [
        (
            "    assert forall alpha: alpha == 1;\n",
            "`alpha` is a function of this process",
        ),
        (
            "    assert forall g2: g2 == 1;\n",
            "`g2` is a function of this process",
        ),
        (
            "    assert forall t: t == t;\n",
            "`t` is the process's time",
        ),
        ("    assert forall exp: exp == 1;\n", "`exp` is a builtin"),
        ("    assert forall x, x: x == x;\n", "`x` is bound twice"),
        (
            "    assert forall x in [1, 0]: x == x;\n",
            "this interval is empty",
        ),
        (
            "    assert forall x in (1, 1]: x == x;\n",
            "this interval is empty",
        ),
        (
            "    assert forall x in [0, log(-1)]: x == x;\n",
            "must be a finite constant",
        ),
        ("    assert forall x in [0, 1] x == x;\n", "expected"),
        ("    assert forall: x == x;\n", "expected an identifier"),
        (
            "    assert forall pf_velocity_eps: 1 == 1;\n",
            "a function of this process",
        ),
        (
            "    assert forall x in [0, 1e4000]: x == x;\n",
            "beyond the range of f64",
        ),
        (
            "    assert forall x in [1, 1 + 1e-20]: x == 1;\n",
            "narrower than f64",
        ),
        ("    assert x == x;\n", "bind it: `assert forall x: ...;`"),
        (
            "    assert forall eps: eps == epz;\n",
            "did you mean `eps`?",
        ),
    ] {
        let err = bad(line);
        assert!(err.contains(says), "{line}: {err}");
    }
    // A parameter is a name of the process too.
    let f = scratch_file(
        "param.dsym",
        "process p {\n    param k = 2;\n    alpha(t) = 1 - t;\n    sigma(t) = t;\n    assert forall k: k == k;\n}\n",
    );
    let (code, _, err) = run(&["check", &f]);
    assert_eq!(code, 2);
    assert!(err.contains("`k` is a parameter of this process"), "{err}");
}

/// Issue 14: fields, sampler steps and conditional fields are callable in asserts by their
/// full names, with their arguments in order. The identities are the tutorial's: the
/// probability-flow velocity in eps form, DDIM (eta = 0) as the exponential integrator's
/// first-order step, eps = -sigma * score, and the conditional score.
#[test]
fn fields_are_callable_in_asserts() {
    let f = scratch_file(
        "fields.dsym",
        "process vp {\n    beta(t) = 1/10 + t*199/10;\n\
         \x20   assert forall x, eps: pf_velocity_eps(x, eps, t) == f(t)*x + g2(t)/(2*sigma(t))*eps;\n\
         \x20   assert forall x, e, s: ddim_step_eps(x, e, t, s) == dpm1_step_eps(x, e, t, s);\n\
         \x20   assert forall x, e: pf_velocity_score(x, -e/sigma(t), t) == pf_velocity_eps(x, e, t);\n\
         \x20   assert forall x, x0: cond_score(x, x0, t) == -(x - alpha(t)*x0)/sigma(t)^2;\n\
         \x20   assert forall x, e, s: ddim_step_eps(x, e, t, s) == euler_step_eps(x, e, t, s);\n}\n",
    );
    let (code, out, err) = run(&["check", &f, "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let status: Vec<&str> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["kind"] == "assert")
        .map(|c| c["status"].as_str().expect("status"))
        .collect();
    assert_eq!(status, ["proved", "proved", "proved", "proved", "failed"]);
    // DDIM is not Euler: the counterexample's second time s is a time, in [0, 1], and
    // x and e are free real numbers.
    let failed = &v["checks"][4];
    let at = point(failed["at"].as_str().expect("at"));
    let names: Vec<&str> = at.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["t", "x", "e", "s"]);
    assert!((0.0..=1.0).contains(&at[3].1), "{at:?}");
}

#[test]
fn bad_field_calls_are_located_errors() {
    for (line, says) in [
        (
            "    assert forall x, e: pf_velocity_eps(x, e, t, t) == 1;\n",
            "`pf_velocity_eps` takes 3 arguments, found 4",
        ),
        // A near miss of a field's name.
        (
            "    assert forall x: cond_scor(x, x, t) == 1;\n",
            "did you mean `cond_score`?",
        ),
    ] {
        let err = bad(line);
        assert!(err.contains(says), "{line}: {err}");
    }
    let f = scratch_file(
        "rf.dsym",
        "process rf {\n    alpha(t) = 1 - t;\n    sigma(t) = t;\n    assert forall x, v: pf_velocity_v(x, v, t) == v;\n}\n",
    );
    let (code, out, err) = run(&["check", &f]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("`pf_velocity_v` is not a field of this process"),
        "{err}"
    );
    assert!(err.contains("variance-preserving processes only"), "{err}");
}

/// Two processes in one file each bind `x` with its own domain: the domain that proves the
/// first must not prove the second (each process is lowered in a pool of its own, then
/// copied into one).
#[test]
fn domains_do_not_leak_between_processes() {
    let f = scratch_file(
        "two.dsym",
        "process a { alpha(t) = 1 - t; sigma(t) = t; assert forall x in [0, 1]: sqrt(x^2) == x; }\n\
         process b { alpha(t) = 1 - t; sigma(t) = t; assert forall x in [-2, -1]: sqrt(x^2) == x; }\n",
    );
    let (code, out, err) = run(&["check", &f, "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let asserts: Vec<(&str, &str)> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["kind"] == "assert")
        .map(|c| {
            (
                c["process"].as_str().expect("p"),
                c["status"].as_str().expect("s"),
            )
        })
        .collect();
    assert_eq!(asserts, [("a", "proved"), ("b", "failed")]);
}

/// A variable passed to a user function is a time only where that function's parameter is
/// named `t`: `nrm(y) = sqrt(y^2)` is not `y` for negative y.
#[test]
fn only_time_parameters_make_a_variable_a_time() {
    let (code, records) = check(
        "    nrm(x) = sqrt(x^2);\n    c(t) = alpha(t)^2;\n\
         \x20   assert forall y: nrm(y) == y;\n    assert forall s: c(s) == alpha(s)^2;\n",
    );
    assert_eq!(code, 1);
    assert_eq!(records[0]["status"], "failed");
    let at = point(records[0]["at"].as_str().expect("at"));
    assert!(at[1].1 < 0.0, "{at:?}");
    assert_eq!(records[1]["status"], "proved");
}
