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

   Within-document frequencies.  Matching never looks at them; they are
   there for relevance scores (SEARCH=FUZZY, sift-query.c), which Xapian's
   BM25 computes from a term's wdf and the document's length (the sum of
   its terms' wdf).  So only words carry a wdf, one per occurrence: the
   word tokens of B, M, Hsubject: and P, and address runs (an address
   header's only terms, and short).  Runs of several words, windows of
   over-long words, header names, body characters and flags have wdf 0:
   they repeat text already counted through its words, and counting them
   would make a document's length depend on its punctuation rather than
   on how many words it has.  A document's length is thus about its
   number of words (plus, with fts_sift_fold_accents, its accented words
   once more).  The cost: about one byte per posting at most, and a real
   doclen per document (see README).

   The database has no term lists (DB_NO_TERMLIST): they would double
   its size, and only deleting documents needs them.  An expunge records
   the UID in sift.expunged (committed with everything else); searches
   drop those UIDs from their results, and once they make up a quarter of
   the index (and at least fts_sift_compact_after), or at doveadm fts
   optimize, the database is rebuilt from its own postings without them.

   Opaque tokens.  Pooled headers of list mail carry signatures and
   tracking ids (DKIM-Signature, ARC-*, X-Google-*, ...): base64 and hex
   fragments that occur in one message only.  As terms they would be most
   of the index (each stored twice, in the posting and the term lists), yet
   Dovecot's TEXT search does find substrings of them.  So a long token
   with a digit in a pooled header is kept in the "opaque" file next to
   the index instead (sift-dict.h), where a TEXT or pooled-header search
   finds it with one scan.

   Characters.  A search for one character ("f") would otherwise OR the
   postings of every term holding it, a third of the dictionary; so each
   document records its body's distinct characters.  The ASCII ones (about
   55 per message of list mail) are a 128-bit map in value slot
   SIFT_VALUE_BODY_ASCII, read with one pass over the slot's values; as
   terms they were a tenth of all postings and cost 5% of indexing time.
   Other characters are terms of their own (C<char>, one posting list
   each), as they are few per message outside CJK text.

   Decoded attachments.  With fts_decoder or fts_tika, Dovecot's fts
   plugin hands over the text it extracted from attachments (a part that
   is neither text nor message, which Dovecot's own search never reads).
   That text is body text here in every way (B terms, characters, phrase
   filters), so the index answers BODY and TEXT with it like with any
   text part; and because no search can leave such a part to Dovecot,
   its normalized text is also kept in value slot SIFT_VALUE_DECODED,
   where a search looks for what the terms can't settle (a phrase).

   The "gaps" file holds a small Bloom filter per message of where
   whitespace separates two runs, which narrows phrase searches to the
   messages that can hold them (sift-gaps.h).

   Next to the database, the "terms" file lists every term, so that
   substring searches scan a flat file instead of Xapian's B-tree
   (sift-dict.h).  Small updates append their new terms to it before
   committing; a bulk run stops appending and rewrites it at the end.

   Words are capped at Xapian's 245-byte term limit on a character
   boundary; the ZL flag then makes searches verify that message instead of
   trusting the cut term.  Memory is bounded by committing every
   fts_sift_commit_batch messages or fts_sift_commit_size bytes of text.

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
#include "sift-dict.h"
#include "sift-gaps.h"
#include "sift-record.h"
#include "sift-termset.h"
#include "sift-swap.h"
#include "fts-sift-plugin.h"
#include "fts-backend-sift.h"
#include "sift-index.h"

#include <stdio.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>

#define SIFT_INDEX_DIR_NAME "fts-sift"
/* Body text is tokenized in pieces of about this size (cut at
   whitespace), so a 100 MB message never needs 100 MB of buffer. */
#define SIFT_FIELD_FLUSH_SIZE (256 * 1024)

struct sift_token_span {
	size_t offset, len;
};

struct sift_index {
	struct sift_fts_backend *backend;
	struct mailbox *box;
	char *path;
	/* umask that gives created files the mailbox's permissions */
	mode_t create_umask;
	/* why the writer found the database unusable (another format or
	   text engine), for the one warning logged when it is moved aside */
	struct sift_xdb *db;
	struct sift_dict_writer *dict;
	struct sift_gaps_writer *gaps;
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
	   next commit (sift_index_trim_expunge_queue()) */
	uoff_t queue_taken;

	/* last_uid as stored, and as it will be at the next commit */
	uint32_t stored_last_uid, batch_last_uid;
	unsigned int batch_docs, docs_added, batch_expunges;
	uoff_t batch_bytes;
	bool batch_dirty;

	/* the document being built */
	struct sift_xdoc *doc;
	string_t *opaque;
	uint32_t doc_uid;
	enum sift_untrusted doc_untrusted;
	bool doc_truncated, doc_raw, doc_html;
	/* the normalized text of its decoded attachments (parts separated
	   by NUL), up to SIFT_DECODED_MAX_BYTES: SIFT_VALUE_DECODED */
	string_t *decoded;

	/* the field being built */
	enum sift_field_kind field_kind;
	bool field_open, field_is_address, field_is_pooled, field_chunks;
	/* HTML source: runs are split at '<' and '>' */
	bool field_html;
	/* the document's distinct terms so far */
	struct sift_termset *doc_terms;
	/* the ASCII characters of the body: bit c % 8 of byte c / 8 */
	unsigned char doc_ascii[SIFT_BODY_ASCII_BYTES];
	/* the document's gap keys (sift-gaps.h), and the field's state */
	ARRAY_TYPE(sift_gap_key) gap_keys;
	struct sift_gap_state gap_state;
	/* with field_chunks: the current text's tokens (sift_index_chunks) */
	ARRAY(struct sift_token_span) token_spans;
	string_t *token_prefix, *run_prefix;
	buffer_t *field_buf;
	string_t *term;
	int field_error;
};

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
static void sift_index_write_error(struct sift_index *index,
				   const char *error)
{
	sift_index_note_error(index->backend, error);
	e_error(index->backend->event, "%s", error);
}

static void sift_index_error(struct sift_index *index, const char *op,
			     const struct sift_xerror *err)
{
	sift_index_note_error(index->backend, err->msg);
	e_error(index->backend->event, "%s %s (mailbox %s): %s", op,
		index->path, mailbox_get_vname(index->box), err->msg);
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

/* The umask, in one place.  Every file fts-sift (or Xapian, for it)
   creates must get the mailbox's permissions (see the top of this file),
   so every call that may create files runs between sift_umask_push() and
   sift_umask_pop(), and nothing else here calls umask().  The umask is
   process-wide: a push without its pop would change Dovecot's own for
   everything after, so pops are checked to pair with pushes. */
struct sift_umask {
	mode_t old_umask;
	bool pushed;
};
static unsigned int sift_umask_depth = 0;

static mode_t sift_box_create_umask(struct mailbox *box)
{
	const struct mailbox_permissions *perm = mailbox_get_permissions(box);

	/* files: 0666 & dir mode = the mailbox's file mode (both come from
	   the same stat()); directories: the mailbox's directory mode */
	return 0777 & ~perm->dir_create_mode;
}

/* Set the umask to mask (sift_box_create_umask()). */
static void sift_umask_push(mode_t mask, struct sift_umask *saved_r)
{
	saved_r->old_umask = umask(mask);
	saved_r->pushed = TRUE;
	sift_umask_depth++;
}

/* Restore the umask saved_r had before its push. */
static void sift_umask_pop(struct sift_umask *saved)
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

/* Is a process writing the index at path (holding Xapian's lock)?  The
   lock is an fcntl() lock on the whole of path/flintlock. */
static bool sift_index_writer_active(const char *path)
{
	struct flock fl;
	int fd;

	fd = open(t_strconcat(path, "/flintlock", NULL), O_RDONLY);
	if (fd == -1)
		return FALSE;
	i_zero(&fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	if (fcntl(fd, F_GETLK, &fl) < 0)
		fl.l_type = F_UNLCK;
	i_close_fd(&fd);
	return fl.l_type != F_UNLCK;
}

/* Has the database been committed to since index (a reader) opened it,
   in a way that changed its side files?  Then what looked like damage
   may be files replaced after the snapshot was taken. */
static bool sift_index_snapshot_outdated(struct sift_index *index)
{
	struct sift_xdb *db;
	struct sift_xerror err;
	char *files = NULL;
	bool outdated = FALSE;

	if (index->db == NULL || index->files.opaque.gen == 0)
		return FALSE;
	if (sift_xdb_open(index->path, 0, &db, &err) != SIFT_X_OK)
		return FALSE;
	if (sift_xdb_get_metadata(db, SIFT_META_FILES, &files,
				  &err) == SIFT_X_OK && files != NULL)
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
	if (sift_index_writer_active(index->path)) {
		e_debug(index->backend->event, "Index %s looks damaged (%s) "
			"while a writer holds it: not using it for this "
			"search", index->path, reason);
		return;
	}
	(void)sift_index_move_aside(index, reason);
}

/* Does the index directory hold Xapian tables (*.glass)?  With its
   version file gone that is a damaged database.  Without any table it is
   one that was never created: a writer killed between making the
   directory (and perhaps side files) and creating the database, or one
   creating it now; the next writer creates it, nothing is damaged. */
static bool sift_index_dir_has_tables(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	bool found = FALSE;

	if (dir == NULL)
		return FALSE;
	while (!found && (d = readdir(dir)) != NULL) {
		size_t len = strlen(d->d_name);

		if (len > 6 && strcmp(d->d_name + len - 6, ".glass") == 0)
			found = TRUE;
	}
	(void)closedir(dir);
	return found;
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

/* *value_r = metadata key (NULL if unset; free()d by the caller).
   Returns 0, or -1 (logged), with *corrupt_r set if the database is. */
static int sift_index_meta(struct sift_index *index, const char *key,
			   char **value_r, bool *corrupt_r)
{
	struct sift_xerror err;

	if (sift_xdb_get_metadata(index->db, key, value_r,
				  &err) != SIFT_X_OK) {
		/* anything but running out of memory: the tables can't be
		   read */
		*corrupt_r = err.status != SIFT_X_NOMEM;
		if (*corrupt_r)
			sift_index_set_damage(index, err.msg);
		else
			sift_index_error(index, "Reading metadata of", &err);
		return -1;
	}
	return 0;
}

/* What decides the terms of a text: the ICU and Unicode versions,
   whether accents are folded, and whether attachments are decoded (an
   index built without a decoder lacks their text, one built with it
   holds text that no longer counts).  Stored in SIFT_META_TEXT; an index
   made with another one is rebuilt. */
static const char *sift_index_text_id(struct sift_fts_backend *backend)
{
	return sift_text_engine_id(backend->set->fold_accents,
				   backend->set->decoded_attachments);
}

/* "1-5,7" -> ranges.  Returns 0, or -1 if the text is not such a list. */
static int sift_parse_uid_ranges(const char *text,
				 ARRAY_TYPE(seq_range) *ranges)
{
	const char *const *items = t_strsplit(text, ",");
	uint32_t uid1, uid2;

	for (; *items != NULL; items++) {
		const char *dash = strchr(*items, '-');

		if (dash == NULL) {
			if (str_to_uint32(*items, &uid1) < 0 || uid1 == 0)
				return -1;
			uid2 = uid1;
		} else if (str_to_uint32(t_strdup_until(*items, dash),
					 &uid1) < 0 ||
			   str_to_uint32(dash + 1, &uid2) < 0 ||
			   uid1 == 0 || uid2 < uid1) {
			return -1;
		}
		seq_range_array_add_range(ranges, uid1, uid2);
	}
	return 0;
}

static const char *sift_uid_ranges_str(const ARRAY_TYPE(seq_range) *ranges)
{
	string_t *str = t_str_new(128);
	const struct seq_range *range;

	array_foreach(ranges, range) {
		if (str_len(str) > 0)
			str_append_c(str, ',');
		str_printfa(str, "%u", range->seq1);
		if (range->seq2 != range->seq1)
			str_printfa(str, "-%u", range->seq2);
	}
	return str_c(str);
}

/* ---- the expunge queue --------------------------------------------------

   A process that syncs an expunge (an imap session, often) must not wait
   for the write lock, which an indexing run may hold for a long time.  So
   an update that only records expunges appends them to the file
   SIFT_EXPUNGE_QUEUE_FILE instead - one line "<uid ranges> <checksum>"
   under a short flock(), never the database's lock - and every writer
   takes the queue over when it opens the index and at each commit
   (flock, read), recording the UIDs in sift.expunged with its next
   commit, and only after that commit cuts the lines it read (if no line
   came meanwhile; else the next commit reads the whole queue again): a
   writer killed or failing before its commit leaves the queue for the
   next one, so a line is never lost between the queue and the
   database.  Searches read the queue too.  A lost line costs nothing
   but tidiness: a document of an expunged message never shows up in a
   result (Dovecot drops UIDs that no longer exist) and "doveadm fts
   rescan" records it. */
#define SIFT_EXPUNGE_QUEUE_FILE "expunges"

static const char *sift_queue_line(const ARRAY_TYPE(seq_range) *uids)
{
	const char *ranges = sift_uid_ranges_str(uids);

	return t_strdup_printf("%s %08x\n", ranges,
			       sift_record_sum(0, ranges, strlen(ranges)));
}

/* Add the UIDs of the queue's good lines to uids; *bad_r counts the
   others (a torn last line while a line is being written is not bad). */
static void sift_queue_parse(const char *data, size_t size,
			     ARRAY_TYPE(seq_range) *uids, unsigned int *bad_r)
{
	const char *pos = data, *end = data + size, *le, *sp;
	unsigned int sum;

	*bad_r = 0;
	for (; pos < end; pos = le + 1) {
		le = memchr(pos, '\n', end - pos);
		if (le == NULL)
			break;
		T_BEGIN {
			const char *line = t_strdup_until(pos, le);

			sp = strrchr(line, ' ');
			if (sp == NULL || strlen(sp + 1) != 8 ||
			    sscanf(sp + 1, "%8x", &sum) != 1 ||
			    sift_record_sum(0, line, sp - line) != sum ||
			    sift_parse_uid_ranges(t_strdup_until(line, sp),
						  uids) < 0)
				(*bad_r)++;
		} T_END;
	}
}

static void sift_index_read_expunge_queue(struct sift_index *index)
{
	const char *path = t_strconcat(index->path,
				       "/"SIFT_EXPUNGE_QUEUE_FILE, NULL);
	unsigned int bad;
	buffer_t *buf;
	ssize_t ret;
	int fd;

	/* read(), not mmap(): a writer truncates the file when it takes
	   the queue over, which would fault a mapping being read */
	fd = open(path, O_RDONLY);
	if (fd == -1)
		return;
	buf = t_buffer_create(4096);
	do {
		ret = read(fd, buffer_append_space_unsafe(buf, 4096), 4096);
		buffer_set_used_size(buf, buf->used - 4096 +
				     (ret > 0 ? (size_t)ret : 0));
	} while (ret > 0 && buf->used < 16 * 1024 * 1024);
	if (ret < 0)
		e_debug(index->backend->event, "read(%s) failed: %m", path);
	i_close_fd(&fd);
	if (buf->used > 0)
		sift_queue_parse(buf->data, buf->used, &index->expunged, &bad);
}

/* Open the expunge queue of index and lock it (flock: the queue's own
   lock, apart from the database's).  Returns the fd with *st_r filled,
   or -1 if there is no queue (or it can't be used: logged). */
static int sift_index_queue_open_locked(struct sift_index *index,
					const char *path, struct stat *st_r)
{
	int fd;

	fd = open(path, O_RDWR);
	if (fd == -1) {
		if (errno != ENOENT) {
			e_warning(index->backend->event, "open(%s) failed: %m",
				  path);
		}
		return -1;
	}
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, st_r) < 0) {
		e_warning(index->backend->event, "flock/fstat(%s) failed: %m",
			  path);
		i_close_fd(&fd);
		return -1;
	}
	return fd;
}

/* Writer: take the queued expunges over. */
static void sift_index_take_expunge_queue(struct sift_index *index)
{
	const char *path = t_strconcat(index->path,
				       "/"SIFT_EXPUNGE_QUEUE_FILE, NULL);
	ARRAY_TYPE(seq_range) uids;
	struct stat st;
	buffer_t *buf;
	unsigned int bad = 0;
	ssize_t ret;
	int fd;

	fd = sift_index_queue_open_locked(index, path, &st);
	if (fd == -1)
		return;
	if (st.st_size == 0) {
		i_close_fd(&fd);
		return;
	}
	buf = t_buffer_create(st.st_size);
	ret = pread(fd, buffer_append_space_unsafe(buf, st.st_size),
		    st.st_size, 0);
	if (ret != st.st_size) {
		e_warning(index->backend->event, "Reading %s failed: %m",
			  path);
		i_close_fd(&fd);
		return;
	}
	i_close_fd(&fd);
	/* cut after the commit that records them, even if no line is
	   good (then only the cut is committed) */
	index->queue_taken = st.st_size;
	index->batch_dirty = TRUE;
	/* not t_array_init(): sift_queue_parse() grows it inside its own
	   data stack frames (a panic once the queue holds enough lines) */
	i_array_init(&uids, 16);
	sift_queue_parse(buf->data, buf->used, &uids, &bad);
	if (bad > 0) {
		e_warning(index->backend->event, "%s: %u damaged lines "
			  "ignored (doveadm fts rescan records what they "
			  "held)", path, bad);
	}
	if (array_count(&uids) > 0) {
		seq_range_array_merge(&index->expunged, &uids);
		index->expunged_dirty = TRUE;
		index->batch_dirty = TRUE;
	}
	array_free(&uids);
}

/* Writer, after a commit: cut the queue's lines taken over before it,
   now recorded in the database.  Lines appended since then stay, and
   with them the old ones (the file is never rewritten, so a process
   killed here loses nothing); the next commit takes the whole queue
   again and cuts it when it is quiet. */
static void sift_index_trim_expunge_queue(struct sift_index *index)
{
	const char *path = t_strconcat(index->path,
				       "/"SIFT_EXPUNGE_QUEUE_FILE, NULL);
	struct stat st;
	uoff_t taken = index->queue_taken;
	int fd;

	if (taken == 0)
		return;
	index->queue_taken = 0;
	fd = sift_index_queue_open_locked(index, path, &st);
	if (fd == -1)
		return;
	if ((uoff_t)st.st_size == taken && ftruncate(fd, 0) < 0) {
		e_warning(index->backend->event, "ftruncate(%s) failed: %m",
			  path);
	}
	i_close_fd(&fd);
}

int sift_index_queue_expunges(struct sift_fts_backend *backend,
			      struct mailbox *box,
			      const ARRAY_TYPE(seq_range) *uids)
{
	const char *dir, *path, *line;
	struct sift_umask saved;
	int fd, ret = 0;

	if (array_count(uids) == 0 || sift_index_path(box, &dir) <= 0)
		return 0;
	if (access(t_strconcat(dir, "/iamglass", NULL), F_OK) < 0) {
		/* no index: nothing to record */
		return 0;
	}
	path = t_strconcat(dir, "/"SIFT_EXPUNGE_QUEUE_FILE, NULL);
	line = sift_queue_line(uids);
	sift_umask_push(sift_box_create_umask(box), &saved);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT,
		  mailbox_get_permissions(box)->file_create_mode);
	sift_umask_pop(&saved);
	if (fd == -1) {
		e_error(backend->event, "open(%s) failed: %m", path);
		return -1;
	}
	/* the writer truncates the file under the same lock after reading
	   it, so a line is never half read and then cut */
	if (flock(fd, LOCK_EX) < 0 ||
	    write_full(fd, line, strlen(line)) < 0) {
		e_error(backend->event, "Appending to %s failed: %m", path);
		ret = -1;
	}
	i_close_fd(&fd);
	return ret;
}

/* Read and check the stored format, text engine and last_uid.  Returns 1
   if usable, 0 if the index must be rebuilt (another format or text
   engine, corrupt), -1 on error (logged). */
static int sift_index_read_meta(struct sift_index *index)
{
	const char *problem = NULL;
	char *format, *text = NULL, *last_uid = NULL, *expunged = NULL;
	char *files = NULL;
	char *headers = NULL;
	const char *want_headers = sift_hdrfilter_id(index->backend->hdrfilter);
	bool corrupt = FALSE;
	int ret = 1;

	if (sift_index_meta(index, SIFT_META_FORMAT, &format, &corrupt) < 0)
		return corrupt ? 0 : -1;
	index->stored_last_uid = 0;
	i_zero(&index->files);
	if (format == NULL) {
		/* new (or never committed) database */
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
	} else if (last_uid != NULL &&
		   str_to_uint32(last_uid, &index->stored_last_uid) < 0) {
		problem = t_strdup_printf("has an invalid last_uid '%s'",
					  last_uid);
	} else if (expunged != NULL &&
		   sift_parse_uid_ranges(expunged, &index->expunged) < 0) {
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
	index->batch_last_uid = index->stored_last_uid;
	return ret;
}

static int
sift_index_open_writer_locked_umask(struct sift_fts_backend *backend,
				    struct mailbox *box, bool nowait,
				    struct sift_index **index_r);

int sift_index_open_writer(struct sift_fts_backend *backend,
			   struct mailbox *box, struct sift_index **index_r)
{
	struct sift_umask saved;
	int ret;

	sift_umask_push(sift_box_create_umask(box), &saved);
	ret = sift_index_open_writer_locked_umask(backend, box, FALSE,
						  index_r);
	sift_umask_pop(&saved);
	return ret < 0 ? -1 : 0;
}

int sift_index_try_open_writer(struct sift_fts_backend *backend,
			       struct mailbox *box,
			       struct sift_index **index_r)
{
	struct sift_umask saved;
	int ret;

	sift_umask_push(sift_box_create_umask(box), &saved);
	ret = sift_index_open_writer_locked_umask(backend, box, TRUE,
						  index_r);
	sift_umask_pop(&saved);
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

	ret = sift_dict_writer_open(index->path, &index->files, mode,
				    &index->dict, &error);
	if (ret > 0) {
		ret = sift_gaps_writer_open(index->path, &index->files.gaps,
					    mode, &index->gaps, &error);
	}
	if (ret == 0)
		sift_index_set_damage(index, error);
	else if (ret < 0)
		e_error(index->backend->event, "%s", error);
	return ret;
}

/* Checked before every writer open (two faccessat() calls; negligible
   next to opening the database).  Xapian reports a lock file it can't
   create or open like a lock held by another process, and a directory
   that is read-only while its lock file is writable only fails at the
   first commit (after the batch was built) - or an expunge could not be
   queued.  Say so at once instead: the directory and the lock file must
   be writable by this process.  Returns 0, or -1 with the path and cause
   logged. */
static int sift_index_check_writable(struct sift_index *index)
{
	const char *lock_path = t_strconcat(index->path, "/flintlock", NULL);

	/* effective ids: an indexer-worker keeps root as its real uid */
	if (faccessat(AT_FDCWD, index->path, W_OK | X_OK, AT_EACCESS) < 0) {
		index->backend->index_no_room = TRUE;
		e_error(index->backend->event, "Index %s (mailbox %s) can't "
			"be written: faccessat(%s) failed: %m", index->path,
			mailbox_get_vname(index->box), index->path);
		return -1;
	}
	if (faccessat(AT_FDCWD, lock_path, W_OK, AT_EACCESS) < 0 &&
	    errno != ENOENT) {
		index->backend->index_no_room = TRUE;
		e_error(index->backend->event, "Index %s (mailbox %s) can't "
			"be written: faccessat(%s) failed: %m", index->path,
			mailbox_get_vname(index->box), lock_path);
		return -1;
	}
	return 0;
}

/* The database's version file is gone while the rest of it is there:
   Xapian would take that for "no database" and create a new one in
   the middle of the old tables. */
static bool sift_index_version_missing(const char *path)
{
	return access(t_strconcat(path, "/iamglass", NULL), F_OK) < 0 &&
		errno == ENOENT && sift_index_dir_has_tables(path);
}

/* Forget what was read of a database about to be moved aside. */
static void sift_index_reset(struct sift_index *index)
{
	sift_dict_writer_close(&index->dict);
	sift_gaps_writer_close(&index->gaps);
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
	struct sift_xerror err;
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
		if (!sift_index_version_missing(path))
			status = sift_xdb_open(path, flags, &index->db, &err);
		else if (!sift_index_writer_active(path)) {
			damage = "its version file iamglass is missing";
			goto unusable;
		} else {
			/* another writer is creating the database (its files
			   appear before its first commit writes iamglass):
			   wait for it as for any writer, never take its
			   half-made files for damage */
			status = SIFT_X_LOCKED;
			err.status = SIFT_X_LOCKED;
			i_strocpy(err.msg, "already locked by the process "
				  "creating it", sizeof(err.msg));
		}
		if (status == SIFT_X_LOCKED &&
		    strstr(err.msg, "already locked") == NULL) {
			/* not another writer: the lock can't be taken */
			e_error(backend->event, "Index %s (mailbox %s) can't "
				"be locked for writing: %s", path,
				mailbox_get_vname(index->box), err.msg);
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
				backend->set->lock_timeout_secs, err.msg);
			return -1;
		}
		if (status == SIFT_X_NOMEM) {
			sift_index_error(index, "Opening", &err);
			return -1;
		}
		if (status != SIFT_X_OK) {
			/* any other failure to open an index that exists
			   is damage (a table missing or cut short, a
			   version file of garbage, ...) */
			damage = err.msg;
			goto unusable;
		}
		ret = sift_index_read_meta(index);
		if (ret > 0)
			ret = sift_index_open_side_files(index);
		if (ret > 0) {
			sift_index_take_expunge_queue(index);
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
	/* what only building documents needs */
	i_array_init(&index->token_spans, 256);
	i_array_init(&index->gap_keys, 256);
	index->doc_terms = sift_termset_new();
	index->token_prefix = str_new(default_pool, 64);
	index->run_prefix = str_new(default_pool, 64);
	index->field_buf = buffer_create_dynamic(default_pool, 4096);
	index->term = str_new(default_pool, 256);
	index->opaque = str_new(default_pool, 1024);
	index->decoded = str_new(default_pool, 256);
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
	struct sift_xerror err;
	const char *path;
	enum sift_xstatus status;
	int ret;

	*index_r = NULL;
	ret = sift_index_path(box, &path);
	if (ret <= 0)
		return ret;
	index = sift_index_alloc(backend, box, path, FALSE);
	status = sift_xdb_open(path, 0, &index->db, &err);
	if (status == SIFT_X_NOT_FOUND) {
		if (sift_index_version_missing(path)) {
			sift_index_report_damage(index, "its version file "
						 "iamglass is missing");
		}
		sift_index_close(&index);
		return 0;
	}
	if (status == SIFT_X_NOMEM) {
		sift_index_error(index, "Opening", &err);
		sift_index_close(&index);
		return -1;
	}
	if (status != SIFT_X_OK) {
		/* A damaged index is as good as none: moved aside, the
		   mailbox is reindexed before searches use it again
		   (Dovecot asks the indexer, as for a new mailbox). */
		sift_index_report_damage(index, err.msg);
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
	sift_index_read_expunge_queue(index);
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
	sift_xdoc_free(&index->doc);
	sift_umask_push(index->create_umask, &saved);
	sift_dict_writer_close(&index->dict);
	sift_gaps_writer_close(&index->gaps);
	sift_buf_free(&index->new_terms);
	sift_xdb_close(&index->db);
	sift_umask_pop(&saved);
	event_unref(&index->event);
	if (index->token_prefix != NULL)
		str_free(&index->token_prefix);
	if (index->run_prefix != NULL)
		str_free(&index->run_prefix);
	if (index->field_buf != NULL)
		buffer_free(&index->field_buf);
	if (index->term != NULL)
		str_free(&index->term);
	if (index->opaque != NULL)
		str_free(&index->opaque);
	if (index->decoded != NULL)
		str_free(&index->decoded);
	array_free(&index->expunged);
	array_free(&index->token_spans);
	array_free(&index->gap_keys);
	sift_termset_free(&index->doc_terms);
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

/* ---- building documents ---------------------------------------------- */

/* Count one occurrence of prefix+word in the document being built (wdf 1)
   or only make it present (wdf 0); see "Within-document frequencies"
   above.  The document gets its terms at sift_index_doc_flush_terms(). */
static void sift_index_put_term(struct sift_index *index, const char *prefix,
				size_t prefix_len, const char *word,
				size_t word_len, unsigned int wdf)
{
	str_truncate(index->term, 0);
	str_append_data(index->term, prefix, prefix_len);
	str_append_data(index->term, word, word_len);
	(void)sift_termset_add(index->doc_terms, str_data(index->term),
			       str_len(index->term), wdf);
	if (index->backend->set->fold_accents &&
	    (memchr(word, 0xcc, word_len) != NULL ||
	     memchr(word, 0xcd, word_len) != NULL)) {
		/* also without its accents (fts_sift_fold_accents), with
		   the same wdf so that a folded search scores like the
		   accented one; in place: the folded form is never
		   longer */
		char *w = str_c_modifiable(index->term) + prefix_len;
		size_t len = sift_text_fold_accents(w, word_len, w);

		if (len < word_len && len > 0) {
			str_truncate(index->term, prefix_len + len);
			(void)sift_termset_add(index->doc_terms,
					       str_data(index->term),
					       str_len(index->term), wdf);
		}
	}
}

/* Hand the document's distinct terms to Xapian, each once with its wdf. */
static int sift_index_doc_flush_terms(struct sift_index *index)
{
	struct sift_xerror err;
	unsigned int i, count = sift_termset_count(index->doc_terms);
	const void *data;
	size_t len;
	unsigned int wdf;

	for (i = 0; i < count; i++) {
		sift_termset_get(index->doc_terms, i, &data, &len, &wdf);
		if (sift_xdoc_add_term_wdf(index->doc, data, len, wdf,
					   &err) != SIFT_X_OK) {
			sift_index_error(index, "Adding a term to", &err);
			return -1;
		}
	}
	return 0;
}

/* The document's values: the map of its body's ASCII characters and
   the text of its decoded attachments, if it has any (no value reads as
   none). */
static int sift_index_doc_set_values(struct sift_index *index)
{
	static const unsigned char none[SIFT_BODY_ASCII_BYTES];
	struct sift_xerror err;

	if (memcmp(index->doc_ascii, none, sizeof(none)) != 0 &&
	    sift_xdoc_set_value(index->doc, SIFT_VALUE_BODY_ASCII,
				index->doc_ascii, sizeof(index->doc_ascii),
				&err) != SIFT_X_OK) {
		sift_index_error(index, "Adding a value to", &err);
		return -1;
	}
	if (str_len(index->decoded) > 0 &&
	    sift_xdoc_set_value(index->doc, SIFT_VALUE_DECODED,
				str_data(index->decoded),
				str_len(index->decoded), &err) != SIFT_X_OK) {
		sift_index_error(index, "Adding a value to", &err);
		return -1;
	}
	return 0;
}

/* A word or run longer than a term can be is stored as overlapping
   windows that start every SIFT_WINDOW_SAFE_NEEDLE bytes (on character
   boundaries), so that every substring of up to that many bytes lies
   whole inside one of them; the ZL flag tells searches for longer strings
   to let Dovecot check the message.  The windows have wdf 0: they are
   pieces of one rare word, not words of the text. */
static int sift_index_add_term(struct sift_index *index, const char *prefix,
			       size_t prefix_len, const char *word,
			       size_t word_len, unsigned int wdf)
{
	size_t max = SIFT_XAPIAN_MAX_TERM - prefix_len;
	size_t start, next, len;

	if (word_len <= max) {
		sift_index_put_term(index, prefix, prefix_len, word, word_len,
				    wdf);
		return 0;
	}
	index->doc_truncated = TRUE;
	if (max < 2 * SIFT_WINDOW_SAFE_NEEDLE + 3) {
		/* (no prefix is this long) just cut, and trust no header
		   search of this message */
		index->doc_untrusted |= SIFT_UNTRUSTED_HEADERS;
		len = sift_text_utf8_truncate(word, word_len, max);
		sift_index_put_term(index, prefix, prefix_len, word, len, 0);
		return 0;
	}
	for (start = 0;; start = next) {
		len = sift_text_utf8_truncate(word + start, word_len - start,
					      max);
		sift_index_put_term(index, prefix, prefix_len, word + start,
				    len, 0);
		if (start + len >= word_len)
			break;
		next = start + sift_text_utf8_truncate(word + start,
				word_len - start, SIFT_WINDOW_SAFE_NEEDLE);
		if (next == start)
			next = start + len;
	}
	return 0;
}

/* Long and with a digit: a signature, timestamp or id fragment
   (1FE3A2B9C7D4, 0.2021.06.10.04.46.28, 20190410.12345@host) rather than
   a word anyone searches for by itself; almost all of them occur in one
   message only. */
static bool sift_token_is_opaque(const char *tok, size_t len)
{
	if (len < SIFT_OPAQUE_MIN_LEN)
		return FALSE;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] >= '0' && tok[i] <= '9')
			return TRUE;
	}
	return FALSE;
}

static int sift_index_token(void *context, const char *tok, size_t len,
			    size_t byte_offset, unsigned int flags ATTR_UNUSED)
{
	struct sift_index *index = context;

	if (index->field_is_pooled && sift_token_is_opaque(tok, len)) {
		str_append_data(index->opaque, tok, len);
		str_append_c(index->opaque, '\n');
		return 0;
	}
	if (index->field_chunks) {
		struct sift_token_span *span =
			array_append_space(&index->token_spans);
		span->offset = byte_offset;
		span->len = len;
	}
	return sift_index_add_term(index, str_c(index->token_prefix),
				   str_len(index->token_prefix), tok, len, 1);
}

/* Address runs: maximal pieces of the normalized written address without
   spaces or address punctuation (see SIFT_ADDRESS_RUN_SEPARATORS). */
static int sift_index_address_runs(struct sift_index *index,
				   const char *text, size_t len)
{
	size_t i = 0, start;

	while (i < len) {
		while (i < len &&
		       strchr(SIFT_ADDRESS_RUN_SEPARATORS, text[i]) != NULL)
			i++;
		start = i;
		while (i < len &&
		       strchr(SIFT_ADDRESS_RUN_SEPARATORS, text[i]) == NULL)
			i++;
		if (i > start &&
		    sift_index_add_term(index, str_c(index->run_prefix),
					str_len(index->run_prefix),
					text + start, i - start, 1) < 0)
			return -1;
	}
	return 0;
}

/* Add text[start..end) as a run term, unless it is one word alone or
   with punctuation at its edges: its word term serves (see
   SIFT_PLAN_CHUNK).  *t: the first token span not before start. */
static int sift_index_run(struct sift_index *index, const char *text,
			  size_t start, size_t end,
			  const struct sift_token_span *spans, unsigned int n,
			  unsigned int *t)
{
	while (*t < n && spans[*t].offset < start)
		(*t)++;
	if (end == start)
		return 0;
	if (*t < n && spans[*t].offset + spans[*t].len <= end &&
	    (*t + 1 == n || spans[*t + 1].offset >= end))
		return 0;
	return sift_index_add_term(index, str_c(index->token_prefix),
				   str_len(index->token_prefix),
				   text + start, end - start, 0);
}

/* Runs: maximal pieces of text without whitespace
   (sift_is_chunk_separator()).  A run of two or more words, or of no word
   at all, becomes a term too - "signed-off-by:", "foo->bar", "->", an
   unspaced Japanese sentence - so that a search string without
   whitespace, which can only occur inside one run, is found by the terms
   containing it (see SIFT_PLAN_CHUNK for when that is exact).  A single
   word with punctuation at its edges ("kselftest.") is left out: half of
   all runs, and its word is a term already.

   HTML source (field_html) is split at '<' and '>' as well: its runs are
   mostly markup that occurs once ('color="#008000">Easy',
   'here</font></a>.'), and as whole runs they were a quarter of the
   distinct body terms of a spam corpus.  A search string holding '<' or
   '>' may then span two of these pieces; sift-query.c makes the
   documents flagged ZH that have its words candidates for it.  Strings
   without them lie inside one piece and are answered as before. */
static int sift_index_chunks(struct sift_index *index, const char *text,
			     size_t len)
{
	const struct sift_token_span *spans;
	unsigned int t = 0, n;
	size_t pos = 0, start, i, j;

	spans = array_get(&index->token_spans, &n);
	while (sift_next_run(text, len, &pos, &start, &i)) {
		if (!index->field_html) {
			if (sift_index_run(index, text, start, i, spans, n,
					   &t) < 0)
				return -1;
			continue;
		}
		for (j = start; j < i; j++) {
			if (text[j] != '<' && text[j] != '>')
				continue;
			if (sift_index_run(index, text, start, j, spans, n,
					   &t) < 0)
				return -1;
			start = j + 1;
		}
		if (sift_index_run(index, text, start, i, spans, n, &t) < 0)
			return -1;
	}
	return 0;
}

/* Note each distinct character of body text: an ASCII one in the
   document's bitmap (stored as a value at the end), another as a C term
   (see the top). */
static void sift_index_chars(struct sift_index *index, const char *text,
			     size_t len)
{
	static const char prefix[] = SIFT_PREFIX_BODY_CHAR;
	size_t i, n;

	for (i = 0; i < len; i += n) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x80) {
			n = 1;
			index->doc_ascii[c / 8] |= 1U << (c % 8);
			continue;
		}
		/* normalized text is valid UTF-8 */
		n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (n > len - i)
			n = len - i;
		/* wdf 0: characters are not words (see above) */
		sift_index_put_term(index, prefix, sizeof(prefix) - 1,
				    text + i, n, 0);
	}
}

