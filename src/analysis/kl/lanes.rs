//! The per-direction recursion of the exact KL, run on blocks of directions at once.
//!
//! Each step's direction-independent coefficients ([`Step`]) are formed once; per direction
//! and step what is left is a short, branch-free sequence of multiplications, additions, one
//! division and a select, which the compiler vectorises over a block of [`LANES`]
//! directions held as structure-of-arrays (a block's state fits in L1, and each step's
//! coefficients are loaded once per block). No transcendental function is called per step:
//! the change of `V/v - 1`, `G - 1 + q`, is a ratio whose numerator is formed from per-step
//! coefficients (Taylor remainders of a^2 and s^2, in double-double from the exact f64
//! schedule values) and the direction's rates (docs/theory.md section 4). While A is near 1,
//! for Euler and Euler-Maruyama its terms are of the order of the result, O(h^2); for Heun
//! two O(h^2) terms remain that cancel to the O(h^3) result, a relative error of order eps/h
//! (the logarithms this replaces cost eps/h^2). Far from 1 (|A - 1| >= 1/2) G - 1 + q is
//! formed from G, and A from a numerator without cancellation.
//!
//! The scalar path (one direction, [`Prepared::law`] and the gradient's traced recursion)
//! runs the same `#[inline(always)]` arithmetic per lane, so its results are bit-identical
//! to the blocked path's: IEEE operations are lane-independent and nothing is contracted
//! or reassociated.

use super::{DirectionLaw, Prepared, Start, StepMap};

/// Directions advanced together. Seven arrays of 256 f64 (14 KiB) stay in L1.
pub(super) const LANES: usize = 256;

/// One step's direction-independent coefficients, from t_k (`p`) to t_{k-1} (`q`). With
/// v = a^2 lambda + s^2 the true marginal's variance, each field is named in terms of the
/// two points' values a, s and derivatives a', s', and h = t_{k-1} - t_k < 0.
#[derive(Clone, Copy, Debug)]
pub(super) struct Step {
    /// a_q^2 and s_q^2: v at t_{k-1} is `aq2 lambda + sq2`.
    pub aq2: f64,
    pub sq2: f64,
    /// X = s_p a_q - s_q a_p, X^2, P = a_p a_q, S = s_p s_q.
    pub x: f64,
    pub x2: f64,
    pub p: f64,
    pub s: f64,
    pub map: Map,
}

/// The map a step applies, with the coefficients only it needs.
#[derive(Clone, Copy, Debug)]
pub(super) enum Map {
    /// DDIM, in the angle form; as a general recursion (the gradient's check), DPM-1's map.
    Ddim,
    Dpm1,
    Ddpm(Posterior),
    /// Euler, Heun's step to sigma = 0 (no corrector), and Euler-Maruyama.
    Euler(Drift),
    Heun(Trapezoid),
}

/// DDPM's step: a_p/a_q; the posterior variance s_q^2 (1 - E); and
/// X^2 (a_q s_p + a_p s_q)^2 / (a_q s_p)^2, the numerator of G + q - 1.
#[derive(Clone, Copy, Debug)]
pub(super) struct Posterior {
    pub ratio: f64,
    pub post_var: f64,
    pub shrink: f64,
}

/// An Euler step on the probability-flow ODE or the reverse SDE. The rate's numerator is
/// w = c1 lambda + c2 = a a' lambda + s s' (plus g2/2 in c2 for Euler-Maruyama) at t_k.
#[derive(Clone, Copy, Debug)]
pub(super) struct Drift {
    pub h: f64,
    pub c1: f64,
    pub c2: f64,
    /// A = (e1 lambda + e2)/v_p with e1 = a_p^2 + h c1 and e2 = s_p^2 + h c2 (double-double,
    /// rounded once): A without the cancellation of 1 + (A - 1) where A is far from 1 (a
    /// step to sigma = 0 of a small eigenvalue, where A is near 0).
    pub e1: f64,
    pub e2: f64,
    /// The numerator of G - 1 + q without the direction's rate: `alpha2 lambda + sigma2`
    /// with alpha2 = a_p^2 - a_q^2 + 2 h a_p a'_p, sigma2 alike (O(h^2) each).
    pub alpha2: f64,
    pub sigma2: f64,
    /// D = a_p - a_q + h a'_p, the alpha trajectory's local error, O(h^2).
    pub d: f64,
    /// The injected variance g2 |h| (Euler-Maruyama; 0 on the ODE).
    pub q_var: f64,
}

