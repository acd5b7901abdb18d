//! The command line: argument parsing, reading files, running the pipeline, printing.
//!
//! Everything a command prints is built in memory first and written only when the command
//! succeeded, so a failing run writes no partial output. Exit codes: 0 success; 1 a check
//! failed; 2 bad input (usage, parse or semantic error), with diagnostics on stderr.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use num_rational::{BigRational, Rational64};
use serde::Serialize;

use crate::analysis;
use crate::diag::{self, Diag, Source};
use crate::expr::{ExprId, Pool, ball, eval, hp, limit, print};
use crate::process::checks::{self, Verdict};
use crate::process::{self, Process};
use crate::syntax;

/// The bundled library: `derivations/*.dsym`, embedded in the binary.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "derivations/cosine.dsym",
        include_str!("../derivations/cosine.dsym"),
    ),
    (
        "derivations/cosine_nichol.dsym",
        include_str!("../derivations/cosine_nichol.dsym"),
    ),
    (
        "derivations/edm.dsym",
        include_str!("../derivations/edm.dsym"),
    ),
    (
        "derivations/gaussian_alpha_bar.dsym",
        include_str!("../derivations/gaussian_alpha_bar.dsym"),
    ),
    (
        "derivations/karras_ve.dsym",
        include_str!("../derivations/karras_ve.dsym"),
    ),
    (
        "derivations/linear_logsnr.dsym",
        include_str!("../derivations/linear_logsnr.dsym"),
    ),
    (
        "derivations/lm_sqrt.dsym",
        include_str!("../derivations/lm_sqrt.dsym"),
    ),
    (
        "derivations/rectified_flow.dsym",
        include_str!("../derivations/rectified_flow.dsym"),
    ),
    (
        "derivations/sd3_shift.dsym",
        include_str!("../derivations/sd3_shift.dsym"),
    ),
    (
        "derivations/sd_scaled_linear.dsym",
        include_str!("../derivations/sd_scaled_linear.dsym"),
    ),
    (
        "derivations/shifted_cosine.dsym",
        include_str!("../derivations/shifted_cosine.dsym"),
    ),
    (
        "derivations/sigmoid.dsym",
        include_str!("../derivations/sigmoid.dsym"),
    ),
    (
        "derivations/sub_vp.dsym",
        include_str!("../derivations/sub_vp.dsym"),
    ),
    (
        "derivations/tangent.dsym",
        include_str!("../derivations/tangent.dsym"),
    ),
    (
        "derivations/ve.dsym",
        include_str!("../derivations/ve.dsym"),
    ),
    (
        "derivations/vp_linear.dsym",
        include_str!("../derivations/vp_linear.dsym"),
    ),
];

#[derive(Parser, Debug)]
#[command(
    name = "diffsym",
    version,
    about = "Symbolic-numeric derivations for diffusion models",
    long_about = "diffsym reads forward noising processes x_t = alpha(t) x0 + sigma(t) eps written in the \
                  .dsym language and derives, checks and evaluates their formulas exactly.\n\n\
                  With no FILE, `derive` and `check` run on the bundled library (derivations/*.dsym).\n\
                  Exit codes: 0 success, 1 a check failed, 2 bad input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant, reason = "parsed once per run")]
enum Command {
    /// Print every process's parameters and definitions, simplified
    Derive {
        /// .dsym files (default: the bundled library)
        files: Vec<PathBuf>,
        /// Only this process
        #[arg(long)]
        process: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Override a parameter, e.g. `--param beta_max=10` (exact: decimals or fractions)
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
    },
    /// Evaluate one definition of a process at a time t
    Eval {
        /// The .dsym file
        file: PathBuf,
        /// The process (may be omitted when the file defines only one)
        #[arg(long)]
        process: Option<String>,
        /// The definition to evaluate, e.g. `alpha`
        quantity: String,
        /// The time, in [0, 1]; exact (`0.1` is 1/10, `1/3` is a third)
        #[arg(long, allow_hyphen_values = true)]
        t: String,
        /// Print this many significant digits, evaluated with at least 256 bits (default:
        /// the value rounded once to the nearest f64 from agreeing evaluations at 128, 256,
        /// 512, ... bits, printed with 17 significant digits)
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10000))]
        digits: Option<u32>,
        /// Override a parameter, e.g. `--param beta_max=10`
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
        #[command(flatten)]
        inputs: FieldInputs,
    },
    /// Check every assert: proved symbolically, else checked numerically at high precision
    Check {
        /// .dsym files (default: the bundled library)
        files: Vec<PathBuf>,
        /// Only this process
        #[arg(long)]
        process: Option<String>,
        /// Override a parameter, e.g. `--param beta_max=10`
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
    },
    /// Emit a specialised Rust module (or crate) of a process's evaluators; `--verify`
    /// compiles it and compares every function with the 256-bit reference
    Emit(EmitArgs),
    /// Exact KL between a Gaussian source and a sampler's output after N steps
    Kl(KlArgs),
    /// Best tangent law, optimal schedule and (with --process) optimal time grid for a source
    Schedule(ScheduleArgs),
    /// KL(src||out) of DDIM as a series in 1/N, derived symbolically (Euler-Maclaurin);
    /// in N^(-1/q) and ln N where sigma ~ t^(1/q) or alpha ~ (1-t)^(1/q) at an end
    Asymptotics(AsymptoticsArgs),
    /// Plot KL against the number of steps, or a schedule, as an SVG file
    #[command(subcommand)]
    Plot(PlotCommand),
}

/// `diffsym asymptotics FILE --process P --source S --sampler ddim --order K`
#[derive(clap::Args, Debug)]
struct AsymptoticsArgs {
    /// The .dsym file with the source (and the process, else it comes from the bundled library)
    file: PathBuf,
    #[arg(long)]
    process: String,
    #[arg(long)]
    source: String,
    /// The sampler; the expansion is derived for ddim (uniform grid, from the prior at t = 1)
    #[arg(long, default_value = "ddim")]
    sampler: String,
    /// Highest power of 1/N kept, from 2 to 8 (with ln N factors and fractional powers
    /// below it where the angle is singular at an end)
    #[arg(long, default_value_t = 4)]
    order: usize,
    #[arg(long, value_enum, default_value_t = OutFormat::Text)]
    format: OutFormat,
    /// Override a parameter, e.g. `--param beta_max=10`
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
}

/// `diffsym kl FILE --process P --source S --sampler SAMPLER --steps 2,3,10 ...`
#[derive(clap::Args, Debug)]
struct KlArgs {
    /// The .dsym file with the source (and the process, else it comes from the bundled library)
    file: PathBuf,
    #[arg(long)]
    process: String,
    #[arg(long)]
    source: String,
    /// ddim, euler, heun, dpm1, euler_maruyama or ddpm
    #[arg(long)]
    sampler: String,
    /// Numbers of steps, comma-separated (optional with a grid file)
    #[arg(long)]
    steps: Option<String>,
    /// uniform, logsnr, karras, or a file with one time per line
    #[arg(long, default_value = "uniform")]
    grid: String,
    /// Start from the prior N(0, I) or from the true marginal at t_max
    #[arg(long, default_value = "prior", value_parser = ["prior", "exact"])]
    start: String,
    #[command(flatten)]
    range: TimeRange,
    #[arg(long, value_enum, default_value_t = OutFormat::Text)]
    format: OutFormat,
    /// Override a parameter, e.g. `--param beta_max=10`
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
}

/// `diffsym schedule FILE --source S [--process P --steps N [--sampler ddim]]`
#[derive(clap::Args, Debug)]
struct ScheduleArgs {
    file: PathBuf,
    #[arg(long)]
    source: String,
    /// Also search the N-point time grid minimising the exact KL for this process
    #[arg(long)]
    process: Option<String>,
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long, default_value = "ddim")]
    sampler: String,
    #[command(flatten)]
    range: TimeRange,
    #[arg(long, value_enum, default_value_t = OutFormat::Text)]
    format: OutFormat,
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
}

/// The time interval a sampler runs over.
#[derive(clap::Args, Debug)]
struct TimeRange {
    /// The data end of the grid (exact: `0.001`, `1/1000`)
    #[arg(long = "t-min", default_value = "0", allow_hyphen_values = true)]
    t_min: String,
    /// The noise end of the grid, where the sampler starts
    #[arg(long = "t-max", default_value = "1", allow_hyphen_values = true)]
    t_max: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutFormat {
    Text,
    Json,
}

/// Inputs of fields and sampler steps. The model-output flag given picks the
/// parameterisation: `diffsym eval F pf_velocity --t 0.5 --x 0.3 --score 0.64`.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct FieldInputs {
    /// The state x
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) x: Option<String>,
    /// The data point x0 (cond_score, cond_velocity), or an x0-prediction
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) x0: Option<String>,
    /// A score model's output
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) score: Option<String>,
    /// An eps-prediction
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) eps: Option<String>,
    /// A flow-matching velocity
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) u: Option<String>,
    /// A v-prediction (variance-preserving processes)
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) v: Option<String>,
    /// The standard normal draw of euler_maruyama_step
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) z: Option<String>,
    /// The time the sampler steps to
    #[arg(long = "t-next", allow_hyphen_values = true)]
    pub(crate) t_next: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Latex,
    Json,
}

/// The result of a command: what to print on stdout, and the exit code.
struct Outcome {
    stdout: String,
    code: i32,
}

