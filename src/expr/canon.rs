//! Canonical constructors: every expression the engine builds goes through these.
//!
//! Canonical form (checked by [`crate::expr::verify`]): sums and products are flattened and
//! sorted by [`Pool::cmp`]; like terms are collected (`2*x + 3*x = 5*x`) and equal bases
//! multiplied (`x^a * x^b = x^(a+b)`); rational constants are folded exactly; `x^0`, `x^1`,
//! `0*x`, `1*x` are gone; a rational coefficient of a single sum is distributed
//! (`-(1 - t) = t - 1`); exact values of builtins at special points are folded
//! (`cos(pi/2) = 0`); odd and even functions take their argument with a non-negative
//! coefficient (`sin(-x) = -sin(x)`). These identities hold wherever the input is defined;
//! anything that needs a side condition is a named rule in [`crate::expr::rules`] instead.

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::pool::{Constant, ExprId, Func, Generic, Node, Pool};
use super::rational;

/// Largest exact power we compute, in bits of the result; larger ones stay symbolic.
const MAX_POWER_BITS: u64 = 1 << 16;
/// Largest rational whose roots we try to extract exactly, in bits.
const MAX_ROOT_BITS: u64 = 4096;

fn rat(n: i64, d: i64) -> BigRational {
    BigRational::new(BigInt::from(n), BigInt::from(d))
}

impl Pool {
    /// The canonical sum of `terms`.
    pub fn add(&mut self, terms: Vec<ExprId>) -> ExprId {
        let mut flat = Vec::with_capacity(terms.len());
        for t in terms {
            match self.node(t) {
                Node::Add(xs) => flat.extend(xs.iter().copied()),
                _ => flat.push(t),
            }
        }
        if flat.len() == 1 {
            return flat[0];
        }
        let mut pairs: Vec<(ExprId, BigRational)> = flat
            .into_iter()
            .map(|t| {
                let (c, rest) = self.split_coeff(t);
                (rest, c)
            })
            .collect();
        // The rational term (key 1) comes first, before terms whose key sorts below 1
        // (`(1/2)^(1/2)`, whose base 1/2 does).
        let one = self.one();
        pairs.sort_by(|a, b| {
            (a.0 != one)
                .cmp(&(b.0 != one))
                .then_with(|| self.cmp(a.0, b.0))
        });
        let mut merged: Vec<(ExprId, BigRational)> = Vec::with_capacity(pairs.len());
        for (rest, c) in pairs {
            match merged.last_mut() {
                Some((r, acc)) if *r == rest => rational::add_assign(acc, &c),
                _ => merged.push((rest, c)),
            }
        }
        let terms: Vec<ExprId> = merged
            .into_iter()
            .filter(|(_, c)| !c.is_zero())
            .map(|(rest, c)| self.term(c, rest))
            .collect();
        match terms.len() {
            0 => self.zero(),
            1 => terms[0],
            _ => self.intern(Node::Add(terms.into_boxed_slice())),
        }
    }

    /// `c * rest` where `rest` is a canonical term without a rational coefficient.
    fn term(&mut self, c: BigRational, rest: ExprId) -> ExprId {
        if rest == self.one() {
            return self.rational(c);
        }
        if c.is_one() {
            return rest;
        }
        let coeff = self.rational(c);
        let factors: Vec<ExprId> = match self.node(rest) {
            Node::Mul(xs) => std::iter::once(coeff).chain(xs.iter().copied()).collect(),
            _ => vec![coeff, rest],
        };
        self.intern(Node::Mul(factors.into_boxed_slice()))
    }

    /// The canonical product of `factors`.
    pub fn mul(&mut self, factors: Vec<ExprId>) -> ExprId {
        self.mul_rounds(factors, 0)
    }

