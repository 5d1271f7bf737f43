/* Unit tests of the side files' records (sift-record: every kind of
   damage to a committed file is found) and of the terms and opaque files
   (sift-termfiles: what was committed is found, a damaged or lost file
   is never used). */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-termfiles.h"
#include "sift-file.h"
#include "sift-record.h"
#include "sift-expunge-queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

static char test_root[] = "/tmp/test-sift-sidefiles.XXXXXX";

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
	if (map.size > 0)
		buffer_append(buf, sift_map_get(&map, 0, map.size), map.size);
	sift_unmap(&map);
	return buf;
}

/* sift_rfile_open() of path against the committed state st, checking
   all records, and closed again: its result (error_r on 0 and -1). */
static int rfile_check(const char *path, const struct sift_file_state *st,
		       const char **error_r)
{
	struct sift_rfile rfile;
	int ret;

	ret = sift_rfile_open(path, "terms", st, TRUE, &rfile, error_r);
	sift_rfile_close(&rfile);
	return ret;
}

/* Whether a new file <path>.<case> of size bytes of data is refused
   (rfile_check() == 0; case counted in *cases). */
static bool rfile_refuses_copy(const char *path, unsigned int *cases,
			       const void *data, size_t size,
			       const struct sift_file_state *st)
{
	const char *cpath = t_strdup_printf("%s.%u", path, (*cases)++);
	const char *error;

	write_file(cpath, data, size);
	return rfile_check(cpath, st, &error) == 0;
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
	struct sift_wfile *wfile;
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
	test_assert(rfile_check(path, &st, &error) == 1);

	/* one byte changed, at every position (each case a file of its
	   own, all kept until the end: a reused inode with the same ctime
	   tick could meet the verified-cache) */
	for (size_t pos = 0; pos < orig->used; pos++) {
		buf = t_buffer_create(orig->used);
		buffer_append_buf(buf, orig, 0, SIZE_MAX);
		((unsigned char *)buf->data)[pos] ^= 1 << (rng_next() % 8);
		if (rfile_refuses_copy(path, &cases, buf->data, buf->used,
				       &st))
			detected++;
	}
	/* cut at every length */
	for (size_t len = 0; len < orig->used; len++) {
		if (rfile_refuses_copy(path, &cases, orig->data, len, &st))
			detected++;
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
		if (rfile_refuses_copy(path, &cases, buf->data, buf->used,
				       &st))
			detected++;
	}
	/* overwritten in place after a search verified it (and cached
	   that): the change of ctime makes it verify again (after a clock
	   tick: timestamps are coarse) */
	test_assert(rfile_check(path, &st, &error) == 1);
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
	if (rfile_check(path, &st, &error) == 0)
		detected++;
	/* deleted */
	(void)unlink(path);
	cases++;
	if (rfile_check(path, &st, &error) == 0)
		detected++;
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
	test_assert(rfile_check(path, &st, &error) == 1);
	test_assert(sift_wfile_open(path, "terms", 0600, &st, &wfile,
				    &error) == 1);
	sift_wfile_close(&wfile);
	test_assert(read_file(path)->used == st.len);
	test_end();
}

/* A file that only grew keeps what this process verified: after each
   append only the new records are hashed (a bad one among them is
   found), a file cut shorter or changed in place at the same size is
   verified again from the start.  (Damage written into the verified part
   and then grown past is this process's blind spot by design: a writer,
   which checks every file when it opens the index, and any process that
   has not verified the file find it.) */
