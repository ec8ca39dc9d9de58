//! Drawing a captured autograd graph ([`Graph`]) to PNG or SVG: each tensor a box (op or
//! parameter name, shape, gradient shape), inputs above the ops that use them, an arrow per
//! use — the picture chapter 4 teaches backpropagation with. The graph reads top to bottom, so a
//! long chain (one neuron and its loss is twelve ops deep) grows down the page, not off its side.

use super::plot::fonts;
use crate::autograd::graph::{fmt_shape, Graph};
use crate::error::Result;
use crate::io::write_via_temporary;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const BOX_W: i32 = 190;
const BOX_H: i32 = 62;
const GAP_X: i32 = 24;
const GAP_Y: i32 = 34;
const MARGIN: i32 = 20;

/// Level (row) of every node: an op one below its deepest input (longest path, so every arrow
/// points down), a leaf just above its first user (so a weight sits beside what it meets).
fn levels(g: &Graph) -> Vec<usize> {
    let mut col = vec![0usize; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        col[i] = n.inputs.iter().map(|&j| col[j] + 1).max().unwrap_or(0);
    }
    let mut first_user = vec![usize::MAX; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        for &j in &n.inputs {
            first_user[j] = first_user[j].min(col[i]);
        }
    }
    for (i, n) in g.nodes.iter().enumerate() {
        if n.inputs.is_empty() && first_user[i] != usize::MAX {
            col[i] = first_user[i] - 1;
        }
    }
    col
}

/// Top-left corner of every box, and the picture's size: each level a row of boxes, centred.
fn layout(g: &Graph) -> (Vec<(i32, i32)>, (u32, u32)) {
    let level = levels(g);
    let mut count = vec![0i32; level.iter().max().map_or(1, |m| m + 1)];
    let slot: Vec<i32> = level
        .iter()
        .map(|&l| {
            count[l] += 1;
            count[l] - 1
        })
        .collect();
    let widest = count.iter().copied().max().unwrap_or(1);
    let row_width = |n: i32| n * (BOX_W + GAP_X) - GAP_X;
    let pos: Vec<(i32, i32)> = level
        .iter()
        .zip(&slot)
        .map(|(&l, &k)| {
            let left = MARGIN + (row_width(widest) - row_width(count[l])) / 2;
            (left + k * (BOX_W + GAP_X), MARGIN + l as i32 * (BOX_H + GAP_Y))
        })
        .collect();
    let w = 2 * MARGIN + row_width(widest);
    let h = 2 * MARGIN + count.len() as i32 * (BOX_H + GAP_Y) - GAP_Y;
    (pos, (w as u32, h as u32))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    g: &Graph,
    pos: &[(i32, i32)],
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    for (i, n) in g.nodes.iter().enumerate() {
        let (x, y) = pos[i];
        for &j in &n.inputs {
            let (sx, sy) = (pos[j].0 + BOX_W / 2, pos[j].1 + BOX_H);
            let (tx, ty) = (x + BOX_W / 2, y);
            root.draw(&PathElement::new(vec![(sx, sy), (tx, ty - 8)], BLACK.stroke_width(1))).map_err(e)?;
            root.draw(&Polygon::new(vec![(tx, ty), (tx - 4, ty - 9), (tx + 4, ty - 9)], BLACK.filled())).map_err(e)?;
        }
        let fill = if n.op.is_some() {
            RGBColor(219, 233, 246)
        } else if n.requires_grad {
            RGBColor(253, 226, 196)
        } else {
            RGBColor(235, 235, 235)
        };
        root.draw(&Rectangle::new([(x, y), (x + BOX_W, y + BOX_H)], fill.filled())).map_err(e)?;
        root.draw(&Rectangle::new([(x, y), (x + BOX_W, y + BOX_H)], BLACK.stroke_width(1))).map_err(e)?;
        let lines = [(n.title(), 16), (fmt_shape(&n.shape), 13), (n.grad_label(), 13)];
        for (k, (text, size)) in lines.iter().enumerate() {
            let style = ("sans-serif", *size).into_font().color(&BLACK);
            root.draw(&Text::new(text.clone(), (x + 8, y + 5 + 19 * k as i32), style)).map_err(e)?;
        }
    }
    root.present().map_err(e)
}

/// Draws `g` to `path`: SVG if the name ends in `.svg`, PNG otherwise (written to a temporary
/// name and renamed into place).
pub fn draw_graph(g: &Graph, path: &Path) -> Result<()> {
    fonts();
    let (pos, size) = layout(g);
    let svg = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    write_via_temporary(path, if svg { "svg" } else { "png" }, "draw the graph", |tmp| {
        if svg {
            draw(&SVGBackend::new(tmp, size).into_drawing_area(), g, &pos)
        } else {
            draw(&BitMapBackend::new(tmp, size).into_drawing_area(), g, &pos)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    #[test]
    fn every_arrow_points_down_and_boxes_do_not_overlap() {
        let x = Tensor::ones([2, 3]);
        let w = Tensor::ones([3, 3]).requires_grad_();
        let h = x.matmul(&w).tanh();
        let y = (&h * &h.matmul(&w)).sum(); // w used twice, h used twice
        let g = Graph::capture(&y);
        let (pos, (width, height)) = layout(&g);
        for (i, n) in g.nodes.iter().enumerate() {
            for &j in &n.inputs {
                assert!(pos[j].1 + BOX_H < pos[i].1, "node {j} is not above node {i}");
            }
            for k in 0..i {
                let apart = pos[k].0 + BOX_W <= pos[i].0
                    || pos[i].0 + BOX_W <= pos[k].0
                    || pos[k].1 + BOX_H <= pos[i].1
                    || pos[i].1 + BOX_H <= pos[k].1;
                assert!(apart, "boxes {k} and {i} overlap");
            }
            assert!(pos[i].0 >= MARGIN && pos[i].1 >= MARGIN);
            assert!(pos[i].0 + BOX_W <= width as i32 && pos[i].1 + BOX_H <= height as i32);
        }
    }

    #[test]
    fn a_deep_chain_grows_down_not_across() {
        // One neuron and its loss is a chain twelve ops deep; drawn left to right it was a
        // 2980-pixel strip. Top to bottom, a chain of one box per level is one box wide.
        let mut t = Tensor::ones([4, 1]).requires_grad_();
        for _ in 0..12 {
            t = t.tanh();
        }
        let g = Graph::capture(&t.sum());
        let (_, (width, height)) = layout(&g);
        assert_eq!(width as i32, 2 * MARGIN + BOX_W);
        let levels = g.nodes.len() as i32; // leaf, 12 tanh, sum: one per level
        assert_eq!(height as i32, 2 * MARGIN + levels * (BOX_H + GAP_Y) - GAP_Y);
    }
}