/// Heun's step (Euler predictor, trapezoid corrector): the rates' numerators at both ends,
/// w_p = c1p lambda + c2p and w_q = c1q lambda + c2q.
#[derive(Clone, Copy, Debug)]
pub(super) struct Trapezoid {
    pub h: f64,
    pub c1p: f64,
    pub c2p: f64,
    pub c1q: f64,
    pub c2q: f64,
    /// The Euler predictor's A = (e1 lambda + e2)/v_p, as [`Drift::e1`] and [`Drift::e2`].
    pub e1: f64,
    pub e2: f64,
    /// alpha2 = a_p^2 - a_q^2 + h (a_p a'_p + a_q a'_q), O(h^3), sigma2 alike.
    pub alpha2: f64,
    pub sigma2: f64,
    /// a_p^2 - a_q^2 + h a_p a'_p and its sigma counterpart, so that
    /// v_p - v_q + h w_p = `gamma_a lambda + gamma_s` (O(h)).
    pub gamma_a: f64,
    pub gamma_s: f64,
    /// D = `d + d_rate k_q`: a_p - a_q + h (a'_p + a'_q)/2 and h/2 (a_p - a_q + h a'_p).
    pub d: f64,
    pub d_rate: f64,
}

/// DPM-1: A = c = (P lambda + S)/v_p, G = c^2 v_p/v_q, G - 1 = -lambda X^2/(v_p v_q)
/// (Lagrange's identity v_p v_q - (P lambda + S)^2 = lambda X^2).
#[inline(always)]
fn dpm1(c: &Step, l: f64, ip: f64, iq: f64) -> StepMap {
    let den = c.p * l + c.s;
    let a = den * ip;
    StepMap {
        a,
        d: 0.0,
        // Not den^2/(v_p v_q): den^2 overflows for eigenvalues beyond 1e154.
        g: a * (den * iq),
        q: -0.0,
        gq1: -(l * c.x2) * (ip * iq),
    }
}

/// DDPM: A = (a_p/a_q) v_q/v_p, G = (a_p/a_q)^2 v_q/v_p, q = s_q^2 (1 - E)/v_q and
/// G + q - 1 = -lambda X^2 (a_q s_p + a_p s_q)^2 / ((a_q s_p)^2 v_p v_q).
#[inline(always)]
fn ddpm(k: &Posterior, l: f64, ip: f64, vq: f64, iq: f64) -> StepMap {
    let a = k.ratio * (vq * ip);
    StepMap {
        a,
        d: 0.0,
        g: a * k.ratio,
        q: k.post_var * iq,
        gq1: -(l * k.shrink) * (ip * iq),
    }
}

/// Euler and Euler-Maruyama: A - 1 = h w/v_p, and A^2 v_p - v_q + Q =
/// alpha2 lambda + sigma2 + h w (A - 1), the injected noise of Euler-Maruyama cancelling
/// its drift's g2 term exactly.
/// `NOISE` false: no injected variance, q = -0 (an addition of -0 changes no value, so
/// the compiler drops it).
#[inline(always)]
fn euler<const NOISE: bool>(k: &Drift, l: f64, vp: f64, ip: f64, iq: f64) -> StepMap {
    let hw = k.h * (l * k.c1 + k.c2);
    let am1 = hw * ip;
    let a = (l * k.e1 + k.e2) * ip;
    let g = a * a * (vp * iq);
    let q = if NOISE { k.q_var * iq } else { -0.0 };
    // The numerator's terms are of the order of the result while A - 1 is small; far from
    // it (A near 0 or above 3/2) G itself is accurate and G - 1 + q cancels no more.
    let small = (l * k.alpha2 + k.sigma2 + hw * am1) * iq;
    StepMap {
        a,
        d: k.d,
        g,
        q,
        gq1: if am1.abs() < 0.5 { small } else { g - 1.0 + q },
    }
}

