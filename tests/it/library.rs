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
        .filter(|n| !diffsym::library::THEOREMS.contains(&n.as_str()))
        .collect();
    on_disk.sort();
    let bundled: Vec<String> = diffsym::library::BUNDLED
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(bundled, on_disk);
    for (name, text) in diffsym::library::BUNDLED {
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
    for (name, _) in diffsym::library::BUNDLED {
        let (code, out, _) = run(&["check", name]);
        assert_eq!(code, 0, "{out}");
        for line in out.lines().filter(|l| l.contains(": assert ")) {
            assert!(line.ends_with("proved"), "not proved: {line}");
        }
    }
}

#[test]
fn parallel_lowering_gives_what_sequential_lowering_gives() {
    // lower_files lowers each file in its own pool on its own thread and copies the result
    // into one pool; every formula must print as when the files share one pool throughout.
    use diffsym::expr::print::to_text;
    use diffsym::{Pool, process, syntax};
    let asts: Vec<_> = diffsym::library::BUNDLED
        .iter()
        .map(|(_, text)| syntax::parse_file(text).expect("parses"))
        .collect();
    let mut seq_pool = Pool::new();
    let mut seq = Vec::new();
    for (ast, (_, text)) in asts.iter().zip(diffsym::library::BUNDLED) {
        seq.extend(process::lower_file(&mut seq_pool, ast, text, &[]).expect("lowers"));
    }
    let mut par_pool = Pool::new();
    let files: Vec<_> = asts
        .iter()
        .zip(diffsym::library::BUNDLED)
        .map(|(a, (_, t))| (a, *t))
        .collect();
    let par: Vec<_> = process::lower_files(&mut par_pool, &files, &[], process::Stage::Fields)
        .into_iter()
        .flat_map(|r| r.expect("lowers"))
        .collect();
    let dump = |pool: &Pool, ps: &[process::Process]| -> Vec<String> {
        let mut out = Vec::new();
        for p in ps {
            for (n, e) in &p.quantities {
                out.push(format!("{} {n} = {}", p.name, to_text(pool, *e)));
            }
            for (f, e) in &p.fields().formulas {
                out.push(format!("{} {} = {}", p.name, f.name(), to_text(pool, *e)));
            }
            for f in &p.fields().fields {
                out.push(format!(
                    "{} {} {:?} = {}",
                    p.name,
                    f.name(),
                    f.param,
                    to_text(pool, f.expr)
                ));
            }
            for d in &p.defs {
                out.push(format!("{} {} = {}", p.name, d.name, to_text(pool, d.body)));
            }
            for a in &p.asserts {
                out.push(format!(
                    "{} {} == {}",
                    p.name,
                    to_text(pool, a.lhs),
                    to_text(pool, a.rhs)
                ));
            }
        }
        out
    };
    let (s, p) = (dump(&seq_pool, &seq), dump(&par_pool, &par));
    assert!(s.len() > 300, "{} formulas", s.len());
    assert_eq!(s, p);
}
