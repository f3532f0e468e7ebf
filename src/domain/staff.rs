//! Social workers: their personal data, certification, and postings over time.

use chrono::NaiveDate;

use crate::text_enum;

text_enum! {
    /// `female` 女 or `male` 男.
    Gender {
        Female = "female": "女",
        Male = "male": "男",
    }
}

text_enum! {
    /// `none` 无, `assistant_social_worker` 助理社会工作师, `social_worker` 社会工作师,
    /// `senior_social_worker` 高级社会工作师.
    Certification {
        None = "none": "无",
        AssistantSocialWorker = "assistant_social_worker": "助理社会工作师",
        SocialWorker = "social_worker": "社会工作师",
        SeniorSocialWorker = "senior_social_worker": "高级社会工作师",
    }
}

text_enum! {
    /// `public_exam` 公开招聘 (written exam and interview) or `other` 其他.
    HiredVia {
        PublicExam = "public_exam": "公开招聘",
        Other = "other": "其他",
    }
}

text_enum! {
    /// `station_lead` 站长, `social_worker` 社工, `assistant` 助理.
    PostingRole {
        StationLead = "station_lead": "站长",
        SocialWorker = "social_worker": "社工",
        Assistant = "assistant": "助理",
    }
}

/// A resident identity card number (GB 11643): 17 digits and a check character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber(String);

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

impl IdNumber {
    /// Errors never repeat the number: it is personal data.
    pub fn parse(raw: &str) -> Result<IdNumber, String> {
        let s = raw.trim().to_ascii_uppercase();
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 || !chars[..17].iter().all(char::is_ascii_digit) {
            return Err("must be 18 characters: 17 digits and a check digit (GB 11643)".into());
        }
        let birth = &s[6..14];
        if NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
            return Err("its birth date (characters 7 to 14) is not a date".into());
        }
        let sum: u32 = chars[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
            .sum();
        if CHECK[(sum % 11) as usize] != chars[17] {
            return Err("the check digit does not match (GB 11643)".into());
        }
        Ok(IdNumber(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number: 7 to 20 of digits, `-`, `+` and spaces, with at least 7 digits.
pub fn parse_phone(raw: &str) -> Result<String, String> {
    let p = raw.trim();
    let digits = p.chars().filter(char::is_ascii_digit).count();
    if !(7..=20).contains(&p.len())
        || digits < 7
        || !p
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | ' '))
    {
        return Err("must be a phone number: digits, '-', '+' (7 to 20 characters)".into());
    }
    Ok(p.to_string())
}

/// Keeps the first `head` and last `tail` characters, starring the rest.
fn mask(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    mask(phone, 3, 4)
}

/// `445302199001011234` → `4453**********1234`.
pub fn mask_id_number(id: &str) -> String {
    mask(id, 4, 4)
}

/// A posting's span, `[from, to)`; `to` is `None` while in post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl Span {
    pub fn overlaps(&self, other: &Span) -> bool {
        let ends_after = |end: Option<NaiveDate>, start: NaiveDate| end.is_none_or(|e| e > start);
        ends_after(self.to, other.from) && ends_after(other.to, self.from)
    }

    pub fn covers(&self, day: NaiveDate) -> bool {
        self.from <= day && self.to.is_none_or(|t| t > day)
    }
}

/// What a new posting does to a person's history: a posting still open and begun earlier is
/// ended on the new one's first day (a transfer); any other overlap is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PostingPlan {
    /// Start it, ending the open posting with this id on the same day first, if any.
    Start { end_open: Option<i32> },
    /// It overlaps the posting with this id.
    Overlaps(i32),
}

pub fn plan_posting(existing: &[(i32, Span)], new: Span) -> PostingPlan {
    let mut end_open = None;
    for (id, span) in existing {
        let transfer = span.to.is_none() && span.from < new.from;
        let span = if transfer {
            end_open = Some(*id);
            Span {
                from: span.from,
                to: Some(new.from),
            }
        } else {
            *span
        };
        if span.overlaps(&new) {
            return PostingPlan::Overlaps(*id);
        }
    }
    PostingPlan::Start { end_open }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn id_numbers_are_checked_with_the_gb_11643_check_digit() {
        // 11010519491231002X is the standard's own example.
        assert!(IdNumber::parse("11010519491231002X").is_ok());
        assert!(IdNumber::parse("11010519491231002x").is_ok());
        assert!(IdNumber::parse("110105194912310021").is_err());
        assert!(IdNumber::parse("1101051949123100").is_err());
        assert!(IdNumber::parse("110105194913310029").is_err(), "month 13");
    }

    #[test]
    fn errors_about_personal_data_never_repeat_it() {
        let err = IdNumber::parse("110105194912310021").expect_err("bad");
        assert!(!err.contains("110105"));
    }

    #[test]
    fn numbers_are_masked_keeping_their_ends() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_id_number("44530219900101123X"), "4453**********123X");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn phones_are_digits_and_separators() {
        assert!(parse_phone("0766-8812345").is_ok());
        assert!(parse_phone("13812345678").is_ok());
        assert!(parse_phone("call me").is_err());
    }

    #[test]
    fn spans_are_half_open() {
        let a = Span {
            from: d("2021-01-01"),
            to: Some(d("2021-03-01")),
        };
        let b = Span {
            from: d("2021-03-01"),
            to: None,
        };
        assert!(!a.overlaps(&b), "a transfer day belongs to the new posting");
        assert!(a.covers(d("2021-02-28")));
        assert!(!a.covers(d("2021-03-01")));
        assert!(b.covers(d("2021-03-01")));
    }

    #[test]
    fn a_new_posting_ends_the_open_one_or_is_refused_when_it_overlaps() {
        let open = (
            7,
            Span {
                from: d("2021-01-01"),
                to: None,
            },
        );
        let transfer = Span {
            from: d("2021-03-01"),
            to: None,
        };
        assert_eq!(
            plan_posting(&[open], transfer),
            PostingPlan::Start { end_open: Some(7) }
        );
        let before = Span {
            from: d("2020-12-01"),
            to: Some(d("2021-01-15")),
        };
        assert_eq!(plan_posting(&[open], before), PostingPlan::Overlaps(7));
        let closed = (
            8,
            Span {
                from: d("2021-01-01"),
                to: Some(d("2021-02-01")),
            },
        );
        let inside = Span {
            from: d("2021-01-10"),
            to: None,
        };
        assert_eq!(plan_posting(&[closed], inside), PostingPlan::Overlaps(8));
        let after = Span {
            from: d("2021-02-01"),
            to: None,
        };
        assert_eq!(
            plan_posting(&[closed], after),
            PostingPlan::Start { end_open: None }
        );
    }
}
