/* Unit tests of sift-gaps: the gap keys of a phrase are always among the
   keys of any text that contains it (so filtering can never drop a
   match), the filters round-trip through the file, and copies keep only
   the requested messages. */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-plan.h"
#include "sift-gaps.h"
#include "sift-dict.h"
#include "sift-record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

static char test_root[] = "/tmp/test-sift-gaps.XXXXXX";


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

		sift_gaps_text_keys(&state, "B", text + start, end - start,
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
	sift_gaps_needle_keys("B", needle, strlen(needle), &nkeys);
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
	sift_gaps_needle_keys("B", "BECAUSE IT WAS", 14, &b);
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
	sift_gaps_needle_keys("B", "THIS ONLY", 9, &a);
	sift_gaps_needle_keys("Hsubject:", "THIS ONLY", 9, &b);
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
			sift_gaps_needle_keys("B", p + s, e - s, &nkeys);
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
	struct sift_gaps_writer *writer;
	struct sift_gaps *gaps;
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
	sift_gaps_text_keys(&state, "B", "WE SUPPORT THIS ONLY NOW", 24, &k1);
	i_zero(&state);
	sift_gaps_text_keys(&state, "B", "ONLY THIS IS SUPPORTED", 22, &k2);
	sift_gaps_needle_keys("B", "THIS ONLY", 9, &phrase);
	sift_gaps_needle_keys("B", "SUPPORT NOTHING", 15, &other);

	test_assert(sift_gaps_writer_open(dir, &none, 0600, &writer,
					  &error) == 1);
	test_assert(sift_gaps_writer_add(writer, 1, array_front(&k1),
					 array_count(&k1), &error) == 0);
	test_assert(sift_gaps_writer_add(writer, 2, array_front(&k2),
					 array_count(&k2), &error) == 0);
	/* uid 3 again (as after a lowered last_uid): the last record wins */
	test_assert(sift_gaps_writer_add(writer, 3, array_front(&k2),
					 array_count(&k2), &error) == 0);
	test_assert(sift_gaps_writer_add(writer, 3, array_front(&k1),
					 array_count(&k1), &error) == 0);
	/* no keys: no record */
	test_assert(sift_gaps_writer_add(writer, 5, NULL, 0, &error) == 0);
	test_assert(sift_gaps_writer_sync(writer, TRUE, &error) == 0);
	sift_gaps_writer_state(writer, &st);

	test_assert(sift_gaps_open(dir, &st, &gaps, &error) == 1);
	t_array_init(&uids, 4);
	seq_range_array_add_range(&uids, 1, 5);
	sift_gaps_filter(gaps, array_front(&phrase), array_count(&phrase),
			 &uids);
	/* 2 lacks the gap; 4 and 5 have no filter and stay */
	test_assert(seq_range_exists(&uids, 1) && !seq_range_exists(&uids, 2) &&
		    seq_range_exists(&uids, 3) && seq_range_exists(&uids, 4) &&
		    seq_range_exists(&uids, 5));
	/* a phrase none of them has: only the unfiltered ones stay (a
	   false positive is possible in principle, not with these keys) */
	array_clear(&uids);
	seq_range_array_add_range(&uids, 1, 3);
	sift_gaps_filter(gaps, array_front(&other), array_count(&other), &uids);
	test_assert(array_count(&uids) == 0);
	sift_gaps_close(&gaps);

	/* copy keeping 2 and 3 */
	test_assert(sift_gaps_write_copy(writer, &keep, copy, &copy_st,
					 &error) == 0);
	test_assert(sift_gaps_open(copy, &copy_st, &gaps, &error) == 1);
	array_clear(&uids);
	seq_range_array_add_range(&uids, 1, 3);
	sift_gaps_filter(gaps, array_front(&phrase), array_count(&phrase),
			 &uids);
	/* 1 has no filter in the copy now: kept; 2 dropped; 3 kept */
	test_assert(seq_range_exists(&uids, 1) && !seq_range_exists(&uids, 2) &&
		    seq_range_exists(&uids, 3));
	sift_gaps_close(&gaps);
	/* the copy is of another generation: not the committed file */
	test_assert(sift_gaps_open(copy, &st, &gaps, &error) == 0);

	/* appended but not committed: readers don't see it, the next
	   writer cuts it off */
	test_assert(sift_gaps_writer_add(writer, 6, array_front(&k2),
					 array_count(&k2), &error) == 0);
	sift_gaps_writer_close(&writer);
	test_assert(sift_gaps_open(dir, &st, &gaps, &error) == 1);
	array_clear(&uids);
	seq_range_array_add_range(&uids, 6, 6);
	sift_gaps_filter(gaps, array_front(&phrase), array_count(&phrase),
			 &uids);
	test_assert(seq_range_exists(&uids, 6));
	sift_gaps_close(&gaps);
	test_assert(sift_gaps_writer_open(dir, &st, 0600, &writer,
					  &error) == 1);
	test_assert(sift_gaps_writer_add(writer, 7, array_front(&k2),
					 array_count(&k2), &error) == 0);
	sift_gaps_writer_state(writer, &st);
	sift_gaps_writer_close(&writer);
	test_assert(sift_gaps_open(dir, &st, &gaps, &error) == 1);
	array_clear(&uids);
	seq_range_array_add_range(&uids, 1, 7);
	sift_gaps_filter(gaps, array_front(&phrase), array_count(&phrase),
			 &uids);
	test_assert(seq_range_exists(&uids, 1) && !seq_range_exists(&uids, 2) &&
		    seq_range_exists(&uids, 6) && !seq_range_exists(&uids, 7));
	sift_gaps_close(&gaps);
	test_end();
}

