//! Numerically stable rewrites applied before lowering (the `--naive` lowering skips them).
//!
//! Each rewrite is an identity that holds wherever its input is defined, chosen so that
//! the result evaluates without catastrophic cancellation near t = 0 and t = 1:
//!
//! | rewrite | identity |
//! |---|---|
//! | `expm1` | `c*r*exp(a) - c*r = c*r*expm1(a)` (so `1 - exp(x) = -expm1(x)`) |
//! | `expm1-factor` | `c*r*exp(a)*Q - c*r = c*r*(expm1(a)*Q + X)`, `X = Q - 1` expanded |
//! | `expm1-quotient` | the same where `Q` is no polynomial (`(v(1) - v(t))/(v(1) - v(0))`), taken before the parts are rewritten, with `X = Q - 1` one fraction, where `exp(a) Q - 1` vanishes at an end and that measures more accurate ([`more_accurate`]) |
//! | `expm1-difference` | the same where `X = Q - 1` is a sum that the rules write as terms that each vanish at the end where the pair cancels (`exp(t) cos(pi t/2) - 1 = expm1(t) cos(pi t/2) - 2 sin(pi t/4)^2`), taken before the parts are rewritten |
//! | `exp-of-expm1` | `c*r*expm1(a) + c*r = c*r*exp(a)` |
//! | `abs-sign` | `abs(a) = a` where `a >= 0` on the domain, `-a` where `a < 0` (range analysis) |
//! | `sigmoid-log` | `sigmoid(log y) = y/(1 + y)`, `sigmoid(-log y) = 1/(1 + y)` |
//! | `log1p` | `log(1 + x) = log1p(x)` |
//! | `complement` | `1 - sigmoid(a) = sigmoid(-a)`, `1 - tanh(a) = 2 sigmoid(-2a)` (times the same `c*r`) |
//! | `log-exp` | `log(exp(a)*r) = a + log(r)`, `log(b^q * r) = q log(b) + log(r)` (q not an integer) |
//! | `power-exp` | `b^x = exp(x log b)` for a constant `b > 0` (so that the rules on exponentials see it) |
//! | `sigmoid-ratio` | `sigmoid(a)^k * sigmoid(-a)^-k = exp(k a)` for a rational `k` (`alpha/sigma` written through sigmoids of the log-SNR) |
//! | `exp-merge` | `exp(a) * exp(b)^k = exp(a + k b)` (so `exp(a)/exp(b) = exp(a - b)`) |
//! | `tan-quotient` | `sin(u)^k * cos(u)^-k = tan(u)^k` for an integer `k` (one call for two, one rounding for the quotient's) |
//! | `common-power` | `(sum_i c_i b^(m_i)) b^-k` (`b >= 0`, every `m_i > 0`) as `(sum_i c_i b^(m_i - p)) b^(p - k)`, `p = min(k, m_i)`; for `k > 2`, also a sum whose every term takes `b^-k` whole (`b^m`, `m >= k`, or a `c^k` that becomes `(c/b)^k`), distributed |
//! | `power-quotient` | `a^k b^-k = (a/b)^k` for `a, b >= 0` and `k > 2` (the two powers may underflow where their quotient does not) |
//! | `exp-over-expm1` | `exp(k a) * expm1(a)^-k = (-expm1(-a))^-k` for an integer `k` (`alpha^2/sigma^2 = exp(-B)/(-expm1(-B))` is `1/expm1(B)`: one call for two; `exp(-a) expm1(a) = -expm1(-a)`), the two arguments matched as polynomials |
//! | `quotient-scale` | `N/(sum_i exp(a_i) Y_i) = N exp(-a_j)/(sum_i exp(a_i - a_j) Y_i)` for the term `j` that leaves the fewest exponentials (`(alpha^2 - alpha_n^2)/(alpha (alpha sigma_n + alpha_n sigma))` over `alpha`: `-expm1(B - B_n)/(sigma_n + exp((B - B_n)/2) sigma)`) |
//! | `together` | a sum of a constant and reciprocals of sums, as one fraction (`1 - 1/(1+y) = y/(1+y)`), where that measures more accurate than the sum of its stabilized parts ([`more_accurate`]) |
//! | `cos-minus-one` | a polynomial `p(cos u)` with `p(1) = 0` as `-2 sin(u/2)^2 q(cos u)`, also among other terms of a sum |
//! | `difference` | `c r f(a)^n - c r f(b)^n` (r what the two terms share) through `a - b`, formed exactly where `a - b` simplifies, is a polynomial, or is one expression at two times that is itself such a difference (`c cos(pi t) - c cos(pi s)`): `exp(a) - exp(b) = expm1(a) - expm1(b) = exp(b) expm1(a - b)`, `sigmoid(a) - sigmoid(b) = -sigmoid(a) sigmoid(-b) expm1(b - a)`, `log(a) - log(b) = log1p((a - b)/b)`, `sqrt(a) - sqrt(b) = (a - b)/(sqrt(a) + sqrt(b))`, `sin`, `cos`, `sinh`, `cosh` by their sum-to-product forms, `tanh(a) - tanh(b) = sinh(a - b)/(cosh(a) cosh(b))`, `atan(a) - atan(b) = atan((a - b)/(1 + a b))` (where `a b > -1`); where each term has several such factors, each the same expression at another time (`sigmoid(a + t) sigmoid(-a - t)` and the same at `s`) or two exponentials, the difference telescopes, `u1 u2 - v1 v2 = (u1 - v1) v2 + u1 (u2 - v2)` |
//! | `pythagorean` | `c r sin(a)^2 + c r cos(a)^2 = c r` |
//! | `angle-difference` | `c r sin(a) cos(b) - c r sin(b) cos(a) = c r sin(a - b)`, `a - b` formed as `difference` forms it, `r` whatever the terms share besides (part of a power too) |
//! | `quarter-turn` | `sin`, `cos`, `tan` of `r + q pi` through `r + (q - k/2) pi`, `k/2` the multiple of `pi/2` nearest `q` (`cos(pi/2 - x) = sin(x)`, `tan(pi/2 - x) = 1/tan(x)`) |
//! | `polynomial` | a polynomial in one variable written through powers or products of sums (`1 - (1 - t)^3`), expanded where that measures more accurate ([`more_accurate`]) |
//! | `difference-of-powers` | `c r u^k - c r v^k` (r what the two terms share) through `u - v`, formed as `difference` forms it: `(u - v)(u^(k-1) + ... + v^(k-1))` for an integer `1 <= k <= 8`, that times `-u^-k v^-k` for `-8 <= k <= -1`, else `v^k expm1(k log1p((u - v)/v))` where `v > 0` on the domain; `1 - u^k` for a fractional `k` but 1/2 as `-expm1(k log1p(u - 1))`; `exp(a)^j - exp(b)^k` as `exp(j a) - exp(k b)` |
//! | `change-from-zero` | a sum in `t` alone that vanishes at 0 though its terms do not, as `sum_i (T_i(t) - T_i(0))`, each change stabilized alone |
//! | `removable-root` | `N/D^k` with `D` a polynomial in one symbol and `N` a sum, both vanishing at an end `r` (each group of `N`'s terms that share their other factors, `log(t)`, as a polynomial): `(N/(s - r))/(D^(k-1) D/(s - r))`, divided exactly, in one pass over the whole expression before the other rewrites (so also where their allowance does not reach) and again on what they make |
//! | `root-factor` | a polynomial in one variable with a rational root `r` in (0, 1] as `(r - t)^m q(t)` |
//!
//! The last three derive the stable form from the mathematics, not from how the formula
//! is spelled: a difference that vanishes somewhere in [0, 1] is written through the
//! difference of the arguments (which the canonical sum forms exactly), a quotient that
//! is 0/0 at an end loses the factor that makes it so, and a polynomial that vanishes at a
//! rational point keeps that zero as a factor.
//!
//! `sqrt(1 - alpha^2)` for `alpha = exp(L)` becomes `sqrt(-expm1(2L))`, and
//! `log(alpha/sigma)` becomes `L - log(sigma)`: both are computed from log alpha.
//! Everything else that is ill-conditioned in f64 (large arguments of `exp`, `tan` next to
//! its pole as t -> 1) is left to the double-double evaluation of the stable lowering.
//!
//! Work: each call does at most [`WORK`] units, an expression's squared number of terms
//! plus a fixed charge (a sum of a thousand terms, rewritten one pair at a time, each
//! time another pass over the whole sum, ran for more than ten minutes); beyond that an
//! expression is left as it is, still equal to the input, and measured like any other
//! form.
//!
//! Length: the rewrites share one bottom-up traversal and its helpers; the table above is
//! the index of the file.

use std::collections::HashMap;

use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::expr::hp::{self, Hp};
use crate::expr::{ExprId, Func, Node, Pool, Symbol, poly};

/// Rewrites `e` bottom-up with the rewrites of this module, within [`WORK`]; memoised in
/// the pool (code generation stabilizes one expression to measure a form and again to
/// lower it).
pub fn stabilize(pool: &mut Pool, e: ExprId) -> ExprId {
    if let Some(&s) = pool.stable_memo.get(&e) {
        return s;
    }
    let divided = without_removable_roots(pool, e, &mut HashMap::new());
    let s = Stabilizer::new().run(pool, divided);
    let s = crate::expr::verify::checked(pool, s, "stabilize");
    pool.stable_memo.insert(e, s);
    s
}

/// The work one [`stabilize`] may do, in units of [`Stabilizer::charge`]: every
/// expression worked on costs the square of its number of terms (the pairing rules try
/// every pair of terms of a sum) and [`CALL_COST`] besides. The bundled processes spend at
/// most 25 million (sigmoid's largest coefficient, 3,476 expressions, 2.5 s); once the
/// allowance is spent, what is not yet worked on is left as it is (and measured like any
/// other form). A jet form expanded to a sum of a thousand terms, each rewrite of one
/// pair followed by another pass over the whole sum, ran for more than ten minutes.
const WORK: u64 = 1 << 25;

/// The part of [`Stabilizer::charge`] that every expression pays, whatever its size.
const CALL_COST: u64 = 256;

/// The deepest nesting of [`Stabilizer::run`]: expressions are far shallower (their depth
/// is bounded where they are read), and a cycle of rewrites is cut where it comes back to
/// an expression being worked on, but a chain that kept making new expressions would
/// recurse without end. Deeper, an expression is left as it is (and measured as any
/// other).
const MAX_DEPTH: usize = 4096;

struct Stabilizer {
    memo: HashMap<ExprId, ExprId>,
    /// The expressions `run` is working on now, one per nested call: their number is the
    /// nesting.
    active: crate::expr::fxhash::HashSet<ExprId>,
    /// The deepest nesting `run` has reached.
    #[cfg(test)]
    deepest: usize,
    /// The reference evaluator of [`more_accurate`], made on first use (its constants
    /// cache is kept across measurements).
    hp: Option<Hp>,
    /// What is left of [`WORK`].
    left: u64,
}

impl Stabilizer {
    /// A stabilizer with the whole of [`WORK`] to spend.
    fn new() -> Stabilizer {
        Stabilizer {
            memo: HashMap::new(),
            active: Default::default(),
            #[cfg(test)]
            deepest: 0,
            hp: None,
            left: WORK,
        }
    }

    fn run(&mut self, pool: &mut Pool, e: ExprId) -> ExprId {
        // A rewrite whose result the rewrites turn back into an expression still being
        // worked on would go round for ever: that expression is left as it is.
        if self.active.len() >= MAX_DEPTH || !self.active.insert(e) {
            return e;
        }
        #[cfg(test)]
        {
            self.deepest = self.deepest.max(self.active.len());
        }
        let r = self.run_inner(pool, e);
        self.active.remove(&e);
        r
    }

    fn run_inner(&mut self, pool: &mut Pool, e: ExprId) -> ExprId {
        if let Some(&r) = self.memo.get(&e) {
            return r;
        }
        if !self.charge(pool, e) {
            return e;
        }
        // `removable-root` sees the numerator's terms whole only before they are rewritten.
        if let Node::Mul(xs) = pool.node(e).clone()
            && let Some(r) = removable_root(pool, &xs)
        {
            let out = self.run(pool, r);
            self.memo.insert(e, out);
            return out;
        }
        // `p - q` as `(p^2 - q^2)/(p + q)` where the difference of the squares is then
        // written without a subtraction (but of exact inputs, `t - t_next`).
        if let Node::Add(xs) = pool.node(e).clone()
            && let Some((d, sum)) = conjugate(pool, &xs)
        {
            let d = self.run(pool, d);
            if !subtracts_at_top(pool, d) {
                let sum = self.run(pool, sum);
                let out = pool.div(d, sum);
                self.memo.insert(e, out);
                return out;
            }
        }
        // `expm1-quotient` sees the pair whole only before the parts are rewritten.
        let out = match pool.node(e).clone() {
            Node::Add(xs) => match expm1_through_quotient(pool, &xs)
                .or_else(|| self.expm1_through_difference(pool, &xs))
            {
                Some(r) => {
                    let split = self.run(pool, r);
                    let whole = self.joined_or_parts(pool, e);
                    self.more_accurate(pool, split, whole)
                }
                None => self.joined_or_parts(pool, e),
            },
            _ => self.parts(pool, e, true),
        };
        self.memo.insert(e, out);
        out
    }

    /// Takes the cost of working on `e` from what is left of [`WORK`]: false, and nothing
    /// left, where that is less.
    fn charge(&mut self, pool: &Pool, e: ExprId) -> bool {
        let terms = pool_len(pool, e) as u64;
        let cost = terms * terms + CALL_COST;
        if cost > self.left {
            self.left = 0;
            return false;
        }
        self.left -= cost;
        true
    }

    /// `e` with its parts stabilized and rewritten. A constant plus fractions is also
    /// brought to one fraction before its parts are rewritten, so that what cancels
    /// between them (`1 - alpha_bar` with alpha_bar = (v(1) - v(t))/(v(1) - v(0)) is
    /// (v(t) - v(0))/(v(1) - v(0))) cancels exactly and the difference left is seen
    /// whole. One fraction can also cancel where the parts did not (a numerator that
    /// vanishes at t = 0 only because sigmoid(6t - 3) tends to sigmoid(-3)): the two
    /// forms are measured and the more accurate one is kept.
    fn joined_or_parts(&mut self, pool: &mut Pool, e: ExprId) -> ExprId {
        if let Node::Add(xs) = pool.node(e).clone()
            && needs_together(pool, &xs)
        {
            let r = together_in_roots(pool, e);
            if r != e && !matches!(pool.node(r), Node::Add(_)) {
                let joined = self.run(pool, r);
                let apart = self.parts(pool, e, false);
                return self.more_accurate(pool, joined, apart);
            }
        }
        self.parts(pool, e, true)
    }

    /// `polynomial`: a sum that is a polynomial in one symbol but not written as one
    /// (`1 - (1 - t)^3`), expanded and stabilized (its rational zeros in (0, 1] factored
    /// by `root-factor`) where that measures more accurate: expanded, its zero at 0 is
    /// in every term (`3t - 3t^2 + t^3`), where the written form cancels to nothing at
    /// t = 1e-40. None where the sum has no power or product of a sum among its terms
    /// (then it is a polynomial as written, or none), or expands to something else.
    fn expanded_polynomial(&mut self, pool: &mut Pool, e: ExprId, xs: &[ExprId]) -> Option<ExprId> {
        let has_sum = |pool: &Pool, x: ExprId| {
            factors(pool, x)
                .into_iter()
                .any(|f| matches!(pool.node(pool.split_pow(f).0), Node::Add(_)))
        };
        // (A sum with such a term is no polynomial as written: `univariate` refuses it.)
        if !xs.iter().any(|&x| has_sum(pool, x)) {
            return None;
        }
        let expanded = poly::expand(pool, e);
        let Node::Add(ys) = pool.node(expanded).clone() else {
            return None;
        };
        univariate(pool, &ys)?;
        let stable = self.run(pool, expanded);
        Some(self.more_accurate(pool, stable, e))
    }

    /// `change-from-zero`: a sum in one time alone that vanishes at 0 though some of its
    /// terms do not (the values at 0 of an exponential and a power merged into one
    /// constant: `56 exp(t)/5 - 163/15 - (10 + t)^3/3000`), as the sum of each term's
    /// change from its value at 0, `sum_i (T_i(t) - T_i(0))`. Each change is stabilized
    /// alone (`expm1`, `polynomial`, `difference`), so the constants cancel exactly
    /// instead of in the arithmetic at t = 1e-300, where the written sum keeps nothing of
    /// its value. None unless the values at 0 sum to an exact 0 and every change
    /// stabilizes to terms that vanish at 0 themselves; kept where it measures at least as
    /// accurate ([`more_accurate`]).
    fn change_from_zero(&mut self, pool: &mut Pool, e: ExprId, xs: &[ExprId]) -> Option<ExprId> {
        let [s] = pool.free_symbols(e)[..] else {
            return None;
        };
        if !matches!(pool.symbol_name(s), "t" | "t_next") {
            return None;
        }
        let origin = [(s, BigRational::zero())];
        let vanishes =
            |pool: &Pool, x: ExprId| hp::eval_rounded(pool, x, &origin).ok() == Some(0.0);
        // Every term defined at 0 (a pole or a log of 0 is no value to subtract).
        if xs
            .iter()
            .any(|&x| !hp::eval_rounded(pool, x, &origin).is_ok_and(f64::is_finite))
            || xs.iter().all(|&x| vanishes(pool, x))
        {
            return None;
        }
        let zero = pool.zero();
        let at_zero: Vec<ExprId> = xs
            .iter()
            .map(|&x| crate::expr::subst::subst1(pool, x, s, zero))
            .collect();
        let total = pool.add(at_zero.clone());
        if !pool.is_zero(total) {
            return None;
        }
        let mut changes = Vec::new();
        for (&x, &x0) in xs.iter().zip(&at_zero) {
            if pool.is_zero(x0) {
                changes.push(x);
                continue;
            }
            let minus = pool.neg(x0);
            let change = pool.add(vec![x, minus]);
            if pool.is_zero(change) {
                continue;
            }
            let stable = self.run(pool, change);
            let terms = match pool.node(stable) {
                Node::Add(ys) => ys.to_vec(),
                _ => vec![stable],
            };
            if !terms.iter().all(|&y| vanishes(pool, y)) {
                return None;
            }
            changes.push(stable);
        }
        let changed = pool.add(changes);
        let stable = self.run(pool, changed);
        Some(self.more_accurate(pool, stable, e))
    }

    /// `expm1-difference`: [`expm1_through_quotient`] where `X = Q - 1` is a sum that
    /// the rules write as terms that each vanish at the end where the pair cancels
    /// (`exp(t) cos(pi t/2) - 1` as `expm1(t) cos(pi t/2) - 2 sin(pi t/4)^2`): each part
    /// is then a value of its own, where the product rounded to 1 before the subtraction
    /// loses all of it at t = 1e-160. A drift `alpha'/alpha`, expanded by the simplifier,
    /// is such a sum of pairs, which `change-from-zero` takes apart. None where `X`
    /// keeps a term that does not vanish there (`exp-of-expm1` would fold it back).
    fn expm1_through_difference(&mut self, pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
        exp_pairs(pool, xs, |pool, pair| {
            let (c, q, end) = pair.cancelling_quotient(pool)?;
            let minus_one = pool.int(-1);
            let x = pool.add(vec![q, minus_one]);
            if !matches!(pool.node(x), Node::Add(_)) {
                return None;
            }
            let stable = self.run(pool, x);
            let at: Vec<(Symbol, BigRational)> = pool
                .free_symbols(q)
                .into_iter()
                .map(|s| (s, end.clone()))
                .collect();
            let terms = match pool.node(stable) {
                Node::Add(ys) => ys.to_vec(),
                _ => vec![stable],
            };
            terms
                .iter()
                .all(|&y| hp::eval_rounded(pool, y, &at).ok() == Some(0.0))
                .then(|| pair.through_expm1(pool, c, q, stable))
        })
    }

