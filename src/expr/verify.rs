//! Canonical-form verifier: checks the invariants every transformation must preserve.
//!
//! Cranelift's verifier pattern: [`verify`] collects every broken invariant with the
//! offending node printed, and [`checked`] runs it after each transformation of the core
//! (simplify, diff, integrate, subst, together, stabilize, transplant) in debug builds and
//! tests, so a failing test names the culprit and the pass that made it.

use std::cmp::Ordering;
use std::collections::HashSet;

use num_traits::{One, Zero};

use super::pool::{ExprId, Node, Pool};

/// A broken canonical-form invariant at one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub node: ExprId,
    pub what: &'static str,
    /// The node in the .dsym syntax.
    pub printed: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: `{}`", self.what, self.printed)
    }
}

/// Checks every node reachable from `e`; every violation, in a deterministic order.
pub fn verify(pool: &Pool, e: ExprId) -> Result<(), Vec<Violation>> {
    let mut seen = HashSet::new();
    let mut stack = vec![e];
    let mut out = Vec::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Err(what) = check_node(pool, id) {
            out.push(Violation {
                node: id,
                what,
                printed: super::print::to_text(pool, id),
            });
        }
        stack.extend(pool.children(id));
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// `e`, the result of the transformation `pass`, after checking it in debug builds and
/// tests (a broken invariant is a bug in diffsym: it panics, naming the pass).
#[inline]
pub fn checked(pool: &Pool, e: ExprId, pass: &str) -> ExprId {
    if cfg!(debug_assertions)
        && let Err(vs) = verify(pool, e)
    {
        let list: Vec<String> = vs.iter().map(ToString::to_string).collect();
        panic!("`{pass}` broke canonical form:\n{}", list.join("\n"));
    }
    e
}

/// A term without its rational coefficient (`2*x*y` -> `x*y`), the key like terms share;
/// built as a node, not interned, so the verifier needs no `&mut Pool`.
fn term_key(pool: &Pool, x: ExprId) -> Node {
    match pool.node(x) {
        Node::Mul(xs) if matches!(pool.node(xs[0]), Node::Rational(_)) => match &xs[1..] {
            [one] => pool.node(*one).clone(),
            rest => Node::Mul(rest.to_vec().into_boxed_slice()),
        },
        n => n.clone(),
    }
}

fn fail(what: &'static str) -> Result<(), &'static str> {
    Err(what)
}

fn check_node(pool: &Pool, id: ExprId) -> Result<(), &'static str> {
    match pool.node(id).clone() {
        Node::Add(xs) => {
            if xs.len() < 2 {
                return fail("sum with fewer than two terms");
            }
            let mut keys = Vec::with_capacity(xs.len());
            for (i, &x) in xs.iter().enumerate() {
                match pool.node(x) {
                    Node::Add(_) => return fail("nested sum (not flattened)"),
                    Node::Rational(r) if r.is_zero() => return fail("zero term in a sum"),
                    Node::Rational(_) if i > 0 => return fail("rational term not first"),
                    _ => {}
                }
                if !matches!(pool.node(x), Node::Rational(_)) {
                    keys.push(term_key(pool, x));
                }
            }
            for w in keys.windows(2) {
                match pool.cmp_node(&w[0], &w[1]) {
                    Ordering::Less => {}
                    Ordering::Equal => return fail("like terms not collected"),
                    Ordering::Greater => return fail("sum not sorted"),
                }
            }
        }
        Node::Mul(xs) => {
            if xs.len() < 2 {
                return fail("product with fewer than two factors");
            }
            let mut bases = Vec::with_capacity(xs.len());
            for (i, &x) in xs.iter().enumerate() {
                match pool.node(x) {
                    Node::Mul(_) => return fail("nested product (not flattened)"),
                    Node::Rational(r) if i > 0 => {
                        let _ = r;
                        return fail("rational factor not first");
                    }
                    Node::Rational(r) if r.is_zero() || r.is_one() => {
                        return fail("coefficient 0 or 1 in a product");
                    }
                    Node::Rational(_) => {}
                    _ => bases.push(pool.split_pow(x).0),
                }
            }
            for w in bases.windows(2) {
                match pool.cmp(w[0], w[1]) {
                    Ordering::Less => {}
                    Ordering::Equal => return fail("equal bases not merged"),
                    Ordering::Greater => return fail("product not sorted"),
                }
            }
        }
        Node::Pow(_, e) => {
            if pool
                .as_rational(e)
                .is_some_and(|r| r.is_zero() || r.is_one())
            {
                return fail("power with exponent 0 or 1");
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
        assert_eq!(verify(&p, s), Ok(()));
        let raw = p.intern(Node::Add(vec![y, x].into_boxed_slice()));
        let errs = verify(&p, raw).unwrap_err();
        assert_eq!(errs[0].what, "sum not sorted");
        assert_eq!(errs[0].printed, "y + x");
        let raw2 = p.intern(Node::Add(vec![x, x].into_boxed_slice()));
        assert_eq!(
            verify(&p, raw2).unwrap_err()[0].what,
            "like terms not collected"
        );
        // Every violation is reported, not only the first.
        let both = p.intern(Node::Mul(vec![raw, raw2].into_boxed_slice()));
        let all: Vec<&str> = verify(&p, both)
            .unwrap_err()
            .iter()
            .map(|v| v.what)
            .collect();
        assert_eq!(
            all.len(),
            2 + usize::from(all.contains(&"product not sorted"))
        );
        assert!(all.contains(&"sum not sorted") && all.contains(&"like terms not collected"));
    }
}
