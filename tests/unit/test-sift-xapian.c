/* Unit tests for plugin/sift-xapian.cc, the C wrapper over Xapian (the
   contract is in include/sift-xapian.h).

   Everything happens in a fresh directory made with mkdtemp() under /tmp
   and removed at the end.  Checks that could crash the process (a
   corrupt database, a second writer, extreme UIDs) run in a forked child,
   so that a crash shows up as a failed assertion instead of ending the
   whole run; the child reports through its exit code. */

#include "lib.h"
#include "array.h"
#include "test-common.h"
#include "sift-test-util.h"

#include "sift-xapian.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static char test_root[] = "/tmp/test-sift-xapian.XXXXXX";

/* ---- helpers ---------------------------------------------------------- */

static const char *tpath(const char *name)
{
	return t_strdup_printf("%s/%s", test_root, name);
}

/* A value a handle can't have: open must overwrite it (never used). */
#define POISON_DB ((struct sift_xdb *)(uintptr_t)1)

/* A status is a failure the contract allows, reported with a message. */
/* (*err is then cleared, so that the next check needs a new message:
   the wrapper sets error_r only on failure) */
static bool err_reported(enum sift_xstatus ret, const char **err)
{
	bool reported = ret != SIFT_X_OK && *err != NULL && (*err)[0] != '\0';

	*err = NULL;
	return reported;
}

static struct sift_xdb *db_open_ok(const char *path, unsigned int flags)
{
	struct sift_xdb *db = NULL;
	const char *err = NULL;
	enum sift_xstatus ret;

	ret = sift_xdb_open(path, flags, &db, &err);
	test_assert(ret == SIFT_X_OK);
	if (ret != SIFT_X_OK) {
		i_error("open %s: %s", path, err);
		return NULL;
	}
	test_assert(db != NULL);
	test_assert(err == NULL);
	return db;
}

/* Store a document with the given terms (NULL-terminated list). */
static void ATTR_SENTINEL
doc_put(struct sift_xdb *db, uint32_t uid, ...)
{
	struct sift_xdoc *doc;
	const char *err = NULL;
	const char *term;
	va_list args;

	test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
	va_start(args, uid);
	while ((term = va_arg(args, const char *)) != NULL) {
		test_assert(sift_xdoc_add_term(doc, term, strlen(term),
					       &err) == SIFT_X_OK);
	}
	va_end(args);
	test_assert(sift_xdb_add(db, uid, doc, NULL, &err) == SIFT_X_OK);
	sift_xdoc_free(&doc);
	test_assert(doc == NULL);
}

static void db_commit_ok(struct sift_xdb *db)
{
	const char *err = NULL;
	enum sift_xstatus ret;

	ret = sift_xdb_commit(db, &err);
	test_assert(ret == SIFT_X_OK);
	if (ret != SIFT_X_OK)
		i_error("commit: %s", err);
}

static bool uids_equal(const struct sift_uids *set, const uint32_t *expected,
		       size_t count)
{
	return set->count == count &&
		(count == 0 ||
		 memcmp(set->uids, expected, count * sizeof(*expected)) == 0);
}

/* Match and compare the result (a fresh set) with expected; terms_r is
   compared too unless expected_terms is -1. */
static void
check_match(struct sift_xdb *db, const char *prefix, char sep,
	    const char *needle, enum sift_match match,
	    const uint32_t *expected, size_t count, int expected_terms,
	    unsigned int idx)
{
	struct sift_uids set = { NULL, 0, 0 };
	const char *err = NULL;
	unsigned int terms = 12345;
	enum sift_xstatus ret;

	ret = sift_xdb_match(db, prefix, sep, needle, strlen(needle), match,
			     &set, &terms, &err);
	test_assert_idx(ret == SIFT_X_OK, idx);
	test_assert_idx(uids_equal(&set, expected, count), idx);
	if (expected_terms >= 0)
		test_assert_idx(terms == (unsigned int)expected_terms, idx);
	sift_uids_free(&set);
}

static void check_all_uids(struct sift_xdb *db, const uint32_t *expected,
			   size_t count)
{
	struct sift_uids set = { NULL, 0, 0 };
	const char *err = NULL;

	test_assert(sift_xdb_all_uids(db, &set, &err) == SIFT_X_OK);
	test_assert(uids_equal(&set, expected, count));
	sift_uids_free(&set);
}

static void check_stats(struct sift_xdb *db, uint32_t doc_count,
			uint32_t last_docid)
{
	const char *err = NULL;
	uint32_t count = 99999, last = 99999;

	test_assert(sift_xdb_stats(db, &count, &last, &err) == SIFT_X_OK);
	test_assert(count == doc_count);
	test_assert(last == last_docid);
}

/* For when the highest existing document id (lo) and the highest one
   ever stored (hi) differ: the header says "the highest document id",
   Xapian's get_lastdocid() never goes down.  Either reading is accepted;
   anything outside [lo, hi] is wrong. */
static void check_stats_range(struct sift_xdb *db, uint32_t doc_count,
			      uint32_t lo, uint32_t hi)
{
	const char *err = NULL;
	uint32_t count = 99999, last = 0;

	test_assert(sift_xdb_stats(db, &count, &last, &err) == SIFT_X_OK);
	test_assert(count == doc_count);
	test_assert(last >= lo && last <= hi);
}

/* A database made by compacting or merging is a normal one: it takes a
   new document, uid; then it holds doc_count, the last id in [uid, hi]
   (check_stats_range()). */
static void check_takes_new_doc(const char *path, uint32_t uid,
				uint32_t doc_count, uint32_t hi)
{
	struct sift_xdb *db = db_open_ok(path, SIFT_XDB_WRITE);

	if (db != NULL) {
		doc_put(db, uid, "Bnew", NULL);
		db_commit_ok(db);
		check_stats_range(db, doc_count, uid, hi);
		sift_xdb_close(&db);
	}
}

/* Returns the metadata value (t_strdup'd) or NULL. */
static const char *meta_get(struct sift_xdb *db, const char *key)
{
	const char *err = NULL;
	char *value = (char *)"not-set";
	const char *ret;

	test_assert(sift_xdb_get_metadata(db, key, &value, &err) == SIFT_X_OK);
	ret = value == NULL ? NULL : t_strdup(value);
	free(value);
	return ret;
}

static bool str_eq_null(const char *a, const char *b)
{
	return a == NULL ? b == NULL : (b != NULL && strcmp(a, b) == 0);
}

/* Run fn(ctx) in a forked child; returns its exit code, or -1 if it died
   from a signal (printed). */
static int run_in_child(const char *what, int (*fn)(void *ctx), void *ctx)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		i_fatal("fork() failed: %m");
	if (pid == 0) {
		int code = fn(ctx);

		/* _exit() skips stdio's flush */
		fflush(stdout);
		_exit(code);
	}
	if (waitpid(pid, &status, 0) < 0)
		i_fatal("waitpid() failed: %m");
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	printf("    child '%s' died from signal %d\n", what,
	       WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	return -1;
}

/* ---- tests ------------------------------------------------------------ */

