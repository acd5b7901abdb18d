//! High-precision evaluation (stub until the real one lands).

use astro_float::BigFloat;

use super::eval::EvalError;
use super::pool::{ExprId, Pool, Symbol};

pub const DEFAULT_PRECISION: usize = 256;

pub struct Hp {
    precision: usize,
}

impl Hp {
    pub fn new(precision_bits: usize) -> Hp {
        Hp {
            precision: precision_bits.max(64),
        }
    }

    pub fn eval(
        &mut self,
        _pool: &Pool,
        _e: ExprId,
        _env: &[(Symbol, BigFloat)],
    ) -> Result<BigFloat, EvalError> {
        Ok(BigFloat::from_f64(0.0, self.precision))
    }

    pub fn from_f64(&self, x: f64) -> BigFloat {
        BigFloat::from_f64(x, self.precision)
    }
}

pub fn to_f64(_x: &BigFloat) -> f64 {
    0.0
}

pub fn format_sig(_x: &BigFloat, _digits: usize) -> String {
    String::new()
}
