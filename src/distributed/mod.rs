//! Data parallelism's communication: the collectives a training step needs (all-reduce,
//! broadcast), behind one trait, with two engines — this process alone ([`Single`]), and MPI
//! ranks started by `mpirun` (Open MPI through the `mpi` crate, under the `distributed`
//! feature). No transport is written here: the bytes move through MPI.
//!
//! A process learns its place once, at start-up ([`init`], called by the `gradschool` binary):
//! under `mpirun` it joins the MPI job; otherwise it is rank 0 of 1 and every collective is the
//! identity. The trainer asks [`world`] and never needs to know which.

#[cfg(feature = "distributed")]
mod mpi_world;
#[cfg(feature = "nccl")]
pub mod nccl;

use crate::error::{Error, Result};
use crate::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

// ANCHOR: collectives
/// The collective operations of a group of ranks. Every rank must call the same collectives in
/// the same order with buffers of the same length: a collective is a meeting, and a rank that
/// skips one leaves the others waiting forever.
pub trait Collectives: Send + Sync {
    /// This process's rank, 0 ≤ rank < size.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Every rank's `buf` becomes the element-wise sum of all ranks' `buf`s.
    fn all_reduce_sum(&self, buf: &mut [f32]);
    /// The same in f64: evaluation's sums and counts.
    fn all_reduce_sum_f64(&self, buf: &mut [f64]);
    /// Every rank's `buf` becomes rank `root`'s.
    fn broadcast(&self, buf: &mut [f32], root: usize);
    /// Every rank's `buf` becomes rank `root`'s (bytes: hashes, flags, text).
    fn broadcast_bytes(&self, buf: &mut [u8], root: usize);
    /// Ends every rank of the job at once with `code` (after an error on one of them).
    fn abort(&self, code: i32) -> !;
    /// The engine, for messages: "single process" or "MPI".
    fn engine(&self) -> &'static str;
}
// ANCHOR_END: collectives

/// One process alone: rank 0 of 1, every collective the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Single;

impl Collectives for Single {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _buf: &mut [f32]) {}
    fn all_reduce_sum_f64(&self, _buf: &mut [f64]) {}
    fn broadcast(&self, _buf: &mut [f32], _root: usize) {}
    fn broadcast_bytes(&self, _buf: &mut [u8], _root: usize) {}
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
    fn engine(&self) -> &'static str {
        "single process"
    }
}

static WORLD: OnceLock<Box<dyn Collectives>> = OnceLock::new();
static QUIET: AtomicBool = AtomicBool::new(false);

/// The group this process trains in: the MPI job after [`init`] under `mpirun`, else [`Single`].
pub fn world() -> &'static dyn Collectives {
    WORLD.get_or_init(|| Box::new(Single)).as_ref()
}

/// Whether this process speaks for the job (rank 0): only it prints progress and writes files.
pub fn is_leader() -> bool {
    !QUIET.load(Ordering::Relaxed)
}

/// The size of the MPI job this process was started in, read from the launcher's environment
/// (Open MPI's `OMPI_COMM_WORLD_SIZE`, or PMI's `PMI_SIZE` for MPICH and Slurm); `None` when it
/// was not started by a launcher.
pub fn launched_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"].iter().find_map(|k| std::env::var(k).ok()?.parse().ok())
}

/// Holds MPI open while it lives (dropping it finalizes MPI); `None` inside when the process runs
/// alone.
pub struct WorldGuard {
    #[cfg(feature = "distributed")]
    _universe: Option<mpi::environment::Universe>,
}

impl WorldGuard {
    /// Leaves the job (MPI_Finalize): call it after this rank's last collective.
    pub fn finish(self) {}
}

/// Joins the MPI job when the process was started by `mpirun` (see [`launched_size`]), making
/// [`world`] the job's ranks and quieting every rank but 0; otherwise does nothing. Call it once,
/// first thing in `main`, and keep the guard until the end. A binary built without the
/// `distributed` feature refuses to run as one of several ranks: each would train alone and
/// overwrite the others' files.
pub fn init() -> Result<WorldGuard> {
    let Some(size) = launched_size().filter(|&n| n > 1) else {
        #[cfg(feature = "distributed")]
        return Ok(WorldGuard { _universe: None });
        #[cfg(not(feature = "distributed"))]
        return Ok(WorldGuard {});
    };
    #[cfg(feature = "distributed")]
    {
        let (world, universe) = mpi_world::MpiWorld::init()?;
        if world.size() != size {
            return Err(Error::Config(format!(
                "the launcher says {size} ranks but MPI counts {}; is this binary linked against the MPI that \
                 launched it?",
                world.size()
            )));
        }
        QUIET.store(world.rank() != 0, Ordering::Relaxed);
        WORLD
            .set(Box::new(world))
            .map_err(|_| Error::Config("distributed::init called after the world was first used".into()))?;
        Ok(WorldGuard { _universe: Some(universe) })
    }
    #[cfg(not(feature = "distributed"))]
    Err(Error::Config(format!(
        "started as one of {size} ranks (mpirun), but this gradschool was built without the `distributed` \
         feature: build it with `cargo build --release --features distributed`"
    )))
}

