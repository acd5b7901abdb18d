//! Fields and sampler steps: every parameterisation agrees with the path velocity computed
//! independently (finite differences of alpha and sigma at 256 bits), DDIM equals
//! DPM-Solver-1, and `eval` takes the model output from its flags.

use astro_float::{BigFloat, RoundingMode};
use diffsym::expr::hp::{self, Hp};
use diffsym::expr::{ExprId, Pool};
use diffsym::process::fields::{Param, Vars};
use diffsym::process::{self, Process};

use crate::support::{number, run};

const PREC: usize = 256;

/// The names of the bundled processes (one per file, named like the file).
fn library() -> impl Iterator<Item = &'static str> {
    diffsym::library::BUNDLED.iter().map(|(path, _)| {
        path.trim_start_matches("derivations/")
            .trim_end_matches(".dsym")
    })
}

fn lower(name: &str) -> (Pool, Process) {
    let (_, text) = diffsym::library::BUNDLED
        .iter()
        .find(|(n, _)| n.ends_with(&format!("/{name}.dsym")))
        .expect("bundled");
    let ast = diffsym::syntax::parse_file(text).expect("parses");
    let mut pool = Pool::new();
    let mut ps = process::lower_file(&mut pool, &ast, text, &[]).expect("lowers");
    (pool, ps.remove(0))
}

fn f(x: &BigFloat) -> f64 {
    hp::to_f64(x)
}

/// Evaluates `e` with t and the field variables bound.
fn at(h: &mut Hp, pool: &Pool, e: ExprId, binds: &[(diffsym::expr::Symbol, BigFloat)]) -> BigFloat {
    h.eval(pool, e, binds).expect("defined")
}

/// alpha, sigma and their derivatives at t: the derivatives by central differences with
/// step 2^-70 at 256 bits (error ~1e-42), independent of the symbolic differentiation.
struct Path {
    a: BigFloat,
    s: BigFloat,
    da: BigFloat,
    ds: BigFloat,
}

fn path(h: &mut Hp, pool: &Pool, p: &Process, t: diffsym::expr::Symbol, tf: f64) -> Path {
    let rm = RoundingMode::ToEven;
    let (alpha, sigma) = (p.quantity("alpha").unwrap(), p.quantity("sigma").unwrap());
    let tv = h.from_f64(tf);
    let step = h.from_f64(2f64.powi(-70));
    let two_step = h.from_f64(2f64.powi(-69));
    let (tp, tm) = (tv.add(&step, PREC, rm), tv.sub(&step, PREC, rm));
    let mut val = |e, at: &BigFloat| at_t(h, pool, e, t, at);
    let a = val(alpha, &tv);
    let s = val(sigma, &tv);
    let da = val(alpha, &tp)
        .sub(&val(alpha, &tm), PREC, rm)
        .div(&two_step, PREC, rm);
    let ds = val(sigma, &tp)
        .sub(&val(sigma, &tm), PREC, rm)
        .div(&two_step, PREC, rm);
    Path { a, s, da, ds }
}

fn rel_close(a: &BigFloat, b: &BigFloat) -> bool {
    let d = f(&a.sub(b, PREC, RoundingMode::ToEven)).abs();
    d <= 1e-25 * f(a).abs().max(f(b).abs()).max(1e-30)
}

