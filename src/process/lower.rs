//! Lowering: name resolution and evaluation of a .dsym syntax tree into exact expressions.
//!
//! Every error is collected (all undefined names are reported, not the first), each with
//! the span it concerns; nothing here knows file names or prints.
//!
//! Length: one pass over the syntax tree with one context (scopes, the inlining templates,
//! the collected errors and the size bounds); split, each part would need all of it.

use crate::expr::fxhash::{HashMap, HashSet};

use num_rational::BigRational;

use super::{
    Assertion, Definition, Domain, ForallVar, Param, Process, derive, fields, time_symbol,
};
use crate::diag::{Diag, Span, codes};
use crate::expr::integrate::IntegrateError;
use crate::expr::named::{self, NameError};
use crate::expr::{ExprId, Func, Generic, Node, Pool, Symbol, diff, eval, print, simplify, subst};
use crate::syntax::ast::{self, ExprKind, MulOp, Sign, Stmt};

const BUILTIN_LIST: &str = "exp, log, sqrt, sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, sigmoid, expm1, log1p, abs, integrate, diff";
const RESERVED: &[&str] = &["pi", "sqrt", "integrate", "diff", "t", "function"];
/// The definitions a process is made of: alpha and sigma, or one shorthand.
const SCHEDULE_FORMS: &[&str] = &["alpha", "sigma", "alpha_bar", "beta", "log_snr"];
/// Derived quantities a process may not define itself (alpha, sigma, alpha_bar and log_snr
/// may be: they are the forms a process is written in).
const DERIVED_ONLY: &[&str] = &["f", "g2", "g", "lambda", "dlambda", "snr", "rho"];

/// The deepest a definition may be once the functions it calls are inlined (the parser
/// bounds one expression's nesting; inlining adds up the depths of a chain of calls). Set
/// from measurement: the derivatives of a chain of n nested functions print as trees of
/// size about n^2/2 (the derived `f` of 495 nested `sin` was 2.5 MB of text, and `emit
/// --verify` took 162 s and 1.6 GB); at 97 levels `emit --verify` takes 15 s of CPU,
/// `derive` 0.2 s. Bundled definitions are under 30 deep.
pub const MAX_LOWERED_DEPTH: u32 = 100;

/// The most bits the denominator of a rational exponent may have once a definition is
/// lowered (about 150 digits). Exponents combine whenever powers of one base meet, and
/// adding fractions with huge denominators reduces them with big-integer GCDs: the fuzzer's
/// `x^(1e-4096/7)` made deriving the fields take 17 s. Integer exponents (`t^1e4096`) add
/// without such reductions and are decided from their size, so they are not bounded here.
pub const MAX_EXPONENT_BITS: u64 = 512;

/// The largest a definition may be once like terms are collected and the functions it
/// calls are inlined, as [`simplify::complexity`] counts (tree size, shared parts at each
/// use). Set from measurement: `derive` of `alpha(t) = exp(-(sum of 4,000 terms
/// k/(k+1)*t^k))`, size about 20,000, takes 4 s on a 2-core machine, growing linearly;
/// bundled definitions are under 100. A sum of 500,000 equal terms is `500000*t`: fine.
pub const MAX_LOWERED_SIZE: usize = 20_000;

/// What lowering a file does before its processes: an empty file is an error, and a
/// process whose name was taken before is an error at that place in `file.items`.
pub(crate) enum Planned<'a> {
    Lower(&'a ast::Process),
    Error(Diag),
}

/// The processes of `file` to lower, in item order, with the errors found without
/// lowering any (see [`Planned`]); sources are lowered by `analysis::lower_sources`.
pub(crate) fn plan(file: &ast::File) -> Vec<Planned<'_>> {
    if file.items.is_empty() {
        return vec![Planned::Error(
            Diag::new(codes::LOWER_EMPTY, "no process is defined in this file")
                .with_label(Span::new(0, 0), "expected `process NAME { ... }`")
                .with_help("a .dsym file holds one or more `process` blocks"),
        )];
    }
    let mut seen: HashMap<&str, Span> = HashMap::default();
    let mut out = Vec::new();
    for item in &file.items {
        let ast::Item::Process(p) = item else {
            continue;
        };
        if let Some(&first) = seen.get(p.name.name.as_str()) {
            out.push(Planned::Error(
                Diag::new(
                    codes::LOWER_DUPLICATE,
                    format!("process `{}` is defined twice", p.name.name),
                )
                .with_label(p.name.span, "defined again here")
                .with_label(first, "first defined here"),
            ));
            continue;
        }
        seen.insert(&p.name.name, p.name.span);
        out.push(Planned::Lower(p));
    }
    out
}

/// Lowers one process block of a file whose text is `source_text`. Processes are
/// independent of each other, so each may be lowered in a pool of its own.
pub(crate) fn lower_process(
    pool: &mut Pool,
    p: &ast::Process,
    source_text: &str,
    overrides: &[(String, BigRational)],
) -> Result<Process, Vec<Diag>> {
    let mut lowerer = Lowerer::new(pool, overrides);
    lowerer.source_text = Some(source_text);
    lowerer.process(p)
}

/// Parses the value of a `--param K=V` override: an exact constant expression.
pub fn parse_param_override(pool: &mut Pool, text: &str) -> Result<BigRational, String> {
    let expr = crate::syntax::parse_expr(text).map_err(|es| {
        es.first()
            .map_or_else(|| "invalid value".to_owned(), |e| e.message.clone())
    })?;
    let mut l = Lowerer::new(pool, &[]);
    let scope = Scope::default();
    let v = l.expr(&expr, &scope);
    if let Some(e) = l.errors.first() {
        return Err(e.message.clone());
    }
    let v = simplify::simplify(l.pool, v);
    l.pool
        .as_rational(v)
        .cloned()
        .ok_or_else(|| format!("`{text}` is not an exact number (write a decimal or a fraction)"))
}

/// Lowers a standalone expression whose free names are the variables `vars` (plus `pi`).
pub fn lower_expr(
    pool: &mut Pool,
    expr: &ast::Expr,
    vars: &[(&str, Symbol)],
) -> Result<ExprId, Vec<Diag>> {
    lower_expr_in(pool, expr, vars, &[])
}

/// [`lower_expr`] where the unspecified functions `functions` (their symbols, as a generic
/// process declares them) are callable, with their derivatives and primitives: what the
/// text printed for a generic process reads back in.
pub fn lower_expr_in(
    pool: &mut Pool,
    expr: &ast::Expr,
    vars: &[(&str, Symbol)],
    functions: &[Symbol],
) -> Result<ExprId, Vec<Diag>> {
    let mut scope = Scope::default();
    for &(name, s) in vars {
        let e = pool.sym_expr(s);
        scope = scope.with(name, e);
    }
    let mut l = Lowerer::new(pool, &[]);
    for &f in functions {
        let name = l.pool.symbol_name(f).to_owned();
        let placeholder = l.pool.fresh_symbol("arg");
        l.declare_unspecified(&name, f, placeholder, "u", Span::default());
    }
    let v = l.expr(expr, &scope);
    if l.errors.is_empty() {
        Ok(v)
    } else {
        Err(l.errors)
    }
}

