//! Issue 10: `eval` of every quantity of every bundled process at t in {0, 1e-300, 1e-12,
//! 1e-6, 0.5, 1 - 1e-12, 1} is the correctly rounded f64, or a refusal that names the
//! infinity the quantity tends to or says it is outside the range of f64.
//!
//! The expected data, `tests/data/eval_reference.json`, comes from
//! `tests/data/eval_reference.py`: each process transcribed by hand from its .dsym file into
//! mpmath (derivatives derived by hand in closed form), evaluated at >= 300 digits and
//! again at twice that, limits at the ends from distances 1e-60, 1e-80 and 1e-100. It never
//! runs diffsym. Cases where diffsym is known to be wrong carry `known_issue` and are
//! skipped here, by name.
//!
//! Every case is evaluated through the steps of `eval` (`cli::eval_cmd`: the time parsed
//! as an exact rational, `limit::value_at` with the f64 rounding, an infinity reported as
//! outside the range) on each process lowered once; a sample (each process's first case of
//! each expectation, each time's first case) also goes through the whole command line.
//! Every case through the command line took 220 s in a debug build, 185 s of it lowering
//! karras_ve 77 times; this takes about 14 s. Both zeros compare equal: `eval` rounds a
//! ball around 0 to 0 without a sign.

use serde_json::Value;

use diffsym::Pool;
use diffsym::expr::{ball, limit};
use diffsym::process::{self, Process};

use crate::support::run;

const REFERENCE: &str = include_str!("../data/eval_reference.json");

