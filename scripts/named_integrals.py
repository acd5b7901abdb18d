"""Reference values for the named-integral tests (tests/it/named.rs, src/expr/named.rs).

Each value is an integral without an elementary primitive, computed by mpmath's
tanh-sinh quadrature at 50 digits (and, where one exists, checked against a special
function), printed to 30 significant digits.
"""
import mpmath as mp

mp.mp.dps = 50


def show(name, v):
    print(f"{name} = {mp.nstr(v, 30)}")


def alpha_from_beta(beta, t):
    return mp.exp(-mp.quad(beta, [0, t]) / 2)


erf_beta = lambda s: mp.mpf(1) / 10 + mp.mpf(199) / 10 * mp.exp(-s**2)
sqrt_beta = lambda s: mp.sqrt(1 + s**3)
mixed_beta = lambda s: 1 + s * mp.exp(s**2) / (1 + s)
t = mp.mpf(7) / 10
# The error function: int_0^t exp(-s^2) ds = sqrt(pi)/2 erf(t).
closed = mp.exp(-(t / 10 + mp.mpf(199) / 10 * mp.sqrt(mp.pi) / 2 * mp.erf(t)) / 2)
assert abs(closed - alpha_from_beta(erf_beta, t)) < mp.mpf(10) ** -45
show("erfbeta alpha(0.7)", closed)
show("sqrtbeta alpha(0.7)", alpha_from_beta(sqrt_beta, t))
show("mixed alpha(0.7)", alpha_from_beta(mixed_beta, t))
show("direct alpha(0.7)", mp.exp(-mp.sqrt(mp.pi) / 2 * mp.erf(t)))
show("int_0^1 sqrt(1 + s^3) ds", mp.quad(sqrt_beta, [0, 1]))
show("int_0^1 exp(-s^2) ds", mp.sqrt(mp.pi) / 2 * mp.erf(1))
show("int_0^(1/3) exp(-s^2) ds", mp.sqrt(mp.pi) / 2 * mp.erf(mp.mpf(1) / 3))
show("int_1^(1/2) sqrt(1 + s^3) ds", mp.quad(sqrt_beta, [1, mp.mpf(1) / 2]))
show("int_0^1 int_0^u exp(-s^2) ds du", mp.quad(lambda u: mp.sqrt(mp.pi) / 2 * mp.erf(u), [0, 1]))
show("sqrtbeta sigma(0.7)", mp.sqrt(1 - alpha_from_beta(sqrt_beta, t) ** 2))
