/* sift-index-dir.c: an index directory's state from its files (see
   sift-index-dir.h). */
#include "lib.h"
#include "sift-index-dir.h"

#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>

bool sift_index_dir_has_tables(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	bool found = FALSE;

	if (dir == NULL)
		return FALSE;
	while (!found && (d = readdir(dir)) != NULL) {
		size_t len = strlen(d->d_name);

		if (len > 6 && strcmp(d->d_name + len - 6, ".glass") == 0)
			found = TRUE;
	}
	(void)closedir(dir);
	return found;
}

bool sift_index_dir_writer_active(const char *path)
{
	struct flock fl;
	int fd;

	fd = open(t_strconcat(path, "/flintlock", NULL), O_RDONLY);
	if (fd == -1)
		return FALSE;
	i_zero(&fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	if (fcntl(fd, F_GETLK, &fl) < 0)
		fl.l_type = F_UNLCK;
	i_close_fd(&fd);
	return fl.l_type != F_UNLCK;
}

enum sift_index_dir_state sift_index_dir_state(const char *path)
{
	if (access(t_strconcat(path, "/iamglass", NULL), F_OK) == 0 ||
	    errno != ENOENT || !sift_index_dir_has_tables(path))
		return SIFT_INDEX_DIR_USABLE;
	if (sift_index_dir_writer_active(path))
		return SIFT_INDEX_DIR_BEING_CREATED;
	return SIFT_INDEX_DIR_VERSION_MISSING;
}

int sift_index_dir_check_writable(const char *path, const char **error_r)
{
	const char *lock_path = t_strconcat(path, "/flintlock", NULL);

	if (faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) < 0) {
		*error_r = t_strdup_printf("faccessat(%s) failed: %m", path);
		return -1;
	}
	if (faccessat(AT_FDCWD, lock_path, W_OK, AT_EACCESS) < 0 &&
	    errno != ENOENT) {
		*error_r = t_strdup_printf("faccessat(%s) failed: %m",
					   lock_path);
		return -1;
	}
	return 0;
}
