//! BERT's uncased WordPiece tokenizer, as all-MiniLM-L6-v2 was trained with:
//! HuggingFace's `BertNormalizer` (clean text, space out CJK ideographs, strip
//! accents, lowercase), `BertPreTokenizer` (whitespace and punctuation) and
//! the `WordPiece` model (greedy longest match, `##` continuations).
//!
//! Code chunks are mostly ASCII, so that path skips the Unicode machinery, and
//! nothing allocates per character or per piece: one normalization buffer per
//! call, lookups by `&str` slices into it.

use crate::error::{HostError, HostResult};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use unicode_normalization::UnicodeNormalization;

/// HuggingFace's `max_input_chars_per_word`: longer words become `[UNK]`
/// rather than costing a quadratic search.
const MAX_WORD_CHARS: usize = 100;
const CONTINUATION: &str = "##";

/// The tokenizer.json of the model declares these as added tokens that are not
/// normalized, so HuggingFace matches them verbatim in the raw text before
/// anything else; embeddings only agree with sentence-transformers if we do too.
const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

type PieceMap = HashMap<String, u32, BuildHasherDefault<PieceHasher>>;

pub struct WordPiece {
    /// Pieces that may begin a word.
    starts: PieceMap,
    /// `##` pieces, keyed without the prefix so a lookup needs no new string.
    continuations: PieceMap,
    tokens: Vec<String>,
    /// Longest key in bytes: the greedy search never tries a longer slice.
    longest: usize,
    specials: Vec<(&'static str, u32)>,
    cls: u32,
    sep: u32,
    unk: u32,
}

impl WordPiece {
    /// Reads a BERT `vocab.txt`: one token per line, the id is the line number.
    pub fn from_vocab_file(path: &Path) -> HostResult<WordPiece> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HostError::io(format!("reading {}", path.display()), e))?;
        Self::from_vocab(text.lines())
            .map_err(|e| HostError::validation(format!("{}: {}", path.display(), e.message)))
    }

    fn from_vocab<'a>(lines: impl Iterator<Item = &'a str>) -> HostResult<WordPiece> {
        let tokens: Vec<String> = lines.map(str::to_owned).collect();
        if u32::try_from(tokens.len()).is_err() {
            return Err(HostError::validation("vocabulary has too many tokens"));
        }
        let mut starts = PieceMap::default();
        let mut continuations = PieceMap::default();
        let mut longest = 0;
        for (id, token) in (0u32..).zip(&tokens) {
            let (map, key) = match token.strip_prefix(CONTINUATION) {
                Some(rest) => (&mut continuations, rest),
                None => (&mut starts, token.as_str()),
            };
            longest = longest.max(key.len());
            // A repeated token keeps its last id, as Python's dict-based loader does.
            map.insert(key.to_owned(), id);
        }
        let special = |name: &str| {
            starts
                .get(name)
                .copied()
                .ok_or_else(|| HostError::validation(format!("vocabulary has no {name} token")))
        };
        let (cls, sep, unk) = (special("[CLS]")?, special("[SEP]")?, special("[UNK]")?);
        let specials = SPECIAL_TOKENS
            .iter()
            .filter_map(|&name| starts.get(name).map(|&id| (name, id)))
            .collect();
        Ok(WordPiece {
            starts,
            continuations,
            tokens,
            longest,
            specials,
            cls,
            sep,
            unk,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The text of a token id; ids outside the vocabulary read as `[UNK]`.
    pub fn token(&self, id: u32) -> &str {
        self.tokens
            .get(id as usize)
            .unwrap_or(&self.tokens[self.unk as usize])
    }

    pub fn cls(&self) -> u32 {
        self.cls
    }

    pub fn sep(&self) -> u32 {
        self.sep
    }

    pub fn unk(&self) -> u32 {
        self.unk
    }

    /// `[CLS] pieces… [SEP]`, the pieces cut so that the whole is at most
    /// `max_len` ids (a `max_len` below 2 still gets both markers). Stops
    /// tokenizing once the budget is spent: long chunks are cut anyway.
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let limit = max_len.max(2) - 1;
        let mut ids = Vec::with_capacity(limit.min(text.len() / 2 + 2) + 1);
        ids.push(self.cls);
        let mut buf = String::new();
        let mut rest = text;
        while ids.len() < limit {
            let (plain, special) = self.split_special(rest);
            self.encode_plain(plain, &mut buf, &mut ids, limit);
            match special {
                Some((id, after)) if ids.len() < limit => {
                    ids.push(id);
                    rest = after;
                }
                _ => break,
            }
        }
        ids.truncate(limit);
        ids.push(self.sep);
        ids
    }

    /// The text before the first special token, and that token's id with the
    /// text after it.
    fn split_special<'t>(&self, text: &'t str) -> (&'t str, Option<(u32, &'t str)>) {
        let mut from = 0;
        while let Some(at) = text[from..].find('[').map(|i| from + i) {
            let tail = &text[at..];
            if let Some(&(name, id)) = self.specials.iter().find(|(n, _)| tail.starts_with(n)) {
                return (&text[..at], Some((id, &tail[name.len()..])));
            }
            from = at + 1;
        }
        (text, None)
    }

    fn encode_plain(&self, text: &str, buf: &mut String, ids: &mut Vec<u32>, limit: usize) {
        normalize(text, buf);
        for word in words(buf) {
            if ids.len() >= limit {
                break;
            }
            self.push_pieces(word, ids);
        }
    }

    /// Greedy longest-match-first; a word with any unmatched remainder becomes
    /// a single `[UNK]`, as in BERT.
    fn push_pieces(&self, word: &str, ids: &mut Vec<u32>) {
        if word.len() > MAX_WORD_CHARS && word.chars().count() > MAX_WORD_CHARS {
            ids.push(self.unk);
            return;
        }
        let first = ids.len();
        let mut start = 0;
        while start < word.len() {
            let map = if start == 0 {
                &self.starts
            } else {
                &self.continuations
            };
            match self.longest_match(map, &word[start..]) {
                Some((id, len)) => {
                    ids.push(id);
                    start += len;
                }
                None => {
                    ids.truncate(first);
                    ids.push(self.unk);
                    return;
                }
            }
        }
    }

    /// The id and byte length of the longest key of `map` that prefixes `rest`.
    fn longest_match(&self, map: &PieceMap, rest: &str) -> Option<(u32, usize)> {
        let mut end = floor_boundary(rest, rest.len().min(self.longest));
        while end > 0 {
            if let Some(&id) = map.get(&rest[..end]) {
                return Some((id, end));
            }
            end = floor_boundary(rest, end - 1);
        }
        None
    }
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// BertNormalizer with lowercase on and strip_accents unset (so following
/// lowercase): clean, space out CJK, NFD without nonspacing marks, lowercase.
fn normalize(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        // NFD, accents and CJK cannot occur; whitespace need not become ' '
        // because the pre-tokenizer splits on every kind alike.
        out.push_str(text);
        if text.bytes().any(is_dropped_ascii) {
            out.retain(|c| !is_dropped_ascii(c as u8));
        }
        out.make_ascii_lowercase();
        return;
    }
    let cleaned = text
        .chars()
        .filter(|&c| !is_dropped(c))
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .flat_map(space_out_cjk);
    // Accents go before lowercasing, in HuggingFace's order.
    for c in cleaned.nfd().filter(|&c| !in_table(NONSPACING_MARKS, c)) {
        out.extend(c.to_lowercase());
    }
}

