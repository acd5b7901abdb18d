//! Rational functions with factored denominators: the sums of [`super::together`] over one
//! common denominator, built once from the least common multiple of the denominators.

use num_rational::BigRational;
use num_traits::{One, Signed};

use super::sparse::{MAX_EXPONENT, MAX_POWER, Poly};

/// A denominator in factored form: normalised non-constant polynomials with multiplicities.
pub(super) type Factors = Vec<(Poly, u32)>;

/// A rational function `num / prod(f^k for (f, k) in den)`.
#[derive(Clone, Debug)]
pub(super) struct Frac {
    pub(super) num: Poly,
    pub(super) den: Factors,
}

/// Writes a non-zero `p` as `unit * prod(factors)`: its rational unit, one factor per
/// generator of its monomial content, and the normalised rest if that is not constant.
pub(super) fn split_den(p: &Poly) -> Option<(BigRational, Factors)> {
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

pub(super) fn multiplicity(den: &Factors, f: &Poly) -> u32 {
    den.iter().find(|(g, _)| g == f).map_or(0, |(_, k)| *k)
}

/// `prod(f^(k * mult))`.
pub(super) fn expand_factors(den: &Factors, nvars: usize, mult: u32) -> Option<Poly> {
    let mut out = Poly::one(nvars);
    for (f, k) in den {
        out = out.mul(&f.pow(k.checked_mul(mult)?)?)?;
    }
    Some(out)
}

impl Frac {
    pub(super) fn poly(num: Poly) -> Frac {
        Frac {
            num,
            den: Vec::new(),
        }
    }

    /// `x_i^k` for a possibly negative `k`.
    pub(super) fn generator(nvars: usize, i: usize, k: i64) -> Option<Frac> {
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
    pub(super) fn sum(nvars: usize, parts: Vec<Frac>) -> Option<Frac> {
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

    pub(super) fn mul(&self, other: &Frac) -> Option<Frac> {
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
    pub(super) fn powi(&self, n: i64) -> Option<Frac> {
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
pub(super) fn cofactor(lcm: &Factors, den: &Factors, nvars: usize) -> Option<Poly> {
    let mut out = Poly::one(nvars);
    for (f, k) in lcm {
        let extra = k - multiplicity(den, f);
        if extra > 0 {
            out = out.mul(&f.pow(extra)?)?;
        }
    }
    Some(out)
}