    /// `quotient-scale`: a product `N/(sum_i exp(a_i) Y_i)` whose every term below the
    /// line has an exponential factor, divided above and below by one term's,
    /// `(N exp(-a_j))/(Y_j + sum_(i != j) exp(a_i - a_j) Y_i)`, where that leaves fewer
    /// exponentials to compute. A variance-preserving DDIM step's noise coefficient,
    /// `sigma_n - alpha_n sigma/alpha`, comes out of `conjugate` as `(alpha^2 -
    /// alpha_n^2)/(alpha (alpha sigma_n + alpha_n sigma))`, six exponentials (two in the
    /// sigmas); over `alpha` it is `-expm1(B - B_n)/(sigma_n + exp((B - B_n)/2) sigma)`
    /// (`exp(-a) expm1(a) = -expm1(-a)`, `exp-over-expm1`), four, one of them the step's
    /// `x` coefficient. Kept unless it measures less accurate ([`more_accurate`]).
    fn scaled_quotient(&mut self, pool: &mut Pool, e: ExprId, xs: &[ExprId]) -> ExprId {
        let before = exp_calls(pool, e);
        let mut best: Option<(usize, ExprId)> = None;
        for candidate in scaled_quotients(pool, xs) {
            let r = self.run(pool, candidate);
            let calls = exp_calls(pool, r);
            if calls < before && best.is_none_or(|(c, _)| calls < c) {
                best = Some((calls, r));
            }
        }
        match best {
            Some((_, r)) => self.more_accurate(pool, r, e),
            None => e,
        }
    }

    fn more_accurate(&mut self, pool: &mut Pool, first: ExprId, second: ExprId) -> ExprId {
        let hp = self.hp.get_or_insert_with(|| Hp::new(MEASURE_PRECISION));
        more_accurate(hp, pool, first, second)
    }

    /// `e` with its children stabilized, then rewritten (`together` only if allowed).
    fn parts(&mut self, pool: &mut Pool, e: ExprId, together: bool) -> ExprId {
        let children = pool.children(e);
        let new_children: Vec<ExprId> = children.iter().map(|&c| self.run(pool, c)).collect();
        let rebuilt = if new_children == children {
            e
        } else {
            pool.rebuild(e, &new_children)
        };
        self.rewrite(pool, rebuilt, together)
    }

    fn rewrite(&mut self, pool: &mut Pool, e: ExprId, together: bool) -> ExprId {
        match pool.node(e).clone() {
            Node::Add(xs) => {
                if let Some(r) = two_point_difference(pool, &xs) {
                    return self.run(pool, r);
                }
                if let Some(r) = one_plus_expm1(pool, &xs) {
                    return self.run(pool, r);
                }
                let e2 = expm1_pairs(pool, &xs).unwrap_or(e);
                if e2 != e {
                    return self.run(pool, e2);
                }
                if let Some(r) = expm1_through_factor(pool, &xs) {
                    return self.run(pool, r);
                }
                if let Some(r) = complement_pairs(pool, &xs) {
                    return self.run(pool, r);
                }
                if let Some(r) = cos_minus_one(pool, &xs) {
                    return self.run(pool, r);
                }
                if let Some(r) = difference_of_values(pool, &xs, false) {
                    return self.run(pool, r);
                }
                if let Some(r) = angle_difference(pool, &xs) {
                    return self.run(pool, r);
                }
                if let Some(r) = pythagorean(pool, &xs) {
                    return self.run(pool, r);
                }
                if let Some(r) = normalized_complement(pool, &xs) {
                    return self.run(pool, r);
                }
                // Several differing factors a side only where no rule above writes the
                // sum more simply (`angle-difference` takes `sin(a) cos(b) - sin(b)
                // cos(a)` whole).
                if let Some(r) = difference_of_values(pool, &xs, true) {
                    return self.run(pool, r);
                }
                if let Some(r) = self.expanded_polynomial(pool, e, &xs) {
                    return r;
                }
                if let Some(r) = factor_roots(pool, e, &xs) {
                    return r;
                }
                if let Some(r) = self.change_from_zero(pool, e, &xs) {
                    return r;
                }
                if together && needs_together(pool, &xs) {
                    let r = together_in_roots(pool, e);
                    if r != e && !matches!(pool.node(r), Node::Add(_)) {
                        let joined = self.run(pool, r);
                        return self.more_accurate(pool, joined, e);
                    }
                }
                e
            }
            Node::Mul(xs) => match sigmoid_ratio(pool, &xs)
                .or_else(|| merge_exp(pool, &xs))
                .or_else(|| tan_quotient(pool, &xs))
                .or_else(|| exp_over_expm1(pool, &xs))
                .or_else(|| common_power(pool, &xs))
                .or_else(|| power_quotient(pool, &xs))
            {
                Some(r) => self.run(pool, r),
                None => self.scaled_quotient(pool, e, &xs),
            },
            Node::Call(f @ (Func::Sin | Func::Cos | Func::Tan), a) => {
                quarter_turn(pool, f, a).map_or(e, |r| self.run(pool, r))
            }
            Node::Call(Func::Sigmoid, a) => {
                sigmoid_of_log(pool, a).map_or(e, |r| self.run(pool, r))
            }
            Node::Call(Func::Abs, a) => abs_sign(pool, a).map_or(e, |r| self.run(pool, r)),
            Node::Pow(b, x) => power_exp(pool, b, x).map_or(e, |r| self.run(pool, r)),
            Node::Call(Func::Log, a) => {
                let r = log_rewrite(pool, a);
                if r == e { e } else { self.run(pool, r) }
            }
            _ => e,
        }
    }
}

/// The times at which [`more_accurate`] measures: both ends' neighbourhoods, down to
/// 1e-60 from 0 (the reference's precision covers the cancellation there) and up to the
/// last f64 below 1, and the interior.
const MEASURE_TIMES: [f64; 13] = [
    1e-60,
    1e-20,
    1e-9,
    1e-4,
    0.03,
    0.25,
    0.5,
    0.75,
    0.97,
    0.9999,
    0.999999999,
    1.0 - 1e-15,
    1.0 - f64::EPSILON / 2.0,
];

/// The precision of the reference in [`more_accurate`], in bits: a cancellation of 400
/// bits (t^2 at t = 1e-60 next to 1) still leaves twice an f64's.
const MEASURE_PRECISION: usize = 512;

/// Of two equal expressions, the one whose stable lowering, run in the emitted code's
/// arithmetic, is closer to the reference at [`MEASURE_TIMES`] (worst relative error;
/// `first` on a tie). Times are the symbols' values; `t_next` follows `t` at `3t/4`,
/// as in a sampler's step, and any other symbol is 5/8.
fn more_accurate(hp: &mut Hp, pool: &mut Pool, first: ExprId, second: ExprId) -> ExprId {
    if first == second {
        return first;
    }
    let symbols: Vec<(Symbol, String)> = pool
        .free_symbols(first)
        .into_iter()
        .map(|s| (s, pool.symbol_name(s).to_owned()))
        .collect();
    let programs: Vec<Option<(super::lower::Program, usize)>> = [first, second]
        .iter()
        .map(|&e| {
            let mut l = super::lower::Lowerer::new(super::lower::Mode::Stable);
            let v = l.lower(pool, e).ok()?;
            Some((l.finish(), v))
        })
        .collect();
    let mut worst = [0.0f64; 2];
    for &t in &MEASURE_TIMES {
        let values: Vec<(Symbol, String, f64)> = symbols
            .iter()
            .map(|(s, name)| {
                let v = match name.as_str() {
                    "t" => t,
                    "t_next" => 0.75 * t,
                    _ => 0.625,
                };
                (*s, name.clone(), v)
            })
            .collect();
        let env: Vec<_> = values
            .iter()
            .map(|(s, _, v)| (*s, hp.from_f64(*v)))
            .collect();
        let Ok(want) = hp.eval(pool, first, &env) else {
            continue;
        };
        let want = hp::to_f64(&want);
        if !want.is_normal() {
            continue;
        }
        let inputs: Vec<(&str, f64)> = values.iter().map(|(_, n, v)| (n.as_str(), *v)).collect();
        for (w, program) in worst.iter_mut().zip(&programs) {
            let err = match program {
                Some((p, v)) => {
                    let got = p.run::<super::runtime::Xd>(&inputs)[*v].to_f64();
                    let e = ((got - want) / want).abs();
                    // Below 2^-60 the f64 result is the same; NaN is the worst.
                    if e.is_nan() {
                        f64::INFINITY
                    } else if e < NEGLIGIBLE {
                        0.0
                    } else {
                        e
                    }
                }
                None => f64::INFINITY,
            };
            *w = w.max(err);
        }
    }
    // The second form must be clearly better: noise does not flip a choice.
    if 2.0 * worst[1] < worst[0] {
        second
    } else {
        first
    }
}

/// A relative error that does not change an f64 result's rounding in practice.
const NEGLIGIBLE: f64 = 8.673617379884035e-19; // 2^-60

/// `exp(a)^k` as `(a, k)` for an integer `k` (k = 1 for `exp(a)` itself).
fn exp_power(pool: &Pool, f: ExprId) -> Option<(ExprId, BigRational)> {
    call_power(pool, Func::Exp, f)
}

/// `f(u)^k` as `(u, k)` for an integer `k` (k = 1 for `f(u)` itself).
fn call_power(pool: &Pool, f: Func, x: ExprId) -> Option<(ExprId, BigRational)> {
    call_rational_power(pool, f, x).filter(|(_, k)| k.is_integer())
}

