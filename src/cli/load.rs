//! Reading .dsym files and resolving what a command runs on: the processes of files (or of
//! the bundled library), one process by name from a file else the bundled library, and the
//! Gaussian sources a file declares.

use std::path::{Path, PathBuf};

use num_rational::BigRational;

use super::output::{cli_error, io_reason};
use crate::analysis::drift::NamedKernel;
use crate::analysis::hodge::gaussian::Moments;
use crate::analysis::hodge::lower::ScoreError;
use crate::analysis::{self, GaussianSource, Mixture};
use crate::diag::{Diag, Source, Span, codes};
use crate::expr::Pool;
use crate::library;
use crate::process::{self, Process, Stage};
use crate::syntax::{self, ast};

/// Processes lowered into one pool, each with the source it came from.
pub(super) struct Loaded {
    pub pool: Pool,
    pub processes: Vec<(Source, Process)>,
}

/// What an analysis runs on: a process (from the file, else the bundled library) and a
/// Gaussian source declared in the file, each when asked for.
pub(super) struct Analysis {
    pub pool: Pool,
    pub process: Option<Process>,
    /// The source asked for when it is Gaussian (a one-component mixture is one).
    pub source: Option<GaussianSource>,
    /// The source asked for when it is a mixture.
    pub mixture: Option<Mixture>,
    /// The file the process was read from (FILE, or its bundled file).
    pub process_file: Option<Source>,
    /// The moments of the Gaussian source asked for, as declared (exact where rational).
    pub moments: Option<Moments>,
    /// The score errors the file declares (`error E = ...;`).
    pub errors: Vec<ScoreError>,
    /// The kernels the file declares (`kernel K = ...;`).
    pub kernels: Vec<NamedKernel>,
    /// FILE itself, for placing messages about its declarations.
    pub file: Source,
}

/// What places an error about a process at the process in its file.
pub(super) type AtProcess = Box<dyn Fn(Diag) -> Vec<Diag>>;

impl Analysis {
    /// The Gaussian source asked for (taken out); a mixture of several components is
    /// refused with a message that says what takes it.
    pub fn gaussian_source(&mut self) -> Result<GaussianSource, Vec<Diag>> {
        match (self.source.take(), &self.mixture) {
            (Some(s), _) => Ok(s),
            (None, Some(m)) => Err(vec![
                Diag::new(
                    codes::CLI_SOURCE,
                    format!(
                        "source `{}` is a mixture of {} components: this analysis needs a Gaussian source",
                        m.name,
                        m.components.len()
                    ),
                )
                .with_help("`stiffness` analyses mixtures; a one-component mixture is Gaussian"),
            ]),
            (None, None) => unreachable!("a source was asked for"),
        }
    }

    /// The score error named `name` (taken out), with the list of declared errors when
    /// there is none.
    pub fn take_error(&mut self, name: &str) -> Result<ScoreError, Vec<Diag>> {
        match self.errors.iter().position(|e| e.name == name) {
            Some(k) => Ok(self.errors.swap_remove(k)),
            None => {
                let names: Vec<&str> = self.errors.iter().map(|e| e.name.as_str()).collect();
                let help = if names.is_empty() {
                    "declare one, e.g. `error E = linear(matrix = [[0, -1], [1, 0]]);`".to_owned()
                } else {
                    format!("errors: {}", names.join(", "))
                };
                Err(vec![
                    Diag::new(
                        codes::CLI_ERROR,
                        format!("no error named `{name}` in `{}`", self.file.name),
                    )
                    .with_help(help),
                ])
            }
        }
    }

    /// What places an error about the process (found after lowering, by an analysis) at
    /// the process in its file, unless the error already points somewhere.
    pub fn at_process(&self) -> AtProcess {
        let place = match (&self.process, &self.process_file) {
            (Some(p), Some(file)) => Some((p.span, p.name.clone(), file.clone())),
            _ => None,
        };
        Box::new(move |d: Diag| {
            vec![match &place {
                Some((span, name, file)) if d.source.is_none() && d.labels.is_empty() => d
                    .with_label(*span, format!("in the analysis of process `{name}`"))
                    .in_source(file),
                _ => d,
            }]
        })
    }
}

