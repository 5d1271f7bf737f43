/* sift-index-compact.c: the end of a writer's run (sift_index_finish():
   the last commit, expunges Dovecot never handed over, compaction when
   the run was large) and rebuilding an index without its expunged
   documents (sift_index_optimize(), doveadm fts optimize).  Both write a
   fresh copy next to the index - the database compacted or rebuilt from
   its own postings, its side files rewritten without expunged messages
   - and swap it in atomically (sift-swap.h) while holding the write
   lock, so a search sees either copy whole. */
#include "lib.h"
#include "array.h"
#include "unlink-directory.h"
#include "time-util.h"
#include "mail-storage-private.h"
#include "sift-events.h"
#include "sift-termfiles.h"
#include "sift-phrase-filter.h"
#include "sift-swap.h"
#include "fts-sift-plugin.h"
#include "fts-backend-sift.h"
#include "sift-heap.h"
#include "sift-index-private.h"

/* The documents of db that are not expunged. */
static int sift_index_live_uids(struct sift_index *index, struct sift_xdb *db,
				struct sift_uids *uids_r)
{
	const char *error;
	size_t i, j;

	if (sift_xdb_all_uids(db, uids_r, &error) != SIFT_X_OK) {
		sift_index_error(index, "Listing documents of", error);
		return -1;
	}
	for (i = j = 0; i < uids_r->count; i++) {
		if (!seq_range_exists(&index->expunged, uids_r->uids[i]))
			uids_r->uids[j++] = uids_r->uids[i];
	}
	uids_r->count = j;
	return 0;
}

/* Write the side files of the copy in dest_dir - its full term list,
   the opaque lines and gap filters of the messages that are still there
   - and commit their state in the copy's metadata.  With merged (run
   databases were merged into the copy), commit everything a commit of
   the index would, last_uid included: the index itself was not
   committed since those documents were added. */
static int sift_index_copy_side_files(struct sift_index *index,
				      const char *dest_dir, bool merged)
{
	struct sift_uids uids = { NULL, 0, 0 };
	struct sift_files_state st;
	struct sift_xdb *dest_db;
	const char *error;
	int ret = 0;

	if (sift_xdb_open(dest_dir, SIFT_XDB_WRITE |
			  (index->backend->set->fsync ? 0 : SIFT_XDB_NO_SYNC),
			  &dest_db, &error) != SIFT_X_OK) {
		sift_index_error(index, "Opening the new copy of", error);
		return -1;
	}
	/* the copy's documents: the index's and the run databases' */
	if (sift_index_live_uids(index, dest_db, &uids) < 0) {
		sift_xdb_close(&dest_db);
		return -1;
	}
	i_zero(&st);
	st.terms_complete = TRUE;
	if (sift_termfiles_write_terms(index->dict, dest_db, dest_dir, &st.terms,
				  &error) < 0 ||
	    sift_termfiles_write_opaque(index->dict, &uids, dest_dir, &st.opaque,
				   &error) < 0 ||
	    sift_phrase_filter_write_copy(index->gaps, &uids, dest_dir, &st.gaps,
				 &error) < 0) {
		sift_index_write_error(index, error);
		ret = -1;
	} else if ((merged ?
		    sift_index_set_commit_meta(index, dest_db, &st,
				I_MAX(index->batch_last_uid,
				      index->stored_last_uid), &error) < 0 :
		    sift_xdb_set_metadata(dest_db, SIFT_META_FILES,
					  sift_files_state_str(&st),
					  &error) != SIFT_X_OK) ||
		   sift_xdb_commit(dest_db, &error) != SIFT_X_OK) {
		sift_index_error(index, "Committing the new copy of", error);
		ret = -1;
	}
	sift_xdb_close(&dest_db);
	sift_uids_free(&uids);
	return ret;
}

/* The sorted list of expunged UIDs, for sift_xdb_rebuild(). */
static void sift_index_expunged_list(struct sift_index *index,
				     ARRAY_TYPE(uint32_t) *list)
{
	struct seq_range_iter iter;
	unsigned int n = 0;
	uint32_t uid;

	seq_range_array_iter_init(&iter, &index->expunged);
	while (seq_range_array_iter_nth(&iter, n++, &uid))
		array_push_back(list, &uid);
}

/* Compact the index - first rebuilding it without the expunged documents
   if rebuild is set - into a fresh copy and swap it in atomically.  The
   caller holds the write lock (index is open for writing) and has
   committed, so no change can be lost.  The index's handle then refers to
   the old copy: close it right after. */
