//! Lowering: exact expressions to straight-line programs, with CSE, folded constants and
//! numerically stable rewrites.
//!
//! [`stabilize`] rewrites an expression into an equal one that evaluates without
//! catastrophic cancellation near the ends of [0, 1] (each rewrite is a named identity that
//! holds wherever the input is defined). [`Lowerer`] then turns expressions into one
//! [`Program`]: every distinct subexpression becomes one instruction (the pool's
//! hash-consing gives the sharing; structurally equal instructions are merged too), and
//! every subexpression free of symbols becomes one constant, evaluated by the 256-bit
//! reference and rounded to a correctly rounded f64 (naive) or double-double (stable).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use astro_float::BigFloat;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::runtime::{Narrow, Real};
use crate::expr::hp::{self, Hp};
use crate::expr::{ExprId, Func, Node, Pool};

/// Which lowering: plain f64 operations as written, or the stable rewrites evaluated in
/// double-double arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Stable,
    Naive,
}

/// An instruction's result, numbered in program order.
pub type Var = usize;

/// One instruction of a straight-line program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// An input of the function (by symbol name).
    Input(String),
    /// A constant: `hi` is the correctly rounded f64, `lo` the correctly rounded rest (bits).
    Const {
        hi: u64,
        lo: u64,
    },
    /// `sum(+/- terms)`; `true` marks a subtracted term. The first term is never subtracted.
    Sum(Vec<(bool, Var)>),
    Mul(Vec<Var>),
    Div(Var, Var),
    Neg(Var),
    /// `x^n` for an integer `n >= 2`.
    PowI(Var, i32),
    Sqrt(Var),
    /// `x^y` for `x >= 0`.
    PowF(Var, Var),
    Call(Func, Var),
}

/// Straight-line code: instruction `i` defines variable `i`.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub ops: Vec<Op>,
    /// The instructions whose value passes through `Real::in_range` (NaN outside the fast
    /// path's range; missing entries are unchecked): in a stable program, the exponentials
    /// that can underflow or overflow on the domain ([`leaves_range`]).
    pub checked: Vec<bool>,
    /// A hash of `ops`, set once they are complete ([`Lowerer::finish`]; they do not change
    /// after): the accuracy search keys its error models by it (`budget::table`), and
    /// hashing every operation at every row it asks about was an eighth of `emit`.
    digest: u64,
}

impl Program {
    /// A hash of the operations, set by [`Lowerer::finish`].
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Runs the program in the number type `R` (as the emitted code does) and returns
    /// every variable; an input missing from `inputs` is NaN.
    pub fn run<R: Real>(&self, inputs: &[(&str, f64)]) -> Vec<R> {
        let mut vs: Vec<R> = Vec::with_capacity(self.ops.len());
        for (i, op) in self.ops.iter().enumerate() {
            let v = eval_op::<R>(op, &|j| vs[j], inputs);
            vs.push(if self.is_checked(i) { v.in_range() } else { v });
        }
        vs
    }

    /// Whether instruction `i`'s value passes through `Real::in_range` ([`Self::checked`]).
    #[inline]
    pub fn is_checked(&self, i: Var) -> bool {
        self.checked.get(i).copied().unwrap_or(false)
    }

    /// Runs the program with the operations `wide` marks in `W` and the others in `N`,
    /// converting as the emitted code does ([`Narrow`]); every value is returned widened
    /// (exactly). `wide` shorter than the program leaves the rest narrow.
    pub fn run_mixed<N: Narrow<W>, W: Real>(
        &self,
        inputs: &[(&str, f64)],
        wide: &[bool],
    ) -> Vec<W> {
        let is_wide = |i: usize| wide.get(i).copied().unwrap_or(false);
        let kept = kept_if_any(self, wide);
        let is_kept = |i: usize| kept.as_ref().is_some_and(|k| k[i]);
        let mut vs: Vec<W> = Vec::with_capacity(self.ops.len());
        for (i, op) in self.ops.iter().enumerate() {
            let v = if is_wide(i) {
                eval_op::<W>(op, &|j| vs[j], inputs)
            } else {
                // A call of a wide argument corrected to first order: kept wide, or
                // rounded (`Narrow`'s `_of` methods are its `_kept` ones rounded).
                let corrected = match op {
                    Op::Call(_, a) | Op::Sqrt(a) if is_wide(*a) => kept_call::<N, W>(op, vs[*a]),
                    _ => None,
                };
                match corrected {
                    Some(k) if is_kept(i) => k,
                    Some(k) => N::narrow(k).widen(),
                    None => eval_op::<N>(op, &|j| N::narrow(vs[j]), inputs).widen(),
                }
            };
            // A narrow value widens exactly: its range is checked as the narrow type's.
            vs.push(if self.is_checked(i) { v.in_range() } else { v });
        }
        vs
    }
}

