/* Unit tests of sift-gramfilter: a scan of the blocks the filters leave
   finds exactly the lines a scan of every line finds, for random terms
   (ASCII and UTF-8, every family) and random search strings (pieces of
   terms, and strings in no term), in records appended over time, with a
   reader's committed length cutting records off. */
#define _GNU_SOURCE /* memmem() */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "read-full.h"
#include "write-full.h"
#include "sift-gramfilter.h"

#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

/* term families as in sift-terms.h (first bytes) */
static const char *const families[] = { "B", "M", "N", "H", "A", "P", "C" };
/* letters of the random terms: few, so that substrings repeat */
static const char *const pieces[] = {
	"a", "b", "c", "d", "e", "k", "s", "t", "-", ".", "1", "2",
	"\xc3\xa9", "\xe6\x9d\xb1", "\xd0\xb4",
};

/* The file: a 32-byte header, then records of an 8-byte header and
   lines "<family byte><rest>\n" (the record framing of sift-record.h;
   only offsets matter here). */
struct fake_file {
	string_t *data;
	ARRAY(uint64_t) record_offsets;
};

static void random_term(string_t *dest)
{
	unsigned int len = 1 + rng_next() % 14;

	str_append(dest, families[rng_next() % N_ELEMENTS(families)]);
	for (unsigned int i = 0; i < len; i++)
		str_append(dest, pieces[rng_next() % N_ELEMENTS(pieces)]);
	str_append_c(dest, '\n');
}

static void fake_add_record(struct fake_file *f, unsigned int lines)
{
	uint64_t offset = str_len(f->data);

	array_push_back(&f->record_offsets, &offset);
	str_append(f->data, "RECHDR!!");
	for (unsigned int i = 0; i < lines; i++)
		random_term(f->data);
}

/* The lines of [start, end) in family fam whose rest holds needle. */
static void scan_lines(const char *start, const char *end,
		       const char *const fams[], unsigned int fam_count,
		       const char *needle, size_t needle_len,
		       ARRAY_TYPE(uint32_t) *hits, const char *base)
{
	const char *line, *le;

	for (line = start; line < end; line = le + 1) {
		le = memchr(line, '\n', end - line);
		if (le == NULL)
			le = end;
		for (unsigned int f = 0; f < fam_count; f++) {
			size_t plen = strlen(fams[f]);

			if ((size_t)(le - line) >= plen &&
			    memcmp(line, fams[f], plen) == 0 &&
			    memmem(line + plen, le - line - plen, needle,
				   needle_len) != NULL) {
				uint32_t at = line - base;

				array_push_back(hits, &at);
				break;
			}
		}
	}
}

/* Scan records [from, to) of the file whole. */
static void scan_records(const struct fake_file *f, unsigned int from,
			 unsigned int to, const char *const fams[],
			 unsigned int fam_count, const char *needle,
			 size_t needle_len, ARRAY_TYPE(uint32_t) *hits)
{
	const char *base = str_c(f->data);
	const uint64_t *offs;
	unsigned int count;

	offs = array_get(&f->record_offsets, &count);
	for (unsigned int r = from; r < to; r++) {
		uint64_t start = offs[r] + 8;
		uint64_t end = r + 1 < count ? offs[r + 1] : str_len(f->data);

		scan_lines(base + start, base + end, fams, fam_count, needle,
			   needle_len, hits, base);
	}
}

static void pick_needle(const struct fake_file *f, string_t *needle)
{
	str_truncate(needle, 0);
	if (rng_next() % 5 == 0) {
		/* probably in no term */
		unsigned int len = 1 + rng_next() % 6;

		for (unsigned int i = 0; i < len; i++)
			str_append(needle, pieces[rng_next() % N_ELEMENTS(pieces)]);
		return;
	}
	/* a piece of a term (bytes of the rest, possibly cutting a UTF-8
	   character: the filter works on bytes) */
	for (;;) {
		const char *data = str_c(f->data);
		size_t pos = 32 + rng_next() % (str_len(f->data) - 32);
		const char *ls = pos == 0 ? data : memrchr(data, '\n', pos);
		const char *le;

		ls = ls == NULL ? data : ls + 1;
		le = strchr(ls, '\n');
		if (le == NULL || le - ls < 2 || strncmp(ls, "RECHDR", 6) == 0)
			continue;
		ls++;
		size_t start = rng_next() % (le - ls);
		size_t len = 1 + rng_next() % (le - ls - start);
		str_append_data(needle, ls + start, len);
		return;
	}
}

