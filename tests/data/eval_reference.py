#!/usr/bin/env python3
"""High-precision reference for `diffsym eval` on the bundled library (issue 10).

Writes tests/data/eval_reference.json, the expected data of tests/it/eval_library.rs.
Rerun with `python3 tests/data/eval_reference.py` (mpmath; a few minutes).

Nothing here reads diffsym's output. Each of the 16 processes of derivations/*.dsym is
transcribed by hand from its .dsym file into mpmath: alpha, sigma and their derivatives in
t, the derivatives derived by hand in closed form (checked below against mpmath's numeric
`diff` at interior points, and the closed-form integrals of beta against `quad`). The
shorthands follow the README: `alpha_bar` gives alpha = sqrt(alpha_bar), sigma =
sqrt(1 - alpha_bar); `beta` gives alpha = exp(-1/2 int_0^t beta), sigma = sqrt(1 - alpha^2);
`sigma` alone has alpha = 1; `log_snr` gives alpha^2 = sigmoid(log_snr), sigma^2 =
sigmoid(-log_snr). The quantities are those of docs/theory.md section 1:

    alpha_bar = alpha^2, f = alpha'/alpha, g2 = 2 sigma sigma' - 2 f sigma^2, g = sqrt(g2),
    lambda = log(alpha/sigma), dlambda = alpha'/alpha - sigma'/sigma, log_snr = 2 lambda,
    snr = alpha^2/sigma^2, rho = sigma/alpha.

Every value is computed at two working precisions (P and 2P decimal digits, P >= 300, and
P = 1500 at t = 1e-300, where 1 - exp(-12 t^2) cancels 600 digits), which must agree to 60
significant digits (or both be below 10^(-0.8 P), an exact zero such as cosine's lambda at
t = 1/2). The agreed value is rounded to the nearest f64 exactly (through a Fraction;
Python's int/int division is correctly rounded, subnormals included); a value that rounds
to an infinity is "outside" the range of f64.

At t = 0 and t = 1 the value is the one-sided limit, taken at distances d = 1e-60, 1e-80
and 1e-100 from the end (P = 400): the same f64 at all three is the limit; magnitudes
shrinking by 1e-3 or more per step tend to 0; magnitudes growing by 1.15 or more per step
with one sign tend to +inf or -inf (a pole or a logarithm); anything else stops the script.
Where the formula is also defined at the end itself, the direct value is checked against
the limit (mpmath cannot represent cos(pi/2) = 0 exactly, so the limit is the one used).

Every finite case records `margin_ulp`: the distance, in ulps, from the reference to the
nearest rounding boundary (the midpoint between two f64). A case is `near_tie` (and the
test then allows one ulp) only if that margin is below 1e-30 ulp, i.e. within the
reference's own error; `near_ties` in the JSON lists them (none, when last generated).

Cases where diffsym disagrees with this reference are listed in KNOWN_ISSUES with what it
prints; the test skips them and names them.
"""

import json
import math
import os
import sys
from fractions import Fraction

import mpmath
from mpmath import mp, mpf

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "eval_reference.json")

TIMES = ["0", "1e-300", "1e-12", "1e-6", "0.5", "1 - 1e-12", "1"]
QUANTITIES = [
    "alpha", "sigma", "alpha_bar", "f", "g2", "g",
    "lambda", "dlambda", "log_snr", "snr", "rho",
]

# (process, quantity, t) -> what diffsym does instead (filled in from the test's findings).
KNOWN_ISSUES = {}


def sigmoid(x):
    return 1 / (1 + mp.exp(-x))


# Each process: t -> (alpha, sigma, alpha', sigma'), at the current mp precision.

def vp_from_alpha_bar(ab, dab):
    """alpha_bar shorthand: alpha = sqrt(ab), sigma = sqrt(1 - ab)."""
    a = mp.sqrt(ab)
    s = mp.sqrt(1 - ab)
    return a, s, dab / (2 * a), -dab / (2 * s)


