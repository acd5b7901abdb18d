//! The exact Helmholtz-Hodge decomposition of an affine error against a Gaussian:
//! the gradient part solves a Lyapunov equation, the rest is p-solenoidal.
//!
//! For p = N(m, Sigma) and e(x) = E (x - m) + b, the gradient part is S (x - m) + b with S
//! symmetric and `S Sigma + Sigma S = E Sigma + Sigma E^T =: C`; the solenoidal part is
//! `Omega Sigma^{-1} (x - m)` with `Omega = (E - S) Sigma` antisymmetric. The norms are
//! `||e||^2 = tr(E Sigma E^T) + |b|^2`, `||grad||^2 = tr(S Sigma S) + |b|^2` and
//! `||w||^2 = tr((E - S) Sigma (E - S)^T)`.
//!
//! With rational data the answer is rational, and it is computed so: entry by entry when
//! Sigma is diagonal (`S_ij = C_ij / (Sigma_ii + Sigma_jj)`), by exact elimination on the
//! d(d+1)/2 unknowns when d <= [`MAX_EXACT_DENSE`]. Otherwise f64 in the eigenbasis of
//! Sigma (the same formula with its eigenvalues), refined twice on the residual of the
//! defining equation.

use nalgebra::DMatrix;
use num_bigint::BigInt;
use num_integer::Integer as _;
use num_rational::BigRational;
use num_traits::{One, Zero};
use rustc_hash::FxHashMap as HashMap;

use super::Scalar;
use super::lower::{Affine, Shift};
use crate::analysis::GaussianSource;

/// The largest dimension of a non-diagonal covariance solved in exact arithmetic:
/// d(d+1)/2 = 55 unknowns, solved in milliseconds with small entries.
pub const MAX_EXACT_DENSE: usize = 10;

/// The largest numerator or denominator, in bits, of an entry of a non-diagonal exact
/// solve: elimination multiplies entries, so 4096-digit literals would cost minutes; such
/// data take the f64 path instead.
pub const MAX_EXACT_BITS: u64 = 128;

/// A Gaussian p = N(m, Sigma), exact where its entries are rational.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    pub mean: Vec<Scalar>,
    pub cov: Vec<Vec<Scalar>>,
}

impl Moments {
    /// The moments of a source kept in its eigenbasis, in f64: `U diag(l) U^T` and `U m`.
    pub fn from_source(g: &GaussianSource) -> Moments {
        let d = g.eigenvalues.len();
        let basis = g.basis.clone().unwrap_or_else(|| DMatrix::identity(d, d));
        let l = DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(&g.eigenvalues));
        let cov = &basis * l * basis.transpose();
        let mean = &basis * nalgebra::DVector::from_column_slice(&g.mean);
        Moments {
            mean: mean.iter().map(|&x| Scalar::float(x)).collect(),
            cov: (0..d)
                .map(|i| {
                    (0..d)
                        // Symmetric to the last bit, as a covariance is.
                        .map(|j| Scalar::float(0.5 * (cov[(i, j)] + cov[(j, i)])))
                        .collect()
                })
                .collect(),
        }
    }
}

/// How the decomposition was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Rational arithmetic: the results are exact.
    Exact,
    /// f64 in the eigenbasis of Sigma (the standard basis for a diagonal Sigma).
    Eigenbasis,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Eigenbasis => "eigenbasis",
        }
    }
}

/// The decomposition `e = (S (x - m) + b) + Omega Sigma^{-1} (x - m)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Decomposition {
    pub dimension: usize,
    pub method: Method,
    /// The symmetric matrix of the gradient part.
    pub s: Vec<Vec<Scalar>>,
    /// `(E - S) Sigma`, antisymmetric.
    pub omega: Vec<Vec<Scalar>>,
    /// The mean of the error, `b`: part of the gradient part.
    pub shift: Vec<Scalar>,
    pub norm2_error: Scalar,
    pub norm2_gradient: Scalar,
    pub norm2_solenoidal: Scalar,
    /// Whether the symmetric part of E, `(E + E^T)/2`, is S: the usual guess, right when
    /// Sigma is a multiple of the identity and wrong in general.
    pub symmetric_part_is_gradient: bool,
    /// `||((E + E^T)/2 - S)(x - m)||^2`: how far the guess is from the gradient part.
    pub norm2_symmetric_part_difference: Scalar,
}

