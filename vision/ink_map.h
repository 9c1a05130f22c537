/* ink_map.h - where the ink of a document image is, whatever its colours.
 *
 * Tables come with white, tinted, zebra-striped, shaded or dark (inverse)
 * row bands, ruling lines and JPEG noise. The layout only needs to know
 * which pixels are text. Backgrounds of tables are horizontal bands, so
 * each pixel row has one background level, judged over the columns that
 * hold anything but the page level (the content's span: a table half as
 * wide as its image keeps its bands from being outvoted by the margins):
 *   - a row's own mode (the most frequent level, found with a wide window
 *     against JPEG noise, then placed with a narrow one) is its background
 *     when it covers most of the row: the "clean" rows between text lines,
 *     and horizontal rules (a rule is its own row's mode, so background);
 *   - a text row takes the band of the clean rows around it, whatever its
 *     own mode: light text on a dark header shares its level with the page
 *     margins, and together they outvote the band (when the clean rows
 *     above and below disagree, the one whose level the row holds more of,
 *     if at least 15 % of it, else its own mode);
 *   - the band runs between its first and last pixel nearer its level than
 *     the page's (the image's mode); outside it (the page margins) the
 *     background is the page. The blurred edge between a band and the page
 *     (up to 3 px of levels between the two, either side of the band's
 *     end) is faint: at most NV_INK_EDGE_CONTRAST.
 * A pixel's contrast is its distance from its background, dark-on-light
 * and light-on-dark alike. Vertical rules are removed by the layout
 * (table_layout.c), which knows the table's lines.
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
