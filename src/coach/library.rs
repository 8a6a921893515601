//! The compiled pattern library: one forward lazy DFA per pattern (or per
//! top-level alternative, see `branches`), and per target one Aho-Corasick
//! automaton over the literals its patterns must start with, end with or
//! contain. A check runs the automaton once over a view and then only the
//! patterns each of whose required sets it saw (plus the few with no usable
//! literal); a pattern anchored at `^` runs once, from the start.
//!
//! Why not one `RegexSet` per target (what this replaced): its lazy DFA is
//! the product of ~100 patterns and rebuilt states on almost every input
//! (10.5k checks/s, p99 ~650 us on `cargo bench --bench coach`), and a full
//! `regex::Regex` per pattern carries a reverse NFA, a one-pass DFA and a
//! backtracker that `is_match` never needs (the library took ~11 MB RSS).
//! Here each pattern is a Thompson NFA without captures and a forward lazy
//! DFA whose cache is small and bounded.
//!
//! Byte-oriented and ASCII-only (`unicode(false)`): input is normalised
//! first (look-alikes folded), and Unicode word boundaries would force the
//! slow NFA path on every check.

use super::{detect, patterns, Match, Target, TARGETS};
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::{Anchored, Input};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Compiled-size limit of one pattern's NFA.
const NFA_SIZE_LIMIT: usize = 2 << 20;
/// Lazy-DFA cache limit per pattern and per matching thread. One pattern's
/// DFA is small (its states are sets of that pattern's NFA states, not the
/// product of a whole set's), so most caches stay at a few KiB; the limit
/// bounds a pathological input, after which the cache is cleared and
/// rebuilt rather than grown.
pub const DFA_CACHE_LIMIT: usize = 256 << 10;
/// Default bytes a thread's idle caches may keep between checks
/// (`coach.dfaCacheBytes`): above this, the largest and stalest are dropped when a
/// check gives them back, so a burst of odd input does not stay resident.
/// Measured with `cargo bench --bench coach` over ~3,900 varied inputs
/// (anchored runs, lazily compiled patterns): 1 MiB ~13k checks/s, p99
/// ~300 us; 2 MiB ~25k, ~180 us; 4 MiB ~42k, ~110 us; 8 MiB ~65k, ~65 us;
/// 16 and 32 MiB no better. A gateway that has only seen a few kinds of
/// call holds far less than the budget.
pub const DEFAULT_DFA_CACHE_BYTES: usize = 8 << 20;
/// Smallest `coach.dfaCacheBytes`: one pattern's cache limit.
pub const MIN_DFA_CACHE_BYTES: usize = DFA_CACHE_LIMIT;
/// A pattern is prefiltered when every match must begin (or end) with one
/// of a finite set of literals, each at least this long; shorter ones would
/// make nearly every input a candidate.
const MIN_PREFILTER_LITERAL: usize = 2;
/// Literal-extraction bounds: enough to expand `(?i)` words and small
/// alternations, not a class over the alphabet.
const EXTRACT_LIMIT_TOTAL: usize = 4000;
const EXTRACT_LIMIT_CLASS: usize = 40;
/// A pattern's literal set above this many is cut shorter (see
/// `required_literals`); the cut starts at this many bytes per literal.
const MAX_LITERALS_PER_PATTERN: usize = 48;
/// A starting-literal set whose shortest literal is at least this long is
/// preferred over a more selective ending set: it lets the pattern run
/// anchored where a literal was seen, which is what makes a check cheap.
const ANCHOR_PREFERRED_LEN: usize = 4;
/// At most this many anchored runs per pattern and view; a literal seen more
/// often than this (a long message) gets one unanchored run from the first.
const MAX_ANCHORED_STARTS: usize = 16;
/// Views longer than this get anchored runs only when the literal was seen
/// once (see `Scanner::scan`).
const ANCHORED_MULTI_MAX_VIEW: usize = 4096;
const MAX_LITERAL_KEEP: usize = 8;

/// Bytes one thread's caches may reach during a check before some are
/// dropped (see `Compiled::trim`) (a check runs on, rebuilding what it needs): the idle
/// budget and half as much again.
fn thread_cache_cap(budget: usize) -> usize {
    budget.saturating_add(budget / 2)
}

/// Upper bound of the lazy-DFA caches one matching thread can hold with an
/// idle budget of `budget`, for the worst-case memory figure: the cap plus
/// one pattern's growth past it.
pub fn dfa_cache_bytes_per_thread(budget: usize) -> usize {
    thread_cache_cap(budget).saturating_add(2 * DFA_CACHE_LIMIT)
}
/// The compiled library itself: the NFAs, the literal automata and the
/// detectors' needle lists (measured 4.87 MB with every pattern compiled, see
/// `compiled_bytes`; counted with room: 4 MiB was 99 % used). Patterns
/// compile on first use, so a gateway holds only what its traffic reached.
pub const LIBRARY_BYTES: usize = 5 << 20;

/// The library; compiled on first use (or by `warm`, which the gateway runs
/// on the pool at start) so compiling is not on the start path.
pub struct Library {
    compiled: OnceLock<Compiled>,
    pub defs: &'static [patterns::PatternDef],
    /// Idle budget of each thread's caches (`coach.dfaCacheBytes`); a
    /// config reload may change it while checks run.
    cache_budget: AtomicUsize,
}

/// One scanned unit: pattern `def`, whole or only its top-level
/// alternative `branch`.
#[derive(Clone, Copy)]
struct Unit {
    def: u16,
    branch: Option<u16>,
}

/// One pattern, ready to search.
struct Matcher {
    dfa: DFA,
}

