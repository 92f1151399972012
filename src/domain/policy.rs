//! Sign-in policy: the rules an admin can tune.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a sign-in link does when opened in a browser other than the one that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrossDevice {
    /// Sign-in finishes only with the code from the mail (the default).
    #[default]
    Code,
    /// One click finishes it anywhere (weaker: a forwarded or scanned link signs in).
    Click,
    /// It does not finish there at all; the code works only in the browser that asked.
    Deny,
}

impl FromStr for CrossDevice {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "code" => Ok(Self::Code),
            "click" => Ok(Self::Click),
            "deny" => Ok(Self::Deny),
            _ => Err(()),
        }
    }
}

impl fmt::Display for CrossDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Code => "code",
            Self::Click => "click",
            Self::Deny => "deny",
        })
    }
}

/// The sign-in rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInPolicy {
    /// `CROSS_DEVICE`.
    pub cross_device: CrossDevice,
    /// `LINK_SUPERSEDE`: a new link revokes the address's older unused ones.
    pub supersede: bool,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self { cross_device: CrossDevice::Code, supersede: true }
    }
}
