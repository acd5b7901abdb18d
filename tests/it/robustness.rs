//! No input panics: random token sequences, mostly shaped like statements, go through the
//! whole pipeline (parse, lower, derive, print, evaluate) and come back as output or as
//! diagnostics.

use diffsym::expr::{Pool, hp, print};
use diffsym::{process, syntax};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "t",
    "s",
    "x",
    "alpha",
    "sigma",
    "beta",
    "alpha_bar",
    "log_snr",
    "g2",
    "f",
    "a",
    "pi",
    "0",
    "1",
    "2",
    "0.5",
    "1e-3",
    "1e4000",
    "+",
    "-",
    "*",
    "/",
    "^",
    "(",
    ")",
    ",",
    ";",
    "=",
    "==",
    "exp",
    "log",
    "sqrt",
    "sin",
    "cos",
    "tan",
    "atan",
    "asin",
    "acos",
    "sinh",
    "cosh",
    "tanh",
    "sigmoid",
    "expm1",
    "log1p",
    "abs",
    "integrate",
    "diff",
    "param",
    "assert",
    "doc",
    "\"d\"",
    "process",
    "{",
    "}",
    "#",
];

fn expr() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 1..12).prop_map(|ts| ts.join(" "))
}

/// Well-formed expressions: these get past the parser and exercise lowering and algebra.
fn wellformed() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(&["t", "1", "2", "0.5", "pi", "a", "1/3", "0"][..])
        .prop_map(str::to_owned);
    leaf.prop_recursive(4, 24, 4, |inner| {
        let f = prop::sample::select(
            &[
                "exp", "log", "sqrt", "sin", "cos", "tan", "atan", "asin", "acos", "sinh", "cosh",
                "tanh", "sigmoid", "expm1", "log1p", "abs",
            ][..],
        );
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(&["+", "-", "*", "/", "^"][..]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            (f, inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            inner
                .clone()
                .prop_map(|a| format!("integrate(({a}) + s, s, 0, t)")),
            inner.prop_map(|a| format!("diff({a}, t)")),
        ]
    })
}

fn statement() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::sample::select(&["alpha", "sigma", "beta", "alpha_bar", "log_snr", "h"][..]),
            expr()
        )
            .prop_map(|(n, e)| format!("{n}(t) = {e};")),
        (prop::sample::select(&["a", "b"][..]), expr())
            .prop_map(|(n, e)| format!("param {n} = {e};")),
        (expr(), expr()).prop_map(|(l, r)| format!("assert {l} == {r};")),
        expr(),
    ]
}

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(statement(), 0..6)
        .prop_map(|ss| format!("process p {{\n{}\n}}\n", ss.join("\n")))
}

/// A complete process with generated alpha and sigma, and sometimes a noise statement.
fn shaped() -> impl Strategy<Value = String> {
    (wellformed(), wellformed(), prop::option::of(statement()), prop::option::of(wellformed())).prop_map(
        |(alpha, sigma, extra, assertion)| {
            let extra = extra.unwrap_or_default();
            let assertion = assertion.map(|a| format!("assert alpha(t) == {a};")).unwrap_or_default();
            format!("process p {{\n param a = 2;\n alpha(t) = {alpha};\n sigma(t) = {sigma};\n {extra}\n {assertion}\n}}\n")
        },
    )
}

fn file() -> impl Strategy<Value = String> {
    prop_oneof![1 => soup(), 3 => shaped()]
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn the_pipeline_never_panics(text in file()) {
        let Ok(ast) = syntax::parse_file(&text) else { return Ok(()) };
        let mut pool = Pool::new();
        let Ok(processes) = process::lower_file(&mut pool, &ast, &text, &[]) else { return Ok(()) };
        let mut h = hp::Hp::new(hp::DEFAULT_PRECISION);
        let t = process::time_symbol(&mut pool);
        for p in &processes {
            for &(_, e) in &p.quantities {
                print::to_text(&pool, e);
                print::to_latex(&pool, e);
                let at = h.from_f64(0.375);
                let _ = h.eval(&pool, e, &[(t, at)]);
                let _ = diffsym::expr::eval::eval_f64(&pool, e, &[(t, 0.375)]);
            }
        }
    }
}

