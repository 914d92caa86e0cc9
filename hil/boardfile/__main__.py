"""``python -m hil.boardfile [BOARD ...] [--config FILE] [--out FILE]``: the boards as Markdown
(the same as ``twin boards doc``)."""

from __future__ import annotations

import argparse
import sys

from hil.boardfile.docs import boards_doc_command
from twin.errors import TwinError

_p = argparse.ArgumentParser(prog="python -m hil.boardfile")
_p.add_argument("boards", nargs="*")
_p.add_argument("--config", default=None)
_p.add_argument("--out", default=None)
try:
    sys.exit(boards_doc_command(_p.parse_args()))
except TwinError as _exc:
    print(f"boards doc: {_exc}", file=sys.stderr)
    sys.exit(2)
