//! Reading admin API input so that a malformed query or body is a 400 naming the parameter or
//! field at fault (`serde_path_to_error`), never a 5xx or a message without a name.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde::de::DeserializeOwned;

use crate::domain::without_position;

/// Input that could not be read, with the parameter or field at fault.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadInput {
    /// `query` or `body`: where the input was.
    pub place: &'static str,
    /// The parameter or field (`limit`, `methods.totp`; `.` for the whole input).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl BadInput {
    /// A problem with one named parameter or field.
    pub fn new(place: &'static str, field: &str, message: impl Into<String>) -> Self {
        Self { place, field: field.to_owned(), message: message.into() }
    }

    /// The JSON body of the 400: `{"error", "message", "field"}` (and `"fields": {field: …}`,
    /// the shape the policy and client routes already answer with).
    pub fn body(&self, error: &str) -> serde_json::Value {
        serde_json::json!({
            "error": error,
            "message": self.to_string(),
            "field": self.field,
            "fields": { self.field.clone(): self.message },
        })
    }
}

impl ResponseError for BadInput {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse {
        let error = if self.place == "query" { "invalid_query" } else { "invalid_body" };
        HttpResponse::BadRequest().json(self.body(error))
    }
}

/// Reads `T` from a query string, naming the parameter at fault.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, BadInput> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        BadInput { place: "query", field, message: e.into_inner().to_string() }
    })
}

/// Reads `T` from a JSON body, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadInput> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| BadInput {
        place: "body",
        field: e.path().to_string(),
        message: without_position(e.inner()),
    })?;
    de.end().map_err(|e| BadInput::new("body", ".", without_position(&e)))?;
    Ok(value)
}

/// [`parse_json`] for a request body, which it lets go: actix reads a body into a buffer of
/// 8 KiB whatever its length, which a handler would otherwise hold through its awaits.
pub fn parse_json_body<T: DeserializeOwned>(body: web::Bytes) -> Result<T, BadInput> {
    parse_json(&body)
}

/// A query string as `T` for the JSON API: a malformed one is a JSON 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T> std::ops::Deref for ApiQuery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = BadInput;
    type Future = Ready<Result<Self, BadInput>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_query(req.query_string()).map(ApiQuery))
    }
}

/// True for a Redis stream id as the audit log hands them out (`<ms>-<seq>`, each a u64).
pub fn is_stream_id(raw: &str) -> bool {
    raw.split_once('-').is_some_and(|(ms, seq)| {
        [ms, seq].iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u64>().is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Q {
        user: Option<String>,
        limit: Option<usize>,
    }

    #[test]
    fn a_bad_query_parameter_is_named() {
        let e = parse_query::<Q>("user=a&limit=zzz").unwrap_err();
        assert_eq!(e.field, "limit", "{e}");
        let e = parse_query::<Q>("limit=99999999999999999999999999").unwrap_err();
        assert_eq!(e.field, "limit", "{e}");
        let e = parse_query::<Q>("limit=1&limit=2").unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert!(parse_query::<Q>("user=a%40b.c&limit=5&other=1").is_ok());
    }

    #[test]
    fn a_bad_json_field_is_named() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            name: String,
            age: Option<u64>,
        }
        let e = parse_json::<B>(br#"{"name":"x","age":-5}"#).unwrap_err();
        assert_eq!(e.field, "age");
        assert!(!e.message.contains("line"), "{e}");
        let e = parse_json::<B>(br#"{"name":"x"} trailing"#).unwrap_err();
        assert_eq!(e.field, ".");
    }

    #[test]
    fn stream_ids_are_two_u64s() {
        assert!(is_stream_id("1700000000000-0"));
        for bad in ["zzz", "1-", "-1", "1-2-3", "99999999999999999999999-0", "1-x", "", "+", "(1-0"] {
            assert!(!is_stream_id(bad), "{bad}");
        }
    }
}
