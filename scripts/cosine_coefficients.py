#!/usr/bin/env python3
"""c_2 and c_3 of DDIM's KL series for the cosine schedule (rho = tan(pi t/2)) on the
spectrum [1, 0.5, 0.1], by mpmath quadrature (50 digits), independent of diffsym:
phi_i = atan(rho/sqrt(lambda_i)), J_i = int_0^1 phi_i'^2 dt, c_2 = sum J_i^2/4,
c_3 = sum J_i^3/12 (docs/theory.md section 5). Used by tests/it/asymptotics.rs.

Run: python3 scripts/cosine_coefficients.py
"""
import mpmath

mpmath.mp.dps = 50
J = []
for lam in [mpmath.mpf(1), mpmath.mpf(1) / 2, mpmath.mpf(1) / 10]:
    def dphi(t, lam=lam):
        rho = mpmath.tan(mpmath.pi * t / 2)
        drho = mpmath.pi / 2 / mpmath.cos(mpmath.pi * t / 2) ** 2
        return mpmath.sqrt(lam) * drho / (lam + rho**2)
    J.append(mpmath.quad(lambda t: dphi(t) ** 2, [0, mpmath.mpf(1) / 2, 1]))
c2 = sum(j**2 for j in J) / 4
c3 = sum(j**3 for j in J) / 12
print("c_2", mpmath.nstr(c2, 30), repr(float(c2)), "103 pi^4/1280 =", mpmath.nstr(103 * mpmath.pi**4 / 1280, 30))
print("c_3", mpmath.nstr(c3, 30), repr(float(c3)))

# A schedule whose integrals do not close (rho = t exp(t - 1)/(1 - t)), for the test that
# printed quadrature errors bound the true ones: spectrum [1, 0.5, 0.01].
J = []
for lam in [mpmath.mpf(1), mpmath.mpf(1) / 2, mpmath.mpf(1) / 100]:
    def dphi(t, lam=lam):
        rho = t * mpmath.exp(t - 1) / (1 - t)
        drho = mpmath.diff(lambda s: s * mpmath.exp(s - 1) / (1 - s), t)
        return mpmath.sqrt(lam) * drho / (lam + rho**2)
    J.append(mpmath.quad(lambda t: dphi(t) ** 2, [0, mpmath.mpf(1) / 4, mpmath.mpf(1) / 2, mpmath.mpf(3) / 4, 1]))
print("exp_flow c_2", repr(float(sum(j**2 for j in J) / 4)), "c_3", repr(float(sum(j**3 for j in J) / 12)))
