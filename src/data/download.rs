//! Downloading the official data files with a progress bar and checksum verification. Files are
//! written to a temporary name and renamed only once their checksum matches.

use crate::error::{Error, Result};
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::Path;

/// A file to fetch: its name, URL and published MD5.
#[derive(Clone, Copy, Debug)]
pub struct Resource {
    /// File name in the target directory.
    pub name: &'static str,
    /// Where to get it.
    pub url: &'static str,
    /// MD5 of the file as published (the checksums torchvision verifies).
    pub md5: &'static str,
}

/// The official MNIST files (the PyTorch mirror of LeCun et al.'s files).
pub const MNIST: [Resource; 4] = [
    Resource {
        name: "train-images-idx3-ubyte.gz",
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    },
    Resource {
        name: "train-labels-idx1-ubyte.gz",
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
        md5: "d53e105ee54ea40749a09fcbcd1e9432",
    },
    Resource {
        name: "t10k-images-idx3-ubyte.gz",
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
        md5: "9fb629c4189551a2d022fa330f9573f3",
    },
    Resource {
        name: "t10k-labels-idx1-ubyte.gz",
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
        md5: "ec29112dd5afa0611ce80d1b7f02629c",
    },
];

/// The official Fashion-MNIST files (Zalando Research, MIT).
pub const FASHION_MNIST: [Resource; 4] = [
    Resource {
        name: "train-images-idx3-ubyte.gz",
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    },
    Resource {
        name: "train-labels-idx1-ubyte.gz",
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
        md5: "25c81989df183df01b3e8a0aad5dffbe",
    },
    Resource {
        name: "t10k-images-idx3-ubyte.gz",
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
        md5: "bef4ecab320f06d8554ea6380940ec79",
    },
    Resource {
        name: "t10k-labels-idx1-ubyte.gz",
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
        md5: "bb300cfdad3c16e7a12a480ee83cd310",
    },
];

/// Hex MD5 of a byte stream.
pub fn md5_hex(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// True when `path` exists with the expected checksum.
pub fn is_verified(path: &Path, md5: &str) -> bool {
    std::fs::File::open(path).ok().and_then(|f| md5_hex(std::io::BufReader::new(f)).ok()).is_some_and(|h| h == md5)
}

/// Fetches `res` into `dir` unless a verified copy is there; `progress` shows the bytes.
pub fn fetch(res: &Resource, dir: &Path, progress: bool) -> Result<()> {
    let target = dir.join(res.name);
    if is_verified(&target, res.md5) {
        println!("{}: already present and verified", target.display());
        return Ok(());
    }
    let mut response = ureq::get(res.url).call().map_err(|e| {
        Error::Config(format!(
            "cannot download {}: {e}\n  Offline? Place the four files by hand in {} (names: train-images-idx3-ubyte.gz, \
             train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), or, for Fashion-MNIST, \
             `apt-get install dataset-fashion-mnist` and pass --data-dir /usr/share/datasets/fashion-mnist",
            res.url,
            dir.display()
        ))
    })?;
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
        let mut hasher = Md5::new();
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
        let got: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if got != res.md5 {
            return Err(Error::format(
                &target,
                format!("checksum mismatch: MD5 {got}, expected {} (download from {})", res.md5, res.url),
            ));
        }
        std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))
    })();
    bar.finish_and_clear();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    } else {
        println!("{}: downloaded and verified", target.display());
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
