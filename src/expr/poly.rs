//! Polynomial and rational-function normalisation: [`expand`] and [`together`].
//!
//! `together` reads an expression as a rational function of its *generators* (symbols,
//! constants, calls and non-integer powers, sorted by [`Pool::cmp`]), computes with sparse
//! polynomials over Q, cancels common factors and writes the result back through the
//! canonical constructors as `N * D^-1`. Work is bounded: anything that would exceed
//! [`MAX_TERMS`] terms, or a sum raised to a power above 64, leaves the input unchanged.

use std::collections::BTreeMap;

use crate::expr::fxhash::{HashMap, HashSet};

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::pool::{ExprId, Func, Node, Pool};
use super::rational;

/// Largest number of terms any intermediate polynomial or expanded sum may have.
pub const MAX_TERMS: usize = 2000;
/// Largest power of a sum (or of a non-monomial coefficient) that is multiplied out.
const MAX_POWER: u32 = 64;
/// Largest number of term-by-term products one multiplication may compute.
const MAX_PRODUCTS: usize = 64 * MAX_TERMS;
/// Largest exponent of one generator in a monomial.
const MAX_EXPONENT: u32 = 1 << 20;

/// Work allowed to one [`together`] by default, in units of one product of word-sized
/// coefficients (a product of n-word coefficients costs about n units). Set from
/// measurement: the largest call in deriving and emitting the bundled library spends
/// about 370,000 units; a unit takes about 0.3 us, so a call gives up after about 0.6 s.
pub const DEFAULT_WORK: u64 = 2_000_000;

/// Work allowed to lowering (or checking) one process: its whole simplification gives up
/// improving forms after about 12 s. The bundled library's largest process spends about
/// 3,000,000 units.
pub const PROCESS_WORK: u64 = 40_000_000;

thread_local! {
    /// What the running [`together_within`] may still spend (unlimited outside one).
    static WORK: std::cell::Cell<u64> = const { std::cell::Cell::new(u64::MAX) };
}

/// Charges `units` of work to the running [`together_within`]; `None` once its
/// allowance is spent, which makes the whole call give up and return its input.
fn spend(units: u64) -> Option<()> {
    WORK.with(|w| {
        let left = w.get().checked_sub(units)?;
        w.set(left);
        Some(())
    })
}

/// The cost in work units of one product of coefficients of `a_bits` and `b_bits` bits:
/// quadratic in their size in words, as the reducing GCD is.
fn product_cost(a_bits: u64, b_bits: u64) -> u64 {
    let words = (a_bits + b_bits) / 64;
    1 + words * words
}

/// Exponents of the generators, in generator order.
type Monomial = Vec<u32>;

fn mono_mul(a: &[u32], b: &[u32]) -> Option<Monomial> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.checked_add(*y).filter(|&s| s <= MAX_EXPONENT))
        .collect()
}

fn mono_div(a: &[u32], b: &[u32]) -> Option<Monomial> {
    a.iter().zip(b).map(|(x, y)| x.checked_sub(*y)).collect()
}

/// A sparse polynomial over Q. Keys are ordered lexicographically (generator 0 most
/// significant), which is the fixed monomial order used for division and leading terms.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Poly {
    nvars: usize,
    terms: BTreeMap<Monomial, BigRational>,
}

impl Poly {
    fn zero(nvars: usize) -> Poly {
        Poly {
            nvars,
            terms: BTreeMap::new(),
        }
    }

    fn constant(nvars: usize, c: BigRational) -> Poly {
        let mut p = Poly::zero(nvars);
        p.add_term(vec![0; nvars], c);
        p
    }

    fn one(nvars: usize) -> Poly {
        Poly::constant(nvars, BigRational::one())
    }

    /// `x_i^k`.
    fn var(nvars: usize, i: usize, k: u32) -> Poly {
        let mut m = vec![0; nvars];
        m[i] = k;
        let mut p = Poly::zero(nvars);
        p.add_term(m, BigRational::one());
        p
    }

    fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }

    fn len(&self) -> usize {
        self.terms.len()
    }

    fn is_constant(&self) -> bool {
        self.terms.keys().all(|m| m.iter().all(|&e| e == 0))
    }

    fn is_one(&self) -> bool {
        self.is_constant() && self.terms.values().all(One::is_one) && self.len() == 1
    }

    fn leading(&self) -> Option<(Monomial, BigRational)> {
        self.terms
            .last_key_value()
            .map(|(m, c)| (m.clone(), c.clone()))
    }

    fn add_term(&mut self, m: Monomial, c: BigRational) {
        if c.is_zero() {
            return;
        }
        match self.terms.entry(m) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(c);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                rational::add_assign(o.get_mut(), &c);
                if o.get().is_zero() {
                    o.remove();
                }
            }
        }
    }

    fn bounded(self) -> Option<Poly> {
        (self.len() <= MAX_TERMS).then_some(self)
    }

    fn scale(&self, c: &BigRational) -> Poly {
        if c.is_one() {
            return self.clone();
        }
        let mut out = Poly::zero(self.nvars);
        for (m, x) in &self.terms {
            out.add_term(m.clone(), rational::mul(x, c));
        }
        out
    }

    /// `self + other`, consuming `other`'s terms.
    fn add_assign(&mut self, other: Poly) -> Option<()> {
        spend(other.len() as u64)?;
        for (m, c) in other.terms {
            self.add_term(m, c);
        }
        (self.len() <= MAX_TERMS).then_some(())
    }

    fn mul(&self, other: &Poly) -> Option<Poly> {
        // A monomial factor shifts and scales: no products to collect, and the common
        // `1 * p` of a sum's cofactors costs a copy.
        if let Some((m, c)) = other.single_term() {
            return self.mul_term(m, c);
        }
        if let Some((m, c)) = self.single_term() {
            return other.mul_term(m, c);
        }
        if self.len().saturating_mul(other.len()) > MAX_PRODUCTS {
            return None;
        }
        let products = (self.len() * other.len()) as u64;
        spend(products.saturating_mul(product_cost(self.max_bits(), other.max_bits())))?;
        let mut out = Poly::zero(self.nvars);
        for (ma, ca) in &self.terms {
            for (mb, cb) in &other.terms {
                out.add_term(mono_mul(ma, mb)?, rational::mul(ca, cb));
            }
        }
        out.bounded()
    }

    /// The size in bits of the largest coefficient.
    fn max_bits(&self) -> u64 {
        self.terms
            .values()
            .map(|c| c.numer().bits() + c.denom().bits())
            .max()
            .unwrap_or(0)
    }

    fn single_term(&self) -> Option<(&Monomial, &BigRational)> {
        let mut it = self.terms.iter();
        match (it.next(), it.next()) {
            (Some(t), None) => Some(t),
            _ => None,
        }
    }

    /// `self * c * x^m`: distinct monomials stay distinct, so no terms are collected.
    fn mul_term(&self, m: &[u32], c: &BigRational) -> Option<Poly> {
        let bits = c.numer().bits() + c.denom().bits();
        spend((self.len() as u64).saturating_mul(product_cost(self.max_bits(), bits)))?;
        if m.iter().all(|&e| e == 0) {
            return Some(self.scale(c));
        }
        let mut terms = BTreeMap::new();
        for (k, x) in &self.terms {
            terms.insert(mono_mul(k, m)?, rational::mul(x, c));
        }
        Some(Poly {
            nvars: self.nvars,
            terms,
        })
    }

    /// `self^k`; a monomial with coefficient ±1 takes any exponent, anything else at most
    /// [`MAX_POWER`].
    fn pow(&self, k: u32) -> Option<Poly> {
        if let [(m, c)] = self.terms.iter().collect::<Vec<_>>()[..]
            && c.abs().is_one()
        {
            let m: Option<Monomial> = m
                .iter()
                .map(|&e| e.checked_mul(k).filter(|&p| p <= MAX_EXPONENT))
                .collect();
            let sign = if c.is_negative() && k % 2 == 1 { -1 } else { 1 };
            let mut out = Poly::zero(self.nvars);
            out.add_term(m?, BigRational::from_integer(BigInt::from(sign)));
            return Some(out);
        }
        if k > MAX_POWER {
            return None;
        }
        let mut out = Poly::one(self.nvars);
        for _ in 0..k {
            out = out.mul(self)?;
        }
        Some(out)
    }

    /// `self -= c * x^m * d`.
    fn sub_shifted(&mut self, d: &Poly, m: &[u32], c: &BigRational) -> Option<()> {
        let bits = c.numer().bits() + c.denom().bits();
        spend((d.len() as u64).saturating_mul(product_cost(d.max_bits(), bits)))?;
        for (dm, dc) in &d.terms {
            self.add_term(mono_mul(m, dm)?, -(c * dc));
        }
        (self.len() <= MAX_TERMS).then_some(())
    }

    /// The quotient `self / d` if `d` divides `self` exactly (and the work stays bounded).
    fn div_exact(&self, d: &Poly) -> Option<Poly> {
        let (dm, dc) = d.leading()?;
        let mut r = self.clone();
        let mut q = Poly::zero(self.nvars);
        while let Some((m, c)) = r.leading() {
            let qm = mono_div(&m, &dm)?;
            let qc = c / &dc;
            r.sub_shifted(d, &qm, &qc)?;
            q.terms.insert(qm, qc);
            if q.len() > MAX_TERMS {
                return None;
            }
        }
        Some(q)
    }

    /// Division with remainder: leading terms of the running remainder that `lt(d)` does
    /// not divide move to the remainder.
    fn div_rem(&self, d: &Poly) -> Option<(Poly, Poly)> {
        let (dm, dc) = d.leading()?;
        let mut r = self.clone();
        let mut q = Poly::zero(self.nvars);
        let mut rem = Poly::zero(self.nvars);
        while let Some((m, c)) = r.leading() {
            match mono_div(&m, &dm) {
                Some(qm) => {
                    let qc = c / &dc;
                    r.sub_shifted(d, &qm, &qc)?;
                    q.terms.insert(qm, qc);
                }
                None => {
                    r.terms.pop_last();
                    rem.terms.insert(m, c);
                }
            }
            if q.len() > MAX_TERMS || rem.len() > MAX_TERMS {
                return None;
            }
        }
        Some((q, rem))
    }

    fn monic(&self) -> Poly {
        match self.terms.last_key_value() {
            Some((_, c)) => {
                let inv = c.recip();
                self.scale(&inv)
            }
            None => self.clone(),
        }
    }

    /// The smallest exponent of each generator over all terms.
    fn monomial_content(&self) -> Monomial {
        let mut it = self.terms.keys();
        let Some(first) = it.next() else {
            return vec![0; self.nvars];
        };
        let mut min = first.clone();
        for m in it {
            for (a, b) in min.iter_mut().zip(m) {
                *a = (*a).min(*b);
            }
        }
        min
    }

    fn div_monomial(&self, m: &[u32]) -> Poly {
        let mut out = Poly::zero(self.nvars);
        for (k, c) in &self.terms {
            let q: Monomial = k.iter().zip(m).map(|(a, b)| a.saturating_sub(*b)).collect();
            out.add_term(q, c.clone());
        }
        out
    }

    /// The coefficient that decides the sign: the constant term if there is one, otherwise
    /// the leading coefficient.
    fn sign_coefficient(&self) -> Option<&BigRational> {
        match self.terms.first_key_value() {
            Some((m, c)) if m.iter().all(|&e| e == 0) => Some(c),
            _ => self.terms.last_key_value().map(|(_, c)| c),
        }
    }

    /// The rational `u` such that `self / u` has coprime integer coefficients and a
    /// positive sign coefficient (1 for the zero polynomial).
    fn unit(&self) -> BigRational {
        let mut g = BigInt::zero();
        let mut l = BigInt::one();
        for c in self.terms.values() {
            g = g.gcd(c.numer());
            l = l.lcm(c.denom());
        }
        if g.is_zero() {
            return BigRational::one();
        }
        let content = BigRational::new(g, l);
        match self.sign_coefficient() {
            Some(c) if c.is_negative() => -content,
            _ => content,
        }
    }

    /// A non-constant factor common to the coefficients of `self` seen as a polynomial in
    /// one generator, when those coefficients are polynomials in one other generator: the
    /// `1 + 199 t` of `(1 + 199 t) - (1 + 199 t) E`. Normalised to coprime integer
    /// coefficients.
    fn content_factor(&self) -> Option<Poly> {
        for v in 0..self.nvars {
            let mut groups: BTreeMap<u32, Poly> = BTreeMap::new();
            for (m, c) in &self.terms {
                let mut rest = m.clone();
                rest[v] = 0;
                groups
                    .entry(m[v])
                    .or_insert_with(|| Poly::zero(self.nvars))
                    .add_term(rest, c.clone());
            }
            if groups.len() < 2 {
                continue;
            }
            let mut used = vec![false; self.nvars];
            for g in groups.values() {
                for (u, k) in used.iter_mut().zip(g.vars_used()) {
                    *u |= k;
                }
            }
            if used.iter().filter(|&&u| u).count() != 1 {
                continue;
            }
            let mut it = groups.into_values();
            let first = it.next()?;
            let g = it.try_fold(first, |acc, p| gcd_univariate(&acc, &p))?;
            if !g.is_constant() {
                let unit = g.unit().recip();
                return Some(g.scale(&unit));
            }
        }
        None
    }

    /// Which generators occur.
    fn vars_used(&self) -> Vec<bool> {
        let mut used = vec![false; self.nvars];
        for m in self.terms.keys() {
            for (u, &e) in used.iter_mut().zip(m) {
                *u |= e > 0;
            }
        }
        used
    }
}

