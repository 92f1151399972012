//! End-to-end tests: a real headless Chromium (through chromedriver) and a real nginx drive
//! latchkey as people and web apps meet it. Screenshots of every page land in
//! `target/e2e-screenshots/`. See README "Browser tests" for what to install.

// A test or a benchmark that cannot go on should stop loudly: unwrap, expect and panic are
// how it reports (the lints against them are for the service's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod a11y;
mod approve;
mod axe;
mod browser;
mod demo;
mod email_change;
mod forward_auth;
// The API tests' harness (spawn_app_with, MailSink …); this binary uses only part of it.
#[allow(dead_code, unused_imports)]
#[path = "../api/helpers/mod.rs"]
mod helpers;
mod nginx;
mod nginx_site;
mod oidc;
mod passkey_enrollment;
mod passkeys;
mod signin;
mod site;
mod spa;
mod tools;
mod ux;
