//! Score-error geometry (docs/theory.md section 11): the Helmholtz-Hodge decomposition of a
//! learned score's error `e` in L^2(p) into a gradient part, which moves the sampled
//! marginals, and a p-solenoidal part, which does not.
//!
//! - [`lower`]: `error` declarations (`linear(...)`, `field([...])`) and their values;
//! - [`gaussian`]: the exact decomposition for a Gaussian p and an affine e (a Lyapunov
//!   equation), in rational arithmetic where the data are rational;
//! - [`invisible`]: the symbolic proof that a solenoidal error leaves the covariance
//!   dynamics of the probability-flow ODE and the reverse SDE unchanged;
//! - [`estimate`]: the projection onto gradients estimated without the true score (Stein's
//!   identity, polynomial potentials), for mixtures and non-linear errors;
//! - [`poisson`]: a finite-volume solve of the weighted Poisson problem in 2-D, the
//!   reference the estimator is validated against.

pub mod estimate;
pub mod gaussian;
pub mod invisible;
pub mod lower;
pub mod poisson;

use num_rational::BigRational;

use crate::expr::{ExprId, Pool, Symbol, ball, eval, limit, simplify, subst};

/// A real number that is exact when it is known to be rational; `value` is then its
/// nearest f64.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub exact: Option<BigRational>,
    pub value: f64,
}

impl Scalar {
    pub fn exact(r: BigRational) -> Scalar {
        Scalar {
            value: eval::rational_to_f64(&r),
            exact: Some(r),
        }
    }

    pub fn float(value: f64) -> Scalar {
        Scalar { exact: None, value }
    }
}

/// `e`, a function of the time symbol `t` alone, at the exact time `at` (`None`: `e` is
/// constant): exact when it simplifies to a rational, else the certified nearest f64 (the
/// one-sided limit at an end of [0, 1]). `Err` is why it has no finite value (or none
/// within f64's range).
pub fn value_at(
    pool: &mut Pool,
    e: ExprId,
    t: Symbol,
    at: Option<&BigRational>,
) -> Result<Scalar, String> {
    let there = match at {
        Some(r) => {
            let v = pool.rational(r.clone());
            subst::subst1(pool, e, t, v)
        }
        None => e,
    };
    let there = simplify::simplify(pool, there);
    if let Some(r) = pool.as_rational(there)
        && eval::rational_to_f64(r).is_finite()
    {
        return Ok(Scalar::exact(r.clone()));
    }
    let env: Vec<(Symbol, BigRational)> = at.map(|r| (t, r.clone())).into_iter().collect();
    let bits = limit::value_at(pool, e, &env, &[t], limit::MAX_POINT_BITS, &ball::round_f64)
        .map_err(|err| err.to_string())?;
    let v = f64::from_bits(bits);
    // A nonzero value that rounds to 0 or a subnormal has lost its digits (alpha^2 =
    // e^-900): not a value to print or compute with, and not the zero it would seem.
    if (v == 0.0 || v.is_subnormal())
        && ball::certainly_nonzero(pool, e, &env, limit::MAX_POINT_BITS)
    {
        return Err("not 0, but below f64's range".to_owned());
    }
    if v.is_finite() {
        Ok(Scalar::float(v))
    } else {
        Err("not a finite f64".to_owned())
    }
}

impl Scalar {
    /// `self * other`, exact when both are.
    pub fn times(&self, other: &Scalar) -> Scalar {
        match (&self.exact, &other.exact) {
            (Some(a), Some(b)) => Scalar::exact(a * b),
            _ => Scalar::float(self.value * other.value),
        }
    }

    /// `self + other`, exact when both are.
    pub fn plus(&self, other: &Scalar) -> Scalar {
        match (&self.exact, &other.exact) {
            (Some(a), Some(b)) => Scalar::exact(a + b),
            _ => Scalar::float(self.value + other.value),
        }
    }
}
