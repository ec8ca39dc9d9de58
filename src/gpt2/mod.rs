//! GPT-2: the Hugging Face-compatible model, its configuration, and loading/saving.

mod check;
mod config;
mod generate;
mod load;
mod model;
mod quantized;
#[cfg(feature = "cli")]
mod tokenizer;

pub use check::{check_against_reference, CheckLine};
pub use config::Gpt2Config;
pub use generate::{sample, Sampling};
pub use model::{Block, Conv1D, Gpt2, KvCache, LayerCache, Lora};
pub use quantized::{parse_quant_kind, QuantSummary, QUANT_FILE, QUANT_KEY};
#[cfg(feature = "cli")]
pub use tokenizer::{chunks, copy_tokenizer, Gpt2Tokenizer, CHUNK_BYTES};

/// GPT-2's end-of-text token `<|endoftext|>`, the last of its 50,257 ids.
pub const EOS_ID: u32 = 50256;
