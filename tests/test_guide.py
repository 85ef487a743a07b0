"""Every example of the integrator guide, taken from the document itself, runs against a live
sandbox: shell blocks in bash (with `# prints X` checked against what they print), Python
blocks in this interpreter."""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.sandboxing import sandbox

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "integrator-guide.md"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PRINTS = re.compile(r"# prints (.+)$", re.MULTILINE)


def test_the_guide_has_examples_of_every_kind() -> None:
    kinds = [kind for kind, _ in BLOCK.findall(GUIDE.read_text())]
    assert kinds.count("sh") >= 6
    assert kinds.count("python") >= 2


def test_every_example_of_the_guide_runs(tmp_path: Path) -> None:
    blocks = BLOCK.findall(GUIDE.read_text())
    with sandbox(tmp_path) as url:
        env = {
            **os.environ,
            "SANDBOX": url,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        for number, (kind, code) in enumerate(blocks, start=1):
            command = ["bash", "-eo", "pipefail", "-c", code] if kind == "sh" else [
                sys.executable, "-c", code
            ]  # fmt: skip
            done = subprocess.run(
                command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                check=False,
            )  # fmt: skip
            where = f"example {number} ({kind}):\n{code}\n{done.stdout}\n{done.stderr}"
            assert done.returncode == 0, where
            for expected in PRINTS.findall(code):
                assert expected.strip() in done.stdout, where
