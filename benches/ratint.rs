//! Exact integrals of rational functions (issue 19): the six integrals of the rectified
//! flow's DDIM expansion on the spectrum [1, 0.5, 0.1] (`asymptotics --order 4`), each
//! integrated over [0, 1] by `expr::ratint::definite`: Hermite reduction, Rothstein-Trager,
//! Rioboo's arctangents, the Sturm check for poles and the simplification of the value.
//! Target: under 1 ms each. Then the classes added since: denominators split over a
//! quadratic field (residues of degree 4 and 6) and the exp substitution. SymPy's time
//! for the same integrals: `python3 scripts/ratint_sympy_timing.py`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use diffsym::expr::{Domain, ExprId, Pool, Symbol, ratint};

/// The integrands `asymptotics` named I1..I6 before they closed.
pub const RECTIFIED_FLOW: [&str; 6] = [
    "10/(1 - 2*t + 11*t^2)^2",
    "(5 - 110*t + 605*t^2)/(1 - 8*t + 68*t^2 - 296*t^3 + 1270*t^4 - 3256*t^5 + 8228*t^6 - 10648*t^7 + 14641*t^8)",
    "2/(1 - 2*t + 3*t^2)^2",
    "(1 - 6*t + 9*t^2)/(1 - 8*t + 36*t^2 - 104*t^3 + 214*t^4 - 312*t^5 + 324*t^6 - 216*t^7 + 81*t^8)",
    "1/(1 - 2*t + 2*t^2)^2",
    "(1/2 - 2*t + 2*t^2)/(1 - 8*t + 32*t^2 - 80*t^3 + 136*t^4 - 160*t^5 + 128*t^6 - 64*t^7 + 16*t^8)",
];

/// Residues in fields of degree 4 and 6: the denominator split over Q(sqrt d).
pub const SPLIT: [&str; 4] = [
    "1/(t^4 + 1)",
    "1/(t^6 + 1)",
    "t^2/(t^4 + 1)",
    "1/((t^4 + 1)*(t^2 + 2))",
];

/// Rational in exponentials: u = exp(g t) (or 2^t), through `integrate::integrate`.
pub const EXPONENTIAL: [&str; 3] = ["1/(1 + exp(t))", "1/cosh(t)", "1/(1 + exp(t) + exp(t/2))"];

fn setup(text: &str) -> (Pool, ExprId, Symbol) {
    let mut pool = Pool::new();
    let t = pool.symbol("t");
    pool.set_domain(t, Domain::UNIT);
    let ast = diffsym::syntax::parse_expr(text).expect("parses");
    let e = diffsym::process::lower_expr(&mut pool, &ast, &[("t", t)]).expect("lowers");
    (pool, e, t)
}

/// An integrator of the `ratint` family: (pool, integrand, variable, lower, upper).
type Integrator = fn(&mut Pool, ExprId, Symbol, ExprId, ExprId) -> Result<ExprId, ratint::Fail>;

/// One group: each (name, integrand) integrated over [0, 1] by `integrate`.
fn group<'a>(
    c: &mut Criterion,
    name: &str,
    cases: impl IntoIterator<Item = (String, &'a str)>,
    integrate: Integrator,
) {
    let mut g = c.benchmark_group(name);
    for (id, text) in cases {
        g.bench_function(id, |b| {
            b.iter_batched(
                || setup(text),
                |(mut pool, e, t)| {
                    let (zero, one) = (pool.zero(), pool.one());
                    integrate(&mut pool, e, t, zero, one).expect("closes")
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// Each integrand named by its own text.
fn by_text<'a>(integrands: &'a [&'a str]) -> impl Iterator<Item = (String, &'a str)> {
    integrands.iter().map(|t| (t.to_string(), *t))
}

fn bench(c: &mut Criterion) {
    // The rectified-flow integrals are named I1..I6, as `asymptotics` named them.
    let named = RECTIFIED_FLOW
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("I{}", i + 1), *t));
    group(
        c,
        "ratint rectified_flow [1, 0.5, 0.1]",
        named,
        ratint::definite,
    );
    group(
        c,
        "ratint split over Q(sqrt d)",
        by_text(&SPLIT),
        ratint::definite,
    );
    group(
        c,
        "ratint exp substitution",
        by_text(&EXPONENTIAL),
        ratint::by_exp_substitution,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
