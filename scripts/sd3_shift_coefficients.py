#!/usr/bin/env python3
"""c_2 and c_3 of DDIM's KL series for sd3_shift (s = 3) on the spectrum [1, 0.5, 0.1], by
mpmath quadrature (50 digits), independent of diffsym: with rho = s t/(1 - t) and
phi_i = atan(rho/sqrt(lambda_i)), J_i = int_0^1 phi_i'^2 dt, c_2 = sum J_i^2/4 and
c_3 = sum J_i^3/12 (docs/theory.md section 5). Used by tests/it/asymptotics.rs.

Run: python3 scripts/sd3_shift_coefficients.py
"""
import mpmath

mpmath.mp.dps = 50
s = 3
J = []
for lam in [mpmath.mpf(1), mpmath.mpf(1) / 2, mpmath.mpf(1) / 10]:
    def dphi(t, lam=lam):
        rho = s * t / (1 - t)
        drho = s / (1 - t) ** 2
        return mpmath.sqrt(lam) * drho / (lam + rho**2)
    J.append(mpmath.quad(lambda t: dphi(t) ** 2, [0, mpmath.mpf(1) / 2, 1]))
c2 = sum(j**2 for j in J) / 4
c3 = sum(j**3 for j in J) / 12
print("c_2", mpmath.nstr(c2, 30), repr(float(c2)))
print("c_3", mpmath.nstr(c3, 30), repr(float(c3)))
