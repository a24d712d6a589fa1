// SPDX-License-Identifier: GPL-2.0
/* String and pointer tables (data with many relocations). */
#include <linux/kernel.h>
#include <linux/module.h>

#include "basic.h"

static const char *const basic_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

struct basic_op {
	const char *name;
	int (*fn)(int x);
	const char *const *alias;
};

static int op_inc(int x) { return x + 1; }
static int op_dbl(int x) { return x * 2; }
static int op_neg(int x) { return -x; }
static int op_sq(int x) { return x * x; }

static const struct basic_op basic_ops[] = {
	{ "inc", op_inc, &basic_names[0] },
	{ "dbl", op_dbl, &basic_names[1] },
	{ "neg", op_neg, &basic_names[2] },
	{ "sq",  op_sq,  &basic_names[3] },
};

/* writable table: lands in .data with relocations */
static struct basic_op basic_live_ops[] = {
	{ "inc", op_inc, &basic_names[4] },
	{ "sq",  op_sq,  &basic_names[5] },
};

int basic_table_apply(int x)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(basic_ops); i++)
		x = basic_ops[i].fn(x) + (int)strlen(*basic_ops[i].alias);
	for (i = 0; i < ARRAY_SIZE(basic_live_ops); i++)
		x ^= basic_live_ops[i].fn(x);
	return x;
}

const char *basic_name_of(unsigned int idx)
{
	return basic_names[idx % ARRAY_SIZE(basic_names)];
}
EXPORT_SYMBOL_GPL(basic_name_of);
