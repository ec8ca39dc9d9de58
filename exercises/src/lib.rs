//! # gradschool exercises
//!
//! Each chapter of the book has a file here, `src/chNN.rs`, with functions whose bodies are
//! `todo!("ex N.M: …")`. Replace each `todo!` with the real thing, then run
//!
//! ```sh
//! cargo run -p exercises --bin grade            # scoreboard, next task, its hint
//! cargo run -p exercises --bin grade -- --watch # re-grade on every save
//! cargo test -p exercises                       # the graders themselves
//! ```
//!
//! The graders live in `tests/`, outside the files you edit. Reference solutions are in
//! `solutions/` behind the `solutions` feature — try first, peek later. `wrong/` holds a
//! plausible mistake for every exercise (feature `wrong`): CI proves every grader rejects it.

pub mod grader;

/// Under `wrong`, the reference solutions of the chapters whose functions later chapters build on,
/// so that a wrong chapter 8 trains through correct chapters 4, 6 and 7 and fails for its own
/// mistake alone.
#[cfg(feature = "wrong")]
#[rustfmt::skip]
#[path = "../solutions/ch04.rs"]
pub mod reference_ch04;
#[cfg(feature = "wrong")]
#[rustfmt::skip]
#[path = "../solutions/ch06.rs"]
pub mod reference_ch06;
#[cfg(feature = "wrong")]
#[rustfmt::skip]
#[path = "../solutions/ch07.rs"]
pub mod reference_ch07;

// Each chapter three ways: your stub (the default), the reference solution (`solutions`), or a
// plausible mistake for every exercise (`wrong`: each grader must reject it). Written out plainly
// rather than by a macro so that tools that read module declarations (cargo-mutants, for the
// mutation report in MUTANTS.md) find the solutions. `rustfmt::skip` keeps rustfmt out of the
// chapter files as the macro did: their one-line signatures and comments are laid out for reading.

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch02;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch02.rs"]
#[rustfmt::skip]
pub mod ch02;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch02.rs"]
#[rustfmt::skip]
pub mod ch02;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch03;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch03.rs"]
#[rustfmt::skip]
pub mod ch03;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch03.rs"]
#[rustfmt::skip]
pub mod ch03;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch04;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch04.rs"]
#[rustfmt::skip]
pub mod ch04;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch04.rs"]
#[rustfmt::skip]
pub mod ch04;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch05;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch05.rs"]
#[rustfmt::skip]
pub mod ch05;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch05.rs"]
#[rustfmt::skip]
pub mod ch05;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch06;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch06.rs"]
#[rustfmt::skip]
pub mod ch06;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch06.rs"]
#[rustfmt::skip]
pub mod ch06;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch07;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch07.rs"]
#[rustfmt::skip]
pub mod ch07;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch07.rs"]
#[rustfmt::skip]
pub mod ch07;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch08;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch08.rs"]
#[rustfmt::skip]
pub mod ch08;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch08.rs"]
#[rustfmt::skip]
pub mod ch08;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch09;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch09.rs"]
#[rustfmt::skip]
pub mod ch09;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch09.rs"]
#[rustfmt::skip]
pub mod ch09;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch10;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch10.rs"]
#[rustfmt::skip]
pub mod ch10;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch10.rs"]
#[rustfmt::skip]
pub mod ch10;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch11;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch11.rs"]
#[rustfmt::skip]
pub mod ch11;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch11.rs"]
#[rustfmt::skip]
pub mod ch11;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch12;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch12.rs"]
#[rustfmt::skip]
pub mod ch12;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch12.rs"]
#[rustfmt::skip]
pub mod ch12;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch15;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch15.rs"]
#[rustfmt::skip]
pub mod ch15;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch15.rs"]
#[rustfmt::skip]
pub mod ch15;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch16;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch16.rs"]
#[rustfmt::skip]
pub mod ch16;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch16.rs"]
#[rustfmt::skip]
pub mod ch16;

#[cfg(not(any(feature = "solutions", feature = "wrong")))]
#[allow(unused_variables, unused_imports, unused_mut, dead_code)]
#[rustfmt::skip]
pub mod ch17;
#[cfg(all(feature = "solutions", not(feature = "wrong")))]
#[path = "../solutions/ch17.rs"]
#[rustfmt::skip]
pub mod ch17;
#[cfg(feature = "wrong")]
#[path = "../wrong/ch17.rs"]
#[rustfmt::skip]
pub mod ch17;
