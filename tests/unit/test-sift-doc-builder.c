/* Unit tests of plugin/sift-doc-builder.c on its own (no mailbox, no
   index): what a message's fields become - the terms of each field kind
   with their prefixes, run terms, windows of over-long words, flag terms,
   opaque tokens kept out of the terms, characters, values, gap keys - and
   that every term fits Xapian.  The terms are read back through an empty
   database (sift_xdb_new_terms() lists every term of a document it does
   not hold); expected words are normalized with the same text pipeline,
   not written out by hand. */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-text.h"
#include "sift-plan.h"
#include "sift-terms.h"
#include "sift-doc-builder.h"

#include <stdlib.h>

static char test_root[] = "/tmp/test-sift-doc-builder.XXXXXX";
static struct sift_text *text;
/* empty: its new_terms are all of a document's terms */
static struct sift_xdb *empty_db;

/* normalized form of s, on the data stack */
static const char *norm(const char *s)
{
	const char *out, *error;
	size_t len;

	if (sift_text_normalize(text, s, strlen(s), &out, &len, &error) < 0)
		i_fatal("normalize: %s", error);
	return t_strndup(out, len);
}

/* the document's terms, one string each */
static ARRAY_TYPE(const_string) *doc_terms(struct sift_doc_builder *b)
{
	ARRAY_TYPE(const_string) *terms = t_new(ARRAY_TYPE(const_string), 1);
	struct sift_buf buf = { NULL, 0, 0 };
	const char *error, *p, *end, *nl;

	t_array_init(terms, 64);
	if (sift_xdb_new_terms(empty_db, sift_doc_builder_xdoc(b), &buf,
			       &error) != SIFT_X_OK)
		i_fatal("new_terms: %s", error);
	for (p = buf.data, end = buf.data + buf.len; p < end; p = nl + 1) {
		nl = memchr(p, '\n', end - p);
		if (nl == NULL)
			break;
		const char *term = t_strdup_until(p, nl);
		array_push_back(terms, &term);
	}
	sift_buf_free(&buf);
	return terms;
}

static bool has_term(const ARRAY_TYPE(const_string) *terms, const char *term)
{
	const char *const *t;

	array_foreach(terms, t) {
		if (strcmp(*t, term) == 0)
			return TRUE;
	}
	return FALSE;
}

static unsigned int terms_with_prefix(const ARRAY_TYPE(const_string) *terms,
				      const char *prefix)
{
	const char *const *t;
	unsigned int n = 0;

	array_foreach(terms, t) {
		if (strncmp(*t, prefix, strlen(prefix)) == 0)
			n++;
	}
	return n;
}

/* One document of one field. */
static void build_one(struct sift_doc_builder *b, uint32_t uid,
		      enum sift_field_kind kind, const char *hdr_name,
		      const char *data)
{
	const char *error;

	test_assert(sift_doc_builder_begin(b, uid, &error) == 0);
	sift_doc_builder_field_begin(b, kind, hdr_name);
	test_assert(sift_doc_builder_field_data(b, (const void *)data,
						strlen(data), &error) == 0);
	test_assert(sift_doc_builder_field_end(b, &error) == 0);
	test_assert(sift_doc_builder_finish(b, &error) == 0);
}

static void test_body_terms(void)
{
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *terms;
	unsigned int keys;

	test_begin("doc builder: body words, runs, characters, gap keys");
	build_one(b, 7, SIFT_FIELD_KIND_BODY, NULL,
		  "Hello kselftest-run world. \xc3\xa9t\xc3\xa9");
	test_assert(sift_doc_builder_uid(b) == 7);
	terms = doc_terms(b);
	test_assert(has_term(terms, t_strconcat("B", norm("Hello"), NULL)));
	test_assert(has_term(terms, t_strconcat("B", norm("kselftest"), NULL)));
	test_assert(has_term(terms, t_strconcat("B", norm("run"), NULL)));
	/* a run of two words is a term; one word with punctuation is not */
	test_assert(has_term(terms, t_strconcat("B", norm("kselftest-run"),
						NULL)));
	test_assert(!has_term(terms, t_strconcat("B", norm("world."), NULL)));
	/* non-ASCII characters are C terms, ASCII ones go to the value: é
	   normalizes to E and a combining accent, the one C term */
	{
		const char *e = norm("\xc3\xa9");

		test_assert(e[0] == 'E' && (unsigned char)e[1] >= 0x80);
		test_assert(has_term(terms, t_strconcat("C", e + 1, NULL)));
		test_assert(terms_with_prefix(terms, "C") == 1);
	}
	/* nothing of a header, no flag */
	test_assert(terms_with_prefix(terms, "H") == 0);
	test_assert(terms_with_prefix(terms, "Z") == 0);
	(void)sift_doc_builder_gap_keys(b, &keys);
	test_assert(keys > 0);
	test_assert(sift_doc_builder_text_bytes(b) ==
		    strlen("Hello kselftest-run world. \xc3\xa9t\xc3\xa9"));
	sift_doc_builder_discard(b);
	test_assert(!sift_doc_builder_active(b));
	sift_doc_builder_free(&b);
	test_end();
}

