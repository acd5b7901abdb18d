#!/usr/bin/env python3
"""Exact KL of a sampler's output on a Gaussian source, in numpy: the baseline of issue 18.

Issue 18 asks that `diffsym kl` be faster, for every sampler, than "a numpy implementation
of the same recursion". This is that implementation, for timing comparisons. It mirrors
the per-direction recursion of src/analysis/kl.rs and src/analysis/kl/lanes.rs as of issue
18 (`Prepared::step`, `drift_step`, `square_defect`, `ddim_law`; `dpm1`, `ddpm`, `euler`,
`heun`, `State::start/advance/law`, `ddim_advance`), `DirectionLaw::kl` and the tails of
numerics.rs: the same formulas, the operations in the same order. Only numpy and the
standard library; no code shared with diffsym.

The recursion (docs/theory.md section 4). A step from t_k (p) to t_{k-1} (q) maps one
direction (eigenvalue l, mean m) as y' = A y + D m + sqrt(Q) z. The state is r = V/v
(v = a^2 l + s^2, the true marginal's variance), e = r - 1, the mean error mu, and v and
1/v, carried from step to step (one division per update). With G = A^2 v_p/v_q, q = Q/v_q,
    r' = G r + q,  e' = G e + (G - 1 + q) if |e| < 0.5 else r' - 1,  mu' = A mu + D m,
and G - 1 + q is never a difference of O(1) numbers: closed forms in X = s_p a_q - s_q a_p
for dpm1 and ddpm (ddim: the angle form 1 + w = prod (1 + tan^2 dphi)); for the Euler
family a numerator over v_q made of per-step coefficients times powers of l:
    euler   (alpha2 l + sigma2 + h w (A - 1))/v_q,  A - 1 = h w/v_p,  w = a a' l + s s' at
            t_k, alpha2 = a_p^2 - a_q^2 + 2 h a_p a'_p (sigma2 alike), h = t_{k-1} - t_k;
            euler_maruyama adds g2/2 to w, and its injected variance g2 |h| cancels;
    heun    (alpha2 l + sigma2 + h k_q (gamma_a l + gamma_s) + (A - 1)^2 v_p)/v_q, k = w/v,
            A - 1 = h k_p/2 + h k_q (1 + h k_p)/2, alpha2 = a_p^2 - a_q^2
            + h (a_p a'_p + a_q a'_q), gamma_a = a_p^2 - a_q^2 + h a_p a'_p (s alike).
These coefficients (Taylor remainders, O(h^2) or O(h^3)) and D are formed exactly from the
f64 schedule values and the exact h, with integer arithmetic, and rounded once (the Rust
uses double-double: the same to within an ulp). No transcendental function per step. At
t_0, u = ln(V/v_0) = log1p(e) (or ln r), and the KLs (e^-u - 1 + u + mu^2/V)/2 and
(e^u - 1 - u + mu^2/v_0)/2 are summed over directions, with cancellation-free tails.

Written as a competent numpy user would: arrays over the d directions, a Python loop over
the N steps, out=/in-place operations on preallocated arrays, np.copyto(where=) for the
|e| < 0.5 select, np.sum where the Rust sums with compensation. The mean error is carried
even when it is zero, as in the Rust. One core (diffsym uses all of them).

Processes, per grid point with Python's math (libm, as diffsym's f64 evaluation), exact at
t = 0 and 1 as in diffsym: cosine, and vp_linear with sigma = sqrt(-expm1(-B)),
B = t/10 + 199 t^2/20. --vp-form naive evaluates derivations/vp_linear.dsym's formulas as
written instead (sigma = sqrt(1 - exp(-B)), about 1e-12 off at t = 0.001), as a diffsym
that evaluates them unchanged in f64 does (its KLs then agree to about 1e-15).
Source lambda_k = k^-1.5, k = 1..d (Python's float pow), mean --mean. Uniform grid
t_k = t_min + k (t_max - t_min)/N. euler_maruyama is undefined where alpha = 0 (cosine at
t = 1): for it t_max defaults to 0.999 (diffsym: `--t-max 0.999`).

    python3 scripts/kl_numpy.py --sampler euler --process cosine --d 100000 --steps 1000
    python3 scripts/kl_numpy.py --all --repeat 3     # six samplers x two processes
    python3 scripts/kl_numpy.py --self-test          # against exact arithmetic
Times: recursion (steps and final sums; best of --repeat), setup (schedule values and step
coefficients), one run (numpy import + arrays + setup + first run), whole script.

--rust FILE.dsym also runs `diffsym kl FILE.dsym --source big` (--binary) for each case
and prints the relative differences. FILE's source `big` must have the spectrum
lambda_k = k^-1.5, k = 1..d (d as --d). For d = 1e5, in a directory of your choice:
    python3 -c "print('\\n'.join(repr(k ** -1.5) for k in range(1, 100001)))" > spec.txt
    echo 'source big = gaussian(spectrum = file("spec.txt"));' > big.dsym
    python3 /path/to/scripts/kl_numpy.py --all --rust big.dsym
"""

