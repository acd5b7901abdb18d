//! What `emit --accuracy` asks for (a budget in ulps, or `fast`) and the forms a
//! function's body can take to meet it; `budget.rs` chooses among them.

use std::fmt;

use super::lower::Mode;

/// The default budget, in ulps.
pub const DEFAULT_ULPS: f64 = 4.0;

/// The least budget: a correctly rounded result is within half an ulp, and nothing is
/// closer.
pub const LEAST_ULPS: f64 = 0.5;

/// What `emit --accuracy` asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Accuracy {
    /// Every scalar value and every coefficient of a field within this many ulps (at least
    /// [`LEAST_ULPS`]) at every checked point.
    Ulps(f64),
    /// Plain f64 operations as written, without the stable rewrites: measured, not bounded.
    Fast,
}

impl Default for Accuracy {
    fn default() -> Accuracy {
        Accuracy::Ulps(DEFAULT_ULPS)
    }
}

impl fmt::Display for Accuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accuracy::Ulps(b) => write!(f, "{b} ulps"),
            Accuracy::Fast => f.write_str("fast"),
        }
    }
}

impl Accuracy {
    /// `fast`, or a number of ulps from 0.5 up.
    pub fn parse(s: &str) -> Result<Accuracy, String> {
        if s == "fast" {
            return Ok(Accuracy::Fast);
        }
        let b: f64 = s.parse().map_err(|_| {
            format!("`{s}` is neither a number of ulps (such as 4 or 0.5) nor `fast`")
        })?;
        if !b.is_finite() {
            return Err(format!(
                "`{s}` is not a finite number of ulps; give a finite number from {LEAST_ULPS} up, or `fast` for no budget"
            ));
        }
        if b < LEAST_ULPS {
            return Err(format!(
                "`{s}` ulps cannot be met: a correctly rounded f64 is within {LEAST_ULPS} ulps, and nothing is closer; give a finite number from {LEAST_ULPS} up, or `fast`"
            ));
        }
        Ok(Accuracy::Ulps(b))
    }

    /// The lowering the budget asks for.
    pub fn mode(self) -> Mode {
        match self {
            Accuracy::Ulps(_) => Mode::Stable,
            Accuracy::Fast => Mode::Naive,
        }
    }

    /// The bound on a scalar function's value and on each coefficient of a field, in ulps
    /// (infinite for [`Accuracy::Fast`]).
    pub fn ulps(self) -> f64 {
        match self {
            Accuracy::Ulps(b) => b,
            Accuracy::Fast => f64::INFINITY,
        }
    }

    /// The bound on the value of a field `sum c_i v_i` of `n` inputs, in ulps of its scale
    /// `s = sum |c_i v_i|`, that follows from coefficients within `B` ulps: each
    /// coefficient's error is below `B ulp(c_i) <= 2 B u |c_i|` (u = 2^-53), so the terms
    /// contribute at most `2 B u s`; the dot product's `n` products round by at most
    /// `u s` together and its `n - 1` sums by `u s` each; and `ulp(s) > u s`. Hence
    /// `2B + n`, for any inputs.
    pub fn field_bound(self, n: usize) -> f64 {
        2.0 * self.ulps() + n as f64
    }
}

/// The number types a function's body runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `--accuracy fast`: the formula as written, in f64, without rewrites or fallback.
    Naive,
    /// The stable form with every operation in f64.
    F64,
    /// The stable form with `wide` of its `ops` operations in double-double, the rest in
    /// f64.
    Mixed { wide: usize, ops: usize },
    /// The stable form with every operation in double-double.
    Dd,
}

impl Form {
    /// The form of a stable body with the operations `wide` marks in double-double.
    pub fn of(wide: &[bool]) -> Form {
        let n = wide.iter().filter(|&&w| w).count();
        if n == 0 {
            Form::F64
        } else if n == wide.len() {
            Form::Dd
        } else {
            Form::Mixed {
                wide: n,
                ops: wide.len(),
            }
        }
    }

    /// The name the tables and the emitted documentation use: `naive`, `f64`,
    /// `mixed(3/25)` (3 of 25 operations in double-double), `double-double`; one word, so
    /// the table splits on whitespace.
    pub fn name(self) -> String {
        match self {
            Form::Naive => "naive".to_owned(),
            Form::F64 => "f64".to_owned(),
            Form::Mixed { wide, ops } => format!("mixed({wide}/{ops})"),
            Form::Dd => "double-double".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_parses_ulps_and_fast_and_refuses_the_impossible() {
        assert_eq!(Accuracy::parse("4"), Ok(Accuracy::Ulps(4.0)));
        assert_eq!(Accuracy::parse("0.5"), Ok(Accuracy::Ulps(0.5)));
        assert_eq!(Accuracy::parse("fast"), Ok(Accuracy::Fast));
        for bad in ["0.25", "0", "-1", "inf", "NaN", "four", ""] {
            assert!(Accuracy::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Accuracy::default().to_string(), "4 ulps");
        // Each refusal says why: below what rounding gives, or no finite number at all.
        let why = |s: &str| Accuracy::parse(s).err().unwrap_or_default();
        assert!(
            why("1e400").contains("not a finite number"),
            "{}",
            why("1e400")
        );
        assert!(why("0.25").contains("cannot be met"), "{}", why("0.25"));
    }

    #[test]
    fn the_field_bound_follows_from_the_coefficients() {
        // Two coefficients within 4 ulps, two roundings of products, one of the sum.
        assert_eq!(Accuracy::Ulps(4.0).field_bound(2), 10.0);
        assert_eq!(Accuracy::Fast.field_bound(2), f64::INFINITY);
    }
}