/// Monic gcd of two univariate polynomials over Q by Euclid's algorithm.
fn gcd_univariate(a: &Poly, b: &Poly) -> Option<Poly> {
    let mut a = a.monic();
    let mut b = b.monic();
    for _ in 0..MAX_TERMS {
        if b.is_zero() {
            return Some(a);
        }
        let (_, r) = a.div_rem(&b)?;
        a = b;
        b = r.monic();
    }
    None
}

/// Replaces `x_s^2` by `1 + sign * x_c^2` until `x_s` has exponent at most 1 in every term.
fn reduce_square(p: &Poly, s: usize, c: usize, sign: i64) -> Option<Poly> {
    let mut repl = Poly::one(p.nvars);
    let mut sq = vec![0; p.nvars];
    sq[c] = 2;
    repl.add_term(sq, BigRational::from_integer(BigInt::from(sign)));
    let mut out = Poly::zero(p.nvars);
    for (m, coeff) in &p.terms {
        if m[s] < 2 {
            out.add_term(m.clone(), coeff.clone());
            continue;
        }
        let mut base = m.clone();
        base[s] = m[s] % 2;
        let factor = repl.pow(m[s] / 2)?;
        for (fm, fc) in &factor.terms {
            out.add_term(mono_mul(&base, fm)?, coeff * fc);
        }
        if out.len() > MAX_TERMS {
            return None;
        }
    }
    Some(out)
}

/// A denominator in factored form: normalised non-constant polynomials with multiplicities.
type Factors = Vec<(Poly, u32)>;

/// A rational function `num / prod(f^k for (f, k) in den)`.
#[derive(Clone, Debug)]
struct Frac {
    num: Poly,
    den: Factors,
}

/// Writes a non-zero `p` as `unit * prod(factors)`: its rational unit, one factor per
/// generator of its monomial content, and the normalised rest if that is not constant.
fn split_den(p: &Poly) -> Option<(BigRational, Factors)> {
    if p.is_zero() {
        return None;
    }
    let m = p.monomial_content();
    let rest = p.div_monomial(&m);
    let unit = rest.unit();
    let mut factors: Factors = m
        .iter()
        .enumerate()
        .filter(|(_, k)| **k > 0)
        .map(|(i, &k)| (Poly::var(p.nvars, i, 1), k))
        .collect();
    if !rest.is_constant() {
        factors.push((rest.scale(&unit.recip()), 1));
    }
    Some((unit, factors))
}

fn multiplicity(den: &Factors, f: &Poly) -> u32 {
    den.iter().find(|(g, _)| g == f).map_or(0, |(_, k)| *k)
}

/// `prod(f^(k * mult))`.
fn expand_factors(den: &Factors, nvars: usize, mult: u32) -> Option<Poly> {
    let mut out = Poly::one(nvars);
    for (f, k) in den {
        out = out.mul(&f.pow(k.checked_mul(mult)?)?)?;
    }
    Some(out)
}

impl Frac {
    fn poly(num: Poly) -> Frac {
        Frac {
            num,
            den: Vec::new(),
        }
    }

    /// `x_i^k` for a possibly negative `k`.
    fn generator(nvars: usize, i: usize, k: i64) -> Option<Frac> {
        let e = u32::try_from(k.unsigned_abs())
            .ok()
            .filter(|&e| e <= MAX_EXPONENT)?;
        Some(if k >= 0 {
            Frac::poly(Poly::var(nvars, i, e))
        } else {
            Frac {
                num: Poly::one(nvars),
                den: vec![(Poly::var(nvars, i, 1), e)],
            }
        })
    }

    /// The sum of `parts` over the least common multiple of their denominators, each
    /// numerator multiplied by its cofactor once: linear in the number of parts when they
    /// share a denominator (a long polynomial), not quadratic as pairwise addition is.
    fn sum(nvars: usize, parts: Vec<Frac>) -> Option<Frac> {
        let mut lcm: Factors = Vec::new();
        for part in parts.iter().filter(|p| !p.num.is_zero()) {
            for (f, k) in &part.den {
                match lcm.iter_mut().find(|(g, _)| g == f) {
                    Some((_, j)) => *j = (*j).max(*k),
                    None => lcm.push((f.clone(), *k)),
                }
            }
        }
        let mut num = Poly::zero(nvars);
        for part in parts.into_iter().filter(|p| !p.num.is_zero()) {
            let scaled = if lcm.iter().all(|(f, k)| multiplicity(&part.den, f) == *k) {
                part.num
            } else {
                part.num.mul(&cofactor(&lcm, &part.den, nvars)?)?
            };
            num.add_assign(scaled)?;
        }
        if num.is_zero() {
            lcm.clear();
        }
        Some(Frac { num, den: lcm })
    }

    fn mul(&self, other: &Frac) -> Option<Frac> {
        let num = self.num.mul(&other.num)?;
        if num.is_zero() {
            return Some(Frac::poly(num));
        }
        let mut den = self.den.clone();
        for (f, k) in &other.den {
            match den.iter_mut().find(|(g, _)| g == f) {
                Some((_, j)) => *j = j.checked_add(*k).filter(|&s| s <= MAX_EXPONENT)?,
                None => den.push((f.clone(), *k)),
            }
        }
        Some(Frac { num, den })
    }

