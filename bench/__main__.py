"""`make bench`: every benchmark in turn, each printing its figures beside its reference and target and
writing them to bench/results/latest.json; the exit status is 1 if any target is missed. `--quick` passes on."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("retrieval", "interactive", "scheduling", "fanout", "escalation", "charts")


def main() -> int:
    extra = [a for a in sys.argv[1:] if a == "--quick"]
    missed: list[str] = []
    for name in BENCHMARKS:
        print(f"\n=== bench.{name} ===", flush=True)
        args = extra if name != "retrieval" else []
        if subprocess.run([sys.executable, "-m", f"bench.{name}", *args], check=False).returncode != 0:
            missed.append(name)
    print("\nall targets met" if not missed else f"\ntargets missed in: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
