//! `gradschool graph`: one training step's autograd graph drawn to PNG/SVG (and as Graphviz
//! DOT text), for the autograd chapter: every tensor with its op, shape and gradient shape.

use clap::{Args, ValueEnum};
use gradschool::autograd::Graph;
use gradschool::models::FeedForwardNet;
use gradschool::nn::functional::{mse_loss, nll_loss};
use gradschool::nn::{Forward, Linear, Module};
use gradschool::{manual_seed, IntTensor, Reduction, Result, Tensor};
use std::path::PathBuf;

/// Which model's graph to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphModel {
    /// One neuron, y = relu(x·w + b), with an MSE loss (chapter 2).
    Neuron,
    /// The demo's 1-32-32-1 tanh MLP on a batch of 8, MSE loss.
    Mlp,
    /// The course's MNIST network on a batch of 4, NLL loss (chapter 8).
    Mnist,
}

/// Flags of `gradschool graph`.
#[derive(Args, Debug)]
pub struct GraphArgs {
    /// The model.
    #[arg(long, value_enum, default_value_t = GraphModel::Neuron)]
    model: GraphModel,
    /// The picture: `.svg` for SVG, anything else PNG.
    #[arg(short, long, default_value = "graph.png")]
    output: PathBuf,
    /// Also write the graph as Graphviz DOT text here (`dot -Tsvg graph.dot`).
    #[arg(long)]
    dot: Option<PathBuf>,
}

/// The loss of one step of `model`, and the model's named parameters.
fn one_step(model: GraphModel) -> (Tensor, Vec<(String, Tensor)>) {
    let mut rng = manual_seed(0);
    match model {
        GraphModel::Neuron => {
            let x = Tensor::randn([4, 3], &mut rng); // (B, 3)
            let neuron = Linear::new(3, 1, &mut rng);
            let y = Tensor::randn([4, 1], &mut rng);
            let loss = mse_loss(&neuron.forward(&x).relu(), &y, Reduction::Mean);
            (loss, neuron.named_parameters())
        }
        GraphModel::Mlp => {
            let layers = [Linear::new(1, 32, &mut rng), Linear::new(32, 32, &mut rng), Linear::new(32, 1, &mut rng)];
            let x = Tensor::randn([8, 1], &mut rng);
            let h = layers[1].forward(&layers[0].forward(&x).tanh()).tanh();
            let target = x.with_data(|d| Tensor::from_vec(d.iter().map(|v| v.sin()).collect(), [8, 1])); // sin(x)
            let loss = mse_loss(&layers[2].forward(&h), &target, Reduction::Mean);
            let named = layers
                .iter()
                .enumerate()
                .flat_map(|(i, l)| gradschool::nn::prefixed(&format!("fc{}", i + 1), l.named_parameters()));
            (loss, named.collect())
        }
        GraphModel::Mnist => {
            let net = FeedForwardNet::new(&mut rng);
            let x = Tensor::randn([4, 1, 28, 28], &mut rng);
            let y = IntTensor::from_vec(vec![3, 1, 4, 1], [4]);
            (nll_loss(&net.forward(&x), &y), net.named_parameters())
        }
    }
}

/// Runs one forward and backward pass and draws the graph.
pub fn run(args: &GraphArgs) -> Result<()> {
    super::args::image_output(&args.output, &["png", "svg"])?;
    let (loss, named) = one_step(args.model);
    let mut graph = Graph::capture(&loss);
    graph.name(&named);
    loss.backward();
    graph.refresh_grads();
    if let Some(path) = &args.dot {
        gradschool::io::write_atomic(path, graph.to_dot().as_bytes())?;
    }
    gradschool::train::draw_graph(&graph, &args.output)?;
    gradschool::say!("{} tensors, loss {:.4}: wrote {}", graph.nodes.len(), loss.item(), args.output.display());
    Ok(())
}
