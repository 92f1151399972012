//! The webmail of well-known address domains, for an "Open Gmail" button on the "check your
//! email" page: a fixed table, no lookups. Unknown domains get no button.

use super::Email;

/// Where a webmail lives and whether it can open already searching for a mail.
struct Provider {
    /// The name on the button ("Gmail").
    name: &'static str,
    /// The inbox.
    inbox: &'static str,
    /// The start of a search URL; the percent-encoded query is appended. `None` when the
    /// webmail has no search URL that works when linked to.
    search: Option<&'static str>,
}

const GMAIL: Provider = Provider {
    name: "Gmail",
    inbox: "https://mail.google.com/mail/u/0/",
    search: Some("https://mail.google.com/mail/u/0/#search/"),
};
const OUTLOOK: Provider = Provider { name: "Outlook", inbox: "https://outlook.live.com/mail/0/", search: None };
const YAHOO: Provider = Provider { name: "Yahoo Mail", inbox: "https://mail.yahoo.com/", search: None };
const PROTON: Provider = Provider { name: "Proton Mail", inbox: "https://mail.proton.me/", search: None };
const ICLOUD: Provider = Provider { name: "iCloud Mail", inbox: "https://www.icloud.com/mail/", search: None };
const FASTMAIL: Provider = Provider { name: "Fastmail", inbox: "https://app.fastmail.com/mail/", search: None };
const GMX_DE: Provider = Provider { name: "GMX", inbox: "https://www.gmx.net/", search: None };
const GMX_COM: Provider = Provider { name: "GMX", inbox: "https://www.gmx.com/", search: None };
const WEB_DE: Provider = Provider { name: "WEB.DE", inbox: "https://web.de/", search: None };
const AOL: Provider = Provider { name: "AOL Mail", inbox: "https://mail.aol.com/", search: None };
const ZOHO: Provider = Provider { name: "Zoho Mail", inbox: "https://mail.zoho.com/", search: None };

/// Exact domains and the webmail behind them.
const DOMAINS: &[(&str, &Provider)] = &[
    ("gmail.com", &GMAIL),
    ("googlemail.com", &GMAIL),
    ("outlook.com", &OUTLOOK),
    ("hotmail.com", &OUTLOOK),
    ("hotmail.co.uk", &OUTLOOK),
    ("hotmail.de", &OUTLOOK),
    ("live.com", &OUTLOOK),
    ("msn.com", &OUTLOOK),
    ("outlook.de", &OUTLOOK),
    ("ymail.com", &YAHOO),
    ("rocketmail.com", &YAHOO),
    ("proton.me", &PROTON),
    ("protonmail.com", &PROTON),
    ("protonmail.ch", &PROTON),
    ("pm.me", &PROTON),
    ("icloud.com", &ICLOUD),
    ("me.com", &ICLOUD),
    ("mac.com", &ICLOUD),
    ("fastmail.com", &FASTMAIL),
    ("fastmail.fm", &FASTMAIL),
    ("gmx.de", &GMX_DE),
    ("gmx.net", &GMX_DE),
    ("gmx.at", &GMX_DE),
    ("gmx.ch", &GMX_DE),
    ("gmx.com", &GMX_COM),
    ("web.de", &WEB_DE),
    ("aol.com", &AOL),
    ("zoho.com", &ZOHO),
    ("zohomail.com", &ZOHO),
];

/// A button to the address's webmail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webmail {
    /// The webmail's name ("Gmail").
    pub name: &'static str,
    /// Where the button leads: a search for the sign-in mail where the webmail has a search
    /// URL, its inbox otherwise.
    pub url: String,
}

impl Webmail {
    /// The webmail of `email`'s domain, searching for mail from `sender` with `subject` where
    /// it can; `None` for a domain not in the table.
    pub fn for_address(email: &Email, sender: &str, subject: &str) -> Option<Self> {
        let domain = email.as_str().rsplit_once('@')?.1.to_ascii_lowercase();
        Some(Self::of(provider_of(&domain)?, sender, subject))
    }
}

/// Where the mail of a domain hosted by a provider is read, by the provider's MX host names.
const OUTLOOK_365: Provider = Provider { name: "Outlook", inbox: "https://outlook.office.com/mail/", search: None };
const EXCHANGES: &[(&str, &Provider)] = &[
    ("google.com", &GMAIL),
    ("googlemail.com", &GMAIL),
    ("outlook.com", &OUTLOOK_365),
    ("protonmail.ch", &PROTON),
    ("icloud.com", &ICLOUD),
    ("messagingengine.com", &FASTMAIL),
    ("zoho.com", &ZOHO),
    ("zoho.eu", &ZOHO),
    ("yahoodns.net", &YAHOO),
];

