/* doveadm-fts-sift.c: the doveadm module (lib21_doveadm_fts_sift_plugin.so,
   in Dovecot's doveadm module directory).

     doveadm fts-sift status [-u user|-A] [<mailbox mask> ...]
     doveadm fts-sift check  [-u user|-A] [<mailbox mask> ...]
     doveadm fts-sift remove [-u user|-A] <mailbox mask> ...
     doveadm fts-sift stale  [-u user|-A] [<mailbox mask> ...]

   Output goes through doveadm's formatter (-f table|json|tab|flow|pager).

   It also makes Dovecot's own "doveadm fts tokenize" and "doveadm fts
   expand" work for users whose backend is sift.  Those two commands take
   the user's lib-fts language list for granted, which exists only when the
   backend asked Dovecot to initialize lib-fts (fts_mail_user_init(user,
   TRUE)); fts-sift does its own text processing, passes FALSE, and the
   commands then dereferenced a NULL list (SIGSEGV).  Initializing lib-fts
   instead would need fts_languages, a setting fts-sift ignores, and would
   print tokens fts-sift never uses.  So for a sift user the two commands
   print what fts-sift does: tokenize shows fts-sift's own tokens of the
   text, expand shows the search arguments unchanged (fts-sift receives
   them unexpanded).  Other backends keep Dovecot's own code.

   The module is self-contained: the main plugin exports only its four
   entry points (plugin/fts-sift.map), so the Xapian wrapper and the text
   pipeline are linked into this module too, and this module in turn
   exports only its own entry points (plugin/doveadm-fts-sift.map).  It
   reads indexes with the read-only calls of the wrapper and never writes
   one, except "remove".  "check" also verifies the side files with the
   plugin's own reader (sift-record.c: every record up to the committed
   length of the committed generation), so it links that too. */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "strescape.h"
#include "unlink-directory.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#include "mail-search.h"
#include "mailbox-list-iter.h"
#include "fts-api-private.h"
#include "fts-storage.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"
#include "doveadm-mailbox-list-iter.h"
#include "sift-text.h"
#include "sift-xapian.h"
#include "sift-index.h"
#include "sift-termfiles.h"
#include "sift-phrase-filter.h"
#include "sift-record.h"
#include "doveadm-fts-sift.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* must match SIFT_INDEX_DIR_NAME in sift-index.c */
#define SIFT_DOVEADM_INDEX_DIR "fts-sift"
/* the backend name users configure (fts = sift) */
#define SIFT_DOVEADM_BACKEND_NAME "sift"

const char *doveadm_fts_sift_plugin_version = DOVECOT_ABI_VERSION;
/* Dovecot's doveadm fts module registers the "fts" commands wrapped
   below; it is loaded first (its name sorts first). */

void doveadm_fts_sift_plugin_init(struct module *module);
void doveadm_fts_sift_plugin_deinit(void);

enum sift_box_state {
	SIFT_BOX_OK,
	/* no index directory (never indexed, or removed) */
	SIFT_BOX_MISSING,
	/* indexed, but not up to the mailbox's last message */
	SIFT_BOX_BEHIND,
	/* another format or text engine: the next indexing rebuilds it */
	SIFT_BOX_OUTDATED,
	/* can't be opened or read */
	SIFT_BOX_DAMAGED,
};

static const char *const sift_box_state_names[] = {
	"ok", "missing", "behind", "outdated", "damaged",
};

/* What the index of one mailbox holds. */
struct sift_box_info {
	const char *path;
	enum sift_box_state state;
	const char *problem;
	uint32_t documents, last_uid, mailbox_last_uid, expunged;
	const char *format, *text_engine;
	uoff_t xapian_bytes, terms_bytes, opaque_bytes, gaps_bytes,
		other_bytes;
};

static bool sift_user_is_sift(struct mail_namespace *ns)
{
	struct fts_backend *backend = fts_list_backend(ns->list);

	return backend != NULL &&
		strcmp(backend->name, SIFT_DOVEADM_BACKEND_NAME) == 0;
}

/* The text engine id an index of ns must have been built with (the same
   function the plugin uses, on the settings read the same way), or NULL
   with *error_r set if the settings can't be read. */
