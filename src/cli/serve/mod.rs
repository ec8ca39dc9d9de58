//! `gradschool serve`: the course's pages in a browser — the hotel assistant (the capstone's
//! loop: search call, returned records, reply), a generation playground that streams tokens as
//! they are chosen, and the training runs under `--runs` as charts that follow a run while it
//! trains. Everything the page needs (HTML, JavaScript, CSS) is compiled into the binary; nothing
//! is fetched from the network.
//!
//! The HTTP side is axum on tokio; the model lives on its own thread behind a bounded queue
//! ([`worker`]), so the server keeps answering (pages, runs, "busy") while a generation runs.

mod runs;
mod worker;

use super::args::at_least_one;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Args;
use gradschool::data::hotel::{load_hotels, Turn};
use gradschool::gpt2::{Gpt2, Gpt2Tokenizer, Sampling};
use gradschool::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use worker::{Job, Queue, Refused};

/// Flags of `gradschool serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The model the pages talk to (hotel-sft's final/ for the assistant; any GPT-2 directory
    /// for the playground). Without it only the runs page works.
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Tokenizer directory (default: the model's).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// The hotel database the assistant's searches run on (without it the chat page says so).
    #[arg(long)]
    hotels: Option<PathBuf>,
    /// Training runs to chart: every folder under it (two levels deep) with a metrics.csv.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Port (0: any free one; the address is printed).
    #[arg(long, default_value_t = 6006)]
    port: u16,
    /// Address to listen on: 127.0.0.1 is this machine only; 0.0.0.0 opens it to the network.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Requests that may wait for the model; past it a request is answered "busy" (503).
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    queue: usize,
    /// Most tokens the assistant may write per turn.
    #[arg(long, default_value_t = 96, value_parser = at_least_one)]
    max_turn_tokens: usize,
}

/// Largest request body accepted (a chat history of the model's whole context is a few KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The model's side of the server.
struct Loaded {
    queue: Queue,
    tok: Arc<Gpt2Tokenizer>,
    n_positions: usize,
    vocab_size: usize,
    info: serde_json::Value,
    hotels: Option<usize>,
}

/// What every handler shares.
struct AppState {
    model: Option<Loaded>,
    runs: PathBuf,
}

impl AppState {
    /// The model, or a 409 that says how to start the server with one.
    fn loaded(&self) -> std::result::Result<&Loaded, ApiError> {
        self.model.as_ref().ok_or_else(|| {
            ApiError(StatusCode::CONFLICT, "this server has no model: start it with --model-dir DIR".into())
        })
    }
}

type Shared = Arc<AppState>;

/// An answer other than 200: a status and a message, as `{"error": "…"}`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> ApiError {
        match r {
            Refused::Busy(n) => ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("busy: {n} requests are already waiting for the model; try again in a moment"),
            ),
            Refused::Stopped => ApiError(StatusCode::INTERNAL_SERVER_ERROR, "the model thread has stopped".into()),
        }
    }
}

/// The body as `T`, or a 400 that says what is wrong with it.
fn parse_json<T: DeserializeOwned>(body: &Bytes) -> std::result::Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the request body is not what this endpoint takes: {e}")))
}

/// `gradschool serve`.
pub fn run(a: &ServeArgs) -> Result<()> {
    let model = match &a.model_dir {
        Some(dir) => Some(load(a, dir)?),
        None if a.hotels.is_some() => {
            return Err(Error::Config("--hotels needs --model-dir: the assistant is a model".into()))
        }
        None => None,
    };
    let state = Arc::new(AppState { model, runs: a.runs.clone() });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("could not start the server's runtime: {e}")))?;
    runtime.block_on(listen(SocketAddr::new(a.host, a.port), state))
}

