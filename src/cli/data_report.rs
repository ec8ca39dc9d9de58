//! `gradschool data-report`: the checks to run on a text-classification dataset before training
//! on it (chapter 12), printed, with a token-length histogram PNG.

use clap::Args;
use gradschool::data::report::{analyze, invalid_utf8_lines, DataReport, Splits};
use gradschool::data::sentiment::load_rotten_tomatoes;
use gradschool::data::text::{load_examples, Example};
use gradschool::gpt2::Gpt2Tokenizer;
use gradschool::train::{plot_panels, Panel, Series};
use gradschool::{Error, Result};
use std::path::PathBuf;

/// Flags of `gradschool data-report`.
#[derive(Args, Debug)]
pub struct DataReportArgs {
    /// The Rotten Tomatoes folder (rt-polarity.pos / .neg), split as Hugging Face does.
    #[arg(long, conflicts_with = "data", required_unless_present = "data")]
    rt_polarity: Option<PathBuf>,
    /// CSV, TSV or JSONL files with `text` and `label` (one split each, named by the file).
    #[arg(long)]
    data: Vec<PathBuf>,
    /// GPT-2 tokenizer directory (vocab.json + merges.txt, or tokenizer.json).
    #[arg(long)]
    tokenizer: PathBuf,
    /// MAX_LEN of the course's processing: tokens + EOS + label.
    #[arg(long, default_value_t = 32, value_parser = super::args::at_least_one)]
    max_len: usize,
    /// Report texts with fewer tokens than this.
    #[arg(long, default_value_t = 3)]
    min_tokens: usize,
    /// The token-length histogram.
    #[arg(short, long, default_value = "token-lengths.png")]
    output: PathBuf,
}

/// The splits to analyse, and what the raw files say about their encoding.
fn load(args: &DataReportArgs) -> Result<(Splits, Vec<String>)> {
    let to_examples = |v: Vec<gradschool::data::sentiment::Review>| -> Vec<Example> {
        let names = ["neg", "pos"];
        v.into_iter().map(|r| Example { text: r.text, label: names[r.label].to_string() }).collect()
    };
    if let Some(dir) = &args.rt_polarity {
        let rt = load_rotten_tomatoes(dir)?;
        let mut notes = Vec::new();
        for name in ["rt-polarity.pos", "rt-polarity.neg"] {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let bad = invalid_utf8_lines(&bytes);
            notes.push(format!(
                "{name}: {bad} of {} lines are not valid UTF-8 (the files are Latin-1; read as UTF-8 those lines would \
                 lose their accented characters)",
                bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count()
            ));
        }
        let splits = vec![
            ("train".to_string(), to_examples(rt.train)),
            ("validation".to_string(), to_examples(rt.validation)),
            ("test".to_string(), to_examples(rt.test)),
        ];
        return Ok((splits, notes));
    }
    let mut splits = Vec::new();
    for path in &args.data {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        splits.push((name, load_examples(path)?));
    }
    Ok((splits, Vec::new()))
}

/// The histogram: examples per token count, per split, and the longest text kept whole.
fn plot(report: &DataReport, args: &DataReportArgs) -> Result<()> {
    let mut series = Vec::new();
    let mut top = 0usize;
    for r in &report.splits {
        let max = r.token_lengths.iter().copied().max().unwrap_or(0);
        let mut counts = vec![0usize; max + 1];
        r.token_lengths.iter().for_each(|&n| counts[n] += 1);
        top = top.max(counts.iter().copied().max().unwrap_or(0));
        let points = counts.iter().enumerate().map(|(n, &c)| (n as f64, c as f64)).collect();
        series.push(Series { label: r.name.clone(), points });
    }
    let kept = report.max_len.saturating_sub(2) as f64;
    series.push(Series {
        label: format!("MAX_LEN − 2 = {kept}: longer texts lose their beginning"),
        points: vec![(kept, 0.0), (kept, top as f64)],
    });
    let panel = Panel {
        title: format!("GPT-2 tokens per text (MAX_LEN {})", report.max_len),
        x_label: "tokens".into(),
        y_label: "texts".into(),
        series,
    };
    plot_panels(&args.output, &[panel], (1000, 500))
}

/// Loads, analyses, prints the report and draws the histogram.
pub fn run(args: &DataReportArgs) -> Result<()> {
    super::args::image_output(&args.output, &["png"])?;
    let tok = Gpt2Tokenizer::from_dir(&args.tokenizer)?;
    let (splits, notes) = load(args)?;
    let mut count = |t: &str| tok.encode(t).map(|ids| ids.len());
    let report = analyze(&splits, &mut count, args.max_len, args.min_tokens)?;
    gradschool::say!("{}", report.to_string().trim_end());
    for n in notes {
        gradschool::say!("{n}");
    }
    plot(&report, args)?;
    gradschool::say!("wrote {}", args.output.display());
    Ok(())
}
