//! `gradschool serve`'s pages in a real headless Chromium, driven over WebDriver (Debian's
//! chromium + chromium-driver; fantoccini as the client): a chat message shows the model's search
//! JSON, the returned record and the reply; the runs page charts a run written by the test and
//! redraws it when the run writes a new row; the playground streams the greedy continuation
//! `Gpt2::generate` gives. Without Chromium this reports the case ignored with the reason, unless
//! GRADSCHOOL_REQUIRE_BROWSER is set (.ci/run sets it and installs Chromium), when that fails.

mod common;
#[path = "common/server.rs"]
mod server;

use fantoccini::{Client, ClientBuilder, Locator};
use gradschool::gpt2::{Gpt2, Gpt2Tokenizer, Sampling, EOS_ID};
use gradschool::nn::Module;
use server::Server;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, killed when dropped.
struct Driver(Child, String);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver(child, format!("http://127.0.0.1:{port}"))
}

async fn connect(driver: &str) -> Client {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
        }
    });
    let serde_json::Value::Object(caps) = caps else { unreachable!() };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(driver).await.expect("open a Chromium session")
}

/// The text of the element `css`, waiting up to 60 s for it to appear.
async fn text_of(c: &Client, css: &str) -> String {
    let e = c.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css(css)).await;
    e.unwrap_or_else(|err| panic!("no `{css}` on the page: {err}")).text().await.unwrap()
}

/// Waits until `css`'s attribute `name` reads `want`.
async fn wait_for_attr(c: &Client, css: &str, name: &str, want: &str) {
    let started = Instant::now();
    loop {
        // the page redraws its charts: an element found may be replaced before it is read
        let got = match c.find(Locator::Css(css)).await {
            Ok(e) => e.attr(name).await.ok().flatten(),
            Err(_) => None,
        };
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "`{css}` {name}: {got:?}, waited for {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn type_into(c: &Client, id: &str, text: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn pages(c: &Client, url: &str, runs: &Path, greedy: &str) {
    // the assistant: the search JSON, the returned record, the reply
    c.goto(&format!("{url}/")).await.unwrap();
    type_into(c, "chat-input", "lux").await;
    c.find(Locator::Id("chat-send")).await.unwrap().click().await.unwrap();
    let reply = text_of(c, ".turn.assistant .text").await;
    assert_eq!(reply, "try Ritz");
    let search: serde_json::Value = serde_json::from_str(&text_of(c, ".turn.search pre").await).unwrap();
    assert_eq!(search, serde_json::json!({"type": "L"}));
    assert_eq!(text_of(c, ".turn.return summary").await, "1 record");
    assert_eq!(text_of(c, ".turn.user .text").await, "lux");

    // runs: the test's run charted, then redrawn with the row it writes while the page is open
    c.goto(&format!("{url}/runs")).await.unwrap();
    let line = r#"svg.chart[data-metric="train_loss"] polyline[data-run="demo"]"#;
    wait_for_attr(c, line, "data-points", "3").await;
    let csv = runs.join("demo/metrics.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text += "2,40,0.01,0.9,1.1,1.0\n";
    std::fs::write(&csv, text).unwrap();
    wait_for_attr(c, line, "data-points", "4").await;
    wait_for_attr(c, r#"svg.chart[data-metric="eval_loss"] polyline[data-run="demo"]"#, "data-points", "2").await;

    // the playground: the prompt's pieces, then the greedy continuation streamed in
    c.goto(&format!("{url}/playground")).await.unwrap();
    type_into(c, "prompt", "lux!").await;
    type_into(c, "temperature", "0").await;
    type_into(c, "max_tokens", "20").await;
    c.find(Locator::Id("gen-go")).await.unwrap().click().await.unwrap();
    let started = Instant::now();
    loop {
        let stats = text_of(c, "#gen-stats").await;
        if stats.contains("tokens/s") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the generation did not finish: `{stats}`");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(text_of(c, "#gen-output .new").await, greedy);
    let pieces = c.find_all(Locator::Css("#pieces .piece")).await.unwrap();
    assert_eq!(pieces.len(), 4, "the byte tokenizer splits `lux!` into 4 pieces");
}

fn the_pages_work_in_chromium() -> Result<(), String> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        let why = format!("{CHROMIUM} and {CHROMEDRIVER} are needed (Debian: chromium chromium-driver)");
        if std::env::var_os("GRADSCHOOL_REQUIRE_BROWSER").is_some() {
            panic!("GRADSCHOOL_REQUIRE_BROWSER is set but {why}");
        }
        return Err(why);
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("gradschool-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runs/demo")).unwrap();
    let (_, cfg) = common::memorising_hotel_run(&dir);
    gradschool::train::hotel::train_hotel(&cfg).unwrap();
    let runs = dir.join("runs");
    let header = "epoch,step,lr,train_loss,eval_loss,train_seconds\n";
    std::fs::write(
        runs.join("demo/metrics.csv"),
        format!("{header}1,10,0.1,2.5,,1\n1,20,0.05,1.5,1.7,1\n1,30,0.02,1.2,,1\n"),
    )
    .unwrap();

    let model_dir = dir.join("out/final");
    let mut model = Gpt2::from_dir(&model_dir).unwrap();
    model.set_training(false);
    let tok = Gpt2Tokenizer::from_dir(&model_dir).unwrap();
    let prompt = tok.encode("lux!").unwrap();
    let out = model.generate(&prompt, 20, &Sampling::default(), Some(EOS_ID), &mut gradschool::manual_seed(0));
    let written: Vec<u32> = out[prompt.len()..].iter().copied().filter(|&t| t != EOS_ID).collect();
    let greedy = tok.decode(&written).unwrap().trim_end_matches('\u{FFFD}').to_string();

    let path = |p: &Path| p.display().to_string();
    let server = Server::start(&[
        "--model-dir".into(),
        path(&model_dir),
        "--hotels".into(),
        path(&dir.join("hotels.json")),
        "--max-turn-tokens".into(),
        "40".into(),
        "--runs".into(),
        path(&runs),
    ]);
    let driver = start_driver();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = connect(&driver.1).await;
        let result = tokio::spawn({
            let c = c.clone();
            let (url, runs) = (server.url.clone(), runs.clone());
            async move { pages(&c, &url, &runs, &greedy).await }
        })
        .await;
        let _ = c.close().await;
        if let Err(e) = result {
            std::panic::resume_unwind(e.into_panic());
        }
    });
    drop((server, driver));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() {
    let name = "the_pages_work_in_chromium";
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
        println!("\ntest result: ok. 0 passed; 0 failed; 0 ignored");
        return;
    }
    match std::panic::catch_unwind(the_pages_work_in_chromium) {
        Ok(Ok(())) => println!("test {name} ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored"),
        Ok(Err(why)) => println!("test {name} ... ignored, {why}\n\ntest result: ok. 0 passed; 0 failed; 1 ignored"),
        Err(_) => {
            println!("test {name} ... FAILED\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored");
            std::process::exit(1);
        }
    }
}
