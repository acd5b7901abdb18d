//! Concrete stand-ins for unspecified functions: a generic process checked on instances.

use crate::expr::fxhash::HashMap;

use super::pool::{ExprId, Func, Node, Pool, Symbol};
use super::subst::subst1;

/// A concrete function standing in for an unspecified one: `name(u) = body`.
#[derive(Clone, Copy, Debug)]
pub struct Instance {
    pub name: Symbol,
    pub arg: Symbol,
    pub body: ExprId,
}

/// `e` with every unspecified function of `instances` replaced by its instance, its
/// derivatives by the instance's derivatives and its primitive by the instance's integral
/// from 0; `None` where that integral has no closed form.
pub fn instantiate(pool: &mut Pool, e: ExprId, instances: &[Instance]) -> Option<ExprId> {
    let mut forms: HashMap<(Symbol, i32), ExprId> = HashMap::default();
    let mut memo: HashMap<ExprId, ExprId> = HashMap::default();
    // Post-order without recursion: children before parents.
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
        let new_kids: Vec<ExprId> = kids.iter().map(|k| memo[k]).collect();
        let v = match *pool.node(x) {
            Node::Call(Func::Generic(g), _) => match instances.iter().find(|i| i.name == g.name) {
                Some(inst) => {
                    let form = match forms.get(&(g.name, g.order)) {
                        Some(&f) => f,
                        None => {
                            let f = instance_form(pool, inst, g.order)?;
                            forms.insert((g.name, g.order), f);
                            f
                        }
                    };
                    subst1(pool, form, inst.arg, new_kids[0])
                }
                None => pool.rebuild(x, &new_kids),
            },
            Node::Sym(_) | Node::Rational(_) | Node::Const(_) => x,
            _ => pool.rebuild(x, &new_kids),
        };
        memo.insert(x, v);
    }
    Some(super::verify::checked(pool, memo[&e], "instantiate"))
}

/// The instance's derivative of `order` (its integral from 0 for order -1), in its argument.
fn instance_form(pool: &mut Pool, inst: &Instance, order: i32) -> Option<ExprId> {
    if order < 0 {
        let s = pool.fresh_symbol("s");
        let se = pool.sym_expr(s);
        let integrand = subst1(pool, inst.body, inst.arg, se);
        let zero = pool.zero();
        let u = pool.sym_expr(inst.arg);
        return super::integrate::integrate(pool, integrand, s, zero, u).ok();
    }
    let mut f = inst.body;
    for _ in 0..order {
        f = super::diff::diff(pool, f, inst.arg);
    }
    Some(f)
}
