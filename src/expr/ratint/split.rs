//! The logarithmic part where Rothstein-Trager's residues lie in a field of degree above 2:
//! the squarefree denominator split into real factors of degree <= 2 over quadratic fields.
//!
//! `s` (monic, squarefree, over Q) is scaled to `t(y) = l^n s(y/l)`, monic with integer
//! coefficients, so its roots are algebraic integers and the coefficients of a monic factor
//! over Q(sqrt d) (d squarefree) are `a + b sqrt(d)` with `2a` and `4 b^2 d` integers. Real
//! factors of degree <= 2 are formed from t's floating-point roots (a real root, a pair of
//! complex-conjugate roots, or, if those do not suffice, two real roots); a factor whose
//! coefficients round to integers is a factor over Q, and two factors `f`, `g` of the same
//! degree are a conjugate pair over Q(sqrt d) if every `f_i + g_i` and `(f_i - g_i)^2` rounds
//! to an integer and those squares share one squarefree part d. Every candidate is confirmed
//! by exact division over Q (of `F conj(F)` for a pair), so a rounding error can only lose a
//! factorisation, never make a wrong one. Then `a/s` is split by partial fractions over Q
//! into one fraction per factor (or conjugate pair), a pair's fraction split again over
//! Q(sqrt d) as `B/F + conj(B)/conj(F)`, and each `B/F` with `deg F <= 2` integrated by the
//! classical formulas: `c log|x - r|`, and for `F = x^2 + p x + q`, `(b1/2) log|F|` plus
//! `2c/sqrt(w) atan((2x + p)/sqrt(w))` (w = 4q - p^2 > 0: continuous on R) or
//! `c/sqrt(-w) log|(2x + p - sqrt(-w))/(2x + p + sqrt(-w))|` (w < 0).
//!
//! Where no such split is found (a cubic factor with irrational real roots, residues in a
//! field of degree 3) the answer stays [`Fail::NoClosedForm`].

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::{
    Fail, Field, Poly, Quad, QuadE, Rat, complex_roots, deg, denominators_lcm, ext_gcd, pdivrem,
    pmul, poly_expr, pow, split_square,
};
use crate::expr::pool::{ExprId, Func, Pool};

type Q = BigRational;

/// A factor of `s` over Q: irreducible-looking over Q of degree <= 2, or `F conj(F)` with
/// `F` real, of degree <= 2 and monic over Q(sqrt d).
#[derive(Debug)]
enum Group {
    Rational(Poly<Q>),
    Pair { d: Q, f: Poly<QuadE> },
}

impl Group {
    /// The factor as a polynomial over Q.
    fn over_q(&self) -> Poly<Q> {
        match self {
            Group::Rational(p) => p.clone(),
            Group::Pair { d, f } => norm(&Quad { d: d.clone() }, f),
        }
    }
}

/// `F conj(F)`, a polynomial over Q.
fn norm(k: &Quad, f: &Poly<QuadE>) -> Poly<Q> {
    let c: Poly<QuadE> = f.iter().map(QuadE::conj).collect();
    pmul(k, f, &c).into_iter().map(|e| e.a).collect()
}

