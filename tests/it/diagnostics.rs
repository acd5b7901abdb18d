//! Bad input: every case gives a located diagnostic, exit code 2, no stdout, no crash. And
//! the rendering itself (`diag::render`): labels sharing a line, spans over several lines,
//! long lines, the end of a file, non-ASCII text.

use diffsym::diag::{Diag, Source, Span, codes, render};
use proptest::prelude::*;

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

/// Issue 14, "Errors that help": a near miss of a builtin or of the process's own functions
/// and quantities gets a "did you mean"; a name near nothing does not.
#[test]
fn typos_get_a_suggestion() {
    for (line, wrong, near) in [
        ("    beta(t) = sqr(t);\n", "sqr", Some("sqrt")),
        ("    beta(t) = expp(t);\n", "expp", Some("exp")),
        ("    assert alpah(t) == 1 - t;\n", "alpah", Some("alpha")),
        (
            "    assert lamda(t) == lambda(t);\n",
            "lamda",
            Some("lambda"),
        ),
        ("    beta(t) = foo(t);\n", "foo", None),
        ("    beta(t) = q(t);\n", "q", None),
    ] {
        let err = bad("typo.dsym", process_with(line));
        assert!(
            err.contains(&format!("unknown function `{wrong}`")),
            "{err}"
        );
        match near {
            Some(n) => assert!(err.contains(&format!("did you mean `{n}`?")), "{err}"),
            None => assert!(!err.contains("did you mean"), "{err}"),
        }
    }
}

