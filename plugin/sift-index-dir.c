/* sift-index-dir.c: an index directory's state from its files (see
   sift-index-dir.h). */
#include "lib.h"
#include "sift-index-dir.h"

#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

static bool sift_is_table_name(const char *name)
{
	size_t len = strlen(name);

	return len > 6 && strcmp(name + len - 6, ".glass") == 0;
}

/* Look at path's tables: are there any, and does any hold data (or
   can't be looked at, which counts as data)? */
static void sift_index_dir_tables(const char *path, bool *any_r,
				  bool *data_r)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	struct stat st;

	*any_r = *data_r = FALSE;
	if (dir == NULL)
		return;
	while (!*data_r && (d = readdir(dir)) != NULL) {
		if (!sift_is_table_name(d->d_name))
			continue;
		*any_r = TRUE;
		if (fstatat(dirfd(dir), d->d_name, &st, 0) < 0 ||
		    st.st_size > 0)
			*data_r = TRUE;
	}
	(void)closedir(dir);
}

bool sift_index_dir_has_tables(const char *path)
{
	bool any, data;

	sift_index_dir_tables(path, &any, &data);
	return any;
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

/* Is the database's version file there (or can't that be told: then
   opening the database reports why)? */
static bool sift_index_dir_has_version(const char *path)
{
	return access(t_strconcat(path, "/iamglass", NULL), F_OK) == 0 ||
		errno != ENOENT;
}

enum sift_index_dir_state sift_index_dir_state(const char *path)
{
	bool any, data;

	if (sift_index_dir_has_version(path))
		return SIFT_INDEX_DIR_USABLE;
	sift_index_dir_tables(path, &any, &data);
	if (!any)
		return SIFT_INDEX_DIR_USABLE;
	if (sift_index_dir_writer_active(path))
		return SIFT_INDEX_DIR_BEING_CREATED;
	/* The files were looked at one after the other: a writer may have
	   created the database (iamglass comes right after the empty
	   tables), committed and let go of the lock between the first look
	   and the lock's - a moment, or as long as this process was not
	   scheduled.  Its iamglass is there now; a killed creation's or a
	   damaged database's is still missing. */
	if (sift_index_dir_has_version(path))
		return SIFT_INDEX_DIR_USABLE;
	return data ? SIFT_INDEX_DIR_VERSION_MISSING :
		SIFT_INDEX_DIR_CREATION_KILLED;
}

int sift_index_dir_clear_killed_creation(const char *path,
					 const char **error_r)
{
	const char *lock_path = t_strconcat(path, "/flintlock", NULL);
	struct flock fl;
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int fd, ret = 1;

	/* Xapian's own mode for it (0666 less the mailbox's umask, which
	   the caller has in effect): a shared mailbox's other writers must
	   be able to open it too */
	fd = open(lock_path, O_RDWR | O_CREAT, 0666);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", lock_path);
		return -1;
	}
	/* a write lock on Xapian's lock file: it conflicts with Xapian's
	   (an open file description lock on Linux, a process lock
	   elsewhere), so no Xapian writer starts while the tables go */
	i_zero(&fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES) {
			i_close_fd(&fd);
			return 0;
		}
		*error_r = t_strdup_printf("fcntl(%s, F_SETLK) failed: %m",
					   lock_path);
		i_close_fd(&fd);
		return -1;
	}
	/* With the lock held nobody else writes here: look again.  The
	   state was judged before the lock, so a writer may have created
	   the database meanwhile, and finished: then iamglass is there,
	   and its tables may still be empty (nothing committed yet) or hold
	   data.  Nothing to clear then: the caller looks again and opens
	   it.  Else remove only tables still empty. */
	if (sift_index_dir_has_version(path)) {
		i_close_fd(&fd);
		return 1;
	}
	dir = opendir(path);
	if (dir == NULL) {
		*error_r = t_strdup_printf("opendir(%s) failed: %m", path);
		ret = -1;
	}
	while (ret == 1 && (d = readdir(dir)) != NULL) {
		if (!sift_is_table_name(d->d_name))
			continue;
		if (fstatat(dirfd(dir), d->d_name, &st, 0) < 0) {
			*error_r = t_strdup_printf("stat(%s/%s) failed: %m",
						   path, d->d_name);
			ret = -1;
		} else if (st.st_size > 0) {
			*error_r = t_strdup_printf("%s/%s is no longer empty",
						   path, d->d_name);
			ret = -1;
		} else if (unlinkat(dirfd(dir), d->d_name, 0) < 0 &&
			   errno != ENOENT) {
			*error_r = t_strdup_printf("unlink(%s/%s) failed: %m",
						   path, d->d_name);
			ret = -1;
		}
	}
	if (dir != NULL)
		(void)closedir(dir);
	/* closing the descriptor releases the lock */
	i_close_fd(&fd);
	return ret;
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
