//! The `kl` and `schedule` commands: check values through the CLI, the JSON contract,
//! determinism, and diagnostics for bad sources (exit 2, nothing on stdout, a caret).

use crate::support::{redact, run, scratch_file};
use std::f64::consts::PI;

fn json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

const SOURCES: &str = "source one = gaussian(spectrum = [1]);\n\
                       source S = gaussian(spectrum = [1, 0.5, 0.1], mean = [0, 0, 0]);\n\
                       source C = gaussian(cov = [[2, 0.8], [0.8, 0.5]], mean = [0.7, -1.2]);\n";

#[test]
fn kl_of_the_bundled_cosine_reproduces_the_check_value() {
    // The cosine is the tangent law for lambda = 1: N = 2 gives KL(src||out) = (3 - ln 4)/2.
    let f = scratch_file("sources.dsym", SOURCES);
    let v = json(&[
        "kl",
        &f,
        "--process",
        "cosine",
        "--source",
        "one",
        "--sampler",
        "ddim",
        "--steps",
        "2,10",
        "--format",
        "json",
    ]);
    for key in ["process", "source", "sampler", "results"] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["process"], "cosine");
    assert_eq!(v["source"], "one");
    assert_eq!(v["sampler"], "ddim");
    let r = &v["results"];
    assert_eq!(r[0]["steps"], 2);
    assert_eq!(r[1]["steps"], 10);
    let got = r[0]["kl_src_out"].as_f64().expect("number");
    assert!((got - (3.0 - 4f64.ln()) / 2.0).abs() < 1e-14, "{got}");
    let got = r[0]["kl_out_src"].as_f64().expect("number");
    assert!(
        (got - (0.25 - 1.0 - 0.25f64.ln()) / 2.0).abs() < 1e-14,
        "{got}"
    );
    // N = 10: every angle step is pi/20, r = cos^20(pi/20).
    let rr = (PI / 20.0).cos().powi(20);
    let want = (1.0 / rr - 1.0 + rr.ln()) / 2.0;
    let got = r[1]["kl_src_out"].as_f64().expect("number");
    assert!(((got - want) / want).abs() < 1e-12, "{got} vs {want}");
}

#[test]
fn kl_text_is_deterministic_and_every_sampler_runs() {
    let f = scratch_file("sources.dsym", SOURCES);
    for sampler in ["ddim", "euler", "heun", "dpm1", "euler_maruyama", "ddpm"] {
        let args = [
            "kl",
            &f,
            "--process",
            "vp_linear",
            "--source",
            "C",
            "--sampler",
            sampler,
            "--steps",
            "3,30",
        ];
        let (code, a, err) = run(&args);
        assert_eq!(code, 0, "{sampler}: {err}");
        let (_, b, _) = run(&args);
        assert_eq!(a, b, "{sampler}: output differs between runs");
        assert!(a.contains(&format!("sampler {sampler}")), "{a}");
        assert_eq!(a.lines().count(), 4, "{a}");
    }
}

#[test]
fn grid_file_and_named_grids() {
    let f = scratch_file("sources.dsym", SOURCES);
    let g = scratch_file("grid.txt", "1\n# the middle\n1/2\n0\n");
    let base = [
        "kl",
        &f,
        "--process",
        "cosine",
        "--source",
        "S",
        "--sampler",
        "ddim",
    ];
    let from_file = json(&[&base[..], &["--grid", &g, "--format", "json"]].concat());
    let uniform = json(&[&base[..], &["--steps", "2", "--format", "json"]].concat());
    assert_eq!(from_file["results"], uniform["results"]);
    // logsnr needs finite ends: an error that names the flags, exit 2, no stdout.
    let (code, out, err) = run(&[&base[..], &["--steps", "4", "--grid", "logsnr"]].concat());
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("--t-min"), "{err}");
    let ok = json(
        &[
            &base[..],
            &[
                "--steps", "4", "--grid", "karras", "--t-max", "0.99", "--format", "json",
            ],
        ]
        .concat(),
    );
    assert!(ok["results"][0]["kl_src_out"].as_f64().expect("number") > 0.0);
}

