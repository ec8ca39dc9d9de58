//! Checking a GPT-2 against reference numbers, tensor by tensor: what `gradschool check-gpt2`
//! prints. The reference is a safetensors file with `input_ids` (int64, B×T) and `logits`
//! (float32, B×T×V), and optionally `loss` (labels = input_ids) and `grad.<parameter>` for every
//! parameter — the format tests/reference/gpt2_reference.py writes for any model directory.

use super::model::Gpt2;
use crate::error::{Error, Result};
use crate::int_tensor::IntTensor;
use crate::nn::Module;
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// One compared tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckLine {
    /// `logits`, `loss`, `grad.h.0.attn.c_attn.weight` …
    pub name: String,
    /// max |got − want| / (1 + |want|) over the elements.
    pub max_rel_err: f64,
    /// The tolerance it is held to.
    pub tolerance: f64,
}

impl CheckLine {
    /// Within tolerance.
    pub fn ok(&self) -> bool {
        self.max_rel_err <= self.tolerance
    }
}

fn max_rel(got: &[f32], want: &[f32]) -> f64 {
    got.iter().zip(want).map(|(g, w)| ((g - w).abs() / (1.0 + w.abs())) as f64).fold(0.0, f64::max)
}

/// Runs `model` on the reference's inputs and compares logits (1e-4), loss (1e-5) and gradients
/// (1e-3), the tolerances of the project's own parity tests.
pub fn check_against_reference(model: &Gpt2, reference: &Path) -> Result<Vec<CheckLine>> {
    let bytes = std::fs::read(reference).map_err(|e| Error::io(reference, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::format(reference, format!("not a valid safetensors file: {e}")))?;
    let get = |name: &str| st.tensor(name).ok();
    let ids_view = get("input_ids").ok_or_else(|| Error::format(reference, "missing tensor input_ids (int64, B×T)"))?;
    if ids_view.dtype() != Dtype::I64 || ids_view.shape().len() != 2 {
        return Err(Error::format(
            reference,
            format!("input_ids: {:?} {:?}, expected int64 B×T", ids_view.dtype(), ids_view.shape()),
        ));
    }
    let ids = IntTensor::from_vec(
        ids_view.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))).collect(),
        ids_view.shape().to_vec(),
    );
    let f32_of = |name: &str| -> Result<Option<Tensor>> {
        let Some(v) = get(name) else { return Ok(None) };
        if v.dtype() != Dtype::F32 {
            return Err(Error::format(reference, format!("{name}: dtype {:?}, expected float32", v.dtype())));
        }
        Ok(Some(Tensor::from_vec(
            v.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect(),
            v.shape().to_vec(),
        )))
    };
    let want_logits =
        f32_of("logits")?.ok_or_else(|| Error::format(reference, "missing tensor logits (float32, B×T×V)"))?;
    let logits = model.forward(&ids, None);
    if logits.dims() != want_logits.dims() {
        return Err(Error::format(
            reference,
            format!("logits {:?}, the model gives {:?}", want_logits.dims(), logits.dims()),
        ));
    }
    let mut lines = vec![CheckLine {
        name: "logits".into(),
        max_rel_err: max_rel(&logits.to_vec(), &want_logits.to_vec()),
        tolerance: 1e-4,
    }];
    if let Some(want_loss) = f32_of("loss")? {
        let loss = Gpt2::lm_loss(&logits, &ids);
        lines.push(CheckLine {
            name: "loss".into(),
            max_rel_err: max_rel(&[loss.item()], &want_loss.to_vec()),
            tolerance: 1e-5,
        });
        let params: HashMap<String, Tensor> = model.named_parameters().into_iter().collect();
        let grads: Vec<String> =
            st.names().into_iter().filter(|n| n.starts_with("grad.")).map(str::to_string).collect();
        if !grads.is_empty() {
            loss.backward();
        }
        let mut grads = grads;
        grads.sort();
        for name in grads {
            let pname = name["grad.".len()..].strip_prefix("transformer.").unwrap_or(&name["grad.".len()..]);
            let p = params
                .get(pname)
                .ok_or_else(|| Error::format(reference, format!("{name}: the model has no parameter {pname}")))?;
            let want = f32_of(&name)?.expect("listed");
            let got = p.grad().map(|g| g.to_vec()).unwrap_or_else(|| vec![0.0; p.numel()]);
            if want.dims() != p.dims() {
                return Err(Error::format(
                    reference,
                    format!("{name}: shape {:?}, parameter {:?}", want.dims(), p.dims()),
                ));
            }
            lines.push(CheckLine { name, max_rel_err: max_rel(&got, &want.to_vec()), tolerance: 1e-3 });
        }
    }
    Ok(lines)
}
