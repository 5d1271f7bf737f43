/* Unit tests of sift-phrase-filter: the gap keys of a phrase are always
   among the keys of any text that contains it (so filtering can never
   drop a match), the filters round-trip through the file, and copies
   keep only the requested messages.  Linked with the file helpers and
   records only (no Xapian, no terms files). */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-plan.h"
#include "sift-phrase-filter.h"
#include "sift-file.h"
#include "sift-record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

static char test_root[] = "/tmp/test-sift-phrase-filter.XXXXXX";


static bool keys_have(const ARRAY_TYPE(sift_gap_key) *keys, uint64_t key)
{
	const uint64_t *k;

	array_foreach(keys, k) {
		if (*k == key)
			return TRUE;
	}
	return FALSE;
}

/* Keys of text given in pieces cut at the given offsets (which the
   caller puts right after whitespace, as the indexer does). */
static void text_keys(const char *text, const size_t *cuts,
		      unsigned int cut_count, ARRAY_TYPE(sift_gap_key) *keys)
{
	struct sift_gap_state state;
	size_t start = 0, len = strlen(text);

	i_zero(&state);
	for (unsigned int i = 0; i <= cut_count; i++) {
		size_t end = i < cut_count ? cuts[i] : len;

		sift_phrase_filter_text_keys(&state, "B", text + start, end - start,
				    keys);
		start = end;
	}
}

static void check_needle_in(const char *text, const char *needle,
			    unsigned int min_keys, unsigned int idx)
{
	ARRAY_TYPE(sift_gap_key) tkeys, nkeys;
	const uint64_t *k;

	t_array_init(&tkeys, 64);
	t_array_init(&nkeys, 8);
	text_keys(text, NULL, 0, &tkeys);
	sift_phrase_filter_needle_keys("B", needle, strlen(needle), &nkeys);
	test_assert_idx(array_count(&nkeys) >= min_keys, idx);
	array_foreach(&nkeys, k)
		test_assert_idx(keys_have(&tkeys, *k), idx);
}

static void test_gaps_keys(void)
{
	ARRAY_TYPE(sift_gap_key) a, b;

	test_begin("gap keys of a phrase are in every text holding it");
	check_needle_in("WE SUPPORT THIS ONLY FOR NOW", "THIS ONLY", 1, 0);
	/* partial runs at the ends of the needle */
	check_needle_in("WE SUPPORT THIS ONLY FOR NOW", "PORT THIS ONL", 2, 1);
	/* whitespace of another kind or length is one gap */
	check_needle_in("THIS\n\tONLY", "THIS ONLY", 1, 2);
	check_needle_in("THIS ONLY", "THIS   ONLY", 1, 3);
	/* short runs inside the needle are whole */
	check_needle_in("GO TO A B OF THE MAP", "TO A B OF", 1, 4);
	/* a first or last run of two characters gives the short key part */
	check_needle_in("MAIN OF THE DAY", "OF THE", 1, 5);
	check_needle_in("MAIN OF THE DAY", "N OF THE D", 1, 6);
	/* leading/trailing whitespace makes the runs whole */
	check_needle_in("X OF THE Y", " OF THE ", 1, 7);
	/* multi-byte characters: three characters, not bytes */
	check_needle_in("\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd \xe3\x81\xab\xe4\xbd\x8f",
			"\xe4\xba\xac\xe9\x83\xbd \xe3\x81\xab", 0, 8);
	check_needle_in("\xc3\x89T\xc3\x89 CHAUD ET",
			"\xc3\x89T\xc3\x89 CHA", 1, 9);
	/* no whitespace: no gap */
	check_needle_in("SIGNED-OFF-BY", "SIGNED-OFF-BY", 0, 10);
	/* a last run of two characters may go on in the text */
	check_needle_in("WHILE DONE; DO", "WHILE DO", 1, 11);
	check_needle_in("MAY 09, 2023", "MAY 09", 1, 12);
	check_needle_in("THIS NOTHING", "IS NOT", 1, 13);
	/* a one-character outer run gives no key */
	check_needle_in("I AGREE", "I AGREE", 0, 14);
	/* short runs between gaps: gap pairs and the keys around them */
	check_needle_in("SO BECAUSE IT IS NOT HERE", "BECAUSE IT IS NOT", 5, 15);
	check_needle_in("A B C", " A B C ", 3, 16);

	/* the keys around a short run tell "because it was" from a text that
	   has "because it" and "it was" only apart */
	t_array_init(&a, 16);
	t_array_init(&b, 16);
	text_keys("BECAUSE IT IS SAID IT WAS", NULL, 0, &a);
	sift_phrase_filter_needle_keys("B", "BECAUSE IT WAS", 14, &b);
	{
		unsigned int missing = 0;

		for (unsigned int i = 0; i < array_count(&b); i++) {
			if (!keys_have(&a, array_idx_elem(&b, i)))
				missing++;
		}
		/* (3,2), (2,3) and the short-run key, then (3,2), (2,3) */
		test_assert(array_count(&b) == 5 && missing == 1);
	}

	/* a text cut into pieces gives the same keys as in one */
	array_clear(&a);
	array_clear(&b);
	{
		static const char text[] = "ALPHA BETA GAMMA\nDELTA EPSILON";
		static const size_t cuts[] = { 6, 11, 17 };

		text_keys(text, NULL, 0, &a);
		text_keys(text, cuts, N_ELEMENTS(cuts), &b);
		/* 4 gaps between runs of 3+ characters: 2 keys each */
		test_assert(array_count(&a) == 8 && array_count(&b) == 8);
		for (unsigned int i = 0; i < array_count(&a); i++)
			test_assert_idx(keys_have(&b, array_idx_elem(&a, i)), i);
	}
	/* the field prefix is part of the key */
	array_clear(&a);
	array_clear(&b);
	sift_phrase_filter_needle_keys("B", "THIS ONLY", 9, &a);
	sift_phrase_filter_needle_keys("Hsubject:", "THIS ONLY", 9, &b);
	test_assert(array_count(&a) == 2 && array_count(&b) == 2 &&
		    array_idx_elem(&a, 0) != array_idx_elem(&b, 0) &&
		    array_idx_elem(&a, 1) != array_idx_elem(&b, 1));
	test_end();
}