static void test_gramfilter_random(void)
{
	struct fake_file f;
	struct sift_gramfilter *filter;
	struct stat st;
	string_t *needle;
	unsigned int round, record_count = 0, checked = 0, skipped_blocks = 0;

	test_begin("gram filter: filtered scans equal full scans");
	rng_seed(777);
	sift_gramfilter_forget_all();
	f.data = str_new(default_pool, 1 << 20);
	i_array_init(&f.record_offsets, 64);
	str_append(f.data, "FILEHEADER-32-BYTES-OF-HEADER-..");
	i_zero(&st);
	st.st_dev = 1;
	st.st_ino = 42;
	filter = sift_gramfilter_get(&st, 0x1234);
	needle = str_new(default_pool, 64);

	for (round = 0; round < 24; round++) {
		/* new records: one big one now and then (many blocks),
		   else a few lines (one message's new terms) */
		unsigned int add = 1 + rng_next() % 3;

		for (unsigned int i = 0; i < add; i++)
			fake_add_record(&f, rng_next() % 4 == 0 ?
					1000 + rng_next() % 2000 :
					rng_next() % 20);
		record_count = array_count(&f.record_offsets);

		/* a reader's committed length: all records, or fewer */
		unsigned int visible = rng_next() % 3 == 0 ?
			1 + rng_next() % record_count : record_count;
		const uint64_t *offs = array_front(&f.record_offsets);
		uint64_t limit = visible < record_count ?
			offs[visible] : str_len(f.data);

		for (unsigned int q = 0; q < 30; q++) T_BEGIN {
			ARRAY_TYPE(uint32_t) want, got;
			struct sift_gram_query query;
			const char *fams[3];
			unsigned int fam_count = 1 + rng_next() % 3, iter = 0;
			uint64_t block_offset, resume, pos;
			uint32_t block_len;
			unsigned int r, blocks = 0;

			for (unsigned int i = 0; i < fam_count; i++)
				fams[i] = families[rng_next() %
						   N_ELEMENTS(families)];
			pick_needle(&f, needle);
			t_array_init(&want, 64);
			t_array_init(&got, 64);
			scan_records(&f, 0, visible, fams, fam_count,
				     str_c(needle), str_len(needle), &want);

			/* as sift-dict.c does: the filter's blocks, then
			   the records after them, which it learns */
			sift_gram_query_init(&query, fams, fam_count,
					     str_c(needle), str_len(needle));
			while (sift_gramfilter_next(filter, &query, limit,
						    &iter, &block_offset,
						    &block_len)) {
				const char *b = str_c(f.data) + block_offset;

				scan_lines(b, b + block_len, fams, fam_count,
					   str_c(needle), str_len(needle),
					   &got, str_c(f.data));
				blocks++;
			}
			resume = sift_gramfilter_resume(filter, limit);
			for (r = 0; r < visible; r++) {
				if (resume == 0 || offs[r] + 0 >= resume)
					break;
			}
			pos = resume;
			test_assert_idx(pos == 0 || r == visible ||
					offs[r] == pos, round);
			for (; r < visible; r++) {
				uint64_t next = r + 1 < record_count ?
					offs[r + 1] : str_len(f.data);

				scan_records(&f, r, r + 1, fams, fam_count,
					     str_c(needle), str_len(needle),
					     &got);
				(void)sift_gramfilter_add_record(filter,
					offs[r], next,
					(const unsigned char *)str_c(f.data) +
					offs[r] + 8,
					next - offs[r] - 8);
			}
			test_assert_idx(array_count(&want) ==
					array_count(&got), round * 100 + q);
			if (array_count(&want) == array_count(&got) &&
			    array_count(&want) > 0) {
				/* both in file order */
				test_assert_idx(memcmp(array_front(&want),
					array_front(&got),
					array_count(&want) *
					sizeof(uint32_t)) == 0,
					round * 100 + q);
			}
			if (query.usable)
				checked++;
			skipped_blocks += blocks;
		} T_END;
	}
	/* the filter was used (not just scanned around) */
	test_assert(checked > 400);
	test_assert(sift_gramfilter_covered(filter) > 0);
	test_assert(sift_gramfilter_memory(filter) < str_len(f.data));
	str_free(&needle);
	str_free(&f.data);
	array_free(&f.record_offsets);
	sift_gramfilter_forget_all();
	test_end();
}

static bool records_all_ok(void *context ATTR_UNUSED,
			   const struct sift_gram_record *rec ATTR_UNUSED);

