//! The model's own thread and the bounded queue in front of it.
//!
//! One model answers every page, one request at a time (a 2-core machine gains nothing from two
//! generations fighting over the same cores). Requests wait in a queue of fixed length; past it a
//! request is answered "busy" at once instead of piling up. A generation whose reader has left
//! (the browser tab closed, the SSE stream dropped, the chat request abandoned) stops at its
//! next token; a request whose client left while it waited is skipped.

use gradschool::data::hotel::{Hotel, Turn};
use gradschool::gpt2::{Gpt2, Gpt2Tokenizer, Sampling, EOS_ID};
use gradschool::nn::Module;
use gradschool::train::hotel::{respond_while, Assistant};
use gradschool::{manual_seed, Result};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// What the model thread is asked to do.
pub enum Job {
    /// One user turn of the hotel assistant: `respond`'s loop (search, return, reply).
    Chat { history: Vec<Turn>, message: String, reply: oneshot::Sender<std::result::Result<ChatAnswer, String>> },
    /// Continue a prompt, one event per token.
    Generate {
        prompt: Vec<u32>,
        max_new: usize,
        sampling: Sampling,
        seed: u64,
        events: mpsc::UnboundedSender<Streamed>,
    },
}

/// The assistant's answer to one user turn.
#[derive(Serialize, Debug)]
pub struct ChatAnswer {
    /// The turns this request added: the search call, the returned records, the reply.
    pub turns: Vec<Turn>,
    /// The whole dialogue to send back with the next message (oldest exchanges dropped when
    /// the model's context would not hold one more turn).
    pub history: Vec<Turn>,
    /// Seconds the model worked on it (not counting the wait in the queue).
    pub seconds: f64,
}

/// One event of a streamed generation.
#[derive(Serialize, Debug)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Streamed {
    /// A new token: its id, its BPE piece, and the text it completes (empty while a character
    /// spans several tokens).
    Token { id: u32, piece: String, text: String },
    /// The end: how many tokens, how fast, and why it stopped.
    Done { new_tokens: usize, seconds: f64, tokens_per_second: f64, stopped: &'static str },
    /// The tokenizer could not decode what the model wrote.
    Error { message: String },
}

/// Counters of the server's work, shown by `/api/status`.
#[derive(Default, Debug)]
pub struct Stats {
    /// Requests in the queue now (not the one being served).
    pub waiting: AtomicUsize,
    /// Requests answered.
    pub served: AtomicU64,
    /// Requests refused because the queue was full.
    pub busy: AtomicU64,
    /// Requests whose client left before or during its generation.
    pub cancelled: AtomicU64,
    /// Tokens generated, all requests together.
    pub tokens: AtomicU64,
}

/// The sending end of the queue.
#[derive(Clone)]
pub struct Queue {
    tx: SyncSender<Job>,
    /// Its length.
    pub capacity: usize,
    /// The shared counters.
    pub stats: Arc<Stats>,
}

/// A request the queue could not take.
pub enum Refused {
    /// The queue is full.
    Busy(usize),
    /// The model thread has stopped (it panicked): nothing will be answered.
    Stopped,
}

// ANCHOR: submit
impl Queue {
    /// Queues `job`, or refuses it at once when `capacity` jobs already wait.
    pub fn submit(&self, job: Job) -> std::result::Result<(), Refused> {
        self.stats.waiting.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stats.waiting.fetch_sub(1, Ordering::SeqCst);
                match e {
                    TrySendError::Full(_) => {
                        self.stats.busy.fetch_add(1, Ordering::SeqCst);
                        Err(Refused::Busy(self.capacity))
                    }
                    TrySendError::Disconnected(_) => Err(Refused::Stopped),
                }
            }
        }
    }
}
// ANCHOR_END: submit

/// What the model thread owns.
pub struct Model {
    /// The network, in evaluation mode.
    pub model: Gpt2,
    /// Its tokenizer (shared with the handlers, which tokenize and check prompts).
    pub tok: Arc<Gpt2Tokenizer>,
    /// The database the assistant's searches run on (None: no chat).
    pub hotels: Option<Vec<Hotel>>,
    /// Most tokens one assistant turn may take.
    pub max_turn_tokens: usize,
}

