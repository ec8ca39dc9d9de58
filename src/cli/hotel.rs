//! The hotel-booking capstone's commands: `hotel-data` (make the dialogues from the database),
//! `hotel-sft` (fine-tune on them) and `hotel-bot` (talk to the result).

use super::args::{at_least_one, device, positive_f64, precision};
use clap::Args;
use gradschool::amp::Precision;
use gradschool::data::hotel::{load_hotels, make_dialogues, save_dialogues, serialise, Hotel, Turn};
use gradschool::gpt2::{Gpt2, Gpt2Tokenizer, EOS_ID};
use gradschool::io::write_atomic;
use gradschool::nn::Module;
use gradschool::train::hotel::{respond, train_hotel, Assistant, HotelConfig};
use gradschool::{manual_seed, Device, Error, Result};
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

/// Flags of `gradschool hotel-data`.
#[derive(Args, Debug)]
pub struct HotelDataArgs {
    /// The hotel database (a JSON array; ../shared/data/hotel/hotel.json).
    #[arg(long)]
    hotels: PathBuf,
    /// Where train.jsonl, valid.jsonl and corpus.txt go.
    #[arg(long, default_value = "data/hotel")]
    out_dir: PathBuf,
    /// Training dialogues.
    #[arg(long, default_value_t = 2000, value_parser = at_least_one)]
    train: usize,
    /// Held-out dialogues.
    #[arg(long, default_value_t = 200, value_parser = at_least_one)]
    valid: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// A GPT-2 tokenizer directory: also report what the dialogues cost in tokens.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
}

/// One hotel as a sentence of the domain corpus (the text a base model is pretrained on here,
/// standing in for the Chinese a real base model already knows).
fn describe(h: &Hotel) -> String {
    let price = h.price.map_or("价格未知".to_string(), |p| format!("每晚{p}元"));
    format!(
        "{}是一家{}酒店，位于{}，最近的地铁站是{}，电话{}，{}，评分{}。酒店提供{}。\n",
        h.name,
        h.kind,
        h.address,
        h.subway,
        h.phone,
        price,
        h.rating,
        h.facilities.join("、")
    )
}

/// `gradschool hotel-data`.
pub fn run_data(a: &HotelDataArgs) -> Result<()> {
    let hotels = load_hotels(&a.hotels)?;
    let all = make_dialogues(&hotels, a.train + a.valid, &mut manual_seed(a.seed));
    if all.len() < a.train + a.valid {
        return Err(Error::Config(format!(
            "only {} distinct dialogues could be made from {} hotels; ask for fewer",
            all.len(),
            hotels.len()
        )));
    }
    let (train, valid) = all.split_at(a.train);
    std::fs::create_dir_all(&a.out_dir).map_err(|e| Error::io(&a.out_dir, e))?;
    save_dialogues(&a.out_dir.join("train.jsonl"), train)?;
    save_dialogues(&a.out_dir.join("valid.jsonl"), valid)?;
    let corpus: String = hotels.iter().map(describe).collect();
    write_atomic(&a.out_dir.join("corpus.txt"), corpus.as_bytes())?;
    gradschool::say!(
        "{} hotels → {} training and {} held-out dialogues (distinct opening requests) and a {}-character corpus in {}",
        hotels.len(),
        train.len(),
        valid.len(),
        corpus.chars().count(),
        a.out_dir.display()
    );
    if let Some(dir) = &a.tokenizer {
        let tok = Gpt2Tokenizer::from_dir(dir)?;
        print_token_cost(&tok, train)?;
    }
    Ok(())
}

