/* fts-backend-sift.c: the fts backend vtable.  Indexing is delegated to
   sift-index.c, searching to sift-query.c; this file maps Dovecot's calls
   onto them and keeps the per-update state. */
#include "lib.h"
#include "array.h"
#include "seq-range-array.h"
#include "message-part.h"
#include "mail-storage-private.h"
#include "mailbox-list-iter.h"
#include "istream.h"
#include "fts-api-private.h"
#include "sift-text.h"
#include "fts-sift-plugin.h"
#include "fts-sift-user.h"
#include "fts-backend-sift.h"
#include "fts-sift-msgcopy.h"
#include "fts-sift-walk.h"
#include "sift-index.h"
#include "sift-query.h"
#include "sift-search-args.h"
#include "sift-dates.h"
#include "sift-terms.h"
#include "message-date.h"
#include "message-address.h"
#include "message-parser.h"
#include "sift-hdrfilter.h"
#include "sift-hdrread.h"
#include "sift-acl.h"
#include "sift-decoder.h"
#include "sift-events.h"
#include "sift-html.h"

struct sift_fts_update_context {
	struct fts_backend_update_context ctx;
	/* the mailbox being updated; its index is opened on first use */
	struct mailbox *box;
	struct sift_index *index;
	/* our own view of box's mails, to read a message's raw header
	   (sift-hdrread.c) */
	struct mailbox_transaction_context *trans;
	struct mail *mail;
	uint32_t doc_uid;
	/* the MIME part whose Content-Type header was seen last; whether
	   the message's Content-Types were compared (a part had two) */
	const struct message_part *content_type_part;
	bool content_types_checked;
	/* the last attached message whose address headers were indexed
	   (sift_update_part_addresses()) */
	const struct message_part *address_part;
	bool open_failed;
	/* expunges of box while its index is not open: queued at close
	   (sift_index_queue_expunges()), never waiting for the lock */
	ARRAY_TYPE(seq_range) expunges;
	/* the session user may not read box: nothing of it is indexed, and
	   its index is not opened (see update_set_mailbox) */
	bool box_unreadable;
	/* The current message's body bytes as Dovecot 2.4's
	   fts_message_max_size counts them (sift_update_body_cut()): the
	   text of the body parts handed to us; body_counting while such a
	   part's text comes, body_decoded once a decoder's part was taken
	   (its input counts, which we never see). */
	uoff_t body_counted;
	bool body_counting, body_decoded;
	/* with a decoder and the limit: the message's size, taken when its
	   document begins (on mbox another message can't be read once the
	   fts plugin has gone on to it); (uoff_t)-1 if unknown */
	uoff_t doc_size;
};

static struct fts_backend *fts_backend_sift_alloc(void)
{
	struct sift_fts_backend *backend;

	backend = i_new(struct sift_fts_backend, 1);
	backend->backend = fts_backend_sift;
	return &backend->backend;
}

static int
fts_backend_sift_init(struct fts_backend *_backend, const char **error_r)
{
	struct sift_fts_backend *backend = SIFT_BACKEND(_backend);
	const char *includes, *excludes;
	const char *error;

	if (fts_sift_backend_user_init(_backend, &backend->event,
				       &backend->set, &backend->set_error,
				       error_r) < 0)
		return -1;
	if (fts_sift_backend_header_lists(_backend, &includes, &excludes,
					  error_r) < 0) {
		fts_sift_backend_user_deinit(&backend->event, &backend->set);
		return -1;
	}
	backend->hdrfilter = sift_hdrfilter_new(includes, excludes);
	if (backend->hdrfilter == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "fts-sift: out of memory");
	if (sift_text_init(&backend->text, &error) < 0) {
		*error_r = t_strdup_printf("fts-sift: text engine "
					   "initialization failed: %s", error);
		/* Dovecot 2.3 frees the backend without calling deinit,
		   2.4 calls deinit: leave nothing for either to release */
		sift_hdrfilter_free(&backend->hdrfilter);
		fts_sift_backend_user_deinit(&backend->event, &backend->set);
		return -1;
	}
	return 0;
}

static void fts_backend_sift_deinit(struct fts_backend *_backend)
{
	struct sift_fts_backend *backend = SIFT_BACKEND(_backend);

	i_free(backend->rewind_ok_path);
	if (backend->text != NULL)
		sift_text_deinit(&backend->text);
	sift_hdrfilter_free(&backend->hdrfilter);
	sift_decoder_deinit(backend);
	if (backend->event != NULL)
		fts_sift_backend_user_deinit(&backend->event, &backend->set);
	i_free(backend);
}

/* FALSE (and the error logged) if this user's settings are invalid. */
static bool sift_backend_usable(struct sift_fts_backend *backend)
{
	if (backend->set_error == NULL)
		return TRUE;
	e_error(backend->event, "%s", backend->set_error);
	return FALSE;
}

/* Highest UID box has now (0 if empty).  Returns 0 or -1 (logged). */
static int sift_box_highest_uid(struct sift_fts_backend *backend,
				struct mailbox *box, uint32_t *uid_r)
{
	struct mailbox_status status;

	if (mailbox_get_status(box, STATUS_UIDNEXT, &status) < 0) {
		e_error(backend->event, "Getting the status of mailbox %s "
			"failed: %s", mailbox_get_vname(box),
			mailbox_get_last_internal_error(box, NULL));
		return -1;
	}
	*uid_r = status.uidnext > 0 ? status.uidnext - 1 : 0;
	return 0;
}

/* The read-right check before anything of box's index is read or
   written (what: the operation, for the one error logged).  Returns 1
   (allowed), 0 (denied) or -1 (error, logged). */
static int sift_check_read_right(struct sift_fts_backend *backend,
				 struct mailbox *box, const char *what)
{
	const char *error;

	switch (sift_acl_can_read(box, &error)) {
	case SIFT_ACL_ALLOWED:
		return 1;
	case SIFT_ACL_DENIED:
		e_debug(event_create_passthrough(backend->event)->
			set_name(SIFT_EVENT_ACL_DENIED)->
			add_str("mailbox", mailbox_get_vname(box))->
			add_str("user", box->storage->user->username)->event(),
			"User %s has no read right on "
			"mailbox %s: its index is not used",
			box->storage->user->username, mailbox_get_vname(box));
		return 0;
	case SIFT_ACL_ERROR:
		break;
	}
	e_error(backend->event, "%s of mailbox %s failed: its ACL could not "
		"be checked: %s", what, mailbox_get_vname(box), error);
	return -1;
}

static int
fts_backend_sift_get_last_uid(struct fts_backend *_backend,
			      struct mailbox *box, uint32_t *last_uid_r)
{
	struct sift_fts_backend *backend = SIFT_BACKEND(_backend);
	struct sift_index *index;
	int ret;

