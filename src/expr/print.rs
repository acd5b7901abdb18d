//! Printers: canonical `.dsym` text that parses back to the same expression, and LaTeX.
//!
//! Both printers share one layout step: an expression is first turned into a [`Doc`], a
//! small presentation tree in which signs are pulled out of coefficients, negative powers
//! are moved into denominators and `x^(1/2)` is a square root. The two renderers then walk
//! the same `Doc` with the same precedence table ([`needs_parens`]), so the LaTeX output has
//! parentheses exactly where the text needs them (except inside `\frac{}{}`, `\sqrt{}` and
//! exponent braces, which group by themselves).
//!
//! Text rules (see the tests for examples):
//! - sums print their terms in the given order, `a + b`, `a - b`; if the first term is
//!   negative and some later term is not, the first non-negative term moves to the front;
//! - a product is `coefficient numerator * factors / (coefficient denominator * factors)`,
//!   where the denominator collects every factor with a negative rational exponent; the
//!   coefficient's sign goes in front (`-3*x/(2*y)`), a coefficient of 1 or -1 is omitted
//!   unless nothing else is left in the numerator (`-1/(4*t)`);
//! - `x^(1/2)` prints `sqrt(x)`, `x^(-1/2)` prints `1/sqrt(x)`, `e` prints `exp(1)`;
//! - parentheses appear exactly where the grammar's precedence needs them, and also around
//!   any negative operand of `*`, `/`, `^` or a binary `+`/`-`, so the text never contains
//!   `+ -`, `- -`, `--`, `*-`, `/-` or `^-`.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};

use super::pool::{Constant, ExprId, Func, Node, Pool};

/// The canonical text of `e`: what the `.dsym` parser reads back to the same expression.
///
/// Deterministic: it depends only on the structure of `e` and on symbol names.
pub fn to_text(pool: &Pool, e: ExprId) -> String {
    let mut out = String::new();
    render(&layout(pool, e), Ctx::Top, Target::Text, &mut out);
    out
}

/// LaTeX math for `e`, without `$` delimiters.
pub fn to_latex(pool: &Pool, e: ExprId) -> String {
    let mut out = String::new();
    render(&layout(pool, e), Ctx::Top, Target::Latex, &mut out);
    out
}

/// How an identifier is typeset in LaTeX (also used for function names in headers).
///
/// Greek letter names become commands (`sigma` -> `\sigma`), one letter stays as is, other
/// names are upright (`snr` -> `\mathrm{snr}`). After the base, `_bar`, `_hat` and `_tilde`
/// put an accent on it (`alpha_bar` -> `\bar{\alpha}`) and the remaining `_`-separated parts
/// form a subscript, each typeset by the same rule (`beta_min` -> `\beta_{\mathrm{min}}`).
/// Trailing digits of the base are a subscript (`g2` -> `g_{2}`). Internal names start with
/// `_` and print without it (`_s1` -> `s_{1}`).
pub fn symbol_latex(name: &str) -> String {
    let name = name.strip_prefix('_').unwrap_or(name);
    let mut parts = name.split('_');
    let base = parts.next().unwrap_or_default();
    let mut out = base_latex(base);
    let mut subs: Vec<String> = Vec::new();
    for part in parts {
        match accent(part) {
            Some(cmd) if subs.is_empty() => out = format!("\\{cmd}{{{out}}}"),
            _ => subs.push(ident_latex(part)),
        }
    }
    if !subs.is_empty() {
        out = format!("{out}_{{{}}}", subs.join(","));
    }
    out
}

const GREEK: [&str; 40] = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "varpi",
    "rho",
    "varrho",
    "sigma",
    "varsigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Pi",
    "Sigma",
    "Upsilon",
    "Phi",
    "Psi",
    "Omega",
];

/// The LaTeX accent command for a name suffix, if it is one.
fn accent(part: &str) -> Option<&'static str> {
    match part {
        "bar" => Some("bar"),
        "hat" => Some("hat"),
        "tilde" => Some("tilde"),
        _ => None,
    }
}