static void test_record_appends(void)
{
	const char *dir = t_strdup_printf("%s/appends", test_root);
	const char *path = t_strdup_printf("%s/terms", dir);
	struct sift_wfile *wfile;
	struct sift_file_state st, prev, none = { 0, 0 };
	const char *error;
	unsigned int round;
	int fd;

	test_begin("side files: appends verify only what was appended");
	sift_record_forget_verified();
	test_assert(mkdir(dir, 0700) == 0);
	test_assert(sift_wfile_open(path, "terms", 0600, &none, &wfile,
				    &error) == 1);
	test_assert(sift_wfile_append(wfile, "Bfirst\n", 7, NULL, 0,
				      &error) == 0);
	sift_wfile_state(wfile, &st);
	sift_wfile_close(&wfile);
	for (round = 0; round < 10; round++) {
		test_assert(rfile_check(path, &st, &error) == 1);
		prev = st;
		test_assert(sift_wfile_open(path, "terms", 0600, &st, &wfile,
					    &error) == 1);
		const char *line = t_strdup_printf("Bword%u\n", round);
		test_assert(sift_wfile_append(wfile, line, strlen(line),
					      NULL, 0, &error) == 0);
		sift_wfile_state(wfile, &st);
		sift_wfile_close(&wfile);
		test_assert(st.gen == prev.gen && st.len > prev.len);
	}
	/* a bad byte in the appended record, before anything verified it */
	fd = open(path, O_WRONLY);
	test_assert(fd != -1 && pwrite(fd, "Z", 1, st.len - 2) == 1);
	i_close_fd(&fd);
	test_assert(rfile_check(path, &st, &error) == 0);
	test_assert(strstr(error, "checksum mismatch") != NULL);
	/* mended: verifies; then cut shorter than committed: found */
	fd = open(path, O_WRONLY);
	test_assert(fd != -1 && pwrite(fd, "9", 1, st.len - 2) == 1);
	test_assert(rfile_check(path, &st, &error) == 1);
	test_assert(ftruncate(fd, st.len - 1) == 0);
	test_assert(rfile_check(path, &st, &error) == 0);
	test_assert(ftruncate(fd, 0) == 0);
	i_close_fd(&fd);
	(void)unlink(path);

	/* damage in the verified part: a writer opening the file finds it,
	   and so does a reader that has not verified the file before */
	test_assert(sift_wfile_open(path, "terms", 0600, &none, &wfile,
				    &error) == 1);
	test_assert(sift_wfile_append(wfile, "Bfirst\n", 7, NULL, 0,
				      &error) == 0);
	sift_wfile_state(wfile, &st);
	sift_wfile_close(&wfile);
	test_assert(rfile_check(path, &st, &error) == 1);
	fd = open(path, O_WRONLY);
	test_assert(fd != -1 && pwrite(fd, "X", 1, st.len - 2) == 1);
	i_close_fd(&fd);
	test_assert(sift_wfile_open(path, "terms", 0600, &st, &wfile,
				    &error) == 0);
	if (wfile != NULL)
		sift_wfile_close(&wfile);
	sift_record_forget_verified();
	test_assert(rfile_check(path, &st, &error) == 0);
	test_end();
}

/* A reader that opened a file while it held a writer's uncommitted
   appends (in progress, or left by a killed writer) reads it to the
   committed length after the next writer has cut those appends off:
   its read windows never reach past the committed length.  Every size
   of uncommitted tail from a byte to several windows, the reader's
   first read before and after the cut. */
