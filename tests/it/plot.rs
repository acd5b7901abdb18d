//! The `plot` commands: the SVG is well-formed, has the expected series and legend, its
//! points are monotone where the quantities are, it is byte-identical across runs, and bad
//! input exits 2 without writing a file.

use crate::support::{run, scratch_dir, scratch_file};
use std::f64::consts::PI;
use std::path::Path;

const SOURCES: &str = "source one = gaussian(spectrum = [1]);\n\
                       source S = gaussian(spectrum = [1, 0.5, 0.1]);\n";

/// A fresh output path (not created).
fn out_path(name: &str) -> String {
    let dir = Path::new(&scratch_file("marker", ""))
        .parent()
        .unwrap()
        .to_path_buf();
    dir.join(name).to_string_lossy().into_owned()
}

/// Checks that `svg` is well-formed XML-ish text: tags balance, attributes are quoted,
/// text has no raw `<` and every `&` starts an entity. Returns the element names in order.
fn well_formed(svg: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        for (k, _) in text.match_indices('&') {
            let ent = &text[k..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;"]
                    .iter()
                    .any(|e| ent.starts_with(e)),
                "bare & in {text:?}"
            );
        }
        let close = rest[open..].find('>').expect("unclosed tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "`<` inside tag {tag:?}");
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in {tag:?}"
        );
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else {
            let name: String = tag.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(!name.is_empty(), "empty tag name in {tag:?}");
            names.push(name.clone());
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[close + 1..];
    }
    assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert_eq!(names.first().map(String::as_str), Some("svg"));
    names
}

/// The points of each `<polyline class="series">`, by its data-label.
fn series(svg: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    let attr = |line: &str, key: &str| -> String {
        let start = line.find(&format!("{key}=\"")).expect(key) + key.len() + 2;
        let end = line[start..].find('"').unwrap() + start;
        line[start..end].to_owned()
    };
    svg.lines()
        .filter(|l| l.starts_with("<polyline class=\"series\""))
        .map(|l| {
            let pts = attr(l, "points")
                .split(' ')
                .map(|p| {
                    let (x, y) = p.split_once(',').expect("x,y");
                    (x.parse().expect("x"), y.parse().expect("y"))
                })
                .collect();
            (attr(l, "data-label"), pts)
        })
        .collect()
}

fn legend(svg: &str) -> Vec<String> {
    svg.lines()
        .filter(|l| l.starts_with("<text class=\"legend\""))
        .map(|l| l[l.find('>').unwrap() + 1..l.rfind("</text>").unwrap()].to_owned())
        .collect()
}

fn plot(args: &[&str]) -> (String, String) {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    let path = &args[args.iter().position(|a| *a == "--out").unwrap() + 1];
    (
        out,
        std::fs::read_to_string(path).expect("the plot was written"),
    )
}