import time

_T_SCRIPT = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from fractions import Fraction as F  # noqa: E402  (the self-test's exact reference)

import numpy as np  # noqa: E402

_T_IMPORTED = time.perf_counter()

SAMPLERS = ["ddim", "euler", "heun", "dpm1", "euler_maruyama", "ddpm"]
PROCESSES = ["cosine", "vp_linear"]
STARTS = ["prior", "exact"]
EM_T_MAX = 0.999


class Undefined(Exception):
    """The sampler is undefined on this grid (the Rust's ANALYSIS_SAMPLER diagnostic)."""


# ---- Exact arithmetic for the per-step coefficients: a float is n 2^e exactly (Python
# ints), so a sum of products of floats is exact, and int / int rounds it once, correctly.
# The same numbers as fractions.Fraction, about ten times faster.
def exact_sum(*products):
    """sum_i prod_j products[i][j] over floats, exactly, rounded once to a float."""
    terms = []
    for factors in products:
        n, e = 1, 0
        for x in factors:
            num, den = x.as_integer_ratio()  # den = 2^(bit_length - 1)
            n, e = n * num, e + 1 - den.bit_length()
        terms.append((n, e))
    e = min(f for _, f in terms)
    n = sum(m << (f - e) for m, f in terms)
    return n / (1 << -e) if e < 0 else float(n << e)


def square_defect(tq, tp, p, q):
    """x_p^2 - x_q^2 + h (w_p x_p x'_p + w_q x_q x'_q) with h = tq - tp, p and q =
    (x, x', w), exactly, rounded once (kl.rs `square_defect`)."""
    (xp, dxp, wp), (xq, dxq, wq) = p, q
    products = [(xp, xp), (-xq, xq)]
    if wp != 0.0:
        products += [(tq, xp, dxp, wp), (-tp, xp, dxp, wp)]
    if wq != 0.0:
        products += [(tq, xq, dxq, wq), (-tp, xq, dxq, wq)]
    return exact_sum(*products)


# ---- Processes: (alpha, sigma, alpha', sigma') at one time, as Python floats.
def cosine(t):
    if t == 0.0:  # the ends exactly, as diffsym: cos(pi/2) = 0, not 6e-17
        return 1.0, 0.0, 0.0, math.pi / 2
    if t == 1.0:
        return 0.0, 1.0, -math.pi / 2, 0.0
    c, s = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
    return c, s, -math.pi / 2 * s, math.pi / 2 * c


VP_FORM = "expm1"  # or "naive" (--vp-form)


def vp_linear(t):
    beta = 0.1 + t * (20.0 - 0.1)
    if VP_FORM == "naive":
        # The .dsym formulas evaluated as written, in f64 (rational constants rounded):
        # sigma from 1 - e^-B loses digits near t = 0 (about 1e-12 relative at t = 0.001).
        e = math.exp(-0.1 * t + -9.95 * (t * t))
        a, s = math.exp(-0.05 * t + -4.975 * (t * t)), math.sqrt(1.0 - e)
        ds = e * (0.05 + 9.95 * t) * (1.0 / s) if s > 0.0 else math.inf
        return a, s, -(0.05 + 9.95 * t) * a, ds
    big_b = t / 10 + 199 * t * t / 20  # int_0^t beta
    a, s = math.exp(-big_b / 2), math.sqrt(-math.expm1(-big_b))
    ds = beta * (a * a) / (2 * s) if s > 0.0 else math.inf  # sigma ~ sqrt(beta_min t)
    return a, s, -beta * a / 2, ds


