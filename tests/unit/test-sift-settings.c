/* Unit tests for the plugin's settings: the bounds shared by both
   Dovecot versions (fts-sift-settings.c), and on Dovecot 2.3 the parser
   of the plugin { } settings (fts-sift-settings-23.c) through its lookup
   callback - every key, the defaults, bad values rejected with an error
   naming the key, unknown keys.  (On 2.4 Dovecot's own settings parser
   reads the values: the defaults and bounds are what is ours there.) */

#include "lib.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-config.h"
#include "fts-sift-settings.h"
#if SIFT_DOVECOT_API == 23
#  include "fts-sift-settings-23.h"
#else
#  include "settings-parser.h"
#  include "fts-sift-settings-24.h"
#endif

#include <string.h>

#define MB (1024ULL * 1024)

static const char *const all_keys[] = {
	"fts_sift_commit_batch", "fts_sift_commit_size",
	"fts_sift_commit_memory", "fts_sift_compact_after", "fts_sift_lock_timeout", "fts_sift_fsync",
	"fts_sift_fold_accents", "fts_sift_max_doc_terms",
};

static void test_settings_check_bounds(void)
{
	static const struct {
		unsigned int batch;
		uoff_t size, memory;
		unsigned int lock;
		const char *bad_key;
	} cases[] = {
		{ 1000, 32 * MB, 8 * MB, 30, NULL },
		{ 1, 1 * MB, 1 * MB, 0, NULL },
		{ 1000000, 16 * 1024 * MB, 16 * 1024 * MB, 3600, NULL },
		{ 0, 32 * MB, 8 * MB, 30, "fts_sift_commit_batch" },
		{ 1000001, 32 * MB, 8 * MB, 30, "fts_sift_commit_batch" },
		{ 1000, 1 * MB - 1, 8 * MB, 30, "fts_sift_commit_size" },
		{ 1000, 16 * 1024 * MB + 1, 8 * MB, 30, "fts_sift_commit_size" },
		{ 1000, 32 * MB, 1 * MB - 1, 30, "fts_sift_commit_memory" },
		{ 1000, 32 * MB, 16 * 1024 * MB + 1, 30,
		  "fts_sift_commit_memory" },
		{ 1000, 32 * MB, 8 * MB, 3601, "fts_sift_lock_timeout" },
	};
	struct fts_sift_settings set;
	const char *error;
	unsigned int i;

	test_begin("settings: bounds, errors name the key");
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		i_zero(&set);
		set.commit_batch = cases[i].batch;
		set.commit_size = cases[i].size;
		set.commit_memory = cases[i].memory;
		set.lock_timeout_secs = cases[i].lock;
		error = NULL;
		if (cases[i].bad_key == NULL)
			test_assert_idx(fts_sift_settings_check(&set, &error) == 0, i);
		else {
			test_assert_idx(fts_sift_settings_check(&set, &error) < 0, i);
			test_assert_idx(error != NULL &&
					strstr(error, cases[i].bad_key) != NULL, i);
		}
	}
	test_end();
}

#if SIFT_DOVECOT_API == 23

struct lookup_ctx {
	/* key, value, key, value, ..., NULL */
	const char *const *pairs;
	/* every key asked for */
	const char *asked[16];
	unsigned int asked_count;
};

static const char *lookup(const char *key, void *context)
{
	struct lookup_ctx *ctx = context;

	if (ctx->asked_count < N_ELEMENTS(ctx->asked))
		ctx->asked[ctx->asked_count++] = key;
	for (unsigned int i = 0; ctx->pairs[i] != NULL; i += 2) {
		if (strcmp(ctx->pairs[i], key) == 0)
			return ctx->pairs[i + 1];
	}
	return NULL;
}

static int parse(const char *const *pairs, struct fts_sift_settings *set_r,
		 const char **error_r)
{
	struct lookup_ctx ctx = { .pairs = pairs };

	*error_r = NULL;
	return fts_sift_settings_parse(lookup, &ctx, set_r, error_r);
}

