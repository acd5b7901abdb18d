//! Gaussian data sources N(m, Sigma) in their eigenbasis: what every exact analysis needs.
//!
//! A source is built from a spectrum (a diagonal covariance) or from a full covariance,
//! which is eigendecomposed (nalgebra). Errors carry no span: the lowering of a `source`
//! declaration attaches one (`analysis::lower`).

use nalgebra::{DMatrix, DVector};

/// Why a spectrum or covariance is not a valid Gaussian source.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("a source needs at least one dimension")]
    Empty,
    #[error("value {index} is not a finite number")]
    NotFinite { index: usize },
    #[error("eigenvalue {index} is {value}; a covariance spectrum must be positive")]
    NotPositive { index: usize, value: f64 },
    #[error("the mean has {found} entries but the source has dimension {expected}")]
    MeanLength { expected: usize, found: usize },
    #[error("row {row} of the covariance has {found} entries, expected {expected}")]
    NotSquare {
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("the covariance is not symmetric: entry ({i}, {j}) is {a} but ({j}, {i}) is {b}")]
    NotSymmetric { i: usize, j: usize, a: f64, b: f64 },
    #[error("the covariance is not positive definite: its smallest eigenvalue is {eigenvalue:e}")]
    NotPositiveDefinite { eigenvalue: f64 },
}

/// N(m, U diag(eigenvalues) U^T), kept in its eigenbasis.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianSource {
    pub name: String,
    /// The covariance eigenvalues (all positive): as given for a spectrum, ascending for a
    /// covariance.
    pub eigenvalues: Vec<f64>,
    /// The mean in the eigenbasis, `U^T m`, one entry per eigenvalue.
    pub mean: Vec<f64>,
    /// The eigenvectors as columns; `None` is the standard basis (a spectrum).
    pub basis: Option<DMatrix<f64>>,
}

impl GaussianSource {
    /// A diagonal covariance with the given spectrum; the mean defaults to zero.
    pub fn from_spectrum(
        name: impl Into<String>,
        spectrum: Vec<f64>,
        mean: Option<Vec<f64>>,
    ) -> Result<GaussianSource, SourceError> {
        if spectrum.is_empty() {
            return Err(SourceError::Empty);
        }
        for (index, &value) in spectrum.iter().enumerate() {
            if !value.is_finite() {
                return Err(SourceError::NotFinite { index });
            }
            if value <= 0.0 {
                return Err(SourceError::NotPositive { index, value });
            }
        }
        let mean = check_mean(mean, spectrum.len())?;
        Ok(GaussianSource {
            name: name.into(),
            eigenvalues: spectrum,
            mean,
            basis: None,
        })
    }