/// Reads a file as UTF-8; an invalid byte is a diagnostic pointing at it.
pub(super) fn read_source(path: &Path) -> Result<Source, Box<Diag>> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        Box::new(Diag::new(
            codes::IO_READ,
            format!("cannot read `{name}`: {}", io_reason(&e)),
        ))
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            // The replacement character starts where the valid prefix ends.
            let src = Source::new(name.clone(), lossy);
            Err(Box::new(
                Diag::new(codes::IO_UTF8, format!("`{name}` is not valid UTF-8"))
                    .with_label(Span::new(at, at + 1), "invalid byte here")
                    .with_help("save the file as UTF-8")
                    .in_source(&src),
            ))
        }
    }
}

/// Parses `--param K=V` overrides into exact values within the range of f64.
fn parse_overrides(
    pool: &mut Pool,
    params: &[String],
) -> Result<Vec<(String, BigRational)>, Vec<Diag>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            errors.push(Diag::new(
                codes::CLI_PARAM,
                format!("`--param {p}` must have the form NAME=VALUE"),
            ));
            continue;
        };
        match process::parse_param_override(pool, v.trim()) {
            Ok(r) if !num_traits::ToPrimitive::to_f64(&r).is_some_and(f64::is_finite) => {
                errors.push(
                    Diag::new(
                        codes::CLI_PARAM,
                        format!("`--param {p}` is outside the range of f64"),
                    )
                    .with_help("every numeric command evaluates the process in f64; give a value below 1.8e308 in magnitude"),
                );
            }
            Ok(r) => out.push((k.trim().to_owned(), r)),
            Err(m) => errors.push(Diag::new(
                codes::CLI_PARAM,
                format!("bad value for parameter `{}`: {m}", k.trim()),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Reads, parses and lowers `files` (or the bundled library) as far as `stage`, keeping
/// only `only` if given.
pub(super) fn load(
    files: &[PathBuf],
    only: Option<&str>,
    params: &[String],
    stage: Stage,
) -> Result<Loaded, Vec<Diag>> {
    let mut pool = Pool::new();
    let overrides = parse_overrides(&mut pool, params)?;
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    if files.is_empty() {
        sources.extend(library::BUNDLED.iter().map(|(n, t)| Source::new(*n, *t)));
    } else {
        for f in files {
            match read_source(f) {
                Ok(s) => sources.push(s),
                Err(d) => diags.push(*d),
            }
        }
    }
    let mut parsed = Vec::new();
    for src in sources {
        match syntax::parse_file(&src.text) {
            Ok(ast) => parsed.push((src, ast)),
            Err(es) => diags.extend(es.into_iter().map(|e| e.in_source(&src))),
        }
    }
    // Every process lowers in a pool of its own, spread over the cores, merged in order.
    let inputs: Vec<(&ast::File, &str)> =
        parsed.iter().map(|(src, ast)| (ast, &*src.text)).collect();
    let lowered = process::lower_files(&mut pool, &inputs, &overrides, stage);
    let mut processes = Vec::new();
    for ((src, _), r) in parsed.iter().zip(lowered) {
        match r {
            Ok(ps) => processes.extend(ps.into_iter().map(|p| (src.clone(), p))),
            Err(es) => diags.extend(es.into_iter().map(|e| e.in_source(src))),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    for (k, _) in &overrides {
        if !processes.iter().any(|(_, p)| p.param(k).is_some()) {
            diags.push(Diag::new(
                codes::CLI_PARAM,
                format!("`--param {k}=...` names no parameter of the processes read"),
            ));
        }
    }
    if let Some(name) = only {
        processes.retain(|(_, p)| p.name == name);
        if processes.is_empty() {
            diags.push(Diag::new(
                codes::CLI_PROCESS,
                format!("no process named `{name}`"),
            ));
        }
    }
    if diags.is_empty() {
        Ok(Loaded { pool, processes })
    } else {
        Err(diags)
    }
}

/// Picks the process to use from one file: by name, or the only one.
fn pick<'a>(loaded: &'a Loaded, name: Option<&str>) -> Result<&'a (Source, Process), Vec<Diag>> {
    match name {
        _ if loaded.processes.is_empty() => Err(vec![
            Diag::new(codes::CLI_PROCESS, "this file defines no process")
                .with_help("sources alone are used by `kl`, `schedule`, `asymptotics` and `plot kl`, with a process from the bundled library"),
        ]),
        Some(_) => Ok(&loaded.processes[0]),
        None if loaded.processes.len() == 1 => Ok(&loaded.processes[0]),
        None => {
            let names: Vec<&str> = loaded
                .processes
                .iter()
                .map(|(_, p)| p.name.as_str())
                .collect();
            Err(vec![
                Diag::new(
                    codes::CLI_PROCESS,
                    "this file defines several processes: choose one with --process",
                )
                .with_help(format!("processes: {}", names.join(", "))),
            ])
        }
    }
}

/// The one process of `file` (named by `name`, or the only one), lowered as far as
/// `stage`, with its pool and source: what `eval` and `emit` run on.
pub(super) fn load_one(
    file: &Path,
    name: Option<&str>,
    params: &[String],
    stage: Stage,
) -> Result<(Pool, Source, Process), Vec<Diag>> {
    let loaded = load(&[file.to_path_buf()], name, params, stage)?;
    let (src, p) = pick(&loaded, name)?.clone();
    numeric(&loaded.pool, &src, &p)?;
    Ok((loaded.pool, src, p))
}

/// Refuses a generic process (`alpha(t) = function;`) to a command that computes numbers,
/// pointing at the declarations.
fn numeric(pool: &Pool, src: &Source, p: &Process) -> Result<(), Vec<Diag>> {
    let names = p.unspecified(pool);
    if names.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let mut d = Diag::new(
        codes::CLI_GENERIC,
        format!(
            "process `{}` is generic ({} left unspecified): this command computes numbers",
            p.name,
            listed.join(", ")
        ),
    )
    .with_label(p.span, "a generic process");
    for n in &names {
        if let Some(def) = p.def(n) {
            d = d.with_label(def.span, "declared without a formula");
        }
    }
    let d = d.with_help(
        "`derive` and `check` work on generic processes; give formulas (`alpha(t) = cos(pi*t/2);`) to evaluate, analyse or emit",
    );
    Err(vec![d.in_source(src)])
}

/// Loads what an analysis runs on from `file`: the source `source_name` if given (data
/// files are read relative to `file`), and the process `process_name` if given, from `file`
/// or else from the bundled library, lowered as far as its scalar quantities. Every
/// process and source of `file` is lowered, so an error anywhere in it is reported.
pub(super) fn load_analysis(
    file: &Path,
    process_name: Option<&str>,
    source_name: Option<&str>,
    params: &[String],
) -> Result<Analysis, Vec<Diag>> {
    let src = read_source(file).map_err(|d| vec![*d])?;
    let ast = syntax::parse_file(&src.text).map_err(|es| {
        es.into_iter()
            .map(|e| e.in_source(&src))
            .collect::<Vec<_>>()
    })?;
    let mut diags = Vec::new();
    let mut sources = analysis::Sources::default();
    if source_name.is_some() {
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut loader = |p: &str| std::fs::read_to_string(dir.join(p)).map_err(|e| io_reason(&e));
        match analysis::lower_sources(&ast, &mut loader) {
            Ok(s) => sources = s,
            Err(es) => diags.extend(es.into_iter().map(|e| e.in_source(&src))),
        }
    }
    let mut pool = Pool::new();
    let overrides = parse_overrides(&mut pool, params)?;
    let lowered = process::lower_files(
        &mut pool,
        &[(&ast, &src.text)],
        &overrides,
        Stage::Quantities,
    );
    let mut processes = match lowered.into_iter().next().unwrap_or_else(|| Ok(Vec::new())) {
        Ok(ps) => ps,
        Err(es) => {
            diags.extend(es.into_iter().map(|e| e.in_source(&src)));
            Vec::new()
        }
    };
    if !diags.is_empty() {
        return Err(diags);
    }
    let moments = source_name.and_then(|name| {
        let k = sources.moments.iter().position(|(n, _)| n == name)?;
        Some(sources.moments.swap_remove(k).1)
    });
    let (source, mixture) = match source_name {
        None => (None, None),
        Some(name) => {
            if let Some(k) = sources.gaussians.iter().position(|s| s.name == name) {
                (Some(sources.gaussians.swap_remove(k)), None)
            } else if let Some(k) = sources.mixtures.iter().position(|s| s.name == name) {
                let m = sources.mixtures.swap_remove(k);
                (m.to_gaussian(), Some(m))
            } else {
                let names: Vec<&str> = sources
                    .gaussians
                    .iter()
                    .map(|s| s.name.as_str())
                    .chain(sources.mixtures.iter().map(|s| s.name.as_str()))
                    .collect();
                let help = if names.is_empty() {
                    "declare one, e.g. `source S = gaussian(spectrum = [1, 0.5]);`".to_owned()
                } else {
                    format!("sources: {}", names.join(", "))
                };
                return Err(vec![
                    Diag::new(
                        codes::CLI_SOURCE,
                        format!("no source named `{name}` in `{}`", src.name),
                    )
                    .with_help(help),
                ]);
            }
        }
    };
    let mut process_file = None;
    let process = match process_name {
        None => None,
        Some(name) => {
            let p = match processes.iter().position(|p| p.name == name) {
                Some(k) => {
                    process_file = Some(src.clone());
                    processes.swap_remove(k)
                }
                None => {
                    let (p, file) =
                        bundled_process(&mut pool, name, &overrides)?.ok_or_else(|| {
                            vec![
                                Diag::new(
                                    codes::CLI_PROCESS,
                                    format!(
                                        "no process named `{name}` in `{}` or the bundled library",
                                        src.name
                                    ),
                                )
                                .with_help(format!("bundled: {}", library::names().join(", "))),
                            ]
                        })?;
                    process_file = Some(file);
                    p
                }
            };
            check_overrides(&overrides, &p)?;
            if let Some(file) = &process_file {
                numeric(&pool, file, &p)?;
            }
            Some(p)
        }
    };
    Ok(Analysis {
        pool,
        process,
        source,
        mixture,
        process_file,
        moments,
        errors: std::mem::take(&mut sources.errors),
        kernels: std::mem::take(&mut sources.kernels),
        file: src,
    })
}

/// The bundled process `name`, lowered into `pool` as far as its scalar quantities, with
/// the file it comes from.
fn bundled_process(
    pool: &mut Pool,
    name: &str,
    overrides: &[(String, BigRational)],
) -> Result<Option<(Process, Source)>, Vec<Diag>> {
    for (file_name, text) in library::BUNDLED {
        let Ok(ast) = syntax::parse_file(text) else {
            continue;
        };
        let named = ast
            .items
            .iter()
            .any(|i| matches!(i, ast::Item::Process(p) if p.name.name == name));
        if !named {
            continue;
        }
        let lowered = process::lower_files(pool, &[(&ast, text)], overrides, Stage::Quantities);
        let bundled = Source::new(*file_name, *text);
        return match lowered.into_iter().next().unwrap_or_else(|| Ok(Vec::new())) {
            Ok(ps) => Ok(ps
                .into_iter()
                .find(|p| p.name == name)
                .map(|p| (p, bundled))),
            Err(es) => Err(es.into_iter().map(|e| e.in_source(&bundled)).collect()),
        };
    }
    Ok(None)
}

/// Every override names a parameter of `p`.
fn check_overrides(overrides: &[(String, BigRational)], p: &Process) -> Result<(), Vec<Diag>> {
    match overrides.iter().find(|(k, _)| p.param(k).is_none()) {
        Some((k, _)) => Err(cli_error(
            codes::CLI_PARAM,
            format!(
                "`--param {k}=...` names no parameter of process `{}`",
                p.name
            ),
        )),
        None => Ok(()),
    }
}