	*last_uid_r = 0;
	if (!sift_backend_usable(backend))
		return -1;
	ret = sift_check_read_right(backend, box, "Reading the index state");
	if (ret < 0)
		return -1;
	if (ret == 0) {
		/* Without the read right the index isn't opened, and a
		   search's answer for every message is "no match"
		   (lookup()).  Claiming all current messages as indexed
		   makes Dovecot apply that answer to all of them, instead
		   of reading the unindexed ones itself or asking the
		   indexer to index them for this user. */
		return sift_box_highest_uid(backend, box, last_uid_r);
	}
	ret = sift_index_open_reader(backend, box, &index);
	if (ret <= 0)
		return ret;
	/* (a mailbox restored from a backup under this index: moved
	   aside, the mailbox is indexed again) */
	if (sift_index_check_rewind(index))
		ret = sift_index_get_last_uid(index, last_uid_r);
	sift_index_close(&index);
	return ret;
}

/* ---- updates --------------------------------------------------------- */

static struct fts_backend_update_context *
fts_backend_sift_update_init(struct fts_backend *_backend)
{
	struct sift_fts_update_context *ctx;

	ctx = i_new(struct sift_fts_update_context, 1);
	ctx->ctx.backend = _backend;
	SIFT_BACKEND(_backend)->index_no_room = FALSE;
	return &ctx->ctx;
}

/* Add the current document's HTML parts as Dovecot's search reads them
   (sift-html.c), reading the message again through the plugin's own mail;
   called while the fts plugin is still reading the same message (see
   fts_backend_sift_update_set_build_key()).  If the message can't be read
   again, Dovecot checks its body searches itself. */
static void sift_update_index_html(struct sift_fts_update_context *ctx,
				   uoff_t part_pos)
{
	struct istream *input;
	const char *error;
	int ret = -1;
	bool gone = FALSE, logged = FALSE;

	T_BEGIN {
		enum sift_msgcopy_state copy =
			sift_msgcopy_message(ctx->box, ctx->doc_uid, &input);

		if (copy == SIFT_MSGCOPY_COPY) {
			ret = sift_html_index_parts(ctx->index, input,
						    &part_pos, 1, &error);
		} else if (copy == SIFT_MSGCOPY_NO_COPY) {
			/* (logged when the copy failed) */
			logged = TRUE;
		} else if (ctx->mail == NULL ||
		    !mail_set_uid(ctx->mail, ctx->doc_uid)) {
			error = "it is not in the mailbox";
			gone = TRUE;
		} else if (mail_get_stream_because(ctx->mail, NULL, NULL,
				"fts-sift HTML source", &input) < 0) {
			error = mailbox_get_last_internal_error(ctx->box,
								NULL);
			gone = ctx->mail->expunged;
		} else {
			ret = sift_html_index_parts(ctx->index, input,
						    &part_pos, 1, &error);
		}
		/* an expunge racing the indexing is no problem: its
		   document is never part of a result */
		if (ret < 0 && gone) {
			e_debug(SIFT_BACKEND(ctx->ctx.backend)->event,
				"Uid %u of mailbox %s was expunged before its "
				"HTML was read (%s)", ctx->doc_uid,
				mailbox_get_vname(ctx->box), error);
		} else if (ret < 0 && !logged) {
			e_warning(SIFT_BACKEND(ctx->ctx.backend)->event,
				  "Couldn't read the HTML of uid %u in "
				  "mailbox %s (%s); its body searches are "
				  "left to Dovecot", ctx->doc_uid,
				  mailbox_get_vname(ctx->box), error);
		}
	} T_END;
	if (ret < 0)
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_BODY);
}

/* Dovecot 2.4's fts_message_max_size: the fts plugin hands a backend
   only the first N bytes of a message's body, counted over the decoded
   text of the body parts it indexes (ours, and a decoder's input), cuts
   the part that reaches N and drops everything after it, without a word
   to the backend (fts-build-mail.c).  A document built from that would
   say "not in this message" for every word past the cut, where Dovecot's
   own search, which reads the message, finds it.  So a message that may
   have been cut has its body left to Dovecot (the same flag as a body
   Dovecot reads differently): its body searches read it, as they would
   without the index, and its other keys stay answered from the index.
   "May have been cut": the text we were handed reached N (a body of
   exactly N bytes is counted too), or a decoder's part was taken and the
   message is large enough for its input to reach N (a decoded byte is
   at most 3 of the message's: a charset's byte becomes at most a 3-byte
   UTF-8 character, and base64 and quoted-printable only shrink). */
static void sift_update_body_cut(struct sift_fts_update_context *ctx)
{
	uoff_t limit = SIFT_BACKEND(ctx->ctx.backend)->set->body_size_limit;
	bool cut;

	if (limit == 0 || ctx->doc_uid == 0)
		return;
	cut = ctx->body_counted >= limit;
	if (!cut && ctx->body_decoded) {
		cut = ctx->doc_size == (uoff_t)-1 ||
			ctx->doc_size >= (limit - ctx->body_counted) / 3;
	}
	if (cut) {
		e_debug(SIFT_BACKEND(ctx->ctx.backend)->event,
			"Uid %u of mailbox %s may have been cut at "
			"fts_message_max_size=%"PRIuUOFF_T": its body searches "
			"are left to Dovecot", ctx->doc_uid,
			mailbox_get_vname(ctx->box), limit);
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_BODY);
	}
}

/* ctx->doc_size, where sift_update_body_cut() needs it. */
static void sift_update_doc_size(struct sift_fts_update_context *ctx)
{
	const struct fts_sift_settings *set =
		SIFT_BACKEND(ctx->ctx.backend)->set;
	struct istream *input;

	ctx->doc_size = (uoff_t)-1;
	if (set->body_size_limit == 0 || !set->decoded_attachments)
		return;
	switch (sift_msgcopy_message(ctx->box, ctx->doc_uid, &input)) {
	case SIFT_MSGCOPY_COPY:
		/* (a copied message: its copy's size, never the mail's,
		   whose stream the fts plugin is reading) */
		if (i_stream_get_size(input, TRUE, &ctx->doc_size) <= 0)
			ctx->doc_size = (uoff_t)-1;
		break;
	case SIFT_MSGCOPY_NO_COPY:
		break;
	case SIFT_MSGCOPY_NOT_NEEDED:
		if (ctx->mail != NULL && ctx->mail->uid == ctx->doc_uid &&
		    mail_get_physical_size(ctx->mail, &ctx->doc_size) < 0)
			ctx->doc_size = (uoff_t)-1;
		break;
	}
}

/* End the current document: store it. */
static int sift_update_doc_end(struct sift_fts_update_context *ctx)
{
	if (ctx->index != NULL)
		sift_update_body_cut(ctx);
	ctx->body_counted = 0;
	ctx->body_counting = FALSE;
	ctx->body_decoded = FALSE;
	return sift_index_doc_end(ctx->index);
}

