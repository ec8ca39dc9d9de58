//! `gradschool serve` as a real process on loopback: the assistant answers exactly as
//! `hotel-bot`'s loop does in-process, the playground streams exactly the tokens
//! `Gpt2::generate` chooses for the same seed, a client that leaves cancels its generation,
//! 50 concurrent chats are each answered with their own dialogue or refused "busy", bad input
//! gets a 4xx with a message, and the runs page reads only the files under `--runs`.
//! (tests/browser.rs drives the same pages in Chromium.)

mod common;
#[path = "common/server.rs"]
mod server;

use gradschool::data::hotel::{load_hotels, Turn};
use gradschool::gpt2::{Gpt2, Gpt2Tokenizer, Sampling, EOS_ID};
use gradschool::nn::Module;
use gradschool::train::hotel::{respond, train_hotel, Assistant};
use serde_json::{json, Value};
use server::{sse_events, Server};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The tiny assistant that has memorised "cheap" → Inn and "lux" → Ritz (trained once per run
/// of this file; tests/hotel.rs checks the training itself).
fn assistant_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // shared by this file's tests, so kept to the end: under target/, replaced by each run
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-assistant");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (_, cfg) = common::memorising_hotel_run(&dir);
        train_hotel(&cfg).unwrap();
        dir
    })
}

fn s(x: impl AsRef<std::ffi::OsStr>) -> String {
    x.as_ref().to_string_lossy().into_owned()
}

fn assistant_server(queue: usize) -> Server {
    let dir = assistant_dir();
    Server::start(&[
        "--model-dir".into(),
        s(dir.join("out/final")),
        "--hotels".into(),
        s(dir.join("hotels.json")),
        "--max-turn-tokens".into(),
        "40".into(),
        "--queue".into(),
        queue.to_string(),
        "--runs".into(),
        s(dir.join("no-runs")),
    ])
}

/// What `hotel-bot`'s loop answers to `message` after `history`, in-process.
fn expected_turns(model: &Gpt2, tok: &Gpt2Tokenizer, history: &[Turn], message: &str) -> (Vec<Turn>, Vec<Turn>) {
    let hotels = load_hotels(&assistant_dir().join("hotels.json")).unwrap();
    let bot = Assistant { model, tok, max_turn_tokens: 40 };
    let mut h = history.to_vec();
    h.push(Turn::User { content: message.into() });
    let turns = respond(&bot, &hotels, &mut h).unwrap();
    (turns, h)
}

fn load_final() -> (Gpt2, Gpt2Tokenizer) {
    let dir = assistant_dir().join("out/final");
    let mut model = Gpt2::from_dir(&dir).unwrap();
    model.set_training(false);
    (model, Gpt2Tokenizer::from_dir(&dir).unwrap())
}

