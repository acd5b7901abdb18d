//! Sparse multivariate polynomials over Q in the generators of [`super::together`]: exact
//! arithmetic within term, product and work bounds, univariate GCDs, and the work
//! accounting every product is charged to.

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};

use super::super::rational;

/// Largest number of terms any intermediate polynomial or expanded sum may have.
pub const MAX_TERMS: usize = 2000;
/// Largest power of a sum (or of a non-monomial coefficient) that is multiplied out.
pub(super) const MAX_POWER: u32 = 64;
/// Largest number of term-by-term products one multiplication may compute.
pub(super) const MAX_PRODUCTS: usize = 64 * MAX_TERMS;
/// Largest exponent of one generator in a monomial.
pub(super) const MAX_EXPONENT: u32 = 1 << 20;

thread_local! {
    /// What the running [`super::together_within`] may still spend (unlimited outside one).
    pub(super) static WORK: std::cell::Cell<u64> =
        const { std::cell::Cell::new(crate::expr::work::UNBOUNDED) };
}

/// Charges `units` of work to the running [`together_within`]; `None` once its
/// allowance is spent, which makes the whole call give up and return its input.
pub(super) fn spend(units: u64) -> Option<()> {
    crate::expr::work::spend(&WORK, units).then_some(())
}

/// The cost in work units of one product of coefficients of `a_bits` and `b_bits` bits:
/// quadratic in their size in words, as the reducing GCD is.
pub(super) fn product_cost(a_bits: u64, b_bits: u64) -> u64 {
    let words = (a_bits + b_bits) / 64;
    1 + words * words
}

/// Exponents of the generators, in generator order.
pub(super) type Monomial = Vec<u32>;

pub(super) fn mono_mul(a: &[u32], b: &[u32]) -> Option<Monomial> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.checked_add(*y).filter(|&s| s <= MAX_EXPONENT))
        .collect()
}

pub(super) fn mono_div(a: &[u32], b: &[u32]) -> Option<Monomial> {
    a.iter().zip(b).map(|(x, y)| x.checked_sub(*y)).collect()
}

/// A sparse polynomial over Q. Keys are ordered lexicographically (generator 0 most
/// significant), which is the fixed monomial order used for division and leading terms.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) struct Poly {
    pub(super) nvars: usize,
    pub(super) terms: BTreeMap<Monomial, BigRational>,
}

/// A polynomial over Q as `scale * P`, `P` primitive over Z ([`Poly::primitive`]): the
/// form exact division runs in.
pub(super) struct Primitive {
    scale: BigRational,
    terms: BTreeMap<Monomial, BigInt>,
}

impl Primitive {
    /// The quotient `self / d` if `d` divides `self` exactly (and the work stays bounded).
    ///
    /// By Gauss's lemma a primitive divisor of a primitive polynomial leaves a primitive
    /// quotient over Z (up to sign), so the division runs on integers: each quotient
    /// coefficient is an exact integer division (a remainder proves `d` does not divide),
    /// and nothing is reduced by a GCD. Over Q every step reduced two fractions, which
    /// made a long exact division quadratic in big-integer GCDs (5.8 s for one
    /// Fokker-Planck check of a log-SNR `8.884 cos(pi t)`, 0.3 s now). The lowest terms
    /// are tried first: in an exact division they divide too, which rejects most
    /// candidates before any work.
    pub(super) fn div_exact(&self, d: &Primitive) -> Option<Primitive> {
        let (dm, dc) = d.terms.last_key_value()?;
        let (low_m, low_c) = self
            .terms
            .first_key_value()
            .zip(d.terms.first_key_value())
            .map_or((None, None), |((sm, sc), (dm, dc))| {
                (Some(mono_div(sm, dm)), Some(sc.is_multiple_of(dc)))
            });
        if matches!(low_m, Some(None)) || low_c == Some(false) {
            return None;
        }
        let dc_bits = dc.bits();
        let mut r = self.terms.clone();
        let mut q: BTreeMap<Monomial, BigInt> = BTreeMap::new();
        while let Some((m, c)) = r.last_key_value() {
            let qm = mono_div(m, dm)?;
            spend(product_cost(c.bits(), dc_bits))?;
            let (qc, rem) = c.div_rem(dc);
            if !rem.is_zero() {
                return None;
            }
            let qc_bits = qc.bits();
            for (km, kc) in &d.terms {
                let key = mono_mul(&qm, km)?;
                let existing = r.get(&key).map_or(0, BigInt::bits);
                spend(
                    product_cost(qc_bits, kc.bits()) + product_cost(existing, qc_bits + kc.bits()),
                )?;
                match r.entry(key) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(-(&qc * kc));
                    }
                    std::collections::btree_map::Entry::Occupied(mut o) => {
                        *o.get_mut() -= &qc * kc;
                        if o.get().is_zero() {
                            o.remove();
                        }
                    }
                }
            }
            if r.len() > MAX_TERMS {
                return None;
            }
            q.insert(qm, qc);
            if q.len() > MAX_TERMS {
                return None;
            }
        }
        Some(Primitive {
            scale: &self.scale / &d.scale,
            terms: q,
        })
    }

    pub(super) fn into_poly(self, nvars: usize) -> Poly {
        let terms = self
            .terms
            .into_iter()
            .map(|(m, c)| (m, rational::mul(&BigRational::from_integer(c), &self.scale)))
            .collect();
        Poly { nvars, terms }
    }
}

