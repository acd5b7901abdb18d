//! The linearised spectrum of kernel drifting (docs/theory.md section 8): the rate
//! gamma(xi) = |xi|^2 Phi_hat(xi)/Z at which the drift flow damps a Fourier mode of q - p
//! around a uniform background, in closed form for the Gaussian and Laplace kernels and by a
//! radial Fourier transform for any other profile, and the damping accumulated under
//! bandwidth annealing.
//!
//! Conventions: f_hat(xi) = int f(x) e^{-i xi.x} dx (angular frequency), Z = int k(|z|) dz
//! over R^d, Phi(r) = int_r^inf s k(s) ds. Linearising dq/dt = -div(q V_{p,q}) with
//! p = rho0 (1 + eps a), q = rho0 (1 + eps b) gives d(b - a)^/dt = -gamma (b - a)^ to first
//! order in eps (derivation in the theory section).

use std::f64::consts::{E, FRAC_1_SQRT_2, PI};

use super::Kernel;
use crate::analysis::numerics::Sum;
use crate::analysis::quadrature::gauss_legendre;

/// Largest dimension of the closed forms (the Laplace rate's exponent (d + 3)/2 stays
/// exactly representable and its powers well within f64 far beyond this).
pub const MAX_DIMENSION: usize = 1000;
/// Largest dimension of the numerical radial transform (cosine, Bessel J1 and spherical
/// weights for d = 1, 2, 3).
pub const MAX_NUMERIC_DIMENSION: usize = 3;
/// Largest frequency, annealing rate and duration accepted.
pub const MAX_VALUE: f64 = 1e100;

/// Why a spectrum cannot be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SpectrumError {
    #[error("dimension {0} is outside 1..={1}")]
    Dimension(usize, usize),
    #[error("frequency {0:e} is not a number in [0, 1e100]")]
    Frequency(f64),
    #[error("{0}")]
    Annealing(String),
    #[error("the profile is {value} at r = {r}: it must be finite for r >= 0")]
    NotFinite { r: f64, value: f64 },
    #[error("the integral of the kernel over R^d is {0}: it must be finite and positive")]
    Mass(f64),
    #[error(
        "the radial transform at xi = {xi} does not converge within the work bound of 40000 Gauss panels for all frequencies together: the profile decays too slowly (k(r) must fall well below r^-(d+1)), or the frequencies are too high (a panel spans at most half a period)"
    )]
    NoConvergence { xi: f64 },
}

/// A decay rate and its error estimate (0 for a closed form).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub gamma: f64,
    pub error: f64,
}

/// How the rates were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    ClosedForm,
    Quadrature,
}

/// Checks a dimension for `kernel`: closed forms up to [`MAX_DIMENSION`], the numerical
/// transform up to [`MAX_NUMERIC_DIMENSION`].
pub fn check_dimension(kernel: &Kernel, d: usize) -> Result<(), SpectrumError> {
    let max = match kernel {
        Kernel::Radial(_) => MAX_NUMERIC_DIMENSION,
        _ => MAX_DIMENSION,
    };
    if (1..=max).contains(&d) {
        Ok(())
    } else {
        Err(SpectrumError::Dimension(d, max))
    }
}

/// Checks a frequency: finite, in [0, 1e100].
pub fn check_frequency(xi: f64) -> Result<(), SpectrumError> {
    if (0.0..=MAX_VALUE).contains(&xi) {
        Ok(())
    } else {
        Err(SpectrumError::Frequency(xi))
    }
}

/// Gaussian kernel exp(-r^2/(2 h^2)): gamma = h^2 xi^2 exp(-h^2 xi^2/2), in every dimension.
pub fn gaussian_rate(h: f64, xi: f64) -> f64 {
    let u = (h * xi) * (h * xi);
    if u.is_finite() {
        u * (-u / 2.0).exp()
    } else {
        0.0
    }
}

/// ln(1 + s^2) without overflow of s^2.
fn ln1p_sq(s: f64) -> f64 {
    if s > 1e100 {
        2.0 * s.ln() + (1.0 / s / s).ln_1p()
    } else {
        (s * s).ln_1p()
    }
}

