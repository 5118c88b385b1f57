#!/usr/bin/env bash
# tests/check_sans_io.sh LIB: fail if the core library calls anything outside
# pure computation. Core must not reach the OS (no syscalls, clocks, sockets,
# threads, files, SimGrid); every outside symbol it needs is listed here.
set -euo pipefail
lib=$1
# snprintf and strtod only format and parse numbers (core/units.c): no I/O.
allowed='^(malloc|calloc|realloc|aligned_alloc|free|memcpy|memmove|memset|memcmp|strcmp|strnlen|strlen|snprintf|strtod|crc32_iscsi|__assert_fail|__stack_chk_fail|_GLOBAL_OFFSET_TABLE_|__(a|ub|t)san_.*|__sanitizer_.*|__sancov_.*|__start___sancov.*|__stop___sancov.*)$'
# Symbols some member needs that no member of the archive defines.
defined=$(nm --defined-only --format=just-symbols "$lib" 2>/dev/null | sort -u)
undefined=$(nm -u --format=just-symbols "$lib" | sort -u | comm -23 - <(printf '%s\n' "$defined"))
bad=$(printf '%s\n' "$undefined" | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
  echo "core reaches outside the sans-IO boundary through:"
  printf '  %s\n' $bad
  exit 1
fi
echo "core is sans-IO: $(printf '%s\n' "$undefined" | grep -c .) outside symbols, all allowed"
