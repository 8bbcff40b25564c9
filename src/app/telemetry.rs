//! JSON logs, one object per line, in the bunyan layout.

use tracing::Subscriber;
use tracing::subscriber::set_global_default;
use tracing_bunyan_formatter::{BunyanFormattingLayer, JsonStorageLayer};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, Registry, layer::SubscriberExt};

/// A subscriber writing bunyan JSON to `sink`, filtered at `level` (`RUST_LOG` overrides it).
pub fn subscriber<W>(name: &str, level: &str, sink: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // Our own crate at the chosen level; libraries only when they warn, so logs stay readable.
    let directives = format!("warn,webhook_ingest={level},migration={level}");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    Registry::default().with(filter).with(JsonStorageLayer).with(BunyanFormattingLayer::new(name.into(), sink))
}

/// Installs `subscriber` for the whole process; a second call is ignored (tests build many apps).
pub fn init(subscriber: impl Subscriber + Send + Sync) {
    let _ = set_global_default(subscriber);
}