static void test_record_uncommitted_tail(void)
{
	const char *dir = t_strdup_printf("%s/tail", test_root);
	const char *path = t_strdup_printf("%s/terms", dir);
	static const size_t tails[] = {
		1, 100, 4095, 4096, 70000, SIFT_MAP_WINDOW - 1,
		SIFT_MAP_WINDOW + 1, 3 * SIFT_MAP_WINDOW
	};
	struct sift_wfile *wfile;
	struct sift_file_state st, after, none = { 0, 0 };
	struct sift_rfile rfile;
	const char *error;
	unsigned int i, n, early;
	int ret;

	test_begin("side files: a cut uncommitted tail never fails a reader");
	test_assert(mkdir(dir, 0700) == 0);
	for (i = 0; i < N_ELEMENTS(tails); i++) {
	for (early = 0; early < 2; early++) T_BEGIN {
		string_t *lines = t_str_new(4096);
		char *big;

		sift_record_forget_verified();
		(void)unlink(path);
		test_assert(sift_wfile_open(path, "terms", 0600, &none,
					    &wfile, &error) == 1);
		/* committed: records over more than one read window */
		for (n = 0; n < 60000; n += 100) {
			unsigned int k;

			str_truncate(lines, 0);
			for (k = n; k < n + 100; k++)
				str_printfa(lines, "Bcommitted%u\n", k);
			test_assert(sift_wfile_append(wfile, str_data(lines),
						      str_len(lines), NULL, 0,
						      &error) == 0);
		}
		sift_wfile_state(wfile, &st);
		sift_wfile_close(&wfile);
		/* a writer appends and is killed before its commit */
		test_assert(sift_wfile_open(path, "terms", 0600, &st, &wfile,
					    &error) == 1);
		big = i_malloc(tails[i]);
		memset(big, 'u', tails[i]);
		if (tails[i] > 1)
			big[tails[i] - 1] = '\n';
		test_assert(sift_wfile_append(wfile, big, tails[i], NULL, 0,
					      &error) == 0);
		i_free(big);
		sift_wfile_state(wfile, &after);
		test_assert(after.len > st.len);
		sift_wfile_close(&wfile);
		/* a search opens the file as the last commit describes it */
		ret = sift_rfile_open(path, "terms", &st, FALSE, &rfile,
				      &error);
		test_assert_idx(ret == 1, i);
		if (early == 1 && ret == 1)
			test_assert_idx(sift_rfile_check(&rfile, &error), i);
		/* the next writer cuts the uncommitted appends */
		test_assert(sift_wfile_open(path, "terms", 0600, &st, &wfile,
					    &error) == 1);
		sift_wfile_close(&wfile);
		if (ret == 1) {
			uint64_t pos = 0, offset;
			const unsigned char *data;
			uint32_t len;
			unsigned int records = 0;

			sift_record_forget_verified();
			rfile.checked = FALSE;
			test_assert_idx(sift_rfile_check(&rfile, &error), i);
			while (sift_rfile_next(&rfile, &pos, &offset, &data,
					       &len)) {
				test_assert_idx(sift_rfile_verify(&rfile,
								  offset), i);
				records++;
			}
			test_assert_idx(sift_rfile_error(&rfile) == NULL, i);
			test_assert_idx(pos == st.len, i);
			test_assert_idx(records > 0, i);
			sift_rfile_close(&rfile);
		}
	} T_END;
	}
	test_end();
}

/* The terms and opaque files through sift-termfiles: what was committed is
   found, and a damaged opaque file makes the dictionary unusable. */
static void test_dict_files(void)
{
	const char *dir = t_strdup_printf("%s/dict", test_root);
	struct sift_files_state none, st, parsed;
	struct sift_termfiles_writer *writer;
	struct sift_termfiles *dict;
	ARRAY_TYPE(seq_range) uids;
	ARRAY_TYPE(sift_termfiles_term) terms;
	static const struct sift_termfiles_prefix body[] = { { "B", '\0' } };
	const char *error;

	test_begin("side files: terms and opaque");
	test_assert(mkdir(dir, 0700) == 0);
	i_zero(&none);
	test_assert(sift_termfiles_writer_open(dir, &none, 0600, &writer,
					  &error) == 1);
	test_assert(sift_termfiles_writer_terms_complete(writer));
	test_assert(sift_termfiles_writer_add_terms(writer, "Bkselftest\nBfoo\n",
					       16, &error) == 0);
	test_assert(sift_termfiles_writer_add_opaque(writer, 5, "CCCC3333\n", 9,
						&error) == 0);
	test_assert(sift_termfiles_writer_add_opaque(writer, 3, "AAAA1111\n", 9,
						&error) == 0);
	i_zero(&st);
	sift_termfiles_writer_state(writer, &st);
	sift_termfiles_writer_close(&writer);
	/* the state round-trips through its metadata form */
	test_assert(sift_files_state_parse(sift_files_state_str(&st),
					   &parsed) == 0);
	test_assert(memcmp(&parsed, &st, sizeof(st)) == 0);
	test_assert(sift_files_state_parse("terms:1:2:1 opaque:3:4", &parsed) < 0);

	test_assert(sift_termfiles_open(dir, &st, &dict, &error) == 1);
	t_array_init(&uids, 4);
	sift_termfiles_match_opaque(dict, "CCCC3333", 8, &uids);
	test_assert(array_count(&uids) == 1 && seq_range_exists(&uids, 5));
	array_clear(&uids);
	sift_termfiles_match_opaque(dict, "1111", 4, &uids);
	test_assert(array_count(&uids) == 1 && seq_range_exists(&uids, 3));
	t_array_init(&terms, 4);
	sift_termfiles_match_terms(dict, body, 1, "selft", 5, &terms);
	test_assert(array_count(&terms) == 1);
	sift_termfiles_close(&dict);

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
		test_assert(sift_termfiles_open(dir, &st, &dict, &error) == 1);
		test_assert(sift_termfiles_damage(dict) == NULL);
		array_clear(&uids);
		sift_termfiles_match_opaque(dict, "1111", 4, &uids);
		test_assert(array_count(&uids) == 0);
		test_assert(sift_termfiles_damage(dict) != NULL &&
			    strstr(sift_termfiles_damage(dict), "checksum") != NULL);
		sift_termfiles_close(&dict);
	}

	/* the opaque file lost: never read as "no tokens" */
	test_assert(unlink(t_strdup_printf("%s/opaque", dir)) == 0);
	test_assert(sift_termfiles_open(dir, &st, &dict, &error) == 0);
	test_assert(strstr(error, "opaque") != NULL);
	test_assert(sift_termfiles_writer_open(dir, &st, 0600, &writer,
					  &error) == 0);
	test_end();
}

