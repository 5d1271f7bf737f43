/* verify-cost: what checking an index's side files costs a search.

     make tests/bench/verify-cost
     tests/bench/verify-cost <mailbox index dir>/fts-sift [rounds]

   Opens the side files as a search does: only the headers (what every
   search pays: sift_termfiles_open()); then scanning the terms and opaque
   files once and opening the gaps file, with this process's verification
   cache empty (every record hashed, as in the first search after the
   files changed) and again with it warm (the files unchanged since this
   process verified them).  Prints the medians and the file sizes.
   VERIFY_COST_ONLY=dict or gaps: only those files. */
#include "lib.h"
#include "array.h"
#include "seq-range-array.h"
#include "sift-xapian.h"
#include "sift-termfiles.h"
#include "sift-phrase-filter.h"
#include "sift-record.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Open what a search opens and, with scan, scan the terms and opaque
   files once (as a substring or TEXT search does; their records are
   verified first); the time in ms. */
static double open_all(const char *dir, const struct sift_files_state *st,
		       bool scan)
{
	static const struct sift_termfiles_prefix body[] = { { "B", '\0' } };
	struct sift_termfiles *dict;
	struct sift_phrase_filter *gaps;
	const char *error;
	double start = now_ms();
	const char *only = getenv("VERIFY_COST_ONLY");

	if (only == NULL || strcmp(only, "dict") == 0) T_BEGIN {
		if (sift_termfiles_open(dir, st, &dict, &error) <= 0)
			i_fatal("%s", error);
		if (scan) {
			ARRAY_TYPE(sift_termfiles_term) terms;
			ARRAY_TYPE(seq_range) uids;

			t_array_init(&terms, 8);
			t_array_init(&uids, 8);
			sift_termfiles_match_terms(dict, body, 1, "zqxj", 4,
					      &terms);
			sift_termfiles_match_opaque(dict, "zqxj", 4, &uids);
			if (sift_termfiles_damage(dict) != NULL)
				i_fatal("%s", sift_termfiles_damage(dict));
		}
		sift_termfiles_close(&dict);
	} T_END;
	if (scan && (only == NULL || strcmp(only, "gaps") == 0)) {
		if (sift_phrase_filter_open(dir, &st->gaps, &gaps, &error) <= 0)
			i_fatal("%s", error);
		sift_phrase_filter_close(&gaps);
	}
	return now_ms() - start;
}

int main(int argc, char *argv[])
{
	struct sift_files_state st;
	const char *error;
	struct sift_xdb *db;
	char *value;
	unsigned int rounds = argc > 2 ? atoi(argv[2]) : 9;
	double *cold, *warm, *plain;

	lib_init();
	if (argc < 2)
		i_fatal("Usage: verify-cost <fts-sift dir> [rounds]");
	if (sift_xdb_open(argv[1], 0, &db, &error) != SIFT_X_OK)
		i_fatal("open: %s", error);
	if (sift_xdb_get_metadata(db, SIFT_META_FILES, &value,
				  &error) != SIFT_X_OK || value == NULL)
		i_fatal("no %s", SIFT_META_FILES);
	if (sift_files_state_parse(value, &st) < 0)
		i_fatal("invalid %s: %s", SIFT_META_FILES, value);
	free(value);
	sift_xdb_close(&db);

	cold = t_new(double, rounds);
	warm = t_new(double, rounds);
	plain = t_new(double, rounds);
	for (unsigned int i = 0; i < rounds; i++) {
		sift_record_forget_verified();
		plain[i] = open_all(argv[1], &st, FALSE);
		cold[i] = open_all(argv[1], &st, TRUE);
		warm[i] = open_all(argv[1], &st, TRUE);
	}
	qsort(plain, rounds, sizeof(double), cmp_double);
	qsort(cold, rounds, sizeof(double), cmp_double);
	qsort(warm, rounds, sizeof(double), cmp_double);
	printf("terms %llu bytes, opaque %llu bytes, gaps %llu bytes\n",
	       (unsigned long long)st.terms.len,
	       (unsigned long long)st.opaque.len,
	       (unsigned long long)st.gaps.len);
	printf("median of %u: open only (a word search) %.3f ms; open, "
	       "verify and scan once (substring, TEXT, phrase): first %.2f ms, "
	       "file verified before %.2f ms\n", rounds, plain[rounds / 2],
	       cold[rounds / 2], warm[rounds / 2]);
	lib_deinit();
	return 0;
}
