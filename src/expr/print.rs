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

use super::pool::{BOUND, Constant, ExprId, Func, IntegralId, Node, Pool};
use super::rational;

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
    if part.is_empty() {
        "{}".to_owned()
    } else if GREEK.contains(&part) {
        format!("\\{part}")
    } else if part == "eps" {
        "\\varepsilon".to_owned()
    } else if part.chars().count() == 1 || part.chars().all(|c| c.is_ascii_digit()) {
        part.to_owned()
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
    /// An unspecified function or one of its derivatives (`alpha'(t)`); order -1, its
    /// primitive, is printed as an integral with `bound` as its variable.
    Apply {
        name: &'p str,
        order: i32,
        arg: Box<Doc<'p>>,
        bound: String,
    },
    /// A named integral `integrate(body, bound, lo, arg)`: its integrand with the variable
    /// renamed to `bound`.
    Integral {
        body: Box<Doc<'p>>,
        bound: &'static str,
        lo: Box<Doc<'p>>,
        arg: Box<Doc<'p>>,
    },
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
            // `\int_0^t ...\,ds` extends to its right: a product's last factor at most.
            Doc::Apply { order, .. } if *order < 0 && target == Target::Latex => Prec::Product,
            Doc::Apply { .. } => Prec::Atom,
            Doc::Integral { .. } if target == Target::Latex => Prec::Product,
            Doc::Integral { .. } => Prec::Atom,
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
        Node::Call(Func::Generic(g), a) => {
            // The primitive's variable: a name the argument does not use.
            let used: Vec<&str> = pool
                .free_symbols(*a)
                .into_iter()
                .map(|s| pool.symbol_name(s))
                .collect();
            let bound = ["s", "r", "u", "v", "w"]
                .into_iter()
                .map(str::to_owned)
                .chain((1..).map(|k| format!("s{k}")))
                .find(|n| !used.contains(&n.as_str()))
                .expect("an unbounded supply of names");
            let doc = Doc::Apply {
                name: pool.symbol_name(g.name),
                order: g.order,
                arg: Box::new(layout(pool, *a)),
                bound,
            };
            (false, doc)
        }
        Node::Call(Func::Integral(i), a) => (false, layout_integral(pool, *i, *a)),
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
/// Names of integration variables, by nesting level (the innermost integral's first).
const BOUND_NAMES: [&str; 6] = ["s", "r", "u", "v", "w", "q"];

/// `integrate(body, s, lo, arg)`: the variable named by nesting level (so nested integrals
/// use different names), skipping names the argument uses.
fn layout_integral<'p>(pool: &'p Pool, i: IntegralId, a: ExprId) -> Doc<'p> {
    let def = pool.integral(i);
    let used: Vec<&str> = pool
        .free_symbols(a)
        .into_iter()
        .map(|s| pool.symbol_name(s))
        .collect();
    let level = pool.integral_level(pool.integral(i).body) + 1;
    let bound = (0..BOUND_NAMES.len())
        .map(|k| BOUND_NAMES[(level - 1 + k) % BOUND_NAMES.len()])
        .find(|n| !used.contains(n))
        .unwrap_or(BOUND_NAMES[0]);
    let mut body = layout(pool, def.body);
    rename_bound(&mut body, bound);
    Doc::Integral {
        body: Box::new(body),
        bound,
        lo: Box::new(layout(pool, def.lo)),
        arg: Box::new(layout(pool, a)),
    }
}

