//! `gradschool landscape`: six solvers crossing a curved valley, drawn over the loss surface
//! (chapter 6's figure), with each solver's final loss printed.

use clap::Args;
use gradschool::optim::{Adam, Optimizer, RmsProp, Rprop, Sgd};
use gradschool::train::landscape::{draw_landscape, lbfgs_path, solver_path};
use gradschool::Result;
use std::path::PathBuf;

/// Flags of `gradschool landscape`.
#[derive(Args, Debug)]
pub struct LandscapeArgs {
    /// Steps each solver takes.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    steps: u32,
    /// The picture (PNG).
    #[arg(short, long, default_value = "landscape.png")]
    output: PathBuf,
}

const RPROP_LR: f64 = 0.01;
const LBFGS_LR: f32 = 1.0;

/// Runs the six solvers from (−1.2, 1.0) and draws their paths.
pub fn run(args: &LandscapeArgs) -> Result<()> {
    super::args::image_output(&args.output, &["png"])?;
    let (start, steps) = ((-1.2, 1.0), args.steps as usize);
    // each with a learning rate that is stable at the start, where the valley is steepest
    let paths = vec![
        solver_path("SGD, lr 0.004", start, steps, |w| Box::new(Sgd::new(w, 0.004)) as Box<dyn Optimizer>),
        solver_path("SGD + momentum 0.9, lr 0.0015", start, steps, |w| Box::new(Sgd::new(w, 0.0015).momentum(0.9))),
        solver_path("RMSprop, lr 0.01", start, steps, |w| Box::new(RmsProp::new(w, 0.01))),
        solver_path("Adam, lr 0.05", start, steps, |w| Box::new(Adam::new(w, 0.05))),
        solver_path(&format!("Rprop, lr {RPROP_LR}"), start, steps, |w| Box::new(Rprop::new(w, RPROP_LR))),
        lbfgs_path(&format!("L-BFGS, lr {LBFGS_LR}"), start, steps, LBFGS_LR),
    ];
    for p in &paths {
        let (x, y) = *p.points.last().expect("a path has its start");
        gradschool::say!("{:<32} ends at ({x:.4}, {y:.4}), loss {:.3e}", p.label, p.final_loss);
    }
    draw_landscape(&args.output, (-2.0, 2.0), (-1.0, 3.0), &paths)?;
    gradschool::say!("wrote {}", args.output.display());
    Ok(())
}
