//! Polynomial and rational-function normalisation: [`expand`] and [`together`].
//!
//! `together` reads an expression as a rational function of its *generators* (symbols,
//! constants, calls and non-integer powers, sorted by [`Pool::cmp`]), computes with sparse
//! polynomials over Q, cancels common factors and writes the result back through the
//! canonical constructors as `N * D^-1`. Work is bounded: anything that would exceed
//! [`MAX_TERMS`] terms, or a sum raised to a power above 64, leaves the input unchanged.
//!
//! The polynomial type is `sparse.rs`; rational functions over a factored denominator are
//! `frac.rs`; this file reads expressions into them and writes results back.

mod frac;
mod sparse;

use crate::expr::fxhash::{HashMap, HashSet};

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, ToPrimitive};

use super::pool::{ExprId, Func, Node, Pool};

use frac::*;
pub use sparse::MAX_TERMS;
use sparse::*;

/// Work allowed to one [`together`] by default, in units of one product of word-sized
/// coefficients (a product of n-word coefficients costs about n units). Set from
/// measurement: the largest call in deriving and emitting the bundled library spends
/// about 370,000 units; a unit takes about 0.3 us, so a call gives up after about 0.6 s.
pub const DEFAULT_WORK: u64 = 2_000_000;

/// Work allowed to lowering (or checking) one process, fields included. The bundled
/// library's largest process spends about 3,000,000 units. A unit costs 0.3 us on the
/// library's small coefficients and up to about 1.1 us on the large rationals of
/// generated inputs (exponents like 2*(1 + 40.9^2/100)), so a process gives up improving
/// its forms after 1.2 to 4.5 s (it was 4e7, up to 17 s, until the fuzzer found those).
pub const PROCESS_WORK: u64 = 4_000_000;

/// How [`together`] sees a node.
enum Shape {
    Rational,
    Sum(Vec<ExprId>),
    Product(Vec<ExprId>),
    IntPow(ExprId, i64),
    Atom,
}

fn shape(pool: &Pool, e: ExprId) -> Shape {
    match pool.node(e) {
        Node::Rational(_) => Shape::Rational,
        Node::Add(xs) => Shape::Sum(xs.to_vec()),
        Node::Mul(xs) => Shape::Product(xs.to_vec()),
        Node::Pow(b, x) => match pool.as_rational(*x) {
            Some(r) if r.is_integer() => match r.to_integer().to_i64() {
                Some(n) => Shape::IntPow(*b, n),
                None => Shape::Atom,
            },
            _ => Shape::Atom,
        },
        _ => Shape::Atom,
    }
}

/// The generator and exponent of an atom: `b^(p/q)` is `(b^(1/q))^p` when `b^(1/q)` is a
/// canonical power of `b`; any other atom is its own generator.
fn atom_of(pool: &mut Pool, e: ExprId) -> (ExprId, i64) {
    if let Node::Pow(b, x) = pool.node(e) {
        let b = *b;
        let exps = pool
            .as_rational(*x)
            .map(|r| (r.numer().to_i64(), r.denom().to_i64()));
        if let Some((Some(p), Some(q))) = exps
            && q > 1
        {
            let root = pool.pow_rational(b, BigRational::new(BigInt::one(), BigInt::from(q)));
            if matches!(pool.node(root), Node::Pow(rb, _) if *rb == b) {
                return (root, p);
            }
        }
    }
    (e, 1)
}

/// The generators of one expression, sorted by [`Pool::cmp`], and how its atoms map onto
/// them.
struct Generators {
    gens: Vec<ExprId>,
    /// Atom node -> (generator index, exponent).
    atoms: HashMap<ExprId, (usize, i64)>,
    /// `(s, c, sign)`: reduce `x_s^2` to `1 + sign * x_c^2` (sin/cos and cosh/sinh pairs).
    pairs: Vec<(usize, usize, i64)>,
}

