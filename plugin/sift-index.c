/* sift-index.c: one mailbox's index.

   On disk: <mailbox INDEX dir>/fts-sift/ is a Xapian glass database.  For a
   shared mailbox that is the owner's index directory, so every user the
   mailbox is shared with uses the same index.  Document id = IMAP UID.
   Metadata: sift.format (the term scheme below; another value means the
   index must be rebuilt) and sift.last_uid, always written in the same
   commit as the documents they describe, so a crash can never leave an
   index that claims messages it does not hold.

   Terms: the term scheme (prefixes, flag terms, value slots) is
   defined and explained in sift-terms.h, which search reads too.

   Building a document (terms, values, what the side files keep of it) is
   sift-doc-builder.c's job; this file stores what it built.

   The database has no term lists (DB_NO_TERMLIST): they would double
   its size, and only deleting documents needs them.  An expunge records
   the UID in sift.expunged (committed with everything else); searches
   drop those UIDs from their results, and once they make up a quarter of
   the index (and at least fts_sift_compact_after), or at doveadm fts
   optimize, the database is rebuilt from its own postings without them
   (sift-index-compact.c).  Processes that only sync expunges queue them
   in a file instead of waiting for the write lock
   (sift-expunge-queue.h).

   Side files next to the database: "terms" and "opaque"
   (sift-termfiles.h), "gaps" (sift-phrase-filter.h), their committed
   state in sift.files (sift-record.h).  Small updates append to them
   before committing; a bulk run stops appending to "terms" and
   rewrites it at the end.  Memory is bounded by committing every
   fts_sift_commit_batch messages, fts_sift_commit_size bytes of text,
   or before the batch's buffered postings would pass
   fts_sift_commit_memory (sift_index_doc_memory()).

   Permissions.  One index serves every user of a shared or public
   mailbox, and any of their processes may write it (indexer-workers,
   imap sessions syncing an expunge).  So everything in fts-sift/ gets the
   mailbox's own permissions (mailbox_get_permissions()): the directory is
   created with the mailbox's directory mode and group, setgid when the
   group must be forced (so files created in it later, by Xapian too,
   inherit the group), and files get the mailbox's file mode.  Xapian
   creates its files (tables, iamglass at every commit, the flintlock
   lock file) with the process umask, which is 0077 in Dovecot's mail
   processes; so around every write-side call the umask is set to the
   mailbox's directory mode (sift_index_umask_*), and the side files are
   created under the same umask.  The umask is process-wide but mail
   processes are single-threaded, and it is restored before returning to
   Dovecot. */
#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "str.h"
#include "str-sanitize.h"
#include "hex-binary.h"
#include "write-full.h"
#include "mkdir-parents.h"
#include "unlink-directory.h"
#include "time-util.h"
#include "sleep.h"
#include "mail-storage-private.h"
#include "sift-events.h"
#include "message-address.h"
#include "sift-hdrfilter.h"
#include "sift-text.h"
#include "sift-plan.h"
#include "sift-termfiles.h"
#include "sift-phrase-filter.h"
#include "sift-record.h"
#include "sift-uids.h"
#include "sift-doc-builder.h"
#include "sift-expunge-queue.h"
#include "sift-index-dir.h"
#include "sift-heap.h"
#include "fts-sift-plugin.h"
#include "fts-backend-sift.h"
#include "sift-index-private.h"

#include <stdio.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>

#define SIFT_INDEX_DIR_NAME "fts-sift"
static void sift_index_set_damage(struct sift_index *index,
				  const char *damage)
{
	i_free(index->damage);
	index->damage = i_strdup(damage);
}

/* Is this failure to write the index the file system's refusal (full,
   over quota, read-only, no permission) rather than anything about the
   index?  Xapian's errors and the side files' carry the cause only as
   strerror() text. */
static bool sift_error_is_no_room(const char *msg)
{
	static const int errnums[] = { ENOSPC, EDQUOT, EROFS, EACCES };

	for (unsigned int i = 0; i < N_ELEMENTS(errnums); i++) {
		if (strstr(msg, strerror(errnums[i])) != NULL)
			return TRUE;
	}
	return FALSE;
}

static void sift_index_note_error(struct sift_fts_backend *backend,
				  const char *msg)
{
	if (sift_error_is_no_room(msg))
		backend->index_no_room = TRUE;
}

/* Log a failure to write a side file (error names the file and cause). */
void sift_index_write_error(struct sift_index *index, const char *error)
{
	sift_index_note_error(index->backend, error);
	e_error(index->backend->event, "%s", error);
}

void sift_index_error(struct sift_index *index, const char *op,
		      const char *error)
{
	sift_index_note_error(index->backend, error);
	e_error(index->backend->event, "%s %s (mailbox %s): %s", op,
		index->path, mailbox_get_vname(index->box), error);
}

int sift_index_path(struct mailbox *box, const char **path_r)
{
	const char *dir;
	int ret;

	ret = mailbox_get_path_to(box, MAILBOX_LIST_PATH_TYPE_INDEX, &dir);
	if (ret <= 0) {
		/* no index directory (e.g. INDEX=MEMORY): nothing to keep an
		   index in */
		return ret < 0 ? -1 : 0;
	}
	*path_r = t_strconcat(dir, "/"SIFT_INDEX_DIR_NAME, NULL);
	return 1;
}

/* The umask: see sift-index-private.h. */
static unsigned int sift_umask_depth = 0;

mode_t sift_box_create_umask(struct mailbox *box)
{
	const struct mailbox_permissions *perm = mailbox_get_permissions(box);

	/* files: 0666 & dir mode = the mailbox's file mode (both come from
	   the same stat()); directories: the mailbox's directory mode */
	return 0777 & ~perm->dir_create_mode;
}

/* Set the umask to mask (sift_box_create_umask()). */
void sift_umask_push(mode_t mask, struct sift_umask *saved_r)
{
	saved_r->old_umask = umask(mask);
	saved_r->pushed = TRUE;
	sift_umask_depth++;
}

/* Restore the umask saved_r had before its push. */
void sift_umask_pop(struct sift_umask *saved)
{
	i_assert(saved->pushed);
	i_assert(sift_umask_depth > 0);
	(void)umask(saved->old_umask);
	saved->pushed = FALSE;
	sift_umask_depth--;
}

static struct sift_index *
sift_index_alloc(struct sift_fts_backend *backend, struct mailbox *box,
		 const char *path, bool writable)
{
	struct sift_index *index = i_new(struct sift_index, 1);

	index->backend = backend;
	index->box = box;
	index->path = i_strdup(path);
	index->writable = writable;
	index->event = event_create(backend->event);
	event_add_str(index->event, "mailbox", mailbox_get_vname(box));
	i_array_init(&index->expunged, 16);
	/* (kept: the mailbox may be gone when the index is closed) */
	index->create_umask = sift_box_create_umask(box);
	return index;
}

/* Move a database that can't be used out of the way, keeping a damaged
   one for inspection and deleting one that is only outdated; the caller
   (or the next indexing run) recreates and reindexes.  damage (the reason) is logged as an error: the index was
   damaged; without it the index is only outdated (its own warning was
   logged).  Returns TRUE if this process moved it (another one may have
   been first: then nothing is logged). */
