//! The accuracy budget of emitted code (`emit --accuracy`): per function, the cheapest
//! number type whose results, run exactly as the emitted code runs them and measured
//! against the certified reference, stay within the budget.
//!
//! A function's stable program (the cancellation-free forms of `stable.rs`: `exp_m1`,
//! `ln_1p`, ...) runs each operation either in `f64` or in double-double. Cheapest first:
//! all in f64; else the few operations that a first-order error analysis blames for the
//! error (`contributions`: each operation alone in f64, the rest in double-double) move to
//! double-double, until the budget is met, which may take all of them. An f64 `exp`,
//! `ln`, `sin`, ... of a double-double argument is corrected to first order
//! (`runtime::Narrow`), so a polynomial in double-double under an f64 `exp` costs a few
//! flops, not a double-double exponential. A form falls back to the wide-range `Xd` where
//! a time is tiny or a result is not a normal f64 (`runtime::ordinary`), as the emitted
//! wrapper does, unless it meets the budget without. The search then narrows back what
//! it can (`prune`): its blame is first-order, and an `f64` function of a double-double
//! argument with the arithmetic around it in double-double is often enough where the
//! blame pointed at the function.
//!
//! Regimes, as in Herbie: the choice is made per range of `t`, not once for [0, 1].
//! Where every time is at least 1/2 a function may run its upper regime, the same
//! formula in `1 - t` (exact there), stabilized on its own (`cos(pi t/2)` is
//! `sin(pi (1 - t)/2)`), if that makes both branches cheaper (`regimes`); and the range
//! of `t` on either side is bisected into cells wherever double-double is
//! needed in part of it only (next to a zero of the value), down to 1/16, each cell with its own
//! operations in double-double (`split_cells`). The measurement interprets the
//! lowered program in the runtime's
//! own number types (`Program::run_mixed`), so it computes bit for bit what the compiled
//! module computes; `--verify` then checks the compiled module itself.

use super::accuracy::{Accuracy, Form, LEAST_ULPS};
use super::check;
use super::lower::Op;
use super::measure::{Case, Report, Row, compare};
use super::rounding;
use super::runtime::{Dd, Narrow, Real, Xd, ordinary};
use super::{Function, GuardBody, Shape, Toward, UPPER_FROM};
use crate::expr::Func;
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The values the body of `f` returns with its arguments bound by `env` when it runs with
/// narrow type `N` and wide type `W`, the operations `wide` marks wide: a guard's (all
/// wide) where every time it names has its value, else the program's (one for a scalar
/// function, the coefficients for a field).
fn body<N: Narrow<W>, W: Real>(f: &Function, wide: &[bool], env: &[(&str, f64)]) -> Vec<f64> {
    for g in &f.guards {
        if g.applies(env) {
            return match &g.body {
                GuardBody::Constants(vs) => vs.clone(),
                GuardBody::Program(p, outs) => {
                    let vs = p.run::<W>(&g.program_env(env));
                    outs.iter().map(|&v| vs[v].to_f64()).collect()
                }
            };
        }
    }
    if let Some(up) = &f.upper
        && in_upper(f, env)
    {
        return body::<N, W>(up, &up.wide, &reflected_env(f, env));
    }
    let wide = cell_wide(f, wide, env);
    let vs = f.program.run_mixed::<N, W>(env, wide);
    match &f.shape {
        Shape::Scalar { out } => vec![vs[*out].to_f64()],
        Shape::Field { coeffs, .. } => coeffs.iter().map(|(_, v)| vs[*v].to_f64()).collect(),
    }
}

/// The operations in double-double where `env` puts `t`: its cell's ([`Function::cells`])
/// or else `wide`, of a step toward the data end's own where it has them
/// ([`Function::toward`]).
fn cell_wide<'a>(f: &'a Function, wide: &'a [bool], env: &[(&str, f64)]) -> &'a [bool] {
    let (cells, wide) = match &f.toward {
        Some(w) if is_toward(f, env) => (&w.cells, w.wide.as_slice()),
        _ => (&f.cells, wide),
    };
    match env.iter().find(|(n, _)| *n == "t") {
        Some(&(_, t)) => cells
            .iter()
            .find(|(b, _)| t < *b)
            .map_or(wide, |c| c.1.as_slice()),
        None => wide,
    }
}

/// Whether `env` is a step toward the data end: `t_next < t`, or `t_next > t` in an upper
/// regime, whose times are reflected ([`Function::toward`]).
fn is_toward(f: &Function, env: &[(&str, f64)]) -> bool {
    let time = |name: &str| env.iter().find(|(n, _)| *n == name).map(|p| p.1);
    match (time("t"), time("t_next")) {
        (Some(t), Some(t_next)) if f.reflected => t_next > t,
        (Some(t), Some(t_next)) => t_next < t,
        _ => false,
    }
}

/// How many times `f` takes: `t`, and `t_next` for a step.
fn time_count(f: &Function) -> usize {
    match &f.shape {
        Shape::Scalar { .. } => 1,
        Shape::Field { times, .. } => times.len(),
    }
}

/// Whether `name` is one of the times `f` takes (without allocating: the search asks at
/// every run).
fn is_time(f: &Function, name: &str) -> bool {
    match &f.shape {
        Shape::Scalar { .. } => name == "t",
        Shape::Field { times, .. } => times.iter().any(|t| t == name),
    }
}

/// Whether every time `env` binds is in the upper regime (at least [`UPPER_FROM`]).
fn in_upper(f: &Function, env: &[(&str, f64)]) -> bool {
    env.iter()
        .filter(|(n, _)| is_time(f, n))
        .all(|(_, v)| *v >= UPPER_FROM)
}

/// `env` with every time `s` replaced by `1 - s` (exact in the upper regime): the
/// arguments of the upper regime's program.
fn reflected_env<'a>(f: &Function, env: &[(&'a str, f64)]) -> Vec<(&'a str, f64)> {
    env.iter()
        .map(|&(n, v)| if is_time(f, n) { (n, 1.0 - v) } else { (n, v) })
        .collect()
}

/// What the emitted public function computes at `env` with the operations `wide` marks in
/// double-double: the body with `f64` narrow and `Dd` wide, and with `fallback` again all
/// in `Xd` where [`ordinary`] rejects that. A naive function runs in f64 alone.
pub fn outputs(f: &Function, wide: &[bool], fallback: bool, env: &[(&str, f64)]) -> Vec<f64> {
    if f.form == Form::Naive {
        return body::<f64, f64>(f, &[], env);
    }
    let first = body::<f64, Dd>(f, wide, env);
    if !fallback || ordinary(&times_of(f, env), &first) {
        first
    } else {
        body::<Xd, Xd>(f, &[], env)
    }
}

/// The times `env` binds, as the emitted wrapper tests them: an upper regime's caller
/// tests its own times, `1 - s`.
fn times_of(f: &Function, env: &[(&str, f64)]) -> Vec<f64> {
    env.iter()
        .filter(|(n, _)| *n == "t" || *n == "t_next")
        .map(|p| if f.reflected { 1.0 - p.1 } else { p.1 })
        .collect()
}

/// The arguments of a reference row bound to the names of `f`'s parameters (its inputs,
/// then its times).
fn bind<'a>(f: &'a Function, args: &[f64]) -> Vec<(&'a str, f64)> {
    match &f.shape {
        Shape::Scalar { .. } => vec![("t", args[0])],
        Shape::Field { inputs, times, .. } => inputs
            .iter()
            .chain(times)
            .map(String::as_str)
            .zip(args.iter().copied())
            .collect(),
    }
}

/// The value of `f` at the arguments of a reference row, as the emitted function computes
/// it; a field is combined as the emitted code combines it, `c0 * v0 + c1 * v1 + ...`
/// from the left.
pub fn value(f: &Function, wide: &[bool], fallback: bool, args: &[f64]) -> f64 {
    let env = bind(f, args);
    combine(f, &env, &outputs(f, wide, fallback, &env))
}

/// A scalar's value, or a field's coefficients `cs` combined with its inputs in `env`
/// (at a pole, as the emitted code combines them there:
/// [`runtime::pole_sum`](super::runtime::pole_sum) of the pole's directions).
fn combine(f: &Function, env: &[(&str, f64)], cs: &[f64]) -> f64 {
    match &f.shape {
        Shape::Scalar { .. } => cs[0],
        Shape::Field { coeffs, .. } => {
            let input = |name: &str| env.iter().find(|(n, _)| *n == name).map_or(0.0, |p| p.1);
            let vs: Vec<f64> = coeffs.iter().map(|(name, _)| input(name)).collect();
            if let Some(pole) = f.poles.iter().find(|p| p.applies(env)) {
                let ks = match &pole.guard.body {
                    GuardBody::Constants(ks) => ks.clone(),
                    GuardBody::Program(p, outs) => {
                        let values = p.run::<Dd>(env);
                        outs.iter().map(|&v| values[v].to_f64()).collect()
                    }
                };
                return super::runtime::pole_sum(&ks, &pole.infinite, &vs);
            }
            let sum = vs
                .iter()
                .zip(cs)
                .map(|(v, c)| c * v)
                .reduce(|a, b| a + b)
                .unwrap_or(0.0);
            if sum.is_finite() || !f.wide_sum {
                return sum;
            }
            // A coefficient beyond f64: the sum again in `Xd`, as the emitted field.
            super::runtime::wide_sum(&wide_coefficients(f, env), &vs)
        }
    }
}

/// The coefficients of the field `f` at `env` in `Xd`, unrounded: a guard's where one
/// applies (its program run in `Xd`), else the program's.
fn wide_coefficients(f: &Function, env: &[(&str, f64)]) -> Vec<Xd> {
    if let Some(g) = f.guards.iter().find(|g| g.applies(env)) {
        return match &g.body {
            GuardBody::Constants(vs) => vs.iter().map(|&v| Xd::from_f64(v)).collect(),
            GuardBody::Program(p, outs) => {
                let vs = p.run::<Xd>(&g.program_env(env));
                outs.iter().map(|&v| vs[v]).collect()
            }
        };
    }
    let wide = f.program.run::<Xd>(env);
    outputs_of(f).into_iter().map(|v| wide[v]).collect()
}

