/* sift-file.c: file helpers of the side files (see sift-file.h). */
#include "lib.h"
#include "sift-file.h"

#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

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

void sift_map_release(struct sift_map *map, uint64_t offset)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t end;

	if (map->data == NULL)
		return;
	if (offset > map->size)
		offset = map->size;
	/* whole pages only: the page holding offset is still in use */
	end = (size_t)offset & ~(page - 1);
	if (end < map->released + SIFT_MAP_WINDOW)
		return;
	/* map->data is page-aligned (mmap) and so is map->released */
	(void)madvise((void *)(map->data + map->released),
		      end - map->released, MADV_DONTNEED);
	map->released = end;
}

void sift_map_release_restart(struct sift_map *map)
{
	map->released = 0;
}

void sift_unmap(struct sift_map *map)
{
	if (map->data != NULL)
		(void)munmap((void *)map->data, map->size);
	i_zero(map);
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