static void test_settings_defaults(void)
{
	static const char *const none[] = { NULL };
	static const char *const empty[] = {
		"fts_sift_commit_batch", "", "fts_sift_commit_size", "",
		"fts_sift_commit_memory", "", "fts_sift_compact_after", "", "fts_sift_lock_timeout", "",
		"fts_sift_fsync", "", "fts_sift_fold_accents", "",
		"fts_sift_max_doc_terms", "",
		"fts_decoder", "", "fts_tika", "", NULL
	};
	const char *const *inputs[] = { none, empty };
	struct lookup_ctx ctx;
	struct fts_sift_settings set;
	const char *error;
	unsigned int i, k, j;

	test_begin("settings: defaults (unset or empty)");
	for (i = 0; i < N_ELEMENTS(inputs); i++) {
		test_assert_idx(parse(inputs[i], &set, &error) == 0, i);
		test_assert_idx(set.commit_batch == 250, i);
		test_assert_idx(set.commit_size == 32 * MB, i);
		test_assert_idx(set.commit_memory == 8 * MB, i);
		test_assert_idx(set.compact_after == 1000, i);
		test_assert_idx(set.lock_timeout_secs == 30, i);
		test_assert_idx(set.fsync, i);
		test_assert_idx(!set.fold_accents, i);
		test_assert_idx(set.max_doc_terms == 131072, i);
		test_assert_idx(!set.decoded_attachments &&
				!set.decoder_script && !set.tika &&
				set.decoder_socket_path == NULL, i);
	}
	/* every key is asked for, and nothing else but the decoders */
	i_zero(&ctx);
	ctx.pairs = none;
	test_assert(fts_sift_settings_parse(lookup, &ctx, &set, &error) == 0);
	test_assert(ctx.asked_count == N_ELEMENTS(all_keys) + 2);
	for (k = 0; k < N_ELEMENTS(all_keys); k++) {
		bool asked = FALSE;

		for (j = 0; j < ctx.asked_count; j++)
			asked = asked || strcmp(ctx.asked[j], all_keys[k]) == 0;
		test_assert_idx(asked, k);
	}
	test_end();
}

static void test_settings_values(void)
{
	static const char *const set1[] = {
		"fts_sift_commit_batch", "1",
		"fts_sift_commit_size", "1M",
		"fts_sift_commit_memory", "1M",
		"fts_sift_compact_after", "0",
		"fts_sift_lock_timeout", "0",
		"fts_sift_fsync", "no",
		"fts_sift_fold_accents", "yes",
		"fts_sift_max_doc_terms", "0",
		"fts_decoder", "decode2text",
		NULL
	};
	static const char *const set2[] = {
		"fts_sift_commit_batch", "1000000",
		"fts_sift_commit_size", "16G",
		"fts_sift_commit_memory", "16G",
		"fts_sift_compact_after", "4294967295",
		"fts_sift_lock_timeout", "1h",
		"fts_sift_fsync", "YES",
		"fts_sift_fold_accents", "No",
		"fts_sift_max_doc_terms", "100000000",
		"fts_tika", "http://127.0.0.1:9998/tika/",
		NULL
	};
	static const char *const set3[] = {
		"fts_sift_commit_size", "64 M",
		"fts_sift_commit_memory", "24M",
		"fts_sift_lock_timeout", "2 mins",
		NULL
	};
	struct fts_sift_settings set;
	const char *error;

	test_begin("settings: every key's values");
	test_assert(parse(set1, &set, &error) == 0);
	test_assert(set.commit_batch == 1 && set.commit_size == 1 * MB &&
		    set.commit_memory == 1 * MB &&
		    set.compact_after == 0 && set.lock_timeout_secs == 0 &&
		    !set.fsync && set.fold_accents &&
		    set.max_doc_terms == 0);
	test_assert(set.decoder_script && !set.tika &&
		    set.decoded_attachments &&
		    null_strcmp(set.decoder_socket_path, "decode2text") == 0);
	test_assert(parse(set2, &set, &error) == 0);
	test_assert(set.commit_batch == 1000000 &&
		    set.commit_size == 16 * 1024 * MB &&
		    set.commit_memory == 16 * 1024 * MB &&
		    set.compact_after == 4294967295U &&
		    set.lock_timeout_secs == 3600 && set.fsync &&
		    !set.fold_accents && set.max_doc_terms == 100000000);
	test_assert(!set.decoder_script && set.tika &&
		    set.decoded_attachments &&
		    set.decoder_socket_path == NULL);
	test_assert(parse(set3, &set, &error) == 0);
	test_assert(set.commit_size == 64 * MB && set.commit_memory == 24 * MB &&
		    set.lock_timeout_secs == 120);
	test_end();
}

