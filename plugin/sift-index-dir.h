/* sift-index-dir: what an index directory's files say, before Xapian
   opens it - the checks behind the storage layer's crash and permission
   paths (sift-index.c), on paths only (no mailbox, no Xapian), so that a
   unit test builds every state (tests/unit/test-sift-index-dir.c).

   A writer killed at any moment leaves one of: nothing; the directory
   (perhaps with side files) but no Xapian table yet; empty tables
   without the version file iamglass (killed while Xapian created the
   database: it creates the tables, then renames iamglass into place;
   from then on every commit replaces iamglass atomically); a whole
   database.  None of those is damage.  Tables with data but no iamglass
   are, and only when no writer holds the lock: a writer creating the
   database right now leaves the same files. */
#ifndef SIFT_INDEX_DIR_H
#define SIFT_INDEX_DIR_H

enum sift_index_dir_state {
	/* iamglass is there, or no table is: Xapian opens the database, or
	   (a writer) creates it anew - nothing is damaged */
	SIFT_INDEX_DIR_USABLE,
	/* tables without iamglass while a writer holds the lock: it is
	   creating the database; wait for it like for any writer */
	SIFT_INDEX_DIR_BEING_CREATED,
	/* only empty tables, no iamglass and no writer: a writer was killed
	   while Xapian created the database, which never held anything.
	   Xapian refuses to open or create it ("Failed to open glass
	   revision file"); sift_index_dir_clear_killed_creation() removes
	   the empty tables, after which it is created anew */
	SIFT_INDEX_DIR_CREATION_KILLED,
	/* tables with data without iamglass and no writer: Xapian would
	   take it for no database; damage */
	SIFT_INDEX_DIR_VERSION_MISSING,
};

enum sift_index_dir_state sift_index_dir_state(const char *path);
/* Does path hold Xapian tables (*.glass)? */
bool sift_index_dir_has_tables(const char *path);
/* In state SIFT_INDEX_DIR_CREATION_KILLED: remove the empty tables,
   holding Xapian's lock (flintlock) meanwhile so that a writer starting
   to create the database right now can't lose its files.  Returns 1 when
   the directory is ready to be created anew or (iamglass there under the
   lock: a writer created the database after the state was judged) holds
   a database now - look again -, 0 if a writer holds the lock (wait for
   it), -1 with error_r on failure. */
int sift_index_dir_clear_killed_creation(const char *path,
					 const char **error_r);
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
