/* grams-rewrite: write the saved trigram filters (SIFT_GRAMS_FILE, the
   layout of this build's sift-gramfilter.c) of a terms file, as the
   writer that rewrites the terms file does, without touching the terms
   file: for measurements (the writer's cost of the file, and an index
   whose terms file stays the same with the grams file of one build or
   another).  Covers every record of the file; a reader refuses the
   result if the file holds bytes past its committed length.

   cc -O2 -I/usr/include/dovecot -Iplugin -Iinclude -include config.h \
      tests/bench/grams-rewrite.c plugin/sift-gramfilter.c \
      plugin/sift-record.c plugin/sift-file.c -L/usr/lib/dovecot -ldovecot \
      -o grams-rewrite
   ./grams-rewrite TERMS OUT */
#include "lib.h"
#include "read-full.h"
#include "sift-record.h"
#include "sift-gramfilter.h"

#include <stdio.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	struct sift_gramfile_writer *w;
	unsigned char hdr[SIFT_RECORD_FILE_HEADER_SIZE], rec[8];
	const char *error;
	unsigned char *data = NULL;
	uint64_t gen, pos = SIFT_RECORD_FILE_HEADER_SIZE;
	uint32_t len, sum, alloc = 0;
	unsigned int records = 0, covered = 0;
	struct timespec t0, t1;
	bool empty;
	int fd;

	lib_init();
	if (argc != 3)
		i_fatal("usage: grams-rewrite TERMS OUT");
	fd = open(argv[1], O_RDONLY);
	if (fd == -1 || read_full(fd, hdr, sizeof(hdr)) <= 0)
		i_fatal("read(%s) failed: %m", argv[1]);
	/* the header: magic, kind, generation (sift-record.c) */
	memcpy(&gen, hdr + 16, sizeof(gen));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (sift_gramfile_writer_open(argv[2], 0644, &w, &error) < 0)
		i_fatal("%s", error);
	while (pread_full(fd, rec, sizeof(rec), pos) > 0) {
		memcpy(&len, rec, 4);
		memcpy(&sum, rec + 4, 4);
		if (len > alloc) {
			alloc = len;
			data = i_realloc(data, 0, alloc);
		}
		if (pread_full(fd, data, len, pos + 8) <= 0)
			break;
		if (sift_gramfile_writer_add_record(w, pos, pos + 8 + len,
						    data, len, sum))
			covered++;
		records++;
		pos += 8 + len;
	}
	if (sift_gramfile_writer_finish(&w, gen, &empty, &error) < 0)
		i_fatal("%s", error);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%u records (%u covered), %llu bytes, gen %llu: %.1f ms\n",
	       records, covered, (unsigned long long)pos,
	       (unsigned long long)gen,
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	i_free(data);
	i_close_fd(&fd);
	lib_deinit();
	return 0;
}
