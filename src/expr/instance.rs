//! Concrete stand-ins for unspecified functions: a generic process checked on instances.

use crate::expr::fxhash::HashMap;

use super::pool::{ExprId, Func, Node, Pool, Symbol};
use super::subst::{rebuilt, subst1, try_bottom_up};

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
    let v = try_bottom_up(pool, e, |pool, x, kids| {
        let Node::Call(Func::Generic(g), _) = *pool.node(x) else {
            return Some(rebuilt(pool, x, kids));
        };
        let Some(inst) = instances.iter().find(|i| i.name == g.name) else {
            return Some(rebuilt(pool, x, kids));
        };
        let form = match forms.get(&(g.name, g.order)) {
            Some(&f) => f,
            None => {
                let f = instance_form(pool, inst, g.order)?;
                forms.insert((g.name, g.order), f);
                f
            }
        };
        Some(subst1(pool, form, inst.arg, kids[0]))
    })?;
    Some(super::verify::checked(pool, v, "instantiate"))
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