static void test_settings_bad_values(void)
{
	static const struct {
		const char *key, *value;
	} cases[] = {
		{ "fts_sift_commit_batch", "abc" },
		{ "fts_sift_commit_batch", "-1" },
		{ "fts_sift_commit_batch", "1.5" },
		{ "fts_sift_commit_batch", "0" },
		{ "fts_sift_commit_batch", "1000001" },
		{ "fts_sift_commit_batch", "99999999999999999999" },
		{ "fts_sift_commit_size", "12X" },
		{ "fts_sift_commit_size", "lots" },
		{ "fts_sift_commit_size", "1k" },
		{ "fts_sift_commit_size", "17G" },
		{ "fts_sift_commit_memory", "lots" },
		{ "fts_sift_commit_memory", "512k" },
		{ "fts_sift_commit_memory", "17G" },
		{ "fts_sift_compact_after", "x" },
		{ "fts_sift_compact_after", "-5" },
		{ "fts_sift_lock_timeout", "forever" },
		{ "fts_sift_lock_timeout", "2h" },
		{ "fts_sift_lock_timeout", "3601s" },
		{ "fts_sift_fsync", "maybe" },
		{ "fts_sift_fsync", "1" },
		{ "fts_sift_fold_accents", "true" },
		{ "fts_sift_max_doc_terms", "15" },
		{ "fts_sift_max_doc_terms", "100000001" },
		{ "fts_sift_max_doc_terms", "many" },
	};
	struct fts_sift_settings set;
	const char *pairs[3], *error;
	unsigned int i;

	test_begin("settings: bad values rejected, naming the key");
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		pairs[0] = cases[i].key;
		pairs[1] = cases[i].value;
		pairs[2] = NULL;
		test_assert_idx(parse(pairs, &set, &error) < 0, i);
		test_assert_idx(error != NULL &&
				strstr(error, cases[i].key) != NULL, i);
		/* and the value, for the key's own parse errors */
		test_assert_idx(error != NULL &&
				(strstr(error, cases[i].value) != NULL ||
				 strstr(error, "out of range") != NULL), i);
	}
	test_end();
}

static void test_settings_unknown_keys(void)
{
	static const struct {
		const char *key, *closest;
	} cases[] = {
		{ "fts_sift_comit_batch", "fts_sift_commit_batch" },
		{ "fts_sift_commitsize", "fts_sift_commit_size" },
		{ "fts_sift_commit_memry", "fts_sift_commit_memory" },
		{ "fts_sift_lock_timeot", "fts_sift_lock_timeout" },
		{ "fts_sift_fold_accent", "fts_sift_fold_accents" },
		{ "fts_sift_fsyncc", "fts_sift_fsync" },
		{ "fts_sift_something_else_entirely", NULL },
		{ "fts_sift_", NULL },
	};
	const char *closest;
	unsigned int i;

	test_begin("settings: unknown keys and the nearest known one");
	for (i = 0; i < N_ELEMENTS(all_keys); i++) {
		test_assert_idx(fts_sift_settings_is_known(all_keys[i],
							   &closest), i);
	}
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		test_assert_idx(!fts_sift_settings_is_known(cases[i].key,
							    &closest), i);
		test_assert_idx(null_strcmp(closest, cases[i].closest) == 0, i);
	}
	test_end();
}

#else

/* Dovecot 2.4 parses the values itself (settings_get()); ours are the
   table, the defaults and the check function. */
static void test_settings_24_table(void)
{
	const struct setting_parser_info *info = &fts_sift_setting_parser_info;
	const struct fts_sift_settings *defaults = info->defaults;
	const struct setting_define *def;
	const char *error;
	unsigned int i;

	test_begin("settings (2.4): table, defaults, check");
	test_assert(defaults->commit_batch == 250 &&
		    defaults->commit_size == 32 * MB &&
		    defaults->commit_memory == 8 * MB &&
		    defaults->compact_after == 1000 &&
		    defaults->lock_timeout_secs == 30 && defaults->fsync &&
		    !defaults->fold_accents &&
		    defaults->max_doc_terms == 131072);
	test_assert(fts_sift_settings_check(defaults, &error) == 0);
	for (i = 0; i < N_ELEMENTS(all_keys); i++) {
		bool found = FALSE;

		for (def = info->defines; def->key != NULL; def++)
			found = found || strcmp(def->key, all_keys[i]) == 0;
		test_assert_idx(found, i);
	}
	test_end();
}

#endif

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_settings_check_bounds,
#if SIFT_DOVECOT_API == 23
		test_settings_defaults,
		test_settings_values,
		test_settings_bad_values,
		test_settings_unknown_keys,
#else
		test_settings_24_table,
#endif
		NULL
	};

	return sift_test_main(test_functions, NULL);
}
