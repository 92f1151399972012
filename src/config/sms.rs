//! Text messages: `SMS_PROVIDER`, `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_FROM`,
//! `TWILIO_BASE_URL` and `SMS_ALLOWED_COUNTRIES` (the allow-list against SMS pumping fraud).

use secrecy::SecretString;
use url::Url;

use super::reader::Reader;
use crate::domain::{AllowedCountries, PhoneNumber, is_loopback};

/// Twilio's API, when `TWILIO_BASE_URL` is unset.
const TWILIO_API: &str = "https://api.twilio.com";

/// Which SMS provider the service uses.
#[derive(Debug, Clone)]
pub enum SmsProvider {
    /// No SMS: the SMS second factor is not offered.
    Disabled,
    /// Messages, codes included, printed to the log (development only).
    Log,
    /// Twilio's Messages API, or a service compatible with it.
    Twilio {
        /// `TWILIO_ACCOUNT_SID`: basic-auth user and part of the URL.
        account_sid: String,
        /// `TWILIO_AUTH_TOKEN`: basic-auth password.
        auth_token: SecretString,
        /// `TWILIO_FROM`: an E.164 number, or a Messaging Service SID (`MG…`).
        from: String,
        /// `TWILIO_BASE_URL` (default `https://api.twilio.com`).
        base_url: Url,
    },
}

/// Everything the `SMS_*` and `TWILIO_*` variables say.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// `SMS_PROVIDER` and its settings.
    pub provider: SmsProvider,
    /// `SMS_ALLOWED_COUNTRIES`.
    pub allowed_countries: AllowedCountries,
}

/// A Twilio Messaging Service SID: `MG` and 32 hex digits.
pub fn is_messaging_service_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("MG") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Reader<'_> {
    /// The SMS settings; `None` after a problem. Development defaults to `SMS_PROVIDER=log`,
    /// production to `none`.
    pub(super) fn sms(&mut self, production: bool) -> Option<SmsSettings> {
        let before = self.problems.len();
        let kind = self
            .get("SMS_PROVIDER")
            .map(|k| k.to_ascii_lowercase())
            .unwrap_or_else(|| if production { "none" } else { "log" }.to_owned());
        let provider = match kind.as_str() {
            "none" => Some(SmsProvider::Disabled),
            "log" if production => {
                self.problem(
                    "SMS_PROVIDER",
                    "`log` prints codes to the log and is for development; use `twilio`, or `none` to turn SMS off",
                );
                None
            }
            "log" => Some(SmsProvider::Log),
            "twilio" => self.twilio(production),
            other => {
                self.problem("SMS_PROVIDER", format!("`{other}` is not `twilio`, `log` or `none`"));
                None
            }
        };
        let allowed_countries = match self.get("SMS_ALLOWED_COUNTRIES") {
            Some(raw) => AllowedCountries::parse(&raw).map_err(|m| self.problem("SMS_ALLOWED_COUNTRIES", m)).ok(),
            None if production && kind == "twilio" => {
                self.problem(
                    "SMS_ALLOWED_COUNTRIES",
                    "is required with SMS_PROVIDER=twilio in production, against SMS pumping: set it to the countries \
                     you serve, e.g. `US,GB,DE` or `+44,+1` (`*` allows every country)",
                );
                None
            }
            None => Some(AllowedCountries::all()),
        };
        match (provider, allowed_countries) {
            (Some(provider), Some(allowed_countries)) if self.problems.len() == before => {
                Some(SmsSettings { provider, allowed_countries })
            }
            _ => None,
        }
    }

    /// `TWILIO_*`: every missing or bad one is reported.
    fn twilio(&mut self, production: bool) -> Option<SmsProvider> {
        let account_sid = match self.get("TWILIO_ACCOUNT_SID") {
            Some(sid) if sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_alphanumeric()) => Some(sid),
            Some(_) => {
                self.problem("TWILIO_ACCOUNT_SID", "must be letters and digits only, like AC0123… (Twilio console)");
                None
            }
            None => {
                self.problem(
                    "TWILIO_ACCOUNT_SID",
                    "is required with SMS_PROVIDER=twilio: the Account SID (AC…) from the Twilio console",
                );
                None
            }
        };
        let auth_token = self.get("TWILIO_AUTH_TOKEN").map(SecretString::from);
        if auth_token.is_none() {
            self.problem(
                "TWILIO_AUTH_TOKEN",
                "is required with SMS_PROVIDER=twilio: the Auth Token from the Twilio console",
            );
        }
        let from = match self.get("TWILIO_FROM") {
            Some(raw) if is_messaging_service_sid(&raw) => Some(raw),
            Some(raw) => match PhoneNumber::parse(&raw) {
                Ok(number) => Some(number.as_str().to_owned()),
                Err(_) => {
                    self.problem(
                        "TWILIO_FROM",
                        format!(
                            "`{raw}` is neither a number in E.164 (+14155552671) nor a Messaging Service SID (MG + 32 hex digits)"
                        ),
                    );
                    None
                }
            },
            None => {
                self.problem(
                    "TWILIO_FROM",
                    "is required with SMS_PROVIDER=twilio: your sending number (+14155552671) or Messaging Service SID (MG…)",
                );
                None
            }
        };
        let raw_base = self.get("TWILIO_BASE_URL").unwrap_or_else(|| TWILIO_API.to_owned());
        let base_url = check_base_url(&raw_base, production).map_err(|m| self.problem("TWILIO_BASE_URL", m)).ok();
        Some(SmsProvider::Twilio {
            account_sid: account_sid?,
            auth_token: auth_token?,
            from: from?,
            base_url: base_url?,
        })
    }
}

