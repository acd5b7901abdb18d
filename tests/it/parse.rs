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
                    .map(|e| render(&e.into_diag(&source)))
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
            .map(|e| render(&e.into_diag(&source)))
            .collect();
        insta::assert_snapshot!(rendered.join("\n"));
    });
}
