//! Messages that agree with a number: one form per plural category of the language, picked by
//! the Unicode CLDR plural rules (`icu_plurals`).
//!
//! A language file writes its forms plainly: `Plural::of(one, other)` for the two forms most
//! languages have, and `.zero(…)`, `.two(…)`, `.few(…)`, `.many(…)` for the others (Arabic has
//! all six, Polish `one`, `few`, `many`, `other`). A category a language uses but does not write
//! falls back to `other`; a unit test checks that every language writes every category its rules
//! give the numbers 0 to 1000.

use icu_locale_core::Locale;
use icu_plurals::{PluralCategory, PluralRules};

use super::Lang;

/// The forms of one message, by plural category. Empty strings are forms not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plural {
    /// Zero (Arabic 0, Latvian 0, 10–20, …).
    pub zero: &'static str,
    /// One (English 1; French 0 and 1; Russian 1, 21, 31, …).
    pub one: &'static str,
    /// Two (Arabic 2).
    pub two: &'static str,
    /// Few (Polish 2–4, 22–24, …; Arabic 3–10, …).
    pub few: &'static str,
    /// Many (Polish 5–21, …; Arabic 11–99, …; French 1 000 000).
    pub many: &'static str,
    /// Every other number; always written.
    pub other: &'static str,
}

impl Plural {
    /// A message with a `one` and an `other` form.
    pub const fn of(one: &'static str, other: &'static str) -> Plural {
        Plural { zero: "", one, two: "", few: "", many: "", other }
    }

    /// With a `zero` form.
    pub const fn zero(self, zero: &'static str) -> Plural {
        Plural { zero, ..self }
    }

    /// With a `two` form.
    pub const fn two(self, two: &'static str) -> Plural {
        Plural { two, ..self }
    }

    /// With a `few` form.
    pub const fn few(self, few: &'static str) -> Plural {
        Plural { few, ..self }
    }

    /// With a `many` form.
    pub const fn many(self, many: &'static str) -> Plural {
        Plural { many, ..self }
    }

    /// The form written for `category`, if any.
    pub fn form(&self, category: PluralCategory) -> Option<&'static str> {
        let form = match category {
            PluralCategory::Zero => self.zero,
            PluralCategory::One => self.one,
            PluralCategory::Two => self.two,
            PluralCategory::Few => self.few,
            PluralCategory::Many => self.many,
            PluralCategory::Other => self.other,
        };
        (!form.is_empty()).then_some(form)
    }

    /// Every written form, `other` last.
    pub fn forms(&self) -> Vec<&'static str> {
        [self.zero, self.one, self.two, self.few, self.many, self.other].into_iter().filter(|f| !f.is_empty()).collect()
    }
}

impl Lang {
    /// This language's cardinal plural rules (English rules if the data lacked the language,
    /// which the unit tests rule out for every language we have).
    pub fn plural_rules(self) -> Option<PluralRules> {
        let locale = Locale::try_from_str(self.tag()).ok()?;
        PluralRules::try_new_cardinal((&locale).into()).ok()
    }

    /// The plural category of `n` in this language (the rules are built once per thread:
    /// `PluralRules` is not `Sync`).
    pub fn plural_category(self, n: u64) -> PluralCategory {
        thread_local! {
            static RULES: Vec<(Lang, PluralRules)> =
                Lang::ALL.into_iter().filter_map(|lang| lang.plural_rules().map(|rules| (lang, rules))).collect();
        }
        RULES.with(|rules| match rules.iter().find(|(lang, _)| *lang == self) {
            Some((_, rules)) => rules.category_for(n),
            None if n == 1 => PluralCategory::One,
            None => PluralCategory::Other,
        })
    }
}

impl super::Messages {
    /// The form of `message` that agrees with `n` in this language (fill in `n` with
    /// [`Messages::fill`](super::Messages::fill) and friends).
    pub fn count(&self, message: &Plural, n: impl Count) -> &'static str {
        message.form(self.lang.plural_category(n.count())).unwrap_or(message.other)
    }
}

/// A number a [`Plural`] agrees with (by value or by reference, as templates pass it).
pub trait Count {
    /// The number, negative ones as their magnitude.
    fn count(&self) -> u64;
}