    fn mul_rounds(&mut self, factors: Vec<ExprId>, round: u32) -> ExprId {
        let mut coeff = BigRational::one();
        let mut others: Vec<(ExprId, ExprId)> = Vec::with_capacity(factors.len());
        let mut stack: Vec<ExprId> = factors;
        stack.reverse();
        while let Some(f) = stack.pop() {
            match self.node(f) {
                Node::Rational(r) => coeff = rational::mul(&coeff, r),
                Node::Mul(xs) => stack.extend(xs.iter().rev().copied()),
                _ => others.push(self.split_pow(f)),
            }
        }
        if coeff.is_zero() {
            return self.zero();
        }
        others.sort_by(|a, b| self.cmp(a.0, b.0));
        let mut merged: Vec<(ExprId, Vec<ExprId>)> = Vec::with_capacity(others.len());
        for (base, exp) in others {
            match merged.last_mut() {
                Some((b, exps)) if *b == base => exps.push(exp),
                _ => merged.push((base, vec![exp])),
            }
        }
        let mut out: Vec<ExprId> = Vec::with_capacity(merged.len());
        let mut reflatten = false;
        for (base, exps) in merged {
            let exp = if exps.len() == 1 {
                exps[0]
            } else {
                self.add(exps)
            };
            let p = self.pow(base, exp);
            match self.node(p) {
                Node::Rational(r) => coeff = rational::mul(&coeff, r),
                Node::Mul(_) => {
                    reflatten = true;
                    out.push(p);
                }
                _ => {
                    if self.split_pow(p).0 != base {
                        reflatten = true;
                    }
                    out.push(p);
                }
            }
        }
        if coeff.is_zero() {
            return self.zero();
        }
        if reflatten && round < 4 {
            let c = self.rational(coeff);
            out.push(c);
            return self.mul_rounds(out, round + 1);
        }
        out.sort_by(|a, b| self.cmp(*a, *b));
        if out.is_empty() {
            return self.rational(coeff);
        }
        if out.len() == 1 {
            if coeff.is_one() {
                return out[0];
            }
            if let Node::Add(terms) = self.node(out[0]) {
                let terms = terms.to_vec();
                let c = self.rational(coeff);
                let scaled: Vec<ExprId> = terms.into_iter().map(|t| self.mul(vec![c, t])).collect();
                return self.add(scaled);
            }
        }
        if !coeff.is_one() {
            let c = self.rational(coeff);
            out.insert(0, c);
        }
        self.intern(Node::Mul(out.into_boxed_slice()))
    }

    /// The canonical power `base^exp`.
    pub fn pow(&mut self, base: ExprId, exp: ExprId) -> ExprId {
        if exp == self.zero() {
            return self.one();
        }
        if exp == self.one() || base == self.one() {
            return base;
        }
        let exp_r = self.as_rational(exp).cloned();
        match (self.node(base).clone(), exp_r) {
            (Node::Rational(b), Some(e)) => self.pow_rational_rational(base, &b, &e),
            (Node::Rational(b), None) if b.is_zero() => self.intern(Node::Pow(base, exp)),
            (Node::Const(Constant::E), _) => self.call(Func::Exp, exp),
            (Node::Pow(bb, be), e) => self.pow_of_pow(base, bb, be, exp, e),
            (Node::Mul(xs), Some(e)) if e.is_integer() => {
                let parts: Vec<ExprId> = xs.iter().map(|&x| self.pow(x, exp)).collect();
                self.mul(parts)
            }
            (Node::Mul(xs), Some(_)) => {
                // (c * X)^e = c^e X^e for a positive rational c: both sides need X >= 0.
                match self.node(xs[0]) {
                    Node::Rational(c) if c.is_positive() => {
                        let c = xs[0];
                        let rest = self.mul(xs[1..].to_vec());
                        let ce = self.pow(c, exp);
                        let re = self.pow(rest, exp);
                        self.mul(vec![ce, re])
                    }
                    _ => self.intern(Node::Pow(base, exp)),
                }
            }
            (Node::Call(Func::Abs, x), Some(e)) if is_even_integer(&e) => self.pow(x, exp),
            _ => self.intern(Node::Pow(base, exp)),
        }
    }

