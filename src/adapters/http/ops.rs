//! Health probes.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use super::dto::{HealthBody, HealthStatus};
use crate::domain::service::{MessageService, Readiness};

/// Liveness and readiness.
pub struct OpsApi {
    service: MessageService,
}

impl OpsApi {
    /// Probes `service`.
    pub fn new(service: MessageService) -> Self {
        Self { service }
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
}
