/* sift-doc-builder.c: one message's fields -> a Xapian document and its
   side-file data (see sift-doc-builder.h for what is built and why). */
#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "str.h"
#include "sift-text.h"
#include "sift-plan.h"
#include "sift-terms.h"
#include "sift-termset.h"
#include "sift-phrase-filter.h"
#include "sift-doc-builder.h"

/* Per-document buffers larger than this (grown for one large message)
   are freed after it, so that one message does not set the indexing
   process's size for the rest of the run. */
#define DOC_KEEP_BUFFER_BYTES (1024 * 1024)

struct sift_token_span {
	size_t offset, len;
};

struct sift_pending_token {
	size_t offset, len;
	unsigned int flags;
};

struct sift_doc_builder {
	struct sift_text *text;
	bool fold_accents;

	/* the document being built */
	struct sift_xdoc *doc;
	/* its opaque tokens, each once (a message repeats its own ids in
	   Received, Message-ID, References, ...; a repeat tells a substring
	   scan nothing more), and the set of those already taken */
	string_t *opaque;
	struct sift_termset *opaque_seen;
	/* SIFT_OPAQUE_SEEN_SLOTS slots, each a token's fingerprint (the
	   high 28 bits) and the number of messages it was met in so far
	   (the low 4 bits, up to SIFT_OPAQUE_PROMOTE_AT): doc_opaque_common() */
	uint32_t *opaque_counts;
	/* a pooled field's current text: its opaque runs (doc_opaque_runs()),
	   and the first of them a token may still fall in */
	ARRAY(struct sift_token_span) opaque_runs;
	unsigned int opaque_run_next;
	/* sift_doc_builder_set_term_known() */
	sift_doc_builder_term_known_t *term_known;
	void *term_known_context;
	uint32_t doc_uid;
	enum sift_untrusted doc_untrusted;
	bool doc_truncated, doc_raw, doc_html;
	/* the document reached fts_sift_max_doc_terms in body text (or a
	   MIME part header): flag ZR, and ZD with the body's text below */
	bool doc_body_bounded;
	/* the normalized text of the body (every field that is body text
	   to Dovecot's search, fields separated by NUL), folded with
	   fold_accents, while it stays within SIFT_BOUNDED_TEXT_MAX_BYTES
	   (body_text_over: it did not): kept as SIFT_VALUE_BOUNDED_TEXT
	   only if the document reaches the bound */
	string_t *body_text;
	bool body_text_over;
	/* the normalized text of its decoded attachments (parts separated
	   by NUL), up to SIFT_DECODED_MAX_BYTES: SIFT_VALUE_DECODED */
	string_t *decoded;
	/* field text handed over (fts_sift_commit_size) */
	uoff_t text_bytes;
	/* the first failure since the document began */
	char *error;

	/* the field being built */
	enum sift_field_kind field_kind;
	bool field_open, field_is_address, field_is_pooled, field_chunks;
	/* HTML source: runs are split at '<' and '>' */
	bool field_html;
	/* a hashed header (SIFT_HEADER_HASHED) whose text was not seen
	   yet: keyed (token_prefix K<key>:) unless its first text holds an
	   opaque token (doc_hashed_tokens()) */
	bool field_hashed_pending;
	/* doc_hashed_tokens(): the tokens of that text */
	ARRAY(struct sift_pending_token) pending_tokens;
	/* the document's distinct terms since they were last handed to
	   Xapian (doc_flush_terms()), and what was handed over before */
	struct sift_termset *doc_terms;
	unsigned int flushed_terms;
	size_t flushed_bytes;
	bool flush_failed;
	/* fts_sift_max_doc_terms (0: no bound), the distinct terms of the
	   document (Xapian's copy) as of the last doc_flush_terms(), and
	   whether the document reached the bound: its later text is not
	   indexed (doc_term_dropped()) */
	unsigned int max_terms, doc_known_terms;
	bool doc_bounded;
	/* adding a term the bound never drops (header names, flags) */
	bool term_unbounded;
	/* the ASCII characters of the body: bit c % 8 of byte c / 8 */
	unsigned char doc_ascii[SIFT_BODY_ASCII_BYTES];
	/* the document's gap keys (sift-phrase-filter.h), and the field's
	   state */
	ARRAY_TYPE(sift_gap_key) gap_keys;
	struct sift_gap_state gap_state;
	/* with field_chunks: the current text's tokens (doc_chunks) */
	ARRAY(struct sift_token_span) token_spans;
	string_t *token_prefix, *run_prefix;
	buffer_t *field_buf;
	string_t *term;
	int field_error;
};

static void doc_set_error(struct sift_doc_builder *b, const char *error)
{
	/* the first failure is the one to report */
	if (b->error == NULL)
		b->error = i_strdup(error);
}

struct sift_doc_builder *
sift_doc_builder_new(struct sift_text *text, bool fold_accents)
{
	struct sift_doc_builder *b = i_new(struct sift_doc_builder, 1);

	b->text = text;
	b->fold_accents = fold_accents;
	i_array_init(&b->token_spans, 256);
	i_array_init(&b->pending_tokens, 64);
	i_array_init(&b->gap_keys, 256);
	b->doc_terms = sift_termset_new();
	b->opaque_seen = sift_termset_new();
	b->opaque_counts = i_new(uint32_t, SIFT_OPAQUE_SEEN_SLOTS);
	i_array_init(&b->opaque_runs, 16);
	b->token_prefix = str_new(default_pool, 64);
	b->run_prefix = str_new(default_pool, 64);
	b->field_buf = buffer_create_dynamic(default_pool, 4096);
	b->term = str_new(default_pool, 256);
	b->opaque = str_new(default_pool, 1024);
	b->decoded = str_new(default_pool, 256);
	b->body_text = str_new(default_pool, 4096);
	return b;
}

