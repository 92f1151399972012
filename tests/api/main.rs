//! Integration tests: the real service over HTTP, a real Redis, a real SMTP server.

mod config;
mod helpers;
mod links;
mod login_flow;
mod session_jwt;
mod store_contract;
