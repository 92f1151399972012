//! Text messages for the SMS second factor: the sender port, a Twilio-compatible HTTP adapter,
//! a development adapter that prints to the log, and the `SMS_*` / `TWILIO_*` settings with
//! the country allow-list that stands between the service and SMS pumping fraud.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::domain::PhoneNumber;

/// Why a text message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The provider refused this message or number; retrying will not help. The reason is
    /// short and safe to show to the person (it never holds the number or the provider's text).
    #[error("the SMS provider refused the message: {0}")]
    Rejected(String),
    /// Network error, timeout, provider outage or misconfiguration; worth retrying later.
    #[error("the SMS provider is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// Sends one text message. Callers check [`AllowedCountries::allows`] first.
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    /// Sends `body` to `to`.
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<(), SmsError>;
}

/// Prints each message to the log, code included (development only: production refuses
/// `SMS_PROVIDER=log`).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSms;

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<(), SmsError> {
        tracing::info!(to = %to.masked(), "SMS (SMS_PROVIDER=log):\n{body}");
        Ok(())
    }
}

/// How long one request to the provider may take, connection included.
const TWILIO_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends through Twilio's Messages API, or any service that speaks it.
pub struct TwilioSms {
    client: reqwest::Client,
    messages_url: Url,
    account_sid: String,
    auth_token: SecretString,
    /// The form field and value naming the sender: `From` for a number, or
    /// `MessagingServiceSid` for a Messaging Service (`MG…`).
    sender: (&'static str, String),
}

impl TwilioSms {
    /// Builds the adapter and its HTTP client (once; connections are pooled).
    /// `from` is an E.164 number or a Messaging Service SID (`MG…`).
    pub fn new(account_sid: &str, auth_token: SecretString, from: &str, base_url: &Url) -> anyhow::Result<Self> {
        let mut messages_url = base_url.clone();
        messages_url
            .path_segments_mut()
            .map_err(|()| anyhow::anyhow!("TWILIO_BASE_URL {base_url} cannot hold a path"))?
            .pop_if_empty()
            .extend(["2010-04-01", "Accounts", account_sid, "Messages.json"]);
        let client = reqwest::Client::builder()
            .timeout(TWILIO_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let sender = if is_messaging_service_sid(from) { "MessagingServiceSid" } else { "From" };
        Ok(Self {
            client,
            messages_url,
            account_sid: account_sid.to_owned(),
            auth_token,
            sender: (sender, from.to_owned()),
        })
    }
}

/// Twilio's error document: `{"code": 21211, "message": "…", "status": 400, …}`.
#[derive(Debug, Default, Deserialize)]
struct TwilioFailure {
    code: Option<u32>,
    message: Option<String>,
}

/// The part of Twilio's answer to a sent message worth logging (not `to`, not `body`).
#[derive(Deserialize)]
struct TwilioAccepted {
    sid: Option<String>,
}

#[async_trait]
impl SmsSender for TwilioSms {
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<(), SmsError> {
        let (sender_field, sender) = &self.sender;
        let response = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&[("To", to.as_str()), (sender_field, sender), ("Body", body)])
            .send()
            .await
            .map_err(|e| SmsError::Unavailable(anyhow::Error::new(e).context("cannot reach the SMS provider")))?;
        let status = response.status();
        let answer = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let sid = serde_json::from_slice::<TwilioAccepted>(&answer).ok().and_then(|a| a.sid);
            tracing::info!(to = %to.masked(), sid, "SMS accepted by the provider");
            return Ok(());
        }
        let failure: TwilioFailure = serde_json::from_slice(&answer).unwrap_or_default();
        // Twilio's messages quote the number ("The 'To' number +4420… is not valid").
        let message = failure.message.as_deref().map(|m| scrub(m, to));
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                tracing::error!(
                    to = %to.masked(), %status, code = failure.code, message,
                    "the SMS provider refused our credentials or URL: check TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_BASE_URL"
                );
                Err(SmsError::Unavailable(anyhow::anyhow!("the SMS provider answered {status}")))
            }
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                tracing::warn!(to = %to.masked(), %status, code = failure.code, message, "SMS provider busy");
                Err(SmsError::Unavailable(anyhow::anyhow!("the SMS provider answered {status}")))
            }
            s if s.is_client_error() => {
                tracing::warn!(to = %to.masked(), %status, code = failure.code, message, "SMS refused by the provider");
                Err(SmsError::Rejected(rejection_reason(failure.code).to_owned()))
            }
            _ => {
                tracing::warn!(to = %to.masked(), %status, code = failure.code, message, "SMS provider failed");
                Err(SmsError::Unavailable(anyhow::anyhow!("the SMS provider answered {status}")))
            }
        }
    }
}

