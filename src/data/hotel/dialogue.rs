//! Dialogues in the course's four roles (`user`, `search`, `return`, `assistant`): generated
//! from the database, saved as JSON Lines, and serialised to tokens with labels only on the
//! model's turns.

use super::{query, Hotel, Record, SearchArgs};
use crate::error::{Error, Result};
use crate::int_tensor::IGNORE_INDEX;
use crate::io::write_atomic;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

// ANCHOR: turn
/// One turn of a dialogue, in the course's JSON shape (`{"role": "search", "arguments": …}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase", deny_unknown_fields)]
pub enum Turn {
    /// What the guest says.
    User {
        /// The words.
        content: String,
    },
    /// The model calls the database (it writes this).
    Search {
        /// The constraints.
        arguments: SearchArgs,
    },
    /// The program's answer to the search (it writes this; the model reads it).
    Return {
        /// The best matches (at most one here, as in the notes' example).
        records: Vec<Record>,
    },
    /// The model's reply (it writes this).
    Assistant {
        /// The words.
        content: String,
    },
}
// ANCHOR_END: turn

impl Turn {
    /// The role's name, as in the JSON and the serialised text.
    pub fn role(&self) -> &'static str {
        match self {
            Turn::User { .. } => "user",
            Turn::Search { .. } => "search",
            Turn::Return { .. } => "return",
            Turn::Assistant { .. } => "assistant",
        }
    }

    /// Does the model write this turn (so it carries labels)?
    pub fn by_model(&self) -> bool {
        matches!(self, Turn::Search { .. } | Turn::Assistant { .. })
    }

    /// The turn's text after its role marker: the words, or compact JSON.
    pub fn body(&self) -> String {
        match self {
            Turn::User { content } | Turn::Assistant { content } => content.clone(),
            Turn::Search { arguments } => serde_json::to_string(arguments).expect("plain data serialises"),
            Turn::Return { records } => serde_json::to_string(records).expect("plain data serialises"),
        }
    }
}

/// A whole conversation.
pub type Dialogue = Vec<Turn>;

/// The facilities a guest asks for in generated dialogues: those at least 100 hotels have,
/// without the wifi variants (five overlapping phrasings of one facility).
pub const REQUESTABLE: &[&str] = &[
    "24小时热水",
    "无烟房",
    "叫醒服务",
    "行李寄存",
    "宽带上网",
    "吹风机",
    "国际长途电话",
    "中式餐厅",
    "早餐服务",
    "会议室",
    "接待外宾",
    "洗衣服务",
    "商务中心",
    "残疾人设施",
    "西式餐厅",
    "接机服务",
    "暖气",
    "健身房",
    "租车",
    "免费市内电话",
    "酒吧",
    "棋牌室",
    "接站服务",
    "室内游泳池",
    "桑拿",
    "SPA",
    "收费停车位",
];

const PRICE_STEPS: &[u32] = &[200, 300, 400, 500, 600, 800, 1000, 1500, 2000, 3000];

fn pick<'a>(rng: &mut impl Rng, options: &[&'a str]) -> &'a str {
    options.choose(rng).expect("non-empty options")
}

/// The guest's request for `args`, phrased at random from the templates below.
fn request_text(args: &SearchArgs, rng: &mut impl Rng) -> String {
    let mut s = pick(rng, &["您好，", "你好，", "", "请问，"]).to_string();
    match &args.kind {
        Some(k) => s += &pick(rng, &["我要找一家{}酒店", "帮我找个{}的酒店", "我想订一家{}酒店"]).replace("{}", k),
        None => s += pick(rng, &["我要找一家酒店", "帮我找个酒店住", "我想订一家酒店"]),
    }
    if !args.facilities.is_empty() {
        let joined = args.facilities.join(pick(rng, &["和", "与", "、"]));
        s += &pick(rng, &["，希望酒店提供{}", "，要有{}", "，需要{}"]).replace("{}", &joined);
    }
    match (args.price_range_lower, args.price_range_upper) {
        (Some(l), Some(u)) => s += &format!("，价格在{l}到{u}元之间"),
        (None, Some(u)) => {
            s += &pick(rng, &["，价格在{}元以内", "，每晚不超过{}元", "，预算{}元以下"]).replace("{}", &u.to_string())
        }
        (Some(l), None) => s += &format!("，每晚{l}元以上"),
        (None, None) => {}
    }
    if let Some(r) = args.rating_range_lower {
        s += &pick(rng, &["，评分{}以上", "，评分不低于{}"]).replace("{}", &format!("{r}"));
    }
    s + "。"
}