impl Generators {
    fn collect(pool: &mut Pool, e: ExprId) -> Generators {
        let mut seen = HashSet::default();
        let mut stack = vec![e];
        let mut raw = HashMap::default();
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            match shape(pool, x) {
                Shape::Sum(xs) | Shape::Product(xs) => stack.extend(xs),
                Shape::IntPow(b, _) => stack.push(b),
                Shape::Rational => {}
                Shape::Atom => {
                    raw.insert(x, atom_of(pool, x));
                }
            }
        }
        // exp(u) and exp(-u) are one generator and its inverse (`exp(2)*(1 - t)^2/t^2`
        // against `t^2*exp(-2)/(1 - t)^2`): the one that sorts later is the other's -1st
        // power. Only where both occur, so a lone exp(-u) keeps its form.
        let exps: Vec<(ExprId, ExprId)> = raw
            .keys()
            .filter_map(|&x| match pool.node(x) {
                Node::Call(Func::Exp, u) => Some((x, *u)),
                _ => None,
            })
            .collect();
        for (x, u) in exps {
            let minus = pool.neg(u);
            let partner = pool.call(Func::Exp, minus);
            if partner != x
                && raw.get(&partner) == Some(&(partner, 1))
                && raw.get(&x) == Some(&(x, 1))
                && pool.cmp(partner, x) == std::cmp::Ordering::Less
            {
                raw.insert(x, (partner, -1));
            }
        }
        let unique: HashSet<ExprId> = raw.values().map(|(g, _)| *g).collect();
        let mut gens: Vec<ExprId> = unique.into_iter().collect();
        gens.sort_by(|a, b| pool.cmp(*a, *b));
        let index: HashMap<ExprId, usize> = gens.iter().enumerate().map(|(i, g)| (*g, i)).collect();
        let atoms = raw
            .into_iter()
            .map(|(x, (g, p))| (x, (index[&g], p)))
            .collect();
        let pairs = square_pairs(pool, &gens);
        Generators { gens, atoms, pairs }
    }

    fn to_frac(&self, pool: &Pool, e: ExprId, memo: &mut HashMap<ExprId, Frac>) -> Option<Frac> {
        if let Some(f) = memo.get(&e) {
            return Some(f.clone());
        }
        let n = self.gens.len();
        let f = match shape(pool, e) {
            Shape::Rational => Frac::poly(Poly::constant(n, pool.as_rational(e)?.clone())),
            Shape::Sum(xs) => {
                let parts = xs
                    .into_iter()
                    .map(|x| self.to_frac(pool, x, memo))
                    .collect::<Option<Vec<_>>>()?;
                Frac::sum(n, parts)?
            }
            Shape::Product(xs) => {
                let mut acc = Frac::poly(Poly::one(n));
                for x in xs {
                    acc = acc.mul(&self.to_frac(pool, x, memo)?)?;
                }
                acc
            }
            Shape::IntPow(b, k) => self.to_frac(pool, b, memo)?.powi(k)?,
            Shape::Atom => {
                let (i, p) = self.atoms.get(&e)?;
                Frac::generator(n, *i, *p)?
            }
        };
        memo.insert(e, f.clone());
        Some(f)
    }

    fn to_expr(&self, pool: &mut Pool, p: &Poly) -> ExprId {
        let mut terms = Vec::with_capacity(p.len());
        for (m, c) in &p.terms {
            let mut factors = vec![pool.rational(c.clone())];
            for (g, &k) in self.gens.iter().zip(m) {
                if k > 0 {
                    let k = pool.int(i64::from(k));
                    factors.push(pool.pow(*g, k));
                }
            }
            terms.push(pool.mul(factors));
        }
        pool.add(terms)
    }
}

/// Generator pairs whose squares [`reduce_square`] rewrites: `sin(u)^2 = 1 - cos(u)^2` and
/// `cosh(u)^2 = 1 + sinh(u)^2`.
fn square_pairs(pool: &Pool, gens: &[ExprId]) -> Vec<(usize, usize, i64)> {
    let find = |f: Func, u: ExprId| {
        gens.iter()
            .position(|&g| matches!(pool.node(g), Node::Call(h, a) if *h == f && *a == u))
    };
    gens.iter()
        .enumerate()
        .filter_map(|(i, &g)| match pool.node(g) {
            Node::Call(Func::Sin, u) => find(Func::Cos, *u).map(|c| (i, c, -1)),
            Node::Call(Func::Cosh, u) => find(Func::Sinh, *u).map(|s| (i, s, 1)),
            _ => None,
        })
        .collect()
}

/// Rewrites `e` as one fraction N/D of expanded polynomials in its generators, with common
/// factors cancelled; returns the canonical expression `N * D^-1` (or just N when D == 1).
///
/// Cancellation: D's factors (from the negative powers met) are trial-divided out of N;
/// then `sin^2`/`cosh^2` are reduced when their partner occurs, rational and monomial
/// content is removed, and the univariate GCD (one generator) or exact division of N by D
/// or D by N (several generators) is cancelled. D ends with coprime integer coefficients and
/// a positive constant term (or leading coefficient). Returns `e` unchanged when the work
/// would exceed [`MAX_TERMS`] terms, a sum would be raised to a power above 64, or a
/// denominator is zero.
pub fn together(pool: &mut Pool, e: ExprId) -> ExprId {
    together_within(pool, e, &mut DEFAULT_WORK.clone())
}

