//! GPT-2: the Hugging Face-compatible model, its configuration, and loading/saving.

mod check;
mod config;
mod generate;
mod load;
mod model;
mod tokenizer;

pub use check::{check_against_reference, CheckLine};
pub use config::Gpt2Config;
pub use generate::{sample, Sampling};
pub use model::{Block, Conv1D, Gpt2, KvCache, LayerCache, Lora};
pub use tokenizer::{copy_tokenizer, Gpt2Tokenizer, EOS_ID};