/// `int a/s dx` for monic squarefree `s` and `deg a < deg s`, from `s`'s split over
/// quadratic fields; [`Fail::NoClosedForm`] if none is found.
pub(super) fn log_part(
    pool: &mut Pool,
    a: &Poly<Q>,
    s: &Poly<Q>,
    x: ExprId,
) -> Result<Vec<ExprId>, Fail> {
    let groups = split(s).ok_or(Fail::NoClosedForm)?;
    let mut out = Vec::new();
    for g in &groups {
        let gq = g.over_q();
        // a/s = sum A_g/g: A_g = a (s/g)^(-1) mod g.
        let (other, r) = pdivrem(&Rat, s, &gq);
        debug_assert!(r.is_empty(), "a factor divides s");
        let (u, _, one) = ext_gcd(&Rat, &other, &gq);
        if one.len() != 1 {
            return Err(Fail::NoClosedForm);
        }
        let ag = pdivrem(&Rat, &pmul(&Rat, a, &u), &gq).1;
        match g {
            Group::Rational(p) => out.extend(terms(pool, &Rat, &ag, p, x)),
            Group::Pair { d, f } => {
                // A_g/(F F') = B/F + conj(B)/F' with B = A_g F'^(-1) mod F.
                let k = Quad { d: d.clone() };
                let fc: Poly<QuadE> = f.iter().map(QuadE::conj).collect();
                let (v, _, one) = ext_gcd(&k, &fc, f);
                if one.len() != 1 {
                    return Err(Fail::NoClosedForm);
                }
                let agk: Poly<QuadE> = ag.iter().map(|c| k.lift(c)).collect();
                let b = pdivrem(&k, &pmul(&k, &agk, &v), f).1;
                let bc: Poly<QuadE> = b.iter().map(QuadE::conj).collect();
                out.extend(terms(pool, &k, &b, f, x));
                out.extend(terms(pool, &k, &bc, &fc, x));
            }
        }
    }
    Ok(out)
}

/// `int b/f dx` for monic `f` of degree 1 or 2 with no repeated root, `deg b < deg f`, over
/// a real field.
fn terms<F: Field>(
    pool: &mut Pool,
    k: &F,
    b: &Poly<F::E>,
    f: &Poly<F::E>,
    x: ExprId,
) -> Vec<ExprId> {
    let mut out = Vec::new();
    if b.is_empty() {
        return out;
    }
    let lift = |n: i64, dn: i64| k.lift(&Q::new(n.into(), dn.into()));
    if deg(f) == 1 {
        let c = k.to_expr(pool, &b[0]);
        let fe = poly_expr(pool, k, f, x);
        let abs = pool.call(Func::Abs, fe);
        let l = pool.call(Func::Log, abs);
        out.push(pool.mul(vec![c, l]));
        return out;
    }
    let (q, p) = (&f[0], &f[1]);
    let b0 = b[0].clone();
    let b1 = b.get(1).cloned().unwrap_or_else(|| k.zero());
    // w = 4q - p^2: F > 0 on R when w > 0.
    let w = k.sub(&k.mul(&lift(4, 1), q), &k.mul(p, p));
    let positive = k.sign(&w) == Ordering::Greater;
    let fe = poly_expr(pool, k, f, x);
    if !k.is_zero(&b1) {
        let arg = if positive {
            fe
        } else {
            pool.call(Func::Abs, fe)
        };
        let l = pool.call(Func::Log, arg);
        let c = k.to_expr(pool, &k.mul(&b1, &lift(1, 2)));
        out.push(pool.mul(vec![c, l]));
    }
    // b/F - (b1/2) F'/F = c/F.
    let c = k.sub(&b0, &k.mul(&k.mul(&b1, p), &lift(1, 2)));
    if k.is_zero(&c) {
        return out;
    }
    let ce = k.to_expr(pool, &c);
    let lin = poly_expr(pool, k, &vec![p.clone(), lift(2, 1)], x);
    if positive {
        // int 1/F = 2/sqrt(w) atan((2x + p)/sqrt(w))
        let we = k.to_expr(pool, &w);
        let r = pool.sqrt(we);
        let arg = pool.div(lin, r);
        let at = pool.call(Func::Atan, arg);
        let two = pool.int(2);
        let rr = pool.recip(r);
        out.push(pool.mul(vec![two, ce, rr, at]));
    } else {
        // int 1/F = 1/sqrt(-w) log|(2x + p - sqrt(-w))/(2x + p + sqrt(-w))|
        let we = k.to_expr(pool, &k.neg(&w));
        let r = pool.sqrt(we);
        let minus = pool.sub(lin, r);
        let plus = pool.add(vec![lin, r]);
        let ratio = pool.div(minus, plus);
        let abs = pool.call(Func::Abs, ratio);
        let l = pool.call(Func::Log, abs);
        let rr = pool.recip(r);
        out.push(pool.mul(vec![ce, rr, l]));
    }
    out
}

