//! Times the all-reduce the trainer calls, against the ring formula: run it on N ranks,
//! `mpirun -np 2 target/release/examples/allreduce` (build with `cargo build --release
//! --features distributed --example allreduce`). For each buffer size S it prints the median of
//! 30 calls and the "bus bandwidth" 2(N−1)/N · S / t — the bytes each rank must send in a ring
//! all-reduce divided by the time — which benches/README.md compares with the machine's memory
//! bandwidth (ranks on one machine talk through shared memory).

use gradschool::distributed;
use std::time::Instant;

fn main() -> gradschool::Result<()> {
    let guard = distributed::init()?;
    let world = distributed::world();
    let n = world.size();
    gradschool::say!("{n} ranks ({})", world.engine());
    gradschool::say!("{:>12} {:>12} {:>14} {:>18}", "floats", "bytes", "median time", "bus bandwidth");
    for floats in [1usize << 10, 1 << 14, 1 << 18, 242_762, 1 << 22, 1 << 24] {
        let mut buf: Vec<f32> = (0..floats).map(|i| (i % 7) as f32).collect();
        let mut times = Vec::new();
        for rep in 0..33 {
            let t = Instant::now();
            world.all_reduce_sum(&mut buf);
            if rep >= 3 {
                times.push(t.elapsed().as_secs_f64()); // the first calls set up the transport
            }
        }
        // every rank's median, then the slowest rank's: a collective ends when the last rank does
        times.sort_by(f64::total_cmp);
        let mut median = vec![0.0f32; n];
        median[world.rank()] = times[times.len() / 2] as f32;
        world.all_reduce_sum(&mut median);
        let t = median.iter().cloned().fold(0.0f32, f32::max) as f64;
        let bytes = 4.0 * floats as f64;
        let bus = 2.0 * (n as f64 - 1.0) / n as f64 * bytes / t;
        gradschool::say!("{floats:>12} {:>10.1} KiB {:>11.1} µs {:>13.2} GB/s", bytes / 1024.0, t * 1e6, bus / 1e9);
    }
    guard.finish();
    Ok(())
}
