//! The HTTP adapter: routes, OpenAPI document, Swagger UI, and the mapping of every error to the
//! bodies CONTRACT.md names.

mod auth;
mod body;
pub mod dto;
pub mod dto_envelope;
pub mod dto_errors;
pub mod dto_message;
pub mod dto_status;
pub mod dto_twilio;
mod export;
mod feed;
mod inbox;
mod messages;
mod observe;
mod ops;
mod problem;
mod stream;
mod twilio;
mod twiml;
mod webhook;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::adapters::metrics::Metrics;
use crate::domain::service::MessageService;
pub use auth::Token;
use dto_errors::StorageUnavailable;
pub use export::ExportApi;
pub use feed::FeedApi;
pub use messages::MessagesApi;
pub use ops::OpsApi;
pub use twilio::TwilioApi;
pub use webhook::WebhookApi;

/// The body of every 401 from the webhook.
pub const INVALID_SIGNATURE: &str = "invalid signature";

/// Groups of operations in the OpenAPI document.
#[derive(Tags)]
enum ApiTags {
    /// Inbound messages from the provider.
    Webhook,
    /// Reading what arrived.
    Messages,
    /// Probes for orchestrators.
    Health,
}

/// What the HTTP layer needs beyond the core.
#[derive(Clone)]
pub struct HttpConfig {
    /// Largest accepted webhook body.
    pub max_body_bytes: usize,
    /// Where request metrics are recorded.
    pub metrics: Metrics,
    /// Bearer token required by `/messages` and `/stats`; `None` leaves them open.
    pub read_api_token: Option<Token>,
    /// Token that enables the WhatsApp subscription handshake on `GET /webhook`.
    pub webhook_verify_token: Option<Token>,
}

type Apis = (WebhookApi, TwilioApi, ExportApi, MessagesApi, FeedApi, OpsApi);

/// The OpenAPI service: the operations and their document.
pub fn openapi(service: &MessageService, config: &HttpConfig) -> OpenApiService<Apis, ()> {
    let apis = (
        WebhookApi::new(service.clone(), config.max_body_bytes, config.webhook_verify_token.clone()),
        TwilioApi::new(service.clone(), config.max_body_bytes),
        ExportApi::new(service.clone(), config.read_api_token.clone()),
        MessagesApi::new(service.clone(), config.read_api_token.clone()),
        FeedApi::new(service.clone(), config.read_api_token.clone()),
        OpsApi::new(service.clone(), config.metrics.clone()),
    );
    OpenApiService::new(apis, "Webhook Ingest", env!("CARGO_PKG_VERSION")).description(
        "Receives WhatsApp-like inbound messages, proves each is authentic (HMAC-SHA256 over the raw body), \
         stores each exactly once, and lets you list, search and count what arrived.",
    )
}

/// The OpenAPI document as pretty JSON, exactly as `/openapi.json` serves it.
pub fn openapi_json(service: &MessageService, config: &HttpConfig) -> String {
    openapi(service, config).spec()
}

/// The whole application: API, `/openapi.json`, `/docs`, and JSON error bodies everywhere.
pub fn app(service: &MessageService, config: &HttpConfig) -> impl Endpoint + 'static {
    let api = openapi(service, config);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let metrics = config.metrics.clone();
    let live = stream::LiveStream::new(service.clone(), config.read_api_token.clone());
    let token_required = config.read_api_token.is_some();
    Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .at(
            "/messages/stream",
            poem::get(poem::endpoint::make(move |req: poem::Request| {
                let live = live.clone();
                async move { live.handle(&req).await }
            })),
        )
        .at(
            "/inbox",
            poem::get(poem::endpoint::make_sync(move |req: poem::Request| {
                inbox::asset(req.uri().path(), token_required)
            })),
        )
        .at(
            "/inbox/*path",
            poem::get(poem::endpoint::make_sync(move |req: poem::Request| {
                inbox::asset(req.uri().path(), token_required)
            })),
        )
        .nest("/", api)
        .catch_all_error(problem::error_response)
        .around(move |ep, req| observe::observe(ep, req, metrics.clone()))
}

/// Seconds a sender should wait before retrying a delivery storage refused.
fn retry_after_secs(e: &crate::domain::ports::RepoError) -> u32 {
    use crate::domain::ports::RepoError;
    match e {
        RepoError::Overloaded => 1,
        // Space comes back when someone frees it: no point in asking again at once.
        RepoError::Full(_) => 30,
        _ => 5,
    }
}

fn unavailable_body() -> StorageUnavailable {
    StorageUnavailable::default()
}
