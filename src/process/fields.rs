//! Fields and sampler steps of a process (docs/theory.md section 2), in every parameterisation.
//!
//! Every field is linear in the state `x`, the model output `m` and the noise `z`:
//! `field = cx(t, t_next) x + cm(t, t_next) m + cz(t, t_next) z`. Each is first written in
//! the eps parameterisation; another parameterisation P expresses eps as `eps = p x + q m`
//! (for example x0-prediction: `eps = (x - alpha x0)/sigma`), which maps the coefficients
//! `(cx, ce)` to `(cx + ce p, ce q)`. Only the coefficient functions are simplified, so the
//! result prints as `cx*x + cm*m` with each coefficient in simplest form.

use super::time_symbol;
use crate::expr::{ExprId, Func, Pool, Symbol, diff, simplify, subst};

/// Model-output parameterisations: the symbol of the model output and its name in CLI
/// flags and generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Score,
    Eps,
    X0,
    /// Flow-matching velocity.
    U,
    /// v-prediction, `v = alpha eps - sigma x0` (variance-preserving processes only).
    V,
}

impl Param {
    pub const ALL: [Param; 5] = [Param::Score, Param::Eps, Param::X0, Param::U, Param::V];

    pub fn name(self) -> &'static str {
        match self {
            Param::Score => "score",
            Param::Eps => "eps",
            Param::X0 => "x0",
            Param::U => "u",
            Param::V => "v",
        }
    }
}

/// The fields and sampler steps, with their names and calling conventions: the one source
/// `derive`, `eval`, `emit` and the fuzzer ask (names are fixed: the CLI, JSON and
/// generated code use them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// The probability-flow ODE's velocity.
    PfVelocity,
    /// The reverse SDE's drift.
    ReverseDrift,
    /// One Euler step of the probability-flow ODE from `t` to `t_next`.
    EulerStep,
    /// One Euler-Maruyama step of the reverse SDE, with a standard normal draw `z`.
    EulerMaruyamaStep,
    /// One DDIM (eta = 0) step.
    DdimStep,
    /// One DPM-Solver-1 step (the exponential integrator).
    Dpm1Step,
}

impl FieldKind {
    pub const ALL: [FieldKind; 6] = [
        FieldKind::PfVelocity,
        FieldKind::ReverseDrift,
        FieldKind::EulerStep,
        FieldKind::EulerMaruyamaStep,
        FieldKind::DdimStep,
        FieldKind::Dpm1Step,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FieldKind::PfVelocity => "pf_velocity",
            FieldKind::ReverseDrift => "reverse_drift",
            FieldKind::EulerStep => "euler_step",
            FieldKind::EulerMaruyamaStep => "euler_maruyama_step",
            FieldKind::DdimStep => "ddim_step",
            FieldKind::Dpm1Step => "dpm1_step",
        }
    }

    pub fn from_name(name: &str) -> Option<FieldKind> {
        FieldKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether it takes the noise `z`.
    pub fn takes_noise(self) -> bool {
        self == FieldKind::EulerMaruyamaStep
    }

    /// Whether it is a sampler step, from `t` to `t_next`.
    pub fn is_step(self) -> bool {
        !matches!(self, FieldKind::PfVelocity | FieldKind::ReverseDrift)
    }

    /// Its arguments in order, in the parameterisation `param`: `x`, the model output,
    /// `z` if it takes noise, `t`, and `t_next` if it is a step.
    pub fn arguments(self, param: Param) -> Vec<&'static str> {
        let mut args = vec!["x", param.name()];
        if self.takes_noise() {
            args.push("z");
        }
        args.push("t");
        if self.is_step() {
            args.push("t_next");
        }
        args
    }
}

/// The formulas of the tutorial that are not fields in every parameterisation: the
/// conditional fields, the conditional flow-matching target, the DDPM posterior, stochastic
/// DDIM, EDM's preconditioning and the generative clock (docs/theory.md section 2), each
/// with its arguments in order: the one table `derive`, `eval` and asserts ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Formula {
    /// `grad log p_t(x | x0) = -(x - alpha x0)/sigma^2`.
    CondScore,
    /// The velocity of the conditional path through `x0`, as a function of `x`.
    CondVelocity,
    /// The conditional flow-matching target `alpha' x0 + sigma' eps`.
    CfmTarget,
    /// The mean of `x_{t_next}` given `x_t = x` and `x0` (`t_next < t`).
    DdpmMean,
    /// Its variance.
    DdpmVar,
    /// A DDIM step with stochasticity `eta` (0: deterministic DDIM, 1: DDPM's variance).
    DdimEtaStep,
    /// EDM's preconditioning of the denoiser of `x/alpha` at noise level `rho = sigma/alpha`.
    EdmCSkip,
    EdmCOut,
    EdmCIn,
    EdmCNoise,
    /// The generative clock, `t` from 0 (noise) to 1 (data): `alpha(1 - t)`.
    GenAlpha,
    /// `sigma(1 - t)`.
    GenSigma,
    /// The probability-flow velocity in the generative clock, eps-parameterised.
    GenPfVelocityEps,
    /// The flow-matching target in the generative clock.
    GenCfmTarget,
}