static const char *sift_expected_text_id(struct mail_namespace *ns,
					 const char **error_r)
{
	bool fold, decoded;

	if (sift_doveadm_text_settings(ns, &fold, &decoded, error_r) < 0)
		return NULL;
	return sift_text_engine_id(fold, decoded);
}

/* Number of UIDs in a "1-5,7" list (SIFT_META_EXPUNGED). */
static uint32_t sift_count_uid_ranges(const char *text)
{
	const char *const *items = t_strsplit(text, ",");
	uint32_t count = 0, lo, hi;

	for (; *items != NULL; items++) {
		const char *dash = strchr(*items, '-');

		if (**items == '\0')
			continue;
		if (dash == NULL) {
			if (str_to_uint32(*items, &lo) == 0)
				count++;
		} else if (str_to_uint32(t_strdup_until(*items, dash),
					 &lo) == 0 &&
			   str_to_uint32(dash + 1, &hi) == 0 && hi >= lo) {
			count += hi - lo + 1;
		}
	}
	return count;
}

static void sift_dir_sizes(struct sift_box_info *info)
{
	DIR *dir = opendir(info->path);
	struct dirent *d;
	struct stat st;

	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		const char *name = d->d_name;

		if (name[0] == '.')
			continue;
		if (stat(t_strconcat(info->path, "/", name, NULL), &st) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (strcmp(name, "terms") == 0)
			info->terms_bytes += st.st_size;
		else if (strcmp(name, "opaque") == 0)
			info->opaque_bytes += st.st_size;
		else if (strcmp(name, "gaps") == 0)
			info->gaps_bytes += st.st_size;
		else if ((strlen(name) > 6 &&
			  strcmp(name + strlen(name) - 6, ".glass") == 0) ||
			 strcmp(name, "iamglass") == 0 ||
			 strcmp(name, "flintlock") == 0)
			info->xapian_bytes += st.st_size;
		else
			info->other_bytes += st.st_size;
	}
	(void)closedir(dir);
}

static const char *sift_meta(struct sift_xdb *db, const char *key,
			     const char **error_r, bool *failed)
{
	char *value;
	const char *ret;

	if (*failed)
		return NULL;
	if (sift_xdb_get_metadata(db, key, &value, error_r) != SIFT_X_OK) {
		*failed = TRUE;
		return NULL;
	}
	ret = t_strdup(value);
	free(value);
	return ret;
}

/* Fill info for box.  Returns 0, or -1 if the mailbox itself can't be
   read (error set). */
