//! `diffsym asymptotics`: the symbolic Euler-Maclaurin series of the DDIM KL against closed
//! forms, an independent quadrature of c_2, and the exact KL it must approach.

use std::f64::consts::PI;

use diffsym::analysis::{ProcessSchedule, ddim_coefficient};
use diffsym::expr::Pool;
use serde_json::Value;

use crate::support::{run, scratch_file};

const SOURCES: &str = "process wide { alpha(t) = 1 - t; sigma(t) = 2*t; }
process logish { alpha(t) = 1 - t; sigma(t) = t*(1 - log(t)); }
process eighth { alpha_bar(t) = 1 - t^(1/4); }
process mixed { alpha(t) = 1 - t; sigma(t) = sqrt(t)*(1 + t^(1/3))/2; }
process shifted_cosine { log_snr(t) = -2*log(tan(pi*t/2)) + 2*log(1/2); }
source half = gaussian(spectrum = [0.5]);
source one = gaussian(spectrum = [1]);
source spread = gaussian(spectrum = [1, 0.5, 0.1], mean = [1, 2, 3]);
source steep = gaussian(spectrum = [1, 0.5, 0.01]);
";

fn expansion(process: &str, source: &str, order: usize) -> Value {
    let f = scratch_file("asym.dsym", SOURCES);
    expansion_of(&f, process, source, order)
}

