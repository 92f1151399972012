//! The app a sign-in is for, as its pages show it: logo, name (linked to its home page),
//! privacy policy link — and the Content-Security-Policy that lets exactly its logo load.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_SECURITY_POLICY, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Responder};

use super::{AppState, Localized, page};
use crate::domain::{AppBrand, LocalPath};
use crate::i18n::Messages;

/// The Content-Security-Policy of every response (set in `app::http`), and of the pages of an
/// app's flow without a logo.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

/// The app header of a page: everything is plain text, escaped by the template.
pub struct AppView {
    /// The app's registered name.
    pub name: String,
    /// Its logo (https, from the origin the page's CSP allows).
    pub logo_uri: Option<String>,
    /// Its home page, linked from the name.
    pub client_uri: Option<String>,
    /// Its privacy policy.
    pub policy_uri: Option<String>,
    /// The link text of the policy ("Privacy policy of Team wiki").
    pub policy_text: String,
    /// The sentence naming the app, around the name: ("You are signing in to ", "."); `None`
    /// where the heading already names it.
    pub lead: Option<(&'static str, &'static str)>,
    logo_origin: Option<String>,
}

impl AppView {
    /// The header for `brand`, in `t`'s language; `lead`: with the "You are signing in to …"
    /// sentence.
    pub fn new(t: &'static Messages, brand: AppBrand, lead: bool) -> Self {
        let text = t.app_signing_in_to;
        let around = text.split_once("{0}").unwrap_or((text, ""));
        Self {
            policy_text: t.fill(t.app_privacy_policy, &brand.name),
            name: brand.name,
            logo_uri: brand.logo_uri,
            client_uri: brand.client_uri,
            policy_uri: brand.policy_uri,
            lead: lead.then_some(around),
            logo_origin: brand.logo_origin,
        }
    }
}

/// The app the sign-in returning to `return_to` is for, with its header in `t`'s language.
pub async fn app_view(state: &AppState, t: &'static Messages, return_to: &LocalPath, lead: bool) -> Option<AppView> {
    state.oidc.app_for(return_to).await.map(|brand| AppView::new(t, brand, lead))
}

/// A page that can show the app its sign-in is for.
pub trait WithApp {
    /// The app header, if the page shows one.
    fn app(&self) -> Option<&AppView>;
}

/// Every page struct listed has an `app: Option<AppView>` field.
macro_rules! with_app {
    ($($page:ty),+ $(,)?) => {
        $(impl WithApp for $page {
            fn app(&self) -> Option<&AppView> {
                self.app.as_ref()
            }
        })+
    };
}

with_app!(
    super::login::LoginPage,
    super::login::SentPage,
    super::verify::ConfirmPage,
    super::verify::EnterCodePage,
    super::verify::OtherBrowserPage,
    super::second_factor::SecondFactorPage,
    super::second_factor::EnrollPage,
    super::second_factor::RecoveryCodesPage,
);

/// [`page`], with a Content-Security-Policy whose `img-src` also allows the app's logo
/// origin — only that origin, only on a page that shows the logo.
pub fn branded_page<T: Responder + Localized + WithApp>(
    req: &HttpRequest,
    status: StatusCode,
    template: T,
    cookies: &[Cookie<'static>],
) -> HttpResponse {
    let csp = template.app().and_then(|a| a.logo_origin.as_deref()).map(csp_allowing_image);
    let mut response = page(req, status, template, cookies);
    if let Some(value) = csp.and_then(|csp| HeaderValue::from_str(&csp).ok()) {
        response.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// [`CONTENT_SECURITY_POLICY_VALUE`] with `origin` added to `img-src`.
fn csp_allowing_image(origin: &str) -> String {
    CONTENT_SECURITY_POLICY_VALUE.replacen("img-src 'self' data:", &format!("img-src 'self' data: {origin}"), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logo_origin_is_the_only_addition_to_img_src() {
        let csp = csp_allowing_image("https://cdn.example.com");
        assert_eq!(
            csp,
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data: https://cdn.example.com; base-uri 'none'; frame-ancestors 'none'"
        );
    }

    #[test]
    fn the_lead_sentence_splits_around_the_name_in_every_language() {
        for lang in crate::i18n::Lang::ALL {
            let t = lang.messages();
            let brand =
                AppBrand { name: "Wiki".into(), logo_uri: None, logo_origin: None, client_uri: None, policy_uri: None };
            let (before, after) = AppView::new(t, brand, true).lead.unwrap();
            assert_eq!(format!("{before}{{0}}{after}"), t.app_signing_in_to);
        }
    }
}