    /// `(bb^be)^e`: merge exponents where that is an identity on the domain of the input.
    fn pow_of_pow(
        &mut self,
        base: ExprId,
        bb: ExprId,
        be: ExprId,
        exp: ExprId,
        e: Option<BigRational>,
    ) -> ExprId {
        let be_r = self.as_rational(be).cloned();
        let base_positive = matches!(self.node(bb), Node::Rational(r) if r.is_positive())
            || matches!(self.node(bb), Node::Const(_) | Node::Call(Func::Exp, _));
        match (be_r, e) {
            (_, Some(e)) if e.is_integer() => {
                let ne = self.mul(vec![be, exp]);
                self.pow(bb, ne)
            }
            (Some(b), Some(_)) if is_even_integer(&b) => {
                // (x^(2k))^e = |x|^(2k e)
                let ab = self.call(Func::Abs, bb);
                let ne = self.mul(vec![be, exp]);
                self.pow(ab, ne)
            }
            (Some(_), Some(_)) => {
                // x^(p/q) needs x >= 0, and x^(odd) then keeps the sign: merge.
                let ne = self.mul(vec![be, exp]);
                self.pow(bb, ne)
            }
            _ if base_positive => {
                let ne = self.mul(vec![be, exp]);
                self.pow(bb, ne)
            }
            _ => self.intern(Node::Pow(base, exp)),
        }
    }

    fn pow_rational_rational(&mut self, base: ExprId, b: &BigRational, e: &BigRational) -> ExprId {
        let exp_id = self.rational(e.clone());
        if b.is_zero() {
            return if e.is_positive() {
                self.zero()
            } else {
                // 0^(-n) is a division by zero: keep it visible for evaluation to report.
                self.intern(Node::Pow(base, exp_id))
            };
        }
        if e.is_integer() {
            let bits = b.numer().bits() + b.denom().bits();
            let n = e.to_integer();
            let fits = n
                .abs()
                .to_u64()
                .is_some_and(|n| bits.saturating_mul(n) <= MAX_POWER_BITS);
            if !fits {
                return self.intern(Node::Pow(base, exp_id));
            }
            let n = n.to_i32().expect("bounded by MAX_POWER_BITS");
            return self.rational(num_traits::pow::Pow::pow(b, n));
        }
        if b.is_negative() {
            // A non-integer power of a negative number is undefined over the reals.
            return self.intern(Node::Pow(base, exp_id));
        }
        if !b.denom().is_one() {
            // (n/d)^e = n^e * d^(-e): integer bases merge with other powers of them.
            let n = self.rational(BigRational::from_integer(b.numer().clone()));
            let d = self.rational(BigRational::from_integer(b.denom().clone()));
            let pn = self.pow(n, exp_id);
            let neg = self.rational(-e.clone());
            let pd = self.pow(d, neg);
            return self.mul(vec![pn, pd]);
        }
        // b is a positive integer and e = p/q is not an integer.
        let whole = e.floor();
        let frac = e - &whole;
        // b^whole must fold to a rational, or the product would merge the two powers
        // back into this one (and recurse without end: 9.3E1768^66.982).
        let whole_fits = whole.to_integer().abs().to_u64().is_some_and(|w| {
            (b.numer().bits() + b.denom().bits()).saturating_mul(w) <= MAX_POWER_BITS
        });
        if !whole.is_zero() && !whole_fits {
            return self.intern(Node::Pow(base, exp_id));
        }
        if !whole.is_zero() {
            let w = self.rational(whole);
            let f = self.rational(frac);
            let pw = self.pow(base, w);
            let pf = self.pow(base, f);
            return self.mul(vec![pw, pf]);
        }
        let q = e.denom();
        let n = b.numer();
        if n.bits() <= MAX_ROOT_BITS
            && let Some(q32) = q.to_u32()
        {
            let root = n.nth_root(q32);
            if num_traits::pow::Pow::pow(&root, q32) == *n {
                let r = self.rational(BigRational::from_integer(root));
                let p = self.rational(BigRational::from_integer(e.numer().clone()));
                return self.pow(r, p);
            }
            // Pull out perfect q-th powers of small divisors: 8^(1/2) = 2*2^(1/2).
            let (k, rest) = extract_power(n, q32);
            if !k.is_one() {
                let k = self.rational(BigRational::from_integer(k));
                let rest = self.rational(BigRational::from_integer(rest));
                let p = self.rational(BigRational::from_integer(e.numer().clone()));
                let kp = self.pow(k, p);
                let rp = self.pow(rest, exp_id);
                return self.mul(vec![kp, rp]);
            }
        }
        self.intern(Node::Pow(base, exp_id))
    }

