//! Graders for chapter 15, against the library's capstone code (`gradschool::data::hotel`) on
//! random dialogues, arguments and hotels.

use exercises::ch15::*;
use exercises::grader::{assert_close64, grade};
use gradschool::data::hotel::{make_dialogue, serialise, Hotel, SearchArgs, SlotCounts, REQUESTABLE};
use gradschool::manual_seed;
use rand::seq::IndexedRandom;
use rand::Rng;

fn hotels(n: usize, rng: &mut impl Rng) -> Vec<Hotel> {
    (0..n)
        .map(|id| Hotel {
            name: format!("酒店{id}"),
            kind: ["经济型", "舒适型", "高档型"].choose(rng).unwrap().to_string(),
            address: String::new(),
            subway: format!("站{id}"),
            phone: format!("010-{id}"),
            facilities: REQUESTABLE.iter().filter(|_| rng.random_bool(0.4)).map(|f| f.to_string()).collect(),
            // prices on a 50元 grid, as the bounds below: a price equal to a bound is common, and
            // "不超过300元" (at most 300) must keep a 300元 hotel
            price: rng.random_bool(0.9).then(|| rng.random_range(2..30) as f64 * 50.0),
            rating: rng.random_range(30..=50) as f64 / 10.0,
            hotel_id: id as u64,
        })
        .collect()
}

fn args(rng: &mut impl Rng) -> SearchArgs {
    SearchArgs {
        kind: rng.random_bool(0.5).then(|| ["经济型", "舒适型", "高档型"].choose(rng).unwrap().to_string()),
        facilities: REQUESTABLE.iter().filter(|_| rng.random_bool(0.08)).map(|f| f.to_string()).collect(),
        price_range_lower: rng.random_bool(0.3).then(|| rng.random_range(2..16) * 50),
        price_range_upper: rng.random_bool(0.5).then(|| rng.random_range(6..30) * 50),
        rating_range_lower: rng.random_bool(0.3).then(|| rng.random_range(35..=48) as f64 / 10.0),
    }
}

#[test]
fn ex_15_1_sft_example() {
    grade("15.1", || {
        let mut rng = manual_seed(150);
        let hs = hotels(30, &mut rng);
        // a character-per-token stand-in for the tokenizer, so any mismatch is easy to read
        let encode = |s: &str| s.chars().map(|c| c as u32 % 50_000).collect::<Vec<u32>>();
        for _ in 0..20 {
            let d = make_dialogue(&hs, &mut rng);
            let want = serialise(&d, &mut |s| Ok(encode(s)), 50256).unwrap();
            assert_eq!(sft_example(&d, &encode, 50256), want, "dialogue {d:?}");
        }
    });
}

#[test]
fn ex_15_2_slot_f1() {
    grade("15.2", || {
        let mut rng = manual_seed(151);
        for _ in 0..20 {
            let reference: Vec<SearchArgs> = (0..10).map(|_| args(&mut rng)).collect();
            // predictions: some right, some perturbed, some that did not parse
            let predicted: Vec<Option<SearchArgs>> = reference
                .iter()
                .map(|r| match rng.random_range(0..3) {
                    0 => Some(r.clone()),
                    1 => Some(args(&mut rng)),
                    _ => None,
                })
                .collect();
            let mut counts = SlotCounts::default();
            for (p, r) in predicted.iter().zip(&reference) {
                counts.add(p.as_ref(), r);
            }
            assert_close64("slot F1", slot_f1(&predicted, &reference), counts.f1(), 1e-12);
        }
    });
}

#[test]
fn ex_15_3_hotel_matches() {
    grade("15.3", || {
        let mut rng = manual_seed(152);
        let hs = hotels(60, &mut rng);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..200 {
            let a = args(&mut rng);
            for h in &hs {
                let want = a.matches(h);
                assert_eq!(hotel_matches(h, &a), want, "hotel {h:?}\nargs {a:?}");
                if want {
                    yes += 1
                } else {
                    no += 1
                }
            }
        }
        assert!(yes > 100 && no > 100, "the grader's cases cover both answers ({yes} / {no})");
        // every bound exactly at a hotel's value: the bounds are inclusive
        for h in hs.iter().filter(|h| h.price.is_some()) {
            let p = h.price.unwrap() as u32;
            let at = |lower: Option<u32>, upper: Option<u32>, rating: Option<f64>| SearchArgs {
                kind: None,
                facilities: Vec::new(),
                price_range_lower: lower,
                price_range_upper: upper,
                rating_range_lower: rating,
            };
            for a in [at(Some(p), None, None), at(None, Some(p), None), at(None, None, Some(h.rating))] {
                assert!(a.matches(h), "the reference keeps a hotel at its bound: {a:?}");
                assert!(hotel_matches(h, &a), "a bound equal to the hotel's value keeps it\nhotel {h:?}\nargs {a:?}");
            }
        }
    });
}