/* The opaque file's packed records (format 10): a needle is found in a
   message's tokens exactly when it is a substring of them (the text the
   writer was given, tokens separated by spaces), at every offset of a
   packed text, for needles shorter than a unit and longer, in texts kept
   packed and as they are; a packed text takes 2 bytes per 3 characters;
   the compaction's copy keeps exactly the chosen messages. */
#define OPAQUE_TEST_MSGS 40
static const char opaque_test_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@_";

static void opaque_test_expect(char *const texts[], const char *needle,
			       ARRAY_TYPE(seq_range) *expect)
{
	array_clear(expect);
	for (unsigned int m = 0; m < OPAQUE_TEST_MSGS; m++) {
		if (strstr(texts[m], needle) != NULL)
			seq_range_array_add(expect, m + 1);
	}
}

static bool opaque_test_needle(struct sift_termfiles *dict,
			       char *const texts[], const char *needle)
{
	ARRAY_TYPE(seq_range) uids, expect;

	t_array_init(&uids, 8);
	t_array_init(&expect, 8);
	opaque_test_expect(texts, needle, &expect);
	sift_termfiles_match_opaque(dict, needle, strlen(needle), &uids);
	/* (the 300-character message, tested on its own) */
	seq_range_array_remove(&uids, 9999);
	return array_cmp(&uids, &expect);
}