static bool sift_index_move_aside(struct sift_index *index,
				  const char *damage)
{
	const char *dest = t_strdup_printf("%s.broken-%ld-%ld", index->path,
					   (long)time(NULL), (long)getpid());
	const char *error;
	struct event_passthrough *e;

	if (rename(index->path, dest) < 0) {
		if (errno == ENOENT)
			return FALSE;
		if (unlink_directory(index->path, UNLINK_DIRECTORY_FLAG_RMDIR,
				     &error) < 0) {
			e_error(index->backend->event,
				"Couldn't remove unusable index %s: %s",
				index->path, error);
			return FALSE;
		}
		dest = NULL;
	} else if (damage == NULL) {
		/* only outdated (another format, text engine or header
		   selection): nothing in it is worth inspecting, and keeping
		   a copy per settings change would fill the disk */
		if (unlink_directory(dest, UNLINK_DIRECTORY_FLAG_RMDIR,
				     &error) < 0) {
			e_error(index->backend->event,
				"Couldn't remove outdated index %s: %s",
				dest, error);
		} else {
			dest = NULL;
		}
	}
	/* event SIFT_EVENT_MOVED_ASIDE (sift-events.h); "damage" is empty
	   for an index that is only outdated */
	e = event_create_passthrough(index->event)->
		set_name(SIFT_EVENT_MOVED_ASIDE)->
		add_str("path", index->path)->
		add_str("moved_to", dest == NULL ? "" : dest)->
		add_str("damage", damage == NULL ? "" : damage);
	if (damage != NULL && dest != NULL) {
		e_error(e->event(), "Index of mailbox %s is damaged (%s): "
			"moved it to %s, the mailbox will be reindexed",
			mailbox_get_vname(index->box), damage, dest);
	} else if (damage != NULL) {
		e_error(e->event(), "Index of mailbox %s is damaged (%s): "
			"removed %s, the mailbox will be reindexed",
			mailbox_get_vname(index->box), damage, index->path);
	} else if (dest != NULL) {
		e_info(e->event(), "Moved index %s to %s; mailbox %s will be "
		       "reindexed", index->path, dest,
		       mailbox_get_vname(index->box));
	} else {
		e_info(e->event(), "Removed index %s; mailbox %s will be "
		       "reindexed", index->path,
		       mailbox_get_vname(index->box));
	}
	return TRUE;
}

/* Has the database been committed to since index (a reader) opened it,
   in a way that changed its side files?  Then what looked like damage
   may be files replaced after the snapshot was taken. */
static bool sift_index_snapshot_outdated(struct sift_index *index)
{
	struct sift_xdb *db;
	const char *error;
	char *files = NULL;
	bool outdated = FALSE;

	if (index->db == NULL || index->files.opaque.gen == 0)
		return FALSE;
	if (sift_xdb_open(index->path, 0, &db, &error) != SIFT_X_OK)
		return FALSE;
	if (sift_xdb_get_metadata(db, SIFT_META_FILES, &files,
				  &error) == SIFT_X_OK && files != NULL)
		outdated = strcmp(files,
				  sift_files_state_str(&index->files)) != 0;
	free(files);
	sift_xdb_close(&db);
	return outdated;
}

void sift_index_report_damage(struct sift_index *index, const char *reason)
{
	i_assert(!index->writable);

	if (sift_index_snapshot_outdated(index)) {
		e_debug(index->backend->event, "Index %s changed while it "
			"was read (%s): not using it for this search",
			index->path, reason);
		return;
	}

	/* A writer in the middle of replacing a file (or of a commit
	   that names it) looks like damage to a reader that opened the
	   database just before: leave it to the writer, which checks
	   everything when it opens the index. */
	if (sift_index_dir_writer_active(index->path)) {
		e_debug(index->backend->event, "Index %s looks damaged (%s) "
			"while a writer holds it: not using it for this "
			"search", index->path, reason);
		return;
	}
	(void)sift_index_move_aside(index, reason);
}

static int sift_index_mkdir(struct sift_index *index)
{
	const struct mailbox_permissions *perm =
		mailbox_get_permissions(index->box);

	if (mkdir_parents_chgrp(index->path, perm->dir_create_mode,
				perm->file_create_gid,
				perm->file_create_gid_origin) < 0) {
		if (errno == EEXIST)
			return 0;
		if (errno == ENOSPC || errno == EDQUOT || errno == EROFS ||
		    errno == EACCES)
			index->backend->index_no_room = TRUE;
		e_error(index->backend->event, "mkdir(%s) failed: %m",
			index->path);
		return -1;
	}
	if (perm->file_create_gid != (gid_t)-1 &&
	    chmod(index->path, perm->dir_create_mode | S_ISGID) < 0) {
		/* files created later (by Xapian, in whichever user's
		   process) inherit the directory's group only with setgid;
		   without it another user's process may fail to read them */
		e_error(index->backend->event, "chmod(%s, 0%o) failed: %m",
			index->path,
			(unsigned int)(perm->dir_create_mode | S_ISGID));
		return -1;
	}
	return 0;
}

/* A read of the database failed: anything but running out of memory
   means its tables can't be read (*corrupt_r set, index->damage says
   why: returns 0); out of memory is logged with op (returns -1). */
static int sift_index_read_failed(struct sift_index *index,
				  enum sift_xstatus status, const char *op,
				  const char *error, bool *corrupt_r)
{
	*corrupt_r = status != SIFT_X_NOMEM;
	if (*corrupt_r) {
		sift_index_set_damage(index, error);
		return 0;
	}
	sift_index_error(index, op, error);
	return -1;
}

/* *value_r = metadata key (NULL if unset; free()d by the caller).
   Returns 0, or -1 (logged), with *corrupt_r set if the database is. */
static int sift_index_meta(struct sift_index *index, const char *key,
			   char **value_r, bool *corrupt_r)
{
	enum sift_xstatus status;
	const char *error;

	status = sift_xdb_get_metadata(index->db, key, value_r, &error);
	if (status != SIFT_X_OK) {
		(void)sift_index_read_failed(index, status, "Reading metadata of",
					     error, corrupt_r);
		return -1;
	}
	return 0;
}

/* A database without sift.format must be empty.  Returns 1 if it is, 0
   if it holds documents (damaged: *corrupt_r set, index->damage says
   why) or can't be read (as sift_index_meta()), -1 on error (logged). */
static int sift_index_check_empty(struct sift_index *index, bool *corrupt_r)
{
	enum sift_xstatus status;
	uint32_t doc_count, last_docid;
	const char *error;

	status = sift_xdb_stats(index->db, &doc_count, &last_docid, &error);
	if (status != SIFT_X_OK) {
		return sift_index_read_failed(index, status,
					      "Reading the statistics of",
					      error, corrupt_r);
	}
	if (doc_count == 0 && last_docid == 0)
		return 1;
	*corrupt_r = TRUE;
	sift_index_set_damage(index, t_strdup_printf(
		"no %s metadata, but %u documents (last document id %u): "
		"its tables are damaged", SIFT_META_FORMAT, doc_count,
		last_docid));
	return 0;
}

