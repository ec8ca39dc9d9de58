//! Published checkpoints are usually f16 or bf16: loading converts them to f32 instead of
//! failing, and gives exactly the f32 file of the same (rounded) values.

use gradschool::io::{load_safetensors, save_safetensors};
use gradschool::Tensor;
use safetensors::tensor::{Dtype, TensorView};

fn write_half(path: &std::path::Path, dtype: Dtype, bytes: &[u8], n: usize) {
    let view = TensorView::new(dtype, vec![n], bytes).unwrap();
    std::fs::write(path, safetensors::serialize([("w".to_string(), view)], None).unwrap()).unwrap();
}

#[test]
fn f16_and_bf16_files_load_as_the_f32_file_of_their_values() {
    let dir = std::env::temp_dir().join(format!("gradschool-half-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let values = [0.1f32, -2.5, 1e-3, 65504.0, -0.0, 2.71, 1e-7, 12345.678];
    let f16: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
    let bf16: Vec<half::bf16> = values.iter().map(|&v| half::bf16::from_f32(v)).collect();
    write_half(
        &dir.join("w16.safetensors"),
        Dtype::F16,
        &f16.iter().flat_map(|h| h.to_le_bytes()).collect::<Vec<u8>>(),
        8,
    );
    write_half(
        &dir.join("wbf.safetensors"),
        Dtype::BF16,
        &bf16.iter().flat_map(|h| h.to_le_bytes()).collect::<Vec<u8>>(),
        8,
    );
    for (file, rounded) in [
        ("w16", f16.iter().map(|h| h.to_f32()).collect::<Vec<f32>>()),
        ("wbf", bf16.iter().map(|h| h.to_f32()).collect::<Vec<f32>>()),
    ] {
        let f32_path = dir.join(format!("{file}-f32.safetensors"));
        save_safetensors(&f32_path, &[("w".into(), Tensor::from_vec(rounded.clone(), [8]))], &Default::default())
            .unwrap();
        let (half_loaded, _) = load_safetensors(&dir.join(format!("{file}.safetensors"))).unwrap();
        let (f32_loaded, _) = load_safetensors(&f32_path).unwrap();
        assert_eq!(half_loaded[0].1.to_vec(), f32_loaded[0].1.to_vec(), "{file}");
        assert_eq!(half_loaded[0].1.to_vec(), rounded);
    }
    // IEEE 754 binary16: 0.1 rounds to 0x2E66 = 0.0999755859375; bfloat16: 0x3DCD = 0.10009765625
    let (a, _) = load_safetensors(&dir.join("w16.safetensors")).unwrap();
    let (b, _) = load_safetensors(&dir.join("wbf.safetensors")).unwrap();
    assert_eq!((a[0].1.to_vec()[0], b[0].1.to_vec()[0]), (0.099_975_586, 0.100_097_656));
    // other dtypes stay an error naming the tensor
    let ints = [1i32, 2].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    write_half(&dir.join("i32.safetensors"), Dtype::I32, &ints, 2);
    let err = load_safetensors(&dir.join("i32.safetensors")).unwrap_err().to_string();
    assert!(err.contains("i32.safetensors") && err.contains("tensor w: dtype I32"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