static void write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		i_fatal("fopen(%s) failed: %m", path);
	if (size > 0 && fwrite(data, 1, size, f) != size)
		i_fatal("fwrite(%s) failed: %m", path);
	fclose(f);
}

static buffer_t *read_file(const char *path)
{
	struct sift_map map;
	const char *error;
	buffer_t *buf = t_buffer_create(1024);

	if (sift_map_file(path, &map, &error) < 0)
		i_fatal("%s", error);
	buffer_append(buf, map.data, map.size);
	sift_unmap(&map);
	return buf;
}

/* Every kind of damage to a committed side file is detected by a reader
   that checks all records (and by a writer opening it): each single
   byte changed anywhere in the committed bytes, truncation at every
   length, 4 KB of garbage at several places, deletion.  Bytes after the
   committed length are never read. */
static void test_record_damage(void)
{
	const char *dir = t_strdup_printf("%s/damage", test_root);
	const char *path = t_strdup_printf("%s/terms", dir);
	const char *cpath;
	struct sift_wfile *wfile;
	struct sift_rfile rfile;
	struct sift_file_state st, none = { 0, 0 };
	const char *error;
	buffer_t *orig, *buf;
	unsigned int detected = 0, cases = 0;

	test_begin("side files: every damage is detected");
	rng_seed(1);
	test_assert(mkdir(dir, 0700) == 0);
	test_assert(sift_wfile_open(path, "terms", 0600, &none, &wfile,
				    &error) == 1);
	for (unsigned int i = 0; i < 40; i++) {
		const char *line = t_strdup_printf("Bword%u\nBother%u\n", i,
						   i * 7);
		test_assert(sift_wfile_append(wfile, line, strlen(line),
					      NULL, 0, &error) == 0);
	}
	sift_wfile_state(wfile, &st);
	sift_wfile_close(&wfile);
	orig = read_file(path);
	test_assert(orig->used == st.len);
	test_assert(sift_rfile_open(path, "terms", &st, TRUE, &rfile,
				    &error) == 1);
	sift_rfile_close(&rfile);

	/* one byte changed, at every position (each case a file of its
	   own, all kept until the end: a reused inode with the same ctime
	   tick could meet the verified-cache) */
	for (size_t pos = 0; pos < orig->used; pos++) {
		buf = t_buffer_create(orig->used);
		buffer_append_buf(buf, orig, 0, SIZE_MAX);
		((unsigned char *)buf->data)[pos] ^= 1 << (rng_next() % 8);
		cpath = t_strdup_printf("%s.%u", path, cases++);
		write_file(cpath, buf->data, buf->used);
		if (sift_rfile_open(cpath, "terms", &st, TRUE, &rfile,
				    &error) == 0)
			detected++;
		sift_rfile_close(&rfile);
	}
	/* cut at every length */
	for (size_t len = 0; len < orig->used; len++) {
		cpath = t_strdup_printf("%s.%u", path, cases++);
		write_file(cpath, orig->data, len);
		if (sift_rfile_open(cpath, "terms", &st, TRUE, &rfile,
				    &error) == 0)
			detected++;
		sift_rfile_close(&rfile);
	}
	/* 4 KB of garbage at the start, the middle, the end of the
	   committed bytes (the file grows past them) */
	for (unsigned int at = 0; at < 3; at++) {
		size_t pos = at == 0 ? 0 : at == 1 ? orig->used / 2 :
			orig->used - 1;

		buf = t_buffer_create(orig->used + 4096);
		buffer_append(buf, orig->data, pos);
		for (unsigned int i = 0; i < 4096; i++)
			buffer_append_c(buf, rng_next() & 0xff);
		cpath = t_strdup_printf("%s.%u", path, cases++);
		write_file(cpath, buf->data, buf->used);
		if (sift_rfile_open(cpath, "terms", &st, TRUE, &rfile,
				    &error) == 0)
			detected++;
		sift_rfile_close(&rfile);
	}
	/* overwritten in place after a search verified it (and cached
	   that): the change of ctime makes it verify again (after a clock
	   tick: timestamps are coarse) */
	test_assert(sift_rfile_open(path, "terms", &st, TRUE, &rfile,
				    &error) == 1);
	sift_rfile_close(&rfile);
	usleep(20000);
	{
		int fd = open(path, O_WRONLY);
		char garbage[16];

		memset(garbage, 'x', sizeof(garbage));
		test_assert(fd != -1 &&
			    pwrite(fd, garbage, sizeof(garbage),
				   orig->used / 2) == sizeof(garbage));
		i_close_fd(&fd);
	}
	cases++;
	if (sift_rfile_open(path, "terms", &st, TRUE, &rfile, &error) == 0)
		detected++;
	sift_rfile_close(&rfile);
	/* deleted */
	(void)unlink(path);
	cases++;
	if (sift_rfile_open(path, "terms", &st, TRUE, &rfile, &error) == 0)
		detected++;
	sift_rfile_close(&rfile);
	test_assert_ucmp(detected, ==, cases);
	test_assert(sift_wfile_open(path, "terms", 0600, &st, &wfile,
				    &error) == 0);

	/* garbage after the committed bytes is not read, and a writer cuts
	   it off */
	buf = t_buffer_create(orig->used + 4096);
	buffer_append_buf(buf, orig, 0, SIZE_MAX);
	for (unsigned int i = 0; i < 4096; i++)
		buffer_append_c(buf, rng_next() & 0xff);
	(void)unlink(path);
	write_file(path, buf->data, buf->used);
	test_assert(sift_rfile_open(path, "terms", &st, TRUE, &rfile,
				    &error) == 1);
	sift_rfile_close(&rfile);
	test_assert(sift_wfile_open(path, "terms", 0600, &st, &wfile,
				    &error) == 1);
	sift_wfile_close(&wfile);
	test_assert(read_file(path)->used == st.len);
	test_end();
}

