//! The exact symbolic core: pool, canonical form, simplification, calculus, evaluation, printing.
//!
//! Functions take the pool first (`fn diff(pool: &mut Pool, e: ExprId, x: Symbol)`); the
//! algebra never sees a span and does no IO.

pub mod ball;
pub(crate) mod canon;
pub mod diff;
pub mod eval;
pub(crate) mod fxhash;
pub mod hp;
pub mod instance;
pub(crate) mod integrate;
pub mod limit;
pub mod named;
pub(crate) mod poly;
pub(crate) mod pool;
pub mod print;
pub(crate) mod range;
pub mod ratint;
pub(crate) mod rational;
pub mod rules;
pub(crate) mod series;
pub mod simplify;
pub mod subst;
#[cfg(test)]
pub(crate) mod test_util;
pub mod verify;
pub(crate) mod work;
pub mod zero;

pub use pool::{Constant, Domain, ExprId, Func, Generic, IntegralId, Node, Pool, Symbol};