/* What decides the terms of a text: the ICU and Unicode versions,
   whether accents are folded, and whether attachments are decoded (an
   index built without a decoder lacks their text, one built with it
   holds text that no longer counts).  Stored in SIFT_META_TEXT; an index
   made with another one is rebuilt. */
const char *sift_index_text_id(struct sift_fts_backend *backend)
{
	return sift_text_engine_id(backend->set->fold_accents,
				   backend->set->decoded_attachments);
}

/* ---- the expunge queue (sift-expunge-queue.h) ------------------------ */

/* Writer: take the queued expunges over. */
static void sift_index_take_expunge_queue(struct sift_index *index)
{
	ARRAY_TYPE(seq_range) uids;
	uoff_t taken;

	i_array_init(&uids, 16);
	taken = sift_expunge_queue_take(index->path, index->backend->event,
					&uids);
	if (taken > 0) {
		index->queue_taken = taken;
		index->batch_dirty = TRUE;
	}
	if (array_count(&uids) > 0) {
		seq_range_array_merge(&index->expunged, &uids);
		index->expunged_dirty = TRUE;
	}
	array_free(&uids);
}

/* Writer, after a commit: cut the queue's lines taken over before it,
   now recorded in the database. */
static void sift_index_trim_expunge_queue(struct sift_index *index)
{
	uoff_t taken = index->queue_taken;

	index->queue_taken = 0;
	sift_expunge_queue_trim(index->path, index->backend->event, taken);
}

int sift_index_queue_expunges(struct mailbox *box,
			      const ARRAY_TYPE(seq_range) *uids,
			      const char **error_r)
{
	const char *dir;
	struct sift_umask saved;
	int ret;

	if (array_count(uids) == 0 || sift_index_path(box, &dir) <= 0)
		return 0;
	if (access(t_strconcat(dir, "/iamglass", NULL), F_OK) < 0) {
		/* no index: nothing to record */
		return 0;
	}
	sift_umask_push(sift_box_create_umask(box), &saved);
	ret = sift_expunge_queue_append(dir,
			mailbox_get_permissions(box)->file_create_mode,
			uids, error_r);
	sift_umask_pop(&saved);
	return ret;
}

/* The UIDVALIDITY of the index's mailbox, if it is open (0: unknown). */
static uint32_t sift_index_box_uidvalidity(struct sift_index *index)
{
	struct mailbox_status status;

	if (index->box == NULL || !index->box->opened)
		return 0;
	mailbox_get_open_status(index->box, STATUS_UIDVALIDITY, &status);
	return status.uidvalidity;
}

/* Read and check the stored format, text engine and last_uid.  Returns 1
   if usable, 0 if the index must be rebuilt (another format or text
   engine, corrupt), -1 on error (logged). */
static int sift_index_read_meta(struct sift_index *index)
{
	const char *problem = NULL;
	char *format, *text = NULL, *last_uid = NULL, *expunged = NULL;
	char *files = NULL;
	char *headers = NULL, *uidvalidity = NULL;
	uint32_t stored_uidvalidity, box_uidvalidity;
	const char *want_headers = sift_hdrfilter_id(index->backend->hdrfilter);
	bool corrupt = FALSE;
	int ret = 1;

	if (sift_index_meta(index, SIFT_META_FORMAT, &format, &corrupt) < 0)
		return corrupt ? 0 : -1;
	index->stored_last_uid = 0;
	i_zero(&index->files);
	if (format == NULL) {
		/* new (or never committed) database, unless it holds
		   documents: a table block overwritten with garbage can make
		   Xapian find no metadata at all without an error (glass
		   has no block checksums).  Taken for new, the writer would
		   add every message again over documents it can't update,
		   and fail each commit for good. */
		ret = sift_index_check_empty(index, &corrupt);
		if (ret <= 0)
			return ret;
	} else if (strcmp(format, SIFT_FORMAT_VERSION) != 0) {
		problem = t_strdup_printf("has format %s, this version "
					  "writes %s", format,
					  SIFT_FORMAT_VERSION);
	} else if (sift_index_meta(index, SIFT_META_TEXT, &text,
				   &corrupt) < 0 ||
		   sift_index_meta(index, SIFT_META_LAST_UID, &last_uid,
				   &corrupt) < 0 ||
		   sift_index_meta(index, SIFT_META_EXPUNGED, &expunged,
				   &corrupt) < 0 ||
		   sift_index_meta(index, SIFT_META_FILES, &files,
				   &corrupt) < 0 ||
		   sift_index_meta(index, SIFT_META_HEADERS, &headers,
				   &corrupt) < 0 ||
		   sift_index_meta(index, SIFT_META_UIDVALIDITY, &uidvalidity,
				   &corrupt) < 0) {
		ret = corrupt ? 0 : -1;
	} else if (files == NULL ||
		   sift_files_state_parse(files, &index->files) < 0) {
		sift_index_set_damage(index, t_strdup_printf(
			"invalid %s '%s'", SIFT_META_FILES,
			files == NULL ? "" : str_sanitize(files, 120)));
		ret = 0;
	} else if (text == NULL ||
		   strcmp(text, sift_index_text_id(index->backend)) != 0) {
		problem = t_strdup_printf("was built with %s, this process "
			"uses %s", text == NULL ? "an unknown text engine" :
			text, sift_index_text_id(index->backend));
	} else if (strcmp(headers == NULL ? "" : headers, want_headers) != 0) {
		/* it lacks headers that are now wanted, or holds some that
		   searches would now leave to Dovecot while TEXT trusts
		   them */
		problem = t_strdup_printf("was built with the header "
			"selection '%s', the settings now say '%s' "
			"(fts_header_includes/excludes)",
			headers == NULL ? "" : headers, want_headers);
	} else if (uidvalidity != NULL &&
		   (str_to_uint32(uidvalidity, &stored_uidvalidity) < 0 ||
		    ((box_uidvalidity = sift_index_box_uidvalidity(index)) != 0 &&
		     stored_uidvalidity != box_uidvalidity))) {
		problem = t_strdup_printf("was built for a mailbox of "
			"UIDVALIDITY %s, the mailbox's is %u (it was "
			"deleted and created again)",
			str_sanitize(uidvalidity, 20),
			sift_index_box_uidvalidity(index));
	} else if (last_uid != NULL &&
		   str_to_uint32(last_uid, &index->stored_last_uid) < 0) {
		problem = t_strdup_printf("has an invalid last_uid '%s'",
					  last_uid);
	} else if (expunged != NULL &&
		   sift_uid_ranges_parse(expunged, &index->expunged) < 0) {
		problem = t_strdup_printf("has an invalid %s '%s'",
					  SIFT_META_EXPUNGED,
					  str_sanitize(expunged, 80));
	}
	if (problem != NULL && index->writable) {
		e_warning(index->backend->event, "Index %s %s: it must be "
			  "rebuilt", index->path, problem);
		ret = 0;
	} else if (problem != NULL) {
		/* searches treat it as missing until the writer (which warns,
		   once) rebuilds it */
		e_debug(index->backend->event, "Index %s %s: it will be "
			"rebuilt", index->path, problem);
		ret = 0;
	}
	free(format);
	free(text);
	free(last_uid);
	free(expunged);
	free(files);
	free(headers);
	free(uidvalidity);
	index->batch_last_uid = index->stored_last_uid;
	return ret;
}

