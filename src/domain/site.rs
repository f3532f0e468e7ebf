//! Sites: stations (社工站) and points (社工点), their lifecycle dates, and the equipment rule.

use chrono::NaiveDate;

use crate::domain::Violations;
use crate::text_enum;

text_enum! {
    /// `station` 社工站 (town level) or `point` 社工点 (village level, under its town's station).
    SiteKind {
        Station = "station": "社工站",
        Point = "point": "社工点",
    }
}

text_enum! {
    /// Derived from the dates: `planned` 计划建设, `completed` 已建成, `suspended` 暂停服务, `closed` 已撤销.
    SiteStatus {
        Planned = "planned": "计划建设",
        Completed = "completed": "已建成",
        Suspended = "suspended": "暂停服务",
        Closed = "closed": "已撤销",
    }
}

text_enum! {
    /// The eight items a site's premises need (the seed's note 1): desks and chairs 办公桌椅,
    /// air conditioning 空调, computer 电脑, printer 打印机, telephone 电话, file cabinet 文件柜,
    /// office stationery 办公用品, fire-safety equipment 消防设备.
    EquipmentItem {
        DesksChairs = "desks_chairs": "办公桌椅",
        AirConditioner = "air_conditioner": "空调",
        Computer = "computer": "电脑",
        Printer = "printer": "打印机",
        Telephone = "telephone": "电话",
        FileCabinet = "file_cabinet": "文件柜",
        Stationery = "stationery": "办公用品",
        FireSafety = "fire_safety": "消防设备",
    }
}

text_enum! {
    /// Derived, never typed in: `full` 全部配备 (all eight items), `basic` 基本配备 (one or two
    /// missing), `incomplete` 未配备齐全 (three or more missing, or premises but no check yet),
    /// `none` 未落实场所 (no premises).
    EquipmentLevel {
        Full = "full": "全部配备",
        Basic = "basic": "基本配备",
        Incomplete = "incomplete": "未配备齐全",
        None = "none": "未落实场所",
    }
}

pub const ITEM_COUNT: usize = 8;
/// `full` needs every item; `basic` all but one or two (the seed's note 1). The SQL that counts
/// levels (`db::report`, `db::sites`) is built from these two numbers.
pub const FULL_FROM_ITEMS: usize = ITEM_COUNT;
pub const BASIC_FROM_ITEMS: usize = ITEM_COUNT - 2;

/// The equipment rule. `items_present` is the count in the latest check on the date, if any.
pub fn equipment_level(has_premises: bool, items_present: Option<usize>) -> EquipmentLevel {
    match (has_premises, items_present) {
        (false, _) => EquipmentLevel::None,
        (true, Some(n)) if n >= FULL_FROM_ITEMS => EquipmentLevel::Full,
        (true, Some(n)) if n >= BASIC_FROM_ITEMS => EquipmentLevel::Basic,
        (true, _) => EquipmentLevel::Incomplete,
    }
}

impl EquipmentLevel {
    /// Worse levels rank higher: a county's cell shows the worst among its sites with premises.
    pub fn severity(self) -> u8 {
        match self {
            EquipmentLevel::Full => 0,
            EquipmentLevel::Basic => 1,
            EquipmentLevel::Incomplete => 2,
            EquipmentLevel::None => 3,
        }
    }
}

/// A check's items: deduplicated, in the fixed order, stored comma-separated.
pub fn normalise_items(items: &[EquipmentItem]) -> Vec<EquipmentItem> {
    EquipmentItem::ALL
        .iter()
        .copied()
        .filter(|i| items.contains(i))
        .collect()
}

/// The items a check found, in the rule's order, stored as their words joined by commas.
#[derive(
    Debug, Clone, PartialEq, Eq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct EquipmentItems {
    items: Vec<EquipmentItem>,
    /// The stored form, kept beside the items so the value can be bound by reference.
    text: String,
}

impl EquipmentItems {
    pub fn of(items: &[EquipmentItem]) -> EquipmentItems {
        let items = normalise_items(items);
        let text = items
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(",");
        EquipmentItems { items, text }
    }

    pub fn parse(text: &str) -> Result<EquipmentItems, String> {
        let items: Vec<EquipmentItem> = text
            .split(',')
            .filter(|s| !s.is_empty())
            .map(EquipmentItem::parse)
            .collect::<Result<_, _>>()?;
        Ok(EquipmentItems::of(&items))
    }

    /// The stored form: the items' words joined by commas.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn as_slice(&self) -> &[EquipmentItem] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

crate::stored_as_text!(EquipmentItems);

/// A site's lifecycle dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SiteDates {
    pub planned_on: Option<NaiveDate>,
    pub premises_secured_on: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
    pub suspended_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
}

fn on_or_before(date: Option<NaiveDate>, day: NaiveDate) -> bool {
    date.is_some_and(|d| d <= day)
}

impl SiteDates {
    /// The status on `day`: each date counts once it has come.
    pub fn status_on(&self, day: NaiveDate) -> SiteStatus {
        if on_or_before(self.closed_on, day) {
            SiteStatus::Closed
        } else if on_or_before(self.suspended_on, day) {
            SiteStatus::Suspended
        } else if on_or_before(self.completed_on, day) {
            SiteStatus::Completed
        } else {
            SiteStatus::Planned
        }
    }

    pub fn premises_on(&self, day: NaiveDate) -> bool {
        on_or_before(self.premises_secured_on, day)
    }