void sift_doc_builder_free(struct sift_doc_builder **_b)
{
	struct sift_doc_builder *b = *_b;

	if (b == NULL)
		return;
	*_b = NULL;
	sift_xdoc_free(&b->doc);
	str_free(&b->token_prefix);
	str_free(&b->run_prefix);
	buffer_free(&b->field_buf);
	str_free(&b->term);
	str_free(&b->opaque);
	str_free(&b->decoded);
	str_free(&b->body_text);
	array_free(&b->token_spans);
	array_free(&b->pending_tokens);
	array_free(&b->gap_keys);
	sift_termset_free(&b->doc_terms);
	sift_termset_free(&b->opaque_seen);
	i_free(b->opaque_counts);
	array_free(&b->opaque_runs);
	i_free(b->error);
	i_free(b);
}

static int doc_flush_terms(struct sift_doc_builder *b);

void sift_doc_builder_set_max_terms(struct sift_doc_builder *b,
				    unsigned int max_terms)
{
	b->max_terms = max_terms;
}

bool sift_doc_builder_bounded(const struct sift_doc_builder *b)
{
	return b->doc_bounded;
}

/* A term of the current field is not indexed (the document reached
   fts_sift_max_doc_terms): the searches that read that field must let
   Dovecot check the message where the index has no match for them.
   Body text (BODY, TEXT; a MIME part's header is body text to Dovecot):
   the ZR flag, "the index may miss some of the body", so a match found
   in the part that was indexed stays certain (its terms are the text's
   own) and Dovecot reads the message only for the searches the index
   can't answer from that part.  A top-level header: ZUH and ZUT (there
   is no such flag for headers; a bound reached in the headers is rare,
   as they come first). */
static void doc_term_dropped(struct sift_doc_builder *b)
{
	switch (b->field_kind) {
	case SIFT_FIELD_KIND_HEADER:
		b->doc_untrusted |= SIFT_UNTRUSTED_HEADERS |
			SIFT_UNTRUSTED_TEXT;
		break;
	case SIFT_FIELD_KIND_BODY:
	case SIFT_FIELD_KIND_HTML_BODY:
	case SIFT_FIELD_KIND_RAW_BODY:
	case SIFT_FIELD_KIND_DECODED:
	case SIFT_FIELD_KIND_MIME_HEADER:
		b->doc_body_bounded = TRUE;
		break;
	}
}

/* Is the current field body text to Dovecot's search (BODY, TEXT), whose
   text a bounded document keeps as SIFT_VALUE_BOUNDED_TEXT? */
static bool doc_field_is_body_text(const struct sift_doc_builder *b)
{
	switch (b->field_kind) {
	case SIFT_FIELD_KIND_BODY:
	case SIFT_FIELD_KIND_HTML_BODY:
	case SIFT_FIELD_KIND_DECODED:
	case SIFT_FIELD_KIND_MIME_HEADER:
		return TRUE;
	case SIFT_FIELD_KIND_RAW_BODY:
	case SIFT_FIELD_KIND_HEADER:
		break;
	}
	return FALSE;
}

/* Keep the normalized text of a body field's piece (see body_text): every
   term the field makes is a piece of it (or a piece of it without its
   accents, with fold_accents), so a string that is not in it is in no
   term of the body either, indexed or dropped at the bound.  Only while
   a bound is set: without one the text is never used. */
static void doc_body_text(struct sift_doc_builder *b, const char *norm,
			  size_t norm_len)
{
	size_t start = str_len(b->body_text);

	if (b->max_terms == 0 || b->body_text_over || norm_len == 0)
		return;
	if (start + norm_len > SIFT_BOUNDED_TEXT_MAX_BYTES) {
		/* a bounded document keeps only the ZR flag: give the
		   memory back now */
		b->body_text_over = TRUE;
		str_truncate(b->body_text, 0);
		return;
	}
	str_append_data(b->body_text, norm, norm_len);
	if (b->fold_accents) {
		char *p = str_c_modifiable(b->body_text) + start;
		size_t len = sift_text_fold_accents(p, norm_len, p);

		str_truncate(b->body_text, start + len);
	}
}

/* After a term new to the set: has the document reached
   fts_sift_max_doc_terms distinct terms?  The set may repeat terms
   handed to Xapian before, so near the bound they are handed over and
   Xapian's copy counted exactly.  Xapian holds about 400 bytes of heap
   per distinct term of a document being built and stored (a 3.5 MB
   binary patch: 349,000 terms, +108 MB of anonymous memory), which no
   commit setting splits: this is what bounds one message's share of
   the writer's peak. */
static void doc_check_bound(struct sift_doc_builder *b)
{
	if (b->max_terms == 0 || b->term_unbounded ||
	    b->doc_known_terms + sift_termset_count(b->doc_terms) <
	    b->max_terms)
		return;
	if (doc_flush_terms(b) < 0) {
		b->flush_failed = TRUE;
		return;
	}
	if (b->doc_known_terms >= b->max_terms)
		b->doc_bounded = TRUE;
}

/* A document's terms are handed to Xapian's copy of it whenever this
   many distinct ones have been collected, not all at its end: the set
   never grows past what is kept between documents (TERMSET_KEEP_CAP
   slots), and a large message (a 500 KB patch series: 60,000 distinct
   terms, 5 MB of set) is never held twice in full, in the set and in
   Xapian's document, at the writer's peak.  Xapian adds the wdf of a
   term handed over again, so the document is the same; only messages
   with more distinct terms than this pay the second lookups. */
#define DOC_FLUSH_TERMS 4096

/* Count one occurrence of prefix+word in the document being built (wdf 1)
   or only make it present (wdf 0); see "Within-document frequencies"
   at the top.  The document gets its terms at doc_flush_terms(). */