/// Runs the command line with `args` (including the program name), writing to `out` and
/// `err`; returns the exit code.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = e.render().to_string();
            let _ = if code == 0 {
                out.write_all(text.as_bytes())
            } else {
                err.write_all(text.as_bytes())
            };
            return code;
        }
    };
    let result = match cli.command {
        Command::Derive {
            files,
            process,
            format,
            params,
        } => derive(&files, process.as_deref(), format, &params),
        Command::Eval {
            file,
            process,
            quantity,
            t,
            digits,
            params,
            inputs,
        } => eval_cmd(
            &file,
            process.as_deref(),
            &quantity,
            &t,
            digits,
            &params,
            &inputs,
        ),
        Command::Check {
            files,
            process,
            params,
        } => check(&files, process.as_deref(), &params),
        Command::Kl(a) => kl_cmd(&a),
        Command::Schedule(a) => schedule_cmd(&a),
        Command::Asymptotics(a) => asymptotics_cmd(&a),
        Command::Emit(args) => emit(&args),
        Command::Plot(c) => plot_cmd(&c),
    };
    match result {
        Ok(o) => {
            let _ = out.write_all(o.stdout.as_bytes());
            o.code
        }
        Err(diags) => {
            let _ = err.write_all(diag::render_all(&diags).as_bytes());
            2
        }
    }
}

/// A file's processes, lowered, with the source they came from.
struct Loaded {
    pool: Pool,
    processes: Vec<(Source, Process)>,
}

/// The most digits `eval --digits` computes a limit to (a limit costs about eight
/// evaluations at the precision the digits need).
const MAX_LIMIT_DIGITS: u32 = 2000;

/// The names of the bundled processes, from the embedded files' names.
fn bundled_names() -> Vec<&'static str> {
    BUNDLED
        .iter()
        .filter_map(|(file, _)| file.strip_prefix("derivations/")?.strip_suffix(".dsym"))
        .collect()
}

fn read_source(path: &Path) -> Result<Source, Box<Diag>> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            _ => e.to_string().to_lowercase(),
        };
        Box::new(Diag::new(
            "diffsym::io",
            format!("cannot read `{name}`: {what}"),
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
                Diag::new("diffsym::io::utf8", format!("`{name}` is not valid UTF-8"))
                    .with_label(
                        crate::syntax::ast::Span::new(at, at + 1),
                        "invalid byte here",
                    )
                    .with_help("save the file as UTF-8")
                    .in_source(&src),
            ))
        }
    }
}

