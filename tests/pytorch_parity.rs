//! Every op, activation and loss against PyTorch: forward values and input gradients, on the
//! inputs and upstream gradients stored by tests/reference/make_fixtures.py.
//!
//! Tolerances (relative, with a small absolute floor for values near 0):
//! elementwise ops 1e-5; matmul, reductions, softmax and losses 1e-4. The tables are in
//! tests/common/parity.rs (the GPU suite runs the same ones).

mod common;

use common::parity::*;
use gradschool::Device;

fn run(family: &str, (table, rtol, atol): Table) {
    check_family(family, &table, rtol, atol, &Device::Cpu);
}

#[test]
fn unary_ops_match_pytorch() {
    run("unary", unary_table());
}

#[test]
fn binary_ops_match_pytorch() {
    run("binary", binary_table());
}

#[test]
fn reductions_match_pytorch() {
    run("reduce", reduce_table());
}

#[test]
fn matmul_matches_pytorch() {
    run("matmul", matmul_table());
}

#[test]
fn movement_ops_match_pytorch() {
    run("movement", movement_table());
}

#[test]
fn indexing_ops_match_pytorch() {
    run("index", index_table());
}

#[test]
fn softmax_matches_pytorch() {
    run("softmax", softmax_table());
}

#[test]
fn losses_match_pytorch() {
    run("loss", loss_table());
}