/// Laplace kernel exp(-r/tau) in d dimensions:
/// gamma = (d + 1) tau^2 xi^2 (1 + tau^2 xi^2)^{-(d+3)/2}.
pub fn laplace_rate(tau: f64, d: usize, xi: f64) -> f64 {
    let s = tau * xi;
    if s == 0.0 {
        return 0.0;
    }
    let n = (d + 1) as f64;
    // (d + 1) u/(1 + u) (1 + u)^{-(d+1)/2}, u = s^2: no overflow of u(1 + u)^-p.
    let u = s * s;
    let w = if u.is_finite() { u / (1.0 + u) } else { 1.0 };
    n * w * (-(n / 2.0) * ln1p_sq(s)).exp()
}

/// The largest rate and the frequency where it is reached: (xi*, gamma(xi*)).
/// Gaussian: xi* = sqrt(2)/h, gamma = 2/e. Laplace: xi* = sqrt(2/(d + 1))/tau,
/// gamma = 2 ((d + 1)/(d + 3))^{(d+3)/2}. None for a radial profile.
pub fn peak(kernel: &Kernel, d: usize) -> Option<(f64, f64)> {
    match kernel {
        Kernel::Gaussian { h } => Some((2f64.sqrt() / h, 2.0 / E)),
        Kernel::Laplace { tau } => {
            let n = (d + 1) as f64;
            Some((
                (2.0 / n).sqrt() / tau,
                2.0 * (((d + 1) as f64) / ((d + 3) as f64)).powf((d + 3) as f64 / 2.0),
            ))
        }
        Kernel::Radial(_) => None,
    }
}

/// The rates of `kernel` in dimension `d` at the frequencies `xis` (each checked).
pub fn rates(kernel: &Kernel, d: usize, xis: &[f64]) -> Result<(Method, Vec<Rate>), SpectrumError> {
    check_dimension(kernel, d)?;
    for &xi in xis {
        check_frequency(xi)?;
    }
    let exact = |g: f64| Rate {
        gamma: g,
        error: 0.0,
    };
    Ok(match kernel {
        Kernel::Gaussian { h } => (
            Method::ClosedForm,
            xis.iter().map(|&xi| exact(gaussian_rate(*h, xi))).collect(),
        ),
        Kernel::Laplace { tau } => (
            Method::ClosedForm,
            xis.iter()
                .map(|&xi| exact(laplace_rate(*tau, d, xi)))
                .collect(),
        ),
        Kernel::Radial(p) => (Method::Quadrature, radial_rates(&|r| p.at(r), d, xis)?),
    })
}

/// Bandwidth annealing h(t) = h0 e^{-r t} on [0, T] (for the Laplace kernel h is tau).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anneal {
    pub h0: f64,
    pub rate: f64,
    pub duration: f64,
}

impl Anneal {
    /// Checks h0 in the bandwidth range, r and T in (0, 1e100].
    pub fn new(h0: f64, rate: f64, duration: f64) -> Result<Anneal, SpectrumError> {
        let bw = super::MAX_BANDWIDTH;
        if !(1.0 / bw..=bw).contains(&h0) {
            return Err(SpectrumError::Annealing(format!(
                "the initial bandwidth h0 = {h0} must be a positive number in [1e-100, 1e100]"
            )));
        }
        for (name, v) in [("rate r", rate), ("duration T", duration)] {
            if !(v > 0.0 && v <= MAX_VALUE) {
                return Err(SpectrumError::Annealing(format!(
                    "the annealing {name} = {v} must be a positive number at most 1e100"
                )));
            }
        }
        Ok(Anneal { h0, rate, duration })
    }

    /// The bandwidth at the end, h0 e^{-r T}.
    pub fn final_bandwidth(&self) -> f64 {
        self.h0 * (-self.rate * self.duration).exp()
    }
}

/// What annealing accumulates at one frequency: int_0^T gamma(xi; h(t)) dt, against a
/// fixed bandwidth h0 and a fixed bandwidth h(T) over the same time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accumulated {
    pub annealed: f64,
    pub fixed_initial: f64,
    pub fixed_final: f64,
}

