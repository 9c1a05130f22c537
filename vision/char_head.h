/* char_head.h - optional per-patch character probabilities beside the ViT
 * features (docs/model-format.md section 5.1).
 *
 * A model trained with nvlm's stage 1 (tools/train/pretrain_vit.py) has a
 * small classifier that names the character under each 14-pixel patch; with
 * `nvlm_char_probs` in config.json the runtime keeps that classifier and
 * appends its probabilities to every patch row before the pixel shuffle, so
 * the projector reads them as well as the features:
 *
 *   row [C] -> LayerNorm(eps) -> Linear(C -> S*K) -> softmax over each of
 *   the S slots of K classes -> row [C + S*K] = features, probabilities
 *
 * Tensors: vision_model.char_head.norm.{weight,bias} [C],
 * vision_model.char_head.proj.weight [S*K, C], .proj.bias [S*K].
 * The head owns its weights (f32); it is read-only after loading.
 */
#ifndef NV_CHAR_HEAD_H
#define NV_CHAR_HEAD_H

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/threads.h"

typedef struct nv_char_head nv_char_head;

/* Reads `nvlm_char_probs` of config (the whole config.json; `file` names it
 * in errors) and the head's tensors for features of width `dim`. A config
 * without the key gives *out = NULL and 0: the model has no head. */
int nv_char_head_load(const nv_safetensors *st, const cJSON *config,
                      const char *file, int dim, nv_char_head **out,
                      nv_error *err);
void nv_char_head_free(nv_char_head *head);

/* Values appended to each row: slots * classes (0 for NULL). */
int nv_char_head_width(const nv_char_head *head);

/* out [rows, dim + width] = each row of x [rows, dim] followed by its
 * probabilities. pool may be NULL. */
int nv_char_head_append(const nv_char_head *head, nv_pool *pool,
                        const float *x, int rows, float *out,
                        nv_error *err);

#endif
