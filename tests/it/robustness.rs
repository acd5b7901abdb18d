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

/// Found by the fuzzer: multiplying out (a + b t)^7 with a = 10^(-4096/7) made products of
/// 4000-digit coefficients that no work allowance counted (31 s of `derive` under load).
/// Expansion now charges each product by its coefficients' size, as the sparse arithmetic
/// does, and gives up within the process's allowance.
#[test]
fn expanding_products_of_huge_coefficients_is_charged_to_the_work_allowance() {
    let f = crate::support::scratch_file(
        "huge_expand.dsym",
        "process k { sigma(t) = (1e-4096^(1/7) + t*(80^(1/7) - 1e-4096^(1/7)))^7; }\n",
    );
    let (code, out, err) = crate::support::run(&["derive", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("process k"), "{out}");
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

/// A process within the range of f64 whose formula holds a constant beyond it: generated
/// code cannot hold `exp(800)`, and `emit` wrote it as `inf` (a module that did not
/// compile, with every function failed, exit 1). It is refused where the process is
/// defined, with the constant named, and nothing is written.
#[test]
fn a_constant_beyond_f64_in_a_formula_is_refused_by_emit() {
    let f = crate::support::scratch_file(
        "huge_constant.dsym",
        "process p {\n    alpha(t) = 1 - t;\n    sigma(t) = exp(800)*t/(1 + exp(800)*t);\n}\n",
    );
    let out = crate::support::scratch_dir().join(format!("huge-constant-{}", std::process::id()));
    let out_s = out.to_string_lossy().into_owned();
    let (code, stdout, err) = crate::support::run(&["emit", &f, "--out", &out_s]);
    assert_eq!((code, stdout.as_str()), (2, ""), "{err}");
    assert!(err.contains("huge_constant.dsym:1:9"), "{err}");
    assert!(
        err.contains("`exp(800)` is outside the range of f64"),
        "{err}"
    );
    assert!(!out.exists(), "no partial output");
}

/// Issue 11, item 4: `schedule --steps 1000` ran for more than 600 s (coordinate descent,
/// N^2 d). The search's size is bounded by what it refines in about 20 s for the sampler and
/// the source's dimension, and beyond it refused at once.
#[test]
fn a_grid_search_too_large_to_finish_is_refused() {
    use diffsym::analysis::{Sampler, max_grid_search_steps};
    let f = crate::support::scratch_file(
        "s3.dsym",
        "source S = gaussian(spectrum = [1, 0.5, 0.1]);\n",
    );
    // The case, 1000 steps on the 64-eigenvalue digits, is within every bound.
    for sampler in Sampler::ALL {
        assert!(max_grid_search_steps(sampler, 64) >= 1000, "{sampler:?}");
    }
    for sampler in [Sampler::Ddim, Sampler::Heun] {
        let most = max_grid_search_steps(sampler, 3);
        assert!((1000..100_000).contains(&most), "{most}");
        let steps = (most + 1).to_string();
        let args = [
            "schedule",
            &f,
            "--source",
            "S",
            "--process",
            "cosine",
            "--sampler",
            sampler.name(),
            "--steps",
            &steps,
        ];
        let (code, out, err) = crate::support::run(&args);
        assert_eq!((code, out.as_str()), (2, ""), "{err}");
        assert!(err.contains(&format!("at most {most}")), "{err}");
    }
    assert!(max_grid_search_steps(Sampler::Heun, 3) < max_grid_search_steps(Sampler::Ddim, 3));
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
    let w = diffsym::analysis::kl_work(&[999], 7000);
    assert_eq!(w, 1000.0 * 10_000.0);
}

/// `alpha(t) = exp(-(sum_{k=1}^{n} k/(k+1) t^k))` with `sigma = sqrt(1 - alpha^2)`: the
/// issue's long-sum file.
fn long_sum(n: usize) -> String {
    let terms: Vec<String> = (1..=n).map(|k| format!("{k}/{}*t^{k}", k + 1)).collect();
    format!(
        "process p {{\n  alpha(t) = exp(-({}));\n  sigma(t) = sqrt(1 - alpha(t)^2);\n}}\n",
        terms.join(" + ")
    )
}

/// Issue 11, item 2: a flat sum of 40,000 terms ran `derive` for 3 minutes and overflowed
/// the stack. A definition's size is bounded (`process::MAX_LOWERED_SIZE`), and the file
/// is refused at the definition, before any simplification.
#[test]
fn an_expression_beyond_the_size_bound_is_refused_at_once() {
    let f = crate::support::scratch_file("sum40000.dsym", long_sum(40_000));
    let (code, out, err) = crate::support::run(&["derive", &f]);
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty());
    assert!(err.contains("diffsym::lower::too_large"), "{err}");
    assert!(err.contains("sum40000.dsym:2:3"), "at `alpha`: {err}");
}

/// Issue 11, item 2: within the bound, long sums are derived; every printed formula still
/// carries all 300 terms (f = -(sum k^2/(k+1) t^(k-1)), exactly).
#[test]
fn a_sum_of_300_terms_is_derived_exactly() {
    let f = crate::support::scratch_file("sum300.dsym", long_sum(300));
    let (code, out, err) = crate::support::run(&["derive", &f, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let quantities = v["processes"][0]["quantities"]
        .as_array()
        .expect("quantities");
    let f_text = quantities
        .iter()
        .find(|q| q["name"] == "f")
        .and_then(|q| q["text"].as_str())
        .expect("f");
    // d/dt of -(k/(k+1)) t^k is -(k^2/(k+1)) t^(k-1): the last term is -90000/301*t^299.
    assert!(f_text.starts_with("-1/2 - 4*t/3 - 9*t^2/4"), "{f_text}");
    assert!(f_text.ends_with("- 90000*t^299/301"), "{f_text}");
}

/// `f0(u) = u; fk(u) = sin(f(k-1)(u))` for k <= n, and a process built on `fn`.
fn chain(n: usize) -> String {
    let mut s = String::from("process p {\n  f0(u) = u;\n");
    for k in 1..=n {
        s.push_str(&format!("  f{k}(u) = sin(f{}(u));\n", k - 1));
    }
    s.push_str(&format!(
        "  alpha(t) = 1 - t*f{n}(t)/2;\n  sigma(t) = t;\n}}\n"
    ));
    s
}

/// Issue 11: a chain of 5,000 user functions, each calling the one before, nests 5,000
/// deep once inlined and ran `check` for minutes (the work grows faster than the depth).
/// The depth of a definition is bounded, and the first one beyond the bound is named.
#[test]
fn a_chain_of_definitions_beyond_the_depth_bound_is_refused_where_it_crosses_it() {
    let f = crate::support::scratch_file("chain5000.dsym", chain(5000));
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("diffsym::lower::too_deep"), "{err}");
    assert!(
        err.contains("chain5000.dsym:102:3"),
        "f100 is on line 102: {err}"
    );
    // Within the bound the same construction is checked (sin is odd and increasing, so
    // g2 >= 0 is provable here only by sampling or range analysis; either is fine).
    let f = crate::support::scratch_file("chain90.dsym", chain(90));
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Issue 11: `h0(u) = u*(2 - u)` composed with itself: the rational normal forms grow in
/// coefficient size, not in terms, and ran for minutes. The polynomial work is bounded,
/// and the checks still come out right: alpha = 1 - h(h(h(h(t/2)))) = (1 - t/2)^16, so
/// g2 = 2 t (1 + 8 t/(1 - t/2)) > 0 (a false FAILED came from f64 cancellation).
#[test]
fn self_composed_polynomials_are_checked_within_the_work_bound() {
    let text = "process p {\n  h0(u) = u*(2 - u);\n  h1(u) = h0(h0(u));\n  h2(u) = h1(h1(u));\n  alpha(t) = 1 - h2(t/2);\n  sigma(t) = t;\n}\n";
    let f = crate::support::scratch_file("compose.dsym", text);
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("FAILED"), "{out}");
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

/// Issue 11: an assertion inlines the functions it calls as a definition does, so it is
/// bounded the same way, and refused at its `assert`.
#[test]
fn an_assertion_beyond_the_depth_bound_is_refused_at_its_assert() {
    let mut text = String::from("process p {\n  f0(u) = u;\n");
    for k in 1..=80 {
        text.push_str(&format!("  f{k}(u) = sin(f{}(u));\n", k - 1));
    }
    text.push_str("  alpha(t) = 1 - t/2;\n  sigma(t) = t;\n");
    text.push_str(&format!(
        "  assert {}f80(t){} == 0;\n}}\n",
        "sin(".repeat(30),
        ")".repeat(30)
    ));
    let f = crate::support::scratch_file("deep_assert.dsym", text);
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("diffsym::lower::too_deep"), "{err}");
    assert!(
        err.contains("deep_assert.dsym:85:3"),
        "the assert is on line 85: {err}"
    );
    assert!(err.contains("assertion's left side"), "{err}");
}

/// Found by the fuzzer (this stop): an exponent read exactly from `1e-4096` has a
/// 13,610-bit denominator, and every combination of powers of its base reduced it with
/// big-integer GCDs: deriving the fields took 17 s. Exponents are bounded at lowering,
/// refused at the definition that holds one.
#[test]
fn an_exponent_beyond_its_bound_is_refused_at_the_definition() {
    let text = "process k {\n  param m = 0.002;\n  sigma(t) = (m^(1e-4096/7) + t)^7;\n}\n";
    let f = crate::support::scratch_file("huge_exponent.dsym", text);
    let (code, out, err) = crate::support::run(&["derive", &f]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("error[diffsym::lower::too_large]"), "{err}");
    assert!(err.contains("exponent whose denominator has"), "{err}");
    assert!(err.contains(":3:3"), "{err}");
    // An exponent of 150 digits is still a value.
    let ok = format!(
        "process k {{\n  sigma(t) = t^(1/{});\n}}\n",
        "7".repeat(150)
    );
    let f = crate::support::scratch_file("long_exponent.dsym", ok);
    let (code, _, err) = crate::support::run(&["derive", &f]);
    assert_eq!(code, 0, "{err}");
}

/// Found by the fuzzer (this stop): cos of the computed 12,867-bit integer 48^2304 needs
/// argument reduction at more than 12,867 bits, and the validity check redid it at every
/// sample and precision (24 s). Constant subexpressions are now evaluated once per
/// precision (`expr::ball`'s cache of constants).
#[test]
fn a_costly_constant_is_evaluated_once_per_precision() {
    let f = crate::support::scratch_file(
        "costly_constant.dsym",
        "process p {\n    param a = 48;\n    sigma(t) = sin(a^cos(a^a^2));\n}\n",
    );
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 failed"), "{out}");
}

/// Found by the fuzzer (stop 11): `num_rational`'s `Hash` walks a rational's continued
/// fraction, one big division per partial quotient, and interning `(331/125)^4000` in the
/// validity check's forms hashed it over and over (19 s before it was refused). Nodes
/// now hash a rational by its reduced numerator and denominator.
#[test]
fn a_huge_rational_constant_is_interned_at_the_cost_of_its_digits() {
    let f = crate::support::scratch_file(
        "huge_rational.dsym",
        "process p {\n  param c = 2.648;\n  bb(u) = integrate(c + s, s, 0, u);\n  alpha(t) = 1 - t;\n  sigma(t) = -tanh(bb(t))*((2*2.648)^1000)^4;\n}\n",
    );
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("sigma(t) is outside the range of f64 at t = 1"),
        "{err}"
    );
    assert!(err.contains(":1:9"), "{err}");
}

/// Found by the million-case fuzz run (stop 12): a log-SNR times 1e598 put sigmoid's
/// argument beyond every precision the certified evaluator tried, and the slope bound 1/4
/// carried the argument's width over (derive took 14.7 s). Where the whole ball is beyond
/// |x| > p, sigmoid is next to 0 or 1, whatever the width.
#[test]
fn sigmoid_of_a_huge_log_snr_is_decided_at_once() {
    let f = crate::support::scratch_file(
        "huge_log_snr.dsym",
        "process p {\n    param a = 1e300;\n    log_snr(t) = (-2*log(tan(pi*t/2)) + 2*log(39))*(1 + (a + 2)^2/100);\n}\n",
    );
    let (code, out, err) = crate::support::run(&["eval", &f, "alpha", "--t", "0.3"]);
    assert_eq!((code, out.trim()), (0, "1.0000000000000000"), "{err}");
    // sigma = sqrt(sigmoid(-L)), L about 8.8e597: below the smallest subnormal.
    let (code, out, err) = crate::support::run(&["eval", &f, "sigma", "--t", "0.3"]);
    assert_eq!((code, out.trim()), (0, "0"), "{err}");
}

/// Found by the million-case fuzz run (stop 12): `tan(pi t/1e-4096)` needs an argument
/// reduction of more than 13,600 bits, and the validity check did it at every sample and
/// precision (over 60 s). A ball wider than a period is [-1, 1] for sin and cos, and
/// uncertain for tan, without reducing anything.
#[test]
fn trigonometry_of_a_huge_argument_is_refused_at_once() {
    let f = crate::support::scratch_file(
        "huge_trig.dsym",
        "process p {\n    log_snr(t) = -2*log(tan(pi*t/1e-4096)) + 2*log(1/2);\n}\n",
    );
    let (code, out, err) = crate::support::run(&["derive", &f]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("error[diffsym::process::invalid]"), "{err}");
    assert!(err.contains("huge_trig.dsym:1:9"), "{err}");
}

/// Found by the million-case fuzz run (stop 12): `tan(9.3e1768 t)` is a narrow ball only
/// at 8192 bits, where each sample reduces a 5,900-bit argument (derive took 54 s).
/// Certified evaluation has a work allowance per process, counted in operand words.
#[test]
fn certified_evaluation_beyond_its_allowance_is_refused() {
    let f = crate::support::scratch_file(
        "costly_samples.dsym",
        "process p {\n    log_snr(t) = 8.353*(1 - 2*t)^3 + (tan(9.3E1768*t))^2/1000;\n}\n",
    );
    let (code, out, err) = crate::support::run(&["derive", &f]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("certified evaluation would take more than its work allowance"),
        "{err}"
    );
    assert!(err.contains("costly_samples.dsym:1:9"), "{err}");
}

/// Found by the million-case fuzz run (stop 12): a log-SNR times 125.6 derives through
/// exact divisions whose running remainder swells far beyond the divisor's coefficients,
/// and only the products were charged (6.4 s of CPU for 4e6 units; now 2.9 s). The sum
/// with the coefficient already there is charged too.
#[test]
fn swelling_exact_divisions_are_charged_as_they_grow() {
    let f = crate::support::scratch_file(
        "swelling.dsym",
        "process p {\n    param beta_max = 38;\n    log_snr(t) = (-2*log(t/(1 - t)) + 1.684)*(1 + (3*beta_max + -2.25)^2/100);\n    assert rho(t) == sigma(t)/alpha(t);\n}\n",
    );
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 failed"), "{out}");
}

/// Found this stop: the derivatives of n nested functions print as trees of size about
/// n^2/2, and every emitted function's documentation showed its formula: 495 nested `sin`
/// made a 205 MB module (and `--verify` ran 162 s). Formulas over 8,000 characters are
/// left out of the documentation (`derive` prints them), and definitions are at most 100
/// deep.
#[test]
fn emitted_documentation_leaves_out_formulas_too_long_to_read() {
    let f = crate::support::scratch_file("chain60.dsym", chain(60));
    let out = crate::support::scratch_dir().join(format!("chain60-{}", std::process::id()));
    let out_s = out.to_string_lossy().into_owned();
    // The documentation does not depend on the accuracy: the plain form spares the
    // search for the cheapest form (its work allowance on long programs is tested in
    // `codegen::budget`).
    let (code, _, err) = crate::support::run(&["emit", &f, "--accuracy", "fast", "--out", &out_s]);
    assert_eq!(code, 0, "{err}");
    let code = std::fs::read_to_string(out.join("p.rs")).expect("written");
    assert!(code.len() < 1_000_000, "{} bytes", code.len());
    assert!(code.contains("characters of LaTeX, is left out here"));
    // Short formulas are still shown.
    assert!(code.contains("\\sigma(t) = t"), "sigma's formula");
}

/// Found by the million-case fuzz run (stop 12): `tan(27*4^(10^6))`, a constant of two
/// million bits, in an assertion and a user function. The 256-bit fast path of the checks
/// and `eval`'s certified value reduced the argument at every sample, outside any
/// allowance (over 60 s). Plain high-precision evaluation is charged like the certified
/// one, and `eval` runs within the process's allowance.
#[test]
fn a_constant_of_millions_of_bits_is_refused_by_check_and_eval() {
    let f = crate::support::scratch_file(
        "million_bits.dsym",
        "process p {\n    c(u) = tan(3^3*4^(10^6));\n    alpha(t) = cos(pi*t/2);\n    sigma(t) = sin(pi*t/2);\n    assert 1*0.25/(t/0.008) == c(t^1000);\n}\n",
    );
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "right side undefined (certified evaluation would take more than its work allowance"
        ),
        "{out}"
    );
    let (code, out, err) = crate::support::run(&["eval", &f, "c", "--t", "0.5"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("work allowance"), "{err}");
}

