//! Identifiers: random, URL-safe, and meaningless outside the store.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError};

/// A user's stable id: given on first sign-in, never derived from the email address.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

/// One session's id (the JWT's `sid`); the store's allow-list is keyed by it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

macro_rules! random_id {
    ($ty:ident, $bytes:literal) => {
        impl $ty {
            /// A new random id from the OS CSPRNG.
            pub fn generate() -> Result<Self, CryptoError> {
                Ok(Self(crypto::random_token::<$bytes>()?))
            }

            /// Wraps an id read back from a token or the store. Refuses anything that could
            /// not be an id, so it is safe inside a store key.
            pub fn parse(value: &str) -> Option<Self> {
                let ok = (8..=64).contains(&value.len())
                    && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                ok.then(|| Self(value.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        // Ids read from a token or the store go into key names: check them on the way in.
        impl TryFrom<String> for $ty {
            type Error = &'static str;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value).ok_or("not an id")
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> Self {
                value.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), self.0)
            }
        }
    };
}

random_id!(UserId, 16);
random_id!(SessionId, 16);

/// True when `raw` has the shape of a store id (`STORE_ID`).
pub fn is_store_id(raw: &str) -> bool {
    raw.strip_prefix("st_").is_some_and(|rest| {
        (16..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_key_syntax() {
        assert!(UserId::parse("abc:def}{x").is_none());
        assert!(UserId::parse("short").is_none());
        assert!(UserId::parse("AbCdEf012345_-xy").is_some());
    }

    #[test]
    fn deserializing_checks_the_shape() {
        assert!(serde_json::from_str::<UserId>("\"abc}:x{yzzzz\"").is_err());
        assert!(serde_json::from_str::<SessionId>("\"AbCdEf012345_-xy\"").is_ok());
    }

    #[test]
    fn generated_ids_parse_back() {
        let id = SessionId::generate().unwrap();
        assert_eq!(SessionId::parse(id.as_str()), Some(id));
    }
}