static int
sift_index_open_writer_locked_umask(struct sift_fts_backend *backend,
				    struct mailbox *box, bool nowait,
				    struct sift_index **index_r);

/* sift_index_open_writer_locked_umask() under the mailbox's umask */
static int
sift_index_open_writer_umask(struct sift_fts_backend *backend,
			     struct mailbox *box, bool nowait,
			     struct sift_index **index_r)
{
	struct sift_umask saved;
	int ret;

	sift_umask_push(sift_box_create_umask(box), &saved);
	ret = sift_index_open_writer_locked_umask(backend, box, nowait,
						  index_r);
	sift_umask_pop(&saved);
	return ret;
}

int sift_index_open_writer(struct sift_fts_backend *backend,
			   struct mailbox *box, struct sift_index **index_r)
{
	return sift_index_open_writer_umask(backend, box, FALSE,
					    index_r) < 0 ? -1 : 0;
}

int sift_index_try_open_writer(struct sift_fts_backend *backend,
			       struct mailbox *box,
			       struct sift_index **index_r)
{
	int ret;

	ret = sift_index_open_writer_umask(backend, box, TRUE, index_r);
	return ret < 0 ? -1 : (ret == 0 ? 1 : 0);
}

/* Open the side files for appending, checked against the committed
   state.  Returns 1, 0 if one is damaged (its reason is index->damage),
   or -1 (logged). */
static int sift_index_open_side_files(struct sift_index *index)
{
	mode_t mode = mailbox_get_permissions(index->box)->file_create_mode;
	const char *error;
	int ret;

	ret = sift_termfiles_writer_open(index->path, &index->files, mode,
				    &index->dict, &error);
	if (ret > 0) {
		ret = sift_phrase_filter_writer_open(index->path, &index->files.gaps,
					    mode, &index->gaps, &error);
	}
	if (ret == 0)
		sift_index_set_damage(index, error);
	else if (ret < 0)
		e_error(index->backend->event, "%s", error);
	return ret;
}

/* Checked before every writer open (two faccessat() calls; negligible
   next to opening the database): see sift_index_dir_check_writable().
   Returns 0, or -1 with the path and cause logged. */
static int sift_index_check_writable(struct sift_index *index)
{
	const char *error;

	if (sift_index_dir_check_writable(index->path, &error) < 0) {
		index->backend->index_no_room = TRUE;
		e_error(index->backend->event, "Index %s (mailbox %s) can't "
			"be written: %s", index->path,
			mailbox_get_vname(index->box), error);
		return -1;
	}
	return 0;
}

/* Forget what was read of a database about to be moved aside. */
static void sift_index_reset(struct sift_index *index)
{
	sift_termfiles_writer_close(&index->dict);
	sift_phrase_filter_writer_close(&index->gaps);
	sift_xdb_close(&index->db);
	array_clear(&index->expunged);
	i_zero(&index->files);
	i_free_and_null(index->damage);
	index->stored_last_uid = index->batch_last_uid = 0;
}

/* A writer waiting for the lock leaves this file, so that the writer
   holding it lets go at its next commit (sift_index_yield()). */
#define SIFT_LOCK_WAIT_FILE "lockwait"

static void sift_index_note_waiting(struct sift_index *index)
{
	int fd = open(t_strconcat(index->path, "/"SIFT_LOCK_WAIT_FILE, NULL),
		      O_WRONLY | O_CREAT,
		      mailbox_get_permissions(index->box)->file_create_mode);

	if (fd != -1)
		i_close_fd(&fd);
}

/* Take the write lock of index (its database closed) and open what a
   writer uses, moving a damaged or outdated index aside once.  Returns
   0, -1 (logged) or, with nowait, 1 if another process holds the
   lock.  The mailbox's umask is in effect. */
static int sift_index_acquire(struct sift_index *index, bool nowait)
{
	struct sift_fts_backend *backend = index->backend;
	const char *path = index->path, *damage;
	enum sift_index_dir_state dir_state;
	const char *error;
	struct timeval start, now;
	unsigned int flags, sleep_msecs = 10;
	bool recreated = FALSE;
	int ret;

	i_assert(index->db == NULL);
	flags = SIFT_XDB_WRITE | SIFT_XDB_CREATE |
		(backend->set->fsync ? 0 : SIFT_XDB_NO_SYNC);
	i_gettimeofday(&start);
	for (;;) {
		enum sift_xstatus status;

		damage = NULL;
		dir_state = sift_index_dir_state(path);
		if (dir_state == SIFT_INDEX_DIR_USABLE)
			status = sift_xdb_open(path, flags, &index->db, &error);
		else if (dir_state == SIFT_INDEX_DIR_VERSION_MISSING) {
			damage = "its version file iamglass is missing";
			goto unusable;
		} else if (dir_state == SIFT_INDEX_DIR_CREATION_KILLED) {
			/* a writer was killed while creating it: it never
			   held anything, so it is no damage; clear it and
			   look again */
			ret = sift_index_dir_clear_killed_creation(path,
								   &error);
			if (ret < 0) {
				e_error(backend->event, "Index %s (mailbox "
					"%s): clearing an unfinished creation "
					"failed: %s", path,
					mailbox_get_vname(index->box), error);
				return -1;
			}
			if (ret > 0) {
				e_debug(backend->event, "Index %s: cleared "
					"the empty tables of a creation that "
					"never finished", path);
				continue;
			}
			status = SIFT_X_LOCKED;
			error = "already locked by the process creating it";
		} else {
			/* another writer is creating the database (its files
			   appear before its first commit writes iamglass):
			   wait for it as for any writer, never take its
			   half-made files for damage */
			status = SIFT_X_LOCKED;
			error = "already locked by the process creating it";
		}
		if (status == SIFT_X_LOCKED &&
		    strstr(error, "already locked") == NULL) {
			/* not another writer: the lock can't be taken */
			e_error(backend->event, "Index %s (mailbox %s) can't "
				"be locked for writing: %s", path,
				mailbox_get_vname(index->box), error);
			return -1;
		}
		if (status == SIFT_X_LOCKED && nowait)
			return 1;
		if (status == SIFT_X_LOCKED) {
			i_gettimeofday(&now);
			if (timeval_diff_msecs(&now, &start) <
			    (long long)backend->set->lock_timeout_secs * 1000) {
				/* another process is writing: ask it to let
				   go at its next commit (again after each
				   time it did, if another writer came
				   first), and back off */
				sift_index_note_waiting(index);
				i_sleep_msecs(sleep_msecs);
				sleep_msecs = I_MIN(sleep_msecs * 2, 100);
				continue;
			}
			e_error(backend->event, "Index %s (mailbox %s) is "
				"locked by another process for more than %u "
				"seconds (fts_sift_lock_timeout): %s", path,
				mailbox_get_vname(index->box),
				backend->set->lock_timeout_secs, error);
			return -1;
		}
		if (status == SIFT_X_NOMEM) {
			sift_index_error(index, "Opening", error);
			return -1;
		}
		if (status != SIFT_X_OK) {
			/* any other failure to open an index that exists
			   is damage (a table missing or cut short, a
			   version file of garbage, ...) */
			damage = error;
			goto unusable;
		}
		ret = sift_index_read_meta(index);
		if (ret > 0)
			ret = sift_index_open_side_files(index);
		if (ret > 0) {
			sift_index_take_expunge_queue(index);
			/* a killed run's databases (never ours: a writer
			   merges or removes its own before letting go) */
			sift_index_run_remove_leftovers(index);
			return 0;
		}
		if (ret < 0) {
			sift_index_reset(index);
			return -1;
		}
		/* damaged, or only outdated (damage NULL: the reason was
		   logged as a warning) */
		damage = t_strdup(index->damage);
	unusable:
		sift_index_reset(index);
		if (recreated) {
			e_error(backend->event, "Index %s (mailbox %s) is "
				"still unusable after recreating it: %s", path,
				mailbox_get_vname(index->box),
				damage == NULL ? "outdated" : damage);
			return -1;
		}
		(void)sift_index_move_aside(index, damage);
		recreated = TRUE;
		if (sift_index_mkdir(index) < 0)
			return -1;
	}
}