static int sift_box_info_get(struct mailbox *box, struct sift_box_info *info,
			     const char **error_r)
{
	struct mailbox_status status;
	struct sift_xdb *db;
	enum sift_xstatus xstatus;
	const char *dir, *last_uid, *expunged, *want_text, *error;
	bool failed = FALSE;
	struct stat st;

	i_zero(info);
	if (mailbox_get_status(box, STATUS_UIDNEXT, &status) < 0) {
		*error_r = mailbox_get_last_internal_error(box, NULL);
		return -1;
	}
	info->mailbox_last_uid = status.uidnext > 0 ? status.uidnext - 1 : 0;
	if (mailbox_get_path_to(box, MAILBOX_LIST_PATH_TYPE_INDEX, &dir) <= 0) {
		/* INDEX=MEMORY: nowhere to keep an index */
		info->state = SIFT_BOX_MISSING;
		info->problem = "mailbox has no index directory";
		return 0;
	}
	info->path = t_strconcat(dir, "/"SIFT_DOVEADM_INDEX_DIR, NULL);
	if (stat(info->path, &st) < 0) {
		info->state = SIFT_BOX_MISSING;
		info->problem = errno == ENOENT ? "no index" :
			t_strdup_printf("stat(%s) failed: %m", info->path);
		if (errno != ENOENT)
			info->state = SIFT_BOX_DAMAGED;
		return 0;
	}
	sift_dir_sizes(info);
	xstatus = sift_xdb_open(info->path, 0, &db, &error);
	if (xstatus != SIFT_X_OK) {
		info->state = xstatus == SIFT_X_NOT_FOUND ?
			SIFT_BOX_MISSING : SIFT_BOX_DAMAGED;
		info->problem = t_strdup(error);
		return 0;
	}
	if (sift_xdb_stats(db, &info->documents, &info->last_uid,
			   &error) != SIFT_X_OK)
		failed = TRUE;
	info->format = sift_meta(db, SIFT_META_FORMAT, &error, &failed);
	info->text_engine = sift_meta(db, SIFT_META_TEXT, &error, &failed);
	last_uid = sift_meta(db, SIFT_META_LAST_UID, &error, &failed);
	expunged = sift_meta(db, SIFT_META_EXPUNGED, &error, &failed);
	sift_xdb_close(&db);
	if (failed) {
		info->state = SIFT_BOX_DAMAGED;
		info->problem = t_strdup(error);
		return 0;
	}
	info->last_uid = 0;
	if (last_uid != NULL && str_to_uint32(last_uid, &info->last_uid) < 0) {
		info->state = SIFT_BOX_DAMAGED;
		info->problem = t_strdup_printf("invalid %s '%s'",
						SIFT_META_LAST_UID, last_uid);
		return 0;
	}
	if (expunged != NULL)
		info->expunged = sift_count_uid_ranges(expunged);
	if (info->format == NULL) {
		info->state = SIFT_BOX_BEHIND;
		info->problem = "nothing committed yet";
	} else if (strcmp(info->format, SIFT_FORMAT_VERSION) != 0) {
		info->state = SIFT_BOX_OUTDATED;
		info->problem = t_strdup_printf("format %s, this version "
						"writes %s", info->format,
						SIFT_FORMAT_VERSION);
	} else if ((want_text = sift_expected_text_id(
			mailbox_get_namespace(box), &error)) == NULL) {
		*error_r = t_strdup_printf("Can't read the settings: %s",
					   error);
		return -1;
	} else if (info->text_engine == NULL ||
		   strcmp(info->text_engine, want_text) != 0) {
		info->state = SIFT_BOX_OUTDATED;
		info->problem = t_strdup_printf("built with %s, now %s",
			info->text_engine == NULL ? "unknown" :
			info->text_engine, want_text);
	} else if (info->last_uid < info->mailbox_last_uid) {
		info->state = SIFT_BOX_BEHIND;
		info->problem = t_strdup_printf("%u UIDs not indexed",
			info->mailbox_last_uid - info->last_uid);
	} else {
		info->state = SIFT_BOX_OK;
	}
	return 0;
}

/* What a rebuild without the expunged documents would give back: their
   share of the database (the side files are rewritten too, but their size
   depends on the terms only those documents held, which isn't known
   without the rebuild).  An estimate, documented as one. */
static uoff_t sift_box_reclaimable(const struct sift_box_info *info)
{
	if (info->documents == 0 || info->expunged == 0)
		return 0;
	return (uoff_t)((double)info->xapian_bytes *
			I_MIN(info->expunged, info->documents) /
			info->documents);
}

/* ---- the commands ---------------------------------------------------- */

enum sift_cmd {
	SIFT_CMD_STATUS,
	SIFT_CMD_CHECK,
	SIFT_CMD_REMOVE,
	SIFT_CMD_STALE,
};

struct sift_cmd_context {
	struct doveadm_mail_cmd_context ctx;
	enum sift_cmd cmd;
	bool damaged_found;
};

static void sift_print_status(struct sift_cmd_context *ctx,
			      const struct mailbox_info *minfo,
			      const struct sift_box_info *info)
{
	uoff_t total = info->xapian_bytes + info->terms_bytes +
		info->opaque_bytes + info->gaps_bytes + info->other_bytes;

	(void)ctx;
	doveadm_print(minfo->vname);
	doveadm_print(sift_box_state_names[info->state]);
	doveadm_print_num(info->documents);
	doveadm_print_num(info->last_uid);
	doveadm_print_num(info->mailbox_last_uid);
	doveadm_print_num(info->expunged);
	doveadm_print_num(total);
	doveadm_print_num(info->xapian_bytes);
	doveadm_print_num(info->terms_bytes);
	doveadm_print_num(info->opaque_bytes);
	doveadm_print_num(info->gaps_bytes);
	doveadm_print_num(sift_box_reclaimable(info));
	doveadm_print(info->format == NULL ? "" : info->format);
	doveadm_print(info->text_engine == NULL ? "" : info->text_engine);
	doveadm_print(info->problem == NULL ? "" : info->problem);
}

