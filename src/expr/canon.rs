//! Canonical constructors: every expression the engine builds goes through these.
//!
//! STUB: bodies intern without canonicalising; the real canonical form replaces them.

use num_bigint::BigInt;
use num_rational::BigRational;

use super::pool::{ExprId, Func, Node, Pool};

impl Pool {
    /// The canonical sum of `terms`.
    pub fn add(&mut self, terms: Vec<ExprId>) -> ExprId {
        match terms.len() {
            0 => self.zero(),
            1 => terms[0],
            _ => self.intern(Node::Add(terms.into_boxed_slice())),
        }
    }

    /// The canonical product of `factors`.
    pub fn mul(&mut self, factors: Vec<ExprId>) -> ExprId {
        match factors.len() {
            0 => self.one(),
            1 => factors[0],
            _ => self.intern(Node::Mul(factors.into_boxed_slice())),
        }
    }

    /// The canonical power `base^exp`.
    pub fn pow(&mut self, base: ExprId, exp: ExprId) -> ExprId {
        self.intern(Node::Pow(base, exp))
    }

    /// The canonical call `f(arg)`.
    pub fn call(&mut self, f: Func, arg: ExprId) -> ExprId {
        self.intern(Node::Call(f, arg))
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
        let half = self.rational(BigRational::new(BigInt::from(1), BigInt::from(2)));
        self.pow(a, half)
    }
}
