/* image_jpeg.c - JPEG decoding with libjpeg-turbo (what Pillow uses).
 *
 * Untrusted input, in this order:
 *  - the header is read (jpeg_read_header) and the size checked against
 *    the pixel cap before anything is decompressed or allocated for pixels;
 *  - the file's structure must reach its end-of-image marker
 *    (image_complete.c), as Pillow refuses a cut-off file where libjpeg
 *    would only warn and pad it with gray;
 *  - a progress monitor stops a file with more than NV_JPEG_MAX_SCANS scans
 *    (libjpeg-turbo's -maxscans / TJPARAM_SCANLIMIT): each scan of a
 *    progressive JPEG is a pass over the whole coefficient buffer, so a few
 *    kilobytes of empty scans could otherwise cost minutes.
 *
 * Errors: libjpeg calls error_exit, which here formats the message and
 * longjmps back. All state that must survive the jump lives in a
 * `jpeg_job` owned by the caller of the function that calls setjmp (as in
 * image_png.c), so nothing is indeterminate and everything is freed on both
 * paths. libjpeg never prints anything.
 *
 * Warnings ("Corrupt JPEG data: ...", a bogus progression) are tolerated,
 * as Pillow and libjpeg's own tools tolerate them: the image decodes with
 * the damaged part as libjpeg reconstructs it. Truncation is the exception,
 * refused by the structure walk above.
 *
 * Output: libjpeg's defaults (JDCT_ISLOW, fancy upsampling), which are
 * Pillow's too, converted by libjpeg to RGB for gray, YCbCr and RGB files.
 * CMYK and YCCK files come out as CMYK and are converted like Pillow's
 * convert("RGB") (Adobe files store inverted CMYK, which Pillow reads as
 * "CMYK;I").
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "vision/image_decoders.h"

struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int created;
    int warnings;
    char msg[JMSG_LENGTH_MAX + 80]; /* set before any longjmp */
    const char *name;
    int64_t max_pixels;
    const uint8_t *bytes;
    size_t len;
    uint8_t *row; /* one CMYK row, for the conversion */
    nv_image image;
};

static struct jpeg_job *job_of(j_common_ptr cinfo)
{
    return (struct jpeg_job *)cinfo->client_data;
}

static void on_jpeg_error(j_common_ptr cinfo)
{
    struct jpeg_job *job = job_of(cinfo);
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(job->msg, sizeof job->msg, "%s", text);
    longjmp(job->jump, 1);
}

static void on_jpeg_message(j_common_ptr cinfo, int level)
{
    /* level -1 is a warning (corrupt data); >= 0 are trace messages. */
    if (level < 0)
        job_of(cinfo)->warnings++;
}

static void on_jpeg_output(j_common_ptr cinfo)
{
    (void)cinfo; /* never print */
}

static void on_jpeg_progress(j_common_ptr cinfo)
{
    struct jpeg_job *job = job_of(cinfo);
    if (job->cinfo.input_scan_number > NV_JPEG_MAX_SCANS) {
        snprintf(job->msg, sizeof job->msg,
                 "more than %d scans (the limit for a progressive JPEG)",
                 NV_JPEG_MAX_SCANS);
        longjmp(job->jump, 1);
    }
}

/* Pillow's CMYK -> RGB: r = (255 - k) - c * (255 - k) / 255, rounded. */
static uint8_t cmyk_channel(int c, int k)
{
    int nk = 255 - k;
    int t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v);
}

static void cmyk_row_to_rgb(const uint8_t *cmyk, int inverted, int width,
                            uint8_t *rgb)
{
    for (int x = 0; x < width; x++) {
        const uint8_t *p = cmyk + (size_t)x * 4;
        int k = inverted ? 255 - p[3] : p[3];
        for (int i = 0; i < 3; i++)
            rgb[(size_t)x * 3 + i] =
                cmyk_channel(inverted ? 255 - p[i] : p[i], k);
    }
}

/* A Huffman-coded JPEG codes every block's DC value with at least one
 * bit (there are no runs for DC), so a valid file holds at least
 * blocks / 8 bytes. One with less lacks the data for most of its image
 * (libjpeg would warn and fill it in), yet would cost the full coefficient
 * buffer of a progressive JPEG (up to 6 bytes a pixel) and the pixels: it
 * is refused before decompressing. A 150-byte file claiming 8000x8000
 * cost 565 MB otherwise. Arithmetic coding can go below a bit per block,
 * so there only the pixel cap bounds the work. */
