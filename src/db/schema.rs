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
        province_id -> Integer,
        city_id -> Nullable<Integer>,
        city_has_counties -> Nullable<Bool>,
    }
}

diesel::table! {
    provinces (id) {
        id -> Integer,
        division_code -> Text,
        name -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    cities (id) {
        id -> Integer,
        province_id -> Integer,
        division_code -> Text,
        name -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        has_counties -> Bool,
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

diesel::table! {
    figure_generations (county_id) {
        county_id -> Integer,
        generation -> BigInt,
    }
}

diesel::table! {
    kept_figures (as_of, fiscal_year, rules_version, county_id) {
        as_of -> Date,
        fiscal_year -> Integer,
        rules_version -> Text,
        county_id -> Integer,
        generation -> BigInt,
        counts -> Text,
    }
}

diesel::table! {
    kept_dates (as_of, fiscal_year, rules_version) {
        as_of -> Date,
        fiscal_year -> Integer,
        rules_version -> Text,
        last_asked_at -> Timestamp,
    }
}

diesel::joinable!(plan_status_changes -> counties (county_id));
diesel::joinable!(towns -> counties (county_id));

diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
        display_name -> Text,
        role -> Text,
        county_id -> Nullable<Integer>,
        password_hash -> Text,
        active -> Bool,
        auth_version -> Integer,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        city_id -> Nullable<Integer>,
        phone -> Nullable<Text>,
    }
}

diesel::table! {
    clients (id) {
        id -> Integer,
        client_id -> Text,
        name -> Text,
        county_id -> Integer,
        secret_hash -> Text,
        active -> Bool,
        auth_version -> Integer,
        last_used_at -> Nullable<Timestamp>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Integer,
        token_hash -> Text,
        family -> Text,
        user_id -> Integer,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Integer,
        started_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Integer,
        username_hash -> Text,
        address -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    sites (id) {
        id -> Integer,
        county_id -> Integer,
        town_id -> Integer,
        kind -> Text,
        station_id -> Nullable<Integer>,
        village -> Nullable<Text>,
        name -> Text,
        address -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        #[sql_name = "ref"]
        ref_ -> Text,
        status -> Text,
        planned_on -> Date,
        premises_secured_on -> Nullable<Date>,
        completed_on -> Nullable<Date>,
        suspended_on -> Nullable<Date>,
        closed_on -> Nullable<Date>,
        equipment_checked_on -> Nullable<Date>,
        equipment_item_count -> Nullable<Integer>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        equipment_items -> Nullable<Text>,
    }
}

diesel::table! {
    equipment_checks (id) {
        id -> Integer,
        site_id -> Integer,
        checked_on -> Date,
        items -> Text,
        item_count -> Integer,
        created_at -> Timestamp,
    }
}

diesel::joinable!(sites -> counties (county_id));
diesel::joinable!(sites -> towns (town_id));
diesel::joinable!(equipment_checks -> sites (site_id));
diesel::table! {
    staff (id) {
        id -> Integer,
        county_id -> Integer,
        name -> Text,
        gender -> Text,
        phone -> Nullable<Text>,
        id_number -> Nullable<Text>,
        education -> Nullable<Text>,
        certification -> Text,
        hired_via -> Text,
        #[sql_name = "ref"]
        ref_ -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    postings (id) {
        id -> Integer,
        staff_id -> Integer,
        station_id -> Integer,
        county_id -> Integer,
        site_kind -> Text,
        role -> Text,
        from_on -> Date,
        to_on -> Nullable<Date>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    funding_requests (id) {
        id -> Integer,
        county_id -> Integer,
        fiscal_year -> Integer,
        title -> Text,
        purpose -> Nullable<Text>,
        requested_fen -> Nullable<BigInt>,
        approved_fen -> Nullable<BigInt>,
        status -> Text,
        #[sql_name = "ref"]
        ref_ -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    funding_transitions (id) {
        id -> Integer,
        request_id -> Integer,
        action -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        effective_on -> Date,
        note -> Nullable<Text>,
        requested_fen -> Nullable<BigInt>,
        approved_fen -> Nullable<BigInt>,
        actor -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    trainings (id) {
        id -> Integer,
        county_id -> Integer,
        kind -> Text,
        title -> Text,
        held_on -> Date,
        attendees -> Nullable<Integer>,
        #[sql_name = "ref"]
        ref_ -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    progress_snapshots (id) {
        id -> Integer,
        as_of -> Date,
        fiscal_year -> Integer,
        title -> Text,
        issuing_unit -> Text,
        rules_version -> Text,
        table_json -> Text,
        published_by -> Text,
        published_at -> Timestamp,
        withdrawn_at -> Nullable<Timestamp>,
        withdrawn_by -> Nullable<Text>,
        withdrawal_reason -> Nullable<Text>,
        city_id -> Nullable<Integer>,
        level -> Text,
        province_id -> Nullable<Integer>,
        round_id -> Nullable<Integer>,
        forced_reason -> Nullable<Text>,
        unconfirmed -> Nullable<Text>,
    }
}

diesel::table! {
    rounds (id) {
        id -> Integer,
        title -> Text,
        level -> Text,
        city_id -> Nullable<Integer>,
        province_id -> Nullable<Integer>,
        as_of -> Date,
        fiscal_year -> Integer,
        due_on -> Date,
        issuing_unit -> Text,
        state -> Text,
        snapshot_id -> Nullable<Integer>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        reopen_reason -> Nullable<Text>,
        participants -> Integer,
    }
}

diesel::table! {
    round_participants (id) {
        id -> Integer,
        round_id -> Integer,
        kind -> Text,
        county_id -> Nullable<Integer>,
        city_id -> Nullable<Integer>,
        position -> Integer,
        state -> Text,
        submission_id -> Nullable<Integer>,
        first_submitted_at -> Nullable<Timestamp>,
        late -> Bool,
        days_late -> Integer,
        self_certified -> Bool,
        return_reason -> Nullable<Text>,
        reviewed_by -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        version -> Integer,
    }
}

diesel::table! {
    round_submissions (id) {
        id -> Integer,
        round_id -> Integer,
        participant_id -> Integer,
        submitted_by -> Text,
        submitted_at -> Timestamp,
        note -> Nullable<Text>,
        late -> Bool,
        self_certified -> Bool,
        figures -> Text,
        rules_version -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Integer,
        occurred_at -> Timestamp,
        actor -> Text,
        action -> Text,
        entity -> Text,
        entity_id -> Integer,
        county_id -> Nullable<Integer>,
        request_id -> Text,
        reason -> Nullable<Text>,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
        txid -> BigInt,
        entity_version -> Nullable<Integer>,
        city_id -> Nullable<Integer>,
        province_id -> Nullable<Integer>,
    }
}

diesel::table! {
    idempotency_keys (id) {
        id -> Integer,
        actor -> Text,
        method -> Text,
        path -> Text,
        key -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(counties -> provinces (province_id));
diesel::joinable!(counties -> cities (city_id));
diesel::joinable!(cities -> provinces (province_id));
diesel::joinable!(progress_snapshots -> cities (city_id));
diesel::joinable!(progress_snapshots -> provinces (province_id));
diesel::joinable!(round_participants -> rounds (round_id));
diesel::joinable!(round_submissions -> round_participants (participant_id));
diesel::joinable!(staff -> counties (county_id));
diesel::joinable!(postings -> staff (staff_id));
diesel::joinable!(postings -> sites (station_id));
diesel::joinable!(funding_requests -> counties (county_id));
diesel::joinable!(funding_transitions -> funding_requests (request_id));
diesel::joinable!(trainings -> counties (county_id));
diesel::joinable!(users -> counties (county_id));
diesel::joinable!(clients -> counties (county_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::table! {
    webhooks (id) {
        id -> Integer,
        url -> Text,
        description -> Nullable<Text>,
        event_types -> Nullable<Text>,
        city_id -> Nullable<Integer>,
        county_id -> Nullable<Integer>,
        owner_user_id -> Nullable<Integer>,
        owner_client_id -> Nullable<Integer>,
        active -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        failing_since -> Nullable<Timestamp>,
        lease_until -> Nullable<Timestamp>,
        leased_by -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    webhook_messages (id) {
        id -> Integer,
        webhook_id -> Integer,
        msg_id -> Text,
        event_id -> Nullable<Integer>,
        event_type -> Text,
        payload -> Nullable<Text>,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        created_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        txid -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Integer,
        webhook_id -> Integer,
        message_id -> Integer,
        attempt -> Integer,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        duration_ms -> Integer,
        error -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(webhook_messages -> webhooks (webhook_id));
diesel::joinable!(webhook_messages -> audit_events (event_id));
diesel::joinable!(webhook_deliveries -> webhook_messages (message_id));

diesel::allow_tables_to_appear_in_same_query!(
    webhooks,
    webhook_messages,
    webhook_deliveries,
    rounds,
    round_participants,
    round_submissions,
    figure_generations,
    kept_dates,
    kept_figures,
    provinces,
    cities,
    counties,
    plan_status_changes,
    towns,
    users,
    clients,
    refresh_tokens,
    sessions,
    login_failures,
    sites,
    equipment_checks,
    staff,
    postings,
    funding_requests,
    funding_transitions,
    trainings,
    progress_snapshots,
    audit_events,
    idempotency_keys,
);