struct Compiled {
    defs: &'static [patterns::PatternDef],
    /// What is scanned: each pattern whole, or each of its top-level
    /// alternatives (see `branches`), in library order.
    units: Vec<Unit>,
    /// Per unit (index into `units`), compiled the first time the unit
    /// is a candidate: the literal pass keeps most patterns from ever
    /// running on a given gateway's traffic, and an NFA is ~5 KiB (the
    /// whole set 1.3 MiB), so a library compiled up front held memory that
    /// typical traffic never touches. Bounded by the whole set
    /// (`LIBRARY_BYTES`).
    /// Boxed: a compiled `Matcher` is ~700 bytes inline, and most slots
    /// stay empty.
    regexes: Vec<OnceLock<Box<Matcher>>>,
    unless: Vec<OnceLock<Box<Matcher>>>,
    targets: Vec<TargetScan>,
    /// Per-thread search state, one `Cache` per pattern and `unless`; a
    /// scan takes a set and gives it back. There are never more sets than
    /// threads that scanned at once (the coach's pool).
    caches: Mutex<Vec<Caches>>,
}

/// A thread's lazy-DFA caches, one per pattern and `unless`, each made the
/// first time its pattern is a candidate: most inputs reach a handful of
/// patterns, so an idle set holds only what recent checks used.
struct Caches {
    /// Boxed for the same reason (a `Cache` is ~350 bytes inline).
    regexes: Vec<Option<Box<Cache>>>,
    unless: Vec<Option<Box<Cache>>>,
    /// What the caches above hold, kept as they grow.
    bytes: usize,
    /// Per slot (`regexes`, then `unless`), what its cache held after its
    /// last run: kept here so that neither a run nor `trim` asks every
    /// cache for its size (`Cache::memory_usage` walks several tables).
    sizes: Vec<u32>,
    /// Checks this set has served, wrapping: ages are told apart up to
    /// 2^32 checks, beyond which a stale cache may pass for a fresh one
    /// (which costs a rebuild, never a wrong answer).
    clock: u32,
    /// Per slot (`regexes`, then `unless`), the `clock` of its last use;
    /// `trim` drops what is large and has gone unused longest.
    last: Vec<u32>,
    /// Scratch for `scan`: (pattern position, where one of its literals
    /// starts) for anchored patterns.
    starts: Vec<(u16, u32)>,
    /// Scratch for `scan`: the positions of the units to run.
    cand: Vec<u16>,
    /// Scratch for `scan`: per unit position of the target scanned, the
    /// bits of its literal sets seen; sized for the largest target.
    seen: Vec<u8>,
}

impl Caches {
    /// Runs `m` over `hay` from `from` on (unanchored) with the cache in
    /// slot `k` (`regexes`, then `unless`), making it if needed, and keeps
    /// `bytes`, `sizes` and `last` up to date.
    fn run(&mut self, k: usize, m: &Matcher, hay: &[u8], from: usize) -> bool {
        self.with(k, m, |m, cache| {
            m.is_match(cache, Input::new(hay).range(from..))
        })
    }

    /// As `run`, but anchored at each of `starts`: true if a match begins
    /// at any of them.
    fn run_at(&mut self, k: usize, m: &Matcher, hay: &[u8], starts: &[u32]) -> bool {
        self.with(k, m, |m, cache| {
            starts.iter().any(|&at| {
                let input = Input::new(hay).range(at as usize..).anchored(Anchored::Yes);
                m.is_match(cache, input)
            })
        })
    }

    fn with(
        &mut self,
        k: usize,
        m: &Matcher,
        search: impl FnOnce(&Matcher, &mut Cache) -> bool,
    ) -> bool {
        let n = self.regexes.len();
        let slot = if k < n {
            &mut self.regexes[k]
        } else {
            &mut self.unless[k - n]
        };
        let cache = slot.get_or_insert_with(|| Box::new(m.cache()));
        let hit = search(m, cache);
        // A cache is bounded by `DFA_CACHE_LIMIT` plus its fixed tables,
        // far below 4 GiB.
        let after = cache.memory_usage() as u32;
        let before = std::mem::replace(&mut self.sizes[k], after);
        self.bytes = (self.bytes + after as usize).saturating_sub(before as usize);
        self.last[k] = self.clock;
        hit
    }
}

/// How one target's patterns are scanned.
struct TargetScan {
    target: Target,
    /// The target's units, in library order (the order matches are
    /// reported in).
    units: Vec<usize>,
    /// Position in `units` of each automaton pattern's owner, and the bit
    /// of its set in `need` (bit 0: the primary set).
    owner: Vec<(u16, u8)>,
    /// Per `units` position, the bits of the sets that must all be seen
    /// (0: no usable literal, the pattern runs on every view).
    need: Vec<u8>,
    /// The positions whose `need` is 0.
    always: Vec<u16>,
    /// `units` positions whose matches start only at the view's start.
    start_only: Vec<bool>,
    /// `units` positions whose every match starts at one of its literals:
    /// run anchored there instead of over the whole view.
    anchored: Vec<bool>,
    literals: Option<aho_corasick::AhoCorasick>,
}

impl Matcher {
    fn new(src: &str, what: &str) -> Matcher {
        Matcher::branch(src, None, what)
    }

