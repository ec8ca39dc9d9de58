//! The profiler (`--profile FILE`, `torch.profiler`'s job): every kernel a step runs — forward,
//! backward, optimizer — with its shapes, FLOPs, bytes moved and time, each backward rule as a
//! span around the kernels it launched, the CPU buffer pool's bytes over time, and the steps
//! themselves. [`finish`] returns it all as Chrome trace-event JSON (open it in
//! <https://ui.perfetto.dev> or chrome://tracing) and a table like `key_averages()`. A leaf
//! below the backend: it imports nothing of the crate, the backend calls it.
//!
//! Every kernel passes through `Storage`'s dispatch (src/backend/mod.rs), and that is where the
//! profiler listens: one relaxed atomic load per kernel when it is off. On, a kernel's time is the
//! wall time of its call — on the CPU, where kernels run to completion, that is its time; on a
//! GPU the profiler synchronises the device around each kernel, so the time is the kernel's own
//! (and the step is serialised while profiling).

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

static RECORDING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The backward rule running on this thread, if any: its kernels are the backward pass's.
    static IN_BACKWARD: Cell<Option<&'static str>> = const { Cell::new(None) };
    /// True while the optimizer updates the parameters.
    static IN_OPTIMIZER: Cell<bool> = const { Cell::new(false) };
}

/// Which part of a step a kernel belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The forward pass (and anything outside backward and the optimizer).
    Forward,
    /// Inside `backward()`.
    Backward,
    /// The optimizer's update.
    Optimizer,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Forward => "forward",
            Phase::Backward => "backward",
            Phase::Optimizer => "optimizer",
        }
    }
}

/// What a kernel did, for the trace and the table: filled in only when recording.
#[derive(Clone, Debug, Default)]
pub struct KernelInfo {
    /// The op (`matmul`, `gelu_tanh`, `add`, `layer_norm` …).
    pub name: &'static str,
    /// Operand shapes, as text (`[8,32,768]x[768,2304]`).
    pub shapes: String,
    /// Floating-point operations (products: 2·m·n·k per matrix; elementwise ops: 0, as in
    /// `torch.profiler`, which counts FLOPs for products only).
    pub flops: u64,
    /// Bytes read and written (each operand and the output once).
    pub bytes: u64,
}

/// A GPU kernel timed on the device's own clock: two events recorded on its stream around the
/// launch, read only when the profile is finished (reading waits for the kernel), so recording
/// never stops the host to wait for the GPU after a kernel.
pub(crate) trait DeviceSpan: std::fmt::Debug + Send + Sync {
    /// (start, duration) in µs, the start counted from `origin`'s start on the same clock
    /// (`origin` is another span's [`DeviceSpan::as_any`]); `None` where the device cannot tell
    /// (a span of another kind or device, a driver error).
    fn times(&self, origin: &dyn std::any::Any) -> Option<(f64, f64)>;
    /// The span itself, for a span of the same kind to read its events.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A [`DeviceSpan`] whose first event is recorded: `end` records the second, after the launch.
pub(crate) trait DeviceTimer {
    fn end(self: Box<Self>) -> Option<std::sync::Arc<dyn DeviceSpan>>;
}

#[derive(Clone, Debug)]
enum Event {
    Kernel {
        info: KernelInfo,
        phase: Phase,
        start: f64,
        dur: f64,
        backward_of: Option<&'static str>,
        /// A GPU kernel's events: its `start` and `dur` are replaced by theirs at [`finish`].
        device: Option<std::sync::Arc<dyn DeviceSpan>>,
    },
    Span {
        name: String,
        cat: &'static str,
        start: f64,
        dur: f64,
    },
    Counter {
        name: &'static str,
        at: f64,
        values: Vec<(&'static str, f64)>,
    },
}

struct Recorder {
    origin: Instant,
    events: Vec<Event>,
}

fn recorder() -> &'static Mutex<Recorder> {
    static R: OnceLock<Mutex<Recorder>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Recorder { origin: Instant::now(), events: Vec::new() }))
}

