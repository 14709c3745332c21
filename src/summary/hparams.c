/* HParams: the experiment and session start/end infos, each a Summary value
   whose metadata content is an HParamsPluginData (version 0) and whose tensor
   is empty, at step 0, as the hparams plugin's own summary writes them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/arena.h"
#include "../common/util.h"
#include "../writer/writer_internal.h"
#include "hparams.pb-c.h"
#include "summary.pb-c.h"
#include <tbw/hparams.h>

/* Summary.Value.tensor = TensorProto{dtype: DT_FLOAT, tensor_shape{dim{size: 0}}} */
static const uint8_t null_tensor_field[] = {0x42, 0x06, 0x08, 0x01, 0x12, 0x02, 0x12, 0x00};

/* t, or for 0 the writer's clock: the same time its events carry (a writer with its own clock
   writes the same bytes every run). */
static double now_or(tbw_writer *w, double t)
{
    return t > 0 ? t : tbw__writer_now(w);
}

/* Packs data into plugin "hparams" metadata and writes the value at step 0. */
static int write_plugin_data(tbw_writer *w, const char *tag, Tensorboard__Hparams__HParamsPluginData *data)
{
    size_t clen = tensorboard__hparams__hparams_plugin_data__get_packed_size(data);
    uint8_t *content = malloc(clen ? clen : 1);
    if (!content)
        return tbw__writer_fail(w, TBW_ENOMEM, "%s: out of memory", tag);
    tensorboard__hparams__hparams_plugin_data__pack(data, content);
    Tensorboard__SummaryMetadata md = TENSORBOARD__SUMMARY_METADATA__INIT;
    Tensorboard__SummaryMetadata__PluginData pd = TENSORBOARD__SUMMARY_METADATA__PLUGIN_DATA__INIT;
    pd.plugin_name = "hparams";
    pd.content.data = content;
    pd.content.len = clen;
    md.plugin_data = &pd;
    size_t mlen = tensorboard__summary_metadata__get_packed_size(&md);
    uint8_t *meta = malloc(mlen);
    if (!meta) {
        free(content);
        return tbw__writer_fail(w, TBW_ENOMEM, "%s: out of memory", tag);
    }
    tensorboard__summary_metadata__pack(&md, meta);
    int rc = tbw_writer_write_value(w, tag, 0, null_tensor_field, sizeof null_tensor_field, meta, mlen);
    free(meta);
    free(content);
    return rc;
}

static bool text_ok(const char *s)
{
    return !s || tbw__utf8_valid(s, strlen(s));
}

static bool name_ok(const char *s)
{
    return s && s[0] && tbw__utf8_valid(s, strlen(s));
}

static bool type_ok(tbw_hparam_type t)
{
    return t == TBW_HPARAM_STRING || t == TBW_HPARAM_BOOL || t == TBW_HPARAM_FLOAT;
}

/* Fills v from one value of an hparam of type t; strings are borrowed. */
static void set_value(Google__Protobuf__Value *v, tbw_hparam_type t, double number, const char *string, bool boolean)
{
    google__protobuf__value__init(v);
    if (t == TBW_HPARAM_FLOAT) {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
        v->number_value = number;
    } else if (t == TBW_HPARAM_STRING) {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        v->string_value = (char *)string;
    } else {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
        v->bool_value = boolean;
    }
}

/* The discrete values of h (n_values > 0): an array of its type, each finite or non-empty UTF-8. */
static int check_discrete(tbw_writer *w, const tbw_hparam_info *h)
{
    const void *arr = h->type == TBW_HPARAM_FLOAT    ? (const void *)h->numbers
                      : h->type == TBW_HPARAM_STRING ? (const void *)h->strings
                                                     : (const void *)h->bools;
    if (!arr)
        return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': n_values=%zu but no values of its type", h->name,
                                h->n_values);
    for (size_t k = 0; k < h->n_values; k++) {
        if (h->type == TBW_HPARAM_FLOAT && !isfinite(h->numbers[k]))
            return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': discrete value %zu is not finite",
                                    h->name, k);
        if (h->type == TBW_HPARAM_STRING && !name_ok(h->strings[k]))
            return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': discrete value %zu is empty or not UTF-8", h->name,
                                    k);
    }
    return TBW_OK;
}

