/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DKWRAP_MLIKE_H
#define DKWRAP_MLIKE_H

/* mlike_tables.c */
int mlike_table_apply(int x);
const char *mlike_mode_name(unsigned int idx);

/* prebuilt C++ object (cxx-src/, linked in as nvkms.o) */
int nvkms_a_init(void);
int nvkms_a_run(int x);
int nvkms_b_run(int x);
const char *nvkms_b_describe(unsigned int idx);
void nvkms_exit(void);

/* OS interface the C++ object calls back into (mlike_main.c) */
void mlike_os_log(const char *msg);
void *mlike_os_alloc(unsigned long size);
void mlike_os_free(void *ptr);

#endif
