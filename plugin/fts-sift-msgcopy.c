/* fts-sift-msgcopy.c: a private copy of each message the fts plugin
   indexes, taken before the fts plugin reads it, where the mails of a
   message share one stream (mbox, or a stream-caching plugin loaded).

   Why: while the fts plugin reads a message, the backend reads it again
   through a mail of its own (the header check, the address headers of
   attached messages and the source of HTML parts: fts-backend-sift.c).
   Every mail of an mbox mailbox reads one shared stream that Dovecot
   positions at one message at a time, so a second reader moves it under
   the fts plugin: measured on Dovecot 2.3, the fts plugin's own read of
   the message then ended after its first header line ("Cached message
   size larger than expected", the message indexed without its body) and
   an HTML part read after the message failed an assertion in Dovecot's
   mbox stream (the indexer-worker died on every such message).

   The same holds on any format where a plugin caches the message's
   decoded stream per user: zlib (2.4: mail_compress) and mail_crypt give
   every mail of the message they read last one shared stream and seek it
   back to the start when another mail opens it
   (SIFT_COMPAT_STREAM_CACHE_PLUGINS).  Measured on 2.3 with mdbox,
   zlib_save = gz and mail_attachment_dir: the backend's header check
   opened the message while the fts plugin read it and the indexer-worker
   panicked in Dovecot's attachment stream ("istream-concat.c: assertion
   failed: (cur_data_pos == data_size)") on every message with an
   externalized attachment, so those mailboxes were never indexed.  With
   such a plugin loaded, mailboxes of every format get the copy.  Maildir
   and dbox without them open each message's own file for each mail.

   The copy is made in the mail's precache (which the fts plugin's own
   precache, called next, builds the index from), so the shared stream
   has one reader at a time: the copy is read whole first, then the fts
   plugin reads the message as it always does.  It holds the message in
   memory up to SIFT_MSGCOPY_MEMORY and in an unlinked temporary file
   beyond, and lives until the next message's copy or the mailbox's
   close.  The message's received date is taken with it: mbox reads an
   uncached one from the message's From_ line, through the same shared
   stream.

   (A deleted mailbox's index: fts-sift-delete.c.) */
#include "lib.h"
#include "str.h"
#include "istream.h"
#include "safe-mkstemp.h"
#include "write-full.h"
#include "mail-user.h"
#include "mail-storage-private.h"
#include "mail-storage-hooks.h"
#include "fts-api-private.h"
#include "fts-storage.h"
#include "fts-sift-plugin.h"
#include "sift-compat.h"
#include "fts-sift-msgcopy.h"

#include <unistd.h>
#include <dlfcn.h>

/* a larger message is copied to a temporary file */
#define SIFT_MSGCOPY_MEMORY (1024 * 1024)

#define SIFT_MSGCOPY_CONTEXT(obj) \
	MODULE_CONTEXT(obj, sift_msgcopy_storage_module)
#define SIFT_MSGCOPY_MAIL_CONTEXT(obj) \
	MODULE_CONTEXT(obj, sift_msgcopy_mail_module)

/* The context of a mailbox whose messages are copied (only those get
   one). */
struct sift_msgcopy_mailbox {
	union mailbox_module_context module_ctx;
	/* the copy of message uid (NULL: none, or taking it failed and
	   the error was logged) */
	uint32_t uid;
	struct istream *copy;
	/* the message's received date (INTERNALDATE), if it could be
	   read */
	time_t received;
	bool have_received;
};

static MODULE_CONTEXT_DEFINE_INIT(sift_msgcopy_storage_module,
				  &mail_storage_module_register);
static MODULE_CONTEXT_DEFINE_INIT(sift_msgcopy_mail_module,
				  &mail_module_register);

static bool sift_msgcopy_box_is_mbox(struct mailbox *box)
{
	return strcmp(box->storage->name, "mbox") == 0;
}

/* A plugin that shares one decoded stream between the mails of a message
   is loaded in this process (its name), or NULL.

   Only a plugin found is remembered (per process), not its absence:
   Dovecot loads a user's mail_plugins when it sets the user up
   (mail_storage_service's module_dir_load_missing()), so a process that
   serves several users one after another (doveadm -A, lmtp, imap with
   service_count > 1) may load zlib for a later user after an earlier one
   found none.  A loaded module stays until the process ends, so a plugin
   found stays found.  Without one, each mailbox looks again (one dlsym()
   a name).  (A plugin loaded for another user of the process counts
   too, as it did before this was remembered: the copies are then work
   not needed, never wrong.) */