/* Finish the document being built, commit and close the index. */
static void sift_update_close(struct sift_fts_update_context *ctx)
{
	if (array_is_created(&ctx->expunges) &&
	    array_count(&ctx->expunges) > 0) {
		const char *error = NULL;
		int ret = 1;

		/* record them in the index if nobody else is writing it,
		   else queue them for the writer */
		if (ctx->index == NULL && ctx->box != NULL) {
			ret = sift_index_try_open_writer(
				SIFT_BACKEND(ctx->ctx.backend), ctx->box,
				&ctx->index);
		}
		if (ret < 0) {
			/* the index can't be written (logged) */
		} else if (ctx->index != NULL) {
			/* the index was opened after all: record them
			   with its commit */
			struct seq_range_iter iter;
			unsigned int n = 0;
			uint32_t uid;

			seq_range_array_iter_init(&iter, &ctx->expunges);
			while (seq_range_array_iter_nth(&iter, n++, &uid))
				sift_index_expunge(ctx->index, uid);
		} else if (ctx->box != NULL &&
			   sift_index_queue_expunges(ctx->box, &ctx->expunges,
						     &error) < 0) {
			ret = -1;
		}
		if (ret < 0 && error != NULL) {
			/* the one report of this failure */
			e_error(SIFT_BACKEND(ctx->ctx.backend)->event,
				"Expunges in mailbox %s are not recorded in "
				"the index: %s (doveadm fts rescan will "
				"record them)", mailbox_get_vname(ctx->box),
				error);
		} else if (ret < 0) {
			/* what the error the index logged means here */
			e_warning(SIFT_BACKEND(ctx->ctx.backend)->event,
				  "Expunges in mailbox %s are not recorded "
				  "in the index (see the error above); "
				  "doveadm fts rescan will record them",
				  mailbox_get_vname(ctx->box));
		}
		array_clear(&ctx->expunges);
	}
	if (ctx->index != NULL) {
		if (sift_update_doc_end(ctx) < 0)
			ctx->ctx.failed = TRUE;
		/* a failed document is not committed as indexed: last_uid
		   stays below it and it is retried next time */
		if (ctx->ctx.failed)
			sift_index_close(&ctx->index);
		else if (sift_index_finish(&ctx->index) < 0)
			ctx->ctx.failed = TRUE;
	}
	if (ctx->mail != NULL)
		mail_free(&ctx->mail);
	if (ctx->trans != NULL)
		mailbox_transaction_rollback(&ctx->trans);
	ctx->doc_uid = 0;
	ctx->open_failed = FALSE;
}

/* Keep the message's dates as Dovecot's search compares them
   (sift-dates.h): the received date (mail_get_received_date(), from
   Dovecot's cache or the mailbox), and the first Date: header parsed as
   Dovecot parses it for mail_get_date() (message_date_parse()), taken
   from the header sift_update_check_header() just read (asking Dovecot
   for it made it parse the header again and cache it: 13.5 MB more of
   its dovecot.index.cache at 100,000 messages).
   A date that can't be read is kept as unknown: Dovecot then checks the
   message's date leaves.  A UID's received date (INTERNALDATE) never
   changes in IMAP, and Dovecot keeps it in its own cache too; a maildir
   file whose mtime is changed behind Dovecot's back changes neither
   answer until Dovecot's cache is rebuilt. */
static void sift_update_dates(struct sift_fts_update_context *ctx,
			      const struct sift_hdrread *v)
{
	unsigned char value[SIFT_DATES_VALUE_SIZE];
	struct sift_dates dates;
	time_t t;
	int tz;

	i_zero(&dates);
	/* (where messages are copied, from the copy: fts-sift-msgcopy.h) */
	if (sift_msgcopy_received_date(ctx->box, ctx->doc_uid, &t,
				       &dates.received) ==
	    SIFT_MSGCOPY_NOT_NEEDED)
		dates.received = mail_get_received_date(ctx->mail, &t) == 0;
	if (dates.received)
		dates.received_time = t;
	if (v->date != NULL &&
	    message_date_parse(v->date, v->date_size, &t, &tz)) {
		dates.sent = TRUE;
		dates.sent_time = t;
		dates.sent_tz = tz;
	}
	sift_dates_encode(&dates, value);
	if (sift_index_doc_set_value(ctx->index, SIFT_VALUE_DATES, value,
				     sizeof(value)) < 0)
		ctx->ctx.failed = TRUE;
}

/* Index what only the message as Dovecot's search reads it gives (see
   sift-hdrread.c): the address headers in their search form, the names of
   headers the fts plugin leaves out; and flag the document where
   Dovecot's search reads it differently from what we are given. */

/* One whole field the plugin builds itself (not from the fts plugin's
   calls); FALSE marks the update failed. */
static bool
sift_update_field(struct sift_fts_update_context *ctx,
		  enum sift_field_kind kind, const char *name,
		  const void *data, size_t size)
{
	sift_index_field_begin(ctx->index, kind, name);
	if (sift_index_field_data(ctx->index, data, size) < 0 ||
	    sift_index_field_end(ctx->index) < 0) {
		ctx->ctx.failed = TRUE;
		return FALSE;
	}
	return TRUE;
}

/* The message uid as stored, for a second read while the fts plugin
   reads it: the whole message, or with !whole at least its header.
   Returns 1 with *input_r (seek it to 0 before use), 0 if there is no
   copy to read where reading the mail would move the fts plugin's stream
   (fts-sift-msgcopy.h; logged when the copy failed), -1 if reading
   failed (ctx->mail->expunged tells whether it was expunged). */
static int sift_update_raw_message(struct sift_fts_update_context *ctx,
				   uint32_t uid, bool whole,
				   struct istream **input_r)
{
	switch (sift_msgcopy_message(ctx->box, uid, input_r)) {
	case SIFT_MSGCOPY_COPY:
		return 1;
	case SIFT_MSGCOPY_NO_COPY:
		return 0;
	case SIFT_MSGCOPY_NOT_NEEDED:
	default:
		break;
	}
	if (ctx->mail == NULL) {
		ctx->trans = mailbox_transaction_begin(ctx->box, 0,
						       "fts-sift header check");
		ctx->mail = mail_alloc(ctx->trans, 0, NULL);
	}
	if (!mail_set_uid(ctx->mail, uid))
		return -1;
	if (whole)
		return mail_get_stream(ctx->mail, NULL, NULL, input_r) < 0 ? -1 : 1;
	return mail_get_hdr_stream(ctx->mail, NULL, input_r) < 0 ? -1 : 1;
}

