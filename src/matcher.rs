//! Regular expressions that are only asked "does it match?" ([`Matcher`]:
//! user rules, the exec allowlist's argument patterns, most detector
//! regexes) or "where are the matches?" ([`Finder`]: the few detectors that
//! take a match apart by hand). Lazy DFAs from regex-automata: a forward
//! one, and for a `Finder` a reverse one for where a match starts. None of
//! the callers needs captures, so the regex crate's meta engine (its
//! strategies, PikeVM and capture machinery) is not linked: 159 KB less in
//! the stripped aarch64 binary, which has a 4 MB cap.
//!
//! ASCII mode (`unicode(false)`, byte haystacks): input is normalised text
//! with look-alikes folded, and the crates are built without Unicode tables.
//! In that mode the lazy DFA has no quit bytes, and with no limit on cache
//! clears it never gives up, so a search cannot fail; if one ever did,
//! `is_match` answers false and `find_iter` stops, and each caller treats
//! "no match" as the cautious answer (no allow rule applies, the coach's
//! other checks still run).

use regex_automata::hybrid::{dfa, regex};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::Input;
use std::sync::{Arc, Mutex};

/// Default compiled-size limit of one regex's NFA.
pub const DEFAULT_SIZE_LIMIT: usize = 2 << 20;
/// Largest lazy-DFA cache of one regex (a `Finder`'s forward and reverse
/// each); a search past it clears the cache and goes on. A regex compiled
/// with a smaller size limit gets caches of that size (`cache_capacity`).
const CACHE_CAPACITY: usize = 256 << 10;
/// Smallest cache: below this the lazy DFA would clear on nearly every
/// search.
const MIN_CACHE_CAPACITY: usize = 8 << 10;

fn cache_capacity(limit: usize) -> usize {
    limit.clamp(MIN_CACHE_CAPACITY, CACHE_CAPACITY)
}

/// Most heap one `Matcher` compiled with `limit` holds: its NFA and its
/// cache (for `--check-config`'s worst case).
pub fn worst_case_bytes(limit: usize) -> usize {
    limit + cache_capacity(limit)
}

/// Why a pattern did not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The NFA would exceed this many bytes.
    TooBig(usize),
    /// Not a valid regex (the parser's message).
    Syntax(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::TooBig(limit) => write!(f, "compiles to more than {limit} bytes"),
            Error::Syntax(msg) => f.write_str(msg),
        }
    }
}

/// The settings every regex here shares: ASCII mode, no captures, the NFA
/// bounded by `limit`, caches sized to it.
fn builder_parts(limit: usize) -> (syntax::Config, thompson::Config, dfa::Config) {
    (
        syntax::Config::new().unicode(false).utf8(false),
        thompson::Config::new()
            .which_captures(thompson::WhichCaptures::None)
            .nfa_size_limit(Some(limit)),
        dfa::Config::new()
            .cache_capacity(cache_capacity(limit))
            .skip_cache_capacity_check(true),
    )
}

fn build_error(e: regex_automata::hybrid::BuildError, limit: usize) -> Error {
    let nfa = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<thompson::BuildError>());
    match nfa {
        Some(n) if n.size_limit().is_some() => Error::TooBig(limit),
        Some(n) => Error::Syntax(
            std::error::Error::source(n).map_or_else(|| n.to_string(), |s| s.to_string()),
        ),
        None => Error::Syntax(e.to_string()),
    }
}

/// A regex that answers "does it match?": one forward lazy DFA and its
/// cache (a search holds the lock for its duration; callers match short,
/// normalised text).
pub struct Matcher {
    /// Shared by clones (the rule set is copied when a rule is added or
    /// removed); each clone has its own cache.
    dfa: Arc<dfa::DFA>,
    cache: Mutex<dfa::Cache>,
}

impl Clone for Matcher {
    fn clone(&self) -> Matcher {
        Matcher {
            dfa: self.dfa.clone(),
            cache: Mutex::new(self.dfa.create_cache()),
        }
    }
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Matcher")
    }
}

impl Matcher {
    /// Compiles `src` with the default size limit.
    pub fn new(src: &str) -> Result<Matcher, Error> {
        Matcher::with_limit(src, DEFAULT_SIZE_LIMIT)
    }

    /// Compiles `src`; its NFA may take at most `limit` bytes.
    pub fn with_limit(src: &str, limit: usize) -> Result<Matcher, Error> {
        let (syn, nfa, cfg) = builder_parts(limit);
        let dfa = dfa::DFA::builder()
            .syntax(syn)
            .thompson(nfa)
            .configure(cfg)
            .build(src)
            .map_err(|e| build_error(e, limit))?;
        let cache = Mutex::new(dfa.create_cache());
        Ok(Matcher {
            dfa: Arc::new(dfa),
            cache,
        })
    }

    /// True when the regex matches somewhere in `hay`.
    pub fn is_match(&self, hay: &[u8]) -> bool {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let input = Input::new(hay).earliest(true);
        matches!(self.dfa.try_search_fwd(&mut cache, &input), Ok(Some(_)))
    }
}

/// A regex that also says where its matches are: the forward DFA finds
/// where a match ends, a reverse one where it starts. Only the detectors
/// that take a match apart need it; everything else is a [`Matcher`], which
/// compiles and holds half as much.
pub struct Finder {
    re: regex::Regex,
    cache: Mutex<regex::Cache>,
}

impl Finder {
    /// Compiles `src` with the default size limit (each of its two NFAs).
    pub fn new(src: &str) -> Result<Finder, Error> {
        let (syn, nfa, cfg) = builder_parts(DEFAULT_SIZE_LIMIT);
        let re = regex::Builder::new()
            .syntax(syn)
            .thompson(nfa)
            .dfa(cfg)
            .build(src)
            .map_err(|e| build_error(e, DEFAULT_SIZE_LIMIT))?;
        let cache = Mutex::new(re.create_cache());
        Ok(Finder { re, cache })
    }

    /// The spans of up to `max` non-overlapping leftmost-first matches.
    pub fn find_iter(&self, hay: &[u8], max: usize) -> Vec<std::ops::Range<usize>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut at = 0;
        while out.len() < max && at <= hay.len() {
            let input = Input::new(hay).range(at..);
            let Ok(Some(m)) = self.re.try_search(&mut cache, &input) else {
                break;
            };
            // An empty match moves the search on by one byte.
            at = if m.is_empty() { m.end() + 1 } else { m.end() };
            out.push(m.range());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_finds_and_explains_errors() {
        let m = Matcher::new(r"(?i)\brm\s+-rf\b").unwrap();
        assert!(m.is_match(b"sudo RM -rf /"));
        assert!(!m.is_match(b"form -rfx"));
        let f = Finder::new(r"<string>[^<]*</string>").unwrap();
        let hay = b"<string>sh</string><string>-c</string>";
        let spans = f.find_iter(hay, 8);
        assert_eq!(spans, vec![0..19, 19..38]);
        assert_eq!(f.find_iter(hay, 1).len(), 1);
        assert!(matches!(Matcher::new("(unclosed"), Err(Error::Syntax(_))));
        assert_eq!(
            Matcher::with_limit("a{1000}{1000}", 1 << 10).err(),
            Some(Error::TooBig(1 << 10))
        );
        // Empty matches do not loop.
        assert_eq!(Finder::new("x*").unwrap().find_iter(b"ab", 8).len(), 3);
        let c = m.clone();
        assert!(c.is_match(b"rm -rf x"));
    }
}