/* Random texts over a small alphabet; every substring with whitespace
   inside must keep all its keys. */
static void test_gaps_keys_random(void)
{
	static const char alphabet[] = "ab \n\xc3\xa9";
	unsigned int checked = 0;

	test_begin("gap keys, random texts and substrings");
	for (unsigned int round = 0; round < 300; round++) {
		string_t *text = t_str_new(128);
		ARRAY_TYPE(sift_gap_key) tkeys, nkeys;

		for (unsigned int i = 0; i < 60; i++) {
			unsigned int c = rng_next() % 5;

			if (c == 4)
				str_append(text, "\xc3\xa9");
			else
				str_append_c(text, alphabet[c]);
		}
		t_array_init(&tkeys, 64);
		text_keys(str_c(text), NULL, 0, &tkeys);
		for (unsigned int i = 0; i < 20; i++) {
			size_t len = str_len(text);
			size_t s = rng_next() % len;
			size_t e = s + 1 + rng_next() % (len - s);
			const char *p = str_c(text);
			const uint64_t *k;

			/* whole characters only */
			while (s > 0 && (p[s] & 0xc0) == 0x80)
				s--;
			while (e < len && (p[e] & 0xc0) == 0x80)
				e++;
			t_array_init(&nkeys, 8);
			sift_phrase_filter_needle_keys("B", p + s, e - s, &nkeys);
			array_foreach(&nkeys, k) {
				test_assert_idx(keys_have(&tkeys, *k),
						round * 100 + i);
				checked++;
			}
		}
	}
	/* the test is not vacuous */
	test_assert(checked > 1000);
	test_end();
}