impl Poly {
    pub(super) fn zero(nvars: usize) -> Poly {
        Poly {
            nvars,
            terms: BTreeMap::new(),
        }
    }

    pub(super) fn constant(nvars: usize, c: BigRational) -> Poly {
        let mut p = Poly::zero(nvars);
        p.add_term(vec![0; nvars], c);
        p
    }

    pub(super) fn one(nvars: usize) -> Poly {
        Poly::constant(nvars, BigRational::one())
    }

    /// `x_i^k`.
    pub(super) fn var(nvars: usize, i: usize, k: u32) -> Poly {
        let mut m = vec![0; nvars];
        m[i] = k;
        let mut p = Poly::zero(nvars);
        p.add_term(m, BigRational::one());
        p
    }

    pub(super) fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.terms.len()
    }

    pub(super) fn is_constant(&self) -> bool {
        self.terms.keys().all(|m| m.iter().all(|&e| e == 0))
    }

    pub(super) fn is_one(&self) -> bool {
        self.is_constant() && self.terms.values().all(One::is_one) && self.len() == 1
    }

    pub(super) fn leading(&self) -> Option<(Monomial, BigRational)> {
        self.terms
            .last_key_value()
            .map(|(m, c)| (m.clone(), c.clone()))
    }

    pub(super) fn add_term(&mut self, m: Monomial, c: BigRational) {
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

    pub(super) fn bounded(self) -> Option<Poly> {
        (self.len() <= MAX_TERMS).then_some(self)
    }

    pub(super) fn scale(&self, c: &BigRational) -> Poly {
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
    pub(super) fn add_assign(&mut self, other: Poly) -> Option<()> {
        spend(other.len() as u64)?;
        for (m, c) in other.terms {
            self.add_term(m, c);
        }
        (self.len() <= MAX_TERMS).then_some(())
    }

    pub(super) fn mul(&self, other: &Poly) -> Option<Poly> {
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
    pub(super) fn max_bits(&self) -> u64 {
        self.terms
            .values()
            .map(|c| c.numer().bits() + c.denom().bits())
            .max()
            .unwrap_or(0)
    }

    pub(super) fn single_term(&self) -> Option<(&Monomial, &BigRational)> {
        let mut it = self.terms.iter();
        match (it.next(), it.next()) {
            (Some(t), None) => Some(t),
            _ => None,
        }
    }

    /// `self * c * x^m`: distinct monomials stay distinct, so no terms are collected.
    pub(super) fn mul_term(&self, m: &[u32], c: &BigRational) -> Option<Poly> {
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
    pub(super) fn pow(&self, k: u32) -> Option<Poly> {
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
    pub(super) fn sub_shifted(&mut self, d: &Poly, m: &[u32], c: &BigRational) -> Option<()> {
        let bits = c.numer().bits() + c.denom().bits();
        for (dm, dc) in &d.terms {
            let key = mono_mul(m, dm)?;
            // The product, and its sum with the coefficient already there, which in an
            // exact division can be far larger than either factor (intermediate swell).
            let product_bits = bits + dc.numer().bits() + dc.denom().bits();
            let existing = self
                .terms
                .get(&key)
                .map_or(0, |e| e.numer().bits() + e.denom().bits());
            spend(product_cost(bits, product_bits - bits) + product_cost(existing, product_bits))?;
            self.add_term(key, -(c * dc));
        }
        (self.len() <= MAX_TERMS).then_some(())
    }

    /// The quotient `self / d` if `d` divides `self` exactly (and the work stays bounded),
    /// by [`Primitive::div_exact`].
    pub(super) fn div_exact(&self, d: &Poly) -> Option<Poly> {
        let q = self.primitive().div_exact(&d.primitive())?;
        Some(q.into_poly(self.nvars))
    }

    /// `self` as a rational times a polynomial over Z whose coefficients have GCD 1 and
    /// whose leading coefficient is positive (zero is `1 * 0`).
    pub(super) fn primitive(&self) -> Primitive {
        let lcm = self
            .terms
            .values()
            .fold(BigInt::one(), |l, c| l.lcm(c.denom()));
        let ints: Vec<BigInt> = self
            .terms
            .values()
            .map(|c| c.numer() * (&lcm / c.denom()))
            .collect();
        let mut g = ints.iter().fold(BigInt::zero(), |g, x| g.gcd(x));
        if g.is_zero() {
            return Primitive {
                scale: BigRational::one(),
                terms: BTreeMap::new(),
            };
        }
        if ints.last().is_some_and(Signed::is_negative) {
            g = -g;
        }
        let terms = self
            .terms
            .keys()
            .cloned()
            .zip(ints.into_iter().map(|x| x / &g))
            .collect();
        Primitive {
            scale: BigRational::new(g, lcm),
            terms,
        }
    }

    /// Division with remainder: leading terms of the running remainder that `lt(d)` does
    /// not divide move to the remainder.
    pub(super) fn div_rem(&self, d: &Poly) -> Option<(Poly, Poly)> {
        let (dm, dc) = d.leading()?;
        let mut r = self.clone();
        let mut q = Poly::zero(self.nvars);
        let mut rem = Poly::zero(self.nvars);
        let dc_bits = dc.numer().bits() + dc.denom().bits();
        while let Some((m, c)) = r.leading() {
            match mono_div(&m, &dm) {
                Some(qm) => {
                    spend(product_cost(c.numer().bits() + c.denom().bits(), dc_bits))?;
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

    pub(super) fn monic(&self) -> Poly {
        match self.terms.last_key_value() {
            Some((_, c)) => {
                let inv = c.recip();
                self.scale(&inv)
            }
            None => self.clone(),
        }
    }

    /// The smallest exponent of each generator over all terms.
    pub(super) fn monomial_content(&self) -> Monomial {
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

    pub(super) fn div_monomial(&self, m: &[u32]) -> Poly {
        let mut out = Poly::zero(self.nvars);
        for (k, c) in &self.terms {
            let q: Monomial = k.iter().zip(m).map(|(a, b)| a.saturating_sub(*b)).collect();
            out.add_term(q, c.clone());
        }
        out
    }

    /// The coefficient that decides the sign: the constant term if there is one, otherwise
    /// the leading coefficient.
    pub(super) fn sign_coefficient(&self) -> Option<&BigRational> {
        match self.terms.first_key_value() {
            Some((m, c)) if m.iter().all(|&e| e == 0) => Some(c),
            _ => self.terms.last_key_value().map(|(_, c)| c),
        }
    }

    /// The rational `u` such that `self / u` has coprime integer coefficients and a
    /// positive sign coefficient (1 for the zero polynomial).
    pub(super) fn unit(&self) -> BigRational {
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
    pub(super) fn content_factor(&self) -> Option<Poly> {
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
    pub(super) fn vars_used(&self) -> Vec<bool> {
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
pub(super) fn gcd_univariate(a: &Poly, b: &Poly) -> Option<Poly> {
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
pub(super) fn reduce_square(p: &Poly, s: usize, c: usize, sign: i64) -> Option<Poly> {
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
