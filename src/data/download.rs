//! Downloading the official data files with a progress bar and checksum verification. Files are
//! written to a temporary name and renamed only once their checksum matches.

use crate::error::{Error, Result};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::io::{Read, Write};
use std::path::Path;

/// What a downloaded file is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// MD5, as published (the checksums torchvision verifies).
    Md5(&'static str),
    /// SHA-256 (Git LFS object ids on the Hugging Face Hub; files we pinned).
    Sha256(&'static str),
    /// Nothing published: the caller validates the contents (parses them).
    Unpublished,
}

impl Checksum {
    /// Hex digest of a byte stream under this checksum's algorithm (`None` for Unpublished).
    pub fn digest(&self, mut reader: impl Read) -> std::io::Result<Option<String>> {
        let mut hasher = StreamHasher::new(self);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finish())
    }

    fn expected(&self) -> Option<&'static str> {
        match self {
            Checksum::Md5(h) | Checksum::Sha256(h) => Some(h),
            Checksum::Unpublished => None,
        }
    }
}

/// An incremental digest of the checksum's kind.
enum StreamHasher {
    Md5(Md5),
    Sha256(Sha256),
    None,
}

impl StreamHasher {
    fn new(c: &Checksum) -> StreamHasher {
        match c {
            Checksum::Md5(_) => StreamHasher::Md5(Md5::new()),
            Checksum::Sha256(_) => StreamHasher::Sha256(Sha256::new()),
            Checksum::Unpublished => StreamHasher::None,
        }
    }
    fn update(&mut self, bytes: &[u8]) {
        match self {
            StreamHasher::Md5(h) => h.update(bytes),
            StreamHasher::Sha256(h) => h.update(bytes),
            StreamHasher::None => {}
        }
    }
    fn finish(self) -> Option<String> {
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect();
        match self {
            StreamHasher::Md5(h) => Some(hex(&h.finalize())),
            StreamHasher::Sha256(h) => Some(hex(&h.finalize())),
            StreamHasher::None => None,
        }
    }
}

/// A file to fetch: its name, URL and checksum.
#[derive(Clone, Copy, Debug)]
pub struct Resource {
    /// File name in the target directory.
    pub name: &'static str,
    /// Where to get it.
    pub url: &'static str,
    /// What the bytes must hash to.
    pub checksum: Checksum,
}