/// What to tell the person when the provider refuses a number, by Twilio error code.
fn rejection_reason(code: Option<u32>) -> &'static str {
    match code {
        Some(21211) => "That phone number is not valid.",
        Some(21408 | 21612) => "We cannot send text messages to that country.",
        Some(21610) => "That number has opted out of our text messages (reply START to opt back in).",
        Some(21614) => "That number cannot receive text messages.",
        _ => "The SMS provider refused this number.",
    }
}

/// A provider message made fit for the log: the number masked, the length bounded.
fn scrub(message: &str, to: &PhoneNumber) -> String {
    let masked = to.masked();
    let scrubbed = message.replace(to.as_str(), &masked).replace(&to.as_str()[1..], &masked);
    scrubbed.chars().take(200).collect()
}

/// A Twilio Messaging Service SID: `MG` and 32 hex digits.
fn is_messaging_service_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("MG") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

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

/// Builds the sender the settings name; `None` when SMS is disabled.
pub fn build_sender(settings: &SmsProvider) -> anyhow::Result<Option<Arc<dyn SmsSender>>> {
    Ok(match settings {
        SmsProvider::Disabled => None,
        SmsProvider::Log => Some(Arc::new(LogSms)),
        SmsProvider::Twilio { account_sid, auth_token, from, base_url } => {
            Some(Arc::new(TwilioSms::new(account_sid, auth_token.clone(), from, base_url)?))
        }
    })
}