/// Whether a coefficient of the field `f` leaves the range of f64 at a row of `case`
/// where no pole holds ([`Function::wide_sum`]): its reference is infinite there though
/// every argument is finite.
pub fn overflows(f: &Function, case: &Case) -> bool {
    if f.form == Form::Naive || !matches!(f.shape, Shape::Field { .. }) {
        return false;
    }
    case.rows.iter().any(|r| {
        let env = bind(f, &r.args);
        r.want.is_infinite()
            && r.args.iter().all(|a| a.is_finite())
            && !f.poles.iter().any(|p| p.applies(&env))
    })
}

/// The report of `f` with the operations `wide` marks in double-double (and the `Xd`
/// fallback or not), on the rows of `case`.
fn measured(f: &Function, wide: &[bool], fallback: bool, case: &Case) -> Report {
    let got: Vec<f64> = case
        .rows
        .iter()
        .map(|r| value(f, wide, fallback, &r.args))
        .collect();
    let mut case = case.clone();
    case.form = if f.form == Form::Naive {
        Form::Naive
    } else {
        Form::of(wide)
    };
    compare(std::slice::from_ref(&case), &[got]).remove(0)
}

/// How much error each operation of `f`'s program can cause at `args` when it alone runs
/// in f64 and every other in double-double, in ulps of the outputs (the largest over
/// them): a first-order bound by sensitivity ([`rounding`]), which does not depend on how
/// lucky one sample's rounding is.
fn contributions(f: &Function, args: &[f64]) -> Vec<f64> {
    let env = bind(f, args);
    if guarded(f, &env) {
        return vec![0.0; f.program.ops.len()];
    }
    table(f, &env).blame()
}

/// Whether a guard of `f` takes over at `env` (it fixes every time `env` binds).
fn guarded(f: &Function, env: &[(&str, f64)]) -> bool {
    f.guards.iter().any(|g| g.applies(env))
}

/// The variables of `f`'s program that it returns: one for a scalar function, the
/// coefficients for a field.
fn outputs_of(f: &Function) -> Vec<usize> {
    match &f.shape {
        Shape::Scalar { out } => vec![*out],
        Shape::Field { coeffs, .. } => coeffs.iter().map(|(_, v)| *v).collect(),
    }
}

/// A program and its outputs (by a hash of their contents), the number of its operations
/// and a point (its bits), as one key: `[hash, ops, bits...]`. Not by the address of the
/// operations: a clone of a function (`elide_series`) can be put where a clone of its
/// upper regime was freed, a different program of the same length, whose table then
/// answered for it (a choice that depended on what the heap held before).
type TableKey = Vec<u64>;

thread_local! {
    /// The work [`choose`] has done on the current function, in units of [`cost`]
    /// ([`charge`]).
    static WORK: Cell<u64> = const { Cell::new(0) };
    /// The work the current function may spend refining: [`REFINE_WORK`] but in tests.
    static ALLOWANCE: Cell<u64> = const { Cell::new(REFINE_WORK) };
    /// The rounding-error models [`table`] has built for the function [`choose`] is on:
    /// they do not depend on which operations are wide, and the search asks for the same
    /// rows again and again.
    static TABLES: RefCell<FxHashMap<TableKey, Rc<rounding::Table>>> =
        RefCell::new(FxHashMap::default());
    /// The arguments (their bits) of the row where [`meets`] last found a miss. Not the
    /// rows' address and an index: a clone of the rows freed and another put at its
    /// address took the index for its own, and which address the allocator reuses
    /// depends on everything the process ran before, so that the order of the rows, the
    /// work charged and at last the choice could differ between one case alone and the
    /// same case late in a fuzzer's worker.
    static LAST_MISS: RefCell<Option<Vec<u64>>> = const { RefCell::new(None) };
    /// The states of the search [`miss`] has run in on the current function, numbered
    /// ([`state_of`]).
    static STATES: RefCell<FxHashMap<State, u32>> = RefCell::new(FxHashMap::default());
    /// The rows [`miss`] has measured on the current function, numbered ([`row_id`]).
    static ROWS: RefCell<FxHashMap<Vec<u64>, u32>> = RefCell::new(FxHashMap::default());
    /// What [`miss`] found, by state (high half) and row (low half), and whether the
    /// fallback ran.
    static MISSES: RefCell<FxHashMap<u64, (f64, bool)>> = RefCell::new(FxHashMap::default());
}

/// Forgets what [`table`], [`meets`] and [`miss`] worked out (at the start and end of a
/// function).
fn forget_models() {
    TABLES.with(|t| t.borrow_mut().clear());
    LAST_MISS.with(|m| m.borrow_mut().take());
    STATES.with(|s| s.borrow_mut().clear());
    ROWS.with(|r| r.borrow_mut().clear());
    MISSES.with(|m| m.borrow_mut().clear());
    LAST_EVAL.with(|e| e.borrow_mut().take());
}

/// Counts `units` of work (as [`cost`] weighs a run of the program) towards the
/// function's allowance ([`REFINE_WORK`]).
fn charge(units: f64) {
    WORK.with(|w| w.set(w.get().saturating_add(units as u64)));
}

/// Whether the current function has used up its allowance ([`REFINE_WORK`]):
/// refinements (pruning, regimes, cells) then stop where they are, with a choice that
/// meets the rows.
fn exhausted() -> bool {
    WORK.with(|w| w.get()) > ALLOWANCE.with(|a| a.get())
}

/// The work, in units of [`cost`] summed over the runs of the program, that [`choose`]
/// spends on one function before it stops refining its choice (about 1 to 3 ns a unit,
/// so a few seconds). Without it, a chain of 60 nested `sin` (`robustness::
/// emitted_documentation_...`) ran 75 s per step function, as every run of a long
/// double-double program is slow. Measured on the bundled library: at most 2.9e9
/// (shifted_cosine's `euler_maruyama_step_v`), so that none of its modules depends on it
/// (with the honest bound of `rounding` and before [`meets`] started at the row that
/// missed last, that function ran out and settled for a costlier choice).
const REFINE_WORK: u64 = 3_000_000_000;

/// The rounding-error model of `f`'s program at `env` ([`rounding::Table`]), built once.
fn table(f: &Function, env: &[(&str, f64)]) -> Rc<rounding::Table> {
    let mut h = rustc_hash::FxHasher::default();
    f.program.digest().hash(&mut h);
    match &f.shape {
        Shape::Scalar { out } => out.hash(&mut h),
        Shape::Field { coeffs, .. } => coeffs.iter().for_each(|(_, v)| v.hash(&mut h)),
    }
    f.reflected.hash(&mut h);
    let head = [h.finish(), f.program.ops.len() as u64];
    let bits = env.iter().map(|p| p.1.to_bits());
    with_key(&head, bits, |key| {
        TABLES.with(|tables| {
            if let Some(t) = tables.borrow().get(key) {
                return Rc::clone(t);
            }
            // An upper regime's times: `1 - s` of each is exact.
            let reflected: Vec<&str> = match &f.shape {
                _ if !f.reflected => Vec::new(),
                Shape::Scalar { .. } => vec!["t"],
                Shape::Field { times, .. } => times.iter().map(String::as_str).collect(),
            };
            let t = Rc::new(rounding::Table::new(
                &f.program,
                env,
                &outputs_of(f),
                &reflected,
            ));
            tables.borrow_mut().insert(key.to_vec(), Rc::clone(&t));
            t
        })
    })
}

/// Calls `use_key` with `head` and then `rest` as one slice, on the stack where they are
/// few: the keys of the search's memos ([`TABLES`], [`ROWS`]) are looked up for every
/// row of every search and mostly found, so that only a new key is worth an allocation.
fn with_key<R>(
    head: &[u64],
    rest: impl ExactSizeIterator<Item = u64>,
    use_key: impl FnOnce(&[u64]) -> R,
) -> R {
    const FEW: usize = 12;
    let n = head.len() + rest.len();
    if n > FEW {
        return use_key(&head.iter().copied().chain(rest).collect::<Vec<u64>>());
    }
    let mut buf = [0u64; FEW];
    for (slot, w) in buf.iter_mut().zip(head.iter().copied().chain(rest)) {
        *slot = w;
    }
    use_key(&buf[..n])
}

/// A first-order bound on the rounding error of each output of `f`'s body at `env` with
/// the operations `wide` marks in double-double, in ulps ([`rounding`]; 0 where a guard
/// returns a constant, or where the bound is not finite and the measured error alone
/// counts), dispatched to the upper regime and the cells as [`body`] is.
fn bound(f: &Function, wide: &[bool], env: &[(&str, f64)]) -> Vec<f64> {
    let outs = outputs_of(f).len();
    if guarded(f, env) {
        return vec![0.0; outs];
    }
    if let Some(up) = &f.upper
        && in_upper(f, env)
    {
        return bound(up, &up.wide, &reflected_env(f, env));
    }
    let wide = cell_wide(f, wide, env);
    table(f, env).bounds(wide)
}

/// The bound on the error of `f` at `env` from the bounds `bs` of its outputs there
/// ([`bound`]), where its body computed the outputs `first` (ordinary ones: no `Xd`
/// fallback): in ulps for a scalar or a lone coefficient (`scale == 0`), else in ulps of
/// `scale`.
fn bound_at(f: &Function, env: &[(&str, f64)], bs: &[f64], first: &[f64], scale: f64) -> f64 {
    match &f.shape {
        Shape::Scalar { .. } => bs[0],
        Shape::Field { coeffs, .. } => {
            let input = |name: &str| env.iter().find(|(n, _)| *n == name).map_or(0.0, |p| p.1);
            let terms = coeffs.iter().zip(bs.iter().zip(first));
            if scale == 0.0 {
                // One input is 1 and the others 0: the coefficient's own ulps.
                terms
                    .filter(|((name, _), _)| input(name) != 0.0)
                    .map(|(_, (&b, _))| b)
                    .fold(0.0, f64::max)
            } else {
                terms
                    .map(|((name, _), (&b, &c))| (input(name) * b * check::ulp(c)).abs())
                    .sum::<f64>()
                    / check::ulp(scale)
            }
        }
    }
}

