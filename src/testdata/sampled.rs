//! The `sampled` pattern: the shape and value distributions of an existing
//! collection (a *profile*), with every text value anonymized, so that data
//! like production's can be shared without production's values.
//!
//! A profile is built once from a bounded sample of the source and is all
//! the generator needs afterwards: object i of a sampled dataset depends only
//! on the profile, the seed and i, as for the other patterns. The profile is
//! persisted in the dataset's record (the collection's description), so it
//! holds only anonymized text: every word and number inside a text value is
//! replaced by a pseudo-word of the same length made from a keyed hash. The
//! key is derived from the sample itself, so the mapping is the same every
//! time the same source is sampled, yet nobody without the source can hash a
//! guessed name and look for it. A pseudo-word is never equal to any token of
//! the sample (in any property), and never contains a token of a sensitive
//! property, so a sensitive value that is also a common word does not come
//! through either. Numbers and dates of sensitive properties keep only their
//! range.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How many objects of the source are read by default.
pub const DEFAULT_SAMPLE: usize = 10_000;
pub const MAX_SAMPLE: usize = 100_000;
/// Quantiles kept of a distribution: every 5%.
const QUANTILES: usize = 21;
/// Text with at most this many distinct values (each seen twice on average) is categorical.
const MAX_CATEGORIES: usize = 32;
const MAX_WORDS: usize = 256;
/// Numbers kept per digit count, so every digit slot of a shape can be filled.
const NUMBERS_PER_LENGTH: usize = 8;
const MAX_SHAPES: usize = 32;
const MAX_SHAPE_CHARS: usize = 64;
/// Text of more tokens than this (as a median) is prose, not a form.
const MAX_SHAPE_TOKENS: u64 = 6;
const MAX_SEPARATORS: usize = 16;
/// Sensitive tokens shorter than this are kept out as whole tokens only:
/// one or two letters occur inside any word.
const MIN_INNER: usize = 3;
/// A decimal number is kept to at most this many places.
const MAX_DECIMALS: u32 = 6;

