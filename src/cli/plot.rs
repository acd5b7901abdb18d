//! `diffsym plot`: the exact KL against the number of steps, or a schedule, as an SVG file
//! written by diffsym itself (`crate::plot`).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::args::{self, MixtureTarget, Params, Target, TimeRange, check_kl_work, parse_steps};
use super::load::load_analysis;
use super::output::{Outcome, cli_error, write_all_atomically};
use crate::analysis::{self, GridKind, Sampler};
use crate::diag::{Diag, codes};

#[derive(Subcommand, Debug)]
pub(super) enum PlotCommand {
    /// log-log KL(src||out) and KL(out||src) against N, with the DDIM asymptote c_2/N^2
    Kl(PlotKlArgs),
    /// alpha and sigma, and log-SNR, against t
    Schedule(PlotScheduleArgs),
    /// The stiffness bound L(t) (log scale) and its integral A(t) of a Gaussian mixture,
    /// with the uniform and the stability-balanced grid marked on A
    Stiffness(PlotStiffnessArgs),
    /// KL against the step for drifting particles (Gaussian and Laplace kernels, with and
    /// without annealing) and, for Gaussian kernels, the exact population law
    Drift(super::drift_flow::PlotDriftArgs),
}

/// `diffsym plot stiffness FILE --process P --source M [--segments N] --out F.svg`
#[derive(clap::Args, Debug)]
pub(super) struct PlotStiffnessArgs {
    #[command(flatten)]
    target: MixtureTarget,
    /// Segments of the two grids marked
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    segments: u32,
    #[command(flatten)]
    range: TimeRange,
    #[command(flatten)]
    params: Params,
    /// The SVG file to write
    #[arg(long)]
    out: PathBuf,
}

/// `diffsym plot kl FILE --process P --source S --sampler SAMPLER [--steps ...] --out F.svg`
#[derive(clap::Args, Debug)]
pub(super) struct PlotKlArgs {
    #[command(flatten)]
    target: Target,
    /// The sampler, run with the exact score of the Gaussian source
    #[arg(long, value_parser = args::sampler())]
    sampler: Sampler,
    /// Numbers of steps, comma-separated (default 2,4,8,...,1024)
    #[arg(long)]
    steps: Option<String>,
    /// The time grid of every N
    #[arg(long, default_value = "uniform", value_parser = args::named_grid())]
    grid: GridKind,
    #[command(flatten)]
    range: TimeRange,
    #[command(flatten)]
    params: Params,
    /// The SVG file to write
    #[arg(long)]
    out: PathBuf,
}

/// `diffsym plot schedule FILE --process P --out F.svg`
#[derive(clap::Args, Debug)]
pub(super) struct PlotScheduleArgs {
    /// A .dsym file (the process is looked up there, then in the bundled library)
    file: PathBuf,
    #[arg(long)]
    process: String,
    #[command(flatten)]
    range: TimeRange,
    #[command(flatten)]
    params: Params,
    /// The SVG file to write
    #[arg(long)]
    out: PathBuf,
}

/// Points of a schedule plot: t_k = t_min + k (t_max - t_min)/SCHEDULE_POINTS.
const SCHEDULE_POINTS: usize = 200;

pub(super) fn run(c: &PlotCommand) -> Result<Outcome, Vec<Diag>> {
    let (figure, out, summary) = match c {
        PlotCommand::Kl(a) => plot_kl(a)?,
        PlotCommand::Schedule(a) => plot_schedule(a)?,
        PlotCommand::Stiffness(a) => plot_stiffness(a)?,
        PlotCommand::Drift(a) => super::drift_flow::plot_drift(a)?,
    };
    let svg =
        crate::plot::render(&figure).map_err(|e| cli_error(codes::PLOT_EMPTY, e.to_string()))?;
    write_all_atomically(&[(out.to_path_buf(), svg.as_bytes())])?;
    Ok(Outcome::ok(format!("wrote {}: {summary}\n", out.display())))
}

type Plot<'a> = (crate::plot::Figure, &'a Path, String);

