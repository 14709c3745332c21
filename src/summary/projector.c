/*
 * The embedding projector's files. Each embedding lives in its own directory,
 * embeddings/<name>/, with a small embedding.pbtxt holding its block of the
 * config; projector_config.pbtxt is rebuilt from those blocks, so adding one
 * embedding never needs to parse what was written before.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/err.h"
#include "../common/file.h"
#include "../common/util.h"
#include <tbw/projector.h>
#include <tbw/summary.h>

#define MAX_POINTS 100000
#define MAX_DIMS 4096

static int rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return unlink(path);
    struct dirent *de;
    char sub[4096];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        rm_rf(sub);
    }
    closedir(d);
    return rmdir(path);
}

/* Appends s to the pbtxt as a quoted string with C-style escapes. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20)
            fprintf(f, "\\%03o", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Length of the JavaScript whitespace (String.prototype.trim's set) that starts s, 0 if none. */
static size_t js_space(const unsigned char *s)
{
    if (s[0] == ' ' || (s[0] >= 0x09 && s[0] <= 0x0D))
        return 1;
    if (s[0] == 0xC2 && s[1] == 0xA0) /* U+00A0 */
        return 2;
    if (s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80) /* U+1680 */
        return 3;
    if (s[0] == 0xE2 && s[1] == 0x80 && ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF))
        return 3; /* U+2000..200A, U+2028, U+2029, U+202F */
    if (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) /* U+205F */
        return 3;
    if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) /* U+3000 */
        return 3;
    if (s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) /* U+FEFF */
        return 3;
    return 0;
}

/* Whether s is empty or only whitespace as the projector's trim() sees it. */
static bool blank(const char *s)
{
    if (!s)
        return true;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t k; *p; p += k)
        if ((k = js_space(p)) == 0)
            return false;
    return true;
}

/* A label for the TSV: escapes that keep every row on one line, one cell per tab. A blank label is
   written as "(empty)": the projector skips lines that trim() to nothing, which would move every
   later label onto the wrong point. */
static void put_label(FILE *f, const char *s)
{
    if (blank(s)) {
        fputs("(empty)", f);
        return;
    }
    for (; *s; s++) {
        switch (*s) {
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\\': fputs("\\\\", f); break;
        default: fputc(*s, f);
        }
    }
}

static int validate(tbw__err er, const tbw_embedding *e)
{
    if (!e)
        return tbw__fail(er, TBW_EINVAL, "embedding is NULL");
    if (!e->tensor_name || !e->tensor_name[0] || !tbw__utf8_valid(e->tensor_name, strlen(e->tensor_name)))
        return tbw__fail(er, TBW_EINVAL, "tensor_name is empty or not valid UTF-8");
    const char *name = e->tensor_name;
    if (e->n == 0 || e->d == 0 || !e->data)
        return tbw__fail(er, TBW_EINVAL, "embedding '%s': the matrix is empty (%zu x %zu) or NULL", name, e->n, e->d);
    if (e->n > MAX_POINTS || e->d > MAX_DIMS)
        return tbw__fail(er, TBW_ERANGE,
                         "embedding '%s': %zu x %zu is over the limit of %d points x %d dims", name, e->n,
                         e->d, MAX_POINTS, MAX_DIMS);
    for (size_t r = 0; r < e->n; r++)
        for (size_t c = 0; c < e->d; c++)
            if (!isfinite(e->data[r * e->d + c]))
                return tbw__fail(er, TBW_EINVAL, "embedding '%s': row %zu, column %zu is not finite (%g)", name, r, c,
                                 (double)e->data[r * e->d + c]);
    if (e->n_columns) {
        if (e->n_label_rows != e->n)
            return tbw__fail(er, TBW_EMISMATCH, "embedding '%s': %zu metadata rows for %zu points", name,
                             e->n_label_rows, e->n);
        if (!e->labels)
            return tbw__fail(er, TBW_EINVAL, "embedding '%s': n_columns=%zu but labels is NULL", name, e->n_columns);
        if (e->n_columns > 1 && !e->column_names)
            return tbw__fail(er, TBW_EINVAL, "embedding '%s': %zu metadata columns need column_names (the header row)",
                             name, e->n_columns);
        for (size_t c = 0; e->n_columns > 1 && c < e->n_columns; c++)
            if (blank(e->column_names[c]) || !tbw__utf8_valid(e->column_names[c], strlen(e->column_names[c])))
                return tbw__fail(er, TBW_EINVAL,
                                 "embedding '%s': column name %zu is blank or not valid UTF-8", name, c);
        size_t cells = e->n * e->n_columns;
        for (size_t i = 0; i < cells; i++)
            if (e->labels[i] && !tbw__utf8_valid(e->labels[i], strlen(e->labels[i])))
                return tbw__fail(er, TBW_EINVAL,
                                 "embedding '%s': label of row %zu, column %zu is not valid UTF-8", name,
                                 i / e->n_columns, i % e->n_columns);
    }
    if (e->thumbnails) {
        if (e->n_thumbnails != e->n)
            return tbw__fail(er, TBW_EMISMATCH, "embedding '%s': %zu sprite thumbnails for %zu points", name,
                             e->n_thumbnails, e->n);
        if (e->thumb_h == 0 || e->thumb_w == 0 || (e->thumb_c != 1 && e->thumb_c != 3))
            return tbw__fail(er, TBW_EINVAL,
                             "embedding '%s': thumbnails must be at least 1x1 with 1 or 3 channels", name);
        size_t side = (size_t)ceil(sqrt((double)e->n));
        while (side * side < e->n)
            side++;
        if (e->thumb_w > TBW_SPRITE_MAX_PX || e->thumb_h > TBW_SPRITE_MAX_PX || side * e->thumb_w > TBW_SPRITE_MAX_PX ||
            side * e->thumb_h > TBW_SPRITE_MAX_PX) {
            size_t per = TBW_SPRITE_MAX_PX / (e->thumb_w > e->thumb_h ? e->thumb_w : e->thumb_h);
            return tbw__fail(er, TBW_EINVAL,
                             "embedding '%s': a sprite of %zu thumbnails of %zux%zu would be %zux%zu px, over the "
                             "projector's %d px per side; at most %zu thumbnails of that size fit",
                             name, e->n, e->thumb_w, e->thumb_h, side * e->thumb_w, side * e->thumb_h, TBW_SPRITE_MAX_PX,
                             per * per);
        }
    }
    if (e->bookmarks_json && !tbw__utf8_valid(e->bookmarks_json, strlen(e->bookmarks_json)))
        return tbw__fail(er, TBW_EINVAL, "embedding '%s': bookmarks are not valid UTF-8", name);
    return TBW_OK;
}