static void test_gramfilter_selective(void)
{
	struct sift_gramfilter *filter;
	struct sift_gram_query query;
	const char *fams[] = { "B" };
	const char *nofam[] = { "" };
	struct stat st;
	string_t *data;
	unsigned int iter = 0, blocks = 0, total = 0;
	uint64_t off;
	uint32_t len;

	test_begin("gram filter: a rare string reads few blocks");
	sift_gramfilter_forget_all();
	data = str_new(default_pool, 1 << 20);
	str_append(data, "FILEHEADER-32-BYTES-OF-HEADER-..RECHDR!!");
	for (unsigned int i = 0; i < 40000; i++)
		str_printfa(data, "Bword%u\n", i * 7919 % 100003);
	str_append(data, "Bkselftest\n");
	i_zero(&st);
	st.st_ino = 7;
	filter = sift_gramfilter_get(&st, 1);
	test_assert(sift_gramfilter_add_record(filter, 32, str_len(data),
		(const unsigned char *)str_c(data) + 40, str_len(data) - 40));
	/* not the next record: refused */
	test_assert(!sift_gramfilter_add_record(filter, 32, str_len(data),
		(const unsigned char *)str_c(data) + 40, str_len(data) - 40));

	sift_gram_query_init(&query, fams, 1, "selft", 5);
	test_assert(query.usable);
	while (sift_gramfilter_next(filter, &query, str_len(data), &iter,
				    &off, &len)) {
		blocks++;
		test_assert(memmem(str_c(data) + off, len, "selft", 5) != NULL);
	}
	test_assert(blocks == 1);
	/* the whole file is the one record: cut off, nothing covered */
	iter = 0;
	test_assert(!sift_gramfilter_next(filter, &query, str_len(data) - 1,
					  &iter, &off, &len));
	test_assert(sift_gramfilter_resume(filter, str_len(data) - 1) == 0);
	test_assert(sift_gramfilter_resume(filter, str_len(data)) ==
		    str_len(data));

	/* unusable queries read every block */
	iter = 0;
	sift_gram_query_init(&query, fams, 1, "s", 1);
	test_assert(!query.usable);
	while (sift_gramfilter_next(filter, &query, str_len(data), &iter,
				    &off, &len))
		total++;
	test_assert(total > 10);
	sift_gram_query_init(&query, nofam, 1, "selft", 5);
	test_assert(!query.usable);
	sift_gram_query_init(&query, fams, 1, "a\nb", 3);
	test_assert(!query.usable);
	/* the same from the saved, sliced filters: one block, read
	   through at most 3 slices per trigram */
	{
		char path[] = "/tmp/test-sift-gramfilter.XXXXXX";
		struct sift_gramfile_writer *w;
		struct sift_gramfilter *reader = sift_gramfilter_new();
		const char *error;
		unsigned int reads, damaged, loaded_total = 0;
		bool empty;
		int fd = mkstemp(path);

		test_assert(fd != -1);
		test_assert(sift_gramfile_writer_open(path, 0600, &w,
						      &error) == 0);
		test_assert(sift_gramfile_writer_add_record(w, 32,
			str_len(data), (const unsigned char *)str_c(data) + 40,
			str_len(data) - 40, 1));
		test_assert(sift_gramfile_writer_finish(&w, 1, &empty,
							&error) == 0);
		i_close_fd(&fd);
		fd = open(path, O_RDONLY);
		test_assert(sift_gramfilter_import(reader, 1, str_len(data),
						   &fd, records_all_ok, NULL,
						   &error));
		test_assert(fd == -1);
		i_unlink(path);
		sift_gram_query_init(&query, fams, 1, "selft", 5);
		iter = 0;
		blocks = 0;
		while (sift_gramfilter_next(reader, &query, str_len(data),
					    &iter, &off, &len)) {
			blocks++;
			test_assert(memmem(str_c(data) + off, len, "selft",
					   5) != NULL);
		}
		test_assert_idx(blocks == 1, blocks);
		sift_gramfilter_slice_stats(reader, &reads, &damaged);
		test_assert_idx(reads > 0 && reads <= 9 && damaged == 0,
				reads);
		/* again: from the cache */
		iter = 0;
		while (sift_gramfilter_next(reader, &query, str_len(data),
					    &iter, &off, &len)) ;
		sift_gramfilter_slice_stats(reader, &reads, &damaged);
		test_assert_idx(reads <= 9, reads);
		/* the reader holds far less than the filters */
		sift_gram_query_init(&query, fams, 1, "s", 1);
		iter = 0;
		while (sift_gramfilter_next(reader, &query, str_len(data),
					    &iter, &off, &len))
			loaded_total++;
		test_assert(loaded_total == total);
		sift_gramfilter_free(&reader);
	}
	/* another generation of the same file is another filter */
	test_assert(sift_gramfilter_get(&st, 2) != filter);
	test_assert(sift_gramfilter_covered(sift_gramfilter_get(&st, 2)) == 0);
	str_free(&data);
	sift_gramfilter_forget_all();
	test_end();
}

/* The blocks a query leaves, as (offset, len) pairs. */
static bool records_all_ok(void *context ATTR_UNUSED,
			   const struct sift_gram_record *rec ATTR_UNUSED)
{
	return TRUE;
}

static uint64_t bad_record_offset;
static bool records_one_bad(void *context ATTR_UNUSED,
			    const struct sift_gram_record *rec)
{
	return rec->offset != bad_record_offset;
}

/* Write the grams file sift_gramfile_writer makes of f's first count
   records (checksums i * 31) to a new temporary file; its path. */
static const char *write_grams_file(struct fake_file *f, unsigned int count,
				    uint64_t gen)
{
	char path[] = "/tmp/test-sift-gramfilter.XXXXXX";
	struct sift_gramfile_writer *w;
	const uint64_t *offs;
	unsigned int i, all;
	const char *error;
	bool empty;
	int fd;

	fd = mkstemp(path);
	if (fd == -1)
		i_fatal("mkstemp() failed: %m");
	i_close_fd(&fd);
	test_assert(sift_gramfile_writer_open(path, 0600, &w, &error) == 0);
	offs = array_get(&f->record_offsets, &all);
	for (i = 0; i < count; i++) {
		uint64_t next = i + 1 < all ? offs[i + 1] : str_len(f->data);

		test_assert_idx(sift_gramfile_writer_add_record(w, offs[i],
			next, (const unsigned char *)str_c(f->data) +
			offs[i] + 8, next - offs[i] - 8, i * 31), i);
	}
	test_assert(sift_gramfile_writer_finish(&w, gen, &empty, &error) == 0);
	test_assert(!empty);
	return t_strdup(path);
}

static buffer_t *read_whole(const char *path)
{
	struct stat st;
	buffer_t *buf;
	int fd = open(path, O_RDONLY);

	if (fd == -1 || fstat(fd, &st) < 0)
		i_fatal("open(%s) failed: %m", path);
	buf = buffer_create_dynamic(default_pool, st.st_size + 1);
	if (st.st_size > 0 &&
	    read_full(fd, buffer_append_space_unsafe(buf, st.st_size),
		      st.st_size) <= 0)
		i_fatal("read(%s) failed: %m", path);
	i_close_fd(&fd);
	return buf;
}

static void write_whole(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || (size > 0 && write_full(fd, data, size) < 0))
		i_fatal("write(%s) failed: %m", path);
	i_close_fd(&fd);
}

/* sift_gramfilter_import() of the file at path (the filter keeps the fd
   if it takes it) */