int sift_index_compact_locked(struct sift_index *index, bool rebuild)
{
	struct sift_fts_backend *backend = index->backend;
	const char *tmp_path, *rebuild_path, *src_path, *error;
	const char *const *run_paths = NULL;
	ARRAY_TYPE(const_string) sources;
	struct timeval start, end;
	struct event *event;
	unsigned int dropped = 0, run_count = 0;
	bool merged = sift_index_run_active(index);
	int ret = 0;

	i_assert(index->writable);
	if (merged) {
		/* the run's last batch, and its side-file records, on
		   disk for the merge and the copy (not committed: the
		   copy's commit does that) */
		if (sift_index_run_commit(index) < 0)
			return -1;
		sift_index_run_close(index);
		if (sift_termfiles_writer_sync(index->dict, FALSE,
					       &error) < 0 ||
		    sift_phrase_filter_writer_sync(index->gaps, FALSE,
						   &error) < 0) {
			sift_index_write_error(index, error);
			return -1;
		}
		run_paths = sift_index_run_db_paths(index, &run_count);
		/* rebuilding would drop expunged documents of the index
		   only, while the records must stay for those in the run
		   databases: left to the next run's end */
		rebuild = FALSE;
	}
	i_gettimeofday(&start);
	event = event_create(index->event);
	tmp_path = t_strconcat(index->path, ".compact", NULL);
	rebuild_path = t_strconcat(index->path, ".rebuild", NULL);
	(void)unlink_directory(tmp_path, UNLINK_DIRECTORY_FLAG_RMDIR, &error);
	(void)unlink_directory(rebuild_path, UNLINK_DIRECTORY_FLAG_RMDIR,
			       &error);
	src_path = index->path;
	if (rebuild && array_count(&index->expunged) > 0) {
		ARRAY_TYPE(uint32_t) drop;

		t_array_init(&drop, 256);
		sift_index_expunged_list(index, &drop);
		dropped = array_count(&drop);
		if (sift_xdb_rebuild(index->path, rebuild_path,
				     array_front(&drop), dropped,
				     SIFT_META_EXPUNGED, &error) != SIFT_X_OK) {
			sift_index_error(index, "Rebuilding", error);
			ret = -1;
		}
		src_path = rebuild_path;
	}
	t_array_init(&sources, run_count + 1);
	array_push_back(&sources, &src_path);
	for (unsigned int i = 0; i < run_count; i++)
		array_push_back(&sources, &run_paths[i]);
	if (ret < 0)
		;
	else if (sift_xdb_merge(array_front(&sources), array_count(&sources),
				tmp_path, &error) != SIFT_X_OK) {
		sift_index_error(index, merged ? "Merging a run into" :
				 "Compacting", error);
		ret = -1;
	} else if (sift_index_copy_side_files(index, tmp_path, merged) < 0) {
		ret = -1;
	} else if (sift_swap_dirs(tmp_path, index->path, FALSE,
				  &error) < 0) {
		e_error(backend->event, "%s", error);
		ret = -1;
	} else if (merged) {
		/* in the index now; gone before anyone else can take
		   the new copy's lock and start a run of its own */
		sift_index_run_remove(index);
	} else if (dropped > 0) {
		/* the new copy holds no expunged documents */
		array_clear(&index->expunged);
		index->expunged_dirty = FALSE;
	}
	/* after an exchange tmp_path holds the old copy */
	if (unlink_directory(tmp_path, UNLINK_DIRECTORY_FLAG_RMDIR,
			     &error) < 0 && errno != ENOENT)
		e_warning(backend->event, "Couldn't remove %s: %s",
			  tmp_path, error);
	if (unlink_directory(rebuild_path, UNLINK_DIRECTORY_FLAG_RMDIR,
			     &error) < 0 && errno != ENOENT)
		e_warning(backend->event, "Couldn't remove %s: %s",
			  rebuild_path, error);
	/* the merge's and the side-file copies' buffers are freed */
	sift_heap_release(index->event, "a compaction");
	i_gettimeofday(&end);
	if (ret == 0) {
		e_debug(event_create_passthrough(event)->
			set_name(SIFT_EVENT_COMPACT)->
			add_str("kind", dropped > 0 ? "rebuild" : "compact")->
			add_int("dropped", dropped)->event(),
			"%s %s (%u expunged documents dropped, %u run "
			"databases merged) in %lld ms",
			dropped > 0 ? "Rebuilt" : "Compacted", index->path,
			dropped, run_count,
			(long long)timeval_diff_msecs(&end, &start));
	}
	event_unref(&event);
	return ret;
}

/* Enough expunged documents to be worth rebuilding the index without
   them: at least compact_after, and a quarter of the documents. */
static bool sift_index_wants_rebuild(struct sift_index *index)
{
	unsigned int compact_after = index->backend->set->compact_after;
	unsigned int dead = seq_range_count(&index->expunged);
	uint32_t docs, last_docid;
	const char *error;

	if (compact_after == 0 || dead < compact_after)
		return FALSE;
	if (sift_xdb_stats(index->db, &docs, &last_docid, &error) != SIFT_X_OK) {
		sift_index_error(index, "Reading statistics of", error);
		return FALSE;
	}
	return (uint64_t)dead * 4 >= docs;
}

