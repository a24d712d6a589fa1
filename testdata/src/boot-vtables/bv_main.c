// SPDX-License-Identifier: GPL-2.0
/*
 * dkwrap test fixture "boot-vtables": a module whose init calls through vtables (C++
 * vtables in COMDAT groups, C structs of function pointers in two TUs) and prints which
 * function each call reached. scripts/boot-ltokernel.sh builds it with ThinLTO against the
 * small boot kernel; tests/boot.rs loads it under qemu stripped by dkwrap and by GNU strip.
 *
 * Each call is checked against the function it must reach. A wrong one is a corrupted
 * relocation reaching the kernel: the init then stops the machine with BUG(), the way such
 * a module hangs or crashes a real one, so that the failure cannot pass as a load.
 */
#include <linux/bug.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/string.h>

#include "bv.h"

#define BV_MAX_CALLS 32

static const char *bv_calls[BV_MAX_CALLS];
static unsigned int bv_ncalls;

int bv_called(const char *name, int value)
{
	if (bv_ncalls < BV_MAX_CALLS)
		bv_calls[bv_ncalls] = name;
	bv_ncalls++;
	return value;
}

static int local_open(int x) { return bv_called("local_open", x + 7); }

static const struct bv_ops bv_local_ops = { "local", local_open, NULL };
static const struct bv_ops *const bv_all_ops[] = {
	&bv_disk_ops, &bv_net_ops, &bv_local_ops,
};

/* The functions the calls below must reach, in order. */
static const char *const bv_expected[] = {
	"1920x1080@60",
	"Cursor::kind", "Cursor::pitch", "Surface::flip",
	"Surface::kind", "Surface::pitch", "Surface::flip",
	"Overlay::kind", "Surface::pitch", "Overlay::flip",
	"Cursor::kind", "Cursor::pitch", "Surface::flip",
	"Overlay::kind", "Surface::pitch", "Overlay::flip",
	"disk_open", "disk_close", "net_open", "net_close", "local_open",
};

static int __init bv_init(void)
{
	unsigned int i, wrong = 0;
	int sum = 0;

	bv_a_init();
	sum += bv_a_run(0) + bv_a_run(1);
	sum += bv_b_run(0) + bv_b_run(1) + bv_b_run(2);
	for (i = 0; i < ARRAY_SIZE(bv_all_ops); i++) {
		sum += bv_all_ops[i]->open(i);
		if (bv_all_ops[i]->close)
			sum += bv_all_ops[i]->close(i);
	}
	for (i = 0; i < bv_ncalls && i < BV_MAX_CALLS; i++) {
		const char *want = i < ARRAY_SIZE(bv_expected) ? bv_expected[i] : "(none)";
		bool ok = strcmp(bv_calls[i], want) == 0;

		/* pr_warn: the test VM's console shows warnings and worse (loglevel=5). */
		pr_warn("boot_vtables: call %u reached %s%s%s\n", i, bv_calls[i],
			ok ? "" : ", expected ", ok ? "" : want);
		wrong += !ok;
	}
	if (bv_ncalls != ARRAY_SIZE(bv_expected))
		wrong++;
	pr_warn("boot_vtables: %u calls, %u wrong (mode %s, sum %d)\n", bv_ncalls, wrong,
		bv_b_mode(), sum);
	/* A vtable that reaches the wrong code is the corruption itself: stop here. */
	BUG_ON(wrong);
	return 0;
}

static void __exit bv_exit(void)
{
}

module_init(bv_init);
module_exit(bv_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dkwrap boot fixture: calls through vtables and checks where they land");