static bool try_import(struct sift_gramfilter *filter, uint64_t gen,
		       uint64_t limit, const char *path,
		       bool (*record_ok)(void *context,
					 const struct sift_gram_record *rec))
{
	const char *error = NULL;
	bool ret;
	int fd = open(path, O_RDONLY);

	if (fd == -1)
		i_fatal("open(%s) failed: %m", path);
	ret = sift_gramfilter_import(filter, gen, limit, &fd, record_ok,
				     NULL, &error);
	test_assert(ret == (error == NULL));
	if (fd != -1)
		i_close_fd(&fd);
	return ret;
}

/* As sift-termfiles.c searches: the lines of the blocks the filter
   leaves, then those of the records after them up to limit (the first
   visible records), each added to the filter if add.  Asserts that they
   are exactly the lines a scan of every visible line finds (in file
   order); returns the blocks read. */
static unsigned int check_exact(struct sift_gramfilter *filter,
				struct fake_file *f, unsigned int visible,
				const char *const fams[],
				unsigned int fam_count, const char *needle,
				size_t needle_len, bool add, unsigned int idx)
{
	ARRAY_TYPE(uint32_t) want, got;
	struct sift_gram_query query;
	const uint64_t *offs;
	unsigned int iter = 0, r, count, blocks = 0;
	uint64_t block_offset, resume, limit;
	uint32_t block_len;
	bool ok;

	offs = array_get(&f->record_offsets, &count);
	limit = visible < count ? offs[visible] : str_len(f->data);
	t_array_init(&want, 64);
	t_array_init(&got, 64);
	scan_records(f, 0, visible, fams, fam_count, needle, needle_len,
		     &want);
	sift_gram_query_init(&query, fams, fam_count, needle, needle_len);
	while (sift_gramfilter_next(filter, &query, limit, &iter,
				    &block_offset, &block_len)) {
		const char *bl = str_c(f->data) + block_offset;

		scan_lines(bl, bl + block_len, fams, fam_count, needle,
			   needle_len, &got, str_c(f->data));
		blocks++;
	}
	resume = sift_gramfilter_resume(filter, limit);
	for (r = 0; r < visible && resume != 0 && offs[r] < resume; r++) ;
	test_assert_idx(resume == 0 || r == visible || offs[r] == resume, idx);
	for (; r < visible; r++) {
		uint64_t next = r + 1 < count ? offs[r + 1] : str_len(f->data);

		scan_records(f, r, r + 1, fams, fam_count, needle, needle_len,
			     &got);
		if (add) {
			(void)sift_gramfilter_add_record(filter, offs[r], next,
				(const unsigned char *)str_c(f->data) +
				offs[r] + 8, next - offs[r] - 8);
		}
	}
	ok = array_count(&want) == array_count(&got) &&
		(array_count(&want) == 0 ||
		 memcmp(array_front(&want), array_front(&got),
			array_count(&want) * sizeof(uint32_t)) == 0);
	test_assert_idx(ok, idx);
	if (!ok) {
		i_error("needle %.*s (%zu bytes), families %s%s%s: %u hits "
			"expected, %u found", (int)needle_len, needle,
			needle_len, fams[0], fam_count > 1 ? fams[1] : "",
			fam_count > 2 ? fams[2] : "", array_count(&want),
			array_count(&got));
	}
	return blocks;
}

/* The covered blocks (offset, length) of filter, in order. */
static void all_blocks(struct sift_gramfilter *filter, uint64_t limit,
		       ARRAY_TYPE(uint64_t) *out)
{
	struct sift_gram_query unusable;
	unsigned int iter = 0;
	uint64_t off, l;
	uint32_t len;

	i_zero(&unusable);
	array_clear(out);
	while (sift_gramfilter_next(filter, &unusable, limit, &iter, &off,
				    &len)) {
		l = len;
		array_push_back(out, &off);
		array_push_back(out, &l);
	}
}

/* Search strings for f: every piece of length 3..len of the terms at the
   ends of each block (the first two and last two lines), random pieces
   of terms and strings in no term. */
static void edge_needles(struct fake_file *f, const ARRAY_TYPE(uint64_t) *blocks,
			 unsigned int random_count, ARRAY_TYPE(const_string) *out)
{
	const uint64_t *b;
	const char *data = str_c(f->data);
	unsigned int i, count, k;
	string_t *needle = t_str_new(64);

	b = array_get(blocks, &count);
	for (i = 0; i < count; i += 2) {
		const char *start = data + b[i], *end = start + b[i + 1];
		const char *lines[4];
		const char *p;

		/* the first two lines and the last two */
		lines[0] = start;
		p = memchr(start, '\n', end - start);
		lines[1] = p != NULL && p + 1 < end ? p + 1 : NULL;
		p = end - 1;	/* the last line's '\n' */
		p = memrchr(start, '\n', p - start);
		lines[3] = p == NULL ? start : p + 1;
		p = lines[3] - 1 > start ?
			memrchr(start, '\n', lines[3] - 1 - start) : NULL;
		lines[2] = p == NULL ? NULL : p + 1;
		for (k = 0; k < 4; k++) {
			const char *ls = lines[k], *le;
			size_t len, from, n;

			if (ls == NULL)
				continue;
			le = memchr(ls, '\n', end - ls);
			if (le == NULL)
				le = end;
			/* (the family byte is not searched) */
			ls++;
			len = le - ls;
			if (len > 24)
				len = 24;
			for (n = 3; n <= len; n++) {
				from = rng_next() % (len - n + 1);
				const char *piece = t_strndup(ls + from, n);

				array_push_back(out, &piece);
			}
		}
	}
	for (i = 0; i < random_count; i++) {
		const char *piece;

		pick_needle(f, needle);
		piece = t_strdup(str_c(needle));
		array_push_back(out, &piece);
	}
}

