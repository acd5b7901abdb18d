#!/usr/bin/env python3
"""Reference values for the tests in src/expr/ratint.rs: int_lo^hi of rational integrands
(and of integrands rational in cos, sin, tan of pi t/2, over [0, 1], and in exponentials) by mpmath's tanh-sinh
quadrature at 60 digits, independent of diffsym.

Prints one Rust tuple per integrand: (integrand, lo, hi, value * 10^40 rounded to an integer).
Run: python3 scripts/ratint_reference.py
"""
from fractions import Fraction

import mpmath

mpmath.mp.dps = 60

CASES = [
    ("1/(1 + t^2)", "0", "1"),
    ("1/(1 + t^3)", "0", "1"),
    ("1/(1 - 2*t + 2*t^2)^2", "0", "1"),
    ("10/(1 - 2*t + 11*t^2)^2", "0", "1"),
    ("(5 - 110*t + 605*t^2)/(1 - 8*t + 68*t^2 - 296*t^3 + 1270*t^4 - 3256*t^5 + 8228*t^6 - 10648*t^7 + 14641*t^8)", "0", "1"),
    ("2/(1 - 2*t + 3*t^2)^2", "0", "1"),
    ("(1 - 6*t + 9*t^2)/(1 - 8*t + 36*t^2 - 104*t^3 + 214*t^4 - 312*t^5 + 324*t^6 - 216*t^7 + 81*t^8)", "0", "1"),
    ("(1/2 - 2*t + 2*t^2)/(1 - 8*t + 32*t^2 - 80*t^3 + 136*t^4 - 160*t^5 + 128*t^6 - 64*t^7 + 16*t^8)", "0", "1"),
    ("1/(t + 1)^3", "0", "1"),
    ("1/((t + 2)^2*(t + 3))", "0", "1"),
    ("t/(t^2 + t + 1)", "0", "1"),
    ("1/(t^2 - 2)", "0", "1"),
    ("1/(t^2 - 3)", "-1", "1"),
    ("2*t/(t^2 - 2)", "0", "1"),
    ("3*t^2/(1 + t^6)", "0", "2"),
    ("1/(t^4 + 4)", "0", "1"),
    ("1/(t^3 - 8)", "0", "1"),
    ("(t^3 + 1)/(t^2 + 1)", "0", "1"),
    ("t^5/(t^2 + 1)^2", "0", "1"),
    ("1/((t^2 + 1)*(t^2 + 4))", "0", "1"),
    ("1/(t^2 + 1)^3", "0", "1"),
    ("1/(t*(t + 1))", "1", "2"),
    ("1/(t^2*(t + 1)^2)", "1", "2"),
    ("(2*t + 3)/((t - 3)*(t + 4)^2)", "0", "1"),
    ("1/(t^2 + t + 1)^2", "-1", "1"),
    ("1/(t^3 + t)", "1", "3"),
    ("1/(t^4 - 1)", "2", "3"),
    ("1/(t^4 + t^2 + 1)", "0", "1"),
    ("1/(5 + 4*t + t^2)", "-3", "0"),
    ("1/(t^2 - t - 1)", "2", "3"),
    ("(t + 1)/(t^2 - 5)", "-1", "1"),
    ("1/(2*t + 1)^4", "0", "1"),
    ("t^2/(t^2 + 2*t + 5)^2", "0", "1"),
    ("1/(t^2 + 1/4)", "0", "1/2"),
    ("7/(3*t^2 + 2*t + 1)", "0", "1"),
    ("1/(t^6 - 1)", "2", "3"),
    ("1/((1 + t)^2*(1 + t^2))", "0", "1"),
    ("(1 - t^2)/(1 + t^2)^2", "0", "1"),
    ("1/(t^2 + 2)^2", "0", "1"),
    ("t/(t^4 + 2)", "0", "1"),
    ("1/(t*(t^2 + 1)^2)", "1", "2"),
    ("1/((t - 1)^2*(t^2 + 1))", "2", "3"),
    ("1000/(1 + 1000*t^2)", "0", "1"),
    ("(t^2 + 1)/(t^4 - t^2 + 1)", "0", "1"),
    ("1/(t^2 - 2*t + 1/2)", "-1", "0"),
    ("(3*t^2 - 1)/(t^3 - t + 1)^2", "0", "1"),
    ("1/(t^2 + 1)", "1", "0"),
    # Residues in fields of degree 4 or 6: the denominator split over Q(sqrt d).
    ("1/(t^4 + 1)", "0", "1"),
    ("t^2/(t^4 + 1)", "0", "1"),
    ("1/(t^6 + 1)", "0", "1"),
    ("1/((t^4 + 1)*(t^2 + 2))", "0", "1"),
    ("(t^3 + 2)/(t^4 + 1)", "-1", "2"),
    ("1/(t^4 - 10*t^2 + 1)", "0", "1/4"),
    ("1/(t^4 - 2)", "-1", "1"),
    ("1/(t^4 + t^3 + t^2 + t + 1)", "0", "1"),
    ("1/(4*t^4 + 9)", "0", "1"),
    ("1/(t^4 + 1)^2", "0", "1"),
    ("1/((t - 3)*(t^4 + 1))", "0", "1"),
    ("(t^5 + 1)/(t^6 + 1)^2", "-1", "1"),
    ("1/(t^4 + 9)", "1", "2"),
    ("t/(t^6 + 1)", "0", "3"),
]