/* sift_doc_builder_set_term_known(): in a short run (new mail) the
   builder's own counts start empty, so an opaque token that earlier runs
   made a pooled term is looked up here and made that term again.  A bulk
   run counts for itself (a lookup per token would cost more than it
   saves).  A failed lookup keeps the token opaque, which is as exact. */
static bool sift_index_term_known(void *context, const char *term, size_t len)
{
	struct sift_index *index = context;
	const char *error;
	bool exists;

	if (index->db == NULL ||
	    index->docs_added >= SIFT_TERMS_APPEND_MAX_DOCS)
		return FALSE;
	if (sift_xdb_term_exists(index->db, term, len, &exists,
				 &error) != SIFT_X_OK) {
		e_debug(index->event, "Looking up a term failed: %s", error);
		return FALSE;
	}
	return exists;
}

/* sift_index_open_writer() with the mailbox's umask in effect.  Returns
   0, -1 (logged) or, with nowait, 1 if another process holds the lock. */
static int
sift_index_open_writer_locked_umask(struct sift_fts_backend *backend,
				    struct mailbox *box, bool nowait,
				    struct sift_index **index_r)
{
	struct sift_index *index;
	const char *path;
	int ret;

	*index_r = NULL;
	ret = sift_index_path(box, &path);
	if (ret <= 0) {
		e_error(backend->event, "Mailbox %s has no index directory "
			"to keep a full-text index in",
			mailbox_get_vname(box));
		return -1;
	}
	index = sift_index_alloc(backend, box, path, TRUE);
	if (sift_index_mkdir(index) < 0 ||
	    sift_index_check_writable(index) < 0) {
		sift_index_close(&index);
		return -1;
	}
	ret = sift_index_acquire(index, nowait);
	if (ret != 0) {
		sift_index_close(&index);
		return ret;
	}
	index->builder = sift_doc_builder_new(backend->text,
					      backend->set->fold_accents);
	sift_doc_builder_set_term_known(index->builder, sift_index_term_known,
					index);
	sift_doc_builder_set_max_terms(index->builder,
				       backend->set->max_doc_terms);
	*index_r = index;
	return 0;
}

/* After a commit of a long run: if another writer is waiting (it left
   SIFT_LOCK_WAIT_FILE), let go of the lock until it has had its turn,
   so that no writer waits for another's whole run.  Everything is
   committed, so nothing is lost; the index is read again afterwards.
   Returns 0 or -1 (logged: the run must stop). */
static int sift_index_yield(struct sift_index *index)
{
	const char *wait_path = t_strconcat(index->path,
					    "/"SIFT_LOCK_WAIT_FILE, NULL);
	uint32_t last_uid = index->stored_last_uid;

	if (unlink(wait_path) < 0)
		return 0;
	sift_index_reset(index);
	/* the waiter polls at least every 100 ms */
	i_sleep_msecs(150);
	if (sift_index_acquire(index, FALSE) < 0)
		return -1;
	if (index->stored_last_uid < last_uid) {
		/* the index was rebuilt meanwhile: what this run adds
		   would follow a gap */
		e_error(index->backend->event, "Index %s was recreated while "
			"this process was indexing mailbox %s: stopping (the "
			"rest is indexed by the next run)", index->path,
			mailbox_get_vname(index->box));
		return -1;
	}
	e_debug(index->backend->event, "Let another writer of %s go first",
		index->path);
	return 0;
}

int sift_index_open_reader(struct sift_fts_backend *backend,
			   struct mailbox *box, struct sift_index **index_r)
{
	struct sift_index *index;
	const char *error;
	const char *path;
	enum sift_xstatus status;
	int ret;

	*index_r = NULL;
	ret = sift_index_path(box, &path);
	if (ret <= 0)
		return ret;
	index = sift_index_alloc(backend, box, path, FALSE);
	status = sift_xdb_open(path, 0, &index->db, &error);
	if (status == SIFT_X_NOT_FOUND) {
		if (sift_index_dir_state(path) ==
		    SIFT_INDEX_DIR_VERSION_MISSING) {
			sift_index_report_damage(index, "its version file "
						 "iamglass is missing");
		}
		sift_index_close(&index);
		return 0;
	}
	if (status == SIFT_X_NOMEM) {
		sift_index_error(index, "Opening", error);
		sift_index_close(&index);
		return -1;
	}
	if (status != SIFT_X_OK) {
		/* A damaged index is as good as none: moved aside, the
		   mailbox is reindexed before searches use it again
		   (Dovecot asks the indexer, as for a new mailbox). */
		sift_index_report_damage(index, error);
		sift_index_close(&index);
		return 0;
	}
	ret = sift_index_read_meta(index);
	if (ret == 0 && index->damage != NULL)
		sift_index_report_damage(index, index->damage);
	if (ret <= 0) {
		sift_index_close(&index);
		return ret;
	}
	sift_expunge_queue_read(index->path, backend->event,
				&index->expunged);
	*index_r = index;
	return 1;
}

void sift_index_close(struct sift_index **_index)
{
	struct sift_index *index = *_index;
	struct sift_umask saved;

	if (index == NULL)
		return;
	*_index = NULL;
	sift_doc_builder_free(&index->builder);
	/* a run not merged (the update failed) is dropped while the lock
	   is still held: its messages are indexed again next time */
	sift_index_run_deinit(index);
	sift_umask_push(index->create_umask, &saved);
	sift_termfiles_writer_close(&index->dict);
	sift_phrase_filter_writer_close(&index->gaps);
	sift_buf_free(&index->new_terms);
	sift_xdb_close(&index->db);
	sift_umask_pop(&saved);
	event_unref(&index->event);
	array_free(&index->expunged);
	i_free(index->damage);
	i_free(index->path);
	i_free(index);
}

