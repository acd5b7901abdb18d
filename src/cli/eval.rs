//! `diffsym eval`: one definition, derived quantity or field at exact inputs, correctly
//! rounded to f64 or to D significant digits, with one-sided limits at undefined points.

use std::path::PathBuf;

use num_rational::BigRational;

use super::args::{Params, in_unit_interval};
use super::load::load_one;
use super::output::Outcome;
use crate::diag::{Diag, codes};
use crate::expr::{ExprId, Pool, Symbol, ball, eval, hp, limit};
use crate::process::{self, Process};

/// The most digits `eval --digits` computes a limit to (a limit costs about eight
/// evaluations at the precision the digits need).
const MAX_LIMIT_DIGITS: u32 = 2000;

/// Inputs of fields and sampler steps. The model-output flag given picks the
/// parameterisation: `diffsym eval F pf_velocity --t 0.5 --x 0.3 --score 0.64`.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct FieldInputs {
    /// The state x
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) x: Option<String>,
    /// The data point x0 (cond_score, cond_velocity), or an x0-prediction
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) x0: Option<String>,
    /// A score model's output
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) score: Option<String>,
    /// An eps-prediction
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) eps: Option<String>,
    /// A flow-matching velocity
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) u: Option<String>,
    /// A v-prediction (variance-preserving processes)
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) v: Option<String>,
    /// The standard normal draw of euler_maruyama_step and ddim_eta_step_eps
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) z: Option<String>,
    /// DDIM's stochasticity (ddim_eta_step_eps), in [0, 1]
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) eta: Option<String>,
    /// EDM's data standard deviation (edm_c_skip, edm_c_out, edm_c_in), positive
    #[arg(long = "sigma-data", allow_hyphen_values = true)]
    pub(crate) sigma_data: Option<String>,
    /// The time the sampler steps to
    #[arg(long = "t-next", allow_hyphen_values = true)]
    pub(crate) t_next: Option<String>,
}

/// `diffsym eval FILE [--process NAME] QUANTITY --t T [--digits D] [field inputs]`
#[derive(clap::Args, Debug)]
pub(super) struct EvalArgs {
    /// The .dsym file
    file: PathBuf,
    /// The process (may be omitted when the file defines only one)
    #[arg(long)]
    process: Option<String>,
    /// The definition, derived quantity or field to evaluate, e.g. `alpha`, `g2`,
    /// `pf_velocity`
    #[arg(long_help = quantity_help())]
    quantity: String,
    /// The time, in [0, 1]; exact (`0.1` is 1/10, `1/3` is a third)
    #[arg(long, allow_hyphen_values = true)]
    t: String,
    /// Print this many significant digits, evaluated with at least 256 bits (default:
    /// the value rounded once to the nearest f64 from agreeing evaluations at 128, 256,
    /// 512, ... bits, printed with 17 significant digits)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10000))]
    digits: Option<u32>,
    #[command(flatten)]
    params: Params,
    #[command(flatten)]
    inputs: FieldInputs,
}

/// `eval QUANTITY --help`: every name it takes and the inputs each needs, from the
/// quantities' and fields' own lists.
fn quantity_help() -> String {
    use crate::process::derive::Quantity;
    use crate::process::fields::{FieldKind, Formula, Param};
    let quantities: Vec<&str> = Quantity::ALL.map(Quantity::name).to_vec();
    let flags = |args: &[&str], skip: &[&str]| -> String {
        let extra: Vec<String> = args
            .iter()
            .filter(|a| !skip.contains(a))
            .map(|a| format!("--{}", a.replace('_', "-")))
            .collect();
        if extra.is_empty() {
            "nothing more".to_owned()
        } else {
            extra.join(" ")
        }
    };
    let mut s = format!(
        "The definition, derived quantity, formula or field to evaluate.\n\n\
         A definition of the process (a function of t), or a derived quantity: {}.\n\n\
         A formula takes --t and:",
        quantities.join(", "),
    );
    for f in Formula::ALL {
        s.push_str(&format!(
            "\n  {:<20} {}",
            f.name(),
            flags(f.arguments(), &["t"])
        ));
    }
    s.push_str(
        "\n\nA field or sampler step takes --t, --x, one model output (--score, --eps, --x0, \
         --u or --v; it picks the parameterisation) and:",
    );
    for kind in FieldKind::ALL {
        let args = kind.arguments(Param::Eps);
        s.push_str(&format!(
            "\n  {:<20} {}",
            kind.name(),
            flags(&args, &["x", "eps", "t"])
        ));
    }
    s
}

