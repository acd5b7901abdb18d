//! The syntax tree of a .dsym file: plain values with byte spans, no pest types.
//!
//! Sums, products and power chains are n-ary here (not nested binary nodes), so a long
//! expression like `1+1+...+1` is one shallow node and every later pass can recurse on the
//! tree without risking the stack. Nesting depth is bounded by the parser
//! ([`crate::syntax::MAX_DEPTH`]).

use num_rational::BigRational;

pub use crate::diag::Span;

#[derive(Clone, PartialEq, Debug)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole file: its items in source order.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, PartialEq, Debug)]
pub enum Item {
    Process(Process),
    /// `source NAME = KIND(...);`
    Source(Declaration),
    /// `error NAME = KIND(...);`
    Error(Declaration),
    /// `kernel NAME = KIND(...);`
    Kernel(Declaration),
}

/// `source`, `error` or `kernel NAME = KIND(argument, ...);`: a name
/// bound to a family applied to named (`key = value`) and positional arguments.
#[derive(Clone, PartialEq, Debug)]
pub struct Declaration {
    pub name: Ident,
    /// The family, e.g. `gaussian` or `linear`.
    pub kind: Ident,
    pub args: Vec<NamedArg>,
    /// Arguments without a name, in order, e.g. the list of `field([...])`.
    pub positional: Vec<Value>,
    pub span: Span,
}

/// `key = value` in a declaration.
#[derive(Clone, PartialEq, Debug)]
pub struct NamedArg {
    pub name: Ident,
    pub value: Value,
    pub span: Span,
}

/// The value of a named argument.
#[derive(Clone, PartialEq, Debug)]
pub enum Value {
    /// A constant expression.
    Expr(Expr),
    /// `[v, ...]`
    Array { items: Vec<Value>, span: Span },
    /// `file("path")`, the path as written (escapes resolved), relative to the .dsym file.
    File { path: String, span: Span },
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Expr(e) => e.span,
            Value::Array { span, .. } | Value::File { span, .. } => *span,
        }
    }
}

/// `process NAME { stmt* }`
#[derive(Clone, PartialEq, Debug)]
pub struct Process {
    pub name: Ident,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, PartialEq, Debug)]
pub enum Stmt {
    /// `doc "text";` (the text with escapes resolved)
    Doc { text: String, span: Span },
    /// `param NAME = expr;`
    Param {
        name: Ident,
        value: Expr,
        span: Span,
    },
    /// `NAME(arg, ...) = expr;`
    Def {
        name: Ident,
        params: Vec<Ident>,
        body: Expr,
        span: Span,
    },
    /// `assert lhs == rhs;`, or with `forall` variables: `assert forall x, s in [0, 1]: ...;`
    Assert {
        vars: Vec<Binder>,
        lhs: Expr,
        rhs: Expr,
        span: Span,
    },
}

impl Expr {
    /// This expression and every subexpression, in pre-order, without recursion (input
    /// can nest deeply).
    pub fn subexprs(&self) -> impl Iterator<Item = &Expr> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let e = stack.pop()?;
            match &e.kind {
                ExprKind::Number(_) | ExprKind::Ident(_) => {}
                ExprKind::Sum { first, rest } => {
                    stack.extend(rest.iter().rev().map(|(_, _, x)| x));
                    stack.push(first);
                }
                ExprKind::Product { first, rest } => {
                    stack.extend(rest.iter().rev().map(|(_, _, x)| x));
                    stack.push(first);
                }
                ExprKind::Power(xs) => stack.extend(xs.iter().rev()),
                ExprKind::Neg(x) | ExprKind::Paren(x) => stack.push(x),
                ExprKind::Call { args, .. } => stack.extend(args.iter().rev()),
            }
            Some(e)
        })
    }
}

/// A variable bound by `forall`, with its interval if one is given.
#[derive(Clone, PartialEq, Debug)]
pub struct Binder {
    pub name: Ident,
    pub domain: Option<Interval>,
}

/// `[lo, hi]`, `(lo, hi)` and the half-open forms; an end may be `inf` or `-inf`.
#[derive(Clone, PartialEq, Debug)]
pub struct Interval {
    pub lo: Expr,
    pub hi: Expr,
    pub lo_closed: bool,
    pub hi_closed: bool,
    pub span: Span,
}

#[derive(Clone, PartialEq, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sign {
    Plus,
    Minus,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MulOp {
    Mul,
    Div,
}

#[derive(Clone, PartialEq, Debug)]
pub enum ExprKind {
    /// An integer, decimal or scientific literal, read exactly (`0.1` is 1/10, `1e-3` is 1/1000).
    Number(BigRational),
    /// An identifier: a parameter, a bound variable, `t`, `pi`.
    Ident(String),
    /// `first (+|-) term (+|-) term ...`; the first term carries no sign of its own.
    Sum {
        first: Box<Expr>,
        rest: Vec<(Sign, Span, Expr)>,
    },
    /// `first (*|/) factor ...`; each operator with its span.
    Product {
        first: Box<Expr>,
        rest: Vec<(MulOp, Span, Expr)>,
    },
    /// `a ^ b ^ c` as `[a, b, c]` (right-associative: `a^(b^c)`), at least two operands.
    Power(Vec<Expr>),
    /// Unary minus; it binds looser than `^`: `-2^2` is `-(2^2)`.
    Neg(Box<Expr>),
    /// `name(arg, ...)`: a builtin, a user function, `integrate` or `diff`.
    Call { func: Ident, args: Vec<Expr> },
    /// `( expr )`, kept so spans and round-trips are exact.
    Paren(Box<Expr>),
}
