//! u = B^(g (t + s)) for integrands rational in exponentials of one family.
//!
//! The integrand may contain `exp(c t + b)` (and `expm1`, `sinh`, `cosh`, `tanh`, `sigmoid`
//! of such an argument, written through `E = exp(c t + b)`) or powers `B^(c t + b)` of one
//! positive rational base B != 1, every c and b rational and every ratio b/c the same s.
//! With g > 0 the greatest common divisor of the c's, each exponential is `u^(c/g)` for
//! `u = B^(g (t + s))` (B = e for exp), an integer power; `dt = du/(g ln(B) u)`, and the
//! interval maps exactly to `[B^(g (lo + s)), B^(g (hi + s))]` (u is increasing in t, so a
//! pole in u is a pole in t). What is left, a rational function of u over Q times a factor
//! free of u, goes to the rational algorithm, whose antiderivative evaluated at the mapped
//! ends gives logarithms of constants such as `log(1 + exp(1))`.

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

use super::{Fail, as_fraction, definite_of};
use crate::expr::fxhash::HashMap;
use crate::expr::pool::{Domain, ExprId, Func, Node, Pool, Symbol};
use crate::expr::range::range;
use crate::expr::simplify;

type Q = BigRational;

/// An exponential of the integrand: its base (None for e), and `c`, `b` of its argument
/// `c t + b`.
struct Atom {
    base: Option<Q>,
    c: Q,
    b: Q,
}

/// `c t + b` with rational c != 0 and b, if `a` is that.
fn linear(pool: &Pool, a: ExprId, t: Symbol) -> Option<(Q, Q)> {
    let (n, d) = as_fraction(pool, a, t)?;
    if d.len() != 1 || n.len() != 2 {
        return None;
    }
    let c = &n[1] / &d[0];
    let b = &n[0] / &d[0];
    Some((c, b))
}

/// The exponential `e` is, if it is one.
fn atom(pool: &Pool, e: ExprId, t: Symbol) -> Option<Atom> {
    match pool.node(e) {
        Node::Call(
            Func::Exp | Func::Expm1 | Func::Sinh | Func::Cosh | Func::Tanh | Func::Sigmoid,
            a,
        ) => {
            let (c, b) = linear(pool, *a, t)?;
            Some(Atom { base: None, c, b })
        }
        Node::Pow(base, a) => {
            let base = pool.as_rational(*base)?;
            if !base.is_positive() || base == &Q::from_integer(1.into()) {
                return None;
            }
            let (c, b) = linear(pool, *a, t)?;
            Some(Atom {
                base: Some(base.clone()),
                c,
                b,
            })
        }
        _ => None,
    }
}

/// Every exponential in `e` that contains `t`.
fn atoms(pool: &Pool, e: ExprId, t: Symbol, seen: &mut HashMap<ExprId, ()>, out: &mut Vec<Atom>) {
    if !pool.contains(e, t) || seen.insert(e, ()).is_some() {
        return;
    }
    if let Some(a) = atom(pool, e, t) {
        out.push(a);
        return;
    }
    for c in pool.children(e) {
        atoms(pool, c, t, seen, out);
    }
}

/// `e` with every exponential replaced by its rational function of `u` (`k` the power
/// `c/g` of the exponential `E = u^k`); `None` if `t` occurs elsewhere.
fn replace(
    pool: &mut Pool,
    e: ExprId,
    t: Symbol,
    u: ExprId,
    g: &Q,
    memo: &mut HashMap<ExprId, Option<ExprId>>,
) -> Option<ExprId> {
    if !pool.contains(e, t) {
        return Some(e);
    }
    if let Some(&r) = memo.get(&e) {
        return r;
    }
    let r = if let Some(a) = atom(pool, e, t) {
        let k = &a.c / g;
        let k = k.to_integer().to_i64()?;
        let big = pool.powi(u, k);
        let one = pool.one();
        let half = pool.frac(1, 2);
        match pool.node(e) {
            Node::Call(Func::Expm1, _) => Some(pool.sub(big, one)),
            Node::Call(Func::Sinh, _) => {
                let inv = pool.recip(big);
                let d = pool.sub(big, inv);
                Some(pool.mul(vec![half, d]))
            }
            Node::Call(Func::Cosh, _) => {
                let inv = pool.recip(big);
                let s = pool.add(vec![big, inv]);
                Some(pool.mul(vec![half, s]))
            }
            Node::Call(Func::Tanh, _) => {
                let sq = pool.powi(big, 2);
                let n = pool.sub(sq, one);
                let d = pool.add(vec![sq, one]);
                Some(pool.div(n, d))
            }
            Node::Call(Func::Sigmoid, _) => {
                let d = pool.add(vec![big, one]);
                Some(pool.div(big, d))
            }
            _ => Some(big),
        }
    } else {
        match pool.node(e).clone() {
            Node::Sym(_) | Node::Call(..) => None,
            _ => {
                let children = pool.children(e);
                let mut out = Vec::with_capacity(children.len());
                for c in children {
                    out.push(replace(pool, c, t, u, g, memo)?);
                }
                Some(pool.rebuild(e, &out))
            }
        }
    };
    memo.insert(e, r);
    r
}

