//! Named simplification rules, each an identity with its side condition.
//!
//! A rule looks at one node (whose children are already simplified) and returns a
//! replacement or nothing. Side conditions are decided by [`crate::expr::range`] over the
//! symbols' declared domains; a rule whose condition cannot be proved does not fire. Rules
//! come in two sets: [`EXPAND`] rewrites towards exp, log, sin, cos (the forms rational
//! normalisation can work with) and [`CONTRACT`] rewrites back into the compact forms a
//! reader expects (`tan`, `tanh`, `sigmoid`, `cos^2`).

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Zero};

use super::pool::{ExprId, Func, Node, Pool};
use super::range::{is_negative, is_nonneg, is_positive, is_within_closed};

/// A rewrite rule: `name`, the identity it applies (`doc`), and the rewrite.
pub struct Rule {
    pub name: &'static str,
    /// The equation and its side condition, as documentation and for `--explain`.
    pub doc: &'static str,
    pub apply: fn(&mut Pool, ExprId) -> Option<ExprId>,
}

/// Rules that move towards exp/log/sin/cos and cancel inverse functions.
pub static EXPAND: &[Rule] = &[
    Rule {
        name: "exp-log",
        doc: "exp(c*log(x) + r) = x^c * exp(r)   (wherever log x is defined)",
        apply: exp_log,
    },
    Rule {
        name: "log-exp",
        doc: "log(exp(x)) = x",
        apply: log_exp,
    },
    Rule {
        name: "log-power",
        doc: "log(x^c) = c*log(x) if c is not an even integer (x^c > 0 forces x > 0); log(x^(2k)) = 2k*log(|x|)",
        apply: log_power,
    },
    Rule {
        name: "log-product",
        doc: "log(a*b) = log(a) + log(b) if a > 0 is provable (b > 0 then follows from definedness)",
        apply: log_product,
    },
    Rule {
        name: "exp-product",
        doc: "exp(a)^m * exp(b)^n = exp(m*a + n*b)",
        apply: exp_product,
    },
    Rule {
        name: "exp-power",
        doc: "exp(a)^b = exp(a*b)",
        apply: exp_power,
    },
    Rule {
        name: "abs-sign",
        doc: "|x| = x if x >= 0; |x| = -x if x < 0",
        apply: abs_sign,
    },
    Rule {
        name: "power-of-sum",
        doc: "(a + b/c)^q = ((a*c + b)/c)^q and (k*a + k*b)^q = k^q*(a + b)^q (k > 0 rational) for non-integer q",
        apply: power_of_sum,
    },
    Rule {
        name: "power-nonneg-base",
        doc: "(x^a)^b = x^(a*b) and (x*y)^b = x^b*y^b if x, y >= 0",
        apply: power_nonneg_base,
    },
    Rule {
        name: "tan-to-sin-cos",
        doc: "tan(x) = sin(x)/cos(x)",
        apply: tan_to_sin_cos,
    },
    Rule {
        name: "tanh-to-sinh-cosh",
        doc: "tanh(x) = sinh(x)/cosh(x)",
        apply: tanh_to_sinh_cosh,
    },
    Rule {
        name: "expm1-to-exp",
        doc: "expm1(x) = exp(x) - 1",
        apply: expm1_to_exp,
    },
    Rule {
        name: "log1p-to-log",
        doc: "log1p(x) = log(1 + x)",
        apply: log1p_to_log,
    },
    Rule {
        name: "sigmoid-to-exp",
        doc: "sigmoid(x) = 1/(1 + exp(-x))",
        apply: sigmoid_to_exp,
    },
    Rule {
        name: "inverse-trig",
        doc: "atan(tan x) = x and asin(sin x) = x if x in [-pi/2, pi/2]; acos(cos x) = x if x in [0, pi]",
        apply: inverse_trig,
    },
    Rule {
        name: "atan-special-value",
        doc: "atan(sqrt(3)) = pi/3, atan(1/sqrt(3)) = pi/6, atan(2 -+ sqrt(3)) = pi/12, 5*pi/12, atan(sqrt(2) -+ 1) = pi/8, 3*pi/8",
        apply: atan_special_value,
    },
    Rule {
        name: "atan-reciprocal",
        doc: "c*atan(x) + c*atan(1/x) = c*pi/2 if x > 0 (and -c*pi/2 if x < 0)",
        apply: atan_reciprocal,
    },
    Rule {
        name: "trig-of-inverse",
        doc: "sin(asin x) = x; cos(acos x) = x; sin(atan x) = x/sqrt(1+x^2); cos(atan x) = 1/sqrt(1+x^2)",
        apply: trig_of_inverse,
    },
    Rule {
        name: "pythagorean",
        doc: "c*r*sin(u)^2 + c*r*cos(u)^2 = c*r; c*r*cosh(u)^2 - c*r*sinh(u)^2 = c*r",
        apply: pythagorean,
    },
];

