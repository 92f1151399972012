//! The message catalogue: every sentence of the sign-in pages and the sign-in mail, in each
//! language, picked from `Accept-Language`.
//!
//! A catalogue is one [`Messages`] value per language. Its fields are the keys, so a language
//! that lacks a key does not compile; a unit test checks that no entry is empty and that each
//! translation keeps the English placeholders (`{0}`, `{1}`, `{2}`). Messages that agree with a
//! number are [`Plural`]s, one form per plural category of the language (`plural.rs`).
//!
//! This file holds the language type, its negotiation and the lookup helpers; `catalogue.rs`
//! declares the keys, and each language's table is a file of its own (`en.rs`, `de.rs`).

use std::fmt::Display;

use actix_web::HttpRequest;
use actix_web::http::header::{ACCEPT_LANGUAGE, HeaderMap};
use serde::{Deserialize, Serialize};

mod ar;
mod catalogue;
mod de;
mod en;
mod es;
mod fr;
mod it;
mod ja;
mod nl;
mod pl;
mod plural;
mod pt;

pub use ar::AR;
pub use catalogue::Messages;
pub use de::DE;
pub use en::EN;
pub use es::ES;
pub use fr::FR;
pub use it::IT;
pub use ja::JA;
pub use nl::NL;
pub use pl::PL;
pub use plural::Plural;
pub use pt::PT;

/// A language the pages and mails are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    /// English, the default.
    #[default]
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Spanish.
    Es,
    /// Arabic, written right to left.
    Ar,
    /// Portuguese.
    Pt,
    /// Italian.
    It,
    /// Dutch.
    Nl,
    /// Polish.
    Pl,
    /// Japanese.
    Ja,
}

/// The cookie that remembers the language a person picked (`POST /language`); it wins over
/// `Accept-Language`.
pub const LANG_COOKIE: &str = "__Host-lang";

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 10] =
        [Lang::En, Lang::De, Lang::Fr, Lang::Es, Lang::Ar, Lang::Pt, Lang::It, Lang::Nl, Lang::Pl, Lang::Ja];

    /// The BCP 47 tag, for `<html lang>` and `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
            Lang::Ar => "ar",
            Lang::Pt => "pt",
            Lang::It => "it",
            Lang::Nl => "nl",
            Lang::Pl => "pl",
            Lang::Ja => "ja",
        }
    }

    /// The language's name in itself, for the language picker.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
            Lang::Fr => "Français",
            Lang::Es => "Español",
            Lang::Ar => "العربية",
            Lang::Pt => "Português",
            Lang::It => "Italiano",
            Lang::Nl => "Nederlands",
            Lang::Pl => "Polski",
            Lang::Ja => "日本語",
        }
    }

    /// The writing direction, for `<html dir>`: `rtl` or `ltr`.
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            _ => "ltr",
        }
    }

    /// The language whose tag is exactly `tag` (any case), as the picker and its cookie
    /// carry it.
    pub fn parse(tag: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.tag().eq_ignore_ascii_case(tag.trim()))
    }

    /// This language's catalogue.
    pub fn messages(self) -> &'static Messages {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
            Lang::Fr => &FR,
            Lang::Es => &ES,
            Lang::Ar => &AR,
            Lang::Pt => &PT,
            Lang::It => &IT,
            Lang::Nl => &NL,
            Lang::Pl => &PL,
            Lang::Ja => &JA,
        }
    }

    /// The language whose primary subtag is `tag` (`de`, `de-AT`, `DE`), if we have it.
    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim();
        Lang::ALL.into_iter().find(|l| l.tag().eq_ignore_ascii_case(primary))
    }

    /// The best language for an `Accept-Language` value: highest q first, earlier first among
    /// equals; `*`, `q=0` and unknown languages are skipped; English when nothing matches.
    pub fn negotiate(accept_language: &str) -> Lang {
        let mut best: Option<(u16, Lang)> = None;
        for item in accept_language.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .next()
                .map_or(Some(1000), parse_q);
            let (Some(q), Some(lang)) = (q, Lang::from_tag(tag)) else { continue };
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }

    /// The language of a request's `Accept-Language` header.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(Lang::negotiate).unwrap_or_default()
    }

    /// The language of a request: the picked one (`__Host-lang`) if the cookie names a language
    /// we have, else the best for `Accept-Language`.
    pub fn of(req: &HttpRequest) -> Lang {
        req.cookie(LANG_COOKIE)
            .and_then(|cookie| Lang::parse(cookie.value()))
            .unwrap_or_else(|| Lang::from_headers(req.headers()))
    }
}