/// Property-name parts that make a property sensitive without being named.
const SENSITIVE_WORDS: &[&str] = &[
    "email", "mail", "name", "phone", "mobile", "address", "street", "user", "login", "ip", "ssn",
    "password", "birth", "birthday", "dob",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub source: String,
    /// How many objects the profile was built from.
    pub sampled: u64,
    pub properties: Vec<Property>,
    /// Source properties of types that are not generated (name: type).
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Property {
    pub name: String,
    /// Weaviate's data type, e.g. "text" or "int[]".
    pub data_type: String,
    pub sensitive: bool,
    /// Share of objects that have a value.
    pub present: f64,
    /// Quantiles of a list's length, for list types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lengths: Option<Vec<u64>>,
    pub values: Values,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Values {
    Number {
        quantiles: Vec<f64>,
        decimals: u32,
    },
    Int {
        quantiles: Vec<i64>,
    },
    /// Seconds since the epoch.
    Date {
        quantiles: Vec<i64>,
    },
    Bool {
        true_share: f64,
    },
    Uuid,
    /// Few distinct values: each (anonymized) with how often it was seen.
    Categories {
        values: Vec<(String, u64)>,
    },
    Text(Text),
}

/// Free text. Short values of few forms (names, emails, codes) are made
/// from their `shapes` ("a.a@a.a": `a` a word, `9`s a number of that many
/// digits, anything else itself); longer text from `tokens` words chosen by
/// frequency, joined by the separators seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub shapes: Vec<(String, u64)>,
    /// Quantiles of the number of tokens per value.
    pub tokens: Vec<u64>,
    pub separators: Vec<(String, u64)>,
    pub endings: Vec<(String, u64)>,
    pub words: Vec<(String, u64)>,
    pub numbers: Vec<(String, u64)>,
}

/// Whether a property name suggests personal data: one of its parts (split
/// at `_`, `-` and lower-to-upper case changes) is, starts or ends with a
/// word of `SENSITIVE_WORDS` (`ip` must be a whole part: it hides in
/// "description").
pub fn sensitive_by_name(name: &str) -> bool {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if (c == '_' || c == '-' || (c.is_uppercase() && prev_lower)) && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        if c != '_' && c != '-' {
            cur.extend(c.to_lowercase());
        }
    }
    parts.push(cur);
    parts.iter().any(|p| {
        SENSITIVE_WORDS
            .iter()
            .any(|w| p == w || (w.len() >= 4 && (p.starts_with(w) || p.ends_with(w))))
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    Letters,
    Digits,
    Other,
}

fn class_of(c: char) -> Class {
    if c.is_ascii_digit() {
        Class::Digits
    } else if c.is_alphanumeric() {
        Class::Letters
    } else {
        Class::Other
    }
}

/// A text cut into maximal runs of letters, of digits and of anything else
/// (separators), in order.
fn pieces(s: &str) -> Vec<(Class, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut cur: Option<Class> = None;
    for (i, c) in s.char_indices() {
        let k = class_of(c);
        if cur != Some(k) {
            if let Some(prev) = cur {
                out.push((prev, &s[start..i]));
            }
            start = i;
            cur = Some(k);
        }
    }
    if let Some(prev) = cur {
        out.push((prev, &s[start..]));
    }
    out
}

fn shape_of(s: &str) -> String {
    pieces(s)
        .into_iter()
        .map(|(k, p)| match k {
            Class::Letters => "a".to_string(),
            Class::Digits => "9".repeat(p.len()),
            Class::Other => p.to_string(),
        })
        .collect()
}

/// Replaces tokens by pseudo-words: the same token, the same pseudo-word
/// (case aside), different tokens, different pseudo-words.
pub struct Anonymizer {
    key: [u8; 32],
    /// Every token of the sample, lower-cased: no pseudo-word may be one.
    originals: HashSet<String>,
    /// Tokens of sensitive properties, lower-cased, MIN_INNER chars or more:
    /// no pseudo-word may contain one.
    inner: HashSet<String>,
    longest_inner: usize,
    assigned: HashMap<(bool, String), String>,
    taken: HashSet<String>,
}

const CONSONANTS: &[u8] = b"bcdfghjklmnprstvz";
const VOWELS: &[u8] = b"aeiou";

impl Anonymizer {
    /// `texts` yields every text value of the sample with whether its
    /// property is sensitive; `key_material` is what the key is derived from.
    pub fn new<'a>(key_material: &[u8], texts: impl Iterator<Item = (&'a str, bool)>) -> Self {
        let key = blake3::derive_key("elysiactl test-data sampled anonymization v1", key_material);
        let mut originals = HashSet::new();
        let mut inner = HashSet::new();
        for (t, sensitive) in texts {
            for (k, p) in pieces(t) {
                if k == Class::Other {
                    continue;
                }
                let low = p.to_lowercase();
                if sensitive && low.chars().count() >= MIN_INNER {
                    inner.insert(low.clone());
                }
                originals.insert(low);
            }
        }
        let longest_inner = inner.iter().map(|s| s.len()).max().unwrap_or(0);
        Anonymizer {
            key,
            originals,
            inner,
            longest_inner,
            assigned: HashMap::new(),
            taken: HashSet::new(),
        }
    }

    fn contains_inner(&self, candidate: &str) -> bool {
        let b = candidate.as_bytes();
        (0..b.len()).any(|i| {
            (MIN_INNER..=self.longest_inner.min(b.len() - i))
                .any(|n| std::str::from_utf8(&b[i..i + n]).is_ok_and(|s| self.inner.contains(s)))
        })
    }

    fn candidate(&self, low: &str, digits: bool, attempt: u32) -> String {
        let n = low.chars().count().max(1) + (attempt / 8) as usize;
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(&[digits as u8]);
        h.update(&attempt.to_le_bytes());
        h.update(low.as_bytes());
        let mut bytes = vec![0u8; n];
        h.finalize_xof().fill(&mut bytes);
        // Dense short numbers can all be taken: after 64 tries a number
        // becomes a word, which keeps the promise at the cost of its shape.
        if digits && attempt < 64 {
            return bytes.iter().map(|b| char::from(b'0' + b % 10)).collect();
        }
        let vowel_first = bytes[0] & 1 == 1;
        bytes
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let set = if (i % 2 == 0) == vowel_first {
                    VOWELS
                } else {
                    CONSONANTS
                };
                char::from(set[*b as usize % set.len()])
            })
            .collect()
    }

    /// The pseudo-word of one token, in the token's case (lower, Capitalized
    /// or UPPER).
    pub fn token(&mut self, token: &str) -> Result<String, String> {
        let low = token.to_lowercase();
        let digits = token.chars().all(|c| c.is_ascii_digit());
        let key = (digits, low.clone());
        let pseudo = match self.assigned.get(&key) {
            Some(p) => p.clone(),
            None => {
                let mut found = None;
                for attempt in 0..4096 {
                    let c = self.candidate(&low, digits, attempt);
                    if !self.originals.contains(&c)
                        && !self.taken.contains(&c)
                        && !self.contains_inner(&c)
                    {
                        found = Some(c);
                        break;
                    }
                }
                let p = found.ok_or_else(|| {
                    format!("no pseudonym found for a token of {} characters", low.len())
                })?;
                self.taken.insert(p.clone());
                self.assigned.insert(key, p.clone());
                p
            }
        };
        let mut chars = token.chars();
        let upper = token.chars().count() > 1 && token.chars().all(|c| !c.is_lowercase());
        let capital = chars.next().is_some_and(char::is_uppercase);
        Ok(if digits {
            pseudo
        } else if upper {
            pseudo.to_uppercase()
        } else if capital {
            pseudo[..1].to_uppercase() + &pseudo[1..]
        } else {
            pseudo
        })
    }

    /// A text with every token replaced and the separators kept.
    pub fn text(&mut self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        for (k, p) in pieces(text) {
            if k == Class::Other {
                out.push_str(p);
            } else {
                out.push_str(&self.token(p)?);
            }
        }
        Ok(out)
    }
}

