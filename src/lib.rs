//! # gradschool
//!
//! An educational deep-learning framework: tensors, a hand-written reverse-mode autograd, a CPU
//! backend (ndarray + rayon), and — chapter by chapter — the layers, optimizers and models of a
//! course that goes from a single neuron to fine-tuning GPT-2.
//!
//! ```
//! use gradschool::{manual_seed, Tensor};
//! let mut rng = manual_seed(0);
//! let x = Tensor::randn([4, 3], &mut rng);
//! let w = Tensor::randn([3, 2], &mut rng).requires_grad_();
//! let b = Tensor::zeros([2]).requires_grad_();
//! let y = (x.matmul(&w) + &b).relu();
//! y.sum().backward();
//! assert_eq!(w.grad().unwrap().dims(), &[3, 2]);
//! ```

/// `println!` that never stops the program: a line for the user on stdout, dropped when stdout is
/// closed (`gradschool mnist … | head -2`), where `println!` would panic and end a training run.
/// In a data-parallel job only rank 0 says anything ([`distributed::is_leader`]).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if $crate::distributed::is_leader() {
            let _ = writeln!(std::io::stdout().lock(), $($arg)*);
        }
    }};
}

/// `eprintln!` that never stops the program: a closed stderr drops the line instead of panicking.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod amp;
pub mod autograd;
pub mod backend;
pub mod data;
pub mod device;
pub mod distributed;
pub mod error;
pub mod gpt2;
pub mod grad_mode;
pub mod int_tensor;
pub mod io;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod profiler;
pub mod quant;
pub mod random;
pub mod shape;
pub mod tensor;
#[cfg(feature = "cli")]
pub mod train;

pub use autograd::{
    checkpoint, enable_grad, gradcheck, gradcheck_with, is_grad_enabled, no_grad, GradcheckOptions, GradcheckReport,
    NoGradGuard,
};
pub use backend::set_num_threads;
pub use device::Device;
pub use error::{Error, Result};
pub use int_tensor::{IntTensor, IGNORE_INDEX};
pub use ops::loss::{ClassLossOptions, Reduction};
pub use random::manual_seed;
pub use shape::Shape;
pub use tensor::Tensor;
