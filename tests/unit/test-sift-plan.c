/* Unit tests for plugin/sift-plan.c: how a search string becomes a plan
   (the rules are in include/sift-plan.h).

   Every plan is checked against invariants that hold whatever its kind
   (normalized string NUL-terminated, needles inside it, counts within
   bounds), and its normalized string against Dovecot's own normalizer
   uni_utf8_to_decomposed_titlecase() from libdovecot - an independent
   implementation of what sift-text is meant to reproduce. */

#include "lib.h"
#include "buffer.h"
#include "str.h"
#include "unichar.h"
#include "test-common.h"
#include "sift-test-util.h"

#include "sift-text.h"
#include "sift-plan.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#  if __has_include(<valgrind/valgrind.h>)
#    include <valgrind/valgrind.h>
#  endif
#endif
#ifndef RUNNING_ON_VALGRIND
#  define RUNNING_ON_VALGRIND 0
#endif

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct sift_text *text;

/* ---- helpers ---------------------------------------------------------- */

/* Dovecot's normalization of value, as a t_malloc'd buffer. */
static const buffer_t *dovecot_norm(const void *value, size_t len)
{
	buffer_t *buf = t_buffer_create(len * 3 + 16);

	(void)uni_utf8_to_decomposed_titlecase(value, len, buf);
	return buf;
}

/* Invariants of every successfully built plan. */
static void check_invariants(const struct sift_plan *plan, const void *value,
			     size_t len, unsigned int idx)
{
	const buffer_t *norm;

	test_assert_idx(plan->needle_count <= SIFT_PLAN_MAX_NEEDLES, idx);
	switch (plan->kind) {
	case SIFT_PLAN_EXISTS:
	case SIFT_PLAN_UNSUPPORTED:
		test_assert_idx(plan->needle_count == 0, idx);
		break;
	case SIFT_PLAN_RUN_PAIR:
		/* an address string with exactly one space inside, and no
		   other separator */
		test_assert_idx(plan->normalized_len >= 3 &&
				plan->normalized[0] != ' ' &&
				plan->normalized[plan->normalized_len - 1] != ' ',
				idx);
		{
			unsigned int seps = 0;

			for (size_t i = 0; i < plan->normalized_len; i++) {
				char c = plan->normalized[i];

				test_assert_idx(c != '\0', idx);
				if (strchr(SIFT_ADDRESS_RUN_SEPARATORS, c) != NULL) {
					test_assert_idx(c == ' ', idx);
					seps++;
				}
			}
			test_assert_idx(seps == 1, idx);
		}
		/* fall through */
	case SIFT_PLAN_WORD:
	case SIFT_PLAN_RUN:
		/* one needle: the whole normalized string */
		test_assert_idx(plan->needle_count == 1, idx);
		test_assert_idx(plan->needles[0].str == plan->normalized &&
				plan->needles[0].len == plan->normalized_len,
				idx);
		break;
	case SIFT_PLAN_CANDIDATES:
		test_assert_idx(plan->needle_count >= 1, idx);
		break;
	case SIFT_PLAN_CHUNK:
		/* a whole string without whitespace or NUL, never for an
		   address field (that has runs of its own) */
		test_assert_idx(plan->normalized_len > 0, idx);
		for (size_t i = 0; i < plan->normalized_len; i++) {
			test_assert_idx(plan->normalized[i] != '\0' &&
				!sift_is_chunk_separator(plan->normalized[i]),
				idx);
		}
		break;
	case SIFT_PLAN_CHAR:
		/* one non-blank character */
		test_assert_idx(plan->normalized_len >= 1 &&
				plan->normalized_len <= 4 &&
				!sift_is_chunk_separator(plan->normalized[0]),
				idx);
		break;
	default:
		test_assert_idx(FALSE, idx);
	}
	if (plan->kind == SIFT_PLAN_RUN) {
		/* never a separator inside a run */
		for (size_t i = 0; i < plan->normalized_len; i++) {
			test_assert_idx(plan->normalized[i] != '\0' &&
					strchr(SIFT_ADDRESS_RUN_SEPARATORS,
					       plan->normalized[i]) == NULL,
					idx);
		}
	}
	for (unsigned int i = 0; i < plan->needle_count; i++) {
		const struct sift_plan_needle *n = &plan->needles[i];

		test_assert_idx(n->len > 0, idx);
		/* points into plan->normalized */
		test_assert_idx(plan->normalized != NULL &&
				n->str >= plan->normalized &&
				n->str + n->len <=
				plan->normalized + plan->normalized_len, idx);
		/* no duplicates */
		for (unsigned int j = 0; j < i; j++) {
			test_assert_idx(n->len != plan->needles[j].len ||
					memcmp(n->str, plan->needles[j].str,
					       n->len) != 0, idx);
		}
	}
	if (plan->normalized != NULL) {
		test_assert_idx(plan->normalized[plan->normalized_len] == '\0',
				idx);
		/* the same as Dovecot's own normalization */
		norm = dovecot_norm(value, len);
		test_assert_idx(plan->normalized_len == norm->used &&
				memcmp(plan->normalized, norm->data,
				       norm->used) == 0, idx);
	} else {
		/* only without a search string */
		test_assert_idx(len == 0, idx);
	}
}

static void build_len(enum sift_field field, const void *value, size_t len,
		      struct sift_plan *plan, unsigned int idx)
{
	const char *err;
	int ret;

	ret = sift_plan_build(text, field, value, len, plan, &err);
	test_assert_idx(ret == 0, idx);
	if (ret < 0)
		i_error("sift_plan_build() failed: %s", err);
	else
		check_invariants(plan, value, len, idx);
}