/// [`together`] within an allowance of work ([`DEFAULT_WORK`] is one call's worth): what
/// it spends is taken from `allowance`, and once that is spent it returns `e` unchanged.
/// A caller that normalises many expressions (the simplifier) passes one allowance to all
/// of them, which bounds its total work. Work is counted, not timed, so the result is the
/// same on every machine.
///
/// Results are memoised in the pool with the work they cost. A repeated call is charged
/// that cost again, and answered from the memo only when the allowance would have covered
/// it (else it is recomputed and runs out as before): the memo changes how long a call
/// takes, never what it returns.
pub fn together_within(pool: &mut Pool, e: ExprId, allowance: &mut u64) -> ExprId {
    if let Some(&(r, cost)) = pool.together_memo.get(&e) {
        let (fits, _) = scoped(*allowance, || sparse::spend(cost).is_some());
        if fits {
            *allowance -= cost;
            return r;
        }
    }
    let (r, spent) = scoped(*allowance, || together_bounded(pool, e));
    *allowance -= spent;
    // `None` may mean the allowance ran out, which another call's need not: not memoised.
    let Some(r) = r else { return e };
    let r = super::verify::checked(pool, r, "together");
    pool.together_memo.insert(e, (r, spent));
    r
}

/// Runs `task` with at most `units` of polynomial work for all the [`together`] calls in
/// it (and no more than an enclosing scope has left): one task's total, as lowering one
/// process, is bounded however many expressions it normalises.
pub fn with_work_allowance<R>(units: u64, task: impl FnOnce() -> R) -> R {
    scoped(units, task).0
}

/// Whether this thread is outside every polynomial work allowance (as a task must leave
/// it).
pub(crate) fn at_rest() -> bool {
    super::work::at_rest(&sparse::WORK)
}

/// `task` run with the polynomial work allowance `min(units, what is left outside)`.
fn scoped<R>(units: u64, task: impl FnOnce() -> R) -> (R, u64) {
    super::work::scoped(&WORK, units, task)
}

fn together_bounded(pool: &mut Pool, e: ExprId) -> Option<ExprId> {
    let gens = Generators::collect(pool, e);
    let frac = gens.to_frac(pool, e, &mut HashMap::default())?;
    let (num, den) = cancel(frac, &gens.pairs)?;
    let mut n = gens.to_expr(pool, &num);
    // A common factor is shown only where that is smaller: (1 + t)*(1 - E), not
    // 5000^a*(5000^-a - 1) for 1 - 5000^a.
    if let Some(g) = num.content_factor()
        && let Some(q) = num.div_exact(&g)
    {
        let g = gens.to_expr(pool, &g);
        let q = gens.to_expr(pool, &q);
        let f = pool.mul(vec![g, q]);
        if super::pool::complexity(pool, f) < super::pool::complexity(pool, n) {
            n = f;
        }
    }
    if den.is_one() {
        return Some(n);
    }
    let d = gens.to_expr(pool, &den);
    let inv = pool.powi(d, -1);
    Some(pool.mul(vec![n, inv]))
}

/// Cancels common factors and normalises; returns (N, D). `None` when D turns out zero or
/// the work is unbounded.
fn cancel(frac: Frac, pairs: &[(usize, usize, i64)]) -> Option<(Poly, Poly)> {
    let Frac { mut num, mut den } = frac;
    let nvars = num.nvars;
    if num.is_zero() {
        return Some((num, Poly::one(nvars)));
    }
    den.sort();
    // Each factor divides out in its primitive form over Z, converted once.
    let mut primitive = num.primitive();
    for (f, k) in &mut den {
        let f = f.primitive();
        while *k > 0 {
            let Some(q) = primitive.div_exact(&f) else {
                break;
            };
            primitive = q;
            *k -= 1;
        }
    }
    num = primitive.into_poly(nvars);
    let mut d = expand_factors(&den, nvars, 1)?;
    for &(s, c, sign) in pairs {
        num = reduce_square(&num, s, c, sign)?;
        d = reduce_square(&d, s, c, sign)?;
    }
    if d.is_zero() {
        return None;
    }
    if num.is_zero() {
        return Some((num, Poly::one(nvars)));
    }
    let m: Monomial = num
        .monomial_content()
        .iter()
        .zip(d.monomial_content())
        .map(|(a, b)| (*a).min(b))
        .collect();
    num = num.div_monomial(&m);
    d = d.div_monomial(&m);
    cancel_common(&mut num, &mut d);
    let unit = d.unit().recip();
    Some((num.scale(&unit), d.scale(&unit)))
}

