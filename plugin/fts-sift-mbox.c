/* fts-sift-mbox.c: on mbox, a private copy of each message the fts plugin
   indexes, taken before the fts plugin reads it.

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
   memory up to SIFT_MBOX_COPY_MEMORY and in an unlinked temporary file
   beyond, and lives until the next message's copy or the mailbox's
   close.

   And a DELETE of a mailbox whose index directory is not the mailbox's
   own directory removes Dovecot's index files from it but not the
   plugin's fts-sift/ beside them (nor the directory, then not empty):
   mbox (.imap/<name>/), and every format with INDEX= elsewhere
   (maildir: <INDEX>/.<name>/); and where it is the mailbox's own
   directory, Dovecot may keep the directory because of it (maildir
   LAYOUT=fs).  A mailbox created again under the name found the old
   index, which its UIDVALIDITY check rebuilt (with a warning) at the
   first use, and every deleted mailbox's index stayed on disk until
   then.  So the delete removes it too, for every mailbox fts-sift
   indexes. */
#include "lib.h"
#include "str.h"
#include "istream.h"
#include "safe-mkstemp.h"
#include "write-full.h"
#include "unlink-directory.h"
#include "mail-user.h"
#include "mail-storage-private.h"
#include "mail-storage-hooks.h"
#include "fts-api-private.h"
#include "fts-storage.h"
#include "fts-sift-plugin.h"
#include "fts-backend-sift.h"
#include "sift-index.h"
#include "sift-compat.h"
#include "fts-sift-mbox.h"

#include <unistd.h>
#include <dlfcn.h>

/* a larger message is copied to a temporary file */
#define SIFT_MBOX_COPY_MEMORY (1024 * 1024)

#define SIFT_MBOX_CONTEXT(obj) \
	MODULE_CONTEXT(obj, sift_mbox_storage_module)
#define SIFT_MBOX_MAIL_CONTEXT(obj) \
	MODULE_CONTEXT(obj, sift_mbox_mail_module)

struct sift_mbox_mailbox {
	union mailbox_module_context module_ctx;
	/* messages are copied before they are indexed (shared streams) */
	bool copies;
	/* the copy of message uid (NULL: none; copy_failed: taking it
	   failed, the error was logged) */
	uint32_t uid;
	struct istream *copy;
	bool copy_failed;
	/* the message's received date (INTERNALDATE), if it could be
	   read */
	time_t received;
	bool have_received;
};

static MODULE_CONTEXT_DEFINE_INIT(sift_mbox_storage_module,
				  &mail_storage_module_register);
static MODULE_CONTEXT_DEFINE_INIT(sift_mbox_mail_module,
				  &mail_module_register);

static bool sift_mbox_box_is_mbox(struct mailbox *box)
{
	return strcmp(box->storage->name, "mbox") == 0;
}

/* A plugin that shares one decoded stream between the mails of a message
   is loaded in this process (its name), or NULL. */
static const char *sift_mbox_stream_cache_plugin(void)
{
	static const char *const inits[] = {
		SIFT_COMPAT_STREAM_CACHE_PLUGINS
	};
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(inits); i++) {
		if (dlsym(RTLD_DEFAULT, inits[i]) != NULL)
			return t_strndup(inits[i], strlen(inits[i]) -
					 strlen("_plugin_init"));
	}
	return NULL;
}

static bool sift_mbox_box_is_ours(struct mailbox *box)
{
	struct fts_backend *backend = fts_list_backend(box->list);

	return backend != NULL &&
		strcmp(backend->name, fts_backend_sift.name) == 0;
}

/* Whether box's messages are copied before they are indexed: they are
   read through a stream that mails of the same message share (mbox, or
   a stream-caching plugin). */
static bool sift_mbox_box_copies(struct mailbox *box)
{
	const char *plugin;

	if (sift_mbox_box_is_mbox(box))
		return TRUE;
	/* (a virtual mailbox's messages are indexed in their own
	   mailboxes) */
	if (strcmp(box->storage->name, "virtual") == 0)
		return FALSE;
	plugin = sift_mbox_stream_cache_plugin();
	if (plugin == NULL)
		return FALSE;
	e_debug(box->event, "fts-sift: %s shares a message's stream between "
		"its mails: each message is copied before it is indexed",
		plugin);
	return TRUE;
}