/// What running an operation in double-double costs, in f64 additions as [`cost`] counts
/// them: the runtime's times without a hardware fused multiply-add, measured (a sum or
/// product some 3.5 ns, a quotient 28, `exp` 110, `ln` 160, `sin` and `cos` 270, `tan`
/// 300, against 0.5 for an f64 sum and 6 for an f64 `exp`).
fn wide_cost(op: &Op) -> f64 {
    match op {
        Op::Call(f, _) => match f {
            Func::Abs => 1.0,
            Func::Exp | Func::Expm1 => 220.0,
            Func::Sinh | Func::Cosh | Func::Tanh | Func::Sigmoid => 250.0,
            Func::Log | Func::Log1p => 330.0,
            Func::Sin | Func::Cos => 520.0,
            _ => 700.0,
        },
        Op::PowF(..) => 550.0,
        Op::Div(..) => 55.0,
        Op::Sqrt(_) => 16.0,
        Op::PowI(_, n) => 7.0 * f64::from(n.unsigned_abs().max(2).ilog2() + 1),
        _ => 7.0,
    }
}

/// The operations of `f` to run in double-double to meet the rows of `case`: none if f64
/// throughout meets them; else, repeatedly at the row that misses it
/// most, the operations whose error there ([`contributions`]) is largest for what moving
/// them costs ([`wide_cost`]), those with a quarter of the best gain or more, then an
/// eighth, and so on, until the rows
/// are met; all of them if that is what it takes, or after [`MAX_ROUNDS`] rounds (or if
/// the budget is below one ulp, which f64 rounding at every operation cannot promise).
fn search(f: &Function, case: &Case, budget: f64) -> Vec<bool> {
    let n = f.program.ops.len();
    let all = |w: bool| vec![w; n];
    if budget < 1.0 {
        return all(true);
    }
    // The rows' numbers, worked out once for every trial below.
    let ids: Vec<u32> = case.rows.iter().map(row_id).collect();
    // A long program gets the two ends of the search only: a round costs one run of the
    // program per operation.
    if n > SEARCH_OPS {
        return all(!meets(f, &all(false), case, &ids));
    }
    let mut wide = all(false);
    for round in 0..MAX_ROUNDS {
        // The share of the best gain an operation needs to move: a quarter, then less
        // each round, so that a long tail of small errors moves in a few rounds.
        let share = 0.25 / (1u32 << round.min(20)) as f64;
        if exhausted() {
            return all(true);
        }
        let Some(args) = worst_miss(f, &wide, case, &ids) else {
            return prune(f, case, &ids, wide);
        };
        if wide.iter().all(|&w| w) {
            return wide;
        }
        let c = contributions(f, &args);
        // Error removed per unit of cost.
        let gain = |i: usize| c[i] / wide_cost(&f.program.ops[i]);
        let best = (0..n).filter(|&i| !wide[i]).map(gain).fold(0.0, f64::max);
        if best > 0.0 {
            let moved: Vec<usize> = (0..n)
                .filter(|&i| !wide[i] && gain(i) >= best * share)
                .collect();
            for i in moved {
                wide[i] = true;
            }
        } else {
            // Nothing to blame (an error from the wide-range path): everything wide.
            wide.fill(true);
        }
    }
    all(true)
}

/// `wide`, which meets the rows of `case`, with every operation moved back to f64 that
/// the rows are still met without: the blame of [`search`] is a first-order estimate at
/// one row, and an operation it moved early can turn out not to be needed once others
/// are wide. Functions first, the costliest first ([`wide_cost`], later operations first
/// among equals), each either alone or, where that misses, with every arithmetic
/// operation wide instead (`sin` of a double-double argument is corrected to first order
/// in f64, and its few ulps of rounding then survive exact products and quotients, where
/// `sin` in double-double is a series of some twenty products); then the arithmetic, in
/// the same order.
fn prune(f: &Function, case: &Case, ids: &[u32], mut wide: Vec<bool>) -> Vec<bool> {
    let ops = &f.program.ops;
    let expensive = |op: &Op| matches!(op, Op::Call(..) | Op::PowF(..));
    let by_cost = |wide: &[bool], pick: &dyn Fn(&Op) -> bool| {
        let mut order: Vec<usize> = (0..wide.len())
            .filter(|&i| wide[i] && pick(&ops[i]))
            .collect();
        order.sort_by(|&a, &b| {
            wide_cost(&ops[b])
                .total_cmp(&wide_cost(&ops[a]))
                .then(b.cmp(&a))
        });
        order
    };
    for i in by_cost(&wide, &expensive) {
        if exhausted() {
            return wide;
        }
        wide[i] = false;
        if meets(f, &wide, case, ids) {
            continue;
        }
        let mut arithmetic = wide.clone();
        for (j, op) in ops.iter().enumerate() {
            if !expensive(op) && !matches!(op, Op::Input(_) | Op::Const { .. }) {
                arithmetic[j] = true;
            }
        }
        if meets(f, &arithmetic, case, ids) {
            wide = arithmetic;
        } else {
            wide[i] = true;
        }
    }
    for i in by_cost(&wide, &|op| !expensive(op)) {
        if exhausted() {
            break;
        }
        wide[i] = false;
        if !meets(f, &wide, case, ids) {
            wide[i] = true;
        }
    }
    wide
}

/// The arguments of the row of `case` that `f` (with the operations `wide` marks in
/// double-double, and the `Xd` fallback) misses by the largest factor of its bound
/// ([`miss`]); None when it meets every row.
fn worst_miss(f: &Function, wide: &[bool], case: &Case, ids: &[u32]) -> Option<Vec<f64>> {
    let trial = Trial::of(f, wide);
    case.rows
        .iter()
        .zip(ids)
        .map(|(r, &id)| (r, miss(f, wide, r, id, &trial)))
        .filter(|(_, q)| q.is_nan() || *q > 1.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(r, _)| r.args.clone())
}

/// Whether `f` (as for [`worst_miss`]) meets every row of `case`; it stops at the first
/// miss, and starts at the row of `case` that missed last ([`LAST_MISS`]): the choices
/// [`prune`] tries differ by one operation, and one that is needed is mostly needed at
/// the same row.
fn meets(f: &Function, wide: &[bool], case: &Case, ids: &[u32]) -> bool {
    let trial = Trial::of(f, wide);
    let last = LAST_MISS.with(|m| {
        let m = m.borrow();
        let args = m.as_ref()?;
        case.rows.iter().position(|r| {
            r.args.len() == args.len() && r.args.iter().zip(args).all(|(a, b)| a.to_bits() == *b)
        })
    });
    let order = last
        .into_iter()
        .chain((0..case.rows.len()).filter(|&i| Some(i) != last));
    for i in order {
        let q = miss(f, wide, &case.rows[i], ids[i], &trial);
        if q.is_nan() || q > 1.0 {
            let args = case.rows[i].args.iter().map(|a| a.to_bits()).collect();
            LAST_MISS.with(|m| *m.borrow_mut() = Some(args));
            return false;
        }
    }
    true
}

/// One choice of operations under trial on the rows of a measurement: what [`miss`]
/// charges for a run of `f`'s program ([`cost`]), with the operations `wide` marks in
/// double-double and all of them in the `Xd` fallback (four times double-double), and
/// the search's state it runs in ([`state_of`]), which keys [`MISSES`].
struct Trial {
    run: f64,
    fallback: f64,
    state: u32,
    /// Whether `f` reads its times alone ([`reads_times_alone`]).
    times_alone: bool,
}

impl Trial {
    fn of(f: &Function, wide: &[bool]) -> Trial {
        Trial {
            run: cost(f, wide),
            fallback: 4.0 * cost(f, &vec![true; wide.len()]),
            state: state_of(f, wide),
            times_alone: reads_times_alone(f),
        }
    }
}

/// Whether what `f`'s body computes depends on its times alone: no program of its own,
/// its guards' or its upper regime's reads an input, and no guard tests one. A field's
/// coefficients are functions of the times, and so are its rows' outputs, one row per
/// coefficient and one at [`super::measure::FIELD_INPUTS`] ([`Eval`]).
fn reads_times_alone(f: &Function) -> bool {
    let program = |p: &super::lower::Program| {
        p.ops
            .iter()
            .all(|op| !matches!(op, Op::Input(name) if !is_time(f, name)))
    };
    program(&f.program)
        && f.guards.iter().all(|g| {
            g.at.iter().all(|(name, _)| is_time(f, name))
                && match &g.body {
                    GuardBody::Program(p, _) => program(p),
                    GuardBody::Constants(_) => true,
                }
        })
        && f.upper.as_deref().is_none_or(reads_times_alone)
}

/// Everything [`miss`] reads of `f` besides the row, for `wide`: its branch and the
/// upper regime's, the guards and poles (by number: they are removed around the search,
/// never during it) and the form. Equal states give equal misses on equal rows.
#[derive(Clone, PartialEq, Eq, Hash)]
struct State {
    own: Branch,
    upper: Option<Branch>,
    guards: usize,
    poles: usize,
    naive: bool,
    reflected: bool,
}

/// A program (by its digest), its operations in double-double, and its cells' and its
/// steps toward the data end's.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Branch {
    digest: u64,
    wide: Vec<bool>,
    cells: Vec<CellBits>,
    toward: Option<(Vec<CellBits>, Vec<bool>)>,
}

/// A cell's bound as bits and its operations in double-double.
type CellBits = (u64, Vec<bool>);

impl Branch {
    fn of(f: &Function, wide: &[bool]) -> Branch {
        Branch {
            digest: f.program.digest(),
            wide: wide.to_vec(),
            cells: cell_bits(&f.cells),
            toward: f
                .toward
                .as_ref()
                .map(|w| (cell_bits(&w.cells), w.wide.clone())),
        }
    }
}

/// Cells with their bounds as bits, for hashing.
fn cell_bits(cells: &[(f64, Vec<bool>)]) -> Vec<CellBits> {
    cells
        .iter()
        .map(|(b, w)| (b.to_bits(), w.clone()))
        .collect()
}

/// A number for the state of the search that `f` and `wide` make ([`State`]), the same
/// for equal states while [`choose`] is on one function.
fn state_of(f: &Function, wide: &[bool]) -> u32 {
    let state = State {
        own: Branch::of(f, wide),
        upper: f.upper.as_ref().map(|u| Branch::of(u, &u.wide)),
        guards: f.guards.len(),
        poles: f.poles.len(),
        naive: f.form == Form::Naive,
        reflected: f.reflected,
    };
    STATES.with(|states| {
        let mut states = states.borrow_mut();
        let next = states.len() as u32;
        *states.entry(state).or_insert(next)
    })
}