/* Normalize and tokenize size bytes of field text into terms. */
static int sift_index_text(struct sift_index *index,
			   const unsigned char *data, size_t size)
{
	char err[256];
	const char *norm;
	size_t norm_len;
	int ret;

	if (sift_text_normalize(index->backend->text, (const char *)data,
				size, &norm, &norm_len, err, sizeof(err)) < 0) {
		e_error(index->backend->event, "Normalizing text for %s "
			"uid %u failed: %s", mailbox_get_vname(index->box),
			index->doc_uid, err);
		return -1;
	}
	if (index->field_is_address) {
		/* address headers are indexed as runs only */
		return sift_index_address_runs(index, norm, norm_len);
	}
	array_clear(&index->token_spans);
	ret = sift_text_tokenize(index->backend->text, norm, norm_len,
				 sift_index_token, index, err, sizeof(err));
	if (ret == 0 && index->field_chunks &&
	    sift_index_chunks(index, norm, norm_len) < 0)
		return -1;
	if (ret == 0 && (index->field_kind == SIFT_FIELD_KIND_BODY ||
			 index->field_kind == SIFT_FIELD_KIND_HTML_BODY ||
			 index->field_kind == SIFT_FIELD_KIND_DECODED))
		sift_index_chars(index, norm, norm_len);
	if (ret == 0 && index->field_kind == SIFT_FIELD_KIND_DECODED) {
		size_t room = SIFT_DECODED_MAX_BYTES - str_len(index->decoded);

		/* (cut on a character boundary: the value is searched
		   with normalized UTF-8 strings) */
		str_append_data(index->decoded, norm, norm_len <= room ?
				norm_len :
				sift_text_utf8_truncate(norm, norm_len, room));
	}
	if (ret == 0 && index->field_chunks &&
	    index->field_kind != SIFT_FIELD_KIND_MIME_HEADER) {
		/* phrase filters serve BODY and Subject searches */
		sift_gaps_text_keys(&index->gap_state,
				    str_c(index->token_prefix), norm, norm_len,
				    &index->gap_keys);
	}
	if (ret < 0) {
		e_error(index->backend->event, "Segmenting text for %s "
			"uid %u failed: %s", mailbox_get_vname(index->box),
			index->doc_uid, err);
		return -1;
	}
	return ret == 0 ? 0 : -1;
}