    /// Pattern `src`, or only its top-level alternative `branch`.
    fn branch(src: &str, branch: Option<u16>, what: &str) -> Matcher {
        let hir = parse(src)
            .and_then(|h| match branch {
                Some(b) => branches(h).into_iter().nth(b as usize),
                None => Some(h),
            })
            .unwrap_or_else(|| panic!("pattern library does not compile: {what}"));
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .which_captures(WhichCaptures::None)
                    .nfa_size_limit(Some(NFA_SIZE_LIMIT)),
            )
            .build_from_hir(&hir)
            .unwrap_or_else(|e| panic!("pattern library does not compile: {what}: {e}"));
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .cache_capacity(DFA_CACHE_LIMIT)
                    .skip_cache_capacity_check(true)
                    // Never give up and report an error: clear and go on.
                    .minimum_cache_clear_count(None),
            )
            .build_from_nfa(nfa)
            .unwrap_or_else(|e| panic!("pattern library does not compile: {what}: {e}"));
        Matcher { dfa }
    }

    fn cache(&self) -> Cache {
        self.dfa.create_cache()
    }

    /// Whether the pattern matches anywhere in `hay`. A search error
    /// (impossible with the configuration above) counts as a match: a
    /// pattern that could not be evaluated must not let a call through.
    fn is_match(&self, cache: &mut Cache, input: Input<'_>) -> bool {
        let input = input.earliest(true);
        self.dfa
            .try_search_fwd(cache, &input)
            .map_or(true, |m| m.is_some())
    }
}