/// The error of `f` at row `r` with the operations `wide` marks in double-double (and the
/// `Xd` fallback) as a share of the row's bound: the larger of the error measured and the
/// first-order bound ([`bound_at`]; none where the fallback takes over). Worked out once
/// per state and row ([`MISSES`]: the cells of [`bisect`] search the rows of the cell
/// they split again, and 40 % of the runs were repeats); charged every time, so that the
/// allowance, and with it the choice, is what it would be without the memo.
fn miss(f: &Function, wide: &[bool], r: &Row, id: u32, trial: &Trial) -> f64 {
    let key = u64::from(trial.state) << 32 | u64::from(id);
    let known = MISSES.with(|m| m.borrow().get(&key).copied());
    let (q, fell_back) = known.unwrap_or_else(|| {
        let found = miss_at(f, wide, r, trial);
        MISSES.with(|m| m.borrow_mut().insert(key, found));
        found
    });
    charge(trial.run);
    if fell_back {
        charge(trial.fallback);
    }
    q
}

/// A number for the row `r` (its reference, scale, bound and arguments, their bits), the
/// same for equal rows while [`choose`] is on one function.
fn row_id(r: &Row) -> u32 {
    let head = [r.want, r.scale, r.bound].map(f64::to_bits);
    let bits = r.args.iter().map(|a| a.to_bits());
    with_key(&head, bits, |key| {
        ROWS.with(|rows| {
            if let Some(&id) = rows.borrow().get(key) {
                return id;
            }
            let mut rows = rows.borrow_mut();
            let next = rows.len() as u32;
            rows.insert(key.to_vec(), next);
            next
        })
    })
}

/// What [`miss_at`] works out of `f`'s body at the times of a row, in a state of the
/// search ([`State`]): its outputs, whether they are ordinary ones, and, where asked for,
/// the `Xd` fallback's outputs and the bounds of [`bound`]. The rows of one time (a
/// field's, one per coefficient and one at its reference inputs) share it: they follow
/// one another, and a run of the program and a bound at every row was most of the work
/// of the search.
struct Eval {
    state: u32,
    /// The bits of the row's times, or of all its arguments where the body reads more
    /// ([`reads_times_alone`]).
    key: Vec<u64>,
    first: Vec<f64>,
    ordinary: bool,
    fallback: Option<Vec<f64>>,
    bounds: Option<Vec<f64>>,
}

thread_local! {
    /// The last [`Eval`] of the current function ([`forget_models`] clears it).
    static LAST_EVAL: RefCell<Option<Eval>> = const { RefCell::new(None) };
}

/// [`miss`] worked out, and whether the `Xd` fallback ran.
fn miss_at(f: &Function, wide: &[bool], r: &Row, trial: &Trial) -> (f64, bool) {
    let env = bind(f, &r.args);
    let read = if trial.times_alone {
        r.args.len() - time_count(f)
    } else {
        0
    };
    let key = &r.args[read..];
    LAST_EVAL.with(|last| {
        let mut last = last.borrow_mut();
        let fresh = last.as_ref().is_none_or(|e| {
            e.state != trial.state
                || e.key.len() != key.len()
                || e.key.iter().zip(key).any(|(a, b)| *a != b.to_bits())
        });
        if fresh {
            let naive = f.form == Form::Naive;
            let first = if naive {
                body::<f64, f64>(f, &[], &env)
            } else {
                body::<f64, Dd>(f, wide, &env)
            };
            *last = Some(Eval {
                state: trial.state,
                key: key.iter().map(|a| a.to_bits()).collect(),
                ordinary: naive || ordinary(&times_of(f, &env), &first),
                first,
                fallback: None,
                bounds: None,
            });
        }
        let e = last.as_mut().expect("set above");
        if f.form == Form::Naive {
            let got = combine(f, &env, &e.first);
            return (check::error(got, r.want, r.scale) / r.bound, false);
        }
        let got = if e.ordinary {
            combine(f, &env, &e.first)
        } else {
            let fallback = e
                .fallback
                .get_or_insert_with(|| body::<Xd, Xd>(f, &[], &env));
            combine(f, &env, fallback)
        };
        let measured = check::error(got, r.want, r.scale);
        // Where the measured error already misses, the bound need not be worked out. The
        // bound is a worst case already: it needs no margin ([`SEARCH_MARGIN`]) below the
        // budget, which a scalar's or coefficient's row keeps for what sampling can miss.
        let bounded = if e.ordinary && measured <= r.bound {
            let margin = if r.scale == 0.0 { SEARCH_MARGIN } else { 0.0 };
            let bs = e.bounds.get_or_insert_with(|| bound(f, wide, &env));
            bound_at(f, &env, bs, &e.first, r.scale) * r.bound / (r.bound + margin)
        } else {
            0.0
        };
        (measured.max(bounded) / r.bound, !e.ordinary)
    })
}

/// The rounds [`search`] takes before it settles for double-double throughout: each
/// costs a measurement of every row and one run per operation, and the bundled library
/// needs at most 9.
const MAX_ROUNDS: usize = 16;

/// The longest program [`search`] looks into (the bundled library's longest has under 250
/// operations); a longer one runs all in f64 if that meets the budget, else all in
/// double-double.
const SEARCH_OPS: usize = 1_000;

/// The margin the search keeps below the budget, in ulps: an error at an unsampled time
/// can exceed the largest sampled one (errors of scalar functions are whole ulps).
pub const SEARCH_MARGIN: f64 = 0.5;

/// How many times of each kind [`dense_rows`] samples.
const DENSE: usize = 96;

/// More rows for the search, between the reference rows: `DENSE` times log-uniform in
/// [2^-24, 1/2], as many at the same distances from 1, as many uniform in (0, 1) and as
/// many log-uniform in [1e-300, 2^-24] (where the emitted code falls back to `Xd`, unless
/// the form meets its budget there without); steps to `3t/4`, small steps and final
/// steps ([`rows_at`]). Their reference
/// is the stable program itself run in `Xd` (about 106 bits, no cancellation left to
/// lose them: the certified rows check that), a scalar's value or each coefficient alone.
fn dense_rows(f: &Function, bound: f64) -> Vec<Row> {
    let lo = (2f64.powi(-24)).ln();
    let hi = 0.5f64.ln();
    let mut ts = Vec::with_capacity(4 * DENSE);
    for k in 0..DENSE {
        let u = (k as f64 + 0.5) / DENSE as f64;
        let d = (lo + (hi - lo) * u).exp();
        // And the tiny times, log-uniform in [1e-300, 2^-24].
        let tiny = (-690.0 + (lo + 690.0) * u).exp();
        ts.extend([d, 1.0 - d, u, tiny]);
    }
    let grid = on_zero_grid(f);
    ts.extend(near_zeros(f, &grid));
    ts.extend(binade_edges(f, &grid));
    let mut rows = rows_at(f, &ts, bound);
    rows.extend(rows_at_points(f, near_step_zeros(f), bound));
    rows.extend(rows_at_points(f, spread_steps(f), bound));
    rows
}

/// Steps spread over the whole square of times, `SPREAD_STEPS` points `(t, t_next)` of
/// the R2 sequence (the plastic number's low-discrepancy sequence in two dimensions),
/// half towards the data end and half inversion steps. The other rows follow lines
/// (`t_next = 3t/4`, short steps, final steps, inversions on a dyadic grid), and between
/// them a long step can lose digits that none of them sees: from t = 0.82 to 0.49,
/// `sigma_n - alpha_n sigma/alpha` of `alpha = exp(-5 t^2)` was 6 ulps off in a form
/// that met the budget on every line.
fn spread_steps(f: &Function) -> Vec<(f64, f64)> {
    if time_count(f) != 2 {
        return Vec::new();
    }
    // 1/g and 1/g^2 for the plastic number g (g^3 = g + 1).
    const A1: f64 = 0.754_877_666_246_692_7;
    const A2: f64 = 0.569_840_290_998_053_2;
    (1..=SPREAD_STEPS)
        .map(|k| {
            let k = k as f64;
            ((0.5 + k * A1).fract(), (0.5 + k * A2).fract())
        })
        .filter(|(t, t_next)| t != t_next && *t > 0.0 && *t_next > 0.0)
        .collect()
}

/// How many steps [`spread_steps`] samples.
const SPREAD_STEPS: usize = 768;

/// Points ever closer to the zeros of a step's coefficients across `t_next`, at each
/// time of a grid: a coefficient such as an Euler step's `1 + (t_next - t) f(t)`
/// vanishes on a curve of inversion steps (`t_next > t`), which no line `t_next = r t`
/// follows (sd3_shift's Euler score step from 0.164 to 0.534 was 3629 ulps off next to
/// it). Sign changes on a grid of [`STEP_GRID`] by [`STEP_GRID`] points `(t, t_next)`,
/// `t_next` up to `1 - 1/STEP_GRID` (where the program in `Xd` is still a reference),
/// narrowed in `t_next` by bisection; then `t_next0 (1 +/- 2^-k)` for k = 8, 16, ..., 40.
/// And the grid's inversion steps, midway between its points in `t_next`.
fn near_step_zeros(f: &Function) -> Vec<(f64, f64)> {
    if time_count(f) != 2 {
        return Vec::new();
    }
    let n = STEP_GRID as f64;
    let at = |t: f64, t_next: f64| body::<Xd, Xd>(f, &[], &[("t", t), ("t_next", t_next)]);
    let mut points = Vec::new();
    for i in 1..STEP_GRID {
        let t = i as f64 / n;
        // The inversion steps of the grid themselves, off its dyadic times, where a
        // coefficient cancels without vanishing (towards `t_next = 1`).
        points.extend(
            (0..STEP_GRID)
                .map(|j| (j as f64 + 0.5) / n)
                .filter(|&t_next| t_next > t)
                .map(|t_next| (t, t_next)),
        );
        let line: Vec<(f64, Vec<f64>)> = (0..STEP_GRID)
            .map(|j| {
                let t_next = j as f64 / n;
                (t_next, at(t, t_next))
            })
            .collect();
        for pair in line.windows(2) {
            let ((a, va), (b, vb)) = (&pair[0], &pair[1]);
            for (k, (&x, &y)) in va.iter().zip(vb).enumerate() {
                if !(x.is_finite() && y.is_finite() && x * y < 0.0) {
                    continue;
                }
                let lo = narrow_sign_change((*a, *b), |mid| {
                    let v = at(t, mid)[k];
                    v.is_finite().then_some(v * x > 0.0)
                });
                for e in (8..=40).step_by(8) {
                    let d = lo * 2f64.powi(-e);
                    points.extend(
                        [lo - d, lo + d]
                            .into_iter()
                            .filter(|s| *s > 0.0 && *s < 1.0)
                            .map(|s| (t, s)),
                    );
                }
            }
        }
    }
    points
}