/// One instruction in `R`, its operands given by `var`.
fn eval_op<R: Real>(op: &Op, var: &dyn Fn(Var) -> R, inputs: &[(&str, f64)]) -> R {
    match op {
        Op::Input(name) => R::from_f64(
            inputs
                .iter()
                .find(|(n, _)| n == name)
                .map_or(f64::NAN, |p| p.1),
        ),
        Op::Const { hi, lo } => R::new(f64::from_bits(*hi), f64::from_bits(*lo)),
        Op::Sum(terms) => {
            let mut acc = var(terms[0].1);
            for &(neg, x) in &terms[1..] {
                acc = if neg { acc - var(x) } else { acc + var(x) };
            }
            acc
        }
        Op::Mul(xs) => xs[1..].iter().fold(var(xs[0]), |acc, &x| acc * var(x)),
        Op::Div(a, b) => var(*a) / var(*b),
        Op::Neg(a) => -var(*a),
        Op::PowI(a, 2) => var(*a).square(),
        Op::PowI(a, n) => var(*a).powi(*n),
        Op::Sqrt(a) => var(*a).sqrt(),
        Op::PowF(a, b) => var(*a).powf(var(*b)),
        Op::Call(f, a) => call(*f, var(*a)),
    }
}

/// A call (or square root) of the wide argument `x` by the narrow function, corrected to
/// first order and kept wide (`Narrow::exp_kept`, ...), where [`Narrow`] has a method for
/// it: the functions of [`wide_argument_method`]'s list; `None` for the others, which
/// take the argument rounded.
fn kept_call<N: Narrow<W>, W: Real>(op: &Op, x: W) -> Option<W> {
    Some(match op {
        Op::Sqrt(_) => N::sqrt_kept(x),
        Op::Call(Func::Exp, _) => N::exp_kept(x),
        Op::Call(Func::Expm1, _) => N::exp_m1_kept(x),
        Op::Call(Func::Log, _) => N::ln_kept(x),
        Op::Call(Func::Log1p, _) => N::ln_1p_kept(x),
        Op::Call(Func::Sin, _) => N::sin_kept(x),
        Op::Call(Func::Cos, _) => N::cos_kept(x),
        Op::Call(Func::Tan, _) => N::tan_kept(x),
        Op::Call(Func::Atan, _) => N::atan_kept(x),
        Op::Call(Func::Tanh, _) => N::tanh_kept(x),
        Op::Call(Func::Sigmoid, _) => N::sigmoid_kept(x),
        _ => return None,
    })
}

/// Calls `f` with each variable `op` reads.
pub fn for_each_operand(op: &Op, mut f: impl FnMut(Var)) {
    match op {
        Op::Input(_) | Op::Const { .. } => {}
        Op::Sum(terms) => terms.iter().for_each(|&(_, x)| f(x)),
        Op::Mul(xs) => xs.iter().for_each(|&x| f(x)),
        Op::Div(a, b) | Op::PowF(a, b) => {
            f(*a);
            f(*b);
        }
        Op::Neg(a) | Op::PowI(a, _) | Op::Sqrt(a) | Op::Call(_, a) => f(*a),
    }
}

/// Which narrow operations of `p` (with the operations `wide` marks wide) keep their
/// value wide: a call (or square root) of a wide argument that has a method for it
/// ([`wide_argument_method`]), used, and used by wide operations only. Its first-order
/// correction then stays unrounded (`Narrow::exp_kept`): the value carries the narrow
/// function's own error and no rounding after it, at the cost of the narrow call.
pub fn kept(p: &Program, wide: &[bool]) -> Vec<bool> {
    kept_if_any(p, wide).unwrap_or_else(|| vec![false; p.ops.len()])
}

/// [`kept`], or `None` where no operation is (without allocating: what
/// [`Program::run_mixed`] asks at every run).
fn kept_if_any(p: &Program, wide: &[bool]) -> Option<Vec<bool>> {
    let is_wide = |i: usize| wide.get(i).copied().unwrap_or(false);
    let candidate = |i: usize, op: &Op| {
        !is_wide(i)
            && match op {
                Op::Call(_, a) | Op::Sqrt(a) => is_wide(*a),
                _ => false,
            }
            && wide_argument_method(op).is_some()
    };
    let first = p
        .ops
        .iter()
        .enumerate()
        .position(|(i, op)| candidate(i, op))?;
    // Bit 0: used; bit 1: used by a narrow operation.
    let mut uses = vec![0u8; p.ops.len()];
    for (i, op) in p.ops.iter().enumerate().skip(first + 1) {
        let narrow = if is_wide(i) { 0 } else { 2 };
        for_each_operand(op, |j| uses[j] |= 1 | narrow);
    }
    let kept: Vec<bool> = p
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| uses[i] == 1 && candidate(i, op))
        .collect();
    kept.contains(&true).then_some(kept)
}

