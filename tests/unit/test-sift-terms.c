/* Unit tests for plugin/sift-terms.c: the term scheme that indexing and
   search share (sift-terms.h). */

#include "lib.h"
#include "test-common.h"
#include "sift-test-util.h"

#include "sift-plan.h"
#include "sift-terms.h"

#include <string.h>

static const char *const field_prefixes[] = {
	SIFT_PREFIX_BODY, SIFT_PREFIX_MIME, SIFT_PREFIX_HDR_NAME,
	SIFT_PREFIX_HDR, SIFT_PREFIX_ADDR_RUN, SIFT_PREFIX_HDR_POOL,
	SIFT_PREFIX_HDR_KEY, SIFT_PREFIX_BODY_CHAR,
};
static const char *const flag_terms[] = {
	SIFT_FLAG_RAW_BODY, SIFT_FLAG_TRUNCATED, SIFT_FLAG_HTML,
	SIFT_FLAG_UNTRUSTED_BODY, SIFT_FLAG_UNTRUSTED_HEADERS,
	SIFT_FLAG_UNTRUSTED_TEXT, SIFT_FLAG_POOLED_KEY,
};

static bool is_prefix_of(const char *a, const char *b)
{
	return strncmp(a, b, strlen(a)) == 0;
}

/* A dictionary scan of one family must never walk into another: no
   field prefix begins another prefix or a flag term. */
static void test_terms_prefixes_disjoint(void)
{
	unsigned int i, j;

	test_begin("term prefixes: none begins another or a flag");
	for (i = 0; i < N_ELEMENTS(field_prefixes); i++) {
		test_assert_idx(field_prefixes[i][0] != '\0', i);
		for (j = 0; j < N_ELEMENTS(field_prefixes); j++) {
			if (i != j) {
				test_assert_idx(!is_prefix_of(field_prefixes[i],
							field_prefixes[j]), i);
			}
		}
		for (j = 0; j < N_ELEMENTS(flag_terms); j++) {
			test_assert_idx(!is_prefix_of(field_prefixes[i],
						      flag_terms[j]), i);
		}
	}
	/* flag terms are matched whole, so only distinctness matters */
	for (i = 0; i < N_ELEMENTS(flag_terms); i++) {
		for (j = 0; j < N_ELEMENTS(flag_terms); j++)
			test_assert_idx(i == j ||
				strcmp(flag_terms[i], flag_terms[j]) != 0, i);
	}
	test_end();
}

static void test_terms_header_class(void)
{
	static const struct {
		const char *name;
		enum sift_header_class class;
		const char *prefix;
	} tests[] = {
		{ "Subject", SIFT_HEADER_KEYED, "Hsubject:" },
		{ "SUBJECT", SIFT_HEADER_KEYED, "Hsubject:" },
		{ "subject", SIFT_HEADER_KEYED, "Hsubject:" },
		{ "From", SIFT_HEADER_ADDRESS, "Afrom:" },
		{ "to", SIFT_HEADER_ADDRESS, "Ato:" },
		{ "Cc", SIFT_HEADER_ADDRESS, "Acc:" },
		{ "Bcc", SIFT_HEADER_ADDRESS, "Abcc:" },
		{ "Reply-To", SIFT_HEADER_ADDRESS, "Areply-to:" },
		{ "Sender", SIFT_HEADER_ADDRESS, "Asender:" },
		{ "X-Mailer", SIFT_HEADER_HASHED, NULL },
		{ "Subject-X", SIFT_HEADER_HASHED, NULL },
		{ "X-Received-X", SIFT_HEADER_HASHED, NULL },
		{ "Date-X", SIFT_HEADER_HASHED, NULL },
		/* the id and trace headers are pooled (format 10) */
		{ "Message-ID", SIFT_HEADER_POOLED, NULL },
		{ "message-id", SIFT_HEADER_POOLED, NULL },
		{ "Received", SIFT_HEADER_POOLED, NULL },
		{ "X-Received", SIFT_HEADER_POOLED, NULL },
		{ "Date", SIFT_HEADER_POOLED, NULL },
		{ "References", SIFT_HEADER_POOLED, NULL },
		{ "In-Reply-To", SIFT_HEADER_POOLED, NULL },
		{ "DKIM-Signature", SIFT_HEADER_POOLED, NULL },
		/* names that can't be keys are pooled whatever they say */
		{ "", SIFT_HEADER_POOLED, NULL },
		{ "Sub ject", SIFT_HEADER_POOLED, NULL },
		{ "From:", SIFT_HEADER_POOLED, NULL },
		{ "X-\xc3\xa4", SIFT_HEADER_POOLED, NULL },
	};
	unsigned int i;

	test_begin("header class and prefix");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		const char *prefix = sift_header_prefix(tests[i].name);

		test_assert_idx(sift_header_class(tests[i].name) ==
				tests[i].class, i);
		test_assert_idx(null_strcmp(prefix, tests[i].prefix) == 0, i);
		test_assert_idx(sift_header_is_keyed(tests[i].name) ==
				(tests[i].class == SIFT_HEADER_KEYED), i);
	}
	test_assert(sift_header_class(NULL) == SIFT_HEADER_POOLED);
	test_assert(sift_header_prefix(NULL) == NULL);
	/* a 65-byte name is not keyable (sift_header_name_is_keyable()) */
	test_assert(sift_header_class(t_strconcat("Subject",
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		NULL)) == SIFT_HEADER_POOLED);
	test_end();
}

