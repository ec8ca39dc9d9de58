//! `gradschool demo`: a 1-32-32-1 tanh MLP fits sin(x) on [−π, π] with plain gradient descent,
//! written out by hand: forward, loss, backward, w ← w − lr·∂L/∂w. With `--no-activation` the
//! same layers can only fit a line.

use clap::Args;
use gradschool::nn::functional::mse_loss;
use gradschool::nn::init::{kaiming_uniform, FanMode, Nonlinearity};
use gradschool::{manual_seed, no_grad, Device, Reduction, Result, Tensor};

/// Flags of `gradschool demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Gradient-descent steps.
    #[arg(long, default_value_t = 2000, value_parser = super::args::at_least_one)]
    steps: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1, value_parser = super::args::positive_f32)]
    lr: f32,
    /// Random seed for the initial weights.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Leave out the tanh activations: the three layers then collapse into one linear map and
    /// can only fit a straight line (chapter 2).
    #[arg(long)]
    no_activation: bool,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = super::args::device)]
    device: Device,
}

/// A weight `(in, out)` with PyTorch's Linear initialisation, and a zero bias, on `device`.
fn layer(fan_in: usize, fan_out: usize, rng: &mut rand::rngs::StdRng, device: &Device) -> Result<(Tensor, Tensor)> {
    let w = kaiming_uniform(&[fan_out, fan_in], FanMode::FanIn, Nonlinearity::LeakyRelu(5f32.sqrt()), rng);
    let (w, b) = (w.t().detach().requires_grad_(), Tensor::zeros([fan_out]).requires_grad_());
    w.to_device_(device)?;
    b.to_device_(device)?;
    Ok((w, b))
}

/// Trains and prints the loss curve; returns an error for invalid flags.
pub fn run(args: &DemoArgs) -> Result<()> {
    let device = args.device;

    let mut rng = manual_seed(args.seed);
    let x = Tensor::linspace(-std::f32::consts::PI, std::f32::consts::PI, 256).reshape([256, 1]); // (N, 1)
    let y = x.with_data(|d| Tensor::from_vec(d.iter().map(|v| v.sin()).collect(), [256, 1])); // (N, 1)
    let (x, y) = (x.to(&device)?, y.to(&device)?);
    let layers =
        [layer(1, 32, &mut rng, &device)?, layer(32, 32, &mut rng, &device)?, layer(32, 1, &mut rng, &device)?];

    let mut loss_value = f32::NAN;
    // ANCHOR: demo_loop
    for step in 0..=args.steps {
        // forward: h = tanh(x·W1 + b1), h = tanh(h·W2 + b2), ŷ = h·W3 + b3
        let mut h = x.clone();
        for (i, (w, b)) in layers.iter().enumerate() {
            h = h.matmul(w) + b;
            if i + 1 < layers.len() && !args.no_activation {
                h = h.tanh();
            }
        }
        let loss = mse_loss(&h, &y, Reduction::Mean);
        loss_value = loss.item();
        if step % (args.steps / 10).max(1) == 0 {
            gradschool::say!("step {step:>6}  loss {loss_value:.6}");
        }
        if step == args.steps {
            break;
        }
        loss.backward();
        let _guard = no_grad();
        for (w, b) in &layers {
            for p in [w, b] {
                let grad = p.grad().expect("every parameter takes part in the loss");
                p.set_data(&(p - &(grad * args.lr)));
                p.zero_grad();
            }
        }
    }
    // ANCHOR_END: demo_loop
    gradschool::say!("final_loss={loss_value:.6}");
    Ok(())
}