fn plot_kl(a: &PlotKlArgs) -> Result<Plot<'_>, Vec<Diag>> {
    use crate::plot::{Panel, Scale, Series, Stroke};
    let sampler = a.sampler;
    let grid_kind = &a.grid;
    let steps = match &a.steps {
        Some(s) => parse_steps(s)?,
        None => (1..=10).map(|k| 1usize << k).collect(),
    };
    let (mut pool, p, source, at_process) = a.target.load(&a.params)?;
    check_kl_work(&steps, source.dimension())?;
    let (t_min, t_max) = a.range.parse(&mut pool)?;
    let sched = analysis::ProcessSchedule::new(&pool, &p).map_err(&at_process)?;
    let (mut src_out, mut out_src) = (Vec::new(), Vec::new());
    let mut sorted = steps.clone();
    sorted.sort_unstable();
    sorted.dedup();
    // Numbers of steps whose KL is beyond f64: not drawn, and named in the summary.
    let (mut beyond, mut why) = (Vec::new(), None);
    for &n in &sorted {
        let grid = analysis::time_grid(grid_kind, &sched, n, t_min, t_max)?;
        match analysis::exact_kl(&sched, &source, sampler, &grid, analysis::Start::Prior) {
            Ok(kl) => {
                src_out.push((n as f64, kl.kl_src_out));
                out_src.push((n as f64, kl.kl_out_src));
            }
            Err(d) if d.code == codes::ANALYSIS_BEYOND_F64 => {
                beyond.push(n.to_string());
                why.get_or_insert(d);
            }
            Err(d) => return Err(vec![d]),
        }
    }
    if let Some(d) = why.filter(|_| src_out.is_empty()) {
        return Err(vec![d]);
    }
    let line = |label: &str, points, stroke, markers| Series {
        label: label.to_owned(),
        points,
        stroke,
        markers,
    };
    let mut series = vec![
        line("KL(src||out)", src_out, Stroke::Solid, true),
        line("KL(out||src)", out_src, Stroke::Solid, true),
    ];
    let asymptote = analysis::ddim_asymptote(
        &sched,
        &source.eigenvalues,
        sampler,
        grid_kind,
        t_min,
        t_max,
    );
    let note = match asymptote {
        Ok(c2) => {
            let pts = sorted
                .iter()
                .map(|&n| (n as f64, c2 / (n as f64 * n as f64)))
                .collect();
            series.push(line("c2/N^2 (DDIM asymptote)", pts, Stroke::Dashed, false));
            format!("c_2 = {c2:.6e}")
        }
        Err(e) => format!("asymptote not drawn: {}", e.message),
    };
    let title = format!(
        "{} on {} (d = {}), {}, {} grid on [{t_min}, {t_max}]",
        sampler.name(),
        source.name,
        source.dimension(),
        p.name,
        grid_kind.name()
    );
    let figure = crate::plot::Figure {
        title,
        panels: vec![Panel {
            title: "exact KL against the number of steps (start: prior N(0, I))".to_owned(),
            x_label: "steps N".to_owned(),
            y_label: "KL".to_owned(),
            x_scale: Scale::Log,
            y_scale: Scale::Log,
            series,
        }],
    };
    let note = if beyond.is_empty() {
        note
    } else {
        format!(
            "{note}; not drawn, its KL beyond f64: N = {}",
            beyond.join(",")
        )
    };
    let summary = format!(
        "KL of {} on source {} for process {}, N = {}; {note}",
        sampler.name(),
        source.name,
        p.name,
        sorted
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok((figure, &a.out, summary))
}

fn plot_schedule(a: &PlotScheduleArgs) -> Result<Plot<'_>, Vec<Diag>> {
    use crate::plot::{Panel, Scale, Series, Stroke};
    use analysis::Schedule as _;
    let loaded = load_analysis(&a.file, Some(&a.process), None, &a.params.params)?;
    let at_process = loaded.at_process();
    let (mut pool, p) = (
        loaded.pool,
        loaded.process.expect("a process was asked for"),
    );
    let (t_min, t_max) = a.range.parse(&mut pool)?;
    let sched = analysis::ProcessSchedule::new(&pool, &p).map_err(&at_process)?;
    let ts: Vec<f64> = (0..=SCHEDULE_POINTS)
        .map(|k| t_min + k as f64 * (t_max - t_min) / SCHEDULE_POINTS as f64)
        .collect();
    let curve = |label: &str, f: &dyn Fn(f64) -> f64| Series {
        label: label.to_owned(),
        points: ts.iter().map(|&t| (t, f(t))).collect(),
        stroke: Stroke::Solid,
        markers: false,
    };
    let alpha = curve("alpha(t)", &|t| sched.alpha(t));
    let sigma = curve("sigma(t)", &|t| sched.sigma(t));
    let log_snr = curve("log-SNR = 2 lambda(t)", &|t| 2.0 * sched.lambda(t));
    let panel = |title: &str, y: &str, series| Panel {
        title: title.to_owned(),
        x_label: "t".to_owned(),
        y_label: y.to_owned(),
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        series,
    };
    let figure = crate::plot::Figure {
        title: format!("process {}", p.name),
        panels: vec![
            panel(
                "x_t = alpha x_0 + sigma eps",
                "alpha, sigma",
                vec![alpha, sigma],
            ),
            panel("log-SNR", "log(alpha^2 / sigma^2)", vec![log_snr]),
        ],
    };
    let summary = format!(
        "alpha, sigma and log-SNR of {} on [{t_min}, {t_max}], {} points",
        p.name,
        SCHEDULE_POINTS + 1
    );
    Ok((figure, &a.out, summary))
}

