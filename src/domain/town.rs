//! Towns, townships and streets (镇/乡/街道).

use crate::domain::county::DivisionCode;
use crate::text_enum;

text_enum! {
    /// Kind of town-level division: `town` 镇, `township` 乡, `street` 街道.
    TownKind {
        Town = "town": "镇",
        Township = "township": "乡",
        Street = "street": "街道",
    }
}

/// A nine-digit town code: the county's six-digit division code followed by three digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TownCode(String);

impl TownCode {
    pub fn parse(raw: &str) -> Result<TownCode, String> {
        let raw = raw.trim();
        if raw.len() != 9 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be nine digits".into());
        }
        if &raw[6..] == "000" {
            return Err("the last three digits must not be 000".into());
        }
        Ok(TownCode(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A town's code starts with its county's division code.
    pub fn belongs_to(&self, county: &DivisionCode) -> Result<(), String> {
        if self.0.starts_with(county.as_str()) {
            Ok(())
        } else {
            Err(format!(
                "must start with the county's division code {}",
                county.as_str()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn town_codes_are_nine_digits_under_their_county() {
        let county = DivisionCode::parse("445302").expect("valid");
        let code = TownCode::parse("445302101").expect("valid");
        assert!(code.belongs_to(&county).is_ok());
        let other = DivisionCode::parse("445303").expect("valid");
        assert!(code.belongs_to(&other).is_err());
        assert!(TownCode::parse("44530210").is_err());
        assert!(TownCode::parse("445302000").is_err());
        assert!(TownCode::parse("4453021x1").is_err());
    }
}
