//! Integration of rational functions with rational coefficients: Hermite reduction and the
//! Rothstein-Trager logarithmic part, with real arctangents by Rioboo's conversion.
//!
//! `int N/D dx` (N, D in Q[x]) is split as polynomial part + Hermite's rational part
//! `g` + `int A/S` with S squarefree. The residues of `A/S` are the roots of
//! `R(z) = res_x(S, A - z S')` (computed by evaluation at `deg S + 1` points and
//! interpolation); each residue c contributes `c log gcd(S, A - c S')`. Residues are found
//! over Q and over quadratic fields Q(sqrt d): rational roots and quadratic factors of R are
//! found from floating-point roots, and every candidate is confirmed by exact division. A
//! pair of real conjugate residues gives logarithms with `sqrt(d)` in their arguments; a
//! complex pair `u +- i v sqrt(e)` gives `u log(P^2 + e Q^2)` and Rioboo's sum of
//! arctangents of polynomials for `i log((P + i sqrt(e) Q)/(P - i sqrt(e) Q))`, so no
//! complex logarithm appears and every arctangent is continuous on R. Residues in a field
//! of degree above 2 go to [`split`]: S factored into real factors of degree <= 2 over
//! quadratic fields (`1/(x^4 + 1)` over Q(sqrt 2)), partial fractions, and the classical
//! log and arctangent of each factor; where S has no such factorisation (a cubic factor
//! with irrational real roots, `1/(x^8 + 1)`), [`Fail::NoClosedForm`].
//!
//! A definite integral is `F(hi) - F(lo)` only where Sturm sequences show the denominator
//! has no real root in the closed interval; a root inside or at an end (where the integral
//! diverges: the fraction is in lowest terms) is refused.
//!
//! [`by_tangent_substitution`] brings integrands rational in cos, sin, tan of pi t/2 over
//! [0, 1] to this form by u = tan(pi t/2).

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::pool::{ExprId, Func, Node, Pool, Symbol};
use super::range::range;
use super::rational;
use super::{simplify, subst};

mod exp;
mod split;

pub use exp::by_exp_substitution;

type Q = BigRational;

/// Why a rational integrand has no answer here.
#[derive(Clone, Debug, PartialEq)]
pub enum Fail {
    /// The integrand is not a rational function of the variable with rational coefficients
    /// (or is too large: degree above [`MAX_DEGREE`]).
    NotRational,
    /// Residues in a field of degree above 2 over Q, and a denominator with no real
    /// factors of degree <= 2 over quadratic fields (or roots not separated in f64).
    NoClosedForm,
    /// The denominator vanishes inside the interval or at an end, or the interval's ends
    /// are not known to avoid its roots.
    Pole,
}

/// The largest degree of numerator and denominator handled.
pub const MAX_DEGREE: usize = 48;

/// The largest power of a coefficient formed, in bits (numerator and denominator): a
/// power beyond it (`(4^(10^6))^2` as a constant factor) is no rational function here.
/// As [`crate::expr::canon`]'s bound on exact powers.
const MAX_POWER_BITS: u64 = 1 << 16;

// ---------------------------------------------------------------------------------------
// Coefficient fields.

/// A field of coefficients: Q, or Q(sqrt d) for a non-square integer d.
pub trait Field {
    type E: Clone + PartialEq + std::fmt::Debug;
    fn zero(&self) -> Self::E;
    fn one(&self) -> Self::E;
    fn is_zero(&self, a: &Self::E) -> bool;
    fn add(&self, a: &Self::E, b: &Self::E) -> Self::E;
    fn mul(&self, a: &Self::E, b: &Self::E) -> Self::E;
    fn neg(&self, a: &Self::E) -> Self::E;
    /// `1/a` for `a != 0`.
    fn inv(&self, a: &Self::E) -> Self::E;
    fn lift(&self, q: &Q) -> Self::E;
    fn to_expr(&self, pool: &mut Pool, a: &Self::E) -> ExprId;
    /// The rational numbers `a` is made of.
    fn parts<'a>(&self, a: &'a Self::E) -> Vec<&'a Q>;
    /// The sign of `a` as a real number.
    fn sign(&self, a: &Self::E) -> std::cmp::Ordering;
    fn sub(&self, a: &Self::E, b: &Self::E) -> Self::E {
        self.add(a, &self.neg(b))
    }
}

/// The rationals.
pub struct Rat;

impl Field for Rat {
    type E = Q;
    fn zero(&self) -> Q {
        Q::zero()
    }
    fn one(&self) -> Q {
        Q::one()
    }
    fn is_zero(&self, a: &Q) -> bool {
        a.is_zero()
    }
    fn add(&self, a: &Q, b: &Q) -> Q {
        let mut s = a.clone();
        rational::add_assign(&mut s, b);
        s
    }
    fn mul(&self, a: &Q, b: &Q) -> Q {
        rational::mul(a, b)
    }
    fn neg(&self, a: &Q) -> Q {
        -a
    }
    fn inv(&self, a: &Q) -> Q {
        a.recip()
    }
    fn lift(&self, q: &Q) -> Q {
        q.clone()
    }
    fn to_expr(&self, pool: &mut Pool, a: &Q) -> ExprId {
        pool.rational(a.clone())
    }
    fn parts<'a>(&self, a: &'a Q) -> Vec<&'a Q> {
        vec![a]
    }
    fn sign(&self, a: &Q) -> std::cmp::Ordering {
        a.cmp(&Q::zero())
    }
}

/// Q(sqrt d), d an integer that is not a square: elements `a + b sqrt(d)`.
pub struct Quad {
    pub d: Q,
}

#[derive(Clone, PartialEq, Debug)]
pub struct QuadE {
    pub a: Q,
    pub b: Q,
}

impl Field for Quad {
    type E = QuadE;
    fn zero(&self) -> QuadE {
        QuadE {
            a: Q::zero(),
            b: Q::zero(),
        }
    }
    fn one(&self) -> QuadE {
        QuadE {
            a: Q::one(),
            b: Q::zero(),
        }
    }
    fn is_zero(&self, x: &QuadE) -> bool {
        x.a.is_zero() && x.b.is_zero()
    }
    fn add(&self, x: &QuadE, y: &QuadE) -> QuadE {
        QuadE {
            a: Rat.add(&x.a, &y.a),
            b: Rat.add(&x.b, &y.b),
        }
    }
    fn mul(&self, x: &QuadE, y: &QuadE) -> QuadE {
        let bb = rational::mul(&x.b, &y.b);
        let mut a = rational::mul(&x.a, &y.a);
        rational::add_assign(&mut a, &rational::mul(&bb, &self.d));
        let mut b = rational::mul(&x.a, &y.b);
        rational::add_assign(&mut b, &rational::mul(&x.b, &y.a));
        QuadE { a, b }
    }
    fn neg(&self, x: &QuadE) -> QuadE {
        QuadE { a: -&x.a, b: -&x.b }
    }
    fn inv(&self, x: &QuadE) -> QuadE {
        // (a - b sqrt d)/(a^2 - d b^2); the norm is nonzero as d is not a square.
        let norm = &x.a * &x.a - &self.d * &x.b * &x.b;
        QuadE {
            a: &x.a / &norm,
            b: -&x.b / &norm,
        }
    }
    fn lift(&self, q: &Q) -> QuadE {
        QuadE {
            a: q.clone(),
            b: Q::zero(),
        }
    }
    fn to_expr(&self, pool: &mut Pool, x: &QuadE) -> ExprId {
        let a = pool.rational(x.a.clone());
        let b = pool.rational(x.b.clone());
        let d = pool.rational(self.d.clone());
        let s = pool.sqrt(d);
        let bs = pool.mul(vec![b, s]);
        pool.add(vec![a, bs])
    }
    fn parts<'a>(&self, x: &'a QuadE) -> Vec<&'a Q> {
        vec![&x.a, &x.b]
    }
    /// The sign of `a + b sqrt(d)` (d > 0): that of a term if both agree, else that of the
    /// larger square.
    fn sign(&self, x: &QuadE) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let (sa, sb) = (Rat.sign(&x.a), Rat.sign(&x.b));
        if sb == Ordering::Equal || sa == sb {
            return if sa == Ordering::Equal { sb } else { sa };
        }
        if sa == Ordering::Equal {
            return sb;
        }
        match (&x.a * &x.a).cmp(&(&x.b * &x.b * &self.d)) {
            Ordering::Greater => sa,
            Ordering::Less => sb,
            Ordering::Equal => Ordering::Equal,
        }
    }
}

