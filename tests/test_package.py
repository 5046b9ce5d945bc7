"""One installed package, `antiphon`, whose imports point down the data path only:
client -> (wire) -> server -> codec, model -> kernels, with the harness (bench, eval, judge, the
command line) above them all and `antiphon.common` (wire constants, paths, atomic writes) beside."""
import ast
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"codec": "codec", "model": "model", "kernels": "kernels", "server": "server", "client": "client",
           "antiphon/harness": "harness", "antiphon/common": "common"}
ALLOWED = {
    "common": {"common"},
    "kernels": {"kernels", "common"},
    "codec": {"codec", "common"},
    "model": {"model", "kernels", "codec", "common"},
    "server": {"server", "codec", "model", "kernels", "common"},
    "client": {"client", "common"},
    "harness": {"harness", "client", "server", "codec", "model", "kernels", "common"},
}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "antiphon" or len(parts) < 2:
        return None
    return {"cli": "harness", "cluster": "harness"}.get(parts[1], parts[1])


def imports_of(path: Path, layer: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside its own package
                found.add(layer)
            elif node.module and node.module.startswith("antiphon"):
                names = [node.module + "." + a.name for a in node.names] if node.module == "antiphon" else [node.module]
                found |= {layer_of(n) for n in names}
            elif node.module and node.module.split(".")[0] in {"codec", "model", "kernels", "server", "client"}:
                found.add("bare " + node.module)  # a top-level name that would not be installed
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in {"codec", "model", "kernels", "server", "client"}:
                    found.add("bare " + a.name)
                elif a.name.startswith("antiphon."):
                    found.add(layer_of(a.name))
    return found - {None}


def test_imports_point_down_the_data_path():
    bad = []
    for folder, layer in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            for target in imports_of(path, layer):
                if target not in ALLOWED[layer]:
                    bad.append(f"{path.relative_to(ROOT)} ({layer}) imports {target}")
    for top in ("cli.py", "cluster.py"):
        for target in imports_of(ROOT / "antiphon" / top, "harness"):
            assert target in ALLOWED["harness"], (top, target)
    assert not bad, "\n".join(bad)


def test_the_wheel_holds_one_top_level_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(tmp_path.glob("antiphon-*.whl"))
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith((".dist-info", ".data"))} == {"antiphon"}, tops
    names = zipfile.ZipFile(wheel).namelist()
    assert "antiphon/client/web/index.html" in names and "antiphon/model/bundled/lm/config.json" in names


def test_serve_starts_from_a_folder_holding_client_py_and_model(tmp_path):
    """Generic names in the working directory must not shadow the installed package."""
    (tmp_path / "client.py").write_text("raise SystemExit('the wrong client')\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "__init__.py").write_text("raise SystemExit('the wrong model')\n")
    exe = Path(sys.executable).parent / "antiphon"
    proc = subprocess.Popen([str(exe), "serve", "--model", "random:tiny", "--port", "0"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "listening" in line or "http://" in line:
                break
        assert any("http://" in line for line in lines), "".join(lines)
    finally:
        proc.terminate()
        proc.wait(30)
    out = subprocess.run([sys.executable, "-c", "from antiphon.client.connection import AntiphonClient"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