/// The nearest integer to `v` if `v` is within floating-point noise of it.
fn near_int(v: f64) -> Option<BigInt> {
    if !v.is_finite() || v.abs() > 2f64.powi(52) {
        return None;
    }
    let r = v.round();
    ((v - r).abs() <= 1e-7 * (1.0 + v.abs())).then(|| BigInt::from(r as i64))
}

/// A real factor over R of t, from its roots: the roots it is made of and its coefficients.
struct Cand {
    atoms: Vec<usize>,
    coeffs: Vec<f64>,
}

/// `s` (monic, squarefree, over Q) as a product of groups, or `None`.
fn split(s: &Poly<Q>) -> Option<Vec<Group>> {
    let n = deg(s);
    if n < 3 {
        return None;
    }
    let l = Q::from_integer(denominators_lcm(s.iter()));
    // t(y) = l^n s(y/l), monic with integer coefficients.
    let t: Poly<Q> = s
        .iter()
        .enumerate()
        .map(|(k, c)| c * pow(&l, n - k))
        .collect();
    let coeffs: Vec<f64> = t.iter().map(|c| c.to_f64()).collect::<Option<_>>()?;
    if !coeffs.iter().all(|c| c.is_finite()) {
        return None;
    }
    let roots = complex_roots(&coeffs);
    // Atoms: real roots (linear factors) and conjugate pairs (quadratic factors).
    let real = |z: (f64, f64)| z.1.abs() <= 1e-7 * (1.0 + z.0.hypot(z.1));
    let mut atoms: Vec<Vec<f64>> = Vec::new();
    let mut is_real = Vec::new();
    let mut lower: Vec<(f64, f64)> = roots
        .iter()
        .copied()
        .filter(|&z| !real(z) && z.1 < 0.0)
        .collect();
    for &z in &roots {
        if real(z) {
            atoms.push(vec![-z.0, 1.0]);
            is_real.push(true);
        } else if z.1 > 0.0 {
            // Its conjugate: the nearest root below the axis.
            let (j, _) = lower.iter().enumerate().min_by(|a, b| {
                let da = (a.1.0 - z.0).hypot(a.1.1 + z.1);
                let db = (b.1.0 - z.0).hypot(b.1.1 + z.1);
                da.total_cmp(&db)
            })?;
            let w = lower.swap_remove(j);
            let re = (z.0 + w.0) / 2.0;
            let m2 = (z.0.hypot(z.1) * z.0.hypot(z.1) + w.0.hypot(w.1) * w.0.hypot(w.1)) / 2.0;
            atoms.push(vec![m2, -2.0 * re, 1.0]);
            is_real.push(false);
        }
    }
    if !lower.is_empty() {
        return None;
    }
    let mut used = vec![false; atoms.len()];
    let mut rest = t.clone();
    let mut groups = Vec::new();
    let mut cands: Vec<Cand> = (0..atoms.len())
        .map(|i| Cand {
            atoms: vec![i],
            coeffs: atoms[i].clone(),
        })
        .collect();
    match_candidates(&cands, &mut used, &mut rest, &mut groups);
    if deg(&rest) > 0 {
        // Real roots whose field pairs them: quadratic factors with two real roots.
        let free: Vec<usize> = (0..atoms.len())
            .filter(|&i| !used[i] && is_real[i])
            .collect();
        if free.len() > 16 {
            return None;
        }
        // The factors left over take part too: a pair of real roots may be conjugate
        // to a pair of complex ones (t^4 - 2 = (t^2 - sqrt 2)(t^2 + sqrt 2)).
        cands.retain(|c| c.atoms.iter().all(|&i| !used[i]));
        for (i, &u) in free.iter().enumerate() {
            for &v in &free[i + 1..] {
                let (ru, rv) = (-atoms[u][0], -atoms[v][0]);
                cands.push(Cand {
                    atoms: vec![u, v],
                    coeffs: vec![ru * rv, -(ru + rv), 1.0],
                });
            }
        }
        match_candidates(&cands, &mut used, &mut rest, &mut groups);
    }
    if deg(&rest) > 0 {
        return None;
    }
    // Back from y = l x: a monic factor F(y) of degree k is l^k G(x), G(x) = F(l x)/l^k.
    let back = |j: usize, k: usize| -> Q { pow(&l, j) / pow(&l, k) };
    Some(
        groups
            .into_iter()
            .map(|g| match g {
                Group::Rational(p) => {
                    let k = deg(&p);
                    Group::Rational(p.iter().enumerate().map(|(j, c)| c * back(j, k)).collect())
                }
                Group::Pair { d, f } => {
                    let k = deg(&f);
                    let f = f
                        .iter()
                        .enumerate()
                        .map(|(j, c)| {
                            let m = back(j, k);
                            QuadE {
                                a: &c.a * &m,
                                b: &c.b * &m,
                            }
                        })
                        .collect();
                    Group::Pair { d, f }
                }
            })
            .collect(),
    )
}