/// Accumulated damping under annealing, in closed form. Substituting u = h(t)^2 xi^2
/// (du = -2 r u dt) turns int gamma dt into (1/(2r)) int_{u_T}^{u_0} gamma(u)/u du:
/// Gaussian (e^{-u_T/2} - e^{-u_0/2})/r; Laplace ((1 + u_T)^{-(d+1)/2} - (1 + u_0)^{-(d+1)/2})/r.
/// A radial profile has no bandwidth: None.
pub fn accumulated(
    kernel: &Kernel,
    d: usize,
    anneal: &Anneal,
    xi: f64,
) -> Result<Option<Accumulated>, SpectrumError> {
    check_dimension(kernel, d)?;
    check_frequency(xi)?;
    let Anneal {
        h0,
        rate: r,
        duration: t,
    } = *anneal;
    let h_t = anneal.final_bandwidth();
    // 1 - e^{-2 r T} > 0, without cancellation.
    let shrink = -(-2.0 * r * t).exp_m1();
    let annealed = match kernel {
        Kernel::Gaussian { .. } => {
            // u = h^2 xi^2/2 here; e^{-u_T} (1 - e^{-(u_0 - u_T)}) / r.
            let s0 = h0 * xi;
            let st = h_t * xi;
            let ut = if (st * st).is_finite() {
                st * st / 2.0
            } else {
                f64::INFINITY
            };
            if !ut.is_finite() {
                0.0
            } else {
                let u0 = s0 * s0 / 2.0;
                let diff = if u0.is_finite() {
                    u0 * shrink
                } else {
                    f64::INFINITY
                };
                (-ut).exp() * -(-diff).exp_m1() / r
            }
        }
        Kernel::Laplace { .. } => {
            let p = (d + 1) as f64 / 2.0;
            let (s0, st) = (h0 * xi, h_t * xi);
            if s0 == 0.0 {
                0.0
            } else {
                // ln((1 + u_T)/(1 + u_0)) < 0, without cancellation.
                let ln_ratio = if s0 <= 1e100 {
                    let u0 = s0 * s0;
                    (-(u0 * shrink) / (1.0 + u0)).ln_1p()
                } else {
                    let inv = |s: f64| if s > 0.0 { (1.0 / s / s).ln_1p() } else { 0.0 };
                    if st > 1e100 {
                        -2.0 * r * t + inv(st) - inv(s0)
                    } else {
                        ln1p_sq(st) - ln1p_sq(s0)
                    }
                };
                (-p * ln1p_sq(st)).exp() * -(p * ln_ratio).exp_m1() / r
            }
        }
        Kernel::Radial(_) => return Ok(None),
    };
    let fixed = |h: f64| match kernel {
        Kernel::Gaussian { .. } => gaussian_rate(h, xi),
        _ => laplace_rate(h, d, xi),
    };
    Ok(Some(Accumulated {
        annealed,
        fixed_initial: t * fixed(h0),
        fixed_final: t * fixed(h_t),
    }))
}

// --- The numerical radial transform -------------------------------------------------------

/// Relative agreement of the 16- and 32-point Gauss rules that accepts a panel.
const PANEL_TOL: f64 = 1e-14;
/// Deepest bisection of a panel.
const MAX_DEPTH: usize = 24;
/// Most panels (after splitting to half-periods and bisection) for all the integrals of one
/// call of [`radial_rates`]: the work bound (a few seconds for a profile of a dozen nodes).
const MAX_PANELS: usize = 40_000;
/// A piece (a doubling panel, or a half-period of one) whose |f| integral and end value
/// r |f(r)| are below this fraction of the total counts as negligible; two in a row end
/// the integral.
const TAIL_TOL: f64 = 1e-17;
/// The first panel is [0, 2^-FIRST], then panels double.
const FIRST: i32 = 40;
/// The last doubling panel ends at 2^LAST (an integrand still alive there does not converge).
const LAST: i32 = 80;

/// An integral over [0, inf) and its error estimate: the differences of the two rules, the
/// last tail term, and the rounding of the sum (a few ulps of the integral of |f|, which
/// dominates where an oscillating integrand cancels to a small value).
struct Integral {
    value: f64,
    error: f64,
}

/// The rounding allowance, in units of the integral of |f|.
const ROUNDING: f64 = 4.0 * f64::EPSILON;

struct Rules {
    g16: Vec<(f64, f64)>,
    g32: Vec<(f64, f64)>,
}

