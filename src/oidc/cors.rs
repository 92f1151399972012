//! Which web origins may read the provider's answers from a browser (CORS): exactly the
//! `allowed_cors_origins` of the registered clients. The clients file's origins are read from
//! memory; the store's are kept as one set for [`STORE_ORIGINS_TTL`], so a request from an
//! unregistered origin costs no store round trip, and a client registered or changed at run
//! time counts on every instance within that time (at once on the instance that changed it).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::service::OidcService;
use crate::store::StoreError;

/// How long the set of origins that store clients registered is kept before it is read again.
pub const STORE_ORIGINS_TTL: Duration = Duration::from_secs(10);

/// The origins of the clients in the store, as last read.
#[derive(Default)]
pub struct CorsOrigins {
    /// The set, and when it was read.
    known: RwLock<Option<(Instant, Arc<HashSet<String>>)>>,
    /// Held while the set is read again, so concurrent requests wait for one read.
    refresh: tokio::sync::Mutex<()>,
}

impl CorsOrigins {
    /// The set, when read less than [`STORE_ORIGINS_TTL`] ago.
    fn fresh(&self) -> Option<Arc<HashSet<String>>> {
        let known = self.known.read().ok()?;
        known.as_ref().filter(|(at, _)| at.elapsed() < STORE_ORIGINS_TTL).map(|(_, set)| Arc::clone(set))
    }

    /// The set, however old (what is left to answer with while the store does not).
    fn last(&self) -> Arc<HashSet<String>> {
        let known = self.known.read().ok();
        known.and_then(|k| k.as_ref().map(|(_, set)| Arc::clone(set))).unwrap_or_default()
    }

    fn keep(&self, set: Arc<HashSet<String>>) {
        if let Ok(mut known) = self.known.write() {
            *known = Some((Instant::now(), set));
        }
    }

    /// Forgets the set: the next request reads the store again (after a client change).
    pub fn forget(&self) {
        if let Ok(mut known) = self.known.write() {
            *known = None;
        }
    }
}

impl OidcService {
    /// True when some registered client, in the clients file or the store, lists `origin` in
    /// its `allowed_cors_origins` (for the discovery document, the JWKS and userinfo, which
    /// any of those apps may read).
    pub async fn cors_origin_registered(&self, origin: &str) -> bool {
        if self.clients.all().any(|c| c.allows_cors_origin(origin)) {
            return true;
        }
        self.store_origins().await.contains(origin)
    }

    /// True when the client `client_id` lists `origin` (for the token endpoint: a browser app
    /// reads only the answers meant for it).
    pub async fn cors_origin_of_client(&self, client_id: &str, origin: &str) -> Result<bool, StoreError> {
        Ok(self.client(client_id).await?.is_some_and(|c| c.allows_cors_origin(origin)))
    }

    /// The origins of the store's clients: the kept set while fresh, else read once. A store
    /// that does not answer leaves the last set in place for another [`STORE_ORIGINS_TTL`].
    async fn store_origins(&self) -> Arc<HashSet<String>> {
        if let Some(set) = self.cors.fresh() {
            return set;
        }
        let _one_reader = self.cors.refresh.lock().await;
        if let Some(set) = self.cors.fresh() {
            return set;
        }
        let set = match self.store.list_clients().await {
            Ok(clients) => Arc::new(clients.into_iter().flat_map(|c| c.allowed_cors_origins).collect()),
            Err(e) => {
                tracing::warn!(error = ?e, "the store's clients could not be read for CORS; the last set stays");
                self.cors.last()
            }
        };
        self.cors.keep(Arc::clone(&set));
        set
    }
}