/// The names bound around an expression: definition arguments, `t`, bound variables.
#[derive(Default, Clone)]
struct Scope {
    /// Bound names and their values, innermost last.
    names: Vec<(String, ExprId)>,
}

impl Scope {
    fn with(&self, name: &str, b: ExprId) -> Scope {
        let mut s = self.clone();
        s.names.push((name.to_owned(), b));
        s
    }

    fn get(&self, name: &str) -> Option<ExprId> {
        self.names
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|&(_, b)| b)
    }
}

struct Lowerer<'a> {
    pool: &'a mut Pool,
    overrides: &'a [(String, BigRational)],
    params: Vec<Param>,
    /// Lowered user functions by name.
    defs: HashMap<String, Definition>,
    /// Every function name defined in the process (lowered or not yet), with its arity.
    signatures: HashMap<String, (usize, Span)>,
    /// Whether the derived quantities (f, g2, ...) could not be derived because of an error
    /// already reported: calls to them are then not reported again (one typo, one error).
    quantities_missing: bool,
    /// The scalars the fields are built from, once derived, and whether the process is
    /// variance preserving by construction: the fields become callable in asserts
    /// (`pf_velocity_eps(x, e, t)`) when one is first called.
    scalars: Option<fields::Scalars>,
    vp_by_construction: bool,
    fields_registered: bool,
    /// Whether an assertion is being lowered (an unknown name there may want a `forall`).
    in_assert: bool,
    /// The parameter names of the user's functions (a parameter named `t` is a time).
    def_params: HashMap<String, Vec<String>>,
    /// Undefined names already reported in the statement being lowered: a name used three
    /// times is one error.
    undefined_seen: HashSet<String>,
    errors: Vec<Diag>,
    /// How many placeholder values lowering has continued with ([`Lowerer::placeholder`]).
    placeholders: usize,
    source_text: Option<&'a str>,
}

