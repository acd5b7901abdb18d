//! Error measures of generated code against reference values, shared by `emit --verify`
//! and the `tests/reference.rs` of an emitted crate (which gets a verbatim copy).
//!
//! A scalar function is measured in ulps: the number of f64 values between the result and
//! the correctly rounded reference, and so is each coefficient of a field. A field
//! `sum c_i v_i` as a whole is measured in ulps of the scale `sum |c_i v_i|` (the size of
//! its terms): a result can be no more accurate than its largest term, and that is the
//! error a correctly rounded coefficient already commits. The bounds come with each
//! reference row (`emit --accuracy`).

/// The number of f64 values from `a` to `b` (0 when equal; infinite when either is NaN).
pub fn ulps(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::INFINITY;
    }
    let key = |x: f64| {
        let bits = x.to_bits() as i64;
        if bits < 0 { i64::MIN - bits } else { bits }
    };
    key(a).abs_diff(key(b)) as f64
}

/// The unit in the last place of `x` (a normal f64).
pub fn ulp(x: f64) -> f64 {
    let e = ((x.abs().to_bits() >> 52) & 0x7ff) as i32;
    f64::from_bits(((e.max(53) - 52) as u64) << 52)
}

/// `|got - want|` in ulps of `scale`.
pub fn scaled_error(got: f64, want: f64, scale: f64) -> f64 {
    if !got.is_finite() {
        return f64::INFINITY;
    }
    (got - want).abs() / ulp(scale)
}

/// The error of a scalar function (`scale == 0`, in ulps) or of a field (in ulps of
/// `scale`); an infinite value (a pole) is met exactly or not at all.
pub fn error(got: f64, want: f64, scale: f64) -> f64 {
    if want.is_infinite() {
        return if got == want { 0.0 } else { f64::INFINITY };
    }
    if scale == 0.0 {
        ulps(got, want)
    } else {
        scaled_error(got, want, scale)
    }
}
