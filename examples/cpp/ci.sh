#!/usr/bin/env bash
# CI for the C++ host: install the system packages it needs and build it into build/cpp.
# The checks (parity with the Python Session, refused bundles) run in tests/cpp/test_cpp_host.py,
# which reuses this build; run from the repository root inside the venv that has fastip[openvino].
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(cmake make g++ nlohmann-json3-dev libpng-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v fastip >/dev/null; then
    echo "examples/cpp/ci.sh: the fastip command is not on PATH; activate the venv with fastip[openvino] installed" >&2
    exit 2
fi
build="${FASTIP_CPP_BUILD:-build/cpp}"
cmake -S examples/cpp -B "$build" $(fastip cpp-flags --cmake) >/dev/null
cmake --build "$build" -j2
"$build/fastip_host" --help >/dev/null
echo "examples/cpp: built $build/fastip_host; tests/cpp/test_cpp_host.py runs the checks"
