//! The view model of an emitted module (every name, literal and signature, computed here)
//! and its rendering through the tera templates, formatted by prettyplease.

use serde::Serialize;

use super::accuracy::Form;
use super::lower::{self, Mode, Op, Program, Var, wide_argument_method};
use super::{CodegenError, Function, Guard, GuardBody, Shape, Toward, UPPER_FROM};
use crate::expr::Func;

/// The module template, `templates/module.rs.tera`.
pub const MODULE_TEMPLATE: &str = include_str!("../../templates/module.rs.tera");
/// The crate's `Cargo.toml`, `templates/Cargo.toml.tera`.
pub const CARGO_TEMPLATE: &str = include_str!("../../templates/Cargo.toml.tera");
/// The crate's reference test, `templates/reference.rs.tera`.
pub const REFERENCE_TEMPLATE: &str = include_str!("../../templates/reference.rs.tera");
/// The double-double runtime copied into stable modules.
pub const RUNTIME: &str = include_str!("runtime.rs");

#[derive(Serialize)]
pub struct ModuleView {
    /// A Rust string literal: the header line.
    pub header: String,
    /// Rust string literals: the module documentation, one per line.
    pub module_doc: Vec<String>,
    /// A Rust string literal: the process name.
    pub process: String,
    /// The `use` line of the runtime's items (stable modules), or empty.
    pub imports: String,
    pub stable: bool,
    pub functions: Vec<FnView>,
    /// Rust items appended after the functions ([`super::Section`]).
    pub sections: Vec<String>,
    pub runtime: String,
}

#[derive(Serialize)]
pub struct FnView {
    /// Rust string literals, one per doc line.
    pub doc: Vec<String>,
    /// Whether the function is part of the module's interface (`pub`).
    pub public: bool,
    pub name: String,
    /// The generic parameters, `<R: Real>`, or empty.
    pub generics: String,
    /// `x: f64, eps: f64, t: f64`.
    pub params: String,
    pub ret: String,
    pub allow_unused: bool,
    /// Special cases at exact ends, checked first.
    pub guards: Vec<GuardView>,
    pub lets: Vec<LetView>,
    pub result: String,
}

#[derive(Serialize)]
pub struct GuardView {
    /// `t == 0.0 && t_next == 1.0`.
    pub cond: String,
    pub lets: Vec<LetView>,
    pub result: String,
}

#[derive(Serialize)]
pub struct LetView {
    pub name: String,
    pub ty: String,
    pub value: String,
}

/// A Rust string literal with the text `s` (every character that could end or escape the
/// literal is escaped, so no content can break out of it).
pub fn string_literal(s: &str) -> String {
    format!("\"{}\"", s.escape_default())
}

/// A `#[doc = ...]` literal for the doc line `s` (with the space `///` comments have).
pub fn doc_literal(s: &str) -> String {
    if s.is_empty() {
        string_literal("")
    } else {
        string_literal(&format!(" {s}"))
    }
}

/// An f64 literal that reads back as exactly `x`.
pub fn f64_literal(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains(['.', 'e']) || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

fn var(v: Var) -> String {
    format!("v{v}")
}

/// How a program's instructions are typed: plain `f64` (a naive module), or in a stable
/// body each in the narrow type `N` or, where marked, the wide type `W`.
#[derive(Clone, Copy)]
pub enum Typing<'a> {
    Naive,
    /// The wide instructions (missing entries are narrow).
    Mixed(&'a [bool]),
    /// Every instruction wide (the guards' programs).
    Wide,
}

impl Typing<'_> {
    fn wide(self, v: Var) -> bool {
        match self {
            Typing::Naive => false,
            Typing::Mixed(w) => w.get(v).copied().unwrap_or(false),
            Typing::Wide => true,
        }
    }
}

