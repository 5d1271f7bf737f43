/* sift-dict.c: the "terms" and "opaque" files next to an index (see
   sift-dict.h for what they hold and why they are safe). */
/* memmem() and memrchr() */
#define _GNU_SOURCE
#include "lib.h"
#include "array.h"
#include "str.h"
#include "write-full.h"
#include "sift-dict.h"

#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define TERMS_MAGIC "SIFT-TERMS 1 "
/* "SIFT-TERMS 1 0000000123\n" */
#define TERMS_HEADER_LEN (sizeof(TERMS_MAGIC) - 1 + 10 + 1)

struct sift_dict {
	struct sift_map terms, opaque;
	/* last_uid the terms file is complete for; 0 if unknown */
	uint32_t terms_uid;
	bool terms_valid;
};

struct sift_dict_writer {
	char *dir;
	mode_t mode;
	int terms_fd, opaque_fd;
	bool terms_complete;
};

int sift_map_file(const char *path, struct sift_map *map_r,
			 const char **error_r)
{
	struct stat st;
	void *p;
	int fd;

	i_zero(map_r);
	fd = open(path, O_RDONLY);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*error_r = t_strdup_printf("fstat(%s) failed: %m", path);
		i_close_fd(&fd);
		return -1;
	}
	if (st.st_size > 0) {
		p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			*error_r = t_strdup_printf("mmap(%s) failed: %m",
						   path);
			i_close_fd(&fd);
			return -1;
		}
		map_r->data = p;
		map_r->size = st.st_size;
	}
	i_close_fd(&fd);
	return 0;
}

void sift_unmap(struct sift_map *map)
{
	if (map->data != NULL)
		(void)munmap((void *)map->data, map->size);
	i_zero(map);
}

static bool terms_header_parse(const char *data, size_t size,
			       uint32_t *last_uid_r)
{
	if (size < TERMS_HEADER_LEN ||
	    memcmp(data, TERMS_MAGIC, sizeof(TERMS_MAGIC) - 1) != 0 ||
	    data[TERMS_HEADER_LEN - 1] != '\n')
		return FALSE;
	return str_to_uint32(t_strndup(data + sizeof(TERMS_MAGIC) - 1, 10),
			     last_uid_r) == 0;
}

int sift_dict_open(const char *dir, struct sift_dict **dict_r,
		   const char **error_r)
{
	struct sift_dict *dict = i_new(struct sift_dict, 1);

	if (sift_map_file(t_strconcat(dir, "/"SIFT_DICT_TERMS_FILE, NULL),
			  &dict->terms, error_r) < 0 ||
	    sift_map_file(t_strconcat(dir, "/"SIFT_DICT_OPAQUE_FILE, NULL),
			  &dict->opaque, error_r) < 0) {
		sift_dict_close(&dict);
		return -1;
	}
	dict->terms_valid = terms_header_parse(dict->terms.data,
					       dict->terms.size,
					       &dict->terms_uid);
	*dict_r = dict;
	return 0;
}

void sift_dict_close(struct sift_dict **_dict)
{
	struct sift_dict *dict = *_dict;

	if (dict == NULL)
		return;
	*_dict = NULL;
	sift_unmap(&dict->terms);
	sift_unmap(&dict->opaque);
	i_free(dict);
}

bool sift_dict_terms_complete(const struct sift_dict *dict, uint32_t last_uid)
{
	return dict->terms_valid && dict->terms_uid >= last_uid;
}

/* Start of the line holding pos (lines begin at begin or after '\n'). */
static const char *line_start(const char *begin, const char *pos)
{
	const char *p = memrchr(begin, '\n', pos - begin);

	return p == NULL ? begin : p + 1;
}

/* The rest of the term [ls, le) in family p, or NULL if it is not one. */
static const char *
term_rest(const struct sift_dict_prefix *p, const char *ls, const char *le)
{
	size_t prefix_len = strlen(p->prefix);
	const char *rest;

	if ((size_t)(le - ls) < prefix_len ||
	    memcmp(ls, p->prefix, prefix_len) != 0)
		return NULL;
	rest = ls + prefix_len;
	if (p->sep != '\0') {
		rest = memchr(rest, p->sep, le - rest);
		if (rest == NULL)
			return NULL;
		rest++;
	}
	return rest;
}