/* hps[i]: its texts, its type, a name unlike the ones before it, then its domain. */
static int check_hparam(tbw_writer *w, const tbw_hparam_info *hps, size_t i)
{
    const tbw_hparam_info *h = &hps[i];
    if (!name_ok(h->name) || !text_ok(h->display_name) || !text_ok(h->description))
        return tbw__writer_fail(w, TBW_EINVAL, "hparam %zu: name is empty, or a text is not valid UTF-8", i);
    if (!type_ok(h->type))
        return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': unsupported type %d (string 1, bool 2, float 3)",
                                h->name, (int)h->type);
    for (size_t k = 0; k < i; k++)
        if (strcmp(hps[k].name, h->name) == 0)
            return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s' is listed twice", h->name);
    if (h->has_interval && (h->type != TBW_HPARAM_FLOAT || !(h->min_value <= h->max_value) || h->n_values))
        return tbw__writer_fail(w, TBW_EINVAL,
                                "hparam '%s': an interval needs type float, min <= max and no discrete values",
                                h->name);
    return h->n_values ? check_discrete(w, h) : TBW_OK;
}

/* ms[i]: its texts and dataset type, and a (group, tag) unlike the ones before it: the dashboard
   keys a metric by both, so a second one would be a column that never gets its own values. */
static int check_metric(tbw_writer *w, const tbw_metric_info *ms, size_t i)
{
    const tbw_metric_info *m = &ms[i];
    if (!name_ok(m->tag) || !text_ok(m->group) || !text_ok(m->display_name) || !text_ok(m->description) ||
        (unsigned)m->dataset_type > 2)
        return tbw__writer_fail(w, TBW_EINVAL, "metric %zu: tag is empty, a text is not UTF-8, or bad dataset type",
                                i);
    const char *g = m->group ? m->group : "";
    for (size_t k = 0; k < i; k++)
        if (strcmp(ms[k].tag, m->tag) == 0 && strcmp(ms[k].group ? ms[k].group : "", g) == 0)
            return tbw__writer_fail(w, TBW_EINVAL, "metric '%s' (group '%s') is listed twice", m->tag, g);
    return TBW_OK;
}

static int check_experiment(tbw_writer *w, const tbw_hparam_info *hps, size_t nh, const tbw_metric_info *ms,
                            size_t nm, const char *description)
{
    if ((nh && !hps) || (nm && !ms) || nh > 10000 || nm > 10000)
        return tbw__writer_fail(w, TBW_EINVAL, "hparams experiment: NULL arrays or more than 10000 entries");
    if (!text_ok(description))
        return tbw__writer_fail(w, TBW_EINVAL, "hparams experiment: description is not valid UTF-8");
    for (size_t i = 0; i < nh; i++) {
        int rc = check_hparam(w, hps, i);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < nm; i++) {
        int rc = check_metric(w, ms, i);
        if (rc)
            return rc;
    }
    return TBW_OK;
}

/* Arena room for everything build_experiment allocates, so one block holds it all. */
static size_t experiment_room(const tbw_hparam_info *hps, size_t nh, size_t nm)
{
    size_t total = 0;
    TBW__ARENA_PLAN(&total, Tensorboard__Hparams__HParamInfo, nh);
    TBW__ARENA_PLAN(&total, Tensorboard__Hparams__HParamInfo *, nh);
    for (size_t i = 0; i < nh; i++) {
        if (hps[i].has_interval) {
            TBW__ARENA_PLAN(&total, Tensorboard__Hparams__Interval, 1);
        } else if (hps[i].n_values) {
            TBW__ARENA_PLAN(&total, Google__Protobuf__ListValue, 1);
            TBW__ARENA_PLAN(&total, Google__Protobuf__Value, hps[i].n_values);
            TBW__ARENA_PLAN(&total, Google__Protobuf__Value *, hps[i].n_values);
        }
    }
    TBW__ARENA_PLAN(&total, Tensorboard__Hparams__MetricInfo, nm);
    TBW__ARENA_PLAN(&total, Tensorboard__Hparams__MetricInfo *, nm);
    TBW__ARENA_PLAN(&total, Tensorboard__Hparams__MetricName, nm);
    return total;
}

