/* sift-index-rewind.c: is the index still the mailbox's, or was the
   mailbox taken back to an older state under it?

   A mailbox restored from a backup (maildir files with their
   dovecot-uidlist, or dbox with Dovecot's index files) keeps its
   UIDVALIDITY, so the stored one (sift-index.c) can't tell; but its
   UIDNEXT went back, and new mail gets UIDs the index already holds
   documents for, of messages that are gone.  The index would answer for
   them, and never index the new ones (last_uid says they are in).  (IMAP
   forbids reusing a UID under one UIDVALIDITY, so clients that cache are
   wrong then too; the index must not be.)

   Two signs, checked by a reader before its last_uid is used
   (fts_backend_sift_get_last_uid(), which Dovecot calls before every
   search and indexing run), with L = the stored last_uid:
     - the mailbox has a message of UID L whose received date is not the
       one the index keeps for L (sift-dates.h: a UID's received date
       never changes in IMAP);
     - the mailbox has no message L and its UIDNEXT is at most L.  A
       search's view may be older than the index (a message delivered
       and indexed since the view was synced), so UIDNEXT is then read
       again from a newly synced instance of the mailbox before anything
       is concluded.
   Either way the index is moved aside (one error) and the mailbox is
   indexed again.  A mailbox restored and then given more new messages
   than it lost before any search or indexing run is caught by the first
   sign (L is a new message then), unless message L was expunged too.

   mbox is checked without touching the mbox file: its messages are read
   through one shared stream, which reading another message's date could
   move under the fts plugin mid-message, and a second instance of the
   mailbox would lock the same file with this process's locks (releasing
   one releases both).  So for mbox the date of message L is taken only
   from Dovecot's cache (nothing is concluded when it is not there), and
   UIDNEXT from Dovecot's index files refreshed, which every process that
   delivers or indexes mail has updated (the index can't hold a message
   Dovecot's index never had). */

#include "lib.h"
#include "time-util.h"
#include "mail-index.h"
#include "mail-storage-private.h"
#include "sift-xapian.h"
#include "sift-terms.h"
#include "sift-dates.h"
#include "fts-backend-sift.h"
#include "sift-index-private.h"

struct sift_rewind_date {
	bool certain;
	time_t received;
};

static void sift_rewind_date_cb(void *context, uint32_t uid ATTR_UNUSED,
				const void *data, size_t len)
{
	struct sift_rewind_date *d = context;
	struct sift_dates dates;

	if (sift_dates_decode(data, len, &dates) && dates.received) {
		d->certain = TRUE;
		d->received = dates.received_time;
	}
}

/* UIDNEXT of a newly opened and synced instance of box (0 on failure:
   then nothing is concluded). */
static uint32_t sift_rewind_fresh_uidnext(struct mailbox *box)
{
	struct mailbox *box2;
	struct mailbox_status status;
	uint32_t uidnext = 0;

	box2 = mailbox_alloc(box->list, box->vname, MAILBOX_FLAG_READONLY);
	if (mailbox_sync(box2, MAILBOX_SYNC_FLAG_FAST) == 0) {
		mailbox_get_open_status(box2, STATUS_UIDNEXT, &status);
		uidnext = status.uidnext;
	}
	mailbox_free(&box2);
	return uidnext;
}

/* UIDNEXT in box's Dovecot index files as they are now (0 on failure),
   for mbox: the storage is not synced, the index is only read again. */
static uint32_t sift_rewind_index_uidnext(struct mailbox *box)
{
	struct mail_index_view *view;
	uint32_t uidnext;

	if (mail_index_refresh(box->index) < 0)
		return 0;
	view = mail_index_view_open(box->index);
	uidnext = mail_index_get_header(view)->next_uid;
	mail_index_view_close(&view);
	return uidnext;
}

/* The received date of message uid in box: 1 (in *date_r), 0 if box has
   no such message or its date can't be read (with cache_only, isn't in
   Dovecot's cache). */