struct sift_xdb *sift_index_db(struct sift_index *index)
{
	return index->db;
}

const ARRAY_TYPE(seq_range) *sift_index_get_expunged(struct sift_index *index)
{
	return &index->expunged;
}

const char *sift_index_get_path(struct sift_index *index)
{
	return index->path;
}

const struct sift_files_state *sift_index_get_files(struct sift_index *index)
{
	return &index->files;
}

int sift_index_get_last_uid(struct sift_index *index, uint32_t *last_uid_r)
{
	*last_uid_r = index->stored_last_uid;
	return 0;
}

/* ---- storing documents (sift-doc-builder.h builds them) ---------------- */

/* Log a failure of the document builder once, with the mailbox. */
static void sift_index_doc_error(struct sift_index *index, const char *error)
{
	e_error(index->backend->event, "Indexing uid %u of mailbox %s "
		"failed: %s", sift_doc_builder_uid(index->builder),
		mailbox_get_vname(index->box), error);
}

int sift_index_doc_begin(struct sift_index *index, uint32_t uid)
{
	const char *error;

	i_assert(index->writable);
	if (sift_doc_builder_begin(index->builder, uid, &error) < 0) {
		e_error(index->backend->event, "Indexing uid %u of mailbox %s "
			"failed: %s", uid, mailbox_get_vname(index->box),
			error);
		return -1;
	}
	return 0;
}

void sift_index_field_begin(struct sift_index *index,
			    enum sift_field_kind kind, const char *hdr_name)
{
	sift_doc_builder_field_begin(index->builder, kind, hdr_name);
}

void sift_index_mark_untrusted(struct sift_index *index,
			       enum sift_untrusted what)
{
	sift_doc_builder_mark_untrusted(index->builder, what);
}

int sift_index_doc_set_value(struct sift_index *index, unsigned int slot,
			     const void *data, size_t size)
{
	const char *error;

	if (sift_xdoc_set_value(sift_doc_builder_xdoc(index->builder), slot,
				data, size, &error) != SIFT_X_OK) {
		sift_index_doc_error(index, t_strdup_printf(
			"Adding a value failed: %s", error));
		return -1;
	}
	return 0;
}

static int sift_index_batch_room(struct sift_index *index);

int sift_index_field_data(struct sift_index *index,
			  const unsigned char *data, size_t size)
{
	const char *error;

	if (sift_doc_builder_field_data(index->builder, data, size,
					&error) < 0) {
		sift_index_doc_error(index, error);
		return -1;
	}
	return sift_index_batch_room(index);
}

int sift_index_field_end(struct sift_index *index)
{
	const char *error;

	if (sift_doc_builder_field_end(index->builder, &error) < 0) {
		sift_index_doc_error(index, error);
		return -1;
	}
	return sift_index_batch_room(index);
}

/* Record the document's new terms and opaque tokens in the side files,
   before the commit that stores the document. */
static int sift_index_doc_side_files(struct sift_index *index)
{
	struct sift_xdoc *doc = sift_doc_builder_xdoc(index->builder);
	uint32_t uid = sift_doc_builder_uid(index->builder);
	const char *error, *opaque;
	const uint64_t *keys;
	unsigned int key_count;
	size_t opaque_len;

	if (sift_termfiles_writer_terms_complete(index->dict)) {
		if (index->docs_added >= SIFT_TERMS_APPEND_MAX_DOCS) {
			/* a bulk run: checking each term costs more than
			   rewriting the file at the end */
			sift_termfiles_writer_set_incomplete(index->dict);
		} else {
			index->new_terms.len = 0;
			if (sift_xdb_new_terms(index->db, doc,
					       &index->new_terms,
					       &error) != SIFT_X_OK) {
				sift_index_error(index, "Listing new terms of",
						 error);
				return -1;
			}
			if (sift_termfiles_writer_add_terms(index->dict,
					index->new_terms.data,
					index->new_terms.len, &error) < 0) {
				sift_index_write_error(index, error);
				return -1;
			}
		}
	}
	opaque = sift_doc_builder_opaque(index->builder, &opaque_len);
	if (sift_termfiles_writer_add_opaque(index->dict, uid, opaque,
					     opaque_len, &error) < 0) {
		sift_index_write_error(index, error);
		return -1;
	}
	keys = sift_doc_builder_gap_keys(index->builder, &key_count);
	if (sift_phrase_filter_writer_add(index->gaps, uid, keys, key_count,
					  &error) < 0) {
		sift_index_write_error(index, error);
		return -1;
	}
	return 0;
}

static int sift_index_doc_end_umask(struct sift_index *index);

/* Merge the run databases into the index now (a checkpoint of a bulk
   run), then reopen it to go on.  Returns 0 or -1 (logged: the run must
   stop; what was not merged is indexed again by the next run). */
static int sift_index_checkpoint(struct sift_index *index)
{
	uint32_t last_uid = I_MAX(index->batch_last_uid,
				  index->stored_last_uid);
	int ret;

	ret = sift_index_compact_locked(index, FALSE);
	sift_index_run_remove(index);
	sift_index_reset(index);
	if (ret < 0 || sift_index_acquire(index, FALSE) < 0)
		return -1;
	if (index->stored_last_uid < last_uid) {
		e_error(index->backend->event, "Index %s was recreated while "
			"this process was indexing mailbox %s: stopping (the "
			"rest is indexed by the next run)", index->path,
			mailbox_get_vname(index->box));
		return -1;
	}
	index->batch_docs = 0;
	index->batch_bytes = 0;
	index->batch_mem = 0;
	index->batch_expunges = 0;
	index->batch_dirty = FALSE;
	index->expunged_dirty = FALSE;
	index->run_floor_set = FALSE;
	return 0;
}

/* May uid go to a run database?  Only above every document id the
   index and the run databases hold (Xapian merges sources whose ids
   don't overlap).  Dovecot indexes in UID order, so this is the rule;
   otherwise (a rescan lowered last_uid below a document) the run
   databases are merged in now and the rest of the run writes into the
   index directly.  Returns FALSE also when that merge failed (logged;
   the caller's add then fails too, the index being closed). */
static bool sift_index_bulk_takes(struct sift_index *index, uint32_t uid)
{
	uint32_t docs, last_docid;
	const char *error;

	if (!index->run_floor_set) {
		if (sift_xdb_stats(index->db, &docs, &last_docid,
				   &error) != SIFT_X_OK) {
			sift_index_error(index, "Reading statistics of", error);
			last_docid = (uint32_t)-1;
		}
		index->run_floor = last_docid;
		index->run_floor_set = TRUE;
	}
	if (uid > index->run_floor)
		return TRUE;
	index->bulk = FALSE;
	if (sift_index_run_active(index))
		(void)sift_index_checkpoint(index);
	return FALSE;
}

/* A bulk run's batch is complete: commit it to its run database, and
   merge the run databases in when there are enough of them or another
   writer waits for the lock (which then gets its turn). */
