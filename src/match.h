/*
 * Internal entry points of the topic matcher (src/match.c), for pipeline
 * stages that already hold a mention's tokens and should not tokenize the
 * same text twice. The public API is include/earshot/topics.h.
 */
#ifndef ES_MATCH_H
#define ES_MATCH_H

#include "earshot.h"
#include "earshot/topics.h"
#include "tokenize.h"

/*
 * es_topics_match() with the mention's text already tokenized by
 * es_tokenize() into `toks` (which must be the tokens of mention->text and
 * stay untouched during the call). Same results, same ownership of *ids.
 */
int es__topics_match_tokens(es_matcher *m, const es_mention *mention, const es_tokens *toks,
                            const uint32_t **ids, size_t *n);

#endif