/// `f(u)^k` as `(u, k)` for a rational `k` (k = 1 for `f(u)` itself).
fn call_rational_power(pool: &Pool, f: Func, x: ExprId) -> Option<(ExprId, BigRational)> {
    match pool.node(x) {
        Node::Call(g, u) if *g == f => Some((*u, BigRational::one())),
        Node::Pow(b, k) => match (pool.node(*b), pool.as_rational(*k)) {
            (Node::Call(g, u), Some(k)) if *g == f => Some((*u, k.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// The factors of a term (a product's factors, or the term itself).
fn factors(pool: &Pool, e: ExprId) -> Vec<ExprId> {
    match pool.node(e) {
        Node::Mul(xs) => xs.to_vec(),
        _ if pool.is_one(e) => Vec::new(),
        _ => vec![e],
    }
}

/// The sum `xs` with its terms `i` and `j` replaced by `term`.
fn replace_pair(pool: &mut Pool, xs: &[ExprId], (i, j): (usize, usize), term: ExprId) -> ExprId {
    let mut terms = all_but(xs, i, j);
    terms.push(term);
    pool.add(terms)
}

/// The operands `xs` without the `i`-th and the `j`-th.
fn all_but(xs: &[ExprId], i: usize, j: usize) -> Vec<ExprId> {
    xs.iter()
        .enumerate()
        .filter(|&(l, _)| l != i && l != j)
        .map(|(_, &x)| x)
        .collect()
}

/// Finds terms `c*r*F` and `-c*r` of the sum, where `F` is a factor that `form` rewrites
/// with the partner folded in (`form(F)` stands for `F - 1`), and replaces the pair by
/// `c*r*form(F)`.
fn pairs_with_one(
    pool: &mut Pool,
    xs: &[ExprId],
    form: impl Fn(&mut Pool, ExprId) -> Option<ExprId>,
) -> Option<ExprId> {
    pairs_with(pool, xs, false, form)
}

/// [`pairs_with_one`] with the partner `-c*r`, or `+c*r` where `plus` (then `form(F)`
/// stands for `F + 1`).
fn pairs_with(
    pool: &mut Pool,
    xs: &[ExprId],
    plus: bool,
    form: impl Fn(&mut Pool, ExprId) -> Option<ExprId>,
) -> Option<ExprId> {
    let split: Vec<(BigRational, ExprId)> = xs.iter().map(|&x| pool.split_coeff(x)).collect();
    for (i, (c, r)) in split.iter().enumerate() {
        let fs = factors(pool, *r);
        for (k, &f) in fs.iter().enumerate() {
            let Some(minus_one) = form(pool, f) else {
                continue;
            };
            let rest: Vec<ExprId> = fs
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != k)
                .map(|(_, &g)| g)
                .collect();
            let rest = pool.mul(rest);
            let partner = split
                .iter()
                .enumerate()
                .position(|(j, (c2, r2))| j != i && *r2 == rest && same_up_to_sign(c2, c, !plus));
            let Some(j) = partner else {
                continue;
            };
            let cr = pool.rational(c.clone());
            let term = pool.mul(vec![cr, rest, minus_one]);
            return Some(replace_pair(pool, xs, (i, j), term));
        }
    }
    None
}

/// `power-exp`: `b^x = exp(x log b)` for a constant base `b > 0` and an exponent that
/// varies. The exponential is the form the other rules know: `expm1` writes a VE sigma
/// `s_min (s_max/s_min)^t` against its value at 0, `exp-merge` joins `b^t exp(-t)`, and
/// `difference` writes `b^s - b^t` through `s - t` (a DDIM step's `sigma_s - (alpha_s/
/// alpha_t) sigma_t` with a geometric sigma, which the powers lose to at t = 1e-40).
fn power_exp(pool: &mut Pool, b: ExprId, x: ExprId) -> Option<ExprId> {
    if !pool.is_constant(b)
        || pool.is_constant(x)
        || pool.is_one(b)
        || !crate::expr::range::is_positive(pool, b)
    {
        return None;
    }
    let log_b = pool.call(Func::Log, b);
    let arg = pool.mul(vec![x, log_b]);
    Some(pool.call(Func::Exp, arg))
}

/// `expm1`: `c*r*exp(a) - c*r` as `c*r*expm1(a)` (`1 - exp(x) = -expm1(x)`).
fn expm1_pairs(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    pairs_with_one(pool, xs, |pool, f| {
        let (a, n) = exp_power(pool, f)?;
        let nr = pool.rational(n);
        let arg = pool.mul(vec![nr, a]);
        Some(pool.call(Func::Expm1, arg))
    })
}

/// A pair of terms of a sum, `c*r*exp(a)^n*Q` and `-c*r` (`+c*r` where `negate`), `Q`
/// the factors the first has beyond the exponential and its partner's (none of them
/// constant alone): what `expm1-factor` and `expm1-quotient` rewrite.
struct ExpPair {
    /// The places of the two terms in the sum.
    at: (usize, usize),
    /// The factor `exp(a)^n`.
    f: ExprId,
    a: ExprId,
    n: BigRational,
    c: BigRational,
    r: ExprId,
    q: Vec<ExprId>,
    negate: bool,
}

impl ExpPair {
    /// `c*r*(expm1(n a)*q + x)`: the pair with its exponential as `expm1`, `x` standing
    /// for `q - 1` (`c` the pair's coefficient, negated where `q` is).
    fn through_expm1(&self, pool: &mut Pool, c: BigRational, q: ExprId, x: ExprId) -> ExprId {
        let nr = pool.rational(self.n.clone());
        let arg = pool.mul(vec![nr, self.a]);
        let m1 = pool.call(Func::Expm1, arg);
        let m1q = pool.mul(vec![m1, q]);
        let inner = pool.add(vec![m1q, x]);
        let cr = pool.rational(c);
        pool.mul(vec![cr, self.r, inner])
    }

    /// For a `Q` that is no polynomial, where `c*r*(exp(a)*Q - 1)` (`Q` negated for
    /// `negate`) vanishes at an end: `c`, `Q` and the end (`expm1-quotient` and
    /// `expm1-difference`).
    fn cancelling_quotient(&self, pool: &mut Pool) -> Option<(BigRational, ExprId, BigRational)> {
        if self.q.iter().all(|&g| polynomial_factor(pool, g)) {
            return None;
        }
        let mut q = pool.mul(self.q.clone());
        if pool.free_symbols(q).is_empty() {
            return None;
        }
        let mut c = self.c.clone();
        if self.negate {
            q = pool.neg(q);
            c = -c;
        }
        let eq = pool.mul(vec![self.f, q]);
        let minus_one = pool.int(-1);
        let both = pool.add(vec![eq, minus_one]);
        let end = cancelling_end(pool, both)?;
        Some((c, q, end))
    }
}

/// Whether `a` is `b` (or `-b` where `negated`), told by numerator and denominator:
/// `BigRational`s are kept in lowest terms over a positive denominator. `Ratio`'s own
/// `==` orders the two by a continued fraction, whose big divisions were half the time
/// of the pairing rules on a long sum of distinct coefficients (6 minutes on a
/// schedule times a sigmoid of `log t`, fuzz seed 41 case 41837).
fn same_up_to_sign(a: &BigRational, b: &BigRational, negated: bool) -> bool {
    let sign = if negated {
        -b.numer().sign()
    } else {
        b.numer().sign()
    };
    a.denom() == b.denom()
        && a.numer().sign() == sign
        && a.numer().magnitude() == b.numer().magnitude()
}

/// The first pair of `xs` ([`ExpPair`]) that `form` writes as one term, and the sum with
/// that term for the pair.
fn exp_pairs(
    pool: &mut Pool,
    xs: &[ExprId],
    mut form: impl FnMut(&mut Pool, &ExpPair) -> Option<ExprId>,
) -> Option<ExprId> {
    let split: Vec<(BigRational, ExprId)> = xs.iter().map(|&x| pool.split_coeff(x)).collect();
    for (i, (c, r)) in split.iter().enumerate() {
        let fs = factors(pool, *r);
        for (k, &f) in fs.iter().enumerate() {
            let Some((a, n)) = exp_power(pool, f) else {
                continue;
            };
            for (j, (c2, r2)) in split.iter().enumerate() {
                // `c r exp(a) Q + c r` is `(-c) r exp(a) (-Q) - (-c) r`: a partner of the
                // same sign pairs through one factor of Q negated (`1 + exp(a) (s - 1) =
                // s - expm1(a) (1 - s)`).
                let negate = if same_up_to_sign(c2, c, true) {
                    false
                } else if same_up_to_sign(c2, c, false) {
                    true
                } else {
                    continue;
                };
                if j == i {
                    continue;
                }
                // The factors of the first term beyond the exponential and the partner's.
                let mut q: Vec<ExprId> = fs
                    .iter()
                    .enumerate()
                    .filter(|&(l, _)| l != k)
                    .map(|(_, &g)| g)
                    .collect();
                let mut contained = true;
                for g in factors(pool, *r2) {
                    match q.iter().position(|&h| h == g) {
                        Some(p) => {
                            q.remove(p);
                        }
                        None => contained = false,
                    }
                }
                if !contained || q.is_empty() {
                    continue;
                }
                let pair = ExpPair {
                    at: (i, j),
                    f,
                    a,
                    n: n.clone(),
                    c: c.clone(),
                    r: *r2,
                    q,
                    negate,
                };
                if let Some(term) = form(pool, &pair) {
                    return Some(replace_pair(pool, xs, pair.at, term));
                }
            }
        }
    }
    None
}

/// Whether the factor `g` of a `Q` ([`ExpPair`]) expands to a polynomial: a positive
/// integer power of a sum or a symbol.
fn polynomial_factor(pool: &Pool, g: ExprId) -> bool {
    let (b, k) = pool.split_pow(g);
    pool.as_rational(k)
        .is_some_and(|k| k.is_integer() && k.is_positive())
        && matches!(pool.node(b), Node::Add(_) | Node::Sym(_))
}

/// `expm1` through a factor: `c*r*exp(a)*Q - c*r`, `Q` the factors the first term has
/// beyond its partner's (`1 + 3 t^2`, or `(1 - t)^2 (1 + 2t)`), as
/// `c*r*(expm1(a)*Q + X)` with `X = Q - 1` expanded. `1 - exp(-t/100) (1 + 3 t^2)` is
/// `t/100` and `3 t^2` at small t, which the product rounded to 1 before the subtraction
/// loses (at t = 1e-40 all of it); written so, each part is a value of its own.
fn expm1_through_factor(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    exp_pairs(pool, xs, |pool, pair| {
        let mut q = pair.q.clone();
        // Q must expand to a polynomial: `Q - 1` of a `Q` that does not (a reciprocal)
        // keeps `Q` in it, and `exp-of-expm1` would fold it back (`expm1-quotient` takes
        // such a `Q` before the parts are rewritten).
        if !q.iter().all(|&g| polynomial_factor(pool, g)) {
            return None;
        }
        if pair.negate {
            let p = q
                .iter()
                .position(|&g| matches!(pool.node(g), Node::Add(_)))?;
            // Only where the pair cancels: `exp(a) Q + 1` vanishes at an end of the
            // interval (elsewhere the two terms add, and the rewrite would only cost
            // operations).
            let mut both = q.clone();
            both.push(pair.f);
            let both = pool.mul(both);
            let one = pool.one();
            let both = pool.add(vec![both, one]);
            if !cancels_at_an_end(pool, both) {
                return None;
            }
            let minus = pool.neg(q[p]);
            q[p] = poly::expand(pool, minus);
        }
        let c = if pair.negate {
            -pair.c.clone()
        } else {
            pair.c.clone()
        };
        let q = pool.mul(q);
        if pool.free_symbols(q).is_empty() {
            return None;
        }
        let minus_one = pool.int(-1);
        let x = pool.add(vec![q, minus_one]);
        let x = poly::expand(pool, x);
        Some(pair.through_expm1(pool, c, q, x))
    })
}

/// `expm1-quotient`: [`expm1_through_factor`] where `Q` is no polynomial (`alpha_bar =
/// exp(-c t) (v(1) - v(t))/(v(1) - v(0))`, whose `1 - alpha_bar` cancels at t = 0 though
/// neither factor is 1 alone): `c*r*(exp(a)*Q - 1)` as `c*r*(expm1(a)*Q + X)` with `X =
/// Q - 1` brought to one fraction, `(v(0) - v(t))/(v(1) - v(0))`, whose numerator the
/// other rules then write without cancellation. Taken on the sum as written, before its
/// parts are rewritten (which would take `Q` apart), and only where the pair cancels at
/// an end and `X` is one fraction, no sum (a sum would keep `Q - 1` and fold back into
/// `exp(a) Q - 1`). With `negate`, the pair is `c*r*(exp(a)*Q + 1)`, taken as
/// `-c*r*(exp(a)*(-Q) - 1)`.
fn expm1_through_quotient(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    exp_pairs(pool, xs, |pool, pair| {
        let (c, q, _) = pair.cancelling_quotient(pool)?;
        let minus_one = pool.int(-1);
        let x = pool.add(vec![q, minus_one]);
        let x = together_in_roots(pool, x);
        if matches!(pool.node(x), Node::Add(_)) || pool.is_zero(x) {
            return None;
        }
        Some(pair.through_expm1(pool, c, q, x))
    })
}

/// Whether `e` is exactly 0 with every free symbol at 0, or with every one at 1.
fn cancels_at_an_end(pool: &mut Pool, e: ExprId) -> bool {
    cancelling_end(pool, e).is_some()
}

/// The end (0, else 1) where `e` is exactly 0 with every free symbol at it.
fn cancelling_end(pool: &mut Pool, e: ExprId) -> Option<BigRational> {
    let symbols = pool.free_symbols(e);
    [0, 1].into_iter().find_map(|k| {
        let end = pool.int(k);
        let at = symbols
            .iter()
            .fold(e, |x, &s| crate::expr::subst::subst1(pool, x, s, end));
        pool.is_zero(at)
            .then(|| BigRational::from_integer(k.into()))
    })
}

/// `abs-sign`: `|a|` as `a` where `a >= 0` on the domain, `-a` where `a < 0` (range
/// analysis). A sigma written `sqrt(sigmoid(-L))` with `L = -2 log(tan(u))` is `|sin(u)|`
/// once it is put into a step's jet form; without the `abs`, `angle-difference` sees
/// `sin(a) cos(b) - sin(b) cos(a)` whole.
fn abs_sign(pool: &mut Pool, a: ExprId) -> Option<ExprId> {
    if crate::expr::range::is_nonneg(pool, a) {
        Some(a)
    } else if crate::expr::range::is_negative(pool, a) {
        Some(pool.neg(a))
    } else {
        None
    }
}

/// `sigmoid-log`: `sigmoid(log y) = y/(1 + y)` and `sigmoid(-log y) = 1/(1 + y)` (a
/// log-SNR written as `-log(expm1(x))` makes `sigma^2 = sigmoid(log(expm1(x)))`, which is
/// `expm1(x)/exp(x)` once `1 + expm1(x)` is `exp(x)`).
fn sigmoid_of_log(pool: &mut Pool, a: ExprId) -> Option<ExprId> {
    let (c, r) = pool.split_coeff(a);
    let Node::Call(Func::Log, y) = *pool.node(r) else {
        return None;
    };
    let one = pool.one();
    let den = pool.add(vec![one, y]);
    if c.is_one() {
        Some(pool.div(y, den))
    } else if c == -BigRational::one() {
        Some(pool.recip(den))
    } else {
        None
    }
}

/// `exp-of-expm1`: `c*r*expm1(a) + c*r` as `c*r*exp(a)`.
fn one_plus_expm1(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    pairs_with(pool, xs, true, |pool, f| match *pool.node(f) {
        Node::Call(Func::Expm1, a) => Some(pool.call(Func::Exp, a)),
        _ => None,
    })
}

/// `complement`: `c*r*sigmoid(a) - c*r` as `-c*r*sigmoid(-a)` and `c*r*tanh(a) - c*r` as
/// `-2*c*r*sigmoid(-2a)`. Where `sigmoid(a)` is within 2^-106 of 1 the difference is
/// below double-double precision; the complement is a value of its own.
fn complement_pairs(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    pairs_with_one(pool, xs, |pool, f| {
        let (scale, a) = match pool.node(f) {
            Node::Call(Func::Sigmoid, a) => (1, *a),
            Node::Call(Func::Tanh, a) => (2, *a),
            _ => return None,
        };
        let k = pool.int(-scale);
        let arg = pool.mul(vec![k, a]);
        let s = pool.call(Func::Sigmoid, arg);
        Some(pool.mul(vec![k, s]))
    })
}

/// `cos-minus-one`: a sum of `c_k cos(u)^k` with `sum c_k = 0` is `(cos u - 1) q(cos u)`,
/// and `cos u - 1 = -2 sin(u/2)^2` has no cancellation near `u = 0`. The sum may have
/// other terms besides (`1 - cos(t^2) - t^2 sin(t^2)`): the polynomial in `cos(u)`, its
/// constant included, is rewritten and they are kept as they are.
fn cos_minus_one(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    let mut arg = None;
    let mut coeffs: Vec<BigRational> = Vec::new();
    let mut others = Vec::new();
    for &x in xs {
        let (c, r) = pool.split_coeff(x);
        let k = if pool.is_one(r) {
            0
        } else {
            let (b, n) = pool.split_pow(r);
            let power = pool
                .as_rational(n)
                .filter(|n| {
                    n.is_integer() && n.is_positive() && **n <= BigRational::from_integer(64.into())
                })
                .and_then(|n| n.to_integer().to_usize());
            let cos_of = match pool.node(b) {
                Node::Call(Func::Cos, u) if arg.is_none_or(|a| a == *u) => Some(*u),
                _ => None,
            };
            match (power, cos_of) {
                (Some(k), Some(u)) => {
                    arg = Some(u);
                    k
                }
                _ => {
                    others.push(x);
                    continue;
                }
            }
        };
        if coeffs.len() <= k {
            coeffs.resize(k + 1, BigRational::zero());
        }
        coeffs[k] += c;
    }
    let u = arg?;
    if coeffs.len() < 2
        || !coeffs
            .iter()
            .fold(BigRational::zero(), |a, c| a + c)
            .is_zero()
    {
        return None;
    }
    // Synthetic division by (c - 1): b_{k-1} = a_k + b_k.
    let deg = coeffs.len() - 1;
    let mut q = vec![BigRational::zero(); deg];
    q[deg - 1] = coeffs[deg].clone();
    for k in (1..deg).rev() {
        q[k - 1] = &coeffs[k] + &q[k];
    }
    let cos_u = pool.call(Func::Cos, u);
    let qe = polynomial(pool, cos_u, &q);
    let half = pool.frac(1, 2);
    let half_u = pool.mul(vec![half, u]);
    let s = pool.call(Func::Sin, half_u);
    let s2 = pool.powi(s, 2);
    let m2 = pool.int(-2);
    others.push(pool.mul(vec![m2, s2, qe]));
    Some(pool.add(others))
}

/// `difference`: the first pair of terms `c r u^n` and `-c r v^n` (`n` from 1 to 8, `r`
/// what the two terms have in common, so that `cos(a)^2 cos(u) - cos(u)^3` is
/// `cos(u) (cos(a)^2 - cos(u)^2)`) whose bases have a difference without cancellation
/// ([`base_difference`]: the same function at two arguments, or two polynomials that
/// share terms), rewritten with `x^n - y^n = (x - y)(x^(n-1) + ... + y^(n-1))`; or a pair
/// with several such bases a side, each paired with itself at another time
/// ([`differing_powers`]), as the telescoped sum of their differences.
fn difference_of_values(pool: &mut Pool, xs: &[ExprId], several: bool) -> Option<ExprId> {
    let split: Vec<(BigRational, ExprId)> = xs.iter().map(|&x| pool.split_coeff(x)).collect();
    // Each term's factors as (base, exponent); a power whose exponent is no rational
    // (`b^t`) as a factor of its own, to the first power. Every factor must be there: one
    // left out was lost from the difference (`9.316^s exp(1 - s) - 9.316^t exp(1 - t)`
    // became `exp(1 - t) expm1(t - s)`; seed 28 case 31211 of the fuzzer).
    // A power of an exponential as the exponential of a multiple (`exp(a)^2` as
    // `exp(2a)`), so that it pairs with an exponential to the first power.
    let mut powers: Vec<Vec<(ExprId, BigRational)>> = Vec::with_capacity(split.len());
    for (_, r) in &split {
        let mut term = Vec::new();
        for f in factors(pool, *r) {
            let (b, k) = pool.split_pow(f);
            term.push(match (pool.as_rational(k).cloned(), pool.node(b).clone()) {
                (Some(k), Node::Call(Func::Exp, a)) if !k.is_one() => {
                    let kr = pool.rational(k);
                    let ka = pool.mul(vec![kr, a]);
                    (pool.call(Func::Exp, ka), BigRational::one())
                }
                (Some(k), _) => (b, k),
                (None, _) => (f, BigRational::one()),
            });
        }
        powers.push(term);
    }
    for i in 0..xs.len() {
        if !split[i].0.is_positive() {
            continue;
        }
        for j in 0..xs.len() {
            if i == j || !same_up_to_sign(&split[j].0, &split[i].0, true) {
                continue;
            }
            // Two constants fold to one exact constant anyway; paired, they would take
            // the partners of the terms that cancel against them (`exp(-4) - exp(4) +
            // exp(4 - 2t) - exp(2t - 4)`: each constant with the exponential it meets at
            // t = 0).
            if pool.free_symbols(xs[i]).is_empty() && pool.free_symbols(xs[j]).is_empty() {
                continue;
            }
            let Some((pairs, common)) = differing_powers(pool, &powers[i], &powers[j], several)
            else {
                continue;
            };
            // u1^k1 u2^k2 - v1^k1 v2^k2 = (u1^k1 - v1^k1) v2^k2 + u1^k1 (u2^k2 - v2^k2), and
            // so on for more factors: each difference through its bases' difference.
            let mut telescoped = Vec::with_capacity(pairs.len());
            for (m, (u, v, k)) in pairs.iter().enumerate() {
                let Some(d) = power_difference_of(pool, *u, *v, k) else {
                    break;
                };
                let mut factors = vec![d];
                for (l, (ul, vl, kl)) in pairs.iter().enumerate() {
                    if l != m {
                        let base = if l < m { *ul } else { *vl };
                        factors.push(pool.pow_rational(base, kl.clone()));
                    }
                }
                telescoped.push(pool.mul(factors));
            }
            if telescoped.len() < pairs.len() {
                continue;
            }
            let difference = pool.add(telescoped);
            let c = pool.rational(split[i].0.clone());
            let term = pool.mul(vec![c, common, difference]);
            return Some(replace_pair(pool, xs, (i, j), term));
        }
    }
    None
}

/// `u^k - v^k` through the difference of the bases ([`base_difference`]), without
/// subtracting the two values: `(u - v)(u^(k-1) + ... + v^(k-1))` for an integer `k` from
/// 1 to 8 (and its reciprocal form for `-k`), `v^k expm1(k log1p((u - v)/v))` for any
/// other exponent but 1/2 where `v > 0`. None where neither applies.
fn power_difference_of(pool: &mut Pool, u: ExprId, v: ExprId, k: &BigRational) -> Option<ExprId> {
    if let Some(r) = root_difference(pool, u, v, k) {
        return Some(r);
    }
    let d = base_difference(pool, u, v)?;
    let small = k
        .to_integer()
        .to_i64()
        .filter(|n| k.is_integer() && (1..=8).contains(&n.abs()));
    match small {
        Some(n) => {
            // x^n - y^n = (x - y) (x^(n-1) + x^(n-2) y + ... + y^(n-1)), and
            // x^-n - y^-n = -(x^n - y^n) x^-n y^-n.
            let mut sum = Vec::new();
            for m in 0..n.abs() {
                let p = pool.powi(u, m);
                let q = pool.powi(v, n.abs() - 1 - m);
                sum.push(pool.mul(vec![p, q]));
            }
            let sum = pool.add(sum);
            Some(if n > 0 {
                pool.mul(vec![d, sum])
            } else {
                let (un, vn) = (pool.powi(u, n), pool.powi(v, n));
                let minus = pool.int(-1);
                pool.mul(vec![minus, d, sum, un, vn])
            })
        }
        // Any other exponent against a one: x^k - 1 = expm1(k log1p(x - 1)), and
        // 1 - y^k = -expm1(k log1p(y - 1)).
        None if pool.is_one(v) => Some(power_minus_one(pool, d, k)),
        None if pool.is_one(u) => {
            let minus_d = pool.neg(d);
            let m = power_minus_one(pool, minus_d, k);
            Some(pool.neg(m))
        }
        // Any other exponent, where y > 0 on the domain:
        // x^k - y^k = y^k expm1(k log1p((x - y)/y)).
        // (Square roots are `conjugate`'s, which keeps the difference of the
        // squares only where that no longer subtracts.)
        None if k.abs() != BigRational::new(1.into(), 2.into())
            && crate::expr::range::is_positive(pool, v) =>
        {
            let ratio = pool.div(d, v);
            let m = power_minus_one(pool, ratio, k);
            let vk = pool.pow_rational(v, k.clone());
            Some(pool.mul(vec![vk, m]))
        }
        None => None,
    }
}

/// `sqrt(t) - sqrt(s)` for two times as `(t - s)/(sqrt(t) + sqrt(s))` (and `1/sqrt(t) -
/// 1/sqrt(s)` as that over `-sqrt(t) sqrt(s)`): `conjugate` writes a difference of roots
/// standing alone so, but not one that is the argument of another difference
/// (`tanh(sigmoid(sqrt(s))) - tanh(sigmoid(sqrt(t)))`, whose `sigmoid(0) - sigmoid(sqrt(t))`
/// at the final step is `sqrt(t)` itself; fuzz seed 29 case 80987: 4e18 ulps off at t =
/// 1e-100). Where both times are 0 the quotient is 0/0: a step of length zero is its own
/// guard (`field_guards` in `codegen`), the identity.
fn root_difference(pool: &mut Pool, u: ExprId, v: ExprId, k: &BigRational) -> Option<ExprId> {
    let half = BigRational::new(1.into(), 2.into());
    if k.abs() != half || u == v {
        return None;
    }
    let (Node::Sym(_), Node::Sym(_)) = (pool.node(u), pool.node(v)) else {
        return None;
    };
    let d = pool.sub(u, v);
    let (su, sv) = (pool.sqrt(u), pool.sqrt(v));
    let sum = pool.add(vec![su, sv]);
    let q = pool.div(d, sum);
    Some(if k.is_positive() {
        q
    } else {
        let minus = pool.int(-1);
        let (iu, iv) = (
            pool.pow_rational(u, -half.clone()),
            pool.pow_rational(v, -half),
        );
        pool.mul(vec![minus, q, iu, iv])
    })
}

/// `(1 + x)^k - 1` as `expm1(k log1p(x))`, which keeps its digits where `x` is small.
fn power_minus_one(pool: &mut Pool, x: ExprId, k: &BigRational) -> ExprId {
    let log = pool.call(Func::Log1p, x);
    let kr = pool.rational(k.clone());
    let arg = pool.mul(vec![kr, log]);
    pool.call(Func::Expm1, arg)
}

/// Two terms' factors as `r u^k` and `r v^k`: `([(u, v, k)], r)`, where `r` takes from each
/// base the one of its two exponents nearer 0 (where they have one sign) and what is left
/// is one power, the same on each side; or, where more is left, `r u1^k1 u2^k2 ...` and `r v1^k1 v2^k2 ...` (up to
/// [`MAX_DIFFERING`] factors a side) with each `v_i` its `u_i` at another time (`sigmoid(a
/// + t) sigmoid(-a - t)` and the same at `s`): those pairs.
fn differing_powers(
    pool: &mut Pool,
    x: &[(ExprId, BigRational)],
    y: &[(ExprId, BigRational)],
    several: bool,
) -> Option<DifferingPowers> {
    let exponent = |fs: &[(ExprId, BigRational)], b: ExprId| {
        fs.iter()
            .find(|(c, _)| *c == b)
            .map_or_else(BigRational::zero, |(_, k)| k.clone())
    };
    let mut common = Vec::new();
    let mut left = Vec::new();
    let mut right = Vec::new();
    // The exponent both have: the one nearer 0 where both have the same sign (a shared
    // denominator too, so that `1/cosh(t)^2 - 1/(cosh(t) cosh(s))` leaves `1/cosh(t)` and
    // `1/cosh(s)`), else none.
    let shared = |k: &BigRational, m: BigRational| {
        if k.is_positive() && m.is_positive() {
            if m < *k { m } else { k.clone() }
        } else if k.is_negative() && m.is_negative() {
            if m > *k { m } else { k.clone() }
        } else {
            BigRational::zero()
        }
    };
    for (b, k) in x {
        let s = shared(k, exponent(y, *b));
        if !s.is_zero() {
            common.push((*b, s.clone()));
        }
        if *k != s {
            left.push((*b, k - &s));
        }
    }
    for (b, k) in y {
        let s = shared(k, exponent(x, *b));
        if *k != s {
            right.push((*b, k - &s));
        }
    }
    let one = pool.one();
    // `1 - u^k`, a fractional power of a base that is 1 at an end (`1 - (1 - t)^(3/2)`):
    // the one is `1^k` (integer powers are `polynomial`'s, square roots `conjugate`'s).
    let fractional =
        |k: &BigRational| !k.is_integer() && k.abs() != BigRational::new(1.into(), 2.into());
    let pairs = match (left.as_slice(), right.as_slice()) {
        ([], [(rb, rk)]) if fractional(rk) => vec![(one, *rb, rk.clone())],
        ([(lb, lk)], []) if fractional(lk) => vec![(*lb, one, lk.clone())],
        ([(lb, lk)], [(rb, rk)]) => {
            // Powers of two exponentials are exponentials: `exp(a)^2 - exp(a + b)` (a VE
            // sigma times the difference of two sigmas) is `exp(2a) - exp(a + b)`.
            if let (Node::Call(Func::Exp, a), Node::Call(Func::Exp, b)) =
                (pool.node(*lb).clone(), pool.node(*rb).clone())
                && lk != rk
            {
                let (lr, rr) = (pool.rational(lk.clone()), pool.rational(rk.clone()));
                let (ka, kb) = (pool.mul(vec![lr, a]), pool.mul(vec![rr, b]));
                let (u, v) = (pool.call(Func::Exp, ka), pool.call(Func::Exp, kb));
                vec![(u, v, BigRational::one())]
            } else if lk != rk || lb == rb {
                return None;
            } else {
                vec![(*lb, *rb, lk.clone())]
            }
        }
        _ if several && left.len() == right.len() && left.len() <= MAX_DIFFERING => {
            // Two exponentials pair whatever their arguments: `exp(a) - exp(b)` is
            // `exp(b) expm1(a - b)` with `a - b` one canonical sum (`exp(2 L t) (1 - s)
            // - exp(L (s + t)) (1 - t)`, a score step's difference with a geometric sigma).
            let both_exp = |pool: &Pool, u: ExprId, v: ExprId| {
                matches!(
                    (pool.node(u), pool.node(v)),
                    (Node::Call(Func::Exp, _), Node::Call(Func::Exp, _))
                )
            };
            let mut pairs = Vec::with_capacity(left.len());
            let mut taken = vec![false; right.len()];
            for (lb, lk) in &left {
                let mut partner = None;
                for (r, (rb, rk)) in right.iter().enumerate() {
                    if !taken[r]
                        && rk == lk
                        && (both_exp(pool, *lb, *rb) || at_two_times(pool, *lb, *rb))
                    {
                        if partner.is_some() {
                            return None;
                        }
                        partner = Some(r);
                    }
                }
                let r = partner?;
                taken[r] = true;
                pairs.push((*lb, right[r].0, lk.clone()));
            }
            pairs
        }
        _ => return None,
    };
    let common: Vec<ExprId> = common
        .into_iter()
        .map(|(b, k)| pool.pow_rational(b, k))
        .collect();
    let common = pool.mul(common);
    Some((pairs, common))
}

/// The most factors a side that [`differing_powers`] pairs with their values at another
/// time (each pair adds a term to the telescoped difference).
const MAX_DIFFERING: usize = 4;

/// What [`differing_powers`] finds: the pairs `(u, v, k)` and the common factor `r`.
type DifferingPowers = (Vec<(ExprId, ExprId, BigRational)>, ExprId);

/// `u - v` for the bases of [`difference_of_values`], without the cancellation of
/// subtracting their values: through the difference of the arguments for two calls of one
/// [`DIFFERENCE_FUNCS`] function ([`value_difference`]); expanded for two polynomials in
/// the times that share terms (`(a + b t)^7 - (a + b s)^7` has `u - v = b (t - s)`,
/// which a value at t = 1e-40 would lose below double-double precision). None otherwise.
fn base_difference(pool: &mut Pool, u: ExprId, v: ExprId) -> Option<ExprId> {
    match (pool.node(u).clone(), pool.node(v).clone()) {
        (Node::Call(f, a), Node::Call(g, b)) => {
            if f != g || a == b || !DIFFERENCE_FUNCS.contains(&f) {
                return None;
            }
            value_difference(pool, f, a, b)
        }
        (Node::Call(..), _) | (_, Node::Call(..)) => None,
        _ => {
            // (A one is the one of `1 - u^k`: `differing_powers`.)
            let constant = |pool: &Pool, x: ExprId| pool.free_symbols(x).is_empty();
            if (constant(pool, u) && !pool.is_one(u))
                || (constant(pool, v) && !pool.is_one(v))
                || (constant(pool, u) && constant(pool, v))
            {
                return None;
            }
            let d = expanded_difference(pool, u, v);
            (pool_len(pool, d) < pool_len(pool, u) + pool_len(pool, v)).then_some(d)
        }
    }
}

/// `two-point`: a sum `P(u) - P(v)` of monomials `c u^k` and `-c v^k` in two symbols
/// (`t` and `t_next`: the same polynomial at two times; `c` any constant, the terms of
/// one power collected) as `(u - v) sum_k c (u^(k-1) + u^(k-2) v + ... + v^(k-1))`,
/// where `u - v` is exact in f64 for nearby times and no term cancels.
fn two_point_difference(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    // The constant coefficients of each (symbol, power), summed.
    let mut monomials: Vec<(Symbol, i64, Vec<ExprId>)> = Vec::new();
    for &x in xs {
        let (mut constant, mut power) = (Vec::new(), None);
        for f in factors(pool, x) {
            if pool.free_symbols(f).is_empty() {
                constant.push(f);
                continue;
            }
            let (b, k) = pool.split_pow(f);
            let k = pool.as_rational(k)?;
            let Node::Sym(sym) = pool.node(b) else {
                return None;
            };
            if power.is_some()
                || !k.is_integer()
                || !k.is_positive()
                || *k > BigRational::from_integer(8.into())
            {
                return None;
            }
            power = Some((*sym, k.to_integer().to_i64()?));
        }
        let (sym, k) = power?;
        let c = pool.mul(constant);
        match monomials.iter_mut().find(|m| m.0 == sym && m.1 == k) {
            Some(m) => m.2.push(c),
            None => monomials.push((sym, k, vec![c])),
        }
    }
    let mut syms: Vec<Symbol> = monomials.iter().map(|m| m.0).collect();
    syms.sort();
    syms.dedup();
    let [u, v] = syms.as_slice() else {
        return None;
    };
    let (u, v) = (*u, *v);
    // `c u - c v` is already the form wanted (and `c (u - v)` its canonical form).
    if xs.len() == 2 && monomials.iter().all(|m| m.1 == 1) {
        return None;
    }
    let mut coefficients: Vec<(i64, ExprId, ExprId)> = Vec::new();
    for (sym, k, cs) in &monomials {
        let c = pool.add(cs.clone());
        match coefficients.iter_mut().find(|e| e.0 == *k) {
            Some(e) if *sym == u => e.1 = c,
            Some(e) => e.2 = c,
            None if *sym == u => coefficients.push((*k, c, pool.zero())),
            None => {
                let z = pool.zero();
                coefficients.push((*k, z, c));
            }
        }
    }
    let (ue, ve) = (pool.sym_expr(u), pool.sym_expr(v));
    let mut terms = Vec::new();
    for (k, cu, cv) in coefficients {
        let total = pool.add(vec![cu, cv]);
        if !pool.is_zero(total) || pool.is_zero(cu) {
            return None;
        }
        let mut sum = Vec::new();
        for i in 0..k {
            let a = pool.powi(ue, i);
            let b = pool.powi(ve, k - 1 - i);
            sum.push(pool.mul(vec![a, b]));
        }
        let sum = pool.add(sum);
        terms.push(pool.mul(vec![cu, sum]));
    }
    let d = pool.sub(ue, ve);
    let q = pool.add(terms);
    Some(pool.mul(vec![d, q]))
}

/// `conjugate`: `p - q` with `p, q >= 0` and a square root among their factors as
/// `(p^2 - q^2)/(p + q)`, returned as the two parts, where `p^2 - q^2` (powers of
/// exponentials written as one exponential, sigmoids one way, expanded) loses its square
/// roots and keeps at most two terms or is a polynomial ([`is_polynomial`]), after a
/// factor the two share is taken out ([`shared_power`]; the second part returned is
/// `(p + q)/g`), and the caller keeps it only if the stable form of the difference
/// subtracts nothing but exact inputs ([`subtracts_at_top`]): for a
/// variance-preserving sampler step, `alpha_t sigma_s - alpha_s sigma_t` with
/// `sigma = sqrt(1 - alpha^2)` becomes `(alpha_t^2 - alpha_s^2)/(alpha_t sigma_s +
/// alpha_s sigma_t)`, a difference of two values that [`difference_of_values`] writes
/// through the difference of their arguments, over a sum that cannot cancel.
fn conjugate(pool: &mut Pool, xs: &[ExprId]) -> Option<(ExprId, ExprId)> {
    let [a, b] = xs else {
        return None;
    };
    let (ca, ra) = pool.split_coeff(*a);
    let (cb, rb) = pool.split_coeff(*b);
    if ca.is_positive() == cb.is_positive() {
        return None;
    }
    let (p, q) = if ca.is_positive() {
        (*a, pool.neg(*b))
    } else {
        (*b, pool.neg(*a))
    };
    let has_root = |pool: &Pool, r: ExprId| {
        factors(pool, r).iter().any(|&f| {
            let (base, k) = pool.split_pow(f);
            !pool.free_symbols(base).is_empty()
                && pool.as_rational(k).is_some_and(|k| *k.denom() == 2.into())
        })
    };
    if !(has_root(pool, ra) || has_root(pool, rb)) {
        return None;
    }
    let nonnegative =
        |pool: &Pool, e: ExprId| crate::expr::range::range(pool, e).is_some_and(|r| r.lo >= 0.0);
    if !nonnegative(pool, p) || !nonnegative(pool, q) {
        return None;
    }
    let square = |pool: &mut Pool, e: ExprId| {
        let (c, r) = pool.split_coeff(e);
        let mut fs: Vec<ExprId> = factors(pool, r)
            .into_iter()
            .map(|f| match exp_power(pool, f) {
                Some((x, k)) => {
                    let two_k = pool.rational(k * BigRational::from_integer(2.into()));
                    let arg = pool.mul(vec![two_k, x]);
                    pool.call(Func::Exp, arg)
                }
                None => pool.powi(f, 2),
            })
            .collect();
        fs.push(pool.rational(&c * &c));
        pool.mul(fs)
    };
    // What the two share (`sigma^2 alpha_n - sigma sigma_n alpha`, a score step's
    // coefficient, shares `sigma`, written `x` and `sqrt(x)`) is no part of the
    // difference: `p - q = g (p' - q')`, and only `p' - q'` is conjugated.
    let g = shared_power(pool, p, q);
    let inverse = pool.recip(g);
    let (p, q) = (pool.mul(vec![p, inverse]), pool.mul(vec![q, inverse]));
    let (p2, q2) = (square(pool, p), square(pool, q));
    let d = pool.sub(p2, q2);
    // Both ways of writing the sigmoids: which one cancels depends on the signs.
    let ways: Vec<ExprId> = [std::cmp::Ordering::Less, std::cmp::Ordering::Greater]
        .into_iter()
        .map(|way| {
            let d = sigmoids_one_way(pool, d, way, &mut HashMap::new());
            poly::expand(pool, d)
        })
        .collect();
    let d = *ways.iter().min_by_key(|&&d| pool_len(pool, d))?;
    if pool.is_zero(d) || (pool_len(pool, d) > 2 && !is_polynomial(pool, d)) {
        return None;
    }
    let terms = match pool.node(d) {
        Node::Add(ts) => ts.to_vec(),
        _ => vec![d],
    };
    if terms.iter().any(|&t| {
        let (_, r) = pool.split_coeff(t);
        has_root(pool, r)
    }) {
        return None;
    }
    let sum = pool.add(vec![p, q]);
    Some((d, pool.mul(vec![sum, inverse])))
}

/// The largest product of powers that both `p` and `q` hold: each base that is a factor
/// of both (`x` and `sqrt(x)` share `sqrt(x)`) to the lesser of its two positive powers,
/// where the base is nonnegative on the domain (so that `x/sqrt(x)` is `sqrt(x)`).
fn shared_power(pool: &mut Pool, p: ExprId, q: ExprId) -> ExprId {
    let powers = |pool: &mut Pool, e: ExprId| -> Vec<(ExprId, BigRational)> {
        let (_, r) = pool.split_coeff(e);
        factors(pool, r)
            .into_iter()
            .filter_map(|f| {
                let (base, k) = pool.split_pow(f);
                let k = pool.as_rational(k)?.clone();
                (k.is_positive() && varying_nonnegative(pool, base)).then_some((base, k))
            })
            .collect()
    };
    let (ps, qs) = (powers(pool, p), powers(pool, q));
    let mut shared = Vec::new();
    for (base, k) in &ps {
        if let Some((_, m)) = qs.iter().find(|(b, _)| b == base) {
            let least = pool.rational(k.clone().min(m.clone()));
            shared.push(pool.pow(*base, least));
        }
    }
    pool.mul(shared)
}

/// Whether `e` is a polynomial in its symbols: a sum of rational multiples of products
/// of symbols to non-negative integer powers. [`conjugate`] takes such a difference of
/// squares whatever its length: the rules write it through the difference of the times
/// where it vanishes on `t = t_next` (`two-point`, `difference`), or through its rational
/// roots (`root-factor`), and the caller keeps it only where that subtracts nothing.
fn is_polynomial(pool: &mut Pool, e: ExprId) -> bool {
    let terms = match pool.node(e) {
        Node::Add(ts) => ts.to_vec(),
        _ => vec![e],
    };
    terms.into_iter().all(|term| {
        let (_, r) = pool.split_coeff(term);
        factors(pool, r).into_iter().all(|f| {
            let (base, k) = pool.split_pow(f);
            matches!(pool.node(base), Node::Sym(_))
                && pool
                    .as_rational(k)
                    .is_some_and(|k| k.is_integer() && !k.is_negative())
        })
    })
}

/// Whether `e` is a difference of two exact inputs, `t - t_next` or `1 - t`: two terms,
/// each a symbol, its negation or a rational constant (one at most). Its one rounding is
/// half an ulp of the difference itself, however close the inputs, so it is no
/// cancellation. (A constant that is no f64, `1/3 - t`, is a double-double literal in
/// the emitted code, one rounding more; the budget's measurement sees it.)
fn exact_difference(pool: &mut Pool, e: ExprId) -> bool {
    let Node::Add(ts) = pool.node(e).clone() else {
        return false;
    };
    let constants = ts
        .iter()
        .filter(|&&x| pool.as_rational(x).is_some())
        .count();
    ts.len() == 2
        && constants <= 1
        && ts.iter().all(|&x| {
            let (c, r) = pool.split_coeff(x);
            pool.as_rational(x).is_some()
                || (c.abs().is_one() && matches!(pool.node(r), Node::Sym(_)))
        })
}

/// Whether `e` is a sum of terms of both signs, or a product with such a sum among its
/// factors: a subtraction left for the arithmetic. A difference of two exact inputs
/// ([`exact_difference`]) is none.
fn subtracts_at_top(pool: &mut Pool, e: ExprId) -> bool {
    let mixed = |pool: &mut Pool, x: ExprId| match pool.node(x).clone() {
        Node::Add(_) if exact_difference(pool, x) => false,
        Node::Add(ts) => {
            let signs: Vec<bool> = ts
                .iter()
                .map(|&t| pool.split_coeff(t).0.is_positive())
                .collect();
            signs.iter().any(|&s| s) && signs.iter().any(|&s| !s)
        }
        _ => false,
    };
    if mixed(pool, e) {
        return true;
    }
    factors(pool, e).into_iter().any(|f| {
        let (b, _) = pool.split_pow(f);
        mixed(pool, b)
    })
}

/// `e` with every `sigmoid(x)` whose argument is the later of `x` and `-x` in the pool's
/// order (the earlier, for `way` Greater) written `1 - sigmoid(-x)`, so that expanding cancels what the identity
/// `sigmoid(x) + sigmoid(-x) = 1` cancels: `sigmoid(a) sigmoid(-b) - sigmoid(-a)
/// sigmoid(b)` is `sigmoid(a) - sigmoid(b)`.
fn sigmoids_one_way(
    pool: &mut Pool,
    e: ExprId,
    way: std::cmp::Ordering,
    memo: &mut HashMap<ExprId, ExprId>,
) -> ExprId {
    if let Some(&r) = memo.get(&e) {
        return r;
    }
    let children = pool.children(e);
    let new: Vec<ExprId> = children
        .iter()
        .map(|&c| sigmoids_one_way(pool, c, way, memo))
        .collect();
    let e2 = if new == children {
        e
    } else {
        pool.rebuild(e, &new)
    };
    let r = match pool.node(e2).clone() {
        Node::Call(Func::Sigmoid, x) => {
            let minus_x = pool.neg(x);
            if pool.cmp(minus_x, x) == way {
                let s = pool.call(Func::Sigmoid, minus_x);
                let one = pool.one();
                pool.sub(one, s)
            } else {
                e2
            }
        }
        _ => e2,
    };
    memo.insert(e, r);
    r
}

/// `complement`: `k - k f(b)^n / f(a)^n` with `f(a)` constant (a schedule normalised by its
/// value at an end, `1 - c(t)/c(0)`) as `k (f(a)^n - f(b)^n) / f(a)^n`, whose difference
/// [`difference_of_values`] then writes through `a - b`.
fn normalized_complement(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    let split: Vec<(BigRational, ExprId)> = xs.iter().map(|&x| pool.split_coeff(x)).collect();
    let (ci, k) = split
        .iter()
        .enumerate()
        .find(|(_, (_, r))| pool.is_one(*r))
        .map(|(i, (c, _))| (i, c.clone()))?;
    for (j, (c, r)) in split.iter().enumerate() {
        if j == ci || !same_up_to_sign(c, &k, true) {
            continue;
        }
        let fs = factors(pool, *r);
        // A constant f(a)^-n and a varying f(b)^n among the factors.
        let powers: Vec<(usize, Func, ExprId, i64)> = fs
            .iter()
            .enumerate()
            .filter_map(|(idx, &f)| {
                let (base, n) = pool.split_pow(f);
                let n = pool.as_rational(n)?.to_integer().to_i64()?;
                match pool.node(base) {
                    Node::Call(func, a) if DIFFERENCE_FUNCS.contains(func) => {
                        Some((idx, *func, *a, n))
                    }
                    _ => None,
                }
            })
            .collect();
        for &(di, f, a, n) in &powers {
            // (-n is not an i64 for the least one.)
            if n >= 0 || n == i64::MIN || !pool.free_symbols(a).is_empty() {
                continue;
            }
            let Some(&(ni, _, b, _)) = powers
                .iter()
                .find(|&&(idx, g, b, m)| idx != di && g == f && m == -n && b != a)
            else {
                continue;
            };
            let rest: Vec<ExprId> = fs
                .iter()
                .enumerate()
                .filter(|&(idx, _)| idx != di && idx != ni)
                .map(|(_, &g)| g)
                .collect();
            if !rest.is_empty() {
                continue;
            }
            let fa = pool.call(f, a);
            let fb = pool.call(f, b);
            let pa = pool.powi(fa, -n);
            let pb = pool.powi(fb, -n);
            let diff = pool.sub(pa, pb);
            let inv = pool.powi(fa, n);
            let kk = pool.rational(k.clone());
            let term = pool.mul(vec![kk, diff, inv]);
            return Some(replace_pair(pool, xs, (ci, j), term));
        }
    }
    None
}

/// The functions whose differences [`difference_of_values`] rewrites.
const DIFFERENCE_FUNCS: [Func; 11] = [
    Func::Exp,
    Func::Expm1,
    Func::Sigmoid,
    Func::Log,
    Func::Log1p,
    Func::Sin,
    Func::Cos,
    Func::Sinh,
    Func::Cosh,
    Func::Tanh,
    Func::Atan,
];

/// `a - b` expanded, so that `pi/252 - 125 pi (1/125 + t)/252` is `-125 pi t/252` exactly,
/// and where it is one polynomial at two times, through their difference
/// ([`two_point_difference`]).
fn expanded_difference(pool: &mut Pool, a: ExprId, b: ExprId) -> ExprId {
    let d = pool.sub(a, b);
    let d = poly::expand(pool, d);
    match pool.node(d).clone() {
        Node::Add(xs) => two_point_difference(pool, &xs).unwrap_or(d),
        _ => d,
    }
}

/// `f(a) - f(b)` through `a - b`, or None where no identity applies on the domain.
fn value_difference(pool: &mut Pool, f: Func, a: ExprId, b: ExprId) -> Option<ExprId> {
    let a_minus_b = expanded_difference(pool, a, b);
    // A difference that neither simplifies below its parts, nor is a polynomial (whose
    // zero root-factor keeps), nor is `c t - c s` (one rounding), nor is one expression
    // at two times whose difference is written through its arguments (`c cos(pi t) -
    // c cos(pi s)`, by sum to product), is no more exact than the difference of the two
    // values, and it costs: `log1p((tan(u) - c)/c)` loses `tan(u)/c` once it is below
    // 2^-106.
    let parts = pool_len(pool, a) + pool_len(pool, b);
    let a_minus_b = match pool.node(a_minus_b).clone() {
        Node::Add(xs)
            if xs.len() >= parts
                && univariate(pool, &xs).is_none()
                && !scaled_difference(pool, &xs) =>
        {
            // A polynomial times a constant that is no rational (`log(5000) (t - t^2)`,
            // the exponents of `5000^t - 5000^(t^2)`): the polynomial, scaled.
            if let Some((c, ys)) = common_constant(pool, &xs)
                && univariate(pool, &ys).is_some()
            {
                let p = pool.add(ys);
                pool.mul(vec![c, p])
            } else if at_two_times(pool, a, b) {
                difference_of_values(pool, &xs, false)?
            } else {
                return None;
            }
        }
        _ => a_minus_b,
    };
    Some(match f {
        // exp(a) - exp(b) = expm1(a) - expm1(b) = exp(b) expm1(a - b)
        Func::Exp | Func::Expm1 => {
            let eb = pool.call(Func::Exp, b);
            let m = pool.call(Func::Expm1, a_minus_b);
            pool.mul(vec![eb, m])
        }
        // sigmoid(a) - sigmoid(b) = -sigmoid(a) sigmoid(-b) expm1(b - a)
        Func::Sigmoid => {
            let sa = pool.call(Func::Sigmoid, a);
            let nb = pool.neg(b);
            let snb = pool.call(Func::Sigmoid, nb);
            let b_minus_a = pool.neg(a_minus_b);
            let m = pool.call(Func::Expm1, b_minus_a);
            let minus = pool.int(-1);
            pool.mul(vec![minus, sa, snb, m])
        }
        // log(a) - log(b) = log1p((a - b)/b)
        Func::Log => {
            let q = pool.div(a_minus_b, b);
            pool.call(Func::Log1p, q)
        }
        // log1p(a) - log1p(b) = log1p((a - b)/(1 + b))
        Func::Log1p => {
            let one = pool.one();
            let den = pool.add(vec![one, b]);
            let q = pool.div(a_minus_b, den);
            pool.call(Func::Log1p, q)
        }
        // sin(a) - sin(b) = 2 cos((a + b)/2) sin((a - b)/2)
        // cos(a) - cos(b) = -2 sin((a + b)/2) sin((a - b)/2)
        // sinh(a) - sinh(b) = 2 cosh((a + b)/2) sinh((a - b)/2)
        // cosh(a) - cosh(b) = 2 sinh((a + b)/2) sinh((a - b)/2)
        Func::Sin | Func::Cos | Func::Sinh | Func::Cosh => {
            let (of_half, of_mid, k) = match f {
                Func::Sin => (Func::Sin, Func::Cos, 2),
                Func::Cos => (Func::Sin, Func::Sin, -2),
                Func::Sinh => (Func::Sinh, Func::Cosh, 2),
                _ => (Func::Sinh, Func::Sinh, 2),
            };
            let half = pool.frac(1, 2);
            let sum = pool.add(vec![a, b]);
            let mid = pool.mul(vec![half, sum]);
            let hd = pool.mul(vec![half, a_minus_b]);
            let s = pool.call(of_half, hd);
            let m = pool.call(of_mid, mid);
            let k = pool.int(k);
            pool.mul(vec![k, m, s])
        }
        // tanh(a) - tanh(b) = sinh(a - b)/(cosh(a) cosh(b))
        Func::Tanh => {
            let s = pool.call(Func::Sinh, a_minus_b);
            let ca = pool.call(Func::Cosh, a);
            let cb = pool.call(Func::Cosh, b);
            let den = pool.mul(vec![ca, cb]);
            pool.div(s, den)
        }
        // atan(a) - atan(b) = atan((a - b)/(1 + a b)) where a b > -1.
        Func::Atan => {
            let ab = pool.mul(vec![a, b]);
            let one = pool.one();
            let den = pool.add(vec![one, ab]);
            // range bounds the values where `ab` is defined, rigorously.
            if !crate::expr::range::range(pool, ab).is_some_and(|r| r.lo > -1.0) {
                return None;
            }
            let q = pool.div(a_minus_b, den);
            pool.call(Func::Atan, q)
        }
        _ => return None,
    })
}

/// The constant factors that are no rationals and that every term of `xs` has (`log(5000)`
/// in `log(5000) t - log(5000) t^2`), as their product and the terms without them; None
/// where there are none.
fn common_constant(pool: &mut Pool, xs: &[ExprId]) -> Option<(ExprId, Vec<ExprId>)> {
    let constant_factors = |pool: &Pool, x: ExprId| -> Vec<ExprId> {
        factors(pool, x)
            .into_iter()
            .filter(|&f| pool.is_constant(f) && pool.as_rational(f).is_none())
            .collect()
    };
    let mut common = constant_factors(pool, *xs.first()?);
    for &x in &xs[1..] {
        let fs = constant_factors(pool, x);
        common.retain(|f| fs.contains(f));
    }
    if common.is_empty() {
        return None;
    }
    let c = pool.mul(common);
    let rest = xs.iter().map(|&x| pool.div(x, c)).collect();
    Some((c, rest))
}

/// Whether the terms `xs` are `c u - c v` for two symbols `u`, `v` and one constant `c`
/// (`pi t - pi t_next`): the two-point form [`two_point_difference`] leaves as it is.
fn scaled_difference(pool: &mut Pool, xs: &[ExprId]) -> bool {
    let [x, y] = xs else {
        return false;
    };
    let (cx, rx) = pool.split_coeff(*x);
    let (cy, ry) = pool.split_coeff(*y);
    // `r` as (its constant factors, its one symbol).
    let parts = |pool: &Pool, r: ExprId| {
        let (symbols, constant): (Vec<ExprId>, Vec<ExprId>) = factors(pool, r)
            .into_iter()
            .partition(|&f| !pool.free_symbols(f).is_empty());
        match symbols.as_slice() {
            [s] if matches!(pool.node(*s), Node::Sym(_)) => Some((constant, *s)),
            _ => None,
        }
    };
    match (parts(pool, rx), parts(pool, ry)) {
        (Some((kx, sx)), Some((ky, sy))) => same_up_to_sign(&cx, &cy, true) && kx == ky && sx != sy,
        _ => false,
    }
}

/// Whether `b` is `a` with its one symbol (a time) replaced by another: one expression at
/// two times, as in a sampler step.
fn at_two_times(pool: &mut Pool, a: ExprId, b: ExprId) -> bool {
    let (sa, sb) = (pool.free_symbols(a), pool.free_symbols(b));
    let ([u], [v]) = (sa.as_slice(), sb.as_slice()) else {
        return false;
    };
    if u == v {
        return false;
    }
    let ve = pool.sym_expr(*v);
    crate::expr::subst::subst1(pool, a, *u, ve) == b
}

/// The number of terms of a sum (1 for anything else).
fn pool_len(pool: &Pool, e: ExprId) -> usize {
    match pool.node(e) {
        Node::Add(xs) => xs.len(),
        _ => 1,
    }
}

/// The largest denominator of a rational root that [`factor_roots`] looks for.
const ROOT_DENOMINATOR: i64 = 64;

/// `root-factor`: a polynomial `sum c_k t^k` (one symbol, rational coefficients) with a
/// rational root `r` in (0, 1] is `(r - t)^m q(t)`: near `r` the expanded sum cancels to
/// far below its terms, the factored form does not.
fn factor_roots(pool: &mut Pool, e: ExprId, xs: &[ExprId]) -> Option<ExprId> {
    let (t, coeffs) = univariate(pool, xs)?;
    if coeffs.len() < 2 || coeffs.len() > 65 {
        return None;
    }
    let mut q = coeffs;
    let mut found: Vec<(BigRational, usize)> = Vec::new();
    for d in 1..=ROOT_DENOMINATOR {
        for n in 1..=d {
            if num_integer::gcd(n, d) != 1 {
                continue;
            }
            // An f64 evaluation rules out almost every candidate before exact division.
            let x = n as f64 / d as f64;
            let (value, scale) = q.iter().rev().fold((0.0f64, 0.0f64), |(v, a), c| {
                let c = c.to_f64().unwrap_or(f64::NAN);
                (v * x + c, a * x + c.abs())
            });
            let near_zero = value.abs() <= 1e-9 * scale; // false for NaN: no factoring
            if !near_zero {
                continue;
            }
            let r = BigRational::new(n.into(), d.into());
            let mut m = 0;
            while q.len() > 1 {
                let (quot, rem) = divide_by_root(&q, &r);
                if !rem.is_zero() {
                    break;
                }
                q = quot;
                m += 1;
            }
            if m > 0 {
                found.push((r, m));
            }
        }
    }
    if found.is_empty() {
        return None;
    }
    // (t - r)^m = (-1)^m (r - t)^m
    let te = pool.sym_expr(t);
    let mut factors = Vec::new();
    let mut sign = 1i64;
    for (r, m) in found {
        let re = pool.rational(r);
        let diff = pool.sub(re, te);
        factors.push(pool.powi(diff, m as i64));
        if m % 2 == 1 {
            sign = -sign;
        }
    }
    let q: Vec<BigRational> = if sign < 0 {
        q.into_iter().map(|c| -c).collect()
    } else {
        q
    };
    factors.push(polynomial(pool, te, &q));
    let r = pool.mul(factors);
    (r != e).then_some(r)
}

/// A sum as a polynomial in one symbol: the symbol and the coefficients by degree.
fn univariate(pool: &mut Pool, xs: &[ExprId]) -> Option<(Symbol, Vec<BigRational>)> {
    let mut var = None;
    let mut coeffs: Vec<BigRational> = Vec::new();
    for &x in xs {
        let (c, r) = pool.split_coeff(x);
        let k = if pool.is_one(r) {
            0
        } else {
            let (b, n) = pool.split_pow(r);
            let Node::Sym(s) = *pool.node(b) else {
                return None;
            };
            if var.is_some_and(|v| v != s) {
                return None;
            }
            var = Some(s);
            let n = pool.as_rational(n)?;
            if !n.is_integer() || !n.is_positive() {
                return None;
            }
            n.to_integer().to_usize()?
        };
        if k > 64 {
            return None;
        }
        if coeffs.len() <= k {
            coeffs.resize(k + 1, BigRational::zero());
        }
        coeffs[k] += c;
    }
    Some((var?, coeffs))
}

/// Synthetic division of `sum p_k t^k` by `t - r`: the quotient and the remainder p(r).
fn divide_by_root(p: &[BigRational], r: &BigRational) -> (Vec<BigRational>, BigRational) {
    let deg = p.len() - 1;
    let mut q = vec![BigRational::zero(); deg];
    let mut acc = p[deg].clone();
    for k in (0..deg).rev() {
        q[k] = acc.clone();
        acc = &p[k] + &acc * r;
    }
    (q, acc)
}

/// `removable-root`: a product with a factor `D^-k` (`D` a polynomial in one symbol `s`
/// with rational coefficients, `k` a positive integer) that vanishes at an end `r` (0 or 1),
/// and a sum `N` among its factors that vanishes there too as a polynomial in `s`: each
/// group of `N`'s terms that share their other factors (`log(t)`, `log(1 - t)`) is a
/// polynomial with the root `r`. Then `N/D^k = (N/(s - r))/(D^(k - 1) (D/(s - r)))`, the
/// division exact on the coefficients. The simplifier leaves such a common factor where
/// its work allowance runs out (a log-SNR with 17-digit coefficients gave `g2 =
/// sigmoid(-L) N/(t - 2t^2 + t^3)`, `N` a sum of `t^k`, `t^k log t` and `t^k log(1 - t)`
/// terms vanishing at t = 1): the quotient is then 0/0 next to the end, where the terms of
/// `N` cancel to 2^-53 of their size and more at t = 1 - 2^-53, beyond double-double's
/// 106 bits (`g2` missed 4 ulps by 20 there, run in double-double throughout). Taken before
/// the numerator's terms are rewritten (which would group them otherwise); None where no
/// such pair of factors is found.
fn removable_root(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    for (i, &f) in xs.iter().enumerate() {
        let (d, k) = pool.split_pow(f);
        let Some(k) = pool
            .as_rational(k)
            .filter(|k| k.is_integer() && k.is_negative())
            .and_then(|k| k.to_integer().to_i64())
        else {
            continue;
        };
        let Node::Add(ds) = pool.node(d).clone() else {
            continue;
        };
        let Some((s, dc)) = univariate(pool, &ds).filter(|(_, dc)| dc.len() >= 2) else {
            continue;
        };
        for r in [BigRational::zero(), BigRational::one()] {
            let (dq, rem) = divide_by_root(&dc, &r);
            if !rem.is_zero() {
                continue;
            }
            for (j, &n) in xs.iter().enumerate() {
                if j == i {
                    continue;
                }
                let Some(nq) = divided_by_root(pool, n, s, &r) else {
                    continue;
                };
                let se = pool.sym_expr(s);
                let dq = polynomial(pool, se, &dq);
                let rest = pool.powi(d, k + 1);
                let dq = pool.recip(dq);
                let mut out: Vec<ExprId> = xs
                    .iter()
                    .enumerate()
                    .filter(|&(l, _)| l != i && l != j)
                    .map(|(_, &x)| x)
                    .collect();
                out.extend([nq, rest, dq]);
                return Some(pool.mul(out));
            }
        }
    }
    None
}

/// `e` with [`removable_root`] applied wherever it applies, bottom-up, before the other
/// rewrites: one pass, linear in the size of `e`, so that a common root is divided out
/// also where the rewrites' allowance ([`WORK`]) does not reach.
fn without_removable_roots(
    pool: &mut Pool,
    e: ExprId,
    memo: &mut HashMap<ExprId, ExprId>,
) -> ExprId {
    if let Some(&r) = memo.get(&e) {
        return r;
    }
    let children = pool.children(e);
    let new_children: Vec<ExprId> = children
        .iter()
        .map(|&c| without_removable_roots(pool, c, memo))
        .collect();
    let mut out = if new_children == children {
        e
    } else {
        pool.rebuild(e, &new_children)
    };
    // Each division lowers a denominator's degree: the loop ends.
    while let Node::Mul(xs) = pool.node(out).clone()
        && let Some(r) = removable_root(pool, &xs)
    {
        out = r;
    }
    memo.insert(e, out);
    out
}

/// `n`, a sum, divided by `s - r` where each group of its terms that share their factors
/// other than a power of `s` and a rational is a polynomial in `s` with the root `r`.
fn divided_by_root(pool: &mut Pool, n: ExprId, s: Symbol, r: &BigRational) -> Option<ExprId> {
    let Node::Add(ns) = pool.node(n).clone() else {
        return None;
    };
    // The groups in the order of their first term: (other factors, coefficients by degree).
    let mut groups: Vec<(ExprId, Vec<BigRational>)> = Vec::new();
    for &x in &ns {
        let (c, rest) = pool.split_coeff(x);
        let mut degree = 0usize;
        let mut others = Vec::new();
        for g in factors(pool, rest) {
            let (b, m) = pool.split_pow(g);
            match (pool.node(b), pool.as_rational(m)) {
                (Node::Sym(v), Some(m)) if *v == s && m.is_integer() && m.is_positive() => {
                    degree = m.to_integer().to_usize().filter(|&m| m <= 64)?;
                }
                _ => others.push(g),
            }
        }
        let key = pool.mul(others);
        let at = match groups.iter().position(|(k, _)| *k == key) {
            Some(p) => p,
            None => {
                groups.push((key, Vec::new()));
                groups.len() - 1
            }
        };
        let coeffs = &mut groups[at].1;
        if coeffs.len() <= degree {
            coeffs.resize(degree + 1, BigRational::zero());
        }
        coeffs[degree] += c;
    }
    let se = pool.sym_expr(s);
    let mut terms = Vec::with_capacity(groups.len());
    for (key, coeffs) in groups {
        if coeffs.iter().all(Zero::is_zero) {
            continue;
        }
        let (q, rem) = divide_by_root(&coeffs, r);
        if !rem.is_zero() {
            return None;
        }
        let q = polynomial(pool, se, &q);
        terms.push(pool.mul(vec![key, q]));
    }
    Some(pool.add(terms))
}

/// `sum_k c_k s^k`.
fn polynomial(pool: &mut Pool, s: ExprId, coeffs: &[BigRational]) -> ExprId {
    let terms: Vec<ExprId> = coeffs
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.is_zero())
        .map(|(k, c)| {
            let c = pool.rational(c.clone());
            let p = pool.powi(s, k as i64);
            pool.mul(vec![c, p])
        })
        .collect();
    pool.add(terms)
}

/// Whether a sum has a constant term and a term divided by a sum (`1 - 1/(1 + y)`), or
/// two terms divided by sums (`1/(t - t^(3/2)) - 1/(sqrt(t) - t)`): both can cancel to
/// far below the size of their terms.
fn needs_together(pool: &Pool, xs: &[ExprId]) -> bool {
    let consts = xs
        .iter()
        .filter(|&&x| pool.free_symbols(x).is_empty())
        .count();
    let recip_sums = xs
        .iter()
        .filter(|&&x| {
            factors(pool, x).into_iter().any(|f| match pool.node(f) {
                Node::Pow(b, k) => {
                    matches!(pool.node(*b), Node::Add(_))
                        && pool.as_rational(*k).is_some_and(|k| k.is_negative())
                }
                _ => false,
            })
        })
        .count();
    recip_sums >= 1 && consts + recip_sums >= 2
}

/// `together`, after writing each symbol `s` that appears under a fractional power as
/// `u^q` (`q` the common denominator of its exponents), so that `t` and `sqrt(t)` are one
/// generator `u` and common factors such as `(1 - sqrt(t))^2` cancel exactly; then back.
fn together_in_roots(pool: &mut Pool, e: ExprId) -> ExprId {
    let mut roots: Vec<(Symbol, i64)> = Vec::new();
    collect_root_denominators(pool, e, &mut roots);
    if roots.is_empty() {
        return poly::together(pool, e);
    }
    let subs: Vec<(Symbol, Symbol, i64)> = roots
        .iter()
        .map(|&(s, q)| {
            let name = format!("_root_{}", pool.symbol_name(s));
            let u = pool.symbol(&name);
            pool.set_domain(u, pool.domain(s));
            (s, u, q)
        })
        .collect();
    let mut memo = HashMap::new();
    let Some(forward) = map_powers(pool, e, &mut memo, &|pool, s, r| {
        let &(_, u, q) = subs.iter().find(|(x, _, _)| *x == s)?;
        let ue = pool.sym_expr(u);
        let k = r * BigRational::from_integer(q.into());
        Some(pool.pow_rational(ue, k))
    }) else {
        return poly::together(pool, e);
    };
    let together = poly::together(pool, forward);
    let mut memo = HashMap::new();
    map_powers(pool, together, &mut memo, &|pool, u, r| {
        let &(s, _, q) = subs.iter().find(|(_, x, _)| *x == u)?;
        let se = pool.sym_expr(s);
        let k = r / BigRational::from_integer(q.into());
        Some(pool.pow_rational(se, k))
    })
    .unwrap_or(e)
}

/// For each symbol raised to a non-integer rational power in `e`, the least common
/// denominator of its exponents (at most 12).
fn collect_root_denominators(pool: &Pool, e: ExprId, out: &mut Vec<(Symbol, i64)>) {
    let mut stack = vec![e];
    let mut seen = std::collections::HashSet::new();
    while let Some(x) = stack.pop() {
        if !seen.insert(x) {
            continue;
        }
        if let Node::Pow(b, k) = pool.node(x)
            && let (Node::Sym(s), Some(k)) = (pool.node(*b), pool.as_rational(*k))
            && !k.is_integer()
            && let Some(d) = k.denom().to_i64()
        {
            match out.iter_mut().find(|(y, _)| y == s) {
                Some((_, q)) => *q = num_integer::lcm(*q, d),
                None => out.push((*s, d)),
            }
        }
        stack.extend(pool.children(x));
    }
    out.retain(|&(_, q)| q <= 12);
    out.sort_by(|a, b| pool.symbol_name(a.0).cmp(pool.symbol_name(b.0)));
}

/// Rebuilds `e` with every power `s^r` of a symbol (and `s` itself, `r = 1`) replaced by
/// `f(s, r)` where `f` gives one; `None` if a power of a substituted symbol is not rational.
fn map_powers(
    pool: &mut Pool,
    e: ExprId,
    memo: &mut HashMap<ExprId, ExprId>,
    f: &dyn Fn(&mut Pool, Symbol, BigRational) -> Option<ExprId>,
) -> Option<ExprId> {
    if let Some(&r) = memo.get(&e) {
        return Some(r);
    }
    let r = match pool.node(e).clone() {
        Node::Sym(s) => f(pool, s, BigRational::one()).unwrap_or(e),
        Node::Pow(b, k) if matches!(pool.node(b), Node::Sym(_)) => {
            let Node::Sym(s) = *pool.node(b) else {
                unreachable!("matched above")
            };
            match pool.as_rational(k).cloned() {
                Some(k) => f(pool, s, k).unwrap_or(e),
                None => {
                    if f(pool, s, BigRational::one()).is_some() {
                        return None;
                    }
                    let k2 = map_powers(pool, k, memo, f)?;
                    pool.pow(b, k2)
                }
            }
        }
        _ => {
            let children = pool.children(e);
            let mut new = Vec::with_capacity(children.len());
            for c in children {
                new.push(map_powers(pool, c, memo, f)?);
            }
            pool.rebuild(e, &new)
        }
    };
    memo.insert(e, r);
    Some(r)
}

/// `sigmoid-ratio`: `sigmoid(a)^k * sigmoid(-a)^-k * r = exp(k a) * r` for a rational
/// `k` (both sigmoids are positive, and their quotient is `exp(a)`). A VP process whose
/// alpha and sigma are written `sqrt(sigmoid(l))` and `sqrt(sigmoid(-l))` has `alpha/sigma
/// = exp(l/2)`: one call for two, and `lambda = log(alpha/sigma)` becomes `l/2` itself
/// (`log-exp`), where the log of the quotient of two values that agree to all but their
/// last bits next to a root of `l` kept none of its digits.
fn sigmoid_ratio(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    let powers: Vec<Option<(ExprId, BigRational)>> = xs
        .iter()
        .map(|&x| call_rational_power(pool, Func::Sigmoid, x))
        .collect();
    for (i, pi) in powers.iter().enumerate() {
        let Some((a, k)) = pi else { continue };
        for (j, pj) in powers.iter().enumerate().skip(i + 1) {
            let Some((b, q)) = pj else { continue };
            if *q != -k.clone() {
                continue;
            }
            // The arguments as the rules left them (`root-factor` may have written `l`
            // and `-l` differently): opposite where their sum is proved 0.
            let sum = pool.add2(*a, *b);
            if !pool.is_zero(sum) && !crate::expr::zero::proves_zero(pool, sum) {
                continue;
            }
            let kr = pool.rational(k.clone());
            let ka = pool.mul(vec![kr, *a]);
            let mut rest: Vec<ExprId> = xs
                .iter()
                .enumerate()
                .filter(|&(n, _)| n != i && n != j)
                .map(|(_, &x)| x)
                .collect();
            rest.push(pool.call(Func::Exp, ka));
            return Some(pool.mul(rest));
        }
    }
    None
}

/// `exp-merge`: `exp(a) * exp(b)^k * r = exp(a + k b) * r`.
fn merge_exp(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    let mut args = Vec::new();
    let mut rest = Vec::new();
    for &x in xs {
        match exp_power(pool, x) {
            Some((a, k)) => {
                let kr = pool.rational(k);
                args.push(pool.mul(vec![kr, a]));
            }
            None => rest.push(x),
        }
    }
    if args.len() < 2 {
        return None;
    }
    let sum = pool.add(args);
    rest.push(pool.call(Func::Exp, sum));
    Some(pool.mul(rest))
}

/// `common-power`: a sum over a power, `(sum_i c_i b^(m_i)) b^-k` with every `m_i > 0`,
/// as `(sum_i c_i b^(m_i - p)) b^(p - k)`, `p = min(k, m_i)`: the quotient of
/// `cos(u)^(172/5) sin(u)^3 + ...` by `cos(u)^(177/5)` (alpha' over alpha for alpha =
/// cos(u)^(177/5)) no longer computes powers that underflow (`cos(u) ~ 1e-9` near t = 1,
/// where `cos(u)^35` is subnormal) and fewer operations. `b` is nonnegative on the domain
/// (else `b^m b^-p` need not be `b^(m - p)`; where `b = 0` the quotient is undefined).
fn common_power(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    for (i, &d) in xs.iter().enumerate() {
        let (b, k) = pool.split_pow(d);
        let Some(k) = pool
            .as_rational(k)
            .filter(|k| k.is_negative())
            .map(|k| -k.clone())
        else {
            continue;
        };
        if !varying_nonnegative(pool, b) {
            continue;
        }
        for (j, &sum) in xs.iter().enumerate() {
            let Node::Add(terms) = pool.node(sum).clone() else {
                continue;
            };
            // The least exponent of `b` over the terms, each positive.
            let mut least: Option<BigRational> = None;
            for &x in terms.iter() {
                let m = factors(pool, x).into_iter().find_map(|f| {
                    let (fb, fk) = pool.split_pow(f);
                    (fb == b).then(|| pool.as_rational(fk).cloned()).flatten()
                });
                match m {
                    Some(m) if m.is_positive() => {
                        if least.as_ref().is_none_or(|l| m < *l) {
                            least = Some(m);
                        }
                    }
                    _ => {
                        least = None;
                        break;
                    }
                }
            }
            let Some(m) = least else {
                if let Some(terms) = (k > BigRational::from_integer(2.into()))
                    .then(|| distributed(pool, &terms, b, &k))
                    .flatten()
                {
                    let mut rest = all_but(xs, i, j);
                    rest.push(pool.add(terms));
                    return Some(pool.mul(rest));
                }
                continue;
            };
            let p = if m < k { m } else { k.clone() };
            let new_terms: Vec<ExprId> = terms
                .iter()
                .map(|&x| {
                    let (c, r) = pool.split_coeff(x);
                    let mut fs: Vec<ExprId> = factors(pool, r)
                        .into_iter()
                        .map(|f| {
                            let (fb, fk) = pool.split_pow(f);
                            match pool.as_rational(fk).cloned() {
                                Some(fk) if fb == b => pool.pow_rational(b, fk - &p),
                                _ => f,
                            }
                        })
                        .collect();
                    fs.push(pool.rational(c));
                    pool.mul(fs)
                })
                .collect();
            let mut rest = all_but(xs, i, j);
            rest.push(pool.add(new_terms));
            rest.push(pool.pow_rational(b, p - k));
            return Some(pool.mul(rest));
        }
    }
    None
}

/// The terms of a sum each times `b^-k`, where each then takes the quotient in whole: a
/// term with a power `b^m`, `m >= k`, becomes `b^(m - k)`, one with a power `c^k` (`c`
/// nonnegative) becomes `(c/b)^k` (so that `(sin(s) cos(t)^k - sin(t) cos(s)^k)/cos(t)^k`
/// is `sin(s) - sin(t) (cos(s)/cos(t))^k`, no power of a tiny `cos(t)` in it). None where
/// a term has neither.
fn distributed(
    pool: &mut Pool,
    terms: &[ExprId],
    b: ExprId,
    k: &BigRational,
) -> Option<Vec<ExprId>> {
    let mut out = Vec::with_capacity(terms.len());
    for &x in terms {
        let fs = factors(pool, x);
        let mut done = false;
        let mut new_factors = Vec::with_capacity(fs.len());
        for f in fs {
            let (fb, fk) = pool.split_pow(f);
            let fk = pool.as_rational(fk).cloned();
            match fk {
                Some(fk) if !done && fb == b && fk >= *k => {
                    new_factors.push(pool.pow_rational(b, fk - k));
                    done = true;
                }
                Some(fk) if !done && fk == *k && fb != b && varying_nonnegative(pool, fb) => {
                    let q = pool.div(fb, b);
                    new_factors.push(pool.pow_rational(q, k.clone()));
                    done = true;
                }
                _ => new_factors.push(f),
            }
        }
        if !done {
            return None;
        }
        out.push(pool.mul(new_factors));
    }
    Some(out)
}

/// Whether `b` depends on the symbols and is nonnegative on their domain (rigorously,
/// by [`crate::expr::range`]), so that its powers combine: `b^m b^-p = b^(m - p)`.
fn varying_nonnegative(pool: &Pool, b: ExprId) -> bool {
    !pool.free_symbols(b).is_empty()
        && crate::expr::range::range(pool, b).is_some_and(|r| r.lo >= 0.0)
}

/// `power-quotient`: `a^k b^-k = (a/b)^k` for nonnegative `a`, `b` and a rational `k`
/// beyond 2 (where the powers may underflow or overflow and their quotient not): a DDIM step's `alpha(t_next)/alpha(t)` for alpha =
/// `cos(u)^(177/5)` is one power of a quotient near 1, where the two powers underflow
/// near t = 1 (`cos(u) ~ 1e-9`), and one power call instead of two.
fn power_quotient(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    let two = BigRational::from_integer(2.into());
    for (i, &x) in xs.iter().enumerate() {
        let (a, k) = pool.split_pow(x);
        let Some(k) = pool.as_rational(k).cloned() else {
            continue;
        };
        if k <= two || !varying_nonnegative(pool, a) {
            continue;
        }
        for (j, &y) in xs.iter().enumerate() {
            let (b, m) = pool.split_pow(y);
            if i == j
                || b == a
                || pool.as_rational(m) != Some(&-k.clone())
                || !varying_nonnegative(pool, b)
            {
                continue;
            }
            let q = pool.div(a, b);
            let mut rest = all_but(xs, i, j);
            rest.push(pool.pow_rational(q, k));
            return Some(pool.mul(rest));
        }
    }
    None
}

/// `tan-quotient`: `sin(u)^k * cos(u)^-k * r = tan(u)^k * r` for an integer `k` (an
/// identity wherever the left side is defined; not for fractional `k`, where the signs of
/// `sin` and `cos` matter).
fn tan_quotient(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    for (i, &x) in xs.iter().enumerate() {
        let Some((u, k)) = call_power(pool, Func::Sin, x) else {
            continue;
        };
        let partner = xs.iter().position(|&y| {
            call_power(pool, Func::Cos, y).is_some_and(|(v, m)| v == u && m == -k.clone())
        });
        if let Some(j) = partner {
            let mut rest: Vec<ExprId> = xs
                .iter()
                .enumerate()
                .filter(|&(l, _)| l != i && l != j)
                .map(|(_, &y)| y)
                .collect();
            let tan = pool.call(Func::Tan, u);
            rest.push(pool.pow_rational(tan, k));
            return Some(pool.mul(rest));
        }
    }
    None
}

/// `exp-over-expm1`: `exp(k a) * expm1(a)^-k * r = (-expm1(-a))^-k * r` for an integer
/// `k`, as `exp(a)/expm1(a) = 1/(1 - exp(-a))`: an identity wherever the left side is
/// defined (`a != 0` where `k > 0`), one call for two and no cancellation on either side.
fn exp_over_expm1(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    for (i, &x) in xs.iter().enumerate() {
        let Some((a, m)) = call_power(pool, Func::Expm1, x) else {
            continue;
        };
        let minus_m = pool.rational(-m.clone());
        let want = pool.mul(vec![minus_m, a]);
        // The same argument, also as another spelling of one polynomial: `quotient-scale`
        // merges exponents as sums, and `difference` writes `a` as a product
        // (`(t - s)(c + t + s)`).
        let mut partner = None;
        for (j, &y) in xs.iter().enumerate() {
            let Node::Call(Func::Exp, b) = *pool.node(y) else {
                continue;
            };
            if b == want || {
                let minus = pool.neg(want);
                let d = pool.add(vec![b, minus]);
                let d = poly::expand(pool, d);
                pool.is_zero(d)
            } {
                partner = Some(j);
                break;
            }
        }
        if let Some(j) = partner {
            let mut rest: Vec<ExprId> = xs
                .iter()
                .enumerate()
                .filter(|&(l, _)| l != i && l != j)
                .map(|(_, &y)| y)
                .collect();
            let minus_a = pool.neg(a);
            let e = pool.call(Func::Expm1, minus_a);
            let complement = pool.neg(e);
            rest.push(pool.pow_rational(complement, m));
            return Some(pool.mul(rest));
        }
    }
    None
}

/// The candidates of `quotient-scale` ([`Stabilizer::scaled_quotient`]) for the product
/// `xs`: one for each term of its first reciprocal of a sum whose every term has an
/// exponential factor (an integer power of one), that term's exponential divided out above
/// and below.
fn scaled_quotients(pool: &mut Pool, xs: &[ExprId]) -> Vec<ExprId> {
    // (the reciprocal's position, each term's exponent and its other factors)
    let found = xs.iter().enumerate().find_map(|(i, &x)| {
        let Node::Pow(b, k) = pool.node(x).clone() else {
            return None;
        };
        if pool.as_rational(k) != Some(&-BigRational::one()) {
            return None;
        }
        let Node::Add(terms) = pool.node(b).clone() else {
            return None;
        };
        let mut split: Vec<(ExprId, Vec<ExprId>)> = Vec::with_capacity(terms.len());
        for &term in terms.iter() {
            let mut fs = factors(pool, term);
            let at = fs.iter().position(|&f| exp_power(pool, f).is_some())?;
            let (a, k) = exp_power(pool, fs.remove(at))?;
            let k = pool.rational(k);
            split.push((pool.mul(vec![k, a]), fs));
        }
        Some((i, split))
    });
    let Some((i, split)) = found else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for &(aj, _) in &split {
        let minus_aj = pool.neg(aj);
        let terms: Vec<ExprId> = split
            .iter()
            .map(|(a, rest)| {
                let d = pool.add(vec![*a, minus_aj]);
                let mut fs = rest.clone();
                if !pool.is_zero(d) {
                    fs.push(pool.call(Func::Exp, d));
                }
                pool.mul(fs)
            })
            .collect();
        let below = pool.add(terms);
        let mut above: Vec<ExprId> = all_but(xs, i, i);
        above.push(pool.call(Func::Exp, minus_aj));
        above.push(pool.recip(below));
        out.push(pool.mul(above));
    }
    out
}

/// How many distinct exponentials (`exp` and `expm1` calls) `e` computes.
fn exp_calls(pool: &Pool, e: ExprId) -> usize {
    let mut seen = crate::expr::fxhash::HashSet::default();
    let mut stack = vec![e];
    let mut calls = 0;
    while let Some(x) = stack.pop() {
        if !seen.insert(x) {
            continue;
        }
        if matches!(pool.node(x), Node::Call(Func::Exp | Func::Expm1, _)) {
            calls += 1;
        }
        stack.extend(pool.children(x));
    }
    calls
}

/// `angle-difference`: `c r sin(a) cos(b) - c r sin(b) cos(a) = c r sin(a - b)`, with
/// `a - b` formed as `difference` forms it: the two products cancel where `a = b` (a
/// sampler's step from `t` to `t_next` near it), their difference does not. `r` is what
/// is left of each term without the two factors, whatever it is (`sin(a)^2 cos(b) -
/// sin(b) cos(a) sin(a)` has `r = sin(a)`).
fn angle_difference(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    let split: Vec<(BigRational, ExprId)> = xs.iter().map(|&x| pool.split_coeff(x)).collect();
    // The arguments of the `func` factors of a term (a positive integer power of one).
    let args = |pool: &Pool, r: ExprId, func: Func| -> Vec<ExprId> {
        factors(pool, r)
            .into_iter()
            .filter_map(|f| {
                let (b, k) = pool.split_pow(f);
                let positive = pool
                    .as_rational(k)
                    .is_some_and(|k| k.is_integer() && k.is_positive());
                match pool.node(b) {
                    Node::Call(g, a) if *g == func && positive => Some(*a),
                    _ => None,
                }
            })
            .collect()
    };
    for i in 0..xs.len() {
        let sines = args(pool, split[i].1, Func::Sin);
        let cosines = args(pool, split[i].1, Func::Cos);
        for j in 0..xs.len() {
            if i == j || !same_up_to_sign(&split[j].0, &split[i].0, true) {
                continue;
            }
            for &a in &sines {
                for &b in &cosines {
                    if a == b {
                        continue;
                    }
                    let (sa, cb) = (pool.call(Func::Sin, a), pool.call(Func::Cos, b));
                    let (sb, ca) = (pool.call(Func::Sin, b), pool.call(Func::Cos, a));
                    let first = pool.mul(vec![sa, cb]);
                    let second = pool.mul(vec![sb, ca]);
                    let rest = pool.div(split[i].1, first);
                    if pool.div(split[j].1, second) != rest {
                        continue;
                    }
                    let d = expanded_difference(pool, a, b);
                    let s = pool.call(Func::Sin, d);
                    let c = pool.rational(split[i].0.clone());
                    let term = pool.mul(vec![c, rest, s]);
                    return Some(replace_pair(pool, xs, (i, j), term));
                }
            }
        }
    }
    None
}

/// `pythagorean`: `c r sin(a)^2 + c r cos(a)^2 = c r`. The derivative of a cosine
/// schedule's drift puts `(pi/2)(sin^2 + cos^2)` into the Euler step's eps coefficient:
/// summed, two calls and their roundings for a constant.
fn pythagorean(pool: &mut Pool, xs: &[ExprId]) -> Option<ExprId> {
    let split: Vec<(BigRational, ExprId)> = xs.iter().map(|&x| pool.split_coeff(x)).collect();
    // The arguments of the squared `func` factors of a term.
    let squared = |pool: &Pool, r: ExprId, func: Func| -> Vec<ExprId> {
        factors(pool, r)
            .into_iter()
            .filter_map(|f| {
                let (b, k) = pool.split_pow(f);
                let two = pool
                    .as_rational(k)
                    .is_some_and(|k| *k == BigRational::from_integer(2.into()));
                match pool.node(b) {
                    Node::Call(g, a) if *g == func && two => Some(*a),
                    _ => None,
                }
            })
            .collect()
    };
    for i in 0..xs.len() {
        for a in squared(pool, split[i].1, Func::Sin) {
            for j in 0..xs.len() {
                if i == j || split[j].0 != split[i].0 {
                    continue;
                }
                if !squared(pool, split[j].1, Func::Cos).contains(&a) {
                    continue;
                }
                let two = pool.int(2);
                let (s, c) = (pool.call(Func::Sin, a), pool.call(Func::Cos, a));
                let (s2, c2) = (pool.pow(s, two), pool.pow(c, two));
                let rest = pool.div(split[i].1, s2);
                if pool.div(split[j].1, c2) != rest {
                    continue;
                }
                let k = pool.rational(split[i].0.clone());
                let term = pool.mul(vec![k, rest]);
                return Some(replace_pair(pool, xs, (i, j), term));
            }
        }
    }
    None
}

/// `quarter-turn`: `sin`, `cos` or `tan` of `r + q pi` (q rational, `r` not constant)
/// as a function of `r + (q - k/2) pi`, `k/2` the multiple of `pi/2` nearest `q`: the
/// argument that vanishes where the value does is then computed directly
/// (`cos(pi/2 - pi u/2) = sin(pi u/2)`, where f64 would round `pi/2` and lose `pi u/2`).
fn quarter_turn(pool: &mut Pool, f: Func, a: ExprId) -> Option<ExprId> {
    // `pi (1 - u)/2` is a product until expanded.
    let a = if matches!(pool.node(a), Node::Mul(_)) {
        poly::expand(pool, a)
    } else {
        a
    };
    let Node::Add(xs) = pool.node(a).clone() else {
        return None;
    };
    let pi = pool.pi();
    let mut q = None;
    let mut rest = Vec::new();
    for x in xs {
        let (c, r) = pool.split_coeff(x);
        if r == pi && q.is_none() {
            q = Some(c);
        } else {
            rest.push(x);
        }
    }
    let q = q?;
    let two = BigRational::from_integer(2.into());
    let k = (&q * &two).round();
    if k.is_zero() {
        return None;
    }
    let left = &q - &k / &two;
    let quarter = k.to_integer().to_i64()?.rem_euclid(4);
    let lq = pool.rational(left);
    let shift = pool.mul(vec![lq, pi]);
    rest.push(shift);
    let r = pool.add(rest);
    let sin = pool.call(Func::Sin, r);
    let cos = pool.call(Func::Cos, r);
    let minus = |pool: &mut Pool, x: ExprId| pool.neg(x);
    Some(match (f, quarter) {
        (Func::Sin, 0) | (Func::Cos, 3) => sin,
        (Func::Sin, 1) | (Func::Cos, 0) => cos,
        (Func::Sin, 2) | (Func::Cos, 1) => minus(pool, sin),
        (Func::Sin, _) | (Func::Cos, _) => minus(pool, cos),
        (_, 0) | (_, 2) => pool.call(Func::Tan, r),
        _ => {
            let t = pool.call(Func::Tan, r);
            let inv = pool.recip(t);
            minus(pool, inv)
        }
    })
}

/// Whether a constant is provably positive (evaluated at 256 bits).
fn positive_constant(pool: &Pool, e: ExprId) -> bool {
    if !pool.free_symbols(e).is_empty() {
        return false;
    }
    Hp::new(hp::DEFAULT_PRECISION)
        .eval(pool, e, &[])
        .is_ok_and(|v| hp::to_f64(&v) > 0.0)
}

/// `log1p` and `log-exp`: the logarithm of `a`, split where its factors are positive.
fn log_rewrite(pool: &mut Pool, a: ExprId) -> ExprId {
    if let Some((x, k)) = exp_power(pool, a) {
        let kr = pool.rational(k);
        return pool.mul(vec![kr, x]);
    }
    match pool.node(a).clone() {
        Node::Add(xs) => {
            let one = pool.one();
            if xs.contains(&one) {
                let rest: Vec<ExprId> = xs.iter().copied().filter(|&x| x != one).collect();
                let rest = pool.add(rest);
                return pool.call(Func::Log1p, rest);
            }
            pool.call(Func::Log, a)
        }
        Node::Pow(b, q) if pool.as_rational(q).is_some_and(|q| !q.is_integer()) => {
            let lb = log_rewrite(pool, b);
            pool.mul(vec![q, lb])
        }
        Node::Mul(xs) => {
            let mut logs = Vec::new();
            let mut rest = Vec::new();
            for &f in xs.iter() {
                let safe = exp_power(pool, f).is_some()
                    || positive_constant(pool, f)
                    || matches!(pool.node(f), Node::Pow(_, q)
                        if pool.as_rational(*q).is_some_and(|q| !q.is_integer()));
                if safe {
                    logs.push(log_rewrite(pool, f));
                } else {
                    rest.push(f);
                }
            }
            if logs.is_empty() {
                return pool.call(Func::Log, a);
            }
            if !rest.is_empty() {
                let r = pool.mul(rest);
                logs.push(log_rewrite(pool, r));
            }
            pool.add(logs)
        }
        _ => pool.call(Func::Log, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::print::to_text;

    /// Parses `text` as an expression in `t` (domain [0, 1]).
    fn expr(pool: &mut Pool, text: &str) -> ExprId {
        crate::expr::test_util::parse_in_unit_t(pool, text)
    }

    fn value(pool: &Pool, e: ExprId, t: f64) -> f64 {
        let s = pool.lookup_symbol("t").expect("t");
        let mut hp = Hp::new(hp::DEFAULT_PRECISION);
        let v = hp.from_f64(t);
        hp::to_f64(&hp.eval(pool, e, &[(s, v)]).expect("defined"))
    }

    /// Found by the fuzzer (seed 48, case 63919: `alpha_bar = exp(-t^5/100) (v(1) -
    /// v(t))/(v(1) - v(0))`, v a sigmoid): a step's jet form expanded to a sum of about
    /// a thousand terms, each rewrite of one pair of them followed by another pass over
    /// the whole sum, and `emit` ran past ten minutes. The work is bounded; what it does not
    /// reach is left as it is, and the result is the same function.
    #[test]
    fn work_on_a_sum_of_a_thousand_terms_is_bounded() {
        let mut pool = Pool::new();
        let factored = expr(
            &mut pool,
            "(exp(-t^5/100) - 1)*(sigmoid(3/2) - sigmoid(3*t - 3/2))^3\
             *(1 + t + t^2 + t^3 + sigmoid(3*t) + expm1(-3*t))^5",
        );
        let e = poly::expand(&mut pool, factored);
        assert!(pool_len(&pool, e) > 1000, "{}", pool_len(&pool, e));
        let mut stabilizer = Stabilizer::new();
        let s = stabilizer.run(&mut pool, e);
        assert_eq!(stabilizer.left, 0, "the allowance is spent");
        assert!(stabilizer.memo.len() as u64 <= WORK / CALL_COST);
        for t in [0.1, 0.5, 0.9] {
            let (want, got) = (value(&pool, factored, t), value(&pool, s, t));
            assert!(
                (got - want).abs() <= 1e-12 * want.abs(),
                "{t}: {got} {want}"
            );
        }
    }

    /// Found by the fuzzer (seed 19, case 9671: `beta(t) = t`): in a final step's
    /// coefficient, `exp-of-expm1` and `expm1` turned this sum into each other without end,
    /// and the rewrites recursed 4096 deep (through a 256 MiB stack before that bound).
    /// The cycle is cut where it comes back: the nesting stays that of the expression.
    #[test]
    fn rewrites_that_undo_each_other_stop_where_they_come_back() {
        let mut pool = Pool::new();
        let text = "1 - t^2*exp(-3*t^2/4) + t^2*exp(-t^2/4)^3/2 + t^2*exp(-t^2/4)*expm1(-t^2/2)/2 \
                    - t*expm1(t^2/4)*(t*exp(-3*t^2/4) - t*exp(-t^2/4)^3/2 - t*exp(-t^2/4)*expm1(-t^2/2)/2)";
        let e = expr(&mut pool, text);
        let mut s = Stabilizer::new();
        let r = s.run(&mut pool, e);
        assert!(s.deepest < 64, "nested {} deep", s.deepest);
        for t in [1e-9, 0.01, 0.3, 0.7, 0.99] {
            let (a, b) = (value(&pool, e, t), value(&pool, r, t));
            assert!((a - b).abs() <= 1e-15 * a.abs(), "at {t}: {a} vs {b}");
        }
    }

    /// `stabilize(text)` prints as `want` and has the same value at several points.
    fn check(text: &str, want: &str) {
        let mut pool = Pool::new();
        let e = expr(&mut pool, text);
        let r = stabilize(&mut pool, e);
        assert_eq!(to_text(&pool, r), want, "{text}");
        for t in [1e-9, 0.01, 0.3, 0.7, 0.99] {
            let (a, b) = (value(&pool, e, t), value(&pool, r, t));
            assert!(
                (a - b).abs() <= 1e-15 * a.abs(),
                "{text} at {t}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn a_fractional_power_against_one_goes_through_log1p() {
        // 1 - (1 - t)^(3/2) is (3/2) t at small t: as written, 0 below t = 2^-53.
        check("1 - (1 - t)^(3/2)", "-expm1(3*log1p(-t)/2)");
        check("(1 - t)^(5/3) - 1", "expm1(5*log1p(-t)/3)");
        // Square roots stay `conjugate`'s.
        check("1 - sqrt(1 - t)", "t/(1 + sqrt(1 - t))");
    }

    #[test]
    fn powers_of_two_exponentials_differ_as_exponentials() {
        check("exp(2*t)^2 - exp(2*t + t/3)", "exp(7*t/3)*expm1(5*t/3)");
    }

    #[test]
    fn an_absolute_value_of_one_sign_on_the_domain_is_dropped() {
        check("abs(sin(1/100 + 49*pi*t/100))", "sin(1/100 + 49*pi*t/100)");
        check("abs(t - 2)", "2 - t");
        check("abs(t - 1/2)", "abs(t - 1/2)");
    }

    #[test]
    fn a_complement_of_an_exponential_times_a_quotient_splits_at_the_exponential() {
        // 1 - exp(-t/100) (v(1) - v(t))/(v(1) - v(0)), v(t) = sigmoid(6t - 3): each part
        // is positive, `expm1` times the quotient and `v(t) - v(0)` as a difference.
        check(
            "1 - exp(-t/100)*(sigmoid(3) - sigmoid(6*t - 3))/(sigmoid(3) - sigmoid(-3))",
            "sigmoid(3)*sigmoid(3 - 6*t)*expm1(-t/100)*expm1(6*t - 6)/(sigmoid(3) - sigmoid(-3)) \
             + sigmoid(3)*sigmoid(6*t - 3)*expm1(-6*t)/(sigmoid(-3) - sigmoid(3))",
        );
    }

    #[test]
    fn a_difference_of_sine_cosine_products_is_the_sine_of_the_difference() {
        // A DDIM step's numerator for the cosine schedule: sin(a t_next) cos(a t) -
        // sin(a t) cos(a t_next) = sin(a (t_next - t)), which a small step does not cancel.
        check("3*t*sin(t)*cos(t/2) - 3*t*sin(t/2)*cos(t)", "3*t*sin(t/2)");
        // What the two products share may take part of a power (a VP u step's numerator,
        // sigma sin(t) cos(t_next) - sigma sin(t_next) cos(t), with sigma = sin(t)).
        check(
            "sin(t)^2*cos(t/2) - sin(t/2)*cos(t)*sin(t)",
            "sin(t)*sin(t/2)",
        );
    }

    #[test]
    fn quarter_turns_leave_the_argument_that_vanishes() {
        // cos(pi/2 - x) = sin(x), sin(pi - x) = sin(x), tan(pi/2 - x) = 1/tan(x): the
        // values at t = 1e-9 are then computed from pi*t/2, not from pi/2 rounded.
        let mut pool = Pool::new();
        for (text, want) in [
            ("cos(pi*(1 - t)/2)", "sin(pi*t/2)"),
            ("sin(pi*(1 - t))", "sin(pi*t)"),
            ("sin(pi/2 - pi*t/2)", "cos(pi*t/2)"),
        ] {
            let e = expr(&mut pool, text);
            let r = stabilize(&mut pool, e);
            assert_eq!(to_text(&pool, r), want, "{text}");
        }
        let e = expr(&mut pool, "tan(pi/2 - pi*t/2)");
        let r = stabilize(&mut pool, e);
        for t in [1e-9, 0.3, 0.7] {
            let (a, b) = (value(&pool, e, t), value(&pool, r, t));
            assert!((a - b).abs() <= 1e-15 * a.abs(), "{t}: {a} vs {b}");
        }
        // Arguments without a multiple of pi/2 to take out are left alone.
        let e = expr(&mut pool, "cos(pi*t/2 + pi/8)");
        assert_eq!(stabilize(&mut pool, e), e);
    }

    #[test]
    fn high_powers_in_a_quotient_cancel_before_they_are_computed() {
        // alpha = cos(u)^(177/5): near t = 1 (cos(u) ~ 1e-9) its powers are subnormal or
        // 0, their quotients are not.
        check(
            "(sin(t)^3*cos(t)^(172/5) + sin(t)*cos(t)^(182/5))/cos(t)^(177/5)",
            "(sin(t)^3 + sin(t)*cos(t)^2)/cos(t)",
        );
        check(
            "cos(t/2)^(177/5)/cos(t)^(177/5)",
            "(cos(t/2)/cos(t))^(177/5)",
        );
        check(
            "(sin(t/2)*cos(t)^(177/5) - sin(t)*cos(t/2)^(177/5))/cos(t)^(177/5)",
            "sin(t/2) - sin(t)*(cos(t/2)/cos(t))^(177/5)",
        );
        // Low powers stay as they are, and so does a quotient whose terms would each keep
        // a power of the denominator.
        for text in ["cos(t/2)^2/cos(t)^2", "(cos(t/2)^7 + t)/cos(t)^6"] {
            let mut pool = Pool::new();
            let e = expr(&mut pool, text);
            let r = stabilize(&mut pool, e);
            assert!(
                !to_text(&pool, r).contains(")/cos(t))^"),
                "{text}: {}",
                to_text(&pool, r)
            );
        }
    }

    #[test]
    fn a_sine_over_a_cosine_of_the_same_argument_is_one_tangent() {
        // cosine's snr and lambda: one call for two, and no rounded quotient.
        check("cos(pi*t/2)^2/sin(pi*t/2)^2", "1/tan(pi*t/2)^2");
        check("3*t*sin(2*t)/cos(2*t)", "3*t*tan(2*t)");
        // Different arguments, or powers that do not cancel, stay apart; so do fractional
        // powers, where sqrt(sin)/sqrt(cos) is undefined with both negative but
        // sqrt(tan) is not.
        let mut pool = Pool::new();
        for text in [
            "sin(t)/cos(2*t)",
            "sin(t)^2/cos(t)",
            "sqrt(sin(t + 2))/sqrt(cos(t + 2))",
        ] {
            let e = expr(&mut pool, text);
            let r = stabilize(&mut pool, e);
            assert!(
                !to_text(&pool, r).contains("tan"),
                "{text}: {}",
                to_text(&pool, r)
            );
        }
    }

    #[test]
    fn an_exponential_over_its_expm1_is_one_call() {
        // A variance-preserving snr: alpha^2/sigma^2 = exp(-B)/(1 - exp(-B)) = 1/expm1(B),
        // and its powers; the product with other factors keeps them.
        check("exp(-t - t^2)/(1 - exp(-t - t^2))", "1/expm1(t + t^2)");
        check("t*exp(2*t)/expm1(t)^2", "t/expm1(-t)^2");
        check("expm1(3*t)^2*exp(-6*t)", "expm1(-3*t)^2");
        // Arguments that do not match stay apart.
        let mut pool = Pool::new();
        let e = expr(&mut pool, "exp(2*t)/expm1(t)");
        let r = stabilize(&mut pool, e);
        assert!(to_text(&pool, r).contains("exp("), "{}", to_text(&pool, r));
    }

    /// A DDIM step's noise coefficient of a variance-preserving process, `(alpha sigma_n
    /// - alpha_n sigma)/alpha`, here with `B = t` now and `B_n = t^2` next: over `alpha`
    /// its exponentials are those of `B - B_n` and of the two sigmas.
    #[test]
    fn a_quotient_of_exponential_terms_is_scaled_to_the_fewest_exponentials() {
        check(
            "(exp(-t/2)*sqrt(1 - exp(-t^2)) - exp(-t^2/2)*sqrt(1 - exp(-t)))/exp(-t/2)",
            "-expm1(t*(1 - t))/(sqrt(-expm1(-t^2)) + exp(t*(1 - t)/2)*sqrt(-expm1(-t)))",
        );
    }

    #[test]
    fn coefficients_are_told_equal_or_opposite_by_their_terms() {
        let q = |n: i64, d: i64| BigRational::new(n.into(), d.into());
        // Reduced on construction: 6/4 is 3/2, and -3/-2 is 3/2.
        assert!(same_up_to_sign(&q(6, 4), &q(3, 2), false));
        assert!(same_up_to_sign(&q(-3, -2), &q(3, 2), false));
        assert!(same_up_to_sign(&q(-3, 2), &q(3, 2), true));
        assert!(!same_up_to_sign(&q(3, 2), &q(3, 2), true));
        assert!(!same_up_to_sign(&q(-3, 2), &q(3, 2), false));
        assert!(!same_up_to_sign(&q(3, 4), &q(3, 2), false));
        assert!(!same_up_to_sign(&q(5, 2), &q(3, 2), false));
        // Zero is its own negation.
        assert!(same_up_to_sign(&q(0, 1), &q(0, 7), true));
        assert!(same_up_to_sign(&q(0, 1), &q(0, 1), false));
        let big = q(893, 20000) * q(893, 20000) * q(893, 20000);
        assert!(same_up_to_sign(&(-big.clone()), &big, true));
        assert!(!same_up_to_sign(&(big.clone() + q(1, 1)), &big, false));
    }

    #[test]
    fn a_sum_of_a_squared_sine_and_cosine_is_one() {
        check("pi*sin(pi*t/2)^2/2 + pi*cos(pi*t/2)^2/2 + t", "pi/2 + t");
        check("t*sin(3*t)^2 + t*cos(3*t)^2", "t");
        // Different arguments or coefficients: no identity.
        check("sin(t)^2 + cos(2*t)^2", "sin(t)^2 + cos(2*t)^2");
    }

    #[test]
    fn one_minus_exp_becomes_expm1() {
        check("1 - exp(-t)", "-expm1(-t)");
        check("sqrt(1 - exp(-t/10 - t^2))", "sqrt(-expm1(-t/10 - t^2))");
        check("2*t - 2*t*exp(-t)", "-2*t*expm1(-t)");
    }

    /// Fuzz seed 11, case 26109: `sigma^2 = 1 - exp(-t/100) (1 - c t^2 (3 - 2t))`, whose
    /// product is 1 to within 1e-42 at t = 1e-40 (sigma was 0 there).
    #[test]
    fn one_minus_exp_times_a_factor_near_one_becomes_expm1() {
        check(
            "1 - exp(-t/100)*(1 - 3*t^2 + 2*t^3)",
            "3*t^2 - 2*t^3 - expm1(-t/100)*(1 - t)^2*(1 + 2*t)",
        );
        check(
            "1 - exp(-t/100)*(1 + t^2)",
            "-t^2 - expm1(-t/100)*(1 + t^2)",
        );
        // A reciprocal does not expand: `Q - 1` would keep `Q`, which `exp-of-expm1`
        // folded back, without end (the stack overflowed on `log_snr = 2 - 2 log(t/(1 -
        // t))`).
        check("1 - exp(-t)/(1 + t)", "(t - expm1(-t))/(1 + t)");
        // The factor's sign the other way round pairs through its negation. Fuzz seed 22,
        // case 925: `sigma^2 = 1 + exp(-t^3/100) (sqrt(t) - 1)` cancelled to 0 at t =
        // 1e-100, where it is 1e-50. (`1 - sqrt(t)`, which cancels near t = 1, is then
        // conjugated: `1 - t` is exact.)
        check(
            "1 + exp(-t^3/100)*(sqrt(t) - 1)",
            "sqrt(t) + expm1(-t^3/100)*(t - 1)/(1 + sqrt(t))",
        );
    }

    /// `alpha_bar = (1 - t)^3`: `sigma^2 = 1 - (1 - t)^3` is 0 at t = 1e-40 as written.
    #[test]
    fn polynomials_written_through_powers_of_sums_are_expanded() {
        check("1 - (1 - t)^3", "3*t - 3*t^2 + t^3");
    }

    /// A log-SNR written `-log(expm1(x))`: `sigma^2 = sigmoid(log(expm1(x)))`.
    #[test]
    fn sigmoids_of_logs_are_fractions() {
        check(
            "sigmoid(log(expm1(1/10 + t^2)))",
            "expm1(1/10 + t^2)/exp(1/10 + t^2)",
        );
        check("sigmoid(-log(t + t^2))", "1/(1 + t + t^2)");
    }

    #[test]
    fn complements_of_sigmoid_and_tanh_are_values_of_their_own() {
        check("1 - sigmoid(1/t)", "sigmoid(-1/t)");
        check("3*t - 3*t*sigmoid(t^2 - 1/t)", "3*t*sigmoid(1/t - t^2)");
        check("1 - tanh(t + 1)", "2*sigmoid(-2 - 2*t)");
    }

    #[test]
    fn log_of_one_plus_becomes_log1p() {
        check("log(1 + t^2)", "log1p(t^2)");
        check("log(1 - exp(-t))", "log(-expm1(-t))");
    }

    #[test]
    fn logs_of_exponentials_and_roots_split() {
        check(
            "log(exp(-t)/sqrt(1 - exp(-2*t)))",
            "-t - log(-expm1(-2*t))/2",
        );
    }

    #[test]
    fn quotients_of_exponentials_merge() {
        // The merged argument t - t^2 vanishes at t = 1: root-factor keeps that zero.
        check("exp(t)/exp(t^2)", "exp(t*(1 - t))");
    }

    /// `sigmoid(a)/sigmoid(-a) = exp(a)`, to any rational power, and through `log-exp`
    /// the log of such a quotient is its argument: the lambda of a process written
    /// through sigmoids of its log-SNR is half the log-SNR itself. Opposite arguments
    /// are recognised where the other rules wrote them differently (`root-factor` on
    /// `40 (t - 1/2)^3 - 3 (t - 1/2)`, whose root 1/2 it keeps as a factor), and a power
    /// that is not opposite is left alone.
    #[test]
    fn quotients_of_opposite_sigmoids_are_exponentials() {
        check("sigmoid(20*t - 10)/sigmoid(10 - 20*t)", "exp(20*t - 10)");
        check(
            "log(sqrt(sigmoid(7*(1 - 2*t)^3))/sqrt(sigmoid(-7*(1 - 2*t)^3)))",
            "7*(1 - 2*t)^3/2",
        );
        let mut pool = Pool::new();
        let e = expr(
            &mut pool,
            "log(sqrt(sigmoid(40*(t - 1/2)^3 - 3*(t - 1/2)))/sqrt(sigmoid(3*(t - 1/2) - 40*(t - 1/2)^3)))",
        );
        let r = Stabilizer::new().run(&mut pool, e);
        let text = crate::expr::print::to_text(&pool, r);
        assert!(!text.contains("sigmoid"), "{text}");
        check("sigmoid(t)^2/sigmoid(-t)", "sigmoid(t)^2/sigmoid(-t)");
    }

    #[test]
    fn polynomials_keep_their_zeros_in_the_interval() {
        check("1/9 - 2*t/9 + t^2/9", "(1 - t)^2/9");
        check("1 - 3*t/4 - t^2/4", "(1 - t)*(1 + t/4)");
        // No rational root in (0, 1]: left alone.
        check("1 + t^2", "1 + t^2");
    }

    #[test]
    fn differences_of_one_function_go_through_the_difference_of_arguments() {
        check(
            "sigmoid(3) - sigmoid(6*t - 3)",
            "-sigmoid(3)*sigmoid(3 - 6*t)*expm1(6*t - 6)",
        );
        check("log(1 + t) - log(1 + t^2)", "log1p(t*(1 - t)/(1 + t^2))");
        check("exp(2*t) - exp(2)", "exp(2)*expm1(2*t - 2)");
    }

    #[test]
    fn constant_minus_reciprocal_becomes_one_fraction() {
        check("1 - 1/(1 + t^2)", "t^2/(1 + t^2)");
        check("1/(t - t^(3/2)) - 1/(sqrt(t) - t)", "1/t");
    }

    #[test]
    fn cosine_polynomials_vanishing_at_one_factor_through_sine() {
        check(
            "cos(pi*t/2)^3 - cos(pi*t/2)",
            "-2*sin(pi*t/4)^2*(cos(pi*t/2) + cos(pi*t/2)^2)",
        );
        // Among other terms: `1 - cos(t^2)` is 1e-600 at t = 1e-300, below any fixed
        // precision, beside the `t^2 sin(t^2)` it is compared with.
        check(
            "1 - cos(t^2) - t^2*sin(t^2)",
            "2*sin(t^2/2)^2 - t^2*sin(t^2)",
        );
    }

    /// Differences of square roots (a variance-preserving step's `alpha_t sigma_s -
    /// alpha_s sigma_t`, and its logistic counterpart) lose their subtraction.
    #[test]
    fn conjugates_take_the_subtraction_out_of_square_roots() {
        check(
            "exp(-t/20 - 199*t^2/40)*sqrt(1 - exp(-t/10)) - exp(-t/20)*sqrt(1 - exp(-t/10 - 199*t^2/20))",
            "exp(-t/10)*expm1(-199*t^2/20)/(exp(-t/20 - 199*t^2/40)*sqrt(-expm1(-t/10)) + exp(-t/20)*sqrt(-expm1(-t/10 - 199*t^2/20)))",
        );
        check(
            "sqrt(sigmoid(3 - 6*t))*sqrt(sigmoid(6*t^2 - 3)) - sqrt(sigmoid(6*t - 3))*sqrt(sigmoid(3 - 6*t^2))",
            "-sigmoid(3 - 6*t)*sigmoid(6*t^2 - 3)*expm1(6*t*(1 - t))/(sqrt(sigmoid(6*t - 3))*sqrt(sigmoid(3 - 6*t^2)) + sqrt(sigmoid(3 - 6*t))*sqrt(sigmoid(6*t^2 - 3)))",
        );
        // Where the difference of the squares still subtracts, nothing is gained.
        check("sqrt(1 + t) - sqrt(2 - t^2)", "sqrt(1 + t) - sqrt(2 - t^2)");
    }

    /// Powers of two polynomials that share terms, and a constant to two exponents, are
    /// differences of their arguments (Karras VE's `sigma_s - sigma_t` near t = 0 cancels
    /// below double-double precision otherwise).
    #[test]
    fn differences_of_powers_go_through_their_bases() {
        check(
            "(1/2 + 3*t/2)^3 - (1/2 + 3*t^2/2)^3",
            "3*t*(1 - t)*(3/4 + 9*t/4 + 9*t^2/2 + 9*t^3/4 + 9*t^4/4)/2",
        );
        check(
            "5000^t/100 - 5000^(t^2)/100",
            "exp(t^2*log(5000))*expm1(t*log(5000)*(1 - t))/100",
        );
    }

    /// The worst relative error of the stable lowering of `stabilize(text)` (a formula in
    /// `t` and `t_next`, both in [0, 1]), run in the emitted code's arithmetic at each of
    /// `times`, against the formula as written, certified and correctly rounded.
    fn stable_error(text: &str, times: &[(f64, f64)]) -> f64 {
        let mut pool = Pool::new();
        let e = crate::expr::test_util::parse_in_unit_times(&mut pool, text);
        let (t, tn) = (pool.symbol("t"), pool.symbol("t_next"));
        let r = stabilize(&mut pool, e);
        let mut l = super::super::lower::Lowerer::new(super::super::lower::Mode::Stable);
        let v = l.lower(&mut pool, r).expect("lowers");
        let program = l.finish();
        let mut worst = 0.0f64;
        for &(a, b) in times {
            let exact = |x: f64| BigRational::from_float(x).expect("finite");
            let env = [(t, exact(a)), (tn, exact(b))];
            let (bits, _) =
                crate::expr::ball::certify(&pool, e, &env, 1 << 13, crate::expr::ball::round_f64)
                    .expect("certified");
            let want = f64::from_bits(bits);
            let got =
                program.run::<super::super::runtime::Xd>(&[("t", a), ("t_next", b)])[v].to_f64();
            worst = worst.max(((got - want) / want).abs());
        }
        worst
    }

    /// A quotient whose numerator and denominator share the root t = 1, as the simplifier
    /// leaves one when its work allowance runs out (fuzz seed 48, case 68864: `g2` of a
    /// log-SNR with 17-digit coefficients): the numerator's terms, up to 432 log(1 - t),
    /// cancel to 2^-53 of that next to 1, and even double-double lost 2.4e-14 (about 100
    /// ulps) at t = 1 - 2^-53. With the root divided out of both, nothing cancels.
    #[test]
    fn a_root_that_numerator_and_denominator_share_at_an_end_is_divided_out() {
        let text = "(2 - 2*t + t*log(1 - t) - 13*t^2*log(1 - t) + 72*t^3*log(1 - t) \
                    - 220*t^4*log(1 - t) + 400*t^5*log(1 - t) - 432*t^6*log(1 - t) \
                    + 256*t^7*log(1 - t) - 64*t^8*log(1 - t))/(t - 2*t^2 + t^3)";
        let near_one = [
            1.0 - f64::EPSILON / 2.0,
            1.0 - f64::EPSILON,
            1.0 - 1e-12,
            1.0 - 1e-6,
        ];
        let times: Vec<(f64, f64)> = near_one.iter().map(|&t| (t, 0.0)).collect();
        let err = stable_error(text, &times);
        assert!(err <= 2.0 * f64::EPSILON, "{err}");
        // Each group of terms is divided; a group without the root leaves the sum alone.
        let mut pool = Pool::new();
        let kept = expr(&mut pool, "(2 - t + t*log(1 - t) - t^2*log(1 - t))/(1 - t)");
        let Node::Mul(xs) = pool.node(kept).clone() else {
            panic!("a product");
        };
        assert_eq!(removable_root(&mut pool, &xs), None);
        // Before the other rewrites, wherever the quotient is (also where their allowance
        // would not reach), in one pass.
        let nested = expr(&mut pool, "sigmoid((2 - 2*t)/(t - t^2))");
        let divided = without_removable_roots(&mut pool, nested, &mut HashMap::new());
        assert_eq!(to_text(&pool, divided), "sigmoid(2/t)");
    }

    /// Found by the fuzzer (seed 20, case 4147: `beta(t) = 0.76 + 11.2 t exp(t) + (10 +
    /// t)^2/1000`): log alpha_bar merges the values at 0 of its exponential and its cube
    /// into one constant, so the sum, about -0.86 t, cancelled to nothing at t = 1e-300.
    /// Each term's change from its value at 0 keeps it.
    #[test]
    fn a_sum_that_vanishes_at_zero_keeps_its_value_there() {
        let text = "56*exp(t)/5 - 163/15 - 19*t/25 - 56*t*exp(t)/5 - (10 + t)^3/3000";
        let times = [
            (1e-300, 0.0),
            (1e-40, 0.0),
            (1e-9, 0.0),
            (0.5, 0.0),
            (1.0, 0.0),
        ];
        let err = stable_error(text, &times);
        assert!(err <= 1e-15, "{err}");
    }

    /// Found by the fuzzer (seed 20, cases 116109 and 133367): a VE schedule `sigma =
    /// (a^(1/r) + t (b^(1/r) - a^(1/r)))^r` with r not an integer; a DDIM step's
    /// `sigma(t_next) - sigma(t)` at t = 1e-40 was 4e18 ulps off. So are negative integer
    /// powers and integer powers beyond the factored ones.
    #[test]
    fn differences_of_any_power_go_through_their_bases() {
        let times = [
            (1e-40, 7.5e-41),
            (1e-9, 7.5e-10),
            (0.5, 0.375),
            (1.0, 0.0),
            (1.0, 0.75),
        ];
        for text in [
            "(71/1000 + t*(3 - 71/1000))^(341/250) - (71/1000 + t_next*(3 - 71/1000))^(341/250)",
            "(1/2 + 3*t)^(-1/3) - (1/2 + 3*t_next)^(-1/3)",
            "(1/10 + t)^11 - (1/10 + t_next)^11",
            "1/(1 + t)^2 - 1/(1 + t_next)^2",
        ] {
            let err = stable_error(text, &times);
            assert!(err <= 1e-15, "{text}: {err}");
        }
    }

    /// A DDIM step of `alpha_bar = 1/10000 + 49 u^3/50` (u = 1 - t, flat at the noise
    /// end) from `u` to `u_next`: its noise coefficient's `alpha sigma_n - sigma alpha_n`
    /// (and the score step's, with the common factor `sigma` written `sigma^2` on one
    /// side) is of order `u^3 - u_next^3`, which the difference of the two products lost
    /// below double-double (8e18 ulps from `u = 0` to `2^-53`). Conjugated, the difference
    /// of the squares is a polynomial that vanishes on `u = u_next` and goes through `u -
    /// u_next`; the step from t = 1 itself, in `t_next`, goes through the roots of a
    /// polynomial of four terms, `-9800 (1 - t_next)^3`.
    #[test]
    fn a_difference_of_roots_whose_squares_differ_by_a_polynomial_is_conjugated() {
        let times = [
            (0.0, f64::EPSILON / 2.0),
            (1e-7, 8.5e-7),
            (0.25, 0.2),
            (0.5, 0.0),
        ];
        for text in [
            "sqrt(1/10000 + 49*t^3/50)*sqrt(9999/10000 - 49*t_next^3/50) \
             - sqrt(9999/10000 - 49*t^3/50)*sqrt(1/10000 + 49*t_next^3/50)",
            "(9999/10000 - 49*t^3/50)*sqrt(1/10000 + 49*t_next^3/50) \
             - sqrt(9999/10000 - 49*t^3/50)*sqrt(1/10000 + 49*t^3/50)*sqrt(9999/10000 - 49*t_next^3/50)",
        ] {
            let err = stable_error(text, &times);
            assert!(err <= 1e-15, "{text}: {err}");
        }
        let from_one = "sqrt(9999/10000 - 49*(1 - t_next)^3/50) \
             - sqrt(9999)*sqrt(1/10000 + 49*(1 - t_next)^3/50)";
        let next = [1.0 - f64::EPSILON / 2.0, 1.0 - 1e-6, 0.5, 0.0];
        let err = stable_error(from_one, &next.map(|tn| (1.0, tn)));
        assert!(err <= 1e-15, "{err}");
    }

    /// The same polynomial at two points is their difference times a polynomial.
    #[test]
    fn a_polynomial_at_two_points_factors_through_their_difference() {
        let mut pool = Pool::new();
        for (text, want) in [
            ("t^2/3 + t - u - u^2/3", "(t - u)*(1 + t/3 + u/3)"),
            ("exp(2*t^2 - 2*u^2)", "exp((t - u)*(2*t + 2*u))"),
            // A plain difference stays as it is.
            ("t - u", "t - u"),
            // A logistic DDIM step's `sigma_s - sigma_t alpha_s/alpha_t` (times alpha_t)
            // with a log-SNR flat at t = 0, `c cos(pi t)`: the difference of the
            // sigmoids' arguments goes through its sum-to-product form, which a step at
            // t = 1e-40 does not cancel (1e-80 of the terms, below double-double).
            (
                "sqrt(sigmoid(3*cos(pi*t)))*sqrt(sigmoid(-3*cos(pi*u))) - sqrt(sigmoid(-3*cos(pi*t)))*sqrt(sigmoid(3*cos(pi*u)))",
                "-sigmoid(3*cos(pi*t))*sigmoid(-3*cos(pi*u))*expm1(6*sin(pi*t/2 - pi*u/2)*sin(pi*t/2 + pi*u/2))/(sqrt(sigmoid(3*cos(pi*t)))*sqrt(sigmoid(-3*cos(pi*u))) + sqrt(sigmoid(-3*cos(pi*t)))*sqrt(sigmoid(3*cos(pi*u))))",
            ),
            // Hyperbolic functions at two times, by their sum-to-product forms.
            ("sinh(t) - sinh(u)", "2*sinh(t/2 - u/2)*cosh(t/2 + u/2)"),
            ("tanh(t) - tanh(u)", "sinh(t - u)/(cosh(t)*cosh(u))"),
            // A shared denominator is taken out of both terms (`1/sqrt(cosh)`'s DDIM step).
            (
                "1/cosh(t)^2 - 1/(cosh(t)*cosh(u))",
                "-2*sinh(t/2 - u/2)*sinh(t/2 + u/2)/(cosh(t)^2*cosh(u))",
            ),
            // Two factors a side, each one expression at two times: telescoped
            // (`sigma = sigmoid'(a + t/4)`).
            (
                "sigmoid(2 + t)*sigmoid(-2 - t) - sigmoid(2 + u)*sigmoid(-2 - u)",
                "-sigmoid(2 + t)*sigmoid(-2 - u)^2*expm1(u - t) - sigmoid(2 + t)*sigmoid(2 + u)*sigmoid(-2 - t)*expm1(t - u)",
            ),
        ] {
            let e = crate::expr::test_util::parse_with_reals(&mut pool, text);
            let r = stabilize(&mut pool, e);
            assert_eq!(to_text(&pool, r), want, "{text}");
            // The same value as the defining form at 1024 bits, which the difference at
            // 1e-20 (1e-40 of its terms) does not exhaust.
            let (t, u) = (pool.lookup_symbol("t"), pool.lookup_symbol("u"));
            let mut hp = Hp::new(1024);
            for (tv, uv) in [(0.3, 0.2), (1e-20, 7.5e-21)] {
                let env = [
                    (t.expect("t"), hp.from_f64(tv)),
                    (u.expect("u"), hp.from_f64(uv)),
                ];
                let want = hp::to_f64(&hp.eval(&pool, e, &env).expect("defined"));
                let got = hp::to_f64(&hp.eval(&pool, r, &env).expect("defined"));
                assert!(
                    (got - want).abs() <= 1e-15 * want.abs(),
                    "{text} at {tv}, {uv}: {got} vs {want}"
                );
            }
        }
    }
}