/// Takes every candidate (alone if over Q, else with a conjugate partner) that divides
/// `rest` exactly, greedily in order.
fn match_candidates(cands: &[Cand], used: &mut [bool], rest: &mut Poly<Q>, out: &mut Vec<Group>) {
    let free = |c: &Cand, used: &[bool]| c.atoms.iter().all(|&i| !used[i]);
    for (i, c) in cands.iter().enumerate() {
        if !free(c, used) || deg(rest) == 0 {
            continue;
        }
        // Over Q?
        let ints: Option<Vec<BigInt>> = c.coeffs.iter().map(|&v| near_int(v)).collect();
        if let Some(ints) = ints {
            let p: Poly<Q> = ints.into_iter().map(Q::from_integer).collect();
            let (qt, r) = pdivrem(&Rat, rest, &p);
            if r.is_empty() {
                *rest = qt;
                c.atoms.iter().for_each(|&a| used[a] = true);
                out.push(Group::Rational(p));
                continue;
            }
        }
        for g in &cands[i + 1..] {
            if g.coeffs.len() != c.coeffs.len()
                || !free(g, used)
                || g.atoms.iter().any(|a| c.atoms.contains(a))
            {
                continue;
            }
            let Some((d, f)) = conjugates(&c.coeffs, &g.coeffs) else {
                continue;
            };
            let k = Quad { d: d.clone() };
            let (qt, r) = pdivrem(&Rat, rest, &norm(&k, &f));
            if r.is_empty() {
                *rest = qt;
                c.atoms.iter().chain(&g.atoms).for_each(|&a| used[a] = true);
                out.push(Group::Pair { d, f });
                break;
            }
        }
    }
}

/// `(d, F)` with `F` over Q(sqrt d) near `f` and `conj(F)` near `g`, if the sums and
/// squared differences of their coefficients are integers (they are, for factors of a
/// monic integer polynomial) and the squares share one non-square squarefree part d.
fn conjugates(f: &[f64], g: &[f64]) -> Option<(Q, Poly<QuadE>)> {
    let two = Q::from_integer(2.into());
    let mut d: Option<BigInt> = None;
    let mut out = Vec::with_capacity(f.len());
    for (&fi, &gi) in f.iter().zip(g) {
        let a = Q::from_integer(near_int(fi + gi)?) / &two;
        let sq = near_int((fi - gi) * (fi - gi))?;
        let b = if sq.is_zero() {
            Q::zero()
        } else {
            // (f - g)^2 = 4 b^2 d = k^2 r: d = r, b = +-k/2.
            let (kk, r) = split_square(sq);
            if d.as_ref().is_some_and(|d| *d != r) {
                return None;
            }
            d = Some(r);
            let b = Q::from_integer(kk) / &two;
            if fi < gi { -b } else { b }
        };
        out.push(QuadE { a, b });
    }
    let d = d?;
    // A square d would make the factors rational (found above) or the field no field.
    if d.is_one() || d.sqrt().pow(2) == d {
        return None;
    }
    debug_assert!(!d.is_negative());
    Some((Q::from_integer(d), out))
}
