/* sift-index: one mailbox's index - where it lives, opening it safely
   (locks, permissions, corruption), storing the documents
   sift-doc-builder.h builds, committing, compacting (sift-index.c,
   sift-index-compact.c).  The on-disk layout is described at the top of
   sift-index.c, the term scheme in sift-terms.h. */
#ifndef SIFT_INDEX_H
#define SIFT_INDEX_H

#include "seq-range-array.h"
#include "sift-xapian.h"
#include "sift-text.h"
#include "sift-terms.h"
#include "sift-doc-builder.h"

struct mailbox;
struct sift_fts_backend;
struct sift_index;

/* Metadata keys and the index format this code writes. */
#define SIFT_META_FORMAT "sift.format"
#define SIFT_META_LAST_UID "sift.last_uid"
/* sift_text_engine_id() of the process that built the index */
#define SIFT_META_TEXT "sift.text"
/* UIDs expunged since the last rebuild, as "1-5,7": their postings stay
   until sift_xdb_rebuild() (see sift-xapian.h) and results omit them */
#define SIFT_META_EXPUNGED "sift.expunged"
/* sift_hdrfilter_id() of the header selection the index was built with
   (fts_header_includes/excludes); unset = everything.  An index of
   another selection is rebuilt. */
#define SIFT_META_HEADERS "sift.headers"
/* the UIDVALIDITY of the mailbox the index was built for: a mailbox
   deleted and created again under the same name (whose index directory
   Dovecot may leave behind: mbox keeps it in .imap/<name>/, and
   INDEX= locations outside the mail) numbers its messages from 1 again,
   so an index of another UIDVALIDITY is rebuilt.  Unset in indexes
   written before it (they are taken as they are, and get it with their
   next commit). */
#define SIFT_META_UIDVALIDITY "sift.uidvalidity"
/* 3: word terms carry their within-document frequency (and documents a
   length), for relevance scores; a term per character of a body; gaps
   file 2.  4: a body's ASCII characters are a bitmap value instead of
   terms.  5: address headers in the form Dovecot's FROM/TO/CC/BCC
   search compares (sift-hdrread.c).  6: text/html parts hold their source
   as Dovecot's search reads it (sift-html.c) instead of nothing.  7:
   with a decoder, text decoded from attachments is body text (B terms)
   and kept in value slot SIFT_VALUE_DECODED, instead of only flagging
   the document ZR.  8: side files in checksummed records, their
   committed state in sift.files (sift-record.h).  Formats 5 to 8 were
   all made in one development series; only 4 and 8 were released, and
   an index of any other format is rebuilt.  9: the words of pooled
   headers without opaque tokens keyed by a hash of the header name
   (K<key>:, sift-terms.h).  10: fewer postings: the id and trace
   headers (Date, Message-ID, Received, ...) pooled without ZK flags
   (sift_header_is_trace()), and no body run of one character alone
   (doc_run() in sift-doc-builder.c); the opaque file's records hold a
   message's uid in binary and its tokens packed 3 characters in 2 bytes
   (sift-termfiles.c, "opaque records") instead of a line "<uid>
   <token>...".  11: a hashed header's instance with an opaque part
   keeps its other words and runs under its key, only the opaque part
   pooled (doc_hashed_tokens() in sift-doc-builder.c), and address
   headers keep each two runs with one space between them as a term
   (doc_address_runs(): display names). */
#define SIFT_FORMAT_VERSION "11"

/* What SIFT_META_TEXT says of an index built by this process with these
   settings (fts_sift_fold_accents; the fts plugin decoding attachments):
   the text engine's version and what changes the terms.  An index that
   says anything else is rebuilt.  Used by the plugin and by the doveadm
   module, so both agree. */
static inline const char *
sift_text_engine_id(bool fold_accents, bool decoded_attachments)
{
	return t_strconcat(sift_text_engine_version(),
			   fold_accents ? "; accents folded" : "",
			   decoded_attachments ? "; attachments decoded" : "",
			   NULL);
}

/* The term prefixes, value slots and flag terms: sift-terms.h. */
/* Up to this many documents per writer, new terms are appended to the
   terms file; beyond, the file is rewritten at the end
   (sift-termfiles.h). */
#define SIFT_TERMS_APPEND_MAX_DOCS 200

/* Directory of box's index (under the mailbox's INDEX path; the owner's
   for a shared mailbox). */
int sift_index_path(struct mailbox *box, const char **path_r);

