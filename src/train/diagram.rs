//! The book's explanatory diagrams, drawn by the project's own code (plotters): one neuron, the
//! course's MNIST network, and LoRA's low-rank update to scale. Each is computed from the real
//! sizes — the network's layer widths and parameter count, GPT-2's projection shapes — so the
//! pictures cannot drift from the code.

use super::plot::fonts;
use crate::error::Result;
use crate::io::write_via_temporary;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

const INK: RGBColor = RGBColor(40, 40, 40);
const PARAM: RGBColor = RGBColor(255, 127, 14);
const DATA: RGBColor = RGBColor(31, 119, 180);
const FROZEN: RGBColor = RGBColor(190, 190, 190);

fn text(area: &Area, s: &str, (x, y): (i32, i32), size: u32, color: RGBColor) -> Drawn {
    let style = ("sans-serif", size).into_font().color(&color).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(s.to_string(), (x, y), style))?;
    Ok(())
}

fn arrow(area: &Area, from: (i32, i32), to: (i32, i32), color: RGBColor) -> Drawn {
    area.draw(&PathElement::new(vec![from, to], color.stroke_width(2)))?;
    let (dx, dy) = ((to.0 - from.0) as f64, (to.1 - from.1) as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let head = |s: f64| (to.0 - (10.0 * ux - s * 5.0 * uy) as i32, to.1 - (10.0 * uy + s * 5.0 * ux) as i32);
    area.draw(&Polygon::new(vec![to, head(1.0), head(-1.0)], color.filled()))?;
    Ok(())
}

fn save(path: &Path, size: (u32, u32), what: &str, draw: impl Fn(&Area) -> Drawn) -> Result<()> {
    fonts();
    write_via_temporary(path, "png", what, |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })
}

/// One neuron, y = σ(w·x + b) with three inputs: inputs, weights, the sum, the activation.
pub fn draw_neuron(path: &Path) -> Result<()> {
    save(path, (760, 340), "draw the neuron", |a| {
        let sum = (440, 170);
        for (i, y) in [70, 170, 270].into_iter().enumerate() {
            a.draw(&Circle::new((90, y), 26, DATA.filled()))?;
            text(a, &format!("x{}", i + 1), (90, y), 20, WHITE)?;
            arrow(a, (118, y), (sum.0 - 40, sum.1 + (y - sum.1) / 4), PARAM)?;
            text(a, &format!("w{}", i + 1), (250, y - 18 + (170 - y) / 3), 18, PARAM)?;
        }
        text(a, "b", (440, 70), 20, PARAM)?;
        arrow(a, (440, 84), (440, 132), PARAM)?;
        a.draw(&Circle::new(sum, 38, INK.stroke_width(2)))?;
        text(a, "Σ", sum, 30, INK)?;
        text(a, "z = w·x + b", (sum.0, sum.1 + 62), 16, INK)?;
        text(a, "y = σ(z): ReLU, GELU, sigmoid …", (592, 110), 16, INK)?;
        arrow(a, (sum.0 + 40, sum.1), (560, sum.1), INK)?;
        a.draw(&Rectangle::new([(562, 140), (622, 200)], INK.stroke_width(2)))?;
        text(a, "σ", (592, 170), 28, INK)?;
        arrow(a, (624, 170), (690, 170), INK)?;
        text(a, "y", (712, 170), 24, INK)?;
        Ok(())
    })
}

/// The course's network: one column of units per layer (at most 12 drawn, with the true width
/// written under it), every drawn pair of neighbouring columns connected, and the parameter count.
pub fn draw_network(path: &Path, widths: &[usize]) -> Result<()> {
    assert!(widths.len() >= 2, "draw_network: at least two layers, got {widths:?}");
    let params: usize = widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    save(path, (900, 460), "draw the network", |a| {
        let (left, right, top, bottom) = (80.0, 820.0, 40.0, 380.0);
        let step = (right - left) / (widths.len() - 1) as f64;
        let column = |k: usize| -> Vec<(i32, i32)> {
            let n = widths[k].min(12);
            let gap = (bottom - top) / n as f64;
            (0..n).map(|i| ((left + k as f64 * step) as i32, (top + gap * (i as f64 + 0.5)) as i32)).collect()
        };
        for k in 0..widths.len() - 1 {
            for &p in &column(k) {
                for &q in &column(k + 1) {
                    a.draw(&PathElement::new(vec![p, q], FROZEN.mix(0.6).stroke_width(1)))?;
                }
            }
        }
        for (k, &w) in widths.iter().enumerate() {
            let color = if k == 0 { DATA } else { PARAM };
            for p in column(k) {
                a.draw(&Circle::new(p, 9, color.filled()))?;
            }
            let x = (left + k as f64 * step) as i32;
            let what = match k {
                0 => "input".to_string(),
                k if k + 1 == widths.len() => "output".to_string(),
                _ => "ReLU, dropout".to_string(),
            };
            text(a, &format!("{w}"), (x, 400), 20, INK)?;
            text(a, &what, (x, 424), 14, INK)?;
        }
        let caption =
            format!("{} parameters (weights and biases); at most 12 units drawn per layer", thousands(params));
        text(a, &caption, (450, 14), 16, INK)?;
        Ok(())
    })
}

