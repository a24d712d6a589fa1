/* SPDX-License-Identifier: GPL-2.0 */
#ifndef BV_H
#define BV_H

/* C++ side (cxx-src/, prebuilt into bv_cxx.o_binary) */
void bv_a_init(void);
int bv_a_run(int x);
int bv_b_run(int x);
const char *bv_b_mode(void);

/* C side */
int bv_called(const char *name, int value);

struct bv_ops {
	const char *name;
	int (*open)(int x);
	int (*close)(int x);
};
extern const struct bv_ops bv_disk_ops;
extern const struct bv_ops bv_net_ops;

#endif
