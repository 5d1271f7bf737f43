/* doveadm-fts-sift-24.c: the doveadm module's Dovecot 2.4 side (see
   doveadm-fts-sift.h).  Commands read their positional arguments as named
   parameters of the command context; the settings are read with
   settings_get() on the fts backend's event, so the same filters apply as
   in the plugin (fts-sift-user-24.c): "fts sift { }", a namespace's own
   block.  fts-sift-settings-24.c (the parser info) is linked in. */
#include "lib.h"
#include "mail-namespace.h"
#include "settings.h"
#include "fts-api-private.h"
#include "fts-storage.h"
#include "fts-settings.h"
#include "doveadm-mail.h"
#include "doveadm-cmd-parse.h"
#include "fts-sift-settings.h"
#include "fts-sift-settings-24.h"
#include "doveadm-fts-sift.h"

static void sift_doveadm_init_24(struct doveadm_mail_cmd_context *ctx)
{
	const char *const *args;

	if (!doveadm_cmd_param_array(ctx->cctx, "mailbox-mask", &args))
		args = empty_str_array;
	sift_doveadm_cmd_init(ctx, args);
}

void sift_doveadm_set_init(struct doveadm_mail_cmd_context *ctx)
{
	ctx->v.init = sift_doveadm_init_24;
}

const char *const *
sift_doveadm_tokenize_args(struct doveadm_mail_cmd_context *ctx)
{
	const char *const *args;

	if (!doveadm_cmd_param_array(ctx->cctx, "text", &args))
		return NULL;
	return args;
}

int sift_doveadm_text_settings(struct mail_namespace *ns,
			       bool *fold_accents_r, bool *decoded_r,
			       const char **error_r)
{
	struct fts_backend *backend = fts_list_backend(ns->list);
	const struct fts_sift_settings *set;
	const struct fts_settings *fset;
	struct event *event;

	/* the backend's event carries the driver's filter (fts sift { });
	   without a backend, the namespace's user */
	event = backend != NULL ? backend->event : ns->user->event;
	if (settings_get(event, &fts_sift_setting_parser_info, 0,
			 &set, error_r) < 0)
		return -1;
	if (settings_get(event, &fts_setting_parser_info, 0,
			 &fset, error_r) < 0) {
		settings_free(set);
		return -1;
	}
	*fold_accents_r = set->fold_accents;
	/* as fts-sift-user-24.c decides it */
	*decoded_r = null_strcmp(fset->decoder_driver, "script") == 0 ||
		null_strcmp(fset->decoder_driver, "tika") == 0;
	settings_free(fset);
	settings_free(set);
	return 0;
}
