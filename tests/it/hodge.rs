//! Score errors and `diffsym hodge` (issue 16): the exact Gaussian decomposition against
//! its defining equations in exact arithmetic, a Kronecker-product solve and Monte Carlo;
//! the invisibility proof; diagnostics.

use std::str::FromStr;

use nalgebra::{DMatrix, DVector};
use num_rational::BigRational;
use num_traits::Zero;

use crate::support::{run, run_json, scratch_file};

const FILE: &str = "\
source S = gaussian(cov = [[2, 0.6], [0.6, 0.5]], mean = [1, -1]);
source I = gaussian(spectrum = [2, 2]);
source C3 = gaussian(cov = [[2, 3/5, 1/10], [3/5, 1/2, 1/7], [1/10, 1/7, 3]]);
source R = gaussian(cov = [[sqrt(2), 0.3], [0.3, 1]]);
source One = gaussian(spectrum = [0.7], mean = [2]);
source M1 = gmm(weights = [1], means = [[1, -1]], covs = [[[2, 0.6], [0.6, 0.5]]]);
error Rot = linear(matrix = [[0, -3], [3, 0]]);
error E = linear(matrix = [[1, -2], [0.5, 1]], shift = [0.25, 0]);
error E3 = linear(matrix = [[1, -2, 1/3], [0, 5/4, -1], [7/2, 1/9, -3]], shift = [1, 0, -1/2]);
error F = field([x2 - 1 + 2*x1, -x1 + 1]);
error T = linear(matrix = [[t, 1], [0, 0]]);
error L1 = linear(matrix = [[3]], shift = [0.5]);
";

fn hodge(args: &[&str]) -> (i32, serde_json::Value, String) {
    run_json("hodge", "hodge.dsym", FILE, args)
}

fn rationals(v: &serde_json::Value) -> Vec<Vec<BigRational>> {
    v.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| BigRational::from_str(x.as_str().expect("text")).expect("rational"))
                .collect()
        })
        .collect()
}

fn rational(text: &str) -> BigRational {
    BigRational::from_str(text).expect("rational")
}

fn floats(v: &serde_json::Value) -> DMatrix<f64> {
    let rows: Vec<Vec<f64>> = v
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number"))
                .collect()
        })
        .collect();
    DMatrix::from_fn(rows.len(), rows.len(), |i, j| rows[i][j])
}

fn mul(a: &[Vec<BigRational>], b: &[Vec<BigRational>]) -> Vec<Vec<BigRational>> {
    let n = a.len();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| (0..n).map(|k| &a[i][k] * &b[k][j]).sum())
                .collect()
        })
        .collect()
}

/// The symmetric S with S Sigma + Sigma S = C, by the Kronecker-sum system in f64 (LU):
/// independent of the command's exact and eigenbasis paths.
fn kronecker_solve(sigma: &DMatrix<f64>, c: &DMatrix<f64>) -> DMatrix<f64> {
    let d = sigma.nrows();
    let id = DMatrix::<f64>::identity(d, d);
    let k = id.kronecker(sigma) + sigma.kronecker(&id);
    let vec_c = DVector::from_iterator(d * d, c.iter().copied());
    let x = k.lu().solve(&vec_c).expect("regular");
    DMatrix::from_iterator(d, d, x.iter().copied())
}

