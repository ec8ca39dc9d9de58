//! Saving and loading tensors: safetensors files (the format PyTorch and Hugging Face read),
//! written atomically so a crash mid-save never leaves a half-written file behind.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Tensors with their names, in a stable order.
pub type NamedTensors = Vec<(String, Tensor)>;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over `path` (a rename within one filesystem is atomic). Temporary files of the
/// same name left by a process that died mid-save (SIGKILL, power loss) are removed first, so a
/// killed run does not leave checkpoint-sized litter behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    remove_stale_temporaries(dir, &name);
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Runs `write` on a temporary path beside `path` (ending in `.ext`, so format-sniffing writers
/// such as image encoders pick the right format), then renames it over `path`: the same
/// all-or-nothing save as [`write_atomic`] for files a library writes itself. `what` names the
/// work in the error (`"draw the plot"`).
pub fn write_via_temporary(
    path: &Path,
    ext: &str,
    what: &str,
    write: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    remove_stale_temporaries(dir, &name);
    let tmp = dir.join(format!(".{name}.tmp{}.{ext}", std::process::id()));
    let result = write(&tmp).map_err(|e| Error::format(path, format!("cannot {what}: {e}")));
    let result = result.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes `dir/.{name}.tmp<pid>[.ext]` files whose process is gone (on Linux, where `/proc`
/// says; elsewhere nothing is removed, since a live writer's file must never be).
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else { continue };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let tail = &rest[digits.len()..];
        let Ok(pid) = digits.parse::<u32>() else { continue };
        if !(tail.is_empty() || tail.starts_with('.')) {
            continue;
        }
        let alive = pid == std::process::id()
            || !Path::new("/proc/self").exists()
            || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Saves named f32 tensors (and string metadata) as a safetensors file, atomically.
pub fn save_safetensors(path: &Path, tensors: &[(String, Tensor)], metadata: &HashMap<String, String>) -> Result<()> {
    save_safetensors_lazy(path, tensors.iter().map(|(name, t)| LazyTensor::of(name.clone(), t)).collect(), metadata)
}

/// A tensor to save whose values are made only when the writer reaches it.
pub struct LazyTensor<'a> {
    /// Its name in the file.
    name: String,
    /// Its shape (the values' length is its product).
    shape: Vec<usize>,
    source: Source<'a>,
}

enum Source<'a> {
    /// A stored tensor's storage, held for reading while the file is written: a CPU tensor's
    /// bytes are written from it as they are, with no copy at all.
    Stored(std::sync::RwLockReadGuard<'a, crate::backend::Storage>),
    /// Makes the values (row-major f32) when the writer reaches them.
    Made(Box<dyn Fn() -> Vec<f32> + 'a>),
}

impl<'a> LazyTensor<'a> {
    /// A tensor as it is stored.
    pub fn of(name: String, t: &'a Tensor) -> LazyTensor<'a> {
        LazyTensor { name, shape: t.dims().to_vec(), source: Source::Stored(t.storage()) }
    }

    /// Values `values()` makes, of shape `shape`.
    pub fn made(name: String, shape: Vec<usize>, values: impl Fn() -> Vec<f32> + 'a) -> LazyTensor<'a> {
        LazyTensor { name, shape, source: Source::Made(Box::new(values)) }
    }

    /// A CPU tensor's values as the file's little-endian bytes, borrowed from its storage.
    #[allow(irrefutable_let_patterns)] // without the cuda feature, every storage is on the CPU
    fn stored_bytes(&self) -> Option<&[u8]> {
        let Source::Stored(storage) = &self.source else { return None };
        let crate::backend::Storage::Cpu(c) = &**storage else { return None };
        let values = c.as_slice();
        if !cfg!(target_endian = "little") || values.len() != self.shape.iter().product::<usize>() {
            return None;
        }
        // SAFETY: f32 has no padding and every byte is a valid u8 (alignment 1); the bytes are
        // the slice's own, borrowed for as long as `self` holds the storage's read guard; on a
        // little-endian machine they are exactly the file's little-endian f32s.
        Some(unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values)) })
    }
}

/// [`save_safetensors`] streamed: the header first, then each tensor's bytes (a stored CPU
/// tensor's straight from its storage, others made when the writer reaches them). Saving so holds
/// at most one made tensor's values at a time: not the whole file twice over, as building it in
/// memory did (0.95 GB for GPT-2 124M), nor every merged weight at once (see
/// `Gpt2::save_merged_dir`). Atomic as [`write_atomic`] is. Every stored tensor's storage is
/// held for reading until the file is written.
pub fn save_safetensors_lazy(
    path: &Path,
    tensors: Vec<LazyTensor<'_>>,
    metadata: &HashMap<String, String>,
) -> Result<()> {
    let views = tensors.into_iter().map(|t| (t.name.clone(), t));
    let meta = if metadata.is_empty() { None } else { Some(metadata.clone()) };
    write_via_temporary(path, "safetensors", "write the tensors", |tmp| {
        safetensors::serialize_to_file(views, meta, tmp).map_err(|e| e.to_string())?;
        std::fs::File::open(tmp).and_then(|f| f.sync_all()).map_err(|e| e.to_string())
    })
}

impl safetensors::View for LazyTensor<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        if let Some(bytes) = self.stored_bytes() {
            return std::borrow::Cow::Borrowed(bytes);
        }
        let values = match &self.source {
            Source::Stored(storage) => storage.to_vec(), // on a GPU: copied to the host first
            Source::Made(make) => make(),
        };
        assert_eq!(
            values.len(),
            self.shape.iter().product::<usize>(),
            "{}: values for shape {:?}",
            self.name,
            self.shape
        );
        std::borrow::Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * 4
    }
}

