//! The use cases: ingest a webhook, list and search, aggregate, report readiness.

use std::sync::Arc;

use thiserror::Error;

use super::cursor::FeedCursor;
use super::delivery::{Delivery, Rejected, Source, Stored};
use super::error::FieldError;
use super::message::MessageId;
use super::payload::decode_message;
use super::ports::{
    Clock, CommittedGroups, FeedPage, Inserted, MessagePage, MessageRepository, RepoError, SignatureVerifier,
    StatusPage, StoredMessage,
};
use super::query::ListQuery;
use super::signature::{PresentedSignatures, SignatureError};
use super::stats::Stats;
use super::status_query::StatusQuery;
use super::timestamp::Timestamp;
use super::twilio::decode_form;
use super::whatsapp::{decode_envelope, is_envelope};

/// A delivery that was accepted: each of its updates stored now, stored before, or skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// The wire format it came in.
    pub source: Source,
    /// The message's id, for a delivery of exactly one message.
    pub message_id: Option<MessageId>,
    /// Outcomes of the stored updates.
    pub stored: Stored,
    /// Updates of other kinds, acknowledged and not stored, by field name.
    pub ignored: Vec<String>,
    /// Updates that could not be stored, and why.
    pub rejected: Vec<Rejected>,
}

impl Ingested {
    /// The delivery's outcome in one word: `created` when it stored anything new, else
    /// `duplicate` when it repeated stored updates, else `rejected` or `ignored`.
    pub fn result(&self) -> &'static str {
        let all = || self.stored.messages.iter().chain(&self.stored.statuses);
        if all().any(|o| *o == Inserted::Created) {
            "created"
        } else if all().next().is_some() {
            "duplicate"
        } else if self.rejected.is_empty() {
            "ignored"
        } else {
            "rejected"
        }
    }
}

/// Why a webhook was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IngestError {
    /// The request is not provably from the provider.
    #[error("invalid signature: {0}")]
    Signature(#[from] SignatureError),
    /// The body is not a valid message; every broken rule is listed.
    #[error("invalid message ({} errors)", .0.len())]
    Invalid(Vec<FieldError>),
    /// The delivery is valid but could not be stored; nothing of it was.
    #[error("delivery not stored: {source}")]
    Unavailable {
        /// The message's id, for a delivery of exactly one message.
        message_id: Option<MessageId>,
        /// What storage said.
        #[source]
        source: RepoError,
    },
}

/// Whether the service can do its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Storage answers, the schema is applied and a secret is configured.
    Ready,
    /// Not ready, and why.
    NotReady(String),
}

/// The core of the service, holding the ports: storage, a verifier per source, the clock.
#[derive(Clone)]
pub struct MessageService {
    repo: Arc<dyn MessageRepository>,
    verifier: Arc<dyn SignatureVerifier>,
    whatsapp: Option<Arc<dyn SignatureVerifier>>,
    twilio: Option<Arc<dyn SignatureVerifier>>,
    clock: Arc<dyn Clock>,
}

