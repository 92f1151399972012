//! latchkey: a passwordless login service. See docs/design.md for the architecture.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod audit;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod deliverability;
pub mod dns;
pub mod domain;
pub mod error;
pub mod i18n;
pub mod lifecycle;
pub mod mail;
pub mod oidc;
pub mod outbox;
pub mod policy;
pub mod ratelimit;
pub mod routes;
pub mod second_factor;
pub mod session;
pub mod signin;
pub mod sms;
pub mod store;
pub mod store_guard;
pub mod store_tools;
pub mod telemetry;
pub mod webhooks;

pub use app::Application;
pub use config::Settings;
