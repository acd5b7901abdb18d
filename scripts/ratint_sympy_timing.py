#!/usr/bin/env python3
"""SymPy's time for the integrals benches/ratint.rs measures: the six integrals of the
rectified flow's DDIM expansion on the spectrum [1, 0.5, 0.1] (I1..I6), then four
denominators split over quadratic fields and three exponential integrands (I7..I13), each
over [0, 1], with
sympy.integrate (best of 3 runs, each on fresh expressions with SymPy's cache cleared).

Run: python3 scripts/ratint_sympy_timing.py
"""
import time

import sympy
from sympy.core.cache import clear_cache

INTEGRANDS = [
    "10/(1 - 2*t + 11*t**2)**2",
    "(5 - 110*t + 605*t**2)/(1 - 8*t + 68*t**2 - 296*t**3 + 1270*t**4 - 3256*t**5 + 8228*t**6 - 10648*t**7 + 14641*t**8)",
    "2/(1 - 2*t + 3*t**2)**2",
    "(1 - 6*t + 9*t**2)/(1 - 8*t + 36*t**2 - 104*t**3 + 214*t**4 - 312*t**5 + 324*t**6 - 216*t**7 + 81*t**8)",
    "1/(1 - 2*t + 2*t**2)**2",
    "(sympy.Rational(1, 2) - 2*t + 2*t**2)/(1 - 8*t + 32*t**2 - 80*t**3 + 136*t**4 - 160*t**5 + 128*t**6 - 64*t**7 + 16*t**8)",
    # split over Q(sqrt d)
    "1/(t**4 + 1)",
    "1/(t**6 + 1)",
    "t**2/(t**4 + 1)",
    "1/((t**4 + 1)*(t**2 + 2))",
    # exp substitution
    "1/(1 + sympy.exp(t))",
    "1/sympy.cosh(t)",
    "1/(1 + sympy.exp(t) + sympy.exp(t/2))",
]

t = sympy.Symbol("t", real=True)
print(f"sympy {sympy.__version__}")
for i, text in enumerate(INTEGRANDS, 1):
    best = float("inf")
    for _ in range(3):
        clear_cache()
        e = eval(text, {"t": t, "sympy": sympy})
        start = time.perf_counter()
        v = sympy.integrate(e, (t, 0, 1))
        best = min(best, time.perf_counter() - start)
    print(f"I{i}: {best * 1e3:.1f} ms  = {v}  ({sympy.N(v, 20)})")