static void build(enum sift_field field, const char *value,
		  struct sift_plan *plan, unsigned int idx)
{
	build_len(field, value, strlen(value), plan, idx);
}

static bool plan_has_needle(const struct sift_plan *plan, const char *needle)
{
	size_t len = strlen(needle);

	for (unsigned int i = 0; i < plan->needle_count; i++) {
		if (plan->needles[i].len == len &&
		    memcmp(plan->needles[i].str, needle, len) == 0)
			return TRUE;
	}
	return FALSE;
}

/* The plan's needles are exactly the given set (order is free). */
static bool plan_needles_are(const struct sift_plan *plan,
			     const char *const *needles, unsigned int count)
{
	if (plan->needle_count != count)
		return FALSE;
	for (unsigned int i = 0; i < count; i++) {
		if (!plan_has_needle(plan, needles[i]))
			return FALSE;
	}
	return TRUE;
}

/* Build and check kind and needles in one go.  needles: NULL-terminated
   (ignored for kinds without needles). */
static void ATTR_SENTINEL
check_plan(enum sift_field field, const char *value,
	   enum sift_plan_kind kind, unsigned int idx, ...)
{
	const char *needles[SIFT_PLAN_MAX_NEEDLES + 1], *n;
	unsigned int count = 0;
	struct sift_plan plan;
	va_list args;

	va_start(args, idx);
	while ((n = va_arg(args, const char *)) != NULL) {
		i_assert(count < N_ELEM(needles));
		needles[count++] = n;
	}
	va_end(args);

	build(field, value, &plan, idx);
	test_assert_idx(plan.kind == kind, idx);
	if (plan.kind != kind) {
		printf("    '%s': %s, expected %s\n", value,
		       sift_plan_kind_str(plan.kind), sift_plan_kind_str(kind));
	}
	test_assert_idx(plan_needles_are(&plan, needles, count), idx);
	sift_plan_free(&plan);
}

/* Tokens of s as sift-text delivers them, for cross-checking. */
struct token_list {
	const char *toks[64];
	size_t lens[64];
	unsigned int count;
};

static int collect_token(void *context, const char *tok, size_t len,
			 size_t byte_offset ATTR_UNUSED,
			 unsigned int flags ATTR_UNUSED)
{
	struct token_list *list = context;

	if (list->count < N_ELEM(list->toks)) {
		list->toks[list->count] = tok;
		list->lens[list->count] = len;
		list->count++;
	}
	return 0;
}

/* The needles a token gives: its pieces between address punctuation
   (a word may hold ':' or '"', address runs never do). */
static int collect_token_pieces(void *context, const char *tok, size_t len,
				size_t byte_offset ATTR_UNUSED,
				unsigned int flags ATTR_UNUSED)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len &&
		    strchr(SIFT_ADDRESS_RUN_SEPARATORS, tok[i]) == NULL)
			continue;
		if (i > start)
			(void)collect_token(context, tok + start, i - start,
					    0, 0);
		start = i + 1;
	}
	return 0;
}

/* ---- tests ------------------------------------------------------------ */

static void test_plan_word(void)
{
	static const char *const kselftest[] = {
		"kselftest", "Kselftest", "KSELFTEST", "kSeLfTeSt"
	};
	static const enum sift_field fields[] = {
		SIFT_FIELD_BODY, SIFT_FIELD_TEXT, SIFT_FIELD_HEADER,
		SIFT_FIELD_SUBJECT
	};
	struct sift_plan plan;

	test_begin("plan WORD");
	/* Dovecot's titlecase of ASCII letters is their uppercase; the
	   needle is the whole normalized string */
	for (unsigned int i = 0; i < N_ELEM(kselftest); i++) {
		for (unsigned int f = 0; f < N_ELEM(fields); f++) {
			check_plan(fields[f], kselftest[i], SIFT_PLAN_WORD,
				   i * 10 + f, "KSELFTEST", NULL);
		}
	}
	/* digits are a word too */
	check_plan(SIFT_FIELD_BODY, "2024", SIFT_PLAN_WORD, 100, "2024", NULL);
	/* UAX #29 WB6/WB7: an apostrophe between letters does not break */
	check_plan(SIFT_FIELD_BODY, "don't", SIFT_PLAN_WORD, 101, "DON'T",
		   NULL);
	/* letters and digits together (WB9/WB10) */
	check_plan(SIFT_FIELD_BODY, "abc123", SIFT_PLAN_WORD, 102, "ABC123",
		   NULL);

	/* Hangul is segmented by rule, not dictionary: one word, whose
	   needle is the normalized (decomposed) form, not the input */
	build(SIFT_FIELD_BODY, "\xed\x95\x9c\xea\xb5\xad", &plan, 103);
	test_assert(plan.kind == SIFT_PLAN_WORD);
	test_assert(plan.normalized_len > 6);
	/* U+1112 HANGUL CHOSEONG HIEUH starts the first syllable */
	test_assert(plan.normalized_len >= 3 &&
		    memcmp(plan.normalized, "\xe1\x84\x92", 3) == 0);
	sift_plan_free(&plan);

	/* Greek: final sigma and sigma both titlecase to capital sigma */
	{
		struct sift_plan p1, p2;

		build(SIFT_FIELD_BODY, "\xce\xbb\xce\xbf\xce\xb3\xce\xbf\xcf\x82",
		      &p1, 104);
		build(SIFT_FIELD_BODY, "\xce\x9b\xce\x9f\xce\x93\xce\x9f\xce\xa3",
		      &p2, 105);
		test_assert(p1.kind == SIFT_PLAN_WORD &&
			    p2.kind == SIFT_PLAN_WORD);
		test_assert(p1.normalized_len == p2.normalized_len &&
			    memcmp(p1.normalized, p2.normalized,
				   p1.normalized_len) == 0);
		sift_plan_free(&p1);
		sift_plan_free(&p2);
	}
	test_end();
}

