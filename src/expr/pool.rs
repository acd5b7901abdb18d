//! The expression pool: a hash-consed arena of nodes with exact rational coefficients.
//!
//! Every expression lives in a [`Pool`] and is named by an [`ExprId`]. Structurally equal
//! nodes are stored once, so equality of ids is equality of expressions and shared
//! subexpressions are shared for free. The pool never reorders or forgets nodes; ids are
//! stable for the life of the pool. Nothing here depends on hash order: the interning map is
//! only ever probed, never iterated, and canonical order is the structural order of
//! [`Pool::cmp`], which compares symbols by name.

use crate::expr::fxhash::HashMap;
use std::cmp::Ordering;
use std::fmt;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Zero};

/// The name of an expression in its [`Pool`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(u32);

impl ExprId {
    /// The position of this node in the pool (for side tables indexed by id).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for ExprId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}", self.0)
    }
}

/// An interned symbol. Symbols compare by name in canonical order, never by this index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Symbol(u32);

/// Named mathematical constants (kept symbolic: the algebra is exact).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Constant {
    Pi,
    /// Euler's number; printed as `exp(1)`.
    E,
}

/// An unspecified smooth function of one real argument, or one of its derivatives: the
/// `alpha` of `alpha(t) = function;` (a generic process), `order` times differentiated;
/// order -1 is its primitive that vanishes at 0 (`integrate(beta(s), s, 0, u)`).
/// It has no value; what is known of it is its name, its derivatives and the range of the
/// function's own values (the domain of its name's symbol). Canonical order compares
/// names, never the symbol's index ([`Pool::cmp`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Generic {
    pub name: Symbol,
    pub order: i32,
}

impl Generic {
    /// The lowest order: the primitive.
    pub const PRIMITIVE: i32 = -1;
    /// The highest order of derivative an expression may hold (derivatives beyond it are
    /// refused where they are taken).
    pub const MAX_ORDER: i32 = 64;
}

/// A named integral `int_lo^u f(s) ds` as a function of its upper limit `u`: an index into
/// its pool's table of integrals ([`Pool::integral`]), which holds the integrand (a function
/// of the pool's bound variable only, [`BOUND`]) and the lower limit. Integrals are interned
/// by (integrand, lower limit), so equal integrals have equal ids in one pool; canonical
/// order compares integrands and lower limits, never indices ([`Pool::cmp`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct IntegralId(u32);

/// The name of the variable every integrand of a named integral is written in. No source
/// text can name it (it starts with `_`), and fresh symbols always end in a number.
pub const BOUND: &str = "_s";

/// One entry of a pool's table of named integrals.
#[derive(Clone, Debug)]
pub struct IntegralDef {
    /// The integrand: free of every symbol but [`BOUND`].
    pub body: ExprId,
    /// The lower limit: an exact rational.
    pub lo: ExprId,
    /// The integrand's derivatives in [`BOUND`], from order 0 (the integrand) up to an
    /// even order: what certified quadrature evaluates and bounds ([`crate::expr::named`]).
    pub derivs: Box<[ExprId]>,
}

/// Unary functions: the builtins, the generic functions of generic processes and named
/// integrals. `sqrt` is not here: it is `x^(1/2)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Func {
    Exp,
    Log,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Sigmoid,
    Expm1,
    Log1p,
    Abs,
    /// An unspecified function (see [`Generic`]); never in [`Func::ALL`].
    Generic(Generic),
    /// A named integral of its argument, the upper limit (see [`IntegralId`]); never in
    /// [`Func::ALL`].
    Integral(IntegralId),
}

impl Func {
    /// Every builtin, in canonical order.
    pub const ALL: [Func; 15] = [
        Func::Exp,
        Func::Log,
        Func::Sin,
        Func::Cos,
        Func::Tan,
        Func::Asin,
        Func::Acos,
        Func::Atan,
        Func::Sinh,
        Func::Cosh,
        Func::Tanh,
        Func::Sigmoid,
        Func::Expm1,
        Func::Log1p,
        Func::Abs,
    ];