/// Renames the variable of integrands in `doc`, except inside the integrands of integrals
/// it contains (their own variable).
fn rename_bound(doc: &mut Doc<'_>, name: &'static str) {
    match doc {
        Doc::Sym(n) if *n == BOUND => *n = name,
        Doc::Int(_) | Doc::Sym(_) | Doc::Const(_) => {}
        Doc::Call(_, a) | Doc::Sqrt(a) | Doc::Neg(a) | Doc::Apply { arg: a, .. } => {
            rename_bound(a, name)
        }
        Doc::Integral { arg, .. } => rename_bound(arg, name),
        Doc::Pow(a, b) | Doc::Quotient(a, b) => {
            rename_bound(a, name);
            rename_bound(b, name);
        }
        Doc::Product(fs) => fs.iter_mut().for_each(|f| rename_bound(f, name)),
        Doc::Sum(ts) => ts.iter_mut().for_each(|t| rename_bound(&mut t.abs, name)),
    }
}

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
    if docs.first().is_some_and(|t| t.negative)
        && let Some(i) = docs.iter().position(|t| !t.negative)
    {
        let t = docs.remove(i);
        docs.insert(0, t);
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
                Node::Rational(r) => self.coeff = rational::mul(&self.coeff, r),
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
        if let [Doc::Sum(_)] = den.as_slice() {
            // `1/(2*(a + b))` would read back as `1/(2*a + 2*b)`: a rational next to a lone
            // sum is distributed by canonical form. `1/2/(a + b)` reads back exactly.
            let over_q = Doc::Quotient(Box::new(product(num)), Box::new(Doc::Int(q)));
            return (
                negative,
                Doc::Quotient(Box::new(over_q), Box::new(product(den))),
            );
        }
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
    // Unary minus binds tighter than `*`, so `-(a + b)*c` reads as `(-(a + b))*c`, and
    // canonical form would distribute that minus into the sum. `-((a + b)*c)` reads back as
    // the product it came from.
    let minus_on_sum = ctx == Ctx::NegOperand && starts_with_sum(doc);
    let parens = minus_on_sum || needs_parens(doc.prec(target), ctx);
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

/// Is the leftmost factor of this product or quotient a sum (printed in parentheses)?
fn starts_with_sum(doc: &Doc<'_>) -> bool {
    match doc {
        Doc::Product(fs) => fs
            .first()
            .is_some_and(|f| matches!(f, Doc::Sum(_)) || starts_with_sum(f)),
        Doc::Quotient(num, _) => matches!(**num, Doc::Sum(_)) || starts_with_sum(num),
        _ => false,
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
        Doc::Apply {
            name,
            order,
            arg,
            bound,
        } if *order < 0 => {
            out.push_str(&format!("integrate({name}({bound}), {bound}, 0, "));
            render(arg, Ctx::Top, t, out);
            out.push(')');
        }
        Doc::Integral {
            body,
            bound,
            lo,
            arg,
        } => {
            out.push_str("integrate(");
            render(body, Ctx::Top, t, out);
            out.push_str(&format!(", {bound}, "));
            render(lo, Ctx::Top, t, out);
            out.push_str(", ");
            render(arg, Ctx::Top, t, out);
            out.push(')');
        }
        Doc::Apply {
            name, order, arg, ..
        } => {
            out.push_str(name);
            for _ in 0..*order {
                out.push('\'');
            }
            out.push('(');
            render(arg, Ctx::Top, t, out);
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
        Doc::Apply {
            name,
            order,
            arg,
            bound,
        } => render_latex_apply(name, *order, arg, bound, out),
        Doc::Integral {
            body,
            bound,
            lo,
            arg,
        } => {
            out.push_str("\\int_{");
            render(lo, Ctx::Group, t, out);
            out.push_str("}^{");
            render(arg, Ctx::Group, t, out);
            out.push_str("} ");
            render(body, Ctx::FactorLeft, t, out);
            out.push_str(&format!("\\,\\mathrm{{d}}{}", symbol_latex(bound)));
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
        // `a/q/(b + c)` (written so for the text round trip) is typeset `\frac{a}{q (b + c)}`.
        Doc::Quotient(n, d) if matches!(**n, Doc::Quotient(..)) => {
            let Doc::Quotient(a, q) = &**n else {
                unreachable!("matched above")
            };
            out.push_str("\\frac{");
            render(a, Ctx::Group, t, out);
            out.push_str("}{");
            render(q, Ctx::FactorLeft, t, out);
            out.push_str("\\,");
            render(d, Ctx::FactorRight, t, out);
            out.push('}');
        }
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

/// `\alpha_{t}`, `\dot{\alpha}_{t}`, `\ddot{\alpha}_{s}`, `\alpha^{(3)}_{t}` for a symbol
/// argument (the papers' notation), `\alpha\left(2 t\right)` for others and for names that
/// carry a subscript already; the primitive as `\int_{0}^{t} \beta_{s}\,\mathrm{d}s`.
fn render_latex_apply(name: &str, order: i32, arg: &Doc<'_>, bound: &str, out: &mut String) {
    let base = symbol_latex(name);
    if order < 0 {
        out.push_str("\\int_{0}^{");
        render(arg, Ctx::Group, Target::Latex, out);
        out.push_str("} ");
        let inner = Doc::Sym(bound);
        render_latex_apply(name, 0, &inner, bound, out);
        out.push_str(&format!("\\,\\mathrm{{d}}{}", symbol_latex(bound)));
        return;
    }
    let head = match order {
        0 => base.clone(),
        1 => format!("\\dot{{{base}}}"),
        2 => format!("\\ddot{{{base}}}"),
        k => format!("{base}^{{({k})}}"),
    };
    out.push_str(&head);
    match arg {
        Doc::Sym(s) if !base.contains('_') => {
            out.push_str("_{");
            out.push_str(&symbol_latex(s));
            out.push('}');
        }
        _ => {
            out.push_str("\\left(");
            render(arg, Ctx::Top, Target::Latex, out);
            out.push_str("\\right)");
        }
    }
}

/// The LaTeX command of a builtin (`\\exp`, `\\operatorname{sigmoid}`).
pub fn func_latex(f: Func) -> &'static str {
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
        // Laid out as `Doc::Apply` and `Doc::Integral`.
        Func::Generic(_) | Func::Integral(_) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds nodes with `intern` directly, so the tests do not depend on simplification.
    struct B(Pool);

    impl B {
        fn new() -> B {
            B(Pool::new())
        }
        fn s(&mut self, name: &str) -> ExprId {
            self.0.var(name)
        }
        fn n(&mut self, i: i64) -> ExprId {
            self.0.int(i)
        }
        fn q(&mut self, n: i64, d: i64) -> ExprId {
            self.0.frac(n, d)
        }
        fn add(&mut self, xs: &[ExprId]) -> ExprId {
            self.0.intern(Node::Add(xs.into()))
        }
        fn mul(&mut self, xs: &[ExprId]) -> ExprId {
            self.0.intern(Node::Mul(xs.into()))
        }
        fn pow(&mut self, b: ExprId, e: ExprId) -> ExprId {
            self.0.intern(Node::Pow(b, e))
        }
        fn call(&mut self, f: Func, a: ExprId) -> ExprId {
            self.0.intern(Node::Call(f, a))
        }
        fn neg(&mut self, x: ExprId) -> ExprId {
            let m1 = self.n(-1);
            self.mul(&[m1, x])
        }
        fn sqrt_of(&mut self, x: ExprId) -> ExprId {
            let half = self.q(1, 2);
            self.pow(x, half)
        }
        fn c(&mut self, c: Constant) -> ExprId {
            self.0.intern(Node::Const(c))
        }
        fn text(&self, e: ExprId) -> String {
            to_text(&self.0, e)
        }
        fn latex(&self, e: ExprId) -> String {
            to_latex(&self.0, e)
        }
    }

    #[test]
    fn needs_parens_table() {
        use Ctx::*;
        use Prec::*;
        // Nothing is parenthesised at the top, in braces or as the first term of a sum.
        for p in [Sum, Product, Neg, Pow, Atom] {
            assert!(!needs_parens(p, Top));
            assert!(!needs_parens(p, Group));
            assert!(!needs_parens(p, SumFirst));
        }
        let row = |ctx| [Sum, Product, Neg, Pow, Atom].map(|p| needs_parens(p, ctx));
        assert_eq!(row(SumRest), [true, false, true, false, false]);
        assert_eq!(row(NegOperand), [true, false, true, false, false]);
        assert_eq!(row(FactorLeft), [true, false, true, false, false]);
        assert_eq!(row(FactorRight), [true, true, true, false, false]);
        assert_eq!(row(PowBase), [true, true, true, true, false]);
        assert_eq!(row(PowExp), [true, true, true, false, false]);
    }

    #[test]
    fn sum_inside_product_both_ways() {
        let mut b = B::new();
        let (x, y, z) = (b.s("a"), b.s("b"), b.s("c"));
        let s = b.add(&[x, y]);
        let e = b.mul(&[s, z]);
        assert_eq!(b.text(e), "(a + b)*c");
        let s = b.add(&[y, z]);
        let e = b.mul(&[x, s]);
        assert_eq!(b.text(e), "a*(b + c)");
        let p = b.mul(&[x, y]);
        let e = b.add(&[p, z]);
        assert_eq!(b.text(e), "a*b + c");
        let p = b.mul(&[y, z]);
        let e = b.add(&[x, p]);
        assert_eq!(b.text(e), "a + b*c");
    }

    #[test]
    fn power_associativity_both_ways() {
        let mut b = B::new();
        let (x, y, z) = (b.s("a"), b.s("b"), b.s("c"));
        let p = b.mul(&[x, y]);
        let e = b.pow(p, z);
        assert_eq!(b.text(e), "(a*b)^c");
        let p = b.pow(y, z);
        let e = b.mul(&[x, p]);
        assert_eq!(b.text(e), "a*b^c");
        let e = b.pow(x, p);
        assert_eq!(b.text(e), "a^b^c");
        let p = b.pow(x, y);
        let e = b.pow(p, z);
        assert_eq!(b.text(e), "(a^b)^c");
        let s = b.add(&[y, z]);
        let e = b.pow(x, s);
        assert_eq!(b.text(e), "a^(b + c)");
        let e = b.pow(s, x);
        assert_eq!(b.text(e), "(b + c)^a");
        let two = b.n(2);
        let p = b.mul(&[two, y]);
        let e = b.pow(x, p);
        assert_eq!(b.text(e), "a^(2*b)");
    }

    #[test]
    fn unary_minus_both_ways() {
        let mut b = B::new();
        let (x, y) = (b.s("a"), b.s("b"));
        let s = b.add(&[x, y]);
        let e = b.neg(s);
        assert_eq!(b.text(e), "-(a + b)");
        let m1 = b.n(-1);
        let e = b.mul(&[m1, x, y]);
        assert_eq!(b.text(e), "-a*b");
        let na = b.neg(x);
        let two = b.n(2);
        let e = b.pow(na, two);
        assert_eq!(b.text(e), "(-a)^2");
        let p = b.pow(x, two);
        let e = b.neg(p);
        assert_eq!(b.text(e), "-a^2");
        let e = b.call(Func::Exp, na);
        assert_eq!(b.text(e), "exp(-a)");
        let e = b.pow(x, na);
        assert_eq!(b.text(e), "a^(-a)");
        let nb = b.neg(y);
        let e = b.pow(x, nb);
        assert_eq!(b.text(e), "a^(-b)");
        let e = b.neg(na);
        assert_eq!(b.text(e), "a", "two rational factors fold to 1");
        let single = b.add(&[na]);
        let e = b.neg(single);
        assert_eq!(b.text(e), "-(-a)");
        let e = b.mul(&[x, single]);
        assert_eq!(b.text(e), "a*(-a)");
    }

    #[test]
    fn rationals_in_every_position() {
        let mut b = B::new();
        let t = b.s("t");
        let half = b.q(1, 2);
        let mhalf = b.q(-1, 2);
        let m3 = b.n(-3);
        let m2 = b.n(-2);
        assert_eq!(b.text(half), "1/2");
        assert_eq!(b.text(mhalf), "-1/2");
        assert_eq!(b.text(m3), "-3");
        let zero = b.n(0);
        assert_eq!(b.text(zero), "0");
        let e = b.pow(half, t);
        assert_eq!(b.text(e), "(1/2)^t");
        let e = b.pow(m2, t);
        assert_eq!(b.text(e), "(-2)^t");
        let e = b.pow(mhalf, t);
        assert_eq!(b.text(e), "(-1/2)^t");
        let th = b.q(3, 2);
        let e = b.pow(t, th);
        assert_eq!(b.text(e), "t^(3/2)");
        let two = b.n(2);
        let e = b.pow(t, two);
        assert_eq!(b.text(e), "t^2");
        let e = b.pow(two, t);
        assert_eq!(b.text(e), "2^t");
        let e = b.add(&[t, mhalf]);
        assert_eq!(b.text(e), "t - 1/2");
        let e = b.add(&[mhalf, t]);
        assert_eq!(b.text(e), "t - 1/2");
        let e = b.add(&[half, t]);
        assert_eq!(b.text(e), "1/2 + t");
        let e = b.add(&[t, m3]);
        assert_eq!(b.text(e), "t - 3");
        let e = b.call(Func::Exp, mhalf);
        assert_eq!(b.text(e), "exp(-1/2)");
        let e = b.mul(&[half, t]);
        assert_eq!(b.text(e), "t/2");
        let e = b.mul(&[mhalf, t]);
        assert_eq!(b.text(e), "-t/2");
        let e = b.mul(&[m3, t]);
        assert_eq!(b.text(e), "-3*t");
        let e = b.pow(t, m3);
        assert_eq!(b.text(e), "1/t^3");
        let nt = b.pow(t, mhalf);
        let e = b.pow(nt, two);
        assert_eq!(b.text(e), "(1/sqrt(t))^2");
    }

    #[test]
    fn coefficients_fold_into_numerator_and_denominator() {
        let mut b = B::new();
        let (t, x, y) = (b.s("t"), b.s("x"), b.s("y"));
        let one = b.n(1);
        let m1 = b.n(-1);
        let two = b.n(2);
        let yi = b.pow(y, m1);
        let c = b.q(3, 2);
        let e = b.mul(&[c, x, yi]);
        assert_eq!(b.text(e), "3*x/(2*y)");
        assert_eq!(b.latex(e), "\\frac{3\\,x}{2\\,y}");
        let c = b.q(-3, 2);
        let e = b.mul(&[c, x, yi]);
        assert_eq!(b.text(e), "-3*x/(2*y)");
        let c = b.q(-1, 2);
        let e = b.mul(&[c, x]);
        assert_eq!(b.text(e), "-x/2");
        assert_eq!(b.latex(e), "-\\frac{x}{2}");
        let c = b.q(-1, 4);
        let ti = b.pow(t, m1);
        let e = b.mul(&[c, ti]);
        assert_eq!(b.text(e), "-1/(4*t)");
        assert_eq!(b.latex(e), "-\\frac{1}{4\\,t}");
        let c = b.q(199, 40);
        let t2 = b.pow(t, two);
        let e = b.mul(&[c, t2]);
        assert_eq!(b.text(e), "199*t^2/40");
        assert_eq!(b.latex(e), "\\frac{199\\,t^{2}}{40}");
        let mt = b.neg(t);
        let omt = b.add(&[one, mt]);
        let d = b.pow(omt, m1);
        let e = b.mul(&[two, t, d]);
        assert_eq!(b.text(e), "2*t/(1 - t)");
        assert_eq!(b.latex(e), "\\frac{2\\,t}{1 - t}");
        // Several rational factors, some nested, fold into one coefficient.
        let three = b.n(3);
        let inner = b.mul(&[three, x]);
        let e = b.mul(&[x, two, inner, m1]);
        assert_eq!(b.text(e), "-6*x*x");
        let e = b.mul(&[]);
        assert_eq!(b.text(e), "1");
        let e = b.add(&[]);
        assert_eq!(b.text(e), "0");
    }

    #[test]
    fn quotients_with_sums_and_products() {
        let mut b = B::new();
        let (t, x, y, z) = (b.s("t"), b.s("x"), b.s("y"), b.s("z"));
        let one = b.n(1);
        let m1 = b.n(-1);
        let m2 = b.n(-2);
        let mt = b.neg(t);
        let opt = b.add(&[one, t]);
        let omt = b.add(&[one, mt]);
        let d = b.pow(omt, m1);
        let e = b.mul(&[opt, d]);
        assert_eq!(b.text(e), "(1 + t)/(1 - t)");
        assert_eq!(b.latex(e), "\\frac{1 + t}{1 - t}");
        let yi = b.pow(y, m1);
        let zi = b.pow(z, m1);
        let e = b.mul(&[x, yi, zi]);
        assert_eq!(b.text(e), "x/(y*z)");
        let y2 = b.pow(y, m2);
        let e = b.mul(&[x, y2]);
        assert_eq!(b.text(e), "x/y^2");
        let e = b.mul(&[yi, zi]);
        assert_eq!(b.text(e), "1/(y*z)");
        let e = b.pow(omt, m1);
        assert_eq!(b.text(e), "1/(1 - t)");
        let yz = b.mul(&[y, z]);
        let e = b.pow(yz, m1);
        assert_eq!(b.text(e), "1/(y*z)");
        let neg_two = b.pow(m2, m1);
        assert_eq!(b.text(neg_two), "1/(-2)");
        let q = b.mul(&[y, zi]);
        let e = b.pow(x, q);
        assert_eq!(b.text(e), "x^(y/z)");
        let e = b.pow(q, x);
        assert_eq!(b.text(e), "(y/z)^x");
        assert_eq!(b.latex(e), "\\left(\\frac{y}{z}\\right)^{x}");
        let qi = b.pow(q, m1);
        let e = b.mul(&[x, qi]);
        assert_eq!(b.text(e), "x/(y/z)");
        let e = b.add(&[x, q]);
        assert_eq!(b.text(e), "x + y/z");
        let nq = b.neg(q);
        let e = b.add(&[x, nq]);
        assert_eq!(b.text(e), "x - y/z");
    }

    #[test]
    fn sqrt_and_inverse_sqrt() {
        let mut b = B::new();
        let (t, x) = (b.s("t"), b.s("x"));
        let one = b.n(1);
        let three = b.n(3);
        let half = b.q(1, 2);
        let mhalf = b.q(-1, 2);
        let e = b.pow(x, half);
        assert_eq!(b.text(e), "sqrt(x)");
        assert_eq!(b.latex(e), "\\sqrt{x}");
        let sq = e;
        let e = b.pow(sq, three);
        assert_eq!(b.text(e), "sqrt(x)^3");
        let e = b.pow(x, mhalf);
        assert_eq!(b.text(e), "1/sqrt(x)");
        assert_eq!(b.latex(e), "\\frac{1}{\\sqrt{x}}");
        let mt = b.neg(t);
        let omt = b.add(&[one, mt]);
        let d = b.pow(omt, mhalf);
        let e = b.mul(&[x, d]);
        assert_eq!(b.text(e), "x/sqrt(1 - t)");
        let e = b.pow(omt, half);
        assert_eq!(b.text(e), "sqrt(1 - t)");
        assert_eq!(b.latex(e), "\\sqrt{1 - t}");
        let m32 = b.q(-3, 2);
        let e = b.pow(x, m32);
        assert_eq!(b.text(e), "1/x^(3/2)");
        assert_eq!(b.latex(e), "\\frac{1}{x^{\\frac{3}{2}}}");
    }

    #[test]
    fn sums_with_negative_leading_terms() {
        let mut b = B::new();
        let (t, x, y, z) = (b.s("t"), b.s("x"), b.s("y"), b.s("z"));
        let one = b.n(1);
        let m1 = b.n(-1);
        let mt = b.neg(t);
        let e = b.add(&[one, mt]);
        assert_eq!(b.text(e), "1 - t");
        let e = b.add(&[m1, t]);
        assert_eq!(b.text(e), "t - 1");
        let (nx, ny, nz) = (b.neg(x), b.neg(y), b.neg(z));
        let e = b.add(&[nx, ny]);
        assert_eq!(b.text(e), "-x - y");
        let e = b.add(&[nx, y, nz]);
        assert_eq!(b.text(e), "y - x - z");
        let e = b.add(&[nx, ny, z]);
        assert_eq!(b.text(e), "z - x - y");
        let s = b.add(&[y, z]);
        let ns = b.neg(s);
        let e = b.add(&[x, ns]);
        assert_eq!(b.text(e), "x - (y + z)");
        let e = b.add(&[ns, x]);
        assert_eq!(b.text(e), "x - (y + z)");
        let e = b.add(&[x, s]);
        assert_eq!(b.text(e), "x + (y + z)");
        let e = b.add(&[s, x]);
        assert_eq!(b.text(e), "y + z + x");
        let e = b.add(&[nx]);
        assert_eq!(b.text(e), "-x");
    }

    #[test]
    fn calls_constants_and_symbols() {
        let mut b = B::new();
        let x = b.s("x");
        let two = b.n(2);
        let one = b.n(1);
        let pi = b.c(Constant::Pi);
        let e_ = b.c(Constant::E);
        assert_eq!(b.text(pi), "pi");
        assert_eq!(b.text(e_), "exp(1)");
        let e = b.pow(e_, x);
        assert_eq!(b.text(e), "exp(1)^x");
        assert_eq!(b.latex(e), "e^{x}");
        let e = b.mul(&[two, pi]);
        assert_eq!(b.text(e), "2*pi");
        assert_eq!(b.latex(e), "2\\,\\pi");
        let pi2 = b.pow(pi, two);
        let sixth = b.q(1, 6);
        let e = b.mul(&[sixth, pi2]);
        assert_eq!(b.text(e), "pi^2/6");
        assert_eq!(b.latex(e), "\\frac{\\pi^{2}}{6}");
        let sin = b.call(Func::Sin, x);
        let sin2 = b.pow(sin, two);
        let nsin2 = b.neg(sin2);
        let e = b.call(Func::Exp, nsin2);
        assert_eq!(b.text(e), "exp(-sin(x)^2)");
        assert_eq!(b.latex(e), "\\exp\\left(-\\sin\\left(x\\right)^{2}\\right)");
        let ex = b.call(Func::Exp, x);
        let s = b.add(&[one, ex]);
        let e = b.call(Func::Log, s);
        assert_eq!(b.text(e), "log(1 + exp(x))");
        let fresh = b.s("_s1");
        assert_eq!(b.text(fresh), "_s1");
        assert_eq!(b.latex(fresh), "s_{1}");
        for f in Func::ALL {
            let e = b.call(f, x);
            assert_eq!(b.text(e), format!("{}(x)", f.name()));
        }
    }

    #[test]
    fn latex_representative() {
        let mut b = B::new();
        let (t, x) = (b.s("t"), b.s("x"));
        let (bmin, bmax) = (b.s("beta_min"), b.s("beta_max"));
        let two = b.n(2);
        let three = b.n(3);
        let nmin = b.neg(bmin);
        let diff = b.add(&[bmax, nmin]);
        let slope = b.mul(&[t, diff]);
        let e = b.add(&[bmin, slope]);
        assert_eq!(b.text(e), "beta_min + t*(beta_max - beta_min)");
        assert_eq!(
            b.latex(e),
            "\\beta_{\\mathrm{min}} + t\\,\\left(\\beta_{\\mathrm{max}} - \\beta_{\\mathrm{min}}\\right)"
        );
        let cos = b.call(Func::Cos, x);
        let e = b.pow(cos, two);
        assert_eq!(b.latex(e), "\\cos\\left(x\\right)^{2}");
        let e = b.call(Func::Abs, x);
        assert_eq!(b.latex(e), "\\left|x\\right|");
        let e = b.call(Func::Sigmoid, x);
        assert_eq!(b.latex(e), "\\operatorname{sigmoid}\\left(x\\right)");
        let e = b.call(Func::Asin, x);
        assert_eq!(b.latex(e), "\\arcsin\\left(x\\right)");
        let e = b.call(Func::Log1p, x);
        assert_eq!(b.latex(e), "\\operatorname{log1p}\\left(x\\right)");
        let half = b.q(1, 2);
        let e = b.pow(half, t);
        assert_eq!(b.latex(e), "\\left(\\frac{1}{2}\\right)^{t}");
        let th = b.q(3, 2);
        let e = b.pow(t, th);
        assert_eq!(b.latex(e), "t^{\\frac{3}{2}}");
        let p = b.pow(three, t);
        let e = b.mul(&[two, p]);
        assert_eq!(b.text(e), "2*3^t");
        assert_eq!(b.latex(e), "2 \\cdot 3^{t}");
        let nt = b.neg(t);
        let e = b.pow(x, nt);
        assert_eq!(b.latex(e), "x^{-t}");
        let m2 = b.n(-2);
        let e = b.pow(m2, t);
        assert_eq!(b.latex(e), "\\left(-2\\right)^{t}");
        let ab = b.s("alpha_bar");
        let omab = b.add(&[ab, nt]);
        let sq = b.sqrt_of(omab);
        assert_eq!(b.latex(sq), "\\sqrt{\\bar{\\alpha} - t}");
        let s = b.add(&[t, x]);
        let e = b.neg(s);
        assert_eq!(b.latex(e), "-\\left(t + x\\right)");
    }

    #[test]
    fn symbol_latex_rules() {
        let cases = [
            ("x", "x"),
            ("t", "t"),
            ("alpha", "\\alpha"),
            ("beta", "\\beta"),
            ("sigma", "\\sigma"),
            ("lambda", "\\lambda"),
            ("Sigma", "\\Sigma"),
            ("beta_min", "\\beta_{\\mathrm{min}}"),
            ("s_max", "s_{\\mathrm{max}}"),
            ("alpha_bar", "\\bar{\\alpha}"),
            ("alpha_bar_t", "\\bar{\\alpha}_{t}"),
            ("sigma_t", "\\sigma_{t}"),
            ("x_0", "x_{0}"),
            ("x_alpha", "x_{\\alpha}"),
            ("x_1_2", "x_{1,2}"),
            ("snr", "\\mathrm{snr}"),
            ("log_snr", "\\mathrm{log}_{\\mathrm{snr}}"),
            ("g2", "g_{2}"),
            ("_s1", "s_{1}"),
            ("_u12", "u_{12}"),
            ("_1", "1"),
            ("a__b", "a_{{},b}"),
        ];
        for (name, want) in cases {
            assert_eq!(symbol_latex(name), want, "{name}");
        }
    }

    #[test]
    fn output_is_deterministic_across_pools() {
        let build = |order: &[&str]| {
            let mut b = B::new();
            for n in order {
                b.s(n);
            }
            let (x, y) = (b.s("x"), b.s("y"));
            let m1 = b.n(-1);
            let yi = b.pow(y, m1);
            let e = b.mul(&[x, yi]);
            (b.text(e), b.latex(e))
        };
        assert_eq!(build(&["x", "y"]), build(&["y", "x"]));
    }

    /// A random expression tree of bounded depth (non-canonical on purpose).
    #[derive(Clone, Debug)]
    enum Tree {
        Rat(i64, i64),
        Const(bool),
        Sym(usize),
        Add(Vec<Tree>),
        Mul(Vec<Tree>),
        Pow(Box<Tree>, Box<Tree>),
        Call(usize, Box<Tree>),
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = prop_oneof![
            (-5i64..6, 1i64..4).prop_map(|(n, d)| Tree::Rat(n, d)),
            any::<bool>().prop_map(Tree::Const),
            (0usize..4).prop_map(Tree::Sym),
        ];
        leaf.prop_recursive(4, 48, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Tree::Add),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Tree::Mul),
                (inner.clone(), inner.clone())
                    .prop_map(|(b, e)| Tree::Pow(Box::new(b), Box::new(e))),
                (0usize..Func::ALL.len(), inner).prop_map(|(f, a)| Tree::Call(f, Box::new(a))),
            ]
        })
    }

    fn build(b: &mut B, t: &Tree) -> ExprId {
        match t {
            Tree::Rat(n, d) => b.q(*n, *d),
            Tree::Const(pi) => b.c(if *pi { Constant::Pi } else { Constant::E }),
            Tree::Sym(i) => b.s(["t", "x", "beta_min", "_s1"][*i]),
            Tree::Add(xs) => {
                let ids: Vec<ExprId> = xs.iter().map(|x| build(b, x)).collect();
                b.add(&ids)
            }
            Tree::Mul(xs) => {
                let ids: Vec<ExprId> = xs.iter().map(|x| build(b, x)).collect();
                b.mul(&ids)
            }
            Tree::Pow(x, y) => {
                let (x, y) = (build(b, x), build(b, y));
                b.pow(x, y)
            }
            Tree::Call(f, a) => {
                let a = build(b, a);
                b.call(Func::ALL[*f], a)
            }
        }
    }

    fn balanced(s: &str, open: &str, close: &str) -> bool {
        let mut depth: i64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            if rest.starts_with(open) {
                depth += 1;
                rest = &rest[open.len()..];
            } else if rest.starts_with(close) {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
                rest = &rest[close.len()..];
            } else {
                let n = rest.chars().next().map_or(1, char::len_utf8);
                rest = &rest[n..];
            }
        }
        depth == 0
    }

    /// Test oracle: an f64 evaluator of the text grammar (`+ -` < `* /` < unary minus <
    /// right-associative `^` < atoms). It is stricter than the language (an exponent may not
    /// start with `-`), so it also rejects text the printer must never produce.
    struct Eval<'s> {
        s: &'s [u8],
        i: usize,
    }

    const VALUES: [(&str, f64); 4] = [("t", 0.3), ("x", 1.7), ("beta_min", 0.1), ("_s1", 2.5)];

    impl Eval<'_> {
        fn parse(text: &str) -> Option<f64> {
            let mut p = Eval {
                s: text.as_bytes(),
                i: 0,
            };
            let v = p.sum()?;
            (p.i == p.s.len()).then_some(v)
        }
        fn eat(&mut self, tok: &str) -> bool {
            let hit = self.s[self.i..].starts_with(tok.as_bytes());
            if hit {
                self.i += tok.len();
            }
            hit
        }
        fn sum(&mut self) -> Option<f64> {
            let mut v = self.product()?;
            loop {
                if self.eat(" + ") {
                    v += self.product()?;
                } else if self.eat(" - ") {
                    v -= self.product()?;
                } else {
                    return Some(v);
                }
            }
        }
        fn product(&mut self) -> Option<f64> {
            let mut v = self.unary()?;
            loop {
                if self.eat("*") {
                    v *= self.unary()?;
                } else if self.eat("/") {
                    v /= self.unary()?;
                } else {
                    return Some(v);
                }
            }
        }
        fn unary(&mut self) -> Option<f64> {
            if self.eat("-") {
                return Some(-self.unary()?);
            }
            self.power()
        }
        fn power(&mut self) -> Option<f64> {
            let b = self.atom()?;
            if self.eat("^") {
                return Some(b.powf(self.power()?));
            }
            Some(b)
        }
        fn atom(&mut self) -> Option<f64> {
            if self.eat("(") {
                let v = self.sum()?;
                return self.eat(")").then_some(v);
            }
            let start = self.i;
            let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
            while self.i < self.s.len() && word(self.s[self.i]) {
                self.i += 1;
            }
            let w = std::str::from_utf8(&self.s[start..self.i]).ok()?;
            if w.is_empty() {
                return None;
            }
            if w.bytes().all(|c| c.is_ascii_digit()) {
                return w.parse().ok();
            }
            if self.eat("(") {
                let a = self.sum()?;
                return self.eat(")").then(|| call(w, a)).flatten();
            }
            if w == "pi" {
                return Some(std::f64::consts::PI);
            }
            VALUES.iter().find(|(n, _)| *n == w).map(|(_, v)| *v)
        }
    }

    fn call(name: &str, a: f64) -> Option<f64> {
        Some(match name {
            "sqrt" => a.sqrt(),
            "exp" => a.exp(),
            "log" => a.ln(),
            "sin" => a.sin(),
            "cos" => a.cos(),
            "tan" => a.tan(),
            "asin" => a.asin(),
            "acos" => a.acos(),
            "atan" => a.atan(),
            "sinh" => a.sinh(),
            "cosh" => a.cosh(),
            "tanh" => a.tanh(),
            "sigmoid" => 1.0 / (1.0 + (-a).exp()),
            "expm1" => a.exp_m1(),
            "log1p" => a.ln_1p(),
            "abs" => a.abs(),
            _ => return None,
        })
    }

    /// Direct f64 evaluation of a tree; also returns the largest intermediate magnitude.
    fn eval_tree(t: &Tree, big: &mut f64) -> f64 {
        let v = match t {
            Tree::Rat(n, d) => *n as f64 / *d as f64,
            Tree::Const(true) => std::f64::consts::PI,
            Tree::Const(false) => std::f64::consts::E,
            Tree::Sym(i) => VALUES[*i].1,
            Tree::Add(xs) => xs.iter().map(|x| eval_tree(x, big)).sum(),
            Tree::Mul(xs) => xs.iter().map(|x| eval_tree(x, big)).product(),
            Tree::Pow(b, e) => eval_tree(b, big).powf(eval_tree(e, big)),
            Tree::Call(f, a) => call(Func::ALL[*f].name(), eval_tree(a, big)).unwrap_or(f64::NAN),
        };
        *big = big.max(v.abs());
        v
    }

    #[test]
    fn oracle_reads_precedence_like_the_grammar() {
        assert_eq!(Eval::parse("-2^2"), Some(-4.0));
        assert_eq!(Eval::parse("2^3^2"), Some(512.0));
        assert_eq!(Eval::parse("8/2/2"), Some(2.0));
        assert_eq!(Eval::parse("5 - 2 - 1"), Some(2.0));
        assert_eq!(Eval::parse("2*(1 + 3)"), Some(8.0));
        assert_eq!(Eval::parse("2^-1"), None);
        assert_eq!(Eval::parse("(1 + 2"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn text_is_well_formed(t in tree()) {
            let mut b = B::new();
            let e = build(&mut b, &t);
            let text = b.text(e);
            prop_assert!(balanced(&text, "(", ")"), "unbalanced: {text}");
            for bad in ["+ -", "- -", "--", "+-", "*-", "/-", "^-", "()", "  "] {
                prop_assert!(!text.contains(bad), "{bad:?} in {text}");
            }
            prop_assert!(!text.starts_with(' ') && !text.ends_with(' '), "{text}");
        }

        #[test]
        fn text_evaluates_like_the_tree(t in tree()) {
            let mut b = B::new();
            let e = build(&mut b, &t);
            let text = b.text(e);
            let mut big = 0.0f64;
            let want = eval_tree(&t, &mut big);
            let got = Eval::parse(&text);
            prop_assert!(got.is_some(), "does not parse: {text}");
            if want.is_finite() && big < 1e6 {
                let got = got.unwrap_or(f64::NAN);
                prop_assert!((got - want).abs() <= 1e-7 * (1.0 + big), "{text}: {got} != {want}");
            }
        }

        #[test]
        fn latex_is_well_formed(t in tree()) {
            let mut b = B::new();
            let e = build(&mut b, &t);
            let latex = b.latex(e);
            prop_assert!(balanced(&latex, "{", "}"), "unbalanced braces: {latex}");
            prop_assert!(balanced(&latex, "\\left(", "\\right)"), "unbalanced: {latex}");
            prop_assert!(balanced(&latex, "\\left|", "\\right|"), "unbalanced: {latex}");
            for bad in ["+ -", "- -", "--", "^-", "\\,-", "}{}"] {
                prop_assert!(!latex.contains(bad), "{bad:?} in {latex}");
            }
        }
    }
}