#[test]
fn kl_plot_has_both_directions_and_the_tangent_asymptote() {
    // The cosine schedule is the tangent law for lambda = 1: c_2 = pi^4/64
    // (docs/theory.md section 6).
    let f = scratch_file("sources.dsym", SOURCES);
    let o = out_path("kl.svg");
    let args = [
        "plot",
        "kl",
        &f,
        "--process",
        "cosine",
        "--source",
        "one",
        "--sampler",
        "ddim",
        "--steps",
        "2,4,8,16,32,64",
        "--out",
        &o,
    ];
    let (stdout, svg) = plot(&args);
    let c2: f64 = stdout
        .split("c_2 = ")
        .nth(1)
        .expect("c_2 reported")
        .trim()
        .parse()
        .unwrap();
    assert!((c2 / (PI.powi(4) / 64.0) - 1.0).abs() < 1e-6, "{stdout}");
    let names = well_formed(&svg);
    assert!(
        names.iter().filter(|n| *n == "polyline").count() == 3,
        "{names:?}"
    );
    assert_eq!(
        legend(&svg),
        ["KL(src||out)", "KL(out||src)", "c2/N^2 (DDIM asymptote)"]
    );
    assert!(
        svg.contains(r#"10<tspan dy="-5" font-size="9">−1</tspan>"#),
        "no 10^-1 tick"
    );
    for (label, pts) in series(&svg) {
        assert_eq!(pts.len(), 6, "{label}");
        // N increases to the right, KL decreases: y grows downwards in SVG.
        assert!(pts.windows(2).all(|w| w[1].0 > w[0].0), "{label}: {pts:?}");
        assert!(pts.windows(2).all(|w| w[1].1 > w[0].1), "{label}: {pts:?}");
    }
    // Byte-identical across runs.
    let o2 = out_path("kl2.svg");
    let mut again = args;
    again[args.len() - 1] = &o2;
    let (_, svg2) = plot(&again);
    assert_eq!(svg, svg2);
}

#[test]
fn kl_plot_omits_a_divergent_asymptote() {
    // vp_linear: sigma ~ sqrt(beta_min t) near 0, so J = int phi'^2 diverges from t = 0.
    let f = scratch_file("sources.dsym", SOURCES);
    let o = out_path("vp.svg");
    let (stdout, svg) = plot(&[
        "plot",
        "kl",
        &f,
        "--process",
        "vp_linear",
        "--source",
        "S",
        "--sampler",
        "ddim",
        "--steps",
        "4,16,64",
        "--out",
        &o,
    ]);
    assert!(stdout.contains("asymptote not drawn"), "{stdout}");
    assert_eq!(legend(&svg), ["KL(src||out)", "KL(out||src)"]);
    let (stdout, svg) = plot(&[
        "plot",
        "kl",
        &f,
        "--process",
        "vp_linear",
        "--source",
        "S",
        "--sampler",
        "ddim",
        "--steps",
        "4,16,64",
        "--t-min",
        "0.001",
        "--out",
        &o,
    ]);
    // Convergent from t = 0.001, but alpha(1) > 0: the prior N(0, I) is not the marginal
    // at t = 1, so the KL levels off and c_2/N^2 is not its asymptote.
    assert!(
        stdout.contains("prior N(0, I) is not the marginal"),
        "{stdout}"
    );
    assert_eq!(series(&svg).len(), 2);
    let (stdout, svg) = plot(&[
        "plot",
        "kl",
        &f,
        "--process",
        "cosine",
        "--source",
        "S",
        "--sampler",
        "ddim",
        "--steps",
        "4,16,64",
        "--t-min",
        "0.001",
        "--out",
        &o,
    ]);
    assert!(stdout.contains("c_2 = "), "{stdout}");
    assert_eq!(series(&svg).len(), 3);
    // Other samplers have other constants: no DDIM asymptote.
    let (stdout, _) = plot(&[
        "plot",
        "kl",
        &f,
        "--process",
        "cosine",
        "--source",
        "S",
        "--sampler",
        "euler",
        "--steps",
        "4,16",
        "--out",
        &o,
    ]);
    assert!(stdout.contains("asymptote not drawn"), "{stdout}");
}

#[test]
fn schedule_plot_is_monotone_where_the_schedule_is() {
    let f = scratch_file("sources.dsym", SOURCES);
    let o = out_path("s.svg");
    let (stdout, svg) = plot(&["plot", "schedule", &f, "--process", "cosine", "--out", &o]);
    assert!(stdout.starts_with("wrote "), "{stdout}");
    let names = well_formed(&svg);
    assert_eq!(
        names.iter().filter(|n| *n == "rect").count(),
        3,
        "background + 2 panels"
    );
    assert_eq!(
        legend(&svg),
        ["alpha(t)", "sigma(t)", "log-SNR = 2 lambda(t)"]
    );
    let s = series(&svg);
    // alpha falls (y down), sigma rises, log-SNR falls; the infinite ends are left out.
    let (alpha, sigma, snr) = (&s[0].1, &s[1].1, &s[2].1);
    assert_eq!((alpha.len(), sigma.len()), (201, 201));
    assert_eq!(snr.len(), 199);
    assert!(
        alpha
            .windows(2)
            .all(|w| w[1].1 >= w[0].1 && w[1].0 > w[0].0)
    );
    assert!(sigma.windows(2).all(|w| w[1].1 <= w[0].1));
    assert!(snr.windows(2).all(|w| w[1].1 >= w[0].1));
    assert!(alpha[0].1 < alpha[200].1 && sigma[0].1 > sigma[200].1);
    // A process only in the bundled library, with a parameter override.
    let (_, a) = plot(&[
        "plot",
        "schedule",
        &f,
        "--process",
        "vp_linear",
        "--param",
        "beta_max=10",
        "--out",
        &o,
    ]);
    let (_, b) = plot(&[
        "plot",
        "schedule",
        &f,
        "--process",
        "vp_linear",
        "--out",
        &o,
    ]);
    assert_ne!(a, b, "the override changes the plot");
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let f = scratch_file("sources.dsym", SOURCES);
    let dir = scratch_dir().join(format!("bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = dir.join("bad.svg").to_string_lossy().into_owned();
    let missing_dir = dir
        .join("nope")
        .join("x.svg")
        .to_string_lossy()
        .into_owned();
    let kl = |extra: &[&str], out: &str| {
        let mut a = vec![
            "plot",
            "kl",
            f.as_str(),
            "--source",
            "S",
            "--sampler",
            "ddim",
        ];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--out", out]);
        a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
    };
    let cases: Vec<Vec<String>> = vec![
        kl(&["--process", "nosuch"], &o),
        kl(&["--process", "cosine", "--steps", "0,4"], &o),
        kl(&["--process", "cosine", "--sampler", "rk9"], &o),
        kl(&["--process", "cosine", "--grid", "grid.txt"], &o),
        kl(
            &["--process", "cosine", "--t-min", "0.5", "--t-max", "0.2"],
            &o,
        ),
        kl(&["--process", "cosine", "--param", "nosuch=1"], &o),
        kl(&["--process", "cosine"], &missing_dir),
        [
            "plot",
            "kl",
            &f,
            "--process",
            "cosine",
            "--source",
            "Q",
            "--sampler",
            "ddim",
            "--out",
            &o,
        ]
        .map(str::to_owned)
        .to_vec(),
        ["plot", "schedule", &f, "--process", "nosuch", "--out", &o]
            .map(str::to_owned)
            .to_vec(),
        [
            "plot",
            "schedule",
            "/no/such.dsym",
            "--process",
            "cosine",
            "--out",
            &o,
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for args in &cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run(&argv);
        assert_eq!(code, 2, "{argv:?}: {out}");
        assert!(out.is_empty(), "{argv:?}: {out}");
        assert!(err.contains("error"), "{argv:?}: {err}");
        assert!(!Path::new(&o).exists(), "{argv:?} wrote a file");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "temporary files left"
    );
}