/// What `eval` must do for one case.
#[derive(Debug)]
enum Expect {
    /// Exit 0 and print this f64 (one ulp either way allowed when `near_tie`).
    Value { value: f64, near_tie: bool },
    /// Exit 2, "tends to +inf" or "tends to -inf".
    Tends(&'static str),
    /// Exit 2, "outside the range of f64".
    Outside,
}

#[derive(Debug)]
struct Case {
    process: String,
    quantity: String,
    t: String,
    expect: Expect,
    known_issue: Option<String>,
}

fn cases() -> Vec<Case> {
    let data: Value = serde_json::from_str(REFERENCE).expect("reference JSON");
    let text = |c: &Value, k: &str| {
        c[k].as_str()
            .unwrap_or_else(|| panic!("field {k} of {c}"))
            .to_owned()
    };
    data["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let expect = match c["expect"].as_str() {
                // Values are strings: Rust's parse is correctly rounded, and Python's repr
                // round-trips.
                Some("value") => Expect::Value {
                    value: text(c, "value").parse().expect("a float"),
                    near_tie: c["near_tie"].as_bool().unwrap_or(false),
                },
                Some("+inf") => Expect::Tends("+inf"),
                Some("-inf") => Expect::Tends("-inf"),
                Some("outside") => Expect::Outside,
                other => panic!("unknown expectation {other:?}"),
            };
            Case {
                process: text(c, "process"),
                quantity: text(c, "quantity"),
                t: text(c, "t"),
                expect,
                known_issue: c["known_issue"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

/// What `eval` did: printed a number, or refused with a message.
enum Outcome {
    Printed(f64),
    Refused(String),
}

/// `diffsym eval derivations/PROCESS.dsym QUANTITY --t T` through the command line.
fn eval_cli(case: &Case) -> Result<Outcome, String> {
    let file = format!("derivations/{}.dsym", case.process);
    let (code, out, err) = run(&["eval", &file, &case.quantity, "--t", &case.t]);
    match (code, out.trim().parse()) {
        (0, Ok(v)) => Ok(Outcome::Printed(v)),
        (2, _) if out.is_empty() => Ok(Outcome::Refused(err)),
        _ => Err(format!("exit {code}, stdout {out:?}, stderr {err:?}")),
    }
}

/// A bundled process, lowered once for all its cases.
struct Lowered {
    pool: Pool,
    process: Process,
}

fn lower(name: &str) -> Lowered {
    let text = std::fs::read_to_string(format!("derivations/{name}.dsym")).expect("read");
    let ast = diffsym::syntax::parse_file(&text).expect("parses");
    let mut pool = Pool::new();
    let mut ps = process::lower_file(&mut pool, &ast, &text, &[]).expect("lowers");
    Lowered {
        pool,
        process: ps.remove(0),
    }
}

/// The steps of `eval` for a function of t alone (`cli::eval_cmd`), on a process lowered
/// once: lowering karras_ve takes 2.4 s in a debug build, and every command line does it.
fn eval_lowered(l: &mut Lowered, quantity: &str, t: &str) -> Outcome {
    let pool = &mut l.pool;
    let t_value = process::parse_param_override(pool, t).expect("an exact time");
    let (arg, e) = match l.process.def(quantity) {
        Some(d) => (d.args[0], d.body),
        None => (
            process::time_symbol(pool),
            l.process.quantity(quantity).expect("a quantity"),
        ),
    };
    let env = [(arg, t_value)];
    match limit::value_at(
        pool,
        e,
        &env,
        &[arg],
        limit::MAX_POINT_BITS,
        &ball::round_f64,
    ) {
        Ok(bits) if f64::from_bits(bits).is_infinite() => {
            Outcome::Refused("outside the range of f64".to_owned())
        }
        Ok(bits) => Outcome::Printed(f64::from_bits(bits)),
        Err(err) => Outcome::Refused(err.to_string()),
    }
}

/// Adjacent f64 of the same sign: their bit patterns differ by one.
fn ulps_apart(a: f64, b: f64) -> u64 {
    if a == b {
        return 0;
    }
    if a.is_sign_negative() != b.is_sign_negative() {
        return u64::MAX;
    }
    a.to_bits().abs_diff(b.to_bits())
}

/// Why `outcome` is not what `expect` asks for, if it is not.
fn mismatch(expect: &Expect, outcome: &Outcome) -> Option<String> {
    let wanted = match *expect {
        Expect::Value { value, near_tie } => {
            let allowed = u64::from(near_tie);
            return match outcome {
                Outcome::Printed(v) if ulps_apart(*v, value) <= allowed => None,
                Outcome::Printed(v) => Some(format!(
                    "expected {value:?}, got {v:?} ({} ulp)",
                    ulps_apart(*v, value)
                )),
                Outcome::Refused(m) => Some(format!("expected {value:?}, refused: {}", m.trim())),
            };
        }
        Expect::Tends(sign) => format!("tends to {sign}"),
        Expect::Outside => "outside the range of f64".to_owned(),
    };
    match outcome {
        Outcome::Refused(m) if m.contains(&wanted) => None,
        Outcome::Refused(m) => Some(format!("expected \"{wanted}\", refused: {}", m.trim())),
        Outcome::Printed(v) => Some(format!("expected \"{wanted}\", got {v:?}")),
    }
}

#[test]
fn the_reference_covers_the_bundled_library() {
    let mut bundled: Vec<String> = std::fs::read_dir("derivations")
        .expect("derivations/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let theorems =
                diffsym::library::THEOREMS.contains(&format!("derivations/{name}").as_str());
            name.strip_suffix(".dsym")
                .filter(|_| !theorems)
                .map(str::to_owned)
        })
        .collect();
    bundled.sort();
    let cases = cases();
    let mut covered: Vec<String> = cases.iter().map(|c| c.process.clone()).collect();
    covered.sort();
    covered.dedup();
    assert_eq!(
        covered, bundled,
        "regenerate tests/data/eval_reference.json"
    );
    // Every process x 11 quantities x 7 times, each once.
    assert_eq!(cases.len(), bundled.len() * 11 * 7);
    let mut keys: Vec<(&str, &str, &str)> = cases
        .iter()
        .map(|c| (c.process.as_str(), c.quantity.as_str(), c.t.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), cases.len());
}

#[test]
fn every_quantity_of_every_bundled_process_matches_the_reference() {
    let cases = cases();
    let mut lowered: Vec<(String, Lowered)> = Vec::new();
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    // Through the command line: each process's first case of each kind of expectation,
    // and each time's first case (its text parsed by `--t`).
    let mut via_cli: Vec<String> = Vec::new();
    let mut cli_runs = 0;
    for case in &cases {
        let name = format!("{} {} at t = {}", case.process, case.quantity, case.t);
        if let Some(issue) = &case.known_issue {
            skipped.push(format!("{name}: {issue}"));
            continue;
        }
        if lowered.last().is_none_or(|(n, _)| *n != case.process) {
            lowered.push((case.process.clone(), lower(&case.process)));
        }
        let l = &mut lowered.last_mut().expect("lowered").1;
        let mut whys = Vec::new();
        if let Some(why) = mismatch(&case.expect, &eval_lowered(l, &case.quantity, &case.t)) {
            whys.push(why);
        }
        let kind = match case.expect {
            Expect::Value { .. } => "value",
            Expect::Tends(sign) => sign,
            Expect::Outside => "outside",
        };
        let firsts = [format!("{} {kind}", case.process), format!("t {}", case.t)];
        if firsts.iter().any(|f| !via_cli.contains(f)) {
            via_cli.extend(firsts);
            cli_runs += 1;
            let why = match eval_cli(case) {
                Ok(outcome) => mismatch(&case.expect, &outcome),
                Err(bad) => Some(bad),
            };
            if let Some(why) = why {
                whys.push(format!("(command line) {why}"));
            }
        }
        if !whys.is_empty() {
            failures.push(format!("{name}: {}", whys.join("; ")));
        }
    }
    if !skipped.is_empty() {
        eprintln!(
            "{} known issues skipped:\n  {}",
            skipped.len(),
            skipped.join("\n  ")
        );
    }
    eprintln!(
        "{} cases checked, {cli_runs} of them also through the command line",
        cases.len() - skipped.len()
    );
    assert!(cli_runs >= 16, "only {cli_runs} command lines run");
    assert!(
        failures.is_empty(),
        "{} of {} checked cases differ from the reference:\n  {}",
        failures.len(),
        cases.len() - skipped.len(),
        failures.join("\n  ")
    );
}
