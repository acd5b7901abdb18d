//! Bad input: every case gives a located diagnostic, exit code 2, no stdout, no crash.

use crate::support::{redact, run, scratch_file};

/// Runs `derive FILE` on `text`; asserts the bad-input contract and returns stderr, redacted.
fn bad(name: &str, text: impl AsRef<[u8]>) -> String {
    let f = scratch_file(name, text);
    let (code, out, err) = run(&["derive", &f]);
    assert_eq!(code, 2, "exit code for {name}: stdout {out}\nstderr {err}");
    assert!(out.is_empty(), "{name} wrote to stdout: {out}");
    assert!(
        err.contains(&format!("{f}:")),
        "{name}: no file:line:col in\n{err}"
    );
    assert!(err.contains('^'), "{name}: no caret in\n{err}");
    redact(&err, &f)
}

const HEADER: &str = "process p {\n    alpha(t) = 1 - t;\n    sigma(t) = t;\n";

fn process_with(lines: &str) -> String {
    format!("{HEADER}{lines}}}\n")
}

#[test]
fn unknown_function() {
    let err = bad("unknown.dsym", process_with("    beta(t) = foo(t);\n"));
    assert!(err.contains("unknown function `foo`"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn wrong_arity() {
    let err = bad(
        "arity.dsym",
        process_with("    beta(t) = exp(t, 2) + alpha(t, t);\n"),
    );
    assert!(err.contains("`exp` takes 1 argument, found 2"), "{err}");
    assert!(err.contains("`alpha` takes 1 argument, found 2"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn every_undefined_name_is_reported() {
    let err = bad(
        "undefined.dsym",
        process_with("    beta(t) = a + b*t;\n    gamma(t) = c;\n"),
    );
    for n in ["`a`", "`b`", "`c`"] {
        assert!(
            err.contains(&format!("undefined name {n}")),
            "{n} missing in\n{err}"
        );
    }
    insta::assert_snapshot!(err);
}

#[test]
fn recursive_definitions() {
    let err = bad(
        "recursive.dsym",
        "process p {\n    alpha(t) = sigma(t);\n    sigma(t) = alpha(t);\n    beta(t) = beta(t) + 1;\n}\n",
    );
    assert!(
        err.contains("recursive definition: alpha -> sigma -> alpha"),
        "{err}"
    );
    assert!(err.contains("recursive definition: beta -> beta"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn duplicate_definitions() {
    let err = bad(
        "duplicate.dsym",
        process_with("    param a = 1;\n    param a = 2;\n    sigma(t) = 2*t;\n"),
    );
    assert!(err.contains("`a` is defined twice"), "{err}");
    assert!(err.contains("`sigma` is defined twice"), "{err}");
    assert!(err.contains("first defined here"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn empty_file() {
    for text in ["", "# only a comment\n"] {
        let f = scratch_file("empty.dsym", text);
        let (code, out, err) = run(&["derive", &f]);
        assert_eq!(code, 2);
        assert!(out.is_empty());
        assert!(err.contains("no process is defined in this file"), "{err}");
        assert!(err.contains(&format!("{f}:1:1")), "{err}");
    }
}

#[test]
fn file_that_is_not_utf8() {
    let mut bytes = b"process p {\n    alpha(t) = 1 - t; # caf".to_vec();
    bytes.extend_from_slice(&[0xE9, b'\n', b'}', b'\n']);
    let err = bad("latin1.dsym", bytes);
    assert!(err.contains("is not valid UTF-8"), "{err}");
    assert!(err.contains("latin1.dsym:2:28"), "{err}");
}

#[test]
fn missing_file() {
    let (code, out, err) = run(&["derive", "does/not/exist.dsym"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("cannot read `does/not/exist.dsym`: no such file"),
        "{err}"
    );
}

#[test]
fn ten_thousand_nested_parentheses() {
    let deep = format!("{}t{}", "(".repeat(10_000), ")".repeat(10_000));
    let err = bad(
        "deep.dsym",
        process_with(&format!("    beta(t) = {deep};\n")),
    );
    assert!(
        err.contains("nested too deeply") || err.contains("too deep"),
        "{err}"
    );
}

#[test]
fn one_megabyte_expression_is_handled() {
    // 500 000 terms `t+t+...` (1 MB): valid input; the sum simplifies to 500000*t.
    let n = 500_000;
    let body = vec!["t"; n].join("+");
    assert!(body.len() >= 999_999);
    let f = scratch_file(
        "big.dsym",
        process_with(&format!("    beta(t) = {body};\n")),
    );
    let (code, out, err) = run(&["derive", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("beta(t) = 500000*t"),
        "{}",
        &out[..out.len().min(500)]
    );
}

#[test]
fn division_by_zero_in_a_param() {
    let err = bad("divzero.dsym", process_with("    param a = 1/(2 - 2);\n"));
    assert!(err.contains("division by zero"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn a_param_must_be_a_real_number() {
    let err = bad("logneg.dsym", process_with("    param a = log(-1);\n"));
    assert!(err.contains("parameter `a` has no value"), "{err}");
}

#[test]
fn integrals_without_closed_form_are_errors() {
    let err = bad(
        "noint.dsym",
        process_with("    beta(t) = integrate(exp(s^2), s, 0, t);\n"),
    );
    assert!(
        err.contains("no closed form is known for this integral"),
        "{err}"
    );
    assert!(err.contains("cannot integrate `exp(s^2)`"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn builtin_names_cannot_be_redefined() {
    let err = bad(
        "reserved.dsym",
        process_with("    param pi = 3;\n    exp(t) = t;\n"),
    );
    assert!(err.contains("`pi` is a builtin name"), "{err}");
    assert!(err.contains("`exp` is a builtin name"), "{err}");
}

#[test]
fn syntax_errors_of_several_kinds() {
    for (name, text) in [
        (
            "semicolon.dsym",
            "process p {\n    alpha(t) = 1 - t\n    sigma(t) = t;\n}\n",
        ),
        ("paren.dsym", "process p {\n    alpha(t) = (1 - t;\n}\n"),
        ("brace.dsym", "process p {\n    alpha(t) = 1 - t;\n"),
        (
            "assert.dsym",
            "process p {\n    alpha(t) = 1 - t;\n    assert alpha(t) = 1;\n}\n",
        ),
        (
            "garbage.dsym",
            "process p {\n    alpha(t) = 1 - t;\n}\nnonsense\n",
        ),
    ] {
        bad(name, text);
    }
}

#[test]
fn deep_input_through_the_real_binary_does_not_crash() {
    // The binary, not the library: a crash (signal) would show as a missing exit code.
    let deep = format!("{}t{}", "(".repeat(100_000), ")".repeat(100_000));
    let minus = "-".repeat(100_000);
    let f = scratch_file(
        "deep_bin.dsym",
        process_with(&format!(
            "    beta(t) = {deep};\n    gamma(t) = {minus}t;\n"
        )),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_diffsym"))
        .args(["derive", &f])
        .output()
        .expect("run diffsym");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}