/// Why a decomposition cannot be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HodgeError {
    #[error("the error has dimension {error} but the distribution has dimension {distribution}")]
    Dimension { error: usize, distribution: usize },
    #[error("the decomposition overflows f64: {what} is not finite")]
    NotFinite { what: &'static str },
}

/// Decomposes the affine error `e` against `p`.
pub fn decompose(p: &Moments, e: &Affine) -> Result<Decomposition, HodgeError> {
    let d = p.mean.len();
    if e.matrix.len() != d {
        return Err(HodgeError::Dimension {
            error: e.matrix.len(),
            distribution: d,
        });
    }
    match exact(p, e) {
        Some(out) => {
            // Exact, but printed and used in f64 too: a value beyond f64 is refused, as
            // the f64 path refuses it.
            for (what, v) in [
                ("||e||^2", &out.norm2_error),
                ("||grad part||^2", &out.norm2_gradient),
                ("||solenoidal part||^2", &out.norm2_solenoidal),
                (
                    "||((E + E^T)/2 - S)(x - m)||^2",
                    &out.norm2_symmetric_part_difference,
                ),
            ] {
                if !v.value.is_finite() {
                    return Err(HodgeError::NotFinite { what });
                }
            }
            let entries = [("S", &out.s), ("Omega", &out.omega)];
            for (what, m) in entries {
                if !m.iter().flatten().all(|x| x.value.is_finite()) {
                    return Err(HodgeError::NotFinite { what });
                }
            }
            if !out.shift.iter().all(|x| x.value.is_finite()) {
                return Err(HodgeError::NotFinite { what: "b" });
            }
            Ok(out)
        }
        None => float(p, e),
    }
}

type Rat = BigRational;
type RatMatrix = Vec<Vec<Rat>>;

fn exact_vec(v: &[Scalar]) -> Option<Vec<Rat>> {
    v.iter().map(|s| s.exact.clone()).collect()
}

fn exact_matrix(m: &[Vec<Scalar>]) -> Option<RatMatrix> {
    m.iter().map(|r| exact_vec(r)).collect()
}

/// The mean `b` of the error: given, or `E m + c` for an error given at the origin.
fn exact_shift(e: &[Vec<Rat>], shift: &Shift, mean: &[Scalar]) -> Option<Vec<Rat>> {
    match shift {
        Shift::FromMean(b) => exact_vec(b),
        Shift::AtOrigin(c) => {
            let c = exact_vec(c)?;
            let m = exact_vec(mean)?;
            Some(
                e.iter()
                    .zip(c)
                    .map(|(row, ci)| row.iter().zip(&m).map(|(a, b)| a * b).sum::<Rat>() + ci)
                    .collect(),
            )
        }
    }
}

fn is_diagonal(m: &RatMatrix) -> bool {
    m.iter()
        .enumerate()
        .all(|(i, r)| r.iter().enumerate().all(|(j, x)| i == j || x.is_zero()))
}

fn mul(a: &RatMatrix, b: &RatMatrix) -> RatMatrix {
    let n = a.len();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| (0..n).map(|k| &a[i][k] * &b[k][j]).sum())
                .collect()
        })
        .collect()
}

/// `tr(A Sigma A^T)`, in O(d^2) for a diagonal Sigma.
fn quadratic_trace(a: &RatMatrix, sigma: &RatMatrix, diagonal: bool) -> Rat {
    let n = a.len();
    if diagonal {
        return (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| &a[i][j] * &a[i][j] * &sigma[j][j])
            .sum();
    }
    let a_sigma = mul(a, sigma);
    (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| &a_sigma[i][j] * &a[i][j])
        .sum()
}

