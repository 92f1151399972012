//! The registered OIDC clients: `CLIENTS_FILE`.

use serde::Deserialize;

use super::reader::Reader;
use crate::crypto::signing_keys::SigningAlg;
use crate::domain::parse_duration;
use crate::domain::{Client, ClientKind, ClientRegistry};

impl Reader<'_> {
    /// `CLIENTS_FILE`, read and checked (no file: no clients).
    pub(super) fn clients(&mut self, prod: bool) -> ClientRegistry {
        let Some(path) = self.get("CLIENTS_FILE") else { return ClientRegistry::default() };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                self.problem("CLIENTS_FILE", format!("{path}: cannot read ({e})"));
                return ClientRegistry::default();
            }
        };
        match parse_clients_file(&text, prod) {
            Ok(registry) => registry,
            Err(problems) => {
                for p in problems {
                    self.problem("CLIENTS_FILE", format!("{path}: {p}"));
                }
                ClientRegistry::default()
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
/// The file: `[[client]]` tables.
struct ClientsFile {
    #[serde(default)]
    client: Vec<ClientEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
/// One `[[client]]` table.
struct ClientEntry {
    client_id: String,
    name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
    secret_sha256: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    require_second_factor: bool,
    #[serde(default)]
    require_phishing_resistant: bool,
    max_session_age: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    id_token_signed_response_alg: Option<String>,
    refresh_token_ttl: Option<String>,
    backchannel_logout_uri: Option<String>,
    logo_uri: Option<String>,
    client_uri: Option<String>,
    policy_uri: Option<String>,
    #[serde(default)]
    allowed_cors_origins: Vec<String>,
}

/// Parses a clients file (TOML), checking each client as the admin API does
/// ([`Client::problems`]). Returns every problem found.
pub fn parse_clients_file(text: &str, production: bool) -> Result<ClientRegistry, Vec<String>> {
    let file: ClientsFile = toml::from_str(text).map_err(|e| vec![format!("not valid: {e}")])?;
    let mut problems = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    for entry in file.client {
        let id = entry.client_id.clone();
        let mut fail = |message: String| problems.push(format!("client `{id}`: {message}"));
        let kind = match (entry.kind.as_str(), entry.secret_sha256.as_deref()) {
            ("public", None) => ClientKind::Public,
            ("native", None) => ClientKind::Native,
            ("public" | "native", Some(_)) => {
                fail(format!("a {} client has no secret", entry.kind));
                ClientKind::Public
            }
            ("confidential", Some(hex)) if is_hex32(hex) => {
                ClientKind::Confidential { secret_sha256: hex.trim().to_ascii_lowercase() }
            }
            ("confidential", Some(_)) => {
                fail("secret_sha256 must be 64 hex digits (`latchkey client-secret` prints one)".to_owned());
                ClientKind::Public
            }
            ("confidential", None) => {
                fail("a confidential client needs secret_sha256".to_owned());
                ClientKind::Public
            }
            (other, _) => {
                fail(format!("type `{other}` is not `public`, `native` or `confidential`"));
                ClientKind::Public
            }
        };
        let mut scopes = if entry.scopes.is_empty() { vec!["openid".into(), "email".into()] } else { entry.scopes };
        if !scopes.iter().any(|s| s == "openid") {
            scopes.push("openid".into());
        }
        let mut seconds = |field: &str, value: Option<&str>, example: &str| match value.map(parse_duration) {
            None => None,
            Some(Some(duration)) => Some(duration.as_secs()),
            Some(None) => {
                problems.push(format!("client `{id}`: {field} must be a duration like {example}"));
                None
            }
        };
        let max_session_age_secs = seconds("max_session_age", entry.max_session_age.as_deref(), "8h");
        let refresh_token_ttl_secs = seconds("refresh_token_ttl", entry.refresh_token_ttl.as_deref(), "30d");
        if entry.webhook_url.is_some() && entry.webhook_secret.as_ref().is_none_or(|s| s.len() < 32) {
            problems.push(format!("client `{id}`: a webhook needs webhook_secret of at least 32 characters"));
        }
        let id_token_signed_response_alg = match entry.id_token_signed_response_alg.as_deref() {
            None | Some("EdDSA") => SigningAlg::EdDsa,
            Some("RS256") => SigningAlg::Rs256,
            Some(other) => {
                problems
                    .push(format!("client `{id}`: id_token_signed_response_alg `{other}` is not `EdDSA` or `RS256`"));
                SigningAlg::EdDsa
            }
        };
        if clients.iter().any(|c| c.id == id) {
            problems.push(format!("client `{id}` is listed twice"));
        }
        let client = Client {
            id: id.clone(),
            name: entry.name.unwrap_or_else(|| id.clone()),
            redirect_uris: entry.redirect_uris,
            post_logout_redirect_uris: entry.post_logout_redirect_uris,
            kind,
            scopes,
            require_second_factor: entry.require_second_factor,
            require_phishing_resistant: entry.require_phishing_resistant,
            max_session_age_secs,
            webhook_url: entry.webhook_url.clone(),
            id_token_signed_response_alg,
            refresh_token_ttl_secs,
            backchannel_logout_uri: entry.backchannel_logout_uri,
            logo_uri: entry.logo_uri,
            client_uri: entry.client_uri,
            policy_uri: entry.policy_uri,
            allowed_cors_origins: entry.allowed_cors_origins,
            webhook_secret: entry.webhook_secret,
            webhook_secret_sealed: None,
        };
        problems.extend(client.problems(production).into_iter().map(|p| format!("client `{id}`: {p}")));
        clients.push(client);
    }
    if problems.is_empty() { Ok(ClientRegistry::from_clients(clients)) } else { Err(problems) }
}

fn is_hex32(hex: &str) -> bool {
    let hex = hex.trim();
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::new_client_secret;

    const FILE: &str = r#"
        [[client]]
        client_id = "wiki"
        redirect_uris = ["https://wiki.example.com/cb"]
        type = "confidential"
        secret_sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"

        [[client]]
        client_id = "spa"
        redirect_uris = ["http://127.0.0.1:9000/cb"]
        type = "public"
    "#;

    #[test]
    fn a_clients_file_loads_and_secrets_check() {
        let registry = parse_clients_file(FILE, true).unwrap();
        let wiki = registry.find("wiki").unwrap();
        assert!(wiki.secret_matches("secret"));
        assert!(!wiki.secret_matches("Secret"));
        assert!(registry.find("spa").unwrap().is_public());
        assert!(wiki.allows_redirect("https://wiki.example.com/cb"));
        assert!(!wiki.allows_redirect("https://wiki.example.com/cb/"));
        assert_eq!(wiki.scopes, ["openid", "email"]);
        assert_eq!(wiki.id_token_signed_response_alg, SigningAlg::EdDsa, "EdDSA unless a client asks");
    }

    #[test]
    fn a_client_may_ask_for_rs256_id_tokens_and_nothing_else() {
        let rs256 = FILE.replace("type = \"public\"", "type = \"public\"\nid_token_signed_response_alg = \"RS256\"");
        let registry = parse_clients_file(&rs256, true).unwrap();
        assert_eq!(registry.find("spa").unwrap().id_token_signed_response_alg, SigningAlg::Rs256);
        assert_eq!(registry.find("wiki").unwrap().id_token_signed_response_alg, SigningAlg::EdDsa);

        let hs256 = FILE.replace("type = \"public\"", "type = \"public\"\nid_token_signed_response_alg = \"HS256\"");
        let problems = parse_clients_file(&hs256, true).unwrap_err();
        assert_eq!(problems, ["client `spa`: id_token_signed_response_alg `HS256` is not `EdDSA` or `RS256`"]);
    }

    #[test]
    fn unsafe_entries_are_refused_with_reasons() {
        let bad = r#"
            [[client]]
            client_id = "x"
            redirect_uris = ["http://app.example.com/cb", "https://a.example.com/cb#frag"]
            type = "confidential"
        "#;
        let problems = parse_clients_file(bad, true).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn new_secrets_match_their_hash() {
        let (secret, hash) = new_client_secret().unwrap();
        let file = format!(
            "[[client]]\nclient_id = \"c\"\nredirect_uris = [\"https://c.example/cb\"]\ntype = \"confidential\"\nsecret_sha256 = \"{hash}\"\n"
        );
        assert!(parse_clients_file(&file, true).unwrap().find("c").unwrap().secret_matches(&secret));
    }
}
