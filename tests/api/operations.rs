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
