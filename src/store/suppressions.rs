//! The suppression list: addresses mail is no longer sent to, because a mail to them bounced,
//! was reported as spam, or was refused for good by the mail server. One entry per mailbox
//! (found by a keyed hash of the address with any `+tag` folded), each with its reason, its
//! source and an expiry.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreResult;

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// A provider reported a hard bounce (the mailbox does not exist, the domain takes no mail).
    Bounce,
    /// The recipient reported the mail as spam.
    Complaint,
    /// The mail server refused the mailbox for good at send time (550, 551, 553).
    #[serde(rename = "smtp_5xx")]
    Smtp5xx,
}

impl SuppressionReason {
    /// The reason's name, as stored, shown and counted.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
            Self::Smtp5xx => "smtp_5xx",
        }
    }
}

/// One address on the suppression list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Why.
    pub reason: SuppressionReason,
    /// Who said so: `smtp`, `ses`, `postmark`, `sendgrid` or `mailgun`.
    pub source: String,
    /// The address, masked (`a***@e***.com`): what admins and logs may see.
    pub masked: String,
    /// When it was suppressed.
    pub at: DateTime<Utc>,
    /// When the entry lapses by itself.
    pub expires_at: DateTime<Utc>,
}

/// The suppression list.
#[async_trait]
pub trait SuppressionStore: Send + Sync {
    /// Puts the address `lookup` names on the list for `ttl`, replacing any entry it had.
    /// Returns whether it had none (a new suppression, audited once).
    async fn put_suppression(&self, lookup: &str, entry: &Suppression, ttl: Duration) -> StoreResult<bool>;

    /// The address's entry, if it is suppressed.
    async fn get_suppression(&self, lookup: &str) -> StoreResult<Option<Suppression>>;

    /// Takes the address off the list; returns whether it was on it.
    async fn delete_suppression(&self, lookup: &str) -> StoreResult<bool>;
}