/* A readable directory name for the tensor name: up to 48 safe characters and a 32-bit hash. Two
   names can still share it; choose_dir tells them apart. */
static void dir_name(const char *name, char *out, size_t cap)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < cap - 10 && k < 48; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        out[k++] = ok ? c : '_';
    }
    snprintf(out + k, cap - k, "-%08x", (unsigned)(h ^ (h >> 32)));
}

/* The tensor_name line write_block puts in embedding.pbtxt for name, in a malloc'd string. */
static char *name_line(const char *name)
{
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (!f)
        return NULL;
    fputs("  tensor_name: ", f);
    put_quoted(f, name);
    fputc('\n', f);
    if (fclose(f) != 0) {
        free(line);
        return NULL;
    }
    return line;
}

/* Whether embeddings/<sub> is free for name: absent, without a readable embedding.pbtxt, or holding
   name's own embedding. */
static bool dir_is_for(const char *edir, const char *sub, const char *line)
{
    char path[4200], got[8192];
    snprintf(path, sizeof path, "%s/%s/embedding.pbtxt", edir, sub);
    FILE *f = fopen(path, "rb");
    if (!f)
        return true;
    bool mine = fgets(got, sizeof got, f) && fgets(got, sizeof got, f) && strcmp(got, line) == 0;
    fclose(f);
    return mine;
}

/* The directory under edir for name: its readable name, or that name with "-2", "-3", ... when
   another tensor name already holds it, so that no add ever replaces another name's files. */
static int choose_dir(tbw__err er, const char *edir, const char *name, char *sub, size_t cap)
{
    char base[64];
    dir_name(name, base, sizeof base);
    char *line = name_line(name);
    if (!line)
        return tbw__fail(er, TBW_ENOMEM, "out of memory naming the directory of embedding '%s'", name);
    for (int i = 1; i <= 1000; i++) {
        if (i == 1)
            snprintf(sub, cap, "%s", base);
        else
            snprintf(sub, cap, "%s-%d", base, i);
        if (dir_is_for(edir, sub, line)) {
            free(line);
            return TBW_OK;
        }
    }
    free(line);
    return tbw__fail(er, TBW_EIO, "embedding '%s': 1000 directories named %s-* belong to other names", name, base);
}

