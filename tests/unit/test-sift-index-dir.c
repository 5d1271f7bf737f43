/* Unit tests of plugin/sift-index-dir.c: the storage layer's crash and
   permission paths, from the files a killed or running writer leaves -
   nothing, a directory without tables (side files only), a whole
   database, tables without iamglass with and without a process holding
   the lock, a real Xapian writer's lock - and directories and lock files
   the process may not write (as root: in a child that drops to uid
   65534, since root ignores the mode bits). */
#include "lib.h"
#include "str.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-xapian.h"
#include "sift-index-dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>

#define NOBODY_ID 65534

static char test_root[] = "/tmp/test-sift-index-dir.XXXXXX";

static const char *tpath(const char *name)
{
	return t_strconcat(test_root, "/", name, NULL);
}

static void touch(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT, mode);

	if (fd == -1)
		i_fatal("open(%s) failed: %m", path);
	i_close_fd(&fd);
}

/* A database with one committed document at path. */
static void make_db(const char *path)
{
	struct sift_xdb *db;
	struct sift_xdoc *doc;
	const char *error;

	if (sift_xdb_open(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
			  SIFT_XDB_NO_SYNC, &db, &error) != SIFT_X_OK ||
	    sift_xdoc_new(&doc, &error) != SIFT_X_OK ||
	    sift_xdoc_add_term(doc, "Bword", 5, &error) != SIFT_X_OK ||
	    sift_xdb_add(db, 1, doc, NULL, &error) != SIFT_X_OK ||
	    sift_xdb_commit(db, &error) != SIFT_X_OK)
		i_fatal("making %s: %s", path, error);
	sift_xdoc_free(&doc);
	sift_xdb_close(&db);
}

/* Fork a child that holds the lock (fcntl, as Xapian's writer does) on
   path/flintlock until killed.  Returns its pid once it holds it. */
static pid_t lock_holder(const char *path)
{
	const char *lock = t_strconcat(path, "/flintlock", NULL);
	int fds[2];
	char c;
	pid_t pid;

	if (pipe(fds) < 0)
		i_fatal("pipe() failed: %m");
	pid = fork();
	if (pid < 0)
		i_fatal("fork() failed: %m");
	if (pid == 0) {
		struct flock fl;
		int fd = open(lock, O_RDWR | O_CREAT, 0600);

		i_zero(&fl);
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fd == -1 || fcntl(fd, F_SETLK, &fl) < 0)
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	i_close_fd(&fds[1]);
	if (read(fds[0], &c, 1) != 1)
		i_fatal("lock holder failed");
	i_close_fd(&fds[0]);
	return pid;
}

static void kill_child(pid_t pid)
{
	int status;

	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, &status, 0);
}

