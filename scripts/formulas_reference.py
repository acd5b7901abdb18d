#!/usr/bin/env python3
"""Reference values of the tutorial formulas (ddpm_mean, ddpm_var, ddim_eta_step_eps,
edm_c_*, cfm_target, gen_*) for vp_linear, computed with mpmath at 50 digits from their
defining formulas (docs/theory.md section 2), independently of diffsym. The numbers are
pasted into tests/it/formulas.rs."""
from mpmath import mp, mpf, exp, sqrt, log, diff

mp.dps = 50
b0, b1 = mpf(1) / 10, mpf(20)


def B(t):
    return b0 * t + (b1 - b0) * t**2 / 2


def alpha(t):
    return exp(-B(t) / 2)


def sigma(t):
    return sqrt(1 - exp(-B(t)))


def posterior(t, s):
    a_ts = alpha(t) / alpha(s)
    s2_ts = sigma(t) ** 2 - a_ts**2 * sigma(s) ** 2
    mean_x = a_ts * sigma(s) ** 2 / sigma(t) ** 2
    mean_x0 = alpha(s) * s2_ts / sigma(t) ** 2
    var = s2_ts * sigma(s) ** 2 / sigma(t) ** 2
    return mean_x, mean_x0, var


def ddim_eta(x, eps, z, eta, t, s):
    x0_hat = (x - sigma(t) * eps) / alpha(t)
    s_hat = eta * sqrt(posterior(t, s)[2])
    return alpha(s) * x0_hat + sqrt(sigma(s) ** 2 - s_hat**2) * eps + s_hat * z


def edm(sd, t):
    rho = sigma(t) / alpha(t)
    r2 = rho**2 + sd**2
    return sd**2 / r2, rho * sd / sqrt(r2), 1 / sqrt(r2), log(rho) / 4


t, s = mpf(1) / 2, mpf(2) / 5
x, x0, eps, z = mpf(1), mpf(3) / 10, mpf(1) / 2, mpf(1) / 10
mx, m0, var = posterior(t, s)
rows = {
    "ddpm_mean --x 1 --x0 0.3 --t 0.5 --t-next 0.4": mx * x + m0 * x0,
    "ddpm_var --t 0.5 --t-next 0.4": var,
    "ddim_eta_step_eps --x 1 --eps 0.5 --z 0.1 --eta 1 --t 0.5 --t-next 0.4": ddim_eta(x, eps, z, 1, t, s),
    "ddim_eta_step_eps --x 1 --eps 0.5 --z 0.1 --eta 0.3 --t 0.5 --t-next 0.4": ddim_eta(x, eps, z, mpf(3) / 10, t, s),
    "edm_c_skip --sigma-data 0.5 --t 0.5": edm(mpf(1) / 2, t)[0],
    "edm_c_out --sigma-data 0.5 --t 0.5": edm(mpf(1) / 2, t)[1],
    "edm_c_in --sigma-data 0.5 --t 0.5": edm(mpf(1) / 2, t)[2],
    "edm_c_noise --t 0.5": edm(mpf(1) / 2, t)[3],
    "cfm_target --x0 0.3 --eps 0.5 --t 0.5": diff(alpha, t) * x0 + diff(sigma, t) * eps,
    "gen_alpha --t 0.25": alpha(1 - mpf(1) / 4),
    "gen_sigma --t 0.25": sigma(1 - mpf(1) / 4),
    # dX/dtau = -(f x + g2/(2 sigma) eps) at 1 - tau, f = -beta/2, g2 = beta.
    "gen_pf_velocity_eps --x 1 --eps 0.5 --t 0.25": -(
        -(b0 + (b1 - b0) * mpf(3) / 4) / 2 * x + (b0 + (b1 - b0) * mpf(3) / 4) / (2 * sigma(mpf(3) / 4)) * eps
    ),
    "gen_cfm_target --x0 0.3 --eps 0.5 --t 0.25": diff(lambda u: alpha(1 - u), mpf(1) / 4) * x0
    + diff(lambda u: sigma(1 - u), mpf(1) / 4) * eps,
}
for k, v in rows.items():
    print(f'("{k}", "{mp.nstr(v, 20)}"),')