/// A base name: its trailing digits (if it has letters before them) become a subscript.
fn base_latex(base: &str) -> String {
    let letters = base.trim_end_matches(|c: char| c.is_ascii_digit());
    if letters.is_empty() || letters.len() == base.len() {
        return ident_latex(base);
    }
    format!("{}_{{{}}}", ident_latex(letters), &base[letters.len()..])
}

/// One identifier part without underscores: Greek command, single letter, digits, or upright.
fn ident_latex(part: &str) -> String {
    if GREEK.contains(&part) {
        format!("\\{part}")
    } else if part.chars().count() == 1 || part.chars().all(|c| c.is_ascii_digit()) {
        part.to_owned()
    } else if part.is_empty() {
        "{}".to_owned()
    } else {
        format!("\\mathrm{{{part}}}")
    }
}

/// The presentation tree both printers render.
#[derive(Debug)]
enum Doc<'p> {
    /// A non-negative integer.
    Int(BigInt),
    Sym(&'p str),
    Const(Constant),
    Call(Func, Box<Doc<'p>>),
    Sqrt(Box<Doc<'p>>),
    Pow(Box<Doc<'p>>, Box<Doc<'p>>),
    /// Unary minus.
    Neg(Box<Doc<'p>>),
    /// At least two factors.
    Product(Vec<Doc<'p>>),
    Quotient(Box<Doc<'p>>, Box<Doc<'p>>),
    /// At least two terms; the first may be negative, the rest are separated by ` + `/` - `.
    Sum(Vec<Term<'p>>),
}

/// One term of a sum: its sign and its absolute value.
#[derive(Debug)]
struct Term<'p> {
    negative: bool,
    abs: Doc<'p>,
}

/// Binding strength of a printed form, loosest first (the `.dsym` grammar's levels).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Prec {
    Sum,
    Product,
    Neg,
    Pow,
    Atom,
}

/// Where a child is printed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ctx {
    /// The whole expression, a call argument: nothing needs parentheses.
    Top,
    /// Inside LaTeX braces (`\frac`, `\sqrt`, exponents): grouped already.
    Group,
    /// The first term of a sum.
    SumFirst,
    /// A term after ` + ` or ` - `.
    SumRest,
    /// The operand of unary minus.
    NegOperand,
    /// The left operand of `*` or `/` (left-associative).
    FactorLeft,
    /// The right operand of `*` or `/`.
    FactorRight,
    /// The base of `^` (right-associative).
    PowBase,
    /// The exponent of `^`.
    PowExp,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Text,
    Latex,
}

/// Does a child of precedence `child` need parentheses in context `ctx`?
///
/// Beyond what the grammar requires, a negative child (`Prec::Neg`) is parenthesised
/// wherever it is an operand of a binary operator, so no two operators are ever adjacent.
fn needs_parens(child: Prec, ctx: Ctx) -> bool {
    match ctx {
        Ctx::Top | Ctx::Group | Ctx::SumFirst => false,
        Ctx::SumRest | Ctx::NegOperand | Ctx::FactorLeft => {
            child == Prec::Sum || child == Prec::Neg
        }
        Ctx::FactorRight => child <= Prec::Product || child == Prec::Neg,
        Ctx::PowBase => child < Prec::Atom,
        Ctx::PowExp => child < Prec::Pow,
    }
}

impl Doc<'_> {
    fn prec(&self, target: Target) -> Prec {
        match self {
            Doc::Int(_) | Doc::Sym(_) | Doc::Const(_) | Doc::Call(..) | Doc::Sqrt(_) => Prec::Atom,
            Doc::Pow(..) => Prec::Pow,
            Doc::Neg(_) => Prec::Neg,
            // `\frac{}{}` is a visual group: it only needs parentheses as a power's base.
            Doc::Quotient(..) if target == Target::Latex => Prec::Pow,
            Doc::Product(_) | Doc::Quotient(..) => Prec::Product,
            Doc::Sum(_) => Prec::Sum,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Layout: expression -> Doc
// ---------------------------------------------------------------------------------------

fn layout<'p>(pool: &'p Pool, e: ExprId) -> Doc<'p> {
    let (negative, abs) = layout_signed(pool, e);
    negate_if(negative, abs)
}

fn negate_if(negative: bool, doc: Doc<'_>) -> Doc<'_> {
    if negative {
        Doc::Neg(Box::new(doc))
    } else {
        doc
    }
}

/// Lays out `e` as a sign and an absolute value (the sign comes from a rational coefficient).
fn layout_signed<'p>(pool: &'p Pool, e: ExprId) -> (bool, Doc<'p>) {
    match pool.node(e) {
        Node::Rational(r) => (r.is_negative(), rational_abs(r)),
        Node::Const(c) => (false, Doc::Const(*c)),
        Node::Sym(s) => (false, Doc::Sym(pool.symbol_name(*s))),
        Node::Call(f, a) => (false, Doc::Call(*f, Box::new(layout(pool, *a)))),
        Node::Add(terms) => layout_sum(pool, terms),
        Node::Mul(factors) => layout_product(pool, factors),
        Node::Pow(b, x) => match negative_rational(pool, *x) {
            Some(minus_x) => (false, quotient(vec![], vec![power(pool, *b, &minus_x)])),
            None => (false, power_doc(pool, *b, *x)),
        },
    }
}

/// `|r|` as an integer or a quotient of integers.
fn rational_abs<'p>(r: &BigRational) -> Doc<'p> {
    let (n, d) = (r.numer().abs(), r.denom().abs());
    if d.is_one() {
        Doc::Int(n)
    } else {
        Doc::Quotient(Box::new(Doc::Int(n)), Box::new(Doc::Int(d)))
    }
}

/// `-x` if `x` is a negative rational.
fn negative_rational(pool: &Pool, x: ExprId) -> Option<BigRational> {
    pool.as_rational(x).filter(|r| r.is_negative()).map(|r| -r)
}

/// `b^r` for a positive rational `r`: `b`, `sqrt(b)` or a power.
fn power<'p>(pool: &'p Pool, b: ExprId, r: &BigRational) -> Doc<'p> {
    let base = layout(pool, b);
    if r.is_one() {
        base
    } else if is_half(r) {
        Doc::Sqrt(Box::new(base))
    } else {
        Doc::Pow(Box::new(base), Box::new(rational_abs(r)))
    }
}