/* A part of the current message has a second Content-Type header (the
   fts plugin hands them over).  The fts plugin indexes the part by the
   first, Dovecot's own search reads it by the last: unless all of the
   message's parts name one media type in each (compared as written:
   sift_hdrread_content_types()), the index can't be exact for this
   message's body, and Dovecot reads it for BODY and TEXT. */
static void sift_update_check_content_types(struct sift_fts_update_context *ctx)
{
	struct istream *input;
	const char *error = NULL;
	bool differ = TRUE;
	int ret;

	ctx->content_types_checked = TRUE;
	ret = sift_update_raw_message(ctx, ctx->doc_uid, TRUE, &input);
	if (ret > 0) {
		i_stream_seek(input, 0);
		if (sift_hdrread_content_types(input, &differ, &error) < 0)
			ret = -1;
	}
	if (ret <= 0 || differ) {
		e_debug(SIFT_BACKEND(ctx->ctx.backend)->event,
			"Uid %u of mailbox %s has a part with two "
			"Content-Types%s: its body searches are left to "
			"Dovecot", ctx->doc_uid, mailbox_get_vname(ctx->box),
			ret > 0 ? " of different media types" :
			t_strdup_printf(" (not compared: %s)", error != NULL ?
					error : "message not read again"));
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_BODY);
	}
}

static void sift_update_check_header(struct sift_fts_update_context *ctx,
				     uint32_t uid)
{
	struct sift_fts_backend *backend = SIFT_BACKEND(ctx->ctx.backend);
	const struct sift_hdrread_address *addr;
	const char *const *name;
	const char *error;
	struct istream *input;
	struct sift_hdrread v;
	bool whole = sift_hdrfilter_excludes_any(backend->hdrfilter);
	int ret;

	ret = sift_update_raw_message(ctx, uid, whole, &input);
	if (ret == 0) {
		/* (logged when the copy failed) */
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_HEADERS |
					  SIFT_UNTRUSTED_TEXT |
					  SIFT_UNTRUSTED_BODY);
		return;
	}
	if (ret < 0) {
		if (ctx->mail->expunged) {
			/* expunged meanwhile (normal while clients expunge
			   during indexing): no search will return it */
			e_debug(backend->event,
				"uid %u of mailbox %s was expunged while it "
				"was indexed", uid, mailbox_get_vname(ctx->box));
			sift_index_mark_untrusted(ctx->index,
				SIFT_UNTRUSTED_HEADERS | SIFT_UNTRUSTED_TEXT);
			return;
		}
		/* The fts plugin read its own copy fine, but without this
		   check the index could claim certainty where Dovecot reads
		   the headers differently, and it lacks the address
		   headers: let Dovecot check every header and TEXT search
		   of this message. */
		e_warning(backend->event,
			  "Couldn't read the header of uid %u in mailbox %s "
			  "to check it (%s); its header searches are left to "
			  "Dovecot", uid, mailbox_get_vname(ctx->box),
			  mailbox_get_last_internal_error(ctx->box, NULL));
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_HEADERS |
					  SIFT_UNTRUSTED_TEXT);
		return;
	}
	i_stream_seek(input, 0);
	if (sift_hdrread_message(input, whole, backend->hdrfilter, &v,
				 &error) < 0) {
		/* what was read may lack headers or parts: as if it could
		   not be read at all, and no body search trusts it either
		   (a second Content-Type may be in what was not read) */
		e_warning(backend->event,
			  "Couldn't read the header of uid %u in mailbox %s "
			  "to check it (%s); its searches are left to "
			  "Dovecot", uid, mailbox_get_vname(ctx->box), error);
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_HEADERS |
					  SIFT_UNTRUSTED_TEXT |
					  SIFT_UNTRUSTED_BODY);
		return;
	}
	sift_update_dates(ctx, &v);
	if (ctx->ctx.failed)
		return;
	if ((v.result & SIFT_HDRREAD_HEADER_CHARSET) != 0)
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_HEADERS);
	if ((v.result & (SIFT_HDRREAD_ADDRESS_TEXT |
			 SIFT_HDRREAD_EXCLUDED)) != 0)
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_TEXT);
	if ((v.result & SIFT_HDRREAD_BODY) != 0)
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_BODY);

	/* the fts plugin's own calls for these are ignored
	   (update_set_build_key()) */
	array_foreach(&v.addresses, addr) {
		if (!sift_update_field(ctx, SIFT_FIELD_KIND_HEADER, addr->name,
				       addr->value, addr->size))
			return;
		if (addr->text_extra_size == 0)
			continue;
		/* what only TEXT reads: pooled with the other headers (a
		   header without a name), whose words TEXT finds and
		   whose runs give it candidates */
		if (!sift_update_field(ctx, SIFT_FIELD_KIND_HEADER, "",
				       addr->text_extra,
				       addr->text_extra_size))
			return;
	}
	/* a header without any of its text: the name only, so that
	   HEADER <name> "" stays exact */
	array_foreach(&v.excluded, name) {
		sift_index_field_begin(ctx->index, SIFT_FIELD_KIND_HEADER,
				       *name);
		if (sift_index_field_end(ctx->index) < 0) {
			ctx->ctx.failed = TRUE;
			return;
		}
	}
}

/* The address headers of an attached message's header (part), indexed
   as TEXT reads them, as written (sift_hdrread_part_addresses()); the fts
   plugin's parsed form of them is ignored. */
static void sift_update_part_addresses(struct sift_fts_update_context *ctx,
				       const struct message_part *part)
{
	struct sift_fts_backend *backend = SIFT_BACKEND(ctx->ctx.backend);
	ARRAY_TYPE(sift_hdrread_address) addrs;
	const struct sift_hdrread_address *addr;
	struct istream *input;
	const char *error;

	switch (sift_msgcopy_message(ctx->box, ctx->doc_uid, &input)) {
	case SIFT_MSGCOPY_COPY:
		break;
	case SIFT_MSGCOPY_NO_COPY:
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_TEXT);
		return;
	case SIFT_MSGCOPY_NOT_NEEDED:
	default:
		if (ctx->mail == NULL ||
		    mail_get_stream(ctx->mail, NULL, NULL, &input) < 0) {
			sift_index_mark_untrusted(ctx->index,
						  SIFT_UNTRUSTED_TEXT);
			return;
		}
		break;
	}
	t_array_init(&addrs, 4);
	i_stream_seek(input, part->physical_pos);
	if (sift_hdrread_part_addresses(input, backend->hdrfilter, &addrs,
					&error) < 0) {
		e_debug(backend->event, "Couldn't read the header of a part "
			"of uid %u in mailbox %s (%s): its TEXT searches are "
			"left to Dovecot", ctx->doc_uid,
			mailbox_get_vname(ctx->box), error);
		sift_index_mark_untrusted(ctx->index, SIFT_UNTRUSTED_TEXT);
	}
	array_foreach(&addrs, addr) {
		if (!sift_update_field(ctx, SIFT_FIELD_KIND_MIME_HEADER,
				       addr->name, addr->value, addr->size))
			return;
	}
}

