//! Sessions: signed JWTs, their keys, and the store's allow-list.

mod cache;
mod jwt;
mod keys;
mod service;

pub use cache::SessionCache;
pub use jwt::{JwtError, LEEWAY_SECS, TimeClaims, TokenSigner};
pub use keys::{KeySet, PublicJwk, SigningKey, okp_thumbprint};
pub use service::{IssuedSession, SessionClaims, SessionError, SessionService};
