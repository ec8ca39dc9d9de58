//! The runs page's data: every `metrics.csv` under `--runs`, read from the files alone (a run
//! trained elsewhere and copied in is shown the same), re-read on every request so a run that is
//! training shows its new rows. A run is named by its folder's path under `--runs`; a request
//! names a run from the listing, never a path, so nothing outside `--runs` can be read.

use super::{ApiError, Shared};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// One run as the listing shows it.
#[derive(Serialize, Debug)]
pub struct Run {
    /// Its folder under `--runs` (`mnist`, `sweep/r8-a16`).
    name: String,
    /// When metrics.csv last changed (seconds since 1970): the page re-reads a run when it moves.
    modified: f64,
    /// Data rows in metrics.csv.
    rows: usize,
    /// Its columns.
    columns: Vec<String>,
    /// Whether the run drew a loss.png.
    loss_png: bool,
    /// The training settings the checkpoint recorded (its resume fingerprint), if it has one.
    settings: Option<String>,
    /// The final evaluation (eval.json), if the run wrote one.
    eval: Option<serde_json::Value>,
}

/// Folders under `root` (itself, its children and grandchildren) that hold a metrics.csv, by name.
fn find(root: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let mut visit = vec![(String::new(), root.to_path_buf(), 0)];
    while let Some((name, dir, depth)) = visit.pop() {
        if dir.join("metrics.csv").is_file() {
            found.push((if name.is_empty() { ".".into() } else { name.clone() }, dir.clone()));
        }
        if depth == 2 {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let (path, file) = (e.path(), e.file_name().to_string_lossy().into_owned());
            if path.is_dir() && !file.starts_with('.') && !file.starts_with("checkpoint") {
                let child = if name.is_empty() { file } else { format!("{name}/{file}") };
                visit.push((child, path, depth + 1));
            }
        }
    }
    found.sort();
    found
}

/// A metrics.csv: its columns and its rows of numbers (None: empty or not a number).
type Metrics = (Vec<String>, Vec<Vec<Option<f64>>>);

/// metrics.csv as columns and numeric rows (a field that is not a number is null; a row cut
/// short by a writer mid-line is left out).
fn read_metrics(path: &Path) -> std::result::Result<Metrics, String> {
    let mut r =
        csv::ReaderBuilder::new().flexible(true).from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let columns: Vec<String> =
        r.headers().map_err(|e| format!("{}: {e}", path.display()))?.iter().map(str::to_string).collect();
    let rows = r
        .records()
        .flatten()
        .filter(|rec| rec.len() == columns.len())
        .map(|rec| rec.iter().map(|f| f.trim().parse::<f64>().ok().filter(|v| v.is_finite())).collect())
        .collect();
    Ok((columns, rows))
}

fn describe(name: String, dir: &Path) -> Run {
    let csv = dir.join("metrics.csv");
    let modified = std::fs::metadata(&csv)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let (columns, rows) = read_metrics(&csv).unwrap_or_default();
    let settings = gradschool::io::safetensors_metadata(&dir.join("checkpoint.safetensors"))
        .ok()
        .and_then(|m| m.get("config").cloned());
    let eval = std::fs::read_to_string(dir.join("eval.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    Run { name, modified, rows: rows.len(), columns, loss_png: dir.join("loss.png").is_file(), settings, eval }
}

/// `GET /api/runs`: every run, with its columns and settings.
pub async fn list(State(s): State<Shared>) -> Json<Vec<Run>> {
    Json(find(&s.runs).into_iter().map(|(name, dir)| describe(name, &dir)).collect())
}

#[derive(Deserialize)]
pub struct Named {
    name: String,
}

/// The folder of the run called `name`, or a 404 that says where runs are looked for.
fn lookup(s: &Shared, name: &str) -> std::result::Result<PathBuf, ApiError> {
    find(&s.runs).into_iter().find(|(n, _)| n == name).map(|(_, dir)| dir).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("no run named `{name}` (a folder with a metrics.csv) under {}", s.runs.display()),
        )
    })
}

/// `GET /api/runs/metrics?name=…`: the run's columns and rows.
pub async fn metrics(State(s): State<Shared>, Query(q): Query<Named>) -> std::result::Result<Response, ApiError> {
    let dir = lookup(&s, &q.name)?;
    let (columns, rows) = read_metrics(&dir.join("metrics.csv")).map_err(|e| ApiError(StatusCode::NOT_FOUND, e))?;
    Ok(Json(serde_json::json!({ "name": q.name, "columns": columns, "rows": rows })).into_response())
}

/// `GET /api/runs/loss.png?name=…`: the PNG the run drew.
pub async fn loss_png(State(s): State<Shared>, Query(q): Query<Named>) -> std::result::Result<Response, ApiError> {
    let path = lookup(&s, &q.name)?.join("loss.png");
    let bytes =
        std::fs::read(&path).map_err(|e| ApiError(StatusCode::NOT_FOUND, format!("{}: {e}", path.display())))?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "no-cache")], bytes).into_response())
}