static int write_tensor_tsv(tbw__err er, const char *path, const tbw_embedding *e)
{
    tbw__atomic a;
    int rc = tbw__atomic_open(&a, er, path);
    if (rc)
        return rc;
    FILE *f = a.f;
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    char num[32];
    for (size_t r = 0; r < e->n; r++) {
        for (size_t c = 0; c < e->d; c++) {
            /* %.9g round-trips every float32 exactly. */
            int len = snprintf(num, sizeof num, "%.9g", (double)e->data[r * e->d + c]);
            if (c)
                fputc('\t', f);
            fwrite(num, 1, (size_t)len, f);
        }
        fputc('\n', f);
    }
    return tbw__atomic_commit(&a, er);
}

static int write_metadata_tsv(tbw__err er, const char *path, const tbw_embedding *e)
{
    tbw__atomic a;
    int rc = tbw__atomic_open(&a, er, path);
    if (rc)
        return rc;
    FILE *f = a.f;
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    if (e->n_columns > 1) {
        for (size_t c = 0; c < e->n_columns; c++) {
            if (c)
                fputc('\t', f);
            put_label(f, e->column_names[c]);
        }
        fputc('\n', f);
    }
    for (size_t r = 0; r < e->n; r++) {
        for (size_t c = 0; c < e->n_columns; c++) {
            if (c)
                fputc('\t', f);
            put_label(f, e->labels[r * e->n_columns + c]);
        }
        fputc('\n', f);
    }
    return tbw__atomic_commit(&a, er);
}

static int write_sprite(tbw__err er, const char *path, const tbw_embedding *e)
{
    size_t side = (size_t)ceil(sqrt((double)e->n));
    while (side * side < e->n)
        side++;
    size_t gw = side * e->thumb_w, gh = side * e->thumb_h, c = e->thumb_c;
    uint8_t *grid = calloc(gh * gw, c);
    if (!grid)
        return tbw__fail(er, TBW_ENOMEM, "out of memory for a %zux%zu sprite", gw, gh);
    size_t row = e->thumb_w * c;
    for (size_t i = 0; i < e->n; i++) {
        const uint8_t *src = e->thumbnails + i * e->thumb_h * row;
        size_t ox = (i % side) * e->thumb_w, oy = (i / side) * e->thumb_h;
        for (size_t y = 0; y < e->thumb_h; y++)
            memcpy(grid + ((oy + y) * gw + ox) * c, src + y * row, row);
    }
    uint8_t *png;
    size_t len;
    int rc = tbw_png_encode(grid, gh, gw, c, 6, &png, &len);
    free(grid);
    if (rc)
        return tbw__fail(er, rc, "encoding the sprite failed: %s", tbw_strerror(rc));
    rc = tbw__atomic_write(er, path, png, len);
    tbw_free(png);
    return rc;
}

/* One "key: "embeddings/<sub>/<file>"" line of the config, at the given indent. */
static void put_asset(FILE *f, const char *indent, const char *key, const char *sub, const char *file)
{
    char p[512];
    snprintf(p, sizeof p, "embeddings/%s/%s", sub, file);
    fprintf(f, "%s%s: ", indent, key);
    put_quoted(f, p);
    fputc('\n', f);
}

