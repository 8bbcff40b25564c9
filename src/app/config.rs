//! Settings: defaults < optional TOML file (`CONFIG_FILE`, else `./config.toml`) < environment.

use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use crate::adapters::db::{DatabaseTarget, DbConfig};
use crate::adapters::http::{HttpConfig, Token};
use crate::adapters::metrics::Metrics;

fn split_secrets(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default().split_whitespace().map(str::to_owned).collect()
}

/// Variables read verbatim: figment would turn an all-digit secret into a number.
const STRING_KEYS: &[&str] = &[
    "webhook_secret",
    "whatsapp_app_secret",
    "twilio_auth_token",
    "twilio_webhook_url",
    "database_url",
    "log_level",
    "host",
    "sqlite_synchronous",
    "read_api_token",
    "webhook_verify_token",
];
/// Variables parsed as numbers.
const NUMBER_KEYS: &[&str] = &[
    "port",
    "retention_days",
    "max_body_bytes",
    "signature_tolerance_secs",
    "shutdown_timeout_secs",
    "header_timeout_secs",
    "db_max_connections",
    "db_connect_timeout_secs",
    "db_acquire_timeout_secs",
    "sqlite_cache_mib",
];

/// The service's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct Settings {
    /// HMAC secrets separated by whitespace; none means every webhook is rejected.
    pub webhook_secret: Option<String>,
    /// Meta app secrets for Cloud API envelopes, separated by whitespace; unset: `webhook_secret`.
    pub whatsapp_app_secret: Option<String>,
    /// Twilio auth tokens, separated by whitespace; unset: every Twilio webhook is refused.
    pub twilio_auth_token: Option<String>,
    /// The exact public URL configured at Twilio for `POST /webhook/twilio`.
    #[validate(custom(function = "valid_public_url"))]
    pub twilio_webhook_url: Option<String>,
    /// Bearer token required by `/messages` and `/stats`; unset leaves them open.
    pub read_api_token: Option<String>,
    /// Token that enables the WhatsApp subscription handshake on `GET /webhook`.
    pub webhook_verify_token: Option<String>,
    /// `sqlite://…` (default `sqlite://data/app.db`) or `postgres://…`.
    #[validate(custom(function = "valid_database_url"))]
    pub database_url: String,
    /// `debug`, `info`, `warn` or `error`.
    #[validate(custom(function = "valid_log_level"))]
    pub log_level: String,
    /// HTTP port.
    pub port: u16,
    /// Address to listen on.
    pub host: String,
    /// Largest accepted webhook body in bytes.
    #[validate(range(min = 1, max = 67_108_864))]
    pub max_body_bytes: usize,
    /// How far a Standard Webhooks timestamp may be from now, either way.
    #[validate(range(min = 1, max = 86_400))]
    pub signature_tolerance_secs: u64,
    /// How long a client may take to send a request's head, from its first byte.
    #[validate(range(min = 1, max = 600))]
    pub header_timeout_secs: u64,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[validate(range(max = 3_600))]
    pub shutdown_timeout_secs: u64,
    /// Database pool size.
    #[validate(range(min = 1, max = 1_000))]
    pub db_max_connections: u32,
    /// Bound on opening a database connection.
    #[validate(range(min = 1, max = 600))]
    pub db_connect_timeout_secs: u64,
    /// Bound on waiting for a pooled connection before answering 503.
    #[validate(range(min = 1, max = 600))]
    pub db_acquire_timeout_secs: u64,
    /// SQLite: its memory for all connections together, in MiB (a soft limit the page caches give way to).
    #[validate(range(min = 4, max = 65_536))]
    pub sqlite_cache_mib: u32,
    /// Messages and statuses received longer ago than this many days are deleted; unset keeps all.
    #[validate(range(min = 1, max = 36_500))]
    pub retention_days: Option<u32>,
    /// `full` (default: a 200 survives power loss) or `normal` (survives a crash of the process).
    #[validate(custom(function = "valid_synchronous"))]
    pub sqlite_synchronous: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            webhook_secret: None,
            whatsapp_app_secret: None,
            twilio_auth_token: None,
            twilio_webhook_url: None,
            read_api_token: None,
            webhook_verify_token: None,
            database_url: "sqlite://data/app.db".into(),
            log_level: "info".into(),
            port: 8000,
            host: "0.0.0.0".into(),
            // Meta sends envelopes of up to 3 MB.
            max_body_bytes: 4_194_304,
            signature_tolerance_secs: 300,
            shutdown_timeout_secs: 10,
            header_timeout_secs: 10,
            db_max_connections: 8,
            db_connect_timeout_secs: 5,
            db_acquire_timeout_secs: 5,
            sqlite_synchronous: "full".into(),
            sqlite_cache_mib: DbConfig::DEFAULT_SQLITE_CACHE_MIB,
            retention_days: None,
        }
    }
}

