/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Parsers for option values (sizes, ids, numbers), kept apart from main.c
 * so the unit tests can check them.
 */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vvu_device.h"

int
vvu_dev_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int
vvu_dev_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (shift != 0) {
		end++;
		/* "4G", "4GB", "4GiB" all mean 4 << 30 */
		if (strcmp(end, "") != 0 && strcasecmp(end, "B") != 0 &&
		    strcasecmp(end, "iB") != 0)
			return -EINVAL;
	} else if (*end != '\0') {
		return -EINVAL;
	}
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	v <<= shift;
	if ((v & (v - 1)) != 0 || v < VVU_MIN_SHM_SIZE || v > VVU_MAX_SHM_SIZE)
		return -ERANGE;
	*out = v;
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 16 bytes as a canonical UUID (8-4-4-4-12) or 32 hex digits. */
int
vvu_dev_parse_id(const char *s, uint8_t id[16])
{
	static const int dash_at[] = { 8, 13, 18, 23 };
	size_t len = s != NULL ? strlen(s) : 0;
	unsigned int nib = 0, d = 0;
	size_t i;

	if (len != 32 && len != 36)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		int h;

		if (len == 36 && d < 4 && (int)i == dash_at[d]) {
			if (s[i] != '-')
				return -EINVAL;
			d++;
			continue;
		}
		h = hexval(s[i]);
		if (h < 0)
			return -EINVAL;
		if (nib % 2 == 0)
			id[nib / 2] = (uint8_t)(h << 4);
		else
			id[nib / 2] |= (uint8_t)h;
		nib++;
	}
	return nib == 32 ? 0 : -EINVAL;
}
