//! The one reader every concern's settings go through: it looks variables up, parses strings,
//! flags, numbers, durations, lists and URLs, and collects every problem (and every warning)
//! so that start-up reports them all together.

use std::str::FromStr;
use std::time::Duration;

use url::Url;

use super::Problem;
use crate::domain::parse_duration;

/// Reads variables through a lookup and collects what is wrong with them.
pub(super) struct Reader<'a> {
    pub(super) lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Every problem so far, in the order the variables were read.
    pub(super) problems: Vec<Problem>,
    /// Things that work but should not reach production, to be logged.
    pub(super) warnings: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A reader over `lookup` with nothing found yet.
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup, problems: Vec::new(), warnings: Vec::new() }
    }

    /// The variable's value, trimmed; `None` when unset or blank.
    pub(super) fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// Records what is wrong with `var` and how to fix it.
    pub(super) fn problem(&mut self, var: &'static str, message: impl Into<String>) {
        self.problems.push(Problem { var, message: message.into() });
    }

    /// Records something that works but should not reach production.
    pub(super) fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The variable (or `default`) parsed as `T`; a problem naming `expected` otherwise.
    pub(super) fn parse<T: FromStr>(&mut self, var: &'static str, default: &str, expected: &str) -> Option<T> {
        let raw = self.get(var).unwrap_or_else(|| default.to_owned());
        let parsed = raw.parse().ok();
        if parsed.is_none() {
            self.problem(var, format!("`{raw}` is not {expected}"));
        }
        parsed
    }

    /// `true` or `false` (`default` when unset, and after a problem).
    pub(super) fn flag(&mut self, var: &'static str, default: bool) -> bool {
        self.parse(var, if default { "true" } else { "false" }, "`true` or `false`").unwrap_or(default)
    }

    /// A duration like `30s`, `15m`, `12h`, `7d` within `min..=max` (`default` when unset).
    pub(super) fn duration(
        &mut self,
        var: &'static str,
        default: &str,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        let raw = self.get(var).unwrap_or_else(|| default.to_owned());
        match parse_duration(&raw) {
            Some(d) if d >= min && d <= max => Some(d),
            Some(_) => {
                self.problem(var, format!("`{raw}` is outside {min:?}..{max:?}"));
                None
            }
            None => {
                self.problem(var, format!("`{raw}` is not a duration like 30s, 15m, 12h or 7d"));
                None
            }
        }
    }

    /// A whole number in `1..=max`, or `default` when unset.
    pub(super) fn count(&mut self, var: &'static str, default: u32, max: u32) -> u32 {
        let Some(raw) = self.get(var) else { return default };
        match raw.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                self.problem(var, format!("`{raw}` is not a number from 1 to {max}"));
                default
            }
        }
    }

    /// The comma-separated items of the variable, trimmed, blanks dropped; `None` when unset.
    pub(super) fn list(&self, var: &str) -> Option<Vec<String>> {
        self.get(var).map(|raw| split_list(&raw))
    }

    /// The variable (or `default`) as a URL; a problem naming `example` when it is not one.
    pub(super) fn url(&mut self, var: &'static str, default: &str, example: &str) -> Option<Url> {
        let raw = self.get(var).unwrap_or_else(|| default.to_owned());
        let parsed = Url::parse(&raw).ok();
        if parsed.is_none() {
            self.problem(var, format!("`{raw}` is not a URL like {example}"));
        }
        parsed
    }
}

/// The comma-separated items of `raw`, trimmed, blanks dropped.
pub(super) fn split_list(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        for bad in ["15", "m", "15 m", "-1m", "1.5h", "15min", ""] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_problem_is_kept_in_reading_order() {
        let lookup = |var: &str| match var {
            "A" => Some(" maybe ".to_owned()),
            "B" => Some("5x".to_owned()),
            "C" => Some(" a, ,b ,".to_owned()),
            _ => None,
        };
        let mut r = Reader::new(&lookup);
        assert!(r.flag("A", true));
        assert_eq!(r.duration("B", "1s", Duration::ZERO, Duration::MAX), None);
        assert_eq!(r.list("C"), Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(r.count("D", 7, 10), 7);
        let vars: Vec<&str> = r.problems.iter().map(|p| p.var).collect();
        assert_eq!(vars, ["A", "B"]);
        assert_eq!(r.problems[0].message, "`maybe` is not `true` or `false`");
    }
}
