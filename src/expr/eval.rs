//! f64 evaluation (stub until the real one lands).

use super::pool::{ExprId, Pool, Symbol};

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("{func} is undefined at {arg}")]
    Domain { func: &'static str, arg: String },
    #[error("division by zero")]
    DivisionByZero,
    #[error("overflow: the result is not a finite number")]
    Overflow,
    #[error("`{0}` has no value here")]
    Unbound(String),
}

pub fn eval_f64(_pool: &Pool, _e: ExprId, _env: &[(Symbol, f64)]) -> Result<f64, EvalError> {
    Ok(0.0)
}

pub fn format_f64(x: f64) -> String {
    format!("{x:.16e}")
}