/// A tensor's values as f32: F32 as stored, F16 and BF16 converted exactly; any other dtype an
/// error naming `path` and `name`.
pub(crate) fn view_to_f32(path: &Path, name: &str, view: &TensorView<'_>) -> Result<Vec<f32>> {
    let raw = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => raw.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => raw.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => return Err(Error::format(path, format!("tensor {name}: dtype {other:?}; F32, F16 or BF16 expected"))),
    })
}

/// A safetensors file mapped into memory rather than read into it: a loader converts one tensor
/// at a time and then [`MappedSafetensors::release`]s its pages, so loading a model holds the
/// model and one tensor's bytes — not the whole file as well (for GPT-2 124M, 0.5 GB less).
pub struct MappedSafetensors {
    path: std::path::PathBuf,
    map: memmap2::Mmap,
}

impl MappedSafetensors {
    /// Maps `path` (read-only) and checks that it is valid safetensors.
    pub fn open(path: &Path) -> Result<MappedSafetensors> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the mapping is read-only and lives in this struct; a file changed by another
        // process while mapped could change what is read (as with any reader), not memory safety
        // of ours beyond that: every tensor is bounds-checked by SafeTensors::deserialize.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        SafeTensors::deserialize(&map)
            .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
        Ok(MappedSafetensors { path: path.to_path_buf(), map })
    }

    /// The parsed file (views into the mapping).
    pub fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.map).expect("validated in open")
    }

    /// Tensor `name` as f32, shape and values.
    pub fn read(&self, name: &str) -> Result<Tensor> {
        let (shape, values) = self.read_values(name)?;
        Ok(Tensor::from_vec(values, shape))
    }

    /// Tensor `name`'s shape and values as f32, for a loader that moves them into a parameter.
    pub(crate) fn read_values(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let st = self.tensors();
        let view = st.tensor(name).map_err(|_| Error::format(&self.path, format!("missing tensor {name}")))?;
        Ok((view.shape().to_vec(), view_to_f32(&self.path, name, &view)?))
    }

    /// Gives the pages of tensor `name` back to the kernel (they are read again from the file if
    /// touched): after a loader has converted it.
    pub fn release(&self, name: &str) {
        let st = self.tensors();
        let Ok(view) = st.tensor(name) else { return };
        let start = view.data().as_ptr() as usize - self.map.as_ptr() as usize;
        // page-aligned inner range: the neighbours' pages stay
        let page = 4096;
        let (lo, hi) = (start.div_ceil(page) * page, (start + view.data().len()) / page * page);
        if hi > lo {
            // SAFETY: DontNeed on a read-only file mapping only drops cached pages; later reads
            // fault them back in from the file, unchanged.
            let _ = unsafe { self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, lo, hi - lo) };
        }
    }
}

/// The tensors and metadata of a safetensors file, as f32: F32 as stored, F16 and BF16 (how most
/// published checkpoints are saved) converted exactly — every half value is an f32 value. Any
/// other dtype, or a file that is not valid safetensors (truncated, corrupt), is an error naming
/// the file and tensor.
pub fn load_safetensors(path: &Path) -> Result<(NamedTensors, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let data = view_to_f32(path, &name, &view)?;
        out.push((name, Tensor::from_vec(data, view.shape().to_vec())));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

/// The string metadata of a safetensors file (its header only: the tensors are not read, so a
/// checkpoint of any size answers at once). A file that is not safetensors is an error naming it.
pub fn safetensors_metadata(path: &Path) -> Result<HashMap<String, String>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: a read-only mapping; a file changed under it at worst gives a parse error.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&map[..])
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_writers_temporary_is_removed_and_a_live_ones_kept() {
        let dir = std::env::temp_dir().join(format!("gradschool-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // pid 4194305 is above Linux's pid_max limit (2²²), so no process can have it
        let dead = dir.join(".m.bin.tmp4194305");
        let live = dir.join(".m.bin.tmp1"); // pid 1 (init) is always alive: a writer that may be busy
        let other = dir.join(".n.bin.tmp4194305"); // another file's temporary: not ours to touch
        for p in [&dead, &live, &other] {
            std::fs::write(p, b"half a checkpoint").unwrap();
        }
        write_atomic(&dir.join("m.bin"), b"whole").unwrap();
        assert_eq!(std::fs::read(dir.join("m.bin")).unwrap(), b"whole");
        assert_eq!(dead.exists(), !Path::new("/proc/self").exists(), "the dead writer's file is gone on Linux");
        assert!(other.exists() && live.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
