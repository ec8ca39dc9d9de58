//! Chapter 15 — the hotel-booking assistant: the supervised fine-tuning example of a dialogue,
//! slot F1 of the search arguments, and the search itself.
//! Read: book/src/ch15-capstone.md

use gradschool::data::hotel::{Hotel, SearchArgs, Turn};

/// −100: a label position the loss ignores.
pub const IGNORE: i64 = -100;

/// A dialogue as one training example: for every turn, the tokens of its role marker
/// (`encode(&format!("{role}:"))`), of its body (`turn.body()`), then `eos`. Labels copy the ids
/// of everything the model writes — marker, body and EOS of `search` and `assistant` turns —
/// and are −100 on the rest. Returns (ids, labels).
pub fn sft_example(dialogue: &[Turn], encode: &dyn Fn(&str) -> Vec<u32>, eos: u32) -> (Vec<u32>, Vec<i64>) {
    todo!("ex 15.1: the SFT example")
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

/// Micro-averaged slot F1 over many searches: a slot is one (key, value) of the arguments, each
/// facility its own slot. F1 = 2·TP / (predicted + reference) summed over all searches; a
/// prediction that is `None` (the model's JSON did not parse) predicts nothing but its
/// reference slots still count. 0.0 when there are no slots at all.
pub fn slot_f1(predicted: &[Option<SearchArgs>], reference: &[SearchArgs]) -> f64 {
    todo!("ex 15.2: slot F1")
}

/// Does hotel `h` satisfy every constraint of `args`? Its class equals `type`, it has every
/// facility asked for, its price lies within the bounds given (a hotel whose price is unknown
/// fails any price bound), its rating is at least the lower bound.
pub fn hotel_matches(h: &Hotel, args: &SearchArgs) -> bool {
    todo!("ex 15.3: the search")
}