static void test_plan_cafe(void)
{
	struct sift_plan composed, decomposed;

	test_begin("plan composed vs decomposed");
	/* U+00E9 titlecases to U+00C9, which decomposes to E U+0301 */
	build(SIFT_FIELD_BODY, "caf\xc3\xa9", &composed, 0);
	build(SIFT_FIELD_BODY, "cafe\xcc\x81", &decomposed, 1);
	test_assert(composed.kind == SIFT_PLAN_WORD);
	test_assert(decomposed.kind == SIFT_PLAN_WORD);
	test_assert(composed.normalized_len == 6 &&
		    memcmp(composed.normalized, "CAFE\xcc\x81", 6) == 0);
	test_assert(decomposed.normalized_len == composed.normalized_len &&
		    memcmp(decomposed.normalized, composed.normalized,
			   composed.normalized_len) == 0);
	test_assert(composed.needle_count == 1 &&
		    decomposed.needle_count == 1 &&
		    composed.needles[0].len == decomposed.needles[0].len &&
		    memcmp(composed.needles[0].str, decomposed.needles[0].str,
			   composed.needles[0].len) == 0);
	sift_plan_free(&composed);
	sift_plan_free(&decomposed);
	/* the same inside a phrase */
	check_plan(SIFT_FIELD_BODY, "caf\xc3\xa9 au lait", SIFT_PLAN_CANDIDATES,
		   2, "CAFE\xcc\x81", "AU", "LAIT", NULL);
	check_plan(SIFT_FIELD_BODY, "CAFE\xcc\x81 AU LAIT",
		   SIFT_PLAN_CANDIDATES, 3, "CAFE\xcc\x81", "AU", "LAIT", NULL);
	test_end();
}

static void test_plan_candidates(void)
{
	test_begin("plan CANDIDATES");
	/* '-' is no word character: two words, and the string as a whole
	   is no single token */
	check_plan(SIFT_FIELD_BODY, "test case", SIFT_PLAN_CANDIDATES, 0,
		   "TEST", "CASE", NULL);
	check_plan(SIFT_FIELD_BODY, "a phrase here", SIFT_PLAN_CANDIDATES, 1,
		   "A", "PHRASE", "HERE", NULL);
	check_plan(SIFT_FIELD_TEXT, "a phrase here", SIFT_PLAN_CANDIDATES, 2,
		   "A", "PHRASE", "HERE", NULL);
	/* one token, but not the whole string: a substring search for
	   " kselftest" needs the space before it */
	check_plan(SIFT_FIELD_BODY, " kselftest", SIFT_PLAN_CANDIDATES, 3,
		   "KSELFTEST", NULL);
	check_plan(SIFT_FIELD_BODY, "kselftest.\tx", SIFT_PLAN_CANDIDATES, 4,
		   "KSELFTEST", "X", NULL);
	/* repeated words: one needle */
	check_plan(SIFT_FIELD_BODY, "hello Hello HELLO", SIFT_PLAN_CANDIDATES,
		   5, "HELLO", NULL);
	/* subject is a plain text field too */
	check_plan(SIFT_FIELD_SUBJECT, "Re: the plan", SIFT_PLAN_CANDIDATES,
		   6, "RE", "THE", "PLAN", NULL);
	/* HEADER with a value is a text search like any other */
	check_plan(SIFT_FIELD_HEADER, "x-mailer v2", SIFT_PLAN_CANDIDATES, 7,
		   "X", "MAILER", "V2", NULL);
	test_end();
}

