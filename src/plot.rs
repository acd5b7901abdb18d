//! Line charts as SVG text, built in memory: panels with linear or log axes, ticks, axis
//! titles and a legend.
//!
//! Pure and deterministic: the same [`Figure`] gives the same bytes (fixed layout, fixed
//! palette, coordinates rounded to 0.01 px and printed without trailing zeros). Points that
//! cannot be drawn (not finite, or not positive on a log axis) break the line. No IO here:
//! the command line writes the file.

use std::fmt::Write as _;

/// How an axis maps values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Base 10; ticks at powers of 10 labelled 10^k.
    Log,
}

/// How a series is stroked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
}

/// One line of a panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub stroke: Stroke,
    /// A dot at every point (for discrete data such as N = 2, 4, 8).
    pub markers: bool,
}

/// One chart: axes, titles and its series.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub series: Vec<Series>,
}

/// Panels stacked vertically under a title.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub title: String,
    pub panels: Vec<Panel>,
}

/// Why a figure cannot be drawn.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PlotError {
    #[error("a figure needs at least one panel")]
    NoPanels,
    #[error("panel `{panel}` has no point that can be drawn (finite, and positive on a log axis)")]
    NoPoints { panel: String },
}

const PALETTE: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];
const WIDTH: f64 = 760.0;
const LEFT: f64 = 78.0;
const PLOT_W: f64 = 460.0;
const LEGEND_X: f64 = LEFT + PLOT_W + 16.0;
const TITLE_H: f64 = 36.0;
const PANEL_H: f64 = 340.0;
const PANEL_TOP: f64 = 30.0;
const PLOT_H: f64 = 250.0;

/// Renders `fig` as a standalone SVG document.
pub fn render(fig: &Figure) -> Result<String, PlotError> {
    if fig.panels.is_empty() {
        return Err(PlotError::NoPanels);
    }
    let height = TITLE_H + PANEL_H * fig.panels.len() as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#,
        w = num(WIDTH),
        h = num(height)
    );
    let _ = writeln!(
        s,
        r#"<rect width="{}" height="{}" fill="white"/>"#,
        num(WIDTH),
        num(height)
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        num(WIDTH / 2.0),
        escape(&fig.title)
    );
    for (k, p) in fig.panels.iter().enumerate() {
        panel(&mut s, p, TITLE_H + PANEL_H * k as f64)?;
    }
    s.push_str("</svg>\n");
    Ok(s)
}

/// An axis: the drawn interval (in log10 units on a log axis) and its ticks.
struct Axis {
    scale: Scale,
    lo: f64,
    hi: f64,
    /// (position in axis units, label; empty for a minor tick)
    ticks: Vec<(f64, String)>,
}

impl Axis {
    fn new(scale: Scale, values: impl Iterator<Item = f64>) -> Option<Axis> {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            let v = to_axis(scale, v)?;
            min = min.min(v);
            max = max.max(v);
        }
        if min > max {
            return None;
        }
        Some(match scale {
            Scale::Log => log_axis(min, max),
            Scale::Linear => linear_axis(min, max),
        })
    }

    /// The fraction of the way along the axis, 0 at `lo`.
    fn frac(&self, v: f64) -> Option<f64> {
        let v = to_axis(self.scale, v)?;
        Some((v - self.lo) / (self.hi - self.lo))
    }
}

/// The axis coordinate of `v`, or `None` if it cannot be drawn.
fn to_axis(scale: Scale, v: f64) -> Option<f64> {
    match scale {
        Scale::Linear => v.is_finite().then_some(v),
        Scale::Log => (v.is_finite() && v > 0.0).then(|| v.log10()),
    }
}

fn log_axis(min: f64, max: f64) -> Axis {
    let lo = min.floor();
    let mut hi = max.ceil();
    if hi <= lo {
        hi = lo + 1.0;
    }
    let decades = (hi - lo) as i64;
    let every = (decades + 9) / 10;
    let mut ticks = Vec::new();
    for k in lo as i64..=hi as i64 {
        let label = if (k - lo as i64) % every == 0 {
            pow10_label(k)
        } else {
            String::new()
        };
        ticks.push((k as f64, label));
        if decades <= 8 && k < hi as i64 {
            for m in 2..=9 {
                ticks.push((k as f64 + f64::from(m).log10(), String::new()));
            }
        }
    }
    Axis {
        scale: Scale::Log,
        lo,
        hi,
        ticks,
    }
}