/// Nearest-rank quantiles of sorted values: every one is a value seen.
fn quantiles<T: Copy>(sorted: &[T]) -> Vec<T> {
    if sorted.is_empty() {
        return Vec::new();
    }
    (0..QUANTILES)
        .map(|k| sorted[(k * (sorted.len() - 1) + (QUANTILES - 1) / 2) / (QUANTILES - 1)])
        .collect()
}

/// A sensitive property's distribution is cut to its range.
fn range_only<T: Copy>(q: Vec<T>, sensitive: bool) -> Vec<T> {
    match (sensitive, q.first(), q.last()) {
        (true, Some(a), Some(b)) => vec![*a, *b],
        _ => q,
    }
}

fn decimals_of(x: f64) -> u32 {
    let s = format!("{x}");
    if s.contains('e') {
        return MAX_DECIMALS;
    }
    s.split_once('.')
        .map_or(0, |(_, d)| (d.len() as u32).min(MAX_DECIMALS))
}

fn round_to(x: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (x * f).round() / f
}

/// A share kept to four places, so it reads back from JSON exactly.
fn share(n: usize, of: usize) -> f64 {
    round_to(n as f64 / of.max(1) as f64, 4)
}

/// Counts, most frequent first (ties by value), at most `max`.
fn top<K: Ord + Clone>(counts: BTreeMap<K, u64>, max: usize) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(max);
    v
}