/// The right-hand side of instruction `i` (`kept`: a narrow call of a wide argument whose
/// value stays wide, `lower::kept`).
fn op_text(op: &Op, i: Var, typing: Typing, kept: bool) -> String {
    let stable = !matches!(typing, Typing::Naive);
    if let (true, Some(m), Op::Call(_, a) | Op::Sqrt(a)) = (kept, wide_argument_method(op), op) {
        let name = m.strip_suffix("_of").unwrap_or(m);
        return format!("N::{name}_kept({})", var(*a));
    }
    let wide = typing.wide(i);
    let ty = if wide { "W" } else { "N" };
    // An operand, converted to this instruction's type.
    let arg = |j: Var| match (wide, typing.wide(j)) {
        (true, false) => format!("{}.widen()", var(j)),
        (false, true) => format!("N::narrow({})", var(j)),
        _ => var(j),
    };
    match op {
        Op::Input(name) if stable => format!("{ty}::from_f64({name})"),
        Op::Input(name) => name.clone(),
        Op::Const { hi, lo } if stable => format!(
            "{ty}::new({}, {})",
            f64_literal(f64::from_bits(*hi)),
            f64_literal(f64::from_bits(*lo))
        ),
        Op::Const { hi, .. } => f64_literal(f64::from_bits(*hi)),
        Op::Call(_, a) | Op::Sqrt(a)
            if stable && !wide && typing.wide(*a) && wide_argument_method(op).is_some() =>
        {
            let m = wide_argument_method(op).expect("checked above");
            format!("N::{m}({})", var(*a))
        }
        Op::Sum(terms) => {
            let mut s = arg(terms[0].1);
            for (neg, v) in &terms[1..] {
                s.push_str(if *neg { " - " } else { " + " });
                s.push_str(&arg(*v));
            }
            s
        }
        Op::Mul(xs) => xs.iter().map(|&v| arg(v)).collect::<Vec<_>>().join(" * "),
        Op::Div(a, b) => format!("{} / {}", arg(*a), arg(*b)),
        Op::Neg(a) => format!("-{}", arg(*a)),
        Op::PowI(a, 2) if stable => format!("{}.square()", arg(*a)),
        Op::PowI(a, 2) => format!("{0} * {0}", var(*a)),
        Op::PowI(a, n) => format!("{}.powi({n})", arg(*a)),
        Op::Sqrt(a) => format!("{}.sqrt()", arg(*a)),
        Op::PowF(a, b) => format!("{}.powf({})", arg(*a), arg(*b)),
        Op::Call(Func::Sigmoid, a) if !stable => {
            format!("1.0 / (1.0 + (-{}).exp())", var(*a))
        }
        Op::Call(f, a) => format!("{}.{}()", arg(*a), method(*f)),
    }
}

/// The method of `f64` (and of the runtime's `Real`) that computes `f`.
fn method(f: Func) -> &'static str {
    match f {
        Func::Exp => "exp",
        Func::Log => "ln",
        Func::Sin => "sin",
        Func::Cos => "cos",
        Func::Tan => "tan",
        Func::Asin => "asin",
        Func::Acos => "acos",
        Func::Atan => "atan",
        Func::Sinh => "sinh",
        Func::Cosh => "cosh",
        Func::Tanh => "tanh",
        Func::Sigmoid => "sigmoid",
        Func::Expm1 => "exp_m1",
        Func::Log1p => "ln_1p",
        Func::Abs => "abs",
        Func::Generic(_) | Func::Integral(_) => {
            unreachable!("codegen::lower refuses unspecified functions and named integrals")
        }
    }
}

/// The `let` lines of a program (a narrow call whose value stays wide, `lower::kept`, is
/// typed wide; a checked value, [`Program::checked`], passes through `in_range`).
pub fn lets(program: &Program, typing: Typing) -> Vec<LetView> {
    let kept = match typing {
        Typing::Mixed(wide) => lower::kept(program, wide),
        _ => vec![false; program.ops.len()],
    };
    let resolved: Vec<bool>;
    let typing = match typing {
        Typing::Mixed(wide) => {
            resolved = (0..program.ops.len())
                .map(|i| wide.get(i).copied().unwrap_or(false) || kept[i])
                .collect();
            Typing::Mixed(&resolved)
        }
        other => other,
    };
    program
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| LetView {
            name: var(i),
            ty: match typing {
                Typing::Naive => "f64",
                _ if typing.wide(i) => "W",
                _ => "N",
            }
            .to_owned(),
            value: match (typing, program.is_checked(i)) {
                (Typing::Naive, _) | (_, false) => op_text(op, i, typing, kept[i]),
                (_, true) => format!("{}.in_range()", op_text(op, i, typing, kept[i])),
            },
        })
        .collect()
}

