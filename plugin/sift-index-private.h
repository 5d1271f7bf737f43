/* sift-index-private.h: what the files of one mailbox's index share
   (sift-index.c: opening, locking, permissions, metadata, commits,
   storing documents; sift-index-compact.c: the end of a writer's run,
   compaction and rebuilds; sift-index-run.c: bulk runs;
   sift-index-rewind.c: a mailbox taken back under its index).  Nothing
   else includes it. */
#ifndef SIFT_INDEX_PRIVATE_H
#define SIFT_INDEX_PRIVATE_H

#include "sift-index.h"
#include "sift-record.h"

struct sift_termfiles_writer;
struct sift_phrase_filter_writer;
struct sift_doc_builder;

struct sift_index {
	struct sift_fts_backend *backend;
	struct mailbox *box;
	char *path;
	/* umask that gives created files the mailbox's permissions */
	mode_t create_umask;
	struct sift_xdb *db;
	struct sift_termfiles_writer *dict;
	struct sift_phrase_filter_writer *gaps;
	struct sift_buf new_terms;
	bool writable;
	/* why the index can't be used, if it is damaged (not merely of
	   another format) */
	char *damage;
	/* parent of the named events (sift-events.h): "mailbox" set, and
	   created when the index is opened, so an event ending the writer
	   has the writer's lifetime as its duration */
	struct event *event;

	/* the side files' committed state (SIFT_META_FILES) */
	struct sift_files_state files;

	/* expunged UIDs whose postings remain (SIFT_META_EXPUNGED) */
	ARRAY_TYPE(seq_range) expunged;
	bool expunged_dirty;
	/* size of the expunge queue at its last takeover: cut after the
	   next commit (sift_expunge_queue_trim()) */
	uoff_t queue_taken;

	/* last_uid as stored, and as it will be at the next commit */
	uint32_t stored_last_uid, batch_last_uid;
	unsigned int batch_docs, docs_added, batch_expunges;
	uoff_t batch_bytes;
	/* estimated memory of the batch's postings Xapian buffers until
	   the commit (sift_index_doc_memory()) */
	uoff_t batch_mem;
	/* the batch holds a large message (sift_index_doc_end()) */
	bool batch_large;
	bool batch_dirty;

	/* writer: builds the documents it stores */
	struct sift_doc_builder *builder;

	/* a bulk run (sift-index-run.c): set once the run has added
	   compact_after messages; from then on documents go to run
	   databases, merged into the index at the run's end */
	bool bulk;
	/* run databases made (<path>.run-1 .. run-<run_dbs>), the one being
	   filled (NULL between two) and its documents, the UIDs they hold */
	unsigned int run_dbs, run_db_docs;
	struct sift_xdb *run_db;
	ARRAY_TYPE(seq_range) run_uids;
	/* the highest document id in the index or a run database: a
	   merge needs each source's ids above the previous one's, so a
	   document at or below it ends the bulk run (run_floor_set: known) */
	uint32_t run_floor;
	bool run_floor_set;
};

/* Commit batches per run database (25,000 messages with the default
   fts_sift_commit_batch = 250): small enough that committing a batch
   into it stays cheap, few enough that a merge has few sources: Xapian's
   merge keeps each source's part of a posting list as a chunk of its
   own, so every source adds a chunk to each term it shares with another
   (10,000 messages per run database made the index of 100,000 messages
   12 % larger, 351 MB against 313).  At most SIFT_RUN_MAX_DBS are merged
   at once: then the index is checkpointed (merged, committed) and the
   run goes on. */
#define SIFT_RUN_DB_BATCHES 100
#define SIFT_RUN_MAX_DBS 8

/* sift-index-run.c */
bool sift_index_run_active(const struct sift_index *index);
unsigned int sift_index_run_db_count(const struct sift_index *index);
/* Does a run database hold uid? */
bool sift_index_run_has(const struct sift_index *index, uint32_t uid);
/* The run databases' paths (on the data stack), oldest first. */
const char *const *sift_index_run_db_paths(struct sift_index *index,
					   unsigned int *count_r);
/* Store the document in the current run database (creating it).  The
   mailbox's umask must be in effect.  Returns 0 or -1 (logged). */
int sift_index_run_add(struct sift_index *index, uint32_t uid,
		       const struct sift_xdoc *doc);
/* Commit the current run database (no fsync), closing it when full.
   Returns 0 or -1 (logged). */
int sift_index_run_commit(struct sift_index *index);
/* Close the current run database (its uncommitted documents are lost). */
void sift_index_run_close(struct sift_index *index);
/* Close and delete every run database (after a merge, or discarding
   the run). */
void sift_index_run_remove(struct sift_index *index);
/* Delete run databases a killed writer left next to the index.  Only
   under the index's write lock. */
void sift_index_run_remove_leftovers(struct sift_index *index);
void sift_index_run_deinit(struct sift_index *index);

/* sift-index-compact.c: merge the run databases into the index (a
   compaction of the index and them together, swapped in), committing
   last_uid and the side files' state in the merged copy.  The index's
   handle then refers to the old copy.  Returns 0 or -1 (logged). */
int sift_index_compact_locked(struct sift_index *index, bool rebuild);
/* Set the metadata every commit of db records (format, side files,
   text engine, header selection, last_uid, expunges if changed). */
int sift_index_set_commit_meta(struct sift_index *index, struct sift_xdb *db,
			       const struct sift_files_state *files,
			       uint32_t last_uid, const char **error_r);

/* The umask, in one place.  Every file fts-sift (or Xapian, for it)
   creates must get the mailbox's permissions (see the top of
   sift-index.c), so every call that may create files runs between
   sift_umask_push() and sift_umask_pop(), and nothing else calls
   umask().  The umask is process-wide: a push without its pop would
   change Dovecot's own for everything after, so pops are checked to
   pair with pushes. */
struct sift_umask {
	mode_t old_umask;
	bool pushed;
};
/* the umask that gives files and directories box's permissions */
mode_t sift_box_create_umask(struct mailbox *box);
void sift_umask_push(mode_t mask, struct sift_umask *saved_r);
void sift_umask_pop(struct sift_umask *saved);

/* Log a failed Xapian call on the index (op: "Committing", ...), noting
   a full or read-only file system for the backend. */
void sift_index_error(struct sift_index *index, const char *op,
		      const char *error);
/* Log a failure to write a side file (error names the file and cause). */
void sift_index_write_error(struct sift_index *index, const char *error);
/* What SIFT_META_TEXT must say for this process's settings. */
const char *sift_index_text_id(struct sift_fts_backend *backend);
/* Commit with the mailbox's umask in effect.  Returns 0 or -1
   (logged). */
int sift_index_commit_last_uid(struct sift_index *index, uint32_t last_uid);

#endif
