"""Pack a built roothooks binary into a wheel that pip installs without a Rust toolchain.

    python3 scripts/wheel.py BINARY OUTDIR

The wheel holds the binary as a script (pip puts it in the environment's bin/, executable) and the
metadata pyproject.toml and Cargo.toml declare; nothing is compiled at install. Its platform tag is
manylinux2014_x86_64 (also spelled manylinux_2_17_x86_64): the static build needs no shared library
at all, so it runs on every glibc image pip would pick that tag for. Only the standard library is
used, and the zip is the same bytes for the same binary (fixed timestamps, sorted entries).
"""

import base64
import hashlib
import pathlib
import re
import sys
import tomllib
import zipfile

TAGS = ["py3-none-manylinux_2_17_x86_64", "py3-none-manylinux2014_x86_64"]
# 1980-01-01, the earliest time a zip entry can carry
EPOCH = (1980, 1, 1, 0, 0, 0)


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def metadata(repo: pathlib.Path, version: str) -> str:
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version}",
        f"Summary: {project['description']}",
        f"License: {project['license']['text']}",
        f"Requires-Python: {project['requires-python']}",
    ]
    lines += [f"Classifier: {c}" for c in project["classifiers"]]
    lines += ["Description-Content-Type: text/markdown", "", (repo / project["readme"]).read_text()]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: wheel.py BINARY OUTDIR", file=sys.stderr)
        return 2
    binary, outdir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    repo = pathlib.Path(__file__).resolve().parent.parent
    version = tomllib.loads((repo / "Cargo.toml").read_text())["package"]["version"]
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", version):
        print(f"wheel.py: Cargo.toml's version {version!r} is not a plain release number", file=sys.stderr)
        return 1
    data = f"roothooks-{version}.data"
    info = f"roothooks-{version}.dist-info"
    files = {
        f"{data}/scripts/roothooks": (binary.read_bytes(), 0o755),
        f"{info}/METADATA": (metadata(repo, version).encode(), 0o644),
        f"{info}/WHEEL": (
            "\n".join(["Wheel-Version: 1.0", "Generator: roothooks scripts/wheel.py", "Root-Is-Purelib: false"]
                      + [f"Tag: {t}" for t in TAGS]).encode() + b"\n",
            0o644,
        ),
    }
    record = "\n".join([record_line(n, d) for n, (d, _) in sorted(files.items())] + [f"{info}/RECORD,,"]) + "\n"
    files[f"{info}/RECORD"] = (record.encode(), 0o644)
    outdir.mkdir(parents=True, exist_ok=True)
    # the platform tags, compressed into one name as pip's tag sets are (PEP 425)
    wheel = outdir / f"roothooks-{version}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        # RECORD last, as the wheel format recommends
        for name in sorted(files, key=lambda n: (n.endswith("/RECORD"), n)):
            payload, mode = files[name]
            entry = zipfile.ZipInfo(name, EPOCH)
            entry.external_attr = (0o100000 | mode) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(entry, payload)
    tmp.replace(wheel)
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
