//! Loading and saving GPT-2 in Hugging Face's format: a directory with `config.json` and
//! `model.safetensors`, tensor names with or without the `transformer.` prefix, the LM head tied.

use super::config::Gpt2Config;
use super::model::Gpt2;
use crate::error::{Error, Result};
use crate::io::{save_safetensors, write_atomic, MappedSafetensors};
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
            let t = file.read(stored)?;
            if t.dims() != p.dims() {
                return Err(Error::format(
                    &path,
                    format!("tensor {name}: shape {:?}, config.json implies {:?}", t.dims(), p.dims()),
                ));
            }
            p.set_data(&t);
            drop((t, p));
            file.release(stored);
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
        let named: Vec<(String, crate::Tensor)> =
            self.named_parameters().into_iter().map(|(n, t)| (format!("transformer.{n}"), t)).collect();
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        save_safetensors(&dir.join("model.safetensors"), &named, &meta)
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