/// The profile of `source` from its class definition and a sample of its
/// objects (`{properties: {...}}` each, in a stable order). Every property
/// named in `sensitive` must exist; properties whose names suggest personal
/// data are sensitive too.
pub fn build(
    source: &str,
    class: &Value,
    objects: &[Value],
    sensitive: &[String],
) -> Result<Profile, String> {
    let defs: Vec<(String, String)> = class["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_string(),
                p["dataType"][0].as_str()?.to_string(),
            ))
        })
        .collect();
    for s in sensitive {
        if !defs.iter().any(|(n, _)| n == s) {
            let names: Vec<&str> = defs.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "--sensitive names {s:?}, which {source} does not have (it has: {})",
                names.join(", ")
            ));
        }
    }
    let is_sensitive = |n: &str| sensitive.iter().any(|s| s == n) || sensitive_by_name(n);
    let values_of = |name: &str| -> Vec<&Value> {
        objects
            .iter()
            .map(|o| &o["properties"][name])
            .filter(|v| !v.is_null())
            .collect()
    };
    // Sorted, so the key (like the rest of the profile) depends on what the
    // sample holds, not on the order or IDs it came with.
    let mut lines: Vec<String> = objects
        .iter()
        .map(|o| o["properties"].to_string())
        .collect();
    lines.sort_unstable();
    let key_material = lines.join("\n").into_bytes();
    let texts: Vec<(&str, bool)> = defs
        .iter()
        .filter(|(_, t)| base_type(t) == Some("text"))
        .flat_map(|(n, _)| {
            let s = is_sensitive(n);
            values_of(n)
                .into_iter()
                .flat_map(flatten)
                .filter_map(Value::as_str)
                .map(move |t| (t, s))
        })
        .collect();
    let mut anon = Anonymizer::new(&key_material, texts.into_iter());
    let mut properties = Vec::new();
    let mut skipped = Vec::new();
    for (name, data_type) in &defs {
        let Some(base) = base_type(data_type) else {
            skipped.push(format!("{name}: {data_type}"));
            continue;
        };
        let list = data_type.ends_with("[]");
        let sensitive = is_sensitive(name);
        let present = values_of(name);
        let lengths = list.then(|| {
            let mut l: Vec<u64> = present
                .iter()
                .map(|v| v.as_array().map_or(1, |a| a.len() as u64))
                .collect();
            l.sort_unstable();
            quantiles(&l)
        });
        let items: Vec<&Value> = present.iter().copied().flat_map(flatten).collect();
        let values = match base {
            "text" => {
                let texts: Vec<&str> = items.iter().filter_map(|v| v.as_str()).collect();
                text_values(&texts, &mut anon)?
            }
            "int" => {
                let mut v: Vec<i64> = items.iter().filter_map(|v| as_int(v)).collect();
                v.sort_unstable();
                Values::Int {
                    quantiles: range_only(quantiles(&v), sensitive),
                }
            }
            "number" => {
                let mut v: Vec<f64> = items.iter().filter_map(|v| v.as_f64()).collect();
                v.sort_by(f64::total_cmp);
                let decimals = v.iter().map(|x| decimals_of(*x)).max().unwrap_or(0);
                let q = quantiles(&v).into_iter().map(|x| round_to(x, decimals));
                Values::Number {
                    quantiles: range_only(q.collect(), sensitive),
                    decimals,
                }
            }
            "date" => {
                let mut v: Vec<i64> = items
                    .iter()
                    .filter_map(|v| chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok())
                    .map(|t| t.timestamp())
                    .collect();
                v.sort_unstable();
                Values::Date {
                    quantiles: range_only(quantiles(&v), sensitive),
                }
            }
            "boolean" => Values::Bool {
                true_share: share(
                    items.iter().filter(|v| v.as_bool() == Some(true)).count(),
                    items.len(),
                ),
            },
            _ => Values::Uuid,
        };
        properties.push(Property {
            name: name.clone(),
            data_type: data_type.clone(),
            sensitive,
            present: share(present.len(), objects.len()),
            lengths,
            values,
        });
    }
    Ok(Profile {
        source: source.to_string(),
        sampled: objects.len() as u64,
        properties,
        skipped,
    })
}

/// "text[]" → "text"; None for the types not generated (geoCoordinates,
/// phoneNumber, blob, object, cross-references).
fn base_type(data_type: &str) -> Option<&'static str> {
    match data_type.trim_end_matches("[]") {
        "text" | "string" => Some("text"),
        "int" => Some("int"),
        "number" => Some("number"),
        "boolean" => Some("boolean"),
        "date" => Some("date"),
        "uuid" => Some("uuid"),
        _ => None,
    }
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    }
}

fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f.round() as i64))
}