/// FNV-1a over the bits of `values`: a cheap fingerprint to check that every rank holds the same
/// numbers (not a defence against anyone).
pub fn fingerprint<'a>(values: impl IntoIterator<Item = &'a [f32]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for x in v {
            for b in x.to_bits().to_le_bytes() {
                h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    h
}

/// Checks that every rank's `hash` equals rank 0's; an error names the ranks that differ and
/// `what` was compared.
pub fn check_same(world: &dyn Collectives, hash: u64, what: &str) -> Result<()> {
    let mut root = hash.to_le_bytes();
    world.broadcast_bytes(&mut root, 0);
    let mut differs = vec![0.0f32; world.size()];
    differs[world.rank()] = f32::from(u64::from_le_bytes(root) != hash);
    world.all_reduce_sum(&mut differs);
    let ranks: Vec<String> =
        differs.iter().enumerate().filter(|(_, &d)| d != 0.0).map(|(r, _)| r.to_string()).collect();
    if ranks.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(format!("{what} of rank(s) {} differ from rank 0's", ranks.join(", "))))
    }
}

// ANCHOR: shard
/// The micro-batches of one optimizer step that rank `rank` of `size` computes: the step takes
/// `group` (global micro-batch indices, `size × accum` of them except at an epoch's end) and rank r
/// the r-th block of `accum` — so with `accum` = 1, rank r takes the step's r-th micro-batch, the
/// one a single process with `--grad-accum size` computes r-th.
pub fn shard(group: std::ops::Range<usize>, rank: usize, accum: usize) -> std::ops::Range<usize> {
    let start = (group.start + rank * accum).min(group.end);
    start..(start + accum).min(group.end)
}
// ANCHOR_END: shard

// ANCHOR: zero_owners
/// ZeRO-1's owners: which rank keeps the optimizer state of, and updates, each parameter, given
/// the parameters' sizes. As PyTorch's `ZeroRedundancyOptimizer`: whole parameters, the largest
/// first, each to the rank holding the fewest elements so far (ties to the lower rank), so every
/// rank computes the same assignment from the sizes alone.
pub fn zero_owners(numels: &[usize], ranks: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..numels.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(numels[i])); // stable: equal sizes keep their order
    let (mut load, mut owner) = (vec![0usize; ranks.max(1)], vec![0; numels.len()]);
    for i in order {
        let r = (0..load.len()).min_by_key(|&r| load[r]).unwrap_or(0);
        owner[i] = r;
        load[r] += numels[i];
    }
    owner
}
// ANCHOR_END: zero_owners

// ANCHOR: all_reduce
/// Sums the gradients of every rank into every rank's `.grad()`, DDP's all-reduce: flattened in
/// reverse parameter order (the order backward finishes them, in which DDP's buckets fill), with
/// a presence flag per parameter (a parameter no rank reached keeps no gradient, as alone), the
/// ranks' summed step loss and whether any rank was asked to stop — one message per step.
/// Gradients on a GPU are summed by NCCL in the same order (feature `nccl`; the small message of
/// flags, loss and stop goes through the world first), unless GRADSCHOOL_NCCL=0.
pub fn all_reduce_gradients(
    world: &dyn Collectives,
    params: &[Tensor],
    loss: Option<Tensor>,
    stop: bool,
) -> Result<(Option<Tensor>, bool)> {
    let grads: Vec<Option<Tensor>> = params.iter().rev().map(Tensor::grad).collect();
    let local = loss.map(|l| l.item());
    let mut flags: Vec<f32> = grads.iter().map(|g| f32::from(u8::from(g.is_some()))).collect();
    flags.extend([f32::from(u8::from(local.is_some())), local.unwrap_or(0.0), f32::from(u8::from(stop))]);
    #[cfg(feature = "nccl")]
    if params.first().is_some_and(|p| p.device() != crate::Device::Cpu) && nccl::wanted() {
        world.all_reduce_sum(&mut flags);
        let parts: Vec<Tensor> =
            params.iter().rev().zip(&grads).map(|(p, g)| g.clone().unwrap_or_else(|| p.zeros_like())).collect();
        let sums = nccl::all_reduce_sum(world, &parts)?;
        for ((p, sum), &flag) in params.iter().rev().zip(sums).zip(&flags) {
            p.set_grad((flag > 0.0).then_some(sum));
        }
        let tail = &flags[params.len()..];
        return Ok(((tail[0] > 0.0).then(|| Tensor::scalar(tail[1])), tail[2] > 0.0));
    }
    let numel: usize = params.iter().map(Tensor::numel).sum();
    let mut buf = Vec::with_capacity(numel + flags.len());
    for (p, g) in params.iter().rev().zip(&grads) {
        match g {
            Some(g) => buf.extend(g.to_vec()),
            None => buf.resize(buf.len() + p.numel(), 0.0),
        }
    }
    buf.extend(flags);
    world.all_reduce_sum(&mut buf);
    let (sums, flags) = buf.split_at(numel);
    let mut offset = 0;
    for (k, p) in params.iter().rev().enumerate() {
        let n = p.numel();
        let reached = flags[k] > 0.0;
        p.set_grad(reached.then(|| p.new_from_vec(sums[offset..offset + n].to_vec(), p.shape().clone())));
        offset += n;
    }
    let tail = &flags[params.len()..];
    Ok(((tail[0] > 0.0).then(|| Tensor::scalar(tail[1])), tail[2] > 0.0))
}
// ANCHOR_END: all_reduce

