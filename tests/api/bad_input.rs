//! Bad input, as an attacker or a careless script sends it, derived from the spec: every text
//! field and query parameter with a NUL character, arrays where objects belong, wrong types and
//! nulls for every enumeration, absurd dates, methods a path does not offer. Each answer is a
//! problem+json naming the field, never a 5xx, and nothing is written.

use awc::http::Method;
use serde_json::{json, Map, Value};

use crate::helpers::{Resp, TestApp};

fn spec() -> Value {
    serde_json::to_value(shuangbai::startup::openapi()).expect("spec")
}

/// Follows a `$ref` (and an `Option`'s `oneOf: [null, T]`) to the schema itself.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        return resolve(spec, &spec["components"]["schemas"][name]);
    }
    if let Some(Value::Array(options)) = schema.get("oneOf") {
        if let Some(other) = options
            .iter()
            .find(|o| o.get("type") != Some(&json!("null")))
        {
            return resolve(spec, other);
        }
    }
    schema
}

/// A concrete path for a template: every `{param}` is 1.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every operation with a JSON request body: (method, path, the body's object schema).
fn json_bodies(spec: &Value) -> Vec<(Method, String, Value)> {
    let mut out = Vec::new();
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
                continue;
            };
            let schema = resolve(spec, schema).clone();
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            out.push((method, concrete(template), schema));
        }
    }
    out
}

async fn send_json(app: &TestApp, method: Method, path: &str, body: &[u8]) -> Resp {
    let req = app
        .request(method, path)
        .insert_header(("content-type", "application/json"))
        .insert_header(("if-match", "\"1\""));
    app.send(req, Some(body.to_vec())).await
}

async fn audit_total(app: &TestApp) -> i64 {
    app.get("/api/v1/audit-events?limit=1")
        .await
        .expect(200)
        .body["total"]
        .as_i64()
        .expect("total")
}