/// Rules that contract into the compact forms used for presentation.
pub static CONTRACT: &[Rule] = &[
    Rule {
        name: "sin-cos-to-tan",
        doc: "sin(x)^a * cos(x)^(-b) = tan(x)^m * sin(x)^(a-m) * cos(x)^(m-b), m = min(a, b) (a, b > 0 integers)",
        apply: sin_cos_to_tan,
    },
    Rule {
        name: "sinh-cosh-to-tanh",
        doc: "sinh(x)^a * cosh(x)^(-b) = tanh(x)^m * ..., as for tan",
        apply: sinh_cosh_to_tanh,
    },
    Rule {
        name: "exp-to-sigmoid",
        doc: "1/(1 + exp(-x)) = sigmoid(x)",
        apply: exp_to_sigmoid,
    },
    Rule {
        name: "one-minus-sin-squared",
        doc: "c*r - c*r*sin(u)^2 = c*r*cos(u)^2; c*r - c*r*cos(u)^2 = c*r*sin(u)^2",
        apply: one_minus_square,
    },
    // Also an expansion rule, on purpose: contraction can form `exp(c*log(x) + r)` again,
    // and the library's forms depend on undoing it in this phase too (without it, the
    // dpm1 steps of cosine and karras_ve come out differently).
    Rule {
        name: "exp-log",
        doc: "exp(c*log(x) + r) = x^c * exp(r)   (wherever log x is defined)",
        apply: exp_log,
    },
    Rule {
        name: "abs-sign",
        doc: "|x| = x if x >= 0; |x| = -x if x < 0",
        apply: abs_sign,
    },
];

fn call_arg(pool: &Pool, e: ExprId, f: Func) -> Option<ExprId> {
    match pool.node(e) {
        Node::Call(g, a) if *g == f => Some(*a),
        _ => None,
    }
}

fn terms(pool: &Pool, e: ExprId) -> Vec<ExprId> {
    match pool.node(e) {
        Node::Add(xs) => xs.to_vec(),
        _ => vec![e],
    }
}

fn factors(pool: &Pool, e: ExprId) -> Vec<ExprId> {
    match pool.node(e) {
        Node::Mul(xs) => xs.to_vec(),
        _ => vec![e],
    }
}

fn exp_log(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let arg = call_arg(pool, e, Func::Exp)?;
    let mut powers = Vec::new();
    let mut rest = Vec::new();
    for t in terms(pool, arg) {
        let (c, m) = pool.split_coeff(t);
        match pool.node(m) {
            Node::Call(Func::Log, x) => {
                let x = *x;
                let c = pool.rational(c);
                powers.push(pool.pow(x, c));
            }
            _ => rest.push(t),
        }
    }
    if powers.is_empty() {
        return None;
    }
    let r = pool.add(rest);
    powers.push(pool.call(Func::Exp, r));
    Some(pool.mul(powers))
}

fn log_exp(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let arg = call_arg(pool, e, Func::Log)?;
    call_arg(pool, arg, Func::Exp)
}

fn log_power(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let arg = call_arg(pool, e, Func::Log)?;
    let Node::Pow(b, c) = pool.node(arg).clone() else {
        return None;
    };
    let even = pool
        .as_rational(c)
        .is_some_and(|r| r.is_integer() && r.numer() % 2 == 0.into());
    let base = if even { pool.call(Func::Abs, b) } else { b };
    let l = pool.call(Func::Log, base);
    Some(pool.mul(vec![c, l]))
}