    /// `self^n`; `None` on division by zero or when the work would be unbounded.
    fn powi(&self, n: i64) -> Option<Frac> {
        let k = u32::try_from(n.unsigned_abs()).ok()?;
        let nvars = self.num.nvars;
        let scale_den = |den: &Factors| -> Option<Factors> {
            den.iter()
                .map(|(f, j)| Some((f.clone(), j.checked_mul(k).filter(|&e| e <= MAX_EXPONENT)?)))
                .collect()
        };
        if n >= 0 {
            return Some(Frac {
                num: self.num.pow(k)?,
                den: scale_den(&self.den)?,
            });
        }
        let (unit, factors) = split_den(&self.num)?;
        if k > MAX_POWER && !unit.abs().is_one() {
            return None;
        }
        let unit_pow = num_traits::pow::Pow::pow(unit.recip(), k);
        Some(Frac {
            num: expand_factors(&self.den, nvars, k)?.scale(&unit_pow),
            den: scale_den(&factors)?,
        })
    }
}

/// `lcm / den` expanded, where every factor of `den` occurs in `lcm` at least as often.
fn cofactor(lcm: &Factors, den: &Factors, nvars: usize) -> Option<Poly> {
    let mut out = Poly::one(nvars);
    for (f, k) in lcm {
        let extra = k - multiplicity(den, f);
        if extra > 0 {
            out = out.mul(&f.pow(extra)?)?;
        }
    }
    Some(out)
}

/// How [`together`] sees a node.
enum Shape {
    Rational,
    Sum(Vec<ExprId>),
    Product(Vec<ExprId>),
    IntPow(ExprId, i64),
    Atom,
}

fn shape(pool: &Pool, e: ExprId) -> Shape {
    match pool.node(e) {
        Node::Rational(_) => Shape::Rational,
        Node::Add(xs) => Shape::Sum(xs.to_vec()),
        Node::Mul(xs) => Shape::Product(xs.to_vec()),
        Node::Pow(b, x) => match pool.as_rational(*x) {
            Some(r) if r.is_integer() => match r.to_integer().to_i64() {
                Some(n) => Shape::IntPow(*b, n),
                None => Shape::Atom,
            },
            _ => Shape::Atom,
        },
        _ => Shape::Atom,
    }
}

/// The generator and exponent of an atom: `b^(p/q)` is `(b^(1/q))^p` when `b^(1/q)` is a
/// canonical power of `b`; any other atom is its own generator.
fn atom_of(pool: &mut Pool, e: ExprId) -> (ExprId, i64) {
    if let Node::Pow(b, x) = pool.node(e) {
        let b = *b;
        let exps = pool
            .as_rational(*x)
            .map(|r| (r.numer().to_i64(), r.denom().to_i64()));
        if let Some((Some(p), Some(q))) = exps
            && q > 1
        {
            let root = pool.pow_rational(b, BigRational::new(BigInt::one(), BigInt::from(q)));
            if matches!(pool.node(root), Node::Pow(rb, _) if *rb == b) {
                return (root, p);
            }
        }
    }
    (e, 1)
}

/// The generators of one expression, sorted by [`Pool::cmp`], and how its atoms map onto
/// them.
struct Generators {
    gens: Vec<ExprId>,
    /// Atom node -> (generator index, exponent).
    atoms: HashMap<ExprId, (usize, i64)>,
    /// `(s, c, sign)`: reduce `x_s^2` to `1 + sign * x_c^2` (sin/cos and cosh/sinh pairs).
    pairs: Vec<(usize, usize, i64)>,
}

impl Generators {
    fn collect(pool: &mut Pool, e: ExprId) -> Generators {
        let mut seen = HashSet::default();
        let mut stack = vec![e];
        let mut raw = HashMap::default();
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            match shape(pool, x) {
                Shape::Sum(xs) | Shape::Product(xs) => stack.extend(xs),
                Shape::IntPow(b, _) => stack.push(b),
                Shape::Rational => {}
                Shape::Atom => {
                    raw.insert(x, atom_of(pool, x));
                }
            }
        }
        let unique: HashSet<ExprId> = raw.values().map(|(g, _)| *g).collect();
        let mut gens: Vec<ExprId> = unique.into_iter().collect();
        gens.sort_by(|a, b| pool.cmp(*a, *b));
        let index: HashMap<ExprId, usize> = gens.iter().enumerate().map(|(i, g)| (*g, i)).collect();
        let atoms = raw
            .into_iter()
            .map(|(x, (g, p))| (x, (index[&g], p)))
            .collect();
        let pairs = square_pairs(pool, &gens);
        Generators { gens, atoms, pairs }
    }

    fn to_frac(&self, pool: &Pool, e: ExprId, memo: &mut HashMap<ExprId, Frac>) -> Option<Frac> {
        if let Some(f) = memo.get(&e) {
            return Some(f.clone());
        }
        let n = self.gens.len();
        let f = match shape(pool, e) {
            Shape::Rational => Frac::poly(Poly::constant(n, pool.as_rational(e)?.clone())),
            Shape::Sum(xs) => {
                let parts = xs
                    .into_iter()
                    .map(|x| self.to_frac(pool, x, memo))
                    .collect::<Option<Vec<_>>>()?;
                Frac::sum(n, parts)?
            }
            Shape::Product(xs) => {
                let mut acc = Frac::poly(Poly::one(n));
                for x in xs {
                    acc = acc.mul(&self.to_frac(pool, x, memo)?)?;
                }
                acc
            }
            Shape::IntPow(b, k) => self.to_frac(pool, b, memo)?.powi(k)?,
            Shape::Atom => {
                let (i, p) = self.atoms.get(&e)?;
                Frac::generator(n, *i, *p)?
            }
        };
        memo.insert(e, f.clone());
        Some(f)
    }

    fn to_expr(&self, pool: &mut Pool, p: &Poly) -> ExprId {
        let mut terms = Vec::with_capacity(p.len());
        for (m, c) in &p.terms {
            let mut factors = vec![pool.rational(c.clone())];
            for (g, &k) in self.gens.iter().zip(m) {
                if k > 0 {
                    let k = pool.int(i64::from(k));
                    factors.push(pool.pow(*g, k));
                }
            }
            terms.push(pool.mul(factors));
        }
        pool.add(terms)
    }
}