/* Format 10: a body run of one character alone ("|", "->" is two) is
   no term (the body's characters answer a one-character search); a
   header's is kept (a HEADER search reads no characters). */
static void test_one_char_runs(void)
{
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *terms;
	const char *key;

	test_begin("doc builder: no body run of one character");
	build_one(b, 8, SIFT_FIELD_KIND_BODY, NULL,
		  "a | b -> c + d \xe2\x86\x92 e --- f");
	terms = doc_terms(b);
	test_assert(!has_term(terms, "B|"));
	test_assert(!has_term(terms, "B+"));
	test_assert(!has_term(terms, t_strconcat("B", norm("\xe2\x86\x92"),
						 NULL)));
	test_assert(has_term(terms, "B->"));
	test_assert(has_term(terms, "B---"));
	/* the characters are there: a C term for the non-ASCII one */
	test_assert(has_term(terms, t_strconcat("C", norm("\xe2\x86\x92"),
						NULL)));
	sift_doc_builder_discard(b);

	/* the same in an HTML body */
	build_one(b, 9, SIFT_FIELD_KIND_HTML_BODY, NULL, "<b>x</b> | y");
	terms = doc_terms(b);
	test_assert(!has_term(terms, "B|"));
	sift_doc_builder_discard(b);

	/* a hashed header keeps it */
	build_one(b, 10, SIFT_FIELD_KIND_HEADER, "X-Something", "a | b");
	terms = doc_terms(b);
	key = sift_header_key_prefix(norm("X-Something"),
				     strlen(norm("X-Something")));
	test_assert(has_term(terms, t_strconcat(key, "|", NULL)));
	sift_doc_builder_discard(b);
	sift_doc_builder_free(&b);
	test_end();
}

/* Format 10: an id or trace header is pooled: no K terms and no ZK flag
   even without an opaque token, its N term as before. */
static void test_trace_headers(void)
{
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *terms;

	test_begin("doc builder: id and trace headers are pooled");
	build_one(b, 11, SIFT_FIELD_KIND_HEADER, "Date",
		  "Mon, 1 Apr 2019 10:00:00 +0200");
	terms = doc_terms(b);
	test_assert(has_term(terms, t_strconcat("N", norm("Date"), NULL)));
	test_assert(terms_with_prefix(terms, SIFT_FLAG_POOLED_KEY) == 0);
	test_assert(terms_with_prefix(terms, SIFT_PREFIX_HDR_KEY) == 0);
	test_assert(has_term(terms, t_strconcat("P", norm("Mon"), NULL)));
	sift_doc_builder_discard(b);

	build_one(b, 12, SIFT_FIELD_KIND_HEADER, "in-reply-to",
		  "<plain.word@example.org>");
	terms = doc_terms(b);
	test_assert(terms_with_prefix(terms, SIFT_FLAG_POOLED_KEY) == 0);
	test_assert(terms_with_prefix(terms, SIFT_PREFIX_HDR_KEY) == 0);
	test_assert(terms_with_prefix(terms, "P") > 0);
	sift_doc_builder_discard(b);
	sift_doc_builder_free(&b);
	test_end();
}

