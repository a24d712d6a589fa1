// SPDX-License-Identifier: GPL-2.0
/* C vtables in another translation unit (merged with bv_main.c's by ThinLTO). */
#include <linux/kernel.h>

#include "bv.h"

static int disk_open(int x) { return bv_called("disk_open", x + 1); }
static int disk_close(int x) { return bv_called("disk_close", x - 1); }
static int net_open(int x) { return bv_called("net_open", x * 3); }
static int net_close(int x) { return bv_called("net_close", x / 3); }

const struct bv_ops bv_disk_ops = { "disk", disk_open, disk_close };
const struct bv_ops bv_net_ops = { "net", net_open, net_close };