impl<'a> Lowerer<'a> {
    fn new(pool: &'a mut Pool, overrides: &'a [(String, BigRational)]) -> Lowerer<'a> {
        Lowerer {
            pool,
            overrides,
            params: Vec::new(),
            defs: HashMap::default(),
            signatures: HashMap::default(),
            quantities_missing: false,
            scalars: None,
            vp_by_construction: false,
            fields_registered: false,
            in_assert: false,
            def_params: HashMap::default(),
            undefined_seen: HashSet::default(),
            errors: Vec::new(),
            placeholders: 0,
            source_text: None,
        }
    }

    fn error(&mut self, e: Diag) {
        self.errors.push(e);
    }

    /// A call that cannot be lowered (reported, or reported elsewhere): its arguments are
    /// still lowered, for the errors in them, and it stands as a placeholder.
    fn abandon(&mut self, args: &[ast::Expr], scope: &Scope) -> ExprId {
        for a in args {
            self.expr(a, scope);
        }
        self.placeholder()
    }

    /// The value lowering continues with after an error (reported, or reported elsewhere):
    /// counted, so that a check of a value (division by zero) does not report a
    /// consequence of the error as an error of its own.
    fn placeholder(&mut self) -> ExprId {
        self.placeholders += 1;
        self.pool.zero()
    }

    fn process(mut self, p: &ast::Process) -> Result<Process, Vec<Diag>> {
        let mut doc: Option<(String, Span)> = None;
        let mut names: HashMap<String, Span> = HashMap::default();
        let mut def_stmts = Vec::new();
        let mut assert_stmts = Vec::new();
        for stmt in &p.body {
            match stmt {
                Stmt::Doc { text, span } => {
                    if let Some((_, first)) = &doc {
                        let e = Diag::new(
                            codes::LOWER_DUPLICATE,
                            "a process has at most one `doc` string",
                        )
                        .with_label(*span, "second doc here")
                        .with_label(*first, "first doc here");
                        self.error(e);
                    } else {
                        doc = Some((text.clone(), *span));
                    }
                }
                Stmt::Param { name, value, .. } => {
                    if self.check_new_name(name, &mut names) {
                        self.param(name, value);
                    }
                }
                Stmt::Def {
                    name,
                    params,
                    span,
                    body,
                } => {
                    if self.check_new_name(name, &mut names) {
                        self.signatures
                            .insert(name.name.clone(), (params.len(), name.span));
                        self.def_params.insert(
                            name.name.clone(),
                            params.iter().map(|p| p.name.clone()).collect(),
                        );
                        def_stmts.push((name, params, body, *span));
                    }
                }
                Stmt::Assert {
                    vars,
                    lhs,
                    rhs,
                    span,
                } => assert_stmts.push((vars, lhs, rhs, *span)),
            }
        }
        let order = self.def_order(&def_stmts);
        // Definitions that call derived quantities or fields are lowered once those are
        // derived; the others first, as the process is made of them.
        let late = self.late_definitions(&def_stmts, &order);
        for &i in order.iter().filter(|&&i| !late[i]) {
            let (name, params, body, span) = def_stmts[i];
            self.def(name, params, body, span);
        }
        let early_defs: Vec<Definition> = def_stmts
            .iter()
            .filter_map(|(name, ..)| self.defs.get(&name.name).cloned())
            .collect();
        let mut quantities = Vec::new();
        let mut scalars = None;
        let mut vp_by_construction = false;
        if self.errors.is_empty() {
            let skeleton = Process {
                name: p.name.name.clone(),
                span: p.name.span,
                doc: None,
                params: Vec::new(),
                defs: early_defs,
                asserts: Vec::new(),
                quantities: Vec::new(),
                scalars: None,
                vp_by_construction: false,
                derived_fields: None,
            };
            match derive::derive(self.pool, &skeleton) {
                Ok(d) => {
                    let found = (|| {
                        Some(fields::Scalars {
                            alpha: d.get("alpha")?,
                            sigma: d.get("sigma")?,
                            f: d.get("f")?,
                            g2: d.get("g2")?,
                            g: d.get("g")?,
                            lambda: d.get("lambda")?,
                        })
                    })();
                    quantities = d.quantities;
                    self.register_quantities(&quantities);
                    // An unspecified alpha or sigma is valid by assumption: it stands as 1 in
                    // the check of the other.
                    if let Some(q) = found {
                        let t = time_symbol(self.pool);
                        let one = self.pool.one();
                        let known = |pool: &Pool, e: ExprId| {
                            if pool.unspecified_functions(e).is_empty() {
                                e
                            } else {
                                one
                            }
                        };
                        let (a, s) = (known(self.pool, q.alpha), known(self.pool, q.sigma));
                        if (a != one || s != one)
                            && let Err(why) = super::checks::validity(self.pool, t, a, s)
                        {
                            self.error(self.invalid_process(p, why));
                        }
                    }
                    scalars = found;
                    vp_by_construction = d.vp_by_construction;
                }
                Err(e) => self.error(*e),
            }
        }
        self.quantities_missing = quantities.is_empty() && !self.errors.is_empty();
        self.scalars = scalars;
        self.vp_by_construction = vp_by_construction;
        for &i in order.iter().filter(|&&i| late[i]) {
            let (name, params, body, span) = def_stmts[i];
            self.def(name, params, body, span);
        }
        // Definitions in source order (the order a reader expects).
        let user_defs: Vec<Definition> = def_stmts
            .iter()
            .filter_map(|(name, ..)| self.defs.get(&name.name).cloned())
            .collect();
        let mut asserts = Vec::new();
        let t = time_symbol(self.pool);
        let t_expr = self.pool.sym_expr(t);
        let scope = Scope::default().with("t", t_expr);
        for (binders, lhs, rhs, span) in assert_stmts {
            let Some((scope, vars)) = self.forall(binders, [lhs, rhs], &scope) else {
                continue;
            };
            self.in_assert = true;
            self.undefined_seen.clear();
            let l = self.expr(lhs, &scope);
            let r = self.expr(rhs, &scope);
            self.in_assert = false;
            let at = Span::new(span.start, span.start + "assert".len());
            if !self.within_bounds(l, "this assertion's left side", at)
                || !self.within_bounds(r, "this assertion's right side", at)
            {
                continue;
            }
            let source = self
                .source_text
                .map_or_else(String::new, |s| s[span.start..span.end].to_owned());
            asserts.push(Assertion {
                vars,
                lhs: l,
                rhs: r,
                span,
                source,
                written: [lhs.clone(), rhs.clone()],
                binders: binders.clone(),
            });
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        Ok(Process {
            name: p.name.name.clone(),
            span: p.name.span,
            doc: doc.map(|(d, _)| d),
            params: self.params,
            defs: user_defs,
            asserts,
            quantities,
            scalars,
            vp_by_construction,
            derived_fields: None,
        })
    }

    /// The error for a process that is not a noising process, naming the parameter
    /// overrides that made it so.
    fn invalid_process(&self, p: &ast::Process, why: String) -> Diag {
        let overridden: Vec<String> = self
            .overrides
            .iter()
            .filter(|(k, _)| self.params.iter().any(|q| q.name == *k && q.overridden))
            .map(|(k, v)| format!("--param {k}={v}"))
            .collect();
        let (message, help) = if overridden.is_empty() {
            (
                format!("process `{}` is not a noising process: {why}", p.name.name),
                "alpha and sigma must be finite and >= 0 on [0, 1], alpha(0) > 0 and sigma(1) > 0"
                    .to_owned(),
            )
        } else {
            (
                format!(
                    "process `{}` with {} is not a noising process: {why}",
                    p.name.name,
                    overridden.join(" ")
                ),
                format!(
                    "the override {} gives alpha and sigma that are not finite and >= 0 on [0, 1]",
                    overridden.join(", ")
                ),
            )
        };
        Diag::new(codes::PROCESS_INVALID, message)
            .with_label(p.name.span, "this process")
            .with_help(help)
    }

    /// Makes every field, sampler step and conditional field callable by its full name with
    /// its arguments in order (`ddim_step_eps(x, eps, t, t_next)`, `cond_velocity(x, x0, t)`),
    /// once the scalars are derived. Fields are derived only for a process whose asserts call
    /// one.
    fn register_fields(&mut self) {
        if self.fields_registered {
            return;
        }
        self.fields_registered = true;
        let Some(q) = self.scalars else {
            return;
        };
        let vars = fields::Vars::new(self.pool);
        let all = fields::derive(self.pool, q, self.vp_by_construction, &vars);
        let mut callable: Vec<(String, Vec<Symbol>, ExprId)> = Vec::new();
        for (formula, e) in all.formulas {
            let args = formula
                .arguments()
                .iter()
                .map(|a| vars.argument(self.pool, a))
                .collect();
            callable.push((formula.name().to_owned(), args, e));
        }
        for f in all.fields {
            let args = f
                .kind
                .arguments(f.param)
                .into_iter()
                .map(|a| match a {
                    "x" => vars.x,
                    "z" => vars.z,
                    "t" => vars.t,
                    "t_next" => vars.t_next,
                    _ => vars.output(self.pool, f.param),
                })
                .collect();
            callable.push((f.full_name(), args, f.expr));
        }
        for (name, args, e) in callable {
            if self.signatures.contains_key(&name) {
                continue;
            }
            let template_args: Vec<Symbol> =
                args.iter().map(|_| self.pool.fresh_symbol("arg")).collect();
            let map: Vec<(Symbol, ExprId)> = args
                .iter()
                .zip(&template_args)
                .map(|(&a, &b)| (a, self.pool.sym_expr(b)))
                .collect();
            let template = subst::subst(self.pool, e, &map);
            self.signatures
                .insert(name.clone(), (args.len(), Span::default()));
            self.defs.insert(
                name.clone(),
                Definition {
                    name,
                    args,
                    template,
                    template_args,
                    body: e,
                    span: Span::default(),
                },
            );
        }
    }

    /// Makes every derived quantity the user did not define callable as `name(t)`.
    fn register_quantities(&mut self, quantities: &[(&'static str, ExprId)]) {
        let t = time_symbol(self.pool);
        for &(name, e) in quantities {
            if self.defs.contains_key(name) {
                continue;
            }
            let arg = self.pool.fresh_symbol("arg");
            let arg_e = self.pool.sym_expr(arg);
            let template = subst::subst1(self.pool, e, t, arg_e);
            self.signatures
                .insert(name.to_owned(), (1, Span::default()));
            self.defs.insert(
                name.to_owned(),
                Definition {
                    name: name.to_owned(),
                    args: vec![t],
                    template,
                    template_args: vec![arg],
                    body: e,
                    span: Span::default(),
                },
            );
        }
    }

    /// The scope of an assertion's `forall` variables and their domains: a variable given no
    /// interval is a time, in [0, 1], when it appears in a time argument (a quantity's, a
    /// field's `t` or `t_next`, a user function's parameter named `t`), and any real number
    /// otherwise. `None` after an error (a name taken, `t`, a bound that is not a constant,
    /// an empty interval).
    fn forall(
        &mut self,
        binders: &[ast::Binder],
        sides: [&ast::Expr; 2],
        outer: &Scope,
    ) -> Option<(Scope, Vec<ForallVar>)> {
        let before = self.errors.len();
        let mut scope = outer.clone();
        let mut vars = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::default();
        for b in binders {
            let name = b.name.name.as_str();
            let taken = if name == "t" {
                Some("the process's time".to_owned())
            } else if self.params.iter().any(|p| p.name == name) {
                Some("a parameter of this process".to_owned())
            } else if self.signatures.contains_key(name)
                || derive::Quantity::from_name(name).is_some()
                || fields::is_field_name(name)
            {
                Some("a function of this process".to_owned())
            } else if RESERVED.contains(&name) || Func::from_name(name).is_some() {
                Some("a builtin".to_owned())
            } else {
                None
            };
            if let Some(what) = taken {
                self.error(
                    Diag::new(
                        codes::LOWER_SHADOW,
                        format!("`{name}` is {what}; a forall variable cannot shadow it"),
                    )
                    .with_label(b.name.span, "bound here")
                    .with_help(format!("give the variable another name, e.g. `{name}_`")),
                );
                continue;
            }
            if let Some(&first) = seen.get(name) {
                self.error(
                    Diag::new(codes::LOWER_DUPLICATE, format!("`{name}` is bound twice"))
                        .with_label(b.name.span, "bound again")
                        .with_label(first, "first bound here"),
                );
                continue;
            }
            seen.insert(name, b.name.span);
            let domain = match &b.domain {
                Some(interval) => self.interval(interval)?,
                None if sides
                    .iter()
                    .any(|e| used_as_time(e, name, &self.def_params)) =>
                {
                    Domain::closed(
                        BigRational::from_integer(0.into()),
                        BigRational::from_integer(1.into()),
                    )
                }
                None => Domain::REALS,
            };
            // Fresh symbols of different pools may share a name, and a transplant merges
            // symbols by name: the domain is part of the name, so two symbols merged have the
            // same domain and no assertion sees another's.
            let enclosure = domain.enclosure();
            let hint = format!(
                "{name}[{:016x},{:016x}]",
                enclosure.lo.to_bits(),
                enclosure.hi.to_bits()
            );
            let symbol = self.pool.fresh_symbol(&hint);
            self.pool.set_domain(symbol, enclosure);
            let e = self.pool.sym_expr(symbol);
            scope = scope.with(name, e);
            vars.push(ForallVar {
                symbol,
                name: name.to_owned(),
                domain,
            });
        }
        (self.errors.len() == before).then_some((scope, vars))
    }

    /// The domain `[lo, hi]` (or open at an end) of a forall variable: constant ends, `inf`
    /// or `-inf`, lo < hi.
    fn interval(&mut self, i: &ast::Interval) -> Option<Domain> {
        let mut end = |e: &ast::Expr, infinite: bool| -> Option<Option<BigRational>> {
            let inf = |e: &ast::Expr| matches!(&e.kind, ast::ExprKind::Ident(n) if n == "inf");
            let is_inf = match &e.kind {
                ast::ExprKind::Neg(x) => inf(x) && !infinite,
                _ => inf(e) && infinite,
            };
            if is_inf {
                return Some(None);
            }
            let before = self.errors.len();
            let v = self.expr(e, &Scope::default());
            if self.errors.len() > before {
                return None;
            }
            let v = simplify::simplify(self.pool, v);
            let value = self.pool.as_rational(v).cloned().or_else(|| {
                let x = eval::eval_f64(self.pool, v, &[])
                    .ok()
                    .filter(|x| x.is_finite())?;
                BigRational::from_float(x)
            });
            if value.is_none() {
                self.error(
                    Diag::new(
                        codes::LOWER_BOUND,
                        "an end of a forall interval must be a finite constant, `inf` or `-inf`",
                    )
                    .with_label(e.span, "not a finite constant"),
                );
            }
            value.map(Some)
        };
        let lo = end(&i.lo, false)?;
        let hi = end(&i.hi, true)?;
        let domain = Domain {
            lo,
            hi,
            lo_closed: i.lo_closed,
            hi_closed: i.hi_closed,
        };
        let enclosure = domain.enclosure();
        let too_large = |x: &Option<BigRational>, f: f64| x.is_some() && !f.is_finite();
        if too_large(&domain.lo, enclosure.lo) || too_large(&domain.hi, enclosure.hi) {
            self.error(
                Diag::new(
                    codes::LOWER_BOUND,
                    "an end of this interval is beyond the range of f64",
                )
                .with_label(i.span, "its points cannot be sampled")
                .with_help("use `inf` or `-inf` for an unbounded end"),
            );
            return None;
        }
        if !domain.is_empty() && domain.lo.is_some() && domain.hi.is_some() {
            let (lo, hi) = (enclosure.lo.next_up(), enclosure.hi.next_down());
            if lo >= hi && domain.lo != domain.hi {
                self.error(
                    Diag::new(
                        codes::LOWER_BOUND,
                        "this interval is narrower than f64 can resolve",
                    )
                    .with_label(i.span, "no f64 sample point lies inside it"),
                );
                return None;
            }
        }
        if domain.is_empty() {
            self.error(
                Diag::new(codes::LOWER_EMPTY_INTERVAL, "this interval is empty")
                    .with_label(i.span, "no number lies in it")
                    .with_help("write the lower end first: `[a, b]` with a < b"),
            );
            return None;
        }
        Some(domain)
    }

    /// Reports reserved or duplicate names; true if `name` is fresh.
    fn check_new_name(&mut self, name: &ast::Ident, names: &mut HashMap<String, Span>) -> bool {
        let n = name.name.as_str();
        if DERIVED_ONLY.contains(&n) {
            self.error(
                Diag::new(
                    codes::LOWER_RESERVED,
                    format!("`{n}` is derived from alpha and sigma and cannot be defined"),
                )
                .with_label(name.span, "derived quantity")
                .with_help("define `alpha` and `sigma` (or one shorthand: `alpha_bar`, `beta`, `sigma`, `log_snr`); use `assert` to state what you expect of the derived quantities"),
            );
            return false;
        }
        if RESERVED.contains(&n) || Func::from_name(n).is_some() {
            self.error(
                Diag::new(
                    codes::LOWER_RESERVED,
                    format!("`{n}` is a builtin name and cannot be redefined"),
                )
                .with_label(name.span, "reserved name"),
            );
            return false;
        }
        if let Some(&first) = names.get(n) {
            self.error(
                Diag::new(codes::LOWER_DUPLICATE, format!("`{n}` is defined twice"))
                    .with_label(name.span, "defined again here")
                    .with_label(first, "first defined here"),
            );
            return false;
        }
        names.insert(n.to_owned(), name.span);
        true
    }

    fn param(&mut self, name: &ast::Ident, value: &ast::Expr) {
        self.undefined_seen.clear();
        let over = self
            .overrides
            .iter()
            .find(|(k, _)| *k == name.name)
            .map(|(_, v)| v.clone());
        let (v, overridden) = match over {
            Some(r) => (self.pool.rational(r), true),
            None => {
                let before = self.errors.len();
                let v = self.expr(value, &Scope::default());
                if self.errors.len() > before {
                    return;
                }
                if !self.pool.free_symbols(v).is_empty() {
                    self.error(
                        Diag::new(
                            codes::LOWER_PARAM_NOT_CONSTANT,
                            format!("parameter `{}` must be a constant", name.name),
                        )
                        .with_label(value.span, "depends on a variable"),
                    );
                    return;
                }
                let v = simplify::simplify(self.pool, v);
                if let Err(e) = eval::eval_f64(self.pool, v, &[]) {
                    self.error(
                        Diag::new(
                            codes::LOWER_PARAM_VALUE,
                            format!("parameter `{}` has no value: {e}", name.name),
                        )
                        .with_label(value.span, "evaluates to no real number"),
                    );
                    return;
                }
                (v, false)
            }
        };
        self.params.push(Param {
            name: name.name.clone(),
            value: v,
            span: name.span,
            overridden,
        });
    }

    /// Topological order of the definitions (dependencies first, otherwise source order);
    /// reports every cycle.
    fn def_order(
        &mut self,
        defs: &[(&ast::Ident, &Vec<ast::Ident>, &ast::Expr, Span)],
    ) -> Vec<usize> {
        let index: HashMap<&str, usize> = defs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.0.name.as_str(), i))
            .collect();
        let deps: Vec<Vec<(usize, Span)>> = defs
            .iter()
            .map(|(_, _, body, _)| {
                let mut calls = Vec::new();
                collect_calls(body, &mut calls);
                calls
                    .into_iter()
                    .filter_map(|(n, s)| index.get(n.as_str()).map(|&i| (i, s)))
                    .collect()
            })
            .collect();
        // 0 = unvisited, 1 = on stack, 2 = done
        let mut state = vec![0u8; defs.len()];
        let mut order = Vec::new();
        let mut reported = vec![false; defs.len()];
        for start in 0..defs.len() {
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            if state[start] != 0 {
                continue;
            }
            state[start] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if *next < deps[node].len() {
                    let (child, call_span) = deps[node][*next];
                    *next += 1;
                    match state[child] {
                        0 => {
                            state[child] = 1;
                            stack.push((child, 0));
                        }
                        1 => {
                            // A cycle: child ... node -> child.
                            let pos = stack.iter().position(|&(n, _)| n == child).unwrap_or(0);
                            let cycle: Vec<usize> = stack[pos..].iter().map(|&(n, _)| n).collect();
                            if !cycle.iter().any(|&n| reported[n]) {
                                for &n in &cycle {
                                    reported[n] = true;
                                }
                                let names: Vec<&str> = cycle
                                    .iter()
                                    .chain(std::iter::once(&child))
                                    .map(|&n| defs[n].0.name.as_str())
                                    .collect();
                                let e = Diag::new(
                                    codes::LOWER_RECURSIVE,
                                    format!("recursive definition: {}", names.join(" -> ")),
                                )
                                .with_label(defs[child].0.span, "defined here")
                                .with_label(call_span, "calls itself through here")
                                .with_help(
                                    "definitions are inlined, so they cannot refer to themselves",
                                );
                                self.error(e);
                            }
                        }
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    order.push(node);
                    stack.pop();
                }
            }
        }
        order.retain(|&i| !reported[i]);
        order
    }

    /// Which definitions call a derived quantity or a field, directly or through other
    /// definitions (`order` lists dependencies first). Those are lowered after the
    /// quantities are derived; one that alpha and sigma are made of is an error.
    fn late_definitions(
        &mut self,
        defs: &[(&ast::Ident, &Vec<ast::Ident>, &ast::Expr, Span)],
        order: &[usize],
    ) -> Vec<bool> {
        let index: HashMap<&str, usize> = defs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.0.name.as_str(), i))
            .collect();
        let mut late = vec![false; defs.len()];
        let mut why: Vec<Option<(String, Span)>> = vec![None; defs.len()];
        for &i in order {
            let mut calls = Vec::new();
            collect_calls(defs[i].2, &mut calls);
            for (n, at) in calls {
                let derived = !index.contains_key(n.as_str())
                    && (derive::Quantity::from_name(&n).is_some() || fields::is_field_name(&n));
                let through = index.get(n.as_str()).is_some_and(|&j| late[j]);
                if (derived || through) && !late[i] {
                    late[i] = true;
                    why[i] = Some((n, at));
                }
            }
        }
        for (i, d) in defs.iter().enumerate() {
            let name = d.0.name.as_str();
            if late[i] && SCHEDULE_FORMS.contains(&name) {
                let (n, at) = why[i].clone().expect("late for a reason");
                self.error(
                    Diag::new(
                        codes::LOWER_RECURSIVE,
                        format!("`{name}` is defined through `{n}`, which is derived from the process itself"),
                    )
                    .with_label(at, "derived from alpha and sigma")
                    .with_label(d.0.span, "defines the process")
                    .with_help("define alpha and sigma (or a shorthand) from parameters, t and your own functions"),
                );
            }
        }
        late
    }

    /// Whether `e`, lowered from the definition or assertion `what` at `at`, is within
    /// [`MAX_LOWERED_SIZE`] and [`MAX_LOWERED_DEPTH`]; if not, the error is recorded there.
    fn within_bounds(&mut self, e: ExprId, what: &str, at: Span) -> bool {
        let size = simplify::complexity(self.pool, e);
        if size > MAX_LOWERED_SIZE {
            self.error(
                Diag::new(codes::LOWER_TOO_LARGE, format!(
                        "{what} has {size} terms and operators once like terms are collected and the functions it calls are written out (at most {MAX_LOWERED_SIZE})"
                    )).with_label(at, "here")
                .with_help("the size is bounded so that every command answers in seconds"),
            );
            return false;
        }
        if let Some(bits) =
            largest_exponent_denominator(self.pool, e).filter(|&b| b > MAX_EXPONENT_BITS)
        {
            self.error(
                Diag::new(
                    codes::LOWER_TOO_LARGE,
                    format!(
                        "{what} has an exponent whose denominator has {bits} bits (at most {MAX_EXPONENT_BITS}, about 150 digits)"
                    ),
                )
                .with_label(at, "here")
                .with_help("exponents are bounded so that every command answers in seconds; a decimal exponent is read exactly, so `1e-4096` has 4,096 digits"),
            );
            return false;
        }
        let depth = self.pool.depth(e);
        if depth > MAX_LOWERED_DEPTH {
            self.error(
                Diag::new(codes::LOWER_TOO_DEEP, format!(
                        "{what} nests {depth} levels deep once the functions it calls are written out (at most {MAX_LOWERED_DEPTH})"
                    )).with_label(at, "here")
                .with_help("the depth is bounded so that every command answers in seconds"),
            );
            return false;
        }
        true
    }

    fn def(&mut self, name: &ast::Ident, params: &[ast::Ident], body: &ast::Expr, span: Span) {
        self.undefined_seen.clear();
        let mut scope = Scope::default();
        let mut template_args = Vec::with_capacity(params.len());
        for (i, a) in params.iter().enumerate() {
            if params[..i].iter().any(|b| b.name == a.name) {
                self.error(
                    Diag::new(
                        codes::LOWER_DUPLICATE,
                        format!("argument `{}` appears twice", a.name),
                    )
                    .with_label(a.span, "repeated argument"),
                );
                return;
            }
            let s = self.pool.fresh_symbol("arg");
            template_args.push(s);
            let e = self.pool.sym_expr(s);
            scope = scope.with(&a.name, e);
        }
        if matches!(&body.kind, ExprKind::Ident(b) if b == "function") {
            return self.unspecified(name, params, &template_args, span);
        }
        let before = self.errors.len();
        let template = self.expr(body, &scope);
        if self.errors.len() > before {
            return;
        }
        if !self.within_bounds(template, &format!("`{}`", name.name), name.span) {
            return;
        }
        // The displayed body: placeholders renamed to the written argument names.
        let args: Vec<Symbol> = params
            .iter()
            .map(|a| {
                if a.name == "t" {
                    time_symbol(self.pool)
                } else {
                    self.pool.symbol(&a.name)
                }
            })
            .collect();
        let map: Vec<(Symbol, ExprId)> = template_args
            .iter()
            .zip(&args)
            .map(|(&p, &a)| (p, self.pool.sym_expr(a)))
            .collect();
        let shown = subst::subst(self.pool, template, &map);
        let shown = crate::expr::named::reintegrate(self.pool, shown);
        let body_simplified = simplify::simplify(self.pool, shown);
        self.defs.insert(
            name.name.clone(),
            Definition {
                name: name.name.clone(),
                args,
                template,
                template_args,
                body: body_simplified,
                span,
            },
        );
    }

    /// `name(u) = function;`: an unspecified smooth function of one argument, whose values
    /// lie in the range its name implies (alpha, sigma and beta positive, alpha_bar in
    /// (0, 1), anything else real).
    fn unspecified(
        &mut self,
        name: &ast::Ident,
        params: &[ast::Ident],
        template_args: &[Symbol],
        span: Span,
    ) {
        let [param] = params else {
            self.error(
                Diag::new(
                    codes::LOWER_GENERIC,
                    format!(
                        "`{}` takes {} arguments: an unspecified function takes one",
                        name.name,
                        params.len()
                    ),
                )
                .with_label(name.span, "declared here")
                .with_help(format!("declare it as `{}(t) = function;`", name.name)),
            );
            return;
        };
        let symbol = self.pool.symbol(&name.name);
        self.pool.set_domain(symbol, unspecified_range(&name.name));
        self.declare_unspecified(&name.name, symbol, template_args[0], &param.name, span);
    }

    /// Makes the unspecified function `symbol` callable as `name(u)`; `placeholder` is its
    /// template's argument and `arg_name` the argument's name as shown.
    fn declare_unspecified(
        &mut self,
        name: &str,
        symbol: Symbol,
        placeholder: Symbol,
        arg_name: &str,
        span: Span,
    ) {
        let f = Func::Generic(Generic {
            name: symbol,
            order: 0,
        });
        let p = self.pool.sym_expr(placeholder);
        let template = self.pool.call(f, p);
        let arg = if arg_name == "t" {
            time_symbol(self.pool)
        } else {
            self.pool.symbol(arg_name)
        };
        let shown = self.pool.sym_expr(arg);
        let body = self.pool.call(f, shown);
        self.signatures.insert(name.to_owned(), (1, span));
        self.defs.insert(
            name.to_owned(),
            Definition {
                name: name.to_owned(),
                args: vec![arg],
                template,
                template_args: vec![placeholder],
                body,
                span,
            },
        );
    }

    /// `name'...'(arg)`: the derivative of a function of one argument of this process (an
    /// unspecified one, a definition or a derived quantity), as many times as there are
    /// primes, at `arg`.
    fn derivative(
        &mut self,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        scope: &Scope,
    ) -> ExprId {
        let base = func.name.trim_end_matches('\'');
        let order = func.name.len() - base.len();
        let template = self
            .defs
            .get(base)
            .filter(|d| d.template_args.len() == 1)
            .map(|d| (d.template, d.template_args[0]));
        let Some((template, arg)) = template else {
            let failed = self.signatures.get(base).is_some_and(|&(n, _)| n == 1)
                || (self.quantities_missing && derive::Quantity::from_name(base).is_some());
            if !failed {
                self.error(
                    Diag::new(
                        codes::LOWER_GENERIC,
                        format!("`{}`: primes take derivatives of a function of one argument of this process, and `{base}` is not one", func.name),
                    )
                    .with_label(func.span, "no such function of one argument")
                    .with_help("declare it, as in `alpha(t) = function;`, or define it; for a builtin, use `diff(exp(u), u)`"),
                );
            }
            return self.abandon(args, scope);
        };
        if order > Generic::MAX_ORDER as usize {
            self.error(
                Diag::new(
                    codes::LOWER_GENERIC,
                    format!(
                        "`{base}` differentiated {order} times: at most {} primes",
                        Generic::MAX_ORDER
                    ),
                )
                .with_label(func.span, "too many primes"),
            );
            return self.placeholder();
        }
        if !self.check_arity(&func.name, 1, args.len(), span, None) {
            return self.placeholder();
        }
        let v = self.expr(&args[0], scope);
        let mut d = template;
        for _ in 0..order {
            d = diff::diff(self.pool, d, arg);
            if !self.within_bounds(d, &format!("`{}`", func.name), func.span) {
                return self.placeholder();
            }
        }
        let called = subst::subst1(self.pool, d, arg, v);
        crate::expr::named::reintegrate(self.pool, called)
    }

    fn expr(&mut self, e: &ast::Expr, scope: &Scope) -> ExprId {
        match &e.kind {
            ExprKind::Number(r) => self.pool.rational(r.clone()),
            ExprKind::Paren(inner) => self.expr(inner, scope),
            ExprKind::Neg(inner) => {
                let v = self.expr(inner, scope);
                self.pool.neg(v)
            }
            ExprKind::Ident(name) => self.ident(name, e.span, scope),
            ExprKind::Sum { first, rest } => {
                let mut terms = vec![self.expr(first, scope)];
                for (sign, _, t) in rest {
                    let v = self.expr(t, scope);
                    terms.push(match sign {
                        Sign::Plus => v,
                        Sign::Minus => self.pool.neg(v),
                    });
                }
                self.pool.add(terms)
            }
            ExprKind::Product { first, rest } => {
                let mut factors = vec![self.expr(first, scope)];
                for (op, _, f) in rest {
                    let before = self.placeholders;
                    let v = self.expr(f, scope);
                    match op {
                        MulOp::Mul => factors.push(v),
                        MulOp::Div => {
                            if self.pool.is_zero(v) && self.placeholders == before {
                                self.error(
                                    Diag::new(codes::LOWER_DIVISION_BY_ZERO, "division by zero")
                                        .with_label(f.span, "this is zero"),
                                );
                                return self.placeholder();
                            }
                            factors.push(self.pool.recip(v));
                        }
                    }
                }
                self.pool.mul(factors)
            }
            ExprKind::Power(operands) => {
                let before = self.placeholders;
                let vals: Vec<ExprId> = operands.iter().map(|o| self.expr(o, scope)).collect();
                let placeholder = self.placeholders > before;
                let mut acc = *vals.last().unwrap_or(&self.pool.one());
                for (i, &b) in vals.iter().enumerate().rev().skip(1) {
                    if self.pool.is_zero(b)
                        && !placeholder
                        && self
                            .pool
                            .as_rational(acc)
                            .is_some_and(|r| r < &BigRational::from_integer(0.into()))
                    {
                        self.error(
                            Diag::new(
                                codes::LOWER_DIVISION_BY_ZERO,
                                "division by zero: zero to a negative power",
                            )
                            .with_label(operands[i].span, "this is zero"),
                        );
                        return self.placeholder();
                    }
                    acc = self.pool.pow(b, acc);
                }
                acc
            }
            ExprKind::Call { func, args } => self.call(func, args, e.span, scope),
        }
    }

    fn ident(&mut self, name: &str, span: Span, scope: &Scope) -> ExprId {
        if let Some(v) = scope.get(name) {
            return v;
        }
        if let Some(p) = self.params.iter().find(|p| p.name == name) {
            return p.value;
        }
        if name == "pi" {
            return self.pool.pi();
        }
        if name == "function" {
            self.error(
                Diag::new(
                    codes::LOWER_GENERIC,
                    "`function` declares an unspecified function: it is the whole body of a definition",
                )
                .with_label(span, "used in an expression")
                .with_help("declare it on its own, as in `alpha(t) = function;`, and use `alpha(t)` here"),
            );
            return self.placeholder();
        }
        if self.signatures.contains_key(name) {
            self.error(
                Diag::new(
                    codes::LOWER_FUNCTION_AS_VALUE,
                    format!("`{name}` is a function"),
                )
                .with_label(span, "used without arguments")
                .with_help(format!("call it, as in `{name}(t)`")),
            );
        } else if Func::from_name(name).is_some() || name == "sqrt" {
            self.error(
                Diag::new(
                    codes::LOWER_FUNCTION_AS_VALUE,
                    format!("`{name}` is a builtin function"),
                )
                .with_label(span, "used without arguments")
                .with_help(format!("call it, as in `{name}(t)`")),
            );
        } else {
            if !self.undefined_seen.insert(name.to_owned()) {
                return self.placeholder();
            }
            let mut e = Diag::new(codes::LOWER_UNDEFINED, format!("undefined name `{name}`"))
                .with_label(span, "not defined");
            if name == "t" {
                e = e.with_help("`t` is only in scope inside definitions with an argument named `t` and in asserts");
            } else if let Some(near) = closest(
                name,
                self.params
                    .iter()
                    .map(|p| p.name.as_str())
                    .chain(scope.names.iter().map(|(n, _)| n.as_str())),
            ) {
                e = e.with_help(format!("did you mean `{near}`?"));
            } else if scope.get("t").is_some() && self.in_assert {
                e = e.with_help(format!(
                    "to state the identity for every value of `{name}`, bind it: `assert forall {name}: ...;`"
                ));
            }
            self.error(e);
        }
        self.placeholder()
    }

    fn call(&mut self, func: &ast::Ident, args: &[ast::Expr], span: Span, scope: &Scope) -> ExprId {
        let name = func.name.as_str();
        match name {
            "integrate" => return self.integrate(func, args, span, scope),
            "diff" => return self.differentiate(func, args, span, scope),
            _ if name.ends_with('\'') => return self.derivative(func, args, span, scope),
            _ => {}
        }
        if !self.signatures.contains_key(name) && fields::is_field_name(name) {
            self.register_fields();
        }
        let arity = if name == "sqrt" || Func::from_name(name).is_some() {
            Some(1)
        } else {
            self.signatures.get(name).map(|&(n, _)| n)
        };
        let Some(arity) = arity else {
            if self.quantities_missing && derive::Quantity::from_name(name).is_some() {
                // A derived quantity of a process whose definitions failed: reported there.
                return self.abandon(args, scope);
            }
            if fields::is_field_name(name) && self.quantities_missing {
                // The definitions failed (reported there): no fields, and no second error.
                return self.abandon(args, scope);
            }
            if fields::is_field_name(name) {
                let why = if name.ends_with("_v") {
                    "v-prediction applies to variance-preserving processes only (alpha^2 + sigma^2 = 1)"
                } else {
                    "the process's fields could not be derived"
                };
                self.error(
                    Diag::new(
                        codes::LOWER_UNKNOWN_FUNCTION,
                        format!("`{name}` is not a field of this process"),
                    )
                    .with_label(func.span, "no such field here")
                    .with_help(why),
                );
                return self.abandon(args, scope);
            }
            let builtins = BUILTIN_LIST.split(", ");
            let own = self.signatures.keys().map(String::as_str);
            let field_names = fields::field_names();
            let fields = field_names.iter().map(String::as_str);
            let help = match closest(name, builtins.chain(own).chain(fields)) {
                Some(near) => format!("did you mean `{near}`? builtins are {BUILTIN_LIST}"),
                None => format!("builtins are {BUILTIN_LIST}"),
            };
            self.error(
                Diag::new(
                    codes::LOWER_UNKNOWN_FUNCTION,
                    format!("unknown function `{name}`"),
                )
                .with_label(func.span, "not a builtin or a function of this process")
                .with_help(help),
            );
            return self.abandon(args, scope);
        };
        if !self.check_arity(name, arity, args.len(), span, None) {
            return self.placeholder();
        }
        let vals: Vec<ExprId> = args.iter().map(|a| self.expr(a, scope)).collect();
        if name == "sqrt" {
            return self.pool.sqrt(vals[0]);
        }
        if let Some(f) = Func::from_name(name) {
            return self.pool.call(f, vals[0]);
        }
        match self.defs.get(name) {
            Some(d) => d.apply(self.pool, &vals),
            // Not lowered: it failed, or is part of a reported cycle.
            None => self.placeholder(),
        }
    }

    /// Reports a call of `name` with `found` arguments where it takes `expected`; true if
    /// the count is right. `usage` is shown as help.
    fn check_arity(
        &mut self,
        name: &str,
        expected: usize,
        found: usize,
        span: Span,
        usage: Option<&str>,
    ) -> bool {
        if found == expected {
            return true;
        }
        let plural = if expected == 1 { "" } else { "s" };
        let mut e = Diag::new(
            codes::LOWER_ARITY,
            format!("`{name}` takes {expected} argument{plural}, found {found}"),
        )
        .with_label(span, "wrong number of arguments");
        if let Some(u) = usage {
            e = e.with_help(format!("write `{u}`"));
        }
        self.error(e);
        false
    }

    fn bound_variable(&mut self, func: &ast::Ident, arg: &ast::Expr) -> Option<String> {
        match &arg.kind {
            ExprKind::Ident(v) => Some(v.clone()),
            _ => {
                self.error(
                    Diag::new(
                        codes::LOWER_VARIABLE_EXPECTED,
                        format!(
                            "the second argument of `{}` must be a variable name",
                            func.name
                        ),
                    )
                    .with_label(arg.span, "expected a variable"),
                );
                None
            }
        }
    }

    fn integrate(
        &mut self,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        scope: &Scope,
    ) -> ExprId {
        if !self.check_arity(
            "integrate",
            4,
            args.len(),
            span,
            Some("integrate(expression, variable, lower, upper)"),
        ) {
            return self.placeholder();
        }
        let Some(var) = self.bound_variable(func, &args[1]) else {
            return self.placeholder();
        };
        let lo = self.expr(&args[2], scope);
        let hi = self.expr(&args[3], scope);
        let s = self.pool.fresh_symbol(&var);
        let se = self.pool.sym_expr(s);
        let before = self.errors.len();
        let integrand = self.expr(&args[0], &scope.with(&var, se));
        if self.errors.len() > before {
            return self.placeholder();
        }
        match named::integrate_or_name(self.pool, integrand, s, lo, hi) {
            Ok(v) => v,
            Err(err) => {
                let term = match err {
                    NameError::Integrate(IntegrateError::NoClosedForm { term })
                    | NameError::Unevaluable { term } => term,
                    NameError::Integrate(IntegrateError::Unbounded) => integrand,
                };
                // Show the term with the variable named as the user wrote it.
                let written = self.pool.var(&var);
                let term = subst::subst1(self.pool, term, s, written);
                let shown = print::to_text(self.pool, term);
                let (message, label) = match err {
                    NameError::Unevaluable { .. } => (
                        "no closed form is known for this integral, and quadrature cannot evaluate it",
                        format!(
                            "`{shown}` is not smooth on the interval, its derivatives are too large, or it holds integrals nested too deep"
                        ),
                    ),
                    NameError::Integrate(IntegrateError::NoClosedForm { .. }) => (
                        "no closed form is known for this integral",
                        format!("cannot integrate `{shown}`"),
                    ),
                    NameError::Integrate(IntegrateError::Unbounded) => (
                        "cannot show the integrand is finite on the interval of integration",
                        format!("integrand `{shown}`"),
                    ),
                };
                const TABLE: &str = "closed forms exist for polynomials; exp, sin, cos, tan, sinh, cosh, log and powers of linear forms; 1/(p + q x^2); and polynomials times exp, sin or cos of a linear form; any other integral is kept as a named integral when its integrand depends on its variable alone, its lower limit is a number and the integrand is smooth on the interval";
                self.error(
                    Diag::new(codes::LOWER_INTEGRATE, message)
                        .with_label(span, label)
                        .with_help(TABLE),
                );
                self.pool.zero()
            }
        }
    }

    fn differentiate(
        &mut self,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        scope: &Scope,
    ) -> ExprId {
        if args.len() != 3
            && !self.check_arity(
                "diff",
                2,
                args.len(),
                span,
                Some("diff(expression, variable) or diff(expression, variable, order)"),
            )
        {
            return self.placeholder();
        }
        let order = match args.get(2) {
            None => 1,
            Some(n) => match self.derivative_order(n) {
                Some(k) => k,
                None => return self.placeholder(),
            },
        };
        let Some(var) = self.bound_variable(func, &args[1]) else {
            return self.placeholder();
        };
        let Some(v) = scope.get(&var) else {
            self.error(
                Diag::new(
                    codes::LOWER_UNDEFINED,
                    format!("`{var}` is not a variable in scope"),
                )
                .with_label(args[1].span, "not a variable"),
            );
            return self.placeholder();
        };
        let Node::Sym(s) = *self.pool.node(v) else {
            self.error(
                Diag::new(
                    codes::LOWER_VARIABLE_EXPECTED,
                    format!("`{var}` is not a variable"),
                )
                .with_label(args[1].span, "not a variable"),
            );
            return self.placeholder();
        };
        let mut e = self.expr(&args[0], scope);
        for _ in 0..order {
            e = diff::diff(self.pool, e, s);
            if !self.within_bounds(e, "this derivative", func.span) {
                return self.placeholder();
            }
        }
        e
    }

    /// The order of `diff(e, x, n)`: a whole number from 1 to [`Generic::MAX_ORDER`].
    fn derivative_order(&mut self, n: &ast::Expr) -> Option<usize> {
        let before = self.errors.len();
        let v = self.expr(n, &Scope::default());
        if self.errors.len() > before {
            return None;
        }
        let k = self
            .pool
            .as_rational(v)
            .filter(|r| r.is_integer())
            .and_then(|r| num_traits::ToPrimitive::to_usize(&r.to_integer()))
            .filter(|&k| (1..=Generic::MAX_ORDER as usize).contains(&k));
        if k.is_none() {
            self.error(
                Diag::new(
                    codes::LOWER_ARITY,
                    format!(
                        "the order of a derivative is a whole number from 1 to {}",
                        Generic::MAX_ORDER
                    ),
                )
                .with_label(n.span, "not a valid order"),
            );
        }
        k
    }
}