/// Integrals with no closed form whose derivatives grow long (fuzz seed 20000, cases 6861
/// and 16742: 13 s and 20 s in `lower` before the derivatives' simplification and the
/// quadrature plans were bounded): `check` answers, with a result or a diagnostic.
#[test]
fn named_integrals_with_long_derivatives_are_answered() {
    for beta in [
        "(8.175e0*(1 + cos(pi*t))/2 + 0.222)*exp(-t*((3e2 + t)^(1/3))^2/100)",
        "(0.586 + t*(5.925 - 0.586))*exp(-t*(integrate(r*exp(3*r), r, 0, t))^2/100)",
    ] {
        let file = crate::support::scratch_file(
            "long.dsym",
            format!("process p {{\n    beta(t) = {beta};\n}}\n"),
        );
        let (code, out, err) = crate::support::run(&["check", &file]);
        assert!(
            code == 0 || (code == 2 && err.contains("error")),
            "{beta}: {code}\n{out}{err}"
        );
    }
}

/// A steep integrand with no closed form (fuzz seed 777, case 2686, minimised): the
/// validity check's limits evaluate `int_0^t 4 s exp(-9657^2 s^3) ds` on about 100 Taylor
/// panels each, some 12,000 certified panels in all (over 30 s before quadrature was
/// charged to the work allowance by the node). It is refused at the definition instead.
#[test]
fn quadrature_of_a_steep_integrand_is_charged_to_the_work_allowance() {
    let f = crate::support::scratch_file(
        "steep.dsym",
        "process p{beta(t)=(4*t)*exp(-t*((t)*9657)^2/1);}\n",
    );
    let (code, out, err) = crate::support::run(&["derive", &f]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("certified evaluation would take more than its work allowance"),
        "{err}"
    );
    assert!(err.contains("steep.dsym:1:9"), "{err}");
}