static bool sift_update_ensure_index(struct sift_fts_update_context *ctx)
{
	struct sift_fts_backend *backend = SIFT_BACKEND(ctx->ctx.backend);

	if (ctx->index != NULL)
		return TRUE;
	if (ctx->box == NULL || ctx->open_failed)
		return FALSE;
	if (!sift_backend_usable(backend)) {
		ctx->open_failed = TRUE;
		return FALSE;
	}
	if (sift_index_open_writer(backend, ctx->box, &ctx->index) < 0) {
		ctx->open_failed = TRUE;
		return FALSE;
	}
	return TRUE;
}

static int
fts_backend_sift_update_deinit(struct fts_backend_update_context *_ctx)
{
	struct sift_fts_update_context *ctx =
		(struct sift_fts_update_context *)_ctx;
	struct sift_fts_backend *backend = SIFT_BACKEND(_ctx->backend);
	int ret;

	sift_update_close(ctx);
	ret = ctx->ctx.failed ? -1 : 0;
	if (ret < 0 && backend->index_no_room) {
		/* The file system refused the index (logged with its
		   cause).  Failing the transaction would fail every search
		   of the mailbox under fts_enforced = yes (Dovecot fails a
		   search whose indexing failed) until space is freed.
		   Nothing is claimed that was not committed: last_uid stays
		   below the messages not indexed, so searches use the index
		   as it is and Dovecot reads those messages itself. */
		ret = 0;
	}
	if (array_is_created(&ctx->expunges))
		array_free(&ctx->expunges);
	i_free(ctx);
	return ret;
}

static void
fts_backend_sift_update_set_mailbox(struct fts_backend_update_context *_ctx,
				    struct mailbox *box)
{
	struct sift_fts_update_context *ctx =
		(struct sift_fts_update_context *)_ctx;

	if (ctx->box == box)
		return;
	sift_update_close(ctx);
	ctx->box = box;
	ctx->box_unreadable = FALSE;
	if (box == NULL)
		return;
	/* Mail saved by a user who may only post (p) or insert (i) reaches
	   the fts plugin in that user's process; so may an expunge.  Such a
	   user's process must not read the mail into the index, nor open the
	   index at all.  Nothing is lost: the index's last_uid stays where
	   it is, and the next search or indexing run by a reader indexes
	   the message. */
	switch (sift_check_read_right(SIFT_BACKEND(_ctx->backend), box,
				      "Indexing")) {
	case 1:
		break;
	case 0:
		ctx->box_unreadable = TRUE;
		break;
	default:
		ctx->box_unreadable = TRUE;
		ctx->ctx.failed = TRUE;
		break;
	}
}

static void
fts_backend_sift_update_expunge(struct fts_backend_update_context *_ctx,
				uint32_t uid)
{
	struct sift_fts_update_context *ctx =
		(struct sift_fts_update_context *)_ctx;

	/* A document left behind by a failed expunge is harmless for
	   searches: UIDs are never reused, and Dovecot drops results for
	   UIDs that no longer exist.  "doveadm fts rescan" records it.
	   So is one left behind because this user's process may not read
	   the mailbox and so must not open its index. */
	if (ctx->box_unreadable || ctx->box == NULL)
		return;
	if (ctx->index != NULL) {
		/* an indexing run: recorded with its next commit */
		sift_index_expunge(ctx->index, uid);
		return;
	}
	/* Only expunges so far (an imap session syncing them): never wait
	   for the write lock an indexing run may hold; they are queued
	   when the update ends. */
	if (!array_is_created(&ctx->expunges))
		i_array_init(&ctx->expunges, 16);
	seq_range_array_add(&ctx->expunges, uid);
}

/* Is a body part's text extracted by a decoder (fts_decoder, fts_tika)
   from an attachment?  Dovecot's fts plugin gives us a part that is
   neither text nor message only through a parser (fts-build-mail.c),
   and Dovecot's own search never reads such a part; with a decoder
   configured its text counts as body text (README, "Attachments").
   Text and message parts other than those Dovecot's parsers never take
   (fts-parser.c: text/plain, two message/ types; the HTML parser has
   text/html) go to Tika, and to a script that lists their type: their
   text counts too, and *also_read_r says that Dovecot reads the part
   itself as well, in a form the index doesn't hold. */
static bool sift_body_is_decoded(struct sift_fts_backend *backend,
				 const char *content_type, bool *also_read_r)
{
	static const char *const never_parsed[] = {
		"text/plain", "text/html", "message/delivery-status",
		"message/disposition-notification", NULL
	};

	*also_read_r = FALSE;
	if (!backend->set->decoded_attachments || content_type == NULL)
		return FALSE;
	if (strncasecmp(content_type, "text/", 5) != 0 &&
	    strncasecmp(content_type, "message/", 8) != 0)
		return TRUE;
	if (str_array_icase_find(never_parsed, content_type))
		return FALSE;
	/* Tika gets text parts; a message/rfc822 part's own body is empty
	   (its content comes as the parts inside it) */
	if (backend->set->tika && strncasecmp(content_type, "text/", 5) == 0)
		*also_read_r = TRUE;
	/* (if the script's list can't be read, assume the worst: exact,
	   only slower) */
	else if (backend->set->decoder_script &&
		 sift_decoder_lists_type(backend, content_type) != 0)
		*also_read_r = TRUE;
	return *also_read_r;
}