int sift_index_doc_begin(struct sift_index *index, uint32_t uid)
{
	struct sift_xerror err;

	i_assert(index->writable);
	i_assert(index->doc == NULL);

	if (sift_xdoc_new(&index->doc, &err) != SIFT_X_OK) {
		sift_index_error(index, "Creating a document for", &err);
		return -1;
	}
	index->doc_uid = uid;
	str_truncate(index->opaque, 0);
	str_truncate(index->decoded, 0);
	array_clear(&index->gap_keys);
	sift_termset_clear(index->doc_terms);
	memset(index->doc_ascii, 0, sizeof(index->doc_ascii));
	index->doc_truncated = FALSE;
	index->doc_raw = FALSE;
	index->doc_html = FALSE;
	index->doc_untrusted = 0;
	return 0;
}

void sift_index_field_begin(struct sift_index *index,
			    enum sift_field_kind kind, const char *hdr_name)
{
	i_assert(index->doc != NULL);
	i_assert(!index->field_open);

	index->field_open = TRUE;
	index->field_kind = kind;
	index->field_is_address = FALSE;
	index->field_is_pooled = FALSE;
	index->field_chunks = FALSE;
	index->field_html = FALSE;
	index->field_error = 0;
	i_zero(&index->gap_state);
	buffer_set_used_size(index->field_buf, 0);
	str_truncate(index->token_prefix, 0);