fn text_values(texts: &[&str], anon: &mut Anonymizer) -> Result<Values, String> {
    let mut distinct: BTreeMap<&str, u64> = BTreeMap::new();
    for t in texts {
        *distinct.entry(t).or_default() += 1;
    }
    if !texts.is_empty() && distinct.len() <= MAX_CATEGORIES && distinct.len() * 2 <= texts.len() {
        let mut values = BTreeMap::new();
        for (t, n) in distinct {
            values.insert(anon.text(t)?, n);
        }
        return Ok(Values::Categories {
            values: top(values, MAX_CATEGORIES),
        });
    }
    let mut shapes: BTreeMap<String, u64> = BTreeMap::new();
    let mut separators: BTreeMap<String, u64> = BTreeMap::new();
    let mut endings: BTreeMap<String, u64> = BTreeMap::new();
    let mut words: BTreeMap<&str, u64> = BTreeMap::new();
    let mut numbers: BTreeMap<&str, u64> = BTreeMap::new();
    let mut counts = Vec::with_capacity(texts.len());
    for t in texts {
        let mut p = pieces(t);
        if p.first().is_some_and(|(k, _)| *k == Class::Other) {
            p.remove(0);
        }
        let ending = match p.last() {
            Some((Class::Other, s)) => s.to_string(),
            _ => String::new(),
        };
        *endings.entry(ending).or_default() += 1;
        let mut n = 0;
        for (i, (k, s)) in p.iter().enumerate() {
            match k {
                Class::Letters => *words.entry(s).or_default() += 1,
                Class::Digits => *numbers.entry(s).or_default() += 1,
                Class::Other if i + 1 < p.len() => {
                    *separators.entry(s.to_string()).or_default() += 1
                }
                Class::Other => {}
            }
            if *k != Class::Other {
                n += 1;
            }
        }
        counts.push(n);
        let shape = shape_of(t);
        if shape.len() <= MAX_SHAPE_CHARS {
            *shapes.entry(shape).or_default() += 1;
        }
    }
    counts.sort_unstable();
    let shapes = top(shapes, MAX_SHAPES);
    let covered: u64 = shapes.iter().map(|(_, n)| n).sum();
    let median = counts.get(counts.len() / 2).copied().unwrap_or(0);
    let shapes = if median <= MAX_SHAPE_TOKENS && covered * 10 >= texts.len() as u64 * 8 {
        shapes
    } else {
        Vec::new()
    };
    let mut kept_words = BTreeMap::new();
    for (w, n) in top(words, MAX_WORDS) {
        *kept_words.entry(anon.token(w)?).or_default() += n;
    }
    // Numbers by digit count, so a shape's `999` always finds one.
    let mut by_length: BTreeMap<usize, BTreeMap<&str, u64>> = BTreeMap::new();
    for (w, n) in numbers {
        by_length.entry(w.len()).or_default().insert(w, n);
    }
    let mut kept_numbers = BTreeMap::new();
    for (_, group) in by_length {
        for (w, n) in top(group, NUMBERS_PER_LENGTH) {
            *kept_numbers.entry(anon.token(w)?).or_default() += n;
        }
    }
    Ok(Values::Text(Text {
        shapes,
        tokens: quantiles(&counts),
        separators: top(separators, MAX_SEPARATORS),
        endings: top(endings, MAX_SEPARATORS),
        words: top(kept_words, usize::MAX),
        numbers: top(kept_numbers, usize::MAX),
    }))
}

impl Profile {
    /// A short hash of the profile: in object IDs and the generator's seed,
    /// so two sources never share IDs.
    pub fn id(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        blake3::hash(json.as_bytes()).to_hex()[..32].to_string()
    }

    /// (name, data type) of every generated property.
    pub fn schema(&self) -> Vec<(String, String)> {
        self.properties
            .iter()
            .map(|p| (p.name.clone(), p.data_type.clone()))
            .collect()
    }

    /// The free-text property with the most tokens, for an embedder.
    pub fn text_property(&self) -> Option<&str> {
        self.properties
            .iter()
            .filter_map(|p| match &p.values {
                Values::Text(t) if !p.data_type.ends_with("[]") => {
                    Some((t.tokens.get(QUANTILES / 2).copied().unwrap_or(0), &p.name))
                }
                _ => None,
            })
            .max_by_key(|(n, _)| *n)
            .map(|(_, name)| name.as_str())
    }
}

/// A profile ready to generate from, its ID computed once.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampler {
    pub profile: Profile,
    pub id: String,
}

impl Sampler {
    pub fn new(profile: Profile) -> Sampler {
        let id = profile.id();
        Sampler { profile, id }
    }