/* f with records of random sizes: small ones, ones of several blocks,
   and now and then a line too long for a filter. */
static void fake_file_random(struct fake_file *f, unsigned int records,
			     bool small)
{
	for (unsigned int i = 0; i < records; i++) {
		unsigned int kind = small ? 1 : rng_next() % 8;

		if (kind == 0 && i > 0) {
			/* a long line among others (a block of its own,
			   longer than any filtered block) */
			uint64_t offset = str_len(f->data);

			array_push_back(&f->record_offsets, &offset);
			str_append(f->data, "RECHDR!!");
			random_term(f->data);
			str_append(f->data, "B");
			for (unsigned int j = 0; j < 50000; j++)
				str_append(f->data, pieces[rng_next() % 12]);
			str_append(f->data, "tail-of-long\n");
			random_term(f->data);
		} else {
			fake_add_record(f, kind < 3 ? rng_next() % 40 :
					300 + rng_next() % 1800);
		}
	}
}

static void fake_file_begin(struct fake_file *f, unsigned int seed);

/* The saved filters (SIFT_GRAMS_FILE, SIFTGRM4, read a slice at a time):
   for many generated terms files and many search strings (every length
   at block edges, random pieces, strings in no term; one to three of the
   families, each family alone), the lines found in the blocks a loaded
   filter leaves, plus the records after them, are exactly those of a
   full scan; records appended after the file's coverage are covered in
   the process and still exact; a tiny slice cache (evictions) changes
   nothing; the filter reads few of the slices and holds much less than
   the file. */
static void test_gramfilter_saved_exact(void)
{
	unsigned int file, checked = 0, blocks_read = 0, blocks_full = 0;

	test_begin("gram filter: saved sliced filters are exact");
	for (file = 0; file < 15; file++) T_BEGIN {
		struct fake_file f;
		struct sift_gramfilter *reader;
		ARRAY_TYPE(uint64_t) blocks;
		ARRAY_TYPE(const_string) needles;
		const char *const *n;
		const char *path;
		unsigned int i, count, covered_count, reads, damaged;
		struct stat st;
		uint64_t covered;

		fake_file_begin(&f, 1000 + file);
		/* small caches: evictions */
		sift_gramfilter_set_slice_cache(file % 3 == 0 ? 1 :
						file % 3 == 1 ? 4096 : 0);
		/* some files of small records only: their blocks' filters
		   folded to fewer bits */
		/* and files of one or two records: few blocks, their
		   filters folded to fewer bits (at most twice the bits of
		   unsliced filters) */
		fake_file_random(&f, file % 5 == 2 || file % 5 == 3 ?
				 1 + rng_next() % 2 : 3 + rng_next() % 8,
				 file % 5 >= 3);
		count = array_count(&f.record_offsets);
		/* the file covers all records, or the first ones (the rest
		   appended later) */
		covered_count = file % 2 == 0 ? count :
			1 + rng_next() % count;
		path = write_grams_file(&f, covered_count, 0x9000 + file);
		{
			/* the header's block_count, slice_count,
			   group_slices, slice_bytes */
			buffer_t *saved = read_whole(path);
			uint32_t fields[4];

			memcpy(fields, CONST_PTR_OFFSET(saved->data, 28),
			       sizeof(fields));
			test_assert_idx(fields[1] >= 256 && fields[1] <= 16384 &&
					(fields[1] & (fields[1] - 1)) == 0, file);
			test_assert_idx(fields[3] == (fields[0] + 7) / 8, file);
			test_assert_idx(fields[1] == 256 ||
					(uint64_t)fields[1] * fields[3] <=
					2 * (uint64_t)fields[0] * 2048, file);
			if (getenv("GRAMS_VERBOSE") != NULL)
				i_info("file %u: %u blocks, %u slices, %zu bytes",
				       file, fields[0], fields[1], saved->used);
			buffer_free(&saved);
		}
		covered = covered_count < count ?
			array_idx_elem(&f.record_offsets, covered_count) :
			str_len(f.data);
		i_zero(&st);
		st.st_dev = 5;
		st.st_ino = 100 + file;
		reader = sift_gramfilter_get(&st, 0x9000 + file);
		test_assert(try_import(reader, 0x9000 + file, covered, path,
				       records_all_ok));
		test_assert(sift_gramfilter_covered(reader) == covered);
		test_assert(sift_gramfilter_loaded(reader));
		t_array_init(&blocks, 64);
		all_blocks(reader, covered, &blocks);
		t_array_init(&needles, 256);
		edge_needles(&f, &blocks, 100, &needles);
		blocks_full += array_count(&needles) * array_count(&blocks) / 2;
		i = 0;
		array_foreach(&needles, n) {
			const char *fams[3];
			unsigned int fam_count, k;

			if (i % 4 == 0) {
				/* each family alone */
				fams[0] = families[(i / 4) %
						   N_ELEMENTS(families)];
				fam_count = 1;
			} else {
				fam_count = 1 + rng_next() % 3;
				for (k = 0; k < fam_count; k++)
					fams[k] = families[rng_next() %
						N_ELEMENTS(families)];
			}
			/* all records visible, added as they are met (the
			   appended ones), or fewer */
			blocks_read += check_exact(reader, &f,
				rng_next() % 8 == 0 ?
				1 + rng_next() % count : count,
				fams, fam_count, *n, strlen(*n), TRUE,
				file * 100000 + i);
			i++;
			checked++;
		}
		test_assert(sift_gramfilter_covered(reader) == str_len(f.data));
		sift_gramfilter_slice_stats(reader, &reads, &damaged);
		if (getenv("GRAMS_VERBOSE") != NULL)
			i_info("file %u: %u blocks, %u needles, %u blocks read, %u slice reads",
			       file, array_count(&blocks) / 2, array_count(&needles), blocks_read, reads);
		test_assert(damaged == 0);
		test_assert(reads > 0);
		i_unlink(path);
		str_free(&f.data);
		array_free(&f.record_offsets);
	} T_END;
	/* the filters were used: most blocks skipped (the random terms
	   are of 15 pieces: three bytes are in many of them) */
	test_assert_idx(checked > 3000, checked);
	test_assert_idx(blocks_read < blocks_full / 2, blocks_read);
	sift_gramfilter_set_slice_cache(0);
	sift_gramfilter_forget_all();
	test_end();
}