static void test_header_kinds(void)
{
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *terms;
	const char *opaque, *error, *subj, *key;
	unsigned int keys;
	size_t len;

	test_begin("doc builder: header kinds, opaque tokens");
	/* keyed header (Subject): its own prefix, name term, gap keys */
	build_one(b, 1, SIFT_FIELD_KIND_HEADER, "Subject", "Patch series v5");
	terms = doc_terms(b);
	subj = sift_header_prefix("Subject");
	test_assert(has_term(terms, t_strconcat(subj, norm("series"), NULL)));
	test_assert(has_term(terms, t_strconcat("N", norm("Subject"), NULL)));
	(void)sift_doc_builder_gap_keys(b, &keys);
	test_assert(keys > 0);
	sift_doc_builder_discard(b);

	/* address header: runs only, no word terms */
	build_one(b, 2, SIFT_FIELD_KIND_HEADER, "From",
		  "Alice Smith <alice.smith@example.org>");
	terms = doc_terms(b);
	test_assert(has_term(terms, t_strconcat(sift_header_prefix("From"),
						norm("alice.smith"), NULL)) ||
		    has_term(terms, t_strconcat(sift_header_prefix("From"),
						norm("alice"), NULL)));
	test_assert(terms_with_prefix(terms, "B") == 0);
	/* run pairs: two runs with one space between them, no other */
	test_assert(has_term(terms, t_strconcat(sift_header_prefix("From"),
						norm("Alice Smith"), NULL)));
	sift_doc_builder_discard(b);
	build_one(b, 2, SIFT_FIELD_KIND_HEADER, "To",
		  "Ann Lee <a@x.org>, Bo  Dee <b@y.org>, \"Cy, Ray\" <c@z.org>");
	terms = doc_terms(b);
	test_assert(has_term(terms, t_strconcat(sift_header_prefix("To"),
						norm("Ann Lee"), NULL)));
	/* not pairs: across "<", two spaces, ">" and a comma, or inside a
	   quoted name with a comma */
	static const char *const not_pairs[] = {
		"Lee <a@x.org>", "Bo  Dee", "Bo Dee", "a@x.org> Bo",
		"Cy Ray", "Cy, Ray",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(not_pairs); i++) {
		test_assert_idx(!has_term(terms, t_strconcat(
			sift_header_prefix("To"), norm(not_pairs[i]), NULL)), i);
	}
	sift_doc_builder_discard(b);

	/* a hashed header's instance with a long token with a digit: that
	   token is opaque, not a term; its other words and runs stay under
	   the key (the opaque runs are not runs of the key) */
	build_one(b, 3, SIFT_FIELD_KIND_HEADER, "X-Something",
		  "token a1b2c3d4e5f6 plainword git-send-email v1.2:3.4-5");
	terms = doc_terms(b);
	opaque = sift_doc_builder_opaque(b, &len);
	test_assert(len > 0 && strstr(t_strndup(opaque, len),
				      norm("a1b2c3d4e5f6")) != NULL);
	test_assert(!has_term(terms, t_strconcat("P", norm("a1b2c3d4e5f6"),
						 NULL)));
	key = sift_header_key_prefix(norm("X-Something"),
				     strlen(norm("X-Something")));
	test_assert(!has_term(terms, t_strconcat("P", norm("plainword"),
						 NULL)));
	test_assert(has_term(terms, t_strconcat(key, norm("plainword"),
						NULL)));
	test_assert(has_term(terms, t_strconcat(key, norm("git-send-email"),
						NULL)));
	test_assert(has_term(terms, t_strconcat(key, norm("git"), NULL)));
	/* "v1.2:3.4-5" is an opaque run: its short words are the key's,
	   the run itself is no term */
	test_assert(!has_term(terms, t_strconcat(key, norm("v1.2:3.4-5"), NULL)));
	test_assert(terms_with_prefix(terms, "P") == 0);
	/* ... and flagged as a pooled instance of its key */
	test_assert(has_term(terms, t_strconcat(SIFT_FLAG_POOLED_KEY,
		t_strcut(sift_header_key_prefix(norm("X-Something"),
			strlen(norm("X-Something"))) + 1, ':'), NULL)));
	sift_doc_builder_discard(b);

	/* the same header without an opaque token: keyed by its name's
	   hash (any case of the name), with runs, nothing pooled */
	build_one(b, 3, SIFT_FIELD_KIND_HEADER, "x-SOMETHING",
		  "token plain-word");
	terms = doc_terms(b);
	opaque = sift_doc_builder_opaque(b, &len);
	test_assert(len == 0);
	test_assert(terms_with_prefix(terms, "P") == 0);
	test_assert(terms_with_prefix(terms, SIFT_FLAG_POOLED_KEY) == 0);
	test_assert(has_term(terms, t_strconcat(
		sift_header_key_prefix(norm("X-Something"),
				       strlen(norm("X-Something"))),
		norm("plain"), NULL)));
	test_assert(has_term(terms, t_strconcat(
		sift_header_key_prefix(norm("X-Something"),
				       strlen(norm("X-Something"))),
		norm("plain-word"), NULL)));
	sift_doc_builder_discard(b);

	/* MIME part header: M prefix, no gap keys (phrase filters serve
	   BODY and Subject only) */
	test_assert(sift_doc_builder_begin(b, 4, &error) == 0);
	sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_MIME_HEADER,
				     "Content-Description");
	test_assert(sift_doc_builder_field_data(b,
		(const void *)"my attachment", 13, &error) == 0);
	test_assert(sift_doc_builder_finish(b, &error) == 0);
	terms = doc_terms(b);
	test_assert(has_term(terms, t_strconcat("M", norm("attachment"),
						NULL)));
	/* TEXT searches MIME header names too */
	test_assert(has_term(terms, t_strconcat("M", norm("Content"), NULL)));
	(void)sift_doc_builder_gap_keys(b, &keys);
	test_assert(keys == 0);
	sift_doc_builder_free(&b);
	test_end();
}