/// Control characters other than tab and line breaks, and NUL.
fn is_dropped_ascii(b: u8) -> bool {
    (b < b' ' && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f
}

/// clean_text's filter: NUL, U+FFFD and the "other" categories except the
/// whitespace controls. Unassigned code points (Cn) are not in the table: they
/// would need a table of their own for text that cannot be meaningful anyway.
fn is_dropped(c: char) -> bool {
    if c.is_ascii() {
        is_dropped_ascii(c as u8)
    } else {
        c == '\u{FFFD}' || in_table(OTHER, c)
    }
}

fn space_out_cjk(c: char) -> impl Iterator<Item = char> {
    let spaced = [' ', c, ' '];
    let range = if is_cjk(c) { 0..3 } else { 1..2 };
    range.map(move |i| spaced[i])
}

/// The CJK Unified Ideograph blocks that BERT treats as one word each.
fn is_cjk(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// BertPreTokenizer: words separated by whitespace, every punctuation
/// character a word of its own.
fn words(text: &str) -> Words<'_> {
    Words { rest: text }
}

struct Words<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest.trim_start_matches(char::is_whitespace);
        let first = text.chars().next()?;
        let end = if is_punctuation(first) {
            first.len_utf8()
        } else {
            text.find(|c: char| c.is_whitespace() || is_punctuation(c))
                .unwrap_or(text.len())
        };
        let (word, rest) = text.split_at(end);
        self.rest = rest;
        Some(word)
    }
}

