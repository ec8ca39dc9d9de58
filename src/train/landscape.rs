//! A loss landscape over two weights, and the paths solvers take across it (chapters 3 and 6).
//! The figure is the library's own work: the loss is tensor ops, its gradient comes from
//! `backward()`, and each step is one of `crate::optim`'s optimizers — nothing is drawn by hand.

use super::plot::fonts;
use crate::error::Result;
use crate::io::write_via_temporary;
use crate::optim::{Lbfgs, Optimizer};
use crate::Tensor;
use plotters::prelude::*;
use std::path::Path;

/// Rosenbrock's curved valley, made milder (b = 10 instead of 100) so plain SGD can cross it:
/// f(x, y) = (1 − x)² + 10·(y − x²)², for `w` = [x, y]. Its minimum is 0 at (1, 1), at the end of
/// a narrow, bending valley floor y = x²: steep across, nearly flat along — the shape that makes
/// plain gradient descent zig-zag and momentum pay.
pub fn valley(w: &Tensor) -> Tensor {
    let (x, y) = (w.narrow(0, 0, 1), w.narrow(0, 1, 1)); // (1,), (1,)
    let across = &y - &x.square();
    ((&x - 1.0).square() + across.square() * 10.0).sum() // (1 − x)² = (x − 1)²
}

/// [`valley`] on plain numbers, for drawing the surface.
pub fn valley_f64(x: f64, y: f64) -> f64 {
    (1.0 - x).powi(2) + 10.0 * (y - x * x).powi(2)
}

/// One solver's trajectory: every point it visited, the start first.
pub struct SolverPath {
    /// Legend label, e.g. "SGD, lr 0.01".
    pub label: String,
    /// (x, y) after each step, the start first.
    pub points: Vec<(f64, f64)>,
    /// The loss at the last point.
    pub final_loss: f64,
}

/// Runs `steps` steps of the optimizer `make` builds, on [`valley`] from `start`.
pub fn solver_path(
    label: &str,
    start: (f32, f32),
    steps: usize,
    make: impl FnOnce(Vec<Tensor>) -> Box<dyn Optimizer>,
) -> SolverPath {
    let w = Tensor::from_vec(vec![start.0, start.1], [2]).requires_grad_();
    let mut opt = make(vec![w.clone()]);
    let point = |w: &Tensor| {
        let v = w.to_vec();
        (v[0] as f64, v[1] as f64)
    };
    let mut points = vec![point(&w)];
    for _ in 0..steps {
        opt.zero_grad();
        valley(&w).backward();
        opt.step();
        points.push(point(&w));
    }
    let (x, y) = *points.last().expect("the start is a point");
    SolverPath { label: label.to_string(), points, final_loss: valley_f64(x, y) }
}

/// L-BFGS's trajectory on [`valley`] from `start`: `steps` iterations of [`Lbfgs`] with step
/// length `lr`, one gradient evaluation each (`max_iter` 1 per `step`, the history kept across
/// steps), so it spends exactly the gradients the other solvers spend.
pub fn lbfgs_path(label: &str, start: (f32, f32), steps: usize, lr: f32) -> SolverPath {
    let w = Tensor::from_vec(vec![start.0, start.1], [2]).requires_grad_();
    let mut opt = Lbfgs::new(vec![w.clone()], lr).max_iter(1);
    let point = |w: &Tensor| {
        let v = w.to_vec();
        (v[0] as f64, v[1] as f64)
    };
    let mut points = vec![point(&w)];
    for _ in 0..steps {
        opt.step(|| {
            let f = valley(&w);
            f.backward();
            f.item()
        });
        points.push(point(&w));
    }
    let (x, y) = *points.last().expect("the start is a point");
    SolverPath { label: label.to_string(), points, final_loss: valley_f64(x, y) }
}

const PATH_COLORS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
    RGBColor(227, 119, 194),
];

