//! The import structure of `src/`: no cycle between modules, and no module that imports from
//! a layer above its own (ARCHITECTURE.md, "Layers").
//!
//! Imports are read from the text: every `crate::a::b` and `super::...` path outside
//! comments and `#[cfg(test)] mod tests` blocks, resolved to the longest module path that
//! exists as a file. Test-only modules (`expr::test_util`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first: a module may import from its own layer's modules of the same
/// top-level module and from lower layers only.
const LAYERS: &[&[&str]] = &[
    &["diag", "par", "library"],
    &["syntax"],
    &["expr"],
    &["process"],
    &["codegen", "plot"],
    &["analysis"],
    &["cli"],
    &["fuzz"],
    &["main", "lib"],
];

/// Test-only modules, compiled under `#[cfg(test)]`: they may use anything.
const TEST_ONLY: &[&str] = &["expr::test_util"];

type Module = Vec<String>;

fn module_of(path: &Path) -> Module {
    let rel = path.strip_prefix("src").expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of a file without comments and without its unit-test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths `code` refers to through `crate::` and `super::`, relative to `module`.
fn references(module: &[String], code: &str) -> Vec<Module> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for kw in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(kw) {
            let at = from + i;
            from = at + kw.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let rest: String = code[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut parts: Vec<&str> = rest.split("::").filter(|p| !p.is_empty()).collect();
            let mut base: Module = if parts[0] == "crate" {
                parts.remove(0);
                Vec::new()
            } else {
                // `super` of `a::b` (a file `a/b.rs` or `a/b/mod.rs`) is `a`.
                let mut base = module.to_vec();
                base.pop();
                while parts.first() == Some(&"super") {
                    parts.remove(0);
                    if parts.first() == Some(&"super") {
                        base.pop();
                    }
                }
                base
            };
            base.extend(parts.iter().map(|p| (*p).to_owned()));
            out.push(base);
        }
    }
    out
}

#[test]
fn src_has_no_import_cycle_and_no_upward_import() {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    files.sort();
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(f)).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for f in &files {
        let module = module_of(f);
        if TEST_ONLY.contains(&module.join("::").as_str()) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(f).expect("readable"));
        for target in references(&module, &code) {
            // The longest prefix that is a module; a module's own items and its
            // descendants' are not imports.
            let Some(found) = (1..=target.len())
                .rev()
                .map(|k| target[..k].to_vec())
                .find(|m| modules.contains(m))
            else {
                continue;
            };
            if found.starts_with(&module) || module.starts_with(&found) {
                continue;
            }
            if TEST_ONLY.contains(&found.join("::").as_str()) {
                continue;
            }
            edges.entry(module.clone()).or_default().insert(found);
        }
    }
    let layer = |m: &Module| {
        let top = m.first().map_or("lib", String::as_str);
        LAYERS
            .iter()
            .position(|l| l.contains(&top))
            .unwrap_or_else(|| panic!("module `{top}` is in no layer: add it to LAYERS"))
    };
    let mut problems = Vec::new();
    for (from, tos) in &edges {
        for to in tos {
            if layer(to) > layer(from) {
                problems.push(format!(
                    "{} imports {} from a higher layer",
                    from.join("::"),
                    to.join("::")
                ));
            }
        }
    }
    // A cycle: an edge whose target reaches its source.
    let reaches = |a: &Module, b: &Module| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![a.clone()];
        while let Some(x) = stack.pop() {
            if &x == b {
                return true;
            }
            for y in edges.get(&x).into_iter().flatten() {
                if seen.insert(y.clone()) {
                    stack.push(y.clone());
                }
            }
        }
        false
    };
    for (from, tos) in &edges {
        for to in tos {
            if reaches(to, from) {
                problems.push(format!(
                    "import cycle through {} -> {}",
                    from.join("::"),
                    to.join("::")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
