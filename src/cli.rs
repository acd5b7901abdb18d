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
use num_rational::BigRational;
use serde::Serialize;

use crate::diag::{self, Diag, Source};
use crate::expr::{ExprId, Pool, eval, hp, print, simplify, subst};
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
        "derivations/lm_sqrt.dsym",
        include_str!("../derivations/lm_sqrt.dsym"),
    ),
    (
        "derivations/rectified_flow.dsym",
        include_str!("../derivations/rectified_flow.dsym"),
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
        /// Use the high-precision evaluator and print this many significant digits
        /// (default: f64, 17 significant digits)
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
}

/// Inputs of fields and sampler steps. The model-output flag given picks the
/// parameterisation: `diffsym eval F pf_velocity --t 0.5 --x 0.3 --score 0.64`.
#[derive(clap::Args, Debug, Default)]
struct FieldInputs {
    /// The state x
    #[arg(long, allow_hyphen_values = true)]
    x: Option<String>,
    /// The data point x0 (cond_score, cond_velocity), or an x0-prediction
    #[arg(long, allow_hyphen_values = true)]
    x0: Option<String>,
    /// A score model's output
    #[arg(long, allow_hyphen_values = true)]
    score: Option<String>,
    /// An eps-prediction
    #[arg(long, allow_hyphen_values = true)]
    eps: Option<String>,
    /// A flow-matching velocity
    #[arg(long, allow_hyphen_values = true)]
    u: Option<String>,
    /// A v-prediction (variance-preserving processes)
    #[arg(long, allow_hyphen_values = true)]
    v: Option<String>,
    /// The standard normal draw of euler_maruyama_step
    #[arg(long, allow_hyphen_values = true)]
    z: Option<String>,
    /// The time the sampler steps to
    #[arg(long = "t-next", allow_hyphen_values = true)]
    t_next: Option<String>,
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
        Command::Emit(args) => emit(&args),
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

/// Reads, parses and lowers `files` (or the bundled library), keeping only `only` if given.
fn load(files: &[PathBuf], only: Option<&str>, params: &[String]) -> Result<Loaded, Vec<Diag>> {
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
    let mut processes = Vec::new();
    for src in sources {
        let ast = match syntax::parse_file(&src.text) {
            Ok(ast) => ast,
            Err(es) => {
                diags.extend(es.into_iter().map(|e| e.into_diag(&src)));
                continue;
            }
        };
        match process::lower_file(&mut pool, &ast, &src.text, &overrides) {
            Ok(ps) => processes.extend(ps.into_iter().map(|p| (src.clone(), p))),
            Err(es) => diags.extend(es.into_iter().map(|e| e.into_diag(&src))),
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
    let loaded = load(files, only, params)?;
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
    for f in &p.fields {
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
    let mut loaded = load(&[file.to_path_buf()], process, params)?;
    let (_, p) = pick(&loaded, process)?.clone();
    let pool = &mut loaded.pool;
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
    let e: ExprId = match user.or(derived) {
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
            // Substitute the exact time, so the evaluators see t exactly.
            let tv = pool.rational(t_value.clone());
            subst::subst(pool, body, &[(args[0], tv)])
        }
        None => field_expr(pool, &p, quantity, &t_value, inputs)?,
    };
    let e = simplify::simplify(pool, e);
    let what = |m: String| {
        vec![Diag::new(
            "diffsym::eval",
            format!("cannot evaluate `{quantity}` at t = {t}: {m}"),
        )]
    };
    let text = match digits {
        None => {
            eval::format_f64(eval::eval_f64(pool, e, &[]).map_err(|err| what(err.to_string()))?)
        }
        Some(d) => {
            let bits = (f64::from(d) * std::f64::consts::LOG2_10).ceil() as usize + 64;
            let mut h = hp::Hp::new(bits.max(hp::DEFAULT_PRECISION));
            let v = h.eval(pool, e, &[]).map_err(|err| what(err.to_string()))?;
            hp::format_sig(&v, d as usize)
        }
    };
    Ok(Outcome {
        stdout: format!("{text}\n"),
        code: 0,
    })
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

/// A field or sampler step with every input substituted by its exact value.
fn field_expr(
    pool: &mut Pool,
    p: &Process,
    name: &str,
    t: &BigRational,
    inputs: &FieldInputs,
) -> Result<ExprId, Vec<Diag>> {
    use process::fields::{FIELDS, Param, Vars};
    let err = |m: String| vec![Diag::new("diffsym::cli::field", m)];
    let is_cond = p.conditional.iter().any(|&(n, _)| n == name);
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
            known.extend(p.conditional.iter().map(|&(n, _)| n));
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
        None => (
            p.conditional
                .iter()
                .find(|&&(n, _)| n == name)
                .map(|&(_, e)| e)
                .expect("is_cond"),
            false,
        ),
    };
    let vars = Vars::new(pool);
    let mut map = Vec::new();
    let tv = pool.rational(t.clone());
    map.push((vars.t, tv));
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
        let v = pool.rational(r);
        map.push((sym, v));
    }
    Ok(subst::subst(pool, expr, &map))
}

fn check(files: &[PathBuf], only: Option<&str>, params: &[String]) -> Result<Outcome, Vec<Diag>> {
    let mut loaded = load(files, only, params)?;
    let pool = &mut loaded.pool;
    let mut s = String::new();
    let (mut proved, mut checked, mut failed) = (0, 0, 0);
    for (src, p) in &loaded.processes {
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
        for a in &p.asserts {
            let (line, _) = src.line_col(a.span.start);
            let shown = a.source.split_whitespace().collect::<Vec<_>>().join(" ");
            report(&shown, line, checks::assertion(pool, a.lhs, a.rhs));
        }
        let (line, _) = src.line_col(p.span.start);
        for (what, verdict) in checks::builtin(pool, p) {
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
    )?;
    let (src, p) = pick(&loaded, a.process.as_deref())?.clone();
    let mode = if a.naive { Mode::Naive } else { Mode::Stable };
    let bad = |e: &dyn std::fmt::Display| vec![Diag::new("diffsym::emit", e.to_string())];
    let pool = &mut loaded.pool;
    let emitted = codegen::emit_module(pool, &p, &src.name, mode).map_err(|e| bad(&e))?;
    let files = if a.as_crate {
        codegen::crate_files(pool, &emitted, &p.name, &src.name).map_err(|e| bad(&e))?
    } else {
        vec![(emitted.file_name.clone(), emitted.code.clone())]
    };
    let mut stdout = String::new();
    let mut code = 0;
    if a.verify {
        let reports = verify::verify(pool, &emitted).map_err(|e| bad(&e))?;
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
    for (tmp, path) in &staged {
        std::fs::rename(tmp, path).map_err(io)?;
        let _ = writeln!(stdout, "wrote {}", path.display());
    }
    Ok(Outcome { stdout, code })
}