#[test]
fn schedule_reports_gamma_star_and_an_optimal_grid() {
    let f = scratch_file("sources.dsym", SOURCES);
    let v = json(&["schedule", &f, "--source", "S", "--format", "json"]);
    let eigs = [1.0f64, 0.5, 0.1];
    let sum: f64 = eigs.iter().sum();
    let inv: f64 = eigs.iter().map(|l| 1.0 / l).sum();
    let g = v["gamma_star"].as_f64().expect("number");
    assert!((g - (sum / inv).powf(0.25)).abs() < 1e-15, "{g}");
    let tangent = v["tangent_coefficient"].as_f64().expect("number");
    let optimal = v["optimal_coefficient"].as_f64().expect("number");
    assert!(
        optimal < tangent && optimal > 3.0 * PI.powi(4) / 64.0,
        "{v}"
    );
    assert!(v["grid"].is_null() && v["kl_uniform_grid"].is_null());

    let v = json(&[
        "schedule",
        &f,
        "--source",
        "S",
        "--process",
        "cosine",
        "--steps",
        "6",
        "--format",
        "json",
    ]);
    let grid: Vec<f64> = v["grid"]
        .as_array()
        .expect("grid")
        .iter()
        .map(|t| t.as_f64().expect("time"))
        .collect();
    assert_eq!(grid.len(), 7);
    assert_eq!((grid[0], grid[6]), (0.0, 1.0));
    assert!(grid.windows(2).all(|w| w[0] < w[1]), "{grid:?}");
    let opt = v["kl_optimal_grid"].as_f64().expect("number");
    let uni = v["kl_uniform_grid"].as_f64().expect("number");
    assert!(opt < uni * 0.9, "{opt} vs {uni}");
    // The reported KL is the exact KL of the reported grid.
    let times = grid.iter().map(|t| format!("{t:e}")).collect::<Vec<_>>();
    // Exact decimal forms of the f64 times, one per line.
    let exact: Vec<String> = grid
        .iter()
        .zip(&times)
        .map(|(t, _)| {
            let r = num_rational::BigRational::from_float(*t).expect("finite");
            format!("{}/{}", r.numer(), r.denom())
        })
        .collect();
    let gfile = scratch_file("opt.txt", exact.join("\n"));
    let again = json(&[
        "kl",
        &f,
        "--process",
        "cosine",
        "--source",
        "S",
        "--sampler",
        "ddim",
        "--grid",
        &gfile,
        "--format",
        "json",
    ]);
    assert_eq!(again["results"][0]["kl_src_out"].as_f64(), Some(opt));
}

/// Runs `kl` on a file holding `text`; asserts the bad-input contract; returns stderr.
fn bad_source(name: &str, text: &str, source: &str) -> String {
    let f = scratch_file(name, text);
    let (code, out, err) = run(&[
        "kl",
        &f,
        "--process",
        "cosine",
        "--source",
        source,
        "--sampler",
        "ddim",
        "--steps",
        "2",
    ]);
    assert_eq!(code, 2, "{name}: {err}");
    assert!(out.is_empty(), "{name} wrote to stdout: {out}");
    assert!(
        err.contains(&format!("{f}:")),
        "{name}: no file:line:col in\n{err}"
    );
    assert!(err.contains('^'), "{name}: no caret in\n{err}");
    redact(&err, &f)
}

