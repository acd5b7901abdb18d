//! Checks of a process: its asserts, g2 >= 0 on (0, 1), and the Fokker-Planck equation for a
//! Gaussian source. Each is proved symbolically where the simplifier can, and otherwise
//! checked at high precision at sample points.

use astro_float::{BigFloat, RoundingMode};

use super::{Assertion, ForallVar, Process, time_symbol};
use crate::expr::eval::{self, EvalError};
use crate::expr::hp::{self, Hp};
use crate::expr::{ExprId, Func, Pool, Symbol, diff, instance, range, simplify, subst, zero};

/// How one check fared.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The difference simplifies to 0.
    Proved,
    /// Equal to `max_rel` (relative) at `points` sample points, at 256 bits.
    Checked { points: usize, max_rel: f64 },
    /// An inequality that held at `points` sample points.
    Sampled { points: usize },
    /// A counterexample: where, and what was found there; for an equation, the values of
    /// its two sides there (`undefined (...)` for a side with no value).
    Failed {
        at: String,
        detail: String,
        sides: Option<[String; 2]>,
    },
}

/// Number of sample points for numeric checks.
pub const CHECK_POINTS: usize = 64;

/// Largest relative difference, at 256 bits, that a numeric check accepts.
const TOLERANCE: f64 = 1e-40;

/// Chebyshev nodes of the first kind on (0, 1): endpoints excluded, clustered at both ends.
fn nodes() -> impl Iterator<Item = f64> {
    (0..CHECK_POINTS).map(|k| {
        0.5 - 0.5 * ((2 * k + 1) as f64 * std::f64::consts::PI / (2 * CHECK_POINTS) as f64).cos()
    })
}

/// `assert [forall ...:] lhs == rhs`: an identity in t and the forall variables.
pub fn assertion(pool: &mut Pool, a: &Assertion) -> Verdict {
    equal(pool, a.lhs, a.rhs, &[], &a.vars)
}

/// `lhs == rhs` as functions of t alone.
pub fn identity(pool: &mut Pool, lhs: ExprId, rhs: ExprId) -> Verdict {
    equal(pool, lhs, rhs, &[], &[])
}

/// `lhs == rhs` in t and further symbols, which the numeric fallback fixes at `fixed`.
pub fn identity_at(pool: &mut Pool, lhs: ExprId, rhs: ExprId, fixed: &[(Symbol, f64)]) -> Verdict {
    equal(pool, lhs, rhs, fixed, &[])
}

/// The sample of the `j`-th forall variable at the `k`-th point, in (0, 1): a Weyl sequence
/// with the fractional part of sqrt(prime j) as its step, so variables are sampled
/// independently of t and of each other, and the same way on every run.
fn weyl(j: usize, k: usize) -> f64 {
    const PRIMES: [f64; 8] = [2.0, 3.0, 5.0, 7.0, 11.0, 13.0, 17.0, 19.0];
    let step = PRIMES[j % PRIMES.len()].sqrt().fract() + (j / PRIMES.len()) as f64 * 0.0731;
    (0.5 + (k + 1) as f64 * step).fract()
}

/// `lhs == rhs` as functions of t (and of `vars`, sampled in their domains), with the other
/// variables fixed at `fixed` for the numeric fallback.
fn equal(
    pool: &mut Pool,
    lhs: ExprId,
    rhs: ExprId,
    fixed: &[(Symbol, f64)],
    vars: &[ForallVar],
) -> Verdict {
    let d = pool.sub(lhs, rhs);
    let d = simplify::simplify(pool, d);
    if pool.is_zero(d) || zero::proves_zero(pool, d) {
        return Verdict::Proved;
    }
    let mut unspecified = pool.unspecified_functions(lhs);
    unspecified.extend(pool.unspecified_functions(rhs));
    unspecified.sort_by(|a, b| pool.symbol_name(*a).cmp(pool.symbol_name(*b)));
    unspecified.dedup();
    if unspecified.is_empty() {
        return sampled(pool, lhs, rhs, fixed, vars, "");
    }
    // Not proved for every schedule: check several concrete smooth schedules instead.
    let mut points = 0;
    let mut max_rel = 0.0f64;
    for k in 0..INSTANCES {
        let instances = instances(pool, &unspecified, k);
        let u = pool.var("u");
        let described: Vec<String> = instances
            .iter()
            .map(|i| {
                let shown = subst::subst1(pool, i.body, i.arg, u);
                format!(
                    "{}(u) = {}",
                    pool.symbol_name(i.name),
                    crate::expr::print::to_text(pool, shown)
                )
            })
            .collect();
        let described = format!(" with {}", described.join(", "));
        let (Some(l), Some(r)) = (
            instance::instantiate(pool, lhs, &instances),
            instance::instantiate(pool, rhs, &instances),
        ) else {
            continue;
        };
        match sampled(pool, l, r, fixed, vars, &described) {
            Verdict::Checked {
                points: p,
                max_rel: m,
            } => {
                points += p;
                max_rel = max_rel.max(m);
            }
            failed => return failed,
        }
    }
    if points == 0 {
        return Verdict::Failed {
            at: "every instance".to_owned(),
            detail: "no concrete schedule could stand in for the unspecified functions (their primitives have no closed form)".to_owned(),
            sides: None,
        };
    }
    Verdict::Checked { points, max_rel }
}

