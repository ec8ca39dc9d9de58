//! What the graders share: the exercise manifest (info.toml) and assertions that print the
//! failing value, the expected one, a hint and the book section to read.

use serde::Deserialize;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// One exercise of info.toml.
#[derive(Clone, Debug, Deserialize)]
pub struct Exercise {
    /// "2.1"
    pub id: String,
    /// Short name.
    pub name: String,
    /// The file to edit.
    pub file: String,
    /// A nudge, not the answer.
    pub hint: String,
    /// The book section, relative to book/src.
    pub book: String,
}

#[derive(Deserialize)]
struct Manifest {
    exercise: Vec<Exercise>,
}

/// Every exercise, in order.
pub fn exercises() -> Vec<Exercise> {
    let manifest: Manifest = toml::from_str(include_str!("../info.toml")).expect("exercises/info.toml is valid TOML");
    manifest.exercise
}

/// The exercise with this id.
pub fn exercise(id: &str) -> Exercise {
    exercises().into_iter().find(|e| e.id == id).unwrap_or_else(|| panic!("no exercise {id} in info.toml"))
}

/// Runs a grader body; if it fails (a wrong value or a `todo!` still in place), prints the
/// exercise's hint and book section before failing the test.
pub fn grade(id: &str, body: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(body)) {
        let e = exercise(id);
        eprintln!("\n✗ ex {} ({}) — edit exercises/{}", e.id, e.name, e.file);
        eprintln!("  hint: {}", e.hint);
        eprintln!("  read: book/src/{}\n", e.book);
        resume_unwind(panic);
    }
}

/// Asserts |got − want| ≤ tol·(1 + |want|) elementwise. On failure it prints the first element
/// that differs, with a few of its neighbours on each side — never the whole vectors (a grader's
/// vectors can hold 200,000 values).
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: got {} values, expected {}", got.len(), want.len());
    // written so that NaN is never close
    let close = |g: f32, w: f32| (g - w).abs() <= tol * (1.0 + w.abs());
    let bad = got.iter().zip(want).position(|(&g, &w)| !close(g, w));
    if let Some(i) = bad {
        let around = i.saturating_sub(3)..(i + 4).min(got.len());
        let differing = got.iter().zip(want).filter(|(&g, &w)| !close(g, w)).count();
        panic!(
            "{what}: element {i} of {}: got {}, expected {} (tolerance {tol} × (1 + |expected|)); {differing} \
             element(s) differ\n  got      [{}..{}] {:?}\n  expected [{}..{}] {:?}",
            got.len(),
            got[i],
            want[i],
            around.start,
            around.end,
            &got[around.clone()],
            around.start,
            around.end,
            &want[around.clone()],
        );
    }
}

/// [`assert_close`] for one f64.
#[track_caller]
pub fn assert_close64(what: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol * (1.0 + want.abs()), "{what}: got {got}, expected {want}");
}
