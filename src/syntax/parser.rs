//! The .dsym parser: runs the pest grammar, builds the AST, and turns every failure into a
//! [`Diag`] with a span and a message in the user's words.
//!
//! Three passes, each linear in the input: a pre-scan (string escapes, unterminated strings,
//! parenthesis depth, so pest never recurses deeper than [`MAX_DEPTH`]), pest itself, and the
//! AST builder (exact number literals, ambiguous powers, expression depth).
//!
//! Length: by design the only file that names pest's `Rule`, so the builder of every
//! syntax node lives here.

use std::iter::Peekable;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Zero, pow};
use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};

use super::MAX_DEPTH;
use super::ast::{
    Binder, Declaration, Expr, ExprKind, File, Ident, Interval, Item, MulOp, NamedArg, Process,
    Sign, Span, Stmt, Value,
};
use crate::diag::{Diag, codes};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/dsym.pest"]
struct DsymParser;

/// Largest absolute decimal exponent accepted in a literal (`1e4096`).
const MAX_EXPONENT: u32 = 4096;
/// Most digits accepted in one literal; keeps exact arithmetic on literals cheap.
const MAX_DIGITS: usize = 4096;

const KEYWORDS: [&str; 5] = ["process", "param", "doc", "assert", "forall"];

/// Parses a whole .dsym file.
pub fn parse_file(text: &str) -> Result<File, Vec<Diag>> {
    run(text, Rule::file, |b, pair| {
        let items = pair
            .into_inner()
            .filter_map(|p| match p.as_rule() {
                Rule::process => Some(Item::Process(b.process(p))),
                Rule::source => Some(Item::Source(b.declaration(p))),
                Rule::score_error => Some(Item::Error(b.declaration(p))),
                Rule::kernel => Some(Item::Kernel(b.declaration(p))),
                _ => None,
            })
            .collect();
        File { items }
    })
}

/// Parses one standalone expression: the whole input, surrounding blanks and comments allowed.
pub fn parse_expr(text: &str) -> Result<Expr, Vec<Diag>> {
    run(text, Rule::expr_only, |b, pair| {
        let sum = pair
            .into_inner()
            .find(|p| p.as_rule() == Rule::sum)
            .unwrap_or_else(|| unreachable!("expr_only: contains a sum"));
        b.top(sum)
    })
}

fn run<T>(
    text: &str,
    rule: Rule,
    build: impl FnOnce(&mut Builder<'_>, Pair<'_, Rule>) -> T,
) -> Result<T, Vec<Diag>> {
    let scan = prescan(text);
    if !scan.errors.is_empty() {
        return Err(scan.errors);
    }
    let mut pairs = DsymParser::parse(rule, text)
        .map_err(|e| vec![convert_pest_error(&e, text, &scan.comments)])?;
    let Some(top) = pairs.next() else {
        unreachable!("{rule:?}: pest returns the top rule's pair")
    };
    let mut builder = Builder {
        text,
        errors: Vec::new(),
    };
    let value = build(&mut builder, top);
    if builder.errors.is_empty() {
        Ok(value)
    } else {
        Err(builder.errors)
    }
}

fn error(
    code: &'static str,
    message: impl Into<String>,
    span: Span,
    label: impl Into<String>,
) -> Diag {
    Diag::new(code, message).with_label(span, label)
}

fn too_deep(span: Span) -> Diag {
    error(
        codes::PARSE_TOO_DEEP,
        format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
        span,
        format!("nesting exceeds {MAX_DEPTH} levels here"),
    )
    .with_help("split the expression into smaller definitions")
}

// ---------------------------------------------------------------------------------------------
// Pre-scan

struct Scan {
    /// Byte ranges of `#` comments (without the newline), in order.
    comments: Vec<(usize, usize)>,
    errors: Vec<Diag>,
}

/// One linear pass that lexes comments and strings the way the grammar does, checks string
/// escapes, and bounds parenthesis depth so pest's recursion stays shallow.
fn prescan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut scan = Scan {
        comments: Vec::new(),
        errors: Vec::new(),
    };
    let mut depth = 0usize;
    let mut reported_depth = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                let end = line_end(text, i);
                scan.comments.push((i, end));
                i = end;
            }
            b'"' => i = scan_string(text, i, &mut scan.errors),
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH && !reported_depth {
                    reported_depth = true;
                    scan.errors.push(too_deep(Span::new(i, i + 1)));
                }
                i += 1;
            }
            b')' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    scan
}

/// The offset of the `\n` ending the line that contains `from`, or the end of the text.
fn line_end(text: &str, from: usize) -> usize {
    text[from..].find('\n').map_or(text.len(), |n| from + n)
}

