/* fts-sift-settings-24.h: Dovecot 2.4's setting_define table, also
   exported by the settings module for doveconf. */
#ifndef FTS_SIFT_SETTINGS_24_H
#define FTS_SIFT_SETTINGS_24_H

/* Dovecot 2.4: the settings' parser info, for settings_get(). */
extern const struct setting_parser_info fts_sift_setting_parser_info;

extern const char *fts_sift_settings_version;
extern const struct setting_parser_info *fts_sift_settings_set_infos[];

#endif
