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
    Admin,
    /// Admins anywhere; county officers and integration clients in their own county only.
    CountyWrite,
}

/// The matrix: every operation of the spec must have an entry, or the test fails.
fn rule(operation: &str) -> Option<Rule> {
    Some(match operation {
        "healthz" | "readyz" | "get_metrics" | "issue_token" => Rule::Public,
        "me"
        | "revoke"
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
        | "get_training" => Rule::Read,
        "create_county"
        | "delete_county"
        | "list_users"
        | "create_user_route"
        | "get_user"
        | "update_user"
        | "list_clients"
        | "create_client"
        | "get_client"
        | "update_client"
        | "rotate_client_secret"
        | "publish_snapshot"
        | "withdraw_snapshot"
        | "list_audit_events" => Rule::Admin,
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

struct World {
    own_county: i64,
    other_county: i64,
    own_town: i64,
    other_town: i64,
    own_site: i64,
    other_site: i64,
    own_staff: (i64, i64),
    other_staff: (i64, i64),
    own_funding: i64,
    other_funding: i64,
    own_training: i64,
    other_training: i64,
    some_user: i64,
    some_client: i64,
    snapshot: i64,
    officer: String,
    integration_user: String,
    client: String,
    viewer: String,
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

async fn world(app: &TestApp) -> World {
    let own_county = app.county("445302", "县445302", "district").await;
    let other_county = app.county("445303", "县445303", "district").await;
    app.county("445300", "县445300", "city_level").await;
    let town = |county_id: i64, code: &'static str| async move {
        app.post("/api/v1/towns", &json!({"county_id": county_id, "name": format!("镇{code}"), "code": code, "kind": "town"}))
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .expect("id")
    };
    let own_town = town(own_county, "445302101").await;
    let other_town = town(other_county, "445303101").await;
    let site = |town_id: i64| async move {
        app.post("/api/v1/stations", &json!({"kind": "station", "town_id": town_id, "name": "社工站", "ref": "ST-1", "planned_on": "2021-01-04"}))
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .expect("id")
    };
    let funding = |county_id: i64| async move {
        app.post(
            "/api/v1/funding-requests",
            &json!({"county_id": county_id, "fiscal_year": 2021, "title": "社工站经费"}),
        )
        .await
        .expect(201)
        .body["id"]
            .as_i64()
            .expect("id")
    };
    let own_funding = funding(own_county).await;
    let other_funding = funding(other_county).await;
    let training = |county_id: i64| async move {
        app.post("/api/v1/trainings", &json!({"county_id": county_id, "kind": "pre_job", "title": "岗前培训", "held_on": "2021-03-01"}))
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .expect("id")
    };
    let own_site = site(own_town).await;
    let other_site = site(other_town).await;
    let person = |county_id: i64, site_id: i64| async move {
        let id = app
            .post("/api/v1/staff", &json!({"county_id": county_id, "name": "社工", "gender": "male", "certification": "none", "hired_via": "other", "ref": "P-1"}))
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .expect("id");
        let posting = app
            .post(
                &format!("/api/v1/staff/{id}/postings"),
                &json!({"station_id": site_id, "role": "social_worker", "from": "2021-02-01"}),
            )
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .expect("id");
        (id, posting)
    };
    let own_staff = person(own_county, own_site).await;
    let other_staff = person(other_county, other_site).await;
    let own_training = training(own_county).await;
    let other_training = training(other_county).await;
    let officer = app
        .user_token("officer.own", "county_officer", Some(own_county))
        .await;
    let integration_user = app
        .user_token("script.own", "integration", Some(own_county))
        .await;
    let viewer = app.user_token("leader", "viewer", None).await;
    app.user_token("someone", "viewer", None).await;
    let some_user = app.get("/api/v1/users?limit=500").await.body["items"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "someone")
        .and_then(|u| u["id"].as_i64())
        .expect("someone");
    let (_, client_id, secret) = make_client(app, own_county).await;
    let client = client_token(app, &client_id, &secret)
        .await
        .expect(200)
        .body["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let (some_client, _, _) = make_client(app, other_county).await;
    let snapshot = app
        .post(
            "/api/v1/reports/progress/snapshots",
            &json!({"as_of": "2021-06-09", "title": "简报", "issuing_unit": "市民政局"}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .expect("id");
    World {
        own_county,
        other_county,
        own_town,
        other_town,
        own_site,
        other_site,
        own_staff,
        other_staff,
        own_funding,
        other_funding,
        own_training,
        other_training,
        some_user,
        some_client,
        snapshot,
        officer,
        integration_user,
        client,
        viewer,
    }
}

/// A concrete path and a plausible body for an operation, aimed at the own or the other county.
fn request_for(w: &World, operation: &str, path: &str, own: bool) -> (String, Option<Value>) {
    let county = if own { w.own_county } else { w.other_county };
    let town = if own { w.own_town } else { w.other_town };
    let id = if path.starts_with("/api/v1/counties/") {
        county
    } else if path.starts_with("/api/v1/towns/") {
        town
    } else if path.starts_with("/api/v1/stations/") {
        if own {
            w.own_site
        } else {
            w.other_site
        }
    } else if path.starts_with("/api/v1/staff/") {
        if own {
            w.own_staff.0
        } else {
            w.other_staff.0
        }
    } else if path.starts_with("/api/v1/funding-requests/") {
        if own {
            w.own_funding
        } else {
            w.other_funding
        }
    } else if path.starts_with("/api/v1/trainings/") {
        if own {
            w.own_training
        } else {
            w.other_training
        }
    } else if path.starts_with("/api/v1/reports/") {
        w.snapshot
    } else if path.starts_with("/api/v1/users/") {
        w.some_user
    } else {
        w.some_client
    };
    let code = if own { "445302" } else { "445303" };
    let body = match operation {
        "create_county" => {
            Some(json!({"division_code": "445381", "name": "罗定市", "kind": "county_city"}))
        }
        "update_county" => Some(json!({"name": "改名"})),
        "create_plan_change" => Some(json!({"stage": "drafting", "effective_on": "2021-01-01"})),
        "create_town" => Some(
            json!({"county_id": county, "name": "新镇", "code": format!("{code}199"), "kind": "town"}),
        ),
        "update_town" => Some(json!({"name": "新名"})),
        "create_station" => Some(
            json!({"kind": "point", "town_id": town, "station_id": if own { w.own_site } else { w.other_site }, "village": "某村", "name": "社工点", "ref": "PT-X", "planned_on": "2021-02-01"}),
        ),
        "update_station" => Some(json!({"name": "新名"})),
        "create_staff" => Some(
            json!({"county_id": county, "name": "新社工", "gender": "female", "certification": "social_worker", "hired_via": "public_exam", "ref": "P-NEW"}),
        ),
        "update_staff" => Some(json!({"name": "新名"})),
        "create_posting" => Some(
            json!({"station_id": if own { w.own_site } else { w.other_site }, "role": "social_worker", "from": "2021-03-01"}),
        ),
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
            json!({"username": "new.user", "display_name": "x", "role": "viewer", "password": PASSWORD}),
        ),
        "update_user" => Some(json!({"display_name": "改名"})),
        "create_client" => Some(json!({"name": "脚本", "county_id": county})),
        "update_client" => Some(json!({"name": "改名"})),
        "revoke" => Some(json!({"token": "not-a-token"})),
        "publish_snapshot" => {
            Some(json!({"as_of": "2021-06-09", "title": "简报", "issuing_unit": "市民政局"}))
        }
        "withdraw_snapshot" => Some(json!({"reason": "测试"})),
        "issue_token" => Some(json!({"grant_type": "password"})),
        _ => None,
    };
    let posting = if own { w.own_staff.1 } else { w.other_staff.1 };
    let path = path
        .replace("{id}", &id.to_string())
        .replace("{posting_id}", &posting.to_string());
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
            for own in [true, false] {
                let (url, body) = request_for(&w, op, path, own);
                let anonymous = call(&app, None, method, &url, body.as_ref()).await;
                if rule == Rule::Public {
                    assert!(!matches!(anonymous.status, 401 | 403), "{op} is public: {}", anonymous.status);
                    continue;
                }
                assert_eq!(anonymous.status, 401, "{method} {url} without a token");
                assert_eq!(anonymous.header("www-authenticate").as_deref(), Some("Bearer"));

                let allowed = |who: &str| match rule {
                    Rule::Public | Rule::Read => true,
                    Rule::Admin => who == "admin",
                    Rule::CountyWrite => who == "admin" || (own && who != "viewer"),
                };
                // Refused callers first, so nothing allowed has changed the world before them.
                let callers = [
                    ("viewer", w.viewer.as_str()),
                    ("officer", w.officer.as_str()),
                    ("integration user", w.integration_user.as_str()),
                    ("integration client", w.client.as_str()),
                    ("admin", app.admin_token.as_str()),
                ];
                for (who, token) in callers {
                    let r = call(&app, Some(token), method, &url, body.as_ref()).await;
                    if allowed(who) {
                        assert!(!matches!(r.status, 401 | 403), "{who} may {method} {url} ({op}); got {}: {}", r.status, r.body);
                    } else {
                        assert_eq!(r.status, 403, "{who} may not {method} {url} ({op}): {}", r.body);
                    }
                }
            }
        }
    }

    async fn a_county_officer_writes_only_their_own_county(app: TestApp) {
        let w = world(&app).await;
        let own = app
            .post_as(&w.officer, "/api/v1/towns", &json!({"county_id": w.own_county, "name": "本县新镇", "code": "445302150", "kind": "town"}))
            .await
            .expect(201);
        assert_eq!(own.body["county_id"], w.own_county);
        app.post_as(&w.officer, "/api/v1/towns", &json!({"county_id": w.other_county, "name": "外县新镇", "code": "445303150", "kind": "town"}))
            .await
            .expect_problem(403);
        assert_eq!(app.get_as(&w.viewer, "/api/v1/towns").await.expect(200).body["total"], 3);
        let me = app.get_as(&w.client, "/api/v1/me").await.expect(200);
        assert_eq!(me.body["kind"], "client");
        assert_eq!(me.body["role"], "integration");
        assert_eq!(me.body["county_id"], w.own_county);
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