/// The official MNIST files (the PyTorch mirror of LeCun et al.'s files).
pub const MNIST: [Resource; 4] = [
    Resource {
        name: "train-images-idx3-ubyte.gz",
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        checksum: Checksum::Md5("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    },
    Resource {
        name: "train-labels-idx1-ubyte.gz",
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
        checksum: Checksum::Md5("d53e105ee54ea40749a09fcbcd1e9432"),
    },
    Resource {
        name: "t10k-images-idx3-ubyte.gz",
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
        checksum: Checksum::Md5("9fb629c4189551a2d022fa330f9573f3"),
    },
    Resource {
        name: "t10k-labels-idx1-ubyte.gz",
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
        checksum: Checksum::Md5("ec29112dd5afa0611ce80d1b7f02629c"),
    },
];

/// The official Fashion-MNIST files (Zalando Research, MIT).
pub const FASHION_MNIST: [Resource; 4] = [
    Resource {
        name: "train-images-idx3-ubyte.gz",
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        checksum: Checksum::Md5("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    },
    Resource {
        name: "train-labels-idx1-ubyte.gz",
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
        checksum: Checksum::Md5("25c81989df183df01b3e8a0aad5dffbe"),
    },
    Resource {
        name: "t10k-images-idx3-ubyte.gz",
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
        checksum: Checksum::Md5("bef4ecab320f06d8554ea6380940ec79"),
    },
    Resource {
        name: "t10k-labels-idx1-ubyte.gz",
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
        checksum: Checksum::Md5("bb300cfdad3c16e7a12a480ee83cd310"),
    },
];

/// Hex MD5 of a byte stream.
pub fn md5_hex(reader: impl Read) -> std::io::Result<String> {
    Ok(Checksum::Md5("").digest(reader)?.unwrap_or_default())
}

/// True when `path` exists with the expected checksum (never for an unpublished one).
pub fn is_verified(path: &Path, checksum: &Checksum) -> bool {
    let Some(want) = checksum.expected() else { return false };
    std::fs::File::open(path)
        .ok()
        .and_then(|f| checksum.digest(std::io::BufReader::new(f)).ok().flatten())
        .is_some_and(|h| h == want)
}

/// The GPT-2 (124M) files on the Hugging Face Hub. The weights' SHA-256 is their Git LFS object id
/// (the Hub shows it on the file's page); vocab.json and merges.txt are pinned to the hashes of the
/// published files (the same bytes as ../shared/data/gpt2-tokenizer, checked by a test);
/// config.json and tokenizer.json have no published hash and are validated by parsing them.
pub const GPT2: [Resource; 5] = [
    Resource {
        name: "config.json",
        url: "https://huggingface.co/openai-community/gpt2/resolve/main/config.json",
        checksum: Checksum::Unpublished,
    },
    Resource {
        name: "tokenizer.json",
        url: "https://huggingface.co/openai-community/gpt2/resolve/main/tokenizer.json",
        checksum: Checksum::Unpublished,
    },
    Resource {
        name: "vocab.json",
        url: "https://huggingface.co/openai-community/gpt2/resolve/main/vocab.json",
        checksum: Checksum::Sha256("196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
    },
    Resource {
        name: "merges.txt",
        url: "https://huggingface.co/openai-community/gpt2/resolve/main/merges.txt",
        checksum: Checksum::Sha256("1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"),
    },
    Resource {
        name: "model.safetensors",
        url: "https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors",
        checksum: Checksum::Sha256("248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"),
    },
];

/// The Rotten Tomatoes polarity archive (Pang & Lee, 2005), the source of Hugging Face's
/// `rotten_tomatoes`. The archive has no published hash; the two files taken from it are pinned
/// ([`RT_POLARITY_FILES`]).
pub const RT_POLARITY_ARCHIVE: Resource = Resource {
    name: "rt-polaritydata.tar.gz",
    url: "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",
    checksum: Checksum::Unpublished,
};

/// The files `download rotten-tomatoes` extracts, with the SHA-256 of the original bytes (those
/// of ../shared/data/rt-polarity, checked by a test).
pub const RT_POLARITY_FILES: [(&str, Checksum); 2] = [
    ("rt-polarity.pos", Checksum::Sha256("d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4")),
    ("rt-polarity.neg", Checksum::Sha256("4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc")),
];

/// Extracts `rt-polarity.pos` / `.neg` from the archive into `dir`, each checked against its
/// pinned hash and written through a temporary file.
pub fn extract_rt_polarity(archive: &Path, dir: &Path) -> Result<()> {
    let file = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut found = 0;
    for entry in tar.entries().map_err(|e| Error::format(archive, e.to_string()))? {
        let mut entry = entry.map_err(|e| Error::format(archive, e.to_string()))?;
        let path = entry.path().map_err(|e| Error::format(archive, e.to_string()))?.into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some((name, checksum)) = RT_POLARITY_FILES.iter().find(|(n, _)| *n == name) else { continue };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| Error::format(archive, e.to_string()))?;
        let got = checksum.digest(&bytes[..]).map_err(|e| Error::io(archive, e))?;
        if got.as_deref() != checksum.expected() {
            return Err(Error::format(archive, format!("{name}: SHA-256 {got:?}, expected {:?}", checksum.expected())));
        }
        crate::io::write_atomic(&dir.join(name), &bytes)?;
        found += 1;
    }
    if found != RT_POLARITY_FILES.len() {
        return Err(Error::format(archive, "rt-polarity.pos / rt-polarity.neg not found in the archive".to_string()));
    }
    Ok(())
}

/// Fetches `res` into `dir` unless a verified copy is there; `progress` shows the bytes. When
/// the server cannot be reached, the error ends with `offline_hint` (where to put the files).
pub fn fetch(res: &Resource, dir: &Path, progress: bool, offline_hint: &str) -> Result<()> {
    let target = dir.join(res.name);
    if is_verified(&target, &res.checksum) {
        crate::say!("{}: already present and verified", target.display());
        return Ok(());
    }
    let mut response = ureq::get(res.url)
        .call()
        .map_err(|e| Error::Config(format!("cannot download {}: {e}\n  Offline? {offline_hint}", res.url)))?;
    let total =
        response.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
    if !progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(res.name);
    let tmp = dir.join(format!(".{}.part{}", res.name, std::process::id()));
    let result = (|| -> Result<()> {
        let mut out = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut reader = response.body_mut().as_reader();
        let mut hasher = StreamHasher::new(&res.checksum);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n =
                reader.read(&mut buf).map_err(|e| Error::Config(format!("download of {} broke off: {e}", res.url)))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| Error::io(&tmp, e))?;
            bar.inc(n as u64);
        }
        out.sync_all().map_err(|e| Error::io(&tmp, e))?;
        if let (Some(got), Some(want)) = (hasher.finish(), res.checksum.expected()) {
            if got != want {
                return Err(Error::format(
                    &target,
                    format!("checksum mismatch: {got}, expected {want} (download from {})", res.url),
                ));
            }
        }
        std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))
    })();
    bar.finish_and_clear();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    } else {
        crate::say!("{}: downloaded and verified", target.display());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_rfc_1321() {
        // RFC 1321, appendix A.5 test suite
        assert_eq!(md5_hex(&b""[..]).unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(&b"message digest"[..]).unwrap(), "f96b697d7cb7938d525a2f31aaf161d0");
    }
}