fn scalars(m: RatMatrix) -> Vec<Vec<Scalar>> {
    m.into_iter()
        .map(|r| r.into_iter().map(Scalar::exact).collect())
        .collect()
}

/// The decomposition in rational arithmetic, when every input is rational and the
/// Lyapunov equation is small or diagonal.
fn exact(p: &Moments, e: &Affine) -> Option<Decomposition> {
    let d = p.mean.len();
    let sigma = exact_matrix(&p.cov)?;
    let em = exact_matrix(&e.matrix)?;
    let b = exact_shift(&em, &e.shift, &p.mean)?;
    let diagonal = is_diagonal(&sigma);
    let small = |r: &Rat| r.numer().bits() <= MAX_EXACT_BITS && r.denom().bits() <= MAX_EXACT_BITS;
    if !diagonal && (d > MAX_EXACT_DENSE || !sigma.iter().chain(&em).flatten().all(small)) {
        return None;
    }
    if diagonal {
        return Some(exact_diagonal(&sigma, &em, b));
    }
    // C = E Sigma + Sigma E^T.
    let es = mul(&em, &sigma);
    let c: RatMatrix = (0..d)
        .map(|i| (0..d).map(|j| &es[i][j] + &es[j][i]).collect())
        .collect();
    let s = solve_lyapunov(&sigma, &c);
    let diff: RatMatrix = (0..d)
        .map(|i| (0..d).map(|j| &em[i][j] - &s[i][j]).collect())
        .collect();
    let omega = mul(&diff, &sigma);
    let b2: Rat = b.iter().map(|x| x * x).sum();
    let norm2_error = quadratic_trace(&em, &sigma, false) + &b2;
    let norm2_gradient = quadratic_trace(&s, &sigma, false) + &b2;
    let norm2_solenoidal = quadratic_trace(&diff, &sigma, false);
    let half = Rat::new(1.into(), 2.into());
    let sym_minus_s: RatMatrix = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| (&em[i][j] + &em[j][i]) * &half - &s[i][j])
                .collect()
        })
        .collect();
    let norm2_difference = quadratic_trace(&sym_minus_s, &sigma, false);
    Some(exact_decomposition(
        s,
        omega,
        b,
        [norm2_error, norm2_gradient, norm2_solenoidal],
        &sym_minus_s,
        norm2_difference,
    ))
}

/// An exact decomposition from its parts: the norms ||e||^2, ||grad part||^2 and
/// ||solenoidal part||^2, and (E + E^T)/2 - S with its norm.
fn exact_decomposition(
    s: RatMatrix,
    omega: RatMatrix,
    b: Vec<Rat>,
    [error, gradient, solenoidal]: [Rat; 3],
    sym_minus_s: &RatMatrix,
    norm2_difference: Rat,
) -> Decomposition {
    Decomposition {
        dimension: s.len(),
        method: Method::Exact,
        s: scalars(s),
        omega: scalars(omega),
        shift: b.into_iter().map(Scalar::exact).collect(),
        norm2_error: Scalar::exact(error),
        norm2_gradient: Scalar::exact(gradient),
        norm2_solenoidal: Scalar::exact(solenoidal),
        symmetric_part_is_gradient: sym_minus_s.iter().flatten().all(Zero::is_zero),
        norm2_symmetric_part_difference: Scalar::exact(norm2_difference),
    }
}

/// `n/d` reduced once.
fn ratio(n: BigInt, d: BigInt) -> Rat {
    Rat::new(n, d)
}

/// The sum of fractions `n/d` given unreduced, reduced once: numerators are added per
/// distinct denominator, then over the least common multiple. Adding `Ratio`s one by one
/// reduces (a gcd) at every step, which dominated the exact decomposition at d = 100.
fn sum_fractions(terms: impl IntoIterator<Item = (BigInt, BigInt)>) -> Rat {
    let mut by_denominator: HashMap<BigInt, BigInt> = HashMap::default();
    for (n, d) in terms {
        *by_denominator.entry(d).or_default() += n;
    }
    let lcm = by_denominator.keys().fold(BigInt::one(), |l, d| l.lcm(d));
    let total: BigInt = by_denominator.iter().map(|(d, n)| n * (&lcm / d)).sum();
    ratio(total, lcm)
}

