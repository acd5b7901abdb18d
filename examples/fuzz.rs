//! The unbounded fuzz driver (issue 11): runs `diffsym::fuzz` cases until `--cases` are
//! done (or forever), printing progress and every failure, and saving each failing
//! program under `--out`.
//!
//! ```text
//! cargo run --release --example fuzz -- [--cases N] [--seed S] [--start I] [--threads T]
//!                                       [--timeout SECS] [--out DIR]
//! cargo run --release --example fuzz -- --case I [--seed S] [--file F]
//! cargo run --release --example fuzz -- --minimize --case I [--seed S] [--file F]
//! ```
//! The cases run in `--threads` worker processes (this program with `--worker`), each on a
//! thread with the binary's 256 MiB stack. The supervisor reads each worker's report line
//! by line; a case over `--timeout` gets its worker killed and restarted after it (a thread
//! cannot be stopped, a process can), and a worker that dies (a stack overflow aborts) is
//! reported for the case it was running. Programs are regenerated from (seed, index).
//!
//! `--case I` checks case I alone and prints its program and result; `--file F` checks
//! the program in F instead (with case I's random choices, default 0). `--minimize`
//! shrinks the program while it fails the same way, each attempt in a fresh process.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diffsym::fuzz::{self, Config, Violation};

/// Failing programs saved per signature; later ones are only counted.
const SAVED_PER_SIGNATURE: usize = 3;
/// Hangs and crashes saved (their details do not tell causes apart).
const SAVED_HANGS: usize = 200;

struct Args {
    cases: Option<u64>,
    start: u64,
    threads: u64,
    out: PathBuf,
    one: Option<u64>,
    file: Option<PathBuf>,
    minimize: bool,
    worker: bool,
    step: u64,
    config: Config,
}

fn usage() -> ! {
    eprintln!(
        "usage: fuzz [--cases N] [--seed S] [--start I] [--threads T] [--timeout SECS] [--out DIR]\n       fuzz [--minimize] --case I [--seed S] [--file F]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        cases: None,
        start: 0,
        threads: 1,
        out: PathBuf::from("fuzz-out"),
        one: None,
        file: None,
        minimize: false,
        worker: false,
        step: 1,
        config: Config::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        let num = |s: String| s.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--cases" => a.cases = Some(num(value())),
            "--seed" => a.config.seed = num(value()),
            "--start" => a.start = num(value()),
            "--threads" => a.threads = num(value()).max(1),
            "--timeout" => a.config.timeout = Duration::from_secs(num(value()).max(1)),
            "--out" => a.out = PathBuf::from(value()),
            "--case" => a.one = Some(num(value())),
            "--file" => a.file = Some(PathBuf::from(value())),
            "--minimize" => a.minimize = true,
            "--worker" => a.worker = true,
            "--step" => a.step = num(value()).max(1),
            _ => usage(),
        }
    }
    a
}

fn main() {
    let args = parse_args();
    fuzz::quiet_panics();
    if args.worker {
        worker(&args);
    } else if args.minimize {
        minimize(&args);
    } else if args.one.is_some() || args.file.is_some() {
        one(&args);
    } else {
        supervise(&args);
    }
}

/// The case `--case`/`--file` name.
fn the_case(args: &Args) -> (fuzz::Case, u64) {
    let i = args.one.unwrap_or(0);
    let case = match &args.file {
        Some(path) => fuzz::Case {
            text: std::fs::read_to_string(path).unwrap_or_else(|e| {
                eprintln!("cannot read {}: {e}", path.display());
                std::process::exit(2)
            }),
            data: fuzz::generate(args.config.seed, i).data,
        },
        None => fuzz::generate(args.config.seed, i),
    };
    (case, i)
}

/// `--case I`: one case, its program and its result; the last line is `result: ok` or
/// `result: KIND` (what `--minimize` reads).
fn one(args: &Args) {
    let (case, i) = the_case(args);
    println!("--- case {i} (seed {})\n{}", args.config.seed, case.text);
    let overrides = fuzz::overrides_of(&case, i, &args.config);
    if !overrides.is_empty() {
        println!("--- checked with --param {}", overrides.join(" --param "));
    }
    for (name, contents) in &case.data {
        println!("--- data file {name}\n{contents}");
    }
    let started = Instant::now();
    let r = fuzz::run_guarded(case, i, &args.config);
    println!("--- {:.3} s", started.elapsed().as_secs_f64());
    match r {
        Ok(s) => println!("{s:?}\nresult: ok"),
        Err(f) => println!("{}\nresult: {}", f.violation.detail, f.violation.kind),
    }
    let _ = std::io::stdout().flush();
    // A case over the limit leaves its thread running: exit without waiting for it.
    std::process::exit(0)
}

