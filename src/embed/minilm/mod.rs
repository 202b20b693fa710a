//! all-MiniLM-L6-v2 on the CPU: a six-layer BERT encoder, mean pooling and L2
//! normalization, as sentence-transformers runs it.
//!
//! The weights stay in the memory-mapped safetensors file (the page cache
//! shares them between processes); every Linear of a batch is one SGEMM over
//! the token rows of all its sequences laid end to end, so sequences of
//! different lengths need no padding, and only attention runs per sequence.
//!
//! Written by hand rather than taken from candle-transformers' BERT: at equal
//! output it runs 1.9-2.7 times as fast as candle at its best, on one core and
//! on two (docs/benchmarks/embedders.md, `bench/embedders`).

mod math;
mod weights;

use super::wordpiece::WordPiece;
use crate::base::error::HostResult;
use math::{add_assign, gelu, gemm, layer_norm, mean_normalized, softmax, Mat, MatMut};
use std::path::Path;
use weights::{Dims, Embeddings, Layer, Linear, Weights};

/// Token rows per forward pass: enough for each Linear to run at full SGEMM
/// speed, few enough that a batch's activations stay near 30 MB.
const GROUP_TOKENS: usize = 2048;

pub struct MiniLm {
    tokenizer: WordPiece,
    dims: Dims,
    weights: Weights,
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl MiniLm {
    /// Loads a sentence-transformers BERT model folder (all-MiniLM-L6-v2's
    /// layout).
    pub fn load(dir: &Path) -> HostResult<MiniLm> {
        weights::load(dir)
    }

    pub fn dims(&self) -> usize {
        self.dims.hidden
    }

    pub fn max_tokens(&self) -> usize {
        self.dims.max_tokens
    }

    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// L2-normalized sentence vectors, texts cut at `max_tokens` tokens.
    pub fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let seqs: Vec<Vec<u32>> = texts
            .iter()
            .map(|text| self.tokenizer.encode(text, self.dims.max_tokens))
            .collect();
        self.embed_ids(&seqs)
    }

    /// The same from token ids (with their own `[CLS]`/`[SEP]`). Sequences are
    /// cut at `max_tokens`, ids outside the vocabulary read as `[UNK]`, and an
    /// empty sequence gives the zero vector.
    pub fn embed_ids(&self, seqs: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let mut out = Vec::with_capacity(seqs.len());
        let mut act = Activations::default();
        let mut group: Vec<&[u32]> = Vec::new();
        let mut tokens = 0;
        for seq in seqs {
            let seq = &seq[..seq.len().min(self.dims.max_tokens)];
            if tokens + seq.len() > GROUP_TOKENS && !group.is_empty() {
                self.forward(&group, &mut act, &mut out);
                group.clear();
                tokens = 0;
            }
            group.push(seq);
            tokens += seq.len();
        }
        if !group.is_empty() {
            self.forward(&group, &mut act, &mut out);
        }
        out
    }

    /// Runs the encoder over `seqs` laid end to end and appends one pooled
    /// vector per sequence.
    fn forward(&self, seqs: &[&[u32]], act: &mut Activations, out: &mut Vec<Vec<f32>>) {
        let d = self.dims;
        let w = self.weights.floats();
        let rows: usize = seqs.iter().map(|s| s.len()).sum();
        act.prepare(rows, &d);
        self.embed_tokens(w, seqs, &mut act.x[..rows * d.hidden]);
        for layer in &self.layers {
            self.layer(w, layer, seqs, act, rows);
        }
        let mut at = 0;
        for seq in seqs {
            let hidden = &act.x[at * d.hidden..(at + seq.len()) * d.hidden];
            out.push(mean_normalized(hidden, d.hidden));
            at += seq.len();
        }
    }

    fn embed_tokens(&self, w: &[f32], seqs: &[&[u32]], x: &mut [f32]) {
        let h = self.dims.hidden;
        let e = &self.embeddings;
        let (word, position) = (e.word.of(w), e.position.of(w));
        let token_type = &e.token_type.of(w)[..h];
        let mut rows = x.chunks_exact_mut(h);
        for seq in seqs {
            for (pos, (&id, row)) in seq.iter().zip(&mut rows).enumerate() {
                let id = if (id as usize) < self.dims.vocab {
                    id as usize
                } else {
                    self.tokenizer.unk() as usize
                };
                let word = &word[id * h..(id + 1) * h];
                let position = &position[pos * h..(pos + 1) * h];
                for (i, v) in row.iter_mut().enumerate() {
                    *v = word[i] + position[i] + token_type[i];
                }
            }
        }
        layer_norm(x, e.norm.weight.of(w), e.norm.bias.of(w), self.dims.eps);
    }