/// Checks the string starting with the `"` at `start`; returns the offset just after it.
fn scan_string(text: &str, start: usize, errors: &mut Vec<Diag>) -> usize {
    let mut chars = text[start + 1..]
        .char_indices()
        .map(|(k, c)| (start + 1 + k, c));
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return k + 1,
            '\n' => break,
            '\\' => match chars.next() {
                Some((_, '"' | '\\' | 'n' | 't')) => {}
                Some((j, e)) if e != '\n' => {
                    let span = Span::new(k, j + e.len_utf8());
                    errors.push(
                        error(
                            codes::PARSE_STRING,
                            format!("unknown escape `\\{e}` in string"),
                            span,
                            "unknown escape",
                        )
                        .with_help("the escapes are `\\\"`, `\\\\`, `\\n` and `\\t`"),
                    );
                }
                _ => break,
            },
            _ => {}
        }
    }
    let end = line_end(text, start);
    let end = if text[..end].ends_with('\r') {
        end - 1
    } else {
        end
    };
    errors.push(
        error(
            codes::PARSE_STRING,
            "unterminated string",
            Span::new(start, end.max(start + 1)),
            "this string is not closed",
        )
        .with_help("close it with `\"` on the same line; a string cannot span lines"),
    );
    end
}

// ---------------------------------------------------------------------------------------------
// pest errors

/// How a rule reads in an "expected ..." list; list order follows this table.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::kw_doc | Rule::kw_param | Rule::kw_assert => "a statement",
        Rule::number | Rule::neg | Rule::paren | Rule::sum | Rule::product => "an expression",
        Rule::ident => "an identifier",
        Rule::string => "a string",
        Rule::sum_op | Rule::mul_op | Rule::pow => "an operator",
        Rule::kw_process => "`process`",
        Rule::kw_source => "`source`",
        Rule::kw_error => "`error`",
        Rule::kw_kernel => "`kernel`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::lbrace => "`{`",
        Rule::lparen => "`(`",
        Rule::comma => "`,`",
        Rule::rparen => "`)`",
        Rule::eq => "`=`",
        Rule::eqeq => "`==`",
        Rule::semi => "`;`",
        Rule::colon => "`:`",
        Rule::kw_forall => "`forall`",
        Rule::kw_in => "`in`",
        Rule::rbrace => "`}`",
        Rule::EOI => "end of input",
        _ => return None,
    })
}

const WORD_ORDER: [&str; 23] = [
    "a statement",
    "`forall`",
    "`process`",
    "`source`",
    "`error`",
    "`kernel`",
    "an identifier",
    "an expression",
    "a string",
    "`{`",
    "`(`",
    "`[`",
    "an operator",
    "`,`",
    "`)`",
    "`]`",
    "`=`",
    "`in`",
    "`:`",
    "`==`",
    "`;`",
    "`}`",
    "end of input",
];

fn convert_pest_error(
    err: &pest::error::Error<Rule>,
    text: &str,
    comments: &[(usize, usize)],
) -> Diag {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let positives = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => {
            // pest's own call or stack limit; the pre-scan should make this unreachable.
            return too_deep(Span::new(pos, (pos + 1).min(text.len())));
        }
    };
    let has = |r: Rule| positives.contains(&r);
    let found = token_at(text, pos);
    let found_text = found.map(|s| &text[s.start..s.end]);

    let statement_start = has(Rule::kw_doc);
    let expression_start = [
        Rule::sum,
        Rule::product,
        Rule::number,
        Rule::neg,
        Rule::paren,
    ]
    .into_iter()
    .any(has);
    let mut words: Vec<&str> = positives
        .iter()
        .filter(|&&r| !(r == Rule::ident && (statement_start || expression_start)))
        .filter_map(|&r| describe(r))
        .collect();
    words.sort_by_key(|w| WORD_ORDER.iter().position(|o| o == w));
    words.dedup();
    let expected = join_or(&words);

    if let Some(word) = found_text.filter(|w| KEYWORDS.contains(w))
        && (has(Rule::ident) || expression_start)
        && !statement_start
        && let Some(span) = found
    {
        return error(
            codes::PARSE_KEYWORD,
            format!("`{word}` is a keyword and cannot be used as a name"),
            span,
            "keyword used as a name",
        )
        .with_help(format!("pick another name, e.g. `{word}_`"));
    }

    let Some(found_span) = found else {
        let span = prev_token(text, pos, comments).unwrap_or(Span::new(pos, pos));
        return error(
            codes::PARSE_EXPECTED,
            format!("unexpected end of input, expected {expected}"),
            span,
            format!("expected {expected} after this"),
        );
    };
    let found_text = &text[found_span.start..found_span.end];
    let message = format!("expected {expected}, found `{found_text}`");
    let gap_has_newline = |prev: Span| text[prev.end..pos].contains('\n');
    let mut e = match prev_token(text, pos, comments) {
        Some(prev) if (has(Rule::semi) || has(Rule::rparen)) && gap_has_newline(prev) => error(
            codes::PARSE_EXPECTED,
            message,
            prev,
            format!("expected {expected} after this"),
        ),
        _ => error(
            codes::PARSE_EXPECTED,
            message,
            found_span,
            format!("expected {expected}"),
        ),
    };
    if has(Rule::eqeq) && found_text == "=" {
        e = e.with_help("an assertion compares with `==`: `assert lhs == rhs;`");
    } else if statement_start && found_text == "process" {
        e = e.with_help("a process cannot contain another; is a `}` missing before this?");
    } else if statement_start || (positives.as_slice() == [Rule::lparen] && found_text != "=") {
        e = e.with_help(
            "a statement is `doc \"...\";`, `param x = ...;`, `f(t) = ...;` or `assert a == b;`",
        );
    } else if positives.as_slice() == [Rule::lparen] && found_text == "=" {
        e = e.with_help("a definition names its arguments, as in `f(t) = ...`; a parameter is `param NAME = value;`");
    } else if has(Rule::kw_process) && has(Rule::EOI) {
        e = e.with_help("a file is a sequence of `process NAME { ... }` blocks, `source`, `error` and `kernel` declarations");
    }
    e
}