/// The literals every match of `re` must begin with, or end with, or else
/// contain (`inner_literals`); `None` when there is no such finite set and
/// the pattern runs on every view of its target. A set every match *starts* with is
/// preferred unless the ending set is clearly more selective: it lets the
/// pattern run anchored at each place a literal was seen (see `scan`).
///
/// Alternations multiply out (`(mkfs|mke2fs)\S*\s+(/dev/sd|/dev/nvme…)` is
/// a thousand literals), so a long set is cut to each literal's first (or
/// last) few bytes and deduplicated: still a condition every match meets,
/// at a fraction of the automaton's size.
fn required_literals(hir: &regex_syntax::hir::Hir) -> (Option<Literals>, Vec<LiteralSet>) {
    use regex_syntax::hir::literal::ExtractKind;
    let mut found: Vec<LiteralSet> = [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .filter_map(|kind| literal_set(hir, kind))
        .collect();
    // Longer shortest literal first, then fewer literals; an anchorable set
    // wins unless the other's shortest literal is longer and it is itself
    // short enough to fire often.
    found.sort_by_key(|f| {
        let rank = if f.anchored {
            f.min.max(ANCHOR_PREFERRED_LEN)
        } else {
            f.min
        };
        (std::cmp::Reverse(rank), !f.anchored, f.literals.len())
    });
    let mut found = found.into_iter();
    let Some(best) = found.next().or_else(|| inner_literals(hir)) else {
        return (None, Vec::new());
    };
    (
        Some(Literals {
            literals: best.literals,
            anchored: best.anchored,
        }),
        found.collect(),
    )
}

/// One finite literal set a pattern's matches must contain.
struct LiteralSet {
    /// Length of the shortest literal.
    min: usize,
    literals: Vec<Vec<u8>>,
    /// Every match starts where one of `literals` does.
    anchored: bool,
}

impl LiteralSet {
    /// Ranking among alternatives: longer shortest literal, then fewer.
    fn better_than(&self, other: &LiteralSet) -> bool {
        self.min > other.min
            || (self.min == other.min && self.literals.len() < other.literals.len())
    }
}

/// The literals every match of `hir` must begin (`Prefix`) or end
/// (`Suffix`) with, lower-cased, cut to at most `MAX_LITERALS_PER_PATTERN`;
/// `None` when there is no such finite set of useful length.
fn literal_set(
    hir: &regex_syntax::hir::Hir,
    kind: regex_syntax::hir::literal::ExtractKind,
) -> Option<LiteralSet> {
    literal_set_within(hir, kind, EXTRACT_LIMIT_TOTAL)
}

/// `literal_set` with another bound on how many literals extraction may
/// multiply out.
fn literal_set_within(
    hir: &regex_syntax::hir::Hir,
    kind: regex_syntax::hir::literal::ExtractKind,
    limit_total: usize,
) -> Option<LiteralSet> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let mut e = Extractor::new();
    e.kind(kind.clone())
        .limit_total(limit_total)
        .limit_class(EXTRACT_LIMIT_CLASS);
    let seq = e.extract(hir);
    let lits = seq.literals()?;
    // Lower-cased and matched case-insensitively: a superset of the
    // exact literals, so no match is lost.
    let mut v: Vec<Vec<u8>> = lits
        .iter()
        .map(|l| l.as_bytes().to_ascii_lowercase())
        .collect();
    v.sort_unstable();
    v.dedup();
    // A match starts where a literal does only if the literals are
    // whole prefixes (or cut to their first bytes, below); leading
    // whitespace dropped here breaks that.
    let mut anchored = matches!(kind, ExtractKind::Prefix);
    // First drop the whitespace an ending like `(?:\s|$)` multiplies
    // every literal by (any part of a required literal is required).
    if v.len() > MAX_LITERALS_PER_PATTERN {
        anchored &= !v
            .iter()
            .any(|l| l.first().is_some_and(u8::is_ascii_whitespace));
        for l in v.iter_mut() {
            match kind {
                ExtractKind::Suffix => {
                    while l.last().is_some_and(|b| b.is_ascii_whitespace()) {
                        l.pop();
                    }
                }
                _ => {
                    let n = l.iter().take_while(|b| b.is_ascii_whitespace()).count();
                    l.drain(..n);
                }
            }
        }
        v.sort_unstable();
        v.dedup();
    }
    let mut keep = MAX_LITERAL_KEEP;
    while v.len() > MAX_LITERALS_PER_PATTERN && keep >= MIN_PREFILTER_LITERAL {
        v = v
            .iter()
            .map(|b| match kind {
                ExtractKind::Suffix => b[b.len().saturating_sub(keep)..].to_vec(),
                _ => b[..b.len().min(keep)].to_vec(),
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        keep -= 1;
    }
    if v.len() > MAX_LITERALS_PER_PATTERN {
        return None;
    }
    let min = v.iter().map(|s| s.len()).min().unwrap_or(0);
    (min >= MIN_PREFILTER_LITERAL).then_some(LiteralSet {
        min,
        literals: v,
        anchored,
    })
}

/// Literals every match must contain somewhere, for a pattern with no
/// usable starting or ending set (`^(?:sudo )?(?:cat|less|…)\b.*\.env`
/// starts with a hundred readers and ends anywhere): the best set among the
/// parts of a concatenation (each part is in every match), or the union
/// over an alternation's branches (each needs its own). Never anchored.
fn inner_literals(hir: &regex_syntax::hir::Hir) -> Option<LiteralSet> {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Capture(c) => inner_literals(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => inner_literals(&r.sub),
        HirKind::Concat(parts) => {
            parts
                .iter()
                .filter_map(part_literals)
                .reduce(|a, b| if b.better_than(&a) { b } else { a })
        }
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for b in branches {
                all.extend(part_literals(b)?.literals);
            }
            all.sort_unstable();
            all.dedup();
            let min = all.iter().map(Vec::len).min().unwrap_or(0);
            (all.len() <= MAX_LITERALS_PER_PATTERN && min >= MIN_PREFILTER_LITERAL).then_some(
                LiteralSet {
                    min,
                    literals: all,
                    anchored: false,
                },
            )
        }
        _ => None,
    }
}

/// A part's own starting or ending set if it has one, else its inner one.
fn part_literals(hir: &regex_syntax::hir::Hir) -> Option<LiteralSet> {
    use regex_syntax::hir::literal::ExtractKind;
    [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .filter_map(|k| literal_set(hir, k))
        .reduce(|a, b| if b.better_than(&a) { b } else { a })
        .or_else(|| inner_literals(hir))
        .map(|mut s| {
            s.anchored = false;
            s
        })
}

/// What `required_literals` found for one pattern.
struct Literals {
    literals: Vec<Vec<u8>>,
    /// Every match starts where one of `literals` does.
    anchored: bool,
}

/// What the scan needs to know of one pattern before running it.
#[derive(Default)]
struct Prefilter {
    /// The set whose hits say where to run (see `required_literals`).
    primary: Option<Literals>,
    /// Further sets every match also contains (the ending set beside a
    /// starting one, another part of a concatenation): a pattern is a
    /// candidate only when each of its sets was seen. On the bench mix the
    /// primary set alone made 16 candidates per check for 0.7 matches.
    extra: Vec<Vec<Vec<u8>>>,
    /// Every match starts at the beginning of the view (`^` without `m`):
    /// one anchored run there, and only a starting literal seen there counts.
    start_only: bool,
}

/// At most this many sets beside the primary one per pattern (each is a
/// bit of `TargetScan::need`); the most selective are kept.
const MAX_EXTRA_SETS: usize = 2;
/// An extra set is kept only if it is this small and its literals this
/// long: a short or long set filters little and grows the literal automata
/// (and their build at start) for nothing.
const MAX_EXTRA_LITERALS: usize = 12;
const MIN_EXTRA_LITERAL: usize = 3;
/// Extraction bound for the parts of a concatenation (smaller than the
/// primary set's: only small sets are kept).
const EXTRACT_LIMIT_PART: usize = 64;

/// A pattern as the library reads it: bytes, ASCII case rules.
fn parse(re: &str) -> Option<regex_syntax::hir::Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(re)
        .ok()
}

/// A pattern's top-level alternatives, each scanned as a pattern of its
/// own (the pattern matches where any does): each gets its own literal
/// set and runs only where that set was seen, anchored there when it can
/// be. Whole, `(?i)(?:what … your system prompt|repeat … above|…)` has no
/// finite literal set and ran its large lazy DFA over every message, where
/// the product of its bounded gaps (`.{0,40}`) rebuilt states on almost
/// every input.
fn branches(hir: regex_syntax::hir::Hir) -> Vec<regex_syntax::hir::Hir> {
    use regex_syntax::hir::{Hir, HirKind};
    let look = |h: &Hir| match h.kind() {
        HirKind::Look(l) => Some(*l),
        _ => None,
    };
    // Groups are stored as captures (see `patterns::lean`) and compiled
    // without them, so a group around the whole is no boundary. Nor are
    // assertions around a single alternation (`\b(?:a|b)`, which is also
    // how the parser factors `\ba|\bb`): they go with each alternative.
    match hir.kind() {
        HirKind::Alternation(_) | HirKind::Capture(_) => {}
        HirKind::Concat(parts) if parts.iter().filter(|p| look(p).is_none()).count() == 1 => {}
        _ => return vec![hir],
    }
    match hir.into_kind() {
        HirKind::Alternation(b) => b,
        HirKind::Capture(c) => branches(*c.sub),
        HirKind::Concat(mut parts) => {
            let k = parts.iter().position(|p| look(p).is_none()).unwrap_or(0);
            let inner = branches(std::mem::replace(&mut parts[k], Hir::empty()));
            inner
                .into_iter()
                .map(|b| {
                    let mut b = Some(b);
                    let v = parts
                        .iter()
                        .map(|p| {
                            look(p).map_or_else(|| b.take().unwrap_or_else(Hir::empty), Hir::look)
                        })
                        .collect();
                    Hir::concat(v)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The primary set of `hir`, the further sets every match must also
/// contain, and whether matches start only at the beginning of the view.
fn prefilter(hir: &regex_syntax::hir::Hir) -> Prefilter {
    let none = Prefilter::default();
    let start_only = hir
        .properties()
        .look_set_prefix()
        .contains(regex_syntax::hir::Look::Start);
    let (primary, mut sets) = required_literals(hir);
    let Some(primary) = primary else {
        return Prefilter { start_only, ..none };
    };
    concat_part_sets(hir, &mut sets);
    sets.retain(|s| s.literals.len() <= MAX_EXTRA_LITERALS && s.min >= MIN_EXTRA_LITERAL);
    // Most selective first: longer shortest literal, then fewer literals.
    sets.sort_by_key(|s| (std::cmp::Reverse(s.min), s.literals.len()));
    let mut extra: Vec<Vec<Vec<u8>>> = Vec::new();
    for s in sets {
        if extra.len() < MAX_EXTRA_SETS
            && primary.literals != s.literals
            && !extra.contains(&s.literals)
        {
            extra.push(s.literals);
        }
    }
    Prefilter {
        primary: Some(primary),
        extra,
        start_only,
    }
}

/// The small literal sets of the parts of a top-level concatenation: every
/// part is in every match, so each set is required on its own.
fn concat_part_sets(hir: &regex_syntax::hir::Hir, out: &mut Vec<LiteralSet>) {
    use regex_syntax::hir::literal::ExtractKind;
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Capture(c) => concat_part_sets(&c.sub, out),
        HirKind::Concat(parts) => {
            for part in parts {
                for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
                    out.extend(literal_set_within(part, kind, EXTRACT_LIMIT_PART));
                }
            }
        }
        _ => {}
    }
}

impl Library {
    /// The library; regexes compile on first use.
    pub fn lazy() -> Library {
        Library {
            compiled: OnceLock::new(),
            defs: patterns::PATTERNS,
            cache_budget: AtomicUsize::new(DEFAULT_DFA_CACHE_BYTES),
        }
    }

    /// Sets the idle budget of each thread's lazy-DFA caches; the next
    /// check that gives its caches back trims them to it.
    pub fn set_cache_budget(&self, bytes: usize) {
        self.cache_budget
            .store(bytes.max(MIN_DFA_CACHE_BYTES), Ordering::Relaxed);
    }

    /// The library, compiled now.
    pub fn compile() -> Library {
        let lib = Library::lazy();
        lib.warm();
        lib
    }

    /// Builds the literal automata if that has not happened yet; each
    /// pattern's own automaton is compiled when it is first a candidate.
    pub fn warm(&self) {
        let _ = self.compiled();
    }

    /// Compiles every pattern now (tests: every pattern must compile, and
    /// the whole set must fit `LIBRARY_BYTES`).
    #[cfg(test)]
    pub(crate) fn compile_all(&self) {
        let c = self.compiled();
        for u in 0..c.units.len() {
            let _ = c.regex(u);
        }
        for i in 0..self.defs.len() {
            let _ = c.unless(i);
        }
    }

    fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| Compiled::build(self.defs))
    }

    /// Heap bytes of the compiled automata (NFAs, DFA shells, literal
    /// automata), by part; compiles the library if needed. For the test
    /// that holds them under `LIBRARY_BYTES`.
    #[cfg(test)]
    fn compiled_bytes(&self) -> [(&'static str, usize); 3] {
        self.compile_all();
        let c = self.compiled();
        let m = |x: &OnceLock<Box<Matcher>>| {
            x.get()
                .map_or(0, |x| x.dfa.memory_usage() + x.dfa.get_nfa().memory_usage())
        };
        [
            ("regexes", c.regexes.iter().map(m).sum()),
            ("unless", c.unless.iter().map(m).sum()),
            (
                "literals",
                c.targets
                    .iter()
                    .filter_map(|t| t.literals.as_ref())
                    .map(|a| a.memory_usage())
                    .sum(),
            ),
        ]
    }

    /// Count of regex patterns plus structural detectors.
    pub fn pattern_count(&self) -> usize {
        self.defs.len() + detect::DETECTORS.len()
    }

    /// Appends the matches of `target`'s patterns in `text`.
    pub(super) fn scan(&self, target: Target, text: &str, out: &mut Vec<Match>) {
        self.scanner().scan(target, text, out);
    }

    /// A scanner holding this thread's caches until it is dropped: one
    /// check scans a dozen views, and takes and gives back the caches once.
    pub(super) fn scanner(&self) -> Scanner<'_> {
        let compiled = self.compiled();
        Scanner {
            lib: self,
            compiled,
            budget: self.cache_budget.load(Ordering::Relaxed),
            caches: Some(compiled.take_caches()),
        }
    }
}

/// Scans views with one thread's caches (see `Library::scanner`).
pub(super) struct Scanner<'a> {
    lib: &'a Library,
    compiled: &'a Compiled,
    budget: usize,
    /// Always `Some` until dropped.
    caches: Option<Caches>,
}

impl Drop for Scanner<'_> {
    fn drop(&mut self) {
        if let Some(caches) = self.caches.take() {
            self.compiled.give_caches(caches, self.budget);
        }
    }
}

