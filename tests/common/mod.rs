//! Shared helpers for integration tests: loading the PyTorch fixtures written by
//! tests/reference/make_fixtures.py, and comparing tensors within a tolerance.
#![allow(dead_code)]

pub mod parity;

use gradschool::{IntTensor, Tensor};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One stored tensor: float or integer.
#[derive(Clone, Debug)]
pub enum Value {
    F(Tensor),
    I(IntTensor),
}

impl Value {
    pub fn f(&self) -> &Tensor {
        match self {
            Value::F(t) => t,
            Value::I(_) => panic!("fixture: expected a float tensor"),
        }
    }
    pub fn i(&self) -> &IntTensor {
        match self {
            Value::I(t) => t,
            Value::F(_) => panic!("fixture: expected an integer tensor"),
        }
    }
}

/// All tensors of a fixture file, by name.
pub fn load_fixture(family: &str) -> BTreeMap<String, Value> {
    // GRADSCHOOL_ROOT lets a test binary copied to another machine (the GPU bundle) find the
    // fixtures of the repository it runs in.
    let root = std::env::var("GRADSCHOOL_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let path = root.join("tests/fixtures").join(format!("{family}.safetensors"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tests/reference/make_fixtures.py)", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let shape = view.shape().to_vec();
            let data = view.data();
            let value = match view.dtype() {
                Dtype::F32 => Value::F(Tensor::from_vec(
                    data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
                    shape,
                )),
                Dtype::I64 => Value::I(IntTensor::from_vec(
                    data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect(),
                    shape,
                )),
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            (name, value)
        })
        .collect()
}

/// Asserts |got − want| ≤ atol + rtol·|want| elementwise, reporting the worst element.
pub fn assert_close(what: &str, got: &Tensor, want: &Tensor, rtol: f32, atol: f32) {
    assert_eq!(got.dims(), want.dims(), "{what}: shape {:?} vs expected {:?}", got.dims(), want.dims());
    let (g, w) = (got.to_vec(), want.to_vec());
    let mut worst: Option<(usize, f32)> = None;
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        let ok = (a == b) || (a - b).abs() <= atol + rtol * b.abs();
        if !ok {
            let excess = (a - b).abs() / (atol + rtol * b.abs());
            if worst.is_none_or(|(_, e)| excess > e || excess.is_nan()) {
                worst = Some((i, excess));
            }
        }
    }
    if let Some((i, excess)) = worst {
        panic!(
            "{what}: element {i}: got {} vs expected {} ({excess:.1}× tolerance rtol {rtol}, atol {atol})",
            g[i], w[i]
        );
    }
}

/// A byte-level BPE vocabulary without merges (every byte is a token, `<|endoftext|>` = 50256,
/// as GPT-2's), written the way GPT-2's files are: each byte as its printable stand-in.
pub fn byte_tokenizer(dir: &std::path::Path) {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut chars = printable.clone();
    let mut extra = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + extra);
            extra += 1;
        }
    }
    let mut pairs: Vec<(u32, u32)> = printable.into_iter().zip(chars).collect();
    pairs.sort();
    let mut vocab: Vec<String> =
        pairs.iter().map(|&(b, c)| format!("{:?}: {b}", char::from_u32(c).unwrap().to_string())).collect();
    vocab.push("\"<|endoftext|>\": 50256".into());
    std::fs::write(dir.join("vocab.json"), format!("{{{}}}", vocab.join(", "))).unwrap();
    std::fs::write(dir.join("merges.txt"), "#version: 0.2\n").unwrap();
}

/// GPT-2's vocabulary at toy width, with dropout on (so resuming must reproduce the masks).
pub fn tiny_config() -> gradschool::gpt2::Gpt2Config {
    gradschool::gpt2::Gpt2Config {
        n_embd: 8,
        n_layer: 1,
        n_head: 2,
        n_positions: 32,
        resid_pdrop: 0.1,
        embd_pdrop: 0.1,
        attn_pdrop: 0.1,
        ..gradschool::gpt2::Gpt2Config::gpt2()
    }
}

/// A sweep's fixture in `dir`: the tiny GPT-2 in `model/` and `d.csv`, 20 texts of two labels
/// (x, z) — 18 to train on, 2 held out.
pub fn sweep_fixture(dir: &std::path::Path) {
    tiny_gpt2(&dir.join("model"));
    let csv: String = std::iter::once("text,label\n".to_string())
        .chain((0..20).map(|i| format!("t{i},{}\n", ["x", "z"][i % 2])))
        .collect();
    std::fs::write(dir.join("d.csv"), csv).unwrap();
}