/// The greatest common divisor of nonzero rationals, positive.
fn gcd(qs: impl Iterator<Item = Q>) -> Q {
    let (mut n, mut d) = (BigInt::zero(), BigInt::from(1));
    for q in qs {
        n = n.gcd(q.numer());
        d = d.lcm(q.denom());
    }
    Q::new(n, d)
}

/// `int_lo^hi e dt` for `e` rational over Q in the exponentials of one family (see the
/// module's description), by u = B^(g (t + s)). [`Fail::NotRational`] where `e` has another
/// form, [`Fail::Pole`] where the integrand has a pole on the interval.
pub fn by_exp_substitution(
    pool: &mut Pool,
    e: ExprId,
    t: Symbol,
    lo: ExprId,
    hi: ExprId,
) -> Result<ExprId, Fail> {
    if pool.contains(lo, t) || pool.contains(hi, t) {
        return Err(Fail::NotRational);
    }
    let mut found = Vec::new();
    atoms(pool, e, t, &mut HashMap::default(), &mut found);
    let Some(first) = found.first() else {
        return Err(Fail::NotRational);
    };
    // One family: one base, one shift s = b/c.
    let s = &first.b / &first.c;
    if found
        .iter()
        .any(|a| a.base != first.base || &a.b / &a.c != s)
    {
        return Err(Fail::NotRational);
    }
    let base = first.base.clone();
    let g = gcd(found.iter().map(|a| a.c.clone()));
    // u = B^(g (t + s)), as an expression of t for the ends.
    let u = pool.fresh_symbol("u");
    let ue = pool.sym_expr(u);
    let at = |pool: &mut Pool, x: ExprId| -> ExprId {
        let se = pool.rational(s.clone());
        let ge = pool.rational(g.clone());
        let shifted = pool.add(vec![x, se]);
        let arg = pool.mul(vec![ge, shifted]);
        match &base {
            None => pool.call(Func::Exp, arg),
            Some(b) => {
                let be = pool.rational(b.clone());
                pool.pow(be, arg)
            }
        }
    };
    let eu = replace(pool, e, t, ue, &g, &mut HashMap::default()).ok_or(Fail::NotRational)?;
    if !pool.contains(eu, u) {
        return Err(Fail::NotRational);
    }
    // The ends' values bound u: beyond f64 (exp(1000)), the substitution is not tried.
    let (ulo, uhi) = (at(pool, lo), at(pool, hi));
    let (Some(rlo), Some(rhi)) = (range(pool, ulo), range(pool, uhi)) else {
        return Err(Fail::NotRational);
    };
    let hull = Domain {
        lo: rlo.lo.min(rhi.lo),
        hi: rlo.hi.max(rhi.hi),
    };
    if !(hull.lo.is_finite() && hull.hi.is_finite()) {
        return Err(Fail::NotRational);
    }
    pool.set_domain(u, hull);
    // dt = du/(g ln(B) u)
    let ln_b = match &base {
        None => pool.one(),
        Some(b) => {
            let be = pool.rational(b.clone());
            pool.call(Func::Log, be)
        }
    };
    let ge = pool.rational(g.clone());
    let jac = pool.mul(vec![ge, ln_b]);
    let jac = pool.recip(jac);
    let inv_u = pool.recip(ue);
    let integrand = pool.mul(vec![eu, inv_u]);
    // A factor free of u comes out of the integral.
    let (constant, rest) = match pool.node(integrand).clone() {
        Node::Mul(fs) => {
            let (c, r): (Vec<ExprId>, Vec<ExprId>) =
                fs.iter().partition(|&&f| !pool.contains(f, u));
            (pool.mul(c), pool.mul(r))
        }
        _ => (pool.one(), integrand),
    };
    let (n, d) = as_fraction(pool, rest, u).ok_or(Fail::NotRational)?;
    if n.is_empty() {
        return Ok(pool.zero());
    }
    let value = definite_of(pool, &n, &d, u, ulo, uhi)?;
    let v = pool.mul(vec![jac, constant, value]);
    Ok(simplify::simplify(pool, v))
}

