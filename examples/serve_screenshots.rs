//! Screenshots of a running `gradschool serve` for the book and the README, taken in headless
//! Chromium (Debian chromium + chromium-driver):
//!
//! ```text
//! cargo run --release --example serve_screenshots -- http://127.0.0.1:6006 book/src/figures \
//!     "我要找一家舒适型酒店，需要暖气" "The hotel is"
//! ```
//! writes serve-assistant.png (after sending the message), serve-playground.png (after
//! generating from the prompt) and serve-runs.png.

use fantoccini::{ClientBuilder, Locator};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, out, message, prompt] = <[String; 4]>::try_from(args).unwrap_or_else(|_| {
        eprintln!("usage: serve_screenshots URL OUT_DIR MESSAGE PROMPT");
        std::process::exit(2)
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian: chromium-driver)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let caps = serde_json::json!({ "goog:chromeOptions": {
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,860", "--hide-scrollbars"] } });
    let serde_json::Value::Object(caps) = caps else { unreachable!() };
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    let wait = Duration::from_secs(300);
    let shot = |name: &'static str| {
        let (c, out) = (c.clone(), out.clone());
        async move {
            let png = c.screenshot().await.unwrap();
            let path = std::path::Path::new(&out).join(name);
            std::fs::write(&path, png).unwrap();
            println!("wrote {}", path.display());
        }
    };

    c.goto(&format!("{url}/")).await.unwrap();
    c.find(Locator::Id("chat-input")).await.unwrap().send_keys(&message).await.unwrap();
    c.find(Locator::Id("chat-send")).await.unwrap().click().await.unwrap();
    c.wait().at_most(wait).for_element(Locator::Css(".turn.assistant, .turn.error")).await.unwrap();
    if let Ok(d) = c.find(Locator::Css(".turn.return summary")).await {
        d.click().await.unwrap(); // open the returned record
    }
    shot("serve-assistant.png").await;

    c.goto(&format!("{url}/playground")).await.unwrap();
    let p = c.find(Locator::Id("prompt")).await.unwrap();
    p.clear().await.unwrap();
    p.send_keys(&prompt).await.unwrap();
    c.find(Locator::Id("gen-go")).await.unwrap().click().await.unwrap();
    let started = Instant::now();
    while !c.find(Locator::Id("gen-stats")).await.unwrap().text().await.unwrap().contains("tokens/s") {
        assert!(started.elapsed() < wait, "the generation did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shot("serve-playground.png").await;

    c.goto(&format!("{url}/runs")).await.unwrap();
    c.wait().at_most(wait).for_element(Locator::Css("svg.chart")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    shot("serve-runs.png").await;
    let _ = c.close().await;
    let _ = driver.kill();
    let _ = driver.wait();
}
