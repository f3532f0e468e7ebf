//! Counties (县/市/区), the city level (市本级), and their implementation-plan status (方案出台情况).

use chrono::NaiveDate;

use crate::text_enum;

text_enum! {
    /// Kind of county-level row: `district` 区, `county` 县, `county_city` 县级市,
    /// `city_level` 市本级 (a city itself: no towns or sites of its own), `city_direct` 不设区的市
    /// (a city without counties, such as 东莞: its one row, with its towns and its own city-level
    /// facts), or `province_level` 省本级 (a province itself).
    CountyKind {
        District = "district": "区",
        County = "county": "县",
        CountyCity = "county_city": "县级市",
        CityLevel = "city_level": "市本级",
        CityDirect = "city_direct": "不设区的市",
        ProvinceLevel = "province_level": "省本级",
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
            CountyKind::CityDirect => 3,
            CountyKind::CityLevel => 4,
            CountyKind::ProvinceLevel => 5,
        }
    }

    /// The level rows of a city or a province: made with it, and holding its own facts.
    pub fn is_level(self) -> bool {
        matches!(self, CountyKind::CityLevel | CountyKind::ProvinceLevel)
    }

    /// Whether rows of this kind hold towns and sites: not the city and province levels.
    pub fn has_sites(self) -> bool {
        !self.is_level()
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
        if &raw[2..4] == "00" && &raw[4..] != "00" {
            return Err(
                "a code whose 3rd and 4th digits are 00 names a province and ends in 0000".into(),
            );
        }
        Ok(DivisionCode(raw.to_string()))
    }

    /// A province's code, e.g. `440000`.
    pub fn parse_province(raw: &str) -> Result<DivisionCode, String> {
        let code = DivisionCode::parse(raw)?;
        if !code.is_province() {
            return Err("a province's code ends in 0000".into());
        }
        Ok(code)
    }

    /// A city's code, e.g. `445300`.
    pub fn parse_city(raw: &str) -> Result<DivisionCode, String> {
        let code = DivisionCode::parse(raw)?;
        if code.is_province() || !code.is_city() {
            return Err("a city's code ends in 00 (and not in 0000)".into());
        }
        Ok(code)
    }

    /// Whether this is a province's own code (ends in `0000`).
    pub fn is_province(&self) -> bool {
        self.0.ends_with("0000")
    }

    /// Whether this is a city's own code (ends in `00`, not `0000`).
    pub fn is_city(&self) -> bool {
        self.0.ends_with("00") && !self.is_province()
    }

    /// The code of the province this code lies in (its first two digits + `0000`).
    pub fn province_code(&self) -> String {
        format!("{}0000", &self.0[..2])
    }

    /// The code of the city this code lies in (its first four digits + `00`).
    pub fn city_code(&self) -> String {
        format!("{}00", &self.0[..4])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this code fits a row of `kind`: a province level has its province's code, a city
    /// level or a city without counties its city's, a county a code of its own.
    pub fn fits(&self, kind: CountyKind) -> Result<(), String> {
        match kind {
            CountyKind::ProvinceLevel if !self.is_province() => {
                Err("the province level's code is its province's, ending in 0000".into())
            }
            CountyKind::CityLevel | CountyKind::CityDirect if !self.is_city() => {
                Err("a city's own row has the city's code, ending in 00".into())
            }
            CountyKind::District | CountyKind::County | CountyKind::CountyCity
                if self.0.ends_with("00") =>
            {
                Err("a code ending in 00 names a city or a province, not a county".into())
            }
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
        assert!(DivisionCode::parse("440100").is_ok());
        assert!(DivisionCode::parse("440000").is_ok());
        assert!(DivisionCode::parse("440001").is_err());
    }

    #[test]
    fn codes_nest_province_city_county() {
        let county = DivisionCode::parse("445302").expect("a code");
        assert_eq!(county.city_code(), "445300");
        assert_eq!(county.province_code(), "440000");
        assert!(DivisionCode::parse_city("445300").is_ok());
        assert!(DivisionCode::parse_city("440000").is_err());
        assert!(DivisionCode::parse_city("445302").is_err());
        assert!(DivisionCode::parse_province("440000").is_ok());
        assert!(DivisionCode::parse_province("445300").is_err());
        let province = DivisionCode::parse("440000").expect("a code");
        assert!(province.fits(CountyKind::ProvinceLevel).is_ok());
        assert!(province.fits(CountyKind::CityLevel).is_err());
        let city = DivisionCode::parse("441900").expect("a code");
        assert!(city.fits(CountyKind::CityDirect).is_ok());
        assert!(city.fits(CountyKind::ProvinceLevel).is_err());
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
