/* sift-xapian: the only door to Xapian.  Plain C, opaque handles, no
   Dovecot types in the API, so it links into a standalone test as easily
   as into the plugin.

   Contract for every function returning enum sift_xstatus: it never lets a
   C++ exception out (Xapian's, std::bad_alloc or anything else; each
   catches everything).  It returns SIFT_X_OK (0), or another status and,
   when error_r != NULL, *error_r = a message naming the operation and
   Xapian's description, e.g. "commit: DatabaseError: ...".  The message
   is on Dovecot's data stack (t_strdup(), the one function of Dovecot's
   lib the wrapper calls), valid until the caller's data stack frame ends,
   like every error_r in Dovecot; on success *error_r is left alone.  The
   status says what kind of failure it was (retry, rebuild, give up).
   Nothing here logs, aborts or retries by itself: the caller logs the
   message once, with its event.

   Document ids are IMAP UIDs: one document per message, and no UID term
   is needed.  Databases are written without term lists (about half the
   size of a full one), so documents can't be deleted or replaced in place:
   a message's content never changes under its UID, expunged UIDs are
   recorded by the caller and filtered out of results, and
   sift_xdb_rebuild() drops their postings when enough have piled up. */
#ifndef SIFT_XAPIAN_H
#define SIFT_XAPIAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sift_xstatus {
	SIFT_X_OK = 0,
	/* The database does not exist (opened without SIFT_XDB_CREATE). */
	SIFT_X_NOT_FOUND,
	/* Another process holds the write lock; retrying later may work. */
	SIFT_X_LOCKED,
	/* A reader fell behind a writer's commits; reopen and retry. */
	SIFT_X_MODIFIED,
	/* The files are corrupt or of an unsupported format: rebuild. */
	SIFT_X_CORRUPT,
	/* Out of memory. */
	SIFT_X_NOMEM,
	/* Anything else (I/O error, disk full, permissions, ...). */
	SIFT_X_ERROR,
};

/* Longest term Xapian's glass backend accepts, in bytes. */
#define SIFT_XAPIAN_MAX_TERM 245

/* A sorted set of UIDs (ascending, no duplicates), malloc'd. */
struct sift_uids {
	uint32_t *uids;
	size_t count, alloc;
};
void sift_uids_free(struct sift_uids *set);

struct sift_xdb;
struct sift_xdoc;

enum sift_xdb_flags {
	/* Open for writing.  Takes Xapian's exclusive writer lock; fails
	   with SIFT_X_LOCKED if another writer has it. */
	SIFT_XDB_WRITE = 0x01,
	/* With SIFT_XDB_WRITE: create the database if it does not exist. */
	SIFT_XDB_CREATE = 0x02,
	/* With SIFT_XDB_WRITE: don't fsync at commit (faster; a crash may
	   lose the last commits but never leaves a half-written one). */
	SIFT_XDB_NO_SYNC = 0x04,
};

enum sift_xstatus sift_xdb_open(const char *path, unsigned int flags,
				struct sift_xdb **db_r,
				const char **error_r);
/* Close and free; *db becomes NULL.  For a writable database,
   changes not yet committed with sift_xdb_commit() are discarded.
   NULL-safe; never fails (a close error is ignored: nothing is lost that
   a commit did not already make durable). */
void sift_xdb_close(struct sift_xdb **db);

/* Reader: move to the latest committed revision. */
enum sift_xstatus sift_xdb_reopen(struct sift_xdb *db,
				  const char **error_r);
/* Writer: make every change since the last commit durable, atomically
   (documents and metadata together). */
enum sift_xstatus sift_xdb_commit(struct sift_xdb *db,
				  const char **error_r);

/* Metadata.  get: *value_r is a malloc'd NUL-terminated string, or NULL
   when the key is unset.  set: an empty value removes the key; it becomes
   durable with the next commit. */
enum sift_xstatus sift_xdb_get_metadata(struct sift_xdb *db, const char *key,
					char **value_r,
					const char **error_r);
enum sift_xstatus sift_xdb_set_metadata(struct sift_xdb *db, const char *key,
					const char *value,
					const char **error_r);

/* Number of documents, and the highest document id ever used (Xapian
   never lowers it, not even after deletes or compaction; 0 if none). */
enum sift_xstatus sift_xdb_stats(struct sift_xdb *db, uint32_t *doc_count_r,
				 uint32_t *last_docid_r,
				 const char **error_r);

/* Documents.  A document collects terms; sift_xdb_add() stores it under
   uid unless uid already has a document, which is then kept as it is
   (*existed_r, may be NULL, says which). */
enum sift_xstatus sift_xdoc_new(struct sift_xdoc **doc_r,
				const char **error_r);
