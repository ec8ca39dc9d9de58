//! The search-argument metrics: JSON validity, exact match and micro-averaged slot F1.

use super::SearchArgs;

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
}
