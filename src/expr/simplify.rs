//! The simplifier: named rules to a fixpoint under a deterministic budget, plus rational
//! normalisation, choosing the smallest of the candidate forms.
//!
//! Strategy, in three phases: (1) rewrite bottom-up with [`rules::EXPAND`] (towards exp, log,
//! sin, cos, cancelling inverse functions); (2) bring every sum to one fraction with common
//! factors cancelled ([`poly::together`]) wherever that does not make it larger; (3) rewrite
//! with [`rules::CONTRACT`] into compact forms (`tan`, `sigmoid`). The result is the smallest
//! by [`complexity`] among the input, the contracted input and the full pipeline (ties keep
//! the earlier candidate), so simplification never makes an expression larger. The budget
//! counts rule applications; it makes the work bounded and the output deterministic even
//! for inputs on which the rules would not terminate.

use crate::expr::fxhash::HashMap;

use super::poly;
use super::pool::{ExprId, Node, Pool};
use super::rules::{self, Rule};

/// Rule applications allowed per call of [`simplify`] by default.
pub const DEFAULT_BUDGET: usize = 20_000;

/// Polynomial work ([`poly::together_within`]) allowed to one call of [`Simplifier::run`]:
/// bounds the run's time on inputs whose rational normal forms explode (a polynomial
/// composed with itself many times), where the rule budget alone does not. The largest run
/// in deriving and emitting the bundled library spends about 150,000 units.
pub const RUN_POLY_WORK: u64 = 2 * poly::DEFAULT_WORK;

/// Rounds of the three phases before [`Simplifier::run`] gives up on reaching a fixpoint.
pub const MAX_ROUNDS: usize = 4;

/// A configured simplifier.
#[derive(Debug)]
pub struct Simplifier {
    /// Rule applications allowed per call of [`Simplifier::run`].
    per_run: usize,
    budget: usize,
    /// Memos of the rewrite and normalisation passes, kept across calls of `run` so that
    /// simplifying many expressions that share subexpressions does the shared work once.
    /// Keyed by pass (the rule set's address, or 0 for normalisation). Valid because a
    /// pool never changes what an id means.
    memos: HashMap<usize, HashMap<ExprId, ExprId>>,
    /// Results of `run`.
    results: HashMap<ExprId, ExprId>,
    /// [`complexity`] of the expressions compared so far.
    sizes: HashMap<ExprId, usize>,
    /// Polynomial work left to the rational normalisation of the current run.
    poly_work: u64,
}

impl Default for Simplifier {
    fn default() -> Self {
        Simplifier::with_budget(DEFAULT_BUDGET)
    }
}

/// Simplifies `e` with the default budget.
pub fn simplify(pool: &mut Pool, e: ExprId) -> ExprId {
    Simplifier::default().run(pool, e)
}

pub use super::pool::complexity;
use super::pool::complexity_memo;

impl Simplifier {
    pub fn with_budget(budget: usize) -> Simplifier {
        Simplifier {
            per_run: budget,
            budget,
            memos: HashMap::default(),
            results: HashMap::default(),
            sizes: HashMap::default(),
            poly_work: RUN_POLY_WORK,
        }
    }

    /// Runs the three phases to a fixpoint (at most [`MAX_ROUNDS`] rounds): a round can
    /// expose structure the next one simplifies, e.g. a sum that only cancels once its
    /// enclosing product has been normalised.
    pub fn run(&mut self, pool: &mut Pool, e: ExprId) -> ExprId {
        if let Some(&r) = self.results.get(&e) {
            return r;
        }
        self.budget = self.per_run;
        self.poly_work = RUN_POLY_WORK;
        let mut cur = e;
        for _ in 0..MAX_ROUNDS {
            let next = self.round(pool, cur);
            if next == cur {
                break;
            }
            cur = next;
        }
        self.results.insert(e, cur);
        super::verify::checked(pool, cur, "simplify")
    }

    /// One round of the three phases; returns the smallest candidate.
    fn round(&mut self, pool: &mut Pool, e: ExprId) -> ExprId {
        let expanded = self.rewrite(pool, e, rules::EXPAND);
        let normal = self.normalise(pool, expanded);
        // Normal forms expose structure the expanding rules act on: `sqrt(1 - 1/(1 + u))`
        // becomes `sqrt(u/(1 + u))`, which `power-nonneg-base` splits.
        let normal = self.rewrite(pool, normal, rules::EXPAND);
        let full = self.rewrite(pool, normal, rules::CONTRACT);
        let light = self.rewrite(pool, e, rules::CONTRACT);
        [e, light, full]
            .into_iter()
            .min_by_key(|&c| complexity_memo(pool, c, &mut self.sizes))
            .unwrap_or(e)
    }