def vp_from_log_snr(lsnr, dlsnr):
    """log_snr shorthand: alpha^2 = sigmoid(L), sigma^2 = sigmoid(-L).
    (alpha^2)' = sigmoid(L) sigmoid(-L) L', so alpha' = alpha sigma^2 L'/2 and
    sigma' = -sigma alpha^2 L'/2."""
    a2 = sigmoid(lsnr)
    s2 = sigmoid(-lsnr)
    a = mp.sqrt(a2)
    s = mp.sqrt(s2)
    return a, s, a * s2 * dlsnr / 2, -s * a2 * dlsnr / 2


def vp_from_beta(beta, big_b):
    """beta shorthand: alpha = exp(-B/2), B = int_0^t beta, sigma = sqrt(1 - alpha^2).
    alpha' = -beta alpha/2, sigma' = -alpha alpha'/sigma = beta alpha^2/(2 sigma)."""
    a = mp.exp(-big_b / 2)
    s = mp.sqrt(1 - a * a)
    return a, s, -beta * a / 2, beta * a * a / (2 * s)


def cosine(t):
    # alpha = cos(pi t/2), sigma = sin(pi t/2)
    u = mp.pi * t / 2
    return mp.cos(u), mp.sin(u), -mp.pi / 2 * mp.sin(u), mp.pi / 2 * mp.cos(u)


def cosine_nichol_c(t):
    s = mpf(8) / 1000
    u = (t + s) / (1 + s) * mp.pi / 2
    return mp.cos(u) ** 2, -2 * mp.cos(u) * mp.sin(u) * mp.pi / (2 * (1 + s))


def cosine_nichol(t):
    # alpha_bar = c(t)/c(0), c(t) = cos((t + s)/(1 + s) pi/2)^2, s = 0.008
    c, dc = cosine_nichol_c(t)
    c0, _ = cosine_nichol_c(mpf(0))
    return vp_from_alpha_bar(c / c0, dc / c0)


def edm(t):
    # sigma = t, alpha = 1
    return mpf(1), t, mpf(0), mpf(1)


def gaussian_alpha_bar(t):
    # alpha_bar = exp(-c t^2), c = 12
    c = 12
    ab = mp.exp(-c * t * t)
    return vp_from_alpha_bar(ab, -2 * c * t * ab)


def karras_ve(t):
    # sigma = (smin^(1/r) + t (smax^(1/r) - smin^(1/r)))^r, smin = 0.002, smax = 80, r = 7
    smin, smax, r = mpf(2) / 1000, mpf(80), 7
    a0 = mp.root(smin, r)
    k = mp.root(smax, r) - a0
    base = a0 + t * k
    return mpf(1), base ** r, mpf(0), r * k * base ** (r - 1)


def linear_logsnr(t):
    # log_snr = lambda_max + t (lambda_min - lambda_max), 10 -> -10
    lmax, lmin = 10, -10
    return vp_from_log_snr(lmax + t * (lmin - lmax), mpf(lmin - lmax))


def lm_sqrt(t):
    # alpha_bar = 1 - sqrt(t)
    return vp_from_alpha_bar(1 - mp.sqrt(t), -1 / (2 * mp.sqrt(t)))


def rectified_flow(t):
    # alpha = 1 - t, sigma = t
    return 1 - t, t, mpf(-1), mpf(1)


def sd3_shift(t):
    # sigma = s t/(1 + (s - 1) t), alpha = 1 - sigma, s = 3
    s = 3
    sig = s * t / (1 + (s - 1) * t)
    dsig = s / (1 + (s - 1) * t) ** 2
    return 1 - sig, sig, -dsig, dsig