static void doc_put_term(struct sift_doc_builder *b, const char *prefix,
				size_t prefix_len, const char *word,
				size_t word_len, unsigned int wdf)
{
	/* (a term is built here for every word of every message: in a
	   stack buffer, without Dovecot's string calls; doc_add_term() cut
	   it to Xapian's limit, so only a prefix longer than that - none
	   is - would need the builder's string) */
	char stack_term[SIFT_XAPIAN_MAX_TERM], *term = stack_term;
	bool added;

	if (b->doc_bounded && !b->term_unbounded) {
		doc_term_dropped(b);
		return;
	}
	if (prefix_len + word_len > sizeof(stack_term)) {
		str_truncate(b->term, 0);
		term = buffer_append_space_unsafe(b->term,
						  prefix_len + word_len);
	}
	memcpy(term, prefix, prefix_len);
	memcpy(term + prefix_len, word, word_len);
	added = sift_termset_add(b->doc_terms, term, prefix_len + word_len,
				 wdf);
	if (added)
		doc_check_bound(b);
	if (b->fold_accents &&
	    (memchr(word, 0xcc, word_len) != NULL ||
	     memchr(word, 0xcd, word_len) != NULL)) {
		/* also without its accents (fts_sift_fold_accents), with
		   the same wdf so that a folded search scores like the
		   accented one; in place: the folded form is never
		   longer */
		size_t len = sift_text_fold_accents(term + prefix_len,
						    word_len,
						    term + prefix_len);

		if (len < word_len && len > 0 && !b->doc_bounded &&
		    sift_termset_add(b->doc_terms, term, prefix_len + len,
				     wdf)) {
			added = TRUE;
			doc_check_bound(b);
		}
	}
	/* (the set only grows when a term is new) */
	if (added && sift_termset_count(b->doc_terms) >= DOC_FLUSH_TERMS &&
	    doc_flush_terms(b) < 0)
		b->flush_failed = TRUE;
}

/* Hand the distinct terms collected since the last call to Xapian, each
   once with its wdf, and empty the set. */
static int doc_flush_terms(struct sift_doc_builder *b)
{
	const char *error;
	unsigned int i, count = sift_termset_count(b->doc_terms);
	const void *data;
	size_t len;
	unsigned int wdf;

	if (b->flush_failed) {
		/* an earlier part failed (b->error says why) */
		return -1;
	}
	b->flushed_terms += count;
	b->flushed_bytes += sift_termset_bytes(b->doc_terms);
	for (i = 0; i < count; i++) {
		sift_termset_get(b->doc_terms, i, &data, &len, &wdf);
		if (sift_xdoc_add_term_wdf(b->doc, data, len, wdf,
					   &error) != SIFT_X_OK) {
			doc_set_error(b, t_strdup_printf(
				"Adding a term failed: %s", error));
			return -1;
		}
	}
	sift_termset_clear(b->doc_terms);
	if (b->max_terms > 0 &&
	    sift_xdoc_term_count(b->doc, &b->doc_known_terms,
				 &error) != SIFT_X_OK) {
		doc_set_error(b, t_strdup_printf(
			"Counting terms failed: %s", error));
		return -1;
	}
	return 0;
}

/* Does the document keep its body's text (SIFT_VALUE_BOUNDED_TEXT, flag
   ZD)?  Only when the bound is all that left its body to Dovecot: a body
   Dovecot reads in another form (ZR for itself) gains nothing from it. */
static bool doc_keeps_body_text(const struct sift_doc_builder *b)
{
	return b->doc_body_bounded && !b->doc_raw && !b->body_text_over &&
		str_len(b->body_text) > 0;
}

/* Empty body_text, giving back a buffer grown for one large message
   rather than keeping the indexer at that size. */
static void doc_release_body_text(struct sift_doc_builder *b)
{
	if (buffer_get_size(b->body_text) > DOC_KEEP_BUFFER_BYTES) {
		str_free(&b->body_text);
		b->body_text = str_new(default_pool, 4096);
	}
	str_truncate(b->body_text, 0);
}

static int doc_set_value(struct sift_doc_builder *b, unsigned int slot,
			 const void *data, size_t len)
{
	const char *error;

	if (sift_xdoc_set_value(b->doc, slot, data, len,
				&error) != SIFT_X_OK) {
		doc_set_error(b, t_strdup_printf(
			"Adding a value failed: %s", error));
		return -1;
	}
	return 0;
}

/* The document's values: the map of its body's ASCII characters, the
   text of its decoded attachments and, past the bound, its body's text,
   each only if it has any (no value reads as none). */
static int doc_set_values(struct sift_doc_builder *b)
{
	static const unsigned char none[SIFT_BODY_ASCII_BYTES];

	if (memcmp(b->doc_ascii, none, sizeof(none)) != 0 &&
	    doc_set_value(b, SIFT_VALUE_BODY_ASCII, b->doc_ascii,
			  sizeof(b->doc_ascii)) < 0)
		return -1;
	if (str_len(b->decoded) > 0 &&
	    doc_set_value(b, SIFT_VALUE_DECODED, str_data(b->decoded),
			  str_len(b->decoded)) < 0)
		return -1;
	if (doc_keeps_body_text(b) &&
	    doc_set_value(b, SIFT_VALUE_BOUNDED_TEXT, str_data(b->body_text),
			  str_len(b->body_text)) < 0)
		return -1;
	/* the document has its copy: a large text is not held a second
	   time while Xapian stores the document (the writer's peak) */
	doc_release_body_text(b);
	return 0;
}

/* A word or run longer than a term can be is stored as overlapping
   windows that start every SIFT_WINDOW_SAFE_NEEDLE bytes (on character
   boundaries), so that every substring of up to that many bytes lies
   whole inside one of them; the ZL flag tells searches for longer strings
   to let Dovecot check the message.  The windows have wdf 0: they are
   pieces of one rare word, not words of the text. */
static int doc_add_term(struct sift_doc_builder *b, const char *prefix,
			       size_t prefix_len, const char *word,
			       size_t word_len, unsigned int wdf)
{
	size_t max = SIFT_XAPIAN_MAX_TERM - prefix_len;
	size_t start, next, len;

	if (word_len <= max) {
		doc_put_term(b, prefix, prefix_len, word, word_len,
				    wdf);
		return 0;
	}
	b->doc_truncated = TRUE;
	if (max < 2 * SIFT_WINDOW_SAFE_NEEDLE + 3) {
		/* (no prefix is this long) just cut, and trust no header
		   search of this message */
		b->doc_untrusted |= SIFT_UNTRUSTED_HEADERS;
		len = sift_text_utf8_truncate(word, word_len, max);
		doc_put_term(b, prefix, prefix_len, word, len, 0);
		return 0;
	}
	for (start = 0;; start = next) {
		len = sift_text_utf8_truncate(word + start, word_len - start,
					      max);
		doc_put_term(b, prefix, prefix_len, word + start,
				    len, 0);
		if (start + len >= word_len)
			break;
		next = start + sift_text_utf8_truncate(word + start,
				word_len - start, SIFT_WINDOW_SAFE_NEEDLE);
		if (next == start)
			next = start + len;
	}
	return 0;
}

