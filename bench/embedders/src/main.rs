//! The local embedders side by side: elysiactl's `embed` module against the
//! HuggingFace `tokenizers` crate and `candle-transformers`' BERT, and, when
//! a Python with sentence-transformers is given, against that too; same
//! sentences, same machine, same process start.
//!
//! Output equality: token ids on a varied corpus (this repository's files as
//! `index sync` chunks them, hand-picked edge cases, seeded random Unicode),
//! and the cosine of each sentence vector between implementations. Speed:
//! tokens/s for the tokenizers; sentences/s and ms per batch of 32 for the
//! encoders, on one thread and on two. Medians over `--rounds`, the
//! implementations taking turns inside every round so the machine's load
//! falls on all of them alike.
//!
//! usage: cargo run --release -- [--model DIR] [--rounds N] [--st-python PATH]
//!        [--json OUT]
//! The encoder figures run in child processes of this program (one per
//! thread setting), because rayon's pool, which candle uses, is sized once
//! per process from RAYON_NUM_THREADS.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use elysiactl::embed::minilm::MiniLm;
use elysiactl::embed::wordpiece::WordPiece;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

const BATCH: usize = 32;
const MAX_TOKENS: usize = 256;
/// What `index sync` cuts a file into (index.chunk_lines' default).
const CHUNK_LINES: usize = 60;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let model = opt("--model").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap())
            .join(".local/share/elysiactl/models/all-MiniLM-L6-v2")
    });
    let rounds: usize = opt("--rounds").map_or(5, |r| r.parse().expect("--rounds N"));
    if let Some(setting) = opt("--child-encoder") {
        let out = encoder_speed(&model, &setting, rounds);
        println!("{out}");
        return;
    }
    if args.iter().any(|a| a == "--tokenizer-only") {
        let corpus = Corpus::build();
        let v = json!({"tokenizer_equality": tokenizer_equality(&model, &corpus),
                       "tokenizer_speed": tokenizer_speed(&model, &corpus, rounds)});
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
        return;
    }
    let load_before = loadavg();
    let started = chrono_now();
    let corpus = Corpus::build();
    let mut report = json!({
        "machine": machine(),
        "started": started,
        "load_before": load_before,
        "rounds": rounds,
        "corpus": {
            "repo_chunks": corpus.repo_chunks.len(),
            "edge_cases": corpus.edge.len(),
            "random_unicode": corpus.fuzz.len(),
            "sentences": corpus.sentences.len(),
        },
    });
    report["tokenizer_equality"] = tokenizer_equality(&model, &corpus);
    report["tokenizer_speed"] = tokenizer_speed(&model, &corpus, rounds);
    report["encoder_equality"] = encoder_equality(&model, &corpus, opt("--st-python").as_deref());
    let exe = std::env::current_exe().unwrap();
    let mut speed = serde_json::Map::new();
    for setting in ["1", "2-workers", "2-intra"] {
        let threads = if setting == "1" { "1" } else { "2" };
        let child = if setting == "2-workers" { "1" } else { threads };
        let out = Command::new(&exe)
            .args(["--child-encoder", setting, "--rounds", &rounds.to_string()])
            .arg("--model")
            .arg(&model)
            .env("RAYON_NUM_THREADS", child)
            .output()
            .expect("child runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("child prints JSON");
        speed.insert(setting.into(), v);
    }
    if let Some(python) = opt("--st-python") {
        speed.insert(
            "sentence-transformers".into(),
            st_speed(&python, &model, &corpus, rounds),
        );
    }
    report["encoder_speed"] = Value::Object(speed);
    report["load_after"] = json!(loadavg());
    report["finished"] = json!(chrono_now());
    let text = serde_json::to_string_pretty(&report).unwrap();
    println!("{text}");
    if let Some(path) = opt("--json") {
        std::fs::write(path, text).unwrap();
    }
}

struct Corpus {
    repo_chunks: Vec<String>,
    edge: Vec<String>,
    fuzz: Vec<String>,
    sentences: Vec<String>,
    code: Vec<String>,
}

