//! Forward processes: the resolved, exact form of the `process` blocks of a .dsym file.
//!
//! [`lower`] turns the syntax tree into [`Process`] values whose expressions live in a
//! [`Pool`]. Errors carry spans but no file; the caller attaches the source.

pub(crate) mod checks;
pub(crate) mod derive;
pub mod fields;
mod lower;
pub mod typeset;

pub use lower::{
    MAX_LOWERED_DEPTH, MAX_LOWERED_SIZE, lower_expr, lower_expr_in, parse_param_override,
};

use crate::diag::{Diag, Span};
use num_rational::BigRational;

use crate::expr::{ExprId, Pool, Symbol};

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
    /// The derived quantities of [`derive::Quantity::ALL`], simplified functions of `t`.
    pub quantities: Vec<(&'static str, ExprId)>,
    /// The simplified quantities the fields are built from ([`Process::fields`]); `None`
    /// when the process has no alpha and sigma.
    pub scalars: Option<fields::Scalars>,
    /// Variance preserving by construction (given through alpha_bar, beta or log_snr).
    pub vp_by_construction: bool,
    /// The fields, when lowering was asked for them ([`Stage::Fields`]).
    derived_fields: Option<fields::Fields>,
}

impl Assertion {
    /// The assertion as written, on one line: comments dropped (an assert holds no string,
    /// so `#` starts one), runs of blanks (newlines included) one space.
    pub fn one_line(&self) -> String {
        self.source
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(str::split_whitespace)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Process {
    /// The unspecified functions alpha and sigma are made of (`alpha(t) = function;`), by
    /// name: empty unless the process is generic.
    pub fn unspecified(&self, pool: &Pool) -> Vec<String> {
        let Some(q) = self.scalars else {
            return Vec::new();
        };
        let mut names: Vec<String> = [q.alpha, q.sigma]
            .into_iter()
            .flat_map(|e| pool.unspecified_functions(e))
            .map(|s| pool.symbol_name(s).to_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// How far lowering goes: the quantities (all that `check` needs), or also the fields and
/// sampler steps, which are most of the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Quantities,
    Fields,
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

impl Definition {
    /// The definition applied to `args`: its template with the arguments put in, and named
    /// integrals that now have closed forms integrated ([`crate::expr::named::reintegrate`]).
    pub fn apply(&self, pool: &mut Pool, args: &[ExprId]) -> ExprId {
        let map: Vec<(Symbol, ExprId)> = self
            .template_args
            .iter()
            .copied()
            .zip(args.iter().copied())
            .collect();
        let e = crate::expr::subst::subst(pool, self.template, &map);
        crate::expr::named::reintegrate(pool, e)
    }
}

/// `assert lhs == rhs;`, both sides functions of `t`.
#[derive(Clone, Debug)]
pub struct Assertion {
    /// The `forall` variables (none: an identity in t alone).
    pub vars: Vec<ForallVar>,
    pub lhs: ExprId,
    pub rhs: ExprId,
    pub span: Span,
    /// The assertion as written, for reports.
    pub source: String,
    /// Its two sides as written, for typesetting ([`typeset`]).
    pub written: [crate::syntax::ast::Expr; 2],
    /// The names of its `forall` variables with their intervals as written.
    pub binders: Vec<crate::syntax::ast::Binder>,
}

/// A variable bound by `forall`: a symbol of its own (no other assertion's variable of the
/// same name shares it, nor its domain), its name as written, and its domain, which the
/// symbol carries too (`Pool::domain`) so that range analysis and the rules use it.
#[derive(Clone, Debug, PartialEq)]
pub struct ForallVar {
    pub symbol: Symbol,
    pub name: String,
    pub domain: Domain,
}

/// The domain of a `forall` variable: an interval, each end finite (exact) or infinite
/// (`None`), closed or open.
#[derive(Clone, Debug, PartialEq)]
pub struct Domain {
    pub lo: Option<BigRational>,
    pub hi: Option<BigRational>,
    pub lo_closed: bool,
    pub hi_closed: bool,
}

impl Domain {
    /// The real line.
    pub const REALS: Domain = Domain {
        lo: None,
        hi: None,
        lo_closed: false,
        hi_closed: false,
    };

    pub fn closed(lo: BigRational, hi: BigRational) -> Domain {
        Domain {
            lo: Some(lo),
            hi: Some(hi),
            lo_closed: true,
            hi_closed: true,
        }
    }

    /// Whether no number lies in it.
    pub fn is_empty(&self) -> bool {
        match (&self.lo, &self.hi) {
            (Some(a), Some(b)) => a > b || (a == b && !(self.lo_closed && self.hi_closed)),
            _ => false,
        }
    }

    /// The closed f64 interval that contains it (ends rounded outward where inexact), for
    /// range analysis.
    pub fn enclosure(&self) -> crate::expr::Domain {
        let round = |r: &BigRational, down: bool| {
            let x = crate::expr::eval::rational_to_f64(r);
            match BigRational::from_float(x) {
                Some(exact) if exact == *r => x,
                _ if down => x.next_down(),
                _ => x.next_up(),
            }
        };
        crate::expr::Domain {
            lo: self
                .lo
                .as_ref()
                .map_or(f64::NEG_INFINITY, |r| round(r, true)),
            hi: self.hi.as_ref().map_or(f64::INFINITY, |r| round(r, false)),
        }
    }

    /// The point of the domain at `u` in (0, 1): affine on a bounded interval, `lo + u/(1-u)`
    /// on a half-line, `ln(u/(1-u))` on the real line. Open ends are never reached.
    pub fn at(&self, u: f64) -> f64 {
        let f = |r: &BigRational| crate::expr::eval::rational_to_f64(r);
        match (&self.lo, &self.hi) {
            (Some(a), Some(b)) => {
                // Not a + (b - a) u: b - a may overflow.
                f(a) * (1.0 - u) + f(b) * u
            }
            (Some(a), None) => f(a) + u / (1.0 - u),
            (None, Some(b)) => f(b) - u / (1.0 - u),
            (None, None) => (u / (1.0 - u)).ln(),
        }
    }
}

impl Process {
    pub fn def(&self, name: &str) -> Option<&Definition> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// The conditional fields, fields and sampler steps, as lowering derived them; empty
    /// when lowered only to [`Stage::Quantities`].
    pub fn fields(&self) -> &fields::Fields {
        static NONE: fields::Fields = fields::Fields {
            formulas: Vec::new(),
            fields: Vec::new(),
            vp: false,
        };
        self.derived_fields.as_ref().unwrap_or(&NONE)
    }

    /// A field by name and parameterisation.
    pub fn field(&self, name: &str, param: fields::Param) -> Option<&fields::Field> {
        self.fields().field(name, param)
    }

    /// The conditional fields, fields and sampler steps (docs/theory.md section 2), simplified.
    /// v-prediction is included when the process is variance preserving by construction
    /// or alpha^2 + sigma^2 = 1 is proved (else checked with certified balls), never by
    /// whether the simplifier happens to reach 1.
    fn derive_fields(&self, pool: &mut Pool) -> fields::Fields {
        let Some(q) = self.scalars else {
            return fields::Fields::default();
        };
        let vars = fields::Vars::new(pool);
        fields::derive(pool, q, self.vp_by_construction, &vars)
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
        let mut e = |to: &mut Pool, x: ExprId| {
            let c = to.transplant(from, x, &mut memo);
            crate::expr::verify::checked(to, c, "transplant")
        };
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
                    vars: a
                        .vars
                        .iter()
                        .map(|v| ForallVar {
                            symbol: to.transplant_symbol(from, v.symbol),
                            ..v.clone()
                        })
                        .collect(),
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
            scalars: self.scalars.map(|q| fields::Scalars {
                alpha: e(to, q.alpha),
                sigma: e(to, q.sigma),
                f: e(to, q.f),
                g2: e(to, q.g2),
                g: e(to, q.g),
                lambda: e(to, q.lambda),
            }),
            vp_by_construction: self.vp_by_construction,
            derived_fields: self.derived_fields.as_ref().map(|d| fields::Fields {
                formulas: d.formulas.iter().map(|&(n, x)| (n, e(to, x))).collect(),
                fields: d
                    .fields
                    .iter()
                    .map(|f| fields::Field {
                        expr: e(to, f.expr),
                        ..f.clone()
                    })
                    .collect(),
                vp: d.vp,
            }),
        }
    }
}

/// Processes lowered between two merges into the caller's pool, per worker: bounds the
/// memory held in the workers' pools on files with thousands of processes.
const BATCH_PER_WORKER: usize = 32;

/// Lowers every process of `file` (see [`lower_files`]). `overrides` replace parameter
/// values by name (from `--param K=V`); an override naming no parameter of any process is
/// an error reported by the caller, who knows which names exist.
pub fn lower_file(
    pool: &mut Pool,
    file: &crate::syntax::ast::File,
    source_text: &str,
    overrides: &[(String, num_rational::BigRational)],
) -> Result<Vec<Process>, Vec<Diag>> {
    lower_files(pool, &[(file, source_text)], overrides, Stage::Fields)
        .pop()
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// Runs the work on one process within its allowances: polynomial work
/// ([`crate::expr::poly::PROCESS_WORK`]) and certified evaluation
/// ([`crate::expr::hp::PROCESS_WORK`]).
pub fn within_allowances<R>(task: impl FnOnce() -> R) -> R {
    crate::expr::hp::with_work_allowance(crate::expr::hp::PROCESS_WORK, || {
        crate::expr::poly::with_work_allowance(crate::expr::poly::PROCESS_WORK, task)
    })
}

/// Lowers several parsed files as far as `stage`. Every process is lowered in a pool of
/// its own, the processes spread over the available cores, then copied into `pool` in file
/// and item order, so the result does not depend on the number of threads and the work
/// grows linearly with the number of processes. `files` are (syntax tree, text).
pub fn lower_files(
    pool: &mut Pool,
    files: &[(&crate::syntax::ast::File, &str)],
    overrides: &[(String, num_rational::BigRational)],
    stage: Stage,
) -> Vec<Result<Vec<Process>, Vec<Diag>>> {
    let plans: Vec<Vec<lower::Planned<'_>>> =
        files.iter().map(|(ast, _)| lower::plan(ast)).collect();
    let units: Vec<(&crate::syntax::ast::Process, &str)> = plans
        .iter()
        .zip(files)
        .flat_map(|(plan, &(_, text))| {
            plan.iter().filter_map(move |step| match step {
                lower::Planned::Lower(p) => Some((*p, text)),
                lower::Planned::Error(_) => None,
            })
        })
        .collect();
    let workers = crate::par::workers(units.len());
    let mut lowered = Vec::with_capacity(units.len());
    for batch in units.chunks(workers * BATCH_PER_WORKER) {
        let done = crate::par::map(batch, workers, |&(p, text)| {
            let mut own = Pool::new();
            let r = within_allowances(|| {
                lower::lower_process(&mut own, p, text, overrides).map(|mut p| {
                    if stage == Stage::Fields {
                        p.derived_fields = Some(p.derive_fields(&mut own));
                    }
                    p
                })
            });
            (own, r)
        });
        lowered.extend(
            done.into_iter()
                .map(|(own, r)| r.map(|p| p.transplant(&own, pool))),
        );
    }
    let mut lowered = lowered.into_iter();
    plans
        .into_iter()
        .map(|plan| {
            let (mut ok, mut errors) = (Vec::new(), Vec::new());
            for step in plan {
                match step {
                    lower::Planned::Error(e) => errors.push(e),
                    lower::Planned::Lower(_) => match lowered.next() {
                        Some(Ok(p)) => ok.push(p),
                        Some(Err(mut es)) => errors.append(&mut es),
                        None => {}
                    },
                }
            }
            if errors.is_empty() {
                Ok(ok)
            } else {
                Err(errors)
            }
        })
        .collect()
}

/// The time symbol `t`, with its domain `[0, 1]` declared.
pub fn time_symbol(pool: &mut Pool) -> Symbol {
    let t = pool.symbol("t");
    pool.set_domain(t, crate::expr::Domain::UNIT);
    t
}
