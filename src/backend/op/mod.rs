//! The op vocabulary every backend speaks: which elementwise function, which reduction, which
//! optimizer update, and the scalar formula of each. A leaf module: it imports nothing of the
//! crate, so kernels (below) and autograd rules (in `ops/`, above) both depend on it and never on
//! each other.

mod attention;
mod binary;
mod optim;
mod reduce;
mod unary;

pub use attention::AttentionShape;
pub use binary::BinaryOp;
pub use optim::{AdamStep, OptimStep, ParamSlot, SgdStep};
pub use reduce::ReduceOp;
pub use unary::{exp_fast, UnaryOp};
