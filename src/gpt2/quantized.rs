//! QLoRA's frozen base for GPT-2: every block's four linear weights (attention c_attn and
//! c_proj, MLP c_fc and c_proj — 85 M of the 124 M model's parameters) stored as NF4 or int8
//! ([`crate::quant`]) and dequantized inside each product; the embeddings, layer norms and
//! biases stay f32, as in QLoRA. A quantized model is saved as a folder that `Gpt2::from_dir`
//! (and so `generate` and `hotel-bot`) loads: `config.json` with a `gradschool_quantization`
//! key, `model.safetensors` with the f32 tensors, and `quantized.safetensors` with each weight's
//! codes (`….weight.nf4`, U8, two 4-bit codes a byte; or `….weight.int8`, I8, one row per output
//! feature) and scales (`….weight.absmax`, F32).

use super::model::{Conv1D, Gpt2};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::nn::Module;
use crate::quant::{Int8Rows, Nf4, QuantKind, QuantizedMatrix, Stored};
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The config.json key that marks a quantized folder.
pub const QUANT_KEY: &str = "gradschool_quantization";
/// The file holding the codes and scales.
pub const QUANT_FILE: &str = "quantized.safetensors";

/// What [`Gpt2::quantize_base`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantSummary {
    /// Weights quantized (4 per block).
    pub matrices: usize,
    /// Their values.
    pub values: usize,
    /// Bytes stored for them, codes and scales.
    pub bytes: usize,
}

impl QuantSummary {
    /// Bytes per quantized value, scales included (NF4: 0.5625; int8: just above 1).
    pub fn bytes_per_value(&self) -> f64 {
        self.bytes as f64 / self.values.max(1) as f64
    }
}

/// Parses `--quantize-base`'s value.
pub fn parse_quant_kind(s: &str) -> Result<QuantKind> {
    match s {
        "nf4" => Ok(QuantKind::Nf4),
        "int8" => Ok(QuantKind::Int8),
        _ => Err(Error::Config(format!("--quantize-base: expected `nf4` or `int8`, got `{s}`"))),
    }
}

fn kind_name(kind: QuantKind) -> &'static str {
    match kind {
        QuantKind::Nf4 => "nf4",
        QuantKind::Int8 => "int8",
    }
}

impl Conv1D {
    /// Stores this layer's weight quantized and drops the f32 copy (it becomes an empty
    /// placeholder, frozen). Already quantized: nothing changes.
    pub fn quantize(&mut self, kind: QuantKind) {
        if self.quantized.is_some() {
            return;
        }
        let (rows, cols) = self.in_out();
        let q = QuantizedMatrix::quantize(&self.weight.to_vec(), rows, cols, kind);
        self.set_quantized(q);
    }

    fn set_quantized(&mut self, q: QuantizedMatrix) {
        self.quantized = Some(Arc::new(q));
        self.weight = Tensor::zeros([0]);
    }
}

impl Gpt2 {
    fn convs_named(&mut self) -> Vec<(String, &mut Conv1D)> {
        let mut out = Vec::new();
        for (i, blk) in self.blocks.iter_mut().enumerate() {
            out.push((format!("h.{i}.attn.c_attn.weight"), &mut blk.c_attn));
            out.push((format!("h.{i}.attn.c_proj.weight"), &mut blk.attn_proj));
            out.push((format!("h.{i}.mlp.c_fc.weight"), &mut blk.c_fc));
            out.push((format!("h.{i}.mlp.c_proj.weight"), &mut blk.mlp_proj));
        }
        out
    }

    /// The names of the blocks' linear weights (`h.0.attn.c_attn.weight` …), in load order.
    pub(super) fn conv_weight_names(&mut self) -> Vec<String> {
        self.convs_named().into_iter().map(|(n, _)| n).collect()
    }

    /// Quantizes the linear weight called `name` (one of [`Gpt2::conv_weight_names`]).
    pub(super) fn quantize_conv(&mut self, name: &str, kind: QuantKind) {
        if let Some((_, c)) = self.convs_named().into_iter().find(|(n, _)| n == name) {
            c.quantize(kind);
        }
    }

    /// QLoRA's base: stores every block's linear weights in `kind` and frees their f32 copies.
    /// They are frozen from then on (no gradient reaches them); call it before
    /// [`Gpt2::enable_lora`], whose adapters stay f32. Embeddings, layer norms and biases are
    /// not quantized.
    pub fn quantize_base(&mut self, kind: QuantKind) -> QuantSummary {
        let mut s = QuantSummary { matrices: 0, values: 0, bytes: 0 };
        for (_, c) in self.convs_named() {
            c.quantize(kind);
            let q = c.quantized.as_ref().expect("just quantized");
            s.matrices += 1;
            s.values += q.rows * q.cols;
            s.bytes += q.bytes();
        }
        s
    }

    /// The format of the quantized base, if any.
    pub fn quantization(&self) -> Option<QuantKind> {
        self.blocks.first()?.c_attn.quantized.as_ref().map(|q| match q.stored {
            Stored::Nf4(_) => QuantKind::Nf4,
            Stored::Int8(_) => QuantKind::Int8,
        })
    }

    /// Bytes of the model's weights as stored: f32 parameters at 4 bytes, quantized ones as
    /// their codes and scales (adapters included).
    pub fn weight_bytes(&self) -> usize {
        let f32s: usize = self.named_parameters().iter().map(|(_, t)| 4 * t.numel()).sum::<usize>()
            + self.lora_parameters().iter().map(|(_, t)| 4 * t.numel()).sum::<usize>();
        let quantized: usize = self
            .blocks
            .iter()
            .flat_map(|b| [&b.c_attn, &b.attn_proj, &b.c_fc, &b.mlp_proj])
            .filter_map(|c| c.quantized.as_ref())
            .map(|q| q.bytes())
            .sum();
        f32s + quantized
    }

