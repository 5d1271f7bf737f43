/* sift-dict: two plain files kept next to a mailbox's Xapian database
   that make IMAP's substring searches fast.

   "terms"   Every term of the database, one per line, after a header line
             "SIFT-TERMS 1 <last_uid>" (10 digits).  A substring search
             scans this file (a few MB, one memmem() pass) instead of
             walking Xapian's B-tree term by term.  It is a superset of
             the database's terms: lines are appended before the commit
             that adds their documents, and never removed until the file
             is rebuilt.  The header says up to which last_uid it is
             complete; when it lags (a bulk indexing run appends nothing
             and rebuilds at its end), readers use Xapian's own term list.
   "opaque"  Lines "<uid> <token> <token>...": the opaque tokens of pooled
             headers (see sift-index.c), which are kept out of the term
             index.  This file is their only copy; it is appended before
             each commit (so it always covers the committed documents) and
             rewritten without expunged messages when the index is
             compacted.

   Neither file can make a search wrong: an extra term or line only names
   documents that no longer match anything, and the only way a term could
   be missing is handled by the header check. */
#ifndef SIFT_DICT_H
#define SIFT_DICT_H

#include "seq-range-array.h"
#include "sift-xapian.h"

#define SIFT_DICT_TERMS_FILE "terms"
#define SIFT_DICT_OPAQUE_FILE "opaque"

struct sift_dict;
struct sift_dict_writer;

struct sift_dict_term {
	const char *str;
	size_t len;
};

/* A family of terms: those starting with prefix, whose "rest" follows
   the prefix or, if sep != '\0', the first sep after it. */
struct sift_dict_prefix {
	const char *prefix;
	char sep;
};
ARRAY_DEFINE_TYPE(sift_dict_term, struct sift_dict_term);

/* Map the files in dir.  Missing files are empty.  Returns 0, or -1 with
   error_r. */
int sift_dict_open(const char *dir, struct sift_dict **dict_r,
		   const char **error_r);
void sift_dict_close(struct sift_dict **dict);
/* Does the terms file hold every term of an index with this last_uid? */
bool sift_dict_terms_complete(const struct sift_dict *dict, uint32_t last_uid);
/* Append to terms_r the terms (pointing into the map) of any of the
   prefix families whose rest contains needle.  One pass over the file,
   however many families. */
void sift_dict_match_terms(struct sift_dict *dict,
			   const struct sift_dict_prefix *prefixes,
			   unsigned int prefix_count,
			   const char *needle, size_t needle_len,
			   ARRAY_TYPE(sift_dict_term) *terms_r);
/* Add to uids the messages with an opaque token containing needle. */
void sift_dict_match_opaque(struct sift_dict *dict, const char *needle,
			    size_t needle_len, ARRAY_TYPE(seq_range) *uids);

/* Writer side; used only while holding the database's write lock.
   last_uid is the database's committed last_uid. */
int sift_dict_writer_open(const char *dir, uint32_t last_uid, mode_t mode,
			  struct sift_dict_writer **writer_r,
			  const char **error_r);
void sift_dict_writer_close(struct sift_dict_writer **writer);
/* Is the terms file complete (so that appending keeps it complete)? */
bool sift_dict_writer_terms_complete(const struct sift_dict_writer *writer);
/* The terms file will not be kept complete from now on; it must be
   rewritten (sift_dict_write_terms()) before it is again.  Returns 0, or
   -1 with error_r if readers could not be told (then nothing may be
   committed that the file lacks). */
int sift_dict_writer_set_incomplete(struct sift_dict_writer *writer,
				    const char **error_r);
/* Append "term\n" lines. */
int sift_dict_writer_add_terms(struct sift_dict_writer *writer,
			       const char *lines, size_t len,
			       const char **error_r);
/* Append the opaque tokens of uid (newline-separated). */
int sift_dict_writer_add_opaque(struct sift_dict_writer *writer, uint32_t uid,
				const char *tokens, size_t len,
				const char **error_r);
/* Before a commit: make the appended data durable (if do_fsync). */
int sift_dict_writer_sync(struct sift_dict_writer *writer, bool do_fsync,
			  const char **error_r);
/* After a commit with last_uid: record it in the terms header (if the
   file is complete). */
int sift_dict_writer_committed(struct sift_dict_writer *writer,
			       uint32_t last_uid, const char **error_r);
/* Rewrite the terms file of dest_dir from db's term list, complete up to
   last_uid.  dest_dir may be the writer's own directory (then the writer
   continues with the new file) or a compacted copy. */
int sift_dict_write_terms(struct sift_dict_writer *writer,
			  struct sift_xdb *db, const char *dest_dir,
			  uint32_t last_uid, const char **error_r);
/* Copy the opaque file of the writer's directory to dest_dir, keeping
   only lines of uids in keep. */
int sift_dict_write_opaque(struct sift_dict_writer *writer,
			   const struct sift_uids *keep, const char *dest_dir,
			   const char **error_r);

/* File helpers, shared with sift-gaps.  A missing file maps as empty. */
struct sift_map {
	const char *data;
	size_t size;
};
int sift_map_file(const char *path, struct sift_map *map_r,
		  const char **error_r);
void sift_unmap(struct sift_map *map);
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