/// What the dialogues cost through GPT-2's byte-level BPE.
fn print_token_cost(tok: &Gpt2Tokenizer, dialogues: &[Vec<Turn>]) -> Result<()> {
    let (mut han, mut han_tokens) = (0usize, 0usize);
    let mut lengths = Vec::new();
    for d in dialogues {
        for t in d {
            if let Turn::User { content } | Turn::Assistant { content } = t {
                han += content.chars().filter(|c| !c.is_ascii()).count();
                han_tokens += tok.encode(&content.chars().filter(|c| !c.is_ascii()).collect::<String>())?.len();
            }
        }
        lengths.push(serialise(d, &mut |s| tok.encode(s), EOS_ID)?.0.len());
    }
    lengths.sort_unstable();
    let mean = lengths.iter().sum::<usize>() as f64 / lengths.len().max(1) as f64;
    gradschool::say!(
        "GPT-2 BPE: {han} Chinese characters of the user and assistant turns → {han_tokens} tokens ({:.2} per character; an English word is ~1.3)",
        han_tokens as f64 / han.max(1) as f64
    );
    let pct = |q: f64| lengths[((lengths.len() - 1) as f64 * q) as usize];
    gradschool::say!(
        "tokens per serialised dialogue: mean {mean:.0}, median {}, 95th percentile {}, max {}",
        pct(0.5),
        pct(0.95),
        lengths.last().copied().unwrap_or(0)
    );
    Ok(())
}

/// Flags of `gradschool hotel-sft`.
#[derive(Args, Debug)]
pub struct HotelSftArgs {
    /// The GPT-2 directory to fine-tune.
    #[arg(long)]
    model_dir: PathBuf,
    /// Tokenizer directory (default: the model's).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// train.jsonl and valid.jsonl, from `gradschool hotel-data`.
    #[arg(long, default_value = "data/hotel")]
    data_dir: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "runs/hotel")]
    out_dir: PathBuf,
    /// Tokens per dialogue at most.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    max_len: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = positive_f64)]
    lr: f64,
    /// Dialogues per batch.
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    batch_size: usize,
    /// Epochs.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    epochs: usize,
    /// Evaluate and save every N steps.
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    eval_every: usize,
    /// Held-out dialogues generated on at each evaluation (the final one uses all).
    #[arg(long, default_value_t = 40, value_parser = at_least_one)]
    eval_dialogues: usize,
    /// Warmup steps.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    lora: super::gpt2_train::LoraArgs,
    /// Full fine-tuning with the token and position embeddings (and so the tied output head)
    /// frozen: what LoRA leaves frozen besides the layers it adapts.
    #[arg(long, conflicts_with = "lora_r")]
    freeze_embeddings: bool,
    /// Recompute each block's activations in the backward pass.
    #[arg(long)]
    gradient_checkpointing: bool,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = device)]
    device: Device,
    /// Continue from the checkpoint in --out-dir.
    /// Batches per optimizer step: their gradients are summed, as one batch of N × --batch-size
    /// (under mpirun, each rank takes N of them).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    grad_accum: usize,
    /// ZeRO stage 1 under mpirun (`--zero 1`): optimizer state sharded across ranks, the
    /// same result with less memory per rank.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    zero: u8,
    /// Matrix products in bf16 or fp16 (f32 master weights; fp16 adds a dynamic loss scaler).
    #[arg(long, default_value = "f32", value_parser = precision)]
    precision: Precision,
    #[command(flatten)]
    pub(super) profile: super::args::ProfileArgs,
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Start a new run in an --out-dir that holds one, deleting its checkpoint, metrics.csv and
    /// loss.png (without this or --resume such a folder is refused).
    #[arg(long)]
    overwrite: bool,
}