/// The provider's URL must be http(s) without credentials, query or fragment, and in
/// production https unless it is on this machine.
fn check_base_url(raw: &str, production: bool) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| format!("`{raw}` is not a URL like https://api.twilio.com"))?;
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err("must be a plain URL like https://api.twilio.com (credentials go in TWILIO_AUTH_TOKEN)".into());
    }
    let loopback = is_loopback(&url);
    match url.scheme() {
        "https" => Ok(url),
        "http" if !production || loopback => Ok(url),
        "http" => Err("must start with https:// in production (plain http is allowed only to loopback)".into()),
        other => Err(format!("`{other}://` is not http:// or https://")),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn parse(vars: &[(&str, &str)], production: bool) -> Result<SmsSettings, Vec<(&'static str, String)>> {
        let lookup = |name: &str| vars.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let mut r = Reader::new(&lookup);
        let sms = r.sms(production);
        sms.ok_or_else(|| r.problems.into_iter().map(|p| (p.var, p.message)).collect())
    }

    fn vars_of(problems: &[(&'static str, String)]) -> Vec<&'static str> {
        problems.iter().map(|(var, _)| *var).collect()
    }

    fn number(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n).unwrap()
    }

    const TWILIO: [(&str, &str); 5] = [
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", "s3cr3t-t0ken"),
        ("TWILIO_FROM", "+1 415 555 2671"),
        ("SMS_ALLOWED_COUNTRIES", "US, gb"),
    ];

    #[test]
    fn development_logs_messages_to_every_country_by_default() {
        let s = parse(&[], false).unwrap();
        assert!(matches!(s.provider, SmsProvider::Log));
        assert_eq!(s.allowed_countries, AllowedCountries::all());
    }

    #[test]
    fn production_disables_sms_by_default_and_refuses_the_log() {
        assert!(matches!(parse(&[], true).unwrap().provider, SmsProvider::Disabled));
        assert!(matches!(parse(&[("SMS_PROVIDER", "none")], false).unwrap().provider, SmsProvider::Disabled));
        let problems = parse(&[("SMS_PROVIDER", "log")], true).unwrap_err();
        assert_eq!(vars_of(&problems), ["SMS_PROVIDER"]);
        assert_eq!(vars_of(&parse(&[("SMS_PROVIDER", "carrier-pigeon")], false).unwrap_err()), ["SMS_PROVIDER"]);
    }

    #[test]
    fn twilio_settings_are_read_and_the_sender_normalised() {
        let s = parse(&TWILIO, true).unwrap();
        let SmsProvider::Twilio { account_sid, auth_token, from, base_url } = s.provider else { panic!("not twilio") };
        assert_eq!(account_sid, "AC0123456789abcdef0123456789abcdef");
        assert_eq!(auth_token.expose_secret(), "s3cr3t-t0ken");
        assert_eq!(from, "+14155552671");
        assert_eq!(base_url.as_str(), "https://api.twilio.com/");
        assert!(s.allowed_countries.allows(&number("+442079460958")));
        assert!(!s.allowed_countries.allows(&number("+33612345678")));
    }

    #[test]
    fn the_auth_token_never_reaches_debug_output() {
        let s = parse(&TWILIO, false).unwrap();
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn every_missing_twilio_setting_is_reported_at_once() {
        let problems = parse(&[("SMS_PROVIDER", "twilio")], true).unwrap_err();
        assert_eq!(
            vars_of(&problems),
            ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "SMS_ALLOWED_COUNTRIES"]
        );
        // Development needs the credentials but not the allow-list.
        let problems = parse(&[("SMS_PROVIDER", "twilio")], false).unwrap_err();
        assert_eq!(vars_of(&problems), ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"]);
    }

    #[test]
    fn bad_twilio_values_are_explained() {
        let mut vars = TWILIO.to_vec();
        vars.extend([
            ("TWILIO_ACCOUNT_SID", "../AC1"),
            ("TWILIO_FROM", "Latchkey"),
            ("TWILIO_BASE_URL", "ftp://example.com"),
            ("SMS_ALLOWED_COUNTRIES", "US,XX"),
        ]);
        let problems = parse(&vars, false).unwrap_err();
        assert_eq!(
            vars_of(&problems),
            ["TWILIO_ACCOUNT_SID", "TWILIO_FROM", "TWILIO_BASE_URL", "SMS_ALLOWED_COUNTRIES"]
        );
        assert!(problems[3].1.contains("`XX`"), "{}", problems[3].1);
    }

    #[test]
    fn a_messaging_service_may_send() {
        let mut vars = TWILIO.to_vec();
        vars.push(("TWILIO_FROM", "MG0123456789abcdef0123456789abcdef"));
        let SmsProvider::Twilio { from, .. } = parse(&vars, true).unwrap().provider else { panic!("not twilio") };
        assert_eq!(from, "MG0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn production_needs_https_to_the_provider_except_on_loopback() {
        let with_base = |url: &'static str, production| {
            let mut vars = TWILIO.to_vec();
            vars.push(("TWILIO_BASE_URL", url));
            parse(&vars, production)
        };
        assert_eq!(vars_of(&with_base("http://sms.example.com", true).unwrap_err()), ["TWILIO_BASE_URL"]);
        assert!(with_base("http://sms.example.com", false).is_ok());
        assert!(with_base("http://127.0.0.1:9000", true).is_ok());
        assert!(with_base("http://[::1]:9000", true).is_ok());
        assert!(with_base("http://localhost:9000/twilio", true).is_ok());
        assert!(with_base("https://sms.example.com", true).is_ok());
        assert!(with_base("https://user:pw@sms.example.com", true).is_err());
    }
}