impl Scanner<'_> {
    /// Appends the matches of `target`'s patterns in `text`.
    pub(super) fn scan(&mut self, target: Target, text: &str, out: &mut Vec<Match>) {
        if text.is_empty() {
            return;
        }
        let c = self.compiled;
        let budget = self.budget;
        let Some(caches) = self.caches.as_mut() else {
            return;
        };
        let Some(ts) = c.targets.iter().find(|s| s.target == target) else {
            return;
        };
        let hay = text.as_bytes();
        // Per unit of this target, the bits of its literal sets seen (all
        // zero between scans: what a scan sets, it clears below).
        let mut seen = std::mem::take(&mut caches.seen);
        let mut starts = std::mem::take(&mut caches.starts);
        starts.clear();
        // The units to run: those a literal was seen for (kept below only
        // if all their sets were), then those that run on every view.
        // Walking every unit of the target per view instead was a few
        // microseconds of each everyday check.
        let mut cand = std::mem::take(&mut caches.cand);
        cand.clear();
        if let Some(ac) = &ts.literals {
            for m in ac.find_overlapping_iter(hay) {
                let (pos, bit) = ts.owner[m.pattern().as_usize()];
                let pos = pos as usize;
                if bit == 0 && ts.anchored[pos] {
                    // A starting literal anywhere but the start cannot
                    // begin a match of a pattern anchored there.
                    if ts.start_only[pos] && m.start() != 0 {
                        continue;
                    }
                    // Views are capped far below 4 GiB.
                    starts.push((pos as u16, m.start() as u32));
                }
                if seen[pos] == 0 {
                    cand.push(pos as u16);
                }
                seen[pos] |= 1 << bit;
            }
        }
        cand.retain(|&p| {
            let p = p as usize;
            let all = seen[p] == ts.need[p];
            seen[p] = 0;
            all
        });
        caches.seen = seen;
        cand.extend_from_slice(&ts.always);
        cand.sort_unstable();
        starts.sort_unstable();
        starts.dedup();
        let mut next = 0;
        // The pattern last decided: its other alternatives need not run.
        let mut decided = usize::MAX;
        for &pos in &cand {
            let pos = pos as usize;
            let u = ts.units[pos];
            let i = c.units[u].def as usize;
            if i == decided {
                continue;
            }
            // This pattern's literal starts (sorted, so they are a run).
            let mut at: &[(u16, u32)] = &[];
            if ts.anchored[pos] {
                while next < starts.len() && (starts[next].0 as usize) < pos {
                    next += 1;
                }
                let end = starts[next..]
                    .iter()
                    .position(|s| s.0 as usize != pos)
                    .map_or(starts.len(), |n| next + n);
                at = &starts[next..end];
                next = end;
            }
            // Several anchored runs over a long view can each walk to its
            // end (`cat\b.*\.env` seen at 16 places in 64 KiB); there one
            // unanchored pass from the first is the cheaper bound.
            let anchored = !at.is_empty()
                && at.len() <= MAX_ANCHORED_STARTS
                && (at.len() == 1 || hay.len() <= ANCHORED_MULTI_MAX_VIEW);
            let hit = if ts.start_only[pos] {
                // One run from the start, where every match begins.
                caches.run_at(u, c.regex(u), hay, &[0])
            } else if !anchored {
                // Unanchored from the first literal (or the whole view).
                let from = at.first().map_or(0, |s| s.1 as usize);
                caches.run(u, c.regex(u), hay, from)
            } else {
                let mut offsets = [0u32; MAX_ANCHORED_STARTS];
                for (o, s) in offsets.iter_mut().zip(at) {
                    *o = s.1;
                }
                caches.run_at(u, c.regex(u), hay, &offsets[..at.len()])
            };
            if caches.bytes > thread_cache_cap(budget) {
                c.trim(caches, budget);
            }
            if !hit {
                continue;
            }
            decided = i;
            if let Some(m) = c.unless(i) {
                let n = caches.regexes.len();
                if caches.run(n + i, m, hay, 0) {
                    continue;
                }
            }
            out.push(self.lib.defs[i].to_match(i + detect::DETECTORS.len()));
        }
        caches.starts = starts;
        caches.cand = cand;
    }
}