/// The grid [`near_step_zeros`] looks for sign changes on, in each time.
const STEP_GRID: usize = 32;

/// The values of a function of `t` alone (its value or each coefficient) run in `Xd` at
/// the times `k / ZERO_GRID`, 0 < k < [`ZERO_GRID`]; none for a function of two times.
fn on_zero_grid(f: &Function) -> Vec<(f64, Vec<f64>)> {
    if time_count(f) != 1 {
        return Vec::new();
    }
    (1..ZERO_GRID)
        .map(|k| {
            let t = k as f64 / ZERO_GRID as f64;
            (t, body::<Xd, Xd>(f, &[], &[("t", t)]))
        })
        .collect()
}

/// Times ever closer to each zero in (0, 1) of a function of `t` alone (of its value or
/// of a coefficient): `t0 +/- 2^-k` for `k` from 5 to 52. Next to a zero the error a
/// rounding causes, relative to the value, grows without bound, and evenly spread
/// samples would pass next to it (the linear VP schedule's `lambda` vanishes at
/// t = 0.258960...: an f64 logarithm there is 26 ulps off at 4.3e-4 from it). Zeros are
/// sign changes of the values on the grid ([`on_zero_grid`]), narrowed by bisection.
fn near_zeros(f: &Function, grid: &[(f64, Vec<f64>)]) -> Vec<f64> {
    let at = |t: f64| body::<Xd, Xd>(f, &[], &[("t", t)]);
    let mut ts = Vec::new();
    for pair in grid.windows(2) {
        let ((a, va), (b, vb)) = (&pair[0], &pair[1]);
        for (k, (&x, &y)) in va.iter().zip(vb).enumerate() {
            if !(x.is_finite() && y.is_finite() && x * y < 0.0) {
                continue;
            }
            let lo = narrow_sign_change((*a, *b), |mid| Some(at(mid)[k] * x > 0.0));
            ts.push(lo);
            for e in 5..=52 {
                let d = 2f64.powi(-e);
                ts.extend(
                    [lo - d, lo + d]
                        .into_iter()
                        .filter(|t| *t > 0.0 && *t < 1.0),
                );
            }
        }
    }
    ts
}

/// The two times on either side of each point where a value on the grid
/// ([`on_zero_grid`]) crosses a power of two. An error is counted in ulps of the value,
/// which halve where it crosses one upward: just below it, the same absolute error is
/// twice as many ulps as just above, and a bound met at evenly spread times can be
/// missed in the sliver between the crossing and the nearest of them (`lambda = -ln(10
/// t)` was 4.5 ulps off where it falls below 1/2, at t = 0.0607...0.0625).
fn binade_edges(f: &Function, grid: &[(f64, Vec<f64>)]) -> Vec<f64> {
    let at = |t: f64| body::<Xd, Xd>(f, &[], &[("t", t)]);
    let exponent = |v: f64| (v != 0.0 && v.is_finite()).then(|| v.abs().log2().floor());
    let mut ts = Vec::new();
    for pair in grid.windows(2) {
        let ((a, va), (b, vb)) = (&pair[0], &pair[1]);
        for (k, (&x, &y)) in va.iter().zip(vb).enumerate() {
            let (Some(ex), Some(ey)) = (exponent(x), exponent(y)) else {
                continue;
            };
            if ex == ey || x * y < 0.0 {
                continue;
            }
            let lo = narrow_sign_change((*a, *b), |mid| exponent(at(mid)[k]).map(|e| e == ex));
            let hi = lo.next_up();
            ts.extend([lo, hi].into_iter().filter(|t| *t < *b));
        }
    }
    ts
}

/// The lower end of `(lo, hi)` narrowed by bisection (60 halvings at most, or until the
/// midpoint is an end) around a sign change: `same(mid)` says whether `mid` has the sign
/// of `lo`, None stops the search where the value is not known.
fn narrow_sign_change((mut lo, mut hi): (f64, f64), same: impl Fn(f64) -> Option<bool>) -> f64 {
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        match same(mid) {
            Some(true) => lo = mid,
            Some(false) => hi = mid,
            None => break,
        }
    }
    lo
}

/// The grid [`on_zero_grid`] evaluates a function of `t` on.
const ZERO_GRID: usize = 256;

/// Rows of `f` at the times `ts` (steps to `3t/4`, to `t (1 - 2^-10)` as a sampler of
/// a thousand steps takes them, where a difference of the two times' values cancels
/// most, and the final step to 0), their reference the stable program itself run in `Xd` (see [`dense_rows`]).
fn rows_at(f: &Function, ts: &[f64], bound: f64) -> Vec<Row> {
    let step = matches!(&f.shape, Shape::Field { times, .. } if times.len() == 2);
    let mut at: Vec<(f64, f64)> = ts.iter().map(|&t| (t, 0.75 * t)).collect();
    if step {
        at.extend(ts.iter().map(|&t| (t, t - t / 1024.0)));
        at.extend(ts.iter().map(|&t| (t, 0.0)));
    }
    rows_at_points(f, at, bound)
}

/// Rows of `f` at the points `(t, t_next)` of `at` (`t_next` unused for a function of
/// `t` alone), their reference the stable program itself run in `Xd`.
fn rows_at_points(f: &Function, at: Vec<(f64, f64)>, bound: f64) -> Vec<Row> {
    let mut rows = Vec::new();
    for (t, t_next) in at {
        let (args, times): (Vec<f64>, Vec<(&str, f64)>) = match &f.shape {
            Shape::Scalar { .. } => (vec![t], vec![("t", t)]),
            Shape::Field { inputs, times, .. } => {
                let mut args = vec![0.0; inputs.len()];
                let mut env = Vec::new();
                for name in times {
                    let v = if name == "t" { t } else { t_next };
                    args.push(v);
                    env.push((name.as_str(), v));
                }
                (args, env)
            }
        };
        let want = body::<Xd, Xd>(f, &[], &times);
        if !want.iter().all(|w| w.is_finite()) {
            continue;
        }
        match &f.shape {
            Shape::Scalar { .. } => rows.push(Row {
                args,
                want: want[0],
                scale: 0.0,
                bound,
            }),
            Shape::Field { inputs, coeffs, .. } => {
                for ((name, _), w) in coeffs.iter().zip(want) {
                    let mut args = args.clone();
                    if let Some(k) = inputs.iter().position(|i| i == name) {
                        args[k] = 1.0;
                    }
                    rows.push(Row {
                        args,
                        want: w,
                        scale: 0.0,
                        bound,
                    });
                }
            }
        }
    }
    rows
}

/// The deepest [`bisect`] goes: cells down to 1/16 of [0, 1].
const CELL_DEPTH: u32 = 4;

/// The rows [`bisect`] adds in every cell it searches, spread over it.
const CELL_ROWS: usize = 16;

/// Gives `f` cells ([`Function::cells`]) where that lowers its cost over `t` in [0, top]:
/// [`bisect`] from the operations `f.wide` already has for the whole range (chosen on
/// `rows`), adjacent cells with the same operations merged.
fn split_cells(f: &mut Function, rows: &Case, top: f64, budget: f64) {
    let whole = f.wide.clone();
    let parts = bisect(f, rows, (0.0, top), top, CELL_DEPTH, budget, whole, false);
    (f.cells, f.wide) = merged(parts);
}

/// The cells [`bisect`] gives, adjacent ones with the same operations merged, and the
/// last one's operations apart: [`Function::cells`] and [`Function::wide`].
fn merged(parts: Vec<(f64, Vec<bool>)>) -> (Vec<(f64, Vec<bool>)>, Vec<bool>) {
    let mut merged: Vec<(f64, Vec<bool>)> = Vec::new();
    for (b, w) in parts {
        match merged.last_mut() {
            Some(last) if last.1 == w => last.0 = b,
            _ => merged.push((b, w)),
        }
    }
    let (_, last) = merged.pop().expect("bisect gives at least one cell");
    (merged, last)
}

/// The average over `[0, top]` of the cost of `cells` and, above the last, of `wide`,
/// weighted by width ([`cost`]).
fn average_cost(f: &Function, cells: &[(f64, Vec<bool>)], wide: &[bool], top: f64) -> f64 {
    let mut sum = 0.0;
    let mut start = 0.0;
    for (end, w) in cells {
        sum += cost(f, w) * (end - start);
        start = *end;
    }
    (sum + cost(f, wide) * (top - start)) / top
}

/// Gives the step `f` operations of their own for steps toward the data end
/// ([`Function::toward`]), chosen on the rows of `rows` that take one and split into
/// cells of their own as [`split_cells`] does, where they cost under three quarters of
/// what its cells and the rest of `[0, top]` cost on average (weighted by width). A
/// sampler's step never needs what an inversion step does next to a zero of a
/// coefficient (`1 + h alpha'/alpha` with `h alpha'/alpha` near -1).
fn split_direction(f: &mut Function, rows: &Case, top: f64, budget: f64) {
    if time_count(f) != 2 || exhausted() {
        return;
    }
    let limit = 0.75 * average_cost(f, &f.cells, &f.wide, top);
    if least_cost(f) >= limit * (1.0 + 1e-9) {
        return;
    }
    let sub = rows_where(rows, |r| is_toward(f, &bind(f, &r.args)));
    if sub.rows.is_empty() {
        return;
    }
    let mut alone = f.clone();
    alone.cells.clear();
    alone.toward = None;
    let whole = search(&alone, &sub, budget);
    let parts = bisect(
        &alone,
        &sub,
        (0.0, top),
        top,
        CELL_DEPTH,
        budget,
        whole,
        true,
    );
    let (cells, wide) = merged(parts);
    if average_cost(f, &cells, &wide, top) < limit {
        f.toward = Some(Toward { cells, wide });
    }
}

