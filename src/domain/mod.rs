//! Pure domain types: parsed and normalised input, identifiers, request context.

mod email;
mod ids;
mod link;
mod origin;
mod return_to;

pub use email::{Email, EmailError};
pub use ids::{SessionId, UserId};
pub use link::{AttemptId, LinkToken};
pub use origin::RequestOrigin;
pub use return_to::LocalPath;
