//! Test support for the symbolic core: expressions written in the .dsym syntax.

use super::{Domain, ExprId, Pool};

/// `text` parsed and lowered, with `t` a symbol whose domain is [0, 1].
pub fn parse_in_unit_t(pool: &mut Pool, text: &str) -> ExprId {
    let t = pool.symbol("t");
    pool.set_domain(t, Domain::UNIT);
    let ast = crate::syntax::parse_expr(text).expect("test input parses");
    crate::process::lower_expr(pool, &ast, &[("t", t)]).expect("test input lowers")
}