/* Verify the side files (terms, opaque, gaps) of the index at path
   against the state its database committed (sift.files), every record
   as a search reading them would.  Returns NULL if they are whole, else
   what is wrong. */
static const char *sift_check_side_files(const char *path)
{
	static const char *const kinds[] = {
		SIFT_TERMS_FILE, SIFT_OPAQUE_FILE, SIFT_GAPS_FILE
	};
	struct sift_files_state files;
	const struct sift_file_state *states[3];
	struct sift_xdb *db;
	struct sift_rfile file;
	const char *value, *error;
	bool failed = FALSE;
	unsigned int i;
	int ret;

	if (sift_xdb_open(path, 0, &db, &error) != SIFT_X_OK)
		return t_strdup(error);
	value = sift_meta(db, SIFT_META_FILES, &error, &failed);
	sift_xdb_close(&db);
	if (failed)
		return t_strdup(error);
	if (value == NULL || sift_files_state_parse(value, &files) < 0) {
		return t_strdup_printf("invalid %s '%s'", SIFT_META_FILES,
				       value == NULL ? "" : value);
	}
	states[0] = &files.terms;
	states[1] = &files.opaque;
	states[2] = &files.gaps;
	for (i = 0; i < N_ELEMENTS(kinds); i++) {
		ret = sift_rfile_open(t_strdup_printf("%s/%s", path, kinds[i]),
				      kinds[i], states[i], TRUE, &file, &error);
		if (ret <= 0)
			return t_strdup(error);
		sift_rfile_close(&file);
	}
	return NULL;
}

static void sift_do_check(struct sift_cmd_context *ctx,
			  const struct mailbox_info *minfo,
			  const struct sift_box_info *info)
{
	const char *error;
	size_t errors = 0;
	const char *result = sift_box_state_names[info->state];
	const char *detail = info->problem == NULL ? "" : info->problem;

	if (info->state != SIFT_BOX_MISSING && info->path != NULL) {
		if (sift_xdb_check(info->path, &errors, &error) != SIFT_X_OK) {
			errors = I_MAX(errors, 1);
			detail = t_strdup(error);
		} else if (errors > 0) {
			detail = t_strdup_printf("Xapian's check found %zu "
						 "problems", errors);
		} else if (info->state == SIFT_BOX_OK ||
			   info->state == SIFT_BOX_BEHIND) {
			/* (an outdated index has side files of another
			   format: the next indexing rebuilds it anyway) */
			const char *problem =
				sift_check_side_files(info->path);

			if (problem != NULL) {
				errors = 1;
				detail = problem;
			}
		}
		if (errors > 0 || info->state == SIFT_BOX_DAMAGED) {
			result = "damaged";
			ctx->damaged_found = TRUE;
		}
	}
	doveadm_print(minfo->vname);
	doveadm_print(result);
	doveadm_print_num(errors);
	doveadm_print(detail);
}

/* Remove box's index: take the writer lock (so no indexing process is in
   the middle of a commit), move the directory aside under a name no
   process opens, release the lock, delete it.  Any process opening the
   index afterwards finds none and Dovecot reindexes the mailbox. */