static void test_gaps_file(void)
{
	const char *dir = t_strdup_printf("%s/file", test_root);
	const char *copy = t_strdup_printf("%s/copy", test_root);
	struct sift_phrase_filter_writer *writer;
	struct sift_phrase_filter *gaps;
	ARRAY_TYPE(sift_gap_key) k1, k2, phrase, other;
	ARRAY_TYPE(seq_range) uids;
	const char *error;
	struct sift_gap_state state;
	uint32_t keep_uids[] = { 2, 3 };
	struct sift_uids keep = { keep_uids, 2, 2 };
	struct sift_file_state none = { 0, 0 }, st, copy_st;

	test_begin("gaps file: filter, missing filters, copy, commits");
	test_assert(mkdir(dir, 0700) == 0 && mkdir(copy, 0700) == 0);
	t_array_init(&k1, 16);
	t_array_init(&k2, 16);
	t_array_init(&phrase, 4);
	t_array_init(&other, 4);
	i_zero(&state);
	sift_phrase_filter_text_keys(&state, "B", "WE SUPPORT THIS ONLY NOW", 24, &k1);
	i_zero(&state);
	sift_phrase_filter_text_keys(&state, "B", "ONLY THIS IS SUPPORTED", 22, &k2);
	sift_phrase_filter_needle_keys("B", "THIS ONLY", 9, &phrase);
	sift_phrase_filter_needle_keys("B", "SUPPORT NOTHING", 15, &other);

	test_assert(sift_phrase_filter_writer_open(dir, &none, 0600, &writer,
					  &error) == 1);
	test_assert(sift_phrase_filter_writer_add(writer, 1, array_front(&k1),
					 array_count(&k1), &error) == 0);
	test_assert(sift_phrase_filter_writer_add(writer, 2, array_front(&k2),
					 array_count(&k2), &error) == 0);
	/* uid 3 again (as after a lowered last_uid): the last record wins */
	test_assert(sift_phrase_filter_writer_add(writer, 3, array_front(&k2),
					 array_count(&k2), &error) == 0);
	test_assert(sift_phrase_filter_writer_add(writer, 3, array_front(&k1),
					 array_count(&k1), &error) == 0);
	/* no keys: no record */
	test_assert(sift_phrase_filter_writer_add(writer, 5, NULL, 0, &error) == 0);
	test_assert(sift_phrase_filter_writer_sync(writer, TRUE, &error) == 0);
	sift_phrase_filter_writer_state(writer, &st);

	test_assert(sift_phrase_filter_open(dir, &st, &gaps, &error) == 1);
	t_array_init(&uids, 4);
	seq_range_array_add_range(&uids, 1, 5);
	sift_phrase_filter_apply(gaps, array_front(&phrase), array_count(&phrase),
			 &uids);
	/* the index: uids 1, 2, 3 (3's later record), 8 bytes each */
	test_assert(sift_gaps_uidx_count(sift_phrase_filter_uidx(gaps)) == 3);
	test_assert(sift_gaps_uidx_bytes(sift_phrase_filter_uidx(gaps)) == 3 * 8);
	/* 2 lacks the gap; 4 and 5 have no filter and stay */
	test_assert(seq_range_exists(&uids, 1) && !seq_range_exists(&uids, 2) &&
		    seq_range_exists(&uids, 3) && seq_range_exists(&uids, 4) &&
		    seq_range_exists(&uids, 5));
	/* a phrase none of them has: only the unfiltered ones stay (a
	   false positive is possible in principle, not with these keys) */
	array_clear(&uids);
	seq_range_array_add_range(&uids, 1, 3);
	sift_phrase_filter_apply(gaps, array_front(&other), array_count(&other), &uids);
	test_assert(array_count(&uids) == 0);
	sift_phrase_filter_close(&gaps);

	/* copy keeping 2 and 3 */
	test_assert(sift_phrase_filter_write_copy(writer, &keep, copy, &copy_st,
					 &error) == 0);
	test_assert(sift_phrase_filter_open(copy, &copy_st, &gaps, &error) == 1);
	array_clear(&uids);
	seq_range_array_add_range(&uids, 1, 3);
	sift_phrase_filter_apply(gaps, array_front(&phrase), array_count(&phrase),
			 &uids);
	/* 1 has no filter in the copy now: kept; 2 dropped; 3 kept */
	test_assert(seq_range_exists(&uids, 1) && !seq_range_exists(&uids, 2) &&
		    seq_range_exists(&uids, 3));
	sift_phrase_filter_close(&gaps);
	/* the copy is of another generation: not the committed file */
	test_assert(sift_phrase_filter_open(copy, &st, &gaps, &error) == 0);

	/* appended but not committed: readers don't see it, the next
	   writer cuts it off */
	test_assert(sift_phrase_filter_writer_add(writer, 6, array_front(&k2),
					 array_count(&k2), &error) == 0);
	sift_phrase_filter_writer_close(&writer);
	test_assert(sift_phrase_filter_open(dir, &st, &gaps, &error) == 1);
	array_clear(&uids);
	seq_range_array_add_range(&uids, 6, 6);
	sift_phrase_filter_apply(gaps, array_front(&phrase), array_count(&phrase),
			 &uids);
	test_assert(seq_range_exists(&uids, 6));
	sift_phrase_filter_close(&gaps);
	test_assert(sift_phrase_filter_writer_open(dir, &st, 0600, &writer,
					  &error) == 1);
	test_assert(sift_phrase_filter_writer_add(writer, 7, array_front(&k2),
					 array_count(&k2), &error) == 0);
	sift_phrase_filter_writer_state(writer, &st);
	sift_phrase_filter_writer_close(&writer);
	test_assert(sift_phrase_filter_open(dir, &st, &gaps, &error) == 1);
	array_clear(&uids);
	seq_range_array_add_range(&uids, 1, 7);
	sift_phrase_filter_apply(gaps, array_front(&phrase), array_count(&phrase),
			 &uids);
	test_assert(seq_range_exists(&uids, 1) && !seq_range_exists(&uids, 2) &&
		    seq_range_exists(&uids, 6) && !seq_range_exists(&uids, 7));
	sift_phrase_filter_close(&gaps);
	test_end();
}

