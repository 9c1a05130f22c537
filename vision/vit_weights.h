/* vit_weights.h - the InternViT weights as vit.c loads them and
 * vit_forward.c uses them. Private to vision/vit*.c.
 *
 * The layers' four matrices (qkv, proj, fc1, fc2) are in the file's
 * precision, borrowed from the mapping (nv_st_get_weight); every other
 * tensor is f32. Optional tensors (norm biases for RMSNorm, the
 * qkv bias when it is not applied, q/k norm weights without qk-norm) are
 * left empty (data == NULL).
 */
#ifndef NV_VIT_WEIGHTS_H
#define NV_VIT_WEIGHTS_H

#include "core/tensor.h"
#include "vision/char_head.h"
#include "vision/vit_config.h"

typedef struct nv_vit_layer {
    nv_tensor norm1_w, norm1_b;       /* [C] */
    nv_tensor qkv_w, qkv_b;           /* [3W, C], [3W]; W = (h+dummy)*d */
    nv_tensor q_norm_w, k_norm_w;     /* [W] */
    nv_tensor proj_w, proj_b;         /* [C, W], [C] */
    nv_tensor ls1, ls2;               /* [C] layer scales */
    nv_tensor norm2_w, norm2_b;       /* [C] */
    nv_tensor fc1_w, fc1_b;           /* [I, C], [I] */
    nv_tensor fc2_w, fc2_b;           /* [C, I], [C] */
} nv_vit_layer;

struct nv_vit {
    nv_vit_config cfg;
    nv_tensor patch_w;     /* [C, 3, P, P]: a [C, 3*P*P] matrix */
    nv_tensor patch_b;     /* [C] */
    nv_tensor cls;         /* [1, 1, C] */
    nv_tensor pos;         /* [1, 1+g*g, C] */
    nv_vit_layer *layers;  /* cfg.layers entries */
    nv_char_head *chars;   /* NULL unless config.json has nvlm_char_probs */
};

#endif
