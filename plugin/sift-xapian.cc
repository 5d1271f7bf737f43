/* sift-xapian.cc: the extern "C" wrapper over Xapian (see
   include/sift-xapian.h for the contract).  This is the only file that
   includes <xapian.h>.

   Every exported function is one try block whose handler is
   translate_exception(): a C++ exception never reaches C frames. */
#include <xapian.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <new>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "sift-xapian.h"

#define SIFT_EXPORT extern "C" __attribute__((visibility("default")))
#define ATTR_UNUSED_CXX __attribute__((unused))

/* The one function of Dovecot's lib the wrapper calls (strfuncs.h; lib.h
   can't be included in C++): error messages go to the data stack, as
   every error_r in Dovecot does. */
extern "C" __attribute__((visibility("default")))
const char *t_strdup(const char *str);

struct sift_xdb {
	/* Exactly one of these is set.  A writer always has a transaction
	   open, so that close() without commit discards (Xapian's own
	   destructor would commit). */
	Xapian::Database *reader;
	Xapian::WritableDatabase *writer;
	/* A commit failed and no new transaction could be started: refuse
	   further changes, since outside a transaction Xapian would make
	   them durable at close, behind the caller's back. */
	bool broken;
	/* a reader that may be parked at close (reader_cache_put()): its
	   path and the stat of its version file when it was opened */
	bool cacheable;
	std::string path;
	struct stat version_st;
};

/* Readers kept open between searches.  A search opens the database four
   times on Dovecot 2.3 (three get_last_uid() calls and the lookup), each
   open about 10 system calls, three block reads and Xapian's table
   objects: a fifth of a one-word search's CPU at 30,000 messages.  A
   closed reader is parked here instead of deleted, and the next open of
   the same path takes it back if the database's version file is the one
   it was opened at: same device, inode, size and change time.  Glass
   writes that file anew (a new file renamed over the old) at every
   commit, and a rebuilt or replaced database has its own, so an
   unchanged file means no commit since, and the parked reader's revision
   is the newest one - what a fresh open would read.  Any difference (or
   a failed stat) opens afresh and drops the parked reader.  A parked
   reader is never shared: it is taken out while in use.  At most
   READER_CACHE_SLOTS are parked per process (one mailbox's index is
   searched again and again by an imap session); each holds the open
   files of one database. */
#define READER_CACHE_SLOTS 2
struct parked_reader {
	std::string path;
	struct stat version_st;
	Xapian::Database *reader;
	unsigned long long used;
};
static struct reader_cache {
	parked_reader slots[READER_CACHE_SLOTS];
	unsigned long long clock;
	~reader_cache() {
		for (parked_reader &p : slots) {
			try {
				delete p.reader;
			} catch (...) {
			}
			p.reader = NULL;
		}
	}
} reader_cache;

static bool version_stat(const std::string &path, struct stat *st_r)
{
	return stat((path + "/iamglass").c_str(), st_r) == 0;
}