    /// The name used in the .dsym language and in canonical text; a generic function's
    /// name is in its pool ([`Pool::func_name`]).
    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Log => "log",
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
            Func::Expm1 => "expm1",
            Func::Log1p => "log1p",
            Func::Abs => "abs",
            Func::Generic(_) => "function",
            Func::Integral(_) => "integrate",
        }
    }

    /// The builtin of that name, if any (`sqrt` is handled by the caller: it is a power).
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// One node of the expression graph. Children are ids into the same pool.
///
/// Invariants of canonical form (checked by [`crate::expr::verify`]): `Add` and `Mul` have
/// at least two children, none of the same kind (flattened), sorted by [`Pool::cmp`] on
/// their sort keys; an `Add` has at most one rational term, first, and no two terms that
/// differ only in their rational coefficient; a `Mul` has at most one rational factor, first,
/// never 0 or 1, and no two factors with the same base; `Pow` never has exponent 0 or 1.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Node {
    Rational(BigRational),
    Const(Constant),
    Sym(Symbol),
    Add(Box<[ExprId]>),
    Mul(Box<[ExprId]>),
    Pow(ExprId, ExprId),
    Call(Func, ExprId),
}

/// Hashes a rational by its reduced numerator and denominator (a `BigRational` is always
/// kept reduced, so equal values hash alike). `Ratio`'s own `Hash` walks the continued
/// fraction, a big division per partial quotient: quadratic in the digits, and it was
/// most of the time spent interning a constant such as `(331/125)^4000`.
impl std::hash::Hash for Node {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Node::Rational(r) => {
                r.numer().hash(state);
                r.denom().hash(state);
            }
            Node::Const(c) => c.hash(state),
            Node::Sym(s) => s.hash(state),
            Node::Add(xs) | Node::Mul(xs) => xs.hash(state),
            Node::Pow(b, e) => {
                b.hash(state);
                e.hash(state);
            }
            Node::Call(f, x) => {
                f.hash(state);
                x.hash(state);
            }
        }
    }
}

/// What is known about the real values a symbol takes (used by sign and range analysis).
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Domain {
    pub lo: f64,
    pub hi: f64,
}

impl Domain {
    pub const REAL: Domain = Domain {
        lo: f64::NEG_INFINITY,
        hi: f64::INFINITY,
    };
    pub const UNIT: Domain = Domain { lo: 0.0, hi: 1.0 };
}

/// The arena. Pools are plain values: no shared state, cheap to create.
pub struct Pool {
    /// Distinguishes pools (a clone gets its own): with the append-only arena, `(uid, id)`
    /// names one node for as long as the process runs, so caches may key on it.
    uid: u64,
    nodes: Vec<Node>,
    /// Depth of each node: 1 for a leaf, else 1 + the deepest child.
    depths: Vec<u32>,
    /// Whether each node is free of symbols (a constant).
    constant: Vec<bool>,
    index: HashMap<Node, ExprId>,
    symbols: Vec<String>,
    symbol_index: HashMap<String, Symbol>,
    domains: Vec<Domain>,
    integrals: Vec<IntegralDef>,
    integral_index: HashMap<(ExprId, ExprId), IntegralId>,
    fresh: u32,
    zero: ExprId,
    one: ExprId,
    /// Memo of [`crate::expr::poly::together`]: its result for a node and the work it
    /// spent, so that a node normalised again (by another simplifier, or in another
    /// round) costs a look-up. Kept here because it is valid exactly as long as the ids.
    pub(crate) together_memo: HashMap<ExprId, (ExprId, u64)>,
    /// Memo of [`crate::codegen::stable::stabilize`], for the same reason: code generation
    /// stabilizes one expression more than once (to measure a form, then to lower it).
    pub(crate) stable_memo: HashMap<ExprId, ExprId>,
}

/// A fresh pool identity.
fn next_uid() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Clone for Pool {
    /// The same nodes under a new identity: the two pools may intern different nodes at the
    /// same new id from now on.
    fn clone(&self) -> Pool {
        Pool {
            uid: next_uid(),
            nodes: self.nodes.clone(),
            depths: self.depths.clone(),
            constant: self.constant.clone(),
            index: self.index.clone(),
            symbols: self.symbols.clone(),
            symbol_index: self.symbol_index.clone(),
            domains: self.domains.clone(),
            integrals: self.integrals.clone(),
            integral_index: self.integral_index.clone(),
            fresh: self.fresh,
            zero: self.zero,
            one: self.one,
            together_memo: self.together_memo.clone(),
            stable_memo: self.stable_memo.clone(),
        }
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pool({} nodes, {} symbols)",
            self.nodes.len(),
            self.symbols.len()
        )
    }
}