/// Loads the model, its tokenizer and the hotels, and starts the model thread.
fn load(a: &ServeArgs, dir: &Path) -> Result<Loaded> {
    let model = Gpt2::from_dir(dir)?;
    let tok_dir = a.tokenizer.as_deref().unwrap_or(dir);
    let tok = Arc::new(Gpt2Tokenizer::from_dir(tok_dir)?);
    tok.fits(model.config.vocab_size)?;
    if a.hotels.is_some() && a.max_turn_tokens >= model.config.n_positions {
        return Err(Error::Config(format!(
            "--max-turn-tokens {} leaves no room for the dialogue in the model's {} positions",
            a.max_turn_tokens, model.config.n_positions
        )));
    }
    let hotels = a.hotels.as_deref().map(load_hotels).transpose()?;
    let c = &model.config;
    let params: usize = gradschool::nn::Module::parameters(&model).iter().map(|p| p.numel()).sum();
    let info = serde_json::json!({
        "dir": dir.display().to_string(), "n_layer": c.n_layer, "n_embd": c.n_embd,
        "n_head": c.n_head, "n_positions": c.n_positions, "vocab_size": c.vocab_size, "parameters": params,
    });
    let (n_positions, vocab_size) = (c.n_positions, c.vocab_size);
    let n_hotels = hotels.as_ref().map(Vec::len);
    let model = worker::Model { model, tok: Arc::clone(&tok), hotels, max_turn_tokens: a.max_turn_tokens };
    let queue = worker::start(model, a.queue)?;
    Ok(Loaded { queue, tok, n_positions, vocab_size, info, hotels: n_hotels })
}

async fn listen(addr: SocketAddr, state: Shared) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::Config(format!(
            "serve: cannot listen on {addr}: {e} (is another server on that port? pick one with --port)"
        ))
    })?;
    let bound = listener.local_addr().map_err(|e| Error::Config(format!("serve: {e}")))?;
    gradschool::say!("serving on http://{bound}/ — the assistant at /, the playground at /playground, runs at /runs");
    gradschool::warn!("serve: Ctrl-C stops the server");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| Error::Config(format!("serve: {e}")))
}

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

