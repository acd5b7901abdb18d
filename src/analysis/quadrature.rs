//! Quadrature for the analyses, one module with one result type ([`Estimate`]: a value, an
//! error estimate and whether the integral diverges):
//!
//! - [`tanh_sinh`] integrates several f64 functions over [a, b] at once, sharing their
//!   nodes, and flags those whose integrands do not decay at an end (the leading
//!   coefficient's J integrals, where a VP process makes them diverge at t = 0);
//! - [`quadrature`] integrates one expression to a bound (an integrand it cannot resolve is
//!   an error, never a flagged value): composite Gauss-Legendre on
//!   graded panels, each split until two rules agree; where f64 values cancel, the panel is
//!   integrated again from double-double values, and beyond those from certified balls (the
//!   asymptotic series' named integrals).
//!
//! The optimal schedule's fixed point (`optimal.rs`) sums on one fixed grid in ln rho
//! instead: every iteration and the schedule's cumulative integral reuse the same nodes, so
//! an adaptive rule would only re-sample them.

use num_rational::BigRational;

use super::numerics::{DdTape, Sum};
use crate::diag::{Diag, codes};
use crate::expr::{ExprId, Pool, Symbol, ball, eval, hp};

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton on the Legendre recurrence).
pub(crate) fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
            let dx = p1 / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        out.push((x, 2.0 / ((1.0 - x * x) * dp * dp)));
    }
    out
}

/// Geometrically graded base panels at each end in [`quadrature`] (down to 2^-13 from it:
/// an eigenvalue lambda makes the integrands peak within about sqrt(lambda) of t = 0).
const GRADED: usize = 12;

/// Most equal parts a base panel is split into in [`quadrature`] with f64 values, and
/// with certified values (each a ball evaluation, a hundred times dearer).
const MAX_SPLIT: usize = 64;
const MAX_CERTIFIED_SPLIT: usize = 16;

/// The accuracy [`quadrature`] aims at, relative to the integral of |e|.
const QUADRATURE_TOL: f64 = 1e-13;

/// The error claimed for a panel is this many times the difference of its last two rules
/// (each halving of the parts divides the error of a 10-point Gauss rule by about 2^20
/// once the panel is resolved, so the difference is the error of the coarser rule; the
/// factor covers rounding noise in the values, which does not fall with the parts).
const SAFETY: f64 = 10.0;

/// Working precision of certified integrand values: started here, doubled up to the most.
const CERTIFIED_BITS: usize = 128;
const MAX_CERTIFIED_BITS: usize = 2048;