/// Reads the SMS settings through `lookup`, reporting every problem as (variable, message
/// with the fix). Development defaults to `SMS_PROVIDER=log`, production to `none`.
pub fn parse_sms_settings(
    lookup: &dyn Fn(&str) -> Option<String>,
    production: bool,
) -> Result<SmsSettings, Vec<(&'static str, String)>> {
    let get = |var: &str| lookup(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let mut problems: Vec<(&'static str, String)> = Vec::new();
    let kind = get("SMS_PROVIDER")
        .map(|k| k.to_ascii_lowercase())
        .unwrap_or_else(|| if production { "none" } else { "log" }.to_owned());
    let provider = match kind.as_str() {
        "none" => Some(SmsProvider::Disabled),
        "log" if production => {
            problems.push((
                "SMS_PROVIDER",
                "`log` prints codes to the log and is for development; use `twilio`, or `none` to turn SMS off"
                    .to_owned(),
            ));
            None
        }
        "log" => Some(SmsProvider::Log),
        "twilio" => twilio_settings(&get, production, &mut problems),
        other => {
            problems.push(("SMS_PROVIDER", format!("`{other}` is not `twilio`, `log` or `none`")));
            None
        }
    };
    let allowed_countries = match get("SMS_ALLOWED_COUNTRIES") {
        Some(raw) => AllowedCountries::parse(&raw).map_err(|m| problems.push(("SMS_ALLOWED_COUNTRIES", m))).ok(),
        None if production && kind == "twilio" => {
            problems.push((
                "SMS_ALLOWED_COUNTRIES",
                "is required with SMS_PROVIDER=twilio in production, against SMS pumping: set it to the countries \
                 you serve, e.g. `US,GB,DE` or `+44,+1` (`*` allows every country)"
                    .to_owned(),
            ));
            None
        }
        None => Some(AllowedCountries::all()),
    };
    match (provider, allowed_countries) {
        (Some(provider), Some(allowed_countries)) if problems.is_empty() => {
            Ok(SmsSettings { provider, allowed_countries })
        }
        _ => Err(problems),
    }
}

fn twilio_settings(
    get: &dyn Fn(&str) -> Option<String>,
    production: bool,
    problems: &mut Vec<(&'static str, String)>,
) -> Option<SmsProvider> {
    let account_sid = match get("TWILIO_ACCOUNT_SID") {
        Some(sid) if sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_alphanumeric()) => Some(sid),
        Some(_) => {
            problems
                .push(("TWILIO_ACCOUNT_SID", "must be letters and digits only, like AC0123… (Twilio console)".into()));
            None
        }
        None => {
            problems.push((
                "TWILIO_ACCOUNT_SID",
                "is required with SMS_PROVIDER=twilio: the Account SID (AC…) from the Twilio console".into(),
            ));
            None
        }
    };
    let auth_token = get("TWILIO_AUTH_TOKEN").map(SecretString::from);
    if auth_token.is_none() {
        problems.push((
            "TWILIO_AUTH_TOKEN",
            "is required with SMS_PROVIDER=twilio: the Auth Token from the Twilio console".into(),
        ));
    }
    let from = match get("TWILIO_FROM") {
        Some(raw) if is_messaging_service_sid(&raw) => Some(raw),
        Some(raw) => match PhoneNumber::parse(&raw) {
            Ok(number) => Some(number.as_str().to_owned()),
            Err(_) => {
                problems.push((
                    "TWILIO_FROM",
                    format!(
                        "`{raw}` is neither a number in E.164 (+14155552671) nor a Messaging Service SID (MG + 32 hex digits)"
                    ),
                ));
                None
            }
        },
        None => {
            problems.push((
                "TWILIO_FROM",
                "is required with SMS_PROVIDER=twilio: your sending number (+14155552671) or Messaging Service SID (MG…)"
                    .into(),
            ));
            None
        }
    };
    let base_url = match get("TWILIO_BASE_URL") {
        None => Some(Url::parse("https://api.twilio.com").expect("a valid URL")),
        Some(raw) => check_base_url(&raw, production).map_err(|m| problems.push(("TWILIO_BASE_URL", m))).ok(),
    };
    Some(SmsProvider::Twilio { account_sid: account_sid?, auth_token: auth_token?, from: from?, base_url: base_url? })
}

/// The provider's URL must be http(s) without credentials, query or fragment, and in
/// production https unless it is on this machine.
fn check_base_url(raw: &str, production: bool) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| format!("`{raw}` is not a URL like https://api.twilio.com"))?;
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err("must be a plain URL like https://api.twilio.com (credentials go in TWILIO_AUTH_TOKEN)".into());
    }
    let loopback = crate::config::is_loopback(&url);
    match url.scheme() {
        "https" => Ok(url),
        "http" if !production || loopback => Ok(url),
        "http" => Err("must start with https:// in production (plain http is allowed only to loopback)".into()),
        other => Err(format!("`{other}://` is not http:// or https://")),
    }
}

/// Which destination countries may receive codes. Entries are ISO 3166 alpha-2 codes (`GB`)
/// or calling-code prefixes (`+44`, or a longer `+1876` for one NANP country); `*` allows all.
///
/// Countries sharing a calling code cannot be told apart by it: `US` and `CA` each allow all
/// of `+1`, which is the whole North American Numbering Plan, Caribbean included; `RU` allows
/// all of `+7`, Kazakhstan included; `GB` allows Jersey, Guernsey and the Isle of Man. To allow
/// one NANP country but not the rest, list its area codes (`+1876`) or its ISO code (`JM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedCountries {
    /// Digit prefixes of allowed E.164 numbers (no `+`); `None` allows every number.
    prefixes: Option<Vec<String>>,
}

impl AllowedCountries {
    /// Every country.
    pub fn all() -> Self {
        Self { prefixes: None }
    }

    /// Parses a comma-separated list (`US,GB,+49`, case and spaces ignored). Unknown codes
    /// are listed in the error, which says how to fix them.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let entries: Vec<&str> = raw.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
        if entries == ["*"] {
            return Ok(Self::all());
        }
        let mut prefixes = Vec::new();
        let mut unknown = Vec::new();
        for entry in &entries {
            match prefixes_for(entry) {
                Some(found) => prefixes.extend(found),
                None => unknown.push(format!("`{entry}`")),
            }
        }
        if !unknown.is_empty() {
            return Err(format!(
                "{} not a country this service knows: use ISO 3166 codes (GB, DE) or calling codes (+44, +49), \
                 comma-separated; `*` alone allows every country",
                if unknown.len() == 1 { format!("{} is", unknown[0]) } else { format!("{} are", unknown.join(", ")) }
            ));
        }
        if prefixes.is_empty() {
            return Err("lists no country: use ISO 3166 codes (GB, DE) or calling codes (+44, +49)".into());
        }
        prefixes.sort();
        prefixes.dedup();
        Ok(Self { prefixes: Some(prefixes) })
    }

    /// Whether codes may be sent to `number`.
    pub fn allows(&self, number: &PhoneNumber) -> bool {
        let digits = &number.as_str()[1..];
        self.prefixes.as_ref().is_none_or(|prefixes| prefixes.iter().any(|p| digits.starts_with(p.as_str())))
    }
}