def value(expr, lo, hi):
    f = eval("lambda t: " + expr.replace("^", "**").replace("/", "/mpmath.mpf(1)/"), {"mpmath": mpmath})
    a, b = mpmath.mpf(Fraction(lo).numerator) / Fraction(lo).denominator, mpmath.mpf(Fraction(hi).numerator) / Fraction(hi).denominator
    return mpmath.quad(f, [a, b])


for expr, lo, hi in CASES:
    v = value(expr, lo, hi)
    scaled = int(mpmath.nint(v * mpmath.mpf(10) ** 40))
    print(f'    ("{expr}", "{lo}", "{hi}", "{scaled}"),')

# Integrands rational in cos, sin, tan of pi t/2, over [0, 1] (u = tan(pi t/2)).
TRIG = [
    "pi^2/(2*(2 - cos(pi*t/2)^2)^2)",
    "1/(1 + sin(pi*t/2)^2)",
    "cos(pi*t/2)^2/(3 - 2*cos(pi*t/2)^2)",
    "sin(pi*t/2)*cos(pi*t/2)/(1 + cos(pi*t/2)^2)",
    "cos(pi*t/2)^2/(2 + tan(pi*t/2)^2)",
    "5*pi^2/(2*(10 - 9*cos(pi*t/2)^2)^2)",
]
print("// trigonometric")
for expr in TRIG:
    f = eval("lambda t: " + expr.replace("^", "**").replace("pi", "mpmath.pi").replace("cos", "mpmath.cos").replace("sin", "mpmath.sin").replace("tan", "mpmath.tan"), {"mpmath": mpmath})
    v = mpmath.quad(f, [0, 1])
    print(f'    ("{expr}", "{int(mpmath.nint(v * mpmath.mpf(10) ** 40))}"),')

# Integrands rational in exponentials of one family (u = exp(g (t + s)) or B^(g t)).
EXP = [
    ("1/(1 + exp(t))", "0", "1"),
    ("exp(t)/(1 + exp(2*t))", "0", "1"),
    ("1/(2 + exp(-t))^2", "0", "1"),
    ("sigmoid(3*t)", "0", "1"),
    ("1/cosh(t)", "-1", "2"),
    ("tanh(t/2)", "0", "1"),
    ("exp(10*t - 5)/(1 + exp(20*t - 10))", "0", "1"),
    ("1/(1 + 2^t)", "0", "1"),
    ("1/(1 + exp(t) + exp(t/2))", "0", "1"),
    ("expm1(t)/(exp(2*t) + 3)", "-2", "1"),
    ("sinh(t)^2/(1 + cosh(t))", "0", "3/2"),
    ("5^(2*t)/(1 + 5^t)^3", "-1", "1"),
    ("1/(exp(t) - 2)", "1", "2"),
    ("exp(t)/(exp(4*t) + 1)", "0", "1"),
]
print("// exponential")
for expr, lo, hi in EXP:
    src = expr.replace("^", "**").replace("exp(", "mpmath.exp(").replace("sigmoid(", "(lambda z: 1/(1 + mpmath.exp(-z)))(").replace("cosh(", "mpmath.cosh(").replace("sinh(", "mpmath.sinh(").replace("tanh(", "mpmath.tanh(").replace("expm1(", "mpmath.expm1(").replace("mpmath.mpmath.", "mpmath.")
    f = eval("lambda t: " + src, {"mpmath": mpmath})
    a, b = mpmath.mpf(Fraction(lo).numerator) / Fraction(lo).denominator, mpmath.mpf(Fraction(hi).numerator) / Fraction(hi).denominator
    v = mpmath.quad(f, [a, b])
    print(f'    ("{expr}", "{lo}", "{hi}", "{int(mpmath.nint(v * mpmath.mpf(10) ** 40))}"),')
