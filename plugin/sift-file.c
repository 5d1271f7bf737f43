/* sift-file.c: file helpers of the side files (see sift-file.h). */
#include "lib.h"
#include "sift-file.h"

#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

enum sift_map_strategy sift_map_strategy = SIFT_MAP_PREAD;

/* Window buffers of maps given back, for the next maps' windows (see
   sift-file.h): each NULL or SIFT_MAP_WINDOW bytes. */
static void *sift_map_spares[SIFT_MAP_SPARES];

static void *sift_map_buffer_get(size_t size)
{
	unsigned int i;
	void *mem;

	for (i = 0; size == SIFT_MAP_WINDOW && i < SIFT_MAP_SPARES; i++) {
		if (sift_map_spares[i] != NULL) {
			/* (not zeroed: only bytes pread() filled are read) */
			mem = sift_map_spares[i];
			sift_map_spares[i] = NULL;
			return mem;
		}
	}
	return i_malloc(size);
}

static void sift_map_buffer_put(void **mem, size_t size)
{
	unsigned int i;

	if (*mem == NULL)
		return;
	for (i = 0; size == SIFT_MAP_WINDOW && i < SIFT_MAP_SPARES; i++) {
		if (sift_map_spares[i] == NULL) {
			sift_map_spares[i] = *mem;
			*mem = NULL;
			return;
		}
	}
	i_free(*mem);
}

size_t sift_map_spare_memory(void)
{
	size_t total = 0;
	unsigned int i;

	for (i = 0; i < SIFT_MAP_SPARES; i++) {
		if (sift_map_spares[i] != NULL)
			total += SIFT_MAP_WINDOW;
	}
	return total;
}

void sift_map_spares_free(void)
{
	unsigned int i;

	for (i = 0; i < SIFT_MAP_SPARES; i++)
		i_free(sift_map_spares[i]);
}

int sift_map_file(const char *path, struct sift_map *map_r,
		  const char **error_r)
{
	struct stat st;
	int fd;

	i_zero(map_r);
	map_r->fd = -1;
	map_r->strategy = sift_map_strategy;
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
	map_r->fd = fd;
	map_r->size = st.st_size;
	map_r->path = i_strdup(path);
	return 0;
}

static void sift_map_drop_window(struct sift_map *map)
{
	if (map->mem != NULL && map->strategy == SIFT_MAP_MMAP)
		(void)munmap(map->mem, map->mem_size);
	else
		sift_map_buffer_put(&map->mem, map->mem_size);
	map->mem = NULL;
	map->mem_size = 0;
	map->win = NULL;
	map->win_len = 0;
	map->win_off = 0;
}

void sift_unmap(struct sift_map *map)
{
	sift_map_drop_window(map);
	/* (a zeroed map, never opened, has no path and no fd) */
	if (map->path != NULL && map->fd != -1)
		i_close_fd(&map->fd);
	i_free(map->error);
	i_free(map->path);
	i_zero(map);
	map->fd = -1;
}

size_t sift_map_memory(const struct sift_map *map)
{
	return map->mem_size;
}

static void sift_map_set_error(struct sift_map *map, const char *error)
{
	if (map->error == NULL)
		map->error = i_strdup(error);
}

/* How much to read for a span [offset, offset + len) missing from the
   window: a whole window when the read continues the window (a scan: a
   record straddling its end, or the next bytes), else a small read (a
   probe elsewhere, as a binary search's or a sparse candidate's:
   reading a whole window for each read the file many times over, 10x
   slower in test-sift-window).  The first read of a file is small too:
   opening a side file reads only its 32-byte header (sift_rfile_open()),
   and a whole window for it made every search read, allocate and fault
   in 2 MB (terms and opaque), a third of a one-word search's CPU time
   at 30,000 messages; a scan starting after it continues the small
   window and so reads whole windows from its second read on.  At least
   the span. */
static size_t sift_map_want(const struct sift_map *map, uint64_t offset,
			    size_t len)
{
	size_t want = SIFT_MAP_WINDOW;

	if (map->win == NULL && map->mem == NULL)
		want = SIFT_MAP_RANDOM_READ;
	else if (map->win != NULL &&
		 (offset < map->win_off ||
		  offset > map->win_off + map->win_len + SIFT_MAP_RANDOM_READ))
		want = SIFT_MAP_RANDOM_READ;
	return I_MAX(want, len);
}

static bool sift_map_pread(struct sift_map *map, uint64_t offset, size_t want)
{
	size_t cap, done = 0;
	ssize_t ret;

	if (want > map->size - offset)
		want = map->size - offset;
	/* one buffer: a window, or the one larger span asked for (given
	   back after it); small reads keep a small one until a larger read
	   (the probes of a binary search need no window) */
	cap = I_MAX(want, (size_t)SIFT_MAP_WINDOW);
	if (map->mem_size < want || map->mem_size > cap) {
		if (want <= SIFT_MAP_RANDOM_READ)
			cap = SIFT_MAP_RANDOM_READ;
		sift_map_buffer_put(&map->mem, map->mem_size);
		map->mem = sift_map_buffer_get(cap);
		map->mem_size = cap;
	}
	map->win = NULL;
	while (done < want) {
		ret = pread(map->fd, (char *)map->mem + done, want - done,
			    offset + done);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			if (ret == 0) {
				sift_map_set_error(map, t_strdup_printf(
					"read(%s) failed: file shrank below "
					"%llu bytes", map->path,
					(unsigned long long)(offset + want)));
			} else {
				sift_map_set_error(map, t_strdup_printf(
					"pread(%s) failed: %m", map->path));
			}
			return FALSE;
		}
		done += ret;
	}
	map->win = map->mem;
	map->win_off = offset;
	map->win_len = want;
	return TRUE;
}

static bool sift_map_mmap(struct sift_map *map, uint64_t offset, size_t want)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t start = offset & ~(uint64_t)(page - 1);
	size_t size;
	void *p;

	if (want > map->size - offset)
		want = map->size - offset;
	size = (size_t)(offset - start) + want;
	sift_map_drop_window(map);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, map->fd, start);
	if (p == MAP_FAILED) {
		sift_map_set_error(map, t_strdup_printf(
			"mmap(%s, %zu bytes at %llu) failed: %m", map->path,
			size, (unsigned long long)start));
		return FALSE;
	}
	map->mem = p;
	map->mem_size = size;
	map->win = (const unsigned char *)p + (offset - start);
	map->win_off = offset;
	map->win_len = want;
	return TRUE;
}

static const void *
sift_map_get_full(struct sift_map *map, uint64_t offset, size_t len,
		  bool span_only)
{
	size_t want;

	if (offset > map->size || len > map->size - offset ||
	    len > SIFT_MAP_MAX_SPAN || map->path == NULL || map->fd == -1)
		return NULL;
	if (map->win != NULL && offset >= map->win_off &&
	    offset + len <= map->win_off + map->win_len)
		return map->win + (offset - map->win_off);
	if (len == 0)
		return "";
	want = span_only ? len : sift_map_want(map, offset, len);
	if (!(map->strategy == SIFT_MAP_MMAP ?
	      sift_map_mmap(map, offset, want) :
	      sift_map_pread(map, offset, want)))
		return NULL;
	return map->win;
}

const void *sift_map_get(struct sift_map *map, uint64_t offset, size_t len)
{
	return sift_map_get_full(map, offset, len, FALSE);
}

const void *sift_map_get_span(struct sift_map *map, uint64_t offset,
			      size_t len)
{
	return sift_map_get_full(map, offset, len, TRUE);
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
