//! The arguments of a declaration (`source`, `error`, `kernel`): named, each at most once,
//! from a list the family allows; shared by the lowerings of all three.

use std::collections::HashMap;

use crate::diag::{Diag, codes};
use crate::syntax::ast;

/// The named arguments of a declaration, each at most once and each one of `allowed`; a
/// positional argument is an error.
pub(crate) fn arguments<'s>(
    s: &'s ast::Declaration,
    family: &str,
    allowed: &[&str],
    help: &str,
) -> Result<HashMap<&'s str, &'s ast::NamedArg>, Vec<Diag>> {
    let mut errors: Vec<Diag> = s
        .positional
        .iter()
        .map(|v| {
            Diag::new(
                codes::SOURCE_ARGUMENT,
                format!("the arguments of {family} are named"),
            )
            .with_label(v.span(), "an argument without a name")
            .with_help(help.to_owned())
        })
        .collect();
    let mut args: HashMap<&str, &ast::NamedArg> = HashMap::new();
    for a in &s.args {
        if !allowed.contains(&a.name.name.as_str()) {
            errors.push(
                Diag::new(
                    codes::SOURCE_ARGUMENT,
                    format!("unknown argument `{}` of {family}", a.name.name),
                )
                .with_label(a.name.span, "unknown argument")
                .with_help(help),
            );
        } else if let Some(first) = args.get(a.name.name.as_str()) {
            errors.push(
                Diag::new(
                    codes::SOURCE_ARGUMENT,
                    format!("argument `{}` is given twice", a.name.name),
                )
                .with_label(a.name.span, "given again here")
                .with_label(first.name.span, "first given here"),
            );
        } else {
            args.insert(&a.name.name, a);
        }
    }
    if errors.is_empty() {
        Ok(args)
    } else {
        Err(errors)
    }
}
