//! The static embedder: one vector per WordPiece token, made once by running
//! every token of the vocabulary through all-MiniLM-L6-v2 on its own (the
//! model2vec idea). Embedding a text is then tokenizing it and averaging
//! rows of a memory-mapped table: no matrix products, so it keeps up with the
//! upload where the transformer cannot on two cores. Context is lost, so it
//! retrieves worse; `bench/embedder_quality.py` measures by how much.
//!
//! File layout: the 8-byte magic, vocabulary size and dimensions as
//! little-endian u32, then the rows as little-endian f32.

use super::minilm::MiniLm;
use super::wordpiece::WordPiece;
use crate::base::error::{HostError, HostResult};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 8] = b"ELYSTAT1";
/// Bumped when distillation changes, so `install model` makes the table again.
pub const RECIPE: u32 = 2;
const HEADER: usize = 16;

pub struct StaticTable {
    map: memmap2::Mmap,
    vocab: usize,
    dims: usize,
    tokenizer: WordPiece,
}

impl StaticTable {
    pub fn load(table: &Path, vocab_file: &Path) -> HostResult<StaticTable> {
        let missing = |e| {
            HostError::io(
                format!("cannot open the static table {}", table.display()),
                e,
            )
            .with_hint("run `elysiactl install model` to make it")
        };
        let file = std::fs::File::open(table).map_err(missing)?;
        // SAFETY: read-only; the table is written to a temporary name and
        // renamed into place, so a mapped file is never rewritten.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(missing)?;
        let corrupt = || {
            HostError::validation(format!(
                "{} is not a static embedding table",
                table.display()
            ))
            .with_hint("run `elysiactl install model --force` to make it again")
        };
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err(corrupt());
        }
        let word = |at: usize| u32::from_le_bytes(map[at..at + 4].try_into().unwrap()) as usize;
        let (vocab, dims) = (word(8), word(12));
        if dims == 0 || map.len() != HEADER + vocab * dims * 4 {
            return Err(corrupt());
        }
        let tokenizer = WordPiece::from_vocab_file(vocab_file)?;
        if tokenizer.vocab_size() != vocab {
            return Err(corrupt().with_hint(
                "the table and the model's vocabulary differ: run `elysiactl install model --force`",
            ));
        }
        Ok(StaticTable {
            map,
            vocab,
            dims,
            tokenizer,
        })
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    fn add_row(&self, id: u32, into: &mut [f32]) {
        let at = HEADER + (id as usize).min(self.vocab - 1) * self.dims * 4;
        let row = &self.map[at..at + self.dims * 4];
        for (x, b) in into.iter_mut().zip(row.chunks_exact(4)) {
            *x += f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }

    /// The mean of the text's token rows, L2-normalised. A text with no
    /// tokens gets the [CLS] row, so that no vector is all zeros (cosine
    /// distance is undefined there).
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let ids = self.tokenizer.encode(text, usize::MAX);
        let (cls, sep) = (self.tokenizer.cls(), self.tokenizer.sep());
        let mut v = vec![0f32; self.dims];
        let mut n = 0usize;
        for &id in ids.iter().filter(|&&id| id != cls && id != sep) {
            self.add_row(id, &mut v);
            n += 1;
        }
        if n == 0 {
            self.add_row(cls, &mut v);
        }
        super::normalize(&mut v);
        v
    }

    pub fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        texts.iter().map(|t| self.embed_one(t)).collect()
    }
}

/// The first id of BERT's vocabulary that is a real token: below it are
/// [PAD], [UNK], [CLS], [SEP], [MASK] and the [unusedN] slots.
const FIRST_REAL_TOKEN: usize = 999;