static Tensorboard__Hparams__Interval *build_interval(tbw__arena *a, const tbw_hparam_info *h)
{
    Tensorboard__Hparams__Interval *iv = TBW__ARENA_NEW(a, Tensorboard__Hparams__Interval);
    if (!iv)
        return NULL;
    tensorboard__hparams__interval__init(iv);
    iv->min_value = h->min_value;
    iv->max_value = h->max_value;
    return iv;
}

/* h's discrete values as a ListValue; the strings are borrowed. */
static Google__Protobuf__ListValue *build_discrete(tbw__arena *a, const tbw_hparam_info *h)
{
    Google__Protobuf__ListValue *list = TBW__ARENA_NEW(a, Google__Protobuf__ListValue);
    Google__Protobuf__Value *vals = TBW__ARENA_ARRAY(a, Google__Protobuf__Value, h->n_values);
    Google__Protobuf__Value **ptrs = TBW__ARENA_ARRAY(a, Google__Protobuf__Value *, h->n_values);
    if (!list || !vals || !ptrs)
        return NULL;
    google__protobuf__list_value__init(list);
    list->values = ptrs;
    list->n_values = h->n_values;
    for (size_t k = 0; k < h->n_values; k++) {
        set_value(&vals[k], h->type, h->numbers ? h->numbers[k] : 0, h->strings ? h->strings[k] : NULL,
                  h->bools ? h->bools[k] : false);
        ptrs[k] = &vals[k];
    }
    return list;
}

/* Fills o from h, its domain (if any) in the arena; false when out of memory. */
static bool build_hparam(tbw__arena *a, const tbw_hparam_info *h, Tensorboard__Hparams__HParamInfo *o)
{
    tensorboard__hparams__hparam_info__init(o);
    o->name = (char *)h->name;
    o->display_name = (char *)(h->display_name ? h->display_name : "");
    o->description = (char *)(h->description ? h->description : "");
    o->type = (Tensorboard__Hparams__DataType)h->type;
    if (h->has_interval) {
        o->domain_case = TENSORBOARD__HPARAMS__HPARAM_INFO__DOMAIN_DOMAIN_INTERVAL;
        o->domain_interval = build_interval(a, h);
        return o->domain_interval != NULL;
    }
    if (h->n_values) {
        o->domain_case = TENSORBOARD__HPARAMS__HPARAM_INFO__DOMAIN_DOMAIN_DISCRETE;
        o->domain_discrete = build_discrete(a, h);
        return o->domain_discrete != NULL;
    }
    return true;
}

/* Fills o from m, its name in the arena; false when out of memory. */
static bool build_metric(tbw__arena *a, const tbw_metric_info *m, Tensorboard__Hparams__MetricInfo *o)
{
    Tensorboard__Hparams__MetricName *name = TBW__ARENA_NEW(a, Tensorboard__Hparams__MetricName);
    if (!name)
        return false;
    tensorboard__hparams__metric_name__init(name);
    name->tag = (char *)m->tag;
    name->group = (char *)(m->group ? m->group : "");
    tensorboard__hparams__metric_info__init(o);
    o->name = name;
    o->display_name = (char *)(m->display_name ? m->display_name : "");
    o->description = (char *)(m->description ? m->description : "");
    o->dataset_type = (Tensorboard__Hparams__DatasetType)m->dataset_type;
    return true;
}