/// `case` with the rows `keep` keeps, in their order (without cloning the others: the
/// cells of [`bisect`] each take a few of many).
fn rows_where(case: &Case, keep: impl Fn(&Row) -> bool) -> Case {
    Case {
        function: case.function.clone(),
        call: case.call.clone(),
        rows: case.rows.iter().filter(|r| keep(r)).cloned().collect(),
        arity: case.arity,
        form: case.form,
        budget: case.budget,
        outputs: case.outputs,
    }
}

/// The first time of a row's arguments (`t`).
fn row_time(f: &Function, r: &Row) -> f64 {
    let times = time_count(f);
    r.args[r.args.len() - times]
}

/// The cells of `[lo, hi)` (`hi` included where it is `top`), each with its upper bound
/// and operations in double-double: `whole`, the operations chosen for all of it, unless
/// its halves, searched on the rows of `rows` in them and [`CELL_ROWS`] more (steps
/// toward the data end only, where `toward`), and bisected in turn, cost on average
/// (weighted by width) under three quarters of it ([`cost`]). A whole in f64 is not
/// split, and a half is not searched where even the cheapest cells ([`least_cost`]) could
/// not bring the average under three quarters: the emitted cells are the same, at a
/// fraction of the searches.
#[allow(clippy::too_many_arguments, reason = "the recursion's state")]
fn bisect(
    f: &Function,
    rows: &Case,
    (lo, hi): (f64, f64),
    top: f64,
    depth: u32,
    budget: f64,
    whole: Vec<bool>,
    toward: bool,
) -> Vec<(f64, Vec<bool>)> {
    if depth == 0 || !whole.iter().any(|&w| w) || exhausted() {
        return vec![(hi, whole)];
    }
    // The halves are kept only if they cost under `limit`, and no cell costs less than
    // `least`: where that settles it, the searches it would take are left out (with a
    // relative margin far above the rounding of the sums it compares).
    let limit = 0.75 * cost(f, &whole);
    let least = least_cost(f);
    let lost = |average: f64| average >= limit * (1.0 + 1e-9);
    let mid = 0.5 * (lo + hi);
    let mut parts = Vec::new();
    let mut average = 0.0;
    for (a, b) in [(lo, mid), (mid, hi)] {
        if lost((average + least * (hi - a)) / (hi - lo)) {
            return vec![(hi, whole)];
        }
        let inside = |t: f64| t >= a && (t < b || b == top);
        let mut sub = rows_where(rows, |r| inside(row_time(f, r)));
        // Spread by a Weyl sequence, not at (k + 1/2)/n: cell bounds are dyadic, and
        // times of a few bits make products such as 20 t exact, hiding their rounding.
        // And both ends of the cell (inside (0, 1), where guards do not answer): an
        // error bound that grows towards an end, next to a cancellation beyond it, is
        // largest there (`lambda = -ln(10 t)` below t = 1/16, nearing its zero at 1/10).
        let ts: Vec<f64> = (1..=CELL_ROWS)
            .map(|k| a + (b - a) * (k as f64 * 0.618_033_988_749_894_8).fract())
            .chain([a, b.next_down()].into_iter().filter(|&t| t > 0.0))
            .collect();
        let target = rows.budget;
        sub.rows
            .extend(rows_at(f, &ts, target).into_iter().filter(|r| {
                let env = bind(f, &r.args);
                !(f.upper.is_some() && in_upper(f, &env)) && (!toward || is_toward(f, &env))
            }));
        let w = search(f, &sub, budget);
        let cells = bisect(f, rows, (a, b), top, depth - 1, budget, w, toward);
        let mut start = a;
        for (end, w) in &cells {
            average += cost(f, w) * (end - start);
            start = *end;
        }
        parts.extend(cells);
    }
    if average / (hi - lo) < limit {
        parts
    } else {
        vec![(hi, whole)]
    }
}

/// Gives every function the cheapest form that meets `accuracy`, records it in the
/// function and its reference rows (`cases`, in the same order), and returns each chosen
/// form's report on those rows. The search ([`search`]) runs on the reference rows and
/// [`dense_rows`], aiming [`SEARCH_MARGIN`] below the budget; then the upper regime is
/// kept or dropped ([`regimes`]) and each side split into cells ([`split_cells`]); then
/// the `Xd` fallback is
/// left out where the form meets that target without it (at the tiny times too), and so
/// is every guard at fixed times whose value the body computes bit for bit. A function
/// that no form brings within the budget is emitted in double-double throughout, and its
/// report says it failed.
///
/// Functions are independent: they are chosen on as many threads as the machine has
/// (each function's choice is the same on any thread, so the output does not depend on
/// how many).
pub fn choose(functions: &mut [Function], cases: &mut [Case], accuracy: Accuracy) -> Vec<Report> {
    choose_within(functions, cases, accuracy, REFINE_WORK)
}