impl Pool {
    pub fn new() -> Pool {
        let mut pool = Pool {
            uid: next_uid(),
            nodes: Vec::new(),
            depths: Vec::new(),
            constant: Vec::new(),
            index: HashMap::default(),
            symbols: Vec::new(),
            symbol_index: HashMap::default(),
            domains: Vec::new(),
            integrals: Vec::new(),
            integral_index: HashMap::default(),
            fresh: 0,
            zero: ExprId(0),
            one: ExprId(0),
            together_memo: HashMap::default(),
            stable_memo: HashMap::default(),
        };
        pool.zero = pool.intern(Node::Rational(BigRational::zero()));
        pool.one = pool.intern(Node::Rational(BigRational::one()));
        pool
    }

    /// Stores `node` as is (no canonicalisation) and returns its id. Canonical constructors
    /// live in [`crate::expr::canon`]; use them unless you are one.
    pub fn intern(&mut self, node: Node) -> ExprId {
        if let Some(&id) = self.index.get(&node) {
            return id;
        }
        let id = ExprId(u32::try_from(self.nodes.len()).expect("expression pool overflow"));
        let depth = match &node {
            Node::Rational(_) | Node::Const(_) | Node::Sym(_) => 1,
            Node::Add(xs) | Node::Mul(xs) => {
                1 + xs.iter().map(|x| self.depth(*x)).max().unwrap_or(0)
            }
            Node::Pow(b, e) => 1 + self.depth(*b).max(self.depth(*e)),
            Node::Call(Func::Integral(i), a) => {
                1 + self.depth(*a).max(self.depth(self.integral(*i).body))
            }
            Node::Call(_, a) => 1 + self.depth(*a),
        };
        let constant = match &node {
            Node::Rational(_) | Node::Const(_) => true,
            Node::Sym(_) => false,
            Node::Add(xs) | Node::Mul(xs) => xs.iter().all(|x| self.is_constant(*x)),
            Node::Pow(b, e) => self.is_constant(*b) && self.is_constant(*e),
            Node::Call(_, a) => self.is_constant(*a),
        };
        self.depths.push(depth);
        self.constant.push(constant);
        self.nodes.push(node.clone());
        self.index.insert(node, id);
        id
    }

    /// Copies `e` from the pool `from` into this one: the same canonical expression, with
    /// symbols matched by name (a symbol new here takes its domain from `from`). `memo` maps
    /// ids of `from` already copied. Canonical order does not depend on ids, so the copy is
    /// canonical here too.
    pub fn transplant(
        &mut self,
        from: &Pool,
        e: ExprId,
        memo: &mut HashMap<ExprId, ExprId>,
    ) -> ExprId {
        if let Some(&c) = memo.get(&e) {
            return c;
        }
        let node = match from.node(e) {
            Node::Rational(r) => Node::Rational(r.clone()),
            Node::Const(c) => Node::Const(*c),
            Node::Sym(s) => Node::Sym(self.transplant_symbol(from, *s)),
            Node::Add(xs) => {
                Node::Add(xs.iter().map(|&x| self.transplant(from, x, memo)).collect())
            }
            Node::Mul(xs) => {
                Node::Mul(xs.iter().map(|&x| self.transplant(from, x, memo)).collect())
            }
            Node::Pow(b, x) => {
                let b = self.transplant(from, *b, memo);
                Node::Pow(b, self.transplant(from, *x, memo))
            }
            Node::Call(f, a) => {
                let f = match *f {
                    Func::Generic(g) => Func::Generic(Generic {
                        name: self.transplant_symbol(from, g.name),
                        order: g.order,
                    }),
                    Func::Integral(i) => {
                        let def = from.integral(i);
                        let body = self.transplant(from, def.body, memo);
                        let lo = self.transplant(from, def.lo, memo);
                        let derivs = def
                            .derivs
                            .iter()
                            .map(|&d| self.transplant(from, d, memo))
                            .collect();
                        Func::Integral(self.intern_integral(IntegralDef { body, lo, derivs }))
                    }
                    f => f,
                };
                Node::Call(f, self.transplant(from, *a, memo))
            }
        };
        let c = self.intern(node);
        memo.insert(e, c);
        c
    }

