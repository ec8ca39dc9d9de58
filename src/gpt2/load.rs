//! Loading and saving GPT-2 in Hugging Face's format: a directory with `config.json` and
//! `model.safetensors`, tensor names with or without the `transformer.` prefix, the LM head tied.

use super::config::Gpt2Config;
use super::model::{Conv1D, Gpt2};
use crate::error::{Error, Result};
use crate::io::{save_safetensors_lazy, write_atomic, LazyTensor, MappedSafetensors};
use crate::nn::Module;
use crate::quant::QuantKind;
use std::collections::HashMap;
use std::path::Path;

impl Gpt2 {
    /// Loads `dir/config.json` and `dir/model.safetensors`. A missing tensor, a shape mismatch or
    /// a broken file is an error naming the file and the tensor.
    pub fn from_dir(dir: &Path) -> Result<Gpt2> {
        Gpt2::from_dir_with(dir, None)
    }

    /// [`Gpt2::from_dir`], storing the blocks' linear weights in `quantize` as each is read
    /// (QLoRA's base): the f32 copies are never all in memory at once. The file is mapped, not
    /// read, and each tensor's pages are released once converted, so loading holds the model
    /// and one tensor more — for the 124M model, 0.5 GB (f32) or 0.7 GB (NF4) less than reading
    /// the file whole.
    pub fn from_dir_with(dir: &Path, quantize: Option<QuantKind>) -> Result<Gpt2> {
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "--model-dir {}: no such folder (a GPT-2 folder holds config.json and model.safetensors)",
                dir.display()
            )));
        }
        let config = Gpt2Config::from_file(&dir.join("config.json"))?;
        let quantized = Gpt2::folder_quantization(&dir.join("config.json"))?;
        let path = dir.join("model.safetensors");
        let file = MappedSafetensors::open(&path)?;
        let names: HashMap<String, String> = file
            .tensors()
            .names()
            .into_iter()
            .map(|n| (n.strip_prefix("transformer.").unwrap_or(n).to_string(), n.to_string()))
            .collect();
        let mut model = Gpt2::skeleton(config);
        if let Some(kind) = quantized {
            // the quantized weights first: they then drop out of the f32 parameters read below
            model.load_quantized(dir, kind)?;
        }
        // before any weight is quantized (and so leaves the f32 parameters)
        unused_tensors(&model, &names, &file).map_err(|msg| Error::format(&path, msg))?;
        let convs = model.conv_weight_names();
        for (name, p) in model.named_parameters() {
            let stored = names
                .get(&name)
                .ok_or_else(|| Error::format(&path, format!("missing tensor {name} (or transformer.{name})")))?;
            // the values move into the parameter and the file's pages go back at once: one copy
            // of a tensor at a time (for the 124M embedding, 154 MB), not three
            let (shape, values) = file.read_values(stored)?;
            file.release(stored);
            if shape != p.dims() {
                return Err(Error::format(
                    &path,
                    format!("tensor {name}: shape {:?}, config.json implies {:?}", shape, p.dims()),
                ));
            }
            p.set_host_data(values);
            drop(p);
            if let Some(kind) = quantize.filter(|_| convs.contains(&name)) {
                // one weight at a time: its f32 copy is freed as its codes are made
                model.quantize_conv(&name, kind);
            }
        }
        Ok(model)
    }

    /// Saves `dir/config.json` and `dir/model.safetensors` (names prefixed `transformer.`, the LM
    /// head left tied), loadable by `GPT2LMHeadModel.from_pretrained(dir)`.
    pub fn save_dir(&self, dir: &Path) -> Result<()> {
        self.save_dir_with(dir, false)
    }

    /// [`Gpt2::save_dir`] of this model with its LoRA adapters merged — the same file as
    /// [`Gpt2::merge_lora`] then `save_dir`, byte for byte — but each merged weight is made only
    /// when the writer reaches it and the model itself is left as it is: the merged f32 weights
    /// are never all in memory (for a QLoRA base, merging in place would make every linear f32
    /// again: the whole run's peak, 1.7× its training step's at 124M).
    pub fn save_merged_dir(&self, dir: &Path) -> Result<()> {
        self.save_dir_with(dir, true)
    }

    fn save_dir_with(&self, dir: &Path, merged: bool) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // Hugging Face's config.json: our fields plus the three that name the architecture.
        #[derive(serde::Serialize)]
        struct HfConfig<'a> {
            model_type: &'static str,
            architectures: [&'static str; 1],
            #[serde(flatten)]
            shape: &'a Gpt2Config,
            activation_function: &'static str,
            tie_word_embeddings: bool,
        }
        let hf = HfConfig {
            model_type: "gpt2",
            architectures: ["GPT2LMHeadModel"],
            shape: &self.config,
            activation_function: "gelu_new",
            tie_word_embeddings: true,
        };
        let path = dir.join("config.json");
        let config = serde_json::to_string_pretty(&hf).map_err(|e| Error::format(&path, e.to_string()))? + "\n";
        write_atomic(&dir.join("config.json"), config.as_bytes())?;
        // merged: the blocks' linear weights come from their adapters, not the stored tensors
        let convs: HashMap<String, &Conv1D> = match merged {
            false => HashMap::new(),
            true => (self.blocks.iter().enumerate())
                .flat_map(|(i, b)| {
                    let named = [("attn.c_attn", &b.c_attn), ("attn.c_proj", &b.attn_proj), ("mlp.c_fc", &b.c_fc)];
                    named
                        .into_iter()
                        .chain([("mlp.c_proj", &b.mlp_proj)])
                        .map(move |(n, c)| (format!("h.{i}.{n}.weight"), c))
                })
                .collect(),
        };
        let params = self.named_parameters();
        let stored = params
            .iter()
            .filter(|(n, _)| !convs.contains_key(n))
            .map(|(n, t)| LazyTensor::of(format!("transformer.{n}"), t));
        let merged = convs.iter().map(|(n, &c)| {
            let shape = c.quantized.as_ref().map_or_else(|| c.weight.dims().to_vec(), |q| vec![q.rows, q.cols]);
            LazyTensor::made(format!("transformer.{n}"), shape, move || c.merged_weight())
        });
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        save_safetensors_lazy(&dir.join("model.safetensors"), stored.chain(merged).collect(), &meta)
    }
}