#[test]
fn every_parameterisation_gives_the_path_velocity() {
    for name in library() {
        let (mut pool, p) = lower(name);
        let vars = Vars::new(&mut pool);
        let mut h = Hp::new(PREC);
        for t in [0.2, 0.5, 0.8] {
            let rm = RoundingMode::ToEven;
            let tv = h.from_f64(t);
            let Path { a, s, da, ds } = path(&mut h, &pool, &p, vars.t, t);
            // The true data point and noise, and what each model would output for them.
            let (x0, eps) = (h.from_f64(0.7), h.from_f64(-0.4));
            let x = a.mul(&x0, PREC, rm).add(&s.mul(&eps, PREC, rm), PREC, rm);
            let u_true = da.mul(&x0, PREC, rm).add(&ds.mul(&eps, PREC, rm), PREC, rm);
            let score = eps.neg().div(&s, PREC, rm);
            let v = a.mul(&eps, PREC, rm).sub(&s.mul(&x0, PREC, rm), PREC, rm);
            for param in Param::ALL {
                let Some(field) = p.field("pf_velocity", param) else {
                    assert_eq!(param, Param::V, "{name}: only v may be missing");
                    continue;
                };
                let m = match param {
                    Param::Score => score.clone(),
                    Param::Eps => eps.clone(),
                    Param::X0 => x0.clone(),
                    Param::U => u_true.clone(),
                    Param::V => v.clone(),
                };
                let out = vars.output(&mut pool, param);
                let got = at(
                    &mut h,
                    &pool,
                    field.expr,
                    &[(vars.t, tv.clone()), (vars.x, x.clone()), (out, m)],
                );
                assert!(
                    rel_close(&got, &u_true),
                    "{name} pf_velocity_{} at t = {t}: {} vs {}",
                    param.name(),
                    f(&got),
                    f(&u_true)
                );
            }
            let cond = p.fields().formula("cond_velocity").unwrap();
            let got = at(
                &mut h,
                &pool,
                cond,
                &[
                    (vars.t, tv.clone()),
                    (vars.x, x.clone()),
                    (vars.x0, x0.clone()),
                ],
            );
            assert!(rel_close(&got, &u_true), "{name} cond_velocity at t = {t}");
        }
    }
}

#[test]
fn ddim_is_the_first_order_dpm_solver() {
    for name in ["vp_linear", "cosine", "rectified_flow", "ve", "sub_vp"] {
        let (mut pool, p) = lower(name);
        let vars = Vars::new(&mut pool);
        let mut h = Hp::new(PREC);
        let eps_sym = vars.output(&mut pool, Param::Eps);
        let binds = [
            (vars.t, h.from_f64(0.6)),
            (vars.t_next, h.from_f64(0.45)),
            (vars.x, h.from_f64(0.3)),
            (eps_sym, h.from_f64(-1.1)),
        ];
        let ddim = at(
            &mut h,
            &pool,
            p.field("ddim_step", Param::Eps).unwrap().expr,
            &binds,
        );
        let dpm = at(
            &mut h,
            &pool,
            p.field("dpm1_step", Param::Eps).unwrap().expr,
            &binds,
        );
        assert!(
            rel_close(&ddim, &dpm),
            "{name}: {} vs {}",
            f(&ddim),
            f(&dpm)
        );
    }
}

