"""The tree cache: concurrent creators build once, readers never see a partial archive."""

import os
import subprocess
import sys
import textwrap

BUILDER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from hybridsync.engine.lab import samba_cache

    def build(workdir: Path) -> None:
        workdir.mkdir(parents=True)
        with open(os.environ["BUILD_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")
        time.sleep(1.0)
        (workdir / "lab.json").write_text("{}")
        (workdir / "payload").write_bytes(b"x" * 100_000)
        (workdir / "run").mkdir()
        (workdir / "run" / "samba.pid").write_text("1")

    archive = samba_cache.ensure_cached("testkey", build)
    out = Path(sys.argv[1])
    samba_cache.extract(archive, out)
    print((out / "payload").stat().st_size, (out / "run").exists())
""")


def test_concurrent_creators_build_the_entry_once_and_all_extract_it_whole(tmp_path):
    env = {**os.environ, "HYBRIDSYNC_LAB_CACHE": str(tmp_path / "cache"), "BUILD_LOG": str(tmp_path / "builds")}
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(tmp_path / f"out{i}")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err[-500:] for _, err in outputs]
    assert [out.split()[-2:] for out, _ in outputs] == [["100000", "False"]] * 4  # run/ is never cached
    assert len((tmp_path / "builds").read_text().split()) == 1
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.endswith(".partial")]
    assert leftovers == []