static void test_xdb_open_close(void)
{
	const char *path = tpath("open");
	struct sift_xdb *db, *db2;
	const char *err = NULL;
	struct stat st;

	test_begin("xdb open/close");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	test_assert(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	check_stats(db, 0, 0);
	check_all_uids(db, NULL, 0);
	sift_xdb_close(&db);
	test_assert(db == NULL);
	/* NULL-safe */
	sift_xdb_close(&db);

	/* CREATE on an existing database opens it */
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	sift_xdb_close(&db);
	/* writer without CREATE, reader: both open it */
	db = db_open_ok(path, SIFT_XDB_WRITE);
	db2 = db_open_ok(path, 0);
	if (db2 != NULL) {
		check_stats(db2, 0, 0);
		/* a reader can't write */
		test_assert(err_reported(sift_xdb_commit(db2, &err), &err));
		test_assert(err_reported(sift_xdb_set_metadata(db2, "k", "v",
							       &err), &err));
		test_assert(err_reported(sift_xdb_add(db2, 1, NULL, NULL, &err),
					 &err));
		/* reopen of a reader at the latest revision */
		test_assert(sift_xdb_reopen(db2, &err) == SIFT_X_OK);
	}
	/* reopen on a writer is harmless */
	if (db != NULL)
		test_assert(sift_xdb_reopen(db, &err) == SIFT_X_OK);
	sift_xdb_close(&db2);
	sift_xdb_close(&db);

	/* err may be NULL */
	test_assert(sift_xdb_open(path, 0, &db, NULL) == SIFT_X_OK);
	sift_xdb_close(&db);

	/* status strings: distinct and non-empty */
	const enum sift_xstatus all[] = {
		SIFT_X_OK, SIFT_X_NOT_FOUND, SIFT_X_LOCKED, SIFT_X_MODIFIED,
		SIFT_X_CORRUPT, SIFT_X_NOMEM, SIFT_X_ERROR
	};
	for (unsigned int i = 0; i < N_ELEM(all); i++) {
		const char *s = sift_xstatus_str(all[i]);
		test_assert_idx(s != NULL && s[0] != '\0', i);
		for (unsigned int j = 0; j < i; j++)
			test_assert_idx(strcmp(s, sift_xstatus_str(all[j])) != 0,
					i * 10 + j);
	}
	test_assert(strcmp(sift_xstatus_str(SIFT_X_LOCKED), "locked") == 0);
	test_end();
}

static void test_xdb_not_found(void)
{
	const char *path = tpath("missing");
	const char *deep = tpath("missing-parent/db");
	struct sift_xdb *db = POISON_DB;
	const char *err = NULL;
	enum sift_xstatus ret;
	struct stat st;

	test_begin("xdb open missing database");
	/* reader */
	ret = sift_xdb_open(path, 0, &db, &err);
	test_assert(ret == SIFT_X_NOT_FOUND);
	test_assert(err_reported(ret, &err));
	test_assert(db == NULL);
	/* writer without CREATE */
	db = POISON_DB;
	ret = sift_xdb_open(path, SIFT_XDB_WRITE, &db, &err);
	test_assert(ret == SIFT_X_NOT_FOUND);
	test_assert(err_reported(ret, &err));
	test_assert(db == NULL);
	/* nothing was created on the way */
	test_assert(stat(path, &st) < 0 && errno == ENOENT);
	/* missing parent directory */
	ret = sift_xdb_open(deep, SIFT_XDB_WRITE, &db, &err);
	test_assert(ret == SIFT_X_NOT_FOUND);
	test_assert(db == NULL);
	ret = sift_xdb_open(deep, 0, &db, &err);
	test_assert(ret == SIFT_X_NOT_FOUND);
	test_assert(db == NULL);
	/* err may be NULL */
	test_assert(sift_xdb_open(path, 0, &db, NULL) == SIFT_X_NOT_FOUND);
	test_end();
}

/* Child: try to take the writer lock on path; 0 when refused as LOCKED
   with a message, 10 + status otherwise. */
static int child_try_writer(void *ctx)
{
	struct sift_xdb *db = NULL;
	const char *err = NULL;
	enum sift_xstatus ret;

	ret = sift_xdb_open(ctx, SIFT_XDB_WRITE, &db, &err);
	if (ret == SIFT_X_OK)
		sift_xdb_close(&db);
	if (ret == SIFT_X_LOCKED && db == NULL && err != NULL &&
	    err[0] != '\0')
		return 0;
	return 10 + (int)ret;
}

/* Child: open path as a writer; 0 if that works. */
static int child_take_writer(void *ctx)
{
	struct sift_xdb *db = NULL;
	const char *err = NULL;
	enum sift_xstatus ret;

	ret = sift_xdb_open(ctx, SIFT_XDB_WRITE, &db, &err);
	sift_xdb_close(&db);
	return ret == SIFT_X_OK ? 0 : 10 + (int)ret;
}

/* Child: open path as a reader and see UID 1; 0 if that works. */
static int child_reader(void *ctx)
{
	struct sift_xdb *db = NULL;
	const char *err = NULL;
	uint32_t count, last;
	int ret = 1;

	if (sift_xdb_open(ctx, 0, &db, &err) != SIFT_X_OK)
		return 2;
	if (sift_xdb_stats(db, &count, &last, &err) == SIFT_X_OK &&
	    count == 1 && last == 1)
		ret = 0;
	sift_xdb_close(&db);
	return ret;
}

static void test_xdb_locked(void)
{
	const char *path = tpath("locked");
	struct sift_xdb *db, *reader;
	static const uint32_t one_two[] = { 1, 2 };

	test_begin("xdb writer lock");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	doc_put(db, 1, "Bfirst", NULL);
	db_commit_ok(db);

	/* Xapian's lock is per process: a second writer must come from
	   another process */
	test_assert(run_in_child("second writer", child_try_writer,
				 (void *)path) == 0);
	/* readers need no lock */
	test_assert(run_in_child("reader", child_reader, (void *)path) == 0);

	/* the refused attempt did not disturb the parent's writer */
	doc_put(db, 2, "Bsecond", NULL);
	db_commit_ok(db);
	check_match(db, "B", '\0', "second", SIFT_MATCH_EXACT, one_two + 1, 1,
		    1, 0);
	reader = db_open_ok(path, 0);
	if (reader != NULL) {
		check_all_uids(reader, one_two, 2);
		sift_xdb_close(&reader);
	}
	/* still locked after more commits */
	test_assert(run_in_child("second writer", child_try_writer,
				 (void *)path) == 0);

	/* close releases the lock */
	sift_xdb_close(&db);
	test_assert(run_in_child("writer after close", child_take_writer,
				 (void *)path) == 0);
	test_end();
}

static void test_xdb_documents(void)
{
	const char *path = tpath("docs");
	struct sift_xdb *db, *reader;
	struct sift_uids set = { NULL, 0, 0 };
	const char *err = NULL;
	unsigned int terms;
	static const uint32_t u1[] = { 1 }, u2[] = { 2 }, u3[] = { 3 };
	static const uint32_t u12[] = { 1, 2 }, u13[] = { 1, 3 };
	static const uint32_t u23[] = { 2, 3 }, u123[] = { 1, 2, 3 };
	static const uint32_t all[] = { 1, 2, 3, 10 }, u127[] = { 1, 2, 7 };

	test_begin("xdb documents and matching");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	doc_put(db, 1, "Bhello", "Bworld", "Hsubject:greetings", "Hfrom:alice",
		NULL);
	doc_put(db, 2, "Bhelp", "Hsubject:hello", "Mhello", NULL);
	doc_put(db, 3, "Bshell", "Hx-a:b:hello", "Hnocolon", NULL);
	doc_put(db, 10, "Bother", NULL);
	db_commit_ok(db);
	check_stats(db, 4, 10);
	check_all_uids(db, all, N_ELEM(all));

	reader = db_open_ok(path, 0);
	if (reader == NULL) {
		sift_xdb_close(&db);
		test_end();
		return;
	}
	check_stats(reader, 4, 10);
	check_all_uids(reader, all, N_ELEM(all));

	/* plain prefix, each mode */
	check_match(reader, "B", '\0', "hello", SIFT_MATCH_EXACT, u1, 1, 1, 1);
	check_match(reader, "B", '\0', "hel", SIFT_MATCH_EXACT, NULL, 0, 0, 2);
	/* exact is byte-exact: no case folding here */
	check_match(reader, "B", '\0', "HELLO", SIFT_MATCH_EXACT, NULL, 0, 0, 3);
	/* "B" + "" would be the term "B", which nobody has */
	check_match(reader, "B", '\0', "", SIFT_MATCH_EXACT, NULL, 0, 0, 4);
	/* hello, help */
	check_match(reader, "B", '\0', "hel", SIFT_MATCH_PREFIX, u12, 2, 2, 5);
	/* hello, world, help, shell, other */
	check_match(reader, "B", '\0', "", SIFT_MATCH_PREFIX, all, 4, 5, 6);
	/* hello, shell */
	check_match(reader, "B", '\0', "ell", SIFT_MATCH_SUBSTRING, u13, 2, 2, 7);
	/* Hsubject:hello and Mhello are other prefixes */
	check_match(reader, "B", '\0', "hello", SIFT_MATCH_SUBSTRING, u1, 1, 1, 8);
	/* needle longer than any rest */
	check_match(reader, "B", '\0', "helloworld", SIFT_MATCH_SUBSTRING,
		    NULL, 0, 0, 9);
	/* the prefix is part of the term: "Bhello" has no rest "Bhello" */
	check_match(reader, "B", '\0', "Bhello", SIFT_MATCH_SUBSTRING,
		    NULL, 0, 0, 10);

	/* term family H<name>:<word>, searched across every <name> */
	check_match(reader, "H", ':', "hello", SIFT_MATCH_EXACT, u2, 1, 1, 20);
	/* "Hx-a:b:hello": the rest starts after the FIRST ':', "b:hello" */
	check_match(reader, "H", ':', "b:hello", SIFT_MATCH_EXACT, u3, 1, 1, 21);
	check_match(reader, "H", ':', "b:", SIFT_MATCH_PREFIX, u3, 1, 1, 22);
	check_match(reader, "H", ':', "gree", SIFT_MATCH_PREFIX, u1, 1, 1, 23);
	/* exact means the whole rest */
	check_match(reader, "H", ':', "gree", SIFT_MATCH_EXACT, NULL, 0, 0, 34);
	check_match(reader, "H", ':', "greetings", SIFT_MATCH_EXACT, u1, 1, 1,
		    35);
	/* greetings, alice, hello, b:hello - not nocolon */
	check_match(reader, "H", ':', "", SIFT_MATCH_PREFIX, u123, 3, 4, 24);
	check_match(reader, "H", ':', "hello", SIFT_MATCH_SUBSTRING, u23, 2, 2,
		    25);
	check_match(reader, "H", ':', "li", SIFT_MATCH_SUBSTRING, u1, 1, 1, 26);
	/* the name part is not searched */
	check_match(reader, "H", ':', "subject", SIFT_MATCH_SUBSTRING,
		    NULL, 0, 0, 27);
	/* terms without the separator are skipped... */
	check_match(reader, "H", ':', "nocolon", SIFT_MATCH_SUBSTRING,
		    NULL, 0, 0, 28);
	check_match(reader, "H", ':', "nocolon", SIFT_MATCH_EXACT,
		    NULL, 0, 0, 29);
	/* ...but found without it */
	check_match(reader, "H", '\0', "nocolon", SIFT_MATCH_SUBSTRING,
		    u3, 1, 1, 30);
	check_match(reader, "H", '\0', "nocolon", SIFT_MATCH_EXACT, u3, 1, 1, 31);
	check_match(reader, "H", '\0', "subject:hello", SIFT_MATCH_EXACT,
		    u2, 1, 1, 32);
	check_match(reader, "H", '\0', "subject:", SIFT_MATCH_PREFIX,
		    u12, 2, 2, 33);
	/* empty prefix: whole terms */
	check_match(reader, "", '\0', "Mhello", SIFT_MATCH_EXACT, u2, 1, 1, 40);
	check_match(reader, "", '\0', "hello", SIFT_MATCH_SUBSTRING, u123, 3, 4,
		    41);
	/* a prefix nobody uses */
	check_match(reader, "Z", '\0', "", SIFT_MATCH_PREFIX, NULL, 0, 0, 42);
	check_match(reader, "Z", ':', "", SIFT_MATCH_SUBSTRING, NULL, 0, 0, 43);

	/* results are merged into out: sorted, unique */
	set.alloc = 4;
	set.uids = malloc(set.alloc * sizeof(uint32_t));
	set.uids[0] = 2;
	set.uids[1] = 7;
	set.count = 2;
	test_assert(sift_xdb_match(reader, "B", '\0', "hel", 3,
				   SIFT_MATCH_PREFIX, &set, &terms,
				   &err) == SIFT_X_OK);
	test_assert(uids_equal(&set, u127, 3));
	/* again: nothing changes */
	test_assert(sift_xdb_match(reader, "B", '\0', "hel", 3,
				   SIFT_MATCH_PREFIX, &set, NULL,
				   &err) == SIFT_X_OK);
	test_assert(uids_equal(&set, u127, 3));
	/* no match: out is left alone */
	test_assert(sift_xdb_match(reader, "B", '\0', "nothing", 7,
				   SIFT_MATCH_EXACT, &set, &terms,
				   NULL) == SIFT_X_OK);
	test_assert(uids_equal(&set, u127, 3));
	test_assert(terms == 0);
	/* needle_len is honoured, not strlen() */
	test_assert(sift_xdb_match(reader, "B", '\0', "shellfish", 5,
				   SIFT_MATCH_EXACT, &set, &terms,
				   &err) == SIFT_X_OK);
	test_assert(set.count == 4 && set.uids[2] == 3 && terms == 1);
	sift_uids_free(&set);

	/* all_uids merges too */
	set.uids = malloc(sizeof(uint32_t) * 2);
	set.alloc = 2;
	set.uids[0] = 5;
	set.uids[1] = 11;
	set.count = 2;
	test_assert(sift_xdb_all_uids(reader, &set, &err) == SIFT_X_OK);
	{
		static const uint32_t merged[] = { 1, 2, 3, 5, 10, 11 };
		test_assert(uids_equal(&set, merged, N_ELEM(merged)));
	}
	sift_uids_free(&set);

	/* adding under uid 1 again keeps its document as it was */
	doc_put(db, 1, "Bgoodbye", NULL);
	db_commit_ok(db);
	test_assert(sift_xdb_reopen(reader, &err) == SIFT_X_OK);
	check_stats(reader, 4, 10);
	check_all_uids(reader, all, N_ELEM(all));
	check_match(reader, "B", '\0', "hello", SIFT_MATCH_EXACT, u1, 1, 1, 50);
	check_match(reader, "B", '\0', "goodbye", SIFT_MATCH_EXACT, NULL, 0, 0,
		    51);
	check_match(reader, "H", ':', "greetings", SIFT_MATCH_SUBSTRING,
		    u1, 1, 1, 52);
	/* the writer reads the same */
	check_match(db, "B", '\0', "goodbye", SIFT_MATCH_EXACT, NULL, 0, 0, 54);

	/* a new uid is added */
	doc_put(db, 7, "Bseven", NULL);
	db_commit_ok(db);
	test_assert(sift_xdb_reopen(reader, &err) == SIFT_X_OK);
	check_stats(reader, 5, 10);
	{
		static const uint32_t with7[] = { 1, 2, 3, 7, 10 };
		check_all_uids(reader, with7, N_ELEM(with7));
	}

	/* uid 0 is no document id */
	{
		struct sift_xdoc *doc;
		test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
		test_assert(sift_xdoc_add_term(doc, "Bx", 2, &err) == SIFT_X_OK);
		test_assert(err_reported(sift_xdb_add(db, 0, doc, NULL, &err),
					 &err));
		/* and a reader can't store */
		test_assert(err_reported(sift_xdb_add(reader, 20, doc, NULL,
						      &err), &err));
		sift_xdoc_free(&doc);
	}
	sift_xdb_close(&reader);
	sift_xdb_close(&db);
	test_end();
}

/* Exact match of an empty needle under an empty prefix asks for documents
   holding the empty term; empty terms are never stored, so there are
   none (the contract: rest == needle, with term == prefix + rest). */
static void test_xdb_match_empty_term(void)
{
	const char *path = tpath("empty-term");
	struct sift_xdb *db;

	test_begin("xdb exact match of the empty term");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	doc_put(db, 1, "Ba", NULL);
	doc_put(db, 2, "Bb", NULL);
	db_commit_ok(db);
	check_match(db, "", '\0', "", SIFT_MATCH_EXACT, NULL, 0, 0, 0);
	sift_xdb_close(&db);
	test_end();
}

/* The documents of several terms' postings (sift_xdb_terms_docs(),
   sift_xdb_match()): their union, sorted and unique, whether few (listed
   as they are added, then sorted: the terms are read high docids first
   here) or many (past lastdocid/16: the bitmap is scanned), and with
   documents repeated across terms. */
static void test_xdb_docset_union(void)
{
	const char *path = tpath("docset");
	const char *terms[] = { "Bhi", "Blo", "Bhi", "Bseven", "Ball" };
	const size_t lens[] = { 3, 3, 3, 6, 4 };
	/* how many of terms[] each case reads */
	static const unsigned int cases[] = { 1, 2, 3, 4, 5 };
	struct sift_xdb *db;
	const char *err = NULL;
	const unsigned int n = 1600;
	uint32_t *want = i_new(uint32_t, n);

	test_begin("xdb postings union: few and many documents");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		i_free(want);
		test_end();
		return;
	}
	for (uint32_t uid = 1; uid <= n; uid++) {
		struct sift_xdoc *doc;

		test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
		(void)sift_xdoc_add_term(doc, "Ball", 4, &err);
		if (uid > n - 40)
			(void)sift_xdoc_add_term(doc, "Bhi", 3, &err);
		if (uid <= 40)
			(void)sift_xdoc_add_term(doc, "Blo", 3, &err);
		if (uid % 7 == 0)
			(void)sift_xdoc_add_term(doc, "Bseven", 6, &err);
		test_assert(sift_xdb_add(db, uid, doc, NULL, &err) ==
			    SIFT_X_OK);
		sift_xdoc_free(&doc);
	}
	db_commit_ok(db);
	for (unsigned int c = 0; c < N_ELEMENTS(cases); c++) {
		struct sift_uids set = { NULL, 0, 0 };
		unsigned int count = 0;

		for (uint32_t uid = 1; uid <= n; uid++) {
			bool in = FALSE;

			for (unsigned int t = 0; t < cases[c]; t++) {
				in = in ||
					(strcmp(terms[t], "Ball") == 0) ||
					(strcmp(terms[t], "Bhi") == 0 &&
					 uid > n - 40) ||
					(strcmp(terms[t], "Blo") == 0 &&
					 uid <= 40) ||
					(strcmp(terms[t], "Bseven") == 0 &&
					 uid % 7 == 0);
			}
			if (in)
				want[count++] = uid;
		}
		test_assert_idx(sift_xdb_terms_docs(db, terms, lens, cases[c],
						    &set, &err) == SIFT_X_OK, c);
		test_assert_idx(uids_equal(&set, want, count), c);
		sift_uids_free(&set);
	}
	/* a match over several terms: "Bhi" and "Blo" hold no 'e', "Bseven"
	   does; 'l' is in "Blo" and "Ball" (every document) */
	{
		struct sift_uids set = { NULL, 0, 0 };
		unsigned int count = 0, terms_read = 0;

		test_assert(sift_xdb_match(db, "B", '\0', "o", 1,
					   SIFT_MATCH_SUBSTRING, &set,
					   &terms_read, &err) == SIFT_X_OK);
		for (uint32_t uid = 1; uid <= 40; uid++)
			want[count++] = uid;
		test_assert(uids_equal(&set, want, count));
		test_assert(terms_read == 1);
		sift_uids_free(&set);
		test_assert(sift_xdb_match(db, "B", '\0', "i", 1,
					   SIFT_MATCH_SUBSTRING, &set,
					   &terms_read, &err) == SIFT_X_OK);
		count = 0;
		for (uint32_t uid = n - 39; uid <= n; uid++)
			want[count++] = uid;
		test_assert(uids_equal(&set, want, count));
		sift_uids_free(&set);
	}
	sift_xdb_close(&db);
	i_free(want);
	test_end();
}

