//! `diffsym asymptotics`: the symbolic Euler-Maclaurin series of the DDIM KL against closed
//! forms, an independent quadrature of c_2, and the exact KL it must approach.

use std::f64::consts::PI;

use diffsym::analysis::{ProcessSchedule, ddim_coefficient};
use diffsym::expr::Pool;
use serde_json::Value;

use crate::support::{run, scratch_file};

const SOURCES: &str = "process wide { alpha(t) = 1 - t; sigma(t) = 2*t; }
source half = gaussian(spectrum = [0.5]);
source one = gaussian(spectrum = [1]);
source spread = gaussian(spectrum = [1, 0.5, 0.1], mean = [1, 2, 3]);
";

fn expansion(process: &str, source: &str, order: usize) -> Value {
    let f = scratch_file("asym.dsym", SOURCES);
    let (code, out, err) = run(&[
        "asymptotics",
        &f,
        "--process",
        process,
        "--source",
        source,
        "--order",
        &order.to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{process}/{source}: {err}");
    serde_json::from_str(&out).expect("json")
}

fn coefficient(v: &Value, power: u64) -> &Value {
    v["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["power"] == power)
        .expect("coefficient present")
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

#[test]
fn where_no_power_series_exists_the_command_says_why() {
    let f = scratch_file("asym.dsym", SOURCES);
    let cases: [(&[&str], &str); 7] = [
        (&["--process", "vp_linear"], "must be the marginal at t = 1"),
        // alpha(1) = 0 but sigma(1) = 2: the prior misses the marginal at t = 1.
        (&["--process", "wide"], "sigma(1) = 2"),
        // sigma ~ sqrt(t) at t = 0: phi' ~ t^(-1/2), no expansion in powers of 1/N; at
        // order 2 there is no boundary term, so this must be caught up front.
        (&["--process", "cosine_nichol"], "needs phi smooth"),
        (
            &["--process", "cosine_nichol", "--order", "2"],
            "needs phi smooth",
        ),
        (
            &["--process", "lm_sqrt", "--order", "2"],
            "needs phi smooth",
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
