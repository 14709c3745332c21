/*
 * The embedding projector's files. Each embedding lives in its own directory,
 * embeddings/<name>/, with a small embedding.pbtxt holding its block of the
 * config; projector_config.pbtxt is rebuilt from those blocks, so adding one
 * embedding never needs to parse what was written before.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/util.h"
#include <tbw/projector.h>
#include <tbw/summary.h>

#define MAX_POINTS 100000
#define MAX_DIMS 4096

typedef struct {
    char *msg;
    size_t cap;
} errbuf;

static int efail(errbuf *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int efail(errbuf *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tbw__vmsg(e->msg, e->cap, fmt, ap);
    va_end(ap);
    return code;
}

static int errno_code(int e)
{
    return e == ENOSPC || e == EFBIG || e == EDQUOT ? TBW_ENOSPC : e == ENOMEM ? TBW_ENOMEM : TBW_EIO;
}

static int mkdirs(errbuf *e, const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof tmp)
        return efail(e, TBW_EINVAL, "path too long: %s", path);
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return efail(e, errno_code(errno), "cannot create %s: %s", tmp, strerror(errno));
        tmp[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return efail(e, TBW_EINVAL, "%s is not a directory", path);
    return TBW_OK;
}

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

/* Writes a whole file and fsyncs it. */
static int write_file(errbuf *e, const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return efail(e, errno_code(errno), "cannot create %s: %s", path, strerror(errno));
    bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    return ok ? TBW_OK : efail(e, errno_code(err), "cannot write %s: %s", path, strerror(err));
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

/* A label for the TSV: escapes that keep every row on one line, one cell per tab. */
static void put_label(FILE *f, const char *s)
{
    if (!s || !s[0]) {
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

static int close_synced(errbuf *e, FILE *f, const char *path)
{
    bool ok = !ferror(f) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    return ok ? TBW_OK : efail(e, errno_code(err ? err : EIO), "cannot write %s: %s", path, strerror(err ? err : EIO));
}

static int validate(errbuf *er, const tbw_embedding *e)
{
    if (!e)
        return efail(er, TBW_EINVAL, "embedding is NULL");
    if (!e->tensor_name || !e->tensor_name[0] || !tbw__utf8_valid(e->tensor_name, strlen(e->tensor_name)))
        return efail(er, TBW_EINVAL, "tensor_name is empty or not valid UTF-8");
    const char *name = e->tensor_name;
    if (e->n == 0 || e->d == 0 || !e->data)
        return efail(er, TBW_EINVAL, "embedding '%s': the matrix is empty (%zu x %zu) or NULL", name, e->n, e->d);
    if (e->n > MAX_POINTS || e->d > MAX_DIMS)
        return efail(er, TBW_ERANGE, "embedding '%s': %zu x %zu is over the limit of %d points x %d dims", name, e->n,
                     e->d, MAX_POINTS, MAX_DIMS);
    for (size_t r = 0; r < e->n; r++)
        for (size_t c = 0; c < e->d; c++)
            if (!isfinite(e->data[r * e->d + c]))
                return efail(er, TBW_EINVAL, "embedding '%s': row %zu, column %zu is not finite (%g)", name, r, c,
                             (double)e->data[r * e->d + c]);
    if (e->n_columns) {
        if (e->n_label_rows != e->n)
            return efail(er, TBW_EMISMATCH, "embedding '%s': %zu metadata rows for %zu points", name,
                         e->n_label_rows, e->n);
        if (!e->labels)
            return efail(er, TBW_EINVAL, "embedding '%s': n_columns=%zu but labels is NULL", name, e->n_columns);
        if (e->n_columns > 1 && !e->column_names)
            return efail(er, TBW_EINVAL, "embedding '%s': %zu metadata columns need column_names (the header row)",
                         name, e->n_columns);
        for (size_t c = 0; e->n_columns > 1 && c < e->n_columns; c++)
            if (!e->column_names[c] || !e->column_names[c][0] ||
                !tbw__utf8_valid(e->column_names[c], strlen(e->column_names[c])))
                return efail(er, TBW_EINVAL, "embedding '%s': column name %zu is empty or not valid UTF-8", name, c);
        size_t cells = e->n * e->n_columns;
        for (size_t i = 0; i < cells; i++)
            if (e->labels[i] && !tbw__utf8_valid(e->labels[i], strlen(e->labels[i])))
                return efail(er, TBW_EINVAL, "embedding '%s': label of row %zu, column %zu is not valid UTF-8", name,
                             i / e->n_columns, i % e->n_columns);
    }
    if (e->thumbnails) {
        if (e->n_thumbnails != e->n)
            return efail(er, TBW_EMISMATCH, "embedding '%s': %zu sprite thumbnails for %zu points", name,
                         e->n_thumbnails, e->n);
        if (e->thumb_h == 0 || e->thumb_w == 0 || (e->thumb_c != 1 && e->thumb_c != 3))
            return efail(er, TBW_EINVAL, "embedding '%s': thumbnails must be at least 1x1 with 1 or 3 channels", name);
        size_t side = (size_t)ceil(sqrt((double)e->n));
        while (side * side < e->n)
            side++;
        if (e->thumb_w > TBW_SPRITE_MAX_PX || e->thumb_h > TBW_SPRITE_MAX_PX || side * e->thumb_w > TBW_SPRITE_MAX_PX ||
            side * e->thumb_h > TBW_SPRITE_MAX_PX) {
            size_t per = TBW_SPRITE_MAX_PX / (e->thumb_w > e->thumb_h ? e->thumb_w : e->thumb_h);
            return efail(er, TBW_EINVAL,
                         "embedding '%s': a sprite of %zu thumbnails of %zux%zu would be %zux%zu px, over the "
                         "projector's %d px per side; at most %zu thumbnails of that size fit",
                         name, e->n, e->thumb_w, e->thumb_h, side * e->thumb_w, side * e->thumb_h, TBW_SPRITE_MAX_PX,
                         per * per);
        }
    }
    if (e->bookmarks_json && !tbw__utf8_valid(e->bookmarks_json, strlen(e->bookmarks_json)))
        return efail(er, TBW_EINVAL, "embedding '%s': bookmarks are not valid UTF-8", name);
    return TBW_OK;
}

/* A directory name for the tensor name: safe characters plus a hash, so that
   different names never share a directory. */
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

static int write_tensor_tsv(errbuf *er, const char *path, const tbw_embedding *e)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return efail(er, errno_code(errno), "cannot create %s: %s", path, strerror(errno));
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
    return close_synced(er, f, path);
}

static int write_metadata_tsv(errbuf *er, const char *path, const tbw_embedding *e)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return efail(er, errno_code(errno), "cannot create %s: %s", path, strerror(errno));
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
    return close_synced(er, f, path);
}

static int write_sprite(errbuf *er, const char *path, const tbw_embedding *e)
{
    size_t side = (size_t)ceil(sqrt((double)e->n));
    while (side * side < e->n)
        side++;
    size_t gw = side * e->thumb_w, gh = side * e->thumb_h, c = e->thumb_c;
    uint8_t *grid = calloc(gh * gw, c);
    if (!grid)
        return efail(er, TBW_ENOMEM, "out of memory for a %zux%zu sprite", gw, gh);
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
        return efail(er, rc, "encoding the sprite failed: %s", tbw_strerror(rc));
    rc = write_file(er, path, png, len);
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

static int write_block(errbuf *er, const char *path, const tbw_embedding *e, const char *sub)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return efail(er, errno_code(errno), "cannot create %s: %s", path, strerror(errno));
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
    return close_synced(er, f, path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rebuilds dir/projector_config.pbtxt from every embeddings/<sub>/embedding.pbtxt. */
static int rebuild_config(errbuf *er, const char *dir)
{
    char edir[3200], path[3600], tmp[3600];
    snprintf(edir, sizeof edir, "%s/embeddings", dir);
    DIR *d = opendir(edir);
    if (!d)
        return efail(er, errno_code(errno), "cannot list %s: %s", edir, strerror(errno));
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
                rc = efail(er, TBW_ENOMEM, "out of memory listing embeddings");
                break;
            }
            subs = ns;
        }
        subs[n] = strdup(de->d_name);
        if (!subs[n]) {
            rc = efail(er, TBW_ENOMEM, "out of memory listing embeddings");
            break;
        }
        n++;
    }
    closedir(d);
    if (!rc) {
        qsort(subs, n, sizeof *subs, cmp_str);
        snprintf(tmp, sizeof tmp, "%s/.projector_config.pbtxt.tmp", dir);
        FILE *f = fopen(tmp, "wb");
        if (!f) {
            rc = efail(er, errno_code(errno), "cannot create %s: %s", tmp, strerror(errno));
        } else {
            fputs("# Written by tbw: one block per directory under embeddings/.\n", f);
            for (size_t i = 0; i < n; i++) {
                snprintf(path, sizeof path, "%s/%s/embedding.pbtxt", edir, subs[i]);
                FILE *b = fopen(path, "rb");
                if (!b)
                    continue;
                char buf[4096];
                size_t k;
                while ((k = fread(buf, 1, sizeof buf, b)) > 0)
                    fwrite(buf, 1, k, f);
                fclose(b);
            }
            rc = close_synced(er, f, tmp);
            snprintf(path, sizeof path, "%s/projector_config.pbtxt", dir);
            if (!rc && rename(tmp, path) != 0)
                rc = efail(er, errno_code(errno), "cannot rename %s to %s: %s", tmp, path, strerror(errno));
            if (rc)
                unlink(tmp);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(subs[i]);
    free(subs);
    return rc;
}

int tbw_projector_add(const char *dir, const tbw_embedding *e, char *errmsg, size_t errmsg_len)
{
    errbuf er = {errmsg, errmsg_len};
    if (errmsg && errmsg_len)
        errmsg[0] = '\0';
    if (!dir || !dir[0])
        return efail(&er, TBW_EINVAL, "directory is empty or NULL");
    if (strlen(dir) > 3000)
        return efail(&er, TBW_EINVAL, "directory path too long");
    int rc = validate(&er, e);
    if (rc)
        return rc;
    char sub[80], edir[4096], stage[4096], final[4096], old[4096], path[4200];
    dir_name(e->tensor_name, sub, sizeof sub);
    snprintf(edir, sizeof edir, "%s/embeddings", dir);
    rc = mkdirs(&er, edir);
    if (rc)
        return rc;
    /* Stage everything in a fresh directory, then move it into place. */
    snprintf(stage, sizeof stage, "%s/.stage-%s-XXXXXX", edir, sub);
    if (!mkdtemp(stage))
        return efail(&er, errno_code(errno), "cannot create a staging directory in %s: %s", edir, strerror(errno));
    chmod(stage, 0755);
    snprintf(path, sizeof path, "%s/tensors.tsv", stage);
    rc = write_tensor_tsv(&er, path, e);
    if (!rc && e->n_columns) {
        snprintf(path, sizeof path, "%s/metadata.tsv", stage);
        rc = write_metadata_tsv(&er, path, e);
    }
    if (!rc && e->thumbnails) {
        snprintf(path, sizeof path, "%s/sprite.png", stage);
        rc = write_sprite(&er, path, e);
    }
    if (!rc && e->bookmarks_json) {
        snprintf(path, sizeof path, "%s/bookmarks.json", stage);
        rc = write_file(&er, path, e->bookmarks_json, strlen(e->bookmarks_json));
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/embedding.pbtxt", stage);
        rc = write_block(&er, path, e, sub);
    }
    if (rc) {
        rm_rf(stage);
        return rc;
    }
    snprintf(final, sizeof final, "%s/%s", edir, sub);
    snprintf(old, sizeof old, "%s/.old-%s", edir, sub);
    rm_rf(old);
    bool had_old = rename(final, old) == 0;
    if (rename(stage, final) != 0) {
        rc = efail(&er, errno_code(errno), "cannot move %s into place: %s", final, strerror(errno));
        if (had_old)
            rename(old, final);
        rm_rf(stage);
        return rc;
    }
    rc = rebuild_config(&er, dir);
    if (rc) {
        /* Put the previous state back so config and files agree. */
        rm_rf(final);
        if (had_old)
            rename(old, final);
        return rc;
    }
    if (had_old)
        rm_rf(old);
    return TBW_OK;
}
