//! `diffsym check`: every assertion proved symbolically, else checked numerically at high
//! precision, and the built-in checks of every process.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::args::Params;
use super::load::load;
use super::output::Outcome;
use crate::diag::Diag;
use crate::expr::Pool;
use crate::process;
use crate::process::checks::{self, Verdict};

/// How `check` prints its verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum CheckFormat {
    /// One line per check and a summary
    Text,
    /// One JSON object: a record per check and the counts
    Json,
    /// JUnit XML: a test suite per process, a test case per check (CI systems display it)
    Junit,
}

/// `diffsym check [FILE...] [--process NAME] [--format text|json|junit]`
#[derive(clap::Args, Debug)]
pub(super) struct CheckArgs {
    /// .dsym files (default: the bundled library)
    files: Vec<PathBuf>,
    /// Only this process
    #[arg(long)]
    process: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    #[command(flatten)]
    params: Params,
}

/// One check's verdict, as `--format json` prints it.
#[derive(Serialize, Debug)]
struct Record {
    file: String,
    line: usize,
    process: String,
    /// `assert` for the file's asserts, `builtin` for the checks every process gets.
    kind: &'static str,
    text: String,
    /// `proved`, `checked` or `failed`.
    status: &'static str,
    /// Sample points of a numeric check (absent when proved).
    #[serde(skip_serializing_if = "Option::is_none")]
    points: Option<usize>,
    /// The largest relative difference of a numeric check of an equation, at 256 bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_relative_error: Option<f64>,
    /// Where a failed check fails, what was found there, and the values of the two sides.
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    left: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    right: Option<String>,
}

impl Record {
    fn new(
        file: &str,
        line: usize,
        process: &str,
        kind: &'static str,
        text: String,
        verdict: Verdict,
    ) -> Record {
        let mut r = Record {
            file: file.to_owned(),
            line,
            process: process.to_owned(),
            kind,
            text,
            status: "proved",
            points: None,
            max_relative_error: None,
            at: None,
            detail: None,
            left: None,
            right: None,
        };
        match verdict {
            Verdict::Proved => {}
            Verdict::Checked { points, max_rel } => {
                r.status = "checked";
                r.points = Some(points);
                r.max_relative_error = Some(max_rel);
            }
            Verdict::Sampled { points } => {
                r.status = "checked";
                r.points = Some(points);
            }
            Verdict::Failed { at, detail, sides } => {
                r.status = "failed";
                r.at = Some(at);
                r.detail = Some(detail);
                (r.left, r.right) = sides.map_or((None, None), |[l, r]| (Some(l), Some(r)));
            }
        }
        r
    }

    /// The verdict as the text format shows it after the check.
    fn status_text(&self) -> String {
        match (self.status, self.points, self.max_relative_error) {
            ("proved", ..) => "proved".to_owned(),
            ("checked", Some(points), Some(max_rel)) => {
                format!("checked ({points} points, max relative error {max_rel:.1e})")
            }
            ("checked", Some(points), None) => format!("checked (holds at {points} points)"),
            _ => format!(
                "FAILED at {}: {}",
                self.at.as_deref().unwrap_or(""),
                self.detail.as_deref().unwrap_or("")
            ),
        }
    }
}

/// Every verdict, and how many were proved, checked and failed.
#[derive(Serialize, Debug)]
struct Report {
    checks: Vec<Record>,
    total: usize,
    proved: usize,
    checked: usize,
    failed: usize,
}

impl Report {
    fn new(checks: Vec<Record>) -> Report {
        let count = |s: &str| checks.iter().filter(|r| r.status == s).count();
        let (proved, checked, failed) = (count("proved"), count("checked"), count("failed"));
        Report {
            total: checks.len(),
            checks,
            proved,
            checked,
            failed,
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        for r in &self.checks {
            let _ = writeln!(
                s,
                "{}:{}: {}: {}  {}",
                r.file,
                r.line,
                r.process,
                r.text,
                r.status_text()
            );
        }
        let _ = writeln!(
            s,
            "{} checks: {} proved, {} checked, {} failed",
            self.total, self.proved, self.checked, self.failed
        );
        s
    }

    /// JUnit XML: one `testsuite` per (file, process) in order of appearance, one
    /// `testcase` per check (name `line N: text`), a `failure` for a failed one; how a
    /// passing check passed (proved or checked) is its `system-out`.
    fn junit(&self) -> String {
        let mut suites: Vec<(&str, &str, Vec<&Record>)> = Vec::new();
        for r in &self.checks {
            match suites.last_mut() {
                Some((f, p, rs)) if *f == r.file && *p == r.process => rs.push(r),
                _ => suites.push((&r.file, &r.process, vec![r])),
            }
        }
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            s,
            "<testsuites name=\"diffsym check\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
            self.total, self.failed
        );
        for (file, process, records) in suites {
            let failures = records.iter().filter(|r| r.status == "failed").count();
            let _ = writeln!(
                s,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
                xml(&format!("{file}: {process}")),
                records.len()
            );
            for r in records {
                let _ = write!(
                    s,
                    "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\">",
                    xml(&r.process),
                    xml(&format!("line {}: {}", r.line, r.text)),
                    xml(&r.file),
                    r.line
                );
                if r.status == "failed" {
                    let _ = write!(
                        s,
                        "\n      <failure message=\"{}\" type=\"failed\">{}</failure>\n    ",
                        xml(&r.status_text()),
                        xml(&r.status_text())
                    );
                } else {
                    let _ = write!(s, "<system-out>{}</system-out>", xml(&r.status_text()));
                }
                s.push_str("</testcase>\n");
            }
            s.push_str("  </testsuite>\n");
        }
        s.push_str("</testsuites>\n");
        s
    }
}

/// `text` escaped for an XML attribute or element.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all (control characters, U+FFFE and
            // U+FFFF) are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{fffe}' | '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
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
                    .map(|a| checks::assertion(&mut own, a))
                    .collect();
                (asserts, checks::builtin(&mut own, &p))
            })
        },
    );
    let mut records = Vec::new();
    for ((src, p), (asserts, builtin)) in loaded.processes.iter().zip(verdicts) {
        for (a, verdict) in p.asserts.iter().zip(asserts) {
            let (line, _) = src.line_col(a.span.start);
            let shown = a.one_line();
            records.push(Record::new(
                &src.name, line, &p.name, "assert", shown, verdict,
            ));
        }
        let (line, _) = src.line_col(p.span.start);
        for (what, verdict) in builtin {
            records.push(Record::new(
                &src.name,
                line,
                &p.name,
                "builtin",
                what.to_owned(),
                verdict,
            ));
        }
    }
    let report = Report::new(records);
    let stdout = match a.format {
        CheckFormat::Text => report.text(),
        CheckFormat::Json => super::output::json(&report),
        CheckFormat::Junit => report.junit(),
    };
    Ok(Outcome {
        stdout,
        code: if report.failed > 0 { 1 } else { 0 },
    })
}
