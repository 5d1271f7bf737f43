/* Unit test of how much a side file's reader reads (sift-file.h), with
   both window strategies (pread, mmap):

   - opening a record file (sift_rfile_open() without verifying it all,
     as every search opens terms and opaque) reads a small first window
     for the 32-byte header, not a whole SIFT_MAP_WINDOW: a search paid
     2 MB of reads, allocation and page faults for the two headers;
   - a scan from the start still reads whole windows (its reads after
     the first continue the window), and sees every record;
   - sift_rfile_get_span() (the blocks a search's gram filters leave,
     sift-termfiles.c) reads only the span asked for, also right after
     the window, where sift_rfile_get() reads a whole window ahead.

   Every byte returned is compared with the record written. */
#include "lib.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-file.h"
#include "sift-record.h"

#include <stdlib.h>
#include <unistd.h>

#define REC_COUNT 400
#define REC_LEN 8000

static char test_root[] = "/tmp/test-sift-reads.XXXXXX";
static const char *path;
static struct sift_file_state state;
static uint64_t rec_offset[REC_COUNT];

static unsigned char rec_byte(unsigned int i, uint32_t j)
{
	return (unsigned char)((i * 131u + j * 7u + (j >> 8)) & 0xff);
}

static bool rec_bytes_ok(unsigned int i, uint32_t from,
			 const unsigned char *data, size_t len)
{
	for (size_t j = 0; j < len; j++) {
		if (data[j] != rec_byte(i, from + j))
			return FALSE;
	}
	return TRUE;
}

static void write_file(void)
{
	struct sift_wfile *file;
	unsigned char buf[REC_LEN];
	const char *error;
	uint64_t pos = SIFT_RECORD_FILE_HEADER_SIZE;

	if (sift_wfile_replace_begin(path, "blob", 0600, &file, &error) < 0)
		i_fatal("%s", error);
	for (unsigned int i = 0; i < REC_COUNT; i++) {
		for (uint32_t j = 0; j < REC_LEN; j++)
			buf[j] = rec_byte(i, j);
		if (sift_wfile_append(file, buf, REC_LEN, NULL, 0, &error) < 0)
			i_fatal("%s", error);
		rec_offset[i] = pos;
		pos += SIFT_RECORD_HEADER_SIZE + REC_LEN;
	}
	if (sift_wfile_replace_end(file, TRUE, &error) < 0)
		i_fatal("%s", error);
	sift_wfile_state(file, &state);
	sift_wfile_close(&file);
	/* (the file spans several windows) */
	i_assert(state.len > 3 * SIFT_MAP_WINDOW);
}

/* The most one small read may hold: SIFT_MAP_RANDOM_READ, and for a
   mapping the page its start is rounded down to. */
static size_t small_bound(void)
{
	return SIFT_MAP_RANDOM_READ + (size_t)sysconf(_SC_PAGESIZE);
}

static void test_open_reads_little(enum sift_map_strategy strategy)
{
	struct sift_rfile file;
	const unsigned char *data;
	const char *error;
	uint64_t pos = 0, offset;
	uint32_t len;
	unsigned int i = 0, bad = 0;
	size_t peak = 0;

	test_begin(t_strdup_printf("reads %s: opening reads the header only, "
				   "a scan whole windows",
				   strategy == SIFT_MAP_MMAP ? "mmap" : "pread"));
	sift_map_strategy = strategy;
	sift_record_forget_verified();
	test_assert(sift_rfile_open(path, "blob", &state, FALSE, &file,
				    &error) == 1);
	/* the header check read a small window */
	test_assert(file.map.win_len <= SIFT_MAP_RANDOM_READ);
	test_assert(sift_map_memory(&file.map) <= small_bound());

	/* a scan: every record, and windows of SIFT_MAP_WINDOW after the
	   first read */
	while (sift_rfile_next(&file, &pos, &offset, &data, &len)) {
		if (i >= REC_COUNT || offset != rec_offset[i] ||
		    len != REC_LEN || !rec_bytes_ok(i, 0, data, len))
			bad++;
		peak = I_MAX(peak, file.map.win_len);
		i++;
	}
	test_assert(sift_rfile_error(&file) == NULL);
	test_assert_idx(bad == 0, bad);
	test_assert(i == REC_COUNT);
	test_assert(peak == SIFT_MAP_WINDOW);
	sift_rfile_close(&file);
	test_end();
}

