/* sift-index-dir: what an index directory's files say, before Xapian
   opens it - the checks behind the storage layer's crash and permission
   paths (sift-index.c), on paths only (no mailbox, no Xapian), so that a
   unit test builds every state (tests/unit/test-sift-index-dir.c).

   A writer killed at any moment leaves one of: nothing; the directory
   (perhaps with side files) but no Xapian table yet; tables without the
   version file iamglass (it is written at the first commit, and after a
   crash or damage may be gone); a whole database.  Only tables without
   iamglass are damage, and only when no writer holds the lock: a writer
   creating the database right now leaves the same files. */
#ifndef SIFT_INDEX_DIR_H
#define SIFT_INDEX_DIR_H

enum sift_index_dir_state {
	/* iamglass is there, or no table is: Xapian opens the database, or
	   (a writer) creates it anew - nothing is damaged */
	SIFT_INDEX_DIR_USABLE,
	/* tables without iamglass while a writer holds the lock: it is
	   creating the database; wait for it like for any writer */
	SIFT_INDEX_DIR_BEING_CREATED,
	/* tables without iamglass and no writer: Xapian would take it for
	   no database and create a new one among the old tables */
	SIFT_INDEX_DIR_VERSION_MISSING,
};

enum sift_index_dir_state sift_index_dir_state(const char *path);
/* Does path hold Xapian tables (*.glass)? */
bool sift_index_dir_has_tables(const char *path);
/* Is a process writing the index at path (holding Xapian's lock, an
   fcntl() lock on the whole of path/flintlock)? */
bool sift_index_dir_writer_active(const char *path);
/* Can this process write the index at path: create files in the
   directory, and open its lock file for writing?  (With the effective
   ids: an indexer-worker keeps root as its real uid.)  Xapian reports a
   lock file it can't open like a lock held by another process, and a
   read-only directory with a writable lock file fails only at the first
   commit; this says so at once.  Returns 0, or -1 with error_r naming
   the path and the cause. */
int sift_index_dir_check_writable(const char *path, const char **error_r);

#endif
