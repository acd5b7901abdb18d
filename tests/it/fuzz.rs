//! The bounded run of the project's own fuzzer (`diffsym::fuzz`, issue 11): the first
//! cases of seed 0, generated and mutated programs, each checked against the contract
//! (no panic, a time limit, located diagnostics, no NaN or inf from `eval`, score errors
//! decomposed exactly, `diffsym hodge` exiting 0 or 2 without NaN or inf). The unbounded
//! run is `cargo run --release --example fuzz` (README, Development).

use std::time::{Duration, Instant};

use diffsym::fuzz::{self, Config};

/// Cases run here: about 10 s in the dev profile on the project's 2-core machine.
const CASES: u64 = 400;

#[test]
fn the_first_fuzz_cases_keep_the_contract() {
    let config = Config {
        // The dev profile is several times slower than release, where the limit is 10 s.
        timeout: Duration::from_secs(60),
        ..Config::default()
    };
    let started = Instant::now();
    let (mut parsed, mut lowered, mut evals, mut evals_ok) = (0, 0, 0, 0);
    let (mut score_errors, mut analyses, mut analyses_ok) = (0, 0, 0);
    let mut failures = Vec::new();
    for i in 0..CASES {
        match fuzz::run_case(i, &config) {
            Ok(s) => {
                parsed += u64::from(s.parsed);
                lowered += u64::from(s.lowered);
                evals += s.evals as u64;
                evals_ok += s.evals_ok as u64;
                score_errors += s.score_errors as u64;
                analyses += s.analyses as u64;
                analyses_ok += s.analyses_ok as u64;
            }
            Err(f) => failures.push(f),
        }
    }
    eprintln!(
        "{CASES} fuzz cases in {:.1} s: {parsed} parsed, {lowered} lowered, {evals} evals ({evals_ok} printed a number), {score_errors} score errors, {analyses} hodge/kl runs ({analyses_ok} succeeded)",
        started.elapsed().as_secs_f64()
    );
    let report: Vec<String> = failures
        .iter()
        .map(|f| {
            format!(
                "case {} [{}] {}\n{}",
                f.index, f.violation.kind, f.violation.detail, f.case.text
            )
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n\n"));
    // The generator must reach the algebra and the evaluator, or this tests the parser only;
    // and the score errors and the commands that read them.
    assert!(
        parsed >= CASES / 2 && lowered >= CASES / 5 && evals_ok >= CASES / 5,
        "{parsed} parsed, {lowered} lowered, {evals_ok} evals printed a number"
    );
    assert!(
        score_errors >= CASES / 40 && analyses >= CASES / 40 && analyses_ok >= CASES / 200,
        "{score_errors} score errors, {analyses} hodge/kl runs ({analyses_ok} succeeded)"
    );
}

#[test]
fn a_case_is_a_function_of_its_seed_and_index() {
    let a = fuzz::generate(3, 17);
    assert_eq!(a, fuzz::generate(3, 17));
    assert_ne!(a, fuzz::generate(3, 18));
    assert_ne!(a, fuzz::generate(4, 17));
}

/// The minimizer removes lines, then tokens, then characters while the predicate holds.
#[test]
fn the_minimizer_keeps_what_the_predicate_needs() {
    let text = "process p {\n    alpha(t) = 1 - t;\n    sigma(t) = t;\n    assert f(t) == 0;\n}\n";
    let small = fuzz::minimize(text, Duration::from_secs(10), |t| t.contains("f(t)"));
    assert_eq!(small, "f(t)");
}
