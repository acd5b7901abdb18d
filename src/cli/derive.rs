//! `diffsym derive`: every process's parameters, definitions, derived quantities and
//! fields, simplified, as text, LaTeX or JSON.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::args::Params;
use super::load::load;
use super::output::{Format, Outcome, json};
use crate::diag::{Diag, Source};
use crate::expr::{ExprId, Func, Node, Pool, Symbol, print};
use crate::process::derive::Quantity;
use crate::process::{self, Definition, Process, typeset};

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
    /// The process's asserts as written, with their LaTeX.
    asserts: Vec<JsonAssert>,
}

#[derive(Serialize)]
struct JsonAssert {
    line: usize,
    /// The `forall` variables.
    vars: Vec<String>,
    text: String,
    latex: String,
}

#[derive(Serialize)]
struct JsonFormula {
    name: String,
    args: Vec<String>,
    text: String,
    latex: String,
}

/// `diffsym derive [FILE...] [--process NAME] [--format text|latex|json]`
#[derive(clap::Args, Debug)]
pub(super) struct DeriveArgs {
    /// .dsym files (default: the bundled library)
    files: Vec<PathBuf>,
    /// Only this process
    #[arg(long)]
    process: Option<String>,
    /// A `gmm` mixture (or Gaussian) source of the one FILE, d <= 3, at most 4
    /// components and K d <= 8: print its marginal's log p, score, Hessian, PF velocity and Jacobian in
    /// closed form in x1 ... xd and t, for every process (alpha(t), sigma(t) unspecified)
    /// or, with --process, for that one
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    params: Params,
}

pub(super) fn run(a: &DeriveArgs) -> Result<Outcome, Vec<Diag>> {
    if let Some(source) = &a.source {
        let [file] = a.files.as_slice() else {
            return Err(super::output::cli_error(
                crate::diag::codes::CLI_USAGE,
                "`derive --source` reads the source from exactly one FILE",
            ));
        };
        return super::derive_mixture::run(
            file,
            source,
            a.process.as_deref(),
            &a.params.params,
            a.format,
        );
    }
    let loaded = load(
        &a.files,
        a.process.as_deref(),
        &a.params.params,
        process::Stage::Fields,
    )?;
    let pool = &loaded.pool;
    let stdout = match a.format {
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
                        body_text(pool, d)
                    );
                }
                if !p.asserts.is_empty() {
                    let _ = writeln!(s, "  asserts:");
                }
                for a in &p.asserts {
                    let _ = writeln!(s, "    {}", a.one_line());
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
                        file: src.name.to_string(),
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
                                text: body_text(pool, d),
                                latex: body_latex(pool, d),
                            })
                            .collect(),
                        asserts: p
                            .asserts
                            .iter()
                            .map(|a| JsonAssert {
                                line: src.line_col(a.span.start).0,
                                vars: a.vars.iter().map(|v| v.name.clone()).collect(),
                                text: a.one_line(),
                                latex: typeset::assertion_latex(a),
                            })
                            .collect(),
                    })
                    .collect(),
            };
            json(&lib)
        }
    };
    Ok(Outcome::ok(stdout))
}

/// A definition's body as `derive` prints it: `function` for an unspecified function.
fn body_text(pool: &Pool, d: &Definition) -> String {
    if is_declaration(pool, d) {
        "function".to_owned()
    } else {
        print::to_text(pool, d.body)
    }
}

fn body_latex(pool: &Pool, d: &Definition) -> String {
    if is_declaration(pool, d) {
        "\\text{unspecified}".to_owned()
    } else {
        print::to_latex(pool, d.body)
    }
}

/// Whether `d` is `name(u) = function;`: its body is the unspecified function of its name
/// at its argument.
fn is_declaration(pool: &Pool, d: &Definition) -> bool {
    match (pool.node(d.body), d.args.as_slice()) {
        (Node::Call(Func::Generic(g), a), [arg]) => {
            g.order == 0 && pool.symbol_name(g.name) == d.name && pool.node(*a) == &Node::Sym(*arg)
        }
        _ => false,
    }
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

/// Every field of a process as `(name with parameterisation, argument names, expression)`.
fn field_rows(p: &Process) -> Vec<(String, Vec<String>, ExprId)> {
    let mut rows: Vec<(String, Vec<String>, ExprId)> = p
        .fields()
        .formulas
        .iter()
        .map(|&(f, e)| (f.name().to_owned(), owned(f.arguments()), e))
        .collect();
    for f in &p.fields().fields {
        rows.push((f.full_name(), owned(&f.kind.arguments(f.param)), f.expr));
    }
    rows
}

fn arg_names(pool: &Pool, args: &[Symbol]) -> Vec<String> {
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
                typeset::function_latex(&d.name),
                args.join(", "),
                body_latex(pool, d)
            ));
        }
        s.push_str(&rows.join(" \\\\\n"));
        s.push_str("\n\\end{align*}\n");
        if !p.asserts.is_empty() {
            s.push_str("Proved and checked by \\texttt{diffsym check}:\n\\begin{align*}\n");
            let rows: Vec<String> = p.asserts.iter().map(typeset::assertion_latex).collect();
            s.push_str(&rows.join(" \\\\\n"));
            s.push_str("\n\\end{align*}\n");
        }
        if !p.quantities.is_empty() {
            s.push_str("Derived quantities:\n\\begin{align*}\n");
            let rows: Vec<String> = p
                .quantities
                .iter()
                .map(|&(name, e)| {
                    format!(
                        "{}(t) &= {}",
                        Quantity::from_name(name).map_or(name, Quantity::latex),
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
