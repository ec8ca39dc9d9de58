//! The hotel-booking assistant's data (the course's vertical-domain example): the Beijing hotel
//! database, the `search` arguments a model writes and the query they run, dialogues in the
//! course's four roles (`user`, `search`, `return`, `assistant`) generated from the database,
//! their serialisation to tokens with labels only on what the model must write, and the
//! argument metrics (JSON validity, exact match, slot F1).

use crate::error::{Error, Result};
use crate::int_tensor::IGNORE_INDEX;
use crate::io::write_atomic;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// One hotel of `hotel.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hotel {
    /// Name (北京贵都大酒店).
    pub name: String,
    /// 经济型, 舒适型, 高档型 or 豪华型.
    pub kind: String,
    /// Street address.
    pub address: String,
    /// Nearest subway exit.
    pub subway: String,
    /// Telephone.
    pub phone: String,
    /// Facilities, one per item (the file's `酒店提供的设施:a;b;c` split).
    pub facilities: Vec<String>,
    /// Yuan per night; `None` where the file says −1 (unknown).
    pub price: Option<f64>,
    /// Guests' rating, 0–5.
    pub rating: f64,
    /// The file's id.
    pub hotel_id: u64,
}

#[derive(Deserialize)]
struct RawHotel {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    address: String,
    subway: String,
    phone: String,
    facilities: String,
    price: f64,
    rating: f64,
    hotel_id: u64,
}

/// Reads `hotel.json` (a JSON array of hotels), naming the file and the hotel at fault.
pub fn load_hotels(path: &Path) -> Result<Vec<Hotel>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let raw: Vec<RawHotel> = serde_json::from_str(&text)
        .map_err(|e| Error::format(path, format!("not a JSON array of hotels: {e} (line {})", e.line())))?;
    if raw.is_empty() {
        return Err(Error::format(path, "no hotels"));
    }
    raw.into_iter()
        .map(|h| {
            if !(0.0..=5.0).contains(&h.rating) {
                return Err(Error::format(path, format!("hotel {}: rating {} outside 0–5", h.hotel_id, h.rating)));
            }
            let list = h.facilities.split_once(':').map_or(h.facilities.as_str(), |(_, l)| l);
            let facilities = list.split(';').map(str::trim).filter(|f| !f.is_empty()).map(String::from).collect();
            Ok(Hotel {
                name: h.name.trim().to_string(),
                kind: h.kind,
                address: h.address,
                subway: h.subway,
                phone: h.phone,
                facilities,
                price: (h.price >= 0.0).then_some(h.price),
                rating: h.rating,
                hotel_id: h.hotel_id,
            })
        })
        .collect()
}

// ANCHOR: search_args
/// What the model writes in a `search` turn: the constraints the user stated, nothing else
/// (keys as in the course's data).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Hotel class.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Facilities the hotel must all have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facilities: Vec<String>,
    /// Lowest price per night, yuan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_range_lower: Option<u32>,
    /// Highest price per night, yuan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_range_upper: Option<u32>,
    /// Lowest rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_range_lower: Option<f64>,
}
// ANCHOR_END: search_args

impl SearchArgs {
    /// The arguments as slots — one (key, value) per constraint, one per facility — the unit of
    /// [`SlotCounts`].
    pub fn slots(&self) -> BTreeSet<(String, String)> {
        let mut s = BTreeSet::new();
        if let Some(k) = &self.kind {
            s.insert(("type".into(), k.clone()));
        }
        for f in &self.facilities {
            s.insert(("facilities".into(), f.clone()));
        }
        if let Some(p) = self.price_range_lower {
            s.insert(("price_range_lower".into(), p.to_string()));
        }
        if let Some(p) = self.price_range_upper {
            s.insert(("price_range_upper".into(), p.to_string()));
        }
        if let Some(r) = self.rating_range_lower {
            s.insert(("rating_range_lower".into(), format!("{r}")));
        }
        s
    }

    /// Does `h` satisfy every constraint? (A hotel of unknown price fails any price bound.)
    pub fn matches(&self, h: &Hotel) -> bool {
        let price_ok = |bound: Option<u32>, ok: fn(f64, f64) -> bool| {
            bound.is_none_or(|b| h.price.is_some_and(|p| ok(p, b as f64)))
        };
        self.kind.as_ref().is_none_or(|k| &h.kind == k)
            && self.facilities.iter().all(|f| h.facilities.contains(f))
            && price_ok(self.price_range_lower, |p, b| p >= b)
            && price_ok(self.price_range_upper, |p, b| p <= b)
            && self.rating_range_lower.is_none_or(|r| h.rating >= r)
    }
}