static unsigned int open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *d;
	unsigned int n = 0;

	if (dir == NULL)
		i_fatal("opendir(/proc/self/fd) failed: %m");
	while ((d = readdir(dir)) != NULL)
		n += d->d_name[0] != '.';
	(void)closedir(dir);
	return n;
}

/* The documents a fresh reader of path sees, compared with uids 1..count
   (every one present). */
static bool reader_sees(const char *path, uint32_t count)
{
	struct sift_xdb *db = db_open_ok(path, 0);
	struct sift_uids set = { NULL, 0, 0 };
	const char *err = NULL;
	bool ret;

	if (db == NULL)
		return FALSE;
	ret = sift_xdb_all_uids(db, &set, &err) == SIFT_X_OK &&
		set.count == count &&
		(count == 0 || (set.uids[0] == 1 &&
				set.uids[count - 1] == count));
	sift_uids_free(&set);
	sift_xdb_close(&db);
	return ret;
}

/* Readers are kept between opens (sift-xapian.cc, reader_cache): an open
   of an unchanged database reuses the closed reader (no file opened),
   and every open after a commit, or of a database replaced by another at
   the same path, sees the new revision - the same as a fresh open. */
static void test_xdb_reader_cache(void)
{
	const char *path = tpath("reader-cache");
	const char *moved = tpath("reader-cache-old");
	struct sift_xdb *w, *r;
	unsigned int fds;

	test_begin("xdb readers kept between opens");
	w = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (w == NULL) {
		test_end();
		return;
	}
	doc_put(w, 1, "Ba", NULL);
	db_commit_ok(w);
	test_assert(reader_sees(path, 1));
	/* unchanged: the parked reader is taken back, no file opened */
	fds = open_fds();
	r = db_open_ok(path, 0);
	test_assert(open_fds() == fds);
	sift_xdb_close(&r);
	test_assert(reader_sees(path, 1));

	/* commits (the writer still open, as an indexer's) */
	for (uint32_t uid = 2; uid <= 4; uid++) {
		doc_put(w, uid, "Bb", NULL);
		db_commit_ok(w);
		test_assert_idx(reader_sees(path, uid), uid);
	}
	sift_xdb_close(&w);
	test_assert(reader_sees(path, 4));

	/* replaced by another database with fewer documents (a rebuild) */
	test_assert(rename(path, moved) == 0);
	w = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (w != NULL) {
		doc_put(w, 1, "Bc", NULL);
		doc_put(w, 2, "Bc", NULL);
		db_commit_ok(w);
		sift_xdb_close(&w);
	}
	test_assert(reader_sees(path, 2));
	rm_rf(moved);
	/* gone: nothing is read from the parked reader */
	rm_rf(path);
	test_assert(sift_xdb_open(path, 0, &r, NULL) != SIFT_X_OK);
	test_end();
}

/* A uid that has a document keeps it (the database has no term lists to
   replace with, and a message never changes under its UID); has_doc
   tells which uids have one. */
static void test_xdb_add_existing(void)
{
	const char *path = tpath("add-existing");
	struct sift_xdb *db;
	struct sift_xdoc *doc;
	const char *err = NULL;
	bool existed, exists;
	static const uint32_t u1[] = { 1 }, u3[] = { 3 };

	test_begin("xdb add keeps an existing document");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	doc_put(db, 1, "Bapple", NULL);
	doc_put(db, 3, "Bcherry", NULL);
	db_commit_ok(db);

	test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
	test_assert(sift_xdoc_add_term(doc, "Bother", 6, &err) == SIFT_X_OK);
	existed = FALSE;
	test_assert(sift_xdb_add(db, 1, doc, &existed, &err) == SIFT_X_OK);
	test_assert(existed);
	/* below the highest docid but new: added */
	test_assert(sift_xdb_add(db, 2, doc, &existed, &err) == SIFT_X_OK);
	test_assert(!existed);
	sift_xdoc_free(&doc);
	db_commit_ok(db);
	check_match(db, "B", '\0', "apple", SIFT_MATCH_EXACT, u1, 1, 1, 0);
	{
		static const uint32_t u2[] = { 2 };
		check_match(db, "B", '\0', "other", SIFT_MATCH_EXACT, u2, 1, 1,
			    1);
	}
	check_match(db, "B", '\0', "rr", SIFT_MATCH_SUBSTRING, u3, 1, 1, 2);
	for (uint32_t uid = 0; uid <= 5; uid++) {
		test_assert_idx(sift_xdb_has_doc(db, uid, &exists, &err) ==
				SIFT_X_OK, uid);
		test_assert_idx(exists == (uid >= 1 && uid <= 3), uid);
	}
	/* terms: committed, only a prefix of one, not added yet, and added
	   but not committed (a writer sees its own changes) */
	test_assert(sift_xdb_term_exists(db, "Bapple", 6, &exists, &err) ==
		    SIFT_X_OK && exists);
	test_assert(sift_xdb_term_exists(db, "Bapp", 4, &exists, &err) ==
		    SIFT_X_OK && !exists);
	test_assert(sift_xdb_term_exists(db, "Bplum", 5, &exists, &err) ==
		    SIFT_X_OK && !exists);
	doc_put(db, 4, "Bplum", NULL);
	test_assert(sift_xdb_term_exists(db, "Bplum", 5, &exists, &err) ==
		    SIFT_X_OK && exists);
	sift_xdb_close(&db);
	test_end();
}

/* sift_xdb_rebuild() of path into dest without the ids in drop, and
   dest opened for reading (db_open_ok()). */
static struct sift_xdb *
db_rebuild_open(const char *path, const char *dest,
		const ARRAY_TYPE(uint32_t) *drop)
{
	const char *err = NULL;

	test_assert(sift_xdb_rebuild(path, dest, array_front(drop),
				     array_count(drop), NULL, &err) ==
		    SIFT_X_OK);
	return db_open_ok(dest, 0);
}

/* Rebuilding drops the given documents (and terms only they held),
   keeps every other document's terms and the metadata but omit_key, in
   several docid windows when there are many postings. */
static void test_xdb_rebuild(void)
{
	const char *path = tpath("rebuild-src");
	const char *dest = tpath("rebuild-dest");
	struct sift_xdb *db;
	const char *err = NULL;
	static const uint32_t drop[] = { 2, 5 };
	static const uint32_t u1[] = { 1 }, u134[] = { 1, 3, 4 };
	static const uint32_t none[] = { 0 };

	test_begin("xdb rebuild without documents");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	doc_put(db, 1, "Bapple", "Bshared", NULL);
	doc_put(db, 2, "Bbanana", "Bshared", NULL);
	doc_put(db, 3, "Bcherry", "Bshared", NULL);
	doc_put(db, 4, "Bdate", "Bshared", NULL);
	doc_put(db, 5, "Belder", NULL);
	test_assert(sift_xdb_set_metadata(db, "keep", "k", &err) == SIFT_X_OK);
	test_assert(sift_xdb_set_metadata(db, "drop", "2,5", &err) ==
		    SIFT_X_OK);
	db_commit_ok(db);

	/* the source may be open for writing meanwhile (the caller holds
	   the write lock while rebuilding) */
	test_assert(sift_xdb_rebuild(path, dest, drop, N_ELEM(drop), "drop",
				     &err) == SIFT_X_OK);
	sift_xdb_close(&db);
	db = db_open_ok(dest, 0);
	if (db != NULL) {
		check_stats(db, 3, 4);
		check_all_uids(db, u134, 3);
		check_match(db, "B", '\0', "shared", SIFT_MATCH_EXACT, u134, 3,
			    1, 0);
		check_match(db, "B", '\0', "apple", SIFT_MATCH_EXACT, u1, 1, 1,
			    1);
		/* terms only the dropped documents had are gone */
		check_match(db, "B", '\0', "an", SIFT_MATCH_SUBSTRING, NULL, 0,
			    0, 2);
		check_match(db, "B", '\0', "elder", SIFT_MATCH_EXACT, NULL, 0,
			    0, 3);
		test_assert(str_eq_null(meta_get(db, "keep"), "k"));
		test_assert(meta_get(db, "drop") == NULL);
		sift_xdb_close(&db);
	}
	/* the destination must not exist */
	test_assert(err_reported(sift_xdb_rebuild(path, dest, none, 0, NULL,
						  &err), &err));
	test_end();
}

/* Many documents: the rebuild works in windows; every kept document keeps
   exactly its terms. */
static void test_xdb_rebuild_many(void)
{
	const char *path = tpath("rebuild-many");
	const char *dest = tpath("rebuild-many-dest");
	struct sift_xdb *db;
	const char *err = NULL;
	ARRAY_TYPE(uint32_t) drop;
	const unsigned int n = 3000;

	test_begin("xdb rebuild of many documents");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
			SIFT_XDB_NO_SYNC);
	if (db == NULL) {
		test_end();
		return;
	}
	t_array_init(&drop, n);
	for (uint32_t uid = 1; uid <= n; uid++) {
		doc_put(db, uid * 2, t_strdup_printf("Bu%u", uid),
			t_strdup_printf("Bm%u", uid % 7), "Ball", NULL);
		if (uid % 3 == 0) {
			uint32_t did = uid * 2;
			array_push_back(&drop, &did);
		}
	}
	db_commit_ok(db);
	sift_xdb_close(&db);
	db = db_rebuild_open(path, dest, &drop);
	if (db != NULL) {
		struct sift_uids set = { NULL, 0, 0 };

		test_assert(sift_xdb_match(db, "B", '\0', "all", 3,
					   SIFT_MATCH_EXACT, &set, NULL,
					   &err) == SIFT_X_OK);
		test_assert(set.count == n - n / 3);
		for (size_t i = 0; i < set.count; i++) {
			uint32_t uid = set.uids[i] / 2;
			test_assert_idx(set.uids[i] % 2 == 0 && uid % 3 != 0, i);
		}
		sift_uids_free(&set);
		/* each kept document has its own terms */
		for (uint32_t uid = 1; uid <= n; uid += 97) {
			test_assert(sift_xdb_match(db, "B", '\0',
				t_strdup_printf("u%u", uid),
				strlen(t_strdup_printf("u%u", uid)),
				SIFT_MATCH_EXACT, &set, NULL, &err) ==
				SIFT_X_OK);
			if (uid % 3 == 0)
				test_assert_idx(set.count == 0, uid);
			else
				test_assert_idx(set.count == 1 &&
						set.uids[0] == uid * 2, uid);
			sift_uids_free(&set);
		}
		sift_xdb_close(&db);
	}
	test_end();
}

/* Values: the documents whose value has a bit set, for random bitmaps of
   random lengths (some documents without one), before and after a rebuild
   that drops some documents. */
#define VALUES_DOCS 500
static void check_value_bits(struct sift_xdb *db,
			     unsigned char values[][16],
			     const unsigned int *lens, const bool *dropped)
{
	const char *err = NULL;

	for (unsigned int bit = 0; bit < 130; bit++) {
		struct sift_uids set = { NULL, 0, 0 };
		size_t k = 0;
		bool ok = TRUE;

		test_assert_idx(sift_xdb_value_bit(db, 1, bit, &set, &err) ==
				SIFT_X_OK, bit);
		for (uint32_t uid = 1; uid <= VALUES_DOCS; uid++) {
			bool want = !dropped[uid - 1] && bit / 8 < lens[uid - 1] &&
				(values[uid - 1][bit / 8] &
				 (1U << (bit % 8))) != 0;

			if (!want)
				continue;
			if (k >= set.count || set.uids[k] != uid)
				ok = FALSE;
			k++;
		}
		test_assert_idx(ok && k == set.count, bit);
		sift_uids_free(&set);
	}
}