    /// Rewrites bottom-up with `rules` until nothing applies (or the budget runs out).
    pub fn rewrite(&mut self, pool: &mut Pool, e: ExprId, rules: &[Rule]) -> ExprId {
        let key = rules.as_ptr() as usize;
        let mut memo = self.memos.remove(&key).unwrap_or_default();
        let mut cur = e;
        for _ in 0..8 {
            let next = self.rewrite_node(pool, cur, rules, &mut memo);
            if next == cur {
                break;
            }
            cur = next;
        }
        self.memos.insert(key, memo);
        cur
    }

    fn rewrite_node(
        &mut self,
        pool: &mut Pool,
        e: ExprId,
        rules: &[Rule],
        memo: &mut HashMap<ExprId, ExprId>,
    ) -> ExprId {
        if let Some(&v) = memo.get(&e) {
            return v;
        }
        let kids: Vec<ExprId> = pool
            .children(e)
            .into_iter()
            .map(|c| self.rewrite_node(pool, c, rules, memo))
            .collect();
        let mut n = pool.rebuild(e, &kids);
        // Apply rules at this node; a rewrite may create new unsimplified children, so
        // simplify those (not the node itself: that is this loop) and try again.
        for _ in 0..16 {
            let Some(r) = self.first_match(pool, n, rules) else {
                break;
            };
            let kids: Vec<ExprId> = pool
                .children(r)
                .into_iter()
                .map(|c| self.rewrite_node(pool, c, rules, memo))
                .collect();
            n = pool.rebuild(r, &kids);
        }
        memo.insert(e, n);
        n
    }

    fn first_match(&mut self, pool: &mut Pool, e: ExprId, rules: &[Rule]) -> Option<ExprId> {
        if self.budget == 0 {
            return None;
        }
        for rule in rules {
            if let Some(r) = (rule.apply)(pool, e)
                && r != e
            {
                self.budget -= 1;
                return Some(r);
            }
        }
        None
    }

    /// Rational normalisation, bottom-up, kept only where it does not increase size.
    fn normalise(&mut self, pool: &mut Pool, e: ExprId) -> ExprId {
        let mut memo = self.memos.remove(&0).unwrap_or_default();
        let r = self.normalise_node(pool, e, &mut memo);
        self.memos.insert(0, memo);
        r
    }

