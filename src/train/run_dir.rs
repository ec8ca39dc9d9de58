//! A run's output folder, claimed for the run's whole life: one run at a time (a lock naming the
//! holder's pid), and a folder that already holds a run is continued (`--resume`) or replaced
//! (`--overwrite`, Hugging Face's `overwrite_output_dir`) only when the user says which.
//!
//! The lock is an advisory `flock` on `out_dir/.gradschool.lock`, which the kernel drops when the
//! holder exits in any way (an error, a panic, SIGKILL, a power cut): a lock file left by a dead
//! run holds no lock and the next run simply takes it over. The pid written inside is only for
//! the message a second run prints.

use super::checkpoint::CHECKPOINT;
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file inside the output folder.
pub const LOCK: &str = ".gradschool.lock";

/// The files that make a folder "hold a run": the trainer's own outputs.
const RUN_FILES: [&str; 3] = [CHECKPOINT, "metrics.csv", "loss.png"];

/// How a run starts in its folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new run: the folder must not hold one already.
    Fresh,
    /// Continue the run whose checkpoint is in the folder (`--resume`).
    Resume,
    /// A new run replacing the one in the folder (`--overwrite`): its metrics.csv, loss.png and
    /// checkpoint are deleted first, so nothing of the old run mixes into the new one.
    Overwrite,
}

impl Start {
    /// The start the `--resume` and `--overwrite` flags ask for; both at once is an error.
    pub fn from_flags(resume: bool, overwrite: bool) -> Result<Start> {
        match (resume, overwrite) {
            (true, true) => Err(Error::Config(
                "--resume and --overwrite contradict each other: continue the run, or replace it".into(),
            )),
            (true, false) => Ok(Start::Resume),
            (false, true) => Ok(Start::Overwrite),
            (false, false) => Ok(Start::Fresh),
        }
    }
}

/// A claimed output folder: the lock is held until this is dropped (or the process ends).
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// None on the ranks of a data-parallel job other than 0, which never write to the folder.
    _lock: Option<File>,
}

impl RunDir {
    /// Creates `dir` if needed, takes its lock, and checks `start` against what the folder
    /// holds. Refused: a folder another live run holds (naming its pid), a fresh run over a
    /// finished or interrupted one (naming `--resume` and `--overwrite`), `--resume` where there
    /// is no checkpoint, a folder that cannot be written.
    ///
    /// In a data-parallel job only rank 0 claims the folder; the other ranks never write to it
    /// and get a `RunDir` that holds no lock (if rank 0 is refused, it ends the whole job).
    pub fn claim(dir: &Path, start: Start) -> Result<RunDir> {
        if !crate::distributed::is_leader() {
            return Ok(RunDir { path: dir.to_path_buf(), _lock: None });
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(LOCK);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(dir, e))?;
        if let Err(e) = lock.try_lock() {
            let mut holder = String::new();
            let _ = lock.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() { "another process".to_string() } else { format!("process {holder}") };
            return Err(match e {
                std::fs::TryLockError::WouldBlock => Error::Config(format!(
                    "{} is in use by another gradschool run ({who}, lock {}); wait for it to finish, stop it, \
                     or choose another --out-dir",
                    dir.display(),
                    path.display()
                )),
                std::fs::TryLockError::Error(e) => Error::io(&path, e),
            });
        }
        // The lock is ours: record who holds it, for the message a second run prints.
        let record = (|| {
            lock.set_len(0)?;
            lock.rewind()?;
            writeln!(lock, "{}", std::process::id())?;
            lock.sync_all()
        })();
        record.map_err(|e| Error::io(dir, e))?;
        let held: Vec<&str> = RUN_FILES.into_iter().filter(|f| dir.join(f).exists()).collect();
        match start {
            Start::Fresh if !held.is_empty() => {
                return Err(Error::Config(format!(
                    "{} already holds a run ({}): continue it with --resume, or replace it with --overwrite \
                     (which deletes those files), or choose another --out-dir",
                    dir.display(),
                    held.join(", ")
                )))
            }
            Start::Resume if !dir.join(CHECKPOINT).is_file() => {
                return Err(Error::Config(format!(
                    "--resume: there is no {} to continue from (start a new run without --resume)",
                    dir.join(CHECKPOINT).display()
                )))
            }
            Start::Overwrite => {
                for f in held {
                    let p = dir.join(f);
                    std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                }
            }
            _ => {}
        }
        // A folder that cannot be written is found now, not at the first save an hour in.
        let probe = dir.join(format!(".gradschool-write-test{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| Error::io(dir, e))?;
        let _ = std::fs::remove_file(&probe);
        Ok(RunDir { path: dir.to_path_buf(), _lock: Some(lock) })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gradschool-rundir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_second_claim_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = fresh_dir("lock");
        let first = RunDir::claim(&dir, Start::Fresh).unwrap();
        let err = RunDir::claim(&dir, Start::Fresh).unwrap_err().to_string();
        assert!(err.contains(&format!("process {}", std::process::id())) && err.contains("in use"), "{err}");
        drop(first);
        RunDir::claim(&dir, Start::Fresh).expect("the lock is free once its holder is gone");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_stale_lock_file_of_a_dead_process_is_taken_over() {
        let dir = fresh_dir("stale");
        std::fs::create_dir_all(&dir).unwrap();
        // pid 4194305 is above Linux's pid_max (2²²): a lock file no live process can hold
        std::fs::write(dir.join(LOCK), "4194305\n").unwrap();
        let _run = RunDir::claim(&dir, Start::Fresh).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(LOCK)).unwrap(), format!("{}\n", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_folder_holding_a_run_needs_resume_or_overwrite() {
        let dir = fresh_dir("held");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("metrics.csv"), "epoch,step\n").unwrap();
        let err = RunDir::claim(&dir, Start::Fresh).unwrap_err().to_string();
        assert!(err.contains("--resume") && err.contains("--overwrite") && err.contains("metrics.csv"), "{err}");
        assert!(dir.join("metrics.csv").exists(), "a refused run deletes nothing");
        let err = RunDir::claim(&dir, Start::Resume).unwrap_err().to_string();
        assert!(err.contains("checkpoint.safetensors"), "{err}");
        drop(RunDir::claim(&dir, Start::Overwrite).unwrap());
        assert!(!dir.join("metrics.csv").exists(), "--overwrite deletes the old run's files");
        RunDir::claim(&dir, Start::Fresh).expect("an emptied folder takes a new run");
        assert!(Start::from_flags(true, true).unwrap_err().to_string().contains("contradict"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