/// An f64 value as a Rust expression, infinities included.
pub fn f64_value(x: f64) -> String {
    if x == f64::INFINITY {
        "f64::INFINITY".into()
    } else if x == f64::NEG_INFINITY {
        "f64::NEG_INFINITY".into()
    } else {
        f64_literal(x)
    }
}

/// The views of guards (a function's, or its poles'); `array` when the outputs form an
/// array.
fn guard_views(guards: &[Guard], mode: Mode, array: bool) -> Vec<GuardView> {
    guards
        .iter()
        .map(|g| {
            let cond = g.condition(f64_literal);
            let (lets, outs): (Vec<LetView>, Vec<String>) = match &g.body {
                GuardBody::Constants(vs) => {
                    (Vec::new(), vs.iter().map(|&v| f64_value(v)).collect())
                }
                GuardBody::Program(p, outs) => {
                    // A guard onto the noise end reads `t` (and `t_next`) as the
                    // distance to it.
                    let distance = [("t", g.above), ("t_next", g.next_above)]
                        .into_iter()
                        .filter(|(_, a)| a.is_some())
                        .map(|(name, _)| LetView {
                            name: name.to_owned(),
                            ty: "f64".to_owned(),
                            value: format!("1.0 - {name}"),
                        });
                    let typing = match mode {
                        Mode::Naive => Typing::Naive,
                        Mode::Stable => Typing::Wide,
                    };
                    (
                        distance.chain(lets(p, typing)).collect(),
                        outs.iter().map(|&v| output(v, mode)).collect(),
                    )
                }
            };
            let result = if array {
                format!("[{}]", outs.join(", "))
            } else {
                outs.join(", ")
            };
            GuardView { cond, lets, result }
        })
        .collect()
}

/// The views of a field's guards in the wide number type `W`, their values unrounded
/// (`W` arrays, for `dd::wide_sum`).
fn wide_guard_views(guards: &[Guard]) -> Vec<GuardView> {
    guard_views(guards, Mode::Stable, true)
        .into_iter()
        .zip(guards)
        .map(|(mut view, g)| {
            let values: Vec<String> = match &g.body {
                GuardBody::Constants(vs) => vs
                    .iter()
                    .map(|&v| format!("W::from_f64({})", f64_value(v)))
                    .collect(),
                GuardBody::Program(_, outs) => outs.iter().map(|&v| var(v)).collect(),
            };
            view.result = format!("[{}]", values.join(", "));
            view
        })
        .collect()
}

/// The value of a program variable as an f64 expression.
pub fn output(v: Var, mode: Mode) -> String {
    match mode {
        Mode::Stable => format!("{}.to_f64()", var(v)),
        Mode::Naive => var(v),
    }
}

