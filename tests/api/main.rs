//! Integration tests: the real service over HTTP, a real Redis, a real SMTP server.

mod admin;
mod attack_jwt;
mod attack_signin;
mod audit;
mod cluster;
mod config;
mod durability;
mod fail_closed;
mod helpers;
mod instances;
mod key_rotation;
mod links;
mod login_flow;
mod oidc;
mod outbox;
mod outbox_contract;
mod second_factor;
mod second_factor_sms;
mod session_cache;
mod session_jwt;
mod store_contract;
mod store_identity;
mod tls;
mod ux;