/// How many concrete schedules stand in for a generic process's unspecified functions
/// when an identity is not proved.
pub const INSTANCES: usize = 3;

/// The `k`-th concrete stand-in for each unspecified function: smooth, with values in the
/// function's declared range on the whole real line, and coefficients that differ between
/// functions and between instances. `c0 exp(c1 u) + c2 u^2` (c0 > 0, c2 >= 0) for a positive
/// function, `sigmoid(c0 + c1 u + c2 u^2)` for one in (0, 1), `c0 + c1 u + c2 exp(c3 u)`
/// for a real one.
fn instances(pool: &mut Pool, names: &[Symbol], k: usize) -> Vec<instance::Instance> {
    // Quarter-integers in [-2, 2], spread over (instance, function, coefficient).
    let coef = |j: usize, i: usize| -> num_rational::BigRational {
        let h = (k * 7 + j * 13 + i * 5 + 3) % 17;
        num_rational::BigRational::new((h as i64 - 8).into(), 4.into())
    };
    names
        .iter()
        .enumerate()
        .map(|(j, &name)| {
            let arg = pool.fresh_symbol("u");
            let u = pool.sym_expr(arg);
            let c: Vec<ExprId> = (0..4).map(|i| pool.rational(coef(j, i))).collect();
            let abs =
                |pool: &mut Pool, i: usize| pool.rational(num_traits::Signed::abs(&coef(j, i)));
            let domain = pool.domain(name);
            let c1u = pool.mul(vec![c[1], u]);
            let u2 = pool.powi(u, 2);
            let body = if domain.lo > 0.0 && domain.hi <= 1.0 {
                let c2u2 = pool.mul(vec![c[2], u2]);
                let p = pool.add(vec![c[0], c1u, c2u2]);
                pool.call(Func::Sigmoid, p)
            } else if domain.lo > 0.0 {
                let a = abs(pool, 0);
                let half = pool.frac(1, 2);
                let one = pool.one();
                let ha = pool.mul(vec![half, a]);
                let c0 = pool.add(vec![one, ha]);
                let e = pool.call(Func::Exp, c1u);
                let c2 = abs(pool, 2);
                let quarter = pool.frac(1, 4);
                let c2u2 = pool.mul(vec![quarter, c2, u2]);
                let ce = pool.mul(vec![c0, e]);
                pool.add(vec![ce, c2u2])
            } else {
                let c3u = pool.mul(vec![c[3], u]);
                let e = pool.call(Func::Exp, c3u);
                let c2e = pool.mul(vec![c[2], e]);
                pool.add(vec![c[0], c1u, c2e])
            };
            instance::Instance { name, arg, body }
        })
        .collect()
}

