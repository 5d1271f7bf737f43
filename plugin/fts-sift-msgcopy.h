/* fts-sift-msgcopy.h: where the mails of a message share one stream (mbox;
   any format with zlib/mail_compress or mail_crypt loaded), the backend
   reads a message again from a private copy taken before the fts plugin
   read it, not through a mail (fts-sift-msgcopy.c). */
#ifndef FTS_SIFT_MSGCOPY_H
#define FTS_SIFT_MSGCOPY_H

struct module;
struct mailbox;
struct istream;

enum sift_msgcopy_state {
	/* a mailbox whose messages are not copied (not mbox, no
	   stream-sharing plugin): read the message through a mail */
	SIFT_MSGCOPY_NOT_NEEDED,
	/* copies, and *input_r is the message's copy (owned by the mailbox:
	   valid until the next message's precache; seek it before use) */
	SIFT_MSGCOPY_COPY,
	/* copies, but none of this message (taking it failed, or it was
	   indexed without the mail's precache): reading the message again
	   would move the stream the fts plugin reads, so don't */
	SIFT_MSGCOPY_NO_COPY,
};

enum sift_msgcopy_state
sift_msgcopy_message(struct mailbox *box, uint32_t uid,
		     struct istream **input_r);

/* The received date of the copied message uid (*have_date_r: it could be
   read), taken with the copy: on mbox, reading it later could read the
   shared stream (the From_ line).  SIFT_MSGCOPY_NOT_NEEDED: read it
   through a mail. */
enum sift_msgcopy_state
sift_msgcopy_received_date(struct mailbox *box, uint32_t uid,
			   time_t *date_r, bool *have_date_r);

void fts_sift_msgcopy_hooks_add(struct module *module);
void fts_sift_msgcopy_hooks_remove(void);

#endif