/// `--minimize`: the smallest program found that fails as the case does, each attempt in
/// a fresh `--case` process (so a hang or a crash ends with its process).
fn minimize(args: &Args) {
    let (case, i) = the_case(args);
    let exe = std::env::current_exe().expect("the path of this program");
    let dir = std::env::temp_dir().join(format!("diffsym-fuzz-min-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let scratch = dir.join("candidate.dsym");
    let timeout = args.config.timeout;
    let mut attempts = 0;
    let mut kind_of = |text: &str| -> String {
        attempts += 1;
        std::fs::write(&scratch, text).expect("write the candidate");
        let mut child = Command::new(&exe)
            .args([
                "--case",
                &i.to_string(),
                "--seed",
                &args.config.seed.to_string(),
            ])
            .args(["--timeout", &timeout.as_secs().to_string(), "--file"])
            .arg(&scratch)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a check");
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let mut out = String::new();
                    if let Some(mut o) = child.stdout.take() {
                        let _ = std::io::Read::read_to_string(&mut o, &mut out);
                    }
                    return match out.lines().rev().find_map(|l| l.strip_prefix("result: ")) {
                        Some(k) => k.to_owned(),
                        None => format!("crash ({status})"),
                    };
                }
                Ok(None) if started.elapsed() > timeout + Duration::from_secs(5) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return "hang".to_owned();
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    };
    let kind = kind_of(&case.text);
    if kind == "ok" {
        eprintln!("case {i} does not fail");
        std::process::exit(1);
    }
    eprintln!("case {i} fails with {kind}; minimizing");
    let small = fuzz::minimize(&case.text, Duration::from_secs(600), |t| kind_of(t) == kind);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{attempts} attempts");
    println!("{small}");
}

/// `--worker`: runs cases `from, from + step, ...` and reports each on stdout: `B i`
/// before it, then `P i parsed lowered evals checked microseconds known origin` (`known`:
/// the known issues met, comma-separated, or `-`; `origin`: the index of its
/// [`fuzz::Origin`]) or `F i kind detail`.
fn worker(args: &Args) {
    let (from, step, end) = (args.start, args.step, args.cases);
    let config = args.config.clone();
    let run = move || {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut i = from;
        while end.is_none_or(|e| i < e) {
            let _ = writeln!(out, "B {i}");
            let _ = out.flush();
            let started = Instant::now();
            let case = fuzz::generate(config.seed, i);
            match fuzz::check_caught(&case, i, &config) {
                Ok(s) => {
                    let _ = writeln!(
                        out,
                        "P {i} {} {} {} {} {} {} {}",
                        u8::from(s.parsed),
                        u8::from(s.lowered),
                        s.evals,
                        u8::from(s.checked),
                        started.elapsed().as_micros(),
                        if s.known.is_empty() {
                            "-".to_owned()
                        } else {
                            s.known.join(",")
                        },
                        fuzz::Origin::of(config.seed, i) as usize
                    );
                }
                Err(v) => {
                    let detail = v.detail.replace('\n', " | ");
                    let _ = writeln!(out, "F {i} {} {detail}", v.kind);
                }
            }
            i += step;
        }
        let _ = out.flush();
    };
    let h = std::thread::Builder::new()
        .name("fuzz-worker".into())
        .stack_size(fuzz::STACK_BYTES)
        .spawn(run)
        .expect("start the worker thread");
    let _ = h.join();
}

enum Event {
    Line(usize, String),
    Exit(usize),
}

struct Slot {
    child: Child,
    /// The case running, and since when.
    current: Option<(u64, Instant)>,
    stderr_tail: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    generation: u64,
}

struct Totals {
    done: u64,
    parsed: u64,
    lowered: u64,
    evals: u64,
    checked: u64,
    failures: u64,
    by_signature: BTreeMap<String, u64>,
    /// Seconds spent in passing cases, by decade of duration (< 1 ms, < 10 ms, ...,
    /// >= 1 s), and the slowest passing cases.
    time_by_decade: [f64; 5],
    /// Cases that ran into each known issue.
    known: BTreeMap<String, u64>,
    count_by_decade: [u64; 5],
    slowest: Vec<(u64, u64)>,
    /// Passing cases and their seconds by [`fuzz::Origin`].
    by_origin: [(u64, f64); 3],
}

fn spawn_worker(
    args: &Args,
    slot: usize,
    from: u64,
    generation: u64,
    tx: &mpsc::Sender<(u64, Event)>,
) -> Slot {
    let exe = std::env::current_exe().expect("the path of this program");
    let mut cmd = Command::new(exe);
    cmd.args(["--worker", "--seed", &args.config.seed.to_string()])
        .args([
            "--start",
            &from.to_string(),
            "--step",
            &args.threads.to_string(),
        ]);
    if let Some(n) = args.cases {
        cmd.args(["--cases", &(args.start + n).to_string()]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a worker process");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx2.send((generation, Event::Line(slot, line))).is_err() {
                return;
            }
        }
        let _ = tx2.send((generation, Event::Exit(slot)));
    });
    let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let t2 = tail.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut t = t2.lock().unwrap();
            t.push(line);
            if t.len() > 20 {
                t.remove(0);
            }
        }
    });
    Slot {
        child,
        current: None,
        stderr_tail: tail,
        generation,
    }
}