static int write_block(tbw__err er, const char *path, const tbw_embedding *e, const char *sub)
{
    tbw__atomic a;
    int rc = tbw__atomic_open(&a, er, path);
    if (rc)
        return rc;
    FILE *f = a.f;
    fputs("embeddings {\n  tensor_name: ", f);
    put_quoted(f, e->tensor_name);
    fputc('\n', f);
    put_asset(f, "  ", "tensor_path", sub, "tensors.tsv");
    fprintf(f, "  tensor_shape: %zu\n  tensor_shape: %zu\n", e->n, e->d);
    if (e->n_columns)
        put_asset(f, "  ", "metadata_path", sub, "metadata.tsv");
    if (e->thumbnails) {
        fputs("  sprite {\n", f);
        put_asset(f, "    ", "image_path", sub, "sprite.png");
        fprintf(f, "    single_image_dim: %zu\n    single_image_dim: %zu\n  }\n", e->thumb_w, e->thumb_h);
    }
    if (e->bookmarks_json)
        put_asset(f, "  ", "bookmarks_path", sub, "bookmarks.json");
    fputs("}\n", f);
    return tbw__atomic_commit(&a, er);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rebuilds dir/projector_config.pbtxt from every embeddings/<sub>/embedding.pbtxt. */
static int rebuild_config(tbw__err er, const char *dir)
{
    char edir[3200], path[3600];
    snprintf(edir, sizeof edir, "%s/embeddings", dir);
    DIR *d = opendir(edir);
    if (!d)
        return tbw__fail_errno(er, errno, "cannot list %s", edir);
    char **subs = NULL;
    size_t n = 0, cap = 0;
    int rc = TBW_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/embedding.pbtxt", edir, de->d_name);
        if (access(path, R_OK) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **ns = realloc(subs, cap * sizeof *ns);
            if (!ns) {
                rc = tbw__fail(er, TBW_ENOMEM, "out of memory listing embeddings");
                break;
            }
            subs = ns;
        }
        subs[n] = strdup(de->d_name);
        if (!subs[n]) {
            rc = tbw__fail(er, TBW_ENOMEM, "out of memory listing embeddings");
            break;
        }
        n++;
    }
    closedir(d);
    if (!rc) {
        qsort(subs, n, sizeof *subs, cmp_str);
        snprintf(path, sizeof path, "%s/projector_config.pbtxt", dir);
        tbw__atomic a;
        rc = tbw__atomic_open(&a, er, path);
        if (!rc) {
            fputs("# Written by tbw: one block per directory under embeddings/.\n", a.f);
            for (size_t i = 0; i < n; i++) {
                snprintf(path, sizeof path, "%s/%s/embedding.pbtxt", edir, subs[i]);
                FILE *b = fopen(path, "rb");
                if (!b)
                    continue;
                char buf[4096];
                size_t k;
                while ((k = fread(buf, 1, sizeof buf, b)) > 0)
                    fwrite(buf, 1, k, a.f);
                fclose(b);
            }
            rc = tbw__atomic_commit(&a, er);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(subs[i]);
    free(subs);
    return rc;
}

int tbw_projector_add(const char *dir, const tbw_embedding *e, char *errmsg, size_t errmsg_len)
{
    tbw__err er = TBW__ERR_BUF(errmsg, errmsg_len);
    if (errmsg && errmsg_len)
        errmsg[0] = '\0';
    if (!dir || !dir[0])
        return tbw__fail(er, TBW_EINVAL, "directory is empty or NULL");
    if (strlen(dir) > 3000)
        return tbw__fail(er, TBW_EINVAL, "directory path too long");
    int rc = validate(er, e);
    if (rc)
        return rc;
    char sub[80], edir[3100], stage[4096], final[4096], old[4096], path[4200];
    snprintf(edir, sizeof edir, "%s/embeddings", dir);
    rc = tbw__mkdir_p(er, edir);
    if (!rc)
        rc = choose_dir(er, edir, e->tensor_name, sub, sizeof sub);
    if (rc)
        return rc;
    /* Stage everything in a fresh directory, then move it into place. */
    snprintf(stage, sizeof stage, "%s/.stage-%s-XXXXXX", edir, sub);
    if (!mkdtemp(stage))
        return tbw__fail_errno(er, errno, "cannot create a staging directory in %s", edir);
    chmod(stage, 0755);
    snprintf(path, sizeof path, "%s/tensors.tsv", stage);
    rc = write_tensor_tsv(er, path, e);
    if (!rc && e->n_columns) {
        snprintf(path, sizeof path, "%s/metadata.tsv", stage);
        rc = write_metadata_tsv(er, path, e);
    }
    if (!rc && e->thumbnails) {
        snprintf(path, sizeof path, "%s/sprite.png", stage);
        rc = write_sprite(er, path, e);
    }
    if (!rc && e->bookmarks_json) {
        snprintf(path, sizeof path, "%s/bookmarks.json", stage);
        rc = tbw__atomic_write(er, path, e->bookmarks_json, strlen(e->bookmarks_json));
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/embedding.pbtxt", stage);
        rc = write_block(er, path, e, sub);
    }
    if (rc) {
        rm_rf(stage);
        return rc;
    }
    snprintf(final, sizeof final, "%s/%s", edir, sub);
    snprintf(old, sizeof old, "%s/.old-%s", edir, sub);
    /* Swap the staged directory with the current one in one step, so the config never names a
       directory that is missing (a kill between two renames left exactly that). Where the
       filesystem cannot exchange, or there is no current directory yet, two renames. */
    const char *prev = NULL; /* where the previous files are now */
    if (renameat2(AT_FDCWD, stage, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
        prev = stage;
    } else {
        rm_rf(old);
        if (rename(final, old) == 0)
            prev = old;
        if (rename(stage, final) != 0) {
            rc = tbw__fail_errno(er, errno, "cannot move %s into place", final);
            if (prev)
                rename(old, final);
            rm_rf(stage);
            return rc;
        }
    }
    (void)tbw__fsync_parent(final);
    rc = rebuild_config(er, dir);
    if (rc) {
        /* Put the previous state back so config and files agree. */
        rm_rf(final);
        if (prev)
            rename(prev, final);
        if (prev != stage)
            rm_rf(stage);
        return rc;
    }
    if (prev)
        rm_rf(prev);
    return TBW_OK;
}
