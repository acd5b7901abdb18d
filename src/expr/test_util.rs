//! Test support for the symbolic core: expressions written in the .dsym syntax, and the
//! `check` helpers that show what a pass makes of them.
//!
//! A test of the core reads as input and output, both as a user writes them:
//! `insta::assert_snapshot!(simplified("exp(log(x))"), @"x")`. The snapshot is inline, so
//! the expected form sits next to the input, and `INSTA_UPDATE=always` rewrites it when a
//! change is intended.

use super::{Domain, ExprId, Pool};

/// `text` parsed and lowered, with `t` a symbol whose domain is [0, 1].
pub fn parse_in_unit_t(pool: &mut Pool, text: &str) -> ExprId {
    let t = pool.symbol("t");
    pool.set_domain(t, Domain::UNIT);
    let ast = crate::syntax::parse_expr(text).expect("test input parses");
    crate::process::lower_expr(pool, &ast, &[("t", t)]).expect("test input lowers")
}

/// `text` parsed and lowered, with `t` and `t_next` symbols whose domain is [0, 1] (a
/// step's times).
pub fn parse_in_unit_times(pool: &mut Pool, text: &str) -> ExprId {
    let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
    pool.set_domain(t, Domain::UNIT);
    pool.set_domain(tn, Domain::UNIT);
    let ast = crate::syntax::parse_expr(text).expect("test input parses");
    crate::process::lower_expr(pool, &ast, &[("t", t), ("t_next", tn)]).expect("test input lowers")
}

/// `text` parsed and lowered with `t` in [0, 1] and `x`, `y`, `u` real.
pub fn parse_with_reals(pool: &mut Pool, text: &str) -> ExprId {
    let t = pool.symbol("t");
    pool.set_domain(t, Domain::UNIT);
    let vars = [
        ("t", t),
        ("x", pool.symbol("x")),
        ("y", pool.symbol("y")),
        ("u", pool.symbol("u")),
    ];
    let ast = crate::syntax::parse_expr(text).expect("test input parses");
    crate::process::lower_expr(pool, &ast, &vars).expect("test input lowers")
}

/// What the simplifier makes of `text` (`t` in [0, 1]; `x`, `y`, `u` real), printed.
pub fn simplified(text: &str) -> String {
    let mut pool = Pool::new();
    let e = parse_with_reals(&mut pool, text);
    let s = super::simplify::simplify(&mut pool, e);
    super::print::to_text(&pool, s)
}

/// The derivative of `text` in `t`, simplified and printed.
pub fn derivative(text: &str) -> String {
    let mut pool = Pool::new();
    let e = parse_with_reals(&mut pool, text);
    let t = pool.symbol("t");
    let d = super::diff::diff(&mut pool, e, t);
    let s = super::simplify::simplify(&mut pool, d);
    super::print::to_text(&pool, s)
}

/// The closed form of `int_0^1 text dt`, printed, or the integrator's error.
pub fn integral01(text: &str) -> String {
    let mut pool = Pool::new();
    let e = parse_with_reals(&mut pool, text);
    let t = pool.symbol("t");
    let (zero, one) = (pool.zero(), pool.one());
    match super::integrate::integrate(&mut pool, e, t, zero, one) {
        Ok(v) => super::print::to_text(&pool, v),
        Err(err) => format!("error: {err}"),
    }
}

/// `text` brought to one fraction (`poly::together`), printed.
pub fn together(text: &str) -> String {
    let mut pool = Pool::new();
    let e = parse_with_reals(&mut pool, text);
    let s = super::poly::together(&mut pool, e);
    super::print::to_text(&pool, s)
}
