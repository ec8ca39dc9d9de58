//! The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic number, dimension
//! sizes) followed by the raw bytes. Read plain or gzip-compressed, validated end to end: a wrong
//! magic number, a truncated file or trailing bytes is an error naming the file.

use crate::error::{Error, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimension sizes, e.g. `[60000, 28, 28]`.
    pub dims: Vec<usize>,
    /// The bytes, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes (type code 0x08), gzip-compressed if its name ends in
/// `.gz`, and checks it has `expect_rank` dimensions.
pub fn read_idx(path: &Path, expect_rank: usize) -> Result<IdxArray> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    let read = if path.extension().is_some_and(|e| e == "gz") {
        GzDecoder::new(file).read_to_end(&mut bytes)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)
    };
    read.map_err(|e| Error::format(path, format!("cannot read (corrupt or truncated gzip?): {e}")))?;
    parse_idx(&bytes, expect_rank).map_err(|msg| Error::format(path, msg))
}

/// Parses IDX bytes; the error says what is wrong.
pub fn parse_idx(bytes: &[u8], expect_rank: usize) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!("{} bytes: too short for an IDX header", bytes.len()));
    }
    let (zeros, kind, rank) = (u16::from_be_bytes([bytes[0], bytes[1]]), bytes[2], bytes[3] as usize);
    if zeros != 0 || kind != 0x08 {
        return Err(format!(
            "bad magic number 0x{:08x}: expected 0x0000080{expect_rank} (unsigned bytes, {expect_rank} dims)",
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        ));
    }
    if rank != expect_rank {
        return Err(format!("{rank} dimensions, expected {expect_rank} (an images file has 3, a labels file 1)"));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(format!("truncated header: {} bytes, need {header}", bytes.len()));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize)
        .collect();
    let expected: usize = dims.iter().product();
    let body = &bytes[header..];
    if body.len() != expected {
        let how = if body.len() < expected { "truncated" } else { "trailing bytes" };
        return Err(format!("{how}: dims {dims:?} need {expected} data bytes, the file has {}", body.len()));
    }
    Ok(IdxArray { dims, data: body.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        dims.iter().for_each(|d| b.extend(d.to_be_bytes()));
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn parses_a_valid_file_and_rejects_broken_ones() {
        // IDX spec (LeCun): magic 0x00000801 = unsigned bytes, 1 dim; sizes big-endian u32
        let ok = parse_idx(&idx(&[3], &[7, 2, 1]), 1).unwrap();
        assert_eq!((ok.dims, ok.data), (vec![3], vec![7, 2, 1]));
        assert!(parse_idx(&idx(&[3], &[7, 2]), 1).unwrap_err().contains("truncated"));
        assert!(parse_idx(&idx(&[3], &[7, 2, 1, 0]), 1).unwrap_err().contains("trailing"));
        assert!(parse_idx(&idx(&[2, 2], &[0; 4]), 3).unwrap_err().contains("2 dimensions, expected 3"));
        assert!(parse_idx(b"PK\x03\x04rest", 1).unwrap_err().contains("bad magic number 0x504b0304"));
        assert!(parse_idx(&[0, 0, 8, 3, 0, 0], 3).unwrap_err().contains("truncated header"));
    }
}
