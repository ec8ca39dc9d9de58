//! The MPI engine: the ranks `mpirun` started, through the `mpi` crate (rsmpi) over the system's
//! MPI library (Open MPI on Debian).

use super::Collectives;
use crate::error::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Threading;

/// Floats sent per MPI call: large enough to run at the link's bandwidth, small enough that the
/// send copy (MPI reduces out of place) stays a few MiB.
const CHUNK: usize = 1 << 20;

/// `MPI_COMM_WORLD`. Collectives are called from the training thread only (MPI_THREAD_FUNNELED);
/// the compute threads never communicate.
pub(super) struct MpiWorld {
    rank: usize,
    size: usize,
}

impl MpiWorld {
    /// Initializes MPI (once per process); the universe finalizes it when dropped.
    pub(super) fn init() -> Result<(MpiWorld, Universe)> {
        let (universe, threading) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or_else(|| Error::Config("MPI was already initialized in this process".into()))?;
        if threading < Threading::Funneled {
            return Err(Error::Config(format!(
                "the MPI library offers thread level {threading:?}; gradschool needs Funneled"
            )));
        }
        let world = universe.world();
        Ok((MpiWorld { rank: world.rank() as usize, size: world.size() as usize }, universe))
    }

    fn comm(&self) -> SimpleCommunicator {
        SimpleCommunicator::world()
    }
}

impl Collectives for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_reduce_sum(&self, buf: &mut [f32]) {
        let comm = self.comm();
        let mut send = Vec::with_capacity(CHUNK.min(buf.len()));
        for chunk in buf.chunks_mut(CHUNK) {
            send.clear();
            send.extend_from_slice(chunk);
            comm.all_reduce_into(&send[..], chunk, SystemOperation::sum());
        }
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) {
        let send = buf.to_vec(); // a few numbers: evaluation's sums
        self.comm().all_reduce_into(&send[..], buf, SystemOperation::sum());
    }
    fn broadcast(&self, buf: &mut [f32], root: usize) {
        let comm = self.comm();
        for chunk in buf.chunks_mut(CHUNK) {
            comm.process_at_rank(root as i32).broadcast_into(chunk);
        }
    }
    fn broadcast_bytes(&self, buf: &mut [u8], root: usize) {
        self.comm().process_at_rank(root as i32).broadcast_into(buf);
    }
    fn abort(&self, code: i32) -> ! {
        self.comm().abort(code)
    }
    fn engine(&self) -> &'static str {
        "MPI"
    }
}