fn expansion_of(file: &str, process: &str, source: &str, order: usize) -> Value {
    let (code, out, err) = run(&[
        "asymptotics",
        file,
        "--process",
        process,
        "--source",
        source,
        "--order",
        &order.to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{process}/{source} order {order}: {err}");
    serde_json::from_str(&out).expect("json")
}

fn coefficient(v: &Value, power: u64) -> &Value {
    term(v, power as f64, 0)
}

/// The coefficient of N^-power (ln N)^log_power.
fn term(v: &Value, power: f64, log_power: u64) -> &Value {
    v["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["power"].as_f64() == Some(power) && c["log_power"] == log_power)
        .unwrap_or_else(|| panic!("no term N^-{power} ln^{log_power} N in {v}"))
}

#[test]
fn tangent_law_gives_closed_forms() {
    // Matched tangent (lambda0 = 1/2 on N(0, 1/2)): every step turns the angle by pi/(2N),
    // so u = -ln r = -2N ln cos(pi/(2N)) = J/N + b/N^3 + ... with J = pi^2/4, b = pi^4/96,
    // and KL = (e^u - 1 - u)/2 = J^2/(4N^2) + J^3/(12N^3) + (J^4/48 + J b/2)/N^4 + ...
    let v = expansion("tangent", "half", 4);
    let c2 = coefficient(&v, 2);
    assert_eq!(c2["expr"], "pi^4/64");
    assert_eq!(c2["exact"], true);
    let want = [
        (2, PI.powi(4) / 64.0),
        (3, PI.powi(6) / 768.0),
        (4, PI.powi(8) / 12288.0 + PI.powi(6) / 768.0),
    ];
    for (p, w) in want {
        let c = coefficient(&v, p);
        assert_eq!(c["exact"], true, "c_{p}");
        let got = c["value"].as_f64().unwrap();
        assert!(((got - w) / w).abs() < 1e-15, "c_{p}: {got} vs {w}");
    }
}

#[test]
fn leading_coefficient_matches_an_independent_quadrature() {
    // c_2 = (1/4) sum_i J_i^2 from analysis::ddim_coefficient (tanh-sinh on phi'^2 computed
    // numerically from alpha and sigma), not from the symbolic series.
    let text = std::fs::read_to_string("derivations/rectified_flow.dsym").unwrap()
        + &std::fs::read_to_string("derivations/cosine.dsym").unwrap()
        + &std::fs::read_to_string("derivations/tangent.dsym").unwrap();
    let ast = diffsym::syntax::parse_file(&text).expect("parses");
    let mut pool = Pool::new();
    let procs = diffsym::process::lower_file(&mut pool, &ast, &text, &[]).expect("lowers");
    for p in &procs {
        let sched = ProcessSchedule::new(&pool, p).unwrap();
        let want = ddim_coefficient(&sched, &[1.0, 0.5, 0.1], 0.0, 1.0).unwrap();
        let v = expansion(&p.name, "spread", 2);
        let got = coefficient(&v, 2)["value"].as_f64().unwrap();
        assert!(
            ((got - want) / want).abs() < 1e-10,
            "{}: c_2 {got} vs quadrature {want}",
            p.name
        );
    }
}

#[test]
fn the_series_meets_the_exact_kl_at_the_predicted_order() {
    // Error of the series truncated after N^-K falls like N^-(K+1): the check table's
    // observed order between N = 64 and 128 (where the error is still far above rounding).
    for (process, source) in [
        ("cosine", "spread"),
        ("rectified_flow", "one"),
        ("tangent", "spread"),
    ] {
        for order in [2, 4, 6] {
            let v = expansion(process, source, order);
            let row = v["check"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["steps"] == 128)
                .unwrap();
            let observed = row["observed_order"].as_f64().unwrap();
            assert!(
                (observed - (order + 1) as f64).abs() < 0.1,
                "{process}/{source} order {order}: observed {observed}"
            );
        }
    }
}

/// The last row of the check table with an observed order, which must be at N >= 2048
/// and agree with the order of the first omitted terms.
fn assert_order_met(v: &Value, what: &str) {
    let row = v["check"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["observed_order"].is_f64())
        .unwrap_or_else(|| panic!("{what}: no observed order"));
    let (steps, observed, expected) = (
        row["steps"].as_u64().unwrap(),
        row["observed_order"].as_f64().unwrap(),
        row["expected_order"].as_f64().unwrap(),
    );
    assert!(steps >= 2048, "{what}: resolved only up to N = {steps}");
    assert!(
        (observed - expected).abs() < 0.1,
        "{what}: observed order {observed} at N = {steps}, expected {expected}"
    );
}

#[test]
fn singular_angles_meet_the_exact_kl_at_the_predicted_order() {
    // sigma ~ sqrt(t) (cosine_nichol) and t^(1/4) with alpha ~ sqrt(1 - t) (lm_sqrt): the
    // KL is a series in N^(-1/q) and ln N. The error of the series truncated after N^-K,
    // against the exact product, falls like its first omitted terms (N^-5 times a
    // polynomial in ln N for cosine_nichol at K = 4, whose local slope is printed).
    for (process, source, order) in [
        ("cosine_nichol", "one", 2),
        ("cosine_nichol", "one", 4),
        ("cosine_nichol", "spread", 3),
        ("lm_sqrt", "one", 3),
        ("lm_sqrt", "one", 4),
        ("lm_sqrt", "spread", 4),
    ] {
        let v = expansion(process, source, order);
        assert_order_met(&v, &format!("{process}/{source} order {order}"));
        assert_eq!(v["coefficients"][0]["exact"], false);
    }
}

#[test]
fn singular_coefficients_match_closed_forms() {
    let spectrum = [1.0, 0.5, 0.1];
    // cosine_nichol: 1 - alpha_bar ~ c t with c = pi/(1+s) tan(pi s/(2(1+s))), so phi ~
    // sqrt(c t/lambda), phi'^2 ~ c/(4 lambda t) and u = -ln r ~ (c/(4 lambda)) ln N / N:
    // KL ~ u^2/4 has (ln N)^2/N^2 with coefficient sum_i c^2/(64 lambda_i^2).
    let s = 0.008;
    let c = PI / (1.0 + s) * (PI * s / (2.0 * (1.0 + s))).tan();
    let want: f64 = spectrum.iter().map(|l| c * c / (64.0 * l * l)).sum();
    let v = expansion("cosine_nichol", "spread", 3);
    assert_eq!(v["singular_ends"], serde_json::json!([{"t": 0, "q": 2}]));
    let got = term(&v, 2.0, 2)["value"].as_f64().unwrap();
    assert!(((got - want) / want).abs() < 1e-12, "{got} vs {want}");
    // lm_sqrt: rho = s/sqrt(1 - s^2) with s = t^(1/4), so the first step turns the angle by
    // N^(-1/4)/sqrt(lambda) and step k by (k^(1/4) - (k-1)^(1/4)) N^(-1/4)/sqrt(lambda):
    // u ~ S/(lambda sqrt(N)), S = sum_k (k^(1/4) - (k-1)^(1/4))^2, KL ~ sum_i S^2/(4
    // lambda_i^2) / N. S summed directly, with the tail's integral (terms ~ (k-1/2)^(-3/2)/16).
    let big = 1_000_000usize;
    let mut sum = 0.0f64;
    let mut comp = 0.0f64;
    for k in (1..=big).rev() {
        let d = (k as f64).powf(0.25) - ((k - 1) as f64).powf(0.25);
        let y = d * d - comp;
        let t = sum + y;
        comp = (t - sum) - y;
        sum = t;
    }
    let s_sum = sum + (big as f64).powf(-0.5) / 8.0;
    let want: f64 = spectrum.iter().map(|l| s_sum * s_sum / (4.0 * l * l)).sum();
    let v = expansion("lm_sqrt", "spread", 4);
    assert_eq!(
        v["singular_ends"],
        serde_json::json!([{"t": 0, "q": 4}, {"t": 1, "q": 2}])
    );
    let got = term(&v, 1.0, 0)["value"].as_f64().unwrap();
    assert!(((got - want) / want).abs() < 1e-10, "{got} vs {want}");
    // Its ln N / N terms: phi'^2 has d^-1 terms 3/(16 lambda) - 1/(8 lambda^2) at t = 0
    // (from phi = s/sqrt(lambda) + (1/(2 sqrt(lambda)) - 1/(3 lambda^(3/2))) s^3 + ...) and
    // lambda/8 at t = 1 (phi ~ pi/2 - sqrt(lambda (1 - t)/2)); u ~ A ln N/N gives
    // (ln N)^2/N^2 with coefficient sum_i A_i^2/4.
    let want: f64 = spectrum
        .iter()
        .map(|l| {
            let a = 3.0 / (16.0 * l) - 1.0 / (8.0 * l * l) + l / 8.0;
            a * a / 4.0
        })
        .sum();
    let got = term(&v, 2.0, 2)["value"].as_f64().unwrap();
    assert!(((got - want) / want).abs() < 1e-12, "{got} vs {want}");
}

#[test]
fn where_no_power_series_exists_the_command_says_why() {
    let f = scratch_file("asym.dsym", SOURCES);
    let cases: [(&[&str], &str); 7] = [
        (&["--process", "vp_linear"], "must be the marginal at t = 1"),
        // alpha(1) = 0 but sigma(1) = 2: the prior misses the marginal at t = 1.
        (&["--process", "wide"], "sigma(1) = 2"),
        // sigma ~ t (1 - ln t): no power series in t^(1/q) at t = 0.
        (&["--process", "logish"], "vanishes like d^0.98"),
        // sigma ~ sqrt(t) + t^(5/6): no power series in t^(1/2), found by the fit's check.
        (&["--process", "mixed"], "a series in d^(1/2) misses it"),
        // sigma ~ t^(1/8): order 8 needs 70 terms of the angle's series.
        (
            &["--process", "eighth", "--order", "8"],
            "at most 39 are derived",
        ),
        (
            &["--process", "cosine", "--sampler", "euler"],
            "no expansion",
        ),
        (&["--process", "cosine", "--order", "1"], "between 2 and"),
    ];
    for (args, want) in cases {
        let mut all = vec!["asymptotics", f.as_str(), "--source", "one"];
        all.extend_from_slice(args);
        let (code, out, err) = run(&all);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.is_empty(), "{args:?}: partial output {out}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// A schedule whose integrals have no closed form (rho = t exp(t - 1)/(1 - t)).
const EXP_FLOW: &str = "process exp_flow { alpha(t) = 1 - t; sigma(t) = t*exp(t - 1); }\n";

/// A process, a source, an order and the true values of what the command prints.
type Case = (
    &'static str,
    &'static str,
    usize,
    &'static [(&'static str, f64)],
);

#[test]
fn printed_errors_bound_the_true_errors() {
    // References: each integral the command names, integrated by mpmath.quad at 40 digits
    // (its printed integrand parsed, breakpoints at 2^-k and 1 - 2^-k), and each
    // coefficient's printed expression evaluated with those integrals, rounded to f64.
    // The printed error must cover the difference (plus two ulps for that rounding), and
    // stay a useful bound (below 1e-9 of the value).
    // Rational schedules (and the cosine family, by u = tan(pi t/2)) now close every
    // integral: their coefficients are exact, printed with error 0, and must be the
    // references to two ulps. exp_flow's integrals do not close: its printed quadrature
    // errors must cover the references (scripts/cosine_coefficients.py: c_2 = sum J_i^2/4,
    // c_3 = sum J_i^3/12 from mpmath's J_i = int phi_i'^2).
    let cases: [Case; 4] = [
        // lambda = 0.01 with rho = 2 tan(pi t/2): the integrands were polynomials in
        // cos(pi t/2)^2 with coefficients near 1e11 whose f64 values near t = 0 lose 11
        // digits (I2 was once printed 2.5e-4 off with "+- 1.0e-4").
        (
            "shifted_cosine",
            "steep",
            4,
            &[
                ("c_2", 159.19442181280607),
                ("c_3", 1268.7071194572918),
                ("c_4", 26722.885390794487),
            ],
        ),
        (
            "rectified_flow",
            "spread",
            6,
            &[
                ("c_2", 6.911223517449743),
                ("c_3", 7.326665134341223),
                ("c_4", 15.861097652582679),
                ("c_5", 21.025559092308825),
                ("c_6", 46.24819612663455),
            ],
        ),
        (
            "cosine",
            "steep",
            4,
            &[
                ("c_2", 42.04952597721722),
                ("c_3", 163.96300880912693),
                ("c_4", 1712.1415723636562),
            ],
        ),
        (
            "exp_flow",
            "steep",
            3,
            &[("c_2", 10.29159378153644), ("c_3", 14.002903861013117)],
        ),
    ];
    for (process, source, order, want) in cases {
        let f = scratch_file("asym.dsym", format!("{SOURCES}{EXP_FLOW}"));
        let v = expansion_of(&f, process, source, order);
        let integrals = v["integrals"].as_array().unwrap();
        let coefficients = v["coefficients"].as_array().unwrap();
        let closes = process != "exp_flow";
        assert_eq!(integrals.is_empty(), closes, "{process}");
        assert!(
            coefficients
                .iter()
                .all(|c| (c["exact"] == true && c["error"] == 0.0) == closes),
            "{process}"
        );
        assert_eq!(
            coefficients.len(),
            want.len(),
            "{process}: the coefficients are not the ones the references are for"
        );
        for &(name, truth) in want {
            let printed = match name.strip_prefix("c_") {
                Some(p) => coefficient(&v, p.parse().unwrap()),
                None => integrals.iter().find(|i| i["name"] == name).unwrap(),
            };
            let value = printed["value"].as_f64().unwrap();
            let error = printed["error"].as_f64().unwrap();
            let off = (value - truth).abs();
            assert!(
                off <= error + 2.0 * f64::EPSILON * truth.abs(),
                "{process}/{source} {name}: {value} is {off:.2e} off {truth}, printed error {error:.2e}"
            );
            assert!(
                error <= 1e-9 * truth.abs(),
                "{process}/{source} {name}: error {error:.2e} is no useful bound"
            );
        }
    }
}

/// The check table's rows as (steps, relative difference of the expansion from the
/// exact KL).
fn relative_differences(v: &Value) -> Vec<(u64, f64)> {
    v["check"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let exact = r["kl_exact"].as_f64().unwrap();
            let series = r["kl_expansion"].as_f64().unwrap();
            (
                r["steps"].as_u64().unwrap(),
                ((series - exact) / exact).abs(),
            )
        })
        .collect()
}

/// From `from` steps on, the relative difference falls at every doubling of N until it
/// is down to `floor` (the rounding of the exact KL), and ends below `last`.
fn assert_falls(v: &Value, from: u64, floor: f64, last: f64, what: &str) {
    let rows = relative_differences(v);
    let rows: Vec<_> = rows.into_iter().filter(|r| r.0 >= from).collect();
    for w in rows.windows(2) {
        let ((n0, d0), (n1, d1)) = (w[0], w[1]);
        assert!(
            d1 < d0 || d1 < floor,
            "{what}: relative difference {d0:.2e} at N = {n0}, {d1:.2e} at N = {n1}: {rows:?}"
        );
    }
    let (n, end) = *rows.last().unwrap();
    assert!(end < last, "{what}: {end:.2e} at N = {n}: {rows:?}");
}

#[test]
fn a_steep_analytic_angle_expands_to_order_5() {
    // rho = 2 tan(pi t/2) and lambda = 0.01: phi = atan(20 tan(pi t/2)) is analytic at
    // t = 0, but its boundary terms there (odd derivatives of even functions, exactly 0)
    // were compared with their values at t = 2^-100, which the steep angle makes larger
    // than the tolerance: "boundary term not finite at t = 0". The series must meet the
    // exact KL at order 6.
    let v = expansion("shifted_cosine", "steep", 5);
    let row = v["check"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["steps"] == 1024)
        .unwrap();
    let observed = row["observed_order"].as_f64().unwrap();
    assert!((observed - 6.0).abs() < 0.1, "observed order {observed}");
    assert_falls(&v, 64, 1e-12, 1e-7, "shifted_cosine/steep order 5");
}

#[test]
fn high_orders_with_a_singular_end_meet_the_exact_kl() {
    // Orders 7 and 8 of cosine_nichol printed a negative series, 100% off the exact KL at
    // every N >= 512: its N^-2 and N^-3 terms had been dropped as "negligible" next to a
    // spurious N^-8 coefficient of 3e14, itself the f64 noise of a quadrature near t = 0.
    for order in [7, 8] {
        let v = expansion("cosine_nichol", "spread", order);
        let what = format!("cosine_nichol/spread order {order}");
        assert!(
            term(&v, 2.0, 2)["value"].as_f64().unwrap() > 0.0,
            "{what}: the leading (ln N)^2/N^2 term"
        );
        // Down to the rounding of the exact KL (1e-12 of it) by N = 2048.
        assert_falls(&v, 32, 1e-11, 1e-11, &what);
    }
}

#[test]
fn the_readme_digits_example_meets_the_exact_kl() {
    // README: `diffsym asymptotics derivations/data/digits.dsym --process cosine --source
    // digits --order 4`. lambda_min = 1.6e-6 makes the angle steep at t = 0 (the same false
    // "not finite at t = 0" as above) and its integrands cancel in f64. The series is only
    // useful for N beyond pi/(2 sqrt(lambda_min)) = 1238, but its difference from the exact
    // KL the command tabulates falls at every doubling of N.
    let v = expansion_of("derivations/data/digits.dsym", "cosine", "digits", 4);
    let rows = relative_differences(&v);
    for w in rows.windows(2) {
        assert!(w[1].1 < w[0].1, "{rows:?}");
    }
    let (n, last) = *rows.last().unwrap();
    assert!(n == 1024 && last < 0.05, "{rows:?}");
    // Its 124 integrals cancel up to 23 digits near t = 0 (coefficients near 1e44 summing
    // to 3e20), beyond double-double. References: every integral by mpmath.quad at 40
    // digits, and the printed expressions of c_p evaluated with them (as above).
    for (p, truth) in [
        (2, 516682.2851379351),
        (3, 132703737.8450275),
        (4, 96396452025.68143),
    ] {
        let c = coefficient(&v, p);
        let (value, error) = (c["value"].as_f64().unwrap(), c["error"].as_f64().unwrap());
        assert!(
            (value - truth).abs() <= error + 2.0 * f64::EPSILON * truth,
            "c_{p}: {value} is {:.2e} off {truth}, printed error {error:.2e}",
            (value - truth).abs()
        );
        assert!(error <= 1e-12 * truth, "c_{p}: error {error:.2e}");
    }
}

#[test]
fn rational_schedules_have_exact_coefficients() {
    // rho rational in t: every integral of the series is one of a rational function and
    // closes (src/expr/ratint.rs). References: scripts/sd3_shift_coefficients.py (mpmath,
    // J_i = int phi_i'^2 at 50 digits, c_2 = sum J_i^2/4, c_3 = sum J_i^3/12).
    let v = expansion("sd3_shift", "spread", 4);
    assert!(v["integrals"].as_array().unwrap().is_empty());
    for (power, want, closed) in [
        (
            2,
            26.58006434558887,
            "3/4 + 5*pi/12 + 5543*pi^2/2880 + 19*sqrt(2)*pi/48 + 91*sqrt(10)*pi/240",
        ),
        (3, 63.41691227905888, ""),
    ] {
        let c = coefficient(&v, power);
        assert_eq!(c["exact"], true);
        assert_eq!(c["error"], 0.0);
        let value = c["value"].as_f64().unwrap();
        assert!(
            (value - want).abs() <= 2.0 * f64::EPSILON * want,
            "c_{power} = {value}"
        );
        if !closed.is_empty() {
            assert_eq!(c["expr"], closed);
        }
    }
    assert_eq!(coefficient(&v, 4)["exact"], true);
}
