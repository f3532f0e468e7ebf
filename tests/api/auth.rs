//! Accounts, tokens, and the authorization matrix over every operation of the generated spec.

use awc::http::Method;
use serde_json::{json, Value};

use crate::helpers::{settings_for, Resp, TestApp, PASSWORD};

/// Operations anyone may call without a token.
const PUBLIC: &[&str] = &["healthz", "readyz", "get_metrics", "issue_token"];

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    Public,
    /// Any valid token.
    Read,
    /// The deployment's administrators only (provinces, making and deleting cities).
    Admin,
    /// Administrators, and a city's within their city (its accounts, bulletins, counties).
    CityAdmin,
    /// Lists a city's administrators see filtered to their city.
    AnyAdmin,
    /// Administrators; a city's in their city; county officers and integration clients in
    /// their own county only.
    CountyWrite,
    /// A county's own row in a round: its county officers and integration accounts only, not
    /// even administrators.
    Participant,
    /// Listing webhook subscriptions: administrators and integration accounts.
    Subscriber,
    /// Subscribing to a county's changes: administrators, a city's within their city, and a
    /// county's integration accounts for their own county.
    Subscribe,
    /// Managing a subscription: administrators, and its owner (the own county's subscription is
    /// its integration client's, the other county's its city administrator's, the other city's
    /// the deployment administrator's).
    WebhookOwner,
}

/// The matrix: every operation of the spec must have an entry, or the test fails.
fn rule(operation: &str) -> Option<Rule> {
    Some(match operation {
        "healthz" | "readyz" | "get_metrics" | "issue_token" => Rule::Public,
        "me"
        | "revoke"
        | "list_changes"
        | "changes_head"
        | "list_provinces"
        | "get_province"
        | "list_cities"
        | "get_city"
        | "list_counties"
        | "get_county"
        | "list_plan_changes"
        | "list_towns"
        | "get_town"
        | "list_stations"
        | "get_station"
        | "list_equipment_checks"
        | "list_staff"
        | "staff_counts"
        | "get_staff"
        | "list_postings"
        | "progress_report"
        | "progress_changes"
        | "list_snapshots"
        | "get_snapshot"
        | "export_snapshot"
        | "progress_export"
        | "list_funding_requests"
        | "get_funding_request"
        | "list_funding_transitions"
        | "list_trainings"
        | "get_training"
        | "list_rounds"
        | "get_round"
        | "list_round_participants"
        | "list_sign_offs"
        | "round_completeness"
        | "export_chase_list"
        | "round_table" => Rule::Read,
        "create_province" | "update_province" | "delete_province" | "create_city"
        | "delete_city" => Rule::Admin,
        "list_users" | "list_clients" | "list_audit_events" => Rule::AnyAdmin,
        "update_city"
        | "create_county"
        | "delete_county"
        | "create_user_route"
        | "get_user"
        | "update_user"
        | "create_client"
        | "get_client"
        | "update_client"
        | "rotate_client_secret"
        | "publish_snapshot"
        | "withdraw_snapshot"
        | "create_round"
        | "update_round"
        | "close_round"
        | "reopen_round"
        | "publish_round"
        | "accept_sign_off"
        | "return_sign_off" => Rule::CityAdmin,
        // A county's own row in a round: its officers and integration accounts, nobody else.
        "submit_sign_off" => Rule::Participant,
        "list_webhooks" => Rule::Subscriber,
        "create_webhook" => Rule::Subscribe,
        "get_webhook"
        | "update_webhook"
        | "delete_webhook"
        | "rotate_webhook_secret"
        | "list_webhook_deliveries"
        | "retry_webhook_delivery"
        | "test_webhook" => Rule::WebhookOwner,
        "update_county"
        | "create_plan_change"
        | "create_town"
        | "update_town"
        | "delete_town"
        | "create_station"
        | "update_station"
        | "delete_station"
        | "create_equipment_check"
        | "create_staff"
        | "update_staff"
        | "delete_staff"
        | "create_posting"
        | "update_posting"
        | "create_funding_request"
        | "update_funding_request"
        | "delete_funding_request"
        | "create_funding_transition"
        | "create_training"
        | "update_training"
        | "delete_training"
        | "post_county_updates" => Rule::CountyWrite,
        _ => return None,
    })
}