/// The units pattern `re` is scanned as, with their prefilters: the whole,
/// or each top-level alternative (`branches`) when the whole has no
/// literal set that says where a match starts. Splitting every pattern
/// tripled the literal automata (to 0.97 MB). A pattern that does not
/// parse is one unit with no literals: compiling it panics, and the
/// library's tests compile them all.
fn unit_filters(re: &str) -> Vec<(Option<u16>, Prefilter)> {
    let Some(hir) = parse(re) else {
        return vec![(None, Prefilter::default())];
    };
    let whole = prefilter(&hir);
    if matches!(&whole.primary, Some(p) if p.anchored) || whole.start_only {
        return vec![(None, whole)];
    }
    let parts = branches(hir);
    if parts.len() < 2 {
        return vec![(None, whole)];
    }
    parts
        .iter()
        .enumerate()
        .map(|(k, h)| (Some(k as u16), prefilter(h)))
        .collect()
}

impl Compiled {
    fn build(defs: &'static [patterns::PatternDef]) -> Compiled {
        let mut units = Vec::new();
        let unless = defs.iter().map(|_| OnceLock::new()).collect();
        let mut targets = Vec::new();
        for t in TARGETS {
            // Each target's units and literal sets are made and used here,
            // one pattern at a time: holding every pattern's sets until
            // all were made left the heap fragmented, and the gateway's
            // RSS with the coach ready 0.5 MB higher.
            let filters = (0..defs.len())
                .filter(|&i| defs[i].target == t)
                .flat_map(|i| {
                    unit_filters(defs[i].re)
                        .into_iter()
                        .map(move |(branch, p)| {
                            (
                                Unit {
                                    def: i as u16,
                                    branch,
                                },
                                p,
                            )
                        })
                });
            let mut ids = Vec::new();
            let mut lits = Vec::new();
            let mut owner = Vec::new();
            let mut anchored = Vec::new();
            let mut need = Vec::new();
            let mut start_only = Vec::new();
            for (pos, (unit, p)) in filters.enumerate() {
                ids.push(units.len());
                units.push(unit);
                start_only.push(p.start_only);
                match p.primary {
                    Some(v) => {
                        owner.extend(std::iter::repeat_n((pos as u16, 0u8), v.literals.len()));
                        lits.extend(v.literals);
                        anchored.push(v.anchored);
                        let mut bits = 1u8;
                        for (k, set) in p.extra.into_iter().enumerate() {
                            let bit = k as u8 + 1;
                            owner.extend(std::iter::repeat_n((pos as u16, bit), set.len()));
                            lits.extend(set);
                            bits |= 1 << bit;
                        }
                        need.push(bits);
                    }
                    None => {
                        anchored.push(false);
                        need.push(0);
                    }
                }
            }
            // Positions are kept as u16.
            assert!(
                ids.len() <= 1 << 16,
                "{t:?} holds more than 65,536 patterns and alternatives"
            );
            let literals = (!lits.is_empty()).then(|| {
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    // A contiguous NFA: a fifth of a DFA's size over these
                    // ~2,000 literals, and one pass per view either way.
                    .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
                    // Dense rows only for the start state: all targets'
                    // automata 557 -> 284 KiB (depth 0: 232 KiB, measurably
                    // slower); checks/s the same within noise.
                    .dense_depth(1)
                    .build(&lits)
                    .unwrap_or_else(|e| panic!("pattern literals do not compile: {e}"))
            });
            let always = (0..need.len())
                .filter(|&p| need[p] == 0)
                .map(|p| p as u16)
                .collect();
            targets.push(TargetScan {
                target: t,
                always,
                units: ids,
                owner,
                need,
                start_only,
                anchored,
                literals,
            });
        }
        let regexes = units.iter().map(|_| OnceLock::new()).collect();
        Compiled {
            defs,
            units,
            regexes,
            unless,
            targets,
            caches: Mutex::new(Vec::new()),
        }
    }