/// `gradschool hotel-sft`.
pub fn run_sft(a: &HotelSftArgs) -> Result<()> {
    let cfg = HotelConfig {
        tokenizer_dir: a.tokenizer.clone(),
        out_dir: a.out_dir.clone(),
        max_len: a.max_len,
        lr: a.lr,
        batch_size: a.batch_size,
        epochs: a.epochs,
        eval_every: a.eval_every,
        eval_dialogues: a.eval_dialogues,
        seed: a.seed,
        warmup: a.warmup,
        lora: a.lora.config(),
        lora_train_ln_f: a.lora.train_ln_f(),
        freeze_embeddings: a.freeze_embeddings,
        gradient_checkpointing: a.gradient_checkpointing,
        device: a.device,
        grad_accum: a.grad_accum,
        zero: a.zero == 1,
        precision: a.precision,
        resume: a.resume,
        overwrite: a.overwrite,
        progress: std::io::stderr().is_terminal(),
        ..HotelConfig::new(a.model_dir.clone(), a.data_dir.clone())
    };
    let r = train_hotel(&cfg)?;
    let m = r.metrics;
    let v = m.values();
    gradschool::say!(
        "held out: {} searches, {} replies: JSON valid {:.3}, search exact {:.3}, slot F1 {:.3}, reply exact {:.3}, reply grounded {:.3}",
        m.slots.searches, m.replies, v[0], v[1], v[2], v[3], v[4]
    );
    gradschool::say!("wrote {0}/metrics.csv, {0}/loss.png, {0}/eval.json, {0}/final/", a.out_dir.display());
    Ok(())
}

/// Flags of `gradschool hotel-bot`.
#[derive(Args, Debug)]
pub struct HotelBotArgs {
    /// The fine-tuned model (hotel-sft's final/).
    #[arg(long)]
    model_dir: PathBuf,
    /// Tokenizer directory (default: the model's).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// The hotel database the searches run on.
    #[arg(long)]
    hotels: PathBuf,
    /// Most tokens the model may write per turn.
    #[arg(long, default_value_t = 96, value_parser = at_least_one)]
    max_turn_tokens: usize,
}

/// `gradschool hotel-bot`: one user turn per line of standard input; prints the model's search,
/// the program's return and the model's reply (and, when standard input is not a terminal, each
/// request, so the output is a transcript).
pub fn run_bot(a: &HotelBotArgs) -> Result<()> {
    let hotels = load_hotels(&a.hotels)?;
    let mut model = Gpt2::from_dir(&a.model_dir)?;
    model.set_training(false);
    let tok = Gpt2Tokenizer::from_dir(a.tokenizer.as_deref().unwrap_or(Path::new(&a.model_dir)))?;
    tok.fits(model.config.vocab_size)?;
    if a.max_turn_tokens >= model.config.n_positions {
        return Err(Error::Config(format!(
            "--max-turn-tokens {} leaves no room for the dialogue in the model's {} positions",
            a.max_turn_tokens, model.config.n_positions
        )));
    }
    let assistant = Assistant { model: &model, tok: &tok, max_turn_tokens: a.max_turn_tokens };
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        gradschool::warn!(
            "hotel-bot: type a request (e.g. 我要找一家舒适型酒店，需要暖气), an empty line or Ctrl-D to stop"
        );
    }
    let mut history = Vec::new();
    let stdin = std::io::stdin();
    loop {
        if interactive {
            eprint!("user> ");
        }
        let mut bytes = Vec::new();
        if stdin.lock().read_until(b'\n', &mut bytes).map_err(|e| Error::io("<stdin>", e))? == 0 {
            break;
        }
        // A line the model cannot take is refused and the conversation goes on.
        let Ok(line) = String::from_utf8(bytes) else {
            gradschool::warn!("hotel-bot: that line is not UTF-8 text; it was skipped, type it again");
            continue;
        };
        if line.trim().is_empty() {
            break;
        }
        let before = history.clone();
        history.push(Turn::User { content: line.trim().to_string() });
        let turns = match respond(&assistant, &hotels, &mut history) {
            Ok(turns) => turns,
            Err(e) => {
                history = before;
                gradschool::warn!("hotel-bot: {e}; that line was skipped, the conversation goes on");
                continue;
            }
        };
        if !interactive {
            // a transcript: the request too, as the dialogue files show it
            gradschool::say!("user:{}", line.trim());
        }
        for t in turns {
            gradschool::say!("{}:{}", t.role(), t.body());
        }
    }
    Ok(())
}