/// [`choose`] with `allowance` units of refinement work per function in place of
/// [`REFINE_WORK`].
fn choose_within(
    functions: &mut [Function],
    cases: &mut [Case],
    accuracy: Accuracy,
    allowance: u64,
) -> Vec<Report> {
    let work: Vec<Mutex<(&mut Function, &mut Case)>> = functions
        .iter_mut()
        .zip(cases.iter_mut())
        .map(Mutex::new)
        .collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut reports: Vec<(usize, Report)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(work.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = work.get(i) else {
                            return done;
                        };
                        let mut item = item.lock().unwrap_or_else(|e| e.into_inner());
                        let (f, case) = &mut *item;
                        done.push((i, choose_one(f, case, accuracy, allowance)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    reports.sort_by_key(|r| r.0);
    reports.into_iter().map(|r| r.1).collect()
}

/// [`choose`] for one function and its reference rows.
fn choose_one(f: &mut Function, case: &mut Case, accuracy: Accuracy, allowance: u64) -> Report {
    forget_models();
    WORK.with(|w| w.set(0));
    ALLOWANCE.with(|a| a.set(allowance));
    if let Accuracy::Ulps(b) = accuracy {
        let target = (b - SEARCH_MARGIN).max(LEAST_ULPS);
        keep_end_short_steps(f, case, target);
        keep_end_series(f, case, target);
        let mut rows = case.clone();
        // An infinity, and a pole's points, are what guards and `runtime::pole_sum`
        // return, the same in every form: no choice of operations meets them otherwise.
        rows.rows.retain(|r| {
            let env = bind(f, &r.args);
            !r.want.is_infinite() && !f.poles.iter().any(|p| p.applies(&env))
        });
        for r in &mut rows.rows {
            if r.scale == 0.0 {
                r.bound = target;
            }
        }
        let upper = f.upper.take();
        rows.rows.extend(dense_rows(f, target));
        rows.budget = target;
        let wide = search(f, &rows, b);
        f.wide = wide;
        if let Some(up) = upper {
            f.upper = regimes(f, *up, &rows, b);
        }
        let (low, high) = split_rows(f, &rows);
        // Below the upper regime, a function of `t` alone stops at 1/2.
        let one_time = time_count(f) == 1;
        let top = if f.upper.is_some() && one_time {
            UPPER_FROM
        } else {
            1.0
        };
        split_cells(f, &low, top, b);
        split_direction(f, &low, top, b);
        if let Some(up) = &mut f.upper {
            split_cells(up, &high, 1.0 - UPPER_FROM, b);
            split_direction(up, &high, 1.0 - UPPER_FROM, b);
            up.form = Form::of(&up.wide);
        }
        // The rows of an infinity left out above count here: a value beyond the f64
        // range (`snr = cos^4/(1 - cos^4)` at t = 1e-300, 2e599) is no guard's, and
        // double-double, whose denominator underflows to a zero of either sign, can
        // miss its sign where `Xd` does not.
        // A range check's NaN is the fallback's to replace, wherever the rows sample.
        f.fallback = f.checks_ranges()
            || !measured(f, &f.wide, false, &rows).passed()
            || !measured(f, &f.wide, false, case).passed();
        f.form = Form::of(&f.wide);
        elide_series(f, &rows);
        elide_guards(f);
    } else {
        f.guards.retain(|g| g.within.is_none());
    }
    forget_models();
    case.form = f.form;
    measured(f, &f.wide, f.fallback, case)
}

/// The upper regime `up` of `f` ([`Function::upper`]) with its operations chosen on the
/// rows of `rows` where every time is at least [`UPPER_FROM`] (their times reflected), and
/// `f`'s own chosen on the others, if that makes the costlier of the two branches cheaper
/// ([`cost`]) than `f` alone chosen on every row (its operations as `f.wide` has them on
/// entry, which they stay otherwise).
fn regimes(f: &mut Function, mut up: Function, rows: &Case, budget: f64) -> Option<Box<Function>> {
    if exhausted() {
        return None;
    }
    f.upper = Some(Box::new(up.clone()));
    let (low, high) = split_rows(f, rows);
    f.upper = None;
    let wide_low = search(f, &low, budget);
    up.wide = search(&up, &high, budget);
    let alone = cost(f, &f.wide);
    let split = cost(f, &wide_low).max(cost(&up, &up.wide));
    if split < alone {
        up.form = Form::of(&up.wide);
        f.wide = wide_low;
        Some(Box::new(up))
    } else {
        None
    }
}

/// The rows of `rows` that `f`'s body computes itself and those its upper regime does
/// (all and none without one), the latter with their times reflected and without those
/// a guard of `f` takes.
fn split_rows(f: &Function, rows: &Case) -> (Case, Case) {
    let mut low = rows.clone();
    let mut high = rows.clone();
    high.rows.clear();
    if f.upper.is_none() {
        return (low, high);
    }
    let times = time_count(f);
    let first_time = rows.arity - times;
    let upper_row = |r: &Row| r.args[first_time..].iter().all(|&s| s >= UPPER_FROM);
    low.rows.retain(|r| !upper_row(r));
    high.rows = rows
        .rows
        .iter()
        .filter(|r| {
            let env = bind(f, &r.args);
            upper_row(r) && !guarded(f, &env)
        })
        .cloned()
        .collect();
    for r in &mut high.rows {
        for s in &mut r.args[first_time..] {
            *s = 1.0 - *s;
        }
    }
    (low, high)
}

/// A rough cost of running `f` with the operations `wide` marks in double-double, in
/// f64 additions: a libm call some ten, a double-double operation [`wide_cost`].
fn cost(f: &Function, wide: &[bool]) -> f64 {
    f.program
        .ops
        .iter()
        .zip(wide)
        .map(|(op, &w)| op_cost(op, w))
        .sum()
}

/// What [`cost`] counts for one operation, in double-double where `wide`.
fn op_cost(op: &Op, wide: bool) -> f64 {
    match (op, wide) {
        (Op::Input(_) | Op::Const { .. }, _) => 0.0,
        (_, true) => wide_cost(op),
        (Op::Call(..) | Op::PowF(..), false) => 10.0,
        (Op::Sqrt(_) | Op::Div(..), false) => 2.0,
        _ => 1.0,
    }
}

/// The least [`cost`] of `f` over every choice of operations in double-double, each
/// operation at its cheaper (f64 but for `abs`, which is exact either way).
fn least_cost(f: &Function) -> f64 {
    f.program
        .ops
        .iter()
        .map(|op| op_cost(op, false).min(op_cost(op, true)))
        .sum()
}

/// The rows of `case` that `f`'s guard `i` takes (the first guard that applies there),
/// those measured in plain ulps held to `target`.
fn taken_rows(f: &Function, case: &Case, i: usize, target: f64) -> Case {
    let mut taken = case.clone();
    taken.rows.retain(|r| {
        let env = bind(f, &r.args);
        f.guards.iter().position(|g| g.applies(&env)) == Some(i)
    });
    for r in &mut taken.rows {
        if r.scale == 0.0 {
            r.bound = target;
        }
    }
    taken
}

/// Removes each guard of `f`'s short steps next to an end
/// ([`super::end_short_step_guard`]) unless it meets the budget on the rows it takes (an
/// infinity there, a pole at the end, is a miss), the bound of a row measured in plain
/// ulps `target`.
fn keep_end_short_steps(f: &mut Function, case: &Case, target: f64) {
    let mut i = 0;
    while i < f.guards.len() {
        if f.guards[i].within.is_none() {
            i += 1;
            continue;
        }
        let taken = taken_rows(f, case, i, target);
        if taken.rows.is_empty() || !measured(f, &f.wide, true, &taken).passed() {
            f.guards.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Removes each guard made of Taylor polynomials at an end ([`super::end_series_guards`]
/// of a function of `t` alone, [`super::step_series_guards`] of a step) unless, on the
/// rows it takes, the function misses `target` without it and misses it less with it
/// (on fewer rows, or on as many by less), both in the form the search starts with (every
/// operation in double-double): a polynomial is there for a formula that cancels at the
/// end, not to make a cheaper form of one that does not (and the modules of such
/// functions stay as they were without it); nor is it kept where it is no better (a sum
/// replaced inside a quotient whose other sum, not analytic, still cancels with it:
/// `N/(t (1 - t)^2)` with `N` of `t^k log(1 - t)` terms, which the stable rewrites divide
/// by `1 - t` only when the denominator is written in `t`). Rows are counted, not only the
/// worst: a step whose coefficients at `t = 1e-300` are beyond f64 misses there with the
/// guard or without (`inf * 0` where an input is 0), and the guard is what makes the
/// others right.
fn keep_end_series(f: &mut Function, case: &Case, target: f64) {
    let mut i = 0;
    while i < f.guards.len() {
        if f.guards[i].series.is_none() {
            i += 1;
            continue;
        }
        let taken = taken_rows(f, case, i, target);
        let mut without = f.clone();
        without.guards.remove(i);
        let missed = measured(&without, &f.wide, true, &taken);
        // Misses fewer rows with the guard, or as many by less (`beyond_bounds` is never
        // NaN).
        let keep = !missed.passed() && {
            let with = measured(f, &f.wide, true, &taken);
            (missed_rows(f, &taken), beyond_bounds(&with))
                < (missed_rows(&without, &taken), beyond_bounds(&missed))
        };
        if keep {
            i += 1;
        } else {
            f.guards.remove(i);
        }
    }
}

/// The number of rows of `case` on which `f`, in the form the search starts with (every
/// operation in double-double, with the fallback), misses the row's bound (an error that
/// is not a number misses).
fn missed_rows(f: &Function, case: &Case) -> usize {
    case.rows
        .iter()
        .filter(|r| {
            let got = value(f, &f.wide, true, &r.args);
            let err = super::check::error(got, r.want, r.scale);
            err.is_nan() || err > r.bound
        })
        .count()
}

/// How far a report is from its bounds: the larger ratio of its worst error to its bound,
/// of the values and (a field's) of the value at the checked inputs.
fn beyond_bounds(r: &Report) -> f64 {
    let ratio = |w: &super::measure::Worst| w.max_err / w.bound;
    let value = r.value.as_ref().map_or(0.0, ratio);
    let m = ratio(&r.worst).max(value);
    // NaN (an error that is not a number) is the worst miss.
    if m.is_nan() { f64::INFINITY } else { m }
}

/// Removes the Taylor polynomials of `f`'s steps from near t = 0 ([`super::taylor`]), onto
/// the noise end, and of short steps ([`super::short_step_guard`]) where its program meets
/// the budget on the reference rows without them. The last first: a pole's guard (any
/// `t_next`) covers the final step's (`t_next = 0`), which would otherwise go first and
/// leave the more general one in place where neither is needed.
fn elide_series(f: &mut Function, case: &Case) {
    for i in (0..f.guards.len()).rev() {
        let g = &f.guards[i];
        if g.below.is_some()
            || g.above.is_some()
            || g.next_below.is_some()
            || g.next_above.is_some()
            || g.near.is_some()
            || g.within.is_some()
        {
            let mut without = f.clone();
            without.guards.remove(i);
            if measured(&without, &f.wide, f.fallback, case).passed() {
                f.guards.remove(i);
            }
        }
    }
}

/// Removes the guards of `f` that fix every time it takes and whose values the body
/// computes, in the chosen form, bit for bit without them.
fn elide_guards(f: &mut Function) {
    let times: Vec<String> = match &f.shape {
        Shape::Scalar { .. } => vec!["t".to_owned()],
        Shape::Field { times, .. } => times.clone(),
    };
    let mut i = 0;
    while i < f.guards.len() {
        let g = &f.guards[i];
        if times.iter().all(|t| g.at.iter().any(|(n, _)| n == t)) {
            let env: Vec<(&str, f64)> = g.at.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let with = outputs(f, &f.wide, f.fallback, &env);
            let mut without = f.clone();
            without.guards.remove(i);
            let got = outputs(&without, &f.wide, f.fallback, &env);
            let same = with.len() == got.len()
                && with
                    .iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
            if same {
                f.guards.remove(i);
                continue;
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scalar function `text` of `t`, lowered, with its forms chosen for `accuracy`,
    /// and its report.
    fn chosen(text: &str, accuracy: Accuracy) -> (Function, Report, Case) {
        chosen_within(text, accuracy, REFINE_WORK)
    }

    /// [`chosen`] with `allowance` units of refinement work.
    fn chosen_within(text: &str, accuracy: Accuracy, allowance: u64) -> (Function, Report, Case) {
        let mut pool = crate::expr::Pool::new();
        let e = crate::expr::test_util::parse_in_unit_t(&mut pool, text);
        let f = super::super::scalar_function(&mut pool, "q", e, accuracy.mode()).expect("lowers");
        let mut fs = vec![f];
        let mut cases = super::super::measure::reference_cases(&mut pool, &fs, accuracy);
        let mut reports = choose_within(&mut fs, &mut cases, accuracy, allowance);
        (fs.remove(0), reports.remove(0), cases.remove(0))
    }

    /// No choice of operations costs less than [`least_cost`], which [`bisect`] counts
    /// on to leave out searches; `abs` is cheaper wide than in f64, so the least is not
    /// the cost of f64 throughout.
    #[test]
    fn no_choice_costs_less_than_the_least() {
        let mut pool = crate::expr::Pool::new();
        let e = crate::expr::test_util::parse_in_unit_t(&mut pool, "abs(sin(t) - t)/exp(t) + t^3");
        let f = super::super::scalar_function(&mut pool, "q", e, super::super::Mode::Stable)
            .expect("lowers");
        let n = f.program.ops.len();
        assert!(
            n <= 16
                && f.program
                    .ops
                    .iter()
                    .any(|op| matches!(op, Op::Call(Func::Abs, _)))
        );
        let least = least_cost(&f);
        assert!(least < cost(&f, &vec![false; n]));
        let mut hit = false;
        for mask in 0u32..1 << n {
            let wide: Vec<bool> = (0..n).map(|i| mask >> i & 1 == 1).collect();
            let c = cost(&f, &wide);
            assert!(c >= least, "{wide:?}: {c} < {least}");
            hit |= c == least;
        }
        assert!(hit, "the least is the cost of some choice");
    }

    /// `cos(1) - cos(1 + t) - t sin(1)` is of order `t^2`, its terms of order 1 (after
    /// sum to product, `2 sin(1 + t/2) sin(t/2)`, still of order t): at t = 1e-40 no
    /// precision fixed in advance resolves it. The budget keeps the guard of its Taylor
    /// polynomial at 0, and the function meets its rows. `sin(t)` vanishes at 0 as well,
    /// without cancelling, and keeps no such guard. Expected values from mpmath at 3000
    /// bits.
    #[test]
    fn a_sum_that_cancels_at_an_end_runs_its_taylor_polynomial_there() {
        let (f, report, _) = chosen("cos(1) - cos(1 + t) - t*sin(1)", Accuracy::default());
        assert!(report.passed(), "{report:?}");
        assert!(f.guards.iter().any(|g| g.below.is_some()), "{:?}", f.guards);
        for (t, want) in [
            (1e-300, 0.0),
            (1e-40, 2.7015115293406984e-81),
            (1e-10, 2.7015115292004535e-21),
            (2f64.powi(-20), 2.4570092062807665e-13),
            (0.25, 0.014612197270896925),
        ] {
            let got = value(&f, &f.wide, f.fallback, &[t]);
            let err = super::super::check::ulps(got, want);
            assert!(err <= 4.0, "at {t:e}: {got:e}, want {want:e}: {err} ulps");
        }
        let (f, report, _) = chosen("sin(t)", Accuracy::default());
        assert!(report.passed(), "{report:?}");
        assert!(
            f.guards
                .iter()
                .all(|g| g.below.is_none() && g.above.is_none()),
            "{:?}",
            f.guards
        );
    }

    /// The guard of a sum's Taylor polynomial is kept where the function misses its rows
    /// without it and misses them by less with it, and not where it is no better: here a
    /// guard whose value is NaN, against a formula off by 6.9e18 ulps.
    #[test]
    fn a_series_guard_no_better_than_its_formula_is_left_out() {
        let mut pool = crate::expr::Pool::new();
        let e =
            crate::expr::test_util::parse_in_unit_t(&mut pool, "cos(1) - cos(1 + t) - t*sin(1)");
        let accuracy = Accuracy::default();
        let mut f =
            super::super::scalar_function(&mut pool, "q", e, accuracy.mode()).expect("lowers");
        let cases = super::super::measure::reference_cases(&mut pool, &[f.clone()], accuracy);
        let i = f
            .guards
            .iter()
            .position(|g| g.below.is_some())
            .expect("a series guard");
        let mut kept = f.clone();
        keep_end_series(&mut kept, &cases[0], 4.0);
        assert!(kept.guards.iter().any(|g| g.below.is_some()));
        f.guards[i].body = GuardBody::Constants(vec![f64::NAN]);
        keep_end_series(&mut f, &cases[0], 4.0);
        assert!(f.guards.iter().all(|g| g.below.is_none()), "{:?}", f.guards);
    }

    /// A search cut short by its work allowance keeps a choice that meets the budget,
    /// only a costlier one; the full search finds a cheaper one within the allowance.
    #[test]
    fn a_search_out_of_work_keeps_a_choice_within_the_budget() {
        let text = "exp(-t/10 - 199*t^2/20)";
        let (full, full_report, _) = chosen(text, Accuracy::default());
        let (cut, cut_report, _) = chosen_within(text, Accuracy::default(), 0);
        assert!(full_report.passed(), "{full_report:?}");
        assert!(cut_report.passed(), "{cut_report:?}");
        // All in f64 misses the budget (the test above), so the first round cannot end
        // the search, and the cut one settles for double-double throughout.
        // Nor does it look for regimes.
        assert_eq!(cut.form, Form::Dd, "{:?}", cut.form);
        assert!(cut.upper.is_none());
        assert!(cost(&full, &full.wide) < cost(&cut, &cut.wide));
    }

    #[test]
    fn a_polynomial_runs_in_f64_without_guards_or_fallback() {
        let (f, report, _) = chosen("1/10 + 199*t/10", Accuracy::default());
        assert_eq!(f.form, Form::F64);
        assert!(!f.fallback && f.guards.is_empty(), "{f:?}");
        assert!(report.passed() && report.worst.max_err <= 1.0, "{report:?}");
    }

    #[test]
    fn an_exponential_of_a_polynomial_widens_the_polynomial_not_the_exponential() {
        // exp(-B) with B up to 10: B's rounding is multiplied by up to 10 in f64, which
        // below t = 1/2 (B <= 2.5) the budget still covers, and above it does not.
        let (f, report, case) = chosen("exp(-t/10 - 199*t^2/20)", Accuracy::default());
        assert!(report.passed(), "{report:?}");
        let branches: Vec<&Function> = std::iter::once(&f).chain(f.upper.as_deref()).collect();
        let mut widened = 0;
        for g in branches {
            for (op, &w) in g.program.ops.iter().zip(&g.wide) {
                assert!(!(w && matches!(op, Op::Call(..))), "{op:?} wide");
                widened += usize::from(w);
            }
        }
        assert!(widened > 0, "{f:?}");
        // All in f64 (and without the upper regime) it misses the budget: the reason
        // for the search.
        let mut alone = f.clone();
        alone.upper = None;
        let narrow = vec![false; f.program.ops.len()];
        let all_f64 = measured(&alone, &narrow, true, &case);
        assert!(!all_f64.passed(), "{all_f64:?}");
    }

    #[test]
    fn the_upper_half_runs_in_one_minus_t_where_that_is_cheaper() {
        // cos(pi t/2) near t = 1 needs pi t/2 in double-double; as sin(pi (1 - t)/2),
        // with 1 - t exact from 1/2 up, it needs nothing but f64 on either side.
        let (f, report, case) = chosen("cos(pi*t/2)", Accuracy::default());
        let up = f.upper.as_ref().expect("an upper regime");
        assert_eq!((f.form, up.form), (Form::F64, Form::F64), "{f:?}");
        assert!(report.passed(), "{report:?}");
        // Without it, f64 throughout misses the budget next to t = 1.
        let mut alone = f.clone();
        alone.upper = None;
        let narrow = vec![false; f.program.ops.len()];
        assert!(!measured(&alone, &narrow, true, &case).passed());
    }

    #[test]
    fn double_double_is_kept_to_the_cells_that_need_it() {
        // lambda of the linear VP schedule cancels where alpha = sigma, near t = 0.25896 (mpmath):
        // double-double around there, and only there.
        let (f, report, _) = chosen(
            "-t/20 - 199*t^2/40 - log(1 - exp(-t/10 - 199*t^2/20))/2",
            Accuracy::default(),
        );
        assert!(report.passed(), "{report:?}");
        let expensive = |wide: &[bool]| {
            f.program
                .ops
                .iter()
                .zip(wide)
                .any(|(op, &w)| w && matches!(op, Op::Call(..)))
        };
        assert!(!f.cells.is_empty(), "{f:?}");
        let mut start = 0.0;
        for (end, wide) in f.cells.iter().chain([(1.0, f.wide.clone())].iter()) {
            // Within 1/8 of the zero, lambda is small enough that an f64 logarithm's
            // error (and that of the `expm1` inside it, which rounds twice on a
            // double-double argument) is several of its ulps.
            let near_zero = start < 0.25896 + 0.125 && 0.25896 - 0.125 < *end;
            if !near_zero {
                assert!(!expensive(wide), "[{start}, {end}) {wide:?}");
            }
            start = *end;
        }
    }

    /// The operations of the cell `f` runs in at time `t`, below the upper regime.
    fn wide_at(f: &Function, t: f64) -> &[bool] {
        f.cells
            .iter()
            .find(|(end, _)| t < *end)
            .map_or(&f.wide, |(_, wide)| wide)
    }

    /// `-ln(10 t)` falls below 1/2 at t = 0.0607 on its way to its zero at 1/10, and a
    /// cell ends at 1/16: the f64 logarithm of the cell below it was 4.5 ulps off at
    /// t = 0.0622, between the crossing and the cell's end, where neither the spread
    /// times nor the cell's own had been. Both ends of every cell, and both sides of each
    /// crossing of a power of two, are rows now. Expected values from mpmath at 40 digits.
    #[test]
    fn the_ends_of_cells_and_the_crossings_of_powers_of_two_are_checked() {
        let (f, report, _) = chosen("log(1/(10*t))", Accuracy::default());
        assert!(report.passed(), "{report:?}");
        for (t, want) in [
            (0.0608, 0.497_580_397_015_970_07),
            (0.0615, 0.486_133_011_175_619_2),
            (0.062_191_334_781_572_356, 0.474_954_508_141_173),
            (0.0624, 0.471_604_910_612_709_4),
            (0.062_499_999_999_999_99, 0.470_003_629_245_735_7),
        ] {
            let got = value(&f, wide_at(&f, t), true, &[t]);
            let err = check::ulps(got, want);
            assert!(err <= 4.0, "at {t}: {got:e}, not {want:e}: {err} ulps");
        }
    }

    #[test]
    fn below_one_ulp_everything_is_double_double_and_fast_is_naive() {
        let (f, report, _) = chosen("1/10 + 199*t/10", Accuracy::Ulps(0.5));
        assert_eq!(f.form, Form::Dd);
        assert!(report.passed(), "{report:?}");
        let (f, report, _) = chosen("sqrt(1 - exp(-t))", Accuracy::Fast);
        assert_eq!(f.form, Form::Naive);
        // Naive sqrt(1 - exp(-t)) at t = 1e-12 has lost most of its digits.
        assert!(report.worst.max_err > 1e3, "{report:?}");
        assert!(report.passed(), "fast has no bound");
    }

    /// The rows of one time share a run of the body and a bound ([`Eval`]): what
    /// [`miss_at`] finds at each row of a step, in the order the search asks and with the
    /// operations in double-double chosen three ways, is what it finds with nothing
    /// shared, bit for bit (the defining computation, one row alone).
    #[test]
    fn rows_of_one_time_find_what_each_finds_alone() {
        let text = "process p { alpha(t) = cos(pi*t/2); sigma(t) = sin(pi*t/2); }";
        let mut pool = crate::expr::Pool::new();
        let ast = crate::syntax::parse_file(text).expect("parses");
        let ps = crate::process::lower_file(&mut pool, &ast, text, &[]).expect("lowers");
        let mut f = super::super::function(
            &mut pool,
            &ps[0],
            super::super::Mode::Stable,
            "euler_step_eps",
        )
        .expect("lowers")
        .expect("a step");
        f.upper = None;
        let accuracy = Accuracy::default();
        let mut case =
            super::super::measure::reference_cases(&mut pool, std::slice::from_ref(&f), accuracy)
                .remove(0);
        case.rows.extend(dense_rows(&f, 3.5));
        assert!(reads_times_alone(&f) && case.rows.len() > 1000);
        let n = f.program.ops.len();
        for wide in [
            vec![false; n],
            vec![true; n],
            (0..n).map(|i| i % 3 == 0).collect(),
        ] {
            forget_models();
            let trial = Trial::of(&f, &wide);
            let shared: Vec<(f64, bool)> = case
                .rows
                .iter()
                .map(|r| miss_at(&f, &wide, r, &trial))
                .collect();
            for (r, got) in case.rows.iter().zip(&shared) {
                LAST_EVAL.with(|e| e.borrow_mut().take());
                let alone = miss_at(&f, &wide, r, &trial);
                assert!(
                    alone.0.to_bits() == got.0.to_bits() && alone.1 == got.1,
                    "{:?}: {alone:?} alone, {got:?} shared",
                    r.args
                );
            }
        }
        forget_models();
    }
}