void sift_xdoc_free(struct sift_xdoc **doc);
/* Terms longer than SIFT_XAPIAN_MAX_TERM are refused with SIFT_X_ERROR
   (the caller truncates on a character boundary first); empty terms are
   ignored.  add_term adds a boolean term (wdf 0); add_term_wdf adds wdf
   to the term's within-document frequency (adding the term if it is not
   there).  A document's length is the sum of its terms' wdf. */
enum sift_xstatus sift_xdoc_add_term(struct sift_xdoc *doc, const char *term,
				     size_t len, const char **error_r);
enum sift_xstatus sift_xdoc_add_term_wdf(struct sift_xdoc *doc,
					 const char *term, size_t len,
					 unsigned int wdf,
					 const char **error_r);
/* Number of distinct terms the document holds (the bound
   fts_sift_max_doc_terms counts them, sift-doc-builder.c). */
enum sift_xstatus sift_xdoc_term_count(const struct sift_xdoc *doc,
				       unsigned int *count_r,
				       const char **error_r);
/* Values: a byte string per document in a numbered slot, stored with the
   document (not a term: no posting, no share of its length).  Slots are
   below SIFT_XAPIAN_VALUE_SLOTS, which sift_xdb_rebuild() copies.  Setting
   a slot again replaces its value. */
#define SIFT_XAPIAN_VALUE_SLOTS 4
enum sift_xstatus sift_xdoc_set_value(struct sift_xdoc *doc, unsigned int slot,
				      const void *data, size_t len,
				      const char **error_r);
/* Approximate memory the document holds, in bytes. */
size_t sift_xdoc_size(const struct sift_xdoc *doc);
enum sift_xstatus sift_xdb_add(struct sift_xdb *db, uint32_t uid,
			       const struct sift_xdoc *doc, bool *existed_r,
			       const char **error_r);
/* Does uid have a document? */
enum sift_xstatus sift_xdb_has_doc(struct sift_xdb *db, uint32_t uid,
				   bool *exists_r, const char **error_r);

/* Has some document the term (committed or not, for a writer)? */
enum sift_xstatus sift_xdb_term_exists(struct sift_xdb *db, const char *term,
				       size_t len, bool *exists_r,
				       const char **error_r);

/* Every document id, ascending. */
enum sift_xstatus sift_xdb_all_uids(struct sift_xdb *db,
				    struct sift_uids *out,
				    const char **error_r);

/* Add to out (merging, keeping it sorted and unique) the documents whose
   value in slot has bit `bit` set: bit i is the bit (1 << i % 8) of the
   value's byte i / 8; a shorter value has it clear.  Time: one pass over
   the slot's values. */
enum sift_xstatus sift_xdb_value_bit(struct sift_xdb *db, unsigned int slot,
				     unsigned int bit, struct sift_uids *out,
				     const char **error_r);

/* Add to out (merging, keeping it sorted and unique) those of the
   documents uids (sorted ascending) whose value in slot contains the
   byte string needle (needle_len > 0).  Time: a lookup and a scan of the
   value per document that has one. */
enum sift_xstatus sift_xdb_value_find(struct sift_xdb *db, unsigned int slot,
				      const uint32_t *uids, size_t uid_count,
				      const char *needle, size_t needle_len,
				      struct sift_uids *out,
				      const char **error_r);

/* Call callback for each of the documents uids (sorted ascending, unique)
   that has a value in slot, with the value's bytes (valid during the
   call).  The callback must not throw or jump out.  Time: the value
   stream skipped to each document in turn. */
typedef void sift_value_callback_t(void *context, uint32_t uid,
				   const void *data, size_t len);
enum sift_xstatus sift_xdb_values(struct sift_xdb *db, unsigned int slot,
				  const uint32_t *uids, size_t uid_count,
				  sift_value_callback_t *callback,
				  void *context, const char **error_r);

enum sift_match {
	SIFT_MATCH_EXACT,	/* rest == needle */
	SIFT_MATCH_PREFIX,	/* rest starts with needle */
	SIFT_MATCH_SUBSTRING,	/* needle occurs anywhere in rest */
};

/* Add to out (merging, keeping it sorted and unique) the documents that
   hold a term made of `prefix` followed by a "rest" that matches needle
   as `match` says.  If sep is not '\0', the rest starts after the first
   sep following the prefix (for term families such as "H<name>:<word>",
   searched across every <name>); terms without sep are skipped.
   *terms_r (may be NULL) gets the number of distinct terms that matched. */
enum sift_xstatus sift_xdb_match(struct sift_xdb *db, const char *prefix,
				 char sep, const char *needle,
				 size_t needle_len, enum sift_match match,
				 struct sift_uids *out, unsigned int *terms_r,
				 const char **error_r);

/* A growable byte buffer filled by the wrapper (malloc'd). */
struct sift_buf {
	char *data;
	size_t len, alloc;
};
void sift_buf_free(struct sift_buf *buf);