    /// The generator of object `i`: seeded from the profile, the seed and i,
    /// with a stream per use (properties, vector).
    pub fn rng(&self, seed: u64, i: u64, stream: u8) -> ChaCha8Rng {
        let id = blake3::hash(self.id.as_bytes());
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&i.to_le_bytes());
        key[16..31].copy_from_slice(&id.as_bytes()[..15]);
        key[31] = stream;
        ChaCha8Rng::from_seed(key)
    }

    /// The properties of object `i` (whose ID is `id`) of the dataset with this seed.
    pub fn object(&self, id: &str, seed: u64, i: u64) -> Map<String, Value> {
        let mut r = self.rng(seed, i, 0);
        let mut out = Map::new();
        for (pi, p) in self.profile.properties.iter().enumerate() {
            if !r.gen_bool(p.present.clamp(0.0, 1.0)) {
                continue;
            }
            let v = match &p.lengths {
                Some(l) => {
                    let n = pick_quantile(&mut r, l);
                    Value::Array(
                        (0..n)
                            .map(|k| p.value(&mut r, id, (pi, k as usize)))
                            .collect(),
                    )
                }
                None => p.value(&mut r, id, (pi, 0)),
            };
            out.insert(p.name.clone(), v);
        }
        out
    }
}

fn pick_quantile<R: Rng>(r: &mut R, q: &[u64]) -> u64 {
    let q: Vec<f64> = q.iter().map(|x| *x as f64).collect();
    interpolate(r, &q).round() as u64
}

/// A value between two neighbouring quantiles, uniformly.
fn interpolate<R: Rng>(r: &mut R, q: &[f64]) -> f64 {
    match q {
        [] => 0.0,
        [x] => *x,
        _ => {
            let pos = r.gen_range(0.0..1.0) * (q.len() - 1) as f64;
            let k = (pos.floor() as usize).min(q.len() - 2);
            q[k] + (pos - k as f64) * (q[k + 1] - q[k])
        }
    }
}

fn weighted<'a, R: Rng>(r: &mut R, items: &'a [(String, u64)]) -> Option<&'a str> {
    let total: u64 = items.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let mut x = r.gen_range(0..total);
    for (s, n) in items {
        if x < *n {
            return Some(s);
        }
        x -= n;
    }
    None
}

impl Property {
    fn value<R: Rng>(&self, r: &mut R, id: &str, at: (usize, usize)) -> Value {
        match &self.values {
            Values::Number {
                quantiles,
                decimals,
            } => {
                serde_json::json!(round_to(interpolate(r, quantiles), *decimals))
            }
            Values::Int { quantiles } => {
                let q: Vec<f64> = quantiles.iter().map(|x| *x as f64).collect();
                Value::from(interpolate(r, &q).round() as i64)
            }
            Values::Date { quantiles } => {
                let q: Vec<f64> = quantiles.iter().map(|x| *x as f64).collect();
                let t = interpolate(r, &q).round() as i64;
                Value::from(
                    chrono::DateTime::from_timestamp(t, 0)
                        .unwrap_or_default()
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string(),
                )
            }
            Values::Bool { true_share } => Value::from(r.gen_bool(true_share.clamp(0.0, 1.0))),
            Values::Uuid => Value::from(
                uuid::Uuid::new_v5(
                    &uuid::Uuid::NAMESPACE_URL,
                    format!("elysiactl-test-data:sampled-uuid:{id}:{}:{}", at.0, at.1).as_bytes(),
                )
                .to_string(),
            ),
            Values::Categories { values } => Value::from(weighted(r, values).unwrap_or("")),
            Values::Text(t) => Value::from(t.generate(r)),
        }
    }
}

impl Text {
    fn generate<R: Rng>(&self, r: &mut R) -> String {
        if let Some(shape) = weighted(r, &self.shapes) {
            return self.fill(r, shape);
        }
        let n = pick_quantile(r, &self.tokens);
        let words: u64 = self.words.iter().map(|(_, n)| n).sum();
        let numbers: u64 = self.numbers.iter().map(|(_, n)| n).sum();
        let mut out = String::new();
        for k in 0..n {
            if k > 0 {
                out.push_str(weighted(r, &self.separators).unwrap_or(" "));
            }
            let number = numbers > 0 && r.gen_range(0..words + numbers) >= words;
            let list = if number { &self.numbers } else { &self.words };
            out.push_str(weighted(r, list).unwrap_or(""));
        }
        if n > 0 {
            out.push_str(weighted(r, &self.endings).unwrap_or(""));
        }
        out
    }

