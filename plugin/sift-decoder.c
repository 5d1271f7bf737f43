/* sift-decoder.c: ask the fts_decoder script which content types it
   converts.  Parts of those types reach the backend as the script's text
   (fts-build-mail.c); for a text type Dovecot's own search reads the
   part itself as well, differently, so the backend has to know. */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "net.h"
#include "istream.h"
#include "write-full.h"
#include "mail-user.h"
#include "mail-namespace.h"
#include "fts-backend-sift.h"
#include "sift-decoder.h"

/* The script service's handshake (Dovecot's script.c): protocol version,
   options, then the arguments, none here, and an empty line.  Asked
   without arguments, a decoder script prints its list. */
#define SIFT_DECODER_HANDSHAKE "VERSION\tscript\t4\t0\nalarm=10\nnoreply\n\n"
/* how long to wait for the service's socket, as Dovecot does */
#define SIFT_DECODER_CONNECT_MSECS 1000

/* Read the list: "<content type> <extension>..." per line, up to an
   empty line.  Returns 0 or -1 with *error_r. */
static int sift_decoder_read_types(struct sift_fts_backend *backend,
				   const char **error_r)
{
	struct mail_user *user = backend->backend.ns->user;
	const char *path, *line;
	struct istream *input;
	bool eof_seen = FALSE;
	int fd, ret = 0;

	/* fts_decoder on 2.3, fts_decoder_script_socket_path on 2.4 */
	path = backend->set->decoder_socket_path;
	if (path == NULL) {
		*error_r = "no decoder script socket is set";
		return -1;
	}
	if (*path != '/')
		path = t_strconcat(user->set->base_dir, "/", path, NULL);
	fd = net_connect_unix_with_retries(path, SIFT_DECODER_CONNECT_MSECS);
	if (fd == -1) {
		*error_r = t_strdup_printf("net_connect_unix(%s) failed: %m",
					   path);
		return -1;
	}
	net_set_nonblock(fd, FALSE);
	if (write_full(fd, SIFT_DECODER_HANDSHAKE,
		       strlen(SIFT_DECODER_HANDSHAKE)) < 0) {
		*error_r = t_strdup_printf("write(%s) failed: %m", path);
		i_close_fd(&fd);
		return -1;
	}
	input = i_stream_create_fd_autoclose(&fd, 1024);
	while ((line = i_stream_read_next_line(input)) != NULL) {
		const char *const *args = t_strsplit_spaces(line, " ");

		if (args[0] == NULL) {
			eof_seen = TRUE;
			break;
		}
		/* (Dovecot skips a line without an extension too) */
		if (args[1] == NULL)
			continue;
		line = p_strdup(backend->decoder_pool, t_str_lcase(args[0]));
		array_push_back(&backend->decoder_types, &line);
	}
	if (input->stream_errno != 0) {
		*error_r = t_strdup_printf("read(%s) failed: %s", path,
					   i_stream_get_error(input));
		ret = -1;
	} else if (!eof_seen) {
		*error_r = t_strdup_printf("%s sent no empty line at the end "
					   "of its list", path);
		ret = -1;
	}
	i_stream_destroy(&input);
	return ret;
}

int sift_decoder_lists_type(struct sift_fts_backend *backend,
			    const char *content_type)
{
	const char *error, *const *type;
	int ret;

	if (backend->decoder_pool == NULL) {
		backend->decoder_pool =
			pool_alloconly_create("fts-sift decoder types", 512);
		p_array_init(&backend->decoder_types, backend->decoder_pool,
			     16);
		T_BEGIN {
			ret = sift_decoder_read_types(backend, &error);
			if (ret < 0) {
				e_error(backend->event, "Reading the content "
					"types of the fts_decoder script "
					"failed: %s", error);
			}
		} T_END;
		/* not asked again by this backend: once logged is
		   enough, and not knowing is safe (see the caller) */
		backend->decoder_failed = ret < 0;
	}
	if (backend->decoder_failed)
		return -1;
	array_foreach(&backend->decoder_types, type) {
		if (strcasecmp(*type, content_type) == 0)
			return 1;
	}
	return 0;
}

void sift_decoder_deinit(struct sift_fts_backend *backend)
{
	pool_unref(&backend->decoder_pool);
}