macro_rules! count {
    ($($t:ty),+) => {$(
        impl Count for $t {
            fn count(&self) -> u64 {
                u64::try_from(self.unsigned_abs()).unwrap_or(u64::MAX)
            }
        }
    )+};
}
count!(i8, i16, i32, i64, isize);

macro_rules! count_unsigned {
    ($($t:ty),+) => {$(
        impl Count for $t {
            fn count(&self) -> u64 {
                u64::try_from(*self).unwrap_or(u64::MAX)
            }
        }
    )+};
}
count_unsigned!(u8, u16, u32, u64, usize);

impl<T: Count + ?Sized> Count for &T {
    fn count(&self) -> u64 {
        (**self).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories(lang: Lang, numbers: &[u64]) -> Vec<PluralCategory> {
        numbers.iter().map(|&n| lang.plural_category(n)).collect()
    }

    #[test]
    fn every_language_has_plural_rules() {
        for lang in Lang::ALL {
            assert!(lang.plural_rules().is_some(), "{lang:?}");
        }
    }

    #[test]
    fn english_and_german_have_one_and_other() {
        use PluralCategory::*;
        assert_eq!(categories(Lang::En, &[0, 1, 2, 21]), [Other, One, Other, Other]);
        assert_eq!(categories(Lang::De, &[0, 1, 2, 21]), [Other, One, Other, Other]);
    }

    #[test]
    fn every_language_writes_every_category_its_rules_use() {
        for lang in Lang::ALL {
            let rules = lang.plural_rules().expect("rules");
            // The counts shown are small (tries, minutes, codes): French and Spanish `many`
            // (a million) may fall back to `other`.
            let mut used: Vec<_> = (0..=1000_u64).map(|n| rules.category_for(n)).collect();
            used.sort_unstable();
            used.dedup();
            for (key, plural) in lang.messages().plurals() {
                for &category in &used {
                    assert!(plural.form(category).is_some(), "{lang:?}: {key} lacks the {category:?} form");
                }
            }
        }
    }

    #[test]
    fn arabic_has_six_categories() {
        use PluralCategory::*;
        assert_eq!(
            categories(Lang::Ar, &[0, 1, 2, 3, 10, 11, 99, 100, 102, 103]),
            [Zero, One, Two, Few, Few, Many, Many, Other, Other, Few]
        );
        let t = Lang::Ar.messages();
        let tries = |n: u64| t.fill(t.count(&t.code_wrong_tries_left, n), n);
        assert_eq!(tries(2), "هذا الرمز غير صحيح. بقيت محاولتان.");
        assert_eq!(tries(3), "هذا الرمز غير صحيح. بقيت 3 محاولات.");
        assert_eq!(tries(11), "هذا الرمز غير صحيح. بقيت 11 محاولة.");
    }

    #[test]
    fn french_counts_zero_and_one_alike_and_spanish_does_not() {
        use PluralCategory::*;
        assert_eq!(categories(Lang::Fr, &[0, 1, 2]), [One, One, Other]);
        assert_eq!(categories(Lang::Es, &[0, 1, 2]), [Other, One, Other]);
        assert_eq!(Lang::Fr.messages().wait(std::time::Duration::from_secs(1)), "1 seconde");
        assert_eq!(Lang::Es.messages().wait(std::time::Duration::from_secs(300)), "5 minutos");
    }

    #[test]
    fn polish_rules_have_one_few_and_many() {
        use PluralCategory::*;
        let polish = PluralRules::try_new_cardinal((&Locale::try_from_str("pl").expect("tag")).into()).expect("rules");
        let got: Vec<_> = [1_u64, 2, 5, 22, 25].into_iter().map(|n| polish.category_for(n)).collect();
        assert_eq!(got, [One, Few, Many, Few, Many]);
    }

    #[test]
    fn the_form_agrees_with_the_number() {
        let tries = Plural::of("one try", "{0} tries");
        assert_eq!(crate::i18n::EN.count(&tries, 1), "one try");
        assert_eq!(crate::i18n::EN.count(&tries, 0), "{0} tries");
        assert_eq!(crate::i18n::EN.count(&tries, 7_u32), "{0} tries");
        assert_eq!(crate::i18n::EN.count(&tries, -1_i64), "one try");
    }
}