SCHEDULES = {"cosine": cosine, "vp_linear": vp_linear}


# ---- DirectionLaw::kl and the tails of numerics.rs.

SERIES_CUTOFF = 0.05


def exp_tail(u, sign):
    """e^(sign u) - 1 - sign u: exp_pos_tail (sign 1) and exp_neg_tail (sign -1) of
    numerics.rs, the series sum_{n=2}^{13} (sign u)^n/n! for |u| < 0.05."""
    term = u * u / 2.0
    acc = term.copy()
    su = sign * u
    for n in range(3, 14):
        term *= su / float(n)
        acc += term
    with np.errstate(all="ignore"):
        out = np.where(np.abs(u) < SERIES_CUTOFF, acc, np.expm1(su) - su)
    return np.where(u == -np.inf, np.inf, out)


def kl_of_laws(u, mu, v0):
    """Both KLs summed over directions: u = ln(V/v0), mu the mean error."""
    with np.errstate(all="ignore"):
        d2 = mu * mu
        fin = np.isfinite(u)
        src_out = np.where(fin, 0.5 * (exp_tail(u, -1.0) + d2 / (v0 * np.exp(u))), np.inf)
        out_src = np.where(fin, 0.5 * (exp_tail(u, 1.0) + d2 / v0), np.inf)
    return float(np.sum(src_out)), float(np.sum(out_src))


# ---- Prepared::new and Prepared::step: schedule values and each step's coefficients.
class Step:
    """One step's direction-independent coefficients (lanes.rs `Step` and its `Map`)."""

    __slots__ = ("kind aq2 sq2 x2 p s ratio post_var shrink h c1 c2 c1q c2q alpha2 sigma2 "
                 "gamma_a gamma_s d d_rate q_var").split()