static const char *sift_msgcopy_stream_cache_plugin(void)
{
	static const char *const inits[] = {
		SIFT_COMPAT_STREAM_CACHE_PLUGINS
	};
	static const char *found = NULL;
	unsigned int i;

	for (i = 0; found == NULL && i < N_ELEMENTS(inits); i++) {
		if (dlsym(RTLD_DEFAULT, inits[i]) != NULL)
			found = inits[i];
	}
	if (found == NULL)
		return NULL;
	return t_strndup(found, strlen(found) - strlen("_plugin_init"));
}

/* Whether box's messages are copied before they are indexed: they are
   read through a stream that mails of the same message share (mbox, or
   a stream-caching plugin). */
static bool sift_msgcopy_box_copies(struct mailbox *box)
{
	const char *plugin;

	if (sift_msgcopy_box_is_mbox(box))
		return TRUE;
	/* (a virtual mailbox's messages are indexed in their own
	   mailboxes) */
	if (strcmp(box->storage->name, "virtual") == 0)
		return FALSE;
	plugin = sift_msgcopy_stream_cache_plugin();
	if (plugin == NULL)
		return FALSE;
	e_debug(box->event, "fts-sift: %s shares a message's stream between "
		"its mails: each message is copied before it is indexed",
		plugin);
	return TRUE;
}

/* Write the rest of input to a new unlinked temporary file of the
   user's; returns its fd (at offset 0) or -1 with error_r. */
static int sift_msgcopy_to_file(struct mailbox *box, struct istream *input,
				const unsigned char *head, size_t head_size,
				const char **error_r)
{
	string_t *path = t_str_new(128);
	const unsigned char *data;
	size_t size;
	int fd, ret;

	mail_user_set_get_temp_prefix(path, box->storage->user->set);
	fd = safe_mkstemp_hostpid(path, 0600, (uid_t)-1, (gid_t)-1);
	if (fd == -1) {
		*error_r = t_strdup_printf("safe_mkstemp(%s) failed: %m",
					   str_c(path));
		return -1;
	}
	i_unlink(str_c(path));
	ret = write_full(fd, head, head_size) < 0 ? -1 : 0;
	while (ret == 0 && i_stream_read_more(input, &data, &size) > 0) {
		if (write_full(fd, data, size) < 0)
			ret = -1;
		i_stream_skip(input, size);
	}
	if (ret < 0) {
		*error_r = t_strdup_printf("write(%s) failed: %m", str_c(path));
		i_close_fd(&fd);
		return -1;
	}
	if (input->stream_errno != 0) {
		*error_r = t_strdup_printf("read(%s) failed: %s",
					   i_stream_get_name(input),
					   i_stream_get_error(input));
		i_close_fd(&fd);
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		*error_r = t_strdup_printf("lseek(%s) failed: %m", str_c(path));
		i_close_fd(&fd);
		return -1;
	}
	return fd;
}

/* Take the copy of mail's message (replacing the last one). */
static void sift_msgcopy_take_copy(struct sift_msgcopy_mailbox *cbox,
				   struct mail *mail)
{
	struct istream *input;
	const unsigned char *data;
	const char *error = NULL;
	buffer_t *buf;
	size_t size;
	int ret, fd;

	i_stream_unref(&cbox->copy);
	cbox->uid = mail->uid;
	/* (mbox reads it from the message's From_ line if it is not
	   cached: here, before the fts plugin reads the message) */
	cbox->have_received =
		mail_get_received_date(mail, &cbox->received) == 0;
	if (mail_get_stream_because(mail, NULL, NULL, "fts-sift message copy",
				    &input) < 0) {
		/* the fts plugin can't read it either: it reports that */
		return;
	}
	i_stream_seek(input, 0);
	buf = buffer_create_dynamic(default_pool, 4096);
	while ((ret = i_stream_read_more(input, &data, &size)) > 0 &&
	       buf->used + size <= SIFT_MSGCOPY_MEMORY) {
		buffer_append(buf, data, size);
		i_stream_skip(input, size);
	}
	if (ret > 0) {
		fd = sift_msgcopy_to_file(mail->box, input, buf->data,
					  buf->used, &error);
		if (fd != -1) {
			cbox->copy = i_stream_create_fd_autoclose(&fd,
				MAIL_READ_FULL_BLOCK_SIZE);
			i_stream_set_name(cbox->copy, t_strdup_printf(
				"fts-sift copy of uid %u", mail->uid));
		}
	} else if (input->stream_errno != 0) {
		error = t_strdup_printf("read(%s) failed: %s",
					i_stream_get_name(input),
					i_stream_get_error(input));
	} else {
		cbox->copy = i_stream_create_copy_from_data(buf->data,
							    buf->used);
		i_stream_set_name(cbox->copy, t_strdup_printf(
			"fts-sift copy of uid %u", mail->uid));
	}
	buffer_free(&buf);
	/* the fts plugin reads it from the start, as if never read */
	i_stream_seek(input, 0);
	if (cbox->copy == NULL && error != NULL) {
		e_error(mail_event(mail), "fts-sift: Couldn't copy the "
			"message to index it (%s); its searches are "
			"left to Dovecot", error);
	}
}

