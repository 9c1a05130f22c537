/* bench_random.h - `nvlm bench --random SHAPE`: a random-weight model of a
 * named shape, so costs at realistic sizes can be measured without trained
 * weights.
 *
 * The model is written as an ordinary model directory (config.json,
 * tokenizer.json, model.safetensors with BF16 weights) under a fresh
 * /tmp/nvlm-random-XXXXXX and loaded through the normal nvlm_load; the
 * caller removes it when done. Trade-off: this costs disk (about 2 GB for
 * nvlm-1b) and a few seconds of writing, but the loader, its validation and
 * the memory it uses are exactly those of a real checkpoint, and no
 * loader or safetensors contract had to change. BF16 halves the file; the
 * runtime converts to f32 when loading, as for a real BF16 checkpoint.
 *
 * Weights are uniform with a fixed seed (the same bytes on every run):
 * matrices variance 1/fan_in, embeddings variance 1, norm weights 1 +- 0.1,
 * other vectors variance 0.01, cross-attention gates in (-1, 1). The
 * tokenizer is byte-level with no merges (every text byte is one token)
 * plus the four special tokens the prompts need.
 *
 * Shapes:
 *   tiny     the test fixture's dimensions (docs/model-format.md 11) with
 *            max_dynamic_patch 12;
 *   nvlm-1b  InternViT-300M-like vision tower (C 1024, 24 layers, 16 heads,
 *            448 px tiles of 14 px patches: 256 tokens per tile) + a
 *            Qwen2-0.5B-like decoder (H 896, I 4864, 24 layers, 14/2 heads,
 *            vocab 151936, tied embeddings), InternVL-style projectors for
 *            d, x and h, and 6 cross-attention blocks per x/h head (before
 *            layers 3, 7, ..., 23).
 */
#ifndef NV_CLI_BENCH_RANDOM_H
#define NV_CLI_BENCH_RANDOM_H

#include <stddef.h>

#include "core/error.h"

/* Names of the shapes, for messages: "tiny, nvlm-1b". */
const char *nv_bench_random_shapes(void);

/* 1 when `shape` is one of nv_bench_random_shapes(). */
int nv_bench_random_known(const char *shape);

/* Writes the model of `shape` into a new directory whose path goes to
 * dir[0..size). On failure nothing is left behind. */
int nv_bench_random_write(const char *shape, char *dir, size_t size,
                          nv_error *err);

/* The same model written into dir, a new directory (refused when it
 * exists), kept. */
int nv_bench_random_write_to(const char *shape, const char *dir,
                             nv_error *err);

/* Removes a directory made by nv_bench_random_write. */
void nv_bench_random_remove(const char *dir);

#endif