    /// The canonical call `f(arg)`.
    pub fn call(&mut self, f: Func, arg: ExprId) -> ExprId {
        if let Some(v) = self.exact_value(f, arg) {
            return v;
        }
        // Symmetry: odd functions pull a negative coefficient out, even ones drop it.
        if let Some(neg_arg) = self.negated_if_negative(arg) {
            match f {
                Func::Sin | Func::Tan | Func::Asin | Func::Atan | Func::Sinh | Func::Tanh => {
                    let inner = self.call(f, neg_arg);
                    return self.neg(inner);
                }
                Func::Cos | Func::Cosh | Func::Abs => return self.call(f, neg_arg),
                _ => {}
            }
        }
        if f == Func::Abs {
            match self.node(arg) {
                Node::Call(Func::Abs | Func::Exp | Func::Cosh | Func::Sigmoid, _) => return arg,
                Node::Const(_) => return arg,
                Node::Mul(xs) => {
                    let xs = xs.clone();
                    if let Node::Rational(c) = self.node(xs[0]) {
                        let c = self.rational(c.abs());
                        let rest = self.mul(xs[1..].to_vec());
                        let ar = self.call(Func::Abs, rest);
                        return self.mul(vec![c, ar]);
                    }
                }
                Node::Pow(_, e) if self.as_rational(*e).is_some_and(is_even_integer) => return arg,
                _ => {}
            }
        }
        self.intern(Node::Call(f, arg))
    }

    /// `-arg` if `arg` is a negative rational or a product with a negative coefficient.
    fn negated_if_negative(&mut self, arg: ExprId) -> Option<ExprId> {
        let negative = match self.node(arg) {
            Node::Rational(r) => r.is_negative(),
            Node::Mul(xs) => matches!(self.node(xs[0]), Node::Rational(r) if r.is_negative()),
            _ => false,
        };
        negative.then(|| self.neg(arg))
    }

    /// Exact values of builtins at rationals and at rational multiples of pi.
    fn exact_value(&mut self, f: Func, arg: ExprId) -> Option<ExprId> {
        if let Func::Generic(g) = f {
            // The primitive vanishes at 0 by definition; nothing else is known.
            return (g.order == Generic::PRIMITIVE && self.is_zero(arg)).then(|| self.zero());
        }
        if let Func::Integral(i) = f {
            // An integral from its lower limit to itself.
            return (self.integral(i).lo == arg).then(|| self.zero());
        }
        if let Some(r) = self.as_rational(arg).cloned() {
            if r.is_zero() {
                return match f {
                    Func::Exp | Func::Cos | Func::Cosh => Some(self.one()),
                    Func::Sigmoid => Some(self.frac(1, 2)),
                    Func::Log | Func::Acos => None,
                    Func::Abs => Some(self.zero()),
                    _ => Some(self.zero()),
                };
            }
            return match f {
                Func::Abs => Some(self.rational(r.abs())),
                Func::Log if r.is_one() => Some(self.zero()),
                Func::Acos if r.is_one() => Some(self.zero()),
                Func::Atan if r.is_one() => {
                    let pi = self.pi();
                    let q = self.frac(1, 4);
                    Some(self.mul(vec![q, pi]))
                }
                _ => None,
            };
        }
        let k = self.pi_multiple(arg)?;
        match f {
            Func::Sin => self.sin_of_pi_multiple(&k),
            Func::Cos => {
                let shifted = k + rat(1, 2);
                self.sin_of_pi_multiple(&shifted)
            }
            Func::Tan => {
                let s = self.sin_of_pi_multiple(&k)?;
                let c = self.sin_of_pi_multiple(&(k + rat(1, 2)))?;
                if c == self.zero() {
                    return None;
                }
                Some(self.div(s, c))
            }
            _ => None,
        }
    }

