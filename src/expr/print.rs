//! Printers (stub until the real one lands).

use super::pool::{ExprId, Pool};

pub fn to_text(pool: &Pool, e: ExprId) -> String {
    format!("{:?}", pool.node(e))
}

pub fn to_latex(pool: &Pool, e: ExprId) -> String {
    to_text(pool, e)
}

pub fn symbol_latex(name: &str) -> String {
    name.to_owned()
}