/* The hparam and metric infos of ex, all in the arena; false when out of memory. */
static bool build_experiment(tbw__arena *a, const tbw_hparam_info *hps, size_t nh, const tbw_metric_info *ms,
                             size_t nm, Tensorboard__Hparams__Experiment *ex)
{
    Tensorboard__Hparams__HParamInfo *infos = TBW__ARENA_ARRAY(a, Tensorboard__Hparams__HParamInfo, nh);
    ex->hparam_infos = TBW__ARENA_ARRAY(a, Tensorboard__Hparams__HParamInfo *, nh);
    if (!infos || !ex->hparam_infos)
        return false;
    ex->n_hparam_infos = nh;
    for (size_t i = 0; i < nh; i++) {
        if (!build_hparam(a, &hps[i], &infos[i]))
            return false;
        ex->hparam_infos[i] = &infos[i];
    }
    Tensorboard__Hparams__MetricInfo *minfos = TBW__ARENA_ARRAY(a, Tensorboard__Hparams__MetricInfo, nm);
    ex->metric_infos = TBW__ARENA_ARRAY(a, Tensorboard__Hparams__MetricInfo *, nm);
    if (!minfos || !ex->metric_infos)
        return false;
    ex->n_metric_infos = nm;
    for (size_t i = 0; i < nm; i++) {
        if (!build_metric(a, &ms[i], &minfos[i]))
            return false;
        ex->metric_infos[i] = &minfos[i];
    }
    return true;
}

int tbw_hparams_experiment(tbw_writer *w, const tbw_hparam_info *hps, size_t nh, const tbw_metric_info *ms, size_t nm,
                           const char *description, double time_created)
{
    if (!w)
        return TBW_EINVAL;
    int rc = check_experiment(w, hps, nh, ms, nm, description);
    if (rc)
        return rc;
    tbw__arena a;
    tbw__arena_init(&a, experiment_room(hps, nh, nm));
    Tensorboard__Hparams__Experiment ex = TENSORBOARD__HPARAMS__EXPERIMENT__INIT;
    if (!build_experiment(&a, hps, nh, ms, nm, &ex)) {
        tbw__arena_free(&a);
        return tbw__writer_fail(w, TBW_ENOMEM, "hparams experiment: out of memory");
    }
    ex.description = (char *)(description ? description : "");
    ex.time_created_secs = now_or(w, time_created);
    Tensorboard__Hparams__HParamsPluginData pdata = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__INIT;
    pdata.data_case = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__DATA_EXPERIMENT;
    pdata.experiment = &ex;
    rc = write_plugin_data(w, "_hparams_/experiment", &pdata);
    tbw__arena_free(&a);
    return rc;
}

/* values[i]: its name, type and value, and a name unlike the ones before it. */
static int check_value(tbw_writer *w, const tbw_hparam_value *values, size_t i)
{
    const tbw_hparam_value *v = &values[i];
    if (!name_ok(v->name))
        return tbw__writer_fail(w, TBW_EINVAL, "hparams session: value %zu has an empty or non-UTF-8 name",
                                i);
    if (!type_ok(v->type))
        return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': unsupported type %d (string 1, bool 2, float 3)",
                                v->name, (int)v->type);
    if (v->type == TBW_HPARAM_FLOAT && isnan(v->number))
        return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': NaN is not a value TensorBoard can show",
                                v->name);
    if (v->type == TBW_HPARAM_STRING && !name_ok(v->string))
        return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': string value is empty, NULL or not UTF-8",
                                v->name);
    for (size_t k = 0; k < i; k++)
        if (strcmp(values[k].name, v->name) == 0)
            return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s' is given twice", v->name);
    return TBW_OK;
}

