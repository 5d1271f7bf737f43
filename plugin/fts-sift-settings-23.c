/* fts-sift-settings-23.c: the plugin's settings on Dovecot 2.3, read from
   the plugin { } section (mail_user_plugin_getenv), one table of keys. */
#include "lib.h"
#include "settings-parser.h"
#include "mail-user.h"
#include "fts-sift-settings.h"
#include "fts-sift-settings-23.h"

enum sift_setting_type {
	SIFT_SET_UINT,
	SIFT_SET_SIZE,
	SIFT_SET_TIME,
	SIFT_SET_BOOL,
};

struct sift_setting_def {
	const char *key;
	enum sift_setting_type type;
	const char *default_value;
	size_t offset;
};

#define DEF(type, key, name, default_value) \
	{ key, type, default_value, offsetof(struct fts_sift_settings, name) }

/* The defaults keep an indexing process well under 128 MB on dense mail
   (see "Memory" in doc/measurements.md) while committing rarely enough to be
   fast.  The same defaults are in fts-sift-settings-24.c. */
static const struct sift_setting_def sift_setting_defs[] = {
	DEF(SIFT_SET_UINT, "fts_sift_commit_batch", commit_batch, "250"),
	DEF(SIFT_SET_SIZE, "fts_sift_commit_size", commit_size, "32M"),
	DEF(SIFT_SET_SIZE, "fts_sift_commit_memory", commit_memory, "8M"),
	DEF(SIFT_SET_UINT, "fts_sift_max_doc_terms", max_doc_terms, "131072"),
	DEF(SIFT_SET_UINT, "fts_sift_compact_after", compact_after, "1000"),
	DEF(SIFT_SET_TIME, "fts_sift_lock_timeout", lock_timeout_secs, "30s"),
	DEF(SIFT_SET_BOOL, "fts_sift_fsync", fsync, "yes"),
	DEF(SIFT_SET_BOOL, "fts_sift_fold_accents", fold_accents, "no"),
};

static int
sift_setting_parse_one(const struct sift_setting_def *def, const char *value,
		       struct fts_sift_settings *set, const char **error_r)
{
	void *dest = PTR_OFFSET(set, def->offset);
	const char *error;

	switch (def->type) {
	case SIFT_SET_UINT:
		if (str_to_uint(value, dest) < 0) {
			*error_r = "not an unsigned number";
			return -1;
		}
		return 0;
	case SIFT_SET_SIZE:
		if (settings_get_size(value, dest, &error) < 0) {
			*error_r = error;
			return -1;
		}
		return 0;
	case SIFT_SET_TIME:
		if (settings_get_time(value, dest, &error) < 0) {
			*error_r = error;
			return -1;
		}
		return 0;
	case SIFT_SET_BOOL:
		if (strcasecmp(value, "yes") == 0)
			*(bool *)dest = TRUE;
		else if (strcasecmp(value, "no") == 0)
			*(bool *)dest = FALSE;
		else {
			*error_r = "must be yes or no";
			return -1;
		}
		return 0;
	}
	i_unreached();
}

int fts_sift_settings_parse(fts_sift_settings_lookup_t *lookup,
			    void *context, struct fts_sift_settings *set_r,
			    const char **error_r)
{
	const char *error, *tika;
	unsigned int i;

	i_zero(set_r);
	for (i = 0; i < N_ELEMENTS(sift_setting_defs); i++) {
		const struct sift_setting_def *def = &sift_setting_defs[i];
		const char *value = lookup(def->key, context);

		if (value == NULL || *value == '\0')
			value = def->default_value;
		if (sift_setting_parse_one(def, value, set_r, &error) < 0) {
			*error_r = t_strdup_printf("Invalid %s = '%s': %s",
						   def->key, value, error);
			return -1;
		}
	}
	if (fts_sift_settings_check(set_r, &error) < 0) {
		*error_r = t_strdup_printf("Invalid %s", error);
		return -1;
	}
	/* the fts plugin's decoders (the strings live as long as the
	   lookup's: the user's settings) */
	set_r->decoder_socket_path = lookup("fts_decoder", context);
	if (set_r->decoder_socket_path != NULL &&
	    *set_r->decoder_socket_path == '\0')
		set_r->decoder_socket_path = NULL;
	set_r->decoder_script = set_r->decoder_socket_path != NULL;
	tika = lookup("fts_tika", context);
	set_r->tika = tika != NULL && *tika != '\0';
	set_r->decoded_attachments = set_r->decoder_script || set_r->tika;
	return 0;
}

static const char *sift_settings_user_lookup(const char *key, void *context)
{
	struct mail_user *user = context;

	return mail_user_plugin_getenv(user, key);
}

int fts_sift_settings_read(struct mail_user *user,
			   struct fts_sift_settings *set_r,
			   const char **error_r)
{
	return fts_sift_settings_parse(sift_settings_user_lookup, user,
				       set_r, error_r);
}

/* Levenshtein distance of a and b (short setting names). */
static unsigned int sift_edit_distance(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b), i, j;
	unsigned int *prev = t_new(unsigned int, blen + 1);
	unsigned int *cur = t_new(unsigned int, blen + 1), *tmp;

	for (j = 0; j <= blen; j++)
		prev[j] = j;
	for (i = 1; i <= alen; i++) {
		cur[0] = i;
		for (j = 1; j <= blen; j++) {
			unsigned int cost = a[i-1] == b[j-1] ? 0 : 1;

			cur[j] = I_MIN(I_MIN(prev[j] + 1, cur[j-1] + 1),
				       prev[j-1] + cost);
		}
		tmp = prev; prev = cur; cur = tmp;
	}
	return prev[blen];
}

bool fts_sift_settings_is_known(const char *key, const char **closest_r)
{
	unsigned int i, best = UINT_MAX;

	*closest_r = NULL;
	for (i = 0; i < N_ELEMENTS(sift_setting_defs); i++) {
		const char *name = sift_setting_defs[i].key;
		unsigned int dist;

		if (strcmp(name, key) == 0)
			return TRUE;
		T_BEGIN {
			dist = sift_edit_distance(key, name);
		} T_END;
		if (dist < best) {
			best = dist;
			*closest_r = name;
		}
	}
	if (best > 4)
		*closest_r = NULL;
	return FALSE;
}