void sift_dict_match_terms(struct sift_dict *dict,
			   const struct sift_dict_prefix *prefixes,
			   unsigned int prefix_count,
			   const char *needle, size_t needle_len,
			   ARRAY_TYPE(sift_dict_term) *terms_r)
{
	const char *begin, *end, *pos, *hit;

	if (needle_len == 0 || dict->terms.size <= TERMS_HEADER_LEN)
		return;
	begin = dict->terms.data + TERMS_HEADER_LEN;
	end = dict->terms.data + dict->terms.size;
	pos = begin;
	while (pos < end &&
	       (hit = memmem(pos, end - pos, needle, needle_len)) != NULL) {
		const char *ls = line_start(begin, hit);
		const char *le = memchr(hit, '\n', end - hit);

		if (le == NULL)
			le = end; /* a last line being appended */
		pos = le + 1;
		for (unsigned int i = 0; i < prefix_count; i++) {
			const char *rest = term_rest(&prefixes[i], ls, le);

			/* the hit may have been in the prefix: look again
			   in the rest only */
			if (rest == NULL || (hit < rest &&
			     memmem(rest, le - rest, needle,
				    needle_len) == NULL))
				continue;
			struct sift_dict_term *term =
				array_append_space(terms_r);
			term->str = ls;
			term->len = le - ls;
			break;
		}
	}
}

void sift_dict_match_opaque(struct sift_dict *dict, const char *needle,
			    size_t needle_len, ARRAY_TYPE(seq_range) *uids)
{
	const char *begin, *end, *pos, *hit;

	if (needle_len == 0 || dict->opaque.size == 0)
		return;
	begin = pos = dict->opaque.data;
	end = begin + dict->opaque.size;
	while (pos < end &&
	       (hit = memmem(pos, end - pos, needle, needle_len)) != NULL) {
		const char *ls = line_start(begin, hit);
		const char *le = memchr(hit, '\n', end - hit);
		const char *sp = memchr(ls, ' ', (le == NULL ? end : le) - ls);
		uint32_t uid;

		if (le == NULL || sp == NULL) {
			/* a last line being appended, or garbage */
			pos = le == NULL ? end : le + 1;
			continue;
		}
		if (hit <= sp) {
			/* a hit in the uid: look on in this line's tokens */
			pos = sp + 1;
			continue;
		}
		pos = le + 1;
		if (str_to_uint32(t_strdup_until(ls, sp), &uid) == 0 &&
		    uid > 0)
			seq_range_array_add(uids, uid);
	}
}

/* ---- writer ------------------------------------------------------------- */

/* A line-oriented file whose last line was torn by a crash: end it, so
   that the next line appended starts on its own (the torn line is then a
   prefix of a real term or token, which can't make a search wrong). */
static int sift_end_torn_line(int fd, const char *path, const char **error_r)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char last;

	if (size < 0) {
		*error_r = t_strdup_printf("lseek(%s) failed: %m", path);
		return -1;
	}
	if (size == 0)
		return 0;
	if (pread(fd, &last, 1, size - 1) != 1) {
		*error_r = t_strdup_printf("pread(%s) failed: %m", path);
		return -1;
	}
	if (last != '\n' && write_full(fd, "\n", 1) < 0) {
		*error_r = t_strdup_printf("write(%s) failed: %m", path);
		return -1;
	}
	return 0;
}

