//! Kernel drifting as score matching (docs/theory.md section 8): kernels declared in a file
//! and the drift fields, spectra and dynamics built on them.
//!
//! - this file: [`Kernel`], the radial kernels of `kernel K = ...;` declarations, and their
//!   lowering ([`lower_kernels`]);
//! - [`field`]: the drift field V_{p,q} and its Jacobian, exact for the Gaussian kernel and
//!   by polar quadrature for any radial kernel in d <= 3;
//! - [`spectrum`]: the linearised decay rate gamma(xi) of a Fourier mode under the drift
//!   flow, its timescales, and the damping accumulated under bandwidth annealing;
//! - [`flow`]: exact population dynamics between Gaussians under the Gaussian kernel
//!   (`diffsym drift-flow`);
//! - [`particles`]: the particle version on finite samples (`diffsym plot drift`).

pub mod field;
pub mod flow;
pub mod particles;
pub mod spectrum;

use std::collections::HashMap;

use crate::analysis::declaration::arguments;
use crate::diag::{Diag, Span, codes};
use crate::expr::{ExprId, Pool, Symbol, eval, simplify};
use crate::process::lower_expr;
use crate::syntax::ast::{self, Value};

/// A radial kernel k(x, y) = k(|x - y|).
#[derive(Clone, Debug)]
pub enum Kernel {
    /// `gaussian(h = H)`: k(r) = exp(-r^2 / (2 h^2)). (Papers that write exp(-|x - y|^2/tau)
    /// have h^2 = tau/2.)
    Gaussian { h: f64 },
    /// `laplace(tau = T)`: k(r) = exp(-r / tau).
    Laplace { tau: f64 },
    /// `radial(profile = EXPR)`: k(r) = EXPR, an expression in `r` >= 0 (boxed: it holds
    /// a pool).
    Radial(Box<Profile>),
}

/// The profile of a `radial` kernel: an expression in `r`, in its own pool.
#[derive(Clone, Debug)]
pub struct Profile {
    pub pool: Pool,
    pub r: Symbol,
    pub expr: ExprId,
}

impl Profile {
    /// k(r) in f64; NaN where the expression has no value.
    pub fn at(&self, r: f64) -> f64 {
        eval::eval_f64(&self.pool, self.expr, &[(self.r, r)]).unwrap_or(f64::NAN)
    }
}

impl Kernel {
    /// k(r) for r = |x - y| >= 0.
    pub fn at(&self, r: f64) -> f64 {
        match self {
            Kernel::Gaussian { h } => (-(r / h) * (r / h) / 2.0).exp(),
            Kernel::Laplace { tau } => (-r / tau).exp(),
            Kernel::Radial(p) => p.at(r),
        }
    }

    /// The family's name as declared: `gaussian`, `laplace` or `radial`.
    pub fn family(&self) -> &'static str {
        match self {
            Kernel::Gaussian { .. } => "gaussian",
            Kernel::Laplace { .. } => "laplace",
            Kernel::Radial(_) => "radial",
        }
    }
}

/// A kernel declared in a file.
#[derive(Clone, Debug)]
pub struct NamedKernel {
    pub name: String,
    /// The name in the declaration, where messages about the kernel point.
    pub span: Span,
    pub kernel: Kernel,
}

/// Bandwidths accepted: h and tau in [1e-100, 1e100], so squared distances over them stay
/// within f64.
pub const MAX_BANDWIDTH: f64 = 1e100;

/// Lowers every `kernel` item of `file`; all errors are collected.
pub fn lower_kernels(file: &ast::File) -> Result<Vec<NamedKernel>, Vec<Diag>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for item in &file.items {
        let ast::Item::Kernel(decl) = item else {
            continue;
        };
        if let Some(&first) = seen.get(decl.name.name.as_str()) {
            errors.push(
                Diag::new(
                    codes::KERNEL_DUPLICATE,
                    format!("kernel `{}` is defined twice", decl.name.name),
                )
                .with_label(decl.name.span, "defined again here")
                .with_label(first, "first defined here"),
            );
            continue;
        }
        seen.insert(&decl.name.name, decl.name.span);
        match lower_kernel(decl) {
            Ok(kernel) => out.push(NamedKernel {
                name: decl.name.name.clone(),
                span: decl.name.span,
                kernel,
            }),
            Err(mut es) => errors.append(&mut es),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn lower_kernel(decl: &ast::Declaration) -> Result<Kernel, Vec<Diag>> {
    let (family, key, example) = match decl.kind.name.as_str() {
        "gaussian" => ("gaussian", "h", "gaussian(h = 0.7)"),
        "laplace" => ("laplace", "tau", "laplace(tau = 0.7)"),
        "radial" => ("radial", "profile", "radial(profile = 1/(1 + r^2))"),
        other => {
            return Err(vec![
                Diag::new(
                    codes::KERNEL_KIND,
                    format!("unknown kind of kernel `{other}`"),
                )
                .with_label(decl.kind.span, "expected `gaussian`, `laplace` or `radial`")
                .with_help(
                    "write `kernel K = gaussian(h = 0.7);`, `laplace(tau = 0.7)` or `radial(profile = EXPR in r)`",
                ),
            ]);
        }
    };
    let args = arguments(
        decl,
        family,
        &[key],
        &format!("write `kernel {} = {example};`", decl.name.name),
    )?;
    let Some(arg) = args.get(key) else {
        return Err(vec![
            Diag::new(
                codes::KERNEL_ARGUMENT,
                format!("{family} kernel `{}` has no `{key}`", decl.name.name),
            )
            .with_label(decl.kind.span, format!("needs `{key} = ...`")),
        ]);
    };
    let Value::Expr(e) = &arg.value else {
        return Err(vec![
            Diag::new(codes::KERNEL_VALUE, format!("`{key}` is one value"))
                .with_label(arg.value.span(), "not a single value")
                .with_help(format!("e.g. `{example}`")),
        ]);
    };
    let mut pool = Pool::new();
    if family == "radial" {
        let r = pool.symbol("r");
        pool.set_domain(
            r,
            crate::expr::Domain {
                lo: 0.0,
                hi: f64::INFINITY,
            },
        );
        let id = lower_expr(&mut pool, e, &[("r", r)])?;
        let expr = simplify::simplify(&mut pool, id);
        let profile = Profile { pool, r, expr };
        // A kernel is positive where it is used: at r = 0 it must be finite and positive.
        let k0 = profile.at(0.0);
        if !(k0.is_finite() && k0 > 0.0) {
            return Err(vec![
                Diag::new(
                    codes::KERNEL_VALUE,
                    format!(
                        "the profile is {k0} at r = 0: a kernel must be finite and positive there"
                    ),
                )
                .with_label(e.span, "this profile"),
            ]);
        }
        return Ok(Kernel::Radial(Box::new(profile)));
    }
    let id = lower_expr(&mut pool, e, &[])?;
    let id = simplify::simplify(&mut pool, id);
    let v = eval::eval_f64(&pool, id, &[]).unwrap_or(f64::NAN);
    if !(v.is_finite() && (1.0 / MAX_BANDWIDTH..=MAX_BANDWIDTH).contains(&v)) {
        return Err(vec![
            Diag::new(
                codes::KERNEL_VALUE,
                format!(
                    "the bandwidth `{key}` is {v:e}: it must be a positive number in [1e-100, 1e100]"
                ),
            )
            .with_label(e.span, "not a positive bandwidth"),
        ]);
    }
    Ok(match family {
        "gaussian" => Kernel::Gaussian { h: v },
        _ => Kernel::Laplace { tau: v },
    })
}