/// Heun: A - 1 = h k_p/2 + h k_q (1 + h k_p)/2 with k = w/v, and
/// A^2 v_p - v_q = alpha2 lambda + sigma2 + h k_q (v_p - v_q + h w_p) + (A - 1)^2 v_p.
#[inline(always)]
fn heun(k: &Trapezoid, l: f64, vp: f64, ip: f64, iq: f64) -> StepMap {
    let kp = (l * k.c1p + k.c2p) * ip;
    let kq = (l * k.c1q + k.c2q) * iq;
    let half_h = 0.5 * k.h;
    // 1 + h k_p, the predictor's A, cancels where it is near 0 (the step towards sigma = 0
    // of a small eigenvalue): formed from its own numerator instead.
    let predictor = (l * k.e1 + k.e2) * ip;
    let am1 = half_h * kp + half_h * kq * predictor;
    let a = 1.0 + am1;
    let g = a * a * (vp * iq);
    let num = l * k.alpha2 + k.sigma2 + k.h * kq * (l * k.gamma_a + k.gamma_s) + am1 * am1 * vp;
    StepMap {
        a,
        d: k.d + k.d_rate * kq,
        g,
        q: -0.0,
        // As for Euler: the numerator while A - 1 is small, G - 1 beyond.
        gq1: if am1.abs() < 0.5 { num * iq } else { g - 1.0 },
    }
}

/// The map of step `c` for the direction `l`, with v and 1/v at both ends.
#[inline(always)]
pub(super) fn step_map(c: &Step, l: f64, vp: f64, ip: f64, vq: f64, iq: f64) -> StepMap {
    match &c.map {
        Map::Dpm1 | Map::Ddim => dpm1(c, l, ip, iq),
        Map::Ddpm(k) => ddpm(k, l, ip, vq, iq),
        Map::Euler(k) if k.q_var == 0.0 => euler::<false>(k, l, vp, ip, iq),
        Map::Euler(k) => euler::<true>(k, l, vp, ip, iq),
        Map::Heun(k) => heun(k, l, vp, ip, iq),
    }
}

/// One direction's state: r = V/v, e = r - 1 (while |e| < 1/2), the mean error mu, and v
/// with its reciprocal at the current time.
#[derive(Clone, Copy, Debug)]
pub(super) struct State {
    pub r: f64,
    pub e: f64,
    pub mu: f64,
    pub v: f64,
    pub iv: f64,
}

impl State {
    /// The state at t_N for the direction (l, m): the prior's or the true marginal's law.
    #[inline(always)]
    pub fn start(prep: &Prepared, l: f64, m: f64) -> State {
        let last = &prep.pts[prep.pts.len() - 1];
        let vn = Prepared::v(last, l);
        let iv = 1.0 / vn;
        match prep.start {
            Start::Exact => State {
                r: 1.0,
                e: 0.0,
                mu: 0.0,
                v: vn,
                iv,
            },
            Start::Prior => State {
                r: iv,
                e: (1.0 - vn) * iv,
                mu: -last.a * m,
                v: vn,
                iv,
            },
        }
    }

    /// Applies `s` (the step to a time where v is `vq`): r' = G r + q, and
    /// r' - 1 = G (r - 1) + (G - 1 + q) while |r - 1| is small (no cancellation there), r'
    /// itself far from 1 (where r held as 1 + e would lose r's digits).
    #[inline(always)]
    pub fn advance(&mut self, s: &StepMap, m: f64, vq: f64, iq: f64) {
        let r_next = s.g * self.r + s.q;
        let e_small = s.g * self.e + s.gq1;
        self.e = if self.e.abs() < 0.5 {
            e_small
        } else {
            r_next - 1.0
        };
        self.r = r_next;
        self.mu = s.a * self.mu + s.d * m;
        self.v = vq;
        self.iv = iq;
    }

    /// The output law at t_0, where `v` is the true marginal's variance.
    #[inline(always)]
    pub fn law(&self) -> DirectionLaw {
        let log_var_ratio = if self.e.abs() < 0.5 {
            self.e.ln_1p()
        } else if self.r > 0.0 {
            self.r.ln()
        } else {
            f64::NEG_INFINITY
        };
        DirectionLaw {
            log_var_ratio,
            mean_error: self.mu,
            ref_var: self.v,
        }
    }
}