/// The exact decomposition for a diagonal Sigma, entry by entry: each entry is formed as
/// one fraction and reduced once, the traces summed by [`sum_fractions`].
fn exact_diagonal(sigma: &RatMatrix, em: &RatMatrix, b: Vec<Rat>) -> Decomposition {
    let d = sigma.len();
    let (p, q): (Vec<&BigInt>, Vec<&BigInt>) = (0..d)
        .map(|i| (sigma[i][i].numer(), sigma[i][i].denom()))
        .unzip();
    let parts = |r: &Rat| (r.numer().clone(), r.denom().clone());
    // S_ij = (E_ij s_j + s_i E_ji)/(s_i + s_j), s = p/q, E_ij = a/b, E_ji = c/e:
    // (a p_j e q_i + c p_i b q_j) / (b e (p_i q_j + p_j q_i)).
    let s: RatMatrix = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    let (a, bb) = parts(&em[i][j]);
                    let (c, e) = parts(&em[j][i]);
                    let num = &a * p[j] * &e * q[i] + &c * p[i] * &bb * q[j];
                    let den = bb * e * (p[i] * q[j] + p[j] * q[i]);
                    ratio(num, den)
                })
                .collect()
        })
        .collect();
    // E - S, and (E - S) Sigma.
    let difference = |x: &Rat, y: &Rat| {
        ratio(
            x.numer() * y.denom() - y.numer() * x.denom(),
            x.denom() * y.denom(),
        )
    };
    let diff: RatMatrix = (0..d)
        .map(|i| (0..d).map(|j| difference(&em[i][j], &s[i][j])).collect())
        .collect();
    let omega: RatMatrix = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| ratio(diff[i][j].numer() * p[j], diff[i][j].denom() * q[j]))
                .collect()
        })
        .collect();
    // tr(A Sigma A^T) = sum_ij A_ij^2 s_j.
    let (pr, qr) = (&p, &q);
    let trace = |m: &RatMatrix| {
        sum_fractions((0..d).flat_map(|i| {
            (0..d).map(move |j| {
                let (p, q) = (pr, qr);
                let (n, den) = (m[i][j].numer(), m[i][j].denom());
                (n * n * p[j], den * den * q[j])
            })
        }))
    };
    let b2 = sum_fractions(
        b.iter()
            .map(|x| (x.numer() * x.numer(), x.denom() * x.denom())),
    );
    let norm2_error = trace(em) + &b2;
    let norm2_gradient = trace(&s) + &b2;
    // The parts are orthogonal: ||w||^2 = ||e||^2 - ||grad part||^2 exactly.
    let norm2_solenoidal = &norm2_error - &norm2_gradient;
    // (E + E^T)/2 - S.
    let sym_minus_s: RatMatrix = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    let (x, y) = (&em[i][j], &em[j][i]);
                    let half_sum = ratio(
                        x.numer() * y.denom() + y.numer() * x.denom(),
                        BigInt::from(2) * x.denom() * y.denom(),
                    );
                    difference(&half_sum, &s[i][j])
                })
                .collect()
        })
        .collect();
    let norm2_difference = trace(&sym_minus_s);
    exact_decomposition(
        s,
        omega,
        b,
        [norm2_error, norm2_gradient, norm2_solenoidal],
        &sym_minus_s,
        norm2_difference,
    )
}