    fn fill<R: Rng>(&self, r: &mut R, shape: &str) -> String {
        let mut out = String::new();
        let mut chars = shape.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                'a' => out.push_str(weighted(r, &self.words).unwrap_or("")),
                '9' => {
                    let mut n = 1;
                    while chars.peek() == Some(&'9') {
                        chars.next();
                        n += 1;
                    }
                    let same: Vec<(String, u64)> = self
                        .numbers
                        .iter()
                        .filter(|(s, _)| s.len() == n)
                        .cloned()
                        .collect();
                    let list = if same.is_empty() {
                        &self.numbers
                    } else {
                        &same
                    };
                    out.push_str(weighted(r, list).unwrap_or(""));
                }
                c => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source() -> (Value, Vec<Value>) {
        let class = json!({"class": "Customers", "properties": [
            {"name": "email", "dataType": ["text"]},
            {"name": "fullName", "dataType": ["text"]},
            {"name": "city", "dataType": ["text"]},
            {"name": "notes", "dataType": ["text"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "age", "dataType": ["int"]},
            {"name": "balance", "dataType": ["number"]},
            {"name": "vip", "dataType": ["boolean"]},
            {"name": "signup", "dataType": ["date"]},
            {"name": "home", "dataType": ["geoCoordinates"]},
        ]});
        let first = ["Will", "Grace", "Harriet", "Oscar"];
        let last = ["Smith", "Jones", "Okafor"];
        let cities = ["Berlin", "Lisbon", "Porto"];
        let objects = (0..60)
            .map(|i| {
                let (f, l) = (first[i % 4], last[i % 3]);
                let tags = &["gold", "early"][..1 + i % 2];
                json!({"properties": {
                    "email": format!("{}.{}{i}@example.com", f.to_lowercase(), l.to_lowercase()),
                    "fullName": format!("{f} {l}"),
                    "city": cities[i % 3],
                    "notes": format!("Customer {f} will call back about order {}. Very polite.", 1000 + i),
                    "tags": tags,
                    "age": 20 + i,
                    "balance": i as f64 * 1.25,
                    "vip": i % 4 == 0,
                    "signup": format!("2025-0{}-01T00:00:00Z", 1 + i % 9),
                }})
            })
            .collect();
        (class, objects)
    }

    #[test]
    fn names_that_suggest_personal_data_are_sensitive() {
        for n in [
            "email",
            "userId",
            "user_name",
            "fullName",
            "phone",
            "ip",
            "ip_addr",
            "homeAddress",
            "lastname",
        ] {
            assert!(sensitive_by_name(n), "{n}");
        }
        for n in ["description", "title", "score", "shipping", "city", "tags"] {
            assert!(!sensitive_by_name(n), "{n}");
        }
    }

    #[test]
    fn a_profile_is_the_same_for_the_same_sample() {
        let (class, objects) = source();
        let a = build("Customers", &class, &objects, &[]).unwrap();
        let b = build("Customers", &class, &objects, &[]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        assert_eq!(a.skipped, vec!["home: geoCoordinates"]);
        let back: Profile = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a, "a profile must read back from its record exactly");
        // Another sample, another key: other pseudonyms; the same objects in
        // another order, the same profile.
        let c = build("Customers", &class, &objects[..59], &[]).unwrap();
        assert_ne!(a.id(), c.id());
        let mut reversed = objects.clone();
        reversed.reverse();
        assert_eq!(build("Customers", &class, &reversed, &[]).unwrap(), a);
        let id = "x";
        let (a, b) = (Sampler::new(a), Sampler::new(b));
        assert_eq!(a.object(id, 7, 3), b.object(id, 7, 3));
        assert_ne!(a.object(id, 7, 3), a.object(id, 8, 3));
    }

    #[test]
    fn no_sensitive_value_or_token_leaks_into_the_profile_or_objects() {
        let (class, objects) = source();
        let p = build("Customers", &class, &objects, &["city".to_string()]).unwrap();
        let mut text = serde_json::to_string(&p).unwrap();
        let p = Sampler::new(p);
        for i in 0..500 {
            text.push_str(&Value::Object(p.object("x", 1, i)).to_string());
        }
        let text = text.to_lowercase();
        for o in &objects {
            for key in ["email", "fullName", "city"] {
                let v = o["properties"][key].as_str().unwrap().to_lowercase();
                assert!(!text.contains(&v), "{v} leaked");
                for (k, t) in pieces(&v) {
                    if k == Class::Letters && t.len() >= MIN_INNER {
                        assert!(!text.contains(t), "{t} leaked");
                    }
                }
            }
        }
        // "will" is a name and a common word in notes: it goes in both.
        assert!(!text.contains("will"));
        // Non-sensitive free text is anonymized too, its words never kept.
        assert!(!text.contains("polite") && !text.contains("order"));
    }

    #[test]
    fn distributions_follow_the_source() {
        let (class, objects) = source();
        let p = build("Customers", &class, &objects, &[]).unwrap();
        let by = |n: &str| p.properties.iter().find(|x| x.name == n).unwrap();
        let s = Sampler::new(p.clone());
        let Values::Categories { values } = &by("city").values else {
            panic!("{:?}", by("city"))
        };
        assert_eq!(values.iter().map(|(_, n)| n).sum::<u64>(), 60);
        assert_eq!(values.len(), 3);
        assert!(matches!(&by("email").values, Values::Text(t) if !t.shapes.is_empty()));
        assert!(matches!(&by("notes").values, Values::Text(t) if t.shapes.is_empty()));
        assert!(matches!(by("vip").values, Values::Bool { true_share } if true_share == 0.25));
        for i in 0..300 {
            let o = s.object("x", 3, i);
            let age = o["age"].as_i64().unwrap();
            assert!((20..=79).contains(&age), "{age}");
            let b = o["balance"].as_f64().unwrap();
            assert!((0.0..=73.75).contains(&b), "{b}");
            assert_eq!(b, round_to(b, 2));
            let email = o["email"].as_str().unwrap();
            assert_eq!(shape_of(email).replace('9', ""), "a.a@a.a", "{email}");
            let tags = o["tags"].as_array().unwrap();
            assert!((1..=2).contains(&tags.len()), "{tags:?}");
            let at = o["signup"].as_str().unwrap();
            assert!(at.starts_with("2025-0"), "{at}");
        }
    }

    #[test]
    fn pseudonyms_keep_case_and_length_and_differ_from_every_token() {
        let mut a = Anonymizer::new(b"k", [("Alice met Bob at 10", true)].into_iter());
        let p = a.token("Alice").unwrap();
        assert_eq!(p.len(), 5);
        assert!(p.chars().next().unwrap().is_uppercase());
        assert_eq!(a.token("alice").unwrap(), p.to_lowercase());
        assert_ne!(a.token("bob").unwrap(), a.token("met").unwrap());
        let n = a.token("10").unwrap();
        assert!(n != "10" && !n.contains("alice"), "{n}");
        assert_eq!(
            a.text("Alice, Bob!").unwrap(),
            format!("{p}, {}!", a.token("Bob").unwrap())
        );
    }

    #[test]
    fn numbers_that_leave_no_free_value_grow_or_become_words() {
        // Every one-digit number and many 3-digit ones are sensitive values.
        let dense: Vec<String> = (0..10)
            .map(|d| d.to_string())
            .chain((0..1000).step_by(2).map(|n| format!("{n:03}")))
            .collect();
        let text = dense.join(" ");
        let mut a = Anonymizer::new(b"k", [(text.as_str(), true)].into_iter());
        for t in ["7", "042", "999"] {
            let p = a.token(t).unwrap();
            assert!(!dense.contains(&p), "{t} -> {p}");
            assert!(
                !dense
                    .iter()
                    .any(|d| d.len() >= MIN_INNER && p.contains(d.as_str())),
                "{t} -> {p}"
            );
        }
    }

    #[test]
    fn sensitive_numbers_and_dates_keep_only_their_range() {
        let (class, objects) = source();
        let p = build(
            "Customers",
            &class,
            &objects,
            &["age".into(), "signup".into()],
        )
        .unwrap();
        let by = |n: &str| p.properties.iter().find(|x| x.name == n).unwrap();
        assert_eq!(
            by("age").values,
            Values::Int {
                quantiles: vec![20, 79]
            }
        );
        assert!(matches!(&by("signup").values, Values::Date { quantiles } if quantiles.len() == 2));
        let e = build("Customers", &class, &objects, &["nope".into()]).unwrap_err();
        assert!(e.contains("does not have") && e.contains("email"), "{e}");
    }
}