fn parse_overrides(
    pool: &mut Pool,
    params: &[String],
) -> Result<Vec<(String, BigRational)>, Vec<Diag>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            errors.push(Diag::new(
                "diffsym::cli::param",
                format!("`--param {p}` must have the form NAME=VALUE"),
            ));
            continue;
        };
        match process::parse_param_override(pool, v.trim()) {
            Ok(r) if !num_traits::ToPrimitive::to_f64(&r).is_some_and(f64::is_finite) => {
                errors.push(
                    Diag::new(
                        "diffsym::cli::param",
                        format!("`--param {p}` is outside the range of f64"),
                    )
                    .with_help("every numeric command evaluates the process in f64; give a value below 1.8e308 in magnitude"),
                );
            }
            Ok(r) => out.push((k.trim().to_owned(), r)),
            Err(m) => errors.push(Diag::new(
                "diffsym::cli::param",
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
fn load(
    files: &[PathBuf],
    only: Option<&str>,
    params: &[String],
    stage: process::Stage,
) -> Result<Loaded, Vec<Diag>> {
    let mut pool = Pool::new();
    let overrides = parse_overrides(&mut pool, params)?;
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    if files.is_empty() {
        sources.extend(BUNDLED.iter().map(|(n, t)| Source::new(*n, *t)));
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
            Err(es) => diags.extend(es.into_iter().map(|e| e.into_diag(&src))),
        }
    }
    // Every process lowers in a pool of its own, spread over the cores, merged in order.
    let inputs: Vec<(&syntax::ast::File, &str)> =
        parsed.iter().map(|(src, ast)| (ast, &*src.text)).collect();
    let lowered = process::lower_files(&mut pool, &inputs, &overrides, stage);
    let mut processes = Vec::new();
    for ((src, _), r) in parsed.iter().zip(lowered) {
        match r {
            Ok(ps) => processes.extend(ps.into_iter().map(|p| (src.clone(), p))),
            Err(es) => diags.extend(es.into_iter().map(|e| e.into_diag(src))),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    for (k, _) in &overrides {
        if !processes.iter().any(|(_, p)| p.param(k).is_some()) {
            diags.push(Diag::new(
                "diffsym::cli::param",
                format!("`--param {k}=...` names no parameter of the processes read"),
            ));
        }
    }
    if let Some(name) = only {
        processes.retain(|(_, p)| p.name == name);
        if processes.is_empty() {
            diags.push(Diag::new(
                "diffsym::cli::process",
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

#[derive(Serialize)]
struct JsonLibrary {
    processes: Vec<JsonProcess>,
}

#[derive(Serialize)]
struct JsonProcess {
    name: String,
    file: String,
    doc: Option<String>,
    params: Vec<JsonFormula>,
    definitions: Vec<JsonFormula>,
    /// The derived quantities (alpha, sigma, alpha_bar, f, g2, g, lambda, dlambda, log_snr,
    /// snr, rho), each a function of t.
    quantities: Vec<JsonFormula>,
    /// cond_score, cond_velocity, and each field and sampler step per parameterisation
    /// (`pf_velocity_eps`, ...).
    fields: Vec<JsonFormula>,
}

#[derive(Serialize)]
struct JsonFormula {
    name: String,
    args: Vec<String>,
    text: String,
    latex: String,
}

fn derive(
    files: &[PathBuf],
    only: Option<&str>,
    format: Format,
    params: &[String],
) -> Result<Outcome, Vec<Diag>> {
    let loaded = load(files, only, params, process::Stage::Fields)?;
    let pool = &loaded.pool;
    let stdout = match format {
        Format::Text => {
            let mut s = String::new();
            for (i, (src, p)) in loaded.processes.iter().enumerate() {
                if i > 0 {
                    s.push('\n');
                }
                let _ = writeln!(s, "process {} ({})", p.name, src.name);
                if let Some(doc) = &p.doc {
                    let _ = writeln!(s, "  {doc}");
                }
                for prm in &p.params {
                    let note = if prm.overridden {
                        "  (from --param)"
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        s,
                        "  param {} = {}{note}",
                        prm.name,
                        print::to_text(pool, prm.value)
                    );
                }
                for d in &p.defs {
                    let _ = writeln!(
                        s,
                        "  {}({}) = {}",
                        d.name,
                        arg_names(pool, &d.args).join(", "),
                        print::to_text(pool, d.body)
                    );
                }
                if !p.quantities.is_empty() {
                    let _ = writeln!(s, "  derived:");
                }
                for &(name, e) in &p.quantities {
                    let _ = writeln!(s, "    {name}(t) = {}", print::to_text(pool, e));
                }
                let rows = field_rows(p);
                if !rows.is_empty() {
                    let _ = writeln!(s, "  fields:");
                }
                for (name, args, e) in rows {
                    let _ = writeln!(
                        s,
                        "    {name}({}) = {}",
                        args.join(", "),
                        print::to_text(pool, e)
                    );
                }
            }
            s
        }
        Format::Latex => latex_document(pool, &loaded.processes),
        Format::Json => {
            let lib = JsonLibrary {
                processes: loaded
                    .processes
                    .iter()
                    .map(|(src, p)| JsonProcess {
                        name: p.name.clone(),
                        file: src.name.clone(),
                        doc: p.doc.clone(),
                        params: p
                            .params
                            .iter()
                            .map(|prm| JsonFormula {
                                name: prm.name.clone(),
                                args: Vec::new(),
                                text: print::to_text(pool, prm.value),
                                latex: print::to_latex(pool, prm.value),
                            })
                            .collect(),
                        quantities: p
                            .quantities
                            .iter()
                            .map(|&(name, e)| JsonFormula {
                                name: name.to_owned(),
                                args: vec!["t".to_owned()],
                                text: print::to_text(pool, e),
                                latex: print::to_latex(pool, e),
                            })
                            .collect(),
                        fields: field_rows(p)
                            .into_iter()
                            .map(|(name, args, e)| JsonFormula {
                                name,
                                args,
                                text: print::to_text(pool, e),
                                latex: print::to_latex(pool, e),
                            })
                            .collect(),
                        definitions: p
                            .defs
                            .iter()
                            .map(|d| JsonFormula {
                                name: d.name.clone(),
                                args: arg_names(pool, &d.args),
                                text: print::to_text(pool, d.body),
                                latex: print::to_latex(pool, d.body),
                            })
                            .collect(),
                    })
                    .collect(),
            };
            let mut s = serde_json::to_string_pretty(&lib).unwrap_or_default();
            s.push('\n');
            s
        }
    };
    Ok(Outcome { stdout, code: 0 })
}

/// Every field of a process as `(name with parameterisation, argument names, expression)`.
fn field_rows(p: &Process) -> Vec<(String, Vec<String>, ExprId)> {
    let mut rows: Vec<(String, Vec<String>, ExprId)> = p
        .fields()
        .conditional
        .iter()
        .map(|&(name, e)| {
            (
                name.to_owned(),
                vec!["x".into(), "x0".into(), "t".into()],
                e,
            )
        })
        .collect();
    for f in &p.fields().fields {
        let mut args = vec!["x".to_owned(), f.param.name().to_owned()];
        if f.name == "euler_maruyama_step" {
            args.push("z".into());
        }
        args.push("t".into());
        if f.is_step {
            args.push("t_next".into());
        }
        rows.push((format!("{}_{}", f.name, f.param.name()), args, f.expr));
    }
    rows
}

fn arg_names(pool: &Pool, args: &[crate::expr::Symbol]) -> Vec<String> {
    args.iter()
        .map(|&a| pool.symbol_name(a).to_owned())
        .collect()
}

fn latex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' | '}' | '_' | '&' | '%' | '$' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '^' => out.push_str("\\textasciicircum{}"),
            '~' => out.push_str("\\textasciitilde{}"),
            _ => out.push(c),
        }
    }
    out
}

fn latex_document(pool: &Pool, processes: &[(Source, Process)]) -> String {
    let mut s = String::from(
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\allowdisplaybreaks\n\\begin{document}\n",
    );
    for (src, p) in processes {
        let _ = writeln!(s, "\n\\section*{{{}}}", latex_escape(&p.name));
        let _ = writeln!(s, "% from {}", src.name.replace('\n', " "));
        if let Some(doc) = &p.doc {
            let _ = writeln!(s, "{}\n", latex_escape(doc));
        }
        s.push_str("\\begin{align*}\n");
        let mut rows = Vec::new();
        for prm in &p.params {
            rows.push(format!(
                "{} &= {}",
                print::symbol_latex(&prm.name),
                print::to_latex(pool, prm.value)
            ));
        }
        for d in &p.defs {
            let args: Vec<String> = d
                .args
                .iter()
                .map(|&a| print::symbol_latex(pool.symbol_name(a)))
                .collect();
            rows.push(format!(
                "{}({}) &= {}",
                print::symbol_latex(&d.name),
                args.join(", "),
                print::to_latex(pool, d.body)
            ));
        }
        s.push_str(&rows.join(" \\\\\n"));
        s.push_str("\n\\end{align*}\n");
        if !p.quantities.is_empty() {
            s.push_str("Derived quantities:\n\\begin{align*}\n");
            let rows: Vec<String> = p
                .quantities
                .iter()
                .map(|&(name, e)| {
                    format!(
                        "{}(t) &= {}",
                        process::derive::latex_name(name),
                        print::to_latex(pool, e)
                    )
                })
                .collect();
            s.push_str(&rows.join(" \\\\\n"));
            s.push_str("\n\\end{align*}\n");
        }
        let fields = field_rows(p);
        if !fields.is_empty() {
            s.push_str("Fields and sampler steps:\n\\begin{align*}\n");
            let rows: Vec<String> = fields
                .iter()
                .map(|(name, args, e)| {
                    let args: Vec<String> = args.iter().map(|a| print::symbol_latex(a)).collect();
                    format!(
                        "\\mathrm{{{}}}({}) &= {}",
                        latex_escape(name),
                        args.join(", "),
                        print::to_latex(pool, *e)
                    )
                })
                .collect();
            s.push_str(&rows.join(" \\\\\n"));
            s.push_str("\n\\end{align*}\n");
        }
    }
    s.push_str("\\end{document}\n");
    s
}

/// Picks the process to use from one file: by name, or the only one.
fn pick<'a>(loaded: &'a Loaded, name: Option<&str>) -> Result<&'a (Source, Process), Vec<Diag>> {
    match name {
        _ if loaded.processes.is_empty() => Err(vec![
            Diag::new("diffsym::cli::process", "this file defines no process")
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
                    "diffsym::cli::process",
                    "this file defines several processes: choose one with --process",
                )
                .with_help(format!("processes: {}", names.join(", "))),
            ])
        }
    }
}

fn eval_cmd(
    file: &Path,
    process: Option<&str>,
    quantity: &str,
    t: &str,
    digits: Option<u32>,
    params: &[String],
    inputs: &FieldInputs,
) -> Result<Outcome, Vec<Diag>> {
    let mut loaded = load(
        &[file.to_path_buf()],
        process,
        params,
        process::Stage::Fields,
    )?;
    let (_, p) = pick(&loaded, process)?.clone();
    let text = eval_text(&mut loaded.pool, &p, quantity, t, digits, inputs)?;
    Ok(Outcome {
        stdout: format!("{text}\n"),
        code: 0,
    })
}

/// What `eval` prints (without the newline) for `quantity` of the lowered process `p` at
/// the time `t` as typed: the whole command after loading. The fuzzer (`crate::fuzz`)
/// calls it on the processes it lowers, so it checks exactly what the command prints.
pub(crate) fn eval_text(
    pool: &mut Pool,
    p: &Process,
    quantity: &str,
    t: &str,
    digits: Option<u32>,
    inputs: &FieldInputs,
) -> Result<String, Vec<Diag>> {
    let t_value = process::parse_param_override(pool, t).map_err(|m| {
        vec![Diag::new(
            "diffsym::cli::t",
            format!("bad value for --t: {m}"),
        )]
    })?;
    let zero = BigRational::from_integer(0.into());
    let one = BigRational::from_integer(1.into());
    if t_value < zero || t_value > one {
        return Err(vec![
            Diag::new("diffsym::cli::t", format!("--t {t} is outside [0, 1]"))
                .with_help("t = 0 is the data end, t = 1 the noise end of the process"),
        ]);
    }
    let user = p.def(quantity).map(|d| (d.args.clone(), d.body));
    let derived = p
        .quantity(quantity)
        .map(|e| (vec![process::time_symbol(pool)], e));
    // The exact inputs are bound, not substituted: substitution would let the simplifier
    // fold `0 * anything` at a point where `anything` is undefined.
    let (e, env, times): BoundExpr = match user.or(derived) {
        Some((args, body)) => {
            if args.len() != 1 {
                return Err(vec![Diag::new(
                    "diffsym::cli::quantity",
                    format!(
                        "`{quantity}` takes {} arguments; eval needs a function of t alone",
                        args.len()
                    ),
                )]);
            }
            if inputs.given().next().is_some() {
                return Err(vec![Diag::new(
                    "diffsym::cli::quantity",
                    format!("`{quantity}` is a function of t alone; it takes no field inputs"),
                )]);
            }
            (body, vec![(args[0], t_value.clone())], vec![args[0]])
        }
        None => field_expr(pool, p, quantity, &t_value, inputs)?,
    };
    let what = |m: String| {
        vec![Diag::new(
            "diffsym::eval",
            format!("`{quantity}` at t = {t}: {m}"),
        )]
    };
    let text = match digits {
        None => {
            let v = limit::value_at(
                pool,
                e,
                &env,
                &times,
                limit::MAX_POINT_BITS,
                &ball::round_f64,
            )
            .map(f64::from_bits)
            .map_err(|err| what(err.to_string()))?;
            if v.is_infinite() {
                let about = limit::value_at(pool, e, &env, &times, limit::MAX_POINT_BITS, &|x| {
                    hp::format_sig(x, 3)
                })
                .unwrap_or_default();
                return Err(vec![
                    Diag::new(
                        "diffsym::eval::range",
                        format!("`{quantity}` at t = {t} is {about}, outside the range of f64"),
                    )
                    .with_help("`--digits D` prints it with D significant digits"),
                ]);
            }
            eval::format_f64(v)
        }
        Some(d) => {
            let bits = (f64::from(d) * std::f64::consts::LOG2_10).ceil() as usize + 64;
            let max_bits = limit::MAX_POINT_BITS.max(4 * bits);
            let round = |x: &astro_float::BigFloat| hp::format_sig_or_zero(x, d as usize);
            if d > MAX_LIMIT_DIGITS {
                // A limit samples the formula eight times at this precision: bounded to
                // MAX_LIMIT_DIGITS so that every accepted --digits finishes in seconds.
                // Whether the point needs one is asked first, at f64 rounding.
                let defined = matches!(
                    ball::certify(pool, e, &env, limit::MAX_POINT_BITS, ball::round_f64),
                    Ok(_) | Err(ball::Uncertified::Tie(_))
                );
                defined
                    .then(|| ball::certify(pool, e, &env, max_bits, round).ok())
                    .flatten()
                    .map(|(text, _)| text)
                    .ok_or_else(|| {
                        vec![
                            Diag::new(
                                "diffsym::eval::digits",
                                format!(
                                    "`{quantity}` at t = {t} is not defined there, and limits are computed to at most {MAX_LIMIT_DIGITS} digits"
                                ),
                            )
                            .with_help(format!("use --digits {MAX_LIMIT_DIGITS} or fewer")),
                        ]
                    })?
            } else {
                limit::value_at(pool, e, &env, &times, max_bits, &round)
                    .map_err(|err| what(err.to_string()))?
            }
        }
    };
    Ok(text)
}

impl FieldInputs {
    /// The flags given, as (flag name, value).
    fn given(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("x", &self.x),
            ("x0", &self.x0),
            ("score", &self.score),
            ("eps", &self.eps),
            ("u", &self.u),
            ("v", &self.v),
            ("z", &self.z),
            ("t-next", &self.t_next),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.as_deref().map(|v| (n, v)))
    }
}

/// An expression with the exact values of its symbols, and which of them are times.
type BoundExpr = (
    ExprId,
    Vec<(crate::expr::Symbol, BigRational)>,
    Vec<crate::expr::Symbol>,
);

