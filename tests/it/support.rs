//! Shared helpers: run the command line in-process, make scratch files.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `diffsym ARGS` in-process; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("diffsym")
        .chain(args.iter().copied())
        .map(Into::into);
    let code = diffsym::cli::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).expect("stdout is UTF-8"),
        String::from_utf8(err).expect("stderr is UTF-8"),
    )
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The directory scratch files go in (replaced by `[tmp]` in snapshots).
pub fn scratch_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("it");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Writes `bytes` to a fresh scratch file named `name` and returns its path.
pub fn scratch_file(name: &str, bytes: impl AsRef<[u8]>) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = scratch_dir().join(format!("{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write scratch file");
    path.to_string_lossy().into_owned()
}

/// Replaces the scratch path of `file` by `[tmp]/NAME` so snapshots are machine-independent.
pub fn redact(text: &str, file: &str) -> String {
    let name = std::path::Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    text.replace(file, &format!("[tmp]/{name}"))
}

/// Parses a printed f64 (17 significant digits).
pub fn number(text: &str) -> f64 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

/// Runs `diffsym COMMAND FILE --format json ARGS...` on `text` written to a scratch file
/// named `name`; returns the exit code, the parsed JSON (`Null` unless it exited 0 or 1)
/// and stderr.
pub fn run_json(
    command: &str,
    name: &str,
    text: &str,
    args: &[&str],
) -> (i32, serde_json::Value, String) {
    let f = scratch_file(name, text);
    let mut argv = vec![command, &f, "--format", "json"];
    argv.extend(args);
    let (code, out, err) = run(&argv);
    let v = if code == 0 || code == 1 {
        serde_json::from_str(&out).expect("JSON")
    } else {
        serde_json::Value::Null
    };
    (code, v, err)
}

/// A JSON list of numbers.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// Runs `cargo test` on the emitted crate at `root` (offline, in a shared scratch target
/// directory) and asserts that it passes.
pub fn assert_crate_tests_pass(root: &std::path::Path) {
    let target = scratch_dir().join("crate-target");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["test", "--offline", "--quiet", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}