impl Formula {
    pub const ALL: [Formula; 14] = [
        Formula::CondScore,
        Formula::CondVelocity,
        Formula::CfmTarget,
        Formula::DdpmMean,
        Formula::DdpmVar,
        Formula::DdimEtaStep,
        Formula::EdmCSkip,
        Formula::EdmCOut,
        Formula::EdmCIn,
        Formula::EdmCNoise,
        Formula::GenAlpha,
        Formula::GenSigma,
        Formula::GenPfVelocityEps,
        Formula::GenCfmTarget,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Formula::CondScore => "cond_score",
            Formula::CondVelocity => "cond_velocity",
            Formula::CfmTarget => "cfm_target",
            Formula::DdpmMean => "ddpm_mean",
            Formula::DdpmVar => "ddpm_var",
            Formula::DdimEtaStep => "ddim_eta_step_eps",
            Formula::EdmCSkip => "edm_c_skip",
            Formula::EdmCOut => "edm_c_out",
            Formula::EdmCIn => "edm_c_in",
            Formula::EdmCNoise => "edm_c_noise",
            Formula::GenAlpha => "gen_alpha",
            Formula::GenSigma => "gen_sigma",
            Formula::GenPfVelocityEps => "gen_pf_velocity_eps",
            Formula::GenCfmTarget => "gen_cfm_target",
        }
    }

    pub fn from_name(name: &str) -> Option<Formula> {
        Formula::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Its arguments in order.
    pub fn arguments(self) -> &'static [&'static str] {
        match self {
            Formula::CondScore | Formula::CondVelocity => &["x", "x0", "t"],
            Formula::CfmTarget | Formula::GenCfmTarget => &["x0", "eps", "t"],
            Formula::DdpmMean => &["x", "x0", "t", "t_next"],
            Formula::DdpmVar => &["t", "t_next"],
            Formula::DdimEtaStep => &["x", "eps", "z", "eta", "t", "t_next"],
            Formula::EdmCSkip | Formula::EdmCOut | Formula::EdmCIn => &["sigma_data", "t"],
            Formula::EdmCNoise | Formula::GenAlpha | Formula::GenSigma => &["t"],
            Formula::GenPfVelocityEps => &["x", "eps", "t"],
        }
    }
}

/// The arguments of the field or formula called `name` (`pf_velocity_eps`, `cond_score`,
/// `ddpm_var`), if it is one.
pub fn field_arguments(name: &str) -> Option<Vec<&'static str>> {
    if let Some(f) = Formula::from_name(name) {
        return Some(f.arguments().to_vec());
    }
    FieldKind::ALL.iter().find_map(|k| {
        let p = name.strip_prefix(k.name())?.strip_prefix('_')?;
        let param = Param::ALL.into_iter().find(|q| q.name() == p)?;
        Some(k.arguments(param))
    })
}

/// Every name a field or formula may be called by, in every parameterisation.
pub fn field_names() -> Vec<String> {
    let mut names: Vec<String> = Formula::ALL.iter().map(|f| f.name().to_owned()).collect();
    for k in FieldKind::ALL {
        names.extend(
            Param::ALL
                .iter()
                .map(|p| format!("{}_{}", k.name(), p.name())),
        );
    }
    names
}

/// Whether `name` is a field's full name (`pf_velocity_eps`) or a conditional field's.
pub fn is_field_name(name: &str) -> bool {
    field_arguments(name).is_some()
}

/// A field in one parameterisation.
#[derive(Clone, Debug)]
pub struct Field {
    pub kind: FieldKind,
    pub param: Param,
    /// `cx*x + cm*m + cz*z`, each coefficient simplified on its own.
    pub expr: ExprId,
}

impl Field {
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The name with its parameterisation, as `derive`, JSON and generated code show it:
    /// `pf_velocity_eps`.
    pub fn full_name(&self) -> String {
        format!("{}_{}", self.kind.name(), self.param.name())
    }

    /// Whether the field depends on `t_next` (a sampler step).
    pub fn is_step(&self) -> bool {
        self.kind.is_step()
    }
}

/// The variables fields and formulas are written in.
pub struct Vars {
    pub x: Symbol,
    pub x0: Symbol,
    pub z: Symbol,
    pub t: Symbol,
    pub t_next: Symbol,
    pub eps: Symbol,
    /// DDIM's stochasticity, in [0, 1].
    pub eta: Symbol,
    /// EDM's data standard deviation, positive.
    pub sigma_data: Symbol,
}

impl Vars {
    pub fn new(pool: &mut Pool) -> Vars {
        let t = time_symbol(pool);
        let t_next = pool.symbol("t_next");
        pool.set_domain(t_next, crate::expr::Domain::UNIT);
        let eta = pool.symbol("eta");
        pool.set_domain(eta, crate::expr::Domain::UNIT);
        let sigma_data = pool.symbol("sigma_data");
        pool.set_domain(
            sigma_data,
            crate::expr::Domain {
                lo: f64::MIN_POSITIVE,
                hi: f64::INFINITY,
            },
        );
        Vars {
            x: pool.symbol("x"),
            x0: pool.symbol("x0"),
            z: pool.symbol("z"),
            t,
            t_next,
            eps: pool.symbol("eps"),
            eta,
            sigma_data,
        }
    }

    /// The symbol of an argument named in [`Formula::arguments`] or
    /// [`FieldKind::arguments`].
    pub fn argument(&self, pool: &mut Pool, name: &str) -> Symbol {
        match name {
            "x" => self.x,
            "x0" => self.x0,
            "z" => self.z,
            "t" => self.t,
            "t_next" => self.t_next,
            "eps" => self.eps,
            "eta" => self.eta,
            "sigma_data" => self.sigma_data,
            other => pool.symbol(other),
        }
    }