/// A field or sampler step with the exact value of every input bound (not substituted).
fn field_expr(
    pool: &mut Pool,
    p: &Process,
    name: &str,
    t: &BigRational,
    inputs: &FieldInputs,
) -> Result<BoundExpr, Vec<Diag>> {
    use process::fields::{FIELDS, Param, Vars};
    let err = |m: String| vec![Diag::new("diffsym::cli::field", m)];
    let is_cond = p.fields().conditional(name).is_some();
    let (base, param) = match FIELDS.iter().find(|f| name == **f) {
        Some(f) => {
            // The parameterisation is the one model-output flag given (x0 counts only
            // when no other is given).
            let outputs: Vec<Param> = [
                (Param::Score, &inputs.score),
                (Param::Eps, &inputs.eps),
                (Param::U, &inputs.u),
                (Param::V, &inputs.v),
            ]
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .map(|(p, _)| p)
            .collect();
            let param = match (outputs.as_slice(), &inputs.x0) {
                ([one], _) => *one,
                ([], Some(_)) => Param::X0,
                ([], None) => {
                    return Err(err(format!(
                        "`{name}` needs a model output: one of --score, --eps, --x0, --u, --v"
                    )));
                }
                _ => {
                    return Err(err(
                        "give one model output only (--score, --eps, --x0, --u or --v)".into(),
                    ));
                }
            };
            (*f, Some(param))
        }
        None if is_cond => (name, None),
        None => {
            let mut known: Vec<&str> = p.defs.iter().map(|d| d.name.as_str()).collect();
            known.extend(
                p.quantities
                    .iter()
                    .map(|&(n, _)| n)
                    .filter(|n| p.def(n).is_none()),
            );
            known.extend(p.fields().conditional.iter().map(|&(n, _)| n));
            known.extend(FIELDS);
            return Err(vec![
                Diag::new(
                    "diffsym::cli::quantity",
                    format!("process `{}` defines no `{name}`", p.name),
                )
                .with_help(format!("defined: {}", known.join(", "))),
            ]);
        }
    };
    let (expr, is_step) = match param {
        Some(param) => {
            let f = p.field(base, param).ok_or_else(|| {
                err(format!("`{base}` has no {} parameterisation here (v-prediction needs a variance-preserving process)", param.name()))
            })?;
            (f.expr, f.is_step)
        }
        None => (p.fields().conditional(name).expect("is_cond"), false),
    };
    let vars = Vars::new(pool);
    let mut map = vec![(vars.t, t.clone())];
    let mut needed: Vec<(&str, &Option<String>, crate::expr::Symbol)> =
        vec![("x", &inputs.x, vars.x)];
    match param {
        None => needed.push(("x0", &inputs.x0, vars.x0)),
        Some(pm) => {
            let flag = match pm {
                Param::Score => &inputs.score,
                Param::Eps => &inputs.eps,
                Param::X0 => &inputs.x0,
                Param::U => &inputs.u,
                Param::V => &inputs.v,
            };
            let sym = vars.output(pool, pm);
            needed.push((pm.name(), flag, sym));
        }
    }
    if base == "euler_maruyama_step" {
        needed.push(("z", &inputs.z, vars.z));
    }
    if is_step {
        needed.push(("t-next", &inputs.t_next, vars.t_next));
    }
    for (flag, value, sym) in needed {
        let Some(text) = value else {
            return Err(err(format!("`{name}` needs --{flag}")));
        };
        let r = process::parse_param_override(pool, text)
            .map_err(|m| err(format!("bad value for --{flag}: {m}")))?;
        if flag == "t-next"
            && (r < BigRational::from_integer(0.into()) || r > BigRational::from_integer(1.into()))
        {
            return Err(err(format!("--t-next {text} is outside [0, 1]")));
        }
        map.push((sym, r));
    }
    Ok((expr, map, vec![vars.t, vars.t_next]))
}

