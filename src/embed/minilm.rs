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

use super::wordpiece::WordPiece;
use crate::base::error::{HostError, HostResult};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use std::fs::File;
use std::path::Path;

const INSTALL_HINT: &str = "run `elysiactl install model`";
const REQUIRED_FILES: [&str; 3] = ["config.json", "model.safetensors", "vocab.txt"];

/// Token rows per forward pass: enough for each Linear to run at full SGEMM
/// speed, few enough that a batch's activations stay near 30 MB.
const GROUP_TOKENS: usize = 2048;

/// sentence-transformers' default when a model does not say.
const DEFAULT_MAX_SEQ_LENGTH: usize = 256;

#[derive(Deserialize)]
struct BertConfig {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    layer_norm_eps: f32,
    hidden_act: String,
    max_position_embeddings: usize,
    vocab_size: usize,
    #[serde(default = "default_type_vocab_size")]
    type_vocab_size: usize,
}

fn default_type_vocab_size() -> usize {
    2
}

#[derive(Deserialize)]
struct SentenceConfig {
    max_seq_length: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Clone, Copy)]
struct Dims {
    hidden: usize,
    heads: usize,
    head_dim: usize,
    inter: usize,
    eps: f32,
    vocab: usize,
    max_tokens: usize,
}

/// A tensor's place in the weights, in floats.
#[derive(Clone, Copy)]
struct Span {
    at: usize,
    len: usize,
}

impl Span {
    fn of(self, weights: &[f32]) -> &[f32] {
        &weights[self.at..self.at + self.len]
    }
}

/// A PyTorch Linear: `weight` is [out, in], y = x·Wᵀ + b.
struct Linear {
    weight: Span,
    bias: Span,
    inputs: usize,
    outputs: usize,
}

struct Norm {
    weight: Span,
    bias: Span,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    output_norm: Norm,
}

struct Embeddings {
    word: Span,
    position: Span,
    token_type: Span,
    norm: Norm,
}

/// The weights as floats: in place in the map when the file's tensors are
/// 4-byte aligned in it and the machine is little-endian like the format,
/// otherwise decoded once into memory.
enum Weights {
    Mapped(Mmap),
    Owned(Vec<f32>),
}

impl Weights {
    /// `phase` is where float 0 starts in the file; spans count from there.
    fn new(map: Mmap, phase: usize) -> Weights {
        let aligned = map.as_ptr().cast::<f32>().is_aligned();
        if phase == 0 && aligned && cfg!(target_endian = "little") {
            return Weights::Mapped(map);
        }
        let floats = map[phase..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Weights::Owned(floats)
    }

    fn floats(&self) -> &[f32] {
        match self {
            Weights::Owned(floats) => floats,
            Weights::Mapped(map) => {
                // SAFETY: `new` only keeps the map when its start is aligned
                // for f32 and the target is little-endian; the length is cut to
                // whole floats, and every bit pattern is a valid f32. The map
                // lives as long as `self`.
                unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<f32>(), map.len() / 4) }
            }
        }
    }
}

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
        check_files(dir)?;
        let config: BertConfig = read_json(&dir.join("config.json"))?;
        check_pooling(dir)?;
        let dims = dims_of(&config, max_seq_length(dir)?)?;
        let tokenizer = WordPiece::from_vocab_file(&dir.join("vocab.txt"))?;
        if tokenizer.vocab_size() != dims.vocab {
            return Err(HostError::validation(format!(
                "{}: vocab.txt has {} tokens, config.json says {}",
                dir.display(),
                tokenizer.vocab_size(),
                dims.vocab
            )));
        }
        let path = dir.join("model.safetensors");
        let file = File::open(&path)
            .map_err(|e| HostError::io(format!("opening {}", path.display()), e))?;
        // SAFETY: a map is only sound while nobody truncates or rewrites the
        // file. The model folder belongs to `install model`, which removes and
        // renames rather than writing into files, and the map of an unlinked
        // file stays valid.
        let map = unsafe { Mmap::map(&file) }
            .map_err(|e| HostError::io(format!("mapping {}", path.display()), e))?;
        let loader = Loader::new(&map, &path)?;
        let embeddings = loader.embeddings(&config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| loader.layer(i, &dims))
            .collect::<HostResult<Vec<_>>>()?;
        let phase = loader.phase;
        Ok(MiniLm {
            tokenizer,
            dims,
            weights: Weights::new(map, phase),
            embeddings,
            layers,
        })
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

fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// LayerNorm over each row (as long as `gamma`), with the biased variance.
fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = gamma.len() as f32;
    for row in x.chunks_exact_mut(gamma.len()) {
        let mean = sum_of(row, |v| v) / n;
        let var = sum_of(row, |v| (v - mean) * (v - mean)) / n;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

fn softmax(row: &mut [f32]) {
    let max = max_of(row);
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = 1.0 / sum_of(row, |v| v);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Σ f(x) in eight interleaved partial sums: a single running float sum is a
/// dependency chain the compiler may not reorder, so it would not vectorize.
#[inline(always)]
fn sum_of(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += f(x);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    lanes.iter().sum::<f32>() + tail
}

fn max_of(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(x);
        }
    }
    let lanes = lanes.into_iter().chain(chunks.remainder().iter().copied());
    lanes.fold(f32::NEG_INFINITY, f32::max)
}

/// e^x, inlined so that the softmax and GELU loops vectorize (`f32::exp` is a
/// libm call per element, a tenth of the encoder's time). Rounds x/ln2 to n,
/// takes a degree-6 Taylor polynomial of the remainder (|r| ≤ ln2/2, relative
/// error ~2e-7) and scales by 2^n through the exponent bits. Clamped to the
/// normal range, so large negative x give ~1e-38 instead of 0.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Adding 1.5·2^23 leaves n = round(x/ln2) as the integer in the low
    // mantissa bits; reading it from there avoids a float-to-int conversion,
    // which does not vectorize.
    const ROUND: f32 = 12_582_912.0;
    // ln 2 in two parts, the first with few enough bits that n·LN2_HIGH is exact.
    const LN2_HIGH: f32 = 355.0 / 512.0;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    // Taylor series of e^r; Horner written out, as an iterator fold costs a
    // call per step in debug builds, where the model tests run.
    let poly = 1.0
        + r * (1.0
            + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r / 720.0)))));
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    poly * f32::from_bits(biased << 23)
}

/// GELU with the exact normal CDF, x·Φ(x), as BERT's `gelu` is. Φ comes from
/// erfc(|x|/√2) so that the negative side, where Φ is tiny, loses nothing to
/// cancellation.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    let tail = 0.5 * erfc_positive(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    x * if x < 0.0 { tail } else { 1.0 - tail }
}

/// erfc(z) for z ≥ 0 by Abramowitz & Stegun 7.1.26 (error below 1.5e-7).
#[inline(always)]
fn erfc_positive(z: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    let t = 1.0 / (1.0 + P * z);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    poly * exp(-z * z)
}