/// The view of one public function, its coefficient helper (fields) and slice version
/// (sampler steps).
pub fn function_views(f: &Function, mode: Mode, doc: Vec<String>) -> Vec<FnView> {
    let typing = match mode {
        Mode::Naive => Typing::Naive,
        Mode::Stable => Typing::Mixed(&f.wide),
    };
    let lets = lets(&f.program, typing);
    match &f.shape {
        Shape::Scalar { out } => computed(
            FnView {
                doc,
                public: true,
                name: f.name.clone(),
                generics: String::new(),
                params: "t: f64".into(),
                ret: "-> f64".into(),
                allow_unused: !f.program.ops.contains(&Op::Input("t".into())),
                guards: guard_views(&f.guards, mode, false),
                lets,
                result: output(*out, mode),
            },
            f,
            &["t".to_owned()],
            false,
        ),
        Shape::Field {
            inputs,
            times,
            coeffs,
            step,
        } => {
            let coef_name = format!("{}_coefficients", f.name);
            let time_params = times
                .iter()
                .map(|t| format!("{t}: f64"))
                .collect::<Vec<_>>()
                .join(", ");
            let time_args = times.join(", ");
            let used_times = times
                .iter()
                .all(|t| f.program.ops.contains(&Op::Input(t.clone())));
            let n = coeffs.len();
            let outs: Vec<String> = coeffs.iter().map(|(_, v)| output(*v, mode)).collect();
            let cnames: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
            let destructure = format!("let [{}] = {coef_name}({time_args});", cnames.join(", "));
            let combine = |vals: &dyn Fn(&str) -> String| -> String {
                if coeffs.is_empty() {
                    return "0.0".into();
                }
                coeffs
                    .iter()
                    .zip(&cnames)
                    .map(|((input, _), c)| format!("{c} * {}", vals(input)))
                    .collect::<Vec<_>>()
                    .join(" + ")
            };
            let all_used = inputs.iter().all(|i| coeffs.iter().any(|(c, _)| c == i));
            let mut views = computed(
                FnView {
                    doc: [doc_literal(&format!(
                        "The coefficients of `{}` in its inputs ({}), as functions of {}.",
                        f.name,
                        coeffs
                            .iter()
                            .map(|(c, _)| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        times
                            .iter()
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))]
                    .into_iter()
                    .chain(std::iter::once(doc_literal("")))
                    .chain(doc.iter().cloned())
                    .collect(),
                    public: true,
                    name: coef_name.clone(),
                    generics: String::new(),
                    params: time_params.clone(),
                    ret: format!("-> [f64; {n}]"),
                    allow_unused: !used_times,
                    guards: guard_views(&f.guards, mode, true),
                    lets,
                    result: format!("[{}]", outs.join(", ")),
                },
                f,
                times,
                true,
            );
            // The directions and end values at the poles (an end where some coefficients
            // are infinite), from a function of their own.
            let pole_name = format!("{}_poles", f.name);
            let call = match mode {
                Mode::Stable => format!("{pole_name}::<f64, Dd>({time_args})"),
                Mode::Naive => format!("{pole_name}({time_args})"),
            };
            let infinities = |p: &super::Pole| {
                p.infinite
                    .iter()
                    .map(|&v| f64_value(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // At a pole the coefficients are their infinities and values there (the
            // general program may come out large and finite, or 0/0).
            if !f.poles.is_empty() && mode == Mode::Stable {
                let fixes: String = f
                    .poles
                    .iter()
                    .map(|p| {
                        format!(
                            "if {} {{ return dd::at_pole(&{call}, [{}]); }}",
                            p.condition(*step, f64_literal),
                            infinities(p)
                        )
                    })
                    .collect();
                let wrapper = &mut views[0];
                wrapper.result = format!("{fixes} {}", wrapper.result);
            }
            let params = inputs
                .iter()
                .map(|i| format!("{i}: f64"))
                .chain(times.iter().map(|t| format!("{t}: f64")))
                .collect::<Vec<_>>()
                .join(", ");
            // At a pole the value is the infinity the directions give (`dd::pole_sum`),
            // not `inf - inf`. For each pole, its condition and the sum there of the
            // values `vals` gives the inputs, with the directions `k`.
            let at_poles = |vals: &dyn Fn(&str) -> String, k: &str| -> Vec<(String, String)> {
                f.poles
                    .iter()
                    .map(|p| {
                        let sum = format!(
                            "dd::pole_sum(&{k}, &[{}], &[{}])",
                            infinities(p),
                            coeffs
                                .iter()
                                .map(|(input, _)| vals(input))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        (p.condition(*step, f64_literal), sum)
                    })
                    .collect()
            };
            let direct = |i: &str| i.to_owned();
            let wide_name = format!("{}_wide", f.name);
            let wide_call = format!("{wide_name}::<Xd, Xd>({time_args})");
            let guard: String = at_poles(&direct, &call)
                .into_iter()
                .map(|(cond, sum)| format!("if {cond} {{ return {sum}; }}"))
                .collect();
            let mut field_doc = doc.clone();
            if !f.poles.is_empty() {
                let ends = f
                    .poles
                    .iter()
                    .map(|p| format!("`{}`", p.condition(*step, f64_literal)))
                    .collect::<Vec<_>>()
                    .join(" and ");
                field_doc.push(doc_literal(""));
                field_doc.push(doc_literal(&format!(
                    "At {ends}, where coefficients are infinite, it returns the infinity the leading terms tend to (the sign of their directions times the inputs), and NaN where those cancel exactly (`0 * inf`)."
                )));
            }
            views.push(FnView {
                doc: field_doc,
                public: true,
                name: f.name.clone(),
                generics: String::new(),
                params,
                ret: "-> f64".into(),
                allow_unused: !all_used,
                guards: vec![],
                lets: vec![],
                result: if f.wide_sum {
                    format!(
                        "{destructure} {guard} let r = {}; if r.is_finite() {{ r }} else {{ dd::wide_sum(&{wide_call}, &[{}]) }}",
                        combine(&direct),
                        coeffs
                            .iter()
                            .map(|(input, _)| input.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    format!("{destructure} {guard} {}", combine(&direct))
                },
            });
            // Coefficients beyond f64 away from the poles: the program again in `Xd`,
            // its values kept wide for `dd::wide_sum`.
            if f.wide_sum {
                views.push(FnView {
                    doc: vec![doc_literal(&format!(
                        "The coefficients of [`{}`] in the wide number type `W`, unrounded: where some leave the range of f64, the field sums them in `Xd`.",
                        f.name
                    ))],
                    public: false,
                    name: wide_name.clone(),
                    generics: "<N: Narrow<W>, W: Real>".into(),
                    params: time_params.clone(),
                    ret: format!("-> [W; {n}]"),
                    allow_unused: !used_times,
                    guards: wide_guard_views(&f.guards),
                    lets: self::lets(&f.program, Typing::Wide),
                    result: format!(
                        "[{}]",
                        coeffs
                            .iter()
                            .map(|(_, v)| var(*v))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            if !f.poles.is_empty() {
                views.push(FnView {
                    doc: vec![doc_literal(&format!(
                        "The directions of the coefficients of [`{}`] at its poles, the ends where some are infinite (there `c_i ~ k_i M` with `M -> +inf`), then the values of the finite ones.",
                        f.name
                    ))],
                    public: false,
                    name: pole_name,
                    generics: match mode {
                        Mode::Stable => "<N: Narrow<W>, W: Real>".into(),
                        Mode::Naive => String::new(),
                    },
                    params: time_params.clone(),
                    ret: format!("-> [f64; {}]", 2 * n),
                    allow_unused: true,
                    guards: guard_views(
                        &f.poles.iter().map(|p| p.guard.clone()).collect::<Vec<_>>(),
                        mode,
                        true,
                    ),
                    lets: vec![],
                    result: format!("[f64::NAN; {}]", 2 * n),
                });
            }
            if *step {
                let state = &inputs[0];
                let others = &inputs[1..];
                let params = std::iter::once(format!("{state}: &mut [f64]"))
                    .chain(others.iter().map(|i| format!("{i}: &[f64]")))
                    .chain(times.iter().map(|t| format!("{t}: f64")))
                    .collect::<Vec<_>>()
                    .join(", ");
                let asserts: String = others
                    .iter()
                    .map(|o| {
                        format!(
                            "assert_eq!({state}.len(), {o}.len(), {});",
                            string_literal(&format!("`{state}` and `{o}` differ in length"))
                        )
                    })
                    .collect();
                let mut pattern = format!("{state}_i");
                let mut iter = format!("{state}.iter_mut()");
                for o in others {
                    pattern = format!("({pattern}, &{o}_i)");
                    iter = format!("{iter}.zip({o})");
                }
                let body = combine(&|i: &str| {
                    if i == state {
                        format!("*{state}_i")
                    } else {
                        format!("{i}_i")
                    }
                });
                let mut sdoc = vec![doc_literal(&format!(
                    "`{}` applied elementwise in place: `{state}[i]` becomes the step from `{state}[i]`{}; the coefficients are computed once.",
                    f.name,
                    others
                        .iter()
                        .map(|o| format!(" and `{o}[i]`"))
                        .collect::<String>()
                ))];
                sdoc.push(doc_literal(""));
                sdoc.extend(doc.iter().cloned());
                sdoc.push(doc_literal(""));
                sdoc.push(doc_literal("# Panics"));
                sdoc.push(doc_literal(""));
                sdoc.push(doc_literal("If the slices differ in length."));
                views.push(FnView {
                    doc: sdoc,
                    public: true,
                    name: format!("{}_slice", f.name),
                    generics: String::new(),
                    params,
                    ret: String::new(),
                    allow_unused: !all_used,
                    guards: vec![],
                    lets: vec![],
                    result: format!(
                        "{asserts} {destructure} {} for {pattern} in {iter} {{ *{state}_i = {body}; }}",
                        at_poles(
                            &|i: &str| {
                                if i == state {
                                    format!("*{state}_i")
                                } else {
                                    format!("{i}_i")
                                }
                            },
                            "k"
                        )
                        .into_iter()
                        .map(|(cond, sum)| format!(
                            "if {cond} {{ let k = {call}; for {pattern} in {iter} {{ *{state}_i = {sum}; }} return; }}"
                        ))
                        .chain(f.wide_sum.then(|| {
                            let vals = coeffs
                                .iter()
                                .map(|(input, _)| {
                                    if input == state {
                                        format!("*{state}_i")
                                    } else {
                                        format!("{input}_i")
                                    }
                                })
                                .collect::<Vec<_>>()
                                .join(", ");
                            format!(
                                "if !({}) {{ let w = {wide_call}; for {pattern} in {iter} {{ *{state}_i = dd::wide_sum(&w, &[{vals}]); }} return; }}",
                                cnames
                                    .iter()
                                    .map(|c| format!("{c}.is_finite()"))
                                    .collect::<Vec<_>>()
                                    .join(" && ")
                            )
                        }))
                        .collect::<String>()
                    ),
                });
            }
            views
        }
    }
}

/// A function that computes from its program. A stable module writes the body once,
/// generic over the runtime's number type, as a private `NAME_in::<R>`; the public
/// function runs it with `f64` narrow and double-double wide (which operations are wide
/// is what the accuracy budget chose: none, some or all) and, unless the form meets its
/// budget without, again in the wide-range `Xd` where a time is tiny or a value came out
/// non-finite, zero or subnormal (`dd::ordinary`).
fn computed(view: FnView, f: &Function, times: &[String], array: bool) -> Vec<FnView> {
    let (form, fallback) = (f.form, f.fallback);
    if form == Form::Naive {
        return vec![view];
    }
    let inner = format!("{}_in", view.name);
    let args = times.join(", ");
    let values = if array { "&r" } else { "&[r]" };
    let wrapper = FnView {
        doc: view.doc.clone(),
        public: true,
        name: view.name.clone(),
        generics: String::new(),
        params: view.params.clone(),
        ret: view.ret.clone(),
        allow_unused: false,
        guards: Vec::new(),
        lets: Vec::new(),
        result: if fallback {
            format!(
                "let r = {inner}::<f64, Dd>({args}); if dd::ordinary(&[{args}], {values}) {{ r }} else {{ {inner}::<Xd, Xd>({args}) }}"
            )
        } else {
            format!("{inner}::<f64, Dd>({args})")
        },
    };
    let mut guards = view.guards;
    let mut upper_view = None;
    if let Some(up) = &f.upper {
        let name = format!("{}_upper", view.name);
        let cond = times
            .iter()
            .map(|t| format!("{t} >= {}", f64_literal(UPPER_FROM)))
            .collect::<Vec<_>>()
            .join(" && ");
        let reflected = times
            .iter()
            .map(|t| format!("1.0 - {t}"))
            .collect::<Vec<_>>()
            .join(", ");
        guards.push(GuardView {
            cond,
            lets: Vec::new(),
            result: format!("{name}::<N, W>({reflected})"),
        });
        let result = match &up.shape {
            Shape::Scalar { out } => output(*out, Mode::Stable),
            Shape::Field { coeffs, .. } => format!(
                "[{}]",
                coeffs
                    .iter()
                    .map(|(_, v)| output(*v, Mode::Stable))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        upper_view = Some(FnView {
            doc: vec![doc_literal(&format!(
                "The upper regime of [`{}`]: the same formula with every time `s` written as `1 - s`, for times from {UPPER_FROM} up, where `1 - s` is exact; it takes `1 - s`.",
                view.name
            ))],
            public: false,
            name,
            generics: "<N: Narrow<W>, W: Real>".into(),
            params: view.params.clone(),
            ret: view.ret.clone(),
            allow_unused: !times
                .iter()
                .all(|t| up.program.ops.contains(&Op::Input(t.clone()))),
            guards: Vec::new(),
            lets: lets(&up.program, Typing::Mixed(&up.wide)),
            result,
        });
    }
    let body = FnView {
        doc: vec![doc_literal(&format!(
            "The body of [`{}`]: most operations in the narrow number type `N`, those the accuracy budget needs in the wide `W`.",
            view.name
        ))],
        public: false,
        name: inner,
        generics: "<N: Narrow<W>, W: Real>".into(),
        guards,
        ..view
    };
    let mut out = vec![wrapper];
    out.extend(with_cells(body, f, &args));
    if let Some(v) = upper_view
        && let Some(up) = &f.upper
    {
        out.extend(with_cells(v, up, &args));
    }
    out
}

/// `body` (of the program of `f`), and a function per cell of `f` ([`Function::cells`])
/// that it calls, after its guards, where `t` is below the cell's bound; before them, one
/// for a step toward the data end ([`Function::toward`]), with cells of its own.
fn with_cells(body: FnView, f: &Function, args: &str) -> Vec<FnView> {
    branches(body, f, f.toward.as_ref(), &f.cells, args)
}

/// [`with_cells`] for the operations `toward` and `cells` of `f`'s program.
fn branches(
    mut body: FnView,
    f: &Function,
    toward: Option<&Toward>,
    cells: &[(f64, Vec<bool>)],
    args: &str,
) -> Vec<FnView> {
    let mut out = Vec::new();
    let branch = |body: &mut FnView, suffix: String, cond: String, what: String, wide: &[bool]| {
        let name = format!("{}_{suffix}", body.name);
        body.guards.push(GuardView {
            cond,
            lets: Vec::new(),
            result: format!("{name}::<N, W>({args})"),
        });
        FnView {
            doc: vec![doc_literal(&format!(
                "[`{}`] {what}, with the operations in `W` that the accuracy budget needs there.",
                body.name
            ))],
            public: false,
            name,
            generics: "<N: Narrow<W>, W: Real>".into(),
            params: body.params.clone(),
            ret: body.ret.clone(),
            allow_unused: body.allow_unused,
            guards: Vec::new(),
            lets: lets(&f.program, Typing::Mixed(wide)),
            result: body.result.clone(),
        }
    };
    if let Some(w) = toward {
        let (cond, here) = if f.reflected {
            ("t_next > t", ", here `t_next > t`: the times are reflected")
        } else {
            ("t_next < t", "")
        };
        let view = branch(
            &mut body,
            "toward".to_owned(),
            cond.to_owned(),
            format!("for a step toward the data end (`t_next < t`{here})"),
            &w.wide,
        );
        out.extend(branches(view, f, None, &w.cells, args));
    }
    for (k, (bound, wide)) in cells.iter().enumerate() {
        let view = branch(
            &mut body,
            format!("cell{k}"),
            format!("t < {}", f64_literal(*bound)),
            format!("where `t` is below {bound}"),
            wide,
        );
        out.push(view);
    }
    out.insert(0, body);
    out
}

/// Renders `template` with `view` and formats the result as Rust.
pub fn render_rust(template: &str, view: &impl Serialize) -> Result<String, CodegenError> {
    let text = render_text(template, view)?;
    let file = syn::parse_file(&text).map_err(|e| CodegenError::Internal {
        what: format!("generated code does not parse: {e}"),
    })?;
    Ok(prettyplease::unparse(&file))
}

/// Renders `template` with `view` as plain text.
pub fn render_text(template: &str, view: &impl Serialize) -> Result<String, CodegenError> {
    let mut tera = tera::Tera::new();
    tera.autoescape_on(Vec::<&str>::new());
    let internal = |e: tera::Error| CodegenError::Internal {
        what: format!("template: {e}"),
    };
    tera.add_raw_template("t", template).map_err(internal)?;
    let ctx = tera::Context::from_serialize(view).map_err(internal)?;
    tera.render("t", &ctx).map_err(internal)
}
