/* fts-sift-mbox.h: on mbox, and on any format where zlib/mail_compress or
   mail_crypt share a message's stream between its mails, the backend
   reads a message again from a private copy (fts-sift-mbox.c); and a
   deleted mailbox's index goes with it. */
#ifndef FTS_SIFT_MBOX_H
#define FTS_SIFT_MBOX_H

struct module;
struct mailbox;
struct istream;

enum sift_mbox_copy_state {
	/* a mailbox without copies (not mbox, no stream-sharing plugin):
	   read the message through a mail */
	SIFT_MBOX_NOT_MBOX,
	/* copies, and *input_r is the message's copy (owned by the mailbox:
	   valid until the next message's precache; seek it before use) */
	SIFT_MBOX_COPY,
	/* copies, but none of this message (taking it failed, or it was
	   indexed without the mail's precache): reading the message again
	   would move the stream the fts plugin reads, so don't */
	SIFT_MBOX_NO_COPY,
};

enum sift_mbox_copy_state
sift_mbox_message_copy(struct mailbox *box, uint32_t uid,
		       struct istream **input_r);

/* The received date of the copied message uid (*have_date_r: it could be
   read), taken with the copy. */
enum sift_mbox_copy_state
sift_mbox_received_date(struct mailbox *box, uint32_t uid, time_t *date_r,
			bool *have_date_r);

void fts_sift_mbox_hooks_add(struct module *module);
void fts_sift_mbox_hooks_remove(void);

#endif
