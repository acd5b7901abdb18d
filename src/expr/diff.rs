//! Symbolic differentiation of every builtin, by the chain rule.

use crate::expr::fxhash::HashMap;

use super::pool::{ExprId, Func, Node, Pool, Symbol};

/// `d e / d x`, in canonical form (not simplified beyond that).
pub fn diff(pool: &mut Pool, e: ExprId, x: Symbol) -> ExprId {
    let mut memo = HashMap::default();
    let d = go(pool, e, x, &mut memo);
    super::verify::checked(pool, d, "diff")
}

fn go(pool: &mut Pool, e: ExprId, x: Symbol, memo: &mut HashMap<ExprId, ExprId>) -> ExprId {
    if let Some(&d) = memo.get(&e) {
        return d;
    }
    if !pool.contains(e, x) {
        return pool.zero();
    }
    let d = match pool.node(e).clone() {
        Node::Rational(_) | Node::Const(_) => pool.zero(),
        Node::Sym(s) => {
            if s == x {
                pool.one()
            } else {
                pool.zero()
            }
        }
        Node::Add(terms) => {
            let ds: Vec<ExprId> = terms.iter().map(|&t| go(pool, t, x, memo)).collect();
            pool.add(ds)
        }
        Node::Mul(fs) => {
            // Product rule: sum over i of f_i' * prod_{j != i} f_j.
            let mut terms = Vec::with_capacity(fs.len());
            for i in 0..fs.len() {
                let di = go(pool, fs[i], x, memo);
                if di == pool.zero() {
                    continue;
                }
                let mut factors: Vec<ExprId> = Vec::with_capacity(fs.len());
                factors.extend(fs[..i].iter().copied());
                factors.push(di);
                factors.extend(fs[i + 1..].iter().copied());
                terms.push(pool.mul(factors));
            }
            pool.add(terms)
        }
        Node::Pow(b, p) => {
            let db = go(pool, b, x, memo);
            if pool.contains(p, x) {
                // d(b^p) = b^p (p' log b + p b'/b)
                let dp = go(pool, p, x, memo);
                let lb = pool.call(Func::Log, b);
                let t1 = pool.mul(vec![dp, lb]);
                let q = pool.div(db, b);
                let t2 = pool.mul(vec![p, q]);
                let s = pool.add(vec![t1, t2]);
                pool.mul(vec![e, s])
            } else {
                // d(b^p) = p b^(p-1) b'
                let m1 = pool.int(-1);
                let pm1 = pool.add(vec![p, m1]);
                let bp = pool.pow(b, pm1);
                pool.mul(vec![p, bp, db])
            }
        }
        Node::Call(f, a) => {
            let da = go(pool, a, x, memo);
            let outer = derivative_of(pool, f, a, e);
            pool.mul(vec![outer, da])
        }
    };
    memo.insert(e, d);
    d
}

/// `f'(a)`, given `fa = f(a)` (reused where the derivative mentions it).
pub fn derivative_of(pool: &mut Pool, f: Func, a: ExprId, fa: ExprId) -> ExprId {
    let one = pool.one();
    match f {
        Func::Exp => fa,
        Func::Log => pool.recip(a),
        Func::Sin => pool.call(Func::Cos, a),
        Func::Cos => {
            let s = pool.call(Func::Sin, a);
            pool.neg(s)
        }
        // tan' = 1 + tan^2
        Func::Tan => {
            let t2 = pool.powi(fa, 2);
            pool.add(vec![one, t2])
        }
        // asin' = (1 - a^2)^(-1/2), acos' = -(1 - a^2)^(-1/2)
        Func::Asin | Func::Acos => {
            let a2 = pool.powi(a, 2);
            let r = pool.sub(one, a2);
            let mh = pool.frac(-1, 2);
            let d = pool.pow(r, mh);
            if f == Func::Asin { d } else { pool.neg(d) }
        }
        // atan' = 1/(1 + a^2)
        Func::Atan => {
            let a2 = pool.powi(a, 2);
            let s = pool.add(vec![one, a2]);
            pool.recip(s)
        }
        Func::Sinh => pool.call(Func::Cosh, a),
        Func::Cosh => pool.call(Func::Sinh, a),
        // tanh' = 1 - tanh^2
        Func::Tanh => {
            let t2 = pool.powi(fa, 2);
            pool.sub(one, t2)
        }
        // sigmoid' = sigmoid (1 - sigmoid)
        Func::Sigmoid => {
            let r = pool.sub(one, fa);
            pool.mul(vec![fa, r])
        }
        Func::Expm1 => pool.call(Func::Exp, a),
        // log1p' = 1/(1 + a)
        Func::Log1p => {
            let s = pool.add(vec![one, a]);
            pool.recip(s)
        }
        // |a|' = a/|a| (undefined at 0, like the function's derivative)
        Func::Abs => pool.div(a, fa),
        Func::Generic(g) => pool.call(
            Func::Generic(crate::expr::pool::Generic {
                order: g.order + 1,
                ..g
            }),
            a,
        ),
        // The fundamental theorem: d/du int_c^u f(s) ds = f(u).
        Func::Integral(i) => {
            let body = pool.integral(i).body;
            let bound = pool.symbol(crate::expr::pool::BOUND);
            super::subst::subst1(pool, body, bound, a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_derivative() {
        let mut p = Pool::new();
        let t = p.var("t");
        let s = p.symbol("t");
        let t3 = p.powi(t, 3);
        let d = diff(&mut p, t3, s);
        let t2 = p.powi(t, 2);
        let three = p.int(3);
        assert_eq!(d, p.mul(vec![three, t2]));
    }

    #[test]
    fn chain_rule_through_exp() {
        let mut p = Pool::new();
        let t = p.var("t");
        let s = p.symbol("t");
        let t2 = p.powi(t, 2);
        let e = p.call(Func::Exp, t2);
        let d = diff(&mut p, e, s);
        let two = p.int(2);
        assert_eq!(d, p.mul(vec![two, t, e]));
    }
}