fn log_product(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let arg = call_arg(pool, e, Func::Log)?;
    let fs = factors(pool, arg);
    if fs.len() < 2 {
        return None;
    }
    // Split off every provably positive factor; the remaining ones stay together.
    let (pos, other): (Vec<ExprId>, Vec<ExprId>) = fs
        .into_iter()
        .partition(|&f| super::range::is_positive(pool, f));
    if pos.is_empty() || (other.is_empty() && pos.len() < 2) {
        return None;
    }
    let mut logs: Vec<ExprId> = pos.into_iter().map(|f| pool.call(Func::Log, f)).collect();
    if !other.is_empty() {
        let o = pool.mul(other);
        logs.push(pool.call(Func::Log, o));
    }
    Some(pool.add(logs))
}

fn exp_product(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let Node::Mul(fs) = pool.node(e).clone() else {
        return None;
    };
    let mut args = Vec::new();
    let mut rest = Vec::new();
    for &f in fs.iter() {
        let (b, x) = pool.split_pow(f);
        match call_arg(pool, b, Func::Exp) {
            Some(a) => args.push(pool.mul(vec![x, a])),
            None => rest.push(f),
        }
    }
    if args.len() < 2 {
        return None;
    }
    let s = pool.add(args);
    rest.push(pool.call(Func::Exp, s));
    Some(pool.mul(rest))
}

fn exp_power(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let Node::Pow(b, x) = pool.node(e).clone() else {
        return None;
    };
    let a = call_arg(pool, b, Func::Exp)?;
    let ax = pool.mul(vec![a, x]);
    Some(pool.call(Func::Exp, ax))
}

fn abs_sign(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let x = call_arg(pool, e, Func::Abs)?;
    if is_nonneg(pool, x) {
        Some(x)
    } else if is_negative(pool, x) {
        Some(pool.neg(x))
    } else {
        None
    }
}

fn power_nonneg_base(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let Node::Pow(b, c) = pool.node(e).clone() else {
        return None;
    };
    match pool.node(b).clone() {
        Node::Pow(bb, a) if is_nonneg(pool, bb) => {
            let ac = pool.mul(vec![a, c]);
            Some(pool.pow(bb, ac))
        }
        Node::Mul(fs) => {
            let (nonneg, other): (Vec<ExprId>, Vec<ExprId>) =
                fs.iter().partition(|&&f| is_nonneg(pool, f));
            if nonneg.is_empty() {
                return None;
            }
            let mut parts: Vec<ExprId> = nonneg.into_iter().map(|f| pool.pow(f, c)).collect();
            if !other.is_empty() {
                let o = pool.mul(other);
                parts.push(pool.pow(o, c));
            }
            Some(pool.mul(parts))
        }
        _ => None,
    }
}

/// Brings the sum under a fractional power to one fraction, so that `power-nonneg-base` can
/// split it, and takes a positive rational content out of it, so that equal sums under
/// different powers meet (`sqrt(1/2 + c/2) / sqrt(1 + c)` is `sqrt(1/2)`).
fn power_of_sum(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let Node::Pow(b, c) = pool.node(e).clone() else {
        return None;
    };
    if pool.as_rational(c).is_none_or(|q| q.is_integer()) || !matches!(pool.node(b), Node::Add(_)) {
        return None;
    }
    let ts = terms(pool, b);
    let has_fraction = ts.iter().any(|&t| {
        factors(pool, t).into_iter().any(|f| match pool.node(f) {
            Node::Pow(_, k) => pool
                .as_rational(*k)
                .is_some_and(|k| k < &BigRational::zero()),
            _ => false,
        })
    });
    if has_fraction {
        let t = super::poly::together(pool, b);
        return (t != b).then(|| pool.pow(t, c));
    }
    // Content: gcd of the numerators over lcm of the denominators of the coefficients.
    let (mut num, mut den) = (BigInt::zero(), BigInt::one());
    for &t in &ts {
        let (k, _) = pool.split_coeff(t);
        num = num.gcd(k.numer());
        den = den.lcm(k.denom());
    }
    let content = BigRational::new(num, den);
    if content.is_one() || content.is_zero() {
        return None;
    }
    let inv = pool.rational(content.recip());
    let k = pool.rational(content);
    let scaled = pool.mul(vec![inv, b]);
    let kc = pool.pow(k, c);
    let sc = pool.pow(scaled, c);
    Some(pool.mul(vec![kc, sc]))
}

