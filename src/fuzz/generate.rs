//! The grammar-aware generator: random .dsym programs that follow the grammar closely
//! enough to reach lowering, derivation and evaluation most of the time.
//!
//! A program is one or two processes and sometimes `source` and `error` items, or
//! sources and score errors with at most a process (what `diffsym hodge` reads). A process declares
//! parameters, helper functions (one or two arguments, calling earlier ones), one of the
//! five forms a process is written in (alpha and sigma, or the shorthands `alpha_bar`,
//! `beta`, `sigma` alone, `log_snr`) and asserts. Forms come from templates of known
//! noising processes with random coefficients (so many programs load), perturbed or
//! replaced by random expressions (so the algebra sees breadth). Random expressions use
//! every operator, builtin, `integrate` and `diff`, with occasional extreme literals,
//! missing parentheses and wrong arities, to reach the error paths too. Sizes stay small:
//! the fuzzer is after breadth, not after slow inputs.
//!
//! Score errors (`error E = linear(...)` or `field([...])`) mostly have the dimension of a
//! source of the program, with entries that are rationals, functions of t (some singular
//! at an end), extreme literals or stray names, and fields affine or not in `x1 ... xd`;
//! sometimes a wrong shape, a wrong coordinate, an unknown kind or argument.
//!
//! Length: one generator per grammar rule, in the grammar's order, so that the file reads
//! as the grammar does; splitting it would scatter that correspondence.

use super::Case;
use super::rng::Rng;

const BUILTINS: &[&str] = &[
    "exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
    "sigmoid", "expm1", "log1p", "abs",
];

/// Derived quantities: callable in asserts.
const DERIVED: &[&str] = &[
    "alpha",
    "sigma",
    "alpha_bar",
    "f",
    "g2",
    "g",
    "lambda",
    "dlambda",
    "log_snr",
    "snr",
    "rho",
];

const PARAM_NAMES: &[&str] = &[
    "a", "b", "c", "k", "m", "s_min", "s_max", "beta_min", "beta_max", "lambda0", "shift", "r",
    "tau", "w",
];

const HELPER_NAMES: &[&str] = &["h", "c", "v", "bb", "w2", "phi", "q", "ell"];

/// Literals far from the usual ones: huge, tiny, long, at and past the parser's limits.
const EXTREME_NUMBERS: &[&str] = &[
    "1e300",
    "1e-300",
    "1e308",
    "1.8e308",
    "1e309",
    "1e-320",
    "1e4096",
    "1e-4096",
    "9.3E1768",
    "123456789012345678901234567890",
    "0.000000000000000000000000000001",
    "1e-30",
    "1e30",
    "0",
    "0.0",
    "00",
    "1e+0",
    "2.5E+4",
];

/// Literals the parser must refuse with a located message.
const MALFORMED_NUMBERS: &[&str] = &["2.", "1e", ".5", "1e4097", "1e+", "1e-99999", "1..2"];

const DOCS: &[&str] = &[
    "a process",
    "VP, \\\"quoted\\\" and a backslash \\\\",
    "tab\\tnew\\nline",
    "σ(t) → ∞ as t → 1",
    "",
    "# not a comment",
    "unicode 🙂 and ascii",
];

/// Statement lists, one per process, assembled in order.
struct Proc {
    name: String,
    stmts: Vec<String>,
    params: Vec<String>,
    /// Helper functions and their arity.
    funcs: Vec<(String, usize)>,
}

/// Names in scope for an expression.
#[derive(Clone, Default)]
struct Scope {
    vars: Vec<String>,
    params: Vec<String>,
    funcs: Vec<(String, usize)>,
    /// Derived quantities are callable (inside asserts).
    derived: bool,
}

/// How tightly an expression binds, for parenthesisation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Sum,
    Product,
    Neg,
    Power,
    Atom,
}

pub(super) struct Gen<'a> {
    rng: &'a mut Rng,
    /// Data files the program's sources name: (path, contents).
    data: Vec<(String, String)>,
    /// The score error being generated may have a wrong shape, kind or coordinate, and
    /// extreme, singular or wrong entries; else it lowers, mostly.
    wild: bool,
    /// The dimensions of the sources declared so far, for the errors measured against them.
    dimensions: Vec<usize>,
}

