/* sift-index-private.h: what the files of one mailbox's index share
   (sift-index.c: opening, locking, permissions, metadata, commits,
   storing documents; sift-index-compact.c: the end of a writer's run,
   compaction and rebuilds).  Nothing else includes it. */
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
	bool batch_dirty;

	/* writer: builds the documents it stores */
	struct sift_doc_builder *builder;
};

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