static int sift_index_bulk_batch_end(struct sift_index *index)
{
	const char *wait_path = t_strconcat(index->path,
					    "/"SIFT_LOCK_WAIT_FILE, NULL);

	if (sift_index_run_commit(index) < 0)
		return -1;
	index->batch_docs = 0;
	index->batch_bytes = 0;
	index->batch_mem = 0;
	if (sift_index_run_db_count(index) < SIFT_RUN_MAX_DBS &&
	    access(wait_path, F_OK) < 0)
		return 0;
	if (sift_index_checkpoint(index) < 0)
		return -1;
	return sift_index_yield(index);
}

/* Heap bytes Xapian's buffered postings take per term of a document,
   besides the term's own bytes, until the commit: measured with
   mallinfo2() on 100,000 list messages (heap in use before and after
   each commit of 250 messages: 7.5-8.5 MB for about 105,000 terms of
   1.1 MB, i.e. 60-70 bytes a term: a std::map node per term new to the
   batch and one per posting). */
#define SIFT_POSTING_HEAP_BYTES 64

/* What storing the current document adds to the batch's memory until
   the commit (its postings in Xapian's buffer). */
static uoff_t sift_index_doc_memory(struct sift_index *index)
{
	unsigned int count;
	size_t bytes;

	sift_doc_builder_term_stats(index->builder, &count, &bytes);
	return (uoff_t)count * SIFT_POSTING_HEAP_BYTES + bytes;
}

/* The batch is complete: commit it (to the run database in a bulk
   run), and switch to a bulk run once the run has added
   fts_sift_compact_after messages.  Returns 0 or -1 (logged). */
static int sift_index_batch_end(struct sift_index *index)
{
	bool large = index->batch_large;

	index->batch_large = FALSE;
	if (index->bulk) {
		if (sift_index_bulk_batch_end(index) < 0)
			return -1;
		if (large)
			sift_heap_release(index->event, "a large message");
		return 0;
	}
	if (sift_index_commit_last_uid(index, index->batch_last_uid) < 0 ||
	    sift_index_yield(index) < 0)
		return -1;
	if (large)
		sift_heap_release(index->event, "a large message");
	if (index->backend->set->compact_after > 0 &&
	    index->docs_added >= index->backend->set->compact_after) {
		/* the run's end compacts the index anyway: from
		   here on its documents go to run databases,
		   merged in by that compaction */
		index->bulk = TRUE;
		index->run_floor_set = FALSE;
	}
	return 0;
}

/* A batch's postings wait in Xapian's memory until its commit.  If the
   current document's would take them past fts_sift_commit_memory,
   commit the batch now, while the document is still being built (its
   text is read and its terms handed to Xapian's copy in parts, see
   sift-doc-builder.c): a large message (a patch series of 500 KB holds
   60,000 distinct terms, some 15 MB of heap while stored) then never
   adds up with a full batch, or with another large message, at the
   writer's peak.  Nothing of the document is looked up or stored yet,
   so the commit (which may let another writer go first) is the same as
   the one after the previous document.  Returns 0 or -1 (logged). */
static int sift_index_batch_room(struct sift_index *index)
{
	uoff_t doc_mem = sift_index_doc_memory(index);
	struct sift_umask saved;
	int ret;

	if (index->batch_docs == 0 ||
	    index->batch_mem + doc_mem <= index->backend->set->commit_memory)
		return 0;
	e_debug(index->backend->event, "Committing %u changes to %s before "
		"uid %u: with its %"PRIuUOFF_T" KB the batch's buffered "
		"postings would pass fts_sift_commit_memory",
		index->batch_docs, index->path,
		sift_doc_builder_uid(index->builder), doc_mem / 1024);
	/* a large one: its copies are built on a heap with no free pages
	   kept resident from the batches before */
	if (doc_mem >= index->backend->set->commit_memory / 4)
		index->batch_large = TRUE;
	sift_umask_push(index->create_umask, &saved);
	ret = sift_index_batch_end(index);
	sift_umask_pop(&saved);
	return ret;
}

int sift_index_doc_end(struct sift_index *index)
{
	struct sift_umask saved;
	int ret;

	if (!sift_doc_builder_active(index->builder))
		return 0;
	sift_umask_push(index->create_umask, &saved);
	ret = sift_index_doc_end_umask(index);
	sift_umask_pop(&saved);
	return ret;
}

static int sift_index_doc_end_umask(struct sift_index *index)
{
	struct sift_doc_builder *b = index->builder;
	uint32_t uid = sift_doc_builder_uid(b);
	const char *error;
	bool existed = FALSE;
	uoff_t doc_mem;
	int ret = 0;

	index->batch_bytes += sift_doc_builder_text_bytes(b);
	if (sift_doc_builder_end_field(b, &error) < 0) {
		sift_index_doc_error(index, error);
		ret = -1;
	}
	if (ret == 0 && sift_index_batch_room(index) < 0)
		ret = -1;
	doc_mem = sift_index_doc_memory(index);
	if (ret == 0 && sift_xdb_has_doc(index->db, uid, &existed,
					 &error) != SIFT_X_OK) {
		sift_index_error(index, "Looking up a document in", error);
		ret = -1;
	}
	if (ret == 0 && !existed && sift_index_run_has(index, uid))
		existed = TRUE;
	/* A document that is already there (last_uid was lowered by a
	   rescan) is kept: a UID's message never changes. */
	if (ret == 0 && !existed) {
		/* decided before the side files get the document's records:
		   a merge now copies them only for documents it holds */
		bool to_run = index->bulk && sift_index_bulk_takes(index, uid);

		if (index->db == NULL) {
			/* the merge sift_index_bulk_takes() did failed */
			ret = -1;
		} else if (sift_doc_builder_finish(b, &error) < 0) {
			sift_index_doc_error(index, error);
			ret = -1;
		} else if (sift_index_doc_side_files(index) < 0)
			ret = -1;
		else if (to_run) {
			if (sift_index_run_add(index, uid,
					sift_doc_builder_xdoc(b)) < 0)
				ret = -1;
			index->run_floor = uid;
		} else if (sift_xdb_add(index->db, uid,
				      sift_doc_builder_xdoc(b), NULL,
				      &error) != SIFT_X_OK) {
			sift_index_error(index, "Storing a document in", error);
			ret = -1;
		}
	}
	if (ret == 0 && !existed && sift_doc_builder_bounded(b)) {
		e_debug(index->backend->event, "uid %u reached "
			"fts_sift_max_doc_terms (%u distinct terms): the "
			"rest of its text is left to Dovecot's search", uid,
			index->backend->set->max_doc_terms);
	}
	sift_doc_builder_discard(b);
	if (ret < 0)
		return -1;

	/* A recorded expunge is final (Dovecot's fts plugin hands over only
	   expunges a mailbox sync has seen committed, and UIDs are never
	   reused), so a message expunged while it was being indexed keeps
	   its record: its document is left out of every result and dropped
	   at the next rebuild.  (Taking the document for proof that the
	   message exists lost such expunges.)  "doveadm fts rescan" clears
	   a record of a message that does exist. */
	index->batch_dirty = TRUE;
	index->batch_docs++;
	if (!existed) {
		index->docs_added++;
		index->batch_mem += doc_mem;
		/* Its postings and Xapian's copy of it leave the heap
		   fragmented at the size they took, which the batches
		   after it would keep resident (RSS): a quarter of
		   fts_sift_commit_memory (about 30,000 distinct terms by
		   default, a few messages in 10,000 of list mail) makes
		   the batch's commit give free heap pages back
		   (sift-heap.h; after every commit that cost 20 % CPU). */
		if (doc_mem >= index->backend->set->commit_memory / 4)
			index->batch_large = TRUE;
	}
	if (uid > index->batch_last_uid)
		index->batch_last_uid = uid;
	if (index->batch_docs >= index->backend->set->commit_batch ||
	    index->batch_bytes >= index->backend->set->commit_size ||
	    index->batch_mem >= index->backend->set->commit_memory)
		return sift_index_batch_end(index);
	return 0;
}