/// ASCII symbols such as `$+<=>^`|~` count too, though Unicode files them
/// under S, not P.
fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_punctuation()
    } else {
        in_table(PUNCTUATION, c)
    }
}

fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// A multiply-rotate hash for the vocabulary: its keys are fixed and short, so
/// SipHash's flood resistance buys nothing and costs a large share of the
/// tokenizer's time.
#[derive(Default)]
struct PieceHasher(u64);

impl PieceHasher {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for PieceHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.mix(u64::from(b));
    }

    fn finish(&self) -> u64 {
        // The table indexes by the low bits, which the multiply leaves poorly
        // mixed; fold the high half in.
        let h = self.0 ^ (self.0 >> 32);
        h.wrapping_mul(Self::K) ^ (h >> 29)
    }
}

// Unicode category tables (Unicode 14), ranges of code points above ASCII,
// sorted for binary search.

/// General category P* above ASCII.
#[rustfmt::skip]
const PUNCTUATION: &[(u32, u32)] = &[
    (0xA1, 0xA1), (0xA7, 0xA7), (0xAB, 0xAB), (0xB6, 0xB7), (0xBB, 0xBB), (0xBF, 0xBF),
    (0x37E, 0x37E), (0x387, 0x387), (0x55A, 0x55F), (0x589, 0x58A), (0x5BE, 0x5BE), (0x5C0, 0x5C0),
    (0x5C3, 0x5C3), (0x5C6, 0x5C6), (0x5F3, 0x5F4), (0x609, 0x60A), (0x60C, 0x60D), (0x61B, 0x61B),
    (0x61D, 0x61F), (0x66A, 0x66D), (0x6D4, 0x6D4), (0x700, 0x70D), (0x7F7, 0x7F9), (0x830, 0x83E),
    (0x85E, 0x85E), (0x964, 0x965), (0x970, 0x970), (0x9FD, 0x9FD), (0xA76, 0xA76), (0xAF0, 0xAF0),
    (0xC77, 0xC77), (0xC84, 0xC84), (0xDF4, 0xDF4), (0xE4F, 0xE4F), (0xE5A, 0xE5B), (0xF04, 0xF12),
    (0xF14, 0xF14), (0xF3A, 0xF3D), (0xF85, 0xF85), (0xFD0, 0xFD4), (0xFD9, 0xFDA),
    (0x104A, 0x104F), (0x10FB, 0x10FB), (0x1360, 0x1368), (0x1400, 0x1400), (0x166E, 0x166E),
    (0x169B, 0x169C), (0x16EB, 0x16ED), (0x1735, 0x1736), (0x17D4, 0x17D6), (0x17D8, 0x17DA),
    (0x1800, 0x180A), (0x1944, 0x1945), (0x1A1E, 0x1A1F), (0x1AA0, 0x1AA6), (0x1AA8, 0x1AAD),
    (0x1B5A, 0x1B60), (0x1B7D, 0x1B7E), (0x1BFC, 0x1BFF), (0x1C3B, 0x1C3F), (0x1C7E, 0x1C7F),
    (0x1CC0, 0x1CC7), (0x1CD3, 0x1CD3), (0x2010, 0x2027), (0x2030, 0x2043), (0x2045, 0x2051),
    (0x2053, 0x205E), (0x207D, 0x207E), (0x208D, 0x208E), (0x2308, 0x230B), (0x2329, 0x232A),
    (0x2768, 0x2775), (0x27C5, 0x27C6), (0x27E6, 0x27EF), (0x2983, 0x2998), (0x29D8, 0x29DB),
    (0x29FC, 0x29FD), (0x2CF9, 0x2CFC), (0x2CFE, 0x2CFF), (0x2D70, 0x2D70), (0x2E00, 0x2E2E),
    (0x2E30, 0x2E4F), (0x2E52, 0x2E5D), (0x3001, 0x3003), (0x3008, 0x3011), (0x3014, 0x301F),
    (0x3030, 0x3030), (0x303D, 0x303D), (0x30A0, 0x30A0), (0x30FB, 0x30FB), (0xA4FE, 0xA4FF),
    (0xA60D, 0xA60F), (0xA673, 0xA673), (0xA67E, 0xA67E), (0xA6F2, 0xA6F7), (0xA874, 0xA877),
    (0xA8CE, 0xA8CF), (0xA8F8, 0xA8FA), (0xA8FC, 0xA8FC), (0xA92E, 0xA92F), (0xA95F, 0xA95F),
    (0xA9C1, 0xA9CD), (0xA9DE, 0xA9DF), (0xAA5C, 0xAA5F), (0xAADE, 0xAADF), (0xAAF0, 0xAAF1),
    (0xABEB, 0xABEB), (0xFD3E, 0xFD3F), (0xFE10, 0xFE19), (0xFE30, 0xFE52), (0xFE54, 0xFE61),
    (0xFE63, 0xFE63), (0xFE68, 0xFE68), (0xFE6A, 0xFE6B), (0xFF01, 0xFF03), (0xFF05, 0xFF0A),
    (0xFF0C, 0xFF0F), (0xFF1A, 0xFF1B), (0xFF1F, 0xFF20), (0xFF3B, 0xFF3D), (0xFF3F, 0xFF3F),
    (0xFF5B, 0xFF5B), (0xFF5D, 0xFF5D), (0xFF5F, 0xFF65), (0x10100, 0x10102), (0x1039F, 0x1039F),
    (0x103D0, 0x103D0), (0x1056F, 0x1056F), (0x10857, 0x10857), (0x1091F, 0x1091F),
    (0x1093F, 0x1093F), (0x10A50, 0x10A58), (0x10A7F, 0x10A7F), (0x10AF0, 0x10AF6),
    (0x10B39, 0x10B3F), (0x10B99, 0x10B9C), (0x10EAD, 0x10EAD), (0x10F55, 0x10F59),
    (0x10F86, 0x10F89), (0x11047, 0x1104D), (0x110BB, 0x110BC), (0x110BE, 0x110C1),
    (0x11140, 0x11143), (0x11174, 0x11175), (0x111C5, 0x111C8), (0x111CD, 0x111CD),
    (0x111DB, 0x111DB), (0x111DD, 0x111DF), (0x11238, 0x1123D), (0x112A9, 0x112A9),
    (0x1144B, 0x1144F), (0x1145A, 0x1145B), (0x1145D, 0x1145D), (0x114C6, 0x114C6),
    (0x115C1, 0x115D7), (0x11641, 0x11643), (0x11660, 0x1166C), (0x116B9, 0x116B9),
    (0x1173C, 0x1173E), (0x1183B, 0x1183B), (0x11944, 0x11946), (0x119E2, 0x119E2),
    (0x11A3F, 0x11A46), (0x11A9A, 0x11A9C), (0x11A9E, 0x11AA2), (0x11C41, 0x11C45),
    (0x11C70, 0x11C71), (0x11EF7, 0x11EF8), (0x11FFF, 0x11FFF), (0x12470, 0x12474),
    (0x12FF1, 0x12FF2), (0x16A6E, 0x16A6F), (0x16AF5, 0x16AF5), (0x16B37, 0x16B3B),
    (0x16B44, 0x16B44), (0x16E97, 0x16E9A), (0x16FE2, 0x16FE2), (0x1BC9F, 0x1BC9F),
    (0x1DA87, 0x1DA8B), (0x1E95E, 0x1E95F),
];
/// General category Mn.
#[rustfmt::skip]
const NONSPACING_MARKS: &[(u32, u32)] = &[
    (0x300, 0x36F), (0x483, 0x487), (0x591, 0x5BD), (0x5BF, 0x5BF), (0x5C1, 0x5C2), (0x5C4, 0x5C5),
    (0x5C7, 0x5C7), (0x610, 0x61A), (0x64B, 0x65F), (0x670, 0x670), (0x6D6, 0x6DC), (0x6DF, 0x6E4),
    (0x6E7, 0x6E8), (0x6EA, 0x6ED), (0x711, 0x711), (0x730, 0x74A), (0x7A6, 0x7B0), (0x7EB, 0x7F3),
    (0x7FD, 0x7FD), (0x816, 0x819), (0x81B, 0x823), (0x825, 0x827), (0x829, 0x82D), (0x859, 0x85B),
    (0x898, 0x89F), (0x8CA, 0x8E1), (0x8E3, 0x902), (0x93A, 0x93A), (0x93C, 0x93C), (0x941, 0x948),
    (0x94D, 0x94D), (0x951, 0x957), (0x962, 0x963), (0x981, 0x981), (0x9BC, 0x9BC), (0x9C1, 0x9C4),
    (0x9CD, 0x9CD), (0x9E2, 0x9E3), (0x9FE, 0x9FE), (0xA01, 0xA02), (0xA3C, 0xA3C), (0xA41, 0xA42),
    (0xA47, 0xA48), (0xA4B, 0xA4D), (0xA51, 0xA51), (0xA70, 0xA71), (0xA75, 0xA75), (0xA81, 0xA82),
    (0xABC, 0xABC), (0xAC1, 0xAC5), (0xAC7, 0xAC8), (0xACD, 0xACD), (0xAE2, 0xAE3), (0xAFA, 0xAFF),
    (0xB01, 0xB01), (0xB3C, 0xB3C), (0xB3F, 0xB3F), (0xB41, 0xB44), (0xB4D, 0xB4D), (0xB55, 0xB56),
    (0xB62, 0xB63), (0xB82, 0xB82), (0xBC0, 0xBC0), (0xBCD, 0xBCD), (0xC00, 0xC00), (0xC04, 0xC04),
    (0xC3C, 0xC3C), (0xC3E, 0xC40), (0xC46, 0xC48), (0xC4A, 0xC4D), (0xC55, 0xC56), (0xC62, 0xC63),
    (0xC81, 0xC81), (0xCBC, 0xCBC), (0xCBF, 0xCBF), (0xCC6, 0xCC6), (0xCCC, 0xCCD), (0xCE2, 0xCE3),
    (0xD00, 0xD01), (0xD3B, 0xD3C), (0xD41, 0xD44), (0xD4D, 0xD4D), (0xD62, 0xD63), (0xD81, 0xD81),
    (0xDCA, 0xDCA), (0xDD2, 0xDD4), (0xDD6, 0xDD6), (0xE31, 0xE31), (0xE34, 0xE3A), (0xE47, 0xE4E),
    (0xEB1, 0xEB1), (0xEB4, 0xEBC), (0xEC8, 0xECD), (0xF18, 0xF19), (0xF35, 0xF35), (0xF37, 0xF37),
    (0xF39, 0xF39), (0xF71, 0xF7E), (0xF80, 0xF84), (0xF86, 0xF87), (0xF8D, 0xF97), (0xF99, 0xFBC),
    (0xFC6, 0xFC6), (0x102D, 0x1030), (0x1032, 0x1037), (0x1039, 0x103A), (0x103D, 0x103E),
    (0x1058, 0x1059), (0x105E, 0x1060), (0x1071, 0x1074), (0x1082, 0x1082), (0x1085, 0x1086),
    (0x108D, 0x108D), (0x109D, 0x109D), (0x135D, 0x135F), (0x1712, 0x1714), (0x1732, 0x1733),
    (0x1752, 0x1753), (0x1772, 0x1773), (0x17B4, 0x17B5), (0x17B7, 0x17BD), (0x17C6, 0x17C6),
    (0x17C9, 0x17D3), (0x17DD, 0x17DD), (0x180B, 0x180D), (0x180F, 0x180F), (0x1885, 0x1886),
    (0x18A9, 0x18A9), (0x1920, 0x1922), (0x1927, 0x1928), (0x1932, 0x1932), (0x1939, 0x193B),
    (0x1A17, 0x1A18), (0x1A1B, 0x1A1B), (0x1A56, 0x1A56), (0x1A58, 0x1A5E), (0x1A60, 0x1A60),
    (0x1A62, 0x1A62), (0x1A65, 0x1A6C), (0x1A73, 0x1A7C), (0x1A7F, 0x1A7F), (0x1AB0, 0x1ABD),
    (0x1ABF, 0x1ACE), (0x1B00, 0x1B03), (0x1B34, 0x1B34), (0x1B36, 0x1B3A), (0x1B3C, 0x1B3C),
    (0x1B42, 0x1B42), (0x1B6B, 0x1B73), (0x1B80, 0x1B81), (0x1BA2, 0x1BA5), (0x1BA8, 0x1BA9),
    (0x1BAB, 0x1BAD), (0x1BE6, 0x1BE6), (0x1BE8, 0x1BE9), (0x1BED, 0x1BED), (0x1BEF, 0x1BF1),
    (0x1C2C, 0x1C33), (0x1C36, 0x1C37), (0x1CD0, 0x1CD2), (0x1CD4, 0x1CE0), (0x1CE2, 0x1CE8),
    (0x1CED, 0x1CED), (0x1CF4, 0x1CF4), (0x1CF8, 0x1CF9), (0x1DC0, 0x1DFF), (0x20D0, 0x20DC),
    (0x20E1, 0x20E1), (0x20E5, 0x20F0), (0x2CEF, 0x2CF1), (0x2D7F, 0x2D7F), (0x2DE0, 0x2DFF),
    (0x302A, 0x302D), (0x3099, 0x309A), (0xA66F, 0xA66F), (0xA674, 0xA67D), (0xA69E, 0xA69F),
    (0xA6F0, 0xA6F1), (0xA802, 0xA802), (0xA806, 0xA806), (0xA80B, 0xA80B), (0xA825, 0xA826),
    (0xA82C, 0xA82C), (0xA8C4, 0xA8C5), (0xA8E0, 0xA8F1), (0xA8FF, 0xA8FF), (0xA926, 0xA92D),
    (0xA947, 0xA951), (0xA980, 0xA982), (0xA9B3, 0xA9B3), (0xA9B6, 0xA9B9), (0xA9BC, 0xA9BD),
    (0xA9E5, 0xA9E5), (0xAA29, 0xAA2E), (0xAA31, 0xAA32), (0xAA35, 0xAA36), (0xAA43, 0xAA43),
    (0xAA4C, 0xAA4C), (0xAA7C, 0xAA7C), (0xAAB0, 0xAAB0), (0xAAB2, 0xAAB4), (0xAAB7, 0xAAB8),
    (0xAABE, 0xAABF), (0xAAC1, 0xAAC1), (0xAAEC, 0xAAED), (0xAAF6, 0xAAF6), (0xABE5, 0xABE5),
    (0xABE8, 0xABE8), (0xABED, 0xABED), (0xFB1E, 0xFB1E), (0xFE00, 0xFE0F), (0xFE20, 0xFE2F),
    (0x101FD, 0x101FD), (0x102E0, 0x102E0), (0x10376, 0x1037A), (0x10A01, 0x10A03),
    (0x10A05, 0x10A06), (0x10A0C, 0x10A0F), (0x10A38, 0x10A3A), (0x10A3F, 0x10A3F),
    (0x10AE5, 0x10AE6), (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50),
    (0x10F82, 0x10F85), (0x11001, 0x11001), (0x11038, 0x11046), (0x11070, 0x11070),
    (0x11073, 0x11074), (0x1107F, 0x11081), (0x110B3, 0x110B6), (0x110B9, 0x110BA),
    (0x110C2, 0x110C2), (0x11100, 0x11102), (0x11127, 0x1112B), (0x1112D, 0x11134),
    (0x11173, 0x11173), (0x11180, 0x11181), (0x111B6, 0x111BE), (0x111C9, 0x111CC),
    (0x111CF, 0x111CF), (0x1122F, 0x11231), (0x11234, 0x11234), (0x11236, 0x11237),
    (0x1123E, 0x1123E), (0x112DF, 0x112DF), (0x112E3, 0x112EA), (0x11300, 0x11301),
    (0x1133B, 0x1133C), (0x11340, 0x11340), (0x11366, 0x1136C), (0x11370, 0x11374),
    (0x11438, 0x1143F), (0x11442, 0x11444), (0x11446, 0x11446), (0x1145E, 0x1145E),
    (0x114B3, 0x114B8), (0x114BA, 0x114BA), (0x114BF, 0x114C0), (0x114C2, 0x114C3),
    (0x115B2, 0x115B5), (0x115BC, 0x115BD), (0x115BF, 0x115C0), (0x115DC, 0x115DD),
    (0x11633, 0x1163A), (0x1163D, 0x1163D), (0x1163F, 0x11640), (0x116AB, 0x116AB),
    (0x116AD, 0x116AD), (0x116B0, 0x116B5), (0x116B7, 0x116B7), (0x1171D, 0x1171F),
    (0x11722, 0x11725), (0x11727, 0x1172B), (0x1182F, 0x11837), (0x11839, 0x1183A),
    (0x1193B, 0x1193C), (0x1193E, 0x1193E), (0x11943, 0x11943), (0x119D4, 0x119D7),
    (0x119DA, 0x119DB), (0x119E0, 0x119E0), (0x11A01, 0x11A0A), (0x11A33, 0x11A38),
    (0x11A3B, 0x11A3E), (0x11A47, 0x11A47), (0x11A51, 0x11A56), (0x11A59, 0x11A5B),
    (0x11A8A, 0x11A96), (0x11A98, 0x11A99), (0x11C30, 0x11C36), (0x11C38, 0x11C3D),
    (0x11C3F, 0x11C3F), (0x11C92, 0x11CA7), (0x11CAA, 0x11CB0), (0x11CB2, 0x11CB3),
    (0x11CB5, 0x11CB6), (0x11D31, 0x11D36), (0x11D3A, 0x11D3A), (0x11D3C, 0x11D3D),
    (0x11D3F, 0x11D45), (0x11D47, 0x11D47), (0x11D90, 0x11D91), (0x11D95, 0x11D95),
    (0x11D97, 0x11D97), (0x11EF3, 0x11EF4), (0x16AF0, 0x16AF4), (0x16B30, 0x16B36),
    (0x16F4F, 0x16F4F), (0x16F8F, 0x16F92), (0x16FE4, 0x16FE4), (0x1BC9D, 0x1BC9E),
    (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1D167, 0x1D169), (0x1D17B, 0x1D182),
    (0x1D185, 0x1D18B), (0x1D1AA, 0x1D1AD), (0x1D242, 0x1D244), (0x1DA00, 0x1DA36),
    (0x1DA3B, 0x1DA6C), (0x1DA75, 0x1DA75), (0x1DA84, 0x1DA84), (0x1DA9B, 0x1DA9F),
    (0x1DAA1, 0x1DAAF), (0x1E000, 0x1E006), (0x1E008, 0x1E018), (0x1E01B, 0x1E021),
    (0x1E023, 0x1E024), (0x1E026, 0x1E02A), (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE),
    (0x1E2EC, 0x1E2EF), (0x1E8D0, 0x1E8D6), (0x1E944, 0x1E94A), (0xE0100, 0xE01EF),
];
/// General categories Cc, Cf and Co above ASCII.
#[rustfmt::skip]
const OTHER: &[(u32, u32)] = &[
    (0x80, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD), (0x70F, 0x70F),
    (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xE000, 0xF8FF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F), (0xF0000, 0xFFFFD),
    (0x100000, 0x10FFFD),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn model_vocab() -> WordPiece {
        let dir = crate::paths::data_dir().join("models/all-MiniLM-L6-v2");
        let path = dir.join("vocab.txt");
        assert!(
            path.exists(),
            "{} is missing: run `elysiactl install model` first",
            path.display()
        );
        WordPiece::from_vocab_file(&path).expect("vocab.txt loads")
    }

    fn pieces(wp: &WordPiece, text: &str) -> Vec<String> {
        let ids = wp.encode(text, 512);
        ids.iter().map(|&id| wp.token(id).to_owned()).collect()
    }

    #[test]
    fn splits_punctuation_and_lowercases() {
        let wp = model_vocab();
        assert_eq!(
            wp.encode("Hello, World!", 512),
            [101, 7592, 1010, 2088, 999, 102]
        );
        assert_eq!((wp.cls(), wp.sep(), wp.unk()), (101, 102, 100));
        assert_eq!(wp.vocab_size(), 30522);
    }

    #[test]
    fn continuation_pieces() {
        let wp = model_vocab();
        assert_eq!(wp.encode("unaffable", 512), [101, 14477, 20961, 3468, 102]);
        assert_eq!(pieces(&wp, "unaffable")[1..4], ["una", "##ffa", "##ble"]);
    }

    #[test]
    fn strips_accents_but_keeps_spacing_marks() {
        let wp = model_vocab();
        assert_eq!(wp.encode("Café Crème", 512), [101, 7668, 13675, 21382, 102]);
        assert_eq!(wp.encode("İstanbul", 512), [101, 9960, 102]);
        // U+093E is a spacing mark (Mc), which BERT keeps.
        assert_eq!(pieces(&wp, "कागज़")[1..5], ["क", "##ा", "##ग", "##ज"]);
    }

    #[test]
    fn cjk_ideographs_are_words() {
        let wp = model_vocab();
        assert_eq!(wp.encode("你好世界", 512), [101, 100, 100, 1745, 100, 102]);
    }

    #[test]
    fn cleans_control_characters() {
        let wp = model_vocab();
        assert_eq!(wp.encode("hel\u{0}lo\u{200B}", 512), [101, 7592, 102]);
        assert_eq!(
            pieces(&wp, "tab\tnew\nline\u{B}vt"),
            ["[CLS]", "tab", "new", "line", "##v", "##t", "[SEP]"]
        );
        assert_eq!(wp.encode("hello\u{A0}world", 512), [101, 7592, 2088, 102]);
    }

    #[test]
    fn code_and_symbols() {
        let wp = model_vocab();
        assert_eq!(
            pieces(&wp, "fn parse_config(path: &Path) -> x;")[1..],
            [
                "f", "##n", "par", "##se", "_", "con", "##fi", "##g", "(", "path", ":", "&",
                "path", ")", "-", ">", "x", ";", "[SEP]"
            ]
        );
        assert_eq!(
            pieces(&wp, "¿Qué tal? «bien» — 100€")[1..11],
            ["¿", "que", "tal", "?", "«", "bien", "»", "—", "100", "##€"]
        );
    }

    #[test]
    fn unknown_and_overlong_words() {
        let wp = model_vocab();
        assert_eq!(wp.encode("ℌ𝔢𝔩𝔩𝔬 ﬁne", 512), [101, 100, 1984, 2638, 102]);
        let long = "a".repeat(MAX_WORD_CHARS + 1);
        assert_eq!(
            wp.encode(&format!("hello {long} world"), 512),
            [101, 7592, 100, 2088, 102]
        );
    }

    #[test]
    fn special_tokens_in_text_are_kept_verbatim() {
        let wp = model_vocab();
        assert_eq!(
            pieces(&wp, "a[SEP]b [sep]"),
            ["[CLS]", "a", "[SEP]", "b", "[", "sep", "]", "[SEP]"]
        );
    }

    #[test]
    fn truncation_keeps_sep_last() {
        let wp = model_vocab();
        assert_eq!(
            wp.encode("hello world hello world", 4),
            [101, 7592, 2088, 102]
        );
        // The cut may fall inside a word.
        assert_eq!(wp.encode("unaffable", 4), [101, 14477, 20961, 102]);
        assert_eq!(wp.encode("a [SEP] b", 3), [101, 1037, 102]);
        assert_eq!(wp.encode("hello", 0), [101, 102]);
        assert_eq!(wp.encode("", 512), [101, 102]);
        let long = "word ".repeat(1000);
        let ids = wp.encode(&long, 256);
        assert_eq!(ids.len(), 256);
        assert_eq!(ids[255], 102);
    }

    #[test]
    fn small_vocabulary_from_lines() {
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "aff",
        ];
        let wp = WordPiece::from_vocab(vocab.into_iter()).unwrap();
        assert_eq!(
            wp.encode("unaffable affable xyz", 16),
            [2, 4, 5, 6, 7, 6, 1, 3]
        );
        assert_eq!(wp.token(5), "##aff");
        assert_eq!(wp.token(99), "[UNK]");
        assert!(WordPiece::from_vocab(["a", "b"].into_iter()).is_err());
    }
}
