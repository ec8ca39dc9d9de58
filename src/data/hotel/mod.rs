//! The hotel-booking assistant's data (the course's vertical-domain example): the Beijing hotel
//! database, the `search` arguments a model writes and the query they run (here); dialogues in
//! the course's four roles generated from the database and their serialisation to tokens with
//! labels only on what the model must write ([`dialogue`]); the argument metrics ([`metrics`]).

mod dialogue;
mod metrics;

pub use dialogue::{
    load_dialogues, make_dialogue, make_dialogues, marker, parse_model_turn, save_dialogues, serialise, Dialogue, Turn,
    REQUESTABLE,
};
pub use metrics::SlotCounts;

use crate::error::{Error, Result};
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

/// A hotel for tests: name 酒店{id}, subway 地铁{id}, phone 010-{id}.
#[cfg(test)]
pub(crate) fn test_hotel(id: u64, kind: &str, price: Option<f64>, rating: f64, facilities: &[&str]) -> Hotel {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_filters_every_constraint_and_ranks_by_rating_then_price() {
        let hs = vec![
            test_hotel(0, "舒适型", Some(300.0), 4.5, &["暖气", "行李寄存"]),
            test_hotel(1, "舒适型", Some(250.0), 4.5, &["暖气"]),
            test_hotel(2, "舒适型", Some(500.0), 4.8, &["暖气", "行李寄存"]),
            test_hotel(3, "经济型", Some(100.0), 4.9, &["暖气", "行李寄存"]),
            test_hotel(4, "舒适型", None, 5.0, &["暖气", "行李寄存"]),
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