impl Webmail {
    /// The webmail of a domain not in the table whose mail goes to a known provider, by its MX
    /// host names (`aspmx.l.google.com` → Gmail, `…mail.protection.outlook.com` → Outlook), as
    /// [`Webmail::for_address`] builds it; `None` when no exchange is a known provider's.
    pub fn for_exchanges(exchanges: &[String], sender: &str, subject: &str) -> Option<Self> {
        let provider = exchanges.iter().find_map(|exchange| {
            let exchange = exchange.trim_end_matches('.').to_ascii_lowercase();
            EXCHANGES
                .iter()
                .find(|(suffix, _)| exchange == *suffix || exchange.ends_with(&format!(".{suffix}")))
                .map(|(_, provider)| *provider)
        })?;
        Some(Self::of(provider, sender, subject))
    }

    fn of(provider: &Provider, sender: &str, subject: &str) -> Self {
        let url = match provider.search {
            Some(search) => {
                let query = format!("from:({sender}) subject:(\"{subject}\")");
                format!("{search}{}", url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>())
            }
            None => provider.inbox.to_owned(),
        };
        Self { name: provider.name, url }
    }
}

fn provider_of(domain: &str) -> Option<&'static Provider> {
    if let Some((_, provider)) = DOMAINS.iter().find(|(known, _)| *known == domain) {
        return Some(provider);
    }
    // yahoo.com, yahoo.de, yahoo.co.uk, yahoo.com.br …
    let (first, rest) = domain.split_once('.')?;
    (first == "yahoo" && !rest.is_empty() && !rest.contains("..")).then_some(&YAHOO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webmail(address: &str) -> Option<Webmail> {
        Webmail::for_address(&Email::parse(address).unwrap(), "login@example.com", "Your sign-in link")
    }

    #[test]
    fn gmail_opens_searching_for_the_sign_in_mail() {
        let gmail = webmail("ann@gmail.com").unwrap();
        assert_eq!(gmail.name, "Gmail");
        assert_eq!(
            gmail.url,
            "https://mail.google.com/mail/u/0/#search/from%3A%28login%40example.com%29+subject%3A%28%22Your+sign-in+link%22%29"
        );
        assert_eq!(webmail("ann@GoogleMail.com").unwrap().name, "Gmail");
    }

    #[test]
    fn well_known_domains_get_their_inbox() {
        for (address, name) in [
            ("a@hotmail.com", "Outlook"),
            ("a@live.com", "Outlook"),
            ("a@yahoo.co.uk", "Yahoo Mail"),
            ("a@yahoo.com", "Yahoo Mail"),
            ("a@proton.me", "Proton Mail"),
            ("a@protonmail.com", "Proton Mail"),
            ("a@me.com", "iCloud Mail"),
            ("a@fastmail.com", "Fastmail"),
            ("a@gmx.de", "GMX"),
            ("a@web.de", "WEB.DE"),
        ] {
            let found = webmail(address).unwrap_or_else(|| panic!("{address}"));
            assert_eq!(found.name, name, "{address}");
            assert!(found.url.starts_with("https://"), "{address}");
        }
    }

    #[test]
    fn a_custom_domain_gets_its_providers_webmail_by_mx() {
        let by_mx = |mx: &[&str]| {
            let mx: Vec<String> = mx.iter().map(|m| (*m).to_owned()).collect();
            Webmail::for_exchanges(&mx, "login@example.com", "Your sign-in link").map(|w| w.name)
        };
        assert_eq!(by_mx(&["aspmx.l.google.com", "alt1.aspmx.l.google.com"]), Some("Gmail"));
        assert_eq!(by_mx(&["example-com.mail.protection.outlook.com"]), Some("Outlook"));
        assert_eq!(by_mx(&["mail.protonmail.ch"]), Some("Proton Mail"));
        assert_eq!(by_mx(&["in1-smtp.messagingengine.com"]), Some("Fastmail"));
        assert_eq!(by_mx(&["mx.example.com", "mx.notgoogle.com"]), None);
        assert_eq!(by_mx(&[]), None);
    }

    #[test]
    fn unknown_domains_get_no_button() {
        for address in ["a@example.com", "a@notgmail.com", "a@gmail.com.evil.example", "a@myyahoo.com"] {
            assert_eq!(webmail(address), None, "{address}");
        }
    }
}