static void test_xdb_values(void)
{
	const char *path = tpath("values"), *dest = tpath("values-dest");
	static unsigned char values[VALUES_DOCS][16];
	unsigned int lens[VALUES_DOCS];
	bool dropped[VALUES_DOCS], none[VALUES_DOCS];
	ARRAY_TYPE(uint32_t) drop;
	struct sift_xdb *db;
	struct sift_xdoc *doc;
	const char *err = NULL;
	struct sift_uids set = { NULL, 0, 0 };

	test_begin("xdb values");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
			SIFT_XDB_NO_SYNC);
	if (db == NULL) {
		test_end();
		return;
	}
	rng_seed(77);
	t_array_init(&drop, VALUES_DOCS);
	for (uint32_t uid = 1; uid <= VALUES_DOCS; uid++) {
		/* length 0 (no value) to 16 */
		lens[uid - 1] = rng_next() % 17;
		for (unsigned int i = 0; i < 16; i++)
			values[uid - 1][i] = rng_next() & rng_next();
		none[uid - 1] = FALSE;
		dropped[uid - 1] = uid % 5 == 0;
		if (dropped[uid - 1])
			array_push_back(&drop, &uid);
		test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
		test_assert(sift_xdoc_add_term(doc, "Bx", 2, &err) ==
			    SIFT_X_OK);
		/* a slot set twice keeps the last value; slot 2 is
		   another slot */
		test_assert(sift_xdoc_set_value(doc, 1, "zz", 2, &err) ==
			    SIFT_X_OK);
		test_assert(sift_xdoc_set_value(doc, 2, "\xff", 1, &err) ==
			    SIFT_X_OK);
		if (lens[uid - 1] > 0) {
			test_assert(sift_xdoc_set_value(doc, 1,
				values[uid - 1], lens[uid - 1], &err) ==
				SIFT_X_OK);
		} else {
			test_assert(sift_xdoc_set_value(doc, 1, "", 0,
							&err) == SIFT_X_OK);
		}
		test_assert(sift_xdb_add(db, uid, doc, NULL, &err) ==
			    SIFT_X_OK);
		sift_xdoc_free(&doc);
	}
	/* slots beyond SIFT_XAPIAN_VALUE_SLOTS are refused */
	test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
	test_assert(err_reported(sift_xdoc_set_value(doc,
		SIFT_XAPIAN_VALUE_SLOTS, "a", 1, &err), &err));
	sift_xdoc_free(&doc);
	test_assert(err_reported(sift_xdb_value_bit(db,
		SIFT_XAPIAN_VALUE_SLOTS, 0, &set, &err), &err));
	test_assert(set.count == 0);
	db_commit_ok(db);
	check_value_bits(db, values, lens, none);
	/* an unused slot: no documents */
	test_assert(sift_xdb_value_bit(db, 3, 0, &set, &err) == SIFT_X_OK &&
		    set.count == 0);
	sift_xdb_close(&db);

	db = db_rebuild_open(path, dest, &drop);
	if (db != NULL) {
		check_value_bits(db, values, lens, dropped);
		/* slot 2 survived too, for every kept document */
		test_assert(sift_xdb_value_bit(db, 2, 7, &set, &err) ==
			    SIFT_X_OK);
		test_assert(set.count == VALUES_DOCS - array_count(&drop));
		sift_uids_free(&set);
		sift_xdb_close(&db);
	}
	test_end();
}

/* Finding a byte string in the values of given documents: random texts
   over a small alphabet (NUL-separated parts, some large, some documents
   without a value), random needles (pieces of the texts and others),
   random sorted subsets of documents; compared with memmem() on every
   document, before and after a rebuild that drops some. */
#define FIND_DOCS 300
static bool bytes_contain(const char *hay, size_t hay_len,
			  const char *needle, size_t needle_len)
{
	for (size_t i = 0; i + needle_len <= hay_len; i++) {
		if (memcmp(hay + i, needle, needle_len) == 0)
			return TRUE;
	}
	return FALSE;
}

static void check_value_find(struct sift_xdb *db, char *const texts[],
			     const size_t *lens, const bool *dropped,
			     unsigned int rounds)
{
	static const char alphabet[] = "ab c\0";
	const char *err = NULL;

	for (unsigned int r = 0; r < rounds; r++) {
		struct sift_uids set = { NULL, 0, 0 };
		uint32_t uids[FIND_DOCS];
		size_t uid_count = 0, k = 0, needle_len;
		char needle[16];
		bool ok = TRUE;

		/* a piece of some text, or random; never with a NUL */
		needle_len = 1 + rng_next() % 8;
		for (size_t i = 0; i < needle_len; i++)
			needle[i] = alphabet[rng_next() % 4];
		if (r % 2 == 0) {
			unsigned int d = rng_next() % FIND_DOCS;

			if (lens[d] > needle_len) {
				size_t at = rng_next() %
					(lens[d] - needle_len);
				const char *nul;

				memcpy(needle, texts[d] + at, needle_len);
				/* up to the part's end */
				nul = memchr(needle, '\0', needle_len);
				if (nul == needle)
					continue;
				if (nul != NULL)
					needle_len = nul - needle;
			}
		}
		for (uint32_t uid = 1; uid <= FIND_DOCS; uid++) {
			if (rng_next() % 3 != 0)
				uids[uid_count++] = uid;
		}
		test_assert_idx(sift_xdb_value_find(db, 1, uids, uid_count,
						    needle, needle_len, &set,
						    &err) == SIFT_X_OK, r);
		for (size_t i = 0; i < uid_count; i++) {
			uint32_t uid = uids[i];

			if (dropped[uid - 1] || lens[uid - 1] == 0 ||
			    !bytes_contain(texts[uid - 1], lens[uid - 1],
					   needle, needle_len))
				continue;
			if (k >= set.count || set.uids[k] != uid)
				ok = FALSE;
			k++;
		}
		test_assert_idx(ok && k == set.count, r);
		sift_uids_free(&set);
	}
}

struct values_seen {
	char *const *texts;
	const size_t *lens;
	uint32_t last_uid;
	unsigned int calls, wrong;
};

static void values_cb(void *context, uint32_t uid, const void *data,
		      size_t len)
{
	struct values_seen *seen = context;

	seen->calls++;
	if (uid <= seen->last_uid || uid > FIND_DOCS ||
	    len != seen->lens[uid - 1] ||
	    memcmp(data, seen->texts[uid - 1], len) != 0)
		seen->wrong++;
	seen->last_uid = uid;
}

/* sift_xdb_values() over random sorted subsets (and past the last
   document): exactly the asked documents that have a value, in order,
   with their bytes; none of the gone ones. */
static void check_values(struct sift_xdb *db, char *const texts[],
			 const size_t lens[], const bool gone[],
			 unsigned int rounds)
{
	uint32_t uids[FIND_DOCS + 10];
	struct values_seen seen;
	const char *err = NULL;
	unsigned int r, n, expected;

	for (r = 0; r < rounds; r++) {
		n = expected = 0;
		for (uint32_t uid = 1; uid <= FIND_DOCS + 10; uid++) {
			if (rng_next() % 3 != 0)
				continue;
			uids[n++] = uid;
			if (uid <= FIND_DOCS && lens[uid - 1] > 0 &&
			    !gone[uid - 1])
				expected++;
		}
		i_zero(&seen);
		seen.texts = texts;
		seen.lens = lens;
		test_assert_idx(sift_xdb_values(db, 1, uids, n, values_cb,
						&seen, &err) == SIFT_X_OK, r);
		test_assert_idx(seen.calls == expected && seen.wrong == 0, r);
	}
}

static void test_xdb_value_find(void)
{
	const char *path = tpath("find"), *dest = tpath("find-dest");
	static const char alphabet[] = "ab c\0";
	char *texts[FIND_DOCS];
	size_t lens[FIND_DOCS];
	bool dropped[FIND_DOCS], none[FIND_DOCS];
	ARRAY_TYPE(uint32_t) drop;
	struct sift_xdb *db;
	struct sift_xdoc *doc;
	const char *err = NULL;
	struct sift_uids set = { NULL, 0, 0 };
	uint32_t one = 1;

	test_begin("xdb value find, values");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
			SIFT_XDB_NO_SYNC);
	if (db == NULL) {
		test_end();
		return;
	}
	rng_seed(1234);
	t_array_init(&drop, FIND_DOCS);
	for (uint32_t uid = 1; uid <= FIND_DOCS; uid++) {
		size_t len = uid % 4 == 0 ? 0 : uid % 50 == 1 ?
			100000 + rng_next() % 1000 : rng_next() % 400;

		texts[uid - 1] = i_malloc(len + 1);
		for (size_t i = 0; i < len; i++)
			texts[uid - 1][i] = alphabet[rng_next() % 5];
		lens[uid - 1] = len;
		none[uid - 1] = FALSE;
		dropped[uid - 1] = uid % 7 == 0;
		if (dropped[uid - 1])
			array_push_back(&drop, &uid);
		test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
		test_assert(sift_xdoc_add_term(doc, "Bx", 2, &err) ==
			    SIFT_X_OK);
		if (len > 0) {
			test_assert(sift_xdoc_set_value(doc, 1,
				texts[uid - 1], len, &err) == SIFT_X_OK);
		}
		test_assert(sift_xdb_add(db, uid, doc, NULL, &err) ==
			    SIFT_X_OK);
		sift_xdoc_free(&doc);
	}
	db_commit_ok(db);
	check_value_find(db, texts, lens, none, 80);
	check_values(db, texts, lens, none, 40);
	/* nothing to look for, nowhere to look, or no such slot */
	test_assert(sift_xdb_value_find(db, 1, &one, 1, "a", 0, &set,
					&err) == SIFT_X_OK && set.count == 0);
	test_assert(sift_xdb_value_find(db, 1, &one, 0, "a", 1, &set,
					&err) == SIFT_X_OK && set.count == 0);
	test_assert(sift_xdb_value_find(db, 3, &one, 1, "a", 1, &set,
					&err) == SIFT_X_OK && set.count == 0);
	test_assert(err_reported(sift_xdb_value_find(db,
		SIFT_XAPIAN_VALUE_SLOTS, &one, 1, "a", 1, &set, &err), &err));
	test_assert(err_reported(sift_xdb_values(db, SIFT_XAPIAN_VALUE_SLOTS,
		&one, 1, values_cb, NULL, &err), &err));
	test_assert(sift_xdb_values(db, 3, &one, 1, values_cb, NULL,
				    &err) == SIFT_X_OK);
	test_assert(set.count == 0);
	sift_xdb_close(&db);

	db = db_rebuild_open(path, dest, &drop);
	if (db != NULL) {
		check_value_find(db, texts, lens, dropped, 40);
		check_values(db, texts, lens, dropped, 20);
		sift_xdb_close(&db);
	}
	for (unsigned int i = 0; i < FIND_DOCS; i++)
		i_free(texts[i]);
	test_end();
}

static void test_xdb_metadata(void)
{
	const char *path = tpath("meta");
	struct sift_xdb *db, *reader;
	const char *err = NULL;
	char *value;

	test_begin("xdb metadata");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	/* unset: OK with NULL */
	value = (char *)"x";
	test_assert(sift_xdb_get_metadata(db, "last_uid", &value, &err) ==
		    SIFT_X_OK);
	test_assert(value == NULL);

	test_assert(sift_xdb_set_metadata(db, "last_uid", "42", &err) ==
		    SIFT_X_OK);
	test_assert(sift_xdb_set_metadata(db, "other", "value", &err) ==
		    SIFT_X_OK);
	db_commit_ok(db);
	test_assert(str_eq_null(meta_get(db, "last_uid"), "42"));

	reader = db_open_ok(path, 0);
	if (reader != NULL) {
		test_assert(str_eq_null(meta_get(reader, "last_uid"), "42"));
		test_assert(str_eq_null(meta_get(reader, "other"), "value"));
		test_assert(meta_get(reader, "unknown") == NULL);
		/* keys are distinct: a prefix of a key is another key */
		test_assert(meta_get(reader, "last") == NULL);
	}

	/* overwrite, and an empty value removes */
	test_assert(sift_xdb_set_metadata(db, "last_uid", "43", &err) ==
		    SIFT_X_OK);
	test_assert(sift_xdb_set_metadata(db, "other", "", &err) == SIFT_X_OK);
	db_commit_ok(db);
	if (reader != NULL) {
		test_assert(sift_xdb_reopen(reader, &err) == SIFT_X_OK);
		test_assert(str_eq_null(meta_get(reader, "last_uid"), "43"));
		test_assert(meta_get(reader, "other") == NULL);
		sift_xdb_close(&reader);
	}
	/* removing an unset key is fine */
	test_assert(sift_xdb_set_metadata(db, "never-set", "", &err) ==
		    SIFT_X_OK);
	db_commit_ok(db);
	sift_xdb_close(&db);

	db = db_open_ok(path, 0);
	if (db != NULL) {
		test_assert(str_eq_null(meta_get(db, "last_uid"), "43"));
		test_assert(meta_get(db, "other") == NULL);
		test_assert(meta_get(db, "never-set") == NULL);
		sift_xdb_close(&db);
	}
	test_end();
}

