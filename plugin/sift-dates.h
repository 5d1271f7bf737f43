/* sift-dates: the dates Dovecot's search compares, kept per message in
   the index, and the date leaves answered from them.

   What Dovecot compares (index-search.c, search_arg_match_cached(), the
   same in 2.3 and 2.4): for SINCE/BEFORE/ON the received date
   (INTERNALDATE, mail_get_received_date()); for SENTSINCE/SENTBEFORE/
   SENTON the Date: header as mail_get_date() returns it: the time and the
   sender's offset, compared as time + offset, i.e. the sender's wall
   clock.  A received date is compared as the searching process's local
   time (localtime() at search time), unless the argument has
   MAIL_SEARCH_ARG_FLAG_UTC_TIMES (WITHIN: OLDER/YOUNGER), which compares
   the time itself.  BEFORE: date < t; SINCE: date >= t; ON:
   t <= date < t + 24h; t is the argument's value.time as Dovecot parsed it.

   So the index keeps the raw inputs (the UTC time and the sender's
   offset) and applies the local-time conversion at search time, in the
   searching process, as Dovecot does: a different TZ of the indexer and
   of imap changes nothing.

   Which dates are kept as certain (sift_dates_time_certain()): only times
   in 1..2^31-2.  Dovecot caches both dates as 32-bit unsigned numbers
   (2.3 truncates, 2.4 clamps), while a message whose date is not in its
   cache yet is compared with the full time_t, and a Date: header that is
   missing or unparsable reads as 0 through the cache but is compared by
   parsing the header otherwise (index-search.c search_sent(): never a
   match).  Outside that range Dovecot's own answer depends on its cache,
   so the index leaves those messages to it ("maybe"), as it does for
   messages indexed before dates were kept (no value at all).
   SAVEDSINCE/SAVEDBEFORE/SAVEDON are never answered: a save date is not
   fixed in every format (maildir falls back to the file's ctime, which
   renames for flag changes move; mbox has none), so Dovecot reads it. */
#ifndef SIFT_DATES_H
#define SIFT_DATES_H

struct mail_search_arg;

/* The value (slot SIFT_VALUE_DATES) is this many bytes: a version byte,
   a flag byte, then the received time (4 bytes), the sent time (4 bytes)
   and the sender's offset in minutes (2 bytes, signed), little-endian. */
#define SIFT_DATES_VALUE_SIZE 12

struct sift_dates {
	/* received: the received date is certain; sent: the Date: header
	   parsed to a certain time */
	bool received, sent;
	time_t received_time;
	time_t sent_time;
	/* minutes east of UTC, as message_date_parse() returns it */
	int sent_tz;
};

/* Can a date of this time be answered by the index (see above)? */
bool sift_dates_time_certain(time_t t);

/* Encode: uncertain dates (received/sent FALSE) are stored as absent. */
void sift_dates_encode(const struct sift_dates *dates,
		       unsigned char buf_r[SIFT_DATES_VALUE_SIZE]);
/* Decode a value; FALSE if it is not one this version wrote (then
   nothing is certain). */
bool sift_dates_decode(const void *data, size_t size,
		       struct sift_dates *dates_r);

/* Is arg a date leaf the index answers (SINCE/BEFORE/ON on the received
   or sent date, not no_fts)? */
bool sift_search_arg_is_date(const struct mail_search_arg *arg);

/* Does a message with these dates match the date leaf arg (ignoring its
   match_not)?  1 yes, 0 no, -1 the index can't tell (the date isn't
   certain): Dovecot checks the message.  Local time is computed like
   Dovecot does (localtime() of this process) and only where it can
   change the answer. */
int sift_dates_match(const struct mail_search_arg *arg,
		     const struct sift_dates *dates);

#endif
