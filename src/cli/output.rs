//! What commands produce: an outcome (stdout and exit code), reports rendered as text or
//! JSON, numbers formatted for printing, and files written atomically.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::Serialize;

use crate::diag::{Diag, codes};

/// The result of a command: what to print on stdout, and the exit code.
pub(super) struct Outcome {
    pub stdout: String,
    pub code: i32,
}

impl Outcome {
    /// Success, printing `stdout`.
    pub fn ok(stdout: String) -> Outcome {
        Outcome { stdout, code: 0 }
    }
}

/// How a command prints its result. Every command takes `text` and `json`; `derive` also
/// takes `latex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// Aligned, human-readable text
    Text,
    /// One JSON object (pretty-printed)
    Json,
    /// A complete LaTeX document
    Latex,
}

/// The formats of a command that has no LaTeX rendering, for `value_parser`.
pub(super) fn text_or_json() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::{PossibleValuesParser, TypedValueParser as _};
    PossibleValuesParser::new([Format::Text, Format::Json].map(|f| {
        f.to_possible_value()
            .expect("every format has a name")
            .clone()
    }))
    .map(|name| Format::from_str(&name, false).expect("a listed format"))
}

/// A command's result: serialised as JSON, or rendered as text.
pub(super) trait Report: Serialize + Sized {
    fn text(&self) -> String;

    /// The report in `format` (`Latex` is not offered by commands with a report).
    fn render(&self, format: Format) -> String {
        match format {
            Format::Json => json(self),
            Format::Text | Format::Latex => self.text(),
        }
    }
}

/// `value` as pretty-printed JSON with a final newline.
pub(super) fn json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// One diagnostic, for errors the command line finds itself.
pub(super) fn cli_error(code: &'static str, message: impl Into<String>) -> Vec<Diag> {
    vec![Diag::new(code, message)]
}

/// A parameter for a header, in the shortest form that reads back as it: plain between
/// 1e-4 and 1e15, else in exponent form (`1e-50`, not fifty zeros; `2e100`, not a
/// hundred digits).
pub(super) fn short(x: f64) -> String {
    if x == 0.0 || (1e-4..1e15).contains(&x.abs()) {
        x.to_string()
    } else {
        format!("{x:e}")
    }
}

/// A KL value for printing: 17 significant digits, `inf` when the output is degenerate.
pub(super) fn kl_text(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.16e}")
    } else {
        "inf".to_owned()
    }
}

/// A value for JSON: `null` when it is not finite.
pub(super) fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// An IO error's reason, in the words of a diagnostic.
pub(super) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        _ => e.to_string().to_lowercase(),
    }
}

/// A diagnostic for a file that cannot be written.
pub(super) fn write_error(path: &Path, e: &std::io::Error) -> Vec<Diag> {
    cli_error(
        codes::IO_WRITE,
        format!("cannot write `{}`: {}", path.display(), io_reason(e)),
    )
}

/// A temporary file named `.diffsym-XXXXXX`, created with the permissions a plain
/// `File::create` gives (0666 less the umask), not tempfile's private 0600: it becomes the
/// user's output file.
fn temporary_file() -> tempfile::Builder<'static, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(".diffsym-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b
}

/// Writes every `(path, bytes)` or none: each goes to a temporary file beside its path, and
/// only when all are written are they renamed into place, so a reader never sees a partial
/// file and a failure leaves no temporary file behind. Directories must exist.
pub(super) fn write_all_atomically(files: &[(PathBuf, &[u8])]) -> Result<(), Vec<Diag>> {
    let mut staged = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        if path.file_name().is_none() {
            return Err(cli_error(
                codes::IO_WRITE,
                format!("`{}` is not a file name", path.display()),
            ));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // Dropping a staged file (on any early return) deletes it.
        let tmp = temporary_file()
            .tempfile_in(dir)
            .and_then(|mut tmp| tmp.write_all(bytes).map(|()| tmp))
            .map_err(|e| write_error(path, &e))?;
        staged.push((tmp, path));
    }
    for (tmp, path) in staged {
        tmp.persist(path).map_err(|e| write_error(path, &e.error))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_whole_with_the_permissions_of_a_plain_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.svg"), dir.path().join("b.rs"));
        write_all_atomically(&[(a.clone(), b"<svg/>"), (b.clone(), b"fn f() {}")])
            .expect("written");
        assert_eq!(std::fs::read(&a).expect("a"), b"<svg/>");
        assert_eq!(std::fs::read(&b).expect("b"), b"fn f() {}");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").expect("plain");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions();
        assert_eq!(mode(&a), mode(&plain));
        // Only the outputs are left: no temporary file.
        let names = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(names, 3);
        // A missing directory is an error, and nothing is written.
        let c = dir.path().join("nope").join("c.svg");
        assert!(write_all_atomically(&[(c.clone(), b"x")]).is_err());
        assert!(!c.exists());
    }
}
