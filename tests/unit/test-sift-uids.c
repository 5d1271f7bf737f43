/* Unit tests for plugin/sift-uids.c: the one binary search over sorted
   UIDs (checked against a linear scan on random sets, every present and
   absent UID, records of several layouts) and the "1-5,7" range text
   form (round trips and every malformed shape). */

#include "lib.h"
#include "array.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-uids.h"

struct test_record {
	uint64_t before;
	uint32_t uid;
	unsigned char after[3];
};

static bool linear_find(const uint32_t *uids, size_t count, uint32_t uid,
			size_t *idx_r)
{
	for (size_t i = 0; i < count; i++) {
		if (uids[i] == uid) {
			*idx_r = i;
			return TRUE;
		}
	}
	return FALSE;
}

static void test_uid_search(void)
{
	uint32_t uids[300];
	struct test_record recs[300];
	bool ok = TRUE;

	test_begin("sift_uid_search = linear scan (sets of 0..300 UIDs)");
	rng_seed(1234);
	for (size_t count = 0; count <= N_ELEMENTS(uids) && ok;
	     count += count < 20 ? 1 : 37) {
		uint32_t uid = 0;

		for (size_t i = 0; i < count; i++) {
			uid += 1 + rng_next() % 5;
			uids[i] = uid;
			i_zero(&recs[i]);
			recs[i].uid = uid;
		}
		struct sift_uids set = { uids, count, count };
		/* every UID up to past the last: present and absent ones,
		   including 0 and the neighbours of each */
		for (uint32_t u = 0; u <= uid + 2 && ok; u++) {
			size_t want_idx = 0, idx = (size_t)-1, ridx = 0;
			bool want = linear_find(uids, count, u, &want_idx);

			if (sift_uid_search(uids, count, sizeof(uint32_t), 0,
					    u, &idx) != want ||
			    (want && idx != want_idx) ||
			    sift_uids_contain(&set, u) != want ||
			    sift_uid_search(recs, count, sizeof(recs[0]),
					    offsetof(struct test_record, uid),
					    u, &ridx) != want ||
			    (want && ridx != want_idx)) {
				i_error("count %zu uid %u: want %d at %zu",
					count, u, want, want_idx);
				ok = FALSE;
			}
		}
	}
	test_assert(ok);
	/* the largest UIDs */
	uint32_t high[] = { 1, 0x7fffffff, 0xfffffffe, 0xffffffff };
	size_t idx;
	test_assert(sift_uid_search(high, 4, 4, 0, 0xffffffff, &idx) &&
		    idx == 3);
	test_assert(sift_uid_search(high, 4, 4, 0, 1, &idx) && idx == 0);
	test_assert(!sift_uid_search(high, 4, 4, 0, 0x80000000, NULL));
	test_assert(!sift_uid_search(NULL, 0, 4, 0, 1, NULL));
	test_end();
}

static void test_uid_ranges(void)
{
	static const char *const good[] = {
		"1", "1-5", "1-5,7", "1,3,5", "2-2", "1-4294967295",
		"4294967295", "10-20,30-40,50",
	};
	static const char *const bad[] = {
		"0", "0-5", "5-1", "a", "1-", "-1", "1,,2", "1 2",
		"1-5,", ",1", "4294967296", "1-4294967296", "1--5", "+1",
	};
	ARRAY_TYPE(seq_range) r;

	test_begin("sift_uid_ranges_parse/_str");
	for (unsigned int i = 0; i < N_ELEMENTS(good); i++) {
		t_array_init(&r, 4);
		test_assert_idx(sift_uid_ranges_parse(good[i], &r) == 0, i);
		/* the canonical form of a sorted, disjoint list is itself
		   ("2-2" becomes "2") */
		test_assert_idx(strcmp(sift_uid_ranges_str(&r),
			strcmp(good[i], "2-2") == 0 ? "2" : good[i]) == 0, i);
	}
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++) {
		t_array_init(&r, 4);
		test_assert_idx(sift_uid_ranges_parse(bad[i], &r) < 0, i);
	}
	/* "" is the empty list (what _str() gives for none) */
	t_array_init(&r, 4);
	test_assert(sift_uid_ranges_parse("", &r) == 0 &&
		    array_count(&r) == 0);
	test_assert(strcmp(sift_uid_ranges_str(&r), "") == 0);
	/* overlapping and unordered items merge */
	t_array_init(&r, 4);
	test_assert(sift_uid_ranges_parse("7,1-3,2-5,6", &r) == 0);
	test_assert(strcmp(sift_uid_ranges_str(&r), "1-7") == 0);
	/* random sets round-trip */
	rng_seed(99);
	for (unsigned int n = 0; n < 200; n++) {
		ARRAY_TYPE(seq_range) back;

		t_array_init(&r, 8);
		t_array_init(&back, 8);
		for (unsigned int k = rng_next() % 20; k > 0; k--) {
			uint32_t a = 1 + rng_next() % 1000;
			seq_range_array_add_range(&r, a, a + rng_next() % 4);
		}
		if (array_count(&r) == 0)
			continue;
		test_assert_idx(sift_uid_ranges_parse(
			sift_uid_ranges_str(&r), &back) == 0, n);
		test_assert_idx(array_cmp(&r, &back), n);
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_uid_search,
		test_uid_ranges,
		NULL
	};
	return test_run(test_functions);
}
