//! Health probes and metrics.

use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use super::dto::{HealthBody, HealthStatus};
use crate::adapters::metrics::Metrics;
use crate::domain::service::{MessageService, Readiness};

/// Liveness, readiness and metrics.
pub struct OpsApi {
    service: MessageService,
    metrics: Metrics,
}

impl OpsApi {
    /// Probes `service` and exports `metrics`.
    pub fn new(service: MessageService, metrics: Metrics) -> Self {
        Self { service, metrics }
    }
}

/// Answers of the readiness probe.
#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Ready to ingest.
    #[oai(status = 200)]
    Ready(Json<HealthBody>),
    /// Not ready; `reason` says why.
    #[oai(status = 503)]
    NotReady(Json<HealthBody>),
}

#[OpenApi]
impl OpsApi {
    /// Liveness probe
    ///
    /// 200 whenever the process serves HTTP. Map it to a Kubernetes liveness probe.
    #[oai(path = "/health/live", method = "get", tag = "ApiTags::Health")]
    async fn live(&self) -> Json<HealthBody> {
        Json(HealthBody { status: HealthStatus::Ok, reason: None })
    }

    /// Readiness probe
    ///
    /// 200 only when storage answers, its schema is applied and a webhook secret is configured.
    /// Map it to a Kubernetes readiness probe.
    #[oai(path = "/health/ready", method = "get", tag = "ApiTags::Health")]
    async fn ready(&self) -> ReadyResponse {
        match self.service.readiness().await {
            Readiness::Ready => ReadyResponse::Ready(Json(HealthBody { status: HealthStatus::Ready, reason: None })),
            Readiness::NotReady(reason) => {
                ReadyResponse::NotReady(Json(HealthBody { status: HealthStatus::NotReady, reason: Some(reason) }))
            }
        }
    }

    /// Prometheus metrics
    ///
    /// The text exposition format: `http_requests_total`, `webhook_requests_total`,
    /// `request_latency_ms`, `storage_errors_total`, `storage_write_failures_total`,
    /// `storage_write_groups_total`, `storage_write_group_updates_total`, `messages_stored`,
    /// `build_info`.
    #[oai(path = "/metrics", method = "get", tag = "ApiTags::Health")]
    async fn metrics(&self) -> PlainText<String> {
        self.metrics.set_failed_writes(self.service.failed_writes());
        self.metrics.set_committed_groups(self.service.committed_groups());
        let (deleted, bytes) = self.service.storage_use();
        self.metrics.set_storage_use(deleted, bytes);
        match self.service.stats().await {
            Ok(stats) => self.metrics.set_messages_stored(stats.total_messages),
            Err(e) => tracing::warn!(error = %e, "messages_stored not refreshed"),
        }
        PlainText(self.metrics.render())
    }
}