	switch (kind) {
	case SIFT_FIELD_KIND_HTML_BODY:
		index->field_html = TRUE;
		index->doc_html = TRUE;
		/* fall through */
	case SIFT_FIELD_KIND_DECODED:
		/* decoded: body text in every way (terms, characters,
		   phrase filters; not split at '<' '>' like HTML source),
		   and kept as text for phrases: a search can't leave this
		   part to Dovecot, which can't read it */
		if (kind == SIFT_FIELD_KIND_DECODED &&
		    str_len(index->decoded) > 0 &&
		    str_len(index->decoded) < SIFT_DECODED_MAX_BYTES)
			str_append_c(index->decoded, '\0');
		/* fall through */
	case SIFT_FIELD_KIND_BODY:
		str_append(index->token_prefix, SIFT_PREFIX_BODY);
		index->field_chunks = TRUE;
		break;
	case SIFT_FIELD_KIND_RAW_BODY:
		index->doc_raw = TRUE;
		break;
	case SIFT_FIELD_KIND_MIME_HEADER:
		str_append(index->token_prefix, SIFT_PREFIX_MIME);
		index->field_chunks = TRUE;
		/* TEXT searches MIME header names too */
		if (hdr_name != NULL && sift_index_text(index,
				(const unsigned char *)hdr_name,
				strlen(hdr_name)) < 0)
			index->field_error = -1;
		break;
	case SIFT_FIELD_KIND_HEADER: {
		size_t name_len = hdr_name == NULL ? 0 : strlen(hdr_name);
		const char *norm;
		size_t norm_len;
		char err[256];

		if (name_len > 0 && sift_text_normalize(index->backend->text,
				hdr_name, name_len, &norm, &norm_len,
				err, sizeof(err)) == 0) {
			if (sift_index_add_term(index, SIFT_PREFIX_HDR_NAME,
						1, norm, norm_len, 0) < 0)
				index->field_error = -1;
		}
		switch (sift_header_class(hdr_name)) {
		case SIFT_HEADER_ADDRESS:
			/* runs only (sift-terms.h) */
			index->field_is_address = TRUE;
			str_truncate(index->run_prefix, 0);
			str_append(index->run_prefix,
				   sift_header_prefix(hdr_name));
			break;
		case SIFT_HEADER_KEYED:
			str_append(index->token_prefix,
				   sift_header_prefix(hdr_name));
			index->field_chunks = TRUE;
			break;
		case SIFT_HEADER_POOLED:
			str_append(index->token_prefix, SIFT_PREFIX_HDR_POOL);
			index->field_is_pooled = TRUE;
			break;
		}
		break;
	}
	}
}

