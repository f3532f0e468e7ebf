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
