//! A small mixture's marginal in closed form, symbolic in x and t: log p, the score, the
//! Hessian of log p, the probability-flow velocity and its Jacobian, for every process at
//! once (alpha and sigma left unspecified) or for one (`derive --source`).
//!
//! Each component's marginal covariance S_k = alpha^2 C_k + sigma^2 I is inverted entry by
//! entry where C_k is diagonal, else through its adjugate and determinant (d <= 3), so the
//! forms are rational in alpha and sigma and exponential in the quadratic forms. The score is the responsibility-weighted mean of the
//! component scores; the Hessian is its exact derivative.

use num_rational::BigRational;

use crate::expr::pool::Generic;
use crate::expr::{Domain, ExprId, Func, Pool, Symbol, diff, simplify};

use super::exact::simplest_rational;
use super::mixture::{Covariance, Mixture};

/// The largest dimension written symbolically (the adjugate of a 3 x 3 matrix).
pub const MAX_DIMENSION: usize = 3;
/// The most components written symbolically: the Hessian of K components has K^2 terms.
pub const MAX_COMPONENTS: usize = 4;
/// The largest K d: the Hessian's size grows with both (measured: K = 3 in d = 3 takes
/// 5.7 s and prints 230,000 characters, K = 2 in d = 3 about 1 s, K = 4 in d = 2 0.5 s).
pub const MAX_SIZE: usize = 8;

/// Why a mixture has no symbolic form here.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SymbolicError {
    #[error(
        "mixture `{name}` has {what} {value}: closed forms are written for at most {limit} (`emit --source` and the numeric commands take larger mixtures)"
    )]
    TooLarge {
        name: String,
        what: &'static str,
        value: usize,
        limit: usize,
    },
    #[error("mixture `{name}`: the value {value:e} has no short exact form")]
    Inexact { name: String, value: f64 },
}

/// The closed forms of a mixture's marginal, in `xs` and t.
pub struct ClosedForms {
    /// `x1 ... xd`.
    pub xs: Vec<Symbol>,
    pub log_density: ExprId,
    pub score: Vec<ExprId>,
    /// Rows of the Hessian of log p (symmetric).
    pub hessian: Vec<Vec<ExprId>>,
    /// `f x - (g2/2) grad log p`.
    pub velocity: Vec<ExprId>,
    /// `f I - (g2/2) Hess log p`.
    pub jacobian: Vec<Vec<ExprId>>,
}

/// The unspecified `alpha(t)` and `sigma(t)` (positive), as a generic process has them.
pub fn generic_schedule(pool: &mut Pool) -> (ExprId, ExprId) {
    let t = pool.symbol("t");
    let te = pool.sym_expr(t);
    let call = |pool: &mut Pool, name: &str| {
        let s = pool.symbol(name);
        pool.set_domain(
            s,
            Domain {
                lo: f64::MIN_POSITIVE,
                hi: f64::INFINITY,
            },
        );
        pool.call(Func::Generic(Generic { name: s, order: 0 }), te)
    };
    (call(pool, "alpha"), call(pool, "sigma"))
}

