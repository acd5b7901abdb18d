#!/usr/bin/env python3
"""Reference values for the evaluators `emit --source` writes (tests/it/mixture_emit.rs):
a 2-D mixture of three components under the cosine process alpha = cos(pi t/2),
sigma = sin(pi t/2), by mpmath at 50 digits, independent of diffsym. log p from the
definition (a weighted sum of Gaussian densities); the score by numerical differentiation
of log p at high precision (mpmath.diff); the probability-flow velocity as f x - (g2/2) score
with f = alpha'/alpha and g2 = 2 sigma^2 (sigma'/sigma - alpha'/alpha); at t = 1, where
alpha = 0 and f is infinite, from its limit alpha'(1) * E[x0] = -(pi/2) sum_k pi_k m_k."""
from mpmath import mp, mpf, matrix, det, exp, log, pi, diff, cos, sin

mp.dps = 50
weights = [mpf("0.2"), mpf("0.5"), mpf("0.3")]
means = [[mpf(1), mpf(-1)], [mpf(-2), mpf("0.5")], [mpf(0), mpf(3)]]
covs = [
    [[mpf(1), mpf("0.3")], [mpf("0.3"), mpf("0.5")]],
    [[mpf("0.2"), mpf(0)], [mpf(0), mpf(2)]],
    [[mpf("0.7"), mpf("-0.2")], [mpf("-0.2"), mpf("0.4")]],
]


def schedule(t):
    return cos(pi * t / 2), sin(pi * t / 2), -pi / 2 * sin(pi * t / 2), pi / 2 * cos(pi * t / 2)


def log_p(t, x0, x1):
    alpha, sigma, _, _ = schedule(t)
    total = mpf(0)
    for w, m, c in zip(weights, means, covs):
        cm = matrix(c) * alpha**2 + matrix([[1, 0], [0, 1]]) * sigma**2
        d = matrix([x0 - alpha * m[0], x1 - alpha * m[1]])
        q = (d.T * cm**-1 * d)[0]
        total += w * exp(-q / 2) / (2 * pi * det(cm) ** 0.5)
    return log(total)


def show(label, values):
    print(label, ", ".join(mp.nstr(v, 20) for v in values))


for t, x in [(mpf("0.3"), (mpf("0.5"), mpf("-0.25"))), (mpf("0.3"), (mpf(-1), mpf(2)))]:
    alpha, sigma, da, ds = schedule(t)
    lp = lambda a, b: log_p(t, a, b)
    score = [diff(lp, x, n) for n in [(1, 0), (0, 1)]]
    f = da / alpha
    g2 = 2 * sigma**2 * (ds / sigma - da / alpha)
    show(f"t={t} x={x} log_p", [lp(*x)])
    show(f"t={t} x={x} score", score)
    show(f"t={t} x={x} velocity", [f * xi - g2 / 2 * si for xi, si in zip(x, score)])
x = (mpf("0.5"), mpf("-0.25"))
show("t=1 log_p", [log_p(mpf(1), *x)])
show("t=1 score", [-xi for xi in x])
show("t=1 velocity", [-pi / 2 * sum(w * m[i] for w, m in zip(weights, means)) for i in range(2)])
