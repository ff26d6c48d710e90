"""One library, one process: runs the requests of a task on one open reader and prints a JSON line.

    python worker.py TASK.json      # run (what run.py does)
    python worker.py --probe NAME   # can this row run here? prints {"ok": ..., "version"/"reason"}

Each request is timed from the call to the frames in the library's hands (the first one includes
opening the file); the identity check (reading the index each frame spells) runs after the clock
stops. ``cpu_s`` is the process's CPU time over the same span, all threads together.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import ROWS, Request


def probe(name: str) -> dict:
    cls = ROWS[name][0]
    try:
        version = cls.version()
        check = getattr(cls, "available", None)
        reason = check() if check else None
        if reason:
            return {"ok": False, "reason": reason}
        return {"ok": True, "version": version}
    except Exception as e:  # noqa: BLE001 — an uninstallable peer is reported, not fatal
        return {"ok": False, "reason": f"{type(e).__name__}: {e}".splitlines()[0][:300]}


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    if sys.argv[1] == "--probe":
        print(json.dumps(probe(sys.argv[2])))
        return
    task = json.loads(Path(sys.argv[1]).read_text())
    name = task["row"]
    cls = ROWS[name][0]
    threads = int(task["threads"])
    from inputs import read_frame_index

    out = {"row": name, "sessions": []}
    saved = {}
    for si, session in enumerate(task["sessions"]):
        # A session is one open reader (adapter) asked for its requests in turn.
        adapter = cls(task["video"], threads, task["options"])
        adapter.load()
        if si == 0:
            out["rss_after_imports_mib"] = maxrss_mib()
        recs = []
        for k, r in enumerate(session):
            req = Request(r["kind"], r["indices"], tuple(r["size"]), r.get("start"), r.get("end"))
            t0, c0 = time.perf_counter(), time.process_time()
            if k == 0:
                adapter.open()
            res = adapter.get(req)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            rec = {"kind": req.kind, "wall_s": wall, "cpu_s": cpu, "maxrss_mib": maxrss_mib(),
                   "requested": req.indices, "reported": res.indices, "packets": res.packets}
            frames = cls.to_numpy(res.frames)
            if frames is not None:
                rec["shape"] = list(frames.shape)
                rec["spelled"] = [read_frame_index(f) for f in frames]
                keep = r.get("save_frames")
                if keep:  # a few frames for the pixel comparison with ours
                    pick = [j for j in keep if j < len(frames)]
                    saved[f"s{si}r{k}"] = frames[pick]
            recs.append(rec)
            del res, frames
        out["sessions"].append(recs)
        del adapter
    if saved and task.get("frames_out"):
        import numpy as np

        np.savez(task["frames_out"], **saved)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