static int sift_do_remove(struct sift_cmd_context *ctx,
			  const struct mailbox_info *minfo,
			  const struct sift_box_info *info)
{
	struct sift_xdb *db = NULL;
	const char *aside, *error, *result = "removed";
	int ret = 0;

	if (info->path == NULL || info->state == SIFT_BOX_MISSING) {
		result = "no index";
	} else {
		enum sift_xstatus st = sift_xdb_open(info->path, SIFT_XDB_WRITE,
						     &db, &error);

		if (st == SIFT_X_LOCKED) {
			i_error("Index %s is being written by another "
				"process; try again later", info->path);
			ctx->ctx.exit_code = EX_TEMPFAIL;
			result = "busy";
			ret = -1;
		} else {
			/* a damaged index can't be opened: remove it all
			   the same */
			aside = t_strdup_printf("%s.removing-%ld-%ld",
						info->path, (long)getpid(),
						(long)time(NULL));
			if (rename(info->path, aside) < 0) {
				i_error("rename(%s, %s) failed: %m",
					info->path, aside);
				result = "failed";
				ret = -1;
			}
			sift_xdb_close(&db);
			if (ret == 0 &&
			    unlink_directory(aside,
					     UNLINK_DIRECTORY_FLAG_RMDIR,
					     &error) < 0) {
				i_error("Removing %s failed: %s", aside,
					error);
				result = "failed";
				ret = -1;
			}
		}
	}
	doveadm_print(minfo->vname);
	doveadm_print(result);
	doveadm_print(info->path == NULL ? "" : info->path);
	return ret;
}

static int sift_cmd_box(struct sift_cmd_context *ctx,
			const struct mailbox_info *minfo)
{
	struct mailbox *box;
	struct sift_box_info info;
	const char *error;
	int ret = 0;

	if (!sift_user_is_sift(minfo->ns)) {
		i_error("fts-sift is not the fts backend of mailbox %s",
			minfo->vname);
		ctx->ctx.exit_code = EX_CONFIG;
		return -1;
	}
	box = mailbox_alloc(minfo->ns->list, minfo->vname,
			    MAILBOX_FLAG_IGNORE_ACLS);
	if (sift_box_info_get(box, &info, &error) < 0) {
		i_error("Mailbox %s: %s", minfo->vname, error);
		doveadm_mail_failed_mailbox(&ctx->ctx, box);
		mailbox_free(&box);
		return -1;
	}
	switch (ctx->cmd) {
	case SIFT_CMD_STATUS:
		sift_print_status(ctx, minfo, &info);
		break;
	case SIFT_CMD_CHECK:
		sift_do_check(ctx, minfo, &info);
		break;
	case SIFT_CMD_REMOVE:
		ret = sift_do_remove(ctx, minfo, &info);
		break;
	case SIFT_CMD_STALE:
		if (info.state != SIFT_BOX_OK) {
			doveadm_print(minfo->vname);
			doveadm_print(sift_box_state_names[info.state]);
			doveadm_print_num(info.last_uid);
			doveadm_print_num(info.mailbox_last_uid);
			doveadm_print(info.problem == NULL ? "" :
				      info.problem);
		}
		break;
	}
	mailbox_free(&box);
	return ret;
}

static int sift_cmd_run(struct doveadm_mail_cmd_context *_ctx,
			struct mail_user *user)
{
	struct sift_cmd_context *ctx = (struct sift_cmd_context *)_ctx;
	const enum mailbox_list_iter_flags iter_flags =
		MAILBOX_LIST_ITER_NO_AUTO_BOXES |
		MAILBOX_LIST_ITER_RETURN_NO_FLAGS;
	struct doveadm_mailbox_list_iter *iter;
	const struct mailbox_info *minfo;
	int ret = 0;

	iter = doveadm_mailbox_list_iter_init(_ctx, user, _ctx->search_args,
					      iter_flags);
	while ((minfo = doveadm_mailbox_list_iter_next(iter)) != NULL) T_BEGIN {
		if (sift_cmd_box(ctx, minfo) < 0)
			ret = -1;
	} T_END;
	if (doveadm_mailbox_list_iter_deinit(&iter) < 0)
		ret = -1;
	if (ctx->damaged_found) {
		_ctx->exit_code = EX_DATAERR;
		ret = -1;
	}
	return ret;
}