/// DDIM's angle form: prod_k cos^2(dphi_k) = 1/(1 + w), 1 + tan^2 multiplied in as
/// w <- w + (tau^2 + w tau^2) (no rounding of a 1 + small). A step with c = 0 maps every x
/// to one point (cos(dphi) = 0): V = 0, w = inf from there on.
#[inline(always)]
pub(super) fn ddim_advance(c: &Step, l: f64, w: f64) -> f64 {
    let den = c.p * l + c.s;
    let tau2 = l * c.x2 / (den * den);
    let next = w + (tau2 + w * tau2);
    if den == 0.0 || w == f64::INFINITY {
        f64::INFINITY
    } else {
        next
    }
}

/// A block of up to `L` directions in structure-of-arrays form.
pub(super) struct Lanes<const L: usize> {
    n: usize,
    lam: [f64; L],
    m: [f64; L],
    r: [f64; L],
    e: [f64; L],
    mu: [f64; L],
    v: [f64; L],
    iv: [f64; L],
}

impl<const L: usize> Lanes<L> {
    pub fn new() -> Lanes<L> {
        Lanes {
            n: 0,
            lam: [0.0; L],
            m: [0.0; L],
            r: [0.0; L],
            e: [0.0; L],
            mu: [0.0; L],
            v: [0.0; L],
            iv: [0.0; L],
        }
    }

    /// The output laws of the directions (eigenvalue, mean) `dirs` (at most L), given to
    /// `out` in order.
    pub fn laws(
        &mut self,
        prep: &Prepared,
        dirs: impl Iterator<Item = (f64, f64)>,
        mut out: impl FnMut(DirectionLaw),
    ) {
        self.n = 0;
        for (l, m) in dirs {
            self.lam[self.n] = l;
            self.m[self.n] = m;
            self.n += 1;
        }
        if prep.sampler == super::Sampler::Ddim {
            self.ddim(prep);
            for i in 0..self.n {
                out(prep.ddim_law(self.lam[i], self.m[i], self.e[i]));
            }
            return;
        }
        for i in 0..self.n {
            self.store(i, State::start(prep, self.lam[i], self.m[i]));
        }
        for c in prep.steps.iter().rev() {
            match &c.map {
                Map::Dpm1 | Map::Ddim => self.advance(c, |l, _, ip, _, iq| dpm1(c, l, ip, iq)),
                Map::Ddpm(k) => self.advance(c, |l, _, ip, vq, iq| ddpm(k, l, ip, vq, iq)),
                Map::Euler(k) if k.q_var == 0.0 => {
                    self.advance(c, |l, vp, ip, _, iq| euler::<false>(k, l, vp, ip, iq))
                }
                Map::Euler(k) => {
                    self.advance(c, |l, vp, ip, _, iq| euler::<true>(k, l, vp, ip, iq))
                }
                Map::Heun(k) => self.advance(c, |l, vp, ip, _, iq| heun(k, l, vp, ip, iq)),
            }
        }
        for i in 0..self.n {
            out(self.load(i).law());
        }
    }

    fn store(&mut self, i: usize, s: State) {
        self.r[i] = s.r;
        self.e[i] = s.e;
        self.mu[i] = s.mu;
        self.v[i] = s.v;
        self.iv[i] = s.iv;
    }

    fn load(&self, i: usize) -> State {
        State {
            r: self.r[i],
            e: self.e[i],
            mu: self.mu[i],
            v: self.v[i],
            iv: self.iv[i],
        }
    }

    /// One step on every lane: `map` gives the step's map from (lambda, v_p, 1/v_p, v_q,
    /// 1/v_q). On x86-64 with AVX2, the same loop compiled for four lanes a vector: the same
    /// IEEE operations on each lane, so the same bits (nothing is fused or reassociated).
    /// Not inlined: inlined into [`Lanes::laws`], the loop was left scalar (LLVM 20).
    #[inline(never)]
    fn advance(&mut self, c: &Step, map: impl Fn(f64, f64, f64, f64, f64) -> StepMap) {
        #[cfg(target_arch = "x86_64")]
        if L > 1 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `advance_avx2` requires AVX2 and nothing else; the CPU has it.
            unsafe { self.advance_avx2(c, map) };
            return;
        }
        self.advance_lanes(c, map);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn advance_avx2(&mut self, c: &Step, map: impl Fn(f64, f64, f64, f64, f64) -> StepMap) {
        self.advance_lanes(c, map);
    }