static void test_plan_address(void)
{
	struct sift_plan plan;

	test_begin("plan address RUN");
	/* no space or address punctuation: the whole string is one run
	   needle, even where it is no word ("xample.co" is a substring) */
	check_plan(SIFT_FIELD_ADDRESS, "xample.co", SIFT_PLAN_RUN, 0,
		   "XAMPLE.CO", NULL);
	check_plan(SIFT_FIELD_ADDRESS, "user@example.com", SIFT_PLAN_RUN, 1,
		   "USER@EXAMPLE.COM", NULL);
	check_plan(SIFT_FIELD_ADDRESS, "User@Example.COM", SIFT_PLAN_RUN, 2,
		   "USER@EXAMPLE.COM", NULL);
	check_plan(SIFT_FIELD_ADDRESS, "carol", SIFT_PLAN_RUN, 3,
		   "CAROL", NULL);
	/* '@' alone: no token, but a run substring all the same */
	check_plan(SIFT_FIELD_ADDRESS, "@", SIFT_PLAN_RUN, 4, "@", NULL);
	check_plan(SIFT_FIELD_ADDRESS, "-", SIFT_PLAN_RUN, 5, "-", NULL);
	/* with a space: words */
	/* with one space inside: a run pair (two spaces, or one at an
	   edge: words) */
	check_plan(SIFT_FIELD_ADDRESS, "Carol Example", SIFT_PLAN_RUN_PAIR,
		   6, "CAROL EXAMPLE", NULL);
	check_plan(SIFT_FIELD_ADDRESS, "Carol  Example", SIFT_PLAN_CANDIDATES,
		   12, "CAROL", "EXAMPLE", NULL);
	check_plan(SIFT_FIELD_ADDRESS, "Carol Ann Example",
		   SIFT_PLAN_CANDIDATES, 13, "CAROL", "ANN", "EXAMPLE", NULL);
	check_plan(SIFT_FIELD_ADDRESS, "Carol <c", SIFT_PLAN_CANDIDATES,
		   14, "CAROL", "C", NULL);
	/* every separator character keeps it from being a run */
	for (const char *p = SIFT_ADDRESS_RUN_SEPARATORS; *p != '\0'; p++) {
		char value[16];

		i_snprintf(value, sizeof(value), "carol%cexample", *p);
		build(SIFT_FIELD_ADDRESS, value, &plan, 100 + (p -
			SIFT_ADDRESS_RUN_SEPARATORS));
		test_assert_idx(plan.kind != SIFT_PLAN_RUN,
				p - SIFT_ADDRESS_RUN_SEPARATORS);
		sift_plan_free(&plan);
	}
	/* the same strings outside addresses are not runs (how ICU
	   segments '@' differs between versions, so only that) */
	build(SIFT_FIELD_BODY, "user@example.com", &plan, 7);
	test_assert(plan.kind == SIFT_PLAN_WORD ||
		    plan.kind == SIFT_PLAN_CHUNK);
	sift_plan_free(&plan);
	build(SIFT_FIELD_HEADER, "xample.co", &plan, 8);
	test_assert(plan.kind != SIFT_PLAN_RUN);
	sift_plan_free(&plan);
	/* nothing to search for */
	check_plan(SIFT_FIELD_ADDRESS, "", SIFT_PLAN_UNSUPPORTED, 9, NULL);
	check_plan(SIFT_FIELD_ADDRESS, "   ", SIFT_PLAN_UNSUPPORTED, 10, NULL);
	check_plan(SIFT_FIELD_ADDRESS, "<>", SIFT_PLAN_UNSUPPORTED, 11, NULL);
	/* a word with address punctuation inside (UAX #29 keeps "a:b" one
	   word): never one term of the runs, which are split there; its
	   pieces are the needles, for FROM and for TEXT */
	for (const char *p = ":\""; *p != '\0'; p++) {
		static const enum sift_field fields[] = {
			SIFT_FIELD_ADDRESS, SIFT_FIELD_TEXT };
		char value[16];

		i_snprintf(value, sizeof(value), "edgar%clee", *p);
		for (unsigned int f = 0; f < N_ELEM(fields); f++) {
			build(fields[f], value, &plan, 300 + f);
			test_assert_idx(plan.kind != SIFT_PLAN_WORD &&
					plan.kind != SIFT_PLAN_RUN, f);
			test_assert_idx(plan_has_needle(&plan, "EDGAR") &&
					plan_has_needle(&plan, "LEE"), f);
			sift_plan_free(&plan);
		}
	}
	check_plan(SIFT_FIELD_ADDRESS, "Edgar:Lee", SIFT_PLAN_CANDIDATES, 12,
		   "EDGAR", "LEE", NULL);
	test_end();
}

static void test_plan_chunk(void)
{
	test_begin("plan CHUNK");
	/* '-' is no word character: two words, and the string as a whole
	   is no single token, but it has no whitespace */
	check_plan(SIFT_FIELD_BODY, "test-case", SIFT_PLAN_CHUNK, 0,
		   "TEST", "CASE", NULL);
	check_plan(SIFT_FIELD_BODY, "kselftest.", SIFT_PLAN_CHUNK, 1,
		   "KSELFTEST", NULL);
	check_plan(SIFT_FIELD_TEXT, "v5.10-rc1", SIFT_PLAN_CHUNK, 2,
		   "V5.10", "RC1", NULL);
	check_plan(SIFT_FIELD_SUBJECT, "[PATCH", SIFT_PLAN_CHUNK, 3,
		   "PATCH", NULL);
	check_plan(SIFT_FIELD_HEADER, "git-send-email", SIFT_PLAN_CHUNK, 4,
		   "GIT", "SEND", "EMAIL", NULL);
	/* no tokens at all, still a string to find */
	check_plan(SIFT_FIELD_SUBJECT, "-", SIFT_PLAN_CHUNK, 5, NULL);
	check_plan(SIFT_FIELD_BODY, "->", SIFT_PLAN_CHUNK, 6, NULL);
	check_plan(SIFT_FIELD_HEADER, "-", SIFT_PLAN_CHUNK, 7, NULL);
	/* an emoji is a symbol, not a word */
	check_plan(SIFT_FIELD_SUBJECT, "\xf0\x9f\x98\x80", SIFT_PLAN_CHUNK,
		   8, NULL);
	/* token counts decide whether the runs in the index are enough */
	{
		static const struct {
			const char *value;
			unsigned int tokens;
		} counts[] = {
			{ "test-case", 2 }, { "kselftest.", 1 }, { "->", 0 },
			{ "foo-bar.baz", 2 }, { "(foo)", 1 }, { "x-y-z", 3 },
		};
		struct sift_plan plan;

		for (unsigned int i = 0; i < N_ELEMENTS(counts); i++) {
			build(SIFT_FIELD_BODY, counts[i].value, &plan, 20 + i);
			test_assert_idx(plan.kind == SIFT_PLAN_CHUNK &&
					plan.token_count == counts[i].tokens,
					i);
			sift_plan_free(&plan);
		}
	}
	/* address fields keep their runs */
	check_plan(SIFT_FIELD_ADDRESS, "a.b@c.d", SIFT_PLAN_RUN, 9,
		   "A.B@C.D", NULL);
	/* a no-break space becomes a space in the normalized form */
	check_plan(SIFT_FIELD_BODY, "a\xc2\xa0" "b", SIFT_PLAN_CANDIDATES, 10,
		   "A", "B", NULL);
	test_end();
}

