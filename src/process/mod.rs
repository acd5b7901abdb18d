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
}

/// The time symbol `t`, with its domain `[0, 1]` declared.
pub fn time_symbol(pool: &mut Pool) -> Symbol {
    let t = pool.symbol("t");
    pool.set_domain(t, crate::expr::Domain::UNIT);
    t
}