static void test_flags_and_limits(void)
{
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *terms;
	const char *const *t;
	string_t *word = t_str_new(1024);
	const char *error;

	test_begin("doc builder: flags, over-long words, raw bodies");
	/* a raw body: no terms, the ZR flag; untrusted marks: their flags */
	test_assert(sift_doc_builder_begin(b, 5, &error) == 0);
	sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_RAW_BODY, NULL);
	test_assert(sift_doc_builder_field_data(b,
		(const void *)"words here", 10, &error) == 0);
	sift_doc_builder_mark_untrusted(b, SIFT_UNTRUSTED_HEADERS |
					SIFT_UNTRUSTED_TEXT);
	test_assert(sift_doc_builder_finish(b, &error) == 0);
	terms = doc_terms(b);
	test_assert(has_term(terms, SIFT_FLAG_RAW_BODY));
	test_assert(has_term(terms, SIFT_FLAG_UNTRUSTED_HEADERS));
	test_assert(has_term(terms, SIFT_FLAG_UNTRUSTED_TEXT));
	test_assert(!has_term(terms, SIFT_FLAG_UNTRUSTED_BODY));
	test_assert(terms_with_prefix(terms, "B") == 0);
	sift_doc_builder_discard(b);

	/* a word longer than a term can be: windows, each fitting, that
	   hold every substring of up to SIFT_WINDOW_SAFE_NEEDLE bytes; ZL */
	for (unsigned int i = 0; i < 700; i++)
		str_append_c(word, 'a' + (i * 7) % 26);
	build_one(b, 6, SIFT_FIELD_KIND_BODY, NULL, str_c(word));
	terms = doc_terms(b);
	test_assert(has_term(terms, SIFT_FLAG_TRUNCATED));
	array_foreach(terms, t)
		test_assert(strlen(*t) <= SIFT_XAPIAN_MAX_TERM);
	{
		const char *w = norm(str_c(word));
		size_t len = strlen(w);
		bool all = TRUE;

		for (size_t off = 0; off + SIFT_WINDOW_SAFE_NEEDLE <= len;
		     off += 37) {
			const char *needle = t_strndup(w + off,
						       SIFT_WINDOW_SAFE_NEEDLE);
			bool found = FALSE;

			array_foreach(terms, t) {
				if (**t == 'B' && strstr(*t, needle) != NULL)
					found = TRUE;
			}
			all = all && found;
		}
		test_assert(all);
	}
	sift_doc_builder_free(&b);
	test_end();
}

static void test_values(void)
{
	const char *dir = t_strconcat(test_root, "/values", NULL);
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	struct sift_uids found = { NULL, 0, 0 };
	struct sift_xdb *db;
	const uint32_t uid = 9;
	const char *error, *decoded;

	test_begin("doc builder: ASCII map and decoded text values");
	test_assert(sift_doc_builder_begin(b, uid, &error) == 0);
	sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_DECODED, NULL);
	test_assert(sift_doc_builder_field_data(b,
		(const void *)"quarterly report", 16, &error) == 0);
	test_assert(sift_doc_builder_finish(b, &error) == 0);
	test_assert(sift_xdb_open(dir, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
				  SIFT_XDB_NO_SYNC, &db, &error) == SIFT_X_OK);
	test_assert(sift_xdb_add(db, uid, sift_doc_builder_xdoc(b), NULL,
				 &error) == SIFT_X_OK);
	test_assert(sift_xdb_commit(db, &error) == SIFT_X_OK);
	/* 'q' is in the body's ASCII map, '!' is not */
	test_assert(sift_xdb_value_bit(db, SIFT_VALUE_BODY_ASCII,
				       (unsigned char)norm("q")[0], &found,
				       &error) == SIFT_X_OK);
	test_assert(found.count == 1 && found.uids[0] == uid);
	sift_uids_free(&found);
	test_assert(sift_xdb_value_bit(db, SIFT_VALUE_BODY_ASCII, '!',
				       &found, &error) == SIFT_X_OK);
	test_assert(found.count == 0);
	sift_uids_free(&found);
	/* decoded text is kept normalized for phrases */
	decoded = norm("ly rep");
	test_assert(sift_xdb_value_find(db, SIFT_VALUE_DECODED, &uid, 1,
					decoded, strlen(decoded), &found,
					&error) == SIFT_X_OK);
	test_assert(found.count == 1);
	sift_uids_free(&found);
	sift_xdb_close(&db);
	sift_doc_builder_free(&b);
	test_end();
}