/* Long and with a digit: a signature, timestamp or id fragment
   (1FE3A2B9C7D4, 0.2021.06.10.04.46.28, 20190410.12345@host) rather than
   a word anyone searches for by itself; almost all of them occur in one
   message only. */
static bool sift_token_is_opaque(const char *tok, size_t len)
{
	if (len < SIFT_OPAQUE_MIN_LEN)
		return FALSE;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] >= '0' && tok[i] <= '9')
			return TRUE;
	}
	return FALSE;
}

/* Count one more message holding the opaque token; TRUE once it was met
   in SIFT_OPAQUE_PROMOTE_AT messages (this one included) without its slot
   being taken over meanwhile.  Called once per message and token.  A
   fingerprint shared by two tokens only makes one a term early, which
   changes no result (sift-doc-builder.h, "Opaque tokens"). */
static bool doc_opaque_common(struct sift_doc_builder *b, const char *tok,
			      size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t *slot, fp;

	/* FNV-1a, folded */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)tok[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	slot = &b->opaque_counts[h & (SIFT_OPAQUE_SEEN_SLOTS - 1)];
	fp = (uint32_t)(h >> 32) & ~0xfU;
	if ((*slot & ~0xfU) != fp || (*slot & 0xfU) == 0) {
		*slot = fp | 1;
		return SIFT_OPAQUE_PROMOTE_AT <= 1;
	}
	if ((*slot & 0xfU) < SIFT_OPAQUE_PROMOTE_AT)
		(*slot)++;
	return (*slot & 0xfU) >= SIFT_OPAQUE_PROMOTE_AT;
}

/* Is P<token> a term of the index already (sift_doc_builder_set_term_known())? */
static bool doc_opaque_known(struct sift_doc_builder *b, const char *tok,
			     size_t len)
{
	bool known;

	if (b->term_known == NULL)
		return FALSE;
	T_BEGIN {
		string_t *term = t_str_new(len + 2);

		/* (the pool's term whatever the field's prefix: a hashed
		   header's instance keeps its other words under its key,
		   doc_hashed_tokens()) */
		str_append(term, SIFT_PREFIX_HDR_POOL);
		str_append_data(term, tok, len);
		known = b->term_known(b->term_known_context, str_c(term),
				      str_len(term));
	} T_END;
	return known;
}

void sift_doc_builder_set_term_known(struct sift_doc_builder *b,
				     sift_doc_builder_term_known_t *known,
				     void *context)
{
	b->term_known = known;
	b->term_known_context = context;
}

/* Note the runs (sift_next_run()) of a pooled field's text that are
   opaque as a token would be: at least SIFT_OPAQUE_MIN_LEN bytes with a
   digit.  The words of such a run ("bh=Qx3Zk+AbCdEf/Gh", "[209.132.180.67]",
   "<2019.GA12@kernel.org>") are fragments of the same id or signature,
   mostly held by one message, so they are kept like opaque tokens
   (doc_token()). */
static void doc_opaque_runs(struct sift_doc_builder *b, const char *text,
			    size_t len)
{
	size_t pos = 0, start, end;

	array_clear(&b->opaque_runs);
	b->opaque_run_next = 0;
	while (sift_next_run(text, len, &pos, &start, &end)) {
		if (sift_token_is_opaque(text + start, end - start)) {
			struct sift_token_span *run =
				array_append_space(&b->opaque_runs);
			run->offset = start;
			run->len = end - start;
		}
	}
}

/* Is the token at byte_offset (tokens come in text order) in one of the
   opaque runs doc_opaque_runs() noted, and at least
   SIFT_OPAQUE_RUN_MIN_TOKEN long? */
static bool doc_in_opaque_run(struct sift_doc_builder *b, size_t byte_offset,
			      size_t len)
{
	const struct sift_token_span *runs;
	unsigned int n;

	if (len < SIFT_OPAQUE_RUN_MIN_TOKEN)
		return FALSE;
	runs = array_get(&b->opaque_runs, &n);
	while (b->opaque_run_next < n &&
	       runs[b->opaque_run_next].offset +
	       runs[b->opaque_run_next].len <= byte_offset)
		b->opaque_run_next++;
	return b->opaque_run_next < n &&
		runs[b->opaque_run_next].offset <= byte_offset;
}

static int doc_token(void *context, const char *tok, size_t len,
			    size_t byte_offset, unsigned int flags ATTR_UNUSED)
{
	struct sift_doc_builder *b = context;

	if (b->field_is_pooled && (sift_token_is_opaque(tok, len) ||
				   doc_in_opaque_run(b, byte_offset, len))) {
		if (!sift_termset_add(b->opaque_seen, tok, len, 0)) {
			/* already taken for this message */
			return 0;
		}
		if (doc_opaque_common(b, tok, len) ||
		    doc_opaque_known(b, tok, len)) {
			/* common enough: a posting is cheaper than the
			   token's bytes once more (see sift-doc-builder.h).
			   Always the pool's term, also in a hashed header's
			   instance: so a token taken once per message is
			   in the opaque record or a P term, wherever it
			   occurs again (sift_query_hashed() relies on it) */
			return doc_add_term(b, SIFT_PREFIX_HDR_POOL,
					    strlen(SIFT_PREFIX_HDR_POOL),
					    tok, len, 1);
		}
		if (str_len(b->opaque) + len + 1 > SIFT_OPAQUE_MAX_PER_DOC) {
			/* a hostile or broken message: what is not kept
			   can't be answered from the index */
			b->doc_untrusted |= SIFT_UNTRUSTED_HEADERS |
				SIFT_UNTRUSTED_TEXT;
			return 0;
		}
		str_append_data(b->opaque, tok, len);
		str_append_c(b->opaque, '\n');
		return 0;
	}
	if (b->field_chunks) {
		struct sift_token_span *span =
			array_append_space(&b->token_spans);
		span->offset = byte_offset;
		span->len = len;
	}
	return doc_add_term(b, str_c(b->token_prefix),
				   str_len(b->token_prefix), tok, len, 1);
}

