//! LaTeX of an assertion as it was written: calls of fields and quantities stay calls
//! (`\mathrm{pf\_velocity\_eps}(x, \varepsilon, t)`), so `derive --format latex` states
//! what was proved rather than its expansion.

use num_traits::Signed;

use super::Assertion;
use super::derive::Quantity;
use crate::expr::Func;
use crate::expr::print::{func_latex, symbol_latex};
use crate::syntax::ast::{Binder, Expr, ExprKind, MulOp, Sign};

/// `lhs &= rhs`, followed by the `forall` variables and their intervals, for an `align*`
/// row.
pub fn assertion_latex(a: &Assertion) -> String {
    let [lhs, rhs] = &a.written;
    let mut s = format!("{} &= {}", expr(lhs), expr(rhs));
    if !a.binders.is_empty() {
        let vars: Vec<String> = a.binders.iter().map(binder).collect();
        s.push_str(&format!(" && \\text{{for all }} {}", vars.join(",\\ ")));
    }
    s
}

fn binder(b: &Binder) -> String {
    let name = symbol_latex(&b.name.name);
    match &b.domain {
        None => name,
        Some(i) => format!(
            "{name} \\in {}{}, {}{}",
            if i.lo_closed { "[" } else { "(" },
            end(&i.lo),
            end(&i.hi),
            if i.hi_closed { "]" } else { ")" },
        ),
    }
}

/// An interval's end: `inf` is `\infty`.
fn end(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Ident(n) if n == "inf" => "\\infty".to_owned(),
        ExprKind::Neg(x) if matches!(&x.kind, ExprKind::Ident(n) if n == "inf") => {
            "-\\infty".to_owned()
        }
        _ => expr(e),
    }
}

/// Binding strength, loosest first, of what [`expr`] prints.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Sum,
    Neg,
    Product,
    Pow,
    Atom,
}

fn prec(e: &Expr) -> Prec {
    match &e.kind {
        ExprKind::Sum { .. } => Prec::Sum,
        ExprKind::Neg(_) => Prec::Neg,
        ExprKind::Product { rest, .. } if rest.iter().any(|(op, _, _)| *op == MulOp::Div) => {
            // `\frac{}{}` is a visual group.
            Prec::Pow
        }
        ExprKind::Product { .. } => Prec::Product,
        ExprKind::Power(_) => Prec::Pow,
        ExprKind::Number(r) if !r.is_integer() => Prec::Pow,
        ExprKind::Number(r) if r.is_negative() => Prec::Neg,
        _ => Prec::Atom,
    }
}

fn wrapped(e: &Expr, at_least: Prec) -> String {
    if prec(e) < at_least {
        format!("\\left({}\\right)", expr(e))
    } else {
        expr(e)
    }
}

/// LaTeX of an expression as written. Parentheses the user wrote are kept where the
/// typeset form still needs them, dropped where a fraction or an exponent groups already.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number(r) if r.is_integer() => r.to_string(),
        ExprKind::Number(r) => format!("\\tfrac{{{}}}{{{}}}", r.numer(), r.denom()),
        ExprKind::Ident(n) if n == "pi" => "\\pi".to_owned(),
        ExprKind::Ident(n) => symbol_latex(n),
        ExprKind::Paren(x) => match prec(x) {
            Prec::Sum | Prec::Neg => format!("\\left({}\\right)", expr(x)),
            _ => expr(x),
        },
        ExprKind::Neg(x) => format!("-{}", wrapped(x, Prec::Product)),
        ExprKind::Sum { first, rest } => {
            let mut s = expr(first);
            for (sign, _, t) in rest {
                let op = if *sign == Sign::Plus { " + " } else { " - " };
                s.push_str(op);
                s.push_str(&wrapped(t, Prec::Product));
            }
            s
        }
        ExprKind::Product { first, rest } => {
            let mut num = vec![wrapped(first, Prec::Neg)];
            let mut den = Vec::new();
            for (op, _, f) in rest {
                match op {
                    MulOp::Mul => num.push(wrapped(f, Prec::Product)),
                    MulOp::Div => den.push(wrapped(f, Prec::Product)),
                }
            }
            let num = num.join(" \\, ");
            if den.is_empty() {
                num
            } else {
                format!("\\frac{{{num}}}{{{}}}", den.join(" \\, "))
            }
        }
        ExprKind::Power(xs) => {
            let mut it = xs.iter().rev();
            let mut s = it.next().map(expr).unwrap_or_default();
            for b in it {
                s = format!("{{{}}}^{{{s}}}", wrapped(b, Prec::Atom));
            }
            s
        }
        ExprKind::Call { func, args } => call(&func.name, args),
    }
}