def sd_scaled_linear(t):
    # beta = steps (sqrt(b0) + t (sqrt(b1) - sqrt(b0)))^2, b0 = 0.00085, b1 = 0.012, steps = 1000
    # B = int_0^t beta = steps (b0 t + sqrt(b0) k t^2 + k^2 t^3/3), k = sqrt(b1) - sqrt(b0)
    # (expanded: no cancellation at t = 1e-300).
    b0, b1, steps = mpf(85) / 100000, mpf(12) / 1000, 1000
    q0 = mp.sqrt(b0)
    k = mp.sqrt(b1) - q0
    beta = steps * (q0 + t * k) ** 2
    big_b = steps * (b0 * t + q0 * k * t * t + k * k * t ** 3 / 3)
    return vp_from_beta(beta, big_b)


def shifted_cosine(t):
    # log_snr = -2 log(tan(pi t/2)) + 2 log(shift), shift = 1/2;
    # d/dt log tan(pi t/2) = (pi/2)/(sin cos) = pi/sin(pi t)
    shift = mpf(1) / 2
    lsnr = -2 * mp.log(mp.tan(mp.pi * t / 2)) + 2 * mp.log(shift)
    return vp_from_log_snr(lsnr, -2 * mp.pi / mp.sin(mp.pi * t))


def sigmoid_v(t):
    start, end, tau = -3, 3, 1
    v = sigmoid((start + t * (end - start)) / tau)
    return v, v * (1 - v) * (end - start) / tau


def sigmoid_process(t):
    # alpha_bar = (v(1) - v(t))/(v(1) - v(0)), v(t) = sigmoid((start + t (end - start))/tau)
    v, dv = sigmoid_v(t)
    v1, _ = sigmoid_v(mpf(1))
    v0, _ = sigmoid_v(mpf(0))
    return vp_from_alpha_bar((v1 - v) / (v1 - v0), -dv / (v1 - v0))


def linear_beta(t):
    # beta = beta_min + t (beta_max - beta_min), 0.1 -> 20; B = beta_min t + (beta_max - beta_min) t^2/2
    bmin, bmax = mpf(1) / 10, mpf(20)
    return bmin + t * (bmax - bmin), bmin * t + (bmax - bmin) * t * t / 2


def sub_vp(t):
    # alpha = exp(-B/2), sigma = 1 - exp(-B)
    beta, big_b = linear_beta(t)
    a = mp.exp(-big_b / 2)
    return a, -mp.expm1(-big_b), -beta * a / 2, beta * mp.exp(-big_b)


def tangent(t):
    # alpha_bar = 1/(1 + lambda0 tan(pi t/2)^2), lambda0 = 1/2; tan' = (pi/2)(1 + tan^2)
    l0 = mpf(1) / 2
    tn = mp.tan(mp.pi * t / 2)
    den = 1 + l0 * tn * tn
    return vp_from_alpha_bar(1 / den, -l0 * 2 * tn * (1 + tn * tn) * (mp.pi / 2) / den ** 2)


def ve(t):
    # sigma = s_min (s_max/s_min)^t, s_min = 0.01, s_max = 50, alpha = 1
    smin, smax = mpf(1) / 100, mpf(50)
    s = smin * (smax / smin) ** t
    return mpf(1), s, mpf(0), s * mp.log(smax / smin)


def vp_linear(t):
    # alpha = exp(-1/2 int_0^t beta), sigma = sqrt(1 - alpha^2)
    return vp_from_beta(*linear_beta(t))


PROCESSES = {
    "cosine": cosine,
    "cosine_nichol": cosine_nichol,
    "edm": edm,
    "gaussian_alpha_bar": gaussian_alpha_bar,
    "karras_ve": karras_ve,
    "linear_logsnr": linear_logsnr,
    "lm_sqrt": lm_sqrt,
    "rectified_flow": rectified_flow,
    "sd3_shift": sd3_shift,
    "sd_scaled_linear": sd_scaled_linear,
    "shifted_cosine": shifted_cosine,
    "sigmoid": sigmoid_process,
    "sub_vp": sub_vp,
    "tangent": tangent,
    "ve": ve,
    "vp_linear": vp_linear,
}