/// `lhs == rhs` compared at the sample points; `with` names the instances (for a failure).
fn sampled(
    pool: &mut Pool,
    lhs: ExprId,
    rhs: ExprId,
    fixed: &[(Symbol, f64)],
    vars: &[ForallVar],
    with: &str,
) -> Verdict {
    let t = time_symbol(pool);
    let mut h = Hp::new(hp::DEFAULT_PRECISION);
    let exact = |h: &Hp, x: f64| hp::to_rational(&h.from_f64(x)).expect("a finite number");
    let mut consts =
        astro_float::Consts::new().expect("the constants cache only fails to allocate");
    let mut max_rel = 0.0f64;
    let mut points = 0;
    for (k, x) in nodes().enumerate() {
        let mut env = vec![(t, exact(&h, x))];
        env.extend(fixed.iter().map(|&(s, v)| (s, exact(&h, v))));
        let mut at = format!("t = {}", eval::format_f64(x));
        for (j, var) in vars.iter().enumerate() {
            let v = var.domain.at(weyl(j, k));
            env.push((var.symbol, exact(&h, v)));
            at.push_str(&format!(", {} = {}", var.name, eval::format_f64(v)));
        }
        match compare(pool, lhs, rhs, &env, &mut h, &mut consts) {
            Compared::Equal { rel } => {
                max_rel = max_rel.max(rel);
                points += 1;
            }
            Compared::BothUndefined => {}
            Compared::Differ { left, right } => {
                return Verdict::Failed {
                    at: format!("{at}{with}"),
                    detail: format!("left side {left}, right side {right}"),
                    sides: Some([left, right]),
                };
            }
        }
    }
    if points == 0 {
        return Verdict::Failed {
            at: "every sample point".to_owned(),
            detail: "both sides undefined".to_owned(),
            sides: None,
        };
    }
    Verdict::Checked { points, max_rel }
}

/// An f64 value of alpha or sigma this far above 0 is taken as positive without a
/// certified evaluation: no rounding error of a formula for them reaches it.
const CLEARLY_POSITIVE: f64 = 1e-6;

/// The largest precision a numeric check raises its evaluation to.
const MAX_CHECK_BITS: usize = 4096;

/// How the two sides of an equation compare at one point.
enum Compared {
    /// Certified equal to `TOLERANCE` relative (or indistinguishable from 0 both).
    Equal {
        rel: f64,
    },
    BothUndefined,
    /// Certified different, or defined on one side only: what was found.
    Differ {
        left: String,
        right: String,
    },
}

/// Compares `lhs` and `rhs` at `env` with certified balls, raising the precision from 256
/// bits until the balls decide: equal when the whole difference, radii included, is within
/// `TOLERANCE` of the larger side; different when even the closest points of the two
/// balls are further apart than that. So cancellation in either side (the reference's own
/// error) can neither fail an identity nor pass a false one.
fn compare(
    pool: &Pool,
    lhs: ExprId,
    rhs: ExprId,
    env: &[(Symbol, num_rational::BigRational)],
    h: &mut Hp,
    consts: &mut astro_float::Consts,
) -> Compared {
    use crate::expr::ball::{BallError, eval_ball};
    let rm = RoundingMode::ToEven;
    // Fast path: sides that agree to far below the tolerance at 256 bits in plain
    // arithmetic are equal (two wrong values agreeing to 1e-40 is not a risk worth the
    // cost of balls at every point); anything else is decided by the balls.
    let plain: Vec<(Symbol, BigFloat)> =
        env.iter().map(|(s, r)| (*s, h.from_rational(r))).collect();
    if let (Ok(l), Ok(r)) = (h.eval(pool, lhs, &plain), h.eval(pool, rhs, &plain)) {
        let diff = hp::to_f64(&l.sub(&r, hp::DEFAULT_PRECISION, rm)).abs();
        let scale = hp::to_f64(&l).abs().max(hp::to_f64(&r).abs());
        if scale.is_normal() && diff <= TOLERANCE * scale {
            return Compared::Equal { rel: diff / scale };
        }
    }
    let show = |v: &Result<crate::expr::ball::Ball, BallError>| match v {
        Ok(b) if !hp::to_f64(&b.mid).is_finite() => hp::format_sig(&b.mid, 17),
        Ok(b) => eval::format_f64(hp::to_f64(&b.mid)),
        Err(BallError::Eval(e)) => format!("undefined ({e})"),
        Err(BallError::Uncertain) => "undefined (at a singular point)".to_owned(),
    };
    let mut precision = hp::DEFAULT_PRECISION;
    loop {
        let last = precision >= MAX_CHECK_BITS;
        let l = eval_ball(pool, lhs, env, precision, consts);
        let r = eval_ball(pool, rhs, env, precision, consts);
        match (&l, &r) {
            (Ok(a), Ok(b)) => {
                let wp = precision + 64;
                let diff = a.mid.sub(&b.mid, wp, rm).abs();
                let rad = a.rad.add(&b.rad, 64, RoundingMode::Up);
                let scale = if a.mid.abs().cmp(&b.mid.abs()).is_some_and(|c| c >= 0) {
                    a.mid.abs()
                } else {
                    b.mid.abs()
                };
                let tol = scale.mul(&BigFloat::from_f64(TOLERANCE, 64), 64, RoundingMode::Down);
                let worst = diff.add(&rad, 64, RoundingMode::Up);
                let rel = || {
                    let q = hp::to_f64(&diff) / hp::to_f64(&scale);
                    if q.is_finite() { q } else { 0.0 }
                };
                if worst.cmp(&tol).is_some_and(|c| c <= 0) {
                    return Compared::Equal { rel: rel() };
                }
                let best = diff.sub(&rad, 64, RoundingMode::Down);
                if best.cmp(&tol).is_some_and(|c| c > 0) {
                    return Compared::Differ {
                        left: show(&l),
                        right: show(&r),
                    };
                }
                if last {
                    // Equal to every bit the evaluation resolves (both may vanish here).
                    return Compared::Equal {
                        rel: rel().min(TOLERANCE),
                    };
                }
            }
            (Err(BallError::Eval(_)), Err(BallError::Eval(_))) => return Compared::BothUndefined,
            (Err(BallError::Eval(_)), Ok(_)) | (Ok(_), Err(BallError::Eval(_))) => {
                return Compared::Differ {
                    left: show(&l),
                    right: show(&r),
                };
            }
            _ if last => return Compared::BothUndefined,
            _ => {}
        }
        precision *= 2;
    }
}

