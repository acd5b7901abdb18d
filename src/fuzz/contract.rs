//! The contract one fuzz case is checked against, through the library entry points the
//! command line uses (`syntax::parse_file`, `process::lower_file`,
//! `analysis::lower_sources`, the `eval` command's core `cli::eval_text`):
//!
//! - every error is a renderable [`Diag`] that points into the file (a label whose span
//!   lies in the text, a `file:line:col` location in the rendering), with a message;
//! - a file that loads prints (text and LaTeX) every formula, and the text of each parses
//!   back; a derived quantity's text reads back to the same expression;
//! - `eval` of random names at random times (both ends, tiny distances from them, exact
//!   rationals) prints a finite number or refuses with a diagnostic, never NaN or inf;
//!   where the formula is rational in t, the number is within an ulp of the exact value;
//! - sometimes, the checks of `diffsym check` run (asserts, `g2 >= 0`, Fokker-Planck);
//! - every score error that lowers is evaluated at a few times, and each affine one is
//!   decomposed against every Gaussian source of its dimension: an exact decomposition
//!   satisfies its identities exactly (S symmetric, Omega antisymmetric, the norms adding
//!   up) and fits in f64, as the command prints it;
//! - in a file with a source and an error, often, `diffsym hodge` (or `kl --score-error`)
//!   runs in-process on the case written to a temporary directory, with random flags and a
//!   small degree: it exits 0 or 2 (1 only for a failed `--prove-invisible`), with a
//!   diagnostic on failure and no NaN or inf in what it prints on success;
//! - in a file with a source, sometimes, `derive --source` (or rarely `emit --source`)
//!   exits 0 with output (JSON that parses) or 2 with a diagnostic.
//!
//! Panics and time are the runner's business ([`super::run_case`]).

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

use super::rng::Rng;
use super::{Case, Plan, Stats, Violation};
use crate::analysis::Sources;
use crate::analysis::hodge::gaussian::{self, HodgeError, Method, Moments};
use crate::analysis::hodge::lower::{Affine, ScoreError, Shift};
use crate::cli::{FieldInputs, eval_text};
use crate::diag::{self, Diag, Source};
use crate::expr::{ExprId, Node, Pool, Symbol, print};
use crate::process::{self, Process, checks, fields};
use crate::syntax::{self, ast};

/// The file name diagnostics of a case carry.
pub const FILE_NAME: &str = "fuzz.dsym";

/// The longest output a report of an unexpected exit code keeps whole.
const WHOLE_OUTPUT: usize = 20_000;

/// `text` cut to about 200 characters, for reports.
fn clip(text: &str) -> String {
    let n = text.chars().count();
    if n <= 240 {
        return text.to_owned();
    }
    let head: String = text.chars().take(200).collect();
    format!("{head}... ({n} characters)")
}

fn violation(kind: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        kind,
        detail: detail.into(),
    }
}