/// The closed forms of `m` under the schedule `alpha(t)`, `sigma(t)` (expressions in t).
pub fn closed_forms(
    pool: &mut Pool,
    m: &Mixture,
    alpha: ExprId,
    sigma: ExprId,
) -> Result<ClosedForms, SymbolicError> {
    let (d, k) = (m.dimension, m.components.len());
    let too_large = |what, value, limit| SymbolicError::TooLarge {
        name: m.name.clone(),
        what,
        value,
        limit,
    };
    if d > MAX_DIMENSION {
        return Err(too_large("dimension", d, MAX_DIMENSION));
    }
    if k > MAX_COMPONENTS {
        return Err(too_large("K =", k, MAX_COMPONENTS));
    }
    if k * d > MAX_SIZE {
        return Err(too_large("K d =", k * d, MAX_SIZE));
    }
    let exact = |pool: &mut Pool, v: f64| -> Result<ExprId, SymbolicError> {
        simplest_rational(v)
            .map(|r| pool.rational(r))
            .ok_or_else(|| SymbolicError::Inexact {
                name: m.name.clone(),
                value: v,
            })
    };
    let t = pool.symbol("t");
    let xs: Vec<Symbol> = (1..=d).map(|i| pool.symbol(&format!("x{i}"))).collect();
    let x: Vec<ExprId> = xs.iter().map(|&s| pool.sym_expr(s)).collect();
    let a2 = pool.powi(alpha, 2);
    let s2 = pool.powi(sigma, 2);
    // Per component: its unnormalised posterior weight and score.
    let mut weights = Vec::with_capacity(k);
    let mut scores = Vec::with_capacity(k);
    for (c, &pi) in m.components.iter().zip(&m.weights) {
        let cov = covariance(c, d);
        let mut s = vec![vec![pool.int(0); d]; d];
        for i in 0..d {
            for j in 0..d {
                let cij = exact(pool, cov[i][j])?;
                let mut e = pool.mul2(a2, cij);
                if i == j {
                    e = pool.add(vec![e, s2]);
                }
                s[i][j] = e;
            }
        }
        let mut w = Vec::with_capacity(d);
        for (&xi, &mean) in x.iter().zip(c.mean.iter()) {
            let mi = exact(pool, mean)?;
            let am = pool.mul2(alpha, mi);
            w.push(pool.sub(xi, am));
        }
        let diagonal = (0..d).all(|i| (0..d).all(|j| i == j || cov[i][j] == 0.0));
        let (det, solved): (ExprId, Vec<ExprId>) = if diagonal {
            // S^-1 w entry by entry, det S the product of the diagonal: no common factor
            // for the simplifier to find.
            let diag: Vec<ExprId> = (0..d).map(|i| s[i][i]).collect();
            let solved = (0..d).map(|i| pool.div(w[i], diag[i])).collect();
            (pool.mul(diag), solved)
        } else {
            // S^-1 w = adj(S) w / det(S).
            let det = determinant(pool, &s);
            let adj = adjugate(pool, &s);
            let solved = (0..d)
                .map(|i| {
                    let terms: Vec<ExprId> = (0..d).map(|j| pool.mul2(adj[i][j], w[j])).collect();
                    let sum = pool.add(terms);
                    pool.div(sum, det)
                })
                .collect();
            (det, solved)
        };
        let quad_terms: Vec<ExprId> = (0..d).map(|i| pool.mul2(w[i], solved[i])).collect();
        let quad = pool.add(quad_terms);
        let half = pool.frac(-1, 2);
        let exponent = pool.mul2(half, quad);
        let density = pool.call(Func::Exp, exponent);
        let root = pool.pow_rational(det, BigRational::new((-1).into(), 2.into()));
        let weight = exact(pool, pi)?;
        weights.push(pool.mul(vec![weight, root, density]));
        scores.push(solved.iter().map(|&v| pool.neg(v)).collect::<Vec<_>>());
    }
    let total = pool.add(weights.clone());
    let log_total = pool.call(Func::Log, total);
    let two_pi = {
        let two = pool.int(2);
        let pi = pool.pi();
        pool.mul2(two, pi)
    };
    let log_two_pi = pool.call(Func::Log, two_pi);
    let shift = pool.frac(-(d as i64), 2);
    let shift = pool.mul2(shift, log_two_pi);
    let log_density = pool.add(vec![log_total, shift]);
    let score: Vec<ExprId> = (0..d)
        .map(|i| {
            if k == 1 {
                return scores[0][i];
            }
            let terms: Vec<ExprId> = weights
                .iter()
                .zip(&scores)
                .map(|(&w, s)| pool.mul2(w, s[i]))
                .collect();
            let sum = pool.add(terms);
            pool.div(sum, total)
        })
        .collect();
    let hessian: Vec<Vec<ExprId>> = (0..d)
        .map(|i| (0..d).map(|j| diff::diff(pool, score[i], xs[j])).collect())
        .collect();
    // f = alpha'/alpha, g2/2 = sigma sigma' - sigma^2 alpha'/alpha.
    let da = diff::diff(pool, alpha, t);
    let ds = diff::diff(pool, sigma, t);
    let f = pool.div(da, alpha);
    let s_ds = pool.mul2(sigma, ds);
    let s2_f = pool.mul2(s2, f);
    let half_g2 = pool.sub(s_ds, s2_f);
    let velocity: Vec<ExprId> = (0..d)
        .map(|i| {
            let fx = pool.mul2(f, x[i]);
            let g = pool.mul2(half_g2, score[i]);
            pool.sub(fx, g)
        })
        .collect();
    let jacobian: Vec<Vec<ExprId>> = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    let g = pool.mul2(half_g2, hessian[i][j]);
                    let g = pool.neg(g);
                    if i == j { pool.add(vec![f, g]) } else { g }
                })
                .collect()
        })
        .collect();
    let mut simple = |e: ExprId| simplify::simplify(pool, e);
    Ok(ClosedForms {
        xs,
        log_density: simple(log_density),
        score: score.into_iter().map(&mut simple).collect(),
        hessian: hessian
            .into_iter()
            .map(|r| r.into_iter().map(&mut simple).collect())
            .collect(),
        velocity: velocity.into_iter().map(&mut simple).collect(),
        jacobian: jacobian
            .into_iter()
            .map(|r| r.into_iter().map(&mut simple).collect())
            .collect(),
    })
}