/// Generator pairs whose squares [`reduce_square`] rewrites: `sin(u)^2 = 1 - cos(u)^2` and
/// `cosh(u)^2 = 1 + sinh(u)^2`.
fn square_pairs(pool: &Pool, gens: &[ExprId]) -> Vec<(usize, usize, i64)> {
    let find = |f: Func, u: ExprId| {
        gens.iter()
            .position(|&g| matches!(pool.node(g), Node::Call(h, a) if *h == f && *a == u))
    };
    gens.iter()
        .enumerate()
        .filter_map(|(i, &g)| match pool.node(g) {
            Node::Call(Func::Sin, u) => find(Func::Cos, *u).map(|c| (i, c, -1)),
            Node::Call(Func::Cosh, u) => find(Func::Sinh, *u).map(|s| (i, s, 1)),
            _ => None,
        })
        .collect()
}

/// Rewrites `e` as one fraction N/D of expanded polynomials in its generators, with common
/// factors cancelled; returns the canonical expression `N * D^-1` (or just N when D == 1).
///
/// Cancellation: D's factors (from the negative powers met) are trial-divided out of N;
/// then `sin^2`/`cosh^2` are reduced when their partner occurs, rational and monomial
/// content is removed, and the univariate GCD (one generator) or exact division of N by D
/// or D by N (several generators) is cancelled. D ends with coprime integer coefficients and
/// a positive constant term (or leading coefficient). Returns `e` unchanged when the work
/// would exceed [`MAX_TERMS`] terms, a sum would be raised to a power above 64, or a
/// denominator is zero.
pub fn together(pool: &mut Pool, e: ExprId) -> ExprId {
    together_within(pool, e, &mut DEFAULT_WORK.clone())
}

/// [`together`] within an allowance of work ([`DEFAULT_WORK`] is one call's worth): what
/// it spends is taken from `allowance`, and once that is spent it returns `e` unchanged.
/// A caller that normalises many expressions (the simplifier) passes one allowance to all
/// of them, which bounds its total work. Work is counted, not timed, so the result is the
/// same on every machine.
pub fn together_within(pool: &mut Pool, e: ExprId, allowance: &mut u64) -> ExprId {
    let (r, spent) = scoped(*allowance, || together_bounded(pool, e));
    *allowance -= spent;
    r.unwrap_or(e)
}

/// Runs `task` with at most `units` of polynomial work for all the [`together`] calls in
/// it (and no more than an enclosing scope has left): one task's total, as lowering one
/// process, is bounded however many expressions it normalises.
pub fn with_work_allowance<R>(units: u64, task: impl FnOnce() -> R) -> R {
    scoped(units, task).0
}

/// `task` run with the work allowance `min(units, what is left outside)`; its result and
/// what it spent, which is charged to the enclosing scope too.
fn scoped<R>(units: u64, task: impl FnOnce() -> R) -> (R, u64) {
    let outer = WORK.with(std::cell::Cell::get);
    let budget = units.min(outer);
    WORK.with(|w| w.set(budget));
    let r = task();
    let spent = budget - WORK.with(std::cell::Cell::get);
    WORK.with(|w| w.set(outer - spent));
    (r, spent)
}

fn together_bounded(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let gens = Generators::collect(pool, e);
    let frac = gens.to_frac(pool, e, &mut HashMap::default())?;
    let (num, den) = cancel(frac, &gens.pairs)?;
    let mut n = gens.to_expr(pool, &num);
    // A common factor is shown only where that is smaller: (1 + t)*(1 - E), not
    // 5000^a*(5000^-a - 1) for 1 - 5000^a.
    if let Some(g) = num.content_factor()
        && let Some(q) = num.div_exact(&g)
    {
        let g = gens.to_expr(pool, &g);
        let q = gens.to_expr(pool, &q);
        let f = pool.mul(vec![g, q]);
        if super::pool::complexity(pool, f) < super::pool::complexity(pool, n) {
            n = f;
        }
    }
    if den.is_one() {
        return Some(n);
    }
    let d = gens.to_expr(pool, &den);
    let inv = pool.powi(d, -1);
    Some(pool.mul(vec![n, inv]))
}

/// Cancels common factors and normalises; returns (N, D). `None` when D turns out zero or
/// the work is unbounded.
fn cancel(frac: Frac, pairs: &[(usize, usize, i64)]) -> Option<(Poly, Poly)> {
    let Frac { mut num, mut den } = frac;
    let nvars = num.nvars;
    if num.is_zero() {
        return Some((num, Poly::one(nvars)));
    }
    den.sort();
    for (f, k) in &mut den {
        while *k > 0 {
            let Some(q) = num.div_exact(f) else { break };
            num = q;
            *k -= 1;
        }
    }
    let mut d = expand_factors(&den, nvars, 1)?;
    for &(s, c, sign) in pairs {
        num = reduce_square(&num, s, c, sign)?;
        d = reduce_square(&d, s, c, sign)?;
    }
    if d.is_zero() {
        return None;
    }
    if num.is_zero() {
        return Some((num, Poly::one(nvars)));
    }
    let m: Monomial = num
        .monomial_content()
        .iter()
        .zip(d.monomial_content())
        .map(|(a, b)| (*a).min(b))
        .collect();
    num = num.div_monomial(&m);
    d = d.div_monomial(&m);
    cancel_common(&mut num, &mut d);
    let unit = d.unit().recip();
    Some((num.scale(&unit), d.scale(&unit)))
}

/// Divides out a common factor of `num` and `d`: their GCD when only one generator occurs
/// (in them, or in their parts without monomial content), otherwise `d` or `num` itself
/// when it divides the other exactly.
fn cancel_common(num: &mut Poly, d: &mut Poly) {
    if d.is_constant() {
        return;
    }
    let used = num
        .vars_used()
        .into_iter()
        .zip(d.vars_used())
        .filter(|(a, b)| *a || *b)
        .count();
    let nvars = num.nvars;
    // Without their monomial contents, both may be polynomials in one and the same
    // generator: `pi*sin(u)*(1 + cos(u)^2)` over `cos(u)*(1 + cos(u)^2)^2`.
    let pn = num.div_monomial(&num.monomial_content());
    let pd = d.div_monomial(&d.monomial_content());
    let primitive_used = pn
        .vars_used()
        .into_iter()
        .zip(pd.vars_used())
        .filter(|(a, b)| *a || *b)
        .count();
    if used <= 1 || (primitive_used == 1 && !pn.is_constant() && !pd.is_constant()) {
        let (a, b) = if used <= 1 { (&*num, &*d) } else { (&pn, &pd) };
        if let Some(g) = gcd_univariate(a, b)
            && !g.is_constant()
            && let (Some(a), Some(b)) = (num.div_exact(&g), d.div_exact(&g))
        {
            *num = a;
            *d = b;
        }
    } else if let Some(q) = num.div_exact(d) {
        *num = q;
        *d = Poly::one(nvars);
    } else if !num.is_constant()
        && let Some(q) = d.div_exact(num)
    {
        *d = q;
        *num = Poly::one(nvars);
    }
}