/// A product of sixty `1e-4096` (fuzz seed 5000, case 117608): each product of the
/// running fraction reduced it by `gcd(1, 10^k)`, which num-bigint's binary GCD takes
/// quadratic time for (20 s). The cross GCDs now skip a unit and take one Euclidean step
/// first, and the assertion is refused by its size at once.
#[test]
fn a_product_of_tiny_literals_is_reduced_without_quadratic_gcds() {
    let product = vec!["1e-4096"; 60].join("*");
    let f = crate::support::scratch_file(
        "tiny_product.dsym",
        format!(
            "process ve {{\n    sigma(t) = 0.01*5000^t;\n    assert g2(t) == {product}*sigma(t)^2;\n}}\n"
        ),
    );
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("tiny_product.dsym:3:5"), "{err}");
}

/// exp(u) and exp(-u) are one generator and its inverse in `together` (fuzz seed 5000,
/// cases 110293 and 111193): under `log_snr = -2 log(t/(1 - t)) + 2` the v-parameterised
/// velocity's x coefficient, alpha alpha' + sigma sigma', is 0 but was not proved so, and
/// `emit` measured its rounding noise against a reference of 0 (exit 1, 4e18 ulps).
#[test]
fn exponentials_of_opposite_arguments_cancel() {
    let f = crate::support::scratch_file(
        "opposite_exp.dsym",
        "process p {\n    log_snr(t) = -2*log(t/(1 - t)) + 2;\n    assert 1/(1 + exp(2)*(1 - t)^2/t^2) == 1 - 1/(1 + t^2*exp(-2)/(1 - t)^2);\n    assert alpha(t)*alpha'(t) + sigma(t)*sigma'(t) == 0;\n}\n",
    );
    let (code, out, err) = crate::support::run(&["check", &f]);
    assert_eq!(code, 0, "{out}{err}");
    for line in [3, 4] {
        let verdict = out
            .lines()
            .find(|l| l.starts_with(&format!("{f}:{line}:")))
            .unwrap_or_else(|| panic!("no verdict for line {line}:\n{out}"));
        assert!(verdict.ends_with("proved"), "{verdict}");
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap();
    let (code, out, err) = crate::support::run(&["emit", &f, "--process", "p", "--out", dir]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("FAILED"), "{out}");
}

/// Fuzz seed 1, case 2648: `integrate(expm1(6 - y), y, 0, t)` stayed a named integral,
/// while its printed text, read back, had a closed form (through `exp(6 - s) - 1`): the
/// printed `log_snr` did not read back as itself. The contract's round trip, on the case.
#[test]
fn an_integral_of_expm1_reads_back_as_it_prints() {
    let case = diffsym::fuzz::Case {
        text: "process p {\n    param a = 36.8;\n    param c = 7;\n    log_snr(t) = integrate(expm1(6 - y), y, 0, t);\n    assert g2(t) == c;\n}\n".to_owned(),
        data: Vec::new(),
    };
    let config = diffsym::fuzz::Config {
        seed: 1,
        ..Default::default()
    };
    let stats = diffsym::fuzz::check(&case, 2648, &config).expect("keeps the contract");
    assert!(stats.lowered, "{stats:?}");
}

/// Fuzz seed 42, case 98737: an error field's entry `log1p(1e300^(10^6))`, evaluated at
/// high precision outside every work allowance, charged more than 2^64 units (the
/// operand's words cubed) and left the thread's unbounded allowance at 0; every process
/// lowered afterwards on the same thread had none, and in the fuzzer's worker six `emit`s
/// thousands of cases later lost their poles at t = 0 (exit 1), each passing alone. The
/// contract now checks that a case leaves the allowances as it found them; this case
/// keeps it, and a process lowered after it on the same thread still evaluates.
#[test]
fn a_huge_value_outside_an_allowance_leaves_the_thread_its_work() {
    let config = diffsym::fuzz::Config {
        seed: 42,
        ..Default::default()
    };
    let huge = diffsym::fuzz::Case {
        text: "error E = linear(matrix = [[log1p(1e300^(10^6))]]);\n".to_owned(),
        data: Vec::new(),
    };
    diffsym::fuzz::check(&huge, 98737, &config).expect("keeps the contract");
    let f =
        crate::support::scratch_file("after_huge.dsym", "process p {\n    beta(t) = 12*t;\n}\n");
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = ["diffsym", "eval", &f, "alpha", "--t", "0.5"].map(std::ffi::OsString::from);
    let code = diffsym::cli::run(argv, &mut out, &mut err);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
}

/// Fuzz seed 14, case 9224: a score error with a pole at t = 1/2 has no Girsanov bound,
/// and `kl` said why as "has the value NaN" on a success (exit 0), which reads as a value
/// printed. The one-step sampler never evaluates it there, so its KL stands.
#[test]
fn a_score_error_with_a_pole_is_said_undefined_not_nan() {
    let f = crate::support::scratch_file(
        "pole.dsym",
        "error E = field([1/(t - 1/2)]);\n\nsource S = gaussian(cov = [[2]], mean = [0.096]);\n",
    );
    let (code, out, err) = crate::support::run(&[
        "kl",
        &f,
        "--process",
        "sub_vp",
        "--source",
        "S",
        "--score-error",
        "E",
        "--sampler",
        "dpm1",
        "--steps",
        "1",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("NaN") && !out.contains("inf"), "{out}");
    assert!(
        out.contains("bounds: none (the score error at t = 0.5 is undefined"),
        "{out}"
    );
}

/// Fuzz seed 17, case 19008: against a source with an eigenvalue of 1e308, the f64
/// decomposition's `||((E + E^T)/2 - S)(x - m)||^2` overflowed and `hodge` printed `inf`
/// with exit 0; the exact path already refused it. Now both refuse it, named.
#[test]
fn a_decomposition_beyond_f64_is_refused_not_printed_as_inf() {
    let f = crate::support::scratch_file(
        "huge.dsym",
        "source S = gaussian(spectrum = [1e308, 2.801, 2, 5]);\n\nprocess p {\n    sigma(t) = t;\n}\n\nerror E = linear(matrix = [[t/3 + 1/7, 5, 3, exp(-t)], [-0.25, 1.5, -6/1, -3/4], [0/2, 8/9, -0.25, 1 - t], [0.1, cos(pi*t/2), 2.25, 1.5]]);\n",
    );
    let (code, out, err) = crate::support::run(&[
        "hodge",
        &f,
        "--source",
        "S",
        "--error",
        "E",
        "--process",
        "p",
        "--t",
        "0.5",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(
            "the decomposition overflows f64: ||((E + E^T)/2 - S)(x - m)||^2 is not finite"
        ),
        "{err}"
    );
}

/// Fuzz seed 17, case 24501: `b(t) = integrate(abs(s), s, 0, t)` has no closed form in
/// its template (an argument of any sign), so `alpha(t) = exp(-b(t)/2)` kept a named
/// integral, while the same integral written with `t` (s in [0, 1], where abs(s) = s) is
/// t^2/2: the printed `alpha` read back as something else. A call with a time now
/// integrates it: int_0^t |s| ds = t^2/2 for t >= 0.
#[test]
fn an_integral_in_a_user_function_is_closed_once_called_with_a_time() {
    let text = "process p {\n    b(t) = integrate(abs(s), s, 0, t);\n    alpha(t) = exp(-b(t)/2);\n    sigma(t) = 1 - exp(-b(t));\n}\n";
    let f = crate::support::scratch_file("abs.dsym", text);
    let (code, out, err) = crate::support::run(&["derive", &f]);
    assert_eq!(code, 0, "{out}{err}");
    for line in [
        "b(t) = t^2/2",
        "alpha(t) = exp(-t^2/4)",
        "sigma(t) = 1 - exp(-t^2/2)",
    ] {
        assert!(out.contains(line), "{line} in\n{out}");
    }
    let case = diffsym::fuzz::Case {
        text: text.to_owned(),
        data: Vec::new(),
    };
    let stats = diffsym::fuzz::check(&case, 0, &diffsym::fuzz::Config::default())
        .expect("keeps the contract");
    assert!(stats.lowered, "{stats:?}");
}

/// Fuzz seed 17, case 37978: `exp(-t*(4^(10^6))^2/100)` in a beta. The integrator read the
/// argument as a rational function of t and formed the constant 4^(2*10^6) by two million
/// products (minutes); powers of coefficients beyond 2^16 bits are now no rational
/// function there, and the integral is refused at once.
#[test]
fn a_huge_constant_power_in_an_integrand_is_refused_at_once() {
    let f = crate::support::scratch_file(
        "huge_power.dsym",
        "process p {\n    param k = 29;\n    beta(t) = (k*(1 + cos(pi*t))/2 + 0.957)*exp(-t*(4^(10^6))^2/100);\n}\n",
    );
    let (code, out, err) = crate::support::run(&["derive", &f]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("cannot integrate beta in closed form"),
        "{err}"
    );
    assert!(err.contains("huge_power.dsym:3:5"), "{err}");
}

/// Fuzz seed 17, cases 63919 and 83491: a score error shifted by 1e300 (or a source
/// eigenvalue of 1e308) makes the Girsanov integral infinite, and `kl` explained it as
/// "levels differing by NaN" (inf - inf) on a success; the learned KL itself, about
/// 1e600, printed as `inf`, the mark of a degenerate output law, which it is not. The
/// exact KL did the same for a mean 1e300 standard deviations from 0. A KL beyond f64 is
/// now refused, and the bound's note names no NaN.
#[test]
fn a_kl_beyond_f64_is_refused_not_printed_as_inf() {
    let learned = crate::support::scratch_file(
        "far.dsym",
        "error E = linear(matrix = [[1.5, 0], [0, 1]], shift = [1e300, 0.1]);\n\nsource S = gaussian(spectrum = [2, 3]);\n",
    );
    let (code, out, err) = crate::support::run(&[
        "kl",
        &learned,
        "--process",
        "vp_linear",
        "--source",
        "S",
        "--score-error",
        "E",
        "--sampler",
        "euler",
        "--steps",
        "1",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("the KL of the learned euler sampler is beyond f64"),
        "{err}"
    );
    let note = crate::support::scratch_file(
        "note.dsym",
        "error E = linear(matrix = [[-3, 3/7], [1.5, -2]], shift = [-2/3, 2/3]);\n\nsource S = gaussian(spectrum = [1e308, 1/3]);\n",
    );
    let (code, out, err) = crate::support::run(&[
        "kl",
        &note,
        "--process",
        "vp_linear",
        "--source",
        "S",
        "--score-error",
        "E",
        "--sampler",
        "dpm1",
        "--steps",
        "1",
    ]);
    assert!(
        !out.contains("NaN") && !err.contains("NaN"),
        "{code}\n{out}{err}"
    );
    let exact = crate::support::scratch_file(
        "mean.dsym",
        "source S = gaussian(spectrum = [1e-300, 2], mean = [1e300, 1]);\n",
    );
    let (code, out, err) = crate::support::run(&[
        "kl",
        &exact,
        "--process",
        "vp_linear",
        "--source",
        "S",
        "--sampler",
        "euler",
        "--steps",
        "1",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("the KL of euler is beyond f64"), "{err}");
}

/// Found by the fuzzer (seed 19, case 9671): with `beta = t`, lowering the final Euler
/// step's coefficients near t = 0 made the stable rewrites recurse until the 256 MiB stack
/// of the binary overflowed; their nesting is now bounded (at 4096, run here on the
/// binary's stack). The step's x coefficient there, `t^2/4 - t^4/48 + ...`, cancels 2^-130
/// of its terms at the first interpolation node, which a 128-bit ball does not resolve; it
/// is now its Taylor polynomial, and the module meets its budget.
#[test]
fn a_linear_beta_emits_and_meets_its_budget() {
    let f = crate::support::scratch_file("beta_t.dsym", "process p {\n    beta(t) = t;\n}\n");
    let out_dir = std::path::Path::new(&f).with_file_name("out");
    let out_dir = out_dir.to_string_lossy().into_owned();
    let (code, out, err) = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || crate::support::run(&["emit", &f, "--out", &out_dir]))
        .expect("spawn")
        .join()
        .expect("emit returns");
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("FAILED"), "{out}");
}

/// Found by the fuzzer (seed 51, case 14513): with `beta = 29.1 t +
/// cosh(acos(1e-300))^2/1000`, the rational 10^-300 sets how deep a limit is sampled
/// (near 2^-1000), where `snr ~ 1/(beta_min t)` is beyond f64 at every distance. Three
/// values rounded to +inf alike were taken for a finite limit: `eval snr --t 0` said "is ,
/// outside the range of f64" (an empty value), and `emit` found no pole there, so the x0
/// velocities at t = 0 combined two infinite coefficients as `inf - inf` and failed their
/// budget. It diverges, as it does with
/// `cosh(acos(1/2))` in its place.
#[test]
fn a_divergence_beyond_f64_at_every_sampled_distance_is_infinite() {
    for constant in ["1e-300", "1/2"] {
        let f = crate::support::scratch_file(
            "deep_constant.dsym",
            format!("process p {{\n    beta(t) = 29.1*t + cosh(acos({constant}))^2/1000;\n}}\n"),
        );
        let (code, out, err) = crate::support::run(&["eval", &f, "snr", "--t", "0"]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains("tends to +inf as t -> 0"), "{constant}: {err}");
    }
}