fn check(files: &[PathBuf], only: Option<&str>, params: &[String]) -> Result<Outcome, Vec<Diag>> {
    let loaded = load(files, only, params, process::Stage::Quantities)?;
    // Each process is checked in a pool of its own, the processes spread over the cores:
    // the verdicts do not depend on the number of threads.
    let pool = &loaded.pool;
    let verdicts = crate::par::map(
        &loaded.processes,
        crate::par::workers(loaded.processes.len()),
        |(_, p)| {
            let mut own = Pool::new();
            let p = p.transplant(pool, &mut own);
            crate::expr::poly::with_work_allowance(crate::expr::poly::PROCESS_WORK, || {
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

// ---------------------------------------------------------------------------------------------
// Analyses on Gaussian sources: `kl` and `schedule`

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        _ => e.to_string().to_lowercase(),
    }
}

fn cli_error(code: &'static str, message: impl Into<String>) -> Vec<Diag> {
    vec![Diag::new(code, message)]
}

/// The process and the source an analysis runs on. The process comes from FILE, or from the
/// bundled library when FILE does not define it; data files are read relative to FILE.
fn load_analysis(
    file: &Path,
    process_name: Option<&str>,
    source_name: &str,
    params: &[String],
) -> Result<(Pool, Option<Process>, analysis::GaussianSource), Vec<Diag>> {
    let src = read_source(file).map_err(|d| vec![*d])?;
    let ast = syntax::parse_file(&src.text).map_err(|es| {
        es.into_iter()
            .map(|e| e.into_diag(&src))
            .collect::<Vec<_>>()
    })?;
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut loader = |p: &str| std::fs::read_to_string(dir.join(p)).map_err(|e| io_reason(&e));
    let mut diags = Vec::new();
    let sources = match analysis::lower_sources(&ast, &mut loader) {
        Ok(s) => s,
        Err(es) => {
            diags.extend(es.into_iter().map(|e| e.into_diag(&src)));
            Vec::new()
        }
    };
    let mut pool = Pool::new();
    let overrides = parse_overrides(&mut pool, params)?;
    let lowered = process::lower_files(
        &mut pool,
        &[(&ast, &src.text)],
        &overrides,
        process::Stage::Quantities,
    );
    let mut processes = match lowered.into_iter().next().unwrap_or_else(|| Ok(Vec::new())) {
        Ok(ps) => ps,
        Err(es) => {
            diags.extend(es.into_iter().map(|e| e.into_diag(&src)));
            Vec::new()
        }
    };
    if !diags.is_empty() {
        return Err(diags);
    }
    let source = match sources.iter().position(|s| s.name == source_name) {
        Some(k) => sources.into_iter().nth(k).expect("position is in range"),
        None => {
            let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
            let help = if names.is_empty() {
                "declare one, e.g. `source S = gaussian(spectrum = [1, 0.5]);`".to_owned()
            } else {
                format!("sources: {}", names.join(", "))
            };
            return Err(vec![
                Diag::new(
                    "diffsym::cli::source",
                    format!("no source named `{source_name}` in `{}`", src.name),
                )
                .with_help(help),
            ]);
        }
    };
    let Some(name) = process_name else {
        return Ok((pool, None, source));
    };
    if let Some(k) = processes.iter().position(|p| p.name == name) {
        let p = processes.swap_remove(k);
        check_overrides(&overrides, &p)?;
        return Ok((pool, Some(p), source));
    }
    for (file_name, text) in BUNDLED {
        let Ok(ast) = syntax::parse_file(text) else {
            continue;
        };
        let named = ast
            .items
            .iter()
            .any(|i| matches!(i, syntax::ast::Item::Process(p) if p.name.name == name));
        if !named {
            continue;
        }
        let bundled = Source::new(*file_name, *text);
        let lowered = process::lower_files(
            &mut pool,
            &[(&ast, text)],
            &overrides,
            process::Stage::Quantities,
        );
        let ps = match lowered.into_iter().next().unwrap_or_else(|| Ok(Vec::new())) {
            Ok(ps) => ps,
            Err(es) => return Err(es.into_iter().map(|e| e.into_diag(&bundled)).collect()),
        };
        if let Some(p) = ps.into_iter().find(|p| p.name == name) {
            check_overrides(&overrides, &p)?;
            return Ok((pool, Some(p), source));
        }
    }
    Err(vec![
        Diag::new(
            "diffsym::cli::process",
            format!(
                "no process named `{name}` in `{}` or the bundled library",
                src.name
            ),
        )
        .with_help(format!("bundled: {}", bundled_names().join(", "))),
    ])
}

fn check_overrides(overrides: &[(String, BigRational)], p: &Process) -> Result<(), Vec<Diag>> {
    match overrides.iter().find(|(k, _)| p.param(k).is_none()) {
        Some((k, _)) => Err(cli_error(
            "diffsym::cli::param",
            format!(
                "`--param {k}=...` names no parameter of process `{}`",
                p.name
            ),
        )),
        None => Ok(()),
    }
}

fn parse_time(pool: &mut Pool, flag: &str, text: &str) -> Result<f64, Vec<Diag>> {
    let r = process::parse_param_override(pool, text)
        .map_err(|m| cli_error("diffsym::cli::t", format!("bad value for {flag}: {m}")))?;
    let zero = BigRational::from_integer(0.into());
    let one = BigRational::from_integer(1.into());
    if r < zero || r > one {
        return Err(cli_error(
            "diffsym::cli::t",
            format!("{flag} {text} is outside [0, 1]"),
        ));
    }
    Ok(eval::rational_to_f64(&r))
}

fn parse_range(pool: &mut Pool, r: &TimeRange) -> Result<(f64, f64), Vec<Diag>> {
    let lo = parse_time(pool, "--t-min", &r.t_min)?;
    let hi = parse_time(pool, "--t-max", &r.t_max)?;
    if lo >= hi {
        return Err(cli_error(
            "diffsym::cli::t",
            format!("--t-min {} must be below --t-max {}", r.t_min, r.t_max),
        ));
    }
    Ok((lo, hi))
}

fn parse_sampler(name: &str) -> Result<analysis::Sampler, Vec<Diag>> {
    analysis::Sampler::from_name(name).ok_or_else(|| {
        vec![
            Diag::new("diffsym::cli::sampler", format!("unknown sampler `{name}`"))
                .with_help("samplers: ddim, euler, heun, dpm1, euler_maruyama, ddpm"),
        ]
    })
}

/// Most steps accepted, so a typo cannot ask for terabytes.
const MAX_STEPS: usize = 10_000_000;

/// Refuses a list of step counts whose exact KLs would not finish in seconds.
fn check_kl_work(steps: &[usize], d: usize) -> Result<(), Vec<Diag>> {
    let work = analysis::kl_work(steps, d);
    if work <= analysis::KL_WORK_BUDGET {
        return Ok(());
    }
    Err(vec![
        Diag::new(
            "diffsym::cli::steps",
            format!(
                "these --steps would take about {:.0} s for a source of dimension {d}; at most about 30 s is accepted",
                work / analysis::KL_WORK_BUDGET * 30.0
            ),
        )
        .with_help("each grid point costs a schedule evaluation and one update per direction: give fewer or smaller step counts"),
    ])
}

fn parse_steps(text: &str) -> Result<Vec<usize>, Vec<Diag>> {
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_STEPS).contains(&n) => out.push(n),
            _ => {
                return Err(cli_error(
                    "diffsym::cli::steps",
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

/// `uniform`, `logsnr`, `karras`, or the path of a file with one time per line.
fn parse_grid(text: &str) -> Result<analysis::GridKind, Vec<Diag>> {
    use analysis::GridKind;
    Ok(match text {
        "uniform" => GridKind::Uniform,
        "logsnr" => GridKind::LogSnr,
        "karras" => GridKind::Karras,
        path => {
            let src = read_source(Path::new(path)).map_err(|d| vec![*d])?;
            let mut times = Vec::new();
            let mut offset = 0;
            for line in src.text.split_inclusive('\n') {
                let content = line.split('#').next().unwrap_or("").trim();
                if !content.is_empty() {
                    let start = offset + line.find(content).unwrap_or(0);
                    let span = crate::syntax::ast::Span::new(start, start + content.len());
                    let mut pool = Pool::new();
                    let t = process::parse_param_override(&mut pool, content)
                        .ok()
                        .map(|r| eval::rational_to_f64(&r))
                        .filter(|t| (0.0..=1.0).contains(t));
                    let Some(t) = t else {
                        return Err(vec![
                            Diag::new(
                                "diffsym::cli::grid",
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
            GridKind::Times(times)
        }
    })
}

/// A KL value for printing: 17 significant digits, `inf` when the output is degenerate.
fn kl_text(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.16e}")
    } else {
        "inf".to_owned()
    }
}

#[derive(Serialize)]
struct JsonKl {
    process: String,
    source: String,
    sampler: String,
    grid: String,
    start: String,
    t_min: f64,
    t_max: f64,
    dimension: usize,
    results: Vec<JsonKlRow>,
}

#[derive(Serialize)]
struct JsonKlRow {
    steps: usize,
    /// null when infinite (the output law is degenerate)
    kl_src_out: Option<f64>,
    kl_out_src: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn kl_cmd(a: &KlArgs) -> Result<Outcome, Vec<Diag>> {
    let sampler = parse_sampler(&a.sampler)?;
    let grid_kind = parse_grid(&a.grid)?;
    let (mut pool, p, source) = load_analysis(&a.file, Some(&a.process), &a.source, &a.params)?;
    let p = p.expect("a process was asked for");
    let (t_min, t_max) = parse_range(&mut pool, &a.range)?;
    let steps = match (&grid_kind, &a.steps) {
        (analysis::GridKind::Times(t), None) => vec![t.len().saturating_sub(1)],
        (analysis::GridKind::Times(t), Some(s)) => {
            let s = parse_steps(s)?;
            if s != [t.len().saturating_sub(1)] {
                return Err(cli_error(
                    "diffsym::cli::steps",
                    format!(
                        "the grid file has {} steps; --steps must match or be left out",
                        t.len().saturating_sub(1)
                    ),
                ));
            }
            s
        }
        (_, Some(s)) => parse_steps(s)?,
        (_, None) => {
            return Err(cli_error(
                "diffsym::cli::steps",
                "give the numbers of steps, e.g. `--steps 2,3,10`",
            ));
        }
    };
    check_kl_work(&steps, source.dimension())?;
    let start = if a.start == "exact" {
        analysis::Start::Exact
    } else {
        analysis::Start::Prior
    };
    let sched = analysis::ProcessSchedule::new(&pool, &p).map_err(|e| vec![e.into_diag()])?;
    let mut rows = Vec::new();
    for &n in &steps {
        let grid = analysis::time_grid(&grid_kind, &sched, n, t_min, t_max)
            .map_err(|e| vec![e.into_diag()])?;
        let kl = analysis::exact_kl(&sched, &source, sampler, &grid, start)
            .map_err(|e| vec![e.into_diag()])?;
        rows.push((n, kl));
    }
    let (t_min, t_max) = match &grid_kind {
        analysis::GridKind::Times(t) => (
            t.iter().copied().fold(f64::INFINITY, f64::min),
            t.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ),
        _ => (t_min, t_max),
    };
    let stdout = match a.format {
        OutFormat::Json => {
            let json = JsonKl {
                process: p.name.clone(),
                source: source.name.clone(),
                sampler: sampler.name().to_owned(),
                grid: grid_kind.name().to_owned(),
                start: a.start.clone(),
                t_min,
                t_max,
                dimension: source.dimension(),
                results: rows
                    .iter()
                    .map(|&(steps, k)| JsonKlRow {
                        steps,
                        kl_src_out: finite(k.kl_src_out),
                        kl_out_src: finite(k.kl_out_src),
                    })
                    .collect(),
            };
            serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"
        }
        OutFormat::Text => {
            let mut s = format!(
                "process {}, source {} (d = {}), sampler {}, {} grid on [{t_min}, {t_max}], start {}\n",
                p.name,
                source.name,
                source.dimension(),
                sampler.name(),
                grid_kind.name(),
                a.start
            );
            let _ = writeln!(
                s,
                "{:>8}  {:>23}  {:>23}",
                "steps", "KL(src||out)", "KL(out||src)"
            );
            for (n, k) in rows {
                let _ = writeln!(
                    s,
                    "{n:>8}  {:>23}  {:>23}",
                    kl_text(k.kl_src_out),
                    kl_text(k.kl_out_src)
                );
            }
            s
        }
    };
    Ok(Outcome { stdout, code: 0 })
}

#[derive(Serialize)]
struct JsonSchedule {
    source: String,
    dimension: usize,
    gamma_star: f64,
    /// (1/4) sum J_i(gamma*)^2: the limit of N^2 KL for the best tangent law
    tangent_coefficient: f64,
    /// (1/4) sum J_i^2 at the unrestricted optimum
    optimal_coefficient: f64,
    /// tangent_coefficient / optimal_coefficient
    ratio: f64,
    /// whether the fixed-point iteration for the optimal schedule converged (if not, the
    /// optimum reported is the last iterate: an upper bound on the true optimum)
    optimal_converged: bool,
    /// rho(t) of the optimal schedule and of the best tangent at t = 0.1, ..., 0.9
    optimal_schedule: Vec<JsonRho>,
    process: Option<String>,
    sampler: Option<String>,
    steps: Option<usize>,
    /// the time grid minimising KL(src||out) for the process and sampler
    grid: Option<Vec<f64>>,
    kl_optimal_grid: Option<f64>,
    kl_uniform_grid: Option<f64>,
    kl_logsnr_grid: Option<f64>,
    kl_karras_grid: Option<f64>,
}

#[derive(Serialize)]
struct JsonRho {
    t: f64,
    rho: f64,
    rho_tangent: f64,
}

fn schedule_cmd(a: &ScheduleArgs) -> Result<Outcome, Vec<Diag>> {
    use analysis::GridKind;
    let sampler = parse_sampler(&a.sampler)?;
    let n = match (&a.process, a.steps) {
        (Some(_), Some(n)) if (1..=100_000).contains(&n) => Some(n),
        (Some(_), Some(n)) => {
            return Err(cli_error(
                "diffsym::cli::steps",
                format!("--steps {n} must be between 1 and 100000"),
            ));
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(cli_error(
                "diffsym::cli::steps",
                "--process needs --steps N: the size of the grid to optimise",
            ));
        }
        (None, Some(_)) => {
            return Err(cli_error(
                "diffsym::cli::process",
                "--steps needs --process P: the grid is optimised for a process",
            ));
        }
    };
    let (mut pool, p, source) = load_analysis(&a.file, a.process.as_deref(), &a.source, &a.params)?;
    let (t_min, t_max) = parse_range(&mut pool, &a.range)?;
    if let Some(n) = n {
        let most = analysis::max_grid_search_steps(sampler, source.dimension());
        if n > most {
            return Err(vec![
                Diag::new(
                    "diffsym::cli::steps",
                    format!(
                        "--steps {n} is more than the grid search of {} can refine in about 20 s for a source of dimension {}: at most {most}",
                        sampler.name(),
                        source.dimension()
                    ),
                )
                .with_help("the search evaluates the KL and its gradient hundreds of times, each in time proportional to N (the schedule at N points, and N steps per dimension); `kl --grid` evaluates fixed grids of any size"),
            ]);
        }
    }
    let eigs = &source.eigenvalues;
    let gamma = analysis::gamma_star(eigs);
    let tangent = analysis::tangent_coefficient(gamma, eigs);
    let opt = analysis::optimal_schedule(eigs).map_err(|e| vec![e.into_diag()])?;
    let mut json = JsonSchedule {
        source: source.name.clone(),
        dimension: source.dimension(),
        gamma_star: gamma,
        tangent_coefficient: tangent,
        optimal_coefficient: opt.coefficient,
        ratio: tangent / opt.coefficient,
        optimal_converged: opt.converged,
        optimal_schedule: (1..10)
            .map(|k| {
                let t = f64::from(k) / 10.0;
                JsonRho {
                    t,
                    rho: opt.rho_at(t),
                    rho_tangent: gamma * (std::f64::consts::FRAC_PI_2 * t).tan(),
                }
            })
            .collect(),
        process: None,
        sampler: None,
        steps: None,
        grid: None,
        kl_optimal_grid: None,
        kl_uniform_grid: None,
        kl_logsnr_grid: None,
        kl_karras_grid: None,
    };
    if let (Some(p), Some(n)) = (&p, n) {
        let exact = analysis::ProcessSchedule::new(&pool, p).map_err(|e| vec![e.into_diag()])?;
        let sched = analysis::Cached::new(&exact);
        let start = analysis::Start::Prior;
        let objective = |g: &[f64]| analysis::exact_kl(&sched, &source, sampler, g, start);
        let mut candidates = Vec::new();
        for kind in [GridKind::Uniform, GridKind::LogSnr, GridKind::Karras] {
            // logsnr and karras need finite ends; a missing one is reported as null.
            let Ok(g) = analysis::time_grid(&kind, &sched, n, t_min, t_max) else {
                continue;
            };
            let kl = objective(&g).map_err(|e| vec![e.into_diag()])?;
            match kind {
                GridKind::Uniform => json.kl_uniform_grid = finite(kl.kl_src_out),
                GridKind::LogSnr => json.kl_logsnr_grid = finite(kl.kl_src_out),
                _ => json.kl_karras_grid = finite(kl.kl_src_out),
            }
            candidates.push((kl.kl_src_out, g));
        }
        let Some((_, best)) = candidates.into_iter().min_by(|x, y| x.0.total_cmp(&y.0)) else {
            // Only when no grid exists at all, e.g. --t-min and --t-max one ulp apart.
            return Err(cli_error(
                "diffsym::cli::grid",
                format!("no {n}-step grid fits between --t-min {t_min} and --t-max {t_max}"),
            ));
        };
        // The search moves every time at once, so a memo of schedule values would only grow.
        let with_gradient =
            |g: &[f64]| analysis::exact_kl_gradient(&exact, &source, sampler, g, start);
        let cost = analysis::optimal::EvaluationCost::of(sampler, source.dimension());
        let budget = analysis::optimal::GRID_SEARCH_BUDGET;
        let found = analysis::optimal::optimise_grid(best, &with_gradient, cost, budget)
            .map_err(|e| vec![e.into_diag()])?;
        json.process = Some(p.name.clone());
        json.sampler = Some(sampler.name().to_owned());
        json.steps = Some(n);
        json.kl_optimal_grid = finite(found.kl.kl_src_out);
        json.grid = Some(found.grid);
    }
    let stdout = match a.format {
        OutFormat::Json => serde_json::to_string_pretty(&json).unwrap_or_default() + "\n",
        OutFormat::Text => schedule_text(&json),
    };
    Ok(Outcome { stdout, code: 0 })
}

fn schedule_text(j: &JsonSchedule) -> String {
    let mut s = format!("source {} (d = {})\n", j.source, j.dimension);
    let _ = writeln!(s, "  gamma*                  {:.16e}", j.gamma_star);
    let _ = writeln!(
        s,
        "  N^2 KL, best tangent    {:.16e}",
        j.tangent_coefficient
    );
    let _ = writeln!(
        s,
        "  N^2 KL, optimal         {:.16e}",
        j.optimal_coefficient
    );
    let _ = writeln!(s, "  ratio tangent/optimal   {:.16e}", j.ratio);
    if !j.optimal_converged {
        let _ = writeln!(
            s,
            "  (the optimal schedule's iteration did not converge: its coefficient is the \
             last iterate's, an upper bound)"
        );
    }
    let _ = writeln!(s, "  optimal rho(t) vs best tangent:");
    for r in &j.optimal_schedule {
        let _ = writeln!(
            s,
            "    t = {:.1}  rho = {:.8e}  tangent {:.8e}",
            r.t, r.rho, r.rho_tangent
        );
    }
    if let (Some(p), Some(sampler), Some(n), Some(grid)) =
        (&j.process, &j.sampler, j.steps, &j.grid)
    {
        let _ = writeln!(s, "process {p}, sampler {sampler}, {n} steps: KL(src||out)");
        let opt = |x: Option<f64>| {
            x.map_or(
                "n/a (needs finite ends: --t-min/--t-max)".to_owned(),
                kl_text,
            )
        };
        let _ = writeln!(s, "  optimal grid  {}", opt(j.kl_optimal_grid));
        let _ = writeln!(s, "  uniform grid  {}", opt(j.kl_uniform_grid));
        let _ = writeln!(s, "  logsnr grid   {}", opt(j.kl_logsnr_grid));
        let _ = writeln!(s, "  karras grid   {}", opt(j.kl_karras_grid));
        let times: Vec<String> = grid.iter().map(|t| format!("{t:.17}")).collect();
        let _ = writeln!(s, "  optimal grid times: {}", times.join(", "));
    }
    s
}

#[derive(Serialize)]
struct JsonAsymptotics {
    process: String,
    source: String,
    sampler: String,
    order: usize,
    /// Ends of [0, 1] where the angle is singular: `{"t": 0, "q": 2}` for phi ~ t^(1/2)
    singular_ends: Vec<JsonSingularEnd>,
    coefficients: Vec<JsonCoefficient>,
    /// The first omitted term, N^-power (ln N)^log_power
    remainder: JsonPower,
    integrals: Vec<JsonIntegral>,
    check: Vec<JsonAsymptoticsRow>,
}

#[derive(Serialize)]
struct JsonSingularEnd {
    t: u8,
    q: u32,
}

#[derive(Serialize)]
struct JsonPower {
    power: serde_json::Number,
    log_power: u32,
}

/// A rational power as a JSON number: an integer where it is one (2, not 2.0).
fn json_power(p: Rational64) -> serde_json::Number {
    if p.is_integer() {
        serde_json::Number::from(p.to_integer())
    } else {
        serde_json::Number::from_f64(*p.numer() as f64 / *p.denom() as f64)
            .unwrap_or_else(|| serde_json::Number::from(0))
    }
}

/// `N^-5/2 ln^2 N`: the term of a power of N and of ln N.
fn term_label(p: Rational64, log_power: u32) -> String {
    let mut s = format!("N^-{p}");
    match log_power {
        0 => {}
        1 => s.push_str(" ln N"),
        l => {
            let _ = write!(s, " ln^{l} N");
        }
    }
    s
}

#[derive(Serialize)]
struct JsonCoefficient {
    power: serde_json::Number,
    log_power: u32,
    value: f64,
    expr: String,
    latex: String,
    exact: bool,
    /// Estimated absolute error (0 for an exact coefficient)
    error: f64,
}

#[derive(Serialize)]
struct JsonIntegral {
    name: String,
    integrand: String,
    value: f64,
    error: f64,
}

#[derive(Serialize)]
struct JsonAsymptoticsRow {
    steps: usize,
    kl_exact: f64,
    kl_expansion: f64,
    /// log2 of the ratio of the expansion's errors at N/2 and N
    observed_order: Option<f64>,
    /// The same ratio for the first omitted term
    expected_order: f64,
}

/// Steps at which `asymptotics` compares the expansion with the exact KL: 8, 16, ...,
/// 1024, and on to 16384 where the angle is singular at an end (the series in N^(-1/q)
/// settles more slowly).
fn asymptotics_check_steps(singular: bool) -> Vec<usize> {
    let last = if singular { 14 } else { 10 };
    (3..=last).map(|k| 1usize << k).collect()
}

fn asymptotics_cmd(a: &AsymptoticsArgs) -> Result<Outcome, Vec<Diag>> {
    let sampler = parse_sampler(&a.sampler)?;
    if sampler != analysis::Sampler::Ddim {
        return Err(vec![
            Diag::new(
                "diffsym::cli::sampler",
                format!("no expansion is derived for `{}` yet", a.sampler),
            )
            .with_help("asymptotics derives the DDIM expansion; `diffsym kl` gives the exact KL of every sampler"),
        ]);
    }
    let (mut pool, p, source) = load_analysis(&a.file, Some(&a.process), &a.source, &a.params)?;
    let p = p.expect("a process was asked for");
    let exp = analysis::ddim_expansion(&mut pool, &p, &source.eigenvalues, a.order)
        .map_err(|e| vec![e.into_diag()])?;
    let sched = analysis::ProcessSchedule::new(&pool, &p).map_err(|e| vec![e.into_diag()])?;
    let mut rows: Vec<JsonAsymptoticsRow> = Vec::new();
    for n in asymptotics_check_steps(!exp.singular_ends.is_empty()) {
        let grid = analysis::time_grid(&analysis::GridKind::Uniform, &sched, n, 0.0, 1.0)
            .map_err(|e| vec![e.into_diag()])?;
        let kl = analysis::exact_kl(&sched, &source, sampler, &grid, analysis::Start::Prior)
            .map_err(|e| vec![e.into_diag()])?;
        let series = exp.at(n);
        // Not shown once the difference is down to the rounding of the KL itself.
        let resolved = |exact: f64, series: f64| (exact - series).abs() > 1e-12 * exact.abs();
        let observed_order = rows
            .last()
            .filter(|prev| {
                resolved(prev.kl_exact, prev.kl_expansion) && resolved(kl.kl_src_out, series)
            })
            .map(|prev| {
                analysis::asymptotics::observed_order(
                    prev.kl_exact - prev.kl_expansion,
                    kl.kl_src_out - series,
                )
            });
        rows.push(JsonAsymptoticsRow {
            steps: n,
            kl_exact: kl.kl_src_out,
            kl_expansion: series,
            observed_order,
            expected_order: exp.remainder.local_order(n),
        });
    }
    let stdout = match a.format {
        OutFormat::Json => {
            let json = JsonAsymptotics {
                process: p.name.clone(),
                source: source.name.clone(),
                sampler: sampler.name().to_owned(),
                order: a.order,
                singular_ends: exp
                    .singular_ends
                    .iter()
                    .map(|&(t, q)| JsonSingularEnd { t, q })
                    .collect(),
                coefficients: exp
                    .coefficients
                    .iter()
                    .map(|c| JsonCoefficient {
                        power: json_power(c.power),
                        log_power: c.log_power,
                        value: c.value,
                        expr: c.expr.map_or_else(
                            || eval::format_f64(c.value),
                            |e| print::to_text(&pool, e),
                        ),
                        latex: c.expr.map_or_else(
                            || eval::format_f64(c.value),
                            |e| print::to_latex(&pool, e),
                        ),
                        exact: c.exact,
                        error: c.error,
                    })
                    .collect(),
                remainder: JsonPower {
                    power: json_power(exp.remainder.power),
                    log_power: exp.remainder.log_power(),
                },
                integrals: exp
                    .integrals
                    .iter()
                    .map(|i| JsonIntegral {
                        name: i.name.clone(),
                        integrand: print::to_text(&pool, i.integrand),
                        value: i.value,
                        error: i.error,
                    })
                    .collect(),
                check: rows,
            };
            serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"
        }
        OutFormat::Text => {
            let mut s = format!(
                "process {}, source {} (d = {}), sampler {}, uniform grid on [0, 1] from the prior\n",
                p.name,
                source.name,
                source.dimension(),
                sampler.name(),
            );
            let remainder = term_label(exp.remainder.power, exp.remainder.log_power());
            if exp.singular_ends.is_empty() {
                let _ = writeln!(s, "KL(src||out) = sum_p c_p N^-p + O({remainder}):");
            } else {
                for &(end, q) in &exp.singular_ends {
                    let d = if end == 0 { "t" } else { "(1 - t)" };
                    let _ = writeln!(
                        s,
                        "the angle is singular at t = {end}: phi ~ {d}^(1/{q}), a series in N^(-1/{q}) with ln N terms"
                    );
                }
                let _ = writeln!(s, "KL(src||out) = sum of these terms + O({remainder}):");
            }
            for c in &exp.coefficients {
                match c.expr {
                    Some(e) => {
                        let how = if c.exact {
                            format!("= {}", print::to_text(&pool, e))
                        } else {
                            format!(
                                "(quadrature, error < {:.1e})",
                                c.error.max(f64::MIN_POSITIVE)
                            )
                        };
                        let _ =
                            writeln!(s, "  c_{} = {}  {how}", c.power, eval::format_f64(c.value));
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            "  {:<16} {:>24}  (error < {:.1e})",
                            term_label(c.power, c.log_power),
                            eval::format_f64(c.value),
                            c.error.max(f64::MIN_POSITIVE)
                        );
                    }
                }
            }
            for i in &exp.integrals {
                let _ = writeln!(
                    s,
                    "  {} = int_0^1 {} dt = {} +- {:.1e}",
                    i.name,
                    print::to_text(&pool, i.integrand),
                    eval::format_f64(i.value),
                    i.error
                );
            }
            let _ = writeln!(
                s,
                "{:>8}  {:>23}  {:>23}  {:>10}  {:>8}  {:>8}",
                "steps", "exact KL", "expansion", "rel. diff", "order", "expected"
            );
            for r in &rows {
                let rel = ((r.kl_exact - r.kl_expansion) / r.kl_exact).abs();
                let order = r
                    .observed_order
                    .map_or_else(|| "-".to_owned(), |o| format!("{o:.2}"));
                let _ = writeln!(
                    s,
                    "{:>8}  {:>23}  {:>23}  {:>10.1e}  {:>8}  {:>8.2}",
                    r.steps,
                    kl_text(r.kl_exact),
                    kl_text(r.kl_expansion),
                    rel,
                    order,
                    r.expected_order
                );
            }
            s
        }
    };
    Ok(Outcome { stdout, code: 0 })
}

#[derive(clap::Args, Debug)]
struct EmitArgs {
    /// The .dsym file
    file: PathBuf,
    /// The process (may be omitted when the file defines only one)
    #[arg(long)]
    process: Option<String>,
    /// The directory to write NAME.rs to (with --crate: the crate's root)
    #[arg(long)]
    out: PathBuf,
    /// Write a Cargo crate (Cargo.toml, src/lib.rs, tests/reference.rs) instead of a module
    #[arg(long = "crate")]
    as_crate: bool,
    /// Compile the module with rustc and compare it with the reference; exit 1 if it fails
    #[arg(long)]
    verify: bool,
    /// Plain f64 code as written, without the stable rewrites (for comparison)
    #[arg(long)]
    naive: bool,
    /// Override a parameter, e.g. `--param beta_max=10`
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
}

/// `emit`: everything is built (and verified) in memory; files are written to temporary
/// names and renamed into place only when all of them were written.
fn emit(a: &EmitArgs) -> Result<Outcome, Vec<Diag>> {
    use crate::codegen::{self, Mode, verify};
    let mut loaded = load(
        std::slice::from_ref(&a.file),
        a.process.as_deref(),
        &a.params,
        process::Stage::Fields,
    )?;
    let (src, p) = pick(&loaded, a.process.as_deref())?.clone();
    let mode = if a.naive { Mode::Naive } else { Mode::Stable };
    let bad = |e: &dyn std::fmt::Display| vec![Diag::new("diffsym::emit", e.to_string())];
    // What goes wrong in generating a process's code concerns that process: point at it.
    let in_process = |e: &dyn std::fmt::Display| {
        vec![
            Diag::new("diffsym::emit", e.to_string())
                .with_label(p.span, "in the code generated for this process")
                .in_source(&src),
        ]
    };
    let pool = &mut loaded.pool;
    let emitted = codegen::emit_module(pool, &p, &src.name, mode).map_err(|e| in_process(&e))?;
    let files = if a.as_crate {
        codegen::crate_files(pool, &emitted, &p.name, &src.name).map_err(|e| in_process(&e))?
    } else {
        vec![(emitted.file_name.clone(), emitted.code.clone())]
    };
    let mut stdout = String::new();
    let mut code = 0;
    if a.verify {
        let reports = verify::verify(pool, &emitted).map_err(|e| in_process(&e))?;
        stdout.push_str(&verify::table(&reports));
        if !reports.iter().all(verify::Report::passed) {
            code = 1;
        }
    }
    let io = |e: std::io::Error| bad(&format!("cannot write to `{}`: {e}", a.out.display()));
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let unstage = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for (rel, text) in &files {
        let path = a.out.join(rel);
        let tmp = path.with_extension("diffsym-tmp");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, text));
        if let Err(e) = written {
            unstage(&staged);
            return Err(io(e));
        }
        staged.push((tmp, path));
    }
    for (k, (tmp, path)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            // No temporary file is left behind (files renamed before this one stay).
            unstage(&staged[k..]);
            return Err(io(e));
        }
        let _ = writeln!(stdout, "wrote {}", path.display());
    }
    Ok(Outcome { stdout, code })
}

#[derive(Subcommand, Debug)]
enum PlotCommand {
    /// log-log KL(src||out) and KL(out||src) against N, with the DDIM asymptote c_2/N^2
    Kl(PlotKlArgs),
    /// alpha and sigma, and log-SNR, against t
    Schedule(PlotScheduleArgs),
}

/// `diffsym plot kl FILE --process P --source S --sampler SAMPLER [--steps ...] --out F.svg`
#[derive(clap::Args, Debug)]
struct PlotKlArgs {
    /// The .dsym file with the source (and the process, else it comes from the bundled library)
    file: PathBuf,
    #[arg(long)]
    process: String,
    #[arg(long)]
    source: String,
    /// ddim, euler, heun, dpm1, euler_maruyama or ddpm
    #[arg(long)]
    sampler: String,
    /// Numbers of steps, comma-separated (default 2,4,8,...,1024)
    #[arg(long)]
    steps: Option<String>,
    /// uniform, logsnr or karras
    #[arg(long, default_value = "uniform")]
    grid: String,
    #[command(flatten)]
    range: TimeRange,
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
    /// The SVG file to write
    #[arg(long)]
    out: PathBuf,
}

/// `diffsym plot schedule FILE --process P --out F.svg`
#[derive(clap::Args, Debug)]
struct PlotScheduleArgs {
    /// A .dsym file (the process is looked up there, then in the bundled library)
    file: PathBuf,
    #[arg(long)]
    process: String,
    #[command(flatten)]
    range: TimeRange,
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
    /// The SVG file to write
    #[arg(long)]
    out: PathBuf,
}

/// Points of a schedule plot: t_k = t_min + k (t_max - t_min)/SCHEDULE_POINTS.
const SCHEDULE_POINTS: usize = 200;

fn plot_cmd(c: &PlotCommand) -> Result<Outcome, Vec<Diag>> {
    let (figure, out, summary) = match c {
        PlotCommand::Kl(a) => plot_kl(a)?,
        PlotCommand::Schedule(a) => plot_schedule(a)?,
    };
    let svg = crate::plot::render(&figure)
        .map_err(|e| cli_error("diffsym::plot::empty", e.to_string()))?;
    write_atomically(out, svg.as_bytes())?;
    Ok(Outcome {
        stdout: format!("wrote {}: {summary}\n", out.display()),
        code: 0,
    })
}

type Plot<'a> = (crate::plot::Figure, &'a Path, String);

fn plot_kl(a: &PlotKlArgs) -> Result<Plot<'_>, Vec<Diag>> {
    use crate::plot::{Panel, Scale, Series, Stroke};
    let sampler = parse_sampler(&a.sampler)?;
    let grid_kind = match a.grid.as_str() {
        "uniform" | "logsnr" | "karras" => parse_grid(&a.grid)?,
        other => {
            return Err(vec![
                Diag::new(
                    "diffsym::cli::grid",
                    format!("unknown grid `{other}` for a plot"),
                )
                .with_help(
                    "plot kl takes --grid uniform, logsnr or karras (a grid file fixes one N)",
                ),
            ]);
        }
    };
    let steps = match &a.steps {
        Some(s) => parse_steps(s)?,
        None => (1..=10).map(|k| 1usize << k).collect(),
    };
    let (mut pool, p, source) = load_analysis(&a.file, Some(&a.process), &a.source, &a.params)?;
    check_kl_work(&steps, source.dimension())?;
    let p = p.expect("a process was asked for");
    let (t_min, t_max) = parse_range(&mut pool, &a.range)?;
    let sched = analysis::ProcessSchedule::new(&pool, &p).map_err(|e| vec![e.into_diag()])?;
    let (mut src_out, mut out_src) = (Vec::new(), Vec::new());
    let mut sorted = steps.clone();
    sorted.sort_unstable();
    sorted.dedup();
    for &n in &sorted {
        let grid = analysis::time_grid(&grid_kind, &sched, n, t_min, t_max)
            .map_err(|e| vec![e.into_diag()])?;
        let kl = analysis::exact_kl(&sched, &source, sampler, &grid, analysis::Start::Prior)
            .map_err(|e| vec![e.into_diag()])?;
        src_out.push((n as f64, kl.kl_src_out));
        out_src.push((n as f64, kl.kl_out_src));
    }
    let line = |label: &str, points, stroke, markers| Series {
        label: label.to_owned(),
        points,
        stroke,
        markers,
    };
    let mut series = vec![
        line("KL(src||out)", src_out, Stroke::Solid, true),
        line("KL(out||src)", out_src, Stroke::Solid, true),
    ];
    let ddim_like = matches!(sampler, analysis::Sampler::Ddim | analysis::Sampler::Dpm1);
    let note = if !ddim_like {
        "asymptote not drawn: c_2 is the DDIM constant".to_owned()
    } else if grid_kind != analysis::GridKind::Uniform {
        "asymptote not drawn: c_2 is for the uniform grid".to_owned()
    } else if analysis::Schedule::alpha(&sched, t_max) != 0.0
        || analysis::Schedule::sigma(&sched, t_max) != 1.0
    {
        "asymptote not drawn: the prior N(0, I) is not the marginal at t_max, so the KL \
         levels off instead of falling like N^-2"
            .to_owned()
    } else {
        match analysis::ddim_coefficient(&sched, &source.eigenvalues, t_min, t_max) {
            Ok(c2) => {
                let pts = sorted
                    .iter()
                    .map(|&n| (n as f64, c2 / (n as f64 * n as f64)))
                    .collect();
                series.push(line("c2/N^2 (DDIM asymptote)", pts, Stroke::Dashed, false));
                format!("c_2 = {c2:.6e}")
            }
            Err(e) => format!("asymptote not drawn: {}", e.message),
        }
    };
    let title = format!(
        "{} on {} (d = {}), {}, {} grid on [{t_min}, {t_max}]",
        sampler.name(),
        source.name,
        source.dimension(),
        p.name,
        grid_kind.name()
    );
    let figure = crate::plot::Figure {
        title,
        panels: vec![Panel {
            title: "exact KL against the number of steps (start: prior N(0, I))".to_owned(),
            x_label: "steps N".to_owned(),
            y_label: "KL".to_owned(),
            x_scale: Scale::Log,
            y_scale: Scale::Log,
            series,
        }],
    };
    let summary = format!(
        "KL of {} on source {} for process {}, N = {}; {note}",
        sampler.name(),
        source.name,
        p.name,
        sorted
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok((figure, &a.out, summary))
}

fn plot_schedule(a: &PlotScheduleArgs) -> Result<Plot<'_>, Vec<Diag>> {
    use crate::plot::{Panel, Scale, Series, Stroke};
    use analysis::Schedule as _;
    let (mut pool, p) = plot_process(&a.file, &a.process, &a.params)?;
    let (t_min, t_max) = parse_range(&mut pool, &a.range)?;
    let sched = analysis::ProcessSchedule::new(&pool, &p).map_err(|e| vec![e.into_diag()])?;
    let ts: Vec<f64> = (0..=SCHEDULE_POINTS)
        .map(|k| t_min + k as f64 * (t_max - t_min) / SCHEDULE_POINTS as f64)
        .collect();
    let curve = |label: &str, f: &dyn Fn(f64) -> f64| Series {
        label: label.to_owned(),
        points: ts.iter().map(|&t| (t, f(t))).collect(),
        stroke: Stroke::Solid,
        markers: false,
    };
    let alpha = curve("alpha(t)", &|t| sched.alpha(t));
    let sigma = curve("sigma(t)", &|t| sched.sigma(t));
    let log_snr = curve("log-SNR = 2 lambda(t)", &|t| 2.0 * sched.lambda(t));
    let panel = |title: &str, y: &str, series| Panel {
        title: title.to_owned(),
        x_label: "t".to_owned(),
        y_label: y.to_owned(),
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        series,
    };
    let figure = crate::plot::Figure {
        title: format!("process {}", p.name),
        panels: vec![
            panel(
                "x_t = alpha x_0 + sigma eps",
                "alpha, sigma",
                vec![alpha, sigma],
            ),
            panel("log-SNR", "log(alpha^2 / sigma^2)", vec![log_snr]),
        ],
    };
    let summary = format!(
        "alpha, sigma and log-SNR of {} on [{t_min}, {t_max}], {} points",
        p.name,
        SCHEDULE_POINTS + 1
    );
    Ok((figure, &a.out, summary))
}

/// A process from FILE, else from the bundled library (parameters overridden).
fn plot_process(file: &Path, name: &str, params: &[String]) -> Result<(Pool, Process), Vec<Diag>> {
    let named = |ps: &[(Source, Process)]| ps.iter().any(|(_, p)| p.name == name);
    let in_file =
        named(&load(&[file.to_path_buf()], None, &[], process::Stage::Quantities)?.processes);
    let bundled = BUNDLED.iter().any(|(_, text)| {
        syntax::parse_file(text).is_ok_and(|ast| {
            ast.items
                .iter()
                .any(|i| matches!(i, syntax::ast::Item::Process(p) if p.name.name == name))
        })
    });
    if !in_file && !bundled {
        return Err(vec![
            Diag::new(
                "diffsym::cli::process",
                format!(
                    "no process named `{name}` in `{}` or the bundled library",
                    file.display()
                ),
            )
            .with_help(format!("bundled: {}", bundled_names().join(", "))),
        ]);
    }
    let files = if in_file {
        vec![file.to_path_buf()]
    } else {
        Vec::new()
    };
    let mut loaded = load(&files, Some(name), params, process::Stage::Quantities)?;
    let (_, p) = loaded.processes.swap_remove(0);
    check_overrides(&parse_overrides(&mut loaded.pool, params)?, &p)?;
    Ok((loaded.pool, p))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a
/// reader never sees a partial file and a failure leaves no file behind.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Vec<Diag>> {
    let fail = |e: &std::io::Error| {
        cli_error(
            "diffsym::io::write",
            format!("cannot write `{}`: {}", path.display(), io_reason(e)),
        )
    };
    let Some(name) = path.file_name() else {
        return Err(cli_error(
            "diffsym::io::write",
            format!("`{}` is not a file name", path.display()),
        ));
    };
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| fail(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(&e)
    })
}