/// `b^x` for an exponent that is not a negative rational.
fn power_doc<'p>(pool: &'p Pool, b: ExprId, x: ExprId) -> Doc<'p> {
    match pool.as_rational(x) {
        Some(r) if is_half(r) => Doc::Sqrt(Box::new(layout(pool, b))),
        _ => Doc::Pow(Box::new(layout(pool, b)), Box::new(layout(pool, x))),
    }
}

fn is_half(r: &BigRational) -> bool {
    r.numer().is_one() && *r.denom() == BigInt::from(2)
}

/// A sum: signed terms in the given order, a positive term moved to the front if needed.
fn layout_sum<'p>(pool: &'p Pool, terms: &[ExprId]) -> (bool, Doc<'p>) {
    let mut docs: Vec<Term<'p>> = terms
        .iter()
        .map(|&t| {
            let (negative, abs) = layout_signed(pool, t);
            Term { negative, abs }
        })
        .collect();
    if docs.first().is_some_and(|t| t.negative) {
        if let Some(i) = docs.iter().position(|t| !t.negative) {
            let t = docs.remove(i);
            docs.insert(0, t);
        }
    }
    match docs.len() {
        0 => (false, Doc::Int(BigInt::zero())),
        1 => {
            let t = docs.remove(0);
            (t.negative, t.abs)
        }
        _ => (false, Doc::Sum(docs)),
    }
}