/// Mean over the token rows, then L2 normalized as sentence-transformers'
/// `Normalize` does (norm clamped at 1e-12).
fn mean_normalized(rows: &[f32], hidden: usize) -> Vec<f32> {
    let mut mean = vec![0.0f32; hidden];
    let count = rows.len() / hidden;
    if count == 0 {
        return mean;
    }
    for row in rows.chunks_exact(hidden) {
        add_assign(&mut mean, row);
    }
    let inv_count = 1.0 / count as f32;
    mean.iter_mut().for_each(|v| *v *= inv_count);
    let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
    let scale = 1.0 / norm.max(1e-12);
    mean.iter_mut().for_each(|v| *v *= scale);
    mean
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

/// A strided matrix view; `new` checks that it lies within its slice, which is
/// what makes the SGEMM call below sound.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        assert!(fits(data.len(), rows, cols, row_stride, col_stride));
        Mat {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatMut<'a> {
    fn new(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        assert!(fits(data.len(), rows, cols, row_stride, col_stride));
        MatMut {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }
}

fn fits(len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
}

/// C = alpha·A·B + beta·C (C is not read when beta is 0).
fn gemm(alpha: f32, a: Mat, b: Mat, beta: f32, c: MatMut) {
    assert!(a.cols == b.rows && a.rows == c.rows && b.cols == c.cols);
    if c.rows == 0 || c.cols == 0 {
        return;
    }
    let stride = |s: usize| s as isize;
    // SAFETY: every view was checked by its constructor to lie inside its
    // slice, the shapes agree, and C is a unique borrow that cannot alias A or B.
    unsafe {
        matrixmultiply::sgemm(
            a.rows,
            a.cols,
            b.cols,
            alpha,
            a.data.as_ptr(),
            stride(a.row_stride),
            stride(a.col_stride),
            b.data.as_ptr(),
            stride(b.row_stride),
            stride(b.col_stride),
            beta,
            c.data.as_mut_ptr(),
            stride(c.row_stride),
            stride(c.col_stride),
        );
    }
}

fn check_files(dir: &Path) -> HostResult<()> {
    let missing: Vec<&str> = REQUIRED_FILES
        .into_iter()
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(HostError::fs(format!(
        "the embedding model is not installed: {} missing in {}",
        missing.join(", "),
        dir.display()
    ))
    .with_hint(INSTALL_HINT))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> HostResult<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| HostError::io(format!("reading {}", path.display()), e))?;
    serde_json::from_str(&text)
        .map_err(|e| HostError::validation(format!("{}: {e}", path.display())))
}

fn max_seq_length(dir: &Path) -> HostResult<usize> {
    let path = dir.join("sentence_bert_config.json");
    if !path.is_file() {
        return Ok(DEFAULT_MAX_SEQ_LENGTH);
    }
    Ok(read_json::<SentenceConfig>(&path)?.max_seq_length)
}

/// Only mean pooling is implemented; another mode would give vectors that
/// look fine and rank badly.
fn check_pooling(dir: &Path) -> HostResult<()> {
    let path = dir.join("1_Pooling/config.json");
    if !path.is_file() {
        return Ok(());
    }
    let p: PoolingConfig = read_json(&path)?;
    let mean_only = p.pooling_mode_mean_tokens
        && !p.pooling_mode_cls_token
        && !p.pooling_mode_max_tokens
        && !p.pooling_mode_mean_sqrt_len_tokens;
    if mean_only {
        return Ok(());
    }
    Err(HostError::validation(format!(
        "{}: only mean pooling is supported",
        path.display()
    )))
}

fn dims_of(c: &BertConfig, max_seq_length: usize) -> HostResult<Dims> {
    if c.hidden_act != "gelu" {
        return Err(HostError::validation(format!(
            "config.json: hidden_act {:?} is not supported (only \"gelu\")",
            c.hidden_act
        )));
    }
    if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
        return Err(HostError::validation(format!(
            "config.json: hidden_size {} does not split into {} heads",
            c.hidden_size, c.num_attention_heads
        )));
    }
    if c.type_vocab_size == 0 {
        return Err(HostError::validation("config.json: type_vocab_size is 0"));
    }
    Ok(Dims {
        hidden: c.hidden_size,
        heads: c.num_attention_heads,
        head_dim: c.hidden_size / c.num_attention_heads,
        inter: c.intermediate_size,
        eps: c.layer_norm_eps,
        vocab: c.vocab_size,
        max_tokens: max_seq_length.min(c.max_position_embeddings),
    })
}

/// Finds tensors in the safetensors file and checks their type and shape.
struct Loader<'a> {
    file: &'a [u8],
    tensors: SafeTensors<'a>,
    path: &'a Path,
    /// Byte offset of the data section modulo 4: float i of the weights is at
    /// byte `phase + 4 * i`.
    phase: usize,
}

