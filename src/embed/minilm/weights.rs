//! Weight loading: the model folder's files and configs checked, and every
//! tensor found in the memory-mapped safetensors file, its type and shape
//! checked, as a span of floats the encoder reads in place.

use super::MiniLm;
use crate::base::error::{HostError, HostResult};
use crate::embed::wordpiece::WordPiece;
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use std::fs::File;
use std::path::Path;

const INSTALL_HINT: &str = "run `elysiactl install model`";
pub(super) const REQUIRED_FILES: [&str; 3] = ["config.json", "model.safetensors", "vocab.txt"];

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
pub(super) struct Dims {
    pub(super) hidden: usize,
    pub(super) heads: usize,
    pub(super) head_dim: usize,
    pub(super) inter: usize,
    pub(super) eps: f32,
    pub(super) vocab: usize,
    pub(super) max_tokens: usize,
}

/// A tensor's place in the weights, in floats.
#[derive(Clone, Copy)]
pub(super) struct Span {
    pub(super) at: usize,
    pub(super) len: usize,
}

impl Span {
    pub(super) fn of(self, weights: &[f32]) -> &[f32] {
        &weights[self.at..self.at + self.len]
    }
}

/// A PyTorch Linear: `weight` is [out, in], y = x·Wᵀ + b.
pub(super) struct Linear {
    pub(super) weight: Span,
    pub(super) bias: Span,
    pub(super) inputs: usize,
    pub(super) outputs: usize,
}

pub(super) struct Norm {
    pub(super) weight: Span,
    pub(super) bias: Span,
}

pub(super) struct Layer {
    pub(super) query: Linear,
    pub(super) key: Linear,
    pub(super) value: Linear,
    pub(super) attention_out: Linear,
    pub(super) attention_norm: Norm,
    pub(super) up: Linear,
    pub(super) down: Linear,
    pub(super) output_norm: Norm,
}

pub(super) struct Embeddings {
    pub(super) word: Span,
    pub(super) position: Span,
    pub(super) token_type: Span,
    pub(super) norm: Norm,
}

/// The weights as floats: in place in the map when the file's tensors are
/// 4-byte aligned in it and the machine is little-endian like the format,
/// otherwise decoded once into memory.
pub(super) enum Weights {
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

    pub(super) fn floats(&self) -> &[f32] {
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

/// Loads a sentence-transformers BERT model folder (all-MiniLM-L6-v2's
/// layout).
pub(super) fn load(dir: &Path) -> HostResult<MiniLm> {
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
    let file =
        File::open(&path).map_err(|e| HostError::io(format!("opening {}", path.display()), e))?;
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