static size_t last_space_pos(const unsigned char *data, size_t size)
{
	while (size > 0) {
		unsigned char c = data[size - 1];
		if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			return size;
		size--;
	}
	return 0;
}

void sift_index_mark_untrusted(struct sift_index *index,
			       enum sift_untrusted what)
{
	i_assert(index->doc != NULL);
	index->doc_untrusted |= what;
}

int sift_index_field_data(struct sift_index *index,
			  const unsigned char *data, size_t size)
{
	i_assert(index->field_open);

	if (index->field_error < 0)
		return -1;
	if (index->field_kind == SIFT_FIELD_KIND_RAW_BODY)
		return 0;
	index->batch_bytes += size;
	buffer_append(index->field_buf, data, size);
	if (index->field_buf->used >= SIFT_FIELD_FLUSH_SIZE) {
		size_t cut = last_space_pos(index->field_buf->data,
					    index->field_buf->used);
		/* no whitespace at all in 256 KB: Dovecot hands us whole
		   UTF-8 characters, so cutting at the end is safe (a word
		   this long is cut anyway) */
		if (cut == 0)
			cut = index->field_buf->used;
		if (sift_index_text(index, index->field_buf->data, cut) < 0) {
			index->field_error = -1;
			return -1;
		}
		buffer_delete(index->field_buf, 0, cut);
	}
	return 0;
}

