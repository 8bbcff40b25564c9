//! The command line: `serve` (the default), `openapi`, `healthcheck`, `migrate` and `send`.
//! Configuration comes from the environment (and `CONFIG_FILE`), as the README's table says; the
//! flags here only choose what to do.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::adapters::signing::Scheme;

/// Authenticated, idempotent webhook ingestion: flat JSON messages, WhatsApp Cloud API and Twilio
/// deliveries, stored once in SQLite or PostgreSQL. Settings come from the environment
/// (WEBHOOK_SECRET, DATABASE_URL, PORT, …; see the README).
#[derive(Debug, Parser)]
#[command(name = "webhook-ingest", version, propagate_version = true)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Print the OpenAPI document the service serves, without opening storage.
    Openapi,
    /// Exit 0 when the local service on PORT answers /health/ready with 200, else 1.
    Healthcheck,
    /// Apply pending database migrations to DATABASE_URL, then exit.
    Migrate,
    /// Sign a body as a provider would and post it, printing the status and the answer.
    Send(SendArgs),
}

/// What `send` posts, and how it signs it.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The body to post, byte for byte: a file, or `-` for standard input.
    pub body: PathBuf,
    /// How to sign it; by default `twilio` for a `.form` file, `whatsapp` for a Cloud API
    /// envelope, else `x-signature`.
    #[arg(long, value_enum)]
    pub scheme: Option<SchemeArg>,
    /// The secret to sign with; by default the configured one for the scheme (WEBHOOK_SECRET;
    /// WHATSAPP_APP_SECRET for whatsapp when set; TWILIO_AUTH_TOKEN for twilio), the first when
    /// several are set.
    #[arg(long, env = "SEND_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Where to post; by default http://127.0.0.1:PORT/webhook (…/webhook/twilio for twilio).
    #[arg(long)]
    pub url: Option<String>,
    /// twilio: the URL Twilio signs; by default TWILIO_WEBHOOK_URL, else --url.
    #[arg(long)]
    pub signed_url: Option<String>,
}

/// The `--scheme` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemeArg {
    /// `X-Signature: <hex HMAC-SHA256>`.
    XSignature,
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Hub,
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    Standard,
    /// A WhatsApp Cloud API envelope, signed with the Meta app secret.
    Whatsapp,
    /// A Twilio form, signed over the configured URL and the sorted parameters.
    Twilio,
}

impl From<SchemeArg> for Scheme {
    fn from(s: SchemeArg) -> Self {
        match s {
            SchemeArg::XSignature => Self::XSignature,
            SchemeArg::Hub => Self::Hub,
            SchemeArg::Standard => Self::Standard,
            SchemeArg::Whatsapp => Self::Whatsapp,
            SchemeArg::Twilio => Self::Twilio,
        }
    }
}