/// A tiny GPT-2 saved as a Hugging Face directory with the byte tokenizer.
pub fn tiny_gpt2(dir: &std::path::Path) {
    gradschool::gpt2::Gpt2::new(tiny_config(), &mut gradschool::manual_seed(3)).save_dir(dir).unwrap();
    byte_tokenizer(dir);
}

/// Two hotels in hotel.json's format.
pub fn write_hotels(path: &std::path::Path) {
    let h = |id: u32, name: &str, kind: &str, price: f64, rating: f64| {
        format!(
            r#"{{"name":"{name}","type":"{kind}","address":"a{id}","subway":"s{id}","phone":"{id}{id}","facilities":"酒店提供的设施:wifi","price":{price},"rating":{rating},"hotel_id":{id}}}"#
        )
    };
    std::fs::write(path, format!("[{},{}]", h(1, "Inn", "E", 99.0, 4.1), h(2, "Ritz", "L", 999.0, 4.9))).unwrap();
}

/// A dialogue in the capstone's shape, short enough for a byte-level tiny model.
pub fn dialogue(
    hotels: &[gradschool::data::hotel::Hotel],
    request: &str,
    kind: &str,
) -> Vec<gradschool::data::hotel::Turn> {
    use gradschool::data::hotel::{query, Record, SearchArgs, Turn};
    let arguments = SearchArgs { kind: Some(kind.into()), ..Default::default() };
    let best = Record::of(query(hotels, &arguments)[0]);
    let reply = format!("try {}", best.name);
    vec![
        Turn::User { content: request.into() },
        Turn::Search { arguments },
        Turn::Return { records: vec![best] },
        Turn::Assistant { content: reply },
    ]
}

/// The hotel tests' tiny model: 1 layer, 32 wide, 160 positions, byte tokenizer.
pub fn tiny_hotel_model(dir: &std::path::Path) {
    let config = gradschool::gpt2::Gpt2Config {
        n_embd: 32,
        n_layer: 1,
        n_head: 2,
        n_positions: 160,
        resid_pdrop: 0.0,
        embd_pdrop: 0.0,
        attn_pdrop: 0.0,
        ..gradschool::gpt2::Gpt2Config::gpt2()
    };
    gradschool::gpt2::Gpt2::new(config, &mut gradschool::manual_seed(5)).save_dir(dir).unwrap();
    byte_tokenizer(dir);
}

/// The capstone on the tiny model, set up to memorise: two dialogues ("cheap" → the economy
/// hotel Inn, "lux" → the luxury Ritz) as both train.jsonl and valid.jsonl, hotels.json, the
/// untrained model in `dir/model`, and fine-tuning settings (150 epochs, lr 1e-2) under which
/// SFT reproduces both (tests/hotel.rs checks that it does).
pub fn memorising_hotel_run(
    dir: &std::path::Path,
) -> (Vec<Vec<gradschool::data::hotel::Turn>>, gradschool::train::hotel::HotelConfig) {
    use gradschool::data::hotel::{load_hotels, save_dialogues};
    write_hotels(&dir.join("hotels.json"));
    let hotels = load_hotels(&dir.join("hotels.json")).unwrap();
    let data = vec![dialogue(&hotels, "cheap", "E"), dialogue(&hotels, "lux", "L")];
    std::fs::create_dir_all(dir.join("data")).unwrap();
    save_dialogues(&dir.join("data/train.jsonl"), &data).unwrap();
    // the same two dialogues: the metrics score memorisation here
    save_dialogues(&dir.join("data/valid.jsonl"), &data).unwrap();
    tiny_hotel_model(&dir.join("model"));
    let cfg = gradschool::train::hotel::HotelConfig {
        out_dir: dir.join("out"),
        max_len: 160,
        lr: 1e-2,
        batch_size: 2,
        epochs: 150,
        eval_every: 150,
        eval_dialogues: 2,
        warmup: 0,
        ..gradschool::train::hotel::HotelConfig::new(dir.join("model"), dir.join("data"))
    };
    (data, cfg)
}

/// metrics.csv without the wall-clock column (train_seconds), which no two runs share.
pub fn metrics_without_time(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    text.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect()
}

/// A number of a JSON fixture as f32: the fixture scripts write inf, -inf and NaN as strings.
pub fn json_f32(v: &serde_json::Value) -> f32 {
    match v {
        serde_json::Value::String(s) => match s.as_str() {
            "inf" => f32::INFINITY,
            "-inf" => f32::NEG_INFINITY,
            "nan" => f32::NAN,
            x => x.parse().unwrap_or_else(|_| panic!("not a number: {x}")),
        },
        v => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) as f32,
    }
}
