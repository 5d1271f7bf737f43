/* sift-file: the file helpers of the side files (sift-termfiles.h,
   sift-phrase-filter.h, sift-record.h): mapping a file and reading it
   through a window of pages, opening one for appending, and replacing
   one atomically.  No knowledge of what the files hold. */
#ifndef SIFT_FILE_H
#define SIFT_FILE_H

/* A file mapped read-only.  A missing file maps as empty. */
struct sift_map {
	const char *data;
	size_t size;
	/* sift_map_release() has dropped the pages before this offset */
	size_t released;
};
int sift_map_file(const char *path, struct sift_map *map_r,
		  const char **error_r);
void sift_unmap(struct sift_map *map);
/* A forward walk over the map no longer needs the bytes before offset:
   once they make up SIFT_MAP_WINDOW, drop their pages from the process
   (madvise MADV_DONTNEED; a later read faults them in again from the
   page cache).  The pages of a mapped file count in the process's RSS
   as they are touched, so without this a scan of the opaque or gaps
   file made the RSS of the indexer (compaction copies them) and of a
   searching imap process grow with the mailbox: at 30,000 messages
   30 MB for opaque, 26 MB for gaps.  With it a walk keeps at most
   about one window of each file.  Walks that go backward call
   sift_map_release_restart() first. */
#define SIFT_MAP_WINDOW (1024 * 1024)
void sift_map_release(struct sift_map *map, uint64_t offset);
void sift_map_release_restart(struct sift_map *map);
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
