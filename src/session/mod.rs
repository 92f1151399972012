//! Sessions: signed JWTs, their keys, and the store's allow-list.

mod cache;
mod jwt;
mod service;

pub use crate::crypto::signing_keys::{KeySet, PublicJwk, SigningAlg, SigningKey, okp_thumbprint, rsa_thumbprint};
pub use cache::SessionCache;
pub use jwt::{JwtError, LEEWAY_SECS, TimeClaims, TokenSigner};
pub use service::{EndedSessions, IssuedSession, SessionClaims, SessionEndListener, SessionError, SessionService};
