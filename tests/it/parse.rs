//! Parser corpora: every file in `fixtures/parse/ok` parses (AST snapshotted), every file in
//! `fixtures/parse/err` fails with diagnostics a user can act on (rendered text snapshotted).

use std::path::Path;

use diffsym::diag::{Source, render};
use diffsym::syntax::{ast, parse_file};
use proptest::prelude::*;

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn ok_corpus() {
    insta::glob!("../fixtures/parse/ok", "*.dsym", |path| {
        let text = read(path);
        match parse_file(&text) {
            Ok(file) => insta::assert_snapshot!(format!("{file:#?}")),
            Err(errors) => {
                let source = Source::new(file_name(path), text.as_str());
                let rendered: Vec<_> = errors
                    .into_iter()
                    .map(|e| render(&e.in_source(&source)))
                    .collect();
                panic!("{} should parse:\n{}", path.display(), rendered.join("\n"));
            }
        }
    });
}

#[test]
fn err_corpus() {
    insta::glob!("../fixtures/parse/err", "*.dsym", |path| {
        let text = read(path);
        let errors = match parse_file(&text) {
            Ok(file) => panic!("{} should not parse: {file:#?}", path.display()),
            Err(errors) => errors,
        };
        assert!(
            !errors.is_empty(),
            "{}: an error result with no errors",
            path.display()
        );
        let source = Source::new(file_name(path), text.as_str());
        let rendered: Vec<_> = errors
            .into_iter()
            .map(|e| render(&e.in_source(&source)))
            .collect();
        insta::assert_snapshot!(rendered.join("\n"));
    });
}

/// A valid file as tokens; the property test glues them back with random separators.
const TOKENS: &[&str] = &[
    "process",
    "p",
    "{",
    "doc",
    "\"a # not a comment\"",
    ";",
    "param",
    "k",
    "=",
    "0.1",
    ";",
    "f",
    "(",
    "t",
    ",",
    "u",
    ")",
    "=",
    "-",
    "k",
    "^",
    "-",
    "t",
    "*",
    "exp",
    "(",
    "-",
    "1",
    "/",
    "2",
    "*",
    "integrate",
    "(",
    "g",
    "(",
    "s",
    ")",
    ",",
    "s",
    ",",
    "0",
    ",",
    "t",
    ")",
    ")",
    "-",
    "2e-3",
    "+",
    "(",
    "t",
    "^",
    "2",
    "^",
    "3",
    ")",
    ";",
    "assert",
    "f",
    "(",
    "1",
    ",",
    "2",
    ")",
    "==",
    "--",
    "k",
    ";",
    "}",
];

/// The `Debug` text of a value with every `Span { .. }` removed.
fn without_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        rest = rest.find('}').map_or("", |j| &rest[j + 1..]);
    }
    out.push_str(rest);
    out
}

fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(" ".to_string()),
        Just("\n".to_string()),
        Just("\t  ".to_string()),
        Just("\r\n".to_string()),
        Just(" # comment ( \" \n".to_string()),
        Just("#\n\n".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn blanks_and_comments_between_tokens_do_not_change_the_ast(
        seps in proptest::collection::vec(separator(), TOKENS.len() + 1)
    ) {
        let plain = parse_file(&TOKENS.join(" ")).map(|f| without_spans(&format!("{f:?}")));
        let mut text = seps[0].clone();
        for (token, sep) in TOKENS.iter().zip(&seps[1..]) {
            text.push_str(token);
            text.push_str(sep);
        }
        let spaced = parse_file(&text).map(|f| without_spans(&format!("{f:?}")));
        prop_assert!(plain.is_ok(), "{plain:?}");
        prop_assert_eq!(plain, spaced);
    }
}

#[test]
fn the_plain_token_file_has_the_expected_shape() {
    let file = parse_file(&TOKENS.join(" ")).map_err(|e| format!("{e:?}"));
    let Ok(ast::File { items }) = file else {
        panic!("{file:?}")
    };
    let ast::Item::Process(p) = &items[0] else {
        panic!("not a process: {items:?}")
    };
    assert_eq!(p.name.name, "p");
    assert_eq!(p.body.len(), 4);
    let erased = without_spans(&format!("{p:?}"));
    assert!(
        erased.contains("integrate") && !erased.contains("start:"),
        "{erased}"
    );
}
