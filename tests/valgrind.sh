#!/usr/bin/env bash
# tests/valgrind.sh - run one test program under Valgrind's memcheck (the
# LOG_COMPILER of `make check-valgrind`). Any error, or memory still
# reachable through no pointer at exit, fails the test. Check runs each test
# in a forked child, which Valgrind follows: an error there fails that test.
set -euo pipefail
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect --track-origins=no --num-callers=30 \
  --suppressions="${srcdir:-.}/tests/valgrind.supp" "$@"