fn signature(kind: &str, detail: &str) -> String {
    let first: String = detail
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .take(120)
        .collect();
    format!("{kind}: {first}")
}

fn record(args: &Args, totals: &mut Totals, index: u64, v: &Violation) {
    totals.failures += 1;
    let sig = signature(v.kind, &v.detail);
    let n = totals.by_signature.entry(sig).or_insert(0);
    *n += 1;
    // A hang or a crash says nothing of its cause: each may be another bug.
    let keep = match v.kind {
        "hang" | "crash" => SAVED_HANGS,
        _ => SAVED_PER_SIGNATURE,
    };
    if *n as usize > keep {
        return;
    }
    let case = fuzz::generate(args.config.seed, index);
    let path = save(&args.out, &args.config, index, v, &case);
    let shown: String = v.detail.chars().take(300).collect();
    println!(
        "FAILURE case {index} [{}] {shown}\n  saved {}; minimize with: cargo run --release --example fuzz -- --minimize --seed {} --case {index}",
        v.kind,
        path.display(),
        args.config.seed
    );
    let _ = std::io::stdout().flush();
}

fn save(dir: &Path, config: &Config, index: u64, v: &Violation, case: &fuzz::Case) -> PathBuf {
    let seed = config.seed;
    let _ = std::fs::create_dir_all(dir);
    let stem = dir.join(format!("{}-seed{seed}-case{index}", v.kind));
    let _ = std::fs::write(stem.with_extension("dsym"), &case.text);
    for (name, contents) in &case.data {
        let _ = std::fs::write(dir.join(format!("case{index}-{name}")), contents);
    }
    let overrides = fuzz::overrides_of(case, index, config);
    let _ = std::fs::write(
        stem.with_extension("txt"),
        format!(
            "seed {seed} case {index}\nchecked with overrides: {}\n{}: {}\n",
            if overrides.is_empty() {
                "none".to_owned()
            } else {
                overrides.join(" ")
            },
            v.kind,
            v.detail
        ),
    );
    stem.with_extension("dsym")
}