/// "a", "a or b", "a, b or c".
fn join_or(words: &[&str]) -> String {
    match words {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The token starting at `pos` (a word, a number, `==`, or one character); `None` at the end.
fn token_at(text: &str, pos: usize) -> Option<Span> {
    let rest = &text[pos..];
    let first = rest.chars().next()?;
    let len = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else if rest.starts_with("==") {
        2
    } else {
        first.len_utf8()
    };
    Some(Span::new(pos, pos + len))
}

/// The last character of the token before `pos`, skipping blanks and comments backwards.
fn prev_token(text: &str, pos: usize, comments: &[(usize, usize)]) -> Option<Span> {
    let mut end = pos;
    loop {
        end = text[..end].trim_end().len();
        match comments.binary_search_by_key(&end, |c| c.1) {
            Ok(i) => end = comments[i].0,
            Err(_) => break,
        }
    }
    let last = text[..end].chars().next_back()?;
    Some(Span::new(end - last.len_utf8(), end))
}

// ---------------------------------------------------------------------------------------------
// AST building

/// Builds the AST from pest pairs, collecting errors (numbers, ambiguous powers, depth).
struct Builder<'t> {
    text: &'t str,
    errors: Vec<Diag>,
}

/// An expression and its nesting depth.
type Built = (Expr, usize);

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

fn ident(pair: &Pair<'_, Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(pair),
    }
}

/// The children that carry content: identifiers, strings and expressions.
fn significant<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|p| {
        matches!(
            p.as_rule(),
            Rule::ident | Rule::primes | Rule::string | Rule::sum
        )
    })
}