/// One typo, one error: when a definition fails, the derived quantities are not derived,
/// and asserts that use them are not reported as calling unknown functions.
#[test]
fn one_typo_gives_one_error() {
    let text = "process p {\n    alpha(t) = sqr(1 - t);\n    sigma(t) = t;\n    \
                assert f(t) == g2(t)*rho(t) + snr(t);\n}\n";
    let err = bad("cascade.dsym", text);
    assert_eq!(err.matches("error[").count(), 1, "{err}");
    assert!(err.contains("unknown function `sqr`"), "{err}");
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
fn integrals_that_neither_close_nor_can_be_named_are_errors() {
    // `integrate(exp(s^2), s, 0, t)` is a named integral (tests/it/named.rs); an integrand
    // that depends on another variable than its own is not.
    let err = bad(
        "noint.dsym",
        process_with("    assert integrate(exp(t*s^2), s, 0, 1) == 1;\n"),
    );
    assert!(
        err.contains("no closed form is known for this integral"),
        "{err}"
    );
    assert!(err.contains("cannot integrate `exp(s^2*t)`"), "{err}");
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

/// The span of the first `needle` in `text`.
fn span_of(text: &str, needle: &str) -> Span {
    let start = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in {text:?}"));
    Span::new(start, start + needle.len())
}

#[test]
fn two_labels_on_one_line_share_its_row() {
    let text = "source B = gaussian(cov = [[1, 0.1], [0.2, 1]]);\n";
    let d = Diag::new(codes::SOURCE_COVARIANCE, "the covariance is not symmetric")
        .with_label(span_of(text, "0.1"), "this entry")
        .with_label(span_of(text, "0.2"), "differs from this one")
        .in_source(&Source::new("cov.dsym", text));
    insta::assert_snapshot!(render(&d), @r"
    error[diffsym::source::covariance]: the covariance is not symmetric
     --> cov.dsym:1:32
      |
    1 | source B = gaussian(cov = [[1, 0.1], [0.2, 1]]);
      |                                ^^^    --- differs from this one
      |                                |
      |                                this entry
    ");
}

#[test]
fn a_span_over_several_lines_is_drawn_from_start_to_end() {
    let text = "process p {\n    alpha(t) = exp(-t^2\n        / 2);\n    sigma(t) = t;\n}\n";
    let start = span_of(text, "exp").start;
    let end = span_of(text, "2);").start + 2;
    let d = Diag::new(codes::LOWER_INTEGRATE, "a formula over two lines")
        .with_label(Span::new(start, end), "this formula")
        .with_help("a help line")
        .in_source(&Source::new("multi.dsym", text));
    insta::assert_snapshot!(render(&d), @r"
    error[diffsym::lower::integrate]: a formula over two lines
     --> multi.dsym:2:16
      |
    2 |       alpha(t) = exp(-t^2
      |  ________________^
    3 | |         / 2);
      | |____________^ this formula
      |
      = help: a help line
    ");
}

#[test]
fn a_long_span_in_a_long_line_stays_in_the_window() {
    let body = (0..80)
        .map(|k| format!("a{k}"))
        .collect::<Vec<_>>()
        .join(" + ");
    let text = format!("process p {{\n    beta(t) = {body};\n}}\n");
    let start = span_of(&text, "a20 ").start;
    let d = Diag::new(codes::LOWER_UNDEFINED, "150 characters of undefined names")
        .with_label(Span::new(start, start + 150), "these terms")
        .in_source(&Source::new("long.dsym", text.as_str()));
    let r = render(&d);
    let lines: Vec<&str> = r.lines().collect();
    let shown = lines
        .iter()
        .position(|l| l.starts_with("2 | "))
        .expect("line 2");
    let (source_row, caret_row) = (lines[shown], lines[shown + 1]);
    assert!(
        source_row.len() <= 140,
        "window of {} columns:\n{r}",
        source_row.len()
    );
    assert!(
        source_row.starts_with("2 | ...") && source_row.ends_with("..."),
        "{r}"
    );
    let last_caret = caret_row.rfind('^').expect("carets");
    assert!(
        last_caret < source_row.len() - 3,
        "carets past the window:\n{r}"
    );
    assert!(r.contains(" --> long.dsym:2:125\n"), "{r}");
    insta::assert_snapshot!(r, @r"
    error[diffsym::lower::undefined]: 150 characters of undefined names
     --> long.dsym:2:125
      |
    2 | ... + a19 + a20 + a21 + a22 + a23 + a24 + a25 + a26 + a27 + a28 + a29 + a30 + a31 + a32 + a33 + a34 + a35 + a36 + a37 + a38 + a39 + a...
      |             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ these terms
    ");
}

#[test]
fn a_label_at_the_very_end_of_a_file_points_after_its_last_character() {
    let at_end = |text: &str| {
        let d = Diag::new(
            codes::PARSE_EXPECTED,
            "unexpected end of input, expected `}`",
        )
        .with_label(Span::new(text.len(), text.len()), "expected `}` after this")
        .in_source(&Source::new("eof.dsym", text));
        assert_eq!(d.location().as_deref(), Some("eof.dsym:2:22"), "{text:?}");
        render(&d)
    };
    let r = at_end("process p {\n    alpha(t) = 1 - t;\n");
    assert_eq!(r, at_end("process p {\n    alpha(t) = 1 - t;"));
    assert_eq!(r, at_end("process p {\r\n    alpha(t) = 1 - t;\r\n"));
    insta::assert_snapshot!(r, @r"
    error[diffsym::parse::expected]: unexpected end of input, expected `}`
     --> eof.dsym:2:22
      |
    2 |     alpha(t) = 1 - t;
      |                      ^ expected `}` after this
    ");
}

#[test]
fn a_non_ascii_line_is_underlined_by_display_column() {
    // `日本` takes four columns: the caret sits under the snowman, two columns to the right
    // of its column in characters (30, as the location says).
    let text = "process p {\n    doc \"café 日本\"; beta(t) = ☃(t);\n}\n";
    let d = Diag::new(codes::LOWER_UNKNOWN_FUNCTION, "unknown function `☃`")
        .with_label(span_of(text, "☃"), "not defined")
        .in_source(&Source::new("ünï.dsym", text));
    insta::assert_snapshot!(render(&d), @r#"
    error[diffsym::lower::unknown_function]: unknown function `☃`
     --> ünï.dsym:2:30
      |
    2 |     doc "café 日本"; beta(t) = ☃(t);
      |                                ^ not defined
    "#);
}

#[test]
fn an_error_about_the_command_has_no_location() {
    let d = Diag::new(codes::CLI_STEPS, "--steps 0 must be between 1 and 1000")
        .with_help("give the numbers of steps, e.g. `--steps 2,3,10`");
    insta::assert_snapshot!(render(&d), @r"
    error[diffsym::cli::steps]: --steps 0 must be between 1 and 1000
     |
     = help: give the numbers of steps, e.g. `--steps 2,3,10`
    ");
}

/// Text with line breaks of both kinds, lone `\r`, tabs, a bidi control and characters of one
/// to four bytes.
fn odd_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("a"),
        Just("xyz"),
        Just(" "),
        Just("\t"),
        Just("\n"),
        Just("\r\n"),
        Just("\r"),
        Just("\u{202e}"),
        Just("é"),
        Just("日本"),
        Just("☃"),
        Just("🦀"),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any spans, even out of the text or inside a character, render without panicking, and
    /// the location `Diag::location` reports is the one the rendering shows.
    #[test]
    fn any_span_renders_at_the_location_it_reports(
        text in odd_text(),
        spans in proptest::collection::vec((0usize..300, 0usize..300), 1..4),
    ) {
        let mut d = Diag::new(codes::PARSE_EXPECTED, "somewhere");
        for (k, &(a, b)) in spans.iter().enumerate() {
            d = d.with_label(Span::new(a, b), if k % 2 == 0 { "here" } else { "" });
        }
        let d = d.in_source(&Source::new("odd.dsym", text.as_str()));
        let r = render(&d);
        let loc = d.location().expect("a location");
        prop_assert!(r.starts_with("error[diffsym::parse::expected]: somewhere\n"), "{}", r);
        prop_assert!(r.contains(&format!(" --> {loc}\n")), "{} not in\n{}", loc, r);
    }
}
