//! GPT-2's byte-level BPE tokenizer, through the `tokenizers` crate: from a Hugging Face
//! `tokenizer.json`, or from `vocab.json` + `merges.txt` as OpenAI published them.

use crate::error::{Error, Result};
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// A GPT-2 tokenizer.
pub struct Gpt2Tokenizer {
    inner: Tokenizer,
}

fn tok_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(path, format!("tokenizer: {e}"))
}

impl Gpt2Tokenizer {
    /// Loads `dir/tokenizer.json` if present, else `dir/vocab.json` + `dir/merges.txt` (byte-level
    /// pre-tokenizer without a prefix space, byte-level decoder, `<|endoftext|>` special).
    pub fn from_dir(dir: &Path) -> Result<Gpt2Tokenizer> {
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            let inner = Tokenizer::from_file(&json).map_err(|e| tok_err(&json, e))?;
            return Ok(Gpt2Tokenizer { inner });
        }
        let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
        for f in [&vocab, &merges] {
            if !f.is_file() {
                return Err(Error::Config(format!(
                    "{}: no tokenizer.json, and {} is missing (GPT-2's vocab.json + merges.txt; --tokenizer names \
                     another folder)",
                    dir.display(),
                    f.display()
                )));
            }
        }
        let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
            .build()
            .map_err(|e| tok_err(&vocab, format!("(with {}) {e}", merges.display())))?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        inner.add_special_tokens([AddedToken::from("<|endoftext|>", true)]).map_err(|e| tok_err(&vocab, e))?;
        Ok(Gpt2Tokenizer { inner })
    }

    /// Token ids of `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.inner.encode(text, false).map_err(|e| Error::Config(format!("tokenizer: {e}")))?.get_ids().to_vec())
    }

    /// Token ids and their pieces (`Ġ` marks a leading space in GPT-2's byte-level alphabet).
    pub fn encode_with_pieces(&self, text: &str) -> Result<Vec<(u32, String)>> {
        let enc = self.inner.encode(text, false).map_err(|e| Error::Config(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().iter().copied().zip(enc.get_tokens().iter().cloned()).collect())
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(|e| Error::Config(format!("tokenizer: {e}")))
    }

    /// Vocabulary size, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// Copies the tokenizer files of `from` (tokenizer.json, vocab.json, merges.txt: those present)
/// into the model directory `to`, so it loads on its own.
pub fn copy_tokenizer(from: &Path, to: &Path) -> Result<()> {
    for name in ["tokenizer.json", "vocab.json", "merges.txt"] {
        let src = from.join(name);
        if src.is_file() {
            let bytes = std::fs::read(&src).map_err(|e| Error::io(&src, e))?;
            crate::io::write_atomic(&to.join(name), &bytes)?;
        }
    }
    Ok(())
}
