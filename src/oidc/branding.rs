//! Which app a sign-in is for: the registered client of the authorization request it returns
//! to, so its pages and mail can name it.

use super::service::OidcService;
use crate::domain::{AppBrand, LocalPath};

/// Where the sign-in of an authorization request returns to.
const AUTHORIZE_PATH: &str = "/oauth2/authorize";

impl OidcService {
    /// The app a sign-in returning to `return_to` is for: the registered client named by an
    /// authorization request there whose `redirect_uri` that client registered — the request
    /// the sign-in resumes. `None` for any other destination, an unknown client, a
    /// `client_id` or `redirect_uri` given twice, or a store that does not answer (the page is
    /// then plain: a name is never taken from the request itself).
    pub async fn app_for(&self, return_to: &LocalPath) -> Option<AppBrand> {
        let (path, query) = return_to.as_str().split_once('?')?;
        if path != AUTHORIZE_PATH {
            return None;
        }
        let (mut client_id, mut redirect_uri) = (Vec::new(), Vec::new());
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "client_id" => client_id.push(value),
                "redirect_uri" => redirect_uri.push(value),
                _ => {}
            }
        }
        let ([client_id], [redirect_uri]) = (client_id.as_slice(), redirect_uri.as_slice()) else { return None };
        let client = match self.client(client_id).await {
            Ok(client) => client?,
            Err(e) => {
                tracing::warn!(error = %e, "client lookup for the sign-in page failed; shown without the app");
                return None;
            }
        };
        client.allows_redirect(redirect_uri).then(|| AppBrand::of(&client))
    }
}
