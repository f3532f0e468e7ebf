//! Counties (县/市/区), the city level (市本级), and their implementation-plan status (方案出台情况).

use chrono::NaiveDate;

use crate::text_enum;

text_enum! {
    /// Kind of county-level division: `district` 区, `county` 县, `county_city` 县级市, or
    /// `city_level` 市本级 (the city itself: no towns or sites of its own).
    CountyKind {
        District = "district": "区",
        County = "county": "县",
        CountyCity = "county_city": "县级市",
        CityLevel = "city_level": "市本级",
    }
}

text_enum! {
    /// Stage of the county's implementation plan: `not_started` 未启动, `drafting` 起草中,
    /// `approved` 已同意 (government agreed, in sign-off), `issued` 已出台.
    PlanStage {
        NotStarted = "not_started": "未启动",
        Drafting = "drafting": "起草中",
        Approved = "approved": "已同意",
        Issued = "issued": "已出台",
    }
}

impl CountyKind {
    /// The seed's table lists districts, then county-level cities, then counties, the city level last.
    pub fn table_order(self) -> u8 {
        match self {
            CountyKind::District => 0,
            CountyKind::CountyCity => 1,
            CountyKind::County => 2,
            CountyKind::CityLevel => 3,
        }
    }
}

/// GB/T 2260 provincial prefixes (mainland provinces, Taiwan, Hong Kong, Macao).
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// A GB/T 2260 six-digit division code, e.g. `445302` (云城区) or `445300` (云浮市 itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DivisionCode(String);

impl DivisionCode {
    pub fn parse(raw: &str) -> Result<DivisionCode, String> {
        let raw = raw.trim();
        if raw.len() != 6 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be six digits (GB/T 2260)".into());
        }
        let province: u8 = raw[..2].parse().map_err(|_| "must be six digits")?;
        if !PROVINCES.contains(&province) {
            return Err(format!("{province:02} is not a GB/T 2260 province code"));
        }
        if &raw[2..4] == "00" {
            return Err("names a province, not a county or city level".into());
        }
        Ok(DivisionCode(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A city's own code ends in `00`; its counties' codes do not.
    pub fn is_city_level(&self) -> bool {
        self.0.ends_with("00")
    }

    /// Whether this code fits a division of `kind`.
    pub fn fits(&self, kind: CountyKind) -> Result<(), String> {
        match (kind == CountyKind::CityLevel, self.is_city_level()) {
            (true, false) => Err("the city level's code ends in 00".into()),
            (false, true) => Err("a code ending in 00 names the city level, not a county".into()),
            _ => Ok(()),
        }
    }
}

/// One dated change of the plan status; the latest on or before a date is the status on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    pub stage: PlanStage,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
}

/// What the table prints for the plan: the note when there is one, else the stage's label.
pub fn plan_cell(stage: PlanStage, note: Option<&str>) -> String {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => stage.label().to_string(),
    }
}

/// A free-text note: trimmed, empty means none, at most 500 characters, no control characters
/// but line breaks ([`crate::domain::parse_free_text`]).
pub fn parse_note(raw: Option<&str>) -> Result<Option<String>, String> {
    crate::domain::parse_free_text(raw, 500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_codes_are_six_digits_under_a_province() {
        assert!(DivisionCode::parse("445302").is_ok());
        assert!(DivisionCode::parse("44530").is_err());
        assert!(DivisionCode::parse("44530a").is_err());
        assert!(DivisionCode::parse("995302").is_err());
        assert!(DivisionCode::parse("440000").is_err());
    }

    #[test]
    fn only_the_city_level_has_a_code_ending_in_00() {
        let city = DivisionCode::parse("445300").expect("valid");
        let county = DivisionCode::parse("445381").expect("valid");
        assert!(city.fits(CountyKind::CityLevel).is_ok());
        assert!(city.fits(CountyKind::County).is_err());
        assert!(county.fits(CountyKind::CountyCity).is_ok());
        assert!(county.fits(CountyKind::CityLevel).is_err());
    }

    #[test]
    fn the_plan_cell_prints_the_note_or_else_the_label() {
        assert_eq!(
            plan_cell(PlanStage::Approved, Some("区政府已同意，正在会签")),
            "区政府已同意，正在会签"
        );
        assert_eq!(plan_cell(PlanStage::Issued, None), "已出台");
        assert_eq!(plan_cell(PlanStage::Issued, Some("  ")), "已出台");
    }

    #[test]
    fn stages_parse_from_their_words_only() {
        assert_eq!(PlanStage::parse("issued"), Ok(PlanStage::Issued));
        assert!(PlanStage::parse("Issued").is_err());
        assert_eq!(PlanStage::ALL.len(), 4);
    }

    #[test]
    fn the_seed_order_puts_districts_first_and_the_city_level_last() {
        let mut kinds = vec![
            CountyKind::CityLevel,
            CountyKind::County,
            CountyKind::District,
            CountyKind::CountyCity,
        ];
        kinds.sort_by_key(|k| k.table_order());
        assert_eq!(
            kinds,
            vec![
                CountyKind::District,
                CountyKind::CountyCity,
                CountyKind::County,
                CountyKind::CityLevel
            ]
        );
    }
}