/* Open for writing, creating it with the mailbox's permissions.  Waits up
   to lock_timeout for another writer.  A database that is corrupt or of an
   unknown format is moved aside and recreated (the caller then reindexes
   from last_uid 0).  Returns 0 or -1 (error already logged). */
int sift_index_open_writer(struct sift_fts_backend *backend,
			   struct mailbox *box, struct sift_index **index_r);
/* The same without waiting: returns 1 (opened), 0 if another process
   holds the write lock, -1 on error (logged). */
int sift_index_try_open_writer(struct sift_fts_backend *backend,
			       struct mailbox *box,
			       struct sift_index **index_r);
/* Open for reading.  Returns 1, 0 if no index exists, -1 on error
   (logged). */
int sift_index_open_reader(struct sift_fts_backend *backend,
			   struct mailbox *box, struct sift_index **index_r);
void sift_index_close(struct sift_index **index);
struct sift_xdb *sift_index_db(struct sift_index *index);
/* UIDs whose documents are still in the database although their messages
   were expunged: never part of a result. */
const ARRAY_TYPE(seq_range) *sift_index_get_expunged(struct sift_index *index);
const char *sift_index_get_path(struct sift_index *index);
/* The committed state of the side files (sift-record.h). */
const struct sift_files_state *sift_index_get_files(struct sift_index *index);
/* A reader found the index damaged (reason): unless a writer holds it,
   move it aside with one logged error, so that the mailbox is reindexed
   before searches use an index again. */
void sift_index_report_damage(struct sift_index *index, const char *reason);

/* Reader: is the index still the mailbox's, or was the mailbox taken
   back to an older state under it (sift-index-rewind.c)?  FALSE if not:
   then the index has been reported (moved aside) and must not be used. */
bool sift_index_check_rewind(struct sift_index *index);

/* Highest UID whose message and all before it are in the index.
   Returns 0 or -1 (logged). */
int sift_index_get_last_uid(struct sift_index *index, uint32_t *last_uid_r);

/* Writer: build one message's document (sift-doc-builder.h; these log
   its errors with the mailbox). */
int sift_index_doc_begin(struct sift_index *index, uint32_t uid);
void sift_index_field_begin(struct sift_index *index,
			    enum sift_field_kind kind, const char *hdr_name);
/* Part of the current document may not be what Dovecot's own search
   reads: searches of that part let Dovecot check the message. */
void sift_index_mark_untrusted(struct sift_index *index,
			       enum sift_untrusted what);
/* The current document's value in slot (SIFT_VALUE_DATES).  Returns 0
   or -1 (logged). */
int sift_index_doc_set_value(struct sift_index *index, unsigned int slot,
			     const void *data, size_t size);
int sift_index_field_data(struct sift_index *index,
			  const unsigned char *data, size_t size);
int sift_index_field_end(struct sift_index *index);
/* Store the current document (if any).  Commits when the batch limits
   are reached.  Returns 0 or -1 (logged). */
int sift_index_doc_end(struct sift_index *index);
/* Record that uid's message is gone (its postings stay until the next
   rebuild; the commit records it), or (unexpunge) that it is not after
   all.  Neither can fail. */
void sift_index_expunge(struct sift_index *index, uint32_t uid);
void sift_index_unexpunge(struct sift_index *index, uint32_t uid);
/* Record that uids' messages are gone without taking the write lock:
   they are queued for the next writer (sift-expunge-queue.h).  For
   processes that only sync expunges.  Returns 0, or -1 with error_r (not
   logged: the caller says what is lost). */
int sift_index_queue_expunges(struct mailbox *box,
			      const ARRAY_TYPE(seq_range) *uids,
			      const char **error_r);
/* Commit everything so far, recording last_uid (0 = keep the stored
   one).  Returns 0 or -1 (logged). */
int sift_index_commit(struct sift_index *index, uint32_t last_uid);
/* Commit, compact if this writer added fts_sift_compact_after documents
   or more, rebuild without expunged documents if at least
   fts_sift_compact_after of them make up a quarter of the index, and
   close.  Returns 0 or -1 (logged); *index is NULL after. */
int sift_index_finish(struct sift_index **index);
/* Set last_uid to exactly this value (rescan) and commit. */
int sift_index_set_last_uid(struct sift_index *index, uint32_t last_uid);

/* Rebuild the mailbox's index without expunged documents, or if there
   are none compact it, in place (doveadm fts optimize). */
int sift_index_optimize(struct sift_fts_backend *backend, struct mailbox *box);

#endif
