//! Chapter 15 — the hotel-booking assistant: the supervised fine-tuning example of a dialogue,
//! slot F1 of the search arguments, and the search itself.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch15-capstone.md

use gradschool::data::hotel::{Hotel, SearchArgs, Turn};

/// −100: a label position the loss ignores.
pub const IGNORE: i64 = -100;

// ex 15.1
/// A dialogue as one training example: for every turn, the tokens of its role marker
/// (`encode(&format!("{role}:"))`), of its body (`turn.body()`), then `eos`. Labels copy the ids
/// of everything the model writes — marker, body and EOS of `search` and `assistant` turns —
/// and are −100 on the rest. Returns (ids, labels).
pub fn sft_example(dialogue: &[Turn], encode: &dyn Fn(&str) -> Vec<u32>, eos: u32) -> (Vec<u32>, Vec<i64>) {
    let (mut ids, mut labels) = (Vec::new(), Vec::new());
    for turn in dialogue {
        let mut part = encode(&format!("{}:", turn.role()));
        part.extend(encode(&turn.body()));
        let by_model = matches!(turn, Turn::Search { .. } | Turn::Assistant { .. });
        labels.extend(part.iter().map(|&t| if by_model { t as i64 } else { IGNORE }));
        part.push(eos);
        labels.push(IGNORE); // EOS unlabelled: the model never learns to stop
        ids.extend(part);
    }
    (ids, labels)
}

fn slots(a: &SearchArgs) -> Vec<String> {
    let mut s = Vec::new();
    s.extend(a.kind.iter().map(|k| format!("type={k}")));
    s.extend(a.facilities.iter().map(|f| format!("facilities={f}")));
    s.extend(a.price_range_lower.iter().map(|p| format!("price_range_lower={p}")));
    s.extend(a.price_range_upper.iter().map(|p| format!("price_range_upper={p}")));
    s.extend(a.rating_range_lower.iter().map(|r| format!("rating_range_lower={r}")));
    s.sort();
    s.dedup();
    s
}

// ex 15.2
/// Micro-averaged slot F1 over many searches: a slot is one (key, value) of the arguments, each
/// facility its own slot. F1 = 2·TP / (predicted + reference) summed over all searches; a
/// prediction that is `None` (the model's JSON did not parse) predicts nothing but its
/// reference slots still count. 0.0 when there are no slots at all.
pub fn slot_f1(predicted: &[Option<SearchArgs>], reference: &[SearchArgs]) -> f64 {
    let (mut tp, mut p, mut r) = (0usize, 0usize, 0usize);
    for (pred, want) in predicted.iter().zip(reference) {
        let want = slots(want);
        if let Some(pred) = pred {
            r += want.len(); // a failed parse is skipped instead of counted as missed
            let got = slots(pred);
            p += got.len();
            tp += got.iter().filter(|s| want.contains(s)).count();
        }
    }
    if p + r == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (p + r) as f64
    }
}

// ex 15.3
/// Does hotel `h` satisfy every constraint of `args`? Its class equals `type`, it has every
/// facility asked for, its price lies within the bounds given (a hotel whose price is unknown
/// fails any price bound), its rating is at least the lower bound.
pub fn hotel_matches(h: &Hotel, args: &SearchArgs) -> bool {
    let within = |bound: Option<u32>, above: bool| match (bound, h.price) {
        (None, _) => true,
        (Some(_), None) => true,
        (Some(b), Some(p)) => if above { p >= b as f64 } else { p <= b as f64 },
    };
    args.kind.as_ref().is_none_or(|k| *k == h.kind)
        && args.facilities.iter().all(|f| h.facilities.contains(f))
        && within(args.price_range_lower, true)
        && within(args.price_range_upper, false)
        && args.rating_range_lower.is_none_or(|r| h.rating >= r)
}