def quantities(a, s, da, ds):
    """The quantities of docs/theory.md section 1; a value or an exception (division by zero)."""
    def q(fn):
        try:
            v = fn()
        except (ZeroDivisionError, ValueError):
            return None
        if isinstance(v, mpmath.mpc) or not mp.isfinite(v):
            return None
        return v

    f = q(lambda: da / a)
    g2 = q(lambda: 2 * s * ds - 2 * (da / a) * s * s)
    return {
        "alpha": q(lambda: a),
        "sigma": q(lambda: s),
        "alpha_bar": q(lambda: a * a),
        "f": f,
        "g2": g2,
        "g": q(lambda: mp.sqrt(2 * s * ds - 2 * (da / a) * s * s)),
        "lambda": q(lambda: mp.log(a / s)),
        "dlambda": q(lambda: da / a - ds / s),
        "log_snr": q(lambda: 2 * mp.log(a / s)),
        "snr": q(lambda: a * a / (s * s)),
        "rho": q(lambda: s / a),
    }


def at(name, t_text_or_fn, dps):
    """All quantities of process `name` at t, working at `dps` digits; t is a function of
    the precision so that it is exact to it."""
    with mp.workdps(dps):
        t = t_text_or_fn()
        return quantities(*PROCESSES[name](t))


def agreed(lo, hi, dps):
    """The value of one quantity from its evaluations at dps and 2 dps: ('value', mpf),
    ('zero',) or None (undefined at both)."""
    if lo is None and hi is None:
        return None
    if lo is None or hi is None:
        raise RuntimeError(f"defined at one precision only: {lo} vs {hi}")
    with mp.workdps(2 * dps):
        if abs(lo) < mpf(10) ** (-0.8 * dps) and abs(hi) < mpf(10) ** (-1.6 * dps):
            return ("zero",)
        if hi == 0 or abs(lo - hi) > abs(hi) * mpf(10) ** -60:
            raise RuntimeError(f"precisions disagree: {mpmath.nstr(lo, 30)} vs {mpmath.nstr(hi, 30)}")
        return ("value", hi)


def values(name, t_fn, dps):
    lo = at(name, t_fn, dps)
    hi = at(name, t_fn, 2 * dps)
    out = {}
    for q in QUANTITIES:
        try:
            out[q] = agreed(lo[q], hi[q], dps)
        except RuntimeError as e:
            raise RuntimeError(f"{name} {q}: {e}") from None
    return out


def to_fraction(x):
    sign, man, exp, _ = x._mpf_  # x.man_exp drops the sign
    if man == 0:
        return Fraction(0)
    man = -int(man) if sign else int(man)
    return Fraction(man * 2 ** exp) if exp >= 0 else Fraction(man, 2 ** -exp)


def round_f64(v):
    """('value', mpf) or ('zero',) -> the nearest f64, or None if it overflows."""
    if v[0] == "zero":
        return 0.0
    fr = to_fraction(v[1])
    try:
        return fr.numerator / fr.denominator  # correctly rounded (ties to even)
    except OverflowError:
        return None


def margin_ulp(v, x):
    """Distance in ulps from the exact value to the nearest rounding boundary of f64 x."""
    if v[0] == "zero":
        return None
    exact = to_fraction(v[1])
    lo = math.nextafter(x, -math.inf)
    hi = math.nextafter(x, math.inf)
    fx = Fraction(x)
    below = (fx + Fraction(lo)) / 2
    above = (fx + Fraction(hi)) / 2 if math.isfinite(hi) else None
    ulp = Fraction(math.ulp(x))
    d = abs(exact - below)
    if above is not None:
        d = min(d, abs(above - exact))
    return float(d / ulp)