/// int_0^inf f(r) dr where `envelope(r)` bounds |f| without its oscillating factor, on
/// panels doubling from 2^-40, each cut into pieces at most `half_period` long (when f
/// oscillates) and bisected until the 16- and 32-point Gauss rules agree.
fn integrate(
    budget: &mut usize,
    rules: &Rules,
    f: &dyn Fn(f64) -> Result<f64, SpectrumError>,
    envelope: &dyn Fn(f64) -> Result<f64, SpectrumError>,
    half_period: Option<f64>,
) -> Result<Option<Integral>, SpectrumError> {
    let mut sum = Sum::new();
    let mut abs = Sum::new();
    let mut err = 0.0;
    let mut left = *budget;
    let mut quiet = 0;
    let mut a = 0.0;
    for j in -FIRST..=LAST {
        let b = 2f64.powi(j);
        // At most 2^53 pieces: beyond the budget anyway.
        let pieces = half_period.map_or(1.0, |p| ((b - a) / p).ceil().clamp(1.0, 9e15));
        let pieces = pieces as u64;
        for i in 0..pieces {
            let mut piece_abs = 0.0;
            let lo = a + (b - a) * i as f64 / pieces as f64;
            let hi = a + (b - a) * (i + 1) as f64 / pieces as f64;
            let scale = abs.value();
            let mut stack = vec![(lo, hi, 0usize)];
            while let Some((l, h, depth)) = stack.pop() {
                if left == 0 {
                    return Ok(None);
                }
                left -= 1;
                let (mid, half) = ((l + h) / 2.0, (h - l) / 2.0);
                let rule = |nodes: &[(f64, f64)]| -> Result<(f64, f64), SpectrumError> {
                    let (mut s, mut s_abs) = (Sum::new(), 0.0);
                    for &(x, w) in nodes {
                        let v = f(mid + half * x)? * w * half;
                        s.add(v);
                        s_abs += v.abs();
                    }
                    Ok((s.value(), s_abs))
                };
                let (i16, _) = rule(&rules.g16)?;
                let (i32, a32) = rule(&rules.g32)?;
                let diff = (i32 - i16).abs();
                if diff <= PANEL_TOL * a32.max(scale) || depth >= MAX_DEPTH {
                    sum.add(i32);
                    abs.add(a32);
                    piece_abs += a32;
                    err += diff;
                } else {
                    stack.push((mid, h, depth + 1));
                    stack.push((l, mid, depth + 1));
                }
            }
            let total = abs.value();
            let end = hi * envelope(hi)?;
            if total > 0.0 && piece_abs <= TAIL_TOL * total && end <= TAIL_TOL * total {
                quiet += 1;
                if quiet >= 2 {
                    *budget = left;
                    return Ok(Some(Integral {
                        value: sum.value(),
                        error: err + end + ROUNDING * total,
                    }));
                }
            } else {
                quiet = 0;
            }
        }
        a = b;
    }
    Ok(None)
}

/// Bessel J1(x) for x >= 0: the power series below 1, Miller's backward recurrence
/// normalised by J0 + 2 sum J_2k = 1 below 20, Hankel's asymptotic expansion beyond
/// (its smallest term is about e^{-2x} < 1e-17 there).
pub fn bessel_j1(x: f64) -> f64 {
    if x < 1.0 {
        let (mut term, mut s) = (x / 2.0, 0.0);
        let q = -(x * x) / 4.0;
        for m in 0..12 {
            s += term;
            term *= q / ((m + 1) as f64 * (m + 2) as f64);
        }
        return s;
    }
    if x < 20.0 {
        let n_start = 2 * ((x as usize + 42) / 2);
        let (mut next, mut cur) = (0.0, 1e-30);
        let (mut j1, mut norm) = (0.0, 0.0);
        for n in (1..=n_start).rev() {
            // cur = J_n, next = J_{n+1}; J_{n-1} = (2n/x) J_n - J_{n+1}.
            if n % 2 == 0 {
                norm += 2.0 * cur;
            }
            if n == 1 {
                j1 = cur;
            }
            let prev = 2.0 * n as f64 / x * cur - next;
            next = cur;
            cur = prev;
            if cur.abs() > 1e250 {
                cur *= 1e-250;
                next *= 1e-250;
                j1 *= 1e-250;
                norm *= 1e-250;
            }
        }
        norm += cur; // J0
        return j1 / norm;
    }
    // J1 = sqrt(2/(pi x)) (P cos chi - Q sin chi), chi = x - 3 pi/4.
    let mu = 4.0;
    let (mut p, mut q) = (1.0, 0.0);
    let mut term: f64 = 1.0;
    for k in 1..80 {
        let next = term * (mu - ((2 * k - 1) * (2 * k - 1)) as f64) / (k as f64 * 8.0 * x);
        if next.abs() >= term.abs() || next.abs() < 1e-18 {
            break;
        }
        term = next;
        match k % 4 {
            1 => q += term,
            2 => p -= term,
            3 => q -= term,
            _ => p += term,
        }
    }
    let (s, c) = x.sin_cos();
    let cos_chi = (s - c) * FRAC_1_SQRT_2;
    let sin_chi = -(s + c) * FRAC_1_SQRT_2;
    (2.0 / (PI * x)).sqrt() * (p * cos_chi - q * sin_chi)
}

