/* sift-termfiles: two files kept next to a mailbox's Xapian database that make
   IMAP's substring searches fast.  Both are written in checksummed
   records (sift-record.h), and readers trust only what the database's
   last commit says they hold (SIFT_META_FILES).

   "terms"   Every term of the database, one per line (a record holds
             whole lines).  A substring search scans this file (a few MB,
             one memmem() pass per record) instead of walking Xapian's
             B-tree term by term.  It is a superset of the database's
             terms: a small update appends the new terms of its documents
             before the commit that adds them.  A bulk indexing run stops
             appending (the commit then says "incomplete", and readers use
             Xapian's own term list) and rewrites the file at its end.
   "opaque"  One record per message: its uid and the opaque tokens of its
             pooled headers (see sift-doc-builder.h), which are kept out
             of the term index, separated by spaces and, when they are all
             in the 40 characters such tokens have (A-Z, 0-9, " ._@"),
             packed 3 characters in 2 bytes (format 10; the layout is in
             sift-termfiles.c, "opaque records").  A search finds a needle
             in the packed text without unpacking it.  This file is their
             only copy; it is appended before each commit and rewritten
             without expunged messages when the index is compacted.

   An extra term or line can't make a search wrong (it only names
   documents that no longer match anything); a missing one could, which is
   why a file that fails its checks is never used (see sift-record.h). */
#ifndef SIFT_TERMFILES_H
#define SIFT_TERMFILES_H

#include "seq-range-array.h"
#include "sift-xapian.h"

struct sift_files_state;
struct sift_file_state;

#define SIFT_TERMS_FILE "terms"
#define SIFT_OPAQUE_FILE "opaque"

struct sift_termfiles;
struct sift_termfiles_writer;

struct sift_termfiles_term {
	const char *str;
	size_t len;
};

/* A family of terms: those starting with prefix, whose "rest" follows
   the prefix or, if sep != '\0', the first sep after it. */
struct sift_termfiles_prefix {
	const char *prefix;
	char sep;
};
ARRAY_DEFINE_TYPE(sift_termfiles_term, struct sift_termfiles_term);

/* Open the files in dir and check their headers and sizes against the
   committed state st.  Returns 1, 0 if a file is damaged (error_r says
   which and how), or -1 with error_r. */
int sift_termfiles_open(const char *dir, const struct sift_files_state *st,
		   struct sift_termfiles **dict_r, const char **error_r);
void sift_termfiles_close(struct sift_termfiles **dict);
/* Does the terms file hold every term of the index? */
bool sift_termfiles_terms_complete(const struct sift_termfiles *dict);
/* A file's records are verified before its first scan; if that failed,
   what is wrong (the scan found nothing, and the dictionary must not be
   trusted), else NULL. */
const char *sift_termfiles_damage(const struct sift_termfiles *dict);
/* A read of a file failed (a system error such as EIO or ENOMEM, not
   damage): the scans since found only part of what they looked for and
   must not be used.  NULL if none did. */
const char *sift_termfiles_read_error(const struct sift_termfiles *dict);
/* A warning to log once: the cache of the terms file's filters (the
   grams file) had damaged parts, which the scans read around.  NULL if
   there is nothing (new) to say. */
const char *sift_termfiles_grams_warning(struct sift_termfiles *dict);
/* Append to terms_r the terms (copied to the data stack: the file is
   read through a moving window) of any of the prefix families whose
   rest contains needle.  One pass over the file,
   however many families. */
void sift_termfiles_match_terms(struct sift_termfiles *dict,
			   const struct sift_termfiles_prefix *prefixes,
			   unsigned int prefix_count,
			   const char *needle, size_t needle_len,
			   ARRAY_TYPE(sift_termfiles_term) *terms_r);
/* Add to uids the messages with an opaque token containing needle. */
void sift_termfiles_match_opaque(struct sift_termfiles *dict, const char *needle,
			    size_t needle_len, ARRAY_TYPE(seq_range) *uids);

/* Writer side; used only while holding the database's write lock.
   st is the database's committed state.  Returns 1, 0 if a committed
   file is damaged (error_r), or -1 with error_r. */
int sift_termfiles_writer_open(const char *dir, const struct sift_files_state *st,
			  mode_t mode, struct sift_termfiles_writer **writer_r,
			  const char **error_r);
void sift_termfiles_writer_close(struct sift_termfiles_writer **writer);
/* Is the terms file complete (so that appending keeps it complete)? */
bool sift_termfiles_writer_terms_complete(const struct sift_termfiles_writer *writer);
/* The terms file will not be kept complete from now on; it must be
   rewritten (sift_termfiles_write_terms()) before it is again.  Readers learn
   it from the next commit. */
void sift_termfiles_writer_set_incomplete(struct sift_termfiles_writer *writer);
/* Append "term\n" lines. */
int sift_termfiles_writer_add_terms(struct sift_termfiles_writer *writer,
			       const char *lines, size_t len,
			       const char **error_r);
/* Append the opaque tokens of uid (newline-separated). */
int sift_termfiles_writer_add_opaque(struct sift_termfiles_writer *writer, uint32_t uid,
				const char *tokens, size_t len,
				const char **error_r);
/* Before a commit: make the appended data durable (if do_fsync). */
int sift_termfiles_writer_sync(struct sift_termfiles_writer *writer, bool do_fsync,
			  const char **error_r);
/* The terms and opaque parts of the state to commit. */
void sift_termfiles_writer_state(const struct sift_termfiles_writer *writer,
			    struct sift_files_state *st);
/* Rewrite the terms file of dest_dir from db's term list; *st_r is the
   new file's state.  dest_dir may be the writer's own directory (then
   the writer continues with the new file, complete) or a compacted
   copy. */
int sift_termfiles_write_terms(struct sift_termfiles_writer *writer,
			  struct sift_xdb *db, const char *dest_dir,
			  struct sift_file_state *st_r, const char **error_r);
/* Copy the opaque file of the writer's directory to dest_dir, keeping
   only lines of uids in keep. */
int sift_termfiles_write_opaque(struct sift_termfiles_writer *writer,
			   const struct sift_uids *keep, const char *dest_dir,
			   struct sift_file_state *st_r, const char **error_r);

#endif