    /// The symbol of a parameterisation's model output.
    pub fn output(&self, pool: &mut Pool, p: Param) -> Symbol {
        match p {
            Param::X0 => self.x0,
            _ => pool.symbol(p.name()),
        }
    }
}

/// The formulas, fields and sampler steps of one process, derived on demand
/// ([`super::Process::fields`]): only the commands that show, evaluate or emit them pay
/// for them.
#[derive(Clone, Debug, Default)]
pub struct Fields {
    /// The formulas of [`Formula::ALL`], in their arguments.
    pub formulas: Vec<(Formula, ExprId)>,
    /// The fields and sampler steps of [`FIELDS`] in each parameterisation.
    pub fields: Vec<Field>,
    /// Whether the process is variance preserving, so that v-prediction applies.
    pub vp: bool,
}

impl Fields {
    /// A field by name and parameterisation.
    pub fn field(&self, name: &str, param: Param) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name() == name && f.param == param)
    }

    /// A formula by name.
    pub fn formula(&self, name: &str) -> Option<ExprId> {
        self.formulas
            .iter()
            .find(|(f, _)| f.name() == name)
            .map(|&(_, e)| e)
    }
}

/// The conditional fields, fields and sampler steps of a process with scalars `q`, in the
/// symbols of `vars`. v-prediction is included when the process is variance preserving by
/// construction or alpha^2 + sigma^2 = 1 is proved (else checked with certified balls),
/// never by whether the simplifier happens to reach 1.
pub fn derive(pool: &mut Pool, q: Scalars, vp_by_construction: bool, vars: &Vars) -> Fields {
    let vp = vp_by_construction || {
        let a2 = pool.powi(q.alpha, 2);
        let s2 = pool.powi(q.sigma, 2);
        let sum = pool.add(vec![a2, s2]);
        let one = pool.one();
        matches!(
            super::checks::identity(pool, sum, one),
            super::checks::Verdict::Proved | super::checks::Verdict::Checked { .. }
        )
    };
    let mut formulas = conditional(pool, q.alpha, q.sigma, vars);
    formulas.extend(tutorial_formulas(pool, q, vars));
    Fields {
        formulas,
        fields: fields(pool, q, vp, vars),
        vp,
    }
}

/// The formulas of [`Formula::ALL`] after the two conditional fields (docs/theory.md
/// section 2), each simplified coefficient by coefficient in its linear variables.
fn tutorial_formulas(pool: &mut Pool, q: Scalars, v: &Vars) -> Vec<(Formula, ExprId)> {
    let (alpha, sigma, t) = (q.alpha, q.sigma, v.t);
    let [x, x0, eps, z, eta, sd, tn] =
        [v.x, v.x0, v.eps, v.z, v.eta, v.sigma_data, v.t_next].map(|s| pool.sym_expr(s));
    let da = diff::diff(pool, alpha, t);
    let ds = diff::diff(pool, sigma, t);
    let one = pool.one();
    let te = pool.sym_expr(t);
    let flip = pool.sub(one, te);
    let at = |pool: &mut Pool, e: ExprId, u: ExprId| subst::subst1(pool, e, t, u);
    let mut out = Vec::new();
    // cfm_target = alpha' x0 + sigma' eps
    let cfm = {
        let a = pool.mul(vec![da, x0]);
        let b = pool.mul(vec![ds, eps]);
        pool.add(vec![a, b])
    };
    out.push((Formula::CfmTarget, linear(pool, cfm, &[v.x0, v.eps])));
    // The posterior of x_s given x_t and x0 (s = t_next < t): alpha_{t|s} = alpha_t/alpha_s,
    // sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2.
    let (alpha_n, sigma_n) = (at(pool, alpha, tn), at(pool, sigma, tn));
    let a_ts = pool.div(alpha, alpha_n);
    let s2 = pool.powi(sigma, 2);
    let s2_n = pool.powi(sigma_n, 2);
    let a_ts2 = pool.powi(a_ts, 2);
    let carried = pool.mul(vec![a_ts2, s2_n]);
    let s2_ts = pool.sub(s2, carried);
    let inv_s2 = pool.recip(s2);
    let mean = {
        let cx = pool.mul(vec![a_ts, s2_n, inv_s2, x]);
        let c0 = pool.mul(vec![alpha_n, s2_ts, inv_s2, x0]);
        pool.add(vec![cx, c0])
    };
    out.push((Formula::DdpmMean, linear(pool, mean, &[v.x, v.x0])));
    let var = pool.mul(vec![s2_ts, s2_n, inv_s2]);
    let var = simplify::simplify(pool, var);
    out.push((Formula::DdpmVar, var));
    // DDIM with eta: alpha_s x0_hat + sqrt(sigma_s^2 - s_hat^2) eps + s_hat z,
    // x0_hat = (x - sigma eps)/alpha, s_hat = eta sqrt(ddpm_var).
    let step = {
        let se = pool.mul(vec![sigma, eps]);
        let r = pool.sub(x, se);
        let x0_hat = pool.div(r, alpha);
        let root = pool.sqrt(var);
        let s_hat = pool.mul(vec![eta, root]);
        let sh2 = pool.powi(s_hat, 2);
        let left = pool.sub(s2_n, sh2);
        let dir = pool.sqrt(left);
        let a = pool.mul(vec![alpha_n, x0_hat]);
        let b = pool.mul(vec![dir, eps]);
        let c = pool.mul(vec![s_hat, z]);
        pool.add(vec![a, b, c])
    };
    out.push((Formula::DdimEtaStep, linear(pool, step, &[v.x, v.eps, v.z])));
    // EDM at noise level rho = sigma/alpha: c_skip = sd^2/(rho^2 + sd^2), c_out = rho sd /
    // sqrt(rho^2 + sd^2), c_in = 1/sqrt(rho^2 + sd^2), c_noise = log(rho)/4.
    let rho = pool.div(sigma, alpha);
    let rho2 = pool.powi(rho, 2);
    let sd2 = pool.powi(sd, 2);
    let r2 = pool.add(vec![rho2, sd2]);
    let root = pool.sqrt(r2);
    let c_skip = pool.div(sd2, r2);
    let rs = pool.mul(vec![rho, sd]);
    let c_out = pool.div(rs, root);
    let c_in = pool.recip(root);
    let log_rho = pool.call(Func::Log, rho);
    let quarter = pool.frac(1, 4);
    let c_noise = pool.mul(vec![quarter, log_rho]);
    for (f, e) in [
        (Formula::EdmCSkip, c_skip),
        (Formula::EdmCOut, c_out),
        (Formula::EdmCIn, c_in),
        (Formula::EdmCNoise, c_noise),
    ] {
        out.push((f, simplify::simplify(pool, e)));
    }
    // The generative clock: tau = 1 - t.
    let gen_alpha = at(pool, alpha, flip);
    let gen_sigma = at(pool, sigma, flip);
    out.push((Formula::GenAlpha, simplify::simplify(pool, gen_alpha)));
    out.push((Formula::GenSigma, simplify::simplify(pool, gen_sigma)));
    // dX/dtau = -(f x + g2/(2 sigma) eps) at 1 - tau.
    let pf = {
        let half = pool.frac(1, 2);
        let fx = pool.mul(vec![q.f, x]);
        let inv = pool.recip(sigma);
        let ge = pool.mul(vec![half, q.g2, inv, eps]);
        let s = pool.add(vec![fx, ge]);
        let s = at(pool, s, flip);
        pool.neg(s)
    };
    out.push((Formula::GenPfVelocityEps, linear(pool, pf, &[v.x, v.eps])));
    let gen_cfm = {
        let dga = diff::diff(pool, gen_alpha, t);
        let dgs = diff::diff(pool, gen_sigma, t);
        let a = pool.mul(vec![dga, x0]);
        let b = pool.mul(vec![dgs, eps]);
        pool.add(vec![a, b])
    };
    out.push((Formula::GenCfmTarget, linear(pool, gen_cfm, &[v.x0, v.eps])));
    out
}

