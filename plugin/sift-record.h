/* sift-record: the framing every side file of an index (terms, opaque,
   gaps) is written in, so that a reader can tell a file it may trust from
   one that was truncated, overwritten with garbage, replaced or lost.

   A file is a 32-byte header - magic, the file's kind, a random 64-bit
   generation chosen when the file was created, and a checksum of those -
   followed by records: a length (uint32), a checksum (uint32) and that
   many bytes of payload.  A record's checksum covers its payload, and is
   seeded with the file's generation, the record's offset and its length,
   so a record moved, copied from another file or cut short does not
   verify.  Numbers are native-endian: like Xapian's own files, these are
   never moved between machines.

   What a file may hold is decided by the Xapian database, not by the file:
   every commit records each file's generation and length in the metadata
   key SIFT_META_FILES, in the same commit as the documents those bytes
   describe.  A reader trusts exactly the committed bytes [0, len) of a
   file whose header carries the committed generation; bytes after them are
   a writer's uncommitted appends (or a crash's leftovers, which the next
   writer cuts off).  So a file that is missing, shorter than committed,
   of another generation, or whose records don't chain exactly up to the
   committed length or don't verify, is damaged - never silently "empty".

   Verifying a file costs one pass of a 64-bit multiply-rotate hash (about
   as fast as reading the bytes); each process remembers up to where a
   file generation has verified, so a search only hashes what was appended
   since its last one. */
#ifndef SIFT_RECORD_H
#define SIFT_RECORD_H

#include "sift-file.h"

#include <sys/stat.h>

#define SIFT_RECORD_FILE_HEADER_SIZE 32
#define SIFT_RECORD_HEADER_SIZE 8
/* no record is larger (a gaps filter is at most 1 MB) */
#define SIFT_RECORD_MAX_SIZE (16 * 1024 * 1024)

/* Metadata key of the committed side-file state (see above). */
#define SIFT_META_FILES "sift.files"

struct sift_file_state {
	/* 0: no file committed (a new index) */
	uint64_t gen;
	/* committed bytes, header included */
	uint64_t len;
};

struct sift_files_state {
	struct sift_file_state terms, opaque, gaps;
	/* the terms file holds every term of the committed documents */
	bool terms_complete;
};

/* "terms:<gen>:<len>:<0|1> opaque:<gen>:<len> gaps:<gen>:<len>" (gen in
   hex).  Returns 0, or -1 if str is not such a state. */
int sift_files_state_parse(const char *str, struct sift_files_state *st_r);
const char *sift_files_state_str(const struct sift_files_state *st);

uint32_t sift_record_sum(uint64_t seed, const void *data, size_t len);
/* The checksum the record at offset of a file of generation gen carries
   in its header when its payload is data (for a side file that describes
   another file's records: sift-gramfilter.h). */
uint32_t sift_record_checksum(uint64_t gen, uint64_t offset,
			      const void *data, uint32_t len);

/* Forget which files this process has verified (for measurements). */
void sift_record_forget_verified(void);

/* Reader: a file checked against its committed state, read through a
   bounded window (sift-file.h: pointers into it are valid until the
   next read of the same file). */
struct sift_rfile {
	struct sift_map map;
	uint64_t gen, len;
	char *path;
	char kind[9];
	/* at open, for the verification cache */
	struct stat st;
	/* every record up to len verified */
	bool checked;
};
/* Map path and check its header and size against st, and with
   verify_all every record up to st->len too (else sift_rfile_check()
   does, when the records are first needed).  kind is the file's name
   (at most 8 bytes).  st->gen == 0: nothing is committed, the file is
   not read and is empty.  Returns 1 (usable), 0 (damaged: error_r says
   how) or -1 (error_r: a system error). */
int sift_rfile_open(const char *path, const char *kind,
		    const struct sift_file_state *st, bool verify_all,
		    struct sift_rfile *file_r, const char **error_r);
/* Verify the record chain and every record's checksum up to the
   committed length (skipping what this process verified before in the
   unchanged file).  FALSE: damaged, error_r says how. */
