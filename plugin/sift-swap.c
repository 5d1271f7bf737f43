/* sift-swap.c: put a new copy of a directory in place (see sift-swap.h). */
#include "lib.h"
#include "unlink-directory.h"
#include "sift-config.h"
#include "sift-swap.h"

#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#if SIFT_HAVE_RENAMEAT2
#  include <sys/syscall.h>
#  include <linux/fs.h>
#endif

static int sift_swap_renames(const char *new_path, const char *path,
			     const char **error_r)
{
	const char *old_path = t_strconcat(path, ".old", NULL);
	const char *error;

	/* left by a crash between the renames below */
	if (unlink_directory(old_path, UNLINK_DIRECTORY_FLAG_RMDIR,
			     &error) < 0 && errno != ENOENT) {
		*error_r = t_strdup_printf("Couldn't remove %s: %s",
					   old_path, error);
		return -1;
	}
	if (rename(path, old_path) < 0) {
		*error_r = t_strdup_printf("rename(%s, %s) failed: %m",
					   path, old_path);
		return -1;
	}
	if (rename(new_path, path) < 0) {
		*error_r = t_strdup_printf("rename(%s, %s) failed: %m",
					   new_path, path);
		if (rename(old_path, path) < 0) {
			*error_r = t_strdup_printf("%s, and putting %s back "
				"failed: %m (it is at %s)", *error_r, path,
				old_path);
		}
		return -1;
	}
	/* the new copy is in place: the old one is only garbage now (a
	   failure leaves it for the next swap, which removes it first) */
	(void)unlink_directory(old_path, UNLINK_DIRECTORY_FLAG_RMDIR, &error);
	return 0;
}

int sift_swap_dirs(const char *new_path, const char *path,
		   bool force_renames, const char **error_r)
{
#if SIFT_HAVE_RENAMEAT2
	if (!force_renames) {
		if (syscall(SYS_renameat2, AT_FDCWD, new_path, AT_FDCWD,
			    path, RENAME_EXCHANGE) == 0)
			return 1;
		if (errno != EINVAL && errno != ENOSYS) {
			*error_r = t_strdup_printf(
				"renameat2(%s, %s, EXCHANGE) failed: %m",
				new_path, path);
			return -1;
		}
	}
#else
	(void)force_renames;
#endif
	return sift_swap_renames(new_path, path, error_r);
}