/// The conditional fields of docs/theory.md section 2, in `x` and the data point `x0`.
pub fn conditional(
    pool: &mut Pool,
    alpha: ExprId,
    sigma: ExprId,
    v: &Vars,
) -> Vec<(Formula, ExprId)> {
    let x = pool.sym_expr(v.x);
    let x0 = pool.sym_expr(v.x0);
    let da = diff::diff(pool, alpha, v.t);
    let ds = diff::diff(pool, sigma, v.t);
    // cond_score = -(x - alpha x0)/sigma^2
    let ax0 = pool.mul(vec![alpha, x0]);
    let r = pool.sub(x, ax0);
    let s2 = pool.powi(sigma, 2);
    let q = pool.div(r, s2);
    let neg = pool.neg(q);
    let score = linear(pool, neg, &[v.x, v.x0]);
    // cond_velocity = (alpha' - (sigma'/sigma) alpha) x0 + (sigma'/sigma) x
    let k = pool.div(ds, sigma);
    let ka = pool.mul(vec![k, alpha]);
    let c0 = pool.sub(da, ka);
    let t0 = pool.mul(vec![c0, x0]);
    let t1 = pool.mul(vec![k, x]);
    let vel = pool.add(vec![t0, t1]);
    let velocity = linear(pool, vel, &[v.x, v.x0]);
    vec![
        (Formula::CondScore, score),
        (Formula::CondVelocity, velocity),
    ]
}

/// Simplifies `e`, linear in `vars`, coefficient by coefficient.
fn linear(pool: &mut Pool, e: ExprId, vars: &[Symbol]) -> ExprId {
    let zero = pool.zero();
    let mut terms = Vec::with_capacity(vars.len());
    let mut rest = e;
    for &s in vars {
        let c = diff::diff(pool, e, s);
        let c = simplify::simplify(pool, c);
        let se = pool.sym_expr(s);
        terms.push(pool.mul(vec![c, se]));
        rest = subst::subst1(pool, rest, s, zero);
    }
    let rest = simplify::simplify(pool, rest);
    terms.push(rest);
    pool.add(terms)
}

/// The simplified scalar quantities fields are built from (see [`super::derive`]).
#[derive(Clone, Copy, Debug)]
pub struct Scalars {
    pub alpha: ExprId,
    pub sigma: ExprId,
    pub f: ExprId,
    pub g2: ExprId,
    pub g: ExprId,
    pub lambda: ExprId,
}

/// The symbols of the 1-jet of a process (alpha, sigma, alpha', sigma' at `t`), alpha and
/// sigma at `t_next`, and g: the variables of [`jet_fields`].
#[derive(Clone, Copy, Debug)]
pub struct Jet {
    pub alpha: Symbol,
    pub sigma: Symbol,
    pub dalpha: Symbol,
    pub dsigma: Symbol,
    pub alpha_next: Symbol,
    pub sigma_next: Symbol,
    pub g: Symbol,
}

