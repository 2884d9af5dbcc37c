#!/bin/sh
# tests/header.sh - the public header compiles on its own as C99, C11 and
# C++17 with every warning an error (programs that link weft use all
# three).
set -e
src=${srcdir:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <weft.h>\nint main(void) { return weft_version() == 0; }\n' > "$tmp/h.c"
cp "$tmp/h.c" "$tmp/h.cpp"
for std in c99 c11; do
  ${CC:-cc} -std=$std -Wall -Wextra -pedantic -Werror -I"$src/include" -c "$tmp/h.c" -o "$tmp/h.o"
  echo "header: $std ok"
done
if command -v "${CXX:-c++}" >/dev/null 2>&1; then
  ${CXX:-c++} -std=c++17 -Wall -Wextra -pedantic -Werror -I"$src/include" -c "$tmp/h.cpp" -o "$tmp/h.o"
  echo "header: c++17 ok"
else
  echo "header: no C++ compiler; C++17 not checked" >&2
  exit 77
fi