/* Address runs: maximal pieces of the normalized written address without
   spaces or address punctuation (see SIFT_ADDRESS_RUN_SEPARATORS).  And
   run pairs: two runs with exactly one space between them ("viresh
   kumar" of "Viresh Kumar <viresh.kumar@linaro.org>"), as one term with
   wdf 0, so a display name of two words is found exactly
   (SIFT_PLAN_RUN_PAIR): a string whose only separator is one space inside
   it can only occur across two such runs. */
static int doc_address_runs(struct sift_doc_builder *b,
				   const char *text, size_t len)
{
	size_t i = 0, start, sep_start, prev_start = 0;
	bool have_prev = FALSE;

	while (i < len) {
		sep_start = i;
		while (i < len && sift_is_address_run_separator(text[i]))
			i++;
		start = i;
		while (i < len && !sift_is_address_run_separator(text[i]))
			i++;
		if (i == start)
			break;
		if (doc_add_term(b, str_c(b->run_prefix),
				 str_len(b->run_prefix),
				 text + start, i - start, 1) < 0)
			return -1;
		if (have_prev && start == sep_start + 1 &&
		    text[sep_start] == ' ' &&
		    doc_add_term(b, str_c(b->run_prefix),
				 str_len(b->run_prefix),
				 text + prev_start, i - prev_start, 0) < 0)
			return -1;
		prev_start = start;
		have_prev = TRUE;
	}
	return 0;
}

/* Add text[start..end) as a run term, unless it is one word alone or
   with punctuation at its edges: its word term serves (see
   SIFT_PLAN_CHUNK); or, in a body, one character alone ("|", "+", "-",
   "{"): a search for one character is answered from the body's
   characters (the ASCII map and the C terms, which TEXT reads too), and
   no longer string lies inside it.  Those were 147,600 postings on
   30,000 list messages (1.1% of the index's).  *t: the first token span
   not before start. */
static int doc_run(struct sift_doc_builder *b, const char *text,
			  size_t start, size_t end,
			  const struct sift_token_span *spans, unsigned int n,
			  unsigned int *t)
{
	while (*t < n && spans[*t].offset < start)
		(*t)++;
	if (end == start)
		return 0;
	if (b->field_kind != SIFT_FIELD_KIND_MIME_HEADER &&
	    b->field_kind != SIFT_FIELD_KIND_HEADER &&
	    sift_text_utf8_is_one_char(text + start, end - start))
		return 0;
	if (*t < n && spans[*t].offset + spans[*t].len <= end &&
	    (*t + 1 == n || spans[*t + 1].offset >= end))
		return 0;
	/* a hashed header's pooled instance: its opaque runs are ids,
	   whose words went to the opaque record (doc_hashed_tokens()) */
	if (b->field_is_pooled && sift_token_is_opaque(text + start, end - start))
		return 0;
	return doc_add_term(b, str_c(b->token_prefix),
				   str_len(b->token_prefix),
				   text + start, end - start, 0);
}

/* Runs: maximal pieces of text without whitespace
   (sift_is_chunk_separator()).  A run of two or more words, or of no word
   at all, becomes a term too - "signed-off-by:", "foo->bar", "->", an
   unspaced Japanese sentence - so that a search string without
   whitespace, which can only occur inside one run, is found by the terms
   containing it (see SIFT_PLAN_CHUNK for when that is exact).  A single
   word with punctuation at its edges ("kselftest.") is left out: half of
   all runs, and its word is a term already.

   HTML source (field_html) is split at '<' and '>' as well: its runs are
   mostly markup that occurs once ('color="#008000">Easy',
   'here</font></a>.'), and as whole runs they were a quarter of the
   distinct body terms of a spam corpus.  A search string holding '<' or
   '>' may then span two of these pieces; sift-query.c makes the
   documents flagged ZH that have its words candidates for it.  Strings
   without them lie inside one piece and are answered as before. */
static int doc_chunks(struct sift_doc_builder *b, const char *text,
			     size_t len)
{
	const struct sift_token_span *spans;
	unsigned int t = 0, n;
	size_t pos = 0, start, i, j;

	spans = array_get(&b->token_spans, &n);
	while (sift_next_run(text, len, &pos, &start, &i)) {
		if (!b->field_html) {
			if (doc_run(b, text, start, i, spans, n,
					   &t) < 0)
				return -1;
			continue;
		}
		for (j = start; j < i; j++) {
			if (text[j] != '<' && text[j] != '>')
				continue;
			if (doc_run(b, text, start, j, spans, n,
					   &t) < 0)
				return -1;
			start = j + 1;
		}
		if (doc_run(b, text, start, i, spans, n, &t) < 0)
			return -1;
	}
	return 0;
}

/* Note each distinct character of body text: an ASCII one in the
   document's bitmap (stored as a value at the end), another as a C term
   (see the top). */
static void doc_chars(struct sift_doc_builder *b, const char *text,
			     size_t len)
{
	static const char prefix[] = SIFT_PREFIX_BODY_CHAR;
	size_t i, n;

	for (i = 0; i < len; i += n) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x80) {
			n = 1;
			b->doc_ascii[c / 8] |= 1U << (c % 8);
			continue;
		}
		/* normalized text is valid UTF-8 */
		n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (n > len - i)
			n = len - i;
		/* wdf 0: characters are not words (see above) */
		doc_put_term(b, prefix, sizeof(prefix) - 1,
				    text + i, n, 0);
	}
}