/// `int_a^b e dt` by composite 10-point Gauss-Legendre on base panels graded towards both
/// ends, each split into 1, 2, 4, ... parts until two successive rules agree; the value of
/// the finer rule and an error bound: [`SAFETY`] times their difference plus the rounding
/// of the sums, added over the panels.
///
/// Values come from f64 evaluation of `e` while that converges. A simplified integrand can
/// cancel badly in f64 (a polynomial in `cos(pi t/2)^2` with coefficients 1e11 that sums to
/// 1 near t = 0 loses 11 digits): the rules then stop agreeing better as the parts shrink,
/// since rounding noise does not fall with them. Such a panel is integrated again from
/// double-double values ([`DdTape`]), and where even those are noisy from certified ones
/// (ball arithmetic, correctly rounded to f64), so the difference of two rules measures
/// truncation, not noise.
pub(crate) fn quadrature(
    pool: &Pool,
    e: ExprId,
    t: Symbol,
    a: f64,
    b: f64,
) -> Result<Estimate, Diag> {
    let rule = gauss_legendre(10);
    // Base panels graded geometrically towards both ends (on [0, 1]: [2^-k-1, 2^-k],
    // k < GRADED, and mirrored), where the integrands of a small eigenvalue peak; uniform
    // in between.
    let half = (b - a) / 2.0;
    let mut edges = vec![a];
    for k in (1..=GRADED).rev() {
        edges.push(a + half * 0.5f64.powi(k as i32));
    }
    for k in 1..=GRADED {
        edges.push(b - half * 0.5f64.powi(k as i32));
    }
    edges.push(b);
    let compiled = eval::Compiled::new(pool, e, t);
    let buffer = std::cell::RefCell::new(Vec::new());
    let not_evaluated = |tv: f64, err: String| {
        Diag::new(
            codes::ASYMPTOTICS_QUADRATURE,
            format!("cannot evaluate an integrand at t = {tv}: {err}"),
        )
    };
    let fast = |tv: f64| -> Result<f64, Diag> {
        // f64 first; where the unsimplified integrand cancels to a zero divisor, the value
        // rounded from high precision.
        match compiled.eval(tv, &mut buffer.borrow_mut()) {
            Ok(v) if v.is_finite() => Ok(v),
            _ => {
                let exact = BigRational::from_float(tv).unwrap_or_default();
                hp::eval_rounded(pool, e, &[(t, exact)])
                    .map_err(|err| not_evaluated(tv, err.to_string()))
            }
        }
    };
    let tape = DdTape::new(pool, e, t);
    let dd_buffer = std::cell::RefCell::new(Vec::new());
    let consts = std::cell::RefCell::new(
        astro_float::Consts::new().map_err(|err| not_evaluated(a, err.to_string()))?,
    );
    let certified = |tv: f64| -> Result<f64, Diag> {
        let env = [(t, BigRational::from_float(tv).unwrap_or_default())];
        let mut bits = CERTIFIED_BITS;
        loop {
            match ball::eval_ball(pool, e, &env, bits, &mut consts.borrow_mut()) {
                Ok(v) => {
                    let (lo, hi) = ball::ends(&v, bits);
                    let (lo, hi) = (hp::to_f64(&lo), hp::to_f64(&hi));
                    if lo == hi || bits >= MAX_CERTIFIED_BITS {
                        return Ok(hp::to_f64(&v.mid));
                    }
                }
                Err(ball::BallError::Eval(err)) => return Err(not_evaluated(tv, err.to_string())),
                Err(ball::BallError::Uncertain) if bits >= MAX_CERTIFIED_BITS => {
                    return fast(tv);
                }
                Err(ball::BallError::Uncertain) => {}
            }
            bits *= 2;
        }
    };
    let double_double = |tv: f64| -> Result<f64, Diag> {
        let v = tape.eval(tv, &mut dd_buffer.borrow_mut());
        if v.is_finite() { Ok(v) } else { certified(tv) }
    };
    let levels: [Level<'_>; 3] = [
        (&fast, MAX_SPLIT),
        (&double_double, MAX_SPLIT),
        (&certified, MAX_CERTIFIED_SPLIT),
    ];
    // The rule on [lo, hi] split into `split` equal parts: the sum and the sum of |e|.
    let rule_on = |lo: f64,
                   hi: f64,
                   split: usize,
                   value: &dyn Fn(f64) -> Result<f64, Diag>|
     -> Result<(f64, f64), Diag> {
        let (mut sum, mut abs) = (Sum::new(), Sum::new());
        let w = (hi - lo) / split as f64;
        for k in 0..split {
            let a = lo + k as f64 * w;
            for &(x, wt) in &rule {
                let v = value(a + (x + 1.0) * w / 2.0)?;
                sum.add(wt * w / 2.0 * v);
                abs.add(wt * w / 2.0 * v.abs());
            }
        }
        Ok((sum.value(), abs.value()))
    };
    // One rule per panel first, for the scale of the integral of |e|.
    let first: Vec<(f64, f64)> = edges
        .windows(2)
        .map(|p| rule_on(p[0], p[1], 1, &fast))
        .collect::<Result<_, _>>()?;
    let scale: f64 = first.iter().map(|f| f.1).sum();
    let tol = QUADRATURE_TOL * scale / first.len() as f64;
    let (mut value, mut error) = (Sum::new(), 0.0);
    for (pair, &(start, _)) in edges.windows(2).zip(&first) {
        let (lo, hi) = (pair[0], pair[1]);
        let (v, err) = panel((lo, hi), (a + b) / 2.0, start, tol, &rule_on, &levels)?;
        value.add(v);
        error += err;
    }
    let value = value.value();
    if !value.is_finite() || !error.is_finite() {
        return Err(Diag::new(
            codes::ASYMPTOTICS_QUADRATURE,
            "an integral of the expansion is not finite",
        ));
    }
    // An integral the rules cannot resolve is an error above, so it never diverges here.
    Ok(Estimate {
        value,
        error,
        diverges: false,
    })
}

