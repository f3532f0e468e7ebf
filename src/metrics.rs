//! Prometheus metrics: request counts and latencies by route and status, and pool usage.
//! Kept in process (each instance is scraped on its own), rendered in the text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{get, web, HttpResponse};

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    buckets: [u64; BUCKETS.len() + 1],
}

/// Method, route pattern (never the raw path, so ids do not explode the label set), status.
type Key = (String, String, u16);

#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<Key, Series>>,
}

impl Metrics {
    fn observe(&self, key: Key, seconds: f64) {
        let Ok(mut series) = self.series.lock() else {
            return;
        };
        let s = series.entry(key).or_default();
        s.count += 1;
        s.sum_seconds += seconds;
        let slot = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        s.buckets[slot] += 1;
    }

    fn render(&self, out: &mut String) {
        let Ok(series) = self.series.lock() else {
            return;
        };
        out.push_str(
            "# HELP shuangbai_http_requests_total HTTP requests served, by route and status.\n",
        );
        out.push_str("# TYPE shuangbai_http_requests_total counter\n");
        for ((method, route, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "shuangbai_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str(
            "# HELP shuangbai_http_request_duration_seconds Time to answer, by route and status.\n",
        );
        out.push_str("# TYPE shuangbai_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in series.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i];
                let _ = writeln!(
                    out,
                    "shuangbai_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "shuangbai_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "shuangbai_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "shuangbai_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
    }
}

/// Records every request's route, status and duration.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = method_label(req.method()).to_string();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        let key = (method, route, res.status().as_u16());
        metrics.observe(key, started.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// The method as a label, from a closed set: any other word a client sends is `other`, so
/// made-up methods cannot add series without bound.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Metrics in the Prometheus text format", body = String, content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn get_metrics(state: web::Data<AppState>, metrics: web::Data<Metrics>) -> HttpResponse {
    let mut out = String::new();
    metrics.render(&mut out);
    let pool = state.pool.state();
    out.push_str("# HELP shuangbai_db_pool_connections Database connections by state.\n");
    out.push_str("# TYPE shuangbai_db_pool_connections gauge\n");
    let _ = writeln!(
        out,
        "shuangbai_db_pool_connections{{state=\"idle\"}} {}",
        pool.idle_connections
    );
    let _ = writeln!(
        out,
        "shuangbai_db_pool_connections{{state=\"in_use\"}} {}",
        pool.connections.saturating_sub(pool.idle_connections)
    );
    out.push_str("# HELP shuangbai_db_pool_max_size Most connections the pool holds.\n");
    out.push_str("# TYPE shuangbai_db_pool_max_size gauge\n");
    let _ = writeln!(out, "shuangbai_db_pool_max_size {}", state.pool.max_size());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_cumulative_buckets() {
        let m = Metrics::default();
        let key = ("GET".to_string(), "/healthz".to_string(), 200);
        m.observe(key.clone(), 0.003);
        m.observe(key, 7.0);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "shuangbai_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(out.contains("le=\"0.001\"} 0"));
        assert!(out.contains("le=\"0.005\"} 1"));
        assert!(out.contains("le=\"5\"} 1"));
        assert!(out.contains("le=\"+Inf\"} 2"));
    }
}