/// Interior points at which [`validity`] samples alpha and sigma (besides both ends).
pub const VALIDITY_POINTS: usize = 256;

/// Why a process is not a noising process: alpha and sigma must be finite and >= 0 on
/// [0, 1], alpha > 0 at the data end and sigma > 0 at the noise end.
///
/// The ends are evaluated exactly (as limits where the formula is undefined there);
/// the interior is sampled at 256 points, log-spaced towards both ends and uniform in
/// between, in f64 first and, where f64 finds anything amiss, again with certified
/// high-precision arithmetic, which decides.
pub fn validity(pool: &Pool, t: Symbol, alpha: ExprId, sigma: ExprId) -> Result<(), String> {
    use crate::expr::ball::round_f64;
    use crate::expr::limit::{self, PointError};
    use num_rational::BigRational;
    let exact = |e: ExprId, at: &BigRational| -> Result<f64, PointError> {
        limit::value_at(
            pool,
            e,
            &[(t, at.clone())],
            &[t],
            limit::MAX_POINT_BITS,
            &round_f64,
        )
        .map(f64::from_bits)
    };
    let show = |at: &BigRational| match at.to_string().as_str() {
        s if s.len() <= 24 => s.to_owned(),
        _ => eval::format_f64(num_traits::ToPrimitive::to_f64(at).unwrap_or(f64::NAN)),
    };
    let verdict = |name: &str, e: ExprId, at: &BigRational| -> Result<f64, String> {
        match exact(e, at) {
            Ok(v) if v.is_infinite() => Err(format!(
                "{name}(t) is outside the range of f64 at t = {}",
                show(at)
            )),
            Ok(v) if v < 0.0 => Err(format!(
                "{name}(t) = {} < 0 at t = {}",
                eval::format_f64(v),
                show(at)
            )),
            Ok(v) => Ok(v),
            Err(e) => Err(format!("{name}(t) at t = {}: {e}", show(at))),
        }
    };
    let fa = eval::Compiled::new(pool, alpha, t);
    let fs = eval::Compiled::new(pool, sigma, t);
    let mut scratch = Vec::new();
    // f64 decides what no rounding error can fake: a finite value >= 0, and for the two
    // ends that must be positive, one well above 0. Anything else is certified.
    let mut f64_at = |f: &eval::Compiled, x: f64, floor: f64| {
        f.eval(x, &mut scratch)
            .is_ok_and(|v| v.is_finite() && v >= floor)
    };
    let (zero, one) = (
        BigRational::from_integer(0.into()),
        BigRational::from_integer(1.into()),
    );
    if !f64_at(&fa, 0.0, CLEARLY_POSITIVE) && verdict("alpha", alpha, &zero)? == 0.0 {
        return Err("alpha(0) = 0: the data end carries no data".to_owned());
    }
    if !f64_at(&fs, 0.0, 0.0) {
        verdict("sigma", sigma, &zero)?;
    }
    if !f64_at(&fa, 1.0, 0.0) {
        verdict("alpha", alpha, &one)?;
    }
    if !f64_at(&fs, 1.0, CLEARLY_POSITIVE) && verdict("sigma", sigma, &one)? == 0.0 {
        return Err("sigma(1) = 0: the noise end carries no noise".to_owned());
    }
    for x in validity_nodes() {
        let (a, s) = (fa.eval(x, &mut scratch), fs.eval(x, &mut scratch));
        let fine =
            |v: &Result<f64, EvalError>| v.as_ref().is_ok_and(|v| v.is_finite() && *v >= 0.0);
        if fine(&a) && fine(&s) && (a.as_ref().ok() != Some(&0.0) || s.as_ref().ok() != Some(&0.0))
        {
            continue;
        }
        // f64 may be wrong: the certified value decides.
        let at = crate::expr::hp::to_rational(&crate::expr::hp::Hp::new(64).from_f64(x))
            .expect("a finite node");
        let a = verdict("alpha", alpha, &at)?;
        let s = verdict("sigma", sigma, &at)?;
        if a == 0.0 && s == 0.0 {
            return Err(format!("alpha(t) = sigma(t) = 0 at t = {}", show(&at)));
        }
    }
    Ok(())
}