/* Write the rest of input to a new unlinked temporary file of the
   user's; returns its fd (at offset 0) or -1 with error_r. */
static int sift_mbox_copy_to_file(struct mailbox *box, struct istream *input,
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
static void sift_mbox_take_copy(struct sift_mbox_mailbox *mbox,
				struct mail *mail)
{
	struct istream *input;
	const unsigned char *data;
	const char *error = NULL;
	buffer_t *buf;
	size_t size;
	int ret, fd;

	i_stream_unref(&mbox->copy);
	mbox->uid = mail->uid;
	mbox->copy_failed = FALSE;
	/* (mbox reads it from the message's From_ line if it is not
	   cached: here, before the fts plugin reads the message) */
	mbox->have_received =
		mail_get_received_date(mail, &mbox->received) == 0;
	if (mail_get_stream_because(mail, NULL, NULL, "fts-sift mbox copy",
				    &input) < 0) {
		/* the fts plugin can't read it either: it reports that */
		mbox->copy_failed = TRUE;
		return;
	}
	i_stream_seek(input, 0);
	buf = buffer_create_dynamic(default_pool, 4096);
	while ((ret = i_stream_read_more(input, &data, &size)) > 0 &&
	       buf->used + size <= SIFT_MBOX_COPY_MEMORY) {
		buffer_append(buf, data, size);
		i_stream_skip(input, size);
	}
	if (ret > 0) {
		fd = sift_mbox_copy_to_file(mail->box, input, buf->data,
					    buf->used, &error);
		if (fd != -1) {
			mbox->copy = i_stream_create_fd_autoclose(&fd,
				MAIL_READ_FULL_BLOCK_SIZE);
			i_stream_set_name(mbox->copy, t_strdup_printf(
				"fts-sift copy of uid %u", mail->uid));
		}
	} else if (input->stream_errno != 0) {
		error = t_strdup_printf("read(%s) failed: %s",
					i_stream_get_name(input),
					i_stream_get_error(input));
	} else {
		mbox->copy = i_stream_create_copy_from_data(buf->data,
							    buf->used);
		i_stream_set_name(mbox->copy, t_strdup_printf(
			"fts-sift copy of uid %u", mail->uid));
	}
	buffer_free(&buf);
	/* the fts plugin reads it from the start, as if never read */
	i_stream_seek(input, 0);
	if (mbox->copy == NULL) {
		mbox->copy_failed = TRUE;
		if (error != NULL) {
			e_error(mail_event(mail), "fts-sift: Couldn't copy the "
				"message to index it (%s); its searches are "
				"left to Dovecot", error);
		}
	}
}

static int sift_mbox_precache(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *mmail = SIFT_MBOX_MAIL_CONTEXT(mail);
	struct sift_mbox_mailbox *mbox = SIFT_MBOX_CONTEXT(_mail->box);

	if (mbox != NULL) T_BEGIN {
		sift_mbox_take_copy(mbox, _mail);
	} T_END;
	return mmail->super.precache(_mail);
}

static void sift_mbox_mail_allocated(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	struct mail_vfuncs *v = mail->vlast;
	union mail_module_context *mmail;
	struct sift_mbox_mailbox *mbox = SIFT_MBOX_CONTEXT(_mail->box);

	if (mbox == NULL || !mbox->copies)
		return;
	mmail = p_new(mail->pool, union mail_module_context, 1);
	mmail->super = *v;
	mail->vlast = &mmail->super;
	v->precache = sift_mbox_precache;
	MODULE_CONTEXT_SET_SELF(mail, sift_mbox_mail_module, mmail);
}

static void sift_mbox_mailbox_free(struct mailbox *box)
{
	struct sift_mbox_mailbox *mbox = SIFT_MBOX_CONTEXT(box);

	i_stream_unref(&mbox->copy);
	mbox->module_ctx.super.free(box);
}

static int sift_mbox_delete_box(struct mailbox *box)
{
	struct sift_mbox_mailbox *mbox = SIFT_MBOX_CONTEXT(box);
	const char *path = NULL, *slash, *error;
	enum unlink_directory_flags flags = UNLINK_DIRECTORY_FLAG_RMDIR;

	/* (the path while the mailbox still exists) */
	if (sift_index_path(box, &path) <= 0)
		path = NULL;
	else
		path = t_strdup(path);
	/* (not before: Dovecot expunges the mailbox's messages first, and
	   the fts plugin's expunges open the index again) */
	if (mbox->module_ctx.super.delete_box(box) < 0)
		return -1;
	if (path == NULL)
		return 0;
	if (unlink_directory(path, flags, &error) < 0 && errno != ENOENT) {
		e_warning(box->event, "fts-sift: Couldn't remove the index "
			  "of the deleted mailbox: %s", error);
		return 0;
	}
	/* the directory Dovecot emptied but could not remove because of
	   fts-sift/ (.imap/<name>, <INDEX>/.<name>, maildir LAYOUT=fs's
	   <name>/); one that still holds anything (a child mailbox) stays */
	slash = strrchr(path, '/');
	if (slash != NULL && rmdir(t_strdup_until(path, slash)) < 0 &&
	    errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST) {
		e_debug(box->event, "fts-sift: rmdir of the deleted mailbox's "
			"index directory failed: %m");
	}
	return 0;
}

static void sift_mbox_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct sift_mbox_mailbox *mbox;

	if (!sift_mbox_box_is_ours(box))
		return;
	mbox = p_new(box->pool, struct sift_mbox_mailbox, 1);
	mbox->copies = sift_mbox_box_copies(box);
	mbox->module_ctx.super = *v;
	box->vlast = &mbox->module_ctx.super;
	v->free = sift_mbox_mailbox_free;
	v->delete_box = sift_mbox_delete_box;
	MODULE_CONTEXT_SET(box, sift_mbox_storage_module, mbox);
}