static int sift_rewind_box_date(struct mailbox *box, uint32_t uid,
				bool cache_only, time_t *date_r)
{
	struct mailbox_transaction_context *t;
	struct mail *mail;
	int ret = 0;

	t = mailbox_transaction_begin(box, 0, __func__);
	/* (cache_only: no wanted fields either, so that setting the mail
	   prepares no read of it) */
	mail = mail_alloc(t, cache_only ? 0 : MAIL_FETCH_RECEIVED_DATE, NULL);
	if (cache_only)
		mail->lookup_abort = MAIL_LOOKUP_ABORT_NOT_IN_CACHE;
	if (mail_set_uid(mail, uid) &&
	    mail_get_received_date(mail, date_r) == 0)
		ret = 1;
	mail_free(&mail);
	(void)mailbox_transaction_commit(&t);
	return ret;
}

/* Remember that index was found its mailbox's at this UIDNEXT. */
static void sift_rewind_ok(struct sift_index *index, uint32_t uidnext)
{
	struct sift_fts_backend *backend = index->backend;

	i_free(backend->rewind_ok_path);
	backend->rewind_ok_path = i_strdup(index->path);
	backend->rewind_ok_last_uid = index->stored_last_uid;
	backend->rewind_ok_uidnext = uidnext;
}

bool sift_index_check_rewind(struct sift_index *index)
{
	struct sift_fts_backend *backend = index->backend;
	struct mailbox *box = index->box;
	uint32_t last_uid = index->stored_last_uid, uidnext;
	struct sift_rewind_date doc;
	struct mailbox_status status;
	const char *error, *problem = NULL;
	time_t box_date;
	bool mbox;

	i_assert(!index->writable);

	if (last_uid == 0 || box == NULL || !box->opened)
		return TRUE;
	mbox = strcmp(box->storage->name, "mbox") == 0;
	mailbox_get_open_status(box, STATUS_UIDNEXT, &status);
	if (backend->rewind_ok_path != NULL &&
	    strcmp(backend->rewind_ok_path, index->path) == 0 &&
	    backend->rewind_ok_last_uid == last_uid &&
	    backend->rewind_ok_uidnext == status.uidnext) {
		/* (checked by this process's previous search) */
		return TRUE;
	}
	if (status.uidnext > last_uid) {
		/* the view has message L, or had it (expunged since) */
		if (sift_rewind_box_date(box, last_uid, mbox,
					 &box_date) <= 0) {
			/* expunged (or for mbox, not cached): nothing to
			   compare */
			sift_rewind_ok(index, status.uidnext);
			return TRUE;
		}
		i_zero(&doc);
		if (sift_xdb_values(index->db, SIFT_VALUE_DATES, &last_uid, 1,
				    sift_rewind_date_cb, &doc,
				    &error) != SIFT_X_OK) {
			/* (a table that can't be read is reported by the
			   search that reads it) */
			return TRUE;
		}
		if (!doc.certain || doc.received == box_date) {
			sift_rewind_ok(index, status.uidnext);
			return TRUE;
		}
		problem = t_strdup_printf("UID %u is another message in the "
			"mailbox (received %s) than in the index (received "
			"%s)", last_uid, t_strflocaltime("%Y-%m-%d %H:%M:%S",
							 box_date),
			t_strflocaltime("%Y-%m-%d %H:%M:%S", doc.received));
	} else {
		uidnext = mbox ? sift_rewind_index_uidnext(box) :
			sift_rewind_fresh_uidnext(box);
		if (uidnext == 0 || uidnext > last_uid)
			return TRUE;
		problem = t_strdup_printf("it holds messages up to UID %u, "
			"the mailbox's UIDNEXT is %u", last_uid, uidnext);
	}
	sift_index_report_damage(index, t_strdup_printf(
		"%s: the mailbox was taken back to an older state, e.g. "
		"restored from a backup, under a newer index", problem));
	return FALSE;
}