/// The [`Narrow`] method that computes `op` (a call or square root) in the narrow type
/// from a wide argument, if there is one.
pub fn wide_argument_method(op: &Op) -> Option<&'static str> {
    match op {
        Op::Call(Func::Exp, _) => Some("exp_of"),
        Op::Call(Func::Expm1, _) => Some("exp_m1_of"),
        Op::Call(Func::Log, _) => Some("ln_of"),
        Op::Call(Func::Log1p, _) => Some("ln_1p_of"),
        Op::Call(Func::Sin, _) => Some("sin_of"),
        Op::Call(Func::Cos, _) => Some("cos_of"),
        Op::Call(Func::Tan, _) => Some("tan_of"),
        Op::Call(Func::Atan, _) => Some("atan_of"),
        Op::Call(Func::Tanh, _) => Some("tanh_of"),
        Op::Call(Func::Sigmoid, _) => Some("sigmoid_of"),
        Op::Sqrt(_) => Some("sqrt_of"),
        _ => None,
    }
}

/// Whether `f(a)`, an exponential (or a sigmoid, `e^a` for very negative `a`), can leave
/// the range the fast path computes in (`runtime::RANGE`, 2^-900 to 2^900) where its
/// symbols range over their domains: its argument is not bounded inside `ln RANGE`.
///
/// A schedule such as `alpha = exp(-1500 t)` is an ordinary function of t, yet its
/// exponentials underflow inside (0, 1): a DDIM coefficient written as
/// `exp(1500 t - 3000 s) expm1(3000 (s - t)) / (exp(-1500 s) sigma_t + exp(-1500 t) sigma_s)`
/// is of order 1e-216 at (t, s) = (0.66, 0.50), but its denominator is subnormal there
/// and f64 gets it eight digits wrong. That result is a normal number, which
/// `runtime::ordinary` cannot tell from a good one; the exponential can. The emitted code
/// checks such a value (`Real::in_range`: NaN outside the range), and the NaN sends the
/// function to `Xd`. A loose bound costs a comparison that never fails, no value.
fn leaves_range(pool: &Pool, f: Func, a: ExprId) -> bool {
    use super::runtime::RANGE;
    let (floor, ceil) = (RANGE.0.ln(), RANGE.1.ln());
    let bound = crate::expr::range::range(pool, a);
    match f {
        Func::Exp => bound.is_none_or(|r| r.lo < floor || r.hi > ceil),
        Func::Sigmoid => bound.is_none_or(|r| r.lo < floor),
        _ => false,
    }
}

/// `f(x)` in the runtime's number type, as the emitted method call computes it.
fn call<R: Real>(f: Func, x: R) -> R {
    match f {
        Func::Exp => x.exp(),
        Func::Log => x.ln(),
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Asin => x.asin(),
        Func::Acos => x.acos(),
        Func::Atan => x.atan(),
        Func::Sinh => x.sinh(),
        Func::Cosh => x.cosh(),
        Func::Tanh => x.tanh(),
        Func::Sigmoid => x.sigmoid(),
        Func::Expm1 => x.exp_m1(),
        Func::Log1p => x.ln_1p(),
        Func::Abs => x.abs(),
        // Never lowered (`LowerError::Unspecified`, `LowerError::Integral`).
        Func::Generic(_) | Func::Integral(_) => R::from_f64(f64::NAN),
    }
}

/// Why an expression cannot be lowered.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LowerError {
    #[error("the constant subexpression `{text}` has no finite real value: {reason}")]
    Constant { text: String, reason: String },
    #[error(
        "the constant subexpression `{text}` is outside the range of f64, which generated code computes in"
    )]
    Range { text: String },
    #[error("the exponent of `{text}` is too large for generated code")]
    Exponent { text: String },
    #[error(
        "`{name}` is an unspecified function (a generic process): there is no code to generate"
    )]
    Unspecified { name: String },
    #[error(
        "`{text}` is a named integral (no closed form): generated code would need a quadrature"
    )]
    Integral { text: String },
}

/// Builds one [`Program`] from any number of expressions, sharing their subexpressions.
pub struct Lowerer {
    mode: Mode,
    program: Program,
    memo: HashMap<ExprId, Var>,
    ops: HashMap<Op, Var>,
    hp: Hp,
}

