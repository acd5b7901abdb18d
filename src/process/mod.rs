//! Forward processes: the resolved, exact form of the `process` blocks of a .dsym file.
//!
//! [`lower`] turns the syntax tree into [`Process`] values whose expressions live in a
//! [`Pool`]. Errors carry spans but no file; the caller attaches the source.

pub mod checks;
pub mod derive;
pub mod fields;
mod lower;

pub use lower::{LowerError, lower_expr, lower_file, parse_param_override};

use crate::expr::{ExprId, Pool, Symbol};
use crate::syntax::ast::Span;

/// A process after name resolution: parameters folded to exact values, user functions
/// inlined, integrals and derivatives carried out.
#[derive(Clone, Debug)]
pub struct Process {
    pub name: String,
    pub span: Span,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    pub defs: Vec<Definition>,
    pub asserts: Vec<Assertion>,
    /// The derived quantities of [`derive::QUANTITIES`], simplified functions of `t`.
    pub quantities: Vec<(&'static str, ExprId)>,
    /// `cond_score` and `cond_velocity`, in `x`, `x0` and `t`.
    pub conditional: Vec<(&'static str, ExprId)>,
    /// The fields and sampler steps of [`fields::FIELDS`] in each parameterisation.
    pub fields: Vec<fields::Field>,
}

/// `param NAME = value;` (after any command-line override).
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub value: ExprId,
    pub span: Span,
    pub overridden: bool,
}

/// `NAME(args) = body;` with `body` in terms of the argument symbols.
#[derive(Clone, Debug)]
pub struct Definition {
    pub name: String,
    pub args: Vec<Symbol>,
    /// Canonical (not simplified) body over placeholder argument symbols: what call sites
    /// inline, free of any assumption about the arguments.
    pub template: ExprId,
    pub template_args: Vec<Symbol>,
    /// The simplified body, over `args` (the names written in the source).
    pub body: ExprId,
    pub span: Span,
}

/// `assert lhs == rhs;`, both sides functions of `t`.
#[derive(Clone, Debug)]
pub struct Assertion {
    pub lhs: ExprId,
    pub rhs: ExprId,
    pub span: Span,
    /// The assertion as written, for reports.
    pub source: String,
}

impl Process {
    pub fn def(&self, name: &str) -> Option<&Definition> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// A field by name and parameterisation.
    pub fn field(&self, name: &str, param: fields::Param) -> Option<&fields::Field> {
        self.fields
            .iter()
            .find(|f| f.name == name && f.param == param)
    }

    /// A derived quantity by name.
    pub fn quantity(&self, name: &str) -> Option<ExprId> {
        self.quantities
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, e)| e)
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// This process, lowered in the pool `from`, with every expression and symbol copied
    /// into `to` (see [`Pool::transplant`]).
    pub fn transplant(&self, from: &Pool, to: &mut Pool) -> Process {
        let mut memo = crate::expr::fxhash::HashMap::default();
        let mut e = |to: &mut Pool, x: ExprId| to.transplant(from, x, &mut memo);
        let sym = |to: &mut Pool, s: &[Symbol]| -> Vec<Symbol> {
            s.iter().map(|&s| to.transplant_symbol(from, s)).collect()
        };
        Process {
            name: self.name.clone(),
            span: self.span,
            doc: self.doc.clone(),
            params: self
                .params
                .iter()
                .map(|p| Param {
                    value: e(to, p.value),
                    ..p.clone()
                })
                .collect(),
            defs: self
                .defs
                .iter()
                .map(|d| Definition {
                    args: sym(to, &d.args),
                    template: e(to, d.template),
                    template_args: sym(to, &d.template_args),
                    body: e(to, d.body),
                    ..d.clone()
                })
                .collect(),
            asserts: self
                .asserts
                .iter()
                .map(|a| Assertion {
                    lhs: e(to, a.lhs),
                    rhs: e(to, a.rhs),
                    ..a.clone()
                })
                .collect(),
            quantities: self
                .quantities
                .iter()
                .map(|&(n, x)| (n, e(to, x)))
                .collect(),
            conditional: self
                .conditional
                .iter()
                .map(|&(n, x)| (n, e(to, x)))
                .collect(),
            fields: self
                .fields
                .iter()
                .map(|f| fields::Field {
                    expr: e(to, f.expr),
                    ..f.clone()
                })
                .collect(),
        }
    }
}

/// Stack size of the threads [`lower_files`] starts (as the binary's main thread).
const LOWER_STACK_BYTES: usize = 256 << 20;

/// Lowers several parsed files, each in a pool of its own and the files spread over the
/// available cores, then copies the processes into `pool` in file order. The result is the
/// same as lowering the files one after the other into `pool` (processes are independent
/// across files), in about half the time on two cores. `files` are (syntax tree, text).
pub fn lower_files(
    pool: &mut Pool,
    files: &[(&crate::syntax::ast::File, &str)],
    overrides: &[(String, num_rational::BigRational)],
) -> Vec<Result<Vec<Process>, Vec<LowerError>>> {
    if files.len() <= 1 {
        return files
            .iter()
            .map(|&(ast, text)| lower_file(pool, ast, text, overrides))
            .collect();
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Lowered = (Pool, Result<Vec<Process>, Vec<LowerError>>);
    let mut slots: Vec<Option<Lowered>> = (0..files.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        // A thread the OS refuses is simply missing: the others (or this thread, below)
        // take its files.
        let handles: Vec<_> = (0..workers)
            .filter_map(|_| {
                let next = &next;
                // As deep a stack as the binary's main thread (src/main.rs): deeply nested
                // input must not overflow here either.
                let worker = std::thread::Builder::new().stack_size(LOWER_STACK_BYTES);
                worker
                    .spawn_scoped(scope, move || {
                        let mut done = Vec::new();
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&(ast, text)) = files.get(k) else {
                                break;
                            };
                            let mut own = Pool::new();
                            let r = lower_file(&mut own, ast, text, overrides);
                            done.push((k, (own, r)));
                        }
                        done
                    })
                    .ok()
            })
            .collect();
        for h in handles {
            let done = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            for (k, r) in done {
                slots[k] = Some(r);
            }
        }
    });
    slots
        .into_iter()
        .zip(files)
        .map(|(slot, &(ast, text))| {
            let (own, r) = slot.unwrap_or_else(|| {
                let mut own = Pool::new();
                let r = lower_file(&mut own, ast, text, overrides);
                (own, r)
            });
            r.map(|ps| ps.iter().map(|p| p.transplant(&own, pool)).collect())
        })
        .collect()
}

/// The time symbol `t`, with its domain `[0, 1]` declared.
pub fn time_symbol(pool: &mut Pool) -> Symbol {
    let t = pool.symbol("t");
    pool.set_domain(t, crate::expr::Domain::UNIT);
    t
}