    /// One post-LayerNorm BERT layer, in place on `act.x`.
    fn layer(&self, w: &[f32], l: &Layer, seqs: &[&[u32]], act: &mut Activations, rows: usize) {
        let d = self.dims;
        let (n, eps) = (rows * d.hidden, d.eps);
        linear(w, &l.query, &act.x[..n], &mut act.q[..n]);
        linear(w, &l.key, &act.x[..n], &mut act.k[..n]);
        linear(w, &l.value, &act.x[..n], &mut act.v[..n]);
        let mut at = 0;
        for seq in seqs {
            attend(&d, act, at, seq.len());
            at += seq.len();
        }
        linear(w, &l.attention_out, &act.ctx[..n], &mut act.tmp[..n]);
        add_assign(&mut act.x[..n], &act.tmp[..n]);
        let norm = &l.attention_norm;
        layer_norm(&mut act.x[..n], norm.weight.of(w), norm.bias.of(w), eps);

        let up = &mut act.up[..rows * d.inter];
        linear(w, &l.up, &act.x[..n], up);
        for v in up.iter_mut() {
            *v = gelu(*v);
        }
        linear(w, &l.down, up, &mut act.tmp[..n]);
        add_assign(&mut act.x[..n], &act.tmp[..n]);
        let norm = &l.output_norm;
        layer_norm(&mut act.x[..n], norm.weight.of(w), norm.bias.of(w), eps);
    }
}

/// Scaled dot-product attention of the `len` rows from `at`, head by head,
/// into `act.ctx`. No mask: nothing is padded.
fn attend(d: &Dims, act: &mut Activations, at: usize, len: usize) {
    if len == 0 {
        return;
    }
    let h = d.hidden;
    let scale = 1.0 / (d.head_dim as f32).sqrt();
    let scores = &mut act.scores[..len * len];
    for head in 0..d.heads {
        let origin = at * h + head * d.head_dim;
        let q = Mat::new(&act.q[origin..], len, d.head_dim, h, 1);
        let k = Mat::new(&act.k[origin..], len, d.head_dim, h, 1);
        gemm(scale, q, k.t(), 0.0, MatMut::new(scores, len, len, len, 1));
        for row in scores.chunks_exact_mut(len) {
            softmax(row);
        }
        let p = Mat::new(&*scores, len, len, len, 1);
        let v = Mat::new(&act.v[origin..], len, d.head_dim, h, 1);
        let ctx = MatMut::new(&mut act.ctx[origin..], len, d.head_dim, h, 1);
        gemm(1.0, p, v, 0.0, ctx);
    }
}

/// y = x·Wᵀ + b for every row of `x`.
fn linear(w: &[f32], lin: &Linear, x: &[f32], y: &mut [f32]) {
    let rows = x.len() / lin.inputs;
    let bias = lin.bias.of(w);
    y.chunks_exact_mut(lin.outputs)
        .for_each(|row| row.copy_from_slice(bias));
    let weight = Mat::new(lin.weight.of(w), lin.outputs, lin.inputs, lin.inputs, 1);
    let x = Mat::new(x, rows, lin.inputs, lin.inputs, 1);
    let y = MatMut::new(y, rows, lin.outputs, lin.outputs, 1);
    gemm(1.0, x, weight.t(), 1.0, y);
}

/// Scratch for one forward pass, reused across the groups of a call.
#[derive(Default)]
struct Activations {
    x: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    up: Vec<f32>,
    scores: Vec<f32>,
}