impl Lowerer {
    pub fn new(mode: Mode) -> Lowerer {
        Lowerer {
            mode,
            program: Program::default(),
            memo: HashMap::new(),
            ops: HashMap::new(),
            hp: Hp::new(hp::DEFAULT_PRECISION),
        }
    }

    pub fn finish(mut self) -> Program {
        let mut h = rustc_hash::FxHasher::default();
        self.program.ops.hash(&mut h);
        self.program.digest = h.finish();
        self.program
    }

    fn push(&mut self, op: Op) -> Var {
        if let Some(&v) = self.ops.get(&op) {
            return v;
        }
        let v = self.program.ops.len();
        self.program.ops.push(op.clone());
        self.ops.insert(op, v);
        v
    }

    /// Marks `v`, the call `f(a)` of a stable program, as checked ([`Program::checked`])
    /// where its value can leave the fast path's range ([`leaves_range`]).
    fn check_range(&mut self, pool: &Pool, f: Func, a: ExprId, v: Var) {
        if self.mode == Mode::Stable && leaves_range(pool, f, a) {
            let checked = &mut self.program.checked;
            if checked.len() <= v {
                checked.resize(v + 1, false);
            }
            checked[v] = true;
        }
    }

    /// A variable for the input symbol `name`.
    pub fn input(&mut self, name: &str) -> Var {
        self.push(Op::Input(name.to_owned()))
    }

    fn constant(&mut self, pool: &mut Pool, e: ExprId) -> Result<Var, LowerError> {
        let v = self
            .hp
            .eval(pool, e, &[])
            .map_err(|err| LowerError::Constant {
                text: crate::expr::print::to_text(pool, e),
                reason: err.to_string(),
            })?;
        let (hi, lo) = split_dd(&mut self.hp, &v);
        if !hi.is_finite() {
            return Err(LowerError::Range {
                text: crate::expr::print::to_text(pool, e),
            });
        }
        if let Some(r) = exact_value(pool, e, hi, lo) {
            return Ok(self.rational(&r));
        }
        // Not 0, and below the normal range: rounded to 0 or to a subnormal with fewer
        // digits (alpha(1) = e^-1500, put into a step onto the noise end, made its
        // coefficient `(... - alpha(t) sigma(t))/alpha(t)` a division by 0).
        if hi.abs() < f64::MIN_POSITIVE && !v.is_zero() {
            return Err(LowerError::Range {
                text: crate::expr::print::to_text(pool, e),
            });
        }
        Ok(self.const_f64(hi, lo))
    }

    fn const_f64(&mut self, hi: f64, lo: f64) -> Var {
        let lo = if self.mode == Mode::Naive { 0.0 } else { lo };
        self.push(Op::Const {
            hi: hi.to_bits(),
            lo: lo.to_bits(),
        })
    }

    fn rational(&mut self, r: &BigRational) -> Var {
        let hi = crate::expr::eval::rational_to_f64(r);
        let rest = r - BigRational::from_float(hi).unwrap_or_else(BigRational::zero);
        let lo = crate::expr::eval::rational_to_f64(&rest);
        self.const_f64(hi, lo)
    }

    /// Lowers `e` (already rewritten by [`stabilize`] in stable mode) and returns its variable.
    pub fn lower(&mut self, pool: &mut Pool, e: ExprId) -> Result<Var, LowerError> {
        if let Some(&v) = self.memo.get(&e) {
            return Ok(v);
        }
        let v = self.lower_node(pool, e)?;
        self.memo.insert(e, v);
        Ok(v)
    }

