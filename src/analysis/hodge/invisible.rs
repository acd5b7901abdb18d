//! The symbolic proof that a p-solenoidal linear score error is invisible: the covariance
//! dynamics of the probability-flow ODE and of the reverse SDE do not see it.
//!
//! Along a process, the marginal of a Gaussian source is N(alpha m, Sigma_t) with
//! Sigma_t = alpha^2 Sigma_0 + sigma^2 I. A learned score `-Sigma_t^{-1} (x - mu) + K (x - mu)`
//! makes both samplers linear, so their laws stay Gaussian and are fixed by the mean and
//! covariance ODEs. The proof checks, with the machinery of `diffsym check` (simplification,
//! then the normal form of `expr::zero`):
//!
//! 1. the marginal covariance solves the true ODE `dSigma/dt = 2 f Sigma + g2 I` (for this
//!    process, entry by entry, with Sigma_0 symbolic);
//! 2. with the true score, both samplers' covariance ODEs have that right-hand side;
//! 3. a linear error K changes it by `-(g2/2)(K Sigma + Sigma K^T)` (PF-ODE) and
//!    `-g2 (K Sigma + Sigma K^T)` (reverse SDE), for every K;
//! 4. for `K = Omega Sigma^{-1}` with Omega antisymmetric the change is zero;
//! 5. and such a K is p-solenoidal: `div(p K (x - mu)) = 0` for all x.
//!
//! The mean is untouched because a linear error has mean zero under p. So the marginals
//! of the learned samplers are the true ones for all t exactly when `K Sigma_t` is
//! antisymmetric for all t (where g2 > 0), that is when the error is p_t-solenoidal.
//!
//! Steps 2 to 5 are matrix identities in a symbolic symmetric Sigma and antisymmetric
//! Omega, proved entry by entry in a fixed dimension (the inverse through the adjugate).

use crate::expr::{ExprId, Pool, Symbol, diff};
use crate::process::checks::{self, Verdict};
use crate::process::{Process, time_symbol};

/// The largest dimension the matrix identities are proved in: the adjugate of a symbolic
/// 3 by 3 matrix keeps the proof in milliseconds.
pub const MAX_PROOF_DIMENSION: usize = 3;

/// One identity of the proof and how it fared.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What is shown, in words and formulas.
    pub statement: String,
    pub verdict: Verdict,
}

/// The steps of the proof, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Proof {
    /// The dimension the matrix identities were proved in.
    pub dimension: usize,
    pub steps: Vec<Step>,
}

impl Proof {
    /// Whether every step was proved symbolically.
    pub fn proved(&self) -> bool {
        self.steps.iter().all(|s| s.verdict == Verdict::Proved)
    }
}

/// A square matrix of expressions.
type Matrix = Vec<Vec<ExprId>>;

/// A d by d matrix of fresh symbols `{name}{i}{j}` of the given shape, with its symbols.
fn symbols(pool: &mut Pool, d: usize, name: &str, shape: Shape) -> (Matrix, Vec<Symbol>) {
    let mut syms = Vec::new();
    let mut entry = |pool: &mut Pool, i: usize, j: usize| {
        let s = pool.symbol(&format!("{name}{}{}", i + 1, j + 1));
        syms.push(s);
        pool.sym_expr(s)
    };
    let m = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| match shape {
                    Shape::General => entry(pool, i, j),
                    Shape::Symmetric => entry(pool, i.min(j), i.max(j)),
                    Shape::Antisymmetric if i == j => pool.zero(),
                    Shape::Antisymmetric if i < j => entry(pool, i, j),
                    Shape::Antisymmetric => {
                        let e = entry(pool, j, i);
                        pool.neg(e)
                    }
                })
                .collect()
        })
        .collect();
    syms.sort();
    syms.dedup();
    (m, syms)
}

#[derive(Clone, Copy)]
enum Shape {
    General,
    Symmetric,
    Antisymmetric,
}

fn mul(pool: &mut Pool, a: &Matrix, b: &Matrix) -> Matrix {
    let d = a.len();
    (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    let terms = (0..d).map(|k| pool.mul(vec![a[i][k], b[k][j]])).collect();
                    pool.add(terms)
                })
                .collect()
        })
        .collect()
}

fn transpose(a: &Matrix) -> Matrix {
    let d = a.len();
    (0..d).map(|i| (0..d).map(|j| a[j][i]).collect()).collect()
}

fn combine(
    pool: &mut Pool,
    a: &Matrix,
    b: &Matrix,
    f: impl Fn(&mut Pool, ExprId, ExprId) -> ExprId,
) -> Matrix {
    let d = a.len();
    (0..d)
        .map(|i| (0..d).map(|j| f(pool, a[i][j], b[i][j])).collect())
        .collect()
}