static int doc_token_note(void *context, const char *tok ATTR_UNUSED,
			  size_t len, size_t byte_offset, unsigned int flags)
{
	struct sift_doc_builder *b = context;
	struct sift_pending_token *t = array_append_space(&b->pending_tokens);

	t->offset = byte_offset;
	t->len = len;
	t->flags = flags;
	return 0;
}

/* Has the text a run (sift_next_run()) that is opaque as a token would
   be, at least SIFT_OPAQUE_MIN_LEN long with a digit?  Times, dates and
   builds made of short tokens ("10:00:00", "2.23.0.rc1", "[192.0.2.1]"):
   as the runs of a keyed header they were most of its distinct terms (the
   Date headers of 30,000 list messages alone gave 23,000). */
static bool doc_has_opaque_run(const char *text, size_t len)
{
	size_t pos = 0, start, end;

	while (sift_next_run(text, len, &pos, &start, &end)) {
		if (sift_token_is_opaque(text + start, end - start))
			return TRUE;
	}
	return FALSE;
}

/* The first text of a hashed header's instance (its whole value, unless
   it is over SIFT_FIELD_FLUSH_SIZE): tokenized once, then keyed, or,
   when a token or run is opaque (sift_token_is_opaque(),
   doc_has_opaque_run()), flagged ZK<key> with its opaque part pooled:
   those unique ids would otherwise be Xapian terms under every key,
   while its other words and runs are keyed as in any instance.  Decided
   before any of its terms is made; either way a search is exact
   (sift-terms.h). */
static int doc_hashed_tokens(struct sift_doc_builder *b, const char *norm,
			     size_t norm_len, const char **error_r)
{
	const struct sift_pending_token *t;
	unsigned int i, n;
	int ret;

	b->field_hashed_pending = FALSE;
	array_clear(&b->pending_tokens);
	ret = sift_text_tokenize(b->text, norm, norm_len, doc_token_note, b,
				 error_r);
	if (ret != 0)
		return ret;
	t = array_get(&b->pending_tokens, &n);
	for (i = 0; i < n; i++) {
		if (sift_token_is_opaque(norm + t[i].offset, t[i].len))
			break;
	}
	if (i < n || doc_has_opaque_run(norm, norm_len)) {
		/* token_prefix is K<key>: */
		i_assert(str_len(b->token_prefix) == SIFT_HEADER_KEY_LEN + 2);
		ret = doc_add_term(b, SIFT_FLAG_POOLED_KEY,
				   strlen(SIFT_FLAG_POOLED_KEY),
				   str_c(b->token_prefix) + 1,
				   SIFT_HEADER_KEY_LEN, 0);
		if (ret != 0) {
			*error_r = b->error != NULL ? b->error :
				"Adding a term failed";
			return ret;
		}
		/* Its opaque tokens (and the words of its opaque runs) go
		   to the opaque record or become P terms, like a pooled
		   header's; its other words and runs stay under the key
		   (token_prefix), so a search of the header is certain
		   about them, and only an occurrence inside the opaque
		   part is left to the pool (sift_query_hashed()).  No gap
		   keys: a phrase's candidates among these instances come
		   from the pool and the key's words. */
		b->field_is_pooled = TRUE;
		doc_opaque_runs(b, norm, norm_len);
	}
	for (i = 0; i < n; i++) {
		ret = doc_token(b, norm + t[i].offset, t[i].len,
				t[i].offset, t[i].flags);
		if (ret != 0) {
			*error_r = b->error != NULL ? b->error :
				"Adding a term failed";
			return ret;
		}
	}
	return 0;
}

/* Normalize and tokenize size bytes of field text into terms. */
static int doc_text(struct sift_doc_builder *b,
			   const unsigned char *data, size_t size)
{
	const char *error;
	const char *norm;
	size_t norm_len;
	int ret;

	if (b->doc_bounded) {
		/* none of its terms would be kept, nor its phrase
		   filter or characters: the flag lets Dovecot read it,
		   and for body text the text kept lets searches rule it
		   out (doc_body_text()) */
		doc_term_dropped(b);
		if (!doc_field_is_body_text(b) ||
		    (b->body_text_over &&
		     b->field_kind != SIFT_FIELD_KIND_DECODED))
			return 0;
	}
	if (sift_text_normalize(b->text, (const char *)data,
				size, &norm, &norm_len, &error) < 0) {
		doc_set_error(b, t_strdup_printf(
			"Normalizing text failed: %s", error));
		return -1;
	}
	if (doc_field_is_body_text(b))
		doc_body_text(b, norm, norm_len);
	if (b->field_kind == SIFT_FIELD_KIND_DECODED) {
		size_t room = SIFT_DECODED_MAX_BYTES - str_len(b->decoded);

		/* (cut on a character boundary: the value is searched
		   with normalized UTF-8 strings; kept past the bound too:
		   Dovecot can't read this text) */
		str_append_data(b->decoded, norm, norm_len <= room ?
				norm_len :
				sift_text_utf8_truncate(norm, norm_len, room));
	}
	if (b->doc_bounded)
		return 0;
	if (b->field_is_address) {
		/* address headers are indexed as runs only */
		return doc_address_runs(b, norm, norm_len);
	}
	array_clear(&b->token_spans);
	if (b->field_hashed_pending)
		ret = doc_hashed_tokens(b, norm, norm_len, &error);
	else {
		if (b->field_is_pooled)
			doc_opaque_runs(b, norm, norm_len);
		ret = sift_text_tokenize(b->text, norm, norm_len,
					 doc_token, b, &error);
	}
	if (ret == 0 && b->field_chunks &&
	    doc_chunks(b, norm, norm_len) < 0)
		return -1;
	if (ret == 0 && (b->field_kind == SIFT_FIELD_KIND_BODY ||
			 b->field_kind == SIFT_FIELD_KIND_HTML_BODY ||
			 b->field_kind == SIFT_FIELD_KIND_DECODED))
		doc_chars(b, norm, norm_len);
	if (ret == 0 && b->field_chunks && !b->field_is_pooled &&
	    b->field_kind != SIFT_FIELD_KIND_MIME_HEADER) {
		/* phrase filters serve BODY and Subject searches */
		sift_phrase_filter_text_keys(&b->gap_state,
				    str_c(b->token_prefix), norm, norm_len,
				    &b->gap_keys);
	}
	if (ret < 0) {
		doc_set_error(b, t_strdup_printf(
			"Segmenting text failed: %s", error));
		return -1;
	}
	return ret == 0 ? 0 : -1;
}

