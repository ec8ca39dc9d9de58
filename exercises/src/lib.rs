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

macro_rules! chapter {
    ($name:ident, $stub:literal, $solution:literal, $wrong:literal) => {
        #[cfg(not(any(feature = "solutions", feature = "wrong")))]
        #[path = $stub]
        #[allow(unused_variables, unused_imports, unused_mut, dead_code)]
        pub mod $name;
        #[cfg(all(feature = "solutions", not(feature = "wrong")))]
        #[path = $solution]
        pub mod $name;
        // A plausible mistake for every exercise of the chapter: each grader must reject it.
        #[cfg(feature = "wrong")]
        #[path = $wrong]
        pub mod $name;
    };
}

/// Under `wrong`, the reference solutions of the chapters whose functions later chapters build on,
/// so that a wrong chapter 8 trains through correct chapters 4, 6 and 7 and fails for its own
/// mistake alone.
#[cfg(feature = "wrong")]
#[path = "../solutions/ch04.rs"]
pub mod reference_ch04;
#[cfg(feature = "wrong")]
#[path = "../solutions/ch06.rs"]
pub mod reference_ch06;
#[cfg(feature = "wrong")]
#[path = "../solutions/ch07.rs"]
pub mod reference_ch07;

chapter!(ch02, "ch02.rs", "../solutions/ch02.rs", "../wrong/ch02.rs");
chapter!(ch03, "ch03.rs", "../solutions/ch03.rs", "../wrong/ch03.rs");
chapter!(ch04, "ch04.rs", "../solutions/ch04.rs", "../wrong/ch04.rs");
chapter!(ch05, "ch05.rs", "../solutions/ch05.rs", "../wrong/ch05.rs");
chapter!(ch06, "ch06.rs", "../solutions/ch06.rs", "../wrong/ch06.rs");
chapter!(ch07, "ch07.rs", "../solutions/ch07.rs", "../wrong/ch07.rs");
chapter!(ch08, "ch08.rs", "../solutions/ch08.rs", "../wrong/ch08.rs");
chapter!(ch09, "ch09.rs", "../solutions/ch09.rs", "../wrong/ch09.rs");
chapter!(ch10, "ch10.rs", "../solutions/ch10.rs", "../wrong/ch10.rs");
chapter!(ch11, "ch11.rs", "../solutions/ch11.rs", "../wrong/ch11.rs");
chapter!(ch12, "ch12.rs", "../solutions/ch12.rs", "../wrong/ch12.rs");
chapter!(ch15, "ch15.rs", "../solutions/ch15.rs", "../wrong/ch15.rs");