/// The symmetric S with `S Sigma + Sigma S = C`, by exact Gauss-Jordan elimination on the
/// unknowns `S_ij`, i <= j (the system is regular: its eigenvalues are the sums of two
/// eigenvalues of the positive definite Sigma).
fn solve_lyapunov(sigma: &RatMatrix, c: &RatMatrix) -> RatMatrix {
    let d = sigma.len();
    let index = |i: usize, j: usize| {
        let (a, b) = if i <= j { (i, j) } else { (j, i) };
        a * d - a * (a + 1) / 2 + b
    };
    let n = d * (d + 1) / 2;
    let mut rows: Vec<Vec<Rat>> = Vec::with_capacity(n);
    for i in 0..d {
        for j in i..d {
            // (S Sigma)_ij + (Sigma S)_ij = sum_k S_ik Sigma_kj + Sigma_ik S_kj.
            let mut row = vec![Rat::zero(); n + 1];
            for k in 0..d {
                row[index(i, k)] += &sigma[k][j];
                row[index(k, j)] += &sigma[i][k];
            }
            row[n] = c[i][j].clone();
            rows.push(row);
        }
    }
    for col in 0..n {
        let pivot = (col..n)
            .find(|&r| !rows[r][col].is_zero())
            .expect("the Lyapunov system of a positive definite matrix is regular");
        rows.swap(col, pivot);
        let inv = Rat::one() / &rows[col][col];
        for x in rows[col].iter_mut().skip(col) {
            *x *= &inv;
        }
        let pivot_row = rows[col].clone();
        for (r, row) in rows.iter_mut().enumerate() {
            if r == col || row[col].is_zero() {
                continue;
            }
            let factor = row[col].clone();
            for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                *x -= &factor * p;
            }
        }
    }
    (0..d)
        .map(|i| (0..d).map(|j| rows[index(i, j)][n].clone()).collect())
        .collect()
}

fn to_matrix(m: &[Vec<Scalar>]) -> DMatrix<f64> {
    let d = m.len();
    DMatrix::from_fn(d, d, |i, j| m[i][j].value)
}

