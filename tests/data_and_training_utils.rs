//! DataLoader batching and shuffling, gradient accumulation, and the download error path.

use gradschool::data::download::{extract_rt_polarity, fetch, md5_hex, Checksum, Resource};
use gradschool::data::{DataLoader, ImageDataset};
use gradschool::nn::functional::nll_loss;
use gradschool::nn::{Forward, Linear, Module};
use gradschool::optim::GradAccumulation;
use gradschool::{manual_seed, IntTensor, Tensor};

fn toy(n: usize) -> ImageDataset {
    // image i is filled with the value i, so batches show which examples they hold
    ImageDataset {
        images: (0..n).flat_map(|i| vec![i as f32; 4]).collect(),
        labels: (0..n as i64).map(|i| i % 10).collect(),
        rows: 2,
        cols: 2,
    }
}

fn ids(x: &Tensor) -> Vec<usize> {
    x.to_vec().chunks(4).map(|c| c[0] as usize).collect()
}

#[test]
fn loader_batches_cover_the_set_once_in_a_seeded_order() {
    let data = toy(10);
    let loader = DataLoader::new(&data, 4, true, false);
    assert_eq!(loader.len(), 3); // ⌈10/4⌉
    let batches: Vec<(Tensor, IntTensor)> = loader.epoch(7).collect();
    assert_eq!(batches.iter().map(|(x, _)| x.dims()[0]).collect::<Vec<_>>(), vec![4, 4, 2]);
    assert_eq!(batches[0].0.dims(), &[4, 1, 2, 2]);
    let mut seen: Vec<usize> = batches.iter().flat_map(|(x, _)| ids(x)).collect();
    let order = seen.clone();
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>(), "every example exactly once");
    assert_ne!(order, (0..10).collect::<Vec<_>>(), "shuffled");
    // labels travel with their images
    for (x, y) in &batches {
        assert!(ids(x).iter().zip(y.as_slice()).all(|(&i, &l)| l == (i % 10) as i64));
    }
    let again: Vec<usize> = loader.epoch(7).flat_map(|(x, _)| ids(&x)).collect();
    assert_eq!(order, again, "same seed, same order");
    let other: Vec<usize> = loader.epoch(8).flat_map(|(x, _)| ids(&x)).collect();
    assert_ne!(order, other);
    // drop_last skips the partial batch; no shuffle keeps the file order
    let plain: Vec<usize> = DataLoader::new(&data, 4, false, true).epoch(0).flat_map(|(x, _)| ids(&x)).collect();
    assert_eq!(plain, (0..8).collect::<Vec<_>>());
}

#[test]
fn accumulating_four_micro_batches_gives_the_full_batch_gradient() {
    let mut rng = manual_seed(5);
    let layer = Linear::new(6, 3, &mut rng);
    let x = Tensor::randn([8, 6], &mut rng);
    let y = IntTensor::new(&[0, 2, 1, 1, 0, 2, 2, 1]);
    // reference: mean loss over the whole batch of 8
    nll_loss(&layer.forward(&x).log_softmax(-1), &y).backward();
    let full: Vec<Vec<f32>> = layer.parameters().iter().map(|p| p.grad().unwrap().to_vec()).collect();
    layer.parameters().iter().for_each(|p| p.zero_grad());
    // 4 micro-batches of 2, each loss scaled by 1/4: Σ ¼·mean₂ = mean₈
    let mut acc = GradAccumulation::new(4);
    let mut stepped = Vec::new();
    for m in 0..4 {
        let xm = x.narrow(0, 2 * m, 2);
        let ym = IntTensor::new(&y.as_slice()[2 * m..2 * m + 2]);
        (nll_loss(&layer.forward(&xm).log_softmax(-1), &ym) * acc.scale()).backward();
        stepped.push(acc.micro_batch_done());
    }
    assert_eq!(stepped, vec![false, false, false, true]);
    for (p, want) in layer.parameters().iter().zip(&full) {
        for (g, w) in p.grad().unwrap().to_vec().iter().zip(want) {
            assert!((g - w).abs() <= 1e-6 * (1.0 + w.abs()), "{g} vs {w}");
        }
    }
}

#[test]
fn an_unreachable_download_is_a_clear_error_and_leaves_no_file() {
    let dir = std::env::temp_dir().join(format!("gradschool-dl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // port 9 (discard) on localhost: refused at once, like a machine without internet
    let empty_md5 = "d41d8cd98f00b204e9800998ecf8427e"; // MD5 of the empty file, RFC 1321
    let res = Resource { name: "x.gz", url: "http://127.0.0.1:9/x.gz", checksum: Checksum::Md5(empty_md5) };
    let err = fetch(&res, &dir, false, "Place the files by hand in DIR").unwrap_err().to_string();
    assert!(
        err.contains("cannot download http://127.0.0.1:9/x.gz") && err.contains("Place the files by hand in DIR"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no partial file left behind");
    // a verified file is not fetched again
    std::fs::write(dir.join("x.gz"), b"").unwrap();
    assert_eq!(md5_hex(&b""[..]).unwrap(), empty_md5);
    fetch(&res, &dir, false, "").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sha256_matches_fips_180_2() {
    // FIPS 180-2, appendix B.1: SHA-256("abc")
    let h = Checksum::Sha256("").digest(&b"abc"[..]).unwrap().unwrap();
    assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

#[test]
fn a_tampered_rt_polarity_archive_is_refused_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("gradschool-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("rt.tar.gz");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&archive).unwrap(),
        flate2::Compression::fast(),
    ));
    for name in ["rt-polaritydata/rt-polarity.pos", "rt-polaritydata/rt-polarity.neg"] {
        let body = b"not the reviews\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_cksum();
        tar.append_data(&mut header, name, &body[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let err = extract_rt_polarity(&archive, &dir).unwrap_err().to_string();
    assert!(err.contains("rt-polarity.pos") && err.contains("SHA-256"), "{err}");
    assert!(!dir.join("rt-polarity.pos").exists(), "nothing unverified is written");
    std::fs::remove_dir_all(&dir).unwrap();
}
