//! The bundled library: every file is embedded, derives, and its asserts are proved;
//! the derived formulas are snapshot-tested.

use crate::support::run;

#[test]
fn every_derivation_file_is_bundled() {
    let mut on_disk: Vec<String> = std::fs::read_dir("derivations")
        .expect("derivations/ exists")
        .filter_map(|e| e.ok())
        .map(|e| format!("derivations/{}", e.file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".dsym"))
        .collect();
    on_disk.sort();
    let bundled: Vec<String> = diffsym::cli::BUNDLED
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(bundled, on_disk);
    for (name, text) in diffsym::cli::BUNDLED {
        assert_eq!(
            std::fs::read_to_string(name).unwrap(),
            *text,
            "{name} is stale"
        );
    }
}

#[test]
fn derived_formulas_snapshot() {
    insta::glob!("../../derivations", "*.dsym", |path| {
        let p = path.to_string_lossy().into_owned();
        let rel = format!(
            "derivations/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let (code, text, err) = run(&["derive", &p]);
        assert_eq!(code, 0, "{err}");
        let (_, latex, _) = run(&["derive", &p, "--format", "latex"]);
        let (_, check, _) = run(&["check", &p]);
        let all = format!("{text}\n{latex}\n{check}").replace(&p, &rel);
        insta::assert_snapshot!(all);
    });
}

#[test]
fn every_bundled_assert_is_proved_symbolically() {
    for (name, _) in diffsym::cli::BUNDLED {
        let (code, out, _) = run(&["check", name]);
        assert_eq!(code, 0, "{out}");
        for line in out.lines().filter(|l| l.contains(": assert ")) {
            assert!(line.ends_with("proved"), "not proved: {line}");
        }
    }
}
