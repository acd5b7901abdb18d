//! The smooth part of the series: the angle's derivatives, the per-step log-gain as a
//! series in h, the Euler-Maclaurin boundary terms, and the integrals of the series'
//! coefficients (closed form where the integrator finds one, else named and by quadrature).

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::One;

use super::{Integral, SIMPLIFY_UP_TO, rat};
use crate::analysis::exact::{factorial, log_cos_coefficient};
use crate::analysis::quadrature::{Estimate, quadrature};
use crate::diag::{Diag, codes};
use crate::expr::series::Series;
use crate::expr::simplify::{self, Simplifier};
use crate::expr::{ExprId, Func, Pool, Symbol, ball, diff, hp, integrate, limit, subst};

/// `phi = atan(rho/sqrt(lambda))` and its derivatives up to order `count - 1`, simplified.
pub(super) fn angle_derivatives(
    pool: &mut Pool,
    simp: &mut Simplifier,
    rho: ExprId,
    t: Symbol,
    lambda: &BigRational,
    count: usize,
) -> Vec<ExprId> {
    let lam = pool.rational(lambda.clone());
    let root = pool.sqrt(lam);
    let arg = pool.div(rho, root);
    let phi = pool.call(Func::Atan, arg);
    let mut derivs = vec![phi];
    for _ in 1..count {
        let last = *derivs.last().expect("starts with phi");
        let d = diff::diff(pool, last, t);
        derivs.push(simp.run(pool, d));
    }
    derivs
}

/// The midpoint series of one step's log-gain: `G_p` (p = 0 ..= order) with
/// `g(dphi) = sum_p G_p(m) h^p`, from the angle's derivatives `derivs` (phi, phi', ...).
pub(super) fn g_series(
    pool: &mut Pool,
    simp: &mut Simplifier,
    bern: &[BigRational],
    derivs: &[ExprId],
    order: usize,
) -> Series {
    // dphi = sum_{j odd} 2 (h/2)^j phi^(j)(m) / j!
    let mut dphi = Series::zero(pool, order);
    // Terms above h^(order-1) only meet others in powers above h^order.
    for j in (1..order).step_by(2) {
        let c = pool.rational(rat(2, BigInt::from(2).pow(j as u32) * factorial(j)));
        let term = pool.mul(vec![c, derivs[j]]);
        dphi.add_term(pool, j, term);
    }
    // g(x) = -2 ln cos x = sum_n b_n x^2n
    let sq = dphi.mul(pool, &dphi);
    let mut power = sq.clone();
    let mut g = Series::zero(pool, order);
    for n in 1..=order / 2 {
        let a = pool.rational(log_cos_coefficient(bern, n));
        g.add_scaled(pool, a, &power);
        power = power.mul(pool, &sq);
    }
    g.map(|gp| {
        if simplify::complexity(pool, gp) <= SIMPLIFY_UP_TO {
            simp.run(pool, gp)
        } else {
            gp
        }
    })
}