    /// Saves a quantized model (after [`Gpt2::quantize_base`]) as a folder [`Gpt2::from_dir`]
    /// loads: config.json (with the format under `gradschool_quantization`), model.safetensors
    /// (the f32 tensors) and quantized.safetensors (codes and scales).
    pub fn save_quantized_dir(&self, dir: &Path) -> Result<()> {
        let kind = self.quantization().ok_or_else(|| {
            Error::Config("save_quantized_dir: the model is not quantized (call quantize_base first)".into())
        })?;
        self.save_dir(dir)?; // config.json and the f32 tensors (named_parameters skips quantized weights)
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::format(&path, e.to_string()))?;
        json[QUANT_KEY] = serde_json::Value::from(kind_name(kind));
        write_atomic(&path, (serde_json::to_string_pretty(&json).expect("plain JSON") + "\n").as_bytes())?;
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for blk in 0..self.blocks.len() {
            let b = &self.blocks[blk];
            let names = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"];
            for (name, c) in names.iter().zip([&b.c_attn, &b.attn_proj, &b.c_fc, &b.mlp_proj]) {
                let q = c.quantized.as_ref().expect("every block's linears are quantized together");
                let base = format!("h.{blk}.{name}.weight");
                let (codes, absmax) = match &q.stored {
                    Stored::Nf4(n) => {
                        ((format!("{base}.nf4"), Dtype::U8, vec![n.codes.len()], n.codes.clone()), &n.absmax)
                    }
                    Stored::Int8(n) => (
                        (
                            format!("{base}.int8"),
                            Dtype::I8,
                            vec![q.cols, q.rows],
                            n.codes.iter().map(|&v| v as u8).collect(),
                        ),
                        &n.absmax,
                    ),
                };
                owned.push(codes);
                owned.push((
                    format!("{base}.absmax"),
                    Dtype::F32,
                    vec![absmax.len()],
                    absmax.iter().flat_map(|v| v.to_le_bytes()).collect(),
                ));
            }
        }
        let path = dir.join(QUANT_FILE);
        let views = owned
            .iter()
            .map(|(n, dt, shape, data)| {
                TensorView::new(*dt, shape.clone(), data)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| Error::format(&path, format!("{n}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta =
            HashMap::from([("format".to_string(), kind_name(kind).to_string()), ("block_size".into(), "64".into())]);
        let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| Error::format(&path, e.to_string()))?;
        write_atomic(&path, &bytes)
    }

    /// The quantization a folder's config.json asks for (`None` for a plain f32 folder).
    pub(super) fn folder_quantization(config_path: &Path) -> Result<Option<QuantKind>> {
        let text = std::fs::read_to_string(config_path).map_err(|e| Error::io(config_path, e))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::format(config_path, format!("not JSON: {e}")))?;
        match json.get(QUANT_KEY) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(|s| parse_quant_kind(s).ok())
                .map(Some)
                .ok_or_else(|| Error::format(config_path, format!("{QUANT_KEY}: {v} is not \"nf4\" or \"int8\""))),
        }
    }

    /// Reads every block's quantized weights from `dir/quantized.safetensors` into this model
    /// (built from the folder's config): each tensor's dtype and size checked against the shape
    /// the config implies, any missing or extra tensor an error naming it.
    pub(super) fn load_quantized(&mut self, dir: &Path, kind: QuantKind) -> Result<()> {
        let path = dir.join(QUANT_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::format(&path, format!("not a valid safetensors file: {e}")))?;
        let mut used = 0;
        let get = |name: &str, dtype: Dtype, len: usize| -> Result<Vec<u8>> {
            let v = st.tensor(name).map_err(|_| Error::format(&path, format!("missing tensor {name}")))?;
            let n: usize = v.shape().iter().product();
            if v.dtype() != dtype || n != len {
                return Err(Error::format(
                    &path,
                    format!("tensor {name}: {:?} × {n}, config.json implies {dtype:?} × {len}", v.dtype()),
                ));
            }
            Ok(v.data().to_vec())
        };
        let f32s = |b: Vec<u8>| -> Vec<f32> {
            b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        };
        for (name, c) in self.convs_named() {
            let (rows, cols) = c.in_out();
            let n = rows * cols;
            let q = match kind {
                QuantKind::Nf4 => {
                    let codes = get(&format!("{name}.nf4"), Dtype::U8, n.div_ceil(2))?;
                    let absmax = f32s(get(&format!("{name}.absmax"), Dtype::F32, n.div_ceil(crate::quant::NF4_BLOCK))?);
                    Stored::Nf4(Nf4 { codes, absmax, len: n })
                }
                QuantKind::Int8 => {
                    let codes = get(&format!("{name}.int8"), Dtype::I8, n)?.into_iter().map(|b| b as i8).collect();
                    let absmax = f32s(get(&format!("{name}.absmax"), Dtype::F32, cols)?);
                    Stored::Int8(Int8Rows { codes, absmax, cols: rows })
                }
            };
            c.set_quantized(QuantizedMatrix { rows, cols, stored: q });
            used += 2;
        }
        if st.len() != used {
            let known: std::collections::HashSet<String> = self
                .convs_named()
                .into_iter()
                .flat_map(|(n, _)| ["nf4", "int8", "absmax"].map(|s| format!("{n}.{s}")))
                .collect();
            let extra = st.names().into_iter().find(|n| !known.contains(*n)).unwrap_or_default();
            return Err(Error::format(&path, format!("tensor {extra} is not part of the model config.json describes")));
        }
        Ok(())
    }
}