/// The values an unspecified function declared under `name` takes: the scale and the noise
/// level and beta are positive, alpha_bar lies in (0, 1), anything else is real.
fn unspecified_range(name: &str) -> crate::expr::Domain {
    use crate::expr::Domain;
    match name {
        "alpha" | "sigma" | "beta" => Domain {
            lo: f64::MIN_POSITIVE,
            hi: f64::INFINITY,
        },
        "alpha_bar" => Domain {
            lo: f64::MIN_POSITIVE,
            hi: 1.0f64.next_down(),
        },
        _ => Domain::REAL,
    }
}

/// Calls (name, span of the name) anywhere in `e`.
fn collect_calls(e: &ast::Expr, out: &mut Vec<(String, Span)>) {
    match &e.kind {
        ExprKind::Number(_) | ExprKind::Ident(_) => {}
        ExprKind::Paren(x) | ExprKind::Neg(x) => collect_calls(x, out),
        ExprKind::Sum { first, rest } => {
            collect_calls(first, out);
            rest.iter().for_each(|(_, _, x)| collect_calls(x, out));
        }
        ExprKind::Product { first, rest } => {
            collect_calls(first, out);
            rest.iter().for_each(|(_, _, x)| collect_calls(x, out));
        }
        ExprKind::Power(xs) => xs.iter().for_each(|x| collect_calls(x, out)),
        ExprKind::Call { func, args } => {
            // `alpha'(t)` depends on `alpha`.
            out.push((func.name.trim_end_matches('\'').to_owned(), func.span));
            args.iter().for_each(|x| collect_calls(x, out));
        }
    }
}