static void test_index_dir_states(void)
{
	const char *db = tpath("db"), *empty = tpath("empty");
	const char *side = tpath("side-only");
	const char *error;
	pid_t pid;

	test_begin("index dir: what a killed or running writer leaves");
	/* nothing at all, or an empty directory: created anew */
	test_assert(sift_index_dir_state(tpath("none")) ==
		    SIFT_INDEX_DIR_USABLE);
	test_assert(mkdir(empty, 0700) == 0);
	test_assert(sift_index_dir_state(empty) == SIFT_INDEX_DIR_USABLE);
	test_assert(!sift_index_dir_has_tables(empty));
	/* side files but no table: a writer killed before it created the
	   database; not damage */
	test_assert(mkdir(side, 0700) == 0);
	touch(t_strconcat(side, "/terms", NULL), 0600);
	touch(t_strconcat(side, "/opaque", NULL), 0600);
	touch(t_strconcat(side, "/flintlock", NULL), 0600);
	test_assert(sift_index_dir_state(side) == SIFT_INDEX_DIR_USABLE);
	test_assert(!sift_index_dir_writer_active(side));
	/* empty tables, no iamglass, nobody writing: a writer killed while
	   Xapian created the database (tables first, then iamglass) */
	touch(t_strconcat(side, "/postlist.glass", NULL), 0600);
	test_assert(sift_index_dir_has_tables(side));
	test_assert(sift_index_dir_state(side) ==
		    SIFT_INDEX_DIR_CREATION_KILLED);
	/* while a writer holds the lock it is being created: not cleared */
	pid = lock_holder(side);
	test_assert(sift_index_dir_state(side) ==
		    SIFT_INDEX_DIR_BEING_CREATED);
	test_assert(sift_index_dir_clear_killed_creation(side, &error) == 0);
	test_assert(access(t_strconcat(side, "/postlist.glass", NULL),
			   F_OK) == 0);
	kill_child(pid);
	/* nobody: the empty tables go, the side files stay */
	test_assert(sift_index_dir_clear_killed_creation(side, &error) == 1);
	test_assert(!sift_index_dir_has_tables(side));
	test_assert(sift_index_dir_state(side) == SIFT_INDEX_DIR_USABLE);
	test_assert(access(t_strconcat(side, "/terms", NULL), F_OK) == 0);
	/* and Xapian creates the database there anew */
	make_db(side);
	test_assert(sift_index_dir_state(side) == SIFT_INDEX_DIR_USABLE);

	/* a whole database */
	make_db(db);
	test_assert(sift_index_dir_has_tables(db));
	test_assert(sift_index_dir_state(db) == SIFT_INDEX_DIR_USABLE);
	test_assert(!sift_index_dir_writer_active(db));
	/* its version file gone, nobody writing: damage */
	test_assert(unlink(t_strconcat(db, "/iamglass", NULL)) == 0);
	test_assert(sift_index_dir_state(db) ==
		    SIFT_INDEX_DIR_VERSION_MISSING);
	/* the same files while a process holds the lock: being created */
	pid = lock_holder(db);
	test_assert(sift_index_dir_writer_active(db));
	test_assert(sift_index_dir_state(db) ==
		    SIFT_INDEX_DIR_BEING_CREATED);
	kill_child(pid);
	/* the holder died: its lock went with it */
	test_assert(!sift_index_dir_writer_active(db));
	test_assert(sift_index_dir_state(db) ==
		    SIFT_INDEX_DIR_VERSION_MISSING);
	test_end();
}

/* The names and sizes of path's tables, "name=size " each, sorted. */
static const char *tables_list(const char *path)
{
	const char *names[] = { "docdata", "position", "postlist",
				"spelling", "synonym", "termlist" };
	string_t *str = t_str_new(128);
	struct stat st;
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(names); i++) {
		const char *table = t_strconcat(path, "/", names[i], ".glass",
						NULL);

		if (stat(table, &st) == 0)
			str_printfa(str, "%s=%lld ", names[i],
				    (long long)st.st_size);
	}
	return str_c(str);
}

/* The state was judged CREATION_KILLED (no iamglass, only empty tables,
   no lock), and before the lock is taken to clear it a writer finishes
   creating the database there: Xapian's iamglass is in place, the tables
   are empty (created, nothing committed yet) or hold a first commit.
   The clear must take nothing away and let the caller look again. */
static void test_index_dir_clear_after_creation(void)
{
	const char *empty = tpath("created-empty");
	const char *full = tpath("created-full");
	const char *before, *error;
	struct sift_xdb *db;

	test_begin("index dir: a creation finished before the clear");
	/* created, nothing committed: iamglass and empty tables */
	test_assert(sift_xdb_open(empty, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
				  SIFT_XDB_NO_SYNC, &db, &error) == SIFT_X_OK);
	sift_xdb_close(&db);
	before = tables_list(empty);
	test_assert(strstr(before, "=0 ") != NULL);
	test_assert(sift_index_dir_clear_killed_creation(empty, &error) == 1);
	test_assert(strcmp(tables_list(empty), before) == 0);
	test_assert(sift_index_dir_state(empty) == SIFT_INDEX_DIR_USABLE);
	test_assert(sift_xdb_open(empty, 0, &db, &error) == SIFT_X_OK);
	sift_xdb_close(&db);
	/* a first commit made too */
	make_db(full);
	before = tables_list(full);
	test_assert(sift_index_dir_clear_killed_creation(full, &error) == 1);
	test_assert(strcmp(tables_list(full), before) == 0);
	test_assert(sift_xdb_open(full, 0, &db, &error) == SIFT_X_OK);
	sift_xdb_close(&db);
	test_end();
}

/* access() of this program (sift-index-dir.c's calls come here): with
   race_dir set, the first look for race_dir's iamglass that finds none
   is followed by a whole creation there - Xapian creates the database,
   commits, lets go - before the caller's next look, as a writer does
   when the looking process is preempted in between. */
static const char *race_dir = NULL;