/// The decomposition in f64, in the eigenbasis of Sigma.
fn float(p: &Moments, e: &Affine) -> Result<Decomposition, HodgeError> {
    let d = p.mean.len();
    let sigma = to_matrix(&p.cov);
    let em = to_matrix(&e.matrix);
    let b: Vec<f64> = match &e.shift {
        Shift::FromMean(b) => b.iter().map(|s| s.value).collect(),
        Shift::AtOrigin(c) => (0..d)
            .map(|i| (0..d).map(|j| em[(i, j)] * p.mean[j].value).sum::<f64>() + c[i].value)
            .collect(),
    };
    let diagonal = (0..d).all(|i| (0..d).all(|j| i == j || sigma[(i, j)] == 0.0));
    let (values, basis) = if diagonal {
        (sigma.diagonal(), DMatrix::identity(d, d))
    } else {
        let eig = sigma.clone().symmetric_eigen();
        (eig.eigenvalues, eig.eigenvectors)
    };
    // S = Q [(Q^T C Q)_ij / (l_i + l_j)] Q^T, then two corrections on the residual.
    let solve = |c: &DMatrix<f64>| {
        let mut inner = basis.transpose() * c * &basis;
        for i in 0..d {
            for j in 0..d {
                inner[(i, j)] /= values[i] + values[j];
            }
        }
        let s = &basis * inner * basis.transpose();
        (&s + s.transpose()) * 0.5
    };
    let c = &em * &sigma + &sigma * em.transpose();
    let mut s = solve(&c);
    if !diagonal {
        for _ in 0..2 {
            let residual = &c - (&s * &sigma + &sigma * &s);
            s += solve(&residual);
        }
    }
    let diff = &em - &s;
    let omega = &diff * &sigma;
    let quadratic_trace = |a: &DMatrix<f64>| (a * &sigma).component_mul(a).sum();
    let b2: f64 = b.iter().map(|x| x * x).sum();
    let sym_minus_s = (&em + em.transpose()) * 0.5 - &s;
    let norm2_error = quadratic_trace(&em) + b2;
    let norm2_gradient = quadratic_trace(&s) + b2;
    let norm2_solenoidal = quadratic_trace(&diff);
    let norm2_difference = quadratic_trace(&sym_minus_s);
    // Every value the decomposition reports, as the exact path checks them.
    for (what, v) in [
        ("||e||^2", norm2_error),
        ("||grad part||^2", norm2_gradient),
        ("||solenoidal part||^2", norm2_solenoidal),
        ("||((E + E^T)/2 - S)(x - m)||^2", norm2_difference),
    ] {
        if !v.is_finite() {
            return Err(HodgeError::NotFinite { what });
        }
    }
    for (what, m) in [("S", &s), ("Omega", &omega)] {
        if !m.iter().all(|x| x.is_finite()) {
            return Err(HodgeError::NotFinite { what });
        }
    }
    if !b.iter().all(|x| x.is_finite()) {
        return Err(HodgeError::NotFinite { what: "b" });
    }
    let scale = em.norm().max(f64::MIN_POSITIVE);
    let rows = |m: &DMatrix<f64>| -> Vec<Vec<Scalar>> {
        (0..d)
            .map(|i| (0..d).map(|j| Scalar::float(m[(i, j)])).collect())
            .collect()
    };
    Ok(Decomposition {
        dimension: d,
        method: Method::Eigenbasis,
        s: rows(&s),
        omega: rows(&omega),
        shift: b.into_iter().map(Scalar::float).collect(),
        norm2_error: Scalar::float(norm2_error),
        norm2_gradient: Scalar::float(norm2_gradient),
        norm2_solenoidal: Scalar::float(norm2_solenoidal.max(0.0)),
        symmetric_part_is_gradient: sym_minus_s.norm() <= 64.0 * f64::EPSILON * scale,
        norm2_symmetric_part_difference: Scalar::float(norm2_difference.max(0.0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> Rat {
        Rat::new(n.into(), d.into())
    }

    fn exact_scalars(m: &[&[(i64, i64)]]) -> Vec<Vec<Scalar>> {
        m.iter()
            .map(|row| row.iter().map(|&(n, d)| Scalar::exact(r(n, d))).collect())
            .collect()
    }

    fn ex(m: &[Vec<Scalar>]) -> RatMatrix {
        exact_matrix(m).expect("exact")
    }

    fn moments(cov: Vec<Vec<Scalar>>) -> Moments {
        let d = cov.len();
        Moments {
            mean: vec![Scalar::exact(r(0, 1)); d],
            cov,
        }
    }

    /// A 3 by 3 error with no symmetry.
    fn generic_e() -> Vec<Vec<Scalar>> {
        exact_scalars(&[
            &[(1, 1), (-2, 1), (1, 3)],
            &[(0, 1), (5, 4), (-1, 1)],
            &[(7, 2), (1, 9), (-3, 1)],
        ])
    }

    #[test]
    fn the_exact_solution_satisfies_the_defining_equations() {
        // A full covariance and a generic E: S symmetric, S Sigma + Sigma S = E Sigma +
        // Sigma E^T, Omega antisymmetric, tr(S Omega) = 0, norms adding up, all exactly.
        let cov = exact_scalars(&[
            &[(2, 1), (3, 5), (0, 1)],
            &[(3, 5), (1, 2), (1, 7)],
            &[(0, 1), (1, 7), (3, 1)],
        ]);
        let e = generic_e();
        let affine = Affine {
            matrix: e.clone(),
            shift: Shift::FromMean(vec![Scalar::exact(r(1, 2)); 3]),
        };
        let out = decompose(&moments(cov.clone()), &affine).expect("decomposes");
        assert_eq!(out.method, Method::Exact);
        let (sigma, em, s, omega) = (ex(&cov), ex(&e), ex(&out.s), ex(&out.omega));
        let lhs = mul(&s, &sigma);
        let rhs = mul(&em, &sigma);
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(s[i][j], s[j][i]);
                assert_eq!(&lhs[i][j] + &lhs[j][i], &rhs[i][j] + &rhs[j][i]);
                assert_eq!(omega[i][j], -omega[j][i].clone());
            }
        }
        let tr: Rat = (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| &s[i][j] * &omega[j][i])
            .sum();
        assert!(tr.is_zero());
        let (e2, g2, w2) = (
            out.norm2_error.exact.unwrap(),
            out.norm2_gradient.exact.unwrap(),
            out.norm2_solenoidal.exact.unwrap(),
        );
        assert_eq!(e2, g2 + w2);
        assert!(!out.symmetric_part_is_gradient);
    }

    #[test]
    fn a_rotation_against_an_isotropic_gaussian_is_solenoidal() {
        let cov = exact_scalars(&[&[(2, 1), (0, 1)], &[(0, 1), (2, 1)]]);
        let e = exact_scalars(&[&[(0, 1), (-3, 1)], &[(3, 1), (0, 1)]]);
        let affine = Affine {
            matrix: e,
            shift: Shift::FromMean(vec![Scalar::exact(r(0, 1)); 2]),
        };
        let out = decompose(&moments(cov), &affine).expect("decomposes");
        // ||e||^2 = tr(E Sigma E^T) = 2 * (9 + 9) = 36, all of it solenoidal.
        assert_eq!(out.norm2_error.exact, Some(r(36, 1)));
        assert_eq!(out.norm2_gradient.exact, Some(r(0, 1)));
        assert_eq!(out.norm2_solenoidal.exact, Some(r(36, 1)));
        assert!(out.symmetric_part_is_gradient);
    }

    #[test]
    fn diagonal_covariances_are_solved_entry_by_entry() {
        // Sigma = diag(1, 3), E = [[0, 1], [0, 0]]: C = [[0, 3], [3, 0]], S_12 = 3/4.
        let cov = exact_scalars(&[&[(1, 1), (0, 1)], &[(0, 1), (3, 1)]]);
        let e = exact_scalars(&[&[(0, 1), (1, 1)], &[(0, 1), (0, 1)]]);
        let affine = Affine {
            matrix: e,
            shift: Shift::FromMean(vec![Scalar::exact(r(0, 1)); 2]),
        };
        let out = decompose(&moments(cov), &affine).expect("decomposes");
        assert_eq!(out.s[0][1].exact, Some(r(3, 4)));
        // ||e||^2 = E_12^2 Sigma_22 = 3; ||grad||^2 = tr(S Sigma S) = (9/16)(3 + 1) = 9/4.
        assert_eq!(out.norm2_error.exact, Some(r(3, 1)));
        assert_eq!(out.norm2_gradient.exact, Some(r(9, 4)));
        assert_eq!(out.norm2_solenoidal.exact, Some(r(3, 4)));
        // The symmetric part (1/2 off the diagonal) is not S.
        assert!(!out.symmetric_part_is_gradient);
    }

    #[test]
    fn the_float_path_agrees_with_the_exact_one() {
        let cov = exact_scalars(&[
            &[(2, 1), (3, 5), (1, 10)],
            &[(3, 5), (1, 2), (1, 7)],
            &[(1, 10), (1, 7), (3, 1)],
        ]);
        let e = generic_e();
        let affine = Affine {
            matrix: e.clone(),
            shift: Shift::FromMean(vec![Scalar::exact(r(0, 1)); 3]),
        };
        let p = moments(cov.clone());
        let exact = decompose(&p, &affine).unwrap();
        let float = float(&p, &affine).unwrap();
        let close = |a: &Scalar, b: &Scalar| {
            assert!(
                (a.value - b.value).abs() <= 1e-14 * a.value.abs().max(1.0),
                "{} vs {}",
                a.value,
                b.value
            )
        };
        close(&exact.norm2_gradient, &float.norm2_gradient);
        close(&exact.norm2_solenoidal, &float.norm2_solenoidal);
        for (a, b) in exact.s.iter().flatten().zip(float.s.iter().flatten()) {
            close(a, b);
        }
    }

    #[test]
    fn a_dimension_mismatch_is_refused() {
        let cov = exact_scalars(&[&[(1, 1)]]);
        let e = exact_scalars(&[&[(1, 1), (0, 1)], &[(0, 1), (1, 1)]]);
        let affine = Affine {
            matrix: e,
            shift: Shift::FromMean(vec![Scalar::exact(r(0, 1)); 2]),
        };
        assert_eq!(
            decompose(&moments(cov), &affine),
            Err(HodgeError::Dimension {
                error: 2,
                distribution: 1
            })
        );
    }
}