static void test_span_reads_span(enum sift_map_strategy strategy)
{
	struct sift_rfile file;
	const unsigned char *data;
	const char *error;
	uint64_t at;
	unsigned int rec;
	const uint32_t skip = 100, want = 5000;

	test_begin(t_strdup_printf("reads %s: a span read reads the span only",
				   strategy == SIFT_MAP_MMAP ? "mmap" : "pread"));
	sift_map_strategy = strategy;
	test_assert(sift_rfile_open(path, "blob", &state, FALSE, &file,
				    &error) == 1);
	/* a window in the middle of the file: a probe there (a small
	   read), then a read continuing it (a scan's: a whole window) */
	rec = REC_COUNT / 3;
	at = rec_offset[rec] + SIFT_RECORD_HEADER_SIZE;
	data = sift_rfile_get(&file, at, 16);
	test_assert(data != NULL && rec_bytes_ok(rec, 0, data, 16));
	test_assert(file.map.win_len == SIFT_MAP_RANDOM_READ);
	data = sift_rfile_get(&file, at + SIFT_MAP_RANDOM_READ, 16);
	test_assert(data != NULL &&
		    rec_bytes_ok(rec + SIFT_MAP_RANDOM_READ /
				 (SIFT_RECORD_HEADER_SIZE + REC_LEN),
				 (SIFT_MAP_RANDOM_READ) %
				 (SIFT_RECORD_HEADER_SIZE + REC_LEN), data, 16));
	test_assert(file.map.win_len == SIFT_MAP_WINDOW);

	/* a span right after that window: only the span is read */
	at = file.map.win_off + file.map.win_len;
	for (rec = 0; rec + 1 < REC_COUNT && rec_offset[rec + 1] <= at; rec++) ;
	at = rec_offset[rec + 1] + SIFT_RECORD_HEADER_SIZE + skip;
	data = sift_rfile_get_span(&file, at, want);
	test_assert(data != NULL && rec_bytes_ok(rec + 1, skip, data, want));
	test_assert(file.map.win_off == at && file.map.win_len == want);
	/* (a span inside the window is served from it) */
	data = sift_rfile_get_span(&file, at + 10, 20);
	test_assert(data != NULL && rec_bytes_ok(rec + 1, skip + 10, data, 20));
	test_assert(file.map.win_off == at && file.map.win_len == want);

	/* the same read with sift_rfile_get() continues the window: a
	   whole window read ahead (the contrast the span read avoids) */
	data = sift_rfile_get(&file, at + want, 16);
	test_assert(data != NULL &&
		    rec_bytes_ok(rec + 1, skip + want, data, 16));
	test_assert(file.map.win_len == SIFT_MAP_WINDOW);

	/* past the committed length: nothing */
	test_assert(sift_rfile_get_span(&file, state.len - 4, 8) == NULL);
	test_assert(sift_rfile_error(&file) == NULL);
	test_assert(sift_map_memory(&file.map) <= SIFT_MAP_WINDOW +
		    (size_t)sysconf(_SC_PAGESIZE));
	sift_rfile_close(&file);
	test_end();
}

static void test_pread_open(void) { test_open_reads_little(SIFT_MAP_PREAD); }
static void test_mmap_open(void) { test_open_reads_little(SIFT_MAP_MMAP); }
static void test_pread_span(void) { test_span_reads_span(SIFT_MAP_PREAD); }
static void test_mmap_span(void) { test_span_reads_span(SIFT_MAP_MMAP); }

int main(void)
{
	static void (*const tests[])(void) = {
		test_pread_open,
		test_mmap_open,
		test_pread_span,
		test_mmap_span,
		NULL
	};
	int ret;

	lib_init();
	if (mkdtemp(test_root) == NULL)
		i_fatal("mkdtemp(%s) failed: %m", test_root);
	path = t_strdup_printf("%s/blob", test_root);
	write_file();
	ret = test_run(tests);
	rm_rf(test_root);
	lib_deinit();
	return ret;
}
