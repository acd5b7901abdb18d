//! Gaussian-mixture sources and `diffsym stiffness` (issue 15).

use std::f64::consts::PI;

use crate::support::{run, scratch_file};

const OU: &str =
    "process ou {\n    alpha(t) = exp(-5*t);\n    sigma(t) = sqrt(1 - exp(-10*t));\n}\n";

fn stiffness(source: &str, args: &[&str]) -> (i32, serde_json::Value, String) {
    let f = scratch_file("mixture.dsym", format!("{OU}{source}\n"));
    let mut argv = vec![
        "stiffness",
        &f,
        "--process",
        "ou",
        "--source",
        "M",
        "--format",
        "json",
    ];
    argv.extend(args);
    let (code, out, err) = run(&argv);
    let v = if code == 0 {
        serde_json::from_str(&out).expect("JSON")
    } else {
        serde_json::Value::Null
    };
    (code, v, err)
}

#[test]
fn unit_variance_under_ou_gives_the_explicit_balanced_grid() {
    // sigma0 = 1: s^2 = 1, so A(t) = (D0^2/8)(1 - e^(-10 t)) and the balanced grid is
    // t_k = -ln(1 - (k/N)(1 - e^-10))/10 whatever D0 (docs/theory.md section 8).
    for means in ["[[-2, 0], [2, 0]]", "[[0, 0], [0.5, 0.5]]"] {
        let (code, v, err) = stiffness(
            &format!("source M = gmm(weights = [0.5, 0.5], means = {means}, var = 1);"),
            &["--segments", "8"],
        );
        assert_eq!(code, 0, "{err}");
        let grid: Vec<f64> = v["grid"]
            .as_array()
            .expect("grid")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect();
        assert_eq!(grid.len(), 9);
        for (k, t) in grid.iter().enumerate() {
            let r = k as f64 / 8.0;
            let want = -((1.0 - r) + r * (-10.0f64).exp()).ln() / 10.0;
            assert!(
                (t - want).abs() <= 1e-14 * want.max(1e-300) + 1e-300,
                "{means} {k}: {t} {want}"
            );
        }
        let d0: f64 = v["diameter"].as_f64().expect("D0");
        let a = v["A"].as_f64().expect("A");
        let want = d0 * d0 / 8.0 * -(-10.0f64).exp_m1();
        assert!((a - want).abs() <= 1e-14 * want, "{a} {want}");
    }
}

