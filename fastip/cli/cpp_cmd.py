"""`fastip cpp-flags`: the paths a C++ host needs to build against the installed OpenVINO SDK."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from fastip.errors import MissingDependencyError


@dataclass(frozen=True)
class CppPaths:
    """Where the OpenVINO wheel keeps its CMake package, headers and shared libraries."""

    cmake_dir: Path
    include_dir: Path
    library_dir: Path
    library: str  # the runtime's file name; the wheel ships only the versioned one (libopenvino.so.NNNN)

    def cmake_args(self) -> list[str]:
        return [f"-DOpenVINO_DIR={self.cmake_dir}"]

    def compile_flags(self) -> list[str]:
        return [f"-I{self.include_dir}"]

    def link_flags(self) -> list[str]:
        return [f"-L{self.library_dir}", f"-Wl,-rpath,{self.library_dir}", f"-l:{self.library}"]


def cpp_paths() -> CppPaths:
    """The installed OpenVINO's C++ SDK paths; raises MissingDependencyError when it has none."""
    import importlib.util

    spec = importlib.util.find_spec("openvino")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("the C++ host builds against OpenVINO's C++ SDK: pip install 'fastip[openvino]'")
    root = Path(next(iter(spec.submodule_search_locations)))
    libs = root / "libs"
    runtimes = sorted(p.name for p in libs.glob("libopenvino.so*")) if libs.is_dir() else []
    paths = CppPaths(cmake_dir=root / "cmake", include_dir=root / "include", library_dir=libs,
                     library=runtimes[0] if runtimes else "libopenvino.so")
    missing = [p for p in (paths.cmake_dir / "OpenVINOConfig.cmake", paths.include_dir / "openvino" / "openvino.hpp",
                           paths.library_dir / paths.library) if not p.exists()]
    if missing:
        raise MissingDependencyError(f"the openvino package at {root} lacks its C++ SDK ({missing[0]} is missing); "
                                     "install the PyPI wheel: pip install --force-reinstall openvino")
    return paths


def _cpp_flags(args: argparse.Namespace) -> int:
    paths = cpp_paths()
    if args.cmake:
        print(" ".join(paths.cmake_args()))
        return 0
    print(f"cmake:   {' '.join(paths.cmake_args())}")
    print(f"include: {paths.include_dir}")
    print(f"libs:    {paths.library_dir}")
    print(f"compile: {' '.join(paths.compile_flags())}")
    print(f"link:    {' '.join(paths.link_flags())}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `cpp-flags` to the `fastip` command."""
    p = subparsers.add_parser("cpp-flags", help="print the OpenVINO paths a C++ host builds against",
                              description="Paths of the installed OpenVINO C++ SDK, for examples/cpp or your own host: "
                                          "cmake -S examples/cpp -B build/cpp $(fastip cpp-flags --cmake)")
    p.add_argument("--cmake", action="store_true", help="print only the CMake arguments")
    p.set_defaults(func=_cpp_flags)