fn push(event: Event) {
    recorder().lock().unwrap_or_else(|e| e.into_inner()).events.push(event);
}

fn micros_since_origin(t: Instant) -> f64 {
    let origin = recorder().lock().unwrap_or_else(|e| e.into_inner()).origin;
    t.saturating_duration_since(origin).as_secs_f64() * 1e6
}

/// True while events are being recorded.
#[inline(always)]
pub fn is_recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Starts a fresh recording (what was recorded before is dropped).
pub fn start() {
    {
        let mut r = recorder().lock().unwrap_or_else(|e| e.into_inner());
        r.events.clear();
        r.origin = Instant::now();
    }
    RECORDING.store(true, Ordering::Relaxed);
}

/// Pauses or resumes recording (the trainer records only its profiled steps).
pub fn set_recording(on: bool) {
    RECORDING.store(on, Ordering::Relaxed);
}

/// Runs one kernel; when recording, times it and records `info()` with it. On the CPU the call
/// is the kernel and the host clock times it; on a GPU `device_timer` records an event before
/// the launch and one after it, and the kernel's time is read from them at [`finish`].
#[inline(always)]
pub(crate) fn kernel<R>(
    info: impl FnOnce() -> KernelInfo,
    device_timer: impl FnOnce() -> Option<Box<dyn DeviceTimer>>,
    f: impl FnOnce() -> R,
) -> R {
    if !is_recording() {
        return f();
    }
    let timer = device_timer();
    let t0 = Instant::now();
    let out = f();
    let dur = t0.elapsed().as_secs_f64() * 1e6;
    let device = timer.and_then(|t| t.end());
    let backward_of = IN_BACKWARD.with(|b| b.get());
    let phase = if backward_of.is_some() {
        Phase::Backward
    } else if IN_OPTIMIZER.with(|o| o.get()) {
        Phase::Optimizer
    } else {
        Phase::Forward
    };
    let start = micros_since_origin(t0);
    push(Event::Kernel { info: info(), phase, start, dur, backward_of, device });
    out
}

/// Records a counter track's values now (the backend records the CPU buffer pool's bytes in
/// use and cached after every kernel).
pub fn counter(name: &'static str, values: Vec<(&'static str, f64)>) {
    if is_recording() {
        let at = micros_since_origin(Instant::now());
        push(Event::Counter { name, at, values });
    }
}

/// Marks the kernels run inside `f` as the backward rule `name`'s, and records a span for it.
pub(crate) fn backward_rule<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    if !is_recording() {
        return f();
    }
    let prev = IN_BACKWARD.with(|b| b.replace(Some(name)));
    let t0 = Instant::now();
    let out = f();
    let dur = t0.elapsed().as_secs_f64() * 1e6;
    IN_BACKWARD.with(|b| b.set(prev));
    push(Event::Span { name: format!("{name}_backward"), cat: "autograd", start: micros_since_origin(t0), dur });
    out
}

/// Marks the kernels run inside `f` as the optimizer's, and records a span for the update.
pub fn optimizer_step<R>(f: impl FnOnce() -> R) -> R {
    if !is_recording() {
        return f();
    }
    let prev = IN_OPTIMIZER.with(|o| o.replace(true));
    let t0 = Instant::now();
    let out = f();
    let dur = t0.elapsed().as_secs_f64() * 1e6;
    IN_OPTIMIZER.with(|o| o.set(prev));
    push(Event::Span { name: "optimizer.step".into(), cat: "optimizer", start: micros_since_origin(t0), dur });
    out
}

/// The training steps to record, `(first, last)` (1-based), once [`record_steps`] armed it.
static WINDOW: Mutex<Option<(usize, usize)>> = Mutex::new(None);

