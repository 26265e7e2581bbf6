/* Packed mentions for spill files: header of integers, then string bytes. */
#include "mention_pack.h"

#include <string.h>

#define N_STRS 9

/* The order of the strings in the packed form. */
static es_str *str_fields(es_mention *m, es_str *out[N_STRS])
{
    out[0] = &m->id;
    out[1] = &m->text;
    out[2] = &m->author;
    out[3] = &m->source;
    out[4] = &m->url;
    out[5] = &m->lang;
    out[6] = &m->reply_to;
    out[7] = &m->created_at;
    out[8] = &m->raw;
    return out[0];
}

/* Absent strings (ptr NULL) are stored with length UINT32_MAX. */
#define ABSENT UINT32_MAX

int es_mention_pack(const es_mention *m, int with_raw, es_buf *out)
{
    es_mention copy = *m;
    if (!with_raw) {
        copy.raw.ptr = NULL;
        copy.raw.len = 0;
    }
    es_str *f[N_STRS];
    str_fields(&copy, f);
    int64_t nums[5] = {copy.created_ms, copy.followers, copy.likes, copy.reposts, copy.replies};
    uint32_t lens[N_STRS];
    size_t total = sizeof nums + sizeof lens;
    for (int i = 0; i < N_STRS; i++) {
        if (f[i]->ptr == NULL) {
            lens[i] = ABSENT;
        } else {
            if (f[i]->len >= ABSENT) {
                return ES_ETOOBIG;
            }
            lens[i] = (uint32_t)f[i]->len;
            total += f[i]->len;
        }
    }
    int rc = es_buf_reserve(out, total);
    if (rc != 0) {
        return rc;
    }
    es_buf_add(out, nums, sizeof nums);
    es_buf_add(out, lens, sizeof lens);
    for (int i = 0; i < N_STRS; i++) {
        if (lens[i] != ABSENT) {
            es_buf_add(out, f[i]->ptr, lens[i]);
        }
    }
    return 0;
}

int es_mention_unpack(const void *p, size_t len, es_mention *m)
{
    int64_t nums[5];
    uint32_t lens[N_STRS];
    if (len < sizeof nums + sizeof lens) {
        return ES_EPARSE;
    }
    const char *c = p;
    memcpy(nums, c, sizeof nums);
    memcpy(lens, c + sizeof nums, sizeof lens);
    size_t off = sizeof nums + sizeof lens;
    es_str *f[N_STRS];
    str_fields(m, f);
    for (int i = 0; i < N_STRS; i++) {
        if (lens[i] == ABSENT) {
            f[i]->ptr = NULL;
            f[i]->len = 0;
            continue;
        }
        if (lens[i] > len - off) {
            return ES_EPARSE;
        }
        f[i]->ptr = c + off;
        f[i]->len = lens[i];
        off += lens[i];
    }
    m->created_ms = nums[0];
    m->followers = nums[1];
    m->likes = nums[2];
    m->reposts = nums[3];
    m->replies = nums[4];
    return off == len ? 0 : ES_EPARSE;
}
