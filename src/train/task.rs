//! What a training job must say for the shared loop ([`super::train`]) to run it.

use crate::error::Result;
use crate::tensor::Tensor;
use std::path::Path;

/// What one training job provides; the loop itself is [`train`]'s.
pub trait Task {
    /// A short description for plot titles (model, optimizer, batch size …).
    fn title(&self) -> String;
    /// The task's settings a resumed run must share with its checkpoint (data, model, seed …).
    fn fingerprint(&self) -> String;
    /// The tensors training changes (parameters), by name: saved in checkpoints, restored on
    /// resume.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Micro-batches per epoch.
    fn batches(&self) -> usize;
    /// Called before epoch `epoch` (from 1) with that epoch's seed: shuffle here.
    fn start_epoch(&mut self, epoch: usize, seed: u64);
    /// The loss of micro-batch `index` of the current epoch; `seed` is this micro-batch's own
    /// (reseed dropout and any sampling from it).
    fn loss(&mut self, index: usize, seed: u64) -> Result<Tensor>;
    /// Train (true) or eval (false) mode.
    fn set_training(&mut self, training: bool);
    /// Names of the evaluation metrics, as metrics.csv columns; empty = no evaluation.
    fn eval_names(&self) -> Vec<String>;
    /// What shard `rank` of `ranks` of the evaluation set adds up to: sums and counts, never
    /// means, so that the shards' element-wise sum is the whole set's (data-parallel ranks each
    /// evaluate a shard; the trainer all-reduces the sums). Shard r takes the evaluation batches
    /// i with i % ranks == r. Called in eval mode without a graph.
    fn eval_sums(&mut self, rank: usize, ranks: usize) -> Result<Vec<f64>>;
    /// The metrics, in `eval_names` order, from the whole evaluation set's sums.
    fn eval_metrics(&self, sums: &[f64]) -> Vec<f64>;
    /// The metrics on the whole evaluation set, in one process.
    fn evaluate(&mut self) -> Result<Vec<f64>> {
        let sums = self.eval_sums(0, 1)?;
        Ok(self.eval_metrics(&sums))
    }
    /// Writes the model in its exchange format (safetensors, a Hugging Face directory, adapters)
    /// at a save point after `step`; `last` at the end of training.
    fn export(&self, out_dir: &Path, step: usize, last: bool) -> Result<()>;
}