impl MessageService {
    /// Wires the core to its ports; `verifier` checks every source until one gets its own.
    pub fn new(repo: Arc<dyn MessageRepository>, verifier: Arc<dyn SignatureVerifier>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, verifier, whatsapp: None, twilio: None, clock }
    }

    /// Checks Cloud API envelopes with `verifier` (the Meta app secret) instead.
    #[must_use]
    pub fn with_whatsapp_verifier(mut self, verifier: Arc<dyn SignatureVerifier>) -> Self {
        self.whatsapp = Some(verifier);
        self
    }

    /// Checks Twilio's webhooks with `verifier` (auth tokens and the configured URL); without
    /// one, every Twilio webhook is refused.
    #[must_use]
    pub fn with_twilio_verifier(mut self, verifier: Arc<dyn SignatureVerifier>) -> Self {
        self.twilio = Some(verifier);
        self
    }

    fn verifier_for(&self, source: Source) -> &dyn SignatureVerifier {
        match (source, &self.whatsapp) {
            (Source::Whatsapp, Some(whatsapp)) => whatsapp.as_ref(),
            _ => self.verifier.as_ref(),
        }
    }

    /// Verifies the raw body first, then decodes it, then stores its updates exactly once, all in
    /// one transaction. The body's top-level `object` is peeked at before verifying only to pick
    /// the secret: a Cloud API envelope is signed with the Meta app secret.
    ///
    /// # Errors
    /// See [`IngestError`]; nothing is stored when an error is returned.
    pub async fn ingest(&self, body: &[u8], presented: &PresentedSignatures) -> Result<Ingested, IngestError> {
        let now = self.clock.now();
        let source = if is_envelope(body) { Source::Whatsapp } else { Source::Webhook };
        self.verifier_for(source).verify(body, presented, now)?;
        let delivery = match source {
            Source::Whatsapp => decode_envelope(body),
            _ => decode_message(body).map(Delivery::of_message),
        }
        .map_err(IngestError::Invalid)?;
        self.store(source, delivery, now).await
    }

    /// Verifies a Twilio webhook over its form parameters, decodes it, and stores it with the
    /// time of receipt as its `ts` (Twilio sends none).
    ///
    /// # Errors
    /// See [`IngestError`]; nothing is stored when an error is returned.
    pub async fn ingest_twilio(&self, body: &[u8], presented: &PresentedSignatures) -> Result<Ingested, IngestError> {
        let now = self.clock.now();
        let verifier = self.twilio.as_ref().ok_or(SignatureError::NoSecret)?;
        verifier.verify(body, presented, now)?;
        let delivery = decode_form(body, now).map_err(IngestError::Invalid)?;
        self.store(Source::Twilio, delivery, now).await
    }

    async fn store(&self, source: Source, mut delivery: Delivery, now: Timestamp) -> Result<Ingested, IngestError> {
        let message_id = match delivery.messages.as_slice() {
            [only] if delivery.statuses.is_empty() => Some(only.message_id.clone()),
            _ => None,
        };
        let (ignored, rejected) = (std::mem::take(&mut delivery.ignored), std::mem::take(&mut delivery.rejected));
        let stored = if delivery.is_empty() {
            Stored::default()
        } else {
            self.repo
                .store(delivery, now)
                .await
                .map_err(|source| IngestError::Unavailable { message_id: message_id.clone(), source })?
        };
        Ok(Ingested { source, message_id, stored, ignored, rejected })
    }

    /// One page of matching messages and the total number of matches.
    ///
    /// # Errors
    /// Storage could not answer.
    pub async fn list(&self, query: &ListQuery) -> Result<MessagePage, RepoError> {
        self.repo.list(&query.filter, query.page).await
    }

    /// The next page of the feed.
    ///
    /// # Errors
    /// Storage could not answer.
    pub async fn feed(&self, after: FeedCursor, limit: u32) -> Result<FeedPage, RepoError> {
        self.repo.feed(after, limit).await
    }

    /// The feed's current end, where a live view starts.
    ///
    /// # Errors
    /// Storage could not answer.
    pub async fn feed_tail(&self) -> Result<FeedCursor, RepoError> {
        self.repo.feed_tail().await
    }

    /// The next page of an export of every match of `query`'s filter, in `ts` order.
    ///
    /// # Errors
    /// Storage could not answer.
    pub async fn export_page(&self, query: &ListQuery, limit: u32) -> Result<MessagePage, RepoError> {
        self.repo.export_page(&query.filter, limit).await
    }

    /// Deletes the message with this id (an erasure request); whether there was one.
    ///
    /// # Errors
    /// Storage could not answer; nothing was deleted.
    pub async fn delete(&self, message_id: &MessageId) -> Result<bool, RepoError> {
        self.repo.delete(message_id).await
    }

    /// Deletes one batch of messages and statuses received more than `days` days ago, by the
    /// clock; returns how many rows went.
    ///
    /// # Errors
    /// Storage could not answer.
    pub async fn purge_older_than(&self, days: u32, batch: u32) -> Result<u64, RepoError> {
        let window = i64::from(days) * 86_400 * 1_000_000;
        // A window reaching before any representable instant keeps everything.
        match Timestamp::from_micros(self.clock.now().as_micros().saturating_sub(window)) {
            Some(cutoff) => self.repo.purge(cutoff, batch).await,
            None => Ok(0),
        }
    }

    /// Rows deleted since start-up, and the bytes storage takes on disk where it can tell.
    pub fn storage_use(&self) -> (u64, Option<u64>) {
        (self.repo.deleted_rows(), self.repo.storage_bytes())
    }

    /// The message with this id, with its provider's raw object.
    ///
    /// # Errors
    /// Storage could not answer.
    pub async fn get(&self, message_id: &MessageId) -> Result<Option<StoredMessage>, RepoError> {
        self.repo.get(message_id).await
    }

    /// One page of matching delivery statuses and the total number of matches.
    ///
    /// # Errors
    /// Storage could not answer.
    pub async fn statuses(&self, query: &StatusQuery) -> Result<StatusPage, RepoError> {
        self.repo.statuses(&query.filter, query.page).await
    }

    /// Aggregates over every stored message.
    ///
    /// # Errors
    /// Storage could not answer.
    pub async fn stats(&self) -> Result<Stats, RepoError> {
        self.repo.stats().await
    }

    /// How many write transactions have failed since start-up.
    pub fn failed_writes(&self) -> u64 {
        self.repo.failed_writes()
    }

    /// Write transactions committed since start-up, and the updates in them.
    pub fn committed_groups(&self) -> CommittedGroups {
        self.repo.committed_groups()
    }

    /// Ready only when some source has a secret and storage answers with its schema applied.
    pub async fn readiness(&self) -> Readiness {
        let any_secret = self.verifier.has_secrets()
            || [&self.whatsapp, &self.twilio].into_iter().flatten().any(|v| v.has_secrets());
        if !any_secret {
            return Readiness::NotReady("no webhook secret is configured".into());
        }
        match self.repo.ready().await {
            Ok(()) => Readiness::Ready,
            Err(e) => Readiness::NotReady(public_reason(&e).into()),
        }
    }
}

