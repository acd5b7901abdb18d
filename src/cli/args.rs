//! Argument groups shared by the commands, and the parsers of values clap cannot check by
//! itself (exact times, step lists, grids). Enumerated values (samplers, starts, formats)
//! are parsed by clap from the analysis layer's own lists, so `--help` shows them.

use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use num_rational::BigRational;

use super::load::{Analysis, AtProcess, load_analysis, read_source};
use super::output::cli_error;
use crate::analysis::hodge::lower::ScoreError;
use crate::analysis::{self, GaussianSource, GridKind, Sampler, Start};
use crate::diag::{Diag, codes};
use crate::expr::{Pool, eval};
use crate::process::{self, Process};

/// `--param K=V`, repeated.
#[derive(clap::Args, Debug, Default)]
pub(super) struct Params {
    /// Override a parameter with an exact value, e.g. `--param beta_max=10` (decimals and
    /// fractions are exact)
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
}

/// The file, process and source an analysis runs on.
#[derive(clap::Args, Debug)]
pub(super) struct Target {
    /// The .dsym file with the source (and the process, else it comes from the bundled
    /// library)
    pub file: PathBuf,
    /// The process: from FILE, else from the bundled library
    #[arg(long)]
    pub process: String,
    /// The Gaussian source, declared in FILE
    #[arg(long)]
    pub source: String,
}

impl Target {
    /// The process (from FILE, else the bundled library) and the source, lowered, with
    /// what places an analysis error about the process at it.
    pub fn load(
        &self,
        params: &Params,
    ) -> Result<(Pool, Process, GaussianSource, AtProcess), Vec<Diag>> {
        let mut loaded = load_analysis(
            &self.file,
            Some(&self.process),
            Some(&self.source),
            &params.params,
        )?;
        let at_process = loaded.at_process();
        let source = loaded.gaussian_source()?;
        let process = loaded.process.expect("a process was asked for");
        Ok((loaded.pool, process, source, at_process))
    }
}

impl Target {
    /// [`Target::load`], and the score error `name` declared in FILE.
    pub fn load_with_error(
        &self,
        params: &Params,
        name: &str,
    ) -> Result<(Pool, Process, GaussianSource, AtProcess, ScoreError), Vec<Diag>> {
        let mut loaded = load_analysis(
            &self.file,
            Some(&self.process),
            Some(&self.source),
            &params.params,
        )?;
        let at_process = loaded.at_process();
        let error = loaded.take_error(name)?;
        let source = loaded.gaussian_source()?;
        let process = loaded.process.expect("a process was asked for");
        Ok((loaded.pool, process, source, at_process, error))
    }
}

/// The file, process and source an analysis of mixtures runs on (`stiffness`, `flowmap`,
/// `distill`, `plot stiffness`).
#[derive(clap::Args, Debug)]
pub(super) struct MixtureTarget {
    /// The .dsym file with the source (and the process, else it comes from the bundled
    /// library)
    pub file: PathBuf,
    /// The process: from FILE, else from the bundled library
    #[arg(long)]
    pub process: String,
    /// The source, declared in FILE: a `gmm` mixture, or a Gaussian source (one component)
    #[arg(long)]
    pub source: String,
}

impl MixtureTarget {
    /// The file loaded with the process and the source asked for, and what places an
    /// analysis error about the process at it.
    pub fn load(&self, params: &Params) -> Result<(Analysis, AtProcess), Vec<Diag>> {
        let loaded = load_analysis(
            &self.file,
            Some(&self.process),
            Some(&self.source),
            &params.params,
        )?;
        let at_process = loaded.at_process();
        Ok((loaded, at_process))
    }
}

/// The time interval a sampler runs over.
#[derive(clap::Args, Debug)]
pub(super) struct TimeRange {
    /// The data end of the grid (exact: `0.001`, `1/1000`)
    #[arg(long = "t-min", default_value = "0", allow_hyphen_values = true)]
    pub t_min: String,
    /// The noise end of the grid, where the sampler starts
    #[arg(long = "t-max", default_value = "1", allow_hyphen_values = true)]
    pub t_max: String,
}

impl TimeRange {
    /// The interval as f64 ends, checked to lie in [0, 1] with t_min < t_max.
    pub fn parse(&self, pool: &mut Pool) -> Result<(f64, f64), Vec<Diag>> {
        let lo = parse_time(pool, "--t-min", &self.t_min)?;
        let hi = parse_time(pool, "--t-max", &self.t_max)?;
        if lo >= hi {
            return Err(cli_error(
                codes::CLI_T,
                format!(
                    "--t-min {} must be below --t-max {}",
                    self.t_min, self.t_max
                ),
            ));
        }
        Ok((lo, hi))
    }
}