/// Distributes products over sums and expands positive integer powers of sums, recursively at
/// the top rational level (not inside function arguments). Gives up (returns the input
/// unchanged) if the result would exceed `MAX_TERMS` terms.
///
/// Negative powers keep their (expanded) base: `(x*(x + 1))^-1` stays a quotient. Bounded
/// work: a sum raised to a power above 64, or one product needing more than `64 * MAX_TERMS`
/// term products, also gives up.
pub fn expand(pool: &mut Pool, e: ExprId) -> ExprId {
    expand_rec(pool, e, &mut HashMap::default()).unwrap_or(e)
}

fn expand_rec(pool: &mut Pool, e: ExprId, memo: &mut HashMap<ExprId, ExprId>) -> Option<ExprId> {
    if let Some(&v) = memo.get(&e) {
        return Some(v);
    }
    let v = match shape(pool, e) {
        Shape::Sum(xs) => {
            let terms = xs
                .into_iter()
                .map(|x| expand_rec(pool, x, memo))
                .collect::<Option<Vec<_>>>()?;
            let s = pool.add(terms);
            bounded_sum(pool, s)?
        }
        Shape::Product(xs) => {
            let mut acc = pool.one();
            for x in xs {
                let f = expand_rec(pool, x, memo)?;
                acc = distribute(pool, acc, f)?;
            }
            acc
        }
        Shape::IntPow(b, n) => expand_pow(pool, e, b, n, memo)?,
        Shape::Rational | Shape::Atom => e,
    };
    memo.insert(e, v);
    Some(v)
}

fn expand_pow(
    pool: &mut Pool,
    e: ExprId,
    b: ExprId,
    n: i64,
    memo: &mut HashMap<ExprId, ExprId>,
) -> Option<ExprId> {
    let base = expand_rec(pool, b, memo)?;
    let is_sum = matches!(pool.node(base), Node::Add(_));
    if n < 2 || !is_sum {
        let exp = match pool.node(e) {
            Node::Pow(_, x) => *x,
            _ => return Some(e),
        };
        return Some(pool.pow(base, exp));
    }
    if n > i64::from(MAX_POWER) {
        return None;
    }
    let mut acc = base;
    for _ in 1..n {
        acc = distribute(pool, acc, base)?;
    }
    Some(acc)
}

fn terms_of(pool: &Pool, e: ExprId) -> Vec<ExprId> {
    match pool.node(e) {
        Node::Add(xs) => xs.to_vec(),
        _ => vec![e],
    }
}

fn bounded_sum(pool: &Pool, e: ExprId) -> Option<ExprId> {
    let n = match pool.node(e) {
        Node::Add(xs) => xs.len(),
        _ => 1,
    };
    (n <= MAX_TERMS).then_some(e)
}