impl Jet {
    pub fn new(pool: &mut Pool) -> Jet {
        let mut s = |n: &str| {
            let sym = pool.symbol(n);
            pool.set_domain(
                sym,
                crate::expr::Domain {
                    lo: 0.0,
                    hi: f64::INFINITY,
                },
            );
            sym
        };
        let (alpha, sigma) = (s("_jet_alpha"), s("_jet_sigma"));
        let (alpha_next, sigma_next, g) = (s("_jet_alpha_next"), s("_jet_sigma_next"), s("_jet_g"));
        Jet {
            alpha,
            sigma,
            dalpha: pool.symbol("_jet_dalpha"),
            dsigma: pool.symbol("_jet_dsigma"),
            alpha_next,
            sigma_next,
            g,
        }
    }
}

/// Every field of [`FIELDS`] in every parameterisation that applies (`v` only for VP).
///
/// The coefficients are built from the already simplified quantities (`sigma' - f sigma`
/// is `g2/(2 sigma)`), which keeps what the simplifier has to do small.
pub fn fields(pool: &mut Pool, q: Scalars, vp: bool, v: &Vars) -> Vec<Field> {
    let Scalars {
        alpha,
        sigma,
        f,
        g2,
        g,
        lambda: lam,
    } = q;
    let t = v.t;
    // One simplifier for all coefficients: they share most subexpressions.
    let mut simp = simplify::Simplifier::default();
    let zero = pool.zero();
    let one = pool.one();
    let half = pool.frac(1, 2);
    let inv_sigma = pool.recip(sigma);
    // sigma' - f sigma = g2/(2 sigma)
    let sp_fs = pool.mul(vec![half, g2, inv_sigma]);
    let at_next = |pool: &mut Pool, e: ExprId| {
        let tn = pool.sym_expr(v.t_next);
        subst::subst1(pool, e, t, tn)
    };
    let alpha_n = at_next(pool, alpha);
    let sigma_n = at_next(pool, sigma);
    let tn = pool.sym_expr(v.t_next);
    let te = pool.sym_expr(t);
    let h = pool.sub(tn, te);
    // In the eps parameterisation: (cx, ce, cz).
    // pf_velocity = f x + g2/(2 sigma) eps = f x + (sigma' - f sigma) eps
    let pf = (f, sp_fs, zero);
    // reverse_drift = f x - g2 score = f x + (g2/sigma) eps
    let g2_s = pool.div(g2, sigma);
    let rev = (f, g2_s, zero);
    // euler_step = x + h pf_velocity
    let hf = pool.mul(vec![h, f]);
    let one_hf = pool.add(vec![one, hf]);
    let h_pf = pool.mul(vec![h, sp_fs]);
    let euler = (one_hf, h_pf, zero);
    // euler_maruyama_step = x + h reverse_drift + g sqrt(|h|) z
    let h_rev = pool.mul(vec![h, g2_s]);
    let abs_h = pool.call(Func::Abs, h);
    let sq = pool.sqrt(abs_h);
    let gz = pool.mul(vec![g, sq]);
    let em = (one_hf, h_rev, gz);
    // ddim_step = (alpha_n/alpha) x + (sigma_n - alpha_n sigma/alpha) eps
    let ratio = pool.div(alpha_n, alpha);
    let rs = pool.mul(vec![ratio, sigma]);
    let ddim_e = pool.sub(sigma_n, rs);
    let ddim = (ratio, ddim_e, zero);
    // dpm1_step = (alpha_n/alpha) x - sigma_n (e^H - 1) eps, H = lambda_n - lambda
    let lam_n = at_next(pool, lam);
    let big_h = pool.sub(lam_n, lam);
    let e_h = pool.call(Func::Exp, big_h);
    let m1 = pool.int(-1);
    let em1 = pool.add(vec![e_h, m1]);
    let dpm_e = {
        let p = pool.mul(vec![sigma_n, em1]);
        pool.neg(p)
    };
    let dpm = (ratio, dpm_e, zero);
    let base = [
        (FieldKind::PfVelocity, pf),
        (FieldKind::ReverseDrift, rev),
        (FieldKind::EulerStep, euler),
        (FieldKind::EulerMaruyamaStep, em),
        (FieldKind::DdimStep, ddim),
        (FieldKind::Dpm1Step, dpm),
    ];
    let mut out = Vec::new();
    for p in Param::ALL {
        if p == Param::V && !vp {
            continue;
        }
        let (pe, qe) = eps_from(pool, p, alpha, sigma, f, sp_fs);
        let m = v.output(pool, p);
        for &(kind, (cx, ce, cz)) in &base {
            let cep = pool.mul(vec![ce, pe]);
            let cx = pool.add(vec![cx, cep]);
            let cm = pool.mul(vec![ce, qe]);
            let cx = simp.run(pool, cx);
            let cm = simp.run(pool, cm);
            let cz = simp.run(pool, cz);
            let xe = pool.sym_expr(v.x);
            let me = pool.sym_expr(m);
            let ze = pool.sym_expr(v.z);
            let parts = vec![
                pool.mul(vec![cx, xe]),
                pool.mul(vec![cm, me]),
                pool.mul(vec![cz, ze]),
            ];
            let expr = pool.add(parts);
            out.push(Field {
                kind,
                param: p,
                expr,
            });
        }
    }
    out
}