class Prepared:
    def __init__(self, process, sampler, grid, start):
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler}")
        t = [float(x) for x in grid]
        if len(t) < 2 or any(not x < y for x, y in zip(t, t[1:])):
            raise Undefined("a sampler needs an ascending grid of at least 2 times")
        self.sampler, self.start, self.n = sampler, start, len(t) - 1
        pts = []
        for k, tk in enumerate(t):
            a, s, da, ds = SCHEDULES[process](tk)
            if not (math.isfinite(a) and math.isfinite(s) and a >= 0 and s >= 0):
                raise Undefined(f"{sampler}: alpha = {a}, sigma = {s} at t = {tk}")
            if a == 0.0 and s == 0.0:
                raise Undefined(f"{sampler}: alpha = sigma = 0 at t = {tk}")
            # Derivatives: the Euler family's, except at t_0 (Heun's corrector needs it
            # there unless sigma = 0).
            needed = sampler in ("euler", "euler_maruyama", "heun") and (
                k >= 1 or (sampler == "heun" and s != 0.0))
            if not needed:
                da, ds = 0.0, 0.0
            elif not (math.isfinite(da) and math.isfinite(ds)):
                raise Undefined(f"{sampler}: alpha', sigma' not finite at t = {tk}")
            if k == 0 and a == 0.0:
                raise Undefined(f"{sampler}: alpha = 0 at the data end")
            if k >= 1 and sampler == "euler_maruyama" and a <= s * math.exp(-36.0):
                raise Undefined(f"euler_maruyama: alpha = 0 at t = {tk}, where the reverse "
                                "SDE's g2 and f are infinite (e.g. --t-max 0.999)")
            if k >= 1 and sampler == "ddpm" and (pts[-1][1] == 0.0 or s == 0.0):
                raise Undefined(f"ddpm: the posterior is undefined at t = {tk}")
            pts.append((tk, a, s, da, ds))
        self.pts = pts
        self.steps = [self.step(pts[k], pts[k - 1]) for k in range(1, self.n + 1)]

    def step(self, p, q):
        """Prepared::step and Prepared::drift_step of kl.rs, from p = t_k to q = t_{k-1}."""
        (tp, ap, sp, dap, dsp), (tq, aq, sq, daq, dsq) = p, q
        st = Step()
        x = sp * aq - sq * ap
        st.aq2, st.sq2, st.x2, st.p, st.s = aq * aq, sq * sq, x * x, ap * aq, sp * sq
        st.kind = self.sampler
        if self.sampler == "ddpm":
            # 1 - E = X (a_q s_p + a_p s_q)/(a_q s_p)^2: one rounded difference, X.
            w, b = aq * sp + ap * sq, aq * sp
            xw_b = x * w / b
            st.ratio, st.post_var, st.shrink = ap / aq, sq * sq * (xw_b / b), xw_b * xw_b
        if self.sampler not in ("euler", "heun", "euler_maruyama"):
            return st
        h = tq - tp  # as f64 (the Rust's h); the exact h enters as tq - tp
        euler_d = exact_sum((ap,), (-aq,), (tq, dap), (-tp, dap))
        st.h, st.c1, st.c2 = h, ap * dap, sp * dsp
        if self.sampler == "heun" and sq != 0.0:
            st.kind = "heun"
            st.c1q, st.c2q = aq * daq, sq * dsq
            st.alpha2 = square_defect(tq, tp, (ap, dap, 1.0), (aq, daq, 1.0))
            st.sigma2 = square_defect(tq, tp, (sp, dsp, 1.0), (sq, dsq, 1.0))
            st.gamma_a = square_defect(tq, tp, (ap, dap, 1.0), (aq, daq, 0.0))
            st.gamma_s = square_defect(tq, tp, (sp, dsp, 1.0), (sq, dsq, 0.0))
            # D's constant part, a_p - a_q + h (a'_p + a'_q)/2.
            st.d = exact_sum((ap,), (-aq,), *((t, v, 0.5) for t in (tq, -tp) for v in (dap, daq)))
            st.d_rate = 0.5 * h * euler_d
            return st
        st.kind = "euler"  # also Heun's step to sigma = 0 (no corrector)
        st.alpha2 = square_defect(tq, tp, (ap, dap, 2.0), (aq, daq, 0.0))
        st.sigma2 = square_defect(tq, tp, (sp, dsp, 2.0), (sq, dsq, 0.0))
        st.d, st.q_var = euler_d, 0.0
        if self.sampler == "euler_maruyama":
            g2 = 2.0 * sp * (dsp - dap * sp / ap)  # the reverse SDE's g2 at t_k
            st.c2 += 0.5 * g2
            st.q_var = g2 * abs(h)
        return st

    # ---- DDIM (lanes.rs `ddim_advance`, kl.rs `Prepared::ddim_law`).
    def ddim(self, lam, m):
        w, tau2, den, tmp = (np.zeros_like(lam) for _ in range(4))
        dead = None
        with np.errstate(all="ignore"):
            for st in self.steps:  # ascending, as the Rust
                np.multiply(lam, st.p, out=den)
                den += st.s
                if st.s == 0.0:  # den = 0 maps every x to one point: V = 0, w = inf
                    z = den == 0.0
                    if z.any():
                        dead = z if dead is None else dead | z
                np.multiply(lam, st.x2, out=tau2)
                np.multiply(den, den, out=tmp)
                tau2 /= tmp
                np.multiply(w, tau2, out=tmp)
                tmp += tau2
                w += tmp  # w + (tau2 + w tau2)
            if dead is not None:
                w[dead] = np.inf
            (_, a0, s0, _, _), (_, an, sn, _, _) = self.pts[0], self.pts[-1]
            v0 = lam * (a0 * a0) + s0 * s0
            vn = lam * (an * an) + sn * sn
            log1pw = np.log1p(w)
            if self.start == "exact":
                return -log1pw, np.zeros_like(lam), v0
            gain = np.sqrt(v0 / vn) * np.exp(-0.5 * log1pw)
            return -np.log(vn) - log1pw, -gain * an * m, v0

    # ---- The general recursion (lanes.rs `State`; the maps `dpm1`, `ddpm`, `euler`, `heun`).
    # Every array is allocated once and numpy writes into it: besides saving copies, this
    # keeps glibc from returning and re-faulting freed 800 kB arrays on every step.
    def affine(self, lam, m):
        n = len(lam)
        r, e, mu, vp, ip, vq, iq = (np.empty(n) for _ in range(7))
        a, g, gq1, qq, am1, kq, t1, t2 = (np.empty(n) for _ in range(8))
        mask = np.empty(n, dtype=bool)
        # State::start: v and 1/v at t_N; r = 1/v_N, e = (1 - v_N)/v_N from the prior.
        _, an, sn, _, _ = self.pts[-1]
        np.multiply(lam, an * an, out=vp)
        vp += sn * sn
        np.divide(1.0, vp, out=ip)
        if self.start == "exact":
            r[:], e[:], mu[:] = 1.0, 0.0, 0.0
        else:
            r[:] = ip
            np.subtract(1.0, vp, out=e)
            e *= ip
            np.multiply(m, -an, out=mu)
        with np.errstate(all="ignore"):
            for st in reversed(self.steps):
                np.multiply(lam, st.aq2, out=vq)
                vq += st.sq2
                np.divide(1.0, vq, out=iq)
                d, q, kind = 0.0, None, st.kind  # D: a float or an array; q: None for 0
                if kind == "dpm1":
                    # A = den/v_p, G = den^2/(v_p v_q), G - 1 = -l X^2/(v_p v_q).
                    np.multiply(lam, st.p, out=t1)  # den
                    t1 += st.s
                    np.multiply(ip, iq, out=t2)  # 1/(v_p v_q)
                    np.multiply(t1, ip, out=a)
                    np.multiply(t1, t1, out=g)
                    g *= t2
                    np.multiply(lam, -st.x2, out=gq1)
                    gq1 *= t2
                elif kind == "ddpm":
                    np.multiply(vq, ip, out=a)
                    a *= st.ratio
                    np.multiply(a, st.ratio, out=g)
                    q = np.multiply(iq, st.post_var, out=qq)
                    np.multiply(lam, -st.shrink, out=gq1)
                    np.multiply(ip, iq, out=t1)
                    gq1 *= t1
                elif kind == "euler":
                    # hw = h (c1 l + c2), A - 1 = hw/v_p,
                    # G - 1 + q = (alpha2 l + sigma2 + hw (A - 1))/v_q.
                    hw = t2
                    np.multiply(lam, st.c1, out=hw)
                    hw += st.c2
                    hw *= st.h
                    np.multiply(hw, ip, out=am1)
                    np.multiply(lam, st.alpha2, out=gq1)
                    gq1 += st.sigma2
                    np.multiply(hw, am1, out=t1)
                    gq1 += t1
                    gq1 *= iq
                    d = st.d
                    if st.q_var != 0.0:
                        q = np.multiply(iq, st.q_var, out=qq)
                else:  # heun
                    # k_p = w_p/v_p, k_q = w_q/v_q,
                    # A - 1 = h k_p/2 + (h k_q/2) (1 + h k_p).
                    kp, half_h = t2, 0.5 * st.h
                    np.multiply(lam, st.c1, out=kp)
                    kp += st.c2
                    kp *= ip
                    np.multiply(lam, st.c1q, out=kq)
                    kq += st.c2q
                    kq *= iq
                    np.multiply(kp, st.h, out=t1)
                    t1 += 1.0
                    np.multiply(kp, half_h, out=am1)
                    np.multiply(kq, half_h, out=kp)  # k_p is used up
                    t1 *= kp
                    am1 += t1
                    # (alpha2 l + sigma2 + h k_q (gamma_a l + gamma_s) + (A - 1)^2 v_p)/v_q
                    np.multiply(lam, st.gamma_a, out=t1)
                    t1 += st.gamma_s
                    np.multiply(kq, st.h, out=t2)
                    t1 *= t2
                    np.multiply(lam, st.alpha2, out=gq1)
                    gq1 += st.sigma2
                    gq1 += t1
                    np.multiply(am1, am1, out=t1)
                    t1 *= vp
                    gq1 += t1
                    gq1 *= iq
                    np.multiply(kq, st.d_rate, out=t2)  # D = d + d_rate k_q
                    t2 += st.d
                    d = t2
                if kind in ("euler", "heun"):
                    np.add(am1, 1.0, out=a)  # A = 1 + (A - 1), G = A^2 (v_p/v_q)
                    np.multiply(vp, iq, out=g)
                    np.multiply(a, a, out=t1)
                    g *= t1
                # State::advance. The select tests the old e (a NaN takes r' - 1); the
                # min/max check spares the masked copy when every |e| < 0.5.
                fast = e.max() < 0.5 and e.min() > -0.5
                if not fast:
                    np.abs(e, out=t1)
                    np.less(t1, 0.5, out=mask)
                    np.logical_not(mask, out=mask)
                r *= g  # r' = G r + q
                if q is not None:
                    r += q
                e *= g  # e' = G e + (G - 1 + q), or r' - 1
                e += gq1
                if not fast:
                    np.subtract(r, 1.0, out=t1)
                    np.copyto(e, t1, where=mask)
                mu *= a  # mu' = A mu + D m (D = 0 for dpm1, ddpm: A mu + 0 m = A mu)
                if isinstance(d, np.ndarray) or d != 0.0:
                    np.multiply(m, d, out=t1)
                    mu += t1
                vp, vq, ip, iq = vq, vp, iq, ip
            # State::law: u = ln(V/v_0).
            u = np.where(np.abs(e) < 0.5, np.log1p(e), np.where(r > 0.0, np.log(r), -np.inf))
        return u, mu, vp

    def kl(self, lam, m):
        return kl_of_laws(*(self.ddim if self.sampler == "ddim" else self.affine)(lam, m))