int sift_index_field_end(struct sift_index *index)
{
	int ret = index->field_error;

	i_assert(index->field_open);
	index->field_open = FALSE;
	if (ret == 0 && index->field_buf->used > 0 &&
	    index->field_kind != SIFT_FIELD_KIND_RAW_BODY)
		ret = sift_index_text(index, index->field_buf->data,
				      index->field_buf->used);
	buffer_set_used_size(index->field_buf, 0);
	return ret;
}

/* Record the document's new terms and opaque tokens in the side files,
   before the commit that stores the document. */
static int sift_index_doc_side_files(struct sift_index *index)
{
	struct sift_xerror err;
	const char *error;
	const uint64_t *keys;
	unsigned int key_count;

	if (sift_dict_writer_terms_complete(index->dict)) {
		if (index->docs_added >= SIFT_DICT_APPEND_MAX_DOCS) {
			/* a bulk run: checking each term costs more than
			   rewriting the file at the end */
			sift_dict_writer_set_incomplete(index->dict);
		} else {
			index->new_terms.len = 0;
			if (sift_xdb_new_terms(index->db, index->doc,
					       &index->new_terms,
					       &err) != SIFT_X_OK) {
				sift_index_error(index, "Listing new terms of",
						 &err);
				return -1;
			}
			if (sift_dict_writer_add_terms(index->dict,
					index->new_terms.data,
					index->new_terms.len, &error) < 0) {
				sift_index_write_error(index, error);
				return -1;
			}
		}
	}
	if (sift_dict_writer_add_opaque(index->dict, index->doc_uid,
					str_c(index->opaque),
					str_len(index->opaque), &error) < 0) {
		sift_index_write_error(index, error);
		return -1;
	}
	keys = array_get(&index->gap_keys, &key_count);
	if (sift_gaps_writer_add(index->gaps, index->doc_uid, keys, key_count,
				 &error) < 0) {
		sift_index_write_error(index, error);
		return -1;
	}
	return 0;
}