void sift_doc_builder_field_begin(struct sift_doc_builder *b,
			    enum sift_field_kind kind, const char *hdr_name)
{
	i_assert(b->doc != NULL);
	i_assert(!b->field_open);

	b->field_open = TRUE;
	b->field_kind = kind;
	b->field_is_address = FALSE;
	b->field_is_pooled = FALSE;
	b->field_chunks = FALSE;
	b->field_html = FALSE;
	b->field_hashed_pending = FALSE;
	b->field_error = 0;
	i_zero(&b->gap_state);
	if (doc_field_is_body_text(b) && str_len(b->body_text) > 0 &&
	    !b->body_text_over)
		str_append_c(b->body_text, '\0');
	buffer_set_used_size(b->field_buf, 0);
	str_truncate(b->token_prefix, 0);

	switch (kind) {
	case SIFT_FIELD_KIND_HTML_BODY:
		b->field_html = TRUE;
		b->doc_html = TRUE;
		/* fall through */
	case SIFT_FIELD_KIND_DECODED:
		/* decoded: body text in every way (terms, characters,
		   phrase filters; not split at '<' '>' like HTML source),
		   and kept as text for phrases: a search can't leave this
		   part to Dovecot, which can't read it */
		if (kind == SIFT_FIELD_KIND_DECODED &&
		    str_len(b->decoded) > 0 &&
		    str_len(b->decoded) < SIFT_DECODED_MAX_BYTES)
			str_append_c(b->decoded, '\0');
		/* fall through */
	case SIFT_FIELD_KIND_BODY:
		str_append(b->token_prefix, SIFT_PREFIX_BODY);
		b->field_chunks = TRUE;
		break;
	case SIFT_FIELD_KIND_RAW_BODY:
		b->doc_raw = TRUE;
		break;
	case SIFT_FIELD_KIND_MIME_HEADER:
		str_append(b->token_prefix, SIFT_PREFIX_MIME);
		b->field_chunks = TRUE;
		/* TEXT searches MIME header names too */
		if (hdr_name != NULL && doc_text(b,
				(const unsigned char *)hdr_name,
				strlen(hdr_name)) < 0)
			b->field_error = -1;
		break;
	case SIFT_FIELD_KIND_HEADER: {
		size_t name_len = hdr_name == NULL ? 0 : strlen(hdr_name);
		const char *norm = "";
		size_t norm_len = 0;
		const char *error;

		if (name_len > 0 && sift_text_normalize(b->text,
				hdr_name, name_len, &norm, &norm_len,
				&error) == 0) {
			/* kept past fts_sift_max_doc_terms: a search
			   for the header's presence (SIFT_STEP_EXISTS)
			   has no doubts to fall back on */
			b->term_unbounded = TRUE;
			if (doc_add_term(b, SIFT_PREFIX_HDR_NAME,
						1, norm, norm_len, 0) < 0)
				b->field_error = -1;
			b->term_unbounded = FALSE;
		}
		switch (sift_header_class(hdr_name)) {
		case SIFT_HEADER_ADDRESS:
			/* runs only (sift-terms.h) */
			b->field_is_address = TRUE;
			str_truncate(b->run_prefix, 0);
			str_append(b->run_prefix,
				   sift_header_prefix(hdr_name));
			break;
		case SIFT_HEADER_KEYED:
			str_append(b->token_prefix,
				   sift_header_prefix(hdr_name));
			b->field_chunks = TRUE;
			break;
		case SIFT_HEADER_HASHED:
			if (b->field_error == 0 && norm_len > 0) {
				str_append(b->token_prefix,
					   sift_header_key_prefix(norm,
								  norm_len));
				b->field_chunks = TRUE;
				b->field_hashed_pending = TRUE;
			} else {
				/* no N term, no key */
				str_append(b->token_prefix,
					   SIFT_PREFIX_HDR_POOL);
				b->field_is_pooled = TRUE;
			}
			break;
		case SIFT_HEADER_POOLED:
			str_append(b->token_prefix, SIFT_PREFIX_HDR_POOL);
			b->field_is_pooled = TRUE;
			break;
		}
		break;
	}
	}
}

static size_t last_space_pos(const unsigned char *data, size_t size)
{
	while (size > 0) {
		unsigned char c = data[size - 1];
		if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			return size;
		size--;
	}
	return 0;
}

void sift_doc_builder_mark_untrusted(struct sift_doc_builder *b,
				      enum sift_untrusted what)
{
	i_assert(b->doc != NULL);
	b->doc_untrusted |= what;
}

int sift_doc_builder_field_data(struct sift_doc_builder *b,
				 const unsigned char *data, size_t size,
				 const char **error_r)
{
	i_assert(b->field_open);

	if (b->field_error < 0) {
		*error_r = b->error;
		return -1;
	}
	if (b->field_kind == SIFT_FIELD_KIND_RAW_BODY)
		return 0;
	b->text_bytes += size;
	buffer_append(b->field_buf, data, size);
	if (b->field_buf->used >= SIFT_FIELD_FLUSH_SIZE) {
		size_t cut = last_space_pos(b->field_buf->data,
					    b->field_buf->used);
		/* no whitespace at all in 256 KB: Dovecot hands us whole
		   UTF-8 characters, so cutting at the end is safe (a word
		   this long is cut anyway) */
		if (cut == 0)
			cut = b->field_buf->used;
		/* an address header's run pairs (doc_address_runs()) are
		   not made across the cut: Dovecot checks its searches */
		if (b->field_is_address)
			b->doc_untrusted |= SIFT_UNTRUSTED_HEADERS;
		if (doc_text(b, b->field_buf->data, cut) < 0) {
			b->field_error = -1;
			*error_r = b->error;
			return -1;
		}
		buffer_delete(b->field_buf, 0, cut);
	}
	return 0;
}