pub(super) fn run(a: &EvalArgs) -> Result<Outcome, Vec<Diag>> {
    let (mut pool, _, p) = load_one(
        &a.file,
        a.process.as_deref(),
        &a.params.params,
        process::Stage::Fields,
    )?;
    let text = eval_text(&mut pool, &p, &a.quantity, &a.t, a.digits, &a.inputs)?;
    Ok(Outcome::ok(format!("{text}\n")))
}

/// What `eval` prints (without the newline) for `quantity` of the lowered process `p` at
/// the time `t` as typed: the whole command after loading, within the process's work
/// allowances. The fuzzer (`crate::fuzz`) calls it on the processes it lowers, so it
/// checks exactly what the command prints.
pub(crate) fn eval_text(
    pool: &mut Pool,
    p: &Process,
    quantity: &str,
    t: &str,
    digits: Option<u32>,
    inputs: &FieldInputs,
) -> Result<String, Vec<Diag>> {
    process::within_allowances(|| eval_text_within(pool, p, quantity, t, digits, inputs))
}

fn eval_text_within(
    pool: &mut Pool,
    p: &Process,
    quantity: &str,
    t: &str,
    digits: Option<u32>,
    inputs: &FieldInputs,
) -> Result<String, Vec<Diag>> {
    let t_value = process::parse_param_override(pool, t)
        .map_err(|m| vec![Diag::new(codes::CLI_T, format!("bad value for --t: {m}"))])?;
    if !in_unit_interval(&t_value) {
        return Err(vec![
            Diag::new(codes::CLI_T, format!("--t {t} is outside [0, 1]"))
                .with_help("t = 0 is the data end, t = 1 the noise end of the process"),
        ]);
    }
    let user = p.def(quantity).map(|d| (d.args.clone(), d.body));
    let derived = p
        .quantity(quantity)
        .map(|e| (vec![process::time_symbol(pool)], e));
    // The exact inputs are bound, not substituted: substitution would let the simplifier
    // fold `0 * anything` at a point where `anything` is undefined.
    let (e, env, times): BoundExpr = match user.or(derived) {
        Some((args, body)) => {
            if args.len() != 1 {
                return Err(vec![Diag::new(
                    codes::CLI_QUANTITY,
                    format!(
                        "`{quantity}` takes {} arguments; eval needs a function of t alone",
                        args.len()
                    ),
                )]);
            }
            if inputs.given().next().is_some() {
                return Err(vec![Diag::new(
                    codes::CLI_QUANTITY,
                    format!("`{quantity}` is a function of t alone; it takes no field inputs"),
                )]);
            }
            (body, vec![(args[0], t_value.clone())], vec![args[0]])
        }
        None => field_expr(pool, p, quantity, &t_value, inputs)?,
    };
    let what = |m: String| {
        vec![Diag::new(
            codes::EVAL_NO_VALUE,
            format!("`{quantity}` at t = {t}: {m}"),
        )]
    };
    let text = match digits {
        None => {
            let v = limit::value_at(
                pool,
                e,
                &env,
                &times,
                limit::MAX_POINT_BITS,
                &ball::round_f64,
            )
            .map(f64::from_bits)
            .map_err(|err| what(err.to_string()))?;
            // Beyond the f64 range, or below its normal numbers but not 0 (alpha(1) =
            // e^-1500 rounds to 0, a subnormal keeps fewer digits than it prints): the
            // value to three digits, which for an exact 0 is "0".
            let tiny = v.abs() < f64::MIN_POSITIVE;
            let three_digits = |pool: &mut Pool| {
                limit::value_at(pool, e, &env, &times, limit::MAX_POINT_BITS, &|x| {
                    hp::format_sig_or_zero(x, 3)
                })
                .unwrap_or_default()
            };
            let about = (v.is_infinite() || tiny)
                .then(|| three_digits(pool))
                .filter(|about| !(tiny && (about == "0" || about.is_empty())));
            if let Some(about) = about {
                return Err(vec![
                    Diag::new(
                        codes::EVAL_RANGE,
                        format!("`{quantity}` at t = {t} is {about}, outside the range of f64"),
                    )
                    .with_help("`--digits D` prints it with D significant digits"),
                ]);
            }
            eval::format_f64(v)
        }
        Some(d) => {
            let bits = (f64::from(d) * std::f64::consts::LOG2_10).ceil() as usize + 64;
            let max_bits = limit::MAX_POINT_BITS.max(4 * bits);
            let round = |x: &astro_float::BigFloat| hp::format_sig_or_zero(x, d as usize);
            if d > MAX_LIMIT_DIGITS {
                // A limit samples the formula eight times at this precision: bounded to
                // MAX_LIMIT_DIGITS so that every accepted --digits finishes in seconds.
                // Whether the point needs one is asked first, at f64 rounding.
                let defined = matches!(
                    ball::certify(pool, e, &env, limit::MAX_POINT_BITS, ball::round_f64),
                    Ok(_) | Err(ball::Uncertified::Tie(_))
                );
                defined
                    .then(|| ball::certify(pool, e, &env, max_bits, round).ok())
                    .flatten()
                    .map(|(text, _)| text)
                    .ok_or_else(|| {
                        vec![
                            Diag::new(
                                codes::EVAL_DIGITS,
                                format!(
                                    "`{quantity}` at t = {t} is not defined there, and limits are computed to at most {MAX_LIMIT_DIGITS} digits"
                                ),
                            )
                            .with_help(format!("use --digits {MAX_LIMIT_DIGITS} or fewer")),
                        ]
                    })?
            } else {
                limit::value_at(pool, e, &env, &times, max_bits, &round)
                    .map_err(|err| what(err.to_string()))?
            }
        }
    };
    Ok(text)
}