fn scaled(pool: &mut Pool, c: ExprId, a: &Matrix) -> Matrix {
    a.iter()
        .map(|r| r.iter().map(|&x| pool.mul(vec![c, x])).collect())
        .collect()
}

fn identity(pool: &mut Pool, d: usize, c: ExprId) -> Matrix {
    (0..d)
        .map(|i| {
            (0..d)
                .map(|j| if i == j { c } else { pool.zero() })
                .collect()
        })
        .collect()
}

/// `M Sigma + Sigma M^T`.
fn lyapunov(pool: &mut Pool, m: &Matrix, sigma: &Matrix) -> Matrix {
    let ms = mul(pool, m, sigma);
    let sm = mul(pool, sigma, &transpose(m));
    combine(pool, &ms, &sm, |p, a, b| p.add2(a, b))
}

/// The inverse of a symbolic matrix of dimension 1 to 3, through the adjugate.
fn inverse(pool: &mut Pool, a: &Matrix) -> Matrix {
    let d = a.len();
    let minor = |pool: &mut Pool, rows: [usize; 2], cols: [usize; 2]| {
        let p = pool.mul(vec![a[rows[0]][cols[0]], a[rows[1]][cols[1]]]);
        let q = pool.mul(vec![a[rows[0]][cols[1]], a[rows[1]][cols[0]]]);
        pool.sub(p, q)
    };
    let adjugate: Matrix = match d {
        1 => vec![vec![pool.one()]],
        2 => {
            let (n01, n10) = (pool.neg(a[0][1]), pool.neg(a[1][0]));
            vec![vec![a[1][1], n01], vec![n10, a[0][0]]]
        }
        3 => (0..3)
            .map(|i| {
                (0..3)
                    .map(|j| {
                        // adj_ij = (-1)^(i+j) M_ji, M_ji the minor without row j, column i.
                        let rows: Vec<usize> = (0..3).filter(|&r| r != j).collect();
                        let cols: Vec<usize> = (0..3).filter(|&c| c != i).collect();
                        let m = minor(pool, [rows[0], rows[1]], [cols[0], cols[1]]);
                        if (i + j) % 2 == 0 { m } else { pool.neg(m) }
                    })
                    .collect()
            })
            .collect(),
        _ => unreachable!("the proof runs in dimension at most {MAX_PROOF_DIMENSION}"),
    };
    let det_terms: Vec<ExprId> = (0..d)
        .map(|k| pool.mul(vec![a[0][k], adjugate[k][0]]))
        .collect();
    let det = pool.add(det_terms);
    let inv_det = pool.recip(det);
    scaled(pool, inv_det, &adjugate)
}

