//! The registered OIDC clients: `CLIENTS_FILE`.

use super::reader::Reader;
use crate::oidc::ClientRegistry;

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
        match ClientRegistry::from_toml(&text, prod) {
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
