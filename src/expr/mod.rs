//! The exact symbolic core: pool, canonical form, simplification, calculus, evaluation, printing.
//!
//! Functions take the pool first (`fn diff(pool: &mut Pool, e: ExprId, x: Symbol)`); the
//! algebra never sees a span and does no IO.

pub mod ball;
pub mod canon;
pub mod diff;
pub mod eval;
pub mod fxhash;
pub mod hp;
pub mod integrate;
pub mod limit;
pub mod poly;
pub mod pool;
pub mod print;
pub mod range;
pub mod rational;
pub mod rules;
pub mod simplify;
pub mod subst;
#[cfg(test)]
pub(crate) mod test_util;
pub mod verify;

pub use pool::{Constant, Domain, ExprId, Func, Node, Pool, Symbol};
