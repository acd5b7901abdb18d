//! Every example in README.md runs verbatim (issue 12).
//!
//! Each fenced code block that holds a line starting with `$ diffsym ` is a transcript: every
//! `$ ` line in it is a command, and the lines after it, up to the next `$ ` line or the end
//! of the block, are what the command prints. Blocks without a `$ diffsym ` line (usage
//! synopses such as `diffsym kl FILE --process P ...`, the `cargo` set-up lines, .dsym and
//! Rust listings) are not commands and are skipped.
//!
//! A command is split into shell words (whitespace; `'...'`, `"..."` and `\` quote as in
//! sh; anything that needs a real shell, such as a pipe, a redirection, a variable or a
//! glob, is refused) and run as the `diffsym` binary built for this test, in a fresh
//! temporary directory holding copies of the repository's `derivations/` and `examples/`:
//! the paths in the README resolve as they do from the repository root, and files a command
//! writes (`plot kl ... --out kl.svg`) land in the temporary directory, not in the checkout.
//! The commands run in parallel, one per available core.
//!
//! The shown text is compared with the output line by line, after trimming trailing
//! whitespace from both:
//! - it is matched against stdout, and the command must exit 0; when the shown text has a
//!   line starting with `error[` it is matched against stderr instead, the command must exit
//!   2 and print nothing on stdout;
//! - a line that is exactly `...` (possibly indented, as in `  ...` within indented output)
//!   matches any number of lines, zero or more;
//! - every other line must equal its output line exactly; there is no elision within a line,
//!   so JSON shown pretty-printed must match the printed JSON exactly.
//!
//! Where the README shows output partially in a way these rules cannot express, the README
//! is to be changed (so that what it shows is true), not the rules.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One `$ diffsym ...` line of the README and the output shown after it.
#[derive(Debug)]
struct Example {
    /// 1-based line of README.md holding the command.
    line: usize,
    /// The command as written, without the `$ ` prompt.
    command: String,
    /// The shown output lines.
    expected: Vec<String>,
}

/// Extracts every command of every transcript block of `markdown`.
fn examples(markdown: &str) -> Vec<Example> {
    let mut found = Vec::new();
    // (line number of the block's first content line, its lines)
    let mut block: Option<(usize, Vec<&str>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            match block.take() {
                None => block = Some((i + 2, Vec::new())),
                Some((first, lines)) => transcript(first, &lines, &mut found),
            }
        } else if let Some((_, lines)) = block.as_mut() {
            lines.push(line);
        }
    }
    assert!(block.is_none(), "README.md: a code block is not closed");
    found
}

/// Adds the commands of one code block (starting at README line `first`) to `found`, if it
/// is a transcript.
fn transcript(first: usize, lines: &[&str], found: &mut Vec<Example>) {
    if !lines.iter().any(|l| l.starts_with("$ diffsym ")) {
        return;
    }
    for (i, line) in lines.iter().enumerate() {
        let line_no = first + i;
        if let Some(command) = line.strip_prefix("$ ") {
            assert!(
                command.starts_with("diffsym "),
                "README.md:{line_no}: a transcript runs only diffsym: {line}"
            );
            found.push(Example {
                line: line_no,
                command: command.to_string(),
                expected: Vec::new(),
            });
        } else {
            let example = found
                .last_mut()
                .filter(|e| e.line >= first)
                .unwrap_or_else(|| {
                    panic!("README.md:{line_no}: output shown before any `$ ` command: {line}")
                });
            example.expected.push(line.to_string());
        }
    }
}