on_both_backends! {
    async fn a_nul_character_in_any_text_field_or_query_parameter_is_a_422_naming_it(app: TestApp) {
        app.county("445302", "云城区", "district").await;
        let spec = spec();
        let before = audit_total(&app).await;
        let mut checked = 0;
        for (method, path, schema) in json_bodies(&spec) {
            let Some(props) = schema["properties"].as_object() else { continue };
            for (name, prop) in props {
                let prop = resolve(&spec, prop);
                if prop.get("type") != Some(&json!("string")) {
                    continue;
                }
                let body = json!({ name.as_str(): "a\u{0}b" }).to_string();
                let r = send_json(&app, method.clone(), &path, body.as_bytes()).await;
                let r = r.expect_problem(422);
                assert!(r.error_fields().contains(name), "{method} {path} {name}: {:?}", r.body);
                checked += 1;
            }
        }
        assert!(checked > 30, "text fields checked: {checked}");

        let mut params = 0;
        for (template, item) in spec["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                for param in op["parameters"].as_array().into_iter().flatten() {
                    if param["in"] != "query" {
                        continue;
                    }
                    let name = param["name"].as_str().expect("name");
                    let path = format!("{}?{name}=x%00y", concrete(template));
                    let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                    let req = app.request(method.clone(), &path).insert_header(("content-type", "application/json"));
                    let r = app.send(req, Some(b"{}".to_vec())).await.expect_problem(422);
                    assert_eq!(r.error_fields(), vec![name.to_string()], "{method} {path}");
                    params += 1;
                }
            }
        }
        assert!(params > 20, "query parameters checked: {params}");

        // The token endpoint answers in RFC 6749's words, form-encoded and JSON alike.
        for body in ["grant_type=password&username=a%00b&password=x", "grant_type=client_credentials&client_id=a%00b&client_secret=x"] {
            let req = app.request_anonymous(Method::POST, "/api/v1/auth/token").insert_header(("content-type", "application/x-www-form-urlencoded"));
            let r = app.send(req, Some(body.as_bytes().to_vec())).await.expect(400);
            assert_eq!(r.body["error"], "invalid_request", "{body}");
        }
        let req = app.request_anonymous(Method::POST, "/api/v1/auth/token").insert_header(("content-type", "application/json"));
        let r = app.send(req, Some(br#"{"grant_type": "password", "username": "a\u0000b", "password": "x"}"#.to_vec())).await.expect(400);
        assert_eq!(r.body["error"], "invalid_request");
        assert_eq!(audit_total(&app).await, before, "nothing written");
    }

    async fn an_array_where_an_object_belongs_is_a_422_and_changes_nothing(app: TestApp) {
        app.county("445302", "云城区", "district").await;
        let spec = spec();
        let before = audit_total(&app).await;
        let mut checked = 0;
        for (method, path, schema) in json_bodies(&spec) {
            if schema.get("properties").is_none() {
                continue;
            }
            let r = send_json(&app, method.clone(), &path, br#"[1, "pre_job", "x", "2021-03-01"]"#).await;
            let r = r.expect_problem(422);
            assert_eq!(r.error_fields(), vec!["/"], "{method} {path}");
            checked += 1;
        }
        assert!(checked > 15, "bodies checked: {checked}");
        // A batch sent as [] is no empty batch.
        send_json(&app, Method::POST, "/api/v1/counties/1/updates", b"[]").await.expect_problem(422);
        // An array for a nested object too.
        let r = app.post("/api/v1/counties", &json!({"division_code": "445303", "name": "云安区", "kind": "district", "plan_status": ["issued", "2021-03-01"]})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["plan_status"]);
        assert_eq!(audit_total(&app).await, before, "nothing written");
    }

    async fn a_wrong_type_or_null_for_an_enumeration_is_a_422_naming_the_field_and_its_words(app: TestApp) {
        app.county("445302", "云城区", "district").await;
        let spec = spec();
        let mut checked = 0;
        for (method, path, schema) in json_bodies(&spec) {
            let Some(props) = schema["properties"].as_object() else { continue };
            let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            for (name, prop) in props {
                let prop = resolve(&spec, prop);
                let Some(words) = prop.get("enum").and_then(Value::as_array) else { continue };
                let mut wrong: Vec<Value> = vec![json!(1), json!({}), json!([])];
                if required.contains(&name.as_str()) {
                    wrong.push(Value::Null);
                }
                for value in wrong {
                    let mut body = Map::new();
                    body.insert(name.clone(), value.clone());
                    let r = send_json(&app, method.clone(), &path, Value::Object(body).to_string().as_bytes()).await;
                    let r = r.expect_problem(422);
                    assert!(r.error_fields().contains(name), "{method} {path} {name}={value}: {:?}", r.body);
                    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default().to_string();
                    let first = words[0].as_str().expect("word");
                    assert!(message.contains(first), "{method} {path} {name}={value}: the message names the words: {message}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "enumerations checked: {checked}");
        // Only a body that is not JSON at all is a 400.
        send_json(&app, Method::POST, "/api/v1/trainings", b"{\"county_id\": ").await.expect_problem(400);
    }

    async fn business_dates_run_from_2000_to_today(app: TestApp) {
        app.county("445302", "云城区", "district").await;
        let before = audit_total(&app).await;
        for date in ["0000-01-01", "-0001-01-01", "1999-12-31", "9999-12-31"] {
            let r = app.post("/api/v1/trainings", &json!({"county_id": 1, "kind": "pre_job", "title": "岗前培训", "held_on": date})).await;
            let r = r.expect_problem(422);
            assert_eq!(r.error_fields(), vec!["held_on"], "{date}");
            let r = app.post("/api/v1/funding-requests", &json!({"county_id": 1, "fiscal_year": 2021, "title": "申请", "effective_on": date})).await.expect_problem(422);
            assert!(r.error_fields().contains(&"effective_on".to_string()), "{date}: {:?}", r.body);
            let r = app.post("/api/v1/counties", &json!({"division_code": "445303", "name": "云安区", "kind": "district", "coordination_established_on": date})).await.expect_problem(422);
            assert_eq!(r.error_fields(), vec!["coordination_established_on"], "{date}");
        }
        assert_eq!(audit_total(&app).await, before, "nothing written");
        app.post("/api/v1/trainings", &json!({"county_id": 1, "kind": "pre_job", "title": "岗前培训", "held_on": "2000-01-01"})).await.expect(201);
    }

    async fn a_method_a_path_does_not_offer_is_405_with_allow(app: TestApp) {
        let spec = spec();
        let mut checked = 0;
        for (template, item) in spec["paths"].as_object().expect("paths") {
            let offered: Vec<String> = item.as_object().expect("item").keys().map(|m| m.to_uppercase()).collect();
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE"] {
                if offered.iter().any(|m| m == method) {
                    continue;
                }
                let path = concrete(template);
                let req = app.request(Method::from_bytes(method.as_bytes()).expect("method"), &path);
                let r = app.send(req, None).await.expect_problem(405);
                let allow = r.header("allow").expect("Allow");
                let mut allowed: Vec<&str> = allow.split(", ").collect();
                allowed.sort();
                let mut expected: Vec<&str> = offered.iter().map(String::as_str).collect();
                expected.sort();
                assert_eq!(allowed, expected, "{method} {path}");
                checked += 1;
            }
        }
        assert!(checked > 100, "methods checked: {checked}");
        app.get("/api/v1/nowhere").await.expect_problem(404);
    }

    async fn made_up_methods_add_no_metrics_series(app: TestApp) {
        let series = |text: &str| text.lines().filter(|l| l.starts_with("shuangbai_http_requests_total{")).count();
        // Warm up: the series for the requests below, once.
        let req = app.request(Method::from_bytes(b"XWARMUP").expect("method"), "/api/v1/counties/0");
        app.send(req, None).await;
        app.get("/metrics").await.expect(200);
        let before = series(&String::from_utf8(app.get("/metrics").await.raw).expect("utf-8"));
        for i in 0..1000 {
            let method = format!("X{i:05}A");
            let req = app.request_anonymous(Method::from_bytes(method.as_bytes()).expect("method"), "/api/v1/counties/0");
            let r = app.send(req, None).await;
            assert!(r.status < 500);
        }
        let after = series(&String::from_utf8(app.get("/metrics").await.raw).expect("utf-8"));
        assert_eq!(after, before, "no new series");
    }

    async fn every_answer_carries_the_security_headers_and_personal_data_is_never_stored(app: TestApp) {
        for path in ["/api/v1/counties", "/api/v1/nowhere", "/healthz", "/openapi.json"] {
            let r = app.get(path).await;
            assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
            assert_eq!(r.header("content-security-policy").as_deref(), Some("default-src 'none'; frame-ancestors 'none'"), "{path}");
            assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"), "{path}");
        }
        let docs = app.get("/docs/").await;
        let csp = docs.header("content-security-policy").expect("docs CSP");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(docs.header("x-content-type-options").as_deref(), Some("nosniff"));
        for path in ["/api/v1/staff", "/api/v1/me", "/api/v1/users", "/api/v1/audit-events", "/api/v1/%73taff", "/api/v1/%6De"] {
            let r = app.get(path).await.expect(200);
            assert_eq!(r.header("cache-control").as_deref(), Some("no-store"), "{path}");
        }
        let r = app.login(crate::helpers::ADMIN, crate::helpers::PASSWORD).await.expect(200);
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    }

    async fn errors_raised_before_a_handler_are_problem_json_too(app: TestApp) {
        // A token request over the body limit.
        let req = app.request_anonymous(Method::POST, "/api/v1/auth/token").insert_header(("content-type", "application/x-www-form-urlencoded"));
        let big = format!("grant_type=password&username={}", "a".repeat(2 << 20));
        let r = app.send(req, Some(big.into_bytes())).await.expect_problem(413);
        assert!(r.body["detail"].is_string());
        // A CORS preflight from an origin not allowed: still refused, as problem+json.
        let req = app
            .request(Method::OPTIONS, "/api/v1/counties")
            .insert_header(("origin", "https://evil.example.com"))
            .insert_header(("access-control-request-method", "POST"));
        let r = app.send(req, None).await;
        assert!(r.header("access-control-allow-origin").is_none());
        let r = r.expect_problem(400);
        assert!(r.body["detail"].is_string());
    }
}