fn plot_stiffness(a: &PlotStiffnessArgs) -> Result<Plot<'_>, Vec<Diag>> {
    use crate::plot::{Panel, Scale, Series, Stroke};
    let (mut loaded, at_process) = a.target.load(&a.params)?;
    let mixture = super::stiffness::mixture_of(&mut loaded)?;
    let p = loaded.process.take().expect("a process was asked for");
    let mut pool = loaded.pool;
    let (t_min, t_max) = a.range.parse(&mut pool)?;
    let sched = analysis::ProcessSchedule::new(&pool, &p).map_err(&at_process)?;
    let err = |e| super::stiffness::stiffness_error(e, &a.target.source);
    let st = analysis::Stiffness::new(&sched, &mixture).map_err(err)?;
    let ts: Vec<f64> = (0..=SCHEDULE_POINTS)
        .map(|k| t_min + k as f64 * (t_max - t_min) / SCHEDULE_POINTS as f64)
        .collect();
    let mut l = Vec::with_capacity(ts.len());
    for &t in &ts {
        l.push((t, st.profile_at(t).map_err(err)?.l));
    }
    let cumulative = st.cumulative_at(t_min, t_max, &ts).map_err(err)?;
    let n = a.segments as usize;
    let balanced = st.balanced_grid(t_min, t_max, n).map_err(err)?;
    let uniform: Vec<f64> = (0..=n)
        .map(|k| t_min + k as f64 * (t_max - t_min) / n as f64)
        .collect();
    let marks = |grid: &[f64]| -> Result<Vec<(f64, f64)>, Vec<Diag>> {
        let values = st.cumulative_at(t_min, t_max, grid).map_err(err)?;
        Ok(grid.iter().copied().zip(values).collect())
    };
    let series = |label: &str, points, stroke, markers| Series {
        label: label.to_owned(),
        points,
        stroke,
        markers,
    };
    let total = cumulative.last().copied().unwrap_or(0.0);
    let figure = crate::plot::Figure {
        title: format!(
            "stiffness of {} on {} (d = {}, K = {}, D0 = {})",
            p.name,
            mixture.name,
            mixture.dimension,
            mixture.components.len(),
            st.diameter
        ),
        panels: vec![
            Panel {
                title: "Lipschitz bound of the probability-flow velocity".to_owned(),
                x_label: "t".to_owned(),
                y_label: "L(t)".to_owned(),
                x_scale: Scale::Linear,
                y_scale: Scale::Log,
                series: vec![series("L(t)", l, Stroke::Solid, false)],
            },
            Panel {
                title: format!("A(t) = int L, {n} segments: balanced grid and uniform grid"),
                x_label: "t".to_owned(),
                y_label: "A(t) - A(t_min)".to_owned(),
                x_scale: Scale::Linear,
                y_scale: Scale::Linear,
                series: vec![
                    series(
                        "A(t)",
                        ts.iter().copied().zip(cumulative).collect(),
                        Stroke::Solid,
                        false,
                    ),
                    series("balanced grid", marks(&balanced)?, Stroke::Dashed, true),
                    series("uniform grid", marks(&uniform)?, Stroke::Dashed, true),
                ],
            },
        ],
    };
    let summary = format!(
        "L(t) and A(t) of {} on {} over [{t_min}, {t_max}], A = {total:.6e}, {n} segments",
        p.name, mixture.name
    );
    Ok((figure, &a.out, summary))
}
