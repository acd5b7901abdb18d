//! `check --format json|junit` (issue 14, "Output for test pipelines"): one record per
//! check with its file, line, process, text and status, and for a failure the point and the
//! values of both sides; JUnit XML that CI systems display.

use crate::support::run;

/// One assert the simplifier proves, one it cannot (an inverse-sine identity, checked at
/// 256 bits), one false one.
const FILE: &str = "\
process p {
    alpha(t) = 1 - t;
    sigma(t) = t;
    assert exp(log(1 + t)/2) == sqrt(1 + t);
    assert asin(t/2) == atan(t/sqrt(4 - t^2));
    assert sinh(t) == t + t^3/6;   # <wrong> & \"short\"
}
";

fn check(format: &str) -> (i32, String, String) {
    let f = crate::support::scratch_file("formats.dsym", FILE);
    run(&["check", &f, "--format", format])
}

#[test]
fn json_has_a_record_per_check_with_the_failing_point_and_both_sides() {
    let (code, out, err) = check("json");
    assert_eq!(code, 1, "a failed check exits 1: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    let checks = v["checks"].as_array().expect("checks");
    // Three asserts and the two checks every process gets.
    assert_eq!(checks.len(), 5);
    assert_eq!(
        (
            v["total"].as_u64(),
            v["proved"].as_u64(),
            v["checked"].as_u64(),
            v["failed"].as_u64()
        ),
        (Some(5), Some(3), Some(1), Some(1))
    );
    let statuses: Vec<(&str, u64, &str)> = checks
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().expect("kind"),
                c["line"].as_u64().expect("line"),
                c["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("assert", 4, "proved"),
            ("assert", 5, "checked"),
            ("assert", 6, "failed"),
            ("builtin", 1, "proved"),
            ("builtin", 1, "proved"),
        ]
    );
    for c in checks {
        assert_eq!(c["process"], "p");
        assert!(c["file"].as_str().expect("file").ends_with("formats.dsym"));
    }
    assert_eq!(checks[1]["points"], 64);
    assert!(checks[1]["max_relative_error"].as_f64().expect("error") < 1e-40);
    let failed = &checks[2];
    assert!(
        failed["text"]
            .as_str()
            .expect("text")
            .contains("sinh(t) == t + t^3/6")
    );
    // The point, and the two sides there from their definitions (the difference, the
    // Taylor remainder t^5/120 + ..., is far above 1e-40 relative but below f64's ulp at
    // small t, so compare each side with its own formula).
    let at = failed["at"].as_str().expect("at");
    let t: f64 = at
        .strip_prefix("t = ")
        .expect("t = ...")
        .parse()
        .expect("a number");
    let left: f64 = failed["left"]
        .as_str()
        .expect("left")
        .parse()
        .expect("a number");
    let right: f64 = failed["right"]
        .as_str()
        .expect("right")
        .parse()
        .expect("a number");
    assert!(
        (left - t.sinh()).abs() <= 2e-16 * left,
        "{left} vs sinh({t})"
    );
    assert!(
        (right - (t + t * t * t / 6.0)).abs() <= 2e-16 * right,
        "{right}"
    );
}

/// The tags of `xml` in order (`<a ...>`, `</a>`, `<a/>` as open and close), refusing any
/// `<` or `&` that does not start a tag or a known entity.
fn tags(xml: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(['<', '&']) {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix('&') {
            assert!(
                ["amp;", "lt;", "gt;", "quot;", "apos;"]
                    .iter()
                    .any(|e| after.starts_with(e)),
                "a bare & in {tail:.40}"
            );
            rest = after;
            continue;
        }
        let end = tail.find('>').expect("a tag ends");
        let tag = &tail[1..end];
        assert!(!tag.contains('<'), "a < inside a tag: {tag}");
        found.push(tag.to_owned());
        rest = &tail[end + 1..];
    }
    found
}

#[test]
fn junit_is_well_formed_with_a_failure_per_failed_check() {
    let (code, out, err) = check("junit");
    assert_eq!(code, 1, "{err}");
    assert!(out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    // Tags nest and close.
    let mut open: Vec<String> = Vec::new();
    for tag in tags(&out).into_iter().skip(1) {
        let name = |t: &str| t.split_whitespace().next().unwrap_or("").to_owned();
        if let Some(closing) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(closing), "{out}");
        } else if !tag.ends_with('/') {
            open.push(name(&tag));
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    assert!(out.contains("<testsuites name=\"diffsym check\" tests=\"5\" failures=\"1\""));
    assert_eq!(out.matches("<testcase ").count(), 5);
    assert_eq!(out.matches("<failure ").count(), 1);
    // The failing case names its line, and the special characters of the file arrive
    // escaped (the comment is not part of the assert's text, `>=` of a built-in check is).
    assert!(
        out.contains("name=\"line 6: assert sinh(t) == t + t^3/6;\""),
        "{out}"
    );
    assert!(out.contains("g2 &gt;= 0 on (0, 1)"), "{out}");
}

#[test]
fn text_is_the_default_and_the_bundled_library_passes_in_every_format() {
    let (code, text, _) = run(&["check", "--process", "cosine"]);
    assert_eq!(code, 0);
    assert!(
        text.ends_with("7 checks: 7 proved, 0 checked, 0 failed\n"),
        "{text}"
    );
    let (code, json, _) = run(&["check", "--process", "cosine", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        (v["total"].as_u64(), v["failed"].as_u64()),
        (Some(7), Some(0))
    );
    let (code, xml, _) = run(&["check", "--process", "cosine", "--format", "junit"]);
    assert_eq!(code, 0);
    assert!(xml.contains("failures=\"0\""));
    let (code, out, err) = run(&["check", "--format", "xml"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("text, json, junit"), "{err}");
}