/* The crash-safety contract: documents and last_uid are committed
   together, and close() without commit discards both. */
static void test_xdb_uncommitted_discarded(void)
{
	static const unsigned int flag_sets[] = {
		SIFT_XDB_WRITE | SIFT_XDB_CREATE,
		SIFT_XDB_WRITE | SIFT_XDB_CREATE | SIFT_XDB_NO_SYNC,
	};
	static const uint32_t u1[] = { 1 }, u12[] = { 1, 2 };
	const char *err = NULL;

	test_begin("xdb close discards uncommitted changes");
	for (unsigned int i = 0; i < N_ELEM(flag_sets); i++) {
		const char *path = tpath(t_strdup_printf("uncommitted%u", i));
		struct sift_xdb *db;

		db = db_open_ok(path, flag_sets[i]);
		if (db == NULL)
			continue;
		doc_put(db, 1, "Bkept", NULL);
		test_assert_idx(sift_xdb_set_metadata(db, "last_uid", "1",
						      &err) == SIFT_X_OK, i);
		db_commit_ok(db);

		/* a batch that never gets committed */
		doc_put(db, 2, "Blost", NULL);
		doc_put(db, 1, "Breplaced", NULL);
		test_assert_idx(sift_xdb_set_metadata(db, "last_uid", "2",
						      &err) == SIFT_X_OK, i);
		test_assert_idx(sift_xdb_set_metadata(db, "extra", "x",
						      &err) == SIFT_X_OK, i);
		sift_xdb_close(&db);

		db = db_open_ok(path, 0);
		if (db == NULL)
			continue;
		check_stats(db, 1, 1);
		check_all_uids(db, u1, 1);
		check_match(db, "B", '\0', "kept", SIFT_MATCH_EXACT, u1, 1, 1, i);
		check_match(db, "B", '\0', "lost", SIFT_MATCH_EXACT, NULL, 0, 0,
			    i);
		check_match(db, "B", '\0', "replaced", SIFT_MATCH_EXACT,
			    NULL, 0, 0, i);
		test_assert_idx(str_eq_null(meta_get(db, "last_uid"), "1"), i);
		test_assert_idx(meta_get(db, "extra") == NULL, i);
		sift_xdb_close(&db);

		/* the same through a writer, and then a second commit
		   cycle on the reopened writer works */
		db = db_open_ok(path, SIFT_XDB_WRITE);
		if (db == NULL)
			continue;
		doc_put(db, 5, "Bfive", NULL);
		sift_xdb_close(&db);
		db = db_open_ok(path, SIFT_XDB_WRITE);
		if (db == NULL)
			continue;
		check_all_uids(db, u1, 1);
		doc_put(db, 2, "Bsecond", NULL);
		test_assert_idx(sift_xdb_set_metadata(db, "last_uid", "2",
						      &err) == SIFT_X_OK, i);
		db_commit_ok(db);
		doc_put(db, 3, "Bthird", NULL);
		test_assert_idx(sift_xdb_set_metadata(db, "last_uid", "3",
						      &err) == SIFT_X_OK, i);
		sift_xdb_close(&db);
		db = db_open_ok(path, 0);
		if (db == NULL)
			continue;
		check_all_uids(db, u12, 2);
		test_assert_idx(str_eq_null(meta_get(db, "last_uid"), "2"), i);
		sift_xdb_close(&db);
	}
	test_end();
}

/* Child: a commit that fails (here: the file size limit, as on a full
   disk) must not leave the handle in a state where later changes become
   durable behind the caller's back.  After the failure the caller
   retries: new documents, last_uid again, commit.  Either that commit
   works (and then everything it covered is durable together), or it
   fails and close() discards it all - so after reopening, last_uid and
   the documents agree.  Exit codes: 0 fine, 2 setup failed, 3 the limit
   did not make the commit fail, 4 the invariant is broken. */
static int child_failed_commit(void *ctx)
{
	const char *path = ctx;
	struct sift_xdb *db = NULL;
	const char *err = NULL;
	struct rlimit old, lim;
	enum sift_xstatus ret, ret2;
	struct sift_uids set = { NULL, 0, 0 };
	char term[32], *value = NULL;
	bool ok;

	if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR ||
	    getrlimit(RLIMIT_FSIZE, &old) < 0)
		return 2;
	if (sift_xdb_open(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE, &db,
			  &err) != SIFT_X_OK)
		return 2;
	doc_put(db, 1, "Bfirst", NULL);
	(void)sift_xdb_set_metadata(db, "last_uid", "1", &err);
	if (sift_xdb_commit(db, &err) != SIFT_X_OK)
		return 2;

	/* a batch whose commit hits the limit */
	for (uint32_t uid = 2; uid <= 3000; uid++) {
		i_snprintf(term, sizeof(term), "Bbatch%u", uid);
		doc_put(db, uid, term, NULL);
	}
	(void)sift_xdb_set_metadata(db, "last_uid", "3000", &err);
	lim = old;
	lim.rlim_cur = 1;
	if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
		return 2;
	err = NULL;
	ret = sift_xdb_commit(db, &err);
	if (setrlimit(RLIMIT_FSIZE, &old) < 0)
		return 2;
	if (ret == SIFT_X_OK) {
		sift_xdb_close(&db);
		return 3;
	}
	if (!err_reported(ret, &err)) {
		printf("    failed commit without a message\n");
		return 4;
	}
	if (getenv("TEST_SIFT_VERBOSE") != NULL)
		printf("      failed commit: %s\n", err);

	/* the caller carries on: another document, last_uid, commit */
	doc_put(db, 5000, "Bretry", NULL);
	(void)sift_xdb_set_metadata(db, "last_uid", "5000", &err);
	ret2 = sift_xdb_commit(db, &err);
	if (getenv("TEST_SIFT_VERBOSE") != NULL) {
		printf("      commit after the failure: %s %s\n",
		       sift_xstatus_str(ret2), err);
	}
	sift_xdb_close(&db);

	if (sift_xdb_open(path, 0, &db, &err) != SIFT_X_OK)
		return 2;
	(void)sift_xdb_get_metadata(db, "last_uid", &value, &err);
	(void)sift_xdb_all_uids(db, &set, &err);
	if (ret2 == SIFT_X_OK) {
		/* the retry is durable, with its last_uid */
		ok = value != NULL && strcmp(value, "5000") == 0 &&
			set.count >= 2 && set.uids[0] == 1 &&
			set.uids[set.count - 1] == 5000;
	} else {
		/* nothing after the last good commit survived close() */
		ok = value != NULL && strcmp(value, "1") == 0 &&
			set.count == 1 && set.uids[0] == 1;
	}
	if (!ok) {
		printf("    after reopening: last_uid=%s, %zu documents, "
		       "highest %u (commit after the failure: %s)\n",
		       value == NULL ? "(unset)" : value, set.count,
		       set.count == 0 ? 0 : set.uids[set.count - 1],
		       sift_xstatus_str(ret2));
	}
	free(value);
	sift_uids_free(&set);
	sift_xdb_close(&db);
	return ok ? 0 : 4;
}

static void test_xdb_failed_commit(void)
{
	int ret;

	test_begin("xdb failed commit keeps documents and last_uid together");
	ret = run_in_child("failed commit", child_failed_commit,
			   (void *)tpath("failed-commit"));
	/* a check that could not run is a failure, not a pass: on every
	   system this suite targets RLIMIT_FSIZE does make the write fail */
	if (ret == 3) {
		printf("    RLIMIT_FSIZE did not make the commit fail: the "
		       "check did not run\n");
	} else if (ret != 0) {
		printf("    child exit %d\n", ret);
	}
	test_assert(ret == 0);
	test_end();
}

/* A reader keeps its snapshot until reopen; a writer's later commits may
   make the old revision unreadable (SIFT_X_MODIFIED), never anything
   else. */
static void test_xdb_reader_revisions(void)
{
	const char *path = tpath("revisions");
	struct sift_xdb *db, *reader;
	struct sift_uids set = { NULL, 0, 0 };
	const char *err = NULL;
	enum sift_xstatus ret;
	char term[32];
	uint32_t uid;

	test_begin("xdb reader revisions");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
			SIFT_XDB_NO_SYNC);
	if (db == NULL) {
		test_end();
		return;
	}
	doc_put(db, 1, "Bold", NULL);
	db_commit_ok(db);
	reader = db_open_ok(path, 0);
	if (reader == NULL) {
		sift_xdb_close(&db);
		test_end();
		return;
	}
	/* many commits rewriting the same B-tree blocks */
	for (uid = 2; uid <= 50; uid++) {
		struct sift_xdoc *doc;

		test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
		for (unsigned int i = 0; i < 50; i++) {
			i_snprintf(term, sizeof(term), "Bw%u-%u", uid, i);
			(void)sift_xdoc_add_term(doc, term, strlen(term), &err);
		}
		(void)sift_xdoc_add_term(doc, "Bold", 4, &err);
		test_assert(sift_xdb_add(db, uid, doc, NULL, &err) == SIFT_X_OK);
		sift_xdoc_free(&doc);
		db_commit_ok(db);
	}
	ret = sift_xdb_match(reader, "B", '\0', "old", 3, SIFT_MATCH_EXACT,
			     &set, NULL, &err);
	test_assert(ret == SIFT_X_OK || ret == SIFT_X_MODIFIED);
	if (ret == SIFT_X_OK) {
		/* the old snapshot */
		test_assert(set.count == 1 && set.uids[0] == 1);
	} else {
		test_assert(err_reported(ret, &err));
	}
	sift_uids_free(&set);

	test_assert(sift_xdb_reopen(reader, &err) == SIFT_X_OK);
	ret = sift_xdb_match(reader, "B", '\0', "old", 3, SIFT_MATCH_EXACT,
			     &set, NULL, &err);
	test_assert(ret == SIFT_X_OK);
	test_assert(set.count == 50 && set.uids[0] == 1 && set.uids[49] == 50);
	sift_uids_free(&set);
	sift_xdb_close(&reader);
	sift_xdb_close(&db);
	test_end();
}

static void test_xdb_term_limits(void)
{
	const char *path = tpath("terms");
	struct sift_xdb *db;
	struct sift_xdoc *doc;
	const char *err = NULL;
	struct sift_uids set = { NULL, 0, 0 };
	char longest[SIFT_XAPIAN_MAX_TERM + 2];
	size_t size;
	enum sift_xstatus ret;
	static const uint32_t u1[] = { 1 };
	static const char nul_term[] = "Ba\0b";

	test_begin("xdb term limits");
	memset(longest, 'x', sizeof(longest));
	longest[0] = 'B';
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
	test_assert(sift_xdoc_size(doc) == 0);
	/* empty term: ignored, nothing held */
	test_assert(sift_xdoc_add_term(doc, "", 0, &err) == SIFT_X_OK);
	test_assert(sift_xdoc_size(doc) == 0);
	/* one byte too long: refused with a message, no exception */
	err = NULL;
	ret = sift_xdoc_add_term(doc, longest, SIFT_XAPIAN_MAX_TERM + 1, &err);
	test_assert(ret == SIFT_X_ERROR);
	test_assert(err_reported(ret, &err));
	test_assert(sift_xdoc_add_term(doc, longest, SIFT_XAPIAN_MAX_TERM + 1,
				       NULL) == SIFT_X_ERROR);
	test_assert(sift_xdoc_size(doc) == 0);
	/* the longest allowed term is stored and found */
	test_assert(sift_xdoc_add_term(doc, longest, SIFT_XAPIAN_MAX_TERM,
				       &err) == SIFT_X_OK);
	size = sift_xdoc_size(doc);
	test_assert(size >= SIFT_XAPIAN_MAX_TERM);
	/* terms are byte strings: an embedded NUL is kept */
	test_assert(sift_xdoc_add_term(doc, nul_term, sizeof(nul_term) - 1,
				       &err) == SIFT_X_OK);
	test_assert(sift_xdoc_size(doc) > size);
	test_assert(sift_xdb_add(db, 1, doc, NULL, &err) == SIFT_X_OK);
	sift_xdoc_free(&doc);
	ret = sift_xdb_commit(db, &err);
	test_assert(ret == SIFT_X_OK);
	if (ret != SIFT_X_OK)
		i_error("commit with a %d-byte term: %s", SIFT_XAPIAN_MAX_TERM,
			err);

	test_assert(sift_xdb_match(db, "B", '\0', longest + 1,
				   SIFT_XAPIAN_MAX_TERM - 1, SIFT_MATCH_EXACT,
				   &set, NULL, &err) == SIFT_X_OK);
	test_assert(uids_equal(&set, u1, 1));
	sift_uids_free(&set);
	test_assert(sift_xdb_match(db, "B", '\0', "a\0b", 3, SIFT_MATCH_EXACT,
				   &set, NULL, &err) == SIFT_X_OK);
	test_assert(uids_equal(&set, u1, 1));
	sift_uids_free(&set);
	test_assert(sift_xdb_match(db, "B", '\0', "\0b", 2,
				   SIFT_MATCH_SUBSTRING, &set, NULL,
				   &err) == SIFT_X_OK);
	test_assert(uids_equal(&set, u1, 1));
	sift_uids_free(&set);
	/* "a" alone is not the term "a\0b" */
	check_match(db, "B", '\0', "a", SIFT_MATCH_EXACT, NULL, 0, 0, 0);
	/* the empty term did not become a term */
	check_match(db, "", '\0', "B", SIFT_MATCH_PREFIX, u1, 1, 2, 1);

	/* a document with no terms at all can be stored */
	test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
	test_assert(sift_xdb_add(db, 2, doc, NULL, &err) == SIFT_X_OK);
	sift_xdoc_free(&doc);
	db_commit_ok(db);
	check_stats(db, 2, 2);
	sift_xdoc_free(&doc);	/* NULL: no-op */
	sift_xdb_close(&db);
	test_end();
}

