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

/// Rebuilds `e` bottom-up without recursion (input can nest deeply): `f(pool, x, kids)`
/// gives the image of node `x` from the images of its children (none for a leaf), each
/// distinct node once; `None` from `f` ends the walk with `None`.
pub(crate) fn try_bottom_up(
    pool: &mut Pool,
    e: ExprId,
    mut f: impl FnMut(&mut Pool, ExprId, &[ExprId]) -> Option<ExprId>,
) -> Option<ExprId> {
    let mut memo: HashMap<ExprId, ExprId> = HashMap::default();
    let mut stack = vec![(e, false)];
    while let Some((x, expanded)) = stack.pop() {
        if memo.contains_key(&x) {
            continue;
        }
        let kids = pool.children(x);
        if !expanded && !kids.is_empty() {
            stack.push((x, true));
            stack.extend(kids.into_iter().map(|k| (k, false)));
            continue;
        }
        let images: Vec<ExprId> = kids.iter().map(|k| memo[k]).collect();
        let v = f(pool, x, &images)?;
        memo.insert(x, v);
    }
    Some(memo[&e])
}

/// [`try_bottom_up`] with an `f` that always gives an image.
pub(crate) fn bottom_up(
    pool: &mut Pool,
    e: ExprId,
    mut f: impl FnMut(&mut Pool, ExprId, &[ExprId]) -> ExprId,
) -> ExprId {
    try_bottom_up(pool, e, |pool, x, kids| Some(f(pool, x, kids))).expect("an image for every node")
}

/// The node `x` over the children `kids` (itself for a leaf).
pub(crate) fn rebuilt(pool: &mut Pool, x: ExprId, kids: &[ExprId]) -> ExprId {
    if kids.is_empty() {
        x
    } else {
        pool.rebuild(x, kids)
    }
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
