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
	/* another generation of the same file is another filter */
	test_assert(sift_gramfilter_get(&st, 2) != filter);
	test_assert(sift_gramfilter_covered(sift_gramfilter_get(&st, 2)) == 0);
	str_free(&data);
	sift_gramfilter_forget_all();
	test_end();
}

/* The blocks a query leaves, as (offset, len) pairs. */
static void gram_blocks(const struct sift_gramfilter *filter,
			const struct sift_gram_query *query, uint64_t limit,
			ARRAY_TYPE(uint64_t) *out)
{
	unsigned int iter = 0;
	uint64_t off;
	uint32_t len;

	array_clear(out);
	while (sift_gramfilter_next(filter, query, limit, &iter, &off, &len)) {
		uint64_t l = len;

		array_push_back(out, &off);
		array_push_back(out, &l);
	}
}

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

/* The file sift_gramfile_writer makes of f's records (checksums
   i * 31), read into a buffer. */
static buffer_t *write_grams_file(struct fake_file *f, uint64_t gen)
{
	char path[] = "/tmp/test-sift-gramfilter.XXXXXX";
	struct sift_gramfile_writer *w;
	const uint64_t *offs;
	unsigned int i, count;
	const char *error;
	struct stat st;
	buffer_t *buf;
	bool empty;
	int fd;

	fd = mkstemp(path);
	if (fd == -1)
		i_fatal("mkstemp() failed: %m");
	i_close_fd(&fd);
	test_assert(sift_gramfile_writer_open(path, 0600, &w, &error) == 0);
	offs = array_get(&f->record_offsets, &count);
	for (i = 0; i < count; i++) {
		uint64_t next = i + 1 < count ? offs[i + 1] : str_len(f->data);

		test_assert(sift_gramfile_writer_add_record(w, offs[i], next,
			(const unsigned char *)str_c(f->data) + offs[i] + 8,
			next - offs[i] - 8, i * 31));
	}
	test_assert(sift_gramfile_writer_finish(&w, gen, &empty, &error) == 0);
	test_assert(!empty);
	fd = open(path, O_RDONLY);
	if (fd == -1 || fstat(fd, &st) < 0)
		i_fatal("open(%s) failed: %m", path);
	buf = buffer_create_dynamic(default_pool, st.st_size + 1);
	if (read_full(fd, buffer_append_space_unsafe(buf, st.st_size),
		      st.st_size) <= 0)
		i_fatal("read(%s) failed: %m", path);
	i_close_fd(&fd);
	i_unlink(path);
	return buf;
}

/* sift_gramfilter_import() of a copy of data[0..size) */
static bool try_import(struct sift_gramfilter *filter, uint64_t gen,
		       uint64_t limit, const void *data, size_t size,
		       bool (*record_ok)(void *context,
					 const struct sift_gram_record *rec))
{
	buffer_t *buf = buffer_create_dynamic(default_pool, size + 1);
	const char *error;
	bool ret;

	buffer_append(buf, data, size);
	ret = sift_gramfilter_import(filter, gen, limit, &buf, record_ok,
				     NULL, &error);
	test_assert(ret == (buf == NULL));
	if (buf != NULL)
		buffer_free(&buf);
	return ret;
}

/* The saved filters (SIFT_GRAMS_FILE, written by the streaming
   sift_gramfile_writer): a loaded filter leaves exactly the blocks an
   in-process filter of the same records leaves, then goes on covering appended records;
   a file of another generation, covering more than is committed, whose
   records the terms file doesn't hold, cut short, or with any byte
   changed is refused and leaves the filter empty. */