impl Corpus {
    fn build() -> Corpus {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for dir in [
            "src",
            "scripts",
            "stdlib",
            "tests",
            "playbooks",
            "bench",
            "docs",
        ] {
            walk(&root.join(dir), &mut files);
        }
        files.push(root.join("README.md"));
        files.sort();
        let mut repo_chunks = Vec::new();
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            for chunk in lines.chunks(CHUNK_LINES) {
                repo_chunks.push(chunk.join("\n"));
            }
        }
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let mut sentences = vec![
            "The weather is lovely today.".to_string(),
            "It's so sunny outside!".to_string(),
            "He drove to the stadium.".to_string(),
        ];
        let mut in_fence = false;
        for line in readme.lines() {
            if line.starts_with("```") {
                in_fence = !in_fence;
            }
            if in_fence || line.starts_with('|') || line.starts_with('#') {
                continue;
            }
            for s in line.split(". ") {
                let words = s.split_whitespace().count();
                if (5..=40).contains(&words) {
                    sentences.push(s.trim().to_string());
                }
            }
        }
        sentences.truncate(256);
        // Code as the indexer embeds it: whole chunks, cut at 256 tokens.
        let code: Vec<String> = repo_chunks
            .iter()
            .filter(|c| c.len() > 1500)
            .step_by(7)
            .take(64)
            .cloned()
            .collect();
        Corpus {
            repo_chunks,
            edge: edge_cases(),
            fuzz: random_unicode(4000, 0x5eed),
            sentences,
            code,
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p.ends_with("target") {
                walk(&p, out);
            }
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("rs" | "rhai" | "lua" | "md" | "py" | "toml" | "json" | "sh")
        ) {
            out.push(p);
        }
    }
}

fn edge_cases() -> Vec<String> {
    let mut v: Vec<String> = [
        "Hello, World!",
        "unaffable",
        "Café Crème",
        "İstanbul",
        "कागज़",
        "你好世界",
        "hel\u{0}lo\u{200B}",
        "tab\tnew\nline\u{B}vt",
        "hello\u{A0}world",
        "fn parse_config(path: &Path) -> x;",
        "¿Qué tal? «bien» — 100€",
        "ℌ𝔢𝔩𝔩𝔬 ﬁne",
        "a[SEP]b [sep]",
        "[MASK] [UNK] [PAD] [CLS] [SEP] [CLS [SE P] [[CLS]]",
        "👍🏽 family 👨‍👩‍👧 🚀🔥",
        "한국어 텍스트를 토큰으로",
        "東京タワーへ行きました。ｶﾀｶﾅ",
        "مرحبا بالعالم، كيف حالك؟",
        "Καλημέρα κόσμε, ΣΊΣΥΦΟΣ",
        "Привет, мир! Ёлка",
        "สวัสดีชาวโลก",
        "e\u{301}le\u{300}ve a\u{308}",
        "ﬀ ﬃ ﬄ Ǆ ǅ ǆ",
        "ＡＢＣ１２３！？",
        "Z̷̢̛a̶͔̐l̴̙̎g̵͓̈́o̸̱͝ text",
        "ß straße STRASSE ẞ",
        "naïve façade coöperate Ångström Øresund",
        "x\u{FEFF}y\u{E000}z \u{10FFFD}",
        "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
        "https://example.com/path/to?query=1&b=2#frag user@example.org",
        "snake_case_identifier camelCaseIdentifier SCREAMING_CASE kebab-case",
        "3.14159e-10 0xDEADBEEF 1_000_000 -42 +7 ½ ² ³ ⅷ",
        "{\"key\": [1, 2, {\"nested\": null}], 'single': true}",
        "def f(x):\n    return x ** 2  # square\n",
        "SELECT * FROM t WHERE a <> b AND c >= 10;",
        "   \n\t  ",
        "",
        "\u{3000}ideographic\u{3000}space\u{2028}line\u{2029}para",
        "\u{1F1EB}\u{1F1F7} \u{2764}\u{FE0F} \u{00A9} \u{2122}",
        "𝒜𝓁𝓅𝒽𝒶 𝔸𝕝𝕡𝕙𝕒 𝐀𝐥𝐩𝐡𝐚",
        "Ǳ ǲ ǳ Ĳ ĳ ŉ",
        "ァィゥ ヴ ㌀ ㍿",
        "\u{0}\u{1}\u{7}\u{1B}[31mred\u{1B}[0m\u{7F}\u{85}\u{9F}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(100));
    v.push("a".repeat(101));
    v.push(format!("word {} word", "é".repeat(101)));
    v.push("supercalifragilistic".repeat(5));
    v.push("日本語".repeat(100));
    v
}

/// Seeded random strings over a mix of scripts, marks, controls, spaces,
/// punctuation, symbols and the special tokens, so that every branch of a
/// BERT normalizer and pre-tokenizer gets exercised.
fn random_unicode(count: usize, seed: u64) -> Vec<String> {
    let ranges: &[(u32, u32)] = &[
        (0x20, 0x7E),
        (0x20, 0x7E),
        (0x20, 0x7E),
        (0x00, 0x1F),
        (0x7F, 0xFF),
        (0x100, 0x24F),
        (0x300, 0x36F),
        (0x370, 0x3FF),
        (0x400, 0x4FF),
        (0x590, 0x6FF),
        (0x900, 0x97F),
        (0xE00, 0xE7F),
        (0x1100, 0x11FF),
        (0x1E00, 0x1EFF),
        (0x2000, 0x206F),
        (0x20A0, 0x20CF),
        (0x2100, 0x218F),
        (0x2190, 0x2BFF),
        (0x3000, 0x30FF),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xAC00, 0xD7A3),
        (0xE000, 0xE0FF),
        (0xF900, 0xFAFF),
        (0xFB00, 0xFB4F),
        (0xFE00, 0xFE6F),
        (0xFF00, 0xFFEF),
        (0x1D400, 0x1D7FF),
        (0x1F300, 0x1FAFF),
        (0x20000, 0x2A6DF),
        (0xE0000, 0xE007F),
    ];
    let specials = ["[SEP]", "[CLS]", "[MASK]", "[UNK]", "[PAD]", "[sep]", "##"];
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % 160) as usize;
            let mut s = String::new();
            for _ in 0..len {
                let r = next();
                if r % 41 == 0 {
                    s.push_str(specials[(r / 41 % specials.len() as u64) as usize]);
                    continue;
                }
                let (lo, hi) = ranges[(r % ranges.len() as u64) as usize];
                let c = lo + ((r >> 20) % u64::from(hi - lo + 1)) as u32;
                if let Some(c) = char::from_u32(c) {
                    s.push(c);
                }
            }
            s
        })
        .collect()
}