/// The database query behind `search`: every hotel matching `args`, best rated first, then
/// cheapest, then by id — the program's half of the tool call, deterministic so that dialogues
/// and `hotel-bot` agree.
pub fn query<'a>(hotels: &'a [Hotel], args: &SearchArgs) -> Vec<&'a Hotel> {
    let mut found: Vec<&Hotel> = hotels.iter().filter(|h| args.matches(h)).collect();
    found.sort_by(|a, b| {
        b.rating
            .total_cmp(&a.rating)
            .then(a.price.unwrap_or(f64::MAX).total_cmp(&b.price.unwrap_or(f64::MAX)))
            .then(a.hotel_id.cmp(&b.hotel_id))
    });
    found
}

/// A hotel as a `return` turn shows it: the fields a reply may quote (the full record of the
/// course's data adds the address and the facility list, which the replies here never use and
/// would cost ~150 tokens each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Name.
    pub name: String,
    /// Class.
    #[serde(rename = "type")]
    pub kind: String,
    /// Yuan per night (absent when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<u32>,
    /// Rating.
    pub rating: f64,
    /// Telephone.
    pub phone: String,
    /// Nearest subway exit.
    pub subway: String,
}

impl Record {
    /// The record of `h`.
    pub fn of(h: &Hotel) -> Record {
        Record {
            name: h.name.clone(),
            kind: h.kind.clone(),
            price: h.price.map(|p| p.round() as u32),
            rating: h.rating,
            phone: h.phone.clone(),
            subway: h.subway.clone(),
        }
    }

    /// The values a reply can quote from this record, as they are written.
    pub fn facts(&self) -> Vec<String> {
        let mut f = vec![self.name.clone(), self.kind.clone(), format!("{}", self.rating), self.phone.clone()];
        f.extend(self.price.map(|p| p.to_string()));
        f.push(self.subway.clone());
        f
    }
}

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

/// Counts for the search-argument metrics over many predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SlotCounts {
    /// Search turns evaluated.
    pub searches: usize,
    /// Predictions that parsed as search arguments.
    pub valid: usize,
    /// Predictions equal to the reference arguments.
    pub exact: usize,
    /// Predicted slots also in the reference.
    pub true_positive: usize,
    /// Slots predicted.
    pub predicted: usize,
    /// Slots in the references.
    pub reference: usize,
}

impl SlotCounts {
    /// Adds one prediction (`None`: not valid JSON, or not a search) against `reference`.
    pub fn add(&mut self, predicted: Option<&SearchArgs>, reference: &SearchArgs) {
        self.searches += 1;
        let want = reference.slots();
        self.reference += want.len();
        if let Some(p) = predicted {
            self.valid += 1;
            let got = p.slots();
            self.exact += usize::from(got == want);
            self.predicted += got.len();
            self.true_positive += got.intersection(&want).count();
        }
    }

    /// Micro-averaged slot F1: 2·TP / (predicted + reference) (0 when both are empty).
    pub fn f1(&self) -> f64 {
        let d = self.predicted + self.reference;
        if d == 0 {
            0.0
        } else {
            2.0 * self.true_positive as f64 / d as f64
        }
    }

    /// Fraction of predictions that parsed.
    pub fn validity(&self) -> f64 {
        self.valid as f64 / self.searches.max(1) as f64
    }