int sift_doc_builder_field_end(struct sift_doc_builder *b,
				const char **error_r)
{
	int ret = b->field_error;

	i_assert(b->field_open);
	b->field_open = FALSE;
	if (ret == 0 && b->field_buf->used > 0 &&
	    b->field_kind != SIFT_FIELD_KIND_RAW_BODY)
		ret = doc_text(b, b->field_buf->data,
				      b->field_buf->used);
	buffer_set_used_size(b->field_buf, 0);
	if (ret < 0)
		*error_r = b->error;
	return ret;
}

/* The flag terms that say where searches must not trust this document. */
static int doc_add_flags(struct sift_doc_builder *b)
{
	const struct {
		bool set;
		const char *term;
	} flags[] = {
		{ b->doc_raw || b->doc_body_bounded, SIFT_FLAG_RAW_BODY },
		{ doc_keeps_body_text(b), SIFT_FLAG_BOUNDED_TEXT },
		{ b->doc_truncated, SIFT_FLAG_TRUNCATED },
		{ b->doc_html, SIFT_FLAG_HTML },
		{ (b->doc_untrusted & SIFT_UNTRUSTED_BODY) != 0,
		  SIFT_FLAG_UNTRUSTED_BODY },
		{ (b->doc_untrusted & SIFT_UNTRUSTED_HEADERS) != 0,
		  SIFT_FLAG_UNTRUSTED_HEADERS },
		{ (b->doc_untrusted & SIFT_UNTRUSTED_TEXT) != 0,
		  SIFT_FLAG_UNTRUSTED_TEXT },
	};

	int ret = 0;

	/* (never dropped: they are what makes the bound exact) */
	b->term_unbounded = TRUE;
	for (unsigned int i = 0; i < N_ELEMENTS(flags); i++) {
		if (flags[i].set &&
		    doc_add_term(b, flags[i].term,
					strlen(flags[i].term), "", 0, 0) < 0) {
			ret = -1;
			break;
		}
	}
	b->term_unbounded = FALSE;
	return ret;
}


int sift_doc_builder_begin(struct sift_doc_builder *b, uint32_t uid,
			   const char **error_r)
{
	const char *error;

	i_assert(b->doc == NULL);

	i_free_and_null(b->error);
	if (sift_xdoc_new(&b->doc, &error) != SIFT_X_OK) {
		*error_r = t_strdup_printf("Creating a document failed: %s",
					   error);
		return -1;
	}
	b->doc_uid = uid;
	b->text_bytes = 0;
	b->field_open = FALSE;
	str_truncate(b->opaque, 0);
	str_truncate(b->decoded, 0);
	doc_release_body_text(b);
	b->body_text_over = FALSE;
	if (buffer_get_size(b->gap_keys.arr.buffer) > DOC_KEEP_BUFFER_BYTES) {
		/* grown for one large message: give it back rather than
		   keep the indexer at that size for the rest of the run */
		array_free(&b->gap_keys);
		i_array_init(&b->gap_keys, 256);
	}
	array_clear(&b->gap_keys);
	if (buffer_get_size(b->pending_tokens.arr.buffer) >
	    DOC_KEEP_BUFFER_BYTES) {
		/* (the same for one huge header) */
		array_free(&b->pending_tokens);
		i_array_init(&b->pending_tokens, 64);
	}
	sift_termset_clear(b->doc_terms);
	b->flushed_terms = 0;
	b->flushed_bytes = 0;
	b->flush_failed = FALSE;
	b->doc_known_terms = 0;
	b->doc_bounded = FALSE;
	b->term_unbounded = FALSE;
	sift_termset_clear(b->opaque_seen);
	memset(b->doc_ascii, 0, sizeof(b->doc_ascii));
	b->doc_truncated = FALSE;
	b->doc_raw = FALSE;
	b->doc_body_bounded = FALSE;
	b->doc_html = FALSE;
	b->doc_untrusted = 0;
	return 0;
}

bool sift_doc_builder_active(const struct sift_doc_builder *b)
{
	return b->doc != NULL;
}

uint32_t sift_doc_builder_uid(const struct sift_doc_builder *b)
{
	return b->doc_uid;
}

int sift_doc_builder_end_field(struct sift_doc_builder *b,
			       const char **error_r)
{
	if (!b->field_open)
		return 0;
	return sift_doc_builder_field_end(b, error_r);
}

int sift_doc_builder_finish(struct sift_doc_builder *b,
			    const char **error_r)
{
	i_assert(b->doc != NULL);

	if (sift_doc_builder_end_field(b, error_r) < 0)
		return -1;
	if (doc_add_flags(b) < 0 || doc_flush_terms(b) < 0 ||
	    doc_set_values(b) < 0) {
		*error_r = b->error;
		return -1;
	}
	return 0;
}

struct sift_xdoc *sift_doc_builder_xdoc(struct sift_doc_builder *b)
{
	return b->doc;
}

const char *sift_doc_builder_opaque(const struct sift_doc_builder *b,
				    size_t *len_r)
{
	*len_r = str_len(b->opaque);
	return str_c(b->opaque);
}

const uint64_t *sift_doc_builder_gap_keys(const struct sift_doc_builder *b,
					  unsigned int *count_r)
{
	return array_get(&b->gap_keys, count_r);
}

uoff_t sift_doc_builder_text_bytes(const struct sift_doc_builder *b)
{
	return b->text_bytes;
}

void sift_doc_builder_term_stats(const struct sift_doc_builder *b,
				 unsigned int *count_r, size_t *bytes_r)
{
	*count_r = b->flushed_terms + sift_termset_count(b->doc_terms);
	*bytes_r = b->flushed_bytes + sift_termset_bytes(b->doc_terms);
}

void sift_doc_builder_discard(struct sift_doc_builder *b)
{
	sift_xdoc_free(&b->doc);
	b->field_open = FALSE;
}
