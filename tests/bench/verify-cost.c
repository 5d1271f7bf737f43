/* verify-cost: what checking an index's side files costs a search.

     make tests/bench/verify-cost
     tests/bench/verify-cost <mailbox index dir>/fts-sift [rounds]

   Opens the side files as a search does (sift_dict_open(): terms and
   opaque; sift_gaps_open()), first with this process's verification
   cache empty - every record hashed, as in the first search after the
   file changed - then again with the cache warm (the file unchanged
   since this process last verified it), and prints the median times and
   the file sizes. */
#include "lib.h"
#include "sift-xapian.h"
#include "sift-dict.h"
#include "sift-gaps.h"
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

/* Open and close everything a search opens; the time in ms. */
static double open_all(const char *dir, const struct sift_files_state *st)
{
	struct sift_dict *dict;
	struct sift_gaps *gaps;
	const char *error;
	double start = now_ms();

	const char *only = getenv("VERIFY_COST_ONLY");

	if (only == NULL || strcmp(only, "dict") == 0) {
		if (sift_dict_open(dir, st, &dict, &error) <= 0)
			i_fatal("%s", error);
		sift_dict_close(&dict);
	}
	if (only == NULL || strcmp(only, "gaps") == 0) {
		if (sift_gaps_open(dir, &st->gaps, &gaps, &error) <= 0)
			i_fatal("%s", error);
		sift_gaps_close(&gaps);
	}
	return now_ms() - start;
}

int main(int argc, char *argv[])
{
	struct sift_files_state st;
	struct sift_xerror err;
	struct sift_xdb *db;
	char *value;
	unsigned int rounds = argc > 2 ? atoi(argv[2]) : 9;
	double *cold, *warm;

	lib_init();
	if (argc < 2)
		i_fatal("Usage: verify-cost <fts-sift dir> [rounds]");
	if (sift_xdb_open(argv[1], 0, &db, &err) != SIFT_X_OK)
		i_fatal("open: %s", err.msg);
	if (sift_xdb_get_metadata(db, SIFT_META_FILES, &value,
				  &err) != SIFT_X_OK || value == NULL)
		i_fatal("no %s", SIFT_META_FILES);
	if (sift_files_state_parse(value, &st) < 0)
		i_fatal("invalid %s: %s", SIFT_META_FILES, value);
	free(value);
	sift_xdb_close(&db);

	cold = t_new(double, rounds);
	warm = t_new(double, rounds);
	for (unsigned int i = 0; i < rounds; i++) {
		sift_record_forget_verified();
		cold[i] = open_all(argv[1], &st);
		warm[i] = open_all(argv[1], &st);
	}
	qsort(cold, rounds, sizeof(double), cmp_double);
	qsort(warm, rounds, sizeof(double), cmp_double);
	printf("terms %llu bytes, opaque %llu bytes, gaps %llu bytes\n",
	       (unsigned long long)st.terms.len,
	       (unsigned long long)st.opaque.len,
	       (unsigned long long)st.gaps.len);
	printf("open + verify, median of %u: first %.2f ms, cached %.3f ms\n",
	       rounds, cold[rounds / 2], warm[rounds / 2]);
	lib_deinit();
	return 0;
}
