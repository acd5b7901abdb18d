//! `diffsym check`: every assertion proved symbolically, else checked numerically at high
//! precision, and the built-in checks of every process.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::args::Params;
use super::load::load;
use super::output::Outcome;
use crate::diag::Diag;
use crate::expr::Pool;
use crate::process;
use crate::process::checks::{self, Verdict};

/// `diffsym check [FILE...] [--process NAME]`
#[derive(clap::Args, Debug)]
pub(super) struct CheckArgs {
    /// .dsym files (default: the bundled library)
    files: Vec<PathBuf>,
    /// Only this process
    #[arg(long)]
    process: Option<String>,
    #[command(flatten)]
    params: Params,
}

pub(super) fn run(a: &CheckArgs) -> Result<Outcome, Vec<Diag>> {
    let loaded = load(
        &a.files,
        a.process.as_deref(),
        &a.params.params,
        process::Stage::Quantities,
    )?;
    // Each process is checked in a pool of its own, the processes spread over the cores:
    // the verdicts do not depend on the number of threads.
    let pool = &loaded.pool;
    let verdicts = crate::par::map(
        &loaded.processes,
        crate::par::workers(loaded.processes.len()),
        |(_, p)| {
            let mut own = Pool::new();
            let p = p.transplant(pool, &mut own);
            crate::process::within_allowances(|| {
                let asserts: Vec<Verdict> = p
                    .asserts
                    .iter()
                    .map(|a| checks::assertion(&mut own, a.lhs, a.rhs))
                    .collect();
                (asserts, checks::builtin(&mut own, &p))
            })
        },
    );
    let mut s = String::new();
    let (mut proved, mut checked, mut failed) = (0, 0, 0);
    for ((src, p), (asserts, builtin)) in loaded.processes.iter().zip(verdicts) {
        let mut report = |what: &str, line: usize, verdict: Verdict| {
            let status = match verdict {
                Verdict::Proved => {
                    proved += 1;
                    "proved".to_owned()
                }
                Verdict::Checked { points, max_rel } => {
                    checked += 1;
                    format!("checked ({points} points, max relative error {max_rel:.1e})")
                }
                Verdict::Sampled { points } => {
                    checked += 1;
                    format!("checked (holds at {points} points)")
                }
                Verdict::Failed { at, detail } => {
                    failed += 1;
                    format!("FAILED at {at}: {detail}")
                }
            };
            let _ = writeln!(s, "{}:{line}: {}: {what}  {status}", src.name, p.name);
        };
        for (a, verdict) in p.asserts.iter().zip(asserts) {
            let (line, _) = src.line_col(a.span.start);
            let shown = a.source.split_whitespace().collect::<Vec<_>>().join(" ");
            report(&shown, line, verdict);
        }
        let (line, _) = src.line_col(p.span.start);
        for (what, verdict) in builtin {
            report(what, line, verdict);
        }
    }
    let _ = writeln!(
        s,
        "{} checks: {proved} proved, {checked} checked, {failed} failed",
        proved + checked + failed
    );
    Ok(Outcome {
        stdout: s,
        code: if failed > 0 { 1 } else { 0 },
    })
}