    /// Unit `u`, compiled now if this is its first use.
    fn regex(&self, u: usize) -> &Matcher {
        self.regexes[u].get_or_init(|| {
            let unit = self.units[u];
            let d = &self.defs[unit.def as usize];
            Box::new(Matcher::branch(d.re, unit.branch, d.id()))
        })
    }

    /// Pattern `i`'s `unless`, if it has one.
    fn unless(&self, i: usize) -> Option<&Matcher> {
        let d = &self.defs[i];
        let u = d.unless?;
        Some(self.unless[i].get_or_init(|| Box::new(Matcher::new(u, d.id()))))
    }

    fn take_caches(&self) -> Caches {
        let spare = self.caches.lock().map(|mut v| v.pop()).unwrap_or(None);
        let mut c = spare.unwrap_or_else(|| Caches {
            regexes: self.regexes.iter().map(|_| None).collect(),
            unless: self.unless.iter().map(|_| None).collect(),
            bytes: 0,
            sizes: vec![0; self.regexes.len() + self.unless.len()],
            clock: 0,
            last: vec![0; self.regexes.len() + self.unless.len()],
            starts: Vec::new(),
            cand: Vec::new(),
            seen: vec![
                0;
                self.targets
                    .iter()
                    .map(|t| t.units.len())
                    .max()
                    .unwrap_or(0)
            ],
        });
        c.clock = c.clock.wrapping_add(1);
        c
    }

    fn give_caches(&self, mut caches: Caches, budget: usize) {
        self.trim(&mut caches, budget);
        if let Ok(mut v) = self.caches.lock() {
            v.push(caches);
        }
    }

