//! The project's rules in plain Rust: parsed types that cannot hold invalid values, and the checks
//! that a request must pass before anything is written. No HTTP and no SQL here.

pub mod audit;
pub mod auth;
pub mod county;
pub mod export;
pub mod funding;
pub mod report;
pub mod round;
pub mod site;
pub mod staff;
mod text_enum;
pub mod town;
pub mod training;
pub mod webhook;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rand::Rng;

/// A broken rule, naming the field at fault (a JSON pointer for batches, a field name otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// Collects every broken rule of a request, so a client learns all of them at once.
#[derive(Debug, Default)]
pub struct Violations(pub Vec<Violation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Violation {
            field: field.into(),
            message: message.into(),
        });
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `Ok(())` when nothing was broken.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
    /// Records a parse failure and keeps going, so later fields are checked too.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }
}

/// "Today" in the bureau's time zone: business dates are judged there, not in UTC.
pub fn today_in(tz: Tz) -> NaiveDate {
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

/// The earliest business date the service accepts: the project's records start long after it,
/// so an earlier date is a typing error (`0021-06-09`), not history.
pub const EARLIEST_BUSINESS_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// The years a fiscal year may be (a funding request's, a table's, a round's).
pub const FISCAL_YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// The one rule for every `fiscal_year`: within [`FISCAL_YEARS`].
pub fn fiscal_year(v: &mut Violations, year: i32) {
    if !FISCAL_YEARS.contains(&year) {
        v.add("fiscal_year", "must be between 2000 and 2100");
    }
}

/// The one rule for every business date (`effective_on`, `held_on`, `from`, …): from
/// [`EARLIEST_BUSINESS_DATE`] to today in the bureau's time zone.
pub fn business_date(v: &mut Violations, field: &str, date: Option<NaiveDate>, today: NaiveDate) {
    if let Some(d) = date {
        if d > today {
            v.add(field, format!("{d} is in the future (today is {today})"));
        } else if d < EARLIEST_BUSINESS_DATE {
            v.add(
                field,
                format!("{d} is before {EARLIEST_BUSINESS_DATE}, the earliest business date"),
            );
        }
    }
}

/// Characters that change how text around them is shown without being visible: bidirectional
/// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069). U+202E makes
/// `exe.txt` display as `txt.exe`.
fn is_bidi_control(c: char) -> bool {
    // Overrides and isolates, the direction marks (U+200E, U+200F, U+061C), zero-width and
    // invisible format characters, line and paragraph separators, the byte-order mark: none
    // belongs in a name or note, and each can make a printed cell read other than it is.
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{2029}'
            | '\u{2060}'..='\u{2064}'
            | '\u{061C}'
            | '\u{FEFF}'
    )
}

/// Refuses control characters (NUL, ESC, …, and the C1 range), bidirectional overrides and
/// invisible format characters;
/// with `newlines`, line feeds and carriage returns are allowed (multi-line notes).
pub fn check_visible_text(text: &str, newlines: bool) -> Result<(), String> {
    let bad =
        |c: char| (c.is_control() && !(newlines && matches!(c, '\n' | '\r'))) || is_bidi_control(c);
    if text.chars().any(bad) {
        return Err(if newlines {
            "must not contain control characters (other than line breaks) or bidirectional overrides".into()
        } else {
            "must not contain control characters or bidirectional overrides".into()
        });
    }
    Ok(())
}

/// A trimmed, non-empty name of bounded length, without control characters: a site's, a
/// person's, a title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str, max_chars: usize) -> Result<Name, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > max_chars {
            return Err(format!("must be at most {max_chars} characters"));
        }
        check_visible_text(name, false)?;
        Ok(Name(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

/// Optional free text (a note, a purpose): trimmed, empty means none, bounded, and held to the
/// name rule's check on control characters, line breaks allowed.
pub fn parse_free_text(raw: Option<&str>, max_chars: usize) -> Result<Option<String>, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > max_chars => {
            Err(format!("must be at most {max_chars} characters"))
        }
        Some(t) => {
            check_visible_text(t, true)?;
            Ok(Some(t.to_string()))
        }
    }
}

/// A county's own key for a record (`ref`), by which its systems send the record again:
/// 1 to 64 of `A-Z a-z 0-9 . _ - /`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref(String);

impl Ref {
    pub fn parse(raw: &str) -> Result<Ref, String> {
        let r = raw.trim();
        if r.is_empty() || r.len() > 64 {
            return Err("must be 1 to 64 characters".into());
        }
        if !r
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        {
            return Err("may contain only letters, digits, '.', '_', '-' and '/'".into());
        }
        Ok(Ref(r.to_string()))
    }

    /// A key made up for a record sent without one: `prefix` and random URL-safe characters.
    pub fn generated(prefix: &str) -> Ref {
        Ref(format!("{prefix}-{}", random_token(12)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Ref> for String {
    fn from(reference: Ref) -> String {
        reference.0
    }
}

/// A random URL-safe token of `len` characters (secrets, ids).
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_format_characters_are_refused_like_overrides() {
        for c in [
            '\u{200B}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{2028}', '\u{2060}', '\u{FEFF}',
            '\u{202E}',
        ] {
            assert!(
                check_visible_text(&format!("云城{c}区"), true).is_err(),
                "{:04X}",
                c as u32
            );
        }
        assert!(check_visible_text("云城区社工站\n第二行", true).is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("  云城区 ", 50).map(String::from),
            Ok("云城区".to_string())
        );
        assert!(Name::parse("   ", 50).is_err());
        assert!(Name::parse(&"镇".repeat(51), 50).is_err());
        assert!(Name::parse("a\u{0}b", 50).is_err());
        assert!(Name::parse("a\u{202E}b", 50).is_err());
        assert!(Name::parse("a\nb", 50).is_err());
    }

    #[test]
    fn free_text_allows_line_breaks_but_no_other_control_characters() {
        assert_eq!(
            parse_free_text(Some(" 第一行\r\n第二行 "), 500),
            Ok(Some("第一行\r\n第二行".to_string()))
        );
        assert_eq!(parse_free_text(Some("  "), 500), Ok(None));
        for bad in [
            "\u{1b}[31m红",
            "a\u{0}b",
            "abc\u{202E}txt",
            "\u{2066}x",
            "a\u{85}b",
            "a\tb",
        ] {
            assert!(parse_free_text(Some(bad), 500).is_err(), "{bad:?}");
        }
        assert!(parse_free_text(Some(&"字".repeat(501)), 500).is_err());
    }

    #[test]
    fn a_business_date_runs_from_2000_to_today() {
        let today = NaiveDate::from_ymd_opt(2021, 6, 9).expect("date");
        let mut v = Violations::new();
        business_date(&mut v, "effective_on", today.succ_opt(), today);
        business_date(&mut v, "other", Some(today), today);
        business_date(
            &mut v,
            "ancient",
            NaiveDate::from_ymd_opt(1999, 12, 31),
            today,
        );
        business_date(&mut v, "first", Some(EARLIEST_BUSINESS_DATE), today);
        let fields: Vec<&str> = v.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["effective_on", "ancient"]);
    }

    #[test]
    fn refs_are_plain_keys() {
        assert_eq!(
            Ref::parse(" LD-ST-01 ").map(String::from),
            Ok("LD-ST-01".to_string())
        );
        assert!(Ref::parse("").is_err());
        assert!(Ref::parse("有中文").is_err());
        assert!(Ref::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn random_tokens_have_the_asked_length_and_differ() {
        let a = random_token(40);
        assert_eq!(a.len(), 40);
        assert_ne!(a, random_token(40));
    }
}
