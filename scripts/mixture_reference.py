#!/usr/bin/env python3
"""Reference score and Hessian of log p for a Gaussian mixture's marginal, by mpmath at 50
digits: log p from the definition (a weighted sum of Gaussian densities), differentiated
numerically at high precision (mpmath.diff). Independent of diffsym; the numbers are pasted
into src/analysis/mixture.rs's tests."""
from mpmath import mp, mpf, matrix, det, exp, log, pi, diff

mp.dps = 50
weights = [mpf("0.2"), mpf("0.5"), mpf("0.3")]
means = [[mpf(1), mpf(-1)], [mpf(-2), mpf("0.5")], [mpf(0), mpf(3)]]
covs = [
    [[mpf(1), mpf("0.3")], [mpf("0.3"), mpf("0.5")]],
    [[mpf("0.2"), mpf(0)], [mpf(0), mpf(2)]],
    [[mpf("0.7"), mpf("-0.2")], [mpf("-0.2"), mpf("0.4")]],
]
alpha, sigma = mpf("0.8"), mpf("0.5")


def log_p(x0, x1):
    total = mpf(0)
    for w, m, c in zip(weights, means, covs):
        cm = matrix(c) * alpha**2 + matrix([[1, 0], [0, 1]]) * sigma**2
        inv = cm**-1
        d = matrix([x0 - alpha * m[0], x1 - alpha * m[1]])
        q = (d.T * inv * d)[0]
        total += w * exp(-q / 2) / (2 * pi * det(cm) ** 0.5)
    return log(total)


x = (mpf("0.3"), mpf("0.9"))
print("score", [mp.nstr(diff(log_p, x, n), 20) for n in [(1, 0), (0, 1)]])
print(
    "hessian",
    [mp.nstr(diff(log_p, x, n), 20) for n in [(2, 0), (1, 1), (0, 2)]],
)
