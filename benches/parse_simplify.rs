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
            let asts: Vec<_> = cli::BUNDLED
                .iter()
                .map(|(_, text)| syntax::parse_file(black_box(text)).expect("bundled files parse"))
                .collect();
            let files: Vec<_> = asts
                .iter()
                .zip(cli::BUNDLED)
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

criterion_group!(benches, library, schedules, commands);
criterion_main!(benches);