/// A value parser accepting the names of `all`, listed in `--help`.
fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|&v| name(v))).map(move |s| {
        *all.iter()
            .find(|&&v| name(v) == s)
            .expect("clap accepts only the listed names")
    })
}

/// `--sampler`: the six samplers of the exact KL.
pub(super) fn sampler() -> impl TypedValueParser<Value = Sampler> {
    one_of(&Sampler::ALL, Sampler::name)
}

/// `--start`: where the sampler starts.
pub(super) fn start() -> impl TypedValueParser<Value = Start> {
    one_of(&Start::ALL, Start::name)
}

/// `--grid` of a plot: the named grids (a plot varies N, so a grid file cannot serve).
pub(super) fn named_grid() -> impl TypedValueParser<Value = GridKind> {
    PossibleValuesParser::new(GridKind::NAMED.iter().map(GridKind::name)).map(|s| {
        GridKind::NAMED
            .into_iter()
            .find(|g| g.name() == s)
            .expect("clap accepts only the listed names")
    })
}

/// An exact time in [0, 1], as the nearest f64.
pub(super) fn parse_time(pool: &mut Pool, flag: &str, text: &str) -> Result<f64, Vec<Diag>> {
    let r = process::parse_param_override(pool, text)
        .map_err(|m| cli_error(codes::CLI_T, format!("bad value for {flag}: {m}")))?;
    if !in_unit_interval(&r) {
        return Err(cli_error(
            codes::CLI_T,
            format!("{flag} {text} is outside [0, 1]"),
        ));
    }
    Ok(eval::rational_to_f64(&r))
}

/// Whether 0 <= r <= 1.
pub(super) fn in_unit_interval(r: &BigRational) -> bool {
    *r >= BigRational::from_integer(0.into()) && *r <= BigRational::from_integer(1.into())
}

/// Most steps accepted, so a typo cannot ask for terabytes.
const MAX_STEPS: usize = 10_000_000;

/// `--steps 2,3,10`: step counts from 1 to [`MAX_STEPS`].
pub(super) fn parse_steps(text: &str) -> Result<Vec<usize>, Vec<Diag>> {
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_STEPS).contains(&n) => out.push(n),
            _ => {
                return Err(cli_error(
                    codes::CLI_STEPS,
                    format!(
                        "bad number of steps `{}`: expected integers from 1 to {MAX_STEPS}, comma-separated",
                        part.trim()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Refuses a list of step counts whose exact KLs would not finish in seconds.
pub(super) fn check_kl_work(steps: &[usize], d: usize) -> Result<(), Vec<Diag>> {
    let work = analysis::kl_work(steps, d);
    if work <= analysis::KL_WORK_BUDGET {
        return Ok(());
    }
    Err(vec![
        Diag::new(
            codes::CLI_STEPS,
            format!(
                "these --steps would take about {:.0} s for a source of dimension {d}; at most about 30 s is accepted",
                work / analysis::KL_WORK_BUDGET * 30.0
            ),
        )
        .with_help("each grid point costs a schedule evaluation and one update per direction: give fewer or smaller step counts"),
    ])
}

/// `--grid`: `uniform`, `logsnr`, `karras`, or the path of a file with one time per line.
pub(super) fn parse_grid(text: &str) -> Result<GridKind, Vec<Diag>> {
    if let Some(kind) = GridKind::NAMED.into_iter().find(|g| g.name() == text) {
        return Ok(kind);
    }
    let src = read_source(Path::new(text)).map_err(|d| vec![*d])?;
    let mut times = Vec::new();
    let mut offset = 0;
    for line in src.text.split_inclusive('\n') {
        let content = line.split('#').next().unwrap_or("").trim();
        if !content.is_empty() {
            let start = offset + line.find(content).unwrap_or(0);
            let span = crate::diag::Span::new(start, start + content.len());
            let mut pool = Pool::new();
            let t = process::parse_param_override(&mut pool, content)
                .ok()
                .map(|r| eval::rational_to_f64(&r))
                .filter(|t| (0.0..=1.0).contains(t));
            let Some(t) = t else {
                return Err(vec![
                    Diag::new(
                        codes::CLI_GRID,
                        "a grid time must be an exact number in [0, 1]",
                    )
                    .with_label(span, "not a time in [0, 1]")
                    .with_help("a grid file holds one time per line, e.g. `0.25` or `1/3`")
                    .in_source(&src),
                ]);
            };
            times.push(t);
        }
        offset += line.len();
    }
    Ok(GridKind::Times(times))
}
