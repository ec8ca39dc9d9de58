//! Text-classification data from files a student finds: CSV (or TSV) with a header naming a
//! `text` and a `label` column, or JSON Lines with one `{"text": …, "label": …}` object per line.
//! Every problem is an error naming the file, the line and what is wrong. [`load_text_data`]
//! turns either source — these files, or Rotten Tomatoes — into labelled examples for training.

use super::sentiment::{load_rotten_tomatoes, Review};
use crate::error::{Error, Result};
use crate::random::manual_seed;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

/// One labelled text. Labels are kept as written (`"pos"`, `"1"`, `"spam"`): the task decides
/// how they map to classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// The text, trimmed.
    pub text: String,
    /// The label, trimmed.
    pub label: String,
}

/// Reads `path` by its extension: `.csv`, `.tsv`, `.jsonl` / `.ndjson`.
pub fn load_examples(path: &Path) -> Result<Vec<Example>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let examples = match ext.as_str() {
        "csv" => read_delimited(path, &bytes, b',')?,
        "tsv" => read_delimited(path, &bytes, b'\t')?,
        "jsonl" | "ndjson" => read_jsonl(path, &bytes)?,
        _ => {
            return Err(Error::format(
                path,
                "unknown extension: expected .csv, .tsv or .jsonl (one JSON object per line)",
            ))
        }
    };
    if examples.is_empty() {
        return Err(Error::format(path, "no examples"));
    }
    Ok(examples)
}

fn read_delimited(path: &Path, bytes: &[u8], delimiter: u8) -> Result<Vec<Example>> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(false).from_reader(bytes);
    let headers = reader.byte_headers().map_err(|e| Error::format(path, format!("header: {e}")))?.clone();
    let find = |name: &str| {
        headers.iter().position(|h| String::from_utf8_lossy(h).trim().eq_ignore_ascii_case(name)).ok_or_else(|| {
            let cols: Vec<String> = headers.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect();
            Error::format(path, format!("no `{name}` column in the header (columns: {})", cols.join(", ")))
        })
    };
    let (ti, li) = (find("text")?, find("label")?);
    let mut out = Vec::new();
    for record in reader.byte_records() {
        let record = record.map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths { pos, expected_len, len } => Error::format(
                path,
                format!(
                    "line {}: {len} fields, but the header has {expected_len} (a comma inside a text must be quoted)",
                    pos.as_ref().map_or(0, |p| p.line())
                ),
            ),
            _ => Error::format(path, e.to_string()),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize, name: &str| -> Result<String> {
            let raw = record.get(i).unwrap_or_default();
            let s = std::str::from_utf8(raw).map_err(|_| {
                Error::format(path, format!("line {line}: the {name} is not valid UTF-8 (re-save the file as UTF-8)"))
            })?;
            Ok(s.trim().to_string())
        };
        let (text, label) = (field(ti, "text")?, field(li, "label")?);
        if label.is_empty() {
            return Err(Error::format(path, format!("line {line}: empty label")));
        }
        out.push(Example { text, label });
    }
    Ok(out)
}

fn read_jsonl(path: &Path, bytes: &[u8]) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let text = std::str::from_utf8(raw)
            .map_err(|_| Error::format(path, format!("line {line}: not valid UTF-8 (re-save the file as UTF-8)")))?;
        if text.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::format(path, format!("line {line}: not JSON: {e}")))?;
        let get = |key: &str| -> Result<String> {
            match value.get(key) {
                Some(serde_json::Value::String(s)) => Ok(s.trim().to_string()),
                Some(serde_json::Value::Number(n)) if key == "label" => Ok(n.to_string()),
                Some(serde_json::Value::Bool(b)) if key == "label" => Ok(b.to_string()),
                Some(other) => Err(Error::format(path, format!("line {line}: `{key}` is {other}, not a string"))),
                None => Err(Error::format(path, format!("line {line}: no `{key}` field"))),
            }
        };
        out.push(Example { text: get("text")?, label: get("label")? });
    }
    Ok(out)
}