    /// A full covariance (rows), eigendecomposed; it must be symmetric positive definite.
    pub fn from_covariance(
        name: impl Into<String>,
        cov: &[Vec<f64>],
        mean: Option<Vec<f64>>,
    ) -> Result<GaussianSource, SourceError> {
        let n = cov.len();
        if n == 0 {
            return Err(SourceError::Empty);
        }
        for (row, r) in cov.iter().enumerate() {
            if r.len() != n {
                return Err(SourceError::NotSquare {
                    row,
                    expected: n,
                    found: r.len(),
                });
            }
            if let Some(j) = r.iter().position(|v| !v.is_finite()) {
                return Err(SourceError::NotFinite { index: row * n + j });
            }
        }
        for (i, row) in cov.iter().enumerate() {
            for (j, other) in cov.iter().enumerate().skip(i + 1) {
                if row[j] != other[i] {
                    return Err(SourceError::NotSymmetric {
                        i,
                        j,
                        a: row[j],
                        b: other[i],
                    });
                }
            }
        }
        let m = check_mean(mean, n)?;
        let matrix = DMatrix::from_fn(n, n, |i, j| cov[i][j]);
        let eig = matrix.symmetric_eigen();
        // Ascending eigenvalues, ties broken by index, so the order never depends on the
        // solver's internal order.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            eig.eigenvalues[a]
                .total_cmp(&eig.eigenvalues[b])
                .then(a.cmp(&b))
        });
        let eigenvalues: Vec<f64> = order.iter().map(|&k| eig.eigenvalues[k]).collect();
        let scale = eigenvalues.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let smallest = eigenvalues[0];
        if smallest <= scale * f64::EPSILON * n as f64 {
            return Err(SourceError::NotPositiveDefinite {
                eigenvalue: smallest,
            });
        }
        let mut basis = DMatrix::zeros(n, n);
        for (col, &k) in order.iter().enumerate() {
            let mut v = eig.eigenvectors.column(k).into_owned();
            // A deterministic sign: the largest-magnitude entry is positive.
            let big = v.iamax();
            if v[big] < 0.0 {
                v = -v;
            }
            basis.set_column(col, &v);
        }
        let mean = (basis.transpose() * DVector::from_vec(m))
            .iter()
            .copied()
            .collect();
        Ok(GaussianSource {
            name: name.into(),
            eigenvalues,
            mean,
            basis: Some(basis),
        })
    }

    pub fn dimension(&self) -> usize {
        self.eigenvalues.len()
    }

    /// Maps a vector from the eigenbasis to the original coordinates.
    pub fn to_original(&self, v: &[f64]) -> Vec<f64> {
        match &self.basis {
            None => v.to_vec(),
            Some(u) => (u * DVector::from_column_slice(v))
                .iter()
                .copied()
                .collect(),
        }
    }

    /// The covariance `U diag(d) U^T` of a law that is diagonal in the eigenbasis, in the
    /// original coordinates.
    pub fn covariance_original(&self, diagonal: &[f64]) -> DMatrix<f64> {
        let d = DMatrix::from_diagonal(&DVector::from_column_slice(diagonal));
        match &self.basis {
            None => d,
            Some(u) => u * d * u.transpose(),
        }
    }
}

fn check_mean(mean: Option<Vec<f64>>, n: usize) -> Result<Vec<f64>, SourceError> {
    match mean {
        None => Ok(vec![0.0; n]),
        Some(m) if m.len() != n => Err(SourceError::MeanLength {
            expected: n,
            found: m.len(),
        }),
        Some(m) => match m.iter().position(|v| !v.is_finite()) {
            Some(index) => Err(SourceError::NotFinite { index }),
            None => Ok(m),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_covariance() {
        // [[2, 0.8], [0.8, 0.5]]: trace 2.5, determinant 0.36, eigenvalues (2.5 -+ sqrt(4.81))/2.
        let s = GaussianSource::from_covariance(
            "S",
            &[vec![2.0, 0.8], vec![0.8, 0.5]],
            Some(vec![0.7, -1.2]),
        )
        .expect("valid");
        let r = 4.81f64.sqrt();
        assert!((s.eigenvalues[0] - (2.5 - r) / 2.0).abs() < 1e-14);
        assert!((s.eigenvalues[1] - (2.5 + r) / 2.0).abs() < 1e-14);
        let back = s.to_original(&s.mean);
        assert!((back[0] - 0.7).abs() < 1e-14 && (back[1] + 1.2).abs() < 1e-14);
        let c = s.covariance_original(&s.eigenvalues);
        assert!((c[(0, 1)] - 0.8).abs() < 1e-14 && (c[(0, 0)] - 2.0).abs() < 1e-14);
    }

    #[test]
    fn invalid_sources() {
        assert_eq!(
            GaussianSource::from_spectrum("S", vec![1.0, -0.5], None),
            Err(SourceError::NotPositive {
                index: 1,
                value: -0.5
            })
        );
        assert!(matches!(
            GaussianSource::from_spectrum("S", vec![1.0], Some(vec![0.0, 1.0])),
            Err(SourceError::MeanLength { .. })
        ));
        assert!(matches!(
            GaussianSource::from_covariance("S", &[vec![1.0, 2.0], vec![2.0, 1.0]], None),
            Err(SourceError::NotPositiveDefinite { .. })
        ));
        assert!(matches!(
            GaussianSource::from_covariance("S", &[vec![1.0, 0.1], vec![0.2, 1.0]], None),
            Err(SourceError::NotSymmetric { .. })
        ));
    }
}
