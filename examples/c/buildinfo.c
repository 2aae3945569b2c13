/* buildinfo.c -- print what this libkeyhold contains (kh_build_info). */
#include <keyhold/keyhold.h>
#include <stdio.h>

int main(void) {
  puts(kh_build_info());
  return 0;
}