/// The midpoint Euler-Maclaurin boundary terms of `h sum_k G_p(m_k)` at the ends marked in
/// `ends` (0 and 1), each as (power of h, term): `B_2j(1/2) h^(p-1+2j)/(2j)!
/// [G_p^(2j-1)]`, up to `h^max`.
#[allow(clippy::too_many_arguments)]
pub(super) fn boundary_terms(
    pool: &mut Pool,
    simp: &mut Simplifier,
    bern: &[BigRational],
    gp: ExprId,
    p: usize,
    t: Symbol,
    max: usize,
    ends: [bool; 2],
    lambda: &BigRational,
) -> Result<Vec<(usize, ExprId)>, Diag> {
    let mut out = Vec::new();
    let mut d = gp;
    let mut k = 1; // d is the (k-1)-th derivative of G_p
    for j in 1.. {
        let at = p - 1 + 2 * j;
        if at > max {
            break;
        }
        while k < 2 * j {
            let dd = diff::diff(pool, d, t);
            d = if simplify::complexity(pool, dd) <= SIMPLIFY_UP_TO {
                simp.run(pool, dd)
            } else {
                dd
            };
            k += 1;
        }
        // B_2j(1/2) = (2^(1-2j) - 1) B_2j
        let b_half =
            (rat(1, BigInt::from(2).pow(2 * j as u32 - 1)) - BigRational::one()) * &bern[2 * j];
        let c = pool.rational(b_half / BigRational::from_integer(factorial(2 * j)));
        let mut diff_ends = pool.zero();
        for end in [0u8, 1] {
            if !ends[usize::from(end)] {
                continue;
            }
            let Some(v) = end_value(pool, simp, d, t, end) else {
                return Err(Diag::new(
                    codes::ASYMPTOTICS_ENDPOINT,
                    format!(
                        "a boundary term of the expansion (for lambda = {lambda}) is not \
                         finite at t = {end}; the expansion in 1/N needs phi smooth there"
                    ),
                ));
            };
            diff_ends = if end == 1 {
                pool.add(vec![diff_ends, v])
            } else {
                pool.sub(diff_ends, v)
            };
        }
        out.push((at, pool.mul(vec![c, diff_ends])));
    }
    Ok(out)
}

/// The KL series in h (to `h^order`) of one direction with eigenvalue `lambda`.
#[allow(clippy::too_many_arguments)]
pub(super) fn direction(
    pool: &mut Pool,
    simp: &mut Simplifier,
    bern: &[BigRational],
    integrals: &mut Vec<Integral>,
    rho: ExprId,
    t: Symbol,
    lambda: &BigRational,
    order: usize,
) -> Result<Series, Diag> {
    // phi', phi'', ... (phi itself is never needed: only its differences).
    let derivs = angle_derivatives(pool, simp, rho, t, lambda, order);
    // phi is smooth at both ends: `ddim_expansion` checked it (for one eigenvalue, which
    // settles it for all: atan is analytic).
    let g = g_series(pool, simp, bern, &derivs, order);
    // u = sum_k g(dphi_k): the coefficient G_p of h^p contributes h^(p-1) int G_p plus the
    // Euler-Maclaurin boundary terms of the midpoint rule.
    let zero = pool.zero();
    let mut u = Series::zero(pool, order);
    for (p, &gp) in g.coeffs().iter().enumerate().skip(2) {
        if gp == zero {
            continue;
        }
        let int = integral(pool, simp, integrals, gp, t)?;
        u.add_term(pool, p - 1, int);
        for (at, term) in boundary_terms(pool, simp, bern, gp, p, t, order, [true; 2], lambda)? {
            u.add_term(pool, at, term);
        }
    }
    // KL = (e^u - 1 - u)/2 = sum_{m>=2} u^m / (2 m!)
    let mut kl = Series::zero(pool, order);
    let mut um = u.mul(pool, &u);
    for m in 2..=order {
        let c = pool.rational(rat(1, BigInt::from(2) * factorial(m)));
        kl.add_scaled(pool, c, &um);
        um = um.mul(pool, &u);
    }
    Ok(kl)
}