impl Builder<'_> {
    fn process(&mut self, pair: Pair<'_, Rule>) -> Process {
        let span = span_of(&pair);
        let mut name = None;
        let mut body = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(ident(&p)),
                Rule::doc => body.push(self.doc(p)),
                Rule::param => body.push(self.param(p)),
                Rule::assert => body.push(self.assert(p)),
                Rule::def => body.push(self.def(p)),
                Rule::kw_process | Rule::lbrace | Rule::rbrace => {}
                r => unreachable!("process: unexpected {r:?}"),
            }
        }
        let Some(name) = name else {
            unreachable!("process: has a name")
        };
        Process { name, body, span }
    }

    /// `source ...;`, `error ...;` or `kernel ...;`.
    fn declaration(&mut self, pair: Pair<'_, Rule>) -> Declaration {
        let span = span_of(&pair);
        let mut idents = Vec::new();
        let mut args = Vec::new();
        let mut positional = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => idents.push(ident(&p)),
                Rule::named_arg => args.push(self.named_arg(p)),
                Rule::sum | Rule::array | Rule::file_ref => positional.push(self.value(p)),
                _ => {}
            }
        }
        let [name, kind] = <[Ident; 2]>::try_from(idents)
            .unwrap_or_else(|_| unreachable!("declaration: has a name and a kind"));
        Declaration {
            name,
            kind,
            args,
            positional,
            span,
        }
    }

    fn named_arg(&mut self, pair: Pair<'_, Rule>) -> NamedArg {
        let span = span_of(&pair);
        let mut it = pair
            .into_inner()
            .filter(|p| !matches!(p.as_rule(), Rule::eq));
        let (Some(name), Some(value)) = (it.next(), it.next()) else {
            unreachable!("named_arg: has a name and a value")
        };
        NamedArg {
            name: ident(&name),
            value: self.value(value),
            span,
        }
    }

    fn value(&mut self, pair: Pair<'_, Rule>) -> Value {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::sum => Value::Expr(self.top(pair)),
            Rule::array => Value::Array {
                items: pair
                    .into_inner()
                    .filter(|p| matches!(p.as_rule(), Rule::sum | Rule::array | Rule::file_ref))
                    .map(|p| self.value(p))
                    .collect(),
                span,
            },
            Rule::file_ref => {
                let mut it = significant(pair);
                let (Some(func), Some(path)) = (it.next(), it.next()) else {
                    unreachable!("file_ref: has a name and a string")
                };
                if func.as_str() != "file" {
                    self.errors.push(
                        error(
                            codes::PARSE_FILE_REF,
                            format!("unknown data function `{}`", func.as_str()),
                            span_of(&func),
                            "expected `file`",
                        )
                        .with_help("read data from a file with `file(\"path\")`"),
                    );
                }
                Value::File {
                    path: unescape(path.as_str()),
                    span,
                }
            }
            r => unreachable!("value: got {r:?}"),
        }
    }

    fn doc(&mut self, pair: Pair<'_, Rule>) -> Stmt {
        let span = span_of(&pair);
        let Some(s) = significant(pair).next() else {
            unreachable!("doc: has a string")
        };
        Stmt::Doc {
            text: unescape(s.as_str()),
            span,
        }
    }

    fn param(&mut self, pair: Pair<'_, Rule>) -> Stmt {
        let span = span_of(&pair);
        let mut it = significant(pair);
        let (Some(name), Some(value)) = (it.next(), it.next()) else {
            unreachable!("param: has a name and a value")
        };
        Stmt::Param {
            name: ident(&name),
            value: self.top(value),
            span,
        }
    }

    fn assert(&mut self, pair: Pair<'_, Rule>) -> Stmt {
        let span = span_of(&pair);
        let mut vars = Vec::new();
        let mut sides = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::forall => {
                    for b in p.into_inner().filter(|b| b.as_rule() == Rule::binder) {
                        vars.push(self.binder(b));
                    }
                }
                Rule::sum => sides.push(self.top(p)),
                _ => {}
            }
        }
        let (Some(rhs), Some(lhs)) = (sides.pop(), sides.pop()) else {
            unreachable!("assert: has two sides")
        };
        Stmt::Assert {
            vars,
            lhs,
            rhs,
            span,
        }
    }

    fn binder(&mut self, pair: Pair<'_, Rule>) -> Binder {
        let mut name = None;
        let mut domain = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(ident(&p)),
                Rule::interval => {
                    let span = span_of(&p);
                    let (mut ends, mut bounds) = (Vec::new(), Vec::new());
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::lbracket | Rule::rbracket => ends.push(true),
                            Rule::lparen | Rule::rparen => ends.push(false),
                            Rule::sum => bounds.push(self.top(q)),
                            _ => {}
                        }
                    }
                    let (Some(hi), Some(lo)) = (bounds.pop(), bounds.pop()) else {
                        unreachable!("interval: has two ends")
                    };
                    domain = Some(Interval {
                        lo,
                        hi,
                        lo_closed: ends.first() == Some(&true),
                        hi_closed: ends.last() == Some(&true),
                        span,
                    });
                }
                _ => {}
            }
        }
        let Some(name) = name else {
            unreachable!("binder: has a name")
        };
        Binder { name, domain }
    }

    fn def(&mut self, pair: Pair<'_, Rule>) -> Stmt {
        let span = span_of(&pair);
        let mut idents = Vec::new();
        let mut body = None;
        for p in significant(pair) {
            match p.as_rule() {
                Rule::ident => idents.push(ident(&p)),
                _ => body = Some(self.top(p)),
            }
        }
        let Some(body) = body else {
            unreachable!("def: has a body")
        };
        let mut idents = idents.into_iter();
        let Some(name) = idents.next() else {
            unreachable!("def: has a name")
        };
        Stmt::Def {
            name,
            params: idents.collect(),
            body,
            span,
        }
    }

    /// A whole expression (the depth is checked on the way up).
    fn top(&mut self, pair: Pair<'_, Rule>) -> Expr {
        self.sum(pair).0
    }

    /// Wraps a node, reporting it at `at` if it is too deep. A reported node counts as depth
    /// zero afterwards, so one deep spot gives one error.
    fn node(&mut self, kind: ExprKind, span: Span, depth: usize, at: Span) -> Built {
        let depth = if depth > MAX_DEPTH {
            self.errors.push(too_deep(at));
            0
        } else {
            depth
        };
        (Expr { kind, span }, depth)
    }

    fn sum(&mut self, pair: Pair<'_, Rule>) -> Built {
        let mut inner = pair.into_inner();
        let Some(first) = inner.next() else {
            unreachable!("sum: starts with a product")
        };
        let (first, mut depth) = self.product(first);
        let mut rest = Vec::new();
        while let (Some(op), Some(operand)) = (inner.next(), inner.next()) {
            let sign = match op.as_str() {
                "+" => Sign::Plus,
                "-" => Sign::Minus,
                o => unreachable!("sum_op: `+` or `-`, got {o:?}"),
            };
            let (e, d) = self.product(operand);
            depth = depth.max(d);
            rest.push((sign, span_of(&op), e));
        }
        let Some((_, at, last)) = rest.last() else {
            return (first, depth);
        };
        let (at, span) = (*at, first.span.to(last.span));
        let kind = ExprKind::Sum {
            first: Box::new(first),
            rest,
        };
        self.node(kind, span, depth + 1, at)
    }

    fn product(&mut self, pair: Pair<'_, Rule>) -> Built {
        let mut inner = pair.into_inner().peekable();
        let (first, mut depth) = self.factor(&mut inner);
        let mut rest = Vec::new();
        while let Some(op) = inner.next() {
            let mul = match op.as_str() {
                "*" => MulOp::Mul,
                "/" => MulOp::Div,
                o => unreachable!("mul_op: `*` or `/`, got {o:?}"),
            };
            let (e, d) = self.factor(&mut inner);
            depth = depth.max(d);
            rest.push((mul, span_of(&op), e));
        }
        let Some((_, at, last)) = rest.last() else {
            return (first, depth);
        };
        let (at, span) = (*at, first.span.to(last.span));
        let kind = ExprKind::Product {
            first: Box::new(first),
            rest,
        };
        self.node(kind, span, depth + 1, at)
    }

    /// `neg* primary (pow neg* primary)*` from the flat children of a `product`.
    fn factor(&mut self, it: &mut Peekable<Pairs<'_, Rule>>) -> Built {
        let negs = take_negs(it);
        let mut operands = vec![(Vec::new(), self.primary(it.next()))];
        let mut pows = Vec::new();
        while let Some(pow) = it.next_if(|p| p.as_rule() == Rule::pow) {
            pows.push(span_of(&pow));
            let negs = take_negs(it);
            operands.push((negs, self.primary(it.next())));
        }
        let chain_end = operands.last().map_or(0, |(_, (e, _))| e.span.end);
        let n = operands.len();
        for (negs, _) in operands.iter().take(n - 1).skip(1) {
            if let Some(&minus) = negs.first() {
                self.errors
                    .push(self.ambiguous_power(&operands[0].1.0, minus, chain_end, &pows));
            }
        }
        let mut depth_max = 0;
        let mut exprs = Vec::with_capacity(n);
        for (negs, (e, d)) in operands {
            let (e, d) = self.wrap_negs(&negs, e, d);
            depth_max = depth_max.max(d);
            exprs.push(e);
        }
        let (base, depth) = if n == 1 {
            (
                exprs
                    .pop()
                    .unwrap_or_else(|| unreachable!("factor: one operand")),
                depth_max,
            )
        } else {
            let span = Span::new(exprs[0].span.start, chain_end);
            self.node(ExprKind::Power(exprs), span, depth_max + n - 1, pows[0])
        };
        self.wrap_negs(&negs, base, depth)
    }

    /// Applies unary minus signs (spans in source order) to `e`, innermost last.
    fn wrap_negs(&mut self, negs: &[Span], mut e: Expr, depth: usize) -> Built {
        let Some(&outer) = negs.first() else {
            return (e, depth);
        };
        if depth + negs.len() > MAX_DEPTH {
            self.errors.push(too_deep(outer));
            return (e, 0);
        }
        for minus in negs.iter().rev() {
            let span = Span::new(minus.start, e.span.end);
            e = Expr {
                kind: ExprKind::Neg(Box::new(e)),
                span,
            };
        }
        (e, depth + negs.len())
    }

    fn ambiguous_power(&self, base: &Expr, minus: Span, chain_end: usize, pows: &[Span]) -> Diag {
        let start = base.span.start;
        // The `^` after the operand that carries the minus ends the "(a^-b)" reading.
        let split = pows
            .iter()
            .find(|p| p.start > minus.start)
            .map_or(chain_end, |p| p.start);
        let chain = &self.text[start..chain_end];
        let e = error(
            codes::PARSE_AMBIGUOUS_POWER,
            "ambiguous power: add parentheses",
            minus,
            "a minus sign inside a power chain",
        );
        if chain.len() > 60 || chain.contains(['\n', '#']) {
            return e.with_help("write `a^(-b^c)` or `(a^-b)^c`");
        }
        let t = self.text;
        e.with_help(format!(
            "write `{}({})` or `({})^{}`",
            &t[start..minus.start],
            &t[minus.start..chain_end],
            t[start..split].trim_end(),
            t[split + 1..chain_end].trim_start(),
        ))
    }

    fn primary(&mut self, pair: Option<Pair<'_, Rule>>) -> Built {
        let Some(pair) = pair else {
            unreachable!("factor: operand after `neg`/`pow`")
        };
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::number => {
                let kind = ExprKind::Number(self.number(span));
                (Expr { kind, span }, 0)
            }
            Rule::ident => {
                let kind = ExprKind::Ident(pair.as_str().to_string());
                (Expr { kind, span }, 0)
            }
            Rule::call => {
                let mut func = None;
                let mut args = Vec::new();
                let mut depth = 0;
                for p in significant(pair) {
                    match p.as_rule() {
                        Rule::ident => func = Some(ident(&p)),
                        // `alpha''`: the primes are part of the name lowering resolves.
                        Rule::primes => {
                            if let Some(f) = func.as_mut() {
                                let f: &mut Ident = f;
                                f.name.push_str(p.as_str());
                                f.span = Span::new(f.span.start, span_of(&p).end);
                            }
                        }
                        _ => {
                            let (e, d) = self.sum(p);
                            depth = depth.max(d);
                            args.push(e);
                        }
                    }
                }
                let Some(func) = func else {
                    unreachable!("call: has a name")
                };
                let at = func.span;
                self.node(ExprKind::Call { func, args }, span, depth + 1, at)
            }
            Rule::paren => {
                let Some(inner) = significant(pair).next() else {
                    unreachable!("paren: has a sum")
                };
                let (e, d) = self.sum(inner);
                let at = Span::new(span.start, span.start + 1);
                self.node(ExprKind::Paren(Box::new(e)), span, d + 1, at)
            }
            r => unreachable!("primary: got {r:?}"),
        }
    }

    /// Reads a literal exactly: digits, an optional fraction, an optional exponent.
    fn number(&mut self, span: Span) -> BigRational {
        match read_number(&self.text[span.start..span.end], span) {
            Ok(n) => n,
            Err(e) => {
                self.errors.push(e);
                BigRational::zero()
            }
        }
    }
}