/// LoRA on a projection W (d_in, d_out) at rank r, to scale (a bar is never thinner than 4
/// pixels): the frozen W, and the trained Aᵀ (d_in, r) and Bᵀ (r, d_out) whose product is the
/// update, with each one's count of numbers.
pub fn draw_lora(path: &Path, d_in: usize, d_out: usize, r: usize) -> Result<()> {
    assert!(r >= 1 && r <= d_in.min(d_out), "draw_lora: rank {r} for a ({d_in}, {d_out}) weight");
    save(path, (1000, 360), "draw LoRA", |a| {
        let scale = 300.0 / d_in.max(d_out) as f64;
        let px = |n: usize| ((n as f64 * scale).round() as i32).max(4);
        let (x0, y0) = (40, 80);
        // W: d_in rows (inputs) by d_out columns, as GPT-2's Conv1D stores it
        let (ww, wh) = (px(d_out), px(d_in));
        a.draw(&Rectangle::new([(x0, y0), (x0 + ww, y0 + wh)], FROZEN.filled()))?;
        text(a, &format!("W ({d_in}, {d_out}), frozen"), (x0 + ww / 2, y0 - 22), 16, INK)?;
        text(a, &format!("{} numbers", thousands(d_in * d_out)), (x0 + ww / 2, y0 + wh + 22), 15, INK)?;
        let plus = x0 + ww + 40;
        text(a, "+  α/r ·", (plus + 30, y0 + wh / 2), 24, INK)?;
        // Aᵀ (d_in, r), then Bᵀ (r, d_out): the update x·Aᵀ·Bᵀ
        let ax = plus + 110;
        a.draw(&Rectangle::new([(ax, y0), (ax + px(r), y0 + wh)], PARAM.filled()))?;
        text(a, &format!("Aᵀ ({d_in}, {r})"), (ax, y0 + wh + 22), 16, INK)?;
        let bx = ax + px(r) + 60;
        a.draw(&Rectangle::new([(bx, y0), (bx + ww, y0 + px(r))], PARAM.filled()))?;
        text(a, &format!("Bᵀ ({r}, {d_out}), zero at the start"), (bx + ww / 2, y0 - 22), 16, INK)?;
        text(a, "·", (bx - 30, y0 + wh / 2), 30, INK)?;
        let trained = r * (d_in + d_out);
        let share = 100.0 * trained as f64 / (d_in * d_out) as f64;
        let line = format!("trained: r·(d_in + d_out) = {} numbers, {share:.2}% of W's", thousands(trained));
        text(a, &line, (500, 270), 17, PARAM)?;
        text(a, "y = x·W + (α/r)·x·Aᵀ·Bᵀ;  merged for inference: W′ = W + (α/r)·Aᵀ·Bᵀ", (500, 320), 16, INK)?;
        Ok(())
    })
}

/// 242762 → "242,762".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_diagram_is_a_png() {
        let dir = std::env::temp_dir().join(format!("gradschool-diagrams-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (n, m, l) = (dir.join("n.png"), dir.join("m.png"), dir.join("l.png"));
        draw_neuron(&n).unwrap();
        draw_network(&m, &[784, 256, 128, 64, 10]).unwrap();
        draw_lora(&l, 768, 2304, 8).unwrap();
        for p in [&n, &m, &l] {
            assert_eq!(&std::fs::read(p).unwrap()[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", p.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn counts_are_written_with_separators() {
        assert_eq!(thousands(242_762), "242,762");
        assert_eq!(thousands(1_769_472), "1,769,472");
        assert_eq!(thousands(999), "999");
    }
}