/// `e` at `t = end` (0 or 1) as an expression: the exact substitution where it is the
/// value there, else the one-sided limit from inside [0, 1] ([`limit::limit`], from
/// certified values, as the exact rational of that f64). `None` where `e` tends to an
/// infinity there or its limit cannot be determined.
///
/// The value comes from ball arithmetic on `e` itself, not from a comparison with a point
/// nearby: an odd derivative of an even function is exactly 0 at the end while its value
/// at distance 2^-100 is `e'(end) 2^-100`, which for a steep angle (`1/sqrt(lambda)` in
/// the hundreds, raised to the order of the derivative) is no small absolute number.
pub(super) fn end_value(
    pool: &mut Pool,
    simp: &mut Simplifier,
    e: ExprId,
    t: Symbol,
    end: u8,
) -> Option<ExprId> {
    let env = [(t, BigRational::from_integer(end.into()))];
    // Evaluated from `e`, unsimplified, so a singularity that substitution would cancel
    // (`t^(1/6)/t^(2/3)` at 0) is seen as one: then the one-sided limit decides.
    let value = match ball::certify(pool, e, &env, END_BITS, ball::round_f64) {
        Ok((bits, _)) => f64::from_bits(bits),
        // A ball around an exact 0 that has not shrunk below the least f64.
        Err(ball::Uncertified::Tie(mid)) if hp::to_f64(&mid).abs() < TINY => 0.0,
        Err(ball::Uncertified::Tie(_)) => {
            match ball::certify(pool, e, &env, limit::MAX_POINT_BITS, ball::round_f64) {
                Ok((bits, _)) => f64::from_bits(bits),
                Err(ball::Uncertified::Tie(mid)) => hp::to_f64(&mid),
                Err(_) => return None,
            }
        }
        // Undefined at the end (`1/cos(pi t/2)` at t = 1): the limit from inside.
        Err(ball::Uncertified::Eval(_) | ball::Uncertified::Singular) => {
            let side = if end == 0 {
                limit::Side::Above
            } else {
                limit::Side::Below
            };
            match limit::limit(
                pool,
                e,
                &env,
                &[(t, side)],
                limit::MAX_POINT_BITS,
                &ball::round_f64,
            ) {
                Ok(limit::Limit::Finite(bits)) => f64::from_bits(bits),
                _ => return None,
            }
        }
    };
    if !value.is_finite() {
        return None;
    }
    // The exact form where it has that value (it may differ only where `e` is undefined at
    // the end and its limit is taken; a ball around an exact 0 may round to a tiny number).
    let at = pool.int(i64::from(end));
    let v = subst::subst1(pool, e, t, at);
    let v = simp.run(pool, v);
    let exact = match ball::certify(pool, v, &[], END_BITS, ball::round_f64) {
        Ok((b, _)) => Some(f64::from_bits(b)),
        Err(ball::Uncertified::Tie(mid)) => Some(hp::to_f64(&mid)),
        Err(_) => None,
    };
    if exact.is_some_and(|x| x == value || (x.abs() < TINY && value.abs() < TINY)) {
        return Some(v);
    }
    Some(pool.rational(BigRational::from_float(value)?))
}

/// The most bits [`end_value`] evaluates with at an end itself (where a formula is
/// undefined, such as `1/cos(pi t/2)` at t = 1, the ball never shrinks: more bits are
/// wasted); its one-sided limits take what the distance needs.
const END_BITS: usize = 1024;

/// Below this an end value is taken for 0: a ball around an exact 0 (`sin(pi)`) rounds to
/// no single f64 until its radius is below the least subnormal.
const TINY: f64 = 1e-250;

/// `int_0^1 e dt`: closed form if the integrator finds one, else a new integral symbol
/// with its quadrature value.
pub(super) fn integral(
    pool: &mut Pool,
    simp: &mut Simplifier,
    integrals: &mut Vec<Integral>,
    e: ExprId,
    t: Symbol,
) -> Result<ExprId, Diag> {
    let (zero, one) = (pool.zero(), pool.one());
    // The integrator expands its input: worth trying on small integrands only.
    if simplify::complexity(pool, e) <= SIMPLIFY_UP_TO
        && let Ok(v) = integrate::integrate(pool, e, t, zero, one)
    {
        let v = simp.run(pool, v);
        if hp::eval_rounded(pool, v, &[]).is_ok_and(f64::is_finite) {
            return Ok(v);
        }
    }
    let Estimate { value, error, .. } = quadrature(pool, e, t, 0.0, 1.0)?;
    let name = format!("I{}", integrals.len() + 1);
    let symbol = pool.symbol(&name);
    integrals.push(Integral {
        symbol,
        name,
        integrand: e,
        value,
        error,
    });
    Ok(pool.sym_expr(symbol))
}