static int check_enough_data(struct jpeg_job *job, nv_error *err)
{
    struct jpeg_decompress_struct *cinfo = &job->cinfo;
    if (cinfo->arith_code)
        return 0;
    uint64_t blocks = 0;
    for (int c = 0; c < cinfo->num_components; c++)
        blocks += (uint64_t)cinfo->comp_info[c].width_in_blocks *
                  cinfo->comp_info[c].height_in_blocks;
    uint64_t need = blocks / 8;
    if (need > job->len)
        return nv_fail(err, "%s: JPEG: %llu blocks need at least %llu bytes "
                            "of coded data, the file has %zu bytes",
                       job->name, (unsigned long long)blocks,
                       (unsigned long long)need, job->len);
    return 0;
}

/* Everything that may longjmp; the caller cleans up on both paths. */
static int run_jpeg(struct jpeg_job *job, nv_error *err)
{
    struct jpeg_decompress_struct *cinfo = &job->cinfo;
    if (setjmp(job->jump))
        return nv_fail(err, "%s: JPEG: %s", job->name, job->msg);

    job->created = 1; /* the struct was zeroed: destroy is safe anyway */
    jpeg_create_decompress(cinfo);
    cinfo->client_data = job;
    cinfo->progress = &job->progress;
    jpeg_mem_src(cinfo, job->bytes, (unsigned long)job->len);
    jpeg_read_header(cinfo, TRUE);

    if (nv_image_check_size(cinfo->image_width, cinfo->image_height,
                            job->max_pixels, job->name, err) != 0)
        return -1;
    if (nv_image_check_complete("JPEG", job->bytes, job->len, job->name,
                                err) != 0)
        return -1;
    if (check_enough_data(job, err) != 0)
        return -1;

    int cmyk = 0;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo->out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo->out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default:
        return nv_fail(err, "%s: JPEG: unsupported colour space (%d "
                            "components)",
                       job->name, cinfo->num_components);
    }
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;

    jpeg_start_decompress(cinfo);
    int width = (int)cinfo->output_width, height = (int)cinfo->output_height;
    if (cinfo->output_width != cinfo->image_width ||
        cinfo->output_height != cinfo->image_height ||
        cinfo->output_components != (cmyk ? 4 : 3))
        return nv_fail(err, "%s: JPEG: decoder output %dx%dx%d differs from "
                            "the header's %ux%u",
                       job->name, width, height, cinfo->output_components,
                       cinfo->image_width, cinfo->image_height);
    if (nv_image_alloc(&job->image, width, height, err) != 0)
        return nv_fail_prefix(err, "%s: ", job->name);
    if (cmyk) {
        job->row = malloc((size_t)width * 4);
        if (!job->row)
            return nv_fail(err, "%s: JPEG: out of memory", job->name);
    }
    while (cinfo->output_scanline < cinfo->output_height) {
        size_t y = cinfo->output_scanline;
        uint8_t *dst = job->image.rgb + y * (size_t)width * 3;
        JSAMPROW rows[1] = {cmyk ? job->row : dst};
        if (jpeg_read_scanlines(cinfo, rows, 1) != 1)
            return nv_fail(err, "%s: JPEG: no data for row %zu", job->name,
                           y);
        if (cmyk)
            cmyk_row_to_rgb(job->row, cinfo->saw_Adobe_marker, width, dst);
    }
    jpeg_finish_decompress(cinfo);
    return 0;
}

int nv_decode_jpeg(const uint8_t *bytes, size_t len, const char *name,
                   int64_t max_pixels, nv_image *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    struct jpeg_job *job = calloc(1, sizeof *job);
    if (!job)
        return nv_fail(err, "%s: JPEG: out of memory", name);
    job->name = name;
    job->max_pixels = max_pixels;
    job->bytes = bytes;
    job->len = len;
    /* The error manager must be in place before jpeg_create_decompress,
     * which can fail too. */
    job->cinfo.err = jpeg_std_error(&job->jerr);
    job->jerr.error_exit = on_jpeg_error;
    job->jerr.emit_message = on_jpeg_message;
    job->jerr.output_message = on_jpeg_output;
    job->progress.progress_monitor = on_jpeg_progress;
    job->cinfo.client_data = job;

    int rc = run_jpeg(job, err);
    if (job->created)
        jpeg_destroy_decompress(&job->cinfo);
    free(job->row);
    if (rc == 0)
        *out = job->image;
    else
        nv_image_free(&job->image);
    free(job);
    return rc;
}