#[test]
fn the_assistant_answers_as_the_bots_loop_and_bad_input_leaves_the_conversation_going() {
    let server = assistant_server(8);
    let (model, tok) = load_final();
    // first turn: the search call, the database's record, the reply quoting it
    let (code, body) = server.request("/api/chat", Some(r#"{"message": "lux"}"#));
    assert_eq!(code, 200, "{body}");
    let a: Value = serde_json::from_str(&body).unwrap();
    let (want, want_history) = expected_turns(&model, &tok, &[], "lux");
    assert_eq!(want.len(), 3, "the memorised dialogue: search, return, reply: {want:?}");
    assert_eq!(a["turns"], serde_json::to_value(&want).unwrap());
    assert_eq!(a["history"], serde_json::to_value(&want_history).unwrap());
    assert_eq!(a["turns"][0]["arguments"], json!({"type": "L"}));
    assert_eq!(a["turns"][2]["content"], "try Ritz");

    // bad input: each a 4xx with a message; the client's history is untouched by them
    let overlong = json!({ "history": a["history"], "message": "x".repeat(400) }).to_string();
    let huge = format!(r#"{{"message": "{}"}}"#, "y".repeat(server::BODY_LIMIT_FOR_TESTS + 1));
    for (body, code, says) in [
        ("{\"message\": ", 400, "not what this endpoint takes"),
        (r#"{"message": "hi", "colour": 1}"#, 400, "unknown field `colour`"),
        (r#"{"history": [{"role": "wizard"}], "message": "hi"}"#, 400, "unknown variant `wizard`"),
        (r#"{"message": "   "}"#, 400, "the message is empty"),
        (overlong.as_str(), 400, "the conversation goes on"),
        (huge.as_str(), 413, ""),
    ] {
        let (got, text) = server.request("/api/chat", Some(body));
        assert_eq!(got, code, "{} → {text}", &body[..body.len().min(60)]);
        assert!(text.contains(says), "{text}");
    }
    let (code, text) = server.request("/nowhere", None);
    assert_eq!((code, text.contains("no such page")), (404, true), "{text}");

    // the conversation goes on from the history the first answer gave
    let next = json!({ "history": a["history"], "message": "cheap" }).to_string();
    let (code, body) = server.request("/api/chat", Some(&next));
    assert_eq!(code, 200, "{body}");
    let b: Value = serde_json::from_str(&body).unwrap();
    let (want, want_history) = expected_turns(&model, &tok, &want_history, "cheap");
    assert_eq!(b["turns"], serde_json::to_value(&want).unwrap());
    assert_eq!(b["history"], serde_json::to_value(&want_history).unwrap());
    let st = server.status();
    assert_eq!((st["served"].as_u64(), st["busy"].as_u64()), (Some(3), Some(0)), "{st}");
}

#[test]
fn the_playground_streams_the_tokens_generate_chooses_and_refuses_bad_settings() {
    let server = assistant_server(8);
    let (model, tok) = load_final();
    let (code, body) = server.request("/api/tokenize", Some(r#"{"text": "lux!"}"#));
    assert_eq!(code, 200, "{body}");
    let ids: Vec<u32> = tok.encode("lux!").unwrap();
    let listed: Vec<u64> = serde_json::from_str::<Value>(&body).unwrap()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, ids.iter().map(|&i| i as u64).collect::<Vec<_>>());

    for (temperature, top_k, top_p, seed) in [(0.0, 0, 1.0, 0), (0.9, 20, 0.95, 7)] {
        let req = json!({"prompt": "lux!", "temperature": temperature, "top_k": top_k, "top_p": top_p,
                         "max_tokens": 30, "seed": seed});
        let (code, body) = server.request("/api/generate", Some(&req.to_string()));
        assert_eq!(code, 200, "{body}");
        let events = sse_events(&body);
        let sampling = Sampling { temperature, top_k, top_p };
        let out = model.generate(&ids, 30, &sampling, Some(EOS_ID), &mut gradschool::manual_seed(seed));
        let want = &out[ids.len()..];
        let (done, tokens) = events.split_last().unwrap();
        let got: Vec<u32> = tokens.iter().map(|e| e["id"].as_u64().unwrap() as u32).collect();
        assert_eq!(got, want, "temperature {temperature}: the stream vs Gpt2::generate");
        let text: String = tokens.iter().map(|e| e["text"].as_str().unwrap()).collect();
        let written: Vec<u32> = want.iter().copied().filter(|&t| t != EOS_ID).collect();
        let whole = tok.decode(&written).unwrap();
        assert!(whole.starts_with(&text) && whole.trim_end_matches('\u{FFFD}') == text, "{text:?} vs {whole:?}");
        assert_eq!(done["event"], "done", "{done}");
        assert_eq!(done["new_tokens"].as_u64(), Some(want.len() as u64));
        let stopped = if want.last() == Some(&EOS_ID) { "eos" } else { "max_tokens" };
        assert_eq!(done["stopped"], stopped);
    }
    for (req, says) in [
        (r#"{"prompt": "a", "top_p": 0}"#, "top_p must be in (0, 1]"),
        (r#"{"prompt": "a", "temperature": -1}"#, "temperature must be a number ≥ 0"),
        (r#"{"prompt": "", "max_tokens": 3}"#, "the prompt has no tokens"),
        (r#"{"prompt": "a", "max_tokens": 500}"#, "so at most 159 new tokens fit"),
        (r#"{"prompt": "a", "max_tokens": 0}"#, "max_tokens must be at least 1"),
        (r#"{"prompt": 3}"#, "invalid type"),
        (r#"{"prompt": "a", "max_tokens": 18446744073709551615}"#, "so at most 159 new tokens fit"),
        (r#"{"prompt": "a", "max_tokens": 18446744073709551616}"#, "not what this endpoint takes"),
        ("[1, 2", "not what this endpoint takes"),
    ] {
        let (code, text) = server.request("/api/generate", Some(req));
        assert_eq!(code, 400, "{req} → {text}");
        assert!(text.contains(says), "{req} → {text}");
    }
}

/// Sends `body` to `path` on a raw connection and hangs up: at once (`wait_for` None) or after
/// the first line starting with `wait_for`.
fn send_and_leave(addr: &str, path: &str, body: &str, wait_for: Option<&str>) {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n");
    write!(conn, "{head}Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    if let Some(prefix) = wait_for {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        while !line.starts_with(prefix) {
            line.clear();
            assert!(reader.read_line(&mut line).unwrap() > 0, "the answer ended before `{prefix}`");
        }
    } else {
        std::thread::sleep(Duration::from_millis(50)); // the request is read, the model started
    }
    conn.shutdown(std::net::Shutdown::Both).unwrap();
}

/// `/api/status` once `served` reaches `n` (the model thread has finished the request).
fn status_once_served(server: &Server, n: u64) -> Value {
    let started = Instant::now();
    loop {
        let st = server.status();
        if st["served"] == n || started.elapsed() > Duration::from_secs(120) {
            return st;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_generation_or_a_chat_whose_client_leaves_stops() {
    // a random model with room for 1000 tokens, so a generation or a turn outlasts the client
    let dir = tmp("cancel");
    let config = gradschool::gpt2::Gpt2Config {
        n_embd: 64,
        n_layer: 2,
        n_head: 2,
        n_positions: 1024,
        ..gradschool::gpt2::Gpt2Config::gpt2()
    };
    Gpt2::new(config, &mut gradschool::manual_seed(11)).save_dir(&dir).unwrap();
    common::byte_tokenizer(&dir);
    common::write_hotels(&dir.join("hotels.json"));
    let model = Gpt2::from_dir(&dir).unwrap();
    let tok = Gpt2Tokenizer::from_dir(&dir).unwrap();
    let greedy = Sampling::default();
    let chat = [Turn::User { content: "hello".into() }];
    let (chat_prompt, _) = gradschool::data::hotel::serialise(&chat, &mut |t| tok.encode(t), EOS_ID).unwrap();
    for prompt in [tok.encode("once").unwrap(), chat_prompt] {
        let full = model.generate(&prompt, 1000, &greedy, Some(EOS_ID), &mut gradschool::manual_seed(0));
        assert_eq!(full.len(), prompt.len() + 1000, "this model writes no EOS in 1000 greedy tokens");
    }
    let server = Server::start(&[
        "--model-dir".into(),
        s(&dir),
        "--hotels".into(),
        s(dir.join("hotels.json")),
        "--max-turn-tokens".into(),
        "1000".into(),
        "--runs".into(),
        s(dir.join("runs")),
    ]);
    let addr = server.url.trim_start_matches("http://");

    // a streamed generation: the reader leaves after the first token
    send_and_leave(addr, "/api/generate", r#"{"prompt": "once", "max_tokens": 1000}"#, Some("event: token"));
    let st = status_once_served(&server, 1);
    assert_eq!(st["cancelled"], 1, "{st}");
    let tokens = st["tokens"].as_u64().unwrap();
    assert!(tokens < 1000, "the generation ran on after the client left: {st}");

    // a chat request abandoned while the model writes its turn
    send_and_leave(addr, "/api/chat", r#"{"message": "hello"}"#, None);
    let st = status_once_served(&server, 2);
    assert_eq!(st["cancelled"], 2, "{st}");
    assert!(st["tokens"].as_u64().unwrap() - tokens < 1000, "the turn ran on after the client left: {st}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fifty_concurrent_chats_are_each_answered_with_their_own_dialogue_or_refused_busy() {
    let queue = 8;
    let server = assistant_server(queue);
    let (model, tok) = load_final();
    let messages: Vec<String> = (0..50).map(|i| format!("{} {i}", ["cheap", "lux"][i % 2])).collect();
    let expected: Vec<Value> =
        messages.iter().map(|m| serde_json::to_value(expected_turns(&model, &tok, &[], m).0).unwrap()).collect();
    let start = std::sync::Barrier::new(messages.len());
    let results: Vec<(u16, String, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = messages
            .iter()
            .map(|m| {
                let (server, start) = (&server, &start);
                scope.spawn(move || {
                    let body = json!({ "message": m }).to_string();
                    start.wait();
                    let t = Instant::now();
                    let (code, text) = server.request("/api/chat", Some(&body));
                    (code, text, t.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut answered = Vec::new();
    for (i, (code, text, took)) in results.iter().enumerate() {
        match code {
            200 => {
                let a: Value = serde_json::from_str(text).unwrap();
                assert_eq!(a["turns"], expected[i], "client {i} ({}) got another dialogue", messages[i]);
                assert_eq!(a["history"][0]["content"], messages[i].as_str());
                answered.push(*took);
            }
            503 => assert!(text.contains("busy"), "{text}"),
            _ => panic!("client {i}: {code} {text}"),
        }
    }
    // a refusal means `queue` requests were waiting, and each of those is answered
    let refused = results.len() - answered.len();
    assert!(refused == 0 || answered.len() >= queue, "{} answered, {refused} refused", answered.len());
    let st = server.status();
    assert_eq!(st["served"].as_u64(), Some(answered.len() as u64), "{st}");
    assert_eq!(st["busy"].as_u64(), Some(refused as u64), "{st}");
    answered.sort();
    let pct = |q: f64| answered[((answered.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "50 concurrent chats, queue {queue}: {} answered, {refused} busy; latency p50 {:?}, p99 {:?}",
        answered.len(),
        pct(0.5),
        pct(0.99)
    );
}

#[test]
fn runs_are_read_from_the_files_and_nothing_outside_runs_is_served() {
    let dir = tmp("runs");
    let runs = dir.join("runs");
    let csv = "epoch,step,lr,train_loss,eval_loss,train_seconds\n1,10,0.1,2.5,,1.0\n1,20,0.05,1.5,1.75,1.0\n2,30";
    for d in ["a", "sweep/b", "deep/x/y", "a/checkpoint-10"] {
        std::fs::create_dir_all(runs.join(d)).unwrap();
        std::fs::write(runs.join(d).join("metrics.csv"), csv).unwrap();
    }
    std::fs::write(runs.join("a/loss.png"), b"not really a PNG").unwrap();
    let meta = std::collections::HashMap::from([("config".to_string(), "mnist lr=0.01".to_string())]);
    let w = gradschool::Tensor::from_vec(vec![1.0f32], [1]);
    gradschool::io::save_safetensors(&runs.join("a/checkpoint.safetensors"), &[("w".into(), w)], &meta).unwrap();
    common::tiny_gpt2(&dir.join("model"));
    let server = Server::start(&["--model-dir".into(), s(dir.join("model")), "--runs".into(), s(&runs)]);

    let (code, body) = server.request("/api/runs", None);
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    // two levels deep, checkpoint folders skipped
    assert_eq!(names, ["a", "sweep/b"]);
    assert_eq!(list[0]["rows"], 2, "the row cut short by a writer is left out");
    assert_eq!(list[0]["settings"], "mnist lr=0.01");
    assert_eq!((list[0]["loss_png"].as_bool(), list[1]["loss_png"].as_bool()), (Some(true), Some(false)));

    let (code, body) = server.request("/api/runs/metrics?name=sweep%2Fb", None);
    assert_eq!(code, 200, "{body}");
    let m: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(m["columns"], json!(["epoch", "step", "lr", "train_loss", "eval_loss", "train_seconds"]));
    assert_eq!(m["rows"], json!([[1.0, 10.0, 0.1, 2.5, null, 1.0], [1.0, 20.0, 0.05, 1.5, 1.75, 1.0]]));
    let (code, body) = server.request("/api/runs/loss.png?name=a", None);
    assert_eq!((code, body.as_str()), (200, "not really a PNG"));
    for name in ["..%2Fa", "deep%2Fx%2Fy", "a%2Fcheckpoint-10", "%2Fetc", "sweep%2F..%2Fa"] {
        let (code, body) = server.request(&format!("/api/runs/metrics?name={name}"), None);
        assert_eq!(code, 404, "{name}: {body}");
        assert!(body.contains("no run named"), "{body}");
    }
    let (code, _) = server.request("/api/runs/metrics", None);
    assert_eq!(code, 400, "the name is required");
    let _ = std::fs::remove_dir_all(&dir);
}