/* Body text comes in pieces; the result is the same whatever the cuts
   (the builder cuts its buffer at whitespace itself). */
static void test_pieces(void)
{
	static const char body[] =
		"first line of text\nsecond: kselftest-run, x86_64 done\n";
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *whole, *cut;
	const char *error;
	bool same = TRUE;

	test_begin("doc builder: text in pieces");
	build_one(b, 1, SIFT_FIELD_KIND_BODY, NULL, body);
	whole = doc_terms(b);
	sift_doc_builder_discard(b);
	for (size_t at = 1; at < sizeof(body) - 1; at++) {
		test_assert(sift_doc_builder_begin(b, 1, &error) == 0);
		sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_BODY, NULL);
		test_assert(sift_doc_builder_field_data(b, (const void *)body,
							at, &error) == 0);
		test_assert(sift_doc_builder_field_data(b,
			(const void *)(body + at), sizeof(body) - 1 - at,
			&error) == 0);
		test_assert(sift_doc_builder_finish(b, &error) == 0);
		cut = doc_terms(b);
		same = same && array_count(cut) == array_count(whole);
		for (unsigned int i = 0; i < array_count(cut); i++)
			same = same && has_term(whole, array_idx_elem(cut, i));
		sift_doc_builder_discard(b);
	}
	test_assert(same);
	sift_doc_builder_free(&b);
	test_end();
}

/* Opaque tokens met in SIFT_OPAQUE_PROMOTE_AT messages become pooled terms
   from then on; the words of a pooled header's opaque runs are kept like
   opaque tokens (sift-doc-builder.h, "Opaque tokens"). */
static void test_opaque_common(void)
{
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *terms;
	const char *opaque, *relay = norm("209.132.180.67");
	const char *key;
	size_t len;
	unsigned int i;

	test_begin("doc builder: common opaque tokens become pooled terms");
	for (i = 1; i <= SIFT_OPAQUE_PROMOTE_AT + 2; i++) {
		const char *uniq = t_strdup_printf("q%ut5y6u7i8o", i * 7919);
		bool promoted = i >= SIFT_OPAQUE_PROMOTE_AT;

		/* twice in the message: counted once */
		build_one(b, i, SIFT_FIELD_KIND_HEADER, "X-Relay",
			  t_strdup_printf("via 209.132.180.67 %s and "
					  "209.132.180.67", uniq));
		terms = doc_terms(b);
		opaque = sift_doc_builder_opaque(b, &len);
		opaque = t_strndup(opaque, len);
		test_assert_idx(has_term(terms, t_strconcat("P", relay, NULL)) ==
				promoted, i);
		test_assert_idx((strstr(opaque, relay) != NULL) == !promoted, i);
		/* a token met once stays opaque */
		test_assert_idx(strstr(opaque, norm(uniq)) != NULL, i);
		test_assert_idx(!has_term(terms, t_strconcat("P", norm(uniq),
							     NULL)), i);
		sift_doc_builder_discard(b);
	}

	/* the words of an opaque run: kept like opaque tokens from
	   SIFT_OPAQUE_RUN_MIN_TOKEN bytes on, shorter ones are terms */
	build_one(b, 50, SIFT_FIELD_KIND_HEADER, "X-Sig",
		  "bh=Qx3Zk+AbCdEfGh/Wxyz9; plainword");
	terms = doc_terms(b);
	opaque = sift_doc_builder_opaque(b, &len);
	opaque = t_strndup(opaque, len);
	test_assert(strstr(opaque, norm("AbCdEfGh")) != NULL);
	test_assert(!has_term(terms, t_strconcat("P", norm("AbCdEfGh"), NULL)));
	key = sift_header_key_prefix(norm("X-Sig"), strlen(norm("X-Sig")));
	test_assert(has_term(terms, t_strconcat(key, norm("bh"), NULL)));
	test_assert(has_term(terms, t_strconcat(key, norm("plainword"),
						NULL)));
	test_assert(strstr(opaque, norm("plainword")) == NULL);
	sift_doc_builder_discard(b);
	sift_doc_builder_free(&b);
	test_end();
}