    fn lower_node(&mut self, pool: &mut Pool, e: ExprId) -> Result<Var, LowerError> {
        if let Node::Rational(r) = pool.node(e) {
            let r = r.clone();
            let f = crate::expr::eval::rational_to_f64(&r);
            if !f.is_finite() || (f.abs() < f64::MIN_POSITIVE && !r.is_zero()) {
                return Err(LowerError::Range {
                    text: crate::expr::print::to_text(pool, e),
                });
            }
            return Ok(self.rational(&r));
        }
        if let Node::Call(f @ Func::Generic(_), _) = pool.node(e) {
            let name = pool.func_name(*f).to_owned();
            return Err(LowerError::Unspecified { name });
        }
        if pool.free_symbols(e).is_empty() {
            return self.constant(pool, e);
        }
        if let Node::Call(Func::Integral(_), _) = pool.node(e) {
            let text = crate::expr::print::to_text(pool, e);
            return Err(LowerError::Integral { text });
        }
        match pool.node(e).clone() {
            Node::Rational(_) | Node::Const(_) => unreachable!("constants are folded above"),
            Node::Sym(s) => {
                let name = pool.symbol_name(s).to_owned();
                Ok(self.input(&name))
            }
            Node::Add(xs) => {
                let mut terms = Vec::with_capacity(xs.len());
                for &x in xs.iter() {
                    let (c, rest) = pool.split_coeff(x);
                    if c.is_negative() {
                        let m = pool.rational(-c);
                        terms.push((true, pool.mul(vec![m, rest])));
                    } else {
                        terms.push((false, x));
                    }
                }
                // Put a positive term first so the sum reads `a - b`, not `-b + a`.
                if let Some(i) = terms.iter().position(|(neg, _)| !neg) {
                    terms[..=i].rotate_right(1);
                }
                let mut out = Vec::with_capacity(terms.len());
                for (neg, mag) in terms {
                    out.push((neg, self.lower(pool, mag)?));
                }
                if out[0].0 {
                    let first = out[0].1;
                    out[0] = (false, self.push(Op::Neg(first)));
                }
                Ok(self.push(Op::Sum(out)))
            }
            Node::Mul(xs) => self.lower_product(pool, &xs),
            Node::Pow(..) => self.lower_product(pool, &[e]),
            Node::Call(f, a) => {
                let av = self.lower(pool, a)?;
                let v = self.push(Op::Call(f, av));
                self.check_range(pool, f, a, v);
                Ok(v)
            }
        }
    }

    /// A product as `constant * numerator / denominator`.
    fn lower_product(&mut self, pool: &mut Pool, factors: &[ExprId]) -> Result<Var, LowerError> {
        let mut consts = Vec::new();
        let mut num = Vec::new();
        let mut den = Vec::new();
        for &f in factors {
            if pool.free_symbols(f).is_empty() {
                consts.push(f);
                continue;
            }
            let (b, x) = pool.split_pow(f);
            match pool.as_rational(x) {
                Some(r) if r.is_negative() => den.push((b, -r)),
                _ => num.push(f),
            }
        }
        let mut num_vars = Vec::new();
        let mut negate = false;
        if !consts.is_empty() {
            let c = pool.mul(consts);
            let minus_one = pool.int(-1);
            if c == minus_one {
                negate = true;
            } else if c != pool.one() {
                num_vars.push(self.lower(pool, c)?);
            }
        }
        for f in num {
            let (b, x) = pool.split_pow(f);
            let v = match pool.as_rational(x).cloned() {
                Some(r) => {
                    let bv = self.lower(pool, b)?;
                    self.pow_rational(pool, b, bv, &r)?
                }
                None => self.lower_general_pow(pool, b, x)?,
            };
            num_vars.push(v);
        }
        let mut den_vars = Vec::new();
        for (b, r) in den {
            let bv = self.lower(pool, b)?;
            den_vars.push(self.pow_rational(pool, b, bv, &r)?);
        }
        let numerator = match num_vars.len() {
            0 => self.rational(&BigRational::one()),
            1 => num_vars[0],
            _ => self.push(Op::Mul(num_vars)),
        };
        let mut v = match den_vars.len() {
            0 => numerator,
            1 => self.push(Op::Div(numerator, den_vars[0])),
            _ => {
                let d = self.push(Op::Mul(den_vars));
                self.push(Op::Div(numerator, d))
            }
        };
        if negate {
            v = self.push(Op::Neg(v));
        }
        Ok(v)
    }

    /// `b^x` for a non-rational exponent.
    fn lower_general_pow(
        &mut self,
        pool: &mut Pool,
        b: ExprId,
        x: ExprId,
    ) -> Result<Var, LowerError> {
        if pool.free_symbols(b).is_empty() {
            // c^x = exp(x log c), with log c folded.
            let log_c = pool.call(Func::Log, b);
            let lc = self.constant(pool, log_c)?;
            let xv = self.lower(pool, x)?;
            let prod = self.push(Op::Mul(vec![xv, lc]));
            let v = self.push(Op::Call(Func::Exp, prod));
            let arg = pool.mul(vec![x, log_c]);
            self.check_range(pool, Func::Exp, arg, v);
            return Ok(v);
        }
        let bv = self.lower(pool, b)?;
        let xv = self.lower(pool, x)?;
        Ok(self.push(Op::PowF(bv, xv)))
    }

