//! The shipped real-data source: derivations/data/digits64.txt parses as 64 positive
//! eigenvalues, and the CLI's gamma* equals (sum l / sum 1/l)^(1/4) computed here.

use crate::support::run;

const DSYM: &str = "derivations/data/digits.dsym";

/// The eigenvalues, read independently of the engine: `#` starts a comment.
fn spectrum() -> Vec<f64> {
    std::fs::read_to_string("derivations/data/digits64.txt")
        .expect("the spectrum is shipped")
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.parse::<f64>().expect("a number per line"))
        .collect()
}

#[test]
fn the_digits_spectrum_has_64_positive_entries() {
    let l = spectrum();
    assert_eq!(l.len(), 64);
    assert!(l.iter().all(|&x| x > 0.0 && x.is_finite()), "{l:?}");
    // Pixels in [0, 1]: each variance is at most 1/4, so the trace is at most 16.
    let trace: f64 = l.iter().sum();
    assert!(trace > 1.0 && trace < 16.0, "{trace}");
}

#[test]
fn gamma_star_of_the_digits_matches_the_formula() {
    let l = spectrum();
    let (a, b): (f64, f64) = (l.iter().sum(), l.iter().map(|x| 1.0 / x).sum());
    let want = (a / b).powf(0.25);
    let (code, out, err) = run(&["schedule", DSYM, "--source", "digits", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["dimension"], 64);
    let got = v["gamma_star"].as_f64().expect("number");
    assert!((got / want - 1.0).abs() < 1e-13, "{got} vs {want}");
}

#[test]
fn the_digits_file_is_not_part_of_the_bundled_library() {
    // It declares no process: `derive` and `check` have nothing to snapshot in it.
    assert!(
        diffsym::library::BUNDLED
            .iter()
            .all(|(n, _)| !n.contains("data/"))
    );
    let (code, out, err) = run(&[
        "kl",
        DSYM,
        "--process",
        "cosine",
        "--source",
        "digits",
        "--sampler",
        "ddim",
        "--steps",
        "10",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(d = 64)"), "{out}");
}

/// Issue 11: `schedule --steps 1000` on the digits took more than 600 s. Now it is searched
/// with the KL's gradient, and its result can be checked against docs/theory.md sections
/// 5-6: N^2 KL of DDIM tends to (1/4) sum J_i^2 of the grid's clock, at least the
/// unrestricted optimum's coefficient, which the optimal grid's clock should approach.
#[test]
fn a_thousand_step_optimal_grid_approaches_the_optimal_schedule() {
    let (code, out, err) = run(&[
        "schedule",
        DSYM,
        "--source",
        "digits",
        "--process",
        "cosine",
        "--steps",
        "1000",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let grid: Vec<f64> = v["grid"]
        .as_array()
        .expect("grid")
        .iter()
        .map(|t| t.as_f64().expect("time"))
        .collect();
    assert_eq!(grid.len(), 1001);
    assert_eq!((grid[0], grid[1000]), (0.0, 1.0));
    assert!(grid.windows(2).all(|w| w[0] < w[1]));
    let kl = v["kl_optimal_grid"].as_f64().expect("number");
    let coefficient = v["optimal_coefficient"].as_f64().expect("number");
    let n2kl = 1e6 * kl;
    assert!(
        (n2kl / coefficient - 1.0).abs() < 0.01,
        "{n2kl} vs {coefficient}"
    );
    assert!(kl < 1e-3 * v["kl_uniform_grid"].as_f64().expect("number"));
}