impl<'a> Gen<'a> {
    pub(super) fn new(rng: &'a mut Rng) -> Gen<'a> {
        Gen {
            rng,
            data: Vec::new(),
            wild: false,
            dimensions: Vec::new(),
        }
    }

    /// A whole program.
    pub(super) fn program(mut self) -> Case {
        let mut items = Vec::new();
        match self.rng.weighted(&[66, 9, 6, 2, 17]) {
            0 => {
                items.push(self.process("p"));
                if self.rng.chance(1, 5) {
                    items.push(self.source());
                    if self.rng.chance(1, 3) {
                        items.push(self.score_error("E"));
                    }
                }
            }
            1 => {
                items.push(self.process("p"));
                let second = if self.rng.chance(1, 4) { "p" } else { "q" };
                items.push(self.process(second));
            }
            2 => {
                for _ in 0..=self.rng.below(2) {
                    items.push(self.source());
                }
            }
            3 => items.push("# only a comment\n".to_owned()),
            _ => {
                // Sources and score errors: what `diffsym hodge` reads. One bad declaration
                // stops them all from lowering, so most are valid.
                for name in ["S", "S2"].iter().take(self.rng.weighted(&[4, 1]) + 1) {
                    let source = if self.rng.chance(4, 5) {
                        self.valid_source(name)
                    } else {
                        self.source()
                    };
                    items.push(source);
                }
                for name in ["E", "F", "err"]
                    .iter()
                    .take(self.rng.weighted(&[3, 2, 1]) + 1)
                {
                    items.push(self.score_error(name));
                }
                if self.rng.chance(1, 4) {
                    items.push(self.process("p"));
                }
            }
        }
        if items.len() > 1 && self.rng.chance(1, 4) {
            items.swap(0, 1);
        }
        let mut text = items.join("\n");
        if self.rng.chance(1, 12) {
            text = text.replace('\n', "\r\n");
        }
        if self.rng.chance(1, 20) {
            text = text.replace("    ", "\t");
        }
        Case {
            text,
            data: self.data,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Processes

    fn process(&mut self, name: &str) -> String {
        let mut p = Proc {
            name: name.to_owned(),
            stmts: Vec::new(),
            params: Vec::new(),
            funcs: Vec::new(),
        };
        if self.rng.chance(1, 3) {
            let d = *self.rng.pick(DOCS);
            let d = if self.rng.chance(1, 40) {
                "bad \\q escape"
            } else {
                d
            };
            p.stmts.push(format!("doc \"{d}\";"));
        }
        for _ in 0..self.rng.below(3) {
            self.declare_param(&mut p, None);
        }
        for _ in 0..self.rng.weighted(&[5, 3, 2]) {
            self.helper(&mut p);
        }
        self.form(&mut p);
        for _ in 0..self.rng.weighted(&[3, 4, 2, 1]) {
            let a = self.assertion(&p);
            p.stmts.push(a);
        }
        if self.rng.chance(1, 10) && p.stmts.len() > 1 {
            // Order does not matter to lowering; shuffle a little.
            let i = self.rng.below(p.stmts.len());
            let j = self.rng.below(p.stmts.len());
            p.stmts.swap(i, j);
        }
        let mut body = String::new();
        for s in &p.stmts {
            body.push_str("    ");
            body.push_str(s);
            if self.rng.chance(1, 15) {
                body.push_str("   # a comment; with == and ( in it");
            }
            body.push('\n');
        }
        format!("process {} {{\n{body}}}\n", p.name)
    }

    /// Declares a parameter with a value in `[lo, hi]` (or a random one) and returns its name.
    fn declare_param(&mut self, p: &mut Proc, range: Option<(f64, f64)>) -> String {
        let fresh: Vec<&str> = PARAM_NAMES
            .iter()
            .copied()
            .filter(|n| !p.params.iter().any(|q| q == n))
            .collect();
        let name = if fresh.is_empty() || self.rng.chance(1, 50) {
            // A duplicate (or, rarely, a reserved or derived name).
            (*self.rng.pick(&["a", "pi", "t", "sqrt", "f", "alpha"])).to_owned()
        } else {
            (*self.rng.pick(&fresh)).to_owned()
        };
        let value = match range {
            Some((lo, hi)) if !self.rng.chance(1, 25) => self.nice(lo, hi),
            _ => self.param_value(p),
        };
        p.stmts.push(format!("param {name} = {value};"));
        p.params.push(name.clone());
        name
    }

    fn param_value(&mut self, p: &Proc) -> String {
        match self.rng.weighted(&[10, 3, 2, 2, 1, 1]) {
            0 => self.nice(0.001, 50.0),
            1 => (*self
                .rng
                .pick(&["1/3", "sqrt(2)", "pi/4", "exp(1)", "2^10", "-1", "1/2"]))
            .to_owned(),
            2 if !p.params.is_empty() => {
                let q = self.rng.pick(&p.params).clone();
                format!("2*{q} + 1")
            }
            3 => (*self.rng.pick(EXTREME_NUMBERS)).to_owned(),
            4 => "t".to_owned(),
            5 => {
                let sc = Scope {
                    params: p.params.clone(),
                    ..Scope::default()
                };
                self.expr(&sc, 2).0
            }
            _ => self.nice(0.1, 10.0),
        }
    }

    /// A literal in `[lo, hi]`: an integer, a short decimal or a scientific literal.
    fn nice(&mut self, lo: f64, hi: f64) -> String {
        let x = lo + (hi - lo) * (self.rng.below(1001) as f64 / 1000.0);
        match self.rng.weighted(&[4, 3, 1]) {
            0 if x >= 1.0 => format!("{}", x.round().max(1.0)),
            1 | 0 => {
                let s = format!("{x:.3}");
                let s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
                if s == "0" || s.is_empty() {
                    format!("{lo}")
                } else {
                    s
                }
            }
            _ => format!("{x:e}"),
        }
    }

    /// A coefficient in `[lo, hi]`: a literal, or a parameter declared for it.
    fn coef(&mut self, p: &mut Proc, lo: f64, hi: f64) -> String {
        if self.rng.chance(1, 3) {
            self.declare_param(p, Some((lo, hi)))
        } else {
            let v = self.nice(lo, hi);
            if v.starts_with('-') {
                format!("({v})")
            } else {
                v
            }
        }
    }

    /// A helper function: `NAME(u) = ...;` or `NAME(u, v) = ...;`, sometimes calling
    /// earlier helpers, sometimes (rarely) itself.
    fn helper(&mut self, p: &mut Proc) {
        let fresh: Vec<&str> = HELPER_NAMES
            .iter()
            .copied()
            .filter(|n| !p.funcs.iter().any(|(q, _)| q == n))
            .collect();
        let Some(&name) = fresh.first().map(|_| self.rng.pick(&fresh)) else {
            return;
        };
        let arity = self.rng.weighted(&[8, 3, 1]) + 1;
        let args: Vec<String> = ["u", "t", "z"][..arity]
            .iter()
            .map(|a| {
                if self.rng.chance(1, 30) {
                    (*self.rng.pick(&["t", "pi", "a", "u"])).to_owned()
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        let mut funcs = p.funcs.clone();
        if self.rng.chance(1, 40) {
            funcs.push((name.to_owned(), arity));
        }
        let sc = Scope {
            vars: args.clone(),
            params: p.params.clone(),
            funcs,
            derived: self.rng.chance(1, 30),
        };
        let body = if arity == 1 && self.rng.chance(1, 2) {
            let v = args[0].clone();
            self.schedule_like(p, &v)
        } else {
            self.expr(&sc, 3).0
        };
        p.stmts
            .push(format!("{name}({}) = {body};", args.join(", ")));
        p.funcs.push((name.to_owned(), arity));
    }

    /// Some smooth positive-looking function of `v`, for helpers.
    fn schedule_like(&mut self, p: &mut Proc, v: &str) -> String {
        let k = self.coef(p, 0.1, 5.0);
        match self.rng.below(8) {
            0 => format!("exp(-{k}*{v})"),
            1 => format!("cos(pi*{v}/2)"),
            2 => format!("{k} + {v}^2"),
            3 => format!("integrate({k} + s, s, 0, {v})"),
            4 => format!("sigmoid({k}*({v} - 1/2))"),
            5 => format!("cos(({v} + {k})/(1 + {k})*pi/2)^2"),
            6 => format!("1/(1 + {v})"),
            _ => format!("{v}*(1 + {k}*{v})"),
        }
    }

    /// The definitions that make the process a process, in one of its forms.
    fn form(&mut self, p: &mut Proc) {
        let form = self.rng.weighted(&[30, 18, 16, 16, 12, 5]);
        let random = self.rng.chance(1, 6);
        let perturb = !random && self.rng.chance(1, 5);
        let sc = self.scope_of(p);
        let def = |g: &mut Gen<'_>, p: &mut Proc, name: &str, body: String| {
            let body = if g.rng.chance(1, 12) {
                // A generic process: the form left unspecified.
                "function".to_owned()
            } else if random {
                g.expr(&sc, 4).0
            } else if perturb && g.rng.chance(1, 2) {
                g.perturb(&sc, body)
            } else {
                body
            };
            // Sometimes through a helper: `h2(u) = body[t := u]; name(t) = h2(t);`
            let line = if g.rng.chance(1, 10) && !body.contains("integrate") {
                let via = format!("{name}_via");
                let moved = replace_word(&body, "t", "y");
                p.stmts.push(format!("{via}(y) = {moved};"));
                format!("{name}(t) = {via}(t);")
            } else if g.rng.chance(1, 40) {
                // Wrong arity for a form: refused with a location.
                format!("{name}(t, y) = {body};")
            } else {
                format!("{name}(t) = {body};")
            };
            p.stmts.push(line);
        };
        match form {
            0 => {
                let (a, s) = self.alpha_sigma(p);
                def(self, p, "alpha", a);
                def(self, p, "sigma", s);
            }
            1 => {
                let ab = self.alpha_bar(p);
                def(self, p, "alpha_bar", ab);
            }
            2 => {
                let b = self.beta(p);
                def(self, p, "beta", b);
            }
            3 => {
                let s = self.sigma_ve(p);
                def(self, p, "sigma", s);
            }
            4 => {
                let l = self.log_snr(p);
                def(self, p, "log_snr", l);
            }
            _ => {
                // Missing, conflicting or over-determined forms.
                let names: &[&[&str]] = &[
                    &[],
                    &["alpha"],
                    &["alpha", "sigma", "alpha_bar"],
                    &["beta", "log_snr"],
                    &["sigma", "alpha_bar"],
                    &["alpha", "sigma", "log_snr"],
                ];
                for n in *self.rng.pick(names) {
                    let e = self.expr(&sc, 3).0;
                    def(self, p, n, e);
                }
            }
        }
    }

    fn scope_of(&self, p: &Proc) -> Scope {
        Scope {
            vars: vec!["t".to_owned()],
            params: p.params.clone(),
            funcs: p.funcs.clone(),
            derived: false,
        }
    }

    /// `body` changed by a random term: multiplied, added to, or with a helper applied.
    fn perturb(&mut self, sc: &Scope, body: String) -> String {
        let r = self.expr(sc, 2).0;
        match self.rng.below(5) {
            0 => format!("({body})*(1 + ({r})^2/100)"),
            1 => format!("{body} + ({r})^2/1000"),
            2 => format!("({body})^(1 + 0*({r}))"),
            3 => match sc.funcs.iter().find(|(_, n)| *n == 1) {
                Some((f, _)) => format!("({body})*{f}(t)/{f}(t)"),
                None => format!("abs({body})"),
            },
            _ => format!("({body})*exp(-t*({r})^2/100)"),
        }
    }

    fn alpha_sigma(&mut self, p: &mut Proc) -> (String, String) {
        match self.rng.below(11) {
            0 => ("cos(pi*t/2)".into(), "sin(pi*t/2)".into()),
            1 => ("1 - t".into(), "t".into()),
            2 => {
                let k = self.coef(p, 0.5, 10.0);
                (format!("exp(-{k}*t)"), format!("sqrt(1 - exp(-2*{k}*t))"))
            }
            3 => {
                let s = self.coef(p, 1.5, 5.0);
                (
                    format!("1 - {s}*t/(1 + ({s} - 1)*t)"),
                    format!("{s}*t/(1 + ({s} - 1)*t)"),
                )
            }
            4 => {
                let b0 = self.coef(p, 0.01, 1.0);
                let b1 = self.coef(p, 5.0, 30.0);
                (
                    format!("exp(-1/2*integrate({b0} + s*({b1} - {b0}), s, 0, t))"),
                    "sqrt(1 - alpha(t)^2)".into(),
                )
            }
            5 => {
                let b0 = self.coef(p, 0.01, 1.0);
                let b1 = self.coef(p, 5.0, 30.0);
                p.stmts.push(format!(
                    "bsub(t) = integrate({b0} + s*({b1} - {b0}), s, 0, t);"
                ));
                ("exp(-bsub(t)/2)".into(), "1 - exp(-bsub(t))".into())
            }
            6 => {
                let k = self.coef(p, 0.2, 4.0);
                let r = self
                    .rng
                    .pick(&["t", "tan(pi*t/2)", "sinh(t)", "t^2", "expm1(t)"])
                    .to_string();
                let r = format!("{k}*{r}");
                (
                    format!("1/sqrt(1 + ({r})^2)"),
                    format!("({r})/sqrt(1 + ({r})^2)"),
                )
            }
            7 => ("1".into(), self.sigma_ve(p)),
            8 => {
                let q = self.coef(p, 0.5, 3.0);
                (format!("cos(pi*t/2)^{q}"), "sin(pi*t/2)".into())
            }
            9 => {
                let a = self.coef(p, 0.5, 3.0);
                let b = self.coef(p, 0.5, 3.0);
                (format!("(1 - t)^{a}"), format!("t^{b}"))
            }
            _ => ("cos(pi*t/2)".into(), "sqrt(1 - cos(pi*t/2)^2)".into()),
        }
    }

    fn alpha_bar(&mut self, p: &mut Proc) -> String {
        match self.rng.below(9) {
            0 => {
                let c = self.coef(p, 0.5, 20.0);
                format!("exp(-{c}*t^2)")
            }
            1 => {
                let a = self.coef(p, 0.01, 2.0);
                let b = self.coef(p, 0.5, 10.0);
                format!("exp(-{a}*t - {b}*t^2)")
            }
            2 => {
                let q = self.coef(p, 0.2, 3.0);
                format!("1 - t^{q}")
            }
            3 => "1 - sqrt(t)".into(),
            4 => {
                let s = self.coef(p, 0.001, 0.05);
                p.stmts
                    .push(format!("cn(t) = cos((t + {s})/(1 + {s})*pi/2)^2;"));
                "cn(t)/cn(0)".into()
            }
            5 => {
                let l = self.coef(p, 0.1, 4.0);
                format!("1/(1 + {l}*tan(pi*t/2)^2)")
            }
            6 => {
                let tau = self.coef(p, 0.3, 2.0);
                p.stmts.push(format!("vs(t) = sigmoid((-3 + 6*t)/{tau});"));
                "(vs(1) - vs(t))/(vs(1) - vs(0))".into()
            }
            7 => {
                let k = self.coef(p, 0.1, 5.0);
                format!("(1 - t)/(1 + {k}*t)")
            }
            _ => {
                let k = self.coef(p, 0.1, 5.0);
                format!("1 - t^2*(3 - 2*t)*(1 - exp(-{k}))")
            }
        }
    }

    fn beta(&mut self, p: &mut Proc) -> String {
        let b0 = self.coef(p, 0.01, 1.0);
        let b1 = self.coef(p, 5.0, 30.0);
        match self.rng.below(9) {
            0 => format!("{b0} + t*({b1} - {b0})"),
            1 => b1,
            2 => format!("{b1}*t"),
            3 => format!("{b0} + {b1}*t^2"),
            4 => format!("{b0}*exp({b1}*t/10)"),
            5 => format!("1000*(sqrt({b0}/1000) + t*(sqrt({b1}/1000) - sqrt({b0}/1000)))^2"),
            6 => format!("{b1}/(1 + t^2)"),
            7 => format!("{b1}*(1 + cos(pi*t))/2 + {b0}"),
            _ => format!("{b0} + {b1}*t*exp(t)"),
        }
    }

    fn sigma_ve(&mut self, p: &mut Proc) -> String {
        match self.rng.below(10) {
            0 => "t".into(),
            1 => {
                let k = self.coef(p, 0.1, 80.0);
                format!("{k}*t")
            }
            2 => {
                let s0 = self.coef(p, 0.001, 0.1);
                let s1 = self.coef(p, 1.0, 100.0);
                format!("{s0}*({s1}/{s0})^t")
            }
            3 => {
                let s0 = self.coef(p, 0.001, 0.1);
                let s1 = self.coef(p, 1.0, 100.0);
                let r = self.coef(p, 1.0, 8.0);
                format!("({s0}^(1/{r}) + t*({s1}^(1/{r}) - {s0}^(1/{r})))^{r}")
            }
            4 => {
                let q = self.coef(p, 0.2, 3.0);
                format!("t^{q}")
            }
            5 => {
                let k = self.coef(p, 0.5, 5.0);
                format!("sinh({k}*t)")
            }
            6 => "sqrt(t)".into(),
            7 => {
                let k = self.coef(p, 0.5, 5.0);
                let m = self.coef(p, 0.01, 1.0);
                format!("{k}*t + {m}")
            }
            8 => {
                let k = self.coef(p, 0.5, 5.0);
                format!("expm1({k}*t)")
            }
            _ => "t^2 + t".into(),
        }
    }

    fn log_snr(&mut self, p: &mut Proc) -> String {
        match self.rng.below(5) {
            0 => {
                let hi = self.coef(p, 1.0, 15.0);
                let lo = self.coef(p, 1.0, 15.0);
                format!("{hi} - t*({hi} + {lo})")
            }
            1 => {
                let s = self.coef(p, 0.1, 2.0);
                format!("-2*log(tan(pi*t/2)) + 2*log({s})")
            }
            2 => {
                let k = self.coef(p, 1.0, 10.0);
                format!("{k}*cos(pi*t)")
            }
            3 => {
                let k = self.coef(p, 1.0, 10.0);
                format!("{k}*(1 - 2*t)^3")
            }
            _ => {
                let k = self.coef(p, 1.0, 10.0);
                format!("-2*log(t/(1 - t)) + {k}")
            }
        }
    }

    fn assertion(&mut self, p: &Proc) -> String {
        const IDENTITIES: &[&str] = &[
            "alpha(t)^2 + sigma(t)^2 == 1",
            "rho(t) == sigma(t)/alpha(t)",
            "snr(t) == alpha(t)^2/sigma(t)^2",
            "lambda(t) == log(alpha(t)/sigma(t))",
            "log_snr(t) == 2*lambda(t)",
            "f(t) == diff(log(alpha(t)), t)",
            "g2(t) == diff(sigma(t)^2, t) - 2*f(t)*sigma(t)^2",
            "g2(t) == -2*sigma(t)^2*dlambda(t)",
            "dlambda(t) == diff(lambda(t), t)",
            "g(t)^2 == g2(t)",
            "alpha_bar(t) == alpha(t)^2",
            "f(t) == alpha'(t)/alpha(t)",
            "g2(t) == -2*sigma(t)^2*lambda'(t)",
            "lambda''(t) == diff(dlambda(t), t)",
        ];
        let mut sc = self.scope_of(p);
        sc.derived = true;
        match self.rng.weighted(&[5, 4, 2, 2]) {
            0 => format!("assert {};", self.rng.pick(IDENTITIES)),
            3 => {
                // The identities at a second time, and a linear form in free variables.
                let v = *self.rng.pick(&["s", "u", "t_next"]);
                let domain = *self
                    .rng
                    .pick(&["", " in [0, 1]", " in (0, 1/2]", " in [-1, inf)"]);
                let identity: &&str = self.rng.pick(IDENTITIES);
                let at_v = replace_word(identity, "t", v);
                let linear = *self.rng.pick(&[
                    "alpha(t)*x + sigma(t)*e == sigma(t)*e + alpha(t)*x",
                    "ddim_step_eps(x, e, t, t_next) == dpm1_step_eps(x, e, t, t_next)",
                    "ddpm_mean(alpha(t)*x, x, t, t_next) == alpha(t_next)*x",
                    "ddim_eta_step_eps(x, e, 0, 0, t, t_next) == ddim_step_eps(x, e, t, t_next)",
                    "cond_velocity(alpha(t)*x + sigma(t)*e, x, t) == cfm_target(x, e, t)",
                ]);
                if self.rng.weighted(&[3, 1]) == 0 {
                    format!("assert forall {v}{domain}: {at_v};")
                } else {
                    format!("assert forall x, e in (-inf, inf), t_next: {linear};")
                }
            }
            1 => {
                let q = self.rng.pick(DERIVED);
                let e = self.expr(&sc, 3).0;
                format!("assert {q}(t) == {e};")
            }
            _ => {
                let l = self.expr(&sc, 2).0;
                let r = self.expr(&sc, 2).0;
                format!("assert {l} == {r};")
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Sources

    fn source(&mut self) -> String {
        let name = (*self.rng.pick(&["S", "data", "S2", "source"])).to_owned();
        let kind = if self.rng.chance(1, 25) {
            "gmm"
        } else {
            "gaussian"
        };
        let d = self.rng.below(4) + 1;
        self.dimensions.push(d);
        if self.rng.chance(1, 5) {
            return self.mixture(&name, d);
        }
        let mut args = Vec::new();
        match self.rng.weighted(&[6, 3, 2, 1]) {
            0 => {
                let xs: Vec<String> = (0..d).map(|_| self.source_number()).collect();
                args.push(format!("spectrum = [{}]", xs.join(", ")));
            }
            1 => args.push(format!("cov = {}", self.matrix(d))),
            2 => {
                let path = (*self.rng.pick(&["spec.txt", "missing.txt", "spec.txt"])).to_owned();
                args.push(format!("spectrum = file(\"{path}\")"));
                let lines: Vec<String> = (0..d)
                    .map(|_| match self.rng.weighted(&[10, 1, 1, 1]) {
                        0 => self.nice(0.001, 5.0),
                        1 => "# a comment".to_owned(),
                        2 => String::new(),
                        _ => (*self.rng.pick(&["nan", "-1", "1e999", "x", "0"])).to_owned(),
                    })
                    .collect();
                self.data.push(("spec.txt".to_owned(), lines.join("\n")));
            }
            _ => {
                // Both, neither, a scalar, an unknown argument.
                match self.rng.below(4) {
                    0 => {
                        args.push("spectrum = [1]".to_owned());
                        args.push("cov = [[1]]".to_owned());
                    }
                    1 => {}
                    2 => args.push("spectrum = 2".to_owned()),
                    _ => args.push("variance = [1]".to_owned()),
                }
            }
        }
        if self.rng.chance(1, 3) {
            let n = if self.rng.chance(1, 6) { d + 1 } else { d };
            let xs: Vec<String> = (0..n).map(|_| self.source_number()).collect();
            args.push(format!("mean = [{}]", xs.join(", ")));
        }
        if self.rng.chance(1, 20) && !args.is_empty() {
            args.push(args[0].clone());
        }
        format!("source {name} = {kind}({});\n", args.join(", "))
    }

    /// A source that lowers: a Gaussian with a spectrum or a covariance, or a mixture, of
    /// dimension 1 to 4, with rational entries.
    fn valid_source(&mut self, name: &str) -> String {
        let d = self.rng.below(4) + 1;
        self.dimensions.push(d);
        let numbers = |g: &mut Gen<'_>, lo: f64, hi: f64| -> String {
            let xs: Vec<String> = (0..d).map(|_| g.nice(lo, hi)).collect();
            format!("[{}]", xs.join(", "))
        };
        let mean = if self.rng.chance(1, 2) {
            format!(", mean = {}", numbers(self, -3.0, 3.0))
        } else {
            String::new()
        };
        match self.rng.weighted(&[5, 3, 2]) {
            0 => format!(
                "source {name} = gaussian(spectrum = {}{mean});\n",
                numbers(self, 0.01, 4.0)
            ),
            1 => {
                let rows: Vec<String> = self
                    .symmetric(d)
                    .iter()
                    .map(|r| format!("[{}]", r.join(", ")))
                    .collect();
                format!(
                    "source {name} = gaussian(cov = [{}]{mean});\n",
                    rows.join(", ")
                )
            }
            _ => {
                let k = self.rng.below(3) + 1;
                let weights: Vec<String> = (0..k).map(|_| self.nice(0.1, 3.0)).collect();
                let means: Vec<String> = (0..k).map(|_| numbers(self, -4.0, 4.0)).collect();
                format!(
                    "source {name} = gmm(weights = [{}], means = [{}], var = {});\n",
                    weights.join(", "),
                    means.join(", "),
                    self.nice(0.05, 2.0)
                )
            }
        }
    }

    /// A `gmm` source: mostly valid, sometimes with a wrong length, a weight that is not
    /// positive, a covariance that is not SPD, or both `var` and `covs`.
    fn mixture(&mut self, name: &str, d: usize) -> String {
        let k = self.rng.below(4) + usize::from(!self.rng.chance(1, 30));
        let weights: Vec<String> = (0..k)
            .map(|_| {
                if self.rng.chance(1, 30) {
                    "-1".to_owned()
                } else {
                    self.nice(0.1, 3.0)
                }
            })
            .collect();
        let means: Vec<String> = (0..k)
            .map(|_| {
                let n = if self.rng.chance(1, 25) { d + 1 } else { d };
                let xs: Vec<String> = (0..n).map(|_| self.nice(-40.0, 40.0)).collect();
                format!("[{}]", xs.join(", "))
            })
            .collect();
        let mut args = vec![
            format!("weights = [{}]", weights.join(", ")),
            format!("means = [{}]", means.join(", ")),
        ];
        match self.rng.weighted(&[5, 3, 1]) {
            0 => args.push(format!("var = {}", self.source_number())),
            1 => {
                let mats: Vec<String> = (0..k).map(|_| self.matrix(d)).collect();
                args.push(format!("covs = [{}]", mats.join(", ")));
            }
            _ => {
                args.push("var = 1".to_owned());
                args.push(format!("covs = [{}]", self.matrix(d)));
            }
        }
        format!("source {name} = gmm({});\n", args.join(", "))
    }

    fn source_number(&mut self) -> String {
        match self.rng.weighted(&[12, 1, 1, 1, 1]) {
            0 => self.nice(0.001, 10.0),
            1 => (*self.rng.pick(&["1/3", "sqrt(2)", "pi", "exp(-1)", "2^-3"])).to_owned(),
            2 => (*self.rng.pick(EXTREME_NUMBERS)).to_owned(),
            3 => (*self.rng.pick(&["-1", "0", "t", "[1, 2]", "1e400"])).to_owned(),
            _ => self.nice(0.5, 2.0) + ",",
        }
    }

    /// A symmetric, diagonally dominant (so positive definite) d x d matrix, its upper
    /// triangle drawn row by row.
    fn symmetric(&mut self, d: usize) -> Vec<Vec<String>> {
        let mut upper = std::collections::BTreeMap::new();
        for i in 0..d {
            for j in i..d {
                let x = if i == j {
                    self.nice(d as f64, 2.0 * d as f64)
                } else {
                    self.nice(-0.9, 0.9)
                };
                upper.insert((i, j), x);
            }
        }
        (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| upper[&(i.min(j), i.max(j))].clone())
                    .collect()
            })
            .collect()
    }

    fn matrix(&mut self, d: usize) -> String {
        // Symmetric positive definite unless broken on purpose.
        let mut m = self.symmetric(d);
        match self.rng.weighted(&[8, 1, 1, 1]) {
            0 => {}
            1 if d > 1 => m[0][1] = "7".to_owned(),
            2 => m[0][0] = "-5".to_owned(),
            _ => {
                m[d - 1].pop();
            }
        }
        let rows: Vec<String> = m.iter().map(|r| format!("[{}]", r.join(", "))).collect();
        format!("[{}]", rows.join(", "))
    }

    // -----------------------------------------------------------------------------------------
    // Score errors

    /// An `error` declaration of the dimension of a source declared before it, with plain
    /// entries; or, one time in three, a wild one (one odd entry is enough to refuse it).
    fn score_error(&mut self, name: &str) -> String {
        self.wild = self.rng.chance(1, 3);
        let wild = u32::from(self.wild);
        let d = if self.dimensions.is_empty() {
            self.rng.below(3) + 1
        } else {
            *self.rng.pick(&self.dimensions)
        };
        let d = match self.rng.weighted(&[14, wild, wild]) {
            0 => d,
            1 => d + 1,
            _ => d.saturating_sub(1).max(1),
        };
        let body = match self.rng.weighted(&[10, 9, wild, 2 * wild]) {
            0 => self.linear_error(d),
            1 => self.field_error(d),
            2 => {
                let kind = *self
                    .rng
                    .pick(&["quadratic", "Linear", "gaussian", "fields"]);
                format!("{kind}(matrix = [[1]])")
            }
            _ => (*self.rng.pick(&[
                "linear()",
                "field()",
                "field([x1], [x2])",
                "field(x1)",
                "field([])",
                "field(components = [x1])",
                "linear([[1, 0], [0, 1]])",
                "linear(matrix = [[1]], matrix = [[2]])",
                "linear(matrix = [[1]], shift = [1], scale = 2)",
                "linear(matrix = file(\"E.txt\"))",
                "linear(shift = [1, 2])",
                "linear(matrix = [[1, 2], [3]])",
                "linear(matrix = [[t, 1], [-1, 1/t]], shift = [0, log(t)])",
            ]))
            .to_owned(),
        };
        format!("error {name} = {body};\n")
    }

    /// `linear(matrix = [[...], ...], shift = [...])`: d by d, mostly.
    fn linear_error(&mut self, d: usize) -> String {
        let wild = u32::from(self.wild);
        let mut rows: Vec<String> = (0..d)
            .map(|_| {
                let n = if self.wild && self.rng.chance(1, 30) {
                    d + 1
                } else {
                    d
                };
                let xs: Vec<String> = (0..n).map(|_| self.error_entry()).collect();
                format!("[{}]", xs.join(", "))
            })
            .collect();
        let matrix = match self.rng.weighted(&[30, wild, wild, wild, wild]) {
            0 => format!("[{}]", rows.join(", ")),
            1 => "[]".to_owned(),
            2 => self.error_entry(),
            3 => format!("[[{}]]", rows.join(", ")),
            _ => {
                rows.pop();
                format!("[{}]", rows.join(", "))
            }
        };
        let mut args = vec![format!("matrix = {matrix}")];
        if self.rng.chance(1, 2) {
            let n = match self.rng.weighted(&[20, wild, wild]) {
                0 => d,
                1 => d + 1,
                _ => d - 1,
            };
            let xs: Vec<String> = (0..n).map(|_| self.error_entry()).collect();
            args.push(format!("shift = [{}]", xs.join(", ")));
        }
        if args.len() > 1 && self.rng.chance(1, 6) {
            args.swap(0, 1);
        }
        format!("linear({})", args.join(", "))
    }

    /// An entry of a linear error: a rational, a function of t (some singular at an end of
    /// [0, 1]), an extreme literal, a stray name, or a random expression in t.
    fn error_entry(&mut self) -> String {
        let weights: &[u32] = if self.wild {
            &[12, 5, 2, 1, 2]
        } else {
            &[30, 8, 0, 0, 1]
        };
        match self.rng.weighted(weights) {
            0 => match self.rng.below(3) {
                0 => self.rng.range(-5, 5).to_string(),
                1 => format!("{}/{}", self.rng.range(-9, 9), self.rng.range(1, 9)),
                _ => (*self
                    .rng
                    .pick(&["0.5", "-0.25", "1.5", "2.25", "-0.125", "0.1"]))
                .to_owned(),
            },
            1 => (*self.rng.pick(&[
                "t",
                "1 - t",
                "t^2",
                "-t",
                "sin(t)",
                "exp(-t)",
                "2*t - 1",
                "cos(pi*t/2)",
                "t/3 + 1/7",
            ]))
            .to_owned(),
            2 => (*self.rng.pick(&[
                "1/t",
                "log(t)",
                "sqrt(t)",
                "1/(t - 1/2)",
                "1/(1 - t)",
                "sqrt(2)",
                "pi",
                "-0",
                "1e300",
                "-1e308",
                "1e-300",
                "1e309",
                "1e4096",
                "exp(1000)",
            ]))
            .to_owned(),
            3 => (*self
                .rng
                .pick(&["x1", "x", "s", "undefined_name", "alpha(t)", "2.", "1e4097"]))
            .to_owned(),
            _ => {
                let sc = Scope {
                    vars: vec!["t".to_owned()],
                    ..Scope::default()
                };
                self.expr(&sc, 2).0
            }
        }
    }

    /// `field([e_1, ..., e_d])` in `x1 ... xd` and `t`: mostly affine (the exact path),
    /// else non-linear (the estimator), sometimes with a wrong coordinate or count.
    fn field_error(&mut self, d: usize) -> String {
        let wild = u32::from(self.wild);
        let n = match self.rng.weighted(&[20, wild, wild]) {
            0 => d,
            1 => d + 1,
            _ => d - 1,
        };
        let mut coords: Vec<String> = (1..=d).map(|i| format!("x{i}")).collect();
        if self.wild && self.rng.chance(1, 6) {
            let k = self.rng.below(d);
            coords[k] = (*self.rng.pick(&["x0", "y", "x", "X1", "x01"])).to_owned();
            if self.rng.chance(1, 2) {
                coords[k] = format!("x{}", d + 1);
            }
        }
        let affine = self.rng.chance(3, 5);
        let components: Vec<String> = (0..n)
            .map(|_| {
                if affine {
                    self.affine_component(&coords)
                } else {
                    self.nonlinear_component(&coords)
                }
            })
            .collect();
        format!("field([{}])", components.join(", "))
    }

    /// `c_1*x_j + ... + c_0`, coefficients rationals or functions of t.
    fn affine_component(&mut self, coords: &[String]) -> String {
        let mut terms = Vec::new();
        for x in coords {
            if self.rng.chance(2, 3) {
                let c = self.error_entry();
                terms.push(format!("({c})*{x}"));
            }
        }
        if terms.is_empty() || self.rng.chance(1, 2) {
            terms.push(self.error_entry());
        }
        terms.join(" + ")
    }

    /// A component that is not affine: a smooth term, one singular somewhere, or a random
    /// expression in the coordinates and t.
    fn nonlinear_component(&mut self, coords: &[String]) -> String {
        let x = self.rng.pick(coords).clone();
        let y = self.rng.pick(coords).clone();
        match self.rng.weighted(&[6, 2, 3]) {
            0 => match self.rng.below(8) {
                0 => format!("sin({x})"),
                1 => format!("{x}*{y}"),
                2 => format!("{x}^2 - 1"),
                3 => format!("exp(-{x}^2)"),
                4 => format!("tanh({x}) + t*{y}"),
                5 => format!("{x}/(1 + {y}^2)"),
                6 => format!("{x}^3 - {y}"),
                _ => format!("cos(t*{x}) - {y}"),
            },
            1 => match self.rng.below(6) {
                0 => format!("1/{x}"),
                1 => format!("log({x})"),
                2 => format!("sqrt({x})"),
                3 => format!("abs({x})"),
                4 => format!("exp({x}^2)"),
                _ => format!("{x}^1000"),
            },
            _ => {
                let mut vars = coords.to_vec();
                vars.push("t".to_owned());
                let sc = Scope {
                    vars,
                    ..Scope::default()
                };
                self.expr(&sc, 2).0
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Expressions

    /// A random expression of depth at most `depth` and its precedence.
    fn expr(&mut self, sc: &Scope, depth: u32) -> (String, Prec) {
        if depth == 0 || self.rng.chance(1, 4) {
            return (self.leaf(sc), Prec::Atom);
        }
        let d = depth - 1;
        match self.rng.weighted(&[6, 6, 3, 4, 2, 8, 2, 2, 2, 3]) {
            0 => {
                let a = self.operand(sc, d, Prec::Sum);
                let b = self.operand(sc, d, Prec::Product);
                let op = *self.rng.pick(&["+", "-"]);
                (format!("{a} {op} {b}"), Prec::Sum)
            }
            1 => {
                let a = self.operand(sc, d, Prec::Product);
                let b = self.operand(sc, d, Prec::Power);
                (format!("{a}*{b}"), Prec::Product)
            }
            2 => {
                let a = self.operand(sc, d, Prec::Product);
                let b = self.operand(sc, d, Prec::Power);
                (format!("{a}/{b}"), Prec::Product)
            }
            3 => {
                let base = self.operand(sc, d, Prec::Atom);
                let exp = match self.rng.weighted(&[6, 2, 2, 1, 1]) {
                    0 => (*self.rng.pick(&["2", "3", "(1/2)", "(1/3)", "(3/2)", "4"])).to_owned(),
                    1 => (*self.rng.pick(&["-1", "-2", "(-1/2)"])).to_owned(),
                    2 => self.operand(sc, d, Prec::Atom),
                    3 => (*self.rng.pick(&["1000", "(10^6)", "0", "(1e-9)", "1e4"])).to_owned(),
                    _ => format!("{}^2", self.operand(sc, d, Prec::Atom)),
                };
                (format!("{base}^{exp}"), Prec::Power)
            }
            4 => {
                let a = self.operand(sc, d, Prec::Neg);
                (format!("-{a}"), Prec::Neg)
            }
            5 => {
                let f = *self.rng.pick(BUILTINS);
                let a = self.expr(sc, d).0;
                if self.rng.chance(1, 60) {
                    // Wrong arity.
                    (format!("{f}({a}, t)"), Prec::Atom)
                } else {
                    (format!("{f}({a})"), Prec::Atom)
                }
            }
            6 if !sc.funcs.is_empty() => {
                let (f, n) = self.rng.pick(&sc.funcs).clone();
                let n = if self.rng.chance(1, 40) { n + 1 } else { n };
                let args: Vec<String> = (0..n).map(|_| self.expr(sc, d.min(1)).0).collect();
                (format!("{f}({})", args.join(", ")), Prec::Atom)
            }
            7 => (self.integral(sc, d), Prec::Atom),
            8 => {
                let var = if self.rng.chance(1, 8) {
                    self.rng.pick(&["s", "x", "pi", "2"]).to_string()
                } else {
                    sc.vars.first().cloned().unwrap_or_else(|| "t".to_owned())
                };
                let a = self.expr(sc, d).0;
                (format!("diff({a}, {var})"), Prec::Atom)
            }
            9 if sc.derived => {
                let q = *self.rng.pick(DERIVED);
                let arg = if self.rng.chance(1, 10) {
                    "t/2".to_owned()
                } else {
                    "t".to_owned()
                };
                (format!("{q}({arg})"), Prec::Atom)
            }
            _ => {
                let a = self.expr(sc, d).0;
                (format!("({a})"), Prec::Atom)
            }
        }
    }

    /// An expression used where precedence `min` is needed: parenthesised when it binds
    /// less tightly, except once in a while (a different but still valid parse, or an
    /// ambiguous power chain the parser must refuse).
    fn operand(&mut self, sc: &Scope, depth: u32, min: Prec) -> String {
        let (s, prec) = self.expr(sc, depth);
        if prec >= min || self.rng.chance(1, 25) {
            s
        } else {
            format!("({s})")
        }
    }

    fn leaf(&mut self, sc: &Scope) -> String {
        match self.rng.weighted(&[10, 4, 1, 8]) {
            0 if !sc.vars.is_empty() => self.rng.pick(&sc.vars).clone(),
            1 if !sc.params.is_empty() => self.rng.pick(&sc.params).clone(),
            2 => (*self.rng.pick(&["pi", "e", "undefined_name", "s", "x"])).to_owned(),
            _ => self.number(),
        }
    }

    fn number(&mut self) -> String {
        match self.rng.weighted(&[12, 6, 2, 2, 1]) {
            0 => self.rng.range(0, 10).to_string(),
            1 => (*self
                .rng
                .pick(&["0.5", "0.1", "0.008", "1.5", "2.25", "0.25", "0.001"]))
            .to_owned(),
            2 => (*self.rng.pick(&["1e-3", "2.5E+4", "1e-9", "3e2", "1E0"])).to_owned(),
            3 => (*self.rng.pick(EXTREME_NUMBERS)).to_owned(),
            _ if self.rng.chance(1, 4) => (*self.rng.pick(MALFORMED_NUMBERS)).to_owned(),
            _ => format!("{}", self.rng.range(11, 99_999)),
        }
    }

    /// `integrate(body, var, lo, hi)`: mostly bodies in the closed-form table, sometimes a
    /// random body (often without a closed form: a located error).
    fn integral(&mut self, sc: &Scope, depth: u32) -> String {
        let var = if self.rng.chance(1, 15) {
            (*self.rng.pick(&["t", "pi", "a", "u", "sin"])).to_owned()
        } else {
            (*self.rng.pick(&["s", "y", "r"])).to_owned()
        };
        let k = self.nice(0.1, 3.0);
        let body = match self.rng.below(16) {
            0 => format!("{k} + {var}"),
            1 => format!("{k}*{var}^2 - {var} + 1"),
            2 => format!("exp(-{k}*{var})"),
            3 => format!("sin({k}*{var})"),
            4 => format!("cos(pi*{var}/2)"),
            5 => format!("{var}*exp({k}*{var})"),
            6 => format!("1/(1 + {var}^2)"),
            7 => format!("({k} + 2*{var})^(3/2)"),
            8 => format!("{k}^{var}"),
            9 => format!("log(1 + {var})"),
            10 => format!("tan({var}/2)"),
            11 => format!("cosh({var}) + sinh({var})"),
            12 => format!("(4 - {var}^2)^(-1/2)"),
            13 => format!("{var}^2*sin({k}*{var} + 1)"),
            _ => {
                let mut inner = sc.clone();
                inner.vars.push(var.clone());
                self.expr(&inner, depth.min(2)).0
            }
        };
        let first = sc.vars.first().cloned().unwrap_or_else(|| "t".to_owned());
        let (lo, hi) = match self.rng.weighted(&[10, 2, 2, 1]) {
            0 => ("0".to_owned(), first),
            1 => ("0".to_owned(), "1".to_owned()),
            2 => (first.clone(), "1".to_owned()),
            _ => (self.expr(sc, 1).0, self.expr(sc, 1).0),
        };
        format!("integrate({body}, {var}, {lo}, {hi})")
    }
}

/// `text` with every whole-word occurrence of `from` replaced by `to`.
fn replace_word(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word == from {
            out.push_str(to);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_are_replaced() {
        assert_eq!(replace_word("t + t2*tan(t)", "t", "y"), "y + t2*tan(y)");
    }
}
