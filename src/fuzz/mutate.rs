//! The mutator: a program (a bundled file or a generated one) changed by a few token- and
//! byte-level edits: tokens deleted, duplicated, swapped or replaced (numbers by extreme
//! ones, names by other names, operators by operators), deep parentheses, a random byte or
//! character, a truncation. Most results no longer parse; the rest exercise lowering with
//! inputs no generator would write.

use super::rng::Rng;

/// A token of the lexer below, as a byte range of the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    String,
    Number,
    Name,
    Punct,
}

/// Splits `text` into tokens shaped like the grammar's (whitespace and comments kept, so
/// the text reassembles exactly).
fn lex(text: &str) -> Vec<(Kind, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let kind = if c.is_ascii_whitespace() {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            Kind::Blank
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            Kind::Comment
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            Kind::String
        } else if c.is_ascii_digit() || c == b'.' {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                i += 1;
                if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                    i += 1;
                }
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            Kind::Number
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            Kind::Name
        } else if c == b'=' && b.get(i + 1) == Some(&b'=') {
            i += 2;
            Kind::Punct
        } else {
            // One character (possibly several bytes).
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            Kind::Punct
        };
        // A string's escape may have stepped past the end or into a character.
        while i < b.len() && !text.is_char_boundary(i) {
            i += 1;
        }
        let i_end = i.min(b.len());
        out.push((kind, &text[start..i_end]));
        i = i_end;
    }
    out
}

const NUMBERS: &[&str] = &[
    "1e400",
    "1e4096",
    "1e4097",
    "1e-4096",
    "0",
    "-1",
    "1e308",
    "1e-320",
    "0.0",
    "2.",
    "1e",
    ".5",
    "1e-99999",
    "99999999999999999999999999999999",
    "3",
    "1/0",
    "0/0",
    "(-1)",
    "1e9",
];

const NAMES: &[&str] = &[
    "t",
    "s",
    "x",
    "pi",
    "e",
    "alpha",
    "sigma",
    "beta",
    "alpha_bar",
    "log_snr",
    "f",
    "g2",
    "g",
    "lambda",
    "dlambda",
    "snr",
    "rho",
    "exp",
    "log",
    "sqrt",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "sigmoid",
    "expm1",
    "log1p",
    "abs",
    "integrate",
    "diff",
    "process",
    "param",
    "assert",
    "doc",
    "source",
    "gaussian",
    "spectrum",
    "cov",
    "mean",
    "file",
    "error",
    "linear",
    "field",
    "matrix",
    "shift",
    "x1",
    "x2",
    "x0",
    "undefined",
    "cond_score",
    "pf_velocity",
];

const PUNCT: &[&str] = &[
    "+", "-", "*", "/", "^", "(", ")", ",", ";", "=", "==", "{", "}", "[", "]", "\"", "#",
];

const ODD: &[&str] = &[
    "\0", "\u{7f}", "é", "σ", "\u{200b}", "🙂", "\\", "\t", "\r", "'", "$", "@", "&&", "^-", "--",
    "**",
];

/// The tokens of `text`, whitespace and comments included (for the minimizer).
pub(super) fn tokens(text: &str) -> Vec<String> {
    lex(text).into_iter().map(|(_, s)| s.to_owned()).collect()
}

/// Applies one to four random edits to `text`.
pub(super) fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut toks: Vec<String> = lex(text).into_iter().map(|(_, s)| s.to_owned()).collect();
    let kinds: Vec<Kind> = lex(text).into_iter().map(|(k, _)| k).collect();
    let mut kinds = kinds;
    for _ in 0..rng.weighted(&[0, 5, 3, 2, 1]) {
        let solid: Vec<usize> = (0..toks.len())
            .filter(|&i| kinds[i] != Kind::Blank)
            .collect();
        if solid.is_empty() {
            toks.push(rng.pick(PUNCT).to_string());
            kinds.push(Kind::Punct);
            continue;
        }
        let i = *rng.pick(&solid);
        match rng.weighted(&[4, 3, 2, 6, 4, 3, 2, 2, 2, 1, 1]) {
            0 => {
                toks.remove(i);
                kinds.remove(i);
            }
            1 => {
                let t = toks[i].clone();
                toks.insert(i, t);
                kinds.insert(i, kinds[i]);
            }
            2 => {
                let j = *rng.pick(&solid);
                toks.swap(i, j);
                kinds.swap(i, j);
            }
            3 => {
                // A number replaced by an extreme or malformed one.
                let nums: Vec<usize> = solid
                    .iter()
                    .copied()
                    .filter(|&k| kinds[k] == Kind::Number)
                    .collect();
                let at = nums.first().map_or(i, |_| *rng.pick(&nums));
                toks[at] = rng.pick(NUMBERS).to_string();
            }
            4 => {
                let names: Vec<usize> = solid
                    .iter()
                    .copied()
                    .filter(|&k| kinds[k] == Kind::Name)
                    .collect();
                let at = names.first().map_or(i, |_| *rng.pick(&names));
                toks[at] = rng.pick(NAMES).to_string();
            }
            5 => toks[i] = rng.pick(PUNCT).to_string(),
            6 => {
                // Deep parentheses around one token: around the parser's depth limit.
                let n = *rng.pick(&[2usize, 50, 190, 199, 200, 201, 250, 1000]);
                toks[i] = format!("{}{}{}", "(".repeat(n), toks[i], ")".repeat(n));
            }
            7 => {
                // A token copied to another place (a splice within the file).
                let j = *rng.pick(&solid);
                let t = toks[j].clone();
                toks.insert(i, format!(" {t} "));
                kinds.insert(i, Kind::Punct);
            }
            8 => toks[i] = rng.pick(ODD).to_string(),
            9 => {
                // Truncation.
                toks.truncate(i);
                kinds.truncate(i);
            }
            _ => {
                // A long sum or product of the token: wide, not deep.
                let n = rng.range(10, 60) as usize;
                let op = *rng.pick(&["+", "*"]);
                toks[i] = vec![toks[i].clone(); n].join(op);
            }
        }
    }
    toks.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexing_reassembles_the_text() {
        for text in [
            "process p { alpha(t) = 1e-3*t^2; doc \"a \\\" b\"; } # c\n",
            "x == 2.5E+4 é \"unterminated",
            "\"\\",
        ] {
            let toks = lex(text);
            assert_eq!(toks.iter().map(|(_, s)| *s).collect::<String>(), text);
        }
        let kinds: Vec<Kind> = lex("a1 == 2.5e-3")
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| *k != Kind::Blank)
            .collect();
        assert_eq!(kinds, [Kind::Name, Kind::Punct, Kind::Number]);
    }
}
