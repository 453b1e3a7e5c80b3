"""Folder throughput: `fastip run` on a folder against a shell loop of one `fastip run` per image, and Ray.

Each mode is timed from the outside (process start to exit, fresh output folder, so nothing is
resumed) and the modes are interleaved round by round, so a shared, loaded machine disturbs them alike;
the CPU seconds per image of the child processes (not of Ray's workers) and the load average are printed too.

  python scripts/folder_throughput.py BUNDLE PHOTOS/ --rounds 2 --modes loop,folder
  python scripts/folder_throughput.py BUNDLE PHOTOS/ --limit 20 --modes ray2x1,local1x2,local2x1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

MODES = {
    "loop": "for f in {inputs}; do fastip run {bundle} \"$f\" -o {out}/$(basename \"$f\") {extra} || exit 1; done",
    "folder": "fastip run {bundle} {inputs} -o {out} {extra}",
    "local1x2": "fastip run {bundle} {inputs} -o {out} --workers 1 --threads 2 {extra}",
    "local2x1": "fastip run {bundle} {inputs} -o {out} --workers 2 --threads 1 {extra}",
    "ray2x1": "fastip run {bundle} {inputs} -o {out} --ray --actors 2 --threads 1 {extra}",
    "ray1x2": "fastip run {bundle} {inputs} -o {out} --ray --actors 1 --threads 2 {extra}",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle")
    parser.add_argument("photos", type=Path)
    parser.add_argument("--modes", default="loop,folder", help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=int, help="use the first N photos")
    parser.add_argument("--extra", default="", help="more `fastip run` options, e.g. '--backend openvino'")
    args = parser.parse_args()
    photos = sorted(p for p in args.photos.iterdir() if p.is_file())[: args.limit]
    inputs = " ".join(shlex.quote(str(p)) for p in photos)
    for r in range(args.rounds):
        for mode in args.modes.split(","):
            out = Path(tempfile.mkdtemp(prefix=f"fastip-{mode}-"))
            command = MODES[mode].format(bundle=shlex.quote(args.bundle), inputs=inputs, out=out, extra=args.extra)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
            seconds = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # Ray's own processes are not children: not counted
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            written = len([p for p in out.iterdir() if not p.name.startswith(".")])
            shutil.rmtree(out, ignore_errors=True)
            print(json.dumps({"round": r, "mode": mode, "images": len(photos), "written": written, "rc": done.returncode,
                              "seconds": round(seconds, 2), "images_per_s": round(len(photos) / seconds, 3),
                              "cpu_s_per_image": round(cpu / len(photos), 2), "load": round(os.getloadavg()[0], 1),
                              "summary": done.stderr.strip().splitlines()[-1:] }), flush=True)


if __name__ == "__main__":
    main()
