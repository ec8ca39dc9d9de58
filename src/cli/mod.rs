//! Command-line interface (clap). Each subcommand validates its flags before any tensor code
//! runs, so a user mistake is a one-line error, never a panic.

mod args;
mod attention;
mod check_gpt2;
mod data_report;
mod demo;
mod diagram;
mod download;
mod generate;
mod gpt2_train;
mod graph;
mod hotel;
mod landscape;
mod launch;
mod memory;
mod mnist;
mod plot;
mod quantize;
#[cfg(feature = "serve")]
mod serve;
mod tokenize;

use clap::{Parser, Subcommand};
use gradschool::Result;

/// gradschool: learn how training really works, from one neuron to GPT-2.
#[derive(Parser, Debug)]
#[command(name = "gradschool", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fit y = sin(x) with a small MLP and hand-written gradient descent (a first look at the
    /// autograd).
    Demo(demo::DemoArgs),
    /// Train the course's MNIST network (784-256-128-64-10, ReLU, dropout 0.2, log_softmax):
    /// progress, metrics.csv, loss.png, model.safetensors, checkpoints, --resume.
    Mnist(mnist::MnistArgs),
    /// Draw six solvers (SGD, momentum, RMSprop, Adam, Rprop, L-BFGS) crossing a curved valley, over the loss
    /// surface, to PNG.
    Landscape(landscape::LandscapeArgs),
    /// Draw one layer's attention maps for a text, one heat map per head, to PNG.
    Attention(attention::AttentionArgs),
    /// Draw one of the book's diagrams (neuron, network, lora) from the real sizes, to PNG.
    Diagram(diagram::DiagramArgs),
    /// Draw one training step's autograd graph (op, shape and gradient shape of every tensor)
    /// to PNG or SVG, and optionally as Graphviz DOT text.
    Graph(graph::GraphArgs),
    /// Overlay the curves of several metrics.csv files in one PNG.
    Plot(plot::PlotArgs),
    /// Check a text-classification dataset before training: label balance, duplicates,
    /// leakage between splits, encoding, token lengths against MAX_LEN (and a histogram PNG).
    DataReport(data_report::DataReportArgs),
    /// Download a data set's official files (progress bar, MD5 verification).
    Download(download::DownloadArgs),
    /// Show the GPT-2 token ids and pieces of a text.
    Tokenize(tokenize::TokenizeArgs),
    /// Compare a Hugging Face GPT-2 directory with reference logits, loss and gradients.
    CheckGpt2(check_gpt2::CheckGpt2Args),
    /// Continue a prompt with a GPT-2 (greedy, temperature, top-k, top-p; KV cache).
    Generate(generate::GenerateArgs),
    /// Train a small GPT-2-shaped model from scratch on local text (no download needed).
    Pretrain(gpt2_train::PretrainArgs),
    /// The course's sentiment fine-tuning of a GPT-2 on Rotten Tomatoes.
    Sentiment(gpt2_train::SentimentArgs),
    /// The same recipe on your own labelled texts (CSV, TSV or JSONL with `text` and `label`):
    /// each label's first token after EOS, every other position −100.
    Classify(gpt2_train::ClassifyArgs),
    /// Fine-tune at every point of a hyper-parameter grid (--sweep-lr, --sweep-batch-size,
    /// --sweep-warmup, --sweep-lora-r, --sweep-lora-alpha, --sweep-lora-dropout): one CSV and one comparison PNG.
    Sweep(gpt2_train::SweepArgs),
    /// Make the hotel-booking capstone's dialogues (user / search / return / assistant) from
    /// the hotel database: train.jsonl, valid.jsonl and a domain corpus.
    HotelData(hotel::HotelDataArgs),
    /// Fine-tune a GPT-2 into the hotel-booking assistant (labels only on its search calls and
    /// replies); evaluates JSON validity, slot F1 and grounded replies on held-out dialogues.
    HotelSft(hotel::HotelSftArgs),
    /// Talk to the fine-tuned assistant: it writes a search, the program queries the database,
    /// it writes the reply from the records.
    HotelBot(hotel::HotelBotArgs),
    /// The course's pages in a browser (http://127.0.0.1:6006): the hotel assistant, a
    /// generation playground that streams tokens, and the training runs as live charts.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
    /// Where the bytes of one fine-tuning step go (weights, gradients, AdamW state, activations),
    /// counted, then measured on a real step.
    Memory(memory::MemoryArgs),
    /// Store a GPT-2's linear weights in NF4 or int8 (QLoRA's base): a folder generate,
    /// hotel-bot and the fine-tuning commands load; --eval-text measures the perplexity change.
    Quantize(quantize::QuantizeArgs),
    /// Run a training command data-parallel on N ranks (mpirun with this machine's flags; needs
    /// the `distributed` feature): `gradschool launch -n 2 mnist --batch-size 32`.
    Launch(launch::LaunchArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    let trains = matches!(
        cli.command,
        Command::Mnist(_)
            | Command::Pretrain(_)
            | Command::Sentiment(_)
            | Command::Classify(_)
            | Command::Sweep(_)
            | Command::HotelSft(_)
    );
    if trains {
        // Ctrl-C and SIGTERM stop a training run at the next step, with a checkpoint.
        if let Err(e) = gradschool::train::stop_at_step_boundary_on_signals() {
            gradschool::warn!("warning: {e}; Ctrl-C will end training without a checkpoint");
        }
    }
    let data_parallel = matches!(
        cli.command,
        Command::Mnist(_) | Command::Sentiment(_) | Command::Classify(_) | Command::Pretrain(_) | Command::HotelSft(_)
    );
    let world = gradschool::distributed::world();
    if world.size() > 1 && !data_parallel {
        return Err(gradschool::Error::Config(format!(
            "this command runs in one process only; under mpirun ({} ranks) only mnist, pretrain, sentiment, \
             classify and hotel-sft train data-parallel",
            world.size()
        )));
    }
    // --profile on a training command: record steps 2 ..= 1 + N (step 1 warms up), on rank 0
    let profile = match &cli.command {
        Command::Mnist(a) => Some(&a.profile),
        Command::Pretrain(a) => Some(&a.profile),
        Command::Sentiment(a) => Some(&a.common.profile),
        Command::Classify(a) => Some(&a.common.profile),
        Command::HotelSft(a) => Some(&a.profile),
        _ => None,
    }
    .and_then(|p| p.profile.clone().map(|path| (path, p.profile_steps)))
    .filter(|_| gradschool::distributed::is_leader());
    if let Some((path, steps)) = &profile {
        args::trace_output(path)?;
        gradschool::profiler::record_steps(2, *steps);
    }
    let result = run_command(cli.command);
    if let (Some((path, _)), Ok(())) = (&profile, &result) {
        write_profile(path)?;
    }
    result
}

