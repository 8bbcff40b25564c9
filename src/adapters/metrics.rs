//! Prometheus metrics, in a registry of their own per application instance.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::ports::CommittedGroups;

/// Latency buckets in milliseconds: sub-millisecond resolution up to ten seconds.
const LATENCY_BUCKETS_MS: &[f64] =
    &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// Every metric the service exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    webhook_requests: IntCounterVec,
    webhook_updates: IntCounterVec,
    latency: HistogramVec,
    storage_errors: IntCounter,
    failed_writes: IntCounter,
    committed_groups: IntCounter,
    committed_updates: IntCounter,
    deleted_rows: IntCounter,
    database_bytes: IntGauge,
    messages_stored: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Every outcome `webhook_requests_total` counts; each is exported at 0 from start-up, so an alert
/// on one has a series before it first happens.
pub const WEBHOOK_RESULTS: &[&str] = &[
    "created",
    "duplicate",
    "ignored",
    "rejected",
    "invalid_signature",
    "validation_error",
    "payload_too_large",
    "storage_unavailable",
];

/// The (kind, outcome) pairs `webhook_updates_total` counts, for each source.
pub const UPDATE_OUTCOMES: &[(&str, &str)] = &[
    ("message", "created"),
    ("message", "duplicate"),
    ("message", "rejected"),
    ("status", "created"),
    ("status", "duplicate"),
    ("status", "rejected"),
    ("other", "ignored"),
];

/// The ingest routes and the statuses they answer, exported at 0 from start-up.
const INGEST_ROUTES: &[&str] = &["/webhook", "/webhook/twilio"];
const INGEST_STATUSES: &[&str] = &["200", "401", "413", "422", "503"];

/// Every definition above is static and every name unique, so building one cannot fail.
fn defined<T>(built: prometheus::Result<T>) -> T {
    built.unwrap_or_else(|e| unreachable!("static metric definition: {e}"))
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = defined(IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route template and status"),
            &["method", "path", "status"],
        ));
        let webhook_requests = defined(IntCounterVec::new(
            Opts::new("webhook_requests_total", "Webhook deliveries by outcome"),
            &["result"],
        ));
        let webhook_updates = defined(IntCounterVec::new(
            Opts::new("webhook_updates_total", "Updates inside deliveries by source, kind and outcome"),
            &["source", "kind", "outcome"],
        ));
        let latency = defined(HistogramVec::new(
            HistogramOpts::new("request_latency_ms", "Request latency in milliseconds by route template and status")
                .buckets(LATENCY_BUCKETS_MS.to_vec()),
            &["path", "status"],
        ));
        let storage_errors =
            defined(IntCounter::new("storage_errors_total", "Requests answered 503 because storage failed"));
        let failed_writes = defined(IntCounter::new(
            "storage_write_failures_total",
            "Write transactions (groups of deliveries) whose commit or sync failed; every request in them got a 503",
        ));
        let committed_groups = defined(IntCounter::new(
            "storage_write_groups_total",
            "Write transactions (groups of deliveries) committed",
        ));
        let committed_updates = defined(IntCounter::new(
            "storage_write_group_updates_total",
            "Updates in committed groups; divided by storage_write_groups_total, the mean group size",
        ));
        let deleted_rows = defined(IntCounter::new(
            "storage_deleted_rows_total",
            "Messages and statuses deleted by retention and erasure",
        ));
        let database_bytes = defined(IntGauge::new(
            "database_bytes",
            "Bytes the SQLite database, its search-index file and their logs take on disk, read at scrape time",
        ));
        let messages_stored = defined(IntGauge::new("messages_stored", "Messages in storage, read at scrape time"));
        let build_info = defined(IntGaugeVec::new(
            Opts::new("build_info", "Always 1; labels name the running build"),
            &["version", "revision"],
        ));
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), option_env!("GIT_REVISION").unwrap_or("unknown")])
            .set(1);
        for result in WEBHOOK_RESULTS {
            webhook_requests.with_label_values(&[result]);
        }
        for source in ["webhook", "whatsapp", "twilio"] {
            for (kind, outcome) in UPDATE_OUTCOMES {
                webhook_updates.with_label_values(&[source, kind, outcome]);
            }
        }
        for path in INGEST_ROUTES {
            for status in INGEST_STATUSES {
                http_requests.with_label_values(&["POST", path, status]);
                latency.with_label_values(&[path, status]);
            }
        }
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(webhook_requests.clone()),
            Box::new(webhook_updates.clone()),
            Box::new(latency.clone()),
            Box::new(storage_errors.clone()),
            Box::new(failed_writes.clone()),
            Box::new(committed_groups.clone()),
            Box::new(committed_updates.clone()),
            Box::new(deleted_rows.clone()),
            Box::new(database_bytes.clone()),
            Box::new(messages_stored.clone()),
            Box::new(build_info),
        ] {
            defined(registry.register(c));
        }
        Self {
            registry,
            http_requests,
            webhook_requests,
            webhook_updates,
            latency,
            storage_errors,
            failed_writes,
            committed_groups,
            committed_updates,
            deleted_rows,
            database_bytes,
            messages_stored,
        }
    }

    /// Records one finished HTTP request.
    pub fn observe_request(&self, method: &str, path: &str, status: u16, latency_ms: f64) {
        let status = status.to_string();
        self.http_requests.with_label_values(&[method, path, &status]).inc();
        self.latency.with_label_values(&[path, &status]).observe(latency_ms);
        if status == "503" && path != "/health/ready" {
            self.storage_errors.inc();
        }
    }

    /// Records the outcome of one webhook delivery.
    pub fn observe_webhook(&self, result: &str) {
        self.webhook_requests.with_label_values(&[result]).inc();
    }

    /// Brings the failed-write counter up to `total`, the storage's own count since start-up.
    pub fn set_failed_writes(&self, total: u64) {
        self.failed_writes.inc_by(total.saturating_sub(self.failed_writes.get()));
    }

    /// Brings the group-commit counters up to the writer's own counts since start-up.
    pub fn set_committed_groups(&self, total: CommittedGroups) {
        self.committed_groups.inc_by(total.groups.saturating_sub(self.committed_groups.get()));
        self.committed_updates.inc_by(total.updates.saturating_sub(self.committed_updates.get()));
    }

    /// Records `n` updates of one delivery; every label comes from a fixed set of words.
    pub fn observe_updates(&self, source: &str, kind: &str, outcome: &str, n: u64) {
        self.webhook_updates.with_label_values(&[source, kind, outcome]).inc_by(n);
    }

    /// Brings the deleted-row counter up to `total`, and sets the database size when known.
    pub fn set_storage_use(&self, deleted: u64, bytes: Option<u64>) {
        self.deleted_rows.inc_by(deleted.saturating_sub(self.deleted_rows.get()));
        if let Some(bytes) = bytes {
            self.database_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }

    /// Sets the stored-message gauge.
    pub fn set_messages_stored(&self, n: u64) {
        self.messages_stored.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
