//! OpenID Connect provider: web apps delegate their login here (code flow + PKCE).

pub mod authorize;
pub mod backchannel;
mod branding;
pub mod claims;
pub mod cors;
pub mod native;
mod notify;
pub mod pkce;
pub mod refresh;
pub mod registry;
pub mod revoke;
pub mod service;
pub mod token;

pub use authorize::{Authorization, AuthorizeError, AuthorizeParams};
pub use backchannel::{BackchannelListener, LogoutTokenClaims, LogoutTokens};
pub use claims::{IdTokenClaims, UserInfo};
pub use refresh::RefreshRevoker;
pub use revoke::RevokeForm;
pub use service::{AuthorizeFailure, OidcService};
pub use token::{TokenError, TokenForm, TokenResponse};
