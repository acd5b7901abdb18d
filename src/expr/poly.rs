//! Polynomial and rational-function normalisation (stub until the real one lands).

use super::pool::{ExprId, Pool};

pub const MAX_TERMS: usize = 2000;

pub fn expand(_pool: &mut Pool, e: ExprId) -> ExprId {
    e
}

pub fn together(_pool: &mut Pool, e: ExprId) -> ExprId {
    e
}