/// A mixture's score and Hessian are finite near it and far from it, at a time near the
/// data and one near the noise.
fn mixture_finite(m: &crate::analysis::Mixture) -> Result<(), Violation> {
    for (a, sg) in [(1.0, 1e-3), (0.3, 0.95)] {
        let p = m.marginal(a, sg);
        for x in [0.0, 3.0, -1e3] {
            let x = vec![x; m.dimension];
            // log p may round to -inf far from every component; never NaN.
            let finite = p.score(&x).iter().all(|v| v.is_finite())
                && p.hessian(&x).iter().all(|v| v.is_finite())
                && !p.log_density(&x).is_nan();
            if !finite {
                return Err(violation(
                    "mixture",
                    format!(
                        "`{}` at alpha = {a}, sigma = {sg}, x = {}: a value that is not finite",
                        m.name, x[0]
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Runs the whole contract on one case.
pub(super) fn check(
    case: &Case,
    rng: &mut Rng,
    plan: &Plan,
    stats: &mut Stats,
) -> Result<(), Violation> {
    let src = Source::new(FILE_NAME, case.text.as_str());
    let text = &case.text;
    let ast = match syntax::parse_file(text) {
        Ok(ast) => ast,
        Err(es) => {
            let ds: Vec<Diag> = es.into_iter().map(|e| e.in_source(&src)).collect();
            return located(text, &ds, "parse");
        }
    };
    stats.parsed = true;
    let mut loader = |path: &str| {
        case.data
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c.clone())
            .ok_or_else(|| "no such file".to_owned())
    };
    // The dimension of each source and error, when they lower.
    let mut dimensions: Vec<(String, usize, bool)> = Vec::new();
    match crate::analysis::lower_sources(&ast, &mut loader) {
        Err(es) => {
            let ds: Vec<Diag> = es.into_iter().map(|e| e.in_source(&src)).collect();
            located(text, &ds, "source")?;
        }
        Ok(sources) => {
            sources.mixtures.iter().try_for_each(mixture_finite)?;
            // No random choices here: `overrides_of` replays the ones below.
            score_errors(&sources, stats)?;
            let source_dims = sources
                .gaussians
                .iter()
                .map(|g| (g.name.clone(), g.eigenvalues.len()))
                .chain(
                    sources
                        .mixtures
                        .iter()
                        .map(|m| (m.name.clone(), m.dimension)),
                );
            dimensions.extend(source_dims.map(|(n, d)| (n, d, true)));
            let error_dims = sources.errors.iter().map(|e| (e.name.clone(), e.dimension));
            dimensions.extend(error_dims.map(|(n, d)| (n, d, false)));
        }
    }
    let mut pool = Pool::new();
    let overrides: Vec<_> = overrides(&mut pool, &ast, rng)
        .into_iter()
        .map(|(k, _, v)| (k, v))
        .collect();
    let processes = match process::lower_file(&mut pool, &ast, text, &overrides) {
        Ok(ps) => ps,
        Err(es) => {
            let ds: Vec<Diag> = es.into_iter().map(|e| e.in_source(&src)).collect();
            return located(text, &ds, "lower");
        }
    };
    stats.lowered = !processes.is_empty();
    for p in &processes {
        printed(&mut pool, p, stats)?;
        for _ in 0..plan.evals_per_process {
            eval_one(&mut pool, p, rng, stats)?;
        }
        if plan.run_checks {
            // Within the allowances `diffsym check` runs them in.
            process::within_allowances(|| {
                for a in &p.asserts {
                    checks::assertion(&mut pool, a);
                }
                checks::builtin(&mut pool, p);
            });
            stats.checked = true;
        }
    }
    // Last, so that the random choices before them stay those `overrides_of` replays.
    analysis_command(case, &ast, &processes, &dimensions, rng, stats)?;
    mixture_command(case, &ast, &processes, rng, stats)
}

// ---------------------------------------------------------------------------------------------
// Score errors

/// The times a score error is evaluated at: none (an error free of t), inside, at an end.
fn error_times() -> [Option<BigRational>; 3] {
    [
        None,
        Some(BigRational::new(1.into(), 2.into())),
        Some(BigRational::zero()),
    ]
}

/// Every lowered score error at [`error_times`]: an affine one decomposed against each
/// Gaussian source of its dimension, a non-affine one evaluated at a point.
fn score_errors(sources: &Sources, stats: &mut Stats) -> Result<(), Violation> {
    for e in &sources.errors {
        stats.score_errors += 1;
        e.depends_on_time();
        let d = e.dimension;
        let mut against: Vec<(String, Moments)> = sources
            .moments
            .iter()
            .filter(|(_, m)| m.mean.len() == d)
            .cloned()
            .collect();
        against.extend(
            sources
                .gaussians
                .iter()
                .filter(|g| g.eigenvalues.len() == d)
                .map(|g| (format!("{} (eigenbasis)", g.name), Moments::from_source(g))),
        );
        for t in error_times() {
            let at = || {
                t.as_ref()
                    .map_or_else(|| "any time".into(), |t| t.to_string())
            };
            match e.affine(t.as_ref()) {
                Ok(Some(a)) => {
                    affine_shape(e, &a, &at())?;
                    for (name, m) in &against {
                        decomposed(e, &a, name, m, &at())?;
                    }
                }
                Ok(None) => {
                    // A field that is not affine: its values may be NaN (the callers refuse
                    // them); evaluating it must not panic.
                    if let Ok(f) = e.evaluator(t.as_ref(), &vec![0.0; d]) {
                        f(&vec![0.5; d]);
                    }
                }
                Err(why) => {
                    let m = why.to_string();
                    if m.trim().is_empty()
                        || m.ends_with('.')
                        || m.starts_with(|c: char| c.is_ascii_uppercase())
                    {
                        return Err(violation(
                            "diagnostic",
                            format!(
                                "error `{}` at {}: a message not lowercase without a trailing period: {m}",
                                e.name,
                                at()
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// An affine error has a d by d matrix and d shift entries, all finite.
fn affine_shape(e: &ScoreError, a: &Affine, at: &str) -> Result<(), Violation> {
    let d = e.dimension;
    let shift = match &a.shift {
        Shift::FromMean(b) | Shift::AtOrigin(b) => b,
    };
    let square = a.matrix.len() == d && a.matrix.iter().all(|r| r.len() == d);
    if !square || shift.len() != d {
        return Err(violation(
            "wrong-value",
            format!(
                "error `{}` (dimension {d}) at {at}: an affine map with {} rows and {} shift entries",
                e.name,
                a.matrix.len(),
                shift.len()
            ),
        ));
    }
    if !a
        .matrix
        .iter()
        .flatten()
        .chain(shift)
        .all(|x| x.value.is_finite())
    {
        return Err(violation(
            "non-finite",
            format!("error `{}` at {at}: an entry that is not finite", e.name),
        ));
    }
    Ok(())
}

/// The decomposition of `a` against `m`: exact identities on the exact path, values that
/// fit in f64 on both (or the refusal `NotFinite`).
fn decomposed(
    e: &ScoreError,
    a: &Affine,
    source: &str,
    m: &Moments,
    at: &str,
) -> Result<(), Violation> {
    let what = || format!("error `{}` against `{source}` at {at}", e.name);
    let out = match gaussian::decompose(m, a) {
        Ok(out) => out,
        Err(HodgeError::NotFinite { .. }) => return Ok(()),
        Err(why) => {
            return Err(violation(
                "wrong-value",
                format!("{}: refused with equal dimensions: {why}", what()),
            ));
        }
    };
    let values = out
        .s
        .iter()
        .chain(&out.omega)
        .flatten()
        .chain(&out.shift)
        .chain([
            &out.norm2_error,
            &out.norm2_gradient,
            &out.norm2_solenoidal,
            &out.norm2_symmetric_part_difference,
        ]);
    let mut not_finite = values.filter(|x| !x.value.is_finite()).map(|x| x.value);
    if let Some(v) = not_finite.next() {
        return Err(violation(
            "non-finite",
            format!(
                "{}: the {} decomposition has the value {v}, which `diffsym hodge` prints",
                what(),
                out.method.name()
            ),
        ));
    }
    if out.method != Method::Exact {
        return Ok(());
    }
    let exact = |x: &crate::analysis::hodge::Scalar| x.exact.clone();
    let (Some(e2), Some(g2), Some(w2)) = (
        exact(&out.norm2_error),
        exact(&out.norm2_gradient),
        exact(&out.norm2_solenoidal),
    ) else {
        return Err(violation(
            "wrong-value",
            format!("{}: an exact decomposition with inexact norms", what()),
        ));
    };
    if e2 != &g2 + &w2 || g2.is_negative() || w2.is_negative() {
        return Err(violation(
            "wrong-value",
            format!(
                "{}: ||e||^2 = {} but ||grad||^2 = {} and ||w||^2 = {}",
                what(),
                show_rational(&e2),
                show_rational(&g2),
                show_rational(&w2)
            ),
        ));
    }
    let d = out.dimension;
    for i in 0..d {
        for j in 0..d {
            let (s, st) = (exact(&out.s[i][j]), exact(&out.s[j][i]));
            let (o, ot) = (exact(&out.omega[i][j]), exact(&out.omega[j][i]));
            let antisymmetric = matches!((&o, &ot), (Some(o), Some(ot)) if *o == -ot.clone());
            if s.is_none() || s != st || !antisymmetric {
                return Err(violation(
                    "wrong-value",
                    format!(
                        "{}: S not symmetric or Omega not antisymmetric at ({}, {})",
                        what(),
                        i + 1,
                        j + 1
                    ),
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// `diffsym hodge` and `diffsym kl --score-error`

/// Processes of the bundled library an analysis may name.
const LIBRARY_PROCESSES: &[&str] = &["cosine", "edm", "rectified_flow", "sub_vp", "karras_ve"];

/// Sometimes, in a file that declares a source and an error, `diffsym hodge` (or `kl
/// --score-error`) on them, in-process, on the case written to a temporary directory;
/// mostly a pair of the same dimension where `dimensions` (name, dimension, whether a
/// source) tells.
fn analysis_command(
    case: &Case,
    ast: &ast::File,
    processes: &[Process],
    dimensions: &[(String, usize, bool)],
    rng: &mut Rng,
    stats: &mut Stats,
) -> Result<(), Violation> {
    let names = |source: bool| -> Vec<&str> {
        ast.items
            .iter()
            .filter_map(|i| match i {
                ast::Item::Source(d) if source => Some(d.name.name.as_str()),
                ast::Item::Error(d) if !source => Some(d.name.name.as_str()),
                _ => None,
            })
            .collect()
    };
    let (sources, errors) = (names(true), names(false));
    if sources.is_empty() || errors.is_empty() || !rng.chance(2, 3) {
        return Ok(());
    }
    let pick = |rng: &mut Rng, names: &[&str], other: &str| {
        if rng.chance(1, 25) {
            other.to_owned()
        } else {
            (*rng.pick(names)).to_owned()
        }
    };
    let error = pick(rng, &errors, "no_such_error");
    let dimension_of = |name: &str, source: bool| {
        dimensions
            .iter()
            .find(|(n, _, s)| n == name && *s == source)
            .map(|&(_, d, _)| d)
    };
    let same: Vec<&str> = sources
        .iter()
        .copied()
        .filter(|s| dimension_of(s, true).is_some_and(|d| Some(d) == dimension_of(&error, false)))
        .collect();
    let source = if !same.is_empty() && rng.chance(4, 5) {
        (*rng.pick(&same)).to_owned()
    } else {
        pick(rng, &sources, "no_such_source")
    };
    let process = if !processes.is_empty() && rng.chance(1, 2) {
        Some(rng.pick(processes).name.clone())
    } else if rng.chance(2, 3) {
        Some(pick(rng, LIBRARY_PROCESSES, "no_such_process"))
    } else {
        None
    };
    let t = if rng.chance(1, 15) {
        rng.pick(BAD_TIMES).to_string()
    } else {
        rng.pick(TIMES).to_string()
    };
    let mut args: Vec<String> = Vec::new();
    let flag = |args: &mut Vec<String>, name: &str, value: String| {
        args.push(name.to_owned());
        args.push(value);
    };
    let kl = process.is_some() && rng.chance(1, 5);
    let mut proves = false;
    if kl {
        args.push("kl".to_owned());
        args.push(FILE_NAME.to_owned());
        flag(&mut args, "--process", process.clone().unwrap_or_default());
        flag(&mut args, "--source", source.clone());
        flag(&mut args, "--score-error", error.clone());
        let sampler = *rng.pick(&["ddim", "euler", "heun", "dpm1", "euler_maruyama", "ddpm"]);
        flag(&mut args, "--sampler", sampler.to_owned());
        let steps = *rng.pick(&["1", "2", "3", "2,5", "0"]);
        flag(&mut args, "--steps", steps.to_owned());
        if rng.chance(1, 3) {
            flag(&mut args, "--format", "json".to_owned());
        }
    } else {
        args.push("hodge".to_owned());
        args.push(FILE_NAME.to_owned());
        flag(&mut args, "--source", source.clone());
        flag(&mut args, "--error", error.clone());
        if let Some(p) = &process {
            flag(&mut args, "--process", p.clone());
        }
        if process.is_some() || rng.chance(1, 30) {
            flag(&mut args, "--t", t);
        }
        let degree = if rng.chance(1, 30) {
            (*rng.pick(&["0", "41", "-1"])).to_owned()
        } else {
            rng.range(1, 4).to_string()
        };
        flag(&mut args, "--degree", degree);
        if rng.chance(1, 6) {
            let n = *rng.pick(&["100", "500", "2000", "50"]);
            flag(&mut args, "--samples", n.to_owned());
            if rng.chance(1, 2) {
                flag(&mut args, "--seed", rng.range(0, 1000).to_string());
            }
        }
        if rng.chance(1, 8) {
            let cells = *rng.pick(&["2", "3", "8", "16", "1"]);
            flag(&mut args, "--finite-volume", cells.to_owned());
        }
        if (process.is_some() && rng.chance(1, 8)) || rng.chance(1, 60) {
            args.push("--prove-invisible".to_owned());
            proves = true;
        }
        let format = ["text", "json", "latex"][rng.weighted(&[3, 2, 1])];
        flag(&mut args, "--format", format.to_owned());
    }
    let ran = run_in_process(case, &args)?;
    stats.analyses += 1;
    let (code, out, err) = (ran.code, &ran.out, &ran.err);
    let fail = |kind: &'static str, why: &str| Err(ran.violation(kind, why));
    match code {
        0 => stats.analyses_ok += 1,
        1 if proves => return Ok(()),
        2 => {
            return if err.contains("error") {
                Ok(())
            } else {
                fail("diagnostic", "failed without a diagnostic")
            };
        }
        _ => return fail("exit", "exited with a code other than 0 or 2"),
    }
    if out.trim().is_empty() {
        return fail("non-finite", "succeeded and printed nothing");
    }
    // Names the command was given may be any word; the numbers may not be NaN or inf
    // (except an infinite KL, which `kl` prints as `inf` on purpose).
    let ours = [
        source.as_str(),
        error.as_str(),
        process.as_deref().unwrap_or(""),
    ];
    let bad_words: &[&str] = if kl {
        &["nan"]
    } else {
        &["nan", "inf", "infinity", "infty"]
    };
    let bad = out
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| !ours.contains(w) && bad_words.contains(&w.to_ascii_lowercase().as_str()));
    if let Some(w) = bad {
        return fail("non-finite", &format!("succeeded and printed `{w}`"));
    }
    if out.trim_start().starts_with('{') {
        match serde_json::from_str::<serde_json::Value>(out) {
            Err(e) => return fail("json", &format!("printed JSON that does not parse: {e}")),
            Ok(v) if !kl => {
                if let Some(key) = null_number(&v, "") {
                    return fail("non-finite", &format!("printed `null` at `{key}`"));
                }
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// What a command run by [`run_in_process`] did.
struct Ran {
    code: i32,
    out: String,
    err: String,
    /// The command as reports show it.
    shown: String,
}

impl Ran {
    /// A violation of kind `kind` by this run, `why` saying what it did.
    fn violation(&self, kind: &'static str, why: &str) -> Violation {
        // After an unexpected exit code, what says why can be anywhere in the output (the
        // row of `emit`'s table that missed its budget): kept whole, up to a limit.
        let shown = |text: &str| {
            if kind == "exit" && text.len() <= WHOLE_OUTPUT {
                text.to_owned()
            } else {
                clip(text)
            }
        };
        violation(
            kind,
            format!(
                "`{}` {why} (exit {})\nstdout: {}\nstderr: {}",
                self.shown,
                self.code,
                shown(&self.out),
                shown(&self.err)
            ),
        )
    }
}

/// Runs `diffsym ARGS` in-process on the case written to a temporary directory (the
/// argument `FILE_NAME` naming it, and `OUT` a directory there).
fn run_in_process(case: &Case, args: &[String]) -> Result<Ran, Violation> {
    let dir =
        tempfile::tempdir().map_err(|e| violation("io", format!("a temporary directory: {e}")))?;
    let file = dir.path().join(FILE_NAME);
    let write = |path: &std::path::Path, text: &str| {
        std::fs::write(path, text).map_err(|e| violation("io", format!("writing a case: {e}")))
    };
    write(&file, &case.text)?;
    for (path, contents) in &case.data {
        write(&dir.path().join(path), contents)?;
    }
    let shown = format!("diffsym {}", args.join(" "));
    let argv = std::iter::once("diffsym".to_owned())
        .chain(args.iter().map(|a| match a.as_str() {
            FILE_NAME => file.to_string_lossy().into_owned(),
            "OUT" => dir.path().join("out").to_string_lossy().into_owned(),
            _ => a.clone(),
        }))
        .map(std::ffi::OsString::from);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = crate::cli::run(argv, &mut out, &mut err);
    Ok(Ran {
        code,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
        shown,
    })
}

/// Sometimes, in a file that declares a source, `diffsym derive --source` (closed forms,
/// for every process or one) or, rarely, `emit --source` of one of the file's processes:
/// exit 0 with output, or 2 with a diagnostic.
fn mixture_command(
    case: &Case,
    ast: &ast::File,
    processes: &[Process],
    rng: &mut Rng,
    stats: &mut Stats,
) -> Result<(), Violation> {
    let sources: Vec<&str> = ast
        .items
        .iter()
        .filter_map(|i| match i {
            ast::Item::Source(d) => Some(d.name.name.as_str()),
            _ => None,
        })
        .collect();
    if sources.is_empty() || !rng.chance(1, 4) {
        return Ok(());
    }
    let source = if rng.chance(1, 25) {
        "no_such_source".to_owned()
    } else {
        (*rng.pick(&sources)).to_owned()
    };
    let mut args: Vec<String> = Vec::new();
    let emit = !processes.is_empty() && rng.chance(1, 10);
    if emit {
        let p = rng.pick(processes).name.clone();
        for a in [
            "emit",
            FILE_NAME,
            "--process",
            &p,
            "--source",
            &source,
            "--out",
            "OUT",
        ] {
            args.push(a.to_owned());
        }
        if rng.chance(1, 2) {
            args.extend(["--accuracy".to_owned(), "fast".to_owned()]);
        }
    } else {
        for a in ["derive", FILE_NAME, "--source", &source] {
            args.push(a.to_owned());
        }
        if !processes.is_empty() && rng.chance(1, 2) {
            args.extend(["--process".to_owned(), rng.pick(processes).name.clone()]);
        } else if rng.chance(1, 3) {
            args.extend([
                "--process".to_owned(),
                (*rng.pick(LIBRARY_PROCESSES)).to_owned(),
            ]);
        }
        let format = ["text", "json", "latex"][rng.weighted(&[3, 2, 1])];
        args.extend(["--format".to_owned(), format.to_owned()]);
    }
    let ran = run_in_process(case, &args)?;
    stats.analyses += 1;
    let (code, out, err) = (ran.code, &ran.out, &ran.err);
    let fail = |kind: &'static str, why: &str| Err(ran.violation(kind, why));
    match code {
        0 if out.trim().is_empty() => fail("non-finite", "succeeded and printed nothing"),
        0 => {
            stats.analyses_ok += 1;
            if out.trim_start().starts_with('{')
                && let Err(e) = serde_json::from_str::<serde_json::Value>(out)
            {
                return fail("json", &format!("printed JSON that does not parse: {e}"));
            }
            Ok(())
        }
        2 if err.contains("error") => Ok(()),
        2 => fail("diagnostic", "failed without a diagnostic"),
        _ => fail("exit", "exited with a code other than 0 or 2"),
    }
}

/// The key of a `null` in a `hodge` report, other than those of an absent process and
/// time (serde_json writes a non-finite f64 as `null`).
fn null_number(v: &serde_json::Value, key: &str) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::Null if key != "process" && key != "t" => Some(key.to_owned()),
        Value::Array(xs) => xs.iter().find_map(|x| null_number(x, key)),
        Value::Object(m) => m.iter().find_map(|(k, x)| null_number(x, k)),
        _ => None,
    }
}

/// Errors about the file: at least one, each renderable, with a location in the text.
fn located(text: &str, diags: &[Diag], stage: &str) -> Result<(), Violation> {
    if diags.is_empty() {
        return Err(violation(
            "diagnostic",
            format!("{stage}: an error with no diagnostic"),
        ));
    }
    for d in diags {
        let rendered = diag::render(d);
        let bad = |why: &str| {
            violation(
                "diagnostic",
                format!("{stage}: {why}: [{}] {}\n{rendered}", d.code, d.message),
            )
        };
        if d.message.trim().is_empty() {
            return Err(bad("empty message"));
        }
        if d.message.ends_with('.') || d.message.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(bad("message not lowercase without a trailing period"));
        }
        if d.source.is_none() || d.labels.is_empty() {
            return Err(bad("no location"));
        }
        for l in &d.labels {
            if l.span.start > l.span.end || l.span.end > text.len() {
                return Err(bad(&format!(
                    "span {}..{} outside the text ({} bytes)",
                    l.span.start,
                    l.span.end,
                    text.len()
                )));
            }
        }
        let Some(loc) = d.location() else {
            return Err(bad("no location"));
        };
        if !rendered.starts_with("error[") || !rendered.contains(&format!("--> {loc}")) {
            return Err(bad("rendering lacks the location"));
        }
    }
    Ok(())
}

/// The `--param` overrides the check of a case applies (as `K=V`), replaying its first
/// random choices: for reports, where a hang leaves nothing else to read.
pub(super) fn overrides_of(case: &Case, rng: &mut Rng) -> Vec<String> {
    let Ok(ast) = syntax::parse_file(&case.text) else {
        return Vec::new();
    };
    overrides(&mut Pool::new(), &ast, rng)
        .into_iter()
        .map(|(k, v, _)| format!("{k}={v}"))
        .collect()
}

/// Sometimes a `--param` override of one of the file's parameters, checked as the command
/// line checks it (exact, and finite in f64): (name, value as written, value).
fn overrides(
    pool: &mut Pool,
    ast: &ast::File,
    rng: &mut Rng,
) -> Vec<(String, &'static str, num_rational::BigRational)> {
    if !rng.chance(1, 8) {
        return Vec::new();
    }
    let names: Vec<&str> = ast
        .items
        .iter()
        .filter_map(|i| match i {
            ast::Item::Process(p) => Some(p),
            ast::Item::Source(_) | ast::Item::Error(_) | ast::Item::Kernel(_) => None,
        })
        .flat_map(|p| p.body.iter())
        .filter_map(|s| match s {
            ast::Stmt::Param { name, .. } => Some(name.name.as_str()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Vec::new();
    }
    let name = *rng.pick(&names);
    let value = *rng.pick(&["10", "0", "-1", "1e300", "1/3", "1e-300", "0.5", "2^-20"]);
    match process::parse_param_override(pool, value) {
        Ok(r) if r.to_f64().is_some_and(f64::is_finite) => vec![(name.to_owned(), value, r)],
        _ => Vec::new(),
    }
}

/// What `derive` prints: every formula in text and LaTeX. The text of each must parse,
/// and a derived quantity's must read back to the same expression.
fn printed(pool: &mut Pool, p: &Process, stats: &mut Stats) -> Result<(), Violation> {
    // Known issue `long-literal`: the parser reads at most 4096 digits per literal.
    let mut long_literal = |text: &str| {
        let long = text
            .split(|c: char| !c.is_ascii_digit())
            .any(|run| run.len() > 4096);
        if long && !stats.known.contains(&"long-literal") {
            stats.known.push("long-literal");
        }
        long
    };
    let mut all: Vec<crate::ExprId> = Vec::new();
    all.extend(p.params.iter().map(|q| q.value));
    all.extend(p.defs.iter().map(|d| d.body));
    all.extend(p.fields().formulas.iter().map(|&(_, e)| e));
    all.extend(p.fields().fields.iter().map(|f| f.expr));
    for e in all {
        print::to_latex(pool, e);
        let text = print::to_text(pool, e);
        if long_literal(&text) {
            continue;
        }
        if let Err(es) = syntax::parse_expr(&text) {
            return Err(violation(
                "round-trip",
                format!(
                    "printed text does not parse: `{}`: {}",
                    clip(&text),
                    es.first().map_or("", |e| e.message.as_str())
                ),
            ));
        }
    }
    let t = process::time_symbol(pool);
    let mut functions: Vec<crate::expr::Symbol> = p
        .quantities
        .iter()
        .flat_map(|&(_, e)| pool.unspecified_functions(e))
        .collect();
    functions.sort_by(|a, b| pool.symbol_name(*a).cmp(pool.symbol_name(*b)));
    functions.dedup();
    for &(name, e) in &p.quantities {
        print::to_latex(pool, e);
        let text = print::to_text(pool, e);
        if long_literal(&text) {
            continue;
        }
        let back = syntax::parse_expr(&text)
            .map_err(|es| es.first().map_or(String::new(), |e| e.message.clone()))
            .and_then(|ast| {
                process::lower_expr_in(pool, &ast, &[("t", t)], &functions)
                    .map_err(|es| es.first().map_or(String::new(), |e| e.message.clone()))
            });
        match back {
            Ok(b) if b == e => {}
            Ok(b) => {
                return Err(violation(
                    "round-trip",
                    format!(
                        "`{name}` prints as `{}`, which reads back as `{}`",
                        clip(&text),
                        clip(&print::to_text(pool, b))
                    ),
                ));
            }
            Err(m) => {
                return Err(violation(
                    "round-trip",
                    format!(
                        "`{name}` prints as `{}`, which does not read back: {m}",
                        clip(&text)
                    ),
                ));
            }
        }
    }
    Ok(())
}

const TIMES: &[&str] = &[
    "0",
    "1",
    "1/2",
    "0.25",
    "1/3",
    "1e-300",
    "1e-30",
    "1e-9",
    "2^-60",
    "0.999999999",
    "1 - 1e-20",
    "1 - 2^-70",
    "0.9",
    "0.01",
];

const BAD_TIMES: &[&str] = &["1.5", "-0.1", "1/0", "abc", "t", "1e400", ""];

const INPUTS: &[&str] = &[
    "0.3", "-1.25", "0", "1", "1/3", "1e300", "-1e-300", "2", "1e-9",
];

/// One `eval` of a random name of `p` at a random time, as the command runs it.
fn eval_one(
    pool: &mut Pool,
    p: &Process,
    rng: &mut Rng,
    stats: &mut Stats,
) -> Result<(), Violation> {
    let mut inputs = FieldInputs::default();
    let name: String = match rng.weighted(&[10, 3, 2, 4, 1]) {
        0 => rng.pick(&process::derive::Quantity::ALL).name().to_owned(),
        1 if !p.defs.is_empty() => rng.pick(&p.defs).name.clone(),
        2 => {
            inputs.x = Some(rng.pick(INPUTS).to_string());
            inputs.x0 = Some(rng.pick(INPUTS).to_string());
            (*rng.pick(&["cond_score", "cond_velocity"])).to_owned()
        }
        3 => {
            let f = *rng.pick(&fields::FieldKind::ALL);
            inputs.x = Some(rng.pick(INPUTS).to_string());
            let out = Some(rng.pick(INPUTS).to_string());
            match rng.below(5) {
                0 => inputs.score = out,
                1 => inputs.eps = out,
                2 => inputs.x0 = out,
                3 => inputs.u = out,
                _ => inputs.v = out,
            }
            if f.takes_noise() {
                inputs.z = Some(rng.pick(INPUTS).to_string());
            }
            if f.is_step() {
                inputs.t_next = Some(rng.pick(TIMES).to_string());
            }
            f.name().to_owned()
        }
        _ => "no_such_name".to_owned(),
    };
    let t = if rng.chance(1, 30) {
        rng.pick(BAD_TIMES).to_string()
    } else if rng.chance(1, 4) {
        let q = rng.range(1, 1000);
        format!("{}/{q}", rng.range(0, q))
    } else {
        rng.pick(TIMES).to_string()
    };
    let digits = match rng.weighted(&[40, 6, 1]) {
        0 => None,
        1 => Some(rng.range(1, 40) as u32),
        _ => Some(rng.range(2001, 2010) as u32),
    };
    stats.evals += 1;
    let what = || {
        let mut flags: Vec<String> = [
            ("x", &inputs.x),
            ("x0", &inputs.x0),
            ("score", &inputs.score),
            ("eps", &inputs.eps),
            ("u", &inputs.u),
            ("v", &inputs.v),
            ("z", &inputs.z),
            ("t-next", &inputs.t_next),
        ]
        .iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| format!("--{n} {v}")))
        .collect();
        if let Some(d) = digits {
            flags.push(format!("--digits {d}"));
        }
        format!(
            "eval --process {} {name} --t '{t}' {}",
            p.name,
            flags.join(" ")
        )
    };
    match eval_text(pool, p, &name, &t, digits, &inputs) {
        Ok(text) => {
            stats.evals_ok += 1;
            if digits.is_none()
                && let Some(exact) = exact_value_of(pool, p, &name, &t)
                && let Ok(x) = text.parse::<f64>()
                && !within_an_ulp(x, &exact)
            {
                return Err(violation(
                    "wrong-value",
                    format!(
                        "`{}` printed `{text}`; exact rational arithmetic gives {}",
                        what(),
                        clip(&show_rational(&exact))
                    ),
                ));
            }
            let lower = text.to_ascii_lowercase();
            let finite = match digits {
                None => text.parse::<f64>().is_ok_and(f64::is_finite),
                // With --digits, values beyond f64 may be printed (`1.5e400`).
                Some(_) => {
                    text.parse::<f64>().is_ok() && !lower.contains("nan") && !lower.contains("inf")
                }
            };
            if finite {
                Ok(())
            } else {
                Err(violation(
                    "non-finite",
                    format!("`{}` printed `{text}` with success", what()),
                ))
            }
        }
        Err(ds) => {
            if ds.is_empty() {
                return Err(violation(
                    "diagnostic",
                    format!("`{}` failed with no diagnostic", what()),
                ));
            }
            for d in &ds {
                let r = diag::render(d);
                if d.message.trim().is_empty() || !r.starts_with("error[") {
                    return Err(violation(
                        "diagnostic",
                        format!("`{}`: a diagnostic without a message: {r}", what()),
                    ));
                }
            }
            Ok(())
        }
    }
}

/// The exact value at the time `t` (as typed) of the name `eval` evaluates, when it is a
/// function of t alone built from rationals, `t`, sums, products and small integer
/// powers: the oracle for what `eval` prints, independent of the ball arithmetic and of
/// the limits. `None` otherwise, or where the formula divides by zero.
fn exact_value_of(pool: &mut Pool, p: &Process, name: &str, t: &str) -> Option<BigRational> {
    let (arg, body) = match p.def(name) {
        Some(d) if d.args.len() == 1 => (d.args[0], d.body),
        Some(_) => return None,
        None => (process::time_symbol(pool), p.quantity(name)?),
    };
    let at = process::parse_param_override(pool, t).ok()?;
    let mut memo = crate::expr::fxhash::HashMap::default();
    exact(pool, body, arg, &at, &mut memo)
}

/// Bits an exact intermediate value may have: keeps the oracle cheap.
const EXACT_BITS: u64 = 200_000;

fn exact(
    pool: &Pool,
    e: ExprId,
    t: Symbol,
    at: &BigRational,
    memo: &mut crate::expr::fxhash::HashMap<ExprId, Option<BigRational>>,
) -> Option<BigRational> {
    if let Some(v) = memo.get(&e) {
        return v.clone();
    }
    let v = match pool.node(e) {
        Node::Rational(r) => Some(r.clone()),
        Node::Sym(s) if *s == t => Some(at.clone()),
        Node::Sym(_) | Node::Const(_) | Node::Call(..) => None,
        Node::Add(xs) => {
            let mut acc = BigRational::zero();
            for &x in xs.iter() {
                acc += exact(pool, x, t, at, memo)?;
            }
            Some(acc)
        }
        Node::Mul(xs) => {
            let mut acc = BigRational::from_integer(1.into());
            for &x in xs.iter() {
                acc *= exact(pool, x, t, at, memo)?;
            }
            Some(acc)
        }
        Node::Pow(b, n) => {
            let n = pool.as_rational(*n)?;
            let n = n.is_integer().then(|| n.to_integer().to_i32())??;
            let b = exact(pool, *b, t, at, memo)?;
            let bits = b.numer().bits() + b.denom().bits();
            if bits.saturating_mul(u64::from(n.unsigned_abs())) > EXACT_BITS
                || (n < 0 && b.is_zero())
            {
                return None;
            }
            Some(num_traits::pow::Pow::pow(&b, n))
        }
    };
    let v = v.filter(|r| r.numer().bits() + r.denom().bits() <= EXACT_BITS);
    memo.insert(e, v.clone());
    v
}

/// Whether the f64 `x` is within one unit in its last place of `v` (correct rounding is
/// within half of one); 0 stands for anything below the smallest subnormal.
fn within_an_ulp(x: f64, v: &BigRational) -> bool {
    let Some(xr) = BigRational::from_float(x) else {
        return false;
    };
    let ulp = if x == 0.0 {
        f64::from_bits(1)
    } else {
        f64::from_bits(x.abs().to_bits() + 1) - x.abs()
    };
    let ulp = if ulp.is_finite() { ulp } else { f64::MAX };
    let Some(ulp) = BigRational::from_float(ulp) else {
        return false;
    };
    (xr - v).abs() <= ulp
}

/// A rational for a report: `p/q` in full if short, else its magnitude in decimal.
fn show_rational(r: &BigRational) -> String {
    let s = r.to_string();
    if s.len() <= 60 {
        return s;
    }
    let digits = |x: &BigInt| x.to_string().trim_start_matches('-').len() as i64;
    format!(
        "a {} of about 10^{}",
        if r.is_negative() {
            "negative value"
        } else {
            "value"
        },
        digits(r.numer()) - digits(r.denom())
    )
}
