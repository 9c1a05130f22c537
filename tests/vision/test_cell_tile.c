/* test_cell_tile.c - vision/cell_tile.c on tables drawn here: a grid of
 * "words" (runs of filled glyph boxes) in dark ink on white, and the same
 * table inverted (light on dark). Checks that the tile is the model's size
 * and white outside the text strips, that the text sits in the first strip
 * from its left edge, that dark-on-light and light-on-dark give the same
 * tile (polarity and colour are removed), that the geometry it reports maps
 * the crop onto the tile, that a line wider than the tile folds onto the
 * next strip, and that a cell wider than a whole tile is refused with a
 * message that says the limit. */
#include <string.h>

#include "check.h"
#include "vision/cell_tile.h"
#include "vision/ink_map.h"
#include "vision/table_layout.h"

/* A table of rows x cols cells, each "word" n_glyphs[c] boxes of 6 x 11
 * pixels (glyph_w wide), 3 apart; columns 40 px apart beyond the widest word. */
static void draw_table(nv_image *img, int rows, int cols, const int *glyphs,
                       int invert, int glyph_w)
{
    uint8_t bg = invert ? 30 : 250, ink = invert ? 245 : 20;
    memset(img->rgb, bg, (size_t)img->width * img->height * 3);
    int x = 10;
    for (int c = 0; c < cols; c++) {
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < glyphs[c]; g++)
                for (int y = 0; y < 11; y++)
                    for (int dx = 0; dx < glyph_w; dx++) {
                        int px = x + g * (glyph_w + 3) + dx;
                        int py = 10 + r * 24 + y;
                        if (px < img->width && py < img->height)
                            memset(img->rgb + 3 * ((size_t)py * img->width + px),
                                   ink, 3);
                    }
        x += glyphs[c] * (glyph_w + 3) + 40;
    }
}

static int tile_of(const nv_image *img, int row, int col,
                   const nv_cell_tile_opts *o, nv_image *tile,
                   nv_cell_tile_geom *g, nv_table_layout *l, nv_error *err)
{
    nv_ink_map map;
    CHECK(nv_ink_map_make(img, &map, err) == 0);
    int rc = nv_table_layout_find(&map, l, err);
    if (!CHECK(rc == 0))
        fprintf(stderr, "layout: %s\n", err->msg);
    if (rc == 0)
        rc = nv_cell_tile_make(&map, l, row, col, o, tile, g, err);
    nv_ink_map_free(&map);
    return rc;
}

static void test_polarity_and_geometry(void)
{
    int glyphs[3] = {3, 5, 2};
    nv_image light = {0}, dark = {0};
    nv_error err = {{0}};
    CHECK(nv_image_alloc(&light, 300, 90, &err) == 0);
    CHECK(nv_image_alloc(&dark, 300, 90, &err) == 0);
    draw_table(&light, 3, 3, glyphs, 0, 6);
    draw_table(&dark, 3, 3, glyphs, 1, 6);
    nv_cell_tile_opts o = nv_cell_tile_opts_default();
    nv_image t1 = {0}, t2 = {0};
    nv_cell_tile_geom g1, g2;
    nv_table_layout l1, l2;
    CHECK(tile_of(&light, 1, 1, &o, &t1, &g1, &l1, &err) == 0);
    CHECK(tile_of(&dark, 1, 1, &o, &t2, &g2, &l2, &err) == 0);
    CHECK(l1.n_rows == 3 && l1.n_cols == 3);
    CHECK(t1.width == 224 && t1.height == 224);
    /* Dark-on-light and light-on-dark: the same tile. */
    CHECK(memcmp(t1.rgb, t2.rgb, (size_t)224 * 224 * 3) == 0);
    /* One strip: the text in rows [y, y + scaled_h) from x = 1, white
     * everywhere else. */
    CHECK(g1.n_strips == 1 && g1.strip_left == 1);
    CHECK(g1.strip_x0[0] == 0 && g1.strip_x1[0] == g1.scaled_w);
    int dark_in = 0, dark_out = 0;
    for (int y = 0; y < 224; y++)
        for (int x = 0; x < 224; x++) {
            int inside = y >= g1.strip_y[0] && y < g1.strip_y[0] + g1.scaled_h &&
                         x >= 1 && x < 1 + g1.scaled_w;
            int v = t1.rgb[3 * ((size_t)y * 224 + x)];
            if (v < 128 && inside)
                dark_in++;
            else if (v < 128)
                dark_out++;
        }
    CHECK(dark_in > 100);
    CHECK(dark_out == 0);
    /* The line height: the crop's height (the row's text line + 2 px)
     * scaled so the line is 24 px. */
    CHECK(l1.line_height == 11);
    if (!CHECK(g1.scaled_h == 28))
        fprintf(stderr, "scaled_h %d\n", g1.scaled_h);
    /* The crop covers the cell's 5 glyphs: 5 * 9 - 3 = 42 px + 2. */
    CHECK(g1.crop.x1 - g1.crop.x0 == 44);
    nv_image_free(&t1);
    nv_image_free(&t2);
    nv_table_layout_free(&l1);
    nv_table_layout_free(&l2);
    nv_image_free(&light);
    nv_image_free(&dark);
}