static void test_gramfilter_saved(void)
{
	struct fake_file f;
	struct sift_gramfilter *writer, *reader;
	ARRAY_TYPE(uint64_t) want, got;
	const uint64_t *offs;
	buffer_t *saved;
	string_t *needle;
	struct stat st;
	unsigned int i, count, refused = 0;
	uint64_t covered;

	test_begin("gram filter: saved filters load exactly or not at all");
	rng_seed(4242);
	sift_gramfilter_forget_all();
	f.data = str_new(default_pool, 1 << 20);
	i_array_init(&f.record_offsets, 64);
	i_array_init(&want, 64);
	i_array_init(&got, 64);
	str_append(f.data, "FILEHEADER-32-BYTES-OF-HEADER-..");
	/* records past GRAM_SUM_CHUNK bytes of bits: several pieces of
	   the checksum */
	for (i = 0; i < 12; i++)
		fake_add_record(&f, 200 + rng_next() % 2000);
	for (i = 0; i < 4; i++)
		fake_add_record(&f, 20000 + rng_next() % 20000);
	writer = sift_gramfilter_new();
	offs = array_get(&f.record_offsets, &count);
	for (i = 0; i < count; i++) {
		uint64_t next = i + 1 < count ? offs[i + 1] : str_len(f.data);

		test_assert(sift_gramfilter_add_record(writer, offs[i], next,
			(const unsigned char *)str_c(f.data) + offs[i] + 8,
			next - offs[i] - 8));
	}
	covered = sift_gramfilter_covered(writer);
	test_assert(covered == str_len(f.data));
	test_assert(sift_gramfilter_memory(writer) > 64 * 1024);
	saved = write_grams_file(&f, 0x77);

	i_zero(&st);
	st.st_dev = 3;
	st.st_ino = 9;
	/* refused: another generation, more than committed, a record the
	   terms file doesn't hold */
	reader = sift_gramfilter_get(&st, 0x77);
	test_assert(sift_gramfilter_want_import(reader));
	test_assert(!sift_gramfilter_want_import(reader));
	test_assert(!try_import(reader, 0x78, covered, saved->data,
				saved->used, records_all_ok));
	test_assert(!try_import(reader, 0x77, covered - 1, saved->data,
				saved->used, records_all_ok));
	bad_record_offset = offs[count / 2];
	test_assert(!try_import(reader, 0x77, covered, saved->data,
				saved->used, records_one_bad));
	/* cut short, or any bit changed */
	for (i = 0; i < saved->used; i += 1 + i / 64) {
		buffer_t *copy = buffer_create_dynamic(default_pool,
						       saved->used);
		unsigned char *p;

		if (try_import(reader, 0x77, covered, saved->data,
				i, records_all_ok))
			break;
		buffer_append_buf(copy, saved, 0, SIZE_MAX);
		p = buffer_get_modifiable_data(copy, NULL);
		p[i] ^= 1 << (rng_next() % 8);
		if (try_import(reader, 0x77, covered, copy->data,
				copy->used, records_all_ok)) {
			buffer_free(&copy);
			break;
		}
		buffer_free(&copy);
		refused++;
	}
	test_assert(i >= saved->used);
	test_assert(refused > 100);
	test_assert(sift_gramfilter_covered(reader) == 0);

	/* loaded: the same blocks for every query, at every limit */
	test_assert(try_import(reader, 0x77, covered, saved->data,
				saved->used, records_all_ok));
	test_assert(sift_gramfilter_covered(reader) == covered);
	needle = str_new(default_pool, 64);
	for (i = 0; i < 500; i++) {
		struct sift_gram_query query;
		const char *fams[2] = {
			families[rng_next() % N_ELEMENTS(families)],
			families[rng_next() % N_ELEMENTS(families)] };
		uint64_t limit = rng_next() % 4 == 0 ?
			offs[rng_next() % count] : covered;

		pick_needle(&f, needle);
		sift_gram_query_init(&query, fams, 1 + rng_next() % 2,
				     str_c(needle), str_len(needle));
		gram_blocks(writer, &query, limit, &want);
		gram_blocks(reader, &query, limit, &got);
		test_assert_idx(array_count(&want) == array_count(&got) &&
				(array_count(&want) == 0 ||
				 memcmp(array_front(&want), array_front(&got),
					array_count(&want) *
					sizeof(uint64_t)) == 0), i);
		test_assert_idx(sift_gramfilter_resume(writer, limit) ==
				sift_gramfilter_resume(reader, limit), i);
	}
	/* appended records are covered after the loaded ones */
	fake_add_record(&f, 50);
	test_assert(sift_gramfilter_add_record(reader, covered,
		str_len(f.data),
		(const unsigned char *)str_c(f.data) + covered + 8,
		str_len(f.data) - covered - 8));
	test_assert(sift_gramfilter_covered(reader) == str_len(f.data));

	str_free(&needle);
	buffer_free(&saved);
	sift_gramfilter_free(&writer);
	array_free(&want);
	array_free(&got);
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
	const uint64_t *offs;
	buffer_t *saved, *copy;
	uint64_t covered, offset, prev_offset = 0;
	uint32_t len, prev_len = 0;
	unsigned int i, count, iter = 0, blocks = 0, flips = 0, idx;
	const char *error;

	test_begin("gram filter: saved blocks verify their terms bytes");
	fake_file_begin(&f, 9191);
	for (i = 0; i < 6; i++)
		fake_add_record(&f, 200 + rng_next() % 3000);
	fake_add_record(&f, 1);
	offs = array_get(&f.record_offsets, &count);
	covered = str_len(f.data);
	saved = write_grams_file(&f, 0x55);
	reader = sift_gramfilter_new();
	error = NULL;
	test_assert(sift_gramfilter_import(reader, 0x55, covered, &saved,
					   records_all_ok, NULL, &error));
	test_assert(error == NULL);
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
   filter alone at the budget covers no more, and the writer's file fits
   the budget (what a reader loads whole). */
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

	/* the writer's file fits the budget: it covers fewer records */
	{
		char path[] = "/tmp/test-sift-gramfilter.XXXXXX";
		struct sift_gramfile_writer *w;
		const char *error;
		struct stat st;
		unsigned int wcovered = 0;
		bool empty;
		int fd = mkstemp(path);

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
		test_assert(st.st_size <= 24 * 1024 && st.st_size > 20 * 1024);
		test_assert_idx(wcovered > 30 && wcovered < covered_b,
				wcovered);
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
		test_gramfilter_saved,
		test_gramfilter_saved_blocks_verify,
		test_gramfilter_budget,
		NULL
	};

	return sift_test_main(test_functions, NULL);
}