fn valid_database_url(url: &str) -> Result<(), ValidationError> {
    DatabaseTarget::parse(url).map(drop).map_err(|msg| ValidationError::new("database_url").with_message(msg.into()))
}

fn valid_public_url(url: &str) -> Result<(), ValidationError> {
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if host.is_some_and(|h| !h.is_empty() && !h.starts_with('/')) && !url.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(ValidationError::new("twilio_webhook_url")
            .with_message("must be the full http:// or https:// URL configured at Twilio".into()))
    }
}

fn valid_log_level(level: &str) -> Result<(), ValidationError> {
    match level.to_ascii_lowercase().as_str() {
        "debug" | "info" | "warn" | "error" | "trace" => Ok(()),
        _ => Err(ValidationError::new("log_level").with_message("must be debug, info, warn or error".into())),
    }
}

fn valid_synchronous(mode: &str) -> Result<(), ValidationError> {
    match mode.to_ascii_lowercase().as_str() {
        "full" | "normal" => Ok(()),
        _ => Err(ValidationError::new("sqlite_synchronous").with_message("must be full or normal".into())),
    }
}

/// A setting that stops start-up; `Display` is the one line printed.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or config-file key) at fault.
    pub variable: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Settings {
    /// Reads the file named by `CONFIG_FILE` (or `config.toml` when present), then the environment.
    ///
    /// # Errors
    /// The first bad value, naming its variable.
    pub fn load() -> Result<Self, ConfigError> {
        // An empty variable counts as unset, as in the common `VAR=` idiom.
        let set = |key: &str| std::env::var(key.to_ascii_uppercase()).ok().filter(|v| !v.is_empty());
        // The default file is optional; a file the operator named must be there.
        let file = match set("CONFIG_FILE") {
            Some(named) if !std::path::Path::new(&named).is_file() => {
                return Err(ConfigError { variable: "CONFIG_FILE".into(), reason: format!("no such file: {named}") });
            }
            Some(named) => named,
            None => "config.toml".into(),
        };
        let numbers =
            Env::raw().filter(move |key| NUMBER_KEYS.iter().any(|k| key == *k) && set(key.as_str()).is_some());
        let mut figment =
            Figment::new().merge(Serialized::defaults(Self::default())).merge(Toml::file(file)).merge(numbers);
        for key in STRING_KEYS {
            if let Some(value) = set(key) {
                figment = figment.merge((*key, value));
            }
        }
        Self::from_figment(figment)
    }

    /// Extracts and validates settings from any figment (tests pass their own providers).
    ///
    /// # Errors
    /// The first bad value, naming its variable.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Self = figment.extract().map_err(|e| ConfigError {
            variable: e.path.last().map_or_else(|| "configuration".into(), |k| k.to_ascii_uppercase()),
            reason: e.kind.to_string(),
        })?;
        settings.validate().map_err(|errors| {
            let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            let (field, errs) =
                fields.into_iter().next().map_or(("configuration".into(), None), |(f, e)| (f, e.first()));
            let reason = errs.map_or_else(|| "invalid value".into(), describe);
            ConfigError { variable: field.to_ascii_uppercase(), reason }
        })?;
        Ok(settings)
    }

    /// The secrets, split on whitespace.
    pub fn secrets(&self) -> Vec<String> {
        split_secrets(self.webhook_secret.as_deref())
    }

    /// The Twilio auth tokens, split on whitespace.
    pub fn twilio_tokens(&self) -> Vec<String> {
        split_secrets(self.twilio_auth_token.as_deref())
    }

    /// The Twilio auth tokens and the URL they sign, when both are set.
    pub fn twilio(&self) -> Option<(Vec<String>, String)> {
        let tokens = split_secrets(self.twilio_auth_token.as_deref());
        let url = self.twilio_webhook_url.clone().filter(|u| !u.is_empty())?;
        (!tokens.is_empty()).then_some((tokens, url))
    }

    /// The Meta app secrets, split on whitespace; `None` when unset or blank, so that
    /// `webhook_secret` verifies Cloud API envelopes too.
    pub fn whatsapp_secrets(&self) -> Option<Vec<String>> {
        Some(split_secrets(self.whatsapp_app_secret.as_deref())).filter(|s| !s.is_empty())
    }

    /// The HTTP adapter's settings, with a fresh metrics registry.
    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            max_body_bytes: self.max_body_bytes,
            metrics: Metrics::new(),
            read_api_token: Token::new(self.read_api_token.as_deref()),
            webhook_verify_token: Token::new(self.webhook_verify_token.as_deref()),
        }
    }

    /// The database settings.
    pub fn db(&self) -> DbConfig {
        DbConfig {
            target: DatabaseTarget::parse(&self.database_url).unwrap_or(DatabaseTarget::SqliteMemory),
            max_connections: self.db_max_connections,
            connect_timeout: Duration::from_secs(self.db_connect_timeout_secs),
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout_secs),
            sqlite_full_sync: self.sqlite_synchronous.eq_ignore_ascii_case("full"),
            sqlite_cache_mib: self.sqlite_cache_mib,
        }
    }
}