/// A component's covariance as a matrix: as declared where it was, else from its
/// eigenbasis.
fn covariance(c: &super::mixture::Component, d: usize) -> Vec<Vec<f64>> {
    match (&c.declared, &c.cov) {
        (Some(s), _) => (0..d)
            .map(|i| (0..d).map(|j| s[(i, j)]).collect())
            .collect(),
        (None, Covariance::Isotropic(v)) => (0..d)
            .map(|i| (0..d).map(|j| if i == j { *v } else { 0.0 }).collect())
            .collect(),
        (None, Covariance::Eigen { values, basis }) => {
            let s = basis
                * nalgebra::DMatrix::from_diagonal(&values.clone().into())
                * basis.transpose();
            (0..d)
                .map(|i| (0..d).map(|j| s[(i, j)]).collect())
                .collect()
        }
    }
}

/// The determinant of a matrix of at most 3 rows, by cofactors.
fn determinant(pool: &mut Pool, s: &[Vec<ExprId>]) -> ExprId {
    match s.len() {
        1 => s[0][0],
        _ => {
            let terms: Vec<ExprId> = (0..s.len())
                .map(|j| {
                    let minor = minor(s, 0, j);
                    let det = determinant(pool, &minor);
                    let term = pool.mul2(s[0][j], det);
                    if j % 2 == 1 { pool.neg(term) } else { term }
                })
                .collect();
            pool.add(terms)
        }
    }
}

/// `s` without row `r` and column `c`.
fn minor(s: &[Vec<ExprId>], r: usize, c: usize) -> Vec<Vec<ExprId>> {
    s.iter()
        .enumerate()
        .filter(|&(i, _)| i != r)
        .map(|(_, row)| {
            row.iter()
                .enumerate()
                .filter(|&(j, _)| j != c)
                .map(|(_, &v)| v)
                .collect()
        })
        .collect()
}

