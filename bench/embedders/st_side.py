#!/usr/bin/env python3
"""sentence-transformers' side of the embedders benchmark (src/main.rs runs it).

  vectors MODEL_DIR SETS.json                  -> {set: [[float]...]}
  speed MODEL_DIR SETS.json ROUNDS THREADS     -> the same figures as the Rust side

Same model folder, same texts, batches of 32, on the CPU.
"""
import json
import statistics
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

BATCH = 32
# The Rust side times 8 batches of sentences and 2 of code chunks.
BATCHES = {"sentences": 8, "code_chunks": 2}


def main():
    mode, model_dir, sets_path = sys.argv[1:4]
    sets = json.load(open(sets_path))
    model = SentenceTransformer(model_dir, device="cpu")
    if mode == "vectors":
        out = {name: model.encode(texts, batch_size=BATCH).tolist() for name, texts in sets.items()}
        print(json.dumps(out))
        return
    rounds, threads = int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    for name, count in BATCHES.items():
        texts = sets[name][: count * BATCH]
        model.encode(texts, batch_size=BATCH)
        runs = []
        for _ in range(rounds):
            t = time.perf_counter()
            model.encode(texts, batch_size=BATCH)
            runs.append(time.perf_counter() - t)
        m = statistics.median(runs)
        out[name] = {"texts": len(texts), "median_s": m, "sentences_per_s": len(texts) / m,
                     "ms_per_batch": m * 1000 / count, "runs_s": runs}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
