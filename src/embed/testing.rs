//! For the embedders' unit tests: the installed model when a test needs its
//! real weights or vocabulary, and a tiny BERT built on the spot for the
//! tests that only need the encoder's machinery, so those run on a fresh
//! checkout.

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::path::{Path, PathBuf};

/// The installed all-MiniLM-L6-v2 folder, when `elysiactl install model` has
/// put `files` in it. Missing, a test prints a `SKIPPED:` line and returns;
/// under CI (`CI` or `ELYSIACTL_TEST_REQUIRE_ALL` set) it fails instead, as
/// the stack tests do with their prerequisites.
pub fn installed_model(files: &[&str]) -> Option<PathBuf> {
    let dir = super::model_dir();
    let missing: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    require(
        &format!("{} in {}", missing.join(", "), dir.display()),
        missing.is_empty(),
    )
    .then_some(dir)
}

/// The installed static table and the model's vocabulary, on the same terms.
pub fn installed_static_table() -> Option<(PathBuf, PathBuf)> {
    let table = super::static_table_path();
    let vocab = installed_model(&["vocab.txt"])?.join("vocab.txt");
    require(&table.display().to_string(), table.is_file()).then_some((table, vocab))
}

fn require(what: &str, present: bool) -> bool {
    crate::base::testing::require(what, present, "elysiactl install model")
}

/// The tiny model's vocabulary: the special tokens where BERT has them
/// relative to each other, a few words and continuations.
pub const TINY_VOCAB: [&str; 24] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "weather", "is", "lovely", "today", ".",
    "it", "'", "s", "so", "sunny", "##y", "fn", "main", "(", ")", "{", "}", "!",
];
pub const TINY_HIDDEN: usize = 8;
/// Short, so that truncation and the grouping of sequences into forward
/// passes are reached with little text.
pub const TINY_MAX_TOKENS: usize = 12;

/// Writes a two-layer BERT (hidden 8, two heads) with seeded random weights
/// in the layout of all-MiniLM-L6-v2's folder.
pub fn tiny_model(dir: &Path) {
    let (h, inter, layers, positions) = (TINY_HIDDEN, 16, 2, 32);
    let file = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
    file(
        "config.json",
        serde_json::json!({
            "hidden_size": h, "num_attention_heads": 2, "num_hidden_layers": layers,
            "intermediate_size": inter, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
            "max_position_embeddings": positions, "vocab_size": TINY_VOCAB.len(),
            "type_vocab_size": 2,
        })
        .to_string(),
    );
    file(
        "sentence_bert_config.json",
        format!("{{\"max_seq_length\": {TINY_MAX_TOKENS}}}"),
    );
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    file(
        "1_Pooling/config.json",
        "{\"pooling_mode_mean_tokens\": true}".into(),
    );
    file("vocab.txt", TINY_VOCAB.join("\n"));

    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![TINY_VOCAB.len(), h],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![positions, h],
        ),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for i in 0..layers {
        let p = format!("encoder.layer.{i}");
        for (name, out, inp) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", inter, h),
            ("output.dense", h, inter),
        ] {
            shapes.push((format!("{p}.{name}.weight"), vec![out, inp]));
            shapes.push((format!("{p}.{name}.bias"), vec![out]));
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            shapes.push((format!("{p}.{norm}.weight"), vec![h]));
            shapes.push((format!("{p}.{norm}.bias"), vec![h]));
        }
    }
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(name, shape)| {
            let scale = if name.ends_with("LayerNorm.weight") {
                0.1
            } else {
                0.5
            };
            let base = if name.ends_with("LayerNorm.weight") {
                1.0
            } else {
                0.0
            };
            (0..shape.iter().product::<usize>())
                .flat_map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let unit = (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                    (base + scale * unit).to_le_bytes()
                })
                .collect()
        })
        .collect();
    let views = shapes.iter().zip(&data).map(|((name, shape), bytes)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap();
        (name.clone(), view)
    });
    let bytes = safetensors::serialize(views, &None).unwrap();
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
}