/// Splits a command line into words as sh would, for the simple commands the README shows.
fn shell_words(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => w.push(q),
                        None => return Err("unterminated '".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => w.push(e),
                            Some(e) => {
                                w.push('\\');
                                w.push(e);
                            }
                            None => return Err("unterminated \"".into()),
                        },
                        Some(q @ ('$' | '`')) => {
                            return Err(format!("{q} inside \"...\" needs a shell"));
                        }
                        Some(q) => w.push(q),
                        None => return Err("unterminated \"".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(e) => word.get_or_insert_with(String::new).push(e),
                None => return Err("a line continuation needs a shell".into()),
            },
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' | '#' | '~'
            | '{' | '}' => {
                return Err(format!("{c} needs a shell; quote it"));
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Where `actual` fails to match `expected` under the module's rules (both already trimmed):
/// `None` if it matches, else `Some(i)` for the first shown line `expected[i]` that no
/// reading of the lines before it lets match (`i == expected.len()`: the output goes on
/// after the last shown line).
fn mismatch(expected: &[&str], actual: &[&str]) -> Option<usize> {
    // reach[j]: expected[..i] matches actual[..j], for the current i.
    let m = actual.len();
    let mut reach = vec![false; m + 1];
    reach[0] = true;
    for (i, shown) in expected.iter().enumerate() {
        let mut next = vec![false; m + 1];
        if shown.trim_start() == "..." {
            let mut any = false;
            for j in 0..=m {
                any |= reach[j];
                next[j] = any;
            }
        } else {
            for j in 0..m {
                next[j + 1] = reach[j] && *shown == actual[j];
            }
        }
        if !next.contains(&true) {
            return Some(i);
        }
        reach = next;
    }
    (!reach[m]).then_some(expected.len())
}

fn matches(expected: &[&str], actual: &[&str]) -> bool {
    mismatch(expected, actual).is_none()
}

fn trimmed(text: &str) -> Vec<&str> {
    text.lines().map(str::trim_end).collect()
}

/// Copies the directory tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// Runs one example in a fresh directory; `Err` says how it failed.
fn check(example: &Example, root: &Path) -> Result<(), String> {
    let words = shell_words(&example.command)?;
    if words.first().map(String::as_str) != Some("diffsym") {
        return Err("the command does not run diffsym".into());
    }
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    for sub in ["derivations", "examples"] {
        copy_dir(&root.join(sub), &dir.path().join(sub));
    }
    let output = Command::new(env!("CARGO_BIN_EXE_diffsym"))
        .args(&words[1..])
        .current_dir(dir.path())
        .output()
        .map_err(|e| format!("cannot run diffsym: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected: Vec<&str> = example.expected.iter().map(|l| l.trim_end()).collect();
    let is_error = expected.iter().any(|l| l.starts_with("error["));
    let (want_code, stream, name) = if is_error {
        (2, &stderr, "stderr")
    } else {
        (0, &stdout, "stdout")
    };
    let mut problems = Vec::new();
    if output.status.code() != Some(want_code) {
        problems.push(format!(
            "exit code {:?}, not {want_code}",
            output.status.code()
        ));
    }
    if is_error && !stdout.is_empty() {
        problems.push("an error printed something on stdout".to_string());
    }
    match mismatch(&expected, &trimmed(stream)) {
        None => {}
        Some(i) if i == expected.len() => problems.push(format!(
            "{name} goes on after the last line the README shows (README.md:{})",
            example.line + i
        )),
        Some(i) => problems.push(format!(
            "{name} does not match README.md:{}: {}",
            example.line + 1 + i,
            expected[i]
        )),
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}\n--- README shows:\n{}\n--- stdout:\n{stdout}--- stderr:\n{stderr}",
        problems.join("; "),
        expected.join("\n"),
    ))
}

/// How one example ran: its index in the README, its wall time and the verdict.
type Ran = (usize, Duration, Result<(), String>);

#[test]
fn readme_examples_run_verbatim_and_print_what_the_readme_shows() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README.md");
    let examples = examples(&readme);
    assert!(
        examples.len() >= 20,
        "only {} `$ diffsym` examples found in README.md",
        examples.len()
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Ran>> = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads.min(examples.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(example) = examples.get(i) else {
                        break;
                    };
                    let start = Instant::now();
                    let result = check(example, &root);
                    let elapsed = start.elapsed();
                    results.lock().unwrap().push((i, elapsed, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let mut failures = Vec::new();
    for (i, elapsed, result) in results {
        let e = &examples[i];
        eprintln!(
            "README.md:{}: {:.2} s  {}",
            e.line,
            elapsed.as_secs_f64(),
            e.command
        );
        if let Err(why) = result {
            failures.push(format!("README.md:{}: $ {}\n{why}", e.line, e.command));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} README examples fail:\n\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n\n")
    );
}

#[test]
fn readme_transcripts_are_found_and_synopses_skipped() {
    let md = "text\n\
              ```\n\
              diffsym kl FILE --process P ...\n\
              ```\n\
              ```sh\n\
              cargo test\n\
              ```\n\
              ```\n\
              $ diffsym eval a.dsym sigma --t 1\n\
              0.5\n\
              $ diffsym derive a.dsym\n\
              ```\n";
    let found = examples(md);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].line, 9);
    assert_eq!(found[0].command, "diffsym eval a.dsym sigma --t 1");
    assert_eq!(found[0].expected, ["0.5"]);
    assert_eq!(found[1].line, 11);
    assert!(found[1].expected.is_empty());
}

#[test]
fn readme_commands_split_as_sh_would() {
    assert_eq!(
        shell_words("diffsym kl  a.dsym --steps 2,3").unwrap(),
        ["diffsym", "kl", "a.dsym", "--steps", "2,3"]
    );
    assert_eq!(
        shell_words(r#"diffsym eval 'my file.dsym' "a \"b\"" c\ d ''"#).unwrap(),
        ["diffsym", "eval", "my file.dsym", "a \"b\"", "c d", ""]
    );
    for needs_a_shell in [
        "diffsym derive derivations/*.dsym",
        "diffsym kl a | head",
        "diffsym eval $F",
        "diffsym eval \"$F\"",
        "diffsym eval 'a",
        "diffsym plot kl a > out",
    ] {
        assert!(shell_words(needs_a_shell).is_err(), "{needs_a_shell}");
    }
}

#[test]
fn readme_ellipsis_lines_match_any_number_of_lines() {
    let out = ["a", "b", "c", "d"];
    assert!(matches(&["a", "b", "c", "d"], &out));
    assert!(matches(&["a", "...", "d"], &out));
    assert!(matches(&["...", "b", "c", "d"], &out));
    assert!(matches(&["a", "b", "c", "d", "  ..."], &out));
    assert!(matches(&["a", "...", "b", "...", "d"], &out));
    assert!(matches(&["..."], &[]));
    assert!(!matches(&["a", "b"], &out));
    assert!(!matches(&["a", "...", "c"], &out));
    assert!(!matches(&["a", "b, ..., d"], &["a", "b, c, d"]));
    assert!(!matches(&["a", "x", "...", "d"], &out));
    assert!(!matches(&[], &out));
    assert_eq!(mismatch(&["a", "...", "x", "d"], &out), Some(2));
    assert_eq!(mismatch(&["a", "b"], &out), Some(2));
}

/// The README's table of simplification rules is the simplifier's: every rule, once, with
/// the identity its `doc` states (`|` escaped as in Markdown), and nothing else.
#[test]
fn the_readme_rule_table_is_the_simplifiers() {
    use diffsym::expr::rules::{CONTRACT, EXPAND};
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let start = readme
        .find("| rule | identity and side condition |")
        .expect("rule table");
    let shown: Vec<(String, String)> = readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').splitn(2, " | ").collect();
            let name = cells[0].trim().trim_matches('`').to_owned();
            (name, cells[1].trim().replace("\\|", "|"))
        })
        .collect();
    let mut rules: Vec<(String, String)> = Vec::new();
    for r in EXPAND.iter().chain(CONTRACT) {
        let entry = (r.name.to_owned(), r.doc.to_owned());
        match rules.iter().find(|(n, _)| *n == r.name) {
            // A rule registered in both phases must say the same thing in both.
            Some(first) => assert_eq!(first, &entry, "rule `{}` documented twice", r.name),
            None => rules.push(entry),
        }
    }
    assert_eq!(shown, rules);
}
