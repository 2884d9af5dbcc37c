#!/usr/bin/env bash
# tests/valgrind.sh - run one test program under Valgrind's memcheck (the
# LOG_COMPILER of `make check-valgrind`). Any error, or memory still
# reachable through no pointer at exit, fails the test. Check runs each test
# in a forked child, which Valgrind follows: an error there fails that test.
# Valgrind runs one thread at a time; --fair-sched=yes hands that turn round
# in order, so a task spinning on one worker cannot starve the others for
# longer than the tests' deadlines allow.
set -euo pipefail
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect --track-origins=no --num-callers=30 --fair-sched=yes \
  --suppressions="${srcdir:-.}/tests/valgrind.supp" "$@"