/// Divides out a common factor of `num` and `d`: their GCD when only one generator occurs
/// (in them, or in their parts without monomial content), otherwise `d` or `num` itself
/// when it divides the other exactly.
fn cancel_common(num: &mut Poly, d: &mut Poly) {
    if d.is_constant() {
        return;
    }
    let used = num
        .vars_used()
        .into_iter()
        .zip(d.vars_used())
        .filter(|(a, b)| *a || *b)
        .count();
    let nvars = num.nvars;
    // Without their monomial contents, both may be polynomials in one and the same
    // generator: `pi*sin(u)*(1 + cos(u)^2)` over `cos(u)*(1 + cos(u)^2)^2`.
    let pn = num.div_monomial(&num.monomial_content());
    let pd = d.div_monomial(&d.monomial_content());
    let primitive_used = pn
        .vars_used()
        .into_iter()
        .zip(pd.vars_used())
        .filter(|(a, b)| *a || *b)
        .count();
    if used <= 1 || (primitive_used == 1 && !pn.is_constant() && !pd.is_constant()) {
        let (a, b) = if used <= 1 { (&*num, &*d) } else { (&pn, &pd) };
        if let Some(g) = gcd_univariate(a, b)
            && !g.is_constant()
            && let (Some(a), Some(b)) = (num.div_exact(&g), d.div_exact(&g))
        {
            *num = a;
            *d = b;
        }
    } else if let Some(q) = num.div_exact(d) {
        *num = q;
        *d = Poly::one(nvars);
    } else if !num.is_constant()
        && let Some(q) = d.div_exact(num)
    {
        *d = q;
        *num = Poly::one(nvars);
    }
}

/// Distributes products over sums and expands positive integer powers of sums, recursively at
/// the top rational level (not inside function arguments). Gives up (returns the input
/// unchanged) if the result would exceed `MAX_TERMS` terms.
///
/// Negative powers keep their (expanded) base: `(x*(x + 1))^-1` stays a quotient. Bounded
/// work: a sum raised to a power above 64, or one product needing more than `64 * MAX_TERMS`
/// term products, also gives up.
pub fn expand(pool: &mut Pool, e: ExprId) -> ExprId {
    expand_rec(pool, e, &mut HashMap::default()).unwrap_or(e)
}

fn expand_rec(pool: &mut Pool, e: ExprId, memo: &mut HashMap<ExprId, ExprId>) -> Option<ExprId> {
    if let Some(&v) = memo.get(&e) {
        return Some(v);
    }
    let v = match shape(pool, e) {
        Shape::Sum(xs) => {
            let terms = xs
                .into_iter()
                .map(|x| expand_rec(pool, x, memo))
                .collect::<Option<Vec<_>>>()?;
            let s = pool.add(terms);
            bounded_sum(pool, s)?
        }
        Shape::Product(xs) => {
            let mut acc = pool.one();
            for x in xs {
                let f = expand_rec(pool, x, memo)?;
                acc = distribute(pool, acc, f)?;
            }
            acc
        }
        Shape::IntPow(b, n) => expand_pow(pool, e, b, n, memo)?,
        Shape::Rational | Shape::Atom => e,
    };
    memo.insert(e, v);
    Some(v)
}

fn expand_pow(
    pool: &mut Pool,
    e: ExprId,
    b: ExprId,
    n: i64,
    memo: &mut HashMap<ExprId, ExprId>,
) -> Option<ExprId> {
    let base = expand_rec(pool, b, memo)?;
    let is_sum = matches!(pool.node(base), Node::Add(_));
    if n < 2 || !is_sum {
        let exp = match pool.node(e) {
            Node::Pow(_, x) => *x,
            _ => return Some(e),
        };
        return Some(pool.pow(base, exp));
    }
    if n > i64::from(MAX_POWER) {
        return None;
    }
    let mut acc = base;
    for _ in 1..n {
        acc = distribute(pool, acc, base)?;
    }
    Some(acc)
}