/// Plain means of the raw rows are dominated by what every text shares
/// (punctuation, `the`, the direction all rows have in common), so: centre
/// the rows, then weight each by how rare its token is (SIF, a / (a + p),
/// with p from Zipf's law over the vocabulary's order, which for BERT's
/// vocabulary is by frequency after the single characters). This is
/// model2vec's post-processing without its PCA.
fn reweight(rows: &mut [Vec<f32>]) {
    let Some(dims) = rows.first().map(Vec::len) else {
        return;
    };
    let real = &rows[FIRST_REAL_TOKEN.min(rows.len())..];
    let mut mean = vec![0f32; dims];
    for r in real {
        mean.iter_mut().zip(r).for_each(|(m, x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= real.len().max(1) as f32);
    let n = rows.len().saturating_sub(FIRST_REAL_TOKEN).max(1);
    let harmonic = (n as f32).ln() + 0.5772;
    const SIF: f32 = 1e-4;
    for (id, r) in rows.iter_mut().enumerate() {
        r.iter_mut().zip(&mean).for_each(|(x, m)| *x -= m);
        super::normalize(r);
        let rank = id.saturating_sub(FIRST_REAL_TOKEN - 1).max(1) as f32;
        let p = 1.0 / (rank * harmonic);
        let w = SIF / (SIF + p);
        r.iter_mut().for_each(|x| *x *= w);
    }
}

/// Runs every token of the vocabulary through the model as `[CLS] token
/// [SEP]` and writes the table, on `threads` threads; `progress(done,
/// total)` is called as rows are finished.
pub fn distill(
    model: &MiniLm,
    out: &Path,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> HostResult<()> {
    let tok = model.tokenizer();
    let vocab = tok.vocab_size();
    let dims = model.dims();
    let (cls, sep) = (tok.cls(), tok.sep());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let threads = threads.max(1);
    let per_thread = vocab.div_ceil(threads);
    let parts: Vec<Vec<Vec<f32>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let done = &done;
                s.spawn(move || {
                    let ids = (t * per_thread) as u32..((t + 1) * per_thread).min(vocab) as u32;
                    let mut rows = Vec::with_capacity(per_thread);
                    let all: Vec<u32> = ids.collect();
                    for batch in all.chunks(256) {
                        let seqs: Vec<Vec<u32>> =
                            batch.iter().map(|&id| vec![cls, id, sep]).collect();
                        rows.extend(model.embed_ids(&seqs));
                        let n = done.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed);
                        progress(n + batch.len(), vocab);
                    }
                    rows
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a distillation thread panicked"))
            .collect()
    });
    let mut rows: Vec<Vec<f32>> = parts.into_iter().flatten().collect();
    reweight(&mut rows);
    let tmp = out.with_extension("bin.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(MAGIC)?;
        f.write_all(&(vocab as u32).to_le_bytes())?;
        f.write_all(&(dims as u32).to_le_bytes())?;
        for row in &rows {
            for x in row {
                f.write_all(&x.to_le_bytes())?;
            }
        }
        f.into_inner()?.sync_all()?;
        std::fs::rename(&tmp, out)
    };
    write().map_err(|e| HostError::io(format!("cannot write {}", out.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::testing::{self, TINY_HIDDEN, TINY_VOCAB};

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn similar_words_land_near_each_other() {
        let Some((table, vocab)) = testing::installed_static_table() else {
            return;
        };
        let t = StaticTable::load(&table, &vocab)
            .unwrap_or_else(|e| panic!("{} ({})", e.message, e.hint));
        let v = t.embed(&[
            "sunny weather",
            "warm sunshine",
            "the bank raised interest rates",
            "",
        ]);
        assert!(v.iter().all(|x| x.len() == 384));
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4);
        assert!(
            dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.1,
            "{} vs {}",
            dot(&v[0], &v[1]),
            dot(&v[0], &v[2])
        );
        // No tokens: the [CLS] row, not a zero vector.
        assert!((dot(&v[3], &v[3]) - 1.0).abs() < 1e-4);
    }

    /// What `install model` does, on the tiny model: one row per token, the
    /// same table whatever the number of threads, and a table that loads and
    /// embeds as the token rows' mean.
    #[test]
    fn distills_a_table_that_loads() {
        let dir = tempfile::tempdir().unwrap();
        testing::tiny_model(dir.path());
        let model = MiniLm::load(dir.path()).unwrap();
        let (one, two) = (dir.path().join("one.bin"), dir.path().join("two.bin"));
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let progress = |done: usize, total: usize| {
            assert!(done <= total && total == TINY_VOCAB.len());
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        distill(&model, &one, 1, &progress).unwrap();
        distill(&model, &two, 2, &progress).unwrap();
        assert!(calls.into_inner() >= 2);
        let bytes = std::fs::read(&one).unwrap();
        assert_eq!(bytes, std::fs::read(&two).unwrap());
        assert_eq!(bytes.len(), HEADER + TINY_VOCAB.len() * TINY_HIDDEN * 4);

        let t = StaticTable::load(&one, &dir.path().join("vocab.txt")).unwrap();
        assert_eq!(t.dims(), TINY_HIDDEN);
        let v = t.embed(&["sunny", "the sunny weather", "the sunny weather", ""]);
        assert!(v.iter().all(|x| (dot(x, x) - 1.0).abs() < 1e-4));
        assert_eq!(v[1], v[2]);
        let mut row = vec![0f32; TINY_HIDDEN];
        t.add_row(15, &mut row);
        crate::embed::normalize(&mut row);
        assert_eq!(v[0], row, "one token embeds as its own row");
    }

    #[test]
    fn a_file_that_is_not_a_table_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("t.bin");
        std::fs::write(&bogus, b"ELYSTAT1\x02\x00\x00\x00\x04\x00\x00\x00short").unwrap();
        let err = StaticTable::load(&bogus, &dir.path().join("vocab.txt"))
            .err()
            .expect("refused");
        assert!(
            err.message.contains("not a static embedding table"),
            "{}",
            err.message
        );
        assert!(err.hint.contains("install model --force"), "{}", err.hint);
    }
}