fn tan_to_sin_cos(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let x = call_arg(pool, e, Func::Tan)?;
    let s = pool.call(Func::Sin, x);
    let c = pool.call(Func::Cos, x);
    Some(pool.div(s, c))
}

fn tanh_to_sinh_cosh(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let x = call_arg(pool, e, Func::Tanh)?;
    let s = pool.call(Func::Sinh, x);
    let c = pool.call(Func::Cosh, x);
    Some(pool.div(s, c))
}

fn expm1_to_exp(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let x = call_arg(pool, e, Func::Expm1)?;
    let ex = pool.call(Func::Exp, x);
    let m1 = pool.int(-1);
    Some(pool.add(vec![ex, m1]))
}

fn log1p_to_log(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let x = call_arg(pool, e, Func::Log1p)?;
    let one = pool.one();
    let s = pool.add(vec![one, x]);
    Some(pool.call(Func::Log, s))
}

fn sigmoid_to_exp(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let x = call_arg(pool, e, Func::Sigmoid)?;
    let nx = pool.neg(x);
    let ex = pool.call(Func::Exp, nx);
    let one = pool.one();
    let s = pool.add(vec![one, ex]);
    Some(pool.recip(s))
}

/// `Some(x)` if `e` is `tan(x)` or `sin(x)/cos(x)`.
fn as_tan(pool: &Pool, e: ExprId) -> Option<ExprId> {
    if let Some(x) = call_arg(pool, e, Func::Tan) {
        return Some(x);
    }
    let fs = factors(pool, e);
    if fs.len() != 2 {
        return None;
    }
    let (s, c) = (fs[0], fs[1]);
    let (cb, ce) = pool.split_pow(c);
    let x = call_arg(pool, s, Func::Sin)?;
    let y = call_arg(pool, cb, Func::Cos)?;
    let minus_one = pool
        .as_rational(ce)
        .is_some_and(|r| *r == -BigRational::one());
    (x == y && minus_one).then_some(x)
}

fn inverse_trig(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let Node::Call(f, a) = pool.node(e).clone() else {
        return None;
    };
    // The branch condition is decided on x/pi, so that `pi*t/2 <= pi/2` is the exact
    // comparison `t/2 <= 1/2` rather than one against a rounded pi. The intervals are
    // closed: at their ends tan is undefined (so the identity holds wherever the left side
    // is), and asin(sin x), acos(cos x) still equal x.
    let (x, lo, hi) = match f {
        Func::Atan => (as_tan(pool, a)?, -0.5, 0.5),
        Func::Asin => (call_arg(pool, a, Func::Sin)?, -0.5, 0.5),
        Func::Acos => (call_arg(pool, a, Func::Cos)?, 0.0, 1.0),
        _ => return None,
    };
    let pi = pool.pi();
    let turns = pool.div(x, pi);
    is_within_closed(pool, turns, lo, hi).then_some(x)
}

fn atan_special_value(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let x = call_arg(pool, e, Func::Atan)?;
    // (radicand r, rational part a, coefficient b of sqrt(r)): atan(a + b sqrt(r)) = k pi.
    const VALUES: [(i64, i64, i64, i64, i64); 6] = [
        (3, 0, 1, 1, 3),
        (3, 0, 1, 1, 6), // sqrt(3)/3 below: b is 1/3
        (3, 2, -1, 1, 12),
        (3, 2, 1, 5, 12),
        (2, -1, 1, 1, 8),
        (2, 1, 1, 3, 8),
    ];
    for (i, &(r, a, b, kn, kd)) in VALUES.iter().enumerate() {
        let re = pool.int(r);
        let root = pool.sqrt(re);
        let b = if i == 1 { pool.frac(b, 3) } else { pool.int(b) };
        let a = pool.int(a);
        let broot = pool.mul(vec![b, root]);
        let v = pool.add(vec![a, broot]);
        if v == x {
            let k = pool.frac(kn, kd);
            let pi = pool.pi();
            return Some(pool.mul(vec![k, pi]));
        }
    }
    None
}