static size_t session_room(size_t n)
{
    size_t total = 0;
    TBW__ARENA_PLAN(&total, Tensorboard__Hparams__SessionStartInfo__HparamsEntry, n);
    TBW__ARENA_PLAN(&total, Tensorboard__Hparams__SessionStartInfo__HparamsEntry *, n);
    TBW__ARENA_PLAN(&total, Google__Protobuf__Value, n);
    return total;
}

/* The hparams map of ssi, in the arena; names and strings are borrowed. False when out of memory. */
static bool build_session_values(tbw__arena *a, const tbw_hparam_value *values, size_t n,
                                 Tensorboard__Hparams__SessionStartInfo *ssi)
{
    Tensorboard__Hparams__SessionStartInfo__HparamsEntry *entries =
        TBW__ARENA_ARRAY(a, Tensorboard__Hparams__SessionStartInfo__HparamsEntry, n);
    Tensorboard__Hparams__SessionStartInfo__HparamsEntry **ptrs =
        TBW__ARENA_ARRAY(a, Tensorboard__Hparams__SessionStartInfo__HparamsEntry *, n);
    Google__Protobuf__Value *vals = TBW__ARENA_ARRAY(a, Google__Protobuf__Value, n);
    if (!entries || !ptrs || !vals)
        return false;
    for (size_t i = 0; i < n; i++) {
        tensorboard__hparams__session_start_info__hparams_entry__init(&entries[i]);
        entries[i].key = (char *)values[i].name;
        set_value(&vals[i], values[i].type, values[i].number, values[i].string, values[i].boolean);
        entries[i].value = &vals[i];
        ptrs[i] = &entries[i];
    }
    ssi->n_hparams = n;
    ssi->hparams = ptrs;
    return true;
}

int tbw_hparams_session_start(tbw_writer *w, const tbw_hparam_value *values, size_t n, const char *group_name,
                              double start_time)
{
    if (!w)
        return TBW_EINVAL;
    if ((n && !values) || n > 10000)
        return tbw__writer_fail(w, TBW_EINVAL, "hparams session: values is NULL or has more than 10000 entries");
    if (!text_ok(group_name))
        return tbw__writer_fail(w, TBW_EINVAL, "hparams session: group name is not valid UTF-8");
    for (size_t i = 0; i < n; i++) {
        int rc = check_value(w, values, i);
        if (rc)
            return rc;
    }
    tbw__arena a;
    tbw__arena_init(&a, session_room(n));
    Tensorboard__Hparams__SessionStartInfo ssi = TENSORBOARD__HPARAMS__SESSION_START_INFO__INIT;
    if (!build_session_values(&a, values, n, &ssi)) {
        tbw__arena_free(&a);
        return tbw__writer_fail(w, TBW_ENOMEM, "hparams session: out of memory");
    }
    ssi.group_name = (char *)(group_name ? group_name : "");
    ssi.start_time_secs = now_or(w, start_time);
    Tensorboard__Hparams__HParamsPluginData pdata = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__INIT;
    pdata.data_case = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__DATA_SESSION_START_INFO;
    pdata.session_start_info = &ssi;
    int rc = write_plugin_data(w, "_hparams_/session_start_info", &pdata);
    tbw__arena_free(&a);
    return rc;
}

int tbw_hparams_session_end(tbw_writer *w, tbw_session_status status, double end_time)
{
    if (!w)
        return TBW_EINVAL;
    if ((unsigned)status > TBW_SESSION_RUNNING)
        return tbw__writer_fail(w, TBW_EINVAL, "hparams session end: unknown status %d", (int)status);
    Tensorboard__Hparams__SessionEndInfo sei = TENSORBOARD__HPARAMS__SESSION_END_INFO__INIT;
    sei.status = (Tensorboard__Hparams__Status)status;
    sei.end_time_secs = now_or(w, end_time);
    Tensorboard__Hparams__HParamsPluginData pdata = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__INIT;
    pdata.data_case = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__DATA_SESSION_END_INFO;
    pdata.session_end_info = &sei;
    return write_plugin_data(w, "_hparams_/session_end_info", &pdata);
}