/// The LaTeX name of a function of a process: a derived quantity's symbol, a name of
/// several letters upright as a whole (`\\mathrm{logp\\_cond}`), else the symbol as the
/// papers write it (`\\bar{\\alpha}`, `\\beta`).
pub fn function_latex(name: &str) -> String {
    match Quantity::from_name(name) {
        Some(q) => q.latex().to_owned(),
        None if symbol_latex(name).starts_with("\\mathrm") => {
            format!("\\mathrm{{{}}}", name.replace('_', "\\_"))
        }
        None => symbol_latex(name),
    }
}

fn call(name: &str, args: &[Expr]) -> String {
    let list = || args.iter().map(expr).collect::<Vec<_>>().join(", ");
    match (name, args) {
        ("sqrt", [x]) => return format!("\\sqrt{{{}}}", expr(x)),
        ("abs", [x]) => return format!("\\left|{}\\right|", expr(x)),
        ("integrate", [f, v, lo, hi]) => {
            return format!(
                "\\int_{{{}}}^{{{}}} {} \\,\\mathrm{{d}}{}",
                expr(lo),
                expr(hi),
                wrapped(f, Prec::Product),
                expr(v)
            );
        }
        ("diff", [f, v]) => {
            return format!(
                "\\frac{{\\partial}}{{\\partial {}}} {}",
                expr(v),
                wrapped(f, Prec::Atom)
            );
        }
        ("diff", [f, v, n]) => {
            let n = expr(n);
            return format!(
                "\\frac{{\\partial^{{{n}}}}}{{\\partial {}^{{{n}}}}} {}",
                expr(v),
                wrapped(f, Prec::Atom)
            );
        }
        _ => {}
    }
    if let Some(f) = Func::from_name(name) {
        return format!("{}\\left({}\\right)", func_latex(f), list());
    }
    let base = name.trim_end_matches('\'');
    let order = name.len() - base.len();
    if super::fields::is_field_name(base) {
        return format!(
            "\\mathrm{{{}}}\\left({}\\right)",
            base.replace('_', "\\_"),
            list()
        );
    }
    let symbol = function_latex(base);
    let head = match order {
        0 => symbol.clone(),
        1 => format!("\\dot{{{symbol}}}"),
        2 => format!("\\ddot{{{symbol}}}"),
        k => format!("{symbol}^{{({k})}}"),
    };
    match args {
        // `\alpha_{t}`, `\dot{\sigma}_{s}`: the papers' notation for a function of time.
        [x] if matches!(&x.kind, ExprKind::Ident(_)) && !symbol.contains(['_', '^']) => {
            format!("{head}_{{{}}}", expr(x))
        }
        _ => format!("{head}\\left({}\\right)", list()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse_expr;

    fn latex(text: &str) -> String {
        expr(&parse_expr(text).expect("parses"))
    }

    #[test]
    fn calls_keep_their_names_and_time_is_a_subscript() {
        assert_eq!(
            latex("alpha'(t)/alpha(t)"),
            "\\frac{\\dot{\\alpha}_{t}}{\\alpha_{t}}"
        );
        assert_eq!(
            latex("pf_velocity_eps(x, eps, t)"),
            "\\mathrm{pf\\_velocity\\_eps}\\left(x, \\varepsilon, t\\right)"
        );
        assert_eq!(latex("g2(t)"), "g^{2}\\left(t\\right)");
        assert_eq!(
            latex("-2*sigma(t)^2*lambda'(t)"),
            "-2 \\, {\\sigma_{t}}^{2} \\, \\dot{\\lambda}_{t}"
        );
        assert_eq!(latex("(a + b)*c"), "\\left(a + b\\right) \\, c");
        assert_eq!(latex("exp(-x)"), "\\exp\\left(-x\\right)");
        assert_eq!(latex("a - (b - c)"), "a - \\left(b - c\\right)");
    }
}
