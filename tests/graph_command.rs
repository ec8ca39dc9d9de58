//! `gradschool graph` draws a real training step's graph: the files exist in the right format
//! and the DOT text names the model's parameters with their gradient shapes.

use std::process::Command;

#[test]
fn graph_draws_png_svg_and_dot_with_parameter_gradients() {
    let dir = std::env::temp_dir().join(format!("gradschool-graph-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_gradschool")).args(args).output().unwrap();
    let (png, svg, dot) = (dir.join("g.png"), dir.join("g.svg"), dir.join("g.dot"));
    let out = run(&["graph", "--model", "mnist", "-o", png.to_str().unwrap(), "--dot", dot.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let dot = std::fs::read_to_string(&dot).unwrap();
    // FeedForwardNet: fc1.weight (256, 784) gets a gradient of its own shape; the data does not
    assert!(dot.contains("{fc1.weight | (256, 784) | grad (256, 784)}"), "{dot}");
    assert!(dot.contains("{fc4.bias | (10) | grad (10)}"), "{dot}");
    // the images (flattened, as the batched matmul reads them) and the first dropout mask
    assert!(dot.contains("{input | (1, 4, 784) | no grad}"), "{dot}");
    assert!(dot.contains("{input | (4, 256) | no grad}"), "{dot}");
    for op in ["relu", "log_softmax", "gather"] {
        assert!(dot.contains(op), "no {op} node: {dot}");
    }
    let out = run(&["graph", "-o", svg.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let out = run(&["graph", "-o", dir.join("no/such/dir/g.png").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("does not exist") && !err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
