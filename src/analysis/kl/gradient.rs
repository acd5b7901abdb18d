//! The gradient of the exact KL(src||out) with respect to the interior grid times, by
//! reverse-mode (adjoint) differentiation of the per-direction recursion: O(N d), like the KL.
//!
//! Per direction the forward pass records each step's map `y' = A y + D m + sqrt(Q) z` (as
//! `r' = G r + q` for r = V/v) and the state (r, mu) it acts on. The reverse pass carries
//! the adjoints of r and mu back from the KL, gives each step's (A, D, G, q) its adjoint,
//! and passes those on to the values of the step's two grid points: alpha, sigma, alpha',
//! sigma', and t itself through h. Summed over directions, point k's adjoints meet the
//! schedule's derivatives once,
//! `dKL/dt_k = tbar_k + abar_k alpha'(t_k) + sbar_k sigma'(t_k) + dabar_k alpha''(t_k) +
//! dsbar_k sigma''(t_k)`, the last two only for the Euler family (whose steps use alpha'
//! and sigma').

use super::{
    GaussianSource, Kl, Point, Prepared, Sampler, Schedule, Start, StepMap, Sum, default_workers,
    per_chunk,
};
use crate::diag::{Diag, codes};

/// The exact KL and its derivatives with respect to the interior grid times.
#[derive(Clone, Debug, PartialEq)]
pub struct KlGradient {
    pub kl: Kl,
    /// d KL(src||out) / d t_k for k = 1, ..., N - 1 (the interior times, ascending). NaN
    /// where KL(src||out) is not finite.
    pub d_times: Vec<f64>,
}

/// The adjoints of one grid point's values.
#[derive(Clone, Copy, Debug, Default)]
struct PointBar {
    t: f64,
    a: f64,
    s: f64,
    da: f64,
    ds: f64,
}

impl PointBar {
    fn add(&mut self, o: &PointBar) {
        self.t += o.t;
        self.a += o.a;
        self.s += o.s;
        self.da += o.da;
        self.ds += o.ds;
    }
}

/// The adjoints of one step's map.
#[derive(Clone, Copy, Debug)]
struct MapBar {
    a: f64,
    d: f64,
    g: f64,
    q: f64,
}

/// [`super::exact_kl`] and its gradient with respect to the interior times of `grid`.
/// The KL is bit-identical to [`super::exact_kl`]'s.
pub fn exact_kl_gradient(
    sched: &dyn Schedule,
    source: &GaussianSource,
    sampler: Sampler,
    grid: &[f64],
    start: Start,
) -> Result<KlGradient, Diag> {
    let workers = default_workers(source.dimension());
    exact_kl_gradient_with_workers(sched, source, sampler, grid, start, workers)
}

/// [`exact_kl_gradient`] on at most `workers` threads; the result does not depend on
/// `workers` (fixed chunks of directions, merged in chunk order).
pub fn exact_kl_gradient_with_workers(
    sched: &dyn Schedule,
    source: &GaussianSource,
    sampler: Sampler,
    grid: &[f64],
    start: Start,
    workers: usize,
) -> Result<KlGradient, Diag> {
    gradient(sched, source, sampler, grid, start, workers, true)
}

