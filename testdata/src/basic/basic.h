/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DKWRAP_BASIC_H
#define DKWRAP_BASIC_H

/* basic_tables.c */
int basic_table_apply(int x);
const char *basic_name_of(unsigned int idx);

/* prebuilt blob (blob-src/blob.c, linked in as blob.o) */
int blob_init(void);
void blob_exit(void);
unsigned int blob_checksum(const void *buf, unsigned long len);
const char *blob_message(unsigned int idx);

/* OS interface the blob calls back into (basic_main.c) */
void basic_os_log(const char *msg);
void *basic_os_alloc(unsigned long size);
void basic_os_free(void *ptr);

#endif