/// A rule of [`quadrature`]: the panel [lo, hi] in `split` parts, with these values.
type PanelRule<'a> =
    dyn Fn(f64, f64, usize, &dyn Fn(f64) -> Result<f64, Diag>) -> Result<(f64, f64), Diag> + 'a;

/// An evaluator of the integrand and the most parts a panel is split into with it.
type Level<'a> = (&'a dyn Fn(f64) -> Result<f64, Diag>, usize);

/// One base panel of [`quadrature`], whose one-part f64 rule gave `start`: parts doubled
/// until two rules agree within `tol` (or the rounding of the sums). The values come from
/// the first of `levels` (f64) while the differences keep falling; where they stop, the
/// same rule from the next level (more precise, dearer) tells rounding noise (they differ)
/// from slow convergence (they agree), and with noise the panel goes on at that level.
///
/// Rounding error need not be noise: double-double values of a formula that cancels 23
/// digits are smoothly wrong in the ninth, and two rules agree on the wrong integral. So a
/// converged panel is checked near its end away from `middle`, the middle of [a, b] (the
/// end the panels are graded towards, where their integrands cancel most; both ends of the
/// middle panel), against the next level: a deviation that could move the integral by more
/// than `tol` sends the panel to that level, a smaller one is added to its error. The
/// value and its error.
fn panel(
    (lo, hi): (f64, f64),
    middle: f64,
    start: f64,
    tol: f64,
    rule_on: &PanelRule<'_>,
    levels: &[Level<'_>],
) -> Result<(f64, f64), Diag> {
    // Rounding of the sums (and of the values: half an ulp each once they are accurate).
    let floor = |abs: f64| 8.0 * f64::EPSILON * abs;
    // The largest gap between two levels of values at the probes, times the panel width:
    // what that rounding error can do to the integral.
    let bias = |value: &dyn Fn(f64) -> Result<f64, Diag>,
                better: &dyn Fn(f64) -> Result<f64, Diag>|
     -> Result<f64, Diag> {
        let w = hi - lo;
        let (near_lo, near_hi) = (lo + PROBE * w, hi - PROBE * w);
        // The end the panels are graded towards; both ends of the middle panel.
        let probes = if hi <= middle {
            vec![near_lo]
        } else if lo >= middle {
            vec![near_hi]
        } else {
            vec![near_lo, near_hi]
        };
        let mut gap = 0.0f64;
        for t in probes {
            gap = gap.max((value(t)? - better(t)?).abs());
        }
        Ok(gap * w)
    };
    let (mut coarse, mut last_diff) = (start, f64::INFINITY);
    let mut split = 2;
    let mut level = 0;
    // A rule already computed at this level and split.
    let mut known: Option<(f64, f64)> = None;
    // Set once a stall was found not to be noise: no more checks at this level.
    let mut checked = false;
    loop {
        let (value, most) = levels[level];
        let (fine, abs) = match known.take() {
            Some(r) => r,
            None => rule_on(lo, hi, split, value)?,
        };
        let diff = (fine - coarse).abs();
        let next_level = levels.get(level + 1);
        // Once resolved, each halving divides a Gauss rule's error by about 2^20: from
        // split 4 on, a difference that falls by less than 8 is suspect.
        let stalled = !checked && split >= 4 && diff > last_diff / 8.0;
        let escalate = if diff <= tol.max(floor(abs)) {
            let error = SAFETY * diff + floor(abs);
            let Some(&(better, _)) = next_level else {
                return Ok((fine, error));
            };
            let off = bias(value, better)?;
            if off <= tol {
                return Ok((fine, error + SAFETY * off));
            }
            true
        } else if stalled || split >= most {
            let Some(&(better, next_most)) = next_level else {
                if split >= most {
                    // Unresolved: the difference, with the factor, is the best estimate.
                    return Ok((fine, SAFETY * diff + floor(abs)));
                }
                checked = true;
                coarse = fine;
                last_diff = diff;
                split *= 2;
                continue;
            };
            let parts = split.min(next_most);
            let next = rule_on(lo, hi, parts, better)?;
            if split < most && (next.0 - fine).abs() <= diff / 8.0 {
                // Not noise: the panel converges slowly; go on at this level.
                checked = true;
                false
            } else {
                known = Some(next);
                true
            }
        } else {
            false
        };
        if escalate && let Some(&(better, next_most)) = next_level {
            level += 1;
            checked = false;
            split = split.min(next_most).max(2);
            coarse = rule_on(lo, hi, split / 2, better)?.0;
            last_diff = f64::INFINITY;
            continue;
        }
        coarse = fine;
        last_diff = diff;
        split *= 2;
    }
}

/// Where [`panel`] compares two levels of values: the outermost nodes of a 10-point Gauss
/// rule on the panel, as fractions of its width from each end.
const PROBE: f64 = 0.013_046_735_741_414_14;

/// An integral's estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub value: f64,
    /// The difference between the last two levels of the rule.
    pub error: f64,
    /// The integrand does not decay at an end (its outermost terms are not negligible), or
    /// the levels never agreed: the value is no integral.
    pub diverges: bool,
}