/// The adjugate: `adj(S)[i][j] = (-1)^(i+j) det(minor(S, j, i))`.
fn adjugate(pool: &mut Pool, s: &[Vec<ExprId>]) -> Vec<Vec<ExprId>> {
    let d = s.len();
    if d == 1 {
        return vec![vec![pool.int(1)]];
    }
    (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    let m = minor(s, j, i);
                    let det = determinant(pool, &m);
                    if (i + j) % 2 == 1 { pool.neg(det) } else { det }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Covariances;
    use crate::expr::eval::eval_f64;

    /// alpha = exp(-5 t), sigma = sqrt(1 - exp(-10 t)) (the OU process with beta = 5).
    fn ou(pool: &mut Pool) -> (ExprId, ExprId) {
        let t = pool.symbol("t");
        let te = pool.sym_expr(t);
        let m5 = pool.int(-5);
        let arg = pool.mul2(m5, te);
        let alpha = pool.call(Func::Exp, arg);
        let a2 = pool.powi(alpha, 2);
        let one = pool.int(1);
        let s2 = pool.sub(one, a2);
        (alpha, pool.sqrt(s2))
    }

    fn value(pool: &Pool, e: ExprId, t: f64, x: &[f64], xs: &[Symbol]) -> f64 {
        let mut env = vec![(pool.lookup_symbol("t").expect("t"), t)];
        env.extend(xs.iter().copied().zip(x.iter().copied()));
        eval_f64(pool, e, &env).expect("finite")
    }

    fn close(got: f64, want: f64, tol: f64) {
        assert!(
            (got - want).abs() <= tol * want.abs().max(1.0),
            "{got} against {want}"
        );
    }

    #[test]
    fn closed_forms_agree_with_the_numeric_marginal() {
        // The symbolic forms (an adjugate, exact derivatives) against `Marginal`
        // (responsibilities by log-sum-exp in each eigenbasis, the Hessian as a covariance
        // of component scores): two independent computations.
        let m = crate::analysis::mixture::three_components();
        let mut pool = Pool::new();
        let (alpha, sigma) = ou(&mut pool);
        let c = closed_forms(&mut pool, &m, alpha, sigma).expect("small");
        for &(t, x) in &[
            (0.05f64, [0.3, 0.9]),
            (0.3, [-1.0, 2.0]),
            (0.8, [0.1, -0.4]),
        ] {
            let a = (-5.0 * t).exp();
            let s = (-(-10.0 * t).exp_m1()).sqrt();
            // f = alpha'/alpha = -5, g2 = 2 (sigma sigma' - sigma^2 f) = 10.
            let (f, g2) = (-5.0, 10.0);
            let marginal = m.marginal(a, s);
            let score = marginal.score(&x);
            let hessian = marginal.hessian(&x);
            let velocity = marginal.pf_velocity(&x, f, g2);
            let jacobian = marginal.pf_jacobian(&x, f, g2);
            close(
                value(&pool, c.log_density, t, &x, &c.xs),
                marginal.log_density(&x),
                1e-13,
            );
            for i in 0..2 {
                close(value(&pool, c.score[i], t, &x, &c.xs), score[i], 1e-12);
                close(
                    value(&pool, c.velocity[i], t, &x, &c.xs),
                    velocity[i],
                    1e-12,
                );
                for j in 0..2 {
                    close(
                        value(&pool, c.hessian[i][j], t, &x, &c.xs),
                        hessian[(i, j)],
                        1e-11,
                    );
                    close(
                        value(&pool, c.jacobian[i][j], t, &x, &c.xs),
                        jacobian[(i, j)],
                        1e-11,
                    );
                }
            }
        }
    }

    #[test]
    fn two_symmetric_modes_give_the_tanh_score() {
        // (-x + a mu tanh(a mu x/s^2))/s^2 with s^2 = a^2 v + sigma^2.
        let (mu, v) = (1.5, 0.2);
        let m = Mixture::new(
            "M",
            vec![0.5, 0.5],
            vec![vec![-mu], vec![mu]],
            Covariances::Shared(v),
        )
        .expect("valid");
        let mut pool = Pool::new();
        let (alpha, sigma) = ou(&mut pool);
        let c = closed_forms(&mut pool, &m, alpha, sigma).expect("small");
        for &(t, x) in &[(0.01f64, 0.7), (0.2, -2.0), (0.9, 1.4)] {
            let a = (-5.0 * t).exp();
            let s2 = a * a * v - (-10.0 * t).exp_m1();
            let want = (-x + a * mu * (a * mu * x / s2).tanh()) / s2;
            close(value(&pool, c.score[0], t, &[x], &c.xs), want, 1e-13);
        }
    }

    #[test]
    fn large_mixtures_have_no_closed_form_here() {
        let m = Mixture::new("B", vec![1.0], vec![vec![0.0; 4]], Covariances::Shared(1.0))
            .expect("valid");
        let mut pool = Pool::new();
        let (a, s) = generic_schedule(&mut pool);
        assert!(matches!(
            closed_forms(&mut pool, &m, a, s),
            Err(SymbolicError::TooLarge { value: 4, .. })
        ));
    }
}