/// The factors of a product, nested products flattened, split into a rational coefficient,
/// numerator factors and denominator factors (given with their exponents negated).
struct Factors<'p> {
    coeff: BigRational,
    num: Vec<Doc<'p>>,
    den: Vec<Doc<'p>>,
}

impl<'p> Factors<'p> {
    fn collect(&mut self, pool: &'p Pool, factors: &[ExprId]) {
        for &f in factors {
            match pool.node(f) {
                Node::Rational(r) => self.coeff *= r,
                Node::Mul(inner) => self.collect(pool, inner),
                Node::Pow(b, x) => match negative_rational(pool, *x) {
                    Some(minus_x) => self.den.push(power(pool, *b, &minus_x)),
                    None => self.num.push(power_doc(pool, *b, *x)),
                },
                _ => self.num.push(layout(pool, f)),
            }
        }
    }
}

/// A product as `(sign, num/den)` with the coefficient folded into numerator and denominator.
fn layout_product<'p>(pool: &'p Pool, factors: &[ExprId]) -> (bool, Doc<'p>) {
    let mut fs = Factors {
        coeff: BigRational::one(),
        num: Vec::new(),
        den: Vec::new(),
    };
    fs.collect(pool, factors);
    let negative = fs.coeff.is_negative();
    let (p, q) = (fs.coeff.numer().abs(), fs.coeff.denom().abs());
    let mut num = fs.num;
    if !p.is_one() || num.is_empty() {
        num.insert(0, Doc::Int(p));
    }
    let mut den = fs.den;
    if !q.is_one() {
        den.insert(0, Doc::Int(q));
    }
    (negative, quotient(num, den))
}

/// `num/den` from factor lists; an empty numerator is 1, an empty denominator is omitted.
fn quotient<'p>(num: Vec<Doc<'p>>, den: Vec<Doc<'p>>) -> Doc<'p> {
    let num = product(num);
    if den.is_empty() {
        num
    } else {
        Doc::Quotient(Box::new(num), Box::new(product(den)))
    }
}

fn product(mut factors: Vec<Doc<'_>>) -> Doc<'_> {
    match factors.len() {
        0 => Doc::Int(BigInt::one()),
        1 => factors.remove(0),
        _ => Doc::Product(factors),
    }
}

// ---------------------------------------------------------------------------------------
// Rendering: Doc -> String
// ---------------------------------------------------------------------------------------

fn render(doc: &Doc<'_>, ctx: Ctx, target: Target, out: &mut String) {
    let parens = needs_parens(doc.prec(target), ctx);
    if parens {
        out.push_str(open(target));
    }
    match target {
        Target::Text => render_text(doc, out),
        Target::Latex => render_latex(doc, out),
    }
    if parens {
        out.push_str(close(target));
    }
}

fn open(target: Target) -> &'static str {
    match target {
        Target::Text => "(",
        Target::Latex => "\\left(",
    }
}

fn close(target: Target) -> &'static str {
    match target {
        Target::Text => ")",
        Target::Latex => "\\right)",
    }
}