# ---- Driver.
def spectrum(d):
    # Python's float pow: bit-identical to the file diffsym reads (numpy's pow is not).
    return np.array([k ** -1.5 for k in range(1, d + 1)], dtype=float)


def uniform_grid(n, t_min, t_max):
    return [t_min + k * (t_max - t_min) / n for k in range(n + 1)]  # as grid.rs


def default_t_max(sampler, t_max):
    return t_max if t_max is not None else EM_T_MAX if sampler == "euler_maruyama" else 1.0


def run_case(process, sampler, start, lam, m, steps, t_min, t_max, repeat):
    """(kl_src_out, kl_out_src, best recursion time, first recursion time, setup time)."""
    t0 = time.perf_counter()
    prep = Prepared(process, sampler, uniform_grid(steps, t_min, t_max), start)
    setup = time.perf_counter() - t0
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = prep.kl(lam, m)
        times.append(time.perf_counter() - t0)
    return result[0], result[1], min(times), times[0], setup


def rust_kl(binary, dsym, process, sampler, steps, start, t_min, t_max):
    cmd = [binary, "kl", dsym, "--process", process, "--source", "big", "--sampler", sampler,
           "--steps", str(steps), "--start", start, "--t-min", repr(t_min),
           "--t-max", repr(t_max), "--format", "json"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        return None, (out.stderr.strip().splitlines() or ["failed"])[-1], wall
    row = json.loads(out.stdout)["results"][0]
    get = lambda key: math.inf if row[key] is None else row[key]  # noqa: E731
    return (get("kl_src_out"), get("kl_out_src")), None, wall


def rel(x, y):
    if x == y:
        return 0.0
    if not (math.isfinite(x) and math.isfinite(y)):
        return math.inf
    return abs(x - y) / max(abs(x), abs(y))


def main():
    global VP_FORM
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sampler", choices=SAMPLERS, default="euler")
    ap.add_argument("--process", choices=PROCESSES, default="cosine")
    ap.add_argument("--start", choices=STARTS, default="prior")
    ap.add_argument("--d", type=int, default=100000, help="eigenvalues k^-1.5, k = 1..d")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--t-min", type=float, default=0.0)
    ap.add_argument("--t-max", type=float, default=None,
                    help=f"default 1, or {EM_T_MAX} for euler_maruyama")
    ap.add_argument("--mean", type=float, default=0.0, help="the mean of every direction")
    ap.add_argument("--repeat", type=int, default=1, help="runs of the recursion; best kept")
    ap.add_argument("--all", action="store_true", help="all samplers on both processes")
    ap.add_argument("--vp-form", choices=["expm1", "naive"], default="expm1",
                    help="vp_linear's schedule values: sigma = sqrt(-expm1(-B)), or the "
                    ".dsym formulas as written, sqrt(1 - exp(-B)) (see the docstring)")
    ap.add_argument("--rust", metavar="FILE.dsym",
                    help="also run diffsym kl on FILE's source `big` (lambda_k = k^-1.5, "
                    "k = 1..d; see the docstring) and compare")
    ap.add_argument("--binary", default="./target/release/diffsym")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.rust and args.mean != 0.0:
        ap.error("--rust compares with the zero-mean source `big`: leave out --mean")
    VP_FORM = args.vp_form
    if args.self_test:
        sys.exit(self_test())

    t0 = time.perf_counter()
    lam = spectrum(args.d)
    m = np.full(args.d, args.mean)
    t_arrays = time.perf_counter() - t0
    cases = [(p, s) for p in PROCESSES for s in SAMPLERS] if args.all else [
        (args.process, args.sampler)]
    print(f"d = {args.d}, N = {args.steps}, start {args.start}, uniform grid from t_min = "
          f"{args.t_min}, vp_linear {args.vp_form}; recursion: best of {max(1, args.repeat)}")
    print(f"{'process':<10} {'sampler':<15} {'t_max':>5}  {'KL(src||out)':>24}  "
          f"{'KL(out||src)':>24}  {'recursion':>9}  {'setup':>7}  {'one run':>7}"
          + (f"  {'rel diff src||out':>17}  {'rel diff out||src':>17}  {'diffsym':>7}"
             if args.rust else ""))
    failed = False
    for process, sampler in cases:
        t_max = default_t_max(sampler, args.t_max)
        try:
            a, b, best, first, setup = run_case(process, sampler, args.start, lam, m,
                                                args.steps, args.t_min, t_max, args.repeat)
        except Undefined as err:
            print(f"{process:<10} {sampler:<15} {t_max:>5}  undefined: {err}")
            failed = True
            continue
        one_run = (_T_IMPORTED - _T_SCRIPT) + t_arrays + setup + first
        line = f"{process:<10} {sampler:<15} {t_max:>5}  {a:>24.17g}  {b:>24.17g}  " \
               f"{best:>8.3f}s  {setup:>6.3f}s  {one_run:>6.3f}s"
        if args.rust:
            kl, err, wall = rust_kl(args.binary, args.rust, process, sampler, args.steps,
                                    args.start, args.t_min, t_max)
            if err:
                line += f"  diffsym failed: {err}"
            else:
                line += f"  {rel(a, kl[0]):>17.2e}  {rel(b, kl[1]):>17.2e}  {wall:>6.3f}s"
        print(line, flush=True)
    print(f"whole script: {time.perf_counter() - _T_SCRIPT:.3f} s")
    sys.exit(2 if failed and not args.all else 0)


# ---- Self-test: the exact arithmetic, derivatives against finite differences, and the
# recursion against a naive propagation written from each sampler's definition.
def naive_kl(process, sampler, start, lam, m, grid):
    """Mean and variance of x, stepped by each sampler's definition with the exact
    Gaussian denoiser x0_hat(x, t) = m + a l (x - a m)/v, in exact rational arithmetic
    from the f64 schedule values (rounded to 2^-256 after each step): a reference for the
    same recursion, accurate to an ulp or so however small the KL."""
    cols = zip(*(SCHEDULES[process](t) for t in grid))
    a, s, da, ds = ([F(x) if math.isfinite(x) else F(0) for x in c] for c in cols)
    lam, m = (np.array([F(x) for x in y], dtype=object) for y in (lam, m))
    n, t = len(grid) - 1, [F(x) for x in grid]
    v = lambda k: a[k] ** 2 * lam + s[k] ** 2  # noqa: E731
    cut = np.frompyfunc(lambda x: F((x.numerator << 256) // x.denominator, 1 << 256), 1, 1)

    def x0hat(k):  # x0_hat = c x + b
        c = a[k] * lam / v(k)
        return c, m - c * a[k] * m

    def velocity(k):  # PF-ODE velocity alpha' x0_hat + sigma' eps_hat, as c x + b
        c0, b0 = x0hat(k)  # eps_hat = (x - a x0_hat)/s = (s/v)(x - a m)
        return da[k] * c0 + ds[k] * s[k] / v(k), da[k] * b0 - ds[k] * s[k] / v(k) * a[k] * m

    mean, var = (a[n] * m, v(n)) if start == "exact" else (0 * lam, 0 * lam + 1)
    for k in range(n, 0, -1):
        h, q = t[k - 1] - t[k], 0
        if sampler in ("ddim", "dpm1"):  # x' = a_{k-1} x0_hat + s_{k-1} eps_hat
            c0, b0 = x0hat(k)
            r = s[k - 1] / s[k]
            c, b = r + (a[k - 1] - a[k] * r) * c0, (a[k - 1] - a[k] * r) * b0
        elif sampler == "euler" or (sampler == "heun" and s[k - 1] == 0):
            cv, bv = velocity(k)
            c, b = 1 + h * cv, h * bv
        elif sampler == "heun":  # x' = x + h/2 (vel(x) + vel(x_e)), x_e = x + h vel(x)
            cv, bv = velocity(k)
            cw, bw = velocity(k - 1)
            c = 1 + h / 2 * (cv + cw * (1 + h * cv))
            b = h / 2 * (bv + cw * h * bv + bw)
        elif sampler == "euler_maruyama":  # x' = x + h (f x - g2 score) + sqrt(g2 |h|) z
            f = da[k] / a[k]
            g2 = 2 * s[k] * ds[k] - 2 * f * s[k] ** 2
            c = 1 + h * (f + g2 / v(k))
            b = -h * g2 * a[k] * m / v(k)
            q = g2 * abs(h)
        elif sampler == "ddpm":  # the posterior q(x_{k-1} | x_k, x0_hat)
            rho = a[k] / a[k - 1]
            s2 = s[k] ** 2 - rho**2 * s[k - 1] ** 2
            c0, b0 = x0hat(k)
            c1, c2 = rho * s[k - 1] ** 2 / s[k] ** 2, a[k - 1] * s2 / s[k] ** 2
            c, b = c1 + c2 * c0, c2 * b0
            q = s2 * s[k - 1] ** 2 / s[k] ** 2
        mean, var = cut(c * mean + b), cut(c * c * var + q)
    r = var / v(0)
    e = (r - 1).astype(float)
    u = np.where(np.abs(e) < 0.5, np.log1p(e), np.log(r.astype(float)))
    return kl_of_laws(u, (mean - a[0] * m).astype(float), v(0).astype(float))


def self_test():
    import random

    ok = True

    def check(name, good, detail=""):
        nonlocal ok
        ok &= bool(good)
        print(f"{'ok  ' if good else 'FAIL'} {name} {detail}")

    # The exact arithmetic against fractions.Fraction, rounded once.
    rng, bad = random.Random(18), 0
    for _ in range(2000):
        xp, dxp, xq, dxq, tq = (rng.uniform(-2, 2) for _ in range(5))
        tp = tq + rng.random() * 10.0 ** rng.randint(-6, -1)
        h = F(tq) - F(tp)
        want = F(xp) ** 2 - F(xq) ** 2 + h * (2 * F(xp) * F(dxp) + F(xq) * F(dxq))
        bad += square_defect(tq, tp, (xp, dxp, 2.0), (xq, dxq, 1.0)) != float(want)
    check("square_defect = Fraction, rounded once", bad == 0, f"({bad} of 2000 differ)")

    # Derivatives against central differences (step 1e-6).
    for name, f in SCHEDULES.items():
        err = 0.0
        for t in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
            _, _, da, ds = f(t)
            (ap_, sp_, _, _), (am_, sm_, _, _) = f(t + 1e-6), f(t - 1e-6)
            err = max(err, abs((ap_ - am_) / 2e-6 / da - 1), abs((sp_ - sm_) / 2e-6 / ds - 1))
        check(f"{name}: alpha', sigma' against finite differences", err < 1e-7, f"({err:.1e})")
    check("cosine: exact values at the ends",
          cosine(0.0) == (1.0, 0.0, 0.0, math.pi / 2) and cosine(1.0)[:2] == (0.0, 1.0))

    # The recursion against the exact naive propagation: KLs of order 1 (12 eigenvalues
    # over 6 decades, means of both signs) and tiny ones (l near 1, exact start, N = 1000).
    cases = [(np.logspace(0, -6, 12), np.linspace(-1.0, 1.0, 12), 40, STARTS),
             (np.array([0.95, 1.0, 1.05]), np.zeros(3), 1000, ["exact"])]
    for lam, m, n, starts in cases:
        for process in PROCESSES:
            for sampler in SAMPLERS:
                for start in starts:
                    grid = uniform_grid(n, 0.0, default_t_max(sampler, None))
                    got = Prepared(process, sampler, grid, start).kl(lam, m)
                    want = naive_kl(process, sampler, start, lam, m, grid)
                    err = max(rel(x, y) for x, y in zip(got, want))
                    check(f"{process} {sampler} {start} N = {n}: recursion = exact",
                          err < 1e-12, f"(rel {err:.1e}, KL {got[0]:.3e})")
    print("self-test", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    main()