fn hf_tokenizer(model: &Path, truncate: Option<usize>) -> Tokenizer {
    let mut t = Tokenizer::from_file(model.join("tokenizer.json")).expect("tokenizer.json");
    t.with_padding(None);
    t.with_truncation(truncate.map(|max_length| TruncationParams {
        max_length,
        ..Default::default()
    }))
    .unwrap();
    t
}

fn tokenizer_equality(model: &Path, corpus: &Corpus) -> Value {
    let hand = WordPiece::from_vocab_file(&model.join("vocab.txt")).unwrap();
    let full = hf_tokenizer(model, None);
    let cut = hf_tokenizer(model, Some(MAX_TOKENS));
    let mut out = serde_json::Map::new();
    for (name, texts) in [
        ("repo_chunks", &corpus.repo_chunks),
        ("edge_cases", &corpus.edge),
        ("random_unicode", &corpus.fuzz),
        ("sentences", &corpus.sentences),
    ] {
        let (mut same, mut same_cut, mut tokens) = (0, 0, 0);
        let texts: &Vec<String> = texts;
        let mut examples = Vec::new();
        for t in texts.iter() {
            let a = hand.encode(t, usize::MAX);
            let b = ids(&full, t);
            tokens += a.len();
            let full_same = a == b;
            if full_same {
                same += 1;
            } else if examples.len() < 8 {
                let shrunk = shrink(t, |s| hand.encode(s, usize::MAX) != ids(&full, s));
                let (a, b) = (hand.encode(&shrunk, usize::MAX), ids(&full, &shrunk));
                examples.push(json!({"smallest_differing_text": shrunk,
                    "escaped": shrunk.escape_unicode().to_string(),
                    "hand": a, "tokenizers": b}));
            }
            let a = hand.encode(t, MAX_TOKENS);
            let b = ids(&cut, t);
            if a == b {
                same_cut += 1;
            } else if full_same && examples.len() < 8 {
                // A difference of the cut alone.
                examples.push(json!({"text": t, "cut": MAX_TOKENS, "hand": a, "tokenizers": b}));
            }
        }
        out.insert(
            name.into(),
            json!({"texts": texts.len(), "tokens": tokens, "identical": same,
                   "identical_cut_at_256": same_cut, "differences": examples}),
        );
    }
    // Every Unicode scalar value, between two letters and alone: the
    // normalizer's and pre-tokenizer's character classes, exhaustively.
    let mut differing = Vec::new();
    let mut checked = 0;
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        checked += 1;
        let between = format!("x{c}y");
        let alone = c.to_string();
        if hand.encode(&between, usize::MAX) != ids(&full, &between)
            || hand.encode(&alone, usize::MAX) != ids(&full, &alone)
        {
            differing.push(format!("U+{:04X}", c as u32));
        }
    }
    out.insert(
        "every_code_point".into(),
        json!({"texts": checked * 2, "differing_code_points": differing}),
    );
    Value::Object(out)
}