    /// `k` such that `arg == k*pi`, for rational k.
    fn pi_multiple(&self, arg: ExprId) -> Option<BigRational> {
        match self.node(arg) {
            Node::Const(Constant::Pi) => Some(BigRational::one()),
            Node::Mul(xs) if xs.len() == 2 => match (self.node(xs[0]), self.node(xs[1])) {
                (Node::Rational(r), Node::Const(Constant::Pi)) => Some(r.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// `sin(k*pi)` when k is a multiple of 1/6 or 1/4.
    fn sin_of_pi_multiple(&mut self, k: &BigRational) -> Option<ExprId> {
        // Reduce k into [0, 2).
        let two = BigRational::from_integer(BigInt::from(2));
        let m = k - (k / &two).floor() * &two;
        let twelfths = (&m * BigRational::from_integer(BigInt::from(12))).to_integer();
        if BigRational::from_integer(twelfths.clone())
            != &m * BigRational::from_integer(BigInt::from(12))
        {
            return None;
        }
        let n = twelfths.to_i64()?;
        // sin at multiples of pi/12 that have closed forms we want: 0, pi/6, pi/4, pi/3, pi/2...
        let (sign, idx) = if n < 12 { (1, n) } else { (-1, n - 12) };
        let idx = if idx > 6 { 12 - idx } else { idx };
        let value = match idx {
            0 => self.zero(),
            2 => self.frac(1, 2),
            3 => {
                let two = self.int(2);
                let s = self.sqrt(two);
                let h = self.frac(1, 2);
                self.mul(vec![h, s])
            }
            4 => {
                let three = self.int(3);
                let s = self.sqrt(three);
                let h = self.frac(1, 2);
                self.mul(vec![h, s])
            }
            6 => self.one(),
            _ => return None,
        };
        Some(if sign < 0 { self.neg(value) } else { value })
    }

    pub fn add2(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.add(vec![a, b])
    }

    pub fn mul2(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.mul(vec![a, b])
    }

    pub fn neg(&mut self, a: ExprId) -> ExprId {
        let m1 = self.int(-1);
        self.mul2(m1, a)
    }

    pub fn sub(&mut self, a: ExprId, b: ExprId) -> ExprId {
        let nb = self.neg(b);
        self.add2(a, nb)
    }

    pub fn recip(&mut self, a: ExprId) -> ExprId {
        let m1 = self.int(-1);
        self.pow(a, m1)
    }

    pub fn div(&mut self, a: ExprId, b: ExprId) -> ExprId {
        let rb = self.recip(b);
        self.mul2(a, rb)
    }

    pub fn powi(&mut self, base: ExprId, n: i64) -> ExprId {
        let e = self.int(n);
        self.pow(base, e)
    }

    pub fn pow_rational(&mut self, base: ExprId, r: BigRational) -> ExprId {
        let e = self.rational(r);
        self.pow(base, e)
    }

    pub fn sqrt(&mut self, a: ExprId) -> ExprId {
        let half = self.frac(1, 2);
        self.pow(a, half)
    }

    /// Rebuilds `id` from (possibly new) children through the canonical constructors.
    pub fn rebuild(&mut self, id: ExprId, children: &[ExprId]) -> ExprId {
        match self.node(id).clone() {
            Node::Rational(_) | Node::Const(_) | Node::Sym(_) => id,
            Node::Add(_) => self.add(children.to_vec()),
            Node::Mul(_) => self.mul(children.to_vec()),
            Node::Pow(..) => self.pow(children[0], children[1]),
            Node::Call(f, _) => self.call(f, children[0]),
        }
    }
}

/// Writes `n = k^q * rest` with `k` the product of the small divisors (below 1000) whose
/// q-th powers divide `n`. Only primes are tried: once its prime factors' q-th powers are
/// out, a composite's q-th power divides no longer. Each prime's multiplicity is counted
/// by word-sized remainders, so a call costs about 170 short divisions of `n`.
fn extract_power(n: &BigInt, q: u32) -> (BigInt, BigInt) {
    let mut k = BigInt::one();
    let mut rest = n.magnitude().clone();
    for d in (2u32..1000).filter(|&d| (2..d).take_while(|p| p * p <= d).all(|p| d % p != 0)) {
        // d^q >= 2^((bits(d) - 1) q): when that alone exceeds `rest`, so does d^q, and it
        // is not computed (q can be 10^9, from a literal like `4^(1e-9)`).
        if u64::from(d.ilog2()).saturating_mul(u64::from(q)) >= rest.bits() {
            break;
        }
        let mut times = 0u32;
        while (&rest % d).is_zero() {
            rest /= d;
            times += 1;
        }
        let (whole, left) = (times / q, times % q);
        if left > 0 {
            rest *= num_traits::pow::Pow::pow(&num_bigint::BigUint::from(d), left);
        }
        if whole > 0 {
            k *= num_traits::pow::Pow::pow(&BigInt::from(d), whole);
        }
    }
    (k, BigInt::from_biguint(n.sign(), rest))
}

fn is_even_integer(r: &BigRational) -> bool {
    r.is_integer() && r.numer().is_even()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Pool, ExprId, ExprId) {
        let mut p = Pool::new();
        let x = p.var("x");
        let y = p.var("y");
        (p, x, y)
    }

    #[test]
    fn a_root_of_huge_index_is_not_searched_by_powers() {
        // 4^(1e-9), found by the fuzzer: 2^(10^9) (125 MB) was computed to learn that 4 is
        // no perfect 10^9-th power; the size of 4 alone rules that out.
        let (k, rest) = extract_power(&BigInt::from(4), 1_000_000_000);
        assert_eq!((k, rest), (BigInt::one(), BigInt::from(4)));
        // Where powers do divide, they are still extracted: 2^6 * 3^3 * 5 = 8640.
        assert_eq!(
            extract_power(&BigInt::from(8640), 3),
            (BigInt::from(12), BigInt::from(5))
        );
        // Composite divisors come out through their primes, and a large prime factor
        // (here 2^61 - 1) stays: 36^2 * 997^2 * 7 * (2^61 - 1) with q = 2.
        let big = BigInt::from((1u64 << 61) - 1);
        let n = BigInt::from(36u64 * 36 * 997 * 997 * 7) * &big;
        assert_eq!(extract_power(&n, 2), (BigInt::from(36 * 997), 7 * big));
        // Multiplicities that are not multiples of q leave the remainder: 2^7 = 2^(2*3) * 2.
        assert_eq!(
            extract_power(&BigInt::from(128), 3),
            (BigInt::from(4), BigInt::from(2))
        );
    }

    #[test]
    fn like_terms_collect_and_cancel() {
        let (mut p, x, y) = setup();
        let two_x = {
            let c = p.int(2);
            p.mul(vec![c, x])
        };
        let three_x = {
            let c = p.int(3);
            p.mul(vec![c, x])
        };
        let s = p.add(vec![two_x, y, three_x]);
        let five_x = {
            let c = p.int(5);
            p.mul(vec![c, x])
        };
        assert_eq!(s, p.add(vec![y, five_x]));
        let nx = p.neg(x);
        assert_eq!(p.add(vec![x, nx]), p.zero());
    }

    #[test]
    fn equal_bases_merge_and_powers_fold() {
        let (mut p, x, _) = setup();
        let x2 = p.powi(x, 2);
        let xm1 = p.powi(x, -1);
        assert_eq!(p.mul(vec![x2, xm1]), x);
        let s = p.sqrt(x);
        assert_eq!(p.powi(s, 2), x);
        let x2 = p.powi(x, 2);
        let r = p.sqrt(x2);
        assert_eq!(r, p.call(Func::Abs, x));
    }

    #[test]
    fn rational_powers_are_exact() {
        let mut p = Pool::new();
        let four = p.int(4);
        let half = p.frac(1, 2);
        assert_eq!(p.pow(four, half), p.int(2));
        let eight = p.int(8);
        let tt = p.frac(2, 3);
        assert_eq!(p.pow(eight, tt), p.int(4));
        // sqrt(2)*sqrt(2) = 2, sqrt(8) = 2*sqrt(2)
        let two = p.int(2);
        let s2 = p.sqrt(two);
        assert_eq!(p.mul(vec![s2, s2]), p.int(2));
        let s8 = p.sqrt(eight);
        assert_eq!(s8, {
            let c = p.int(2);
            p.mul(vec![c, s2])
        });
    }

    #[test]
    fn order_is_independent_of_argument_order() {
        let (mut p, x, y) = setup();
        let a = {
            let c = p.int(1);
            p.add(vec![x, y, c])
        };
        let b = {
            let c = p.int(1);
            p.add(vec![c, y, x])
        };
        assert_eq!(a, b);
        let c = {
            let c = p.int(3);
            p.mul(vec![y, x, c])
        };
        let d = {
            let c = p.int(3);
            p.mul(vec![c, x, y])
        };
        assert_eq!(c, d);
    }

    #[test]
    fn coefficients_distribute_over_a_single_sum() {
        let (mut p, x, _) = setup();
        let one = p.one();
        let one_minus_x = p.sub(one, x);
        let neg = p.neg(one_minus_x);
        let m1 = p.int(-1);
        assert_eq!(neg, p.add(vec![x, m1]));
    }

    #[test]
    fn special_values_of_trig_at_pi_multiples() {
        let mut p = Pool::new();
        let pi = p.pi();
        let half = p.frac(1, 2);
        let half_pi = p.mul(vec![half, pi]);
        assert_eq!(p.call(Func::Cos, half_pi), p.zero());
        assert_eq!(p.call(Func::Sin, half_pi), p.one());
        assert_eq!(p.call(Func::Sin, pi), p.zero());
        assert_eq!(p.call(Func::Cos, pi), p.int(-1));
        let sixth = p.frac(1, 6);
        let pi6 = p.mul(vec![sixth, pi]);
        assert_eq!(p.call(Func::Sin, pi6), p.frac(1, 2));
    }

    #[test]
    fn odd_and_even_functions_normalise_sign() {
        let (mut p, x, _) = setup();
        let nx = p.neg(x);
        let s = p.call(Func::Sin, nx);
        let sx = p.call(Func::Sin, x);
        assert_eq!(s, p.neg(sx));
        assert_eq!(p.call(Func::Cos, nx), p.call(Func::Cos, x));
    }

    #[test]
    fn huge_powers_stay_symbolic() {
        let mut p = Pool::new();
        let two = p.int(2);
        let big = p.int(1_000_000_000);
        let e = p.pow(two, big);
        assert!(matches!(p.node(e), Node::Pow(..)));
    }

    #[test]
    fn zero_to_a_negative_power_stays_visible() {
        let mut p = Pool::new();
        let z = p.zero();
        let r = p.recip(z);
        assert!(matches!(p.node(r), Node::Pow(..)));
    }
}