    /// `b^r` for a rational `r > 0`: integer powers, square and fourth roots and their
    /// powers, otherwise `powf`.
    fn pow_rational(
        &mut self,
        pool: &Pool,
        b: ExprId,
        bv: Var,
        r: &BigRational,
    ) -> Result<Var, LowerError> {
        let too_big = || LowerError::Exponent {
            text: crate::expr::print::to_text(pool, b),
        };
        if r.is_negative() {
            let p = self.pow_rational(pool, b, bv, &-r)?;
            let one = self.rational(&BigRational::one());
            return Ok(self.push(Op::Div(one, p)));
        }
        let n = r.numer().to_i32().ok_or_else(too_big)?;
        let d = r.denom().to_i32().ok_or_else(too_big)?;
        let root = match d {
            1 => bv,
            2 => self.push(Op::Sqrt(bv)),
            4 => {
                let s = self.push(Op::Sqrt(bv));
                self.push(Op::Sqrt(s))
            }
            _ => {
                let e = self.rational(r);
                return Ok(self.push(Op::PowF(bv, e)));
            }
        };
        Ok(if n == 1 {
            root
        } else {
            self.push(Op::PowI(root, n))
        })
    }
}

/// The rational a constant `e` equals, where its value `hi + lo` lies within 2^-100 of a
/// rational of denominator at most 2^16 (or within 2^-150 of 0) and that is proved
/// ([`crate::expr::zero::proves_zero`]). A constant the simplifier left unsimplified
/// (radicals that cancel to -4) is evaluated with the reference's rounding, 2^-256 of its
/// terms: as a double-double it is -4 + 3e-77, and `1 - (-4 + 3e-77)/4` is 8e-78 where
/// the exact value is 0.
fn exact_value(pool: &mut Pool, e: ExprId, hi: f64, lo: f64) -> Option<BigRational> {
    if !hi.is_finite() {
        return None;
    }
    let x = BigRational::from_float(hi)? + BigRational::from_float(lo)?;
    let candidate = if hi.abs() < 2f64.powi(-150) {
        BigRational::zero()
    } else {
        // Continued-fraction convergents of x, until one is close enough.
        let tolerance = x.abs() / BigRational::from_integer(num_bigint::BigInt::one() << 100);
        let (mut p0, mut q0) = (num_bigint::BigInt::zero(), num_bigint::BigInt::one());
        let (mut p1, mut q1) = (num_bigint::BigInt::one(), num_bigint::BigInt::zero());
        let mut rest = x.clone();
        let limit = num_bigint::BigInt::one() << 16;
        loop {
            let a = rest.floor().to_integer();
            (p0, p1) = (p1.clone(), &a * &p1 + &p0);
            (q0, q1) = (q1.clone(), &a * &q1 + &q0);
            if q1 > limit {
                return None;
            }
            let c = BigRational::new(p1.clone(), q1.clone());
            if (&c - &x).abs() <= tolerance {
                break c;
            }
            let frac = &rest - BigRational::from_integer(a);
            if frac.is_zero() {
                return None;
            }
            rest = frac.recip();
        }
    };
    let r = pool.rational(candidate.clone());
    let d = pool.sub(e, r);
    crate::expr::zero::proves_zero(pool, d).then_some(candidate)
}

