#!/usr/bin/env python3
"""Generates the CFFI (API mode) C source of brass._ffi from the public header.

    python tools/ffi_build.py include/brass/c_api.h OUT.c

The cdef is the header's text between the BRASS_CDEF markers, minus the export macro.
"""
import re
import sys

import cffi


def cdef_from_header(text):
    parts = re.findall(r"/\* BRASS_CDEF(?:_COMMON)?_BEGIN \*/(.*?)/\* BRASS_CDEF(?:_COMMON)?_END \*/", text, re.S)
    body = "\n".join(parts)
    body = re.sub(r"\bBRASS_API\s+", "", body)
    return body


def main():
    header, out = sys.argv[1], sys.argv[2]
    with open(header, encoding="utf-8") as f:
        text = f.read()
    ffi = cffi.FFI()
    ffi.cdef(cdef_from_header(text))
    ffi.set_source("brass._ffi", '#include "brass/c_api.h"')
    ffi.emit_c_code(out)


if __name__ == "__main__":
    main()