fn atan_reciprocal(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let Node::Add(ts) = pool.node(e).clone() else {
        return None;
    };
    // Each term as (the product of its other factors, the atan argument).
    let parts: Vec<Option<(ExprId, ExprId)>> = ts
        .iter()
        .map(|&t| {
            let fs = factors(pool, t);
            let i = fs
                .iter()
                .position(|&f| call_arg(pool, f, Func::Atan).is_some())?;
            let arg = call_arg(pool, fs[i], Func::Atan)?;
            let mut rest = fs.clone();
            rest.remove(i);
            Some((pool.mul(rest), arg))
        })
        .collect();
    for i in 0..ts.len() {
        let Some((ci, xi)) = parts[i] else { continue };
        for (j, part) in parts.iter().enumerate().skip(i + 1) {
            let Some((cj, xj)) = *part else { continue };
            if ci != cj || pool.recip(xi) != xj {
                continue;
            }
            let sign = if is_positive(pool, xi) {
                1
            } else if is_negative(pool, xi) {
                -1
            } else {
                continue;
            };
            let half = pool.frac(sign, 2);
            let pi = pool.pi();
            let v = pool.mul(vec![half, pi, ci]);
            let mut rest: Vec<ExprId> = ts
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != i && k != j)
                .map(|(_, &t)| t)
                .collect();
            rest.push(v);
            return Some(pool.add(rest));
        }
    }
    None
}

fn trig_of_inverse(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let Node::Call(f, a) = pool.node(e).clone() else {
        return None;
    };
    let Node::Call(g, x) = pool.node(a).clone() else {
        return None;
    };
    match (f, g) {
        (Func::Sin, Func::Asin) | (Func::Cos, Func::Acos) => Some(x),
        (Func::Sin | Func::Cos, Func::Atan) => {
            let one = pool.one();
            let x2 = pool.powi(x, 2);
            let s = pool.add(vec![one, x2]);
            let mh = pool.frac(-1, 2);
            let r = pool.pow(s, mh);
            Some(if f == Func::Sin {
                pool.mul(vec![x, r])
            } else {
                r
            })
        }
        _ => None,
    }
}

/// Splits a term `c * rest * f(u)^k` (k >= 2) for `f` in `fs` into `(c, rest * f(u)^(k-2), f, u)`.
fn square_factor(
    pool: &mut Pool,
    t: ExprId,
    fs: &[Func],
) -> Option<(BigRational, ExprId, Func, ExprId)> {
    let (c, m) = pool.split_coeff(t);
    let parts = factors(pool, m);
    let two = BigRational::from_integer(2.into());
    for (i, &p) in parts.iter().enumerate() {
        let (b, x) = pool.split_pow(p);
        // f^k with k >= 2 an integer is f^2 * f^(k-2).
        let Some(k) = pool
            .as_rational(x)
            .filter(|k| k.is_integer() && **k >= two)
            .cloned()
        else {
            continue;
        };
        if let Node::Call(f, u) = pool.node(b).clone()
            && fs.contains(&f)
        {
            let mut rest = parts.clone();
            rest[i] = {
                let k2 = pool.rational(k - &two);
                pool.pow(b, k2)
            };
            let rest = pool.mul(rest);
            return Some((c, rest, f, u));
        }
    }
    None
}

/// Given the terms of a sum and the index of one, finds a partner term: its index and the
/// replacement for the pair.
type Combine = fn(&mut Pool, &[ExprId], usize) -> Option<(usize, ExprId)>;

/// In a sum, replaces a pair of terms found by `combine` with their combination.
fn rewrite_pair_in_sum(
    pool: &mut Pool,
    e: ExprId,
    squares: &[Func],
    combine: Combine,
) -> Option<ExprId> {
    let Node::Add(ts) = pool.node(e).clone() else {
        return None;
    };
    for i in 0..ts.len() {
        if square_factor(pool, ts[i], squares).is_none() {
            continue;
        }
        if let Some((j, replacement)) = combine(pool, &ts, i) {
            let mut out: Vec<ExprId> = ts
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != i && k != j)
                .map(|(_, &t)| t)
                .collect();
            out.push(replacement);
            return Some(pool.add(out));
        }
    }
    None
}

