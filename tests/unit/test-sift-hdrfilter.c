/* Unit tests of sift-hdrfilter: the fts core's header selection
   (fts_header_includes / fts_header_excludes). */
#include "lib.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-hdrfilter.h"

#include <stdio.h>
#include <string.h>

struct case_ {
	const char *includes, *excludes, *name;
	bool wanted;
};

static void test_hdrfilter_cases(void)
{
	static const struct case_ cases[] = {
		/* nothing set: everything */
		{ NULL, NULL, "Received", TRUE },
		{ "", "", "X-Mailer", TRUE },
		/* includes alone change nothing */
		{ "From Subject", NULL, "Received", TRUE },
		/* the documented example */
		{ NULL, "X-Mailer Received DKIM-* List-*", "X-Mailer", FALSE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "x-mailer", FALSE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "RECEIVED", FALSE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "DKIM-Signature", FALSE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "List-Id", FALSE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "List-", FALSE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "List", TRUE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "X-Mailer2", TRUE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "X-Maile", TRUE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "Subject", TRUE },
		{ NULL, "X-Mailer Received DKIM-* List-*", "From", TRUE },
		/* spaces only separate; several of them, leading, trailing */
		{ NULL, "  X-Mailer   Received  ", "Received", FALSE },
		/* a tab is not a separator for the core */
		{ NULL, "X-Mailer\tReceived", "Received", TRUE },
		{ NULL, "X-Mailer\tReceived", "x-mailer\treceived", FALSE },
		/* '*' alone excludes everything but the includes */
		{ "From To Subject", "*", "From", TRUE },
		{ "From To Subject", "*", "Cc", FALSE },
		{ "From To Subject", "*", "Received", FALSE },
		{ "From To X-*", "*", "X-Spam", TRUE },
		/* an entry starting with '*' ends the list */
		{ NULL, "Received *foo X-Mailer", "X-Mailer", FALSE },
		{ NULL, "Received *foo X-Mailer", "Anything", FALSE },
		/* includes win over excludes */
		{ "X-Mailer", "X-*", "X-Mailer", TRUE },
		{ "X-Mailer", "X-*", "X-Spam", FALSE },
		{ "x-mailer", "X-*", "X-MAILER", TRUE },
		/* '*' only at the end is a wildcard */
		{ NULL, "X-*-Foo", "X-A-Foo", TRUE },
		{ NULL, "X-*-Foo", "X-*-Foo", FALSE },
		{ NULL, "X*", "X", FALSE },
		{ NULL, "X*", "Xanything", FALSE },
		{ NULL, "X*", "Y", TRUE },
	};

	test_begin("hdrfilter cases");
	for (unsigned int i = 0; i < N_ELEMENTS(cases); i++) {
		struct sift_hdrfilter *f =
			sift_hdrfilter_new(cases[i].includes,
					   cases[i].excludes);
		bool got;

		test_assert_idx(f != NULL, i);
		got = sift_hdrfilter_wants(f, cases[i].name);
		if (got != cases[i].wanted) {
			printf("includes '%s' excludes '%s' name '%s': "
			       "got %d\n", cases[i].includes,
			       cases[i].excludes, cases[i].name, got);
		}
		test_assert_idx(got == cases[i].wanted, i);
		sift_hdrfilter_free(&f);
	}
	test_end();
}

static void test_hdrfilter_id(void)
{
	struct sift_hdrfilter *a, *b;

	test_begin("hdrfilter id");
	/* nothing left out: "" (the index needs no rebuild for includes
	   alone) */
	a = sift_hdrfilter_new(NULL, NULL);
	test_assert(strcmp(sift_hdrfilter_id(a), "") == 0);
	test_assert(!sift_hdrfilter_excludes_any(a));
	sift_hdrfilter_free(&a);
	a = sift_hdrfilter_new("From", "");
	test_assert(strcmp(sift_hdrfilter_id(a), "") == 0);
	sift_hdrfilter_free(&a);
	/* the same selection written differently: the same id */
	a = sift_hdrfilter_new(NULL, "X-Mailer Received DKIM-*");
	b = sift_hdrfilter_new("", " dkim-*  RECEIVED x-mailer ");
	test_assert(sift_hdrfilter_excludes_any(a));
	test_assert(strcmp(sift_hdrfilter_id(a), sift_hdrfilter_id(b)) == 0);
	sift_hdrfilter_free(&b);
	/* another selection: another id */
	b = sift_hdrfilter_new("X-Mailer", "X-Mailer Received DKIM-*");
	test_assert(strcmp(sift_hdrfilter_id(a), sift_hdrfilter_id(b)) != 0);
	sift_hdrfilter_free(&b);
	b = sift_hdrfilter_new(NULL, "X-Mailer Received");
	test_assert(strcmp(sift_hdrfilter_id(a), sift_hdrfilter_id(b)) != 0);
	sift_hdrfilter_free(&b);
	sift_hdrfilter_free(&a);
	test_end();
}

/* Lists without a wildcard entry that is a prefix of another entry: the
   binary search then finds exactly what a linear scan finds. */
static bool linear_match(char names[][8], unsigned int n, const char *key)
{
	for (unsigned int i = 0; i < n; i++) {
		size_t len = strlen(names[i]);

		if (len > 0 && names[i][len - 1] == '*') {
			if (strncasecmp(key, names[i], len - 1) == 0)
				return TRUE;
		} else if (strcasecmp(key, names[i]) == 0) {
			return TRUE;
		}
	}
	return FALSE;
}

static void test_hdrfilter_random(void)
{
	static const char alphabet[] = "abcAB-";
	char names[6][8], list[64], key[8];
	unsigned int round, i, j, n;

	test_begin("hdrfilter random");
	for (round = 0; round < 20000; round++) {
		struct sift_hdrfilter *f;
		bool ambiguous = FALSE;

		n = 1 + rng_next() % 5;
		list[0] = '\0';
		for (i = 0; i < n; i++) {
			unsigned int len = 1 + rng_next() % 3;

			for (j = 0; j < len; j++)
				names[i][j] = alphabet[rng_next() % 6];
			names[i][j] = '\0';
			if (rng_next() % 3 == 0) {
				names[i][j] = '*';
				names[i][j + 1] = '\0';
			}
			strcat(list, " ");
			strcat(list, names[i]);
		}
		for (i = 0; i < n; i++) {
			size_t li = strlen(names[i]);

			if (names[i][li - 1] != '*')
				continue;
			for (j = 0; j < n; j++) {
				if (i != j && strncasecmp(names[j], names[i],
							  li - 1) == 0)
					ambiguous = TRUE;
			}
		}
		if (ambiguous)
			continue;
		f = sift_hdrfilter_new(NULL, list);
		for (j = 0; j < 8; j++) {
			unsigned int len = 1 + rng_next() % 4, k;

			for (k = 0; k < len; k++)
				key[k] = alphabet[rng_next() % 6];
			key[k] = '\0';
			test_assert(sift_hdrfilter_wants(f, key) ==
				    !linear_match(names, n, key));
		}
		sift_hdrfilter_free(&f);
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_hdrfilter_cases,
		test_hdrfilter_id,
		test_hdrfilter_random,
		NULL
	};

	return sift_test_main(test_functions, NULL);
}