static void test_plan_exists_unsupported(void)
{
	struct sift_plan plan;

	test_begin("plan EXISTS and UNSUPPORTED");
	build_len(SIFT_FIELD_HEADER, "", 0, &plan, 0);
	test_assert(plan.kind == SIFT_PLAN_EXISTS);
	sift_plan_free(&plan);
	/* value_len decides, not the bytes behind it */
	build_len(SIFT_FIELD_HEADER, "ignored", 0, &plan, 1);
	test_assert(plan.kind == SIFT_PLAN_EXISTS);
	sift_plan_free(&plan);

	/* no tokens at all */
	check_plan(SIFT_FIELD_BODY, "", SIFT_PLAN_UNSUPPORTED, 2, NULL);
	check_plan(SIFT_FIELD_BODY, "   ", SIFT_PLAN_UNSUPPORTED, 4, NULL);
	check_plan(SIFT_FIELD_BODY, "\t\r\n", SIFT_PLAN_UNSUPPORTED, 5, NULL);
	check_plan(SIFT_FIELD_BODY, "--- !? ...", SIFT_PLAN_UNSUPPORTED, 6,
		   NULL);
	check_plan(SIFT_FIELD_TEXT, "", SIFT_PLAN_UNSUPPORTED, 7, NULL);
	check_plan(SIFT_FIELD_SUBJECT, "", SIFT_PLAN_UNSUPPORTED, 8, NULL);
	/* a non-empty HEADER value without tokens is not EXISTS */
	check_plan(SIFT_FIELD_HEADER, " ", SIFT_PLAN_UNSUPPORTED, 9, NULL);

	/* free is safe on a freed plan */
	build(SIFT_FIELD_BODY, "word", &plan, 12);
	sift_plan_free(&plan);
	test_assert(plan.normalized == NULL && plan.needle_count == 0);
	sift_plan_free(&plan);
	test_end();
}

static void test_plan_char(void)
{
	test_begin("plan CHAR");
	/* BODY: one character, letter or not, after normalization */
	check_plan(SIFT_FIELD_BODY, "f", SIFT_PLAN_CHAR, 0, NULL);
	check_plan(SIFT_FIELD_BODY, "F", SIFT_PLAN_CHAR, 1, NULL);
	check_plan(SIFT_FIELD_BODY, "(", SIFT_PLAN_CHAR, 2, NULL);
	check_plan(SIFT_FIELD_BODY, "\xe6\x9d\xb1", SIFT_PLAN_CHAR, 3, NULL);
	/* a letter with an accent is two characters once decomposed */
	check_plan(SIFT_FIELD_BODY, "\xc3\xa9", SIFT_PLAN_WORD, 4,
		   "E\xcc\x81", NULL);
	/* two characters, other fields, blanks: as before */
	check_plan(SIFT_FIELD_BODY, "fo", SIFT_PLAN_WORD, 5, "FO", NULL);
	check_plan(SIFT_FIELD_SUBJECT, "f", SIFT_PLAN_WORD, 6, "F", NULL);
	check_plan(SIFT_FIELD_TEXT, "f", SIFT_PLAN_WORD, 7, "F", NULL);
	check_plan(SIFT_FIELD_BODY, " ", SIFT_PLAN_UNSUPPORTED, 8, NULL);
	test_end();
}

static void test_plan_cjk(void)
{
	test_begin("plan dictionary scripts");
	/* Han is segmented by dictionary: one needle per character */
	check_plan(SIFT_FIELD_BODY, "\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd",
		   SIFT_PLAN_CHUNK, 0,
		   "\xe6\x9d\xb1", "\xe4\xba\xac", "\xe9\x83\xbd", NULL);
	/* a single character too: its dictionary token in a mail may be
	   longer, so this is no WORD */
	check_plan(SIFT_FIELD_SUBJECT, "\xe6\x9d\xb1", SIFT_PLAN_CHUNK, 1,
		   "\xe6\x9d\xb1", NULL);
	/* repeated characters: once each */
	check_plan(SIFT_FIELD_BODY,
		   "\xe6\x9d\xb1\xe4\xba\xac\xe6\x9d\xb1\xe4\xba\xac",
		   SIFT_PLAN_CHUNK, 2, "\xe6\x9d\xb1", "\xe4\xba\xac",
		   NULL);
	/* mixed with a rule-segmented word */
	check_plan(SIFT_FIELD_BODY, "\xe6\x9d\xb1\xe4\xba\xac tower",
		   SIFT_PLAN_CANDIDATES, 3, "\xe6\x9d\xb1", "\xe4\xba\xac",
		   "TOWER", NULL);
	/* Katakana, U+30AB U+30BF U+30AB U+30CA */
	check_plan(SIFT_FIELD_BODY,
		   "\xe3\x82\xab\xe3\x82\xbf\xe3\x82\xab\xe3\x83\x8a",
		   SIFT_PLAN_CHUNK, 4,
		   "\xe3\x82\xab", "\xe3\x82\xbf", "\xe3\x83\x8a", NULL);
	/* in an address field with a space (no run) */
	check_plan(SIFT_FIELD_ADDRESS, "\xe6\x9d\xb1 \xe4\xba\xac",
		   SIFT_PLAN_RUN_PAIR, 5, "\xe6\x9d\xb1 \xe4\xba\xac", NULL);
	check_plan(SIFT_FIELD_ADDRESS, "\xe6\x9d\xb1  \xe4\xba\xac",
		   SIFT_PLAN_CANDIDATES, 6, "\xe6\x9d\xb1", "\xe4\xba\xac",
		   NULL);
	test_end();
}


static double now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		i_fatal("clock_gettime() failed: %m");
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Needle n of plan occurs in plan->normalized as a whole space-delimited
   word (the hostile strings below are words separated by spaces). */
static bool needle_is_word(const struct sift_plan *plan,
			   const struct sift_plan_needle *n)
{
	const char *end = n->str + n->len;

	return (n->str == plan->normalized || n->str[-1] == ' ') &&
		(end == plan->normalized + plan->normalized_len ||
		 *end == ' ');
}

