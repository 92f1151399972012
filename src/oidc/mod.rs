//! OpenID Connect provider: web apps delegate their login here (code flow + PKCE).

pub mod clients;
mod notify;
pub mod pkce;
pub mod registry;
pub mod service;

pub use clients::{Client, ClientRegistry};
pub use service::OidcService;
