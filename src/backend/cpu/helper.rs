//! Low-latency fork-join for matrix products that are too small for a sleeping thread pool.
//!
//! Measured on the 2-core VMs this project runs on: waking a parked rayon worker, or spawning a
//! thread, costs 60–100 µs — as long as one MLP layer's whole product. OpenMP runtimes (and so
//! PyTorch) avoid this by letting idle workers spin for a while. The helpers here do the same:
//! one thread per extra core, which after each job keeps polling for the next one for
//! [`SPIN`] (yielding the core to any other runnable thread) before it blocks. A training loop
//! calls GEMM every few tens of microseconds, so it finds its helpers awake.
//!
//! Jobs are `'static` closures (they own `Arc`s of the operands), so all of this is safe Rust.

use std::sync::mpsc::{channel, Receiver, SendError, Sender, TryRecvError};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle helper keeps polling before it blocks.
const SPIN: Duration = Duration::from_millis(2);

type Job = Box<dyn FnOnce() + Send>;

/// One job queue per helper thread.
fn helpers() -> &'static [Mutex<Sender<Job>>] {
    static HELPERS: OnceLock<Vec<Mutex<Sender<Job>>>> = OnceLock::new();
    HELPERS.get_or_init(|| {
        let extra = rayon::current_num_threads().saturating_sub(1);
        (0..extra)
            .filter_map(|i| {
                let (tx, rx) = channel::<Job>();
                let spawned = std::thread::Builder::new().name(format!("gradschool-gemm-{i}")).spawn(move || serve(rx));
                spawned.ok().map(|_| Mutex::new(tx))
            })
            .collect()
    })
}

/// A helper's life: run jobs; between jobs, poll for [`SPIN`], then block.
fn serve(rx: Receiver<Job>) {
    loop {
        let start = Instant::now();
        let job = loop {
            match rx.try_recv() {
                Ok(job) => break job,
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) if start.elapsed() < SPIN => std::thread::yield_now(),
                Err(TryRecvError::Empty) => match rx.recv() {
                    Ok(job) => break job,
                    Err(_) => return,
                },
            }
        };
        job();
    }
}

/// How many pieces [`split`] runs at once: this thread plus the helpers.
pub(super) fn parallelism() -> usize {
    1 + helpers().len()
}

/// Runs `first` on this thread and each of `rest` on its own helper, and returns the results in
/// order. A job whose helper has died (after a panic) runs on this thread instead; a job that
/// panics on a helper is reported here as a panic.
pub(super) fn split<T: Send + 'static>(first: impl FnOnce() -> T, rest: Vec<Box<dyn FnOnce() -> T + Send>>) -> Vec<T> {
    let jobs = rest.len();
    assert!(jobs <= helpers().len(), "split: {jobs} jobs for {} helpers", helpers().len());
    let (tx, rx) = channel::<(usize, T)>();
    let mut orphans = Vec::new();
    for (i, job) in rest.into_iter().enumerate() {
        let tx = tx.clone();
        let wrapped: Job = Box::new(move || {
            // The caller may have panicked and dropped the receiver; nothing to report then.
            let _ = tx.send((i, job()));
        });
        let queue = helpers()[i].lock().unwrap_or_else(|e| e.into_inner());
        if let Err(SendError(wrapped)) = queue.send(wrapped) {
            orphans.push(wrapped);
        }
    }
    drop(tx);
    let mine = first();
    orphans.into_iter().for_each(|job| job());
    let mut results: Vec<Option<T>> = (0..jobs).map(|_| None).collect();
    let (mut received, waiting) = (0, Instant::now());
    while received < jobs {
        match rx.try_recv() {
            Ok((i, r)) => {
                results[i] = Some(r);
                received += 1;
            }
            // The helpers' pieces take about as long as ours: poll rather than sleep, but give
            // the core away if a helper is late (busy with another caller's job).
            Err(TryRecvError::Empty) if waiting.elapsed() < Duration::from_micros(200) => std::hint::spin_loop(),
            Err(TryRecvError::Empty) => std::thread::yield_now(),
            Err(TryRecvError::Disconnected) => panic!("matmul: a helper thread panicked while computing its block"),
        }
    }
    std::iter::once(mine).chain(results.into_iter().map(|r| r.expect("every job reported"))).collect()
}