/// Whether `name` appears in a time argument in `e`: an argument of a derived quantity, a
/// field's `t` or `t_next`, a user function's parameter named `t` (`def_params`).
fn used_as_time(e: &ast::Expr, name: &str, def_params: &HashMap<String, Vec<String>>) -> bool {
    let mentions = |e: &ast::Expr| {
        e.subexprs()
            .any(|x| matches!(&x.kind, ast::ExprKind::Ident(n) if n == name))
    };
    e.subexprs().any(|x| {
        let ast::ExprKind::Call { func, args } = &x.kind else {
            return false;
        };
        // A field's times are its `t` and `t_next`; every argument of a derived quantity.
        let callee = func.name.trim_end_matches('\'');
        let times: Vec<bool> = if let Some(params) = def_params.get(callee) {
            params.iter().map(|p| p == "t").collect()
        } else if let Some(names) = fields::field_arguments(callee) {
            names.iter().map(|n| n.starts_with('t')).collect()
        } else if derive::Quantity::from_name(callee).is_some() {
            vec![true; args.len()]
        } else {
            Vec::new()
        };
        args.iter()
            .zip(&times)
            .any(|(a, &time)| time && mentions(a))
    })
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a typo of
/// it: at most 2 edits, and fewer than half of the name's characters. Ties go to the
/// alphabetically first, so the hint does not depend on the candidates' order.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let most = 2.min(name.chars().count().saturating_sub(1) / 2);
    candidates
        .filter(|c| *c != name)
        .map(|c| (edit_distance(c, name), c))
        .filter(|&(d, _)| d <= most)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The most bits of the denominator of any rational exponent in `e`.
fn largest_exponent_denominator(pool: &Pool, e: ExprId) -> Option<u64> {
    let mut seen = HashSet::default();
    let mut stack = vec![e];
    let mut most = None;
    while let Some(x) = stack.pop() {
        if !seen.insert(x) {
            continue;
        }
        if let Node::Pow(_, q) = pool.node(x)
            && let Some(r) = pool.as_rational(*q)
        {
            let bits = r.denom().bits();
            most = Some(most.map_or(bits, |m: u64| m.max(bits)));
        }
        stack.extend(pool.children(x));
    }
    most
}