/// Records training steps `first ..= first + count − 1` only (the trainer calls [`step_begin`]
/// and [`step_end`]); nothing until then. Like `torch.profiler.schedule(wait, active)`.
pub fn record_steps(first: usize, count: usize) {
    start();
    set_recording(false);
    *WINDOW.lock().unwrap_or_else(|e| e.into_inner()) = Some((first, first + count.max(1) - 1));
}

/// Stops recording and forgets an armed [`record_steps`] window and whatever was recorded
/// (what a sweep does after its last run, whose trace has been written).
pub fn disarm() {
    set_recording(false);
    *WINDOW.lock().unwrap_or_else(|e| e.into_inner()) = None;
    recorder().lock().unwrap_or_else(|e| e.into_inner()).events.clear();
}

/// The trainer starts step `step` (1-based): recording turns on if it is a profiled step.
pub fn step_begin(step: usize) {
    if let Some((first, last)) = *WINDOW.lock().unwrap_or_else(|e| e.into_inner()) {
        set_recording((first..=last).contains(&step));
    }
}

/// The trainer ends step `step`, begun at `t0`: its span is recorded, and recording pauses (so
/// evaluation and saving between steps stay out of the profile).
pub fn step_end(step: usize, t0: Instant) {
    span(format!("ProfilerStep#{step}"), t0);
    if WINDOW.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
        set_recording(false);
    }
}

/// Records a span `name` (a training step, a generated token) from `t0` until now.
pub fn span(name: String, t0: Instant) {
    if is_recording() {
        let dur = t0.elapsed().as_secs_f64() * 1e6;
        push(Event::Span { name, cat: "step", start: micros_since_origin(t0), dur });
    }
}

/// Shapes as `[a,b]x[c,d]`.
pub(crate) fn shapes(list: &[&[usize]]) -> String {
    let one = |s: &[usize]| format!("[{}]", s.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
    list.iter().map(|s| one(s)).collect::<Vec<_>>().join("x")
}

/// One row of the table: an op in one phase.
#[derive(Clone, Debug, PartialEq)]
pub struct OpStats {
    /// The op, with ` (backward)` or ` (optimizer)` where it ran there.
    pub name: String,
    /// Times it ran.
    pub calls: usize,
    /// Its kernels' time, µs.
    pub self_us: f64,
    /// FLOPs in all.
    pub flops: u64,
    /// Bytes moved in all.
    pub bytes: u64,
}

/// What [`finish`] measured.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Rows, the most time first.
    pub ops: Vec<OpStats>,
    /// Time inside the recorded steps (or, without steps, from the first kernel to the last), µs.
    pub total_us: f64,
    /// Steps (spans) recorded.
    pub steps: usize,
    /// The matrix-product peak the table compares against, GFLOP/s.
    pub peak_gflops: f64,
}

impl Profile {
    /// Time not spent in any kernel: the graph's bookkeeping, allocation, the data, Python-free
    /// overheads of every other kind.
    pub fn outside_kernels_us(&self) -> f64 {
        (self.total_us - self.ops.iter().map(|o| o.self_us).sum::<f64>()).max(0.0)
    }

