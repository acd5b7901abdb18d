//! Truncated power series with exact coefficients: `sum_k c_k h^k` up to `h^order`, each
//! `c_k` an expression. The asymptotic expansions build their series in h with it.

use super::pool::{ExprId, Pool};

/// `sum_{k=0}^{order} c_k h^k`, the terms above `h^order` dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    coeffs: Vec<ExprId>,
}

impl Series {
    /// The zero series up to `h^order`.
    pub fn zero(pool: &Pool, order: usize) -> Series {
        Series {
            coeffs: vec![pool.zero(); order + 1],
        }
    }

    /// The coefficients of `h^0 ..= h^order`.
    pub fn coeffs(&self) -> &[ExprId] {
        &self.coeffs
    }

    pub fn into_coeffs(self) -> Vec<ExprId> {
        self.coeffs
    }

    /// Adds `term h^k` (dropped above the order).
    pub fn add_term(&mut self, pool: &mut Pool, k: usize, term: ExprId) {
        if let Some(c) = self.coeffs.get_mut(k) {
            *c = pool.add(vec![*c, term]);
        }
    }

    /// `self + a * other`, coefficient by coefficient (`a` free of h).
    pub fn add_scaled(&mut self, pool: &mut Pool, a: ExprId, other: &Series) {
        for (k, &e) in other.coeffs.iter().enumerate() {
            let term = pool.mul(vec![a, e]);
            self.add_term(pool, k, term);
        }
    }

    /// The product, truncated at this series' order; zero coefficients are skipped, so
    /// sparse series multiply in proportion to their non-zero terms.
    pub fn mul(&self, pool: &mut Pool, other: &Series) -> Series {
        let n = self.coeffs.len();
        let zero = pool.zero();
        let mut out = vec![zero; n];
        for (i, &a) in self.coeffs.iter().enumerate() {
            if a == zero {
                continue;
            }
            for (j, &b) in other.coeffs.iter().enumerate().take(n - i) {
                if b == zero {
                    continue;
                }
                let m = pool.mul(vec![a, b]);
                out[i + j] = pool.add(vec![out[i + j], m]);
            }
        }
        Series { coeffs: out }
    }

    /// Each coefficient mapped by `f`.
    pub fn map(self, mut f: impl FnMut(ExprId) -> ExprId) -> Series {
        Series {
            coeffs: self.coeffs.into_iter().map(&mut f).collect(),
        }
    }

    /// The series as one expression in `h` (tests show series with it).
    #[cfg(test)]
    pub fn to_expr(&self, pool: &mut Pool, h: ExprId) -> ExprId {
        let terms: Vec<ExprId> = self
            .coeffs
            .iter()
            .enumerate()
            .map(|(k, &c)| {
                let p = pool.powi(h, k as i64);
                pool.mul(vec![c, p])
            })
            .collect();
        pool.add(terms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_truncated_and_expressions_exact() {
        let mut p = Pool::new();
        let h = p.var("h");
        let (one, m1) = (p.one(), p.int(-1));
        let series = |p: &mut Pool, order: usize, cs: &[ExprId]| {
            let mut s = Series::zero(p, order);
            for (k, &c) in cs.iter().enumerate() {
                s.add_term(p, k, c);
            }
            s
        };
        // (1 + h)(1 - h) = 1 - h^2 to h^2; to h^1 it is 1.
        let (a, b) = (
            series(&mut p, 2, &[one, one]),
            series(&mut p, 2, &[one, m1]),
        );
        let e = a.mul(&mut p, &b).to_expr(&mut p, h);
        assert_eq!(crate::expr::print::to_text(&p, e), "1 - h^2");
        let (a, b) = (
            series(&mut p, 1, &[one, one]),
            series(&mut p, 1, &[one, m1]),
        );
        let e = a.mul(&mut p, &b).to_expr(&mut p, h);
        assert_eq!(crate::expr::print::to_text(&p, e), "1");
        // 1 + 2 (1 + h) = 3 + 2h.
        let mut s = series(&mut p, 1, &[one]);
        let two = p.int(2);
        s.add_scaled(&mut p, two, &a);
        let e = s.to_expr(&mut p, h);
        assert_eq!(crate::expr::print::to_text(&p, e), "3 + 2*h");
    }
}