/// Writes the profiler's trace to `path` and prints its table.
pub(super) fn write_profile(path: &std::path::Path) -> Result<()> {
    let (profile, trace) = gradschool::profiler::finish(gradschool::ops::matmul::measured_cpu_peak_gflops());
    gradschool::io::write_atomic(path, trace.as_bytes())?;
    gradschool::say!("\nprofile ({}):\n{}", path.display(), profile.table(25));
    gradschool::say!("wrote the trace to {} (open it in https://ui.perfetto.dev or chrome://tracing)", path.display());
    Ok(())
}

fn run_command(command: Command) -> Result<()> {
    match command {
        Command::Demo(args) => demo::run(&args),
        Command::Mnist(args) => mnist::run(&args),
        Command::Landscape(args) => landscape::run(&args),
        Command::Attention(args) => attention::run(&args),
        Command::Diagram(args) => diagram::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Plot(args) => plot::run(&args),
        Command::DataReport(args) => data_report::run(&args),
        Command::Download(args) => download::run(&args),
        Command::Tokenize(args) => tokenize::run(&args),
        Command::CheckGpt2(args) => check_gpt2::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Pretrain(args) => gpt2_train::run_pretrain(&args),
        Command::Sentiment(args) => gpt2_train::run_sentiment(&args),
        Command::Classify(args) => gpt2_train::run_classify(&args),
        Command::Sweep(args) => gpt2_train::run_sweep(&args),
        Command::HotelData(args) => hotel::run_data(&args),
        Command::HotelSft(args) => hotel::run_sft(&args),
        Command::HotelBot(args) => hotel::run_bot(&args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(&args),
        Command::Launch(args) => launch::run(&args),
        Command::Quantize(args) => quantize::run(&args),
        Command::Memory(args) => memory::run(&args),
    }
}