/* The terms and opaque files through sift-dict: what was committed is
   found, and a damaged opaque file makes the dictionary unusable. */
static void test_dict_files(void)
{
	const char *dir = t_strdup_printf("%s/dict", test_root);
	struct sift_files_state none, st, parsed;
	struct sift_dict_writer *writer;
	struct sift_dict *dict;
	ARRAY_TYPE(seq_range) uids;
	ARRAY_TYPE(sift_dict_term) terms;
	static const struct sift_dict_prefix body[] = { { "B", '\0' } };
	const char *error;

	test_begin("side files: terms and opaque");
	test_assert(mkdir(dir, 0700) == 0);
	i_zero(&none);
	test_assert(sift_dict_writer_open(dir, &none, 0600, &writer,
					  &error) == 1);
	test_assert(sift_dict_writer_terms_complete(writer));
	test_assert(sift_dict_writer_add_terms(writer, "Bkselftest\nBfoo\n",
					       16, &error) == 0);
	test_assert(sift_dict_writer_add_opaque(writer, 5, "CCCC3333\n", 9,
						&error) == 0);
	test_assert(sift_dict_writer_add_opaque(writer, 3, "AAAA1111\n", 9,
						&error) == 0);
	i_zero(&st);
	sift_dict_writer_state(writer, &st);
	sift_dict_writer_close(&writer);
	/* the state round-trips through its metadata form */
	test_assert(sift_files_state_parse(sift_files_state_str(&st),
					   &parsed) == 0);
	test_assert(memcmp(&parsed, &st, sizeof(st)) == 0);
	test_assert(sift_files_state_parse("terms:1:2:1 opaque:3:4", &parsed) < 0);

	test_assert(sift_dict_open(dir, &st, &dict, &error) == 1);
	t_array_init(&uids, 4);
	sift_dict_match_opaque(dict, "CCCC3333", 8, &uids);
	test_assert(array_count(&uids) == 1 && seq_range_exists(&uids, 5));
	array_clear(&uids);
	sift_dict_match_opaque(dict, "1111", 4, &uids);
	test_assert(array_count(&uids) == 1 && seq_range_exists(&uids, 3));
	t_array_init(&terms, 4);
	sift_dict_match_terms(dict, body, 1, "selft", 5, &terms);
	test_assert(array_count(&terms) == 1);
	sift_dict_close(&dict);

	/* a record of the opaque file changed: found when the file is
	   first scanned, which then finds nothing and says why */
	{
		const char *opath = t_strdup_printf("%s/opaque", dir);
		int fd = open(opath, O_RDWR);
		struct stat sb;
		char c;

		test_assert(fd != -1 && fstat(fd, &sb) == 0);
		test_assert(pread(fd, &c, 1, sb.st_size - 3) == 1);
		c ^= 0x20;
		test_assert(pwrite(fd, &c, 1, sb.st_size - 3) == 1);
		i_close_fd(&fd);
		sift_record_forget_verified();
		test_assert(sift_dict_open(dir, &st, &dict, &error) == 1);
		test_assert(sift_dict_damage(dict) == NULL);
		array_clear(&uids);
		sift_dict_match_opaque(dict, "1111", 4, &uids);
		test_assert(array_count(&uids) == 0);
		test_assert(sift_dict_damage(dict) != NULL &&
			    strstr(sift_dict_damage(dict), "checksum") != NULL);
		sift_dict_close(&dict);
	}

	/* the opaque file lost: never read as "no tokens" */
	test_assert(unlink(t_strdup_printf("%s/opaque", dir)) == 0);
	test_assert(sift_dict_open(dir, &st, &dict, &error) == 0);
	test_assert(strstr(error, "opaque") != NULL);
	test_assert(sift_dict_writer_open(dir, &st, 0600, &writer,
					  &error) == 0);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_gaps_keys,
		test_gaps_keys_random,
		test_gaps_file,
		test_record_damage,
		test_dict_files,
		NULL
	};
	int ret;

	lib_init();
	if (mkdtemp(test_root) == NULL)
		i_fatal("mkdtemp(%s) failed: %m", test_root);
	ret = test_run(test_functions);
	rm_rf(test_root);
	lib_deinit();
	return ret;
}