/// How far the generated inputs get: most must reach derivation, or the property above
/// would be testing only the parser.
#[test]
fn generated_inputs_reach_the_algebra() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut parsed, mut lowered) = (0, 0);
    let n = 200;
    for _ in 0..n {
        let text = file().new_tree(&mut runner).expect("strategy").current();
        if let Ok(ast) = syntax::parse_file(&text) {
            parsed += 1;
            if process::lower_file(&mut Pool::new(), &ast, &text, &[]).is_ok() {
                lowered += 1;
            }
        }
    }
    eprintln!("of {n} inputs: {parsed} parsed, {lowered} lowered and derived");
    assert!(
        parsed >= n / 4 && lowered >= n / 20,
        "{parsed} parsed, {lowered} lowered"
    );
}

/// Issue 11, item 1: a huge base to a non-integer rational power split into an integer
/// power (too large to fold) and a fractional one, which multiplication merged back:
/// unbounded recursion, a stack overflow after 4 s. Now one `Pow` node, and the check
/// fails with the right side shown in full.
#[test]
fn a_huge_base_to_a_fractional_power_is_a_value_not_a_recursion() {
    let f = crate::support::scratch_file(
        "huge_pow.dsym",
        "process p {\n    alpha(t) = 1 - t;\n    sigma(t) = t;\n    assert 4 == 9.3E1768 ^ 66.982;\n}\n",
    );
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!(code, 1, "{out}{err}");
    // mpmath at 40 digits: 9.3e1768^66.982 = 1.1141e118489.
    assert!(
        out.contains("FAILED") && out.contains("1.1141") && out.contains("e118489"),
        "{out}"
    );
}

/// Issue 11, item 5: errors found after lowering carried no location (`emit` said "cannot
/// lower `sigma` ... no finite real value" where `check` accepted the file). Every command
/// now refuses the process where it is defined.
#[test]
fn a_process_beyond_f64_is_refused_at_its_definition() {
    let f = crate::support::scratch_file(
        "huge_alpha_bar.dsym",
        "process p {\n    alpha_bar(t) = 9.6E1974*diff(t, t);\n}\n",
    );
    let out = crate::support::scratch_dir().join(format!("huge-{}", std::process::id()));
    let out_s = out.to_string_lossy().into_owned();
    for args in [vec!["check", &f], vec!["emit", &f, "--out", &out_s]] {
        let (code, stdout, err) = crate::support::run(&args);
        assert_eq!(code, 2, "{args:?}: {stdout}");
        assert!(err.contains("huge_alpha_bar.dsym:1:9"), "{args:?}: {err}");
        assert!(err.contains("outside the range of f64"), "{args:?}: {err}");
    }
    assert!(!out.exists(), "no partial output");
}

/// Issue 11, item 4: `schedule --steps 1000` ran for more than 600 s. The grid search's
/// size is bounded by what finishes in seconds for the source's dimension, and beyond it
/// refused at once.
#[test]
fn a_grid_search_too_large_to_finish_is_refused() {
    let f = crate::support::scratch_file(
        "s3.dsym",
        "source S = gaussian(spectrum = [1, 0.5, 0.1]);\n",
    );
    let most = diffsym::analysis::max_grid_search_steps(3);
    assert!((100..=200).contains(&most), "{most}");
    let steps = (most + 1).to_string();
    let args = [
        "schedule",
        &f,
        "--source",
        "S",
        "--process",
        "cosine",
        "--steps",
        &steps,
    ];
    let (code, out, err) = crate::support::run(&args);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains(&format!("at most {most}")), "{err}");
    let (code, _, err) = crate::support::run(&[
        "schedule",
        &f,
        "--source",
        "S",
        "--process",
        "cosine",
        "--steps",
        "1000",
    ]);
    assert_eq!(code, 2, "{err}");
}