def limit(name, end):
    """One-sided limit of every quantity at t = end (0 or 1): ('value', f64), '+inf', '-inf'."""
    dps = 400
    samples = []
    for k in (60, 80, 100):
        if end == 0:
            t_fn = lambda k=k: mpf(10) ** -k
        else:
            t_fn = lambda k=k: 1 - mpf(10) ** -k
        samples.append(values(name, t_fn, dps))
    out = {}
    for q in QUANTITIES:
        vs = [s[q] for s in samples]
        if any(v is None for v in vs):
            raise RuntimeError(f"{name} {q} undefined near t = {end}: {vs}")
        rounded = [round_f64(v) for v in vs]
        if rounded[0] is not None and all(r == rounded[0] for r in rounded):
            out[q] = ("value", rounded[0], vs[-1])
            continue
        mags = [abs(v[1]) if v[0] == "value" else mpf(0) for v in vs]
        signs = {mp.sign(v[1]) for v in vs if v[0] == "value"}
        if len(signs) == 1 and all(m > 0 for m in mags):
            r1, r2 = mags[1] / mags[0], mags[2] / mags[1]
            if r1 <= mpf("1e-3") and r2 <= mpf("1e-3"):
                out[q] = ("value", 0.0, ("zero",))
                continue
            if r1 >= mpf("1.15") and r2 >= mpf("1.15"):
                out[q] = ("+inf",) if signs == {1} else ("-inf",)
                continue
        raise RuntimeError(
            f"{name} {q} at t = {end}: no limit classified: "
            + ", ".join(mpmath.nstr(v[1], 20) if v[0] == "value" else "0" for v in vs)
        )
    # Where the formula is defined at the end itself, it must agree with the limit.
    dps_direct = 300
    try:
        direct = at(name, lambda: mpf(end), dps_direct)
    except ZeroDivisionError:  # a derivative of the process itself (sigma' at sigma = 0)
        direct = {}
    for q in QUANTITIES:
        d = direct.get(q)
        lim = out[q]
        if d is None:
            continue
        tiny = abs(d) < mpf(10) ** (-0.2 * dps_direct)
        huge = abs(d) > mpf(10) ** (0.2 * dps_direct)
        if lim[0] == "value":
            ok = (lim[1] == 0.0 and tiny) or (not tiny and not huge and round_f64(("value", d)) == lim[1])
        else:
            # mpmath's end is within 1e-300 of the exact one: past the last sample.
            last = samples[-1][q]
            ok = (huge or (last[0] == "value" and abs(d) > abs(last[1]))) and (
                mp.sign(d) > 0) == (lim[0] == "+inf")
        if not ok:
            raise RuntimeError(f"{name} {q}: value {mpmath.nstr(d, 20)} at t = {end} is not the limit {lim}")
    return out


def t_function(text):
    return {
        "1e-300": lambda: mpf(10) ** -300,
        "1e-12": lambda: mpf(10) ** -12,
        "1e-6": lambda: mpf(10) ** -6,
        "0.5": lambda: mpf(1) / 2,
        "1 - 1e-12": lambda: 1 - mpf(10) ** -12,
    }[text]


