//! "Did you mean …@gmail.com?": near misses of the domains most people's mail lives at. A pure
//! function over a fixed table; no lookups.

use super::Email;

/// The domains a near miss is corrected to, most used first (a tie goes to the earlier one).
const POPULAR: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "t-online.de",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "yahoo.co.jp",
    "wp.pl",
    "onet.pl",
    "libero.it",
    "hotmail.co.uk",
    "yahoo.co.uk",
    "msn.com",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
    "naver.com",
    "comcast.net",
    "verizon.net",
    "btinternet.com",
    "virgilio.it",
    "ziggo.nl",
    "seznam.cz",
    "uol.com.br",
    "bol.com.br",
];

/// Real domains close to a popular one, which are never "corrected" (besides the table
/// itself): a person at `gmx.at` meant `gmx.at`.
const ALSO_REAL: &[&str] = &[
    "gmx.at",
    "gmx.ch",
    "gmx.com",
    "mac.com",
    "mail.com",
    "email.com",
    "live.de",
    "live.fr",
    "live.co.uk",
    "hotmail.de",
    "hotmail.fr",
    "hotmail.it",
    "hotmail.es",
    "outlook.de",
    "outlook.fr",
    "outlook.es",
    "yahoo.de",
    "yahoo.fr",
    "yahoo.es",
    "yahoo.it",
    "ymail.com",
    "pm.me",
    "protonmail.ch",
    "orange.com",
    "online.de",
    "web.com",
    "aim.com",
    "o2.pl",
    "op.pl",
    "interia.pl",
    "wp.com",
    "free.com",
    "libero.com",
    "me.org",
];

/// A suggested correction of a typed address: the same mailbox at a popular domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypoSuggestion {
    /// The address as typed (parsed).
    pub typed: Email,
    /// The address with the domain corrected.
    pub suggested: Email,
}