void sift_index_expunge(struct sift_index *index, uint32_t uid)
{
	i_assert(index->writable);

	if (uid == 0 || seq_range_exists(&index->expunged, uid))
		return;
	seq_range_array_add(&index->expunged, uid);
	index->expunged_dirty = TRUE;
	index->batch_dirty = TRUE;
	index->batch_docs++;
	index->batch_expunges++;
}

void sift_index_unexpunge(struct sift_index *index, uint32_t uid)
{
	i_assert(index->writable);

	if (seq_range_array_remove(&index->expunged, uid)) {
		index->expunged_dirty = TRUE;
		index->batch_dirty = TRUE;
	}
}

int sift_index_set_commit_meta(struct sift_index *index, struct sift_xdb *db,
			       const struct sift_files_state *files,
			       uint32_t last_uid, const char **error_r)
{
	uint32_t uidvalidity = sift_index_box_uidvalidity(index);

	if (uidvalidity != 0 &&
	    sift_xdb_set_metadata(db, SIFT_META_UIDVALIDITY,
				  dec2str(uidvalidity), error_r) != SIFT_X_OK)
		return -1;
	if (sift_xdb_set_metadata(db, SIFT_META_FORMAT,
				  SIFT_FORMAT_VERSION, error_r) != SIFT_X_OK ||
	    sift_xdb_set_metadata(db, SIFT_META_FILES,
				  sift_files_state_str(files),
				  error_r) != SIFT_X_OK ||
	    sift_xdb_set_metadata(db, SIFT_META_TEXT,
				  sift_index_text_id(index->backend),
				  error_r) != SIFT_X_OK ||
	    sift_xdb_set_metadata(db, SIFT_META_HEADERS,
				  sift_hdrfilter_id(index->backend->hdrfilter),
				  error_r) != SIFT_X_OK ||
	    sift_xdb_set_metadata(db, SIFT_META_LAST_UID,
				  dec2str(last_uid), error_r) != SIFT_X_OK ||
	    (index->expunged_dirty &&
	     sift_xdb_set_metadata(db, SIFT_META_EXPUNGED,
				   sift_uid_ranges_str(&index->expunged),
				   error_r) != SIFT_X_OK))
		return -1;
	return 0;
}

static int sift_index_checkpoint(struct sift_index *index);

int sift_index_commit_last_uid(struct sift_index *index, uint32_t last_uid)
{
	struct timeval start, end;
	struct event *event;
	enum sift_xstatus status;
	const char *error;

	if (sift_index_run_active(index)) {
		/* documents wait in run databases: committing the index
		   alone would claim them; merge them in instead */
		if (last_uid > index->batch_last_uid)
			index->batch_last_uid = last_uid;
		return sift_index_checkpoint(index);
	}
	i_gettimeofday(&start);
	event = event_create(index->event);
	if (sift_termfiles_writer_sync(index->dict, index->backend->set->fsync,
				  &error) < 0 ||
	    sift_phrase_filter_writer_sync(index->gaps, index->backend->set->fsync,
				  &error) < 0) {
		sift_index_write_error(index, error);
		event_unref(&event);
		return -1;
	}
	/* expunges queued meanwhile by processes that didn't wait for
	   the lock */
	sift_index_take_expunge_queue(index);
	sift_termfiles_writer_state(index->dict, &index->files);
	sift_phrase_filter_writer_state(index->gaps, &index->files.gaps);
	if (sift_index_set_commit_meta(index, index->db, &index->files,
				       last_uid, &error) < 0) {
		sift_index_error(index, "Committing", error);
		event_unref(&event);
		return -1;
	}
	status = sift_xdb_commit(index->db, &error);
	if (status == SIFT_X_CORRUPT) {
		/* Xapian found damage its open didn't (a table block no
		   read before touched): every later commit would fail the
		   same way, so the index goes aside now and the next
		   indexing run rebuilds it.  This run's changes are lost
		   with it; nothing claims them. */
		(void)sift_index_move_aside(index, error);
		event_unref(&event);
		return -1;
	}
	if (status != SIFT_X_OK) {
		sift_index_error(index, "Committing", error);
		event_unref(&event);
		return -1;
	}
	i_gettimeofday(&end);
	e_debug(event_create_passthrough(event)->
		set_name(SIFT_EVENT_COMMIT)->
		add_int("messages", index->batch_docs - index->batch_expunges)->
		add_int("expunges", index->batch_expunges)->
		add_int("text_bytes", index->batch_bytes)->
		add_int("last_uid", last_uid)->event(),
		"Committed %u changes to %s (last_uid=%u, %lld ms)",
		index->batch_docs, index->path, last_uid,
		(long long)timeval_diff_msecs(&end, &start));
	if (index->batch_expunges > 0) {
		e_debug(event_create_passthrough(event)->
			set_name(SIFT_EVENT_EXPUNGES)->
			add_int("expunges", index->batch_expunges)->
			add_int("expunged_total",
				seq_range_count(&index->expunged))->event(),
			"Recorded %u expunges in %s", index->batch_expunges,
			index->path);
	}
	event_unref(&event);
	index->batch_expunges = 0;
	index->stored_last_uid = last_uid;
	index->batch_last_uid = last_uid;
	index->batch_docs = 0;
	index->batch_bytes = 0;
	index->batch_mem = 0;
	index->batch_dirty = FALSE;
	index->expunged_dirty = FALSE;
	sift_index_trim_expunge_queue(index);
	return 0;
}

int sift_index_commit(struct sift_index *index, uint32_t last_uid)
{
	struct sift_umask saved;
	int ret;

	if (!index->writable)
		return 0;
	if (last_uid < index->batch_last_uid)
		last_uid = index->batch_last_uid;
	if (!index->batch_dirty && last_uid == index->stored_last_uid)
		return 0;
	sift_umask_push(index->create_umask, &saved);
	ret = sift_index_commit_last_uid(index, last_uid);
	sift_umask_pop(&saved);
	return ret;
}

int sift_index_set_last_uid(struct sift_index *index, uint32_t last_uid)
{
	struct sift_umask saved;
	int ret;

	i_assert(index->writable);
	sift_umask_push(index->create_umask, &saved);
	ret = sift_index_commit_last_uid(index, last_uid);
	sift_umask_pop(&saved);
	return ret;
}

