//! Integration tests: the real service over HTTP, a real Redis, a real SMTP server.

// A test or a benchmark that cannot go on should stop loudly: unwrap, expect and panic are
// how it reports (the lints against them are for the service's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accessibility;
mod account_lifecycle;
mod admin;
mod admin_input;
mod approve;
mod attack_jwt;
mod attack_limits;
mod attack_signin;
mod audit;
mod backchannel;
mod bounce_hooks;
mod branding;
mod cluster;
mod config;
mod cors;
mod deliverability;
mod deploy;
mod dkim;
mod docs;
mod durability;
mod email_change;
mod factor_changes;
mod fail_closed;
mod helpers;
mod instances;
mod key_rotation;
mod languages;
mod layers;
mod links;
mod login_flow;
mod mail_domains;
mod malformed_input;
mod native_apps;
mod oidc;
mod oidc_compliance;
mod oidc_node;
mod oidc_refresh;
mod oidc_rs256;
mod openapi;
mod outbox;
mod outbox_contract;
mod passkey_login;
mod passkey_management;
mod passkeys;
mod policy_unreadable;
mod rerouted_addresses;
mod scripts;
mod second_factor;
mod second_factor_sms;
mod sentinel;
mod session_cache;
mod session_jwt;
mod smtp_connections;
mod store_contract;
mod store_identity;
mod tls;
mod translations;
mod unix_socket;
mod ux;
mod webhook_egress;