/* A message with more distinct terms than the builder collects before
   handing them to Xapian (DOC_FLUSH_TERMS, 4096): every term is in the
   document once, whichever part of the text it came from, repeated
   across parts or not, and the term statistics (fts_sift_commit_memory)
   count at least the distinct terms. */
static void test_many_terms(void)
{
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *terms;
	const unsigned int words = 9000;
	string_t *body = t_str_new(words * 16);
	unsigned int i, count, missing = 0;
	size_t bytes;
	const char *error;

	test_begin("doc builder: more distinct terms than one hand-over");
	/* every word twice: once in the first half, once in the second,
	   so each is handed over in two different parts */
	for (i = 0; i < words; i++)
		str_printfa(body, "zq%ux ", i);
	for (i = 0; i < words; i++)
		str_printfa(body, "zq%ux ", i);
	test_assert(sift_doc_builder_begin(b, 9, &error) == 0);
	sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_BODY, NULL);
	test_assert(sift_doc_builder_field_data(b, str_data(body),
						str_len(body), &error) == 0);
	test_assert(sift_doc_builder_field_end(b, &error) == 0);
	sift_doc_builder_term_stats(b, &count, &bytes);
	test_assert(count >= words);
	test_assert(bytes >= words * 4);
	test_assert(sift_doc_builder_finish(b, &error) == 0);
	terms = doc_terms(b);
	for (i = 0; i < words; i++) {
		if (!has_term(terms, t_strconcat("B", norm(t_strdup_printf(
				"zq%ux", i)), NULL)))
			missing++;
	}
	test_assert(missing == 0);
	/* nothing else of the body's words: each once in the list */
	test_assert(terms_with_prefix(terms, "B") == words);
	sift_doc_builder_discard(b);

	/* the next document starts from nothing */
	build_one(b, 10, SIFT_FIELD_KIND_BODY, NULL, "kestrel osprey");
	sift_doc_builder_term_stats(b, &count, &bytes);
	test_assert(count >= 2 && count < 16);
	terms = doc_terms(b);
	test_assert(terms_with_prefix(terms, "B") == 2);
	sift_doc_builder_discard(b);
	sift_doc_builder_free(&b);
	test_end();
}

/* fts_sift_max_doc_terms: a document stops at the bound, counting the
   distinct terms exactly (repeats handed over in several parts count
   once), and is flagged for the fields it dropped text of. */
