//! `cargo run -p exercises --bin grade [-- --watch]`: runs the graders, prints a scoreboard per
//! chapter, and the next task to do with its hint, the book section and the failure message.
//! With `--watch`, grades again every time a file under exercises/src is saved.

use exercises::grader::{exercises, Exercise};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// Outcome of every grader, by exercise id, and the failure output of each failing test.
struct Report {
    passed: BTreeMap<String, bool>,
    failures: BTreeMap<String, String>,
}

fn run_graders(extra: &[String]) -> Result<Report, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "-p", "exercises", "--tests", "--no-fail-fast"])
        .args(extra)
        .args(["--", "--test-threads", "2"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("error[E") || stderr.contains("error: could not compile") {
        return Err(first_compile_error(&stderr));
    }
    let mut report = Report { passed: BTreeMap::new(), failures: BTreeMap::new() };
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("test ex_") else { continue };
        let Some((name, verdict)) = rest.split_once(" ... ") else { continue };
        let mut parts = name.splitn(3, '_');
        let id = format!("{}.{}", parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let ok = verdict.trim() == "ok";
        let entry = report.passed.entry(id).or_insert(true);
        *entry &= ok;
    }
    // The failure sections: "---- ex_2_1_neuron stdout ----" up to the next section.
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("---- ex_").and_then(|l| l.strip_suffix(" stdout ----")) {
            let mut parts = name.splitn(3, '_');
            current = Some(format!("{}.{}", parts.next().unwrap_or(""), parts.next().unwrap_or("")));
            continue;
        }
        if line.starts_with("failures:") || line.starts_with("---- ") {
            current = None;
        }
        if let Some(id) = &current {
            report.failures.entry(id.clone()).or_default().push_str(&format!("{line}\n"));
        }
    }
    Ok(report)
}

fn print_report(all: &[Exercise], report: &Report) {
    let mut by_chapter: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for e in all {
        let ch: u32 = e.id.split('.').next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let entry = by_chapter.entry(ch).or_default();
        entry.1 += 1;
        if report.passed.get(&e.id).copied().unwrap_or(false) {
            entry.0 += 1;
        }
    }
    println!("\ngradschool exercises");
    let widest = by_chapter.values().map(|v| v.1).max().unwrap_or(0);
    for (ch, (done, total)) in &by_chapter {
        let bar: String = (0..*total).map(|i| if i < *done { '█' } else { '·' }).collect();
        // padded by characters, so chapters of 3 and of 12 exercises line up
        let pad = " ".repeat(widest - total);
        println!("  chapter {ch:>2}  {bar}{pad} {done}/{total}");
    }
    let done: usize = by_chapter.values().map(|v| v.0).sum();
    println!("  total       {done}/{}", all.len());
    match all.iter().find(|e| !report.passed.get(&e.id).copied().unwrap_or(false)) {
        None => println!("\nAll exercises pass. Well done!"),
        Some(e) => {
            println!("\nnext: ex {} — {} (exercises/{})", e.id, e.name, e.file);
            println!("hint: {}", e.hint);
            println!("read: book/src/{}", e.book);
            if let Some(f) = report.failures.get(&e.id) {
                // the grader's own banner (✗ ex …, hint, read) is already printed above: once is enough
                let banner = |l: &str| l.starts_with("✗ ex") || l.starts_with("  hint: ") || l.starts_with("  read: ");
                let msg: Vec<&str> = f
                    .lines()
                    .filter(|l| !l.trim().is_empty() && !l.contains("note: run with") && !banner(l))
                    .take(12)
                    .collect();
                println!("\n{}", msg.join("\n"));
            }
        }
    }
}

/// "Chapter file does not compile", with rustc's first error and where it is: the error line, its
/// `--> file:line:col` and the source lines rustc shows, not the whole compiler output.
fn first_compile_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("error[E") || l.starts_with("error:")) else {
        return "the exercises do not compile yet (no rustc error found in cargo's output)".into();
    };
    let block: Vec<&str> = lines[start..].iter().take_while(|l| !l.trim().is_empty()).take(14).copied().collect();
    let place = block.iter().find_map(|l| l.trim_start().strip_prefix("--> ")).unwrap_or("an unknown place");
    let errors = lines.iter().filter(|l| l.starts_with("error[E") || l.starts_with("error:")).count();
    format!(
        "does not compile: {place} (the first of {errors} error(s); fix it and grade again)\n\n{}",
        block.join("\n")
    )
}

/// Latest modification time under `dir`.
fn newest(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(t) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(t);
            }
        }
    }
    newest
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let watch = args.iter().any(|a| a == "--watch");
    let extra: Vec<String> =
        if args.iter().any(|a| a == "--solutions") { vec!["--features".into(), "solutions".into()] } else { vec![] };
    let all = exercises();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    loop {
        let before = newest(&src);
        match run_graders(&extra) {
            Ok(report) => print_report(&all, &report),
            Err(msg) => println!("{msg}"),
        }
        if !watch {
            break;
        }
        println!("\nwatching exercises/src for changes (Ctrl-C to stop)…");
        while newest(&src) == before {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