/* The flag terms that say where searches must not trust this document. */
static int sift_index_add_doc_flags(struct sift_index *index)
{
	const struct {
		bool set;
		const char *term;
	} flags[] = {
		{ index->doc_raw, SIFT_FLAG_RAW_BODY },
		{ index->doc_truncated, SIFT_FLAG_TRUNCATED },
		{ index->doc_html, SIFT_FLAG_HTML },
		{ (index->doc_untrusted & SIFT_UNTRUSTED_BODY) != 0,
		  SIFT_FLAG_UNTRUSTED_BODY },
		{ (index->doc_untrusted & SIFT_UNTRUSTED_HEADERS) != 0,
		  SIFT_FLAG_UNTRUSTED_HEADERS },
		{ (index->doc_untrusted & SIFT_UNTRUSTED_TEXT) != 0,
		  SIFT_FLAG_UNTRUSTED_TEXT },
	};

	for (unsigned int i = 0; i < N_ELEMENTS(flags); i++) {
		if (flags[i].set &&
		    sift_index_add_term(index, flags[i].term,
					strlen(flags[i].term), "", 0, 0) < 0)
			return -1;
	}
	return 0;
}

static int sift_index_doc_end_umask(struct sift_index *index);
static int sift_index_commit_last_uid(struct sift_index *index,
				      uint32_t last_uid);

int sift_index_doc_end(struct sift_index *index)
{
	struct sift_umask saved;
	int ret;

	if (index->doc == NULL)
		return 0;
	sift_umask_push(index->create_umask, &saved);
	ret = sift_index_doc_end_umask(index);
	sift_umask_pop(&saved);
	return ret;
}

