//! Every reader survives what students feed it: valid seed files mutated at random (bit flips,
//! truncation, inserted and deleted bytes, swapped lengths) and the hand-made cases of
//! benches/README.md's RELIABILITY table. Each case must return (a value or) an error naming the
//! file — never panic — and allocate nothing much larger than the file, measured by this test
//! binary's own allocator. Mutation is seeded and bounded (a few hundred cases per reader).

mod common;

use gradschool::data::hotel::{load_dialogues, load_hotels};
use gradschool::data::idx::read_idx;
use gradschool::data::text::load_examples;
use gradschool::gpt2::{Gpt2Config, Gpt2Tokenizer};
use gradschool::io::{load_safetensors, save_safetensors};
use gradschool::train::read_csv_series;
use gradschool::{manual_seed, Tensor};
use rand::Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The system allocator, recording the largest single request since [`largest_since`] reset it.
struct Tracking;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

#[test]
fn the_allocation_record_sees_a_large_allocation() {
    let _serial = serial();
    LARGEST.store(0, Ordering::Relaxed);
    let v = vec![0u8; 10 << 20];
    assert!(LARGEST.load(Ordering::Relaxed) >= 10 << 20, "the tracker missed a {}-byte vector", v.len());
}

/// One test at a time: the allocation record is global, and another test's allocations (a model
/// built for a hand-made case) must not land in this one's measurement.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-reliability-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A random corruption of `seed`.
fn mutate(seed: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..4) {
        let n = b.len();
        match rng.random_range(0..6) {
            0 if n > 0 => {
                let i = rng.random_range(0..n);
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 => b.truncate(rng.random_range(0..=n)),
            2 => {
                let i = rng.random_range(0..=n);
                let junk: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
                b.splice(i..i, junk);
            }
            3 if n > 1 => {
                let i = rng.random_range(0..n - 1);
                let j = rng.random_range(i + 1..=n.min(i + 64));
                b.drain(i..j);
            }
            4 if n >= 8 => {
                // a length-like field set to something huge
                let i = rng.random_range(0..n - 7);
                let v: u64 = [u64::MAX, 1 << 62, 1 << 40, 1_000_000_000, 0][rng.random_range(0..5)];
                b[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            _ if n > 0 => {
                let i = rng.random_range(0..n);
                b[i] = [b'"', b',', b'\n', b'{', b']', 0, 0xff, b'-', b'9'][rng.random_range(0..9)];
            }
            _ => {}
        }
    }
    b
}

/// Outcome counts of a fuzzed reader.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    err: usize,
}

/// (Call with [`serial`] held.) Runs `read` on `cases` mutations of `seed` written to `path`: no panic, every error names
/// the file, no allocation above `factor` × the file's size + 64 KiB (a reader's fixed buffers).
fn fuzz<T>(
    name: &str,
    path: &Path,
    seed: &[u8],
    cases: usize,
    factor: usize,
    read: impl Fn(&Path) -> gradschool::Result<T>,
) -> Tally {
    let mut rng = manual_seed(name.bytes().map(u64::from).sum());
    let mut tally = Tally::default();
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    for case in 0..cases {
        let bytes = if case == 0 { seed.to_vec() } else { mutate(seed, &mut rng) };
        std::fs::write(path, &bytes).unwrap();
        LARGEST.store(0, Ordering::Relaxed);
        let outcome = catch_unwind(AssertUnwindSafe(|| read(path)));
        let largest = LARGEST.load(Ordering::Relaxed);
        if case == 0 {
            assert!(matches!(outcome, Ok(Ok(_))), "{name}: the unmutated seed file must read");
        }
        // factor × the file, plus 64 KiB for a reader's fixed buffers: the largest seen over
        // every case here is 48 KiB (tokenizers' tables for a near-empty merges.txt), then 42 KiB
        // (gzip's inflate state) and 8 KiB (a BufReader); a reader that sizes a buffer from a
        // length field instead of the file fails it even for the smallest files.
        let limit = factor * bytes.len() + (64 << 10);
        match outcome {
            Err(_) => panic!("{name}: case {case} panicked on {} bytes (written to {})", bytes.len(), path.display()),
            Ok(Ok(_)) => tally.ok += 1,
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(&file) && !msg.contains('\n'),
                    "{name}: case {case}: the error must be one line naming {file}: {msg}"
                );
                tally.err += 1;
            }
        }
        assert!(
            largest <= limit,
            "{name}: case {case}: allocated {largest} bytes at once for a {}-byte file",
            bytes.len()
        );
    }
    assert_eq!(tally.ok + tally.err, cases);
    assert!(
        tally.err > cases / 4,
        "{name}: only {} of {cases} corruptions were refused: the mutations do not bite",
        tally.err
    );
    eprintln!("{name}: {cases} cases, {} read, {} refused with a one-line error", tally.ok, tally.err);
    tally
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    dims.iter().for_each(|d| b.extend(d.to_be_bytes()));
    b.extend_from_slice(data);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_files_fuzzed_and_by_hand() {
    let _serial = serial();
    let dir = tmp("idx");
    let images: Vec<u8> = (0..5 * 28 * 28).map(|i| (i % 251) as u8).collect();
    let seed = idx_bytes(&[5, 28, 28], &images);
    fuzz("idx", &dir.join("images-idx3-ubyte"), &seed, 400, 4, |p| read_idx(p, 3));
    // gzip: the decompressed size is what the header may claim, so the bound is on that
    fuzz("idx.gz", &dir.join("images-idx3-ubyte.gz"), &gzip(&seed), 300, 64, |p| read_idx(p, 3));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "too short for an IDX header"),
        ("wrong magic", b"\x00\x00\x09\x03rest".to_vec(), "bad magic number"),
        ("10⁹ images claimed", idx_bytes(&[1_000_000_000, 28, 28], &images), "truncated"),
        ("truncated body", idx_bytes(&[5, 28, 28], &images[..100]), "truncated"),
    ];
    for (what, bytes, want) in cases {
        let path = dir.join("x-idx3-ubyte");
        std::fs::write(&path, &bytes).unwrap();
        LARGEST.store(0, Ordering::Relaxed);
        let e = read_idx(&path, 3).unwrap_err().to_string();
        assert!(e.contains("x-idx3-ubyte") && e.contains(want), "{what}: {e}");
        assert!(LARGEST.load(Ordering::Relaxed) < (1 << 20), "{what}: allocated by the claim, not the file");
    }
    let gz = dir.join("corrupt-idx3-ubyte.gz");
    let mut bad = gzip(&seed);
    let mid = bad.len() / 2;
    bad.truncate(mid);
    std::fs::write(&gz, &bad).unwrap();
    let e = read_idx(&gz, 3).unwrap_err().to_string();
    assert!(e.contains("corrupt or truncated gzip"), "{e}");
    // label count ≠ image count, and a label that is no digit
    let img = dir.join("i-idx3-ubyte");
    std::fs::write(&img, &seed).unwrap();
    for (labels, want) in
        [(vec![1u8, 2, 3], "3 labels for 5 images"), (vec![1, 2, 200, 3, 4], "label 200 is not a digit")]
    {
        let lab = dir.join("l-idx1-ubyte");
        std::fs::write(&lab, idx_bytes(&[labels.len() as u32], &labels)).unwrap();
        let e = gradschool::data::ImageDataset::from_idx(&img, &lab, (0.0, 1.0)).unwrap_err().to_string();
        assert!(e.contains("l-idx1-ubyte") && e.contains(want), "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn safetensors_fuzzed_and_by_hand() {
    let _serial = serial();
    let dir = tmp("st");
    let path = dir.join("model.safetensors");
    let tensors = vec![
        ("a.weight".to_string(), Tensor::randn([4, 8], &mut manual_seed(1))),
        ("b.bias".to_string(), Tensor::randn([8], &mut manual_seed(2))),
    ];
    save_safetensors(&path, &tensors, &Default::default()).unwrap();
    let seed = std::fs::read(&path).unwrap();
    fuzz("safetensors", &path, &seed, 400, 4, load_safetensors);
    let header = |json: &str, body: usize| {
        let mut b = (json.len() as u64).to_le_bytes().to_vec();
        b.extend(json.as_bytes());
        b.extend(vec![0u8; body]);
        b
    };
    let mut past_the_file = seed.clone();
    past_the_file[..8].copy_from_slice(&(seed.len() as u64 * 2).to_le_bytes());
    let mut huge = seed.clone();
    huge[..8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let cases = [
        ("header length past the file", past_the_file),
        ("header length 2⁶²", huge),
        ("invalid JSON", header("{\"a\": [1, 2", 16)),
        ("offsets past the data", header(r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}}"#, 16)),
        (
            "overlapping tensors",
            header(
                r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#,
                24,
            ),
        ),
        ("shape × dtype ≠ bytes", header(r#"{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}}"#, 16)),
        ("an integer tensor", header(r#"{"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, 16)),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        LARGEST.store(0, Ordering::Relaxed);
        let e = load_safetensors(&path).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("model.safetensors"), "{what}: {e}");
        assert!(LARGEST.load(Ordering::Relaxed) < (1 << 20), "{what}: allocated by the claim, not the file");
    }
    // a model directory whose file lacks a tensor, or has an extra one: named
    let model = dir.join("tiny");
    common::tiny_gpt2(&model);
    let (mut all, meta) = load_safetensors(&model.join("model.safetensors")).unwrap();
    let dropped = all.remove(0).0;
    save_safetensors(&model.join("model.safetensors"), &all, &meta).unwrap();
    let e = gradschool::gpt2::Gpt2::from_dir(&model).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains(&dropped), "missing {dropped}: {e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_json_fuzzed_and_by_hand() {
    let _serial = serial();
    let dir = tmp("config");
    let path = dir.join("config.json");
    let seed = serde_json::to_vec_pretty(&common::tiny_config()).unwrap();
    fuzz("config.json", &path, &seed, 300, 8, Gpt2Config::from_file);
    let base = serde_json::to_value(common::tiny_config()).unwrap();
    let with = |key: &str, v: serde_json::Value| {
        let mut c = base.clone();
        c[key] = v;
        c
    };
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("n_embd");
    let cases = [
        ("missing key", missing, "n_embd"),
        ("heads do not divide the width", with("n_head", 3.into()), "not divisible by n_head"),
        ("zero layers", with("n_layer", 0.into()), "must be positive"),
        ("negative width", with("n_embd", (-8).into()), "not a GPT-2 config"),
        ("huge vocabulary", with("vocab_size", 1_000_000_000_000u64.into()), "implausibly large"),
        ("dropout 1.5", with("attn_pdrop", 1.5.into()), "not a probability"),
        ("epsilon 0", with("layer_norm_epsilon", 0.0.into()), "positive number"),
    ];
    for (what, json, want) in cases {
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        let e = Gpt2Config::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains(want), "{what}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn datasets_metrics_and_hotel_files_fuzzed() {
    let _serial = serial();
    let dir = tmp("text");
    let csv = "text,label\n\"a good, long film\",pos\nbad,neg\n\"quoted \"\"word\"\"\",pos\ncafé,neg\n";
    fuzz("csv", &dir.join("d.csv"), csv.as_bytes(), 300, 16, load_examples);
    fuzz("tsv", &dir.join("d.tsv"), csv.replace(',', "\t").as_bytes(), 200, 16, load_examples);
    let jsonl = "{\"text\": \"fine\", \"label\": \"pos\"}\n{\"text\": \"awful\", \"label\": \"neg\"}\n";
    fuzz("jsonl", &dir.join("d.jsonl"), jsonl.as_bytes(), 300, 16, load_examples);
    let metrics = "epoch,step,lr,train_loss,eval_loss,train_seconds\n1,10,0.001,2.5,,\n1,20,0.001,2.1,2.3,1.5\n";
    fuzz("metrics.csv", &dir.join("metrics.csv"), metrics.as_bytes(), 300, 16, |p| {
        read_csv_series(p, "step", "train_loss")
    });
    let hotels = r#"[{"name":"北京X酒店","type":"舒适型","address":"a","subway":"s","phone":"p","facilities":"酒店提供的设施:暖气;桑拿","price":300.0,"rating":4.5,"hotel_id":1}]"#;
    fuzz("hotel.json", &dir.join("hotel.json"), hotels.as_bytes(), 300, 16, load_hotels);
    let dialogues = r#"[{"role":"user","content":"要暖气"},{"role":"search","arguments":{"facilities":["暖气"]}},{"role":"return","records":[]},{"role":"assistant","content":"抱歉"}]"#;
    fuzz("dialogues", &dir.join("train.jsonl"), format!("{dialogues}\n").as_bytes(), 300, 16, load_dialogues);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tokenizer_files_fuzzed() {
    let _serial = serial();
    let dir = tmp("tok");
    common::byte_tokenizer(&dir);
    // the byte vocabulary plus the two pieces a small merges file makes
    let mut vocab: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("vocab.json")).unwrap()).unwrap();
    vocab.insert("Ġt".into(), 256.into());
    vocab.insert("th".into(), 257.into());
    let vocab = serde_json::to_vec(&vocab).unwrap();
    let merges = "#version: 0.2\nĠ t\nt h\n".as_bytes().to_vec();
    std::fs::write(dir.join("merges.txt"), &merges).unwrap();
    // vocab.json: ~3 KB; the tokenizers crate keeps two maps of it
    fuzz("vocab.json", &dir.join("vocab.json"), &vocab, 200, 64, |_| Gpt2Tokenizer::from_dir(&dir).map(|_| ()));
    std::fs::write(dir.join("vocab.json"), &vocab).unwrap();
    fuzz("merges.txt", &dir.join("merges.txt"), &merges, 200, 2048, |_| Gpt2Tokenizer::from_dir(&dir).map(|_| ()));
    // tokenizer.json, Hugging Face's one-file format, as the tokenizers crate writes it for the
    // same vocabulary and merges
    std::fs::write(dir.join("vocab.json"), &vocab).unwrap();
    std::fs::write(dir.join("merges.txt"), &merges).unwrap();
    let json_dir = dir.join("json");
    std::fs::create_dir_all(&json_dir).unwrap();
    let bpe = tokenizers::models::bpe::BPE::from_file(
        &dir.join("vocab.json").to_string_lossy(),
        &dir.join("merges.txt").to_string_lossy(),
    )
    .build()
    .unwrap();
    let mut tk = tokenizers::Tokenizer::new(bpe);
    tk.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::byte_level::ByteLevel::default().add_prefix_space(false)));
    tk.save(json_dir.join("tokenizer.json"), false).unwrap();
    let seed = std::fs::read(json_dir.join("tokenizer.json")).unwrap();
    fuzz("tokenizer.json", &json_dir.join("tokenizer.json"), &seed, 200, 64, |_| {
        Gpt2Tokenizer::from_dir(&json_dir).map(|_| ())
    });
    let _ = std::fs::remove_dir_all(&dir);
}