/// Where the labelled texts come from.
#[derive(Clone, Debug, PartialEq)]
pub enum TextData {
    /// rt-polarity.pos / rt-polarity.neg in this folder, split as Hugging Face does; labels `neg`
    /// and `pos`, as the course names them.
    RottenTomatoes(PathBuf),
    /// CSV / TSV / JSONL files with `text` and `label` (see `data::text`); without a validation
    /// file, a seeded tenth of the training file is held out.
    Files {
        /// The training examples.
        train: PathBuf,
        /// The validation examples.
        valid: Option<PathBuf>,
    },
}

/// (train, validation, label names): the label of an example is its index in the names.
type Labelled = (Vec<(String, usize)>, Vec<(String, usize)>, Vec<String>);

/// Loads `data` as (text, label index) pairs and the label names.
pub fn load_text_data(data: &TextData, seed: u64) -> Result<Labelled> {
    match data {
        TextData::RottenTomatoes(dir) => {
            let rt = load_rotten_tomatoes(dir)?;
            let pairs = |v: Vec<Review>| v.into_iter().map(|r| (r.text, r.label)).collect();
            Ok((pairs(rt.train), pairs(rt.validation), vec!["neg".into(), "pos".into()]))
        }
        TextData::Files { train, valid } => {
            let mut train_ex = load_examples(train)?;
            let valid_ex = match valid {
                Some(v) => load_examples(v)?,
                None => {
                    if train_ex.len() < 10 {
                        return Err(Error::format(
                            train,
                            "fewer than 10 examples: too few to hold a tenth out; give --valid",
                        ));
                    }
                    train_ex.shuffle(&mut manual_seed(seed ^ 0xda7a));
                    train_ex.split_off(train_ex.len() - train_ex.len() / 10)
                }
            };
            let names: Vec<String> = train_ex
                .iter()
                .map(|e| e.label.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if names.len() < 2 {
                return Err(Error::format(train, format!("one label only ({}): nothing to classify", names.join(""))));
            }
            let index = |e: &Example, file: &Path| -> Result<(String, usize)> {
                let i = names.iter().position(|n| *n == e.label).ok_or_else(|| {
                    Error::format(file, format!("label `{}` does not occur in the training file", e.label))
                })?;
                Ok((e.text.clone(), i))
            };
            let tr = train_ex.iter().map(|e| index(e, train)).collect::<Result<_>>()?;
            let va = valid_ex.iter().map(|e| index(e, valid.as_deref().unwrap_or(train))).collect::<Result<_>>()?;
            Ok((tr, va, names))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gradschool-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn reads_csv_tsv_and_jsonl_alike() {
        let want = vec![
            Example { text: "a fine, quiet film".into(), label: "pos".into() },
            Example { text: "dull".into(), label: "neg".into() },
        ];
        let csv = write("a.csv", b"id,Text,label\n1,\"a fine, quiet film\",pos\n2, dull ,neg\n");
        assert_eq!(load_examples(&csv).unwrap(), want);
        let tsv = write("a.tsv", b"label\ttext\npos\ta fine, quiet film\nneg\tdull\n");
        assert_eq!(load_examples(&tsv).unwrap(), want);
        let jsonl = write(
            "a.jsonl",
            b"{\"text\": \"a fine, quiet film\", \"label\": \"pos\"}\n\n{\"text\": \"dull\", \"label\": \"neg\"}\n",
        );
        assert_eq!(load_examples(&jsonl).unwrap(), want);
        let numeric = write("n.jsonl", b"{\"text\": \"x\", \"label\": 1}\n");
        assert_eq!(load_examples(&numeric).unwrap()[0].label, "1");
    }

    #[test]
    fn bad_files_are_errors_naming_file_line_and_problem() {
        let cases: [(&str, &[u8], &str); 7] = [
            ("nolabel.csv", b"text,stars\nok,5\n", "no `label` column"),
            ("ragged.csv", b"text,label\nok,pos\nbad\n", "line 3"),
            ("latin1.csv", b"text,label\ncaf\xe9,pos\n", "line 2: the text is not valid UTF-8"),
            ("broken.jsonl", b"{\"text\": \"ok\", \"label\": \"pos\"}\n{\"text\": \n", "line 2: not JSON"),
            ("missing.jsonl", b"{\"label\": \"pos\"}\n", "line 1: no `text` field"),
            ("empty.csv", b"text,label\n", "no examples"),
            ("data.xlsx", b"PK", "unknown extension"),
        ];
        for (name, body, needle) in cases {
            let err = load_examples(&write(name, body)).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
        }
    }
}