/// The double-double nearest to `v`: `hi` correctly rounded, `lo` the rest correctly rounded.
pub fn split_dd(hp: &mut Hp, v: &BigFloat) -> (f64, f64) {
    let hi = hp::to_f64(v);
    if !hi.is_finite() {
        return (hi, 0.0);
    }
    let h = hp.from_f64(hi);
    let rest = v.sub(&h, hp.precision(), astro_float::RoundingMode::ToEven);
    (hi, hp::to_f64(&rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;

    /// The interpreter (`kept_call`) and the emitted text (`wide_argument_method`) list
    /// the functions corrected for a wide argument separately: they must agree, or the
    /// measured forms are not what the module computes. A corrected call differs from the
    /// call of the rounded argument when the argument has a low part.
    #[test]
    fn the_interpreter_and_the_emitted_code_correct_the_same_calls() {
        use super::super::runtime::Dd;
        for f in Func::ALL {
            // A low part of 0.49 ulp moves some value of each corrected function (0.0625
            // and a little, for atan: its value falls below the power of two).
            let differs = [0.3, 0.062_506_25, 1.5, 3.0, -2.0].iter().any(|&h: &f64| {
                let ulp = f64::from_bits(h.abs().to_bits() + 1) - h.abs();
                let lo = 0.49 * ulp * h.signum();
                let corrected: f64 = kept_call::<f64, Dd>(&Op::Call(f, 0), Dd::new(h, lo))
                    .map_or_else(|| call(f, h), |k| k.to_f64());
                let plain: f64 = call(f, h);
                corrected.to_bits() != plain.to_bits()
            });
            let named = wide_argument_method(&Op::Call(f, 0)).is_some();
            assert_eq!(differs, named, "{f:?}");
        }
    }

    fn lower_all(pool: &mut Pool, es: &[ExprId], mode: Mode) -> (Program, Vec<Var>) {
        let mut l = Lowerer::new(mode);
        let vs = es
            .iter()
            .map(|&e| l.lower(pool, e).expect("lowers"))
            .collect();
        (l.finish(), vs)
    }

    #[test]
    fn shared_subexpressions_become_one_instruction() {
        let mut p = Pool::new();
        let t = p.var("t");
        let e = p.call(Func::Exp, t);
        let e2 = p.powi(e, 2);
        let s = p.add2(e, e2);
        let c = p.call(Func::Cos, e);
        let (prog, _) = lower_all(&mut p, &[s, c], Mode::Stable);
        let exps = prog
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Call(Func::Exp, _)))
            .count();
        assert_eq!(exps, 1, "{prog:?}");
        let inputs = prog
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Input(_)))
            .count();
        assert_eq!(inputs, 1);
    }

    /// The program's constants, `(hi, lo)`, in order.
    fn constants(prog: &Program) -> Vec<(f64, f64)> {
        prog.ops
            .iter()
            .filter_map(|op| match op {
                Op::Const { hi, lo } => Some((f64::from_bits(*hi), f64::from_bits(*lo))),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn constants_fold_to_correctly_rounded_values() {
        let mut p = Pool::new();
        // pi/2 * sqrt(2): one constant, the double-double nearest the exact product.
        let pi = p.pi();
        let half = p.frac(1, 2);
        let two = p.int(2);
        let r2 = p.sqrt(two);
        let t = p.var("t");
        let e = p.mul(vec![half, pi, r2, t]);
        let (prog, _) = lower_all(&mut p, &[e], Mode::Stable);
        let consts = constants(&prog);
        // pi/sqrt(2): hi and lo as computed independently by mpmath at 300 bits.
        assert_eq!(consts, vec![(2.221441469079183, 7.261369656130425e-17)]);
        // 1/10 in naive mode: the f64 nearest, no low part.
        let tenth = p.frac(1, 10);
        let e = p.mul2(tenth, t);
        let (prog, _) = lower_all(&mut p, &[e], Mode::Naive);
        assert!(prog.ops.contains(&Op::Const {
            hi: 0.1f64.to_bits(),
            lo: 0.0f64.to_bits()
        }));
    }

    /// Fuzz seed 17, case 59131: a constant the simplifier left as radicals that cancel
    /// to a rational came out of the 256-bit reference as -4 + 3e-77, and `1 + 4 h` at
    /// h = -1/4 as 8e-78 where it is 0. Constants proved rational are that rational.
    #[test]
    fn constants_proved_rational_are_exact() {
        let mut p = Pool::new();
        let t = p.var("t");
        let eleven = p.int(11);
        let r11 = p.sqrt(eleven);
        let three = p.int(3);
        let a = p.sub(r11, three);
        let b = p.add(vec![r11, three]);
        // (sqrt(11) - 3)(sqrt(11) + 3) = 2, by hand.
        let two = p.mul(vec![a, b]);
        let six = p.int(6);
        let minus_four = p.sub(two, six);
        let two_exactly = p.int(2);
        let zero = p.sub(two, two_exactly);
        for (c, want) in [(minus_four, -4.0), (zero, 0.0)] {
            let e = p.mul(vec![c, t]);
            let (prog, _) = lower_all(&mut p, &[e], Mode::Stable);
            assert_eq!(
                constants(&prog),
                vec![(want, 0.0)],
                "{}",
                crate::expr::print::to_text(&p, c)
            );
        }
    }

    #[test]
    fn undefined_constants_are_errors() {
        let mut p = Pool::new();
        let m1 = p.int(-1);
        let log = p.call(Func::Log, m1);
        let t = p.var("t");
        let e = p.mul2(log, t);
        let mut l = Lowerer::new(Mode::Stable);
        assert!(matches!(
            l.lower(&mut p, e),
            Err(LowerError::Constant { .. })
        ));
    }

    /// A constant that is not 0 but below the normal range of f64 (`exp(-1500)`, about
    /// 1e-652; the rational 10^-400; a subnormal 2^-1074) is outside its range, as one
    /// above it is: rounded, it would be 0 or keep a few digits. 2^-1022, the least
    /// normal f64, and a constant proved 0 lower.
    #[test]
    fn constants_below_the_normal_range_are_errors() {
        let mut p = Pool::new();
        let t = p.var("t");
        let m1500 = p.int(-1500);
        let tiny_exp = p.call(Func::Exp, m1500);
        let tiny_rational = p.rational(BigRational::new(
            BigInt::from(1),
            BigInt::from(10).pow(400u32),
        ));
        let subnormal = p.rational(BigRational::from_float(2f64.powi(-1074)).expect("finite"));
        for c in [tiny_exp, tiny_rational, subnormal] {
            let e = p.mul(vec![c, t]);
            let mut l = Lowerer::new(Mode::Stable);
            assert!(
                matches!(l.lower(&mut p, e), Err(LowerError::Range { .. })),
                "{}",
                crate::expr::print::to_text(&p, c)
            );
        }
        let least = p.rational(BigRational::from_float(f64::MIN_POSITIVE).expect("finite"));
        let pi = p.pi();
        let sin_pi = p.call(Func::Sin, pi);
        for c in [least, sin_pi] {
            let e = p.add(vec![c, t]);
            let mut l = Lowerer::new(Mode::Stable);
            assert!(l.lower(&mut p, e).is_ok());
        }
    }

    /// The number of checked instructions ([`Program::checked`]) of `text` lowered in
    /// `mode`, with `t` and `t_next` in [0, 1].
    fn checked_calls(text: &str, mode: Mode) -> usize {
        let mut pool = Pool::new();
        let e = crate::expr::test_util::parse_in_unit_times(&mut pool, text);
        let mut l = Lowerer::new(mode);
        l.lower(&mut pool, e).expect("lowers");
        let p = l.finish();
        (0..p.ops.len()).filter(|&i| p.is_checked(i)).count()
    }

    #[test]
    fn exponentials_that_can_leave_the_range_are_checked() {
        // e^(-1500 t) is 1e-651 at t = 1; e^(1500 (t - t_next)) overflows too.
        assert_eq!(checked_calls("exp(-1500 * t)", Mode::Stable), 1);
        assert_eq!(
            checked_calls("exp(1500 * t - 1500 * t_next)", Mode::Stable),
            1
        );
        assert_eq!(checked_calls("sigmoid(-1000 * t)", Mode::Stable), 1);
        assert_eq!(checked_calls("2^(-1000 * t)", Mode::Stable), 1);
        // e^(-1/t) has no bound at t = 0.
        assert_eq!(checked_calls("exp(-1 / t)", Mode::Stable), 1);
        // Naive code computes as written, without a fallback to send a NaN to.
        assert_eq!(checked_calls("exp(-1500 * t)", Mode::Naive), 0);
    }

    #[test]
    fn exponentials_of_a_bounded_argument_are_not_checked() {
        assert_eq!(
            checked_calls("exp(-t/10 - 199 * t^2 / 20)", Mode::Stable),
            0
        );
        assert_eq!(checked_calls("sqrt(-expm1(-3000 * t))", Mode::Stable), 0);
        assert_eq!(checked_calls("sigmoid(1000 * t)", Mode::Stable), 0);
        // Just inside ln 2^900 = 623.8 passes; just outside does not.
        assert_eq!(checked_calls("exp(623 * t)", Mode::Stable), 0);
        assert_eq!(checked_calls("exp(624 * t)", Mode::Stable), 1);
    }

    /// A checked value outside the range is NaN in `f64` and double-double, so that
    /// `runtime::ordinary` sends the function to `Xd`, where it is itself.
    #[test]
    fn a_checked_value_outside_the_range_is_nan_on_the_fast_path_only() {
        use super::super::runtime::{Dd, Xd};
        let mut pool = Pool::new();
        let e = crate::expr::test_util::parse_in_unit_t(&mut pool, "exp(-1500 * t)");
        let mut l = Lowerer::new(Mode::Stable);
        let v = l.lower(&mut pool, e).expect("lowers");
        let p = l.finish();
        // e^-600 is within 2^-900; e^-700 is a normal f64 but not within it.
        let at = |t: f64| [("t", t)];
        assert_eq!(p.run::<f64>(&at(0.4))[v], (-600f64).exp());
        assert!(p.run::<f64>(&at(700.0 / 1500.0))[v].is_nan());
        assert!(p.run::<Dd>(&at(700.0 / 1500.0))[v].hi.is_nan());
        assert!(p.run_mixed::<f64, Dd>(&at(0.9), &[])[v].hi.is_nan());
        // In Xd, e^-1350 (below the f64 range) keeps its digits.
        let x = p.run::<Xd>(&at(0.9))[v];
        assert!((Real::ln(x).to_f64() + 1350.0).abs() < 1e-12, "{x:?}");
    }
}