    #[inline(always)]
    fn advance_lanes(&mut self, c: &Step, map: impl Fn(f64, f64, f64, f64, f64) -> StepMap) {
        let n = self.n;
        let (lam, m) = (&self.lam[..n], &self.m[..n]);
        let (r, e, mu) = (&mut self.r[..n], &mut self.e[..n], &mut self.mu[..n]);
        let (v, iv) = (&mut self.v[..n], &mut self.iv[..n]);
        for i in 0..n {
            let l = lam[i];
            let vq = c.aq2 * l + c.sq2;
            let iq = 1.0 / vq;
            let s = map(l, v[i], iv[i], vq, iq);
            let mut st = State {
                r: r[i],
                e: e[i],
                mu: mu[i],
                v: v[i],
                iv: iv[i],
            };
            st.advance(&s, m[i], vq, iq);
            (r[i], e[i], mu[i], v[i], iv[i]) = (st.r, st.e, st.mu, st.v, st.iv);
        }
    }

    /// DDIM's w on every lane (held in `e`), over the steps in ascending order; with AVX2
    /// as [`Lanes::advance`].
    #[inline(never)]
    fn ddim(&mut self, prep: &Prepared) {
        #[cfg(target_arch = "x86_64")]
        if L > 1 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `ddim_avx2` requires AVX2 and nothing else; the CPU has it.
            unsafe { self.ddim_avx2(prep) };
            return;
        }
        self.ddim_lanes(prep);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn ddim_avx2(&mut self, prep: &Prepared) {
        self.ddim_lanes(prep);
    }

    #[inline(always)]
    fn ddim_lanes(&mut self, prep: &Prepared) {
        let n = self.n;
        let (lam, w) = (&self.lam[..n], &mut self.e[..n]);
        w.fill(0.0);
        for c in &prep.steps {
            for i in 0..n {
                w[i] = ddim_advance(c, lam[i], w[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{RectifiedFlow, Schedule, Tangent};
    use super::super::{Sampler, Start};
    use super::*;

    /// A block of LANES directions (vectorised, AVX2 where the CPU has it) gives the laws
    /// of one-direction blocks (scalar) bit for bit: the gradient's traced recursion and
    /// `exact_kl` must agree exactly.
    #[test]
    fn blocks_and_single_directions_agree_bit_for_bit() {
        // Eigenvalues over 60 decades (steps near the identity and far from it) and means of
        // both signs; 300 directions make a full block and a partial one.
        let dirs: Vec<(f64, f64)> = (0..300)
            .map(|i| {
                let x = f64::from(i) / 299.0;
                (10f64.powf(-30.0 + 60.0 * x), (7.0 * x).sin() * 3.0)
            })
            .collect();
        let scheds: [(&dyn Schedule, f64, f64); 2] = [
            (&Tangent { gamma: 0.4 }, 0.0, 0.995),
            (&RectifiedFlow, 0.001, 0.999),
        ];
        for (sched, lo, hi) in scheds {
            for n in [1, 7, 200] {
                let grid: Vec<f64> = (0..=n)
                    .map(|k| lo + (hi - lo) * (f64::from(k) / f64::from(n)).powi(2))
                    .collect();
                for sampler in Sampler::ALL {
                    for start in [Start::Prior, Start::Exact] {
                        let prep = Prepared::new(sched, sampler, &grid, start).expect("defined");
                        let mut blocked = Vec::new();
                        let mut lanes = Lanes::<LANES>::new();
                        for block in dirs.chunks(LANES) {
                            lanes.laws(&prep, block.iter().copied(), |l| blocked.push(l));
                        }
                        for (law, &(l, m)) in blocked.iter().zip(&dirs) {
                            let one = prep.law(l, m);
                            let bits = |d: &DirectionLaw| {
                                [d.log_var_ratio, d.mean_error, d.ref_var].map(f64::to_bits)
                            };
                            assert_eq!(bits(law), bits(&one), "{sampler:?} {start:?} N = {n}");
                            if sampler != Sampler::Ddim {
                                let traced = prep.affine_traced(l, m, |_, _| {});
                                assert_eq!(bits(&traced), bits(&one));
                            }
                        }
                    }
                }
            }
        }
    }
}