static bool families_have(enum sift_families f, const char *prefix,
			  char sep)
{
	const struct sift_termfiles_prefix *p;
	unsigned int n, i;

	sift_families_get(f, &p, &n);
	for (i = 0; i < n; i++) {
		if (strcmp(p[i].prefix, prefix) == 0 && p[i].sep == sep)
			return TRUE;
	}
	return FALSE;
}

static void test_terms_families(void)
{
	const struct sift_termfiles_prefix *p, *q;
	unsigned int n, m, i, f;

	test_begin("search families");
	/* every family is a non-empty list of known prefixes */
	for (f = 0; f < SIFT_FAMILIES_COUNT; f++) {
		sift_families_get(f, &p, &n);
		test_assert_idx(n > 0, f);
		for (i = 0; i < n; i++) {
			bool known = f == SIFT_FAMILIES_FLAGS &&
				p[i].prefix[0] == '\0';

			for (m = 0; m < N_ELEMENTS(field_prefixes); m++) {
				if (strcmp(p[i].prefix, field_prefixes[m]) == 0)
					known = TRUE;
			}
			test_assert_idx(known, f * 100 + i);
		}
	}
	/* TEXT reads every field Dovecot's TEXT reads: bodies, MIME
	   headers, header names, keyed and address headers (each under
	   its name, so with the ':' separator) and the pool */
	test_assert(families_have(SIFT_FAMILIES_TEXT, SIFT_PREFIX_BODY, '\0'));
	test_assert(families_have(SIFT_FAMILIES_TEXT, SIFT_PREFIX_MIME, '\0'));
	test_assert(families_have(SIFT_FAMILIES_TEXT, SIFT_PREFIX_HDR_NAME, '\0'));
	test_assert(families_have(SIFT_FAMILIES_TEXT, SIFT_PREFIX_HDR, ':'));
	test_assert(families_have(SIFT_FAMILIES_TEXT, SIFT_PREFIX_ADDR_RUN, ':'));
	test_assert(families_have(SIFT_FAMILIES_TEXT, SIFT_PREFIX_HDR_KEY, ':'));
	test_assert(families_have(SIFT_FAMILIES_TEXT, SIFT_PREFIX_HDR_POOL, '\0'));
	/* ... but not the characters (a body's are in its words too) */
	test_assert(!families_have(SIFT_FAMILIES_TEXT, SIFT_PREFIX_BODY_CHAR, '\0'));
	sift_families_get(SIFT_FAMILIES_BODY, &p, &n);
	test_assert(n == 1 && strcmp(p[0].prefix, SIFT_PREFIX_BODY) == 0);
	/* runs: TEXT without the pool (words only); NO_ADDR: without
	   address runs too, and otherwise the same */
	test_assert(!families_have(SIFT_FAMILIES_TEXT_RUNS, SIFT_PREFIX_HDR_POOL, '\0'));
	test_assert(families_have(SIFT_FAMILIES_TEXT_RUNS, SIFT_PREFIX_HDR_KEY, ':'));
	test_assert(families_have(SIFT_FAMILIES_TEXT_RUNS_NO_ADDR, SIFT_PREFIX_HDR_KEY, ':'));
	test_assert(families_have(SIFT_FAMILIES_HDR_KEYS, SIFT_PREFIX_HDR_KEY, ':'));
	test_assert(families_have(SIFT_FAMILIES_TEXT_RUNS, SIFT_PREFIX_ADDR_RUN, ':'));
	test_assert(!families_have(SIFT_FAMILIES_TEXT_RUNS_NO_ADDR, SIFT_PREFIX_ADDR_RUN, ':'));
	sift_families_get(SIFT_FAMILIES_TEXT_RUNS, &p, &n);
	sift_families_get(SIFT_FAMILIES_TEXT_RUNS_NO_ADDR, &q, &m);
	test_assert(m + 1 == n);
	for (i = 0; i < m; i++)
		test_assert_idx(families_have(SIFT_FAMILIES_TEXT_RUNS,
					      q[i].prefix, q[i].sep), i);
	test_assert(families_have(SIFT_FAMILIES_ADDR_RUNS, SIFT_PREFIX_ADDR_RUN, ':'));
	test_assert(families_have(SIFT_FAMILIES_POOL, SIFT_PREFIX_HDR_POOL, '\0'));
	test_assert(families_have(SIFT_FAMILIES_HDR_NAMES, SIFT_PREFIX_HDR_NAME, '\0'));
	test_assert(families_have(SIFT_FAMILIES_BODY_CHARS, SIFT_PREFIX_BODY_CHAR, '\0'));
	test_end();
}

