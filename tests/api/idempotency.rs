//! Idempotency keys: a retried POST applies once and answers the same; another body with the
//! same key is refused; racing retries apply once; keys are per caller; secret routes ignore them.

use awc::http::Method;
use serde_json::{json, Value};

use crate::helpers::{Resp, TestApp};

pub async fn keyed_post(app: &TestApp, token: &str, path: &str, key: &str, body: &Value) -> Resp {
    let req = app
        .request_as(Some(token), Method::POST, path)
        .insert_header(("idempotency-key", key))
        .insert_header(("content-type", "application/json"));
    app.send(req, Some(body.to_string().into_bytes())).await
}

async fn towns(app: &TestApp) -> i64 {
    app.get("/api/v1/towns").await.expect(200).body["total"]
        .as_i64()
        .expect("total")
}

on_both_backends! {
    async fn a_retry_with_the_same_key_replays_the_first_answer(app: TestApp) {
        let county_id = app.county("445302", "云城区", "district").await;
        let body = json!({"county_id": county_id, "name": "腰古镇", "code": "445302104", "kind": "town"});
        let token = app.admin_token.clone();
        let first = keyed_post(&app, &token, "/api/v1/towns", "retry-1", &body).await.expect(201);
        assert!(first.header("idempotent-replayed").is_none());
        let second = keyed_post(&app, &token, "/api/v1/towns", "retry-1", &body).await.expect(201);
        assert_eq!(second.header("idempotent-replayed").as_deref(), Some("true"));
        assert_eq!(second.raw, first.raw, "the same body, byte for byte");
        assert_eq!(second.header("location"), first.header("location"));
        assert!(first.header("location").is_some());
        assert_eq!(second.header("etag"), first.header("etag"));
        assert_eq!(second.header("content-type"), first.header("content-type"));
        assert_ne!(second.header("x-request-id"), first.header("x-request-id"), "a new request has its own id");
        assert_eq!(towns(&app).await, 1, "applied once");

        // A refusal is replayed too: the same 422 for the same body.
        let bad = json!({"county_id": county_id, "name": "", "code": "445302105", "kind": "town"});
        let refused = keyed_post(&app, &token, "/api/v1/towns", "retry-2", &bad).await.expect_problem(422);
        let again = keyed_post(&app, &token, "/api/v1/towns", "retry-2", &bad).await.expect_problem(422);
        assert_eq!(again.raw, refused.raw);
        assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
        // The audit trail has the one creation.
        assert_eq!(app.get("/api/v1/audit-events?entity=town").await.body["total"], 1);
    }

    async fn the_same_key_with_another_body_is_refused(app: TestApp) {
        let county_id = app.county("445302", "云城区", "district").await;
        let token = app.admin_token.clone();
        let body = json!({"county_id": county_id, "name": "腰古镇", "code": "445302104", "kind": "town"});
        keyed_post(&app, &token, "/api/v1/towns", "k-1", &body).await.expect(201);
        let other = json!({"county_id": county_id, "name": "河口镇", "code": "445302105", "kind": "town"});
        let r = keyed_post(&app, &token, "/api/v1/towns", "k-1", &other).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["Idempotency-Key"]);
        assert_eq!(towns(&app).await, 1);
        // The same key on another path is another key.
        keyed_post(&app, &token, "/api/v1/trainings", "k-1", &json!({"county_id": county_id, "kind": "pre_job", "title": "岗前培训", "held_on": "2021-03-01"}))
            .await
            .expect(201);
        // Malformed keys are a 400.
        keyed_post(&app, &token, "/api/v1/towns", "has space", &other).await.expect_problem(400);
        keyed_post(&app, &token, "/api/v1/towns", &"x".repeat(256), &other).await.expect_problem(400);
        assert_eq!(towns(&app).await, 1);
    }

    async fn racing_retries_apply_once(app: TestApp) {
        let county_id = app.county("445302", "云城区", "district").await;
        let token = app.admin_token.clone();
        for round in 0..3 {
            let body = json!({"county_id": county_id, "name": format!("镇{round}"), "code": format!("44530210{round}"), "kind": "town"});
            let key = format!("race-{round}");
            let (a, b) = futures_util::future::join(
                keyed_post(&app, &token, "/api/v1/towns", &key, &body),
                keyed_post(&app, &token, "/api/v1/towns", &key, &body),
            )
            .await;
            let (a, b) = (a.expect(201), b.expect(201));
            assert_eq!(a.body["id"], b.body["id"], "both answers name the same town");
            let replayed = [&a, &b].iter().filter(|r| r.header("idempotent-replayed").is_some()).count();
            assert_eq!(replayed, 1, "one applied, one replayed");
        }
        assert_eq!(towns(&app).await, 3);
    }

    async fn keys_are_per_caller_and_secret_routes_ignore_them(app: TestApp) {
        let county_id = app.county("445302", "云城区", "district").await;
        let officer = app.user_token("officer", "county_officer", Some(county_id)).await;
        let token = app.admin_token.clone();
        let mine = json!({"county_id": county_id, "name": "腰古镇", "code": "445302104", "kind": "town"});
        let theirs = json!({"county_id": county_id, "name": "河口镇", "code": "445302105", "kind": "town"});
        let a = keyed_post(&app, &token, "/api/v1/towns", "shared-key", &mine).await.expect(201);
        let b = keyed_post(&app, &officer, "/api/v1/towns", "shared-key", &theirs).await.expect(201);
        assert!(b.header("idempotent-replayed").is_none());
        assert_ne!(a.body["id"], b.body["id"]);
        assert_eq!(towns(&app).await, 2);

        let client = json!({"name": "脚本", "county_id": county_id});
        let c1 = keyed_post(&app, &token, "/api/v1/clients", "client-key", &client).await.expect(201);
        let c2 = keyed_post(&app, &token, "/api/v1/clients", "client-key", &client).await.expect(201);
        assert!(c2.header("idempotent-replayed").is_none());
        assert_ne!(c1.body["client"]["id"], c2.body["client"]["id"], "two clients created");
        assert_ne!(c1.body["client_secret"], c2.body["client_secret"]);
        // Without a token the key does not matter: 401.
        let req = app
            .request_anonymous(Method::POST, "/api/v1/towns")
            .insert_header(("idempotency-key", "anon"))
            .insert_header(("content-type", "application/json"));
        app.send(req, Some(mine.to_string().into_bytes())).await.expect_problem(401);
    }
}