bool sift_rfile_check(struct sift_rfile *file, const char **error_r);
/* As sift_rfile_check(), but only the records at or after from (a
   record boundary): the caller verifies each record before it from
   its own knowledge of the chain, with sift_rfile_verify() before
   reading it (sift-gramfilter.h's saved filters).  Nothing is cached. */
bool sift_rfile_check_after(struct sift_rfile *file, uint64_t from,
			    const char **error_r);
/* The offset below which this process verified the unchanged file's
   records (the committed length once all are; else what an earlier
   sift_rfile_check() or sift_rfile_set_checked() of it covered, at
   least the file header's end). */
uint64_t sift_rfile_verified_upto(const struct sift_rfile *file);
/* The caller walked the whole record chain up to the committed length
   itself (sift_rfile_next() to exactly that length) and verified every
   record from sift_rfile_verified_upto() on with sift_rfile_verify():
   the file counts as checked, as after sift_rfile_check(), in one pass
   over the file instead of two (sift-phrase-filter.c's uid index). */
void sift_rfile_set_checked(struct sift_rfile *file);
void sift_rfile_close(struct sift_rfile *file);
/* The next record at or after *pos (0 to start); FALSE at the end or
   on a read error (sift_rfile_error(): check it after a walk).
   *offset_r is the record's offset, for sift_rfile_verify().  *data_r
   holds the whole record (also one straddling a window boundary) and is
   valid until the next read of the file (this, sift_rfile_get(),
   sift_rfile_verify()). */
bool sift_rfile_next(struct sift_rfile *file, uint64_t *pos,
		     uint64_t *offset_r, const unsigned char **data_r,
		     uint32_t *len_r);
/* The committed bytes [offset, offset + len), valid until the next read
   of the file; NULL if they are not all committed or a read failed
   (sift_rfile_error()).  len <= SIFT_MAP_MAX_SPAN. */
const unsigned char *
sift_rfile_get(struct sift_rfile *file, uint64_t offset, size_t len);
/* The same, reading no more than those bytes (sift_map_get_span()). */
const unsigned char *
sift_rfile_get_span(struct sift_rfile *file, uint64_t offset, size_t len);
/* The first read of the file that failed (a system error, not damage),
   or NULL.  A walk that ended early because of one saw only part of the
   file: its result must not be used. */
const char *sift_rfile_error(const struct sift_rfile *file);
/* Does the record at offset (from sift_rfile_next()) verify?  FALSE also
   on a read error. */
bool sift_rfile_verify(struct sift_rfile *file, uint64_t offset);

/* Writer; used only while holding the database's write lock. */
struct sift_wfile;
/* Open path for appending after its committed bytes st (anything after
   them is cut off: uncommitted appends of a crashed writer).  The
   committed bytes are verified first.  st->gen == 0: (re)create the file
   empty, with a new generation.  Returns 1, 0 (damaged, error_r) or -1
   (error_r). */
int sift_wfile_open(const char *path, const char *kind, mode_t mode,
		    const struct sift_file_state *st,
		    struct sift_wfile **file_r, const char **error_r);
/* A new file of a new generation written as path.tmp, renamed over path
   by sift_wfile_replace_end() (the writer then appends to it). */
int sift_wfile_replace_begin(const char *path, const char *kind, mode_t mode,
			     struct sift_wfile **file_r, const char **error_r);
int sift_wfile_replace_end(struct sift_wfile *file, bool ok,
			   const char **error_r);
void sift_wfile_close(struct sift_wfile **file);
/* Append one record of the concatenation of two pieces (data2 may be
   NULL). */
int sift_wfile_append(struct sift_wfile *file, const void *data, size_t len,
		      const void *data2, size_t len2, const char **error_r);
/* Make the appended records durable (before the commit naming them). */
int sift_wfile_sync(struct sift_wfile *file, bool do_fsync,
		    const char **error_r);
/* The state to commit for the file as written so far. */
void sift_wfile_state(const struct sift_wfile *file,
		      struct sift_file_state *st_r);
const char *sift_wfile_path(const struct sift_wfile *file);

#endif