#[test]
fn the_exact_solution_satisfies_its_defining_equations_exactly() {
    // Sigma and E rational and non-diagonal in 3-D: S symmetric with S Sigma + Sigma S =
    // E Sigma + Sigma E^T, Omega = (E - S) Sigma antisymmetric, tr(S Omega) = 0, and the
    // norms tr(E Sigma E^T) + |b|^2 = tr(S Sigma S) + |b|^2 + tr((E-S) Sigma (E-S)^T).
    let (code, v, err) = hodge(&["--source", "C3", "--error", "E3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["exact"], true);
    assert_eq!(v["method"], "exact");
    let q = |n: i64, d: i64| BigRational::new(n.into(), d.into());
    let sigma = vec![
        vec![q(2, 1), q(3, 5), q(1, 10)],
        vec![q(3, 5), q(1, 2), q(1, 7)],
        vec![q(1, 10), q(1, 7), q(3, 1)],
    ];
    let e = vec![
        vec![q(1, 1), q(-2, 1), q(1, 3)],
        vec![q(0, 1), q(5, 4), q(-1, 1)],
        vec![q(7, 2), q(1, 9), q(-3, 1)],
    ];
    let s = rationals(&v["exact_values"]["S"]);
    let omega = rationals(&v["exact_values"]["Omega"]);
    let (ss, es) = (mul(&s, &sigma), mul(&e, &sigma));
    for i in 0..3 {
        for j in 0..3 {
            assert_eq!(s[i][j], s[j][i]);
            assert_eq!(&ss[i][j] + &ss[j][i], &es[i][j] + &es[j][i], "({i}, {j})");
            let want: BigRational = (0..3).map(|k| (&e[i][k] - &s[i][k]) * &sigma[k][j]).sum();
            assert_eq!(omega[i][j], want);
            assert_eq!(omega[i][j], -omega[j][i].clone());
        }
    }
    let tr: BigRational = (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .map(|(i, j)| &s[i][j] * &omega[j][i])
        .sum();
    assert!(tr.is_zero());
    let quad = |a: &[Vec<BigRational>]| -> BigRational {
        let m = mul(a, &sigma);
        (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| &m[i][j] * &a[i][j])
            .sum()
    };
    let b2 = q(1, 1) + q(1, 4);
    let diff: Vec<Vec<BigRational>> = (0..3)
        .map(|i| (0..3).map(|j| &e[i][j] - &s[i][j]).collect())
        .collect();
    let vals = &v["exact_values"];
    assert_eq!(
        rational(vals["norm2_error"].as_str().unwrap()),
        quad(&e) + &b2
    );
    assert_eq!(
        rational(vals["norm2_gradient"].as_str().unwrap()),
        quad(&s) + &b2
    );
    assert_eq!(
        rational(vals["norm2_solenoidal"].as_str().unwrap()),
        quad(&diff)
    );
    assert_eq!(v["symmetric_part_is_gradient"], false);
}

#[test]
fn an_irrational_covariance_is_solved_in_the_eigenbasis_to_full_precision() {
    let (code, v, err) = hodge(&["--source", "R", "--error", "E"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["exact"], false);
    assert_eq!(v["method"], "eigenbasis");
    let sigma = DMatrix::from_row_slice(2, 2, &[2f64.sqrt(), 0.3, 0.3, 1.0]);
    let e = DMatrix::from_row_slice(2, 2, &[1.0, -2.0, 0.5, 1.0]);
    let c = &e * &sigma + &sigma * e.transpose();
    let want = kronecker_solve(&sigma, &c);
    let got = floats(&v["S"]);
    assert!((&got - &want).norm() <= 4e-16 * want.norm(), "{got} {want}");
    let grad = (&want * &sigma).component_mul(&want).sum() + 0.0625;
    let g = v["norm2_gradient"].as_f64().unwrap();
    assert!((g - grad).abs() <= 4e-16 * grad, "{g} {grad}");
}

#[test]
fn the_norms_agree_with_monte_carlo() {
    // Samples of N(m, Sigma) (Cholesky of the declared covariance, SplitMix64 and
    // Box-Muller): the mean squares of e, of the gradient part S (x - m) + b and of the
    // rest, within 5 standard errors.
    let (code, v, err) = hodge(&["--source", "S", "--error", "E"]);
    assert_eq!(code, 0, "{err}");
    let s = floats(&v["S"]);
    let sigma = DMatrix::from_row_slice(2, 2, &[2.0, 0.6, 0.6, 0.5]);
    let e = DMatrix::from_row_slice(2, 2, &[1.0, -2.0, 0.5, 1.0]);
    let b = DVector::from_vec(vec![0.25, 0.0]);
    let l = sigma.cholesky().expect("SPD").l();
    let mut state = 0x5eed_u64;
    let mut uniform = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (((z ^ (z >> 31)) >> 11) + 1) as f64 / (1u64 << 53) as f64
    };
    let n = 200_000;
    let mut sums = [[0.0f64; 2]; 3];
    for _ in 0..n {
        let (u, w) = (uniform(), uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let z = DVector::from_vec(vec![
            r * (std::f64::consts::TAU * w).cos(),
            r * (std::f64::consts::TAU * w).sin(),
        ]);
        let y = &l * z; // x - m
        let err_v = &e * &y + &b;
        let grad_v = &s * &y + &b;
        let sol_v = &err_v - &grad_v;
        for (k, x) in [
            err_v.norm_squared(),
            grad_v.norm_squared(),
            sol_v.norm_squared(),
        ]
        .into_iter()
        .enumerate()
        {
            sums[k][0] += x;
            sums[k][1] += x * x;
        }
    }
    for (k, key) in ["norm2_error", "norm2_gradient", "norm2_solenoidal"]
        .into_iter()
        .enumerate()
    {
        let mean = sums[k][0] / n as f64;
        let var = sums[k][1] / n as f64 - mean * mean;
        let se = (var / n as f64).sqrt();
        let got = v[key].as_f64().unwrap();
        assert!(
            (got - mean).abs() <= 5.0 * se,
            "{key}: {got} vs {mean} +- {se}"
        );
    }
    // The usual guess, the symmetric part of E, is not the projection here.
    assert_eq!(v["symmetric_part_is_gradient"], false);
    assert!(v["norm2_symmetric_part_difference"].as_f64().unwrap() > 0.1);
}

#[test]
fn a_rotation_against_an_isotropic_gaussian_is_invisible_and_large() {
    let (code, v, err) = hodge(&["--source", "I", "--error", "Rot"]);
    assert_eq!(code, 0, "{err}");
    // ||e||^2 = tr(E Sigma E^T) = 2 (9 + 9) = 36, all solenoidal.
    assert_eq!(v["exact_values"]["norm2_error"], "36");
    assert_eq!(v["exact_values"]["norm2_gradient"], "0");
    assert_eq!(v["exact_values"]["norm2_solenoidal"], "36");
    assert_eq!(v["exact_values"]["Omega"][0][1], "-6");
}

#[test]
fn in_one_dimension_every_linear_error_is_a_gradient() {
    let (code, v, err) = hodge(&["--source", "One", "--error", "L1"]);
    assert_eq!(code, 0, "{err}");
    // ||e||^2 = 9 * 0.7 + 0.25, all of it gradient.
    assert_eq!(v["exact_values"]["norm2_error"], "131/20");
    assert_eq!(v["exact_values"]["norm2_gradient"], "131/20");
    assert_eq!(v["exact_values"]["norm2_solenoidal"], "0");
}

#[test]
fn an_affine_field_is_decomposed_exactly_and_its_offset_measured_from_the_mean() {
    // F(x) = [[2, 1], [-1, 0]] x + [-1, 1]: at the mean m = (1, -1), b = F(m) = (0, 0).
    let (code, v, err) = hodge(&["--source", "S", "--error", "F"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["exact"], true);
    assert_eq!(v["exact_values"]["shift"], serde_json::json!(["0", "0"]));
    let sigma = DMatrix::from_row_slice(2, 2, &[2.0, 0.6, 0.6, 0.5]);
    let e = DMatrix::from_row_slice(2, 2, &[2.0, 1.0, -1.0, 0.0]);
    let want = kronecker_solve(&sigma, &(&e * &sigma + &sigma * e.transpose()));
    assert!((floats(&v["S"]) - want).norm() < 1e-14);
}

#[test]
fn a_one_component_mixture_is_the_gaussian_it_describes() {
    let (code, a, err) = hodge(&["--source", "M1", "--error", "E"]);
    assert_eq!(code, 0, "{err}");
    let (_, b, _) = hodge(&["--source", "S", "--error", "E"]);
    for key in ["norm2_error", "norm2_gradient", "norm2_solenoidal"] {
        let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
        assert!((x - y).abs() <= 1e-14 * y, "{key}: {x} {y}");
    }
}

#[test]
fn a_time_dependent_error_against_a_marginal_is_exact_where_the_schedule_is_rational() {
    // Rectified flow at t = 1/2: alpha = sigma = 1/2, so Sigma_t = Sigma/4 + I/4 and
    // m_t = m/2; E(t) = [[t, 1], [0, 0]] = [[1/2, 1], [0, 0]].
    let (code, v, err) = hodge(&[
        "--source",
        "S",
        "--error",
        "T",
        "--process",
        "rectified_flow",
        "--t",
        "1/2",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["exact"], true);
    let sigma = DMatrix::from_row_slice(2, 2, &[2.0, 0.6, 0.6, 0.5]) * 0.25
        + DMatrix::<f64>::identity(2, 2) * 0.25;
    let e = DMatrix::from_row_slice(2, 2, &[0.5, 1.0, 0.0, 0.0]);
    let want = kronecker_solve(&sigma, &(&e * &sigma + &sigma * e.transpose()));
    assert!((floats(&v["S"]) - &want).norm() < 1e-15);
    let norm = (&e * &sigma).component_mul(&e).sum();
    assert!((v["norm2_error"].as_f64().unwrap() - norm).abs() < 1e-15);
    // Under the cosine process at t = 1/3, alpha^2 = cos(pi/6)^2 = 3/4 is still rational;
    // at t = 0.3 it is not: the eigenbasis path.
    let (code, v, err) = hodge(&[
        "--source",
        "S",
        "--error",
        "T",
        "--process",
        "cosine",
        "--t",
        "1/3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["exact"], true);
    let (code, v, err) = hodge(&[
        "--source",
        "S",
        "--error",
        "T",
        "--process",
        "cosine",
        "--t",
        "0.3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["exact"], false);
    let angle = 0.15 * std::f64::consts::PI;
    let (a, s) = (angle.cos(), angle.sin());
    let sigma = DMatrix::from_row_slice(2, 2, &[2.0, 0.6, 0.6, 0.5]) * (a * a)
        + DMatrix::<f64>::identity(2, 2) * (s * s);
    let e = DMatrix::from_row_slice(2, 2, &[0.3, 1.0, 0.0, 0.0]);
    let want = kronecker_solve(&sigma, &(&e * &sigma + &sigma * e.transpose()));
    assert!((floats(&v["S"]) - &want).norm() < 1e-14 * want.norm());
}

#[test]
fn at_the_noise_end_the_marginal_is_the_prior_and_the_gradient_part_the_symmetric_part() {
    // Cosine at t = 1: alpha^2 = cos(pi/2)^2 = 0 exactly, so Sigma_1 = I and S = (E + E^T)/2.
    // By hand, E = [[1, -2], [1/2, 1]], b = (1/4, 0): ||e||^2 = tr(E E^T) + 1/16 = 101/16,
    // ||grad part||^2 = tr(S^2) + 1/16 = 2 + 2 (3/4)^2 + 1/16 = 51/16.
    let (code, v, err) = hodge(&[
        "--source",
        "S",
        "--error",
        "E",
        "--process",
        "cosine",
        "--t",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["exact_values"]["norm2_error"], "101/16");
    assert_eq!(v["exact_values"]["norm2_gradient"], "51/16");
    assert_eq!(v["symmetric_part_is_gradient"], true);
}

#[test]
fn the_invisibility_proof_is_symbolic_for_library_and_generic_processes() {
    let (code, v, err) = hodge(&[
        "--source",
        "C3",
        "--error",
        "E3",
        "--process",
        "vp_linear",
        "--t",
        "0.3",
        "--prove-invisible",
    ]);
    assert_eq!(code, 0, "{err}");
    let p = &v["invisible"];
    assert_eq!(p["proved"], true);
    assert_eq!(p["dimension"], 3);
    let steps = p["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 8);
    assert!(steps.iter().all(|s| s["verdict"] == "proved"), "{steps:?}");
}

#[test]
fn the_proof_needs_only_a_process_and_the_decomposition_then_uses_the_source() {
    let (code, v, err) = hodge(&[
        "--source",
        "S",
        "--error",
        "E",
        "--process",
        "cosine",
        "--prove-invisible",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["invisible"]["proved"], true);
    assert!(v["t"].is_null());
    // Measured against the source itself, as without --process.
    let (_, plain, _) = hodge(&["--source", "S", "--error", "E"]);
    assert_eq!(v["exact_values"], plain["exact_values"]);
}

#[test]
fn text_and_latex_show_the_exact_values() {
    let f = scratch_file("hodge.dsym", FILE);
    let (code, out, err) = run(&["hodge", &f, "--source", "S", "--error", "E"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("method: exact (rational arithmetic)"), "{out}");
    assert!(
        out.contains("||e||^2               = 261/80 (f64 3.2625)"),
        "{out}"
    );
    assert!(out.contains("note: the symmetric part of E"), "{out}");
    let (code, out, err) = run(&[
        "hodge", &f, "--source", "S", "--error", "E", "--format", "latex",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("\\documentclass{article}"), "{out}");
    assert!(out.contains("\\|e\\|^2 &= \\frac{261}{80}"), "{out}");
    assert!(out.contains("\\begin{pmatrix}"), "{out}");
}

#[test]
fn bad_errors_and_arguments_get_located_diagnostics() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "error E = linear(matrix = [[1, 0], [0]]);",
            "diffsym::error::shape",
            "a row of the matrix has 1 entries",
        ),
        (
            "error E = linear(matrix = [[1, 0], [0, 1]], shift = [1]);",
            "diffsym::error::shape",
            "the shift has 1 entries",
        ),
        (
            "error E = field([x1, x3]);",
            "diffsym::error::variable",
            "`x3` is not a coordinate of this 2-dimensional field",
        ),
        ("error E = field([x1, y]);", "diffsym::lower", "y"),
        (
            "error E = curl([x1]);",
            "diffsym::error::kind",
            "unknown kind of error `curl`",
        ),
        (
            "error E = linear([[1]]);",
            "diffsym::source::argument",
            "the arguments of linear are named",
        ),
        (
            "error E = field(components = [x1]);",
            "diffsym::error::argument",
            "one list",
        ),
        (
            "error E = linear(matrix = [[1]]);\nerror E = linear(matrix = [[2]]);",
            "diffsym::error::duplicate",
            "defined twice",
        ),
        (
            "error E = linear(matrix = []);",
            "diffsym::error::shape",
            "at least one dimension",
        ),
        (
            "source B = gaussian([1, 2]);",
            "diffsym::source::argument",
            "the arguments of gaussian are named",
        ),
    ];
    for (decl, code_text, message) in cases {
        let f = scratch_file(
            "bad.dsym",
            format!("source S = gaussian(spectrum = [1, 2]);\n{decl}\n"),
        );
        let (code, out, err) = run(&["hodge", &f, "--source", "S", "--error", "E"]);
        assert_eq!(code, 2, "{decl}: {out}");
        assert!(out.is_empty());
        assert!(err.contains(code_text), "{decl}: {err}");
        assert!(err.contains(message), "{decl}: {err}");
        assert!(
            err.contains("bad.dsym:2:") || err.contains("bad.dsym:3:"),
            "{decl}: {err}"
        );
    }
    let f = scratch_file("hodge.dsym", FILE);
    for (args, code_text, message) in [
        (
            vec!["--source", "I", "--error", "E3"],
            "diffsym::error::shape",
            "error `E3` has dimension 3 but source `I` has dimension 2",
        ),
        (
            vec!["--source", "I", "--error", "Nope"],
            "diffsym::cli::error",
            "no error named `Nope`",
        ),
        (
            vec!["--source", "S", "--error", "T"],
            "diffsym::cli::t",
            "depends on t: give the time with --process P --t T",
        ),
        (
            vec![
                "--source",
                "S",
                "--error",
                "E",
                "--process",
                "vp_linear",
                "--t",
                "2",
            ],
            "diffsym::cli::t",
            "outside [0, 1]",
        ),
    ] {
        let mut argv = vec!["hodge", f.as_str()];
        argv.extend(args);
        let (code, out, err) = run(&argv);
        assert_eq!(code, 2, "{argv:?}: {out}");
        assert!(
            err.contains(code_text) && err.contains(message),
            "{argv:?}: {err}"
        );
    }
    // --t without --process is a usage error.
    let (code, _, err) = run(&["hodge", &f, "--source", "S", "--error", "E", "--t", "0.5"]);
    assert_eq!(code, 2, "{err}");
}

const MIXTURE: &str = "\
source M = gmm(weights = [0.3, 0.7], means = [[-1.5, 0], [1.5, 0.5]], var = 0.5);
source One = gaussian(spectrum = [0.7], mean = [0.5]);
error Rot = linear(matrix = [[0, -1], [1, 0]]);
error Sin = field([sin(x1) + x1^3/10]);
error Bad = field([1/x1]);
";

fn estimate(args: &[&str]) -> (i32, serde_json::Value, String) {
    run_json("hodge", "mixture.dsym", MIXTURE, args)
}

fn rows(v: &serde_json::Value) -> Vec<f64> {
    v["estimates"]
        .as_array()
        .expect("estimates")
        .iter()
        .map(|r| r["norm2_gradient"].as_f64().expect("number"))
        .collect()
}

#[test]
fn in_one_dimension_the_estimator_recovers_the_whole_error() {
    // Every e in L^2(p) is a gradient in 1-D: the estimates rise to ||e||^2, which is
    // checked against a fine trapezoid of E_p[e^2] here.
    let (code, v, err) = estimate(&["--source", "One", "--error", "Sin", "--degree", "14"]);
    assert_eq!(code, 0, "{err}");
    let (s2, m) = (0.7f64, 0.5f64);
    let n = 200_000;
    let (lo, hi) = (m - 14.0 * s2.sqrt(), m + 14.0 * s2.sqrt());
    let h = (hi - lo) / n as f64;
    let norm2: f64 = (0..=n)
        .map(|k| {
            let x = lo + h * k as f64;
            let e = x.sin() + x.powi(3) / 10.0;
            let p = (-(x - m).powi(2) / (2.0 * s2)).exp() / (std::f64::consts::TAU * s2).sqrt();
            let w = if k == 0 || k == n { 0.5 } else { 1.0 };
            w * h * e * e * p
        })
        .sum();
    let got = v["norm2_error"].as_f64().unwrap();
    assert!((got - norm2).abs() <= 1e-10 * norm2, "{got} {norm2}");
    let r = rows(&v);
    assert!(r.windows(2).all(|w| w[1] >= w[0]), "{r:?}");
    let last = *r.last().unwrap();
    assert!((last - norm2).abs() <= 1e-8 * norm2, "{last} {norm2}");
    assert_eq!(v["exact"], false);
}

#[test]
fn on_a_two_mode_mixture_the_estimator_rises_towards_the_finite_volume_reference() {
    let (code, v, err) = estimate(&[
        "--source",
        "M",
        "--error",
        "Rot",
        "--degree",
        "10",
        "--finite-volume",
        "96",
    ]);
    assert_eq!(code, 0, "{err}");
    let r = rows(&v);
    assert_eq!(r.len(), 10);
    assert!(r.windows(2).all(|w| w[1] >= w[0]), "{r:?}");
    let fv = v["finite_volume"]["norm2_gradient"].as_f64().unwrap();
    let last = *r.last().unwrap();
    // From below, within the slow polynomial convergence on two modes (2% at degree 10).
    assert!(
        last <= fv * (1.0 + 1e-3) && last >= 0.95 * fv,
        "{last} {fv}"
    );
    // ||e||^2 = E|x - mean|^2 for a rotation: the mixture's total variance, computed
    // from its moments: 2 * 0.5 + the spread of the means about their mean.
    let (w, m): ([f64; 2], [[f64; 2]; 2]) = ([0.3, 0.7], [[-1.5, 0.0], [1.5, 0.5]]);
    let c = [
        w[0] * m[0][0] + w[1] * m[1][0],
        w[0] * m[0][1] + w[1] * m[1][1],
    ];
    let spread: f64 = (0..2)
        .map(|k| w[k] * ((m[k][0] - c[0]).powi(2) + (m[k][1] - c[1]).powi(2)))
        .sum();
    let norm2 = v["norm2_error"].as_f64().unwrap();
    assert!(
        (norm2 - (1.0 + spread)).abs() < 1e-12,
        "{norm2} {}",
        1.0 + spread
    );
}

#[test]
fn estimator_refusals_are_diagnostics() {
    for (args, code_text) in [
        (
            vec!["--source", "One", "--error", "Bad"],
            "diffsym::analysis::hodge",
        ),
        (
            vec!["--source", "One", "--error", "Sin", "--finite-volume", "32"],
            "diffsym::cli::usage",
        ),
    ] {
        let (code, _, err) = estimate(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(code_text), "{args:?}: {err}");
    }
    let (code, _, _) = estimate(&["--source", "M", "--error", "Rot", "--degree", "41"]);
    assert_eq!(code, 2);
}

const KL_FILE: &str = "\
source S = gaussian(cov = [[1, 0.3], [0.3, 0.5]], mean = [0.5, -0.2]);
source I = gaussian(spectrum = [1, 1]);
error Zero = linear(matrix = [[0, 0], [0, 0]]);
error Rot = linear(matrix = [[0, -2], [2, 0]]);
error Grad = linear(matrix = [[0.3, 0], [0, 0.3]]);
";

fn kl(args: &[&str]) -> serde_json::Value {
    let f = scratch_file("kl.dsym", KL_FILE);
    let mut argv = vec![
        "kl",
        &f,
        "--process",
        "vp_linear",
        "--start",
        "exact",
        "--t-min",
        "0.001",
        "--t-max",
        "0.999",
        "--format",
        "json",
    ];
    argv.extend(args);
    let (code, out, err) = run(&argv);
    assert_eq!(code, 0, "{argv:?}: {err}");
    serde_json::from_str(&out).expect("JSON")
}

fn kl_values(v: &serde_json::Value) -> Vec<f64> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["kl_src_out"].as_f64().expect("finite"))
        .collect()
}

#[test]
fn a_zero_score_error_reproduces_the_exact_kl() {
    // The d x d recursion of the learned samplers against the per-direction one: two
    // independent implementations.
    for sampler in ["ddim", "euler", "heun", "dpm1", "euler_maruyama", "ddpm"] {
        let base = kl_values(&kl(&[
            "--source",
            "S",
            "--sampler",
            sampler,
            "--steps",
            "3,17",
        ]));
        let v = kl(&[
            "--source",
            "S",
            "--sampler",
            sampler,
            "--steps",
            "3,17",
            "--score-error",
            "Zero",
        ]);
        for (a, b) in kl_values(&v).iter().zip(&base) {
            assert!((a - b).abs() <= 1e-10 * b, "{sampler}: {a} {b}");
        }
        assert_eq!(v["score_error"]["girsanov_bound"], 0.0);
    }
}

#[test]
fn a_solenoidal_error_is_invisible_in_the_limit_while_its_girsanov_bound_is_large() {
    // Rot is p-solenoidal against the isotropic source at every t (Sigma_t = I under a
    // variance-preserving process): the learned samplers converge to the data as N grows,
    // at the error-free rate, although (1/2) int g2 ||e||^2 dt is about 40.
    for sampler in ["ddim", "ddpm"] {
        let v = kl(&[
            "--source",
            "I",
            "--sampler",
            sampler,
            "--steps",
            "1000,10000",
            "--score-error",
            "Rot",
        ]);
        let k = kl_values(&v);
        assert!(k[1] < 1e-4 && k[0] / k[1] > 50.0, "{sampler}: {k:?}");
        let bounds = &v["score_error"];
        assert!(bounds["girsanov_bound"].as_f64().unwrap() > 10.0);
        assert!(bounds["gradient_part_bound"].as_f64().unwrap() < 1e-12);
    }
    // The bound by hand: ||e||^2 = tr(E E^T) = 8 and g2 = beta(t) = 0.1 + 19.9 t, so the
    // bound is 4 int_0.001^0.999 beta = 4 (0.0998 + 9.95 (0.999^2 - 0.001^2)).
    let v = kl(&[
        "--source",
        "I",
        "--sampler",
        "ddim",
        "--steps",
        "10",
        "--score-error",
        "Rot",
    ]);
    let want = 4.0 * (0.0998 + 9.95 * (0.999f64.powi(2) - 0.001f64.powi(2)));
    let got = v["score_error"]["girsanov_bound"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-12 * want, "{got} {want}");
}

#[test]
fn a_gradient_error_leaves_a_kl_within_its_girsanov_bound() {
    // A symmetric error 0.3 I is all gradient: the reverse SDE's KL tends to a positive
    // limit, below the bound (1/2) int g2 ||e||^2 dt = 0.09 int beta.
    let v = kl(&[
        "--source",
        "I",
        "--sampler",
        "euler_maruyama",
        "--steps",
        "1000,4000",
        "--score-error",
        "Grad",
    ]);
    let k = kl_values(&v);
    let bound = v["score_error"]["girsanov_bound"].as_f64().unwrap();
    let grad = v["score_error"]["gradient_part_bound"].as_f64().unwrap();
    assert!((bound - grad).abs() <= 1e-12 * bound);
    assert!(k[1] > 0.1 && k[1] < bound, "{k:?} {bound}");
    assert!((k[0] - k[1]).abs() < 0.01 * k[1], "{k:?}");
}

#[test]
fn kernels_are_declared_with_located_diagnostics() {
    let ok = "source S = gaussian(spectrum = [1]);\nkernel K = gaussian(h = 0.7);\nkernel L = laplace(tau = 1/2);\nkernel R = radial(profile = 1/(1 + r^2));\nerror E = linear(matrix = [[0]]);\n";
    let f = scratch_file("kernels.dsym", ok);
    let (code, _, err) = run(&["hodge", &f, "--source", "S", "--error", "E"]);
    assert_eq!(code, 0, "{err}");
    for (decl, code_text, message) in [
        (
            "kernel K = cauchy(h = 1);",
            "diffsym::kernel::kind",
            "unknown kind of kernel `cauchy`",
        ),
        (
            "kernel K = gaussian(tau = 1);",
            "diffsym::source::argument",
            "unknown argument `tau`",
        ),
        (
            "kernel K = gaussian(h = -1);",
            "diffsym::kernel::value",
            "must be a positive number",
        ),
        (
            "kernel K = laplace();",
            "diffsym::kernel::argument",
            "has no `tau`",
        ),
        (
            "kernel K = radial(profile = 1/r);",
            "diffsym::kernel::value",
            "at r = 0",
        ),
        (
            "kernel K = radial(profile = exp(-s));",
            "diffsym::lower",
            "s",
        ),
        (
            "kernel K = gaussian(h = 1);\nkernel K = laplace(tau = 1);",
            "diffsym::kernel::duplicate",
            "defined twice",
        ),
    ] {
        let f = scratch_file(
            "bad.dsym",
            format!(
                "source S = gaussian(spectrum = [1]);\nerror E = linear(matrix = [[0]]);\n{decl}\n"
            ),
        );
        let (code, out, err) = run(&["hodge", &f, "--source", "S", "--error", "E"]);
        assert_eq!(code, 2, "{decl}: {out}");
        assert!(
            err.contains(code_text) && err.contains(message),
            "{decl}: {err}"
        );
        assert!(
            err.contains("bad.dsym:3:") || err.contains("bad.dsym:4:"),
            "{decl}: {err}"
        );
    }
}

#[test]
fn values_beyond_f64_are_refused_and_huge_literals_take_the_f64_path() {
    let long = format!("1.{}1", "0".repeat(600));
    let file = format!(
        "source S = gaussian(spectrum = [1, 2]);\n\
         source L = gaussian(cov = [[{long}, 1/3], [1/3, 2]]);\n\
         error H = linear(matrix = [[1e300, 0], [0, 1]]);\n\
         error E = linear(matrix = [[{long}, -1], [1/7, 2]]);\n"
    );
    let f = scratch_file("big.dsym", file);
    let (code, _, err) = run(&["hodge", &f, "--source", "S", "--error", "H"]);
    assert_eq!(code, 2);
    assert!(err.contains("overflows f64"), "{err}");
    // 600-digit entries: exact elimination would multiply them; the eigenbasis path
    // answers instead.
    let (code, out, err) = run(&[
        "hodge", &f, "--source", "L", "--error", "E", "--format", "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["method"], "eigenbasis");
}

#[test]
fn an_estimate_in_latex_lists_the_degrees() {
    let f = scratch_file("mixture.dsym", MIXTURE);
    let (code, out, err) = run(&[
        "hodge", &f, "--source", "M", "--error", "Rot", "--degree", "2", "--format", "latex",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("\\documentclass{article}"), "{out}");
    assert!(out.contains("\\|\\Pi_{1} e\\|^2 &= "), "{out}");
    assert!(out.contains("\\|\\Pi_{2} e\\|^2 &= "), "{out}");
    assert!(out.trim_end().ends_with("\\end{document}"), "{out}");
}

/// `alpha = exp(-1500 t)`: alpha^2 = e^-900 at t = 3/10 rounds to 0 in f64, and the
/// marginal's covariance, alpha^2 Sigma + sigma^2 I, would lose its data part silently
/// (an entry of S printed as 0 for one of about -e^-900). Refused, naming the value; at
/// t = 1/10 (alpha^2 = e^-300) the decomposition is given.
#[test]
fn a_marginal_whose_scale_is_below_f64_is_refused_not_rounded_to_zero() {
    let f = scratch_file(
        "hodge_underflow.dsym",
        "process fast { alpha(t) = exp(-1500*t); sigma(t) = sqrt(-expm1(-3000*t)); }\n\
         source S = gaussian(cov = [[2, 0.6], [0.6, 0.5]], mean = [1, -1]);\n\
         error Grow = linear(matrix = [[t, 1], [0, 0]]);\n",
    );
    let at = |t: &str| {
        run(&[
            "hodge",
            &f,
            "--source",
            "S",
            "--error",
            "Grow",
            "--process",
            "fast",
            "--t",
            t,
        ])
    };
    let (code, out, err) = at("3/10");
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("alpha^2 of process `fast` at t = 3/10: not 0, but below f64's range"),
        "{err}"
    );
    let (code, _, err) = at("1/10");
    assert_eq!(code, 0, "{err}");
}