/// What a request is aimed at: the callers' own county, another county of their city, or a
/// county of another city.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Own,
    OtherCounty,
    OtherCity,
}

const TARGETS: [Target; 3] = [Target::Own, Target::OtherCounty, Target::OtherCity];

/// One county's records, made by the admin.
struct Kit {
    code: &'static str,
    city: i64,
    county: i64,
    town: i64,
    site: i64,
    staff: (i64, i64),
    funding: i64,
    training: i64,
    user: i64,
    client: i64,
    snapshot: i64,
    /// Its city's round, and the participant that is this county in it.
    round: i64,
    participant: i64,
    /// Another round of its city, which the matrix closes, reopens and tries to publish (so
    /// `round` stays open for the submissions).
    spare_round: i64,
    /// A webhook subscription to its changes (whose owner [`Rule::WebhookOwner`] says).
    webhook: i64,
}

struct World {
    kits: Vec<Kit>,
    province: i64,
    officer: String,
    integration_user: String,
    client: String,
    viewer: String,
    city_admin: String,
}

impl World {
    fn kit(&self, target: Target) -> &Kit {
        &self.kits[target as usize]
    }
}

async fn make_client(app: &TestApp, county_id: i64) -> (i64, String, String) {
    let r = app
        .post(
            "/api/v1/clients",
            &json!({"name": "县数据同步", "county_id": county_id}),
        )
        .await
        .expect(201);
    (
        r.body["client"]["id"].as_i64().expect("id"),
        r.body["client"]["client_id"]
            .as_str()
            .expect("client_id")
            .to_string(),
        r.body["client_secret"]
            .as_str()
            .expect("secret")
            .to_string(),
    )
}

async fn client_token(app: &TestApp, client_id: &str, secret: &str) -> Resp {
    app.post(
        "/api/v1/auth/token",
        &json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}),
    )
    .await
}

fn id_of(r: Resp) -> i64 {
    r.body["id"].as_i64().expect("id")
}

/// A county with a town, a station, a person posted there, a funding request, a training, a
/// county officer's account and an integration client.
async fn kit(app: &TestApp, code: &'static str) -> Kit {
    let county = app.county(code, &format!("县{code}"), "district").await;
    let city = app.get(&format!("/api/v1/counties/{county}")).await.body["city_id"]
        .as_i64()
        .expect("city");
    let town = id_of(
        app.post("/api/v1/towns", &json!({"county_id": county, "name": format!("镇{code}"), "code": format!("{code}101"), "kind": "town"}))
            .await
            .expect(201),
    );
    let site = id_of(
        app.post("/api/v1/stations", &json!({"kind": "station", "town_id": town, "name": "社工站", "ref": "ST-1", "planned_on": "2021-01-04"}))
            .await
            .expect(201),
    );
    let person = id_of(
        app.post("/api/v1/staff", &json!({"county_id": county, "name": "社工", "gender": "male", "certification": "none", "hired_via": "other", "ref": "P-1"}))
            .await
            .expect(201),
    );
    let posting = id_of(
        app.post(
            &format!("/api/v1/staff/{person}/postings"),
            &json!({"station_id": site, "role": "social_worker", "from": "2021-02-01"}),
        )
        .await
        .expect(201),
    );
    let funding = id_of(
        app.post(
            "/api/v1/funding-requests",
            &json!({"county_id": county, "fiscal_year": 2021, "title": "社工站经费"}),
        )
        .await
        .expect(201),
    );
    let training = id_of(
        app.post("/api/v1/trainings", &json!({"county_id": county, "kind": "pre_job", "title": "岗前培训", "held_on": "2021-03-01"}))
            .await
            .expect(201),
    );
    let user = id_of(
        app.post(
            "/api/v1/users",
            &json!({"username": format!("officer.{code}"), "display_name": "经办人", "role": "county_officer", "county_id": county, "password": PASSWORD}),
        )
        .await
        .expect(201),
    );
    let (client, _, _) = make_client(app, county).await;
    Kit {
        code,
        city,
        county,
        town,
        site,
        staff: (person, posting),
        funding,
        training,
        user,
        client,
        snapshot: 0,
        round: 0,
        participant: 0,
        spare_round: 0,
        webhook: 0,
    }
}