fn router(state: Shared) -> Router {
    let asset = |body: &'static str, kind: &'static str| move || async move { ([(header::CONTENT_TYPE, kind)], body) };
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/playground", get(|| async { Html(PAGE) }))
        .route("/runs", get(|| async { Html(PAGE) }))
        .route("/app.js", get(asset(SCRIPT, "text/javascript; charset=utf-8")))
        .route("/style.css", get(asset(STYLE, "text/css; charset=utf-8")))
        .route("/api/status", get(status))
        .route("/api/chat", post(chat))
        .route("/api/tokenize", post(tokenize))
        .route("/api/generate", post(generate))
        .route("/api/runs", get(runs::list))
        .route("/api/runs/metrics", get(runs::metrics))
        .route("/api/runs/loss.png", get(runs::loss_png))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such page".into()) })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn status(State(s): State<Shared>) -> Json<serde_json::Value> {
    let mem = |field| gradschool::train::memory::proc_status_bytes(field);
    let mut out = serde_json::json!({
        "model": null, "hotels": null,
        "rss_bytes": mem("VmRSS:"), "peak_rss_bytes": mem("VmHWM:"),
    });
    if let Some(m) = &s.model {
        let st = &m.queue.stats;
        let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::SeqCst);
        out["model"] = m.info.clone();
        out["hotels"] = m.hotels.into();
        out["queue"] = m.queue.capacity.into();
        out["waiting"] = st.waiting.load(Ordering::SeqCst).into();
        out["served"] = load(&st.served).into();
        out["busy"] = load(&st.busy).into();
        out["cancelled"] = load(&st.cancelled).into();
        out["tokens"] = load(&st.tokens).into();
    }
    Json(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatRequest {
    /// The dialogue so far, as the previous answer's `history` gave it.
    #[serde(default)]
    history: Vec<Turn>,
    /// The guest's new message.
    message: String,
}

async fn chat(State(s): State<Shared>, body: Bytes) -> std::result::Result<Response, ApiError> {
    let req: ChatRequest = parse_json(&body)?;
    let m = s.loaded()?;
    let message = req.message.trim().to_string();
    if message.is_empty() {
        return Err(ApiError::bad("the message is empty"));
    }
    if m.hotels.is_none() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "this server has no hotel database: start it with --hotels FILE to talk to the assistant".into(),
        ));
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    m.queue.submit(Job::Chat { history: req.history, message, reply })?;
    match answer.await {
        Ok(Ok(a)) => Ok(Json(a).into_response()),
        Ok(Err(why)) => Err(ApiError::bad(format!("{why}; the conversation goes on: send another message"))),
        Err(_) => Err(Refused::Stopped.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenizeRequest {
    text: String,
}

async fn tokenize(State(s): State<Shared>, body: Bytes) -> std::result::Result<Response, ApiError> {
    let req: TokenizeRequest = parse_json(&body)?;
    let m = s.loaded()?;
    let pieces = m.tok.encode_with_pieces(&req.text).map_err(|e| ApiError::bad(e.to_string()))?;
    // a piece as GPT-2's byte alphabet writes it (Ġ for a space) and as text: a token that is
    // part of a character (most Chinese characters take 2–3) decodes to U+FFFD alone
    let tokens: Vec<_> = pieces
        .into_iter()
        .map(|(id, piece)| {
            let text = m.tok.decode(&[id]).unwrap_or_default();
            serde_json::json!({ "id": id, "piece": piece, "text": text })
        })
        .collect();
    Ok(Json(serde_json::json!({ "tokens": tokens })).into_response())
}

fn default_top_p() -> f32 {
    1.0
}
fn default_max_tokens() -> usize {
    40
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateRequest {
    prompt: String,
    #[serde(default)]
    temperature: f32,
    #[serde(default)]
    top_k: usize,
    #[serde(default = "default_top_p")]
    top_p: f32,
    #[serde(default = "default_max_tokens")]
    max_tokens: usize,
    #[serde(default)]
    seed: u64,
}

/// Checks a generation request against the model; the prompt's ids when it is fine.
fn check_generate(s: &Loaded, r: &GenerateRequest) -> std::result::Result<Vec<u32>, ApiError> {
    if !(r.temperature.is_finite() && r.temperature >= 0.0) {
        return Err(ApiError::bad(format!("temperature must be a number ≥ 0 (0 = greedy), got {}", r.temperature)));
    }
    if !(r.top_p > 0.0 && r.top_p <= 1.0) {
        return Err(ApiError::bad(format!("top_p must be in (0, 1], got {}", r.top_p)));
    }
    if r.max_tokens == 0 {
        return Err(ApiError::bad("max_tokens must be at least 1"));
    }
    let prompt = s.tok.encode(&r.prompt).map_err(|e| ApiError::bad(e.to_string()))?;
    if prompt.is_empty() {
        return Err(ApiError::bad("the prompt has no tokens"));
    }
    if let Some(&bad) = prompt.iter().find(|&&t| t as usize >= s.vocab_size) {
        return Err(ApiError::bad(format!(
            "the tokenizer gave id {bad}, outside the model's vocabulary of {}",
            s.vocab_size
        )));
    }
    if prompt.len().saturating_add(r.max_tokens) > s.n_positions {
        return Err(ApiError::bad(format!(
            "max_tokens {}: the prompt is {} tokens and the model's context is {}, so at most {} new tokens fit",
            r.max_tokens,
            prompt.len(),
            s.n_positions,
            s.n_positions.saturating_sub(prompt.len())
        )));
    }
    Ok(prompt)
}

/// Server-sent events: `token` per token, then `done` (or `error`).
async fn generate(State(s): State<Shared>, body: Bytes) -> std::result::Result<Response, ApiError> {
    let req: GenerateRequest = parse_json(&body)?;
    let m = s.loaded()?;
    let prompt = check_generate(m, &req)?;
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    let sampling = Sampling { temperature: req.temperature, top_k: req.top_k, top_p: req.top_p };
    m.queue.submit(Job::Generate { prompt, max_new: req.max_tokens, sampling, seed: req.seed, events })?;
    let stream = tokio_stream::StreamExt::map(tokio_stream::wrappers::UnboundedReceiverStream::new(rx), |e| {
        let name = match &e {
            worker::Streamed::Token { .. } => "token",
            worker::Streamed::Done { .. } => "done",
            worker::Streamed::Error { .. } => "error",
        };
        Event::default().event(name).json_data(&e)
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