    /// Every rule on the dates, each naming its field: required planning date, nothing after
    /// today, nothing before planning, completion needs premises first, closing comes last.
    pub fn check(&self, v: &mut Violations, today: NaiveDate) {
        let Some(planned) = self.planned_on else {
            v.add("planned_on", "is required");
            return;
        };
        let named = [
            ("planned_on", self.planned_on),
            ("premises_secured_on", self.premises_secured_on),
            ("completed_on", self.completed_on),
            ("suspended_on", self.suspended_on),
            ("closed_on", self.closed_on),
        ];
        for (field, date) in named {
            crate::domain::business_date(v, field, date, today);
            if let Some(d) = date {
                if d < planned {
                    v.add(field, format!("{d} is before planned_on {planned}"));
                }
            }
        }
        if let Some(done) = self.completed_on {
            match self.premises_secured_on {
                None => v.add(
                    "completed_on",
                    "a site cannot be completed without premises: set premises_secured_on first",
                ),
                Some(p) if p > done => v.add(
                    "completed_on",
                    format!("{done} is before premises_secured_on {p}: premises come first"),
                ),
                Some(_) => {}
            }
        }
        if let (Some(s), Some(c)) = (self.suspended_on, self.completed_on) {
            if s < c {
                v.add("suspended_on", format!("{s} is before completed_on {c}"));
            }
        }
        if let Some(closed) = self.closed_on {
            for (field, date) in &named[1..4] {
                if let Some(d) = date {
                    if *d > closed {
                        v.add("closed_on", format!("{closed} is before {field} {d}"));
                    }
                }
            }
        }
    }
}

pub fn check_coordinates(v: &mut Violations, latitude: Option<f64>, longitude: Option<f64>) {
    if let Some(lat) = latitude {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            v.add("latitude", "must be between -90 and 90");
        }
    }
    if let Some(lon) = longitude {
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            v.add("longitude", "must be between -180 and 180");
        }
    }
    if latitude.is_some() != longitude.is_some() {
        v.add("longitude", "latitude and longitude go together");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn the_level_follows_the_count_of_missing_items() {
        let expected = [
            (8, EquipmentLevel::Full),
            (7, EquipmentLevel::Basic),
            (6, EquipmentLevel::Basic),
            (5, EquipmentLevel::Incomplete),
            (4, EquipmentLevel::Incomplete),
            (3, EquipmentLevel::Incomplete),
            (2, EquipmentLevel::Incomplete),
            (1, EquipmentLevel::Incomplete),
            (0, EquipmentLevel::Incomplete),
        ];
        for (present, level) in expected {
            assert_eq!(
                equipment_level(true, Some(present)),
                level,
                "{present} items"
            );
        }
    }

    #[test]
    fn premises_without_a_check_are_incomplete_and_no_premises_is_none() {
        assert_eq!(equipment_level(true, None), EquipmentLevel::Incomplete);
        assert_eq!(equipment_level(false, Some(8)), EquipmentLevel::None);
        assert_eq!(equipment_level(false, None), EquipmentLevel::None);
    }

    #[test]
    fn items_are_deduplicated_in_a_fixed_order_and_round_trip() {
        let items = normalise_items(&[
            EquipmentItem::Printer,
            EquipmentItem::DesksChairs,
            EquipmentItem::Printer,
        ]);
        assert_eq!(
            items,
            vec![EquipmentItem::DesksChairs, EquipmentItem::Printer]
        );
        let stored = EquipmentItems::of(&items);
        assert_eq!(stored.text, "desks_chairs,printer");
        assert_eq!(EquipmentItems::parse(&stored.text), Ok(stored));
        assert_eq!(EquipmentItems::parse("").map(|i| i.len()), Ok(0));
        assert!(EquipmentItems::parse("desks_chairs,sofa").is_err());
    }

    #[test]
    fn completion_needs_premises_first() {
        let today = d("2021-06-09");
        let mut v = Violations::new();
        SiteDates {
            planned_on: Some(d("2021-01-01")),
            completed_on: Some(d("2021-03-01")),
            ..Default::default()
        }
        .check(&mut v, today);
        assert_eq!(v.0[0].field, "completed_on");

        let mut v = Violations::new();
        SiteDates {
            planned_on: Some(d("2021-01-01")),
            premises_secured_on: Some(d("2021-04-01")),
            completed_on: Some(d("2021-03-01")),
            ..Default::default()
        }
        .check(&mut v, today);
        assert_eq!(v.0.len(), 1);
        assert_eq!(v.0[0].field, "completed_on");
    }

    #[test]
    fn dates_keep_their_order_and_stay_out_of_the_future() {
        let mut v = Violations::new();
        SiteDates {
            planned_on: Some(d("2021-05-01")),
            premises_secured_on: Some(d("2021-04-01")),
            closed_on: Some(d("2099-01-01")),
            ..Default::default()
        }
        .check(&mut v, d("2021-06-09"));
        let fields: Vec<&str> = v.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, vec!["premises_secured_on", "closed_on"]);
    }

    #[test]
    fn the_status_on_a_day_counts_only_dates_that_have_come() {
        let dates = SiteDates {
            planned_on: Some(d("2021-01-01")),
            premises_secured_on: Some(d("2021-02-01")),
            completed_on: Some(d("2021-03-01")),
            closed_on: Some(d("2021-09-01")),
            ..Default::default()
        };
        assert_eq!(dates.status_on(d("2021-02-15")), SiteStatus::Planned);
        assert_eq!(dates.status_on(d("2021-03-01")), SiteStatus::Completed);
        assert_eq!(dates.status_on(d("2021-09-01")), SiteStatus::Closed);
        assert!(!dates.premises_on(d("2021-01-31")));
        assert!(dates.premises_on(d("2021-02-01")));
    }
}