/// The fields of [`fields`], in the same order, written in the jet `j` through the two
/// estimates every parameterisation gives. Each field is `c0 x + c1 x0_hat + c2 eps_hat +
/// c3 z` (DDIM: `alpha_next x0_hat + sigma_next eps_hat`), and each parameterisation is a
/// pair `(x0_hat, eps_hat)` of linear forms in `x` and its output, from `x = alpha x0 +
/// sigma eps` and, for `v`, `alpha^2 + sigma^2 = 1` (`x0 = alpha x - sigma v`, `eps =
/// sigma x + alpha v`). So no coefficient divides by alpha unless its parameterisation
/// must (eps and score: `x0_hat = (x - sigma eps)/alpha`), and the v-prediction steps of
/// a VP process stay finite at alpha = 0.
///
/// With `reduce`, a VP process's coefficients are written with `sigma' = -alpha
/// alpha'/sigma` ([`vp_reduced`]), which shows their exact zeros but is 0/0 where alpha'
/// and sigma both vanish (t = 0 of the cosine schedule); without, sigma' stays a symbol.
pub fn jet_fields(pool: &mut Pool, j: &Jet, vp: bool, reduce: bool, v: &Vars) -> Vec<Field> {
    let a = pool.sym_expr(j.alpha);
    let s = pool.sym_expr(j.sigma);
    let da = pool.sym_expr(j.dalpha);
    let ds = pool.sym_expr(j.dsigma);
    let an = pool.sym_expr(j.alpha_next);
    let sn = pool.sym_expr(j.sigma_next);
    let g = pool.sym_expr(j.g);
    let zero = pool.zero();
    let one = pool.one();
    let tn = pool.sym_expr(v.t_next);
    let te = pool.sym_expr(v.t);
    let h = pool.sub(tn, te);
    // reverse drift: f x - g2 score = alpha' x0 + (2 sigma' - alpha' sigma/alpha) eps
    let two = pool.int(2);
    let two_ds = pool.mul(vec![two, ds]);
    let das_a = {
        let q = pool.div(s, a);
        pool.mul(vec![da, q])
    };
    let rev_e = pool.sub(two_ds, das_a);
    let hda = pool.mul(vec![h, da]);
    let hds = pool.mul(vec![h, ds]);
    let h_rev_e = pool.mul(vec![h, rev_e]);
    let abs_h = pool.call(Func::Abs, h);
    let sq = pool.sqrt(abs_h);
    let gz = pool.mul(vec![g, sq]);
    // (c_x, c_x0, c_eps, c_z)
    let base: [(FieldKind, [ExprId; 4]); 6] = [
        (FieldKind::PfVelocity, [zero, da, ds, zero]),
        (FieldKind::ReverseDrift, [zero, da, rev_e, zero]),
        (FieldKind::EulerStep, [one, hda, hds, zero]),
        (FieldKind::EulerMaruyamaStep, [one, hda, h_rev_e, gz]),
        (FieldKind::DdimStep, [zero, an, sn, zero]),
        (FieldKind::Dpm1Step, [zero, an, sn, zero]),
    ];
    let mut out = Vec::new();
    for p in Param::ALL {
        if p == Param::V && !vp {
            continue;
        }
        let m = v.output(pool, p);
        let xe = pool.sym_expr(v.x);
        let me = pool.sym_expr(m);
        let ze = pool.sym_expr(v.z);
        // x0_hat and eps_hat as (coefficient of x, coefficient of m).
        let ((x0x, x0m), (ex, em)) = estimates(pool, p, a, s, da, ds);
        for &(kind, [cx, c0, ce, cz]) in &base {
            let t0 = pool.mul(vec![c0, x0x]);
            let t1 = pool.mul(vec![ce, ex]);
            let kx = pool.add(vec![cx, t0, t1]);
            let t2 = pool.mul(vec![c0, x0m]);
            let t3 = pool.mul(vec![ce, em]);
            let km = pool.add(vec![t2, t3]);
            let (kx, km) = if vp && reduce {
                (vp_reduced(pool, j, kx), vp_reduced(pool, j, km))
            } else {
                (kx, km)
            };
            let parts = vec![
                pool.mul(vec![kx, xe]),
                pool.mul(vec![km, me]),
                pool.mul(vec![cz, ze]),
            ];
            out.push(Field {
                kind,
                param: p,
                expr: pool.add(parts),
            });
        }
    }
    out
}

/// The jet coefficient `c` of a variance-preserving process written through `alpha^2 +
/// sigma^2 = 1` where that makes it smaller: `sigma'` is `-alpha alpha'/sigma`, and
/// `sigma^2` is `1 - alpha^2` or `alpha^2` is `1 - sigma^2`, whichever gives the smaller
/// form. The v-prediction's probability-flow x coefficient `alpha alpha' + sigma sigma'`
/// is then 0, and its Euler-Maruyama step's `1 + h (alpha alpha' + 2 sigma sigma' -
/// alpha' sigma^2/alpha)` is `1 - h alpha'/alpha`, which the jet symbols alone do not
/// show: computed as written, such a coefficient is rounding noise where its exact value
/// is 0 (the Euler-Maruyama step of `alpha = exp(-2t)` on `t_next = t - 1/2`). The eps
/// Euler step's `h (sigma' - alpha' sigma/alpha)` is `-h alpha'/(alpha sigma)`, a
/// quotient where the form as written adds two terms. Else `c` as it is.
fn vp_reduced(pool: &mut Pool, j: &Jet, c: ExprId) -> ExprId {
    let mut best = c;
    for sigma_first in [true, false] {
        let reduced = vp_eliminated(pool, j, c, sigma_first);
        if pool.is_zero(reduced) {
            return reduced;
        }
        let (size, least) = (
            simplify::complexity(pool, reduced),
            simplify::complexity(pool, best),
        );
        // A tie goes to the first reduction over `c` (`best` is still `c` then): fewer
        // operations, the same size.
        if size < least || (size == least && sigma_first) {
            best = reduced;
        }
    }
    best
}