/// The digit prefixes one allow-list entry stands for, or `None` if it is not understood.
fn prefixes_for(entry: &str) -> Option<Vec<String>> {
    if let Some(digits) = entry.strip_prefix('+') {
        if digits.is_empty() || digits.len() > 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // A prefix must hold at least a whole calling code: `+4` would allow 40 to 49.
        let probe = PhoneNumber::parse(&format!("+{digits:0<15}")).ok()?;
        return (probe.calling_code().len() <= digits.len()).then(|| vec![digits.to_owned()]);
    }
    let iso = entry.to_ascii_uppercase();
    COUNTRY_CALLING_CODES
        .iter()
        .find(|(code, _)| *code == iso)
        .map(|(_, prefixes)| prefixes.iter().map(|p| (*p).to_owned()).collect())
}

/// ISO 3166 alpha-2 code → E.164 prefixes (digits), for the countries people most often list.
/// Others are allowed by calling code (`+354`).
const COUNTRY_CALLING_CODES: &[(&str, &[&str])] = &[
    // North American Numbering Plan: all of +1 for US and CA; area codes for the others.
    ("US", &["1"]),
    ("CA", &["1"]),
    ("PR", &["1787", "1939"]),
    ("JM", &["1876", "1658"]),
    ("DO", &["1809", "1829", "1849"]),
    ("BS", &["1242"]),
    ("BB", &["1246"]),
    ("TT", &["1868"]),
    // Latin America
    ("MX", &["52"]),
    ("BR", &["55"]),
    ("AR", &["54"]),
    ("CL", &["56"]),
    ("CO", &["57"]),
    ("PE", &["51"]),
    ("VE", &["58"]),
    ("EC", &["593"]),
    ("UY", &["598"]),
    ("PY", &["595"]),
    ("BO", &["591"]),
    ("CR", &["506"]),
    ("PA", &["507"]),
    ("GT", &["502"]),
    // Europe
    ("GB", &["44"]),
    ("IE", &["353"]),
    ("FR", &["33"]),
    ("DE", &["49"]),
    ("NL", &["31"]),
    ("BE", &["32"]),
    ("LU", &["352"]),
    ("CH", &["41"]),
    ("LI", &["423"]),
    ("AT", &["43"]),
    ("IT", &["39"]),
    ("ES", &["34"]),
    ("PT", &["351"]),
    ("DK", &["45"]),
    ("SE", &["46"]),
    ("NO", &["47"]),
    ("FI", &["358"]),
    ("IS", &["354"]),
    ("PL", &["48"]),
    ("CZ", &["420"]),
    ("SK", &["421"]),
    ("HU", &["36"]),
    ("RO", &["40"]),
    ("BG", &["359"]),
    ("GR", &["30"]),
    ("CY", &["357"]),
    ("MT", &["356"]),
    ("SI", &["386"]),
    ("HR", &["385"]),
    ("RS", &["381"]),
    ("BA", &["387"]),
    ("EE", &["372"]),
    ("LV", &["371"]),
    ("LT", &["370"]),
    ("UA", &["380"]),
    ("MD", &["373"]),
    ("TR", &["90"]),
    ("RU", &["7"]),
    ("KZ", &["76", "77"]),
    ("GE", &["995"]),
    ("AM", &["374"]),
    // Asia and Oceania
    ("AU", &["61"]),
    ("NZ", &["64"]),
    ("JP", &["81"]),
    ("KR", &["82"]),
    ("CN", &["86"]),
    ("HK", &["852"]),
    ("TW", &["886"]),
    ("SG", &["65"]),
    ("MY", &["60"]),
    ("ID", &["62"]),
    ("PH", &["63"]),
    ("TH", &["66"]),
    ("VN", &["84"]),
    ("IN", &["91"]),
    ("PK", &["92"]),
    ("BD", &["880"]),
    ("LK", &["94"]),
    ("NP", &["977"]),
    // Middle East
    ("AE", &["971"]),
    ("SA", &["966"]),
    ("QA", &["974"]),
    ("KW", &["965"]),
    ("BH", &["973"]),
    ("OM", &["968"]),
    ("IL", &["972"]),
    ("JO", &["962"]),
    ("LB", &["961"]),
    // Africa
    ("ZA", &["27"]),
    ("EG", &["20"]),
    ("MA", &["212"]),
    ("TN", &["216"]),
    ("NG", &["234"]),
    ("GH", &["233"]),
    ("KE", &["254"]),
    ("TZ", &["255"]),
    ("UG", &["256"]),
    ("RW", &["250"]),
    ("SN", &["221"]),
];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)], production: bool) -> Result<SmsSettings, Vec<(&'static str, String)>> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        parse_sms_settings(&|name| map.get(name).cloned(), production)
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

    #[test]
    fn allow_list_takes_iso_codes_and_calling_codes() {
        let allowed = AllowedCountries::parse(" de , +44,fr ").unwrap();
        for yes in ["+4930901820", "+442079460958", "+33612345678"] {
            assert!(allowed.allows(&number(yes)), "{yes} refused");
        }
        for no in ["+14155552671", "+4121234567", "+8613812345678", "+2348031234567"] {
            assert!(!allowed.allows(&number(no)), "{no} allowed");
        }
    }

    #[test]
    fn nanp_countries_share_plus_one() {
        let us = AllowedCountries::parse("US").unwrap();
        assert!(us.allows(&number("+14155552671")));
        assert!(us.allows(&number("+18765550123")), "US allows all of +1, Jamaica included");
        assert!(!us.allows(&number("+74951234567")));
        let jamaica = AllowedCountries::parse("JM").unwrap();
        assert!(jamaica.allows(&number("+18765550123")));
        assert!(!jamaica.allows(&number("+14155552671")));
        assert_eq!(AllowedCountries::parse("+1876").unwrap(), AllowedCountries::parse("+1876,+1876").unwrap());
    }

    #[test]
    fn allow_list_refuses_what_it_does_not_understand() {
        for bad in ["XX", "+4", "+0", "+", "+44a", "UK", "*,US", "GBR", ",", "+12345678"] {
            assert!(AllowedCountries::parse(bad).is_err(), "{bad:?} accepted");
        }
        let message = AllowedCountries::parse("US,XX,+4").unwrap_err();
        assert!(message.starts_with("`XX`, `+4` are not"), "{message}");
        assert_eq!(AllowedCountries::parse("*").unwrap(), AllowedCountries::all());
    }

    #[test]
    fn the_country_table_is_sound() {
        assert!(COUNTRY_CALLING_CODES.len() >= 60);
        let mut seen = std::collections::HashSet::new();
        for (iso, prefixes) in COUNTRY_CALLING_CODES {
            assert!(iso.len() == 2 && iso.bytes().all(|b| b.is_ascii_uppercase()), "{iso}");
            assert!(seen.insert(iso), "{iso} twice");
            for p in *prefixes {
                assert_eq!(prefixes_for(&format!("+{p}")), Some(vec![(*p).to_owned()]), "{iso} {p}");
            }
        }
    }

    #[test]
    fn provider_messages_are_logged_without_the_number() {
        let to = number("+442079460958");
        let scrubbed = scrub("The 'To' number +442079460958 (442079460958) is not valid.", &to);
        assert!(!scrubbed.contains("2079460958"), "{scrubbed}");
        assert!(scrub(&"x".repeat(5_000), &to).chars().count() <= 200);
    }

    /// The adapter against a stand-in Twilio.
    mod twilio_http {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        use super::*;

        const SID: &str = "AC0123456789abcdef0123456789abcdef";
        const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

        async fn twilio_answering(response: ResponseTemplate) -> (MockServer, TwilioSms) {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let server = MockServer::start().await;
            Mock::given(method("POST")).and(path(MESSAGES_PATH)).respond_with(response).mount(&server).await;
            let base = Url::parse(&server.uri()).unwrap();
            let sms = TwilioSms::new(SID, SecretString::from("s3cr3t-t0ken"), "+14155552671", &base).unwrap();
            (server, sms)
        }

        fn form_of(request: &wiremock::Request) -> Vec<(String, String)> {
            url::form_urlencoded::parse(&request.body).into_owned().collect()
        }

        #[tokio::test]
        async fn sends_a_form_post_with_basic_auth() {
            let (server, sms) =
                twilio_answering(ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "SM123"}))).await;
            sms.send(&number("+44 20 7946 0958"), "Your latchkey code is 123456").await.unwrap();

            let requests = server.received_requests().await.unwrap();
            assert_eq!(requests.len(), 1);
            let request = &requests[0];
            assert_eq!(request.url.path(), MESSAGES_PATH);
            assert_eq!(
                request.headers.get("authorization").unwrap(),
                "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpzM2NyM3QtdDBrZW4="
            );
            assert_eq!(request.headers.get("content-type").unwrap(), "application/x-www-form-urlencoded");
            let expected =
                [("To", "+442079460958"), ("From", "+14155552671"), ("Body", "Your latchkey code is 123456")]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()));
            assert_eq!(form_of(request), expected);
        }

        #[tokio::test]
        async fn a_messaging_service_is_named_as_such() {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let server = MockServer::start().await;
            Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).mount(&server).await;
            let base = Url::parse(&format!("{}/proxy/", server.uri())).unwrap();
            let service = "MG0123456789abcdef0123456789abcdef";
            let sms = TwilioSms::new(SID, SecretString::from("t"), service, &base).unwrap();
            sms.send(&number("+14155552671"), "hi").await.unwrap();

            let request = &server.received_requests().await.unwrap()[0];
            assert_eq!(request.url.path(), format!("/proxy{MESSAGES_PATH}"));
            let form = form_of(request);
            assert!(form.contains(&("MessagingServiceSid".to_owned(), service.to_owned())), "{form:?}");
            assert!(!form.iter().any(|(k, _)| k == "From"), "{form:?}");
        }

        #[tokio::test]
        async fn a_400_is_a_rejection_with_a_reason_safe_to_show() {
            let answer = serde_json::json!({
                "code": 21211, "status": 400,
                "message": "The 'To' number +442079460958 is not a valid phone number.",
            });
            let (_server, sms) = twilio_answering(ResponseTemplate::new(400).set_body_json(answer)).await;
            match sms.send(&number("+442079460958"), "code 123456").await {
                Err(SmsError::Rejected(reason)) => {
                    assert_eq!(reason, "That phone number is not valid.");
                }
                other => panic!("expected a rejection, got {other:?}"),
            }

            let (_server, sms) = twilio_answering(ResponseTemplate::new(400).set_body_string("not json")).await;
            match sms.send(&number("+442079460958"), "code 123456").await {
                Err(SmsError::Rejected(reason)) => assert_eq!(reason, "The SMS provider refused this number."),
                other => panic!("expected a rejection, got {other:?}"),
            }
        }

        #[tokio::test]
        async fn a_500_is_worth_retrying() {
            let (_server, sms) = twilio_answering(ResponseTemplate::new(500)).await;
            let result = sms.send(&number("+442079460958"), "code 123456").await;
            assert!(matches!(result, Err(SmsError::Unavailable(_))), "{result:?}");
        }

        #[tokio::test]
        async fn bad_credentials_and_throttling_are_not_the_numbers_fault() {
            for status in [401, 404, 429] {
                let (_server, sms) = twilio_answering(ResponseTemplate::new(status)).await;
                let result = sms.send(&number("+442079460958"), "code 123456").await;
                assert!(matches!(result, Err(SmsError::Unavailable(_))), "{status}: {result:?}");
            }
        }

        #[tokio::test]
        async fn an_unreachable_provider_is_worth_retrying() {
            let _ = rustls::crypto::ring::default_provider().install_default();
            // A port that was free a moment ago: nothing listens there.
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let base = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
            let sms = TwilioSms::new(SID, SecretString::from("t"), "+14155552671", &base).unwrap();
            let result = sms.send(&number("+442079460958"), "code 123456").await;
            assert!(matches!(result, Err(SmsError::Unavailable(_))), "{result:?}");
        }
    }
}