static void test_max_terms(void)
{
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *terms;
	const unsigned int words = 9000, bound = 6000;
	string_t *body = t_str_new(words * 16);
	unsigned int i, count;
	size_t bytes;
	const char *error;

	test_begin("doc builder: fts_sift_max_doc_terms");
	/* under the bound: every word, no flag (each word twice, so the
	   repeats of the second half are handed over again) */
	sift_doc_builder_set_max_terms(b, bound);
	for (i = 0; i < bound / 3; i++)
		str_printfa(body, "zq%ux ", i);
	for (i = 0; i < bound / 3; i++)
		str_printfa(body, "zq%ux ", i);
	build_one(b, 1, SIFT_FIELD_KIND_BODY, NULL, str_c(body));
	test_assert(!sift_doc_builder_bounded(b));
	terms = doc_terms(b);
	test_assert(terms_with_prefix(terms, "B") == bound / 3);
	test_assert(!has_term(terms, SIFT_FLAG_UNTRUSTED_BODY));
	test_assert(!has_term(terms, SIFT_FLAG_RAW_BODY));
	sift_doc_builder_discard(b);

	/* over it in the body: at most bound terms, ZR (matches in the
	   indexed part stay certain), not ZUB nor ZUH; the headers before
	   it are all there */
	str_truncate(body, 0);
	for (i = 0; i < words; i++)
		str_printfa(body, "zq%ux ", i);
	test_assert(sift_doc_builder_begin(b, 2, &error) == 0);
	sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_HEADER, "Subject");
	test_assert(sift_doc_builder_field_data(b, (const void *)"kestrel",
						7, &error) == 0);
	test_assert(sift_doc_builder_field_end(b, &error) == 0);
	sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_BODY, NULL);
	test_assert(sift_doc_builder_field_data(b, str_data(body),
						str_len(body), &error) == 0);
	test_assert(sift_doc_builder_field_end(b, &error) == 0);
	/* a part's header after the bound: dropped, body flag */
	sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_MIME_HEADER,
				     "Content-Description");
	test_assert(sift_doc_builder_field_data(b, (const void *)"osprey",
						6, &error) == 0);
	test_assert(sift_doc_builder_field_end(b, &error) == 0);
	test_assert(sift_doc_builder_bounded(b));
	sift_doc_builder_term_stats(b, &count, &bytes);
	test_assert(count <= bound + 1);
	test_assert(sift_doc_builder_finish(b, &error) == 0);
	terms = doc_terms(b);
	/* the bound, plus the flag terms */
	test_assert(array_count(terms) <= bound + 4);
	test_assert(array_count(terms) >= bound);
	test_assert(has_term(terms, SIFT_FLAG_RAW_BODY));
	test_assert(!has_term(terms, SIFT_FLAG_UNTRUSTED_BODY));
	test_assert(!has_term(terms, SIFT_FLAG_UNTRUSTED_HEADERS));
	test_assert(!has_term(terms, SIFT_FLAG_UNTRUSTED_TEXT));
	test_assert(has_term(terms, t_strconcat("Hsubject:",
						norm("kestrel"), NULL)));
	test_assert(has_term(terms, t_strconcat("B", norm("zq0x"), NULL)));
	test_assert(!has_term(terms, t_strconcat("B", norm(t_strdup_printf(
		"zq%ux", words - 1)), NULL)));
	test_assert(!has_term(terms, t_strconcat("M", norm("osprey"),
						 NULL)));
	sift_doc_builder_discard(b);

	/* reached in a top-level header: ZUH and ZUT; a later header's
	   name (N) is kept, its words not */
	test_assert(sift_doc_builder_begin(b, 3, &error) == 0);
	sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_HEADER, "Subject");
	test_assert(sift_doc_builder_field_data(b, str_data(body),
						str_len(body), &error) == 0);
	test_assert(sift_doc_builder_field_end(b, &error) == 0);
	sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_HEADER, "X-Kestrel");
	test_assert(sift_doc_builder_field_data(b, (const void *)"osprey",
						6, &error) == 0);
	test_assert(sift_doc_builder_field_end(b, &error) == 0);
	test_assert(sift_doc_builder_finish(b, &error) == 0);
	test_assert(sift_doc_builder_bounded(b));
	terms = doc_terms(b);
	test_assert(has_term(terms, SIFT_FLAG_UNTRUSTED_HEADERS));
	test_assert(has_term(terms, SIFT_FLAG_UNTRUSTED_TEXT));
	test_assert(!has_term(terms, SIFT_FLAG_UNTRUSTED_BODY));
	test_assert(!has_term(terms, SIFT_FLAG_RAW_BODY));
	test_assert(has_term(terms, t_strconcat(SIFT_PREFIX_HDR_NAME,
						norm("X-Kestrel"), NULL)));
	test_assert(!has_term(terms, t_strconcat("P", norm("osprey"),
						 NULL)));
	sift_doc_builder_discard(b);

	/* the next document starts from nothing */
	build_one(b, 4, SIFT_FIELD_KIND_BODY, NULL, "kestrel osprey");
	test_assert(!sift_doc_builder_bounded(b));
	terms = doc_terms(b);
	test_assert(terms_with_prefix(terms, "B") == 2);
	test_assert(!has_term(terms, SIFT_FLAG_UNTRUSTED_BODY));
	test_assert(!has_term(terms, SIFT_FLAG_RAW_BODY));
	sift_doc_builder_discard(b);
	sift_doc_builder_free(&b);
	test_end();
}

/* Does the document uid in db have `str` (normalized) in its kept body
   text (SIFT_VALUE_BOUNDED_TEXT)? */
static bool bounded_text_has(struct sift_xdb *db, uint32_t uid,
			     const char *str)
{
	struct sift_uids found = { NULL, 0, 0 };
	const char *error, *n = norm(str);
	bool ret;

	test_assert(sift_xdb_value_find(db, SIFT_VALUE_BOUNDED_TEXT, &uid, 1,
					n, strlen(n), &found,
					&error) == SIFT_X_OK);
	ret = found.count == 1;
	sift_uids_free(&found);
	return ret;
}

/* A document past the bound keeps its body's normalized text (ZD), the
   fields apart; one with ZR for another cause, or under the bound, does
   not. */
