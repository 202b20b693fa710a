//! BERT's uncased WordPiece tokenizer, as all-MiniLM-L6-v2 was trained with:
//! HuggingFace's `BertNormalizer` (clean text, space out CJK ideographs, strip
//! accents, lowercase), `BertPreTokenizer` (whitespace and punctuation) and
//! the `WordPiece` model (greedy longest match, `##` continuations). The
//! character classes come from the crate HuggingFace's tokenizer reads them
//! from, so every code point tokenizes alike (`bench/embedders` checks all of
//! them against the `tokenizers` crate, which is about 15 times slower:
//! docs/benchmarks/embedders.md).
//!
//! Code chunks are mostly ASCII, so that path skips the Unicode machinery, and
//! nothing allocates per character or per piece: one normalization buffer per
//! call, lookups by `&str` slices into it.

use crate::base::error::{HostError, HostResult};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use unicode_categories::UnicodeCategories;
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
    for c in cleaned.nfd().filter(|&c| !c.is_mark_nonspacing()) {
        out.extend(c.to_lowercase());
    }
}

/// Control characters other than tab and line breaks, and NUL.
fn is_dropped_ascii(b: u8) -> bool {
    (b < b' ' && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f
}

/// clean_text's filter: NUL, U+FFFD and the "other" categories (Cc, Cf, Co)
/// except the whitespace controls.
fn is_dropped(c: char) -> bool {
    if c.is_ascii() {
        is_dropped_ascii(c as u8)
    } else {
        c == '\u{FFFD}' || c.is_other()
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
        c.is_punctuation()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The installed model's vocabulary; None (the test skips) where it is
    /// not installed.
    fn model_vocab() -> Option<WordPiece> {
        let dir = crate::embed::testing::installed_model(&["vocab.txt"])?;
        Some(WordPiece::from_vocab_file(&dir.join("vocab.txt")).expect("vocab.txt loads"))
    }

    fn pieces(wp: &WordPiece, text: &str) -> Vec<String> {
        let ids = wp.encode(text, 512);
        ids.iter().map(|&id| wp.token(id).to_owned()).collect()
    }

    #[test]
    fn splits_punctuation_and_lowercases() {
        let Some(wp) = model_vocab() else { return };
        assert_eq!(
            wp.encode("Hello, World!", 512),
            [101, 7592, 1010, 2088, 999, 102]
        );
        assert_eq!((wp.cls(), wp.sep(), wp.unk()), (101, 102, 100));
        assert_eq!(wp.vocab_size(), 30522);
    }

    #[test]
    fn continuation_pieces() {
        let Some(wp) = model_vocab() else { return };
        assert_eq!(wp.encode("unaffable", 512), [101, 14477, 20961, 3468, 102]);
        assert_eq!(pieces(&wp, "unaffable")[1..4], ["una", "##ffa", "##ble"]);
    }

    #[test]
    fn strips_accents_but_keeps_spacing_marks() {
        let Some(wp) = model_vocab() else { return };
        assert_eq!(wp.encode("Café Crème", 512), [101, 7668, 13675, 21382, 102]);
        assert_eq!(wp.encode("İstanbul", 512), [101, 9960, 102]);
        // U+093E is a spacing mark (Mc), which BERT keeps.
        assert_eq!(pieces(&wp, "कागज़")[1..5], ["क", "##ा", "##ग", "##ज"]);
    }

    #[test]
    fn cjk_ideographs_are_words() {
        let Some(wp) = model_vocab() else { return };
        assert_eq!(wp.encode("你好世界", 512), [101, 100, 100, 1745, 100, 102]);
    }

    #[test]
    fn cleans_control_characters() {
        let Some(wp) = model_vocab() else { return };
        assert_eq!(wp.encode("hel\u{0}lo\u{200B}", 512), [101, 7592, 102]);
        assert_eq!(
            pieces(&wp, "tab\tnew\nline\u{B}vt"),
            ["[CLS]", "tab", "new", "line", "##v", "##t", "[SEP]"]
        );
        assert_eq!(wp.encode("hello\u{A0}world", 512), [101, 7592, 2088, 102]);
    }

    #[test]
    fn code_and_symbols() {
        let Some(wp) = model_vocab() else { return };
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
        let Some(wp) = model_vocab() else { return };
        assert_eq!(wp.encode("ℌ𝔢𝔩𝔩𝔬 ﬁne", 512), [101, 100, 1984, 2638, 102]);
        let long = "a".repeat(MAX_WORD_CHARS + 1);
        assert_eq!(
            wp.encode(&format!("hello {long} world"), 512),
            [101, 7592, 100, 2088, 102]
        );
    }

    #[test]
    fn special_tokens_in_text_are_kept_verbatim() {
        let Some(wp) = model_vocab() else { return };
        assert_eq!(
            pieces(&wp, "a[SEP]b [sep]"),
            ["[CLS]", "a", "[SEP]", "b", "[", "sep", "]", "[SEP]"]
        );
    }

    #[test]
    fn truncation_keeps_sep_last() {
        let Some(wp) = model_vocab() else { return };
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

    /// The reference is HuggingFace's tokenizer, which sentence-transformers
    /// runs: its character classes are Unicode 9's, so characters added since
    /// are neither punctuation, nor marks to strip, nor controls to drop.
    #[test]
    fn character_classes_are_the_reference_tokenizers() {
        let vocab = [
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "x",
            "##y",
            "y",
            "\u{61D}",
            "##\u{1AC1}y",
            "##\u{890}y",
        ];
        let wp = WordPiece::from_vocab(vocab.into_iter()).unwrap();
        // U+061D, Po since Unicode 14: part of the word, which is unknown.
        assert_eq!(wp.encode("x\u{61D}y", 16), [2, 1, 3]);
        // U+1AC1, Mn since Unicode 14: not stripped as an accent.
        assert_eq!(wp.encode("x\u{1AC1}y", 16), [2, 4, 8, 3]);
        // U+0890, Cf since Unicode 14: not dropped as a control.
        assert_eq!(wp.encode("x\u{890}y", 16), [2, 4, 9, 3]);
        // What Unicode 9 already had stays as it was.
        assert_eq!(wp.encode("x\u{61B}y", 16), [2, 4, 1, 6, 3]);
        assert_eq!(wp.encode("x\u{301}y", 16), [2, 4, 5, 3]);
        assert_eq!(wp.encode("x\u{AD}y\u{E001}", 16), [2, 4, 5, 3]);
    }
}