    /// The table, `torch.profiler`'s `key_averages().table()` in spirit.
    pub fn table(&self, rows: usize) -> String {
        let mut s = String::new();
        let total = self.total_us.max(1e-9);
        let _ = writeln!(
            s,
            "{:<28} {:>7} {:>11} {:>9} {:>7} {:>9} {:>7}",
            "op", "calls", "self ms", "avg µs", "% step", "GFLOP/s", "% peak"
        );
        for o in self.ops.iter().take(rows) {
            let gflops = if o.flops > 0 { o.flops as f64 / o.self_us / 1e3 } else { 0.0 };
            let (g, p) = if o.flops > 0 {
                (format!("{gflops:.1}"), format!("{:.0}%", 100.0 * gflops / self.peak_gflops))
            } else {
                ("—".into(), "—".into())
            };
            let _ = writeln!(
                s,
                "{:<28} {:>7} {:>11.2} {:>9.1} {:>6.1}% {:>9} {:>7}",
                o.name,
                o.calls,
                o.self_us / 1e3,
                o.self_us / o.calls as f64,
                100.0 * o.self_us / total,
                g,
                p
            );
        }
        let outside = self.outside_kernels_us();
        let _ = writeln!(
            s,
            "{:<28} {:>7} {:>11.2} {:>9} {:>6.1}%",
            "(outside kernels)",
            "",
            outside / 1e3,
            "",
            100.0 * outside / total
        );
        let (flops, gemm_us) =
            self.ops.iter().filter(|o| o.flops > 0).fold((0u64, 0f64), |(f, t), o| (f + o.flops, t + o.self_us));
        let _ = writeln!(
            s,
            "{} step(s), {:.2} ms in all; products {:.1}% of it at {:.0}% of the measured peak ({:.0} GFLOP/s); \
             the whole step is {:.2}× the products at peak",
            self.steps,
            total / 1e3,
            100.0 * gemm_us / total,
            if gemm_us > 0.0 { 100.0 * flops as f64 / gemm_us / 1e3 / self.peak_gflops } else { 0.0 },
            self.peak_gflops,
            if flops > 0 { total / (flops as f64 / self.peak_gflops / 1e3) } else { f64::NAN }
        );
        s
    }
}

/// Stops recording and returns the summary (its "% peak" against `peak_gflops`, e.g.
/// [`crate::ops::matmul::measured_cpu_peak_gflops`]) and the Chrome trace-event JSON to write.
pub fn finish(peak_gflops: f64) -> (Profile, String) {
    set_recording(false);
    *WINDOW.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let mut events = std::mem::take(&mut recorder().lock().unwrap_or_else(|e| e.into_inner()).events);
    device_times(&mut events);
    (summarise(&events, peak_gflops), chrome_trace(&events))
}

/// GPU kernels get their events' times: durations as the device measured them, and starts on the
/// device's clock from the first GPU kernel's (placed at that kernel's launch on the host clock).
fn device_times(events: &mut [Event]) {
    let origin = events.iter().find_map(|e| match e {
        Event::Kernel { device: Some(span), start, .. } => Some((span.clone(), *start)),
        _ => None,
    });
    let Some((origin, host_start)) = origin else { return };
    for e in events.iter_mut() {
        if let Event::Kernel { device: Some(span), start, dur, .. } = e {
            if let Some((s, d)) = span.times(origin.as_any()) {
                (*start, *dur) = (host_start + s, d);
            }
        }
    }
}

fn summarise(events: &[Event], peak_gflops: f64) -> Profile {
    let mut by: HashMap<String, OpStats> = HashMap::new();
    let (mut first, mut last) = (f64::INFINITY, 0f64);
    let (mut step_us, mut steps) = (0.0, 0);
    for e in events {
        match e {
            Event::Kernel { info, phase, start, dur, .. } => {
                let name = match phase {
                    Phase::Forward => info.name.to_string(),
                    p => format!("{} ({})", info.name, p.name()),
                };
                let row =
                    by.entry(name.clone()).or_insert(OpStats { name, calls: 0, self_us: 0.0, flops: 0, bytes: 0 });
                row.calls += 1;
                row.self_us += dur;
                row.flops += info.flops;
                row.bytes += info.bytes;
                first = first.min(*start);
                last = last.max(start + dur);
            }
            Event::Span { cat: "step", dur, .. } => {
                step_us += dur;
                steps += 1;
            }
            _ => {}
        }
    }
    let total_us = if steps > 0 { step_us } else { (last - first).max(0.0) };
    let mut ops: Vec<OpStats> = by.into_values().collect();
    ops.sort_by(|a, b| b.self_us.total_cmp(&a.self_us).then(a.name.cmp(&b.name)));
    Profile { ops, total_us, steps, peak_gflops }
}