/* The positions are the file format: the same as the formula filters
   were always written with, (h1 + i * h2) % bits, for any key and size
   (sizes of small filters, of the largest a writer makes, and up to what
   a 32-bit bit count holds). */
static void test_gaps_key_positions(void)
{
	static const uint32_t fixed_bits[] = {
		1, 2, 3, 64, 127, 128, 8 * 1024 * 1024, 0x7fffffffU,
		0x80000000U, 0xfffffff8U, 0xffffffffU,
	};
	uint32_t pos[SIFT_GAPS_HASHES];
	unsigned int mismatches = 0;

	test_begin("gaps filter positions: (h1 + i * h2) % bits");
	for (unsigned int round = 0; round < 200000; round++) {
		uint64_t key = ((uint64_t)rng_next() << 32) ^ rng_next();
		uint32_t bits = round < N_ELEMENTS(fixed_bits) * 1000 ?
			fixed_bits[round % N_ELEMENTS(fixed_bits)] :
			round % 2 == 0 ? 64 * (1 + rng_next() % 20000) :
			1 + rng_next();
		uint32_t h1 = (uint32_t)key, h2 = (uint32_t)(key >> 32) | 1;

		if (round % 7 == 0)
			key = round % 14 == 0 ? 0 : ~(uint64_t)0;
		h1 = (uint32_t)key;
		h2 = (uint32_t)(key >> 32) | 1;
		sift_phrase_filter_key_positions(key, bits, pos);
		for (unsigned int i = 0; i < SIFT_GAPS_HASHES; i++) {
			if (pos[i] != (uint32_t)(((uint64_t)h1 +
						  (uint64_t)i * h2) % bits))
				mismatches++;
		}
	}
	test_assert(mismatches == 0);
	test_end();
}

