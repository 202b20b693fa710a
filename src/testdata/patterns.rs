//! The shapes of test data: for each pattern, its properties and how the
//! i-th object of a seeded dataset is made. Object i depends only on the
//! pattern, the seed and i (its generator is seeded from all three), so a
//! dataset can be regenerated, or checked, one object at a time and in any
//! order. ChaCha8 is used because its output for a seed is fixed across
//! platforms and versions of rand_chacha.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Synthetic,
    UserActivity,
    Documents,
    Code,
    Load,
}

impl Pattern {
    pub const NAMES: [&'static str; 5] =
        ["synthetic", "user-activity", "documents", "code", "load"];

    pub fn parse(name: &str) -> Option<Pattern> {
        Some(match name {
            "synthetic" => Pattern::Synthetic,
            "user-activity" => Pattern::UserActivity,
            "documents" => Pattern::Documents,
            "code" => Pattern::Code,
            "load" => Pattern::Load,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Synthetic => "synthetic",
            Pattern::UserActivity => "user-activity",
            Pattern::Documents => "documents",
            Pattern::Code => "code",
            Pattern::Load => "load",
        }
    }

    /// "user-activity" → "TestDataUserActivity": the default collection.
    pub fn default_collection(self) -> String {
        let camel: String = self
            .as_str()
            .split('-')
            .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
            .collect();
        format!("TestData{camel}")
    }

    /// (name, Weaviate data type) of every property, in the order objects
    /// carry them.
    pub fn properties(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Pattern::Synthetic => &[
                ("title", "text"),
                ("body", "text"),
                ("category", "text"),
                ("score", "number"),
                ("quantity", "int"),
                ("active", "boolean"),
                ("created", "date"),
            ],
            Pattern::UserActivity => &[
                ("user_id", "text"),
                ("action", "text"),
                ("page", "text"),
                ("query", "text"),
                ("duration_ms", "int"),
                ("amount", "number"),
                ("country", "text"),
                ("at", "date"),
            ],
            Pattern::Documents => &[
                ("title", "text"),
                ("body", "text"),
                ("author", "text"),
                ("tags", "text[]"),
                ("word_count", "int"),
                ("published", "date"),
            ],
            Pattern::Code => &[
                ("repository", "text"),
                ("path", "text"),
                ("language", "text"),
                ("content", "text"),
                ("start_line", "int"),
                ("end_line", "int"),
            ],
            Pattern::Load => &[
                ("key", "text"),
                ("payload", "text"),
                ("n", "int"),
                ("value", "number"),
            ],
        }
    }

    /// The property an embedder turns into the object's vector.
    pub fn text_property(self) -> &'static str {
        match self {
            Pattern::Synthetic | Pattern::Documents => "body",
            Pattern::UserActivity => "query",
            Pattern::Code => "content",
            Pattern::Load => "payload",
        }
    }

    /// The properties of object `i` of the dataset with this seed.
    pub fn object(self, seed: u64, i: u64) -> Map<String, Value> {
        let mut rng = object_rng(self, seed, i);
        let r = &mut rng;
        let v = match self {
            Pattern::Synthetic => json!({
                "title": title(r),
                "body": paragraph(r, 20, 80),
                "category": pick(r, CATEGORIES),
                "score": cents(r, 0.0, 100.0),
                "quantity": r.gen_range(0..1000),
                "active": r.gen_bool(0.7),
                "created": date(r),
            }),
            Pattern::UserActivity => {
                let action = pick(r, ACTIONS);
                json!({
                    "user_id": format!("user-{:05}", r.gen_range(0..5000)),
                    "action": action,
                    "page": format!("/{}/{}", pick(r, SECTIONS), r.gen_range(1..500)),
                    "query": if action == "search" { sentence(r, 2, 6) } else { String::new() },
                    "duration_ms": r.gen_range(5..30_000),
                    "amount": if action == "purchase" { cents(r, 1.0, 500.0) } else { 0.0 },
                    "country": pick(r, COUNTRIES),
                    "at": date(r),
                })
            }
            Pattern::Documents => {
                let paragraphs = r.gen_range(1..5);
                let body: Vec<String> = (0..paragraphs).map(|_| paragraph(r, 40, 120)).collect();
                let body = body.join("\n\n");
                let n = r.gen_range(1..5);
                let mut tags: Vec<&str> = WORDS.choose_multiple(r, n).copied().collect();
                tags.sort_unstable();
                json!({
                    "title": title(r),
                    "word_count": body.split_whitespace().count(),
                    "body": body,
                    "author": format!("{} {}", pick(r, FIRST_NAMES), pick(r, LAST_NAMES)),
                    "tags": tags,
                    "published": date(r),
                })
            }
            Pattern::Code => {
                let language = pick(r, LANGUAGES);
                let start = r.gen_range(1..2000);
                let lines = r.gen_range(5..60);
                json!({
                    "repository": format!("github.com/example/{}", pick(r, WORDS)),
                    "path": format!("src/{}/{}.{}", pick(r, WORDS), pick(r, WORDS), extension(language)),
                    "language": language,
                    "content": code(r, lines),
                    "start_line": start,
                    "end_line": start + lines - 1,
                })
            }
            Pattern::Load => json!({
                "key": format!("key-{i:010}"),
                "payload": sentence(r, 100, 100),
                "n": i,
                "value": cents(r, 0.0, 1.0e6),
            }),
        };
        // Reordered into the declared order, so a fingerprint does not depend
        // on how the json! above lists the fields.
        let mut obj = v.as_object().cloned().unwrap_or_default();
        self.properties()
            .iter()
            .map(|(name, _)| (name.to_string(), obj.remove(*name).unwrap_or(Value::Null)))
            .collect()
    }