impl QuadE {
    /// `a - b sqrt(d)`.
    pub fn conj(&self) -> QuadE {
        QuadE {
            a: self.a.clone(),
            b: -&self.b,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dense univariate polynomials, coefficients from the constant term up, no trailing zeros
// (the zero polynomial is empty).

pub type Poly<E> = Vec<E>;

/// `(s, t, g)` with `s a + t b = g`.
pub type Bezout<E> = (Poly<E>, Poly<E>, Poly<E>);

/// A fraction of polynomials, numerator first.
pub type Frac<E> = (Poly<E>, Poly<E>);

fn trim<F: Field>(f: &F, mut p: Poly<F::E>) -> Poly<F::E> {
    while p.last().is_some_and(|c| f.is_zero(c)) {
        p.pop();
    }
    p
}

/// The degree (0 for the zero polynomial too: callers test `is_empty` first).
pub fn deg<E>(p: &Poly<E>) -> usize {
    p.len().saturating_sub(1)
}

pub fn padd<F: Field>(f: &F, a: &Poly<F::E>, b: &Poly<F::E>) -> Poly<F::E> {
    let n = a.len().max(b.len());
    let z = f.zero();
    let r = (0..n)
        .map(|i| f.add(a.get(i).unwrap_or(&z), b.get(i).unwrap_or(&z)))
        .collect();
    trim(f, r)
}

pub fn psub<F: Field>(f: &F, a: &Poly<F::E>, b: &Poly<F::E>) -> Poly<F::E> {
    padd(f, a, &pscale(f, b, &f.neg(&f.one())))
}

pub fn pscale<F: Field>(f: &F, a: &Poly<F::E>, c: &F::E) -> Poly<F::E> {
    if f.is_zero(c) {
        return Vec::new();
    }
    a.iter().map(|x| f.mul(x, c)).collect()
}

pub fn pmul<F: Field>(f: &F, a: &Poly<F::E>, b: &Poly<F::E>) -> Poly<F::E> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut r = vec![f.zero(); a.len() + b.len() - 1];
    for (i, x) in a.iter().enumerate() {
        if f.is_zero(x) {
            continue;
        }
        for (j, y) in b.iter().enumerate() {
            r[i + j] = f.add(&r[i + j], &f.mul(x, y));
        }
    }
    trim(f, r)
}

/// `(q, r)` with `a = q b + r`, `deg r < deg b` (`b` nonzero).
pub fn pdivrem<F: Field>(f: &F, a: &Poly<F::E>, b: &Poly<F::E>) -> (Poly<F::E>, Poly<F::E>) {
    let db = deg(b);
    if a.len() < b.len() {
        return (Vec::new(), a.clone());
    }
    let inv = f.inv(b.last().expect("nonzero divisor"));
    let mut r = a.clone();
    let mut q = vec![f.zero(); a.len() - db];
    for i in (0..q.len()).rev() {
        let c = f.mul(&r[i + db], &inv);
        if !f.is_zero(&c) {
            for (j, y) in b.iter().enumerate() {
                r[i + j] = f.sub(&r[i + j], &f.mul(&c, y));
            }
        }
        q[i] = c;
    }
    r.truncate(db);
    (trim(f, q), trim(f, r))
}

/// `a / b` where `b` divides `a`.
pub fn pdiv<F: Field>(f: &F, a: &Poly<F::E>, b: &Poly<F::E>) -> Poly<F::E> {
    pdivrem(f, a, b).0
}

pub fn monic<F: Field>(f: &F, a: &Poly<F::E>) -> Poly<F::E> {
    match a.last() {
        Some(l) => pscale(f, a, &f.inv(l)),
        None => Vec::new(),
    }
}

pub fn deriv<F: Field>(f: &F, a: &Poly<F::E>) -> Poly<F::E> {
    let r = a
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| f.mul(c, &f.lift(&Q::from_integer(i.into()))))
        .collect();
    trim(f, r)
}

pub fn eval<F: Field>(f: &F, a: &Poly<F::E>, x: &F::E) -> F::E {
    let mut acc = f.zero();
    for c in a.iter().rev() {
        acc = f.add(&f.mul(&acc, x), c);
    }
    acc
}

/// The monic greatest common divisor (zero if both are zero).
pub fn pgcd<F: Field>(f: &F, a: &Poly<F::E>, b: &Poly<F::E>) -> Poly<F::E> {
    let (mut a, mut b) = (a.clone(), b.clone());
    while !b.is_empty() {
        let r = pdivrem(f, &a, &b).1;
        a = b;
        b = r;
    }
    monic(f, &a)
}

/// `(s, t, g)` with `s a + t b = g = gcd(a, b)` monic.
pub fn ext_gcd<F: Field>(f: &F, a: &Poly<F::E>, b: &Poly<F::E>) -> Bezout<F::E> {
    let (mut r0, mut r1) = (a.clone(), b.clone());
    let (mut s0, mut s1) = (vec![f.one()], Vec::new());
    let (mut t0, mut t1) = (Vec::new(), vec![f.one()]);
    while !r1.is_empty() {
        let (q, r) = pdivrem(f, &r0, &r1);
        let s2 = psub(f, &s0, &pmul(f, &q, &s1));
        let t2 = psub(f, &t0, &pmul(f, &q, &t1));
        (r0, r1) = (r1, r);
        (s0, s1) = (s1, s2);
        (t0, t1) = (t1, t2);
    }
    let Some(l) = r0.last().cloned() else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    let li = f.inv(&l);
    (
        pscale(f, &s0, &li),
        pscale(f, &t0, &li),
        pscale(f, &r0, &li),
    )
}

/// `(s, t)` with `s a + t b = c` and `deg s < deg b` (gcd(a, b) must divide c).
fn solve_bezout<F: Field>(
    f: &F,
    a: &Poly<F::E>,
    b: &Poly<F::E>,
    c: &Poly<F::E>,
) -> (Poly<F::E>, Poly<F::E>) {
    let (s, t, g) = ext_gcd(f, a, b);
    let q = pdiv(f, c, &g);
    let (mut s, mut t) = (pmul(f, &s, &q), pmul(f, &t, &q));
    if !s.is_empty() && !b.is_empty() && s.len() >= b.len() {
        let (qq, r) = pdivrem(f, &s, b);
        s = r;
        t = padd(f, &t, &pmul(f, &qq, a));
    }
    (s, t)
}

/// Yun's squarefree factorisation: `a = lc * prod_i a_i^i` with the `a_i` monic,
/// squarefree and pairwise coprime; returns `[a_1, a_2, ...]`.
pub fn squarefree<F: Field>(f: &F, a: &Poly<F::E>) -> Vec<Poly<F::E>> {
    let mut out = Vec::new();
    if a.len() <= 1 {
        return out;
    }
    let da = deriv(f, a);
    let g = pgcd(f, a, &da);
    let mut b = pdiv(f, a, &g);
    let mut c = pdiv(f, &da, &g);
    let mut d = psub(f, &c, &deriv(f, &b));
    loop {
        let ai = pgcd(f, &b, &d);
        b = pdiv(f, &b, &ai);
        c = pdiv(f, &d, &ai);
        out.push(monic(f, &ai));
        if b.len() <= 1 {
            break;
        }
        d = psub(f, &c, &deriv(f, &b));
    }
    out
}

/// The resultant of `a` and `b` (nonzero) over Q, by the Euclidean algorithm.
pub fn resultant(a: &Poly<Q>, b: &Poly<Q>) -> Q {
    let (mut a, mut b) = (a.clone(), b.clone());
    let mut acc = Q::one();
    loop {
        if b.is_empty() || a.is_empty() {
            return Q::zero();
        }
        let (m, n) = (deg(&a), deg(&b));
        if n == 0 {
            return acc * pow(&b[0], m);
        }
        if m == 0 {
            return acc * pow(&a[0], n);
        }
        // res(a, b) = (-1)^(mn) res(b, a) = (-1)^(mn) lc(b)^(m - deg r) res(b, r)
        let r = pdivrem(&Rat, &a, &b).1;
        if r.is_empty() {
            return Q::zero();
        }
        if (m * n) % 2 == 1 {
            acc = -acc;
        }
        acc *= pow(b.last().expect("nonzero"), m - deg(&r));
        a = b;
        b = r;
    }
}

fn pow(q: &Q, n: usize) -> Q {
    num_traits::pow::Pow::pow(q, n)
}

/// The polynomial of degree <= n through `(i, v[i])`, i = 0..=n (Newton's form).
fn interpolate(v: &[Q]) -> Poly<Q> {
    let n = v.len();
    let mut dd = v.to_vec();
    for j in 1..n {
        for i in (j..n).rev() {
            dd[i] = (&dd[i] - &dd[i - 1]) / Q::from_integer(j.into());
        }
    }
    // p = dd[0] + dd[1] x + dd[2] x (x - 1) + ...: Horner from the top.
    let mut p: Poly<Q> = Vec::new();
    for i in (0..n).rev() {
        // p = p * (x - i) + dd[i]
        let lin = vec![Q::from_integer(-(i as i64).to_bigint()), Q::one()];
        p = pmul(&Rat, &p, &lin);
        p = padd(&Rat, &p, &vec![dd[i].clone()]);
    }
    p
}

trait ToBig {
    fn to_bigint(self) -> BigInt;
}

impl ToBig for i64 {
    fn to_bigint(self) -> BigInt {
        BigInt::from(self)
    }
}

/// The number of distinct real roots of the squarefree `p` in the closed interval [a, b]
/// (a <= b), by Sturm's theorem.
pub fn roots_in(p: &Poly<Q>, a: &Q, b: &Q) -> usize {
    if p.len() <= 1 {
        return 0;
    }
    let mut seq = vec![p.clone(), deriv(&Rat, p)];
    loop {
        let n = seq.len();
        let r = pdivrem(&Rat, &seq[n - 2], &seq[n - 1]).1;
        if r.is_empty() {
            break;
        }
        seq.push(pscale(&Rat, &r, &-Q::one()));
    }
    let changes = |x: &Q| -> usize {
        let signs: Vec<i8> = seq
            .iter()
            .map(|s| eval(&Rat, s, x))
            .filter(|v| !v.is_zero())
            .map(|v| if v.is_positive() { 1 } else { -1 })
            .collect();
        signs.windows(2).filter(|w| w[0] != w[1]).count()
    };
    // (a, b] by Sturm, plus a itself.
    let at_a = usize::from(eval(&Rat, p, a).is_zero());
    changes(a) - changes(b) + at_a
}

// ---------------------------------------------------------------------------------------
// Reading an expression as a fraction of polynomials.

/// `e` as `(N, D)`, polynomials in `x` over Q, coprime, D monic; `None` if `e` is not such
/// a fraction (another symbol, a function call, a non-integer power) or too large.
pub fn as_fraction(pool: &Pool, e: ExprId, x: Symbol) -> Option<(Poly<Q>, Poly<Q>)> {
    let (n, d) = fraction(pool, e, x, 0)?;
    let g = pgcd(&Rat, &n, &d);
    let (n, d) = (pdiv(&Rat, &n, &g), pdiv(&Rat, &d, &g));
    let l = d.last()?.clone();
    let li = l.recip();
    Some((pscale(&Rat, &n, &li), pscale(&Rat, &d, &li)))
}

fn fraction(pool: &Pool, e: ExprId, x: Symbol, depth: u32) -> Option<(Poly<Q>, Poly<Q>)> {
    if depth > 64 {
        return None;
    }
    let one = vec![Q::one()];
    let small = |(n, d): (Poly<Q>, Poly<Q>)| {
        (n.len() <= MAX_DEGREE + 1 && d.len() <= MAX_DEGREE + 1).then_some((n, d))
    };
    match pool.node(e) {
        Node::Rational(r) => Some((trim(&Rat, vec![r.clone()]), one)),
        Node::Sym(s) if *s == x => Some((vec![Q::zero(), Q::one()], one)),
        Node::Add(ts) => {
            let (mut n, mut d) = (Vec::new(), one);
            for &t in ts.iter() {
                let (tn, td) = fraction(pool, t, x, depth + 1)?;
                if td == d {
                    n = padd(&Rat, &n, &tn);
                } else {
                    let g = pgcd(&Rat, &d, &td);
                    let (dc, tc) = (pdiv(&Rat, &d, &g), pdiv(&Rat, &td, &g));
                    n = padd(&Rat, &pmul(&Rat, &n, &tc), &pmul(&Rat, &tn, &dc));
                    d = pmul(&Rat, &d, &tc);
                }
                (n, d) = small((n, d))?;
            }
            Some((n, d))
        }
        Node::Mul(fs) => {
            let (mut n, mut d) = (one.clone(), one);
            for &t in fs.iter() {
                let (tn, td) = fraction(pool, t, x, depth + 1)?;
                (n, d) = small((pmul(&Rat, &n, &tn), pmul(&Rat, &d, &td)))?;
            }
            Some((n, d))
        }
        Node::Pow(b, k) => {
            let k = pool.as_rational(*k)?;
            if !k.is_integer() {
                return None;
            }
            let k = k.to_integer().to_i64()?;
            let (bn, bd) = fraction(pool, *b, x, depth + 1)?;
            let m = usize::try_from(k.unsigned_abs()).ok()?;
            if m.saturating_mul(deg(&bn).max(deg(&bd))) > MAX_DEGREE || bn.is_empty() && k < 0 {
                return None;
            }
            let bits = bn
                .iter()
                .chain(&bd)
                .map(|c| c.numer().bits() + c.denom().bits())
                .max()
                .unwrap_or(0);
            if bits.saturating_mul(m as u64) > MAX_POWER_BITS {
                return None;
            }
            let (mut n, mut d) = (one.clone(), one);
            for _ in 0..m {
                n = pmul(&Rat, &n, &bn);
                d = pmul(&Rat, &d, &bd);
            }
            Some(if k < 0 { (d, n) } else { (n, d) })
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// The integration algorithm.

/// The pieces of an antiderivative, before they become one expression.
struct Pieces {
    /// Polynomial part (already integrated).
    poly: Poly<Q>,
    /// Hermite's rational part, numerator and denominator.
    rational: (Poly<Q>, Poly<Q>),
    /// The logarithmic part, as expressions.
    logs: Vec<ExprId>,
}

/// An antiderivative of `e` in `x`, where `e` is a rational function of `x` over Q, or a
/// sum of such functions times factors free of `x` (see [`by_constant`]).
pub fn antiderivative(pool: &mut Pool, e: ExprId, x: Symbol) -> Result<ExprId, Fail> {
    let mut parts = Vec::new();
    for (c, r) in by_constant(pool, e, x) {
        let (n, d) = as_fraction(pool, r, x).ok_or(Fail::NotRational)?;
        let f = antiderivative_of(pool, &n, &d, x)?;
        parts.push(pool.mul(vec![c, f]));
    }
    Ok(pool.add(parts))
}

/// `e` as `sum_i c_i r_i` with every `c_i` a product of the factors of `e`'s terms that are
/// free of `x` and not rational numbers (`sqrt(2)`, `pi`, a symbol such as `lambda`), one
/// `r_i` per distinct `c_i` (1 for the terms with none), in the order of `e`'s terms. Each
/// `r_i` may then be rational over Q, where `e` is not.
fn by_constant(pool: &mut Pool, e: ExprId, x: Symbol) -> Vec<(ExprId, ExprId)> {
    let terms = match pool.node(e) {
        Node::Add(ts) => ts.to_vec(),
        _ => vec![e],
    };
    let mut groups: Vec<(ExprId, Vec<ExprId>)> = Vec::new();
    for term in terms {
        let (c, r) = match pool.node(term).clone() {
            Node::Mul(fs) => {
                let (c, r): (Vec<ExprId>, Vec<ExprId>) = fs.iter().partition(|&&f| {
                    !pool.contains(f, x) && !matches!(pool.node(f), Node::Rational(_))
                });
                (pool.mul(c), pool.mul(r))
            }
            _ if !pool.contains(term, x) && !matches!(pool.node(term), Node::Rational(_)) => {
                (term, pool.one())
            }
            _ => (pool.one(), term),
        };
        match groups.iter_mut().find(|(k, _)| *k == c) {
            Some((_, rs)) => rs.push(r),
            None => groups.push((c, vec![r])),
        }
    }
    groups
        .into_iter()
        .map(|(c, rs)| (c, pool.add(rs)))
        .collect()
}

/// An antiderivative of `n/d` (d monic, coprime to n) in `x`.
pub fn antiderivative_of(
    pool: &mut Pool,
    n: &Poly<Q>,
    d: &Poly<Q>,
    x: Symbol,
) -> Result<ExprId, Fail> {
    let xe = pool.sym_expr(x);
    let p = pieces(pool, n, d, xe)?;
    let mut terms = vec![poly_expr(pool, &Rat, &p.poly, xe)];
    let (rn, rd) = &p.rational;
    if !rn.is_empty() {
        // Integer coefficients in the denominator, as a reader writes it.
        let k = Q::from_integer(denominators_lcm(rd.iter()));
        let num = poly_expr(pool, &Rat, &pscale(&Rat, rn, &k), xe);
        let den = poly_expr(pool, &Rat, &pscale(&Rat, rd, &k), xe);
        terms.push(pool.div(num, den));
    }
    terms.extend(p.logs);
    Ok(pool.add(terms))
}

fn integrate_poly(p: &Poly<Q>) -> Poly<Q> {
    let mut r = vec![Q::zero()];
    for (i, c) in p.iter().enumerate() {
        r.push(c / Q::from_integer((i + 1).into()));
    }
    trim(&Rat, r)
}

fn pieces(pool: &mut Pool, n: &Poly<Q>, d: &Poly<Q>, x: ExprId) -> Result<Pieces, Fail> {
    let (q, r) = pdivrem(&Rat, n, d);
    let mut poly = integrate_poly(&q);
    let ((gn, gd), (a, s)) = hermite(&r, d);
    // Hermite's remainder over the squarefree part may carry a polynomial part.
    let (q2, a) = pdivrem(&Rat, &a, &s);
    poly = padd(&Rat, &poly, &integrate_poly(&q2));
    let logs = log_part(pool, &a, &s, x)?;
    Ok(Pieces {
        poly,
        rational: (gn, gd),
        logs,
    })
}

/// Hermite reduction (Mack's linear version, as in Bronstein's book): for `a/d` with
/// `deg a < deg d`, returns `(g, (a*, s))` with `int a/d = g + int a*/s`, `s` the
/// squarefree part of `d`.
fn hermite(a: &Poly<Q>, d: &Poly<Q>) -> (Frac<Q>, Frac<Q>) {
    let f = &Rat;
    let mut a = a.clone();
    let mut dm = pgcd(f, d, &deriv(f, d));
    let ds = pdiv(f, d, &dm);
    // g = sum of b_i/dm_i; every dm_i divides the first, which is the common denominator.
    let den = dm.clone();
    let mut gnum: Poly<Q> = Vec::new();
    while deg(&dm) > 0 {
        let dm2 = pgcd(f, &dm, &deriv(f, &dm));
        let dms = pdiv(f, &dm, &dm2);
        let lhs = pscale(f, &pdiv(f, &pmul(f, &ds, &deriv(f, &dm)), &dm), &-Q::one());
        let (b, c) = solve_bezout(f, &lhs, &dms, &a);
        a = psub(f, &c, &pdiv(f, &pmul(f, &deriv(f, &b), &ds), &dms));
        gnum = padd(f, &gnum, &pmul(f, &b, &pdiv(f, &den, &dm)));
        dm = dm2;
    }
    let g = pgcd(f, &gnum, &den);
    let (gn, gd) = if gnum.is_empty() {
        (Vec::new(), vec![Q::one()])
    } else {
        (pdiv(f, &gnum, &g), pdiv(f, &den, &g))
    };
    ((gn, gd), (a, ds))
}

/// A root class of the resultant: a rational residue, or the two roots of an irreducible
/// monic quadratic `z^2 + p z + q`.
#[derive(Debug, PartialEq)]
enum Residue {
    Rational(Q),
    Quadratic(Q, Q),
}

/// `int a/s dx` for squarefree `s`, `deg a < deg s`: Rothstein-Trager, each residue class
/// built into terms in `x`.
fn log_part(pool: &mut Pool, a: &Poly<Q>, s: &Poly<Q>, x: ExprId) -> Result<Vec<ExprId>, Fail> {
    if a.is_empty() {
        return Ok(Vec::new());
    }
    let f = &Rat;
    let lc = s.last().expect("nonzero").recip();
    let (s, a) = (pscale(f, s, &lc), pscale(f, a, &lc));
    let ds = deriv(f, &s);
    let n = deg(&s);
    // R(z) = res_x(s, a - z s') = prod_{s(r) = 0} (a(r) - z s'(r)) (s monic), of degree n
    // in z: from its values at z = 0..=n.
    let values: Vec<Q> = (0..=n)
        .map(|k| {
            let g = psub(f, &a, &pscale(f, &ds, &Q::from_integer(k.into())));
            resultant(&s, &g)
        })
        .collect();
    let r = interpolate(&values);
    // The distinct residues: the product of Yun's factors.
    let mut rs: Poly<Q> = vec![Q::one()];
    for factor in squarefree(f, &r) {
        rs = pmul(f, &rs, &factor);
    }
    let residues = match factor_residues(&monic(f, &rs)) {
        Ok(r) => r,
        // Residues in a field of degree above 2: partial fractions over the quadratic
        // fields that split s into factors of degree <= 2, where they exist.
        Err(Fail::NoClosedForm) => return split::log_part(pool, &a, &s, x),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for residue in residues {
        match residue {
            Residue::Rational(c) => {
                let g = pgcd(f, &s, &psub(f, &a, &pscale(f, &ds, &c)));
                let ge = poly_expr(pool, f, &g, x);
                let abs = pool.call(Func::Abs, ge);
                let l = pool.call(Func::Log, abs);
                let ce = pool.rational(c);
                out.push(pool.mul(vec![ce, l]));
            }
            Residue::Quadratic(p, q) => match quadratic_pair(pool, &s, &a, &ds, &p, &q, x) {
                Ok(terms) => out.extend(terms),
                Err(Fail::NoClosedForm) => return split::log_part(pool, &a, &s, x),
                Err(e) => return Err(e),
            },
        }
    }
    Ok(out)
}

/// The terms of the two residues `c, c'` of `z^2 + p z + q` (irreducible over Q):
/// `c log G + c' log G'` with `G = gcd(s, a - c s')` over Q(sqrt d), written over the reals.
fn quadratic_pair(
    pool: &mut Pool,
    s: &Poly<Q>,
    a: &Poly<Q>,
    ds: &Poly<Q>,
    p: &Q,
    q: &Q,
    x: ExprId,
) -> Result<Vec<ExprId>, Fail> {
    // delta = p^2 - 4q = n/m, sqrt(delta) = sqrt(d)/m with the integer d = n m.
    let delta = p * p - Q::from_integer(4.into()) * q;
    // Square factors of d come out of the root: sqrt(d) = k sqrt(d').
    let (k_out, d) = split_square(delta.numer() * delta.denom());
    let d = Q::from_integer(d);
    let m = Q::from_integer(delta.denom().clone());
    let two = Q::from_integer(2.into());
    // c = u + v sqrt(d)
    let u = -p / &two;
    let v = Q::from_integer(k_out) / (&two * &m);
    let k = Quad { d: d.clone() };
    let lift = |p: &Poly<Q>| -> Poly<QuadE> { p.iter().map(|c| k.lift(c)).collect() };
    let c = QuadE {
        a: u.clone(),
        b: v.clone(),
    };
    let g = pgcd(
        &k,
        &lift(s),
        &psub(&k, &lift(a), &pscale(&k, &lift(ds), &c)),
    );
    if g.len() < 2 {
        return Err(Fail::NoClosedForm);
    }
    // G = P + sqrt(d) Q
    let gp = trim(&Rat, g.iter().map(|e| e.a.clone()).collect());
    let gq = trim(&Rat, g.iter().map(|e| e.b.clone()).collect());
    let f = &Rat;
    let mut out = Vec::new();
    if d.is_positive() {
        // u log|P^2 - d Q^2| + v sqrt(d) log|(P + sqrt(d) Q)/(P - sqrt(d) Q)|
        let norm = psub(f, &pmul(f, &gp, &gp), &pscale(f, &pmul(f, &gq, &gq), &d));
        if !u.is_zero() {
            let ne = poly_expr(pool, f, &norm, x);
            let abs = pool.call(Func::Abs, ne);
            let l = pool.call(Func::Log, abs);
            let ue = pool.rational(u);
            out.push(pool.mul(vec![ue, l]));
        }
        let pe = poly_expr(pool, f, &gp, x);
        let qe = poly_expr(pool, f, &gq, x);
        let de = pool.rational(d.clone());
        let root = pool.sqrt(de);
        let sq = pool.mul(vec![root, qe]);
        let plus = pool.add(vec![pe, sq]);
        let minus = pool.sub(pe, sq);
        let ratio = pool.div(plus, minus);
        let abs = pool.call(Func::Abs, ratio);
        let l = pool.call(Func::Log, abs);
        let ve = pool.rational(v);
        out.push(pool.mul(vec![ve, root, l]));
        return Ok(out);
    }
    // d < 0: c = u + i v sqrt(e), G = P + i sqrt(e) Q (e = -d):
    // u log(P^2 + e Q^2) + v sqrt(e) * i log((P + i sqrt(e) Q)/(P - i sqrt(e) Q)), the
    // latter a sum of arctangents of polynomials (Rioboo).
    let e = -d;
    let norm = padd(f, &pmul(f, &gp, &gp), &pscale(f, &pmul(f, &gq, &gq), &e));
    if !u.is_zero() {
        let ne = poly_expr(pool, f, &norm, x);
        let l = pool.call(Func::Log, ne);
        let ue = pool.rational(u);
        out.push(pool.mul(vec![ue, l]));
    }
    let ve = pool.rational(v);
    let two_e = pool.int(2);
    match rational_sqrt(&e) {
        Some(r) => {
            let mut parts = Vec::new();
            log_to_atan(f, gp, pscale(f, &gq, &r), &mut parts)?;
            let re = pool.rational(r);
            for (num, den) in parts {
                let at = atan_of(pool, f, &num, &den, x);
                out.push(pool.mul(vec![ve, re, two_e, at]));
            }
        }
        None => {
            let kf = Quad { d: e.clone() };
            let a: Poly<QuadE> = gp.iter().map(|c| kf.lift(c)).collect();
            let b: Poly<QuadE> = gq
                .iter()
                .map(|c| QuadE {
                    a: Q::zero(),
                    b: c.clone(),
                })
                .collect();
            let mut parts = Vec::new();
            log_to_atan(&kf, a, b, &mut parts)?;
            let ee = pool.rational(e);
            let root = pool.sqrt(ee);
            for (num, den) in parts {
                let at = atan_of(pool, &kf, &num, &den, x);
                out.push(pool.mul(vec![ve, root, two_e, at]));
            }
        }
    }
    Ok(out)
}

/// The least common multiple of the denominators of `qs`.
fn denominators_lcm<'a>(qs: impl Iterator<Item = &'a Q>) -> BigInt {
    qs.fold(BigInt::one(), |acc, c| acc.lcm(c.denom()))
}

/// `atan(num/den)` in `x`, both scaled to integer rational parts.
fn atan_of<F: Field>(
    pool: &mut Pool,
    f: &F,
    num: &Poly<F::E>,
    den: &Poly<F::E>,
    x: ExprId,
) -> ExprId {
    let all = || num.iter().chain(den.iter()).flat_map(|c| f.parts(c));
    let l = Q::from_integer(denominators_lcm(all()));
    let content = all().fold(BigInt::zero(), |acc, c| acc.gcd(&(c * &l).to_integer()));
    let k = f.lift(&(l / Q::from_integer(content.max(BigInt::one()))));
    let n = poly_expr(pool, f, &pscale(f, num, &k), x);
    let d = poly_expr(pool, f, &pscale(f, den, &k), x);
    let r = pool.div(n, d);
    pool.call(Func::Atan, r)
}

/// `(k, r)` with `n = k^2 r`, the square factors of primes below 1000 moved into k.
fn split_square(mut n: BigInt) -> (BigInt, BigInt) {
    let mut k = BigInt::one();
    for p in 2u32..1000 {
        let pp = BigInt::from(p * p);
        if (2..p).take_while(|q| q * q <= p).any(|q| p % q == 0) {
            continue;
        }
        while (&n % &pp).is_zero() {
            n /= &pp;
            k *= p;
        }
    }
    (k, n)
}

/// The exact square root of `q >= 0` if it is rational.
fn rational_sqrt(q: &Q) -> Option<Q> {
    if q.is_negative() {
        return None;
    }
    let (n, d) = (q.numer(), q.denom());
    let (rn, rd) = (n.sqrt(), d.sqrt());
    (&rn * &rn == *n && &rd * &rd == *d).then(|| Q::new(rn, rd))
}

/// Rioboo's conversion (Bronstein's LogToAtan): pairs `(n_k, d_k)` with
/// `sum 2 atan(n_k/d_k)` having the derivative of `i log((a + i b)/(a - i b))`, every
/// `d_k` a constant when gcd(a, b) = 1, so every arctangent is continuous on R.
fn log_to_atan<F: Field>(
    f: &F,
    a: Poly<F::E>,
    b: Poly<F::E>,
    out: &mut Vec<Frac<F::E>>,
) -> Result<(), Fail> {
    let (mut a, mut b) = (a, b);
    let minus = f.neg(&f.one());
    // Each round lowers deg a + deg b; the bound only guards the loop.
    for _ in 0..4 * MAX_DEGREE + 8 {
        if b.is_empty() {
            return Ok(());
        }
        if pdivrem(f, &a, &b).1.is_empty() {
            out.push((a, b));
            return Ok(());
        }
        if a.len() < b.len() {
            (a, b) = (pscale(f, &b, &minus), a);
            continue;
        }
        // d b - c a = g
        let (dd, cc, g) = ext_gcd(f, &b, &pscale(f, &a, &minus));
        out.push((padd(f, &pmul(f, &a, &dd), &pmul(f, &b, &cc)), g));
        (a, b) = (dd, cc);
    }
    Err(Fail::NoClosedForm)
}

/// Factors the monic squarefree `r` over Q into linear and quadratic factors, from its
/// floating-point roots, every factor confirmed by exact division.
fn factor_residues(r: &Poly<Q>) -> Result<Vec<Residue>, Fail> {
    let f = &Rat;
    let mut out = Vec::new();
    let mut rest = r.clone();
    if deg(&rest) <= 2 {
        push_small(&rest, &mut out);
        return Ok(out);
    }
    // The primitive integer multiple of rest has a leading coefficient l; a rational root
    // is k/l' with l' | l, and the coefficients of a monic quadratic factor are integers
    // over l: so l * root (l * sum, l * product) is an integer.
    let l = Q::from_integer(denominators_lcm(rest.iter()));
    let l = {
        let ints: Vec<BigInt> = rest.iter().map(|c| (c * &l).to_integer()).collect();
        let content = ints.iter().fold(BigInt::zero(), |acc, c| acc.gcd(c));
        &l / Q::from_integer(content)
    };
    let coeffs: Option<Vec<f64>> = rest.iter().map(|c| c.to_f64()).collect();
    let coeffs = coeffs
        .filter(|c| c.iter().all(|v| v.is_finite()))
        .ok_or(Fail::NoClosedForm)?;
    let roots = complex_roots(&coeffs);
    let round = |v: f64| -> Option<Q> {
        let scaled = v * l.to_f64()?;
        if !scaled.is_finite() || scaled.abs() > 2f64.powi(52) {
            return None;
        }
        Some(Q::from_integer(BigInt::from(scaled.round() as i64)) / &l)
    };
    let mut left: Vec<(f64, f64)> = Vec::new();
    for &(re, im) in &roots {
        let cand = round(re)
            .filter(|c| im.abs() <= 1e-6 * (1.0 + re.abs()) && eval(f, &rest, c).is_zero());
        match cand {
            Some(c) => {
                rest = pdiv(f, &rest, &vec![-c.clone(), Q::one()]);
                out.push(Residue::Rational(c));
            }
            None => left.push((re, im)),
        }
    }
    // Pairs of the remaining roots as quadratic factors.
    let mut used = vec![false; left.len()];
    for i in 0..left.len() {
        for j in i + 1..left.len() {
            if used[i] || used[j] || deg(&rest) == 0 {
                continue;
            }
            let (a, b) = (left[i], left[j]);
            let sum = a.0 + b.0;
            let prod = a.0 * b.0 - a.1 * b.1;
            let (Some(sq), Some(pq)) = (round(sum), round(prod)) else {
                continue;
            };
            let quad = vec![pq, -sq, Q::one()];
            let (qq, rr) = pdivrem(f, &rest, &quad);
            if rr.is_empty() {
                rest = qq;
                used[i] = true;
                used[j] = true;
                push_small(&quad, &mut out);
            }
        }
    }
    if deg(&rest) > 0 {
        return Err(Fail::NoClosedForm);
    }
    Ok(out)
}

/// The residues of a monic polynomial of degree <= 2.
fn push_small(r: &Poly<Q>, out: &mut Vec<Residue>) {
    match deg(r) {
        1 => out.push(Residue::Rational(-&r[0])),
        2 if r.len() == 3 => {
            let (p, q) = (&r[1], &r[0]);
            let delta = p * p - Q::from_integer(4.into()) * q;
            match rational_sqrt(&delta) {
                Some(s) => {
                    let two = Q::from_integer(2.into());
                    out.push(Residue::Rational((-p - &s) / &two));
                    out.push(Residue::Rational((-p + &s) / &two));
                }
                None => out.push(Residue::Quadratic(p.clone(), q.clone())),
            }
        }
        _ => {}
    }
}

/// The complex roots of the monic polynomial with coefficients `c` (constant first), by
/// the Durand-Kerner iteration and a Newton polish, as `(re, im)`.
fn complex_roots(c: &[f64]) -> Vec<(f64, f64)> {
    type C = (f64, f64);
    let mul = |a: C, b: C| (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
    let div = |a: C, b: C| {
        let n = b.0 * b.0 + b.1 * b.1;
        ((a.0 * b.0 + a.1 * b.1) / n, (a.1 * b.0 - a.0 * b.1) / n)
    };
    let value = |z: C| {
        let mut acc = (0.0, 0.0);
        for &k in c.iter().rev() {
            acc = mul(acc, z);
            acc.0 += k;
        }
        acc
    };
    let n = c.len() - 1;
    let radius = 1.0 + c[..n].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut z: Vec<C> = Vec::with_capacity(n);
    let mut w = (1.0, 0.0);
    for _ in 0..n {
        w = mul(w, (0.4, 0.9));
        z.push((w.0 * radius.min(1e3), w.1 * radius.min(1e3)));
    }
    for _ in 0..2000 {
        let mut change = 0.0f64;
        for k in 0..n {
            let mut den = (1.0, 0.0);
            for j in 0..n {
                if j != k {
                    den = mul(den, (z[k].0 - z[j].0, z[k].1 - z[j].1));
                }
            }
            let step = div(value(z[k]), den);
            if step.0.is_finite() && step.1.is_finite() {
                z[k] = (z[k].0 - step.0, z[k].1 - step.1);
                change = change.max(step.0.hypot(step.1) / (1.0 + z[k].0.hypot(z[k].1)));
            }
        }
        if change < 1e-15 {
            break;
        }
    }
    z
}

/// `sum c_k x^k` as an expression.
fn poly_expr<F: Field>(pool: &mut Pool, f: &F, p: &Poly<F::E>, x: ExprId) -> ExprId {
    let mut terms = Vec::with_capacity(p.len());
    for (k, c) in p.iter().enumerate() {
        if f.is_zero(c) {
            continue;
        }
        let ce = f.to_expr(pool, c);
        let xk = pool.powi(x, k as i64);
        terms.push(pool.mul(vec![ce, xk]));
    }
    pool.add(terms)
}

// ---------------------------------------------------------------------------------------
// Definite integrals.

/// `int_lo^hi e dx` for `e` rational in `x` over Q (or a sum of such functions times
/// factors free of `x`, each integrated alone: [`by_constant`]), simplified: refused with
/// [`Fail::Pole`] where the denominator has a real root in the closed interval (the
/// fraction is in lowest terms, so a root at an end makes the integral diverge) or where
/// the ends' ranges do not show it has none.
pub fn definite(
    pool: &mut Pool,
    e: ExprId,
    x: Symbol,
    lo: ExprId,
    hi: ExprId,
) -> Result<ExprId, Fail> {
    let mut parts = Vec::new();
    for (c, r) in by_constant(pool, e, x) {
        let (n, d) = as_fraction(pool, r, x).ok_or(Fail::NotRational)?;
        let v = definite_of(pool, &n, &d, x, lo, hi)?;
        parts.push(pool.mul(vec![c, v]));
    }
    let sum = pool.add(parts);
    Ok(simplify::simplify(pool, sum))
}

/// `F(hi) - F(lo)` for `n/d` (coprime, d monic), unsimplified, after the pole check.
fn definite_of(
    pool: &mut Pool,
    n: &Poly<Q>,
    d: &Poly<Q>,
    x: Symbol,
    lo: ExprId,
    hi: ExprId,
) -> Result<ExprId, Fail> {
    let squarefree_den = pdiv(&Rat, d, &pgcd(&Rat, d, &deriv(&Rat, d)));
    let (a, b) = hull(pool, lo, hi).ok_or(Fail::Pole)?;
    if roots_in(&squarefree_den, &a, &b) > 0 {
        return Err(Fail::Pole);
    }
    let f = antiderivative_of(pool, n, d, x)?;
    let fh = subst::subst1(pool, f, x, hi);
    let fl = subst::subst1(pool, f, x, lo);
    Ok(pool.sub(fh, fl))
}

/// `int_0^1 e dt` where `e` is a rational function over Q of `cos(pi t/2)`, `sin(pi t/2)`
/// and `tan(pi t/2)` (times a factor free of t, such as a power of pi), by u = tan(pi t/2):
/// cos^2 = 1/(1 + u^2), sin = u cos, dt = (2/pi) du/(1 + u^2), t in [0, 1] to u in
/// [0, inf). The integral over [0, inf) is split at u = 1 and the upper part mapped by
/// u = 1/v, so both are integrals over [0, 1] of rational functions. [`Fail::NotRational`]
/// where the integrand has another form (or odd powers of cos leave a square root).
pub fn by_tangent_substitution(pool: &mut Pool, e: ExprId, t: Symbol) -> Result<ExprId, Fail> {
    let te = pool.sym_expr(t);
    let half = pool.frac(1, 2);
    let pi = pool.pi();
    let arg = pool.mul(vec![half, pi, te]);
    let u = pool.fresh_symbol("u");
    pool.set_domain(
        u,
        super::pool::Domain {
            lo: 0.0,
            hi: f64::INFINITY,
        },
    );
    let ue = pool.sym_expr(u);
    // cos = (1 + u^2)^(-1/2), sin = u (1 + u^2)^(-1/2), tan = u.
    let one = pool.one();
    let u2 = pool.powi(ue, 2);
    let s = pool.add(vec![one, u2]);
    let mh = pool.frac(-1, 2);
    let cos = pool.pow(s, mh);
    let sin = pool.mul(vec![ue, cos]);
    let mut memo = super::fxhash::HashMap::default();
    let eu = replace_trig(pool, e, t, arg, [cos, sin, ue], &mut memo).ok_or(Fail::NotRational)?;
    if !pool.contains(eu, u) {
        return Err(Fail::NotRational);
    }
    // dt = (2/pi) du/(1 + u^2)
    let two = pool.int(2);
    let two_over_pi = pool.div(two, pi);
    let jac = pool.recip(s);
    let integrand = pool.mul(vec![eu, jac]);
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
    // Convergent at infinity only if deg d >= deg n + 2 (n = 0 is no integral).
    if n.is_empty() {
        return Ok(pool.zero());
    }
    if deg(&d) < deg(&n) + 2 {
        return Err(Fail::Pole);
    }
    // int_1^inf n(u)/d(u) du = int_0^1 v^(deg d - deg n - 2) rev(n)(v)/rev(d)(v) dv with
    // rev(p)(v) = v^deg(p) p(1/v).
    let shift = deg(&d) - deg(&n) - 2;
    let mut n2: Poly<Q> = vec![Q::zero(); shift];
    n2.extend(n.iter().rev().cloned());
    let n2 = trim(&Rat, n2);
    let d2: Poly<Q> = trim(&Rat, d.iter().rev().cloned().collect());
    let l = d2.last().expect("nonzero").recip();
    let (n2, d2) = (pscale(&Rat, &n2, &l), pscale(&Rat, &d2, &l));
    let g = pgcd(&Rat, &n2, &d2);
    let (n2, d2) = (pdiv(&Rat, &n2, &g), pdiv(&Rat, &d2, &g));
    let (zero, one) = (pool.zero(), pool.one());
    pool.set_domain(u, super::pool::Domain::UNIT);
    let lower = definite_of(pool, &n, &d, u, zero, one)?;
    let upper = definite_of(pool, &n2, &d2, u, zero, one)?;
    let sum = pool.add(vec![lower, upper]);
    let v = pool.mul(vec![two_over_pi, constant, sum]);
    Ok(simplify::simplify(pool, v))
}

/// `e` with `cos(arg)`, `sin(arg)`, `tan(arg)` replaced by `by[0..3]`; `None` if `t` occurs
/// anywhere else.
fn replace_trig(
    pool: &mut Pool,
    e: ExprId,
    t: Symbol,
    arg: ExprId,
    by: [ExprId; 3],
    memo: &mut super::fxhash::HashMap<ExprId, Option<ExprId>>,
) -> Option<ExprId> {
    if !pool.contains(e, t) {
        return Some(e);
    }
    if let Some(&r) = memo.get(&e) {
        return r;
    }
    let r = match pool.node(e).clone() {
        Node::Call(Func::Cos, a) if a == arg => Some(by[0]),
        Node::Call(Func::Sin, a) if a == arg => Some(by[1]),
        Node::Call(Func::Tan, a) if a == arg => Some(by[2]),
        Node::Sym(_) | Node::Call(..) => None,
        _ => {
            let children = pool.children(e);
            let mut out = Vec::with_capacity(children.len());
            for c in children {
                out.push(replace_trig(pool, c, t, arg, by, memo)?);
            }
            Some(pool.rebuild(e, &out))
        }
    };
    memo.insert(e, r);
    r
}

/// The smallest closed interval known to hold `lo` and `hi`: exact where both are
/// rational, else from their ranges.
fn hull(pool: &mut Pool, lo: ExprId, hi: ExprId) -> Option<(Q, Q)> {
    if let (Some(a), Some(b)) = (pool.as_rational(lo), pool.as_rational(hi)) {
        return Some(if a <= b {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        });
    }
    let (ra, rb) = (range(pool, lo)?, range(pool, hi)?);
    let a = Q::from_float(ra.lo.min(rb.lo))?;
    let b = Q::from_float(ra.hi.max(rb.hi))?;
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::hp::{self, Hp};
    use crate::expr::integrate::{self, IntegrateError};
    use crate::expr::test_util::{parse_with_reals, simplified};
    use crate::expr::{Domain, diff, print};

    /// `(integrand, lo, hi, int_lo^hi * 10^40 rounded)`, from mpmath's tanh-sinh
    /// quadrature at 60 digits: `python3 scripts/ratint_reference.py`.
    const CASES: &[(&str, &str, &str, &str)] = &[
        (
            "1/(1 + t^2)",
            "0",
            "1",
            "7853981633974483096156608458198757210493",
        ),
        (
            "1/(1 + t^3)",
            "0",
            "1",
            "8356488482647210533371034597001107667865",
        ),
        (
            "1/(1 - 2*t + 2*t^2)^2",
            "0",
            "1",
            "25707963267948966192313216916397514420986",
        ),
        (
            "10/(1 - 2*t + 11*t^2)^2",
            "0",
            "1",
            "37320117730939278394692264343380965593121",
        ),
        (
            "(5 - 110*t + 605*t^2)/(1 - 8*t + 68*t^2 - 296*t^3 + 1270*t^4 - 3256*t^5 + 8228*t^6 - 10648*t^7 + 14641*t^8)",
            "0",
            "1",
            "22327505700689495952652691576348521896464",
        ),
        (
            "2/(1 - 2*t + 3*t^2)^2",
            "0",
            "1",
            "26660811018093873426309553712727601369805",
        ),
        (
            "(1 - 6*t + 9*t^2)/(1 - 8*t + 36*t^2 - 104*t^3 + 214*t^4 - 312*t^5 + 324*t^6 - 216*t^7 + 81*t^8)",
            "0",
            "1",
            "6352519765505568567816228648371304551924",
        ),
        (
            "(1/2 - 2*t + 2*t^2)/(1 - 8*t + 32*t^2 - 80*t^3 + 136*t^4 - 160*t^5 + 128*t^6 - 64*t^7 + 16*t^8)",
            "0",
            "1",
            "5593657483653908214744970895766045271913",
        ),
        (
            "1/(t + 1)^3",
            "0",
            "1",
            "3750000000000000000000000000000000000000",
        ),
        (
            "1/((t + 2)^2*(t + 3))",
            "0",
            "1",
            "488836310102832121278725571961449615982",
        ),
        (
            "t/(t^2 + t + 1)",
            "0",
            "1",
            "2470062502950185372652762421875702302764",
        ),
        (
            "1/(t^2 - 2)",
            "0",
            "1",
            "-6232252401402305133940200802505680026507",
        ),
        (
            "1/(t^2 - 3)",
            "-1",
            "1",
            "-7603459963009463475310942548804058242016",
        ),
        (
            "2*t/(t^2 - 2)",
            "0",
            "1",
            "-6931471805599453094172321214581765680755",
        ),
        (
            "3*t^2/(1 + t^6)",
            "0",
            "2",
            "14464413322481351841999668424758804165254",
        ),
        (
            "1/(t^4 + 4)",
            "0",
            "1",
            "2389834592513925862896806408489538574791",
        ),
        (
            "1/(t^3 - 8)",
            "0",
            "1",
            "-1292122959857498159036419677925846336512",
        ),
        (
            "(t^3 + 1)/(t^2 + 1)",
            "0",
            "1",
            "9388245731174756549070447850907874370115",
        ),
        (
            "t^5/(t^2 + 1)^2",
            "0",
            "1",
            "568528194400546905827678785418234319245",
        ),
        (
            "1/((t^2 + 1)*(t^2 + 4))",
            "0",
            "1",
            "1845247862990150838361775766964228400117",
        ),
        (
            "1/(t^2 + 1)^3",
            "0",
            "1",
            "5445243112740431161058728171824533953935",
        ),
        (
            "1/(t*(t + 1))",
            "1",
            "2",
            "2876820724517809274392190059938274315035",
        ),
        (
            "1/(t^2*(t + 1)^2)",
            "1",
            "2",
            "913025217631048117882286546790118036596",
        ),
        (
            "(2*t + 3)/((t - 3)*(t + 4)^2)",
            "0",
            "1",
            "-797444476490074946877300786115847501943",
        ),
        (
            "1/(t^2 + t + 1)^2",
            "-1",
            "1",
            "18758662428228119003960521717614371548560",
        ),
        (
            "1/(t^3 + t)",
            "1",
            "3",
            "2938933324510595040948655703094318848847",
        ),
        (
            "1/(t^4 - 1)",
            "2",
            "3",
            "304177497249591340880774703148107426391",
        ),
        (
            "1/(t^4 + t^2 + 1)",
            "0",
            "1",
            "7281029132255818854973308736411703592329",
        ),
        (
            "1/(5 + 4*t + t^2)",
            "-3",
            "0",
            "18925468811915388126327263059984127611193",
        ),
        (
            "1/(t^2 - t - 1)",
            "2",
            "3",
            "4304089409640040388894332329506054254246",
        ),
        (
            "(t + 1)/(t^2 - 5)",
            "-1",
            "1",
            "-4304089409640040388894332329506054254246",
        ),
        (
            "1/(2*t + 1)^4",
            "0",
            "1",
            "1604938271604938271604938271604938271605",
        ),
        (
            "t^2/(t^2 + 2*t + 5)^2",
            "0",
            "1",
            "67970482489506854379389419870816621940",
        ),
        (
            "1/(t^2 + 1/4)",
            "0",
            "1/2",
            "15707963267948966192313216916397514420986",
        ),
        (
            "7/(3*t^2 + 2*t + 1)",
            "0",
            "1",
            "30464691297848611911574435587814549250317",
        ),
        (
            "1/(t^6 - 1)",
            "2",
            "3",
            "54712843326110490839668671414832062170",
        ),
        (
            "1/((1 + t)^2*(1 + t^2))",
            "0",
            "1",
            "4232867951399863273543080303645441420189",
        ),
        (
            "(1 - t^2)/(1 + t^2)^2",
            "0",
            "1",
            "5000000000000000000000000000000000000000",
        ),
        (
            "1/(t^2 + 2)^2",
            "0",
            "1",
            "1921358022542212330175277461469567235130",
        ),
        (
            "t/(t^4 + 2)",
            "0",
            "1",
            "2176049378417757993683888256272467803594",
        ),
        (
            "1/(t*(t^2 + 1)^2)",
            "1",
            "2",
            "850018146228677768254685155741710323504",
        ),
        (
            "1/((t - 1)^2*(t^2 + 1))",
            "2",
            "3",
            "767132048600136726456919696354558579811",
        ),
        (
            "1000/(1 + 1000*t^2)",
            "0",
            "1",
            "486732744624565856280793528710303884150073",
        ),
        (
            "(t^2 + 1)/(t^4 - t^2 + 1)",
            "0",
            "1",
            "15707963267948966192313216916397514420986",
        ),
        (
            "1/(t^2 - 2*t + 1/2)",
            "-1",
            "0",
            "7239000228999811470019415244630568735669",
        ),
        ("(3*t^2 - 1)/(t^3 - t + 1)^2", "0", "1", "0"),
        (
            "1/(t^2 + 1)",
            "1",
            "0",
            "-7853981633974483096156608458198757210493",
        ), // Residues in fields of degree 4 or 6: split over Q(sqrt d) (`split.rs`).
        (
            "1/(t^4 + 1)",
            "0",
            "1",
            "8669729873399110375739951638828707136522",
        ),
        (
            "t^2/(t^4 + 1)",
            "0",
            "1",
            "2437477471996805241799750836323027110015",
        ),
        (
            "1/(t^6 + 1)",
            "0",
            "1",
            "9037717737487720468426543579867867261337",
        ),
        (
            "1/((t^4 + 1)*(t^2 + 2))",
            "0",
            "1",
            "3850816206327386299409585790775864554043",
        ),
        (
            "(t^3 + 2)/(t^4 + 1)",
            "-1",
            "2",
            "44092178938272660633103086770330203666380",
        ),
        (
            "1/(t^4 - 10*t^2 + 1)",
            "0",
            "1/4",
            "3385564664143167596768884852985782935498",
        ),
        (
            "1/(t^4 - 2)",
            "-1",
            "1",
            "-11436672540694156973150223862304934095367",
        ),
        (
            "1/(t^4 + t^3 + t^2 + t + 1)",
            "0",
            "1",
            "5455310704014144299633064960804847297998",
        ),
        (
            "1/(4*t^4 + 9)",
            "0",
            "1",
            "1031109392504148261452013199480562165204",
        ),
        (
            "1/(t^4 + 1)^2",
            "0",
            "1",
            "7752297405049332781804963729121530352391",
        ),
        (
            "1/((t - 3)*(t^4 + 1))",
            "0",
            "1",
            "-3445433846135769230443974344847896515235",
        ),
        (
            "(t^5 + 1)/(t^6 + 1)^2",
            "-1",
            "1",
            "16729529562479534114044239299779778768895",
        ),
        (
            "1/(t^4 + 9)",
            "1",
            "2",
            "707891226334727780994986507573974169605",
        ),
        (
            "t/(t^6 + 1)",
            "0",
            "3",
            "6015150603833031311076442880409628558350",
        ),
    ];

    fn q(s: &str) -> Q {
        s.parse().expect("a rational")
    }

    /// `e` at `env`, 256 bits, as an exact rational.
    fn value(pool: &Pool, e: ExprId, env: &[(Symbol, Q)]) -> Q {
        let mut h = Hp::new(256);
        let env: Vec<_> = env.iter().map(|(s, v)| (*s, h.from_rational(v))).collect();
        let v = h.eval(pool, e, &env).expect("evaluates");
        hp::to_rational(&v).expect("finite")
    }

    fn in_pool(text: &str) -> (Pool, ExprId, Symbol) {
        let mut pool = Pool::new();
        let e = parse_with_reals(&mut pool, text);
        let t = pool.symbol("t");
        (pool, e, t)
    }

    #[test]
    fn definite_integrals_agree_with_quadrature_to_32_digits() {
        assert!(CASES.len() >= 40);
        let scale = Q::from_integer(BigInt::from(10).pow(40));
        for &(text, lo, hi, reference) in CASES {
            let (mut pool, e, t) = in_pool(text);
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
    fn antiderivatives_differentiate_back_to_the_integrand_and_simplify_to_it() {
        for &(text, lo, hi, _) in CASES {
            let (mut pool, e, t) = in_pool(text);
            let f = antiderivative(&mut pool, e, t).unwrap_or_else(|err| panic!("{text}: {err:?}"));
            let d = diff::diff(&mut pool, f, t);
            let r = pool.sub(d, e);
            // Symbolically: F' - f reduces to 0 (roots reduced by their relations).
            assert!(
                crate::expr::zero::proves_zero(&mut pool, r),
                "{text}: F' - f is not proved 0"
            );
            let (a, b) = (q(lo), q(hi));
            for k in 1..=5 {
                let at = &a + (&b - &a) * Q::new(k.into(), 6.into());
                let residual = value(&pool, r, &[(t, at.clone())]);
                let size = Q::one() + value(&pool, e, &[(t, at)]).abs();
                let tol = Q::new(1.into(), BigInt::from(10).pow(60)) * size;
                assert!(
                    residual.abs() < tol,
                    "{text}: F' - f = {residual} at point {k}"
                );
            }
        }
    }

    #[test]
    fn the_rectified_flow_integrals_close_exactly() {
        let cases = [
            ("10/(1 - 2*t + 11*t^2)^2", "1 + 11*sqrt(10)*pi/40"),
            ("2/(1 - 2*t + 3*t^2)^2", "1 + 3*sqrt(2)*pi/8"),
            ("1/(1 - 2*t + 2*t^2)^2", "1 + pi/2"),
            ("1/(1 + t^3)", "log(2)/3 + sqrt(3)*pi/9"),
        ];
        for (text, want) in cases {
            assert_eq!(crate::expr::test_util::integral01(text), want, "{text}");
        }
        // c_2 = (I1^2 + I2^2 + I3^2)/4 in exact arithmetic: the closed forms squared and
        // summed are the coefficient asymptotics prints.
        let mut pool = Pool::new();
        let t = pool.symbol("t");
        pool.set_domain(t, Domain::UNIT);
        let (zero, one) = (pool.zero(), pool.one());
        let mut squares = Vec::new();
        for (text, _) in &cases[..3] {
            let e = parse_with_reals(&mut pool, text);
            let i = integrate::integrate(&mut pool, e, t, zero, one).expect("closes");
            squares.push(pool.powi(i, 2));
        }
        let sum = pool.add(squares);
        let quarter = pool.frac(1, 4);
        let c2 = pool.mul(vec![quarter, sum]);
        let c2 = crate::expr::poly::expand(&mut pool, c2);
        let want = parse_with_reals(
            &mut pool,
            "3/4 + pi/4 + 103*pi^2/320 + 3*sqrt(2)*pi/16 + 11*sqrt(10)*pi/80",
        );
        assert_eq!(print::to_text(&pool, c2), print::to_text(&pool, want));
        assert_eq!(c2, want);
    }

    #[test]
    fn denominators_split_over_quadratic_fields_close() {
        // By hand: sqrt(2)/8 (pi + log((2 + sqrt 2)/(2 - sqrt 2))) = (pi + 2 log(1 + sqrt 2))/(4 sqrt 2),
        // the classical value of int_0^1 dt/(1 + t^4); and pi/6 + sqrt(3)/6 log(2 + sqrt 3)
        // for int_0^1 dt/(1 + t^6), as (2 + sqrt 3)/(2 - sqrt 3) = (2 + sqrt 3)^2.
        let cases = [
            (
                "1/(t^4 + 1)",
                "sqrt(2)*pi/8 + sqrt(2)*log(2 + sqrt(2))/8 - sqrt(2)*log(2 - sqrt(2))/8",
            ),
            (
                "1/(t^6 + 1)",
                "pi/6 + sqrt(3)*log(2 + sqrt(3))/12 - sqrt(3)*log(2 - sqrt(3))/12",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(crate::expr::test_util::integral01(text), want, "{text}");
        }
    }

    #[test]
    fn factors_free_of_the_variable_come_out_term_by_term() {
        // sqrt(2)/(1 + t^4) and y/(1 + t^4) + sqrt(y)/(1 + t^2) (y a symbol, a parameter
        // such as lambda): sqrt(2) I4 and y I4 + sqrt(y) pi/4, I4 = int_0^1 dt/(1 + t^4)
        // from mpmath (CASES), checked at y = 3; the antiderivative differentiates back.
        let scale = Q::from_integer(BigInt::from(10).pow(40));
        let i4 = q("8669729873399110375739951638828707136522") / &scale;
        let quarter_pi = q(CASES[0].3) / &scale;
        let (mut pool, e, t) = in_pool("sqrt(2)/(1 + t^4)");
        let (zero, one) = (pool.zero(), pool.one());
        let v = definite(&mut pool, e, t, zero, one).expect("closes");
        let got = value(&pool, v, &[]);
        let two: f64 = 2.0;
        let want = two.sqrt() * i4.to_f64().expect("finite");
        assert!((got.to_f64().expect("finite") - want).abs() < 1e-15);
        let (mut pool, e, t) = in_pool("y/(1 + t^4) + sqrt(y)/(1 + t^2)");
        let lambda = pool.lookup_symbol("y").expect("y");
        pool.set_domain(
            lambda,
            Domain {
                lo: 0.0,
                hi: f64::INFINITY,
            },
        );
        let (zero, one) = (pool.zero(), pool.one());
        let v = definite(&mut pool, e, t, zero, one).expect("closes");
        let got = value(&pool, v, &[(lambda, q("3"))]);
        let want = q("3") * &i4 + Q::from_float(3f64.sqrt()).expect("finite") * &quarter_pi;
        assert!((got - want).abs() < Q::new(1.into(), BigInt::from(10).pow(14)));
        let f = antiderivative(&mut pool, e, t).expect("closes");
        let d = diff::diff(&mut pool, f, t);
        let r = pool.sub(d, e);
        assert!(crate::expr::zero::proves_zero(&mut pool, r));
    }

    #[test]
    fn poles_on_the_interval_are_refused_and_high_degree_residues_give_up() {
        for (text, lo, hi) in [
            ("1/(t - 1/2)", "0", "1"),
            ("1/t", "0", "1"),
            ("1/(1 - t)^2", "0", "1"),
            ("1/(t^2 - 1/4)", "0", "1"),
            ("t/(t^3 - 2)", "1", "2"),
            ("1/(t^2 - 2)", "-2", "0"),
        ] {
            let (mut pool, e, t) = in_pool(text);
            let (l, h) = (pool.rational(q(lo)), pool.rational(q(hi)));
            assert_eq!(
                definite(&mut pool, e, t, l, h),
                Err(Fail::Pole),
                "{text} on [{lo}, {hi}]"
            );
            assert_eq!(
                integrate::integrate(&mut pool, e, t, l, h),
                Err(IntegrateError::Unbounded),
                "{text} on [{lo}, {hi}]"
            );
        }
        // Residues in fields where the denominator has no real factor of degree <= 2 over
        // any quadratic field: a cubic with one real root 2^(1/3); three real roots
        // 2 cos(2 pi k/9), a cubic field; t^8 + 1 needs sqrt(2 + sqrt(2)).
        for text in [
            "1/(t^3 - 2)",
            "1/(t^3 - 3*t + 1)",
            "1/(t^8 + 1)",
            "t/(t^3 - 2)^2",
        ] {
            let (mut pool, e, t) = in_pool(text);
            assert_eq!(
                antiderivative(&mut pool, e, t),
                Err(Fail::NoClosedForm),
                "{text}"
            );
        }
        // Not rational over Q.
        let (mut pool, e, t) = in_pool("1/(t^2 + x)");
        assert_eq!(antiderivative(&mut pool, e, t), Err(Fail::NotRational));
    }

    #[test]
    fn symbolic_ends_need_their_ranges_clear_of_the_poles() {
        // int_0^t 1/(1 + s^3) ds with t in [0, 1]: closes.
        let (mut pool, e, t) = in_pool("1/(1 + t^3)");
        let s = pool.fresh_symbol("s");
        let se = pool.sym_expr(s);
        let e = subst::subst1(&mut pool, e, t, se);
        let (zero, te) = (pool.zero(), pool.sym_expr(t));
        let v = integrate::integrate(&mut pool, e, s, zero, te).expect("closes");
        let want = q(CASES[1].3) / Q::from_integer(BigInt::from(10).pow(40));
        let got = value(&pool, v, &[(t, Q::one())]);
        assert!((got - want).abs() < Q::new(1.into(), BigInt::from(10).pow(32)));
        // int_0^u 1/(s - 2) ds with u real: the interval may reach the pole.
        let (mut pool, e, _) = in_pool("1/(t - 2)");
        let t = pool.symbol("t");
        let s = pool.fresh_symbol("s");
        let se = pool.sym_expr(s);
        let e = subst::subst1(&mut pool, e, t, se);
        let (zero, u) = (pool.zero(), pool.var("u"));
        assert_eq!(definite(&mut pool, e, s, zero, u), Err(Fail::Pole));
    }

    /// `(integrand, int_0^1 * 10^40 rounded)`: `python3 scripts/ratint_reference.py`.
    const TRIG: &[(&str, &str)] = &[
        (
            "pi^2/(2*(2 - cos(pi*t/2)^2)^2)",
            "26170740748645798253090853510635269837199",
        ),
        (
            "1/(1 + sin(pi*t/2)^2)",
            "7071067811865475244008443621048490392848",
        ),
        (
            "cos(pi*t/2)^2/(3 - 2*cos(pi*t/2)^2)",
            "3660254037844386467637231707529361834714",
        ),
        (
            "sin(pi*t/2)*cos(pi*t/2)/(1 + cos(pi*t/2)^2)",
            "2206356001526515933964564321179976909827",
        ),
        (
            "cos(pi*t/2)^2/(2 + tan(pi*t/2)^2)",
            "2071067811865475244008443621048490392848",
        ),
        (
            "5*pi^2/(2*(10 - 9*cos(pi*t/2)^2)^2)",
            "42914340579363544252799106670762293257266",
        ),
    ];

    #[test]
    fn the_tangent_substitution_closes_trigonometric_integrands() {
        let scale = Q::from_integer(BigInt::from(10).pow(40));
        for &(text, reference) in TRIG {
            let (mut pool, e, t) = in_pool(text);
            let (zero, one) = (pool.zero(), pool.one());
            let v = integrate::integrate(&mut pool, e, t, zero, one)
                .unwrap_or_else(|err| panic!("{text}: {err}"));
            let got = value(&pool, v, &[]);
            let want = q(reference) / &scale;
            let tol = Q::new(1.into(), BigInt::from(10).pow(32)) * (Q::one() + want.abs());
            assert!(
                (&got - &want).abs() < tol,
                "{text}: {} = {got}",
                print::to_text(&pool, v)
            );
        }
        // cos(pi t/2)^2/(3 - 2 cos(pi t/2)^2) = ... = (sqrt(3) - 1)/2 exactly.
        assert_eq!(
            crate::expr::test_util::integral01("cos(pi*t/2)^2/(3 - 2*cos(pi*t/2)^2)"),
            "sqrt(3)/2 - 1/2"
        );
        // Odd powers of cos leave a square root; tan alone diverges at t = 1.
        for (text, fail) in [
            ("cos(pi*t/2)/(2 - cos(pi*t/2))", Fail::NotRational),
            ("tan(pi*t/2)", Fail::Pole),
            ("t*cos(pi*t/2)^2", Fail::NotRational),
        ] {
            let (mut pool, e, t) = in_pool(text);
            assert_eq!(
                by_tangent_substitution(&mut pool, e, t),
                Err(fail),
                "{text}"
            );
        }
    }

    #[test]
    fn the_beta_shorthand_closes_for_a_rational_beta() {
        // beta = 1/(1 + t^3): alpha(1) = exp(-I/2), I = int_0^1 beta = ln(2)/3 + sqrt(3) pi/9
        // (CASES[1], mpmath).
        let text = "process cubic { beta(t) = 1/(1 + t^3); }";
        let ast = crate::syntax::parse_file(text).expect("parses");
        let mut pool = Pool::new();
        let ps = crate::process::lower_file(&mut pool, &ast, text, &[]).expect("lowers");
        let alpha = ps[0].quantity("alpha").expect("derived");
        let t = pool.lookup_symbol("t").expect("t");
        let got = value(&pool, alpha, &[(t, Q::one())]);
        let i: f64 = 0.835_648_848_264_721;
        let want = (-i / 2.0).exp();
        let got = got.to_f64().expect("finite");
        assert!((got - want).abs() < 4.0 * f64::EPSILON, "{got} != {want}");
    }

    #[test]
    fn polynomial_algorithms() {
        let f = &Rat;
        let p = |cs: &[i64]| -> Poly<Q> { cs.iter().map(|&c| Q::from_integer(c.into())).collect() };
        // (x - 1)(x + 2)^2(x^2 + 1)^3: Yun's factors x - 1, x + 2, x^2 + 1.
        let a = pmul(f, &p(&[-1, 1]), &pmul(f, &p(&[2, 1]), &p(&[2, 1])));
        let b = pmul(f, &p(&[1, 0, 1]), &pmul(f, &p(&[1, 0, 1]), &p(&[1, 0, 1])));
        let sf = squarefree(f, &pmul(f, &a, &b));
        assert_eq!(sf, vec![p(&[-1, 1]), p(&[2, 1]), p(&[1, 0, 1])]);
        // res(x^2 + 1, x - 2) = (i - 2)(-i - 2) = 5; res(x - 1, x - 1) = 0.
        assert_eq!(resultant(&p(&[1, 0, 1]), &p(&[-2, 1])), q("5"));
        assert_eq!(resultant(&p(&[-1, 1]), &p(&[-1, 1])), q("0"));
        // res(2x^2 - 3, x^3 + x) = 2^3 (r1^3 + r1)(r2^3 + r2), r = +-sqrt(3/2):
        // r^3 + r = r (r^2 + 1) = 5r/2, the product 25 r1 r2/4 = -75/8, times 8.
        assert_eq!(resultant(&p(&[-3, 0, 2]), &p(&[0, 1, 0, 1])), q("-75"));
        // Sturm: x^3 - x has roots -1, 0, 1.
        let c = p(&[0, -1, 0, 1]);
        assert_eq!(roots_in(&c, &q("-2"), &q("2")), 3);
        assert_eq!(roots_in(&c, &q("-1"), &q("0")), 2);
        assert_eq!(roots_in(&c, &q("1/2"), &q("1")), 1);
        assert_eq!(roots_in(&c, &q("1/4"), &q("3/4")), 0);
        // Extended gcd: s a + t b = gcd.
        let (a, b) = (p(&[-1, 0, 1]), p(&[1, 1]));
        let (s, t, g) = ext_gcd(f, &a, &b);
        assert_eq!(g, p(&[1, 1]));
        assert_eq!(padd(f, &pmul(f, &s, &a), &pmul(f, &t, &b)), g);
    }

    #[test]
    fn inverse_tangent_rules() {
        assert_eq!(simplified("atan(sqrt(10)) + atan(sqrt(10)/10)"), "pi/2");
        assert_eq!(simplified("atan(sqrt(3))"), "pi/3");
        assert_eq!(simplified("atan(-sqrt(3)/3)"), "-pi/6");
        assert_eq!(simplified("atan(2 - sqrt(3))"), "pi/12");
        assert_eq!(simplified("atan(1 + t) + atan(1/(1 + t))"), "pi/2");
        assert_eq!(simplified("-atan(t + 1) - atan(1/(t + 1))"), "-pi/2");
        // The sign of x unknown: no rewrite.
        assert_eq!(simplified("atan(x) + atan(1/x)"), "atan(1/x) + atan(x)");
    }
}
