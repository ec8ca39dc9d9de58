//! Attention maps as pictures (chapter 10): one heat map per head, query positions down, key
//! positions across, each labelled with its token.

use super::plot::fonts;
use crate::error::Result;
use crate::io::write_via_temporary;
use crate::Tensor;
use plotters::prelude::*;
use std::path::Path;

/// Draws `att` (NH, T, T) — one layer's attention probabilities for one sequence — as NH heat maps
/// side by side (white = 0, dark = 1), rows and columns labelled with `tokens` (T of them), into
/// a PNG at `path`.
pub fn draw_attention(path: &Path, title: &str, att: &Tensor, tokens: &[String]) -> Result<()> {
    let (nh, t) = (att.dims()[0], att.dims()[1]);
    assert_eq!(att.dims(), &[nh, t, t], "draw_attention: attention {} vs (NH, T, T)", att.shape());
    assert_eq!(tokens.len(), t, "draw_attention: {} tokens for {t} positions", tokens.len());
    let p = att.to_vec();
    fonts();
    let cell = (360 / t.max(1)).clamp(8, 40) as u32;
    assert!(t >= 1, "draw_attention: no tokens");
    let side = cell * t as u32;
    let label_w = 90u32;
    let width = nh as u32 * (side + label_w + 20) + 20;
    let height = side + label_w + 80;
    let draw = |tmp: &Path| -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(tmp, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 18))?;
        let panels = root.split_evenly((1, nh));
        for (h, area) in panels.iter().enumerate() {
            // segmented axes: each token owns a cell, and its label sits at the cell's centre
            let mut chart = ChartBuilder::on(area)
                .caption(format!("head {h}"), ("sans-serif", 15))
                .margin(6)
                .x_label_area_size(label_w)
                .y_label_area_size(label_w)
                .build_cartesian_2d((0..t - 1).into_segmented(), (0..t - 1).into_segmented())?; // t segments
            let cells = (0..t).flat_map(|i| (0..t).map(move |j| (i, j))).map(|(i, j)| {
                let v = p[(h * t + i) * t + j].clamp(0.0, 1.0) as f64;
                let shade = |lo: f64| (255.0 - (255.0 - lo) * v) as u8;
                // query i is drawn in row t − 1 − i, so the first token is at the top
                let (x0, y0) = (SegmentValue::Exact(j), SegmentValue::Exact(t - 1 - i));
                let (x1, y1) = (SegmentValue::Exact(j + 1), SegmentValue::Exact(t - i));
                Rectangle::new([(x0, y0), (x1, y1)], RGBColor(shade(8.0), shade(48.0), shade(107.0)).filled())
            });
            chart.draw_series(cells)?;
            let name = |v: &SegmentValue<usize>, flip: bool| match v {
                SegmentValue::CenterOf(k) if *k < t => tokens[if flip { t - 1 - k } else { *k }].clone(),
                _ => String::new(),
            };
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(t)
                .y_labels(t)
                .x_label_formatter(&|v| name(v, false))
                .y_label_formatter(&|v| name(v, true))
                .x_label_style(("sans-serif", 11).into_font().transform(FontTransform::Rotate90))
                .y_label_style(("sans-serif", 11))
                .y_desc("query (rows) → key attended to (columns)")
                .draw()?;
        }
        root.present()?;
        Ok(())
    };
    write_via_temporary(path, "png", "draw the attention maps", |tmp| draw(tmp).map_err(|e| e.to_string()))
}