static void test_xdb_compact(void)
{
	const char *src = tpath("compact-src");
	const char *dest = tpath("compact-dest");
	const char *mid = tpath("compact-mid");
	struct sift_xdb *db;
	const char *err = NULL;
	enum sift_xstatus ret;
	static const uint32_t uids[] = { 5, 17, 1000 };
	static const uint32_t u5[] = { 5 }, u17[] = { 17 }, u1000[] = { 1000 };
	static const uint32_t u5_1000[] = { 5, 1000 };
	char term[32];

	test_begin("xdb compact keeps document ids");
	db = db_open_ok(src, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	doc_put(db, 5, "Bfive", "Bodd", NULL);
	doc_put(db, 17, "Bseventeen", NULL);
	doc_put(db, 1000, "Bthousand", "Bodd", NULL);
	/* a deleted one leaves a hole too */
	doc_put(db, 600, "Bgone", NULL);
	/* some bulk so that there is something to compact */
	for (uint32_t uid = 2000; uid < 2300; uid++) {
		i_snprintf(term, sizeof(term), "Bbulk%u", uid);
		doc_put(db, uid, term, NULL);
	}
	test_assert(sift_xdb_set_metadata(db, "last_uid", "2299", &err) ==
		    SIFT_X_OK);
	db_commit_ok(db);
	test_assert(sift_xdb_set_metadata(db, "last_uid", "2300", &err) ==
		    SIFT_X_OK);
	db_commit_ok(db);
	sift_xdb_close(&db);

	/* dropped documents leave holes, as expunges do in the plugin:
	   rebuild without them, then compact */
	{
		uint32_t drop[301];
		unsigned int n = 0;

		drop[n++] = 600;
		for (uint32_t uid = 2000; uid < 2300; uid++)
			drop[n++] = uid;
		ret = sift_xdb_rebuild(src, mid, drop, n, NULL, &err);
		test_assert(ret == SIFT_X_OK);
		if (ret != SIFT_X_OK)
			i_error("rebuild: %s", err);
	}
	ret = sift_xdb_compact(mid, dest, &err);
	test_assert(ret == SIFT_X_OK);
	if (ret != SIFT_X_OK)
		i_error("compact: %s", err);
	db = db_open_ok(dest, 0);
	if (db != NULL) {
		check_all_uids(db, uids, N_ELEM(uids));
		check_stats_range(db, 3, 1000, 2299);
		check_match(db, "B", '\0', "five", SIFT_MATCH_EXACT, u5, 1, 1, 0);
		check_match(db, "B", '\0', "seventeen", SIFT_MATCH_EXACT,
			    u17, 1, 1, 1);
		check_match(db, "B", '\0', "thousand", SIFT_MATCH_EXACT,
			    u1000, 1, 1, 2);
		check_match(db, "B", '\0', "odd", SIFT_MATCH_EXACT,
			    u5_1000, 2, 1, 3);
		check_match(db, "B", '\0', "gone", SIFT_MATCH_EXACT,
			    NULL, 0, 0, 4);
		check_match(db, "B", '\0', "bulk", SIFT_MATCH_PREFIX,
			    NULL, 0, 0, 5);
		/* the metadata (last_uid) comes along */
		test_assert(str_eq_null(meta_get(db, "last_uid"), "2300"));
		sift_xdb_close(&db);
	}
	/* the compacted copy is a normal database: writable */
	check_takes_new_doc(dest, 1001, 4, 2299);
	/* the source is unchanged */
	db = db_open_ok(src, 0);
	if (db != NULL) {
		static const uint32_t u600[] = { 600 };

		check_stats(db, 304, 2299);
		check_match(db, "B", '\0', "gone", SIFT_MATCH_EXACT,
			    u600, 1, 1, 6);
		sift_xdb_close(&db);
	}
	/* a missing source fails with a message */
	ret = sift_xdb_compact(tpath("compact-missing"),
			       tpath("compact-dest2"), &err);
	test_assert(err_reported(ret, &err));
	test_end();
}

/* sift_xdb_merge(): several databases with disjoint id ranges become one
   (a bulk run's run databases and the index), ids, frequencies, values
   and the first source's metadata kept; overlapping ranges and no
   sources fail with a message. */
static void test_xdb_merge(void)
{
	const char *a = tpath("merge-a"), *b = tpath("merge-b");
	const char *c = tpath("merge-c"), *dest = tpath("merge-dest");
	const char *srcs[3] = { a, b, c };
	static const uint32_t uids[] = { 3, 4, 10, 11, 12, 40 };
	static const uint32_t all_odd[] = { 3, 11, 40 };
	static const uint32_t u12[] = { 12 };
	struct sift_xdb *db;
	const char *err;
	enum sift_xstatus ret;

	test_begin("xdb merge");
	db = db_open_ok(a, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	doc_put(db, 3, "Bodd", "Bshared", NULL);
	doc_put(db, 4, "Bshared", NULL);
	test_assert(sift_xdb_set_metadata(db, "last_uid", "4", &err) ==
		    SIFT_X_OK);
	db_commit_ok(db);
	sift_xdb_close(&db);
	db = db_open_ok(b, SIFT_XDB_WRITE | SIFT_XDB_CREATE | SIFT_XDB_NO_SYNC);
	if (db != NULL) {
		doc_put(db, 10, "Bshared", NULL);
		doc_put(db, 11, "Bodd", "Bshared", NULL);
		doc_put(db, 12, "Btwelve", NULL);
		/* a key the first source has too: the first one's wins */
		test_assert(sift_xdb_set_metadata(db, "last_uid", "99",
						  &err) == SIFT_X_OK);
		db_commit_ok(db);
		sift_xdb_close(&db);
	}
	db = db_open_ok(c, SIFT_XDB_WRITE | SIFT_XDB_CREATE | SIFT_XDB_NO_SYNC);
	if (db != NULL) {
		doc_put(db, 40, "Bodd", NULL);
		db_commit_ok(db);
		sift_xdb_close(&db);
	}
	ret = sift_xdb_merge(srcs, 3, dest, &err);
	test_assert(ret == SIFT_X_OK);
	if (ret != SIFT_X_OK)
		i_error("merge: %s", err);
	db = db_open_ok(dest, 0);
	if (db != NULL) {
		check_all_uids(db, uids, N_ELEM(uids));
		check_stats_range(db, 6, 40, 40);
		check_match(db, "B", '\0', "odd", SIFT_MATCH_EXACT,
			    all_odd, 3, 1, 0);
		check_match(db, "B", '\0', "shared", SIFT_MATCH_EXACT,
			    uids, 4, 1, 1);
		check_match(db, "B", '\0', "twelve", SIFT_MATCH_EXACT,
			    u12, 1, 1, 2);
		test_assert(str_eq_null(meta_get(db, "last_uid"), "4"));
		sift_xdb_close(&db);
	}
	/* the merged copy takes new documents */
	check_takes_new_doc(dest, 41, 7, 41);
	/* overlapping id ranges (b holds 10..12, a copy of it too) fail
	   with a message, and leave no exception behind */
	{
		const char *overlap[2] = { b, b };

		ret = sift_xdb_merge(overlap, 2, tpath("merge-dest2"), &err);
		test_assert(err_reported(ret, &err));
	}
	/* no sources, a missing source */
	ret = sift_xdb_merge(srcs, 0, tpath("merge-dest3"), &err);
	test_assert(err_reported(ret, &err));
	{
		const char *missing[2] = { a, tpath("merge-missing") };

		ret = sift_xdb_merge(missing, 2, tpath("merge-dest4"), &err);
		test_assert(err_reported(ret, &err));
	}
	test_end();
}

/* ---- corruption ---- */

enum corruption {
	CORRUPT_TRUNCATE_EMPTY,
	CORRUPT_TRUNCATE_HALF,
	CORRUPT_GARBAGE,
	CORRUPT_GARBAGE_TAIL,
	CORRUPT_ZEROES,
};
static const char *const corruption_names[] = {
	"truncated to 0", "truncated to half", "all garbage",
	"garbage after the first block", "all zeroes"
};

static void write_corruption_db(const char *path)
{
	struct sift_xdb *db;
	char term[32];

	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
			SIFT_XDB_NO_SYNC);
	if (db == NULL)
		return;
	/* enough postings that postlist.glass has several blocks */
	for (uint32_t uid = 1; uid <= 3000; uid++) {
		struct sift_xdoc *doc;
		const char *err = NULL;

		test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
		i_snprintf(term, sizeof(term), "Bterm%u", uid);
		(void)sift_xdoc_add_term(doc, term, strlen(term), &err);
		i_snprintf(term, sizeof(term), "Bmod%u", uid % 7);
		(void)sift_xdoc_add_term(doc, term, strlen(term), &err);
		(void)sift_xdoc_add_term(doc, "Bcommon", 7, &err);
		test_assert(sift_xdb_add(db, uid, doc, NULL, &err) == SIFT_X_OK);
		sift_xdoc_free(&doc);
	}
	{
		const char *err = NULL;
		test_assert(sift_xdb_set_metadata(db, "last_uid", "3000",
						  &err) == SIFT_X_OK);
	}
	db_commit_ok(db);
	sift_xdb_close(&db);
}

static void corrupt_file(const char *file, enum corruption how)
{
	struct stat st;
	unsigned char *buf;
	size_t size, start = 0;
	int fd;

	fd = open(file, O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0)
		i_fatal("open(%s) failed: %m", file);
	size = (size_t)st.st_size;
	i_assert(size > 8192);
	switch (how) {
	case CORRUPT_TRUNCATE_EMPTY:
		if (ftruncate(fd, 0) < 0)
			i_fatal("ftruncate(%s) failed: %m", file);
		break;
	case CORRUPT_TRUNCATE_HALF:
		if (ftruncate(fd, (off_t)(size / 2)) < 0)
			i_fatal("ftruncate(%s) failed: %m", file);
		break;
	case CORRUPT_GARBAGE_TAIL:
		start = 8192;
		/* fall through */
	case CORRUPT_GARBAGE:
	case CORRUPT_ZEROES:
		buf = i_malloc(size);
		rng_seed(0x12345678 + (uint32_t)how);
		for (size_t i = 0; i < size; i++)
			buf[i] = how == CORRUPT_ZEROES ? 0 :
				(unsigned char)rng_next();
		if (pwrite(fd, buf + start, size - start, (off_t)start) !=
		    (ssize_t)(size - start))
			i_fatal("pwrite(%s) failed: %m", file);
		i_free(buf);
		break;
	}
	if (close(fd) < 0)
		i_fatal("close(%s) failed: %m", file);
}

/* Child: open the corrupt database and query it every way.  Every call
   must return OK or a reported CORRUPT/ERROR (MODIFIED, NOT_FOUND etc.
   are wrong), and at least one must notice the damage.  Exit codes:
   0 fine, 1 a wrong status or missing message, 2 damage not noticed. */
static bool corrupt_status_ok(enum sift_xstatus ret,
			      const char **err, bool *noticed)
{
	if (getenv("TEST_SIFT_VERBOSE") != NULL) {
		printf("      %s %s\n", sift_xstatus_str(ret),
		       ret == SIFT_X_OK ? "" : *err);
	}
	if (ret == SIFT_X_OK)
		return TRUE;
	*noticed = TRUE;
	if (ret != SIFT_X_CORRUPT && ret != SIFT_X_ERROR) {
		printf("    unexpected status %s: %s\n",
		       sift_xstatus_str(ret), *err);
		return FALSE;
	}
	if (!err_reported(ret, err)) {
		printf("    status %s without a message\n",
		       sift_xstatus_str(ret));
		return FALSE;
	}
	return TRUE;
}

static int child_query_corrupt(void *ctx)
{
	const char *path = ctx;
	static const unsigned int modes[] = { 0, SIFT_XDB_WRITE };
	bool noticed_all = TRUE, fine = TRUE;

	for (unsigned int m = 0; m < N_ELEM(modes); m++) {
		struct sift_xdb *db = NULL;
		struct sift_uids set = { NULL, 0, 0 };
		const char *err = NULL;
		enum sift_xstatus ret;
		uint32_t count, last;
		bool noticed = FALSE;
		char *value = NULL;

		err = NULL;
		ret = sift_xdb_open(path, modes[m], &db, &err);
		fine = corrupt_status_ok(ret, &err, &noticed) && fine;
		if (ret != SIFT_X_OK) {
			if (db != NULL) {
				printf("    failed open left a handle\n");
				fine = FALSE;
			}
			continue;
		}
		ret = sift_xdb_stats(db, &count, &last, &err);
		fine = corrupt_status_ok(ret, &err, &noticed) && fine;
		ret = sift_xdb_get_metadata(db, "last_uid", &value, &err);
		fine = corrupt_status_ok(ret, &err, &noticed) && fine;
		free(value);
		ret = sift_xdb_all_uids(db, &set, &err);
		fine = corrupt_status_ok(ret, &err, &noticed) && fine;
		ret = sift_xdb_match(db, "B", '\0', "common", 6,
				     SIFT_MATCH_EXACT, &set, NULL, &err);
		fine = corrupt_status_ok(ret, &err, &noticed) && fine;
		ret = sift_xdb_match(db, "B", '\0', "term1", 5,
				     SIFT_MATCH_PREFIX, &set, NULL, &err);
		fine = corrupt_status_ok(ret, &err, &noticed) && fine;
		ret = sift_xdb_match(db, "B", '\0', "od", 2,
				     SIFT_MATCH_SUBSTRING, &set, NULL, &err);
		fine = corrupt_status_ok(ret, &err, &noticed) && fine;
		ret = sift_xdb_match(db, "", 'm', "", 0,
				     SIFT_MATCH_SUBSTRING, &set, NULL, &err);
		fine = corrupt_status_ok(ret, &err, &noticed) && fine;
		if (modes[m] != 0) {
			struct sift_xdoc *doc;

			if (sift_xdoc_new(&doc, &err) == SIFT_X_OK) {
				(void)sift_xdoc_add_term(doc, "Bcommon", 7,
							 &err);
				ret = sift_xdb_add(db, 50, doc, NULL, &err);
				fine = corrupt_status_ok(ret, &err,
							 &noticed) && fine;
				sift_xdoc_free(&doc);
			}
			ret = sift_xdb_has_doc(db, 6, &(bool){FALSE}, &err);
			fine = corrupt_status_ok(ret, &err, &noticed) && fine;
			ret = sift_xdb_commit(db, &err);
			fine = corrupt_status_ok(ret, &err, &noticed) && fine;
		}
		sift_uids_free(&set);
		sift_xdb_close(&db);
		if (!noticed) {
			printf("    %s: damage not noticed\n",
			       modes[m] == 0 ? "reader" : "writer");
			noticed_all = FALSE;
		}
	}
	return !fine ? 1 : !noticed_all ? 2 : 0;
}

static void test_xdb_corrupt(void)
{
	test_begin("xdb corrupt postlist.glass");
	for (unsigned int how = 0; how < N_ELEM(corruption_names); how++) {
		const char *path = tpath(t_strdup_printf("corrupt%u", how));
		int ret;

		write_corruption_db(path);
		corrupt_file(t_strconcat(path, "/postlist.glass", NULL), how);
		ret = run_in_child(corruption_names[how], child_query_corrupt,
				   (void *)path);
		if (ret != 0)
			printf("    corruption '%s': child exit %d\n",
			       corruption_names[how], ret);
		test_assert_idx(ret == 0, how);
	}
	test_end();
}

static void write_file(const char *path, const char *content)
{
	size_t len = strlen(content);
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, content, len) != (ssize_t)len || close(fd) < 0)
		i_fatal("writing %s failed: %m", path);
}