fn ids(t: &Tokenizer, text: &str) -> Vec<u32> {
    t.encode(text, true).unwrap().get_ids().to_vec()
}

/// The shortest text found by dropping one character at a time while the
/// two tokenizers still disagree: what a difference is about.
fn shrink(text: &str, differs: impl Fn(&str) -> bool) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let mut fewer = chars.clone();
        fewer.remove(i);
        if differs(&fewer.iter().collect::<String>()) {
            chars = fewer;
        } else {
            i += 1;
        }
    }
    chars.into_iter().collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Tokenizing whole chunks with no cut, as the static embedder does.
fn tokenizer_speed(model: &Path, corpus: &Corpus, rounds: usize) -> Value {
    let hand = WordPiece::from_vocab_file(&model.join("vocab.txt")).unwrap();
    let hf = hf_tokenizer(model, None);
    let texts = &corpus.repo_chunks;
    let bytes: usize = texts.iter().map(String::len).sum();
    let tokens: usize = texts.iter().map(|t| hand.encode(t, usize::MAX).len()).sum();
    let mut secs: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        let t = Instant::now();
        let n: usize = texts.iter().map(|t| hand.encode(t, usize::MAX).len()).sum();
        secs[0].push(t.elapsed().as_secs_f64());
        assert_eq!(n, tokens);
        let t = Instant::now();
        let n: usize = texts
            .iter()
            .map(|t| hf.encode(t.as_str(), true).unwrap().len())
            .sum();
        secs[1].push(t.elapsed().as_secs_f64());
        std::hint::black_box(n);
        let t = Instant::now();
        let n: usize = texts
            .iter()
            .map(|t| hf.encode_fast(t.as_str(), true).unwrap().len())
            .sum();
        secs[2].push(t.elapsed().as_secs_f64());
        std::hint::black_box(n);
        // What the encoder path costs: cut at 256 (the hand-written one stops
        // early, tokenizers tokenizes everything and then truncates).
        let t = Instant::now();
        let n: usize = texts.iter().map(|t| hand.encode(t, MAX_TOKENS).len()).sum();
        secs[3].push(t.elapsed().as_secs_f64());
        std::hint::black_box(n);
    }
    let [hand_s, hf_s, fast_s, hand_cut_s] = secs.map(median);
    json!({
        "texts": texts.len(), "bytes": bytes, "tokens": tokens,
        "hand_written": {"median_s": hand_s, "tokens_per_s": tokens as f64 / hand_s},
        "tokenizers_encode": {"median_s": hf_s, "tokens_per_s": tokens as f64 / hf_s},
        "tokenizers_encode_fast": {"median_s": fast_s, "tokens_per_s": tokens as f64 / fast_s},
        "hand_written_cut_at_256_median_s": hand_cut_s,
    })
}

struct Candle {
    model: BertModel,
    tokenizer: Tokenizer,
}