static int sift_msgcopy_precache(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *mmail = SIFT_MSGCOPY_MAIL_CONTEXT(mail);
	struct sift_msgcopy_mailbox *cbox = SIFT_MSGCOPY_CONTEXT(_mail->box);

	if (cbox != NULL) T_BEGIN {
		sift_msgcopy_take_copy(cbox, _mail);
	} T_END;
	return mmail->super.precache(_mail);
}

static void sift_msgcopy_mail_allocated(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	struct mail_vfuncs *v = mail->vlast;
	union mail_module_context *mmail;
	struct sift_msgcopy_mailbox *cbox = SIFT_MSGCOPY_CONTEXT(_mail->box);

	if (cbox == NULL)
		return;
	mmail = p_new(mail->pool, union mail_module_context, 1);
	mmail->super = *v;
	mail->vlast = &mmail->super;
	v->precache = sift_msgcopy_precache;
	MODULE_CONTEXT_SET_SELF(mail, sift_msgcopy_mail_module, mmail);
}

static void sift_msgcopy_mailbox_free(struct mailbox *box)
{
	struct sift_msgcopy_mailbox *cbox = SIFT_MSGCOPY_CONTEXT(box);

	i_stream_unref(&cbox->copy);
	cbox->module_ctx.super.free(box);
}

static void sift_msgcopy_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct fts_backend *backend = fts_list_backend(box->list);
	struct sift_msgcopy_mailbox *cbox;

	/* only the mailboxes sift indexes, and of those only the ones
	   whose messages share a stream */
	if (backend == NULL || strcmp(backend->name, fts_backend_sift.name) != 0)
		return;
	if (!sift_msgcopy_box_copies(box))
		return;
	cbox = p_new(box->pool, struct sift_msgcopy_mailbox, 1);
	cbox->module_ctx.super = *v;
	box->vlast = &cbox->module_ctx.super;
	v->free = sift_msgcopy_mailbox_free;
	MODULE_CONTEXT_SET(box, sift_msgcopy_storage_module, cbox);
}

/* The state of box's copy of uid; the mailbox's context if it is a
   copy of uid. */
static enum sift_msgcopy_state
sift_msgcopy_copy_of(struct mailbox *box, uint32_t uid,
		     struct sift_msgcopy_mailbox **cbox_r)
{
	struct sift_msgcopy_mailbox *cbox = SIFT_MSGCOPY_CONTEXT(box);

	*cbox_r = NULL;
	if (cbox == NULL)
		return SIFT_MSGCOPY_NOT_NEEDED;
	if (cbox->uid != uid || cbox->copy == NULL)
		return SIFT_MSGCOPY_NO_COPY;
	*cbox_r = cbox;
	return SIFT_MSGCOPY_COPY;
}

enum sift_msgcopy_state
sift_msgcopy_message(struct mailbox *box, uint32_t uid,
		     struct istream **input_r)
{
	struct sift_msgcopy_mailbox *cbox;
	enum sift_msgcopy_state state = sift_msgcopy_copy_of(box, uid, &cbox);

	*input_r = cbox == NULL ? NULL : cbox->copy;
	return state;
}

enum sift_msgcopy_state
sift_msgcopy_received_date(struct mailbox *box, uint32_t uid,
			   time_t *date_r, bool *have_date_r)
{
	struct sift_msgcopy_mailbox *cbox;
	enum sift_msgcopy_state state = sift_msgcopy_copy_of(box, uid, &cbox);

	*have_date_r = cbox != NULL && cbox->have_received;
	if (*have_date_r)
		*date_r = cbox->received;
	return state;
}

static struct mail_storage_hooks sift_msgcopy_hooks = {
	.mailbox_allocated = sift_msgcopy_mailbox_allocated,
	.mail_allocated = sift_msgcopy_mail_allocated,
};

void fts_sift_msgcopy_hooks_add(struct module *module)
{
	mail_storage_hooks_add(module, &sift_msgcopy_hooks);
}

void fts_sift_msgcopy_hooks_remove(void)
{
	mail_storage_hooks_remove(&sift_msgcopy_hooks);
}
