/* sift-file: the file helpers of the side files (sift-termfiles.h,
   sift-phrase-filter.h, sift-record.h): reading a file through a
   bounded window, opening one for appending, and replacing
   one atomically.  No knowledge of what the files hold. */
#ifndef SIFT_FILE_H
#define SIFT_FILE_H

/* A side file read through a window of bounded size, never mapped
   whole.  The side files grow with the mailbox (at 100,000 list messages
   opaque is about 100 MB, gaps 90 MB; three times that at 300,000), and
   Dovecot limits each process's address space (vsz_limit, 256 MB by
   default for imap and most services): mapping them whole made searching
   a 100,000-message mailbox fail with ENOMEM from mmap() and then kill
   the imap process.  So a reader sees at most one window of each file:

   The bound: one open file takes at most
     max(SIFT_MAP_WINDOW, the largest span asked for + a page)
   of address space and memory, whatever the file's size.  Callers ask
   for whole records (sift-record.h: SIFT_RECORD_MAX_SIZE, 16 MB, caps a
   record; the writers' records are at most 1 MB (a gaps filter) and
   256 KB (terms); an opaque record is one message's line), so in
   practice a file takes SIFT_MAP_WINDOW, and a process reads at most
   three side files at once (terms, opaque, gaps; a compaction one
   source at a time).

   A span that straddles the window's end moves the window to start at
   the span (so a record cut by a window boundary is still returned
   whole, in one piece).  Windows are read with pread() into one buffer
   per file, or mapped with mmap() (sift_map_strategy, for the
   measurements in doc/measurements.md's "Memory" section; pread is the
   default). */
#define SIFT_MAP_WINDOW (1024 * 1024)
/* Window buffers outlive their maps: sift_unmap() keeps the buffer of
   a window-sized pread window (up to SIFT_MAP_SPARES, process-wide) and
   later windows reuse them.  A buffer is made only when none is kept,
   so a process never holds more window buffers than it had maps open at
   once (three, above); they are only not given back between searches.
   Why: Dovecot 2.4 starts every process with
   MALLOC_MMAP_THRESHOLD_=131072 (lib-master: "to reduce long-running
   processes' memory usage"), so glibc serves each 1 MB window with a
   new mmap() and unmaps it when freed: every search that reads a whole
   window paid for faulting in a fresh one (256 page faults, zeroed by
   the kernel; before the 16 KB first reads, about half of a one-word
   search's CPU at 30,000 messages; doc/measurements.md, "Dovecot 2.4:
   per-search cost").  On 2.3 glibc's adaptive threshold already kept them in the
   heap. */
#define SIFT_MAP_SPARES 3
/* The bytes of the kept buffers (tests). */
size_t sift_map_spare_memory(void);
/* Free the kept buffers (plugin deinit). */
void sift_map_spares_free(void);
/* a read far from the window (a probe of a binary search, a gaps filter
   of a sparse candidate) reads this much instead of a whole window */
#define SIFT_MAP_RANDOM_READ (16 * 1024)

enum sift_map_strategy {
	SIFT_MAP_PREAD,
	SIFT_MAP_MMAP,
};
/* the process's strategy (tests and measurements switch it) */
extern enum sift_map_strategy sift_map_strategy;

struct sift_map {
	int fd;
	/* the file's size when opened */
	uint64_t size;
	/* the window: bytes [win_off, win_off + win_len) at win */
	const unsigned char *win;
	uint64_t win_off;
	size_t win_len;
	/* the buffer (pread) or the mapping (mmap) holding the window */
	void *mem;
	size_t mem_size;
	enum sift_map_strategy strategy;
	/* the first read that failed, or NULL */
	char *error;
	char *path;
};
/* Open path for reading.  A missing file opens as empty. */
int sift_map_file(const char *path, struct sift_map *map_r,
		  const char **error_r);
void sift_unmap(struct sift_map *map);
/* The bytes [offset, offset + len) of the file, valid until the next
   sift_map_get() of the same map or sift_unmap().  NULL if they are not
   all in the file (as it was when opened), or len is over
   SIFT_MAP_MAX_SPAN, or a read failed (map->error says why). */
#define SIFT_MAP_MAX_SPAN (64 * 1024 * 1024)
const void *sift_map_get(struct sift_map *map, uint64_t offset, size_t len);
/* The same, reading only those bytes when they are not in the window
   (no read-ahead): for reads known to be sparse, as the blocks a
   search's gram filters leave (sift-termfiles.c), where a window read
   when a block follows the window copied most of the terms file per
   search (about 11 of its 14 MB for BODY "pecti" at 30,000 messages). */
const void *sift_map_get_span(struct sift_map *map, uint64_t offset,
			      size_t len);
/* The address space the map holds now (for tests). */
size_t sift_map_memory(const struct sift_map *map);
/* Open path for appending, creating it with mode; *created_r says if it
   was new. */
int sift_open_append(const char *path, mode_t mode, int *fd_r,
		     bool *created_r, const char **error_r);
/* Write a replacement of path: begin opens path.tmp, end (ok) syncs and
   renames it over path, or (!ok) removes it. */
int sift_replace_file_begin(const char *path, mode_t mode, int *fd_r,
			    const char **error_r);
int sift_replace_file_end(const char *path, int *fd, bool ok,
			  const char **error_r);

#endif