/// A reason safe to show to anyone: it names the problem, not the internals.
fn public_reason(e: &RepoError) -> &'static str {
    match e {
        RepoError::Unavailable(_) | RepoError::Overloaded => "storage unavailable",
        RepoError::Full(_) => "storage full",
        RepoError::SchemaMissing(_) => "database schema not applied",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::clock::FixedClock;
    use crate::adapters::memory::InMemoryMessages;
    use crate::adapters::signature::HmacVerifier;
    use crate::domain::query::RawListQuery;
    use crate::domain::timestamp::Timestamp;

    const SECRET: &str = "test-secret-0123456789";
    const BODY: &str =
        r#"{"message_id":"m1","from":"+919876543210","to":"+14155550100","ts":"2025-01-15T10:00:00Z","text":"Hi"}"#;

    fn service(repo: InMemoryMessages, secrets: &[&str]) -> MessageService {
        let now = Timestamp::parse_utc("2025-01-15T10:00:05Z").unwrap();
        let verifier = HmacVerifier::new(secrets.iter().map(|s| s.to_string()).collect(), 300).unwrap();
        MessageService::new(Arc::new(repo), Arc::new(verifier), Arc::new(FixedClock(now)))
    }

    fn signed(body: &str, secret: &str) -> PresentedSignatures {
        PresentedSignatures {
            hmac_hex: vec![crate::adapters::signature::sign_hex(secret, body.as_bytes())],
            ..PresentedSignatures::default()
        }
    }

    #[tokio::test]
    async fn a_signed_valid_message_is_created_once_then_duplicate() {
        let repo = InMemoryMessages::default();
        let svc = service(repo.clone(), &[SECRET]);
        let first = svc.ingest(BODY.as_bytes(), &signed(BODY, SECRET)).await.unwrap();
        let again = svc.ingest(BODY.as_bytes(), &signed(BODY, SECRET)).await.unwrap();
        assert_eq!((first.stored.messages.clone(), first.result()), (vec![Inserted::Created], "created"));
        assert_eq!((again.stored.messages.clone(), again.result()), (vec![Inserted::Duplicate], "duplicate"));
        assert_eq!(repo.len(), 1);
    }

    #[tokio::test]
    async fn the_signature_is_checked_before_the_body_is_parsed() {
        let svc = service(InMemoryMessages::default(), &[SECRET]);
        let err = svc.ingest(b"not json", &signed("other", SECRET)).await.unwrap_err();
        assert_eq!(err, IngestError::Signature(SignatureError::Mismatch));
        let err = svc.ingest(b"not json", &PresentedSignatures::default()).await.unwrap_err();
        assert_eq!(err, IngestError::Signature(SignatureError::Missing));
    }

    #[tokio::test]
    async fn an_invalid_body_is_not_stored() {
        let repo = InMemoryMessages::default();
        let svc = service(repo.clone(), &[SECRET]);
        let body = BODY.replace("+919876543210", "919876543210");
        let err = svc.ingest(body.as_bytes(), &signed(&body, SECRET)).await.unwrap_err();
        assert!(matches!(err, IngestError::Invalid(ref e) if e.len() == 1));
        assert_eq!(repo.len(), 0);
    }

    #[tokio::test]
    async fn storage_failure_is_an_error_never_an_ack() {
        let repo = InMemoryMessages::default();
        repo.set_failing(true);
        let svc = service(repo, &[SECRET]);
        let err = svc.ingest(BODY.as_bytes(), &signed(BODY, SECRET)).await.unwrap_err();
        assert!(matches!(err, IngestError::Unavailable { .. }));
        assert_eq!(svc.readiness().await, Readiness::NotReady("storage unavailable".into()));
    }

    #[tokio::test]
    async fn readiness_needs_a_secret() {
        assert!(matches!(service(InMemoryMessages::default(), &[]).readiness().await, Readiness::NotReady(_)));
        assert_eq!(service(InMemoryMessages::default(), &[SECRET]).readiness().await, Readiness::Ready);
    }

    #[tokio::test]
    async fn retention_deletes_only_what_was_received_before_the_window() {
        let repo = InMemoryMessages::default();
        let svc = service(repo.clone(), &[SECRET]);
        svc.ingest(BODY.as_bytes(), &signed(BODY, SECRET)).await.unwrap();
        // The clock says 2025-01-15T10:00:05Z; the message was received then.
        let later = |days| {
            let now = Timestamp::parse_utc("2025-01-17T10:00:06Z").unwrap();
            let verifier = HmacVerifier::new(vec![SECRET.into()], 300).unwrap();
            let svc = MessageService::new(Arc::new(repo.clone()), Arc::new(verifier), Arc::new(FixedClock(now)));
            async move { svc.purge_older_than(days, 100).await.unwrap() }
        };
        assert_eq!(later(3).await, 0, "two days old is inside a three-day window");
        assert_eq!(repo.len(), 1);
        assert_eq!(later(2).await, 1, "and outside a two-day one");
        assert_eq!(repo.len(), 0);
    }

    #[tokio::test]
    async fn received_at_comes_from_the_clock() {
        let repo = InMemoryMessages::default();
        let svc = service(repo.clone(), &[SECRET]);
        svc.ingest(BODY.as_bytes(), &signed(BODY, SECRET)).await.unwrap();
        assert_eq!(repo.received_at("m1").unwrap().to_rfc3339(), "2025-01-15T10:00:05Z");
        let page = svc.list(&RawListQuery::default().parse().unwrap()).await.unwrap();
        assert_eq!(page.total, 1);
    }
}
