//! The committed spec is the contract: it must be what the code generates.

use serde_json::Value;

const COMMITTED: &str = "openapi/openapi.json";
const REGENERATE: &str = "cargo run -- openapi > openapi/openapi.json";

#[test]
fn the_committed_spec_is_what_the_code_generates() {
    let generated = shuangbai::startup::openapi_json();
    if std::env::var_os("SHUANGBAI_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).expect("write the spec");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        generated == committed,
        "{COMMITTED} differs from the spec generated from the code's annotations; \
         regenerate it with `{REGENERATE}` (or `SHUANGBAI_UPDATE_OPENAPI=1 cargo test spec`) and commit it"
    );
}

on_both_backends! {
    async fn the_served_spec_is_the_committed_one(app: TestApp) {
        let served = app.get("/openapi.json").await.expect(200).body;
        let committed: Value =
            serde_json::from_str(&std::fs::read_to_string(COMMITTED).expect("committed spec"))
                .expect("json");
        assert_eq!(served, committed);
    }
}

#[test]
fn enumerations_in_the_spec_are_the_lower_case_words_the_api_takes() {
    let spec = serde_json::to_value(shuangbai::startup::openapi()).expect("spec");
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "CountyKind",
        "FundingStage",
        "FundingAction",
        "TrainingKind",
    ] {
        let words = schemas[name]["enum"].as_array().expect("enum");
        for w in words {
            let w = w.as_str().expect("word");
            assert_eq!(w, w.to_lowercase(), "{name}: {w}");
        }
    }
    assert_eq!(
        schemas["FundingStage"]["enum"][0], "estimating",
        "the words the API takes"
    );
}

fn spec() -> Value {
    serde_json::to_value(shuangbai::startup::openapi()).expect("spec")
}

#[test]
fn list_items_refer_to_the_items_own_schema() {
    let spec = spec();
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    let pages: Vec<&String> = schemas.keys().filter(|k| k.starts_with("Page_")).collect();
    assert!(pages.len() >= 10);
    for page in pages {
        let items = &schemas[page]["properties"]["items"]["items"];
        let item = page.trim_start_matches("Page_");
        assert_eq!(
            items["$ref"],
            format!("#/components/schemas/{item}"),
            "{page}"
        );
        assert!(schemas.contains_key(item), "{item} is a schema of its own");
    }
}

#[test]
fn json_operations_declare_json_only_and_exports_declare_binary_files() {
    let spec = spec();
    for path in [
        "/api/v1/reports/progress",
        "/api/v1/reports/progress/snapshots/{id}",
    ] {
        let op = &spec["paths"][path]["get"];
        let content = op["responses"]["200"]["content"]
            .as_object()
            .expect("content");
        assert_eq!(
            content.keys().collect::<Vec<_>>(),
            vec!["application/json"],
            "{path}"
        );
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(!params.contains(&"format"), "{path} declares no format");
    }
    for path in [
        "/api/v1/reports/progress/export",
        "/api/v1/reports/progress/snapshots/{id}/export",
    ] {
        let content = spec["paths"][path]["get"]["responses"]["200"]["content"]
            .as_object()
            .expect("content");
        assert_eq!(content.len(), 2, "{path}");
        for (media, body) in content {
            assert_eq!(
                body["schema"],
                serde_json::json!({"type": "string", "format": "binary"}),
                "{path} {media}"
            );
        }
    }
}

on_both_backends! {
    async fn every_sort_key_the_spec_declares_is_accepted_and_no_other(app: TestApp) {
        let spec = spec();
        let mut checked = 0;
        for (path, item) in spec["paths"].as_object().expect("paths") {
            let Some(op) = item.get("get") else { continue };
            let Some(sort) = op["parameters"].as_array().into_iter().flatten().find(|p| p["name"] == "sort") else { continue };
            let pattern = sort["schema"]["pattern"].as_str().unwrap_or_else(|| panic!("{path}: sort has a pattern"));
            // ^-?(a|b|c)(,-?(a|b|c))*$
            let keys = pattern.trim_start_matches("^-?(").split(')').next().expect("keys");
            for key in keys.split('|') {
                app.get(&format!("{path}?sort={key}")).await.expect(200);
                app.get(&format!("{path}?sort=-{key}")).await.expect(200);
                checked += 1;
            }
            app.get(&format!("{path}?sort=not_a_key")).await.expect_problem(422);
            // Each key once: a sort repeating keys thousands of times is refused at once.
            let all: Vec<&str> = keys.split('|').collect();
            app.get(&format!("{path}?sort={}", all.join(","))).await.expect(200);
            let repeated = vec![all[0]; 3000].join(",");
            let started = std::time::Instant::now();
            app.get(&format!("{path}?sort={repeated}")).await.expect_problem(422);
            assert!(started.elapsed() < std::time::Duration::from_secs(2), "{path}: a long sort is refused quickly");
        }
        assert!(checked > 20, "sort keys checked: {checked}");
    }

    async fn docs_redirect_to_the_page_and_the_page_asks_no_outside_validator(app: TestApp) {
        let plain = awc::Client::builder().disable_redirects().finish();
        let r = plain.get(app.url("/docs")).send().await.expect("sent");
        assert_eq!(r.status().as_u16(), 308);
        assert_eq!(r.headers().get("location").and_then(|v| v.to_str().ok()), Some("/docs/"));
        app.get("/docs/").await.expect(200);
        let init = app.get("/docs/swagger-initializer.js").await.expect(200);
        let text = String::from_utf8(init.raw).expect("utf-8");
        assert!(text.contains("\"validatorUrl\": \"none\"") || text.contains("\"validatorUrl\":\"none\""), "{text}");
    }
}