static void test_opaque_packed(void)
{
	const char *dir = t_strdup_printf("%s/opaque-packed", test_root);
	const char *copy_dir = t_strdup_printf("%s/opaque-copy", test_root);
	struct sift_files_state none, st;
	struct sift_file_state copy_st;
	struct sift_termfiles_writer *writer;
	struct sift_termfiles *dict;
	char *texts[OPAQUE_TEST_MSGS];
	uint32_t keep_uids[OPAQUE_TEST_MSGS];
	struct sift_uids keep;
	const char *error;
	unsigned int m, bad = 0, tried = 0;
	struct stat sb;
	off_t before;

	test_begin("side files: packed opaque records");
	rng_seed(14);
	test_assert(mkdir(dir, 0700) == 0 && mkdir(copy_dir, 0700) == 0);
	i_zero(&none);
	test_assert(sift_termfiles_writer_open(dir, &none, 0600, &writer,
					       &error) == 1);
	for (m = 0; m < OPAQUE_TEST_MSGS; m++) {
		/* tokens of 1-30 characters; every 5th message has a byte
		   outside the alphabet (kept as it is) */
		unsigned int ntok = 1 + rng_next() % 8, t, c;
		string_t *in = t_str_new(256), *ref = t_str_new(256);

		for (t = 0; t < ntok; t++) {
			unsigned int tlen = 1 + rng_next() % 30;

			if (t > 0)
				str_append_c(ref, ' ');
			for (c = 0; c < tlen; c++) {
				/* a small alphabet part, so that needles
				   recur across messages */
				char ch = opaque_test_alphabet[rng_next() %
					(rng_next() % 4 == 0 ?
					 sizeof(opaque_test_alphabet) - 1 : 4)];

				if (m % 5 == 4 && t == 0 && c == 0)
					ch = m % 10 == 4 ? ',' : 'x';
				str_append_c(in, ch);
				str_append_c(ref, ch);
			}
			str_append_c(in, '\n');
		}
		texts[m] = t_strdup_noconst(str_c(ref));
		test_assert(sift_termfiles_writer_add_opaque(writer, m + 1,
			str_c(in), str_len(in), &error) == 0);
	}
	/* 300 characters in the alphabet: a record of the uid, the mode
	   byte and 200 bytes */
	sift_termfiles_writer_state(writer, &st);
	before = st.opaque.len;
	{
		char big[301];

		memset(big, 'Q', 300);
		big[300] = '\0';
		big[150] = '\n';
		test_assert(sift_termfiles_writer_add_opaque(writer, 9999,
			big, 300, &error) == 0);
	}
	sift_termfiles_writer_state(writer, &st);
	test_assert(st.opaque.len - before == 8 + 4 + 1 + 200);
	sift_termfiles_writer_close(&writer);

	test_assert(sift_termfiles_open(dir, &st, &dict, &error) == 1);
	/* every substring of up to 12 characters at every offset of some
	   texts, and random short ones */
	for (m = 0; m < OPAQUE_TEST_MSGS; m += 3) {
		size_t len = strlen(texts[m]);

		for (size_t off = 0; off < len; off++) {
			for (size_t n = 1; n <= 12 && off + n <= len; n++) {
				if (n <= 4 && rng_next() % 8 != 0)
					continue;
				if (!opaque_test_needle(dict, texts,
					t_strndup(texts[m] + off, n)))
					bad++;
				tried++;
			}
		}
	}
	for (unsigned int i = 0; i < 60; i++) {
		char needle[5];
		unsigned int n = 1 + i % 4;

		for (unsigned int c = 0; c < n; c++)
			needle[c] = "ABCD QZ,x"[rng_next() % 9];
		needle[n] = '\0';
		if (!opaque_test_needle(dict, texts, needle))
			bad++;
		tried++;
	}
	{
		/* the uid is not text; across the tokens' space */
		ARRAY_TYPE(seq_range) uids;

		t_array_init(&uids, 4);
		sift_termfiles_match_opaque(dict, "9999", 4, &uids);
		test_assert(!seq_range_exists(&uids, 9999));
		sift_termfiles_match_opaque(dict, "QQQ QQQ", 7, &uids);
		test_assert(seq_range_exists(&uids, 9999));
		array_clear(&uids);
		sift_termfiles_match_opaque(dict, "Q QQQ Q", 7, &uids);
		test_assert(!seq_range_exists(&uids, 9999));
	}
	test_assert_idx(bad == 0, bad);
	test_assert(tried > 500);
	sift_termfiles_close(&dict);

	/* the compaction's copy: the odd uids only */
	i_zero(&keep);
	keep.uids = keep_uids;
	for (m = 0; m < OPAQUE_TEST_MSGS; m += 2)
		keep_uids[keep.count++] = m + 1;
	test_assert(sift_termfiles_writer_open(dir, &st, 0600, &writer,
					       &error) == 1);
	test_assert(sift_termfiles_write_opaque(writer, &keep, copy_dir,
						&copy_st, &error) == 0);
	sift_termfiles_writer_close(&writer);
	i_zero(&st);
	st.opaque = copy_st;
	test_assert(stat(t_strdup_printf("%s/opaque", copy_dir), &sb) == 0 &&
		    (uint64_t)sb.st_size == copy_st.len);
	test_assert(sift_termfiles_open(copy_dir, &st, &dict, &error) == 1);
	for (m = 0; m < OPAQUE_TEST_MSGS; m++) {
		ARRAY_TYPE(seq_range) uids;

		t_array_init(&uids, 4);
		sift_termfiles_match_opaque(dict, texts[m], strlen(texts[m]),
					    &uids);
		test_assert_idx(seq_range_exists(&uids, m + 1) == (m % 2 == 0),
				m);
	}
	sift_termfiles_close(&dict);
	test_end();
}

/* ---- the expunge queue ---------------------------------------------- */

/* The bytes sift_expunge_queue_append() writes for uids (appended to an
   empty queue in a scratch directory). */
static buffer_t *queue_line_bytes(const char *scratch,
				  const ARRAY_TYPE(seq_range) *uids)
{
	const char *path = t_strconcat(scratch, "/"SIFT_EXPUNGE_QUEUE_FILE,
				       NULL);
	const char *error;

	(void)unlink(path);
	if (sift_expunge_queue_append(scratch, 0600, uids, &error) < 0)
		i_fatal("%s", error);
	return read_file(path);
}