static bool file_has(const char *path, const char *content)
{
	char buf[256];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return FALSE;
	n = read(fd, buf, sizeof(buf));
	i_close_fd(&fd);
	return n == (ssize_t)strlen(content) && memcmp(buf, content, n) == 0;
}

static void test_xdb_open_regular_file(void)
{
	const char *path = tpath("regular-file");
	const char *empty = tpath("empty-file");
	const char *stub = tpath("stub-file");
	const char *marker = tpath("stub-marker");
	static const char content[] = "this is not a database\n";
	static const unsigned int modes[] = {
		0, SIFT_XDB_WRITE, SIFT_XDB_WRITE | SIFT_XDB_CREATE
	};
	const char *stub_content;
	struct sift_xdb *db;
	const char *err = NULL;
	enum sift_xstatus ret;
	struct stat st;

	test_begin("xdb open a regular file");
	write_file(path, content);
	for (unsigned int i = 0; i < N_ELEM(modes); i++) {
		db = POISON_DB;
		err = NULL;
		ret = sift_xdb_open(path, modes[i], &db, &err);
		/* no database here: NOT_FOUND is fair without CREATE, but
		   with CREATE it must be an error (it can't be created) */
		test_assert_idx(ret != SIFT_X_OK, i);
		test_assert_idx(err_reported(ret, &err), i);
		if ((modes[i] & SIFT_XDB_CREATE) != 0)
			test_assert_idx(ret == SIFT_X_ERROR, i);
		test_assert_idx(db == NULL, i);
		if (ret == SIFT_X_OK && db != POISON_DB)
			sift_xdb_close(&db);
	}
	/* and the file is untouched */
	test_assert(file_has(path, content));

	/* An empty file is no database either.  (Xapian's generic
	   Database() constructor reads a regular file as a "stub database"
	   listing other databases; an empty one is an empty database.) */
	write_file(empty, "");
	for (unsigned int i = 0; i < N_ELEM(modes); i++) {
		db = POISON_DB;
		ret = sift_xdb_open(empty, modes[i], &db, &err);
		test_assert_idx(ret != SIFT_X_OK, i);
		if (ret == SIFT_X_OK) {
			printf("    an empty regular file opened as a "
			       "database (mode %u)\n", modes[i]);
			sift_xdb_close(&db);
		}
	}
	test_assert(stat(empty, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_size == 0);

	/* A stub file naming a "remote" database makes Xapian run a
	   program; the index path must never do that. */
	stub_content = t_strdup_printf("remote :touch %s\n", marker);
	write_file(stub, stub_content);
	for (unsigned int i = 0; i < N_ELEM(modes); i++) {
		db = POISON_DB;
		ret = sift_xdb_open(stub, modes[i], &db, &err);
		test_assert_idx(ret != SIFT_X_OK, i);
		if (ret == SIFT_X_OK)
			sift_xdb_close(&db);
		test_assert_idx(stat(marker, &st) < 0 && errno == ENOENT, i);
		(void)unlink(marker);
	}
	/* compacting from such a path neither */
	ret = sift_xdb_compact(stub, tpath("stub-compacted"), &err);
	test_assert(err_reported(ret, &err));
	test_assert(stat(marker, &st) < 0 && errno == ENOENT);
	(void)unlink(marker);
	test_assert(file_has(stub, stub_content));
	test_end();
}

/* Child, running as an unprivileged user: creating a database in the
   read-only directory ctx must fail with SIFT_X_ERROR and a message. */
static int child_create_in_readonly(void *ctx)
{
	struct sift_xdb *db = NULL;
	const char *err = NULL;
	enum sift_xstatus ret;

	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 100;
	ret = sift_xdb_open(t_strconcat(ctx, "/db", NULL),
			    SIFT_XDB_WRITE | SIFT_XDB_CREATE, &db, &err);
	if (ret == SIFT_X_OK) {
		sift_xdb_close(&db);
		return 10;
	}
	return err_reported(ret, &err) && ret == SIFT_X_ERROR && db == NULL ?
		0 : 10 + (int)ret;
}

static void test_xdb_readonly_dir(void)
{
	const char *dir = tpath("readonly");
	const char *dbpath = tpath("readonly/db");
	const char *probe = tpath("readonly/probe");
	const char *existing = tpath("readonly-existing");
	static const uint32_t u1[] = { 1 };
	struct sift_xdb *db;
	const char *err = NULL;
	enum sift_xstatus ret;
	struct stat st;

	test_begin("xdb read-only directory");
	if (mkdir(dir, 0755) < 0 || chmod(dir, 0555) < 0)
		i_fatal("mkdir/chmod(%s) failed: %m", dir);

	if (mkdir(probe, 0700) == 0) {
		/* root (CAP_DAC_OVERRIDE) ignores the mode */
		(void)rmdir(probe);
		printf("    NOTE: running with permission override (uid %d): "
		       "creating in a 0555 directory succeeds; the check "
		       "runs as uid 65534 below\n", (int)geteuid());
	} else {
		db = POISON_DB;
		ret = sift_xdb_open(dbpath, SIFT_XDB_WRITE | SIFT_XDB_CREATE,
				    &db, &err);
		test_assert(ret == SIFT_X_ERROR);
		test_assert(err_reported(ret, &err));
		test_assert(db == NULL);
		if (ret == SIFT_X_OK)
			sift_xdb_close(&db);
		test_assert(stat(dbpath, &st) < 0 && errno == ENOENT);
	}

	if (geteuid() == 0) {
		/* root can still check it for real: as nobody, in a child.
		   The directories above must be traversable for that. */
		int child;

		if (chmod(test_root, 0711) < 0)
			i_fatal("chmod(%s) failed: %m", test_root);
		child = run_in_child("create as nobody",
				     child_create_in_readonly, (void *)dir);
		if (chmod(test_root, 0700) < 0)
			i_fatal("chmod(%s) failed: %m", test_root);
		/* as root the check above did not run: this one must */
		if (child == 100) {
			printf("    could not switch to uid 65534: the read-only "
			       "directory check did not run\n");
		}
		test_assert(child == 0);
		test_assert(stat(dbpath, &st) < 0 && errno == ENOENT);
	}

	/* an existing database in a read-only directory can be read */
	db = db_open_ok(existing, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db != NULL) {
		doc_put(db, 1, "Bro", NULL);
		db_commit_ok(db);
		sift_xdb_close(&db);
	}
	test_assert(chmod(existing, 0555) == 0);
	db = db_open_ok(existing, 0);
	if (db != NULL) {
		check_all_uids(db, u1, 1);
		check_match(db, "B", '\0', "ro", SIFT_MATCH_EXACT, u1, 1, 1, 0);
		sift_xdb_close(&db);
	}
	(void)chmod(existing, 0755);
	(void)chmod(dir, 0755);
	test_end();
}

#define BATCH_DOCS 20000
/* uids are spread out so that an off-by-one in the bitmap shows */
#define BATCH_UID(i) ((uint32_t)(i) * 3 + 2)

static void test_xdb_large_batch(void)
{
	const char *path = tpath("batch");
	struct sift_xdb *db;
	struct sift_uids set = { NULL, 0, 0 };
	const char *err = NULL;
	unsigned int terms, i;
	uint32_t *expected;
	size_t count;
	char term[32];
	bool all_ok = TRUE;

	test_begin("xdb large batch");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
			SIFT_XDB_NO_SYNC);
	if (db == NULL) {
		test_end();
		return;
	}
	for (i = 0; i < BATCH_DOCS; i++) {
		struct sift_xdoc *doc;

		if (sift_xdoc_new(&doc, &err) != SIFT_X_OK) {
			all_ok = FALSE;
			break;
		}
		i_snprintf(term, sizeof(term), "Bw%05u", i);
		all_ok = sift_xdoc_add_term(doc, term, strlen(term),
					    &err) == SIFT_X_OK && all_ok;
		if (i % 2 == 0) {
			all_ok = sift_xdoc_add_term(doc, "Beven", 5, &err) ==
				SIFT_X_OK && all_ok;
		}
		all_ok = sift_xdb_add(db, BATCH_UID(i), doc, NULL, &err) ==
			SIFT_X_OK && all_ok;
		sift_xdoc_free(&doc);
	}
	test_assert(all_ok);
	db_commit_ok(db);
	check_stats(db, BATCH_DOCS, BATCH_UID(BATCH_DOCS - 1));

	expected = i_new(uint32_t, BATCH_DOCS);
	/* every document, through 20000 distinct terms */
	for (i = 0; i < BATCH_DOCS; i++)
		expected[i] = BATCH_UID(i);
	test_assert(sift_xdb_match(db, "B", '\0', "w", 1, SIFT_MATCH_PREFIX,
				   &set, &terms, &err) == SIFT_X_OK);
	test_assert(uids_equal(&set, expected, BATCH_DOCS));
	test_assert(terms == BATCH_DOCS);
	sift_uids_free(&set);
	check_all_uids(db, expected, BATCH_DOCS);

	/* substring "7": the numbers whose 5-digit form has a 7 */
	count = 0;
	for (i = 0; i < BATCH_DOCS; i++) {
		i_snprintf(term, sizeof(term), "w%05u", i);
		if (strchr(term, '7') != NULL)
			expected[count++] = BATCH_UID(i);
	}
	test_assert(sift_xdb_match(db, "B", '\0', "7", 1,
				   SIFT_MATCH_SUBSTRING, &set, &terms,
				   &err) == SIFT_X_OK);
	test_assert(uids_equal(&set, expected, count));
	test_assert(terms == count);
	sift_uids_free(&set);

	/* one term with 10000 postings */
	count = 0;
	for (i = 0; i < BATCH_DOCS; i += 2)
		expected[count++] = BATCH_UID(i);
	test_assert(sift_xdb_match(db, "B", '\0', "even", 4, SIFT_MATCH_EXACT,
				   &set, &terms, &err) == SIFT_X_OK);
	test_assert(uids_equal(&set, expected, count));
	test_assert(terms == 1);
	/* merged with the prefix "w1" (w10000..w19999 and w01xxx) */
	test_assert(sift_xdb_match(db, "B", '\0', "w1", 2, SIFT_MATCH_PREFIX,
				   &set, &terms, &err) == SIFT_X_OK);
	/* expected: the sorted union */
	count = 0;
	for (i = 0; i < BATCH_DOCS; i++) {
		if (i % 2 == 0 || i >= 10000)
			expected[count++] = BATCH_UID(i);
	}
	test_assert(uids_equal(&set, expected, count));
	test_assert(terms == 10000);
	sift_uids_free(&set);
	i_free(expected);
	sift_xdb_close(&db);
	test_end();
}