impl Candle {
    fn load(dir: &Path) -> Candle {
        let config: BertConfig =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        // SAFETY: the model file is not modified while mapped.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[dir.join("model.safetensors")],
                DType::F32,
                &Device::Cpu,
            )
        }
        .unwrap();
        let model = BertModel::load(vb, &config).unwrap();
        let mut tokenizer = hf_tokenizer(dir, Some(MAX_TOKENS));
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        Candle { model, tokenizer }
    }

    /// Mean pooling over the unpadded tokens, then L2 normalization, as
    /// sentence-transformers does.
    fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let enc = self.tokenizer.encode_batch(texts.to_vec(), true).unwrap();
        let (b, l) = (enc.len(), enc[0].len());
        let ids: Vec<u32> = enc.iter().flat_map(|e| e.get_ids().to_vec()).collect();
        let mask: Vec<u32> = enc
            .iter()
            .flat_map(|e| e.get_attention_mask().to_vec())
            .collect();
        let dev = &Device::Cpu;
        let ids = Tensor::from_vec(ids, (b, l), dev).unwrap();
        let mask = Tensor::from_vec(mask, (b, l), dev).unwrap();
        let types = ids.zeros_like().unwrap();
        let out = self.model.forward(&ids, &types, Some(&mask)).unwrap();
        let m = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
        let sum = out.broadcast_mul(&m).unwrap().sum(1).unwrap();
        let count = m.sum(1).unwrap();
        let mean = sum.broadcast_div(&count).unwrap();
        let norm = mean
            .sqr()
            .unwrap()
            .sum_keepdim(1)
            .unwrap()
            .sqrt()
            .unwrap()
            .clamp(1e-12, f32::MAX)
            .unwrap();
        mean.broadcast_div(&norm).unwrap().to_vec2().unwrap()
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn min_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let c: Vec<f64> = a.iter().zip(b).map(|(x, y)| cosine(x, y)).collect();
    let min = c.iter().copied().fold(f64::INFINITY, f64::min);
    (min, c.iter().sum::<f64>() / c.len() as f64)
}

fn embed_all(f: impl Fn(&[&str]) -> Vec<Vec<f32>>, texts: &[String]) -> Vec<Vec<f32>> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    refs.chunks(BATCH).flat_map(f).collect()
}

fn encoder_equality(model: &Path, corpus: &Corpus, st_python: Option<&str>) -> Value {
    let hand = MiniLm::load(model).unwrap();
    let candle = Candle::load(model);
    let mut out = serde_json::Map::new();
    let st = st_python.map(|py| st_vectors(py, model, corpus));
    for (name, texts) in [
        ("sentences", &corpus.sentences),
        ("code_chunks", &corpus.code),
        ("edge_cases", &corpus.edge),
    ] {
        let a = embed_all(|t| hand.embed(t), texts);
        let b = embed_all(|t| candle.embed(t), texts);
        let (min, mean) = min_cosine(&a, &b);
        let mut row = json!({"texts": texts.len(),
            "hand_vs_candle": {"min_cosine": min, "mean_cosine": mean}});
        if let Some(st) = st.as_ref().and_then(|s| s.get(name)) {
            let st: Vec<Vec<f32>> = serde_json::from_value(st.clone()).unwrap();
            let (min, mean) = min_cosine(&a, &st);
            row["hand_vs_sentence_transformers"] = json!({"min_cosine": min, "mean_cosine": mean});
            let (min, mean) = min_cosine(&b, &st);
            row["candle_vs_sentence_transformers"] =
                json!({"min_cosine": min, "mean_cosine": mean});
        }
        out.insert(name.into(), row);
    }
    Value::Object(out)
}

fn st_input(corpus: &Corpus) -> PathBuf {
    let path = std::env::temp_dir().join(format!("embedders-bench-{}.json", std::process::id()));
    let sets = json!({"sentences": corpus.sentences, "code_chunks": corpus.code,
                      "edge_cases": corpus.edge});
    std::fs::write(&path, sets.to_string()).unwrap();
    path
}