/// `c` with one of sigma and alpha written as the root of one minus the other's square
/// (`sigma = sqrt(1 - alpha^2)` where `sigma_first`, else `alpha = sqrt(1 - sigma^2)`),
/// `sigma' = -alpha alpha'/sigma`, brought to one fraction, and the powers of `1 - y^2`
/// that are left written back as powers of the eliminated symbol.
fn vp_eliminated(pool: &mut Pool, j: &Jet, c: ExprId, sigma_first: bool) -> ExprId {
    let (a, s, da) = (
        pool.sym_expr(j.alpha),
        pool.sym_expr(j.sigma),
        pool.sym_expr(j.dalpha),
    );
    let (gone, kept) = if sigma_first {
        (j.sigma, a)
    } else {
        (j.alpha, s)
    };
    let y2 = pool.powi(kept, 2);
    let one = pool.one();
    let w = pool.sub(one, y2);
    let root = pool.sqrt(w);
    let (a_now, s_now) = if sigma_first { (a, root) } else { (root, s) };
    let ada = pool.mul(vec![a_now, da]);
    let q = pool.div(ada, s_now);
    let ds = pool.neg(q);
    let mut reduced = subst::subst(pool, c, &[(gone, root), (j.dsigma, ds)]);
    // `together` squares the root to `1 - y^2` as a factor of its own, which only
    // expanding again cancels (`-alpha^2 alpha' - alpha' (1 - alpha^2)` is `-alpha'`).
    for _ in 0..3 {
        let expanded = crate::expr::poly::expand(pool, reduced);
        let next = crate::expr::poly::together(pool, expanded);
        if next == reduced {
            break;
        }
        reduced = next;
    }
    if pool.is_zero(reduced) {
        return reduced;
    }
    // A power of `1 - y^2` that is left is a power of the eliminated symbol, matched
    // before its base is rewritten (`sqrt(sigma^2)` would be `|sigma|`).
    let x = pool.sym_expr(gone);
    subst::bottom_up(pool, reduced, |pool, e, kids| {
        let (b, k) = pool.split_pow(e);
        match pool.as_rational(k) {
            Some(k) if b == w => {
                let k2 = k * num_rational::BigRational::from_integer(2.into());
                pool.pow_rational(x, k2)
            }
            _ => subst::rebuilt(pool, e, kids),
        }
    })
}

/// `((a, b), (c, d))` with `x0_hat = a x + b m` and `eps_hat = c x + d m` for the output
/// `m` of `param`, in the jet.
#[allow(clippy::type_complexity, reason = "two pairs of coefficients")]
fn estimates(
    pool: &mut Pool,
    param: Param,
    a: ExprId,
    s: ExprId,
    da: ExprId,
    ds: ExprId,
) -> ((ExprId, ExprId), (ExprId, ExprId)) {
    let zero = pool.zero();
    let one = pool.one();
    let inv_a = pool.recip(a);
    match param {
        // eps = m, x0 = (x - sigma m)/alpha
        Param::Eps => {
            let q = pool.div(s, a);
            ((inv_a, pool.neg(q)), (zero, one))
        }
        // eps = -sigma m, x0 = (x + sigma^2 m)/alpha
        Param::Score => {
            let s2 = pool.powi(s, 2);
            let q = pool.div(s2, a);
            ((inv_a, q), (zero, pool.neg(s)))
        }
        // x0 = m, eps = (x - alpha m)/sigma
        Param::X0 => {
            let inv_s = pool.recip(s);
            let q = pool.div(a, s);
            ((zero, one), (inv_s, pool.neg(q)))
        }
        // u = alpha' x0 + sigma' eps, x = alpha x0 + sigma eps:
        // x0 = (sigma' x - sigma u)/D, eps = (alpha u - alpha' x)/D, D = alpha sigma' - sigma alpha'
        Param::U => {
            let p1 = pool.mul(vec![a, ds]);
            let p2 = pool.mul(vec![s, da]);
            let det = pool.sub(p1, p2);
            let inv = pool.recip(det);
            let x0x = pool.mul(vec![ds, inv]);
            let x0m = {
                let q = pool.mul(vec![s, inv]);
                pool.neg(q)
            };
            let ex = {
                let q = pool.mul(vec![da, inv]);
                pool.neg(q)
            };
            let em = pool.mul(vec![a, inv]);
            ((x0x, x0m), (ex, em))
        }
        // VP: x0 = alpha x - sigma v, eps = sigma x + alpha v
        Param::V => ((a, pool.neg(s)), (s, a)),
    }
}

