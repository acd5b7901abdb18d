//! Substitution: replace symbols by expressions, rebuilding through canonical constructors.

use crate::expr::fxhash::HashMap;

use super::pool::{ExprId, Node, Pool, Symbol};

/// `e` with every symbol in `map` replaced by its image (simultaneously).
pub fn subst(pool: &mut Pool, e: ExprId, map: &[(Symbol, ExprId)]) -> ExprId {
    if map.is_empty() {
        return e;
    }
    let mut memo = HashMap::default();
    let v = go(pool, e, map, &mut memo);
    super::verify::checked(pool, v, "subst")
}

/// `e` with the single symbol `s` replaced by `by`.
pub fn subst1(pool: &mut Pool, e: ExprId, s: Symbol, by: ExprId) -> ExprId {
    subst(pool, e, &[(s, by)])
}

fn go(
    pool: &mut Pool,
    e: ExprId,
    map: &[(Symbol, ExprId)],
    memo: &mut HashMap<ExprId, ExprId>,
) -> ExprId {
    if let Some(&v) = memo.get(&e) {
        return v;
    }
    let v = match pool.node(e) {
        Node::Sym(s) => map.iter().find(|(k, _)| k == s).map_or(e, |&(_, v)| v),
        Node::Rational(_) | Node::Const(_) => e,
        _ => {
            let kids: Vec<ExprId> = pool
                .children(e)
                .into_iter()
                .map(|c| go(pool, c, map, memo))
                .collect();
            pool.rebuild(e, &kids)
        }
    };
    memo.insert(e, v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_recanonicalises() {
        let mut p = Pool::new();
        let x = p.var("x");
        let y = p.var("y");
        let sx = p.symbol("x");
        let e = p.sub(x, y);
        let r = subst1(&mut p, e, sx, y);
        assert_eq!(r, p.zero());
    }
}