/// The interior sample points of [`validity`]: 2^-k and 1 - 2^-k for k = 1..=64, and a
/// uniform grid in between.
fn validity_nodes() -> impl Iterator<Item = f64> {
    let tails = (1..=64).flat_map(|k| {
        let d = 0.5f64.powi(k);
        [d, 1.0 - d]
    });
    let uniform = VALIDITY_POINTS - 128;
    tails
        .chain((1..uniform).map(move |k| k as f64 / uniform as f64))
        .filter(|&x| x > 0.0 && x < 1.0)
}

/// The checks every process gets: `g2 >= 0` and Fokker-Planck for a Gaussian source.
pub fn builtin(pool: &mut Pool, p: &Process) -> Vec<(&'static str, Verdict)> {
    let (Some(alpha), Some(sigma), Some(g2)) =
        (p.quantity("alpha"), p.quantity("sigma"), p.quantity("g2"))
    else {
        return Vec::new();
    };
    let mut checks = Vec::new();
    // For a generic process g2 >= 0 is a property of the schedule (lambda decreasing), not
    // an identity: reported only where the declared ranges prove it (beta > 0).
    let generic = !pool.unspecified_functions(g2).is_empty();
    if !generic || range::is_nonneg(pool, g2) {
        checks.push(("g2 >= 0 on (0, 1)", g2_nonnegative(pool, g2)));
    }
    checks.push((
        "Fokker-Planck for a Gaussian source",
        fokker_planck(pool, alpha, sigma),
    ));
    checks
}

/// `g2 >= 0` on (0, 1): by range analysis, or else sampled on a fine grid, reporting the
/// sub-interval where it is negative.
pub fn g2_nonnegative(pool: &mut Pool, g2: ExprId) -> Verdict {
    if range::is_nonneg(pool, g2) {
        return Verdict::Proved;
    }
    let t = time_symbol(pool);
    const GRID: usize = 1024;
    let mut negative: Option<(f64, f64)> = None;
    let mut points = 0;
    for k in 1..GRID {
        let x = k as f64 / GRID as f64;
        let Ok(v) = eval::eval_f64(pool, g2, &[(t, x)]) else {
            continue;
        };
        points += 1;
        // f64 may lose the sign to cancellation: a negative sample counts only when a
        // certified evaluation confirms it.
        if v < 0.0 && negative_certified(pool, g2, t, k, GRID) {
            negative = Some(negative.map_or((x, x), |(a, _)| (a, x)));
        }
    }
    match negative {
        Some((a, b)) => Verdict::Failed {
            // Grid points are dyadic: the shortest round-trip form is exact.
            at: format!("t in [{a}, {b}]"),
            detail: "g2 < 0 at the sample points there: no real diffusion coefficient g".to_owned(),
            sides: None,
        },
        None => Verdict::Sampled { points },
    }
}

/// Whether `e` at t = k/n is certainly negative (a ball below zero at some precision up
/// to [`MAX_CHECK_BITS`]).
fn negative_certified(pool: &Pool, e: ExprId, t: Symbol, k: usize, n: usize) -> bool {
    let at = num_rational::BigRational::new(k.into(), n.into());
    matches!(
        crate::expr::ball::certify(pool, e, &[(t, at)], MAX_CHECK_BITS, |b| b.is_negative()),
        Ok((true, _))
    )
}