/// A q-value in thousandths (`0.8` → 800); `None` when malformed.
fn parse_q(raw: &str) -> Option<u16> {
    let value: f32 = raw.trim().parse().ok()?;
    (0.0..=1.0).contains(&value).then(|| (value * 1000.0).round() as u16)
}

impl Messages {
    /// `text` with `{0}` replaced by `a`. The result is plain text (templates escape it).
    pub fn fill(&self, text: &str, a: impl Display) -> String {
        substitute(text, &[a.to_string()], false)
    }

    /// `text` with `{0}` and `{1}` replaced.
    pub fn fill2(&self, text: &str, a: impl Display, b: impl Display) -> String {
        substitute(text, &[a.to_string(), b.to_string()], false)
    }

    /// `text` with `{0}`, `{1}` and `{2}` replaced.
    pub fn fill3(&self, text: &str, a: impl Display, b: impl Display, c: impl Display) -> String {
        substitute(text, &[a.to_string(), b.to_string(), c.to_string()], false)
    }

    /// HTML: `text` escaped, with `{0}` replaced by `a` escaped and in `<strong>`. For `|safe`.
    pub fn strong(&self, text: &str, a: impl Display) -> String {
        substitute(text, &[a.to_string()], true)
    }

    /// HTML: like [`Messages::strong`], with `{0}` and `{1}` in `<strong>`.
    pub fn strong2(&self, text: &str, a: impl Display, b: impl Display) -> String {
        substitute(text, &[a.to_string(), b.to_string()], true)
    }

    /// "3 minutes", "1 minute", "20 seconds": a wait, rounded up.
    pub fn wait(&self, wait: std::time::Duration) -> String {
        let secs = wait.as_secs().max(1);
        if secs < 60 {
            self.fill(self.count(&self.wait_seconds, secs), secs)
        } else {
            let minutes = if secs < 120 { 1 } else { secs.div_ceil(60) };
            self.fill(self.count(&self.wait_minutes, minutes), minutes)
        }
    }

    /// The title of an error page with this status.
    pub fn status_title(&self, status: u16) -> &'static str {
        match status {
            400 => self.error_400,
            401 => self.error_401,
            403 => self.error_403,
            404 => self.error_404,
            410 => self.error_410,
            429 => self.error_429,
            503 => self.error_503,
            _ => self.error_500,
        }
    }
}

/// A message key: a field of [`Messages`], chosen without knowing the language yet.
pub type Text = fn(&Messages) -> &'static str;

/// Replaces `{i}` by `args[i]`; with `html`, escapes the text and wraps arguments in `<strong>`.
fn substitute(text: &str, args: &[String], html: bool) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let (before, from) = rest.split_at(start);
        push(&mut out, before, html);
        let index = from[1..].find('}').and_then(|end| from[1..=end].parse::<usize>().ok().map(|i| (i, end + 2)));
        match index.and_then(|(i, len)| args.get(i).map(|a| (a, len))) {
            Some((arg, len)) => {
                if html {
                    out.push_str("<strong>");
                    push(&mut out, arg, true);
                    out.push_str("</strong>");
                } else {
                    out.push_str(arg);
                }
                rest = &from[len..];
            }
            None => {
                push(&mut out, "{", html);
                rest = &from[1..];
            }
        }
    }
    push(&mut out, rest, html);
    out
}

