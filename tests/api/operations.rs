on_both_backends! {
    async fn health_and_readiness_answer(app: TestApp) {
        let r = app.get("/healthz").await.expect(200);
        assert_eq!(r.body["status"], "ok");
        app.get("/readyz").await.expect(200);
    }

    async fn every_response_carries_a_request_id_and_unknown_routes_are_problems(app: TestApp) {
        let r = app.get("/api/v1/nowhere").await.expect_problem(404);
        assert!(r.header("x-request-id").is_some_and(|id| id.len() >= 8));
        let req = app
            .request(awc::http::Method::GET, "/healthz")
            .insert_header(("x-request-id", "script-run-0001"));
        let r = app.send(req, None).await.expect(200);
        assert_eq!(r.header("x-request-id").as_deref(), Some("script-run-0001"));
    }
}

on_both_backends! {
    async fn a_get_repeated_with_its_etag_answers_304(app: TestApp) {
        let first = app.get("/api/v1/counties").await.expect(200);
        let tag = first.header("etag").expect("lists carry an ETag");
        let req = app
            .request(awc::http::Method::GET, "/api/v1/counties")
            .insert_header(("if-none-match", tag.as_str()));
        let again = app.send(req, None).await.expect(304);
        assert!(again.raw.is_empty());
        app.post(
            "/api/v1/counties",
            &serde_json::json!({"division_code": "445302", "name": "云城区", "kind": "district"}),
        )
        .await
        .expect(201);
        let req = app
            .request(awc::http::Method::GET, "/api/v1/counties")
            .insert_header(("if-none-match", tag.as_str()));
        let changed = app.send(req, None).await.expect(200);
        assert_ne!(changed.header("etag"), Some(tag), "a changed list has a new ETag");

        // A versioned resource keeps its version ETag, the one If-Match expects.
        let req = app
            .request(awc::http::Method::GET, "/api/v1/counties/1")
            .insert_header(("if-none-match", "\"1\""));
        app.send(req, None).await.expect(304);
    }

    async fn responses_are_compressed_when_asked(app: TestApp) {
        let req = app
            .request(awc::http::Method::GET, "/openapi.json")
            .insert_header(("accept-encoding", "gzip"));
        let r = app.send(req, None).await.expect(200);
        assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    }

    async fn cors_allows_only_the_configured_origins(app: TestApp) {
        let preflight = |origin: &'static str| {
            app.request(awc::http::Method::OPTIONS, "/api/v1/counties")
                .insert_header(("origin", origin))
                .insert_header(("access-control-request-method", "POST"))
        };
        let ok = app.send(preflight("https://front.example.gov.cn"), None).await;
        assert_eq!(
            ok.header("access-control-allow-origin").as_deref(),
            Some("https://front.example.gov.cn")
        );
        let refused = app.send(preflight("https://evil.example.com"), None).await;
        assert!(refused.header("access-control-allow-origin").is_none());
    }

    async fn metrics_count_requests_by_route_and_status(app: TestApp) {
        app.get("/api/v1/counties/77").await.expect(404);
        let r = app.get("/metrics").await.expect(200);
        let text = String::from_utf8(r.raw).expect("utf-8");
        assert!(text.contains(
            "shuangbai_http_requests_total{method=\"GET\",route=\"/api/v1/counties/{id}\",status=\"404\"} 1"
        ), "{text}");
        assert!(text.contains("shuangbai_db_pool_max_size 4"));
        assert!(text.contains("shuangbai_http_request_duration_seconds_bucket"));
    }

    async fn the_docs_page_is_served_without_any_network(app: TestApp) {
        let r = app.get("/docs/").await.expect(200);
        let html = String::from_utf8(r.raw).expect("utf-8");
        assert!(html.contains("swagger-ui"), "the vendored Swagger UI page");
        app.get("/docs/swagger-ui.css").await.expect(200);
    }
}
