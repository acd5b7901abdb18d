//! Canonical-form verifier: checks the invariants every transformation must preserve.
//!
//! Run in tests after each pass (Cranelift's verifier pattern). It reports the first broken
//! invariant with the offending node, so a failing property test names the culprit.

use std::cmp::Ordering;
use std::collections::HashSet;

use num_traits::{One, Zero};
use thiserror::Error;

use super::pool::{ExprId, Node, Pool};

/// A broken canonical-form invariant.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{what} at node {node:?}")]
pub struct VerifyError {
    pub node: ExprId,
    pub what: &'static str,
}

/// Checks every node reachable from `e`.
pub fn verify(pool: &mut Pool, e: ExprId) -> Result<(), VerifyError> {
    let mut seen = HashSet::new();
    let mut stack = vec![e];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        check_node(pool, id)?;
        stack.extend(pool.children(id));
    }
    Ok(())
}

fn fail(node: ExprId, what: &'static str) -> Result<(), VerifyError> {
    Err(VerifyError { node, what })
}

fn check_node(pool: &mut Pool, id: ExprId) -> Result<(), VerifyError> {
    match pool.node(id).clone() {
        Node::Add(xs) => {
            if xs.len() < 2 {
                return fail(id, "sum with fewer than two terms");
            }
            let mut keys = Vec::with_capacity(xs.len());
            for (i, &x) in xs.iter().enumerate() {
                match pool.node(x) {
                    Node::Add(_) => return fail(id, "nested sum (not flattened)"),
                    Node::Rational(r) if r.is_zero() => return fail(id, "zero term in a sum"),
                    Node::Rational(_) if i > 0 => return fail(id, "rational term not first"),
                    _ => {}
                }
                keys.push(pool.split_coeff(x).1);
            }
            for w in keys.windows(2) {
                match pool.cmp(w[0], w[1]) {
                    Ordering::Less => {}
                    Ordering::Equal => return fail(id, "like terms not collected"),
                    Ordering::Greater => return fail(id, "sum not sorted"),
                }
            }
        }
        Node::Mul(xs) => {
            if xs.len() < 2 {
                return fail(id, "product with fewer than two factors");
            }
            let mut bases = Vec::with_capacity(xs.len());
            for (i, &x) in xs.iter().enumerate() {
                match pool.node(x) {
                    Node::Mul(_) => return fail(id, "nested product (not flattened)"),
                    Node::Rational(r) if i > 0 => {
                        let _ = r;
                        return fail(id, "rational factor not first");
                    }
                    Node::Rational(r) if r.is_zero() || r.is_one() => {
                        return fail(id, "coefficient 0 or 1 in a product");
                    }
                    Node::Rational(_) => {}
                    _ => bases.push(pool.split_pow(x).0),
                }
            }
            for w in bases.windows(2) {
                match pool.cmp(w[0], w[1]) {
                    Ordering::Less => {}
                    Ordering::Equal => return fail(id, "equal bases not merged"),
                    Ordering::Greater => return fail(id, "product not sorted"),
                }
            }
        }
        Node::Pow(_, e) => {
            if e == pool.zero() || e == pool.one() {
                return fail(id, "power with exponent 0 or 1");
            }
        }
        Node::Rational(_) | Node::Const(_) | Node::Sym(_) | Node::Call(..) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_constructors_pass_and_raw_nodes_fail() {
        let mut p = Pool::new();
        let x = p.var("x");
        let y = p.var("y");
        let s = p.add(vec![y, x, x]);
        assert_eq!(verify(&mut p, s), Ok(()));
        let raw = p.intern(Node::Add(vec![y, x].into_boxed_slice()));
        assert_eq!(verify(&mut p, raw).unwrap_err().what, "sum not sorted");
        let raw2 = p.intern(Node::Add(vec![x, x].into_boxed_slice()));
        assert_eq!(
            verify(&mut p, raw2).unwrap_err().what,
            "like terms not collected"
        );
    }
}