fn take_negs(it: &mut Peekable<Pairs<'_, Rule>>) -> Vec<Span> {
    let mut negs = Vec::new();
    while let Some(p) = it.next_if(|p| p.as_rule() == Rule::neg) {
        negs.push(span_of(&p));
    }
    negs
}

/// The exact value of a `number` token (lexed leniently by the grammar, checked here).
fn read_number(s: &str, span: Span) -> Result<BigRational, Diag> {
    let number_error = |message: &str, label: &str, help: String| {
        error(codes::PARSE_NUMBER, message, span, label).with_help(help)
    };
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(k) => (&s[..k], Some(&s[k + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int.is_empty() {
        return Err(number_error(
            "expected a digit before the decimal point",
            "no digit before `.`",
            format!("write `0{s}`"),
        ));
    }
    if mantissa.ends_with('.') {
        return Err(number_error(
            "expected a digit after the decimal point",
            "no digit after `.`",
            format!("write `{int}` or `{int}.0`"),
        ));
    }
    let exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (negative, digits) = match e.as_bytes().first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            if digits.is_empty() {
                return Err(number_error(
                    "expected digits in the exponent",
                    "exponent has no digits",
                    format!("write e.g. `{mantissa}e3`"),
                ));
            }
            let value = digits
                .trim_start_matches('0')
                .parse::<u32>()
                .ok()
                .or(digits.bytes().all(|b| b == b'0').then_some(0))
                .filter(|&v| v <= MAX_EXPONENT);
            let Some(value) = value else {
                return Err(number_error(
                    "exponent too large",
                    &format!("exponent beyond ±{MAX_EXPONENT}"),
                    format!("exponents must lie between -{MAX_EXPONENT} and {MAX_EXPONENT}"),
                ));
            };
            if negative {
                -i64::from(value)
            } else {
                i64::from(value)
            }
        }
    };
    let digits = format!("{int}{frac}");
    if digits.len() > MAX_DIGITS {
        return Err(number_error(
            "number has too many digits",
            &format!("more than {MAX_DIGITS} digits"),
            format!("use at most {MAX_DIGITS} significant digits"),
        ));
    }
    let Some(numer) = BigInt::parse_bytes(digits.as_bytes(), 10) else {
        unreachable!("number: mantissa is ASCII digits")
    };
    // frac.len() <= digits.len() <= MAX_DIGITS, so these conversions cannot fail.
    let scale = exp - i64::try_from(frac.len()).unwrap_or(i64::MAX);
    let ten = BigInt::from(10);
    let magnitude = usize::try_from(scale.unsigned_abs()).unwrap_or(usize::MAX);
    Ok(if scale >= 0 {
        BigRational::from_integer(numer * pow(ten, magnitude))
    } else {
        BigRational::new(numer, pow(ten, magnitude))
    })
}

/// The text of a `string` token without its quotes, escapes resolved (the pre-scan has
/// already rejected unknown escapes).
fn unescape(token: &str) -> String {
    let inner = token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| unreachable!("string: quoted"));
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(text: &str) -> Expr {
        match parse_expr(text) {
            Ok(e) => e,
            Err(errors) => panic!("{text:?} failed to parse: {errors:#?}"),
        }
    }

    fn errors(text: &str) -> Vec<Diag> {
        match parse_expr(text) {
            Ok(e) => panic!("{text:?} parsed: {e:?}"),
            Err(errors) => errors,
        }
    }

    fn rational(n: i64, d: i64) -> BigRational {
        BigRational::new(BigInt::from(n), BigInt::from(d))
    }

    fn number(text: &str) -> BigRational {
        match expr(text).kind {
            ExprKind::Number(n) => n,
            other => panic!("{text:?} is not a number: {other:?}"),
        }
    }

    /// A compact rendering of the tree shape: `(+ a (- b))`, `(^ 2 3 2)`.
    fn shape(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Number(n) => n.to_string(),
            ExprKind::Ident(s) => s.clone(),
            ExprKind::Sum { first, rest } => {
                let mut s = format!("(sum {}", shape(first));
                for (sign, _, e) in rest {
                    let op = if *sign == Sign::Plus { "+" } else { "-" };
                    s += &format!(" {op}{}", shape(e));
                }
                s + ")"
            }
            ExprKind::Product { first, rest } => {
                let mut s = format!("(prod {}", shape(first));
                for (op, _, e) in rest {
                    let op = if *op == MulOp::Mul { "*" } else { "/" };
                    s += &format!(" {op}{}", shape(e));
                }
                s + ")"
            }
            ExprKind::Power(v) => {
                format!("(^ {})", v.iter().map(shape).collect::<Vec<_>>().join(" "))
            }
            ExprKind::Neg(e) => format!("(neg {})", shape(e)),
            ExprKind::Call { func, args } => {
                let args: Vec<_> = args.iter().map(shape).collect();
                format!("({} {})", func.name, args.join(" "))
            }
            ExprKind::Paren(e) => format!("[{}]", shape(e)),
        }
    }

    fn codes(errors: &[Diag]) -> Vec<&'static str> {
        errors.iter().map(|e| e.code).collect()
    }

    #[test]
    fn literals_are_exact() {
        assert_eq!(number("0.1"), rational(1, 10));
        assert_eq!(number("1e-3"), rational(1, 1000));
        assert_eq!(number("2.5E+4"), rational(25000, 1));
        assert_eq!(number("1.25e2"), rational(125, 1));
        assert_eq!(number("12"), rational(12, 1));
        assert_eq!(number("0.125"), rational(1, 8));
        assert_eq!(number("007.50"), rational(15, 2));
        assert_eq!(number("1e0004"), rational(10000, 1));
        let big = number("1e4096");
        assert_eq!(big, BigRational::from_integer(pow(BigInt::from(10), 4096)));
        let small = number("1e-4096");
        assert_eq!(
            small,
            BigRational::from_integer(pow(BigInt::from(10), 4096)).recip()
        );
    }

    #[test]
    fn malformed_literals_are_number_errors() {
        for text in [
            "2.",
            "2.e3",
            ".5",
            "1e",
            "1e+",
            "1e4097",
            "1e-99999999999999999999",
            "2.5e-5000",
        ] {
            let errs = errors(text);
            assert_eq!(codes(&errs), [codes::PARSE_NUMBER], "{text}");
            assert_eq!(errs[0].span(), Some(Span::new(0, text.len())), "{text}");
        }
        assert_eq!(errors("1e9999")[0].message, "exponent too large");
        assert_eq!(
            codes(&errors(&"1".repeat(MAX_DIGITS + 1))),
            [codes::PARSE_NUMBER]
        );
        assert_eq!(number(&"0".repeat(MAX_DIGITS)), rational(0, 1));
    }

    #[test]
    fn precedence_shapes() {
        let cases = [
            ("-2^2", "(neg (^ 2 2))"),
            ("2^3^2", "(^ 2 3 2)"),
            ("a - b - c", "(sum a -b -c)"),
            ("a + b*c", "(sum a +(prod b *c))"),
            ("a*b/c", "(prod a *b /c)"),
            ("--x", "(neg (neg x))"),
            ("t^-1", "(^ t (neg 1))"),
            ("x^--2", "(^ x (neg (neg 2)))"),
            ("-a*b", "(prod (neg a) *b)"),
            ("a*-b", "(prod a *(neg b))"),
            ("a - -b", "(sum a -(neg b))"),
            ("(a+b)^2", "(^ [(sum a +b)] 2)"),
            (
                "exp(-1/2 * integrate(beta(s), s, 0, t))",
                "(exp (prod (neg 1) /2 *(integrate (beta s) s 0 t)))",
            ),
            ("diff(f(t), t)", "(diff (f t) t)"),
            ("x", "x"),
        ];
        for (text, want) in cases {
            assert_eq!(shape(&expr(text)), want, "{text}");
        }
    }

    #[test]
    fn spans() {
        let e = expr(" a - b*c ");
        assert_eq!(e.span, Span::new(1, 8));
        let ExprKind::Sum { first, rest } = &e.kind else {
            panic!("not a sum: {e:?}")
        };
        assert_eq!(first.span, Span::new(1, 2));
        assert_eq!(rest[0].1, Span::new(3, 4));
        assert_eq!(rest[0].2.span, Span::new(5, 8));
        let e = expr("-f(x, (y))");
        assert_eq!(e.span, Span::new(0, 10));
        let ExprKind::Neg(call) = &e.kind else {
            panic!("not a neg: {e:?}")
        };
        assert_eq!(call.span, Span::new(1, 10));
        let ExprKind::Call { func, args } = &call.kind else {
            panic!("not a call: {call:?}")
        };
        assert_eq!(func.span, Span::new(1, 2));
        assert_eq!(args[1].span, Span::new(6, 9));
        let e = expr("2 ^ -t # trailing comment");
        assert_eq!(e.span, Span::new(0, 6));
    }

    #[test]
    fn parse_expr_takes_the_whole_input() {
        assert_eq!(shape(&expr("\n  # note\n 1 + x  \n")), "(sum 1 +x)");
        assert_eq!(codes(&errors("1 + x )")), [codes::PARSE_EXPECTED]);
        assert_eq!(codes(&errors("")), [codes::PARSE_EXPECTED]);
        assert_eq!(codes(&errors("param")), [codes::PARSE_KEYWORD]);
    }

    #[test]
    fn ambiguous_power() {
        let errs = errors("2^-1^2");
        assert_eq!(codes(&errs), [codes::PARSE_AMBIGUOUS_POWER]);
        assert_eq!(errs[0].span(), Some(Span::new(2, 3)));
        assert_eq!(
            errs[0].help.as_deref(),
            Some("write `2^(-1^2)` or `(2^-1)^2`")
        );
        assert_eq!(codes(&errors("a^b^-c^d")), [codes::PARSE_AMBIGUOUS_POWER]);
    }

    #[test]
    fn deep_parentheses_are_an_error_not_a_crash() {
        let text = format!("{}x{}", "(".repeat(10_000), ")".repeat(10_000));
        let errs = errors(&text);
        assert_eq!(codes(&errs), [codes::PARSE_TOO_DEEP]);
        assert_eq!(errs[0].span(), Some(Span::new(MAX_DEPTH, MAX_DEPTH + 1)));
        // Unbalanced input is caught by the same scan.
        assert_eq!(
            codes(&errors(&"f(".repeat(10_000))),
            [codes::PARSE_TOO_DEEP]
        );
    }

    #[test]
    fn max_depth_parentheses_parse() {
        let text = format!("{}x{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        let mut e = &expr(&text);
        let mut levels = 0;
        while let ExprKind::Paren(inner) = &e.kind {
            levels += 1;
            e = inner;
        }
        assert_eq!(levels, MAX_DEPTH);
        let calls = format!("{}x{}", "f(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        expr(&calls);
        // Each level a sum inside parentheses counts twice.
        let sums = format!("{}x{}", "(1+".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(codes(&errors(&sums)), [codes::PARSE_TOO_DEEP]);
    }

    #[test]
    fn many_minus_signs_are_too_deep() {
        let errs = errors(&format!("{}x", "-".repeat(10_000)));
        assert_eq!(codes(&errs), [codes::PARSE_TOO_DEEP]);
        assert_eq!(errs[0].span(), Some(Span::new(0, 1)));
        assert_eq!(
            codes(&errors(&format!("t^{}x", "-".repeat(10_000)))),
            [codes::PARSE_TOO_DEEP]
        );
        expr(&format!("{}x", "-".repeat(MAX_DEPTH)));
    }

    #[test]
    fn long_power_chain_is_too_deep() {
        let text = vec!["2"; 100_000].join("^");
        let errs = errors(&text);
        assert_eq!(codes(&errs), [codes::PARSE_TOO_DEEP]);
        assert_eq!(errs[0].span(), Some(Span::new(1, 2)));
        let ok = vec!["2"; MAX_DEPTH + 1].join("^");
        assert!(matches!(expr(&ok).kind, ExprKind::Power(v) if v.len() == MAX_DEPTH + 1));
    }

    #[test]
    fn flat_megabyte_sum_parses() {
        let n = 500_000;
        let text = vec!["1"; n].join("+");
        let start = std::time::Instant::now();
        let e = expr(&text);
        eprintln!("parsed {} bytes in {:?}", text.len(), start.elapsed());
        let ExprKind::Sum { rest, .. } = &e.kind else {
            panic!("not a sum")
        };
        assert_eq!(rest.len(), n - 1);
    }

    #[test]
    fn strings_escapes() {
        let file = parse_file(r#"process p { doc "a \"b\" \\ c\nd\te"; }"#);
        let Ok(File { items }) = file else {
            panic!("{file:?}")
        };
        let Item::Process(p) = &items[0] else {
            panic!("not a process: {items:?}")
        };
        assert!(matches!(&p.body[0], Stmt::Doc { text, .. } if text == "a \"b\" \\ c\nd\te"));
        let Err(errs) = parse_file("process p { doc \"a \\q\"; doc \"x\\\n}") else {
            panic!("bad escapes parsed")
        };
        assert_eq!(codes(&errs), [codes::PARSE_STRING, codes::PARSE_STRING]);
        assert_eq!(errs[0].message, "unknown escape `\\q` in string");
        assert_eq!(errs[1].message, "unterminated string");
    }
}
