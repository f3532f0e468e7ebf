//! Diesel table definitions, written to match both backends' migrations.

diesel::table! {
    counties (id) {
        id -> Integer,
        division_code -> Text,
        name -> Text,
        kind -> Text,
        coordination_established_on -> Nullable<Date>,
        management_established_on -> Nullable<Date>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    plan_status_changes (id) {
        id -> Integer,
        county_id -> Integer,
        stage -> Text,
        effective_on -> Date,
        note -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    towns (id) {
        id -> Integer,
        county_id -> Integer,
        name -> Text,
        code -> Text,
        kind -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(plan_status_changes -> counties (county_id));
diesel::joinable!(towns -> counties (county_id));
diesel::allow_tables_to_appear_in_same_query!(counties, plan_status_changes, towns);