/* Child: the highest possible UID as a document id, then match it. */
static int child_max_uid(void *ctx)
{
	const char *path = ctx;
	struct sift_xdb *db = NULL;
	struct sift_uids set = { NULL, 0, 0 };
	const char *err = NULL;
	struct sift_xdoc *doc;
	int ret = 0;

	if (sift_xdb_open(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE |
			  SIFT_XDB_NO_SYNC, &db, &err) != SIFT_X_OK)
		return 2;
	if (sift_xdoc_new(&doc, &err) != SIFT_X_OK ||
	    sift_xdoc_add_term(doc, "Bmax", 4, &err) != SIFT_X_OK ||
	    sift_xdb_add(db, UINT32_MAX, doc, NULL, &err) != SIFT_X_OK ||
	    sift_xdb_commit(db, &err) != SIFT_X_OK) {
		printf("    storing uid %u failed: %s\n", UINT32_MAX, err);
		ret = 3;
	} else if (sift_xdb_match(db, "B", '\0', "max", 3, SIFT_MATCH_EXACT,
				  &set, NULL, &err) != SIFT_X_OK) {
		printf("    match failed: %s\n", err);
		ret = 4;
	} else if (set.count != 1 || set.uids[0] != UINT32_MAX) {
		ret = 5;
	}
	sift_uids_free(&set);
	sift_xdoc_free(&doc);
	sift_xdb_close(&db);
	return ret;
}

static void test_xdb_max_uid(void)
{
	int ret;

	test_begin("xdb uid 4294967295");
	ret = run_in_child("max uid", child_max_uid, (void *)tpath("maxuid"));
	if (ret != 0)
		printf("    child exit %d\n", ret);
	test_assert(ret == 0);
	test_end();
}

static void test_uids_free(void)
{
	struct sift_uids set = { NULL, 0, 0 };

	test_begin("sift_uids_free");
	sift_uids_free(&set);
	test_assert(set.uids == NULL && set.count == 0 && set.alloc == 0);
	/* twice is fine */
	sift_uids_free(&set);
	test_assert(set.uids == NULL && set.count == 0 && set.alloc == 0);
	set.uids = malloc(3 * sizeof(uint32_t));
	set.alloc = 3;
	set.count = 1;
	set.uids[0] = 1;
	sift_uids_free(&set);
	test_assert(set.uids == NULL && set.count == 0 && set.alloc == 0);
	test_end();
}

/* ---- within-document frequencies and scores --------------------------- */

/* Store a document from (term, wdf) pairs, ending with NULL. */
static void ATTR_SENTINEL
doc_put_wdf(struct sift_xdb *db, uint32_t uid, ...)
{
	struct sift_xdoc *doc;
	const char *err = NULL;
	const char *term;
	unsigned int wdf;
	va_list args;

	test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
	va_start(args, uid);
	while ((term = va_arg(args, const char *)) != NULL) {
		wdf = va_arg(args, unsigned int);
		test_assert(sift_xdoc_add_term_wdf(doc, term, strlen(term),
						   wdf, &err) == SIFT_X_OK);
	}
	va_end(args);
	test_assert(sift_xdb_add(db, uid, doc, NULL, &err) == SIFT_X_OK);
	sift_xdoc_free(&doc);
}

/* Add n filler terms "B<tag><i>" with the given wdf. */
static void doc_put_filler(struct sift_xdb *db, uint32_t uid,
			   const char *word, unsigned int word_wdf,
			   const char *tag, unsigned int n, unsigned int wdf)
{
	struct sift_xdoc *doc;
	const char *err = NULL;

	test_assert(sift_xdoc_new(&doc, &err) == SIFT_X_OK);
	test_assert(sift_xdoc_add_term_wdf(doc, word, strlen(word), word_wdf,
					   &err) == SIFT_X_OK);
	for (unsigned int i = 0; i < n; i++) T_BEGIN {
		const char *term = t_strdup_printf("B%s%u", tag, i);

		test_assert(sift_xdoc_add_term_wdf(doc, term, strlen(term),
						   wdf, &err) == SIFT_X_OK);
	} T_END;
	test_assert(sift_xdb_add(db, uid, doc, NULL, &err) == SIFT_X_OK);
	sift_xdoc_free(&doc);
}

static bool score_eq(float a, float b)
{
	return a - b < 1e-5 && b - a < 1e-5;
}

static const uint32_t score_uids[] = { 1, 2, 3, 4, 5, 6, 99 };

static void scores_get(struct sift_xdb *db, float scores[])
{
	static const char *const terms[] = { "Bword", "Bword", "", "Bnone" };
	static const size_t lens[] = { 5, 5, 0, 5 };
	const char *err = NULL;

	test_assert(sift_xdb_score(db, terms, lens, NULL, N_ELEM(terms),
				   score_uids,
				   N_ELEM(score_uids), scores,
				   &err) == SIFT_X_OK);
}

static void test_xdb_scores(void)
{
	const char *path = tpath("scores");
	const char *dest = tpath("scores-rebuilt");
	static const uint32_t none[] = { 0 };
	static const char *const one_term[] = { "Bword" };
	static const size_t one_len[] = { 5 };
	struct sift_xdb *db;
	const char *err = NULL;
	struct sift_buf buf = { NULL, 0, 0 };
	float scores[N_ELEM(score_uids)], rebuilt[N_ELEM(score_uids)];
	float one = -1;
	uint32_t uid;

	test_begin("xdb wdf, document lengths and scores");
	db = db_open_ok(path, SIFT_XDB_WRITE | SIFT_XDB_CREATE);
	if (db == NULL) {
		test_end();
		return;
	}
	/* 1: the word 5 times in a short document (length 10);
	   2: once in a long one (length 51);
	   3: once, plus 50 boolean terms, which add nothing to its length;
	   4: once, alone (length 1, like 3);
	   5: only other words;
	   6: the word only as a boolean term (a run, say) */
	doc_put_filler(db, 1, "Bword", 5, "short", 5, 1);
	doc_put_filler(db, 2, "Bword", 1, "long", 50, 1);
	doc_put_filler(db, 3, "Bword", 1, "bool", 50, 0);
	doc_put_wdf(db, 4, "Bword", 1, NULL);
	doc_put_wdf(db, 5, "Bother", 3, NULL);
	doc_put_wdf(db, 6, "Bword", 0, "Bother", 1, NULL);
	/* 40: "zz" 5 times in a short document; 41: once inside a rarer
	   word in a long one; 42, 43: "zz" once */
	doc_put_filler(db, 40, "Bzz", 5, "s40x", 3, 1);
	doc_put_filler(db, 41, "Bxzzx", 1, "l41x", 50, 1);
	doc_put_wdf(db, 42, "Bzz", 1, NULL);
	doc_put_wdf(db, 43, "Bzz", 1, NULL);
	/* documents without the word, so that it is not in most of them */
	for (uid = 10; uid < 30; uid++)
		doc_put_wdf(db, uid, "Bother", 2, NULL);
	db_commit_ok(db);
	sift_xdb_close(&db);

	db = db_open_ok(path, 0);
	if (db == NULL) {
		test_end();
		return;
	}
	scores_get(db, scores);
	test_assert(scores[0] > 0 && scores[1] > 0 && scores[2] > 0);
	test_assert(scores[0] > scores[1]);
	test_assert(scores[3] > scores[1]);
	test_assert(score_eq(scores[2], scores[3]));
	test_assert(scores[4] == 0);
	test_assert(scores[5] == 0);
	test_assert(scores[6] == 0);

	/* one uid alone gets the same weight as among the others */
	uid = 1;
	test_assert(sift_xdb_score(db, one_term, one_len, NULL, 1, &uid, 1,
				   &one, &err) == SIFT_X_OK);
	test_assert(score_eq(one, scores[0]));
	/* no terms, no uids */
	one = -1;
	test_assert(sift_xdb_score(db, one_term, one_len, NULL, 0, &uid, 1,
				   &one, &err) == SIFT_X_OK && one == 0);
	test_assert(sift_xdb_score(db, one_term, one_len, NULL, 1, &uid, 0,
				   NULL, &err) == SIFT_X_OK);

	/* a group weighs its terms as one: the rarer term doesn't lift
	   the long document above the short one */
	{
		static const char *const zz[] = { "Bzz", "Bxzzx" };
		static const size_t zz_lens[] = { 3, 5 };
		static const unsigned int zz_groups[] = { 4, 4 };
		static const uint32_t zz_uids[] = { 40, 41, 42 };
		float zz_scores[3];

		test_assert(sift_xdb_score(db, zz, zz_lens, zz_groups, 2,
					   zz_uids, 3, zz_scores,
					   &err) == SIFT_X_OK);
		test_assert(zz_scores[0] > zz_scores[1]);
		test_assert(zz_scores[1] > 0);
		test_assert(zz_scores[2] > zz_scores[1]);
	}
	/* terms no document holds with a wdf (runs) are left out: they
	   change no score, and a document holding only them gets 0 */
	{
		static const char *const zz[] = { "Bzz", "Bxzzx", "Bbool0",
						  "Bbool7" };
		static const size_t zz_lens[] = { 3, 5, 6, 6 };
		static const unsigned int zz_groups[] = { 4, 4, 4, 4 };
		static const uint32_t zz_uids[] = { 3, 40, 41, 42 };
		float with[4], without[4];

		test_assert(sift_xdb_score(db, zz, zz_lens, zz_groups, 4,
					   zz_uids, 4, with,
					   &err) == SIFT_X_OK);
		test_assert(sift_xdb_score(db, zz, zz_lens, zz_groups, 2,
					   zz_uids, 4, without,
					   &err) == SIFT_X_OK);
		test_assert(with[0] == 0 && without[0] == 0);
		for (unsigned int i = 1; i < 4; i++)
			test_assert_idx(with[i] > 0 &&
					score_eq(with[i], without[i]), i);
	}

	/* the shortest matching terms, and no more than asked for */
	test_assert(sift_xdb_list_terms(db, "B", '\0', "o", 1,
					SIFT_MATCH_SUBSTRING, 2, &buf,
					&err) == SIFT_X_OK);
	test_assert(buf.len > 0 && strcmp(buf.data, "Bword\nBbool0\n") == 0);
	buf.len = 0;
	test_assert(sift_xdb_list_terms(db, "B", '\0', "word", 4,
					SIFT_MATCH_EXACT, 10, &buf,
					&err) == SIFT_X_OK);
	test_assert(buf.len > 0 && strcmp(buf.data, "Bword\n") == 0);
	sift_buf_free(&buf);

	/* a rebuild keeps every wdf and length: the same scores */
	test_assert(sift_xdb_rebuild(path, dest, none, 0, NULL,
				     &err) == SIFT_X_OK);
	sift_xdb_close(&db);
	db = db_open_ok(dest, 0);
	if (db != NULL) {
		scores_get(db, rebuilt);
		for (unsigned int i = 0; i < N_ELEM(score_uids); i++)
			test_assert_idx(score_eq(scores[i], rebuilt[i]), i);
		sift_xdb_close(&db);
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_xdb_open_close,
		test_xdb_not_found,
		test_xdb_locked,
		test_xdb_documents,
		test_xdb_match_empty_term,
		test_xdb_docset_union,
		test_xdb_reader_cache,
		test_xdb_add_existing,
		test_xdb_rebuild,
		test_xdb_rebuild_many,
		test_xdb_values,
		test_xdb_value_find,
		test_xdb_metadata,
		test_xdb_uncommitted_discarded,
		test_xdb_failed_commit,
		test_xdb_reader_revisions,
		test_xdb_term_limits,
		test_xdb_compact,
		test_xdb_merge,
		test_xdb_corrupt,
		test_xdb_open_regular_file,
		test_xdb_readonly_dir,
		test_xdb_large_batch,
		test_xdb_max_uid,
		test_xdb_scores,
		test_uids_free,
		NULL
	};

	return sift_test_main(test_functions, test_root);
}
