/* ink_map.h - where the ink of a document image is, whatever its colours.
 *
 * Tables come with white, tinted, zebra-striped, shaded or dark (inverse)
 * row bands, ruling lines and JPEG noise. The layout only needs to know
 * which pixels are text. Backgrounds of tables are horizontal bands, so
 * each pixel row has one background: the most frequent gray level of the
 * row (a mode, not a median: a row through dense bold text can be half ink,
 * but the ink is never one level as often as the flat background). The
 * band of that level runs from its first to its last pixel; outside it
 * (the page margins) the background is the image's most frequent level. A
 * pixel is ink when it is far from its background, dark-on-light and
 * light-on-dark alike. A horizontal rule is its own row's mode, so it is
 * background; vertical rules are removed by the layout (table_layout.c),
 * which knows the table's height.
 *
 * Ownership: nv_ink_map_make allocates; nv_ink_map_free frees.
 */
#ifndef NV_VISION_INK_MAP_H
#define NV_VISION_INK_MAP_H

#include <stdint.h>

#include "core/error.h"
#include "vision/image.h"

typedef struct nv_ink_map {
    int width, height;
    uint8_t *gray;     /* [height * width] ITU-R 601 luma of the image */
    uint8_t *contrast; /* [height * width] |gray - its row's background| */
} nv_ink_map;

/* Gray levels within this of a row's mode belong to its band. */
#define NV_INK_BAND_TOLERANCE 16

/* The blurred edge of a band against the page (a few pixels whose levels
 * lie between the two) gets at most this contrast: faint (a rule along the
 * edge still shows), never text. */
#define NV_INK_EDGE_CONTRAST 32

/* Computes the gray image and the contrast of every pixel against its local
 * background. */
int nv_ink_map_make(const nv_image *img, nv_ink_map *out, nv_error *err);
void nv_ink_map_free(nv_ink_map *map);

#endif
