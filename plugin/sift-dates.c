/* sift-dates.c: dates kept per message, and date leaves (see
   sift-dates.h).  Depends on Dovecot's lib and the search argument
   struct only, the same in 2.3 and 2.4. */
#include "lib.h"
#include "utc-offset.h"
#include "mail-search.h"
#include "sift-dates.h"

#define SIFT_DATES_VERSION 1
#define SIFT_DATES_FLAG_RECEIVED 0x01
#define SIFT_DATES_FLAG_SENT 0x02

/* Local time is never further than this from UTC (tz offsets since 1970
   are within -12h..+14h): a date further than this from every bound of
   a leaf is answered without calling localtime(). */
#define SIFT_DATES_MAX_LOCAL_OFFSET (26 * 3600)
#define SIFT_DAY_SECS (3600 * 24)

bool sift_dates_time_certain(time_t t)
{
	/* 0 is "no Date:" in Dovecot's cache and (uint32_t)-1 its "not
	   looked up"; past 2^31 the 2.3 cache and time_t disagree */
	return t > 0 && t < (time_t)0x7fffffff;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff; p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff; p[3] = (v >> 24) & 0xff;
}

static uint32_t get_u32(const unsigned char *p)
{
	return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

void sift_dates_encode(const struct sift_dates *dates,
		       unsigned char buf_r[SIFT_DATES_VALUE_SIZE])
{
	bool received = dates->received &&
		sift_dates_time_certain(dates->received_time);
	bool sent = dates->sent && sift_dates_time_certain(dates->sent_time) &&
		dates->sent_tz >= INT16_MIN && dates->sent_tz <= INT16_MAX;
	uint16_t tz = sent ? (uint16_t)(int16_t)dates->sent_tz : 0;

	memset(buf_r, 0, SIFT_DATES_VALUE_SIZE);
	buf_r[0] = SIFT_DATES_VERSION;
	buf_r[1] = (received ? SIFT_DATES_FLAG_RECEIVED : 0) |
		(sent ? SIFT_DATES_FLAG_SENT : 0);
	if (received)
		put_u32(buf_r + 2, (uint32_t)dates->received_time);
	if (sent) {
		put_u32(buf_r + 6, (uint32_t)dates->sent_time);
		buf_r[10] = tz & 0xff;
		buf_r[11] = tz >> 8;
	}
}

bool sift_dates_decode(const void *data, size_t size,
		       struct sift_dates *dates_r)
{
	const unsigned char *p = data;

	i_zero(dates_r);
	if (size != SIFT_DATES_VALUE_SIZE || p[0] != SIFT_DATES_VERSION)
		return FALSE;
	if ((p[1] & SIFT_DATES_FLAG_RECEIVED) != 0) {
		dates_r->received_time = get_u32(p + 2);
		dates_r->received =
			sift_dates_time_certain(dates_r->received_time);
	}
	if ((p[1] & SIFT_DATES_FLAG_SENT) != 0) {
		dates_r->sent_time = get_u32(p + 6);
		dates_r->sent_tz = (int16_t)(uint16_t)(p[10] | (p[11] << 8));
		dates_r->sent = sift_dates_time_certain(dates_r->sent_time);
	}
	return TRUE;
}

bool sift_search_arg_is_date(const struct mail_search_arg *arg)
{
	switch (arg->type) {
	case SEARCH_BEFORE:
	case SEARCH_ON:
	case SEARCH_SINCE:
		break;
	default:
		return FALSE;
	}
	if (arg->no_fts)
		return FALSE;
	switch (arg->value.date_type) {
	case MAIL_SEARCH_DATE_TYPE_RECEIVED:
		return TRUE;
	case MAIL_SEARCH_DATE_TYPE_SENT:
		/* With UTC times (doveadm's relative dates) Dovecot compares
		   the UTC time when the sent date is in its cache, but the
		   sender's wall clock when it parses the header
		   (search_sent()): its own answer depends on its cache. */
		return (arg->value.search_flags &
			MAIL_SEARCH_ARG_FLAG_UTC_TIMES) == 0;
	case MAIL_SEARCH_DATE_TYPE_SAVED:
		/* not kept (sift-dates.h) */
		return FALSE;
	}
	return FALSE;
}

/* Dovecot's comparison of the date as it compares it (index-search.c). */
static bool sift_dates_compare(enum mail_search_arg_type type, time_t date,
			       time_t t)
{
	switch (type) {
	case SEARCH_BEFORE:
		return date < t;
	case SEARCH_ON:
		return date >= t && date < t + SIFT_DAY_SECS;
	case SEARCH_SINCE:
		return date >= t;
	default:
		i_unreached();
	}
}

/* The received date in the searching process's local time, as Dovecot
   computes it; only where it can change the answer: every local offset
   lies within SIFT_DATES_MAX_LOCAL_OFFSET, and the comparisons are
   monotonic in the date (ON: an interval). */
static bool sift_dates_compare_local(enum mail_search_arg_type type,
				     time_t date, time_t t)
{
	time_t lo = date - SIFT_DATES_MAX_LOCAL_OFFSET;
	time_t hi = date + SIFT_DATES_MAX_LOCAL_OFFSET;
	struct tm *tm;

	if (type == SEARCH_ON) {
		if (hi < t || lo >= t + SIFT_DAY_SECS)
			return FALSE;
		if (lo >= t && hi < t + SIFT_DAY_SECS)
			return TRUE;
	} else if (sift_dates_compare(type, lo, t) ==
		   sift_dates_compare(type, hi, t)) {
		return sift_dates_compare(type, lo, t);
	}
	tm = localtime(&date);
	if (tm == NULL) {
		/* (Dovecot would crash in utc_offset(); never for a
		   certain date) */
		return sift_dates_compare(type, date, t);
	}
	return sift_dates_compare(type, date + utc_offset(tm, date) * 60, t);
}

int sift_dates_match(const struct mail_search_arg *arg,
		     const struct sift_dates *dates)
{
	bool utc = (arg->value.search_flags &
		    MAIL_SEARCH_ARG_FLAG_UTC_TIMES) != 0;

	switch (arg->value.date_type) {
	case MAIL_SEARCH_DATE_TYPE_RECEIVED:
		if (!dates->received)
			return -1;
		if (utc) {
			return sift_dates_compare(arg->type,
						  dates->received_time,
						  arg->value.time) ? 1 : 0;
		}
		return sift_dates_compare_local(arg->type,
						dates->received_time,
						arg->value.time) ? 1 : 0;
	case MAIL_SEARCH_DATE_TYPE_SENT:
		if (!dates->sent || utc)
			return -1;
		/* the sender's wall clock ("the timezone is ignored") */
		return sift_dates_compare(arg->type, dates->sent_time +
					  dates->sent_tz * 60,
					  arg->value.time) ? 1 : 0;
	case MAIL_SEARCH_DATE_TYPE_SAVED:
		break;
	}
	return -1;
}