    fn normalise_node(
        &mut self,
        pool: &mut Pool,
        e: ExprId,
        memo: &mut HashMap<ExprId, ExprId>,
    ) -> ExprId {
        if let Some(&v) = memo.get(&e) {
            return v;
        }
        let kids: Vec<ExprId> = pool
            .children(e)
            .into_iter()
            .map(|c| self.normalise_node(pool, c, memo))
            .collect();
        let mut n = pool.rebuild(e, &kids);
        if matches!(pool.node(n), Node::Add(_) | Node::Mul(_)) && self.budget > 0 {
            self.budget -= 1;
            let t = poly::together_within(pool, n, &mut self.poly_work);
            if t != n
                && complexity_memo(pool, t, &mut self.sizes)
                    <= complexity_memo(pool, n, &mut self.sizes)
            {
                n = t;
            }
        }
        memo.insert(e, n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::pool::{Domain, Func};
    use crate::expr::test_util::parse_in_unit_t as parse;

    #[test]
    fn exp_of_log_and_log_of_exp_cancel() {
        let mut p = Pool::new();
        let x = p.var("x");
        let l = p.call(Func::Log, x);
        let e = p.call(Func::Exp, l);
        assert_eq!(simplify(&mut p, e), x);
        let ex = p.call(Func::Exp, x);
        let le = p.call(Func::Log, ex);
        assert_eq!(simplify(&mut p, le), x);
    }

    #[test]
    fn exp_products_merge() {
        let mut p = Pool::new();
        let x = p.var("x");
        let y = p.var("y");
        let ex = p.call(Func::Exp, x);
        let ey = p.call(Func::Exp, y);
        let prod = p.mul(vec![ex, ey]);
        let s = p.add(vec![x, y]);
        assert_eq!(simplify(&mut p, prod), p.call(Func::Exp, s));
    }

    #[test]
    fn sqrt_of_square_needs_sign_information() {
        let mut p = Pool::new();
        let x = p.var("x");
        let x2 = p.powi(x, 2);
        let r = p.sqrt(x2);
        assert_eq!(simplify(&mut p, r), p.call(Func::Abs, x));
        let ts = p.symbol("t");
        p.set_domain(ts, Domain::UNIT);
        let t = p.sym_expr(ts);
        let t2 = p.powi(t, 2);
        let r = p.sqrt(t2);
        assert_eq!(simplify(&mut p, r), t);
    }

    #[test]
    fn pythagorean_identity() {
        let mut p = Pool::new();
        let u = p.var("u");
        let s = p.call(Func::Sin, u);
        let c = p.call(Func::Cos, u);
        let s2 = p.powi(s, 2);
        let c2 = p.powi(c, 2);
        let sum = p.add(vec![s2, c2]);
        assert_eq!(simplify(&mut p, sum), p.one());
    }

    #[test]
    fn atan_of_tan_on_the_principal_branch_only() {
        let mut p = Pool::new();
        let ts = p.symbol("t");
        p.set_domain(ts, Domain::UNIT);
        let t = p.sym_expr(ts);
        let tan = p.call(Func::Tan, t);
        let at = p.call(Func::Atan, tan);
        assert_eq!(simplify(&mut p, at), t);
        let x = p.var("x");
        let tan = p.call(Func::Tan, x);
        let at = p.call(Func::Atan, tan);
        assert_ne!(simplify(&mut p, at), x);
    }

    #[test]
    fn budget_zero_only_canonicalises() {
        let mut p = Pool::new();
        let x = p.var("x");
        let l = p.call(Func::Log, x);
        let e = p.call(Func::Exp, l);
        let mut s = Simplifier::with_budget(0);
        assert_eq!(s.run(&mut p, e), e);
    }

    // Forms of docs/theory.md section 1 the simplifier must reach, not merely equal values.

    fn reaches(from: &str, to: &str) {
        let mut p = Pool::new();
        let e = parse(&mut p, from);
        let want = parse(&mut p, to);
        let got = simplify(&mut p, e);
        assert_eq!(
            crate::expr::print::to_text(&p, got),
            crate::expr::print::to_text(&p, want),
            "simplify({from})"
        );
    }

    #[test]
    fn tangent_rho_from_alpha_bar() {
        // alpha_bar = 1/(1 + tan^2/2): rho = sigma/alpha = tan(pi t/2)/sqrt(2).
        reaches(
            "sqrt(1 + tan(pi*t/2)^2/2)*sqrt(1 - 1/(1 + tan(pi*t/2)^2/2))",
            "sqrt(1/2)*tan(pi*t/2)",
        );
    }

    #[test]
    fn a_sum_under_a_root_becomes_one_fraction_and_splits() {
        reaches(
            "sqrt(1 - 1/(1 + tan(pi*t/2)^2/2))",
            "sin(pi*t/2)/sqrt(1 + cos(pi*t/2)^2)",
        );
    }

    #[test]
    fn sub_vp_g2_factors() {
        reaches(
            "1/10 + 199*t/10 - exp(-t/5 - 199*t^2/10)/10 - 199*t*exp(-t/5 - 199*t^2/10)/10",
            "(1/10 + 199*t/10)*(1 - exp(-t/5 - 199*t^2/10))",
        );
    }

    #[test]
    fn common_factors_in_one_generator_cancel_beside_others() {
        // pi*sin*(1 + cos^2) / (cos*(1 + cos^2)^2): the primitive parts are in cos alone.
        reaches(
            "pi*sin(t)*(1 + cos(t)^2)/(cos(t) + 2*cos(t)^3 + cos(t)^5)",
            "pi*sin(t)/(cos(t) + cos(t)^3)",
        );
    }
}

/// The simplifier read as input and output (`expr::test_util`): each line a form a user
/// writes and the form `derive` shows.
#[cfg(test)]
mod forms {
    use crate::expr::test_util::{derivative, integral01, simplified, together};
    use insta::assert_snapshot;

    #[test]
    fn inverse_functions_cancel_where_they_are_inverse() {
        assert_snapshot!(simplified("exp(log(x))"), @"x");
        assert_snapshot!(simplified("log(exp(x))"), @"x");
        assert_snapshot!(simplified("atan(tan(t))"), @"t");
        assert_snapshot!(simplified("atan(tan(x))"), @"atan(tan(x))");
        assert_snapshot!(simplified("sqrt(t^2)"), @"t");
        assert_snapshot!(simplified("sqrt(x^2)"), @"abs(x)");
    }

    #[test]
    fn identities_of_the_schedules() {
        assert_snapshot!(simplified("sin(u)^2 + cos(u)^2"), @"1");
        assert_snapshot!(simplified("exp(x)*exp(y)"), @"exp(x + y)");
        assert_snapshot!(simplified("1/(1 + exp(-x))"), @"sigmoid(x)");
        assert_snapshot!(simplified("1 - cos(u)^2"), @"sin(u)^2");
    }

    #[test]
    fn derivatives_and_integrals_in_closed_form() {
        assert_snapshot!(derivative("exp(-t^2)"), @"-2*t*exp(-t^2)");
        assert_snapshot!(derivative("log(cos(pi*t/2))"), @"-pi*tan(pi*t/2)/2");
        // 1/10 + 199/20
        assert_snapshot!(integral01("1/10 + 199*t/10"), @"201/20");
        assert_snapshot!(integral01("exp(t)"), @"exp(1) - 1");
    }

    #[test]
    fn sums_become_one_fraction_with_common_factors_cancelled() {
        assert_snapshot!(together("1/x + 1/y"), @"(x + y)/(x*y)");
        assert_snapshot!(together("(x^2 - 1)/(x - 1)"), @"1 + x");
    }
}