#define HOSTILE_SIZE (100 * 1024)
/* part of CJK Unified Ideographs: all assigned, none decomposes */
#define HAN_FIRST 0x4e00
#define HAN_COUNT 0x5000

static void test_plan_hostile(void)
{
	/* generous: normally this takes milliseconds */
	double limit = RUNNING_ON_VALGRIND ? 60.0 : 2.0;
	struct sift_plan plan;
	string_t *str;
	double start, secs;
	unsigned int i;

	test_begin("plan hostile 100 KB strings");
	str = str_new(default_pool, HOSTILE_SIZE + 64);

	/* random lowercase words of 1..20 letters */
	while (str_len(str) < HOSTILE_SIZE) {
		unsigned int len = 1 + rng_next() % 20;

		for (i = 0; i < len; i++)
			str_append_c(str, 'a' + rng_next() % 26);
		str_append_c(str, ' ');
	}
	start = now();
	build_len(SIFT_FIELD_BODY, str_data(str), str_len(str), &plan, 0);
	secs = now() - start;
	test_assert(plan.kind == SIFT_PLAN_CANDIDATES);
	test_assert(plan.needle_count >= 1 &&
		    plan.needle_count <= SIFT_PLAN_MAX_NEEDLES);
	for (i = 0; i < plan.needle_count; i++) {
		const struct sift_plan_needle *n = &plan.needles[i];

		test_assert_idx(needle_is_word(&plan, n), i);
		for (size_t j = 0; j < n->len; j++)
			test_assert_idx(n->str[j] >= 'A' && n->str[j] <= 'Z', i);
	}
	test_assert(secs < limit);
	if (secs >= limit)
		printf("    random words: %.2f s\n", secs);
	sift_plan_free(&plan);

	/* the same as an address search (spaces: no run) */
	start = now();
	build_len(SIFT_FIELD_ADDRESS, str_data(str), str_len(str), &plan, 1);
	secs = now() - start;
	test_assert(plan.kind == SIFT_PLAN_CANDIDATES);
	test_assert(secs < limit);
	sift_plan_free(&plan);

	/* no spaces at all: "ab-ab-ab-..." */
	str_truncate(str, 0);
	while (str_len(str) < HOSTILE_SIZE)
		str_append(str, "ab-");
	start = now();
	build_len(SIFT_FIELD_BODY, str_data(str), str_len(str), &plan, 2);
	secs = now() - start;
	test_assert(plan.kind == SIFT_PLAN_CHUNK);
	test_assert(plan.needle_count == 1 && plan_has_needle(&plan, "AB"));
	test_assert(secs < limit);
	sift_plan_free(&plan);

	/* ...as an address: one huge run */
	build_len(SIFT_FIELD_ADDRESS, str_data(str), str_len(str), &plan, 3);
	test_assert(plan.kind == SIFT_PLAN_RUN);
	sift_plan_free(&plan);

	/* one 100 KB "word" */
	str_truncate(str, 0);
	while (str_len(str) < HOSTILE_SIZE)
		str_append_c(str, 'x');
	start = now();
	build_len(SIFT_FIELD_BODY, str_data(str), str_len(str), &plan, 4);
	secs = now() - start;
	test_assert(plan.kind == SIFT_PLAN_WORD ||
		    plan.kind == SIFT_PLAN_CHUNK);
	test_assert(secs < limit);
	sift_plan_free(&plan);

	/* 100 KB of random Han characters, no spaces: dictionary
	   segmentation plus one needle per character */
	str_truncate(str, 0);
	while (str_len(str) < HOSTILE_SIZE) {
		unsigned char ch[3];
		uint32_t c = HAN_FIRST + rng_next() % HAN_COUNT;

		ch[0] = 0xe0 | (c >> 12);
		ch[1] = 0x80 | ((c >> 6) & 0x3f);
		ch[2] = 0x80 | (c & 0x3f);
		str_append_data(str, ch, 3);
	}
	start = now();
	build_len(SIFT_FIELD_BODY, str_data(str), str_len(str), &plan, 5);
	secs = now() - start;
	test_assert(plan.kind == SIFT_PLAN_CHUNK);
	test_assert(plan.needle_count >= 1 &&
		    plan.needle_count <= SIFT_PLAN_MAX_NEEDLES);
	/* single characters, each one of those generated */
	for (i = 0; i < plan.needle_count; i++) {
		const unsigned char *p =
			(const unsigned char *)plan.needles[i].str;
		uint32_t c;

		test_assert_idx(plan.needles[i].len == 3, i);
		c = ((uint32_t)(p[0] & 0x0f) << 12) |
			((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
		test_assert_idx(c >= HAN_FIRST && c < HAN_FIRST + HAN_COUNT, i);
	}
	test_assert(secs < limit);
	if (secs >= limit)
		printf("    Han: %.2f s\n", secs);
	sift_plan_free(&plan);
	str_free(&str);
	test_end();
}

static void test_plan_query_syntax(void)
{
	static const char *const plain[] = {
		"prefix:foo", "title:\"x y\"", "foo AND bar", "a* OR b?",
		"NEAR/3", "\"quoted\"", "(a OR b)", "~foo^2", "foo:bar:baz",
		"subject:hello", "+must -not", "[range..more]", "{1,2}",
	};
	struct sift_plan plan;
	const char *err;

	test_begin("plan Xapian query syntax is plain text");
	/* operators are words like any other */
	check_plan(SIFT_FIELD_BODY, "AND", SIFT_PLAN_WORD, 0, "AND", NULL);
	check_plan(SIFT_FIELD_BODY, "and", SIFT_PLAN_WORD, 1, "AND", NULL);
	check_plan(SIFT_FIELD_BODY, "foo AND bar", SIFT_PLAN_CANDIDATES, 2,
		   "FOO", "AND", "BAR", NULL);
	check_plan(SIFT_FIELD_BODY, "NOT foo", SIFT_PLAN_CANDIDATES, 3,
		   "NOT", "FOO", NULL);
	check_plan(SIFT_FIELD_BODY, "foo OR bar", SIFT_PLAN_CANDIDATES, 4,
		   "FOO", "OR", "BAR", NULL);
	/* wildcards and quotes are punctuation, not operators */
	check_plan(SIFT_FIELD_BODY, "*", SIFT_PLAN_CHAR, 5, NULL);
	check_plan(SIFT_FIELD_BODY, "foo*", SIFT_PLAN_CHUNK, 6,
		   "FOO", NULL);
	check_plan(SIFT_FIELD_BODY, "\"exact phrase\"", SIFT_PLAN_CANDIDATES,
		   7, "EXACT", "PHRASE", NULL);
	check_plan(SIFT_FIELD_BODY, "\"", SIFT_PLAN_CHAR, 8, NULL);
	check_plan(SIFT_FIELD_BODY, "+must -not", SIFT_PLAN_CANDIDATES, 9,
		   "MUST", "NOT", NULL);

	/* field prefixes: the needles are exactly the text's tokens (as
	   sift-text segments the normalized string), nothing stripped or
	   interpreted; the normalized string keeps every character */
	for (unsigned int i = 0; i < N_ELEM(plain); i++) {
		struct token_list toks;
		unsigned int expected = 0;

		build(SIFT_FIELD_BODY, plain[i], &plan, 100 + i);
		test_assert_idx(plan.normalized_len == strlen(plain[i]), i);
		i_zero(&toks);
		test_assert_idx(sift_text_tokenize(text, plan.normalized,
						   plan.normalized_len,
						   collect_token_pieces, &toks,
						   &err) == 0, i);
		/* every token is a needle (few enough here), split at
		   address punctuation, and nothing else is */
		for (unsigned int t = 0; t < toks.count; t++) {
			bool found = FALSE, dup = FALSE;

			for (unsigned int u = 0; u < t; u++) {
				if (toks.lens[u] == toks.lens[t] &&
				    memcmp(toks.toks[u], toks.toks[t],
					   toks.lens[t]) == 0)
					dup = TRUE;
			}
			if (!dup)
				expected++;
			for (unsigned int n = 0; n < plan.needle_count; n++) {
				if (plan.needles[n].len == toks.lens[t] &&
				    memcmp(plan.needles[n].str, toks.toks[t],
					   toks.lens[t]) == 0)
					found = TRUE;
			}
			test_assert_idx(found, i);
		}
		test_assert_idx(plan.needle_count == expected, i);
		test_assert_idx(toks.count > 0, i);
		sift_plan_free(&plan);
	}
	/* "prefix:foo": whether or not ICU keeps it one token, both words
	   are searched for, with the colon either inside a needle or not
	   at all - never as the start of a field name */
	build(SIFT_FIELD_BODY, "prefix:foo", &plan, 200);
	test_assert(plan_has_needle(&plan, "PREFIX:FOO") ||
		    (plan_has_needle(&plan, "PREFIX") &&
		     plan_has_needle(&plan, "FOO")));
	test_assert(!plan_has_needle(&plan, "foo"));
	sift_plan_free(&plan);
	test_end();
}

static void test_plan_invalid_input(void)
{
	static const struct {
		const char *value;
		size_t len;
	} bad[] = {
		{ "\xff", 1 },
		{ "\xff\xfe" "abc", 5 },
		{ "abc\xff", 4 },
		{ "caf\xc3", 4 },		/* truncated sequence */
		{ "\xc0\xaf" "x", 3 },		/* overlong '/' */
		{ "\xed\xa0\x80" "x", 4 },	/* surrogate */
		{ "\xf4\x90\x80\x80", 4 },	/* above U+10FFFF */
		{ "\xe6\x9d" "\xe6\x9d\xb1", 5 },
		{ "a\x80\x80\x80" "b", 5 },
		{ "\0", 1 },
		{ "foo\0bar", 7 },
		{ "\0\0\0", 3 },
		{ "user\0@example.com", 17 },
	};
	static const enum sift_field fields[] = {
		SIFT_FIELD_BODY, SIFT_FIELD_TEXT, SIFT_FIELD_HEADER,
		SIFT_FIELD_ADDRESS, SIFT_FIELD_SUBJECT
	};
	struct sift_plan plan;

	test_begin("plan invalid UTF-8 and NULs");
	for (unsigned int i = 0; i < N_ELEM(bad); i++) {
		for (unsigned int f = 0; f < N_ELEM(fields); f++) {
			/* invariants include the comparison with Dovecot's
			   normalization (U+FFFD for invalid bytes) */
			build_len(fields[f], bad[i].value, bad[i].len, &plan,
				  i * 10 + f);
			sift_plan_free(&plan);
		}
	}

	/* what is left of them: the valid words */
	build_len(SIFT_FIELD_BODY, "\xff\xfe" "abc", 5, &plan, 100);
	test_assert(plan.kind == SIFT_PLAN_CHUNK &&
		    plan.needle_count == 1 && plan_has_needle(&plan, "ABC"));
	/* one U+FFFD for the two bytes, as Dovecot does */
	test_assert(plan.normalized_len == 6 &&
		    memcmp(plan.normalized, "\xef\xbf\xbd" "ABC", 6) == 0);
	sift_plan_free(&plan);
	build_len(SIFT_FIELD_SUBJECT, "\xff", 1, &plan, 101);
	test_assert(plan.kind == SIFT_PLAN_CHUNK && plan.needle_count == 0);
	sift_plan_free(&plan);
	/* in a body search, that U+FFFD is one character */
	build_len(SIFT_FIELD_BODY, "\xff", 1, &plan, 102);
	test_assert(plan.kind == SIFT_PLAN_CHAR && plan.normalized_len == 3);
	sift_plan_free(&plan);

	/* the NUL is kept (value_len counts), and separates words */
	build_len(SIFT_FIELD_BODY, "foo\0bar", 7, &plan, 102);
	test_assert(plan.normalized_len == 7 &&
		    memcmp(plan.normalized, "FOO\0BAR", 8) == 0);
	test_assert(plan.kind == SIFT_PLAN_CANDIDATES);
	test_assert(plan.needle_count == 2 && plan_has_needle(&plan, "FOO") &&
		    plan_has_needle(&plan, "BAR"));
	sift_plan_free(&plan);
	build_len(SIFT_FIELD_BODY, "\0", 1, &plan, 103);
	test_assert(plan.kind == SIFT_PLAN_UNSUPPORTED);
	sift_plan_free(&plan);
	/* for HEADER, a lone NUL is a value, not "exists" */
	build_len(SIFT_FIELD_HEADER, "\0", 1, &plan, 104);
	test_assert(plan.kind == SIFT_PLAN_UNSUPPORTED);
	sift_plan_free(&plan);
	test_end();
}

static void test_header_name_keyable(void)
{
	char name[70];

	test_begin("sift_header_name_is_keyable");
	test_assert(!sift_header_name_is_keyable("", 0));
	test_assert(!sift_header_name_is_keyable("Subject", 0));
	test_assert(sift_header_name_is_keyable("Subject", 7));
	test_assert(sift_header_name_is_keyable("X-Spam-Flag", 11));
	test_assert(sift_header_name_is_keyable("a", 1));
	/* len counts, not the NUL: "Subject:" cut before the colon */
	test_assert(sift_header_name_is_keyable("Subject:", 7));
	test_assert(!sift_header_name_is_keyable("Subject:", 8));

	/* 64 bytes is the most */
	memset(name, 'x', sizeof(name));
	test_assert(sift_header_name_is_keyable(name, 63));
	test_assert(sift_header_name_is_keyable(name, 64));
	test_assert(!sift_header_name_is_keyable(name, 65));
	test_assert(!sift_header_name_is_keyable(name, 70));

	/* printable ASCII without ':' and space */
	test_assert(!sift_header_name_is_keyable("X:Y", 3));
	test_assert(!sift_header_name_is_keyable(":", 1));
	test_assert(!sift_header_name_is_keyable("X Y", 3));
	test_assert(!sift_header_name_is_keyable(" ", 1));
	test_assert(!sift_header_name_is_keyable("X\tY", 3));
	test_assert(!sift_header_name_is_keyable("X\0Y", 3));
	test_assert(!sift_header_name_is_keyable("X\x7fY", 3));
	test_assert(!sift_header_name_is_keyable("X\x1fY", 3));
	test_assert(!sift_header_name_is_keyable("Subject\r\n", 9));
	/* the ends of the printable range are fine */
	test_assert(sift_header_name_is_keyable("!", 1));
	test_assert(sift_header_name_is_keyable("~", 1));
	/* non-ASCII (UTF-8 and Latin-1 bytes) */
	test_assert(!sift_header_name_is_keyable("X-\xc3\x9c", 4));
	test_assert(!sift_header_name_is_keyable("X-\xdc", 3));
	test_assert(!sift_header_name_is_keyable("\xff", 1));
	/* a 64-byte name with one bad byte at the very end */
	memset(name, 'x', 64);
	name[63] = ':';
	test_assert(!sift_header_name_is_keyable(name, 64));
	name[63] = '\x80';
	test_assert(!sift_header_name_is_keyable(name, 64));
	test_end();
}

static void test_plan_kind_str(void)
{
	static const enum sift_plan_kind kinds[] = {
		SIFT_PLAN_UNSUPPORTED, SIFT_PLAN_EXISTS, SIFT_PLAN_WORD,
		SIFT_PLAN_RUN, SIFT_PLAN_CANDIDATES
	};

	test_begin("sift_plan_kind_str");
	for (unsigned int i = 0; i < N_ELEM(kinds); i++) {
		const char *s = sift_plan_kind_str(kinds[i]);

		test_assert_idx(s != NULL && s[0] != '\0', i);
		for (unsigned int j = 0; j < i; j++)
			test_assert_idx(strcmp(s, sift_plan_kind_str(kinds[j])) !=
					0, i);
	}
	test_assert(strcmp(sift_plan_kind_str(SIFT_PLAN_WORD), "word") == 0);
	test_end();
}

static void test_address_run_separator(void)
{
	test_begin("address run separators: the table is strchr()'s set");
	for (unsigned int c = 0; c < 256; c++) {
		test_assert_idx(sift_is_address_run_separator((char)c) ==
				(strchr(SIFT_ADDRESS_RUN_SEPARATORS, (int)c) !=
				 NULL), c);
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_address_run_separator,
		test_plan_word,
		test_plan_cafe,
		test_plan_candidates,
		test_plan_chunk,
		test_plan_address,
		test_plan_exists_unsupported,
		test_plan_char,
		test_plan_cjk,
		test_plan_hostile,
		test_plan_query_syntax,
		test_plan_invalid_input,
		test_header_name_keyable,
		test_plan_kind_str,
		NULL
	};
	const char *err;
	int ret;

	lib_init();
	if (sift_text_init(&text, &err) < 0)
		i_fatal("sift_text_init() failed: %s", err);
	ret = test_run(test_functions);
	sift_text_deinit(&text);
	lib_deinit();
	return ret;
}