static void sift_index_finish_event(struct sift_index *index)
{
	e_debug(event_create_passthrough(index->event)->
		set_name(SIFT_EVENT_INDEX)->
		add_int("messages", index->docs_added)->event(),
		"Finished updating %s: %u messages added",
		index->path, index->docs_added);
}

/* Record the expunges of messages whose documents are still live.
   Dovecot hands an expunge to the fts plugin once, in the process whose
   sync applies it (with maildir: the one that unlinks the file), and an
   indexing run's process drops it (fts-storage.c's "maildir
   workaround"); a process killed before its update ends loses it too.
   Such a document is never part of a result (Dovecot drops UIDs that no
   longer exist), but it stays in the index for good and keeps the index
   from being rebuilt without it.  So at the end of every indexing run
   that added messages (its view of the mailbox is synced and every
   message in it is indexed) the documents are compared with the
   mailbox: a UID below the view's UIDNEXT that is not in the view is
   expunged for sure (UIDs are never reused).  It lists the documents
   (Xapian's document length list, a few ms per 100,000 messages).
   Returns the number recorded. */
static unsigned int sift_index_expunge_gone(struct sift_index *index)
{
	struct mailbox_status status;
	struct sift_uids docs = { NULL, 0, 0 };
	const char *error;
	ARRAY_TYPE(seq_range) seqs, box_uids;
	unsigned int found = 0;

	if (index->box == NULL || !index->box->opened)
		return 0;
	mailbox_get_open_status(index->box, STATUS_MESSAGES |
				STATUS_UIDNEXT, &status);
	if (sift_xdb_all_uids(index->db, &docs, &error) != SIFT_X_OK) {
		/* not fatal: the run's documents are committed anyway */
		e_debug(index->backend->event, "Listing documents of %s "
			"failed: %s", index->path, error);
		return 0;
	}
	T_BEGIN {
		t_array_init(&seqs, 1);
		t_array_init(&box_uids, 64);
		if (status.messages > 0) {
			seq_range_array_add_range(&seqs, 1, status.messages);
			mailbox_get_uid_range(index->box, &seqs, &box_uids);
		}
		for (size_t i = 0; i < docs.count; i++) {
			uint32_t uid = docs.uids[i];

			if (uid >= status.uidnext ||
			    seq_range_exists(&box_uids, uid) ||
			    seq_range_exists(&index->expunged, uid))
				continue;
			sift_index_expunge(index, uid);
			found++;
		}
	} T_END;
	sift_uids_free(&docs);
	if (found > 0) {
		e_debug(index->backend->event, "Recorded %u expunges of "
			"mailbox %s that were never handed to the index",
			found, mailbox_get_vname(index->box));
	}
	return found;
}

int sift_index_finish(struct sift_index **_index)
{
	struct sift_index *index = *_index;
	struct event *backend_event = index->backend->event;
	unsigned int compact_after = index->backend->set->compact_after;
	bool rebuild;
	struct sift_umask saved;
	int ret;

	if (index->writable && index->docs_added > 0)
		(void)sift_index_expunge_gone(index);
	if (sift_index_run_active(index)) {
		/* a bulk run: its end merges the run databases into the
		   index in the compaction below, which commits them */
		ret = 0;
	} else {
		ret = sift_index_commit(index, 0);
	}
	sift_umask_push(index->create_umask, &saved);
	/* a large indexing run leaves B-tree blocks half full: compacting
	   roughly halves the index and takes about a second per 100k
	   messages */
	rebuild = ret == 0 && sift_index_wants_rebuild(index);
	if (ret == 0 && (rebuild || (compact_after > 0 &&
				     index->docs_added >= compact_after)))
		ret = sift_index_compact_locked(index, rebuild);
	else if (ret == 0 && !sift_termfiles_writer_terms_complete(index->dict)) {
		struct sift_file_state st;
		const char *error;

		/* the new file is used once a commit names it; until then
		   searches use Xapian's term list */
		if (sift_termfiles_write_terms(index->dict, index->db, index->path,
					  &st, &error) < 0) {
			e_warning(index->backend->event, "%s", error);
		} else {
			ret = sift_index_commit_last_uid(index,
						index->stored_last_uid);
		}
	}
	sift_umask_pop(&saved);
	if (ret == 0)
		sift_index_finish_event(index);
	sift_index_close(_index);
	/* the run's memory is freed: give it back to the kernel (an
	   indexer-worker lives on after the run); the backend's event
	   outlives the index */
	sift_heap_release(backend_event, "an indexing run");
	return ret;
}

int sift_index_optimize(struct sift_fts_backend *backend, struct mailbox *box)
{
	struct sift_index *index;
	struct sift_umask saved;
	int ret;

	ret = sift_index_open_reader(backend, box, &index);
	if (ret <= 0)
		return ret;
	sift_index_close(&index);

	if (sift_index_open_writer(backend, box, &index) < 0)
		return -1;
	sift_umask_push(index->create_umask, &saved);
	ret = sift_index_compact_locked(index, TRUE);
	sift_umask_pop(&saved);
	sift_index_close(&index);
	return ret;
}