fn terms_of(pool: &Pool, e: ExprId) -> Vec<ExprId> {
    match pool.node(e) {
        Node::Add(xs) => xs.to_vec(),
        _ => vec![e],
    }
}

fn bounded_sum(pool: &Pool, e: ExprId) -> Option<ExprId> {
    let n = match pool.node(e) {
        Node::Add(xs) => xs.len(),
        _ => 1,
    };
    (n <= MAX_TERMS).then_some(e)
}

/// The expanded product of two expanded expressions.
/// The size in bits of a term's rational coefficient (numerator and denominator), read
/// without building the rest of the term as `Pool::split_coeff` would.
fn coefficient_bits(pool: &Pool, e: ExprId) -> u64 {
    let coefficient = match pool.node(e) {
        Node::Rational(r) => Some(r),
        Node::Mul(xs) => match pool.node(xs[0]) {
            Node::Rational(r) => Some(r),
            _ => None,
        },
        _ => None,
    };
    coefficient.map_or(2, |r| r.numer().bits() + r.denom().bits())
}

fn distribute(pool: &mut Pool, a: ExprId, b: ExprId) -> Option<ExprId> {
    let (ta, tb) = (terms_of(pool, a), terms_of(pool, b));
    if ta.len() == 1 && tb.len() == 1 {
        return Some(pool.mul(vec![a, b]));
    }
    if ta.len().saturating_mul(tb.len()) > MAX_PRODUCTS {
        return None;
    }
    // Each product multiplies two coefficients (and reduces by a gcd): charged by their
    // size, as the sparse arithmetic charges its products, so terms with 4000-digit
    // coefficients cannot multiply out for minutes.
    let (ba, bb): (Vec<u64>, Vec<u64>) = (
        ta.iter().map(|&x| coefficient_bits(pool, x)).collect(),
        tb.iter().map(|&y| coefficient_bits(pool, y)).collect(),
    );
    for &x in &ba {
        for &y in &bb {
            spend(product_cost(x, y))?;
        }
    }
    let mut products = Vec::with_capacity(ta.len() * tb.len());
    for &x in &ta {
        for &y in &tb {
            products.push(pool.mul(vec![x, y]));
        }
    }
    let s = pool.add(products);
    bounded_sum(pool, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vars(p: &mut Pool, names: &[&str]) -> Vec<ExprId> {
        names.iter().map(|n| p.var(n)).collect()
    }

    fn c(p: &mut Pool, k: i64, e: ExprId) -> ExprId {
        let k = p.int(k);
        p.mul(vec![k, e])
    }

    /// A structural dump that names symbols, comparable across pools.
    fn dump(p: &Pool, e: ExprId) -> String {
        let kids = |xs: &[ExprId]| {
            xs.iter()
                .map(|&x| dump(p, x))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match p.node(e) {
            Node::Rational(r) => r.to_string(),
            Node::Const(k) => format!("{k:?}"),
            Node::Sym(s) => p.symbol_name(*s).to_owned(),
            Node::Add(xs) => format!("Add({})", kids(xs)),
            Node::Mul(xs) => format!("Mul({})", kids(xs)),
            Node::Pow(b, x) => format!("Pow({}, {})", dump(p, *b), dump(p, *x)),
            Node::Call(f, a) => format!("{}({})", f.name(), dump(p, *a)),
        }
    }

    #[test]
    fn expand_squares_and_differences() {
        let mut p = Pool::new();
        let [x, y] = vars(&mut p, &["x", "y"])[..] else {
            unreachable!("two names")
        };
        let one = p.one();
        let s = p.add(vec![x, one]);
        let sq = p.powi(s, 2);
        let x2 = p.powi(x, 2);
        let two_x = c(&mut p, 2, x);
        assert_eq!(expand(&mut p, sq), p.add(vec![x2, two_x, one]));
        let sum = p.add(vec![x, y]);
        let diff = p.sub(x, y);
        let prod = p.mul(vec![sum, diff]);
        let y2 = p.powi(y, 2);
        assert_eq!(expand(&mut p, prod), p.sub(x2, y2));
    }

    #[test]
    fn expand_leaves_function_arguments_alone() {
        let mut p = Pool::new();
        let x = p.var("x");
        let one = p.one();
        let s = p.add(vec![x, one]);
        let sq = p.powi(s, 2);
        let f = p.call(Func::Sin, sq);
        let e = p.mul(vec![f, s]);
        let fx = p.mul(vec![f, x]);
        assert_eq!(expand(&mut p, e), p.add(vec![fx, f]));
    }

    #[test]
    fn expand_gives_up_beyond_max_terms() {
        let mut p = Pool::new();
        let [x, y, z] = vars(&mut p, &["x", "y", "z"])[..] else {
            unreachable!("three names")
        };
        let one = p.one();
        let s = p.add(vec![x, y, z, one]);
        let big = p.powi(s, 40);
        assert_eq!(expand(&mut p, big), big);
        assert_eq!(together(&mut p, big), big);
    }

    #[test]
    fn together_within_gives_up_when_its_allowance_is_spent() {
        // (1 + x)^40 * (1 - x)^40 expands to 41 terms with coefficients up to C(40, 20):
        // cheap with the default allowance, refused (input returned) with 100 units.
        let mut p = Pool::new();
        let x = p.var("x");
        let one = p.one();
        let a = p.add(vec![one, x]);
        let b = p.sub(one, x);
        let a40 = p.powi(a, 40);
        let b40 = p.powi(b, 40);
        let e = p.mul(vec![a40, b40]);
        let mut small = 100;
        assert_eq!(together_within(&mut p, e, &mut small), e);
        assert!(small <= 100);
        let mut plenty = DEFAULT_WORK;
        let n = together_within(&mut p, e, &mut plenty);
        assert_ne!(n, e);
        assert!(plenty < DEFAULT_WORK, "the work done is charged");
        // A repeated call is answered from the memo and charged the same.
        let mut again = DEFAULT_WORK;
        assert_eq!(together_within(&mut p, e, &mut again), n);
        assert_eq!(again, plenty);
        // An enclosing allowance bounds what the calls inside it may spend, memo or not.
        let inner = with_work_allowance(100, || {
            let mut plenty = DEFAULT_WORK;
            together_within(&mut p, e, &mut plenty)
        });
        assert_eq!(inner, e);
        let mut small = 100;
        assert_eq!(together_within(&mut p, e, &mut small), e);
    }

    #[test]
    fn together_rectified_flow_g2() {
        let mut p = Pool::new();
        let t = p.var("t");
        let one = p.one();
        let one_minus_t = p.sub(one, t);
        let two_t = c(&mut p, 2, t);
        let t2 = p.powi(t, 2);
        let two_t2 = c(&mut p, 2, t2);
        let q = p.div(two_t2, one_minus_t);
        let e = p.add(vec![two_t, q]);
        assert_eq!(together(&mut p, e), p.div(two_t, one_minus_t));
    }

    #[test]
    fn together_sums_of_reciprocals() {
        let mut p = Pool::new();
        let [x, y] = vars(&mut p, &["x", "y"])[..] else {
            unreachable!("two names")
        };
        let rx = p.recip(x);
        let ry = p.recip(y);
        let e = p.add(vec![rx, ry]);
        let n = p.add(vec![x, y]);
        let d = p.mul(vec![x, y]);
        assert_eq!(together(&mut p, e), p.div(n, d));
    }

    #[test]
    fn together_cancels_univariate_gcd() {
        let mut p = Pool::new();
        let x = p.var("x");
        let one = p.one();
        let x2 = p.powi(x, 2);
        let x2m1 = p.sub(x2, one);
        let xm1 = p.sub(x, one);
        let xp1 = p.add(vec![x, one]);
        let e = p.div(x2m1, xm1);
        assert_eq!(together(&mut p, e), xp1);
        let two_x = c(&mut p, 2, x);
        let sq = p.add(vec![x2, two_x, one]);
        let e = p.div(x2m1, sq);
        assert_eq!(together(&mut p, e), p.div(xm1, xp1));
        let e = p.div(x, x);
        assert_eq!(together(&mut p, e), one);
    }

    #[test]
    fn together_cancels_vp_linear_g2() {
        let mut p = Pool::new();
        let [t, b] = vars(&mut p, &["t", "b"])[..] else {
            unreachable!("two names")
        };
        let et = p.call(Func::Exp, t);
        let one = p.one();
        let a = p.mul(vec![et, b]);
        let one_minus = p.sub(one, et);
        let bb = p.mul(vec![b, one_minus]);
        let e = p.add(vec![a, bb]);
        assert_eq!(together(&mut p, e), b);
    }

    #[test]
    fn together_reduces_sin_squared() {
        let mut p = Pool::new();
        let u = p.var("u");
        let pi = p.pi();
        let s = p.call(Func::Sin, u);
        let co = p.call(Func::Cos, u);
        let a = p.mul(vec![pi, s, co]);
        let s3 = p.powi(s, 3);
        let num = p.mul(vec![pi, s3]);
        let b = p.div(num, co);
        let e = p.add(vec![a, b]);
        let inv = p.recip(co);
        assert_eq!(together(&mut p, e), p.mul(vec![pi, s, inv]));
    }

    #[test]
    fn together_normalises_sign_and_content() {
        let mut p = Pool::new();
        let [x, y, t] = vars(&mut p, &["x", "y", "t"])[..] else {
            unreachable!("three names")
        };
        // x/(2y) = (x/2) * y^-1
        let two_y = c(&mut p, 2, y);
        let e = p.div(x, two_y);
        let half = p.frac(1, 2);
        let ry = p.recip(y);
        assert_eq!(together(&mut p, e), p.mul(vec![half, x, ry]));
        // 2t/(2 - 2t) = t/(1 - t), and -t/(t - 1) = t/(1 - t)
        let one = p.one();
        let one_minus_t = p.sub(one, t);
        let expect = p.div(t, one_minus_t);
        let two_t = c(&mut p, 2, t);
        let two = p.int(2);
        let den = p.sub(two, two_t);
        let e = p.div(two_t, den);
        assert_eq!(together(&mut p, e), expect);
        let tm1 = p.sub(t, one);
        let nt = p.neg(t);
        let e = p.div(nt, tm1);
        assert_eq!(together(&mut p, e), expect);
        // No constant term: the leading coefficient is made positive.
        let nx = p.neg(x);
        let xy = p.mul(vec![x, y]);
        let den = p.sub(nx, xy);
        let e = p.div(one, den);
        let neg_one = p.int(-1);
        let pos = p.add(vec![x, xy]);
        let inv = p.recip(pos);
        assert_eq!(together(&mut p, e), p.mul(vec![neg_one, inv]));
    }

    #[test]
    fn together_uses_pythagorean_identities() {
        let mut p = Pool::new();
        let u = p.var("u");
        let s = p.call(Func::Sin, u);
        let co = p.call(Func::Cos, u);
        let s2 = p.powi(s, 2);
        let c2 = p.powi(co, 2);
        let e = p.add(vec![s2, c2]);
        assert_eq!(together(&mut p, e), p.one());
        let sh = p.call(Func::Sinh, u);
        let ch = p.call(Func::Cosh, u);
        let sh2 = p.powi(sh, 2);
        let ch2 = p.powi(ch, 2);
        let e = p.sub(ch2, sh2);
        assert_eq!(together(&mut p, e), p.one());
    }

    #[test]
    fn powers_of_sums_above_64_are_left_alone() {
        let mut p = Pool::new();
        let x = p.var("x");
        let one = p.one();
        let s = p.add(vec![x, one]);
        let big = p.powi(s, 65);
        assert_eq!(expand(&mut p, big), big);
        assert_eq!(together(&mut p, big), big);
        // A bare generator may carry any exponent.
        let x100 = p.powi(x, 100);
        let e = p.div(x100, s);
        assert_eq!(together(&mut p, e), e);
    }

    /// `1/(a - b) + c/(b + a)^2 - 3*b/a` built with names and terms in the given order.
    fn sample(names: [&str; 3], reversed: bool) -> String {
        let mut p = Pool::new();
        let ids = vars(&mut p, &names);
        let (mut a, mut b, mut cc) = (ids[0], ids[1], ids[2]);
        if names[0] != "a" {
            (a, b, cc) = (ids[2], ids[1], ids[0]);
        }
        let amb = p.sub(a, b);
        let bpa = p.add(vec![b, a]);
        let sq = p.powi(bpa, 2);
        let mut terms = vec![p.recip(amb), p.div(cc, sq), {
            let nb = c(&mut p, -3, b);
            p.div(nb, a)
        }];
        if reversed {
            terms.reverse();
        }
        let e = p.add(terms);
        let r = together(&mut p, e);
        dump(&p, r)
    }

    #[test]
    fn together_is_independent_of_construction_order() {
        let one = sample(["a", "b", "c"], false);
        let two = sample(["c", "b", "a"], true);
        assert_eq!(one, two);
        assert!(one.contains("Pow("), "{one}");
    }

    #[test]
    fn together_leaves_division_by_zero_alone() {
        let mut p = Pool::new();
        let x = p.var("x");
        let zero = p.zero();
        let z = p.recip(zero);
        let e = p.add(vec![x, z]);
        assert_eq!(together(&mut p, e), e);
    }

    #[test]
    fn together_treats_fractional_powers_as_generators() {
        let mut p = Pool::new();
        let t = p.var("t");
        let one = p.one();
        let omt = p.sub(one, t);
        let s = p.sqrt(omt);
        let s3 = p.pow_rational(omt, BigRational::new(3.into(), 2.into()));
        // (1-t)^(3/2) / sqrt(1-t) = 1 - t
        let e = p.div(s3, s);
        assert_eq!(together(&mut p, e), omt);
        // 1/sqrt(1-t) + sqrt(1-t) = (2 - t) * (1-t)^(-1/2)
        let rs = p.recip(s);
        let e = p.add(vec![rs, s]);
        let two = p.int(2);
        let n = p.sub(two, t);
        assert_eq!(together(&mut p, e), p.div(n, s));
    }

    #[derive(Clone, Debug)]
    enum Tree {
        X,
        Y,
        Int(i64),
        Add(Box<Tree>, Box<Tree>),
        Mul(Box<Tree>, Box<Tree>),
        Pow(Box<Tree>, i64),
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = prop_oneof![
            Just(Tree::X),
            Just(Tree::Y),
            (-3i64..=3).prop_map(Tree::Int)
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Tree::Add(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Tree::Mul(Box::new(a), Box::new(b))),
                (inner, -2i64..=3).prop_map(|(a, n)| Tree::Pow(Box::new(a), n)),
            ]
        })
    }

    fn build(p: &mut Pool, t: &Tree) -> ExprId {
        match t {
            Tree::X => p.var("x"),
            Tree::Y => p.var("y"),
            Tree::Int(k) => p.int(*k),
            Tree::Add(a, b) => {
                let (a, b) = (build(p, a), build(p, b));
                p.add(vec![a, b])
            }
            Tree::Mul(a, b) => {
                let (a, b) = (build(p, a), build(p, b));
                p.mul(vec![a, b])
            }
            Tree::Pow(a, n) => {
                let a = build(p, a);
                p.powi(a, *n)
            }
        }
    }

    /// Value and magnitude (the value with every sum replaced by its sum of absolute
    /// values), or `None` near a pole.
    fn eval(p: &Pool, e: ExprId, x: f64, y: f64) -> Option<(f64, f64)> {
        match p.node(e) {
            Node::Rational(r) => r.to_f64().map(|v| (v, v.abs())),
            Node::Sym(s) => match p.symbol_name(*s) {
                "x" => Some((x, x.abs())),
                "y" => Some((y, y.abs())),
                _ => None,
            },
            Node::Add(xs) => xs.iter().try_fold((0.0, 0.0), |(v, m), &t| {
                let (tv, tm) = eval(p, t, x, y)?;
                Some((v + tv, m + tm))
            }),
            Node::Mul(xs) => xs.iter().try_fold((1.0, 1.0), |(v, m), &t| {
                let (tv, tm) = eval(p, t, x, y)?;
                Some((v * tv, m * tm))
            }),
            Node::Pow(b, k) => {
                let k = p.as_rational(*k)?.to_integer().to_i32()?;
                let (bv, bm) = eval(p, *b, x, y)?;
                if k < 0 && bv.abs() < 0.05 {
                    return None;
                }
                let bm = if k < 0 { 1.0 / bv.abs() } else { bm };
                Some((bv.powi(k), bm.powi(k.abs())))
            }
            _ => None,
        }
    }

    fn agrees(p: &Pool, a: ExprId, b: ExprId, x: f64, y: f64) -> bool {
        match (eval(p, a, x, y), eval(p, b, x, y)) {
            (Some((va, ma)), Some((vb, mb))) if ma < 1e12 && mb < 1e12 => {
                (va - vb).abs() <= 1e-7 * (1.0 + ma + mb)
            }
            _ => true,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn together_and_expand_preserve_value(
            t in tree(),
            x in -2.0f64..2.0,
            y in -2.0f64..2.0,
        ) {
            let mut p = Pool::new();
            let e = build(&mut p, &t);
            let tg = together(&mut p, e);
            let ex = expand(&mut p, e);
            prop_assert!(agrees(&p, e, tg, x, y), "together {} -> {}", dump(&p, e), dump(&p, tg));
            prop_assert!(agrees(&p, e, ex, x, y), "expand {} -> {}", dump(&p, e), dump(&p, ex));
            let again = together(&mut p, tg);
            prop_assert_eq!(again, tg, "together is idempotent on {}", dump(&p, e));
        }
    }
}