static void sift_headers(enum sift_cmd cmd)
{
	static const char *const status_num[] = {
		"documents", "last_uid", "mailbox_last_uid", "expunged",
		"size", "xapian_size", "terms_size", "opaque_size",
		"gaps_size", "reclaimable", NULL
	};
	unsigned int i;

	doveadm_print_header("mailbox", "mailbox", 0);
	switch (cmd) {
	case SIFT_CMD_STATUS:
		doveadm_print_header_simple("state");
		for (i = 0; status_num[i] != NULL; i++) {
			doveadm_print_header(status_num[i], status_num[i],
				DOVEADM_PRINT_HEADER_FLAG_NUMBER |
				DOVEADM_PRINT_HEADER_FLAG_RIGHT_JUSTIFY);
		}
		doveadm_print_header_simple("format");
		doveadm_print_header_simple("text_engine");
		doveadm_print_header("problem", "problem",
				     DOVEADM_PRINT_HEADER_FLAG_EXPAND);
		break;
	case SIFT_CMD_CHECK:
		doveadm_print_header_simple("result");
		doveadm_print_header("errors", "errors",
				     DOVEADM_PRINT_HEADER_FLAG_NUMBER);
		doveadm_print_header("detail", "detail",
				     DOVEADM_PRINT_HEADER_FLAG_EXPAND);
		break;
	case SIFT_CMD_REMOVE:
		doveadm_print_header_simple("result");
		doveadm_print_header("path", "path",
				     DOVEADM_PRINT_HEADER_FLAG_EXPAND);
		break;
	case SIFT_CMD_STALE:
		doveadm_print_header_simple("state");
		doveadm_print_header("last_uid", "last_uid",
				     DOVEADM_PRINT_HEADER_FLAG_NUMBER);
		doveadm_print_header("mailbox_last_uid", "mailbox_last_uid",
				     DOVEADM_PRINT_HEADER_FLAG_NUMBER);
		doveadm_print_header("problem", "problem",
				     DOVEADM_PRINT_HEADER_FLAG_EXPAND);
		break;
	}
}

void sift_doveadm_cmd_init(struct doveadm_mail_cmd_context *_ctx,
			   const char *const args[])
{
	struct sift_cmd_context *ctx = (struct sift_cmd_context *)_ctx;

	if (args == NULL || args[0] == NULL) {
		if (ctx->cmd == SIFT_CMD_REMOVE)
			doveadm_mail_help_name("fts-sift remove");
		/* every mailbox */
		args = t_strsplit("*", " ");
	}
	_ctx->search_args = doveadm_mail_mailbox_search_args_build(args);
	sift_headers(ctx->cmd);
}

static struct doveadm_mail_cmd_context *sift_cmd_alloc(enum sift_cmd cmd)
{
	struct sift_cmd_context *ctx;

	ctx = doveadm_mail_cmd_alloc(struct sift_cmd_context);
	ctx->cmd = cmd;
	sift_doveadm_set_init(&ctx->ctx);
	ctx->ctx.v.run = sift_cmd_run;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return &ctx->ctx;
}

static struct doveadm_mail_cmd_context *sift_status_alloc(void)
{
	return sift_cmd_alloc(SIFT_CMD_STATUS);
}
static struct doveadm_mail_cmd_context *sift_check_alloc(void)
{
	return sift_cmd_alloc(SIFT_CMD_CHECK);
}
static struct doveadm_mail_cmd_context *sift_remove_alloc(void)
{
	return sift_cmd_alloc(SIFT_CMD_REMOVE);
}
static struct doveadm_mail_cmd_context *sift_stale_alloc(void)
{
	return sift_cmd_alloc(SIFT_CMD_STALE);
}

#define SIFT_CMD(cmd_name, alloc_func, positional) \
{ \
	.name = "fts-sift "cmd_name, \
	.mail_cmd = alloc_func, \
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX positional, \
DOVEADM_CMD_PARAMS_START \
DOVEADM_CMD_MAIL_COMMON \
DOVEADM_CMD_PARAM('\0', "mailbox-mask", CMD_PARAM_ARRAY, \
		  CMD_PARAM_FLAG_POSITIONAL) \
DOVEADM_CMD_PARAMS_END \
}

static struct doveadm_cmd_ver2 sift_commands[] = {
	SIFT_CMD("status", sift_status_alloc, "[<mailbox mask> ...]"),
	SIFT_CMD("check", sift_check_alloc, "[<mailbox mask> ...]"),
	SIFT_CMD("remove", sift_remove_alloc, "<mailbox mask> ..."),
	SIFT_CMD("stale", sift_stale_alloc, "[<mailbox mask> ...]"),
};

