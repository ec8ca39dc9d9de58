//! Loss curves as PNG (plotters, with a font shipped in data/fonts so no system fonts are
//! needed). Files are drawn to a temporary name and renamed into place.

use super::MetricsRow;
use crate::error::Result;
use crate::io::write_via_temporary;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;
use std::sync::Once;

pub(super) fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let font: &'static [u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");
        // The font is a valid TrueType file shipped with the crate; registration cannot fail.
        let _ = register_font("sans-serif", FontStyle::Normal, font);
    });
}

/// A named series of (x, y) points.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, axis labels and its series.
pub struct Panel {
    /// Title above the panel.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Curves.
    pub series: Vec<Series>,
}

/// Values beyond this are drawn at it: a wider span overflows to infinity, and plotters' search
/// for tick marks never ends on an infinite (or zero-width) range.
const AXIS_LIMIT: f64 = 1e300;

/// The axis range of the finite values, padded by 5% (and by a millionth of their magnitude, so
/// a flat series far from 0 still gets a range wider than a rounding error).
fn range(series: &[Series], f: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let vals: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(&f))
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(-AXIS_LIMIT, AXIS_LIMIT))
        .collect();
    let (lo, hi) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(lo.abs().max(hi.abs()) * 1e-6).max(1e-9);
    (lo - pad, hi + pad)
}

/// The points of `s` that can be drawn: non-finite ones left out, the rest clamped to the axes.
fn drawable(s: &Series) -> Vec<(f64, f64)> {
    let clamp = |v: f64| v.clamp(-AXIS_LIMIT, AXIS_LIMIT);
    s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|&(x, y)| (clamp(x), clamp(y))).collect()
}

/// Ten distinct colours (matplotlib's tab10): curves share a colour only past ten series, so the
/// course's seven- and eight-solver comparisons read without guessing.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws `panels` stacked vertically into a PNG at `path`.
pub fn plot_panels(path: &Path, panels: &[Panel], size: (u32, u32)) -> Result<()> {
    fonts();
    let draw = |tmp: &Path| -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (area, panel) in areas.iter().zip(panels) {
            let (x0, x1) = range(&panel.series, |p| p.0);
            let (y0, y1) = range(&panel.series, |p| p.1);
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)?;
            chart
                .configure_mesh()
                .x_desc(&panel.x_label)
                .y_desc(&panel.y_label)
                .label_style(("sans-serif", 14))
                .draw()?;
            for (i, s) in panel.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let style = ShapeStyle { color: color.to_rgba(), filled: true, stroke_width: 2 };
                let points = drawable(s);
                let drawn = chart.draw_series(LineSeries::new(points.iter().copied(), style))?;
                drawn.label(&s.label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                if points.len() <= 60 {
                    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
                }
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()?;
        }
        root.present()?;
        Ok(())
    };
    write_via_temporary(path, "png", "draw the plot", |tmp| draw(tmp).map_err(|e| e.to_string()))
}

/// loss.png: the training loss and every evaluation metric named `*loss` in one panel, the
/// others (accuracy in %) in a second.
pub fn plot_metrics(path: &Path, title: &str, names: &[String], rows: &[MetricsRow]) -> Result<()> {
    let series = |i: Option<usize>, scale: f64| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|r| match i {
                None => Some((r.step as f64, r.train_loss)),
                Some(i) => r.eval.get(i).map(|v| (r.step as f64, scale * v)),
            })
            .collect()
    };
    let mut losses = vec![Series { label: "train".into(), points: series(None, 1.0) }];
    let mut others = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if n.ends_with("loss") {
            losses.push(Series { label: n.replace('_', " "), points: series(Some(i), 1.0) });
        } else {
            let scale = if n.ends_with("accuracy") { 100.0 } else { 1.0 };
            others.push(Series { label: n.replace('_', " "), points: series(Some(i), scale) });
        }
    }
    let mut panels =
        vec![Panel { title: title.to_string(), x_label: "step".into(), y_label: "loss".into(), series: losses }];
    if !others.is_empty() {
        let y_label = if names.iter().any(|n| n.ends_with("accuracy")) { "accuracy (%)" } else { "value" };
        panels.push(Panel {
            title: "evaluation".into(),
            x_label: "step".into(),
            y_label: y_label.into(),
            series: others,
        });
    }
    let height = 400 * panels.len() as u32;
    plot_panels(path, &panels, (1000, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_and_non_finite_values_draw_in_bounded_time() {
        let dir = std::env::temp_dir().join(format!("gradschool-plot-range-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: [&[f64]; 7] = [
            &[1e308, -1e308],
            &[1.7e308, 0.0],
            &[f64::MAX, f64::MIN, f64::MIN_POSITIVE],
            &[1e20, 1e20],
            &[5e-324, 0.0],
            &[f64::NAN, f64::INFINITY, 0.5],
            &[-3.0, -3.0],
        ];
        for (i, ys) in cases.into_iter().enumerate() {
            let points: Vec<(f64, f64)> = ys.iter().enumerate().map(|(x, &y)| (x as f64, y)).collect();
            let (lo, hi) = range(&[Series { label: "y".into(), points: points.clone() }], |p| p.1);
            assert!(lo.is_finite() && hi.is_finite() && lo < hi, "case {i}: range ({lo}, {hi})");
            // plotters hung for ever on such ranges: draw in a thread and give up after a minute
            let path = dir.join(format!("case{i}.png"));
            let (send, done) = std::sync::mpsc::channel();
            let p = path.clone();
            std::thread::spawn(move || {
                let panel = Panel {
                    title: "t".into(),
                    x_label: "x".into(),
                    y_label: "y".into(),
                    series: vec![Series { label: "y".into(), points }],
                };
                let _ = send.send(plot_panels(&p, &[panel], (300, 200)).map_err(|e| e.to_string()));
            });
            let result = done.recv_timeout(std::time::Duration::from_secs(60));
            assert!(matches!(result, Ok(Ok(()))), "case {i} ({ys:?}): {result:?}");
            assert!(path.is_file());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