    /// A seeded unit vector of `dims` for object `i`, for datasets with
    /// `--vectors DIM` and no embedder.
    pub fn vector(self, seed: u64, i: u64, dims: usize) -> Vec<f32> {
        let mut rng = object_rng(self, seed ^ 0x5eed_7ec7, i);
        let mut v: Vec<f32> = (0..dims).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        crate::embed::normalize(&mut v);
        v
    }
}

fn object_rng(p: Pattern, seed: u64, i: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&i.to_le_bytes());
    key[16] = p as u8;
    ChaCha8Rng::from_seed(key)
}

fn pick<R: Rng>(r: &mut R, list: &[&'static str]) -> &'static str {
    list[r.gen_range(0..list.len())]
}

/// A value with two decimals: it reads back from Weaviate exactly.
fn cents<R: Rng>(r: &mut R, lo: f64, hi: f64) -> f64 {
    (r.gen_range(lo..hi) * 100.0).round() / 100.0
}

/// A time in 2026, to the second, as Weaviate's date type takes it.
fn date<R: Rng>(r: &mut R) -> String {
    let start = 1_767_225_600i64; // 2026-01-01T00:00:00Z
    let t = start + r.gen_range(0..365 * 24 * 3600);
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn sentence<R: Rng>(r: &mut R, min: usize, max: usize) -> String {
    let n = r.gen_range(min..=max);
    let words: Vec<&str> = (0..n).map(|_| pick(r, WORDS)).collect();
    words.join(" ")
}

fn title<R: Rng>(r: &mut R) -> String {
    let mut t = sentence(r, 3, 8);
    if let Some(first) = t.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    t
}

/// Sentences of natural length until about `min..max` words.
fn paragraph<R: Rng>(r: &mut R, min: usize, max: usize) -> String {
    let target = r.gen_range(min..=max);
    let mut words = 0;
    let mut out = Vec::new();
    while words < target {
        let mut s = sentence(r, 6, 18);
        words += s.split(' ').count();
        if let Some(first) = s.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        s.push('.');
        out.push(s);
    }
    out.join(" ")
}

fn extension(language: &str) -> &'static str {
    match language {
        "rust" => "rs",
        "python" => "py",
        "go" => "go",
        "typescript" => "ts",
        _ => "txt",
    }
}

fn code<R: Rng>(r: &mut R, lines: i64) -> String {
    (0..lines)
        .map(|_| {
            let indent = "    ".repeat(r.gen_range(0..3));
            let (a, b, c) = (pick(r, WORDS), pick(r, WORDS), pick(r, WORDS));
            match r.gen_range(0..4) {
                0 => format!("{indent}let {a}_{b} = {c}({});", r.gen_range(0..100)),
                1 => format!("{indent}if {a}.{b}() {{"),
                2 => format!("{indent}return {a}_{c};"),
                _ => format!("{indent}// {}", sentence(r, 3, 9)),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const CATEGORIES: &[&str] = &[
    "books", "music", "garden", "tools", "games", "health", "travel", "food",
];
const ACTIONS: &[&str] = &[
    "login", "search", "view", "view", "view", "purchase", "logout",
];
const SECTIONS: &[&str] = &["products", "articles", "account", "cart", "help"];
const COUNTRIES: &[&str] = &["DE", "FR", "US", "NL", "BR", "JP", "IN", "GB", "ES", "SE"];
const LANGUAGES: &[&str] = &["rust", "python", "go", "typescript"];
const FIRST_NAMES: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
    "Ritchie",
];
const WORDS: &[&str] = &[
    "time",
    "year",
    "people",
    "way",
    "day",
    "man",
    "thing",
    "woman",
    "life",
    "child",
    "world",
    "school",
    "state",
    "family",
    "student",
    "group",
    "country",
    "problem",
    "hand",
    "part",
    "place",
    "case",
    "week",
    "company",
    "system",
    "program",
    "question",
    "work",
    "government",
    "number",
    "night",
    "point",
    "home",
    "water",
    "room",
    "mother",
    "area",
    "money",
    "story",
    "fact",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "eye",
    "job",
    "word",
    "business",
    "issue",
    "side",
    "kind",
    "head",
    "house",
    "service",
    "friend",
    "father",
    "power",
    "hour",
    "game",
    "line",
    "end",
    "member",
    "law",
    "car",
    "city",
    "community",
    "name",
    "president",
    "team",
    "minute",
    "idea",
    "kid",
    "body",
    "information",
    "back",
    "parent",
    "face",
    "others",
    "level",
    "office",
    "door",
    "health",
    "person",
    "art",
    "war",
    "history",
    "party",
    "result",
    "change",
    "morning",
    "reason",
    "research",
    "girl",
    "guy",
    "moment",
    "air",
    "teacher",
    "force",
    "education",
    "cluster",
    "vector",
    "search",
    "index",
    "query",
    "node",
    "replica",
    "shard",
    "schema",
    "batch",
    "record",
    "stream",
    "signal",
    "engine",
    "model",
    "network",
    "storage",
    "memory",
    "garden",
    "river",
    "mountain",
    "window",
    "market",
    "music",
    "paper",
    "science",
    "energy",
    "language",
    "picture",
    "season",
    "travel",
    "kitchen",
    "village",
    "answer",
    "letter",
    "summer",
    "winter",
    "forest",
    "bridge",
    "island",
    "harbor",
    "planet",
    "rocket",
    "signal",
    "quiet",
    "bright",
    "rapid",
    "gentle",
    "simple",
    "careful",
    "strong",
    "open",
    "early",
    "late",
    "small",
    "large",
    "green",
    "blue",
    "golden",
    "silent",
    "ancient",
    "modern",
    "build",
    "read",
    "write",
    "measure",
    "carry",
    "follow",
    "create",
    "share",
    "find",
    "keep",
    "start",
    "grow",
    "watch",
    "learn",
    "change",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_depends_on_pattern_seed_and_index_only() {
        for p in Pattern::NAMES.iter().map(|n| Pattern::parse(n).unwrap()) {
            assert_eq!(p.object(42, 7), p.object(42, 7), "{p:?}");
            assert_ne!(p.object(42, 7), p.object(43, 7), "{p:?}");
            assert_ne!(p.object(42, 7), p.object(42, 8), "{p:?}");
            let keys: Vec<&str> = p.properties().iter().map(|(n, _)| *n).collect();
            let o = p.object(1, 0);
            assert_eq!(o.keys().map(String::as_str).collect::<Vec<_>>(), keys);
            assert!(o.values().all(|v| !v.is_null()), "{p:?}: {o:?}");
        }
    }

    #[test]
    fn objects_have_the_shape_their_types_declare() {
        let o = Pattern::Documents.object(5, 3);
        assert!(o["tags"].as_array().is_some_and(|t| !t.is_empty()));
        let words = o["body"].as_str().unwrap().split_whitespace().count();
        assert_eq!(o["word_count"], words);
        let o = Pattern::Code.object(5, 3);
        let lines = o["content"].as_str().unwrap().lines().count() as i64;
        assert_eq!(
            o["end_line"].as_i64().unwrap() - o["start_line"].as_i64().unwrap() + 1,
            lines
        );
        let at = Pattern::UserActivity.object(5, 3)["at"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(chrono::DateTime::parse_from_rfc3339(&at).is_ok(), "{at}");
        assert_eq!(
            Pattern::UserActivity.default_collection(),
            "TestDataUserActivity"
        );
    }

    #[test]
    fn vectors_are_seeded_unit_vectors() {
        let v = Pattern::Load.vector(9, 1, 16);
        assert_eq!(v, Pattern::Load.vector(9, 1, 16));
        assert_ne!(v, Pattern::Load.vector(9, 2, 16));
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }
}