fn describe(e: &ValidationError) -> String {
    if let Some(msg) = &e.message {
        return msg.to_string();
    }
    let bound = |k: &str| e.params.get(k).map(ToString::to_string);
    match (bound("min"), bound("max")) {
        (Some(min), Some(max)) => format!("must be between {min} and {max}"),
        (None, Some(max)) => format!("must be at most {max}"),
        (Some(min), None) => format!("must be at least {min}"),
        (None, None) => "invalid value".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(key: &str, value: &str) -> Result<Settings, ConfigError> {
        Settings::from_figment(Figment::new().merge(Serialized::defaults(Settings::default())).merge((key, value)))
    }

    #[test]
    fn defaults_are_valid() {
        let s = with("log_level", "info").unwrap();
        assert_eq!(s.port, 8000);
        assert!(s.secrets().is_empty());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        assert_eq!(with("port", "eighty").unwrap_err().variable, "PORT");
        assert_eq!(with("database_url", "mysql://x").unwrap_err().variable, "DATABASE_URL");
        assert_eq!(with("log_level", "loud").unwrap_err().variable, "LOG_LEVEL");
        assert_eq!(with("max_body_bytes", "0").unwrap_err().variable, "MAX_BODY_BYTES");
    }

    #[test]
    fn the_sqlite_cache_setting_is_bounded_and_reaches_the_database_config() {
        let cache = |mib: u32| {
            let figment =
                Figment::new().merge(Serialized::defaults(Settings::default())).merge(("sqlite_cache_mib", mib));
            Settings::from_figment(figment)
        };
        assert_eq!(Settings::default().db().sqlite_cache_mib, 48);
        assert_eq!(cache(256).unwrap().db().sqlite_cache_mib, 256);
        for outside in [3, 65_537] {
            let err = cache(outside).unwrap_err();
            assert_eq!(err.variable, "SQLITE_CACHE_MIB");
            assert!(err.reason.contains("4") && err.reason.contains("65536"), "{}", err.reason);
        }
    }

    #[test]
    fn secrets_split_on_whitespace() {
        let s = with("webhook_secret", " old  new\tnewer ").unwrap();
        assert_eq!(s.secrets(), ["old", "new", "newer"]);
    }
}