/// The gradient, for DDIM and DPM-1 through the angle form (`angle`) or, as for the other
/// samplers, the general recursion's adjoint (the tests compare the two).
fn gradient(
    sched: &dyn Schedule,
    source: &GaussianSource,
    sampler: Sampler,
    grid: &[f64],
    start: Start,
    workers: usize,
    angle: bool,
) -> Result<KlGradient, Diag> {
    let angle = angle && matches!(sampler, Sampler::Ddim | Sampler::Dpm1);
    let prep = Prepared::new(sched, sampler, grid, start)?;
    let n = prep.pts.len() - 1;
    // The schedule's derivatives at the interior points: alpha', sigma' (already in `pts`
    // for the samplers that step with them) and, for the Euler family, alpha'', sigma''.
    let second = matches!(
        sampler,
        Sampler::Euler | Sampler::Heun | Sampler::EulerMaruyama
    );
    let mut slopes = Vec::with_capacity(n.saturating_sub(1));
    for p in &prep.pts[1..n] {
        let (da, ds) = if second {
            (p.da, p.ds)
        } else {
            (sched.dalpha(p.t), sched.dsigma(p.t))
        };
        let (d2a, d2s) = if second {
            (sched.d2alpha(p.t), sched.d2sigma(p.t))
        } else {
            (0.0, 0.0)
        };
        if ![da, ds, d2a, d2s].iter().all(|x| x.is_finite()) {
            return Err(Diag::new(
                codes::ANALYSIS_SAMPLER,
                format!(
                    "the KL's gradient for {} needs finite alpha', sigma'{} at t = {}: found {da}, {ds}{}",
                    sampler.name(),
                    if second { ", alpha'', sigma''" } else { "" },
                    p.t,
                    if second {
                        format!(", {d2a}, {d2s}")
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        slopes.push([da, ds, d2a, d2s]);
    }
    let partial = per_chunk(source.dimension(), workers, |dirs| {
        let (mut so, mut os) = (Sum::new(), Sum::new());
        let mut bars = vec![PointBar::default(); n + 1];
        let mut trace: Vec<(StepMap, [f64; 2])> = Vec::with_capacity(n);
        let mut finite = true;
        for i in dirs {
            let (lam, m) = (source.eigenvalues[i], source.mean[i]);
            let law = if angle {
                prep.law(lam, m)
            } else {
                trace.clear();
                let traced = prep.affine_traced(lam, m, |map, state| trace.push((*map, state)));
                if sampler == Sampler::Ddim {
                    prep.law(lam, m)
                } else {
                    traced
                }
            };
            let kl = law.kl();
            so.add(kl.kl_src_out);
            os.add(kl.kl_out_src);
            if !kl.kl_src_out.is_finite() {
                finite = false;
                continue;
            }
            if angle {
                prep.angle_adjoint(lam, law.log_var_ratio, &mut bars);
                continue;
            }
            // KL = (e^-u - 1 + u + mu^2 / V)/2 with V = v0 e^u, u = ln r_0.
            let (u, mu) = (law.log_var_ratio, law.mean_error);
            let var = law.variance();
            let u_bar = 0.5 * (-(-u).exp_m1() - mu * mu / var);
            let mut r_bar = u_bar * (-u).exp();
            let mut mu_bar = mu / var;
            // trace[j] is step k = n - j; the reverse pass runs k = 1, ..., n.
            for (j, (map, [r, mu_k])) in trace.iter().enumerate().rev() {
                let k = n - j;
                let bar = MapBar {
                    a: mu_bar * mu_k,
                    d: mu_bar * m,
                    g: r_bar * r,
                    q: r_bar,
                };
                r_bar *= map.g;
                mu_bar *= map.a;
                let (bp, bq) = prep.step_adjoint(k, lam, map, bar);
                bars[k].add(&bp);
                bars[k - 1].add(&bq);
            }
        }
        (so, os, bars, finite)
    });
    let (mut so, mut os) = (Sum::new(), Sum::new());
    let mut bars = vec![PointBar::default(); n + 1];
    let mut finite = true;
    for (a, b, chunk_bars, f) in partial {
        so.merge(a);
        os.merge(b);
        for (x, y) in bars.iter_mut().zip(&chunk_bars) {
            x.add(y);
        }
        finite &= f;
    }
    let d_times = (1..n)
        .map(|k| {
            let [da, ds, d2a, d2s] = slopes[k - 1];
            let b = &bars[k];
            let mut g = b.t + b.a * da + b.s * ds;
            if second {
                g += b.da * d2a + b.ds * d2s;
            }
            if finite { g } else { f64::NAN }
        })
        .collect();
    Ok(KlGradient {
        kl: Kl {
            kl_src_out: so.value(),
            kl_out_src: os.value(),
        },
        d_times,
    })
}

impl Prepared {
    /// DDIM and DPM-1 (one map): the KL depends on the grid only through
    /// L = ln(1 + w) = sum_k ln(1 + tau_k^2), tau_k = tan(dphi_k) (the mean error's term,
    /// (a_N m)^2 from the prior, does not depend on it), and dKL/dL = (e^-u - 1)/2 with
    /// u = ln(V/v) the output's log variance ratio. With tau^2 = lambda X^2/den^2 and
    /// den^2 + lambda X^2 = v_k v_{k-1} (Lagrange's identity),
    /// d ln(1 + tau^2) = 2 lambda X/(v_k v_{k-1}) (dX - (X/den) d den).
    fn angle_adjoint(&self, lam: f64, u: f64, bars: &mut [PointBar]) {
        let omega = 0.5 * (-u).exp_m1();
        let mut vq = Prepared::v(&self.pts[0], lam);
        for (k, st) in self.steps.iter().enumerate().map(|(j, st)| (j + 1, st)) {
            let (p, q) = (&self.pts[k], &self.pts[k - 1]);
            let vp = Prepared::v(p, lam);
            let den = st.p * lam + st.s;
            let c = omega * 2.0 * lam * st.x / (vp * vq);
            let ratio = st.x / den;
            // X = s_k a_{k-1} - s_{k-1} a_k, den = a_k a_{k-1} lambda + s_k s_{k-1}.
            bars[k].a += c * (-q.s - ratio * q.a * lam);
            bars[k].s += c * (q.a - ratio * q.s);
            bars[k - 1].a += c * (p.s - ratio * p.a * lam);
            bars[k - 1].s += c * (-p.a - ratio * p.s);
            vq = vp;
        }
    }

    /// The adjoints of the values of step k's end points (t_k, t_{k-1}) given those of the
    /// step's map: the chain rule through the formulas of [`super::lanes::step_map`].
    fn step_adjoint(&self, k: usize, lam: f64, map: &StepMap, bar: MapBar) -> (PointBar, PointBar) {
        let (p, q) = (&self.pts[k], &self.pts[k - 1]);
        let st = &self.steps[k - 1];
        let (vp, vq) = (Prepared::v(p, lam), Prepared::v(q, lam));
        let (mut bp, mut bq) = (PointBar::default(), PointBar::default());
        let (vp_bar, vq_bar);
        match self.sampler {
            Sampler::Ddim | Sampler::Dpm1 => {
                // A = den/v_k, G = den^2/(v_k v_{k-1}), den = a_k a_{k-1} lambda + s_k s_{k-1}.
                let den = st.p * lam + st.s;
                let den_bar = bar.a / vp + bar.g * 2.0 * den / (vp * vq);
                vp_bar = -(bar.a * map.a + bar.g * map.g) / vp;
                vq_bar = -bar.g * map.g / vq;
                bp.a += den_bar * lam * q.a;
                bp.s += den_bar * q.s;
                bq.a += den_bar * lam * p.a;
                bq.s += den_bar * p.s;
            }
            Sampler::Ddpm => {
                // With b = a_k/a_{k-1}, c = s_{k-1}/s_k, E = (b c)^2: A = b v_{k-1}/v_k,
                // G = b^2 v_{k-1}/v_k, q = s_{k-1}^2 (1 - E)/v_{k-1}.
                let b = p.a / q.a;
                let c = q.s / p.s;
                let x = p.s * q.a - q.s * p.a;
                let w = q.a * p.s + p.a * q.s;
                let den = q.a * p.s;
                let one_minus_e = x * w / (den * den);
                let qs2 = q.s * q.s;
                let b_bar =
                    bar.a * vq / vp + bar.g * 2.0 * map.a - bar.q * 2.0 * qs2 * b * c * c / vq;
                let c_bar = -bar.q * 2.0 * qs2 * b * b * c / vq;
                vp_bar = -(bar.a * map.a + bar.g * map.g) / vp;
                vq_bar = (bar.a * b + bar.g * b * b) / vp - bar.q * map.q / vq;
                bq.s += bar.q * 2.0 * q.s * one_minus_e / vq;
                bp.a += b_bar / q.a;
                bq.a -= b_bar * b / q.a;
                bq.s += c_bar / p.s;
                bp.s -= c_bar * c / p.s;
            }
            _ => {
                // A = 1 + (A - 1), G = A^2 v_k/v_{k-1}, q = Q/v_{k-1}.
                let a = map.a;
                let am1_bar = bar.a + bar.g * 2.0 * a * vp / vq;
                let q_var_bar = bar.q / vq;
                let (ep, eq) = self.euler_family_adjoint(
                    p,
                    q,
                    lam,
                    [am1_bar, bar.d, q_var_bar],
                    &mut bp,
                    &mut bq,
                );
                vp_bar = bar.g * a * a / vq + ep;
                vq_bar = -(bar.g * map.g + bar.q * map.q) / vq + eq;
            }
        }
        // v = a^2 lambda + s^2 at both points.
        bp.a += vp_bar * 2.0 * lam * p.a;
        bp.s += vp_bar * 2.0 * p.s;
        bq.a += vq_bar * 2.0 * lam * q.a;
        bq.s += vq_bar * 2.0 * q.s;
        (bp, bq)
    }

    /// The chain rule through the Euler family's (A - 1, D, Q) as functions of the points'
    /// values (`lanes::euler`, `lanes::heun`): `bars` are the adjoints of
    /// (A - 1, D, Q). Returns the adjoints of v_k and v_{k-1} it adds.
    fn euler_family_adjoint(
        &self,
        p: &Point,
        q: &Point,
        lam: f64,
        bars: [f64; 3],
        bp: &mut PointBar,
        bq: &mut PointBar,
    ) -> (f64, f64) {
        let [am1_bar, d_bar, var_bar] = bars;
        let h = q.t - p.t;
        let euler_d = (p.a - q.a) + h * p.da;
        let (mut vp_bar, mut vq_bar) = (0.0, 0.0);
        let h_bar = match self.sampler {
            Sampler::Heun if q.s != 0.0 => {
                // A - 1 = h kp/2 + h kq (1 + h kp)/2,
                // D = a_k - a_{k-1} + h (a'_k + a'_{k-1})/2 + h kq euler_d/2.
                let (kp, kq) = (Prepared::rate(p, lam), Prepared::rate(q, lam));
                let ed_bar = d_bar * 0.5 * h * kq;
                let kp_bar = am1_bar * 0.5 * h * (1.0 + h * kq);
                let kq_bar = am1_bar * 0.5 * h * (1.0 + h * kp) + d_bar * 0.5 * h * euler_d;
                bp.a += d_bar + ed_bar;
                bq.a -= d_bar + ed_bar;
                bp.da += d_bar * 0.5 * h + ed_bar * h;
                bq.da += d_bar * 0.5 * h;
                vp_bar += rate_adjoint(p, lam, kp_bar, bp);
                vq_bar += rate_adjoint(q, lam, kq_bar, bq);
                am1_bar * (0.5 * kp + 0.5 * kq + h * kq * kp)
                    + d_bar * (0.5 * (p.da + q.da) + 0.5 * kq * euler_d)
                    + ed_bar * p.da
            }
            Sampler::EulerMaruyama => {
                // A - 1 = h (kp + g2/(2 v_k)), D = euler_d, Q = g2 |h| (h < 0),
                // g2 = 2 s s' - 2 a' s^2/a at t_k.
                let kp = Prepared::rate(p, lam);
                let vp = Prepared::v(p, lam);
                let g2 = 2.0 * p.s * (p.ds - p.da * p.s / p.a);
                let g2_bar = am1_bar * h * 0.5 / vp + var_bar * h.abs();
                vp_bar -= am1_bar * h * 0.5 * g2 / (vp * vp);
                bp.a += d_bar;
                bq.a -= d_bar;
                bp.da += d_bar * h;
                bp.s += g2_bar * (2.0 * p.ds - 4.0 * p.da * p.s / p.a);
                bp.ds += g2_bar * 2.0 * p.s;
                bp.da -= g2_bar * 2.0 * p.s * p.s / p.a;
                bp.a += g2_bar * 2.0 * p.da * p.s * p.s / (p.a * p.a);
                vp_bar += rate_adjoint(p, lam, am1_bar * h, bp);
                am1_bar * (kp + 0.5 * g2 / vp) + d_bar * p.da - var_bar * g2
            }
            _ => {
                // Euler, and Heun with no corrector: A - 1 = h kp, D = euler_d.
                let kp = Prepared::rate(p, lam);
                bp.a += d_bar;
                bq.a -= d_bar;
                bp.da += d_bar * h;
                vp_bar += rate_adjoint(p, lam, am1_bar * h, bp);
                am1_bar * kp + d_bar * p.da
            }
        };
        // h = t_{k-1} - t_k.
        bq.t += h_bar;
        bp.t -= h_bar;
        (vp_bar, vq_bar)
    }
}

/// Adds the adjoint `k_bar` of rate = (a a' lambda + s s')/v to the point's values; returns
/// the adjoint it adds to v.
fn rate_adjoint(p: &Point, lam: f64, k_bar: f64, bar: &mut PointBar) -> f64 {
    let v = Prepared::v(p, lam);
    let n_bar = k_bar / v;
    bar.a += n_bar * p.da * lam;
    bar.da += n_bar * p.a * lam;
    bar.s += n_bar * p.ds;
    bar.ds += n_bar * p.s;
    -k_bar * Prepared::rate(p, lam) / v
}

#[cfg(test)]
mod tests {
    use super::super::super::{RectifiedFlow, Tangent, exact_kl};
    use super::*;

    fn source(eigs: &[f64], mean: &[f64]) -> GaussianSource {
        GaussianSource::from_spectrum("t", eigs.to_vec(), Some(mean.to_vec())).expect("source")
    }

    /// d KL/d t_k by central differences at steps h and h/2, Richardson-extrapolated:
    /// O(h^4) truncation, from the KL's definition only.
    fn richardson(
        sched: &dyn Schedule,
        src: &GaussianSource,
        sampler: Sampler,
        grid: &[f64],
        start: Start,
        k: usize,
        h: f64,
    ) -> f64 {
        let f = |dt: f64| {
            let mut g = grid.to_vec();
            g[k] += dt;
            exact_kl(sched, src, sampler, &g, start)
                .expect("kl")
                .kl_src_out
        };
        let d = |h: f64| (f(h) - f(-h)) / (2.0 * h);
        (4.0 * d(h / 2.0) - d(h)) / 3.0
    }

    /// A grid bunched towards 0, away from the ends where the Euler family's alpha' or
    /// the reverse SDE's coefficients are singular.
    fn grid(n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..=n)
            .map(|k| {
                let x = k as f64 / n as f64;
                lo + (hi - lo) * x * (0.4 + 0.6 * x)
            })
            .collect()
    }

    #[test]
    fn gradient_matches_extrapolated_differences_for_every_sampler() {
        let src = source(&[2.0, 0.3, 0.02], &[0.5, -1.0, 0.2]);
        let scheds: [(&dyn Schedule, f64, f64); 2] = [
            (&Tangent { gamma: 0.7 }, 0.0, 0.97),
            (&RectifiedFlow, 0.01, 0.98),
        ];
        for (sched, lo, hi) in scheds {
            for sampler in Sampler::ALL {
                for start in [Start::Prior, Start::Exact] {
                    let g = grid(7, lo, hi);
                    let got = exact_kl_gradient(sched, &src, sampler, &g, start).expect("gradient");
                    let kl = exact_kl(sched, &src, sampler, &g, start).expect("kl");
                    assert_eq!(got.kl, kl, "the KL is exact_kl's");
                    let want: Vec<f64> = (1..7)
                        .map(|k| richardson(sched, &src, sampler, &g, start, k, 1e-4))
                        .collect();
                    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                    for (k, (a, b)) in got.d_times.iter().zip(&want).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-7 * scale,
                            "{} {start:?} t_{}: {a} vs {b} (scale {scale})",
                            sampler.name(),
                            k + 1
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ddim_gradient_matches_the_angle_form() {
        // One direction from the exact start: KL = (e^-u - 1 + u)/2, u = sum_k 2 ln cos(dphi_k),
        // phi = atan(rho/sqrt(l)), rho = gamma tan(pi t/2). By hand:
        // dKL/dt_k = (1 - e^-u)/2 * 2 phi'(t_k) (tan(dphi_{k+1}) - tan(dphi_k)),
        // phi' = (pi/2) (gamma/sqrt l) sec^2(pi t/2) / (1 + rho^2/l).
        let (l, gamma) = (0.4f64, 1.3f64);
        let sched = Tangent { gamma };
        let src = source(&[l], &[0.0]);
        let g = grid(9, 0.0, 1.0);
        let phi = |t: f64| (gamma * (std::f64::consts::FRAC_PI_2 * t).tan() / l.sqrt()).atan();
        let dphi = |t: f64| {
            let th = std::f64::consts::FRAC_PI_2 * t;
            let rho = gamma * th.tan();
            std::f64::consts::FRAC_PI_2 * gamma
                / l.sqrt()
                / (th.cos().powi(2) * (1.0 + rho * rho / l))
        };
        let mut phis: Vec<f64> = g.iter().map(|&t| phi(t)).collect();
        phis[9] = std::f64::consts::FRAC_PI_2;
        let u: f64 = phis
            .windows(2)
            .map(|w| 2.0 * (w[1] - w[0]).cos().ln())
            .sum();
        for sampler in [Sampler::Ddim, Sampler::Dpm1] {
            let got = exact_kl_gradient(&sched, &src, sampler, &g, Start::Exact).expect("gradient");
            for k in 1..9 {
                let want = 0.5
                    * (1.0 - (-u).exp())
                    * 2.0
                    * dphi(g[k])
                    * ((phis[k + 1] - phis[k]).tan() - (phis[k] - phis[k - 1]).tan());
                let a = got.d_times[k - 1];
                assert!(
                    (a - want).abs() <= 1e-10 * want.abs(),
                    "{} t_{k}: {a} vs {want}",
                    sampler.name()
                );
            }
        }
    }

    #[test]
    fn angle_form_and_general_recursion_agree() {
        let src = source(&[2.0, 0.3, 0.02, 1e-4], &[0.5, -1.0, 0.2, 3.0]);
        let sched = Tangent { gamma: 0.2 };
        for sampler in [Sampler::Ddim, Sampler::Dpm1] {
            for start in [Start::Prior, Start::Exact] {
                let g = grid(30, 0.0, 1.0);
                let a = gradient(&sched, &src, sampler, &g, start, 1, true).expect("angle");
                let b = gradient(&sched, &src, sampler, &g, start, 1, false).expect("general");
                assert_eq!(a.kl, b.kl);
                let scale = b.d_times.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                for (x, y) in a.d_times.iter().zip(&b.d_times) {
                    assert!((x - y).abs() <= 1e-12 * scale, "{x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn gradient_does_not_depend_on_threads() {
        let eigs: Vec<f64> = (1..=9000).map(|k| (k as f64).powf(-1.2)).collect();
        let src = GaussianSource::from_spectrum("p", eigs, None).expect("source");
        let sched = Tangent { gamma: 0.5 };
        let g = grid(12, 0.0, 0.99);
        for sampler in [Sampler::Ddim, Sampler::Heun] {
            let one = exact_kl_gradient_with_workers(&sched, &src, sampler, &g, Start::Prior, 1)
                .expect("1");
            let three = exact_kl_gradient_with_workers(&sched, &src, sampler, &g, Start::Prior, 3)
                .expect("3");
            assert_eq!(one, three);
        }
    }
}