/* Every term a keyed or address header gets lies in TEXT's families:
   its prefix starts with H or A and has the name, then ':' (the
   separator TEXT's families skip to). */
static void test_terms_header_prefix_in_text(void)
{
	static const char *const names[] = {
		"Subject", "From", "To", "Cc", "Bcc", "Reply-To", "Sender",
	};
	unsigned int i;

	test_begin("keyed and address header prefixes are read by TEXT");
	for (i = 0; i < N_ELEMENTS(names); i++) {
		const char *prefix = sift_header_prefix(names[i]);
		size_t len = strlen(prefix);

		test_assert_idx(families_have(SIFT_FAMILIES_TEXT,
					      t_strndup(prefix, 1), ':'), i);
		test_assert_idx(prefix[len - 1] == ':', i);
		test_assert_idx(strchr(prefix, ':') == prefix + len - 1, i);
		test_assert_idx(strcasecmp(t_strndup(prefix + 1, len - 2),
					   names[i]) == 0, i);
	}
	test_end();
}

/* The hashed headers' prefix: "K", four key characters, ':' - never a
   ':' inside the key (TEXT's families skip to the first one), the same
   for the same name, and spread: 20,000 names share few keys.  The
   values are fixed: indexes and searches of any build must agree, and
   tests/integration/test_pooled_headers.py computes them too. */
static void test_terms_header_key_prefix(void)
{
	const char *p = sift_header_key_prefix("x-mailer", 8);
	unsigned int i, same = 0;
	const char *prev = NULL;

	test_begin("hashed header key prefix");
	test_assert(strlen(p) == 2 + SIFT_HEADER_KEY_LEN);
	test_assert(p[0] == SIFT_PREFIX_HDR_KEY[0]);
	test_assert(strchr(p, ':') == p + 1 + SIFT_HEADER_KEY_LEN);
	test_assert(strcmp(p, sift_header_key_prefix("x-mailer", 8)) == 0);
	test_assert(strcmp(p, sift_header_key_prefix("x-mailes", 8)) != 0);
	/* FNV-1a 32 of "" (its offset basis), low 24 bits, 6 at a time,
	   as computed in Python */
	test_assert(strcmp(sift_header_key_prefix("", 0), "K5T97:") == 0);
	for (i = 0; i < 20000; i++) {
		const char *name = t_strdup_printf("x-h%u", i);

		p = sift_header_key_prefix(name, strlen(name));
		test_assert_idx(strchr(p, ':') == p + 1 + SIFT_HEADER_KEY_LEN,
				i);
		if (prev != NULL && strcmp(p, prev) == 0)
			same++;
		prev = p;
	}
	test_assert(same < 5);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_terms_prefixes_disjoint,
		test_terms_header_class,
		test_terms_header_key_prefix,
		test_terms_families,
		test_terms_header_prefix_in_text,
		NULL
	};

	return sift_test_main(test_functions, NULL);
}