static void test_fold_and_refuse(void)
{
    nv_error err = {{0}};
    nv_cell_tile_opts o = nv_cell_tile_opts_default();
    /* 14 glyphs = 123 px at 11 px lines -> ~268 px at 24: two strips. */
    int glyphs[2] = {2, 14};
    nv_image img = {0}, tile = {0};
    CHECK(nv_image_alloc(&img, 400, 60, &err) == 0);
    draw_table(&img, 2, 2, glyphs, 0, 6);
    nv_cell_tile_geom g;
    nv_table_layout l;
    CHECK(tile_of(&img, 1, 1, &o, &tile, &g, &l, &err) == 0);
    CHECK(g.n_strips == 2);
    CHECK(g.strip_x1[0] <= 222 && g.strip_x0[1] == g.strip_x1[0]);
    CHECK(g.strip_x1[1] == g.scaled_w);
    CHECK(g.strip_y[1] == g.strip_y[0] + o.strip_height);
    nv_image_free(&tile);
    nv_table_layout_free(&l);
    nv_image_free(&img);

    /* 230 glyphs = 1 150 px, ~2 500 px at the reading scale: over 8 strips.
     * (Thin glyphs: a row that is mostly ink would be taken for a band.) */
    int wide[2] = {2, 230};
    CHECK(nv_image_alloc(&img, 1300, 60, &err) == 0);
    draw_table(&img, 2, 2, wide, 0, 2);
    nv_error e2 = {{0}};
    CHECK(tile_of(&img, 1, 1, &o, &tile, &g, &l, &e2) != 0);
    CHECK(strstr(e2.msg, "one tile holds") != NULL);
    CHECK(tile.rgb == NULL);
    nv_table_layout_free(&l);
    nv_image_free(&img);
}

/* The re-reading views (cli/table_cells.c): strip_left moves the line
 * across the tile by exactly that many pixels and changes nothing else;
 * out-of-range options are refused, never written outside the tile. */
static void test_strip_left(void)
{
    int glyphs[3] = {3, 5, 2};
    nv_image img = {0};
    nv_error err = {{0}};
    CHECK(nv_image_alloc(&img, 300, 90, &err) == 0);
    draw_table(&img, 3, 3, glyphs, 0, 6);
    nv_cell_tile_opts o = nv_cell_tile_opts_default();
    nv_image base = {0};
    nv_cell_tile_geom gb;
    nv_table_layout l;
    CHECK(tile_of(&img, 1, 1, &o, &base, &gb, &l, &err) == 0);
    nv_table_layout_free(&l);
    for (int left = 0; left <= 4; left++) {
        nv_cell_tile_opts m = o;
        m.strip_left = left;
        nv_image t = {0};
        nv_cell_tile_geom g;
        if (!CHECK(tile_of(&img, 1, 1, &m, &t, &g, &l, &err) == 0)) {
            nv_table_layout_free(&l);
            continue;
        }
        CHECK(g.strip_left == left && g.scaled_w == gb.scaled_w);
        int same = 1, dx = left - o.strip_left;
        for (int y = 0; y < 224 && same; y++)
            for (int x = 0; x < 224 && same; x++) {
                int sx = x - dx; /* where the base tile has this pixel */
                int want = sx >= 0 && sx < 224
                               ? base.rgb[3 * ((size_t)y * 224 + sx)]
                               : 255;
                same = t.rgb[3 * ((size_t)y * 224 + x)] == want;
            }
        if (!CHECK(same))
            fprintf(stderr, "strip_left %d: not the base tile moved\n", left);
        nv_image_free(&t);
        nv_table_layout_free(&l);
    }
    int bad_left[2] = {-1, 113};
    for (int k = 0; k < 2; k++) {
        nv_cell_tile_opts m = o;
        m.strip_left = bad_left[k];
        nv_image t = {0};
        nv_error e = {{0}};
        CHECK(tile_of(&img, 1, 1, &m, &t, NULL, &l, &e) != 0);
        CHECK(strstr(e.msg, "strip_left") != NULL && t.rgb == NULL);
        nv_table_layout_free(&l);
    }
    nv_cell_tile_opts zero = o;
    zero.line_height = 0;
    nv_image t = {0};
    nv_error e = {{0}};
    CHECK(tile_of(&img, 1, 1, &zero, &t, NULL, &l, &e) != 0);
    CHECK(strstr(e.msg, "out of range") != NULL && t.rgb == NULL);
    nv_table_layout_free(&l);
    nv_image_free(&base);
    nv_image_free(&img);
}

int main(void)
{
    test_polarity_and_geometry();
    test_fold_and_refuse();
    test_strip_left();
    return check_summary("cell_tile");
}