    /// Drops caches until the set holds at most `budget` bytes; a dropped
    /// one is made again when its pattern next runs. The one dropped first
    /// is the largest in bytes times checks since its last use: dropping
    /// the largest alone threw away the busiest patterns (those that run on
    /// every message grow the largest caches) and rebuilt them on the next
    /// check. Measured with `cargo bench --bench coach` (7,172 varied
    /// inputs, 8 MiB): 19.7-22.0k -> 24.0-24.2k checks/s, p99 ~240 -> ~205 us.
    fn trim(&self, caches: &mut Caches, budget: usize) {
        // Each round drops the slot with the highest score, read from the
        // sizes kept per slot (no cache is asked for its size here).
        let clock = caches.clock;
        let n = caches.regexes.len();
        while caches.bytes > budget {
            let victim = caches
                .sizes
                .iter()
                .zip(&caches.last)
                .enumerate()
                .filter(|(_, (&size, _))| size > 0)
                .max_by_key(|(_, (&size, &last))| {
                    size as u64 * (clock.wrapping_sub(last) as u64 + 1)
                })
                .map(|(k, _)| k);
            let Some(k) = victim else { break };
            let slot = if k < n {
                &mut caches.regexes[k]
            } else {
                &mut caches.unless[k - n]
            };
            *slot = None;
            caches.bytes = caches.bytes.saturating_sub(caches.sizes[k] as usize);
            caches.sizes[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coach::{CheckInput, Views};

    /// `--check-config` counts `LIBRARY_BYTES` for the compiled library;
    /// the automata must fit in it.
    #[test]
    fn compiled_library_fits_its_budget() {
        let lib = Library::compile();
        let parts = lib.compiled_bytes();
        let total: usize = parts.iter().map(|p| p.1).sum();
        eprintln!("compiled library: {parts:?} = {total} bytes");
        assert!(
            total <= LIBRARY_BYTES,
            "{parts:?} = {total} > {LIBRARY_BYTES}"
        );
    }

    /// `coach.dfaCacheBytes` bounds what a thread keeps between checks:
    /// after the whole corpus, the idle caches fit the budget, and a
    /// smaller budget still finds the same matches.
    /// A cache unused for many checks goes before one the last check used,
    /// though they are of a size.
    #[test]
    fn trimming_drops_a_stale_cache_before_a_busy_one() {
        let lib = Library::compile();
        let c = lib.compiled();
        let mut caches = c.take_caches();
        for i in [0, 1] {
            let cache = Box::new(c.regex(i).cache());
            caches.bytes += cache.memory_usage();
            caches.sizes[i] = cache.memory_usage() as u32;
            caches.regexes[i] = Some(cache);
        }
        caches.clock = 1000;
        caches.last[0] = 1;
        caches.last[1] = 1000;
        let budget = caches.bytes - 1;
        c.trim(&mut caches, budget);
        assert!(caches.regexes[0].is_none(), "the stale cache stayed");
        assert!(caches.regexes[1].is_some(), "the busy cache was dropped");
    }

    #[test]
    fn idle_caches_stay_within_the_configured_budget() {
        let corpus = include_str!("../../tests/data/coach/corpus.jsonl");
        let lib = Library::lazy();
        lib.set_cache_budget(MIN_DFA_CACHE_BYTES);
        let full = Library::lazy();
        let mut scanned = 0;
        for line in corpus.lines().step_by(3) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let input: CheckInput = serde_json::from_value(v["input"].clone()).unwrap();
            let views = Views::build(&input, 64 * 1024);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            lib.scan(Target::Raw, &views.raw, &mut a);
            full.scan(Target::Raw, &views.raw, &mut b);
            let ids = |m: &[Match]| m.iter().map(|m| m.pattern_id).collect::<Vec<_>>();
            assert_eq!(ids(&a), ids(&b), "{}", views.raw);
            let c = lib.compiled();
            let idle = c.caches.lock().unwrap();
            assert!(idle.iter().all(|s| s.bytes <= MIN_DFA_CACHE_BYTES));
            scanned += 1;
        }
        assert!(scanned > 500);
        let c = full.compiled();
        let idle = c.caches.lock().unwrap();
        assert!(
            idle.iter().any(|s| s.bytes > MIN_DFA_CACHE_BYTES),
            "the default budget should have kept more than the minimum"
        );
    }

    /// The prefilter only skips patterns that cannot match: over every
    /// view of every case in the repository corpus, the patterns that fire
    /// are exactly those a full `RegexSet` scan finds.
    #[test]
    fn prefiltered_scan_finds_what_a_full_scan_finds() {
        let lib = Library::compile();
        let c = lib.compiled();
        let full: Vec<(Target, regex::bytes::RegexSet, Vec<usize>)> = TARGETS
            .iter()
            .map(|&t| {
                let idx: Vec<usize> = (0..lib.defs.len())
                    .filter(|&i| lib.defs[i].target == t)
                    .collect();
                let set = regex::bytes::RegexSetBuilder::new(idx.iter().map(|&i| lib.defs[i].re))
                    .unicode(false)
                    .build()
                    .unwrap();
                (t, set, idx)
            })
            .collect();
        let full_unless: Vec<Option<regex::bytes::Regex>> = lib
            .defs
            .iter()
            .map(|d| {
                d.unless.map(|u| {
                    regex::bytes::RegexBuilder::new(u)
                        .unicode(false)
                        .build()
                        .unwrap()
                })
            })
            .collect();
        assert_eq!(c.targets.len(), TARGETS.len());
        let corpus = include_str!("../../tests/data/coach/corpus.jsonl");
        let mut texts = 0;
        for line in corpus.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let input: CheckInput = serde_json::from_value(v["input"].clone()).unwrap();
            let views = Views::build(&input, 64 * 1024);
            let mut all: Vec<(Target, String)> = vec![(Target::Raw, views.raw.clone())];
            if let Some(s) = &views.script {
                for seg in &s.segments {
                    all.push((Target::Segment, seg.text.clone()));
                }
            }
            for t in &views.texts {
                all.push((Target::Text, t.clone()));
            }
            for t in &views.outbound {
                all.push((Target::Outbound, t.clone()));
            }
            for t in &views.urls {
                all.push((Target::Url, t.clone()));
            }
            for (target, text) in all {
                // Upper-cased too: the literals are matched without case.
                for text in [text.clone(), text.to_ascii_uppercase()] {
                    let mut got = Vec::new();
                    lib.scan(target, &text, &mut got);
                    let got: Vec<&str> = got.iter().map(|m| m.pattern_id).collect();
                    let (_, set, idx) = full.iter().find(|f| f.0 == target).unwrap();
                    let want: Vec<&str> = set
                        .matches(text.as_bytes())
                        .into_iter()
                        .map(|k| idx[k])
                        .filter(|&i| {
                            full_unless[i]
                                .as_ref()
                                .is_none_or(|u| !u.is_match(text.as_bytes()))
                        })
                        .map(|i| lib.defs[i].id())
                        .collect();
                    assert_eq!(got, want, "{target:?} view {text:?}");
                    texts += 1;
                }
            }
        }
        assert!(texts > 4000, "only {texts} views compared");
    }
}