/// A round of city `city` as of `as_of`, opened by the admin; answers its id.
async fn city_round(app: &TestApp, city: i64, as_of: &str) -> i64 {
    id_of(
        app.post(
            "/api/v1/rounds",
            &json!({"title": "进度报送", "level": "city", "city_id": city, "as_of": as_of, "due_on": "2099-01-01"}),
        )
        .await
        .expect(201),
    )
}

async fn world(app: &TestApp) -> World {
    // City A (云浮, made by its first county) with two counties and its city level, and city B
    // with one county; a bulletin of each.
    let mut own = kit(app, "445302").await;
    app.county("445300", "县445300", "city_level").await;
    let city_a = own.city;
    let province = app.get(&format!("/api/v1/cities/{city_a}")).await.body["province_id"]
        .as_i64()
        .expect("province");
    app.post(
        "/api/v1/cities",
        &json!({"division_code": "445200", "name": "揭阳市"}),
    )
    .await
    .expect(201);
    let mut other_county = kit(app, "445303").await;
    let mut other_city = kit(app, "445202").await;
    assert_eq!(other_county.city, city_a);
    assert_ne!(other_city.city, city_a);
    for k in [&mut own, &mut other_county, &mut other_city] {
        k.snapshot = id_of(
            app.post(
                "/api/v1/reports/progress/snapshots",
                &json!({"city_id": k.city, "as_of": "2021-06-09", "title": "简报", "issuing_unit": "市民政局"}),
            )
            .await
            .expect(201),
        );
    }
    // A round of each city (shared by its counties), and a spare one.
    let mut rounds: Vec<(i64, i64, i64)> = Vec::new();
    for k in [&mut own, &mut other_county, &mut other_city] {
        let found = rounds.iter().find(|r| r.0 == k.city).copied();
        let (round, spare) = match found {
            Some((_, round, spare)) => (round, spare),
            None => {
                let made = (
                    city_round(app, k.city, "2021-06-09").await,
                    city_round(app, k.city, "2021-03-31").await,
                );
                rounds.push((k.city, made.0, made.1));
                made
            }
        };
        let parts = app
            .get(&format!("/api/v1/rounds/{round}/participants?limit=100"))
            .await
            .expect(200)
            .body;
        k.participant = parts["items"]
            .as_array()
            .expect("participants")
            .iter()
            .find(|p| p["county_id"] == k.county)
            .expect("the county takes part")["participant_id"]
            .as_i64()
            .expect("participant_id");
        (k.round, k.spare_round) = (round, spare);
    }
    let own_county = own.county;
    let kits = vec![own, other_county, other_city];
    let officer = app
        .user_token("officer.own", "county_officer", Some(own_county))
        .await;
    let integration_user = app
        .user_token("script.own", "integration", Some(own_county))
        .await;
    let viewer = app.user_token("leader", "viewer", None).await;
    app.post(
        "/api/v1/users",
        &json!({"username": "yunfu.admin", "display_name": "云浮市民政局", "role": "city_admin", "city_id": city_a, "password": PASSWORD}),
    )
    .await
    .expect(201);
    let city_admin = app.token_for("yunfu.admin", PASSWORD).await;
    let (_, client_id, secret) = make_client(app, own_county).await;
    let client = client_token(app, &client_id, &secret)
        .await
        .expect(200)
        .body["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let mut kits = kits;
    let owners = [
        client.as_str(),
        city_admin.as_str(),
        app.admin_token.as_str(),
    ];
    for (k, owner) in kits.iter_mut().zip(owners) {
        k.webhook = app
            .post_as(
                owner,
                "/api/v1/webhooks",
                &json!({"url": "http://127.0.0.1:9/hook", "county_id": k.county}),
            )
            .await
            .expect(201)
            .body["webhook"]["id"]
            .as_i64()
            .expect("webhook id");
    }
    World {
        kits,
        province,
        officer,
        integration_user,
        client,
        viewer,
        city_admin,
    }
}

/// A concrete path and a plausible body for an operation, aimed at `target`.
fn request_for(w: &World, operation: &str, path: &str, target: Target) -> (String, Option<Value>) {
    let k = w.kit(target);
    let (county, town) = (k.county, k.town);
    let id = if path.starts_with("/api/v1/rounds/") {
        if ["/close", "/reopen", "/publish"]
            .iter()
            .any(|end| path.ends_with(end))
        {
            k.spare_round
        } else {
            k.round
        }
    } else if path.starts_with("/api/v1/counties/") {
        county
    } else if path.starts_with("/api/v1/provinces/") {
        w.province
    } else if path.starts_with("/api/v1/cities/") {
        k.city
    } else if path.starts_with("/api/v1/towns/") {
        town
    } else if path.starts_with("/api/v1/stations/") {
        k.site
    } else if path.starts_with("/api/v1/staff/") {
        k.staff.0
    } else if path.starts_with("/api/v1/funding-requests/") {
        k.funding
    } else if path.starts_with("/api/v1/trainings/") {
        k.training
    } else if path.starts_with("/api/v1/reports/") {
        k.snapshot
    } else if path.starts_with("/api/v1/users/") {
        k.user
    } else if path.starts_with("/api/v1/webhooks/") {
        k.webhook
    } else {
        k.client
    };
    let code = k.code;
    let new_county = if target == Target::OtherCity {
        "445281"
    } else {
        "445381"
    };
    let body = match operation {
        "create_province" => Some(json!({"division_code": "450000", "name": "广西壮族自治区"})),
        "update_province" | "update_city" => Some(json!({"name": "改名"})),
        "create_city" => Some(json!({"division_code": "445100", "name": "潮州市"})),
        "create_county" => {
            Some(json!({"division_code": new_county, "name": "新县", "kind": "county_city"}))
        }
        "update_county" => Some(json!({"name": "改名"})),
        "create_plan_change" => Some(json!({"stage": "drafting", "effective_on": "2021-01-01"})),
        "create_town" => Some(
            json!({"county_id": county, "name": "新镇", "code": format!("{code}199"), "kind": "town"}),
        ),
        "update_town" => Some(json!({"name": "新名"})),
        "create_station" => Some(
            json!({"kind": "point", "town_id": town, "station_id": k.site, "village": "某村", "name": "社工点", "ref": "PT-X", "planned_on": "2021-02-01"}),
        ),
        "update_station" => Some(json!({"name": "新名"})),
        "create_staff" => Some(
            json!({"county_id": county, "name": "新社工", "gender": "female", "certification": "social_worker", "hired_via": "public_exam", "ref": "P-NEW"}),
        ),
        "update_staff" => Some(json!({"name": "新名"})),
        "create_posting" => {
            Some(json!({"station_id": k.site, "role": "social_worker", "from": "2021-03-01"}))
        }
        "update_posting" => Some(json!({"to": "2021-05-01"})),
        "create_equipment_check" => {
            Some(json!({"checked_on": "2021-03-01", "items": ["computer"]}))
        }
        "create_funding_request" => Some(
            json!({"county_id": county, "fiscal_year": 2021, "title": "社工站运营经费", "requested_fen": 100_000_000}),
        ),
        "update_funding_request" => Some(json!({"title": "改名"})),
        "create_funding_transition" => Some(json!({"action": "consult", "note": "征求意见"})),
        "create_training" => Some(
            json!({"county_id": county, "kind": "professional", "title": "专业培训", "held_on": "2021-05-01"}),
        ),
        "update_training" => Some(json!({"title": "改名"})),
        "post_county_updates" => Some(
            json!({"towns": [{"code": format!("{code}198"), "name": "批量镇", "kind": "town"}]}),
        ),
        "create_user_route" => Some(
            json!({"username": format!("new.{code}"), "display_name": "x", "role": "county_officer", "county_id": county, "password": PASSWORD}),
        ),
        "update_user" => Some(json!({"display_name": "改名"})),
        "create_client" => Some(json!({"name": "脚本", "county_id": county})),
        "update_client" => Some(json!({"name": "改名"})),
        "create_webhook" => Some(json!({"url": "http://127.0.0.1:9/hook", "county_id": county})),
        "update_webhook" => Some(json!({"description": "改"})),
        "revoke" => Some(json!({"token": "not-a-token"})),
        "publish_snapshot" => Some(
            json!({"city_id": k.city, "as_of": "2021-06-09", "title": "简报", "issuing_unit": "市民政局"}),
        ),
        "withdraw_snapshot" => Some(json!({"reason": "测试"})),
        "issue_token" => Some(json!({"grant_type": "password"})),
        "create_round" => Some(
            json!({"title": "进度报送", "level": "city", "city_id": k.city, "as_of": "2021-06-09", "due_on": "2099-01-01"}),
        ),
        "update_round" => Some(json!({"title": "改名"})),
        "reopen_round" | "return_sign_off" => Some(json!({"reason": "测试"})),
        "submit_sign_off" => Some(json!({"note": "测试"})),
        "close_round" | "publish_round" | "accept_sign_off" => Some(json!({})),
        _ => None,
    };
    let path = path
        .replace("{id}", &id.to_string())
        .replace("{posting_id}", &k.staff.1.to_string())
        .replace("{round_id}", &id.to_string())
        .replace("{pid}", &k.participant.to_string())
        .replace("{participant_id}", &k.participant.to_string())
        .replace("{delivery_id}", "999999");
    (path, body)
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    // A stale If-Match: an allowed caller gets past the rights check to 412, and nothing changes.
    app.call(token, method, path, Some("\"999\""), body).await
}

fn operations() -> Vec<(String, String, String, bool)> {
    let spec = serde_json::to_value(shuangbai::startup::openapi()).expect("spec");
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let id = op["operationId"].as_str().expect("operationId").to_string();
            let secured = op.get("security").is_some();
            ops.push((method.clone(), path.clone(), id, secured));
        }
    }
    ops
}

