/* sift-gramfilter: per-block n-gram filters over the terms file, so that a
   substring search reads the few blocks that can hold its string instead
   of the whole dictionary.

   Every search string is a substring search (IMAP SEARCH semantics), so
   each BODY/TEXT/FROM/SUBJECT search used to run memmem() over every
   term of the mailbox: 10.7 MB at 30,000 list messages, about 10 ms and
   2,600 page faults per search, growing with the dictionary.  Here the
   terms file is cut into blocks of about SIFT_GRAM_BLOCK_SIZE bytes
   (whole lines) and each block gets a Bloom filter of the trigrams of
   its lines, each tagged with the line's first byte (its term family,
   sift-terms.h).  A search string of three or more bytes then scans
   only the blocks whose filter has all of its trigrams in one of the
   searched families (shorter ones, in most terms anyway, scan all).  A Bloom filter has false positives but no
   false negatives, so a block that holds the string is never skipped:
   the answer is exactly that of the full scan (the blocks read are a
   superset of those with a hit, and the same per-line matching runs on
   them).

   The filters are built in the process, by the searches that scan the
   file (each covers at most a quarter of it more, so that none costs
   much more than the scan it replaces), and kept for the file's later
   searches (an imap
   session searches the same mailbox again and again): a cache of a few
   files, keyed by device, inode and the file's generation (the bytes of
   a generation never change up to its committed length; a rewritten file
   has a new generation).  Records appended later are added when a search
   first meets them.  The filters take an eighth of the terms file
   (1.3 MB at 30,000 messages); past SIFT_GRAM_MAX_BYTES per file no more
   records are covered and the rest is scanned as before, which bounds
   the memory whatever the mailbox.  Building them costs about four
   scans of the file, once per process and file. */
#ifndef SIFT_GRAMFILTER_H
#define SIFT_GRAMFILTER_H

#include <sys/stat.h>

/* target block size (a block holds whole lines; one longer line is a
   block of its own) */
#define SIFT_GRAM_BLOCK_SIZE (16 * 1024)
/* filter memory per file at most */
#define SIFT_GRAM_MAX_BYTES (24 * 1024 * 1024)
/* a search covers at least this many more bytes of the file (else a
   quarter of it: sift-termfiles.c) */
#define SIFT_GRAM_BUILD_MIN (1024 * 1024)
/* files cached per process */
#define SIFT_GRAM_CACHE_FILES 4

struct sift_gramfilter;

/* The filter of the file (st: its stat at open; gen: its generation),
   created empty if it is not cached (evicting the least recently used
   one). */
struct sift_gramfilter *
sift_gramfilter_get(const struct stat *st, uint64_t gen);
/* Drop every cached filter (tests, measurements). */
void sift_gramfilter_forget_all(void);

/* Offset after the last record the filter covers (0: none).  The
   covered records are contiguous from the first record. */
uint64_t sift_gramfilter_covered(const struct sift_gramfilter *filter);
/* Cover the record at offset (payload data, len; next: the offset after
   it) if it is the next one (offset == sift_gramfilter_covered(), or the
   first record when nothing is covered yet) and the size limit allows.
   Returns TRUE if the record is now covered. */
bool sift_gramfilter_add_record(struct sift_gramfilter *filter,
				uint64_t offset, uint64_t next,
				const unsigned char *data, uint32_t len);

/* A search string's trigrams in some families (the first bytes of the
   term prefixes searched). */
struct sift_gram_query {
	bool usable;
	unsigned int family_count, key_count;
	unsigned char families[8];
	uint64_t keys[8][16];
};
/* Prepare needle for families (their first bytes; an empty prefix, a
   needle under 3 bytes or holding '\n' makes the query unusable: every
   block is read). */
void sift_gram_query_init(struct sift_gram_query *q,
			  const char *const family_prefixes[],
			  unsigned int family_count,
			  const char *needle, size_t needle_len);

/* Iterate the covered blocks, in file order, that may hold the query's
   string, and whose record ends at or before limit (a reader's committed
   length).  Start with *iter = 0.  Returns FALSE at the end; else the
   block's file offset and length (whole lines within one record's
   payload), and *record_next_r the end of the block's record.  With an
   unusable query every covered block is returned. */
bool sift_gramfilter_next(const struct sift_gramfilter *filter,
			  const struct sift_gram_query *q, uint64_t limit,
			  unsigned int *iter, uint64_t *offset_r,
			  uint32_t *len_r);
/* The end of the last covered record that ends at or before limit: where
   a scan continues record by record after the filter's blocks. */
uint64_t sift_gramfilter_resume(const struct sift_gramfilter *filter,
				uint64_t limit);

/* Bytes of memory the filter takes (for tests and the event). */
size_t sift_gramfilter_memory(const struct sift_gramfilter *filter);

#endif