static bool
fts_backend_sift_update_set_build_key(struct fts_backend_update_context *_ctx,
				      const struct fts_backend_build_key *key)
{
	struct sift_fts_update_context *ctx =
		(struct sift_fts_update_context *)_ctx;
	enum sift_field_kind kind;
	bool also_read;

	if (ctx->box_unreadable && !ctx->ctx.failed) {
		/* skip the field; the message stays unindexed */
		return FALSE;
	}
	if (ctx->ctx.failed || !sift_update_ensure_index(ctx)) {
		ctx->ctx.failed = TRUE;
		return FALSE;
	}
	ctx->body_counting = FALSE;
	if (key->uid != ctx->doc_uid) {
		if (sift_update_doc_end(ctx) < 0 ||
		    sift_index_doc_begin(ctx->index, key->uid) < 0) {
			ctx->ctx.failed = TRUE;
			return FALSE;
		}
		ctx->doc_uid = key->uid;
		ctx->content_type_part = NULL;
		ctx->content_types_checked = FALSE;
		ctx->address_part = NULL;
		T_BEGIN {
			sift_update_check_header(ctx, key->uid);
		} T_END;
		if (ctx->ctx.failed)
			return FALSE;
		sift_update_doc_size(ctx);
	}
	if (key->type == FTS_BACKEND_BUILD_KEY_HDR && key->hdr_name != NULL &&
	    sift_header_is_address(key->hdr_name)) {
		/* indexed in Dovecot's search form instead, from the
		   message itself (sift_update_check_header()) */
		return FALSE;
	}
	if (key->type == FTS_BACKEND_BUILD_KEY_MIME_HDR &&
	    key->hdr_name != NULL && sift_header_is_address(key->hdr_name)) {
		/* (an attached message's header): its address headers are
		   indexed as written instead, all at the first of them */
		if (key->part != ctx->address_part) {
			ctx->address_part = key->part;
			T_BEGIN {
				sift_update_part_addresses(ctx, key->part);
			} T_END;
		}
		return FALSE;
	}
	if (key->hdr_name != NULL &&
	    (key->type == FTS_BACKEND_BUILD_KEY_HDR ||
	     key->type == FTS_BACKEND_BUILD_KEY_MIME_HDR) &&
	    strcasecmp(key->hdr_name, "Content-Type") == 0) {
		/* two Content-Type headers in a part: see
		   sift_update_check_content_types() */
		if (ctx->content_type_part == key->part &&
		    !ctx->content_types_checked) T_BEGIN {
			sift_update_check_content_types(ctx);
		} T_END;
		ctx->content_type_part = key->part;
	}

	switch (key->type) {
	case FTS_BACKEND_BUILD_KEY_HDR:
		kind = SIFT_FIELD_KIND_HEADER;
		break;
	case FTS_BACKEND_BUILD_KEY_MIME_HDR:
		kind = SIFT_FIELD_KIND_MIME_HEADER;
		break;
	case FTS_BACKEND_BUILD_KEY_BODY_PART:
		/* The order decides, and is the README's ("Attachments",
		   "HTML parts"): with a decoder configured, a part that is
		   neither text nor message is attachment text first (that
		   includes application/xhtml+xml, which Dovecot's search never
		   reads); text/html is never decoded (the fts plugin's HTML
		   parser takes it before any script or Tika) and always
		   indexed as its source. */
		if (sift_body_is_decoded(SIFT_BACKEND(_ctx->backend),
					 key->body_content_type, &also_read)) {
			kind = SIFT_FIELD_KIND_DECODED;
			ctx->body_decoded = TRUE;
			if (also_read)
				sift_index_mark_untrusted(ctx->index,
							  SIFT_UNTRUSTED_BODY);
			break;
		}
		if (key->body_content_type != NULL &&
		    strcasecmp(key->body_content_type, "text/html") == 0) {
			/* The fts plugin would hand us the HTML converted
			   to text, while Dovecot's own search reads its
			   source: skip the converted text (and the cost of
			   converting it) and index the source (sift-html.c).
			   Now, while the fts plugin reads this message: on
			   mbox every mail of a mailbox reads one shared
			   stream, which Dovecot positions at one message at
			   a time, so this message can't be read again once
			   the plugin has gone on to the next (reading it
			   then failed an assertion in Dovecot's mbox
			   stream). */
			sift_update_index_html(ctx, key->part->physical_pos);
			return FALSE;
		}
		if (key->body_content_type != NULL &&
		    strcasecmp(key->body_content_type,
			       "application/xhtml+xml") == 0) {
			/* (only without a decoder: see above) converted by
			   the same HTML parser, but not text to Dovecot's
			   search (message-search.c reads only text/ and
			   message/ bodies): it never matches */
			return FALSE;
		}
		/* a part of another type that the fts plugin converts
		   although no decoder is configured (none of Dovecot's
		   parsers does that today): Dovecot's search doesn't read
		   it that way, so only flag the document */
		if (key->body_content_type != NULL &&
		    strncasecmp(key->body_content_type, "text/", 5) != 0 &&
		    strncasecmp(key->body_content_type, "message/", 8) != 0)
			kind = SIFT_FIELD_KIND_RAW_BODY;
		else
			kind = SIFT_FIELD_KIND_BODY;
		ctx->body_counting = TRUE;
		break;
	case FTS_BACKEND_BUILD_KEY_BODY_PART_BINARY:
	default:
		return FALSE;
	}
	sift_index_field_begin(ctx->index, kind, key->hdr_name);
	return TRUE;
}

static void
fts_backend_sift_update_unset_build_key(struct fts_backend_update_context *_ctx)
{
	struct sift_fts_update_context *ctx =
		(struct sift_fts_update_context *)_ctx;

	if (ctx->index != NULL && sift_index_field_end(ctx->index) < 0)
		ctx->ctx.failed = TRUE;
}

static int
fts_backend_sift_update_build_more(struct fts_backend_update_context *_ctx,
				   const unsigned char *data, size_t size)
{
	struct sift_fts_update_context *ctx =
		(struct sift_fts_update_context *)_ctx;

	if (ctx->ctx.failed || ctx->index == NULL)
		return -1;
	if (ctx->body_counting)
		ctx->body_counted += size;
	if (sift_index_field_data(ctx->index, data, size) < 0) {
		ctx->ctx.failed = TRUE;
		return -1;
	}
	return 0;
}

static int fts_backend_sift_refresh(struct fts_backend *backend ATTR_UNUSED)
{
	/* each lookup opens the index at its latest commit */
	return 0;
}

/* ---- rescan and optimize --------------------------------------------- */

/* Make box's index agree with the mailbox: drop documents of expunged
   messages and lower last_uid below the first message the index lacks. */
static int sift_rescan_box(struct sift_fts_backend *backend,
			   struct mailbox *box)
{
	struct sift_index *index;
	const char *error;
	struct mailbox_status status;
	ARRAY_TYPE(seq_range) seqs, box_uids, doc_uids, missing;
	struct sift_uids docs = { NULL, 0, 0 };
	struct seq_range_iter iter;
	uint32_t last_uid, uid, new_last_uid;
	unsigned int n, removed = 0;
	int ret;

	ret = sift_index_open_reader(backend, box, &index);
	if (ret <= 0)
		return ret;
	sift_index_close(&index);

	if (mailbox_sync(box, 0) < 0) {
		e_error(backend->event, "Syncing mailbox %s failed: %s",
			mailbox_get_vname(box),
			mailbox_get_last_internal_error(box, NULL));
		return -1;
	}
	mailbox_get_open_status(box, STATUS_MESSAGES | STATUS_UIDNEXT,
				&status);
	t_array_init(&seqs, 1);
	t_array_init(&box_uids, 64);
	if (status.messages > 0) {
		seq_range_array_add_range(&seqs, 1, status.messages);
		mailbox_get_uid_range(box, &seqs, &box_uids);
	}