/// Starts the model thread behind a queue of `capacity` waiting requests.
pub fn start(mut m: Model, capacity: usize) -> Result<Queue> {
    m.model.set_training(false);
    let (tx, rx) = sync_channel(capacity);
    let stats = Arc::new(Stats::default());
    let s = Arc::clone(&stats);
    std::thread::Builder::new()
        .name("model".into())
        .spawn(move || serve_jobs(&m, &rx, &s))
        .map_err(|e| gradschool::Error::Config(format!("could not start the model thread: {e}")))?;
    Ok(Queue { tx, capacity, stats })
}

fn serve_jobs(m: &Model, rx: &Receiver<Job>, stats: &Stats) {
    while let Ok(job) = rx.recv() {
        stats.waiting.fetch_sub(1, Ordering::SeqCst);
        match job {
            Job::Chat { history, message, reply } => {
                if reply.is_closed() {
                    stats.cancelled.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let answer = chat(m, history, message, stats, &|| !reply.is_closed());
                if reply.is_closed() {
                    stats.cancelled.fetch_add(1, Ordering::SeqCst);
                }
                stats.served.fetch_add(1, Ordering::SeqCst);
                let _ = reply.send(answer);
            }
            Job::Generate { prompt, max_new, sampling, seed, events } => {
                if events.is_closed() {
                    stats.cancelled.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                if !generate(m, &prompt, max_new, &sampling, seed, &events, stats) {
                    stats.cancelled.fetch_add(1, Ordering::SeqCst);
                }
                stats.served.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// `hotel-bot`'s loop for one message, stopping between tokens once `waited_for` says the
/// client has left; an error leaves the client's history as it was.
fn chat(
    m: &Model,
    mut history: Vec<Turn>,
    message: String,
    stats: &Stats,
    waited_for: &dyn Fn() -> bool,
) -> std::result::Result<ChatAnswer, String> {
    let hotels = m.hotels.as_deref().ok_or("this server has no hotel database (start it with --hotels FILE)")?;
    let assistant = Assistant { model: &m.model, tok: &m.tok, max_turn_tokens: m.max_turn_tokens };
    let started = Instant::now();
    history.push(Turn::User { content: message });
    let keep_going = || {
        stats.tokens.fetch_add(1, Ordering::SeqCst);
        waited_for()
    };
    let turns = respond_while(&assistant, hotels, &mut history, &keep_going).map_err(|e| e.to_string())?;
    Ok(ChatAnswer { turns, history, seconds: started.elapsed().as_secs_f64() })
}

/// Streams one generation; false when the reader left before the end.
fn generate(
    m: &Model,
    prompt: &[u32],
    max_new: usize,
    sampling: &Sampling,
    seed: u64,
    events: &mpsc::UnboundedSender<Streamed>,
    stats: &Stats,
) -> bool {
    let started = Instant::now();
    // the tokens written since the text last ended on a whole character
    let (mut pending, mut reader_left) = (Vec::new(), false);
    let mut failed = None;
    // ANCHOR: on_token
    let mut on_token = |id: u32| {
        stats.tokens.fetch_add(1, Ordering::SeqCst);
        if id != EOS_ID {
            pending.push(id); // the end is reported by `done`, not written as text
        }
        // byte-level BPE: a character can span tokens; show text once it is whole
        let text = match m.tok.decode(&pending) {
            Ok(t) => t,
            Err(e) => {
                failed = Some(e.to_string());
                return false;
            }
        };
        let delta = if text.ends_with('\u{FFFD}') {
            String::new()
        } else {
            pending.clear();
            text
        };
        let piece = m.tok.decode(&[id]).unwrap_or_default();
        reader_left = events.send(Streamed::Token { id, piece, text: delta }).is_err();
        !reader_left
    };
    // ANCHOR_END: on_token
    let out =
        m.model.generate_streaming(prompt, max_new, sampling, Some(EOS_ID), &mut manual_seed(seed), &mut on_token);
    if reader_left {
        return false;
    }
    if let Some(message) = failed {
        return events.send(Streamed::Error { message }).is_ok();
    }
    let new_tokens = out.len() - prompt.len();
    let seconds = started.elapsed().as_secs_f64();
    let stopped = if out.last() == Some(&EOS_ID) && new_tokens > 0 {
        "eos"
    } else if new_tokens == max_new {
        "max_tokens"
    } else {
        "context"
    };
    let done =
        Streamed::Done { new_tokens, seconds, tokens_per_second: new_tokens as f64 / seconds.max(1e-9), stopped };
    events.send(done).is_ok()
}
