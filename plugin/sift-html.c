/* sift-html.c: HTML body parts as Dovecot's own search reads them.

   For a text/html part the fts plugin hands the backend the part's text
   converted from HTML (fts-parser-html: tags dropped, entities decoded,
   blocks turned into spaces), while Dovecot's search
   (message-search.c) reads the part like any text part: the body after
   Content-Transfer-Encoding decoding and conversion of its charset to
   UTF-8, tags, attributes, comments, <style> and <script> blocks and
   entities ("&amp;", "&#233;") as written.  The converted text can't
   answer such a search, so the backend skips it (returns FALSE from
   set_build_key) and indexes the source instead, read here with the same
   lib-mail parser and decoder the search uses.  The text then goes
   through the same pipeline as a text/plain body (sift_index_field_*),
   which applies the search's normalization itself: the decoder is given
   no normalizer, exactly as the fts plugin's own decoder is for
   text/plain parts.  Only its runs are kept differently (split at '<'
   and '>', SIFT_FIELD_KIND_HTML_BODY). */
#include "lib.h"
#include "buffer.h"
#include "istream.h"
#include "message-parser.h"
#include "message-decoder.h"
#include "sift-index.h"
#include "sift-html.h"

struct sift_html_context {
	struct sift_index *index;
	const uoff_t *positions;
	unsigned int count;

	struct message_part *prev_part;
	/* the current part is one of positions */
	bool wanted;
	/* a body field is open for it */
	bool field_open;
	buffer_t *nul_buf;
	int ret;
};

static bool sift_html_part_wanted(const struct sift_html_context *ctx,
				  const struct message_part *part)
{
	for (unsigned int i = 0; i < ctx->count; i++) {
		if (ctx->positions[i] == part->physical_pos)
			return TRUE;
	}
	return FALSE;
}

static void sift_html_field_end(struct sift_html_context *ctx)
{
	if (!ctx->field_open)
		return;
	ctx->field_open = FALSE;
	if (sift_index_field_end(ctx->index) < 0)
		ctx->ret = -1;
}

/* One block of decoded body text.  NULs become spaces, as the fts plugin
   does for text/plain parts (fts-parser.c): the text pipeline then sees
   the same input for both kinds of part. */
static void sift_html_body_data(struct sift_html_context *ctx,
				const unsigned char *data, size_t size)
{
	if (ctx->ret < 0 || size == 0)
		return;
	if (memchr(data, '\0', size) != NULL) {
		unsigned char *p;

		buffer_set_used_size(ctx->nul_buf, 0);
		buffer_append(ctx->nul_buf, data, size);
		p = buffer_get_modifiable_data(ctx->nul_buf, NULL);
		for (size_t i = 0; i < size; i++) {
			if (p[i] == '\0')
				p[i] = ' ';
		}
		data = p;
	}
	if (sift_index_field_data(ctx->index, data, size) < 0)
		ctx->ret = -1;
}

static int sift_html_parse(struct sift_html_context *ctx,
			   struct istream *input, const char **error_r)
{
	/* the settings of message_search_msg() */
	const struct message_parser_settings parser_set = {
		.hdr_flags = MESSAGE_HEADER_PARSER_FLAG_CLEAN_ONELINE,
	};
	struct message_parser_ctx *parser;
	struct message_decoder_context *decoder;
	struct message_block raw_block, block;
	struct message_part *parts;
	const char *error;
	int ret;

	parser = message_parser_init(pool_datastack_create(), input,
				     &parser_set);
	decoder = message_decoder_init(NULL, 0);
	while ((ret = message_parser_parse_next_block(parser,
						      &raw_block)) > 0) {
		if (raw_block.part != ctx->prev_part) {
			sift_html_field_end(ctx);
			ctx->prev_part = raw_block.part;
			ctx->wanted = sift_html_part_wanted(ctx,
							    raw_block.part);
		}
		if (!ctx->wanted || ctx->ret < 0)
			continue;
		/* the part's headers set the decoder's charset and transfer
		   encoding (the last Content-Transfer-Encoding, the first
		   Content-Type, as for the search) */
		if (!message_decoder_decode_next_block(decoder, &raw_block,
						       &block))
			continue;
		if (block.hdr != NULL)
			continue;
		if (block.size == 0) {
			/* end of the part's header */
			if (!ctx->field_open) {
				sift_index_field_begin(ctx->index,
					SIFT_FIELD_KIND_HTML_BODY, NULL);
				ctx->field_open = TRUE;
			}
			continue;
		}
		if (ctx->field_open)
			sift_html_body_data(ctx, block.data, block.size);
	}
	sift_html_field_end(ctx);
	message_decoder_deinit(&decoder);
	/* a broken MIME structure is read the same way by the search */
	(void)message_parser_deinit_from_parts(&parser, &parts, &error);
	if (input->stream_errno != 0) {
		*error_r = t_strdup_printf("read(%s) failed: %s",
					   i_stream_get_name(input),
					   i_stream_get_error(input));
		return -1;
	}
	if (ctx->ret < 0) {
		*error_r = "indexing the text failed";
		return -1;
	}
	return 0;
}

int sift_html_index_parts(struct sift_index *index, struct istream *input,
			  const uoff_t *positions, unsigned int count,
			  const char **error_r)
{
	struct sift_html_context ctx;
	int ret;

	i_zero(&ctx);
	ctx.index = index;
	ctx.positions = positions;
	ctx.count = count;
	ctx.nul_buf = buffer_create_dynamic(default_pool, 256);
	i_stream_seek(input, 0);
	T_BEGIN {
		ret = sift_html_parse(&ctx, input, error_r);
	} T_END_PASS_STR_IF(ret < 0, error_r);
	buffer_free(&ctx.nul_buf);
	return ret;
}