int access(const char *path, int mode)
{
	int ret = faccessat(AT_FDCWD, path, mode, 0);
	int saved_errno = errno;

	if (race_dir != NULL && ret < 0 && errno == ENOENT &&
	    strcmp(path, t_strconcat(race_dir, "/iamglass", NULL)) == 0) {
		const char *dir = race_dir;

		race_dir = NULL;
		make_db(dir);
	}
	errno = saved_errno;
	return ret;
}

/* The state is judged from files looked at one after the other: a
   database created, committed and let go of between the first look
   (no iamglass) and the lock's (nobody writing) is no damage. */
static void test_index_dir_state_creation_race(void)
{
	static const char *const names[] = {
		"usable", "being created", "creation killed", "version missing"
	};
	const char *dir = tpath("race");
	enum sift_index_dir_state state;

	test_begin("index dir: a creation between the looks is no damage");
	test_assert(mkdir(dir, 0700) == 0);
	race_dir = dir;
	state = sift_index_dir_state(dir);
	test_out_reason("the state", state == SIFT_INDEX_DIR_USABLE,
			names[state]);
	/* (the creation did happen in between) */
	test_assert(race_dir == NULL);
	test_assert(sift_index_dir_has_tables(dir));
	race_dir = NULL;
	test_end();
}

/* Xapian's own writer lock is what the probe sees. */
static void test_index_dir_xapian_lock(void)
{
	const char *db = tpath("xlock");
	struct sift_xdb *writer;
	const char *error;

	test_begin("index dir: a Xapian writer's lock is seen");
	make_db(db);
	test_assert(sift_xdb_open(db, SIFT_XDB_WRITE | SIFT_XDB_NO_SYNC,
				  &writer, &error) == SIFT_X_OK);
	test_assert(sift_index_dir_writer_active(db));
	sift_xdb_close(&writer);
	test_assert(!sift_index_dir_writer_active(db));
	test_end();
}

/* In a child, as uid/gid 65534 when running as root: each check's
   result, as exit status bits (1: read-only dir refused, 2: writable dir
   accepted, 4: read-only lock file refused, 8: the errors name the
   paths). */
static int child_writable(const char *ro, const char *rw, const char *rolock)
{
	const char *error;
	int result = 0;

	if (geteuid() == 0 &&
	    (setgroups(0, NULL) < 0 || setgid(NOBODY_ID) < 0 ||
	     setuid(NOBODY_ID) < 0))
		return 0x80;
	if (sift_index_dir_check_writable(ro, &error) < 0) {
		result |= 1;
		if (strstr(error, ro) != NULL)
			result |= 8;
	}
	if (sift_index_dir_check_writable(rw, &error) == 0)
		result |= 2;
	if (sift_index_dir_check_writable(rolock, &error) < 0 &&
	    strstr(error, "flintlock") != NULL)
		result |= 4;
	return result;
}

static void test_index_dir_writable(void)
{
	const char *ro = tpath("ro"), *rw = tpath("rw");
	const char *rolock = tpath("rolock");
	const char *error;
	int status;
	pid_t pid;

	test_begin("index dir: directories and lock files not writable");
	/* the test root must be searchable by the child */
	test_assert(chmod(test_root, 0755) == 0);
	test_assert(mkdir(ro, 0700) == 0 && chmod(ro, 0555) == 0);
	test_assert(mkdir(rw, 0700) == 0 && chmod(rw, 0777) == 0);
	test_assert(mkdir(rolock, 0700) == 0 && chmod(rolock, 0777) == 0);
	touch(t_strconcat(rolock, "/flintlock", NULL), 0444);
	/* this process: whatever it is, a writable directory passes */
	test_assert(sift_index_dir_check_writable(rw, &error) == 0);

	pid = fork();
	if (pid < 0)
		i_fatal("fork() failed: %m");
	if (pid == 0)
		_exit(child_writable(ro, rw, rolock));
	test_assert(waitpid(pid, &status, 0) == pid);
	test_assert(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) != 15)
		i_error("child result 0x%x (want 0xf)", WEXITSTATUS(status));
	test_assert(WIFEXITED(status) && WEXITSTATUS(status) == 15);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_index_dir_states,
		test_index_dir_clear_after_creation,
		test_index_dir_state_creation_race,
		test_index_dir_xapian_lock,
		test_index_dir_writable,
		NULL
	};

	return sift_test_main(test_functions, test_root);
}