/// Constraints that `target` satisfies (so the search finds at least it), at least one.
fn args_for(target: &Hotel, rng: &mut impl Rng) -> SearchArgs {
    loop {
        let mut a = SearchArgs::default();
        if rng.random_bool(0.6) {
            a.kind = Some(target.kind.clone());
        }
        let mut have: Vec<&str> =
            REQUESTABLE.iter().copied().filter(|f| target.facilities.iter().any(|g| g == f)).collect();
        have.shuffle(rng);
        let n = [0, 1, 1, 2][rng.random_range(0..4)].min(have.len());
        a.facilities = have[..n].iter().map(|f| f.to_string()).collect();
        if let Some(p) = target.price {
            if rng.random_bool(0.5) {
                a.price_range_upper = PRICE_STEPS.iter().copied().find(|&s| s as f64 >= p);
                if rng.random_bool(0.2) {
                    a.price_range_lower = PRICE_STEPS.iter().copied().rfind(|&s| (s as f64) < p);
                }
            }
        }
        if rng.random_bool(0.25) && target.rating >= 4.0 {
            a.rating_range_lower = Some((target.rating * 2.0).floor() / 2.0);
        }
        if !a.slots().is_empty() {
            return a;
        }
    }
}

/// One dialogue: a request, the search, the program's return, the recommendation, and maybe a
/// follow-up question and a booking.
pub fn make_dialogue(hotels: &[Hotel], rng: &mut impl Rng) -> Dialogue {
    let target = hotels.choose(rng).expect("load_hotels refuses an empty file");
    let mut args = args_for(target, rng);
    if rng.random_bool(0.1) {
        // an over-constrained request that may find nothing: the model must say so
        args.kind = Some(pick(rng, &["经济型", "舒适型", "高档型", "豪华型"]).to_string());
        args.price_range_upper = Some(PRICE_STEPS[rng.random_range(0..3)]);
        args.rating_range_lower = Some(4.5);
    }
    let found = query(hotels, &args);
    let mut d = vec![
        Turn::User { content: request_text(&args, rng) },
        Turn::Search { arguments: args },
        Turn::Return { records: found.first().map(|h| Record::of(h)).into_iter().collect() },
    ];
    let Some(best) = found.first().map(|h| Record::of(h)) else {
        d.push(Turn::Assistant {
            content: "抱歉，没有找到符合您要求的酒店，您可以放宽价格或设施的要求。".into()
        });
        return d;
    };
    let price = best.price.map_or("未知".to_string(), |p| format!("{p}元"));
    let reply = match rng.random_range(0..2) {
        0 => format!("那推荐您{}，符合您的全部要求，评分{}。", best.name, best.rating),
        _ => format!("为您找到{}，{}，每晚{}。", best.name, best.kind, price),
    };
    d.push(Turn::Assistant { content: reply });
    if rng.random_bool(0.6) {
        let (q, a) = match rng.random_range(0..4) {
            0 => ("这家酒店的价格是多少？", format!("这家酒店的价格是每晚{price}。")),
            1 => ("评分怎么样？", format!("这家酒店的评分是{}。", best.rating)),
            2 => ("电话是多少？", format!("这家酒店的电话是{}。", best.phone)),
            _ => ("附近有地铁站吗？", format!("最近的地铁站是{}。", best.subway)),
        };
        d.push(Turn::User { content: q.into() });
        d.push(Turn::Assistant { content: a });
    }
    if rng.random_bool(0.3) {
        d.push(Turn::User { content: format!("好的，那就预订{}吧！", best.name) });
        d.push(Turn::Assistant { content: "好的，祝您入住愉快！".into() });
    }
    d
}

/// `n` dialogues, none with the same opening request as another: a held-out split cut from
/// this list cannot contain a training request word for word (chapter 12's leakage).
pub fn make_dialogues(hotels: &[Hotel], n: usize, rng: &mut impl Rng) -> Vec<Dialogue> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(n);
    let mut tries = 0usize;
    while out.len() < n && tries < 100 * n.max(1) {
        tries += 1;
        let d = make_dialogue(hotels, rng);
        if seen.insert(d[0].body()) {
            out.push(d);
        }
    }
    out
}

/// Writes one dialogue per line, each a JSON array of turns.
pub fn save_dialogues(path: &Path, dialogues: &[Dialogue]) -> Result<()> {
    let mut text = String::new();
    for d in dialogues {
        text += &serde_json::to_string(d).expect("plain data serialises");
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// Reads [`save_dialogues`]'s format, naming the line at fault.
pub fn load_dialogues(path: &Path) -> Result<Vec<Dialogue>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let d: Dialogue = serde_json::from_str(line).map_err(|e| {
            Error::format(path, format!("line {}: not a dialogue (a JSON array of turns with a role): {e}", i + 1))
        })?;
        if !matches!(d.first(), Some(Turn::User { .. })) {
            return Err(Error::format(path, format!("line {}: a dialogue must open with a user turn", i + 1)));
        }
        out.push(d);
    }
    if out.is_empty() {
        return Err(Error::format(path, "no dialogues"));
    }
    Ok(out)
}

/// The text before each turn's body: its role and a colon.
pub fn marker(role: &str) -> String {
    format!("{role}:")
}