    /// Fraction equal to the reference.
    pub fn exact_match(&self) -> f64 {
        self.exact as f64 / self.searches.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manual_seed;

    fn hotel(id: u64, kind: &str, price: Option<f64>, rating: f64, facilities: &[&str]) -> Hotel {
        Hotel {
            name: format!("酒店{id}"),
            kind: kind.into(),
            address: String::new(),
            subway: format!("地铁{id}"),
            phone: format!("010-{id}"),
            facilities: facilities.iter().map(|f| f.to_string()).collect(),
            price,
            rating,
            hotel_id: id,
        }
    }

    #[test]
    fn query_filters_every_constraint_and_ranks_by_rating_then_price() {
        let hs = vec![
            hotel(0, "舒适型", Some(300.0), 4.5, &["暖气", "行李寄存"]),
            hotel(1, "舒适型", Some(250.0), 4.5, &["暖气"]),
            hotel(2, "舒适型", Some(500.0), 4.8, &["暖气", "行李寄存"]),
            hotel(3, "经济型", Some(100.0), 4.9, &["暖气", "行李寄存"]),
            hotel(4, "舒适型", None, 5.0, &["暖气", "行李寄存"]),
        ];
        let ids = |a: &SearchArgs| query(&hs, a).iter().map(|h| h.hotel_id).collect::<Vec<_>>();
        let mut a =
            SearchArgs { kind: Some("舒适型".into()), facilities: vec!["暖气".into()], ..Default::default() };
        assert_eq!(ids(&a), vec![4, 2, 1, 0]); // 5.0, 4.8, then the two 4.5s cheapest first
        a.price_range_upper = Some(400);
        assert_eq!(ids(&a), vec![1, 0]); // unknown price fails a bound
        a.facilities.push("行李寄存".into());
        assert_eq!(ids(&a), vec![0]);
        a.price_range_lower = Some(301);
        assert!(ids(&a).is_empty());
        let r = SearchArgs { rating_range_lower: Some(4.8), ..Default::default() };
        assert_eq!(ids(&r), vec![4, 3, 2]);
    }

    #[test]
    fn arguments_round_trip_in_the_course_shape() {
        let a = SearchArgs {
            kind: Some("舒适型".into()),
            facilities: vec!["暖气".into(), "行李寄存".into()],
            ..Default::default()
        };
        // the notes' example, keys in this order, nothing unset written
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"type":"舒适型","facilities":["暖气","行李寄存"]}"#);
        let back: SearchArgs = serde_json::from_str(r#"{"facilities":["暖气","行李寄存"],"type":"舒适型"}"#).unwrap();
        assert_eq!(back, a);
        assert!(serde_json::from_str::<SearchArgs>(r#"{"colour":"red"}"#).is_err());
        // unknown key
    }

    #[test]
    fn slot_f1_is_two_tp_over_predicted_plus_reference() {
        let want = SearchArgs {
            kind: Some("舒适型".into()),
            facilities: vec!["暖气".into()],
            price_range_upper: Some(400),
            ..Default::default()
        };
        let got =
            SearchArgs { kind: Some("舒适型".into()), facilities: vec!["桑拿".into()], ..Default::default() };
        let mut c = SlotCounts::default();
        c.add(Some(&got), &want); // TP 1 (type), predicted 2, reference 3
        c.add(None, &want); // invalid: reference 3 more, nothing predicted
        c.add(Some(&want), &want); // exact: TP 3
        assert_eq!((c.true_positive, c.predicted, c.reference), (4, 5, 9));
        assert!((c.f1() - 8.0 / 14.0).abs() < 1e-12);
        assert!((c.validity() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.exact_match() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn generated_dialogues_return_what_their_search_finds() {
        let hs = vec![
            hotel(0, "舒适型", Some(328.0), 4.2, &["暖气", "行李寄存", "桑拿"]),
            hotel(1, "经济型", Some(150.0), 4.6, &["暖气", "吹风机"]),
            hotel(2, "豪华型", Some(1800.0), 4.8, &["SPA", "室内游泳池", "暖气"]),
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

    #[test]
    fn facilities_split_from_the_file_format() {
        let dir = std::env::temp_dir().join(format!("gradschool-hotels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.json");
        std::fs::write(&path, r#"[{"name":" 北京X酒店 ","_name":"","type":"舒适型","address":"a","_address":"","subway":"s","phone":"p","facilities":"酒店提供的设施:暖气; 桑拿;\n   ","price":-1.0,"rating":4.2,"hotel_id":7}]"#).unwrap();
        let h = load_hotels(&path).unwrap();
        assert_eq!(h[0].facilities, vec!["暖气", "桑拿"]);
        assert_eq!((h[0].price, h[0].name.as_str()), (None, "北京X酒店"));
        std::fs::write(&path, "[{\"name\": 3}]").unwrap();
        let e = load_hotels(&path).unwrap_err().to_string();
        assert!(e.contains("h.json") && e.contains("not a JSON array of hotels"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