/// The terms of a sum, shared by both targets (`-a + b - c`).
fn render_sum(terms: &[Term<'_>], target: Target, out: &mut String) {
    for (i, t) in terms.iter().enumerate() {
        if i == 0 {
            if t.negative {
                out.push('-');
                render(&t.abs, Ctx::NegOperand, target, out);
            } else {
                render(&t.abs, Ctx::SumFirst, target, out);
            }
        } else {
            out.push_str(if t.negative { " - " } else { " + " });
            render(&t.abs, Ctx::SumRest, target, out);
        }
    }
}

fn render_text(doc: &Doc<'_>, out: &mut String) {
    let t = Target::Text;
    match doc {
        Doc::Int(n) => out.push_str(&n.to_string()),
        Doc::Sym(name) => out.push_str(name),
        Doc::Const(Constant::Pi) => out.push_str("pi"),
        Doc::Const(Constant::E) => out.push_str("exp(1)"),
        Doc::Call(f, a) => {
            out.push_str(f.name());
            out.push('(');
            render(a, Ctx::Top, t, out);
            out.push(')');
        }
        Doc::Sqrt(a) => {
            out.push_str("sqrt(");
            render(a, Ctx::Top, t, out);
            out.push(')');
        }
        Doc::Pow(b, x) => {
            render(b, Ctx::PowBase, t, out);
            out.push('^');
            render(x, Ctx::PowExp, t, out);
        }
        Doc::Neg(a) => {
            out.push('-');
            render(a, Ctx::NegOperand, t, out);
        }
        Doc::Product(fs) => {
            for (i, f) in fs.iter().enumerate() {
                if i == 0 {
                    render(f, Ctx::FactorLeft, t, out);
                } else {
                    out.push('*');
                    render(f, Ctx::FactorRight, t, out);
                }
            }
        }
        Doc::Quotient(n, d) => {
            render(n, Ctx::FactorLeft, t, out);
            out.push('/');
            render(d, Ctx::FactorRight, t, out);
        }
        Doc::Sum(terms) => render_sum(terms, t, out),
    }
}

fn render_latex(doc: &Doc<'_>, out: &mut String) {
    let t = Target::Latex;
    match doc {
        Doc::Int(n) => out.push_str(&n.to_string()),
        Doc::Sym(name) => out.push_str(&symbol_latex(name)),
        Doc::Const(Constant::Pi) => out.push_str("\\pi"),
        Doc::Const(Constant::E) => out.push('e'),
        Doc::Call(Func::Abs, a) => {
            out.push_str("\\left|");
            render(a, Ctx::Top, t, out);
            out.push_str("\\right|");
        }
        Doc::Call(f, a) => {
            out.push_str(func_latex(*f));
            out.push_str("\\left(");
            render(a, Ctx::Top, t, out);
            out.push_str("\\right)");
        }
        Doc::Sqrt(a) => {
            out.push_str("\\sqrt{");
            render(a, Ctx::Group, t, out);
            out.push('}');
        }
        Doc::Pow(b, x) => {
            render(b, Ctx::PowBase, t, out);
            out.push_str("^{");
            render(x, Ctx::Group, t, out);
            out.push('}');
        }
        Doc::Neg(a) => {
            out.push('-');
            render(a, Ctx::NegOperand, t, out);
        }
        Doc::Product(fs) => render_latex_product(fs, out),
        Doc::Quotient(n, d) => {
            out.push_str("\\frac{");
            render(n, Ctx::Group, t, out);
            out.push_str("}{");
            render(d, Ctx::Group, t, out);
            out.push('}');
        }
        Doc::Sum(terms) => render_sum(terms, t, out),
    }
}

/// Juxtaposition with a thin space, or `\cdot` where the next factor starts with a digit.
fn render_latex_product(fs: &[Doc<'_>], out: &mut String) {
    for (i, f) in fs.iter().enumerate() {
        let mut s = String::new();
        let ctx = if i == 0 {
            Ctx::FactorLeft
        } else {
            Ctx::FactorRight
        };
        render(f, ctx, Target::Latex, &mut s);
        if i > 0 {
            let digit = s.starts_with(|c: char| c.is_ascii_digit());
            out.push_str(if digit { " \\cdot " } else { "\\," });
        }
        out.push_str(&s);
    }
}

fn func_latex(f: Func) -> &'static str {
    match f {
        Func::Exp => "\\exp",
        Func::Log => "\\log",
        Func::Sin => "\\sin",
        Func::Cos => "\\cos",
        Func::Tan => "\\tan",
        Func::Asin => "\\arcsin",
        Func::Acos => "\\arccos",
        Func::Atan => "\\arctan",
        Func::Sinh => "\\sinh",
        Func::Cosh => "\\cosh",
        Func::Tanh => "\\tanh",
        Func::Sigmoid => "\\operatorname{sigmoid}",
        Func::Expm1 => "\\operatorname{expm1}",
        Func::Log1p => "\\operatorname{log1p}",
        Func::Abs => "\\operatorname{abs}",
    }
}
