//! A real `gradschool serve` process on a free loopback port, for the server's tests; it is
//! killed when dropped. Shared by tests/serve.rs and tests/browser.rs, each using part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The server's request-body limit (`BODY_LIMIT` in src/cli/serve/mod.rs).
pub const BODY_LIMIT_FOR_TESTS: usize = 64 * 1024;

pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
}

impl Server {
    /// Starts `gradschool serve --port 0 ARGS…` and waits for the address it prints.
    pub fn start(args: &[String]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gradschool"))
            .args(["serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gradschool serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(|l| l.ok()).unwrap_or_else(|| {
            let status = child.wait().unwrap();
            panic!("gradschool serve exited ({status}) before printing its address")
        });
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in `{first}`"))
            .trim_end_matches('/')
            .to_string();
        // keep draining stdout so the server never blocks on a full pipe
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, url }
    }

    /// `GET`/`POST` (with a JSON body) to `path`: the status and the body as text.
    pub fn request(&self, path: &str, body: Option<&str>) -> (u16, String) {
        // bounded in time: a server that stops answering fails the test instead of hanging it
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(300)))
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let mut resp = match body {
            Some(b) => agent.post(&url).header("content-type", "application/json").send(b),
            None => agent.get(&url).call(),
        }
        .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }

    /// `GET /api/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        let (code, body) = self.request("/api/status", None);
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SSE events of a `/api/generate` answer, as JSON, in order.
pub fn sse_events(body: &str) -> Vec<serde_json::Value> {
    body.split("\n\n")
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data:")))
        .map(|d| serde_json::from_str(d.trim()).unwrap_or_else(|e| panic!("event `{d}`: {e}")))
        .collect()
}
