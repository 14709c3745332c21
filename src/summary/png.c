/* PNG encoding through libpng's full API, which (unlike the simplified API)
   lets the zlib level and row filter be chosen. All libpng memory goes
   through malloc/free, and libpng never prints: warnings are dropped and
   errors come back as a status. */
#include <png.h>
#include <zlib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <tbw/summary.h>

typedef struct {
    uint8_t *data;
    size_t len, cap;
    int oom;
} membuf;

static void on_write(png_structp png, png_bytep bytes, png_size_t n)
{
    membuf *mb = png_get_io_ptr(png);
    if (mb->oom)
        return;
    if (mb->cap - mb->len < n) {
        size_t ncap = mb->cap ? mb->cap : 1024;
        while (ncap - mb->len < n)
            ncap *= 2;
        uint8_t *nd = realloc(mb->data, ncap);
        if (!nd) {
            mb->oom = 1;
            png_error(png, "out of memory");
        }
        mb->data = nd;
        mb->cap = ncap;
    }
    memcpy(mb->data + mb->len, bytes, n);
    mb->len += n;
}

static void on_flush(png_structp png)
{
    (void)png;
}

static void on_error(png_structp png, png_const_charp msg)
{
    /* With validated input, libpng (and zlib under it) fails only for memory. */
    membuf *mb = png_get_error_ptr(png);
    if (mb && msg && (strstr(msg, "memory") || strstr(msg, "Memory")))
        mb->oom = 1;
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static png_voidp on_malloc(png_structp png, png_alloc_size_t n)
{
    (void)png;
    return malloc(n);
}

static void on_free(png_structp png, png_voidp p)
{
    (void)png;
    free(p);
}

typedef struct {
    const uint8_t *hwc;
    size_t height, width, channels;
    int level, color;
} png_job;

/* The only function with a setjmp; everything it reads after a longjmp comes
   through pointers that do not change. */
static int encode(const png_job *job, membuf *mb)
{
    png_structp png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, mb, on_error, on_warning, NULL, on_malloc,
                                                on_free);
    if (!png)
        return TBW_ENOMEM;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return TBW_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return mb->oom ? TBW_ENOMEM : TBW_EIO;
    }
    png_set_write_fn(png, mb, on_write, on_flush);
    png_set_IHDR(png, info, (png_uint_32)job->width, (png_uint_32)job->height, 8, job->color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, job->level);
    /*
     * Levels 1-3 trade a little size for a lot of speed: the UP filter turns
     * smooth areas and blank borders into runs of zeros, which zlib's RLE
     * strategy codes several times faster than its LZ77 search (and it gives
     * up quickly on noise). Levels 4-9 use the LZ77 search, with adaptive row
     * filters from 6 up, as most PNG writers do by default.
     */
    int filter = PNG_FILTER_NONE;
    if (job->level >= 1 && job->level <= 3) {
        png_set_compression_strategy(png, Z_RLE);
        filter = PNG_FILTER_UP;
    } else if (job->level >= 4) {
        png_set_compression_strategy(png, Z_DEFAULT_STRATEGY);
        filter = job->level >= 6 ? PNG_ALL_FILTERS : PNG_FILTER_SUB;
    }
    png_set_filter(png, PNG_FILTER_TYPE_BASE, filter);
    png_write_info(png, info);
    size_t stride = job->width * job->channels;
    for (size_t y = 0; y < job->height; y++)
        png_write_row(png, (png_const_bytep)(job->hwc + y * stride));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return TBW_OK;
}

int tbw_png_encode(const uint8_t *hwc, size_t height, size_t width, size_t channels, int level, uint8_t **out,
                   size_t *out_len)
{
    if (!out || !out_len)
        return TBW_EINVAL;
    *out = NULL;
    *out_len = 0;
    if (!hwc || height == 0 || width == 0 || height > 0x7FFFFFFF || width > 0x7FFFFFFF / 4 ||
        (channels != 1 && channels != 2 && channels != 3 && channels != 4) || level < -1 || level > 9)
        return TBW_EINVAL;
    png_job job = {hwc, height, width, channels, level < 0 ? 1 : level,
                   channels == 1   ? PNG_COLOR_TYPE_GRAY
                   : channels == 2 ? PNG_COLOR_TYPE_GRAY_ALPHA
                   : channels == 3 ? PNG_COLOR_TYPE_RGB
                                   : PNG_COLOR_TYPE_RGBA};
    membuf mb = {NULL, 0, 0, 0};
    int rc = encode(&job, &mb);
    if (rc) {
        free(mb.data);
        return rc;
    }
    *out = mb.data;
    *out_len = mb.len;
    return TBW_OK;
}

void tbw_free(void *p)
{
    free(p);
}