// ANCHOR: serialise
/// A dialogue as model input: for each turn, its role marker, its body and EOS. The labels
/// (Hugging Face's: position i predicts labels[i + 1]) are the tokens themselves on what the
/// model writes — the marker, body and EOS of `search` and `assistant` turns — and −100 on
/// everything the user or the program wrote. The sentiment recipe's masking, generalised: there
/// one label token after EOS, here every token of the model's turns.
pub fn serialise(
    dialogue: &[Turn],
    encode: &mut impl FnMut(&str) -> Result<Vec<u32>>,
    eos: u32,
) -> Result<(Vec<u32>, Vec<i64>)> {
    let (mut ids, mut labels) = (Vec::new(), Vec::new());
    for turn in dialogue {
        let mut part = encode(&marker(turn.role()))?;
        part.extend(encode(&turn.body())?);
        part.push(eos);
        let label = |t: u32| if turn.by_model() { t as i64 } else { IGNORE_INDEX };
        labels.extend(part.iter().map(|&t| label(t)));
        ids.extend(part);
    }
    Ok((ids, labels))
}
// ANCHOR_END: serialise

/// Parses what the model wrote for a turn (`search:{…}` or `assistant:…`, EOS removed).
pub fn parse_model_turn(text: &str) -> std::result::Result<Turn, String> {
    if let Some(json) = text.strip_prefix(&marker("search")) {
        let arguments: SearchArgs =
            serde_json::from_str(json).map_err(|e| format!("search arguments are not valid: {e}"))?;
        Ok(Turn::Search { arguments })
    } else if let Some(content) = text.strip_prefix(&marker("assistant")) {
        Ok(Turn::Assistant { content: content.to_string() })
    } else {
        Err(format!("neither a search nor a reply: {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::hotel::test_hotel;
    use crate::manual_seed;

    #[test]
    fn generated_dialogues_return_what_their_search_finds() {
        let hs = vec![
            test_hotel(0, "舒适型", Some(328.0), 4.2, &["暖气", "行李寄存", "桑拿"]),
            test_hotel(1, "经济型", Some(150.0), 4.6, &["暖气", "吹风机"]),
            test_hotel(2, "豪华型", Some(1800.0), 4.8, &["SPA", "室内游泳池", "暖气"]),
        ];
        let ds = make_dialogues(&hs, 40, &mut manual_seed(1));
        assert!(ds.len() >= 20, "{} distinct dialogues", ds.len());
        let openings: BTreeSet<String> = ds.iter().map(|d| d[0].body()).collect();
        assert_eq!(openings.len(), ds.len(), "a request repeats");
        for d in &ds {
            let (Turn::Search { arguments }, Turn::Return { records }) = (&d[1], &d[2]) else { panic!("{d:?}") };
            let want: Vec<Record> = query(&hs, arguments).first().map(|h| Record::of(h)).into_iter().collect();
            assert_eq!(records, &want);
            // the reply quotes the record it was given
            if let (Some(r), Turn::Assistant { content }) = (records.first(), &d[3]) {
                assert!(content.contains(&r.name), "{content} does not name {}", r.name);
            }
        }
    }

    #[test]
    fn labels_cover_exactly_the_model_turns() {
        let d = vec![
            Turn::User { content: "ab".into() },
            Turn::Search { arguments: SearchArgs { kind: Some("x".into()), ..Default::default() } },
            Turn::Return { records: vec![] },
            Turn::Assistant { content: "c".into() },
        ];
        // a character-per-token encoder
        let mut enc = |s: &str| Ok(s.chars().map(|c| c as u32).collect::<Vec<u32>>());
        let (ids, labels) = serialise(&d, &mut enc, 0).unwrap();
        let text: String = ids.iter().map(|&t| if t == 0 { '|' } else { char::from_u32(t).unwrap() }).collect();
        assert_eq!(text, r#"user:ab|search:{"type":"x"}|return:[]|assistant:c|"#);
        let labelled: String = ids
            .iter()
            .zip(&labels)
            .map(|(&t, &l)| {
                if l == IGNORE_INDEX {
                    '.'
                } else if t == 0 {
                    '|'
                } else {
                    char::from_u32(t).unwrap()
                }
            })
            .collect();
        assert_eq!(labelled, r#"........search:{"type":"x"}|..........assistant:c|"#);
        assert!(ids.iter().zip(&labels).all(|(&t, &l)| l == IGNORE_INDEX || l == t as i64));
    }

    #[test]
    fn model_turns_parse_or_say_why_not() {
        assert_eq!(
            parse_model_turn(r#"search:{"type":"经济型"}"#),
            Ok(Turn::Search { arguments: SearchArgs { kind: Some("经济型".into()), ..Default::default() } })
        );
        assert_eq!(parse_model_turn("assistant:好的"), Ok(Turn::Assistant { content: "好的".into() }));
        assert!(parse_model_turn(r#"search:{"type":"#).unwrap_err().contains("not valid"));
        assert!(parse_model_turn("hello").is_err());
    }
}
