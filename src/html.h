/*
 * Plain text out of the sanitized HTML that platforms put in their JSON:
 * Mastodon status `content`, HN Algolia `comment_text` / `story_text`,
 * JSON Feed `content_html`. Not a general HTML parser: it drops tags,
 * turns block boundaries and <br> into newlines, and decodes entities,
 * which is all that text matching and scoring need.
 *
 * Both functions append to `out` (a bounded buffer: exceeding its ceiling
 * returns ES_ETOOBIG and leaves a partial result) and never fail on odd
 * input: an unclosed '<' or an unknown entity is kept as text.
 */
#ifndef ES_HTML_H
#define ES_HTML_H

#include <stddef.h>

#include "buf.h"

/*
 * Append the text of `html`: tags removed (the text inside <a> and inside
 * Mastodon's "invisible"/"ellipsis" spans is kept, so a shortened link reads
 * as its full URL); <p>, <div>, <li>, <h1>..<h6>, <blockquote> boundaries
 * become a line break (a blank line between paragraphs), <br> a newline;
 * runs of blanks collapse to one space; <script>/<style> content and
 * comments are dropped; entities are decoded as by es_html_unescape.
 */
int es_html_to_text(es_buf *out, const char *html, size_t n);

/*
 * Append `s` with HTML character references decoded: &amp; &lt; &gt; &quot;
 * &#39; &apos; &nbsp; (as a plain space) and other common named ones,
 * &#NNN; and &#xHHHH; (NUL, surrogates and out-of-range values become
 * U+FFFD). Anything else is copied as is.
 */
int es_html_unescape(es_buf *out, const char *s, size_t n);

#endif
