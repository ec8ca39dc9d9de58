//! Load on a running `gradschool serve`: N clients at once (a barrier releases them together),
//! each one chat message (or one generation), then the answered / busy counts, latency
//! percentiles of the answered ones, and the server's memory from `/api/status`.
//!
//! ```text
//! cargo bench --bench serve_load -- http://127.0.0.1:6006 chat 50 "我要找一家经济型酒店"
//! cargo bench --bench serve_load -- http://127.0.0.1:6006 generate 50 "The hotel is"
//! ```
//! (benches/README.md, "gradschool serve under load").

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let [url, kind, clients, text] = <[String; 4]>::try_from(args).unwrap_or_else(|_| {
        eprintln!("usage: serve_load URL chat|generate CLIENTS TEXT");
        std::process::exit(2)
    });
    let clients: usize = clients.parse().expect("CLIENTS: a number");
    let (path, body) = match kind.as_str() {
        "chat" => ("/api/chat", serde_json::json!({ "message": text })),
        "generate" => {
            ("/api/generate", serde_json::json!({ "prompt": text, "max_tokens": 32, "temperature": 0.8, "top_k": 40 }))
        }
        _ => panic!("chat or generate, not {kind}"),
    };
    let barrier = std::sync::Barrier::new(clients);
    let started = Instant::now();
    let results: Vec<(u16, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (barrier, body, url) = (&barrier, body.to_string(), format!("{url}{path}"));
                s.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    barrier.wait();
                    let t = Instant::now();
                    let mut r =
                        agent.post(&url).header("content-type", "application/json").send(body).expect("the server");
                    let _ = r.body_mut().read_to_string();
                    (r.status().as_u16(), t.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wall = started.elapsed();
    let mut ok: Vec<Duration> = results.iter().filter(|r| r.0 == 200).map(|r| r.1).collect();
    let busy_max = results.iter().filter(|r| r.0 == 503).map(|r| r.1).max().unwrap_or_default();
    let busy = results.iter().filter(|r| r.0 == 503).count();
    let other = results.len() - ok.len() - busy;
    ok.sort();
    let pct = |q: f64| ok.get(((ok.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or_default();
    println!(
        "{clients} concurrent {kind} requests: {} answered, {busy} busy (slowest refusal {:.1} ms), {other} other; latency of the answered p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; all done in {:.2} s",
        ok.len(),
        busy_max.as_secs_f64() * 1e3,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        ok.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        wall.as_secs_f64()
    );
    let text =
        ureq::get(&format!("{url}/api/status")).call().expect("status").body_mut().read_to_string().expect("status");
    let status: serde_json::Value = serde_json::from_str(&text).expect("status JSON");
    let mib = |k: &str| status[k].as_f64().unwrap_or(0.0) / (1 << 20) as f64;
    println!(
        "server: RSS {:.0} MiB, peak {:.0} MiB; served {}, busy {}, cancelled {}, tokens {}",
        mib("rss_bytes"),
        mib("peak_rss_bytes"),
        status["served"],
        status["busy"],
        status["cancelled"],
        status["tokens"]
    );
}