static void test_bounded_text(void)
{
	const char *dir = t_strconcat(test_root, "/bounded", NULL);
	struct sift_doc_builder *b = sift_doc_builder_new(text, FALSE);
	const ARRAY_TYPE(const_string) *terms;
	const unsigned int words = 400, bound = 100;
	string_t *body = t_str_new(words * 16);
	struct sift_xdb *db;
	const char *error;
	unsigned int i;

	test_begin("doc builder: body text kept past the bound");
	test_assert(sift_xdb_open(dir, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
				  SIFT_XDB_NO_SYNC, &db, &error) == SIFT_X_OK);
	sift_doc_builder_set_max_terms(b, bound);
	for (i = 0; i < words; i++)
		str_printfa(body, "Zq%ux ", i);
	for (uint32_t uid = 1; uid <= 3; uid++) {
		test_assert(sift_doc_builder_begin(b, uid, &error) == 0);
		sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_HEADER,
					     "Subject");
		test_assert(sift_doc_builder_field_data(b,
			(const void *)"kestrel", 7, &error) == 0);
		test_assert(sift_doc_builder_field_end(b, &error) == 0);
		sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_BODY, NULL);
		/* 3: under the bound */
		test_assert(sift_doc_builder_field_data(b, uid == 3 ?
			(const void *)"Zq0x Zq1x" : str_data(body),
			uid == 3 ? 9 : str_len(body), &error) == 0);
		test_assert(sift_doc_builder_field_end(b, &error) == 0);
		sift_doc_builder_field_begin(b, SIFT_FIELD_KIND_MIME_HEADER,
					     "Content-Description");
		test_assert(sift_doc_builder_field_data(b,
			(const void *)"Osprey", 6, &error) == 0);
		test_assert(sift_doc_builder_field_end(b, &error) == 0);
		if (uid == 2) {
			/* 2: a body Dovecot reads in another form too */
			sift_doc_builder_field_begin(b,
				SIFT_FIELD_KIND_RAW_BODY, NULL);
			test_assert(sift_doc_builder_field_data(b,
				(const void *)"raw", 3, &error) == 0);
			test_assert(sift_doc_builder_field_end(b,
							&error) == 0);
		}
		test_assert(sift_doc_builder_finish(b, &error) == 0);
		test_assert(sift_doc_builder_bounded(b) == (uid != 3));
		terms = doc_terms(b);
		test_assert_idx(has_term(terms, SIFT_FLAG_RAW_BODY) ==
				(uid != 3), uid);
		test_assert_idx(has_term(terms, SIFT_FLAG_BOUNDED_TEXT) ==
				(uid == 1), uid);
		test_assert(sift_xdb_add(db, uid, sift_doc_builder_xdoc(b),
					 NULL, &error) == SIFT_X_OK);
		sift_doc_builder_discard(b);
	}
	test_assert(sift_xdb_commit(db, &error) == SIFT_X_OK);
	/* the words before and past the bound, the part's header (its name
	   too, TEXT reads it), as normalized; not the top-level header */
	test_assert(bounded_text_has(db, 1, "Zq0x"));
	test_assert(bounded_text_has(db, 1, t_strdup_printf("Zq%ux",
							   words - 1)));
	test_assert(bounded_text_has(db, 1, "q398x Zq399"));
	test_assert(bounded_text_has(db, 1, "osprey"));
	test_assert(bounded_text_has(db, 1, "Content-Description"));
	test_assert(!bounded_text_has(db, 1, "kestrel"));
	test_assert(!bounded_text_has(db, 1, t_strdup_printf("Zq%ux",
							    words)));
	/* the fields are apart (NUL): nothing spans two */
	test_assert(!bounded_text_has(db, 1, t_strdup_printf("Zq%ux content",
							   words - 1)));
	/* 2 (ZR for another cause) and 3 (under the bound) keep nothing */
	test_assert(!bounded_text_has(db, 2, "Zq0x"));
	test_assert(!bounded_text_has(db, 3, "Zq0x"));
	sift_xdb_close(&db);
	sift_doc_builder_free(&b);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_body_terms,
		test_one_char_runs,
		test_trace_headers,
		test_header_kinds,
		test_opaque_common,
		test_flags_and_limits,
		test_values,
		test_pieces,
		test_many_terms,
		test_max_terms,
		test_bounded_text,
		NULL
	};
	const char *error;
	int ret;

	lib_init();
	if (mkdtemp(test_root) == NULL)
		i_fatal("mkdtemp() failed: %m");
	if (sift_text_init(&text, &error) < 0)
		i_fatal("sift_text_init: %s", error);
	if (sift_xdb_open(t_strconcat(test_root, "/empty", NULL),
			  SIFT_XDB_WRITE | SIFT_XDB_CREATE | SIFT_XDB_NO_SYNC,
			  &empty_db, &error) != SIFT_X_OK)
		i_fatal("open: %s", error);
	ret = test_run(test_functions);
	sift_xdb_close(&empty_db);
	sift_text_deinit(&text);
	rm_rf(test_root);
	lib_deinit();
	return ret;
}
