/* sift-expunge-queue.c: the expunge queue file (see
   sift-expunge-queue.h). */
#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "write-full.h"
#include "sift-record.h"
#include "sift-uids.h"
#include "sift-expunge-queue.h"

#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

static const char *queue_path(const char *dir)
{
	return t_strconcat(dir, "/"SIFT_EXPUNGE_QUEUE_FILE, NULL);
}

static const char *queue_line(const ARRAY_TYPE(seq_range) *uids)
{
	const char *ranges = sift_uid_ranges_str(uids);

	return t_strdup_printf("%s %08x\n", ranges,
			       sift_record_sum(0, ranges, strlen(ranges)));
}

/* Add the UIDs of the queue's good lines to uids; *bad_r counts the
   others (a torn last line while a line is being written is not bad). */
static void queue_parse(const char *data, size_t size,
			ARRAY_TYPE(seq_range) *uids, unsigned int *bad_r)
{
	const char *pos = data, *end = data + size, *le, *sp;
	unsigned int sum;

	*bad_r = 0;
	for (; pos < end; pos = le + 1) {
		le = memchr(pos, '\n', end - pos);
		if (le == NULL)
			break;
		T_BEGIN {
			const char *line = t_strdup_until(pos, le);

			sp = strrchr(line, ' ');
			if (sp == NULL || strlen(sp + 1) != 8 ||
			    sscanf(sp + 1, "%8x", &sum) != 1 ||
			    sift_record_sum(0, line, sp - line) != sum ||
			    sift_uid_ranges_parse(t_strdup_until(line, sp),
						  uids) < 0)
				(*bad_r)++;
		} T_END;
	}
}

void sift_expunge_queue_read(const char *dir, struct event *event,
			     ARRAY_TYPE(seq_range) *uids)
{
	const char *path = queue_path(dir);
	unsigned int bad;
	buffer_t *buf;
	ssize_t ret;
	int fd;

	/* read(), not mmap(): a writer truncates the file when it takes
	   the queue over, which would fault a mapping being read */
	fd = open(path, O_RDONLY);
	if (fd == -1)
		return;
	buf = t_buffer_create(4096);
	do {
		ret = read(fd, buffer_append_space_unsafe(buf, 4096), 4096);
		buffer_set_used_size(buf, buf->used - 4096 +
				     (ret > 0 ? (size_t)ret : 0));
	} while (ret > 0 && buf->used < 16 * 1024 * 1024);
	if (ret < 0)
		e_debug(event, "read(%s) failed: %m", path);
	i_close_fd(&fd);
	if (buf->used > 0)
		queue_parse(buf->data, buf->used, uids, &bad);
}

/* Open the queue and lock it (flock: the queue's own lock, apart from
   the database's).  Returns the fd with *st_r filled, or -1 if there is
   no queue (or it can't be used: logged). */
static int queue_open_locked(const char *path, struct event *event,
			     struct stat *st_r)
{
	int fd;

	fd = open(path, O_RDWR);
	if (fd == -1) {
		if (errno != ENOENT)
			e_warning(event, "open(%s) failed: %m", path);
		return -1;
	}
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, st_r) < 0) {
		e_warning(event, "flock/fstat(%s) failed: %m", path);
		i_close_fd(&fd);
		return -1;
	}
	return fd;
}

uoff_t sift_expunge_queue_take(const char *dir, struct event *event,
			       ARRAY_TYPE(seq_range) *uids)
{
	const char *path = queue_path(dir);
	struct stat st;
	buffer_t *buf;
	unsigned int bad = 0;
	ssize_t ret;
	int fd;

	fd = queue_open_locked(path, event, &st);
	if (fd == -1)
		return 0;
	if (st.st_size == 0) {
		i_close_fd(&fd);
		return 0;
	}
	buf = t_buffer_create(st.st_size);
	ret = pread(fd, buffer_append_space_unsafe(buf, st.st_size),
		    st.st_size, 0);
	if (ret != st.st_size) {
		e_warning(event, "Reading %s failed: %m", path);
		i_close_fd(&fd);
		return 0;
	}
	i_close_fd(&fd);
	queue_parse(buf->data, buf->used, uids, &bad);
	if (bad > 0) {
		e_warning(event, "%s: %u damaged lines ignored (doveadm fts "
			  "rescan records what they held)", path, bad);
	}
	/* cut after the commit that records them, even if no line is
	   good (then only the cut is committed) */
	return st.st_size;
}

/* The file is never rewritten, so a process killed here loses nothing. */
void sift_expunge_queue_trim(const char *dir, struct event *event,
			     uoff_t taken)
{
	const char *path = queue_path(dir);
	struct stat st;
	int fd;

	if (taken == 0)
		return;
	fd = queue_open_locked(path, event, &st);
	if (fd == -1)
		return;
	if ((uoff_t)st.st_size == taken && ftruncate(fd, 0) < 0)
		e_warning(event, "ftruncate(%s) failed: %m", path);
	i_close_fd(&fd);
}

int sift_expunge_queue_append(const char *dir, mode_t mode,
			      const ARRAY_TYPE(seq_range) *uids,
			      const char **error_r)
{
	const char *path = queue_path(dir);
	const char *line = queue_line(uids);
	struct stat st;
	char last;
	int fd, ret = 0;

	/* (O_RDWR: the last byte is read below; a queue this process may
	   only write is appended to without that check) */
	fd = open(path, O_RDWR | O_APPEND | O_CREAT, mode);
	if (fd == -1 && errno == EACCES)
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT, mode);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	/* the writer truncates the file under the same lock after reading
	   it, so a line is never half read and then cut */
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0) {
		*error_r = t_strdup_printf("Locking %s failed: %m", path);
		i_close_fd(&fd);
		return -1;
	}
	/* Lines are appended under this lock, so a last line without its
	   newline is no line being written: it was cut short (its
	   appender killed in the middle of a write longer than a page, or
	   out of disk space).  End it first, so that it costs only itself
	   (a damaged line, skipped); appended to it, this line would be
	   part of it and lost too.  Never truncated: the writer cuts the
	   queue only if it still has the size it took over. */
	if (st.st_size > 0 &&
	    pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
		line = t_strconcat("\n", line, NULL);
	if (write_full(fd, line, strlen(line)) < 0) {
		*error_r = t_strdup_printf("Appending to %s failed: %m", path);
		ret = -1;
	}
	i_close_fd(&fd);
	return ret;
}
