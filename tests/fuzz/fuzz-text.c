/* libFuzzer harness: the text pipeline and the query planner.

   Any bytes, as a search string or as mail text: normalize, tokenize
   (tokens must lie inside the normalized text), fold accents (never
   longer), truncate on a character boundary, and plan the string for
   every field (sift_plan_build() must succeed or fail cleanly, never
   crash).  See README "Tests" for how it is run. */
#include "lib.h"
#include "sift-text.h"
#include "sift-plan.h"

#include <stdlib.h>

static struct sift_text *text;

struct tok_ctx {
	const char *base;
	size_t len;
};

static int tok_cb(void *context, const char *tok, size_t len,
		  size_t byte_offset, unsigned int flags ATTR_UNUSED)
{
	struct tok_ctx *ctx = context;

	if (len == 0 || byte_offset + len > ctx->len ||
	    memcmp(ctx->base + byte_offset, tok, len) != 0)
		abort();
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc ATTR_UNUSED, char ***argv ATTR_UNUSED)
{
	const char *err;

	lib_init();
	if (sift_text_init(&text, &err) < 0)
		i_fatal("sift_text_init: %s", err);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum sift_field fields[] = {
		SIFT_FIELD_BODY, SIFT_FIELD_TEXT, SIFT_FIELD_HEADER,
		SIFT_FIELD_ADDRESS, SIFT_FIELD_SUBJECT,
	};
	const char *in = (const char *)data, *norm;
	size_t norm_len;
	const char *err;

	T_BEGIN {
		if (sift_text_normalize(text, in, size, &norm, &norm_len,
					&err) == 0) {
			const char *copy = t_strndup(norm, norm_len);
			char *folded = t_malloc0(norm_len + 1);
			struct tok_ctx ctx = { copy, norm_len };

			if (sift_text_tokenize(text, copy, norm_len, tok_cb,
					       &ctx, &err) > 0)
				abort();
			if (sift_text_fold_accents(copy, norm_len, folded) >
			    norm_len)
				abort();
			if (sift_text_utf8_truncate(copy, norm_len, 7) > 7)
				abort();
		}
		for (unsigned int i = 0; i < N_ELEMENTS(fields); i++) {
			struct sift_plan plan;

			if (sift_plan_build(text, fields[i], in, size, &plan,
					    &err) == 0)
				sift_plan_free(&plan);
		}
	} T_END;
	return 0;
}