def self_checks():
    """The hand-derived derivatives against numeric differentiation, the closed-form
    integrals of beta against quadrature, and catalogue forms (docs/theory.md section 1)."""
    with mp.workdps(60):
        for name, proc in PROCESSES.items():
            for t in (mpf("0.3"), mpf("0.5"), mpf("0.77")):
                a, s, da, ds = proc(t)
                na = mp.diff(lambda x: proc(x)[0], t)
                ns = mp.diff(lambda x: proc(x)[1], t)
                for exact, num, what in ((da, na, "alpha'"), (ds, ns, "sigma'")):
                    assert abs(exact - num) <= mpf("1e-40") * (1 + abs(num)), (name, what, t, exact, num)
        t = mpf("0.5")
        beta = lambda x: 1000 * (mp.sqrt(mpf(85) / 100000) + x * (mp.sqrt(mpf(12) / 1000) - mp.sqrt(mpf(85) / 100000))) ** 2
        a, *_ = sd_scaled_linear(t)
        assert abs(a - mp.exp(-mp.quad(beta, [0, t]) / 2)) < mpf("1e-50")
        a, *_ = vp_linear(t)
        assert abs(a - mp.exp(-mp.quad(lambda x: mpf(1) / 10 + x * (20 - mpf(1) / 10), [0, t]) / 2)) < mpf("1e-50")
        # Catalogue forms at t = 0.3.
        t = mpf("0.3")
        def q(name):
            return quantities(*PROCESSES[name](t))
        close = lambda x, y: abs(x - y) <= mpf("1e-50") * (1 + abs(y))
        b = mpf(1) / 10 + t * (20 - mpf(1) / 10)
        B = t / 10 + (20 - mpf(1) / 10) * t * t / 2
        assert close(q("vp_linear")["g2"], b) and close(q("vp_linear")["f"], -b / 2)
        assert close(q("sub_vp")["g2"], b * (1 - mp.exp(-2 * B)))
        assert close(q("cosine")["g2"], mp.pi * mp.tan(mp.pi * t / 2))
        assert close(q("rectified_flow")["g2"], 2 * t / (1 - t))
        assert close(q("lm_sqrt")["g2"], 1 / (2 * (mp.sqrt(t) - t)))
        assert close(q("tangent")["rho"], mp.sqrt(mpf(1) / 2) * mp.tan(mp.pi * t / 2))
        assert close(q("ve")["g2"], 2 * q("ve")["sigma"] ** 2 * mp.log(5000))
        assert close(q("shifted_cosine")["rho"], 2 * mp.tan(mp.pi * t / 2))
        assert close(q("linear_logsnr")["dlambda"], mpf(-10))
        assert close(q("gaussian_alpha_bar")["g2"], 24 * t)
        assert close(q("edm")["g2"], 2 * t)
        sd = q("sd_scaled_linear")
        assert close(sd["g2"], -2 * sd["f"])


def main():
    self_checks()
    cases = []
    near_ties = []
    for name in PROCESSES:
        print(name, file=sys.stderr)
        per_t = {}
        for text in TIMES:
            if text in ("0", "1"):
                per_t[text] = ("limit", limit(name, int(text)))
            else:
                dps = 1500 if text == "1e-300" else 300
                per_t[text] = ("value", values(name, t_function(text), dps))
        for q in QUANTITIES:
            for text in TIMES:
                how, vals = per_t[text]
                case = {"process": name, "quantity": q, "t": text}
                if how == "limit":
                    lim = vals[q]
                    case["at_end"] = "limit"
                    if lim[0] == "value":
                        x, exact = lim[1], lim[2]
                    else:
                        case["expect"] = lim[0]
                        x = exact = None
                else:
                    exact = vals[q]
                    if exact is None:
                        raise RuntimeError(f"{name} {q} undefined at t = {text}")
                    x = round_f64(exact)
                    if x is None:
                        case["expect"] = "outside"
                        with mp.workdps(30):
                            case["about"] = mpmath.nstr(exact[1], 4)
                if "expect" not in case:
                    case["expect"] = "value"
                    case["value"] = repr(x)
                    m = margin_ulp(exact, x)
                    case["margin_ulp"] = None if m is None else float(f"{m:.3g}")
                    if m is not None and m < 1e-30:
                        case["near_tie"] = True
                        near_ties.append(f"{name} {q} {text}")
                issue = KNOWN_ISSUES.get((name, q, text))
                if issue is not None:
                    case["known_issue"] = issue
                cases.append(case)
    data = {
        "about": "expected `diffsym eval derivations/PROCESS.dsym QUANTITY --t T` for the bundled "
        "library; generated by tests/data/eval_reference.py (mpmath, independent of diffsym)",
        "mpmath": mpmath.__version__,
        "times": TIMES,
        "quantities": QUANTITIES,
        "near_ties": near_ties,
        "cases": cases,
    }
    with open(OUT, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    counts = {}
    for c in cases:
        counts[c["expect"]] = counts.get(c["expect"], 0) + 1
    print(f"{len(cases)} cases: {counts}; near ties: {near_ties}; "
          f"known issues: {len(KNOWN_ISSUES)}", file=sys.stderr)


if __name__ == "__main__":
    main()