/* A grams file is taken only whole and of this terms file: another
   generation, covering more than is committed, a record the terms file
   doesn't hold, another version (an older magic: the filters are built
   in the process instead), cut short anywhere, or any byte of its header
   or tables changed: refused, the filter empty.  A changed byte in a
   slice, or the file cut short after it was loaded, is found when that
   slice is read: its blocks are read (never skipped) and the answers
   stay exact. */
static void test_gramfilter_saved_damage(void)
{
	struct fake_file f;
	struct sift_gramfilter *reader;
	ARRAY_TYPE(uint64_t) blocks;
	ARRAY_TYPE(const_string) needles;
	const char *path, *copy, *const *n;
	const uint64_t *offs;
	buffer_t *saved, *mod;
	unsigned int i, count, block_count, refused = 0, damaged_all = 0;
	unsigned int reads, damaged, trial;
	uint64_t covered, tables_end, slice_bytes;
	struct stat st;

	test_begin("gram filter: damaged saved filters are refused or read around");
	fake_file_begin(&f, 4242);
	for (i = 0; i < 12; i++)
		fake_add_record(&f, 200 + rng_next() % 2000);
	for (i = 0; i < 3; i++)
		fake_add_record(&f, 5000 + rng_next() % 2000);
	offs = array_get(&f.record_offsets, &count);
	covered = str_len(f.data);
	path = write_grams_file(&f, count, 0x77);
	copy = t_strconcat(path, ".copy", NULL);
	saved = read_whole(path);
	i_zero(&st);
	st.st_dev = 3;
	st.st_ino = 9;
	reader = sift_gramfilter_get(&st, 0x77);
	test_assert(sift_gramfilter_want_import(reader));
	test_assert(!sift_gramfilter_want_import(reader));
	test_assert(!try_import(reader, 0x78, covered, path, records_all_ok));
	test_assert(!try_import(reader, 0x77, covered - 1, path,
				records_all_ok));
	bad_record_offset = offs[count / 2];
	test_assert(!try_import(reader, 0x77, covered, path,
				records_one_bad));
	/* an older version */
	mod = buffer_create_dynamic(default_pool, saved->used);
	buffer_append_buf(mod, saved, 0, SIZE_MAX);
	memcpy(buffer_get_modifiable_data(mod, NULL), "SIFTGRM3", 8);
	write_whole(copy, mod->data, mod->used);
	test_assert(!try_import(reader, 0x77, covered, copy, records_all_ok));
	test_assert(sift_gramfilter_covered(reader) == 0);

	/* the header (56 bytes) and tables (16 bytes a record, 8 a
	   block) end where the groups of slices start: slice_count /
	   group_slices groups of a 4-byte checksum and group_slices
	   slices of slice_bytes */
	test_assert(try_import(reader, 0x77, covered, path, records_all_ok));
	t_array_init(&blocks, 64);
	all_blocks(reader, covered, &blocks);
	block_count = array_count(&blocks) / 2;
	test_assert_idx(block_count > 25, block_count);
	{
		uint32_t fields[4];

		memcpy(fields, CONST_PTR_OFFSET(saved->data, 28),
		       sizeof(fields));
		test_assert(fields[0] == block_count);
		test_assert(fields[1] == 16384);
		slice_bytes = (block_count + 7) / 8;
		test_assert(fields[3] == slice_bytes);
		test_assert(fields[2] * slice_bytes >= 64 &&
			    fields[2] / 2 * slice_bytes < 64);
		tables_end = (56 + count * 16 + block_count * 8 + 7) / 8 * 8;
		test_assert(saved->used == tables_end + 16384 / fields[2] *
			    (4 + fields[2] * slice_bytes));
	}
	sift_gramfilter_forget_all();

	/* cut short anywhere, or any byte of the header or tables
	   changed: refused */
	for (i = 0; i < saved->used; i += 1 + i / 64) {
		reader = sift_gramfilter_get(&st, 0x77);
		write_whole(copy, saved->data, i);
		if (try_import(reader, 0x77, covered, copy, records_all_ok))
			break;
		if (i < tables_end) {
			buffer_set_used_size(mod, 0);
			buffer_append_buf(mod, saved, 0, SIZE_MAX);
			((unsigned char *)buffer_get_modifiable_data(mod,
				NULL))[i] ^= 1 << (rng_next() % 8);
			write_whole(copy, mod->data, mod->used);
			if (try_import(reader, 0x77, covered, copy,
				       records_all_ok))
				break;
		}
		test_assert(sift_gramfilter_covered(reader) == 0);
		refused++;
	}
	test_assert(i >= saved->used);
	test_assert(refused > 100);
	for (i = 0; i < tables_end; i++) {
		buffer_set_used_size(mod, 0);
		buffer_append_buf(mod, saved, 0, SIZE_MAX);
		((unsigned char *)buffer_get_modifiable_data(mod, NULL))[i] ^=
			1 << (rng_next() % 8);
		write_whole(copy, mod->data, mod->used);
		test_assert_idx(!try_import(reader, 0x77, covered, copy,
					    records_all_ok), i);
	}
	sift_gramfilter_forget_all();

	/* damaged slices: loaded, read around, exact */
	t_array_init(&needles, 256);
	edge_needles(&f, &blocks, 60, &needles);
	for (trial = 0; trial < 12; trial++) {
		buffer_set_used_size(mod, 0);
		buffer_append_buf(mod, saved, 0, SIZE_MAX);
		/* bytes changed in a few slices (their checksums, numbers
		   or bits), or most of the slices */
		for (i = 0; i < (trial < 8 ? 1 + trial * 20 : 20000); i++) {
			uint64_t at = tables_end + rng_next() %
				(saved->used - tables_end);

			((unsigned char *)buffer_get_modifiable_data(mod,
				NULL))[at] ^= 1 << (rng_next() % 8);
		}
		write_whole(copy, mod->data, mod->used);
		reader = sift_gramfilter_get(&st, 0x77);
		test_assert(try_import(reader, 0x77, covered, copy,
				       records_all_ok));
		if (trial == 11) {
			/* cut short after it was loaded (reads fail) */
			test_assert(truncate(copy, tables_end +
					     (saved->used - tables_end) / 3) == 0);
		}
		i = 0;
		array_foreach(&needles, n) {
			if (i++ % 3 != trial % 3)
				continue;
			const char *fams[2] = {
				families[i % N_ELEMENTS(families)],
				families[rng_next() % N_ELEMENTS(families)] };

			(void)check_exact(reader, &f, count, fams,
					  1 + i % 2, *n, strlen(*n), FALSE,
					  trial * 10000 + i);
		}
		sift_gramfilter_slice_stats(reader, &reads, &damaged);
		test_assert_idx(reads > 0, trial);
		if (trial >= 8)
			test_assert_idx(damaged > 0, trial);
		damaged_all += damaged;
		sift_gramfilter_forget_all();
	}
	test_assert(damaged_all > 20);
	buffer_free(&mod);
	buffer_free(&saved);
	i_unlink(path);
	i_unlink(copy);
	str_free(&f.data);
	array_free(&f.record_offsets);
	sift_gramfilter_forget_all();
	test_end();
}