fn run_st(python: &str, args: &[&str], threads: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("st_side.py");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .env("OMP_NUM_THREADS", threads)
        .env("MKL_NUM_THREADS", threads)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

fn st_vectors(python: &str, model: &Path, corpus: &Corpus) -> Value {
    let input = st_input(corpus);
    let v = run_st(
        python,
        &["vectors", model.to_str().unwrap(), input.to_str().unwrap()],
        "2",
    );
    std::fs::remove_file(input).ok();
    v
}

fn st_speed(python: &str, model: &Path, corpus: &Corpus, rounds: usize) -> Value {
    let input = st_input(corpus);
    let mut out = serde_json::Map::new();
    for threads in ["1", "2"] {
        let v = run_st(
            python,
            &[
                "speed",
                model.to_str().unwrap(),
                input.to_str().unwrap(),
                &rounds.to_string(),
                threads,
            ],
            threads,
        );
        out.insert(threads.into(), v);
    }
    std::fs::remove_file(input).ok();
    Value::Object(out)
}

/// One thread setting, in a process of its own: "1" (one thread each),
/// "2-workers" (two threads, each embedding its own batches, as `index
/// sync`'s embed workers and `install model`'s distillation do; candle with
/// one rayon thread per process) or "2-intra" (candle alone, two rayon
/// threads inside each product; the hand-written encoder has no such mode).
fn encoder_speed(model: &Path, setting: &str, rounds: usize) -> Value {
    let corpus = Corpus::build();
    let hand = MiniLm::load(model).unwrap();
    let candle = Candle::load(model);
    let mut out = serde_json::Map::new();
    for (name, texts, batches) in [
        ("sentences", &corpus.sentences, 8),
        ("code_chunks", &corpus.code, 2),
    ] {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let batches: Vec<&[&str]> = texts.chunks(BATCH).take(batches).collect();
        let n: usize = batches.iter().map(|b| b.len()).sum();
        let tokens = |t: &&str| hand.tokenizer().encode(t, MAX_TOKENS).len();
        let total_tokens: usize = batches.iter().flat_map(|b| b.iter()).map(tokens).sum();
        // The same texts sorted by length before batching, as
        // sentence-transformers does, so a padded batch wastes little.
        let mut by_length: Vec<&str> = batches.iter().flat_map(|b| b.iter().copied()).collect();
        by_length.sort_by_key(tokens);
        let sorted: Vec<&[&str]> = by_length.chunks(BATCH).collect();
        let workers = if setting == "2-workers" { 2 } else { 1 };
        let run = |batches: &[&[&str]], f: &(dyn Fn(&[&str]) -> Vec<Vec<f32>> + Sync)| -> f64 {
            let t = Instant::now();
            std::thread::scope(|s| {
                for w in 0..workers {
                    s.spawn(move || {
                        for b in batches.iter().skip(w).step_by(workers) {
                            std::hint::black_box(f(b));
                        }
                    });
                }
            });
            t.elapsed().as_secs_f64()
        };
        // One untimed pass each: page cache, allocator, rayon's pool.
        run(&batches, &|t| hand.embed(t));
        run(&batches, &|t| candle.embed(t));
        let (mut h, mut c, mut cs) = (Vec::new(), Vec::new(), Vec::new());
        let load_before = loadavg();
        for _ in 0..rounds {
            if setting != "2-intra" {
                h.push(run(&batches, &|t| hand.embed(t)));
            }
            c.push(run(&batches, &|t| candle.embed(t)));
            cs.push(run(&sorted, &|t| candle.embed(t)));
        }
        let figures = |secs: Vec<f64>| {
            if secs.is_empty() {
                return Value::Null;
            }
            let m = median(secs.clone());
            json!({"median_s": m, "sentences_per_s": n as f64 / m,
                   "ms_per_batch": m * 1000.0 / batches.len() as f64 * workers as f64,
                   "runs_s": secs})
        };
        out.insert(
            name.into(),
            json!({"texts": n, "batches": batches.len(), "tokens": total_tokens,
                   "load_before": load_before, "load_after": loadavg(),
                   "hand_written": figures(h), "candle": figures(c),
                   "candle_sorted_by_length": figures(cs)}),
        );
    }
    Value::Object(out)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn chrono_now() -> String {
    let out = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%dT%H:%M:%SZ")
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("");
    let simd: Vec<&str> = ["avx2", "fma", "avx512f"]
        .into_iter()
        .filter(|f| flags.split_whitespace().any(|x| x == *f))
        .collect();
    json!({"cpu": model, "simd": simd,
           "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)})
}