    /// The symbol of `from` named alike here (see [`Pool::transplant`]). Fresh symbols made
    /// here afterwards are numbered past those of `from`, so they cannot meet its names.
    pub fn transplant_symbol(&mut self, from: &Pool, s: Symbol) -> Symbol {
        self.fresh = self.fresh.max(from.fresh);
        let name = from.symbol_name(s);
        if let Some(t) = self.lookup_symbol(name) {
            return t;
        }
        let t = self.symbol(name);
        self.set_domain(t, from.domain(s));
        t
    }

    pub fn node(&self, id: ExprId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Number of nodes ever interned.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn zero(&self) -> ExprId {
        self.zero
    }

    pub fn one(&self) -> ExprId {
        self.one
    }

    pub fn rational(&mut self, r: BigRational) -> ExprId {
        self.intern(Node::Rational(r))
    }

    pub fn int(&mut self, i: i64) -> ExprId {
        self.rational(BigRational::from_integer(BigInt::from(i)))
    }

    /// `n/d` as an exact rational. Panics if `d == 0` (a programming error, not user input).
    pub fn frac(&mut self, n: i64, d: i64) -> ExprId {
        assert!(d != 0, "Pool::frac with zero denominator");
        self.rational(BigRational::new(BigInt::from(n), BigInt::from(d)))
    }

    pub fn constant(&mut self, c: Constant) -> ExprId {
        self.intern(Node::Const(c))
    }

    pub fn pi(&mut self) -> ExprId {
        self.constant(Constant::Pi)
    }

    /// Interns `name` as a symbol with an unrestricted real domain (if new).
    pub fn symbol(&mut self, name: &str) -> Symbol {
        if let Some(&s) = self.symbol_index.get(name) {
            return s;
        }
        let s = Symbol(u32::try_from(self.symbols.len()).expect("symbol table overflow"));
        self.symbols.push(name.to_owned());
        self.symbol_index.insert(name.to_owned(), s);
        self.domains.push(Domain::REAL);
        s
    }

    /// The name of `f` in canonical text: a builtin's, or a generic function's own.
    pub fn func_name(&self, f: Func) -> &str {
        match f {
            Func::Generic(g) => self.symbol_name(g.name),
            f => f.name(),
        }
    }

    /// Stores a named integral (once: an equal integrand and lower limit give the id
    /// stored first). Built by [`crate::expr::named`], which checks what [`IntegralDef`]
    /// requires.
    pub fn intern_integral(&mut self, def: IntegralDef) -> IntegralId {
        if let Some(&i) = self.integral_index.get(&(def.body, def.lo)) {
            return i;
        }
        let i = IntegralId(u32::try_from(self.integrals.len()).expect("integral table overflow"));
        self.integral_index.insert((def.body, def.lo), i);
        self.integrals.push(def);
        i
    }

    /// The integrand and lower limit of a named integral.
    pub fn integral(&self, i: IntegralId) -> &IntegralDef {
        &self.integrals[i.0 as usize]
    }

    /// The variable of integrands ([`BOUND`]), if an integral was ever stored here.
    pub fn bound_symbol(&self) -> Option<Symbol> {
        self.lookup_symbol(BOUND)
    }

    /// The symbol `name` as an expression.
    pub fn var(&mut self, name: &str) -> ExprId {
        let s = self.symbol(name);
        self.intern(Node::Sym(s))
    }

    pub fn sym_expr(&mut self, s: Symbol) -> ExprId {
        self.intern(Node::Sym(s))
    }

    /// A symbol that no source text can name (its name starts with `_`), for bound variables.
    pub fn fresh_symbol(&mut self, hint: &str) -> Symbol {
        self.fresh += 1;
        let name = format!("_{hint}{}", self.fresh);
        self.symbol(&name)
    }

    pub fn symbol_name(&self, s: Symbol) -> &str {
        &self.symbols[s.0 as usize]
    }

    pub fn lookup_symbol(&self, name: &str) -> Option<Symbol> {
        self.symbol_index.get(name).copied()
    }

    pub fn domain(&self, s: Symbol) -> Domain {
        self.domains[s.0 as usize]
    }

    /// Declares the range of real values `s` takes; simplification may rely on it.
    pub fn set_domain(&mut self, s: Symbol, d: Domain) {
        self.domains[s.0 as usize] = d;
    }

    pub fn as_rational(&self, id: ExprId) -> Option<&BigRational> {
        match self.node(id) {
            Node::Rational(r) => Some(r),
            _ => None,
        }
    }

    pub fn is_zero(&self, id: ExprId) -> bool {
        id == self.zero
    }

    pub fn is_one(&self, id: ExprId) -> bool {
        id == self.one
    }

    /// The children of a node, in order.
    /// The depth of `id`'s tree: 1 for a leaf. Every recursive pass over expressions
    /// recurses at most this deep; lowering bounds it ([`crate::process`]).
    pub fn depth(&self, id: ExprId) -> u32 {
        self.depths[id.0 as usize]
    }

    /// Whether `id` is free of symbols: its value depends on nothing.
    pub fn is_constant(&self, id: ExprId) -> bool {
        self.constant[id.0 as usize]
    }

    /// This pool's identity (see the field's doc).
    pub fn uid(&self) -> u64 {
        self.uid
    }

    pub fn children(&self, id: ExprId) -> Vec<ExprId> {
        match self.node(id) {
            Node::Rational(_) | Node::Const(_) | Node::Sym(_) => Vec::new(),
            Node::Add(xs) | Node::Mul(xs) => xs.to_vec(),
            Node::Pow(b, e) => vec![*b, *e],
            Node::Call(_, a) => vec![*a],
        }
    }

    /// Does `id` contain the symbol `s`?
    pub fn contains(&self, id: ExprId, s: Symbol) -> bool {
        let mut memo = HashMap::default();
        self.contains_memo(id, s, &mut memo)
    }

    /// [`Pool::contains`] with the answers for `id` and the subexpressions it looked at
    /// kept in `memo`, so that asking for many nodes of one formula walks it once.
    pub fn contains_memo(&self, id: ExprId, s: Symbol, memo: &mut HashMap<ExprId, bool>) -> bool {
        if let Some(&v) = memo.get(&id) {
            return v;
        }
        let v = match self.node(id) {
            Node::Sym(x) => *x == s,
            Node::Rational(_) | Node::Const(_) => false,
            _ => self
                .children(id)
                .into_iter()
                .any(|c| self.contains_memo(c, s, memo)),
        };
        memo.insert(id, v);
        v
    }

    /// The free symbols of `id`, sorted by name (deterministic).
    pub fn free_symbols(&self, id: ExprId) -> Vec<Symbol> {
        let mut seen = crate::expr::fxhash::HashSet::default();
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(e) = stack.pop() {
            if !seen.insert(e) {
                continue;
            }
            if let Node::Sym(s) = self.node(e)
                && !out.contains(s)
            {
                out.push(*s);
            }
            stack.extend(self.children(e));
        }
        out.sort_by(|a, b| self.symbol_name(*a).cmp(self.symbol_name(*b)));
        out
    }

    /// The unspecified functions `id` calls (at any order of derivative), sorted by name.
    pub fn unspecified_functions(&self, id: ExprId) -> Vec<Symbol> {
        let mut seen = crate::expr::fxhash::HashSet::default();
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(e) = stack.pop() {
            if !seen.insert(e) {
                continue;
            }
            if let Node::Call(Func::Generic(g), _) = self.node(e)
                && !out.contains(&g.name)
            {
                out.push(g.name);
            }
            stack.extend(self.children(e));
        }
        out.sort_by(|a, b| self.symbol_name(*a).cmp(self.symbol_name(*b)));
        out
    }

    /// How deep named integrals nest in `id`: 0 without any, 1 + the deepest of their
    /// integrands' otherwise.
    pub fn integral_level(&self, id: ExprId) -> usize {
        let mut level = 0;
        let mut seen = crate::expr::fxhash::HashSet::default();
        let mut stack = vec![id];
        while let Some(e) = stack.pop() {
            if !seen.insert(e) {
                continue;
            }
            if let Node::Call(Func::Integral(j), _) = self.node(e) {
                level = level.max(1 + self.integral_level(self.integral(*j).body));
            }
            stack.extend(self.children(e));
        }
        level
    }

    /// Whether `id` holds a named integral ([`Func::Integral`]).
    pub fn has_integral(&self, id: ExprId) -> bool {
        let mut seen = crate::expr::fxhash::HashSet::default();
        let mut stack = vec![id];
        while let Some(e) = stack.pop() {
            if !seen.insert(e) {
                continue;
            }
            if let Node::Call(Func::Integral(_), _) = self.node(e) {
                return true;
            }
            stack.extend(self.children(e));
        }
        false
    }

    /// Splits a term into its rational coefficient and the rest: `3*x*y -> (3, x*y)`.
    pub fn split_coeff(&mut self, id: ExprId) -> (BigRational, ExprId) {
        match self.node(id).clone() {
            Node::Rational(r) => (r, self.one),
            Node::Mul(xs) => match self.node(xs[0]) {
                Node::Rational(r) => {
                    let r = r.clone();
                    let rest: Vec<ExprId> = xs[1..].to_vec();
                    let rest = if rest.len() == 1 {
                        rest[0]
                    } else {
                        self.intern(Node::Mul(rest.into_boxed_slice()))
                    };
                    (r, rest)
                }
                _ => (BigRational::one(), id),
            },
            _ => (BigRational::one(), id),
        }
    }

    /// Splits a factor into base and exponent: `x^2 -> (x, 2)`, `x -> (x, 1)`.
    pub fn split_pow(&self, id: ExprId) -> (ExprId, ExprId) {
        match self.node(id) {
            Node::Pow(b, e) => (*b, *e),
            _ => (id, self.one),
        }
    }

    /// The total structural order used for canonical form. It depends only on the structure
    /// of the two expressions and on symbol names, never on ids or insertion order.
    ///
    /// Numbers come first, then constants, symbols, calls; a power sorts by its base and
    /// then its exponent, so `t < t^2 < t^3` and `x^2 < y`; products and sums compare their
    /// children lexicographically.
    pub fn cmp(&self, a: ExprId, b: ExprId) -> Ordering {
        if a == b {
            return Ordering::Equal;
        }
        self.cmp_node(self.node(a), self.node(b))
    }

    /// [`Pool::cmp`] of two nodes, which need not be interned (the verifier compares
    /// the coefficient-free part of a term without building it).
    pub fn cmp_node(&self, na: &Node, nb: &Node) -> Ordering {
        match (na, nb) {
            (Node::Pow(ba, ea), Node::Pow(bb, eb)) => {
                self.cmp(*ba, *bb).then_with(|| self.cmp(*ea, *eb))
            }
            // A factor `x` is `x^1`: compared by base, then exponent.
            (Node::Pow(ba, ea), _) => self
                .cmp_node(self.node(*ba), nb)
                .then_with(|| self.cmp(*ea, self.one)),
            (_, Node::Pow(bb, eb)) => self
                .cmp_node(na, self.node(*bb))
                .then_with(|| self.cmp(self.one, *eb)),
            _ => {
                let rank = |n: &Node| match n {
                    Node::Rational(_) => 0,
                    Node::Const(_) => 1,
                    Node::Sym(_) => 2,
                    Node::Call(..) => 3,
                    Node::Pow(..) => 4,
                    Node::Mul(_) => 5,
                    Node::Add(_) => 6,
                };
                rank(na).cmp(&rank(nb)).then_with(|| match (na, nb) {
                    (Node::Rational(x), Node::Rational(y)) => x.cmp(y),
                    (Node::Const(x), Node::Const(y)) => x.cmp(y),
                    (Node::Sym(x), Node::Sym(y)) => self.symbol_name(*x).cmp(self.symbol_name(*y)),
                    (Node::Call(f, x), Node::Call(g, y)) => {
                        self.cmp_func(*f, *g).then_with(|| self.cmp(*x, *y))
                    }
                    (Node::Mul(xs), Node::Mul(ys)) | (Node::Add(xs), Node::Add(ys)) => {
                        self.cmp_slices(xs, ys)
                    }
                    _ => unreachable!("equal ranks imply equal node kinds"),
                })
            }
        }
    }

    /// Builtins in their order, then generic functions by name and order of derivative,
    /// then named integrals by integrand and lower limit.
    fn cmp_func(&self, f: Func, g: Func) -> Ordering {
        match (f, g) {
            (Func::Generic(a), Func::Generic(b)) => self
                .symbol_name(a.name)
                .cmp(self.symbol_name(b.name))
                .then(a.order.cmp(&b.order)),
            (Func::Integral(a), Func::Integral(b)) => {
                let (a, b) = (self.integral(a), self.integral(b));
                self.cmp(a.body, b.body).then_with(|| self.cmp(a.lo, b.lo))
            }
            _ => f.cmp(&g),
        }
    }

    /// Compares from the last (most significant) child backwards, then by length, so that
    /// `x*y` and `2*x*y` sort next to each other.
    fn cmp_slices(&self, xs: &[ExprId], ys: &[ExprId]) -> Ordering {
        for (x, y) in xs.iter().rev().zip(ys.iter().rev()) {
            match self.cmp(*x, *y) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        xs.len().cmp(&ys.len())
    }
}

/// Tree size of `e` (shared subtrees counted at each use), saturating; the measure of
/// "simpler". Large rationals count their digits, so `3/7` is simpler than `3000001/7000003`.
pub fn complexity(pool: &Pool, e: ExprId) -> usize {
    complexity_memo(pool, e, &mut HashMap::default())
}

/// [`complexity`] with a memo that may be kept across calls on the same pool.
pub(crate) fn complexity_memo(pool: &Pool, e: ExprId, memo: &mut HashMap<ExprId, usize>) -> usize {
    if let Some(&c) = memo.get(&e) {
        return c;
    }
    let own = match pool.node(e) {
        Node::Rational(r) => 1 + ((r.numer().bits() + r.denom().bits()) / 32) as usize,
        _ => 1,
    };
    let c = pool.children(e).into_iter().fold(own, |acc, k| {
        acc.saturating_add(complexity_memo(pool, k, memo))
    });
    memo.insert(e, c);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_marked_and_clones_are_new_pools() {
        let mut p = Pool::new();
        let x = p.var("x");
        let two = p.int(2);
        let pi = p.pi();
        let c = p.mul(vec![two, pi]);
        let e = p.add(vec![c, x]);
        assert!(p.is_constant(c) && p.is_constant(two));
        assert!(!p.is_constant(x) && !p.is_constant(e));
        let q = p.clone();
        assert_ne!(p.uid(), q.uid());
        assert!(q.is_constant(c) && !q.is_constant(e));
    }

    #[test]
    fn interning_shares_equal_nodes() {
        let mut p = Pool::new();
        let a = p.var("t");
        let b = p.var("t");
        assert_eq!(a, b);
        let two = p.int(2);
        let x = p.intern(Node::Pow(a, two));
        let y = p.intern(Node::Pow(b, two));
        assert_eq!(x, y);
    }

    #[test]
    fn equal_rationals_intern_once_however_they_were_made() {
        use num_bigint::BigInt;
        let mut p = Pool::new();
        let big = BigInt::from(331).pow(400u32);
        let x = p.rational(BigRational::new(
            big.clone() * 6,
            BigInt::from(125).pow(400u32) * 4,
        ));
        let y = p.rational(BigRational::new(big * 3, BigInt::from(125).pow(400u32) * 2));
        assert_eq!(x, y);
        let half = p.rational(BigRational::new(BigInt::from(-2), BigInt::from(-4)));
        assert_eq!(
            half,
            p.rational(BigRational::new(BigInt::from(1), BigInt::from(2)))
        );
    }

    #[test]
    fn symbols_order_by_name_not_insertion() {
        let mut p = Pool::new();
        let z = p.var("z");
        let a = p.var("a");
        assert_eq!(p.cmp(a, z), Ordering::Less);
        let mut q = Pool::new();
        let a2 = q.var("a");
        let z2 = q.var("z");
        assert_eq!(q.cmp(a2, z2), Ordering::Less);
    }
}