/// Named tensors as bytes (name length, name, element count, little-endian f32s), to move a
/// rank's optimizer state through a broadcast.
pub fn encode_named(tensors: &[(String, Vec<f32>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in tensors {
        out.extend((name.len() as u32).to_le_bytes());
        out.extend(name.as_bytes());
        out.extend((data.len() as u64).to_le_bytes());
        data.iter().for_each(|v| out.extend(v.to_le_bytes()));
    }
    out
}

/// The inverse of [`encode_named`]; `None` if the bytes are not such a list.
pub fn decode_named(mut bytes: &[u8]) -> Option<Vec<(String, Vec<f32>)>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = bytes.split_at_checked(n)?;
        *bytes = rest;
        Some(head)
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?) as usize;
        let name = String::from_utf8(take(&mut bytes, len)?.to_vec()).ok()?;
        let n = u64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?) as usize;
        let data = take(&mut bytes, n.checked_mul(4)?)?;
        out.push((name, data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_group_once_in_rank_order() {
        // 2 ranks × 3 micro-batches; a full group and an epoch's short last group (7 of 10)
        for (group, want) in [(0..6, vec![0..3, 3..6]), (6..10, vec![6..9, 9..10]), (9..10, vec![9..10, 10..10])] {
            let got: Vec<_> = (0..2).map(|r| shard(group.clone(), r, 3)).collect();
            assert_eq!(got, want, "group {group:?}");
        }
        // accum 1: rank r takes the group's r-th micro-batch
        assert_eq!((0..4).map(|r| shard(8..12, r, 1)).collect::<Vec<_>>(), vec![8..9, 9..10, 10..11, 11..12]);
    }

    #[test]
    fn alone_every_collective_is_the_identity_and_the_check_passes() {
        let mut v = vec![1.5f32, -2.0];
        Single.all_reduce_sum(&mut v);
        Single.broadcast(&mut v, 0);
        assert_eq!(v, [1.5, -2.0]);
        check_same(&Single, 7, "parameters").unwrap();
    }

    #[test]
    fn zero_owners_balance_whole_parameters_largest_first() {
        // MNIST's network: fc1.weight alone is 83% of the elements, so 2 ranks cannot balance
        let mnist = [200_704, 256, 32_768, 128, 8_192, 64, 640, 10];
        assert_eq!(zero_owners(&mnist, 2), vec![0, 1, 1, 1, 1, 1, 1, 1]);
        // sizes 5, 4, 3, 3, 1 on 2 ranks: 5→0, 4→1, 3→1 (4 < 5), 3→0 (5 < 7), 1→1 (7 < 8)
        let owners = zero_owners(&[3, 5, 1, 4, 3], 2);
        assert_eq!(owners, vec![1, 0, 1, 1, 0]);
        let load = |r| owners.iter().zip([3, 5, 1, 4, 3]).filter(|(&o, _)| o == r).map(|(_, n)| n).sum::<usize>();
        assert_eq!((load(0), load(1)), (8, 8));
        assert_eq!(zero_owners(&[7, 7], 1), vec![0, 0], "one rank owns everything");
    }

    #[test]
    fn named_tensors_survive_the_byte_round_trip_and_bad_bytes_are_refused() {
        let t = vec![("3.exp_avg".to_string(), vec![1.5, -0.0, f32::MIN_POSITIVE]), ("3.step".into(), vec![7.0])];
        let bytes = encode_named(&t);
        let back = decode_named(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        for ((n, a), (m, b)) in t.iter().zip(&back) {
            assert_eq!(n, m);
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
        assert!(decode_named(&bytes[..bytes.len() - 1]).is_none(), "a truncated list");
        assert_eq!(decode_named(&[]).unwrap().len(), 0);
    }

    #[test]
    fn the_fingerprint_sees_every_bit() {
        let a = [1.0f32, 2.0];
        let h = fingerprint([&a[..]]);
        assert_ne!(h, fingerprint([&[1.0f32, f32::from_bits(2.0f32.to_bits() ^ 1)][..]]), "one bit flipped");
        assert_ne!(h, fingerprint([&[2.0f32, 1.0][..]]), "order");
        assert_ne!(fingerprint([&[0.0f32][..]]), fingerprint([&[-0.0f32][..]]), "signed zero");
        assert_eq!(h, fingerprint([&a[..1], &a[1..]]), "the same numbers split differently");
    }
}
