/* sift-index-run.c: a bulk indexing run's small databases.

   Why: every commit of a batch into the index rewrites most leaf blocks
   of its postlist B-tree (a batch's rare terms are spread over the whole
   term range), so committing into a large index costs in proportion to
   the index, and a run's cost grew faster than its message count (x4.04
   CPU for x3.33 messages from 30k to 100k).  Instead, once a run has
   added fts_sift_compact_after messages - the point from which its end
   compacts the index anyway - its documents go into fresh databases of
   at most SIFT_RUN_DB_BATCHES commit batches each, whose commits touch a small
   tree (no fsync: they are scratch), and the run's end merges them with
   the index in the compaction it does anyway (sift_xdb_merge(): one pass
   over all posting lists).  SIFT_RUN_MAX_DBS of them, or a writer waiting
   for the lock, merge them earlier (a checkpoint), so the open databases
   and the work a killed run loses stay bounded.

   Crash safety: the index itself is not committed while documents sit
   in run databases, so its last_uid never claims them; their side-file
   records are appended but not committed, and the next writer cuts them
   off.  A killed run leaves its databases behind (<index>.run-<n>, next
   to the index, like <index>.compact): the next writer removes them when
   it takes the lock, and those messages are indexed again.  Nobody but
   the writer holding the index's lock opens them. */
#include "lib.h"
#include "array.h"
#include "seq-range-array.h"
#include "unlink-directory.h"
#include "mail-storage-private.h"
#include "fts-sift-plugin.h"
#include "fts-backend-sift.h"
#include "sift-index-private.h"

#include <dirent.h>

#define SIFT_RUN_SUFFIX ".run-"

static const char *sift_index_run_path(struct sift_index *index,
				       unsigned int n)
{
	return t_strdup_printf("%s"SIFT_RUN_SUFFIX"%u", index->path, n);
}

bool sift_index_run_active(const struct sift_index *index)
{
	return index->run_db != NULL || index->run_dbs > 0;
}

unsigned int sift_index_run_db_count(const struct sift_index *index)
{
	return index->run_dbs;
}

bool sift_index_run_has(const struct sift_index *index, uint32_t uid)
{
	return array_is_created(&index->run_uids) &&
		seq_range_exists(&index->run_uids, uid);
}

const char *const *sift_index_run_db_paths(struct sift_index *index,
					   unsigned int *count_r)
{
	ARRAY_TYPE(const_string) paths;

	t_array_init(&paths, index->run_dbs + 1);
	for (unsigned int i = 1; i <= index->run_dbs; i++) {
		const char *p = sift_index_run_path(index, i);
		array_push_back(&paths, &p);
	}
	*count_r = index->run_dbs;
	return array_front(&paths);
}

int sift_index_run_add(struct sift_index *index, uint32_t uid,
		       const struct sift_xdoc *doc)
{
	const char *path, *error;

	if (index->run_db == NULL) {
		path = sift_index_run_path(index, index->run_dbs + 1);
		(void)unlink_directory(path, UNLINK_DIRECTORY_FLAG_RMDIR,
				       &error);
		/* scratch: what makes the run durable is the merge */
		if (sift_xdb_open(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
				  SIFT_XDB_NO_SYNC, &index->run_db,
				  &error) != SIFT_X_OK) {
			sift_index_error(index, "Creating a run database for",
					 error);
			return -1;
		}
		index->run_dbs++;
		index->run_db_docs = 0;
		if (!array_is_created(&index->run_uids))
			i_array_init(&index->run_uids, 16);
	}
	if (sift_xdb_add(index->run_db, uid, doc, NULL,
			 &error) != SIFT_X_OK) {
		sift_index_error(index, "Storing a document in a run "
				 "database of", error);
		return -1;
	}
	seq_range_array_add(&index->run_uids, uid);
	index->run_db_docs++;
	return 0;
}

int sift_index_run_commit(struct sift_index *index)
{
	const char *error;

	if (index->run_db == NULL)
		return 0;
	if (sift_xdb_commit(index->run_db, &error) != SIFT_X_OK) {
		sift_index_error(index, "Committing a run database of", error);
		return -1;
	}
	if (index->run_db_docs >= SIFT_RUN_DB_BATCHES *
	    index->backend->set->commit_batch) {
		/* full: the next document starts the next one */
		sift_xdb_close(&index->run_db);
	}
	return 0;
}

void sift_index_run_close(struct sift_index *index)
{
	sift_xdb_close(&index->run_db);
}

void sift_index_run_remove(struct sift_index *index)
{
	const char *error;

	sift_xdb_close(&index->run_db);
	for (unsigned int i = 1; i <= index->run_dbs; i++) T_BEGIN {
		const char *path = sift_index_run_path(index, i);

		if (unlink_directory(path, UNLINK_DIRECTORY_FLAG_RMDIR,
				     &error) < 0 && errno != ENOENT) {
			e_warning(index->backend->event,
				  "Couldn't remove %s: %s", path, error);
		}
	} T_END;
	index->run_dbs = 0;
	index->run_db_docs = 0;
	if (array_is_created(&index->run_uids))
		array_clear(&index->run_uids);
}

void sift_index_run_remove_leftovers(struct sift_index *index)
{
	const char *slash = strrchr(index->path, '/');
	const char *dir, *base, *error;
	size_t base_len;
	struct dirent *d;
	DIR *dirp;

	if (slash == NULL)
		return;
	dir = t_strdup_until(index->path, slash);
	base = t_strconcat(slash + 1, SIFT_RUN_SUFFIX, NULL);
	base_len = strlen(base);
	if ((dirp = opendir(dir)) == NULL)
		return;
	while ((d = readdir(dirp)) != NULL) {
		if (strncmp(d->d_name, base, base_len) != 0)
			continue;
		T_BEGIN {
			const char *path = t_strconcat(dir, "/", d->d_name,
						       NULL);
			if (unlink_directory(path,
					     UNLINK_DIRECTORY_FLAG_RMDIR,
					     &error) < 0 && errno != ENOENT) {
				e_warning(index->backend->event,
					  "Couldn't remove %s: %s", path,
					  error);
			} else {
				e_debug(index->backend->event, "Removed %s, "
					"left by a run that did not finish",
					path);
			}
		} T_END;
	}
	(void)closedir(dirp);
}

void sift_index_run_deinit(struct sift_index *index)
{
	sift_index_run_remove(index);
	if (array_is_created(&index->run_uids))
		array_free(&index->run_uids);
}