impl FieldInputs {
    /// The flags given, as (flag name, value).
    fn given(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("x", &self.x),
            ("x0", &self.x0),
            ("score", &self.score),
            ("eps", &self.eps),
            ("u", &self.u),
            ("v", &self.v),
            ("z", &self.z),
            ("t-next", &self.t_next),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.as_deref().map(|v| (n, v)))
    }
}

/// An expression with the exact values of its symbols, and which of them are times.
type BoundExpr = (ExprId, Vec<(Symbol, BigRational)>, Vec<Symbol>);

/// A field or sampler step with the exact value of every input bound (not substituted).
fn field_expr(
    pool: &mut Pool,
    p: &Process,
    name: &str,
    t: &BigRational,
    inputs: &FieldInputs,
) -> Result<BoundExpr, Vec<Diag>> {
    use process::fields::{FieldKind, Formula, Param, Vars};
    let err = |m: String| vec![Diag::new(codes::CLI_FIELD, m)];
    let formula = Formula::from_name(name).filter(|_| p.fields().formula(name).is_some());
    let (kind, param) = match FieldKind::from_name(name) {
        Some(kind) => {
            // The parameterisation is the one model-output flag given (x0 counts only
            // when no other is given).
            let outputs: Vec<Param> = [
                (Param::Score, &inputs.score),
                (Param::Eps, &inputs.eps),
                (Param::U, &inputs.u),
                (Param::V, &inputs.v),
            ]
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .map(|(p, _)| p)
            .collect();
            let param = match (outputs.as_slice(), &inputs.x0) {
                ([one], _) => *one,
                ([], Some(_)) => Param::X0,
                ([], None) => {
                    return Err(err(format!(
                        "`{name}` needs a model output: one of --score, --eps, --x0, --u, --v"
                    )));
                }
                _ => {
                    return Err(err(
                        "give one model output only (--score, --eps, --x0, --u or --v)".into(),
                    ));
                }
            };
            (Some(kind), Some(param))
        }
        None if formula.is_some() => (None, None),
        None => {
            let mut known: Vec<&str> = p.defs.iter().map(|d| d.name.as_str()).collect();
            known.extend(
                p.quantities
                    .iter()
                    .map(|&(n, _)| n)
                    .filter(|n| p.def(n).is_none()),
            );
            known.extend(p.fields().formulas.iter().map(|&(f, _)| f.name()));
            known.extend(FieldKind::ALL.map(FieldKind::name));
            return Err(vec![
                Diag::new(
                    codes::CLI_QUANTITY,
                    format!("process `{}` defines no `{name}`", p.name),
                )
                .with_help(format!("defined: {}", known.join(", "))),
            ]);
        }
    };
    let expr = match (kind, param) {
        (Some(kind), Some(param)) => {
            let f = p.field(kind.name(), param).ok_or_else(|| {
                err(format!("`{name}` has no {} parameterisation here (v-prediction needs a variance-preserving process)", param.name()))
            })?;
            f.expr
        }
        _ => p.fields().formula(name).expect("a formula"),
    };
    let vars = Vars::new(pool);
    let mut map = vec![(vars.t, t.clone())];
    let mut needed: Vec<(&str, &Option<String>, Symbol)> = Vec::new();
    match param {
        None => {
            let args = formula.map_or(&[][..], Formula::arguments);
            for &a in args.iter().filter(|&&a| a != "t") {
                let value = match a {
                    "x" => &inputs.x,
                    "x0" => &inputs.x0,
                    "eps" => &inputs.eps,
                    "z" => &inputs.z,
                    "eta" => &inputs.eta,
                    "sigma_data" => &inputs.sigma_data,
                    _ => &inputs.t_next,
                };
                let flag = match a {
                    "t_next" => "t-next",
                    "sigma_data" => "sigma-data",
                    other => other,
                };
                needed.push((flag, value, vars.argument(pool, a)));
            }
        }
        Some(pm) => {
            needed.push(("x", &inputs.x, vars.x));
            let flag = match pm {
                Param::Score => &inputs.score,
                Param::Eps => &inputs.eps,
                Param::X0 => &inputs.x0,
                Param::U => &inputs.u,
                Param::V => &inputs.v,
            };
            let sym = vars.output(pool, pm);
            needed.push((pm.name(), flag, sym));
        }
    }
    if kind.is_some_and(FieldKind::takes_noise) {
        needed.push(("z", &inputs.z, vars.z));
    }
    if kind.is_some_and(FieldKind::is_step) {
        needed.push(("t-next", &inputs.t_next, vars.t_next));
    }
    for (flag, value, sym) in needed {
        let Some(text) = value else {
            return Err(err(format!("`{name}` needs --{flag}")));
        };
        let r = process::parse_param_override(pool, text)
            .map_err(|m| err(format!("bad value for --{flag}: {m}")))?;
        if (flag == "t-next" || flag == "eta") && !in_unit_interval(&r) {
            return Err(err(format!("--{flag} {text} is outside [0, 1]")));
        }
        if flag == "sigma-data" && !num_traits::Signed::is_positive(&r) {
            return Err(err(format!("--sigma-data {text} is not positive")));
        }
        map.push((sym, r));
    }
    Ok((expr, map, vec![vars.t, vars.t_next]))
}