fn pythagorean(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    rewrite_pair_in_sum(pool, e, &[Func::Sin, Func::Cosh], |pool, ts, i| {
        let (c, rest, f, u) = square_factor(pool, ts[i], &[Func::Sin, Func::Cosh])?;
        // sin^2 pairs with +cos^2; cosh^2 pairs with -sinh^2.
        let (partner, sign) = if f == Func::Sin {
            (Func::Cos, 1)
        } else {
            (Func::Sinh, -1)
        };
        for (j, &t) in ts.iter().enumerate() {
            if let Some((c2, rest2, g, v)) = square_factor(pool, t, &[partner])
                && g == partner
                && v == u
                && rest2 == rest
                && c2 == &c * BigRational::from_integer(sign.into())
            {
                let cr = pool.rational(c);
                return Some((j, pool.mul(vec![cr, rest])));
            }
        }
        None
    })
}

fn one_minus_square(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    rewrite_pair_in_sum(pool, e, &[Func::Sin, Func::Cos], |pool, ts, i| {
        let (c, rest, f, u) = square_factor(pool, ts[i], &[Func::Sin, Func::Cos])?;
        // Looking for the term -c*rest (so that -c*rest*f^2 + c*rest ... ) i.e. k*rest with k = -c.
        let other = if f == Func::Sin { Func::Cos } else { Func::Sin };
        for (j, &t) in ts.iter().enumerate() {
            if j == i {
                continue;
            }
            let (k, m) = pool.split_coeff(t);
            if m == rest && k == -&c {
                // k*rest + c*rest*f^2 = k*rest*(1 - f^2) = k*rest*other^2
                let kr = pool.rational(k);
                let o = pool.call(other, u);
                let o2 = pool.powi(o, 2);
                return Some((j, pool.mul(vec![kr, rest, o2])));
            }
        }
        None
    })
}

/// Contracts `sin^a * cos^(-b)` (or `sinh`/`cosh`) inside a product into powers of `tan`.
fn contract_ratio(pool: &mut Pool, e: ExprId, num: Func, den: Func, quot: Func) -> Option<ExprId> {
    let Node::Mul(fs) = pool.node(e).clone() else {
        // A bare 1/cos(x) or sin(x) has nothing to contract.
        return None;
    };
    let int_exp = |pool: &Pool, x: ExprId| -> Option<i64> {
        let r = pool.as_rational(x)?;
        if r.is_integer() {
            num_traits::ToPrimitive::to_i64(&r.to_integer())
        } else {
            None
        }
    };
    for (i, &f) in fs.iter().enumerate() {
        let (b, x) = pool.split_pow(f);
        let Some(u) = call_arg(pool, b, num) else {
            continue;
        };
        let Some(a) = int_exp(pool, x) else { continue };
        if a <= 0 {
            continue;
        }
        for (j, &g) in fs.iter().enumerate() {
            let (b2, x2) = pool.split_pow(g);
            let Some(v) = call_arg(pool, b2, den) else {
                continue;
            };
            let Some(nb) = int_exp(pool, x2) else {
                continue;
            };
            if v != u || nb >= 0 {
                continue;
            }
            let m = a.min(-nb);
            let mut out: Vec<ExprId> = fs
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != i && k != j)
                .map(|(_, &h)| h)
                .collect();
            let t = pool.call(quot, u);
            out.push(pool.powi(t, m));
            let s = pool.call(num, u);
            out.push(pool.powi(s, a - m));
            let c = pool.call(den, u);
            out.push(pool.powi(c, nb + m));
            return Some(pool.mul(out));
        }
    }
    None
}

fn sin_cos_to_tan(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    contract_ratio(pool, e, Func::Sin, Func::Cos, Func::Tan)
}

fn sinh_cosh_to_tanh(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    contract_ratio(pool, e, Func::Sinh, Func::Cosh, Func::Tanh)
}

fn exp_to_sigmoid(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let Node::Pow(b, x) = pool.node(e).clone() else {
        return None;
    };
    if pool.as_rational(x) != Some(&-BigRational::one()) {
        return None;
    }
    let Node::Add(ts) = pool.node(b).clone() else {
        return None;
    };
    if ts.len() != 2 || !pool.is_one(ts[0]) {
        return None;
    }
    let a = call_arg(pool, ts[1], Func::Exp)?;
    let na = pool.neg(a);
    Some(pool.call(Func::Sigmoid, na))
}