/* ---- Dovecot's "fts tokenize" and "fts expand" for sift users -------- */

static struct doveadm_mail_cmd_context *(*orig_tokenize_alloc)(void);
static struct doveadm_mail_cmd_context *(*orig_expand_alloc)(void);
static int (*orig_tokenize_run)(struct doveadm_mail_cmd_context *ctx,
				struct mail_user *user);
static int (*orig_expand_run)(struct doveadm_mail_cmd_context *ctx,
			      struct mail_user *user);

static int sift_print_token(void *context ATTR_UNUSED, const char *tok,
			    size_t len, size_t byte_offset ATTR_UNUSED,
			    unsigned int flags ATTR_UNUSED)
{
	doveadm_print(t_strndup(tok, len));
	return 0;
}

static int sift_tokenize_run(struct doveadm_mail_cmd_context *ctx,
			     struct mail_user *user)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);
	struct sift_text *text;
	const char *const *args;
	const char *input, *norm;
	size_t norm_len;
	const char *error;
	int ret = 0;

	if (ns == NULL || !sift_user_is_sift(ns))
		return orig_tokenize_run(ctx, user);
	/* the text after the options (the command's -l <language> means
	   nothing to fts-sift: it segments every script by itself) */
	args = sift_doveadm_tokenize_args(ctx);
	input = args == NULL ? "" : t_strarray_join(args, " ");
	if (sift_text_init(&text, &error) < 0) {
		i_error("fts-sift: ICU initialization failed: %s", error);
		ctx->exit_code = EX_SOFTWARE;
		return -1;
	}
	if (sift_text_normalize(text, input, strlen(input), &norm, &norm_len,
				&error) < 0 ||
	    sift_text_tokenize(text, norm, norm_len, sift_print_token, NULL,
			       &error) < 0) {
		i_error("fts-sift: tokenizing failed: %s", error);
		ctx->exit_code = EX_SOFTWARE;
		ret = -1;
	}
	sift_text_deinit(&text);
	return ret;
}

static int sift_expand_run(struct doveadm_mail_cmd_context *ctx,
			   struct mail_user *user)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);
	string_t *str;

	if (ns == NULL || !sift_user_is_sift(ns))
		return orig_expand_run(ctx, user);
	/* fts-sift does not use Dovecot's expansion of search args into
	   lib-fts tokens: it receives the args as they are */
	str = t_str_new(128);
	mail_search_args_to_cmdline(str, ctx->search_args->args);
	printf("%s\n", str_c(str));
	return 0;
}

static struct doveadm_mail_cmd_context *sift_tokenize_alloc(void)
{
	struct doveadm_mail_cmd_context *ctx = orig_tokenize_alloc();

	orig_tokenize_run = ctx->v.run;
	ctx->v.run = sift_tokenize_run;
	return ctx;
}

static struct doveadm_mail_cmd_context *sift_expand_alloc(void)
{
	struct doveadm_mail_cmd_context *ctx = orig_expand_alloc();

	orig_expand_run = ctx->v.run;
	ctx->v.run = sift_expand_run;
	return ctx;
}

static void
sift_wrap_command(const char *name,
		  struct doveadm_mail_cmd_context *(**orig_r)(void),
		  struct doveadm_mail_cmd_context *(*wrapper)(void))
{
	/* the registered copy lives in doveadm's writable command array */
	struct doveadm_cmd_ver2 *cmd =
		(struct doveadm_cmd_ver2 *)doveadm_cmd_find_ver2(name);

	if (cmd == NULL || cmd->mail_cmd == NULL)
		return;
	*orig_r = cmd->mail_cmd;
	cmd->mail_cmd = wrapper;
}

void doveadm_fts_sift_plugin_init(struct module *module ATTR_UNUSED)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(sift_commands); i++)
		doveadm_cmd_register_ver2(&sift_commands[i]);
	sift_wrap_command("fts tokenize", &orig_tokenize_alloc,
			  sift_tokenize_alloc);
	sift_wrap_command("fts expand", &orig_expand_alloc,
			  sift_expand_alloc);
}

void doveadm_fts_sift_plugin_deinit(void)
{
}