/// Fokker-Planck for x0 ~ N(m, s0^2) in one dimension (docs/theory.md sections 2 and 3): the
/// marginal p_t = N(alpha m, alpha^2 s0^2 + sigma^2) satisfies
/// dp/dt = -d/dx(f x p) + (1/2) g2 d^2p/dx^2. Both sides are divided by p, which leaves a
/// quadratic in x; m and s0 stay symbolic.
pub fn fokker_planck(pool: &mut Pool, alpha: ExprId, sigma: ExprId) -> Verdict {
    let t = time_symbol(pool);
    let (xs, ms, ss) = (pool.symbol("x"), pool.symbol("m"), pool.symbol("s0"));
    let (x, m, s0) = (pool.sym_expr(xs), pool.sym_expr(ms), pool.sym_expr(ss));
    let mean = pool.mul(vec![alpha, m]);
    let a2 = pool.powi(alpha, 2);
    let s02 = pool.powi(s0, 2);
    let sg2 = pool.powi(sigma, 2);
    let a2s02 = pool.mul(vec![a2, s02]);
    let var = pool.add(vec![a2s02, sg2]);
    // log p = -(x - mean)^2/(2 var) - log(var)/2 (+ const)
    let dx = pool.sub(x, mean);
    let dx2 = pool.powi(dx, 2);
    let two_var = {
        let two = pool.int(2);
        pool.mul(vec![two, var])
    };
    let quad = pool.div(dx2, two_var);
    let lv = pool.call(Func::Log, var);
    let half = pool.frac(1, 2);
    let hlv = pool.mul(vec![half, lv]);
    let sum = pool.add(vec![quad, hlv]);
    let logp = pool.neg(sum);
    // dp/dt / p = d(log p)/dt
    let lhs = diff::diff(pool, logp, t);
    // RHS / p = -f - f x (log p)_x + (g2/2)((log p)_xx + (log p)_x^2)
    let da = diff::diff(pool, alpha, t);
    let f = pool.div(da, alpha);
    let ds = diff::diff(pool, sigma, t);
    let two = pool.int(2);
    let fs = pool.mul(vec![f, sigma]);
    let sp_fs = pool.sub(ds, fs);
    let g2 = pool.mul(vec![two, sigma, sp_fs]);
    let lx = diff::diff(pool, logp, xs);
    let lxx = diff::diff(pool, lx, xs);
    let lx2 = pool.powi(lx, 2);
    let inner = pool.add(vec![lxx, lx2]);
    let diffusion = pool.mul(vec![half, g2, inner]);
    let fxlx = pool.mul(vec![f, x, lx]);
    let drift = pool.add(vec![f, fxlx]);
    let rhs = pool.sub(diffusion, drift);
    equal(pool, lhs, rhs, &[(xs, 0.3), (ms, 0.7), (ss, 1.3)], &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::test_util::parse_in_unit_t as parse;

    #[test]
    fn cancellation_in_f64_is_not_a_negative_g2() {
        // In f64, exp(t/10^20) is 1, so the value is -1/(2*10^20) at every sample; the
        // true value is about 1/(2*10^20) > 0.
        let mut pool = Pool::new();
        let g2 = parse(&mut pool, "(exp(t/10^20) - 1)/t - 1/(2*10^20)");
        let t = time_symbol(&mut pool);
        let f64_value = eval::eval_f64(&pool, g2, &[(t, 0.5)]).expect("defined");
        assert!(
            f64_value < 0.0,
            "the premise: f64 loses the sign ({f64_value})"
        );
        let verdict = g2_nonnegative(&mut pool, g2);
        assert!(matches!(verdict, Verdict::Sampled { .. }), "{verdict:?}");
    }

    #[test]
    fn a_negative_g2_is_reported_where_it_is_negative() {
        // 1/4 - t is negative on (1/4, 1): the grid points 257/1024 .. 1023/1024.
        let mut pool = Pool::new();
        let g2 = parse(&mut pool, "exp(t/10^20) - 3/4 - t");
        match g2_nonnegative(&mut pool, g2) {
            Verdict::Failed { at, .. } => assert_eq!(at, "t in [0.2509765625, 0.9990234375]"),
            v => panic!("{v:?}"),
        }
    }
}
