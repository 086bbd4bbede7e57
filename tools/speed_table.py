"""Print the README's speed tables from pytest-benchmark JSON files, or rewrite them in place.

    python tools/speed_table.py reports/sample/bench_speed.json                       # print
    python tools/speed_table.py reports/sample/bench_speed.json --update README.md    # rewrite the block

The block is the part of the file between ``<!-- speed-table:begin -->`` and ``<!-- speed-table:end -->``
(qkernels.suite.report.speedtable). Exit 2 on an unreadable file or a file without the markers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qkernels.core.errors import InputError
from qkernels.suite.report.speedtable import replace_block, speed_markdown


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--update", type=Path, help="rewrite the marked block of this file")
    a = ap.parse_args(argv)
    try:
        md = speed_markdown(a.files)
        if a.update is None:
            sys.stdout.write(md)
        else:
            a.update.write_text(replace_block(a.update.read_text(encoding="utf-8"), md), encoding="utf-8")
    except (InputError, OSError) as exc:
        print(f"speed_table: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