/* The state of box's copy of uid; the mailbox's context if it is a
   copy of uid. */
static enum sift_mbox_copy_state
sift_mbox_copy_of(struct mailbox *box, uint32_t uid,
		  struct sift_mbox_mailbox **mbox_r)
{
	struct sift_mbox_mailbox *mbox = SIFT_MBOX_CONTEXT(box);

	*mbox_r = NULL;
	if (mbox == NULL || !mbox->copies)
		return SIFT_MBOX_NOT_MBOX;
	if (mbox->uid != uid || mbox->copy == NULL)
		return SIFT_MBOX_NO_COPY;
	*mbox_r = mbox;
	return SIFT_MBOX_COPY;
}

enum sift_mbox_copy_state
sift_mbox_message_copy(struct mailbox *box, uint32_t uid,
		       struct istream **input_r)
{
	struct sift_mbox_mailbox *mbox;
	enum sift_mbox_copy_state state = sift_mbox_copy_of(box, uid, &mbox);

	*input_r = mbox == NULL ? NULL : mbox->copy;
	return state;
}

enum sift_mbox_copy_state
sift_mbox_received_date(struct mailbox *box, uint32_t uid, time_t *date_r,
			bool *have_date_r)
{
	struct sift_mbox_mailbox *mbox;
	enum sift_mbox_copy_state state = sift_mbox_copy_of(box, uid, &mbox);

	*have_date_r = mbox != NULL && mbox->have_received;
	if (*have_date_r)
		*date_r = mbox->received;
	return state;
}

static struct mail_storage_hooks sift_mbox_hooks = {
	.mailbox_allocated = sift_mbox_mailbox_allocated,
	.mail_allocated = sift_mbox_mail_allocated,
};

void fts_sift_mbox_hooks_add(struct module *module)
{
	mail_storage_hooks_add(module, &sift_mbox_hooks);
}

void fts_sift_mbox_hooks_remove(void)
{
	mail_storage_hooks_remove(&sift_mbox_hooks);
}