/* Append to out each term of doc that db does not hold yet (as seen by
   this handle, including its uncommitted changes), followed by '\n'.
   Call before sift_xdb_add() of doc. */
enum sift_xstatus sift_xdb_new_terms(struct sift_xdb *db,
				     const struct sift_xdoc *doc,
				     struct sift_buf *out,
				     const char **error_r);

/* Call callback for every term of db in sorted order; a non-zero return
   stops the walk and is returned in *cb_ret_r (0 otherwise). */
typedef int sift_term_callback_t(void *context, const char *term, size_t len);
enum sift_xstatus sift_xdb_each_term(struct sift_xdb *db,
				     sift_term_callback_t *callback,
				     void *context, int *cb_ret_r,
				     const char **error_r);

/* Add to out (merging) the documents holding any of the terms. */
enum sift_xstatus sift_xdb_terms_docs(struct sift_xdb *db,
				      const char *const terms[],
				      const size_t term_lens[],
				      unsigned int term_count,
				      struct sift_uids *out,
				      const char **error_r);

/* Compact the database at src_path into dest_path (which must not
   exist), merging its B-trees into a minimal, fully packed form. */
enum sift_xstatus sift_xdb_compact(const char *src_path, const char *dest_path,
				   const char **error_r);
/* Compact the databases at src_paths (at least one; their document ids
   must not overlap: each source's range of ids lies wholly before or
   after every other's) into one at dest_path (which must not exist), the
   ids kept.  Metadata: a key set in several sources gets the first
   source's value.  Cost: one pass over the sources' posting lists, so
   merging many small databases costs about what compacting one database
   of their total size does. */
enum sift_xstatus sift_xdb_merge(const char *const src_paths[],
				 unsigned int src_count,
				 const char *dest_path,
				 const char **error_r);

/* Write into dest_path (which must not exist) a copy of the database at
   src_path without the documents whose ids are in drop (sorted, unique):
   their postings, and terms only they held, are gone; the other postings
   keep their wdf, so documents keep their length, and the documents keep
   their values.  Metadata is copied
   except the key omit_key (NULL: all).  Memory: the list of terms and of
   the documents kept, plus the postings of one window of documents (a
   few million).  Takes about as
   long as indexing the same number of documents' terms; compact the
   result afterwards. */
enum sift_xstatus sift_xdb_rebuild(const char *src_path, const char *dest_path,
				   const uint32_t *drop, size_t drop_count,
				   const char *omit_key,
				   const char **error_r);

/* Append to out, each followed by '\n', the terms that sift_xdb_match()
   with the same arguments would match; if more than max_terms match,
   only max_terms of the shortest of them.  Memory: max_terms terms. */
enum sift_xstatus sift_xdb_list_terms(struct sift_xdb *db, const char *prefix,
				      char sep, const char *needle,
				      size_t needle_len, enum sift_match match,
				      unsigned int max_terms,
				      struct sift_buf *out,
				      const char **error_r);

/* Relevance scores: scores_r[i] := the weight Xapian's BM25 (default
   parameters) gives document uids[i] for the query that ORs the groups
   of terms; the terms with the same groups[] value form one group, weighed
   as if they were one term (OP_SYNONYM: the sum of their wdf in the
   document, and as rare as their union) - the words a substring search
   expanded to in the dictionary.  groups may be NULL: each term its own
   group.  The weight grows with a group's wdf in the document and falls
   with the document's length and with how many documents hold the group.
   0 for a document that holds none of the terms (or only with wdf 0), and
   for ids without a document.  uids must be sorted and unique; a term
   named more than once counts once, in the lowest group naming it; empty
   terms, and terms that no document holds with a wdf (they would only
   make their group look more common), are ignored.  Time: a frequency
   lookup per term, and the postings of the terms with a wdf, skipping to
   the given documents. */
enum sift_xstatus sift_xdb_score(struct sift_xdb *db,
				 const char *const terms[],
				 const size_t term_lens[],
				 const unsigned int groups[],
				 unsigned int term_count,
				 const uint32_t *uids, size_t uid_count,
				 float *scores_r, const char **error_r);

/* Check the structure of every table of the database at path (Xapian's
   own consistency check, as xapian-check does: each B-tree block is read
   and its order and links verified).  Returns SIFT_X_OK with
   *errors_r = the number of problems found (0: consistent), or another
   status (a table missing or unreadable: SIFT_X_CORRUPT) with error_r.
   Reads the whole database once; never writes. */
enum sift_xstatus sift_xdb_check(const char *path, size_t *errors_r,
				 const char **error_r);

/* Static description of a status, e.g. "locked". */
const char *sift_xstatus_str(enum sift_xstatus status);

#ifdef __cplusplus
}
#endif
#endif