#[test]
fn eval_takes_the_parameterisation_from_the_flags() {
    // The example. Rectified flow at t = 1/2: f = -2, g2 = 2, so
    // pf_velocity = f x - g2/2 score = -0.6 - 0.64.
    let rf = "derivations/rectified_flow.dsym";
    let (code, out, err) = run(&[
        "eval",
        rf,
        "--process",
        "rectified_flow",
        "pf_velocity",
        "--t",
        "0.5",
        "--x",
        "0.3",
        "--score",
        "0.64",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(number(&out), -1.24);
    // eps-prediction: pf_velocity = (eps - x)/(1 - t)
    let (_, out, _) = run(&[
        "eval",
        rf,
        "pf_velocity",
        "--t",
        "0.25",
        "--x",
        "0.5",
        "--eps",
        "2",
    ]);
    assert_eq!(number(&out), 2.0);
    // Euler-Maruyama: x + h (f x - g2 score) + g sqrt(|h|) z; at t = 1/2, t_next = 1/4:
    // 0.3 - 0.25 (-0.6 - 2*0.64) + sqrt(2) * 0.5 * 1 = 0.77 + sqrt(2)/2
    let (code, out, err) = run(&[
        "eval",
        rf,
        "euler_maruyama_step",
        "--t",
        "0.5",
        "--t-next",
        "0.25",
        "--x",
        "0.3",
        "--score",
        "0.64",
        "--z",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        (number(&out) - (0.77 + 0.5f64.sqrt())).abs() < 4e-16,
        "{out}"
    );
    for args in [
        vec!["eval", rf, "pf_velocity", "--t", "0.5", "--x", "0.3"],
        vec![
            "eval",
            rf,
            "pf_velocity",
            "--t",
            "0.5",
            "--x",
            "0.3",
            "--eps",
            "1",
            "--score",
            "1",
        ],
        vec![
            "eval",
            rf,
            "pf_velocity",
            "--t",
            "0.5",
            "--x",
            "0.3",
            "--v",
            "1",
        ],
        vec![
            "eval",
            rf,
            "ddim_step",
            "--t",
            "0.5",
            "--x",
            "0.3",
            "--eps",
            "1",
        ],
        vec!["eval", rf, "alpha", "--t", "0.5", "--x", "0.3"],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            out.is_empty() && err.starts_with("error["),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn derived_quantities_match_finite_differences_of_alpha_and_sigma() {
    use diffsym::expr::eval::eval_f64;
    for name in library() {
        let (mut pool, p) = lower(name);
        let t = process::time_symbol(&mut pool);
        let mut h = Hp::new(PREC);
        let rm = RoundingMode::ToEven;
        let q = |n: &str| p.quantity(n).unwrap();
        for tf in [0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95] {
            let tv = h.from_f64(tf);
            let two = h.from_f64(2.0);
            let Path { a, s, da, ds } = path(&mut h, &pool, &p, t, tf);
            let mut val = |e, at: &BigFloat| at_t(&mut h, &pool, e, t, at);
            // Independent formulas of docs/theory.md section 1, from alpha, sigma and their
            // finite-difference derivatives.
            let f_ref = da.div(&a, PREC, rm);
            let g2_ref = two.mul(&s, PREC, rm).mul(&ds, PREC, rm).sub(
                &two.mul(&f_ref, PREC, rm)
                    .mul(&s, PREC, rm)
                    .mul(&s, PREC, rm),
                PREC,
                rm,
            );
            // lambda' = alpha'/alpha - sigma'/sigma
            let dl_ref = f_ref.sub(&ds.div(&s, PREC, rm), PREC, rm);
            let snr_ref = a.mul(&a, PREC, rm).div(&s.mul(&s, PREC, rm), PREC, rm);
            let rho_ref = s.div(&a, PREC, rm);
            let lambda_ref =
                a.div(&s, PREC, rm)
                    .ln(PREC, rm, &mut astro_float::Consts::new().unwrap());
            let expect = [
                ("alpha", a.clone()),
                ("sigma", s.clone()),
                ("lambda", lambda_ref),
                ("f", f_ref),
                ("g2", g2_ref.clone()),
                ("g", g2_ref.sqrt(PREC, rm)),
                ("dlambda", dl_ref),
                ("snr", snr_ref.clone()),
                ("rho", rho_ref),
                (
                    "log_snr",
                    snr_ref.ln(PREC, rm, &mut astro_float::Consts::new().unwrap()),
                ),
                ("alpha_bar", a.mul(&a, PREC, rm)),
            ];
            for (n, want) in expect {
                let got = val(q(n), &tv);
                assert!(
                    rel_close(&got, &want),
                    "{name} {n}({tf}): {} vs {}",
                    f(&got),
                    f(&want)
                );
                // What `eval` prints (the value rounded once to f64) agrees with the
                // reference to 1e-15, relative to max(|value|, 1): cosine's log_snr is
                // exactly 0 at t = 1/2, where relative error means nothing.
                let exact_t = num_rational::BigRational::from_float(tf).unwrap();
                let x = hp::eval_rounded(&pool, q(n), &[(t, exact_t)]).unwrap();
                let w = f(&want);
                assert!(
                    (x - w).abs() <= 1e-15 * w.abs().max(1.0),
                    "{name} {n}({tf}) rounded: {x} vs {w}"
                );
                // In fact within one ulp (the reference itself is good to 1e-25 relative,
                // so a value that is exactly 0 shows up as noise below 1e-60).
                assert!(
                    w.abs() < 1e-60 || x == w || x.next_up() == w || x.next_down() == w,
                    "{name} {n}({tf}) rounded: {x} vs {w}, more than one ulp apart"
                );
                // The f64 interpreter (used for sampling) is as good as the formula's
                // conditioning allows; on these points it stays within 1e-12.
                let x = eval_f64(&pool, q(n), &[(t, tf)]).unwrap();
                assert!(
                    (x - w).abs() < 1e-12 * w.abs().max(1.0),
                    "{name} {n}({tf}) in f64: {x} vs {w}"
                );
            }
        }
    }
}

fn at_t(h: &mut Hp, pool: &Pool, e: ExprId, t: diffsym::expr::Symbol, at: &BigFloat) -> BigFloat {
    h.eval(pool, e, &[(t, at.clone())]).expect("defined")
}

/// The coefficients (c_x, c_s, c_z) of a symbolic step in the score parameterisation,
/// `x_next = c_x x + c_s score + c_z z`, at 256 bits.
fn step_coefficients(
    pool: &mut Pool,
    p: &Process,
    step: &str,
    t: f64,
    t_next: f64,
) -> (f64, f64, f64) {
    let vars = Vars::new(pool);
    let score = vars.output(pool, Param::Score);
    let e = p.field(step, Param::Score).expect("field").expr;
    let mut h = Hp::new(PREC);
    let (tv, nv) = (h.from_f64(t), h.from_f64(t_next));
    let mut at = |x: f64, s: f64, z: f64| {
        let binds = [
            (vars.t, tv.clone()),
            (vars.t_next, nv.clone()),
            (vars.x, h.from_f64(x)),
            (score, h.from_f64(s)),
            (vars.z, h.from_f64(z)),
        ];
        f(&h.eval(pool, e, &binds).expect("defined"))
    };
    (at(1.0, 0.0, 0.0), at(0.0, 1.0, 0.0), at(0.0, 0.0, 1.0))
}

proptest::proptest! {
    // Case count from PROPTEST_CASES (CI sets 64).
    #![proptest_config(proptest::prelude::ProptestConfig::default())]

    /// The symbolic sampler steps of `process::fields` and the numeric affine maps of
    /// `analysis::kl` are the same maps: one step from the exact marginal of N(m, lambda)
    /// at t, with the exact score -(x - alpha m)/v, gives the same output law (mean
    /// c_x alpha m, variance (c_x - c_s/v)^2 v + c_z^2) as `output_laws` on the grid
    /// [t_next, t].
    #[test]
    fn symbolic_steps_are_the_exact_kl_maps(
        which in 0usize..16,
        t in 0.1f64..0.9,
        frac in 0.05f64..0.95,
        lam in 0.01f64..10.0,
        m in -2.0f64..2.0,
    ) {
        use diffsym::analysis::{self, GaussianSource, Sampler, Schedule as _, Start};
        static LOWERED: std::sync::Mutex<Vec<Option<(Pool, Process)>>> =
            std::sync::Mutex::new(Vec::new());
        let name = library().nth(which).expect("16 processes");
        let t_next = t * frac;
        let mut cache = LOWERED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.resize_with(16, || None);
        let (pool, p) = cache[which].get_or_insert_with(|| lower(name));
        let mut pool = pool.clone();
        let sched = analysis::ProcessSchedule::new(&pool, p).expect("schedule");
        let src = GaussianSource::from_spectrum("s", vec![lam], Some(vec![m])).expect("source");
        let (a, s) = (sched.alpha(t), sched.sigma(t));
        let v = a * a * lam + s * s;
        for (sampler, step) in [
            (Sampler::Ddim, "ddim_step"),
            (Sampler::Dpm1, "dpm1_step"),
            (Sampler::Euler, "euler_step"),
            (Sampler::EulerMaruyama, "euler_maruyama_step"),
        ] {
            let (cx, cs, cz) = step_coefficients(&mut pool, p, step, t, t_next);
            let gain = cx - cs / v;
            let (mean, var) = (cx * a * m, gain * gain * v + cz * cz);
            let law = analysis::output_laws(&sched, &src, sampler, &[t_next, t], Start::Exact)
                .expect("law")[0];
            let want_mean = sched.alpha(t_next) * m + law.mean_error;
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-12);
            proptest::prop_assert!(close(var, law.variance()), "{name} {step}: variance {var} vs {}", law.variance());
            proptest::prop_assert!(close(mean, want_mean), "{name} {step}: mean {mean} vs {want_mean}");
        }
    }
}
