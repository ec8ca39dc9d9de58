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

    /// Token ids of a long `text` (a corpus file), the same ids as [`Self::encode`] but encoded
    /// piece by piece ([`chunks`]), so memory grows with the ids, not with the `tokenizers`
    /// crate's per-token records of the whole text (~120 bytes per input byte).
    pub fn encode_long(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for chunk in chunks(text, CHUNK_BYTES) {
            ids.extend(self.encode(chunk)?);
        }
        Ok(ids)
    }

    /// Vocabulary size, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Every id this tokenizer can give must have a row in the model's embedding of
    /// `vocab_size` rows; otherwise the first such token would index past it (a panic mid-run).
    pub fn fits(&self, vocab_size: usize) -> Result<()> {
        // the largest id, not the count: a vocabulary may skip ids (the byte-level test tokenizer
        // has 257 tokens, the last of them <|endoftext|> = 50256)
        let ids = self.inner.get_vocab(true).values().max().map_or(0, |&m| m as usize + 1);
        if ids > vocab_size {
            return Err(Error::Config(format!(
                "the tokenizer gives ids up to {} but the model's embedding has only {vocab_size} rows \
                 (vocab_size): give the tokenizer the model was trained with (--tokenizer)",
                ids - 1
            )));
        }
        Ok(())
    }
}

/// About how many bytes [`chunks`] puts in one piece.
pub const CHUNK_BYTES: usize = 1 << 16;

/// Splits `text` into pieces of at least `target` bytes (the last may be shorter) at places where
/// GPT-2's pre-tokenizer splits anyway, so encoding the pieces one by one gives exactly the ids
/// of the whole. The cut goes after a lone `\n` that follows a non-space and precedes a
/// non-space: that `\n` is a pre-token of its own in the whole text (the `\s+` rule, since a
/// letter follows) and at the end of a piece (`\s+(?!\S)`), and the next word starts a
/// pre-token either way (its optional leading space is absent). The byte before the `\n` must be
/// an ASCII non-space: after a space (`" \n"`) the whole text splits the run but a piece's end
/// keeps it whole. BPE merges never cross a
/// pre-token, so nothing else can change. A text with no such place stays one piece.
pub fn chunks(text: &str, target: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let bytes = rest.as_bytes();
        let mut cut = rest.len();
        let mut i = target.max(2);
        while i < bytes.len() {
            // \s in GPT-2's pattern is Unicode White_Space: ASCII's are \t \n \v \f \r and space
            let ascii_word = |b: u8| b < 0x80 && !b.is_ascii_whitespace() && b != 0x0b;
            // after the ASCII \n, i is a char boundary
            let next_word =
                || ascii_word(bytes[i]) || (bytes[i] >= 0x80 && !rest[i..].starts_with(char::is_whitespace));
            if bytes[i - 1] == b'\n' && ascii_word(bytes[i - 2]) && next_word() {
                cut = i;
                break;
            }
            i += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
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