/// Issue 11, item 4: `kl --steps 10000000` took 60 s. Step counts whose exact KLs would
/// not finish in about 30 s are refused at once.
#[test]
fn kl_work_beyond_seconds_is_refused() {
    let f = crate::support::scratch_file("s2.dsym", "source S = gaussian(spectrum = [1, 0.5]);\n");
    let kl = |steps: &str| {
        crate::support::run(&[
            "kl",
            &f,
            "--process",
            "vp_linear",
            "--source",
            "S",
            "--sampler",
            "euler",
            "--steps",
            steps,
        ])
    };
    let (code, out, err) = kl("10000000");
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("at most about 30 s"), "{err}");
    // 2,000 entries of 1,000,000 steps each: the total counts.
    let many = vec!["1000000"; 2000].join(",");
    let (code, _, err) = kl(&many);
    assert_eq!(code, 2, "{err}");
    // The model itself: linear in the steps and in the dimension.
    let w = diffsym::analysis::kl_work(&[999], 786);
    assert_eq!(w, 1000.0 * 1000.0);
}

/// Found by the fuzzer (issue 11): astro-float's correctly rounded `pow` never returns
/// when the power is exactly representable, and the certified evaluator asked it for one
/// (a bound on `sqrt` of a ball touching 0) while checking that this process is a noising
/// process at t = 1/2: `derive` ran for more than 10 minutes. The log-SNR tends to +inf
/// as t -> 1/2 from below and to -inf from above, so alpha^2 = sigmoid(log_snr) tends to 1
/// and to 0: the process is refused there, at once.
#[test]
fn an_exact_power_in_a_certified_bound_does_not_hang() {
    let f = crate::support::scratch_file(
        "pole_half.dsym",
        "process p {\n    log_snr(t) = 2/(1 - 2*t);\n}\n",
    );
    let (code, out, err) = crate::support::run(&["derive", &f]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("pole_half.dsym:1:9"), "{err}");
    assert!(
        err.contains("t = 1/2: the limits as t -> 1/2 from above and below differ"),
        "{err}"
    );
}

/// Found by the fuzzer (issue 11): an integer power with a 4097-digit exponent was
/// evaluated at a working precision of twice its bits (27,000), at every certified point:
/// 24 s for `derive` of `sigma(t) = t^1e4096 + t`, 47 s with `exp(-t^1e4096)`. Out of
/// range by far, such powers are now decided from exponents. alpha^2 = exp(-t^N), N =
/// 10^4096: at t = 1, alpha = exp(-1/2) = 0.60653065971263342 (to 17 digits); at t = 1/2
/// or 0.999999, t^N underflows every range (log2 of it is below -10^4090), so alpha = 1.
#[test]
fn a_power_with_a_huge_literal_exponent_is_decided_at_once() {
    let f = crate::support::scratch_file(
        "huge_exponent.dsym",
        "process p {\n    alpha_bar(t) = exp(-t^1e4096);\n}\n",
    );
    let eval = |t: &str| {
        let (code, out, err) = crate::support::run(&["eval", &f, "alpha", "--t", t]);
        assert_eq!(code, 0, "t = {t}: {err}");
        out.trim().to_owned()
    };
    assert_eq!(eval("1"), "0.60653065971263342");
    assert_eq!(eval("1/2"), "1.0000000000000000");
    assert_eq!(eval("0.999999"), "1.0000000000000000");
}

/// Found by the fuzzer (issue 11): gaussian_alpha_bar with `t^1e4096` for `t^2` has
/// g(t) = sqrt(12*10^4096*t^(10^4096 - 1)), a power t^((10^4096 - 1)/2) whose exponent is
/// beyond f64; the certified evaluator bounded it with an infinite slope and got a NaN
/// radius, which certified as NaN: `eval g --t 280/758` printed `NaN` (and in a debug build
/// an integer overflow panicked). At t = 280/758 the power underflows every range
/// (log2 of it is below -10^4095), so g = 0; at t = 1 it is 1.
#[test]
fn a_power_beyond_f64_is_never_nan() {
    let f = crate::support::scratch_file(
        "nan_power.dsym",
        "process p {\n    alpha_bar(t) = exp(-12*t^1e4096);\n    h(t) = sqrt(t^1e4096/t);\n}\n",
    );
    let eval = |name: &str, t: &str| {
        let (code, out, err) = crate::support::run(&["eval", &f, name, "--t", t]);
        assert_eq!(code, 0, "{name} at t = {t}: {err}");
        out.trim().to_owned()
    };
    assert_eq!(eval("g", "280/758"), "0");
    assert_eq!(eval("h", "1/3"), "0");
    assert_eq!(eval("h", "1"), "1.0000000000000000");
}
