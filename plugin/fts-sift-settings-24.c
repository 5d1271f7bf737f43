/* fts-sift-settings-24.c: the plugin's settings on Dovecot 2.4, declared
   with its settings API.  This file is built twice: into the plugin, which
   reads the settings with settings_get() (fts-sift-user-24.c), and alone
   into lib21_fts_sift_settings.so, the settings module installed in
   Dovecot's modules/settings directory, through which doveconf and the
   config process learn the keys: they can then be written as
   "fts_sift_commit_batch = 500" or inside "fts sift { commit_batch = 500 }",
   are listed by "doveconf -a", and a bad value is rejected when the
   configuration is read, with an error naming the key. */
#include "lib.h"
#include "settings-parser.h"
#include "fts-sift-settings.h"
#include "fts-sift-settings-24.h"

#undef DEF
#define DEF(type, key, name) \
	SETTING_DEFINE_STRUCT_##type(key, name, struct fts_sift_settings)

static const struct setting_define fts_sift_setting_defines[] = {
	/* lets the settings be grouped in an "fts_sift { }" block too */
	{ .type = SET_FILTER_NAME, .key = "fts_sift" },
	DEF(UINT, "fts_sift_commit_batch", commit_batch),
	DEF(SIZE, "fts_sift_commit_size", commit_size),
	DEF(SIZE, "fts_sift_commit_memory", commit_memory),
	DEF(UINT, "fts_sift_max_doc_terms", max_doc_terms),
	DEF(UINT, "fts_sift_compact_after", compact_after),
	DEF(TIME, "fts_sift_lock_timeout", lock_timeout_secs),
	DEF(BOOL, "fts_sift_fsync", fsync),
	DEF(BOOL, "fts_sift_fold_accents", fold_accents),
	SETTING_DEFINE_LIST_END
};

/* The same defaults as fts-sift-settings-23.c (see the README). */
static const struct fts_sift_settings fts_sift_default_settings = {
	.commit_batch = 250,
	.commit_size = 32 * 1024 * 1024,
	.commit_memory = 8 * 1024 * 1024,
	.max_doc_terms = 131072,
	.compact_after = 1000,
	.lock_timeout_secs = 30,
	.fsync = TRUE,
	.fold_accents = FALSE,
};

/* Called by the config process (so by doveconf too) and by every
   settings_get(): the bounds are enforced before any mail process runs. */
static bool
fts_sift_settings_check_func(void *_set, pool_t pool ATTR_UNUSED,
			     const char **error_r)
{
	const struct fts_sift_settings *set = _set;

	return fts_sift_settings_check(set, error_r) == 0;
}

const struct setting_parser_info fts_sift_setting_parser_info = {
	.name = "fts_sift",
	.plugin_dependency = "lib21_fts_sift_plugin",

	.defines = fts_sift_setting_defines,
	.defaults = &fts_sift_default_settings,
	.check_func = fts_sift_settings_check_func,

	.struct_size = sizeof(struct fts_sift_settings),
	.pool_offset1 = 1 + offsetof(struct fts_sift_settings, pool),
};

/* What Dovecot looks up in a settings module named
   lib21_fts_sift_settings.so. */
const char *fts_sift_settings_version = DOVECOT_ABI_VERSION;
const struct setting_parser_info *fts_sift_settings_set_infos[] = {
	&fts_sift_setting_parser_info,
	NULL
};