/// Numbers at the ends of the range a mixture may use are printed with the digits an f64
/// holds: `sigma0 = 1e-50` and `D0 = 2e100`, not fifty and a hundred zeros, and
/// log10 exp(A) of about 2.2e299 in scientific notation, not 300 digits of which 17 are
/// known. A = D0^2 (1 - alpha_1^2)/(8 sigma0^2 s_1^2) + (1/2) ln(s_1^2/sigma0^2) (the
/// closed form of the test below) is 5e299 to 17 digits here.
#[test]
fn stiffness_prints_numbers_at_the_ends_of_the_range_in_scientific_notation() {
    let f = scratch_file(
        "mixture_far.dsym",
        format!(
            "{OU}source M = gmm(weights = [0.5, 0.5], means = [[-1e100], [1e100]], var = 1e-100);\n"
        ),
    );
    let (code, out, err) = run(&["stiffness", &f, "--process", "ou", "--source", "M"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sigma0 = 1e-50, D0 = 2e100)"), "{out}");
    let a2 = (-10.0f64).exp();
    let log10 = 4e200 * (1.0 - a2) / (8e-100 * (1.0 - a2)) / std::f64::consts::LN_10;
    assert!(
        out.contains(&format!("amplification exp(A) = 10^({log10:.6e})")),
        "{out}"
    );
    assert!(!out.contains("0000000000000000000000000"), "{out}");
}

#[test]
fn the_closed_form_of_a_for_small_sigma0_and_the_bound_at_the_saddle() {
    // sigma0 < 1: A(1) - A(0) = (1/2) ln(s_1^2/sigma0^2) + D0^2 (1 - alpha_1^2)/(8 sigma0^2 s_1^2).
    let (code, v, err) = stiffness(
        "source M = gmm(weights = [0.3, 0.7], means = [[-1, 1], [2, -3]], var = 0.01);",
        &["--at", "0.25,-0.5"],
    );
    assert_eq!(code, 0, "{err}");
    let (var, d2) = (0.01f64, 9.0 + 16.0);
    let a2 = (-10.0f64).exp();
    let s2 = a2 * var + 1.0 - a2;
    let want = 0.5 * (s2 / var).ln() + d2 * (1.0 - a2) / (8.0 * var * s2);
    let got = v["A"].as_f64().expect("A");
    assert!((got - want).abs() <= 1e-13 * want, "{got} {want}");
    assert!(
        (v["log10_amplification"].as_f64().expect("log10") - want / std::f64::consts::LN_10).abs()
            < 1e-12 * want
    );
    for row in v["saddle"]
        .as_array()
        .expect("saddle")
        .iter()
        .chain(v["at"][0]["rows"].as_array().expect("rows"))
    {
        let (norm, bound) = (
            row["exact_norm"].as_f64().expect("n"),
            row["bound"].as_f64().expect("b"),
        );
        assert!(norm <= bound * (1.0 + 1e-12), "{row}");
    }
    for key in [
        "process",
        "source",
        "segments",
        "t_min",
        "t_max",
        "grid",
        "snr_levels",
        "A",
        "log10_amplification",
        "profile",
        "saddle",
    ] {
        assert!(!v[key].is_null(), "{key}");
    }
    let profile = v["profile"].as_array().expect("profile");
    assert!(
        profile
            .iter()
            .all(|r| r["L"].as_f64().is_some() && r["L_signed"].as_f64().is_some())
    );
}

#[test]
fn mixtures_are_refused_where_they_do_not_apply() {
    let (code, _, err) = stiffness(
        "source M = gmm(weights = [1, 1], means = [[0], [1]], covs = [[[1]], [[2]]]);",
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("do not share one isotropic variance"), "{err}");
    let f = scratch_file(
        "mixture_kl.dsym",
        "source M = gmm(weights = [1, 1], means = [[0], [1]], var = 1);\n",
    );
    let (code, out, err) = run(&[
        "kl",
        &f,
        "--process",
        "cosine",
        "--source",
        "M",
        "--sampler",
        "ddim",
        "--steps",
        "10",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("is a mixture of 2 components"), "{err}");
}

#[test]
fn a_one_component_mixture_is_the_gaussian_source() {
    let f = scratch_file(
        "mixture_one.dsym",
        "source G = gaussian(cov = [[0.5, 0.1], [0.1, 0.3]], mean = [1, -1]);\n\
         source M = gmm(weights = [2], means = [[1, -1]], covs = [[[0.5, 0.1], [0.1, 0.3]]]);\n",
    );
    let kl = |s: &str| {
        let (code, out, err) = run(&[
            "kl",
            &f,
            "--process",
            "vp_linear",
            "--source",
            s,
            "--sampler",
            "ddpm",
            "--steps",
            "7,30",
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        v["results"].clone()
    };
    assert_eq!(kl("G"), kl("M"));
}

#[test]
fn bad_mixtures_are_located() {
    let cases = [
        (
            "source M = gmm(weights = [], means = [], var = 1);",
            "diffsym::source::shape",
            ":1:26",
        ),
        (
            "source M = gmm(weights = [1, -2], means = [[0], [1]], var = 1);",
            "diffsym::source::value",
            ":1:30",
        ),
        (
            "source M = gmm(weights = [1, 1], means = [[0]], var = 1);",
            "diffsym::source::shape",
            ":1:42",
        ),
        (
            "source M = gmm(weights = [1, 1], means = [[0, 1], [1]], var = 1);",
            "diffsym::source::shape",
            ":1:51",
        ),
        (
            "source M = gmm(weights = [1], means = [[0, 1]], covs = [[[1, 2], [2, 1]]]);",
            "diffsym::source::covariance",
            ":1:57",
        ),
        (
            "source M = gmm(weights = [1], means = [[0]], var = -1);",
            "diffsym::source::value",
            ":1:52",
        ),
        (
            "source M = gmm(weights = [1], means = [[0]]);",
            "diffsym::source::argument",
            ":1:12",
        ),
        (
            "source M = gmm(weights = [1], means = [[0]], var = 1, covs = [[[1]]]);",
            "diffsym::source::argument",
            ":1:55",
        ),
    ];
    for (text, code_name, place) in cases {
        let f = scratch_file("mixture_bad.dsym", format!("{text}\n"));
        let (code, out, err) = run(&[
            "kl",
            &f,
            "--process",
            "cosine",
            "--source",
            "M",
            "--sampler",
            "ddim",
            "--steps",
            "4",
        ]);
        assert_eq!(code, 2, "{text}: {out}");
        assert!(
            err.contains(&format!("error[{code_name}]")),
            "{text}: {err}"
        );
        assert!(
            err.contains(&format!("mixture_bad.dsym{place}")),
            "{text}: {err}"
        );
    }
}

/// `flowmap FILE --process cosine --source SOURCE --from 0.9 --to 0.1 --x X` in JSON.
fn cosine_flowmap(file: &str, source: &str, x: &str) -> (i32, String, String) {
    run(&[
        "flowmap",
        file,
        "--process",
        "cosine",
        "--source",
        source,
        "--from",
        "0.9",
        "--to",
        "0.1",
        "--x",
        x,
        "--format",
        "json",
    ])
}

/// `flowmap` of a one-dimensional mixture against mpmath at 60 digits: the distribution
/// function at t = 0.9 inverted at t = 0.1 by bisection, and p_0.9(x)/p_0.1(y).
#[test]
fn the_flow_map_inverts_the_distribution_function() {
    let f = scratch_file(
        "flowmap.dsym",
        "source M = gmm(weights = [0.3, 0.7], means = [[-1], [2]], var = 0.25);\n\
         source Q = gmm(weights = [1, 1, 1], means = [[0, 0], [1, 0], [0, 1]], var = 0.3);\n",
    );
    let rows = [
        ("0.4", "1.8601082712740025054", "0.73006868109786766122"),
        ("-6", "-4.0333961110065369061", "0.52865831878890178955"),
        ("4.5", "4.1592579270781071834", "0.52642375753858176311"),
    ];
    for (x, y, jac) in rows {
        let y: f64 = y.parse().expect("a number");
        let jac: f64 = jac.parse().expect("a number");
        let (code, out, err) = cosine_flowmap(&f, "M", x);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(v["method"], "cdf");
        let got = v["y"][0].as_f64().expect("y");
        assert!(
            (got - y).abs() <= 2.0 * f64::EPSILON * y.abs(),
            "{x}: {got} against {y}"
        );
        let dj = v["jacobian"][0][0].as_f64().expect("jacobian");
        assert!((dj - jac).abs() <= 1e-13 * jac, "{x}: {dj} against {jac}");
        assert!(
            v["error_estimate"].is_null(),
            "{x}: {}",
            v["error_estimate"]
        );
    }
    // Three components in two dimensions are integrated, with an error estimate; not from
    // t = 1, where alpha = 0 under the cosine process.
    let (code, out, err) = run(&[
        "flowmap",
        &f,
        "--process",
        "cosine",
        "--source",
        "Q",
        "--from",
        "0.9",
        "--to",
        "0.1",
        "--x",
        "0.3,-0.2",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(v["method"].as_str().expect("method").starts_with("ode"));
    assert!(v["error_estimate"].as_f64().expect("estimate") < 1e-9);
    let (code, _, err) = run(&[
        "flowmap",
        &f,
        "--process",
        "cosine",
        "--source",
        "Q",
        "--from",
        "1",
        "--to",
        "0.1",
        "--x",
        "0,0",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("alpha = 0"), "{err}");
    let (code, _, err) = run(&[
        "flowmap",
        &f,
        "--process",
        "cosine",
        "--source",
        "M",
        "--from",
        "0.9",
        "--to",
        "0.1",
        "--x",
        "0,1",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("has 2 coordinates"), "{err}");
}

/// Far in a tail the flow map is the affine map of the component that rules it,
/// `y = a0 m + (sd0/sd1) (x - a1 m)`; its Jacobian is `sd0/sd1`, formed from the tails' hazards (the
/// two log densities, about -5e199 each at x = 1e100, cancelled to 0: the Jacobian was
/// printed as 1). Between two modes with almost no mass between them no digit of y is
/// known in double precision: an error, not y = -0.18 with 17 digits (the symmetric
/// source maps x = 0 to 0). Near the point where y crosses 0, the digits lost are printed
/// as an error estimate that bounds the error (against mpmath at 50 digits).
#[test]
fn the_flow_map_is_exact_in_far_tails_and_says_where_it_is_not() {
    let f = scratch_file(
        "flowmap_edges.dsym",
        "source M = gmm(weights = [0.3, 0.7], means = [[-1], [2]], var = 0.25);\n\
         source S = gmm(weights = [0.5, 0.5], means = [[-1], [1]], var = 0.01);\n\
         source G = gmm(weights = [0.5, 0.5], means = [[-0.1], [0.1]], var = 1);\n",
    );
    let flowmap = |source: &str, x: &str| cosine_flowmap(&f, source, x);
    let (a1, s1) = ((0.45 * PI).cos(), (0.45 * PI).sin());
    let (a0, s0) = ((0.05 * PI).cos(), (0.05 * PI).sin());
    let (sd1, sd0) = (
        (a1 * a1 * 0.25 + s1 * s1).sqrt(),
        (a0 * a0 * 0.25 + s0 * s0).sqrt(),
    );
    for x in [1e100, 1e30] {
        let (code, out, err) = flowmap("M", &format!("{x:e}"));
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        let want = 2.0 * a0 + sd0 / sd1 * (x - 2.0 * a1);
        let got = v["y"][0].as_f64().expect("y");
        assert!(
            (got - want).abs() <= 1e-14 * want,
            "{x}: {got} against {want}"
        );
        let dj = v["jacobian"][0][0].as_f64().expect("jacobian");
        let want = sd0 / sd1;
        assert!(
            (dj - want).abs() <= 1e-13 * want,
            "{x}: {dj} against {want}"
        );
    }
    let (code, _, err) = flowmap("S", "0");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ill-conditioned"), "{err}");
    // mpmath: the map of x = 1e-10 under G is 1.004766606880656e-10.
    let (code, out, err) = flowmap("G", "1e-10");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let got = v["y"][0].as_f64().expect("y");
    let bound = v["error_estimate"].as_f64().expect("an error estimate");
    let want = 1.004766606880656e-10;
    assert!(
        (got - want).abs() <= bound,
        "{got} against {want} within {bound}"
    );
    assert!(bound < 1e-13, "{bound}");
}

/// Under vp_linear, modes at +-1e6 sit at +-6600 at t = 1, and the prior's samples land
/// between them, where the exact map has no digits: `distill` says so (it measured the
/// students against arbitrary points of the gap before, a relative error of 1.0).
#[test]
fn distill_refuses_exact_maps_that_double_precision_does_not_determine() {
    let f = scratch_file(
        "distill_gap.dsym",
        "source W = gmm(weights = [0.5, 0.5], means = [[-1e6], [1e6]], var = 0.01);\n",
    );
    let (code, _, err) = run(&[
        "distill",
        &f,
        "--process",
        "vp_linear",
        "--source",
        "W",
        "--samples",
        "20",
        "--segments",
        "4",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ill-conditioned"), "{err}");
}

#[test]
fn plot_stiffness_draws_l_and_a_with_both_grids() {
    let dir = crate::support::scratch_dir();
    let out = dir.join("mixture_stiffness.svg");
    let out = out.to_str().expect("utf-8");
    let (code, stdout, err) = run(&[
        "plot",
        "stiffness",
        "examples/mixture.dsym",
        "--process",
        "ou",
        "--source",
        "M",
        "--segments",
        "4",
        "--out",
        out,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.starts_with("wrote "), "{stdout}");
    let svg = std::fs::read_to_string(out).expect("written");
    for label in ["L(t)", "A(t)", "balanced grid", "uniform grid"] {
        assert!(svg.contains(label), "{label}");
    }
    // Byte-identical on a second run.
    let again = dir.join("mixture_stiffness2.svg");
    let again = again.to_str().expect("utf-8");
    run(&[
        "plot",
        "stiffness",
        "examples/mixture.dsym",
        "--process",
        "ou",
        "--source",
        "M",
        "--segments",
        "4",
        "--out",
        again,
    ]);
    assert_eq!(svg, std::fs::read_to_string(again).expect("written"));
    let f = scratch_file(
        "plot_bad.dsym",
        "source M = gmm(weights = [1, 1], means = [[0], [1]], covs = [[[1]], [[2]]]);\n",
    );
    let bad = dir.join("mixture_bad.svg");
    let bad = bad.to_str().expect("utf-8");
    let (code, _, err) = run(&[
        "plot",
        "stiffness",
        &f,
        "--process",
        "cosine",
        "--source",
        "M",
        "--out",
        bad,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("isotropic"), "{err}");
    assert!(!std::path::Path::new(bad).exists());
}

#[test]
fn distill_reports_every_grid_and_converges_with_segments() {
    let args = [
        "distill",
        "examples/mixture.dsym",
        "--process",
        "ou",
        "--source",
        "U",
        "--segments",
        "4,16",
        "--samples",
        "64",
        "--seed",
        "3",
        "--t-min",
        "0.001",
        "--format",
        "json",
    ];
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    for key in [
        "process", "source", "student", "samples", "seed", "t_min", "t_max", "results",
    ] {
        assert!(!v[key].is_null(), "{key}");
    }
    let rows = v["results"].as_array().expect("results");
    assert_eq!(rows.len(), 8);
    let mse = |grid: &str, n: u64| {
        rows.iter()
            .find(|r| r["grid"] == grid && r["segments"] == n)
            .and_then(|r| r["relative_mse"].as_f64())
            .expect("a row")
    };
    for grid in ["uniform", "balanced", "logsnr", "karras"] {
        assert!(mse(grid, 16) < mse(grid, 4), "{grid}");
        assert!(mse(grid, 16) > 0.0);
    }
    // The same numbers again (samples from the seed, sums in sample order).
    let (_, again, _) = run(&args);
    assert_eq!(out, again);
    // A grid that does not exist is a row with a note, not an error.
    let (code, out, err) = run(&[
        "distill",
        "examples/mixture.dsym",
        "--process",
        "ou",
        "--source",
        "U",
        "--segments",
        "4",
        "--samples",
        "8",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let logsnr = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["grid"] == "logsnr")
        .expect("logsnr row")
        .clone();
    assert!(
        logsnr["relative_mse"].is_null() && logsnr["note"].is_string(),
        "{logsnr}"
    );
    let (code, _, err) = run(&[
        "distill",
        "examples/mixture.dsym",
        "--process",
        "ou",
        "--source",
        "U",
        "--samples",
        "100000",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("100000"), "{err}");
    // Work beyond what a run may do is refused before it starts.
    let (code, _, err) = run(&[
        "distill",
        "examples/mixture.dsym",
        "--process",
        "ou",
        "--source",
        "U",
        "--samples",
        "5000",
        "--segments",
        "100000",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("more than the work one run may do"), "{err}");
}

/// `alpha = e^(-1500 t)`: from t = 0.236 on, alpha^2 is below f64's range, and L(t) ~
/// 1500 e^(-3000 t) (1 - sigma0^2 + D0^2/4) underflows to 0: `below f64` in text, null in
/// JSON, never a silent 0. Where it is within range it keeps its digits (the closed form at
/// t = 1/10: c1 = 1500 e^-300 (1 - sigma0^2), c2 D0^2/4 = 1500 e^-300 D0^2/4 to first
/// order in e^-300). An exact zero (the cosine's alpha(1), and with it L(1)) stays 0.
#[test]
fn stiffness_values_below_f64_are_marked_not_printed_as_zero() {
    let source = "source M = gmm(weights = [0.5, 0.5], means = [[-2, 0], [2, 0]], var = 0.01);\n";
    let f = scratch_file(
        "stiffness_underflow.dsym",
        format!(
            "process fast {{ alpha(t) = exp(-1500*t); sigma(t) = sqrt(-expm1(-3000*t)); }}\n{source}"
        ),
    );
    let run_on = |process: &str, format: &str| {
        let (code, out, err) = run(&[
            "stiffness",
            &f,
            "--process",
            process,
            "--source",
            "M",
            "--format",
            format,
        ]);
        assert_eq!(code, 0, "{err}");
        out
    };
    let v: serde_json::Value = serde_json::from_str(&run_on("fast", "json")).expect("JSON");
    let profile = v["profile"].as_array().expect("rows");
    let l = |k: usize| profile[k]["L"].as_f64();
    let want = 1500.0 * (-300f64).exp() * (1.0 - 0.01 + 4.0);
    let got = l(1).expect("L(0.1) is within range");
    assert!((got / want - 1.0).abs() < 1e-13, "{got} vs {want}");
    for k in 3..profile.len() {
        assert_eq!(
            profile[k]["L"],
            serde_json::Value::Null,
            "t = {}",
            profile[k]["t"]
        );
        assert_eq!(v["saddle"][k]["exact_norm"], serde_json::Value::Null);
    }
    // snr = e^-3000 at t = 1.
    let snr = v["snr_levels"].as_array().expect("levels");
    assert_eq!(snr[snr.len() - 1], serde_json::Value::Null);
    let text = run_on("fast", "text");
    assert!(
        text.contains("         0.3                 below f64"),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.ends_with(" 0.0000000000000000e0")),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&run_on("cosine", "json")).expect("JSON");
    let last = &v["profile"][10];
    assert_eq!(
        (last["t"].as_f64(), last["L"].as_f64()),
        (Some(1.0), Some(0.0))
    );
}