static void test_gaps_uidx(void)
{
	struct sift_gaps_uidx idx;
	unsigned int i, n = 1000;
	const uint64_t step = 8ULL * 1024 * 1024;
	bool ok = TRUE;

	test_begin("gaps uid index: 8 bytes a message, offsets past 4 GB");
	sift_gaps_uidx_init(&idx);
	/* offsets 0 .. 8 GB: the high word changes at 4 GB only */
	for (i = 0; i < n; i++)
		sift_gaps_uidx_append(&idx, i + 1, i * step + i);
	test_assert(sift_gaps_uidx_count(&idx) == n);
	for (i = 0; i < n; i++) {
		unsigned int j;

		if (sift_gaps_uidx_offset(&idx, i) != i * step + i ||
		    !sift_gaps_uidx_find(&idx, i + 1, &j) || j != i)
			ok = FALSE;
	}
	test_assert(ok);
	test_assert(sift_gaps_uidx_bytes(&idx) ==
		    n * 8 + 1 * sizeof(struct sift_gaps_uidx_high));
	test_assert(!sift_gaps_uidx_find(&idx, n + 1, &i));

	/* out of order, a uid twice (a lowered last_uid): sorted, the
	   later record (higher offset) wins, offsets on both sides of
	   4 GB kept */
	sift_gaps_uidx_clear(&idx);
	sift_gaps_uidx_append(&idx, 5, 5ULL << 30);
	sift_gaps_uidx_append(&idx, 3, 1ULL << 30);
	sift_gaps_uidx_append(&idx, 9, 100);
	sift_gaps_uidx_append(&idx, 5, 6ULL << 30);
	sift_gaps_uidx_append(&idx, 3, 7ULL << 30);
	sift_gaps_uidx_append(&idx, 7, (4ULL << 30) + 1);
	sift_gaps_uidx_sort(&idx);
	test_assert(sift_gaps_uidx_count(&idx) == 4);
	test_assert(sift_gaps_uidx_find(&idx, 3, &i) &&
		    sift_gaps_uidx_offset(&idx, i) == 7ULL << 30);
	test_assert(sift_gaps_uidx_find(&idx, 5, &i) &&
		    sift_gaps_uidx_offset(&idx, i) == 6ULL << 30);
	test_assert(sift_gaps_uidx_find(&idx, 7, &i) &&
		    sift_gaps_uidx_offset(&idx, i) == (4ULL << 30) + 1);
	test_assert(sift_gaps_uidx_find(&idx, 9, &i) &&
		    sift_gaps_uidx_offset(&idx, i) == 100);
	test_assert(!sift_gaps_uidx_find(&idx, 4, &i));
	sift_gaps_uidx_free(&idx);
	test_end();
}

/* The uid index's walk verifies every record itself (the file is opened
   without verify_all): a change of any byte after the file header is
   found, also when the process walked the file before. */
static void test_gaps_damage(void)
{
	const char *dir = t_strdup_printf("%s/damage", test_root);
	const char *path = t_strdup_printf("%s/"SIFT_GAPS_FILE, dir);
	struct sift_phrase_filter_writer *writer;
	struct sift_phrase_filter *gaps;
	ARRAY_TYPE(sift_gap_key) k1;
	struct sift_gap_state state;
	struct sift_file_state none = { 0, 0 }, st;
	const char *error;
	unsigned char c;
	off_t size;
	int fd;

	test_begin("gaps file: every damaged byte is found by the walk");
	test_assert(mkdir(dir, 0700) == 0);
	t_array_init(&k1, 16);
	i_zero(&state);
	sift_phrase_filter_text_keys(&state, "B", "WE SUPPORT THIS ONLY NOW",
				     24, &k1);
	test_assert(sift_phrase_filter_writer_open(dir, &none, 0600, &writer,
						   &error) == 1);
	for (uint32_t uid = 1; uid <= 3; uid++) {
		test_assert(sift_phrase_filter_writer_add(writer, uid,
			array_front(&k1), array_count(&k1), &error) == 0);
	}
	test_assert(sift_phrase_filter_writer_sync(writer, TRUE, &error) == 0);
	sift_phrase_filter_writer_state(writer, &st);
	sift_phrase_filter_writer_close(&writer);
	/* walked once intact: the process caches its uid index */
	test_assert(sift_phrase_filter_open(dir, &st, &gaps, &error) == 1);
	sift_phrase_filter_close(&gaps);

	fd = open(path, O_RDWR);
	test_assert(fd != -1);
	size = lseek(fd, 0, SEEK_END);
	test_assert(size == (off_t)st.len);
	for (off_t off = SIFT_RECORD_FILE_HEADER_SIZE; off < size; off++) {
		test_assert(pread(fd, &c, 1, off) == 1);
		c ^= 0x01;
		test_assert(pwrite(fd, &c, 1, off) == 1);
		/* (as another process would see it) */
		sift_record_forget_verified();
		test_assert_idx(sift_phrase_filter_open(dir, &st, &gaps,
							&error) == 0, off);
		sift_phrase_filter_close(&gaps);
		c ^= 0x01;
		test_assert(pwrite(fd, &c, 1, off) == 1);
	}
	i_close_fd(&fd);
	sift_record_forget_verified();
	test_assert(sift_phrase_filter_open(dir, &st, &gaps, &error) == 1);
	sift_phrase_filter_close(&gaps);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_gaps_keys,
		test_gaps_keys_random,
		test_gaps_key_positions,
		test_gaps_file,
		test_gaps_uidx,
		test_gaps_damage,
		NULL
	};

	return sift_test_main(test_functions, test_root);
}
