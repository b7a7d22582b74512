#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# crash_replay.sh on a differencing child whose parent has data in every
# other block: after a crash at any point the chain reads every write
# acknowledged before it, and the blocks copied up from the parent hold
# the parent's bytes around the new ones (the map never names a block
# whose copy is not durable).
CR_CHAIN=1 exec "$(dirname "$(realpath "$0")")/crash_replay.sh" "$@"