/* uids: count scattered UIDs from first (every other one, so that the
   line grows with count: a few bytes up to several pages). */
static void scattered_uids(ARRAY_TYPE(seq_range) *uids, uint32_t first,
			   unsigned int count)
{
	unsigned int i;

	for (i = 0; i < count; i++)
		seq_range_array_add(uids, first + 2 * i);
}

/* A line cut short - its appender killed in the middle of its write (a
   line longer than a page can be cut), or out of disk space - must cost
   only that line: the lines appended after it are taken over and read
   by searches.  61 cut points each of lines of 1 to 2,000 UIDs (17 B
   to about 14 KB). */
static void test_expunge_queue_torn_line(void)
{
	const char *dir = t_strdup_printf("%s/queue", test_root);
	const char *scratch = t_strdup_printf("%s/queue-scratch", test_root);
	const char *path = t_strconcat(dir, "/"SIFT_EXPUNGE_QUEUE_FILE, NULL);
	static const unsigned int sizes[] = { 1, 3, 40, 700, 2000 };
	struct event *event = event_create(NULL);
	unsigned int i, k, failures = 0, cases = 0;

	test_begin("expunge queue: a torn line loses only itself");
	test_assert(mkdir(dir, 0700) == 0);
	test_assert(mkdir(scratch, 0700) == 0);
	for (i = 0; i < N_ELEMENTS(sizes); i++) T_BEGIN {
		ARRAY_TYPE(seq_range) a, b, c;
		buffer_t *line_a, *line_b;

		t_array_init(&a, 4);
		t_array_init(&b, 4);
		t_array_init(&c, 4);
		scattered_uids(&a, 1, sizes[i]);
		scattered_uids(&b, 100001, sizes[i]);
		scattered_uids(&c, 200001, sizes[i]);
		line_a = queue_line_bytes(scratch, &a);
		line_b = queue_line_bytes(scratch, &b);
		/* 61 cuts from its first byte up to just before its
		   newline */
		for (k = 0; k <= 60; k++) T_BEGIN {
			ARRAY_TYPE(seq_range) taken, read;
			size_t cut = 1 + k * (line_b->used - 2) / 60;
			buffer_t *torn = t_buffer_create(line_a->used + cut);
			const char *error;
			unsigned int want;
			uoff_t size;
			bool ok, whole_b;

			/* a good line, then the first cut bytes of the next */
			buffer_append_buf(torn, line_a, 0, SIZE_MAX);
			buffer_append(torn, line_b->data, cut);
			write_file(path, torn->data, torn->used);
			/* the next expunge is recorded after it */
			test_assert(sift_expunge_queue_append(dir, 0600, &c,
							      &error) == 0);
			/* searches read, a writer takes over: a and c */
			/* (not data stack arrays: the parser grows them in
			   its own frames) */
			i_array_init(&read, 4);
			sift_expunge_queue_read(dir, event, &read);
			i_array_init(&taken, 4);
			/* (a cut just before its newline leaves the line
			   whole: it is kept then, else skipped with a
			   warning) */
			whole_b = cut == line_b->used - 1;
			if (!whole_b)
				test_expect_error_string("damaged lines");
			size = sift_expunge_queue_take(dir, event, &taken);
			test_expect_no_more_errors();
			want = (whole_b ? 3 : 2) * sizes[i];
			ok = size > 0 &&
				seq_range_exists(&taken, 1) &&
				seq_range_exists(&taken, 200001) &&
				seq_range_count(&taken) == want &&
				seq_range_exists(&read, 200001) &&
				seq_range_count(&read) == want;
			if (!ok)
				failures++;
			cases++;
			array_free(&taken);
			array_free(&read);
		} T_END;
	} T_END;
	test_out_reason("every cut", failures == 0,
			t_strdup_printf("%u of %u cases lost the next line",
					failures, cases));
	event_unref(&event);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_record_damage,
		test_record_appends,
		test_record_uncommitted_tail,
		test_dict_files,
		test_opaque_packed,
		test_expunge_queue_torn_line,
		NULL
	};

	return sift_test_main(test_functions, test_root);
}