/// Proves the invisibility of solenoidal linear errors along `process`, with the matrix
/// identities in dimension `min(dimension, MAX_PROOF_DIMENSION)`.
pub fn prove(pool: &mut Pool, process: &Process, dimension: usize) -> Proof {
    let d = dimension.clamp(1, MAX_PROOF_DIMENSION);
    let mut steps = Vec::new();
    let t = time_symbol(pool);
    // 1. The marginal covariance along the process, entry by entry: a diagonal entry
    // alpha^2 c + sigma^2, an off-diagonal one alpha^2 c, for a symbolic entry c of Sigma_0.
    if let (Some(alpha), Some(sigma), Some(f), Some(g2)) = (
        process.quantity("alpha"),
        process.quantity("sigma"),
        process.quantity("f"),
        process.quantity("g2"),
    ) {
        let cs = pool.symbol("c");
        let c = pool.sym_expr(cs);
        let a2 = pool.powi(alpha, 2);
        let s2 = pool.powi(sigma, 2);
        let a2c = pool.mul(vec![a2, c]);
        let two = pool.int(2);
        for (diagonal, statement) in [
            (
                true,
                "marginal: d/dt (alpha^2 c + sigma^2) == 2 f (alpha^2 c + sigma^2) + g2, a diagonal entry of dSigma_t/dt = 2 f Sigma_t + g2 I",
            ),
            (
                false,
                "marginal: d/dt (alpha^2 c) == 2 f alpha^2 c, an off-diagonal entry of dSigma_t/dt = 2 f Sigma_t + g2 I",
            ),
        ] {
            let entry = if diagonal { pool.add2(a2c, s2) } else { a2c };
            let lhs = diff::diff(pool, entry, t);
            let two_f_entry = pool.mul(vec![two, f, entry]);
            let rhs = if diagonal {
                pool.add2(two_f_entry, g2)
            } else {
                two_f_entry
            };
            let verdict = checks::identity_at(pool, lhs, rhs, &[(cs, 0.7)]);
            steps.push(Step {
                statement: format!("{statement} (process `{}`)", process.name),
                verdict,
            });
        }
    }
    // 2-5. Matrix identities in symbolic Sigma (symmetric), Omega (antisymmetric), K
    // (general), f, g2 and x, m.
    let (sigma, sigma_syms) = symbols(pool, d, "s", Shape::Symmetric);
    let (omega, omega_syms) = symbols(pool, d, "w", Shape::Antisymmetric);
    let (k, k_syms) = symbols(pool, d, "k", Shape::General);
    let (fs, gs) = (pool.symbol("f"), pool.symbol("g2"));
    let (f, g2) = (pool.sym_expr(fs), pool.sym_expr(gs));
    let half = pool.frac(1, 2);
    let half_g2 = pool.mul(vec![half, g2]);
    let neg_half_g2 = pool.neg(half_g2);
    let neg_g2 = pool.neg(g2);
    let inv = inverse(pool, &sigma);
    let f_id = identity(pool, d, f);
    let g2_id = identity(pool, d, g2);
    let two_f_sigma = {
        let two = pool.int(2);
        let two_f = pool.mul(vec![two, f]);
        scaled(pool, two_f, &sigma)
    };
    let truth = combine(pool, &two_f_sigma, &g2_id, |p, a, b| p.add2(a, b));
    // Positive definite values for the numeric fallback: Sigma = I + small symmetric terms.
    let mut fixed: Vec<(Symbol, f64)> = vec![(fs, 0.3), (gs, 1.7)];
    let mut next = 0.0f64;
    for &s in sigma_syms.iter().chain(&omega_syms).chain(&k_syms) {
        next += 0.137;
        let name = pool.symbol_name(s).to_owned();
        let diagonal = name.len() == 3 && name.as_bytes()[1] == name.as_bytes()[2];
        let v = if name.starts_with('s') && diagonal {
            1.0 + next
        } else {
            0.1 * next.fract()
        };
        fixed.push((s, v));
    }
    let mut matrix_step = |pool: &mut Pool, statement: &str, lhs: &Matrix, rhs: &Matrix| {
        let mut verdict = Verdict::Proved;
        for i in 0..d {
            for j in 0..d {
                let v = checks::identity_at(pool, lhs[i][j], rhs[i][j], &fixed);
                if v != Verdict::Proved {
                    verdict = v;
                }
            }
        }
        steps.push(Step {
            statement: format!("{statement} (d = {d})"),
            verdict,
        });
    };
    // The drift matrices with the true score: PF-ODE f I + (g2/2) Sigma^{-1}; reverse SDE
    // (forward time) f I + g2 Sigma^{-1} with diffusion -g2 I.
    let pf_true = {
        let s = scaled(pool, half_g2, &inv);
        combine(pool, &f_id, &s, |p, a, b| p.add2(a, b))
    };
    let rev_true = {
        let s = scaled(pool, g2, &inv);
        combine(pool, &f_id, &s, |p, a, b| p.add2(a, b))
    };
    let pf_cov = lyapunov(pool, &pf_true, &sigma);
    matrix_step(
        pool,
        "PF-ODE, true score: A Sigma + Sigma A^T == 2 f Sigma + g2 I for A = f I + (g2/2) Sigma^-1",
        &pf_cov,
        &truth,
    );
    let rev_lyap = lyapunov(pool, &rev_true, &sigma);
    let rev_cov = combine(pool, &rev_lyap, &g2_id, |p, a, b| p.sub(a, b));
    matrix_step(
        pool,
        "reverse SDE, true score: B Sigma + Sigma B^T - g2 I == 2 f Sigma + g2 I for B = f I + g2 Sigma^-1",
        &rev_cov,
        &truth,
    );
    // 3. Any linear error K: the change of the right-hand sides.
    let k_lyap = lyapunov(pool, &k, &sigma);
    for (scale, drift, statement) in [
        (
            neg_half_g2,
            &pf_true,
            "PF-ODE, error K (x - mu): the right-hand side changes by -(g2/2) (K Sigma + Sigma K^T)",
        ),
        (
            neg_g2,
            &rev_true,
            "reverse SDE, error K (x - mu): the right-hand side changes by -g2 (K Sigma + Sigma K^T)",
        ),
    ] {
        // The error enters the score, so the drift gains -(g2/2) K or -g2 K.
        let learned = {
            let sk = scaled(pool, scale, &k);
            combine(pool, drift, &sk, |p, a, b| p.add2(a, b))
        };
        let lhs_learned = lyapunov(pool, &learned, &sigma);
        let lhs_true = lyapunov(pool, drift, &sigma);
        let change = combine(pool, &lhs_learned, &lhs_true, |p, a, b| p.sub(a, b));
        let expected = scaled(pool, scale, &k_lyap);
        matrix_step(pool, statement, &change, &expected);
    }
    // 4. For K = Omega Sigma^{-1}: K Sigma + Sigma K^T == 0.
    let k_sol = mul(pool, &omega, &inv);
    let sol_lyap = lyapunov(pool, &k_sol, &sigma);
    let zero = pool.zero();
    let zero = identity(pool, d, zero);
    matrix_step(
        pool,
        "solenoidal error K = Omega Sigma^-1, Omega^T = -Omega: K Sigma + Sigma K^T == 0, so neither right-hand side changes",
        &sol_lyap,
        &zero,
    );
    // 5. div(p w) / p = div w - (x - m)^T Sigma^{-1} w == 0 for w = K (x - m).
    let xs: Vec<Symbol> = (1..=d).map(|i| pool.symbol(&format!("x{i}"))).collect();
    let ms: Vec<Symbol> = (1..=d).map(|i| pool.symbol(&format!("m{i}"))).collect();
    let dx: Vec<ExprId> = xs
        .iter()
        .zip(&ms)
        .map(|(&x, &m)| {
            let (x, m) = (pool.sym_expr(x), pool.sym_expr(m));
            pool.sub(x, m)
        })
        .collect();
    let w: Vec<ExprId> = (0..d)
        .map(|i| {
            let terms = (0..d).map(|j| pool.mul(vec![k_sol[i][j], dx[j]])).collect();
            pool.add(terms)
        })
        .collect();
    let divergence: Vec<ExprId> = (0..d).map(|i| diff::diff(pool, w[i], xs[i])).collect();
    let div = pool.add(divergence);
    let mut quad_terms = Vec::new();
    for i in 0..d {
        for j in 0..d {
            quad_terms.push(pool.mul(vec![dx[i], inv[i][j], w[j]]));
        }
    }
    let quad = pool.add(quad_terms);
    let lhs = pool.sub(div, quad);
    let mut fixed_x = fixed.clone();
    fixed_x.extend(xs.iter().map(|&s| (s, 0.4)));
    fixed_x.extend(ms.iter().map(|&s| (s, -0.2)));
    let zero_expr = pool.zero();
    let verdict = checks::identity_at(pool, lhs, zero_expr, &fixed_x);
    steps.push(Step {
        statement: format!(
            "the error w = Omega Sigma^-1 (x - m) is p-solenoidal: div(p w)/p = div w - (x - m)^T Sigma^-1 w == 0 (d = {d})"
        ),
        verdict,
    });
    Proof {
        dimension: d,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{Stage, lower_files};
    use crate::syntax::parse_file;

    fn process(pool: &mut Pool, text: &str) -> Process {
        let ast = parse_file(text).expect("parses");
        let mut ps = lower_files(pool, &[(&ast, text)], &[], Stage::Quantities)
            .pop()
            .expect("one file")
            .expect("lowers");
        ps.pop().expect("one process")
    }

    #[test]
    fn every_step_is_proved_for_a_concrete_and_a_generic_process() {
        for text in [
            "process vp { alpha(t) = cos(pi*t/2); sigma(t) = sin(pi*t/2); }",
            "process g { alpha(t) = function; sigma(t) = function; }",
        ] {
            for d in 1..=3 {
                let mut pool = Pool::new();
                let p = process(&mut pool, text);
                let proof = prove(&mut pool, &p, d);
                assert_eq!(proof.steps.len(), 8, "{text}");
                for s in &proof.steps {
                    assert_eq!(
                        s.verdict,
                        Verdict::Proved,
                        "{text}, d = {d}: {}",
                        s.statement
                    );
                }
            }
        }
    }

    #[test]
    fn an_error_that_is_not_solenoidal_changes_the_covariance() {
        // The same identity as step 4 with a general Omega: K Sigma + Sigma K^T = Omega +
        // Omega^T, not 0; the machinery finds a counterexample.
        let mut pool = Pool::new();
        let (sigma, mut fixed) = symbols(&mut pool, 2, "s", Shape::Symmetric);
        let (omega, more) = symbols(&mut pool, 2, "w", Shape::General);
        fixed.extend(more);
        let fixed: Vec<(Symbol, f64)> = fixed
            .iter()
            .enumerate()
            .map(|(k, &s)| (s, 1.0 + 0.1 * k as f64))
            .collect();
        let inv = inverse(&mut pool, &sigma);
        let k = mul(&mut pool, &omega, &inv);
        let change = lyapunov(&mut pool, &k, &sigma);
        let zero = pool.zero();
        let v = checks::identity_at(&mut pool, change[0][1], zero, &fixed);
        assert!(matches!(v, Verdict::Failed { .. }), "{v:?}");
    }
}