int sift_open_append(const char *path, mode_t mode, int *fd_r,
		     bool *created_r, const char **error_r)
{
	int fd;

	*created_r = FALSE;
	fd = open(path, O_RDWR);
	if (fd == -1 && errno == ENOENT) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL, mode);
		*created_r = TRUE;
	}
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	if (lseek(fd, 0, SEEK_END) < 0) {
		*error_r = t_strdup_printf("lseek(%s) failed: %m", path);
		i_close_fd(&fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

static const char *terms_header(uint32_t last_uid)
{
	return t_strdup_printf(TERMS_MAGIC"%010u\n", last_uid);
}

static int sift_dict_write_header(int fd, uint32_t last_uid, const char *path,
				  const char **error_r)
{
	if (pwrite_full(fd, terms_header(last_uid), TERMS_HEADER_LEN, 0) < 0) {
		*error_r = t_strdup_printf("pwrite(%s) failed: %m", path);
		return -1;
	}
	return 0;
}

int sift_dict_writer_open(const char *dir, uint32_t last_uid, mode_t mode,
			  struct sift_dict_writer **writer_r,
			  const char **error_r)
{
	struct sift_dict_writer *writer;
	const char *path;
	char header[TERMS_HEADER_LEN];
	uint32_t file_uid;
	bool created;
	ssize_t ret;

	writer = i_new(struct sift_dict_writer, 1);
	writer->dir = i_strdup(dir);
	writer->mode = mode;
	writer->terms_fd = writer->opaque_fd = -1;

	path = t_strconcat(dir, "/"SIFT_DICT_OPAQUE_FILE, NULL);
	if (sift_open_append(path, mode, &writer->opaque_fd, &created,
			     error_r) < 0 ||
	    sift_end_torn_line(writer->opaque_fd, path, error_r) < 0) {
		sift_dict_writer_close(&writer);
		return -1;
	}
	path = t_strconcat(dir, "/"SIFT_DICT_TERMS_FILE, NULL);
	if (sift_open_append(path, mode, &writer->terms_fd, &created,
			     error_r) < 0 ||
	    (!created &&
	     sift_end_torn_line(writer->terms_fd, path, error_r) < 0)) {
		sift_dict_writer_close(&writer);
		return -1;
	}
	if (created) {
		/* complete only if the database is empty */
		if (write_full(writer->terms_fd, terms_header(0),
			       TERMS_HEADER_LEN) < 0) {
			*error_r = t_strdup_printf("write(%s) failed: %m",
						   path);
			sift_dict_writer_close(&writer);
			return -1;
		}
		writer->terms_complete = last_uid == 0;
	} else {
		ret = pread(writer->terms_fd, header, sizeof(header), 0);
		writer->terms_complete = ret == (ssize_t)sizeof(header) &&
			terms_header_parse(header, sizeof(header), &file_uid) &&
			file_uid == last_uid;
		/* A header for a higher last_uid (rescan lowered it) would
		   make readers trust the file while documents it lacks are
		   added: say "incomplete" before adding any. */
		if (!writer->terms_complete &&
		    sift_dict_write_header(writer->terms_fd, 0, path,
					   error_r) < 0) {
			sift_dict_writer_close(&writer);
			return -1;
		}
	}
	*writer_r = writer;
	return 0;
}

void sift_dict_writer_close(struct sift_dict_writer **_writer)
{
	struct sift_dict_writer *writer = *_writer;

	if (writer == NULL)
		return;
	*_writer = NULL;
	if (writer->terms_fd != -1)
		i_close_fd(&writer->terms_fd);
	if (writer->opaque_fd != -1)
		i_close_fd(&writer->opaque_fd);
	i_free(writer->dir);
	i_free(writer);
}

bool sift_dict_writer_terms_complete(const struct sift_dict_writer *writer)
{
	return writer->terms_complete;
}

int sift_dict_writer_set_incomplete(struct sift_dict_writer *writer,
				    const char **error_r)
{
	/* readers must stop trusting the file before the next commit */
	if (sift_dict_write_header(writer->terms_fd, 0, writer->dir,
				   error_r) < 0)
		return -1;
	writer->terms_complete = FALSE;
	return 0;
}

int sift_dict_writer_add_terms(struct sift_dict_writer *writer,
			       const char *lines, size_t len,
			       const char **error_r)
{
	if (len > 0 && write_full(writer->terms_fd, lines, len) < 0) {
		*error_r = t_strdup_printf("write(%s/"SIFT_DICT_TERMS_FILE
					   ") failed: %m", writer->dir);
		return -1;
	}
	return 0;
}

int sift_dict_writer_add_opaque(struct sift_dict_writer *writer, uint32_t uid,
				const char *tokens, size_t len,
				const char **error_r)
{
	string_t *line;
	int ret = 0;

	if (len == 0)
		return 0;
	line = t_str_new(len + 16);
	str_printfa(line, "%u ", uid);
	for (size_t i = 0; i < len; i++)
		str_append_c(line, tokens[i] == '\n' ? ' ' : tokens[i]);
	str_truncate(line, str_len(line) - (tokens[len-1] == '\n' ? 1 : 0));
	str_append_c(line, '\n');
	if (write_full(writer->opaque_fd, str_data(line), str_len(line)) < 0) {
		*error_r = t_strdup_printf("write(%s/"SIFT_DICT_OPAQUE_FILE
					   ") failed: %m", writer->dir);
		ret = -1;
	}
	return ret;
}

int sift_dict_writer_sync(struct sift_dict_writer *writer, bool do_fsync,
			  const char **error_r)
{
	if (!do_fsync)
		return 0;
	if (fdatasync(writer->terms_fd) < 0 ||
	    fdatasync(writer->opaque_fd) < 0) {
		*error_r = t_strdup_printf("fdatasync(%s) failed: %m",
					   writer->dir);
		return -1;
	}
	return 0;
}

int sift_dict_writer_committed(struct sift_dict_writer *writer,
			       uint32_t last_uid, const char **error_r)
{
	if (!writer->terms_complete)
		return 0;
	return sift_dict_write_header(writer->terms_fd, last_uid,
				      writer->dir, error_r);
}

struct terms_write_ctx {
	int fd;
	buffer_t *buf;
	int error;
};

static int terms_write_cb(void *context, const char *term, size_t len)
{
	struct terms_write_ctx *ctx = context;

	buffer_append(ctx->buf, term, len);
	buffer_append_c(ctx->buf, '\n');
	if (ctx->buf->used >= 256 * 1024) {
		if (write_full(ctx->fd, ctx->buf->data, ctx->buf->used) < 0) {
			ctx->error = errno;
			return -1;
		}
		buffer_set_used_size(ctx->buf, 0);
	}
	return 0;
}

/* Write a file atomically: build path.tmp, then rename over path. */
int sift_replace_file_begin(const char *path, mode_t mode, int *fd_r,
			    const char **error_r)
{
	const char *tmp = t_strconcat(path, ".tmp", NULL);

	*fd_r = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (*fd_r == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", tmp);
		return -1;
	}
	return 0;
}

int sift_replace_file_end(const char *path, int *fd, bool ok,
			  const char **error_r)
{
	const char *tmp = t_strconcat(path, ".tmp", NULL);

	if (ok && fdatasync(*fd) < 0) {
		*error_r = t_strdup_printf("fdatasync(%s) failed: %m", tmp);
		ok = FALSE;
	}
	i_close_fd(fd);
	if (ok && rename(tmp, path) < 0) {
		*error_r = t_strdup_printf("rename(%s, %s) failed: %m",
					   tmp, path);
		ok = FALSE;
	}
	if (!ok)
		i_unlink_if_exists(tmp);
	return ok ? 0 : -1;
}

int sift_dict_write_terms(struct sift_dict_writer *writer,
			  struct sift_xdb *db, const char *dest_dir,
			  uint32_t last_uid, const char **error_r)
{
	const char *path = t_strconcat(dest_dir, "/"SIFT_DICT_TERMS_FILE,
				       NULL);
	struct terms_write_ctx ctx;
	struct sift_xerror err;
	bool ok = TRUE;
	int cb_ret;

	i_zero(&ctx);
	if (sift_replace_file_begin(path, writer->mode, &ctx.fd, error_r) < 0)
		return -1;
	ctx.buf = buffer_create_dynamic(default_pool, 300 * 1024);
	buffer_append(ctx.buf, terms_header(last_uid), TERMS_HEADER_LEN);
	if (sift_xdb_each_term(db, terms_write_cb, &ctx, &cb_ret,
			       &err) != SIFT_X_OK) {
		*error_r = t_strdup_printf("Listing terms failed: %s",
					   err.msg);
		ok = FALSE;
	} else if (cb_ret != 0 ||
		   write_full(ctx.fd, ctx.buf->data, ctx.buf->used) < 0) {
		if (cb_ret != 0)
			errno = ctx.error;
		*error_r = t_strdup_printf("write(%s.tmp) failed: %m", path);
		ok = FALSE;
	}
	buffer_free(&ctx.buf);
	if (sift_replace_file_end(path, &ctx.fd, ok, error_r) < 0)
		return -1;

	if (strcmp(dest_dir, writer->dir) == 0) {
		/* continue appending to the new file */
		bool created;

		i_close_fd(&writer->terms_fd);
		if (sift_open_append(path, writer->mode, &writer->terms_fd,
				     &created, error_r) < 0)
			return -1;
		writer->terms_complete = TRUE;
	}
	return 0;
}

int sift_dict_write_opaque(struct sift_dict_writer *writer,
			   const struct sift_uids *keep, const char *dest_dir,
			   const char **error_r)
{
	const char *path = t_strconcat(dest_dir, "/"SIFT_DICT_OPAQUE_FILE,
				       NULL);
	struct sift_map map;
	const char *pos, *end, *le, *sp;
	uint32_t uid;
	int fd;
	bool ok = TRUE;

	if (sift_map_file(t_strconcat(writer->dir, "/"SIFT_DICT_OPAQUE_FILE,
				      NULL), &map, error_r) < 0)
		return -1;
	if (sift_replace_file_begin(path, writer->mode, &fd, error_r) < 0) {
		sift_unmap(&map);
		return -1;
	}
	pos = map.data;
	end = map.data + map.size;
	while (ok && pos < end) {
		le = memchr(pos, '\n', end - pos);
		if (le == NULL)
			break;
		sp = memchr(pos, ' ', le - pos);
		if (sp != NULL &&
		    str_to_uint32(t_strdup_until(pos, sp), &uid) == 0) {
			/* keep is sorted: binary search */
			bool found = FALSE;
			size_t lo = 0, hi = keep->count;

			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (keep->uids[mid] < uid)
					lo = mid + 1;
				else if (keep->uids[mid] > uid)
					hi = mid;
				else {
					found = TRUE;
					break;
				}
			}
			if (found && write_full(fd, pos, le - pos + 1) < 0) {
				*error_r = t_strdup_printf(
					"write(%s.tmp) failed: %m", path);
				ok = FALSE;
			}
		}
		pos = le + 1;
	}
	sift_unmap(&map);
	return sift_replace_file_end(path, &fd, ok, error_r);
}