fn push(out: &mut String, text: &str, html: bool) {
    if !html {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<&str> {
        let mut found: Vec<&str> = ["{0}", "{1}", "{2}"].into_iter().filter(|p| text.contains(p)).collect();
        found.sort_unstable();
        found
    }

    #[test]
    fn every_key_has_a_translation_in_every_language_with_the_same_placeholders() {
        let english = EN.entries();
        for lang in Lang::ALL {
            let messages = lang.messages();
            assert_eq!(messages.lang, lang);
            let entries = messages.entries();
            assert_eq!(entries.len(), english.len());
            for ((key, text), (_, en)) in entries.iter().zip(&english) {
                assert!(!text.trim().is_empty(), "{lang:?}: {key} is empty");
                assert_eq!(placeholders(text), placeholders(en), "{lang:?}: {key} placeholders differ from English");
            }
            for ((key, plural), (_, en)) in messages.plurals().iter().zip(EN.plurals()) {
                let all = placeholders(en.other);
                assert_eq!(placeholders(plural.other), all, "{lang:?}: {key}.other placeholders differ from English");
                for form in plural.forms() {
                    assert!(!form.trim().is_empty(), "{lang:?}: {key} has an empty form");
                    let kept = placeholders(form);
                    // A form may leave out the number itself ("One try left"), nothing else.
                    assert!(
                        kept.iter().all(|p| all.contains(p)),
                        "{lang:?}: {key}: {form:?} has a placeholder English lacks"
                    );
                    assert!(all.len() - kept.len() <= 1, "{lang:?}: {key}: {form:?} drops placeholders");
                }
            }
        }
    }

    #[test]
    fn german_is_not_a_copy_of_english() {
        let same: Vec<_> = EN
            .entries()
            .into_iter()
            .zip(DE.entries())
            .filter(|((_, en), (_, de))| en == de)
            .map(|((key, _), _)| key)
            .chain(
                EN.plurals()
                    .into_iter()
                    .zip(DE.plurals())
                    .filter(|((_, en), (_, de))| en == de)
                    .map(|((key, _), _)| key),
            )
            .collect();
        assert!(same.is_empty(), "untranslated: {same:?}");
    }

    #[test]
    fn accept_language_picks_the_highest_q_we_speak() {
        assert_eq!(Lang::negotiate("de"), Lang::De);
        assert_eq!(Lang::negotiate("de-AT,de;q=0.9,en;q=0.8"), Lang::De);
        assert_eq!(Lang::negotiate("en-GB,en;q=0.9,de;q=0.8"), Lang::En);
        assert_eq!(Lang::negotiate("sv-SE, sv;q=0.9, de;q=0.7, *;q=0.5"), Lang::De);
        assert_eq!(Lang::negotiate("en;q=0.5, DE;q=0.6"), Lang::De);
        assert_eq!(Lang::negotiate("de;q=0, en;q=0.1"), Lang::En);
        assert_eq!(Lang::negotiate("fr-CH, fr;q=0.9, de;q=0.7, *;q=0.5"), Lang::Fr);
        assert_eq!(Lang::negotiate("es-419,es;q=0.9"), Lang::Es);
        assert_eq!(Lang::negotiate("ar-EG"), Lang::Ar);
        assert_eq!(Lang::negotiate("sv-SE, ar;q=0.3, es;q=0.4"), Lang::Es);
        assert_eq!(Lang::negotiate("AR;q=0.9, fr;q=0.8"), Lang::Ar);
    }

    #[test]
    fn the_picker_names_each_language_by_its_exact_tag() {
        for lang in Lang::ALL {
            assert_eq!(Lang::parse(lang.tag()), Some(lang));
        }
        assert_eq!(Lang::parse("FR"), Some(Lang::Fr));
        for bad in ["", "fr-CA", "xx", "en;q=1", "arabic"] {
            assert_eq!(Lang::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_arabic_is_written_right_to_left() {
        let rtl: Vec<_> = Lang::ALL.into_iter().filter(|l| l.dir() == "rtl").collect();
        assert_eq!(rtl, [Lang::Ar]);
    }

    #[test]
    fn no_language_is_a_copy_of_english() {
        for lang in Lang::ALL.into_iter().filter(|&l| l != Lang::En) {
            let t = lang.messages();
            let same = EN.entries().into_iter().zip(t.entries()).filter(|((_, en), (_, other))| en == other).count();
            // Words shared across languages ("Email", "SMS:") may match; most must not.
            assert!(same * 20 < EN.entries().len(), "{lang:?}: {same} entries equal English");
        }
    }

    #[test]
    fn anything_else_is_english() {
        for header in ["", "*", "de;q=0", "de;q=banana", "xx-YY", ",,;;", "de;q=1.5", "ar;q=0"] {
            assert_eq!(Lang::negotiate(header), Lang::En, "{header:?}");
        }
    }

    #[test]
    fn placeholders_are_filled_and_html_is_escaped() {
        assert_eq!(EN.fill2("a {1} b {0}", "x", 2), "a 2 b x");
        assert_eq!(EN.fill("{3} {x} {0", "y"), "{3} {x} {0");
        assert_eq!(EN.strong("<to> {0}", "a&b"), "&lt;to&gt; <strong>a&amp;b</strong>");
    }

    #[test]
    fn waits_read_in_minutes_rounded_up() {
        use std::time::Duration;
        assert_eq!(EN.wait(Duration::from_secs(0)), "1 second");
        assert_eq!(EN.wait(Duration::from_secs(45)), "45 seconds");
        assert_eq!(EN.wait(Duration::from_secs(90)), "1 minute");
        assert_eq!(EN.wait(Duration::from_secs(121)), "3 minutes");
        assert_eq!(DE.wait(Duration::from_secs(900)), "15 Minuten");
        assert_eq!(DE.wait(Duration::from_secs(61)), "1 Minute");
    }

    #[test]
    fn regional_tags_pick_their_language() {
        assert_eq!(Lang::negotiate("pt-BR"), Lang::Pt);
        assert_eq!(Lang::negotiate("pt-PT,pt;q=0.9,en;q=0.8"), Lang::Pt);
        assert_eq!(Lang::negotiate("it-CH"), Lang::It);
        assert_eq!(Lang::negotiate("de-CH;q=0.5, it-CH"), Lang::It);
        assert_eq!(Lang::negotiate("nl-BE"), Lang::Nl);
        assert_eq!(Lang::negotiate("nl-BE, fr-BE;q=0.8, en;q=0.5"), Lang::Nl);
        assert_eq!(Lang::negotiate("pl"), Lang::Pl);
        assert_eq!(Lang::negotiate("pl-PL,pl;q=0.9,en-US;q=0.8"), Lang::Pl);
        assert_eq!(Lang::negotiate("ja-JP"), Lang::Ja);
        assert_eq!(Lang::negotiate("en-US;q=0.7, ja;q=0.9"), Lang::Ja);
    }

    #[test]
    fn added_languages_are_not_copies_of_english() {
        // Words that are the same in English and the language.
        let same_on_purpose = [(Lang::It, "account_email")];
        let added: &[Lang] = &[Lang::Pt, Lang::It, Lang::Nl, Lang::Pl, Lang::Ja];
        for &lang in added {
            let same: Vec<_> = EN
                .entries()
                .into_iter()
                .zip(lang.messages().entries())
                .filter(|((key, en), (_, text))| en == text && !same_on_purpose.contains(&(lang, key)))
                .map(|((key, _), _)| key)
                .collect();
            assert!(same.is_empty(), "{lang:?} untranslated: {same:?}");
        }
    }
}