impl Activations {
    /// Grows the buffers for `rows` tokens; what they hold is overwritten
    /// before it is read, so they are not cleared.
    fn prepare(&mut self, rows: usize, d: &Dims) {
        let grow = |buf: &mut Vec<f32>, len: usize| {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        };
        for buf in [
            &mut self.x,
            &mut self.q,
            &mut self.k,
            &mut self.v,
            &mut self.ctx,
            &mut self.tmp,
        ] {
            grow(buf, rows * d.hidden);
        }
        grow(&mut self.up, rows * d.inter);
        grow(&mut self.scores, d.max_tokens * d.max_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::testing::{self, TINY_HIDDEN, TINY_MAX_TOKENS};

    /// The installed model; None (the test skips) where it is not installed.
    fn installed() -> Option<MiniLm> {
        let dir = testing::installed_model(&weights::REQUIRED_FILES)?;
        match MiniLm::load(&dir) {
            Ok(model) => Some(model),
            Err(e) => panic!("cannot load {}: {} ({})", dir.display(), e.message, e.hint),
        }
    }

    /// A two-layer model with random weights, for what does not depend on
    /// the real weights; the folder lives as long as the test.
    fn tiny() -> (MiniLm, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        testing::tiny_model(dir.path());
        (MiniLm::load(dir.path()).expect("the tiny model loads"), dir)
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<MiniLm>();
    }

    #[test]
    fn reproduces_published_similarities() {
        let Some(model) = installed() else { return };
        assert_eq!(model.dims(), 384);
        assert_eq!(model.max_tokens(), 256);
        let v = model.embed(&[
            "The weather is lovely today.",
            "It's so sunny outside!",
            "He drove to the stadium.",
        ]);
        let expected = [
            [1.0, 0.6660, 0.1046],
            [0.6660, 1.0, 0.1411],
            [0.1046, 0.1411, 1.0],
        ];
        for i in 0..3 {
            for j in 0..3 {
                let sim = dot(&v[i], &v[j]);
                assert!(
                    (sim - expected[i][j]).abs() < 1e-3,
                    "similarity ({i},{j}) is {sim}, expected {}",
                    expected[i][j]
                );
            }
        }
    }

    #[test]
    fn vectors_are_unit_length() {
        let (model, _dir) = tiny();
        assert_eq!(model.dims(), TINY_HIDDEN);
        assert_eq!(model.max_tokens(), TINY_MAX_TOKENS);
        for v in model.embed(&["the", "fn main() { so sunny! }", "", "unknown words"]) {
            assert_eq!(v.len(), TINY_HIDDEN);
            assert!((dot(&v, &v).sqrt() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn batch_equals_one_by_one() {
        let (model, _dir) = tiny();
        let long = "the weather is lovely today. ".repeat(10);
        let texts = ["so", long.as_str(), "it's sunny!"];
        let batch = model.embed(&texts);
        for (text, together) in texts.iter().zip(&batch) {
            let diff = max_diff(&model.embed(&[text])[0], together);
            assert!(diff < 1e-5, "{text:?} differs by {diff}");
        }
        // Enough texts that they take more than one forward pass.
        let many: Vec<String> = (0..GROUP_TOKENS / 4)
            .map(|i| "the sunny weather ".repeat(i % 5))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let together = model.embed(&many);
        assert_eq!(together.len(), many.len());
        for i in [0, 1, many.len() / 2, many.len() - 1] {
            let diff = max_diff(&model.embed(&[many[i]])[0], &together[i]);
            assert!(diff < 1e-5, "text {i} differs by {diff}");
        }
    }

    #[test]
    fn long_texts_are_cut_at_max_tokens() {
        let (model, _dir) = tiny();
        let long = "the weather is lovely today ".repeat(5);
        let ids = model.tokenizer().encode(&long, model.max_tokens());
        assert_eq!(ids.len(), TINY_MAX_TOKENS);
        let cut = model.embed_ids(std::slice::from_ref(&ids));
        let longer = [ids.clone(), ids].concat();
        assert!(max_diff(&cut[0], &model.embed_ids(&[longer])[0]) < 1e-6);
        assert!(max_diff(&cut[0], &model.embed(&[long.as_str()])[0]) < 1e-6);
    }

    #[test]
    fn ids_match_text_and_tolerate_odd_input() {
        let (model, _dir) = tiny();
        let tok = model.tokenizer();
        let (cls, sep, unk) = (tok.cls(), tok.sep(), tok.unk());
        let text = "It's so sunny!";
        let ids = tok.encode(text, model.max_tokens());
        let from_ids = model.embed_ids(&[ids, vec![], vec![cls, u32::MAX, sep]]);
        assert!(max_diff(&from_ids[0], &model.embed(&[text])[0]) < 1e-5);
        assert!(from_ids[1].iter().all(|&v| v == 0.0));
        let unk = model.embed_ids(&[vec![cls, unk, sep]]);
        assert!(max_diff(&from_ids[2], &unk[0]) < 1e-5);
    }

    #[test]
    fn missing_model_names_the_install_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = MiniLm::load(dir.path()).err().expect("load fails");
        assert_eq!(err.category, crate::base::error::Category::FileSystem);
        assert!(err.hint.contains("elysiactl install model"));
        assert!(err.message.contains("model.safetensors"));
    }
}