impl<'a> Loader<'a> {
    fn new(file: &'a [u8], path: &'a Path) -> HostResult<Loader<'a>> {
        let invalid = |e: safetensors::SafeTensorError| {
            HostError::validation(format!("{}: {e}", path.display()))
        };
        let (header_len, _) = SafeTensors::read_metadata(file).map_err(invalid)?;
        let tensors = SafeTensors::deserialize(file).map_err(invalid)?;
        Ok(Loader {
            file,
            tensors,
            path,
            phase: (8 + header_len) % 4,
        })
    }

    fn tensor(&self, name: &str, shape: &[usize]) -> HostResult<Span> {
        let invalid = |what: String| {
            HostError::validation(format!("{}: tensor `{name}` {what}", self.path.display()))
        };
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| invalid("is missing".into()))?;
        if view.dtype() != Dtype::F32 {
            return Err(invalid(format!("is {:?}, expected F32", view.dtype())));
        }
        if view.shape() != shape {
            return Err(invalid(format!(
                "has shape {:?}, expected {shape:?}",
                view.shape()
            )));
        }
        let offset = view.data().as_ptr() as usize - self.file.as_ptr() as usize;
        if offset % 4 != self.phase {
            return Err(invalid("is not aligned to whole floats".into()));
        }
        Ok(Span {
            at: (offset - self.phase) / 4,
            len: view.data().len() / 4,
        })
    }

    fn linear(&self, prefix: &str, outputs: usize, inputs: usize) -> HostResult<Linear> {
        Ok(Linear {
            weight: self.tensor(&format!("{prefix}.weight"), &[outputs, inputs])?,
            bias: self.tensor(&format!("{prefix}.bias"), &[outputs])?,
            inputs,
            outputs,
        })
    }

    fn norm(&self, prefix: &str, dim: usize) -> HostResult<Norm> {
        Ok(Norm {
            weight: self.tensor(&format!("{prefix}.weight"), &[dim])?,
            bias: self.tensor(&format!("{prefix}.bias"), &[dim])?,
        })
    }

    fn embeddings(&self, c: &BertConfig) -> HostResult<Embeddings> {
        let h = c.hidden_size;
        Ok(Embeddings {
            word: self.tensor("embeddings.word_embeddings.weight", &[c.vocab_size, h])?,
            position: self.tensor(
                "embeddings.position_embeddings.weight",
                &[c.max_position_embeddings, h],
            )?,
            token_type: self.tensor(
                "embeddings.token_type_embeddings.weight",
                &[c.type_vocab_size, h],
            )?,
            norm: self.norm("embeddings.LayerNorm", h)?,
        })
    }

    fn layer(&self, index: usize, d: &Dims) -> HostResult<Layer> {
        let p = format!("encoder.layer.{index}");
        let (h, inter) = (d.hidden, d.inter);
        Ok(Layer {
            query: self.linear(&format!("{p}.attention.self.query"), h, h)?,
            key: self.linear(&format!("{p}.attention.self.key"), h, h)?,
            value: self.linear(&format!("{p}.attention.self.value"), h, h)?,
            attention_out: self.linear(&format!("{p}.attention.output.dense"), h, h)?,
            attention_norm: self.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
            up: self.linear(&format!("{p}.intermediate.dense"), inter, h)?,
            down: self.linear(&format!("{p}.output.dense"), h, inter)?,
            output_norm: self.norm(&format!("{p}.output.LayerNorm"), h)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::testing::{self, TINY_HIDDEN, TINY_MAX_TOKENS};

    /// The installed model; None (the test skips) where it is not installed.
    fn installed() -> Option<MiniLm> {
        let dir = testing::installed_model(&REQUIRED_FILES)?;
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
    fn exp_and_gelu_are_accurate() {
        for i in -8000..=8000 {
            let x = i as f32 / 100.0;
            let exact = f64::from(x).exp();
            let rel = ((f64::from(exp(x)) - exact) / exact).abs();
            assert!(rel < 5e-7, "exp({x}) off by {rel}");
        }
        // x·Φ(x) from the normal CDF table.
        for (x, y) in [
            (1.0, 0.841_344_7),
            (-1.0, -0.158_655_3),
            (0.5, 0.345_731_3),
            (-3.0, -0.004_049_7),
            (0.0, 0.0),
        ] {
            assert!((gelu(x) - y).abs() < 1e-6, "gelu({x}) = {}", gelu(x));
        }
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
