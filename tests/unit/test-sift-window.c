/* Unit test of reading side files through a bounded window (sift-file.h):
   a file much larger than the process's address-space limit is walked
   record by record and binary-searched, with both window strategies
   (pread, mmap), every record compared with a reference generated again
   from its index; records larger than the window and records straddling
   window boundaries are included.  Then the real opaque scan
   (sift-termfiles) runs on a large opaque file under the same limit.

   The limit is set with setrlimit(RLIMIT_AS) to the process's VSZ plus
   64 MB, after the file is written: mapping the file whole must fail
   under it (checked, so the test can't pass with a limit that limits
   nothing), and every read must work.  Under valgrind and the
   sanitizers (which reserve address space of their own) the same checks
   run on a smaller file without the limit (said on stdout).

   SIFT_TEST_WINDOW_MB sets the file size (default 300); the times of
   each strategy are printed (the "Memory" section of
   doc/measurements.md quotes them). */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-file.h"
#include "sift-record.h"
#include "sift-termfiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <valgrind/valgrind.h>

static char test_root[] = "/tmp/test-sift-window.XXXXXX";
static bool limited;
static uint64_t file_mb = 300;

/* the records: a key (2 * index, so odd keys are absent) and bytes that
   follow from the index */
struct rec {
	uint64_t offset;
	uint32_t len;
};
static struct rec *recs;
static unsigned int rec_count;
static struct sift_file_state file_state;
static uint32_t max_record;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ULL;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dULL;
	x ^= x >> 33;
	return x;
}

/* The length of record i: mostly 100 bytes to 8 KB, every 397th 1-3.5 MB
   (larger than the window) */
static uint32_t rec_len(unsigned int i)
{
	uint64_t h = mix(i + 1);

	if (i % 397 == 50)
		return 1024 * 1024 + (uint32_t)(h % (2560 * 1024));
	return 100 + (uint32_t)(h % 8000);
}

static void rec_fill(unsigned int i, unsigned char *buf, uint32_t len)
{
	uint32_t key = 2 * i;
	uint64_t state = mix(i * 0x9E3779B97F4A7C15ULL + 7);

	memcpy(buf, &key, sizeof(key));
	for (uint32_t j = sizeof(key); j < len; j++) {
		if ((j & 7) == 4)
			state = mix(state + j);
		buf[j] = (unsigned char)(state >> ((j & 7) * 8));
	}
}

static bool rec_equal(unsigned int i, const unsigned char *data, uint32_t len)
{
	unsigned char *want;
	bool ret;

	if (len != recs[i].len)
		return FALSE;
	want = i_malloc(len);
	rec_fill(i, want, len);
	ret = memcmp(want, data, len) == 0;
	i_free(want);
	return ret;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static uint64_t vsz_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	if (f == NULL || fscanf(f, "%lu", &pages) != 1)
		i_fatal("reading /proc/self/statm failed");
	fclose(f);
	return (uint64_t)pages * sysconf(_SC_PAGESIZE);
}

static void write_big_file(const char *path)
{
	struct sift_wfile *file;
	const char *error;
	unsigned char *buf = i_malloc(4 * 1024 * 1024);
	uint64_t target = file_mb * 1024 * 1024, pos;
	unsigned int cap = 1024;

	recs = i_new(struct rec, cap);
	if (sift_wfile_replace_begin(path, "blob", 0600, &file, &error) < 0)
		i_fatal("%s", error);
	pos = SIFT_RECORD_FILE_HEADER_SIZE;
	for (rec_count = 0; pos < target; rec_count++) {
		uint32_t len = rec_len(rec_count);

		if (rec_count == cap) {
			recs = i_realloc_type(recs, struct rec, cap, cap * 2);
			cap *= 2;
		}
		rec_fill(rec_count, buf, len);
		if (sift_wfile_append(file, buf, len, NULL, 0, &error) < 0)
			i_fatal("%s", error);
		recs[rec_count].offset = pos;
		recs[rec_count].len = len;
		max_record = I_MAX(max_record, len);
		pos += SIFT_RECORD_HEADER_SIZE + len;
	}
	if (sift_wfile_replace_end(file, TRUE, &error) < 0)
		i_fatal("%s", error);
	sift_wfile_state(file, &file_state);
	sift_wfile_close(&file);
	i_free(buf);
}

/* What one open file may hold: a window, or the largest span read. */
static size_t window_bound(void)
{
	return I_MAX((size_t)SIFT_MAP_WINDOW,
		     max_record + SIFT_RECORD_HEADER_SIZE +
		     (size_t)sysconf(_SC_PAGESIZE));
}