/// The expanded product of two expanded expressions.
fn distribute(pool: &mut Pool, a: ExprId, b: ExprId) -> Option<ExprId> {
    let (ta, tb) = (terms_of(pool, a), terms_of(pool, b));
    if ta.len() == 1 && tb.len() == 1 {
        return Some(pool.mul(vec![a, b]));
    }
    if ta.len().saturating_mul(tb.len()) > MAX_PRODUCTS {
        return None;
    }
    let mut products = Vec::with_capacity(ta.len() * tb.len());
    for &x in &ta {
        for &y in &tb {
            products.push(pool.mul(vec![x, y]));
        }
    }
    let s = pool.add(products);
    bounded_sum(pool, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vars(p: &mut Pool, names: &[&str]) -> Vec<ExprId> {
        names.iter().map(|n| p.var(n)).collect()
    }

    fn c(p: &mut Pool, k: i64, e: ExprId) -> ExprId {
        let k = p.int(k);
        p.mul(vec![k, e])
    }

    /// A structural dump that names symbols, comparable across pools.
    fn dump(p: &Pool, e: ExprId) -> String {
        let kids = |xs: &[ExprId]| {
            xs.iter()
                .map(|&x| dump(p, x))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match p.node(e) {
            Node::Rational(r) => r.to_string(),
            Node::Const(k) => format!("{k:?}"),
            Node::Sym(s) => p.symbol_name(*s).to_owned(),
            Node::Add(xs) => format!("Add({})", kids(xs)),
            Node::Mul(xs) => format!("Mul({})", kids(xs)),
            Node::Pow(b, x) => format!("Pow({}, {})", dump(p, *b), dump(p, *x)),
            Node::Call(f, a) => format!("{}({})", f.name(), dump(p, *a)),
        }
    }

    #[test]
    fn expand_squares_and_differences() {
        let mut p = Pool::new();
        let [x, y] = vars(&mut p, &["x", "y"])[..] else {
            unreachable!("two names")
        };
        let one = p.one();
        let s = p.add(vec![x, one]);
        let sq = p.powi(s, 2);
        let x2 = p.powi(x, 2);
        let two_x = c(&mut p, 2, x);
        assert_eq!(expand(&mut p, sq), p.add(vec![x2, two_x, one]));
        let sum = p.add(vec![x, y]);
        let diff = p.sub(x, y);
        let prod = p.mul(vec![sum, diff]);
        let y2 = p.powi(y, 2);
        assert_eq!(expand(&mut p, prod), p.sub(x2, y2));
    }

    #[test]
    fn expand_leaves_function_arguments_alone() {
        let mut p = Pool::new();
        let x = p.var("x");
        let one = p.one();
        let s = p.add(vec![x, one]);
        let sq = p.powi(s, 2);
        let f = p.call(Func::Sin, sq);
        let e = p.mul(vec![f, s]);
        let fx = p.mul(vec![f, x]);
        assert_eq!(expand(&mut p, e), p.add(vec![fx, f]));
    }

    #[test]
    fn expand_gives_up_beyond_max_terms() {
        let mut p = Pool::new();
        let [x, y, z] = vars(&mut p, &["x", "y", "z"])[..] else {
            unreachable!("three names")
        };
        let one = p.one();
        let s = p.add(vec![x, y, z, one]);
        let big = p.powi(s, 40);
        assert_eq!(expand(&mut p, big), big);
        assert_eq!(together(&mut p, big), big);
    }

    #[test]
    fn together_within_gives_up_when_its_allowance_is_spent() {
        // (1 + x)^40 * (1 - x)^40 expands to 41 terms with coefficients up to C(40, 20):
        // cheap with the default allowance, refused (input returned) with 100 units.
        let mut p = Pool::new();
        let x = p.var("x");
        let one = p.one();
        let a = p.add(vec![one, x]);
        let b = p.sub(one, x);
        let a40 = p.powi(a, 40);
        let b40 = p.powi(b, 40);
        let e = p.mul(vec![a40, b40]);
        let mut small = 100;
        assert_eq!(together_within(&mut p, e, &mut small), e);
        assert!(small <= 100);
        let mut plenty = DEFAULT_WORK;
        assert_ne!(together_within(&mut p, e, &mut plenty), e);
        assert!(plenty < DEFAULT_WORK, "the work done is charged");
        // An enclosing allowance bounds what the calls inside it may spend.
        let inner = with_work_allowance(100, || {
            let mut plenty = DEFAULT_WORK;
            together_within(&mut p, e, &mut plenty)
        });
        assert_eq!(inner, e);
    }

    #[test]
    fn together_rectified_flow_g2() {
        let mut p = Pool::new();
        let t = p.var("t");
        let one = p.one();
        let one_minus_t = p.sub(one, t);
        let two_t = c(&mut p, 2, t);
        let t2 = p.powi(t, 2);
        let two_t2 = c(&mut p, 2, t2);
        let q = p.div(two_t2, one_minus_t);
        let e = p.add(vec![two_t, q]);
        assert_eq!(together(&mut p, e), p.div(two_t, one_minus_t));
    }

    #[test]
    fn together_sums_of_reciprocals() {
        let mut p = Pool::new();
        let [x, y] = vars(&mut p, &["x", "y"])[..] else {
            unreachable!("two names")
        };
        let rx = p.recip(x);
        let ry = p.recip(y);
        let e = p.add(vec![rx, ry]);
        let n = p.add(vec![x, y]);
        let d = p.mul(vec![x, y]);
        assert_eq!(together(&mut p, e), p.div(n, d));
    }

    #[test]
    fn together_cancels_univariate_gcd() {
        let mut p = Pool::new();
        let x = p.var("x");
        let one = p.one();
        let x2 = p.powi(x, 2);
        let x2m1 = p.sub(x2, one);
        let xm1 = p.sub(x, one);
        let xp1 = p.add(vec![x, one]);
        let e = p.div(x2m1, xm1);
        assert_eq!(together(&mut p, e), xp1);
        let two_x = c(&mut p, 2, x);
        let sq = p.add(vec![x2, two_x, one]);
        let e = p.div(x2m1, sq);
        assert_eq!(together(&mut p, e), p.div(xm1, xp1));
        let e = p.div(x, x);
        assert_eq!(together(&mut p, e), one);
    }

    #[test]
    fn together_cancels_vp_linear_g2() {
        let mut p = Pool::new();
        let [t, b] = vars(&mut p, &["t", "b"])[..] else {
            unreachable!("two names")
        };
        let et = p.call(Func::Exp, t);
        let one = p.one();
        let a = p.mul(vec![et, b]);
        let one_minus = p.sub(one, et);
        let bb = p.mul(vec![b, one_minus]);
        let e = p.add(vec![a, bb]);
        assert_eq!(together(&mut p, e), b);
    }

    #[test]
    fn together_reduces_sin_squared() {
        let mut p = Pool::new();
        let u = p.var("u");
        let pi = p.pi();
        let s = p.call(Func::Sin, u);
        let co = p.call(Func::Cos, u);
        let a = p.mul(vec![pi, s, co]);
        let s3 = p.powi(s, 3);
        let num = p.mul(vec![pi, s3]);
        let b = p.div(num, co);
        let e = p.add(vec![a, b]);
        let inv = p.recip(co);
        assert_eq!(together(&mut p, e), p.mul(vec![pi, s, inv]));
    }

    #[test]
    fn together_normalises_sign_and_content() {
        let mut p = Pool::new();
        let [x, y, t] = vars(&mut p, &["x", "y", "t"])[..] else {
            unreachable!("three names")
        };
        // x/(2y) = (x/2) * y^-1
        let two_y = c(&mut p, 2, y);
        let e = p.div(x, two_y);
        let half = p.frac(1, 2);
        let ry = p.recip(y);
        assert_eq!(together(&mut p, e), p.mul(vec![half, x, ry]));
        // 2t/(2 - 2t) = t/(1 - t), and -t/(t - 1) = t/(1 - t)
        let one = p.one();
        let one_minus_t = p.sub(one, t);
        let expect = p.div(t, one_minus_t);
        let two_t = c(&mut p, 2, t);
        let two = p.int(2);
        let den = p.sub(two, two_t);
        let e = p.div(two_t, den);
        assert_eq!(together(&mut p, e), expect);
        let tm1 = p.sub(t, one);
        let nt = p.neg(t);
        let e = p.div(nt, tm1);
        assert_eq!(together(&mut p, e), expect);
        // No constant term: the leading coefficient is made positive.
        let nx = p.neg(x);
        let xy = p.mul(vec![x, y]);
        let den = p.sub(nx, xy);
        let e = p.div(one, den);
        let neg_one = p.int(-1);
        let pos = p.add(vec![x, xy]);
        let inv = p.recip(pos);
        assert_eq!(together(&mut p, e), p.mul(vec![neg_one, inv]));
    }

    #[test]
    fn together_uses_pythagorean_identities() {
        let mut p = Pool::new();
        let u = p.var("u");
        let s = p.call(Func::Sin, u);
        let co = p.call(Func::Cos, u);
        let s2 = p.powi(s, 2);
        let c2 = p.powi(co, 2);
        let e = p.add(vec![s2, c2]);
        assert_eq!(together(&mut p, e), p.one());
        let sh = p.call(Func::Sinh, u);
        let ch = p.call(Func::Cosh, u);
        let sh2 = p.powi(sh, 2);
        let ch2 = p.powi(ch, 2);
        let e = p.sub(ch2, sh2);
        assert_eq!(together(&mut p, e), p.one());
    }

    #[test]
    fn powers_of_sums_above_64_are_left_alone() {
        let mut p = Pool::new();
        let x = p.var("x");
        let one = p.one();
        let s = p.add(vec![x, one]);
        let big = p.powi(s, 65);
        assert_eq!(expand(&mut p, big), big);
        assert_eq!(together(&mut p, big), big);
        // A bare generator may carry any exponent.
        let x100 = p.powi(x, 100);
        let e = p.div(x100, s);
        assert_eq!(together(&mut p, e), e);
    }

    /// `1/(a - b) + c/(b + a)^2 - 3*b/a` built with names and terms in the given order.
    fn sample(names: [&str; 3], reversed: bool) -> String {
        let mut p = Pool::new();
        let ids = vars(&mut p, &names);
        let (mut a, mut b, mut cc) = (ids[0], ids[1], ids[2]);
        if names[0] != "a" {
            (a, b, cc) = (ids[2], ids[1], ids[0]);
        }
        let amb = p.sub(a, b);
        let bpa = p.add(vec![b, a]);
        let sq = p.powi(bpa, 2);
        let mut terms = vec![p.recip(amb), p.div(cc, sq), {
            let nb = c(&mut p, -3, b);
            p.div(nb, a)
        }];
        if reversed {
            terms.reverse();
        }
        let e = p.add(terms);
        let r = together(&mut p, e);
        dump(&p, r)
    }

    #[test]
    fn together_is_independent_of_construction_order() {
        let one = sample(["a", "b", "c"], false);
        let two = sample(["c", "b", "a"], true);
        assert_eq!(one, two);
        assert!(one.contains("Pow("), "{one}");
    }

    #[test]
    fn together_leaves_division_by_zero_alone() {
        let mut p = Pool::new();
        let x = p.var("x");
        let zero = p.zero();
        let z = p.recip(zero);
        let e = p.add(vec![x, z]);
        assert_eq!(together(&mut p, e), e);
    }

    #[test]
    fn together_treats_fractional_powers_as_generators() {
        let mut p = Pool::new();
        let t = p.var("t");
        let one = p.one();
        let omt = p.sub(one, t);
        let s = p.sqrt(omt);
        let s3 = p.pow_rational(omt, BigRational::new(3.into(), 2.into()));
        // (1-t)^(3/2) / sqrt(1-t) = 1 - t
        let e = p.div(s3, s);
        assert_eq!(together(&mut p, e), omt);
        // 1/sqrt(1-t) + sqrt(1-t) = (2 - t) * (1-t)^(-1/2)
        let rs = p.recip(s);
        let e = p.add(vec![rs, s]);
        let two = p.int(2);
        let n = p.sub(two, t);
        assert_eq!(together(&mut p, e), p.div(n, s));
    }

    #[derive(Clone, Debug)]
    enum Tree {
        X,
        Y,
        Int(i64),
        Add(Box<Tree>, Box<Tree>),
        Mul(Box<Tree>, Box<Tree>),
        Pow(Box<Tree>, i64),
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = prop_oneof![
            Just(Tree::X),
            Just(Tree::Y),
            (-3i64..=3).prop_map(Tree::Int)
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Tree::Add(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Tree::Mul(Box::new(a), Box::new(b))),
                (inner, -2i64..=3).prop_map(|(a, n)| Tree::Pow(Box::new(a), n)),
            ]
        })
    }

    fn build(p: &mut Pool, t: &Tree) -> ExprId {
        match t {
            Tree::X => p.var("x"),
            Tree::Y => p.var("y"),
            Tree::Int(k) => p.int(*k),
            Tree::Add(a, b) => {
                let (a, b) = (build(p, a), build(p, b));
                p.add(vec![a, b])
            }
            Tree::Mul(a, b) => {
                let (a, b) = (build(p, a), build(p, b));
                p.mul(vec![a, b])
            }
            Tree::Pow(a, n) => {
                let a = build(p, a);
                p.powi(a, *n)
            }
        }
    }

    /// Value and magnitude (the value with every sum replaced by its sum of absolute
    /// values), or `None` near a pole.
    fn eval(p: &Pool, e: ExprId, x: f64, y: f64) -> Option<(f64, f64)> {
        match p.node(e) {
            Node::Rational(r) => r.to_f64().map(|v| (v, v.abs())),
            Node::Sym(s) => match p.symbol_name(*s) {
                "x" => Some((x, x.abs())),
                "y" => Some((y, y.abs())),
                _ => None,
            },
            Node::Add(xs) => xs.iter().try_fold((0.0, 0.0), |(v, m), &t| {
                let (tv, tm) = eval(p, t, x, y)?;
                Some((v + tv, m + tm))
            }),
            Node::Mul(xs) => xs.iter().try_fold((1.0, 1.0), |(v, m), &t| {
                let (tv, tm) = eval(p, t, x, y)?;
                Some((v * tv, m * tm))
            }),
            Node::Pow(b, k) => {
                let k = p.as_rational(*k)?.to_integer().to_i32()?;
                let (bv, bm) = eval(p, *b, x, y)?;
                if k < 0 && bv.abs() < 0.05 {
                    return None;
                }
                let bm = if k < 0 { 1.0 / bv.abs() } else { bm };
                Some((bv.powi(k), bm.powi(k.abs())))
            }
            _ => None,
        }
    }

    fn agrees(p: &Pool, a: ExprId, b: ExprId, x: f64, y: f64) -> bool {
        match (eval(p, a, x, y), eval(p, b, x, y)) {
            (Some((va, ma)), Some((vb, mb))) if ma < 1e12 && mb < 1e12 => {
                (va - vb).abs() <= 1e-7 * (1.0 + ma + mb)
            }
            _ => true,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn together_and_expand_preserve_value(
            t in tree(),
            x in -2.0f64..2.0,
            y in -2.0f64..2.0,
        ) {
            let mut p = Pool::new();
            let e = build(&mut p, &t);
            let tg = together(&mut p, e);
            let ex = expand(&mut p, e);
            prop_assert!(agrees(&p, e, tg, x, y), "together {} -> {}", dump(&p, e), dump(&p, tg));
            prop_assert!(agrees(&p, e, ex, x, y), "expand {} -> {}", dump(&p, e), dump(&p, ex));
            let again = together(&mut p, tg);
            prop_assert_eq!(again, tg, "together is idempotent on {}", dump(&p, e));
        }
    }
}