/// Draws log(1 + f) of [`valley_f64`] over `xs` × `ys` as a shaded map (dark = low), with every
/// path on top and the minimum marked, into a PNG at `path`.
pub fn draw_landscape(path: &Path, xs: (f64, f64), ys: (f64, f64), paths: &[SolverPath]) -> Result<()> {
    fonts();
    let draw = |tmp: &Path| -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(tmp, (900, 620)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("f(x, y) = (1 − x)² + 10(y − x²)² and the paths of six solvers", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)?;
        // the surface: a grid of cells shaded by log(1 + f), so the valley floor shows
        let (nx, ny) = (180, 120);
        let (dx, dy) = ((xs.1 - xs.0) / nx as f64, (ys.1 - ys.0) / ny as f64);
        let top =
            (1.0 + [xs.0, xs.1].iter().flat_map(|&x| [ys.0, ys.1].map(|y| valley_f64(x, y))).fold(0.0, f64::max)).ln();
        let cells = (0..nx).flat_map(|i| (0..ny).map(move |j| (i, j))).map(|(i, j)| {
            let (x, y) = (xs.0 + i as f64 * dx, ys.0 + j as f64 * dy);
            let t = ((1.0 + valley_f64(x + dx / 2.0, y + dy / 2.0)).ln() / top).min(1.0);
            // dark blue (low) to pale yellow (high)
            let mix = |a: f64, b: f64| (a + (b - a) * t) as u8;
            let color = RGBColor(mix(20.0, 250.0), mix(40.0, 245.0), mix(110.0, 200.0));
            Rectangle::new([(x, y), (x + dx, y + dy)], color.filled())
        });
        chart.draw_series(cells)?;
        chart.configure_mesh().disable_mesh().x_desc("x").y_desc("y").label_style(("sans-serif", 14)).draw()?;
        for (k, p) in paths.iter().enumerate() {
            let color = PATH_COLORS[k % PATH_COLORS.len()];
            let style = ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: 2 };
            let label = format!("{} (loss {:.2e} after {} steps)", p.label, p.final_loss, p.points.len() - 1);
            let inside = p.points.iter().copied().filter(|&(x, y)| x >= xs.0 && x <= xs.1 && y >= ys.0 && y <= ys.1);
            chart
                .draw_series(LineSeries::new(inside, style))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            let end = *p.points.last().expect("a path has its start");
            chart.draw_series([Circle::new(end, 5, color.filled())])?;
        }
        chart.draw_series([Cross::new((1.0, 1.0), 8, WHITE.stroke_width(3))])?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
        Ok(())
    };
    write_via_temporary(path, "png", "draw the landscape", |tmp| draw(tmp).map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Sgd;

    #[test]
    fn the_valley_and_its_gradient_match_the_formula() {
        // by hand: ∂f/∂x = −2(1 − x) − 40x(y − x²), ∂f/∂y = 20(y − x²)
        let (x, y) = (-1.2f64, 1.0f64);
        let w = Tensor::from_vec(vec![x as f32, y as f32], [2]).requires_grad_();
        let f = valley(&w);
        assert!((f.item() as f64 - valley_f64(x, y)).abs() < 1e-5, "f {} vs {}", f.item(), valley_f64(x, y));
        f.backward();
        let g = w.grad().unwrap().to_vec();
        let want = [-2.0 * (1.0 - x) - 40.0 * x * (y - x * x), 20.0 * (y - x * x)];
        for (got, want) in g.iter().zip(want) {
            assert!((*got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()), "gradient {g:?} vs {want:?}");
        }
        assert_eq!(valley_f64(1.0, 1.0), 0.0, "the minimum");
    }

    #[test]
    fn a_path_is_the_optimizers_steps() {
        // one SGD step from (−1.2, 1) is w − lr·∇f (the formula above)
        let p = solver_path("sgd", (-1.2, 1.0), 1, |w| Box::new(Sgd::new(w, 0.01)));
        let (x, y) = (-1.2f64, 1.0f64);
        let g = [-2.0 * (1.0 - x) - 40.0 * x * (y - x * x), 20.0 * (y - x * x)];
        let (nx, ny) = p.points[1];
        assert!((nx - (x - 0.01 * g[0])).abs() < 1e-5 && (ny - (y - 0.01 * g[1])).abs() < 1e-5, "{:?}", p.points);
        assert_eq!(p.points.len(), 2);
        // the final loss by the valley's formula f = (1 − x)² + 10(y − x²)², written out here
        let want = (1.0 - nx).powi(2) + 10.0 * (ny - nx * nx).powi(2);
        assert!((p.final_loss - want).abs() < 1e-9 * (1.0 + want), "{} vs {want}", p.final_loss);
    }

    #[test]
    fn an_lbfgs_path_takes_one_gradient_per_step() {
        // L-BFGS's first iteration is a gradient step of length t = min(1, 1/‖g‖₁)·lr
        // (torch.optim.LBFGS's rule, the gradient's scale being unknown then)
        let p = lbfgs_path("l-bfgs", (-1.2, 1.0), 1, 1.0);
        let (x, y) = (-1.2f64, 1.0f64);
        let g = [-2.0 * (1.0 - x) - 40.0 * x * (y - x * x), 20.0 * (y - x * x)];
        let t = (1.0f64).min(1.0 / (g[0].abs() + g[1].abs()));
        let (nx, ny) = p.points[1];
        assert!((nx - (x - t * g[0])).abs() < 1e-5 && (ny - (y - t * g[1])).abs() < 1e-5, "{:?}", p.points);
        assert_eq!(lbfgs_path("l-bfgs", (-1.2, 1.0), 7, 1.0).points.len(), 8, "a point per step");
    }

    #[test]
    fn the_figure_is_a_png() {
        let dir = std::env::temp_dir().join(format!("gradschool-landscape-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("landscape.png");
        let p = solver_path("sgd", (-1.2, 1.0), 20, |w| Box::new(Sgd::new(w, 0.005)));
        draw_landscape(&out, (-2.0, 2.0), (-1.0, 3.0), &[p]).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
