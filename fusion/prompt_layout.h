/* prompt_layout.h - where image features go in the prompt, per fusion.
 *
 * Given the fusion (D, X or H), the number of tiles of the image (the
 * thumbnail included, last, as InternVL/NVLM-D order them) and the number of
 * tokens per tile, builds the ordered segments of the whole chat prompt:
 * text pieces that the caller tokenizes (each piece on its own) and image
 * slots that the caller fills with projected tile tokens. The wrap is
 * NVLM-D's chat() (chatml):
 *
 *   "<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n"
 *   + image part + "\n" + question + "<|im_end|><|im_start|>assistant\n"
 *
 * Tile tags: tile i (0-based) of n is "<tile_{i+1}>" for i < n-1, and the
 * last tile (the thumbnail, or the only tile) is "<tile_global_thumbnail>".
 * Image parts:
 *   D: "<Image>" + for each tile: tag + slot(tile) + "</Image>"
 *      (expanding each slot to `count` copies of "<|vision_pad|>" gives
 *      NVLM-D's query text byte for byte);
 *   X: "<Image>" + every tile's tag + "</Image>", no slots. Keys/values are
 *      all tiles' tokens in tile order; the tokens of tile i's tag see only
 *      tile i's keys, the tokens before "<Image>" none, the rest all;
 *   H: "<Image><tile_global_thumbnail>" + slot(thumbnail) + "</Image>".
 *      Keys/values are, for each regular tile i = 0..n-2, the embedded
 *      tokens of kv_tags[i] ("<tile_{i+1}>") followed by tile i's tokens;
 *      with one tile there are none. Tokens from "<Image>" on see all keys,
 *      earlier ones none.
 * With no image (n_tiles = 0) the user turn is the question alone.
 *
 * Tokenizing: in D the text between two slots is one segment, so
 * tokenizing segments one by one gives the ids of tokenizing the whole
 * string (slots are special tokens, which split text anyway). In X and H
 * every piece whose tokens get a different cross mask is its own segment,
 * so no BPE token straddles two mask rules.
 *
 * Ownership: nv_prompt_layout_build fills a layout the caller frees with
 * nv_prompt_layout_free; all strings inside are owned by it.
 */
#ifndef NV_FUSION_PROMPT_LAYOUT_H
#define NV_FUSION_PROMPT_LAYOUT_H

#include "core/error.h"

typedef enum nv_fusion {
    NV_FUSION_D,
    NV_FUSION_X,
    NV_FUSION_H,
} nv_fusion;

typedef enum nv_segment_kind {
    NV_SEGMENT_TEXT,
    NV_SEGMENT_IMAGE,
} nv_segment_kind;

/* Which cross-attention keys the tokens of a segment see (X and H). */
typedef enum nv_cross_rule {
    NV_CROSS_NONE, /* no key: row_mask 0 (before "<Image>") */
    NV_CROSS_ALL,  /* every key */
    NV_CROSS_TILE, /* only the keys of segment.tile (X tile tags) */
} nv_cross_rule;

typedef struct nv_prompt_segment {
    nv_segment_kind kind;
    char *text;  /* TEXT: the piece to tokenize; IMAGE: NULL */
    int tile;    /* IMAGE: the tile filling the slot; TEXT: the tile this
                  * piece is the tag of (X), else -1 */
    int count;   /* IMAGE: tokens in the slot; TEXT: 0 */
    nv_cross_rule cross;
} nv_prompt_segment;

typedef struct nv_prompt_layout {
    nv_fusion fusion;
    int n_tiles;
    int tokens_per_tile;
    nv_prompt_segment *segments;
    int n_segments;
    /* H: for each kv tile i = 0..n_kv_tags-1 (regular tiles, in order), the
     * tag whose embedded tokens precede tile i's tokens in the keys. */
    char **kv_tags;
    int n_kv_tags;
} nv_prompt_layout;

/* question: the user's text (not NULL). system: NULL for NVLM-D's
 * "Answer the questions.". n_tiles >= 0; tokens_per_tile > 0 when
 * n_tiles > 0. */
int nv_prompt_layout_build(nv_prompt_layout *layout, nv_fusion fusion,
                           int n_tiles, int tokens_per_tile,
                           const char *question, const char *system,
                           nv_error *err);
/* --raw-prompt: no chat template. `text` holds "<image>" where the image
 * part goes (required when n_tiles > 0): the text before it plays the
 * chat head (its rows see no key), the text after it the tail. */
int nv_prompt_layout_build_raw(nv_prompt_layout *layout, nv_fusion fusion,
                               int n_tiles, int tokens_per_tile,
                               const char *text, nv_error *err);

void nv_prompt_layout_free(nv_prompt_layout *layout);

/* "d", "x", "h" (either case) -> fusion; -1 when unknown. */
int nv_fusion_parse(const char *name, nv_fusion *out);
const char *nv_fusion_name(nv_fusion fusion);

/* The prompt as one string with each image slot written as `count` copies
 * of image_token (e.g. "<|vision_pad|>"). Caller frees. */
char *nv_prompt_layout_text(const nv_prompt_layout *layout,
                            const char *image_token, nv_error *err);

/* Number of cross-attention keys: X n_tiles * tokens_per_tile; H the sum
 * over kv tiles of tag_tokens[i] + tokens_per_tile (tag_tokens: the token
 * count of each kv_tags[i], ignored by D/X and may be NULL there); D 0. */
int nv_prompt_layout_n_keys(const nv_prompt_layout *layout,
                            const int *tag_tokens, nv_error *err);

/* Where tile `tile`'s rows sit in the cross-attention memory: X: tile i
 * (0 .. n_tiles-1) at i * tokens_per_tile, no tag rows (*tag_row =
 * *tile_row); H: kv tile i (0 .. n_kv_tags-1) has the embedded tokens of
 * kv_tags[i] from *tag_row and its tile tokens from *tile_row = *tag_row +
 * tag_tokens[i]. Fails for D and for a tile outside the range. */
int nv_prompt_layout_memory_rows(const nv_prompt_layout *layout,
                                 const int *tag_tokens, int tile,
                                 int *tag_row, int *tile_row, nv_error *err);

/* Fills begin/end [n_rows] (the nv_xattn_rows of the prompt) from the token
 * count of every segment (seg_tokens[i]; image slots count their `count`).
 * n_rows must equal the total; n_keys as nv_prompt_layout_n_keys gives it.
 * Rows of tokens generated after the prompt see all keys [0, n_keys). */
int nv_prompt_layout_cross_rows(const nv_prompt_layout *layout,
                                const int *seg_tokens, int n_keys,
                                int *begin, int *end, int n_rows,
                                nv_error *err);

#endif