	if (sift_index_open_writer(backend, box, &index) < 0)
		return -1;
	if (sift_xdb_all_uids(sift_index_db(index), &docs, &error) != SIFT_X_OK) {
		e_error(backend->event, "Listing documents of mailbox %s "
			"failed: %s", mailbox_get_vname(box), error);
		sift_index_close(&index);
		return -1;
	}
	t_array_init(&doc_uids, 64);
	for (size_t i = 0; i < docs.count; i++)
		seq_range_array_add(&doc_uids, docs.uids[i]);
	sift_uids_free(&docs);

	/* documents whose message is gone, and messages wrongly recorded
	   as expunged.  Only below the view's UIDNEXT: mail delivered after
	   the sync, and indexed by a writer that had the lock before this
	   one, is not in the view but not gone either (recorded as
	   expunged, it was left out of every search for good). */
	seq_range_array_iter_init(&iter, &doc_uids);
	n = 0;
	while (seq_range_array_iter_nth(&iter, n++, &uid)) {
		bool gone = seq_range_exists(sift_index_get_expunged(index),
					     uid);

		if (seq_range_exists(&box_uids, uid)) {
			if (gone)
				sift_index_unexpunge(index, uid);
			continue;
		}
		if (gone || uid >= status.uidnext)
			continue;
		sift_index_expunge(index, uid);
		removed++;
	}

	/* messages the index claims (uid <= last_uid) but lacks */
	(void)sift_index_get_last_uid(index, &last_uid);
	t_array_init(&missing, 16);
	array_append_array(&missing, &box_uids);
	seq_range_array_remove_seq_range(&missing, &doc_uids);
	new_last_uid = last_uid;
	if (array_count(&missing) > 0) {
		const struct seq_range *first = array_front(&missing);

		uid = first->seq1;
		if (uid <= last_uid)
			new_last_uid = uid - 1;
	}

	ret = sift_index_set_last_uid(index, new_last_uid);
	sift_index_close(&index);
	e_debug(backend->event, "Rescanned %s: %u stale documents removed, "
		"last_uid %u -> %u", mailbox_get_vname(box), removed,
		last_uid, new_last_uid);
	return ret;
}

typedef int sift_box_func_t(struct sift_fts_backend *backend,
			    struct mailbox *box);

/* Run func on every selectable mailbox of the backend's namespace. */
static int sift_for_each_mailbox(struct fts_backend *_backend,
				 sift_box_func_t *func)
{
	struct sift_fts_backend *backend = SIFT_BACKEND(_backend);
	struct mailbox_list_iterate_context *iter;
	const struct mailbox_info *info;
	int ret = 0;

	if (!sift_backend_usable(backend))
		return -1;
	iter = mailbox_list_iter_init(_backend->ns->list, "*",
				      MAILBOX_LIST_ITER_SKIP_ALIASES |
				      MAILBOX_LIST_ITER_NO_AUTO_BOXES);
	while ((info = mailbox_list_iter_next(iter)) != NULL) {
		struct mailbox *box;

		if ((info->flags & (MAILBOX_NONEXISTENT |
				    MAILBOX_NOSELECT)) != 0)
			continue;
		box = mailbox_alloc(_backend->ns->list, info->vname, 0);
		if (mailbox_open(box) < 0) {
			e_error(backend->event, "Opening mailbox %s failed: "
				"%s", info->vname,
				mailbox_get_last_internal_error(box, NULL));
			ret = -1;
		} else T_BEGIN {
			if (func(backend, box) < 0)
				ret = -1;
		} T_END;
		mailbox_free(&box);
	}
	if (mailbox_list_iter_deinit(&iter) < 0) {
		e_error(backend->event, "Listing mailboxes failed: %s",
			mailbox_list_get_last_internal_error(_backend->ns->list,
							     NULL));
		ret = -1;
	}
	return ret;
}

static int fts_backend_sift_rescan(struct fts_backend *backend)
{
	return sift_for_each_mailbox(backend, sift_rescan_box);
}

static int fts_backend_sift_optimize(struct fts_backend *backend)
{
	return sift_for_each_mailbox(backend, sift_index_optimize);
}

/* ---- lookups ------------------------------------------------------------ */

/* Every search of a mailbox goes through here: the read right is checked
   at each call (no caching: a revocation counts at the user's next
   search).  Without it the index is not opened and the result is
   "false" for every leaf the index would have answered, so the search
   finds nothing (get_last_uid() covers every message).  The index path
   comes from box only (sift_index_path()), never from the search. */
static int
sift_lookup_box(struct sift_fts_backend *backend, struct mailbox *box,
		struct mail_search_arg *args, enum fts_lookup_flags flags,
		const ARRAY_TYPE(seq_range) *scope,
		struct fts_result *result, pool_t pool,
		ARRAY_TYPE(sift_leaf_certain) *certain, bool *denied_r)
{
	int ret;

	*denied_r = FALSE;
	if (!sift_backend_usable(backend))
		return -1;
	ret = sift_check_read_right(backend, box, "Search");
	if (ret < 0)
		return -1;
	if (ret == 0) {
		*denied_r = TRUE;
		sift_query_mark_answerable(backend, args);
		return 0;
	}
	return sift_query_lookup(backend, box, args, flags, scope, result,
				 pool, certain);
}

/* After a lookup of args' level: the answered leaves first
   (sift_search_args_answered_first()), and certain's leaves (NULL:
   none) moved along with their contents, so that each still names the
   leaf it was certain of. */
static void
sift_lookup_answered_first(struct mail_search_arg *args,
			   ARRAY_TYPE(sift_leaf_certain) *const certain[],
			   unsigned int certain_count)
{
	ARRAY_TYPE(sift_arg_move) moves;
	struct sift_leaf_certain *c;
	unsigned int i;

	T_BEGIN {
		t_array_init(&moves, 8);
		sift_search_args_answered_first(args, &moves);
		for (i = 0; i < certain_count && array_count(&moves) > 0; i++) {
			if (certain[i] == NULL)
				continue;
			array_foreach_modifiable(certain[i], c)
				c->arg = sift_arg_moves_follow(&moves, c->arg);
		}
	} T_END;
}

static int
fts_backend_sift_lookup(struct fts_backend *_backend, struct mailbox *box,
			struct mail_search_arg *args,
			enum fts_lookup_flags flags, struct fts_result *result)
{
	struct sift_fts_backend *backend = SIFT_BACKEND(_backend);
	ARRAY_TYPE(sift_leaf_certain) certain, *certainp = NULL;
	pool_t pool = NULL;
	bool denied;