/// `(p, q)` with `eps = p x + q m` for the model output `m` of parameterisation `param`.
fn eps_from(
    pool: &mut Pool,
    param: Param,
    alpha: ExprId,
    sigma: ExprId,
    f: ExprId,
    sp_fs: ExprId,
) -> (ExprId, ExprId) {
    let zero = pool.zero();
    let one = pool.one();
    match param {
        // score = -eps/sigma
        Param::Score => (zero, pool.neg(sigma)),
        Param::Eps => (zero, one),
        // x = alpha x0 + sigma eps
        Param::X0 => {
            let p = pool.recip(sigma);
            let q = {
                let a = pool.div(alpha, sigma);
                pool.neg(a)
            };
            (p, q)
        }
        // u = alpha' x0 + sigma' eps = f x + (sigma' - f sigma) eps
        Param::U => {
            let q = pool.recip(sp_fs);
            let p = {
                let fq = pool.mul(vec![f, q]);
                pool.neg(fq)
            };
            (p, q)
        }
        // v = alpha eps - sigma x0 with alpha^2 + sigma^2 = 1: eps = sigma x + alpha v
        Param::V => (sigma, alpha),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v-prediction Euler-Maruyama step's x coefficient, `1 + h alpha alpha' + h
    /// sigma (2 sigma' - alpha' sigma/alpha)`, is `1 - h alpha'/alpha` for a VP process;
    /// a coefficient without sigma' or sigma^2 stays as it is.
    #[test]
    fn a_variance_preserving_coefficient_is_written_without_sigma_prime() {
        let mut pool = Pool::new();
        let j = Jet::new(&mut pool);
        let (a, s, da, ds) = (
            pool.sym_expr(j.alpha),
            pool.sym_expr(j.sigma),
            pool.sym_expr(j.dalpha),
            pool.sym_expr(j.dsigma),
        );
        let h = pool.var("h");
        let one = pool.one();
        let two = pool.int(2);
        let first = pool.mul(vec![h, da, a]);
        let das = {
            let q = pool.div(s, a);
            pool.mul(vec![da, q])
        };
        let two_ds = pool.mul(vec![two, ds]);
        let rev = pool.sub(two_ds, das);
        let second = pool.mul(vec![h, rev, s]);
        let kx = pool.add(vec![one, first, second]);
        let hda = pool.mul(vec![h, da]);
        let num = pool.sub(a, hda);
        let want = pool.div(num, a);
        assert_eq!(vp_reduced(&mut pool, &j, kx), want);
        // alpha alpha' + sigma sigma' is 0.
        let ada = pool.mul(vec![a, da]);
        let sds = pool.mul(vec![s, ds]);
        let zero = pool.add(vec![ada, sds]);
        let reduced = vp_reduced(&mut pool, &j, zero);
        assert!(pool.is_zero(reduced));
        // DDIM's alpha_next alpha + sigma_next sigma has neither.
        let (an, sn) = (pool.sym_expr(j.alpha_next), pool.sym_expr(j.sigma_next));
        let p = pool.mul(vec![an, a]);
        let q = pool.mul(vec![sn, s]);
        let ddim = pool.add(vec![p, q]);
        assert_eq!(vp_reduced(&mut pool, &j, ddim), ddim);
    }

    /// The eps Euler step's `h (sigma' - alpha' sigma/alpha)` is `-h alpha'/(alpha
    /// sigma)` (`together` leaves `alpha^2 + (1 - alpha^2)` for expanding to cancel), and
    /// the u-prediction DDIM's `(alpha sigma_next - alpha_next sigma)/(alpha sigma' -
    /// alpha' sigma)` keeps `sigma^2` rather than `1 - alpha^2` multiplied out, which would
    /// cancel where alpha is near 1.
    #[test]
    fn a_variance_preserving_coefficient_takes_the_smaller_elimination() {
        let mut pool = Pool::new();
        let j = Jet::new(&mut pool);
        let (a, s, da, ds) = (
            pool.sym_expr(j.alpha),
            pool.sym_expr(j.sigma),
            pool.sym_expr(j.dalpha),
            pool.sym_expr(j.dsigma),
        );
        let (an, sn) = (pool.sym_expr(j.alpha_next), pool.sym_expr(j.sigma_next));
        let h = pool.var("h");
        let das = {
            let q = pool.div(s, a);
            pool.mul(vec![da, q])
        };
        let euler = {
            let d = pool.sub(ds, das);
            pool.mul(vec![h, d])
        };
        let want = {
            let num = pool.mul(vec![h, da]);
            let den = pool.mul(vec![a, s]);
            let q = pool.div(num, den);
            pool.neg(q)
        };
        let got = vp_reduced(&mut pool, &j, euler);
        let got = crate::expr::poly::together(&mut pool, got);
        let want = crate::expr::poly::together(&mut pool, want);
        assert_eq!(got, want, "{}", crate::expr::print::to_text(&pool, got));
        let ddim_u = {
            let p = pool.mul(vec![a, sn]);
            let q = pool.mul(vec![an, s]);
            let num = pool.sub(p, q);
            let p = pool.mul(vec![a, ds]);
            let q = pool.mul(vec![da, s]);
            let den = pool.sub(p, q);
            pool.div(num, den)
        };
        let want = {
            // s (alpha_next s - alpha s_next)/alpha'
            let p = pool.mul(vec![an, s]);
            let q = pool.mul(vec![a, sn]);
            let d = pool.sub(p, q);
            let num = pool.mul(vec![s, d]);
            pool.div(num, da)
        };
        let got = vp_reduced(&mut pool, &j, ddim_u);
        let (g, w) = (
            crate::expr::poly::expand(&mut pool, got),
            crate::expr::poly::expand(&mut pool, want),
        );
        assert_eq!(g, w, "{}", crate::expr::print::to_text(&pool, got));
    }
}