fn chrome_trace(events: &[Event]) -> String {
    use serde_json::{json, Value};
    let pid = std::process::id();
    let mut out: Vec<Value> = vec![
        json!({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "gradschool"}}),
        json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": 1, "args": {"name": "steps and autograd"}}),
        json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": 2, "args": {"name": "kernels"}}),
    ];
    for e in events {
        out.push(match e {
            Event::Kernel { info, phase, start, dur, backward_of, .. } => json!({
                "name": info.name, "cat": phase.name(), "ph": "X", "ts": start, "dur": dur, "pid": pid, "tid": 2,
                "args": {"shapes": info.shapes, "flops": info.flops, "bytes": info.bytes,
                         "backward_of": backward_of.unwrap_or("")},
            }),
            Event::Span { name, cat, start, dur } => json!({
                "name": name, "cat": cat, "ph": "X", "ts": start, "dur": dur, "pid": pid, "tid": 1,
            }),
            Event::Counter { name, at, values } => {
                let args: serde_json::Map<String, Value> =
                    values.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
                json!({"name": name, "ph": "C", "ts": at, "pid": pid, "args": args})
            }
        });
    }
    json!({"traceEvents": out, "displayTimeUnit": "ms"}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A device clock of our own: a span's absolute start and duration on it (µs).
    #[derive(Debug)]
    struct FakeSpan(f64, f64);

    impl DeviceSpan for FakeSpan {
        fn times(&self, origin: &dyn std::any::Any) -> Option<(f64, f64)> {
            let origin = origin.downcast_ref::<FakeSpan>()?;
            Some((self.0 - origin.0, self.1))
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    /// A span of another kind: its times cannot be read against a FakeSpan origin.
    #[derive(Debug)]
    struct Foreign;

    impl DeviceSpan for Foreign {
        fn times(&self, origin: &dyn std::any::Any) -> Option<(f64, f64)> {
            origin.downcast_ref::<Foreign>().map(|_| (0.0, 0.0))
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    fn kernel(start: f64, dur: f64, device: Option<Arc<dyn DeviceSpan>>) -> Event {
        let info = KernelInfo { name: "k", shapes: String::new(), flops: 0, bytes: 0 };
        Event::Kernel { info, phase: Phase::Forward, start, dur, backward_of: None, device }
    }

    fn times(events: &[Event]) -> Vec<(f64, f64)> {
        events
            .iter()
            .filter_map(|e| if let Event::Kernel { start, dur, .. } = e { Some((*start, *dur)) } else { None })
            .collect()
    }

    #[test]
    fn gpu_kernels_take_their_events_times_and_cpu_kernels_keep_the_host_clock() {
        // host: launches at 100 and 150 µs (5 µs each: the launch, not the kernel); the device's
        // events: the first kernel ran 1000–1030 on its clock, the second 1040–1060
        let mut events = vec![
            kernel(100.0, 5.0, Some(Arc::new(FakeSpan(1000.0, 30.0)))),
            kernel(150.0, 5.0, Some(Arc::new(FakeSpan(1040.0, 20.0)))),
            kernel(200.0, 7.0, None),
            kernel(260.0, 4.0, Some(Arc::new(Foreign))),
        ];
        device_times(&mut events);
        // the first GPU kernel stays at its launch; the second 40 µs after it on the device clock
        // (it waited for the first), not at its own launch; the CPU kernel and the unreadable
        // span keep their host times
        assert_eq!(times(&events), [(100.0, 30.0), (140.0, 20.0), (200.0, 7.0), (260.0, 4.0)]);
        let mut cpu_only = vec![kernel(1.0, 2.0, None)];
        device_times(&mut cpu_only);
        assert_eq!(times(&cpu_only), [(1.0, 2.0)]);
    }
}