/// The correction of `email`'s domain when it is a near miss of a popular one: at most two
/// edits (an insertion, a deletion, a substitution, or two neighbours swapped) for domains of
/// eight characters or more, one for shorter ones (`me.com`, `wp.pl`, `gmx.de`), where two
/// edits reach too many real domains. A domain in the table, or one of the real domains close
/// to it, gets none.
pub fn suggest_domain(email: &Email) -> Option<TypoSuggestion> {
    let (local, domain) = email.as_str().rsplit_once('@')?;
    if POPULAR.contains(&domain) || ALSO_REAL.contains(&domain) {
        return None;
    }
    let mut best: Option<(usize, &str)> = None;
    let typed = letters(domain.as_bytes());
    for (candidate, &set) in POPULAR.iter().zip(POPULAR_LETTERS.iter()) {
        let allowed = if candidate.len() >= 8 { 2 } else { 1 };
        if !may_be_within(typed, set, allowed) {
            continue;
        }
        let Some(distance) = edit_distance_within(domain.as_bytes(), candidate.as_bytes(), allowed) else { continue };
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    let (_, domain) = best?;
    let suggested = Email::parse(&format!("{local}@{domain}")).ok()?;
    Some(TypoSuggestion { typed: email.clone(), suggested })
}

/// Which letters a domain holds, as bits (a byte's low six bits pick its bit, so a few letters
/// share one: that only ever lets more through [`may_be_within`]).
const fn letters(domain: &[u8]) -> u64 {
    let mut set = 0u64;
    let mut i = 0;
    while i < domain.len() {
        set |= 1 << (domain[i] & 63);
        i += 1;
    }
    set
}

/// [`letters`] of each of [`POPULAR`], in its order.
const POPULAR_LETTERS: [u64; POPULAR.len()] = {
    let mut sets = [0u64; POPULAR.len()];
    let mut i = 0;
    while i < POPULAR.len() {
        sets[i] = letters(POPULAR[i].as_bytes());
        i += 1;
    }
    sets
};

/// False when two domains' letters alone put them more than `limit` edits apart: an edit brings
/// at most one letter the other lacks (an insertion or a substitution) and takes away at most
/// one (a deletion or a substitution), so each side can hold at most `limit` letters the other
/// does not. Asked before the distance, which most popular domains never get to: a link
/// request compares its domain with each of them.
fn may_be_within(a: u64, b: u64, limit: usize) -> bool {
    (a & !b).count_ones() as usize <= limit && (b & !a).count_ones() as usize <= limit
}

/// Cells in a row of the table: room for any popular domain (31 bytes and the empty prefix).
const ROW: usize = 32;

/// The optimal-string-alignment distance of `a` and `b` (insertions, deletions, substitutions
/// and swaps of two neighbours, each costing one: `gmial` → `gmail` is one edit), if it is at
/// most `limit`. Asked on every link request, so it allocates nothing and gives up early: on a
/// length difference past the limit, and once a whole row of the table is past it.
fn edit_distance_within(a: &[u8], b: &[u8], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit || b.len() >= ROW {
        return None;
    }
    // Three rows of the table: two back (for a swap), the last and the current.
    let mut before = [0usize; ROW];
    let mut last = [0usize; ROW];
    let mut row = [0usize; ROW];
    for (j, cell) in last.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for i in 1..=a.len() {
        row[0] = i;
        let mut smallest = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            row[j] = best;
            smallest = smallest.min(best);
        }
        // A cell is built from the row before (insertion, deletion, substitution), its left
        // neighbour and, for a swap, the row two back: once this row and the one before it are
        // both wholly past the limit, so is every later row.
        if smallest > limit && last[..=b.len()].iter().all(|&d| d > limit) {
            return None;
        }
        (before, last, row) = (last, row, before);
    }
    let distance = last[b.len()];
    (distance <= limit).then_some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suggestion(address: &str) -> Option<String> {
        suggest_domain(&Email::parse(address).unwrap()).map(|s| s.suggested.to_string())
    }

    #[test]
    fn near_misses_of_popular_domains_are_corrected() {
        for (typed, meant) in [
            ("ann@gmial.com", "ann@gmail.com"),
            ("ann@gmail.con", "ann@gmail.com"),
            ("ann@gmai.com", "ann@gmail.com"),
            ("ann@gnail.com", "ann@gmail.com"),
            ("ann@gmaill.com", "ann@gmail.com"),
            ("ann@gmail.co", "ann@gmail.com"),
            ("ann@gamil.com", "ann@gmail.com"),
            ("Ann.Lee+x@GMAIL.CMO", "ann.lee+x@gmail.com"),
            ("bob@hotmial.com", "bob@hotmail.com"),
            ("bob@hotmail.cm", "bob@hotmail.com"),
            ("bob@yaho.com", "bob@yahoo.com"),
            ("bob@yahooo.com", "bob@yahoo.com"),
            ("bob@outlok.com", "bob@outlook.com"),
            ("bob@iclod.com", "bob@icloud.com"),
            ("bob@protonmail.cmo", "bob@protonmail.com"),
            ("bob@googlemail.co", "bob@googlemail.com"),
            ("bob@t-onlne.de", "bob@t-online.de"),
            ("bob@t-online.dee", "bob@t-online.de"),
            ("bob@gmx.ed", "bob@gmx.de"),
            ("bob@web.ed", "bob@web.de"),
            ("bob@laposte.ne", "bob@laposte.net"),
            ("bob@libreo.it", "bob@libero.it"),
            ("bob@yahoo.co.pj", "bob@yahoo.co.jp"),
            ("bob@onet.lp", "bob@onet.pl"),
            ("bob@orange.rf", "bob@orange.fr"),
        ] {
            assert_eq!(suggestion(typed).as_deref(), Some(meant), "{typed}");
        }
    }

    #[test]
    fn the_popular_domains_and_real_neighbours_get_no_hint() {
        for domain in POPULAR.iter().chain(ALSO_REAL) {
            assert_eq!(suggestion(&format!("ann@{domain}")), None, "{domain}");
        }
    }

    #[test]
    fn distant_and_unrelated_domains_get_no_hint() {
        for address in [
            "ann@example.com",
            "ann@company.de",
            "ann@gmailbox.com",
            "ann@mail.gmail.com.example",
            "ann@hotmail.fr",
            "ann@yahoo.fr",
            "ann@live.fr",
            "ann@university.edu",
            "ann@wp.edu",
            "ann@mx.org",
        ] {
            assert_eq!(suggestion(address), None, "{address}");
        }
    }

    #[test]
    fn short_domains_are_corrected_by_one_edit_only() {
        assert_eq!(suggestion("a@wp.pk").as_deref(), Some("a@wp.pl"));
        // Two edits from `wp.pl` and `me.com` reach too many real domains.
        assert_eq!(suggestion("a@wq.pk"), None);
        assert_eq!(suggestion("a@mex.co"), None);
        // Two edits from a long one still count.
        assert_eq!(suggestion("a@gmial.cm").as_deref(), Some("a@gmail.com"));
        assert_eq!(suggestion("a@gmial.cno"), None, "three edits");
    }

    /// Every domain one or two edits from a popular one (each insertion, deletion and
    /// substitution of the letters domains use, each swap of neighbours, and pairs of them):
    /// the letters' check lets it through to the distance.
    #[test]
    fn the_letters_check_never_turns_away_a_domain_within_reach() {
        let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789.-";
        let edits = |domain: &[u8]| {
            let mut out = Vec::new();
            for i in 0..=domain.len() {
                for &c in alphabet {
                    let mut inserted = domain.to_vec();
                    inserted.insert(i, c);
                    out.push(inserted);
                    if i < domain.len() {
                        let mut substituted = domain.to_vec();
                        substituted[i] = c;
                        out.push(substituted);
                    }
                }
                if i < domain.len() {
                    let mut deleted = domain.to_vec();
                    deleted.remove(i);
                    out.push(deleted);
                }
                if i + 1 < domain.len() {
                    let mut swapped = domain.to_vec();
                    swapped.swap(i, i + 1);
                    out.push(swapped);
                }
            }
            out
        };
        let mut checked = 0;
        for (popular, &set) in POPULAR.iter().zip(POPULAR_LETTERS.iter()) {
            for once in edits(popular.as_bytes()) {
                assert!(may_be_within(letters(&once), set, 1), "{} ~ {popular}", String::from_utf8_lossy(&once));
                checked += 1;
            }
        }
        // Two edits, on the first few domains long enough to be allowed them.
        for (popular, &set) in POPULAR.iter().zip(POPULAR_LETTERS.iter()).filter(|(d, _)| d.len() >= 8).take(3) {
            for once in edits(popular.as_bytes()) {
                for twice in edits(&once) {
                    assert!(may_be_within(letters(&twice), set, 2), "{} ~ {popular}", String::from_utf8_lossy(&twice));
                    checked += 1;
                }
            }
        }
        assert!(checked > 100_000, "{checked}");
        // And it does turn away what is far: the benchmark's domain from gmail.com.
        assert!(!may_be_within(letters(b"bench.test"), letters(b"gmail.com"), 2));
    }

    #[test]
    fn the_distance_counts_a_swap_as_one_edit() {
        let distance = |a: &[u8], b: &[u8]| edit_distance_within(a, b, 5);
        assert_eq!(distance(b"gmial", b"gmail"), Some(1));
        assert_eq!(distance(b"kitten", b"sitting"), Some(3));
        assert_eq!(distance(b"", b"abc"), Some(3));
        assert_eq!(distance(b"abc", b"abc"), Some(0));
        assert_eq!(distance(b"ca", b"abc"), Some(3), "OSA: no edit of a swapped pair");
    }

    #[test]
    fn a_distance_past_the_limit_is_none_however_it_is_reached() {
        assert_eq!(edit_distance_within(b"kitten", b"sitting", 2), None);
        assert_eq!(edit_distance_within(b"kitten", b"sitting", 3), Some(3));
        // Past the limit by length alone, and by rows that all exceed it early on.
        assert_eq!(edit_distance_within(b"a.example", b"gmail.com", 2), None);
        assert_eq!(edit_distance_within(b"xxxxxxxxxxxx", b"gmail.com", 2), None);
        assert_eq!(edit_distance_within(b"zzgmail.com", b"gmail.com", 2), Some(2));
        // Each popular domain against itself and a swap of its last two letters.
        for domain in POPULAR {
            let mut swapped = domain.as_bytes().to_vec();
            let n = swapped.len();
            swapped.swap(n - 1, n - 2);
            assert_eq!(edit_distance_within(domain.as_bytes(), domain.as_bytes(), 1), Some(0));
            assert_eq!(edit_distance_within(&swapped, domain.as_bytes(), 1), Some(1), "{domain}");
        }
    }
}