#[cfg(test)]
mod tests {
    use num_traits::One;

    use super::*;
    use crate::expr::hp::{self, Hp};
    use crate::expr::integrate::{self, IntegrateError};
    use crate::expr::test_util::parse_with_reals;
    use crate::expr::{diff, print, subst, zero};

    /// `(integrand, lo, hi, int_lo^hi * 10^40 rounded)`, from mpmath's tanh-sinh
    /// quadrature at 60 digits: `python3 scripts/ratint_reference.py`.
    const CASES: &[(&str, &str, &str, &str)] = &[
        (
            "1/(1 + exp(t))",
            "0",
            "1",
            "3798854930417224753682366264903209261602",
        ),
        (
            "exp(t)/(1 + exp(2*t))",
            "0",
            "1",
            "4328847416198293121448009230959222206898",
        ),
        (
            "1/(2 + exp(-t))^2",
            "0",
            "1",
            "1463528963884429159249535210143018857660",
        ),
        (
            "sigmoid(3*t)",
            "0",
            "1",
            "7851467236712655831138979327988378099555",
        ),
        (
            "1/cosh(t)",
            "-1",
            "2",
            "21675298192856737241657581095575557299358",
        ),
        (
            "tanh(t/2)",
            "0",
            "1",
            "2402290139165550492635267470193581476796",
        ),
        (
            "exp(10*t - 5)/(1 + exp(20*t - 10))",
            "0",
            "1",
            "1557320636726051022182421798475995518861",
        ),
        (
            "1/(1 + 2^t)",
            "0",
            "1",
            "4150374992788438185462610560521834912402",
        ),
        (
            "1/(1 + exp(t) + exp(t/2))",
            "0",
            "1",
            "2561388955056652058881876162760782544883",
        ),
        (
            "expm1(t)/(exp(2*t) + 3)",
            "-2",
            "1",
            "-2596506384428057249855721362262140500387",
        ),
        (
            "sinh(t)^2/(1 + cosh(t))",
            "0",
            "3/2",
            "6292794550948174968343874946776316488318",
        ),
        (
            "5^(2*t)/(1 + 5^t)^3",
            "-1",
            "1",
            "2071116448532039369023997960601908613745",
        ),
        (
            "1/(exp(t) - 2)",
            "1",
            "2",
            "5076317584987184287648448750938455857902",
        ),
        (
            "exp(t)/(exp(4*t) + 1)",
            "0",
            "1",
            "2272808283625096511839902535729822127821",
        ),
    ];

    fn q(s: &str) -> Q {
        s.parse().expect("a rational")
    }

    fn value(pool: &Pool, e: ExprId, env: &[(Symbol, Q)]) -> Q {
        let mut h = Hp::new(256);
        let env: Vec<_> = env.iter().map(|(s, v)| (*s, h.from_rational(v))).collect();
        let v = h.eval(pool, e, &env).expect("evaluates");
        hp::to_rational(&v).expect("finite")
    }

    #[test]
    fn exponential_integrands_agree_with_quadrature_to_32_digits() {
        let scale = Q::from_integer(BigInt::from(10).pow(40));
        for &(text, lo, hi, reference) in CASES {
            let mut pool = Pool::new();
            let e = parse_with_reals(&mut pool, text);
            let t = pool.symbol("t");
            let (l, h) = (pool.rational(q(lo)), pool.rational(q(hi)));
            let v = integrate::integrate(&mut pool, e, t, l, h)
                .unwrap_or_else(|err| panic!("{text} on [{lo}, {hi}]: {err}"));
            let got = value(&pool, v, &[]);
            let want = q(reference) / &scale;
            let tol = Q::new(1.into(), BigInt::from(10).pow(32)) * (Q::one() + want.abs());
            assert!(
                (&got - &want).abs() < tol,
                "{text} on [{lo}, {hi}]: {} = {got} != {want}",
                print::to_text(&pool, v)
            );
        }
    }