fn linear_axis(min: f64, max: f64) -> Axis {
    let (min, max) = if max > min {
        (min, max)
    } else {
        let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
        (min - pad, max + pad)
    };
    let raw = (max - min) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let lo = (min / step).floor() * step;
    let hi = (max / step).ceil() * step;
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    let count = ((hi - lo) / step).round() as i64;
    let ticks = (0..=count)
        .map(|k| {
            let v = lo + k as f64 * step;
            (v, tick_number(v, decimals))
        })
        .collect();
    Axis {
        scale: Scale::Linear,
        lo,
        hi,
        ticks,
    }
}

/// `10` with a superscript exponent (U+2212 for a minus).
fn pow10_label(k: i64) -> String {
    let exp = if k < 0 {
        format!("\u{2212}{}", -k)
    } else {
        k.to_string()
    };
    format!(r#"10<tspan dy="-5" font-size="9">{exp}</tspan>"#)
}

/// A linear tick label with `decimals` places, never `-0`.
fn tick_number(v: f64, decimals: usize) -> String {
    let t = format!("{v:.decimals$}");
    let zero = t
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.');
    if zero {
        t.trim_start_matches('-').to_owned()
    } else {
        t.replace('-', "\u{2212}")
    }
}

/// A coordinate: rounded to 0.01, no trailing zeros, never `-0`.
fn num(x: f64) -> String {
    let t = format!("{x:.2}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t == "-0" {
        "0".to_owned()
    } else {
        t.to_owned()
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn panel(s: &mut String, p: &Panel, top: f64) -> Result<(), PlotError> {
    let none = || PlotError::NoPoints {
        panel: p.title.clone(),
    };
    let drawable =
        |&&(x, y): &&(f64, f64)| to_axis(p.x_scale, x).is_some() && to_axis(p.y_scale, y).is_some();
    let pts = || {
        p.series
            .iter()
            .flat_map(|se| se.points.iter().filter(drawable))
    };
    let xa = Axis::new(p.x_scale, pts().map(|q| q.0)).ok_or_else(none)?;
    let ya = Axis::new(p.y_scale, pts().map(|q| q.1)).ok_or_else(none)?;
    let y0 = top + PANEL_TOP;
    let px = |f: f64| LEFT + f * PLOT_W;
    let py = |f: f64| y0 + (1.0 - f) * PLOT_H;
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
        num(px(0.5)),
        num(top + 18.0),
        escape(&p.title)
    );
    // Grid lines and ticks.
    for (v, label) in &xa.ticks {
        let x = num(px((v - xa.lo) / (xa.hi - xa.lo)));
        let (len, colour) = if label.is_empty() {
            (3.0, "#eeeeee")
        } else {
            (6.0, "#dddddd")
        };
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{colour}"/>"#,
            num(y0),
            num(y0 + PLOT_H)
        );
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="black"/>"#,
            num(y0 + PLOT_H),
            num(y0 + PLOT_H + len)
        );
        if !label.is_empty() {
            let _ = writeln!(
                s,
                r#"<text x="{x}" y="{}" text-anchor="middle">{label}</text>"#,
                num(y0 + PLOT_H + 20.0)
            );
        }
    }
    for (v, label) in &ya.ticks {
        let yf = py((v - ya.lo) / (ya.hi - ya.lo));
        let y = num(yf);
        let (len, colour) = if label.is_empty() {
            (3.0, "#eeeeee")
        } else {
            (6.0, "#dddddd")
        };
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}"/>"#,
            num(LEFT),
            num(LEFT + PLOT_W)
        );
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="black"/>"#,
            num(LEFT - len),
            num(LEFT)
        );
        if !label.is_empty() {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{label}</text>"#,
                num(LEFT - 9.0),
                num(yf + 4.0)
            );
        }
    }
    let _ = writeln!(
        s,
        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        num(LEFT),
        num(y0),
        num(PLOT_W),
        num(PLOT_H)
    );
    // Axis titles.
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        num(px(0.5)),
        num(y0 + PLOT_H + 40.0),
        escape(&p.x_label)
    );
    let (tx, ty) = (num(LEFT - 56.0), num(y0 + PLOT_H / 2.0));
    let _ = writeln!(
        s,
        r#"<text x="{tx}" y="{ty}" text-anchor="middle" transform="rotate(-90 {tx} {ty})">{}</text>"#,
        escape(&p.y_label)
    );
    // Series, then the legend.
    for (k, se) in p.series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let dash = match se.stroke {
            Stroke::Solid => "",
            Stroke::Dashed => r#" stroke-dasharray="6 4""#,
        };
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for &(x, y) in &se.points {
            match (xa.frac(x), ya.frac(y)) {
                (Some(fx), Some(fy)) => {
                    if let Some(r) = runs.last_mut() {
                        r.push((px(fx), py(fy)));
                    }
                }
                _ => runs.push(Vec::new()),
            }
        }
        let label = escape(&se.label);
        for run in runs.iter().filter(|r| !r.is_empty()) {
            let coords: Vec<String> = run
                .iter()
                .map(|&(x, y)| format!("{},{}", num(x), num(y)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline class="series" data-label="{label}" points="{}" fill="none" stroke="{colour}" stroke-width="1.8"{dash}/>"#,
                coords.join(" ")
            );
            if se.markers {
                for &(x, y) in run {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{}" cy="{}" r="2.6" fill="{colour}"/>"#,
                        num(x),
                        num(y)
                    );
                }
            }
        }
    }
    for (k, se) in p.series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let dash = match se.stroke {
            Stroke::Solid => "",
            Stroke::Dashed => r#" stroke-dasharray="6 4""#,
        };
        let y = y0 + 10.0 + 20.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="1.8"{dash}/>"#,
            num(LEGEND_X),
            num(LEGEND_X + 26.0),
            y = num(y)
        );
        if se.markers {
            let _ = writeln!(
                s,
                r#"<circle cx="{}" cy="{}" r="2.6" fill="{colour}"/>"#,
                num(LEGEND_X + 13.0),
                num(y)
            );
        }
        let _ = writeln!(
            s,
            r#"<text class="legend" x="{}" y="{}">{}</text>"#,
            num(LEGEND_X + 32.0),
            num(y + 4.0),
            escape(&se.label)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(1.23456), "1.23");
        assert_eq!(tick_number(-0.0, 1), "0.0");
        assert_eq!(tick_number(-2.0, 0), "\u{2212}2");
        assert_eq!(
            pow10_label(-3),
            r#"10<tspan dy="-5" font-size="9">−3</tspan>"#
        );
    }

    #[test]
    fn axes_cover_the_data_with_round_ticks() {
        let a = log_axis(-2.5, 1.2);
        assert_eq!((a.lo, a.hi), (-3.0, 2.0));
        let labelled: Vec<f64> = a
            .ticks
            .iter()
            .filter(|t| !t.1.is_empty())
            .map(|t| t.0)
            .collect();
        assert_eq!(labelled, [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0]);
        let l = linear_axis(0.03, 0.97);
        assert_eq!((l.lo, l.hi), (0.0, 1.0));
        let labels: Vec<&str> = l.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        // 40 decades: a label every 4th decade.
        let wide = log_axis(-30.0, 10.0);
        assert_eq!(wide.ticks.iter().filter(|t| !t.1.is_empty()).count(), 11);
    }

    #[test]
    fn a_panel_without_drawable_points_is_an_error() {
        let fig = Figure {
            title: "t".into(),
            panels: vec![Panel {
                title: "p".into(),
                x_label: "x".into(),
                y_label: "y".into(),
                x_scale: Scale::Log,
                y_scale: Scale::Linear,
                series: vec![Series {
                    label: "s".into(),
                    points: vec![(0.0, 1.0), (-1.0, 2.0)],
                    stroke: Stroke::Solid,
                    markers: false,
                }],
            }],
        };
        assert_eq!(render(&fig), Err(PlotError::NoPoints { panel: "p".into() }));
    }
}