#[test]
fn negative_eigenvalue() {
    let err = bad_source(
        "neg.dsym",
        "source S = gaussian(spectrum = [1, -0.5, 2]);\n",
        "S",
    );
    assert!(err.contains("eigenvalue 2 is -0.5"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn mean_of_the_wrong_length() {
    let err = bad_source(
        "mean.dsym",
        "source S = gaussian(spectrum = [1, 2],\n                    mean = [0, 0, 0]);\n",
        "S",
    );
    assert!(
        err.contains("the mean has 3 entries but the source has dimension 2"),
        "{err}"
    );
    insta::assert_snapshot!(err);
}

#[test]
fn non_numeric_value() {
    let err = bad_source(
        "nonnum.dsym",
        "source S = gaussian(spectrum = [1, a, log(-1)]);\n",
        "S",
    );
    assert!(err.contains("undefined name `a`"), "{err}");
    assert!(err.contains("not a finite number"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn covariance_not_positive_definite_or_not_symmetric() {
    let err = bad_source(
        "cov.dsym",
        "source A = gaussian(cov = [[1, 2], [2, 1]]);\nsource B = gaussian(cov = [[1, 0.1], [0.2, 1]]);\nsource C = gaussian(cov = [[1, 0], [0]]);\n",
        "A",
    );
    assert!(err.contains("not positive definite"), "{err}");
    assert!(err.contains("not symmetric"), "{err}");
    assert!(
        err.contains("row 2 of the covariance has 1 entries, expected 2"),
        "{err}"
    );
    insta::assert_snapshot!(err);
}

#[test]
fn missing_and_malformed_spectrum_files() {
    let err = bad_source(
        "missing.dsym",
        "source S = gaussian(spectrum = file(\"nope.txt\"));\n",
        "S",
    );
    assert!(
        err.contains("cannot read `nope.txt`: no such file"),
        "{err}"
    );
    insta::assert_snapshot!("missing_spectrum_file", err);
    let data = scratch_file("spec.txt", "1\n0.5\nten\n");
    let name = std::path::Path::new(&data)
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let dir = std::path::Path::new(&data)
        .parent()
        .expect("dir")
        .to_path_buf();
    let dsym = dir.join("bad_line.dsym");
    std::fs::write(
        &dsym,
        format!("source S = gaussian(spectrum = file(\"{name}\"));\n"),
    )
    .expect("write");
    let (code, out, err) = run(&[
        "kl",
        &dsym.to_string_lossy(),
        "--process",
        "cosine",
        "--source",
        "S",
        "--sampler",
        "ddim",
        "--steps",
        "2",
    ]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("line 3 of `spec.txt` is not a number: `ten`"),
        "{err}"
    );
    std::fs::write(dir.join("spec.txt"), "1\n-2\n").expect("write");
    let (code, _, err) = run(&[
        "kl",
        &dsym.to_string_lossy(),
        "--process",
        "cosine",
        "--source",
        "S",
        "--sampler",
        "ddim",
        "--steps",
        "2",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("eigenvalue 2 (line 2 of `spec.txt`) is -2"),
        "{err}"
    );
}

#[test]
fn duplicate_source_and_unknown_argument() {
    let err = bad_source(
        "dup.dsym",
        "source S = gaussian(spectrum = [1]);\nsource S = gaussian(spectrum = [2]);\nsource T = gaussian(spectrum = [2], scale = 3);\n",
        "S",
    );
    assert!(err.contains("source `S` is defined twice"), "{err}");
    assert!(err.contains("first defined here"), "{err}");
    assert!(
        err.contains("unknown argument `scale` of gaussian"),
        "{err}"
    );
    insta::assert_snapshot!(err);
}

#[test]
fn bad_command_lines_are_exit_2_with_nothing_on_stdout() {
    let f = scratch_file("sources.dsym", SOURCES);
    let base = ["kl", &f, "--process", "cosine", "--source", "S"];
    for extra in [
        &["--sampler", "rk4", "--steps", "2"][..],
        &["--sampler", "ddim", "--steps", "0"],
        &["--sampler", "ddim", "--steps", "2,x"],
        &["--sampler", "ddim"],
        &[
            "--sampler",
            "ddim",
            "--steps",
            "2",
            "--t-min",
            "0.5",
            "--t-max",
            "0.5",
        ],
        &["--sampler", "ddim", "--steps", "2", "--t-max", "2"],
        &["--sampler", "euler_maruyama", "--steps", "2"],
    ] {
        let (code, out, err) = run(&[&base[..], extra].concat());
        assert_eq!(code, 2, "{extra:?}: {out}{err}");
        assert!(out.is_empty(), "{extra:?}: {out}");
        assert!(err.starts_with("error"), "{extra:?}: {err}");
    }
    let (code, _, err) = run(&[
        "kl",
        &f,
        "--process",
        "nope",
        "--source",
        "S",
        "--sampler",
        "ddim",
        "--steps",
        "2",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no process named `nope`"), "{err}");
    // Ends one ulp apart: no 4-step grid fits, a diagnostic (this was a panic).
    let (code, out, err) = run(&[
        "schedule",
        &f,
        "--source",
        "S",
        "--process",
        "rectified_flow",
        "--steps",
        "4",
        "--t-min",
        "0.5",
        "--t-max",
        "0.50000000000000011102230246251565",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty() && err.starts_with("error"), "{err}");
    let (code, _, err) = run(&[
        "kl",
        &f,
        "--process",
        "cosine",
        "--source",
        "T",
        "--sampler",
        "ddim",
        "--steps",
        "2",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no source named `T`") && err.contains("sources: one, S, C"),
        "{err}"
    );
}

/// `beta(t) = B`: alpha = e^(-B t/2) is below f64's range near t = 1 for B = 3000 (e^-1500
/// is 0 in f64), and alpha^2 is for B = 1000. A DDIM step from t = 1 to t = 0 then seems
/// to map every point to one (an infinite KL) but does not: the exact KL(src||out) is
/// 1.53e1303 (B = 3000, one step; mpmath at 2000 bits), beyond f64, a diagnostic. A zero
/// that is one (cosine's alpha(1)) is still an infinite KL, and steps whose values
/// underflow harmlessly keep their values.
#[test]
fn a_kl_beyond_f64_is_refused_where_f64_makes_the_output_seem_degenerate() {
    let f = scratch_file(
        "beyond_f64.dsym",
        "process b3000 { beta(t) = 3000; alpha(t) = exp(-1/2 * integrate(beta(s), s, 0, t)); \
         sigma(t) = sqrt(1 - alpha(t)^2); }\n\
         process b1000 { beta(t) = 1000; alpha(t) = exp(-1/2 * integrate(beta(s), s, 0, t)); \
         sigma(t) = sqrt(1 - alpha(t)^2); }\n\
         source g = gaussian(cov = [[1/4]], mean = [1]);\n",
    );
    let kl = |process: &str, sampler: &str, steps: &str| {
        run(&[
            "kl",
            &f,
            "--process",
            process,
            "--source",
            "g",
            "--sampler",
            sampler,
            "--steps",
            steps,
            "--format",
            "json",
        ])
    };
    for (process, sampler, why) in [
        ("b3000", "ddim", "alpha(1) is not 0 but below f64's range"),
        ("b3000", "dpm1", "alpha(1) is not 0 but below f64's range"),
        ("b3000", "ddpm", "alpha(1) is not 0 but below f64's range"),
        ("b1000", "ddim", "its variance is below f64's range"),
    ] {
        let (code, out, err) = kl(process, sampler, "1");
        assert_eq!(code, 2, "{process} {sampler}: {out}{err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("beyond f64") && err.contains(why), "{err}");
    }
    let value = |process: &str, sampler: &str, steps: &str| {
        let (code, out, err) = kl(process, sampler, steps);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        [
            &v["results"][0]["kl_src_out"],
            &v["results"][0]["kl_out_src"],
        ]
        .map(|x| x.as_f64())
    };
    // Cosine's alpha(1) = cos(pi/2) is 0: one step maps every point to alpha(0) x0_hat(0).
    assert_eq!(value("cosine", "ddim", "1"), [None, None]);
    // Five DDIM steps: every step's values that underflow are negligible (mpmath: 7.54604060185988e260, 300.193147180560).
    let [a, b] = value("b3000", "ddim", "5").map(|x| x.expect("finite"));
    assert!((a / 7.546_040_601_859_88e260 - 1.0).abs() < 1e-12, "{a}");
    assert!((b / 300.193_147_180_56 - 1.0).abs() < 1e-12, "{b}");
    // Euler moves x by alpha'(1) x0_hat ~ 1500 e^-1500: the output is the prior N(0, 1),
    // KL(src||out) = (1/4 + 1 - 1 + ln 4)/2 and KL(out||src) = (4 + 4 - 1 - ln 4)/2.
    let [a, b] = value("b3000", "euler", "1").map(|x| x.expect("finite"));
    assert!((a - (0.25 + 4f64.ln()) / 2.0).abs() < 1e-15, "{a}");
    assert!((b - (7.0 - 4f64.ln()) / 2.0).abs() < 1e-15, "{b}");
    // `schedule` searches from the named grids that have a KL: with none (logsnr and
    // karras need finite ends), the uniform grid's reason is the command's.
    let schedule = |process: &str, steps: &str| {
        run(&[
            "schedule",
            &f,
            "--source",
            "g",
            "--process",
            process,
            "--steps",
            steps,
        ])
    };
    let (code, out, err) = schedule("b3000", "3");
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty() && err.contains("beyond f64"), "{err}");
    // `plot kl` leaves out the numbers of steps whose KL is beyond f64, and says so.
    let svg = crate::support::scratch_dir().join("beyond_f64.svg");
    let svg = svg.to_str().expect("utf-8");
    let plot = |steps: &str| {
        run(&[
            "plot",
            "kl",
            &f,
            "--process",
            "b3000",
            "--source",
            "g",
            "--sampler",
            "ddim",
            "--steps",
            steps,
            "--out",
            svg,
        ])
    };
    let (code, out, err) = plot("1,5");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("not drawn, its KL beyond f64: N = 1\n"),
        "{out}"
    );
    let (code, out, err) = plot("1,2");
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("beyond f64"), "{err}");
    // An infinite KL is printed as one, not as a grid that does not exist.
    let (code, out, err) = schedule("cosine", "1");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("optimal grid  inf\n") && out.contains("uniform grid  inf\n"),
        "{out}"
    );
}
