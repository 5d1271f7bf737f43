/* fts-sift-settings.c: the plugin's settings, in one table. */
#include "lib.h"
#include "settings-parser.h"
#include "fts-sift-settings.h"

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
	/* inclusive bounds for UINT, SIZE (bytes) and TIME (seconds) */
	uoff_t min, max;
};

#define DEF(type, name, default_value, min, max) \
	{ "fts_sift_"#name, type, default_value, \
	  offsetof(struct fts_sift_settings, name), min, max }

/* The defaults keep an indexing process well under 128 MB on dense mail
   (see the README's benchmark) while committing rarely enough to be
   fast. */
static const struct sift_setting_def sift_setting_defs[] = {
	DEF(SIFT_SET_UINT, commit_batch, "1000", 1, 1000000),
	DEF(SIFT_SET_SIZE, commit_size, "32M", 1024*1024,
	    (uoff_t)16*1024*1024*1024),
	DEF(SIFT_SET_UINT, compact_after, "1000", 0, UINT_MAX),
	{ "fts_sift_lock_timeout", SIFT_SET_TIME, "30s",
	  offsetof(struct fts_sift_settings, lock_timeout_secs), 0, 3600 },
	DEF(SIFT_SET_BOOL, fsync, "yes", 0, 0),
	DEF(SIFT_SET_BOOL, fold_accents, "no", 0, 0),
};

static int
sift_setting_parse_one(const struct sift_setting_def *def, const char *value,
		       struct fts_sift_settings *set, const char **error_r)
{
	void *dest = PTR_OFFSET(set, def->offset);
	const char *error;
	unsigned int uint_value;
	uoff_t size_value = 0;

	switch (def->type) {
	case SIFT_SET_UINT:
		if (str_to_uint(value, &uint_value) < 0) {
			*error_r = "not an unsigned number";
			return -1;
		}
		size_value = uint_value;
		break;
	case SIFT_SET_SIZE:
		if (settings_get_size(value, &size_value, &error) < 0) {
			*error_r = error;
			return -1;
		}
		break;
	case SIFT_SET_TIME:
		if (settings_get_time(value, &uint_value, &error) < 0) {
			*error_r = error;
			return -1;
		}
		size_value = uint_value;
		break;
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
	if (size_value < def->min || size_value > def->max) {
		*error_r = t_strdup_printf("out of range (%"PRIuUOFF_T
					   "..%"PRIuUOFF_T")",
					   def->min, def->max);
		return -1;
	}
	if (def->type == SIFT_SET_SIZE)
		*(uoff_t *)dest = size_value;
	else
		*(unsigned int *)dest = (unsigned int)size_value;
	return 0;
}

int fts_sift_settings_parse(fts_sift_setting_lookup_t *lookup, void *context,
			    struct fts_sift_settings *set_r,
			    const char **error_r)
{
	const char *error;
	unsigned int i;

	i_zero(set_r);
	for (i = 0; i < N_ELEMENTS(sift_setting_defs); i++) {
		const struct sift_setting_def *def = &sift_setting_defs[i];
		const char *value = lookup(context, def->key);

		if (value == NULL || *value == '\0')
			value = def->default_value;
		if (sift_setting_parse_one(def, value, set_r, &error) < 0) {
			*error_r = t_strdup_printf("Invalid %s = '%s': %s",
						   def->key, value, error);
			return -1;
		}
	}
	return 0;
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