	/* the leaves the lookup is sure of where the level is maybe, for
	   a search whose walk can set them */
	if (fts_sift_walk_wants_certain(box, args)) {
		pool = pool_alloconly_create("fts-sift certain leaves", 1024);
		p_array_init(&certain, pool, 4);
		certainp = &certain;
	}
	/* a sub-list of a search whose top level the index narrowed:
	   only its candidates' answers matter */
	if (sift_lookup_box(backend, box, args, flags,
			    fts_sift_walk_scope(box, args), result, pool,
			    certainp, &denied) < 0) {
		fts_sift_walk_lookup_done(box, args, flags, NULL, 0, NULL);
		pool_unref(&pool);
		return -1;
	}
	/* (the walk knows the search by its first node, which stays; the
	   certain leaves follow their contents) */
	sift_lookup_answered_first(args, &certainp, 1);
	/* denied: every answered leaf is false for every message
	   (get_last_uid() covers them all) */
	fts_sift_walk_lookup_done(box, args, flags, result,
				  denied ? (uint32_t)-1 :
				  backend->lookup_last_uid,
				  denied ? NULL : certainp);
	pool_unref(&pool);
	return 0;
}

/* A search of a virtual mailbox: Dovecot hands over the virtual
   mailbox's backend mailboxes of this namespace (fts-search.c groups
   them by backend) and maps each mailbox's UIDs to virtual ones.  Each
   mailbox is answered from its own index after its own ACL check.
   Every mailbox's lookup marks the same leaves (see
   sift_query_mark_answerable()), also for mailboxes without an index or
   without the read right: their answers are then "maybe" for every
   message (no index: Dovecot checks their mail itself) or "no match"
   (denied).  Each mailbox's UIDs above its lookup's last_uid are
   "maybe" too: see below.

   As in lookup(), each mailbox's lookup also reports the leaves it is
   certain of for the messages it left maybe, if the virtual mailbox's
   search walk can set them (fts_sift_walk_wants_certain_multi()): the
   walk maps them to virtual UIDs as the fts plugin maps the result. */
static int
fts_backend_sift_lookup_multi(struct fts_backend *_backend,
			      struct mailbox *const boxes[],
			      struct mail_search_arg *args,
			      enum fts_lookup_flags flags,
			      struct fts_multi_result *result)
{
	struct sift_fts_backend *backend = SIFT_BACKEND(_backend);
	ARRAY_TYPE(sift_leaf_certain) **certain;
	unsigned int i, count, denied_count = 0;
	pool_t pool = NULL;
	bool denied;

	for (count = 0; boxes[count] != NULL; count++) ;
	result->box_results = p_new(result->pool, struct fts_result,
				    count + 1);
	if (fts_sift_walk_wants_certain_multi(args) && count > 0) {
		pool = pool_alloconly_create("fts-sift certain leaves", 1024);
		certain = p_new(pool, ARRAY_TYPE(sift_leaf_certain) *, count);
	} else {
		certain = NULL;
	}
	sift_query_mark_answerable(backend, args);
	for (i = 0; i < count; i++) {
		struct fts_result *br = &result->box_results[i];

		br->box = boxes[i];
		br->pool = result->pool;
		br->search_state = result->search_state;
		p_array_init(&br->definite_uids, result->pool, 32);
		p_array_init(&br->maybe_uids, result->pool, 32);
		p_array_init(&br->scores, result->pool, 32);
		if (pool != NULL) {
			certain[i] = p_new(pool, ARRAY_TYPE(sift_leaf_certain),
					   1);
			p_array_init(certain[i], pool, 4);
		}
		if (sift_lookup_box(backend, boxes[i], args, flags, NULL, br,
				    pool, certain == NULL ? NULL : certain[i],
				    &denied) < 0) {
			fts_sift_walk_lookup_multi_done(NULL, args, NULL);
			pool_unref(&pool);
			return -1;
		}
		if (denied) {
			denied_count++;
			/* (nothing certain: every answered leaf is false) */
			if (certain != NULL)
				certain[i] = NULL;
		} else if (backend->lookup_last_uid < (uint32_t)-1) {
			/* Every UID above what this lookup's snapshot
			   indexed is "maybe": Dovecot 2.4 decides which of
			   a virtual mailbox's messages count as indexed only
			   after the lookups, per backend mailbox, when its
			   search first reaches one of that mailbox's
			   messages (fts-storage.c, STATUS_FTS_LAST_INDEXED_UID,
			   i.e. get_last_uid() then).  Mail indexed by
			   another process in between was in neither set
			   and so became a non-match for every answered
			   leaf.  Dovecot reads such a message itself now;
			   the ones it still takes as unindexed it reads
			   anyway, and get_virtual_uids() keeps only UIDs
			   the mailbox has.  (With no index at all,
			   lookup_last_uid is 0: every message.) */
			seq_range_array_add_range(&br->maybe_uids,
					backend->lookup_last_uid + 1,
					(uint32_t)-1);
		}
	}
	sift_lookup_answered_first(args, certain,
				   certain == NULL ? 0 : count);
	for (i = 0; certain != NULL && i < count; i++)
		fts_sift_walk_lookup_multi_done(boxes[i], args, certain[i]);
	pool_unref(&pool);
	e_debug(backend->event, "lookup_multi: %u mailboxes of namespace "
		"'%s' searched through their indexes, %u of them without "
		"the read right", count, _backend->ns->prefix, denied_count);
	return 0;
}

static void fts_backend_sift_lookup_done(struct fts_backend *backend ATTR_UNUSED)
{
}

struct fts_backend fts_backend_sift = {
	.name = "sift",
	/* No TOKENIZED_INPUT: sift segments and normalizes text itself
	   (ICU), identically for mail and for search strings.
	   FUZZY_SEARCH is meant to make imap advertise SEARCH=FUZZY (it
	   sets user->fuzzy_search; nothing else in Dovecot 2.3 reads it),
	   but 2.3's imap looks too early: fts-sift-plugin.c sets the user
	   flag itself.  A FUZZY key is answered exactly, which RFC 6203
	   allows, and gets relevance scores (sift-query.c). */
	.flags = FTS_BACKEND_FLAG_FUZZY_SEARCH,
	.v = {
		.alloc = fts_backend_sift_alloc,
		.init = fts_backend_sift_init,
		.deinit = fts_backend_sift_deinit,
		.get_last_uid = fts_backend_sift_get_last_uid,
		.update_init = fts_backend_sift_update_init,
		.update_deinit = fts_backend_sift_update_deinit,
		.update_set_mailbox = fts_backend_sift_update_set_mailbox,
		.update_expunge = fts_backend_sift_update_expunge,
		.update_set_build_key = fts_backend_sift_update_set_build_key,
		.update_unset_build_key = fts_backend_sift_update_unset_build_key,
		.update_build_more = fts_backend_sift_update_build_more,
		.refresh = fts_backend_sift_refresh,
		.rescan = fts_backend_sift_rescan,
		.optimize = fts_backend_sift_optimize,
		.can_lookup = fts_backend_default_can_lookup,
		.lookup = fts_backend_sift_lookup,
		.lookup_multi = fts_backend_sift_lookup_multi,
		.lookup_done = fts_backend_sift_lookup_done,
	},
};