static bool same_version(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
		a->st_size == b->st_size &&
		a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
		a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
		a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The parked reader of path if its version file is still st (NULL if
   none; a stale one is dropped). */
static Xapian::Database *
reader_cache_take(const std::string &path, const struct stat *st)
{
	for (parked_reader &p : reader_cache.slots) {
		if (p.reader == NULL || p.path != path)
			continue;
		Xapian::Database *reader = p.reader;
		p.reader = NULL;
		if (same_version(&p.version_st, st))
			return reader;
		delete reader;
	}
	return NULL;
}

/* Park db's reader (evicting the least recently parked one); TRUE if it
   now belongs to the cache. */
static bool reader_cache_put(struct sift_xdb *db)
{
	parked_reader *victim = &reader_cache.slots[0];

	for (parked_reader &p : reader_cache.slots) {
		if (p.reader == NULL || p.path == db->path) {
			victim = &p;
			break;
		}
		if (p.used < victim->used)
			victim = &p;
	}
	Xapian::Database *old = victim->reader;
	victim->reader = NULL;
	victim->path = db->path;
	victim->version_st = db->version_st;
	victim->reader = db->reader;
	victim->used = ++reader_cache.clock;
	delete old;
	return true;
}

static enum sift_xstatus
set_error(const char **error_r, enum sift_xstatus status, const char *op,
	  const char *type, const char *msg) noexcept;

/* Check that db can take changes. */
static bool writable(struct sift_xdb *db, const char *op,
		     const char **error_r, enum sift_xstatus *status_r)
{
	if (db->writer == NULL) {
		*status_r = set_error(error_r, SIFT_X_ERROR, op, "",
				      "database is not open for writing");
		return false;
	}
	if (db->broken) {
		*status_r = set_error(error_r, SIFT_X_ERROR, op, "",
				      "an earlier commit failed; reopen");
		return false;
	}
	return true;
}

struct sift_xdoc {
	Xapian::Document doc;
	size_t bytes;
};

static enum sift_xstatus
set_error(const char **error_r, enum sift_xstatus status, const char *op,
	  const char *type, const char *msg) noexcept
{
	char buf[512];

	if (error_r != NULL) {
		(void)snprintf(buf, sizeof(buf), "%s: %s%s%s", op, type,
			       type[0] == '\0' ? "" : ": ", msg);
		/* Dovecot's data stack: C, never throws (it panics when
		   out of memory, like every Dovecot allocation) */
		*error_r = t_strdup(buf);
	}
	return status;
}

/* Map the exception being handled to a status.  Must only be called from
   inside a catch block. */
static enum sift_xstatus
translate_exception(const char **error_r, const char *op) noexcept
{
	try {
		throw;
	} catch (const Xapian::DatabaseLockError &e) {
		return set_error(error_r, SIFT_X_LOCKED, op, e.get_type(),
				 e.get_msg().c_str());
	} catch (const Xapian::DatabaseModifiedError &e) {
		return set_error(error_r, SIFT_X_MODIFIED, op, e.get_type(),
				 e.get_msg().c_str());
	} catch (const Xapian::DatabaseNotFoundError &e) {
		return set_error(error_r, SIFT_X_NOT_FOUND, op, e.get_type(),
				 e.get_msg().c_str());
	} catch (const Xapian::DatabaseCorruptError &e) {
		return set_error(error_r, SIFT_X_CORRUPT, op, e.get_type(),
				 e.get_msg().c_str());
	} catch (const Xapian::DatabaseVersionError &e) {
		return set_error(error_r, SIFT_X_CORRUPT, op, e.get_type(),
				 e.get_msg().c_str());
	} catch (const Xapian::Error &e) {
		/* this function is noexcept: nothing here may throw, so no
		   string is built (get_error_string() itself may allocate) */
		const char *errstr = NULL;
		char msg[400];

		try {
			errstr = e.get_error_string();
		} catch (...) {
		}
		(void)snprintf(msg, sizeof(msg), "%s%s%s%s",
			       e.get_msg().c_str(), errstr == NULL ? "" : " (",
			       errstr == NULL ? "" : errstr,
			       errstr == NULL ? "" : ")");
		return set_error(error_r, SIFT_X_ERROR, op, e.get_type(), msg);
	} catch (const std::bad_alloc &) {
		return set_error(error_r, SIFT_X_NOMEM, op, "", "out of memory");
	} catch (const std::exception &e) {
		return set_error(error_r, SIFT_X_ERROR, op, "", e.what());
	} catch (...) {
		return set_error(error_r, SIFT_X_ERROR, op, "",
				 "unknown C++ exception");
	}
}

/* Success leaves *error_r as it is (Dovecot's convention: set only on
   failure). */
static inline enum sift_xstatus ok(const char **error_r ATTR_UNUSED_CXX) noexcept
{
	return SIFT_X_OK;
}

static Xapian::Database &rdb(struct sift_xdb *db)
{
	if (db->writer != NULL)
		return *db->writer;
	return *db->reader;
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_check(const char *path, size_t *errors_r, const char **error_r)
{
	*errors_r = 0;
	try {
		/* no output stream: only the count is wanted; a table that
		   can't be opened or read at all throws instead */
		*errors_r = Xapian::Database::check(path, 0, NULL);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "check");
	}
}

SIFT_EXPORT const char *sift_xstatus_str(enum sift_xstatus status)
{
	switch (status) {
	case SIFT_X_OK: return "ok";
	case SIFT_X_NOT_FOUND: return "not found";
	case SIFT_X_LOCKED: return "locked";
	case SIFT_X_MODIFIED: return "modified";
	case SIFT_X_CORRUPT: return "corrupt";
	case SIFT_X_NOMEM: return "out of memory";
	case SIFT_X_ERROR: return "error";
	}
	return "unknown";
}

SIFT_EXPORT void sift_uids_free(struct sift_uids *set)
{
	free(set->uids);
	set->uids = NULL;
	set->count = set->alloc = 0;
}

/* Merge the sorted, unique vector into out. */
static void uids_merge(struct sift_uids *out, const std::vector<uint32_t> &add)
{
	if (add.empty())
		return;
	std::vector<uint32_t> merged;
	merged.reserve(out->count + add.size());
	std::set_union(out->uids, out->uids + out->count, add.begin(),
		       add.end(), std::back_inserter(merged));
	if (merged.size() > out->alloc) {
		uint32_t *p = (uint32_t *)realloc(out->uids, merged.size() *
						  sizeof(uint32_t));
		if (p == NULL)
			throw std::bad_alloc();
		out->uids = p;
		out->alloc = merged.size();
	}
	std::copy(merged.begin(), merged.end(), out->uids);
	out->count = merged.size();
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_open(const char *path, unsigned int flags, struct sift_xdb **db_r,
	      const char **error_r)
{
	struct sift_xdb *db = NULL;

	*db_r = NULL;
	try {
		db = new sift_xdb();
		if ((flags & SIFT_XDB_WRITE) != 0) {
			int xflags = Xapian::DB_BACKEND_GLASS;
			xflags |= (flags & SIFT_XDB_CREATE) != 0 ?
				Xapian::DB_CREATE_OR_OPEN : Xapian::DB_OPEN;
			if ((flags & SIFT_XDB_NO_SYNC) != 0)
				xflags |= Xapian::DB_NO_SYNC;
			/* no term lists: they would be half of the index,
			   and only deleting or replacing documents needs
			   them (see sift_xdb_add() and sift_xdb_rebuild());
			   opening an existing database without this flag
			   would fail for want of termlist.glass */
			xflags |= Xapian::DB_NO_TERMLIST;
			db->writer = new Xapian::WritableDatabase(path, xflags);
			db->writer->begin_transaction(true);
		} else {
			std::string p(path);
			struct stat st;

			/* (stat before opening: a commit in between makes the
			   reader newer than the stat, and the next open then
			   sees another version file and opens afresh) */
			db->cacheable = version_stat(p, &st);
			if (db->cacheable) {
				db->path = p;
				db->version_st = st;
				db->reader = reader_cache_take(p, &st);
			}
			/* glass only: a plain file must not be taken for a
			   stub database (which can name remote programs) */
			if (db->reader == NULL) {
				db->reader = new Xapian::Database(path,
						Xapian::DB_BACKEND_GLASS);
			}
		}
		*db_r = db;
		return ok(error_r);
	} catch (...) {
		enum sift_xstatus ret = translate_exception(error_r, "open");
		if (db != NULL) {
			delete db->writer;
			delete db->reader;
			delete db;
		}
		/* Xapian 1.4 reports a missing database as a plain
		   DatabaseOpeningError; tell the caller what it means */
		if (ret == SIFT_X_ERROR && (flags & SIFT_XDB_CREATE) == 0) {
			try {
				std::string p(path);
				FILE *f = fopen((p + "/iamglass").c_str(), "r");
				if (f == NULL && errno == ENOENT)
					return SIFT_X_NOT_FOUND;
				if (f != NULL)
					fclose(f);
			} catch (...) {
			}
		}
		return ret;
	}
}

SIFT_EXPORT void sift_xdb_close(struct sift_xdb **_db)
{
	struct sift_xdb *db = *_db;

	if (db == NULL)
		return;
	*_db = NULL;
	try {
		if (db->writer != NULL) {
			try {
				db->writer->cancel_transaction();
			} catch (...) {
				/* no transaction open after a failed commit */
			}
			db->writer->close();
		}
	} catch (...) {
		/* nothing uncommitted is kept anyway */
	}
	try {
		delete db->writer;
	} catch (...) {
	}
	try {
		if (db->reader != NULL && db->cacheable &&
		    reader_cache_put(db))
			db->reader = NULL;
	} catch (...) {
	}
	try {
		delete db->reader;
	} catch (...) {
	}
	delete db;
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_reopen(struct sift_xdb *db, const char **error_r)
{
	try {
		if (db->reader != NULL) {
			/* (its revision may now be another than its version
			   file's stat at open says: never parked) */
			db->cacheable = false;
			(void)db->reader->reopen();
		}
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "reopen");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_commit(struct sift_xdb *db, const char **error_r)
{
	enum sift_xstatus ret;

	if (!writable(db, "commit", error_r, &ret))
		return ret;
	try {
		db->writer->commit_transaction();
		ret = ok(error_r);
	} catch (...) {
		/* Xapian has ended the transaction and dropped its changes */
		ret = translate_exception(error_r, "commit");
	}
	try {
		db->writer->begin_transaction(true);
	} catch (...) {
		db->broken = true;
		if (ret == SIFT_X_OK)
			ret = translate_exception(error_r, "begin transaction");
	}
	return ret;
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_get_metadata(struct sift_xdb *db, const char *key, char **value_r,
		      const char **error_r)
{
	*value_r = NULL;
	try {
		std::string value = rdb(db).get_metadata(key);
		if (!value.empty()) {
			*value_r = strdup(value.c_str());
			if (*value_r == NULL)
				throw std::bad_alloc();
		}
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "get metadata");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_set_metadata(struct sift_xdb *db, const char *key, const char *value,
		      const char **error_r)
{
	enum sift_xstatus ret;

	if (!writable(db, "set metadata", error_r, &ret))
		return ret;
	try {
		db->writer->set_metadata(key, value);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "set metadata");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_stats(struct sift_xdb *db, uint32_t *doc_count_r,
	       uint32_t *last_docid_r, const char **error_r)
{
	*doc_count_r = 0;
	*last_docid_r = 0;
	try {
		Xapian::Database &d = rdb(db);
		*doc_count_r = d.get_doccount();
		*last_docid_r = d.get_lastdocid();
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "stats");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdoc_new(struct sift_xdoc **doc_r, const char **error_r)
{
	*doc_r = NULL;
	try {
		*doc_r = new sift_xdoc();
		(*doc_r)->bytes = 0;
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "new document");
	}
}

SIFT_EXPORT void sift_xdoc_free(struct sift_xdoc **doc)
{
	try {
		delete *doc;
	} catch (...) {
	}
	*doc = NULL;
}

static enum sift_xstatus
xdoc_add(struct sift_xdoc *doc, const char *term, size_t len,
	 unsigned int wdf, const char **error_r)
{
	if (len == 0)
		return ok(error_r);
	if (len > SIFT_XAPIAN_MAX_TERM)
		return set_error(error_r, SIFT_X_ERROR, "add term", "",
				 "term too long");
	try {
		/* wdf 0 is a boolean term: present, no weight, no share of
		   the document's length */
		doc->doc.add_term(std::string(term, len), wdf);
		doc->bytes += len + 16;
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "add term");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdoc_add_term(struct sift_xdoc *doc, const char *term, size_t len,
		   const char **error_r)
{
	return xdoc_add(doc, term, len, 0, error_r);
}

SIFT_EXPORT enum sift_xstatus
sift_xdoc_add_term_wdf(struct sift_xdoc *doc, const char *term, size_t len,
		       unsigned int wdf, const char **error_r)
{
	return xdoc_add(doc, term, len, wdf, error_r);
}

SIFT_EXPORT enum sift_xstatus
sift_xdoc_term_count(const struct sift_xdoc *doc, unsigned int *count_r,
		     const char **error_r)
{
	*count_r = 0;
	try {
		/* a document being built holds its terms in memory: this
		   is their map's size (no term is ever removed here) */
		*count_r = doc->doc.termlist_count();
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "count terms");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdoc_set_value(struct sift_xdoc *doc, unsigned int slot, const void *data,
		    size_t len, const char **error_r)
{
	if (slot >= SIFT_XAPIAN_VALUE_SLOTS)
		return set_error(error_r, SIFT_X_ERROR, "set value", "",
				 "slot out of range");
	try {
		doc->doc.add_value(slot, std::string((const char *)data, len));
		doc->bytes += len + 16;
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "set value");
	}
}

SIFT_EXPORT size_t sift_xdoc_size(const struct sift_xdoc *doc)
{
	return doc->bytes;
}

/* Does the database hold a document under did?  Without term lists the
   document length table is the record of which documents exist. */
static bool doc_exists(Xapian::Database &d, Xapian::docid did)
{
	if (did == 0 || did > d.get_lastdocid())
		return false;
	try {
		(void)d.get_doclength(did);
		return true;
	} catch (const Xapian::DocNotFoundError &) {
		return false;
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_add(struct sift_xdb *db, uint32_t uid, const struct sift_xdoc *doc,
	     bool *existed_r, const char **error_r)
{
	enum sift_xstatus ret;

	if (existed_r != NULL)
		*existed_r = false;
	if (!writable(db, "add document", error_r, &ret))
		return ret;
	if (uid == 0)
		return set_error(error_r, SIFT_X_ERROR, "add document", "",
				 "uid 0");
	try {
		if (doc_exists(*db->writer, uid)) {
			if (existed_r != NULL)
				*existed_r = true;
			return ok(error_r);
		}
		/* a new docid: no term list needed */
		db->writer->replace_document(uid, doc->doc);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "add document");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_has_doc(struct sift_xdb *db, uint32_t uid, bool *exists_r,
		 const char **error_r)
{
	*exists_r = false;
	try {
		*exists_r = doc_exists(rdb(db), uid);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "look up document");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_term_exists(struct sift_xdb *db, const char *term, size_t len,
		     bool *exists_r, const char **error_r)
{
	*exists_r = false;
	try {
		*exists_r = rdb(db).term_exists(std::string(term, len));
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "look up term");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_all_uids(struct sift_xdb *db, struct sift_uids *out,
		  const char **error_r)
{
	try {
		Xapian::Database &d = rdb(db);
		std::vector<uint32_t> uids;
		uids.reserve(d.get_doccount());
		for (Xapian::PostingIterator p = d.postlist_begin("");
		     p != d.postlist_end(""); ++p)
			uids.push_back(*p);
		uids_merge(out, uids);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "list documents");
	}
}

/* The documents a match collects.  A bitmap over docids keeps memory at
   lastdocid/8 bytes however many terms match; past 16M (UIDs can go up to
   2^32-1) a sorted vector is used instead.  With the bitmap, the first
   few documents (at most lastdocid/16, so at most twice the bitmap's
   memory) are also listed as they are first added: a set that small is
   handed over by sorting the list, not by scanning every bit of the
   bitmap, which cost each search about 0.1 ms at 30,000 messages for the
   few documents of the index's flag terms (sift_query_load_flags()). */
class DocSet {
public:
	explicit DocSet(Xapian::docid last_docid)
		: use_bitmap(last_docid <= (1U << 24)), listing(true),
		  any(false), list_max((size_t)last_docid / 16),
		  last(last_docid)
	{
		if (use_bitmap)
			bitmap.assign((size_t)last_docid + 1, false);
	}
	/* A posting of a document id past the database's last one (or 0)
	   comes only from a damaged table: garbage in postlist.glass that
	   still parses.  It would index past the bitmap, so the table is
	   reported damaged instead (the caller moves the index aside). */
	void add(Xapian::docid did)
	{
		if (did == 0 || did > last)
			throw Xapian::DatabaseCorruptError(
				"posting of document " + std::to_string(did) +
				" past the last document " + std::to_string(last));
		any = true;
		if (!use_bitmap) {
			list.push_back(did);
			return;
		}
		if (bitmap[did])
			return;
		bitmap[did] = true;
		if (!listing)
			return;
		if (list.size() >= list_max) {
			/* too many: the bitmap alone */
			listing = false;
			std::vector<uint32_t>().swap(list);
			return;
		}
		list.push_back(did);
	}
	bool empty() const { return !any; }
	void merge_into(struct sift_uids *out)
	{
		if (!any)
			return;
		if (use_bitmap && listing) {
			/* unique already (the bitmap); sorted when one
			   term's postings were read */
			if (!std::is_sorted(list.begin(), list.end()))
				std::sort(list.begin(), list.end());
		} else if (use_bitmap) {
			for (size_t i = 1; i < bitmap.size(); i++) {
				if (bitmap[i])
					list.push_back((uint32_t)i);
			}
		} else {
			std::sort(list.begin(), list.end());
			list.erase(std::unique(list.begin(), list.end()),
				   list.end());
		}
		uids_merge(out, list);
	}
private:
	bool use_bitmap, listing, any;
	size_t list_max;
	Xapian::docid last;
	std::vector<bool> bitmap;
	std::vector<uint32_t> list;
};

/* Does the part of term after skip bytes match needle? */
static bool rest_matches(const std::string &term, size_t skip, char sep,
			 const char *needle, size_t needle_len,
			 enum sift_match match)
{
	if (sep != '\0') {
		size_t pos = term.find(sep, skip);
		if (pos == std::string::npos)
			return false;
		skip = pos + 1;
	}
	const char *rest = term.data() + skip;
	size_t rest_len = term.size() - skip;
	if (rest_len < needle_len)
		return false;
	switch (match) {
	case SIFT_MATCH_EXACT:
		return rest_len == needle_len &&
			memcmp(rest, needle, needle_len) == 0;
	case SIFT_MATCH_PREFIX:
		return memcmp(rest, needle, needle_len) == 0;
	case SIFT_MATCH_SUBSTRING:
		return needle_len == 0 ||
			memmem(rest, rest_len, needle, needle_len) != NULL;
	}
	return false;
}

/* Call f(term) for each term of d made of prefix and a rest matching
   needle (see sift_xdb_match() in the header). */
template <class Func>
static void each_matching_term(Xapian::Database &d, const char *prefix,
			       char sep, const char *needle, size_t needle_len,
			       enum sift_match match, Func f)
{
	std::string pfx(prefix);
	std::string start = pfx;

	if (sep == '\0' && match != SIFT_MATCH_SUBSTRING)
		start.append(needle, needle_len);
	if (sep == '\0' && match == SIFT_MATCH_EXACT) {
		/* "" would be Xapian's "every document" */
		if (!start.empty() && d.term_exists(start))
			f(start);
		return;
	}
	for (Xapian::TermIterator t = d.allterms_begin(start);
	     t != d.allterms_end(start); ++t) {
		const std::string &term = *t;
		if (rest_matches(term, pfx.size(), sep, needle, needle_len,
				 match))
			f(term);
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_match(struct sift_xdb *db, const char *prefix, char sep,
	       const char *needle, size_t needle_len, enum sift_match match,
	       struct sift_uids *out, unsigned int *terms_r,
	       const char **error_r)
{
	if (terms_r != NULL)
		*terms_r = 0;
	try {
		Xapian::Database &d = rdb(db);
		DocSet hits(d.get_lastdocid());
		unsigned int terms = 0;

		each_matching_term(d, prefix, sep, needle, needle_len, match,
				   [&](const std::string &term) {
			bool any = false;
			for (Xapian::PostingIterator p = d.postlist_begin(term);
			     p != d.postlist_end(term); ++p) {
				hits.add(*p);
				any = true;
			}
			if (any)
				terms++;
		});
		hits.merge_into(out);
		if (terms_r != NULL)
			*terms_r = terms;
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "match terms");
	}
}

SIFT_EXPORT void sift_buf_free(struct sift_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->alloc = 0;
}

static void buf_append(struct sift_buf *buf, const char *data, size_t len)
{
	if (buf->len + len + 1 > buf->alloc) {
		size_t want = std::max(buf->alloc * 2, buf->len + len + 1);
		want = std::max(want, (size_t)4096);
		char *p = (char *)realloc(buf->data, want);
		if (p == NULL)
			throw std::bad_alloc();
		buf->data = p;
		buf->alloc = want;
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_new_terms(struct sift_xdb *db, const struct sift_xdoc *doc,
		   struct sift_buf *out, const char **error_r)
{
	try {
		Xapian::Database &d = rdb(db);
		for (Xapian::TermIterator t = doc->doc.termlist_begin();
		     t != doc->doc.termlist_end(); ++t) {
			const std::string &term = *t;
			if (!d.term_exists(term)) {
				buf_append(out, term.data(), term.size());
				buf_append(out, "\n", 1);
			}
		}
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "list new terms");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_each_term(struct sift_xdb *db, sift_term_callback_t *callback,
		   void *context, int *cb_ret_r, const char **error_r)
{
	*cb_ret_r = 0;
	try {
		Xapian::Database &d = rdb(db);
		for (Xapian::TermIterator t = d.allterms_begin();
		     t != d.allterms_end(); ++t) {
			const std::string &term = *t;
			int ret = callback(context, term.data(), term.size());
			if (ret != 0) {
				*cb_ret_r = ret;
				break;
			}
		}
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "list terms");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_terms_docs(struct sift_xdb *db, const char *const terms[],
		    const size_t term_lens[], unsigned int term_count,
		    struct sift_uids *out, const char **error_r)
{
	try {
		Xapian::Database &d = rdb(db);
		DocSet hits(d.get_lastdocid());
		for (unsigned int i = 0; i < term_count; i++) {
			std::string term(terms[i], term_lens[i]);
			if (term.empty())
				continue;
			for (Xapian::PostingIterator p = d.postlist_begin(term);
			     p != d.postlist_end(term); ++p)
				hits.add(*p);
		}
		hits.merge_into(out);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "read postings");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_value_bit(struct sift_xdb *db, unsigned int slot, unsigned int bit,
		   struct sift_uids *out, const char **error_r)
{
	if (slot >= SIFT_XAPIAN_VALUE_SLOTS)
		return set_error(error_r, SIFT_X_ERROR, "read values", "",
				 "slot out of range");
	try {
		Xapian::Database &d = rdb(db);
		std::vector<uint32_t> uids;
		unsigned char mask = (unsigned char)(1U << (bit % 8));

		/* the stream visits only documents with a value there, in
		   docid order */
		for (Xapian::ValueIterator v = d.valuestream_begin(slot);
		     v != d.valuestream_end(slot); ++v) {
			const std::string &value = *v;
			if (bit / 8 < value.size() &&
			    ((unsigned char)value[bit / 8] & mask) != 0)
				uids.push_back(v.get_docid());
		}
		uids_merge(out, uids);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "read values");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_value_find(struct sift_xdb *db, unsigned int slot,
		    const uint32_t *uids, size_t uid_count,
		    const char *needle, size_t needle_len,
		    struct sift_uids *out, const char **error_r)
{
	if (slot >= SIFT_XAPIAN_VALUE_SLOTS)
		return set_error(error_r, SIFT_X_ERROR, "search values", "",
				 "slot out of range");
	if (needle_len == 0 || uid_count == 0)
		return ok(error_r);
	try {
		Xapian::Database &d = rdb(db);
		std::vector<uint32_t> found;

		if (d.get_value_freq(slot) == 0)
			return ok(error_r);
		/* the stream skips to each document in docid order */
		Xapian::ValueIterator v = d.valuestream_begin(slot);
		for (size_t i = 0; i < uid_count; i++) {
			v.skip_to(uids[i]);
			if (v == d.valuestream_end(slot))
				break;
			if (v.get_docid() != uids[i])
				continue;
			const std::string &value = *v;
			if (memmem(value.data(), value.size(), needle,
				   needle_len) != NULL)
				found.push_back(uids[i]);
		}
		uids_merge(out, found);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "search values");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_values(struct sift_xdb *db, unsigned int slot,
		const uint32_t *uids, size_t uid_count,
		sift_value_callback_t *callback, void *context,
		const char **error_r)
{
	if (slot >= SIFT_XAPIAN_VALUE_SLOTS)
		return set_error(error_r, SIFT_X_ERROR, "read values", "",
				 "slot out of range");
	if (uid_count == 0)
		return ok(error_r);
	try {
		Xapian::Database &d = rdb(db);

		if (d.get_value_freq(slot) == 0)
			return ok(error_r);
		Xapian::ValueIterator v = d.valuestream_begin(slot);
		Xapian::ValueIterator end = d.valuestream_end(slot);
		for (size_t i = 0; i < uid_count; i++) {
			v.skip_to(uids[i]);
			if (v == end)
				break;
			if (v.get_docid() != uids[i])
				continue;
			const std::string &value = *v;
			callback(context, uids[i], value.data(), value.size());
		}
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "read values");
	}
}

/* Orders terms shortest first (then bytewise), for keeping the shortest
   max_terms in a heap whose top is the longest kept. */
static bool shorter(const std::string &a, const std::string &b)
{
	if (a.size() != b.size())
		return a.size() < b.size();
	return a < b;
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_list_terms(struct sift_xdb *db, const char *prefix, char sep,
		    const char *needle, size_t needle_len,
		    enum sift_match match, unsigned int max_terms,
		    struct sift_buf *out, const char **error_r)
{
	try {
		Xapian::Database &d = rdb(db);
		std::vector<std::string> kept;

		if (max_terms == 0)
			return ok(error_r);
		each_matching_term(d, prefix, sep, needle, needle_len, match,
				   [&](const std::string &term) {
			if (kept.size() < max_terms) {
				kept.push_back(term);
				std::push_heap(kept.begin(), kept.end(),
					       shorter);
			} else if (shorter(term, kept.front())) {
				std::pop_heap(kept.begin(), kept.end(),
					      shorter);
				kept.back() = term;
				std::push_heap(kept.begin(), kept.end(),
					       shorter);
			}
		});
		std::sort(kept.begin(), kept.end(), shorter);
		for (const std::string &term : kept) {
			buf_append(out, term.data(), term.size());
			buf_append(out, "\n", 1);
		}
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "list terms");
	}
}

/* The given documents as a posting source with weight 0: under
   OP_FILTER it restricts a query to them, letting the matcher skip
   straight to each (a MatchDecider would see every document the terms
   match).  The uids array is not owned and must outlive the Enquire. */
class UidSource : public Xapian::PostingSource {
public:
	UidSource(const uint32_t *uids_, size_t count_)
		: uids(uids_), count(count_), pos(0), started(false) {}

	Xapian::doccount get_termfreq_min() const override { return 0; }
	Xapian::doccount get_termfreq_est() const override
	{
		return (Xapian::doccount)count;
	}
	Xapian::doccount get_termfreq_max() const override
	{
		return (Xapian::doccount)count;
	}
	void init(const Xapian::Database &) override
	{
		pos = 0;
		started = false;
	}
	void next(double) override
	{
		if (started)
			pos++;
		started = true;
	}
	void skip_to(Xapian::docid did, double) override
	{
		started = true;
		pos = std::lower_bound(uids + pos, uids + count,
				       (uint32_t)did) - uids;
	}
	bool at_end() const override { return started && pos >= count; }
	Xapian::docid get_docid() const override { return uids[pos]; }
	PostingSource *clone() const override
	{
		return new UidSource(uids, count);
	}
	std::string name() const override { return std::string(); }
private:
	const uint32_t *uids;
	size_t count, pos;
	bool started;
};

SIFT_EXPORT enum sift_xstatus
sift_xdb_score(struct sift_xdb *db, const char *const terms[],
	       const size_t term_lens[], const unsigned int groups[],
	       unsigned int term_count, const uint32_t *uids,
	       size_t uid_count, float *scores_r, const char **error_r)
{
	for (size_t i = 0; i < uid_count; i++)
		scores_r[i] = 0;
	if (uid_count == 0 || term_count == 0)
		return ok(error_r);
	try {
		Xapian::Database &d = rdb(db);
		/* (group, term), sorted: each group's terms together */
		std::vector<std::pair<unsigned int, std::string> > qterms;
		for (unsigned int i = 0; i < term_count; i++) {
			if (term_lens[i] == 0)
				continue;
			std::string term(terms[i], term_lens[i]);
			/* a term without any wdf (a run of several words,
			   a flag) weighs nothing, but would count in the
			   synonym's frequency: leave it out */
			if (d.get_collection_freq(term) == 0)
				continue;
			qterms.emplace_back(groups == NULL ? i : groups[i],
					    term);
		}
		/* each term once, in the lowest group naming it */
		std::sort(qterms.begin(), qterms.end(),
			  [](const std::pair<unsigned int, std::string> &a,
			     const std::pair<unsigned int, std::string> &b) {
			return a.second != b.second ? a.second < b.second :
				a.first < b.first;
		});
		qterms.erase(std::unique(qterms.begin(), qterms.end(),
			[](const std::pair<unsigned int, std::string> &a,
			   const std::pair<unsigned int, std::string> &b) {
			return a.second == b.second;
		}), qterms.end());
		if (qterms.empty())
			return ok(error_r);
		std::sort(qterms.begin(), qterms.end());

		std::vector<Xapian::Query> subqueries;
		for (size_t i = 0; i < qterms.size();) {
			size_t j = i;
			std::vector<Xapian::Query> group;
			for (; j < qterms.size() &&
			       qterms[j].first == qterms[i].first; j++)
				group.emplace_back(qterms[j].second);
			subqueries.emplace_back(Xapian::Query::OP_SYNONYM,
						group.begin(), group.end());
			i = j;
		}
		Xapian::Query words(Xapian::Query::OP_OR, subqueries.begin(),
				    subqueries.end());
		UidSource source(uids, uid_count);
		Xapian::Query query(Xapian::Query::OP_FILTER, words,
				    Xapian::Query(&source));
		Xapian::Enquire enquire(d);
		enquire.set_query(query);
		enquire.set_weighting_scheme(Xapian::BM25Weight());
		Xapian::MSet mset = enquire.get_mset(0,
			(Xapian::doccount)std::min<size_t>(uid_count,
							   d.get_doccount()));
		for (Xapian::MSetIterator m = mset.begin(); m != mset.end();
		     ++m) {
			const uint32_t *pos = std::lower_bound(uids,
				uids + uid_count, (uint32_t)*m);
			if (pos != uids + uid_count && *pos == *m)
				scores_r[pos - uids] = (float)m.get_weight();
		}
		return ok(error_r);
	} catch (...) {
		for (size_t i = 0; i < uid_count; i++)
			scores_r[i] = 0;
		return translate_exception(error_r, "score documents");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_compact(const char *src_path, const char *dest_path,
		 const char **error_r)
{
	try {
		Xapian::Database src(src_path, Xapian::DB_BACKEND_GLASS);
		/* NO_RENUMBER: document ids are IMAP UIDs and must survive */
		src.compact(dest_path, Xapian::DBCOMPACT_NO_RENUMBER |
			    Xapian::DBCOMPACT_MULTIPASS);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "compact");
	}
}

SIFT_EXPORT enum sift_xstatus
sift_xdb_merge(const char *const src_paths[], unsigned int src_count,
	       const char *dest_path, const char **error_r)
{
	if (src_count == 0)
		return set_error(error_r, SIFT_X_ERROR, "merge", "",
				 "no databases");
	try {
		Xapian::Database src;

		for (unsigned int i = 0; i < src_count; i++) {
			src.add_database(Xapian::Database(src_paths[i],
						Xapian::DB_BACKEND_GLASS));
		}
		/* NO_RENUMBER: document ids are IMAP UIDs and must survive;
		   Xapian refuses sources whose docid ranges overlap.  Each
		   posting list is written once, the sources' chunks merged in
		   docid order, so this costs one pass over all of them,
		   however many small databases a run left. */
		src.compact(dest_path, Xapian::DBCOMPACT_NO_RENUMBER |
			    Xapian::DBCOMPACT_MULTIPASS);
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "merge");
	}
}

/* Is did in the sorted array? */
static bool uid_in(const uint32_t *uids, size_t count, Xapian::docid did)
{
	return std::binary_search(uids, uids + count, (uint32_t)did);
}

/* Postings held in memory at once while rebuilding (8 bytes each: term
   number and wdf): the documents are rebuilt in docid windows of about
   this many postings. */
#define REBUILD_POSTINGS_PER_PASS (4U * 1024 * 1024)

/* One posting of a rebuilt document: which term, with which wdf. */
struct rebuild_posting {
	uint32_t term;
	uint32_t wdf;
};

SIFT_EXPORT enum sift_xstatus
sift_xdb_rebuild(const char *src_path, const char *dest_path,
		 const uint32_t *drop, size_t drop_count, const char *omit_key,
		 const char **error_r)
{
	try {
		Xapian::Database src(src_path, Xapian::DB_BACKEND_GLASS);
		Xapian::WritableDatabase dest(dest_path, Xapian::DB_CREATE |
			Xapian::DB_BACKEND_GLASS | Xapian::DB_NO_TERMLIST |
			Xapian::DB_NO_SYNC);

		for (Xapian::TermIterator k = src.metadata_keys_begin();
		     k != src.metadata_keys_end(); ++k) {
			if (omit_key == NULL || *k != omit_key)
				dest.set_metadata(*k, src.get_metadata(*k));
		}

		/* every term once, and how many postings there are */
		std::vector<std::string> terms;
		uint64_t postings = 0;
		for (Xapian::TermIterator t = src.allterms_begin();
		     t != src.allterms_end(); ++t) {
			terms.push_back(*t);
			postings += t.get_termfreq();
		}
		/* the documents to keep, in docid order */
		std::vector<Xapian::docid> keep;
		for (Xapian::PostingIterator p = src.postlist_begin("");
		     p != src.postlist_end(""); ++p) {
			if (!uid_in(drop, drop_count, *p))
				keep.push_back(*p);
		}
		if (keep.empty()) {
			dest.commit();
			dest.close();
			return ok(error_r);
		}
		/* documents per pass, from the average postings per
		   document; memory follows the documents, not the docid
		   span (UIDs can be sparse) */
		uint64_t per_doc = postings / src.get_doccount() + 1;
		size_t per_pass = std::max<uint64_t>(1,
			REBUILD_POSTINGS_PER_PASS / per_doc);

		for (size_t first = 0; first < keep.size(); first += per_pass) {
			size_t end = std::min(keep.size(), first + per_pass);
			Xapian::docid lo = keep[first], hi = keep[end - 1];
			std::vector<std::vector<rebuild_posting> >
				doc_terms(end - first);
			for (uint32_t i = 0; i < terms.size(); i++) {
				Xapian::PostingIterator p =
					src.postlist_begin(terms[i]);
				p.skip_to(lo);
				for (; p != src.postlist_end(terms[i]) &&
				       *p <= hi; ++p) {
					auto it = std::lower_bound(
						keep.begin() + first,
						keep.begin() + end, *p);
					if (it != keep.begin() + end &&
					    *it == *p) {
						rebuild_posting post;
						post.term = i;
						post.wdf = p.get_wdf();
						doc_terms[it - keep.begin() -
							  first].push_back(post);
					}
				}
			}
			/* and their values, a pass over each slot */
			std::vector<std::vector<std::pair<unsigned int,
				std::string> > > doc_values(end - first);
			for (unsigned int slot = 0;
			     slot < SIFT_XAPIAN_VALUE_SLOTS; slot++) {
				Xapian::ValueIterator v =
					src.valuestream_begin(slot);
				if (v == src.valuestream_end(slot))
					continue;
				v.skip_to(lo);
				for (; v != src.valuestream_end(slot) &&
				       v.get_docid() <= hi; ++v) {
					auto it = std::lower_bound(
						keep.begin() + first,
						keep.begin() + end,
						v.get_docid());
					if (it != keep.begin() + end &&
					    *it == v.get_docid())
						doc_values[it - keep.begin() -
							   first].emplace_back(
							slot, *v);
				}
			}
			for (size_t d = first; d < end; d++) {
				Xapian::Document doc;
				for (const rebuild_posting &post :
					     doc_terms[d - first])
					doc.add_term(terms[post.term],
						     post.wdf);
				for (const auto &value : doc_values[d - first])
					doc.add_value(value.first,
						      value.second);
				dest.replace_document(keep[d], doc);
			}
			dest.commit();
		}
		dest.close();
		return ok(error_r);
	} catch (...) {
		return translate_exception(error_r, "rebuild");
	}
}