static int sift_index_doc_end_umask(struct sift_index *index)
{
	struct sift_xerror err;
	bool existed = FALSE;
	int ret = 0;

	if (index->field_open && sift_index_field_end(index) < 0)
		ret = -1;
	if (ret == 0 && sift_xdb_has_doc(index->db, index->doc_uid, &existed,
					 &err) != SIFT_X_OK) {
		sift_index_error(index, "Looking up a document in", &err);
		ret = -1;
	}
	/* A document that is already there (last_uid was lowered by a
	   rescan) is kept: a UID's message never changes. */
	if (ret == 0 && !existed) {
		if (sift_index_add_doc_flags(index) < 0 ||
		    sift_index_doc_flush_terms(index) < 0 ||
		    sift_index_doc_set_values(index) < 0 ||
		    sift_index_doc_side_files(index) < 0)
			ret = -1;
		else if (sift_xdb_add(index->db, index->doc_uid, index->doc,
				      NULL, &err) != SIFT_X_OK) {
			sift_index_error(index, "Storing a document in", &err);
			ret = -1;
		}
	}
	sift_xdoc_free(&index->doc);
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
	if (!existed)
		index->docs_added++;
	if (index->doc_uid > index->batch_last_uid)
		index->batch_last_uid = index->doc_uid;
	if (index->batch_docs >= index->backend->set->commit_batch ||
	    index->batch_bytes >= index->backend->set->commit_size) {
		if (sift_index_commit_last_uid(index, index->batch_last_uid) < 0 ||
		    sift_index_yield(index) < 0)
			return -1;
	}
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

static int sift_index_commit_last_uid(struct sift_index *index,
				      uint32_t last_uid)
{
	struct sift_xerror err;
	struct timeval start, end;
	struct event *event;
	const char *error;

	i_gettimeofday(&start);
	event = event_create(index->event);
	if (sift_dict_writer_sync(index->dict, index->backend->set->fsync,
				  &error) < 0 ||
	    sift_gaps_writer_sync(index->gaps, index->backend->set->fsync,
				  &error) < 0) {
		sift_index_write_error(index, error);
		event_unref(&event);
		return -1;
	}
	/* expunges queued meanwhile by processes that didn't wait for
	   the lock */
	sift_index_take_expunge_queue(index);
	sift_dict_writer_state(index->dict, &index->files);
	sift_gaps_writer_state(index->gaps, &index->files.gaps);
	if (sift_xdb_set_metadata(index->db, SIFT_META_FORMAT,
				  SIFT_FORMAT_VERSION, &err) != SIFT_X_OK ||
	    sift_xdb_set_metadata(index->db, SIFT_META_FILES,
				  sift_files_state_str(&index->files),
				  &err) != SIFT_X_OK ||
	    sift_xdb_set_metadata(index->db, SIFT_META_TEXT,
				  sift_index_text_id(index->backend),
				  &err) != SIFT_X_OK ||
	    sift_xdb_set_metadata(index->db, SIFT_META_HEADERS,
				  sift_hdrfilter_id(index->backend->hdrfilter),
				  &err) != SIFT_X_OK ||
	    sift_xdb_set_metadata(index->db, SIFT_META_LAST_UID,
				  dec2str(last_uid), &err) != SIFT_X_OK ||
	    (index->expunged_dirty &&
	     sift_xdb_set_metadata(index->db, SIFT_META_EXPUNGED,
				   sift_uid_ranges_str(&index->expunged),
				   &err) != SIFT_X_OK) ||
	    sift_xdb_commit(index->db, &err) != SIFT_X_OK) {
		sift_index_error(index, "Committing", &err);
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

/* ---- optimize ----------------------------------------------------------- */

/* The documents of the database that are not expunged. */
static int sift_index_live_uids(struct sift_index *index,
				struct sift_uids *uids_r)
{
	struct sift_xerror err;
	size_t i, j;

	if (sift_xdb_all_uids(index->db, uids_r, &err) != SIFT_X_OK) {
		sift_index_error(index, "Listing documents of", &err);
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
   - and commit their state in the copy's metadata. */
static int sift_index_copy_side_files(struct sift_index *index,
				      const char *dest_dir)
{
	struct sift_uids uids = { NULL, 0, 0 };
	struct sift_files_state st;
	struct sift_xdb *dest_db;
	struct sift_xerror err;
	const char *error;
	int ret = 0;

	if (sift_index_live_uids(index, &uids) < 0)
		return -1;
	if (sift_xdb_open(dest_dir, SIFT_XDB_WRITE |
			  (index->backend->set->fsync ? 0 : SIFT_XDB_NO_SYNC),
			  &dest_db, &err) != SIFT_X_OK) {
		sift_index_error(index, "Opening the new copy of", &err);
		sift_uids_free(&uids);
		return -1;
	}
	i_zero(&st);
	st.terms_complete = TRUE;
	if (sift_dict_write_terms(index->dict, dest_db, dest_dir, &st.terms,
				  &error) < 0 ||
	    sift_dict_write_opaque(index->dict, &uids, dest_dir, &st.opaque,
				   &error) < 0 ||
	    sift_gaps_write_copy(index->gaps, &uids, dest_dir, &st.gaps,
				 &error) < 0) {
		sift_index_write_error(index, error);
		ret = -1;
	} else if (sift_xdb_set_metadata(dest_db, SIFT_META_FILES,
					 sift_files_state_str(&st),
					 &err) != SIFT_X_OK ||
		   sift_xdb_commit(dest_db, &err) != SIFT_X_OK) {
		sift_index_error(index, "Committing the new copy of", &err);
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
static int sift_index_compact_locked(struct sift_index *index, bool rebuild)
{
	struct sift_fts_backend *backend = index->backend;
	struct sift_xerror err;
	const char *tmp_path, *rebuild_path, *src_path, *error;
	struct timeval start, end;
	struct event *event;
	unsigned int dropped = 0;
	int ret = 0;

	i_assert(index->writable);
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
				     SIFT_META_EXPUNGED, &err) != SIFT_X_OK) {
			sift_index_error(index, "Rebuilding", &err);
			ret = -1;
		}
		src_path = rebuild_path;
	}
	if (ret < 0)
		;
	else if (sift_xdb_compact(src_path, tmp_path, &err) != SIFT_X_OK) {
		sift_index_error(index, "Compacting", &err);
		ret = -1;
	} else if (sift_index_copy_side_files(index, tmp_path) < 0) {
		ret = -1;
	} else if (sift_swap_dirs(tmp_path, index->path, FALSE,
				  &error) < 0) {
		e_error(backend->event, "%s", error);
		ret = -1;
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
	i_gettimeofday(&end);
	if (ret == 0) {
		e_debug(event_create_passthrough(event)->
			set_name(SIFT_EVENT_COMPACT)->
			add_str("kind", dropped > 0 ? "rebuild" : "compact")->
			add_int("dropped", dropped)->event(),
			"%s %s (%u expunged documents dropped) in %lld ms",
			dropped > 0 ? "Rebuilt" : "Compacted", index->path,
			dropped, (long long)timeval_diff_msecs(&end, &start));
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
	struct sift_xerror err;

	if (compact_after == 0 || dead < compact_after)
		return FALSE;
	if (sift_xdb_stats(index->db, &docs, &last_docid, &err) != SIFT_X_OK) {
		sift_index_error(index, "Reading statistics of", &err);
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
	struct sift_xerror err;
	ARRAY_TYPE(seq_range) seqs, box_uids;
	unsigned int found = 0;

	if (index->box == NULL || !index->box->opened)
		return 0;
	mailbox_get_open_status(index->box, STATUS_MESSAGES |
				STATUS_UIDNEXT, &status);
	if (sift_xdb_all_uids(index->db, &docs, &err) != SIFT_X_OK) {
		/* not fatal: the run's documents are committed anyway */
		e_debug(index->backend->event, "Listing documents of %s "
			"failed: %s", index->path, err.msg);
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
	unsigned int compact_after = index->backend->set->compact_after;
	bool rebuild;
	struct sift_umask saved;
	int ret;

	if (index->writable && index->docs_added > 0)
		(void)sift_index_expunge_gone(index);
	ret = sift_index_commit(index, 0);
	sift_umask_push(index->create_umask, &saved);
	/* a large indexing run leaves B-tree blocks half full: compacting
	   roughly halves the index and takes about a second per 100k
	   messages */
	rebuild = ret == 0 && sift_index_wants_rebuild(index);
	if (ret == 0 && (rebuild || (compact_after > 0 &&
				     index->docs_added >= compact_after)))
		ret = sift_index_compact_locked(index, rebuild);
	else if (ret == 0 && !sift_dict_writer_terms_complete(index->dict)) {
		struct sift_file_state st;
		const char *error;

		/* the new file is used once a commit names it; until then
		   searches use Xapian's term list */
		if (sift_dict_write_terms(index->dict, index->db, index->path,
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