    #[test]
    fn integrals_up_to_t_differentiate_back_to_the_integrand() {
        // F(t) = int_lo^t f(s) ds through u = exp(g (s + c)) with the end exp(g (t + c)):
        // F' - f is proved 0 symbolically and is 0 to 60 digits at five points.
        for &(text, lo, hi, _) in CASES {
            let mut pool = Pool::new();
            let e = parse_with_reals(&mut pool, text);
            let t = pool.symbol("t");
            let (a, b) = (q(lo), q(hi));
            pool.set_domain(
                t,
                Domain {
                    lo: a.to_f64().expect("small"),
                    hi: b.to_f64().expect("small"),
                },
            );
            let s = pool.fresh_symbol("s");
            let se = pool.sym_expr(s);
            let es = subst::subst1(&mut pool, e, t, se);
            let (l, te) = (pool.rational(a.clone()), pool.sym_expr(t));
            let f = integrate::integrate(&mut pool, es, s, l, te)
                .unwrap_or_else(|err| panic!("{text} up to t: {err}"));
            let d = diff::diff(&mut pool, f, t);
            let r = pool.sub(d, e);
            // exp(10 t - 5)^2 and exp(20 t - 10) meet after the simplifier's exp-power.
            let simplified = simplify::simplify(&mut pool, r);
            assert!(
                zero::proves_zero(&mut pool, r) || zero::proves_zero(&mut pool, simplified),
                "{text}: F' - f is not proved 0"
            );
            for k in 1..=5 {
                let at = &a + (&b - &a) * Q::new(k.into(), 6.into());
                let residual = value(&pool, r, &[(t, at)]);
                assert!(
                    residual.abs() < Q::new(1.into(), BigInt::from(10).pow(60)),
                    "{text}: F' - f = {residual} at point {k}"
                );
            }
        }
    }

    #[test]
    fn the_beta_shorthand_closes_with_logs_of_constants() {
        // beta = 1/(1 + exp(t)): alpha = exp(-(1/2) int_0^t beta), alpha(1) = exp(-I/2) with
        // I = 0.37988549304172247537... (CASES[0], mpmath). alpha prints in a form that
        // parses back to the same value.
        let text = "process p { beta(t) = 1/(1 + exp(t)); }";
        let ast = crate::syntax::parse_file(text).expect("parses");
        let mut pool = Pool::new();
        let ps = crate::process::lower_file(&mut pool, &ast, text, &[]).expect("lowers");
        let alpha = ps[0].quantity("alpha").expect("derived");
        let t = pool.lookup_symbol("t").expect("t");
        let printed = print::to_text(&pool, alpha);
        assert!(!printed.contains("integrate"), "{printed}");
        let again = parse_with_reals(&mut pool, &printed);
        let want = (-0.379_885_493_041_722_5_f64 / 2.0).exp();
        for e in [alpha, again] {
            let got = value(&pool, e, &[(t, Q::one())]).to_f64().expect("finite");
            assert!(
                (got - want).abs() < 4.0 * f64::EPSILON,
                "{printed}: {got} != {want}"
            );
        }
    }

    #[test]
    fn exact_values_and_refusals() {
        // int_0^1 1/(1 + e^t) dt = [t - log(1 + e^t)]_0^1; int_0^1 e^t/(1 + e^(2t)) dt =
        // atan(e) - pi/4; int_0^1 1/(1 + 2^t) dt = 2 - log_2(3).
        for (text, want) in [
            ("1/(1 + exp(t))", "1 + log(2) - log(1 + exp(1))"),
            ("exp(t)/(1 + exp(2*t))", "atan(exp(1)) - pi/4"),
            ("1/(1 + 2^t)", "(2*log(2) - log(3))/log(2)"),
        ] {
            assert_eq!(crate::expr::test_util::integral01(text), want, "{text}");
        }
        let mut pool = Pool::new();
        let t = pool.symbol("t");
        let (zero, one) = (pool.zero(), pool.one());
        // A pole at t = log 2 inside [0, 1].
        let e = parse_with_reals(&mut pool, "1/(exp(t) - 2)");
        assert_eq!(
            integrate::integrate(&mut pool, e, t, zero, one),
            Err(IntegrateError::Unbounded)
        );
        assert_eq!(
            by_exp_substitution(&mut pool, e, t, zero, one),
            Err(Fail::Pole)
        );
        // Two families (e and 2), irrational ratios, t outside the exponentials.
        for text in [
            "1/(exp(t) + 2^t)",
            "1/(exp(t) + exp(t + 1/2))",
            "t/(1 + exp(t))",
            "1/(1 + exp(t^2))",
        ] {
            let e = parse_with_reals(&mut pool, text);
            assert_eq!(
                by_exp_substitution(&mut pool, e, t, zero, one),
                Err(Fail::NotRational),
                "{text}"
            );
        }
    }
}
