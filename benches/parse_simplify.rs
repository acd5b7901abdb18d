//! Benchmarks of the front half of the pipeline: parse + lower + simplify.
//!
//! `library`: the whole bundled library (parse, resolve, integrate, simplify every
//! definition). `schedules`: simplification alone of a set of schedule expressions.
//! `check` and `eval`: the commands as a user runs them (in-process), `check` on the whole
//! library and `eval` of certified values, one of them a limit at an end.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diffsym::expr::{Pool, simplify};
use diffsym::{cli, process, syntax};

fn library(c: &mut Criterion) {
    c.bench_function("parse+lower+simplify bundled library", |b| {
        // As `diffsym derive` does it: parse every file, lower the files in parallel (each
        // in its own pool), merge them into one pool.
        b.iter(|| {
            let mut pool = Pool::new();
            let asts: Vec<_> = diffsym::library::BUNDLED
                .iter()
                .map(|(_, text)| syntax::parse_file(black_box(text)).expect("bundled files parse"))
                .collect();
            let files: Vec<_> = asts
                .iter()
                .zip(diffsym::library::BUNDLED)
                .map(|(ast, (_, text))| (ast, *text))
                .collect();
            let ps = process::lower_files(&mut pool, &files, &[], process::Stage::Fields);
            assert!(ps.iter().all(Result::is_ok), "bundled files lower");
            black_box(ps);
        })
    });
}

const SCHEDULES: &[&str] = &[
    "exp(-1/2*(t/10 + 199*t^2/20))",
    "sqrt(1 - exp(-(t/10 + 199*t^2/20)))",
    "2*t + 2*t^2/(1 - t)",
    "pi*sin(pi*t/2)*cos(pi*t/2) + pi*tan(pi*t/2)*sin(pi*t/2)^2",
    "log(exp(t)*cos(pi*t/2)/sin(pi*t/2))",
    "sqrt(t^2)*exp(log(1 + t)) - t*(1 + t)",
    "atan(tan(pi*t/4)) + sigmoid(t) - 1/(1 + exp(-t))",
];

fn schedules(c: &mut Criterion) {
    let t = |pool: &mut Pool| process::time_symbol(pool);
    c.bench_function("simplify schedule expressions", |b| {
        b.iter(|| {
            let mut pool = Pool::new();
            let ts = t(&mut pool);
            for text in SCHEDULES {
                let ast = syntax::parse_expr(text).expect("parses");
                let e = process::lower_expr(&mut pool, &ast, &[("t", ts)]).expect("lowers");
                black_box(simplify::simplify(&mut pool, e));
            }
        })
    });
}

/// `diffsym ARGS` in-process, output discarded.
fn run(args: &[&str]) {
    let argv = std::iter::once("diffsym")
        .chain(args.iter().copied())
        .map(Into::into);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::run(argv, &mut out, &mut err);
    assert!(code == 0 || code == 1, "{}", String::from_utf8_lossy(&err));
    black_box((out, err));
}

fn commands(c: &mut Criterion) {
    c.bench_function("check bundled library", |b| b.iter(|| run(&["check"])));
    // The same-run baselines of the endpoint cases below: the same commands at an
    // ordinary interior time, so the cost of a cancellation or a limit is a ratio.
    c.bench_function("eval sigma at t = 0.5 (baseline)", |b| {
        b.iter(|| run(&["eval", "derivations/vp_linear.dsym", "sigma", "--t", "0.5"]))
    });
    c.bench_function("eval alpha at t = 0.5 (baseline)", |b| {
        b.iter(|| run(&["eval", "derivations/tangent.dsym", "alpha", "--t", "0.5"]))
    });
    c.bench_function("eval sigma at t = 1e-80 (cancellation)", |b| {
        b.iter(|| {
            run(&[
                "eval",
                "derivations/vp_linear.dsym",
                "sigma",
                "--t",
                "1e-80",
            ])
        })
    });
    c.bench_function("eval alpha at t = 1 (a limit)", |b| {
        b.iter(|| run(&["eval", "derivations/tangent.dsym", "alpha", "--t", "1"]))
    });
}

/// `alpha(t) = exp(-(sum_{k=1}^{n} k/(k+1) t^k))`, `sigma = sqrt(1 - alpha^2)`.
fn long_sum(n: usize) -> String {
    let terms: Vec<String> = (1..=n).map(|k| format!("{k}/{}*t^{k}", k + 1)).collect();
    format!(
        "process p {{\n  alpha(t) = exp(-({}));\n  sigma(t) = sqrt(1 - alpha(t)^2);\n}}\n",
        terms.join(" + ")
    )
}

/// `n` small processes, each with its own linear sigma.
fn many_processes(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "process p{i} {{\n  alpha(t) = 1 - t;\n  sigma(t) = {}*t/{};\n}}\n",
                1 + i % 9,
                1 + i % 20
            )
        })
        .collect()
}

/// How the work grows with the input (issue 11): long sums and many processes, against
/// the n = 30 sum as the baseline measured in the same run. Targets: derive n = 300 under
/// 1 s and n = 1000 under 5 s, check n = 300 under 2 s.
fn scaling(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("writable");
        path.to_string_lossy().into_owned()
    };
    let sum30 = write("sum30.dsym", long_sum(30));
    let sum300 = write("sum300.dsym", long_sum(300));
    let sum1000 = write("sum1000.dsym", long_sum(1000));
    let many = write("many1000.dsym", many_processes(1000));
    let mut g = c.benchmark_group("scaling");
    g.sample_size(10);
    g.bench_function("derive sum n=30 (baseline)", |b| {
        b.iter(|| run(&["derive", &sum30]))
    });
    g.bench_function("derive sum n=300", |b| b.iter(|| run(&["derive", &sum300])));
    g.bench_function("derive sum n=1000", |b| {
        b.iter(|| run(&["derive", &sum1000]))
    });
    g.bench_function("check sum n=300", |b| b.iter(|| run(&["check", &sum300])));
    g.bench_function("check 1000 processes", |b| {
        b.iter(|| run(&["check", &many]))
    });
    g.finish();
}

criterion_group!(benches, library, schedules, commands, scaling);
criterion_main!(benches);