/* An empty fake terms file (its 32-byte header), the filters forgotten
   and the random numbers seeded. */
static void fake_file_begin(struct fake_file *f, unsigned int seed)
{
	rng_seed(seed);
	sift_gramfilter_forget_all();
	f->data = str_new(default_pool, 1 << 20);
	i_array_init(&f->record_offsets, 64);
	str_append(f->data, "FILEHEADER-32-BYTES-OF-HEADER-..");
}

/* The blocks of saved filters carry their bytes' checksum: each loaded
   block verifies against the terms bytes the writer wrote, once (then it
   is no longer unverified), and against no bytes with one bit changed
   (anywhere in the block) or the bytes of another block of the same
   length; blocks a search adds in the process are never unverified. */
static void test_gramfilter_saved_blocks_verify(void)
{
	struct fake_file f;
	struct sift_gramfilter *reader;
	struct sift_gram_query unusable;
	buffer_t *copy;
	uint64_t covered, offset, prev_offset = 0;
	uint32_t len, prev_len = 0;
	unsigned int i, count, iter = 0, blocks = 0, flips = 0, idx;
	const char *path;

	test_begin("gram filter: saved blocks verify their terms bytes");
	fake_file_begin(&f, 9191);
	for (i = 0; i < 6; i++)
		fake_add_record(&f, 200 + rng_next() % 3000);
	fake_add_record(&f, 1);
	count = array_count(&f.record_offsets);
	covered = str_len(f.data);
	path = write_grams_file(&f, count, 0x55);
	reader = sift_gramfilter_new();
	test_assert(try_import(reader, 0x55, covered, path, records_all_ok));
	i_unlink(path);
	i_zero(&unusable);
	while (sift_gramfilter_next(reader, &unusable, covered, &iter,
				    &offset, &len)) {
		const unsigned char *bytes =
			(const unsigned char *)str_c(f.data) + offset;

		idx = iter - 1;
		blocks++;
		test_assert_idx(sift_gramfilter_block_unverified(reader, idx),
				idx);
		/* one bit changed, at a random place in the block */
		copy = buffer_create_dynamic(default_pool, len);
		buffer_append(copy, bytes, len);
		((unsigned char *)buffer_get_modifiable_data(copy, NULL))
			[rng_next() % len] ^= 1 << (rng_next() % 8);
		test_assert_idx(!sift_gramfilter_verify_block(reader, idx,
							      copy->data), idx);
		flips++;
		buffer_free(&copy);
		/* another block's bytes (the first len of them) */
		if (prev_len >= len && prev_offset != offset) {
			test_assert_idx(!sift_gramfilter_verify_block(reader,
				idx, (const unsigned char *)str_c(f.data) +
				prev_offset), idx);
		}
		test_assert_idx(sift_gramfilter_block_unverified(reader, idx),
				idx);
		test_assert_idx(sift_gramfilter_verify_block(reader, idx,
							     bytes), idx);
		test_assert_idx(!sift_gramfilter_block_unverified(reader, idx),
				idx);
		prev_offset = offset;
		prev_len = len;
	}
	test_assert(blocks > count);
	test_assert(flips == blocks);
	/* a record appended later: its blocks are the process's own */
	fake_add_record(&f, 300);
	test_assert(sift_gramfilter_add_record(reader, covered,
		str_len(f.data),
		(const unsigned char *)str_c(f.data) + covered + 8,
		str_len(f.data) - covered - 8));
	iter = 0;
	while (sift_gramfilter_next(reader, &unusable, str_len(f.data), &iter,
				    &offset, &len)) {
		if (offset >= covered)
			test_assert(!sift_gramfilter_block_unverified(reader,
								     iter - 1));
	}
	sift_gramfilter_free(&reader);
	str_free(&f.data);
	array_free(&f.record_offsets);
	test_end();
}

