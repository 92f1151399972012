//! The sign-in flow: request a link, look at it, redeem it. Rules only — no HTTP types.

mod service;

pub use service::{LinkProblem, SignIn, SignInError, SignedIn};