/// Whether `who` may call an operation under `rule` aimed at `target`.
fn allowed(rule: Rule, who: &str, target: Target) -> bool {
    let in_city = target != Target::OtherCity;
    match rule {
        Rule::Public | Rule::Read => true,
        Rule::Admin => who == "admin",
        Rule::AnyAdmin => who == "admin" || who == "city admin",
        Rule::CityAdmin => who == "admin" || (who == "city admin" && in_city),
        Rule::CountyWrite => {
            who == "admin"
                || (who == "city admin" && in_city)
                || (target == Target::Own && who != "viewer" && who != "city admin")
        }
        Rule::Participant => {
            target == Target::Own
                && matches!(who, "officer" | "integration user" | "integration client")
        }
        Rule::Subscriber => !matches!(who, "viewer" | "officer"),
        Rule::Subscribe => {
            who == "admin"
                || (who == "city admin" && in_city)
                || (target == Target::Own && who.starts_with("integration"))
        }
        Rule::WebhookOwner => match target {
            Target::Own => matches!(who, "admin" | "integration client"),
            Target::OtherCounty => matches!(who, "admin" | "city admin"),
            Target::OtherCity => who == "admin",
        },
    }
}

on_both_backends! {
    async fn every_operation_in_the_spec_is_in_the_matrix_and_obeys_it(app: TestApp) {
        let w = world(&app).await;
        let ops = operations();
        assert!(ops.len() >= 20, "the spec lists the operations");
        let missing: Vec<&str> = ops.iter().filter(|o| rule(&o.2).is_none()).map(|o| o.2.as_str()).collect();
        assert!(missing.is_empty(), "operations without a matrix entry: {missing:?}");
        for (method, path, op, secured) in &ops {
            let rule = rule(op).expect("entry");
            assert_eq!(rule == Rule::Public, !secured, "{op}: the spec's security matches the matrix");
            assert_eq!(rule == Rule::Public, PUBLIC.contains(&op.as_str()));
            for target in TARGETS {
                let (url, body) = request_for(&w, op, path, target);
                let anonymous = call(&app, None, method, &url, body.as_ref()).await;
                if rule == Rule::Public {
                    assert!(!matches!(anonymous.status, 401 | 403), "{op} is public: {}", anonymous.status);
                    continue;
                }
                assert_eq!(anonymous.status, 401, "{method} {url} without a token");
                assert_eq!(anonymous.header("www-authenticate").as_deref(), Some("Bearer"));
                // Refused callers first, so nothing allowed has changed the world before them.
                let callers = [
                    ("viewer", w.viewer.as_str()),
                    ("officer", w.officer.as_str()),
                    ("integration user", w.integration_user.as_str()),
                    ("integration client", w.client.as_str()),
                    ("city admin", w.city_admin.as_str()),
                    ("admin", app.admin_token.as_str()),
                ];
                let mut callers: Vec<_> = callers.into_iter().collect();
                callers.sort_by_key(|(who, _)| allowed(rule, who, target));
                for (who, token) in callers {
                    let r = call(&app, Some(token), method, &url, body.as_ref()).await;
                    if allowed(rule, who, target) {
                        assert!(!matches!(r.status, 401 | 403), "{who} may {method} {url} ({op}, {target:?}); got {}: {}", r.status, r.body);
                    } else {
                        assert_eq!(r.status, 403, "{who} may not {method} {url} ({op}, {target:?}): {}", r.body);
                    }
                }
            }
        }
    }

    async fn a_county_officer_writes_only_their_own_county(app: TestApp) {
        let w = world(&app).await;
        let own = app
            .post_as(&w.officer, "/api/v1/towns", &json!({"county_id": w.kit(Target::Own).county, "name": "本县新镇", "code": "445302150", "kind": "town"}))
            .await
            .expect(201);
        assert_eq!(own.body["county_id"], w.kit(Target::Own).county);
        app.post_as(&w.officer, "/api/v1/towns", &json!({"county_id": w.kit(Target::OtherCounty).county, "name": "外县新镇", "code": "445303150", "kind": "town"}))
            .await
            .expect_problem(403);
        assert_eq!(app.get_as(&w.viewer, "/api/v1/towns").await.expect(200).body["total"], 4);
        let me = app.get_as(&w.client, "/api/v1/me").await.expect(200);
        assert_eq!(me.body["kind"], "client");
        assert_eq!(me.body["role"], "integration");
        assert_eq!(me.body["county_id"], w.kit(Target::Own).county);
    }

    async fn forged_expired_and_misaddressed_tokens_are_refused(app: TestApp) {
        let good = app.admin_token.clone();
        app.get_as(&good, "/api/v1/me").await.expect(200);
        let parts: Vec<&str> = good.split('.').collect();
        let claims: Value = serde_json::from_slice(&b64_decode(parts[1])).expect("claims");

        // alg: none, no signature.
        let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        app.get_as(&none, "/api/v1/me").await.expect_problem(401);
        // Another algorithm with the same key.
        let secret = settings_for(app.database_url.clone()).jwt_secret;
        let key = jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()).expect("key");
        let swapped = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512), &claims, &key).expect("encode");
        app.get_as(&swapped, "/api/v1/me").await.expect_problem(401);
        // A bad signature.
        let tampered = format!("{}.{}.{}", parts[0], parts[1], b64(b"not the signature at all, no"));
        app.get_as(&tampered, "/api/v1/me").await.expect_problem(401);
        // Expired.
        let mut expired = claims.clone();
        expired["iat"] = json!(1_600_000_000);
        expired["exp"] = json!(1_600_000_900);
        let expired = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &expired, &key).expect("encode");
        app.get_as(&expired, "/api/v1/me").await.expect_problem(401);
        // For another audience.
        let mut other = claims.clone();
        other["aud"] = json!("someone-else");
        let other = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &other, &key).expect("encode");
        app.get_as(&other, "/api/v1/me").await.expect_problem(401);
        // The same claims correctly signed pass: the refusals above are about the token, not the test.
        let resigned = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).expect("encode");
        app.get_as(&resigned, "/api/v1/me").await.expect(200);
        app.get_as("garbage", "/api/v1/me").await.expect_problem(401);
    }

    async fn a_reused_refresh_token_revokes_its_whole_family(app: TestApp) {
        let first = app.login("bureau.admin", PASSWORD).await.expect(200);
        let r1 = first.body["refresh_token"].as_str().expect("refresh").to_string();
        let refresh = |token: String| {
            let app = &app;
            async move {
                app.post("/api/v1/auth/token", &json!({"grant_type": "refresh_token", "refresh_token": token})).await
            }
        };
        let second = refresh(r1.clone()).await.expect(200);
        let r2 = second.body["refresh_token"].as_str().expect("rotated").to_string();
        assert_ne!(r1, r2, "refresh tokens rotate on use");
        app.get_as(second.body["access_token"].as_str().expect("access"), "/api/v1/me").await.expect(200);
        // Replaying the first token: refused, and the family's newest token dies with it.
        let replay = refresh(r1).await.expect(400);
        assert_eq!(replay.body["error"], "invalid_grant");
        assert_eq!(refresh(r2).await.expect(400).body["error"], "invalid_grant");
    }

    async fn deactivating_or_a_new_password_ends_access_at_once(app: TestApp) {
        let token = app.user_token("li.officer", "viewer", None).await;
        let login = app.login("li.officer", PASSWORD).await.expect(200);
        let refresh = login.body["refresh_token"].as_str().expect("refresh").to_string();
        app.get_as(&token, "/api/v1/me").await.expect(200);
        let user = app.get_as(&token, "/api/v1/me").await.body;
        let path = format!("/api/v1/users/{}", user["id"]);
        app.patch(&path, Some("\"1\""), &json!({"password": "a brand new password"})).await.expect(200);
        app.get_as(&token, "/api/v1/me").await.expect_problem(401);
        app.post("/api/v1/auth/token", &json!({"grant_type": "refresh_token", "refresh_token": refresh}))
            .await
            .expect(400);
        let fresh = app.token_for("li.officer", "a brand new password").await;
        app.get_as(&fresh, "/api/v1/me").await.expect(200);
        app.patch(&path, Some("\"2\""), &json!({"active": false})).await.expect(200);
        app.get_as(&fresh, "/api/v1/me").await.expect_problem(401);
        let r = app.login("li.officer", "a brand new password").await.expect(400);
        assert_eq!(r.body["error"], "invalid_grant");
    }

    async fn a_deactivation_on_one_instance_ends_access_on_another_within_a_second(app: TestApp) {
        let other = app.another_instance().await;
        let token = app.user_token("zhao.viewer", "viewer", None).await;
        let user = other.get_as(&token, "/api/v1/me").await.expect(200).body;
        // The other instance has checked the token and keeps what it found.
        other.get_as(&token, "/api/v1/me").await.expect(200);
        app.patch(&format!("/api/v1/users/{}", user["id"]), Some("\"1\""), &json!({"active": false}))
            .await
            .expect(200);
        app.get_as(&token, "/api/v1/me").await.expect_problem(401);
        let since = std::time::Instant::now();
        while other.get_as(&token, "/api/v1/me").await.status != 401 {
            assert!(
                since.elapsed() < std::time::Duration::from_millis(1500),
                "the other instance still serves a deactivated account after {:?}",
                since.elapsed()
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        other.get_as(&token, "/api/v1/me").await.expect_problem(401);
    }

    async fn integration_clients_are_revocable_and_their_secret_is_shown_once(app: TestApp) {
        let c = app.county("445302", "县445302", "district").await;
        let (id, client_id, secret) = make_client(&app, c).await;
        let listed = app.get(&format!("/api/v1/clients/{id}")).await.expect(200);
        assert!(listed.body.get("client_secret").is_none(), "the secret is never shown again");
        assert!(!listed.raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
        let token = client_token(&app, &client_id, &secret).await.expect(200);
        assert!(token.body.get("refresh_token").is_none(), "client credentials get no refresh token");
        let access = token.body["access_token"].as_str().expect("token").to_string();
        assert!(app.get(&format!("/api/v1/clients/{id}")).await.body["last_used_at"].is_string());

        let rotated = app.post(&format!("/api/v1/clients/{id}/rotate-secret"), &json!({})).await.expect(200);
        let new_secret = rotated.body["client_secret"].as_str().expect("secret").to_string();
        app.get_as(&access, "/api/v1/me").await.expect_problem(401);
        let old = client_token(&app, &client_id, &secret).await.expect(401);
        assert_eq!(old.body["error"], "invalid_client");
        let access = client_token(&app, &client_id, &new_secret).await.expect(200).body["access_token"].as_str().expect("t").to_string();
        app.patch(&format!("/api/v1/clients/{id}"), Some("\"2\""), &json!({"active": false})).await.expect(200);
        app.get_as(&access, "/api/v1/me").await.expect_problem(401);
        client_token(&app, &client_id, &new_secret).await.expect(401);
    }

    async fn failed_logins_are_limited_per_username_and_look_the_same_for_unknown_names(app: TestApp) {
        let req = app
            .request_anonymous(Method::POST, "/api/v1/auth/token")
            .insert_header(("content-type", "application/x-www-form-urlencoded"));
        let malformed = app.send(req, Some(b"username=x".to_vec())).await.expect(400);
        assert_eq!(malformed.body["error"], "invalid_request", "RFC 6749 errors, even for a bad form");
        let unknown = app.login("nobody.here", "wrong password!!").await.expect(400);
        let wrong = app.login("bureau.admin", "wrong password!!").await.expect(400);
        assert_eq!(unknown.body, wrong.body, "no hint whether the username exists");
        for _ in 0..4 {
            app.login("bureau.admin", "wrong password!!").await.expect(400);
        }
        let limited = app.login("bureau.admin", PASSWORD).await.expect_problem(429);
        assert!(limited.header("retry-after").and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s > 0));
        // Another username is not affected.
        app.user_token("other.person", "viewer", None).await;
    }

    async fn users_are_validated_and_their_passwords_never_shown(app: TestApp) {
        let r = app
            .post("/api/v1/users", &json!({"username": "x", "display_name": "", "role": "county_officer", "password": "short"}))
            .await
            .expect_problem(422);
        let mut fields = r.error_fields();
        fields.sort();
        assert_eq!(fields, vec!["county_id", "display_name", "password", "username"]);
        let created = app
            .post("/api/v1/users", &json!({"username": "Wang.Fang", "display_name": "王芳", "role": "viewer", "password": PASSWORD}))
            .await
            .expect(201);
        assert_eq!(created.body["username"], "wang.fang");
        let text = String::from_utf8_lossy(&created.raw).to_string();
        assert!(!text.contains("password") && !text.contains("argon2"));
        app.post("/api/v1/users", &json!({"username": "WANG.FANG", "display_name": "又一个", "role": "viewer", "password": PASSWORD}))
            .await
            .expect_problem(409);
    }
}

#[test]
fn the_first_admin_is_made_from_the_command_line_with_the_password_kept_out_of_argv() {
    let dir = std::env::temp_dir().join(format!("sb_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("cli.db");
    let run = |args: &[&str], password: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shuangbai"));
        cmd.args(args)
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env_remove("SHUANGBAI_PASSWORD")
            .env("RUST_LOG", "warn");
        if let Some(pw) = password {
            cmd.env("SHUANGBAI_PASSWORD", pw);
        }
        cmd.output().expect("runs")
    };
    let added = run(
        &["user", "add", "City.Admin", "--role", "admin"],
        Some(PASSWORD),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let short = run(&["user", "add", "second", "--role", "admin"], Some("short"));
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
    let listed = run(&["user", "list"], None);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(out.contains("city.admin") && out.contains("admin") && !out.contains("second"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn b64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let vals: Vec<u32> = s
        .bytes()
        .filter_map(|c| A.iter().position(|a| *a == c).map(|p| p as u32))
        .collect();
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | v << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i) & 255) as u8);
        }
    }
    out
}