/// sin(x)/x - cos(x), by its series near 0: sum_n (-1)^{n+1} 2n x^{2n}/(2n+1)!.
fn spherical_weight(x: f64) -> f64 {
    if x < 0.5 {
        let x2 = x * x;
        let (mut s, mut pow, mut fact) = (0.0, 1.0, 1.0);
        for n in 1..10 {
            pow *= x2;
            fact *= ((2 * n) * (2 * n + 1)) as f64;
            let t = 2.0 * n as f64 * pow / fact;
            s += if n % 2 == 1 { t } else { -t };
        }
        s
    } else {
        x.sin() / x - x.cos()
    }
}

/// gamma(xi) for the radial profile `k` in dimension `d` (1, 2 or 3), by a radial Fourier
/// transform of Phi. Integrating by parts (Phi' = -r k, Phi r^{d/2} J_{d/2-1}' relations),
/// Phi_hat(xi) = (2 pi)^{d/2} xi^{-d/2} int_0^inf k(r) r^{d/2+1} J_{d/2}(xi r) dr, so:
///   d = 1: gamma = xi int k r sin(xi r) dr / int k dr
///   d = 2: gamma = xi int k r^2 J1(xi r) dr / int k r dr
///   d = 3: gamma = int k r^2 (sin(xi r)/(xi r) - cos(xi r)) dr / int k r^2 dr
/// with no nested integral for Phi. Errors are the quadrature's estimates.
pub fn radial_rates(
    k: &dyn Fn(f64) -> f64,
    d: usize,
    xis: &[f64],
) -> Result<Vec<Rate>, SpectrumError> {
    if !(1..=MAX_NUMERIC_DIMENSION).contains(&d) {
        return Err(SpectrumError::Dimension(d, MAX_NUMERIC_DIMENSION));
    }
    let rules = Rules {
        g16: gauss_legendre(16),
        g32: gauss_legendre(32),
    };
    let kf = |r: f64| -> Result<f64, SpectrumError> {
        let v = k(r);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(SpectrumError::NotFinite { r, value: v })
        }
    };
    let m_den = (d - 1) as i32;
    let m_num = if d == 1 { 1 } else { 2 };
    // The envelopes: the integrands without their oscillating factor (|sin|, |J1| and
    // |sin(x)/x - cos(x)| are at most about 1).
    let den_f = |r: f64| Ok(kf(r)? * r.powi(m_den));
    let den_env = |r: f64| Ok(kf(r)?.abs() * r.powi(m_den));
    let mut budget = MAX_PANELS;
    let den = integrate(&mut budget, &rules, &den_f, &den_env, None)?
        .ok_or(SpectrumError::NoConvergence { xi: 0.0 })?;
    if !(den.value.is_finite() && den.value > 0.0) {
        return Err(SpectrumError::Mass(den.value));
    }
    let mut out = Vec::with_capacity(xis.len());
    for &xi in xis {
        check_frequency(xi)?;
        if xi == 0.0 {
            out.push(Rate {
                gamma: 0.0,
                error: 0.0,
            });
            continue;
        }
        let num_f = |r: f64| -> Result<f64, SpectrumError> {
            let x = xi * r;
            let w = match d {
                1 => x.sin(),
                2 => bessel_j1(x),
                _ => spherical_weight(x),
            };
            Ok(kf(r)? * r.powi(m_num) * w)
        };
        let num_env = |r: f64| Ok(kf(r)?.abs() * r.powi(m_num));
        let num = integrate(&mut budget, &rules, &num_f, &num_env, Some(PI / xi))?
            .ok_or(SpectrumError::NoConvergence { xi })?;
        let factor = if d == 3 { 1.0 } else { xi };
        let gamma = factor * num.value / den.value;
        // Relative error of the denominator carried into gamma.
        let error = factor * num.error / den.value + gamma.abs() * den.error / den.value;
        out.push(Rate { gamma, error });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_peak_is_two_over_e_at_sqrt2_over_h() {
        let h = 0.7;
        let (xi, g) = peak(&Kernel::Gaussian { h }, 2).unwrap();
        assert!((gaussian_rate(h, xi) - g).abs() < 1e-15);
        // Neighbours are lower: a maximum.
        for dx in [1e-3, -1e-3] {
            assert!(gaussian_rate(h, xi + dx) < g);
        }
    }

    #[test]
    fn laplace_peak_is_a_maximum() {
        for d in 1..6 {
            let (xi, g) = peak(&Kernel::Laplace { tau: 1.3 }, d).unwrap();
            assert!((laplace_rate(1.3, d, xi) - g).abs() < 1e-14 * g);
            assert!(laplace_rate(1.3, d, xi * 1.001) < g);
            assert!(laplace_rate(1.3, d, xi * 0.999) < g);
        }
    }

    #[test]
    fn j1_matches_its_integral_representation() {
        // J1(x) = (1/pi) int_0^pi cos(tau - x sin tau) d tau; the trapezoid rule on the
        // periodic integrand converges exponentially once the nodes outnumber x.
        for &x in &[0.1, 0.9, 1.0, 3.7, 10.0, 19.9, 20.0, 35.5, 120.0] {
            let n = 400;
            let mut s = 0.0;
            for i in 0..n {
                let t = 2.0 * PI * (i as f64 + 0.5) / n as f64;
                s += (t - x * t.sin()).cos();
            }
            let reference = s / n as f64;
            assert!(
                (bessel_j1(x) - reference).abs() < 2e-15,
                "x = {x}: {} vs {reference}",
                bessel_j1(x)
            );
        }
    }

    #[test]
    fn spherical_weight_series_agrees_with_the_direct_form_below_its_switch() {
        for x in [0.3f64, 0.45, 0.4999] {
            let direct = x.sin() / x - x.cos();
            assert!((spherical_weight(x) - direct).abs() < 1e-15);
        }
    }

    #[test]
    fn radial_transform_recovers_the_closed_forms() {
        for d in 1..=3 {
            let xis = [0.3, 1.0, 2.5, 7.0];
            let g = radial_rates(&|r| (-r * r / 2.0).exp(), d, &xis).unwrap();
            let l = radial_rates(&|r| (-r).exp(), d, &xis).unwrap();
            for (k, &xi) in xis.iter().enumerate() {
                let eg = gaussian_rate(1.0, xi);
                let el = laplace_rate(1.0, d, xi);
                assert!((g[k].gamma - eg).abs() < 1e-12, "{d} {xi}: {:?} {eg}", g[k]);
                assert!((l[k].gamma - el).abs() < 1e-12, "{d} {xi}: {:?} {el}", l[k]);
                assert!(g[k].error < 1e-9 && l[k].error < 1e-9);
            }
        }
    }

    #[test]
    fn annealing_matches_quadrature_over_time() {
        let anneal = Anneal::new(1.2, 0.4, 3.0).unwrap();
        for kernel in [Kernel::Gaussian { h: 1.2 }, Kernel::Laplace { tau: 1.2 }] {
            for d in [1, 2, 3] {
                for xi in [0.2, 1.0, 4.0] {
                    let got = accumulated(&kernel, d, &anneal, xi).unwrap().unwrap();
                    // Composite Simpson over t.
                    let n = 20_000;
                    let step = 3.0 / n as f64;
                    let mut s = 0.0;
                    for i in 0..=n {
                        let t = i as f64 * step;
                        let h = 1.2 * (-0.4 * t).exp();
                        let g = match kernel {
                            Kernel::Gaussian { .. } => gaussian_rate(h, xi),
                            _ => laplace_rate(h, d, xi),
                        };
                        let w = if i == 0 || i == n {
                            1.0
                        } else if i % 2 == 1 {
                            4.0
                        } else {
                            2.0
                        };
                        s += w * g;
                    }
                    s *= step / 3.0;
                    assert!((got.annealed - s).abs() < 1e-12, "{got:?} {s}");
                }
            }
        }
    }
}