fn supervise(args: &Args) {
    let end = args.cases.map(|n| args.start + n);
    println!(
        "fuzz: seed {}, cases {}..{}, {} worker(s), time limit {} s, failures saved in {}",
        args.config.seed,
        args.start,
        end.map_or("unbounded".to_owned(), |e| e.to_string()),
        args.threads,
        args.config.timeout.as_secs(),
        args.out.display()
    );
    let (tx, rx) = mpsc::channel();
    let mut generation = 0;
    let mut slots: Vec<Option<Slot>> = (0..args.threads)
        .map(|k| {
            generation += 1;
            let from = args.start + k;
            (end.is_none_or(|e| from < e))
                .then(|| spawn_worker(args, k as usize, from, generation, &tx))
        })
        .collect();
    let mut totals = Totals {
        done: 0,
        parsed: 0,
        lowered: 0,
        evals: 0,
        checked: 0,
        failures: 0,
        by_signature: BTreeMap::new(),
        time_by_decade: [0.0; 5],
        known: BTreeMap::new(),
        count_by_decade: [0; 5],
        slowest: Vec::new(),
        by_origin: [(0, 0.0); 3],
    };
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let progress = |t: &Totals, prefix: &str| {
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{prefix}{} cases in {secs:.0} s ({:.0}/s): {} parsed, {} lowered, {} evals, {} checked; {} failures ({} distinct)",
            t.done,
            t.done as f64 / secs.max(1e-9),
            t.parsed,
            t.lowered,
            t.evals,
            t.checked,
            t.failures,
            t.by_signature.len()
        );
        let _ = std::io::stdout().flush();
    };
    while slots.iter().any(Option::is_some) {
        let event = rx.recv_timeout(Duration::from_millis(100));
        let mut restarts: Vec<(usize, u64)> = Vec::new();
        match event {
            Ok((g, Event::Line(k, line))) => {
                let Some(slot) = slots[k].as_mut().filter(|s| s.generation == g) else {
                    continue;
                };
                let mut words = line.splitn(3, ' ');
                let tag = words.next().unwrap_or("");
                let i: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let rest = words.next().unwrap_or("");
                match tag {
                    "B" => slot.current = Some((i, Instant::now())),
                    "P" => {
                        slot.current = None;
                        let n: Vec<u64> = rest.split(' ').filter_map(|w| w.parse().ok()).collect();
                        if let Some(known) = rest.split(' ').nth(5).filter(|k| *k != "-") {
                            for k in known.split(',') {
                                *totals.known.entry(k.to_owned()).or_insert(0) += 1;
                            }
                        }
                        totals.done += 1;
                        totals.parsed += n.first().copied().unwrap_or(0);
                        totals.lowered += n.get(1).copied().unwrap_or(0);
                        totals.evals += n.get(2).copied().unwrap_or(0);
                        totals.checked += n.get(3).copied().unwrap_or(0);
                        let us = n.get(4).copied().unwrap_or(0);
                        let decade = match us {
                            0..1_000 => 0,
                            1_000..10_000 => 1,
                            10_000..100_000 => 2,
                            100_000..1_000_000 => 3,
                            _ => 4,
                        };
                        totals.time_by_decade[decade] += us as f64 * 1e-6;
                        totals.count_by_decade[decade] += 1;
                        if let Some(o) =
                            rest.split(' ').nth(6).and_then(|w| w.parse::<usize>().ok())
                            && o < totals.by_origin.len()
                        {
                            totals.by_origin[o].0 += 1;
                            totals.by_origin[o].1 += us as f64 * 1e-6;
                        }
                        totals.slowest.push((us, i));
                        totals.slowest.sort_unstable_by(|a, b| b.cmp(a));
                        totals.slowest.truncate(5);
                    }
                    "F" => {
                        slot.current = None;
                        totals.done += 1;
                        let (kind, detail) = rest.split_once(' ').unwrap_or((rest, ""));
                        let kind: &'static str = Box::leak(kind.to_owned().into_boxed_str());
                        record(
                            args,
                            &mut totals,
                            i,
                            &Violation {
                                kind,
                                detail: detail.to_owned(),
                            },
                        );
                    }
                    _ => {}
                }
            }
            Ok((g, Event::Exit(k))) => {
                let Some(slot) = slots[k].as_mut().filter(|s| s.generation == g) else {
                    continue;
                };
                let status = slot.child.wait().map(|s| s.to_string()).unwrap_or_default();
                if let Some((i, _)) = slot.current.take() {
                    totals.done += 1;
                    let tail = slot.stderr_tail.lock().unwrap().join(" | ");
                    record(
                        args,
                        &mut totals,
                        i,
                        &Violation {
                            kind: "crash",
                            detail: format!("the worker died ({status}): {tail}"),
                        },
                    );
                    restarts.push((k, i + args.threads));
                } else {
                    slots[k] = None;
                }
            }
            Err(_) => {}
        }
        // Cases over the time limit: the worker is killed and restarted after the case.
        for (k, s) in slots.iter_mut().enumerate() {
            let Some(slot) = s else { continue };
            if let Some((i, since)) = slot.current
                && since.elapsed() > args.config.timeout
            {
                let _ = slot.child.kill();
                let _ = slot.child.wait();
                totals.done += 1;
                record(
                    args,
                    &mut totals,
                    i,
                    &Violation {
                        kind: "hang",
                        detail: format!("no result after {} s", args.config.timeout.as_secs()),
                    },
                );
                slot.current = None;
                restarts.push((k, i + args.threads));
            }
        }
        for (k, from) in restarts {
            generation += 1;
            slots[k] = end
                .is_none_or(|e| from < e)
                .then(|| spawn_worker(args, k, from, generation, &tx));
        }
        if last_progress.elapsed() >= Duration::from_secs(30) {
            progress(&totals, "");
            last_progress = Instant::now();
        }
    }
    progress(&totals, "done: ");
    let labels = ["< 1 ms", "1-10 ms", "10-100 ms", "0.1-1 s", ">= 1 s"];
    println!("passing cases by duration (count, total seconds):");
    for (k, label) in labels.iter().enumerate() {
        println!(
            "  {label:>10}  {:>9}  {:>9.1}",
            totals.count_by_decade[k], totals.time_by_decade[k]
        );
    }
    println!("passing cases by origin (count, total seconds, cases a second of one worker):");
    for (origin, (n, secs)) in fuzz::Origin::ALL.iter().zip(totals.by_origin) {
        println!(
            "  {:>17}  {n:>9}  {secs:>9.1}  {:>9.0}",
            origin.name(),
            n as f64 / secs.max(1e-9)
        );
    }
    let slowest: Vec<String> = totals
        .slowest
        .iter()
        .map(|(us, i)| format!("case {i} {:.2} s", *us as f64 * 1e-6))
        .collect();
    println!("slowest passing: {}", slowest.join(", "));
    for (sig, n) in &totals.by_signature {
        println!("  {n:>8}  {sig}");
    }
    for (name, n) in &totals.known {
        println!("  {n:>8}  known issue `{name}` (not a failure; see fuzz::KNOWN_ISSUES)");
    }
    std::process::exit(i32::from(totals.failures > 0));
}
