"""Build for ordex: maps the top-level folders into the `ordex` namespace and compiles ext/*.pyx.

Cython resolves `cimport ordex.ext.X` by looking for `ordex/ext/X.pxd` on its include path, but the
design card fixes the source layout as top-level `ext/`, `core/`, ... folders.  We therefore stage a
tiny include tree, build/cython/ordex/<pkg> -> ../../../<pkg>, and compile through it, so the .pyx
files can cimport each other by their installed names.

    ORDEX_DEBUG=1  compiles in invariant checks and counters (Cython compile-time ORDEX_DEBUG).
    ORDEX_ONLY=book,itch  builds only those ext modules (quick rebuilds while working on one).
    Rebuild after editing a .pyx:  python setup.py build_ext --inplace   (or: pip install -e .)
"""
import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent
PACKAGES = ("core", "ext", "gateway", "feeds", "perf")
DEBUG = os.environ.get("ORDEX_DEBUG", "0") not in ("", "0")
ONLY = {n for n in os.environ.get("ORDEX_ONLY", "").split(",") if n}


def stage_include_tree() -> Path:
    stage = ROOT / "build" / "cython" / "ordex"
    stage.mkdir(parents=True, exist_ok=True)
    (stage / "__init__.pxd").touch()
    for pkg in PACKAGES:
        link = stage / pkg
        if not link.is_symlink():
            link.symlink_to(Path("..", "..", "..", pkg))
    return stage.parent


def extensions():
    stage = stage_include_tree()
    exts = []
    for pyx in sorted((ROOT / "ext").glob("*.pyx")):
        name = pyx.stem
        if ONLY and name not in ONLY:
            continue
        exts.append(
            Extension(
                f"ordex.ext.{name}",
                [str(Path("build", "cython", "ordex", "ext", pyx.name))],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=(["-O0", "-g"] if DEBUG else ["-O3"]) + ["-Wno-unused-function"],
            )
        )
    return cythonize(
        exts,
        include_path=[str(stage)],
        language_level=3,
        compile_time_env={"ORDEX_DEBUG": DEBUG},
        compiler_directives={
            "boundscheck": DEBUG,
            "wraparound": False,
            "initializedcheck": DEBUG,
            "cdivision": True,
            "embedsignature": True,
        },
        nthreads=os.cpu_count() or 1,
    )


def packages() -> list[str]:
    """Every package under the top-level folders (gateway.fix, gateway.binary, ...)."""
    found = []
    for pkg in PACKAGES:
        for init in sorted((ROOT / pkg).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT)
            found.append(".".join(("ordex",) + rel.parts))
    return found


# Files the installed package reads at run time besides Python: Cython headers and stubs, the
# embedded configuration, protocol docs, and the sources perf compiles on the machine it runs on.
DATA = ["*.pxd", "*.pyi", "*.toml", "*.csv", "*.md", "py.typed", "*.c", "*.cpp",
        "*.template", "quickfix_acceptor/*"]

setup(
    package_dir={f"ordex.{pkg}": pkg for pkg in PACKAGES},
    packages=packages(),
    package_data={name: DATA for name in packages()},
    ext_modules=extensions(),
    zip_safe=False,
)