impl Conv1D {
    /// W + (B·A)ᵀ·α/r as [`Conv1D::merge_lora`] computes it (a quantized W dequantized first),
    /// without changing this module.
    fn merged_weight(&self) -> Vec<f32> {
        let _guard = crate::no_grad();
        let w = match &self.quantized {
            Some(q) => q.dequantize(),
            None => self.weight.to_vec(),
        };
        match &self.lora {
            None => w,
            Some(l) => {
                let delta = (l.b.matmul(&l.a).t() * l.scale).to_vec();
                w.iter().zip(&delta).map(|(w, d)| w + d).collect()
            }
        }
    }
}

/// A tensor in the file that the model config.json describes does not use means the two disagree
/// (`"n_layer": 1` over a 2-layer file would silently drop layer h.1): refused, naming the tensor.
/// Two kinds are not weights and are skipped: the causal-mask buffers older exports carry
/// (`h.N.attn.bias`, `h.N.attn.masked_bias`), and an `lm_head.weight` equal to `wte.weight` (a
/// tied head saved out); an lm_head that differs is an untied head, which gradschool does not have.
fn unused_tensors(
    model: &Gpt2,
    stored: &HashMap<String, String>,
    file: &MappedSafetensors,
) -> std::result::Result<(), String> {
    let used: std::collections::HashSet<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
    let mut names: Vec<&String> = stored.keys().filter(|n| !used.contains(*n)).collect();
    names.sort();
    for name in names {
        if name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") {
            continue;
        }
        if name == "lm_head.weight" {
            let read = |n: &str| stored.get(n).and_then(|s| file.read(s).ok());
            let (head, wte) = (read(name), read("wte.weight"));
            if let (Some(h), Some(w)) = (head, wte) {
                if w.dims() == h.dims() && w.to_vec() == h.to_vec() {
                    continue;
                }
            }
            return Err("lm_head.weight differs from wte.weight: an untied LM head, which gradschool does not \
                        implement (its head is tied to wte)"
                .into());
        }
        let c = &model.config;
        let layer = |n: &str| n.strip_prefix("h.")?.split('.').next()?.parse::<usize>().ok();
        let held = stored.keys().filter_map(|n| layer(n)).max().map_or(0, |l| l + 1);
        return Err(format!(
            "tensor {name} is not part of the model config.json describes (\"n_layer\": {}, the file holds {held} \
             layers; \"n_embd\": {}, \"n_head\": {}): the config and the weights disagree",
            c.n_layer, c.n_embd, c.n_head
        ));
    }
    Ok(())
}
