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
   (1.3 MB at 30,000 messages); the cached filters of a process take at
   most SIFT_GRAM_MAX_BYTES together (a filter that grows past what the
   others leave evicts the least recently used ones first; one that
   alone reaches it covers no more records, the rest is scanned as
   before), which bounds the memory whatever the mailbox and however many
   mailboxes a session searches.  Building them costs about four
   scans of the file, once per process and file.

   The writer that rewrites the terms file (sift_termfiles_write_terms())
   makes the filters of the new file as it writes it and saves them to
   SIFT_GRAMS_FILE next to it (sift_gramfile_writer), so that a session's
   first searches don't build them: each imap process used to spend its
   first four substring searches building a quarter each (about 35 ms
   each at 30,000 messages, four times that at 100,000).  The file is an
   optional cache, not part of the index's format: a missing, stale,
   damaged or older-version one is ignored and the filters are built as
   before.

   The file (SIFTGRM4, layout in sift-gramfilter.c) is bit-sliced and
   read lazily, so that it stays off the imap process's heap: every
   saved block's filter has the same number of bits, and the file holds,
   for each bit position, that bit of every block (a slice, #blocks / 8
   bytes).  A trigram's three bit positions are the same in every block,
   so a search reads three slices per trigram of its string with pread()
   (about 50 KB for a 16-trigram string at 300,000 messages, against the
   whole 17.6 MB file that SIFTGRM3 read and checksummed into the heap
   on each process's first substring search) into a cache of at most
   1 MB per file.  On open a reader reads only the header and the tables
   (the covered records and each block's length and checksum, about 2 %
   of the file) and takes the file only if the header's checksum and the
   tables' verify, it names the terms file's generation, it covers no
   more than the committed bytes, the records chain from the terms
   file's first record and the blocks cut each record exactly, and each
   terms record it describes carries the same length and checksum in the
   terms file: so its filters describe exactly the bytes being searched
   (the records of a generation never change up to its committed
   length).  The slices come in groups, each with its own checksum
   (seeded with the header's checksum, the generation and the group's
   number), verified when the group is read: a group that doesn't
   verify or can't be read counts as all bits set, so the blocks are
   read instead of skipped (a filter may say "maybe" wrongly, never
   "no").  Each block carries the checksum of its bytes, which a search
   checks before it matches them.  Records appended after the file's
   coverage get in-process filters, as before. */
#ifndef SIFT_GRAMFILTER_H
#define SIFT_GRAMFILTER_H

#include <sys/stat.h>

/* target block size (a block holds whole lines; one longer line is a
   block of its own) */
#define SIFT_GRAM_BLOCK_SIZE (16 * 1024)
/* filter memory per process at most (all cached files together: the
   in-process filters' bits, a loaded file's tables and slice cache); a
   saved file's filters take at most 8 times this (a reader holds only
   its tables, about 2 % of it, and at most 1 MB of its slices) */
#define SIFT_GRAM_MAX_BYTES (24 * 1024 * 1024)
/* a search covers at least this many more bytes of the file (else a
   quarter of it: sift-termfiles.c) */
#define SIFT_GRAM_BUILD_MIN (1024 * 1024)
/* files cached per process */
#define SIFT_GRAM_CACHE_FILES 4

/* the saved filters of the terms file, in the same directory */
#define SIFT_GRAMS_FILE "grams"

struct sift_gramfilter;

/* One record of the terms file a saved filter covers: its offset, its
   payload length and its checksum (sift_record_checksum()). */
struct sift_gram_record {
	uint64_t offset;
	uint32_t len;
	uint32_t sum;
};
ARRAY_DEFINE_TYPE(sift_gram_record, struct sift_gram_record);

/* The filter of the file (st: its stat at open; gen: its generation),
   created empty if it is not cached (evicting the least recently used
   one). */
struct sift_gramfilter *
sift_gramfilter_get(const struct stat *st, uint64_t gen);
/* A filter of its own, outside the cache (tests). */
struct sift_gramfilter *sift_gramfilter_new(void);
void sift_gramfilter_free(struct sift_gramfilter **filter);
/* Make room in the cache's budget for bytes more of filter's memory,
   evicting the least recently used other filters as needed.  FALSE if
   filter's memory and bytes alone exceed SIFT_GRAM_MAX_BYTES. */
bool sift_gramfilter_reserve(struct sift_gramfilter *filter, size_t bytes);
/* TRUE the first time it is called for filter: whether to try loading
   the saved filters (once per cached filter, whatever the outcome). */
bool sift_gramfilter_want_import(struct sift_gramfilter *filter);
/* The writer of a SIFT_GRAMS_FILE (at path, created or truncated; and
   an unlinked temporary file beside it): the filters of the records
   added, made block by block (the same blocks as
   sift_gramfilter_add_record() cuts, 16,384 bits each) and written to
   the temporary file as they are made, then sliced into the file by
   sift_gramfile_writer_finish(), so that its memory stays a few MB (the
   records' and blocks' tables, 2 MB of slices at a time) whatever the
   terms file's size. */
struct sift_gramfile_writer;
int sift_gramfile_writer_open(const char *path, mode_t mode,
			      struct sift_gramfile_writer **writer_r,
			      const char **error_r);
/* Cover the terms record at offset (payload data, len, checksum sum;
   next: the offset after it, offset + SIFT_RECORD_HEADER_SIZE + len; the
   first one at SIFT_RECORD_FILE_HEADER_SIZE) if it is the next one and
   the file's filters stay within 8 times SIFT_GRAM_MAX_BYTES.  Returns
   TRUE if it is now covered. */
bool sift_gramfile_writer_add_record(struct sift_gramfile_writer *writer,
				     uint64_t offset, uint64_t next,
				     const unsigned char *data, uint32_t len,
				     uint32_t sum);
/* Write the rest of the file (for the terms file of generation gen) and
   close it.  *empty_r: no record was covered (the file is of no use).
   Returns 0, or -1 if writing failed (error_r why). */
int sift_gramfile_writer_finish(struct sift_gramfile_writer **writer,
				uint64_t gen, bool *empty_r,
				const char **error_r);
/* Close and free without finishing (the caller removes the file). */
void sift_gramfile_writer_abort(struct sift_gramfile_writer **writer);
/* Fill filter, which covers nothing yet, from the SIFT_GRAMS_FILE open
   at *fd if its header and tables verify, it names generation gen,
   covers at most limit bytes, and record_ok() confirms each covered
   record against the terms file.  Only the header and the tables (the
   records and blocks, about 2 % of the file) are read: the filters'
   slices are read when a query needs them.  Returns TRUE if loaded: the
   filter then owns the fd (*fd set to -1) or has no use for it (*fd
   left, to close); else the filter is unchanged and error_r says
   why. */
bool sift_gramfilter_import(struct sift_gramfilter *filter, uint64_t gen,
			    uint64_t limit, int *fd,
			    bool (*record_ok)(void *context,
					      const struct sift_gram_record *rec),
			    void *context, const char **error_r);
/* Loaded filters leave their records' checksums to be verified one by
   one (sift-termfiles.c): a search that reads three blocks through the
   filters hashes those three blocks (sift_gramfilter_verify_block()),
   one that scans a loaded record (a reader of an older snapshot) the
   record, not the whole terms file (40 MB at 100,000 messages: the
   first search of each session spent about 60 ms on it).  The records
   after the loaded ones are verified whole, as before
   (sift_gramfilter_tail_checked()). */
bool sift_gramfilter_loaded(const struct sift_gramfilter *filter);
/* If the block at offset is in a loaded record not verified yet: TRUE,
   and that record's offset (verify it, then
   sift_gramfilter_set_verified()). */
bool sift_gramfilter_unverified(const struct sift_gramfilter *filter,
				uint64_t offset, uint64_t *record_r);
void sift_gramfilter_set_verified(struct sift_gramfilter *filter,
				  uint64_t record);
/* The blocks of loaded filters carry the checksum of their bytes in the
   terms file (the writer's): a search verifies each such block the first
   time it reads it (sift_gramfilter_verify_block()), not the whole
   record that holds it (records are 256 KB: the first search of a
   session at 100,000 messages read 16 MB through 1 MB windows and hashed
   4 MB to check the records of the few blocks it matched).  block_idx:
   sift_gramfilter_next()'s *iter minus one.  TRUE if the block is a
   loaded one not verified yet. */
bool sift_gramfilter_block_unverified(const struct sift_gramfilter *filter,
				      unsigned int block_idx);
/* Check a loaded block's bytes (data: its len bytes as read) against its
   checksum; TRUE (and remembered) if they match, FALSE if the terms file
   is damaged there. */
bool sift_gramfilter_verify_block(struct sift_gramfilter *filter,
				  unsigned int block_idx,
				  const unsigned char *data);
/* Up to where the records after the loaded ones are verified (0: none
   yet); set after verifying them. */
uint64_t sift_gramfilter_tail_checked(const struct sift_gramfilter *filter);
void sift_gramfilter_set_tail_checked(struct sift_gramfilter *filter,
				      uint64_t upto);
/* Set the size of a loaded filter's cache of slices (0: the default;
   tests). */
void sift_gramfilter_set_slice_cache(size_t bytes);
/* Slices a loaded filter read from the file, and those of them that
   didn't verify or couldn't be read (tests). */
void sift_gramfilter_slice_stats(const struct sift_gramfilter *filter,
				 unsigned int *reads_r,
				 unsigned int *damaged_r);
/* The number of slice groups of a loaded filter's grams file that
   didn't verify or couldn't be read, the first time there are any for
   this filter (it lives per process and terms generation), else 0: for
   one warning in the log (the search itself stays exact: their blocks
   are read). */
unsigned int sift_gramfilter_take_damage_report(struct sift_gramfilter *filter);
/* Set the budget (0: SIFT_GRAM_MAX_BYTES; tests). */
void sift_gramfilter_set_budget(size_t bytes);
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
bool sift_gramfilter_next(struct sift_gramfilter *filter,
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