/* The filters of a process share one budget: a file's filter growing
   past what the others leave evicts the least recently used one, a
   filter alone at the budget covers no more, and the writer's file's
   filters stay within 8 times the budget (a reader holds only its
   tables and a few slices). */
static void test_gramfilter_budget(void)
{
	struct sift_gramfilter *a, *b, *c;
	struct fake_file f;
	const uint64_t *offs;
	struct stat st_a, st_b;
	unsigned int i, count, covered_a = 0, covered_b = 0;
	size_t mem_a;

	test_begin("gram filter: one budget for the process's filters");
	rng_seed(77);
	sift_gramfilter_forget_all();
	sift_gramfilter_set_budget(24 * 1024);
	f.data = str_new(default_pool, 1 << 20);
	i_array_init(&f.record_offsets, 64);
	str_append(f.data, "FILEHEADER-32-BYTES-OF-HEADER-..");
	/* records of about 4 KB: about 480 bytes of filter each, 38 KB
	   in all */
	for (i = 0; i < 80; i++)
		fake_add_record(&f, 300);
	offs = array_get(&f.record_offsets, &count);
	i_zero(&st_a);
	st_a.st_ino = 1;
	st_b = st_a;
	st_b.st_ino = 2;
	a = sift_gramfilter_get(&st_a, 1);
	b = sift_gramfilter_get(&st_b, 1);
	/* a: 12 records, b: as many as fit (a is used less recently) */
	for (i = 0; i < 12; i++) {
		if (sift_gramfilter_add_record(a, offs[i], offs[i + 1],
			(const unsigned char *)str_c(f.data) + offs[i] + 8,
			offs[i + 1] - offs[i] - 8))
			covered_a++;
	}
	test_assert(covered_a == 12);
	mem_a = sift_gramfilter_memory(a);
	test_assert(mem_a > 4 * 1024);
	for (i = 0; i + 1 < count; i++) {
		if (!sift_gramfilter_add_record(b, offs[i], offs[i + 1],
			(const unsigned char *)str_c(f.data) + offs[i] + 8,
			offs[i + 1] - offs[i] - 8))
			break;
		covered_b++;
		/* a stays cached while both fit */
		if (sift_gramfilter_memory(b) + 8 * 1024 < 24 * 1024 - mem_a) {
			test_assert(sift_gramfilter_get(&st_a, 1) == a);
			test_assert(sift_gramfilter_get(&st_b, 1) == b);
		}
	}
	/* b alone reached the budget: it covers no more */
	test_assert_idx(covered_b > 30 && covered_b < count - 10, covered_b);
	test_assert(sift_gramfilter_memory(b) <= 24 * 1024);
	/* a was evicted for b: a new, empty filter for its file */
	c = sift_gramfilter_get(&st_a, 1);
	test_assert(sift_gramfilter_covered(c) == 0);
	/* the sum of the cached filters stays within the budget */
	test_assert(sift_gramfilter_reserve(c, 0));
	test_assert(!sift_gramfilter_reserve(c, 24 * 1024 + 1));

	/* the writer's file covers the blocks that fit */
	{
		char path[] = "/tmp/test-sift-gramfilter.XXXXXX";
		struct sift_gramfile_writer *w;
		const char *error;
		struct stat st;
		unsigned int wcovered = 0;
		bool empty;
		int fd = mkstemp(path);

		/* (the file's filters may take 8 times the budget: 16
		   blocks of 2 KB at 4 KB) */
		sift_gramfilter_set_budget(4 * 1024);
		test_assert(fd != -1);
		test_assert(sift_gramfile_writer_open(path, 0600, &w,
						      &error) == 0);
		for (i = 0; i + 1 < count; i++) {
			if (sift_gramfile_writer_add_record(w, offs[i],
				offs[i + 1], (const unsigned char *)str_c(f.data) +
				offs[i] + 8, offs[i + 1] - offs[i] - 8, 0))
				wcovered++;
		}
		test_assert(sift_gramfile_writer_finish(&w, 1, &empty,
							&error) == 0);
		test_assert(fstat(fd, &st) == 0);
		test_assert_idx(wcovered == 16, wcovered);
		/* (16 blocks of about 5 KB: 8,192 bits each, 2 bytes a
		   slice, 32 slices a group) */
		test_assert_idx(st.st_size > 4 * 1024 && st.st_size < 20 * 1024,
				st.st_size);
		i_close_fd(&fd);
		i_unlink(path);
	}
	sift_gramfilter_set_budget(0);
	str_free(&f.data);
	array_free(&f.record_offsets);
	sift_gramfilter_forget_all();
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_gramfilter_random,
		test_gramfilter_selective,
		test_gramfilter_saved_exact,
		test_gramfilter_saved_damage,
		test_gramfilter_saved_blocks_verify,
		test_gramfilter_budget,
		NULL
	};

	return sift_test_main(test_functions, NULL);
}