static void test_walk_and_search(enum sift_map_strategy strategy,
				 const char *path)
{
	struct sift_rfile file;
	const unsigned char *data;
	const char *error;
	uint64_t pos = 0, offset;
	uint32_t len;
	unsigned int i = 0, bad = 0, straddling = 0, found = 0, absent = 0;
	size_t peak = 0;
	double t0, t_check, t_walk, t_search = 0;
	const char *name = strategy == SIFT_MAP_MMAP ? "mmap" : "pread";

	test_begin(t_strdup_printf("window %s: verify, walk, binary search",
				   name));
	sift_map_strategy = strategy;
	sift_record_forget_verified();

	t0 = now_ms();
	test_assert(sift_rfile_open(path, "blob", &file_state, TRUE, &file,
				    &error) == 1);
	t_check = now_ms() - t0;

	/* a forward walk: every record, whole, equal to the reference */
	t0 = now_ms();
	while (sift_rfile_next(&file, &pos, &offset, &data, &len)) {
		uint64_t end = offset + SIFT_RECORD_HEADER_SIZE + len;

		if (i >= rec_count || offset != recs[i].offset ||
		    !rec_equal(i, data, len))
			bad++;
		if (offset / SIFT_MAP_WINDOW != (end - 1) / SIFT_MAP_WINDOW)
			straddling++;
		peak = I_MAX(peak, sift_map_memory(&file.map));
		i++;
	}
	t_walk = now_ms() - t0;
	test_assert(sift_rfile_error(&file) == NULL);
	test_assert_idx(bad == 0, bad);
	test_assert(i == rec_count);
	/* the file has records cut by window boundaries, many of them:
	   about two for every three MB (204 in 300 MB, 15 in the 24 MB
	   file used under valgrind and the sanitizers) */
	test_assert_idx(straddling >= 10 && straddling >= file_mb / 4,
			straddling);

	/* binary searches for present (even) and absent (odd) keys, each
	   probe reading a key far from the last: timed alone, then again
	   comparing each record found with the reference */
	for (unsigned int pass = 0; pass < 2; pass++) {
	if (pass == 1)
		t_search = now_ms() - t0;
	else
		t0 = now_ms();
	for (unsigned int n = 0; n < 5000; n++) {
		uint32_t want = (uint32_t)(mix(n + 12345) % (2 * rec_count));
		unsigned int lo = 0, hi = rec_count;
		bool hit = FALSE;

		while (lo < hi) {
			unsigned int mid = lo + (hi - lo) / 2;
			const unsigned char *k;
			uint32_t key;

			k = sift_rfile_get(&file, recs[mid].offset +
					   SIFT_RECORD_HEADER_SIZE, sizeof(key));
			if (k == NULL) {
				bad++;
				break;
			}
			memcpy(&key, k, sizeof(key));
			peak = I_MAX(peak, sift_map_memory(&file.map));
			if (key == want) {
				hit = TRUE;
				if (pass == 0)
					break;
				data = sift_rfile_get(&file, recs[mid].offset +
						      SIFT_RECORD_HEADER_SIZE,
						      recs[mid].len);
				if (data == NULL ||
				    !rec_equal(mid, data, recs[mid].len) ||
				    !sift_rfile_verify(&file, recs[mid].offset))
					bad++;
				break;
			}
			if (key < want)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (hit != (want % 2 == 0))
			bad++;
		if (pass == 1 && hit)
			found++;
		else if (pass == 1)
			absent++;
	}
	}
	test_assert_idx(bad == 0, bad);
	test_assert(found > 0 && absent > 0);
	test_assert(sift_rfile_error(&file) == NULL);
	/* the bound: one window, or the largest record read */
	test_assert(peak <= window_bound());
	/* past the committed length: nothing */
	test_assert(sift_rfile_get(&file, file_state.len - 4, 8) == NULL);
	sift_rfile_close(&file);
	printf("  %s: %u records (%u straddle a 1 MB window boundary, "
	       "largest %u bytes), %llu MB%s: verify %.0f ms, walk %.0f ms, "
	       "5,000 binary searches (probes only) %.0f ms; window peak %zu bytes\n",
	       name, rec_count, straddling, max_record,
	       (unsigned long long)(file_state.len >> 20),
	       limited ? " under RLIMIT_AS" : "", t_check, t_walk, t_search,
	       peak);
	test_end();
}

/* The real TEXT scan of pooled headers' tokens (sift-termfiles) on an
   opaque file bigger than the limit: every token found in exactly its
   message. */
static void test_opaque_scan(const char *dir, unsigned int lines,
			     const struct sift_files_state *st)
{
	struct sift_termfiles *dict;
	ARRAY_TYPE(seq_range) uids;
	const char *error;
	unsigned int bad = 0;

	test_begin("window: opaque scan under the limit");
	sift_map_strategy = SIFT_MAP_PREAD;
	test_assert(sift_termfiles_open(dir, st, &dict, &error) == 1);
	for (unsigned int n = 0; n < 6; n++) {
		/* a token of a message near the start, the middle, the end */
		uint32_t uid = 1 + (uint32_t)((uint64_t)lines * n / 6) +
			(n % 2);
		const char *needle = t_strdup_printf("%016llx%016llx",
			(unsigned long long)mix(uid * 3ULL + 1),
			(unsigned long long)mix(uid * 3ULL + 2));

		t_array_init(&uids, 4);
		sift_termfiles_match_opaque(dict, needle, strlen(needle),
					    &uids);
		if (seq_range_count(&uids) != 1 ||
		    !seq_range_exists(&uids, uid))
			bad++;
	}
	test_assert_idx(bad == 0, bad);
	test_assert(sift_termfiles_damage(dict) == NULL);
	test_assert(sift_termfiles_read_error(dict) == NULL);
	sift_termfiles_close(&dict);
	test_end();
}

static unsigned int write_opaque(const char *dir, struct sift_files_state *st)
{
	struct sift_termfiles_writer *writer;
	struct sift_files_state none;
	const char *error;
	string_t *line = str_new(default_pool, 8192);
	uint64_t target = file_mb * 1024 * 1024 / 2;
	unsigned int uid;

	i_zero(&none);
	i_zero(st);
	if (sift_termfiles_writer_open(dir, &none, 0600, &writer, &error) <= 0)
		i_fatal("%s", error);
	for (uid = 1;; uid++) {
		struct sift_files_state cur;

		str_truncate(line, 0);
		/* one unique token to search for, then about 6 KB of
		   others, as a DKIM signature's would be */
		str_printfa(line, "%016llx%016llx",
			    (unsigned long long)mix(uid * 3ULL + 1),
			    (unsigned long long)mix(uid * 3ULL + 2));
		for (unsigned int k = 0; k < 190; k++) {
			str_printfa(line, " %016llx%016llx",
				    (unsigned long long)mix(uid * 1000003ULL + k),
				    (unsigned long long)mix(uid + k * 77ULL));
		}
		if (sift_termfiles_writer_add_opaque(writer, uid, str_c(line),
						     str_len(line), &error) < 0)
			i_fatal("%s", error);
		if (uid % 1000 == 0) {
			sift_termfiles_writer_state(writer, &cur);
			if (cur.opaque.len >= target)
				break;
		}
	}
	sift_termfiles_writer_state(writer, st);
	sift_termfiles_writer_close(&writer);
	str_free(&line);
	return uid;
}

static const char *blob_path;
static struct sift_files_state opaque_st;
static unsigned int opaque_lines;

static void test_limit_real(void)
{
	uint64_t size = file_state.len;
	int fd;
	void *p;

	/* the limit is real: the file can't be mapped whole */
	test_begin("window: the file can't be mapped whole");
	test_assert(size > 64 * 1024 * 1024 + 1024 * 1024);
	fd = open(blob_path, O_RDONLY);
	test_assert(fd != -1);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	test_assert(p == MAP_FAILED && errno == ENOMEM);
	if (p != MAP_FAILED)
		(void)munmap(p, size);
	if (fd != -1)
		i_close_fd(&fd);
	test_end();
}

static void test_pread_window(void)
{
	test_walk_and_search(SIFT_MAP_PREAD, blob_path);
}

static void test_mmap_window(void)
{
	test_walk_and_search(SIFT_MAP_MMAP, blob_path);
}

/* Window buffers are kept for later maps (sift-file.h: Dovecot 2.4's
   fixed mmap threshold made each one a fresh mapping): a map's window
   buffer survives sift_unmap(), the next map's window reuses it and
   still returns its own file's bytes, at most SIFT_MAP_SPARES are kept,
   and mmap windows are never kept. */
static bool map_bytes_ok(struct sift_map *map, int fd, uint64_t offset)
{
	/* more than SIFT_MAP_RANDOM_READ: a whole window, also as a map's
	   first read */
	static unsigned char want[4 * SIFT_MAP_RANDOM_READ];
	const unsigned char *got;

	if (pread(fd, want, sizeof(want), offset) != (ssize_t)sizeof(want))
		return FALSE;
	got = sift_map_get(map, offset, sizeof(want));
	return got != NULL && memcmp(got, want, sizeof(want)) == 0;
}

static void test_spare_buffers(void)
{
	enum sift_map_strategy old_strategy = sift_map_strategy;
	struct sift_map maps[SIFT_MAP_SPARES + 1];
	const char *error;
	void *kept[2];
	unsigned int i;
	int fd;

	test_begin("window: buffers kept for the next maps");
	sift_map_strategy = SIFT_MAP_PREAD;
	sift_map_spares_free();
	test_assert(sift_map_spare_memory() == 0);
	fd = open(blob_path, O_RDONLY);
	test_assert(fd != -1);
	for (i = 0; i < 2; i++) {
		test_assert(sift_map_file(blob_path, &maps[i], &error) == 0);
		test_assert(map_bytes_ok(&maps[i], fd, (uint64_t)i << 22));
		test_assert(maps[i].mem_size == SIFT_MAP_WINDOW);
		kept[i] = maps[i].mem;
	}
	sift_unmap(&maps[0]);
	sift_unmap(&maps[1]);
	test_assert(sift_map_spare_memory() == 2 * SIFT_MAP_WINDOW);

	/* reused, with this map's bytes (another offset than either) */
	test_assert(sift_map_file(blob_path, &maps[0], &error) == 0);
	test_assert(map_bytes_ok(&maps[0], fd, 9 << 20));
	test_assert(maps[0].mem == kept[0] || maps[0].mem == kept[1]);
	test_assert(sift_map_spare_memory() == SIFT_MAP_WINDOW);
	sift_unmap(&maps[0]);

	/* never more than SIFT_MAP_SPARES kept */
	for (i = 0; i < N_ELEMENTS(maps); i++) {
		test_assert(sift_map_file(blob_path, &maps[i], &error) == 0);
		test_assert(map_bytes_ok(&maps[i], fd, (uint64_t)(i + 1) << 21));
	}
	test_assert(sift_map_spare_memory() == 0);
	for (i = 0; i < N_ELEMENTS(maps); i++)
		sift_unmap(&maps[i]);
	test_assert(sift_map_spare_memory() ==
		    SIFT_MAP_SPARES * SIFT_MAP_WINDOW);

	/* an mmap window is unmapped, not kept */
	sift_map_spares_free();
	sift_map_strategy = SIFT_MAP_MMAP;
	test_assert(sift_map_file(blob_path, &maps[0], &error) == 0);
	test_assert(map_bytes_ok(&maps[0], fd, 0));
	sift_unmap(&maps[0]);
	test_assert(sift_map_spare_memory() == 0);
	sift_map_strategy = old_strategy;
	if (fd != -1)
		i_close_fd(&fd);
	test_end();
}

static void test_opaque(void)
{
	test_opaque_scan(test_root, opaque_lines, &opaque_st);
}

int main(void)
{
	static void (*const limited_tests[])(void) = {
		test_limit_real,
		test_pread_window,
		test_mmap_window,
		test_opaque,
		test_spare_buffers,
		NULL
	};
	const char *env = getenv("SIFT_TEST_WINDOW_MB");
	bool tools = RUNNING_ON_VALGRIND != 0;
	int ret;

#if defined(__SANITIZE_ADDRESS__)
	tools = TRUE;
#endif
	lib_init();
	if (env != NULL && str_to_uint64(env, &file_mb) < 0)
		i_fatal("SIFT_TEST_WINDOW_MB: not a number: %s", env);
	if (tools && env == NULL)
		file_mb = 24;
	if (mkdtemp(test_root) == NULL)
		i_fatal("mkdtemp(%s) failed: %m", test_root);
	blob_path = t_strdup_printf("%s/blob", test_root);
	write_big_file(blob_path);
	opaque_lines = write_opaque(test_root, &opaque_st);

	if (!tools) {
		struct rlimit rl;

		rl.rlim_cur = rl.rlim_max = vsz_bytes() + 64 * 1024 * 1024;
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			i_fatal("setrlimit(RLIMIT_AS) failed: %m");
		limited = TRUE;
		printf("  RLIMIT_AS %llu MB, the file %llu MB, opaque %llu MB\n",
		       (unsigned long long)(rl.rlim_cur >> 20),
		       (unsigned long long)(file_state.len >> 20),
		       (unsigned long long)(opaque_st.opaque.len >> 20));
		ret = test_run(limited_tests);
	} else {
		printf("  under valgrind or a sanitizer: a %llu MB file, "
		       "no RLIMIT_AS (they reserve address space)\n",
		       (unsigned long long)file_mb);
		ret = test_run(limited_tests + 1);
	}
	i_free(recs);
	sift_map_spares_free();
	rm_rf(test_root);
	lib_deinit();
	return ret;
}
