/* doveadm-fts-sift-23.c: the doveadm module's Dovecot 2.3 side (see
   doveadm-fts-sift.h).  Commands get their positional arguments in init();
   the settings are read by the plugin's own 2.3 reader (plugin { }),
   linked into this module. */
#include "lib.h"
#include "mail-namespace.h"
#include "doveadm-mail.h"
#include "fts-sift-settings-23.h"
#include "doveadm-fts-sift.h"

void sift_doveadm_set_init(struct doveadm_mail_cmd_context *ctx)
{
	ctx->v.init = sift_doveadm_cmd_init;
}

const char *const *
sift_doveadm_tokenize_args(struct doveadm_mail_cmd_context *ctx)
{
	return ctx->args;
}

int sift_doveadm_text_settings(struct mail_namespace *ns,
			       bool *fold_accents_r, bool *decoded_r,
			       const char **error_r)
{
	struct fts_sift_settings set;

	if (fts_sift_settings_read(ns->user, &set, error_r) < 0)
		return -1;
	*fold_accents_r = set.fold_accents;
	*decoded_r = set.decoded_attachments;
	return 0;
}