/// Integrands for [`tanh_sinh`]: `f(t, w, terms)` writes each one's value at `t` times `w`.
pub type Integrands<'a> = dyn FnMut(f64, f64, &mut [f64]) -> Result<(), Diag> + 'a;

/// Finest tanh-sinh level (step 2^-TS_LEVELS) and the half-width of the u-range.
const TS_LEVELS: u32 = 8;
const TS_U_MAX: f64 = 3.5;
/// Relative agreement of two successive levels that counts as converged.
const TS_TOL: f64 = 1e-11;
/// An outermost term above this fraction of the total means the integrand does not decay
/// at an end fast enough for the rule: a heuristic set for the J integrals of the leading
/// coefficient, whose integrands are bounded or grow like 1/t (then they diverge); an
/// integrable singularity as strong as t^-1/2 is flagged too.
const TS_TAIL: f64 = 1e-9;

/// `int_a^b f_k(t) dt` for `k < count` by tanh-sinh quadrature, which tolerates integrable
/// singularities at the ends. `f(t, w, terms)` writes each integrand's value at `t` times
/// the weight `w` into `terms[k]` (the caller forms the product, so that it controls its
/// rounding); it is never called at an end itself, and an error from it stops the
/// quadrature. Levels of step 2^-l, l = 0..=8, on u in [-3.5, 3.5] (t = (a+b)/2 + (b-a)/2
/// tanh(pi/2 sinh u)), until two successive levels agree to 1e-11 relative for every
/// integral (from level 3 on). Sums are compensated, in node order: the result depends on
/// nothing but the integrands.
pub fn tanh_sinh(
    a: f64,
    b: f64,
    count: usize,
    f: &mut Integrands<'_>,
) -> Result<Vec<Estimate>, Diag> {
    let half = 0.5 * (b - a);
    let mut sums = vec![Sum::new(); count];
    // The largest outermost term of each integral.
    let mut edge = vec![0.0f64; count];
    let mut terms = vec![0.0f64; count];
    let mut at = |u: f64, sums: &mut [Sum], edge: &mut [f64]| -> Result<(), Diag> {
        let y = std::f64::consts::FRAC_PI_2 * u.sinh();
        // Distance from the nearer end in units of `half`: 1 - |tanh y|, exactly formed.
        let d = 2.0 / ((2.0 * y.abs()).exp() + 1.0);
        let t = if u < 0.0 { a + half * d } else { b - half * d };
        if t <= a || t >= b || d == 0.0 {
            return Ok(());
        }
        let w = std::f64::consts::FRAC_PI_2 * u.cosh() / (y.cosh() * y.cosh()) * half;
        f(t, w, &mut terms)?;
        let outermost = u.abs() >= TS_U_MAX - 1e-12 || d < 1e-15;
        for ((s, e), &term) in sums.iter_mut().zip(edge.iter_mut()).zip(&terms) {
            s.add(term);
            if outermost {
                *e = e.max(term);
            }
        }
        Ok(())
    };
    let mut previous: Option<Vec<f64>> = None;
    for level in 0..=TS_LEVELS {
        let h = 0.5f64.powi(level as i32);
        let n = (TS_U_MAX / h).round() as i64;
        // Level 0 takes every node; later levels only the new (odd) ones.
        let (first, stride) = if level == 0 { (0, 1) } else { (1, 2) };
        let mut k = first;
        while k <= n {
            let u = k as f64 * h;
            if k == 0 {
                at(0.0, &mut sums, &mut edge)?;
            } else {
                at(u, &mut sums, &mut edge)?;
                at(-u, &mut sums, &mut edge)?;
            }
            k += stride;
        }
        let est: Vec<f64> = sums.iter().map(|s| s.value() * h).collect();
        let agreed = |prev: &[f64]| {
            est.iter()
                .zip(prev)
                .all(|(x, y)| (x - y).abs() <= TS_TOL * x.abs())
        };
        if level == TS_LEVELS || (level >= 3 && previous.as_deref().is_some_and(agreed)) {
            let prev = previous.unwrap_or_else(|| vec![f64::NAN; count]);
            // Each integral on its own: converged (its levels agree) and decaying at the ends.
            return Ok(est
                .iter()
                .zip(&prev)
                .zip(&edge)
                .map(|((&value, &p), &tail)| {
                    let error = (value - p).abs();
                    Estimate {
                        value,
                        error,
                        diverges: error.is_nan()
                            || error > TS_TOL * value.abs()
                            || tail * h > TS_TAIL * value,
                    }
                })
                .collect());
        }
        previous = Some(est);
    }
    unreachable!("the last level returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several integrals at once, against their closed forms; an integrand that does not
    /// decay at an end is flagged, the others are not.
    #[test]
    fn tanh_sinh_integrates_several_functions_and_flags_divergence() {
        let mut f = |t: f64, w: f64, terms: &mut [f64]| -> Result<(), Diag> {
            terms[0] = w * t * t;
            terms[1] = w * (1.0 - t).sqrt();
            terms[2] = w * t.ln() * t.ln();
            terms[3] = w / t;
            Ok(())
        };
        let e = tanh_sinh(0.0, 1.0, 4, &mut f).expect("no error");
        // int t^2 = 1/3, int (1-t)^1/2 = 2/3, int ln(t)^2 = 2.
        for (k, want) in [(0, 1.0 / 3.0), (1, 2.0 / 3.0), (2, 2.0)] {
            assert!((e[k].value - want).abs() < 1e-12, "{k}: {:?}", e[k]);
            assert!(!e[k].diverges && e[k].error < 1e-10, "{k}: {:?}", e[k]);
        }
        assert!(e[3].diverges, "int 1/t: {:?}", e[3]);
        // On [2, 5]: int t^2 = 39.
        let mut g = |t: f64, w: f64, terms: &mut [f64]| -> Result<(), Diag> {
            terms[0] = w * t * t;
            Ok(())
        };
        let e = tanh_sinh(2.0, 5.0, 1, &mut g).expect("no error");
        assert!((e[0].value - 39.0).abs() < 1e-11, "{:?}", e[0]);
    }
}
